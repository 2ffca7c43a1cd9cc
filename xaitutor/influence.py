"""Influence functions (Koh & Liang 2017): which training points made this prediction?

One definition everywhere. The model is trained to the optimum θ̂ of

    R(θ) = (1/n) Σ_i L(z_i, θ) + (l2/2) ‖θ‖²,        H = ∇²R(θ̂).

The **influence of training point i on test point t** is the predicted change of the test
loss when i is removed (its term dropped from the sum) and the model retrained:

    I(i, t) = (1/n) ∇θL(z_t, θ̂)ᵀ H⁻¹ ∇θL(z_i, θ̂)      (Koh & Liang's I_up,loss × −1/n).

Positive: removing i would *raise* the test loss — i is a helpful point. Negative: a
harmful one. The parameters with ``requires_grad`` count — all of them when none has it (a
model frozen for inference). No function changes a ``requires_grad`` flag; only :func:`fit`
changes the model (its weights, and it leaves it in eval mode). Per-sample gradients and
Hessians use ``torch.func`` (``vmap``, ``grad``, ``hessian``), Hessian-vector products a
second backward pass batched over the vectors; nothing loops over training points in
Python. Many queries on one training set: :class:`Influence` keeps what they share.
"""
from __future__ import annotations

import math
import sys
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from . import _checks
from ._batching import batched

__all__ = ["fit", "FitReport", "Influence", "influence", "self_influence", "perturbation_influence",
           "per_sample_grads", "hvp", "hessian", "solve", "leave_one_out", "retrain_without",
           "loss_change", "smooth_hinge", "SmoothHinge", "hinge", "Hinge", "fit_hinge_svm",
           "HingeReport", "retrain_hinge_svm_without", "METHODS", "losses"]

METHODS = ("exact", "cg", "lissa")
LossFn = Callable[[Tensor, Tensor], Tensor]


# --- the objective as a function of one flat parameter vector ----------------------------------

class _Flat:
    """The trainable parameters of ``model`` as one vector θ, and the losses as functions of θ."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, l2: float):
        self.model, self.loss_fn, self.l2 = model, loss_fn, l2
        named = list(model.named_parameters())
        if not named:
            raise _checks.BadInput("the model has no parameters: influence is about how training "
                                   "moved them; pass a model with parameters")
        if any(p.requires_grad for _, p in named):         # the trainable ones count
            named = [(n, p) for n, p in named if p.requires_grad]
        self.names = [n for n, _ in named]                 # frozen for inference: all count
        params = [p for _, p in named]
        self.shapes = [p.shape for p in params]
        self.sizes = [p.numel() for p in params]
        self.theta = torch.cat([p.detach().reshape(-1) for p in params])
        self.frozen = {n: p.detach() for n, p in model.named_parameters() if n not in self.names}
        self.buffers = dict(model.named_buffers())

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        parts = theta.split(self.sizes)
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}

    def outputs(self, theta: Tensor, x: Tensor) -> Tensor:
        state = {**self.unflatten(theta), **self.frozen, **self.buffers}
        return functional_call(self.model, state, (x,))

    def sample_loss(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """L(z, θ) for one sample (x, y) without a batch dimension."""
        return self.loss_fn(self.outputs(theta, x[None]), y[None])

    def objective(self, theta: Tensor, x: Tensor, y: Tensor, weights: Tensor | None = None) -> Tensor:
        """R(θ) = (1/n) Σ w_i L(z_i, θ) + (l2/2)‖θ‖² (w = 1 unless given)."""
        penalty = 0.5 * self.l2 * (theta ** 2).sum()
        if weights is None:                                  # loss_fn is a mean: one batched call
            return self.loss_fn(self.outputs(theta, x), y) + penalty
        losses = vmap(self.sample_loss, in_dims=(None, 0, 0))(theta, x, y)
        return (losses * weights).sum() / len(x) + penalty

    def load(self, theta: Tensor) -> None:
        with torch.no_grad():
            for (n, t) in self.unflatten(theta).items():
                self.model.get_parameter(n).copy_(t)


def _check_pair(name: str, pair, model: nn.Module, names: tuple[str, str] | None = None
                ) -> tuple[Tensor, Tensor]:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise _checks.BadInput(f"{name} must be an (X, Y) pair of tensors, e.g. {name}=(X, Y); got "
                               f"{type(pair).__name__}")
    x, y = pair
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise _checks.BadInputType(f"{name} must hold tensors, got {type(x).__name__} and {type(y).__name__}; "
                                   "convert them with torch.as_tensor")
    if len(x) != len(y) or len(x) == 0:
        raise _checks.BadInput(f"{name}: X has {len(x)} rows but Y has {len(y)}; they must match and "
                               "not be empty")
    name_x, name_y = names or (f"{name}[0]", f"{name}[1]")
    _checks.tensor(x, name_x, model=model)
    _checks.same_dtype(x, model, name_x)
    if y.is_floating_point():
        _checks.tensor(y, name_y, model=model)
    elif y.device == x.device and y.dim() == 1:          # class indices: in the model's range?
        n_classes = _checks.n_outputs(model, x, name_x,
                                      f"{name} inputs must have the shape the model was built for")
        if n_classes > 1 and (int(y.min()) < 0 or int(y.max()) >= n_classes):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise _checks.BadInput(f"{name}: label {bad} is not a class of the model (0..{n_classes - 1}); "
                                   "check the labels")
    if y.device != x.device:
        raise _checks.BadInput(f"{name}: X is on {x.device} but Y on {y.device}; move Y with "
                               f"Y.to({str(x.device)!r})")
    return x, y


def _check_options(l2: float, method: str, damping: float) -> None:
    _checks.non_negative(l2, "l2")
    _checks.choice(method, "method", METHODS)
    _checks.non_negative(damping, "damping")


# --- training to the optimum -------------------------------------------------------------------

@dataclass
class FitReport:
    """How close ``fit`` got to the optimum: ‖∇R(θ̂)‖ and the iterations it took."""
    grad_norm: float
    iterations: int
    converged: bool

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        return f"L-BFGS {state} after {self.iterations} iterations, ‖∇R(θ̂)‖ = {self.grad_norm:.1e}"


def _lbfgs(objective: Callable[[Tensor], Tensor], theta: Tensor, tol: float, max_iter: int
           ) -> tuple[Tensor, float, int]:
    """Minimise ``objective`` from ``theta`` with full-batch L-BFGS (strong Wolfe)."""
    theta = theta.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([theta], lr=1, max_iter=max_iter, tolerance_grad=tol * 1e-2,
                            tolerance_change=1e-16, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(theta)
        loss.backward()
        return loss
    with torch.enable_grad():                               # works inside torch.no_grad() too
        opt.step(closure)
    iterations = int(opt.state[opt._params[0]]["n_iter"])
    theta = theta.detach()
    return theta, grad(objective)(theta).norm().item(), iterations


def fit(model: nn.Module, loss_fn: LossFn, X: Tensor, Y: Tensor, l2: float = 1e-2,
        max_iter: int = 500, tol: float = 1e-6, weights: Tensor | None = None) -> FitReport:
    """Train ``model`` in place to the optimum of R(θ) with full-batch L-BFGS (strong
    Wolfe line search) and return the final gradient norm. Works in float64 if the
    model and data are float64 (recommended for influence). ``weights`` multiplies
    each sample's loss (0 removes a point). Leaves the model in eval mode."""
    X, Y = _check_pair("train", (X, Y), model, ("X", "Y"))
    _checks.non_negative(l2, "l2")
    _checks.positive_int(max_iter, "max_iter")
    flat = _Flat(model, loss_fn, l2)
    theta, norm, iterations = _lbfgs(lambda t: flat.objective(t, X, Y, weights), flat.theta,
                                     tol, max_iter)
    flat.load(theta)
    model.eval()
    return FitReport(norm, int(iterations), norm <= tol)


