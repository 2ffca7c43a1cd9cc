"""The exact counterfactuals of linear models against references that share no code with
them: the fractional knapsack (two classes), vertex enumeration (three classes), and
brute force over category combinations and supports with a second LP formulation."""
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from xaitutor.counterfactuals.exact import (ExactCounterfactuals, lp_counterfactual,
                                            min_features_counterfactual)
from xaitutor.constraints import Constraints
import tolerances as tol

MARGIN = 0.5


def linear(seed, d, classes=2, dtype=torch.float64):
    """A random linear model with unit-scale weights (margins of 0.5 are then reachable)."""
    torch.manual_seed(seed)
    model = nn.Linear(d, classes).to(dtype).eval()
    with torch.no_grad():
        model.weight.normal_()
        model.bias.normal_(0, 0.5)
    return model


def rejected_rows(model, d, n, seed, target=1, categorical=()):
    """Rows not predicted as ``target``; one-hot groups hold a random valid category."""
    gen = torch.Generator().manual_seed(seed)
    dtype = model.weight.dtype
    x = torch.randn(20 * n, d, generator=gen, dtype=dtype)
    for g in categorical:
        pick = torch.randint(len(g), (len(x),), generator=gen)
        x[:, g] = nn.functional.one_hot(pick, len(g)).to(dtype)
    with torch.no_grad():
        keep = model(x).argmax(1) != target
    return x[keep][:n]


def weights(model):
    return model.weight.detach().double().numpy(), model.bias.detach().double().numpy()


def knapsack(model, x, target, w, lo, hi, frozen=(), rises=(), falls=()):
    """Two classes: min Σ w_j|δ_j| s.t. g·δ ≥ need is a fractional knapsack. Buy margin
    from the columns in order of price w_j / |g_j|, each up to its room in the useful
    direction. Returns the cost (inf if the room runs out first)."""
    W, b = weights(model)
    g = W[target] - W[1 - target]
    need = MARGIN - (g @ x + b[target] - b[1 - target])
    cost = 0.0
    for j in sorted(range(len(x)), key=lambda j: w[j] / abs(g[j]) if g[j] else np.inf):
        if need <= 0:
            break
        if g[j] == 0 or j in frozen or (g[j] > 0 and j in falls) or (g[j] < 0 and j in rises):
            continue
        room = hi[j] - x[j] if g[j] > 0 else x[j] - lo[j]
        amount = min(room, need / abs(g[j]))
        cost += w[j] * amount
        need -= abs(g[j]) * amount
    return cost if need <= 1e-12 else np.inf


def epigraph_lp(model, x, target, w, lo, hi, movable, start=None):
    """A second formulation of the cheapest change: variables x' and t ≥ |x' − x|
    (epigraph), min w·t, only ``movable`` columns may leave ``start`` (default x);
    interior point instead of simplex. Returns the cost of moving from x, or inf."""
    start = x if start is None else start
    W, b = weights(model)
    d = len(x)
    others = [c for c in range(len(b)) if c != target]
    G = W[target] - W[others]
    A = [np.hstack([-G, np.zeros((len(G), d))]),                    # G x' ≥ margin − Δb
         np.hstack([np.eye(d), -np.eye(d)]),                         # x' − t ≤ start
         np.hstack([-np.eye(d), -np.eye(d)])]                        # −x' − t ≤ −start
    rhs = [-(MARGIN - (b[target] - b[others])), start, -start]
    box = [(lo[j], hi[j]) if movable[j] else (start[j], start[j]) for j in range(d)]
    res = linprog(np.concatenate([np.zeros(d), w]), A_ub=np.vstack(A), b_ub=np.concatenate(rhs),
                  bounds=box + [(0, None)] * d, method="highs-ipm")
    if res.status == 2:
        return np.inf
    assert res.status == 0, res.message
    return float(w @ np.abs(start - x) + res.fun)


