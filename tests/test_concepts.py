import pytest
import torch

from xaitutor import concepts, data


def held_out(name, seed, n=1000):
    return data.split(*data.load(name, n, seed), train=0.7, seed=seed)


@pytest.fixture(scope="module")
def xor0():
    (xtr, ctr, ytr), test = held_out("xor", 0)
    return {mode: concepts.fit(xtr, ctr, ytr, "cbm", mode, seed=0, progress=False)
            for mode in concepts.MODES}, test


@pytest.fixture(scope="module")
def dot0():
    (xtr, ctr, ytr), test = held_out("dot", 0)
    kinds = {"blackbox": ("blackbox", "joint"), "cbm": ("cbm", "sequential"), "cem": ("cem", "joint")}
    return {name: concepts.fit(xtr, ctr, ytr, k, m, seed=0, progress=False)
            for name, (k, m) in kinds.items()}, test


# --- shapes and the calling convention -------------------------------------------------

@pytest.mark.parametrize("kind", concepts.KINDS)
def test_model_returns_concept_probabilities_and_task_logits(kind):
    x, c, y = data.trigonometry(60, seed=0)
    model = concepts.fit(x, c, y, kind, epochs=3, progress=False)
    c_prob, y_logits = model(x)
    assert y_logits.shape == (60, 2)
    if kind == "blackbox":
        assert c_prob is None
    else:
        assert c_prob.shape == (60, 3) and 0 <= c_prob.min() and c_prob.max() <= 1
    assert not model.training


@pytest.mark.parametrize("kind, mode", [("cbm", m) for m in concepts.MODES] + [("cem", "joint"), ("blackbox", "joint")])
def test_same_seed_gives_the_same_model(kind, mode):
    x, c, y = data.xor(100, seed=0)
    a = concepts.fit(x, c, y, kind, mode, seed=4, epochs=20, progress=False)
    b = concepts.fit(x, c, y, kind, mode, seed=4, epochs=20, progress=False)
    other = concepts.fit(x, c, y, kind, mode, seed=5, epochs=20, progress=False)
    assert torch.equal(a(x)[1], b(x)[1])
    assert not torch.equal(a(x)[1], other(x)[1])


# --- the loss and the training modes -----------------------------------------------------

def test_joint_loss_matches_its_formula_written_out():
    g = torch.Generator().manual_seed(0)
    c_logits, y_logits = torch.randn(16, 3, generator=g), torch.randn(16, 4, generator=g)
    c, y = torch.randint(0, 2, (16, 3), generator=g).float(), torch.randint(0, 4, (16,), generator=g)
    bce = -(c * torch.log(torch.sigmoid(c_logits)) + (1 - c) * torch.log(1 - torch.sigmoid(c_logits))).mean()
    ce = -torch.log(torch.softmax(y_logits, 1)[torch.arange(16), y]).mean()
    for lam in (0.0, 0.3, 5.0):
        assert torch.allclose(concepts.joint_loss(c_logits, y_logits, c, y, lam), ce + lam * bce, atol=1e-6)