# --- gradients, Hessian-vector products, the Hessian ---------------------------------------------

def _grads(flat: _Flat, X: Tensor, Y: Tensor, batch_size: int | None = 4096) -> Tensor:
    g = vmap(grad(flat.sample_loss), in_dims=(None, 0, 0))
    return batched(lambda xb, yb: g(flat.theta, xb, yb), X, Y, batch_size=batch_size)


def per_sample_grads(model: nn.Module, loss_fn: LossFn, X: Tensor, Y: Tensor,
                     batch_size: int = 4096) -> Tensor:
    """∇θL(z_i, θ̂) for every sample, ``(n, P)``: ``vmap`` over ``grad``, in chunks."""
    X, Y = _check_pair("data", (X, Y), model, ("X", "Y"))
    return _grads(_Flat(model, loss_fn, 0.0), X, Y, batch_size)


def _hvp_at(objective: Callable[[Tensor], Tensor], theta: Tensor, damping: float = 0.0
            ) -> Callable[[Tensor], Tensor]:
    """v ↦ (∇²objective(θ) + damping·I) v for every row v of ``V`` ``(k, P)``, never forming
    the Hessian (Pearlmutter 1994). The gradient is computed once with its graph, then
    differentiated again along all rows at once (reverse-over-reverse; ``is_grads_batched``
    vmaps the second backward pass). The same numbers as ``jvp(grad(R), θ, v)`` to
    round-off, and several times faster when called many times (CG, LiSSA): the forward
    pass is not redone for each call."""
    theta = theta.detach().requires_grad_(True)
    with torch.enable_grad():                               # works inside torch.no_grad() too
        g = torch.autograd.grad(objective(theta), theta, create_graph=True)[0]

    def hvp_k(V: Tensor) -> Tensor:                         # (k, P) → (k, P)
        if not g.requires_grad:                             # linear in θ: the Hessian is 0
            return damping * V
        with torch.enable_grad():
            hv = torch.autograd.grad(g, theta, V, retain_graph=True, is_grads_batched=True,
                                     allow_unused=True, materialize_grads=True)[0]
        return hv + damping * V if damping else hv
    return hvp_k


def _hvp_fn(flat: _Flat, X: Tensor, Y: Tensor, damping: float = 0.0) -> Callable[[Tensor], Tensor]:
    """(H + damping·I) v for the rows of ``V``, H = ∇²R(θ̂)."""
    return _hvp_at(lambda t: flat.objective(t, X, Y), flat.theta, damping)


def hvp(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], v: Tensor,
        l2: float = 1e-2) -> Tensor:
    """Hessian-vector products H v for the rows of ``v`` ``(k, P)`` (or one ``(P,)``),
    by differentiating the gradient again — never forming H."""
    X, Y = _check_pair("train", train, model)
    flat = _Flat(model, loss_fn, l2)
    p = flat.theta.numel()
    if not isinstance(v, Tensor) or v.dim() not in (1, 2) or v.shape[-1] != p:
        raise _checks.BadInput(f"v must be a vector of the model's {p} parameters, (P,) or (k, P); got "
                               f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
    one = v.dim() == 1
    out = _hvp_fn(flat, X, Y, 0.0)(v[None] if one else v)
    return out[0] if one else out


def _check_size(p: int, max_params: int) -> None:
    if p > max_params:
        raise _checks.BadInput(f"the model has {p} parameters: the exact Hessian would be {p}×{p} "
                               f"(> max_params={max_params}); use method='cg' or 'lissa'")


def hessian(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], l2: float = 1e-2,
            max_params: int = 5000) -> Tensor:
    """The full Hessian ∇²R(θ̂), ``(P, P)``; refuses when P > ``max_params``."""
    X, Y = _check_pair("train", train, model)
    flat = _Flat(model, loss_fn, l2)
    _check_size(flat.theta.numel(), max_params)
    return torch.func.hessian(lambda t: flat.objective(t, X, Y))(flat.theta)


# --- solving H s = g -------------------------------------------------------------------------------

