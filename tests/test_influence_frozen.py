"""Influence on frozen models (issue 15, part 2): a model loaded for inference has every
parameter frozen (``requires_grad=False``) and is in eval mode. Every public function of
``xaitutor.influence`` must give on it what it gives on the same model unfrozen, and leave
it as found: ``requires_grad`` and ``training`` flags, ``.grad`` and weights (only ``fit``
changes weights, by design). A partly frozen model counts its trainable parameters only —
checked against the influence of its head on fixed features, written out.
"""
import copy
import inspect

import pytest
import torch
from frozen_models import freeze, state
from torch import nn

from xaitutor import data
from xaitutor import influence as I

L2 = 1e-2
pytestmark = pytest.mark.filterwarnings("ignore:LiSSA is inaccurate")   # depth 100, on purpose


def assert_as_found(model, before, weights=True):
    after = state(model)
    assert after["requires_grad"] == before["requires_grad"]
    assert after["training"] == before["training"]
    for k, g in before["grad"].items():
        h = after["grad"][k]
        assert (g is None and h is None) or torch.equal(g, h), f"{k}.grad changed"
    if weights:
        for k, v in before["weights"].items():
            assert torch.equal(after["weights"][k], v), f"{k} changed"


def assert_equal(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"max |Δ| {(a - b).abs().max().item():.2e}"
    else:
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            assert_equal(u, v)


@pytest.fixture(scope="module")
def problems():
    """Logistic regression and a small tanh MLP on 3s vs 8s, trained to the optimum."""
    x, y = data.digits()
    sel = (y == 3) | (y == 8)
    x, y = x[sel].flatten(1).double(), (y[sel] == 8).long()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    train, test = (xtr[:120], ytr[:120]), (xte[:4], yte[:4])
    loss = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    models = {"logistic": nn.Linear(64, 2).double(),
              "mlp": nn.Sequential(nn.Linear(64, 4), nn.Tanh(), nn.Linear(4, 2)).double()}
    for m in models.values():
        assert I.fit(m, loss, *train, l2=L2, max_iter=2000, tol=1e-8).converged
    return models, loss, train, test


def _v(m, loss, train, test):
    p = sum(q.numel() for q in m.parameters())
    return torch.randn(2, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _thetas(m, loss, train, test):
    theta = torch.cat([q.detach().flatten() for q in m.parameters()])
    return torch.stack([theta, theta + 1e-3])


CALLS = {
    "per_sample_grads": lambda m, loss, tr, te: I.per_sample_grads(m, loss, *te),
    "hvp": lambda m, loss, tr, te: I.hvp(m, loss, tr, _v(m, loss, tr, te), l2=L2),
    "hessian": lambda m, loss, tr, te: I.hessian(m, loss, tr, l2=L2),
    "solve": lambda m, loss, tr, te: [
        I.solve(m, loss, tr, I.per_sample_grads(m, loss, *te), l2=L2, method=method,
                lissa_depth=100, progress=False).s for method in I.METHODS],
    "influence": lambda m, loss, tr, te: [
        I.influence(m, loss, tr, te, l2=L2, method=method, damping=0.01, lissa_depth=100,
                    progress=False) for method in I.METHODS],
    "self_influence": lambda m, loss, tr, te: I.self_influence(m, loss, tr, l2=L2, method="cg"),
    "perturbation_influence": lambda m, loss, tr, te: I.perturbation_influence(m, loss, tr, te,
                                                                               l2=L2),
    "Influence": lambda m, loss, tr, te: [
        I.Influence(m, loss, tr, l2=L2).scores(te, method, lissa_depth=100, progress=False)
        for method in I.METHODS],
    "losses": lambda m, loss, tr, te: I.losses(m, loss, te),
    "loss_change": lambda m, loss, tr, te: I.loss_change(m, loss, _thetas(m, loss, tr, te), te),
    "retrain_without": lambda m, loss, tr, te: I.retrain_without(m, loss, tr, [0, 7], l2=L2,
                                                                 progress=False),
    "leave_one_out": lambda m, loss, tr, te: I.leave_one_out(m, loss, tr, te, [3], l2=L2,
                                                             progress=False),
}


def test_every_public_function_that_takes_a_model_is_exercised():
    takes_model = {name for name in I.__all__
                   if callable(getattr(I, name)) and name not in ("FitReport", "SmoothHinge")
                   and "model" in inspect.signature(getattr(I, name)).parameters}
    assert takes_model == set(CALLS) | {"fit", "fit_hinge_svm", "retrain_hinge_svm_without"}


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_works_on_a_frozen_model_as_on_the_unfrozen_one_and_leaves_it_as_found(problems, name, kind):
    models, loss, train, test = problems
    results = []
    for model in (models[kind], freeze(models[kind])):
        before = state(model)
        results.append(CALLS[name](model, loss, train, test))
        assert_as_found(model, before)
    assert_equal(*results)


@pytest.mark.parametrize("name", ["influence", "retrain_without", "hvp", "solve"])
def test_works_inside_no_grad_on_a_frozen_model(problems, name):
    models, loss, train, test = problems
    frozen = freeze(models["mlp"])
    expected = CALLS[name](frozen, loss, train, test)
    before = state(frozen)
    with torch.no_grad():
        got = CALLS[name](frozen, loss, train, test)
    assert_as_found(frozen, before)
    assert_equal(got, expected)


def test_fit_trains_a_frozen_model_as_an_unfrozen_one_and_keeps_its_flags(problems):
    _, loss, train, _ = problems
    torch.manual_seed(1)
    start = nn.Sequential(nn.Linear(64, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
    results = []
    for model in (copy.deepcopy(start), freeze(start)):
        before = state(model)
        report = I.fit(model, loss, *train, l2=L2, max_iter=50)
        assert_as_found(model, before, weights=False)        # fit changes weights, by design
        results.append((report, model.state_dict()))
    assert results[0][0] == results[1][0]
    for k, v in results[0][1].items():
        assert torch.equal(v, results[1][1][k])
    assert not torch.equal(results[0][1]["0.weight"], start.state_dict()["0.weight"])


def test_a_partly_frozen_model_counts_only_its_trainable_parameters(problems):
    """The MLP with its first layer frozen: influence through the head alone, which is
    logistic regression on the fixed hidden features h = tanh(W₁x + b₁) — written out."""
    models, loss, (x, y), (xt, yt) = problems
    mlp = freeze(models["mlp"], keep=["2."])
    I.fit(mlp, loss, x, y, l2=L2, tol=1e-9)                 # the head to its own optimum
    before = state(mlp)
    ours = I.influence(mlp, loss, (x, y), (xt, yt), l2=L2)
    assert_as_found(mlp, before)
    assert I.per_sample_grads(mlp, loss, x, y).shape == (len(x), 10)   # 4 × 2 weights + 2 biases
    with torch.no_grad():
        h, ht = mlp[1](mlp[0](x)), mlp[1](mlp[0](xt))
    head = copy.deepcopy(mlp[2])
    head.requires_grad_(True)
    # the head's objective on fixed features: the l2 term covers the head only
    flat_g = lambda hx, hy: torch.stack([
        torch.cat([g.flatten() for g in torch.autograd.grad(loss(head(hx[i:i + 1]), hy[i:i + 1]),
                                                            list(head.parameters()))])
        for i in range(len(hx))])
    g_train, g_test = flat_g(h, y), flat_g(ht, yt)
    theta = torch.cat([p.detach().flatten() for p in head.parameters()])

    def objective(t):
        w, b = t[:8].view(2, 4), t[8:]
        return loss(h @ w.T + b, y) + 0.5 * L2 * (t ** 2).sum()
    H = torch.autograd.functional.hessian(objective, theta)
    by_hand = g_test @ torch.linalg.solve(H, g_train.T) / len(x)
    torch.testing.assert_close(ours, by_hand, rtol=1e-9, atol=1e-14)


def test_the_exact_hinge_svm_fits_and_retrains_a_frozen_linear_model_as_an_unfrozen_one():
    """fit_hinge_svm sets the weights (by design) but keeps the flags; retrain_hinge_svm_without
    leaves the model as found; both give a frozen model what they give an unfrozen one."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * torch.randn(40, generator=g, dtype=torch.float64) > 0).long()
    torch.manual_seed(2)
    start = nn.Linear(5, 1).double().eval()
    results = []
    for model in (copy.deepcopy(start), freeze(start)):
        before = state(model)
        I.fit_hinge_svm(model, x, y, l2=0.05)
        assert_as_found(model, before, weights=False)
        fitted = state(model)
        thetas, report = I.retrain_hinge_svm_without(model, (x, y), [0, 5, 9], l2=0.05)
        assert report.optimal
        assert_as_found(model, fitted)
        results.append((model.state_dict(), thetas))
    for k, v in results[0][0].items():
        assert torch.equal(v, results[1][0][k])
    assert torch.equal(results[0][1], results[1][1])
