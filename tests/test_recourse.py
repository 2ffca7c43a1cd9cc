"""xaitutor.recourse against independent references: the empirical CDF written out,
brute force over every combination of actions, the closed form of a linear SCM."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from xaitutor import data, recourse
from xaitutor.recourse import ActionSet, AdditiveSCM
import tolerances as tol


def ecdf(ref: np.ndarray, v: float) -> float:
    return float(np.mean(ref.astype(np.float64) <= float(v)))


def test_percentile_cost_is_the_shift_in_empirical_percentiles():
    g = torch.Generator().manual_seed(0)
    X_ref = torch.randn(50, 3, generator=g)
    x, x_new = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    ref = X_ref.numpy()
    want = np.array([[abs(ecdf(ref[:, j], x_new[i, j]) - ecdf(ref[:, j], x[i, j])) for j in range(3)]
                     for i in range(4)])
    np.testing.assert_allclose(recourse.percentile_cost(x, x_new, X_ref).numpy(), want.sum(1), atol=tol.ROUND_OFF_64)
    np.testing.assert_allclose(recourse.percentile_cost(x, x_new, X_ref, "max_percentile").numpy(),
                               want.max(1), atol=tol.ROUND_OFF_64)
    assert recourse.percentile_cost(x, x, X_ref).abs().max() == 0


def brute_force(model, x_row, grid, X_ref, kind, margin=1e-6):
    """Every combination: each column stays or takes one of its grid values."""
    choices = [[None] + [v for v in g if abs(v - float(x_row[j])) > 1e-9] for j, g in enumerate(grid)]
    best = (float("inf"), None)
    w = (model.weight[1] - model.weight[0]).detach().double()
    b = float((model.bias[1] - model.bias[0]).detach())
    for combo in itertools.product(*choices):
        new = x_row.clone().double()
        for j, v in enumerate(combo):
            if v is not None:
                new[j] = v
        if float(new @ w) + b < margin:
            continue
        c = float(recourse.percentile_cost(x_row[None].double(), new[None], X_ref.double(), kind)[0])
        if c < best[0] - 1e-12:
            best = (c, new)
    return best


@pytest.mark.parametrize("kind", ["percentile", "max_percentile"])
@pytest.mark.parametrize("seed", range(4))
def test_linear_recourse_equals_brute_force(seed, kind):
    g = torch.Generator().manual_seed(seed)
    d = 4
    model = nn.Linear(d, 2).double().eval()
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, d, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.randn(2, generator=g, dtype=torch.float64))
    X_ref = torch.randn(40, d, generator=g, dtype=torch.float64)
    grid = [torch.randn(3, generator=g, dtype=torch.float64).tolist() for _ in range(d)]
    grid[seed % d] = []                                                   # one immutable column
    x = torch.randn(12, d, generator=g, dtype=torch.float64)
    r = recourse.linear_recourse(model, x, grid, X_ref, cost=kind)
    n_feasible = 0
    for i in range(len(x)):
        cost, new = brute_force(model, x[i], grid, X_ref, kind)
        assert bool(r.feasible[i]) == (new is not None)
        if new is not None:
            n_feasible += 1
            assert abs(float(r.cost[i]) - cost) < 1e-6
            assert float(model(r.x_cf[i:i + 1]).argmax(1)) == 1 or float(model(x[i:i + 1]).argmax(1)) == 1
            assert r.x_cf[i, seed % d] == x[i, seed % d]
            moved = {j: float(r.x_cf[i, j]) for j in range(d) if r.x_cf[i, j] != x[i, j]}
            assert r.changes[i] == moved
        else:
            assert torch.equal(r.x_cf[i], x[i]) and r.cost[i] == float("inf")
    assert n_feasible > 0                                               # the cases are not all empty


@pytest.fixture(scope="module")
def credit():
    x, y, _, enc = data.german_credit()
    torch.manual_seed(0)
    model = nn.Linear(x.shape[1], 2)
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y) + 1e-3 * model.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    model.eval()
    actions = ActionSet.from_data(
        x, enc, immutable=("age", "sex", "job", "housing", "purpose"),
        one_way={"saving_accounts": 1}, forbidden={"saving_accounts": ["not_known"], "checking_account": ["not_known"]},
        order={"saving_accounts": ["little", "moderate", "quite rich", "rich"],
               "checking_account": ["little", "moderate", "rich"]})
    with torch.no_grad():
        rejected = x[model(x).argmax(1) == 0]
    return model, x, y, enc, actions, rejected


def test_a_category_switch_costs_the_share_of_people_it_passes_in_the_order(credit):
    """With an action set, savings little → rich costs the share of applicants ranked above
    little and up to rich (moderate, quite rich, rich) — not a sum over one-hot columns."""
    model, x, y, enc, actions, rejected = credit
    rows = enc.decode(x)
    share = lambda *cats: sum(r["saving_accounts"] in cats for r in rows) / len(rows)
    person = next(i for i, r in enumerate(rows) if r["saving_accounts"] == "little" and r["checking_account"] == "little")
    moved = x[person].clone()
    cols = enc.columns_of("saving_accounts")
    moved[cols] = 0.0
    moved[cols[enc.categorical["saving_accounts"].index("rich")]] = 1.0
    cost = recourse.percentile_cost(x[person:person + 1], moved[None], x, action_set=actions)
    assert cost.item() == pytest.approx(share("moderate", "quite rich", "rich"), abs=tol.ROUND_OFF_64)
    dearer = recourse.percentile_cost(x[person:person + 1], moved[None], x)       # one-hot columns
    assert dearer.item() == pytest.approx(share("little") + share("rich"), abs=tol.ROUND_OFF_64)


def test_credit_recourse_respects_the_action_set(credit):
    model, x, y, enc, actions, rejected = credit
    r = recourse.linear_recourse(model, rejected[:40], actions, x)
    assert r.feasible.float().mean() > 0.5
    with torch.no_grad():
        assert (model(r.x_cf[r.feasible]).argmax(1) == 1).all()
    rows_before, rows_after = enc.decode(rejected[:40]), enc.decode(r.x_cf)
    order = ["little", "moderate", "quite rich", "rich"]
    for b, a, ok in zip(rows_before, rows_after, r.feasible.tolist()):
        for name in ("age", "sex", "job", "housing", "purpose"):
            assert a[name] == b[name]
        assert a["saving_accounts"] != "not_known" or b["saving_accounts"] == "not_known"
        if a["saving_accounts"] != b["saving_accounts"]:
            assert b["saving_accounts"] == "not_known" or order.index(a["saving_accounts"]) > order.index(b["saving_accounts"])
        assert a["checking_account"] == b["checking_account"] or a["checking_account"] != "not_known"
    onehot = r.x_cf[:, len(enc.numeric):]
    assert ((onehot == 0) | (onehot == 1)).all()
    assert "saving_accounts" in repr(actions) and "never: not_known" in repr(actions)


def test_flipsets_are_distinct_sorted_and_match_brute_force():
    g = torch.Generator().manual_seed(5)
    d = 4
    model = nn.Linear(d, 2).double().eval()
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, d, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.tensor([2.0, -2.0], dtype=torch.float64))           # rejected at 0
    X_ref = torch.randn(40, d, generator=g, dtype=torch.float64)
    grid = [torch.linspace(-2, 2, 5, dtype=torch.float64).tolist() for _ in range(d)]
    x = torch.zeros(d, dtype=torch.float64) + 0.1
    fs = recourse.flipsets(model, x, grid, X_ref, k=4)
    assert len(fs.items) >= 2
    costs = [c for c, _, _ in fs.items]
    assert costs == sorted(costs)
    supports = [frozenset(np.flatnonzero((xc - x).abs().numpy() > 1e-12)) for _, _, xc in fs.items]
    for i, s in enumerate(supports):
        assert not any(prev <= s for prev in supports[:i]), "a later flipset contains an earlier one"
    # brute force: the cheapest valid combination whose support contains no earlier support
    choices = [[None] + [v for v in grid[j] if abs(v - 0.1) > 1e-9] for j in range(d)]
    w = (model.weight[1] - model.weight[0]).detach().double()
    b = float((model.bias[1] - model.bias[0]).detach())
    found = []
    for _ in range(len(fs.items)):
        best = (float("inf"), None)
        for combo in itertools.product(*choices):
            support = frozenset(j for j, v in enumerate(combo) if v is not None)
            if any(s <= support for s in found):
                continue
            new = x.clone()
            for j, v in enumerate(combo):
                if v is not None:
                    new[j] = v
            if float(new @ w) + b < 1e-6:
                continue
            c = float(recourse.percentile_cost(x[None], new[None], X_ref)[0])
            if c < best[0] - 1e-12:
                best = (c, support)
        found.append(best[1])
        assert abs(best[0] - costs[len(found) - 1]) < 1e-6
    print(fs)


def test_audit_counts_who_has_recourse_by_group(credit):
    model, x, y, enc, actions, rejected = credit
    male = torch.tensor([r["sex"] == "male" for r in enc.decode(x)])
    a = recourse.audit(model, x, actions, x, {"male": male, "female": ~male})
    with torch.no_grad():
        rej = model(x).argmax(1) == 0
    assert [r["rejected"] for r in a.rows] == [int((rej & male).sum()), int((rej & ~male).sum())]
    for r, mask in zip(a.rows, (male, ~male)):
        direct = recourse.linear_recourse(model, x[mask & rej], actions, x)
        assert r["share_with_recourse"] == pytest.approx(direct.feasible.float().mean().item())
        # the audit's median interpolates between the two middle costs, as np.median does
        assert r["cost_median"] == pytest.approx(np.median(direct.cost[direct.feasible].numpy()), abs=tol.ROUND_OFF_64)
    assert "female" in repr(a)


# --- SCMs -------------------------------------------------------------------------------------

def linear_scm_data(n=400, seed=0):
    """x0 = u0; x1 = 2·x0 + u1; x2 = 0.5·x0 − x1 + u2; x3 = u3 (independent)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, 4, generator=g, dtype=torch.float64)
    x0 = u[:, 0]
    x1 = 2 * x0 + u[:, 1]
    x2 = 0.5 * x0 - x1 + u[:, 2]
    return torch.stack([x0, x1, x2, u[:, 3]], 1)


