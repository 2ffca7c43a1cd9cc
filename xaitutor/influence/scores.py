"""Influence scores: :class:`Influence` keeps what every query on one training set shares;
:func:`influence`, :func:`self_influence`, :func:`perturbation_influence` and :func:`solve`
ask it once."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from .. import _checks
from .objective import Flat, LossFn, check_options, check_pair, check_size, grads, hvp_fn
from .solvers import (LissaReport, check_solver_options, cholesky, largest_eigenvalue, solve_cg,
                      solve_lissa, warn)


@dataclass
class Solution:
    """What :meth:`Influence.solve` and :func:`solve` return: ``s`` ``(k, P)``, the rows
    (H + damping·I)⁻¹g, the ``method`` and ``damping`` that made them, and for LiSSA how
    accurate they are (:class:`~.solvers.LissaReport`)."""
    s: Tensor
    method: str
    damping: float
    lissa: LissaReport | None = None


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
        self.train = check_pair("train", train, model)
        self._flat = Flat(model, loss_fn, l2)
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
        now = Flat(self.model, self.loss_fn, self.l2)
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
                warn(f"the model is not at an optimum of R (‖∇R(θ̂)‖ = {self._grad_norm:.2g} > "
                      "0.001); influence assumes one — train with xaitutor.influence.fit first")
        return self._grad_norm

    @property
    def train_grads(self) -> Tensor:
        """∇θL(z_i, θ̂) for every training point, ``(n, P)``."""
        if self._train_grads is None:
            self._train_grads = grads(self._flat, *self.train)
        return self._train_grads

    def hessian(self, max_params: int = 5000) -> Tensor:
        """H = ∇²R(θ̂), ``(P, P)``; refuses when P > ``max_params``."""
        check_size(self.n_params, max_params)
        if self._hessian is None:
            X, Y = self.train
            self._hessian = torch.func.hessian(lambda t: self._flat.objective(t, X, Y))(self._flat.theta)
        return self._hessian

    def _hvp(self, damping: float) -> Callable[[Tensor], Tensor]:
        if self._hvp_base is None:
            self._hvp_base = hvp_fn(self._flat, *self.train)
        base = self._hvp_base
        return base if not damping else (lambda V: base(V) + damping * V)

    def _factor(self, damping: float, max_params: int) -> Tensor:
        if damping not in self._factors:
            H = self.hessian(max_params)
            eye = torch.eye(len(H), dtype=H.dtype, device=H.device)
            self._factors[damping] = cholesky(H + damping * eye,
                                               f"the Hessian (+ damping {damping:g})")
        return self._factors[damping]

    def solve(self, G: Tensor, method: str = "exact", damping: float = 0.0, *,
              cg_tol: float = 1e-10, cg_max_iter: int | None = None, lissa_depth: int = 1000,
              lissa_scale: float | None = None, lissa_tol: float = 1e-2, progress: bool = True,
              max_params: int = 5000) -> Solution:
        """(H + damping·I)⁻¹ g for every row g of ``G`` ``(k, P)``, by ``method``, as a
        :class:`Solution` (for LiSSA with its measured residual and estimated error)."""
        check_options(self.l2, method, damping)
        check_solver_options(cg_tol, cg_max_iter, lissa_depth, lissa_scale, lissa_tol, progress,
                              max_params)
        p = self.n_params
        if not isinstance(G, Tensor) or G.dim() != 2 or G.shape[1] != p:
            raise _checks.BadInput(f"G must hold right-hand sides as rows, (k, {p}) for the model's {p} "
                                   f"parameters; got {tuple(G.shape) if isinstance(G, Tensor) else type(G).__name__}"
                                   " (one vector g: pass g[None])")
        self._unchanged()
        report = None
        if method == "exact":
            s = torch.cholesky_solve(G.T, self._factor(damping, max_params)).T
        else:
            hvp_k = self._hvp(damping)
            if method == "cg":
                s = solve_cg(hvp_k, G, cg_tol, cg_max_iter or 10 * p)
            else:
                if lissa_scale is None:
                    if damping not in self._scales:
                        self._scales[damping] = 1.5 * largest_eigenvalue(hvp_k, p, G)
                    lissa_scale = self._scales[damping]
                s, report = solve_lissa(hvp_k, G, lissa_depth, lissa_scale, lissa_tol, progress)
        return Solution(s, method, damping, report)

    def _test(self, test) -> tuple[Tensor, Tensor]:
        Xt, Yt = check_pair("test", test, self.model)
        if self.train[0].shape[1:] != Xt.shape[1:]:
            raise _checks.BadInput(f"train inputs have shape {tuple(self.train[0].shape[1:])} but test "
                                   f"inputs {tuple(Xt.shape[1:])}")
        return Xt, Yt

    def scores(self, test: tuple[Tensor, Tensor], method: str = "exact", damping: float = 0.0,
               **opts) -> Tensor:
        """I(i, t) for every test point t and training point i, ``(n_test, n_train)`` (see
        :func:`influence`). (The solver's diagnostics: :meth:`solve`.)"""
        check_options(self.l2, method, damping)
        check_solver_options(**opts)
        Xt, Yt = self._test(test)
        self._unchanged()
        self.grad_norm                                                  # warns when not small
        s_test = self.solve(grads(self._flat, Xt, Yt), method, damping, **opts).s   # (m, P)
        return s_test @ self.train_grads.T / len(self.train[0])

    def self_scores(self, method: str = "exact", damping: float = 0.0, **opts) -> Tensor:
        """I(i, i) for every training point, ``(n,)`` (see :func:`self_influence`)."""
        check_options(self.l2, method, damping)
        check_solver_options(**opts)
        self._unchanged()
        self.grad_norm                                                  # warns when not small
        s = self.solve(self.train_grads, method, damping, **opts).s
        return (s * self.train_grads).sum(1) / len(self.train[0])

    def perturbation_scores(self, test: tuple[Tensor, Tensor], method: str = "exact",
                            damping: float = 0.0, **opts) -> Tensor:
        """d L(z_t) / d x_i, ``(n_test, n_train, *x.shape[1:])`` (see
        :func:`perturbation_influence`)."""
        check_options(self.l2, method, damping)
        check_solver_options(**opts)
        Xt, Yt = self._test(test)
        self._unchanged()
        self.grad_norm
        flat, (X, Y) = self._flat, self.train
        s_test = self.solve(grads(flat, Xt, Yt), method, damping, **opts).s   # (m, P)

        def directional(s: Tensor, x: Tensor, y: Tensor) -> Tensor:    # s · ∇θL(x, y)
            return (s * grad(flat.sample_loss)(flat.theta, x, y)).sum()
        d_dx = grad(directional, argnums=1)                             # ∇x (s · ∇θL)
        per_test = vmap(vmap(d_dx, in_dims=(None, 0, 0)), in_dims=(0, None, None))
        return -per_test(s_test, X, Y) / len(X)


def solve(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], G: Tensor,
          l2: float = 1e-2, method: str = "exact", damping: float = 0.0, **opts) -> Solution:
    """(H + damping·I)⁻¹ g for every row g of ``G`` ``(k, P)``, by ``method``, as a
    :class:`Solution` (options as
    in :class:`Influence`: ``cg_tol``, ``cg_max_iter``, ``lissa_depth``, ``lissa_scale``,
    ``lissa_tol``, ``progress``, ``max_params``)."""
    check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).solve(G, method, damping, **opts)


