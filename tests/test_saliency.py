"""Every saliency method against Captum (float64) or a closed form."""
import pytest
import torch
from captum.attr import (InputXGradient, IntegratedGradients, LayerGradCam, Occlusion,
                         Saliency)
from torch import nn

from xaitutor import saliency as S


class SmallCNN(nn.Module):
    """conv → ReLU → conv → ReLU → global average pool → linear (a CAM network)."""

    def __init__(self, c=3, k=6, classes=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, k, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(k, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def cnn(seed, **kw):
    torch.manual_seed(seed)
    return SmallCNN(**kw).double().eval()


def mlp(seed, d=5, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, classes)).double().eval()


def images(seed, n=4, c=3, h=9, w=7):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def close(ours, ref, rel=1e-6):
    scale = ref.abs().max().clamp_min(1e-12)
    assert ours.shape == ref.shape
    assert ((ours - ref).abs().max() / scale).item() <= rel


SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_and_input_x_gradient_equal_captum(seed):
    for model, x in ((cnn(seed), images(seed)), (mlp(seed), torch.randn(6, 5, dtype=torch.float64))):
        t = torch.arange(len(x)) % 3
        close(S.gradient(model, x, t), Saliency(model).attribute(x, target=t, abs=False))
        close(S.input_x_gradient(model, x, t), InputXGradient(model).attribute(x, target=t))


@pytest.mark.parametrize("method", S.IG_METHODS)
@pytest.mark.parametrize("seed", SEEDS)
def test_integrated_gradients_equals_captum(method, seed):
    model, x = cnn(seed), images(seed)
    baseline = torch.rand_like(x) * 0.1
    for n_steps in (7, 32):
        ours = S.integrated_gradients(model, x, 2, baseline, n_steps=n_steps, method=method)
        ref = IntegratedGradients(model).attribute(x, baseline, target=2, n_steps=n_steps, method=method)
        close(ours, ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_integrated_gradients_is_complete(seed):
    """Completeness (Sundararajan et al., Prop. 1): Σ attributions = S(x) − S(x')."""
    model, x = mlp(seed), torch.randn(8, 5, dtype=torch.float64)
    attr, gap = S.integrated_gradients(model, x, 1, n_steps=64, return_gap=True)
    with torch.no_grad():
        delta = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    torch.testing.assert_close(gap, attr.sum(1) - delta)
    assert gap.abs().max() < 1e-8 * delta.abs().max()        # Gauss–Legendre is exact here
    _, coarse = S.integrated_gradients(model, x, 1, n_steps=4, method="riemann_left", return_gap=True)
    assert coarse.abs().max() > gap.abs().max()


def test_ig_of_a_linear_model_is_weight_times_input():
    model = nn.Linear(4, 2).double().eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(S.integrated_gradients(model, x, 0, n_steps=3),
                               x * model.weight[0].detach())


@pytest.mark.parametrize("seed", SEEDS)
def test_grad_cam_equals_captum_and_cam_is_grad_cam_for_gap_networks(seed):
    model, x = cnn(seed), images(seed)
    t = torch.tensor([0, 1, 2, 3])
    layer = model.features[3]
    ours = S.grad_cam(model, x, t, layer, upsample=False)
    ref = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
    close(ours, ref)
    # For conv → GAP → fc, Grad-CAM's weights are w_ck / (h·w): ReLU(CAM) / (h·w)
    c = S.cam(model, x, t, layer, model.fc, upsample=False)
    torch.testing.assert_close(ours, torch.relu(c) / (x.shape[2] * x.shape[3]))
    assert S.grad_cam(model, x, t, layer).shape == (4, 1, 9, 7)


@pytest.mark.parametrize("window, stride", [(3, 1), (3, 2), (4, 3), (2, 2)])
@pytest.mark.parametrize("seed", SEEDS)
def test_occlusion_equals_captum(window, stride, seed):
    model, x = cnn(seed), images(seed)
    for baseline in (0.0, 0.5):
        ours = S.occlusion(model, x, 1, window, stride, baseline=baseline, batch_size=37)
        ref = Occlusion(model).attribute(x, sliding_window_shapes=(3, window, window),
                                         strides=(3, stride, stride), baselines=baseline, target=1)
        close(ours, ref)


def test_smoothgrad_is_seeded_and_exact_for_a_linear_model():
    model, x = cnn(0), images(0)
    a = S.smoothgrad(model, x, 1, n_samples=8, seed=3)
    assert torch.equal(a, S.smoothgrad(model, x, 1, n_samples=8, seed=3))
    assert not torch.equal(a, S.smoothgrad(model, x, 1, n_samples=8, seed=4))
    lin = nn.Linear(5, 2).double().eval()
    z = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(S.smoothgrad(lin, z, 1, n_samples=5), lin.weight[1].detach().expand(3, 5))
    torch.testing.assert_close(S.smoothgrad(lin, z, 1, n_samples=5, squared=True),
                               (lin.weight[1].detach() ** 2).expand(3, 5))


def test_smoothgrad_matches_a_loop_over_noisy_copies():
    model, x = cnn(1), images(1, n=2)
    ours = S.smoothgrad(model, x, 0, n_samples=6, sigma=0.2, seed=5, batch_size=5)
    gen = torch.Generator().manual_seed(5)
    noise = torch.randn((6, *x.shape), generator=gen, dtype=x.dtype)
    spread = (x.flatten(1).max(1).values - x.flatten(1).min(1).values).view(-1, 1, 1, 1)
    ref = torch.stack([Saliency(model).attribute(x + 0.2 * spread * noise[s], target=0, abs=False)
                       for s in range(6)]).mean(0)
    close(ours, ref)


def test_class_model_visualization_of_a_linear_model_is_its_closed_form():
    """max_I w·I + b − λ‖I‖² has the solution I* = w / (2λ)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double().eval()
    imgs = S.class_model_visualization(model, torch.tensor([0, 2]), (1, 4, 4), steps=3000,
                                       lr=0.05, l2=0.5)
    w = model[1].weight.detach()
    torch.testing.assert_close(imgs.flatten(1), w[[0, 2]] / (2 * 0.5), atol=1e-4, rtol=0)


def test_class_model_visualization_around_a_mean_image_is_its_closed_form():
    """max_I w·I + b − λ‖I − m‖² has the solution I* = m + w / (2λ)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double().eval()
    m = torch.rand(1, 4, 4, dtype=torch.float64)
    imgs = S.class_model_visualization(model, torch.tensor([1]), (1, 4, 4), steps=3000,
                                       lr=0.02, l2=0.5, mean=m)
    w = model[1].weight.detach()
    torch.testing.assert_close(imgs.flatten(1), m.flatten()[None] + w[[1]] / (2 * 0.5),
                               atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="mean must be"):
        S.class_model_visualization(model, 1, (1, 4, 4), mean=torch.zeros(4))


def test_class_model_visualization_image_is_best_for_its_own_class():
    model = cnn(0, c=1)
    imgs = S.class_model_visualization(model, torch.tensor([0, 1]), (1, 8, 8), steps=100)
    assert imgs.shape == (2, 1, 8, 8)
    with torch.no_grad():
        scores = model(imgs)
    assert scores[0, 0] > scores[1, 0] and scores[1, 1] > scores[0, 1]


def test_meaningful_perturbation_finds_the_only_informative_pixels():
    """A model that looks only at the top-left 4×4 block: the deletion map must sit there."""
    class TopLeft(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

        def forward(self, x):
            s = self.scale * (x[:, :, :4, :4].mean(dim=(1, 2, 3)) - 0.25)
            return torch.stack([s, -s], 1)

    x = torch.zeros(2, 1, 12, 12, dtype=torch.float64)
    x[:, :, :4, :4] = 1.0
    deletion = S.meaningful_perturbation(TopLeft().eval(), x, 0, steps=150, mask_size=6, blur_sigma=4.0)
    inside, outside = deletion[:, :, :4, :4].mean(), deletion[:, :, 6:, 6:].mean()
    assert inside > 0.5 > 0.1 > outside


# --- bad input -------------------------------------------------------------------------

def test_errors_name_the_fix():
    model, x = cnn(0), images(0)
    with pytest.raises(ValueError, match=r"target=7 but the model has 4 classes \(0..3\)"):
        S.gradient(model, x, 7)
    with pytest.raises(ValueError, match="the model rejected x of shape"):
        S.gradient(model, images(0, c=2), 0)
    with pytest.raises(ValueError, match="layer is not a module of model"):
        S.grad_cam(model, x, 0, nn.Conv2d(3, 3, 1).double())
    with pytest.raises(ValueError, match="baseline has shape"):
        S.integrated_gradients(model, x, 0, baseline=torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown method"):
        S.integrated_gradients(model, x, 0, method="simpson")
    with pytest.raises(ValueError, match="training mode"):
        S.gradient(model.train(), x, 0)
    model.eval()
    with pytest.raises(ValueError, match="unsqueeze"):
        S.gradient(model, x[0, 0, 0], 0)
    with pytest.raises(ValueError, match="float tensor"):
        S.gradient(model, x.long(), 0)
    with pytest.raises(ValueError, match="window"):
        S.occlusion(model, x, 0, window=20, stride=1)
    with pytest.raises(ValueError, match="feature map"):
        S.grad_cam(model, x, 0, model.fc)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        S.gradient(model, x, torch.tensor([0, 1]))
