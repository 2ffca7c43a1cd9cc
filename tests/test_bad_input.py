"""Issue 8, part 4: the bad inputs a learner really tries, fed to every public function.

Each case calls one function with one thing wrong and asserts a ``ValueError`` or
``TypeError`` whose message names the argument at fault *and* says what to do (the
``words`` of the case, all of which must appear, case-insensitive). A "model on another
device" is a model moved to PyTorch's ``meta`` device, so the check runs without a GPU.
"""
from __future__ import annotations

import copy
import functools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import xaitutor
from xaitutor import (
    concepts,
    core,
    counterfactuals,
    data,
    influence,
    latent,
    metrics,
    models,
    recourse,
    saliency,
    shapley,
)
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search

NAN = float("nan")


@functools.cache
def w() -> SimpleNamespace:
    """Small trained models and data, built once for every case."""
    torch.manual_seed(0)
    images, labels = data.digits()
    x_img, y_img = images[:6], labels[:6]
    cnn = models.SmallCNN(1, 10, width=4).eval()
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    x_tab = torch.randn(5, 4)
    with torch.no_grad():
        pred = mlp(x_tab).argmax(1)
    xc, cc, yc = data.xor(60, seed=0)
    cbm = concepts.fit(xc, cc, yc, "cbm", "joint", epochs=2, progress=False)
    lin = nn.Linear(3, 2).double().eval()
    x_inf = torch.randn(12, 3, dtype=torch.float64)
    y_inf = (x_inf[:, 0] > 0).long()
    vae = latent.train_vae(torch.rand(20, 4), latent_dim=2, hidden=8, epochs=1, progress=False)
    return SimpleNamespace(x_img=x_img, y_img=y_img, cnn=cnn, layer=cnn.features[-1],
                           mlp=mlp, x_tab=x_tab, other=1 - pred, pred=pred,
                           xc=xc, cc=cc, yc=yc, cbm=cbm, lin=lin,
                           train=(x_inf[:8], y_inf[:8]), test=(x_inf[8:], y_inf[8:]),
                           vae=vae, ce=nn.CrossEntropyLoss())


@functools.cache
def linear4() -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(4, 2).eval()


def linear_other() -> torch.Tensor:
    with torch.no_grad():
        return 1 - linear4()(w().x_tab).argmax(1)


def training(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).train()


def elsewhere(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to("meta")


def moved_after(cached):
    """An influence.Influence whose model was trained further after it was built."""
    with torch.no_grad():
        next(cached.model.parameters()).add_(0.1)
    return cached


def with_nan(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[0] = NAN
    return x


# ---------------------------------------------------------------------------------------------
# (call, exception, words the message must hold)
SALIENCY = {
    "gradient": lambda m, x, t: saliency.gradient(m, x, t),
    "input_x_gradient": lambda m, x, t: saliency.input_x_gradient(m, x, t),
    "smoothgrad": lambda m, x, t: saliency.smoothgrad(m, x, t, n_samples=2),
    "integrated_gradients": lambda m, x, t: saliency.integrated_gradients(m, x, t, n_steps=4),
    "grad_cam": lambda m, x, t: saliency.grad_cam(m, x, t, w().layer),
    "occlusion": lambda m, x, t: saliency.occlusion(m, x, t, window=2, stride=2),
    "feature_ablation": lambda m, x, t: saliency.feature_ablation(m, x, t, None),
    "meaningful_perturbation": lambda m, x, t: saliency.meaningful_perturbation(m, x, t, steps=2),
    "explain": lambda m, x, t: saliency.explain("gradient", m, x, t),
}


def saliency_cases():
    for name, f in SALIENCY.items():
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img.numpy(), 0), TypeError,
                           ("x must be a torch.tensor", "torch.as_tensor"), id=f"{name}-numpy")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img.long(), 0), ValueError,
                           ("x must be a float", "x.float()"), id=f"{name}-int-dtype")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img[0, 0], 0), ValueError,
                           ("x", "unsqueeze(0)"), id=f"{name}-no-batch-dim")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img[:0], 0), ValueError,
                           ("x is an empty batch", "at least one"), id=f"{name}-empty-batch")
        yield pytest.param(lambda f=f: f(w().cnn, with_nan(w().x_img), 0), ValueError,
                           ("x contains nan", "nan_to_num"), id=f"{name}-nan")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img, 10), ValueError,
                           ("target=10", "0..9"), id=f"{name}-target-out-of-range")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img, -1), ValueError,
                           ("target=-1", "0..9"), id=f"{name}-target-negative")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img, torch.zeros(6)), ValueError,
                           ("target", "integer", ".long()"), id=f"{name}-target-float")
        yield pytest.param(lambda f=f: f(w().cnn, w().x_img, torch.zeros(4, dtype=torch.long)),
                           ValueError, ("target", "(6,)"), id=f"{name}-target-wrong-length")
        yield pytest.param(lambda f=f: f(training(w().cnn), w().x_img, 0), ValueError,
                           ("training mode", "model.eval()"), id=f"{name}-training-mode")
        yield pytest.param(lambda f=f: f(elsewhere(w().cnn), w().x_img, 0), ValueError,
                           ("x is on cpu", "model is on meta", "x.to("), id=f"{name}-other-device")
        yield pytest.param(lambda f=f: f(lambda x: x, w().x_img, 0), TypeError,
                           ("model must be a torch.nn.module",), id=f"{name}-not-a-module")


