"""The reference: leave one out and retrain (Newton's method to the same optimum), and the
loss changes that influence predicts."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from .. import _checks
from .objective import Flat, LossFn, check_pair, hvp_at
from .solvers import solve_cg, warn


# --- the reference: leave one out and retrain ---------------------------------------------------------

def losses(model: nn.Module, loss_fn: LossFn, test: tuple[Tensor, Tensor]) -> Tensor:
    """L(z_t, θ) for every test point, ``(m,)``."""
    flat = Flat(model, loss_fn, 0.0)
    Xt, Yt = check_pair("test", test, model)
    with torch.no_grad():
        return vmap(flat.sample_loss, in_dims=(None, 0, 0))(flat.theta, Xt, Yt)


def _dense_hessian(objective: Callable[[Tensor], Tensor], theta: Tensor) -> Tensor:
    """∇²objective(θ) as the Hessian-vector products of the identity's rows: one batched
    second backward pass (~3× faster than ``torch.func.hessian`` here; equal to round-off)."""
    return hvp_at(objective, theta)(torch.eye(len(theta), dtype=theta.dtype, device=theta.device))


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
                step = -solve_cg(hvp_at(objective, theta), g[None], 1e-10, 10 * len(g))[0]
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
    X, Y = check_pair("train", train, model)
    _checks.non_negative(l2, "l2")
    _checks.positive_int(max_iter, "max_iter")
    _checks.positive(tol, "tol")
    indices = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
    for i in indices:
        if not 0 <= i < len(X):
            raise _checks.BadInput(f"indices: {i} is not a training point; pick indices in "
                                   f"0..{len(X) - 1}")
    flat = Flat(model, loss_fn, l2)
    n, dense = len(X), flat.theta.numel() <= max_params

    def full(t: Tensor) -> Tensor:
        return flat.objective(t, X, Y)
    if indices:
        start, norm, iters = _newton(full, flat.theta, tol, max_iter, dense=dense)
        if not norm <= 100 * tol:
            warn(f"Newton's method from the model's parameters did not reach an optimum of R "
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
            warn(f"leave-one-out retraining without {i} did not converge (Newton: {iters} "
                  f"iterations, ‖∇R₋ᵢ‖ = {norm:.1e} > 100 × tol = {100 * tol:.0e}); raise "
                  "max_iter, or check that the model is at a minimum of a smooth objective")
        out.append(theta)
    return torch.stack(out) if out else flat.theta.new_zeros(0, flat.theta.numel())


def loss_change(model: nn.Module, loss_fn: LossFn, thetas: Tensor, test: tuple[Tensor, Tensor]
                ) -> Tensor:
    """L(z_t, θ_k) − L(z_t, θ̂) for parameter vectors ``thetas`` ``(K, P)`` (e.g. from
    :func:`retrain_without`) and every test point: ``(n_test, K)``."""
    flat = Flat(model, loss_fn, 0.0)
    Xt, Yt = check_pair("test", test, model)
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
    check_pair("test", test, model)
    thetas = retrain_without(model, loss_fn, train, indices, l2, max_iter, tol, progress,
                             max_params)
    return loss_change(model, loss_fn, thetas, test)
