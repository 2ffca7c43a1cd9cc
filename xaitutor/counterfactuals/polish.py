"""The polish of :func:`~xaitutor.counterfactuals.optimize`: exact local moves from the
search's result. ISTA on an L1 term hovers near the sparse optimum without landing on it;
the polish solves the linearised problem exactly (:func:`~.proximal.lp_step`, sequential
linear programming) from several start points and keeps, row by row, the cheapest point
that still reaches the target. It never makes a counterfactual worse by its own measure."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from .._batching import batched
from ..constraints import Constraints
from .objective import Objective
from .proximal import lp_step

__all__ = ["polish", "one_feature_points", "LP_STEPS", "MAX_ROUNDS"]

LP_STEPS = 3            # sequential-LP steps from every start (exact on a linear model after one)
MAX_ROUNDS = 10         # rounds of single moves from the best point, while the objective falls
SHORT_PRICE = 1e6       # added to the objective of a point that is valid but short of the margin
REACH = 10.0            # an unbounded column is searched alone up to 10 scale units (10 / w_j)
N_GRID, N_BISECT = 24, 12   # the one-feature line search: grid points each way, then bisections
POINTS_LOG2 = 12        # the line search sends rows through the model in slices of about 2**12 points


@dataclass
class _Rows:
    """The rows being polished: x ``(N, D)``, their targets, what may move, the box of δ
    and the bounds (None without)."""
    x: Tensor
    t: Tensor
    movable: Tensor
    box_lo: Tensor
    box_hi: Tensor
    lo: Tensor | None
    hi: Tensor | None
    numeric: Tensor

    def clip(self, c: Tensor) -> Tensor:
        """x + (hi − x) may round past hi: clip to the bounds again."""
        return c if self.lo is None else torch.maximum(torch.minimum(c, self.hi), self.lo)


def _ranked(obj: Objective, rows: _Rows, c: Tensor, which: Tensor | None = None) -> Tensor:
    """The objective of candidates ``c`` (``(N, ..., D)`` points of every row, or ``(K,
    D)`` points of the rows ``which``), those that keep the full margin first (a point
    just past the boundary is cheaper, but not the same problem); inf if invalid."""
    if which is None:
        s, value = obj.scores(c), obj.penalty(rows.x.view(len(rows.x), *[1] * (c.dim() - 2), -1), c)
    else:
        s, value = obj.scores(c, rows.t[which]), obj.penalty(rows.x[which], c)
    m = obj.margin
    short = s < m - 1e-6 * max(m, 1.0)
    value = value + torch.where(short, SHORT_PRICE * (1 + (m - s)), torch.zeros_like(s))
    return torch.where(s > 0, value, torch.full_like(value, float("inf")))


def _solve(obj: Objective, rows: _Rows, start: Tensor, blo: Tensor, bhi: Tensor,
           allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Candidates ``(N, M, D)`` (only the ``allowed`` ones are computed): sequential LP on
    the numeric columns from ``start`` (categories kept); returns the cheapest valid
    iterate of each and its ranked objective (inf if none)."""
    n, m = start.shape[:2]
    inf = float("inf")
    best, best_obj = start.clone(), torch.full((n, m), inf, dtype=start.dtype, device=start.device)
    mask = torch.ones(n, m, dtype=torch.bool, device=start.device) if allowed is None else allowed
    r, which = mask.nonzero(as_tuple=True)
    if len(r) == 0:
        return best, best_obj
    point, lo_, hi_ = start[r, which], blo[r, which], bhi[r, which]
    xr, tr, cost = rows.x[r], rows.t[r], obj.unit_cost().expand(len(r), -1)
    found, found_obj = point.clone(), torch.full((len(r),), inf, dtype=start.dtype, device=start.device)
    for _ in range(LP_STEPS):
        s, g = obj.score_and_grad(point, tr)
        g = g * rows.numeric
        need = obj.margin - s + (g * (point - xr)).sum(1)
        step, feasible = lp_step(g, need, cost, lo_, hi_)
        cand = rows.clip(torch.where(rows.numeric, xr + step, point))
        with torch.no_grad():
            value = torch.where(feasible, _ranked(obj, rows, cand, r), torch.full_like(found_obj, inf))
        better = value < found_obj
        found = torch.where(better[:, None], cand, found)
        found_obj = torch.where(better, value, found_obj)
        point = cand
    best[r, which], best_obj[r, which] = found, found_obj
    return best, best_obj


