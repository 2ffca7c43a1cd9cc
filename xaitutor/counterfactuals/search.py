"""Counterfactual explanations by optimisation: the closest input the model would decide
differently (Wachter, Mittelstadt & Russell 2017), made sparse, actionable and diverse.

:func:`optimize` is a short composition of named steps:

1. **the set-up** — the door checks, the :class:`~xaitutor.constraints.Constraints`, the
   :class:`~.objective.Objective` (hinge on the target's logit margin + lam·dist + mu·R);
2. **the search** (:class:`_Ista`) — proximal gradient steps (ISTA): a gradient step on
   the hinge, the proximal step of the rest in closed form (:mod:`.proximal`), the
   projection on the constraints; rows still invalid get lam and mu halved every
   ``adapt_every`` steps (Wachter et al.'s adaptive weight); categories are then rounded
   to a valid one-hot and the other columns re-optimised;
3. **the polish** (:func:`.polish.polish`) — exact local moves by sequential linear
   programming, kept only where the objective falls;
4. **exact zeros** — changes smaller than ``zero_below`` set to 0 where the row keeps the
   margin it reached.

:class:`Search` holds the knobs of steps 2–4; every other number is named where it is used.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ..constraints import Constraints, feature_groups
from .objective import DISTANCES, SPARSITY, Objective
from .polish import polish as polish_rows
from .proximal import group_soft_threshold, soft_threshold

__all__ = ["optimize", "Search", "Counterfactuals", "median_absolute_deviation", "mad",
           "predict", "check_request", "feature_groups", "sparsity_path"]

INIT_SCALE = 0.01       # k > 1: the k points start this far (random, seeded) from x, so they can part
STEP_FLOOR = 1e-3       # a row's gradient counts as at least this share of the batch's largest
SWITCH_SHARE = 0.1      # rounding a category: take another one once it holds this much mass
ZERO_BELOW_LR = 2       # default zero_below: changes under 2·lr end as exact zeros


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


@dataclass(frozen=True)
class Search:
    """How :func:`optimize` (and :func:`xaitutor.latent.counterfactual`) search: ``steps``
    of size ``lr`` (the most sensitive column moves about ``lr`` per step), aiming for a
    ``margin`` of the target's logit over every other; lam and mu halved every
    ``adapt_every`` steps for rows still invalid (0: never); the exact ``polish``; changes
    below ``zero_below`` (default 2·lr) ending as exact zeros; the iterates kept when
    ``record_path``; the ``seed`` of every random start. Checked when made."""
    steps: int = 300
    lr: float = 0.05
    margin: float = 0.5
    adapt_every: int = 50
    polish: bool = True
    zero_below: float | None = None
    record_path: bool = False
    seed: int = 0

    def __post_init__(self):
        _checks.positive_int(self.steps, "steps")
        _checks.positive_int(self.adapt_every, "adapt_every", minimum=0)
        _checks.positive(self.lr, "lr")
        _checks.non_negative(self.margin, "margin")
        _checks.seed(self.seed)
        if self.zero_below is not None:
            _checks.non_negative(self.zero_below, "zero_below")
        for name in ("polish", "record_path"):
            if not isinstance(getattr(self, name), bool):
                raise _checks.BadInputType(f"{name} must be True or False, got {getattr(self, name)!r}")

    @classmethod
    def of(cls, search) -> Search:
        """``search`` itself, or the defaults for None; anything else is refused."""
        return _checks.settings(search, cls, "search", "counterfactuals.Search(steps=500, lr=0.02)")


# Skip the steps of ISTA that repeat a fixed point (same result; off only to test that).
_SKIP_FIXED_POINTS = True


class _Ista:
    """The search: δ ``(N, k, D)`` for every row and each of its k points, moved by
    proximal gradient steps of size η (per row) and kept feasible by projection."""

    def __init__(self, obj: Objective, x: Tensor, rules: Constraints, movable: Tensor,
                 search: Search, k: int, diversity: float):
        n, d = x.shape
        self.obj, self.rules, self.movable, self.search = obj, rules, movable, search
        self.k, self.diversity = k, diversity
        self.x0 = x[:, None].expand(n, k, d)                          # (N, k, D)
        gen = torch.Generator().manual_seed(search.seed)
        init = INIT_SCALE * torch.randn(n, k, d, generator=gen, dtype=x.dtype).to(x.device) if k > 1 \
            else torch.zeros(n, k, d, dtype=x.dtype, device=x.device)
        self.delta = (init * movable).detach()
        self.lam_row = torch.full((n,), float(obj.lam), dtype=x.dtype, device=x.device)
        self.mu_row = torch.full((n,), float(obj.mu), dtype=x.dtype, device=x.device)
        self.history: list[float] = []
        self.path = [] if search.record_path else None
        self.in_group = rules.masks(d, x.device)[2]
        # the step of every row: lr / (largest input gradient of s at x)
        _, g0 = obj.score_and_grad(self.x0.clone())
        g_max = (g0 * movable).abs().amax(-1, keepdim=True)            # (N, k, 1)
        self.eta = search.lr / g_max.clamp_min(STEP_FLOOR * g_max.max().item() + 1e-12)

    def project(self, cf: Tensor) -> Tensor:
        return self.rules.project(cf, self.x0, self.movable)

    def valid(self) -> Tensor:
        return self.obj.scores(self.x0 + self.delta) > 0

    def prox(self, v: Tensor, columns: Tensor) -> Tensor:
        """Proximal step of η·(lam·dist + mu·R) at v, then the constraints."""
        obj, eta = self.obj, self.eta
        lam_, mu_ = self.lam_row[:, None, None], self.mu_row[:, None, None]
        l1 = lam_ * obj.w * (obj.distance != "l2") + mu_ * (obj.sparsity == "l1")
        out = soft_threshold(v, eta * l1)
        if obj.distance == "l2":
            out = out / (1 + 2 * eta * lam_ * obj.w ** 2)              # elastic-net shrinkage
        if obj.sparsity == "group":
            out = group_soft_threshold(out, (eta * mu_).expand_as(out), obj.feats)
        elif obj.sparsity == "l0":
            # hard threshold, on rows that reach the target (from δ = 0 it would be a
            # barrier no single step can cross: the polish prices features exactly)
            keep = torch.ones_like(out, dtype=torch.bool)
            for f in obj.feats:
                keep[..., f] = (out[..., f] ** 2).sum(-1, keepdim=True) > 2 * eta * mu_
            with torch.no_grad():
                reached = (obj.scores(self.project(self.x0 + out)) > 0)[..., None]
            out = torch.where(keep | ~reached, out, torch.zeros_like(out))
        out = torch.where(columns, out, v)
        return self.project(self.x0 + out) - self.x0

    def step(self, columns: Tensor) -> bool:
        """One ISTA step on the ``columns``; True at a fixed point (δ did not change)."""
        cf = (self.x0 + self.delta).requires_grad_(True)
        hinge = F.relu(self.search.margin - self.obj.scores(cf))        # (N, k)
        loss = hinge
        if self.k > 1 and self.diversity > 0:
            pair = self.obj.dist(cf[:, :, None], cf[:, None])          # (N, k, k)
            loss = loss - self.diversity * torch.linalg.det(1.0 / (1.0 + pair))[:, None] / self.k
        (grad,) = torch.autograd.grad(loss.sum(), cf)
        with torch.no_grad():
            before = self.delta
            self.delta = self.prox(torch.where(columns, before - self.eta * grad, before), columns)
            if self.path is not None:
                self.path.append((self.x0 + self.delta).clone())
            self.history.append((hinge + self.lam_row[:, None] * self.obj.dist(self.x0 + self.delta, self.x0))
                                .mean().item())
        return torch.equal(self.delta, before)

    def run(self, n_steps: int, columns: Tensor) -> None:
        """ISTA for ``n_steps``: only ``columns`` move. The map δ ↦ prox(δ − η∇) is
        deterministic, so once an iterate repeats exactly (a fixed point: every move is
        thresholded away), every step up to the next λ adaptation repeats it too: those
        steps are skipped (their history and path entries copied), which gives the same
        result as running them, faster."""
        every, step = self.search.adapt_every, 0
        while step < n_steps:
            fixed = self.step(columns)
            step += 1
            with torch.no_grad():
                if _SKIP_FIXED_POINTS and fixed:
                    until = n_steps
                    if every and not self.valid().all():
                        until = min(until, -(-step // every) * every)   # the next adaptation
                    if self.path is not None:
                        self.path.extend(self.path[-1:] * (until - step))
                    self.history.extend(self.history[-1:] * (until - step))
                    step = until
                if every and step % every == 0:
                    invalid_rows = ~self.valid().all(1)
                    self.lam_row[invalid_rows] /= 2                     # Wachter: push harder
                    self.mu_row[invalid_rows] /= 2

    @torch.no_grad()
    def round_categories(self) -> None:
        """Every category to a valid one-hot: the largest value, or another category where
        the search started to move mass to it (:data:`SWITCH_SHARE`), whichever scores higher."""
        soft = self.x0 + self.delta
        rounded, switched = soft.clone(), soft.clone()
        for g in self.rules.categorical:
            g = list(g)
            vals = soft[..., g]
            rounded[..., g] = F.one_hot(vals.argmax(-1), len(g)).to(soft.dtype)
            moved = vals.masked_fill(self.x0[..., g] > 0.5, float("-inf"))
            pick = torch.where(moved.amax(-1) > SWITCH_SHARE, moved.argmax(-1), vals.argmax(-1))
            switched[..., g] = F.one_hot(pick, len(g)).to(soft.dtype)
        use_switch = (self.obj.scores(switched) > self.obj.scores(rounded))[..., None]
        self.delta = torch.where(use_switch, switched, rounded) - self.x0

    def result(self) -> Tensor:
        """The points, projected as a whole (so the bounds hold exactly), ``(N, k, D)``."""
        with torch.no_grad():
            return self.project(self.x0 + self.delta)


def _objective(model: nn.Module, x: Tensor, t: Tensor, lam: float, mu: float, distance: str,
               sparsity: str, mad: Tensor | None, margin: float, rules: Constraints) -> Objective:
    """The door checks of the objective's knobs, and the objective."""
    d = x.shape[1]
    _checks.choice(distance, "distance", DISTANCES)
    _checks.choice(sparsity, "sparsity", SPARSITY)
    for name, value in (("lam", lam), ("mu", mu)):
        _checks.non_negative(value, name)
    if distance == "mad":
        scale = mad.to(x) if isinstance(mad, Tensor) else median_absolute_deviation(x)
        if mad is not None and (not isinstance(mad, Tensor) or scale.shape != (d,)):
            raise _checks.BadInput(f"mad must have shape ({d},) (one scale per column), got "
                                   f"{tuple(getattr(mad, 'shape', ()))}; compute it with "
                                   "counterfactuals.mad(X_train)")
        w = 1.0 / scale
    else:
        w = torch.ones(d, dtype=x.dtype, device=x.device)
    return Objective(model, t, w, float(lam), float(mu), distance, sparsity, float(margin),
                     rules.features(d), _checks.n_outputs(model, x))


