"""What the counterfactual search minimises, for one request of
:func:`~xaitutor.counterfactuals.optimize`:

    max(0, margin − s(x + δ))  +  lam · dist(δ)  +  mu · R(δ)

with s the target's logit minus the largest other logit (> 0: the target wins), ``dist``
L1, squared L2 or MAD-weighted L1 and R the sparsity penalty (L1, group lasso or L0).
:class:`Objective` holds the model and the weights and evaluates each part; the search
and the polish both score points with it, so they measure the same thing."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Objective", "DISTANCES", "SPARSITY"]

DISTANCES = ("l1", "l2", "mad")
SPARSITY = ("l1", "l0", "group")
#: A feature counts as changed (the L0 penalty) when some column moves by more than this.
CHANGED = 1e-9


@dataclass
class Objective:
    """The parts of the objective for targets ``t`` ``(N,)``: ``w`` ``(D,)`` the weight
    of each column in ``dist`` (1/MAD, or 1), ``feats`` the original features (for the
    group and L0 penalties)."""
    model: nn.Module
    t: Tensor
    w: Tensor
    lam: float
    mu: float
    distance: str
    sparsity: str
    margin: float
    feats: list[list[int]]
    n_classes: int

    def scores(self, cf: Tensor, targets: Tensor | None = None) -> Tensor:
        """s = z_target − max_other z of points ``(N, ..., D)``; ``targets`` of the
        points' leading shape (default: row i's target for every point of row i)."""
        if targets is None:
            targets = self.t.view(-1, *[1] * (cf.dim() - 2)).expand(cf.shape[:-1])
        z = self.model(cf.reshape(-1, cf.shape[-1])).view(*cf.shape[:-1], -1)
        z_t = z.gather(-1, targets[..., None]).squeeze(-1)
        others = z.masked_fill(F.one_hot(targets, self.n_classes).bool(), float("-inf"))
        return z_t - others.amax(-1)

    def score_and_grad(self, cf: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The scores of ``cf`` and their gradients with respect to ``cf``."""
        cf = cf.detach().requires_grad_(True)
        s = self.scores(cf, targets)
        (g,) = torch.autograd.grad(s.sum(), cf)
        return s.detach(), g

    def dist(self, a: Tensor, b: Tensor) -> Tensor:
        """dist(a − b) over the last dimension: Σ_j w_j|·| or Σ_j (w_j ·)²."""
        diff = (a - b) * self.w
        return (diff ** 2).sum(-1) if self.distance == "l2" else diff.abs().sum(-1)

    def penalty(self, x: Tensor, x_cf: Tensor) -> Tensor:
        """lam · dist(δ) + mu · R(δ) of every point (the objective the polish compares)."""
        delta = x_cf - x
        value = self.lam * self.dist(x_cf, x)
        if self.sparsity == "l1":
            value = value + self.mu * delta.abs().sum(-1)
        elif self.sparsity == "group":
            value = value + self.mu * sum(delta[..., f].norm(dim=-1) for f in self.feats)
        else:
            value = value + self.mu * sum((delta[..., f].abs() > CHANGED).any(-1).to(x.dtype)
                                          for f in self.feats)
        return value

    def unit_cost(self) -> Tensor:
        """The price of one unit of change of each column, ``(D,)``, in the L1 costs: lam·w_j,
        plus mu unless mu prices whole features (L0)."""
        return self.lam * self.w + self.mu * (self.sparsity != "l0")
