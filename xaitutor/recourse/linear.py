"""Exact recourse for a linear model by mixed-integer programming (scipy's HiGHS ``milp``):
the cheapest action, flipsets (the k cheapest distinct sets of features) and audits by group."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import Tensor, nn

from .. import _checks
from .actions import ActionSet, COSTS, as_action_set, percentile_cost


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
    return as_action_set(grid, x.shape[1])


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


@dataclass
class FlipTest:
    """What :func:`flip_test` returns: ``decisions`` ``(N, K)``, the class the model gives
    each row with the protected attribute set to each of its K categories (the row's own
    among them), and ``own`` ``(N,)``, the category each row has."""
    decisions: Tensor
    own: Tensor

    @property
    def changed(self) -> Tensor:
        """``(N,)`` bool: setting the attribute to some other category changes the decision."""
        mine = self.decisions.gather(1, self.own[:, None])
        return (self.decisions != mine).any(1)

    @property
    def share(self) -> float:
        return self.changed.float().mean().item()


def flip_test(model: nn.Module, x: Tensor, columns: Sequence[int]) -> FlipTest:
    """The flip test of a protected attribute: every row of ``x`` ``(N, D)`` is shown to
    the model with the attribute — the one-hot ``columns`` (``encoder.columns_of("sex")``)
    — set to each of its categories, every other feature held, and the decisions are
    compared. A decision that changes with the attribute alone is a direct use of it by the
    model, whatever the groups' other features (what an audit of outcomes cannot separate)."""
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    cols = _checks.column_indices("columns", columns, x.shape[1])
    if len(cols) < 2 or len(set(cols)) != len(cols):
        raise _checks.BadInput(f"columns must be the protected attribute's one-hot group (at least two "
                               f"distinct columns, e.g. encoder.columns_of('sex')), got {cols}")
    vals = x[:, cols]
    if not (((vals == 0) | (vals == 1)).all() and (vals.sum(1) == 1).all()):
        raise _checks.BadInput(f"x's columns {cols} are not one-hot in every row; pass the attribute's "
                               "one-hot group as the encoder made it")
    n, d, k = len(x), x.shape[1], len(cols)
    variants = x[:, None].repeat(1, k, 1)
    variants[:, :, cols] = torch.eye(k, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        decisions = model(variants.reshape(n * k, d)).argmax(1).view(n, k)
    return FlipTest(decisions, vals.argmax(1))