def _warn(message: str) -> None:
    """A UserWarning pointing at the first line outside this module (the learner's call)."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _cholesky(A: Tensor, what: str) -> Tensor:
    L, info = torch.linalg.cholesky_ex(A)
    if info.item() != 0:
        lam = torch.linalg.eigvalsh(A)[0].item()
        raise _checks.BadInput(f"{what} is not positive definite: its smallest eigenvalue is {lam:.3g}. "
                               "The model is not at a minimum of a convex objective; pass damping > "
                               f"{max(-lam, 0) * 1.1 + 1e-8:.2g} (or train it to the minimum first)")
    return L


def _solve_cg(hvp_k: Callable, G: Tensor, tol: float, max_iter: int) -> Tensor:
    """Conjugate gradient for every row of G at once (independent systems)."""
    s = torch.zeros_like(G)
    r = G.clone()
    p = r.clone()
    rr = (r * r).sum(1)
    g_norm = G.norm(dim=1).clamp_min(1e-300)
    for _ in range(max_iter):
        active = r.norm(dim=1) > tol * g_norm
        if not active.any():
            break
        Hp = hvp_k(p)
        curvature = (p * Hp).sum(1)
        if (curvature[active] <= 0).any():
            raise _checks.BadInput("conjugate gradient met negative curvature: the Hessian (+ damping) "
                                   "is not positive definite; pass a larger damping")
        alpha = torch.where(active, rr / curvature.where(active, torch.ones_like(curvature)),
                            torch.zeros_like(rr))
        s = s + alpha[:, None] * p
        r = r - alpha[:, None] * Hp
        rr_new = (r * r).sum(1)
        beta = torch.where(active, rr_new / rr.clamp_min(1e-300), torch.zeros_like(rr))
        p = r + beta[:, None] * p
        rr = rr_new
    else:
        worst = (r.norm(dim=1) / g_norm).max().item()
        if worst > tol * 100:
            raise _checks.BadInput(f"conjugate gradient did not converge in {max_iter} iterations "
                                   f"(relative residual {worst:.1e}); raise max_iter or add damping")
    return s


def _largest_eigenvalue(hvp_k: Callable, p: int, like: Tensor, iters: int = 50) -> float:
    v = torch.randn(1, p, generator=torch.Generator().manual_seed(0), dtype=like.dtype).to(like.device)
    lam = 0.0
    for _ in range(iters):
        w = hvp_k(v / v.norm())
        lam = (w * v / v.norm()).sum().item()
        v = w
    return abs(lam)


def _round_up(x: float) -> int:
    """``x`` rounded up to two significant digits: 2,143 → 2,200."""
    unit = 10 ** max(0, math.floor(math.log10(max(x, 1))) - 1)
    return int(math.ceil(x / unit) * unit)


def _solve_lissa(hvp_k: Callable, G: Tensor, depth: int, scale: float, tol: float,
                 progress: bool = True) -> tuple[Tensor, dict]:
    """LiSSA (Agarwal, Bullins & Hazan 2017), as Koh & Liang use it: the Neumann series
    h_j = g + (I − H/scale) h_{j−1}; H⁻¹g ≈ s = h_J / scale. Needs scale > λ_max(H).

    Its accuracy is measured, not assumed. What is left after J steps is H⁻¹r with r = g − Hs
    (measured with one batched Hessian-vector product), so ‖s − H⁻¹g‖ ≤ ‖r‖ / λ_min. LiSSA is
    a power iteration on I − H/scale: its steps h_j − h_{j−1} = (I − H/scale)^j g end up
    shrinking by ρ = 1 − λ_min/scale each, which estimates λ_min. When the estimated
    relative error ‖r‖ / (λ_min ‖s‖) of any row exceeds ``tol``, a UserWarning says so, with
    the depth that would reach ``tol`` at that rate. Returns s and these diagnostics."""
    from tqdm.auto import trange

    g_norm = G.norm(dim=1)
    window = max(1, min(50, depth // 4))
    steps = deque([g_norm], maxlen=window + 1)             # ‖h_j − h_{j−1}‖ (h_{−1} = 0)
    h = G.clone()
    for j in trange(depth, desc="LiSSA", leave=False, disable=not progress):
        new = G + h - hvp_k(h) / scale
        steps.append((new - h).norm(dim=1))
        h = new
        size = h.norm(dim=1).max().item()
        if not math.isfinite(size) or size > 1e6 * depth * (g_norm.max().item() + 1e-300):
            raise _checks.BadInput(f"LiSSA diverged at iteration {j + 1} (scale={scale:.3g}): the scale "
                                   "must exceed the Hessian's largest eigenvalue and the Hessian (+ "
                                   "damping) must be positive definite; raise scale or damping")
    s = h / scale
    residual = (G - hvp_k(s)).norm(dim=1)                              # ‖g − Hs‖, measured
    moved = steps[0] > 0
    rate = torch.where(moved, (steps[-1] / steps[0].where(moved, torch.ones_like(steps[0])))
                       ** (1 / (len(steps) - 1)), torch.zeros_like(g_norm))    # ρ per row
    lam_min = (1 - rate) * scale
    error = torch.where(rate < 1, residual / (lam_min * s.norm(dim=1)).clamp_min(1e-300),
                        torch.full_like(rate, math.inf))
    error = torch.where(g_norm > 0, error, torch.zeros_like(error))   # g = 0: s = 0 exactly
    worst = int(error.argmax())
    info = {"depth": depth, "scale": scale,
            "residual": (residual / g_norm.clamp_min(1e-300)).max().item(),
            "error_estimate": error[worst].item(), "lambda_min_estimate": lam_min[worst].item()}
    if info["error_estimate"] > tol:
        rho = rate[worst].item()
        if rho >= 1:
            advice = ("its steps are not shrinking: the Hessian (+ damping) is not positive "
                      "definite or the scale is too small. Add damping, or use method='exact' "
                      "(which says which)")
        else:
            more = 1.5 * math.log(tol / info["error_estimate"]) / math.log(rho)   # 1.5: the rate
            needed = _round_up(depth + more)                  # estimate is optimistic early on
            advice = (f"its steps shrink by only a factor 1 − {1 - rho:.1e} each (an eigenvalue "
                      f"of H ≈ {info['lambda_min_estimate']:.1e} against scale {scale:.3g}). "
                      f"Raise lissa_depth to about {needed:,} or more, add damping (which "
                      "changes the question), or use method='cg' or 'exact'")
        _warn(f"LiSSA is inaccurate after lissa_depth={depth} steps: the relative residual "
              f"‖Hs − g‖/‖g‖ is {info['residual']:.1e}, so s is about "
              f"{info['error_estimate']:.0%} away from H⁻¹g (estimated; lissa_tol={tol:g}); "
              f"{advice}")
    return s, info


def _check_solver_options(cg_tol: float = 1e-10, cg_max_iter: int | None = None,
                          lissa_depth: int = 1000, lissa_scale: float | None = None,
                          lissa_tol: float = 1e-2, progress: bool = True,
                          max_params: int = 5000) -> None:
    """The options of :meth:`Influence.solve`, checked before anything is computed (an
    unknown name is a TypeError that names it)."""
    _checks.positive(cg_tol, "cg_tol")
    _checks.positive_int(lissa_depth, "lissa_depth")
    _checks.positive(lissa_tol, "lissa_tol")
    _checks.positive_int(max_params, "max_params")
    if cg_max_iter is not None:
        _checks.positive_int(cg_max_iter, "cg_max_iter")
    if lissa_scale is not None:
        _checks.positive(lissa_scale, "lissa_scale")


# --- everything a query shares, computed once --------------------------------------------------------

class Influence:
    """Influence on one training set, with what every query shares computed once and kept:
    the per-sample training gradients, the Hessian, its Cholesky factor for each damping,
    the gradient's graph (for Hessian-vector products), LiSSA's scale for each damping, and
    ‖∇R(θ̂)‖ — each on first use.

    ``Influence(model, loss_fn, train, l2)`` then answers ``scores(test, method, damping,
    ...)`` with one small solve and one matrix product — what a widget needs to follow a
    click. :func:`influence`, :func:`self_influence`, :func:`perturbation_influence` and
    :func:`solve` build one and ask it once, so the numbers are identical. The model must
    not change afterwards (a query on a model whose parameters moved is refused).

    Options of every query: ``cg_tol``, ``cg_max_iter`` (method="cg"); ``lissa_depth``,
    ``lissa_scale`` (default 1.5× the largest eigenvalue found by power iteration),
    ``lissa_tol`` (warn when the estimated relative error of the solve exceeds it),
    ``progress`` (LiSSA's bar); ``max_params`` (method="exact" refuses larger models).
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                 l2: float = 1e-2):
        _checks.module(model)
        _checks.non_negative(l2, "l2")
        self.model, self.loss_fn, self.l2 = model, loss_fn, l2
        self.train = _check_pair("train", train, model)
        self._flat = _Flat(model, loss_fn, l2)
        self._grad_norm: float | None = None
        self._train_grads: Tensor | None = None
        self._hessian: Tensor | None = None
        self._factors: dict[float, Tensor] = {}
        self._scales: dict[float, float] = {}
        self._hvp_base: Callable[[Tensor], Tensor] | None = None

    @property
    def n_params(self) -> int:
        return self._flat.theta.numel()

    def _unchanged(self) -> None:
        now = _Flat(self.model, self.loss_fn, self.l2)
        if now.names != self._flat.names or not torch.equal(now.theta, self._flat.theta):
            raise _checks.BadInput("the model's parameters changed since this Influence was built (it "
                                   "was trained further, or parameters were frozen or unfrozen); build "
                                   "a new one: Influence(model, loss_fn, train, l2)")
        _checks.module(self.model)

    @property
    def grad_norm(self) -> float:
        """‖∇R(θ̂)‖; warns (once) when it is above 1e-3: influence assumes an optimum."""
        if self._grad_norm is None:
            X, Y = self.train
            self._grad_norm = grad(lambda t: self._flat.objective(t, X, Y))(self._flat.theta).norm().item()
            if self._grad_norm > 1e-3:
                _warn(f"the model is not at an optimum of R (‖∇R(θ̂)‖ = {self._grad_norm:.2g} > "
                      "0.001); influence assumes one — train with xaitutor.influence.fit first")
        return self._grad_norm

    @property
    def train_grads(self) -> Tensor:
        """∇θL(z_i, θ̂) for every training point, ``(n, P)``."""
        if self._train_grads is None:
            self._train_grads = _grads(self._flat, *self.train)
        return self._train_grads

    def hessian(self, max_params: int = 5000) -> Tensor:
        """H = ∇²R(θ̂), ``(P, P)``; refuses when P > ``max_params``."""
        _check_size(self.n_params, max_params)
        if self._hessian is None:
            X, Y = self.train
            self._hessian = torch.func.hessian(lambda t: self._flat.objective(t, X, Y))(self._flat.theta)
        return self._hessian

    def _hvp(self, damping: float) -> Callable[[Tensor], Tensor]:
        if self._hvp_base is None:
            self._hvp_base = _hvp_fn(self._flat, *self.train)
        base = self._hvp_base
        return base if not damping else (lambda V: base(V) + damping * V)

    def _factor(self, damping: float, max_params: int) -> Tensor:
        if damping not in self._factors:
            H = self.hessian(max_params)
            eye = torch.eye(len(H), dtype=H.dtype, device=H.device)
            self._factors[damping] = _cholesky(H + damping * eye,
                                               f"the Hessian (+ damping {damping:g})")
        return self._factors[damping]

    def solve(self, G: Tensor, method: str = "exact", damping: float = 0.0, *,
              cg_tol: float = 1e-10, cg_max_iter: int | None = None, lissa_depth: int = 1000,
              lissa_scale: float | None = None, lissa_tol: float = 1e-2, progress: bool = True,
              max_params: int = 5000) -> Tensor:
        """(H + damping·I)⁻¹ g for every row g of ``G`` ``(k, P)``, by ``method``. The
        result's ``.info`` holds the method, and for LiSSA its depth, scale, measured
        relative residual and estimated relative error."""
        _check_options(self.l2, method, damping)
        _check_solver_options(cg_tol, cg_max_iter, lissa_depth, lissa_scale, lissa_tol, progress,
                              max_params)
        p = self.n_params
        if not isinstance(G, Tensor) or G.dim() != 2 or G.shape[1] != p:
            raise _checks.BadInput(f"G must hold right-hand sides as rows, (k, {p}) for the model's {p} "
                                   f"parameters; got {tuple(G.shape) if isinstance(G, Tensor) else type(G).__name__}"
                                   " (one vector g: pass g[None])")
        self._unchanged()
        info = {"method": method, "damping": damping}
        if method == "exact":
            s = torch.cholesky_solve(G.T, self._factor(damping, max_params)).T
        else:
            hvp_k = self._hvp(damping)
            if method == "cg":
                s = _solve_cg(hvp_k, G, cg_tol, cg_max_iter or 10 * p)
            else:
                if lissa_scale is None:
                    if damping not in self._scales:
                        self._scales[damping] = 1.5 * _largest_eigenvalue(hvp_k, p, G)
                    lissa_scale = self._scales[damping]
                s, lissa = _solve_lissa(hvp_k, G, lissa_depth, lissa_scale, lissa_tol, progress)
                info.update(lissa)
        s.info = info
        return s

    def _test(self, test) -> tuple[Tensor, Tensor]:
        Xt, Yt = _check_pair("test", test, self.model)
        if self.train[0].shape[1:] != Xt.shape[1:]:
            raise _checks.BadInput(f"train inputs have shape {tuple(self.train[0].shape[1:])} but test "
                                   f"inputs {tuple(Xt.shape[1:])}")
        return Xt, Yt

    def scores(self, test: tuple[Tensor, Tensor], method: str = "exact", damping: float = 0.0,
               **opts) -> Tensor:
        """I(i, t) for every test point t and training point i, ``(n_test, n_train)`` (see
        :func:`influence`); ``.info`` holds the method, damping, ‖∇R(θ̂)‖ and the solver's
        diagnostics."""
        _check_options(self.l2, method, damping)
        _check_solver_options(**opts)
        Xt, Yt = self._test(test)
        self._unchanged()
        norm = self.grad_norm
        s_test = self.solve(_grads(self._flat, Xt, Yt), method, damping, **opts)   # (m, P)
        result = s_test @ self.train_grads.T / len(self.train[0])
        result.info = {**s_test.info, "grad_norm": norm}
        return result

    def self_scores(self, method: str = "exact", damping: float = 0.0, **opts) -> Tensor:
        """I(i, i) for every training point, ``(n,)`` (see :func:`self_influence`)."""
        _check_options(self.l2, method, damping)
        _check_solver_options(**opts)
        self._unchanged()
        norm = self.grad_norm
        s = self.solve(self.train_grads, method, damping, **opts)
        result = (s * self.train_grads).sum(1) / len(self.train[0])
        result.info = {**s.info, "grad_norm": norm}
        return result

    def perturbation_scores(self, test: tuple[Tensor, Tensor], method: str = "exact",
                            damping: float = 0.0, **opts) -> Tensor:
        """d L(z_t) / d x_i, ``(n_test, n_train, *x.shape[1:])`` (see
        :func:`perturbation_influence`)."""
        _check_options(self.l2, method, damping)
        _check_solver_options(**opts)
        Xt, Yt = self._test(test)
        self._unchanged()
        self.grad_norm
        flat, (X, Y) = self._flat, self.train
        s_test = self.solve(_grads(flat, Xt, Yt), method, damping, **opts)   # (m, P)

        def directional(s: Tensor, x: Tensor, y: Tensor) -> Tensor:    # s · ∇θL(x, y)
            return (s * grad(flat.sample_loss)(flat.theta, x, y)).sum()
        d_dx = grad(directional, argnums=1)                             # ∇x (s · ∇θL)
        per_test = vmap(vmap(d_dx, in_dims=(None, 0, 0)), in_dims=(0, None, None))
        return -per_test(s_test, X, Y) / len(X)


