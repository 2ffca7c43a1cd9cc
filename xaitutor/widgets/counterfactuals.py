"""Widgets of notebook 04: the counterfactual explorer (tabular) and the path explorer (2-D)."""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from .. import counterfactuals, data
from ..constraints import Constraints
from ..plotting import OKABE_ITO, plot_decision_regions
from ._explorer import Explorer

__all__ = ["counterfactual_explorer", "path_explorer"]


def counterfactual_explorer(model: torch.nn.Module, x: Tensor, encoder: data.TabularEncoder,
                            X_train: Tensor, y_train: Tensor, target: int = 1,
                            one_way: dict[int, int] | None = None,
                            immutable: Sequence[str] = ()) -> widgets.VBox:
    """Pick an applicant (a row of ``x``), tick the features that may not change, move λ
    (proximity) and μ (sparsity): see the counterfactual as a before/after table with
    its metrics. ``immutable``: the features ticked at first (names of ``encoder``'s
    columns; the notebook ticks age and sex)."""
    n = len(x)
    columns = list(encoder.numeric) + list(encoder.categorical)
    ex = Explorer(out="view")
    index = ex.index("applicant", n)
    frozen = {c: widgets.Checkbox(value=c in immutable, description=c, indent=False,
                                  layout={"width": "150px"}) for c in columns}
    lam = widgets.SelectionSlider(options=(0.0, 0.01, 0.1, 1.0), value=0.1, description="λ",
                                  continuous_update=False)
    mu = widgets.SelectionSlider(options=(0.0, 0.01, 0.1, 0.5), value=0.0, description="μ",
                                 continuous_update=False)
    mads, bounds = counterfactuals.mad(X_train), encoder.bounds(X_train)

    def rules(immutable: tuple[int, ...]) -> Constraints:
        return Constraints(immutable=immutable, one_way=one_way, bounds=bounds,
                           categorical=encoder.categorical_groups)
    with torch.no_grad():
        todo = (model(x).argmax(1) != target).nonzero().flatten()     # rows to explain
    row_of = {int(i): r for r, i in enumerate(todo)}
    cache: dict[tuple, tuple] = {}

    def searched(immutable: tuple[int, ...]):
        """Every applicant's counterfactual for these settings, in one batched search
        (rows are independent: the same answers as one at a time, for the time of one),
        kept, so moving between applicants or back to a setting answers at once."""
        key = (immutable, lam.value, mu.value)
        if key not in cache:
            cache[key] = counterfactuals.optimize(model, x[todo], target, lam=lam.value, mu=mu.value,
                                                  mad=mads, constraints=rules(immutable),
                                                  search=counterfactuals.Search(steps=200))
        return cache[key]

    def show():
        i = index.value
        if not ex.index_ok("applicant", i, n):
            return
        if i not in row_of:
            raise ValueError(f"applicant {i} is already predicted as class {target}: nothing to "
                             "change; choose another applicant")
        immutable = tuple(j for c, box in frozen.items() if box.value for j in encoder.columns_of(c))
        r, row = searched(immutable), row_of[i]
        m = counterfactuals.metrics(model, x[i:i + 1], r.x_cf[row:row + 1], target, X_train, y_train,
                                    mad=mads, constraints=rules(immutable))
        locked = [c for c, box in frozen.items() if box.value]
        verdict = "✓ approved" if bool(r.valid[row]) else "✗ still rejected (no valid counterfactual found)"
        ex.say(encoder.compare_html(x[i], r.x_cf[row], locked) +
               f"<p style='font-size:1.1em'>{verdict} · features changed "
               f"{m['sparsity']:.0f} · MAD distance {m['proximity_mad']:.2f} · "
               f"LOF inlier {'yes' if m['plausibility_lof'] == 1 else 'no'} · "
               f"nearer a target-class applicant "
               f"{'yes' if m.get('closer_to_target', 0) == 1 else 'no'}</p>")

    return ex.box([widgets.HBox([index, lam, mu]), widgets.HTML("<b>may not change:</b>"),
                   widgets.HBox(list(frozen.values()), layout={"flex_flow": "row wrap"})],
                  {"index": index, "lam": lam, "mu": mu,
                   **{f"freeze {c}": w for c, w in frozen.items()}}, show)