def test_scm_counterfactual_equals_the_closed_form():
    X = linear_scm_data(n=3000)
    scm = AdditiveSCM({1: [0], 2: [0, 1]}, n_nodes=4).fit(X)
    a1 = scm.models[1].coef_[0]
    a20, a21 = scm.models[2].coef_
    assert abs(a1 - 2) < 0.15 and abs(a20 - 0.5) < 0.15 and abs(a21 + 1) < 0.15
    x = X[:5]
    v = torch.tensor([1.0, -1.0, 0.0, 2.0, 0.5], dtype=torch.float64)
    cf = scm.counterfactual(x, {0: v})
    d0 = v - x[:, 0]
    d1 = a1 * d0
    torch.testing.assert_close(cf[:, 0], v)
    torch.testing.assert_close(cf[:, 1], x[:, 1] + d1)
    torch.testing.assert_close(cf[:, 2], x[:, 2] + a20 * d0 + a21 * d1)
    torch.testing.assert_close(cf[:, 3], x[:, 3])                        # not a descendant
    # intervening on x1 cuts its link to x0: x0 stays, x2 follows x1 only
    cf1 = scm.counterfactual(x, {1: 3.0})
    torch.testing.assert_close(cf1[:, 0], x[:, 0])
    torch.testing.assert_close(cf1[:, 2], x[:, 2] + a21 * (3.0 - x[:, 1]))
    assert scm.descendants(0) == [1, 2] and scm.descendants(3) == []
    torch.testing.assert_close(scm.counterfactual(x, {}), x)            # no action, no change


