"""Widgets of notebook 07: the superpixel explorer and the coalition explorer."""
from __future__ import annotations

import html
import time
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import _checks, shapley
from ..plotting import OKABE_ITO, plot_attribution, plot_segments
from ._explorer import Explorer

__all__ = ["shapley_explorer", "coalition_explorer", "WIDGET_SAMPLES"]

#: Model calls the explorer spends per estimate (orders for permutation sampling).
WIDGET_SAMPLES = {"permutation sampling": 16, "KernelSHAP": 256, "LIME": 256}


def shapley_explorer(model: torch.nn.Module, x: Tensor, y: Tensor,
                     class_names: Sequence[str] | None = None,
                     n_segments: Sequence[int] = (4, 9, 16, 25), compactness: float = 0.2,
                     baseline: float = 0.0, max_exact: int = 10) -> widgets.VBox:
    """Pick an image, a number of SLIC superpixels and a method; see the superpixels and
    the attribution of the predicted class over them. (SLIC starts from a square grid, so
    on small images only a few ``n_segments`` give different segmentations: about 4, 9,
    16 and 25 superpixels on 8×8 digits.) Exact Shapley values are offered
    up to ``max_exact`` superpixels (2^M model calls); the estimators spend the calls of
    :data:`WIDGET_SAMPLES`. Every result is kept, so a setting seen before answers from
    memory."""
    n = len(x)
    names = list(class_names or [str(i) for i in range(int(y.max()) + 1)])
    ex = Explorer()
    index = ex.index("image", n)
    method = widgets.Dropdown(options=list(shapley.METHODS), value="exact Shapley",
                              description="method")
    segments = widgets.SelectionSlider(options=list(n_segments), value=n_segments[(len(n_segments) - 1) // 2],
                                       description="SLIC n_segments", continuous_update=False,
                                       style={"description_width": "initial"})
    masks: dict = {}
    maps: dict = {}

    def show():
        i = index.value
        if not ex.index_ok("image", i, n):
            return
        start = time.perf_counter()
        xi = x[i:i + 1]
        if (i, segments.value) not in masks:
            masks[i, segments.value] = shapley.superpixels(xi, segments.value, compactness)
        seg = masks[i, segments.value]
        m = int(seg.max()) + 1
        with torch.no_grad():
            scores = model(torch.cat([xi, torch.full_like(xi, baseline)]))
        pred = int(scores[0].argmax())
        gap = (scores[0, pred] - scores[1, pred]).item()
        if method.value == "exact Shapley" and m > max_exact:
            raise ValueError(f"{m} superpixels: exact Shapley values need 2^{m} = {2 ** m:,} model "
                             f"calls; this explorer stops at {max_exact} superpixels — pick "
                             "KernelSHAP or permutation sampling, or fewer superpixels")
        key = (i, segments.value, method.value)
        cached = key in maps
        if not cached:
            maps[key] = shapley.explain(method.value, model, xi, pred, seg, baseline,
                                        n_samples=WIDGET_SAMPLES.get(method.value))
        a = maps[key]
        total = shapley.group_values(a, seg).sum().item()
        fig = Figure(figsize=(7.2, 3.7), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2)
        plot_segments(ax0, xi[0], seg[0, 0], title=f"{m} superpixels (SLIC)")
        plot_attribution(ax1, xi[0], a[0], title=f"{method.value} for '{names[pred]}'", signed=True)
        ex.draw(fig)
        ms = 1000 * (time.perf_counter() - start)
        ex.say(f"predicted <b>{html.escape(names[pred])}</b> · true <b>{html.escape(names[int(y[i])])}</b>"
               f" · Σ attributions {total:+.2f} vs f(x) − f(baseline) {gap:+.2f}"
               f' <span style="color:gray">({ms:.0f} ms{", kept from before" if cached else ""})</span>')

    return ex.box([widgets.HBox([index, method]), segments],
                  {"index": index, "method": method, "n_segments": segments}, show)


def coalition_explorer(model: torch.nn.Module, x: Tensor, target: int,
                       feature_mask: Tensor | None = None, names: Sequence[str] | None = None,
                       baseline: float | Tensor = 0.0) -> widgets.VBox:
    """One sample ``x`` (1, ...): tick the features in the coalition S (the others take
    the baseline's values) and watch v(S) = f(x_S) and each feature's marginal
    contribution to S — v(S ∪ i) − v(S) for a feature outside, v(S) − v(S ∖ i) for one
    inside — beside its Shapley value (the average of those contributions over every
    coalition, weighted). ``box.last`` holds the numbers of the current picture."""
    if not isinstance(x, Tensor) or x.dim() < 2 or len(x) != 1:
        raise ValueError(f"x must be one sample with its batch dimension, e.g. x[i:i + 1]; got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    groups, m = _checks.feature_mask(feature_mask, x)
    names = list(names) if names is not None else [f"x{j}" for j in range(m)]
    if len(names) != m:
        raise ValueError(f"names has {len(names)} entries but there are {m} features")
    phi = shapley.group_values(shapley.exact(model, x, target, feature_mask, baseline),
                               groups)[0].double().cpu()
    ex = Explorer()
    ticks = {name: widgets.Checkbox(value=True, description=name, indent=False,
                                    layout={"width": "170px"}) for name in names}
    ends = shapley.coalition_values(model, x, target, torch.tensor([[False] * m, [True] * m]),
                                    feature_mask, baseline)[0].double().cpu()
    last: dict = {"shapley": phi}                     # what the picture shows, for tests

    def show():
        s = torch.tensor([box.value for box in ticks.values()])
        flips = s.expand(m, m).clone()
        flips[torch.arange(m), torch.arange(m)] ^= True                  # S with i toggled
        v = shapley.coalition_values(model, x, target, torch.cat([s[None], flips]),
                                     feature_mask, baseline)[0].double().cpu()
        marginal = torch.where(s, v[0] - v[1:], v[1:] - v[0])             # i's contribution to S
        last.update(coalition=s, value=v[0].item(), marginal=marginal)
        fig = Figure(figsize=(8.0, 0.45 * m + 1.6), layout="constrained")
        ax = fig.subplots()
        pos = np.arange(m)[::-1]
        colours = [OKABE_ITO[0] if on else OKABE_ITO[1] for on in s.tolist()]
        ax.barh(pos, marginal.numpy(), color=colours, height=0.6)
        ax.scatter(phi.numpy(), pos, marker="D", color="black", zorder=3, label="Shapley value")
        ax.axvline(0, color="gray", lw=1)
        ax.set_yticks(pos, names)
        ax.set(xlabel="marginal contribution to S", title=f"v(S) = f(x_S) = {v[0]:.2f}")
        ax.legend(loc="lower right", frameon=False)
        ex.draw(fig)
        ex.say(f"S holds {int(s.sum())} of {m} features (blue: in S, orange: out) · v(∅) = "
               f"{ends[0]:.2f}, v(all) = {ends[1]:.2f} · Σ Shapley values = {phi.sum():.2f} = "
               "v(all) − v(∅)")

    box = ex.box([widgets.HBox(list(ticks.values()), layout={"flex_flow": "row wrap"})],
                 {f"{name} in S": w for name, w in ticks.items()}, show)
    box.last = last
    return box