OTHER_CASES = [
    # saliency: method-specific arguments
    (lambda: saliency.smoothgrad(w().cnn, w().x_img, 0, n_samples=0), ValueError,
     ("n_samples", "≥ 1")),
    (lambda: saliency.smoothgrad(w().cnn, w().x_img, 0, sigma=-0.1), ValueError,
     ("sigma", "≥ 0")),
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, n_steps=0), ValueError,
     ("n_steps", "≥ 1")),
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, method="simpson"), ValueError,
     ("method", "gausslegendre")),
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, baseline=torch.zeros(3, 8)),
     ValueError, ("baseline", "(6, 1, 8, 8)", "or a number")),
    (lambda: saliency.grad_cam(w().cnn, w().x_img, 0, nn.Conv2d(1, 1, 3)), ValueError,
     ("layer is not a module of model", "model.features")),
    (lambda: saliency.cam(w().cnn, w().x_img, 0, w().layer, nn.Conv2d(1, 1, 1)), ValueError,
     ("fc must be the nn.linear", "pooling")),
    (lambda: saliency.cam(w().cnn, w().x_img, 0, w().layer, nn.Linear(3, 10)), ValueError,
     ("maps but fc expects 3",)),
    (lambda: saliency.occlusion(w().cnn, w().x_img, 0, window=9, stride=1), ValueError,
     ("window", "8")),
    (lambda: saliency.occlusion(w().cnn, w().x_img, 0, window=2, stride=0), ValueError,
     ("stride", "≥ 1")),
    (lambda: saliency.ig_alphas_and_weights(1, "riemann_left"), ValueError, ("n_steps", "≥ 2")),
    (lambda: saliency.feature_ablation(w().cnn, w().x_img, 0, torch.zeros(6, 1, 4, 4,
                                                                     dtype=torch.long)),
     ValueError, ("feature_mask has shape (6, 1, 4, 4)", "broadcastable to x", "(1, 1, 8, 8)")),
    (lambda: saliency.feature_ablation(w().cnn, w().x_img, 0, torch.zeros(1, 1, 8, 8)),
     ValueError, ("feature_mask must hold integer group ids", "feature_mask.long()")),
    (lambda: saliency.feature_ablation(w().cnn, w().x_img, 0, -torch.ones(1, 1, 8, 8,
                                                                         dtype=torch.long)),
     ValueError, ("feature_mask holds group ids 0..m-1", "-1")),
    (lambda: saliency.feature_ablation(w().cnn, w().x_img, 0, np.zeros((8, 8))), TypeError,
     ("feature_mask must be a torch.tensor", "torch.as_tensor")),
    (lambda: saliency.feature_ablation(w().cnn, w().x_img, 0, None, baseline=torch.zeros(2, 8)),
     ValueError, ("baseline", "or a number")),
    (lambda: saliency.explain("lime", w().cnn, w().x_img, 0), ValueError,
     ("method", "gradient")),
    (lambda: saliency.class_model_visualization(w().cnn, 12, (1, 8, 8), steps=1), ValueError,
     ("target=12", "0..9")),
    (lambda: saliency.class_model_visualization(training(w().cnn), 1, (1, 8, 8)), ValueError,
     ("training mode", "model.eval()")),
    (lambda: saliency.class_model_visualization(w().cnn, 1, 8), ValueError,
     ("shape is one input's shape", "(1, 8, 8)")),
    (lambda: saliency.blur(w().x_img[0, 0]), ValueError, ("x must have shape (n, c, h, w)",
                                                            "x[none, none]")),
    (lambda: saliency.blur(w().x_img, sigma=0), ValueError, ("sigma", "> 0")),
    (lambda: saliency.smoothgrad(w().cnn, w().x_img, 0, batch_size=0), ValueError,
     ("batch_size", "≥ 1")),
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, batch_size=0), ValueError,
     ("batch_size", "≥ 1")),
    (lambda: saliency.occlusion(w().cnn, w().x_img, 0, 2, 2, batch_size=0), ValueError,
     ("batch_size", "≥ 1")),
    (lambda: saliency.meaningful_perturbation(w().cnn, w().x_img, 0, steps=0), ValueError,
     ("steps", "≥ 1")),
    (lambda: saliency.meaningful_perturbation(w().cnn, w().x_img, 0, mask_size=1), ValueError,
     ("mask_size", "≥ 2")),
    (lambda: saliency.class_model_visualization(w().cnn, 1, (1, 8, 8), steps=-1), ValueError,
     ("steps", "≥ 1")),
    # metrics
    (lambda: metrics.deletion_curve(w().cnn, w().x_img, w().y_img, torch.rand(6, 1, 8, 8),
                                    batch_size=0), ValueError, ("batch_size", "≥ 1")),
    (lambda: metrics.pointing_game(torch.rand(2, 1, 8, 8), torch.ones(2, 8, 8), tolerance=-1),
     ValueError, ("tolerance", "≥ 0")),
    (lambda: metrics.pearson(torch.rand(5), torch.rand(4)), ValueError, ("same length", "(5,) and (4,)")),
    (lambda: metrics.pearson(torch.rand(5, 2), torch.rand(5, 2)), ValueError, ("a must have shape (n,)",)),
    (lambda: metrics.spearman(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 4, 4)), ValueError,
     ("same shape", "(2, 1, 8, 8)")),
    (lambda: metrics.spearman(with_nan(torch.rand(2, 8, 8)), torch.rand(2, 8, 8)), ValueError,
     ("a contains nan", "nan_to_num")),
    (lambda: metrics.pixel_map(torch.rand(8, 8)), ValueError, ("attribution must have shape",
                                                               "(n, c, h, w)")),
    (lambda: metrics.auc(torch.ones(3, 1)), ValueError, ("curve needs ≥ 2 points",
                                                         "deletion_curve")),
    (lambda: metrics.randomized_labels(np.arange(5)), ValueError, ("y must be a 1-d tensor",)),
    (lambda: metrics.deletion_curve(w().cnn, w().x_img, w().y_img, torch.rand(6, 1, 4, 4)),
     ValueError, ("attribution", "does not match x")),
    (lambda: metrics.deletion_curve(w().cnn, w().x_img, w().y_img, torch.rand(6, 1, 8, 8),
                                    mode="both"), ValueError, ("mode", "'deletion'")),
    (lambda: metrics.deletion_curve(w().cnn, w().x_img, w().y_img, torch.rand(6, 1, 8, 8),
                                    n_steps=0), ValueError, ("n_steps", "1..64")),
    (lambda: metrics.deletion_curve(w().cnn, w().x_img, w().y_img,
                                    with_nan(torch.rand(6, 1, 8, 8))), ValueError,
     ("attribution contains nan", "nan_to_num")),
    (lambda: metrics.deletion_curve(training(w().cnn), w().x_img, w().y_img,
                                    torch.rand(6, 1, 8, 8)), ValueError,
     ("training mode", "model.eval()")),
    (lambda: metrics.pointing_game(torch.rand(2, 1, 8, 8), torch.ones(2, 4, 4)), ValueError,
     ("mask has shape (2, 4, 4)", "(2, 8, 8)")),
    (lambda: metrics.energy_ratio(torch.rand(2, 1, 8, 8), np.ones((2, 8, 8))), TypeError,
     ("mask must be a torch.tensor",)),
    (lambda: metrics.deletion_curve(w().cnn, w().x_img, w().y_img + 10, torch.rand(6, 1, 8, 8)),
     ValueError, ("target=", "0..9")),
    (lambda: metrics.cascading_randomization(training(w().cnn), w().x_img, w().y_img,
                                             saliency.gradient), ValueError,
     ("training mode", "model.eval()")),
    # concepts
    (lambda: concepts.fit(w().xc.numpy(), w().cc, w().yc), TypeError,
     ("x must be a torch.tensor", "torch.as_tensor")),
    (lambda: concepts.fit(with_nan(w().xc), w().cc, w().yc), ValueError,
     ("x contains nan", "impute")),
    (lambda: concepts.fit(w().xc[:0], w().cc[:0], w().yc[:0]), ValueError,
     ("x is empty", "at least one")),
    (lambda: concepts.fit(w().xc, w().cc[:10], w().yc), ValueError, ("c must have shape", "n = 60")),
    (lambda: concepts.fit(w().xc, 2 * w().cc, w().yc), ValueError, ("c must be", "{0, 1}")),
    (lambda: concepts.fit(w().xc, w().cc, w().yc.float()), ValueError, ("y must be", "int64")),
    (lambda: concepts.fit(w().xc, w().cc, w().yc - 1), ValueError, ("y", "negative")),
    (lambda: concepts.fit(w().xc, w().cc, w().yc, kind="svm"), ValueError, ("kind", "cbm")),
    (lambda: concepts.fit(w().xc, w().cc, w().yc, lam=-1.0), ValueError, ("lam", "≥ 0")),
    (lambda: concepts.fit(w().xc, w().cc, w().yc, hidden=0), ValueError, ("hidden", "≥ 1")),
    (lambda: concepts.fit(w().xc, w().cc, w().yc, epoch=3), ValueError, ("unknown options ['epoch']", "'epochs'")),
    (lambda: concepts.intervention_curve(w().cbm, w().xc, w().cc, w().yc, max_subsets=0),
     ValueError, ("max_subsets", "≥ 1")),
    (lambda: w().cbm(w().xc[:, :1]), ValueError, ("x must have shape", "(n, 2)")),
    (lambda: elsewhere(w().cbm)(w().xc), ValueError, ("x is on cpu", "model is on meta", ".to(")),
    (lambda: concepts.intervene(w().cbm, w().xc, w().cc, [5]), ValueError,
     ("concept indices [5]", "2 concepts")),
    (lambda: concepts.intervene(w().cbm, w().xc, w().cc[:, :1], [0]), ValueError,
     ("c_true", "2 columns")),
    (lambda: concepts.intervene(nn.Linear(2, 2), w().xc, w().cc, [0]), TypeError,
     ("model must come from", "concepts.fit")),
    (lambda: concepts.intervention_curve(concepts.fit(w().xc, w().cc, w().yc, "blackbox",
                                                      epochs=1, progress=False),
                                         w().xc, w().cc, w().yc), ValueError,
     ("black box has no concepts", "kind='cbm'")),
    (lambda: concepts.joint_loss(torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 3),
                                 torch.zeros(4, dtype=torch.long)), ValueError,
     ("c_logits (4, 2) and c (4, 3)", "one logit per concept")),
    (lambda: concepts.accuracy(w().cbm, w().xc, w().cc, w().yc[:5]), ValueError,
     ("y must be", "(60,)")),
    # influence
    (lambda: influence.influence(w().lin, w().ce, w().train, (w().test[0], w().test[1][:2])),
     ValueError, ("test", "x has 4 rows but y has 2")),
    (lambda: influence.influence(w().lin, w().ce, (w().train[0][:0], w().train[1][:0]),
                                 w().test), ValueError, ("train", "not be empty")),
    (lambda: influence.influence(w().lin, w().ce, w().train, (with_nan(w().test[0]),
                                                              w().test[1])),
     ValueError, ("test[0] contains nan", "nan_to_num")),
    (lambda: influence.influence(training(w().lin), w().ce, w().train, w().test), ValueError,
     ("training mode", "model.eval()")),
    (lambda: influence.influence(elsewhere(w().lin), w().ce, w().train, w().test), ValueError,
     ("train[0] is on cpu", "model is on meta", ".to(")),
    (lambda: influence.influence(w().lin, w().ce, w().train, w().test, method="newton"),
     ValueError, ("method", "exact")),
    (lambda: influence.influence(w().lin, w().ce, w().train, w().test, l2=-1.0), ValueError,
     ("l2", "≥ 0")),
    (lambda: influence.influence(w().lin, w().ce, w().train, w().test, damping=-1.0),
     ValueError, ("damping", "≥ 0")),
    (lambda: influence.influence(w().lin, w().ce, w().train, (w().test[0], w().test[1] + 5)),
     ValueError, ("test: label", "not a class of the model", "0..1")),
    (lambda: influence.influence(w().lin, w().ce, w().train, w().test[0]), ValueError,
     ("test must be an (x, y) pair",)),
    (lambda: influence.hvp(w().lin, w().ce, w().train, torch.ones(5, dtype=torch.float64)),
     ValueError, ("v", "8 parameters")),
    (lambda: influence.hessian(w().lin, w().ce, w().train, max_params=4), ValueError,
     ("8 parameters", "max_params", "method='cg'")),
    (lambda: influence.self_influence(training(w().lin), w().ce, w().train), ValueError,
     ("training mode", "model.eval()")),
    (lambda: influence.self_influence(w().lin, w().ce, w().train, damping=-0.5), ValueError,
     ("damping", "≥ 0")),
    (lambda: influence.perturbation_influence(w().lin, w().ce, w().train, w().test,
                                              method="svd"), ValueError, ("method", "'cg'")),
    (lambda: influence.per_sample_grads(w().lin, w().ce, w().train[0], w().train[1][:3]),
     ValueError, ("x has 8 rows but y has 3", "must match")),
    (lambda: influence.solve(w().lin, w().ce, w().train, torch.ones(8, dtype=torch.float64)),
     ValueError, ("g must hold right-hand sides as rows", "g[none]")),
    (lambda: influence.losses(w().lin, w().ce, (with_nan(w().test[0]), w().test[1])),
     ValueError, ("test[0] contains nan", "nan_to_num")),
    (lambda: influence.loss_change(w().lin, w().ce, torch.zeros(2, 5, dtype=torch.float64),
                                   w().test), ValueError, ("thetas", "(k, 8)", "retrain_without")),
    (lambda: influence.retrain_without(w().lin, w().ce, w().train, [-1]), ValueError,
     ("indices", "0..7")),
    (lambda: influence.fit(w().lin, w().ce, *w().train, max_iter=0), ValueError,
     ("max_iter", "≥ 1")),
    (lambda: influence.solve(w().lin, w().ce, w().train, torch.ones(1, 6, dtype=torch.float64),
                             method="lissa", lissa_depth=0), ValueError, ("lissa_depth", "≥ 1")),
    (lambda: influence.smooth_hinge(torch.zeros(3), torch.ones(3), t=0.0), ValueError,
     ("temperature t", "> 0")),
    (lambda: influence.leave_one_out(w().lin, w().ce, w().train, w().test, [99]), ValueError,
     ("indices", "0..7")),
    (lambda: influence.fit(w().lin, w().ce, w().train[0].float(), w().train[1]), ValueError,
     ("x is float32", "model is float64", "x.double()")),
    (lambda: influence.Influence(training(w().lin), w().ce, w().train), ValueError,
     ("training mode", "model.eval()")),
    (lambda: influence.Influence(w().lin, w().ce, w().train).scores(w().test[0]), ValueError,
     ("test must be an (x, y) pair",)),
    (lambda: influence.Influence(w().lin, w().ce, w().train).scores(w().test, "lissa",
                                                                    lissa_tol=0.0),
     ValueError, ("lissa_tol", "> 0")),
    (lambda: moved_after(influence.Influence(copy.deepcopy(w().lin), w().ce, w().train)).scores(
        w().test), ValueError, ("changed since this influence was built", "build a new one")),
    (lambda: influence.retrain_without(w().lin, w().ce, w().train, [0], tol=0.0), ValueError,
     ("tol", "> 0")),
    # counterfactuals
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, 2), ValueError, ("target", "0..1")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().pred), ValueError,
     ("already predicted as their target", "choose another target")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(immutable=[0, 1, 2, 3])),
     ValueError, ("every feature is immutable", "free at least one")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(immutable=[7])), ValueError,
     ("immutable indices [7]", "0..3")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(one_way={0: 2})), ValueError,
     ("one_way", "+1", "-1")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(bounds=(1.0, -1.0))),
     ValueError, ("bounds", "lower bound exceeds")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(bounds=(0.0, 0.1))),
     ValueError, ("outside the bounds", "widen")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, distance="cosine"),
     ValueError, ("distance", "'mad'")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, mad=torch.ones(3)),
     ValueError, ("mad", "(4,)")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, search=Search(lr=0.0)), ValueError,
     ("lr", "> 0")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, search=Search(margin=-1.0)), ValueError,
     ("margin", "≥ 0")),
    (lambda: counterfactuals.metrics(w().mlp, w().x_tab, w().x_tab, 1, w().x_tab,
                                     constraints={"immutable": [0]}), TypeError,
     ("constraints must be a xaitutor.Constraints", "Constraints(immutable=[0]")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, search={"steps": 10}), TypeError,
     ("search must be a counterfactuals.Search", "Search(steps=500")),
    (lambda: counterfactuals.Search(polish="yes"), TypeError, ("polish", "True or False")),
    (lambda: counterfactuals.Constraints(one_way=[1]), TypeError, ("one_way must be a dict",)),
    (lambda: counterfactuals.Constraints(immutable=["age"]), TypeError, ("immutable", "column numbers")),
    (lambda: counterfactuals.Constraints(bounds=(torch.zeros(3), torch.ones(4))), ValueError,
     ("bounds", "one value per column")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other,
                                      constraints=counterfactuals.Constraints(bounds=(torch.zeros(3), torch.ones(3)))),
     ValueError, ("bounds have 3 values", "x has 4 columns")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, k=0), ValueError,
     ("k", "≥ 1")),
    (lambda: counterfactuals.optimize(w().mlp, with_nan(w().x_tab), w().other), ValueError,
     ("x contains nan", "nan_to_num")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab.long(), 1), ValueError,
     ("x must be", "float")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab[:0], 1), ValueError,
     ("x is an empty batch", "at least one")),
    (lambda: counterfactuals.optimize(training(w().mlp), w().x_tab, w().other), ValueError,
     ("training mode", "model.eval()")),
    (lambda: counterfactuals.optimize(elsewhere(w().mlp), w().x_tab, w().other), ValueError,
     ("x is on cpu", "model is on meta", ".to(")),
    (lambda: counterfactuals.metrics(w().mlp, w().x_tab, w().x_tab[:2], 1, w().x_tab),
     ValueError, ("x_cf", "do not match")),
    (lambda: counterfactuals.mad(torch.ones(4)), ValueError, ("x must be a non-empty (n, d)",)),
    (lambda: counterfactuals.median_absolute_deviation(torch.ones(0, 3)), ValueError,
     ("x must be a non-empty (n, d)",)),
    (lambda: counterfactuals.predict(training(w().mlp), w().x_tab), ValueError,
     ("training mode", "model.eval()")),
    (lambda: counterfactuals.check_request(w().mlp, w().x_tab, torch.ones(5)), ValueError,
     ("target", "target.long()")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, sparsity="l2"), ValueError,
     ("sparsity", "l0", "group")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, search=Search(adapt_every=-1)), ValueError,
     ("adapt_every", "≥ 0")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(free=torch.ones(5, 3, dtype=torch.bool))), ValueError,
     ("free", "(5, 4)")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, constraints=Constraints(free=torch.zeros(5, 4, dtype=torch.bool))), ValueError,
     ("free", "allow at least one")),
    (lambda: counterfactuals.sparsity_path(w().mlp, w().x_tab, w().other, [1.0, 0.1]), ValueError,
     ("mus", "ascending")),
    (lambda: counterfactuals.sparsity_path(w().mlp, w().x_tab, w().other, [0.1],
                                          constraints=Constraints(free=torch.ones(5, 4, dtype=torch.bool))),
     ValueError, ("sets free itself", "use immutable instead")),
    (lambda: counterfactuals.feature_groups(4, [[0, 1], [1, 2]]), ValueError,
     ("categorical groups overlap", "one group per original feature")),
    (lambda: counterfactuals.feature_groups(4, [[0, 9]]), ValueError, ("categorical", "0..3")),
    (lambda: counterfactuals.feature_groups(4, [[0]]), ValueError,
     ("at least 2", "leave a single column out")),
    (lambda: counterfactuals.lp_counterfactual(w().mlp, w().x_tab, w().other), ValueError,
     ("linear model", "use optimize()")),
    (lambda: counterfactuals.lp_counterfactual(linear4(), w().x_tab, linear_other(),
                                               mad=torch.zeros(4)), ValueError,
     ("mad", "median_absolute_deviation(X_train)")),
    (lambda: counterfactuals.min_features_counterfactual(linear4(), w().x_tab, linear_other()),
     ValueError, ("bounds", "encoder.bounds(X_train)")),
    (lambda: counterfactuals.plausibility_lof(w().x_tab, 1, w().x_tab, torch.zeros(5, dtype=torch.long)),
     ValueError, ("class 1", "check y_train")),
    (lambda: counterfactuals.plausibility_ynn(w().mlp, w().x_tab, 1, w().x_tab, k=0), ValueError,
     ("k", "≥ 1")),
    (lambda: counterfactuals.closer_to_target(w().mlp, w().x_tab, w().x_tab, w().other, w().x_tab,
                                              w().pred.float()), ValueError,
     ("y_train", "y_train.long()")),
    (lambda: counterfactuals.judge_validity("a judge", w().x_tab, 1), TypeError,
     ("judge", "scikit-learn classifier")),
    (lambda: counterfactuals.judge_validity(training(w().mlp), w().x_tab, 1), ValueError,
     ("judge", "judge.eval()")),
    (lambda: counterfactuals.kernel_distance(torch.rand(5, 3), torch.rand(5, 4)), ValueError,
     ("same number of features", "same network")),
    (lambda: counterfactuals.kernel_distance(torch.rand(1, 3), torch.rand(5, 3)), ValueError,
     ("at least 2 rows",)),
    (lambda: counterfactuals.kernel_distance(torch.rand(5), torch.rand(5, 3)), ValueError, ("a", "(m, d)")),
    (lambda: counterfactuals.kernel_distance([[0.0, 1.0]], torch.rand(5, 2)), TypeError, ("a",)),
    # latent
    (lambda: latent.train_vae(torch.rand(20)), ValueError, ("x must be (n, d)", "flatten")),
    (lambda: latent.train_vae(2 * torch.rand(20, 4)), ValueError,
     ("bernoulli", "likelihood='gaussian'")),
    (lambda: latent.train_vae(with_nan(torch.rand(20, 4))), ValueError,
     ("x contains nan", "nan_to_num")),
    (lambda: latent.train_vae(torch.rand(20, 4), latent_dim=0), ValueError,
     ("latent_dim", "≥ 1")),
    (lambda: latent.train_vae(torch.rand(20, 4), beta=-1.0), ValueError, ("beta", "≥ 0")),
    (lambda: latent.train_vae(torch.rand(20, 4), likelihood="poisson"), ValueError,
     ("likelihood", "'bernoulli'")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other,
                                   method="dice"), ValueError, ("method", "revise")),
    (lambda: latent.counterfactual(w().mlp, w().mlp, w().x_tab.clamp(0, 1), w().other),
     TypeError, ("vae must be", "train_vae")),
    (lambda: latent.counterfactual(w().mlp, training(w().vae), w().x_tab.clamp(0, 1), w().other),
     ValueError, ("training mode", "vae.eval()")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab[:, :3], w().other), ValueError,
     ("4 features", "x has shape")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), 3), ValueError,
     ("target", "0..1")),
    (lambda: latent.counterfactual(training(w().mlp), w().vae, w().x_tab.clamp(0, 1), w().other),
     ValueError, ("training mode", "model.eval()")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other, constraints=Constraints(immutable=[9])), ValueError, ("immutable", "0..3")),
    (lambda: w().vae(torch.rand(3, 5)), ValueError, ("(n, 4)", "got (3, 5)")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other, constraints=Constraints(immutable=[0, 1, 2, 3])), ValueError,
     ("every feature is immutable", "free at least one")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other, constraints=Constraints(bounds=(1.0, 0.0))), ValueError, ("bounds", "swap them")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other, constraints=Constraints(bounds=(0.5, 0.6))), ValueError, ("outside the bounds", "widen")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other, search=Search(steps=0)),
     ValueError, ("steps", "≥ 1")),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other,
                                   method="cchvae", radius_step=0.0), ValueError,
     ("radius_step > 0",)),
    (lambda: latent.counterfactual(w().mlp, w().vae, w().x_tab.clamp(0, 1), w().other,
                                   method="cchvae", n_candidates=0), ValueError,
     ("n_candidates", "≥ 1")),
    (lambda: data.mnist(classes=(1, 12)), ValueError, ("classes", "digits 0..9", "(1, 7)")),
    (lambda: data.mnist(classes="seven"), TypeError, ("classes must be digits 0..9",)),
    (lambda: data.mnist(classes=()), ValueError, ("non-empty",)),
    (lambda: counterfactuals.Constraints(bounds=(0.0,)), ValueError,
     ("bounds must be a pair (low, high)",)),
    (lambda: latent.kl_divergence(torch.zeros(3, 2), torch.zeros(3, 4)), ValueError,
     ("mu and logvar", "vae.encode(x)")),
    # data
    (lambda: data.load("spiral"), ValueError, ("unknown data set", "xor")),
    (lambda: data.xor(0), ValueError, ("n must be a positive int",)),
    (lambda: data.loan_applicants(-5), ValueError, ("n must be a positive int",)),
    (lambda: data.trigonometry(-5), ValueError, ("n must be a positive int",)),
    (lambda: data.dot(2.5), ValueError, ("n must be a positive int",)),
    (lambda: data.split(w().xc, w().yc[:5]), ValueError, ("first dimension", "[60, 5]")),
    (lambda: data.split(w().xc, train=1.5), ValueError, ("train", "(0, 1)")),
    (lambda: data.shapes(watermark="logo"), ValueError, ("watermark", "'spurious'")),
    (lambda: data.german_credit()[3].encode([{"age": 30}]), ValueError, ("missing", "duration")),
    (lambda: data.german_credit()[3].decode(torch.zeros(2, 3)), ValueError,
     ("encoder makes", "got 3")),
    # models and core
    (lambda: models.resnet18(seed=-1), ValueError, ("seed must be an int ≥ 0",)),
    (lambda: models.train_mnist_cnn(threads=0), ValueError, ("threads must be an int ≥ 1",)),
    (lambda: models.save_weights("a model", "w.npz"), TypeError, ("model must be a torch.nn.Module",)),
    (lambda: concepts.truth_table(nn.Linear(2, 2)), TypeError, ("xaitutor.concepts.fit",)),
    (lambda: influence.hinge(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)), ValueError,
     ("one output per target", "nn.Linear(d, 1)")),
    (lambda: influence.fit_hinge_svm(nn.Linear(3, 2).double(), *_svm_data()), ValueError,
     ("linear: pass nn.Linear(d, 1)",)),
    (lambda: influence.retrain_hinge_svm_without(_fitted_svm(), _svm_data(), [99]), ValueError,
     ("99 is not a training point", "0..19")),
    (lambda: models.fit_classifier(models.SmallCNN(), w().x_img, w().y_img[:3]), ValueError,
     ("x has 6 samples but y has 3",)),
    (lambda: models.fit_classifier(models.SmallCNN(), w().x_img, w().y_img + 10), ValueError,
     ("but the model has 10 classes", "0..9")),
    (lambda: models.fit_classifier(models.SmallCNN(), w().x_img, w().y_img.int()), ValueError,
     ("y must be an int64", "y.long()")),
    (lambda: counterfactuals.metrics(w().mlp, w().x_tab, w().x_tab, 1, w().x_tab, constraints=Constraints(immutable=[99])),
     ValueError, ("immutable", "0..3")),
    (lambda: models.accuracy(w().cnn, w().x_img, w().y_img[:2]), ValueError,
     ("x has 6 samples but y has 2",)),
    (lambda: core.set_seed("0"), TypeError, ("seed must be an int",)),
    (lambda: core.get_device("cuda") if not torch.cuda.is_available() else core.get_device("tpu"),
     ValueError, ("device",)),
    (lambda: core.train(lambda x: x.sum(), [], (torch.ones(3),)), ValueError,
     ("nothing to train", "requires grad")),
    (lambda: core.train(lambda x: x.sum(), nn.Linear(1, 1), (torch.ones(3),), epochs=0),
     ValueError, ("epochs", "≥ 1")),
    (lambda: core.expect("acc", 0.5), ValueError, ("at_least", "at_most")),
    (lambda: core.train(lambda x: x.sum(), nn.Linear(1, 1), (torch.ones(3, 1),), batch_size=0),
     ValueError, ("batch_size", "≥ 1")),
    (lambda: models.fit_classifier(models.SmallCNN(), w().x_img, w().y_img, batch_size=0),
     ValueError, ("batch_size", "≥ 1")),
    (lambda: core.max_abs_diff(torch.zeros(3), torch.zeros(4)), ValueError, ("shapes differ",)),
]


