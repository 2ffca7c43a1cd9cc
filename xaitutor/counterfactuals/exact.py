"""Exact counterfactuals for linear models: the references the search is measured against.

For a linear model z = W x + b the question "what is the cheapest change that makes the
target win by ``margin``?" has no local minima: every constraint

    z_target(x') − z_c(x')  ≥  margin        for every class c ≠ target

is linear in x', and so are the box (``bounds``), ``immutable`` and ``one_way``. With the
MAD-weighted L1 cost Σ_j |x'_j − x_j| / mad_j, written with the split δ = p − q
(p, q ≥ 0, cost Σ_j w_j (p_j + q_j)), the whole problem is a linear programme, which
scipy's HiGHS solves to optimality (:func:`lp_counterfactual`). One-hot categories and
"fewest changed features" need integer variables: a mixed-integer programme, still
solved to optimality, only more slowly (:func:`min_features_counterfactual`).

Both work row by row and return :class:`ExactCounterfactuals`. After the solver, cost,
margins and changed features are recomputed from the returned ``x_cf`` in float64, so
what is reported is what the returned tensor does, not what the solver believed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from torch import Tensor, nn

from .. import _checks
from ..constraints import Constraints
from .search import check_request

__all__ = ["ExactCounterfactuals", "lp_counterfactual", "min_features_counterfactual"]

_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Flatten)   # identity on (N, D) rows in eval mode
_MARGIN_TOL = 1e-9          # the margin the returned x_cf keeps, recomputed in float64


@dataclass
class ExactCounterfactuals:
    """What :func:`lp_counterfactual` and :func:`min_features_counterfactual` return.

    All four on the device of ``x`` (so they combine with the model's other outputs on a GPU).
    ``x_cf`` ``(N, D)`` (dtype of ``x``; an infeasible row holds ``x`` itself),
    ``cost`` ``(N,)`` float64 — the MAD-weighted L1 cost Σ_j |x_cf_j − x_j| / mad_j of the
    returned ``x_cf`` (inf where infeasible), ``n_features`` ``(N,)`` long — the number of
    original features changed (a one-hot group counts once), ``feasible`` ``(N,)`` bool —
    whether any x' meets every constraint."""
    x_cf: Tensor
    cost: Tensor
    n_features: Tensor
    feasible: Tensor


# ----------------------------------------------------------------------------- set-up


def _linear_weights(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` in float64 of a linear model: an ``nn.Linear`` or an ``nn.Sequential``
    whose only layer that does anything is one ``nn.Linear`` (Identity, Dropout and
    Flatten are allowed around it). Anything else is refused."""
    def layers(m: nn.Module) -> list[nn.Module]:
        if isinstance(m, nn.Sequential):
            return [leaf for child in m for leaf in layers(child)]
        return [m]

    found = [m for m in layers(model) if not isinstance(m, _PASS_THROUGH)]
    if len(found) != 1 or type(found[0]) is not nn.Linear:
        kinds = ", ".join(type(m).__name__ for m in found) or "no layer"
        raise _checks.BadInput(f"exact counterfactuals need a linear model (nn.Linear, or an "
                               f"nn.Sequential of one nn.Linear); got {type(model).__name__} with "
                               f"{kinds}: use optimize() for a network")
    lin = found[0]
    W = lin.weight.detach().cpu().double().numpy()
    b = (lin.bias.detach().cpu().double().numpy() if lin.bias is not None
         else np.zeros(W.shape[0]))
    return W, b


@dataclass
class _Problem:
    """Everything a row's programme needs, in float64 numpy."""
    W: np.ndarray                 # (C, D)
    b: np.ndarray                 # (C,)
    w: np.ndarray                 # (D,) cost per unit change, 1 / mad
    lo: np.ndarray                # (D,) lower bounds of x' (−inf without bounds)
    hi: np.ndarray                # (D,)
    frozen: np.ndarray            # (D,) bool, immutable
    rises: np.ndarray             # (D,) bool, may only rise
    falls: np.ndarray             # (D,) bool, may only fall
    groups: list[list[int]]       # one-hot groups
    feats: list[list[int]]        # original features (feature_groups)
    margin: float

    @property
    def cat_cols(self) -> list[int]:
        return [j for g in self.groups for j in g]

    def rows(self, x: np.ndarray, t: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """The margin constraints of one row as G δ ≥ need: one line per class c ≠ t,
        G_c = W_t − W_c, need_c = margin − (z_t(x) − z_c(x))."""
        others = [c for c in range(len(self.b)) if c != t]
        G = self.W[t] - self.W[others]
        s = G @ x + (self.b[t] - self.b[others])
        return G, margin - s

    def box(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper bounds of p (room to rise) and q (room to fall) of one row: the bounds,
        [0, 1] for one-hot columns, 0 for immutable columns and the forbidden way."""
        lo, hi = self.lo.copy(), self.hi.copy()
        cats = self.cat_cols
        lo[cats], hi[cats] = np.maximum(lo[cats], 0.0), np.minimum(hi[cats], 1.0)
        up, down = np.maximum(hi - x, 0.0), np.maximum(x - lo, 0.0)
        up[self.frozen | self.falls] = 0.0
        down[self.frozen | self.rises] = 0.0
        return up, down

    def margins(self, x_cf: np.ndarray, t: int) -> float:
        """min_c z_t(x') − z_c(x') of one row, in float64."""
        others = [c for c in range(len(self.b)) if c != t]
        return float(((self.W[t] - self.W[others]) @ x_cf + self.b[t] - self.b[others]).min())


def _setup(model, x, target, mad, constraints, margin) -> tuple[_Problem, Tensor]:
    """The door checks shared by both solvers; returns the problem and the targets."""
    _checks.module(model)
    W, b = _linear_weights(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    _checks.same_dtype(x, model)
    d = x.shape[1]
    if W.shape[1] != d:
        raise _checks.BadInput(f"x has {d} columns but the model's nn.Linear takes {W.shape[1]}; "
                               "pass rows encoded the way the model was trained")
    if W.shape[0] < 2:
        raise _checks.BadInput("the model gives a single score; a counterfactual needs at least two "
                               "classes (nn.Linear(D, 2) for a binary decision)")
    t = check_request(model, x, target)
    margin = _checks.non_negative(margin, "margin")
    rules = Constraints.of(constraints).check(x, search=False)
    if rules.free is not None:
        raise _checks.BadInput("the exact references solve every row over all its columns: give "
                               "constraints without free (use immutable instead)")
    frozen = np.zeros(d, dtype=bool)
    frozen[list(rules.immutable)] = True
    rises, falls, _ = (m.numpy() for m in rules.masks(d))
    groups = [list(g) for g in rules.categorical]
    if mad is None:
        w = np.ones(d)
    else:
        if not isinstance(mad, Tensor) or mad.shape != (d,):
            raise _checks.BadInput(f"mad must be a tensor of shape ({d},) (one scale per column), got "
                                   f"{getattr(mad, 'shape', type(mad).__name__)}; compute it with "
                                   "counterfactuals.median_absolute_deviation(X_train)")
        scale = mad.detach().cpu().double().numpy()
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            raise _checks.BadInput("mad must be finite and > 0 in every column (the cost divides by "
                                   "it); median_absolute_deviation(X_train) never returns 0")
        w = 1.0 / scale
    lo_t, hi_t = rules.limits(x)
    lo = np.full(d, -np.inf) if lo_t is None else lo_t.detach().cpu().double().numpy()
    hi = np.full(d, np.inf) if hi_t is None else hi_t.detach().cpu().double().numpy()
    problem = _Problem(W, b, w, lo, hi, frozen, rises, falls, groups, rules.features(d), margin)
    return problem, t


# ------------------------------------------------------------------------ the solvers


def _continuous(P: _Problem, x: np.ndarray, t: int, margin: float, up: np.ndarray,
                down: np.ndarray) -> np.ndarray | None:
    """The linear programme of one row, every discrete choice already made (``up`` /
    ``down`` fix what they must to 0):

        min_{p,q}  Σ_j w_j (p_j + q_j)  s.t.  G (p − q) ≥ need,  0 ≤ p ≤ up,  0 ≤ q ≤ down

    solved by HiGHS; returns δ = p − q, or None if infeasible."""
    G, need = P.rows(x, t, margin)
    d = len(x)
    res = linprog(np.concatenate([P.w, P.w]), A_ub=np.hstack([-G, G]), b_ub=-need,
                  bounds=list(zip(np.zeros(2 * d), np.concatenate([up, down]))),
                  method="highs")
    if res.status == 2:
        return None
    if res.status != 0:
        raise RuntimeError(f"linprog stopped without an optimum ({res.message}); the model's "
                           "weights or the bounds may be badly scaled")
    return res.x[:d] - res.x[d:]


def _finish(P: _Problem, x: np.ndarray, base: np.ndarray, t: int, delta: np.ndarray,
            dtype: torch.dtype, up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, float]:
    """base + δ made exact: changes below round-off set to 0, the box clipped (bounds,
    one-way), immutable columns copied from x; then cast to the dtype of x and the margin
    checked in float64. Returns x_cf (the float64 values of the cast tensor) and how far
    its margin falls short of ``P.margin`` (≤ 0 when kept)."""
    delta = np.where(np.abs(delta) <= 1e-12 * (1.0 + np.abs(base)), 0.0, delta)
    x_cf = base + np.clip(delta, -down, up)
    x_cf = np.clip(x_cf, np.minimum(P.lo, x), np.maximum(P.hi, x))   # x itself stays allowed
    x_cf[P.frozen] = x[P.frozen]
    x_cf = torch.from_numpy(x_cf).to(dtype).double().numpy()           # what the caller gets
    return x_cf, P.margin - P.margins(x_cf, t)


def _exact_row(P: _Problem, x: np.ndarray, t: int, dtype: torch.dtype, up: np.ndarray,
               down: np.ndarray, base: np.ndarray | None = None) -> np.ndarray | None:
    """Solve the continuous part of one row from ``base`` (x with the categories the MILP
    chose; x itself without) and return an x_cf that keeps the margin in float64 after
    the cast to ``dtype`` (up to 1e-9): when round-off (of the solver, or of a float32
    cast) leaves it short, solve again asking for a little more margin — at least a few
    units in the last place of ``dtype``, doubled on every try."""
    base = x if base is None else base
    G, _ = P.rows(base, t, P.margin)
    ulp = torch.finfo(dtype).eps * float(np.abs(G).max(initial=0.0)) * (1.0 + np.abs(base).max())
    ask, last = P.margin, None
    for attempt in range(8):
        delta = _continuous(P, base, t, ask, up, down)
        if delta is None:             # asking for more made it infeasible: keep the closest
            return last
        x_cf, short = _finish(P, x, base, t, delta, dtype, up, down)
        if short <= _MARGIN_TOL:
            return x_cf
        if short <= 1e-7:
            last = x_cf
        ask += (2 * short + 4 * ulp) * 2 ** attempt
    if last is not None:
        return last
    raise RuntimeError("could not keep the margin after rounding x_cf to "
                       f"{str(dtype).replace('torch.', '')}; use float64 inputs (x.double())")


def _categories_fixed(P: _Problem, x: np.ndarray, onehot: np.ndarray, up: np.ndarray,
                      down: np.ndarray, keep: np.ndarray | None = None):
    """What is left to the continuous LP once the MILP has chosen: the start ``base`` (x
    with the chosen one-hot values) and the box around it — one-hot columns fixed, and
    columns outside the support ``keep`` (if given) fixed too."""
    cats = P.cat_cols
    base = x.copy()
    base[cats] = onehot[cats]
    up, down = up.copy(), down.copy()
    up[cats], down[cats] = 0.0, 0.0
    if keep is not None:
        up[~keep], down[~keep] = 0.0, 0.0
    return base, up, down


def _milp_row(P: _Problem, x: np.ndarray, t: int, up: np.ndarray, down: np.ndarray,
              sparsest: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The mixed-integer programme of one row: variables p, q (D each), one binary y_j
    per one-hot column (the new one-hot, Σ_{j∈g} y_j = 1, linked by p_j − q_j = y_j − x_j)
    and, when ``sparsest``, one binary z_f per original feature (changed or not,
    p_j ≤ up_j z_f and q_j ≤ down_j z_f: big-M from the bounds). Returns the chosen
    one-hot values ``(D,)`` and the support ``(D,)`` bool, or None if infeasible."""
    d = len(x)
    cats = P.cat_cols
    k, F = len(cats), (len(P.feats) if sparsest else 0)
    n = 2 * d + k + F
    G, need = P.rows(x, t, P.margin)
    cons = [LinearConstraint(np.hstack([G, -G, np.zeros((len(G), k + F))]), need, np.inf)]
    if k:
        link = np.zeros((k, n))                       # p_j − q_j − y_j = −x_j
        for i, j in enumerate(cats):
            link[i, j], link[i, d + j], link[i, 2 * d + i] = 1.0, -1.0, -1.0
        cons.append(LinearConstraint(link, -x[cats], -x[cats]))
        pick = np.zeros((len(P.groups), n))           # Σ_{j∈g} y_j = 1
        col = {j: 2 * d + i for i, j in enumerate(cats)}
        for r, g in enumerate(P.groups):
            pick[r, [col[j] for j in g]] = 1.0
        cons.append(LinearConstraint(pick, 1.0, 1.0))
    cost = np.concatenate([P.w, P.w, np.zeros(k + F)])
    if sparsest:
        big_m = np.zeros((2 * d, n))                  # p_j ≤ up_j z_f, q_j ≤ down_j z_f
        for f, cols in enumerate(P.feats):
            for j in cols:
                big_m[j, j], big_m[j, 2 * d + k + f] = 1.0, -up[j]
                big_m[d + j, d + j], big_m[d + j, 2 * d + k + f] = 1.0, -down[j]
        cons.append(LinearConstraint(big_m, -np.inf, 0.0))
        # count + cost / C with C above any sparsest optimum's cost, written as
        # C·count + cost (same minimiser), so HiGHS's absolute gap is in cost units
        C = float(P.w @ np.maximum(up, down)) + 1.0
        cost[2 * d + k:] = C
    integrality = np.concatenate([np.zeros(2 * d), np.ones(k + F)])
    lower = np.zeros(n)
    upper = np.concatenate([up, down, np.ones(k + F)])
    res = milp(cost, integrality=integrality, bounds=Bounds(lower, upper), constraints=cons,
               options={"mip_rel_gap": 0.0})
    if res.status == 2:
        return None
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"milp stopped without an optimum ({res.message}); the model's "
                           "weights or the bounds may be badly scaled")
    onehot = x.copy()
    onehot[cats] = np.round(res.x[2 * d:2 * d + k])
    keep = np.ones(d, dtype=bool)
    if sparsest:
        for f, cols in enumerate(P.feats):
            keep[cols] = res.x[2 * d + k + f] > 0.5
    return onehot, keep


def _result(P: _Problem, x: Tensor, solutions: list[np.ndarray | None]) -> ExactCounterfactuals:
    """Pack the rows; cost and changed features come from the returned x_cf."""
    x64 = x.detach().cpu().double().numpy()
    n = len(x64)
    feasible = torch.tensor([s is not None for s in solutions], dtype=torch.bool)
    x_cf64 = np.stack([x64[i] if s is None else s for i, s in enumerate(solutions)])
    changed = x_cf64 != x64
    cost = torch.from_numpy(np.abs(x_cf64 - x64) @ P.w)
    cost[~feasible] = float("inf")
    n_features = torch.tensor([sum(bool(changed[i, f].any()) for f in P.feats) for i in range(n)],
                              dtype=torch.long)
    x_cf = torch.from_numpy(x_cf64).to(dtype=x.dtype)                   # x where infeasible
    return ExactCounterfactuals(*(t.to(x.device) for t in (x_cf, cost, n_features, feasible)))


# ------------------------------------------------------------------------ public API


def lp_counterfactual(model: nn.Module, x: Tensor, target: int | Tensor, mad: Tensor | None = None,
                      constraints: Constraints | None = None, margin: float = 0.5) -> ExactCounterfactuals:
    """The cheapest counterfactual of every row of ``x`` ``(N, D)`` for a linear model
    (``nn.Linear``), exactly: with w_j = 1 / mad_j (1 without ``mad``) and δ = p − q,

        min_{p, q ≥ 0}  Σ_j w_j (p_j + q_j)
        s.t.  (W_t − W_c)(x + p − q) + b_t − b_c ≥ margin   for every class c ≠ t,
              p_j = q_j = 0 (immutable),  q_j = 0 (one_way +1),  p_j = 0 (one_way −1),
              lo ≤ x + p − q ≤ hi (bounds)

    — a linear programme (scipy's ``linprog``, HiGHS). At the optimum p_j·q_j = 0, so the
    objective is Σ_j w_j |δ_j|; for two classes it is the fractional knapsack: columns
    bought in order of w_j / |W_1j − W_0j| until the margin is reached.

    With ``categorical`` (one-hot groups of columns), each group's columns become binary
    variables y with Σ_{j∈g} y_j = 1, so x' keeps a valid one-hot; it is then a
    mixed-integer programme (``milp``). A category switch a → b costs w_a + w_b (both
    columns move by 1). Rows with no solution (immutable columns, tight bounds) come
    back with ``feasible=False``, ``x_cf = x``, ``cost = inf``. Rows already predicted as
    their target are refused, as in :func:`optimize`.
    """
    P, t = _setup(model, x, target, mad, constraints, margin)
    xs = x.detach().cpu().double().numpy()
    solutions = []
    for i, row in enumerate(xs):
        up, down = P.box(row)
        base, ti = row, int(t[i])
        if P.groups:
            chosen = _milp_row(P, row, ti, up, down, sparsest=False)
            if chosen is None:
                solutions.append(None)
                continue
            base, up, down = _categories_fixed(P, row, chosen[0], up, down)
        solutions.append(_exact_row(P, row, ti, x.dtype, up, down, base))
    return _result(P, x, solutions)


def min_features_counterfactual(model: nn.Module, x: Tensor, target: int | Tensor, mad: Tensor | None = None,
                                constraints: Constraints | None = None, margin: float = 0.5) -> ExactCounterfactuals:
    """The sparsest counterfactual of every row for a linear model — fewest original
    features changed (a one-hot group is one feature) — and the cheapest among those:

        min  Σ_f z_f + Σ_j w_j (p_j + q_j) / C
        s.t. the constraints of :func:`lp_counterfactual`,
             p_j ≤ (hi_j − x_j) z_f,  q_j ≤ (x_j − lo_j) z_f  for every column j of feature f,
             z_f ∈ {0, 1}

    a mixed-integer programme (``milp``, HiGHS, relative gap 0). The bounds give the
    big-M of each column, so ``bounds`` is required and finite on every column that may
    change. C is above the cost of any sparsest solution, so the count always comes first
    and the cost only breaks ties (the solver minimises C·count + cost, the same
    minimiser). The chosen support and categories are then re-solved as a linear
    programme, so the cost is exact. Infeasible rows: ``feasible=False``, ``x_cf = x``.
    """
    P, t = _setup(model, x, target, mad, constraints, margin)
    cats = set(P.cat_cols)
    loose = [j for j in range(len(P.w)) if not P.frozen[j] and j not in cats
             and not (np.isfinite(P.lo[j]) and np.isfinite(P.hi[j]))]
    if loose:
        raise _checks.BadInput(f"min_features_counterfactual needs finite bounds=(low, high) for every "
                               f"column that may change (they are the big-M of the integer programme); "
                               f"columns {loose[:10]} have none. Pass e.g. "
                               "bounds=encoder.bounds(X_train), or mark those columns immutable")
    xs = x.detach().cpu().double().numpy()
    solutions = []
    for i, row in enumerate(xs):
        up, down = P.box(row)
        ti = int(t[i])
        chosen = _milp_row(P, row, ti, up, down, sparsest=True)
        if chosen is None:
            solutions.append(None)
            continue
        base, up, down = _categories_fixed(P, row, chosen[0], up, down, keep=chosen[1])
        solutions.append(_exact_row(P, row, ti, x.dtype, up, down, base))
    return _result(P, x, solutions)
