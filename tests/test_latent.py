import pytest
import torch
from torch import nn

from xaitutor import counterfactuals as cf
from xaitutor import data, latent, models
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search
import tolerances as tol


@pytest.fixture(scope="module")
def digits_setup():
    x, y = data.digits()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    torch.manual_seed(0)
    cnn = models.fit_classifier(models.SmallCNN(1, 10), xtr, ytr, epochs=30, progress=False)
    clf = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), cnn).eval()   # never seen by the VAE
    vae = latent.train_vae(xtr.flatten(1), latent_dim=8, epochs=60, progress=False)
    return clf, vae, xtr.flatten(1), ytr, xte.flatten(1), yte


def test_vae_reconstructs_held_out_digits_far_better_than_the_mean(digits_setup):
    _, vae, Xtr, _, Xte, _ = digits_setup
    rec = (vae.reconstruct(Xte) - Xte).abs().sum(1).mean()
    mean_predictor = (Xtr.mean(0) - Xte).abs().sum(1).mean()
    assert rec < 0.7 * mean_predictor


@pytest.mark.parametrize("method", latent.METHODS)
def test_latent_counterfactuals_are_valid_and_closer_to_real_targets(digits_setup, method):
    clf, vae, Xtr, ytr, Xte, yte = digits_setup
    with torch.no_grad():
        threes = Xte[(yte == 3) & (clf(Xte).argmax(1) == 3)][:30]
    r = latent.counterfactual(clf, vae, threes, 8, method=method)
    assert r.validity >= 0.9
    assert torch.equal(r.valid, clf(r.x_cf).argmax(1) == 8)
    inp = cf.optimize(clf, threes, 8, lam=0.05, distance="l1", constraints=Constraints(bounds=(0.0, 1.0)))
    nearest8 = lambda x_cf: torch.cdist(x_cf, Xtr[ytr == 8], p=1).min(1).values.mean()
    assert nearest8(r.x_cf[r.valid]) < nearest8(inp.x_cf[inp.valid])


def test_revise_path_starts_at_the_code_of_x(digits_setup):
    clf, vae, _, _, Xte, yte = digits_setup
    with torch.no_grad():
        x = Xte[(yte == 1) & (clf(Xte).argmax(1) == 1)][:2]
    r = latent.counterfactual(clf, vae, x, 7, search=Search(steps=60, record_path=True))
    torch.testing.assert_close(r.path[0], vae.encode(x)[0])
    assert r.path.shape == (61, 2, 8)


def test_tabular_vae_decodes_valid_categories_and_keeps_immutables():
    x, y, _, enc = data.german_credit()
    vae = latent.train_vae(x, latent_dim=4, likelihood="mixed", categorical=enc.categorical_groups,
                           epochs=30, progress=False)
    decoded = vae.decode(torch.randn(50, 4), hard=True)
    for g in enc.categorical_groups:
        assert torch.equal(decoded[:, g].sum(1), torch.ones(50))
        assert set(decoded[:, g].unique().tolist()) <= {0.0, 1.0}
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2)).eval()
    rejected = x[model(x).argmax(1) == 0][:20] if (model(x).argmax(1) == 0).sum() >= 20 else x[model(x).argmax(1) == 1][:20]
    target = 1 - int(model(rejected[:1]).argmax(1))
    imm = enc.columns_of("age") + enc.columns_of("sex")
    for method in latent.METHODS:
        r = latent.counterfactual(model, vae, rejected, target, method=method, constraints=Constraints(immutable=imm))
        assert torch.equal(r.x_cf[:, imm], rejected[:, imm])
    # one-way rules hold too; the one-hot groups (valid from the decoder) change nothing:
    # projecting them on [0, 1] again would cut REVISE's straight-through gradient
    duration = enc.columns_of("duration")[0]
    rules = Constraints(immutable=imm, one_way={duration: -1}, bounds=enc.bounds(x))
    plain = latent.counterfactual(model, vae, rejected, target, constraints=rules)
    grouped = latent.counterfactual(model, vae, rejected, target, constraints=Constraints(
        immutable=imm, one_way={duration: -1}, bounds=enc.bounds(x), categorical=enc.categorical_groups))
    assert (plain.x_cf[:, duration] <= rejected[:, duration]).all()
    assert torch.equal(plain.z_cf, grouped.z_cf) and torch.equal(plain.x_cf, grouped.x_cf)


def test_bad_input_is_explained(digits_setup):
    clf, vae, _, _, Xte, yte = digits_setup
    with torch.no_grad():
        threes = Xte[(yte == 3) & (clf(Xte).argmax(1) == 3)][:3]
    with pytest.raises(ValueError, match="the VAE takes 64 features"):
        latent.counterfactual(clf, vae, threes[:, :10], 8)
    with pytest.raises(ValueError, match="not a class of the model"):
        latent.counterfactual(clf, vae, threes, 12)
    with pytest.raises(ValueError, match="already predicted"):
        latent.counterfactual(clf, vae, threes, 3)
    with pytest.raises(ValueError, match="unknown method"):
        latent.counterfactual(clf, vae, threes, 8, method="growing")
    with pytest.raises(ValueError, match="Bernoulli"):
        latent.train_vae(torch.randn(10, 4), epochs=1, progress=False)
    with pytest.raises(ValueError, match="mixed"):
        latent.VAE(4, likelihood="mixed")


def test_kl_divergence_equals_torch_distributions():
    """Issue 24, §2: the closed-form KL term losing its "− 1" was noticed by notebook 05 only.
    Against torch.distributions' KL(N(μ, σ²) ‖ N(0, 1)), summed over the latent dimensions;
    zero at μ = 0, σ = 1."""
    from torch.distributions import Normal, kl_divergence
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randn(16, 3, generator=g,
                                                                                   dtype=torch.float64)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(latent.kl_divergence(mu, logvar), reference, atol=tol.ROUND_OFF_64)
    assert latent.kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0
