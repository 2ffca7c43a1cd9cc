"""Influence functions against independent references: autograd loops, finite
differences, the exact Hessian, and leave-one-out retraining."""
import pytest
import torch
from torch import nn

from xaitutor import data
from xaitutor import influence as I

L2 = 1e-2


@pytest.fixture(scope="module")
def logistic():
    """Logistic regression (float64) on the 3-vs-8 digits, trained to the optimum."""
    x, y = data.digits()
    sel = (y == 3) | (y == 8)
    x, y = x[sel].flatten(1).double(), (y[sel] == 8).long()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    torch.manual_seed(0)
    model = nn.Linear(64, 2).double()
    report = I.fit(model, nn.CrossEntropyLoss(), xtr, ytr, l2=L2)
    assert report.converged, report
    return model, nn.CrossEntropyLoss(), (xtr, ytr), (xte[:12], yte[:12])


@pytest.fixture(scope="module")
def exact(logistic):
    model, loss, train, test = logistic
    return I.influence(model, loss, train, test, l2=L2, method="exact")


def test_per_sample_grads_equal_an_autograd_loop(logistic):
    model, loss, (x, y), _ = logistic
    ours = I.per_sample_grads(model, loss, x[:10], y[:10])
    for i in range(10):
        model.zero_grad()
        loss(model(x[i:i + 1]), y[i:i + 1]).backward()
        ref = torch.cat([model.weight.grad.flatten(), model.bias.grad])
        torch.testing.assert_close(ours[i], ref)


