"""Shapley values, KernelSHAP, LIME and feature ablation against independent references:
brute force over every order of the features, Captum's implementations, closed forms."""
from __future__ import annotations

import pytest
import torch
from captum.attr import FeatureAblation
from torch import nn

from xaitutor import models, saliency


def _cnn(seed: int = 0, dtype=torch.float32) -> nn.Module:
    """A random small CNN whose scores move by O(1) when pixels change (an untrained
    network's scores barely do, and a comparison to 1e-6 would then test nothing)."""
    torch.manual_seed(seed)
    model = models.SmallCNN(1, 3, width=8)
    with torch.no_grad():
        model.fc.weight.mul_(30)
    return model.to(dtype).eval()


def _blocks(h: int = 8, w: int = 8, size: int = 4) -> torch.Tensor:
    """(1, 1, h, w) ids of size×size blocks."""
    rows, cols = torch.arange(h) // size, torch.arange(w) // size
    return (rows[:, None] * ((w + size - 1) // size) + cols[None, :])[None, None]


@pytest.mark.parametrize("mask_kind", ["blocks", "per-sample", "none"])
def test_feature_ablation_equals_captum(mask_kind):
    model = _cnn(1)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = {"blocks": _blocks(size=3),
            "per-sample": torch.randint(0, 5, (3, 1, 8, 8), generator=torch.Generator().manual_seed(1)),
            "none": None}[mask_kind]
    target = torch.tensor([0, 2, 1])
    ours = saliency.feature_ablation(model, x, target, mask, baseline=0.2)
    theirs = FeatureAblation(model).attribute(x, target=target, feature_mask=mask, baselines=0.2)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert ours.abs().max() > 1e-3                         # something was ablated


def test_feature_ablation_of_one_group_is_the_score_drop_written_out():
    model = _cnn(2, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    mask = _blocks(size=4)                                  # 4 groups
    ours = saliency.feature_ablation(model, x, 1, mask)
    with torch.no_grad():
        for g in range(4):
            ablated = torch.where(mask == g, 0.0, x)
            drop = model(x)[0, 1] - model(ablated)[0, 1]
            assert torch.allclose(ours[mask.expand_as(x) == g], drop, atol=1e-12)


# --- shapley ---------------------------------------------------------------------------------
import itertools  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
from captum.attr import KernelShap, Lime, ShapleyValues, ShapleyValueSampling  # noqa: E402

from xaitutor import data, shapley  # noqa: E402


def _mlp(d: int = 5, seed: int = 0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 3)).to(dtype).eval()


def _masked(x, b, mask, keep: set[int]):
    """x where the mask's group is in ``keep``, b elsewhere — written out, not the library's."""
    on = torch.zeros_like(mask, dtype=torch.bool)
    for g in keep:
        on |= mask == g
    return torch.where(on, x, b)


def brute_force_shapley(model, x, target, mask, m, baseline):
    """φ_i = (1/M!) Σ over every order of (v(predecessors ∪ i) − v(predecessors)), one
    model call per coalition, for a single sample ``x`` (1, ...)."""
    cache = {}

    def v(s: frozenset) -> float:
        if s not in cache:
            with torch.no_grad():
                cache[s] = model(_masked(x, baseline, mask, s))[0, target].item()
        return cache[s]

    phi = np.zeros(m)
    for order in itertools.permutations(range(m)):
        before = frozenset()
        for i in order:
            phi[i] += v(before | {i}) - v(before)
            before = before | {i}
    return phi / math.factorial(m)


def _game_table(model, x, target, mask, m, baseline):
    """v for every coalition in bit order, written out (one call per coalition)."""
    out = []
    for k in range(2 ** m):
        with torch.no_grad():
            out.append(model(_masked(x, baseline, mask, {i for i in range(m) if k >> i & 1}))[0, target].item())
    return torch.tensor(out, dtype=torch.float64)


def test_from_game_equals_the_average_over_every_order():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(3, 2 ** 4, generator=g, dtype=torch.float64)
    ours = shapley.from_game(v)
    for row in range(3):
        ref = np.zeros(4)
        for order in itertools.permutations(range(4)):
            before = 0
            for i in order:
                ref[i] += (v[row, before | 1 << i] - v[row, before]).item()
                before |= 1 << i
        np.testing.assert_allclose(ours[row].numpy(), ref / 24, atol=1e-12)


def test_shapley_axioms_hold_on_a_hand_made_game():
    # 3 players: v(S) = 2·[0 ∈ S] + [1 ∈ S and 2 ∈ S]; player 3 of 4 is a dummy
    v = torch.tensor([2.0 * (k & 1) + float(k & 6 == 6) for k in range(16)], dtype=torch.float64)
    phi = shapley.from_game(v)
    torch.testing.assert_close(phi, torch.tensor([2.0, 0.5, 0.5, 0.0], dtype=torch.float64))
    w = torch.randn(16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(shapley.from_game(v + w), phi + shapley.from_game(w))   # additivity


def test_banzhaf_is_the_unweighted_mean_of_marginal_contributions():
    v = torch.randn(2 ** 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ref = [np.mean([(v[s | 1 << i] - v[s]).item() for s in range(16) if not s >> i & 1])
           for i in range(4)]
    np.testing.assert_allclose(shapley.banzhaf_from_game(v).numpy(), ref, atol=1e-12)
    and3 = torch.tensor([float(k == 7) for k in range(8)], dtype=torch.float64)   # 3-way AND
    np.testing.assert_allclose(shapley.banzhaf_from_game(and3).numpy(), [0.25] * 3)
    np.testing.assert_allclose(shapley.from_game(and3).numpy(), [1 / 3] * 3)


def test_exact_equals_brute_force_on_an_mlp_without_mask():
    model = _mlp(5, seed=3, dtype=torch.float64)
    x = torch.randn(2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    base = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ours = shapley.exact(model, x, torch.tensor([0, 2]), baseline=base)
    mask = torch.arange(5)[None]
    for i, t in enumerate((0, 2)):
        ref = brute_force_shapley(model, x[i:i + 1], t, mask, 5, base[None])
        np.testing.assert_allclose(ours[i].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("shared", [True, False])
def test_exact_equals_brute_force_on_a_cnn_with_group_masks(shared):
    model = _cnn(5, torch.float64)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    mask = _blocks(size=4) if shared else torch.randint(0, 6, (2, 1, 8, 8), generator=torch.Generator().manual_seed(7))
    ours = shapley.exact(model, x, 1, mask, baseline=0.1)
    for i in range(2):
        mi = mask[0 if shared else i][None]
        m = int(mi.max()) + 1
        assert m == (4 if shared else 6)
        ref = brute_force_shapley(model, x[i:i + 1], 1, mi, m, torch.full_like(x[:1], 0.1))
        np.testing.assert_allclose(shapley.group_values(ours[i:i + 1], mi)[0].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_exact_equals_captum_shapley_values(kind):
    if kind == "mlp":
        model, mask = _mlp(5, seed=7), None
        x = torch.randn(3, 5, generator=torch.Generator().manual_seed(8))
    else:                                                  # a segmentation per image, 6 groups
        model = _cnn(9)
        mask = torch.randint(0, 6, (3, 1, 8, 8), generator=torch.Generator().manual_seed(9))
        x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(10))
    target = torch.tensor([0, 1, 2])
    ours = shapley.exact(model, x, target, mask, baseline=0.05)
    theirs = ShapleyValues(model).attribute(x, baselines=0.05, target=target, feature_mask=mask,
                                            perturbations_per_eval=64)
    # Captum sums float32 differences over M! orders: agree within its precision
    torch.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-5)
    assert ours.abs().max() > 1e-2


def test_exact_is_efficient_to_round_off_in_float64():
    model = _cnn(11, torch.float64)
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    base = torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    mask = shapley.superpixels(x, n_segments=8, compactness=0.2)           # 6 to 10 groups
    phi = shapley.group_values(shapley.exact(model, x, 2, mask, baseline=base), mask)
    with torch.no_grad():
        gap = model(x)[:, 2] - model(base)[:, 2]
    torch.testing.assert_close(phi.sum(1), gap, atol=1e-8, rtol=0)
    assert gap.abs().min() > 1e-3


def test_exact_does_not_depend_on_the_batch_size():
    model = _cnn(14)
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(15))
    a = shapley.exact(model, x, 0, _blocks(size=3), batch_size=None)
    b = shapley.exact(model, x, 0, _blocks(size=3), batch_size=100)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_coalition_values_are_the_model_on_the_masked_input():
    model = _cnn(16, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(17))
    mask = _blocks(size=4)
    v = shapley.coalition_values(model, x, 2, shapley.coalitions(4), mask, baseline=0.3)
    torch.testing.assert_close(v[0], _game_table(model, x, 2, mask, 4, torch.full_like(x, 0.3)))


def test_sampling_equals_captum_with_the_same_seed():
    model = _cnn(18)
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(19))
    mask = _blocks(size=3)
    ours = shapley.sampling(model, x, torch.tensor([1, 0]), mask, baseline=0.1, n_samples=30, seed=5)
    torch.manual_seed(5)
    theirs = ShapleyValueSampling(model).attribute(x, baselines=0.1, target=torch.tensor([1, 0]),
                                                   feature_mask=mask, n_samples=30,
                                                   perturbations_per_eval=16)
    torch.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-5)


def test_sampling_is_efficient_and_converges_to_exact():
    model = _cnn(20, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(21))
    mask = _blocks(size=3)                                                   # 9 groups
    ref = shapley.group_values(shapley.exact(model, x, 0, mask), mask)
    few = shapley.group_values(shapley.sampling(model, x, 0, mask, n_samples=3), mask)
    many = shapley.group_values(shapley.sampling(model, x, 0, mask, n_samples=3000), mask)
    torch.testing.assert_close(few.sum(), ref.sum(), atol=1e-10, rtol=0)    # efficiency
    err = lambda est: ((est - ref).norm() / ref.norm()).item()               # noqa: E731
    assert err(many) <= 0.05 and err(few) > 2 * err(many)


def test_kernel_shap_enumerating_every_coalition_is_exact():
    model = _cnn(22, torch.float64)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(23))
    mask = _blocks(size=3)
    ref = shapley.exact(model, x, 1, mask, baseline=0.2)
    full = shapley.kernel_shap(model, x, 1, mask, baseline=0.2, n_samples=2 ** 9)
    torch.testing.assert_close(full, ref, atol=1e-10, rtol=0)


def test_kernel_shap_is_efficient_and_within_a_few_percent_of_exact():
    """M = 14 features (2^14 − 2 coalitions, more than the 4,000 drawn) of an MLP with
    large weights: strong interactions, so a wrong sampling distribution or weighting
    lands elsewhere (drawing sizes uniformly: up to 7 % off)."""
    model = _mlp(14, seed=24, dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    x = torch.randn(3, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(25))
    ref = shapley.exact(model, x, 0)
    est = shapley.kernel_shap(model, x, 0, n_samples=4000, seed=1)
    few = shapley.kernel_shap(model, x, 0, n_samples=40, seed=1)
    torch.testing.assert_close(est.sum(1), ref.sum(1), atol=1e-10, rtol=0)   # efficiency
    err = (est - ref).norm(dim=1) / ref.norm(dim=1)
    err_few = (few - ref).norm(dim=1) / ref.norm(dim=1)
    assert err.max() <= 0.04 and err_few.mean() > 3 * err.mean(), (err, err_few)


class Spy(nn.Module):
    """Returns a constant and records every input it sees (x = 1, baseline = 0: the
    input *is* the coalition)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return torch.zeros(len(x), 2)


def test_kernel_shap_enumerates_the_sizes_its_budget_covers_and_draws_the_rest_by_the_kernel():
    """M = 16, 20,000 coalitions: the kernel's mass (∝ 1/(k(M − k)) per size) gives the
    pairs of sizes (1, 15) … (4, 12) more draws than they have coalitions, so each of those
    coalitions appears exactly once with its kernel weight (as in shap's KernelExplainer);
    sizes 5..11 are drawn ∝ the kernel, members uniform, each with its complement, and a
    repeat adds weight instead of a model call. What kernel_shap sends through the model
    is exactly this design."""
    m = 16
    z, w = shapley.kernel_coalitions(m, 20000, seed=0)
    spy = Spy().eval()
    shapley.kernel_shap(spy, torch.ones(1, m), 0, n_samples=20000, seed=0)
    assert torch.equal(torch.cat(spy.seen)[2:].bool(), z)                  # after ∅ and N
    assert len(z) == 20000 and len(torch.unique(z, dim=0)) == 20000        # distinct
    sizes = z.sum(1)
    full = (sizes <= 4) | (sizes >= 12)
    assert int(full.sum()) == 2 * sum(math.comb(m, k) for k in range(1, 5))
    torch.testing.assert_close(w[full], shapley.kernel_weights(m)[sizes[full]], atol=1e-15, rtol=0)
    k = torch.arange(1, m)
    mass = (m - 1) / (k * (m - k)).double()                                 # per size
    per_size = torch.zeros(m + 1, dtype=torch.float64).index_add_(0, sizes, w)[1:m]
    torch.testing.assert_close(per_size.sum(), mass.sum(), atol=1e-12, rtol=0)
    assert ((per_size - mass).abs() / mass).max() <= 0.05, (per_size, mass)
    drawn = z[~full]
    assert torch.equal(drawn[1::2], ~drawn[0::2])                           # each with its complement
    assert torch.equal(w[~full][1::2], w[~full][0::2])
    first = drawn[0::2].double()                                            # members uniform
    assert (first.mean(0) - first.sum(1).mean() / m).abs().max() <= 0.03


def _two_segmentations():
    """Two digits with 7 and 10 SLIC superpixels of their own: (2, 1, 8, 8) ids."""
    x = data.digits()[0][:40]
    seg = shapley.superpixels(x, n_segments=10, compactness=0.1)
    k = seg.flatten(1).amax(1) + 1
    pick = [int((k == 7).nonzero()[0]), int((k == 10).nonzero()[0])]
    return x[pick], seg[pick]


@pytest.mark.parametrize("method", ["kernel_shap", "sampling", "lime", "exact"])
def test_each_sample_is_solved_over_its_own_groups(method):
    """A batch of two images with 7 and 10 superpixels (ids 7..9 absent in the first):
    each image's values are those it gets alone, and KernelSHAP's stay efficient.
    Solved over the batch's largest id, the first image's absent ids became players and
    KernelSHAP lost up to 4.5 % of f(x) − f(baseline) to them."""
    model = _cnn(47, torch.float64)
    x, seg = _two_segmentations()
    x = x.double()
    f = getattr(shapley, method)
    kw = {} if method == "exact" else {"n_samples": 64, "seed": 0}
    both = f(model, x, 1, seg, **kw)
    for i in range(2):
        torch.testing.assert_close(both[i:i + 1], f(model, x[i:i + 1], 1, seg[i:i + 1], **kw),
                                   atol=1e-10, rtol=0)
    if method in ("kernel_shap", "sampling", "exact"):
        with torch.no_grad():
            total = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
        torch.testing.assert_close(shapley.group_values(both, seg).sum(1), total, atol=1e-10, rtol=0)


def test_gaps_in_the_group_ids_change_nothing():
    """Ids {0, 10, 20} are three features, as {0, 1, 2} are."""
    model = _mlp(4, seed=48, dtype=torch.float64)
    x = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(49))
    dense, gappy = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 10, 20, 20])
    for f in (shapley.exact, shapley.kernel_shap, shapley.sampling, shapley.lime):
        torch.testing.assert_close(f(model, x, 1, gappy), f(model, x, 1, dense), atol=1e-12, rtol=0)


def test_captums_kernel_shap_estimates_the_same_values():
    """Captum's KernelShap samples without pairs and makes the ends heavy (weight 1e6)
    instead of a constraint; with enough samples it also lands on the Shapley values."""
    model = _cnn(26)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(27))
    mask = _blocks(size=3)
    ref = shapley.group_values(shapley.exact(model, x, 2, mask), mask)
    torch.manual_seed(0)
    theirs = KernelShap(model).attribute(x, target=2, feature_mask=mask, n_samples=3000,
                                         perturbations_per_eval=500)
    ours = shapley.kernel_shap(model, x, 2, mask, n_samples=3000)
    for est in (ours, theirs):
        err = (shapley.group_values(est, mask) - ref).norm() / ref.norm()
        assert err <= 0.1, err


def test_same_seed_same_estimate_other_seed_other_estimate():
    model = _cnn(28)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(29))
    mask = _blocks(size=3)
    for f in (shapley.sampling, shapley.kernel_shap, shapley.lime):
        a, b = f(model, x, 0, mask, n_samples=40, seed=3), f(model, x, 0, mask, n_samples=40, seed=3)
        c = f(model, x, 0, mask, n_samples=40, seed=4)
        assert torch.equal(a, b) and not torch.allclose(a, c)


# --- LIME ---------------------------------------------------------------------------------


def _kernel(z: np.ndarray, width: float) -> np.ndarray:
    size = z.sum(1)
    d = np.where(size > 0, 1 - np.sqrt(size / z.shape[1]), 1.0)
    return np.exp(-d ** 2 / (2 * width ** 2))                                # lime's √exp(−d²/w²)


def test_lime_on_a_linear_model_equals_the_closed_form_weighted_ridge():
    torch.manual_seed(30)
    lin = nn.Linear(6, 2).double().eval()
    x = torch.randn(2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(31))
    base = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(32))
    mask = torch.tensor([[0, 0, 1, 2, 2, 3]])                                   # 4 groups
    z = torch.rand(200, 4, generator=torch.Generator().manual_seed(33)) < 0.5
    ours = lime_values = shapley.lime(lin, x, 1, mask, baseline=base, coalitions=z,
                                      kernel_width=0.4, alpha=0.7)
    W, c = lin.weight[1].detach().numpy(), lin.bias[1].item()
    zn, g = z.numpy().astype(float), np.array([0, 0, 1, 2, 2, 3])
    pi = np.diag(_kernel(zn, 0.4))
    design = np.hstack([np.ones((200, 1)), zn])
    penalty = 0.7 * np.diag([0.0, 1, 1, 1, 1])                                   # intercept free
    for i in range(2):
        xi, b = x[i].numpy(), base.numpy()
        inputs = np.where(zn[:, g] == 1, xi, b)                                   # (200, 6)
        y = inputs @ W + c
        beta = np.linalg.solve(design.T @ pi @ design + penalty, design.T @ pi @ y)
        np.testing.assert_allclose(shapley.group_values(ours[i:i + 1], mask)[0].numpy(),
                                   beta[1:], atol=1e-10)
    assert lime_values.abs().max() > 1e-2


def test_lime_with_no_penalty_on_a_linear_model_gives_its_shapley_values():
    torch.manual_seed(34)
    lin = nn.Linear(5, 2).double().eval()
    x = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(35))
    ref = ((x - 0.5) * lin.weight[0].detach())                                   # closed form
    for width in (0.1, 1.0, 10.0):
        ours = shapley.lime(lin, x, 0, baseline=0.5, alpha=0.0, kernel_width=width, n_samples=300)
        torch.testing.assert_close(ours, ref, atol=1e-9, rtol=0)
    torch.testing.assert_close(shapley.exact(lin, x, 0, baseline=0.5), ref, atol=1e-12, rtol=0)


def test_lime_equals_sklearn_ridge_with_sample_weights_on_an_mlp():
    from sklearn.linear_model import Ridge
    model = _mlp(7, seed=36, dtype=torch.float64)
    x = torch.randn(1, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(37))
    z = torch.rand(150, 7, generator=torch.Generator().manual_seed(38)) < 0.5
    ours = shapley.lime(model, x, 2, coalitions=z, kernel_width=0.3, alpha=0.5)
    y = shapley.coalition_values(model, x, 2, z)[0].numpy()
    ridge = Ridge(alpha=0.5).fit(z.numpy().astype(float), y, sample_weight=_kernel(z.numpy(), 0.3))
    np.testing.assert_allclose(ours[0].numpy(), ridge.coef_, atol=1e-8)


def test_lime_equals_captums_lime_given_the_same_samples_kernel_and_ridge():
    from captum._utils.models.linear_model import SkLearnRidge
    model = _cnn(39)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(40))
    mask = _blocks(size=3)
    ours = shapley.lime(model, x, 1, mask, n_samples=300, kernel_width=0.3, alpha=0.5, seed=2)
    z = torch.rand(300, 9, generator=torch.Generator().manual_seed(2)) < 0.5   # our draw
    z[0] = True
    samples = iter(z.long())

    def perturb(_, **kwargs):
        while True:
            yield next(samples)[None]

    def similarity(_, __, zi, **kwargs):                    # our kernel on the coalition
        return torch.tensor(_kernel(zi.numpy(), 0.3))

    theirs = Lime(model, interpretable_model=SkLearnRidge(alpha=0.5), similarity_func=similarity,
                  perturb_func=perturb).attribute(x, target=1, feature_mask=mask, n_samples=300,
                                                  perturbations_per_eval=50)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)          # Captum fits in float32


def test_lime_equals_the_lime_packages_image_explainer_at_the_same_kernel_width():
    """The real ``lime.lime_image.LimeImageExplainer`` (its default kernel width 0.25 and
    Ridge(alpha=1)) on our model, our superpixels and a black baseline, given its own
    random coalitions: the same coefficients. With the old kernel exp(−d²/w²) they
    differed by up to 10 % of the largest coefficient."""
    from lime.lime_image import LimeImageExplainer
    model = _cnn(45, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(46))
    mask = _blocks(size=3)                                                  # 9 superpixels

    def classifier(images):                                                 # (B, H, W, 3) → probs
        with torch.no_grad():
            return model(torch.as_tensor(images[..., :1]).permute(0, 3, 1, 2)).numpy()
    explanation = LimeImageExplainer(random_state=7, feature_selection="none").explain_instance(
        x[0, 0].numpy(), classifier, labels=(2,), top_labels=None, hide_color=0, num_features=9,
        num_samples=400, batch_size=400, segmentation_fn=lambda image: mask[0, 0].numpy(), random_seed=0)
    theirs = np.zeros(9)
    for feature, weight in explanation.local_exp[2]:
        theirs[feature] = weight
    z = np.random.RandomState(7).randint(0, 2, 400 * 9).reshape(400, 9)     # lime's own draw
    z[0] = 1
    ours = shapley.lime(model, x, 2, mask, coalitions=torch.as_tensor(z).bool())
    np.testing.assert_allclose(shapley.group_values(ours, mask)[0].numpy(), theirs, atol=1e-9)
    assert np.abs(theirs).max() > 1e-2


def test_lime_with_a_flat_kernel_over_every_coalition_gives_banzhaf_values():
    """Hammer & Holzman (1992): the least-squares linear fit over all coalitions has the
    Banzhaf values as coefficients."""
    model = _cnn(41, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(42))
    mask = _blocks(size=3)
    v = _game_table(model, x, 0, mask, 9, torch.zeros_like(x))
    ref = [np.mean([(v[s | 1 << i] - v[s]).item() for s in range(512) if not s >> i & 1])
           for i in range(9)]
    ours = shapley.lime(model, x, 0, mask, coalitions=shapley.coalitions(9), kernel_width=1e6, alpha=0.0)
    np.testing.assert_allclose(shapley.group_values(ours, mask)[0].numpy(), ref, atol=1e-9)


def test_lime_with_a_narrow_kernel_approaches_feature_ablation():
    model = _cnn(43, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(44))
    mask = _blocks(size=3)
    z = torch.ones(10, 9, dtype=torch.bool)
    z[torch.arange(1, 10), torch.arange(9)] = False           # x itself and each group off
    z = torch.cat([z, shapley.coalitions(9)[:300]])           # far coalitions: weight ≈ 0
    narrow = shapley.lime(model, x, 0, mask, coalitions=z, kernel_width=0.01, alpha=0.0)
    torch.testing.assert_close(narrow, saliency.feature_ablation(model, x, 0, mask), atol=1e-6, rtol=0)


# --- superpixels, patches, the door --------------------------------------------------------------


def test_superpixels_are_connected_numbered_from_zero_and_follow_the_shape():
    from scipy import ndimage
    x, _, obj = data.shapes(6, seed=0)
    seg = shapley.superpixels(x, n_segments=16, compactness=0.3)
    assert seg.shape == (6, 1, 20, 20) and seg.dtype == torch.long
    for i in range(6):
        ids = seg[i, 0].numpy()
        k = ids.max() + 1
        assert set(np.unique(ids)) == set(range(k)) and 6 <= k <= 20
        for g in range(k):
            assert ndimage.label(ids == g)[1] == 1, "a superpixel in two pieces"
        # boundary adherence: most pixels share their superpixel's majority (object or not)
        o = obj[i, 0].numpy()
        purity = sum(max((o[ids == g]).sum(), (~o[ids == g]).sum()) for g in range(k)) / o.size
        assert purity >= 0.9, purity
    grid = shapley.superpixels(x, n_segments=16, compactness=100.0)          # ignores the image
    assert (grid != seg).any()


def test_patches_cover_the_image_in_square_blocks():
    p = shapley.patches(torch.zeros(1, 1, 8, 10), 4)
    assert p.shape == (1, 1, 8, 10) and int(p.max()) == 5
    assert (p[0, 0, :4, :4] == 0).all() and (p[0, 0, 4:, 8:] == 5).all()


def test_group_values_read_back_what_was_spread():
    mask = torch.randint(0, 5, (2, 1, 4, 4), generator=torch.Generator().manual_seed(45))
    phi = torch.randn(2, 5, dtype=torch.float64)
    spread = phi.gather(1, mask.reshape(2, -1)).view(2, 1, 4, 4)
    present = torch.zeros(2, 5, dtype=torch.bool).scatter_(1, mask.reshape(2, -1), True)
    torch.testing.assert_close(shapley.group_values(spread, mask), torch.where(present, phi, 0.0))


def test_explain_calls_each_method():
    model = _cnn(46)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(47))
    mask = _blocks(size=3)
    direct = {"exact Shapley": shapley.exact(model, x, 0, mask),
              "permutation sampling": shapley.sampling(model, x, 0, mask, n_samples=5),
              "KernelSHAP": shapley.kernel_shap(model, x, 0, mask, n_samples=100),
              "LIME": shapley.lime(model, x, 0, mask, n_samples=100),
              "feature ablation": saliency.feature_ablation(model, x, 0, mask)}
    assert set(direct) == set(shapley.METHODS)
    for name, ref in direct.items():
        n = {"permutation sampling": 5, "KernelSHAP": 100, "LIME": 100}.get(name)
        assert torch.equal(shapley.explain(name, model, x, 0, mask, n_samples=n), ref), name


# --- widgets --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shape_images():
    x, y, _ = data.shapes(4, seed=3)
    return _cnn(48), x, y


def test_shapley_explorer_draws_every_method_and_keeps_what_it_computed(shape_images, monkeypatch):
    from xaitutor.widgets import shapley_explorer
    model, x, y = shape_images
    box = shapley_explorer(model, x, y, n_segments=(4, 8), max_exact=12)
    assert box.image.value and "Σ attributions" in box.status.value
    pictures = {box.image.value}
    for method in shapley.METHODS:
        box.controls["method"].value = method
        assert "⚠" not in box.status.value, box.status.value
        pictures.add(box.image.value)
    assert len(pictures) == len(shapley.METHODS)
    calls = []
    monkeypatch.setattr(shapley, "explain", lambda *a, **k: calls.append(a) or None)
    box.controls["method"].value = "KernelSHAP"                # seen before: from memory
    assert not calls and "kept from before" in box.status.value


def test_shapley_explorer_exact_map_sums_to_the_score_gap(shape_images):
    from xaitutor.widgets import shapley_explorer
    model, x, y = shape_images
    box = shapley_explorer(model, x, y, n_segments=(4, 8), max_exact=12)
    box.controls["index"].value = 2
    text = box.status.value
    total = float(text.split("Σ attributions ")[1].split(" ")[0])
    gap = float(text.split("f(x) − f(baseline) ")[1].split(" ")[0].split("<")[0])
    assert total == pytest.approx(gap, abs=0.011)


def test_shapley_explorer_remembers_each_image_apart(shape_images):
    """Coming back to a setting answers from memory — but only for the same image: every
    image's exact map still sums to its own score gap, and its picture is the one a fresh
    explorer draws for it (a cache keyed without the image served image 0's map)."""
    from xaitutor.widgets import shapley_explorer
    model, x, y = shape_images

    def sums(box):
        text = box.status.value
        total = float(text.split("Σ attributions ")[1].split(" ")[0])
        gap = float(text.split("f(x) − f(baseline) ")[1].split(" ")[0].split("<")[0])
        return total, gap
    box = shapley_explorer(model, x, y, n_segments=(4, 8), max_exact=12)
    first = box.image.value
    for i in (1, 2, 0, 1):
        box.controls["index"].value = i
        total, gap = sums(box)
        assert total == pytest.approx(gap, abs=0.011), (i, total, gap)
        fresh = shapley_explorer(model, x, y, n_segments=(4, 8), max_exact=12)
        fresh.controls["index"].value = i
        assert box.image.value == fresh.image.value
    assert "kept from before" in box.status.value and box.image.value != first


def test_shapley_explorer_refuses_exact_beyond_its_limit_and_keeps_working(shape_images):
    from xaitutor.widgets import shapley_explorer
    model, x, y = shape_images
    box = shapley_explorer(model, x, y, n_segments=(4, 16), max_exact=6)
    box.controls["n_segments"].value = 16
    assert "⚠" in box.status.value and "KernelSHAP" in box.status.value
    box.controls["method"].value = "KernelSHAP"
    assert "⚠" not in box.status.value
    box.controls["index"].value = 9
    assert "0..3" in box.status.value


def test_coalition_explorer_shows_the_game_and_marginal_contributions():
    from xaitutor.widgets import coalition_explorer
    model = _mlp(4, seed=49, dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0, -1.0, 0.5]], dtype=torch.float64)
    box = coalition_explorer(model, x, 1, names=["a", "b", "c", "d"], baseline=0.2)
    table = _game_table(model, x, 1, torch.arange(4)[None], 4, torch.full_like(x, 0.2))
    assert f"v(all) = {table[15]:.2f}" in box.status.value and f"v(∅) = {table[0]:.2f}" in box.status.value
    torch.testing.assert_close(box.last["shapley"], shapley.from_game(table))
    before = box.image.value
    box.controls["b in S"].value = False                      # S = {a, c, d}: bits 0, 2, 3
    s = 0b1101
    assert box.image.value != before and "S holds 3 of 4" in box.status.value
    assert box.last["value"] == pytest.approx(table[s].item(), abs=1e-12)
    expected = [table[s] - table[s ^ 1], table[s | 2] - table[s], table[s] - table[s ^ 4],
                table[s] - table[s ^ 8]]
    torch.testing.assert_close(box.last["marginal"], torch.stack(expected))
    with pytest.raises(ValueError, match="names has 2 entries"):
        coalition_explorer(model, x, 1, names=["a", "b"])
