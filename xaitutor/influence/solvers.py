"""Solving H s = g: a Cholesky factor (exact), conjugate gradient and LiSSA (with the power
iteration that scales it and the estimate of its error)."""
from __future__ import annotations

import math
import sys
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import _checks

METHODS = ("exact", "cg", "lissa")     # how (H + damping·I)⁻¹g is solved


# --- solving H s = g -------------------------------------------------------------------------------

def warn(message: str) -> None:
    """A UserWarning pointing at the first line outside this module (the learner's call)."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def cholesky(A: Tensor, what: str) -> Tensor:
    L, info = torch.linalg.cholesky_ex(A)
    if info.item() != 0:
        lam = torch.linalg.eigvalsh(A)[0].item()
        raise _checks.BadInput(f"{what} is not positive definite: its smallest eigenvalue is {lam:.3g}. "
                               "The model is not at a minimum of a convex objective; pass damping > "
                               f"{max(-lam, 0) * 1.1 + 1e-8:.2g} (or train it to the minimum first)")
    return L


def solve_cg(hvp_k: Callable, G: Tensor, tol: float, max_iter: int) -> Tensor:
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


def largest_eigenvalue(hvp_k: Callable, p: int, like: Tensor, iters: int = 50) -> float:
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


@dataclass(frozen=True)
class LissaReport:
    """How a LiSSA solve went: its ``depth`` and ``scale``, the measured relative residual
    max ‖g − Hs‖/‖g‖, the estimated relative error of s and the λ_min estimate behind it
    (of the worst row)."""
    depth: int
    scale: float
    residual: float
    error_estimate: float
    lambda_min_estimate: float


def solve_lissa(hvp_k: Callable, G: Tensor, depth: int, scale: float, tol: float,
                 progress: bool = True) -> tuple[Tensor, LissaReport]:
    """LiSSA (Agarwal, Bullins & Hazan 2017), as Koh & Liang use it: the Neumann series
    h_j = g + (I − H/scale) h_{j−1}; H⁻¹g ≈ s = h_J / scale. Needs scale > λ_max(H).

    Its accuracy is measured, not assumed. What is left after J steps is H⁻¹r with r = g − Hs
    (measured with one batched Hessian-vector product), so ‖s − H⁻¹g‖ ≤ ‖r‖ / λ_min. LiSSA is
    a power iteration on I − H/scale: its steps h_j − h_{j−1} = (I − H/scale)^j g end up
    shrinking by ρ = 1 − λ_min/scale each, which estimates λ_min. When the estimated
    relative error ‖r‖ / (λ_min ‖s‖) of any row exceeds ``tol``, a UserWarning says so, with
    the depth that would reach ``tol`` at that rate. Returns s and a :class:`LissaReport`."""
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
    report = LissaReport(depth, scale, (residual / g_norm.clamp_min(1e-300)).max().item(),
                         error[worst].item(), lam_min[worst].item())
    if report.error_estimate > tol:
        rho = rate[worst].item()
        if rho >= 1:
            advice = ("its steps are not shrinking: the Hessian (+ damping) is not positive "
                      "definite or the scale is too small. Add damping, or use method='exact' "
                      "(which says which)")
        else:
            more = 1.5 * math.log(tol / report.error_estimate) / math.log(rho)   # 1.5: the rate
            needed = _round_up(depth + more)                  # estimate is optimistic early on
            advice = (f"its steps shrink by only a factor 1 − {1 - rho:.1e} each (an eigenvalue "
                      f"of H ≈ {report.lambda_min_estimate:.1e} against scale {scale:.3g}). "
                      f"Raise lissa_depth to about {needed:,} or more, add damping (which "
                      "changes the question), or use method='cg' or 'exact'")
        warn(f"LiSSA is inaccurate after lissa_depth={depth} steps: the relative residual "
              f"‖Hs − g‖/‖g‖ is {report.residual:.1e}, so s is about "
              f"{report.error_estimate:.0%} away from H⁻¹g (estimated; lissa_tol={tol:g}); "
              f"{advice}")
    return s, report


def check_solver_options(cg_tol: float = 1e-10, cg_max_iter: int | None = None,
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
