"""Influence functions against independent references: autograd loops, finite
differences, the exact Hessian, and leave-one-out retraining."""
import warnings

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
    flat = I.objective.Flat(model, loss, L2)
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
    assert torch.isfinite(out).all() and I.Influence(model, loss, train, l2=0.0).grad_norm > 1e-3


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


# --- LiSSA says when its depth is not enough (issue 15) ----------------------------------------

def max_rel_err(s, ref):
    return ((s - ref).norm(dim=1) / ref.norm(dim=1)).max().item()


@pytest.fixture(scope="module")
def mlp_ill():
    """The issue's case: a small MLP (64 → 8 → 2, tanh) at a strict minimum whose Hessian's
    smallest eigenvalue is ~1e-4 against a largest of ~0.8."""
    x, y = data.digits()
    sel = (y == 3) | (y == 8)
    x, y = x[sel].flatten(1).double(), (y[sel] == 8).long()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    report = I.fit(model, nn.CrossEntropyLoss(), xtr, ytr, l2=1e-3, max_iter=3000, tol=1e-8)
    assert report.converged, report
    return model, nn.CrossEntropyLoss(), (xtr, ytr), (xte[:10], yte[:10])


def test_lissa_warns_with_its_residual_when_the_smallest_eigenvalue_is_small(mlp_ill):
    """At the default depth LiSSA was silently ~35 % off here. Now it measures ‖Hs − g‖ and
    says how far off it is, and the depth it names brings it within lissa_tol of the exact
    solve."""
    import re
    model, loss, train, test = mlp_ill
    H = I.hessian(model, loss, train, l2=1e-3)
    lam = torch.linalg.eigvalsh(H)
    assert 0 < lam[0] < 5e-4 and lam[-1] > 0.5            # the case the issue describes
    G = I.per_sample_grads(model, loss, *test)
    exact = torch.linalg.solve(H, G.T).T                    # the reference: dense solve
    with pytest.warns(UserWarning, match=r"lissa_depth=1000 .*relative residual ‖Hs − g‖/‖g‖ is "
                      r".*Raise lissa_depth to about [\d,]+ or more, add damping.*method='cg' "
                      r"or 'exact'") as caught:
        sol = I.solve(model, loss, train, G, l2=1e-3, method="lissa", progress=False)
    s, report = sol.s, sol.lissa
    err = max_rel_err(s, exact)
    assert err >= 0.2                                       # the inaccuracy is real
    assert err / 2 <= report.error_estimate <= 2 * err      # and the estimate says how large
    residual = ((s @ H - G).norm(dim=1) / G.norm(dim=1)).max().item()
    assert report.residual == pytest.approx(residual, rel=1e-6)
    message = next(str(w.message) for w in caught if "LiSSA" in str(w.message))
    assert f"{report.residual:.1e}" in message
    depth = int(re.search(r"lissa_depth to about ([\d,]+)", message)[1].replace(",", ""))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        s = I.solve(model, loss, train, G, l2=1e-3, method="lissa", lissa_depth=depth,
                    progress=False).s
    assert max_rel_err(s, exact) <= 1e-2                    # lissa_tol's default


@pytest.fixture(scope="module")
def logistic_small_l2():
    """Logistic regression with l2 = 1e-3: λ_min = 1e-3 (the pixels that are always 0)."""
    x, y = data.digits()
    sel = (y == 3) | (y == 8)
    x, y = x[sel].flatten(1).double(), (y[sel] == 8).long()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    torch.manual_seed(0)
    model = nn.Linear(64, 2).double()
    assert I.fit(model, nn.CrossEntropyLoss(), xtr, ytr, l2=1e-3).converged
    return model, nn.CrossEntropyLoss(), (xtr, ytr), (xte[:10], yte[:10])


