"""Causal recourse (Karimi, Schölkopf & Valera 2021): an additive-noise structural causal model,
its counterfactuals by abduction, action and prediction, and the cheapest interventions."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from ..constraints import one_way_signs
from .actions import COSTS, percentile_cost
from .linear import Recourse


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


def _grid_nodes(scm: AdditiveSCM, grid, one_way) -> tuple[list[int], list[Tensor], dict]:
    """The checked actionable nodes of ``grid``, their values, and the one-way rules."""
    if not isinstance(grid, Mapping):
        raise _checks.BadInputType(f"grid must be a dict {{node: [values to try]}}, got {type(grid).__name__}; "
                                   "e.g. {1: [10, 12, 14], 3: [0.5, 1.0]}")
    nodes = list(grid)
    unknown = [j for j in nodes if not (isinstance(j, (int, np.integer)) and 0 <= j < scm.n_nodes)]
    if unknown:
        raise _checks.BadInput(f"grid names unknown nodes {unknown}; the nodes are 0..{scm.n_nodes - 1}")
    if not nodes or any(len(grid[j]) == 0 for j in nodes):
        raise _checks.BadInput("grid needs at least one actionable node, each with at least one value")
    one_way = one_way_signs(one_way)
    if any(j not in nodes for j in one_way):
        raise _checks.BadInput(f"one_way maps nodes of grid {nodes} to +1 (may only rise) or -1 (may only "
                               f"fall), got {one_way}")
    return nodes, [torch.as_tensor(grid[j], dtype=torch.float64).flatten() for j in nodes], one_way


def _pushed(scm: AdditiveSCM, x: Tensor, nodes: list[int], values: list[Tensor]):
    """Every combination of interventions for every row of ``x`` (CPU), pushed through the
    SCM: the combinations ``(C, A)`` (0 = leave the node alone, k ≥ 1 = set it to
    values[k − 1]; at least one action), the rows ``(N·C, D)``, the value each node is set
    to, and the consequences ``(N·C, D)``."""
    combos = torch.cartesian_prod(*[torch.arange(len(v) + 1) for v in values]).view(-1, len(nodes))
    combos = combos[(combos > 0).any(1)]
    n, C = len(x), len(combos)
    rows = x.repeat_interleave(C, 0)
    do = {}
    for a, (j, v) in enumerate(zip(nodes, values)):
        idx = combos[:, a].repeat(n)
        do[j] = torch.where(idx > 0, v[(idx - 1).clamp_min(0)], rows[:, j].double())
    # a node left alone is not intervened on (do(x_j := x_j) would cut it from its parents):
    # push each pattern of intervened nodes through with its own do-set
    x_new = torch.empty_like(rows)
    for pattern in (combos > 0).unique(dim=0):
        sel = ((combos > 0) == pattern).all(1).repeat(n)
        chosen = {j: do[j][sel] for a, j in enumerate(nodes) if pattern[a]}
        x_new[sel] = scm.counterfactual(rows[sel], chosen).to(rows.dtype)
    return combos, rows, do, x_new


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
    nodes, values, one_way = _grid_nodes(scm, grid, one_way)
    x_cpu = x.detach().cpu()
    combos, rows, do, x_new = _pushed(scm, x_cpu, nodes, values)
    n, C = len(x), len(combos)
    with torch.no_grad():
        pred = torch.cat([model(b.to(x.device, x.dtype)).argmax(1).cpu()
                          for b in x_new.split(batch_size)]).view(n, C)
    acted = rows.clone()
    for j in nodes:                                   # the actions alone, for their cost
        acted[:, j] = do[j].to(rows.dtype)
    price = percentile_cost(rows, acted, X_ref.detach().cpu(), cost).view(n, C)
    wrong_way = torch.zeros(n * C, dtype=torch.bool)
    for a, j in enumerate(nodes):
        if j in one_way:
            wrong_way |= (combos[:, a].repeat(n) > 0) & ((do[j] - rows[:, j].double()) * one_way[j] < 0)
    price = price.masked_fill(wrong_way.view(n, C), float("inf"))
    price = torch.where(pred == target, price, torch.full_like(price, float("inf")))
    return _cheapest(price, combos, x_new, x_cpu, nodes, values, x)


def _cheapest(price: Tensor, combos: Tensor, x_new: Tensor, x_cpu: Tensor, nodes: list[int],
              values: list[Tensor], x: Tensor) -> Recourse:
    """Each row's cheapest feasible combination (``price`` ``(N, C)``, inf where not) as a
    :class:`Recourse`."""
    n, C = price.shape
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
