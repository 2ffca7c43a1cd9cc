"""Counterfactual explanations by optimisation: the closest input the model would decide
differently (Wachter, Mittelstadt & Russell 2017), made actionable and diverse.

For a row x and a target class, minimise over x' = x + δ

    pred(x')  +  lam · dist(x, x')  +  mu · ‖δ‖₁    (+ diversity term when k > 1)

with Adam on the input. ``pred`` is a hinge on the logit margin of the target (zero once
the target wins by ``margin``); ``dist`` is L1, L2, or L1 weighted by 1/MAD per feature.
Constraints are kept by projection after every step: immutable columns never move,
one-way columns only rise (+1) or fall (−1), values stay within ``bounds``; categorical
groups are kept in [0, 1] and end as a valid one-hot. Adam on an L1 term hovers around
0 without reaching it, so the run ends with a hard threshold: changes smaller than
``zero_below`` are set to exactly 0 wherever the row stays valid (the elastic net's
lesson). Rows still invalid get their ``lam`` halved every ``adapt_every`` steps
(Wachter et al.'s adaptive weight), so the defaults reach the target without tuning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _checks

__all__ = ["optimize", "Counterfactuals", "median_absolute_deviation", "mad", "metrics",
           "predict", "check_request", "check_bounds"]


@dataclass
class Counterfactuals:
    """What :func:`optimize` returns. ``x_cf`` is ``(N, D)`` (or ``(N, k, D)``), ``valid``
    says which reached the target (an invalid one is never passed off as valid),
    ``history`` the mean loss per step, ``lam`` the final weight of every row, ``path``
    the iterates ``(steps + 1, N, [k,] D)`` when asked for."""
    x_cf: Tensor
    valid: Tensor
    history: list[float]
    lam: Tensor
    path: Tensor | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def validity(self) -> float:
        return self.valid.float().mean().item()


def median_absolute_deviation(X: Tensor) -> Tensor:
    """Median absolute deviation of every column, ``(D,)``. A column whose MAD is 0 (a
    rare category, a near-constant column) falls back to its mean absolute deviation
    from the mean, and to 1 if that is 0 too — never a division by zero."""
    if X.dim() != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty (n, D) tensor of training rows, got "
                         f"{tuple(X.shape)}")
    med = X.median(0).values
    m = (X - med).abs().median(0).values
    fallback = (X - X.mean(0)).abs().mean(0)
    m = torch.where(m > 0, m, fallback)
    return torch.where(m > 0, m, torch.ones_like(m))


mad = median_absolute_deviation


@torch.no_grad()
def predict(model: nn.Module, x: Tensor) -> Tensor:
    """Class predictions for ``(..., D)`` inputs."""
    _checks.module(model)
    _checks.tensor(x, "x", min_dim=1, shape_hint="(..., D)", model=model)
    return model(x.reshape(-1, x.shape[-1])).argmax(1).view(x.shape[:-1])


def check_request(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """The checks every counterfactual search makes at the door; returns the targets
    as an ``(N,)`` long tensor. Refuses a model in training mode, an ``x`` that is not a
    float ``(N, D)`` batch, a target that is not a class of the model, and rows that
    already have their target (nothing to explain)."""
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    n = len(x)
    with torch.no_grad():
        logits = model(x)
    if logits.dim() != 2:
        raise ValueError(f"the model must map (N, D) to class logits (N, C), got {tuple(logits.shape)}")
    n_classes = logits.shape[1]
    if isinstance(target, Tensor):
        if target.is_floating_point():
            raise ValueError(f"target must hold integer class indices, got {target.dtype}; "
                             "use target.long()")
        t = target.to(x.device).long().reshape(-1)
        if t.shape != (n,):
            raise ValueError(f"target must be an int or a tensor of shape ({n},), got {tuple(target.shape)}")
    else:
        t = torch.full((n,), int(target), dtype=torch.long, device=x.device)
    if ((t < 0) | (t >= n_classes)).any():
        raise ValueError(f"target {t[(t < 0) | (t >= n_classes)][0].item()} is not a class of the "
                         f"model; choose a target in 0..{n_classes - 1}")
    already = (logits.argmax(1) == t).nonzero().flatten().tolist()
    if already:
        raise ValueError(f"rows {already[:10]} are already predicted as their target: nothing to "
                         "change. Pass only rows whose prediction differs from the target, or choose another "
                         "target")
    return t


def check_bounds(bounds, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``bounds=(low, high)`` (numbers or ``(D,)`` tensors) as two ``(D,)`` tensors, after
    checking they make sense for ``x`` (None, None without bounds)."""
    if bounds is None:
        return None, None
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise ValueError(f"bounds must be a pair (low, high), got {bounds!r}")
    d = x.shape[-1]
    lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device).expand(d) for b in bounds)
    if (lo > hi).any():
        raise ValueError("bounds=(low, high): some lower bound exceeds its upper bound; "
                         "swap them")
    if ((x < lo - 1e-6) | (x > hi + 1e-6)).any():
        raise ValueError("some rows of x are already outside the bounds; widen them")
    return lo, hi


