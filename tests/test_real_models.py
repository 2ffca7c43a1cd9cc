"""Real models (issue 15, part 2): frozen parameters, in-place ops, layers with nothing to
learn upstream — how people actually meet a network.

A pretrained model is loaded in eval mode with every parameter frozen
(``requires_grad=False``); torchvision and VGG-style models apply ``nn.ReLU(inplace=True)``
(and ResNet's ``out += identity``) to a layer's output. Every method that takes a model
must work on such a model, give what it gives the same model unfrozen, and leave the
model exactly as it found it: ``requires_grad`` and ``training`` flags, ``.grad`` and
weights. Grad-CAM is compared with Captum's ``LayerGradCam`` on frozen and in-place models.
"""
import copy
import inspect
import warnings

import pytest
import torch
import torchvision
from captum.attr import IntegratedGradients, LayerGradCam
from captum.testing.helpers.basic_models import BasicModel_ConvNet_One_Conv
from frozen_models import freeze, state
from torch import nn

from xaitutor import concepts, data, latent, metrics, models
from xaitutor import counterfactuals as CF
from xaitutor import saliency as S
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search

warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


# --- the models, and what "left as found" means ------------------------------------------

def assert_as_found(model, before, grads=True):
    after = state(model)
    assert after["requires_grad"] == before["requires_grad"]
    assert after["training"] == before["training"]
    for k, v in before["weights"].items():
        assert torch.equal(after["weights"][k], v), f"{k} changed"
    if grads:
        for k, g in before["grad"].items():
            h = after["grad"][k]
            assert (g is None and h is None) or torch.equal(g, h), f"{k}.grad changed"


def on_both(fn, *models, grads=True):
    """``fn(*models)`` on the models as given (trainable) and on frozen copies; checks
    that both calls leave their models as found and returns both results."""
    results = []
    for ms in (models, tuple(freeze(m) for m in models)):
        before = [state(m) for m in ms]
        results.append(fn(*ms))
        for m, b in zip(ms, before):
            assert_as_found(m, b, grads)
    return results


def assert_same(a, b):
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same(u, v)
    elif hasattr(a, "__dataclass_fields__"):
        for k in a.__dataclass_fields__:
            assert_same(getattr(a, k), getattr(b, k))
    else:
        assert a == b or (a != a and b != b)                       # NaN == NaN here


def resnet18(seed=0):
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None, num_classes=10).double().eval()


def digit_cnn(seed=0):
    torch.manual_seed(seed)
    return models.SmallCNN(1, 10).double().eval()


NETS = {
    # name: (model, x, target, layer name, linear layer after global average pooling)
    "digits": lambda: (digit_cnn(), data.digits()[0][:2].double(), torch.tensor([3, 7]),
                       "features.6", "fc"),
    "resnet18": lambda: (resnet18(), torch.rand(2, 3, 64, 64, dtype=torch.float64,
                                                generator=torch.Generator().manual_seed(0)),
                         torch.tensor([1, 4]), "layer4", "fc"),
}


@pytest.fixture(scope="module", params=list(NETS))
def net(request):
    return NETS[request.param]()


def layer(m, name):
    return m.get_submodule(name)


