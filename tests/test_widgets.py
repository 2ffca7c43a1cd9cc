import re

import pytest
import torch

from xaitutor import concepts, data, widgets
from xaitutor.plotting import use_projector_style
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search


@pytest.fixture(scope="module")
def explorer():
    use_projector_style()
    return widgets.concept_model_explorer(n=400, seed=0)


@pytest.fixture(scope="module")
def sequential_xor():
    x, c, y = data.xor(300, seed=0)
    model = concepts.fit(x, c, y, "cbm", "sequential", progress=False)
    noisy = x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    return model, noisy, c, y


def test_explorer_shows_accuracies_and_a_picture(explorer):
    assert "task accuracy" in explorer.status.value
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_explorer_answers_a_new_data_set_and_model(explorer):
    before = (explorer.status.value, explorer.image.value)
    explorer.controls["dataset"].value = "dot"
    assert (explorer.status.value, explorer.image.value) != before
    assert "task accuracy" in explorer.status.value
    explorer.controls["model"].value = "black box"
    assert explorer.controls["lam"].disabled
    assert "concept accuracy</b> —" in explorer.status.value
    explorer.controls["model"].value = "CBM, joint"
    assert not explorer.controls["lam"].disabled
    explorer.controls["dataset"].value = "xor"


def concept_accuracy(status: str) -> float:
    return float(re.search(r"concept accuracy</b> ([0-9.]+)", status).group(1))


def test_lambda_zero_loses_the_concepts(explorer):
    """λ weighs the concept loss: at 0 the bottleneck learns no concepts (chance, ~0.5),
    at 1 it learns them (a swap of the two would fail here)."""
    explorer.controls["dataset"].value = "xor"
    explorer.controls["model"].value = "CBM, joint"
    explorer.controls["lam"].value = 0.0
    assert concept_accuracy(explorer.status.value) <= 0.7, explorer.status.value
    explorer.controls["lam"].value = 1.0
    assert concept_accuracy(explorer.status.value) >= 0.9, explorer.status.value


