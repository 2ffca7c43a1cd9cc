"""The SVM experiment: a smooth hinge (influence needs a twice-differentiable loss) and the
hinge SVM itself, solved exactly by its dual (the ground truth)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from .objective import check_pair


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
    X, Y = check_pair("train", (X, Y), model, ("X", "Y"))
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
    X, Y = check_pair("train", train, model)
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
