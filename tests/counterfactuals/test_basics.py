import pytest
import torch
from torch import nn

from xaitutor import counterfactuals as CF
from xaitutor import data
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search
import tolerances as tol


def random_mlp(seed, d=6, classes=2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, classes)).eval()


def rejected(model, n=60, d=6, seed=0, target=1):
    x = torch.randn(400, d, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return x[model(x).argmax(1) != target][:n]


@pytest.mark.parametrize("seed", range(4))
def test_defaults_reach_95_percent_validity_on_random_models(seed):
    model = random_mlp(seed)
    x = rejected(model, seed=seed)
    result = CF.optimize(model, x, 1)
    assert result.validity >= 0.95
    assert torch.equal(result.valid, CF.predict(model, result.x_cf) == 1)   # never passed off


@pytest.mark.parametrize("seed", range(3))
def test_constraints_hold_exactly(seed):
    model = random_mlp(seed)
    x = rejected(model, seed=seed)
    lo, hi = x.min(0).values - 0.5, x.max(0).values + 0.5
    r = CF.optimize(model, x, 1, constraints=Constraints(immutable=[0, 3], one_way={1: +1, 2: -1}, bounds=(lo, hi)))
    assert torch.equal(r.x_cf[:, [0, 3]], x[:, [0, 3]])
    assert (r.x_cf[:, 1] >= x[:, 1]).all() and (r.x_cf[:, 2] <= x[:, 2]).all()
    assert ((r.x_cf >= lo) & (r.x_cf <= hi)).all()


def test_categorical_groups_end_as_valid_one_hot():
    x_all, y_all, _, enc = data.german_credit()
    model = random_mlp(0, d=x_all.shape[1])
    x = rejected_rows = x_all[CF.predict(model, x_all) == 0][:30]
    r = CF.optimize(model, rejected_rows, 1, constraints=Constraints(categorical=enc.categorical_groups))
    for g in enc.categorical_groups:
        vals = r.x_cf[:, g]
        assert torch.equal(vals.sum(1), torch.ones(len(x))) and set(vals.unique().tolist()) <= {0.0, 1.0}
    m = CF.metrics(model, x, r.x_cf, 1, x_all, constraints=Constraints(categorical=enc.categorical_groups))
    assert m["feasibility_violations"] == 0


def test_sparsity_term_changes_fewer_features_and_gives_exact_zeros():
    model = random_mlp(1, d=10)
    x = rejected(model, d=10, seed=1)
    # no clean-up threshold, no polish: only the sparsity term itself can make zeros
    dense = CF.optimize(model, x, 1, lam=0.0, mu=0.0, distance="l1", search=Search(zero_below=0.0, polish=False))
    sparse = CF.optimize(model, x, 1, lam=0.0, mu=0.5, distance="l1", search=Search(zero_below=0.0, polish=False))
    changed = lambda r: ((r.x_cf - x).abs() > 0).sum(1).float().mean()
    assert changed(sparse) < changed(dense)
    assert ((sparse.x_cf - x) == 0).any()                                  # exact zeros


def test_diversity_spreads_the_k_counterfactuals():
    model = random_mlp(2)
    x = rejected(model, n=10, seed=2)
    plain = CF.optimize(model, x, 1, k=4)
    diverse = CF.optimize(model, x, 1, k=4, diversity=2.0)
    assert diverse.x_cf.shape == (10, 4, 6) and diverse.valid.shape == (10, 4)
    X_train = torch.randn(300, 6, generator=torch.Generator().manual_seed(9))
    div = lambda r: CF.metrics(model, x, r.x_cf, 1, X_train)["diversity"]
    assert div(diverse) > 2 * div(plain)


def test_path_is_recorded_from_the_start():
    model = random_mlp(0, d=2)
    x = rejected(model, n=3, d=2)
    r = CF.optimize(model, x, 1, search=Search(steps=40, record_path=True))
    assert r.path.shape[1:] == (3, 2) and torch.equal(r.path[0], x)


def test_mad_of_a_hand_made_column_and_its_fallback():
    X = torch.tensor([[1.0, 0.0, 5.0], [2.0, 0.0, 5.0], [4.0, 0.0, 5.0], [10.0, 1.0, 5.0]])
    m = CF.mad(X)
    # column 0: median 3 (torch takes the lower middle: 2), |x − 2| = 1, 0, 2, 8 → median 1
    assert m[0].item() == 1.0
    assert m[1].item() == pytest.approx(0.375)        # MAD 0 → mean |x − mean| = 0.375
    assert m[2].item() == 1.0                          # constant column → 1


def test_metrics_of_a_hand_made_case():
    model = nn.Linear(2, 2).eval()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        model.bias.zero_()                           # class 1 iff x_0 > 0
    x = torch.tensor([[-1.0, 0.0], [-2.0, 1.0]])
    x_cf = torch.tensor([[1.0, 0.0], [-0.5, 1.0]])   # the second stays class 0
    X_train = torch.tensor([[2.0, 0.0], [3.0, 0.0], [-3.0, 0.0], [-4.0, 0.0]])
    m = CF.metrics(model, x, x_cf, 1, X_train, mad=torch.ones(2), constraints=Constraints(immutable=[1]))
    assert m["validity"] == 0.5
    assert m["proximity_l1"] == pytest.approx((2.0 + 1.5) / 2)
    assert m["sparsity"] == 1.0
    assert m["plausibility_nn"] == pytest.approx((1.0 + 3.5) / 2)     # nearest class-1 point: (2, 0)
    assert m["feasibility_violations"] == 0.0


def test_bad_input_is_explained():
    model = random_mlp(0)
    x = rejected(model, n=5)
    with pytest.raises(ValueError, match="already predicted as their target"):
        CF.optimize(model, x, 0)
    with pytest.raises(ValueError, match="every feature is immutable"):
        CF.optimize(model, x, 1, constraints=Constraints(immutable=range(6)))
    with pytest.raises(ValueError, match="not a class"):
        CF.optimize(model, x, 5)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        CF.optimize(model, x, torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match="out of range"):
        CF.optimize(model, x, 1, constraints=Constraints(immutable=[9]))
    with pytest.raises(ValueError, match="one_way"):
        CF.optimize(model, x, 1, constraints=Constraints(one_way={0: 2}))
    with pytest.raises(ValueError, match="mad must have shape"):
        CF.optimize(model, x, 1, mad=torch.ones(3))
    with pytest.raises(ValueError, match="training mode"):
        CF.optimize(model.train(), x, 1)
    model.eval()
    with pytest.raises(ValueError, match="do not match"):
        CF.metrics(model, x, x[:, :3], 1, x)
    _, _, _, enc = data.german_credit()
    with pytest.raises(ValueError, match="another encoder"):
        enc.decode(torch.zeros(3, 5))


def test_german_credit_round_trips_through_its_encoder():
    x, y, names, enc = data.german_credit()
    assert x.shape == (1000, len(names)) and y.float().mean().item() == pytest.approx(0.7)
    rows = enc.decode(x[:20])
    torch.testing.assert_close(enc.encode(rows), x[:20], atol=tol.ROUND_OFF_32, rtol=0)
    assert rows[0] == {"age": 67, "job": 2, "credit_amount": 1169, "duration": 6, "sex": "male",
                       "housing": "own", "saving_accounts": "not_known",
                       "checking_account": "little", "purpose": "radio/TV"}
    from importlib import resources
    note = (resources.files("xaitutor.data") / "files" / "german_credit" / "README.md").read_text()
    assert "DbCL" in note


def test_metrics_refuse_a_target_class_absent_from_the_training_data():
    model = random_mlp(0)
    x = rejected(model, n=4)
    X_train = torch.randn(20, 6)
    with pytest.raises(ValueError, match="no training point of class 1"):
        CF.metrics(model, x, x, 1, X_train, y_train=torch.zeros(20, dtype=torch.long))
