"""Quality measures of counterfactuals: every measure has a case it must score low and a
case it must score high (a measure that cannot fail measures nothing)."""
import math

import pytest
import torch
from torch import nn

from xaitutor import data
from xaitutor.counterfactuals import quality as Q
from xaitutor.counterfactuals import predict
from xaitutor.constraints import Constraints


def fit(model, X, y, steps=200, lr=1e-2, seed=0):
    torch.manual_seed(seed)
    for p in model.parameters():                       # a fresh, seeded start
        if p.dim() > 1:
            nn.init.kaiming_uniform_(p, a=5 ** 0.5)
        else:
            nn.init.zeros_(p)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def credit():
    x, y, _, enc = data.german_credit()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    model = fit(nn.Sequential(nn.Linear(26, 16), nn.ReLU(), nn.Linear(16, 2)), xtr, ytr)
    return model, enc, xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def digits():
    x, y = data.digits()
    (xtr, ytr), (xte, yte) = data.split(x.flatten(1), y, train=0.7, seed=0)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def blobs():
    """Two well-separated Gaussian blobs (class 0 around (−3, 0), class 1 around (3, 0))
    and a linear model fitted to them."""
    g = torch.Generator().manual_seed(0)
    X = torch.cat([torch.randn(200, 2, generator=g) + torch.tensor([-3.0, 0.0]),
                   torch.randn(200, 2, generator=g) + torch.tensor([3.0, 0.0])])
    y = torch.arange(2).repeat_interleave(200)
    return fit(nn.Linear(2, 2), X, y), X, y


def uniform_junk(lo, hi, n, seed=1):
    return lo + (hi - lo) * torch.rand(n, len(lo), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- LOF

@pytest.mark.parametrize("target", [0, 1])
def test_lof_calls_held_out_credit_rows_inliers_and_uniform_junk_outliers(credit, target):
    _, enc, xtr, ytr, xte, yte = credit
    real = Q.plausibility_lof(xte[yte == target], target, xtr, ytr)
    junk = Q.plausibility_lof(uniform_junk(*enc.bounds(xtr), 400), target, xtr, ytr)
    assert real >= 0.85
    assert junk <= 0.2


@pytest.mark.parametrize("target", [0, 1])
def test_lof_scores_junk_with_valid_one_hot_categories_clearly_below_real_rows(credit, target):
    _, enc, xtr, ytr, xte, yte = credit
    junk = uniform_junk(*enc.bounds(xtr), 400)
    g = torch.Generator().manual_seed(2)
    for group in enc.categorical_groups:                 # a random category, exactly one-hot
        junk[:, group] = 0.0
        pick = torch.tensor(group)[torch.randint(len(group), (len(junk),), generator=g)]
        junk[torch.arange(len(junk)), pick] = 1.0
    real = Q.plausibility_lof(xte[yte == target], target, xtr, ytr)
    assert Q.plausibility_lof(junk, target, xtr, ytr) <= min(0.35, real - 0.5)


def test_lof_calls_held_out_digits_inliers_and_uniform_junk_outliers(digits):
    xtr, ytr, xte, yte = digits
    junk = uniform_junk(xtr.min(0).values, xtr.max(0).values, 200)
    for target in (0, 3, 8):
        assert Q.plausibility_lof(xte[yte == target], target, xtr, ytr) >= 0.85
        assert Q.plausibility_lof(junk, target, xtr, ytr) <= 0.2


def test_lof_judges_against_the_target_class_only(digits):
    xtr, ytr, xte, yte = digits
    ones = xte[yte == 1]                                 # real digits, but not zeros
    assert Q.plausibility_lof(ones, 1, xtr, ytr) >= 0.85
    assert Q.plausibility_lof(ones, 0, xtr, ytr) <= 0.2


def test_lof_of_metrics_fails_junk_that_the_old_auto_threshold_let_through(credit):
    model, enc, xtr, ytr, xte, _ = credit
    x = xte[predict(model, xte) == 0][:20]
    junk = uniform_junk(*enc.bounds(xtr), len(x))
    assert Q.metrics(model, x, junk, 1, xtr, ytr)["plausibility_lof"] <= 0.2
    real = xte[predict(model, xte) == 1][:len(x)]
    assert Q.metrics(model, x, real, 1, xtr, predict(model, xtr))["plausibility_lof"] >= 0.85


# ---------------------------------------------------------------------------- yNN

def test_ynn_is_one_on_target_rows_of_a_well_fitted_model_and_zero_deep_in_the_source(blobs):
    model, X, y = blobs
    assert (predict(model, X) == y).float().mean() > 0.99
    on_target_rows = X[(y == 1) & (X[:, 0] > 2)][:50]
    deep_in_source = X[(y == 0) & (X[:, 0] < -3)][:50]
    assert Q.plausibility_ynn(model, on_target_rows, 1, X) >= 0.98
    assert Q.plausibility_ynn(model, deep_in_source, 1, X) <= 0.02


def test_ynn_is_low_for_valid_counterfactuals_in_a_pocket_of_the_target(blobs):
    _, X, y = blobs

    class Pocket(nn.Module):      # class 1 right of 0, and in a disc of radius 0.01 at (−3, 0)
        def forward(self, x):
            pocket = 1 - 1e4 * ((x - torch.tensor([-3.0, 0.0])) ** 2).sum(1)
            return torch.stack([torch.zeros(len(x)), torch.maximum(x[:, 0], pocket)], 1)

    model = Pocket().eval()
    g = torch.Generator().manual_seed(0)
    x_cf = torch.tensor([-3.0, 0.0]) + 0.002 * torch.randn(10, 2, generator=g)
    assert (predict(model, x_cf) == 1).all()                           # valid, yet...
    assert Q.plausibility_ynn(model, x_cf, 1, X) <= 0.2              # ... among class 0


def test_ynn_counts_the_k_nearest_rows_of_a_hand_made_case():
    model = nn.Linear(1, 2).eval()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0], [1.0]]))
        model.bias.zero_()                                            # class 1 iff x > 0
    X = torch.tensor([[-2.0], [-1.0], [1.0], [2.0], [3.0]])
    # nearest 3 (L2) of 0.4: 1, −1, 2 → two of three are class 1; of 2.6: 3, 2, 1 → all
    assert Q.plausibility_ynn(model, torch.tensor([[0.4], [2.6]]), 1, X, k=3) == pytest.approx(
        (2 / 3 + 1) / 2)
    x_cf = torch.tensor([[[0.4], [2.6]]])                             # (N=1, k=2, D=1)
    assert Q.plausibility_ynn(model, x_cf, 1, X, k=3) == pytest.approx((2 / 3 + 1) / 2)


