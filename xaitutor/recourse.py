"""Actionable and causal recourse: what a rejected applicant can actually do.

* **Action sets and percentile costs** (Ustun, Spangher & Liu 2019): each feature is
  immutable, free, or one-way, moves on a grid of values people really have, and may not
  take some categories ("unknown"); an action costs the shift it makes in the population's
  percentiles, Σ_j |Q_j(x'_j) − Q_j(x_j)| (or its maximum over features).
* **Exact recourse for a linear model**: the cheapest action that flips the decision, by
  mixed-integer programming (scipy's HiGHS ``milp``); **flipsets**, the k cheapest
  distinct sets of features to change; an **audit** of who has recourse, by group.
* **Causal recourse** (Karimi, Schölkopf & Valera 2021): an additive-noise structural
  causal model, its counterfactuals by abduction, action and prediction (Pearl's three
  steps), and the cheapest set of interventions whose consequences flip the decision.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import Tensor, nn

from . import _checks

__all__ = ["ActionSet", "percentile_cost", "linear_recourse", "flipsets", "audit",
           "AdditiveSCM", "causal_recourse", "Recourse", "Flipset", "Audit", "COSTS"]

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
        one_way, forbidden = dict(one_way or {}), dict(forbidden or {})
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
        for k, v in one_way.items():
            if v not in (1, -1):
                raise _checks.BadInput(f"one_way[{k!r}] must be +1 (may only rise) or -1 (may only fall), got {v}")
            if k in categorical and k not in order:
                raise _checks.BadInput(f"one_way[{k!r}] is a category: give its order, e.g. "
                                       f"order={{{k!r}: {list(categorical[k])}}}")
        features = []
        qs = torch.linspace(0, 1, n_grid, dtype=torch.float64)
        for j, name in enumerate(numeric):
            col = (encoder.columns_of(name)[0] if encoder is not None else j)
            grid = torch.quantile(X_ref[:, col].double(), qs, interpolation="lower").unique()
            if name in bounds:
                lo, hi = bounds[name]
                grid = grid[(grid >= lo) & (grid <= hi)]
            grid = grid.to(X_ref.dtype)
            unit = (encoder.mean[name], encoder.std[name]) if encoder is not None else (0.0, 1.0)
            labels = [f"{v * unit[1] + unit[0]:.4g}" for v in grid.tolist()]
            features.append(_Feature(name, [col], grid[:, None], labels, one_way.get(name, 0),
                                     name not in immutable, unit=unit))
        for name, cats in categorical.items():
            cols = encoder.columns_of(name)
            bad = [c for c in forbidden.get(name, ()) if c not in cats]
            if bad or any(c not in cats for c in order.get(name, ())):
                raise _checks.BadInput(f"{name} has the categories {list(cats)}; unknown: "
                                       f"{bad or [c for c in order[name] if c not in cats]}")
            rank = None
            if name not in immutable and name not in order:
                raise _checks.BadInput(f"{name} is a category that may change: give its order (the cost of a "
                                       f"switch is measured on it), e.g. order={{{name!r}: {list(cats)}}}, "
                                       "or make it immutable")
            if name in order:
                missing = [c for c in cats if c not in order[name] and c not in forbidden.get(name, ())]
                if missing and name in one_way:
                    raise _checks.BadInput(f"order[{name!r}] must rank every category that may be chosen; "
                                           f"missing {missing} (rank them, or forbid them)")
                rank = [list(order[name]).index(c) if c in order[name] else -1 for c in cats]
            features.append(_Feature(name, cols, torch.eye(len(cats), dtype=X_ref.dtype),
                                     list(cats), one_way.get(name, 0),
                                     name not in immutable, rank,
                                     {cats.index(c) for c in forbidden.get(name, ())}))
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


def _as_action_set(grid, d: int) -> ActionSet:
    if isinstance(grid, ActionSet):
        if grid.n_columns != d:
            raise _checks.BadInput(f"the action set is for {grid.n_columns} columns but x has {d}")
        return grid
    if isinstance(grid, (list, tuple)):
        return ActionSet.from_grid(grid, d)
    raise _checks.BadInputType(f"grid must be an ActionSet or a list of per-column values, got "
                               f"{type(grid).__name__}")


# --- exact recourse for a linear model ------------------------------------------------------

@dataclass
class Recourse:
    """``x_cf`` (N, D) the cheapest counterfactual (x itself where none exists), ``cost``
    (N,) its cost (inf where none), ``feasible`` (N,) whether any action flips the
    decision, ``actions`` per row: the actions it takes, readable; ``changes`` per row:
    ``{column: new value}`` of what the person sets (for causal recourse: the intervened
    nodes only, not their consequences)."""
    x_cf: Tensor
    cost: Tensor
    feasible: Tensor
    actions: list[list[str]] = field(default_factory=list)
    changes: list[dict[int, float]] = field(default_factory=list)


def _linear_weights(model: nn.Module, d: int) -> tuple[Tensor, float]:
    """w, b of the score s(x) = z_1 − z_0 of an ``nn.Linear(D, 2)``."""
    layer = model
    if isinstance(model, nn.Sequential):
        inner = [m for m in model if not isinstance(m, (nn.Identity, nn.Flatten))]
        layer = inner[0] if len(inner) == 1 else model
    if not isinstance(layer, nn.Linear) or layer.out_features != 2:
        raise _checks.BadInput(f"linear_recourse needs an nn.Linear(D, 2) (class 1 is the target), got "
                               f"{type(model).__name__}; for other models use causal_recourse (any model, "
                               "enumeration over the grid) or counterfactuals.optimize")
    if layer.in_features != d:
        raise _checks.BadInput(f"the model takes {layer.in_features} features but x has {d} columns")
    w = (layer.weight[1] - layer.weight[0]).detach().double().cpu()
    b = 0.0 if layer.bias is None else float((layer.bias[1] - layer.bias[0]).detach())
    return w, b


@dataclass
class _Menu:
    """Every single-feature move open to one person: option k sets feature ``owner[k]``
    to ``values[k]`` (on its columns), changes the score by ``gain[k]`` and costs ``cost[k]``."""
    owner: np.ndarray
    values: list[Tensor]
    labels: list[str]
    gain: np.ndarray
    cost: np.ndarray


def _menu(action_set: ActionSet, x_row: Tensor, X_ref: Tensor, kind: str,
          w: Tensor | None = None) -> _Menu:
    owner, values, labels, gain, cost = [], [], [], [], []
    for f, vals, labs in action_set.options(x_row):
        feat = action_set.features[f]
        cols = feat.columns
        cost += (feat.percentile(X_ref, vals) - feat.percentile(X_ref, x_row[cols][None])).abs().tolist()
        if w is not None:
            gain += ((vals.double() - x_row[cols].double()) @ w[cols]).tolist()
        owner += [f] * len(vals)
        values += list(vals)
        labels += labs
    return _Menu(np.array(owner, dtype=int), values, labels, np.array(gain), np.array(cost))


def _milp(menu: _Menu, need: float, kind: str, exclude: Sequence[set[int]] = ()) -> np.ndarray | None:
    """Choose options (binary z), at most one per feature, with Σ gain·z ≥ ``need``, no
    support containing an excluded one; min Σ cost·z (or min max cost·z, then Σ)."""
    n = len(menu.owner)
    if n == 0:
        return None
    feats = np.unique(menu.owner)
    rows = [menu.gain[None]]
    lo, hi = [need], [np.inf]
    rows.append((menu.owner[None] == feats[:, None]).astype(float))    # one value per feature
    lo += [0.0] * len(feats)
    hi += [1.0] * len(feats)
    for support in exclude:                       # no earlier flipset, nor a superset of one
        rows.append(np.isin(menu.owner, list(support)).astype(float)[None])
        lo.append(-np.inf)
        hi.append(len(support) - 1)
    A = np.vstack(rows)
    upper = np.ones(n)
    if kind == "max_percentile":                  # min t with t ≥ cost_k z_k ...
        A_t = np.hstack([np.vstack([A, -np.diag(menu.cost)]),
                         np.r_[np.zeros(len(A)), np.ones(n)][:, None]])
        res = milp(np.r_[np.zeros(n), 1.0], integrality=np.r_[np.ones(n), 0.0],
                   bounds=Bounds(np.zeros(n + 1), np.r_[np.ones(n), np.inf]),
                   constraints=LinearConstraint(A_t, lo + [0.0] * n, hi + [np.inf] * n))
        if res.status != 0:
            return None
        upper = (menu.cost <= res.x[n] + 1e-9).astype(float)      # ... then the cheapest sum
    res = milp(menu.cost, integrality=np.ones(n), bounds=Bounds(np.zeros(n), upper),
               constraints=LinearConstraint(A, lo, hi))
    return None if res.status != 0 else np.flatnonzero(res.x > 0.5)


def _apply(action_set: ActionSet, x_row: Tensor, menu: _Menu, chosen) -> tuple[Tensor, list[str]]:
    out, said = x_row.clone(), []
    for k in chosen:
        feat = action_set.features[menu.owner[k]]
        out[feat.columns] = menu.values[k].to(out.dtype)
        said.append(f"{feat.name}: {feat.show(x_row[feat.columns])} → {feat.show(menu.values[k])}")
    return out, said


def _prepare(model, x, grid, X_ref, cost):
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    _checks.tensor(X_ref, "X_ref", dim=2, shape_hint="(n, D)", model=model)
    if X_ref.shape[1] != x.shape[1]:
        raise _checks.BadInput(f"X_ref has {X_ref.shape[1]} columns but x has {x.shape[1]}")
    _checks.choice(cost, "cost", COSTS)
    return _as_action_set(grid, x.shape[1])


def linear_recourse(model: nn.Module, x: Tensor, grid, X_ref: Tensor, cost: str = "percentile",
                    margin: float = 1e-6) -> Recourse:
    """The cheapest action for each row of ``x`` ``(N, D)`` that makes a linear model
    ``nn.Linear(D, 2)`` predict class 1, exactly (Ustun, Spangher & Liu 2019, as a
    mixed-integer program solved by scipy's HiGHS): a binary choice per (feature, value)
    of the action set ``grid`` (an :class:`ActionSet`, or ``grid[j]`` = the values
    column j may take besides its current one, empty = immutable), at most one value per
    feature, the score z₁ − z₀ ≥ ``margin``, minimising the percentile cost
    (``cost="percentile"``: the sum of percentile shifts; ``"max_percentile"``: the
    largest, ties broken by the sum). ``feasible`` is False where no action flips the
    decision (then ``x_cf = x`` and ``cost = inf``)."""
    action_set = _prepare(model, x, grid, X_ref, cost)
    w, b = _linear_weights(model, x.shape[1])
    ref = X_ref.detach().cpu()
    x_cf = x.detach().clone()
    costs = torch.full((len(x),), float("inf"), dtype=torch.float64)
    ok, actions, changes = torch.zeros(len(x), dtype=torch.bool), [], []
    for i, row in enumerate(x.detach().cpu()):
        menu = _menu(action_set, row, ref, cost, w)
        chosen = _milp(menu, margin - (float(row.double() @ w) + b), cost)
        if chosen is None:
            actions.append([])
            changes.append({})
            continue
        new, said = _apply(action_set, row, menu, chosen)
        x_cf[i], ok[i] = new.to(x.device, x.dtype), True
        costs[i] = percentile_cost(row[None], new[None], ref, cost, action_set)[0]
        actions.append(said)
        changes.append({int(j): float(new[j]) for j in (new != row).nonzero().flatten()})
    return Recourse(x_cf, costs, ok, actions, changes)


# --- flipsets and audits --------------------------------------------------------------------

@dataclass
class Flipset:
    """The k cheapest distinct ways one person can flip the decision, cheapest first:
    ``items[i] = (cost, actions, x_cf)``; no item's features contain an earlier item's."""
    items: list[tuple[float, list[str], Tensor]]
    features: list[list[str]] = field(default_factory=list)     # per item: the features it changes

    def __repr__(self) -> str:
        if not self.items:
            return "no action in the action set flips the decision"
        lines = [f"{'#':>2s}  {'cost':>6s}  actions"]
        lines += [f"{i + 1:>2d}  {c:6.3f}  " + "; ".join(a) for i, (c, a, _) in enumerate(self.items)]
        return "\n".join(lines)


def flipsets(model: nn.Module, x: Tensor, grid, X_ref: Tensor, k: int = 5,
             cost: str = "percentile", margin: float = 1e-6) -> Flipset:
    """Ustun et al.'s flipset for one person ``x`` ``(D,)`` or ``(1, D)``: the cheapest
    action, then the cheapest whose set of changed features neither equals nor contains
    an earlier one, and so on, ``k`` times (fewer when the action set runs out). Each is
    an exact MILP with the earlier feature sets cut off, so costs never decrease."""
    x = x[None] if x.dim() == 1 else x
    action_set = _prepare(model, x, grid, X_ref, cost)
    if len(x) != 1:
        raise _checks.BadInput(f"flipsets explains one person: pass x of shape (D,) or (1, D), got "
                               f"{tuple(x.shape)}; for many use linear_recourse")
    _checks.positive_int(k, "k")
    w, b = _linear_weights(model, x.shape[1])
    row, ref = x[0].detach().cpu(), X_ref.detach().cpu()
    menu = _menu(action_set, row, ref, cost, w)
    need = margin - (float(row.double() @ w) + b)
    items, found, names = [], [], []
    for _ in range(k):
        chosen = _milp(menu, need, cost, found)
        if chosen is None:
            break
        new, said = _apply(action_set, row, menu, chosen)
        items.append((float(percentile_cost(row[None], new[None], ref, cost, action_set)[0]), said,
                      new.to(x.device, x.dtype)))
        found.append({int(menu.owner[j]) for j in chosen})
        names.append([action_set.features[int(menu.owner[j])].name for j in chosen])
    return Flipset(items, names)


@dataclass
class Audit:
    """Per group: how many were rejected, the share of them with any recourse, and the
    cost quartiles of those who have one. ``rows`` holds dicts; ``print`` shows a table."""
    rows: list[dict]

    def __repr__(self) -> str:
        lines = [f"{'group':12s} {'rejected':>8s} {'recourse':>9s} {'cost q25':>9s} "
                 f"{'median':>7s} {'q75':>6s}"]
        for r in self.rows:
            lines.append(f"{r['group']:12s} {r['rejected']:8d} {r['share_with_recourse']:9.2f} "
                         f"{r['cost_q25']:9.3f} {r['cost_median']:7.3f} {r['cost_q75']:6.3f}")
        return "\n".join(lines)


def audit(model: nn.Module, x: Tensor, grid, X_ref: Tensor, groups: Mapping[str, Tensor],
          cost: str = "percentile") -> Audit:
    """A recourse audit (Ustun et al. 2019, §5): among the people of ``x`` the model
    rejects (class 0), per group (name → bool mask over the rows of ``x``), the share who
    have any recourse under the action set and the quartiles of its cost. Groups that
    differ here are treated differently by the model *and* the action set together."""
    action_set = _prepare(model, x, grid, X_ref, cost)
    with torch.no_grad():
        rejected = model(x).argmax(1) == 0
    rows = []
    for name, mask in groups.items():
        mask = torch.as_tensor(mask, device=x.device)
        if mask.dtype != torch.bool or mask.shape != (len(x),):
            raise _checks.BadInput(f"group {name!r} must be a bool mask of shape ({len(x)},), got "
                                   f"{mask.dtype} {tuple(mask.shape)}")
        sel = x[mask & rejected]
        if len(sel) == 0:
            rows.append(dict(group=name, rejected=0, share_with_recourse=float("nan"),
                             cost_q25=float("nan"), cost_median=float("nan"), cost_q75=float("nan")))
            continue
        r = linear_recourse(model, sel, action_set, X_ref, cost)
        c = r.cost[r.feasible]
        q = torch.quantile(c, torch.tensor([0.25, 0.5, 0.75], dtype=c.dtype)).tolist() if len(c) \
            else [float("nan")] * 3
        rows.append(dict(group=name, rejected=len(sel), share_with_recourse=r.feasible.float().mean().item(),
                         cost_q25=q[0], cost_median=q[1], cost_q75=q[2]))
    return Audit(rows)


# --- causal recourse ------------------------------------------------------------------------

def _parents_dict(parents) -> dict[int, list[int]]:
    """``parents`` as {node: [its parents]}, node ids as ints (column indices of x)."""
    if not isinstance(parents, Mapping):
        raise _checks.BadInputType(f"parents must be a dict {{node: [its parents]}}, got "
                                   f"{type(parents).__name__}; e.g. {{1: [0], 2: [0, 1]}}")
    out = {}
    for j, ps in parents.items():
        if isinstance(ps, (int, np.integer)) or not isinstance(ps, (list, tuple, range)):
            raise _checks.BadInputType(f"parents[{j!r}] must be a list of parent nodes, got {ps!r}; "
                                       f"e.g. parents = {{{j!r}: [{ps!r}]}}")
        ids = [j, *ps]
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids):
            raise _checks.BadInputType(f"nodes are column indices of x (ints), got {ids!r} in parents; "
                                       "name each column by its index")
        out[int(j)] = [int(p) for p in ps]
    return out


class AdditiveSCM:
    """An additive-noise structural causal model over the columns of x:
    x_j = f_j(x_parents(j)) + u_j, with ``parents = {node: [parent nodes]}`` (nodes are
    column indices; a node not listed has no parents). ``fit(X)`` regresses each node on
    its parents (``LinearRegression`` unless ``regressor`` — any scikit-learn regressor,
    cloned per node — is given) and keeps the residuals as the noise."""

    def __init__(self, parents: Mapping[int, Sequence[int]], n_nodes: int | None = None):
        self.parents = _parents_dict(parents)
        if n_nodes is not None:
            _checks.positive_int(n_nodes, "n_nodes")
        nodes = set(self.parents) | {p for ps in self.parents.values() for p in ps}
        self.n_nodes = n_nodes if n_nodes is not None else (max(nodes) + 1 if nodes else 0)
        bad = sorted(j for j in nodes if not 0 <= j < self.n_nodes)
        if bad:
            raise _checks.BadInput(f"nodes {bad} are out of range: the SCM has nodes 0..{self.n_nodes - 1} "
                                   "(one per column of x)")
        for j, ps in self.parents.items():
            if j in ps:
                raise _checks.BadInput(f"node {j} is its own parent: remove it from parents[{j}]")
        self.order = self._topological_order()
        self.models: dict[int, object] = {}

    def _topological_order(self) -> list[int]:
        remaining = {j: set(self.parents.get(j, ())) for j in range(self.n_nodes)}
        order = []
        while remaining:
            ready = sorted(j for j, ps in remaining.items() if not ps)
            if not ready:
                raise _checks.BadInput(f"the graph has a cycle among nodes {sorted(remaining)}: a "
                                       "structural causal model needs a DAG; remove an edge of the cycle")
            for j in ready:
                order.append(j)
                del remaining[j]
            for ps in remaining.values():
                ps.difference_update(ready)
        return order

    def descendants(self, node: int) -> list[int]:
        """Every descendant of ``node`` (what an intervention on it changes), in causal order."""
        out, frontier = set(), {node}
        while frontier:
            frontier = {j for j, ps in self.parents.items() if set(ps) & frontier} - out
            out |= frontier
        return [j for j in self.order if j in out]

    def fit(self, X: Tensor, regressor=None) -> AdditiveSCM:
        from sklearn.base import clone
        from sklearn.linear_model import LinearRegression
        _checks.tensor(X, "X", dim=2, shape_hint="(n, D)")
        if regressor is not None and not (callable(getattr(regressor, "fit", None))
                                          and callable(getattr(regressor, "predict", None))):
            raise _checks.BadInputType(f"regressor must be a scikit-learn regressor (with fit and predict), "
                                       f"got {type(regressor).__name__}; e.g. "
                                       "sklearn.linear_model.LinearRegression()")
        if X.shape[1] != self.n_nodes:
            raise _checks.BadInput(f"X has {X.shape[1]} columns but the SCM has {self.n_nodes} nodes (the "
                                   "largest node that parents names, plus one); pass "
                                   f"AdditiveSCM(parents, n_nodes={X.shape[1]}) to add root columns "
                                   "that parents does not name")
        data = X.detach().cpu().double().numpy()
        self.models = {}
        for j, ps in self.parents.items():
            if ps:
                m = clone(regressor) if regressor is not None else LinearRegression()
                self.models[j] = m.fit(data[:, ps], data[:, j])
        return self

    def _f(self, j: int, values: np.ndarray) -> np.ndarray:
        return self.models[j].predict(values[:, self.parents[j]])

    def counterfactual(self, x: Tensor, do: Mapping[int, float | Tensor]) -> Tensor:
        """Pearl's three steps for rows ``x`` ``(N, D)``: abduction (u_j = x_j − f_j(parents)),
        action (set the ``do`` nodes: a number, or one value per row ``(N,)``), prediction
        (recompute every descendant in causal order with its own u; the rest stays)."""
        if any(j in self.parents and self.parents[j] and j not in self.models for j in range(self.n_nodes)):
            raise _checks.BadInput("fit the SCM first: scm.fit(X)")
        _checks.tensor(x, "x", dim=2, shape_hint="(N, D)")
        if x.shape[1] != self.n_nodes:
            raise _checks.BadInput(f"x has {x.shape[1]} columns but the SCM has {self.n_nodes} nodes")
        unknown = [j for j in do if not (isinstance(j, (int, np.integer)) and 0 <= j < self.n_nodes)]
        if unknown:
            raise _checks.BadInput(f"do intervenes on unknown nodes {unknown}; the nodes are 0..{self.n_nodes - 1}")
        data = x.detach().cpu().double().numpy()
        noise = data.copy()
        for j in self.models:
            noise[:, j] = data[:, j] - self._f(j, data)
        out = data.copy()
        for j, v in do.items():
            v = np.asarray(v.detach().cpu() if isinstance(v, Tensor) else v, dtype=float)
            if v.ndim and v.shape != (len(x),):
                raise _checks.BadInput(f"do[{j}] must be a number or shape ({len(x)},), got {v.shape}")
            out[:, j] = v
        changed = set(do)
        for j in self.order:
            if j in do or j not in self.models or not set(self.parents[j]) & changed:
                continue
            out[:, j] = self._f(j, out) + noise[:, j]
            changed.add(j)
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)


def causal_recourse(model: nn.Module, scm: AdditiveSCM, x: Tensor, grid: Mapping[int, Sequence[float]],
                    X_ref: Tensor, cost: str = "percentile", target: int = 1,
                    one_way: Mapping[int, int] | None = None, batch_size: int = 65536) -> Recourse:
    """The cheapest set of interventions (Karimi, Schölkopf & Valera 2021): for each row of
    ``x``, every combination of do(x_j := v) over the actionable nodes of ``grid``
    (``{node: values}``; each node left alone or set to one of its values) is pushed
    through the SCM (:meth:`AdditiveSCM.counterfactual`), and the cheapest whose
    consequences the model (any model) gives ``target`` is returned. The cost counts the
    actions — the percentile shifts of the intervened nodes — not their consequences.
    ``one_way`` (node → +1 or −1) lets a node's intervention only raise (lower) it, per
    person. Exact over the grid (not the continuous optimum), by enumeration, batched."""
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    _checks.choice(cost, "cost", COSTS)
    _checks.positive_int(batch_size, "batch_size")
    _checks.targets(target, len(x), x.device, n_classes=_checks.n_outputs(model, x))
    if not isinstance(scm, AdditiveSCM):
        raise _checks.BadInputType(f"scm must be an AdditiveSCM, got {type(scm).__name__}")
    if x.shape[1] != scm.n_nodes or X_ref.shape[1] != scm.n_nodes:
        raise _checks.BadInput(f"x {tuple(x.shape)} and X_ref {tuple(X_ref.shape)} need one column per "
                               f"SCM node ({scm.n_nodes})")
    if not isinstance(grid, Mapping):
        raise _checks.BadInputType(f"grid must be a dict {{node: [values to try]}}, got {type(grid).__name__}; "
                                   "e.g. {1: [10, 12, 14], 3: [0.5, 1.0]}")
    nodes = list(grid)
    unknown = [j for j in nodes if not (isinstance(j, (int, np.integer)) and 0 <= j < scm.n_nodes)]
    if unknown:
        raise _checks.BadInput(f"grid names unknown nodes {unknown}; the nodes are 0..{scm.n_nodes - 1}")
    if not nodes or any(len(grid[j]) == 0 for j in nodes):
        raise _checks.BadInput("grid needs at least one actionable node, each with at least one value")
    one_way = dict(one_way or {})
    if any(j not in nodes or v not in (1, -1) for j, v in one_way.items()):
        raise _checks.BadInput(f"one_way maps nodes of grid {nodes} to +1 (may only rise) or -1 (may only "
                               f"fall), got {one_way}")
    values = [torch.as_tensor(grid[j], dtype=torch.float64).flatten() for j in nodes]
    # every combination: index 0 = leave the node alone, k ≥ 1 = set it to values[k − 1]
    combos = torch.cartesian_prod(*[torch.arange(len(v) + 1) for v in values]).view(-1, len(nodes))
    combos = combos[(combos > 0).any(1)]                                  # (C, A): at least one action
    n, C = len(x), len(combos)
    ref = X_ref.detach().cpu()
    x_cpu = x.detach().cpu()
    rows = x_cpu.repeat_interleave(C, 0)                                  # (N·C, D)
    do = {}
    for a, (j, v) in enumerate(zip(nodes, values)):
        idx = combos[:, a].repeat(n)
        keep = rows[:, j].double()
        do[j] = torch.where(idx > 0, v[(idx - 1).clamp_min(0)], keep)
    # nodes left alone keep their value: do(x_j := x_j) on a node changes nothing downstream
    # only if we do not intervene, so push each combination through with its own do-set
    x_new = torch.empty_like(rows)
    for pattern in (combos > 0).unique(dim=0):
        sel = ((combos > 0) == pattern).all(1).repeat(n)
        chosen = {j: do[j][sel] for a, j in enumerate(nodes) if pattern[a]}
        x_new[sel] = scm.counterfactual(rows[sel], chosen).to(rows.dtype)
    with torch.no_grad():
        pred = torch.cat([model(b.to(x.device, x.dtype)).argmax(1).cpu()
                          for b in x_new.split(batch_size)]).view(n, C)
    acted = rows.clone()
    for a, j in enumerate(nodes):                     # the actions alone, for their cost
        acted[:, j] = do[j].to(rows.dtype)
    price = percentile_cost(rows, acted, ref, cost).view(n, C)
    wrong_way = torch.zeros(n * C, dtype=torch.bool)
    for a, j in enumerate(nodes):
        if j in one_way:
            wrong_way |= (combos[:, a].repeat(n) > 0) & ((do[j] - rows[:, j].double()) * one_way[j] < 0)
    price = price.masked_fill(wrong_way.view(n, C), float("inf"))
    price = torch.where(pred == target, price, torch.full_like(price, float("inf")))
    best = price.argmin(1)
    feasible = torch.isfinite(price.gather(1, best[:, None]))[:, 0]
    pick = torch.arange(n) * C + best
    x_cf = torch.where(feasible[:, None], x_new[pick], x_cpu).to(x.device, x.dtype)
    actions, changes = [], []
    for i in range(n):
        c = combos[best[i]]
        do_i = {int(j): float(values[a][c[a] - 1]) for a, j in enumerate(nodes) if c[a] > 0} \
            if feasible[i] else {}
        changes.append(do_i)
        actions.append([f"do(x{j} := {v:.4g})" for j, v in do_i.items()])
    cost_out = torch.where(feasible, price.gather(1, best[:, None])[:, 0].double(),
                           torch.full((n,), float("inf"), dtype=torch.float64))
    return Recourse(x_cf, cost_out, feasible, actions, changes)