def _lin4():
    torch.manual_seed(2)
    return nn.Linear(4, 2).eval()


def _scm():
    return recourse.AdditiveSCM({1: [0]}, n_nodes=4).fit(torch.randn(30, 4))


RECOURSE_CASES = [
    (lambda: recourse.percentile_cost(torch.zeros(3, 4), torch.zeros(3, 5), torch.zeros(9, 4)),
     ValueError, ("x_new", "columns")),
    (lambda: recourse.percentile_cost(torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(9, 4),
                                      kind="mean"), ValueError, ("kind", "max_percentile")),
    (lambda: recourse.linear_recourse(w().mlp, w().x_tab, [[0.0]] * 4, w().x_tab), ValueError,
     ("nn.Linear(D, 2)", "causal_recourse")),
    (lambda: recourse.linear_recourse(_lin4(), w().x_tab, [[]] * 4, w().x_tab), ValueError,
     ("every column empty", "give at least one column")),
    (lambda: recourse.linear_recourse(_lin4(), w().x_tab, [[0.0]] * 3, w().x_tab), ValueError,
     ("one entry per column", "4")),
    (lambda: recourse.linear_recourse(_lin4(), w().x_tab, [[0.0]] * 4, w().x_tab, cost="l1"),
     ValueError, ("cost", "percentile")),
    (lambda: recourse.flipsets(_lin4(), w().x_tab, [[0.0]] * 4, w().x_tab), ValueError,
     ("one person", "linear_recourse")),
    (lambda: recourse.audit(_lin4(), w().x_tab, [[1.0]] * 4, w().x_tab, {"a": torch.ones(5)}),
     ValueError, ("group 'a'", "bool mask")),
    (lambda: recourse.flip_test(w().mlp, w().x_tab, [0]), ValueError, ("one-hot group", "columns_of('sex')")),
    (lambda: recourse.flip_test(w().mlp, w().x_tab, [0, 1]), ValueError, ("not one-hot", "one-hot group")),
    (lambda: recourse.flip_test(w().mlp, w().x_tab, [0, 7]), ValueError, ("columns", "0..3")),
    (lambda: recourse.ActionSet.from_data(w().x_tab, names=list("abcd"), immutable=["e"]),
     ValueError, ("immutable", "unknown features")),
    (lambda: recourse.ActionSet.from_data(w().x_tab, names=list("abcd"), immutable=list("abcd")),
     ValueError, ("every feature is immutable", "free at least one")),
    (lambda: recourse.AdditiveSCM({0: [1], 1: [0]}), ValueError, ("cycle", "remove an edge")),
    (lambda: recourse.AdditiveSCM({1: [7]}, n_nodes=4), ValueError, ("out of range", "0..3")),
    (lambda: _scm().counterfactual(torch.zeros(2, 4), {9: 1.0}), ValueError,
     ("unknown nodes [9]", "0..3")),
    (lambda: recourse.causal_recourse(_lin4(), _scm(), w().x_tab, {2: []}, w().x_tab), ValueError,
     ("at least one value",)),
    (lambda: recourse.causal_recourse(_lin4(), _scm(), w().x_tab, {5: [1.0]}, w().x_tab),
     ValueError, ("unknown nodes", "0..3")),
]


