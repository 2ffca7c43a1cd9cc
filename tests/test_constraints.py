"""One constraints type for every search (issue 26): checked once, and its three operations
— project, box, violations — against each other and against brute force."""
import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from xaitutor import BadInput, data, recourse
from xaitutor import counterfactuals as CF
from xaitutor.constraints import Constraints, one_way_signs
from xaitutor.counterfactuals.proximal import lp_step
import tolerances as tol

D = 7
RULES = Constraints(immutable=[0], one_way={1: +1, 2: -1}, bounds=(-2.0, 2.0), categorical=[[4, 5, 6]])


def rows(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, D, generator=g, dtype=torch.float64) * 2 - 1
    x[:, 4:] = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3).double()
    return x


def test_projection_keeps_every_rule_and_is_the_nearest_such_point_per_column():
    x = rows()
    junk = x + 3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = RULES.project(junk, x, RULES.movable(x))
    assert torch.equal(p[:, 0], x[:, 0])
    assert (p[:, 1] >= x[:, 1]).all() and (p[:, 2] <= x[:, 2]).all()
    assert (p.abs() <= 2).all() and ((p[:, 4:] >= 0) & (p[:, 4:] <= 1)).all()
    # per column the rules are an interval around x: the nearest point is the clip to it
    lo = torch.full_like(x, -2.0)
    hi = torch.full_like(x, 2.0)
    lo[:, 0] = hi[:, 0] = x[:, 0]
    lo[:, 1], hi[:, 2] = x[:, 1], x[:, 2]
    lo[:, 4:], hi[:, 4:] = 0.0, 1.0
    assert torch.allclose(p, torch.minimum(torch.maximum(junk, lo), hi), atol=tol.ROUND_OFF_64)
    assert torch.allclose(RULES.project(p, x, RULES.movable(x)), p, atol=tol.ROUND_OFF_64)      # idempotent


def test_violations_count_each_broken_rule_and_score_junk_badly():
    x = rows()
    assert RULES.violations(x, x).sum() == 0
    bad = x.clone()
    bad[0, 0] += 1                       # immutable changed
    bad[1, 1] -= 0.5                     # one-way up, moved down
    bad[2, 2] += 0.5                     # one-way down, moved up
    bad[3, 3] = 5.0                      # out of bounds
    bad[4, 4:] = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)   # not a one-hot
    bad[5, 0] += 1
    bad[5, 3] = -9.0                     # two rules at once
    assert RULES.violations(x, bad)[:7].tolist() == [1, 1, 1, 1, 1, 2, 0]
    junk = x + 3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert RULES.violations(x, junk).mean() >= 2.0                      # junk breaks several rules
    # (N, k, D) counterfactuals: one count per counterfactual
    assert RULES.violations(x, torch.stack([x, bad], 1)).shape == (len(x), 2)


def test_the_box_is_what_projection_allows_and_the_lp_step_inside_it_matches_linprog():
    x = rows(20, seed=3)
    lo, hi = RULES.box(x)
    # moving a numeric column to either end of its box and projecting changes nothing
    for end in (lo, hi):
        moved = x + end.clamp(-10, 10)
        assert torch.allclose(RULES.project(moved, x, RULES.movable(x)), moved, atol=tol.ROUND_OFF_64)
    assert (lo[:, [0, 1, 4, 5, 6]] == 0).all() and (hi[:, [0, 2, 4, 5, 6]] == 0).all()
    g = torch.randn(20, D, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    need = torch.full((20,), 0.5, dtype=torch.float64)
    cost = torch.ones(D, dtype=torch.float64).expand(20, D)
    step, feasible = lp_step(g, need, cost, lo, hi)
    for i in range(20):
        res = linprog(np.ones(2 * D), A_ub=-np.r_[g[i].numpy(), -g[i].numpy()][None], b_ub=[-0.5],
                      bounds=[(0, h) for h in hi[i].tolist()] + [(0, -v) for v in lo[i].tolist()])
        assert bool(feasible[i]) == (res.status == 0)
        if res.status == 0:
            assert float(step[i].abs().sum()) == pytest.approx(res.fun, abs=tol.LP_VERTEX)


def test_checked_once_each_rule_at_the_door():
    with pytest.raises(BadInput, match="swap them"):
        Constraints(bounds=(1.0, -1.0))
    with pytest.raises(BadInput, match=r"\+1 \(may only rise\)"):
        Constraints(one_way={0: 7})
    with pytest.raises(BadInput, match="disjoint one-hot groups"):
        Constraints(categorical=[[0, 1], [1, 2]])
    with pytest.raises(BadInput, match="out of range"):
        Constraints(immutable=[9]).check(rows())
    with pytest.raises(BadInput, match="outside the bounds"):
        Constraints(bounds=(0.0, 0.5)).check(rows())
    # metrics refuses what optimize refuses (issue 26: it accepted bounds=(1, -1), one_way={0: 7})
    assert one_way_signs({"age": 1}) == {"age": 1}


def test_metrics_counts_violations_with_the_same_rules_optimize_keeps():
    x_all, y_all, _, enc = data.german_credit()
    torch.manual_seed(0)
    model = torch.nn.Linear(x_all.shape[1], 2).eval()
    x = x_all[CF.predict(model, x_all) == 0][:20]
    age = enc.columns_of("age")[0]
    rules = Constraints(immutable=enc.columns_of("sex"), one_way={age: +1}, bounds=enc.bounds(x_all),
                        categorical=enc.categorical_groups)
    r = CF.optimize(model, x, 1, mad=CF.mad(x_all), constraints=rules)
    assert CF.metrics(model, x, r.x_cf, 1, x_all, y_all, constraints=rules)["feasibility_violations"] == 0
    younger = r.x_cf.clone()
    younger[:, age] = x[:, age] - 1.0
    m = CF.metrics(model, x, younger, 1, x_all, y_all, constraints=rules)
    assert m["feasibility_violations"] >= 1.0                          # every row breaks one-way age


def test_an_action_set_gives_the_constraints_its_recourse_keeps():
    x, y, _, enc = data.german_credit()
    actions = recourse.ActionSet.from_data(
        x, enc, immutable=("age", "sex", "job", "housing", "purpose"), one_way={"saving_accounts": +1, "duration": -1},
        order={"saving_accounts": ["little", "moderate", "quite rich", "rich"],
               "checking_account": ["little", "moderate", "rich"]},
        forbidden={"saving_accounts": ["not_known"], "checking_account": ["not_known"]})
    rules = actions.constraints
    assert set(rules.immutable) == {c for f in ("age", "sex", "job", "housing", "purpose")
                                    for c in enc.columns_of(f)}
    assert rules.one_way == {enc.columns_of("duration")[0]: -1}
    assert sorted(map(list, rules.categorical)) == sorted(enc.categorical_groups)
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 2).eval()
    rejected = x[CF.predict(model, x) == 0][:15]
    r = recourse.linear_recourse(model, rejected, actions, x)
    assert r.feasible.any()
    assert rules.violations(rejected, r.x_cf).sum() == 0
    longer = r.x_cf.clone()
    longer[:, enc.columns_of("duration")[0]] += 1.0
    assert (rules.violations(rejected, longer) == 1).all()
