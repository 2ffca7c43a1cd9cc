"""Counterfactual explanations by optimisation: the closest input the model would decide
differently (Wachter, Mittelstadt & Russell 2017), made actionable and diverse.

For a row x and a target class, minimise over x' = x + δ

    pred(x')  +  lam · dist(x, x')  +  mu · ‖δ‖₁    (+ diversity term when k > 1)

with Adam on the input. ``pred`` is a hinge on the logit margin of the target (zero once
the target wins by ``margin``); ``dist`` is L1, L2, or L1 weighted by 1/MAD per feature.
Constraints are kept by projection after every step: immutable columns never move,
one-way columns only rise (+1) or fall (−1), values stay within ``bounds``; categorical
groups are kept in [0, 1] and end as a valid one-hot. Adam on an L1 term hovers around
0 without reaching it, so the run ends with a hard threshold: changes smaller than
``zero_below`` are set to exactly 0 wherever the row stays valid (the elastic net's
lesson). Rows still invalid get their ``lam`` halved every ``adapt_every`` steps
(Wachter et al.'s adaptive weight), so the defaults reach the target without tuning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from .._batching import batched

__all__ = ["optimize", "Counterfactuals", "median_absolute_deviation", "mad",
           "predict", "check_request", "check_bounds", "check_one_way"]


@dataclass
class Counterfactuals:
    """What :func:`optimize` returns. ``x_cf`` is ``(N, D)`` (or ``(N, k, D)``), ``valid``
    says which reached the target (an invalid one is never passed off as valid),
    ``history`` the mean loss per step, ``lam`` and ``mu`` the final weights of every row
    (halved while a row was invalid), ``path`` the iterates ``(steps + 1, N, [k,] D)``
    (then the polished point) when asked for."""
    x_cf: Tensor
    valid: Tensor
    history: list[float]
    lam: Tensor
    path: Tensor | None = None
    notes: list[str] = field(default_factory=list)
    mu: Tensor | None = None

    @property
    def validity(self) -> float:
        return self.valid.float().mean().item()


def median_absolute_deviation(X: Tensor) -> Tensor:
    """Median absolute deviation of every column, ``(D,)``. A column whose MAD is 0 (a
    rare category, a near-constant column) falls back to its mean absolute deviation
    from the mean, and to 1 if that is 0 too — never a division by zero."""
    if X.dim() != 2 or len(X) == 0:
        raise _checks.BadInput(f"X must be a non-empty (n, D) tensor of training rows, got "
                               f"{tuple(X.shape)}")
    med = X.median(0).values
    m = (X - med).abs().median(0).values
    fallback = (X - X.mean(0)).abs().mean(0)
    m = torch.where(m > 0, m, fallback)
    return torch.where(m > 0, m, torch.ones_like(m))


mad = median_absolute_deviation


@torch.no_grad()
def predict(model: nn.Module, x: Tensor) -> Tensor:
    """Class predictions for ``(..., D)`` inputs."""
    _checks.module(model)
    _checks.tensor(x, "x", min_dim=1, shape_hint="(..., D)", model=model)
    return model(x.reshape(-1, x.shape[-1])).argmax(1).view(x.shape[:-1])


def check_request(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """The checks every counterfactual search makes at the door; returns the targets
    as an ``(N,)`` long tensor. Refuses a model in training mode, an ``x`` that is not a
    float ``(N, D)`` batch, a target that is not a class of the model, and rows that
    already have their target (nothing to explain)."""
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    n = len(x)
    with torch.no_grad():
        logits = model(x)
    if logits.dim() != 2:
        raise _checks.BadInput(f"the model must map (N, D) to class logits (N, C), got {tuple(logits.shape)}")
    t = _checks.targets(target, n, x.device, n_classes=logits.shape[1])
    already = (logits.argmax(1) == t).nonzero().flatten().tolist()
    if already:
        raise _checks.BadInput(f"rows {already[:10]} are already predicted as their target: nothing to "
                               "change. Pass only rows whose prediction differs from the target, or choose another "
                               "target")
    return t


def check_bounds(bounds, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``bounds=(low, high)`` (numbers or ``(D,)`` tensors) as two ``(D,)`` tensors, after
    checking they make sense for ``x`` (None, None without bounds)."""
    if bounds is None:
        return None, None
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise _checks.BadInput(f"bounds must be a pair (low, high), got {bounds!r}")
    d = x.shape[-1]
    lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device).expand(d) for b in bounds)
    if (lo > hi).any():
        raise _checks.BadInput("bounds=(low, high): some lower bound exceeds its upper bound; "
                               "swap them")
    if ((x < lo - 1e-6) | (x > hi + 1e-6)).any():
        raise _checks.BadInput("some rows of x are already outside the bounds; widen them")
    return lo, hi


