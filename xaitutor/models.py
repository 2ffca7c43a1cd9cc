"""The small networks of the course, and how to train them."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks
from ._batching import batched
from .core import train

__all__ = ["SmallCNN", "fit_classifier", "accuracy"]


class SmallCNN(nn.Module):
    """Three 3×3 convolutions with ReLU (a 2×2 max-pool after the second), global
    average pooling, one linear layer. ``features[-1]`` is the last ReLU: the layer for
    CAM and Grad-CAM; ``fc`` is the linear layer CAM needs."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(width, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _check_data(model: nn.Module, x: Tensor, y: Tensor) -> None:
    _checks.tensor(x, "x", min_dim=2, model=model)
    if isinstance(y, Tensor) and len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}; give one label per sample")
    _checks.labels(y, len(x), _checks.n_outputs(model, x))
    if y.dtype != torch.int64:                       # cross-entropy wants int64, as concepts.fit
        raise ValueError(f"y must be an int64 tensor of class indices, got {y.dtype}; use y.long()")


def fit_classifier(model: nn.Module, x: Tensor, y: Tensor, epochs: int = 60, lr: float = 3e-3,
                   batch_size: int = 64, seed: int = 0, progress: bool = True) -> nn.Module:
    """Train ``model`` with cross-entropy on ``(x, y)`` (seeded mini-batches, Adam) and
    return it in eval mode."""
    _check_data(model, x, y)
    model.train()
    train(lambda xb, yb: F.cross_entropy(model(xb), yb), model, (x, y), epochs=epochs, lr=lr,
          batch_size=batch_size, seed=seed, patience=epochs, progress=progress,
          desc="training the CNN")
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    _check_data(model, x, y)
    pred = batched(lambda xb: model(xb).argmax(1), x, batch_size=batch_size)
    return (pred == y).float().mean().item()