@pytest.mark.parametrize("depth", [10, 300, 1000, 3000])
def test_lissa_warns_exactly_when_it_is_further_than_lissa_tol_from_the_exact_solve(
        logistic_small_l2, depth):
    model, loss, train, test = logistic_small_l2
    G = I.per_sample_grads(model, loss, *test)
    exact = torch.linalg.solve(I.hessian(model, loss, train, l2=1e-3), G.T).T
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = I.solve(model, loss, train, G, l2=1e-3, method="lissa", lissa_depth=depth,
                      lissa_tol=0.01, progress=False)
    warned = any("LiSSA is inaccurate" in str(w.message) for w in caught)
    err = max_rel_err(sol.s, exact)
    assert warned == (err > 0.01), f"depth {depth}: error {err:.3g}, warned: {warned}"
    assert sol.lissa.error_estimate >= err / 2              # never flatters much;
    if depth >= 300:                                        # and close once the slow
        assert sol.lissa.error_estimate <= 2 * err          # directions dominate the steps


def test_lissa_is_silent_and_accurate_on_a_well_conditioned_hessian(logistic):
    model, loss, train, test = logistic
    G = I.per_sample_grads(model, loss, *test)
    exact = torch.linalg.solve(I.hessian(model, loss, train, l2=L2), G.T).T
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        sol = I.solve(model, loss, train, G, l2=L2, method="lissa", progress=False)
    assert max_rel_err(sol.s, exact) <= 1e-2
    assert sol.lissa.error_estimate <= 1e-2 and (sol.method, sol.damping) == ("lissa", 0.0)


# --- leave one out: fast, converged, and equal to independent retraining (issue 15) --------------

def objective_without(model, loss, x, y, l2, i, theta):
    """R₋ᵢ(θ) written out with plain autograd on a copy of the model:
    (1/n) Σ_{j≠i} L_j + l2/2 ‖θ‖² (the mean over the n − 1 kept rows, times (n − 1)/n)."""
    import copy
    m = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(theta.clone(), m.parameters())
    keep = torch.arange(len(x)) != i
    params = torch.nn.utils.parameters_to_vector(m.parameters())
    value = loss(m(x[keep]), y[keep]) * (len(x) - 1) / len(x) + 0.5 * l2 * (params ** 2).sum()
    return value, m


def grad_norm_without(model, loss, x, y, l2, i, theta):
    value, m = objective_without(model, loss, x, y, l2, i, theta)
    return torch.cat([g.flatten() for g in torch.autograd.grad(value, list(m.parameters()))]).norm().item()


@pytest.fixture(scope="module")
def ridge():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64) + 0.3 * torch.randn(40, generator=g, dtype=torch.float64)
    model = nn.Linear(5, 1).double().eval()
    I.fit(model, nn.MSELoss(), x, y[:, None], l2=0.1)
    return model, nn.MSELoss(), (x, y[:, None])


def ridge_without(x, y, l2, i):
    """The closed form: ((2/n) AᵀA + l2·I)⁻¹ (2/n) Aᵀy over the rows j ≠ i, A = [x, 1]."""
    n = len(x)
    a = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1)
    keep = torch.arange(n) != i
    a, y = a[keep], y[keep, 0]
    return torch.linalg.solve(2 / n * a.T @ a + l2 * torch.eye(6, dtype=x.dtype), 2 / n * a.T @ y)


@pytest.mark.parametrize("max_params", [5000, 1], ids=["newton", "lbfgs above max_params"])
def test_retrain_without_equals_the_closed_form_of_ridge_regression(ridge, max_params):
    model, loss, (x, y) = ridge
    before = {k: v.clone() for k, v in model.state_dict().items()}
    idx = [0, 7, 39]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        thetas = I.retrain_without(model, loss, (x, y), idx, l2=0.1, progress=False,
                                   max_params=max_params)
    ref = torch.stack([ridge_without(x, y, 0.1, i) for i in idx])
    torch.testing.assert_close(thetas, ref, atol=1e-10, rtol=0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), "the model was touched"