def test_explorer_reports_a_failure_and_keeps_working(explorer, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("training failed on purpose")
    monkeypatch.setattr(concepts, "fit", broken)
    explorer.controls["model"].value = "CBM, independent"      # not cached: calls fit
    assert "⚠" in explorer.status.value and "on purpose" in explorer.status.value
    monkeypatch.undo()
    explorer.controls["model"].value = "CBM, joint"            # cached: works again
    assert "task accuracy" in explorer.status.value


def test_a_cached_explorer_setting_is_not_trained_again(explorer, monkeypatch):
    """What makes a revisited setting fast: no training (timings: benchmarks/widgets.py)."""
    explorer.controls["dataset"].value = "xor"
    explorer.controls["dataset"].value = "dot"                 # both cached now
    calls = []
    monkeypatch.setattr(concepts, "fit", lambda *a, **k: calls.append(a) or 1 / 0)
    explorer.controls["dataset"].value = "xor"
    assert not calls and "task accuracy" in explorer.status.value


def test_playground_follows_the_toggles(sequential_xor):
    model, x, c, y = sequential_xor
    box = widgets.intervention_playground(model, x, c, y)
    wrong = (model(x)[1].argmax(1) != y).nonzero().flatten()
    box.controls["index"].value = int(wrong[0])
    assert "✗ wrong" in box.view.value
    box.controls["c1"].value = int(c[wrong[0], 0])
    box.controls["c2"].value = int(c[wrong[0], 1])
    assert "✓ correct" in box.view.value and "(set by you)" in box.view.value


def test_playground_resets_toggles_for_a_new_example(sequential_xor):
    box = widgets.intervention_playground(*sequential_xor)
    box.controls["c1"].value = 1
    box.controls["index"].value = 5
    assert box.controls["c1"].value == -1 and "(set by you)" not in box.view.value


def test_playground_explains_a_bad_index_and_recovers(sequential_xor):
    box = widgets.intervention_playground(*sequential_xor)
    box.controls["index"].value = 5000
    assert "example 5000 does not exist" in box.view.value and "0..299" in box.view.value
    box.controls["index"].value = 2
    assert "prediction:" in box.view.value


def test_playground_updates_when_a_concept_is_set(sequential_xor):
    box = widgets.intervention_playground(*sequential_xor)
    before = box.view.value
    box.controls["c1"].value = 1
    assert box.view.value != before and "(set by you)" in box.view.value


def test_playground_refuses_a_black_box():
    x, c, y = data.xor(50, seed=0)
    box = concepts.fit(x, c, y, "blackbox", epochs=1, progress=False)
    with pytest.raises(ValueError, match="black box"):
        widgets.intervention_playground(box, x, c, y)


def test_time_update_needs_a_new_value(sequential_xor):
    box = widgets.intervention_playground(*sequential_xor)
    with pytest.raises(ValueError, match="must differ"):
        widgets.time_update(box.controls["c1"], -1)


# --- saliency widgets (notebook 02) ------------------------------------------------------

@pytest.fixture(scope="module")
def digit_model():
    from xaitutor import models
    x, y = data.digits()
    torch.manual_seed(0)
    model = models.fit_classifier(models.SmallCNN(1, 10), x[:600], y[:600], epochs=5, progress=False)
    return model, x[1000:1040], y[1000:1040]


def test_saliency_explorer_draws_every_method(digit_model):
    model, x, y = digit_model
    box = widgets.saliency_explorer(model, x, y, model.features[-1])
    first = box.image.value
    for method in ["input × gradient", "SmoothGrad", "Integrated Gradients", "Grad-CAM", "occlusion"]:
        box.controls["method"].value = method
        assert "⚠" not in box.status.value and box.image.value != first
    box.controls["method"].value = "SmoothGrad"
    assert not box.controls["sigma"].disabled and box.controls["n_steps"].disabled
    before = box.image.value
    box.controls["sigma"].value = 0.4
    assert box.image.value != before


def test_saliency_explorer_explains_a_bad_index_and_recovers(digit_model):
    model, x, y = digit_model
    box = widgets.saliency_explorer(model, x, y, model.features[-1])
    box.controls["index"].value = -3
    assert "image -3 does not exist" in box.status.value
    box.controls["index"].value = 4
    assert "predicted" in box.status.value


def test_deletion_explorer_reports_auc_and_follows_its_controls(digit_model):
    model, x, y = digit_model
    box = widgets.deletion_explorer(model, x, y, model.features[-1], n_steps=8)
    assert "deletion AUC" in box.status.value
    before = box.image.value
    box.controls["step"].value = 6
    assert box.image.value != before
    box.controls["mode"].value = "insertion"
    assert "insertion AUC" in box.status.value and "higher is more faithful" in box.status.value
    box.controls["method"].value = "random order"
    assert "AUC" in box.status.value
    box.controls["index"].value = 99
    assert "does not exist" in box.status.value
    box.controls["index"].value = 2                              # and it keeps working
    assert "AUC" in box.status.value and "⚠" not in box.status.value


# --- influence widget (notebook 03) ------------------------------------------------------

def _three_or_eight(n: int, n_train: int, every: int):
    """Logistic regression on the first n 3s and 8s (n_train for training), fitted to its
    optimum, and the training points ``0, every, 2·every, …`` retrained without."""
    from torch import nn

    from xaitutor import influence
    x, y = data.digits()
    sel = (y == 3) | (y == 8)
    x, y = x[sel].flatten(1).double()[:n], (y[sel] == 8).long()[:n]
    train, test = (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
    torch.manual_seed(0)
    model = nn.Linear(64, 2).double()
    influence.fit(model, nn.CrossEntropyLoss(), *train)
    idx = torch.arange(0, n_train, every)
    thetas = influence.retrain_without(model, nn.CrossEntropyLoss(), train, idx, progress=False)
    return model, train, test, idx, thetas


def test_influence_explorer_shows_points_and_the_check():
    from torch import nn
    model, train, test, idx, thetas = _three_or_eight(200, 150, 10)
    box = widgets.influence_explorer(model, nn.CrossEntropyLoss(), train, test, idx, thetas,
                                     class_names=["3", "8"])
    assert "exact: most helpful point" in box.status.value
    assert float(box.status.value.rsplit("r = ", 1)[1]) >= 0.95       # predicted vs retrained
    assert box.controls["depth"].disabled
    before = box.image.value
    box.controls["index"].value = 7
    assert box.image.value != before
    box.controls["method"].value = "lissa"
    assert not box.controls["depth"].disabled and "lissa" in box.status.value
    box.controls["index"].value = 500
    assert "does not exist" in box.status.value
    box.controls["index"].value = 1
    assert "most helpful" in box.status.value


def test_influence_explorer_remembers_each_picture_under_its_own_settings():
    """Pictures are kept per (test point, solver, damping, depth): going back shows the
    first picture again, and another damping or point shows another one."""
    from torch import nn

    from xaitutor import influence
    model, train, test, idx, thetas = _three_or_eight(120, 100, 20)
    box = widgets.influence_explorer(model, nn.CrossEntropyLoss(), train, test, idx, thetas)
    shown = lambda: (box.image.value, box.status.value)          # noqa: E731
    box.controls["index"].value = 1
    first = shown()
    box.controls["damping"].value = 1.0
    damped = shown()
    box.controls["index"].value = 2
    other = shown()
    box.controls["damping"].value = 0.0
    box.controls["index"].value = 1
    assert shown() == first and len({first, damped, other}) == 3
    want = influence.influence(model, nn.CrossEntropyLoss(), train, test)[1]
    assert f"most helpful point {int(want.argmax())}" in box.status.value


def test_influence_explorer_shares_the_training_gradients_and_the_factor(monkeypatch):
    """What makes a click fast: a new test point or solver reuses the training gradients and
    the Hessian's factor (counted, not timed) — and shows what influence() computes."""
    from torch import nn

    from xaitutor import influence
    model, train, test, idx, thetas = _three_or_eight(120, 100, 20)
    calls = {"grads": 0, "hessian": 0}
    real_grads, real_hessian = influence.scores.grads, torch.func.hessian

    def counting_grads(flat, X, *a, **k):
        calls["grads"] += len(X) == len(train[0])
        return real_grads(flat, X, *a, **k)

    def counting_hessian(*a, **k):
        calls["hessian"] += 1
        return real_hessian(*a, **k)
    monkeypatch.setattr(influence.scores, "grads", counting_grads)
    monkeypatch.setattr(torch.func, "hessian", counting_hessian)
    box = widgets.influence_explorer(model, nn.CrossEntropyLoss(), train, test, idx, thetas)
    for i in (3, 5, 7):
        box.controls["index"].value = i
    box.controls["damping"].value = 0.01
    assert calls == {"grads": 1, "hessian": 1}, calls
    want = influence.influence(model, nn.CrossEntropyLoss(), train, test, damping=0.01)[7]
    order = want.argsort()
    assert f"most helpful point {int(order[-1])} ({want[order[-1]].item():+.2e})" in box.status.value


# --- counterfactual widgets (notebook 04) --------------------------------------------------

@pytest.fixture(scope="module")
def credit_model():
    import torch.nn.functional as F
    from torch import nn

    from xaitutor.core import train
    x, y, _, enc = data.german_credit()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
    train(lambda xb, yb: F.cross_entropy(model(xb), yb), model, (x, y), epochs=100, progress=False)
    model.eval()
    with torch.no_grad():
        rejected = x[model(x).argmax(1) == 0][:10]
    return model, x, y, enc, rejected


def test_counterfactual_explorer_respects_the_ticked_features(credit_model):
    model, x, y, enc, rejected = credit_model
    box = widgets.counterfactual_explorer(model, rejected, enc, x, y, immutable=("age", "sex"))
    assert "counterfactual" in box.view.value and "approved" in box.view.value
    assert box.controls["freeze age"].value and box.controls["freeze sex"].value
    for name in ["job", "housing", "saving_accounts", "checking_account", "purpose"]:
        box.controls[f"freeze {name}"].value = True             # two levers left: amount, duration
    text = box.view.value
    assert "🔒" in text
    box.controls["lam"].value = 1.0
    box.controls["index"].value = 3
    assert box.view.value != text
    for name in enc.numeric + tuple(enc.categorical):
        box.controls[f"freeze {name}"].value = True
    assert "every feature is immutable" in box.view.value        # message, still alive
    box.controls["index"].value = 42
    assert "applicant 42 does not exist" in box.view.value
    box.controls["index"].value = 1
    assert "every feature is immutable" in box.view.value        # the constraint still holds
    box.controls["freeze duration"].value = False
    assert "⚠" not in box.view.value


def test_counterfactual_explorer_shows_what_optimize_finds_for_that_applicant(credit_model, monkeypatch):
    """The widget searches every applicant at once and keeps it: applicant 3's table must
    be the counterfactual optimize gives applicant 3 alone, and an approved applicant
    gets a message, not a search."""
    from xaitutor import counterfactuals as CF
    model, x, y, enc, rejected = credit_model
    with torch.no_grad():
        approved = x[model(x).argmax(1) == 1][:1]
    rows = torch.cat([rejected[:3], approved, rejected[3:5]])
    box = widgets.counterfactual_explorer(model, rows, enc, x, y)
    box.controls["mu"].value = 0.1
    box.controls["index"].value = 4
    alone = CF.optimize(model, rows[4:5], 1, lam=0.1, mu=0.1, mad=CF.mad(x), constraints=Constraints(immutable=enc.columns_of("age") + enc.columns_of("sex"), bounds=enc.bounds(x), categorical=enc.categorical_groups), search=Search(steps=200))
    after = enc.decode(alone.x_cf[0])[0]
    for c in enc.numeric + tuple(enc.categorical):
        assert f"<td>{after[c]}</td>" in box.view.value or f">{after[c]}</td>" in box.view.value, c
    calls = []
    monkeypatch.setattr(CF, "optimize", lambda *a, **k: calls.append(1) or 1 / 0)
    box.controls["index"].value = 1                              # searched already: no new search
    box.controls["index"].value = 3
    assert "already predicted as class 1" in box.view.value and not calls


def test_path_explorer_draws_a_path_and_follows_the_start(credit_model):
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2)).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        model[0].bias.zero_()                                     # class 1 iff x₁ > 0
    X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-0.5, 0.5], [0.5, -0.5]])
    box = widgets.path_explorer(model, X, (X[:, 0] > 0).long())
    assert "✓ valid" in box.status.value and box.image.value[:4] == b"\x89PNG"
    before = box.image.value
    box.controls["x2"].value = -0.8
    assert box.image.value != before
    box.controls["x1"].value = 0.9                               # already class 1
    assert "already predicted" in box.status.value