# ---------------------------------------------------------------------------- closer to target

def test_closer_to_target_is_one_for_copies_of_target_rows_and_zero_for_copies_of_source_rows(credit):
    model, _, xtr, ytr, xte, _ = credit
    x = xte[predict(model, xte) == 0][:30]
    assert Q.closer_to_target(model, x, xtr[ytr == 1][:30], 1, xtr, ytr) == 1.0
    assert Q.closer_to_target(model, x, xtr[ytr == 0][:30], 1, xtr, ytr) == 0.0


def test_closer_to_target_of_a_hand_made_case_and_an_explicit_source():
    model = nn.Linear(1, 3).eval()
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))                # always class 0
    X = torch.tensor([[0.0], [10.0], [20.0]])
    y = torch.tensor([0, 1, 2])
    x = torch.tensor([[0.0], [0.0]])
    x_cf = torch.tensor([[6.0], [4.0]])        # 4 from class 1 vs 6 from class 0; then 6 vs 4
    assert Q.closer_to_target(model, x, x_cf, 1, X, y) == 0.5
    # against class 2 (at 20) as the source, both are closer to the target class 1
    assert Q.closer_to_target(model, x, x_cf, 1, X, y, source=torch.tensor([2, 2])) == 1.0
    # a tie is not closer
    assert Q.closer_to_target(model, x[:1], torch.tensor([[5.0]]), 1, X, y) == 0.0


# ---------------------------------------------------------------------------- judge

def test_judge_validity_is_one_for_a_judge_that_always_says_the_target_and_zero_otherwise():
    x_cf = torch.randn(12, 4)

    class Always(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, x):
            return nn.functional.one_hot(torch.full((len(x),), self.c), 3).float()

    assert Q.judge_validity(Always(2).eval(), x_cf, 2) == 1.0
    assert Q.judge_validity(Always(0).eval(), x_cf, 2) == 0.0
    assert Q.judge_validity(lambda x: torch.full((len(x),), 2), x_cf, 2) == 1.0   # labels
    assert Q.judge_validity(lambda x: torch.full((len(x),), 1), x_cf, 2) == 0.0
    per_row = torch.tensor([2, 0, 2, 0]).repeat(3)
    assert Q.judge_validity(Always(2).eval(), x_cf.view(4, 3, 4), torch.tensor([2, 0, 2, 0])) \
        == pytest.approx((per_row == 2).float().mean().item())


