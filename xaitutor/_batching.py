"""One batching loop for the whole library: apply a function to slices of tensors that
share their first dimension, and concatenate what it returns."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from . import _checks


def batched(fn: Callable[..., Tensor | tuple[Tensor, ...]], *tensors: Tensor,
            batch_size: int | None, progress: str | None = None,
            min_slices: int = 16) -> Tensor | tuple[Tensor, ...]:
    """``fn(*[t[i:i + batch_size] for t in tensors])`` for every slice, concatenated along
    dimension 0. ``fn`` may return one tensor or a tuple of them (each is concatenated).
    ``batch_size=None`` calls ``fn`` once on everything. Memory stays bounded by one slice.
    With ``progress`` (a description), a ``tqdm.auto`` bar counts the slices when there
    are at least ``min_slices`` of them, and vanishes when done."""
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise _checks.BadInput(f"batched tensors must share their first dimension, got "
                               f"{[len(t) for t in tensors]}")
    step = batch_size or max(n, 1)
    starts = range(0, n, step)
    if progress is not None and len(starts) >= min_slices:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=progress, leave=False)
    parts = [fn(*(t[i:i + step] for t in tensors)) for i in starts]
    if not parts:
        return fn(*tensors)
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)
