"""Shapley values and surrogate explanations: exact enumeration, permutation sampling,
KernelSHAP and LIME — over pixels, patches, superpixels or tabular features.

The *game* of one sample: a coalition S of features (groups of ``feature_mask``) keeps
its values from ``x``, every other feature takes the ``baseline``'s, and

    v(S) = f(x_S, baseline_rest)[target].

Every method here explains that game; the Shapley value of feature i is

    φ_i = Σ_{S ⊆ N∖{i}} |S|! (M − |S| − 1)! / M! · (v(S ∪ {i}) − v(S))   (Shapley 1953).

``x`` is a batch ``(N, ...)``; ``target`` an int or ``(N,)`` class indices;
``feature_mask`` an integer tensor of group ids 0..M−1 broadcastable to ``x`` (None:
every element of a sample is a feature); ``baseline`` a number, one sample or a tensor
shaped like ``x``. Results have the shape of ``x``: every element of a group carries
its group's value, as Captum does. Coalitions go through the model ``batch_size`` at a
time (a ``tqdm.auto`` bar shows when that takes 16 batches or more); sampling methods take
a ``seed`` and give the same result for the same seed.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from . import _checks
from ._batching import batched
from .saliency import _check_baseline, _check_model_and_x, _forward, _pick, _targets

__all__ = ["MAX_EXACT", "coalitions", "from_game", "banzhaf_from_game", "kernel_weights",
           "coalition_values", "exact", "sampling", "kernel_shap", "lime", "superpixels",
           "patches", "group_values", "METHODS", "explain"]

#: The most features (or groups) :func:`exact` enumerates: 2^16 = 65,536 coalitions.
MAX_EXACT = 16


# --- the game ---------------------------------------------------------------------------------

def coalitions(m: int, device=None) -> Tensor:
    """Every coalition of ``m`` features, ``(2^m, m)`` bool; row k holds the bits of k
    (feature i is in coalition k when bit i of k is set)."""
    _checks.positive_int(m, "m", minimum=0)
    if m > 24:
        raise _checks.BadInput(f"m={m} features have 2^{m} coalitions, too many to list; sample "
                               "them (kernel_shap, sampling, lime)")
    k = torch.arange(2 ** m, device=device)
    return (k[:, None] >> torch.arange(m, device=device)) & 1 == 1


def _n_players(v: Tensor, name: str = "v") -> int:
    if not isinstance(v, Tensor):
        raise _checks.BadInputType(f"{name} must be a torch.Tensor of coalition values, got "
                                   f"{type(v).__name__}; convert it with torch.as_tensor({name})")
    k = v.shape[-1] if v.dim() else 0
    m = k.bit_length() - 1
    if k < 1 or 2 ** m != k:
        raise _checks.BadInput(f"{name} must hold one value per coalition along its last dimension "
                               f"(2^M entries, row k = the coalition of the bits of k, as "
                               f"coalitions(M) lists them), got shape {tuple(v.shape)}")
    return m


def from_game(v: Tensor) -> Tensor:
    """Shapley values (Shapley 1953) of the game ``v`` given as a table: ``v[..., k]`` is
    the value of the coalition with the bits of k (:func:`coalitions`). Returns
    ``(..., M)``, in float64: φ_i = Σ_{S∌i} |S|!(M−|S|−1)!/M! · (v(S∪i) − v(S))."""
    m = _n_players(v)
    v = v.double()
    k = torch.arange(2 ** m, device=v.device)
    size = coalitions(m, v.device).sum(1)
    weight = torch.tensor([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                           for s in range(m)], dtype=torch.float64, device=v.device)
    phi = []
    for i in range(m):
        without = k[(k >> i) & 1 == 0]                                  # S ∌ i
        gain = v[..., without | (1 << i)] - v[..., without]              # v(S ∪ i) − v(S)
        phi.append((gain * weight[size[without]]).sum(-1))
    return torch.stack(phi, -1) if phi else v[..., :0]


def banzhaf_from_game(v: Tensor) -> Tensor:
    """Banzhaf values (Banzhaf 1965) of the game table ``v``: the *unweighted* mean of
    v(S ∪ i) − v(S) over the 2^(M−1) coalitions S ∌ i. Symmetric, dummy and additive like
    Shapley, but not efficient: they need not sum to v(N) − v(∅). ``(..., M)``, float64."""
    m = _n_players(v)
    v = v.double()
    k = torch.arange(2 ** m, device=v.device)
    phi = [(v[..., k[(k >> i) & 1 == 0] | (1 << i)] - v[..., k[(k >> i) & 1 == 0]]).mean(-1)
           for i in range(m)]
    return torch.stack(phi, -1) if phi else v[..., :0]


def kernel_weights(m: int) -> Tensor:
    """The Shapley kernel of KernelSHAP (Lundberg & Lee 2017, Theorem 2): the weight of
    one coalition of size k, π(k) = (M − 1) / (C(M, k) · k · (M − k)), for k = 0..M
    (infinite at k = 0 and M: those two are constraints). ``(m + 1,)`` float64."""
    _checks.positive_int(m, "m", minimum=1)
    w = [math.inf if k in (0, m) else (m - 1) / (math.comb(m, k) * k * (m - k))
         for k in range(m + 1)]
    return torch.tensor(w, dtype=torch.float64)


def _setup(model: nn.Module, x: Tensor, target, feature_mask, baseline):
    _check_model_and_x(model, x)
    t = _targets(target, len(x), x.device)
    mask, m = _checks.feature_mask(feature_mask, x)
    b = _check_baseline(baseline, x)
    return t, mask.reshape(len(x), -1), m, b


def _game(model: nn.Module, x: Tensor, t: Tensor, b: Tensor, mask: Tensor, z: Tensor,
          batch_size: int | None) -> Tensor:
    """v(z) for coalitions ``z`` ``(K, M)`` (shared) or ``(N, K, M)``: ``(N, K)``."""
    n = len(x)
    z = z.expand(n, *z.shape[-2:]) if z.dim() == 2 else z
    k = z.shape[1]
    xf, bf = x.reshape(n, -1), b.reshape(n, -1)
    rows = torch.arange(n, device=x.device).repeat_interleave(k)          # (N·K,)

    def one(r: Tensor, zb: Tensor) -> Tensor:
        on = zb.gather(1, mask[r])                                         # (B, P): keep x?
        return _pick(_forward(model, torch.where(on, xf[r], bf[r]).view(-1, *x.shape[1:])), t[r])

    with torch.no_grad():
        return batched(one, rows, z.reshape(n * k, -1), batch_size=batch_size,
                       progress="coalitions through the model").view(n, k)


def _spread(phi: Tensor, mask: Tensor, x: Tensor) -> Tensor:
    """Group values ``(N, M)`` → every element of x carries its group's value."""
    return phi.to(x.dtype).gather(1, mask).view_as(x)