# --- latent widgets (notebook 05) ----------------------------------------------------------

@pytest.fixture(scope="module")
def digit_vae():
    from torch import nn

    from xaitutor import latent, models
    x, y = data.digits()
    torch.manual_seed(0)
    cnn = models.fit_classifier(models.SmallCNN(1, 10), x[:900], y[:900], epochs=10, progress=False)
    clf = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), cnn).eval()
    vae = latent.train_vae(x[:900].flatten(1), latent_dim=2, epochs=20, progress=False)
    X, Y = x[900:960].flatten(1), y[900:960]
    return clf, vae, X, Y


def test_latent_explorer_compares_input_space_and_latent(digit_vae):
    clf, vae, X, Y = digit_vae
    box = widgets.latent_explorer(clf, vae, X, Y)
    assert "latent change" in box.status.value or "already predicted" in box.status.value
    before = box.image.value
    box.controls["target"].value = 0 if int(clf(X[:1]).argmax(1)) != 0 else 1
    assert box.image.value != before
    box.controls["method"].value = "cchvae"
    assert "latent change" in box.status.value
    box.controls["index"].value = 999
    assert "does not exist" in box.status.value
    box.controls["index"].value = 1                              # and it keeps working
    assert "latent change" in box.status.value or "already predicted" in box.status.value


