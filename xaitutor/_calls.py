"""Calling a model: the ground floor every explanation method shares (saliency maps,
Shapley values, counterfactual quality). Each helper checks what it is given once, at the
door, and raises :class:`xaitutor.BadInput` naming the argument and the fix.

- :func:`check_model_and_x`: a module and a batch ``x`` it can take;
- :func:`forward`: the model's ``(N, n_classes)`` scores, with a clear error when it rejects ``x``;
- :func:`pick`: the score of each sample's target class;
- :func:`scores_and_grads`: those scores and their gradients with respect to ``x``, in chunks;
- :func:`baseline_like`: a reference input (None, a number, one sample or a batch) shaped like ``x``.

Topic modules import these public names; none imports a private name of another topic.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from . import _checks
from ._batching import batched

__all__ = ["check_model_and_x", "forward", "pick", "scores_and_grads", "baseline_like"]


def check_model_and_x(model: nn.Module, x: Tensor, min_dim: int = 2) -> None:
    """``model`` is a module and ``x`` a finite batch of at least ``min_dim`` dimensions on its device."""
    _checks.module(model)
    shape = "(N, C, H, W)" if min_dim == 4 else "(N, ...)"
    _checks.tensor(x, "x", min_dim=min_dim, shape_hint=shape, model=model)


def forward(model: nn.Module, x: Tensor) -> Tensor:
    """The model's scores for ``x``, ``(N, n_classes)``; a rejected ``x`` gets the likely fix."""
    try:
        out = model(x)
    except RuntimeError as e:  # a dtype or a shape the model cannot take
        _checks.same_dtype(x, model)                # float64 x, float32 model: says .float()
        raise _checks.BadInput(f"the model rejected x of shape {tuple(x.shape)}: {e}. A single "
                               "sample needs a batch dimension: x.unsqueeze(0)") from e
    if out.dim() != 2:
        raise _checks.BadInput(f"the model must return (N, n_classes) scores, got {tuple(out.shape)}")
    return out


def pick(out: Tensor, target: Tensor) -> Tensor:
    """``out[i, target[i]]`` after checking that every target is a class of the model."""
    n_classes = out.shape[1]
    bad = target[(target < 0) | (target >= n_classes)]
    if len(bad):
        raise _checks.BadInput(f"target={bad[0].item()} but the model has {n_classes} classes "
                               f"(0..{n_classes - 1})")
    return out.gather(1, target[:, None]).squeeze(1)


def scores_and_grads(model: nn.Module, x: Tensor, target: Tensor,
                      batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Target scores ``(M,)`` and their gradients w.r.t. ``x`` ``(M, ...)``, in chunks."""
    def one(xb: Tensor, tb: Tensor) -> tuple[Tensor, Tensor]:
        xb = xb.detach().requires_grad_(True)       # a fresh leaf: frozen models work too
        with torch.enable_grad():                   # also when called under torch.no_grad()
            s = pick(forward(model, xb), tb)
            total = s.sum()
        (g,) = torch.autograd.grad(total, xb)
        return s.detach(), g

    return batched(one, x, target, batch_size=batch_size)


def baseline_like(baseline, x: Tensor) -> Tensor:
    """``baseline`` (None: zeros, a number, one sample or a batch) as a tensor shaped like ``x``."""
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, (int, float)):
        baseline = torch.full_like(x, float(baseline))
    if not isinstance(baseline, Tensor):
        raise _checks.BadInputType(f"baseline must be None, a number or a tensor, got {type(baseline).__name__}")
    if baseline.shape == x.shape[1:]:
        baseline = baseline.expand_as(x)
    if baseline.shape != x.shape:
        raise _checks.BadInput(f"baseline has shape {tuple(baseline.shape)} but x has "
                               f"{tuple(x.shape)}; pass one of shape {tuple(x.shape)} or "
                               f"{tuple(x.shape[1:])}, or a number")
    if not torch.isfinite(baseline).all():
        raise _checks.BadInput("baseline holds NaN or inf, so every attribution would be NaN; "
                               "pass a finite baseline (e.g. zeros, the data mean or a blurred x)")
    return baseline.to(device=x.device, dtype=x.dtype)