# --- influence -------------------------------------------------------------------------------------

def influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
              test: tuple[Tensor, Tensor], l2: float = 1e-2, method: str = "exact",
              damping: float = 0.0, **opts) -> Tensor:
    """I(i, t) = (1/n) ∇θL(z_t)ᵀ (H + damping·I)⁻¹ ∇θL(z_i): the predicted change of the
    loss on test point t when training point i is removed and the model retrained
    (positive: i helped t). Returns ``(n_test, n_train)``; a warning is raised when the
    gradient norm at θ̂ is not small (the formula assumes an optimum).

    ``method``: ``"exact"`` (H formed and factorised; refuses above ``max_params``),
    ``"cg"`` (conjugate gradient on Hessian-vector products; ``cg_tol``,
    ``cg_max_iter``) or ``"lissa"`` (``lissa_depth``, ``lissa_scale``; the scale defaults
    to 1.5× the largest eigenvalue found by power iteration; a warning when the estimated
    error exceeds ``lissa_tol``, with the depth that would do). Many queries on one
    training set: build an :class:`Influence` once and call its ``scores``."""
    _checks.module(model)
    check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).scores(test, method, damping, **opts)


def self_influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                   l2: float = 1e-2, method: str = "exact", damping: float = 0.0,
                   **opts) -> Tensor:
    """I(i, i) = (1/n) ∇θL(z_i)ᵀ H⁻¹ ∇θL(z_i), ``(n,)``: how much point i's own loss
    rests on i being in the training set. Mislabelled points rank high (Koh & Liang, Sec. 5.4)."""
    _checks.module(model)
    check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).self_scores(method, damping, **opts)


def perturbation_influence(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor],
                           test: tuple[Tensor, Tensor], l2: float = 1e-2, method: str = "exact",
                           damping: float = 0.0, **opts) -> Tensor:
    """How the test loss moves when a training *input* is nudged (Koh & Liang's
    I_pert,loss, with the 1/n of our objective):

        d L(z_t, θ̂) / d x_i = −(1/n) ∇θL(z_t)ᵀ H⁻¹ ∇x∇θL(z_i, θ̂).

    Returns ``(n_test, n_train, *x.shape[1:])``."""
    _checks.module(model)
    check_options(l2, method, damping)
    return Influence(model, loss_fn, train, l2).perturbation_scores(test, method, damping, **opts)
