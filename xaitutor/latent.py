"""Counterfactuals in the latent space of a variational autoencoder: search where the
data lives, decode, and the result looks like data.

* :class:`VAE` and :func:`train_vae` — Kingma & Welling (2014): an MLP encoder gives
  q(z|x) = N(μ, diag σ²), an MLP decoder p(x|z); training maximises the ELBO
  E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I)). Likelihoods: ``"bernoulli"`` (images in
  [0, 1]), ``"gaussian"`` (unit variance), ``"mixed"`` (Gaussian numeric columns first,
  then one categorical softmax per one-hot group: tabular data).
* :func:`counterfactual` — ``"revise"`` (Joshi et al. 2019: gradient descent on z for
  the prediction loss + λ·‖decode(z) − x‖₁) and ``"cchvae"`` (Pawelczyk et al. 2020:
  random search on growing spheres around the code of x, keeping the closest valid
  decoded point). Both batched over rows; every decoded point is projected on the
  :class:`~xaitutor.constraints.Constraints` (immutable columns copied from x).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks
from .core import train
from .constraints import Constraints
from .counterfactuals import Search, check_request

__all__ = ["VAE", "train_vae", "counterfactual", "LatentCounterfactuals", "METHODS",
           "kl_divergence"]

METHODS = ("revise", "cchvae")


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per row, in closed form:
    ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)  (Kingma & Welling 2014, Appendix B)."""
    if not (isinstance(mu, Tensor) and isinstance(logvar, Tensor)) or mu.shape != logvar.shape \
            or mu.dim() != 2:
        raise _checks.BadInput("mu and logvar must be tensors of one shape (N, latent_dim), as "
                               "vae.encode(x) returns them; got "
                               f"{getattr(mu, 'shape', type(mu).__name__)} and "
                               f"{getattr(logvar, 'shape', type(logvar).__name__)}")
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)


class VAE(nn.Module):
    """MLP encoder and decoder around a Gaussian latent of size ``latent_dim``."""

    def __init__(self, n_features: int, latent_dim: int = 2, hidden: int = 128,
                 likelihood: str = "bernoulli", categorical: list[list[int]] | None = None):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian", "mixed"):
            raise _checks.BadInput(f"likelihood must be 'bernoulli', 'gaussian' or 'mixed', got {likelihood!r}")
        self.n_features, self.latent_dim, self.likelihood = n_features, latent_dim, likelihood
        self.groups = [list(g) for g in (categorical or [])]
        in_groups = {j for g in self.groups for j in g}
        self.numeric = [j for j in range(n_features) if j not in in_groups]
        if likelihood == "mixed" and not self.groups:
            raise _checks.BadInput("likelihood='mixed' needs categorical=[[one-hot columns], ...]")
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_features))

    def _check(self, x: Tensor) -> None:
        _checks.tensor(x, "x", model=self)
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise _checks.BadInput(f"this VAE takes (N, {self.n_features}) inputs, got {tuple(x.shape)}; "
                                   "flatten images with x.flatten(1)")

    def forward(self, x: Tensor) -> Tensor:
        """``vae(x)``: the reconstruction of x through the mean code (as :meth:`reconstruct`)."""
        return self.reconstruct(x)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²) of q(z | x), each ``(N, latent_dim)``."""
        self._check(x)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor, hard: bool = False) -> Tensor:
        """The mean of p(x | z) ``(N, D)``: sigmoid pixels, raw numbers, or category
        probabilities — one-hot with ``hard=True`` (valid categories)."""
        raw = self.decoder(z)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(raw)
        out = raw.clone()
        for g in self.groups:
            probs = raw[:, g].softmax(1)
            out[:, g] = F.one_hot(probs.argmax(1), len(g)).to(raw.dtype) if hard else probs
        return out

    def reconstruction_nll(self, x: Tensor, raw: Tensor) -> Tensor:
        """−log p(x | z) per sample (up to constants), from the decoder's raw output."""
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(raw, x, reduction="none").sum(1)
        if self.likelihood == "gaussian":
            return 0.5 * ((raw - x) ** 2).sum(1)
        nll = 0.5 * ((raw[:, self.numeric] - x[:, self.numeric]) ** 2).sum(1)
        for g in self.groups:
            nll = nll + F.cross_entropy(raw[:, g], x[:, g].argmax(1), reduction="none")
        return nll

    def negative_elbo(self, x: Tensor, sample: bool = True, beta: float = 1.0) -> Tensor:
        """−ELBO per sample: reconstruction NLL + β·KL(q(z|x) ‖ N(0, I))."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        kl = kl_divergence(mu, logvar)
        return self.reconstruction_nll(x, self.decoder(z)) + beta * kl

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)[0], hard=bool(self.groups))


def train_vae(X: Tensor, latent_dim: int = 2, likelihood: str = "bernoulli",
              categorical: list[list[int]] | None = None, hidden: int = 128, epochs: int = 100,
              batch_size: int = 128, lr: float = 2e-3, beta: float = 1.0, seed: int = 0,
              progress: bool = True) -> VAE:
    """Train a :class:`VAE` on the rows of ``X`` by minimising −ELBO (Adam, seeded
    mini-batches); returns it in eval mode on X's device."""
    _checks.tensor(X, "X", finite=False)
    if X.dim() != 2 or len(X) < 2:
        raise _checks.BadInput(f"X must be (N, D) with N ≥ 2, got {tuple(X.shape)}; flatten images "
                               "first with X.flatten(1)")
    _checks.tensor(X, "X")
    _checks.choice(likelihood, "likelihood", ("bernoulli", "gaussian", "mixed"))
    _checks.positive_int(latent_dim, "latent_dim")
    _checks.positive_int(hidden, "hidden")
    _checks.non_negative(beta, "beta")
    if likelihood == "bernoulli" and (X.min() < 0 or X.max() > 1):
        raise _checks.BadInput("a Bernoulli likelihood needs values in [0, 1]; use likelihood='gaussian'")
    torch.manual_seed(_checks.seed(seed))
    vae = VAE(X.shape[1], latent_dim, hidden, likelihood, categorical).to(X.device)
    train(lambda xb: vae.negative_elbo(xb, beta=beta).mean(), vae, (X,), epochs=epochs, lr=lr,
          batch_size=batch_size, seed=seed, patience=epochs, progress=progress, desc="training the VAE")
    return vae.eval()