def test_latent_explorer_batched_search_gives_each_digit_its_own_answer(digit_vae):
    """The explorer searches every digit at once (one batched call per target); REVISE's
    rows are independent, so the status line must equal a search of that digit alone."""
    from xaitutor import counterfactuals, latent
    clf, vae, X, Y = digit_vae
    box = widgets.latent_explorer(clf, vae, X, Y, target=8)
    predicted = clf(X).argmax(1)
    for i in [int(j) for j in (predicted != 8).nonzero().flatten()[[0, 3]]]:
        box.controls["index"].value = i
        alone = latent.counterfactual(clf, vae, X[i:i + 1], 8)
        space = counterfactuals.optimize(clf, X[i:i + 1], 8, lam=0.05, distance="l1", constraints=Constraints(bounds=(0.0, 1.0)),
                                         search=counterfactuals.Search(polish=False))   # images: no single-pixel polish
        expected = (f"input-space change L1 {float((space.x_cf - X[i:i + 1]).abs().sum()):.1f} · "
                    f"latent change L1 {float((alone.x_cf - X[i:i + 1]).abs().sum()):.1f}")
        assert box.status.value == expected
    already = int((predicted == 8).nonzero().flatten()[0])
    box.controls["index"].value = already
    assert "already predicted as 8" in box.status.value