def _blocks4() -> torch.Tensor:
    """(1, 1, 8, 8) ids of four 4×4 blocks."""
    return shapley.patches(w().x_img, 4)


SHAPLEY_CASES = [
    (lambda: shapley.exact(w().cnn, w().x_img, 0), ValueError,
     ("m = 64 features", "at most m = 16", "feature_mask", "kernel_shap", "sampling")),
    (lambda: shapley.exact(w().cnn, w().x_img, 0, torch.arange(20).repeat(4)[:64].view(1, 1, 8, 8)),
     ValueError, ("m = 20", "kernel_shap")),
    (lambda: shapley.exact(w().cnn, w().x_img, 0, torch.zeros(1, 1, 4, 4, dtype=torch.long)),
     ValueError, ("feature_mask has shape (1, 1, 4, 4)", "broadcastable to x")),
    (lambda: shapley.exact(w().cnn, w().x_img, 0, _blocks4().float()), ValueError,
     ("feature_mask must hold integer group ids", "feature_mask.long()")),
    (lambda: shapley.exact(w().cnn, w().x_img, 0, _blocks4(), baseline=torch.zeros(1, 4, 4)),
     ValueError, ("baseline has shape (1, 4, 4)", "or a number")),
    (lambda: shapley.exact(w().cnn, w().x_img, 10, _blocks4()), ValueError, ("target=10", "0..9")),
    (lambda: shapley.exact(training(w().cnn), w().x_img, 0, _blocks4()), ValueError,
     ("training mode", "model.eval()")),
    (lambda: shapley.exact(w().cnn, w().x_img, 0, _blocks4(), batch_size=0), ValueError,
     ("batch_size", "≥ 1")),
    (lambda: shapley.sampling(w().cnn, w().x_img, 0, _blocks4(), n_samples=0), ValueError,
     ("n_samples", "≥ 1")),
    (lambda: shapley.sampling(w().cnn, w().x_img, 0, _blocks4(), seed="0"), ValueError,
     ("seed must be an int",)),
    (lambda: shapley.kernel_shap(w().cnn, w().x_img, 0, _blocks4(), n_samples=1), ValueError,
     ("n_samples", "≥ 2")),
    (lambda: shapley.kernel_shap(w().cnn, w().x_img.numpy(), 0, _blocks4()), TypeError,
     ("x must be a torch.tensor", "torch.as_tensor")),
    (lambda: shapley.lime(w().cnn, w().x_img, 0, _blocks4(), kernel_width=0.0), ValueError,
     ("kernel_width", "> 0")),
    (lambda: shapley.lime(w().cnn, w().x_img, 0, _blocks4(), alpha=-1.0), ValueError,
     ("alpha", "≥ 0")),
    (lambda: shapley.lime(w().cnn, w().x_img, 0, _blocks4(), coalitions=torch.ones(5, 3).bool()),
     ValueError, ("coalitions", "(k, 4)")),
    (lambda: shapley.lime(w().cnn, with_nan(w().x_img), 0, _blocks4()), ValueError,
     ("x contains nan", "nan_to_num")),
    (lambda: shapley.coalition_values(w().cnn, w().x_img, 0, torch.ones(5, 4), _blocks4()),
     ValueError, ("coalitions must be a bool", "shapley.coalitions(m)")),
    (lambda: shapley.coalition_values(w().cnn, w().x_img, 0, torch.ones(5, 3).bool(), _blocks4()),
     ValueError, ("coalitions must have shape (k, 4)",)),
    (lambda: shapley.coalitions(-1), ValueError, ("m", "≥ 0")),
    (lambda: shapley.coalitions(30), ValueError, ("2^30", "sample them")),
    (lambda: shapley.from_game(torch.zeros(6)), ValueError, ("2^m entries", "coalitions(m)")),
    (lambda: shapley.from_game(np.zeros(4)), TypeError, ("v must be a torch.tensor",
                                                        "torch.as_tensor")),
    (lambda: shapley.banzhaf_from_game(torch.zeros(2, 3)), ValueError, ("2^m entries",)),
    (lambda: shapley.kernel_weights(0), ValueError, ("m", "≥ 1")),
    (lambda: shapley.kernel_coalitions(1, 10), ValueError, ("m", "≥ 2")),
    (lambda: shapley.kernel_coalitions(5, 1.5), TypeError, ("n_samples",)),
    (lambda: shapley.kernel_coalitions(5, 10, seed="a"), TypeError, ("seed",)),
    (lambda: shapley.superpixels(w().x_img[0, 0]), ValueError, ("x must have shape (n, c, h, w)",)),
    (lambda: shapley.superpixels(w().x_img, n_segments=0), ValueError, ("n_segments", "≥ 1")),
    (lambda: shapley.superpixels(w().x_img, compactness=0), ValueError, ("compactness", "> 0")),
    (lambda: shapley.patches(w().x_img, 9), ValueError, ("size", "1..8")),
    (lambda: shapley.group_values(torch.rand(6, 1, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.long)),
     ValueError, ("feature_mask has shape (2, 1, 8, 8)", "broadcastable")),
    (lambda: shapley.explain("shap", w().cnn, w().x_img, 0, _blocks4()), ValueError,
     ("unknown method", "exact shapley")),
]


