"""Widgets of notebook 02: the saliency explorer and the deletion/insertion explorer."""
from __future__ import annotations

import html
import time
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import metrics, saliency
from ..plotting import OKABE_ITO, plot_attribution
from ._explorer import Explorer

__all__ = ["saliency_explorer", "deletion_explorer", "BASELINES"]

BASELINES = ("black", "blurred", "uniform noise")


def _baseline(name: str, x: Tensor) -> Tensor:
    if name == "black":
        return torch.zeros_like(x)
    if name == "blurred":
        return saliency.blur(x, 1.5)
    return torch.rand(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype).to(x.device)


def saliency_explorer(model: torch.nn.Module, x: Tensor, y: Tensor, layer: torch.nn.Module,
                      class_names: Sequence[str] | None = None) -> widgets.VBox:
    """Pick an image, a method and its knob (σ, n_steps, baseline, window); see the map
    over the image, for the predicted class. Answers in well under 100 ms for the
    MNIST CNN on a laptop CPU (occlusion's window starts at a seventh of the image side and slides by half a window)."""
    n = len(x)
    names = list(class_names or [str(i) for i in range(int(y.max()) + 1)])
    ex = Explorer()
    index = ex.index("image", n)
    method = widgets.Dropdown(options=list(saliency.METHODS), value="gradient", description="method")
    sigma = widgets.FloatSlider(value=0.15, min=0.0, max=0.5, step=0.05, description="σ (SmoothGrad)",
                                continuous_update=False, style={"description_width": "initial"})
    n_steps = widgets.IntSlider(value=32, min=2, max=128, description="n_steps (IG)",
                                continuous_update=False, style={"description_width": "initial"})
    baseline = widgets.Dropdown(options=BASELINES, value="black", description="baseline (IG)",
                                style={"description_width": "initial"})
    window = widgets.IntSlider(value=max(2, min(x.shape[2:]) // 7), min=1, max=min(x.shape[2:]), description="window (occlusion)",
                               continuous_update=False, style={"description_width": "initial"})
    knobs = {"sigma": sigma, "n_steps": n_steps, "baseline": baseline, "window": window}

    def show():
        for name, w in knobs.items():
            w.disabled = name not in saliency.METHODS[method.value]
        i = index.value
        if not ex.index_ok("image", i, n):
            return
        xi = x[i:i + 1]
        start = time.perf_counter()
        with torch.no_grad():
            pred = int(model(xi).argmax(1))
        a = saliency.explain(method.value, model, xi, pred, layer=layer, sigma=sigma.value,
                             n_steps=n_steps.value, baseline=_baseline(baseline.value, xi),
                             window=window.value, stride=max(1, window.value // 2), n_samples=50)
        fig = Figure(figsize=(6.4, 3.6), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2)
        plot_attribution(ax0, xi[0], torch.zeros_like(xi[0]), title=f"label {names[int(y[i])]}", alpha=0)
        plot_attribution(ax1, xi[0], a[0], title=f"{method.value} for {names[pred]}")
        ex.draw(fig)
        ms = 1000 * (time.perf_counter() - start)
        ex.say(f'predicted <b>{html.escape(names[pred])}</b> · true '
               f'<b>{html.escape(names[int(y[i])])}</b> <span style="color:gray">({ms:.0f} ms)</span>')

    return ex.box([widgets.HBox([index, method]), widgets.HBox([sigma, n_steps]),
                   widgets.HBox([baseline, window])],
                  {"index": index, "method": method, **knobs}, show)


def deletion_explorer(model: torch.nn.Module, x: Tensor, y: Tensor, layer: torch.nn.Module,
                      n_steps: int = 16) -> widgets.VBox:
    """Delete (or insert) pixels in the order a method ranks them and watch the class
    probability: the curve, its area (AUC) and the image at the chosen step."""
    n = len(x)
    ex = Explorer()
    index = ex.index("image", n)
    method = widgets.Dropdown(options=[*saliency.METHODS, "random order"], value="gradient",
                              description="method")
    mode = widgets.ToggleButtons(options=["deletion", "insertion"], value="deletion")
    step = widgets.IntSlider(value=n_steps // 4, min=0, max=n_steps, description="step",
                             continuous_update=False)

    def show():
        i = index.value
        if not ex.index_ok("image", i, n):
            return
        xi, t = x[i:i + 1], y[i:i + 1]
        if method.value == "random order":
            a = torch.rand(xi.shape, generator=torch.Generator().manual_seed(i)).to(xi.device)
        else:
            a = saliency.explain(method.value, model, xi, t, layer=layer)
        curve = metrics.deletion_curve(model, xi, t, a, n_steps=n_steps, mode=mode.value)[0].cpu()
        area = metrics.auc(curve[None]).item()
        shown = metrics.deletion_images(xi, a, n_steps, mode.value)[0, step.value]     # what the curve scored
        fig = Figure(figsize=(7.5, 3.4), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2, width_ratios=[1.6, 1])
        fractions, curve = torch.linspace(0, 1, n_steps + 1).numpy(), curve.numpy()
        ax0.plot(fractions, curve, marker="o", color=OKABE_ITO[0])
        ax0.fill_between(fractions, curve, alpha=0.2, color=OKABE_ITO[0])
        ax0.axvline(step.value / n_steps, color="k", ls=":")
        ax0.set(xlabel=f"fraction of pixels {'deleted' if mode.value == 'deletion' else 'inserted'}",
                ylabel="class probability", ylim=(0, 1.02), title=f"AUC = {area:.2f}")
        ax1.imshow(shown.mean(0).cpu().numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax1.set(xticks=[], yticks=[], title=f"step {step.value}/{n_steps}")
        ex.draw(fig)
        better = "lower" if mode.value == "deletion" else "higher"
        ex.say(f"{mode.value} AUC <b>{area:.2f}</b> ({better} is more faithful)")

    return ex.box([widgets.HBox([index, method, mode]), step],
                  {"index": index, "method": method, "mode": mode, "step": step}, show)