def test_scm_takes_any_sklearn_regressor():
    from sklearn.tree import DecisionTreeRegressor
    X = linear_scm_data()
    scm = AdditiveSCM({1: [0]}, n_nodes=4).fit(X, regressor=DecisionTreeRegressor(max_depth=3))
    cf = scm.counterfactual(X[:3], {0: 0.0})
    pred = lambda v: scm.models[1].predict(np.asarray(v, dtype=float).reshape(-1, 1))
    want = X[:3, 1].numpy() - pred(X[:3, 0].numpy()) + pred(np.zeros(3))
    np.testing.assert_allclose(cf[:, 1].numpy(), want, atol=tol.ROUND_OFF_64)


def cheapest_causal_action(model, scm, row, dos, X):
    """Brute force: the lowest percentile cost of the actions ``dos`` ({node: value} each)
    whose consequences through the SCM the model accepts; inf if none does."""
    best = float("inf")
    for do in dos:
        if int(model(scm.counterfactual(row, do)).argmax(1)) != 1:
            continue
        acted = row.clone()
        for j, v in do.items():
            acted[0, j] = v
        best = min(best, float(recourse.percentile_cost(row, acted, X)[0]))
    return best


@pytest.mark.parametrize("seed", range(3))
def test_causal_recourse_equals_brute_force(seed):
    torch.manual_seed(seed)
    X = linear_scm_data(seed=seed)
    scm = AdditiveSCM({1: [0], 2: [0, 1]}, n_nodes=4).fit(X)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double().eval()
    grid = {0: [-1.0, 0.0, 1.0, 2.0], 3: [-2.0, 0.0, 2.0]}
    x = X[:15]
    one_way = {0: +1} if seed == 2 else None                  # x0 may only rise (per person)
    r = recourse.causal_recourse(model, scm, x, grid, X, one_way=one_way)
    for i in range(len(x)):
        dos = [{j: v for j, v in ((0, v0), (3, v3)) if v is not None}
               for v0 in [None, *grid[0]] for v3 in [None, *grid[3]]]
        dos = [do for do in dos if do and not (one_way and 0 in do and do[0] < float(x[i, 0]))]
        best = cheapest_causal_action(model, scm, x[i:i + 1], dos, X)
        assert bool(r.feasible[i]) == (best < float("inf"))
        if best < float("inf"):
            assert abs(float(r.cost[i]) - best) < 1e-9
            assert int(model(r.x_cf[i:i + 1]).argmax(1)) == 1
            torch.testing.assert_close(scm.counterfactual(x[i:i + 1], r.changes[i]), r.x_cf[i:i + 1])