def test_latent_sliders_decode_live(digit_vae):
    clf, vae, _, _ = digit_vae
    box = widgets.latent_sliders(vae, clf)
    before = box.image.value
    box.controls["z1"].value = 2.0
    assert box.image.value != before and "classifier says" in box.status.value
    before = box.image.value
    box.controls["z2"].value = -1.5
    assert box.image.value != before


def test_path_explorer_mu_prices_coordinates_where_lam_only_spreads():
    """The moons widget's μ must do what λ cannot: with a squared-L2 proximity every
    coordinate with a gradient moves; μ (elastic net) leaves the weaker one at 0."""
    from torch import nn
    model = nn.Sequential(nn.Linear(2, 2)).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.5]]))
        model[0].bias.zero_()                                     # class 1 iff x₁ + x₂/2 > 0
    X = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-0.5, 0.5], [0.5, -0.5]])
    box = widgets.path_explorer(model, X, (X[:, 0] + X[:, 1] / 2 > 0).long())
    box.controls["x1"].value, box.controls["x2"].value = -0.6, -0.6
    moved = lambda: [float(v) for v in re.findall(r"Δx[₁₂] = ([0-9.]+)", box.status.value)]
    for lam in (0.1, 1.0):
        box.controls["lam"].value = lam
        assert "✓ valid" in box.status.value and min(moved()) > 0.05, box.status.value
    box.controls["lam"].value = 0.1
    box.controls["mu"].value = 3.0
    assert "✓ valid" in box.status.value and moved()[1] == 0.0 and moved()[0] > 0.5, box.status.value
    box.controls["sparsity"].value = "l0"
    assert "✓ valid" in box.status.value


def test_latent_explorer_works_for_a_model_with_fewer_than_nine_classes(digit_vae):
    """The default target was a hard-coded 8: a 3-class model crashed with a TraitError."""
    from torch import nn
    clf, vae, X, Y = digit_vae
    three = nn.Sequential(clf, nn.Linear(10, 3)).eval()
    box = widgets.latent_explorer(three, vae, X, Y % 3)
    assert box.controls["target"].value == 2 and list(box.controls["target"].options) == [0, 1, 2]
    assert "latent change" in box.status.value or "already predicted" in box.status.value
    with pytest.raises(ValueError, match="model has 3 classes"):
        widgets.latent_explorer(three, vae, X, Y % 3, target=5)


def test_explorer_turns_a_value_error_into_a_message_and_keeps_working():
    """The shared helper every widget uses: a ValueError from show() becomes a warning."""
    import ipywidgets
    ex = widgets.Explorer(out="view")
    knob = ipywidgets.IntText(value=1)

    def show():
        if knob.value < 0:
            raise ValueError("knob must be ≥ 0")
        ex.say(f"knob is {knob.value}")

    box = ex.box([knob], {"knob": knob}, show)
    assert box.view.value == "knob is 1"
    knob.value = -3
    assert "knob must be ≥ 0" in box.view.value and "⚠" in box.view.value
    knob.value = 4
    assert box.view.value == "knob is 4"
    with pytest.raises(ValueError, match="'image' or 'view'"):
        widgets.Explorer(out="table")


# --- recourse widgets (notebook 06) ---------------------------------------------------------

@pytest.fixture(scope="module")
def loan_world():
    from torch import nn

    from xaitutor import recourse
    x, y = data.loan_applicants(600, seed=0)
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    mu, sd = x.mean(0), x.std(0)
    opt = torch.optim.LBFGS(model.parameters(), max_iter=300)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model((x - mu) / sd), y)
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():                                 # fold the standardisation in
        model.weight /= sd
        model.bias -= (model.weight * mu).sum(1)
    model.eval()
    actions = recourse.ActionSet.from_data(x, names=list(data.LOAN_FEATURES), immutable=["age", "debt"],
                                           one_way={"education": 1, "income": 1, "savings": 1})
    scm = recourse.AdditiveSCM(data.LOAN_GRAPH, n_nodes=5).fit(x)
    with torch.no_grad():
        rejected = x[model(x).argmax(1) == 0][:8]
    return model, x, actions, scm, rejected