def _first_candidates(rows: _Rows, cf: Tensor, feats: list[list[int]]) -> tuple[Tensor, Tensor, Tensor]:
    """Start points and boxes ``(N, M, D)``: the search's point, and every feature alone
    from x (one numeric column in its box, or one category with the numbers fixed)."""
    x, n, d = rows.x, *rows.x.shape
    starts, blos, bhis = [cf[:, None]], [rows.box_lo[:, None]], [rows.box_hi[:, None]]
    for f in feats:
        if not bool(rows.movable[:, f].any()):
            continue
        if rows.numeric[f[0]]:
            only = torch.zeros(n, 1, d, dtype=torch.bool, device=x.device)
            only[..., f] = True
            starts.append(x[:, None])
            blos.append(torch.where(only, rows.box_lo[:, None], 0.0))
            bhis.append(torch.where(only, rows.box_hi[:, None], 0.0))
            continue
        for j in f:
            start = x[:, None].clone()
            start[..., f] = 0.0
            start[..., j] = 1.0
            starts.append(torch.where(rows.movable[:, None] > 0, start, x[:, None]))
            blos.append(torch.zeros_like(rows.box_lo[:, None]))
            bhis.append(torch.zeros_like(rows.box_hi[:, None]))
    return torch.cat(starts, 1), torch.cat(blos, 1), torch.cat(bhis, 1)


