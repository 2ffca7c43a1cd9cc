import numpy as np
import pytest
import torch

from xaitutor import data

SHAPES = {"xor": (2, 2), "trigonometry": (7, 3), "dot": (4, 2)}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shapes_dtypes_and_binary_concepts(name):
    x, c, y = data.load(name, 123, seed=0)
    d, k = SHAPES[name]
    assert x.shape == (123, d) and x.dtype == torch.float32
    assert c.shape == (123, k) and c.dtype == torch.float32
    assert y.shape == (123,) and y.dtype == torch.int64
    assert set(c.unique().tolist()) <= {0.0, 1.0} and set(y.unique().tolist()) <= {0, 1}


@pytest.mark.parametrize("name", list(SHAPES))
def test_same_seed_same_data_other_seed_other_data(name):
    a, b, other = data.load(name, 50, 7), data.load(name, 50, 7), data.load(name, 50, 8)
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert not torch.equal(a[0], other[0])


def test_xor_follows_its_definition():
    x, c, y = data.xor(500, seed=1)
    assert torch.equal(c, (x > 0.5).float())
    assert torch.equal(y, (c[:, 0] != c[:, 1]).long())
    assert 0 <= x.min() and x.max() <= 1


def test_trigonometry_concepts_are_the_signs_of_h():
    # sin h + h is strictly increasing and 0 at 0, so its sign is the sign of h
    x, c, y = data.trigonometry(2000, seed=0)
    assert torch.equal(c, (x[:, [0, 2, 4]] > 0).float())
    # the last feature is |h|², whose mean is 3 · 2² = 12
    assert abs(x[:, 6].mean().item() - 12) < 1.0
    assert 0.3 < y.float().mean().item() < 0.5     # P(h1 + h2 + h3 > 1) ≈ 0.44


def test_dot_follows_its_definition():
    x, c, y = data.dot(1000, seed=2)
    v1 = (x[:, :2] + x[:, 2:]) / 2           # x = (v1 + v3, v1 − v3)
    v3 = (x[:, :2] - x[:, 2:]) / 2
    assert torch.equal(c[:, 0], (v1.sum(1) > 0).float())
    assert torch.equal(c[:, 1], (-v3.sum(1) > 0).float())
    agree = (y == ((v1 * v3).sum(1) > 0).long()).float().mean()
    assert agree > 0.995   # float32 rounding can flip a product that is ~0
    assert abs(v1.std().item() - 2) < 0.15


def test_split_is_seeded_disjoint_and_complete():
    x = torch.arange(10.0)[:, None]
    (tr,), (te,) = data.split(x, train=0.7, seed=0)
    assert len(tr) == 7 and len(te) == 3
    assert sorted(torch.cat([tr, te]).flatten().tolist()) == list(range(10))
    (tr2,), _ = data.split(x, train=0.7, seed=0)
    assert torch.equal(tr, tr2)


@pytest.mark.parametrize("call, message", [
    (lambda: data.xor(0), "positive int"),
    (lambda: data.dot(2.5), "positive int"),
    (lambda: data.load("spiral"), "unknown data set"),
    (lambda: data.split(torch.zeros(3), torch.zeros(4)), "share their first dimension"),
    (lambda: data.split(torch.zeros(3), train=1.5), r"fraction in \(0, 1\)"),
    (lambda: data.split(torch.zeros(2), train=0.1), "one part would be empty"),
])
def test_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_digits_are_the_bundled_8x8_images_in_unit_range():
    x, y = data.digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == 0 and x.max() == 1 and sorted(y.unique().tolist()) == list(range(10))


def test_shapes_masks_mark_the_bright_object_and_are_seeded():
    x, y, mask = data.shapes(50, seed=3)
    assert x.shape == mask.shape == (50, 1, 20, 20) and mask.dtype == torch.bool
    assert (x[mask] >= 0.7).all() and (x[~mask] <= 0.25).all()       # object vs background
    assert set(y.tolist()) <= {0, 1, 2} and (mask.flatten(1).sum(1) > 5).all()
    assert all(torch.equal(a, b) for a, b in zip(data.shapes(50, seed=3), (x, y, mask)))


