"""Retrain the weights the package ships (``xaitutor/data/files/weights/``) and print their sha256.

    .venv/bin/python tools/train_weights.py          # writes mnist_cnn.npz; set models.MNIST_CNN_SHA256 to the sha256 it prints

The recipe is the one the notebooks used to run themselves, on two CPU threads (the committed notebooks were
executed with two): ``torch.manual_seed(0); fit_classifier(MnistCNN(), x_train, y_train, epochs=3)`` on
``data.split(*data.mnist(), train=0.7, seed=0)``. ``tests/test_models.py`` retrains it and compares bit for bit."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xaitutor import models  # noqa: E402

if __name__ == "__main__":
    path = Path(models.__file__).resolve().parent / "data" / "files" / "weights" / "mnist_cnn.npz"
    models.save_weights(models.train_mnist_cnn(), path)
    print(f"{path}: sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")