def test_causal_cost_counts_actions_not_their_consequences():
    X = linear_scm_data()
    scm = AdditiveSCM({1: [0], 2: [0, 1]}, n_nodes=4).fit(X)
    model = nn.Linear(4, 2).double().eval()
    with torch.no_grad():                                 # approve when x2 is low
        model.weight.copy_(torch.tensor([[0, 0, 1.0, 0], [0, 0, -1.0, 0]], dtype=torch.float64))
        model.bias.zero_()
    x = X[(X[:, 2] > 0.5)][:5]
    r = recourse.causal_recourse(model, scm, x, {1: [2.0, 4.0, 6.0]}, X)
    acted = x.clone()
    for i, do in enumerate(r.changes):
        assert set(do) <= {1}
        for j, v in do.items():
            acted[i, j] = v
    torch.testing.assert_close(r.cost[r.feasible], recourse.percentile_cost(x, acted, X)[r.feasible])
    assert (r.x_cf[r.feasible, 2] != x[r.feasible, 2]).all()            # x2 moved, at no cost


def test_recourse_leaves_a_frozen_model_frozen(credit):
    model, x, y, enc, actions, rejected = credit
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        r = recourse.linear_recourse(model, rejected[:3], actions, x)
        assert r.feasible.any() and not any(p.requires_grad for p in model.parameters())
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def test_options_move_one_way_features_only_their_way(credit):
    """Issue 24, §2: ActionSet ignoring its one-way rules passed every other test here. A
    numeric feature that may only fall (duration) offers only lower values, an ordered
    category that may only rise (savings) only higher ranks — for every person who has room
    to move both ways — and the unrestricted twin offers both directions."""
    model, x, y, enc, _, _ = credit
    order = ["little", "moderate", "quite rich", "rich"]
    kwargs = dict(immutable=("age", "sex", "job", "housing", "purpose", "checking_account"),
                  order={"saving_accounts": order}, forbidden={"saving_accounts": ["not_known"]})
    one_way = ActionSet.from_data(x, enc, one_way={"saving_accounts": 1, "duration": -1}, **kwargs)
    free = ActionSet.from_data(x, enc, **kwargs)
    names = [f.name for f in one_way.features]
    dur, sav = names.index("duration"), names.index("saving_accounts")
    rows = enc.decode(x)
    checked = 0
    for i in range(len(x)):
        if rows[i]["saving_accounts"] not in ("moderate", "quite rich"):      # room both ways
            continue
        offered = {j: (values, labels) for j, values, labels in one_way.options(x[i])}
        both = {j: (values, labels) for j, values, labels in free.options(x[i])}
        now = x[i, enc.columns_of("duration")[0]].item()
        if not ((both[dur][0][:, 0] > now).any() and (both[dur][0][:, 0] < now).any()):
            continue                                                       # at an end of the grid
        assert (offered[dur][0][:, 0] < now).all(), "duration may only fall"
        rank = order.index(rows[i]["saving_accounts"])
        assert all(order.index(label) > rank for label in offered[sav][1]), offered[sav][1]
        assert any(order.index(label) < rank for label in both[sav][1] if label in order)
        checked += 1
    assert checked >= 20


# --- holes found by tools/mutate.py ---------------------------------------------------------------

def test_numeric_actions_read_in_original_units(credit):
    """A numeric feature's value reads as the table has it (months, Deutschmarks), not in
    standard units: show() of every grid value equals the encoder's own decoding."""
    model, x, y, enc, actions, rejected = credit
    for f in actions.features:
        if len(f.columns) > 1:
            continue
        for v in f.values[:5]:
            row = x[:1].clone()
            row[0, f.columns[0]] = v[0]
            assert float(f.show(v)) == pytest.approx(float(enc.decode(row)[0][f.name]), rel=tol.SHOWN_DIGITS, abs=tol.ROUND_OFF_32), f.name