def test_judge_validity_with_an_independent_sklearn_classifier_on_digits(digits):
    from sklearn.linear_model import LogisticRegression

    xtr, ytr, xte, yte = digits
    judge = LogisticRegression(max_iter=500).fit(xtr.numpy(), ytr.numpy())
    eights = xte[yte == 8]
    assert Q.judge_validity(judge, eights, 8) >= 0.85          # real eights pass
    assert Q.judge_validity(judge, eights, 3) <= 0.1           # ... as threes they fail
    junk = uniform_junk(xtr.min(0).values, xtr.max(0).values, 100)
    assert Q.judge_validity(judge, junk, 8) <= 0.5


def test_metrics_reports_judge_validity_only_when_a_judge_is_given(blobs):
    model, X, y = blobs
    x = X[y == 0][:5]
    x_cf = X[y == 1][:5]
    assert "judge_validity" not in Q.metrics(model, x, x_cf, 1, X, y)
    m = Q.metrics(model, x, x_cf, 1, X, y, judge=model)
    assert m["judge_validity"] == 1.0
    assert m["closer_to_target"] == 1.0 and m["plausibility_ynn"] == 1.0


# ---------------------------------------------------------------------------- sparsity

def test_sparsity_counts_a_category_switch_as_one_feature_and_two_columns():
    model = nn.Linear(5, 2).eval()
    x = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]] * 2)       # columns 0, 1 numbers; 2–4 one-hot
    x_cf = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0],          # switch: 1 feature, 2 columns
                         [1.0, 0.0, 0.0, 0.0, 1.0]])         # number + switch: 2 features, 3 columns
    X_train = torch.cat([x, x_cf])
    m = Q.metrics(model, x, x_cf, 1, X_train, y_train=torch.tensor([0, 0, 1, 1]), constraints=Constraints(categorical=[[2, 3, 4]]))
    assert m["sparsity"] == 1.5 and m["sparsity_columns"] == 2.5
    plain = Q.metrics(model, x, x_cf, 1, X_train, y_train=torch.tensor([0, 0, 1, 1]))
    assert plain["sparsity"] == plain["sparsity_columns"] == 2.5   # no groups: columns


def test_sparsity_ignores_changes_within_tol_and_counts_over_k_counterfactuals():
    model = nn.Linear(3, 2).eval()
    x = torch.zeros(1, 3)
    x_cf = torch.tensor([[[1e-8, 0.0, 0.0], [1.0, 1.0, 1.0]]])       # (1, 2, 3)
    X_train = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 1.0, 1.0]])
    m = Q.metrics(model, x, x_cf, 1, X_train, y_train=torch.tensor([0, 1, 1]), constraints=Constraints(categorical=[[1, 2]]))
    assert m["sparsity"] == 1.0 and m["sparsity_columns"] == 1.5      # (0 + 2) / 2, (0 + 3) / 2


# ---------------------------------------------------------------------------- doors

def test_metrics_leaves_closer_to_target_undefined_when_no_row_needs_to_move(blobs):
    model, X, y = blobs
    x = X[(y == 1) & (X[:, 0] > 2)][:3]                 # already class 1
    assert math.isnan(Q.metrics(model, x, x, 1, X, y)["closer_to_target"])


