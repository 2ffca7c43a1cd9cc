"""Match PyTorch's CPU threads to the CPUs this process may really use.

PyTorch starts one thread per core it sees. In a container (Binder, JupyterHub, CI) it
sees the host's cores, say 16, while the container's CPU quota (cgroups) grants 1 or 2:
sixteen threads then take turns on two cores and every matrix product waits for the
slowest. On import, xaitutor lowers the thread count to the quota — only when nobody
chose a number (``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` unset) — and never raises it.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch

CGROUP = Path("/sys/fs/cgroup")


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


def cap_threads(root: Path | str = CGROUP, environ=os.environ) -> int:
    """Lower ``torch.set_num_threads`` to :func:`usable_cpus` unless the user set
    ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``; returns the thread count in use."""
    if not (environ.get("OMP_NUM_THREADS") or environ.get("MKL_NUM_THREADS")):
        usable = usable_cpus(root)
        if torch.get_num_threads() > usable:
            torch.set_num_threads(usable)
    return torch.get_num_threads()