def test_sequential_and_independent_share_the_concept_encoder_but_not_the_head(xor0):
    models, _ = xor0
    seq, ind = models["sequential"], models["independent"]
    for p, q in zip(seq.concept_encoder.parameters(), ind.concept_encoder.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(seq.task_head[0].weight, ind.task_head[0].weight)


def test_independent_head_solves_xor_from_true_concepts(xor0):
    models, (x, c, y) = xor0
    with torch.no_grad():
        assert (models["independent"].task_head(c).argmax(1) == y).all()


# --- the accuracy bars of the issue ----------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_joint_cbm_learns_xor_for_any_seed(seed):
    (xtr, ctr, ytr), test = held_out("xor", seed)
    acc = concepts.accuracy(concepts.fit(xtr, ctr, ytr, "cbm", "joint", seed=seed, progress=False), *test)
    assert acc["task"] >= 0.97 and acc["concept"] >= 0.97, acc


def test_dot_bottleneck_falls_behind_the_black_box_and_cem_catches_up(dot0):
    models, test = dot0
    acc = {name: concepts.accuracy(m, *test) for name, m in models.items()}
    assert acc["blackbox"]["task"] >= 0.95
    assert acc["blackbox"]["task"] - acc["cbm"]["task"] >= 0.15        # the trade-off
    assert acc["cem"]["task"] >= 0.9 and acc["cem"]["concept"] >= 0.85
    assert acc["blackbox"]["task"] - acc["cem"]["task"] <= 0.05         # "within a few points"


@pytest.mark.parametrize("seed", range(3))
def test_correcting_every_concept_of_a_sequential_cbm_solves_xor(seed):
    (xtr, ctr, ytr), (x, c, y) = held_out("xor", seed)
    model = concepts.fit(xtr, ctr, ytr, "cbm", "sequential", seed=seed, progress=False)
    noisy = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    curve = concepts.intervention_curve(model, noisy, c, y)
    assert curve[0] < 0.9 <= 0.99 <= curve[2]          # the noise hurts, interventions fix it
    assert curve[0] < curve[1] < curve[2]


# --- interventions, checked against a by-hand computation -------------------------------

def test_cbm_intervention_is_the_head_on_corrected_concepts(xor0):
    models, (x, c, y) = xor0
    model = models["joint"]
    with torch.no_grad():
        c_hat = torch.sigmoid(model.concept_encoder(x))
        c_hat[:, 1] = c[:, 1]
        expected = model.task_head(c_hat)
    assert torch.equal(concepts.intervene(model, x, c, [1]), expected)
    assert torch.equal(concepts.intervene(model, x, c, 1), expected)
    assert torch.equal(concepts.intervene(model, x, c, []), model(x)[1])


def test_cem_intervention_selects_the_true_embedding():
    x, c, y = data.dot(200, seed=0)
    model = concepts.fit(x, c, y, "cem", epochs=30, progress=False)
    with torch.no_grad():
        e = model.embeddings(model.backbone(x)).view(200, 2, 2, model.emb_size)
        p = torch.sigmoid(model.scorer(e.reshape(200, 2, -1)).squeeze(-1))
        p[:, 0] = c[:, 0]                                         # intervene on concept 0
        mixed = p[..., None] * e[:, :, 0] + (1 - p[..., None]) * e[:, :, 1]
        expected = model.task_head(mixed.reshape(200, -1))
    torch.testing.assert_close(concepts.intervene(model, x, c, [0]), expected)


def test_per_sample_mask_intervenes_only_where_true(xor0):
    models, (x, c, y) = xor0
    model = models["sequential"]
    mask = torch.zeros(len(x), 2, dtype=torch.bool)
    mask[::2, 0] = True
    got = concepts.intervene(model, x, c, mask)
    assert torch.equal(got[::2], concepts.intervene(model, x[::2], c[::2], [0]))
    assert torch.equal(got[1::2], model(x[1::2])[1])


def test_intervention_curve_averages_over_concept_subsets(xor0):
    models, (x, c, y) = xor0
    model = models["joint"]
    acc = lambda idx: (concepts.intervene(model, x, c, idx).argmax(1) == y).float().mean().item()
    curve = concepts.intervention_curve(model, x, c, y)
    assert curve == pytest.approx([acc([]), (acc([0]) + acc([1])) / 2, acc([0, 1])])


def test_truth_table_is_the_head_on_every_concept_vector_and_xor_is_learnt(xor0):
    models, _ = xor0
    for mode, model in models.items():
        c_all, y_pred = concepts.truth_table(model)
        assert c_all.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
        with torch.no_grad():
            assert torch.equal(y_pred, model.task_head(c_all).argmax(1))
        assert y_pred.tolist() == [0, 1, 1, 0], mode        # f([0,1]) = 1, f([1,1]) = 0


def test_truth_table_needs_a_head_on_bare_concepts():
    cem = concepts.fit(X, C, Y, "cem", epochs=1, progress=False)
    with pytest.raises(ValueError, match="kind='cbm'"):
        concepts.truth_table(cem)
    with pytest.raises(TypeError, match="concept model"):
        concepts.truth_table(torch.nn.Linear(2, 2))


@pytest.fixture(scope="module")
def trig0():
    return held_out("trigonometry", 0)


def test_joint_cbm_leaks_on_trigonometry_and_honest_modes_do_not(trig0):
    """Issue 14: correcting concepts of the joint CBM (λ = 1) to the truth lowers its
    accuracy (its soft probabilities carried more than the concepts); sequential training
    has no such drop."""
    (xtr, ctr, ytr), test = trig0
    joint = concepts.intervention_curve(concepts.fit(xtr, ctr, ytr, "cbm", "joint", seed=0,
                                                     progress=False), *test)
    seq = concepts.intervention_curve(concepts.fit(xtr, ctr, ytr, "cbm", "sequential", seed=0,
                                                   progress=False), *test)
    assert joint[0] >= 0.95
    assert all(joint[0] - joint[k] >= 0.03 for k in (1, 2, 3)), joint
    assert all(seq[0] - seq[k] <= 0.0 for k in (1, 2, 3)), seq


def test_the_seeds_loss_is_lambda_5_and_gives_about_80_percent_without_leakage(trig0):
    """concept_loss + 0.2·task_loss = 0.2·joint_loss(λ=5): same minimiser."""
    g = torch.Generator().manual_seed(0)
    c_logits, y_logits = torch.randn(16, 3, generator=g), torch.randn(16, 2, generator=g)
    c, y = torch.randint(0, 2, (16, 3), generator=g).float(), torch.randint(0, 2, (16,), generator=g)
    seed_loss = (torch.nn.functional.binary_cross_entropy_with_logits(c_logits, c)
                 + 0.2 * torch.nn.functional.cross_entropy(y_logits, y))
    assert torch.allclose(seed_loss, 0.2 * concepts.joint_loss(c_logits, y_logits, c, y, 5.0))
    (xtr, ctr, ytr), test = trig0
    curve = concepts.intervention_curve(concepts.fit(xtr, ctr, ytr, "cbm", "joint", seed=0, lam=5.0,
                                                     progress=False), *test)
    assert 0.78 <= curve[0] <= 0.88, curve
    assert curve[-1] - curve[0] >= -0.01, curve


# --- bad input -------------------------------------------------------------------------

X, C, Y = data.xor(20, seed=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="svm"), "unknown kind"),
    (dict(mode="greedy"), "unknown mode"),
    (dict(kind="cem", mode="sequential"), "applies to kind='cbm' only"),
    (dict(x=X[:, 0]), r"x must be a float tensor of shape \(n, d\)"),
    (dict(x=X.long()), "x must be a float tensor"),
    (dict(c=C * 2), r"values in \{0, 1\}"),
    (dict(c=C[:5]), "c must have shape"),
    (dict(y=Y.float()), "int64"),
    (dict(y=-Y - 1), "negative label"),
    (dict(x=X[:0], c=C[:0], y=Y[:0]), "x is empty"),
    (dict(x=torch.full_like(X, float("nan"))), "NaN"),
    (dict(lam=-1.0), "lam"),
    (dict(p_int=2.0), "p_int"),
])
def test_fit_explains_bad_input(kwargs, message):
    args = dict(x=X, c=C, y=Y)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        concepts.fit(args.pop("x"), args.pop("c"), args.pop("y"), progress=False, epochs=1, **args)


def test_fit_rejects_numpy_arrays_with_a_hint():
    with pytest.raises(TypeError, match="torch.as_tensor"):
        concepts.fit(X.numpy(), C, Y, progress=False)


def test_intervene_and_model_explain_bad_input():
    model = concepts.fit(X, C, Y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"out of range: the model has 2 concepts \(0..1\)"):
        concepts.intervene(model, X, C, [2])
    with pytest.raises(ValueError, match="2 columns"):
        concepts.intervene(model, X, torch.cat([C, C], 1), [0])
    with pytest.raises(ValueError, match=r"boolean idx must have shape"):
        concepts.intervene(model, X, C, torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        model(torch.zeros(4, 3))
    box = concepts.fit(X, C, Y, "blackbox", epochs=1, progress=False)
    with pytest.raises(ValueError, match="black box has no concepts"):
        concepts.intervene(box, X, C, [0])
    with pytest.raises(TypeError, match="concept model"):
        concepts.intervene(torch.nn.Linear(2, 2), X, C, [0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_model_on_gpu_rejects_cpu_input_with_the_fix():
    model = concepts.fit(X.cuda(), C.cuda(), Y.cuda(), epochs=2, progress=False)
    with pytest.raises(ValueError, match="move one of them"):
        model(X)
