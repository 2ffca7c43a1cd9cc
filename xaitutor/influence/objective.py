"""The objective R(θ) = (1/n) Σ L(z_i, θ) + (l2/2) ‖θ‖² as a function of one flat parameter
vector, training to its optimum, and its derivatives: per-sample gradients, Hessian-vector
products and the Hessian."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .. import _checks
from .solvers import METHODS
from .._batching import batched


LossFn = Callable[[Tensor, Tensor], Tensor]


# --- the objective as a function of one flat parameter vector ----------------------------------

class Flat:
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


def check_pair(name: str, pair, model: nn.Module, names: tuple[str, str] | None = None
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


def check_options(l2: float, method: str, damping: float) -> None:
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
    X, Y = check_pair("train", (X, Y), model, ("X", "Y"))
    _checks.non_negative(l2, "l2")
    _checks.positive_int(max_iter, "max_iter")
    flat = Flat(model, loss_fn, l2)
    theta, norm, iterations = _lbfgs(lambda t: flat.objective(t, X, Y, weights), flat.theta,
                                     tol, max_iter)
    flat.load(theta)
    model.eval()
    return FitReport(norm, int(iterations), norm <= tol)


# --- gradients, Hessian-vector products, the Hessian ---------------------------------------------

def grads(flat: Flat, X: Tensor, Y: Tensor, batch_size: int | None = 4096) -> Tensor:
    g = vmap(grad(flat.sample_loss), in_dims=(None, 0, 0))
    return batched(lambda xb, yb: g(flat.theta, xb, yb), X, Y, batch_size=batch_size)


def per_sample_grads(model: nn.Module, loss_fn: LossFn, X: Tensor, Y: Tensor,
                     batch_size: int = 4096) -> Tensor:
    """∇θL(z_i, θ̂) for every sample, ``(n, P)``: ``vmap`` over ``grad``, in chunks."""
    X, Y = check_pair("data", (X, Y), model, ("X", "Y"))
    return grads(Flat(model, loss_fn, 0.0), X, Y, batch_size)


def hvp_at(objective: Callable[[Tensor], Tensor], theta: Tensor, damping: float = 0.0
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


def hvp_fn(flat: Flat, X: Tensor, Y: Tensor, damping: float = 0.0) -> Callable[[Tensor], Tensor]:
    """(H + damping·I) v for the rows of ``V``, H = ∇²R(θ̂)."""
    return hvp_at(lambda t: flat.objective(t, X, Y), flat.theta, damping)


def hvp(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], v: Tensor,
        l2: float = 1e-2) -> Tensor:
    """Hessian-vector products H v for the rows of ``v`` ``(k, P)`` (or one ``(P,)``),
    by differentiating the gradient again — never forming H."""
    X, Y = check_pair("train", train, model)
    flat = Flat(model, loss_fn, l2)
    p = flat.theta.numel()
    if not isinstance(v, Tensor) or v.dim() not in (1, 2) or v.shape[-1] != p:
        raise _checks.BadInput(f"v must be a vector of the model's {p} parameters, (P,) or (k, P); got "
                               f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
    one = v.dim() == 1
    out = hvp_fn(flat, X, Y, 0.0)(v[None] if one else v)
    return out[0] if one else out


def check_size(p: int, max_params: int) -> None:
    if p > max_params:
        raise _checks.BadInput(f"the model has {p} parameters: the exact Hessian would be {p}×{p} "
                               f"(> max_params={max_params}); use method='cg' or 'lissa'")


def hessian(model: nn.Module, loss_fn: LossFn, train: tuple[Tensor, Tensor], l2: float = 1e-2,
            max_params: int = 5000) -> Tensor:
    """The full Hessian ∇²R(θ̂), ``(P, P)``; refuses when P > ``max_params``."""
    X, Y = check_pair("train", train, model)
    flat = Flat(model, loss_fn, l2)
    check_size(flat.theta.numel(), max_params)
    return torch.func.hessian(lambda t: flat.objective(t, X, Y))(flat.theta)