SALIENCY = {
    "gradient": lambda m, x, t, L, fc: S.gradient(m, x, t),
    "input_x_gradient": lambda m, x, t, L, fc: S.input_x_gradient(m, x, t),
    "smoothgrad": lambda m, x, t, L, fc: S.smoothgrad(m, x, t, n_samples=3, seed=1),
    "integrated_gradients": lambda m, x, t, L, fc: S.integrated_gradients(
        m, x, t, n_steps=5, return_gap=True),
    "grad_cam": lambda m, x, t, L, fc: S.grad_cam(m, x, t, layer(m, L)),
    "cam": lambda m, x, t, L, fc: S.cam(m, x, t, layer(m, L), layer(m, fc)),
    "occlusion": lambda m, x, t, L, fc: S.occlusion(m, x, t, window=x.shape[-1] // 4,
                                                    stride=x.shape[-1] // 4),
    "meaningful_perturbation": lambda m, x, t, L, fc: S.meaningful_perturbation(m, x, t, steps=3),
    "class_model_visualization": lambda m, x, t, L, fc: S.class_model_visualization(
        m, t, tuple(x.shape[1:]), steps=3),
    # explain's occlusion slides with stride 1: a window 2 pixels short of the image
    **{f"explain: {name}": (lambda name: lambda m, x, t, L, fc: S.explain(
        name, m, x, t, layer=layer(m, L), n_samples=3, n_steps=5,
        window=x.shape[-1] - 2))(name) for name in S.METHODS},
}


if hasattr(S, "feature_ablation"):                # added beside this work (notebook 07)
    SALIENCY["feature_ablation"] = lambda m, x, t, L, fc: S.feature_ablation(
        m, x, t, (torch.arange(x[0, 0].numel()) * 4 // x[0, 0].numel()).view(1, 1, *x.shape[2:]))


def test_every_public_saliency_method_that_takes_a_model_is_exercised():
    taking_a_model = {n for n in S.__all__ if callable(getattr(S, n))
                      and "model" in inspect.signature(getattr(S, n)).parameters}
    assert "grad_cam" in taking_a_model and "blur" not in taking_a_model
    assert taking_a_model - {"explain"} <= set(SALIENCY)
    assert {f"explain: {m}" for m in S.METHODS} <= set(SALIENCY)


# --- every method on a frozen model ---------------------------------------------------------

@pytest.mark.parametrize("method", list(SALIENCY))
def test_saliency_method_works_on_a_frozen_model_and_leaves_it_as_found(net, method):
    model, x, t, L, fc = net
    trainable, frozen = on_both(lambda m: SALIENCY[method](m, x, t, L, fc), model)
    assert_same(trainable, frozen)


def test_metrics_work_on_a_frozen_model_and_leave_it_as_found(net):
    model, x, t, L, fc = net
    # one Grad-CAM per layer with parameters (62 in a ResNet-18): one image, and for the
    # ResNet a 32×32 crop and layer3 (2×2 maps), keep it quick
    small = x[:1, :, :32, :32]
    inner = "layer3" if L == "layer4" else L
    cam = lambda m, x, t: S.grad_cam(m, x, t, layer(m, inner))
    attribution = S.gradient(model, x, t)
    for fn in (lambda m: metrics.cascading_randomization(m, small, t[:1], cam, seed=3),
               lambda m: metrics.deletion_curve(m, x, t, attribution, n_steps=4),
               lambda m: metrics.deletion_curve(m, x, t, attribution, n_steps=4,
                                                mode="insertion", score="logit")):
        trainable, frozen = on_both(fn, model)
        assert_same(trainable, frozen)


# --- Grad-CAM against Captum on frozen and in-place models ---------------------------------

RESNET_LAYERS = ["layer4", "layer3[1]", "layer1[0].conv1",
                 "layer1[0].bn2",          # then `out += identity` and ReLU(inplace=True)
                 "bn1",                    # then ReLU(inplace=True)
                 "conv1"]                  # the first layer: nothing upstream to learn


def get(model, path):
    return eval("model." + path, {"model": model})


@pytest.fixture(scope="module")
def resnets():
    model = resnet18()
    return {"all": freeze(model), "all but fc": freeze(model, keep=["fc"]), "none": model}


@pytest.mark.parametrize("freezing", ["all", "all but fc", "none"])
@pytest.mark.parametrize("path", RESNET_LAYERS)
def test_grad_cam_of_a_resnet18_equals_captum(resnets, path, freezing):
    model = resnets[freezing]
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([2, 9])
    before = state(model)
    ours = S.grad_cam(model, x, t, get(model, path), upsample=False)
    assert_as_found(model, before)
    ref = LayerGradCam(model, get(model, path)).attribute(x, target=t, relu_attributions=True)
    assert ref.abs().max() > 0                                   # a map, not all zeros
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12 * ref.abs().max().item())


def test_grad_cam_of_a_layer_before_an_inplace_relu_equals_captum_on_captums_model():
    """Captum's own test model and input: conv1 → ReLU(inplace=True). Captum's test
    expects [[11.25, 13.5], [20.25, 22.5]]; the in-place ReLU must not change it."""
    x = 1.0 * torch.arange(16).view(1, 1, 4, 4)
    expected = torch.tensor([[[[11.25, 13.5], [20.25, 22.5]]]])
    for inplace in (False, True):
        for model in (BasicModel_ConvNet_One_Conv(inplace=inplace).eval(),
                      freeze(BasicModel_ConvNet_One_Conv(inplace=inplace).eval())):
            ours = S.grad_cam(model, x, 0, model.conv1, upsample=False)
            ref = LayerGradCam(model, model.conv1).attribute(x, target=0, relu_attributions=True)
            torch.testing.assert_close(ref, expected)
            torch.testing.assert_close(ours, expected)


class VGGLike(nn.Module):
    """conv → ReLU(inplace) → conv → ReLU(inplace) → max-pool → conv → ReLU(inplace) →
    average pool → linear, as torchvision's VGG writes it."""

    def __init__(self, inplace=True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=inplace),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=inplace), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=inplace))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 5))

    def forward(self, x):
        return self.classifier(self.features(x))