def test_bad_input_is_explained(blobs):
    model, X, y = blobs
    x, x_cf = X[y == 0][:4], X[y == 1][:4]
    with pytest.raises(ValueError, match="k must be an int ≥ 1"):
        Q.plausibility_ynn(model, x_cf, 1, X, k=0)
    with pytest.raises(ValueError, match="only 400 rows"):
        Q.plausibility_ynn(model, x_cf, 1, X, k=401)
    with pytest.raises(ValueError, match="no training point of class 1"):
        Q.plausibility_lof(x_cf, 1, X, torch.zeros(400, dtype=torch.long))
    with pytest.raises(ValueError, match="only 1 training point"):
        Q.plausibility_lof(x_cf, 1, X[199:201], y[199:201])
    with pytest.raises(ValueError, match="no training point of class 2"):
        Q.closer_to_target(model, x, x_cf, 2, X, y)
    with pytest.raises(ValueError, match="contamination"):
        Q.plausibility_lof(x_cf, 1, X, y, contamination=0.7)
    with pytest.raises(ValueError, match="n_neighbors"):
        Q.plausibility_lof(x_cf, 1, X, y, n_neighbors=0)
    with pytest.raises(ValueError, match="but x_cf has 3"):
        Q.plausibility_lof(torch.zeros(4, 3), 1, X, y)
    with pytest.raises(ValueError, match="but x_cf has 3"):
        Q.plausibility_ynn(model, torch.zeros(4, 3), 1, X)
    with pytest.raises(ValueError, match=r"\(N, D\) or \(N, k, D\)"):
        Q.judge_validity(model, torch.zeros(4, 1, 1, 2), 1)
    with pytest.raises(ValueError, match="do not match"):
        Q.closer_to_target(model, x, x_cf[:2], 1, X, y)
    with pytest.raises(ValueError, match="already of the target class"):
        Q.closer_to_target(model, x, x_cf, 0, X, y)
    with pytest.raises(ValueError, match="y_train must hold integer"):
        Q.closer_to_target(model, x, x_cf, 1, X, y.float())
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        Q.judge_validity(model, x_cf, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="integer class indices"):
        Q.judge_validity(model, x_cf, torch.tensor([1.0, 1, 1, 1]))
    with pytest.raises(TypeError, match="judge must be"):
        Q.judge_validity("a judge", x_cf, 1)
    with pytest.raises(ValueError, match="training mode"):
        Q.judge_validity(nn.Linear(2, 2), x_cf, 1)
    with pytest.raises(ValueError, match="logits"):
        Q.judge_validity(lambda z: torch.zeros(3), x_cf, 1)
    with pytest.raises(TypeError, match="constraints must be a xaitutor.Constraints"):
        Q.metrics(model, x, x_cf, 1, X, y, constraints=dict(categorical=[[1, 2]]))
    with pytest.raises(ValueError, match="categorical indices"):
        Q.metrics(model, x, x_cf, 1, X, y, constraints=Constraints(categorical=[[1, 2]]))


# ---------------------------------------------------------------------------- kernel distance (KID)

def kid_by_loops(a, b):
    """Bińkowski et al. (2018), eq. for the unbiased MMD² estimate, written out term by term."""
    d = a.shape[1]
    k = lambda u, v: (float(u @ v) / d + 1) ** 3                      # noqa: E731
    m, n = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    bb = sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    ab = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return aa + bb - 2 * ab


def test_kernel_distance_equals_the_formula_term_by_term():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(9, 5, generator=g, dtype=torch.float64) + 0.5
    assert Q.kernel_distance(a, b) == pytest.approx(kid_by_loops(a, b), rel=1e-12)
    assert Q.kernel_distance(a, b) == pytest.approx(Q.kernel_distance(b, a), rel=1e-12)


def test_kernel_distance_is_unbiased_near_zero_for_one_distribution_and_large_for_junk():
    g = torch.Generator().manual_seed(1)
    same = torch.tensor([Q.kernel_distance(torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g))
                         for _ in range(300)])
    assert abs(same.mean()) < 3 * same.std() / 300 ** 0.5            # unbiased: 0 in expectation
    assert (same < 0).any()                                           # ... so a sample can fall below 0
    real, other_real = torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g)
    junk = torch.rand(100, 4, generator=g)                              # uniform in [0, 1]
    shifted = torch.randn(100, 4, generator=g) + 1.0
    alike = 0.05 * torch.randn(100, 4, generator=g)                     # the right mean, no spread
    base = abs(Q.kernel_distance(other_real, real))                     # measured: 0.02–0.08 over seeds
    for bad in (junk, shifted, alike):                                  # measured: ≥ 0.68
        assert Q.kernel_distance(bad, real) > 5 * base
    assert Q.kernel_distance(shifted, real) > Q.kernel_distance(junk, real) > Q.kernel_distance(alike, real)


def test_mnist_cnn_embed_is_what_its_linear_layer_reads():
    from xaitutor import models
    net = models.MnistCNN(3, width=8).eval()
    x = torch.rand(2, 1, 28, 28)
    assert net.embed(x).shape == (2, 8 * 7 * 7)
    torch.testing.assert_close(net(x), net.fc(net.embed(x)))