def _batch_size(batch_size) -> None:
    _checks.optional_batch_size(batch_size)


def coalition_values(model: nn.Module, x: Tensor, target: int | Tensor, coalitions: Tensor,
                     feature_mask: Tensor | None = None, baseline: float | Tensor = 0.0,
                     batch_size: int | None = 4096) -> Tensor:
    """The game itself: v(S) = f(x on S, baseline elsewhere)[target] for every coalition,
    ``coalitions`` a bool ``(K, M)`` (shared by the batch) or ``(N, K, M)``. Returns
    ``(N, K)`` in the model's dtype."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    if not isinstance(coalitions, Tensor) or coalitions.dtype != torch.bool:
        raise _checks.BadInput("coalitions must be a bool tensor (K, M): True keeps a feature "
                               "from x; e.g. shapley.coalitions(M) lists all of them")
    if coalitions.dim() not in (2, 3) or coalitions.shape[-1] != m or \
            (coalitions.dim() == 3 and len(coalitions) != len(x)):
        raise _checks.BadInput(f"coalitions must have shape (K, {m}) or ({len(x)}, K, {m}) (one "
                               f"column per feature), got {tuple(coalitions.shape)}")
    return _game(model, x, t, b, mask, coalitions.to(x.device), batch_size)


# --- exact and sampled Shapley values ------------------------------------------------------------

def exact(model: nn.Module, x: Tensor, target: int | Tensor, feature_mask: Tensor | None = None,
          baseline: float | Tensor = 0.0, batch_size: int | None = 4096) -> Tensor:
    """Exact Shapley values (Shapley 1953) of the game v(S) = f(x_S, baseline_rest): all
    2^M coalitions through the model (batched), then :func:`from_game`. Efficient to
    round-off: a sample's values over its groups sum to f(x) − f(baseline). Refuses more
    than :data:`MAX_EXACT` features (group them, or estimate: :func:`kernel_shap`,
    :func:`sampling`)."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    if m > MAX_EXACT and (used := int(mask.unique().numel())) < m:
        raise _checks.BadInput(f"feature_mask uses {used} group ids but its largest is {m - 1}: ids count "
                               f"as features 0..{m - 1}, gaps included (M = {m}); renumber them "
                               "0..K-1 with torch.unique(feature_mask, return_inverse=True)[1]")
    if m > MAX_EXACT:
        raise _checks.BadInput(f"exact enumerates 2^M coalitions and x has M = {m} features "
                               f"(2^{m} model calls per sample); exact handles at most M = "
                               f"{MAX_EXACT}: group the features with feature_mask (superpixels, "
                               "patches) or estimate the values with kernel_shap(...) or "
                               "sampling(...)")
    v = _game(model, x, t, b, mask, coalitions(m, x.device), batch_size)   # (N, 2^M)
    return _spread(from_game(v), mask, x)