def box_with(lo, hi, x, frozen=(), rises=(), falls=()):
    """Bounds of x' with immutable and one-way columns folded in."""
    lo, hi = lo.copy(), hi.copy()
    for j in frozen:
        lo[j] = hi[j] = x[j]
    for j in rises:
        lo[j] = x[j]
    for j in falls:
        hi[j] = x[j]
    return lo, hi


def assert_constraints_hold(model, x, r, target, lo=None, hi=None, frozen=(), rises=(), falls=(),
                            groups=()):
    ok = r.feasible
    assert ok.float().mean() >= 0.5, "the setting should leave most rows feasible"
    W, b = weights(model)
    z = r.x_cf.double().numpy() @ W.T + b
    others = np.delete(z, target, axis=1).max(1)
    assert (z[:, target] - others)[ok.numpy()].min() >= MARGIN - 1e-7
    if lo is not None:
        assert ((r.x_cf >= lo) & (r.x_cf <= hi)).all()
    for j in frozen:
        assert torch.equal(r.x_cf[:, j], x[:, j])
    for j in rises:
        assert (r.x_cf[:, j] >= x[:, j]).all()
    for j in falls:
        assert (r.x_cf[:, j] <= x[:, j]).all()
    for g in groups:
        block = r.x_cf[:, g]
        assert ((block == 0) | (block == 1)).all() and (block.sum(1) == 1).all()
    assert torch.equal(r.x_cf[~ok], x[~ok])
    assert r.x_cf.dtype == x.dtype and r.cost.dtype == torch.float64
    assert r.n_features.dtype == torch.long and r.feasible.dtype == torch.bool


@pytest.mark.parametrize("seed", range(5))
def test_lp_optimum_equals_the_fractional_knapsack_on_two_class_models(seed):
    d = 6
    model = linear(seed, d)
    x = rejected_rows(model, d, 8, seed)
    gen = torch.Generator().manual_seed(100 + seed)
    mad = torch.rand(d, generator=gen, dtype=torch.float64) + 0.2
    lo, hi = x.min(0).values - 0.7, x.max(0).values + 0.4
    frozen, rises, falls = [0], [1], [2]
    r = lp_counterfactual(model, x, 1, mad=mad, constraints=Constraints(immutable=frozen, one_way={1: +1, 2: -1}, bounds=(lo, hi)))
    assert isinstance(r, ExactCounterfactuals)
    w = (1 / mad).numpy()
    for i in range(len(x)):
        ref = knapsack(model, x[i].numpy(), 1, w, lo.numpy(), hi.numpy(), frozen, rises, falls)
        assert bool(r.feasible[i]) == np.isfinite(ref)
        if np.isfinite(ref):
            assert r.cost[i].item() == pytest.approx(ref, rel=tol.HIGHS, abs=tol.HIGHS)
    assert_constraints_hold(model, x, r, 1, lo, hi, frozen, rises, falls)


def test_lp_without_bounds_or_mad_is_plain_l1_knapsack():
    d = 5
    model = linear(7, d)
    x = rejected_rows(model, d, 10, 7)
    r = lp_counterfactual(model, x, 1)
    assert r.feasible.all()
    inf = np.full(d, np.inf)
    for i in range(len(x)):
        assert r.cost[i].item() == pytest.approx(knapsack(model, x[i].numpy(), 1, np.ones(d), -inf,
                                                          inf), rel=tol.HIGHS, abs=tol.HIGHS)
    # without constraints the cheapest column does all the work: one feature changed
    assert (r.n_features == 1).all()