def path_explorer(model: torch.nn.Module, X: Tensor, y: Tensor, target: int = 1) -> widgets.VBox:
    """The 2-D toy: choose a start point, λ (squared-L2 proximity: moves both
    coordinates), μ and its kind (L1: the elastic net; L0: a price per coordinate moved),
    and watch the optimiser's path to the decision boundary and beyond."""
    lo, hi = X.min(0).values, X.max(0).values
    sx = widgets.FloatSlider(value=float(lo[0] + 0.25 * (hi[0] - lo[0])), min=float(lo[0]), max=float(hi[0]),
                             step=0.05, description="start x₁", continuous_update=False)
    sy = widgets.FloatSlider(value=float(lo[1] + 0.75 * (hi[1] - lo[1])), min=float(lo[1]), max=float(hi[1]),
                             step=0.05, description="start x₂", continuous_update=False)
    lam = widgets.SelectionSlider(options=(0.0, 0.01, 0.1, 1.0), value=0.1, description="λ",
                                  continuous_update=False)
    mu = widgets.SelectionSlider(options=(0.0, 1.0, 3.0, 10.0), value=0.0, description="μ",
                                 continuous_update=False)
    kind = widgets.ToggleButtons(options=("l1", "l0"), value="l1", description="sparsity")
    ex = Explorer()
    background: dict = {}

    def scene() -> dict:
        """The decision regions and the data never change: draw them once, keep the pixels."""
        if not background:
            fig = Figure(figsize=(5.6, 4.6))
            ax = fig.add_subplot()
            plot_decision_regions(ax, lambda p: model(p).argmax(1), X, y, title="counterfactual search")
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            background.update(pixels=np.asarray(canvas.buffer_rgba()).copy(), dpi=fig.dpi,
                              position=ax.get_position(), xlim=ax.get_xlim(), ylim=ax.get_ylim())
        return background

    def show():
        start = torch.tensor([[sx.value, sy.value]], dtype=X.dtype, device=X.device)
        r = counterfactuals.optimize(model, start, target, lam=lam.value, mu=mu.value,
                                     distance="l2", sparsity=kind.value,
                                     search=counterfactuals.Search(steps=150, record_path=True))
        bg = scene()
        fig = Figure(figsize=(5.6, 4.6), dpi=bg["dpi"], layout="none")
        fig.figimage(bg["pixels"], origin="upper")                # the cached scene, pixel for pixel
        ax = fig.add_axes(bg["position"], zorder=1)               # above the scene
        ax.set(xlim=bg["xlim"], ylim=bg["ylim"])
        ax.set_axis_off()                                         # the scene has the frame and labels
        p = r.path[:, 0].cpu().numpy()
        ax.plot(p[:, 0], p[:, 1], color="k", lw=2)
        ax.scatter(*p[0], s=90, color="white", edgecolor="k", zorder=3, label="start")
        ax.scatter(*p[-1], s=140, marker="*", color=OKABE_ITO[5], edgecolor="k", zorder=3,
                   label="counterfactual")
        ax.legend(loc="lower right", fontsize=12)
        ex.draw(fig, dpi=bg["dpi"])
        moved = (r.x_cf[0] - start[0]).abs()
        ex.say(f"{'✓ valid' if bool(r.valid[0]) else '✗ not valid'} · moved "
               f"Δx₁ = {moved[0]:.2f}, Δx₂ = {moved[1]:.2f}")

    return ex.box([widgets.HBox([sx, sy]), widgets.HBox([lam, mu, kind])],
                  {"x1": sx, "x2": sy, "lam": lam, "mu": mu, "sparsity": kind}, show)
