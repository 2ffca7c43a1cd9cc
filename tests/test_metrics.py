import math
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from xaitutor import metrics


def test_spearman_equals_scipy_with_and_without_ties():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 1, 6, 6, generator=g), torch.randn(5, 1, 6, 6, generator=g)
    a[0, 0, :3] = 0.0                                     # ties
    ours = metrics.spearman(a, b, absolute=False)
    ref = [spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(5)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)
    ours_abs = metrics.spearman(a, b)
    ref_abs = [spearmanr(a[i].abs().flatten(), b[i].abs().flatten()).statistic for i in range(5)]
    np.testing.assert_allclose(ours_abs.numpy(), ref_abs, atol=1e-12)


class SumOfPixels(nn.Module):
    """Logit of class 0 = sum of the pixels; class 1 = 0. Built in eval mode."""

    def __init__(self):
        super().__init__()
        self.eval()

    def forward(self, x):
        s = x.flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_deletion_curve_and_auc_of_a_hand_made_case():
    x = torch.zeros(1, 1, 2, 2)
    x[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    attribution = x.clone()                              # delete 4, then 3, 2, 1
    curve = metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0]), attribution, n_steps=4,
                                   score="logit")
    assert curve.tolist() == [[10.0, 6.0, 3.0, 1.0, 0.0]]
    assert metrics.auc(curve).item() == pytest.approx((10 / 2 + 6 + 3 + 1 + 0 / 2) / 4)
    ins = metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0]), attribution, n_steps=4,
                                 mode="insertion", score="logit")
    assert ins.tolist() == [[0.0, 4.0, 7.0, 9.0, 10.0]]
    worst = metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0]), -attribution, n_steps=4,
                                   score="logit")
    assert metrics.auc(worst) > metrics.auc(curve)      # a reversed map is less faithful


def test_deletion_curve_probability_and_channels():
    x = torch.rand(3, 2, 4, 4)
    curve = metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0, 0, 1]), x, n_steps=8)
    assert curve.shape == (3, 9)
    torch.testing.assert_close(curve[:, 0], SumOfPixels()(x).softmax(1)[[0, 1, 2], [0, 0, 1]])
    assert torch.allclose(curve[:, -1], torch.tensor(0.5))   # all pixels deleted: logits equal


def test_pointing_game_and_energy_ratio_of_hand_made_maps():
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[:, :, :2, :2] = True
    maps = torch.zeros(2, 1, 4, 4)
    maps[0, 0, 0, 0] = 3.0                             # on the object
    maps[0, 0, 3, 3] = 1.0
    maps[1, 0, 2, 2] = 2.0                             # one pixel off the object
    maps[1, 0, 0, 1] = -5.0
    assert metrics.pointing_game(maps, mask).tolist() == [True, False]
    assert metrics.pointing_game(maps, mask, tolerance=1).tolist() == [True, True]
    torch.testing.assert_close(metrics.energy_ratio(maps, mask), torch.tensor([0.75, 0.0]))


def test_cascading_randomization_spares_maps_that_ignore_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    x, t = torch.rand(6, 1, 4, 4), torch.zeros(6, dtype=torch.long)

    def grad(m, x, t):
        x = x.clone().requires_grad_(True)
        m(x)[:, 0].sum().backward()
        return x.grad

    def edges(m, x, t):                                 # ignores the model entirely
        return x

    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference = grad(model, x, t)
    g = metrics.cascading_randomization(model, x, t, grad)
    e = metrics.cascading_randomization(model, x, t, edges)
    assert list(g) == ["original", "3", "1"]
    assert all(v == pytest.approx(1.0) for v in e.values())
    assert g["1"] < 0.5
    # the original model is untouched: same weights, same maps as before the test ran
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(grad(model, x, t), reference)


def test_randomized_labels_is_a_seeded_permutation():
    y = torch.arange(10)
    a = metrics.randomized_labels(y, seed=1)
    assert sorted(a.tolist()) == list(range(10)) and not torch.equal(a, y)
    assert torch.equal(a, metrics.randomized_labels(y, seed=1))


def test_metric_errors_name_the_fix():
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match="mode must be"):
        metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0, 0]), x, mode="remove")
    with pytest.raises(ValueError, match="does not match x"):
        metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0, 0]), torch.rand(2, 1, 3, 3))
    with pytest.raises(ValueError, match="n_steps"):
        metrics.deletion_curve(SumOfPixels(), x, torch.tensor([0, 0]), x, n_steps=17)
    with pytest.raises(ValueError, match="same shape"):
        metrics.spearman(x, x[:1])


def test_pearson_matches_scipy_and_scores_unrelated_points_near_zero():
    from scipy.stats import pearsonr
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, generator=g, dtype=torch.float64)
    b = 0.5 * a + torch.randn(200, generator=g, dtype=torch.float64)
    assert metrics.pearson(a, b) == pytest.approx(pearsonr(a.numpy(), b.numpy())[0], abs=1e-12)
    assert metrics.pearson(a, -3 * a + 1) == pytest.approx(-1.0, abs=1e-12)
    junk = torch.randn(200, generator=g, dtype=torch.float64)               # unrelated to a
    assert abs(metrics.pearson(a, junk)) < 0.2
    assert math.isnan(metrics.pearson(a, torch.ones(200, dtype=torch.float64)))
