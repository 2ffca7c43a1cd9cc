"""The sparse counterfactual search (issue 12): proximal steps against their closed forms,
the knapsack LP step against scipy's linprog, the μ path, and optimality against the
exact LP / MILP references on linear models the search was not tuned on."""
import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize_scalar
from torch import nn

from xaitutor import counterfactuals as CF
from xaitutor import data
from xaitutor.counterfactuals.proximal import (lp_step, group_soft_threshold, hard_threshold,
                                               soft_threshold)
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search
import tolerances as tol


def changed_features(x, x_cf, categorical=None):
    feats = CF.feature_groups(x.shape[1], categorical)
    return torch.stack([((x_cf - x)[:, f].abs() > 1e-9).any(1) for f in feats], 1).sum(1).double()


# ---------------------------------------------------------------- proximal steps
@pytest.mark.parametrize("v", [-2.0, -0.3, 0.0, 0.05, 0.7, 3.0])
@pytest.mark.parametrize("t", [0.0, 0.1, 0.5])
def test_soft_threshold_is_the_proximal_step_of_the_l1_norm(v, t):
    best = minimize_scalar(lambda u: 0.5 * (u - v) ** 2 + t * abs(u), bounds=(-5, 5),
                           method="bounded", options={"xatol": 1e-10}).x
    assert soft_threshold(torch.tensor(v, dtype=torch.float64), t).item() == pytest.approx(best, abs=tol.SCALAR_ARGMIN)


@pytest.mark.parametrize("v", [-2.0, -0.3, 0.05, 0.7, 3.0])
@pytest.mark.parametrize("mu", [0.01, 0.1, 1.0])
def test_hard_threshold_is_the_proximal_step_of_the_l0_count(v, mu):
    # prox of mu·[u ≠ 0]: u = v (cost mu) or u = 0 (cost v²/2); threshold sqrt(2 mu)
    best = v if mu < 0.5 * v * v else 0.0
    assert hard_threshold(torch.tensor(v), (2 * mu) ** 0.5).item() == pytest.approx(best)


def test_group_soft_threshold_is_the_proximal_step_of_the_group_lasso():
    from scipy.optimize import minimize
    rng = np.random.default_rng(0)
    groups = [[0], [1, 2, 3], [4, 5]]
    for _ in range(5):
        v = rng.normal(size=6)
        t = 0.8
        obj = lambda u: 0.5 * ((u - v) ** 2).sum() + t * sum(np.linalg.norm(u[g]) for g in groups)
        ref = minimize(obj, v, method="Powell", options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 20000}).x
        ours = group_soft_threshold(torch.tensor(v), t, groups).numpy()
        assert obj(ours) <= obj(ref) + 1e-8          # ours is the minimiser (Powell may stop short)
        np.testing.assert_allclose(ours, ref, atol=tol.POWELL_ARGMIN)


def test_elastic_net_shrinkage_is_the_proximal_step_of_l1_plus_squared_l2():
    # prox of eta·(lam·w²u² + mu|u|) = soft(v, eta·mu) / (1 + 2·eta·lam·w²)
    eta, lam, mu, w = 0.3, 0.7, 0.4, 1.5
    for v in (-2.0, -0.1, 0.05, 1.3):
        best = minimize_scalar(lambda u: 0.5 * (u - v) ** 2 + eta * (lam * w ** 2 * u ** 2 + mu * abs(u)),
                               bounds=(-5, 5), method="bounded", options={"xatol": 1e-10}).x
        ours = soft_threshold(torch.tensor(v, dtype=torch.float64), eta * mu) / (1 + 2 * eta * lam * w ** 2)
        assert ours.item() == pytest.approx(best, abs=tol.SCALAR_ARGMIN)


# ---------------------------------------------------------------- the LP step
def test_knapsack_step_equals_linprog_on_random_boxes():
    gen = torch.Generator().manual_seed(0)
    n, d = 40, 7
    g = torch.randn(n, d, generator=gen, dtype=torch.float64)
    g[torch.rand(n, d, generator=gen) < 0.15] = 0.0
    cost = torch.rand(n, d, generator=gen, dtype=torch.float64) + 0.1
    lo = -torch.rand(n, d, generator=gen, dtype=torch.float64) * 2
    hi = torch.rand(n, d, generator=gen, dtype=torch.float64) * 2
    lo[:, 0], hi[:, 1] = 0.0, 0.0                                     # one-way columns
    need = torch.rand(n, generator=gen, dtype=torch.float64) * 3 - 0.5
    step, feasible = lp_step(g, need, cost, lo, hi)
    for i in range(n):
        # δ = p − q, p, q ≥ 0: min c·(p + q) s.t. −g·(p − q) ≤ −need
        res = linprog(np.r_[cost[i], cost[i]], A_ub=-np.r_[g[i], -g[i]][None], b_ub=[-need[i].item()],
                      bounds=[(0, h) for h in hi[i].tolist()] + [(0, -l) for l in lo[i].tolist()],
                      method="highs")
        assert feasible[i].item() == (res.status == 0)
        if res.status == 0:
            assert (cost[i] * step[i].abs()).sum().item() == pytest.approx(res.fun, abs=tol.LP_VERTEX)
            assert (g[i] * step[i]).sum() >= need[i] - 1e-9
            assert ((step[i] >= lo[i] - 1e-12) & (step[i] <= hi[i] + 1e-12)).all()


