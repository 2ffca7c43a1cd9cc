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

import itertools
import math

import numpy as np
import torch
from torch import Tensor, nn

from . import _calls, _checks
from ._batching import batched

__all__ = ["MAX_EXACT", "coalitions", "from_game", "banzhaf_from_game", "kernel_weights", "kernel_coalitions",
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
    _calls.check_model_and_x(model, x)
    t = _checks.targets(target, len(x), x.device)
    mask, m = _checks.feature_mask(feature_mask, x)
    b = _calls.baseline_like(baseline, x)
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
        return _calls.pick(_calls.forward(model, torch.where(on, xf[r], bf[r]).view(-1, *x.shape[1:])), t[r])

    with torch.no_grad():
        return batched(one, rows, z.reshape(n * k, -1), batch_size=batch_size,
                       progress="coalitions through the model").view(n, k)


def _spread(phi: Tensor, mask: Tensor, x: Tensor) -> Tensor:
    """Group values ``(N, M)`` → every element of x carries its group's value."""
    return phi.to(x.dtype).gather(1, mask).view_as(x)


def _batch_size(batch_size) -> None:
    _checks.optional_batch_size(batch_size)


def _own_groups(x: Tensor, mask: Tensor, m: int, solve) -> Tensor:
    """Solve every sample's game over the groups *it* has. Samples whose masks use the
    same set of ids (all of them, for a shared mask) are solved together:
    ``solve(rows, local_mask, k)`` gets their rows, their mask renumbered 0..k−1 and k,
    and returns ``(len(rows), k)`` group values, spread here over the elements. An id a
    sample lacks (per-image superpixels, gaps in the ids) is not a player of its game,
    so it cannot absorb part of the total, and no sample's values depend on its batch."""
    present = torch.zeros(len(x), m, dtype=torch.bool, device=x.device)
    present.scatter_(1, mask, True)
    kinds, which = torch.unique(present, dim=0, return_inverse=True)
    out = torch.empty_like(x)
    for j, used in enumerate(kinds):
        rows = (which == j).nonzero().flatten()
        ids = used.nonzero().flatten()
        local = torch.searchsorted(ids, mask[rows])
        out[rows] = _spread(solve(rows, local, len(ids)), local, x[rows])
    return out


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
    round-off: a sample's values over its groups sum to f(x) − f(baseline). M counts the
    groups a sample has (ids it lacks are not players). Refuses more than
    :data:`MAX_EXACT` features (group them, or estimate: :func:`kernel_shap`,
    :func:`sampling`)."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)

    def solve(rows: Tensor, local: Tensor, k: int) -> Tensor:
        if k > MAX_EXACT:
            raise _checks.BadInput(
                f"exact enumerates 2^M coalitions and x has M = {k} features (2^{k} model "
                f"calls per sample); exact handles at most M = {MAX_EXACT}: group the features "
                "with feature_mask (superpixels, patches) or estimate the values with "
                "kernel_shap(...) or sampling(...)")
        v = _game(model, x[rows], t[rows], b[rows], local, coalitions(k, x.device), batch_size)
        return from_game(v)                                                 # (n, k)
    return _own_groups(x, mask, m, solve)


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
    orders as Captum's ``ShapleyValueSampling`` after ``torch.manual_seed(seed)`` (when
    every sample has all M groups), so the two agree to float precision."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    _checks.positive_int(n_samples, "n_samples")

    def solve(rows: Tensor, local: Tensor, k: int) -> Tensor:
        g = _generator(seed)
        perms = torch.stack([torch.randperm(k, generator=g) for _ in range(n_samples)]).to(x.device)
        steps = torch.arange(1, k, device=x.device)                        # inner prefixes
        inner = perms.argsort(1)[:, None, :] < steps[None, :, None]         # (S, k−1, k)
        ends = coalitions(1, x.device).expand(2, k)                         # ∅ and N
        v = _game(model, x[rows], t[rows], b[rows], local, torch.cat([ends, inner.reshape(-1, k)]),
                  batch_size)
        n = len(rows)
        v_prefix = torch.cat([v[:, :1].expand(-1, n_samples)[..., None],    # (n, S, k + 1)
                              v[:, 2:].view(n, n_samples, k - 1),
                              v[:, 1:2].expand(-1, n_samples)[..., None]], 2).double()
        gains = v_prefix[..., 1:] - v_prefix[..., :-1]                      # j-th added feature
        return torch.zeros_like(gains).scatter_(2, perms.expand(n, -1, -1), gains).mean(1)
    return _own_groups(x, mask, m, solve)


