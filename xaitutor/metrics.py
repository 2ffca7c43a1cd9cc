"""Checks of the explanations themselves: sanity checks, faithfulness, localisation.

Maps are attribution tensors shaped like the images ``(N, C, H, W)`` (or ``(N, 1, H, W)``
for CAM-style maps); where a metric needs one number per pixel it sums over channels.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor, nn

from . import _checks
from ._batching import batched

__all__ = ["spearman", "pearson", "cascading_randomization", "randomized_labels", "deletion_curve", "deletion_images",
           "auc", "pointing_game", "energy_ratio", "pixel_map"]

Explainer = Callable[[nn.Module, Tensor, Tensor], Tensor]


def pixel_map(attribution: Tensor) -> Tensor:
    """One value per pixel, ``(N, H, W)``: the attribution summed over channels."""
    _checks.tensor(attribution, "attribution", dim=4, shape_hint="(N, C, H, W)")
    return attribution.sum(1)


def _object_mask(mask: Tensor, m: Tensor) -> Tensor:
    """The object mask as ``(N, H, W)`` floats, matching the pixel map ``m``."""
    if not isinstance(mask, Tensor):
        raise _checks.BadInputType(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.numel() != m.numel():
        raise _checks.BadInput(f"mask has shape {tuple(mask.shape)} but the maps need "
                               f"{tuple(m.shape)} (or {(m.shape[0], 1, *m.shape[1:])}): one mask "
                               "per image, of the image's size")
    return mask.reshape(m.shape).to(m.device).float()


def spearman(a: Tensor, b: Tensor, absolute: bool = True) -> Tensor:
    """Spearman rank correlation between maps ``a[i]`` and ``b[i]``, one value per
    sample (ties get their average rank). ``absolute=True`` compares |a| with |b|, as
    Adebayo et al. (2018) do for sign-agnostic comparisons."""
    _checks.tensor(a, "a")
    _checks.tensor(b, "b")
    if a.shape != b.shape:
        raise _checks.BadInput(f"maps a and b must have the same shape, got {tuple(a.shape)} and "
                               f"{tuple(b.shape)}; compare maps of the same images")
    fa = a.detach().reshape(len(a), -1).cpu().double().numpy()
    fb = b.detach().reshape(len(b), -1).cpu().double().numpy()
    if absolute:
        fa, fb = np.abs(fa), np.abs(fb)
    ra, rb = rankdata(fa, axis=1), rankdata(fb, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    rho = np.where(denom > 0, (ra * rb).sum(1) / np.where(denom > 0, denom, 1), 0.0)
    return torch.as_tensor(rho)


def pearson(a: Tensor, b: Tensor) -> float:
    """Pearson's correlation of two 1-D tensors (predicted against actual effects, say):
    1 for a perfect increasing line, 0 for none, NaN when either is constant."""
    _checks.tensor(a, "a", dim=1, shape_hint="(n,)")
    _checks.tensor(b, "b", dim=1, shape_hint="(n,)")
    if a.shape != b.shape or len(a) < 2:
        raise _checks.BadInput(f"a and b must be two 1-D tensors of the same length ≥ 2 (one value "
                               f"per point), got {tuple(a.shape)} and {tuple(b.shape)}")
    pair = torch.stack([a.detach().double().cpu(), b.detach().double().cpu()])
    return torch.corrcoef(pair)[0, 1].item()


def _layers_with_parameters(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules()
            if any(True for _ in m.parameters(recurse=False))]


def cascading_randomization(model: nn.Module, x: Tensor, target: Tensor, explain: Explainer,
                            seed: int = 0) -> dict[str, float]:
    """Cascading model-parameter randomisation (Adebayo et al. 2018, Sec. 3.1): re-draw
    the weights of the layers one at a time from the top (logits) down, keeping earlier
    re-draws, and after each step compare the new maps with the original ones.

    Returns ``{"original": 1.0, layer name: mean Spearman |map| correlation, ...}`` in
    the order layers were randomised. A map that stays similar does not depend on what
    the model learnt."""
    _checks.module(model)
    reference = explain(model, x, target)
    randomized = copy.deepcopy(model).eval()
    torch.manual_seed(_checks.seed(seed))
    result = {"original": 1.0}
    for name, layer in reversed(_layers_with_parameters(randomized)):
        if not hasattr(layer, "reset_parameters"):
            raise _checks.BadInput(f"layer {name!r} has no reset_parameters(); cannot re-draw it")
        layer.reset_parameters()
        result[name] = spearman(reference, explain(randomized, x, target)).mean().item()
    return result


def randomized_labels(y: Tensor, seed: int = 0) -> Tensor:
    """The labels in a seeded random order: train on them for the data-randomisation
    test (Adebayo et al. 2018, Sec. 3.2). A map that survives it ignores the labels."""
    if not isinstance(y, Tensor) or y.dim() != 1:
        raise _checks.BadInput(f"y must be a 1-D tensor of labels, got "
                               f"{getattr(y, 'shape', type(y).__name__)}")
    g = torch.Generator().manual_seed(_checks.seed(seed))
    return y[torch.randperm(len(y), generator=g).to(y.device)]


def deletion_images(x: Tensor, attribution: Tensor, n_steps: int = 16, mode: str = "deletion",
                    baseline: float | Tensor = 0.0) -> Tensor:
    """The images a deletion (insertion) run scores, ``(N, n_steps + 1, C, H, W)``: at step k
    the round(k·H·W / n_steps) pixels that ``attribution`` ranks most important (summed over
    channels) are replaced by ``baseline`` (``"deletion"``), or only they are kept and the
    rest is ``baseline`` (``"insertion"``). :func:`deletion_curve` scores these images; the
    deletion explorer draws one of them."""
    _checks.tensor(x, "x", dim=4, shape_hint="(N, C, H, W)")
    _checks.tensor(attribution, "attribution", dim=4, shape_hint="(N, C, H, W)")
    if mode not in ("deletion", "insertion"):
        raise _checks.BadInput(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    if attribution.shape[0] != x.shape[0] or attribution.shape[2:] != x.shape[2:]:
        raise _checks.BadInput(f"attribution {tuple(attribution.shape)} does not match x "
                               f"{tuple(x.shape)}: need (N, C or 1, H, W) with the same N, H, W")
    n, c, h, w = x.shape
    _checks.positive_int(n_steps, "n_steps", minimum=0)          # the type; the range below
    if not 1 <= n_steps <= h * w:
        raise _checks.BadInput(f"n_steps must be in 1..{h * w} (the number of pixels), got {n_steps}")
    x = x.detach()                                         # images to score, not to differentiate
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    order = pixel_map(attribution).reshape(n, -1).argsort(dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=x.device).expand(n, -1))
    counts = torch.round(torch.linspace(0, h * w, n_steps + 1, device=x.device)).long()
    chosen = (rank[:, None, :] < counts[None, :, None]).view(n, n_steps + 1, 1, h, w)
    if mode == "deletion":
        return torch.where(chosen, base[:, None], x[:, None])
    return torch.where(chosen, x[:, None], base[:, None])


@torch.no_grad()
def deletion_curve(model: nn.Module, x: Tensor, target: Tensor, attribution: Tensor,
                   n_steps: int = 16, mode: str = "deletion", baseline: float | Tensor = 0.0,
                   score: str = "probability", batch_size: int = 1024) -> Tensor:
    """Deletion / insertion curves (Petsiuk, Das & Saenko 2018, RISE, Sec. 4.1).

    Pixels are ranked by ``attribution`` (summed over channels), most important first.
    ``"deletion"`` replaces the top k/n_steps of them with ``baseline``; ``"insertion"``
    starts from ``baseline`` and puts them back. Returns the target's score ``(N,
    n_steps + 1)`` for k = 0..n_steps (softmax probability, or the logit with
    ``score="logit"``). A faithful map makes deletion fall fast and insertion rise fast.
    """
    _checks.module(model)
    _checks.tensor(x, "x", dim=4, shape_hint="(N, C, H, W)", model=model)
    _checks.tensor(attribution, "attribution", dim=4, shape_hint="(N, C, H, W)")
    if isinstance(target, int):
        target = torch.full((len(x),), target, dtype=torch.long, device=x.device)
    _checks.labels(target, len(x), _checks.n_outputs(model, x), name="target")
    _checks.positive_int(batch_size, "batch_size")
    if score not in ("probability", "logit"):
        raise _checks.BadInput(f"score must be 'probability' or 'logit', got {score!r}")
    images = deletion_images(x, attribution, n_steps, mode, baseline)
    n, c, h, w = x.shape
    images = images.reshape(-1, c, h, w)
    t = target.to(x.device).repeat_interleave(n_steps + 1)

    def one(xb: Tensor, tb: Tensor) -> Tensor:
        logits = model(xb)
        s = logits.softmax(1) if score == "probability" else logits
        return s.gather(1, tb[:, None]).squeeze(1)

    return batched(one, images, t, batch_size=batch_size).view(n, n_steps + 1)


def auc(curve: Tensor) -> Tensor:
    """Area under curves ``(N, K + 1)`` sampled evenly on [0, 1] (trapezoid rule)."""
    _checks.tensor(curve, "curve", dim=2, shape_hint="(N, K + 1)")
    if curve.shape[1] < 2:
        raise _checks.BadInput(f"curve needs ≥ 2 points per row (k = 0..K), got shape "
                               f"{tuple(curve.shape)}; make it with deletion_curve(n_steps ≥ 1)")
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[1] - 1), dim=1)


def pointing_game(attribution: Tensor, mask: Tensor, tolerance: int = 0) -> Tensor:
    """Pointing game (Zhang et al. 2016): a hit when the map's maximum (summed over
    channels) falls on the object, or within ``tolerance`` pixels of it. ``(N,)`` bool."""
    m = pixel_map(attribution)
    obj = _object_mask(mask, m)
    _checks.positive_int(tolerance, "tolerance", minimum=0)
    if tolerance > 0:
        k = 2 * tolerance + 1
        obj = torch.nn.functional.max_pool2d(obj[:, None], k, stride=1, padding=tolerance)[:, 0]
    idx = m.reshape(len(m), -1).argmax(1)
    return obj.reshape(len(m), -1).gather(1, idx[:, None]).squeeze(1) > 0


def energy_ratio(attribution: Tensor, mask: Tensor) -> Tensor:
    """Share of the map's positive energy that falls on the object (the energy-based
    pointing game of Wang et al. 2020, Score-CAM): Σ_object max(a, 0) / Σ max(a, 0)."""
    m = pixel_map(attribution).clamp_min(0)
    obj = _object_mask(mask, m)
    total = m.reshape(len(m), -1).sum(1)
    inside = (m * obj).reshape(len(m), -1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.zeros_like(total))