# ---------------------------------------------------------------- the μ path
def random_net(seed, d, shape):
    torch.manual_seed(seed)
    layers = {"linear": [nn.Linear(d, 2)],
              "tanh": [nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, 2)],
              "relu-deep": [nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 2)]}
    return nn.Sequential(*layers[shape]).eval()


def rejected(model, d, n=40, seed=0):
    x = torch.randn(600, d, generator=torch.Generator().manual_seed(seed + 100))
    return x[CF.predict(model, x) == 0][:n]


@pytest.mark.parametrize("shape", ["linear", "tanh", "relu-deep"])
@pytest.mark.parametrize("distance", ["l1", "l2", "mad"])
def test_a_larger_l0_price_changes_fewer_features_while_validity_holds(shape, distance):
    d = 8
    model = random_net(3, d, shape)
    x = rejected(model, d)
    X_ref = torch.randn(500, d, generator=torch.Generator().manual_seed(7))
    counts, validity = [], []
    for mu in (0.0, 0.3, 1.0, 3.0):
        r = CF.optimize(model, x, 1, mu=mu, sparsity="l0", distance=distance, mad=CF.mad(X_ref))
        counts.append(changed_features(x, r.x_cf).mean().item())
        validity.append(r.validity)
    assert all(v >= 0.9 for v in validity), validity
    assert all(b <= a + 1e-9 for a, b in zip(counts, counts[1:])), counts   # non-increasing
    if distance == "l2":                                               # dense without μ: μ must bite
        assert counts[-1] <= 0.6 * counts[0], counts


def test_elastic_net_mu_makes_l2_counterfactuals_sparse():
    d = 10
    model = random_net(1, d, "tanh")
    x = rejected(model, d)
    dense = CF.optimize(model, x, 1, distance="l2", mu=0.0, search=Search(zero_below=0.0))
    sparse = CF.optimize(model, x, 1, distance="l2", mu=1.0, search=Search(zero_below=0.0))
    assert changed_features(x, dense.x_cf).mean() >= 0.9 * d            # squared L2 moves everything
    assert changed_features(x, sparse.x_cf).mean() <= 0.5 * d
    assert sparse.validity >= 0.9


def test_mu_is_lam_in_disguise_only_when_both_are_plain_l1():
    """With L1 distance and sparsity='l1' the loss is (λ + μ)·‖δ‖₁: moving weight from λ
    to μ changes nothing. With MAD distance μ re-weights the features (uniform vs 1/MAD)
    and changes which features move."""
    d = 8
    model = random_net(2, d, "relu-deep")
    x = rejected(model, d)
    mads = torch.linspace(0.2, 3.0, d)
    same_a = CF.optimize(model, x, 1, distance="l1", lam=0.1, mu=0.4)
    same_b = CF.optimize(model, x, 1, distance="l1", lam=0.5, mu=0.0)
    assert torch.allclose(same_a.x_cf, same_b.x_cf, atol=tol.ROUND_OFF_32)
    mad_a = CF.optimize(model, x, 1, mad=mads, lam=0.1, mu=0.4)
    mad_b = CF.optimize(model, x, 1, mad=mads, lam=0.5, mu=0.0)
    moved = lambda r: (r.x_cf - x).abs() > 0                             # noqa: E731
    assert (moved(mad_a) != moved(mad_b)).any(1).float().mean() >= 0.2


def test_sparsity_path_is_monotone_and_valid():
    d = 10
    model = random_net(4, d, "tanh")
    x = rejected(model, d)
    path = CF.sparsity_path(model, x, 1, [0.0, 0.1, 0.3, 1.0, 3.0], distance="l2")
    counts = [changed_features(x, r.x_cf) for r in path]
    for a, b, r in zip(counts, counts[1:], path[1:]):
        assert (b[r.valid] <= a[r.valid]).all()                          # row by row
    assert all(r.validity >= 0.9 for r in path)
    assert counts[-1].mean() < counts[0].mean()