def vertex_enumeration(model, x, target, w, lo, hi):
    """min Σ w_j|x'_j − x_j| over a polytope: a convex piecewise-linear function attains its
    minimum at a vertex of the arrangement of the box faces, the kinks x'_j = x_j and the
    margin hyperplanes. Try every D of them."""
    W, b = weights(model)
    d = len(x)
    others = [c for c in range(len(b)) if c != target]
    planes = [(np.eye(d)[j], v) for j in range(d) for v in (lo[j], hi[j], x[j]) if np.isfinite(v)]
    planes += [(W[target] - W[c], MARGIN - (b[target] - b[c])) for c in others]
    best = np.inf
    for combo in itertools.combinations(planes, d):
        A = np.array([a for a, _ in combo])
        if abs(np.linalg.det(A)) < 1e-12:
            continue
        v = np.linalg.solve(A, np.array([r for _, r in combo]))
        margins = (W[target] - W[others]) @ v + b[target] - b[others]
        if (v >= lo - 1e-9).all() and (v <= hi + 1e-9).all() and margins.min() >= MARGIN - 1e-9:
            best = min(best, float(w @ np.abs(v - x)))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_lp_optimum_equals_vertex_enumeration_on_three_class_models(seed):
    d = 3
    model = linear(seed, d, classes=3)
    x = rejected_rows(model, d, 6, seed, target=2)
    mad = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    lo, hi = x.min(0).values - 3.0, x.max(0).values + 3.0
    frozen, rises = [], [0]
    r = lp_counterfactual(model, x, 2, mad=mad, constraints=Constraints(one_way={0: +1}, bounds=(lo, hi)))
    w = (1 / mad).numpy()
    for i in range(len(x)):
        xi = x[i].numpy()
        blo, bhi = box_with(lo.numpy(), hi.numpy(), xi, frozen, rises)
        ref = vertex_enumeration(model, xi, 2, w, blo, bhi)
        second = epigraph_lp(model, xi, 2, w, blo, bhi, np.ones(d, dtype=bool))
        assert ref == pytest.approx(second, rel=tol.HIGHS, abs=tol.HIGHS)     # the references agree
        assert bool(r.feasible[i]) == np.isfinite(ref)
        if np.isfinite(ref):
            assert r.cost[i].item() == pytest.approx(ref, rel=tol.HIGHS, abs=tol.HIGHS)
    assert_constraints_hold(model, x, r, 2, lo, hi, frozen, rises)


