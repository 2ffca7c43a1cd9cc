import pytest
import torch

from xaitutor import data, models


def test_small_cnn_learns_the_shapes_quickly():
    x, y, _ = data.shapes(900, seed=0)
    xt, yt, _ = data.shapes(150, seed=9)
    torch.manual_seed(0)
    model = models.fit_classifier(models.SmallCNN(1, 3), x, y, epochs=30, progress=False)
    assert not model.training
    assert models.accuracy(model, xt, yt) >= 0.9


def test_small_cnn_ends_in_average_pooling_and_a_linear_layer():
    model = models.SmallCNN(1, 4, width=8).eval()
    x = torch.rand(3, 1, 12, 12)
    feats = model.features(x)
    torch.testing.assert_close(model(x), model.fc(feats.mean(dim=(2, 3))))


def test_the_shipped_digit_network_is_its_recipe_retrained_and_learns_real_digits():
    """mnist_cnn() loads exactly what train_mnist_cnn() trains (two threads, as the committed
    notebooks were run): if the recipe, the data or PyTorch's arithmetic changes, this fails
    and tools/train_weights.py must ship new weights."""
    shipped, retrained = models.mnist_cnn(), models.train_mnist_cnn()
    for (name, a), b in zip(shipped.state_dict().items(), retrained.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs from the recipe's: run tools/train_weights.py"
    x, y = data.mnist()
    _, (xte, yte) = data.split(x, y, train=0.7, seed=0)
    assert models.accuracy(shipped, xte, yte) >= 0.95
    assert not shipped.training


def test_loading_the_digit_network_leaves_the_random_state_as_training_would():
    torch.manual_seed(0)
    models.mnist_cnn()
    after_loading = torch.rand(5)
    torch.manual_seed(0)
    models.MnistCNN()                     # what a notebook did before training it
    assert torch.equal(after_loading, torch.rand(5))


def test_a_changed_weights_file_is_refused(monkeypatch):
    monkeypatch.setattr(models, "MNIST_CNN_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="sha256 differs"):
        models.mnist_cnn()


def test_weights_round_trip_without_pickle(tmp_path):
    import numpy as np
    model = models.MnistCNN(width=8).eval()
    models.save_weights(model, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:
        assert set(f.files) == set(model.state_dict())
        assert all(np.array_equal(f[k], v.numpy()) for k, v in model.state_dict().items())


def test_mnist_cnn_pools_twice_then_one_linear_layer_on_the_flat_map():
    model = models.MnistCNN(4, width=8).eval()
    x = torch.rand(3, 1, 28, 28)
    feats = model.features(x)
    assert feats.shape == (3, 8, 14, 14)                          # Grad-CAM's layer: features[-1]
    torch.testing.assert_close(model(x), model.fc(torch.nn.functional.max_pool2d(feats, 2).flatten(1)))


def test_fit_classifier_checks_lengths():
    with pytest.raises(ValueError, match="samples"):
        models.fit_classifier(models.SmallCNN(), torch.zeros(3, 1, 8, 8), torch.zeros(2).long())


# --- the saturating toy and a ResNet-18 loaded as people load one (notebook 02) ---

from xaitutor import saliency  # noqa: E402


def test_saturating_model_has_zero_gradient_past_its_cap_and_ig_still_credits_both():
    model = models.Saturating([1.0, 1.0], cap=1.0)
    x = torch.tensor([[1.0, 1.0]])
    assert model(x).item() == 1.0 and model(torch.zeros(1, 2)).item() == 0.0
    assert torch.equal(saliency.gradient(model, x, 0), torch.zeros(1, 2))
    ig = saliency.integrated_gradients(model, x, 0, n_steps=64, method="riemann_middle")
    assert torch.allclose(ig, torch.tensor([[0.5, 0.5]]), atol=1e-6)   # completeness: sums to 1
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        model(torch.zeros(3))


def test_resnet18_is_random_eval_and_frozen_without_a_cached_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    model, pretrained = models.resnet18(seed=0)
    assert not pretrained and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    again, _ = models.resnet18(seed=0)
    assert torch.equal(model.fc.weight, again.fc.weight)                # seeded


def test_resnet18_leaves_the_callers_random_state_alone(tmp_path, monkeypatch):
    """It used to call torch.manual_seed(seed): every random draw after it in a notebook
    was the same whatever seed the learner had set."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    models.resnet18(seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_resnet18_loads_the_cached_file_when_it_is_there(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    reference, _ = models.resnet18(seed=7)
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / models.RESNET18_FILE)
    model, pretrained = models.resnet18(seed=0)
    assert pretrained and torch.equal(model.fc.weight, reference.fc.weight)


def test_photo_is_a_bundled_rgb_square_and_normalisation_moves_black_off_zero():
    x = data.images.photo("chelsea", size=32)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    black = data.images.imagenet_normalize(torch.zeros(1, 3, 2, 2))
    assert torch.allclose(black[0, :, 0, 0], -torch.tensor(data.images.IMAGENET_MEAN)
                          / torch.tensor(data.images.IMAGENET_STD))
    with pytest.raises(ValueError, match="name"):
        data.images.photo("nope")
    with pytest.raises(ValueError, match="RGB"):
        data.images.imagenet_normalize(torch.zeros(1, 1, 2, 2))
