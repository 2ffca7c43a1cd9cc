"""Checks at the door, shared by every topic module.

Each check raises :class:`BadInput` (a ``ValueError``), or :class:`BadInputType` (also a
``TypeError``) for a wrong kind of object, whose message names the argument, says what was
wrong and what to do — the error a learner reads in a notebook cell instead of a stack
trace from deep inside torch. ``except xaitutor.BadInput`` catches every one of them.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


class BadInput(ValueError):
    """A wrong argument given to xaitutor; the message names it and says what to do."""


class BadInputType(BadInput, TypeError):
    """A wrong argument of the wrong kind (a float where a count goes, a list for a tensor)."""


def module(m, name: str = "model") -> nn.Module:
    """``m`` is an ``nn.Module`` in eval mode."""
    if not isinstance(m, nn.Module):
        raise BadInputType(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    if m.training:
        raise BadInput(f"{name} is in training mode (dropout and batch norm would change the "
                         f"result from call to call); call {name}.eval() first")
    return m


def model_device(m: nn.Module) -> torch.device | None:
    p = next(m.parameters(), None)
    return None if p is None else p.device


def tensor(t, name: str = "x", *, min_dim: int | None = None, dim: int | None = None,
           floating: bool = True, shape_hint: str = "(N, ...)", finite: bool = True,
           model: nn.Module | None = None) -> Tensor:
    """``t`` is a non-empty tensor of the right kind: float (or not, as asked), with
    ``dim`` (or at least ``min_dim``) dimensions, free of NaN and inf, and on the same
    device as ``model`` when one is given."""
    if not isinstance(t, Tensor):
        raise BadInputType(f"{name} must be a torch.Tensor, got {type(t).__name__}; convert it "
                        f"with torch.as_tensor({name}, dtype=torch.float32)")
    if floating and not t.is_floating_point():
        raise BadInput(f"{name} must be a float tensor, got {t.dtype}; use {name}.float()")
    wanted = dim if dim is not None else min_dim
    if wanted is not None and (t.dim() < wanted or (dim is not None and t.dim() != dim)):
        fix = (f"add a batch dimension with {name}.unsqueeze(0)" if t.dim() == wanted - 1
               else f"reshape it to {shape_hint} (a single sample needs {name}.unsqueeze(0), a "
                    f"grey image also a channel: {name}[None, None])")
        raise BadInput(f"{name} must have shape {shape_hint}, got {tuple(t.shape)}; {fix}")
    if t.dim() == 0 or len(t) == 0:
        raise BadInput(f"{name} is an empty batch (shape {tuple(t.shape)}); pass at least "
                         "one sample")
    if finite and t.is_floating_point() and t.device.type != "meta" \
            and not bool(torch.isfinite(t).all()):
        raise BadInput(f"{name} contains NaN or inf; drop those samples or replace the values "
                         f"(e.g. torch.nan_to_num({name})) first")
    if model is not None:
        same_device(t, model, name)
    return t


def n_outputs(model: nn.Module, x: Tensor, name: str = "x",
              hint: str = "pass inputs of the shape the model was built for") -> int:
    """How many scores (classes) ``model`` gives one sample of ``x``: one forward pass in
    eval mode, without gradients (the model's mode is restored). A shape the model cannot
    take becomes a ValueError that names ``x``."""
    was_training = model.training
    try:
        with torch.no_grad():
            return model.eval()(x[:1]).shape[-1]
    except RuntimeError as e:
        raise BadInput(f"the model rejected {name} of shape {tuple(x.shape)} ({e}); "
                         f"{hint}") from e
    finally:
        model.train(was_training)


def same_device(t: Tensor, model: nn.Module, name: str = "x") -> None:
    device = model_device(model)
    if device is not None and t.device != device:
        raise BadInput(f"{name} is on {t.device} but the model is on {device}; move it with "
                         f"{name}.to({str(device)!r}) (or the model with model.to({str(t.device)!r}))")


def same_dtype(t: Tensor, model: nn.Module, name: str = "x") -> None:
    p = next(model.parameters(), None)
    if p is not None and t.is_floating_point() and t.dtype != p.dtype:
        fix = {torch.float64: ".double()", torch.float32: ".float()"}.get(p.dtype, f".to({p.dtype})")
        raise BadInput(f"{name} is {str(t.dtype).replace('torch.', '')} but the model is "
                         f"{str(p.dtype).replace('torch.', '')}; convert it with {name}{fix}")


def labels(y, n: int, n_classes: int | None = None, name: str = "y") -> Tensor:
    """``y`` holds ``n`` integer class indices in ``0..n_classes-1``."""
    if not isinstance(y, Tensor):
        raise BadInputType(f"{name} must be a torch.Tensor of class indices, got "
                        f"{type(y).__name__}; convert it with torch.as_tensor({name})")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise BadInput(f"{name} must hold integer class indices, got {y.dtype}; use {name}.long()")
    if y.shape != (n,):
        raise BadInput(f"{name} must have shape ({n},) (one label per sample), got "
                         f"{tuple(y.shape)}")
    if n and int(y.min()) < 0:
        raise BadInput(f"{name} holds class indices 0..n_classes-1; found {int(y.min())}")
    if n_classes is not None and n and int(y.max()) >= n_classes:
        raise BadInput(f"{name}={int(y.max())} but the model has {n_classes} classes "
                         f"(0..{n_classes - 1}); check the labels")
    return y


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def positive_int(value, name: str, minimum: int = 1) -> int:
    """A count: an int (not a float, not a bool) ≥ ``minimum``."""
    if not _is_int(value):
        raise BadInputType(f"{name} must be an int ≥ {minimum}, got {value!r} "
                           f"({type(value).__name__}); e.g. {name}={max(minimum, 1)}")
    if value < minimum:
        raise BadInput(f"{name} must be an int ≥ {minimum}, got {value!r}")
    return int(value)


def channels_first(x: Tensor, name: str = "x") -> None:
    """An image batch ``(N, C, H, W)``, not channels-last ``(N, H, W, C)`` (as PIL and
    matplotlib hold images): refused when the last axis looks like colour channels and the
    second does not."""
    if x.dim() == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        raise BadInput(f"{name} has shape {tuple(x.shape)}, which looks channels-last (N, H, W, C); "
                       f"images go channels-first (N, C, H, W): pass {name}.permute(0, 3, 1, 2)")


def seed(value, name: str = "seed") -> int:
    """A random seed: a whole number ≥ 0 (``torch.manual_seed`` takes nothing else)."""
    if not _is_int(value) or value < 0:
        raise (BadInputType if not _is_int(value) else BadInput)(
            f"{name} must be an int ≥ 0 (a whole number), got {value!r}; e.g. {name}=0")
    return int(value)


def as_float64_array(a) -> np.ndarray:
    """A tensor (any device) or array-like as a float64 numpy array, for comparisons."""
    if isinstance(a, Tensor):
        return a.detach().to("cpu", torch.float64).numpy()
    return np.asarray(a, dtype=np.float64)


def column_indices(name: str, idx, d: int) -> list[int]:
    """``idx`` (None or an iterable of column numbers) as a list, each a column of a ``d``-column x."""
    idx = [] if idx is None else [int(i) for i in idx]
    bad = [i for i in idx if not 0 <= i < d]
    if bad:
        raise BadInput(f"{name} indices {bad} are out of range: x has {d} columns, 0..{d - 1}")
    return idx


def targets(target, n: int, device, n_classes: int | None = None, name: str = "target") -> Tensor:
    """``target`` — an int, or a tensor of ``n`` integer class indices (or one) — as an
    ``(n,)`` long tensor on ``device``; each a class of the model when ``n_classes`` is known
    (the caller checks the range once it knows the model's classes otherwise)."""
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.dtype == torch.bool:
            raise BadInputType(f"{name} must be an int or a tensor of integer class indices, "
                               f"got {target.dtype}; use {name}.long()")
        t = target.reshape(-1).to(device=device, dtype=torch.long)
        if t.numel() == 1:
            t = t.expand(n)
        if t.shape != (n,):
            raise BadInput(f"{name} must be an int or a tensor of shape ({n},) (one class per "
                           f"sample), got shape {tuple(target.shape)}")
    elif _is_int(target):
        t = torch.full((n,), int(target), dtype=torch.long, device=device)
    else:
        raise BadInputType(f"{name} must be an int or a tensor of class indices, got {target!r} "
                           f"({type(target).__name__}); e.g. {name}=1")
    if n_classes is not None and ((t < 0) | (t >= n_classes)).any():
        bad = int(t[(t < 0) | (t >= n_classes)][0])
        raise BadInput(f"{name}={bad} is not a class of the model, which has {n_classes} classes "
                       f"(0..{n_classes - 1}); choose a {name} in 0..{n_classes - 1}")
    return t


def optional_batch_size(value, name: str = "batch_size") -> None:
    if value is not None:
        positive_int(value, name)


def positive(value, name: str) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or not value > 0:
        raise BadInput(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def non_negative(value, name: str) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or not value >= 0:
        raise BadInput(f"{name} must be a number ≥ 0, got {value!r}")
    return float(value)


def choice(value, name: str, options) -> None:
    if value not in options:
        raise BadInput(f"unknown {name} {value!r}; choose one of {list(options)}")


def feature_mask(mask, x: Tensor, name: str = "feature_mask") -> tuple[Tensor, int]:
    """``mask`` groups the elements of ``x`` into features: an integer tensor of group ids
    ``0..M-1`` broadcastable to ``x`` (e.g. ``(1, 1, H, W)`` superpixels shared by every
    image and channel, or ``(N, 1, H, W)`` one segmentation per image). ``None``: every
    element of a sample is its own feature. Returns the mask expanded to ``x.shape``
    (int64, on x's device) and M, the number of groups (ids without elements are
    features that change nothing)."""
    if mask is None:
        m = x[0].numel()
        ids = torch.arange(m, device=x.device).view(x.shape[1:])
        return ids.expand_as(x), m
    if not isinstance(mask, Tensor):
        raise BadInputType(f"{name} must be a torch.Tensor of integer group ids, got "
                        f"{type(mask).__name__}; convert it with torch.as_tensor({name})")
    if mask.is_floating_point() or mask.is_complex() or mask.dtype == torch.bool:
        raise BadInput(f"{name} must hold integer group ids 0..M-1, got {mask.dtype}; "
                         f"use {name}.long()")
    try:
        fits = torch.broadcast_shapes(mask.shape, x.shape) == x.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise BadInput(f"{name} has shape {tuple(mask.shape)} but x has {tuple(x.shape)}; "
                         f"give a mask broadcastable to x: {tuple(x.shape)}, "
                         f"{tuple(x.shape[1:])}, or with 1 along the dimensions it shares "
                         f"(e.g. {(1, *x.shape[1:])}: one mask for every sample)")
    if mask.numel() and int(mask.min()) < 0:
        raise BadInput(f"{name} holds group ids 0..M-1; found {int(mask.min())}")
    m = int(mask.max()) + 1 if mask.numel() else 0
    return mask.to(device=x.device, dtype=torch.long).expand_as(x), m


def settings(value, kind: type, name: str, example: str):
    """``value`` itself when it is a ``kind`` (a settings type such as ``Constraints``), a
    default ``kind()`` for None; anything else is refused with an ``example`` to copy."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise BadInputType(f"{name} must be a {example.split('(')[0]} (e.g. {example}), got "
                           f"{type(value).__name__}")
    return value
