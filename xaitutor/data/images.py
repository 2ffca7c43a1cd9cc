"""Image data sets that need no download: 10,000 real MNIST digits (bundled with their
licence), scikit-learn's bundled 8×8 digits, and generated shapes with ground-truth masks
(optionally with a spurious watermark)."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from importlib import resources

import numpy as np
import torch
from torch import Tensor
from .. import _checks

__all__ = ["mnist", "MNIST_SHA256", "digits", "shapes", "SHAPE_NAMES", "photo", "imagenet_normalize", "IMAGENET_MEAN",
           "IMAGENET_STD"]

SHAPE_NAMES = ("square", "disk", "triangle")

#: The per-channel mean and standard deviation that torchvision's ImageNet models expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


#: The sha256 of the bundled ``mnist10k.npz``: :func:`mnist` refuses a file that differs.
MNIST_SHA256 = "94e2480bb2d38e772966d2564f7818de27e5e7d95984370b0cfb33e5bb4a39df"


def mnist(classes: Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
    """10,000 real MNIST digits (LeCun, Cortes & Burges; CC BY-SA 3.0, note and provenance
    in ``xaitutor/data/files/mnist/README.md``): ``x`` float32 ``(n, 1, 28, 28)`` in [0, 1]
    (the 8-bit grey levels / 255), ``y`` int64 ``(n,)``; the same every call, ordered by
    class — split it with :func:`~xaitutor.data.split`. ``classes`` keeps only those digits
    (e.g. ``(1, 7)`` for Koh & Liang's binary task), labels unchanged. The file is checked
    against :data:`MNIST_SHA256` and read without pickle."""
    keep = None
    if classes is not None:
        try:
            keep = sorted({int(c) for c in classes})
        except (TypeError, ValueError):
            raise _checks.BadInputType(f"classes must be digits 0..9, e.g. (1, 7); got {classes!r}") from None
        if not keep or any(not 0 <= c <= 9 for c in keep) or any(isinstance(c, bool) for c in classes):
            raise _checks.BadInput(f"classes must be a non-empty list of digits 0..9, e.g. (1, 7); "
                                   f"got {classes!r}")
    raw = (resources.files("xaitutor.data") / "files" / "mnist" / "mnist10k.npz").read_bytes()
    if hashlib.sha256(raw).hexdigest() != MNIST_SHA256:
        raise RuntimeError("xaitutor/data/files/mnist/mnist10k.npz is not the file the course "
                           "ships (its sha256 differs); reinstall xaitutor")
    with np.load(io.BytesIO(raw), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if keep is not None:
        sel = np.isin(y, keep)
        x, y = x[sel], y[sel]
    return (torch.from_numpy(x.astype(np.float32) / 255.0)[:, None],
            torch.from_numpy(y.astype(np.int64)))


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
        raise _checks.BadInput(f"watermark must be None, 'spurious' or 'random', got {watermark!r}")
    if n < 1 or size < 12:
        raise _checks.BadInput(f"need n ≥ 1 and size ≥ 12, got n={n}, size={size}")
    rng = np.random.default_rng(_checks.seed(seed))
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


def photo(name: str = "chelsea", size: int = 112) -> Tensor:
    """A colour photograph bundled with scikit-image (``"chelsea"``: a cat, ``"coffee"``,
    ``"astronaut"``), cropped to its central square and resized to ``size``×``size``:
    float32 ``(1, 3, size, size)`` in [0, 1]. No download."""
    import skimage.data
    from skimage.transform import resize

    if name not in ("chelsea", "coffee", "astronaut"):
        raise _checks.BadInput(f"photo name must be 'chelsea', 'coffee' or 'astronaut', got {name!r}")
    if size < 8:
        raise _checks.BadInput(f"size must be at least 8 pixels, got {size}")
    img = getattr(skimage.data, name)()                                 # (H, W, 3) uint8
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = resize(img[top:top + side, left:left + side], (size, size), anti_aliasing=True)
    return torch.as_tensor(img, dtype=torch.float32).permute(2, 0, 1)[None].contiguous()


def imagenet_normalize(x: Tensor) -> Tensor:
    """(x − mean) / std per channel, with ImageNet's mean and std: what torchvision's
    pretrained models take. Pixel bounds [0, 1] become ((0 − mean)/std, (1 − mean)/std)
    and a black image is not 0 in these units: baselines and bounds must be normalised
    too. ``x`` is ``(N, 3, H, W)`` in [0, 1]."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise _checks.BadInput(f"x must be (N, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
