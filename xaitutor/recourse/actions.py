"""Action sets and percentile costs (Ustun, Spangher & Liu 2019): which features a person can
change, in which direction, to which values, and what a change costs."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from .. import _checks
from ..constraints import Constraints, one_way_signs


COSTS = ("percentile", "max_percentile")


# --- costs ----------------------------------------------------------------------------------

def _cdf(X_ref: Tensor, values: Tensor, columns) -> Tensor:
    """Q_j(v) = fraction of ``X_ref[:, j]`` ≤ v, for ``values`` (..., len(columns))."""
    ref = X_ref[:, columns].double().sort(0).values                    # (n, J)
    v = values.double()
    flat = v.reshape(-1, len(columns))
    q = torch.stack([torch.searchsorted(ref[:, j].contiguous(), flat[:, j].contiguous(), right=True)
                     for j in range(len(columns))], 1).double() / len(ref)
    return q.view(v.shape)


def percentile_cost(x: Tensor, x_new: Tensor, X_ref: Tensor, kind: str = "percentile",
                    action_set: ActionSet | None = None) -> Tensor:
    """The cost of moving rows ``x`` ``(N, D)`` to ``x_new`` (same shape) in percentiles of
    the population ``X_ref`` (Ustun, Spangher & Liu 2019): ``"percentile"`` the total shift
    Σ_j |Q_j(x'_j) − Q_j(x_j)|, ``"max_percentile"`` the largest (the paper's MPS), with
    Q_j the empirical CDF of feature j in ``X_ref`` (the fraction of people with a value ≤ v).
    A move past many people is expensive; a move where few people are is cheap. (The
    paper's other cost, the total *log*-percentile shift, weighs moves near the top more.)

    Without ``action_set`` every column is a feature. With one, a categorical feature
    (one-hot columns) is one feature measured on its ``order``: Q(r) is the share of
    people whose category ranks ≤ r (categories outside the order rank below all).
    """
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)")
    _checks.tensor(x_new, "x_new", dim=2, shape_hint="(N, D)")
    _checks.tensor(X_ref, "X_ref", dim=2, shape_hint="(n, D)")
    if x_new.shape != x.shape or X_ref.shape[1] != x.shape[1]:
        raise _checks.BadInput(f"x {tuple(x.shape)}, x_new {tuple(x_new.shape)} and X_ref "
                               f"{tuple(X_ref.shape)} must share their columns (and x, x_new their shape)")
    _checks.choice(kind, "kind", COSTS)
    if action_set is None:
        cols = list(range(x.shape[1]))
        shift = (_cdf(X_ref, x_new, cols) - _cdf(X_ref, x, cols)).abs()
    else:
        if action_set.n_columns != x.shape[1]:
            raise _checks.BadInput(f"the action set is for {action_set.n_columns} columns but x has {x.shape[1]}")
        shift = torch.stack([(f.percentile(X_ref, x_new[:, f.columns]) - f.percentile(X_ref, x[:, f.columns])).abs()
                             for f in action_set.features], 1)
    return shift.sum(1) if kind == "percentile" else shift.amax(1)


# --- action sets ----------------------------------------------------------------------------

@dataclass
class _Feature:
    name: str
    columns: list[int]
    values: Tensor                 # (G, len(columns)): every value the feature may take
    labels: list[str]              # how each value reads
    direction: int = 0             # +1 only up, -1 only down (numeric or ordered categories)
    actionable: bool = True
    order: list[int] | None = None  # categories: rank of each value for one-way moves
    forbidden: set[int] = field(default_factory=set)   # categories nobody may choose
    unit: tuple[float, float] = (0.0, 1.0)  # numeric: (mean, std) back to readable units
    _sorted_ref: tuple | None = field(default=None, repr=False, compare=False)

    def rank(self, value: Tensor) -> Tensor:
        """Numeric: the value itself; categorical: its rank in ``order`` (−1 if unranked)."""
        if len(self.columns) == 1:
            return value[..., 0].double()
        ranks = torch.tensor(self.order if self.order is not None else [-1] * len(self.columns),
                             dtype=torch.float64)
        return ranks[value.argmax(-1)]

    def percentile(self, X_ref: Tensor, value: Tensor) -> Tensor:
        """Q(value): the share of ``X_ref``'s people at or below ``value`` (..., c) on this feature."""
        key = (X_ref.data_ptr(), tuple(X_ref.shape), X_ref._version, X_ref.device)
        if self._sorted_ref is None or self._sorted_ref[0] != key:          # sort the population once
            self._sorted_ref = (key, self.rank(X_ref[:, self.columns].detach().cpu()).sort().values)
        ref = self._sorted_ref[1]
        v = self.rank(value.detach().cpu())
        return torch.searchsorted(ref.contiguous(), v.reshape(-1).contiguous(), right=True).double().view(v.shape) / len(ref)

    def show(self, value: Tensor) -> str:
        """How a value of this feature reads (original units, or the category's name)."""
        if len(self.columns) > 1:
            return self.labels[int(value.argmax())]
        return f"{float(value[0]) * self.unit[1] + self.unit[0]:.4g}"


def _numeric_feature(X_ref: Tensor, encoder, j: int, name: str, bounds: Mapping, n_grid: int,
                     rules: dict) -> _Feature:
    """A numeric feature on a grid of ``n_grid`` evenly spaced percentiles of ``X_ref``
    (each a value people have), clipped to its ``bounds``."""
    col = encoder.columns_of(name)[0] if encoder is not None else j
    qs = torch.linspace(0, 1, n_grid, dtype=torch.float64)
    grid = torch.quantile(X_ref[:, col].double(), qs, interpolation="lower").unique()
    if name in bounds:
        lo, hi = bounds[name]
        grid = grid[(grid >= lo) & (grid <= hi)]
    grid = grid.to(X_ref.dtype)
    unit = (encoder.mean[name], encoder.std[name]) if encoder is not None else (0.0, 1.0)
    labels = [f"{v * unit[1] + unit[0]:.4g}" for v in grid.tolist()]
    return _Feature(name, [col], grid[:, None], labels, rules["one_way"].get(name, 0),
                    name not in rules["immutable"], unit=unit)


def _categorical_feature(X_ref: Tensor, encoder, name: str, cats, rules: dict) -> _Feature:
    """A categorical feature (one-hot columns of ``encoder``): its categories, their order
    (needed when it may change) and the forbidden ones."""
    cols = encoder.columns_of(name)
    order, forbidden = rules["order"], rules["forbidden"]
    bad = [c for c in forbidden.get(name, ()) if c not in cats]
    if bad or any(c not in cats for c in order.get(name, ())):
        raise _checks.BadInput(f"{name} has the categories {list(cats)}; unknown: "
                               f"{bad or [c for c in order[name] if c not in cats]}")
    if name not in rules["immutable"] and name not in order:
        raise _checks.BadInput(f"{name} is a category that may change: give its order (the cost of a "
                               f"switch is measured on it), e.g. order={{{name!r}: {list(cats)}}}, "
                               "or make it immutable")
    rank = None
    if name in order:
        missing = [c for c in cats if c not in order[name] and c not in forbidden.get(name, ())]
        if missing and name in rules["one_way"]:
            raise _checks.BadInput(f"order[{name!r}] must rank every category that may be chosen; "
                                   f"missing {missing} (rank them, or forbid them)")
        rank = [list(order[name]).index(c) if c in order[name] else -1 for c in cats]
    return _Feature(name, cols, torch.eye(len(cats), dtype=X_ref.dtype), list(cats),
                    rules["one_way"].get(name, 0), name not in rules["immutable"], rank,
                    {cats.index(c) for c in forbidden.get(name, ())})


class ActionSet:
    """What each person may change, feature by feature, built from data.

    Numeric columns move on a grid of values people in ``X_ref`` really have (``n_grid``
    evenly spaced percentiles, each an observed value); categorical features (one-hot
    groups of an encoder) switch to another category, except ``forbidden`` ones; a
    categorical feature that may change needs its categories' ``order`` (e.g. savings
    little < moderate < rich; unlisted categories rank below all), on which its cost is
    measured; ``immutable`` features never change; ``one_way`` features only rise (+1) or
    only fall (−1). ``bounds`` (name → (lo, hi) in the encoded scale) clip a numeric
    grid. ``print(action_set)`` shows the table.
    """

    def __init__(self, features: list[_Feature], n_columns: int):
        self.features, self.n_columns = features, n_columns

    @classmethod
    def from_data(cls, X_ref: Tensor, encoder=None, names: Sequence[str] | None = None,
                  immutable: Sequence[str] = (), one_way: Mapping[str, int] | None = None,
                  forbidden: Mapping[str, Sequence[str]] | None = None,
                  order: Mapping[str, Sequence[str]] | None = None,
                  bounds: Mapping[str, tuple[float, float]] | None = None,
                  n_grid: int = 11) -> ActionSet:
        _checks.tensor(X_ref, "X_ref", dim=2, shape_hint="(n, D)")
        _checks.positive_int(n_grid, "n_grid", minimum=2)
        one_way, forbidden = one_way_signs(one_way), dict(forbidden or {})
        order, bounds = dict(order or {}), dict(bounds or {})
        d = X_ref.shape[1]
        if encoder is not None:
            if encoder.n_features != d:
                raise _checks.BadInput(f"the encoder makes {encoder.n_features} columns but X_ref has {d}")
            numeric, categorical = list(encoder.numeric), dict(encoder.categorical)
        else:
            names = list(names or [f"x{j}" for j in range(d)])
            if len(names) != d:
                raise _checks.BadInput(f"need {d} names (one per column of X_ref), got {len(names)}")
            numeric, categorical = names, {}
        known = numeric + list(categorical)
        for what, keys in (("immutable", immutable), ("one_way", one_way), ("forbidden", forbidden),
                           ("order", order), ("bounds", bounds)):
            unknown = [k for k in keys if k not in known]
            if unknown:
                raise _checks.BadInput(f"{what} names unknown features {unknown}; the features are {known}")
        for k in one_way:
            if k in categorical and k not in order:
                raise _checks.BadInput(f"one_way[{k!r}] is a category: give its order, e.g. "
                                       f"order={{{k!r}: {list(categorical[k])}}}")
        rules = dict(immutable=immutable, one_way=one_way, forbidden=forbidden, order=order)
        features = [_numeric_feature(X_ref, encoder, j, name, bounds, n_grid, rules)
                    for j, name in enumerate(numeric)]
        features += [_categorical_feature(X_ref, encoder, name, cats, rules)
                     for name, cats in categorical.items()]
        if not any(f.actionable for f in features):
            raise _checks.BadInput("every feature is immutable: nobody can act; free at least one")
        return cls(features, d)

    @classmethod
    def from_grid(cls, grid: Sequence, n_columns: int) -> ActionSet:
        """The spec's plain form: ``grid[j]`` lists the values column j may take besides
        its current one (empty = immutable)."""
        if len(grid) != n_columns:
            raise _checks.BadInput(f"grid needs one entry per column ({n_columns}), got {len(grid)}")
        features = []
        for j, values in enumerate(grid):
            v = torch.as_tensor(values, dtype=torch.float64).flatten()
            if not torch.isfinite(v).all():
                raise _checks.BadInput(f"grid[{j}] holds a NaN or an infinity")
            features.append(_Feature(f"x{j}", [j], v[:, None], [f"{t:.3g}" for t in v.tolist()],
                                     0, len(v) > 0))
        if not any(f.actionable for f in features):
            raise _checks.BadInput("the grid leaves every column empty (immutable): nobody can act; "
                                   "give at least one column some values")
        return cls(features, n_columns)

    @property
    def actionable(self) -> list[str]:
        """Names of the features that may change."""
        return [f.name for f in self.features if f.actionable]

    @property
    def constraints(self) -> Constraints:
        """The rules of this action set in encoded columns, as every counterfactual search
        of the course takes them (:class:`~xaitutor.constraints.Constraints`): the columns
        of features that may not change, numeric one-way columns, the one-hot groups. (The
        grid of values and the forbidden categories are the action set's own, finer rules.)"""
        immutable = [c for f in self.features if not f.actionable for c in f.columns]
        one_way = {f.columns[0]: f.direction for f in self.features
                   if f.actionable and f.direction and len(f.columns) == 1}
        groups = [f.columns for f in self.features if len(f.columns) > 1]
        return Constraints(immutable=immutable, one_way=one_way, categorical=groups)

    def freeze(self, names: Sequence[str]) -> ActionSet:
        """A copy in which the features ``names`` are immutable as well."""
        unknown = [n for n in names if n not in [f.name for f in self.features]]
        if unknown:
            raise _checks.BadInput(f"unknown features {unknown}; the features are {[f.name for f in self.features]}")
        features = [replace(f, actionable=f.actionable and f.name not in names) for f in self.features]
        if not any(f.actionable for f in features):
            raise _checks.BadInput("that freezes every feature: nobody can act; leave at least one free")
        return ActionSet(features, self.n_columns)

    def options(self, x_row: Tensor) -> list[tuple[int, Tensor, list[str]]]:
        """For one person: per actionable feature, the values it may move to (its current
        value excluded, one-way and forbidden respected): (feature index, values (K, c), labels)."""
        out = []
        for i, f in enumerate(self.features):
            if not f.actionable:
                continue
            now = x_row[f.columns].to(f.values.dtype)
            same = (f.values - now).abs().amax(1) < 1e-9
            keep = ~same
            if len(f.columns) == 1 and f.direction:
                keep &= (f.values[:, 0] - now[0]) * f.direction > 0
            if len(f.columns) > 1:
                current = int(now.argmax())
                keep &= torch.tensor([k not in f.forbidden for k in range(len(f.values))])
                if f.direction and f.order is not None:
                    r0 = f.order[current]
                    keep &= torch.tensor([(f.order[k] - r0) * f.direction > 0 for k in range(len(f.values))])
            idx = keep.nonzero().flatten().tolist()
            if idx:
                out.append((i, f.values[idx], [f.labels[k] for k in idx]))
        return out

    def __repr__(self) -> str:
        rows = [f"{'feature':18s} {'actionable':10s} {'direction':9s} values"]
        for f in self.features:
            direction = {0: "both", 1: "up only", -1: "down only"}[f.direction]
            values = ", ".join(f.labels if len(f.labels) <= 6 else f.labels[:3] + ["…"] + f.labels[-2:])
            if f.forbidden:
                values += "  (never: " + ", ".join(f.labels[k] for k in sorted(f.forbidden)) + ")"
            rows.append(f"{f.name:18s} {'yes' if f.actionable else 'no':10s} "
                        f"{direction if f.actionable else '—':9s} {values if f.actionable else '—'}")
        return "\n".join(rows)


def as_action_set(grid, d: int) -> ActionSet:
    if isinstance(grid, ActionSet):
        if grid.n_columns != d:
            raise _checks.BadInput(f"the action set is for {grid.n_columns} columns but x has {d}")
        return grid
    if isinstance(grid, (list, tuple)):
        return ActionSet.from_grid(grid, d)
    raise _checks.BadInputType(f"grid must be an ActionSet or a list of per-column values, got "
                               f"{type(grid).__name__}")
