"""Small image data sets that need no download: scikit-learn's bundled digits, and
generated shapes with ground-truth masks (optionally with a spurious watermark)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["digits", "shapes", "SHAPE_NAMES"]

SHAPE_NAMES = ("square", "disk", "triangle")


def digits() -> tuple[Tensor, Tensor]:
    """The 1797 handwritten digits bundled with scikit-learn (UCI optdigits, 8×8, 16
    grey levels): ``x`` float32 ``(1797, 1, 8, 8)`` scaled to [0, 1], ``y`` int64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images / 16.0, dtype=torch.float32)[:, None]
    return x, torch.as_tensor(bunch.target, dtype=torch.int64)


def _draw(kind: int, size: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] + 0.5
    dy, dx = yy - cy, xx - cx
    if kind == 0:                                        # square
        return (np.abs(dy) <= r * 0.85) & (np.abs(dx) <= r * 0.85)
    if kind == 1:                                        # disk
        return dy ** 2 + dx ** 2 <= r ** 2
    # triangle pointing up: below the two slanted edges, above the base
    return (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)


def shapes(n: int = 600, seed: int = 0, size: int = 20, watermark: str | None = None
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Grey squares, disks and triangles (classes 0, 1, 2) at random places and sizes on
    a noisy background. Returns ``x`` float32 ``(n, 1, size, size)``, ``y`` int64
    ``(n,)`` and ``mask`` bool ``(n, 1, size, size)``: the object's pixels, the ground
    truth for localisation metrics.

    ``watermark="spurious"`` stamps a bright 3×3 patch in the bottom-right corner of
    every square (class 0) and of no other image: a shortcut a model can learn instead
    of the shape (a "Clever Hans"). ``watermark="random"`` stamps it on a random third
    of all images, whatever their class. The patch is never part of ``mask``.
    """
    if watermark not in (None, "spurious", "random"):
        raise ValueError(f"watermark must be None, 'spurious' or 'random', got {watermark!r}")
    if n < 1 or size < 12:
        raise ValueError(f"need n ≥ 1 and size ≥ 12, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.uniform(0.0, 0.25, size=(n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        r = rng.uniform(size * 0.16, size * 0.26)
        cy, cx = rng.uniform(r + 1, size - r - 4, size=2)   # keep clear of the corner patch
        masks[i] = _draw(int(y[i]), size, cy, cx, r)
        x[i][masks[i]] = rng.uniform(0.7, 1.0)
    if watermark is not None:
        stamp = (y == 0) if watermark == "spurious" else rng.random(n) < 1 / 3
        x[stamp, -4:-1, -4:-1] = 1.0
    return (torch.as_tensor(x, dtype=torch.float32)[:, None], torch.as_tensor(y),
            torch.as_tensor(masks)[:, None])
