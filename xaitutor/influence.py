"""Influence functions (Koh & Liang 2017): which training points made this prediction?

One definition everywhere. The model is trained to the optimum θ̂ of

    R(θ) = (1/n) Σ_i L(z_i, θ) + (l2/2) ‖θ‖²,        H = ∇²R(θ̂).

The **influence of training point i on test point t** is the predicted change of the test
loss when i is removed (its term dropped from the sum) and the model retrained:

    I(i, t) = (1/n) ∇θL(z_t, θ̂)ᵀ H⁻¹ ∇θL(z_i, θ̂)      (Koh & Liang's I_up,loss × −1/n).

Positive: removing i would *raise* the test loss — i is a helpful point. Negative: a
harmful one. All parameters with ``requires_grad`` count. Per-sample gradients and
Hessian-vector products use ``torch.func`` (``vmap``, ``grad``, ``jvp``); nothing loops
over training points in Python.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vmap

from . import _checks
from ._batching import batched

__all__ = ["fit", "FitReport", "influence", "self_influence", "perturbation_influence",
           "per_sample_grads", "hvp", "hessian", "solve", "leave_one_out", "retrain_without",
           "loss_change", "smooth_hinge",
           "SmoothHinge", "METHODS", "losses"]

METHODS = ("exact", "cg", "lissa")
LossFn = Callable[[Tensor, Tensor], Tensor]


# --- the objective as a function of one flat parameter vector ----------------------------------

class _Flat:
    """The trainable parameters of ``model`` as one vector θ, and the losses as functions of θ."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, l2: float):
        self.model, self.loss_fn, self.l2 = model, loss_fn, l2
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        params = [p for _, p in model.named_parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no parameter with requires_grad=True")
        self.shapes = [p.shape for p in params]
        self.sizes = [p.numel() for p in params]
        self.theta = torch.cat([p.detach().reshape(-1) for p in params])
        self.frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
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
        raise ValueError(f"{name} must be an (X, Y) pair of tensors, e.g. {name}=(X, Y); got "
                         f"{type(pair).__name__}")
    x, y = pair
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"{name} must hold tensors, got {type(x).__name__} and {type(y).__name__}; "
                        "convert them with torch.as_tensor")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name}: X has {len(x)} rows but Y has {len(y)}; they must match and "
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
            raise ValueError(f"{name}: label {bad} is not a class of the model (0..{n_classes - 1}); "
                             "check the labels")
    if y.device != x.device:
        raise ValueError(f"{name}: X is on {x.device} but Y on {y.device}; move Y with "
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


def fit(model: nn.Module, loss_fn: LossFn, X: Tensor, Y: Tensor, l2: float = 1e-2,
        max_iter: int = 500, tol: float = 1e-6, weights: Tensor | None = None) -> FitReport:
    """Train ``model`` in place to the optimum of R(θ) with full-batch L-BFGS (strong
    Wolfe line search) and return the final gradient norm. Works in float64 if the
    model and data are float64 (recommended for influence). ``weights`` multiplies
    each sample's loss (0 removes a point; used by :func:`leave_one_out`)."""
    X, Y = _check_pair("train", (X, Y), model, ("X", "Y"))
    _checks.non_negative(l2, "l2")
    _checks.positive_int(max_iter, "max_iter")
    flat = _Flat(model, loss_fn, l2)
    theta = flat.theta.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([theta], lr=1, max_iter=max_iter, tolerance_grad=tol * 1e-2,
                            tolerance_change=1e-16, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = flat.objective(theta, X, Y, weights)
        loss.backward()
        return loss
    opt.step(closure)
    iterations = opt.state[opt._params[0]]["n_iter"]
    theta = theta.detach()
    g = torch.func.grad(lambda t: flat.objective(t, X, Y, weights))(theta)
    flat.load(theta)
    model.eval()
    norm = g.norm().item()
    return FitReport(norm, int(iterations), norm <= tol)


# --- gradients, Hessian-vector products, the Hessian ---------------------------------------------

def per_sample_grads(model: nn.Module, loss_fn: LossFn, X: Tensor, Y: Tensor,
                     batch_size: int = 4096) -> Tensor:
    """∇θL(z_i, θ̂) for every sample, ``(n, P)``: ``vmap`` over ``grad``, in chunks."""
    X, Y = _check_pair("data", (X, Y), model, ("X", "Y"))
    flat = _Flat(model, loss_fn, 0.0)
    g = vmap(grad(flat.sample_loss), in_dims=(None, 0, 0))
    return batched(lambda xb, yb: g(flat.theta, xb, yb), X, Y, batch_size=batch_size)


def _hvp_fn(flat: _Flat, X: Tensor, Y: Tensor, damping: float) -> Callable[[Tensor], Tensor]:
    grad_r = grad(lambda t: flat.objective(t, X, Y))

    def hvp_one(v: Tensor) -> Tensor:                       # forward-over-reverse
        return jvp(grad_r, (flat.theta,), (v,))[1] + damping * v
    return vmap(hvp_one)                                    # (k, P) → (k, P)


def hvp(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], v: Tensor,
        l2: float = 1e-2) -> Tensor:
    """Hessian-vector products H v for the rows of ``v`` ``(k, P)`` (or one ``(P,)``),
    with ``jvp`` of ``grad`` — never forming H."""
    X, Y = _check_pair("train", train, model)
    flat = _Flat(model, loss_fn, l2)
    p = flat.theta.numel()
    if not isinstance(v, Tensor) or v.dim() not in (1, 2) or v.shape[-1] != p:
        raise ValueError(f"v must be a vector of the model's {p} parameters, (P,) or (k, P); got "
                         f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
    one = v.dim() == 1
    out = _hvp_fn(flat, X, Y, 0.0)(v[None] if one else v)
    return out[0] if one else out


def hessian(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], l2: float = 1e-2,
            max_params: int = 5000) -> Tensor:
    """The full Hessian ∇²R(θ̂), ``(P, P)``; refuses when P > ``max_params``."""
    X, Y = _check_pair("train", train, model)
    flat = _Flat(model, loss_fn, l2)
    p = flat.theta.numel()
    if p > max_params:
        raise ValueError(f"the model has {p} parameters: the exact Hessian would be {p}×{p} "
                         f"(> max_params={max_params}); use method='cg' or 'lissa'")
    return torch.func.hessian(lambda t: flat.objective(t, X, Y))(flat.theta)


# --- solving H s = g -------------------------------------------------------------------------------

def _solve_exact(H: Tensor, G: Tensor, damping: float) -> Tensor:
    A = H + damping * torch.eye(len(H), dtype=H.dtype, device=H.device)
    L, info = torch.linalg.cholesky_ex(A)
    if info.item() != 0:
        lam = torch.linalg.eigvalsh(A)[0].item()
        raise ValueError(f"the Hessian (+ damping {damping:g}) is not positive definite: its "
                         f"smallest eigenvalue is {lam:.3g}. The model is not at a minimum of a "
                         f"convex objective; pass damping > {max(-lam, 0) * 1.1 + 1e-8:.2g} (or "
                         "train it to the minimum first)")
    return torch.cholesky_solve(G.T, L).T


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
            raise ValueError("conjugate gradient met negative curvature: the Hessian (+ damping) "
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
            raise ValueError(f"conjugate gradient did not converge in {max_iter} iterations "
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


def _solve_lissa(hvp_k: Callable, G: Tensor, depth: int, scale: float | None,
                 p: int) -> Tensor:
    """LiSSA (Agarwal, Bullins & Hazan 2017), as Koh & Liang use it: the Neumann series
    h_j = g + (I − H/scale) h_{j−1}; H⁻¹g ≈ h_J / scale. Needs scale > λ_max(H)."""
    if scale is None:
        scale = 1.5 * _largest_eigenvalue(hvp_k, p, G)
    h = G.clone()
    start = G.norm(dim=1).max().item()
    for j in range(depth):
        h = G + h - hvp_k(h) / scale
        size = h.norm(dim=1).max().item()
        if not math.isfinite(size) or size > 1e6 * depth * (start + 1e-300):
            raise ValueError(f"LiSSA diverged at iteration {j + 1} (scale={scale:.3g}): the scale "
                             "must exceed the Hessian's largest eigenvalue and the Hessian (+ "
                             "damping) must be positive definite; raise scale or damping")
    return h / scale


def solve(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], G: Tensor,
          l2: float = 1e-2, method: str = "exact", damping: float = 0.0, *,
          cg_tol: float = 1e-10, cg_max_iter: int | None = None, lissa_depth: int = 1000,
          lissa_scale: float | None = None, max_params: int = 5000) -> Tensor:
    """(H + damping·I)⁻¹ g for every row g of ``G`` ``(k, P)``, by ``method``."""
    _check_options(l2, method, damping)
    _checks.positive_int(lissa_depth, "lissa_depth")
    if cg_max_iter is not None:
        _checks.positive_int(cg_max_iter, "cg_max_iter")
    X, Y = _check_pair("train", train, model)
    flat = _Flat(model, loss_fn, l2)
    p = flat.theta.numel()
    if not isinstance(G, Tensor) or G.dim() != 2 or G.shape[1] != p:
        raise ValueError(f"G must hold right-hand sides as rows, (k, {p}) for the model's {p} "
                         f"parameters; got {tuple(G.shape) if isinstance(G, Tensor) else type(G).__name__}"
                         " (one vector g: pass g[None])")
    if method == "exact":
        return _solve_exact(hessian(model, loss_fn, (X, Y), l2, max_params), G, damping)
    hvp_k = _hvp_fn(flat, X, Y, damping)
    if method == "cg":
        return _solve_cg(hvp_k, G, cg_tol, cg_max_iter or 10 * flat.theta.numel())
    return _solve_lissa(hvp_k, G, lissa_depth, lissa_scale, flat.theta.numel())


# --- influence -------------------------------------------------------------------------------------

def _optimum_check(model, loss_fn, X, Y, l2, tol: float = 1e-3) -> float:
    flat = _Flat(model, loss_fn, l2)
    norm = grad(lambda t: flat.objective(t, X, Y))(flat.theta).norm().item()
    if norm > tol:
        warnings.warn(f"the model is not at an optimum of R (‖∇R(θ̂)‖ = {norm:.2g} > {tol:g}); "
                      "influence assumes one — train with xaitutor.influence.fit first",
                      stacklevel=3)
    return norm


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
    to 1.5× the largest eigenvalue found by power iteration)."""
    _checks.module(model)
    _check_options(l2, method, damping)
    X, Y = _check_pair("train", train, model)
    Xt, Yt = _check_pair("test", test, model)
    if X.shape[1:] != Xt.shape[1:]:
        raise ValueError(f"train inputs have shape {tuple(X.shape[1:])} but test inputs "
                         f"{tuple(Xt.shape[1:])}")
    norm = _optimum_check(model, loss_fn, X, Y, l2)
    g_train = per_sample_grads(model, loss_fn, X, Y)               # (n, P)
    g_test = per_sample_grads(model, loss_fn, Xt, Yt)              # (m, P)
    s_test = solve(model, loss_fn, (X, Y), g_test, l2, method, damping, **opts)   # (m, P)
    result = s_test @ g_train.T / len(X)
    result.info = {"method": method, "grad_norm": norm, "damping": damping}
    return result


def self_influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                   l2: float = 1e-2, method: str = "exact", damping: float = 0.0,
                   **opts) -> Tensor:
    """I(i, i) = (1/n) ∇θL(z_i)ᵀ H⁻¹ ∇θL(z_i), ``(n,)``: how much point i's own loss
    rests on i being in the training set. Mislabelled points rank high (Koh & Liang, Sec. 5.4)."""
    _checks.module(model)
    _check_options(l2, method, damping)
    X, Y = _check_pair("train", train, model)
    _optimum_check(model, loss_fn, X, Y, l2)
    g = per_sample_grads(model, loss_fn, X, Y)
    s = solve(model, loss_fn, (X, Y), g, l2, method, damping, **opts)
    return (s * g).sum(1) / len(X)


def perturbation_influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                           test: tuple[Tensor, Tensor], l2: float = 1e-2, method: str = "exact",
                           damping: float = 0.0, **opts) -> Tensor:
    """How the test loss moves when a training *input* is nudged (Koh & Liang's
    I_pert,loss, with the 1/n of our objective):

        d L(z_t, θ̂) / d x_i = −(1/n) ∇θL(z_t)ᵀ H⁻¹ ∇x∇θL(z_i, θ̂).

    Returns ``(n_test, n_train, *x.shape[1:])``."""
    _checks.module(model)
    _check_options(l2, method, damping)
    X, Y = _check_pair("train", train, model)
    Xt, Yt = _check_pair("test", test, model)
    _optimum_check(model, loss_fn, X, Y, l2)
    flat = _Flat(model, loss_fn, l2)
    g_test = per_sample_grads(model, loss_fn, Xt, Yt)
    s_test = solve(model, loss_fn, (X, Y), g_test, l2, method, damping, **opts)   # (m, P)

    def directional(s: Tensor, x: Tensor, y: Tensor) -> Tensor:    # s · ∇θL(x, y)
        return (s * grad(flat.sample_loss)(flat.theta, x, y)).sum()
    d_dx = grad(directional, argnums=1)                             # ∇x (s · ∇θL)
    per_test = vmap(vmap(d_dx, in_dims=(None, 0, 0)), in_dims=(0, None, None))
    return -per_test(s_test, X, Y) / len(X)


# --- the reference: leave one out and retrain ---------------------------------------------------------

def losses(model: nn.Module, loss_fn: LossFn, test: tuple[Tensor, Tensor]) -> Tensor:
    """L(z_t, θ) for every test point, ``(m,)``."""
    flat = _Flat(model, loss_fn, 0.0)
    Xt, Yt = _check_pair("test", test, model)
    with torch.no_grad():
        return vmap(flat.sample_loss, in_dims=(None, 0, 0))(flat.theta, Xt, Yt)


def retrain_without(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], indices,
                    l2: float = 1e-2, max_iter: int = 500, tol: float = 1e-8,
                    progress: bool = True) -> Tensor:
    """For each training index i in ``indices``: drop i's term from R (the 1/n stays, as
    in the definition), retrain from θ̂ with L-BFGS to ‖∇R‖ ≤ ``tol``. Returns the
    retrained parameter vectors ``(len(indices), P)``; the model is left at θ̂."""
    import copy

    from tqdm.auto import tqdm

    _checks.module(model)
    X, Y = _check_pair("train", train, model)
    theta = _Flat(model, loss_fn, l2).theta
    work = copy.deepcopy(model)
    out = []
    for i in tqdm(list(indices), desc="leave one out", leave=False, disable=not progress):
        if not 0 <= int(i) < len(X):
            raise ValueError(f"indices: {int(i)} is not a training point; pick indices in "
                             f"0..{len(X) - 1}")
        work_flat = _Flat(work, loss_fn, l2)
        work_flat.load(theta)
        w = torch.ones(len(X), dtype=X.dtype, device=X.device)
        w[int(i)] = 0.0
        report = fit(work, loss_fn, X, Y, l2=l2, max_iter=max_iter, tol=tol, weights=w)
        if report.grad_norm > 100 * tol:
            warnings.warn(f"leave-one-out retraining without {int(i)}: {report}", stacklevel=2)
        out.append(_Flat(work, loss_fn, l2).theta)
    return torch.stack(out)


def loss_change(model: nn.Module, loss_fn: LossFn, thetas: Tensor, test: tuple[Tensor, Tensor]
                ) -> Tensor:
    """L(z_t, θ_k) − L(z_t, θ̂) for parameter vectors ``thetas`` ``(K, P)`` (e.g. from
    :func:`retrain_without`) and every test point: ``(n_test, K)``."""
    flat = _Flat(model, loss_fn, 0.0)
    Xt, Yt = _check_pair("test", test, model)
    p = flat.theta.numel()
    if not isinstance(thetas, Tensor) or thetas.dim() != 2 or thetas.shape[1] != p:
        raise ValueError(f"thetas must be parameter vectors (K, {p}), e.g. from retrain_without; "
                         f"got {tuple(thetas.shape) if isinstance(thetas, Tensor) else type(thetas).__name__}")
    per_theta = vmap(lambda th: vmap(flat.sample_loss, in_dims=(None, 0, 0))(th, Xt, Yt))
    with torch.no_grad():
        return (per_theta(thetas) - losses(model, loss_fn, (Xt, Yt))).T


def leave_one_out(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                  test: tuple[Tensor, Tensor], indices, l2: float = 1e-2, max_iter: int = 500,
                  tol: float = 1e-8, progress: bool = True) -> Tensor:
    """The ground truth that influence approximates: the actual change of every test loss
    after removing each training point in ``indices`` and retraining,
    ``(n_test, len(indices))``."""
    thetas = retrain_without(model, loss_fn, train, indices, l2, max_iter, tol, progress)
    return loss_change(model, loss_fn, thetas, test)


# --- a smooth hinge, for the SVM experiment ---------------------------------------------------------

def smooth_hinge(outputs: Tensor, targets: Tensor, t: float = 0.1) -> Tensor:
    """Smooth hinge loss (Koh & Liang, Sec. 4.1): t·log(1 + exp((1 − s)/t)) with margin
    s = ±1 · output (targets 1 → +1, 0 → −1), averaged. As t → 0 it becomes the SVM's
    hinge max(0, 1 − s), whose Hessian is zero almost everywhere."""
    if t <= 0:
        raise ValueError(f"the temperature t must be > 0, got {t}")
    s = (2 * targets.to(outputs.dtype) - 1) * outputs.reshape(len(targets))
    return (t * F.softplus((1 - s) / t)).mean()


class SmoothHinge(nn.Module):
    """``smooth_hinge`` as a loss module with temperature ``t``."""

    def __init__(self, t: float = 0.1):
        super().__init__()
        self.t = t

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return smooth_hinge(outputs, targets, self.t)
