"""The closed-form steps the counterfactual search is made of: the proximal step of each
penalty (soft, hard and group soft thresholds) and the exact step of the linearised
problem (:func:`lp_step`, a fractional knapsack)."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["soft_threshold", "hard_threshold", "group_soft_threshold", "lp_step"]

#: Below this, a norm or a gradient counts as zero (a division guard, not a tolerance).
TINY = 1e-12


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
        out[..., g] = v[..., g] * (1 - tg / norm.clamp_min(TINY)).clamp_min(0.0)
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