def solve(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], G: Tensor,
          l2: float = 1e-2, method: str = "exact", damping: float = 0.0, **opts) -> Tensor:
    """(H + damping·I)⁻¹ g for every row g of ``G`` ``(k, P)``, by ``method`` (options as
    in :class:`Influence`: ``cg_tol``, ``cg_max_iter``, ``lissa_depth``, ``lissa_scale``,
    ``lissa_tol``, ``progress``, ``max_params``)."""
    _check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).solve(G, method, damping, **opts)


# --- influence -------------------------------------------------------------------------------------

def influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
              test: tuple[Tensor, Tensor], l2: float = 1e-2, method: str = "exact",
              damping: float = 0.0, **opts) -> Tensor:
    """I(i, t) = (1/n) ∇θL(z_t)ᵀ (H + damping·I)⁻¹ ∇θL(z_i): the predicted change of the
    loss on test point t when training point i is removed and the model retrained
    (positive: i helped t). Returns ``(n_test, n_train)``; ``result.info`` holds the
    gradient norm at θ̂ (a warning is raised when it is not small) and the method.

    ``method``: ``"exact"`` (H formed and factorised; refuses above ``max_params``),
    ``"cg"`` (conjugate gradient on Hessian-vector products; ``cg_tol``,
    ``cg_max_iter``) or ``"lissa"`` (``lissa_depth``, ``lissa_scale``; the scale defaults
    to 1.5× the largest eigenvalue found by power iteration; a warning when the estimated
    error exceeds ``lissa_tol``, with the depth that would do). Many queries on one
    training set: build an :class:`Influence` once and call its ``scores``."""
    _checks.module(model)
    _check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).scores(test, method, damping, **opts)