def _single_moves(rows: _Rows, best: Tensor, moves: list) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every single move from ``best``: another category of one group, or one numeric
    column set back to x (and held there). Starts, boxes and which are allowed."""
    m, x = len(moves), rows.x
    expand = lambda a: a[:, None].repeat(1, m, 1)                    # noqa: E731
    starts, blo, bhi = expand(best), expand(rows.box_lo), expand(rows.box_hi)
    allowed = torch.ones(len(x), m, dtype=torch.bool, device=x.device)
    for i, (kind, cols, j) in enumerate(moves):
        if kind == "cat":
            allowed[:, i] = (rows.movable[:, cols].sum(1) > 0) & (best[:, j] < 0.5)
            starts[:, i, cols] = 0.0
            starts[:, i, j] = 1.0
        else:
            allowed[:, i] = (best[:, j] - x[:, j]).abs() > 0
            starts[:, i, j] = x[:, j]
            blo[:, i, j] = 0.0
            bhi[:, i, j] = 0.0
    return starts, blo, bhi, allowed


def polish(obj: Objective, cf: Tensor, x: Tensor, t: Tensor, constraints: Constraints,
           movable: Tensor) -> Tensor:
    """Exact local moves from the search's points ``cf`` ``(N, D)`` of rows ``x`` with
    targets ``t`` (``movable`` ``(N, D)``: what each row may change); returns ``(N, D)``.

    Every candidate is a start point and a box for the numeric columns; :func:`_solve`
    runs :data:`LP_STEPS` sequential-LP steps from it and keeps its cheapest valid iterate
    (one that keeps the full margin beats one that does not). Candidates: the search's
    point; each feature alone from x (:func:`_first_candidates`, and the exact line search
    :func:`one_feature_points`); then, repeated while the objective falls, each single move
    from the best point so far. With ``distance="l2"`` the LP steps minimise the L1 cost,
    not the squared one, so a move is kept only where the true objective falls."""
    n, d = x.shape
    obj = replace(obj, t=t)
    numeric = ~constraints.masks(d, x.device)[2]
    box_lo, box_hi = constraints.box(x, movable)
    rows = _Rows(x, t, movable, box_lo, box_hi, *constraints.limits(x), numeric)
    cand, value = _solve(obj, rows, *_first_candidates(rows, cf, obj.feats))
    alone = rows.clip(one_feature_points(obj, x, t, box_lo, box_hi))      # (N, J, D)
    with torch.no_grad():
        value0 = _ranked(obj, rows, cf)
        value_alone = _ranked(obj, rows, alone) if alone.shape[1] else value0[:, None][:, :0]
    value = torch.cat([value0[:, None], value, value_alone], 1)
    cand = torch.cat([cf[:, None], cand, alone], 1)
    best_obj, arg = value.min(1)
    best = cand[torch.arange(n), arg]
    moves = [("cat", list(g), j) for g in constraints.categorical for j in g] + \
        [("zero", [j], j) for j in range(d) if numeric[j] and bool(movable[:, j].any())]
    for _ in range(MAX_ROUNDS if moves else 0):
        cand, value = _solve(obj, rows, *_single_moves(rows, best, moves))
        top, arg = value.min(1)
        better = top < best_obj - 1e-9 * best_obj.abs().clamp_min(1.0)
        if not better.any():
            break
        best = torch.where(better[:, None], cand[torch.arange(n), arg], best)
        best_obj = torch.where(better, top, best_obj)
    return best


def one_feature_points(obj: Objective, x: Tensor, t: Tensor, box_lo: Tensor,
                       box_hi: Tensor) -> Tensor:
    """For every row of ``x`` ``(N, D)`` and every column j that may move in some row,
    the smallest change of column j *alone* that reaches the margin (or, where none does,
    the one with the highest score): ``(N, J, D)`` (x itself where a row may not move
    j). A line search, exact up to its grid: :data:`N_GRID` points each way along
    [box_lo, box_hi] (:data:`REACH` scale units, REACH/w_j, where a side is unbounded),
    then :data:`N_BISECT` bisections of the first step that crosses the margin. On a
    curved model the sequential LP can miss a one-feature counterfactual that this finds;
    it is what an L0 price needs to see. Rows go through the model in slices of about
    4,096 points."""
    reach = REACH / obj.w
    margin = obj.margin + 1e-4 * max(obj.margin, 1.0)  # a hair past it: the polish re-scores in other batches
    lo_all = torch.maximum(box_lo, -reach).clamp_max(0.0)                   # (N, D)
    hi_all = torch.minimum(box_hi, reach).clamp_min(0.0)
    cols = ((lo_all < 0) | (hi_all > 0)).any(0).nonzero().flatten()        # (J,)
    if len(cols) == 0:                                                     # only categories move
        return x[:, None][:, :0]
    frac = torch.arange(1, N_GRID + 1, dtype=x.dtype, device=x.device) / N_GRID
    unit = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)[cols]      # (J, D)

    def one_slice(xs: Tensor, ts: Tensor, lo_: Tensor, hi_: Tensor) -> Tensor:
        def score(step: Tensor) -> Tensor:             # step (n, J, K) along each column
            points = xs[:, None, None, :] + step[..., None] * unit[None, :, None, :]
            return obj.scores(points, ts[:, None, None].expand(step.shape))
        steps = torch.cat([frac * lo_[:, cols, None], frac * hi_[:, cols, None]], -1)   # (n, J, 2G)
        s = score(steps)
        crossed = (s >= margin).any(-1)
        first = steps.abs().masked_fill(s < margin, float("inf")).argmin(-1)   # smallest crossing
        hit = steps.gather(-1, torch.where(crossed, first, s.argmax(-1))[..., None]).squeeze(-1)
        side = torch.where(hit < 0, lo_[:, cols], hi_[:, cols])              # the side's full length
        short = torch.where(crossed, hit - side / N_GRID, hit)              # the grid point before
        for _ in range(N_BISECT if bool(crossed.any()) else 0):
            mid = (short + hit) / 2
            ok = score(mid[..., None])[..., 0] >= margin
            hit, short = torch.where(crossed & ok, mid, hit), torch.where(crossed & ~ok, mid, short)
        return xs[:, None, :] + hit[..., None] * unit[None]

    with torch.no_grad():
        return batched(one_slice, x, t, lo_all, hi_all,
                       batch_size=max(1, 2 ** POINTS_LOG2 // max(1, 2 * N_GRID * len(cols))))