def kernel_coalitions(m: int, n_samples: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The design of :func:`kernel_shap`: ``n_samples`` distinct coalitions of ``m``
    features, ``(K, m)`` bool, and their weights ``(K,)`` float64.

    The Shapley kernel puts mass μ(k) = (M − 1)/(k(M − k)) on the coalitions of size k.
    Sizes are taken in pairs (k, M − k) from the outside in; a pair whose share of the
    remaining budget covers all its coalitions is enumerated, each with its kernel weight
    μ(k)/C(M, k). The rest are drawn, sizes ∝ μ and members uniform, each with its
    complement (Covert & Lee 2021), until the budget holds that many *distinct* coalitions
    (a repeat costs no model call: it adds weight), every draw weighing the remaining mass
    / the number of draws. Enumerating first and paying only for distinct coalitions is
    what shap's ``KernelExplainer`` does."""
    _checks.positive_int(m, "m", minimum=2)
    _checks.positive_int(n_samples, "n_samples", minimum=2)
    mass = {k: (m - 1) / (k * (m - k)) for k in range(1, m)}
    left, budget, k = sum(mass.values()), n_samples, 1
    z, w = [torch.zeros(0, m, dtype=torch.bool)], [torch.zeros(0, dtype=torch.float64)]
    while k <= m - k:
        sizes = sorted({k, m - k})
        count, pair = sum(math.comb(m, s) for s in sizes), sum(mass[s] for s in sizes)
        if budget * pair / left < count - 1e-9:
            break
        for s in sizes:
            members = torch.tensor(list(itertools.combinations(range(m), s)))   # (C(M, s), s)
            z.append(torch.zeros(len(members), m, dtype=torch.bool).scatter_(1, members, True))
            w.append(torch.full((len(members),), mass[s] / math.comb(m, s), dtype=torch.float64))
        budget, left, k = budget - count, left - pair, k + 1
    if k <= m - k and budget >= 2:
        drawn, counts = _draw_pairs(m, torch.arange(k, m - k + 1), mass, budget // 2, _generator(seed))
        z.append(torch.stack([drawn, ~drawn], 1).reshape(-1, m))             # each, its complement
        w.append((counts * left / (2 * counts.sum())).repeat_interleave(2))
    return torch.cat(z), torch.cat(w)


def _draw_pairs(m: int, sizes: Tensor, mass: dict, n_pairs: int, g: torch.Generator):
    """Distinct complementary pairs drawn with size ∝ ``mass`` over ``sizes``: up to
    ``n_pairs`` of them from at most 4·n_pairs draws; returns (one coalition of each
    pair, how often each pair was drawn)."""
    p = torch.tensor([mass[int(s)] for s in sizes], dtype=torch.float64)
    size = sizes[torch.multinomial(p, 4 * n_pairs, replacement=True, generator=g)]
    draws = torch.rand(4 * n_pairs, m, generator=g).argsort(1) < size[:, None]
    seen: dict[bytes, list] = {}                                   # pair → [first drawn, count]
    for i, one in enumerate(draws.numpy()):
        key = (one if one[0] else ~one).tobytes()                  # the pair, either way round
        if key not in seen and len(seen) == n_pairs:
            break
        seen.setdefault(key, [i, 0])[1] += 1
    first, counts = torch.tensor(list(seen.values()), dtype=torch.long).T
    return draws[first], counts.double()


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

    ``n_samples`` coalitions: the sizes whose kernel mass the budget covers are
    enumerated with their kernel weights, the rest drawn with size ∝ (M − 1)/(k(M − k))
    in pairs with their complements (:func:`kernel_coalitions`); the efficiency
    constraint Σφ = v(N) − v(∅) is solved exactly with a Lagrange multiplier. When
    ``n_samples`` ≥ 2^M − 2 every coalition is enumerated and the result is the exact
    Shapley value. Each sample is solved over its own groups. Costs about
    n_samples + 2 model calls per sample."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    _checks.positive_int(n_samples, "n_samples", minimum=2)

    def solve(rows: Tensor, local: Tensor, k: int) -> Tensor:
        xr, tr, br = x[rows], t[rows], b[rows]
        ends = _game(model, xr, tr, br, local, coalitions(1, x.device).expand(2, k), batch_size)
        ends = ends.double()
        total = ends[:, 1] - ends[:, 0]                                     # v(N) − v(∅)
        if k == 1:
            return total[:, None]
        z, w = kernel_coalitions(k, n_samples, seed)
        z, w = z.to(x.device), w.to(x.device)
        y = _game(model, xr, tr, br, local, z, batch_size).double() - ends[:, :1]   # (n, K)
        return _constrained_lstsq(z, y.T, w, total)
    return _own_groups(x, mask, m, solve)


# --- LIME ---------------------------------------------------------------------------------------

def _lime_coalitions(coalitions, m: int, n_samples: int, seed) -> Tensor:
    if coalitions is None:
        _checks.positive_int(n_samples, "n_samples", minimum=2)
        z = torch.rand(n_samples, m, generator=_generator(seed)) < 0.5
        z[0] = True
        return z
    if not isinstance(coalitions, Tensor) or coalitions.dtype != torch.bool or \
            coalitions.dim() != 2 or coalitions.shape[1] != m:
        raise _checks.BadInput(f"coalitions must be a bool tensor of shape (K, {m}) (one column "
                               f"per feature), got {getattr(coalitions, 'shape', coalitions)!r}")
    return coalitions


def lime(model: nn.Module, x: Tensor, target: int | Tensor, feature_mask: Tensor | None = None,
         baseline: float | Tensor = 0.0, n_samples: int = 1000, kernel_width: float = 0.25,
         alpha: float = 1.0, seed: int = 0, coalitions: Tensor | None = None,
         batch_size: int | None = 4096) -> Tensor:
    """LIME (Ribeiro, Singh & Guestrin 2016, eqs. 1–2) over coalitions: a local linear
    surrogate g(z) = w₀ + Σ_i w_i z_i of the game, fitted by ridge regression

        min_w  Σ_z π(z) (v(z) − g(z))² + alpha·‖w‖²     (w₀ not penalised),

    with weights π(z) = exp(−D(z)² / (2·kernel_width²)), D(z) the cosine distance between
    z and the all-ones coalition (x itself): the kernel of the lime package's image
    explainer (√exp(−D²/width²)) and Captum's exponential kernel, at the same width and
    the same default 0.25. ``n_samples`` coalitions: the first is x itself, the others keep
    each feature with probability ½ (as lime and Captum's ``Lime``); or pass your own
    ``coalitions`` (K, M) bool (column i: group id i). Returns the coefficients w, spread
    over the groups. They need not sum to f(x) − f(baseline)."""
    t, mask, m, b = _setup(model, x, target, feature_mask, baseline)
    _batch_size(batch_size)
    _checks.positive(kernel_width, "kernel_width")
    _checks.non_negative(alpha, "alpha")
    given = _lime_coalitions(coalitions, m, n_samples, seed)

    def solve(rows: Tensor, local: Tensor, k: int) -> Tensor:
        ids = torch.unique(mask[rows[0]])
        z = (given[:, ids.cpu()] if coalitions is not None
             else _lime_coalitions(None, k, n_samples, seed)).to(x.device)
        size = z.sum(1).double()
        distance = torch.where(size > 0, 1 - torch.sqrt(size / k), torch.ones_like(size))
        w = torch.exp(-distance ** 2 / (2 * kernel_width ** 2))              # (K,)
        y = _game(model, x[rows], t[rows], b[rows], local, z, batch_size).double().T   # (K, n)
        zd = z.double()
        zc = zd - (w @ zd) / w.sum()                                        # weighted centring
        yc = y - (w @ y) / w.sum()
        a = (zc.T * w) @ zc + alpha * torch.eye(k, dtype=torch.float64, device=x.device)
        return torch.linalg.lstsq(a, (zc.T * w) @ yc).solution.T            # (n, k)
    return _own_groups(x, mask, m, solve)


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