def test_hvp_equals_finite_differences_and_the_exact_hessian(logistic):
    model, loss, train, _ = logistic
    H = I.hessian(model, loss, train, l2=L2)
    torch.testing.assert_close(H, H.T)
    v = torch.randn(3, H.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    hv = I.hvp(model, loss, train, v, l2=L2)
    torch.testing.assert_close(hv, v @ H)
    # central differences of the gradient of R
    flat = I._Flat(model, loss, L2)
    grad_r = torch.func.grad(lambda t: flat.objective(t, *train))
    eps = 1e-5
    fd = (grad_r(flat.theta + eps * v[0]) - grad_r(flat.theta - eps * v[0])) / (2 * eps)
    torch.testing.assert_close(hv[0], fd, atol=1e-8, rtol=1e-6)


def test_the_three_solvers_agree(logistic, exact):
    model, loss, train, test = logistic
    rel = lambda a: ((a - exact).norm() / exact.norm()).item()
    assert rel(I.influence(model, loss, train, test, l2=L2, method="cg")) <= 1e-4
    assert rel(I.influence(model, loss, train, test, l2=L2, method="lissa", lissa_depth=1500)) <= 0.02


def test_influence_is_the_formula_for_one_pair(logistic, exact):
    model, loss, (x, y), (xt, yt) = logistic
    H = I.hessian(model, loss, (x, y), l2=L2)
    g_i = I.per_sample_grads(model, loss, x[5:6], y[5:6])[0]
    g_t = I.per_sample_grads(model, loss, xt[2:3], yt[2:3])[0]
    by_hand = g_t @ torch.linalg.solve(H, g_i) / len(x)
    torch.testing.assert_close(exact[2, 5], by_hand)


@pytest.mark.parametrize("method, bar", [("exact", 0.95), ("cg", 0.95), ("lissa", 0.9)])
def test_predicted_matches_leave_one_out_retraining(logistic, method, bar):
    model, loss, train, test = logistic
    t = 3
    pred = I.influence(model, loss, train, (test[0][t:t + 1], test[1][t:t + 1]), l2=L2,
                       method=method)[0]
    order = pred.argsort()
    idx = torch.cat([order[:20], order[-20:]])              # 20 most harmful, 20 most helpful
    actual = I.leave_one_out(model, loss, train, (test[0][t:t + 1], test[1][t:t + 1]), idx,
                             l2=L2, progress=False)[0]
    r = torch.corrcoef(torch.stack([pred[idx], actual]))[0, 1].item()
    assert r >= bar, f"Pearson r = {r:.3f}"
    assert torch.equal(torch.sign(pred[order[-5:]]), torch.sign(actual[-5:]))


def test_self_influence_finds_flipped_labels(logistic):
    model0, loss, (x, y), _ = logistic
    g = torch.Generator().manual_seed(0)
    flipped = torch.randperm(len(y), generator=g)[: len(y) // 10]
    y_noisy = y.clone()
    y_noisy[flipped] = 1 - y_noisy[flipped]
    torch.manual_seed(0)
    model = nn.Linear(64, 2).double()
    I.fit(model, loss, x, y_noisy, l2=L2)
    score = I.self_influence(model, loss, (x, y_noisy), l2=L2)
    inspected = score.argsort(descending=True)[: len(y) // 5]   # look at the top 20 %
    found = torch.isin(flipped, inspected).float().mean().item()
    assert found >= 0.6                                     # random inspection finds 20 %


def test_perturbation_influence_matches_a_retrained_nudge(logistic):
    """Central differences: nudge one pixel of one training image by ±ε, retrain, and
    compare the change of the test loss with the prediction."""
    import copy
    model, loss, (x, y), (xt, yt) = logistic
    test = (xt[:1], yt[:1])
    pert = I.perturbation_influence(model, loss, (x, y), test, l2=L2)
    assert pert.shape == (1, len(x), 64)
    i, k = divmod(pert[0].abs().argmax().item(), 64)        # the most sensitive (point, pixel)
    eps = 0.05
    changes = []
    for sign in (1, -1):
        moved = copy.deepcopy(model)
        x2 = x.clone()
        x2[i, k] += sign * eps
        I.fit(moved, loss, x2, y, l2=L2, tol=1e-11)
        changes.append(I.losses(moved, loss, test).item())
    actual = (changes[0] - changes[1]) / (2 * eps)
    assert pert[0, i, k].item() == pytest.approx(actual, rel=0.02)


def test_smooth_hinge_tends_to_the_hinge():
    s = torch.tensor([-1.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    y = torch.ones(4, dtype=torch.long)
    hinge = torch.clamp(1 - s, min=0).mean()
    assert I.smooth_hinge(s[:, None], y, t=1e-4).item() == pytest.approx(hinge.item(), abs=1e-4)
    assert I.smooth_hinge(s[:, None], y, t=0.5) > hinge
    assert I.SmoothHinge(0.1)(-s[:, None], 1 - y).item() == pytest.approx(I.smooth_hinge(s[:, None], y, 0.1).item())
    with pytest.raises(ValueError, match="temperature"):
        I.smooth_hinge(s, y, t=0.0)


# --- what goes wrong, said clearly ----------------------------------------------------------

@pytest.fixture(scope="module")
def mlp_not_convex():
    x, _, y = data.xor(200, seed=0)
    x = x.double()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    I.fit(model, nn.CrossEntropyLoss(), x, y, l2=0.0, max_iter=50)
    return model.eval(), nn.CrossEntropyLoss(), (x, y)


def test_indefinite_hessian_without_damping_is_refused(mlp_not_convex):
    model, loss, train = mlp_not_convex
    H = I.hessian(model, loss, train, l2=0.0)
    lam_min = torch.linalg.eigvalsh(H)[0].item()
    if lam_min >= 0:
        pytest.skip("this network happened to land in a convex region")
    with pytest.warns(UserWarning, match="not at an optimum"), pytest.raises(ValueError, match="not positive definite.*damping"):
        I.influence(model, loss, train, (train[0][:2], train[1][:2]), l2=0.0)
    with pytest.warns(UserWarning, match="not at an optimum"):
        out = I.influence(model, loss, train, (train[0][:2], train[1][:2]), l2=0.0,
                          damping=-lam_min + 0.1)
    assert torch.isfinite(out).all() and out.info["grad_norm"] > 1e-3


def test_lissa_diverges_loudly_not_with_nans(logistic):
    model, loss, train, test = logistic
    with pytest.raises(ValueError, match="LiSSA diverged"):
        I.influence(model, loss, train, test, l2=L2, method="lissa", lissa_scale=0.01)


def test_bad_input_is_explained(logistic):
    model, loss, (x, y), (xt, yt) = logistic
    with pytest.raises(ValueError, match="unknown method"):
        I.influence(model, loss, (x, y), (xt, yt), method="newton")
    with pytest.raises(ValueError, match="X has 10 rows but Y has 9"):
        I.influence(model, loss, (x[:10], y[:9]), (xt, yt))
    with pytest.raises(ValueError, match="test inputs"):
        I.influence(model, loss, (x, y), (xt[:, :10], yt))
    with pytest.raises(ValueError, match="parameters.*max_params"):
        I.influence(model, loss, (x, y), (xt, yt), max_params=10)
    with pytest.raises(ValueError, match="training mode"):
        I.influence(model.train(), loss, (x, y), (xt, yt))
    model.eval()
    with pytest.raises(ValueError, match="damping"):
        I.influence(model, loss, (x, y), (xt, yt), damping=-1.0)