@torch.no_grad()
def _exact_zeros(obj: Objective, cf: Tensor, x0: Tensor, in_group: Tensor,
                 threshold: float) -> Tensor:
    """Changes smaller than ``threshold`` set to exactly 0 where the row keeps the margin
    it reached (or was invalid anyway)."""
    small = ((cf - x0).abs() < threshold) & ~in_group
    sparse = torch.where(small, x0, cf)
    reached = obj.scores(cf)
    keep = (obj.scores(sparse) >= torch.minimum(reached, torch.full_like(reached, obj.margin))) \
        | ~(reached > 0)
    return torch.where(keep[..., None], sparse, cf)


def optimize(model: nn.Module, x: Tensor, target: int | Tensor, lam: float = 0.1, mu: float = 0.0,
             distance: str = "mad", sparsity: str = "l1", mad: Tensor | None = None,
             constraints: Constraints | None = None, k: int = 1, diversity: float = 0.0,
             search: Search | None = None) -> Counterfactuals:
    """Counterfactuals for every row of ``x`` ``(N, D)`` toward ``target`` (an int or
    ``(N,)``): minimise over δ = x' − x

        max(0, margin − s(x + δ))  +  lam · dist(δ)  +  mu · R(δ)

    where s is the target's logit minus the largest other logit, ``dist`` is L1, squared
    L2 or MAD-weighted L1 (Wachter et al. 2017; ``mad`` the per-column scales, by default
    of ``x`` itself — pass ``mad(X_train)``), and the sparsity penalty R is

    * ``sparsity="l1"``: ‖δ‖₁ (with ``distance="l2"`` the loss is the elastic net);
    * ``sparsity="group"``: Σ_f ‖δ_f‖₂ over original features f (group lasso: a one-hot
      category enters or leaves as a whole);
    * ``sparsity="l0"``: the number of changed features (μ is the price of each).

    ``constraints`` (:class:`~xaitutor.constraints.Constraints`) hold what may change;
    ``search`` (:class:`Search`) how the search runs (steps, lr, margin, adaptation,
    polish, exact zeros, path, seed).

    **Search: proximal gradient (ISTA).** A gradient step on the hinge, then the proximal
    step of the non-smooth rest (soft threshold for the L1 parts, elastic-net shrinkage
    for L2, group soft threshold, hard threshold for L0 — closed forms), then projection
    on the constraints. The step of row i is ``lr / max_j |∂s/∂x_j|`` at x_i (the most
    sensitive column moves about ``lr`` per step), so thresholds are scale-free: column j
    moves only while |∂s/∂x_j| > lam·w_j + mu. Rows still invalid have lam and mu halved
    every ``adapt_every`` steps. Categories are then rounded to a valid one-hot and the
    other columns re-optimised for half as many steps.

    **Polish (k = 1): exact local moves** (:mod:`.polish`; its exact steps are for L1
    costs: with ``distance="l2"`` it only rescues rows the search left invalid). It solves
    the linearised problem exactly — min Σ cost_j|δ_j| s.t. the linearised margin within
    the box, a fractional knapsack (:func:`~.proximal.lp_step`) — a few times from several
    start points, keeping a move only where the row stays valid and lam·dist + mu·R
    falls. On a linear model the first step is the linear-programming optimum
    (:func:`~xaitutor.counterfactuals.lp_counterfactual`).

    ``k > 1`` returns k counterfactuals per row; ``diversity > 0`` adds DiCE's DPP term
    −diversity · det(K), K_ab = 1 / (1 + dist(c_a, c_b)) (Mothilal, Sharma & Tan 2020)
    (no polish then: it would merge them).
    """
    t = check_request(model, x, target)
    rules = Constraints.of(constraints).check(x)
    search = Search.of(search)
    _checks.positive_int(k, "k")
    _checks.non_negative(diversity, "diversity")
    obj = _objective(model, x, t, lam, mu, distance, sparsity, mad, search.margin, rules)
    movable = rules.movable(x)
    ista = _Ista(obj, x, rules, movable[:, None], search, k, diversity)
    d = x.shape[1]
    ista.run(search.steps, torch.ones(d, dtype=torch.bool, device=x.device))
    if rules.categorical:
        ista.round_categories()
        ista.run(max(search.steps // 2, 1), ~ista.in_group)       # the numbers make up for the rounding
    cf = ista.result()
    if search.polish and k == 1 and (lam > 0 or mu > 0):
        cf = _polished(obj, cf, x, t, rules, movable)
        if ista.path is not None:
            ista.path.append(cf.clone())
    threshold = ZERO_BELOW_LR * search.lr if search.zero_below is None else search.zero_below
    if threshold > 0:
        cf = _exact_zeros(obj, cf, ista.x0, ista.in_group, threshold)
    with torch.no_grad():
        valid = obj.scores(cf) > 0
    return _result(cf, valid, ista, k)


def _polished(obj: Objective, cf: Tensor, x: Tensor, t: Tensor, rules: Constraints,
              movable: Tensor) -> Tensor:
    """The polish on every row (with ``distance="l2"``, on the invalid rows only)."""
    rows = torch.arange(len(x), device=x.device)
    if obj.distance == "l2":                                       # rescue invalid rows only
        with torch.no_grad():
            rows = (obj.scores(cf)[:, 0] <= 0).nonzero().flatten()
    if len(rows):
        cf = cf.clone()
        cf[rows, 0] = polish_rows(obj, cf[rows, 0], x[rows], t[rows], rules, movable[rows])
    return cf


def _result(cf: Tensor, valid: Tensor, ista: _Ista, k: int) -> Counterfactuals:
    path = ista.path
    if path is not None:
        path = torch.stack([ista.x0.detach().clone(), *path])
        path = path[:, :, 0] if k == 1 else path
    squeeze = (lambda a: a[:, 0]) if k == 1 else (lambda a: a)
    notes = []
    if not valid.all():
        notes.append(f"{int((~valid).sum())} counterfactual(s) did not reach the target (marked "
                     "invalid): more steps, a smaller lam or mu, or fewer constraints may help")
    return Counterfactuals(squeeze(cf.detach()), squeeze(valid), ista.history, ista.lam_row, path,
                           notes, mu=ista.mu_row)


def sparsity_path(model: nn.Module, x: Tensor, target: int | Tensor, mus,
                  constraints: Constraints | None = None, **kwargs) -> list[Counterfactuals]:
    """Counterfactuals along a path of μ values (ascending), in the spirit of
    scikit-learn's ``lasso_path``; each μ is also kept to the previous solution's support
    (a feature may leave, never enter), so the number of changed features of a valid row
    can only fall — by construction, so compare with independent :func:`optimize` runs.
    ``kwargs`` go to :func:`optimize` (``sparsity="l0"`` makes μ the price of a feature)."""
    mus = [float(m) for m in mus]
    if not mus or any(b < a for a, b in zip(mus, mus[1:])):
        raise _checks.BadInput(f"mus must be a non-empty ascending sequence, got {mus}")
    rules = Constraints.of(constraints)
    if rules.free is not None:
        raise _checks.BadInput("sparsity_path sets free itself (the previous support); give "
                               "constraints without free (use immutable instead)")
    out, free = [], None
    for mu in mus:
        r = optimize(model, x, target, mu=mu, constraints=rules.with_free(free), **kwargs)
        moved = (r.x_cf - x).abs() > 0
        # rows that did not reach the target keep their previous freedom
        free = torch.where(r.valid[:, None], moved, torch.ones_like(moved) if free is None else free)
        free = torch.where(free.sum(1, keepdim=True) > 0, free, torch.ones_like(free))
        out.append(r)
    return out