# ---------------------------------------------------------------- categories
def test_group_sparsity_keeps_one_hots_valid_and_moves_categories_whole():
    x_all, _, _, enc = data.german_credit()
    model = random_net(0, x_all.shape[1], "tanh")
    x = x_all[CF.predict(model, x_all) == 0][:30]
    r = CF.optimize(model, x, 1, sparsity="group", mu=0.5, constraints=Constraints(categorical=enc.categorical_groups, bounds=enc.bounds(x_all)))
    for g in enc.categorical_groups:
        vals = r.x_cf[:, g]
        assert torch.equal(vals.sum(1), torch.ones(len(x))) and set(vals.unique().tolist()) <= {0.0, 1.0}
    assert r.validity >= 0.9


# ---------------------------------------------------------------- optimality
def random_linear_problem(seed, d=8):
    torch.manual_seed(seed)
    model = nn.Linear(d, 2).double().eval()
    X_ref = torch.randn(400, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    X_ref = X_ref * torch.linspace(0.3, 3.0, d, dtype=torch.float64)   # columns of different spread
    x = X_ref[CF.predict(model, X_ref) == 0][:40]
    lo, hi = X_ref.min(0).values - 0.5, X_ref.max(0).values + 0.5
    return model, x, CF.mad(X_ref), Constraints(immutable=[0], one_way={1: +1, 2: -1}, bounds=(lo, hi))


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_defaults_reach_the_linear_programming_optimum(seed):
    model, x, mads, cons = random_linear_problem(seed)
    ours = CF.optimize(model, x, 1, mad=mads, constraints=cons)
    exact = CF.lp_counterfactual(model, x, 1, mad=mads, constraints=cons)
    ok = exact.feasible & ours.valid
    assert ok.float().mean() >= 0.95
    cost = ((ours.x_cf - x).abs() / mads).sum(1)
    ratio = cost[ok].sum() / exact.cost[ok].sum()
    assert ratio <= 1.01, ratio                                        # within 1 % of the optimum
    assert changed_features(x, ours.x_cf)[ok].mean() <= exact.n_features[ok].double().mean() + 0.05


def test_defaults_match_the_milp_optimum_with_categories_on_german_credit():
    x_all, y_all, _, enc = data.german_credit()
    torch.manual_seed(5)
    model = nn.Linear(x_all.shape[1], 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x_all), y_all).backward()
        opt.step()
    model.eval()
    x = x_all[CF.predict(model, x_all) == 0][:60]
    cons = dict(mad=CF.mad(x_all), constraints=Constraints(bounds=enc.bounds(x_all), categorical=enc.categorical_groups,
                immutable=enc.columns_of("age") + enc.columns_of("sex")))
    ours = CF.optimize(model, x, 1, **cons)
    exact = CF.lp_counterfactual(model, x, 1, **cons)
    ok = exact.feasible & ours.valid
    assert ok.float().mean() >= 0.95
    cost = ((ours.x_cf - x).abs() / cons["mad"]).sum(1)
    assert (cost[ok].sum() / exact.cost[ok].sum()).item() <= 1.03
    fewest = CF.min_features_counterfactual(model, x, 1, **cons)
    assert changed_features(x, ours.x_cf, enc.categorical_groups)[ok].mean() <= \
        fewest.n_features[ok].double().mean() + 0.15


@pytest.mark.parametrize("case", ["credit-mad", "credit-stuck", "credit-adapt-1", "credit-l0",
                                  "credit-group",
                                  "toy-l2-path", "toy-k3"])
def test_skipping_repeated_iterates_changes_nothing(case, monkeypatch):
    """ISTA skips the steps that repeat a fixed point or a 2-cycle: the counterfactuals,
    validity, λ per row, loss history and recorded path must equal a run of every step."""
    from xaitutor.counterfactuals import search
    from torch import nn
    import torch.nn.functional as F
    from xaitutor import train as fit
    if case.startswith("credit"):
        xc, yc, _, enc = data.german_credit()
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(xc.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
        fit(lambda xb, yb: F.cross_entropy(model(xb), yb), model, (xc, yc), epochs=60, progress=False)
        model.eval()
        with torch.no_grad():
            x = xc[model(xc).argmax(1) == 0][:12]
        sparsity = {"credit-l0": "l0", "credit-group": "group"}.get(case, "l1")
        # credit-stuck: λ so large that δ = 0 is a fixed point and rows stay invalid until
        # λ is halved (at steps 50 and 100): the skip must stop at each adaptation
        kw = dict(lam=3.0 if case == "credit-stuck" else 0.1, mu=0.1, mad=CF.mad(xc), sparsity=sparsity,
                  constraints=Constraints(bounds=enc.bounds(xc), categorical=enc.categorical_groups,
                                          immutable=enc.columns_of("age")),
                  search=Search(steps=120, adapt_every=1 if case == "credit-adapt-1" else 50))
        if case == "credit-adapt-1":       # a fixed point found on an adaptation step itself
            kw["lam"] = 30.0
    else:
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).eval()
        x = torch.randn(40, 2)
        with torch.no_grad():
            x = x[model(x).argmax(1) == 0][:6]
        kw = dict(lam=1.0, distance="l2", search=Search(lr=0.2, steps=150, record_path=True)) \
            if case == "toy-l2-path" else dict(lam=0.05, k=3, diversity=0.5, search=Search(steps=100))
    fast = CF.optimize(model, x, 1, **kw)
    monkeypatch.setattr(search, "_SKIP_FIXED_POINTS", False)
    slow = CF.optimize(model, x, 1, **kw)
    assert torch.equal(fast.x_cf, slow.x_cf) and torch.equal(fast.valid, slow.valid)
    assert torch.equal(fast.lam, slow.lam) and fast.history == slow.history
    if kw["search"].record_path:
        assert torch.equal(fast.path, slow.path)


