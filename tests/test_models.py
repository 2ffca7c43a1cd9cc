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


def test_fit_classifier_checks_lengths():
    with pytest.raises(ValueError, match="samples"):
        models.fit_classifier(models.SmallCNN(), torch.zeros(3, 1, 8, 8), torch.zeros(2).long())