def _svm_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    return x, (x[:, 0] > 0).long()


def _fitted_svm():
    model = nn.Linear(3, 1).double()
    influence.fit_hinge_svm(model, *_svm_data())
    return model


def _id(words: tuple[str, ...], f) -> str:
    code = f.__code__
    return f"L{code.co_firstlineno}-{words[0][:30]}"


# Issue 24, §1: the same kind of mistake gets the same treatment everywhere — one exception
# type (xaitutor.BadInput, a ValueError; BadInputType, also a TypeError, for a wrong kind of
# value), from _checks, naming the argument. Each of these escaped as a raw torch/numpy error,
# or was accepted, before.
BadInput, BadInputType = xaitutor.BadInput, xaitutor.BadInputType
CONTRACT_CASES = [
    (lambda: saliency.smoothgrad(w().cnn, w().x_img, 0, n_samples=2.5), BadInputType, ("n_samples", "int")),
    (lambda: saliency.smoothgrad(w().cnn, w().x_img, 0, seed=1.5), BadInputType, ("seed", "int")),
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, n_steps=2.5), BadInputType,
     ("n_steps", "int")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, w().other, search=Search(seed="a")), BadInputType, ("seed", "int")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, 1.0), BadInputType, ("target", "int")),
    (lambda: counterfactuals.optimize(w().mlp, w().x_tab, True), BadInputType, ("target", "int")),
    (lambda: counterfactuals.plausibility_ynn(w().mlp, w().x_tab, 5, w().x_tab, k=2), BadInput,
     ("target=5", "2 classes", "0..1")),
    (lambda: counterfactuals.judge_validity(w().mlp, w().x_tab, 5), BadInput, ("target=5", "0..1")),
    (lambda: counterfactuals.metrics(w().mlp, w().x_tab, w().x_tab, 1, w().x_tab, constraints=Constraints(bounds=(3.0, -3.0))),
     BadInput, ("bounds", "swap")),
    (lambda: counterfactuals.metrics(w().mlp, w().x_tab, w().x_tab, 1, w().x_tab, constraints=Constraints(one_way={0: 7})),
     BadInput, ("one_way", "+1", "-1")),
    (lambda: recourse.causal_recourse(_lin4(), _scm(), w().x_tab, {1: [1.0]}, w().x_tab, batch_size=0),
     BadInput, ("batch_size", "≥ 1")),
    (lambda: recourse.causal_recourse(_lin4(), _scm(), w().x_tab, {1: [1.0]}, w().x_tab, target=2),
     BadInput, ("target=2", "0..1")),
    (lambda: recourse.AdditiveSCM({1: [0]}).fit(torch.randn(30, 3)), BadInput,
     ("3 columns", "n_nodes=3")),
    (lambda: xaitutor.set_threads(0), BadInput, ("n", "≥ 1")),
    # §3, found by running the peers' suites: accepted, or a raw traceback, before
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, baseline=float("nan")), BadInput,
     ("baseline", "NaN", "finite")),
    (lambda: saliency.integrated_gradients(w().cnn, w().x_img, 0, baseline=with_nan(w().x_img)), BadInput,
     ("baseline", "NaN")),
    (lambda: shapley.superpixels(w().x_img.permute(0, 2, 3, 1)), BadInput,
     ("channels-last", "permute(0, 3, 1, 2)")),
    (lambda: recourse.AdditiveSCM({1: 0}), BadInputType, ("parents[1]", "list", "[0]")),
    (lambda: recourse.AdditiveSCM({"income": ["age"]}), BadInputType, ("column indices", "ints")),
    (lambda: recourse.AdditiveSCM([(1, 0)]), BadInputType, ("parents must be a dict",)),
    (lambda: recourse.percentile_cost(torch.zeros(3, 4), np.zeros((3, 4)), torch.zeros(9, 4)), BadInputType,
     ("x_new", "torch.tensor")),
    (lambda: recourse.AdditiveSCM({1: [0]}).fit(torch.randn(30, 2), regressor=lambda a, b: a), BadInputType,
     ("regressor", "fit and predict", "LinearRegression()")),
    (lambda: recourse.causal_recourse(_lin4(), _scm(), w().x_tab, [1.0, 2.0], w().x_tab), BadInputType,
     ("grid must be a dict", "{1: [10, 12, 14]")),
    (lambda: saliency.gradient(w().cnn, w().x_img.double(), 0), BadInput, ("x is float64", "x.float()")),
    (lambda: shapley.exact(w().cnn, w().x_img, 1, feature_mask=torch.arange(64).view(1, 1, 8, 8) * 3), BadInput,
     ("M = 64 features", "at most M = 16")),
]