def self_influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                   l2: float = 1e-2, method: str = "exact", damping: float = 0.0,
                   **opts) -> Tensor:
    """I(i, i) = (1/n) ∇θL(z_i)ᵀ H⁻¹ ∇θL(z_i), ``(n,)``: how much point i's own loss
    rests on i being in the training set. Mislabelled points rank high (Koh & Liang, Sec. 5.4)."""
    _checks.module(model)
    _check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).self_scores(method, damping, **opts)


def perturbation_influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                           test: tuple[Tensor, Tensor], l2: float = 1e-2, method: str = "exact",
                           damping: float = 0.0, **opts) -> Tensor:
    """How the test loss moves when a training *input* is nudged (Koh & Liang's
    I_pert,loss, with the 1/n of our objective):

        d L(z_t, θ̂) / d x_i = −(1/n) ∇θL(z_t)ᵀ H⁻¹ ∇x∇θL(z_i, θ̂).

    Returns ``(n_test, n_train, *x.shape[1:])``."""
    _checks.module(model)
    _check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).perturbation_scores(test, method, damping, **opts)


# --- the reference: leave one out and retrain ---------------------------------------------------------

def losses(model: nn.Module, loss_fn: LossFn, test: tuple[Tensor, Tensor]) -> Tensor:
    """L(z_t, θ) for every test point, ``(m,)``."""
    flat = _Flat(model, loss_fn, 0.0)
    Xt, Yt = _check_pair("test", test, model)
    with torch.no_grad():
        return vmap(flat.sample_loss, in_dims=(None, 0, 0))(flat.theta, Xt, Yt)