def test_leave_one_out_equals_retraining_from_scratch_with_scipy(logistic):
    """The reference shares nothing with the library: R₋ᵢ written with plain autograd and
    minimised from θ = 0 by SciPy's trust-region Newton-CG. R₋ᵢ is strongly convex with
    modulus l2, so ‖θ − θ*‖ ≤ ‖∇R₋ᵢ(θ)‖ / l2 bounds how far either answer can be from the
    true one."""
    import numpy as np
    from scipy.optimize import minimize
    model, loss, (x, y), _ = logistic
    x, y = x[:80], y[:80]
    torch.manual_seed(0)
    small = nn.Linear(64, 2).double()
    assert I.fit(small, loss, x, y, l2=L2).converged
    idx = [3, 41, 77]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        thetas = I.retrain_without(small, loss, (x, y), idx, l2=L2, progress=False)
    for k, i in enumerate(idx):
        def f(theta, i=i):
            value, m = objective_without(small, loss, x, y, L2, i, torch.from_numpy(theta))
            grads = torch.autograd.grad(value, list(m.parameters()))
            return value.item(), torch.cat([g.flatten() for g in grads]).numpy()

        def hessp(theta, v, i=i):
            value, m = objective_without(small, loss, x, y, L2, i, torch.from_numpy(theta))
            g = torch.cat([t.flatten() for t in torch.autograd.grad(value, list(m.parameters()),
                                                                     create_graph=True)])
            hv = torch.autograd.grad(g @ torch.from_numpy(v), list(m.parameters()))
            return torch.cat([t.flatten() for t in hv]).numpy()
        res = minimize(f, np.zeros(130), jac=True, hessp=hessp, method="trust-ncg",
                       options={"gtol": 1e-13})
        g_ref = np.linalg.norm(f(res.x)[1])
        g_ours = grad_norm_without(small, loss, x, y, L2, i, thetas[k])
        assert g_ref <= 1e-12, res.message
        assert g_ours <= 2e-10                              # tol = 1e-10, measured independently
        torch.testing.assert_close(thetas[k], torch.from_numpy(res.x),
                                   atol=(g_ours + g_ref) / L2, rtol=0)