@dataclass
class LatentCounterfactuals:
    """Decoded counterfactuals ``x_cf`` ``(N, D)``, their codes ``z_cf``, which reached
    the target (``valid``), and the REVISE path of codes when recorded."""
    x_cf: Tensor
    z_cf: Tensor
    valid: Tensor
    path: Tensor | None = None

    @property
    def validity(self) -> float:
        return self.valid.float().mean().item()


def _margin(model: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    z = model(x)
    z_t = z.gather(1, t[:, None]).squeeze(1)
    return z_t - z.masked_fill(F.one_hot(t, z.shape[1]).bool(), float("-inf")).amax(1)


def _revise(model: nn.Module, decoded, x: Tensor, t: Tensor, z0: Tensor, lam: float,
            search: Search) -> tuple[Tensor, Tensor | None]:
    """REVISE: Adam on z from μ(x) for hinge + lam·‖decode(z) − x‖₁; lam halved every
    ``adapt_every`` steps for rows still invalid. Returns the codes and the path."""
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=search.lr)
    lam_row = torch.full((len(x),), float(lam), dtype=x.dtype, device=x.device)
    path = [z0.clone()] if search.record_path else None
    every = search.adapt_every
    for step in range(search.steps):
        xc = decoded(z, x)
        loss = F.relu(search.margin - _margin(model, xc, t)) + lam_row * (xc - x).abs().sum(1)
        (z.grad,) = torch.autograd.grad(loss.sum(), [z])   # only z: the models' .grad stay
        opt.step()
        if path is not None:
            path.append(z.detach().clone())
        if every and (step + 1) % every == 0:
            with torch.no_grad():
                lam_row[_margin(model, decoded(z, x), t) <= 0] /= 2
    return z.detach(), (torch.stack(path) if path is not None else None)


@torch.no_grad()
def _cchvae(model: nn.Module, decoded, x: Tensor, t: Tensor, z0: Tensor, spheres: tuple,
            seed: int) -> Tensor:
    """C-CHVAE: codes sampled uniformly in growing shells around μ(x) until a decoded
    candidate reaches the target; the valid candidate closest to x (L1) is kept."""
    n_candidates, radius_step, max_radius = spheres
    gen = torch.Generator().manual_seed(seed)
    (n, d), k = x.shape, z0.shape[1]
    z_cf = z0.clone()
    found = torch.zeros(n, dtype=torch.bool, device=x.device)
    for shell in range(max(1, math.ceil(max_radius / radius_step))):
        rows = (~found).nonzero().flatten()
        if len(rows) == 0:
            break
        r_lo, r_hi = shell * radius_step, (shell + 1) * radius_step
        direction = torch.randn(len(rows), n_candidates, k, generator=gen, dtype=x.dtype).to(x.device)
        direction = direction / direction.norm(dim=2, keepdim=True)
        u = torch.rand(len(rows), n_candidates, 1, generator=gen, dtype=x.dtype).to(x.device)
        radius = (r_lo ** k + u * (r_hi ** k - r_lo ** k)) ** (1 / k)  # uniform in the shell
        cand = z0[rows, None] + radius * direction                    # (r, c, k)
        xs = x[rows, None].expand(-1, n_candidates, -1).reshape(-1, d)
        xc = decoded(cand.reshape(-1, k), xs)
        ok = (_margin(model, xc, t[rows].repeat_interleave(n_candidates)) > 0).view(len(rows), -1)
        dist = (xc - xs).abs().sum(1).view(len(rows), -1).masked_fill(~ok, float("inf"))
        d_min, j = dist.min(1)
        hit = torch.isfinite(d_min)
        z_cf[rows[hit]] = cand[hit.nonzero().flatten(), j[hit]]
        found[rows[hit]] = True
    return z_cf