def test_flipset_explorer_follows_the_ticked_features(loan_world):
    from xaitutor import recourse
    model, x, actions, scm, rejected = loan_world
    box = widgets.flipset_explorer(model, rejected, actions, x)
    assert "distinct ways" in box.view.value
    assert f"{recourse.flipsets(model, rejected[0], actions, x).items[0][0]:.3f}" in box.view.value
    box.controls["may change income"].value = False
    assert "income:" not in box.view.value
    want = recourse.flipsets(model, rejected[0], actions.freeze(["income"]), x)
    assert f"{want.items[0][0]:.3f}" in box.view.value
    for name in ("education", "savings"):
        box.controls[f"may change {name}"].value = False
    assert "nobody can act" in box.view.value                       # a message, still alive
    box.controls["may change savings"].value = True
    assert "⚠" not in box.view.value and "savings" in box.view.value


def test_scm_explorer_recomputes_the_descendants(loan_world):
    model, x, actions, scm, rejected = loan_world
    box = widgets.scm_explorer(model, scm, rejected, list(data.LOAN_FEATURES), [1, 2, 4], x)
    assert box.view.value.count("downstream") == 0
    box.controls["do education"].value = float(rejected[0, 1]) + 4
    want = scm.counterfactual(rejected[:1], {1: box.controls["do education"].value})
    assert box.view.value.count("downstream") == 3                # income, debt, savings
    for j in (2, 3, 4):
        assert f"{float(want[0, j]):.1f}" in box.view.value
    box.controls["index"].value = 3                               # sliders follow the person
    assert box.controls["do education"].value == pytest.approx(float(rejected[3, 1]))
    assert "downstream" not in box.view.value
    box.controls["index"].value = 99
    assert "does not exist" in box.view.value


def test_explorer_remembers_what_each_key_showed_and_forgets_the_oldest():
    """`Explorer.remembered`: a key seen before shows its picture and status again without
    rendering; a render that raises keeps nothing; past 256 keys the oldest is dropped."""
    from xaitutor.widgets._explorer import Explorer
    ex, calls = Explorer(), []

    def render(k):
        calls.append(k)
        if k == "bad":
            raise ValueError("no")
        ex.image.value, ex.status.value = f"png {k}".encode(), f"status {k}"

    ex.remembered(1, lambda: render(1))
    ex.remembered(2, lambda: render(2))
    ex.remembered(1, lambda: render(1))
    assert calls == [1, 2] and (ex.image.value, ex.status.value) == (b"png 1", "status 1")
    with pytest.raises(ValueError):
        ex.remembered("bad", lambda: render("bad"))
    with pytest.raises(ValueError):
        ex.remembered("bad", lambda: render("bad"))           # not kept: rendered again
    for k in range(3, 300):
        ex.remembered(k, lambda k=k: render(k))
    calls.clear()
    ex.remembered(2, lambda: render(2))                        # among the oldest: forgotten
    ex.remembered(299, lambda: render(299))                    # recent: kept
    assert calls == [2]


def test_the_deletion_explorer_shows_the_most_important_pixels_deleted_first():
    """Issue 24, §2: the explorer's picture deleting the *least* important pixels first
    passed every test. The explorer draws metrics.deletion_images (what the curve scores),
    checked here against a ranking by hand."""
    from xaitutor.metrics import deletion_images

    def frame(x, a, step, n_steps, mode="deletion"):
        return deletion_images(x[None], a[None], n_steps, mode)[0, step]
    x = torch.rand(2, 4, 4) + 0.5                                  # no pixel is 0 to begin with
    a = torch.stack([torch.arange(16.0).view(4, 4), torch.zeros(4, 4)])   # importance grows with the index
    gone = (frame(x, a, step=1, n_steps=4, mode="deletion") == 0).all(0).flatten()
    assert gone.nonzero().flatten().tolist() == [12, 13, 14, 15]   # the top quarter
    kept = (frame(x, a, step=1, n_steps=4, mode="insertion") != 0).all(0).flatten()
    assert kept.nonzero().flatten().tolist() == [12, 13, 14, 15]
    assert (frame(x, a, 0, 4) == x).all() and (frame(x, a, 4, 4) == 0).all()