def _generator(seed) -> torch.Generator:
    return torch.Generator().manual_seed(_checks.seed(seed))


def sampling(model: nn.Module, x: Tensor, target: int | Tensor,
             feature_mask: Tensor | None = None, baseline: float | Tensor = 0.0,
             n_samples: int = 25, seed: int = 0, batch_size: int | None = 4096) -> Tensor:
    """Shapley values by permutation sampling (Castro et al. 2009; Štrumbelj & Kononenko
    2014, eq. 11 with a fixed baseline): walk ``n_samples`` random orders of the M
    features, adding one at a time, and average each feature's marginal contribution
    v(S ∪ i) − v(S). Unbiased and efficient for any ``n_samples`` (each order's gains
    telescope to v(N) − v(∅)). Costs n_samples·(M − 1) + 2 model calls per sample.

    The orders are ``torch.randperm(M)`` from a generator seeded with ``seed``: the same
    orders as Captum's ``ShapleyValueSampling`` after ``torch.manual_seed(seed)``, so
    the two agree to float precision."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    _checks.positive_int(n_samples, "n_samples")
    g = _generator(seed)
    perms = torch.stack([torch.randperm(m, generator=g) for _ in range(n_samples)]).to(x.device)
    rank = perms.argsort(1)                                                 # position of i
    steps = torch.arange(1, m, device=x.device)                            # inner prefixes
    inner = rank[:, None, :] < steps[None, :, None]                         # (S, M−1, M)
    ends = coalitions(1, x.device).expand(2, m)                             # ∅ and N
    v = _game(model, x, t, b, mask, torch.cat([ends, inner.reshape(-1, m)]), batch_size)
    v_prefix = torch.cat([v[:, :1].expand(-1, n_samples)[..., None],        # (N, S, M + 1)
                          v[:, 2:].view(len(x), n_samples, m - 1),
                          v[:, 1:2].expand(-1, n_samples)[..., None]], 2).double()
    gains = v_prefix[..., 1:] - v_prefix[..., :-1]                          # j-th added feature
    phi = torch.zeros_like(gains).scatter_(2, perms.expand(len(x), -1, -1), gains).mean(1)
    return _spread(phi, mask, x)


def _sample_coalitions(m: int, n_pairs: int, g: torch.Generator) -> Tensor:
    """``n_pairs`` coalitions with |S| = k drawn with probability ∝ (M − 1)/(k(M − k)),
    members uniform, each followed by its complement (paired sampling): ``(2·n_pairs, M)``."""
    k = torch.arange(1, m, dtype=torch.float64)
    size = torch.multinomial((m - 1) / (k * (m - k)), n_pairs, replacement=True, generator=g) + 1
    order = torch.rand(n_pairs, m, generator=g).argsort(1)
    z = order < size[:, None]                                               # k random members
    return torch.stack([z, ~z], 1).reshape(-1, m)


def _constrained_lstsq(z: Tensor, y: Tensor, w: Tensor, total: Tensor) -> Tensor:
    """min Σ_k w_k (y_k − z_k·φ)² subject to Σ φ = total, for every column of ``y``
    ``(K, N)``: φ = A⁻¹(b − 1·(1ᵀA⁻¹b − total)/(1ᵀA⁻¹1)) with A = Zᵀ W Z, b = Zᵀ W y
    (a Lagrange multiplier; Covert & Lee 2021, eq. 7). Returns ``(N, M)``."""
    zw = z.double().T * w                                                   # (M, K)
    a_inv = torch.linalg.pinv(zw @ z.double())
    b = zw @ y                                                              # (M, N)
    ones = torch.ones(len(a_inv), 1, dtype=torch.float64, device=z.device)
    a_inv_b, a_inv_1 = a_inv @ b, a_inv @ ones
    lam = ((ones.T @ a_inv_b) - total[None]) / (ones.T @ a_inv_1)           # (1, N)
    return (a_inv_b - a_inv_1 * lam).T


def kernel_shap(model: nn.Module, x: Tensor, target: int | Tensor,
                feature_mask: Tensor | None = None, baseline: float | Tensor = 0.0,
                n_samples: int = 2048, seed: int = 0, batch_size: int | None = 4096) -> Tensor:
    """KernelSHAP (Lundberg & Lee 2017, Theorem 2): the Shapley values are the weighted
    least-squares fit g(z) = v(∅) + Σ_i φ_i z_i of the game with the Shapley kernel
    π(|z|) (:func:`kernel_weights`) as weights and g(1) = v(N) as a constraint.

    ``n_samples`` coalitions are drawn with size k ∝ (M − 1)/(k(M − k)) (the kernel
    summed over the C(M, k) coalitions of that size), members uniformly, in pairs with
    their complements (Covert & Lee 2021); the fit then has unit weights, and the
    efficiency constraint Σφ = v(N) − v(∅) is solved exactly with a Lagrange multiplier.
    When ``n_samples`` ≥ 2^M − 2 every coalition is used once with its kernel weight
    and the result is the exact Shapley value. Costs n_samples + 2 model calls per
    sample (n_samples rounded down to even)."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    _checks.positive_int(n_samples, "n_samples", minimum=2)
    g = _generator(seed)
    ends = _game(model, x, t, b, mask, coalitions(1, x.device).expand(2, m), batch_size).double()
    total = ends[:, 1] - ends[:, 0]                                         # v(N) − v(∅)
    if m == 1:
        return _spread(total[:, None], mask, x)
    if n_samples >= 2 ** m - 2:                                             # enumerate them all
        z = coalitions(m, x.device)[1:-1]
        w = kernel_weights(m).to(x.device)[z.sum(1)]
    else:
        z = _sample_coalitions(m, n_samples // 2, g).to(x.device)
        w = torch.ones(len(z), dtype=torch.float64, device=x.device)
    y = _game(model, x, t, b, mask, z, batch_size).double() - ends[:, :1]   # (N, K)
    return _spread(_constrained_lstsq(z, y.T, w, total), mask, x)


# --- LIME ---------------------------------------------------------------------------------------

def lime(model: nn.Module, x: Tensor, target: int | Tensor, feature_mask: Tensor | None = None,
         baseline: float | Tensor = 0.0, n_samples: int = 1000, kernel_width: float = 0.25,
         alpha: float = 1.0, seed: int = 0, coalitions: Tensor | None = None,
         batch_size: int | None = 4096) -> Tensor:
    """LIME (Ribeiro, Singh & Guestrin 2016, eqs. 1–2) over coalitions: a local linear
    surrogate g(z) = w₀ + Σ_i w_i z_i of the game, fitted by ridge regression

        min_w  Σ_z π(z) (v(z) − g(z))² + alpha·‖w‖²     (w₀ not penalised),

    with weights π(z) = exp(−D(z)² / kernel_width²), D(z) the cosine distance between
    z and the all-ones coalition (x itself) — the kernel of LIME's image explainer
    (Captum's exponential kernel with width kernel_width/√2, applied to z). ``n_samples``
    coalitions: the first is x itself, the others keep each feature with probability ½
    (as Captum's ``Lime``); or pass your own ``coalitions`` (K, M) bool. Returns the
    coefficients w, spread over the groups. They need not sum to f(x) − f(baseline)."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    _checks.positive(kernel_width, "kernel_width")
    _checks.non_negative(alpha, "alpha")
    if coalitions is None:
        _checks.positive_int(n_samples, "n_samples", minimum=2)
        g = _generator(seed)
        z = torch.rand(n_samples, m, generator=g) < 0.5
        z[0] = True
    else:
        if not isinstance(coalitions, Tensor) or coalitions.dtype != torch.bool or \
                coalitions.dim() != 2 or coalitions.shape[1] != m:
            raise _checks.BadInput(f"coalitions must be a bool tensor of shape (K, {m}) (one column "
                                   f"per feature), got {getattr(coalitions, 'shape', coalitions)!r}")
        z = coalitions
    z = z.to(x.device)
    size = z.sum(1).double()
    distance = torch.where(size > 0, 1 - torch.sqrt(size / m), torch.ones_like(size))
    w = torch.exp(-distance ** 2 / kernel_width ** 2)                       # (K,)
    y = _game(model, x, t, b, mask, z, batch_size).double().T              # (K, N)
    zd = z.double()
    zc = zd - (w @ zd) / w.sum()                                            # weighted centring
    yc = y - (w @ y) / w.sum()
    a = (zc.T * w) @ zc + alpha * torch.eye(m, dtype=torch.float64, device=x.device)
    coef = torch.linalg.lstsq(a, (zc.T * w) @ yc).solution                 # (M, N)
    return _spread(coef.T, mask, x)


# --- what a feature is: superpixels and patches ------------------------------------------------

def superpixels(x: Tensor, n_segments: int = 16, compactness: float = 0.1,
                sigma: float = 0.0) -> Tensor:
    """SLIC superpixels (Achanta et al. 2012, scikit-image's ``slic``) of every image of
    ``x`` ``(N, C, H, W)``: ``(N, 1, H, W)`` int64 group ids 0..K−1 per image (K about
    ``n_segments``; SLIC keeps segments connected, so K varies a little). Use it as
    ``feature_mask`` here or in ``saliency.feature_ablation``. ``compactness`` trades
    colour similarity (small) against square, grid-like segments (large); ``sigma``
    smooths the image first. Images should be scaled to about [0, 1]."""
    from skimage.segmentation import slic

    _checks.tensor(x, "x", dim=4, shape_hint="(N, C, H, W)")
    _checks.channels_first(x)
    _checks.positive_int(n_segments, "n_segments")
    _checks.positive(compactness, "compactness")
    _checks.non_negative(sigma, "sigma")
    images = x.detach().to("cpu", torch.float64).numpy().transpose(0, 2, 3, 1)
    masks = []
    for img in images:
        seg = slic(img, n_segments=n_segments, compactness=compactness, sigma=sigma,
                   channel_axis=-1, start_label=0)
        masks.append(np.unique(seg, return_inverse=True)[1].reshape(seg.shape))  # 0..K−1
    return torch.as_tensor(np.stack(masks), dtype=torch.long, device=x.device)[:, None]


def patches(x: Tensor, size: int) -> Tensor:
    """Square ``size``×``size`` patches as a feature mask ``(1, 1, H, W)`` (ids row by
    row; patches at the right and bottom edges are cut)."""
    _checks.tensor(x, "x", dim=4, shape_hint="(N, C, H, W)")
    h, w = x.shape[2:]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or \
            not 1 <= size <= min(h, w):
        raise _checks.BadInput(f"size must be an int in 1..{min(h, w)} (the image side), got {size!r}")
    rows = torch.arange(h, device=x.device) // size
    cols = torch.arange(w, device=x.device) // size
    return (rows[:, None] * math.ceil(w / size) + cols[None, :])[None, None]


def group_values(attribution: Tensor, feature_mask: Tensor) -> Tensor:
    """The value of each group, ``(N, M)``, read back from a spread attribution (the mean
    over the group's elements; groups without elements get 0)."""
    _checks.tensor(attribution, "attribution", min_dim=2)
    mask, m = _checks.feature_mask(feature_mask, attribution)
    n = len(attribution)
    a, mk = attribution.reshape(n, -1).double(), mask.reshape(n, -1)
    total = torch.zeros(n, m, dtype=torch.float64, device=a.device).scatter_add_(1, mk, a)
    count = torch.zeros_like(total).scatter_add_(1, mk, torch.ones_like(a))
    return (total / count.clamp_min(1)).to(attribution.dtype)


# --- one door for widgets and tables ------------------------------------------------------------

#: Method name → what it is (used by the widgets and the notebook's tables).
METHODS = {
    "exact Shapley": "all 2^M coalitions",
    "permutation sampling": "random orders",
    "KernelSHAP": "weighted least squares",
    "LIME": "local ridge surrogate",
    "feature ablation": "one group off at a time",
}


def explain(method: str, model: nn.Module, x: Tensor, target: int | Tensor,
            feature_mask: Tensor | None = None, baseline: float | Tensor = 0.0, *,
            n_samples: int | None = None, kernel_width: float = 0.25, seed: int = 0) -> Tensor:
    """Call the method named ``method`` (a key of :data:`METHODS`). ``n_samples`` is the
    method's own (orders for permutation sampling, coalitions otherwise); None takes
    each method's default."""
    _checks.choice(method, "method", METHODS)
    kw = {} if n_samples is None else {"n_samples": n_samples}
    if method == "exact Shapley":
        return exact(model, x, target, feature_mask, baseline)
    if method == "permutation sampling":
        return sampling(model, x, target, feature_mask, baseline, seed=seed, **kw)
    if method == "KernelSHAP":
        return kernel_shap(model, x, target, feature_mask, baseline, seed=seed, **kw)
    if method == "LIME":
        return lime(model, x, target, feature_mask, baseline, kernel_width=kernel_width,
                    seed=seed, **kw)
    from .saliency import feature_ablation
    return feature_ablation(model, x, target, feature_mask, baseline)