def test_per_row_targets_on_a_four_class_model_match_a_second_formulation():
    d = 5
    model = linear(3, d, classes=4)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(12, d, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        target = (model(x).argmax(1) + 1 + torch.randint(3, (12,), generator=gen)) % 4
    lo, hi = x.min(0).values - 2, x.max(0).values + 2
    r = lp_counterfactual(model, x, target, constraints=Constraints(bounds=(lo, hi)))
    for i in range(len(x)):
        ref = epigraph_lp(model, x[i].numpy(), int(target[i]), np.ones(d), lo.numpy(), hi.numpy(),
                          np.ones(d, dtype=bool))
        assert bool(r.feasible[i]) == np.isfinite(ref)
        if np.isfinite(ref):
            assert r.cost[i].item() == pytest.approx(ref, rel=tol.HIGHS, abs=tol.HIGHS)
            assert int(model(r.x_cf[i:i + 1]).argmax()) == int(target[i])


GROUPS = [[2, 3, 4], [5, 6, 7]]                 # columns 0, 1 numeric


def brute_force_categories(model, x, target, w, lo, hi, support=None, frozen=()):
    """Cheapest change over every combination of categories: set the one-hot groups, then
    the numeric rest is an LP (knapsack). ``support``: the features that may change
    (0, 1 numeric; "g0", "g1" the groups)."""
    support = {0, 1, "g0", "g1"} if support is None else set(support)
    choices = [range(3) if f"g{k}" in support and not set(g) & set(frozen) else
               [int(np.argmax(x[g]))] for k, g in enumerate(GROUPS)]
    best = np.inf
    for a, b in itertools.product(*choices):
        start = x.copy()
        start[GROUPS[0]] = np.eye(3)[a]
        start[GROUPS[1]] = np.eye(3)[b]
        movable = np.array([j in support and j not in frozen for j in range(2)] + [False] * 6)
        best = min(best, epigraph_lp(model, x, target, w, lo, hi, movable, start))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_lp_with_categories_is_a_valid_one_hot_and_equals_brute_force_over_categories(seed):
    d = 8
    model = linear(seed, d)
    x = rejected_rows(model, d, 8, seed, categorical=GROUPS)
    gen = torch.Generator().manual_seed(seed)
    mad = torch.rand(d, generator=gen, dtype=torch.float64) + 0.3
    lo = torch.cat([x[:, :2].min(0).values - 0.5, torch.zeros(6, dtype=x.dtype)])
    hi = torch.cat([x[:, :2].max(0).values + 0.5, torch.ones(6, dtype=x.dtype)])
    r = lp_counterfactual(model, x, 1, mad=mad, constraints=Constraints(bounds=(lo, hi), categorical=GROUPS))
    w = (1 / mad).numpy()
    for i in range(len(x)):
        ref = brute_force_categories(model, x[i].numpy(), 1, w, lo.numpy(), hi.numpy())
        assert bool(r.feasible[i]) == np.isfinite(ref)
        if np.isfinite(ref):
            assert r.cost[i].item() == pytest.approx(ref, rel=tol.HIGHS, abs=tol.HIGHS)
    assert_constraints_hold(model, x, r, 1, lo, hi, groups=GROUPS)
    # a category switch is one feature, however many columns it moves
    switched = [sum(bool((r.x_cf[i, g] != x[i, g]).any()) for g in GROUPS) +
                int((r.x_cf[i, :2] != x[i, :2]).sum()) for i in range(len(x))]
    assert r.n_features.tolist() == switched


def test_an_immutable_category_group_keeps_its_category():
    d = 8
    model = linear(11, d)
    x = rejected_rows(model, d, 10, 11, categorical=GROUPS)
    lo = torch.tensor([-4, -4, 0, 0, 0, 0, 0, 0], dtype=x.dtype)
    hi = torch.tensor([4, 4, 1, 1, 1, 1, 1, 1], dtype=x.dtype)
    r = lp_counterfactual(model, x, 1, constraints=Constraints(immutable=GROUPS[0], bounds=(lo, hi), categorical=GROUPS))
    for i in range(len(x)):
        ref = brute_force_categories(model, x[i].numpy(), 1, np.ones(d), lo.numpy(), hi.numpy(),
                                     frozen=GROUPS[0])
        assert bool(r.feasible[i]) == np.isfinite(ref)
        if np.isfinite(ref):
            assert r.cost[i].item() == pytest.approx(ref, rel=tol.HIGHS, abs=tol.HIGHS)
    assert_constraints_hold(model, x, r, 1, lo, hi, frozen=GROUPS[0], groups=GROUPS)


def brute_force_sparsest(model, x, target, w, lo, hi, features, cheapest):
    """Supports in increasing size; the first size with a feasible change, and the
    cheapest change among the supports of that size."""
    for size in range(len(features) + 1):
        costs = [cheapest(set(s)) for s in itertools.combinations(features, size)]
        if np.isfinite(min(costs, default=np.inf)):
            return size, min(costs)
    return 0, np.inf


@pytest.mark.parametrize("seed", range(4))
def test_min_features_equals_brute_force_over_supports(seed):
    d = 6
    model = linear(seed, d, classes=3 if seed % 2 else 2)
    x = rejected_rows(model, d, 6, seed)
    gen = torch.Generator().manual_seed(seed)
    mad = torch.rand(d, generator=gen, dtype=torch.float64) + 0.2
    lo, hi = x.min(0).values - 0.3, x.max(0).values + 0.3          # tight: supports matter
    frozen, rises = [5], [4]
    r = min_features_counterfactual(model, x, 1, mad=mad, constraints=Constraints(immutable=frozen, one_way={4: +1}, bounds=(lo, hi)))
    w = (1 / mad).numpy()
    for i in range(len(x)):
        xi = x[i].numpy()
        blo, bhi = box_with(lo.numpy(), hi.numpy(), xi, frozen, rises)

        def cheapest(support):
            movable = np.array([j in support for j in range(d)])
            return epigraph_lp(model, xi, 1, w, blo, bhi, movable)

        size, cost = brute_force_sparsest(model, xi, 1, w, blo, bhi, range(d), cheapest)
        assert bool(r.feasible[i]) == np.isfinite(cost)
        if np.isfinite(cost):
            assert r.n_features[i].item() == size
            assert r.cost[i].item() == pytest.approx(cost, rel=tol.HIGHS, abs=tol.HIGHS)
    assert_constraints_hold(model, x, r, 1, lo, hi, frozen, rises)
    lp = lp_counterfactual(model, x, 1, mad=mad, constraints=Constraints(immutable=frozen, one_way={4: +1}, bounds=(lo, hi)))
    ok = r.feasible
    assert (r.n_features[ok] <= lp.n_features[ok]).all()           # sparser …
    assert (r.cost[ok] >= lp.cost[ok] - 1e-9).all()                 # … at a price


@pytest.mark.parametrize("seed", range(3))
def test_min_features_with_categories_equals_brute_force_over_supports(seed):
    d = 8
    model = linear(seed, d)
    x = rejected_rows(model, d, 5, seed, categorical=GROUPS)
    lo = torch.cat([x[:, :2].min(0).values - 0.5, torch.zeros(6, dtype=x.dtype)])
    hi = torch.cat([x[:, :2].max(0).values + 0.5, torch.ones(6, dtype=x.dtype)])
    gen = torch.Generator().manual_seed(seed)
    mad = torch.rand(d, generator=gen, dtype=torch.float64) + 0.3
    r = min_features_counterfactual(model, x, 1, mad=mad, constraints=Constraints(bounds=(lo, hi), categorical=GROUPS))
    w = (1 / mad).numpy()
    for i in range(len(x)):
        xi = x[i].numpy()

        def cheapest(support):
            return brute_force_categories(model, xi, 1, w, lo.numpy(), hi.numpy(), support)

        size, cost = brute_force_sparsest(model, xi, 1, w, lo, hi, [0, 1, "g0", "g1"], cheapest)
        assert bool(r.feasible[i]) == np.isfinite(cost)
        if np.isfinite(cost):
            assert r.n_features[i].item() == size
            assert r.cost[i].item() == pytest.approx(cost, rel=tol.HIGHS, abs=tol.HIGHS)
    assert_constraints_hold(model, x, r, 1, lo, hi, groups=GROUPS)


def infeasible_setting():
    """z_1 − z_0 = x_0 − x_1 + 3 x_2 − 1. Column 0 may rise to 1 at most, column 1 may only
    rise (which hurts), column 2 is immutable. Row 0 reaches the margin (x_0' = 0.5, cost 1);
    row 1 cannot: even x_0' = 1 gives 1 − 0.5 − 1 = −0.5 < 0.5."""
    model = nn.Linear(3, 2).double().eval()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 3.0]]))
        model.bias.copy_(torch.tensor([0.0, -1.0]))
    x = torch.tensor([[-0.5, -1.0, 0.0], [0.0, 0.5, 0.0]], dtype=torch.float64)
    bounds = (torch.tensor([-2.0, -2.0, -2.0]), torch.tensor([1.0, 2.0, 2.0]))
    return model, x, dict(constraints=Constraints(immutable=[2], one_way={1: +1}, bounds=bounds))


