"""How many CPU threads PyTorch uses for the course: one, unless the user says otherwise.

PyTorch starts one thread per core it sees. The course's models are small: each operation
(a 16-unit layer, a batch of 64 digits of 8×8) lasts microseconds, too short for a second
thread to pay for the hand-over, and a thread that loses its core to another program — a
browser, a video call, another student's kernel on a hub — stalls the others at every
operation. Measured on the course's 2-core machine (README, "Measured"; benchmarks/busy.py):
with a second process keeping one core busy, notebook 01 took 31 s with one thread and had
not finished after 390 s with two; every notebook ran within 1.10x of its quiet time with
one thread; quiet, one thread was within 14 % of two (and faster for notebook 01). So the course runs one thread, chosen on ``import xaitutor``, in this one
place. In a container whose CPU quota (cgroups) is below one CPU the count stays one.

To choose another count: ``XAITUTOR_THREADS=4`` in the environment (or ``OMP_NUM_THREADS``
/ ``MKL_NUM_THREADS``, which PyTorch reads itself and the course then leaves alone), or
``xaitutor.set_threads(4)`` in a notebook. A larger model (notebook 02's ResNet-18 at
224×224, your own network) can gain from more threads on a quiet machine with many cores.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch

from . import _checks

CGROUP = Path("/sys/fs/cgroup")
COURSE_THREADS = 1          # measured: see the module docstring and benchmarks/busy.py


def cpu_quota(root: Path | str = CGROUP) -> float | None:
    """CPUs granted by the cgroup CPU quota (v2 ``cpu.max``, or v1
    ``cpu.cfs_quota_us``/``cpu.cfs_period_us``), or None when there is no quota."""
    root = Path(root)
    try:
        v2 = root / "cpu.max"
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        for v1 in (root / "cpu", root / "cpu,cpuacct", root):
            q, p = v1 / "cpu.cfs_quota_us", v1 / "cpu.cfs_period_us"
            if q.exists() and p.exists():
                quota, period = int(q.read_text()), int(p.read_text())
                return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None
    return None


def usable_cpus(root: Path | str = CGROUP) -> int:
    """The CPUs this process can use: its CPU affinity, capped by the cgroup quota
    (rounded up; at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):          # macOS, Windows
        n = os.cpu_count() or 1
    quota = cpu_quota(root)
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def chosen_threads(environ=os.environ, root: Path | str = CGROUP) -> int | None:
    """The thread count the course should use: ``XAITUTOR_THREADS`` when set (a bad value is
    reported and ignored), None when the user set ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``
    (PyTorch already follows those), else :data:`COURSE_THREADS` within the usable CPUs."""
    value = environ.get("XAITUTOR_THREADS", "").strip()
    if value:
        try:
            return _checks.positive_int(int(value), "XAITUTOR_THREADS")
        except ValueError:
            warnings.warn(f"XAITUTOR_THREADS={value!r} is not a whole number >= 1; using "
                          f"{COURSE_THREADS} thread(s). Set it to e.g. 2, or unset it.", stacklevel=2)
    elif environ.get("OMP_NUM_THREADS") or environ.get("MKL_NUM_THREADS"):
        return None
    return min(COURSE_THREADS, usable_cpus(root))


def set_threads(n: int | None = None) -> int:
    """Use ``n`` PyTorch CPU threads (``None``: the course's choice, :func:`chosen_threads`).
    Returns the count now in use. Affects this process only, from the next operation on."""
    n = chosen_threads() if n is None else _checks.positive_int(n, "n")
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()