def check_one_way(one_way, d: int) -> dict[int, int]:
    """``one_way`` maps a column index (of ``d``) to +1 (may only rise) or −1 (may only fall)."""
    one_way = dict(one_way or {})
    _checks.column_indices("one_way", one_way.keys(), d)
    if any(v not in (1, -1) for v in one_way.values()):
        raise _checks.BadInput(f"one_way maps a column index to +1 (may only rise) or -1 (may only "
                               f"fall), got {one_way}")
    return one_way


def feature_groups(d: int, categorical: list[list[int]] | None = None) -> list[list[int]]:
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


SPARSITY = ("l1", "l0", "group")


def soft_threshold(v: Tensor, t: Tensor | float) -> Tensor:
    """Proximal step of t·|v| (elementwise): shrink toward 0 by t, exact zeros inside."""
    return v.sign() * (v.abs() - t).clamp_min(0.0)


def hard_threshold(v: Tensor, t: Tensor | float) -> Tensor:
    """Proximal step of (t²/2)·[v ≠ 0] (elementwise): keep v if |v| > t, else exactly 0."""
    return torch.where(v.abs() > t, v, torch.zeros_like(v))


def group_soft_threshold(v: Tensor, t: Tensor | float, groups: list[list[int]]) -> Tensor:
    """Proximal step of t·Σ_g ‖v_g‖₂ (group lasso): shrink each group's norm by t, so a
    group enters or leaves as a whole. Singleton groups get the ordinary soft threshold."""
    out = v.clone()
    for g in groups:
        norm = v[..., g].norm(dim=-1, keepdim=True)
        tg = t[..., g].amax(-1, keepdim=True) if isinstance(t, Tensor) else t
        out[..., g] = v[..., g] * (1 - tg / norm.clamp_min(1e-12)).clamp_min(0.0)
    return out


