"""Time per saliency method, xaitutor vs Captum, on the same model and inputs.

    python benchmarks/saliency.py            # 64 digits, median of 7 runs; ResNet-18, median of 3
    python benchmarks/saliency.py --quick    # median of 3 runs; ResNet-18: 1 image, one run

The model is the course's digit CNN (8×8 inputs; weights as initialised: speed does not
depend on training). Both sides compute the same thing (checked before timing, to
1e-5 of the map's scale). Also prints how long the notebook's saliency widget takes to
answer a change of method. The issue's bar: ours at most 20 % slower than Captum.

Then a real model: torchvision's ResNet-18 (``weights=None``: random weights, nothing
downloaded; speed does not depend on them), in eval mode with every parameter frozen as
a loaded pretrained model is, on 224×224 images (8 by default). Same maps checked first.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import torchvision
from captum.attr import (InputXGradient, IntegratedGradients, LayerGradCam, NoiseTunnel,
                         Occlusion, Saliency)

from xaitutor import data, models, saliency, widgets

warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


def median_seconds(fn, repeats: int) -> float:
    fn()                                                    # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_median_seconds(ours, peer, repeats: int) -> tuple[float, float]:
    """Median seconds of each, their runs interleaved (ours, peer, ours, ...) so that a
    busy machine slows both sides alike."""
    times = ([], [])
    for _ in range(repeats):
        for fn, out in zip((ours, peer), times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--resnet-batch", type=int, default=None,
                        help="images for the ResNet-18 table (default 8, 1 with --quick; 0: skip)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    torch.manual_seed(0)
    model = models.SmallCNN(1, 10).eval()
    x_all, y_all = data.digits()
    x, t = x_all[:args.batch], y_all[:args.batch]
    layer = model.features[-1]
    up = lambda a: torch.nn.functional.interpolate(a, size=x.shape[2:], mode="bilinear", align_corners=False)

    cases = {
        "gradient": (lambda: saliency.gradient(model, x, t),
                     lambda: Saliency(model).attribute(x, target=t, abs=False)),
        "input × gradient": (lambda: saliency.input_x_gradient(model, x, t),
                             lambda: InputXGradient(model).attribute(x, target=t)),
        "Integrated Gradients (50 steps)": (
            lambda: saliency.integrated_gradients(model, x, t, n_steps=50),
            lambda: IntegratedGradients(model).attribute(x, target=t, n_steps=50)),
        "Grad-CAM (upsampled)": (lambda: saliency.grad_cam(model, x, t, layer),
                                 lambda: up(LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True))),
        "occlusion 2×2, stride 1": (
            lambda: saliency.occlusion(model, x, t, window=2, stride=1),
            lambda: Occlusion(model).attribute(x, target=t, sliding_window_shapes=(1, 2, 2),
                                               strides=(1, 1, 1), perturbations_per_eval=49)),
    }
    # SmoothGrad: same work (50 noisy copies each); Captum draws its own noise, so the maps
    # are compared only for their shape
    spread = (x.flatten(1).max(1).values - x.flatten(1).min(1).values).mean().item()
    cases["SmoothGrad (50 samples)"] = (
        lambda: saliency.smoothgrad(model, x, t, n_samples=50, sigma=0.15),
        lambda: NoiseTunnel(Saliency(model)).attribute(x, target=t, nt_type="smoothgrad",
                                                       nt_samples=50, stdevs=0.15 * spread, abs=False))

    print(f"\n{args.batch} digits (8×8), CPU threads: {torch.get_num_threads()}, median of {repeats}\n")
    print(f"| {'method':32s} | {'xaitutor (ms)':>13s} | {'Captum (ms)':>11s} | {'ours / Captum':>13s} |")
    print(f"|{'-' * 34}|{'-' * 15}|{'-' * 13}|{'-' * 15}|")
    for name, (ours, peer) in cases.items():
        a, b = ours(), peer()
        if not name.startswith("SmoothGrad"):
            assert ((a - b).abs().max() / b.abs().max()).item() < 1e-5, name
        t_ours, t_peer = median_seconds(ours, repeats), median_seconds(peer, repeats)
        print(f"| {name:32s} | {1000 * t_ours:13.2f} | {1000 * t_peer:11.2f} | {t_ours / t_peer:13.2f} |")

    box = widgets.saliency_explorer(model, x, t, layer)
    print("\nsaliency widget: time to answer a change of method (median of 3)")
    for method in ["input × gradient", "SmoothGrad", "Integrated Gradients", "Grad-CAM", "occlusion"]:
        print(f"  {method:22s} {1000 * widgets.time_update(box.controls['method'], method, repeats=3):6.1f} ms")

    n_resnet = args.resnet_batch if args.resnet_batch is not None else (1 if args.quick else 8)
    if n_resnet:
        resnet_table(n_resnet, repeats=1 if args.quick else 3)


def resnet_table(n: int, repeats: int) -> None:
    """Ours vs Captum on a frozen torchvision ResNet-18 at 224×224 (``n`` images)."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)                      # as a loaded pretrained model is
    x = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    t = torch.arange(n) * 97 % 1000
    layer = model.layer4
    up = lambda a: torch.nn.functional.interpolate(a, size=x.shape[2:], mode="bilinear", align_corners=False)
    steps, chunk = 32, 64                            # IG: 64 path images per pass on both sides
    window, stride = 56, 28                          # occlusion: 7 × 7 = 49 windows (Captum:
                                                     # its default, one window per pass)
    cases = {
        "gradient": (lambda: saliency.gradient(model, x, t),
                     lambda: Saliency(model).attribute(x, target=t, abs=False)),
        f"Integrated Gradients ({steps} steps)": (
            lambda: saliency.integrated_gradients(model, x, t, n_steps=steps, batch_size=chunk),
            lambda: IntegratedGradients(model).attribute(x, target=t, n_steps=steps,
                                                         internal_batch_size=chunk)),
        "Grad-CAM, layer4 (upsampled)": (
            lambda: saliency.grad_cam(model, x, t, layer),
            lambda: up(LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True))),
        f"occlusion {window}×{window}, stride {stride}": (
            lambda: saliency.occlusion(model, x, t, window=window, stride=stride),
            lambda: Occlusion(model).attribute(x, target=t, sliding_window_shapes=(3, window, window),
                                               strides=(3, stride, stride))),
    }
    print(f"\nResNet-18 (torchvision, weights=None, eval, frozen), {n} images 224×224, "
          f"CPU threads: {torch.get_num_threads()}, median of {repeats}\n")
    print(f"| {'method':32s} | {'xaitutor (s)':>12s} | {'Captum (s)':>10s} | {'ours / Captum':>13s} "
          f"| {'max |Δ| / max |map|':>19s} |")
    print(f"|{'-' * 34}|{'-' * 14}|{'-' * 12}|{'-' * 15}|{'-' * 21}|")
    for name, (ours, peer) in cases.items():
        a, b = ours(), peer()                        # also the warm-up
        err = ((a - b).abs().max() / b.abs().max()).item()
        assert err < 1e-4, f"{name}: maps differ by {err:.1e} of their scale"
        t_ours, t_peer = paired_median_seconds(ours, peer, repeats)
        print(f"| {name:32s} | {t_ours:12.2f} | {t_peer:10.2f} | {t_ours / t_peer:13.2f} "
              f"| {err:19.0e} |", flush=True)


if __name__ == "__main__":
    main()