def untuned_problem(seed, d=8, n=30):
    """A random tanh MLP with large weights (curved: the sequential LP can miss a
    one-feature counterfactual), features on scales 0.2..3.2, the rows it rejects,
    column 0 immutable and the data's range as bounds."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(600, d, generator=g) * (3 * torch.rand(d, generator=g) + 0.2)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    model.eval()
    return model, X, X[CF.predict(model, X) == 0][:n], (X.min(0).values, X.max(0).values)


def one_feature_reaches_margin(model, x, bounds, margin=0.5, grid=801):
    """Brute force: can some single mutable column (1..D−1), swept over its whole
    range, reach the margin? ``(N,)`` bool."""
    lo, hi = bounds
    out = torch.zeros(len(x), dtype=torch.bool)
    for j in range(1, x.shape[1]):
        sweep = x[:, None].repeat(1, grid, 1)
        sweep[..., j] = torch.linspace(float(lo[j]), float(hi[j]), grid)
        with torch.no_grad():
            z = model(sweep)
        out |= (z[..., 1] - z[..., 0]).amax(1) >= margin
    return out


def test_the_l0_price_falls_to_one_feature_on_models_the_course_never_tuned():
    """Issue 24: on random curved MLPs (four seeds) the L0 price must buy sparsity down to
    what is possible — one feature wherever brute force finds a single column that
    reaches the margin — while the counterfactuals stay valid. Before the polish searched
    each column alone exactly, μ = 3 left 1.21–1.33 features where 1.03–1.10 were
    possible."""
    before, after, possible = [], [], []
    for seed in range(4):
        model, X, x, bounds = untuned_problem(seed)
        counts = []
        for mu in (0.0, 1.0, 3.0):
            r = CF.optimize(model, x, 1, mu=mu, sparsity="l0", mad=CF.mad(X), constraints=Constraints(immutable=[0], bounds=bounds))
            assert r.validity >= 0.93, (seed, mu, r.validity)
            counts.append(changed_features(x, r.x_cf)[r.valid].mean().item())
        assert counts[2] <= counts[0] + 1e-9, (seed, counts)
        lower = 1 + (~one_feature_reaches_margin(model, x, bounds)).double().mean().item()
        assert counts[2] <= lower + 0.1, (seed, counts, lower)
        before.append(counts[0])
        after.append(counts[2])
        possible.append(lower)
    assert sum(before) / 4 - sum(after) / 4 >= 0.2, (before, after)     # the price bites


def test_a_one_feature_counterfactual_is_the_smallest_change_of_that_feature():
    """Where one column reaches the margin, μ = 3 buys exactly one changed column, and its
    change is the smallest that reaches the margin (brute force: a 4,001-point sweep of the
    column between x and its bound) — the line search's bisection, not just any valid point."""
    model, X, x, (lo, hi) = untuned_problem(1)
    r = CF.optimize(model, x, 1, mu=3.0, sparsity="l0", mad=CF.mad(X), constraints=Constraints(immutable=[0], bounds=(lo, hi)))
    moved = (r.x_cf - x).abs() > 0
    checked = 0
    for i in (moved.sum(1) == 1).nonzero().flatten().tolist():
        j = int(moved[i].nonzero())
        end = hi[j] if r.x_cf[i, j] > x[i, j] else lo[j]
        sweep = x[i].repeat(4001, 1)
        sweep[:, j] = x[i, j] + torch.linspace(0, 1, 4001) * (end - x[i, j])
        with torch.no_grad():
            z = model(sweep)
        reach = ((z[:, 1] - z[:, 0]) >= 0.5).nonzero()
        if len(reach) == 0:                     # valid, short of the margin: no smallest to compare
            continue
        smallest = float((sweep[int(reach[0]), j] - x[i, j]).abs())
        step = float((end - x[i, j]).abs()) / 4000
        assert float((r.x_cf[i, j] - x[i, j]).abs()) <= smallest + step + 1e-4, (i, j)
        checked += 1
    assert checked >= 15
