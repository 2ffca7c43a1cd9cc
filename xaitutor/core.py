"""What every notebook uses: seeding, the device, agreement checks, a training loop."""
from __future__ import annotations

import os
import random
import re
import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from . import _checks

__all__ = ["set_seed", "get_device", "check", "expect", "max_abs_diff", "train",
           "peak_memory_gb"]


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so a run can be repeated."""
    seed = _checks.seed(seed)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))  # also seeds every CUDA device


def get_device(prefer: str | None = None) -> torch.device:
    """The device the course runs on: ``cuda`` when present, else ``cpu``.

    ``prefer`` (or the environment variable ``XAITUTOR_DEVICE``) forces one, e.g. "cpu"
    to reproduce a CPU run on a GPU machine.

    On a GPU it also turns off TensorFloat-32 in matrix products and convolutions (on by
    default for cuDNN convolutions: about 3 significant digits) and asks cuDNN for
    deterministic algorithms, so the checks the notebooks print (Captum vs ours to 1e-6,
    completeness of IG) hold on a GPU as on the CPU. The course's models are small; the
    speed TF32 would buy does not matter here.
    """
    name = prefer
    source = "prefer"
    if name is None and os.environ.get("XAITUTOR_DEVICE"):                # empty = unset
        name, source = os.environ["XAITUTOR_DEVICE"], "the environment variable XAITUTOR_DEVICE"
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise _checks.BadInput(f"{source} is {name!r}; the course runs on 'cpu', 'cuda' or 'cuda:N' "
                               "(lower case). Set XAITUTOR_DEVICE=cpu or cuda, or unset it to choose "
                               "automatically")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise _checks.BadInput(f"device {name!r} was asked for but no CUDA GPU is visible; "
                               "use 'cpu' or unset XAITUTOR_DEVICE")
    if name.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.device(name)


def max_abs_diff(ours, reference) -> float:
    """Largest absolute difference between two array-likes of the same shape."""
    a, b = _checks.as_float64_array(ours), _checks.as_float64_array(reference)
    if a.shape != b.shape:
        raise _checks.BadInput(f"shapes differ: ours {a.shape} vs reference {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def check(name: str, ours, reference, atol: float = 1e-6, rtol: float = 0.0) -> None:
    """Print ``✓ name (max |Δ| ...)`` when ``ours`` matches ``reference`` elementwise
    within ``atol + rtol·|reference|``; otherwise print ``✗ ...`` and raise AssertionError.

    Works on tensors (any device), NumPy arrays and numbers. Use :func:`max_abs_diff`
    for the number itself.
    """
    a, b = _checks.as_float64_array(ours), _checks.as_float64_array(reference)
    if a.shape != b.shape:
        print(f"✗ {name}: shapes differ, ours {a.shape} vs reference {b.shape}")
        raise AssertionError(f"{name}: shapes differ, ours {a.shape} vs reference {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        print(f"✗ {name}: NaN in {'ours' if np.isnan(a).any() else 'reference'}")
        raise AssertionError(f"{name}: NaN values")
    delta = max_abs_diff(a, b)
    ok = bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))
    tol = f"atol {atol:g}" + (f", rtol {rtol:g}" if rtol else "")
    print(f"{'✓' if ok else '✗'} {name} (max |Δ| {delta:.1e}, {tol})")
    if not ok:
        raise AssertionError(f"{name}: max |Δ| {delta:.3e} exceeds {tol}")


def expect(name: str, value: float, at_least: float | None = None,
           at_most: float | None = None) -> None:
    """Print ``✓ name ≥ at_least`` (and/or ``≤ at_most``) when ``value`` lies in the
    range; otherwise print ``✗`` with the value and raise AssertionError.

    The ✓ line shows the bound, not the value, so it reads the same on every machine
    (a notebook shows the value itself elsewhere).
    """
    if at_least is None and at_most is None:
        raise _checks.BadInput("give at_least, at_most or both")
    value = float(value)
    parts = ([f"≥ {at_least:g}"] if at_least is not None else []) + \
            ([f"≤ {at_most:g}"] if at_most is not None else [])
    bound = " and ".join(parts)
    ok = not np.isnan(value) and (at_least is None or value >= at_least) and \
        (at_most is None or value <= at_most)
    if ok:
        print(f"✓ {name} {bound}")
    else:
        print(f"✗ {name} {bound}: got {value:.4g}")
        raise AssertionError(f"{name}: expected {bound}, got {value:.4g}")


def peak_memory_gb() -> float:
    """Peak resident memory of this process so far, in GB (NaN where the platform does
    not report it). Binder gives a learner about 2 GB; the notebooks stay under 1.5.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: getrusage's ``ru_maxrss``
    survives ``execve``, so a kernel started by a large process (a test runner) would
    report its parent's peak as its own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024 ** 2            # kB → GB
    except OSError:
        pass
    try:
        import resource
    except ImportError:                                     # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 ** 3 if sys.platform == "darwin" else peak / 1024 ** 2   # bytes vs KiB


def train(loss_fn: Callable[..., Tensor], params: Sequence[nn.Parameter] | nn.Module,
          data: Sequence[Tensor], *, epochs: int = 500, lr: float = 1e-2,
          batch_size: int | None = None, patience: int = 50, min_delta: float = 1e-4,
          seed: int = 0, progress: bool = True, desc: str = "training") -> list[float]:
    """Minimise ``loss_fn(*batch)`` with Adam over the tensors in ``data``.

    Full batch when ``batch_size`` is None, else shuffled mini-batches (seeded). Stops
    early when the epoch loss has not improved by ``min_delta`` (relative) for
    ``patience`` epochs. Shows a ``tqdm.auto`` bar that vanishes when done.
    Returns the loss of every epoch.
    """
    from tqdm.auto import trange

    if isinstance(params, nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    params = list(params)
    if not params:
        raise _checks.BadInput("nothing to train: no parameter requires grad")
    n = len(data[0])
    if any(len(t) != n for t in data):
        raise _checks.BadInput(f"all tensors in data need the same first dimension, got "
                               f"{[len(t) for t in data]}")
    if epochs < 1:
        raise _checks.BadInput(f"epochs must be ≥ 1, got {epochs}")
    _checks.optional_batch_size(batch_size)
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(_checks.seed(seed))
    history: list[float] = []
    best, since_best = float("inf"), 0
    bar = trange(epochs, desc=desc, leave=False, disable=not progress)
    for _ in bar:
        if batch_size is None or batch_size >= n:
            batches = [data]
        else:
            order = torch.randperm(n, generator=gen).to(data[0].device)
            batches = [[t[order[i:i + batch_size]] for t in data] for i in range(0, n, batch_size)]
        total = 0.0
        for batch in batches:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(*batch)
            loss.backward()
            opt.step()
            total += loss.item() * len(batch[0])
        history.append(total / n)
        if history[-1] < best * (1 - min_delta):
            best, since_best = history[-1], 0
        else:
            since_best += 1
            if since_best >= patience:
                bar.total = len(history)  # an early stop is a success, not a failed bar
                break
        if len(history) % 25 == 0:
            bar.set_postfix(loss=f"{history[-1]:.4f}")
    bar.close()
    return history