@pytest.mark.parametrize("solve", [lp_counterfactual, min_features_counterfactual])
def test_infeasible_rows_are_reported_not_raised(solve):
    model, x, kw = infeasible_setting()
    r = solve(model, x, 1, **kw)
    assert r.feasible.tolist() == [True, False]
    assert r.cost[0].item() == pytest.approx(1.0) and r.cost[1].item() == float("inf")
    assert r.n_features.tolist() == [1, 0]
    assert torch.equal(r.x_cf[1], x[1])
    assert r.x_cf[0].tolist() == pytest.approx([0.5, -1.0, 0.0])


def test_every_column_immutable_gives_infeasible_rows():
    model, x, kw = infeasible_setting()
    r = lp_counterfactual(model, x, 1, constraints=Constraints(immutable=[0, 1, 2]))
    assert not r.feasible.any() and torch.equal(r.x_cf, x)
    assert torch.isinf(r.cost).all() and (r.n_features == 0).all()


def test_float32_results_keep_margin_and_bounds_after_rounding():
    d = 10
    model = linear(5, d, dtype=torch.float32)
    x = rejected_rows(model, d, 40, 5)
    lo, hi = x.min(0).values - 0.25, x.max(0).values + 0.25
    mad = torch.rand(d, generator=torch.Generator().manual_seed(5)) + 0.1
    for solve in (lp_counterfactual, min_features_counterfactual):
        r = solve(model, x, 1, mad=mad, constraints=Constraints(immutable=[0], one_way={1: -1}, bounds=(lo, hi)))
        assert r.feasible.any()
        assert_constraints_hold(model, x, r, 1, lo, hi, frozen=[0], falls=[1])
        with torch.no_grad():
            assert (model(r.x_cf[r.feasible]).argmax(1) == 1).all()