@pytest.mark.parametrize("call, exc, words", [pytest.param(f, e, words, id=_id(words, f))
                                              for f, e, words in CONTRACT_CASES])
def test_one_contract_one_exception_type(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, ValueError), "every BadInput is a ValueError"
    missing = [word for word in words if word.lower() not in str(info.value).lower()]
    assert not missing, f"the message {str(info.value)!r} lacks {missing}"


def test_every_module_can_be_star_imported():
    """`from xaitutor.counterfactuals.search import *` crashed: its __all__ named a function
    that had moved to quality.py."""
    import importlib
    import pkgutil
    for info in pkgutil.walk_packages(xaitutor.__path__, "xaitutor."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{info.name}.__all__ names {name!r}, which it does not define"


CASES = [*saliency_cases(),
         *(pytest.param(f, e, words, id=_id(words, f)) for f, e, words in OTHER_CASES),
         *(pytest.param(f, e, words, id=_id(words, f)) for f, e, words in RECOURSE_CASES),
         *(pytest.param(f, e, words, id=_id(words, f)) for f, e, words in SHAPLEY_CASES)]


@pytest.mark.parametrize("call, exc, words", CASES)
def test_bad_input_gets_a_clear_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, xaitutor.BadInput), (
        f"{type(info.value).__name__}, not xaitutor.BadInput: raise it from xaitutor/_checks.py")
    message = str(info.value).lower()
    missing = [word for word in words if word.lower() not in message]
    assert not missing, f"the message {str(info.value)!r} lacks {missing}"