def _index_list(name: str, idx, d: int) -> list[int]:
    idx = [] if idx is None else [int(i) for i in idx]
    bad = [i for i in idx if not 0 <= i < d]
    if bad:
        raise ValueError(f"{name} indices {bad} are out of range: x has {d} columns, "
                         f"0..{d - 1}")
    return idx


def optimize(model: nn.Module, x: Tensor, target: int | Tensor, lam: float = 0.1, mu: float = 0.0,
             distance: str = "mad", mad: Tensor | None = None, immutable=None,
             one_way: dict[int, int] | None = None, bounds: tuple | None = None,
             categorical: list[list[int]] | None = None, k: int = 1, diversity: float = 0.0,
             steps: int = 300, lr: float = 0.05, margin: float = 0.5, adapt_every: int = 50,
             zero_below: float | None = None, record_path: bool = False,
             seed: int = 0) -> Counterfactuals:
    """Counterfactuals for every row of ``x`` ``(N, D)`` toward ``target`` (an int or
    ``(N,)``); see the module docstring for the loss and the constraints.

    ``k > 1`` returns k counterfactuals per row; ``diversity > 0`` adds DiCE's
    determinantal-point-process term −diversity · det(K), K_ab = 1 / (1 + dist(c_a, c_b))
    (Mothilal, Sharma & Tan 2020), which pushes the k apart.
    """
    t = check_request(model, x, target)
    n, d = x.shape
    if distance not in ("l1", "l2", "mad"):
        raise ValueError(f"distance must be 'l1', 'l2' or 'mad', got {distance!r}")
    _checks.positive_int(k, "k")
    _checks.positive_int(steps, "steps")
    for name, value in (("lam", lam), ("mu", mu), ("diversity", diversity), ("margin", margin)):
        _checks.non_negative(value, name)
    _checks.positive(lr, "lr")
    frozen = _index_list("immutable", immutable, d)
    if len(set(frozen)) == d:
        raise ValueError("every feature is immutable: no counterfactual can exist; free at "
                         "least one feature")
    one_way = dict(one_way or {})
    _index_list("one_way", one_way.keys(), d)
    if any(v not in (1, -1) for v in one_way.values()):
        raise ValueError(f"one_way maps a column index to +1 (may only rise) or -1 (may only "
                         f"fall), got {one_way}")
    groups = [list(g) for g in (categorical or [])]
    for g in groups:
        _index_list("categorical", g, d)

    # per-feature weights of the distance
    if distance == "mad":
        scale = mad.to(x) if mad is not None else median_absolute_deviation(x)
        if scale.shape != (d,):
            raise ValueError(f"mad must have shape ({d},) (one scale per column), got "
                             f"{tuple(scale.shape)}; compute it with counterfactuals.mad(X_train)")
        w = 1.0 / scale
    else:
        w = torch.ones(d, dtype=x.dtype, device=x.device)
    lo, hi = check_bounds(bounds, x)
    movable = torch.ones(d, dtype=x.dtype, device=x.device)
    movable[frozen] = 0.0

    x0 = x[:, None].expand(n, k, d)                                   # (N, k, D)
    gen = torch.Generator().manual_seed(seed)
    init = 0.01 * torch.randn(n, k, d, generator=gen, dtype=x.dtype).to(x.device) if k > 1 else \
        torch.zeros(n, k, d, dtype=x.dtype, device=x.device)
    delta = (init * movable).requires_grad_(True)
    lam_row = torch.full((n,), float(lam), dtype=x.dtype, device=x.device)
    tk = t[:, None].expand(n, k)
    history, path = [], ([] if record_path else None)

    def column_mask(columns) -> Tensor:
        mask = torch.zeros(d, dtype=torch.bool, device=x.device)
        mask[list(columns)] = True
        return mask

    rises = column_mask(j for j, v in one_way.items() if v > 0)
    falls = column_mask(j for j, v in one_way.items() if v < 0)
    in_group = column_mask(j for g in groups for j in g)

    def project(cf: Tensor) -> Tensor:
        """Keep every constraint that can be kept exactly, by projection (column masks:
        one pass per kind of constraint, whatever the number of columns)."""
        cf = x0 + (cf - x0) * movable                                  # immutable
        cf = torch.where(rises, torch.maximum(cf, x0), cf)             # one-way up
        cf = torch.where(falls, torch.minimum(cf, x0), cf)             # one-way down
        if lo is not None:
            cf = torch.maximum(torch.minimum(cf, hi), lo)              # bounds
        return torch.where(in_group, cf.clamp(0.0, 1.0), cf)           # categories in [0, 1]

    is_target = F.one_hot(tk, _checks.n_outputs(model, x)).bool()                        # (N, k, C)

    def scores(cf: Tensor) -> Tensor:
        z = model(cf.reshape(-1, d)).view(n, k, -1)
        z_t = z.gather(2, tk[..., None]).squeeze(2)
        z_other = z.masked_fill(is_target, float("-inf")).amax(2)
        return z_t - z_other                                           # > 0: the target wins

    def dist(a: Tensor, b: Tensor) -> Tensor:
        diff = (a - b) * w
        return (diff ** 2).sum(-1) if distance == "l2" else diff.abs().sum(-1)

    def run(n_steps: int, free: Tensor) -> None:
        """Adam on δ for ``n_steps``, projecting after each; only ``free`` columns move."""
        opt = torch.optim.Adam([delta], lr=lr)
        for step in range(n_steps):
            cf = x0 + delta
            pred = F.relu(margin - scores(cf))                          # (N, k)
            loss = pred + lam_row[:, None] * dist(cf, x0) + mu * delta.abs().sum(-1)
            if k > 1 and diversity > 0:
                pair = dist(cf[:, :, None], cf[:, None])                # (N, k, k)
                loss = loss - diversity * torch.linalg.det(1.0 / (1.0 + pair))[:, None] / k
            opt.zero_grad()
            loss.sum().backward()
            delta.grad *= free
            opt.step()
            with torch.no_grad():
                delta.copy_((project(x0 + delta) - x0) * free + delta * (1 - free))
                if path is not None:
                    path.append((x0 + delta).clone())
            history.append(loss.mean().item())
            if adapt_every and (step + 1) % adapt_every == 0:
                with torch.no_grad():
                    invalid_rows = ~(scores(x0 + delta) > 0).all(1)
                    lam_row[invalid_rows] /= 2                          # Wachter: push harder

    run(steps, torch.ones(d, dtype=x.dtype, device=x.device))
    if groups:
        # round every category to a valid one-hot, then let the other columns make up
        # for what the rounding lost
        with torch.no_grad():
            soft = x0 + delta
            rounded, switched = soft.clone(), soft.clone()
            for g in groups:
                vals = soft[..., g]
                rounded[..., g] = F.one_hot(vals.argmax(-1), len(g)).to(x.dtype)
                # where the optimiser started to move mass to another category, take it
                moved = vals.masked_fill(x0[..., g] > 0.5, float("-inf"))
                pick = torch.where(moved.amax(-1) > 0.1, moved.argmax(-1), vals.argmax(-1))
                switched[..., g] = F.one_hot(pick, len(g)).to(x.dtype)
            use_switch = (scores(switched) > scores(rounded))[..., None]
            delta.copy_(torch.where(use_switch, switched, rounded) - x0)
        others = torch.ones(d, dtype=x.dtype, device=x.device)
        others[[j for g in groups for j in g]] = 0.0
        run(max(steps // 2, 1), others)

    with torch.no_grad():
        cf = project(x0 + delta)               # project the sum itself: bounds hold exactly
        valid = scores(cf) > 0
        threshold = 2 * lr if zero_below is None else zero_below
        if threshold > 0:                                               # exact zeros, if still valid
            small = (cf - x0).abs() < threshold
            if groups:
                for g in groups:
                    small[..., g] = False
            sparse = torch.where(small, x0, cf)
            keep = (scores(sparse) > 0) | ~valid
            cf = torch.where(keep[..., None], sparse, cf)
            valid = scores(cf) > 0
    if path is not None:
        path = torch.stack([x0.detach().clone(), *path])
        path = path[:, :, 0] if k == 1 else path
    squeeze = (lambda a: a[:, 0]) if k == 1 else (lambda a: a)
    notes = [] if valid.all() else [f"{int((~valid).sum())} counterfactual(s) did not reach the "
                                    "target (marked invalid): more steps, a smaller lam, or fewer "
                                    "constraints may help"]
    return Counterfactuals(squeeze(cf.detach()), squeeze(valid), history, lam_row, path, notes)


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