def test_leave_one_out_converges_on_a_sharp_smooth_hinge():
    """Notebook 03's SVM with τ = 0.001, where L-BFGS stopped at ‖∇R₋ᵢ‖ ~ 1e-6: every
    retraining now reaches the tolerance (checked with plain autograd), so by strong
    convexity each θ is within 2e-10 / l2 = 2e-8 of the true minimiser."""
    x, y = data.digits()
    sel = (y == 3) | (y == 8)
    x, y = x[sel].flatten(1).double(), (y[sel] == 8).long()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    loss = I.SmoothHinge(0.001)
    torch.manual_seed(0)
    svm = nn.Linear(64, 1).double()
    I.fit(svm, loss, xtr, ytr, l2=L2, max_iter=1000)
    s = I.influence(svm, loss, (xtr, ytr), (xte[:1], yte[:1]), l2=L2)[0]
    idx = torch.cat([s.argsort()[:3], s.argsort()[-3:]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        thetas = I.retrain_without(svm, loss, (xtr, ytr), idx, l2=L2, progress=False)
    for k, i in enumerate(idx.tolist()):
        assert grad_norm_without(svm, loss, xtr, ytr, L2, i, thetas[k]) <= 2e-10


def test_retrain_without_says_when_it_stops_short(logistic):
    model, loss, train, _ = logistic
    with pytest.warns(UserWarning, match="without 4 did not converge.*raise max_iter"):
        I.retrain_without(model, loss, train, [4], l2=L2, max_iter=1, tol=1e-15,
                          progress=False)


# --- the cached object: one factorisation, many queries (issue 15, part 4) ------------------------

QUERIES = [("exact", 0.0), ("lissa", 0.01), ("cg", 0.0), ("exact", 0.1), ("lissa", 0.0),
           ("cg", 0.1), ("exact", 0.0), ("lissa", 0.01), ("exact", 0.01), ("cg", 0.0)]


def test_the_cached_influence_equals_influence_for_every_method_and_damping(logistic):
    """Queries in an order that revisits dampings: a stale cache entry (the wrong damping's
    factor or scale) would show as a difference from a fresh call."""
    model, loss, train, test = logistic
    cached = I.Influence(model, loss, train, l2=L2)
    opts = {"lissa_depth": 200, "progress": False}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LiSSA is inaccurate")        # depth 200 is short
        for method, damping in QUERIES:
            ours = cached.scores(test, method, damping, **opts)
            fresh = I.influence(model, loss, train, test, l2=L2, method=method, damping=damping,
                                **opts)
            assert torch.equal(ours, fresh), (method, damping)
            one = cached.scores((test[0][2:3], test[1][2:3]), method, damping, **opts)
            # one test point vs a batch: the same sums in another order (on a GPU, 3.7e-15 apart
            # on scores near zero), so the absolute slack is round-off at the scores' scale
            torch.testing.assert_close(one[0], fresh[2], rtol=1e-10, atol=1e-12 * fresh.abs().max().item())
        assert torch.equal(cached.self_scores("cg", 0.01),
                           I.self_influence(model, loss, train, l2=L2, method="cg", damping=0.01))
        assert torch.equal(cached.perturbation_scores(test, "exact", 0.1),
                           I.perturbation_influence(model, loss, train, test, l2=L2, damping=0.1))
        G = I.per_sample_grads(model, loss, *test)
        ours, fresh = cached.solve(G, "lissa", 0.1, **opts), I.solve(model, loss, train, G, l2=L2, method="lissa",
                                                                       damping=0.1, **opts)
        assert torch.equal(ours.s, fresh.s) and ours.lissa == fresh.lissa
    H = I.hessian(model, loss, train, l2=L2)                 # and the exact answer, by hand
    by_hand = G @ torch.linalg.inv(H + 0.1 * torch.eye(len(H), dtype=H.dtype)) @ cached.train_grads.T / len(train[0])
    torch.testing.assert_close(cached.scores(test, "exact", 0.1), by_hand, rtol=1e-9, atol=1e-15)


def test_the_cached_influence_computes_what_queries_share_once(logistic, monkeypatch):
    """Counted, not timed: the training gradients, the Hessian, the gradient graph and each
    damping's factorisation and LiSSA scale are computed once however many queries come."""
    model, loss, train, test = logistic
    calls = {"grads": 0, "hessian": 0, "hvp graph": 0, "power iteration": 0, "cholesky": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper
    monkeypatch.setattr(I.scores, "grads", counting("grads", I.scores.grads))
    monkeypatch.setattr(I.scores, "hvp_fn", counting("hvp graph", I.scores.hvp_fn))
    monkeypatch.setattr(I.scores, "largest_eigenvalue", counting("power iteration", I.scores.largest_eigenvalue))
    monkeypatch.setattr(I.scores, "cholesky", counting("cholesky", I.scores.cholesky))
    monkeypatch.setattr(torch.func, "hessian", counting("hessian", torch.func.hessian))
    cached = I.Influence(model, loss, train, l2=L2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LiSSA is inaccurate")
        for _ in range(3):
            for method, damping in QUERIES:
                cached.scores(test, method, damping, lissa_depth=50, progress=False)
    assert calls == {"grads": 1 + 3 * len(QUERIES),           # training once, test per query
                     "hessian": 1, "hvp graph": 1,
                     "power iteration": 2,                  # dampings 0.01 and 0
                     "cholesky": 3}                         # dampings 0, 0.1, 0.01


def test_the_cached_influence_refuses_a_model_that_changed(logistic):
    import copy
    model, loss, train, test = logistic
    model = copy.deepcopy(model)
    cached = I.Influence(model, loss, train, l2=L2)
    cached.scores(test)
    with torch.no_grad():
        model.bias += 1e-3
    with pytest.raises(ValueError, match="changed since this Influence was built.*build a new one"):
        cached.scores(test)


# --- the hinge SVM solved exactly: the ground truth of notebook 03's smooth-hinge experiment (issue 14) ---

def _svm_problem(n=60, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = ((x @ torch.linspace(-1, 1, d, dtype=torch.float64) + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)) > 0).long()
    return x, y


def _svm_objective(theta, x, y, l2, weights=None):
    s = (2 * y - 1).double() * (x @ theta[:-1] + theta[-1])
    w = torch.ones(len(x), dtype=torch.float64) if weights is None else weights
    return ((w * (1 - s).clamp_min(0)).sum() / len(x) + 0.5 * l2 * theta @ theta).item()


def _svm_by_slsqp(x, y, l2, weights=None):
    """The primal QP, written out and handed to SciPy's SLSQP: variables (θ, ξ), minimise
    (1/n) Σ wᵢ ξᵢ + (l2/2)‖θ‖² subject to ξᵢ ≥ 0 and ξᵢ ≥ 1 − yᵢ θ·[xᵢ, 1]."""
    import numpy as np
    from scipy.optimize import minimize
    n, d = x.shape
    a = ((2 * y - 1).double()[:, None] * torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1)).numpy()
    w = np.ones(n) if weights is None else weights.numpy()
    f = lambda v: (w * v[d + 1:]).sum() / n + 0.5 * l2 * v[:d + 1] @ v[:d + 1]
    jac = lambda v: np.concatenate([l2 * v[:d + 1], w / n])
    cons = [{"type": "ineq", "fun": lambda v: v[d + 1:], "jac": lambda v: np.hstack([np.zeros((n, d + 1)), np.eye(n)])},
            {"type": "ineq", "fun": lambda v: v[d + 1:] - 1 + a @ v[:d + 1], "jac": lambda v: np.hstack([a, np.eye(n)])}]
    res = minimize(f, np.concatenate([np.zeros(d + 1), np.ones(n)]), jac=jac, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert res.success, res.message
    return torch.from_numpy(res.x[:d + 1])


def _theta(model):
    return torch.cat([model.weight.detach().flatten(), model.bias.detach()])


def test_fit_hinge_svm_reaches_the_minimum_that_an_independent_qp_solver_bounds():
    """R is l2-strongly convex, so R(θ) − R(θ*) ≥ (l2/2)‖θ − θ*‖² for every θ: SLSQP's answer
    can be no better than ours, and how much worse it is bounds how far apart the two are."""
    x, y = _svm_problem()
    l2 = 0.05
    model = nn.Linear(5, 1).double()
    report = I.fit_hinge_svm(model, x, y, l2=l2)
    assert report.optimal and report.kkt_violation <= 1e-12 and abs(report.duality_gap) <= 1e-12, report
    assert 0 < report.on_margin < report.support_vectors < len(x)
    ours, ref = _theta(model), _svm_by_slsqp(x, y, l2)
    excess = _svm_objective(ref, x, y, l2) - _svm_objective(ours, x, y, l2)
    assert excess >= -1e-12, "SLSQP found a lower objective: ours is not the minimum"
    assert (ref - ours).norm().item() <= (2 * max(excess, 0) / l2) ** 0.5 + 1e-9
    assert (ref - ours).norm().item() <= 1e-4                          # and SLSQP agrees
    # the objective written with the library's hinge loss is the same function
    assert I.hinge(model(x), y).item() + 0.5 * l2 * (ours @ ours).item() == pytest.approx(
        _svm_objective(ours, x, y, l2), abs=1e-14)


def test_retrain_hinge_svm_without_is_exact_and_leaves_non_support_vectors_alone():
    x, y = _svm_problem()
    l2 = 0.05
    model = nn.Linear(5, 1).double()
    I.fit_hinge_svm(model, x, y, l2=l2)
    theta = _theta(model)
    margins = model(x).detach()[:, 0] * (2 * y - 1)
    outside = int((margins > 1 + 1e-6).nonzero()[0])
    support = (margins < 1 - 1e-6).nonzero()[:, 0].tolist()[:2] + [int(((margins - 1).abs() < 1e-9).nonzero()[0])]
    thetas, report = I.retrain_hinge_svm_without(model, (x, y), [outside] + support, l2=l2)
    assert report.optimal, report
    torch.testing.assert_close(thetas[0], theta, atol=1e-12, rtol=0)    # nothing to re-solve
    for k, i in enumerate(support, start=1):
        w = torch.ones(len(x), dtype=torch.float64)
        w[i] = 0
        ref = _svm_by_slsqp(x, y, l2, w)
        ours = _svm_objective(thetas[k], x, y, l2, w)
        excess = _svm_objective(ref, x, y, l2, w) - ours
        assert excess >= -1e-12
        # strong convexity: ‖ref − θ*‖² ≤ 2·(R(ref) − R(θ*))/λ, with the excess no smaller than
        # the round-off of R itself (an excess computed as 0.0 is only known to ~eps·|R|)
        floor = 8 * torch.finfo(torch.float64).eps * abs(float(ours))
        assert (ref - thetas[k]).norm().item() <= (2 * max(excess, floor) / l2) ** 0.5
        assert (thetas[k] - theta).norm().item() > 1e-6                   # a support vector matters
    assert torch.equal(_theta(model), theta), "the model was touched"


def test_fit_hinge_svm_explains_what_it_needs():
    x, y = _svm_problem()
    with pytest.raises(ValueError, match=r"linear: pass nn.Linear\(d, 1\)"):
        I.fit_hinge_svm(nn.Linear(5, 2).double(), x, y)
    with pytest.raises(ValueError, match="labels 0 and 1"):
        I.fit_hinge_svm(nn.Linear(5, 1).double(), x, y + 1)


# --- Captum's influence module: the same scores once the definitions match (issue 14) -------------

def _captum(cls, model, train, **kwargs):
    from torch.utils.data import TensorDataset
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        return cls(model, TensorDataset(*train), "θ̂ in memory", checkpoints_load_func=lambda m, p: 1.0,
                   loss_fn=nn.CrossEntropyLoss(reduction="sum"), sample_wise_grads_per_batch=True,
                   batch_size=len(train[0]), **kwargs)


@pytest.mark.parametrize("damping", [0.0, 0.1])
def test_captum_naive_influence_equals_ours_with_matched_definitions(logistic, exact, damping):
    """Captum: ∇L_tᵀ (Σᵢ∇²Lᵢ + hessian_reg·I)⁻¹ ∇L_i on its projection_dim largest eigenvalues,
    same sign as ours. Ours: (1/n) ∇L_tᵀ (H + d·I)⁻¹ ∇L_i with H = (1/n)Σ∇²Lᵢ + l2·I. Equal
    when hessian_reg = n(l2 + d), projection_dim = P, hessian_inverse_tol = 0."""
    from captum.influence import NaiveInfluenceFunction
    model, loss, train, test = logistic
    n = len(train[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ours = exact if damping == 0 else I.influence(model, loss, train, test, l2=L2, damping=damping)
    theirs = _captum(NaiveInfluenceFunction, model, train, projection_dim=130,
                     hessian_reg=n * (L2 + damping), hessian_inverse_tol=0.0).influence(test)
    torch.testing.assert_close(theirs, ours, atol=1e-12, rtol=1e-9)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), "Captum changed the model"


def test_captum_defaults_drop_the_penalty_and_keep_50_directions(logistic, exact):
    from captum.influence import NaiveInfluenceFunction, TracInCP
    from torch.utils.data import TensorDataset
    model, loss, train, test = logistic
    n = len(train[0])
    default = _captum(NaiveInfluenceFunction, model, train).influence(test)
    H_sum = n * (I.hessian(model, loss, train, l2=L2) - L2 * torch.eye(130, dtype=torch.float64))
    lam, V = torch.linalg.eigh(H_sum + 1e-6 * torch.eye(130, dtype=torch.float64))
    keep = lam > 1e-5
    lam, V = lam[keep][-50:], V[:, keep][:, -50:]
    G_train = I.per_sample_grads(model, loss, *train)
    G_test = I.per_sample_grads(model, loss, *test)
    torch.testing.assert_close(default, (G_test @ V / lam) @ (V.T @ G_train.T), atol=1e-10, rtol=1e-8)
    assert ((default - exact).norm() / exact.norm()).item() > 0.5          # a different number
    tracin = TracInCP(model, TensorDataset(*train), ["θ̂"], checkpoints_load_func=lambda m, p: 1.0,
                      loss_fn=nn.CrossEntropyLoss(reduction="none"), batch_size=n).influence(test)
    torch.testing.assert_close(tracin, G_test @ G_train.T, atol=1e-12, rtol=1e-10)   # no Hessian at all
