"""Quality measures of counterfactuals: validity, proximity, sparsity (in original
features), plausibility that can fail, feasibility, diversity.

Plausibility is measured four ways, each of which a point can fail:

* :func:`plausibility_lof` — is the counterfactual an inlier of the target class's
  training rows (local outlier factor, threshold calibrated on those rows)?
* :func:`plausibility_ynn` — does the model call its k nearest training rows the target
  too (CARLA's yNN)? Low when the counterfactual sits in a pocket of the model's target
  region surrounded by rows of another class.
* :func:`closer_to_target` — is its nearest target-class training row closer than its
  nearest row of the class it came from?
* :func:`judge_validity` — does an independent classifier, not the one the
  counterfactuals were made for, also see the target?

and, for a whole set at once, :func:`kernel_distance` — how far the set's features lie
from real target rows' (KID), which sees a set that is off *and* one that is too uniform.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from ..constraints import Constraints
from .search import median_absolute_deviation, predict

__all__ = ["metrics", "plausibility_lof", "plausibility_ynn", "closer_to_target",
           "judge_validity", "kernel_distance", "LOF_NEIGHBORS", "LOF_CONTAMINATION", "YNN_K"]

#: Defaults of :func:`plausibility_lof`, chosen on German credit and digits (see there).
LOF_NEIGHBORS = 20
LOF_CONTAMINATION = 0.05
#: The neighbours of :func:`plausibility_ynn` in :func:`metrics` (CARLA's default).
YNN_K = 5


# --------------------------------------------------------------------------- checks

def _cf_rows(x_cf, d: int | None = None, name: str = "x_cf") -> Tensor:
    """``x_cf`` ``(N, D)`` or ``(N, k, D)`` as ``(N, k, D)``."""
    _checks.tensor(x_cf, name, min_dim=2, shape_hint="(N, D) or (N, k, D)")
    if x_cf.dim() > 3:
        raise _checks.BadInput(f"{name} must have shape (N, D) or (N, k, D), got {tuple(x_cf.shape)}; "
                               f"flatten images first ({name}.flatten(1)) and wrap the model in "
                               "nn.Sequential(nn.Unflatten(1, shape), model)")
    if d is not None and x_cf.shape[-1] != d:
        raise _checks.BadInput(f"{name} has {x_cf.shape[-1]} columns but the training rows have {d}; "
                               "pass counterfactuals encoded like X_train")
    return x_cf if x_cf.dim() == 3 else x_cf[:, None]


def _train_labels(X_train, y_train, d: int | None = None) -> tuple[Tensor, Tensor]:
    _checks.tensor(X_train, "X_train", dim=2, shape_hint="(n, D)")
    if d is not None and X_train.shape[1] != d:
        raise _checks.BadInput(f"X_train has {X_train.shape[1]} columns but x_cf has {d}; pass "
                               "training rows encoded like the counterfactuals")
    if y_train is None:
        raise _checks.BadInput("y_train is needed: the class of every training row, (n,) long")
    _checks.labels(y_train, len(X_train), name="y_train")
    return X_train, y_train.to(X_train.device)


def _class_rows(X_train: Tensor, labels: Tensor, c: int, what: str, at_least: int = 1) -> Tensor:
    ref = X_train[labels == c]
    if len(ref) < at_least:
        have = "no training point" if len(ref) == 0 else f"only {len(ref)} training point(s)"
        raise _checks.BadInput(f"{have} of class {c} to judge {what} against (needs at least "
                               f"{at_least}); check y_train, or give more training rows of that class")
    return ref


def _contamination(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0 < value <= 0.5:
        raise _checks.BadInput(f"contamination must be a number in (0, 0.5] (the share of the "
                               f"target class's own training rows called outliers), got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- measures

def plausibility_lof(x_cf: Tensor, target: int | Tensor, X_train: Tensor, y_train: Tensor,
                     n_neighbors: int = LOF_NEIGHBORS, contamination: float = LOF_CONTAMINATION,
                     p: int = 1) -> float:
    """Share of counterfactuals ``x_cf`` (``(N, D)`` or ``(N, k, D)``) that a local outlier
    factor fitted on the TARGET class's training rows (``X_train[y_train == target]``)
    calls inliers (scikit-learn's ``LocalOutlierFactor(novelty=True)``).

    The threshold is calibrated on the target class itself: a point is an outlier when
    its LOF is worse than that of the worst ``contamination`` share of the class's own
    training rows, each scored without itself among its neighbours (scikit-learn's
    ``negative_outlier_factor_``, a leave-one-out score). So real rows of the class score
    about ``1 − contamination`` by construction and the measure *can* fail. (The
    previous default threshold, ``contamination="auto"``, a fixed LOF of 1.5, called
    every counterfactual of the course an inlier and 68 % of uniform junk too.)

    Defaults, chosen on German credit (26 encoded columns, about 210 and 490 training
    rows per class) and digits (64 pixels, about 125 per class), split 70/30, five seeds:
    ``n_neighbors=20``, ``contamination=0.05``, L1 distance (``p=1``). Held-out rows of
    the target class score 0.92–0.95 (German credit) and 0.85–0.95 per digit (mean
    0.94); uniform junk inside the training bounds scores 0.00 on both; junk with
    valid one-hot categories (random categories, uniform numbers) 0.11–0.21. L2 lets
    uniform German-credit junk through (0.10–0.26): in L2 the many fractional one-hot
    columns hardly add distance. Fewer neighbours (10) lets more one-hot junk through
    (up to 0.35); ``contamination=0.1`` rejects more junk but also 10 % of real rows.
    """
    from sklearn.neighbors import LocalOutlierFactor

    _checks.positive_int(n_neighbors, "n_neighbors")
    _checks.positive_int(p, "p")
    contamination = _contamination(contamination)
    cf = _cf_rows(x_cf)
    n, k, d = cf.shape
    X_train, y_train = _train_labels(X_train, y_train, d)
    t = _checks.targets(target, n, cf.device).repeat_interleave(k)
    flat = cf.reshape(-1, d).detach().cpu().double().numpy()
    t = t.cpu()
    inlier = torch.zeros(len(flat), dtype=torch.bool)
    for c in t.unique().tolist():
        ref = _class_rows(X_train, y_train, c, "plausibility (LOF)", at_least=2)
        lof = LocalOutlierFactor(n_neighbors=min(n_neighbors, len(ref) - 1), novelty=True,
                                 contamination=contamination, p=p)
        lof.fit(ref.detach().cpu().double().numpy())
        sel = t == c
        inlier[sel] = torch.as_tensor(lof.predict(flat[sel.numpy()]) == 1)
    return inlier.float().mean().item()


def plausibility_ynn(model: nn.Module, x_cf: Tensor, target: int | Tensor, X_train: Tensor,
                     k: int = 5) -> float:
    """CARLA's yNN (Pawelczyk et al. 2021): for each counterfactual, the share of its ``k``
    nearest training rows (Euclidean, L2, as in CARLA) that the MODEL predicts as the
    target; the mean over counterfactuals (``(N, D)`` or ``(N, k', D)``, flattened).

    Near 1 when the counterfactual lies among rows the model already gives the target —
    a region the model decides with data behind it; near 0 when it sits in a thin pocket
    of the target inside another class. (CARLA compares with the counterfactual's own
    prediction rather than the target; the two agree for valid counterfactuals.)"""
    _checks.module(model)
    _checks.positive_int(k, "k")
    cf = _cf_rows(x_cf)
    n, kk, d = cf.shape
    _checks.tensor(X_train, "X_train", dim=2, shape_hint="(n, D)", model=model)
    _checks.same_device(cf, model, "x_cf")
    if X_train.shape[1] != d:
        raise _checks.BadInput(f"X_train has {X_train.shape[1]} columns but x_cf has {d}; pass "
                               "training rows encoded like the counterfactuals")
    if k > len(X_train):
        raise _checks.BadInput(f"k={k} neighbours asked for but X_train has only {len(X_train)} rows; "
                               f"choose k ≤ {len(X_train)}")
    t = _checks.targets(target, n, cf.device, _checks.n_outputs(model, X_train, "X_train")).repeat_interleave(kk)
    flat = cf.reshape(-1, d)
    with torch.no_grad():
        near = torch.cdist(flat.double(), X_train.double()).topk(k, dim=1, largest=False).indices
    rows, where = near.unique(return_inverse=True)          # ask the model about the neighbours only
    labels = predict(model, X_train[rows])[where]
    return (labels == t[:, None]).float().mean().item()


def closer_to_target(model: nn.Module, x: Tensor, x_cf: Tensor, target: int | Tensor,
                     X_train: Tensor, y_train: Tensor, source: Tensor | None = None) -> float:
    """Share of counterfactuals whose nearest training row of the TARGET class (by
    ``y_train``) is strictly closer, in L1, than their nearest training row of the SOURCE
    class — the class the model gives the original row ``x`` (``(N, D)``), or ``source``
    (an int or ``(N,)`` tensor) when given. ``x_cf`` is ``(N, D)`` or ``(N, k, D)``.

    A counterfactual that only just crossed the decision boundary is usually still
    nearer the rows it came from: it scores 0 here although it is valid."""
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    cf = _cf_rows(x_cf)
    n, kk, d = cf.shape
    if len(x) != n or x.shape[1] != d:
        raise _checks.BadInput(f"x {tuple(x.shape)} and x_cf {tuple(x_cf.shape)} do not match: need "
                               "(N, D) and (N, D) or (N, k, D)")
    X_train, y_train = _train_labels(X_train, y_train, d)
    t = _checks.targets(target, n, cf.device)
    s = predict(model, x) if source is None else _checks.targets(source, n, cf.device)
    same = (s == t).nonzero().flatten().tolist()
    if same:
        raise _checks.BadInput(f"rows {same[:10]} of x are already of the target class (source = "
                               "target): nothing to be closer to. Pass only rows whose class differs "
                               "from the target")
    return _closer(cf.reshape(-1, d), t.repeat_interleave(kk), s.repeat_interleave(kk),
                   X_train, y_train).float().mean().item()


def _closer(flat: Tensor, t: Tensor, s: Tensor, X_train: Tensor, labels: Tensor) -> Tensor:
    """Per row of ``flat``: nearest row of class ``t`` strictly closer (L1) than of ``s``."""
    to_t = torch.empty(len(flat), dtype=torch.float64, device=flat.device)
    to_s = torch.empty_like(to_t)
    for c in torch.cat([t, s]).unique().tolist():
        ref = _class_rows(X_train, labels, c, "closeness").to(flat.device)
        sel = (t == c) | (s == c)
        nearest = torch.cdist(flat[sel].double(), ref.double(), p=1).min(1).values
        full = torch.full_like(to_t, float("nan"))
        full[sel] = nearest
        to_t = torch.where(t == c, full, to_t)
        to_s = torch.where(s == c, full, to_s)
    return to_t < to_s


def judge_validity(judge, x_cf: Tensor, target: int | Tensor) -> float:
    """Share of counterfactuals (``(N, D)`` or ``(N, k, D)``) that an independent ``judge``
    assigns to the target: an ``nn.Module`` or any callable giving logits ``(M, C)`` (or
    class indices ``(M,)``), or a fitted scikit-learn classifier (its ``.predict``). For
    images use a classifier NOT used to make the counterfactuals (another architecture,
    another seed): a counterfactual that fools only the model it was made for is an
    adversarial example, not an explanation. An image judge takes the rows flattened as
    in ``x_cf``: wrap it as ``nn.Sequential(nn.Unflatten(1, (1, 28, 28)), cnn)``."""
    cf = _cf_rows(x_cf)
    n, kk, d = cf.shape
    t = _checks.targets(target, n, cf.device).repeat_interleave(kk)
    flat = cf.reshape(-1, d)
    if isinstance(judge, nn.Module):
        _checks.module(judge, "judge")
        _checks.same_device(flat, judge, "x_cf")
        with torch.no_grad():
            out = judge(flat)
    elif hasattr(judge, "predict") and callable(judge.predict):
        try:
            out = judge.predict(flat.detach().cpu().numpy())
        except Exception as e:                                      # unfitted, wrong width, ...
            raise _checks.BadInput(f"judge.predict failed on x_cf of shape {tuple(flat.shape)} ({e}); "
                                   "pass a fitted classifier trained on rows encoded like x_cf") from e
        try:
            out = torch.as_tensor(np.asarray(out).astype(np.int64))
        except (TypeError, ValueError) as e:
            raise _checks.BadInput("judge.predict must return integer class indices like target; "
                                   f"got {np.asarray(out).dtype}") from e
        classes = getattr(judge, "classes_", None)
        if classes is not None and not np.isin(t.cpu().numpy(), np.asarray(classes)).all():
            raise _checks.BadInput(f"target is not a class of the judge; its classes are {list(classes)}")
    elif callable(judge):
        with torch.no_grad():
            out = judge(flat)
    else:
        raise _checks.BadInputType(f"judge must be an nn.Module, a callable giving logits, or a fitted "
                                   f"scikit-learn classifier, got {type(judge).__name__}")
    if not isinstance(out, Tensor):
        out = torch.as_tensor(np.asarray(out))
    if out.dim() == 2 and out.shape[0] == len(flat):
        _checks.targets(target, n, cf.device, n_classes=out.shape[1])     # a class of the judge
        out = out.argmax(1)
    elif out.dim() == 1 and out.shape[0] == len(flat) and not out.is_floating_point():
        out = out.long()
    else:
        raise _checks.BadInput(f"the judge must give logits ({len(flat)}, C) or class indices "
                               f"({len(flat)},) for x_cf rows of shape {tuple(flat.shape)}, got "
                               f"{tuple(out.shape)} ({out.dtype})")
    return (out.to(t.device) == t).float().mean().item()


# --------------------------------------------------------------------------- all at once

def _checked(model, x, x_cf, X_train) -> Tensor:
    """The door checks of :func:`metrics`; ``x_cf`` as ``(N, k, D)``."""
    _checks.module(model)
    _checks.tensor(x, "x", dim=2, shape_hint="(N, D)", model=model)
    _checks.tensor(x_cf, "x_cf", min_dim=2, shape_hint="(N, D) or (N, k, D)", model=model)
    _checks.tensor(X_train, "X_train", dim=2, shape_hint="(n, D)", model=model)
    if x_cf.dim() == 2:
        x_cf = x_cf[:, None]
    if x_cf.dim() != 3 or x_cf.shape[0] != x.shape[0] or x_cf.shape[-1] != x.shape[-1]:
        raise _checks.BadInput(f"x {tuple(x.shape)} and x_cf {tuple(x_cf.shape)} do not match: need "
                               "(N, D) and (N, D) or (N, k, D)")
    if X_train.shape[1] != x.shape[1]:
        raise _checks.BadInput(f"X_train has {X_train.shape[1]} columns but x has {x.shape[1]}; pass "
                               "training rows encoded like x")
    return x_cf


def _plausibility(model, x, x_cf, t, X_train, labels) -> dict[str, float]:
    """The four plausibility measures of :func:`metrics` (``x_cf`` ``(N, k, D)``)."""
    n, k, d = x_cf.shape
    flat_cf, flat_t = x_cf.reshape(-1, d), t.repeat_interleave(k)
    nn_dist = torch.empty(len(flat_cf), dtype=torch.float64, device=x.device)
    for c in flat_t.unique().tolist():
        ref = _class_rows(X_train, labels, c, "plausibility")
        sel = flat_t == c
        nn_dist[sel] = torch.cdist(flat_cf[sel].double(), ref.double(), p=1).min(1).values
    s = predict(model, x).repeat_interleave(k)
    moving = s != flat_t                         # rows already of the target have no source
    return {"plausibility_nn": nn_dist.mean().item(),
            "plausibility_lof": plausibility_lof(x_cf, t, X_train, labels),
            "plausibility_ynn": plausibility_ynn(model, x_cf, t, X_train, k=min(YNN_K, len(X_train))),
            "closer_to_target": (_closer(flat_cf[moving], flat_t[moving], s[moving], X_train,
                                         labels).float().mean().item()
                                 if moving.any() else float("nan"))}


def metrics(model: nn.Module, x: Tensor, x_cf: Tensor, target: int | Tensor, X_train: Tensor,
            y_train: Tensor | None = None, mad: Tensor | None = None,
            constraints: Constraints | None = None, vae=None, judge=None,
            tol: float = 1e-6) -> dict[str, float]:
    """The standard quality measures of counterfactuals ``x_cf`` (``(N, D)`` or
    ``(N, k, D)``) for rows ``x`` ``(N, D)``. Training labels are ``y_train``, or the
    model's predictions of ``X_train`` when not given. ``constraints`` are checked as
    :func:`~xaitutor.counterfactuals.optimize` checks them.

    * ``validity`` — share predicted as the target;
    * ``proximity_l1``, ``proximity_mad`` — mean L1 and MAD-weighted L1 distance to x;
    * ``sparsity`` — mean number of ORIGINAL features changed (by more than ``tol``; a
      one-hot group of the constraints' ``categorical`` is one feature: a category switch
      counts 1); ``sparsity_columns`` — mean number of encoded columns changed (a switch counts 2);
    * ``plausibility_nn`` — mean L1 distance to the nearest training point of the target
      class; ``plausibility_lof`` — :func:`plausibility_lof` (its defaults);
      ``plausibility_ynn`` — :func:`plausibility_ynn` with ``k = min(5, len(X_train))``;
      ``closer_to_target`` — :func:`closer_to_target` over the rows ``x`` the model does
      not already give the target (NaN if none);
    * ``judge_validity`` — :func:`judge_validity`, only when a ``judge`` is given;
    * ``feasibility_violations`` — mean number of broken constraints per counterfactual
      (:meth:`~xaitutor.constraints.Constraints.violations`);
    * ``diversity`` — mean pairwise L1 distance within each row's k counterfactuals (k > 1);
    * with a ``vae`` (:mod:`xaitutor.latent`): ``reconstruction_l1`` (how far the VAE's
      reconstruction is from the counterfactual) and ``neg_elbo`` (−ELBO at the mean
      code): both small for points that look like the data.
    """
    x_cf = _checked(model, x, x_cf, X_train)
    n, k, d = x_cf.shape
    rules = Constraints.of(constraints).check(x, search=False)      # the same contract as optimize
    t = _checks.targets(target, n, x.device, _checks.n_outputs(model, x))
    delta = x_cf - x[:, None]
    moved = delta.abs() > tol
    scale = mad if mad is not None else median_absolute_deviation(X_train)
    out = {
        "validity": (predict(model, x_cf) == t[:, None]).float().mean().item(),
        "proximity_l1": delta.abs().sum(-1).mean().item(),
        "proximity_mad": (delta.abs() / scale).sum(-1).mean().item(),
        "sparsity": sum(moved[..., f].any(-1).float() for f in rules.features(d)).mean().item(),
        "sparsity_columns": moved.sum(-1).float().mean().item(),
    }
    labels = predict(model, X_train) if y_train is None else \
        _checks.labels(y_train, len(X_train), name="y_train").to(X_train.device)
    out.update(_plausibility(model, x, x_cf, t, X_train, labels))
    if judge is not None:
        out["judge_validity"] = judge_validity(judge, x_cf, t)
    out["feasibility_violations"] = rules.violations(x, x_cf, tol).mean().item()
    if k > 1:
        pair = torch.cdist(x_cf.double(), x_cf.double(), p=1)          # (N, k, k)
        out["diversity"] = (pair.sum((1, 2)) / (k * (k - 1))).mean().item()
    if vae is not None:
        flat_cf = x_cf.reshape(-1, d)
        with torch.no_grad():
            out["reconstruction_l1"] = (vae.reconstruct(flat_cf) - flat_cf).abs().sum(1).mean().item()
            out["neg_elbo"] = vae.negative_elbo(flat_cf, sample=False).mean().item()
    return out


def kernel_distance(a: Tensor, b: Tensor) -> float:
    """The kernel inception distance (KID; Bińkowski et al. 2018) between two sets of
    feature rows ``a`` ``(m, d)`` and ``b`` ``(n, d)``: the unbiased estimate of the squared
    maximum mean discrepancy with the cubic kernel k(u, v) = (u·v / d + 1)³,

        mean_{i≠j} k(aᵢ, aⱼ) + mean_{i≠j} k(bᵢ, bⱼ) − 2 mean_{i,j} k(aᵢ, bⱼ).

    0 in expectation when both sets come from one distribution (a small sample can give
    slightly below 0), larger the more they differ — in their mean *and* in their spread,
    so a set of look-alike blurs scores badly even where each blur alone looks typical.
    Unbiased, it suits sets of a few dozen (FID, its better-known cousin, is biased
    there). For images, compare features of a network, not pixels: e.g. a judge's
    :meth:`~xaitutor.models.MnistCNN.embed`."""
    _checks.tensor(a, "a", dim=2, shape_hint="(m, d)")
    _checks.tensor(b, "b", dim=2, shape_hint="(n, d)")
    if a.shape[1] != b.shape[1]:
        raise _checks.BadInput(f"a and b must have the same number of features, got {a.shape[1]} and "
                               f"{b.shape[1]}; embed both with the same network")
    if len(a) < 2 or len(b) < 2:
        raise _checks.BadInput(f"need at least 2 rows in each set, got {len(a)} and {len(b)}")
    a, b = a.double(), b.to(a.device).double()
    kernel = lambda u, v: (u @ v.T / a.shape[1] + 1) ** 3                    # noqa: E731
    off_diagonal = lambda k: (k.sum() - k.diagonal().sum()) / (len(k) * (len(k) - 1))   # noqa: E731
    return (off_diagonal(kernel(a, a)) + off_diagonal(kernel(b, b)) - 2 * kernel(a, b).mean()).item()
