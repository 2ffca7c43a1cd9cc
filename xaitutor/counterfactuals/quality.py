"""Quality measures of counterfactuals: validity, proximity, sparsity (in original
features), plausibility that can fail, feasibility, diversity."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from .search import median_absolute_deviation, predict

__all__ = ["metrics"]


def metrics(model: nn.Module, x: Tensor, x_cf: Tensor, target: int | Tensor, X_train: Tensor,
            y_train: Tensor | None = None, mad: Tensor | None = None, immutable=None,
            one_way: dict[int, int] | None = None, bounds: tuple | None = None,
            categorical: list[list[int]] | None = None, n_neighbors: int = 10,
            tol: float = 1e-6, vae=None) -> dict[str, float]:
    """The standard quality measures of counterfactuals ``x_cf`` (``(N, D)`` or
    ``(N, k, D)``) for rows ``x`` ``(N, D)``:

    * ``validity`` — share predicted as the target;
    * ``proximity_l1``, ``proximity_mad`` — mean L1 and MAD-weighted L1 distance to x;
    * ``sparsity`` — mean number of columns changed;
    * ``plausibility_nn`` — mean L1 distance to the nearest training point of the target
      class (``y_train``, or the model's predictions when not given);
      ``plausibility_lof`` — share judged inliers by a local outlier factor fitted on
      those training points (scikit-learn, ``n_neighbors``);
    * ``feasibility_violations`` — mean number of broken constraints per counterfactual
      (immutable changed, one-way reversed, out of bounds, invalid one-hot);
    * ``diversity`` — mean pairwise L1 distance within each row's k counterfactuals (k > 1);
    * with a ``vae`` (:mod:`xaitutor.latent`): ``reconstruction_l1`` (how far the VAE's
      reconstruction is from the counterfactual) and ``neg_elbo`` (−ELBO at the mean
      code): both small for points that look like the data.
    """
    from sklearn.neighbors import LocalOutlierFactor

    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    _checks.tensor(x_cf, "x_cf", min_dim=2, shape_hint="(N, D) or (N, k, D)", model=model)
    _checks.tensor(X_train, "X_train", dim=2, shape_hint="(n, D)", model=model)
    _checks.positive_int(n_neighbors, "n_neighbors")
    if x_cf.dim() == 2:
        x_cf = x_cf[:, None]
    if x.dim() != 2 or x_cf.shape[0] != x.shape[0] or x_cf.shape[-1] != x.shape[-1]:
        raise ValueError(f"x {tuple(x.shape)} and x_cf {tuple(x_cf.shape)} do not match: need "
                         "(N, D) and (N, D) or (N, k, D)")
    n, k, d = x_cf.shape
    t = (target.reshape(-1).long() if isinstance(target, Tensor)
         else torch.full((n,), int(target), dtype=torch.long)).to(x.device)
    delta = x_cf - x[:, None]
    scale = mad if mad is not None else median_absolute_deviation(X_train)
    out = {
        "validity": (predict(model, x_cf) == t[:, None]).float().mean().item(),
        "proximity_l1": delta.abs().sum(-1).mean().item(),
        "proximity_mad": (delta.abs() / scale).sum(-1).mean().item(),
        "sparsity": (delta.abs() > tol).sum(-1).float().mean().item(),
    }
    labels = y_train if y_train is not None else predict(model, X_train)
    flat_cf, flat_t = x_cf.reshape(-1, d), t.repeat_interleave(k)
    nn_dist, inlier = [], []
    for c in flat_t.unique().tolist():
        ref = X_train[labels == c]
        sel = flat_t == c
        if len(ref) == 0:
            raise ValueError(f"no training point of class {c} to judge plausibility against")
        nn_dist.append(torch.cdist(flat_cf[sel].double(), ref.double(), p=1).min(1).values)
        lof = LocalOutlierFactor(n_neighbors=min(n_neighbors, len(ref) - 1) or 1, novelty=True)
        lof.fit(ref.detach().cpu().numpy())
        inlier.append(torch.as_tensor(lof.predict(flat_cf[sel].detach().cpu().numpy()) == 1))
    out["plausibility_nn"] = torch.cat(nn_dist).mean().item()
    out["plausibility_lof"] = torch.cat(inlier).float().mean().item()
    violations = torch.zeros(n, k)
    for j in (immutable or []):
        violations += (delta[..., j].abs() > tol).float().cpu()
    for j, direction in (one_way or {}).items():
        violations += (direction * delta[..., j] < -tol).float().cpu()
    if bounds is not None:
        lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device).expand(d) for b in bounds)
        violations += ((x_cf < lo - tol) | (x_cf > hi + tol)).sum(-1).float().cpu()
    for g in (categorical or []):
        vals = x_cf[..., g]
        one_hot = ((vals - vals.round()).abs() < tol).all(-1) & ((vals.round().sum(-1) - 1).abs() < tol)
        violations += (~one_hot).float().cpu()
    out["feasibility_violations"] = violations.mean().item()
    if k > 1:
        pair = torch.cdist(x_cf.double(), x_cf.double(), p=1)          # (N, k, k)
        out["diversity"] = (pair.sum((1, 2)) / (k * (k - 1))).mean().item()
    if vae is not None:
        with torch.no_grad():
            out["reconstruction_l1"] = (vae.reconstruct(flat_cf) - flat_cf).abs().sum(1).mean().item()
            out["neg_elbo"] = vae.negative_elbo(flat_cf, sample=False).mean().item()
    return out