def lp_step(g: Tensor, need: Tensor, cost: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """The exact minimiser of Σ_j cost_j·|δ_j| subject to g·δ ≥ need and lo ≤ δ ≤ hi
    (lo ≤ 0 ≤ hi), for every row at once. A fractional knapsack: each column can add
    |g_j| of margin per unit at price cost_j, up to its box; take the columns in order of
    cost_j / |g_j| until the margin is reached. Returns δ ``(N, D)`` and ``(N,)`` feasible."""
    useful = g != 0
    cap = torch.where(g > 0, hi, -lo).clamp_min(0.0)                  # room in the useful direction
    useful = useful & (cap > 0)
    ratio = torch.where(useful, cost / g.abs().clamp_min(1e-300), torch.full_like(g, float("inf")))
    order = ratio.argsort(1)
    g_s, cap_s, ok_s = g.gather(1, order), cap.gather(1, order), useful.gather(1, order)
    gain_s = torch.where(ok_s, g_s.abs() * cap_s, torch.zeros_like(g_s))
    before = torch.cat([torch.zeros_like(gain_s[:, :1]), gain_s.cumsum(1)[:, :-1]], 1)
    amount = ((need.clamp_min(0.0)[:, None] - before) / g_s.abs().clamp_min(1e-300))
    amount = torch.where(ok_s, torch.minimum(amount.clamp_min(0.0), cap_s), torch.zeros_like(g_s))
    delta = torch.zeros_like(g).scatter(1, order, amount * g_s.sign())
    feasible = gain_s.sum(1) >= need - 1e-9 * need.abs().clamp_min(1.0)
    return delta, feasible


# Skip the steps of ISTA that repeat a fixed point (same result; off only to test that).
_SKIP_FIXED_POINTS = True


def optimize(model: nn.Module, x: Tensor, target: int | Tensor, lam: float = 0.1, mu: float = 0.0,
             distance: str = "mad", sparsity: str = "l1", mad: Tensor | None = None,
             immutable=None, one_way: dict[int, int] | None = None, bounds: tuple | None = None,
             categorical: list[list[int]] | None = None, free: Tensor | None = None, k: int = 1,
             diversity: float = 0.0, steps: int = 300, lr: float = 0.05, margin: float = 0.5,
             adapt_every: int = 50, polish: bool = True, zero_below: float | None = None,
             record_path: bool = False, seed: int = 0) -> Counterfactuals:
    """Counterfactuals for every row of ``x`` ``(N, D)`` toward ``target`` (an int or
    ``(N,)``): minimise over δ = x' − x

        max(0, margin − s(x + δ))  +  lam · dist(δ)  +  mu · R(δ)

    where s is the target's logit minus the largest other logit, ``dist`` is L1, squared
    L2 or MAD-weighted L1 (Wachter et al. 2017), and the sparsity penalty R is

    * ``sparsity="l1"``: ‖δ‖₁ (with ``distance="l2"`` the loss is the elastic net);
    * ``sparsity="group"``: Σ_f ‖δ_f‖₂ over original features f (group lasso: a one-hot
      category enters or leaves as a whole);
    * ``sparsity="l0"``: the number of changed features (μ is the price of each).

    **Search: proximal gradient (ISTA).** A gradient step on the hinge, then the proximal
    step of the non-smooth rest (soft threshold for the L1 parts, elastic-net shrinkage
    for L2, group soft threshold, hard threshold for L0 — closed forms), then projection
    on the constraints: immutable columns, ``one_way`` (+1 may only rise, −1 only fall),
    ``bounds``, one-hot groups in [0, 1]; ``free`` ``(N, D)`` bool optionally limits the
    columns each row may change. The step of row i is ``lr / max_j |∂s/∂x_j|`` at x_i
    (the most sensitive column moves about ``lr`` per step), so thresholds are
    scale-free: column j moves only while |∂s/∂x_j| > lam·w_j + mu. Rows still invalid
    have lam and mu halved every ``adapt_every`` steps (Wachter et al.'s adaptive weight).
    Categories are then rounded to a valid one-hot and the other columns re-optimised.

    **Polish (``polish=True``, k = 1): exact local moves.** (Its exact steps are for L1
    costs; with ``distance="l2"`` it only rescues rows the search left invalid.) Adam or
    ISTA on an L1 term hovers near the sparse optimum without landing on it. The polish
    solves the linearised problem exactly — min Σ cost_j|δ_j| s.t. the linearised margin
    ≥ ``margin`` within the box, a fractional knapsack (:func:`lp_step`) — a few times
    from the current point (sequential linear programming), then tries, for every row
    at once, each single move of a feature: another category of a group, or a numeric
    column set back to 0 (re-solving the rest), keeping a move when the row stays valid
    and the objective lam·dist + mu·R falls. On a linear model the first step is the
    linear-programming optimum (:func:`~xaitutor.counterfactuals.lp_counterfactual`).

    ``k > 1`` returns k counterfactuals per row; ``diversity > 0`` adds DiCE's DPP term
    −diversity · det(K), K_ab = 1 / (1 + dist(c_a, c_b)) (Mothilal, Sharma & Tan 2020)
    (no polish then: it would merge them). Changes smaller than ``zero_below`` (default
    2·lr) end as exact zeros where the row keeps the margin it reached.
    """
    t = check_request(model, x, target)
    n, d = x.shape
    _checks.choice(distance, "distance", ("l1", "l2", "mad"))
    _checks.choice(sparsity, "sparsity", SPARSITY)
    _checks.positive_int(k, "k")
    _checks.positive_int(steps, "steps")
    _checks.positive_int(adapt_every, "adapt_every", minimum=0)
    for name, value in (("lam", lam), ("mu", mu), ("diversity", diversity), ("margin", margin)):
        _checks.non_negative(value, name)
    _checks.positive(lr, "lr")
    frozen = _checks.column_indices("immutable", immutable, d)
    if len(set(frozen)) == d:
        raise _checks.BadInput("every feature is immutable: no counterfactual can exist; free at "
                               "least one feature")
    one_way = check_one_way(one_way, d)
    groups = [list(g) for g in (categorical or [])]
    for g in groups:
        _checks.column_indices("categorical", g, d)
    feats = feature_groups(d, groups)
    if distance == "mad":
        scale = mad.to(x) if mad is not None else median_absolute_deviation(x)
        if scale.shape != (d,):
            raise _checks.BadInput(f"mad must have shape ({d},) (one scale per column), got "
                                   f"{tuple(scale.shape)}; compute it with counterfactuals.mad(X_train)")
        w = 1.0 / scale
    else:
        w = torch.ones(d, dtype=x.dtype, device=x.device)
    lo, hi = check_bounds(bounds, x)
    movable = torch.ones(n, d, dtype=x.dtype, device=x.device)
    movable[:, frozen] = 0.0
    if free is not None:
        if not isinstance(free, Tensor) or free.shape != (n, d):
            raise _checks.BadInput(f"free must be a bool tensor of shape ({n}, {d}) (the columns each "
                                   f"row may change), got {getattr(free, 'shape', type(free).__name__)}")
        movable = movable * free.to(x.device, x.dtype)
        if (movable.sum(1) == 0).any():
            raise _checks.BadInput("free leaves some row no column it may change; allow at least one")
    movable = movable[:, None]                                          # (N, 1, D)

    x0 = x[:, None].expand(n, k, d)                                   # (N, k, D)
    gen = torch.Generator().manual_seed(_checks.seed(seed))
    init = 0.01 * torch.randn(n, k, d, generator=gen, dtype=x.dtype).to(x.device) if k > 1 else \
        torch.zeros(n, k, d, dtype=x.dtype, device=x.device)
    delta = (init * movable).detach()
    lam_row = torch.full((n,), float(lam), dtype=x.dtype, device=x.device)
    mu_row = torch.full((n,), float(mu), dtype=x.dtype, device=x.device)
    tk = t[:, None].expand(n, k)
    history, path = [], ([] if record_path else None)

    def column_mask(columns) -> Tensor:
        mask = torch.zeros(d, dtype=torch.bool, device=x.device)
        mask[list(columns)] = True
        return mask

    rises = column_mask(j for j, v in one_way.items() if v > 0)
    falls = column_mask(j for j, v in one_way.items() if v < 0)
    in_group = column_mask(j for g in groups for j in g)

    def project(cf: Tensor, base: Tensor) -> Tensor:
        """Keep every constraint that can be kept exactly, by projection."""
        cf = base + (cf - base) * movable                              # immutable / not free
        cf = torch.where(rises, torch.maximum(cf, base), cf)           # one-way up
        cf = torch.where(falls, torch.minimum(cf, base), cf)           # one-way down
        if lo is not None:
            cf = torch.maximum(torch.minimum(cf, hi), lo)              # bounds
        return torch.where(in_group, cf.clamp(0.0, 1.0), cf)           # categories in [0, 1]

    n_classes = _checks.n_outputs(model, x)

    def scores(cf: Tensor, targets: Tensor = tk) -> Tensor:
        """s = z_target − max_other z, any leading shape ``(..., D)`` matching ``targets``."""
        z = model(cf.reshape(-1, d)).view(*cf.shape[:-1], -1)
        z_t = z.gather(-1, targets[..., None]).squeeze(-1)
        others = z.masked_fill(F.one_hot(targets, n_classes).bool(), float("-inf"))
        return z_t - others.amax(-1)                                   # > 0: the target wins

    def dist(a: Tensor, b: Tensor) -> Tensor:
        diff = (a - b) * w
        return (diff ** 2).sum(-1) if distance == "l2" else diff.abs().sum(-1)

    def score_and_grad(cf: Tensor, targets: Tensor = tk) -> tuple[Tensor, Tensor]:
        cf = cf.detach().requires_grad_(True)
        s = scores(cf, targets)
        (g,) = torch.autograd.grad(s.sum(), cf)
        return s.detach(), g

    # the step of every row: lr / (largest input gradient of s at x)
    _, g0 = score_and_grad(x0.clone())
    g_max = (g0 * movable).abs().amax(-1, keepdim=True)              # (N, k, 1)
    eta = lr / g_max.clamp_min(1e-3 * g_max.max().item() + 1e-12)

    def prox(v: Tensor, columns: Tensor) -> Tensor:
        """Proximal step of η·(lam·dist + mu·R) at v, then the constraints."""
        lam_, mu_ = lam_row[:, None, None], mu_row[:, None, None]
        l1 = lam_ * w * (distance != "l2") + mu_ * (sparsity == "l1")
        out = soft_threshold(v, eta * l1)
        if distance == "l2":
            out = out / (1 + 2 * eta * lam_ * w ** 2)                  # elastic-net shrinkage
        if sparsity == "group":
            out = group_soft_threshold(out, (eta * mu_).expand_as(out), feats)
        elif sparsity == "l0":
            # hard threshold, on rows that reach the target (from δ = 0 it would be a
            # barrier no single step can cross: the polish prices features exactly)
            keep = torch.ones_like(out, dtype=torch.bool)
            for f in feats:
                keep[..., f] = (out[..., f] ** 2).sum(-1, keepdim=True) > 2 * eta * mu_
            with torch.no_grad():
                reached = (scores(project(x0 + out, x0)) > 0)[..., None]
            out = torch.where(keep | ~reached, out, torch.zeros_like(out))
        out = torch.where(columns, out, v)
        return project(x0 + out, x0) - x0

    def run(n_steps: int, columns: Tensor) -> None:
        """ISTA on δ for ``n_steps``: only ``columns`` move. The map δ ↦ prox(δ − η∇) is
        deterministic, so once an iterate repeats exactly (a fixed point: every move is
        thresholded away), every step up to the next λ adaptation repeats it too: those
        steps are skipped (their history and path entries copied), which gives the same
        result as running them, faster."""
        nonlocal delta
        step = 0
        while step < n_steps:
            cf = (x0 + delta).requires_grad_(True)
            s = scores(cf)
            hinge = F.relu(margin - s)                                 # (N, k)
            loss = hinge
            if k > 1 and diversity > 0:
                pair = dist(cf[:, :, None], cf[:, None])               # (N, k, k)
                loss = loss - diversity * torch.linalg.det(1.0 / (1.0 + pair))[:, None] / k
            (grad,) = torch.autograd.grad(loss.sum(), cf)
            with torch.no_grad():
                before, delta = delta, prox(torch.where(columns, delta - eta * grad, delta), columns)
                if path is not None:
                    path.append((x0 + delta).clone())
                history.append((hinge + lam_row[:, None] * dist(x0 + delta, x0)).mean().item())
                step += 1
                if _SKIP_FIXED_POINTS and torch.equal(delta, before):      # a fixed point
                    until = n_steps
                    if adapt_every and not (scores(x0 + delta) > 0).all():
                        until = min(until, -(-step // adapt_every) * adapt_every)  # next adaptation
                    if path is not None:
                        path.extend(path[-1:] * (until - step))
                    history.extend(history[-1:] * (until - step))
                    step = until
                if adapt_every and step % adapt_every == 0:
                    invalid_rows = ~(scores(x0 + delta) > 0).all(1)
                    lam_row[invalid_rows] /= 2                          # Wachter: push harder
                    mu_row[invalid_rows] /= 2

    all_columns = torch.ones(d, dtype=torch.bool, device=x.device)
    run(steps, all_columns)
    if groups:
        # round every category to a valid one-hot, then let the other columns make up
        # for what the rounding lost
        with torch.no_grad():
            soft = x0 + delta
            rounded, switched = soft.clone(), soft.clone()
            for g in groups:
                vals = soft[..., g]
                rounded[..., g] = F.one_hot(vals.argmax(-1), len(g)).to(x.dtype)
                # where the optimiser started to move mass to another category, take it
                moved = vals.masked_fill(x0[..., g] > 0.5, float("-inf"))
                pick = torch.where(moved.amax(-1) > 0.1, moved.argmax(-1), vals.argmax(-1))
                switched[..., g] = F.one_hot(pick, len(g)).to(x.dtype)
            use_switch = (scores(switched) > scores(rounded))[..., None]
            delta = torch.where(use_switch, switched, rounded) - x0
        run(max(steps // 2, 1), ~in_group)

    with torch.no_grad():
        cf = project(x0 + delta, x0)           # project the sum itself: bounds hold exactly
    notes = []
    if polish and k == 1 and (lam > 0 or mu > 0):
        rows = torch.arange(n, device=x.device)
        if distance == "l2":                                           # rescue invalid rows only
            with torch.no_grad():
                rows = (scores(cf)[:, 0] <= 0).nonzero().flatten()
        if len(rows):
            cf = cf.clone()
            cf[rows, 0] = _polish(cf[rows, 0], x[rows], t[rows], w, lam, mu, distance, sparsity,
                                  feats, groups, movable[rows, 0], rises, falls, lo, hi, margin,
                                  score_and_grad, scores)
        if path is not None:
            path.append(cf.clone())
    with torch.no_grad():
        valid = scores(cf) > 0
        threshold = 2 * lr if zero_below is None else zero_below
        if threshold > 0:                  # exact zeros, where the margin reached is not lost
            small = ((cf - x0).abs() < threshold) & ~in_group
            sparse = torch.where(small, x0, cf)
            reached = scores(cf)
            keep = (scores(sparse) >= torch.minimum(reached, torch.full_like(reached, margin))) | ~valid
            cf = torch.where(keep[..., None], sparse, cf)
            valid = scores(cf) > 0
    if path is not None:
        path = torch.stack([x0.detach().clone(), *path])
        path = path[:, :, 0] if k == 1 else path
    squeeze = (lambda a: a[:, 0]) if k == 1 else (lambda a: a)
    if not valid.all():
        notes.append(f"{int((~valid).sum())} counterfactual(s) did not reach the target (marked "
                     "invalid): more steps, a smaller lam or mu, or fewer constraints may help")
    return Counterfactuals(squeeze(cf.detach()), squeeze(valid), history, lam_row, path, notes,
                           mu=mu_row)


def penalty(x: Tensor, x_cf: Tensor, w: Tensor, lam: float, mu: float, distance: str,
            sparsity: str, feats: list[list[int]], tol: float = 1e-9) -> Tensor:
    """lam · dist(δ) + mu · R(δ), the objective the polish compares (``(N,)``):
    dist = Σ_j w_j|δ_j| (L1, MAD) or Σ_j (w_j δ_j)² (L2)."""
    delta = x_cf - x
    value = lam * ((delta * w) ** 2 if distance == "l2" else delta.abs() * w).sum(-1)
    if sparsity == "l1":
        value = value + mu * delta.abs().sum(-1)
    elif sparsity == "group":
        value = value + mu * sum(delta[..., f].norm(dim=-1) for f in feats)
    else:
        value = value + mu * sum((delta[..., f].abs() > tol).any(-1).to(x.dtype) for f in feats)
    return value


def _polish(cf, x, t, w, lam, mu, distance, sparsity, feats, groups, movable, rises, falls, lo, hi,
            margin, score_and_grad, scores, lp_steps: int = 3, max_rounds: int = 10) -> Tensor:
    """Exact local moves from the search's result (see :func:`optimize`); ``(N, D)``.

    Every candidate is a start point and a box for the numeric columns; ``solve`` runs
    ``lp_steps`` sequential-LP steps from it (exact on a linear model after one) and keeps
    its cheapest valid iterate (one that keeps the full margin beats one that does not).
    Candidates: the search's point itself; each feature alone
    from x (one numeric column, or one category); and, repeated while the objective
    falls, each single move from the best point so far (another category of one group,
    or one numeric column set back to 0). With ``distance="l2"`` the LP steps minimise
    the L1 cost, not the squared one, so a move is kept only where the true objective
    falls: the polish never makes a counterfactual worse by its own measure."""
    n, d = x.shape
    inf = float("inf")

    def scores_of(c: Tensor) -> Tensor:                                # rows (N, ..., D)
        return scores(c, t.view(n, *[1] * (c.dim() - 2)).expand(c.shape[:-1]))

    def objective(c: Tensor) -> Tensor:                                # rows (N, ..., D)
        return penalty(x.view(n, *[1] * (c.dim() - 2), d), c, w, lam, mu, distance, sparsity, feats)

    def ranked(c: Tensor, rows: Tensor | None = None) -> Tensor:
        """The objective of valid candidates ``c`` (rows of x, or ``(K, D)`` points of
        ``rows``), those that keep the full margin first (a point just past the boundary
        is cheaper, but not the same problem); inf if invalid."""
        if rows is None:
            s = scores_of(c)
            value = objective(c)
        else:
            s = scores(c, t[rows])
            value = penalty(x[rows], c, w, lam, mu, distance, sparsity, feats)
        short = s < margin - 1e-6 * max(margin, 1.0)
        value = value + torch.where(short, 1e6 * (1 + (margin - s)), torch.zeros_like(s))
        return torch.where(s > 0, value, torch.full_like(value, inf))

    numeric = torch.ones(d, dtype=torch.bool, device=x.device)
    for g in groups:
        numeric[g] = False
    # the box of δ for the numeric columns: immutable, one-way, bounds
    box_lo = torch.full((n, d), -inf, dtype=x.dtype, device=x.device)
    box_hi = torch.full((n, d), inf, dtype=x.dtype, device=x.device)
    if lo is not None:
        box_lo, box_hi = (lo - x).clamp_max(0.0), (hi - x).clamp_min(0.0)
    box_lo = torch.where(rises, torch.zeros_like(box_lo), box_lo)
    box_hi = torch.where(falls, torch.zeros_like(box_hi), box_hi)
    fixed = (movable == 0) | ~numeric
    box_lo, box_hi = box_lo.masked_fill(fixed, 0.0), box_hi.masked_fill(fixed, 0.0)
    cost = (lam * w + mu * (sparsity != "l0")).expand(n, d)           # per unit of each column

    def solve(start: Tensor, blo: Tensor, bhi: Tensor,
              allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Candidates ``(N, M, D)`` (only the ``allowed`` ones are computed): sequential
        LP on the numeric columns from ``start`` (categories kept); returns the cheapest
        valid iterate of each and its ranked objective (inf if none)."""
        m = start.shape[1]
        best = start.clone()
        best_obj = torch.full((n, m), inf, dtype=x.dtype, device=x.device)
        rows, which = (torch.ones(n, m, dtype=torch.bool, device=x.device) if allowed is None
                       else allowed).nonzero(as_tuple=True)
        if len(rows) == 0:
            return best, best_obj
        point, lo_, hi_ = start[rows, which], blo[rows, which], bhi[rows, which]
        xr, tr = x[rows], t[rows]
        found, found_obj = point.clone(), torch.full((len(rows),), inf, dtype=x.dtype, device=x.device)
        for _ in range(lp_steps):
            s, g = score_and_grad(point, tr)
            g = g * numeric
            need = margin - s + (g * (point - xr)).sum(1)
            step, feasible = lp_step(g, need, cost[rows], lo_, hi_)
            cand = torch.where(numeric, xr + step, point)
            if lo is not None:                                         # x + (hi − x) may round past hi
                cand = torch.maximum(torch.minimum(cand, hi), lo)
            with torch.no_grad():
                obj = torch.where(feasible, ranked(cand, rows), torch.full_like(found_obj, inf))
            better = obj < found_obj
            found = torch.where(better[:, None], cand, found)
            found_obj = torch.where(better, obj, found_obj)
            point = cand
        best[rows, which] = found
        best_obj[rows, which] = found_obj
        return best, best_obj

    def expand(a: Tensor, m: int) -> Tensor:
        return a[:, None].repeat(1, m, 1)

    # the search's point, and every feature alone from x
    starts, blos, bhis = [cf[:, None]], [box_lo[:, None]], [box_hi[:, None]]
    for f in feats:
        if not bool(movable[:, f].any()):
            continue
        if numeric[f[0]]:
            only = torch.zeros(n, 1, d, dtype=torch.bool, device=x.device)
            only[..., f] = True
            starts.append(x[:, None])
            blos.append(torch.where(only, box_lo[:, None], 0.0))
            bhis.append(torch.where(only, box_hi[:, None], 0.0))
        else:
            for j in f:
                start = x[:, None].clone()
                start[..., f] = 0.0
                start[..., j] = 1.0
                start = torch.where(movable[:, None] > 0, start, x[:, None])
                starts.append(start)
                blos.append(torch.zeros_like(box_lo[:, None]))
                bhis.append(torch.zeros_like(box_hi[:, None]))
    cand, obj = solve(torch.cat(starts, 1), torch.cat(blos, 1), torch.cat(bhis, 1))
    alone = _one_feature_points(x, t, scores, box_lo, box_hi, margin, w)    # (N, J, D)
    if lo is not None:                                                 # x + (hi − x) may round past hi
        alone = torch.maximum(torch.minimum(alone, hi), lo)
    with torch.no_grad():
        obj0 = ranked(cf)
        obj_alone = ranked(alone) if alone.shape[1] else obj0[:, None][:, :0]
    obj = torch.cat([obj0[:, None], obj, obj_alone], 1)
    cand = torch.cat([cf[:, None], cand, alone], 1)
    best_obj, arg = obj.min(1)
    best = cand[torch.arange(n), arg]

    # single moves from the best point, while the objective falls
    moves = [("cat", g, j) for g in groups for j in g] + \
        [("zero", [j], j) for j in range(d) if numeric[j] and bool(movable[:, j].any())]
    m = len(moves)
    for _ in range(max_rounds if m else 0):
        starts, blo, bhi = expand(best, m), expand(box_lo, m), expand(box_hi, m)
        allowed = torch.ones(n, m, dtype=torch.bool, device=x.device)
        for i, (kind, cols, j) in enumerate(moves):
            if kind == "cat":
                allowed[:, i] = (movable[:, cols].sum(1) > 0) & (best[:, j] < 0.5)
                starts[:, i, cols] = 0.0
                starts[:, i, j] = 1.0
            else:
                allowed[:, i] = (best[:, j] - x[:, j]).abs() > 0
                starts[:, i, j] = x[:, j]
                blo[:, i, j] = 0.0
                bhi[:, i, j] = 0.0
        cand, obj = solve(starts, blo, bhi, allowed)
        top, arg = obj.min(1)
        better = top < best_obj - 1e-9 * best_obj.abs().clamp_min(1.0)
        if not better.any():
            break
        best = torch.where(better[:, None], cand[torch.arange(n), arg], best)
        best_obj = torch.where(better, top, best_obj)
    return best


def _one_feature_points(x: Tensor, t: Tensor, scores, box_lo: Tensor, box_hi: Tensor,
                        margin: float, w: Tensor, n_grid: int = 24, n_bisect: int = 12) -> Tensor:
    """For every row of ``x`` ``(N, D)`` and every column j that may move in some row,
    the smallest change of column j *alone* that reaches ``margin`` (or, where none does,
    the one with the highest score): ``(N, J, D)`` (x itself where a row may not move
    j). A line search, exact up to its grid: ``n_grid`` points each way along
    [box_lo, box_hi] (ten scale units, 10/w_j, where a side is unbounded), then
    ``n_bisect`` bisections of the first step that crosses the margin. On a curved model
    the sequential LP can miss a one-feature counterfactual that this finds; it is what
    an L0 price needs to see. Rows go through the model in slices of about 4,096 points."""
    reach = 10.0 / w
    margin = margin + 1e-4 * max(margin, 1.0)     # a hair past it: the polish re-scores in other batches
    lo_all = torch.maximum(box_lo, -reach).clamp_max(0.0)                   # (N, D)
    hi_all = torch.minimum(box_hi, reach).clamp_min(0.0)
    cols = ((lo_all < 0) | (hi_all > 0)).any(0).nonzero().flatten()        # (J,)
    if len(cols) == 0:                                                     # only categories move
        return x[:, None][:, :0]
    frac = torch.arange(1, n_grid + 1, dtype=x.dtype, device=x.device) / n_grid
    unit = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)[cols]      # (J, D)

    def one_slice(xs: Tensor, ts: Tensor, lo_: Tensor, hi_: Tensor) -> Tensor:
        def score(step: Tensor) -> Tensor:             # step (n, J, K) along each column
            points = xs[:, None, None, :] + step[..., None] * unit[None, :, None, :]
            return scores(points, ts[:, None, None].expand(step.shape))
        steps = torch.cat([frac * lo_[:, cols, None], frac * hi_[:, cols, None]], -1)   # (n, J, 2G)
        s = score(steps)
        crossed = (s >= margin).any(-1)
        first = steps.abs().masked_fill(s < margin, float("inf")).argmin(-1)   # smallest crossing
        hit = steps.gather(-1, torch.where(crossed, first, s.argmax(-1))[..., None]).squeeze(-1)
        side = torch.where(hit < 0, lo_[:, cols], hi_[:, cols])              # the side's full length
        short = torch.where(crossed, hit - side / n_grid, hit)              # the grid point before
        for _ in range(n_bisect if bool(crossed.any()) else 0):
            mid = (short + hit) / 2
            ok = score(mid[..., None])[..., 0] >= margin
            hit, short = torch.where(crossed & ok, mid, hit), torch.where(crossed & ~ok, mid, short)
        return xs[:, None, :] + hit[..., None] * unit[None]

    with torch.no_grad():
        return batched(one_slice, x, t, lo_all, hi_all,
                       batch_size=max(1, 2 ** 12 // max(1, 2 * n_grid * len(cols))))


def sparsity_path(model: nn.Module, x: Tensor, target: int | Tensor, mus, **kwargs) -> list[Counterfactuals]:
    """Counterfactuals along a path of μ values (ascending), in the spirit of
    scikit-learn's ``lasso_path``; each μ is also kept to the previous solution's support
    (a feature may leave, never enter), so the number of changed features of a valid row
    can only fall — by construction, so compare with independent :func:`optimize` runs.
    ``kwargs`` go to :func:`optimize` (``sparsity="l0"`` makes μ the price of a feature)."""
    mus = [float(m) for m in mus]
    if not mus or any(b < a for a, b in zip(mus, mus[1:])):
        raise _checks.BadInput(f"mus must be a non-empty ascending sequence, got {mus}")
    if "free" in kwargs:
        raise _checks.BadInput("sparsity_path sets free itself (the previous support); pass "
                               "immutable instead")
    out, free = [], None
    for mu in mus:
        r = optimize(model, x, target, mu=mu, free=free, **kwargs)
        moved = (r.x_cf - x).abs() > 0
        # rows that did not reach the target keep their previous freedom
        free = torch.where(r.valid[:, None], moved, torch.ones_like(moved) if free is None else free)
        free = torch.where(free.sum(1, keepdim=True) > 0, free, torch.ones_like(free))
        out.append(r)
    return out
