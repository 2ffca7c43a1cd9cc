"""The small networks of the course, and how to train them."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks
from ._batching import batched
from .core import train

__all__ = ["SmallCNN", "MnistCNN", "Saturating", "fit_classifier", "accuracy", "resnet18", "RESNET18_FILE",
           "mnist_cnn", "train_mnist_cnn", "save_weights", "MNIST_CNN_SHA256"]


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


class MnistCNN(nn.Module):
    """The course's network for 28×28 MNIST digits: two 3×3 convolutions with ReLU, each
    followed by a 2×2 max-pool (28 → 14 → 7), and one linear layer on the flattened
    ``width × 7 × 7`` map. ``features[-1]`` is the last ReLU (14×14): the layer for
    Grad-CAM. The flattened head learns where the strokes are at once — about 97 % on
    7,000 digits after 3 epochs, a few seconds on two CPU cores — where
    :class:`SmallCNN`'s global average pooling needs many more epochs on 28×28 digits;
    the price is that CAM (which needs that pooling) does not apply to it."""

    def __init__(self, n_classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width // 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(width * 7 * 7, n_classes)

    def embed(self, x: Tensor) -> Tensor:
        """The flattened ``width × 7 × 7`` map the linear layer reads: the network's
        features of ``x``, e.g. for :func:`~xaitutor.counterfactuals.kernel_distance`."""
        return F.max_pool2d(self.features(x), 2).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.embed(x))


class Saturating(nn.Module):
    """A model that saturates: f(x) = min(cap, x · weight), one output per sample.

    Linear until the weighted sum reaches ``cap``, flat beyond. At an input past the cap
    the gradient is 0 for every feature although the output depends on them: the case
    where gradient saliency fails and Integrated Gradients does not (Sundararajan et al.
    2017, §2.1, "saturation")."""

    def __init__(self, weight, cap: float = 1.0):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32).flatten())
        self.cap = float(cap)
        self.eval()                                   # nothing differs in training; explainable as built

    def forward(self, x: Tensor) -> Tensor:                              # (N, D) -> (N, 1)
        if x.dim() != 2 or x.shape[1] != len(self.weight):
            raise _checks.BadInput(f"Saturating takes x of shape (N, {len(self.weight)}), got {tuple(x.shape)}")
        return (x @ self.weight.to(x.dtype)).clamp(max=self.cap)[:, None]


#: sha256 of ``xaitutor/data/files/weights/mnist_cnn.npz``, the weights :func:`mnist_cnn` loads.
MNIST_CNN_SHA256 = "d459e2ea1395766287af555d267345a29b8e638614cb85496c927df61edec92b"


def train_mnist_cnn(threads: int = 2) -> MnistCNN:
    """The recipe of the course's digit network: ``torch.manual_seed(0)``, then
    ``fit_classifier(MnistCNN(), x_train, y_train, epochs=3)`` on the training part of
    ``data.split(*data.mnist(), train=0.7, seed=0)``, with ``threads`` PyTorch threads (the
    committed notebooks were executed with two). The caller's thread count and random
    state are left as they were. ``tools/train_weights.py`` ships its result."""
    from . import data

    _checks.positive_int(threads, "threads")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x, y = data.mnist()
        (x_train, y_train), _ = data.split(x, y, train=0.7, seed=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return fit_classifier(MnistCNN(), x_train, y_train, epochs=3, progress=False)
    finally:
        torch.set_num_threads(previous)


def save_weights(model: nn.Module, path) -> None:
    """Write ``model``'s weights to an ``.npz`` file (one array per parameter; read back
    without pickle)."""
    _checks.module(model)
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def mnist_cnn() -> MnistCNN:
    """The course's digit network, trained once by :func:`train_mnist_cnn` (held-out
    accuracy 0.967) and shipped with the package: 83 KB, checked against
    :data:`MNIST_CNN_SHA256` and read without pickle. Loading it saves the notebooks that
    use it about 5 s each. It is built first — drawing its initial weights from the
    global random state, as ``MnistCNN()`` before training would — so every random draw
    after it is the same as after training it. In eval mode, on the CPU."""
    import hashlib
    import io
    from importlib import resources

    model = MnistCNN()
    raw = (resources.files("xaitutor.data") / "files" / "weights" / "mnist_cnn.npz").read_bytes()
    if hashlib.sha256(raw).hexdigest() != MNIST_CNN_SHA256:
        raise RuntimeError("xaitutor/data/files/weights/mnist_cnn.npz is not the file the course ships (its "
                           "sha256 differs); reinstall xaitutor, or retrain it with tools/train_weights.py and set "
                           "MNIST_CNN_SHA256 to the sha256 it prints")
    with np.load(io.BytesIO(raw), allow_pickle=False) as f:
        model.load_state_dict({k: torch.from_numpy(f[k].copy()) for k in f.files})
    return model.eval()


#: torchvision's ImageNet weights of ResNet-18, as torch.hub caches them.
RESNET18_FILE = "resnet18-f37072fd.pth"


def resnet18(seed: int = 0) -> tuple[nn.Module, bool]:
    """torchvision's ResNet-18 loaded the way people explain one: ``eval()`` (batch norm
    uses its running statistics, so a sample's output does not depend on its batch) and
    frozen (``requires_grad=False``: attribution needs gradients for the input, never for
    the weights). Its input is an ImageNet-normalised image (see
    :func:`xaitutor.data.imagenet_normalize`).

    Uses the ImageNet weights only when their file is already in torch's cache
    (``torch.hub.get_dir()/checkpoints/resnet18-f37072fd.pth``); nothing is downloaded.
    Otherwise the weights are random (seeded with ``seed``; the global random state is left as
    it was). Returns ``(model,
    pretrained)``."""
    import os

    import torchvision

    _checks.positive_int(seed, "seed", minimum=0)
    path = os.path.join(torch.hub.get_dir(), "checkpoints", RESNET18_FILE)
    with torch.random.fork_rng(devices=[]):          # seed the weights, leave the caller's RNG alone
        torch.manual_seed(_checks.seed(seed))
        model = torchvision.models.resnet18(weights=None)
    pretrained = os.path.isfile(path)
    if pretrained:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False), pretrained


def _check_data(model: nn.Module, x: Tensor, y: Tensor) -> None:
    _checks.tensor(x, "x", min_dim=2, model=model)
    if isinstance(y, Tensor) and len(x) != len(y):
        raise _checks.BadInput(f"x has {len(x)} samples but y has {len(y)}; give one label per sample")
    _checks.labels(y, len(x), _checks.n_outputs(model, x))
    if y.dtype != torch.int64:                       # cross-entropy wants int64, as concepts.fit
        raise _checks.BadInput(f"y must be an int64 tensor of class indices, got {y.dtype}; use y.long()")


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
