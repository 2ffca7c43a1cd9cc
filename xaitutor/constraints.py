"""What a counterfactual may change: one type for every search of the course.

:class:`Constraints` holds the rules in encoded columns — ``immutable`` columns never move,
``one_way`` columns only rise (+1) or only fall (−1), values stay within ``bounds``, every
group of ``categorical`` one-hot columns is one feature that ends as a valid one-hot, and
``free`` (optionally) limits the columns each row may change. It is checked once, when it
is made (and against ``x`` where it is used), and it does what every search needs:

* :meth:`~Constraints.project` — the nearest point that keeps the rules exactly (used at
  every step of :func:`~xaitutor.counterfactuals.optimize`);
* :meth:`~Constraints.box` — how far each numeric column may move, per row (the exact LP
  step, the polish, the LP/MILP references);
* :meth:`~Constraints.violations` — how many rules a point breaks (``metrics``'s
  ``feasibility_violations``, which can score a bad point badly).

Used by :mod:`xaitutor.counterfactuals` (search, exact references, metrics),
:func:`xaitutor.latent.counterfactual` and :class:`xaitutor.recourse.ActionSet`
(its :attr:`~xaitutor.recourse.ActionSet.constraints`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Hashable

import torch
from torch import Tensor

from . import _checks

__all__ = ["Constraints", "one_way_signs", "feature_groups"]

#: How far (in the units of x) a value may sit past a bound and still count as inside it.
BOUNDS_SLACK = 1e-6


def one_way_signs(one_way: Mapping[Hashable, int] | None, name: str = "one_way") -> dict:
    """``one_way`` (a column, a node or a feature's name → +1 may only rise, −1 may only
    fall) as a dict, each value checked: the one check of every one-way rule of the course."""
    if one_way is not None and not isinstance(one_way, Mapping):
        raise _checks.BadInputType(f"{name} must be a dict (column → +1 or -1), got "
                                   f"{type(one_way).__name__}")
    signs = dict(one_way or {})
    bad = {k: v for k, v in signs.items() if isinstance(v, bool) or v not in (1, -1)}
    if bad:
        raise _checks.BadInput(f"{name} maps each entry to +1 (may only rise) or -1 (may only "
                               f"fall); these are neither: {bad}")
    return signs


def feature_groups(d: int, categorical=None) -> list[list[int]]:
    """The original features as lists of encoded columns: every one-hot group of
    ``categorical`` is one feature, every other column is a feature of its own (in column
    order of each feature's first column). Sparsity is counted in these."""
    groups = [sorted(_checks.column_indices("categorical", g, d)) for g in (categorical or [])]
    in_group = {j for g in groups for j in g}
    if sum(len(g) for g in groups) != len(in_group):
        raise _checks.BadInput("categorical groups overlap: each one-hot column belongs to one group "
                               "(one group per original feature)")
    if any(len(g) < 2 for g in groups):
        raise _checks.BadInput("a categorical group needs at least 2 one-hot columns; leave a single "
                               "column out of categorical")
    feats = [[j] for j in range(d) if j not in in_group] + groups
    return sorted(feats, key=lambda f: f[0])


def _columns(name: str, idx) -> tuple[int, ...]:
    try:
        cols = [int(i) for i in ([] if idx is None else ([idx] if isinstance(idx, int) else idx))]
    except (TypeError, ValueError):
        raise _checks.BadInputType(f"{name} must be column numbers (ints), got {idx!r}") from None
    if any(i < 0 for i in cols):
        raise _checks.BadInput(f"{name} indices must be ≥ 0 (column numbers), got {cols}")
    return tuple(cols)


def _bounds(bounds) -> tuple[Tensor, Tensor] | None:
    if bounds is None:
        return None
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise _checks.BadInput(f"bounds must be a pair (low, high), got {bounds!r}")
    lo, hi = (torch.as_tensor(b, dtype=torch.float64).detach().cpu().flatten() for b in bounds)
    if lo.numel() != 1 and hi.numel() != 1 and lo.shape != hi.shape:
        raise _checks.BadInput(f"bounds=(low, high) have {lo.numel()} and {hi.numel()} values; give "
                               "numbers or one value per column in each")
    if torch.isnan(lo).any() or torch.isnan(hi).any() or (lo > hi).any():
        raise _checks.BadInput("bounds=(low, high): some lower bound exceeds its upper bound (or is "
                               "NaN); swap them")
    return lo, hi


@dataclass(frozen=True, eq=False)
class Constraints:
    """The rules a counterfactual keeps, in encoded columns (see the module's docstring).

    ``Constraints(immutable=[0, 3], one_way={2: +1}, bounds=(0.0, 1.0), categorical=[[4, 5, 6]])``;
    ``bounds`` are numbers or one value per column; ``free`` an ``(N, D)`` bool tensor."""
    immutable: tuple[int, ...] = ()
    one_way: dict = None
    bounds: tuple | None = None
    categorical: tuple[tuple[int, ...], ...] = ()
    free: Tensor | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)       # noqa: E731 (frozen)
        set_("immutable", tuple(sorted(set(_columns("immutable", self.immutable)))))
        signs = one_way_signs(self.one_way)
        set_("one_way", {c: signs[k] for k, c in zip(signs, _columns("one_way", list(signs)))})
        set_("bounds", _bounds(self.bounds))
        groups = tuple(_columns("categorical", g) for g in (self.categorical or ()))
        if any(len(g) < 2 or len(set(g)) != len(g) for g in groups) or \
                len({j for g in groups for j in g}) != sum(len(g) for g in groups):
            raise _checks.BadInput(f"categorical must be a list of disjoint one-hot groups of at least "
                                   f"two column indices each, got {[list(g) for g in groups]}")
        set_("categorical", groups)
        if self.free is not None and not (isinstance(self.free, Tensor) and self.free.dim() == 2):
            raise _checks.BadInput(f"free must be a bool tensor of shape (N, D) (the columns each row "
                                   f"may change), got {getattr(self.free, 'shape', type(self.free).__name__)}")

    @classmethod
    def of(cls, constraints) -> Constraints:
        """``constraints`` itself, or no rules for None; anything else is refused."""
        return _checks.settings(constraints, cls, "constraints",
                                "xaitutor.Constraints(immutable=[0], bounds=(0, 1))")

    def with_free(self, free: Tensor | None) -> Constraints:
        """A copy that also limits row i to the columns where ``free[i]`` is True."""
        return replace(self, free=free)

    def check(self, x: Tensor, search: bool = True) -> Constraints:
        """Check the rules against rows ``x`` ``(N, D)``: every index a column, ``x`` inside
        the bounds, ``free`` of shape ``(N, D)``; for a ``search``, also some column free in
        every row. Returns self."""
        n, d = x.shape
        used = [("immutable", self.immutable), ("one_way", list(self.one_way))] + \
            [("categorical", g) for g in self.categorical]
        for name, cols in used:
            _checks.column_indices(name, cols, d)
        if self.bounds is not None:
            for b in self.bounds:
                if b.numel() not in (1, d):
                    raise _checks.BadInput(f"bounds have {b.numel()} values per side but x has {d} "
                                           "columns; give numbers or one value per column")
            lo, hi = self.limits(x)
            if ((x < lo - BOUNDS_SLACK) | (x > hi + BOUNDS_SLACK)).any():
                raise _checks.BadInput("some rows of x are already outside the bounds; widen them")
        if self.free is not None and self.free.shape != (n, d):
            raise _checks.BadInput(f"free must have shape ({n}, {d}) (the columns each row of x may "
                                   f"change), got {tuple(self.free.shape)}")
        if search and len(self.immutable) == d:
            raise _checks.BadInput("every feature is immutable: no counterfactual can exist; free at "
                                   "least one feature")
        if search and (self.movable(x).sum(1) == 0).any():
            raise _checks.BadInput("free leaves some row no column it may change; allow at least one")
        return self

    def limits(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The bounds as two ``(D,)`` tensors in x's dtype and device (None, None without)."""
        if self.bounds is None:
            return None, None
        return tuple(b.to(x.device, x.dtype).expand(x.shape[-1]) for b in self.bounds)

    def masks(self, d: int, device=None) -> tuple[Tensor, Tensor, Tensor]:
        """Three ``(D,)`` bool masks: the columns that may only rise, those that may only
        fall, and the one-hot columns (made once per width and device)."""
        key = (d, str(device))
        if key not in self._cache:
            def mask(columns) -> Tensor:
                out = torch.zeros(d, dtype=torch.bool, device=device)
                out[list(columns)] = True
                return out
            self._cache[key] = (mask(j for j, v in self.one_way.items() if v > 0),
                                mask(j for j, v in self.one_way.items() if v < 0),
                                mask(j for g in self.categorical for j in g))
        return self._cache[key]

    def movable(self, x: Tensor) -> Tensor:
        """``(N, D)`` in x's dtype: 1 where row i may change column j (not immutable, free)."""
        out = torch.ones_like(x)
        out[:, list(self.immutable)] = 0.0
        if self.free is not None:
            out = out * self.free.to(x.device, x.dtype)
        return out

    def features(self, d: int) -> list[list[int]]:
        """The original features (see :func:`feature_groups`)."""
        return feature_groups(d, [list(g) for g in self.categorical])

    def project(self, cf: Tensor, base: Tensor, movable: Tensor) -> Tensor:
        """The point nearest ``cf`` (any leading shape ``(..., D)``) that keeps every rule
        that can be kept exactly, for rows starting at ``base``: unmovable columns copied,
        one-way columns not past ``base``, values within the bounds, one-hot columns in
        [0, 1] (rounding to a valid one-hot is the search's own step)."""
        d = cf.shape[-1]
        rises, falls, in_group = self.masks(d, cf.device)
        cf = base + (cf - base) * movable
        cf = torch.where(rises, torch.maximum(cf, base), cf)
        cf = torch.where(falls, torch.minimum(cf, base), cf)
        lo, hi = self.limits(cf)
        if lo is not None:
            cf = torch.maximum(torch.minimum(cf, hi), lo)
        return torch.where(in_group, cf.clamp(0.0, 1.0), cf)

    def box(self, x: Tensor, movable: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """How far each NUMERIC column of each row of ``x`` ``(N, D)`` may move: ``(low,
        high)`` of δ, each ``(N, D)`` with low ≤ 0 ≤ high (±inf where unbounded; 0 for
        one-hot columns, the forbidden way of a one-way column, and where ``movable``
        (default :meth:`movable`) is 0)."""
        n, d = x.shape
        lo, hi = self.limits(x)
        if lo is None:
            box_lo = torch.full((n, d), float("-inf"), dtype=x.dtype, device=x.device)
            box_hi = torch.full((n, d), float("inf"), dtype=x.dtype, device=x.device)
        else:
            box_lo, box_hi = (lo - x).clamp_max(0.0), (hi - x).clamp_min(0.0)
        rises, falls, in_group = self.masks(d, x.device)
        box_lo, box_hi = box_lo.masked_fill(rises, 0.0), box_hi.masked_fill(falls, 0.0)
        fixed = ((self.movable(x) if movable is None else movable) == 0) | in_group
        return box_lo.masked_fill(fixed, 0.0), box_hi.masked_fill(fixed, 0.0)

    def violations(self, x: Tensor, x_cf: Tensor, tol: float = 1e-6) -> Tensor:
        """How many rules each counterfactual ``x_cf`` ``(N, D)`` or ``(N, k, D)`` of rows
        ``x`` ``(N, D)`` breaks: one per immutable column changed, per one-way column moved
        the wrong way, per value out of bounds, per one-hot group that is not a valid
        one-hot (``(N,)`` or ``(N, k)``, float, on the CPU)."""
        delta = x_cf - (x[:, None] if x_cf.dim() == 3 else x)
        count = torch.zeros(delta.shape[:-1], dtype=torch.float32)
        for j in self.immutable:
            count += (delta[..., j].abs() > tol).float().cpu()
        for j, direction in self.one_way.items():
            count += (direction * delta[..., j] < -tol).float().cpu()
        lo, hi = self.limits(x_cf)
        if lo is not None:
            count += ((x_cf < lo - tol) | (x_cf > hi + tol)).sum(-1).float().cpu()
        for g in self.categorical:
            vals = x_cf[..., list(g)]
            one_hot = ((vals - vals.round()).abs() < tol).all(-1) & ((vals.round().sum(-1) - 1).abs() < tol)
            count += (~one_hot).float().cpu()
        return count

    def __repr__(self) -> str:
        parts = [f"immutable={list(self.immutable)}"] if self.immutable else []
        parts += [f"one_way={self.one_way}"] if self.one_way else []
        if self.bounds is not None:
            parts.append("bounds=(" + ", ".join(f"{b.item():g}" if b.numel() == 1 else f"<{b.numel()} values>"
                                                for b in self.bounds) + ")")
        parts += [f"categorical={[list(g) for g in self.categorical]}"] if self.categorical else []
        parts += [f"free=<{tuple(self.free.shape)} mask>"] if self.free is not None else []
        return f"Constraints({', '.join(parts)})"