def _checked(model, vae, x, target, method, lam, n_candidates, radius_step, max_radius) -> Tensor:
    """The door checks of :func:`counterfactual`; returns the targets."""
    _checks.choice(method, "method", METHODS)
    if not isinstance(vae, VAE):
        raise _checks.BadInputType(f"vae must be an xaitutor.latent.VAE (make one with latent.train_vae), "
                                   f"got {type(vae).__name__}")
    _checks.module(vae, "vae")
    _checks.tensor(x, "x", model=vae)
    if x.dim() != 2 or x.shape[1] != vae.n_features:
        raise _checks.BadInput(f"the VAE takes {vae.n_features} features but x has shape "
                               f"{tuple(x.shape)}: train the VAE on the model's input space")
    t = check_request(model, x, target)
    _checks.positive_int(n_candidates, "n_candidates")
    _checks.non_negative(lam, "lam")
    if not radius_step > 0 or not max_radius >= radius_step:
        raise _checks.BadInput(f"need radius_step > 0 and max_radius ≥ radius_step, got "
                               f"radius_step={radius_step}, max_radius={max_radius}")
    return t


def counterfactual(model: nn.Module, vae: VAE, x: Tensor, target: int | Tensor,
                   method: str = "revise", lam: float = 0.05,
                   constraints: Constraints | None = None, search: Search | None = None,
                   n_candidates: int = 200, radius_step: float = 0.1,
                   max_radius: float = 5.0) -> LatentCounterfactuals:
    """Latent-space counterfactuals for the rows of ``x`` ``(N, D)`` toward ``target``.

    ``"revise"``: z starts at μ(x); Adam on hinge(target margin of model(decode(z))) +
    lam·‖decode(z) − x‖₁, with lam halved every ``adapt_every`` steps (0: never) for
    rows still invalid — ``steps``, ``lr``, ``margin``, ``adapt_every`` and
    ``record_path`` from ``search`` (a :class:`~xaitutor.counterfactuals.Search`; its
    polish and exact zeros belong to input-space search and are not used here).
    ``"cchvae"``: sample ``n_candidates`` codes uniformly in growing shells of width
    ``radius_step`` around μ(x) until a decoded candidate reaches the target; keep the
    valid candidate closest to x (L1); the ``seed`` from ``search``. Every decoded point
    is projected on the ``constraints`` (immutable columns copied from x, one-way,
    bounds) before the model sees it, so they always hold.
    """
    t = _checked(model, vae, x, target, method, lam, n_candidates, radius_step, max_radius)
    rules = Constraints.of(constraints).check(x)
    if rules.free is not None:
        raise _checks.BadInput("latent counterfactuals redraw every column from the code: give "
                               "constraints without free (use immutable instead)")
    search = Search.of(search)
    # the decoder gives valid one-hots itself; projecting them on [0, 1] again would cut the
    # straight-through gradient at exactly 0 and 1 (clamp's gradient is 0 on its bounds)
    rules = replace(rules, categorical=())

    def decoded(z: Tensor, xs: Tensor) -> Tensor:
        """What the model is shown: categories one-hot (as returned), with the soft
        probabilities' gradient passed straight through (Bengio et al. 2013), projected
        on the constraints."""
        soft = vae.decode(z)
        out = soft + (vae.decode(z, hard=True) - soft).detach() if vae.groups else soft
        return rules.project(out, xs, rules.movable(xs))

    with torch.no_grad():
        z0 = vae.encode(x)[0]
    path = None
    if method == "revise":
        z_cf, path = _revise(model, decoded, x, t, z0, lam, search)
    else:
        z_cf = _cchvae(model, decoded, x, t, z0, (n_candidates, radius_step, max_radius), search.seed)
    with torch.no_grad():
        x_cf = decoded(z_cf, x)
        valid = model(x_cf).argmax(1) == t
    return LatentCounterfactuals(x_cf, z_cf, valid, path)
