"""Saliency maps: where does a network look?

Every method is one function. ``x`` is a batch ``(N, C, H, W)`` (or ``(N, D)`` for the
gradient methods), ``target`` an int or an ``(N,)`` tensor of class indices, and the
result has the shape of ``x`` unless said otherwise. Nothing loops over samples or
integration steps: a method sends one (chunked) batch through the model.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _calls, _checks
from ._batching import batched

__all__ = ["gradient", "input_x_gradient", "smoothgrad", "integrated_gradients",
           "ig_alphas_and_weights", "grad_cam", "cam", "occlusion", "feature_ablation",
           "class_model_visualization", "meaningful_perturbation", "IG_METHODS", "blur",
           "METHODS", "explain"]

IG_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
              "gausslegendre")


# --- gradient methods ---------------------------------------------------------------------

def gradient(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """Raw signed gradient ∂S_target/∂x (Simonyan, Vedaldi & Zisserman 2014, eq. 2)."""
    _calls.check_model_and_x(model, x)
    return _calls.scores_and_grads(model, x, _checks.targets(target, len(x), x.device))[1]


def input_x_gradient(model: nn.Module, x: Tensor, target: int | Tensor) -> Tensor:
    """Input × gradient (Shrikumar et al. 2016): a first-order Taylor contribution."""
    return x * gradient(model, x, target)


def smoothgrad(model: nn.Module, x: Tensor, target: int | Tensor, n_samples: int = 50,
               sigma: float = 0.15, seed: int = 0, squared: bool = False,
               batch_size: int | None = 512) -> Tensor:
    """SmoothGrad (Smilkov et al. 2017, eq. 3): the gradient averaged over
    ``n_samples`` noisy copies x + N(0, σ²), with σ = ``sigma`` · (max − min of each
    sample), as the paper's "noise level". ``squared=True`` averages squared gradients.
    The same ``seed`` gives the same map. The noisy copies go through the model
    ``batch_size`` at a time (memory stays bounded; None: all at once)."""
    _calls.check_model_and_x(model, x)
    _checks.optional_batch_size(batch_size)
    _checks.positive_int(n_samples, "n_samples")
    _checks.non_negative(sigma, "sigma")
    _checks.seed(seed)
    t = _checks.targets(target, len(x), x.device)
    flat = x.reshape(len(x), -1)
    spread = (flat.max(1).values - flat.min(1).values).view(-1, *[1] * (x.dim() - 1))
    gen = torch.Generator(device="cpu").manual_seed(_checks.seed(seed))
    noise = torch.randn((n_samples, *x.shape), generator=gen, dtype=x.dtype).to(x.device)
    noisy = (x + sigma * spread * noise).reshape(-1, *x.shape[1:])    # (S·N, ...)
    _, g = _calls.scores_and_grads(model, noisy, t.repeat(n_samples), batch_size)
    g = g.view(n_samples, *x.shape)
    return (g ** 2 if squared else g).mean(0)


def ig_alphas_and_weights(n_steps: int, method: str = "gausslegendre",
                          dtype=torch.float64) -> tuple[Tensor, Tensor]:
    """Points α_k ∈ [0, 1] and weights w_k of the path integral ∫₀¹ g(α) dα ≈ Σ w_k g(α_k),
    as Captum defines them. Every rule's weights sum to 1 except ``riemann_trapezoid``'s:
    Captum puts its n points at 0, 1/(n−1), ..., 1 but weighs them with step 1/n (halved
    ends), so they sum to 1 − 1/n. Kept equal to Captum; see :func:`integrated_gradients`."""
    if method not in IG_METHODS:
        raise _checks.BadInput(f"unknown method {method!r}; choose one of {IG_METHODS}")
    _checks.positive_int(n_steps, "n_steps")
    if n_steps < (1 if method == "gausslegendre" else 2):
        raise _checks.BadInput(f"n_steps must be ≥ 2 for {method} (≥ 1 for gausslegendre), got {n_steps}")
    n = n_steps
    if method == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        return torch.tensor(0.5 * (nodes + 1), dtype=dtype), torch.tensor(0.5 * w, dtype=dtype)
    alphas = {"riemann_left": torch.linspace(0, 1 - 1 / n, n, dtype=dtype),
              "riemann_right": torch.linspace(1 / n, 1, n, dtype=dtype),
              "riemann_middle": torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n, dtype=dtype),
              "riemann_trapezoid": torch.linspace(0, 1, n, dtype=dtype)}[method]
    weights = torch.full((n,), 1 / n, dtype=dtype)
    if method == "riemann_trapezoid":
        weights[[0, -1]] /= 2
    return alphas, weights


def integrated_gradients(model: nn.Module, x: Tensor, target: int | Tensor,
                         baseline: Tensor | float | None = None, n_steps: int = 50,
                         method: str = "gausslegendre", return_gap: bool = False,
                         batch_size: int | None = 512):
    """Integrated Gradients (Sundararajan, Taly & Yan 2017, eq. 1 and its Riemann sum):
    (x − x') · ∫₀¹ ∂S(x' + α(x − x'))/∂x dα, with baseline x' (zeros by default).

    ``method`` takes Captum's names; the result equals Captum's ``IntegratedGradients``
    for the same arguments. Completeness: the attributions of a sample sum to
    S(x) − S(x'). With ``return_gap=True`` also returns that gap per sample,
    Σ attributions − (S(x) − S(x')), which shrinks as ``n_steps`` grows — except for
    ``"riemann_trapezoid"``: its weights sum to 1 − 1/n (as in Captum, whose maps it
    equals; see :func:`ig_alphas_and_weights`), so its gap tends to −(S(x) − S(x'))/n,
    exactly that on a linear model, and completeness fails by |S(x) − S(x')|/n. Path
    points go through the model ``batch_size`` at a time (None: all at once).
    """
    _calls.check_model_and_x(model, x)
    _checks.optional_batch_size(batch_size)
    baseline = _calls.baseline_like(baseline, x)
    t = _checks.targets(target, len(x), x.device)
    alphas, weights = ig_alphas_and_weights(n_steps, method, dtype=x.dtype)
    alphas, weights = alphas.to(x.device), weights.to(x.device)
    shape = (-1, *[1] * x.dim())
    path = baseline + alphas.view(shape) * (x - baseline)               # (n_steps, N, ...)
    _, g = _calls.scores_and_grads(model, path.reshape(-1, *x.shape[1:]), t.repeat(n_steps), batch_size)
    avg_grad = (weights.view(shape) * g.view(n_steps, *x.shape)).sum(0)  # (N, ...)
    attributions = (x - baseline) * avg_grad
    if not return_gap:
        return attributions
    with torch.no_grad():
        delta = _calls.pick(_calls.forward(model, x), t) - _calls.pick(_calls.forward(model, baseline), t)
    return attributions, attributions.reshape(len(x), -1).sum(1) - delta


# --- class activation maps ------------------------------------------------------------------

def _check_layer(model: nn.Module, layer: nn.Module) -> None:
    if not any(m is layer for m in model.modules()):
        raise _checks.BadInput("layer is not a module of model; pass one of its layers, "
                               "e.g. model.features[-1] (see print(model))")


def _module_path(model: nn.Module, module: nn.Module) -> str:
    """How to reach ``module`` from ``model`` in Python: ``model.layer1[0]``."""
    name = next(n for n, m in model.named_modules() if m is module)
    return "model" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in name.split(".") if p)


def _layer_output(model: nn.Module, layer: nn.Module, x: Tensor,
                  grad: bool = False) -> tuple[Tensor, Tensor]:
    """Model output and the output A of ``layer``.

    The hook hands the rest of the model a copy of A, so an in-place op after the layer
    (``nn.ReLU(inplace=True)``, ResNet's ``out += identity``) overwrites the copy, not A.
    With ``grad=True`` the forward pass records gradients and A is kept in the graph (the
    copy is computed from it); when nothing upstream requires grad (a frozen model, a
    layer that sees the input first) A becomes a leaf that does, so ∂S/∂A exists. The
    model's parameters are never touched.
    """
    seen = []

    def keep(module: nn.Module, inputs, out):
        if not isinstance(out, Tensor):
            raise _checks.BadInput(f"the layer returns {type(out).__name__}, not a tensor; pick a "
                                   "convolutional layer whose output is a feature map (N, K, h, w)")
        if grad and not out.requires_grad:
            out = out.detach().requires_grad_(True)
        seen.append(out)
        return out.clone()

    handle = layer.register_forward_hook(keep)
    try:
        with torch.set_grad_enabled(grad):
            out = _calls.forward(model, x)
    finally:
        handle.remove()
    if not seen:
        raise _checks.BadInput("the layer did not run when the model was called on x, so it has no "
                               "feature map; pick a layer that forward() uses (see print(model))")
    if len(seen) > 1:
        parent = next((n for n, m in model.named_modules()
                       if any(c is layer for c in m.children())), None)
        where = f", e.g. {_module_path(model, model.get_submodule(parent))}" if parent else ""
        raise _checks.BadInput(f"the layer runs {len(seen)} times in one forward pass (a module "
                               "applied more than once, like the ReLU of a torchvision BasicBlock), "
                               f"so it has no single feature map; pick a layer that runs once{where}")
    a = seen[0]
    if a.dim() != 4:
        raise _checks.BadInput(f"the layer's output must be a feature map (N, K, h, w), got "
                               f"{tuple(a.shape)}; pick a convolutional layer")
    return out, a


def _upsample(maps: Tensor, x: Tensor) -> Tensor:
    return F.interpolate(maps, size=x.shape[2:], mode="bilinear", align_corners=False)


def grad_cam(model: nn.Module, x: Tensor, target: int | Tensor, layer: nn.Module,
             upsample: bool = True) -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017, eqs. 1–2): ReLU(Σ_k α_k A^k) with α_k the
    spatial mean of ∂S_target/∂A^k for the feature maps A of ``layer``.

    Returns ``(N, 1, H, W)`` (bilinearly upsampled to x) or, with ``upsample=False``,
    ``(N, 1, h, w)`` at the layer's resolution — equal to Captum's
    ``LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)``. A is the
    layer's own output even when an in-place op follows it, and a frozen model
    (``requires_grad=False`` everywhere) works and stays frozen.
    """
    _calls.check_model_and_x(model, x, min_dim=4)
    _check_layer(model, layer)
    t = _checks.targets(target, len(x), x.device)
    out, a = _layer_output(model, layer, x.detach(), grad=True)
    with torch.enable_grad():
        score = _calls.pick(out, t).sum()
    (g,) = torch.autograd.grad(score, a)
    alpha = g.mean(dim=(2, 3), keepdim=True)                            # (N, K, 1, 1)
    maps = F.relu((alpha * a).sum(1, keepdim=True)).detach()             # (N, 1, h, w)
    return _upsample(maps, x) if upsample else maps


def cam(model: nn.Module, x: Tensor, target: int | Tensor, layer: nn.Module, fc: nn.Linear,
        upsample: bool = True) -> Tensor:
    """Class activation map (Zhou et al. 2016, eq. 2) of a network that ends in
    global average pooling of ``layer``'s maps A followed by the linear layer ``fc``:
    M_c = Σ_k w_{c,k} A^k. Returns ``(N, 1, H, W)`` (or ``(N, 1, h, w)``)."""
    _calls.check_model_and_x(model, x, min_dim=4)
    _check_layer(model, layer)
    if not isinstance(fc, nn.Linear):
        raise _checks.BadInput("fc must be the nn.Linear after the global average pooling")
    t = _checks.targets(target, len(x), x.device)
    out, a = _layer_output(model, layer, x)
    with torch.no_grad():
        _calls.pick(out, t)                                                    # checks the targets
        if a.shape[1] != fc.in_features:
            raise _checks.BadInput(f"layer gives {a.shape[1]} maps but fc expects {fc.in_features} "
                                   "inputs: CAM needs layer → global average pool → fc")
        maps = torch.einsum("nk,nkhw->nhw", fc.weight[t], a)[:, None]
    return _upsample(maps, x) if upsample else maps


# --- perturbation methods -------------------------------------------------------------------

def occlusion(model: nn.Module, x: Tensor, target: int | Tensor, window: int, stride: int,
              baseline: float | Tensor = 0.0, batch_size: int | None = None) -> Tensor:
    """Occlusion (Zeiler & Fergus 2014): slide a ``window``×``window`` patch of
    ``baseline`` over every channel with step ``stride``; a pixel gets the mean drop
    S(x) − S(x with the patch) over the patches that cover it. Windows at the border
    are clipped. Equals Captum's ``Occlusion`` with ``sliding_window_shapes=(C, window,
    window)`` and ``strides=(C, stride, stride)``.

    Occluded copies are made and sent through the model ``batch_size`` at a time; the
    default (None) takes as many as hold about 260,000 input values (a model's
    activations are many times its input) — 4,096 8×8 digits, 655 20×20 shapes, one
    3×224×224 image — so memory stays bounded at every image size."""
    _calls.check_model_and_x(model, x, min_dim=4)
    n, c, h, w = x.shape
    if not (1 <= window <= min(h, w)) or not (1 <= stride <= window):
        raise _checks.BadInput(f"need 1 ≤ window ≤ {min(h, w)} (the image size) and 1 ≤ stride ≤ "
                               f"window, got window={window}, stride={stride}; pick a window no larger "
                               "than the image and a stride ≥ 1")
    _checks.optional_batch_size(batch_size)
    batch_size = batch_size or max(1, 2 ** 18 // x[0].numel())
    baseline = _calls.baseline_like(baseline, x)
    t = _checks.targets(target, n, x.device)
    rows = [i * stride for i in range(math.ceil((h - window) / stride) + 1)]
    cols = [j * stride for j in range(math.ceil((w - window) / stride) + 1)]
    masks = torch.zeros(len(rows) * len(cols), h, w, dtype=x.dtype, device=x.device)
    for p, (r, q) in enumerate((r, q) for r in rows for q in cols):
        masks[p, r:r + window, q:q + window] = 1                       # (P, H, W)
    inside = masks.bool()[:, None]                                      # (P, 1, H, W)

    def one(i: Tensor, p: Tensor) -> Tensor:                            # sample i, patch p
        occluded = torch.where(inside[p], baseline[i], x[i])            # (B, C, H, W)
        return _calls.pick(_calls.forward(model, occluded), t[i])

    with torch.no_grad():
        full = _calls.pick(_calls.forward(model, x), t)                             # (N,)
        i = torch.arange(n, device=x.device).repeat_interleave(len(masks))
        p = torch.arange(len(masks), device=x.device).repeat(n)
        scores = batched(one, i, p, batch_size=batch_size).view(n, -1)  # (N, P)
    drop = full[:, None] - scores                                        # (N, P)
    per_pixel = torch.einsum("np,phw->nhw", drop, masks) / masks.sum(0)
    return per_pixel[:, None].expand(n, c, h, w).clone()


def feature_ablation(model: nn.Module, x: Tensor, target: int | Tensor,
                     feature_mask: Tensor | None, baseline: float | Tensor = 0.0,
                     batch_size: int = 1024) -> Tensor:
    """Feature ablation (occlusion by groups, Zeiler & Fergus 2014): set one group of
    ``feature_mask`` (integer ids 0..M−1 broadcastable to x, e.g. superpixels; None:
    every element alone) to ``baseline`` at a time; every element of group g gets
    S(x) − S(x with g ablated). Equals Captum's ``FeatureAblation`` with the same mask.
    Ablated copies go through the model ``batch_size`` at a time."""
    _calls.check_model_and_x(model, x)
    _checks.positive_int(batch_size, "batch_size")
    mask, m = _checks.feature_mask(feature_mask, x)
    baseline = _calls.baseline_like(baseline, x)
    t = _checks.targets(target, len(x), x.device)
    n = len(x)
    xf, bf, mf = x.reshape(n, -1), baseline.reshape(n, -1), mask.reshape(n, -1)
    rows = torch.arange(n, device=x.device).repeat_interleave(m)         # (N·M,)
    groups = torch.arange(m, device=x.device).repeat(n)                   # (N·M,)

    def one(r: Tensor, g: Tensor) -> Tensor:
        off = mf[r] == g[:, None]                                         # (B, P)
        return _calls.pick(_calls.forward(model, torch.where(off, bf[r], xf[r]).view(-1, *x.shape[1:])), t[r])

    with torch.no_grad():
        full = _calls.pick(_calls.forward(model, x), t)                                # (N,)
        drop = full[:, None] - batched(one, rows, groups, batch_size=batch_size).view(n, m)
    return drop.gather(1, mf).view_as(x)


def blur(x: Tensor, sigma: float = 2.0) -> Tensor:
    """Gaussian blur of a batch ``(N, C, H, W)``, each channel alone (reflect padding)."""
    _checks.tensor(x, "x", dim=4, shape_hint="(N, C, H, W)", finite=False)
    if not sigma > 0:
        raise _checks.BadInput(f"sigma is the blur's standard deviation in pixels and must be > 0, "
                               f"got {sigma!r}")
    radius = max(1, int(math.ceil(3 * sigma)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-k ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    pad = min(radius, x.shape[2] - 1, x.shape[3] - 1)
    k = k[radius - pad: radius + pad + 1]
    k = k / k.sum()
    y = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def meaningful_perturbation(model: nn.Module, x: Tensor, target: int | Tensor,
                            steps: int = 300, lr: float = 0.1, l1: float = 1.0,
                            tv: float = 0.2, mask_size: int | None = None,
                            blur_sigma: float | None = None, seed: int = 0) -> Tensor:
    """Meaningful perturbation (Fong & Vedaldi 2017, eq. 3, the deletion game): find the
    smallest, smoothest region whose blurring destroys the target's probability,

        min_m  l1·‖1 − m‖₁ + tv·TV(m) + p_target(m ⊙ x + (1 − m) ⊙ blur(x)),

    with m ∈ [0, 1] kept at ``mask_size``² resolution (default H/2) and upsampled
    (smoothness); the norms are means over the mask. The blur (σ = H/4 by default) must
    be strong enough to erase a shape, or deleting it costs the class nothing.
    Returns the deletion map 1 − m, ``(N, 1, H, W)``: 1 where the evidence was."""
    _calls.check_model_and_x(model, x, min_dim=4)
    _checks.positive_int(steps, "steps")
    if mask_size is not None:
        _checks.positive_int(mask_size, "mask_size", minimum=2)
    t = _checks.targets(target, len(x), x.device)
    n, _, h, w = x.shape
    size = mask_size or max(2, min(h, w) // 2)
    x = x.detach()
    blurred = blur(x, blur_sigma or min(h, w) / 4)
    gen = torch.Generator().manual_seed(_checks.seed(seed))
    # start half-way (m = 0.5), where the class probability is not yet saturated; a
    # mask started at "keep everything" stays there, its gradient lost in the softmax
    m_logit = (0.01 * torch.randn(n, 1, size, size, generator=gen, dtype=x.dtype)).to(x.device)
    m_logit.requires_grad_(True)
    opt = torch.optim.Adam([m_logit], lr=lr)
    for _ in range(steps):
        with torch.enable_grad():
            small = torch.sigmoid(m_logit)                              # (N, 1, s, s)
            m = _upsample(small, x)                                     # (N, 1, H, W)
            p = _calls.pick(_calls.forward(model, m * x + (1 - m) * blurred).softmax(1), t)
            tv_term = ((small[..., 1:, :] - small[..., :-1, :]).abs().mean(dim=(1, 2, 3)) +
                       (small[..., :, 1:] - small[..., :, :-1]).abs().mean(dim=(1, 2, 3)))
            loss = (l1 * (1 - small).mean(dim=(1, 2, 3)) + tv * tv_term + p).sum()
        # the mask's gradient only: the model's .grad stays as it was, frozen or not
        (m_logit.grad,) = torch.autograd.grad(loss, m_logit)
        opt.step()
    with torch.no_grad():
        return 1 - _upsample(torch.sigmoid(m_logit), x)


def class_model_visualization(model: nn.Module, target: int | Tensor, shape: tuple[int, ...],
                              steps: int = 200, lr: float = 0.1, l2: float = 1e-2,
                              bounds: tuple[float, float] | None = None, device=None,
                              mean: Tensor | float | None = None) -> Tensor:
    """Class model visualisation (Simonyan, Vedaldi & Zisserman 2014, eq. 1): the image
    I that maximises the unnormalised score S_c(I) − l2·‖I − mean‖², by gradient ascent
    from ``mean``. The paper's images are mean-subtracted, so its "zero image" is the
    mean training image: pass ``mean=X_train.mean(0)`` for inputs that are not centred
    (default: zeros). ``bounds=(lo, hi)`` projects I back into the pixel range after every
    step (the paper does not; without it the image can leave the range of real images).
    ``target`` may be a tensor of classes (one image each). Returns
    ``(len(target), *shape)``."""
    _checks.module(model)
    _checks.positive_int(steps, "steps")
    if not (isinstance(shape, (tuple, list)) and all(isinstance(s, int) and s > 0 for s in shape)):
        raise _checks.BadInput(f"shape is one input's shape without the batch dimension, e.g. "
                               f"(1, 8, 8); got {shape!r}")
    param = next(model.parameters(), None)
    device = device or (param.device if param is not None else "cpu")
    dtype = param.dtype if param is not None else torch.float32
    n = len(target) if isinstance(target, Tensor) and target.dim() == 1 else 1
    t = _checks.targets(target, n, device)
    centre = torch.zeros(shape, device=device, dtype=dtype)
    if mean is not None:
        mean = torch.as_tensor(mean, device=device, dtype=dtype)
        if mean.dim() and mean.shape != tuple(shape):
            raise _checks.BadInput(f"mean must be a number or one input of shape {tuple(shape)}, got "
                                   f"{tuple(mean.shape)}; e.g. mean=X_train.mean(0)")
        centre = centre + mean
    img = centre.expand(n, *shape).clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=lr)
    for _ in range(steps):
        with torch.enable_grad():
            score = _calls.pick(_calls.forward(model, img), t)
            loss = -(score - l2 * ((img - centre) ** 2).flatten(1).sum(1)).sum()
        (img.grad,) = torch.autograd.grad(loss, img)    # the image's only: model .grad untouched
        opt.step()
        if bounds is not None:
            with torch.no_grad():
                img.clamp_(*bounds)
    return img.detach()


# --- one door for widgets and tables -------------------------------------------------------

#: Method name → the knobs it takes (used by the widgets and the notebook's tables).
METHODS = {
    "gradient": (),
    "input × gradient": (),
    "SmoothGrad": ("sigma", "n_samples"),
    "Integrated Gradients": ("n_steps", "baseline"),
    "Grad-CAM": (),
    "occlusion": ("window", "stride"),
}


def explain(method: str, model: nn.Module, x: Tensor, target: int | Tensor, *,
            layer: nn.Module | None = None, sigma: float = 0.15, n_samples: int = 50,
            n_steps: int = 50, baseline: Tensor | float | None = None, window: int = 2,
            stride: int = 1, seed: int = 0) -> Tensor:
    """Call the method named ``method`` (a key of :data:`METHODS`) with its knobs.
    Grad-CAM needs ``layer``; its map is upsampled and repeated over x's channels so
    every method returns x's shape."""
    if method not in METHODS:
        raise _checks.BadInput(f"unknown method {method!r}; choose one of {list(METHODS)}")
    _checks.positive_int(n_samples, "n_samples")
    _checks.positive_int(n_steps, "n_steps")
    _checks.seed(seed)
    if method == "gradient":
        return gradient(model, x, target)
    if method == "input × gradient":
        return input_x_gradient(model, x, target)
    if method == "SmoothGrad":
        return smoothgrad(model, x, target, n_samples=n_samples, sigma=sigma, seed=seed)
    if method == "Integrated Gradients":
        return integrated_gradients(model, x, target, baseline, n_steps=n_steps)
    if method == "Grad-CAM":
        if layer is None:
            raise _checks.BadInput("Grad-CAM needs layer=..., e.g. model.features[-1]")
        return grad_cam(model, x, target, layer).expand_as(x).clone()
    return occlusion(model, x, target, window=window, stride=stride,
                     baseline=0.0 if baseline is None else baseline)