def test_every_public_function_is_fed_bad_input(monkeypatch):
    """No public function of the topic modules escapes this file: every case above runs
    with each public function wrapped by a recorder, and each must have been called by
    some case (widgets are tested in test_widgets.py, plotting draws what it is given)."""
    import inspect
    modules = {"saliency": saliency, "metrics": metrics, "concepts": concepts,
               "influence": influence, "counterfactuals": counterfactuals, "latent": latent,
               "models": models, "core": core, "data": data, "recourse": recourse,
               "shapley": shapley}
    exempt = {"check",            # raises AssertionError by design: it *is* a check
              "peak_memory_gb",   # takes no argument
              "digits",           # takes no argument
              "mnist_cnn"}        # takes no argument
    w()                                                   # build the shared models first
    called, expected = set(), set()
    for mod_name, mod in modules.items():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not inspect.isfunction(obj) or name in exempt:
                continue
            key = f"{mod_name}.{name}"
            expected.add(key)

            def recorder(*args, __f=obj, __key=key, **kwargs):
                called.add(__key)
                return __f(*args, **kwargs)
            monkeypatch.setattr(mod, name, recorder)
    for case in CASES:
        try:
            case.values[0]()
        except Exception:                                  # noqa: BLE001 (the cases raise)
            pass
    missing = sorted(expected - called)
    assert not missing, f"no bad-input case calls {missing}"