def test_sequential_of_one_linear_is_accepted_and_gives_the_same_result():
    d = 4
    lin = linear(2, d)
    x = rejected_rows(lin, d, 5, 2)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(d, 2).double(), nn.Identity()).eval()
    seq[1].load_state_dict(lin.state_dict())
    a, b = lp_counterfactual(lin, x, 1), lp_counterfactual(seq, x, 1)
    assert torch.equal(a.x_cf, b.x_cf)


def test_a_network_is_refused_with_a_pointer_to_optimize():
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).double().eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    for solve in (lp_counterfactual, min_features_counterfactual):
        with pytest.raises(ValueError, match=r"linear model.*optimize\(\)"):
            solve(mlp, x, 1, constraints=Constraints(bounds=(-5.0, 5.0)))


def test_door_checks():
    d = 4
    model = linear(1, d)
    x = rejected_rows(model, d, 5, 1)
    with pytest.raises(ValueError, match="training mode"):
        lp_counterfactual(model.train(), x, 1)
    model.eval()
    with pytest.raises(ValueError, match="already predicted"):
        lp_counterfactual(model, x, 0)
    with pytest.raises(ValueError, match="finite bounds"):
        min_features_counterfactual(model, x, 1)
    with pytest.raises(ValueError, match="mad must"):
        lp_counterfactual(model, x, 1, mad=torch.zeros(d, dtype=x.dtype))
    with pytest.raises(ValueError, match="disjoint one-hot groups"):
        lp_counterfactual(model, x, 1, constraints=Constraints(categorical=[[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="float32 but the model is float64"):
        lp_counterfactual(model, x.float(), 1)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solve", [lp_counterfactual, min_features_counterfactual])
def test_every_result_lives_on_the_device_of_x(solve, device):
    """On a GPU, notebook 04 combined ``exact.feasible`` with ``optimize(...).valid`` and got
    "Expected all tensors to be on the same device": all four results follow ``x``."""
    model, x, kw = infeasible_setting()
    model, x = model.to(device), x.to(device)
    kw = dict(constraints=Constraints(immutable=[2], one_way={1: +1},            # bounds given on the device
                                      bounds=tuple(b.to(device) for b in kw["constraints"].bounds)))
    r = solve(model, x, 1, **kw)
    assert {t.device.type for t in (r.x_cf, r.cost, r.n_features, r.feasible)} == {device}
    assert (r.feasible & (model(r.x_cf).argmax(1) == 1)).tolist() == [True, False]