def _dense_hessian(objective: Callable[[Tensor], Tensor], theta: Tensor) -> Tensor:
    """∇²objective(θ) as the Hessian-vector products of the identity's rows: one batched
    second backward pass (~3× faster than ``torch.func.hessian`` here; equal to round-off)."""
    return _hvp_at(objective, theta)(torch.eye(len(theta), dtype=theta.dtype, device=theta.device))


def _newton(objective: Callable[[Tensor], Tensor], theta: Tensor, tol: float, max_iter: int,
            chord: Tensor | None = None, dense: bool = True) -> tuple[Tensor, float, int]:
    """Minimise ``objective`` from ``theta`` to ‖∇‖ ≤ ``tol`` by Newton's method: the step
    solves ∇² p = −∇ with the exact Hessian (``dense``: formed and factorised, with a
    Levenberg–Marquardt shift where it is not positive definite) or by conjugate gradient on
    Hessian-vector products (not ``dense``: any size; a gradient step where CG meets
    negative curvature), then a backtracking (Armijo) line search. Quadratic convergence
    near a strict minimum, to gradients far below what L-BFGS's line search resolves.

    ``chord``: the Cholesky factor of a matrix A close to the Hessian (H at a nearby
    optimum). Steps θ ← θ − A⁻¹∇(θ) come first — no Hessian to build or factorise — for as
    long as each at least halves ‖∇‖. Returns θ, ‖∇‖ there and the iterations taken."""
    grad_fn = grad(objective)
    g = grad_fn(theta)
    norm, it = g.norm().item(), 0
    while chord is not None and norm > tol and it < max_iter:
        it += 1
        new = theta - torch.cholesky_solve(g[:, None], chord)[:, 0]
        g_new = grad_fn(new)
        if not g_new.norm().item() <= 0.5 * norm:          # not contracting: full Newton from here
            break
        theta, g, norm = new, g_new, g_new.norm().item()
    value = objective(theta)
    while norm > tol and it < max_iter:
        it += 1
        if dense:
            H = _dense_hessian(objective, theta)
            L, info = torch.linalg.cholesky_ex(H)
            if info.item() != 0:                           # shift past the most negative eigenvalue
                shift = -1.5 * torch.linalg.eigvalsh(H)[0].item() + 1e-8 * H.diagonal().abs().max().item()
                L = torch.linalg.cholesky(H + shift * torch.eye(len(H), dtype=H.dtype, device=H.device))
            step = -torch.cholesky_solve(g[:, None], L)[:, 0]
        else:
            try:
                step = -_solve_cg(_hvp_at(objective, theta), g[None], 1e-10, 10 * len(g))[0]
            except ValueError:                              # negative curvature: steepest descent
                step = -g
        slope, t = (g @ step).item(), 1.0
        while True:                                         # Armijo, allowing round-off near the optimum
            new = theta + t * step
            new_value = objective(new)
            if new_value <= value + 1e-4 * t * slope + 1e-14 * abs(value) or t < 1e-12:
                break
            t /= 2
        theta, value = new, new_value
        g = grad_fn(theta)
        norm = g.norm().item()
    return theta, norm, it


def retrain_without(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], indices,
                    l2: float = 1e-2, max_iter: int = 100, tol: float = 1e-10,
                    progress: bool = True, max_params: int = 5000) -> Tensor:
    """For each training index i in ``indices``: drop i's term from R (the 1/n stays, as in
    the definition), R₋ᵢ(θ) = R(θ) − L(z_i, θ)/n, and retrain from θ̂ to ‖∇R₋ᵢ‖ ≤ ``tol``.
    Returns the retrained parameter vectors ``(len(indices), P)``; the model is not touched.

    Newton's method, in two stages: first (once, shared by every i) from θ̂ to the optimum
    θ* of R itself — one or two steps when θ̂ came from :func:`fit`; then for each i from θ*,
    with steps θ ← θ − H(θ*)⁻¹∇R₋ᵢ(θ) (the first one is the influence prediction; the
    factorisation is shared) while they contract, full Newton steps after. Up to
    ``max_params`` parameters the Hessian is formed and factorised; above, each Newton step
    is solved by conjugate gradient on Hessian-vector products. Warns when a retraining
    stops above 100 × ``tol``.
    """
    from tqdm.auto import tqdm

    _checks.module(model)
    X, Y = _check_pair("train", train, model)
    _checks.non_negative(l2, "l2")
    _checks.positive_int(max_iter, "max_iter")
    _checks.positive(tol, "tol")
    indices = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
    for i in indices:
        if not 0 <= i < len(X):
            raise _checks.BadInput(f"indices: {i} is not a training point; pick indices in "
                                   f"0..{len(X) - 1}")
    flat = _Flat(model, loss_fn, l2)
    n, dense = len(X), flat.theta.numel() <= max_params

    def full(t: Tensor) -> Tensor:
        return flat.objective(t, X, Y)
    if indices:
        start, norm, iters = _newton(full, flat.theta, tol, max_iter, dense=dense)
        if not norm <= 100 * tol:
            _warn(f"Newton's method from the model's parameters did not reach an optimum of R "
                  f"({iters} iterations, ‖∇R‖ = {norm:.1e}); raise max_iter, or check that the "
                  "objective has a minimum near the model (smooth loss, l2 > 0)")
        chord = None
        if dense:
            chord, info = torch.linalg.cholesky_ex(_dense_hessian(full, start))
            chord = chord if info.item() == 0 else None
    out = []
    for i in tqdm(indices, desc="leave one out", leave=False, disable=not progress):
        def without_i(t: Tensor, i: int = i) -> Tensor:
            return full(t) - flat.sample_loss(t, X[i], Y[i]) / n
        theta, norm, iters = _newton(without_i, start, tol, max_iter, chord, dense)
        if not norm <= 100 * tol:
            _warn(f"leave-one-out retraining without {i} did not converge (Newton: {iters} "
                  f"iterations, ‖∇R₋ᵢ‖ = {norm:.1e} > 100 × tol = {100 * tol:.0e}); raise "
                  "max_iter, or check that the model is at a minimum of a smooth objective")
        out.append(theta)
    return torch.stack(out) if out else flat.theta.new_zeros(0, flat.theta.numel())