def test_numpy_scalars_and_ints_are_fine_targets():
    """The checks refuse what is wrong, not what is merely unusual."""
    a = saliency.gradient(w().cnn, w().x_img, np.int64(3))
    b = saliency.gradient(w().cnn, w().x_img, torch.tensor(3))
    torch.testing.assert_close(a, b)


# --- every count and seed knob, found from the signatures ------------------------------------------

#: A valid call of every public function with a count or seed parameter; each knob of the
#: signature is then given a wrong type and a wrong value. A new function with such a
#: parameter must join this table (the test below fails until it does).
KNOB_CALLS = {
    "saliency.smoothgrad": lambda **k: saliency.smoothgrad(w().cnn, w().x_img, 0, **{"n_samples": 2, **k}),
    "saliency.integrated_gradients": lambda **k: saliency.integrated_gradients(w().cnn, w().x_img, 0,
                                                                               **{"n_steps": 4, **k}),
    "saliency.ig_alphas_and_weights": lambda **k: saliency.ig_alphas_and_weights(**{"n_steps": 4, **k}),
    "saliency.occlusion": lambda **k: saliency.occlusion(w().cnn, w().x_img, 0, window=2, stride=2, **k),
    "saliency.feature_ablation": lambda **k: saliency.feature_ablation(w().cnn, w().x_img, 0, None, **k),
    "saliency.class_model_visualization": lambda **k: saliency.class_model_visualization(
        w().cnn, 0, (1, 8, 8), **{"steps": 2, **k}),
    "saliency.meaningful_perturbation": lambda **k: saliency.meaningful_perturbation(
        w().cnn, w().x_img, 0, **{"steps": 2, **k}),
    "saliency.explain": lambda **k: saliency.explain("SmoothGrad", w().cnn, w().x_img, 0, **{"n_samples": 2, **k}),
    "metrics.deletion_images": lambda **k: metrics.deletion_images(w().x_img, torch.rand(6, 1, 8, 8), **k),
    "metrics.deletion_curve": lambda **k: metrics.deletion_curve(w().cnn, w().x_img, 0, torch.rand(6, 1, 8, 8),
                                                                 **{"n_steps": 4, **k}),
    "shapley.kernel_coalitions": lambda **k: shapley.kernel_coalitions(**{"m": 5, "n_samples": 10, **k}),
    "shapley.sampling": lambda **k: shapley.sampling(w().mlp, w().x_tab, 0, **{"n_samples": 2, **k}),
    "shapley.kernel_shap": lambda **k: shapley.kernel_shap(w().mlp, w().x_tab, 0, **{"n_samples": 6, **k}),
    "shapley.lime": lambda **k: shapley.lime(w().mlp, w().x_tab, 0, **{"n_samples": 6, **k}),
    "shapley.exact": lambda **k: shapley.exact(w().mlp, w().x_tab, 0, **k),
    "shapley.coalition_values": lambda **k: shapley.coalition_values(w().mlp, w().x_tab, 0, shapley.coalitions(4),
                                                                     **k),
    "shapley.explain": lambda **k: shapley.explain("KernelSHAP", w().mlp, w().x_tab, 0, **{"n_samples": 6, **k}),
    "shapley.superpixels": lambda **k: shapley.superpixels(w().x_img, **k),
    "counterfactuals.optimize": lambda **k: counterfactuals.optimize(w().mlp, w().x_tab, w().other,
                                                                     **{"steps": 2, **k}),
    "data.xor": lambda **k: data.xor(20, **k),
    "data.trigonometry": lambda **k: data.trigonometry(20, **k),
    "data.dot": lambda **k: data.dot(20, **k),
    "data.load": lambda **k: data.load("dot", 20, **k),
    "data.shapes": lambda **k: data.shapes(8, **k),
    "data.loan_applicants": lambda **k: data.loan_applicants(20, **k),
    "metrics.randomized_labels": lambda **k: metrics.randomized_labels(w().y_img, **k),
    "metrics.cascading_randomization": lambda **k: metrics.cascading_randomization(
        w().cnn, w().x_img, w().y_img, saliency.gradient, **k),
    "core.train": lambda **k: core.train(lambda xb, yb: w().ce(w().lin(xb), yb), w().lin, w().train, epochs=1,
                                         progress=False, **k),
    "data.split": lambda **k: data.split(w().x_tab, w().pred, **k),
    "core.set_seed": lambda **k: core.set_seed(**{"seed": 0, **k}),
}
KNOBS = {"seed": ("a", -1), "n_samples": (2.5, 0), "n_steps": (2.5, 0), "steps": (2.5, 0),
         "batch_size": (1.5, 0), "n_segments": (2.5, 0)}


def _knob_cases():
    import inspect
    for key, call in KNOB_CALLS.items():
        mod, name = key.split(".")
        params = inspect.signature(getattr(globals()[mod], name)).parameters
        for knob, (wrong_type, wrong_value) in KNOBS.items():
            if knob in params:
                yield pytest.param(call, knob, wrong_type, BadInputType, id=f"{key}-{knob}-type")
                yield pytest.param(call, knob, wrong_value, BadInput, id=f"{key}-{knob}-value")


@pytest.mark.parametrize("call, knob, value, exc", list(_knob_cases()))
def test_every_count_and_seed_knob_is_checked_at_the_door(call, knob, value, exc):
    with pytest.raises(exc) as info:
        call(**{knob: value})
    assert knob in str(info.value), f"the message {str(info.value)!r} does not name {knob}"


def test_the_knob_table_covers_every_public_function_with_a_knob():
    import inspect
    modules = {"saliency": saliency, "metrics": metrics, "shapley": shapley, "counterfactuals": counterfactuals,
               "data": data, "core": core}
    found = {f"{m}.{name}" for m, mod in modules.items() for name in getattr(mod, "__all__", [])
             if inspect.isfunction(getattr(mod, name))
             and set(inspect.signature(getattr(mod, name)).parameters) & {"seed", "n_samples", "n_steps",
                                                                           "steps", "n_segments"}}
    assert not found - set(KNOB_CALLS), f"add a valid call to KNOB_CALLS for {sorted(found - set(KNOB_CALLS))}"