def test_linear_recourse_takes_a_linear_layer_wrapped_in_sequential():
    g = torch.Generator().manual_seed(11)
    lin = nn.Linear(3, 2).double().eval()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(2, 3, generator=g, dtype=torch.float64))
    X_ref = torch.randn(30, 3, generator=g, dtype=torch.float64)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    grid = [torch.randn(3, generator=g, dtype=torch.float64).tolist() for _ in range(3)]
    plain = recourse.linear_recourse(lin, x, grid, X_ref)
    wrapped = recourse.linear_recourse(nn.Sequential(nn.Flatten(), lin).eval(), x, grid, X_ref)
    torch.testing.assert_close(wrapped.cost, plain.cost)
    assert torch.equal(wrapped.feasible, plain.feasible)


def test_causal_recourse_with_a_single_value_per_node_equals_brute_force():
    """Each actionable node with one value: every action pattern must still go through
    the SCM (a pattern left out leaves its rows uninitialised)."""
    X = linear_scm_data(seed=4)
    scm = AdditiveSCM({1: [0], 2: [0, 1]}, n_nodes=4).fit(X)
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double().eval()
    grid = {0: [1.5], 3: [2.0]}
    x = X[:20]
    r = recourse.causal_recourse(model, scm, x, grid, X)
    for i in range(len(x)):
        best = cheapest_causal_action(model, scm, x[i:i + 1], ({0: 1.5}, {3: 2.0}, {0: 1.5, 3: 2.0}), X)
        assert bool(r.feasible[i]) == (best < float("inf"))
        if best < float("inf"):
            assert abs(float(r.cost[i]) - best) < 1e-9
            torch.testing.assert_close(scm.counterfactual(x[i:i + 1], r.changes[i]), r.x_cf[i:i + 1])


def test_a_flipset_prints_its_items_numbered_from_one_with_their_costs():
    g = torch.Generator().manual_seed(5)
    model = nn.Linear(4, 2).double().eval()
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 4, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.tensor([2.0, -2.0], dtype=torch.float64))
    X_ref = torch.randn(40, 4, generator=g, dtype=torch.float64)
    grid = [torch.linspace(-2, 2, 5, dtype=torch.float64).tolist() for _ in range(4)]
    fs = recourse.flipsets(model, torch.zeros(4, dtype=torch.float64) + 0.1, grid, X_ref, k=4)
    lines = repr(fs).splitlines()[1:]
    assert [int(line.split()[0]) for line in lines] == list(range(1, len(fs.items) + 1))
    assert [float(line.split()[1]) for line in lines] == [round(c, 3) for c, _, _ in fs.items]


def test_options_never_offer_a_persons_current_value(credit):
    model, x, y, enc, actions, rejected = credit
    for row in rejected[:10]:
        for i, values, labels in actions.options(row):
            f = actions.features[i]
            now = row[f.columns]
            assert not ((values - now).abs().amax(1) < 1e-9).any(), (f.name, labels)


def test_the_flip_test_finds_exactly_the_decisions_sex_alone_changes():
    x, y, _, enc = data.german_credit()
    sex = enc.columns_of("sex")
    torch.manual_seed(0)
    bank = nn.Linear(x.shape[1], 2).eval()
    with torch.no_grad():
        bank.weight[1, sex] = torch.tensor([0.4, -0.4])            # the bank weighs sex directly
    flips = recourse.flip_test(bank, x, sex)
    # the closed form of a linear model: flipping moves z1 − z0 by the weight gap of the two columns
    with torch.no_grad():
        gap = bank(x)[:, 1] - bank(x)[:, 0]
    w = (bank.weight[1] - bank.weight[0]).detach()
    own = x[:, sex].argmax(1)
    moved = gap + w[sex].flip(0)[own] - w[sex][own]
    assert torch.equal(flips.changed, (gap > 0) != (moved > 0))
    assert 0 < flips.share < 1
    blind = nn.Linear(x.shape[1], 2).eval()
    with torch.no_grad():
        blind.weight[:, sex] = 0.0                                  # a model that ignores sex
    assert recourse.flip_test(blind, x, sex).share == 0.0
    only_sex = nn.Linear(x.shape[1], 2).eval()
    with torch.no_grad():
        only_sex.weight.zero_(); only_sex.bias.zero_()
        only_sex.weight[1, sex] = torch.tensor([1.0, -1.0])         # decides by sex alone
    assert recourse.flip_test(only_sex, x, sex).share == 1.0