def loss_change(model: nn.Module, loss_fn: LossFn, thetas: Tensor, test: tuple[Tensor, Tensor]
                ) -> Tensor:
    """L(z_t, θ_k) − L(z_t, θ̂) for parameter vectors ``thetas`` ``(K, P)`` (e.g. from
    :func:`retrain_without`) and every test point: ``(n_test, K)``."""
    flat = _Flat(model, loss_fn, 0.0)
    Xt, Yt = _check_pair("test", test, model)
    p = flat.theta.numel()
    if not isinstance(thetas, Tensor) or thetas.dim() != 2 or thetas.shape[1] != p:
        raise _checks.BadInput(f"thetas must be parameter vectors (K, {p}), e.g. from retrain_without; "
                               f"got {tuple(thetas.shape) if isinstance(thetas, Tensor) else type(thetas).__name__}")
    per_theta = vmap(lambda th: vmap(flat.sample_loss, in_dims=(None, 0, 0))(th, Xt, Yt))
    with torch.no_grad():
        return (per_theta(thetas) - losses(model, loss_fn, (Xt, Yt))).T


def leave_one_out(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                  test: tuple[Tensor, Tensor], indices, l2: float = 1e-2, max_iter: int = 100,
                  tol: float = 1e-10, progress: bool = True, max_params: int = 5000) -> Tensor:
    """The ground truth that influence approximates: the actual change of every test loss
    after removing each training point in ``indices`` and retraining (by
    :func:`retrain_without`), ``(n_test, len(indices))``."""
    _check_pair("test", test, model)
    thetas = retrain_without(model, loss_fn, train, indices, l2, max_iter, tol, progress,
                             max_params)
    return loss_change(model, loss_fn, thetas, test)


# --- a smooth hinge, for the SVM experiment ---------------------------------------------------------

def _signed_margins(outputs: Tensor, targets: Tensor) -> Tensor:
    """s = ±1 · output (targets 1 → +1, 0 → −1), one output per target."""
    if targets.dim() != 1 or outputs.numel() != len(targets):
        raise _checks.BadInput(f"a hinge loss needs one output per target: outputs have shape "
                               f"{tuple(outputs.shape)}, targets {tuple(targets.shape)}; use a model with "
                               "one output, nn.Linear(d, 1)")
    return (2 * targets.to(outputs.dtype) - 1) * outputs.reshape(len(targets))


def smooth_hinge(outputs: Tensor, targets: Tensor, t: float = 0.1) -> Tensor:
    """Smooth hinge loss (Koh & Liang, Sec. 4.1): t·log(1 + exp((1 − s)/t)) with margin
    s = ±1 · output (targets 1 → +1, 0 → −1), averaged. As t → 0 it becomes the SVM's
    hinge max(0, 1 − s), whose Hessian is zero almost everywhere."""
    if t <= 0:
        raise _checks.BadInput(f"the temperature t must be > 0, got {t}")
    s = _signed_margins(outputs, targets)
    return (t * F.softplus((1 - s) / t)).mean()


class SmoothHinge(nn.Module):
    """``smooth_hinge`` as a loss module with temperature ``t``."""

    def __init__(self, t: float = 0.1):
        super().__init__()
        self.t = t

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return smooth_hinge(outputs, targets, self.t)


# --- the hinge SVM itself, solved exactly (the ground truth of the smooth-hinge experiment) ------

def hinge(outputs: Tensor, targets: Tensor) -> Tensor:
    """The SVM's hinge loss max(0, 1 − s) with margin s = ±1 · output (targets 1 → +1,
    0 → −1), averaged: ``smooth_hinge`` at t → 0."""
    s = _signed_margins(outputs, targets)
    return (1 - s).clamp_min(0).mean()


class Hinge(nn.Module):
    """``hinge`` as a loss module."""

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return hinge(outputs, targets)


@dataclass
class HingeReport:
    """How exact :func:`fit_hinge_svm` is: the largest violation of the optimality (KKT)
    conditions, the duality gap, the support vectors and the points on the margin."""
    kkt_violation: float
    duality_gap: float
    support_vectors: int
    on_margin: int

    @property
    def optimal(self) -> bool:
        return self.kkt_violation <= 1e-9 and abs(self.duality_gap) <= 1e-9

    def __str__(self) -> str:
        return (f"hinge SVM {'solved exactly' if self.optimal else 'NOT solved'}: largest KKT "
                f"violation {self.kkt_violation:.1e}, duality gap {self.duality_gap:.1e}, "
                f"{self.support_vectors} support vectors ({self.on_margin} on the margin)")