def test_spurious_watermark_marks_exactly_the_squares():
    x, y, mask = data.shapes(90, seed=0, watermark="spurious")
    stamped = (x[:, 0, -4:-1, -4:-1] == 1.0).flatten(1).all(1)
    assert torch.equal(stamped, y == 0)
    assert not mask[:, :, -4:-1, -4:-1].any()                        # the watermark is not the object
    xr, yr, _ = data.shapes(300, seed=0, watermark="random")
    stamped = (xr[:, 0, -4:-1, -4:-1] == 1.0).flatten(1).all(1)
    assert 0.2 < stamped.float().mean() < 0.45
    with pytest.raises(ValueError, match="watermark must be"):
        data.shapes(10, watermark="logo")


def test_loan_applicants_follow_their_scm():
    """Fitting the SCM's own graph recovers the equations written in the docstring."""
    from xaitutor.recourse import AdditiveSCM
    x, y = data.loan_applicants(20000, seed=1)
    assert x.shape == (20000, 5) and x.dtype == torch.float32 and y.float().mean() == 0.5
    scm = AdditiveSCM(data.LOAN_GRAPH, n_nodes=5).fit(x.double())
    coef = {j: scm.models[j].coef_ for j in data.LOAN_GRAPH}
    np.testing.assert_allclose(coef[1], [0.04], atol=0.01)
    np.testing.assert_allclose(coef[2], [0.3, 2.5], atol=0.05)
    np.testing.assert_allclose(coef[3], [3.0], atol=0.05)
    np.testing.assert_allclose(coef[4], [0.1, 0.4], atol=0.02)
    torch.testing.assert_close(data.loan_applicants(50, seed=3)[0], data.loan_applicants(50, seed=3)[0])


def test_compare_html_marks_exactly_the_changed_features_and_the_locked_ones():
    x, _, _, enc = data.german_credit()
    after = x[0].clone()
    after[enc.columns_of("duration")[0]] += 1.0
    table = enc.compare_html(x[0], after, locked=["age"])
    assert table.count("font-weight:bold") == 1 and "duration" in table and "age 🔒" in table
    assert "font-weight:bold" not in enc.compare_html(x[0], x[0])


def test_mnist_is_the_bundled_10000_real_digits_the_same_every_call():
    import hashlib
    from importlib import resources
    x, y = data.mnist()
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == 0 and x.max() == 1 and torch.equal(x * 255, (x * 255).round())   # 8-bit grey levels
    assert y.bincount().tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]   # the README's counts
    x2, y2 = data.mnist()
    assert torch.equal(x, x2) and torch.equal(y, y2)
    ones_sevens, labels = data.mnist((7, 1))
    assert torch.equal(labels.unique(), torch.tensor([1, 7])) and len(labels) == 1127 + 1070
    assert torch.equal(ones_sevens, x[(y == 1) | (y == 7)])
    folder = resources.files("xaitutor.data") / "files" / "mnist"
    assert hashlib.sha256((folder / "mnist10k.npz").read_bytes()).hexdigest() == data.images.MNIST_SHA256
    note = (folder / "README.md").read_text()
    assert "CC BY-SA 3.0" in note and "LeCun" in note


def test_mnist_refuses_a_file_that_is_not_the_one_shipped(monkeypatch, tmp_path):
    from xaitutor.data import images
    (tmp_path / "files" / "mnist").mkdir(parents=True)
    good = (images.resources.files("xaitutor.data") / "files" / "mnist" / "mnist10k.npz").read_bytes()
    (tmp_path / "files" / "mnist" / "mnist10k.npz").write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    monkeypatch.setattr(images.resources, "files", lambda package: tmp_path)
    with pytest.raises(RuntimeError, match="sha256 differs"):
        data.mnist()