@pytest.mark.parametrize("index", [0, 2, 5])
@pytest.mark.parametrize("frozen", [False, True])
def test_grad_cam_of_a_conv_before_an_inplace_relu_equals_captum_and_the_out_of_place_model(index, frozen):
    torch.manual_seed(index)
    model = VGGLike(inplace=True).double().eval()
    twin = VGGLike(inplace=False).double().eval()
    twin.load_state_dict(model.state_dict())
    if frozen:
        model, twin = freeze(model), freeze(twin)
    x = torch.rand(3, 3, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 3, 4])
    ours = S.grad_cam(model, x, t, model.features[index], upsample=False)
    ref = LayerGradCam(model, model.features[index]).attribute(x, target=t, relu_attributions=True)
    out_of_place = S.grad_cam(twin, x, t, twin.features[index], upsample=False)
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12 * ref.abs().max().item())
    torch.testing.assert_close(ours, out_of_place, rtol=1e-12, atol=0.0)
    # the pre-activation map has negative evidence the ReLU'd one lacks: they differ
    relu_map = S.grad_cam(twin, x, t, twin.features[index + 1], upsample=False)
    assert (ours - relu_map).abs().max() > 1e-3 * ours.abs().max()


def test_cam_of_a_conv_before_an_inplace_relu_is_the_closed_form_of_the_conv_output():
    """CAM M_c = Σ_k w_ck A^k with A the conv's own output (not the ReLU's, which the
    in-place op writes over it)."""
    torch.manual_seed(0)
    conv, fc = nn.Conv2d(3, 6, 3, padding=1).double(), nn.Linear(6, 4).double()
    model = nn.Sequential(conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc).eval()
    x = torch.rand(2, 3, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([1, 2])
    with torch.no_grad():
        ref = torch.einsum("nk,nkhw->nhw", fc.weight[t], conv(x))[:, None]
    assert (ref < 0).any()                                       # the ReLU would change it
    for m in (model, freeze(model)):
        torch.testing.assert_close(S.cam(m, x, t, m[0], m[4], upsample=False), ref)


class InputFirst(nn.Module):
    """The target layer is the first thing applied to the input: nothing upstream of it
    has parameters."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Identity()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(self.inp(x))).mean(dim=(2, 3)))


def test_grad_cam_of_a_layer_with_no_parameters_upstream_equals_captum():
    torch.manual_seed(0)
    x = torch.rand(2, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([0, 2])
    for model in (InputFirst().double().eval(), freeze(InputFirst().double().eval())):
        for lay in (model.inp, model.conv):
            ours = S.grad_cam(model, x, t, lay, upsample=False)
            ref = LayerGradCam(model, lay).attribute(x, target=t, relu_attributions=True)
            assert ref.abs().max() > 0
            torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12 * ref.abs().max().item())
    x_in = torch.rand(2, 2, 6, 6, dtype=torch.float64)
    copy_of_x = x_in.clone()
    S.grad_cam(model, x_in, t, model.inp)
    # the caller's x is left alone (Captum's hook sets requires_grad on it in this case)
    assert not x_in.requires_grad and torch.equal(x_in, copy_of_x)


@pytest.mark.parametrize("method", list(SALIENCY))
def test_saliency_method_gives_the_same_map_inside_no_grad(method):
    """Inference code often runs under ``torch.no_grad()``; the maps must not change."""
    model, x, t, L, fc = NETS["digits"]()
    outside = SALIENCY[method](model, x, t, L, fc)
    with torch.no_grad():
        inside = SALIENCY[method](model, x, t, L, fc)
    assert_same(outside, inside)


def test_grad_cam_refuses_a_layer_that_runs_twice_or_never():
    model = freeze(resnet18())
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    with pytest.raises(ValueError, match="runs 2 times in one forward pass.*model.layer1\\[0\\]"):
        S.grad_cam(model, x, 0, model.layer1[0].relu)       # BasicBlock applies its ReLU twice
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.spare, self.fc = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)))

    small = WithSpare().double().eval()
    for fn in (lambda: S.grad_cam(small, x, 0, small.spare),
               lambda: S.cam(small, x, 0, small.spare, small.fc)):
        with pytest.raises(ValueError, match="did not run"):
            fn()


class Spy(nn.Module):
    """A 1×1 convolution, global average pooling and a linear layer that records how
    many images each call gets."""

    def __init__(self, c):
        super().__init__()
        self.conv, self.fc, self.sizes = nn.Conv2d(c, 4, 1), nn.Linear(4, 3), []

    def forward(self, x):
        self.sizes.append(len(x))
        return self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def test_occlusion_sends_large_images_through_the_model_a_few_at_a_time():
    """By default a pass holds about 2¹⁸ input values: one copy of a 3×224×224 image
    (1,024 copies of a ResNet input at once take GBs; 2²² values of 20×20 shapes took
    notebook 02 over 2 GB), every copy of a few 8×8 digits at once. The map is the same
    whatever the batch."""
    torch.manual_seed(0)
    spy = Spy(3).double().eval()
    x = torch.rand(2, 3, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    auto = S.occlusion(spy, x, 1, window=56, stride=28)           # 49 windows × 2 images
    assert spy.sizes == [2] + [1] * 98                            # the full x, then the copies
    torch.testing.assert_close(auto, S.occlusion(spy, x, 1, window=56, stride=28, batch_size=1000),
                               rtol=1e-12, atol=1e-15)
    digits = Spy(1).double().eval()
    S.occlusion(digits, data.digits()[0][:4].double(), 1, window=2, stride=1)
    assert digits.sizes == [4, 4 * 49]


# --- Integrated Gradients: Captum's trapezoid rule is short by 1/n ---------------------------

@pytest.mark.parametrize("n_steps", [2, 3, 7, 50])
def test_trapezoid_weights_sum_to_one_minus_one_over_n_steps(n_steps):
    alphas, weights = S.ig_alphas_and_weights(n_steps, "riemann_trapezoid")
    torch.testing.assert_close(weights.sum(), torch.tensor(1 - 1 / n_steps, dtype=torch.float64),
                               rtol=1e-15, atol=0.0)
    torch.testing.assert_close(alphas, torch.linspace(0, 1, n_steps, dtype=torch.float64))
    for method in ("riemann_left", "riemann_right", "riemann_middle", "gausslegendre"):
        total = S.ig_alphas_and_weights(n_steps, method)[1].sum()
        torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64), rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("n_steps", [2, 5, 32])
def test_trapezoid_completeness_gap_is_the_score_gain_over_n_steps_as_in_captum(n_steps):
    """On a linear model every rule integrates the constant gradient exactly, so the
    trapezoid's gap is its weights' shortfall alone: −(S(x) − S(x'))/n."""
    torch.manual_seed(n_steps)
    model = nn.Linear(6, 3).double().eval()
    x, base = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    with torch.no_grad():
        gain = model(x)[:, 2] - model(base)[:, 2]
    attr, gap = S.integrated_gradients(model, x, 2, base, n_steps=n_steps,
                                       method="riemann_trapezoid", return_gap=True)
    torch.testing.assert_close(gap, -gain / n_steps, rtol=1e-12, atol=1e-14)
    ref, delta = IntegratedGradients(model).attribute(
        x, base, target=2, n_steps=n_steps, method="riemann_trapezoid",
        return_convergence_delta=True)
    # Captum holds its step sizes in float32 (torch.tensor of Python floats): 1e-6, as in
    # tests/test_saliency.py
    torch.testing.assert_close(attr, ref, rtol=1e-6, atol=1e-6 * ref.abs().max().item())
    torch.testing.assert_close(gap, delta, rtol=1e-6, atol=1e-6 * gain.abs().max().item())
    _, exact = S.integrated_gradients(model, x, 2, base, n_steps=n_steps,
                                      method="riemann_middle", return_gap=True)
    assert exact.abs().max() < 1e-12 * gain.abs().max()          # the other rules: no gap


def test_trapezoid_is_the_true_trapezoid_rule_times_one_minus_one_over_n_on_a_nonlinear_model():
    """Against the trapezoid rule written out (step 1/(n − 1), halved ends): Captum's
    rule is that times (1 − 1/n). The true rule's own error is O(1/n²), so on a smooth
    network the gap stays near −(S(x) − S(x'))/n while the midpoint rule's vanishes."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double().eval()
    x = torch.randn(6, 5, dtype=torch.float64)
    base = torch.zeros_like(x)
    with torch.no_grad():
        gain = model(x)[:, 1] - model(base)[:, 1]
    n = 50
    alphas = torch.linspace(0, 1, n, dtype=torch.float64)
    g = S.gradient(model, (base + alphas.view(-1, 1, 1) * (x - base)).flatten(0, 1), 1).view(n, *x.shape)
    true_trapezoid = (x - base) * (g.sum(0) - (g[0] + g[-1]) / 2) / (n - 1)
    attr, trap = S.integrated_gradients(model, x, 1, n_steps=n, method="riemann_trapezoid", return_gap=True)
    torch.testing.assert_close(attr, (1 - 1 / n) * true_trapezoid, rtol=1e-12, atol=1e-15)
    own_error = true_trapezoid.sum(1) - gain
    assert (own_error.abs() < 0.02 * gain.abs() / n).all()       # far below the shortfall
    assert ((trap + gain / n).abs() < 0.02 * gain.abs() / n).all()
    _, mid = S.integrated_gradients(model, x, 1, n_steps=n, method="riemann_middle", return_gap=True)
    assert (mid.abs() < 0.02 * gain.abs() / n).all()


# --- the other topic modules on frozen models ----------------------------------------------

@pytest.fixture(scope="module")
def credit():
    x, y, _, enc = data.german_credit()
    x = x.double()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2)).double().eval()
    with torch.no_grad():
        rejected = x[model(x).argmax(1) == 0][:6]
    assert len(rejected) == 6
    return model, rejected, x


def test_counterfactual_search_works_on_a_frozen_model_and_leaves_it_as_found(credit):
    model, rows, X = credit
    cases = [
        lambda m: CF.optimize(m, rows, 1, search=Search(steps=40)),
        lambda m: CF.optimize(m, rows, 1, mu=0.05, k=2, diversity=0.1, search=Search(steps=40)),
        lambda m: CF.sparsity_path(m, rows, 1, [0.0, 0.05], search=Search(steps=30)),
        lambda m: CF.predict(m, rows),
        lambda m: CF.check_request(m, rows, 1),
    ]
    for fn in cases:
        trainable, frozen = on_both(fn, model)
        assert_same(trainable, frozen)
    x_cf = CF.optimize(model, rows, 1, search=Search(steps=40)).x_cf
    for fn in (lambda m: CF.metrics(m, rows, x_cf, 1, X[:200]),
               lambda m: CF.plausibility_ynn(m, x_cf, 1, X[:200]),
               lambda m: CF.closer_to_target(m, rows, x_cf, 1, X[:200], CF.predict(model, X[:200])),
               lambda m: CF.judge_validity(m, x_cf, 1)):
        trainable, frozen = on_both(fn, model)
        assert_same(trainable, frozen)


def test_exact_counterfactuals_work_on_a_frozen_linear_model(credit):
    _, rows, X = credit
    torch.manual_seed(1)
    linear = nn.Linear(X.shape[1], 2).double().eval()
    with torch.no_grad():
        rows = X[linear(X).argmax(1) == 0][:3]
    for fn in (lambda m: CF.lp_counterfactual(m, rows, 1),
               lambda m: CF.min_features_counterfactual(
                   m, rows, 1, constraints=Constraints(bounds=(X.min(0).values, X.max(0).values)))):
        trainable, frozen = on_both(fn, linear)
        assert_same(trainable, frozen)


@pytest.mark.parametrize("kind", ["cbm", "cem"])
def test_concept_model_functions_work_on_a_frozen_model_and_leave_it_as_found(kind):
    x, c, y = data.load("xor", 200, 0)
    model = concepts.fit(x, c, y, kind, seed=0, epochs=5, progress=False)
    for fn in (lambda m: concepts.intervene(m, x, c, [0]),
               lambda m: concepts.accuracy(m, x, c, y),
               lambda m: concepts.intervention_curve(m, x, c, y),
               lambda m: m(x)):
        trainable, frozen = on_both(fn, model)
        assert_same(trainable, frozen)


@pytest.fixture(scope="module")
def digits_vae():
    x, y = data.digits()
    X = x[:300].flatten(1).double()
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).double().eval()
    vae = latent.train_vae(X.float(), latent_dim=2, epochs=3, progress=False).double()
    with torch.no_grad():
        rows = X[clf(X).argmax(1) != 8][:4]
    return clf, vae, rows


@pytest.mark.parametrize("method", latent.METHODS)
def test_latent_search_works_on_a_frozen_classifier_and_vae_and_leaves_them_as_found(digits_vae, method):
    clf, vae, rows = digits_vae
    fn = lambda m, v: latent.counterfactual(m, v, rows, 8, method=method,
                                            n_candidates=20, max_radius=1.0, search=Search(steps=20))
    # grads=False: compared below, in test_revise_leaves_the_grad_of_trainable_models_untouched
    trainable, frozen = on_both(fn, clf, vae, grads=False)
    assert_same(trainable, frozen)
    for fn in (lambda m, v: v.reconstruct(rows), lambda m, v: v.encode(rows),
               lambda m, v: v.negative_elbo(rows, sample=False)):
        trainable, frozen = on_both(fn, clf, vae)
        assert_same(trainable, frozen)


def test_revise_leaves_the_grad_of_trainable_models_untouched(digits_vae):
    clf, vae, rows = digits_vae
    clf, vae = copy.deepcopy(clf), copy.deepcopy(vae)
    before = state(clf), state(vae)
    latent.counterfactual(clf, vae, rows, 8, search=Search(steps=5))
    assert_as_found(clf, before[0])
    assert_as_found(vae, before[1])