def _one_blas_thread():
    """One BLAS thread for the small NumPy products of the SVM solver: on a busy machine a
    second thread only waits for a core (measured: 30x slower at a load of 7 on 2 cores)."""
    try:
        from threadpoolctl import threadpool_limits             # comes with scikit-learn
    except ImportError:                                         # pragma: no cover
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _hinge_dual(A, w, l2: float, alpha0=None):
    """The SVM's dual, a box-constrained QP: max (1/n) Σ αᵢ − (1/(2 l2 n²)) ‖Σ αᵢ aᵢ‖²
    over 0 ≤ αᵢ ≤ wᵢ (rows aᵢ = yᵢ·[xᵢ, 1] of ``A``), by SciPy's L-BFGS-B; then polished on
    its active set: with the violators (αᵢ = wᵢ) fixed, the points on the margin solve
    aᵢ·θ = 1 exactly, a small linear system. Returns θ = Aᵀα/(n·l2), α and the certificate
    (largest KKT violation, duality gap)."""
    import numpy as np
    from scipy.optimize import minimize
    n = len(A)
    Q, c = A @ A.T, 1.0 / (l2 * n * n)

    def f(a):
        Qa = Q @ a
        return 0.5 * c * a @ Qa - a.sum() / n, c * Qa - 1.0 / n
    start = np.zeros(n) if alpha0 is None else np.clip(alpha0, 0, w)
    a = minimize(f, start, jac=True, method="L-BFGS-B", bounds=list(zip(np.zeros(n), w)),
                 options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 20000}).x
    live = w > 0

    def certificate(alpha):
        theta = A.T @ alpha / (n * l2)                    # stationarity holds by construction
        m = A @ theta                                     # margins
        slack = np.concatenate([                          # complementary slackness, bounds
            np.maximum(0, -alpha), np.maximum(0, alpha - w),
            np.where(live & (alpha > 0) & (alpha < w), np.abs(m - 1), 0),
            np.where(live & (alpha <= 0), np.maximum(0, 1 - m), 0),
            np.where(live & (alpha >= w), np.maximum(0, m - 1), 0)])
        primal = (w * np.maximum(0, 1 - m)).sum() / n + 0.5 * l2 * theta @ theta
        dual = alpha.sum() / n - 0.5 * l2 * theta @ theta
        return theta, float(slack.max()), float(primal - dual)
    best = (a,) + certificate(a)
    m = A @ best[1]
    for delta in (1e-4, 1e-6, 1e-8, 1e-3):               # which points sit on the margin
        on = live & (np.abs(m - 1) <= delta)
        up = live & ~on & (m < 1)
        alpha = np.where(up, w, 0.0)
        if on.any():
            rhs = n * l2 - A[on] @ (A[up].T @ w[up])
            alpha[on] = np.linalg.lstsq(A[on] @ A[on].T, rhs, rcond=None)[0]
        cand = (alpha,) + certificate(alpha)
        if cand[2] < best[2]:
            best = cand
        if best[2] <= 1e-12:
            break
    return best


def _svm_rows(model: nn.Module, X: Tensor, Y: Tensor):
    if not (isinstance(model, nn.Linear) and model.out_features == 1 and model.bias is not None):
        raise _checks.BadInput("the exact hinge SVM is linear: pass nn.Linear(d, 1) (with a bias), "
                               f"got {type(model).__name__}")
    if Y.is_floating_point() or not bool(((Y == 0) | (Y == 1)).all()):
        raise _checks.BadInput("the hinge SVM needs labels 0 and 1 (a long tensor)")
    ones = torch.ones(len(X), 1, dtype=X.dtype, device=X.device)
    return ((2 * Y - 1).to(X.dtype)[:, None] * torch.cat([X.flatten(1), ones], 1)).cpu().numpy()


def fit_hinge_svm(model: nn.Linear, X: Tensor, Y: Tensor, l2: float = 1e-2,
                  weights: Tensor | None = None) -> HingeReport:
    """Train the linear SVM ``model`` (``nn.Linear(d, 1)``, labels 0/1) in place to the
    exact optimum of R(θ) = (1/n) Σ wᵢ max(0, 1 − sᵢ) + (l2/2)‖θ‖², sᵢ = ±(w·xᵢ + b), the
    same objective as :func:`fit` with :func:`hinge` (``weights`` 0 removes a point, the 1/n
    stays). The hinge has no gradient at sᵢ = 1, so :func:`fit` cannot; here the dual QP is
    solved by SciPy's L-BFGS-B and polished on its active set, and the answer carries its
    certificate: the largest violation of the KKT conditions and the duality gap, both at
    round-off (≈ 1e-15) when it is the optimum. A strongly convex objective has one
    minimiser, so a zero gap proves it is that one."""
    import numpy as np
    X, Y = _check_pair("train", (X, Y), model, ("X", "Y"))
    _checks.positive(l2, "l2")
    A = _svm_rows(model, X, Y)
    w = np.ones(len(A)) if weights is None else weights.detach().cpu().double().numpy()
    with _one_blas_thread():
        alpha, theta, violation, gap = _hinge_dual(A, w, l2)
    with torch.no_grad():
        t = torch.as_tensor(theta, dtype=model.weight.dtype, device=model.weight.device)
        model.weight.copy_(t[:-1].view_as(model.weight))
        model.bias.copy_(t[-1:])
    model.eval()
    free = (alpha > 1e-12) & (alpha < w - 1e-12)
    return HingeReport(violation, gap, int((alpha > 1e-12).sum()), int(free.sum()))


def retrain_hinge_svm_without(model: nn.Linear, train: tuple[Tensor, Tensor], indices,
                              l2: float = 1e-2) -> tuple[Tensor, HingeReport]:
    """Leave one out for the exact hinge SVM: for each i in ``indices`` the optimum of
    R₋ᵢ = R − max(0, 1 − sᵢ)/n, solved as in :func:`fit_hinge_svm` (warm-started from the
    full problem's dual). Returns the parameter vectors ``(K, P)`` (use :func:`loss_change`) and
    one report with the worst KKT violation and duality gap over all of them. A point off
    the margin and outside it (αᵢ = 0, not a support vector) changes nothing: its
    retrained θ is θ̂ itself."""
    import numpy as np
    X, Y = _check_pair("train", train, model)
    A = _svm_rows(model, X, Y)
    n = len(A)
    indices = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
    for i in indices:
        if not 0 <= i < n:
            raise _checks.BadInput(f"indices: {i} is not a training point; pick indices in 0..{n - 1}")
    with _one_blas_thread():
        alpha_hat, theta_hat, v0, g0 = _hinge_dual(A, np.ones(n), l2)
        out, worst_v, worst_g = [], v0, abs(g0)
        for i in indices:
            w = np.ones(n)
            w[i] = 0
            if alpha_hat[i] <= 1e-12:                      # not a support vector
                _, theta, v, g = alpha_hat, theta_hat, v0, g0
            else:
                start = alpha_hat.copy()
                start[i] = 0
                _, theta, v, g = _hinge_dual(A, w, l2, start)
            worst_v, worst_g = max(worst_v, v), max(worst_g, abs(g))
            out.append(torch.as_tensor(theta, dtype=model.weight.dtype, device=model.weight.device))
    free = (alpha_hat > 1e-12) & (alpha_hat < 1 - 1e-12)
    report = HingeReport(worst_v, worst_g, int((alpha_hat > 1e-12).sum()), int(free.sum()))
    return (torch.stack(out) if out else model.weight.new_zeros(0, A.shape[1])), report
