"""Widget of notebook 03: the influence explorer."""
from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import influence, metrics
from ..plotting import OKABE_ITO, image_shape as _image_shape, plot_montage
from ._explorer import Explorer

__all__ = ["influence_explorer"]


def influence_explorer(model: torch.nn.Module, loss_fn, train: tuple[Tensor, Tensor],
                       test: tuple[Tensor, Tensor], loo_indices: Tensor, loo_thetas: Tensor,
                       l2: float = 1e-2, image_shape: tuple[int, int] | None = None,
                       class_names: Sequence[str] | None = None, top: int = 4) -> widgets.VBox:
    """Pick a test point and a solver (with its damping and LiSSA depth): see the most
    helpful and most harmful training images, and the predicted against the actual
    change of the test loss for the training points retrained without
    (``loo_indices`` with their retrained parameters ``loo_thetas``)."""
    (X, Y), (Xt, Yt), image_shape = train, test, _image_shape(train[0][0].numel(), image_shape)
    names = list(class_names or [str(c) for c in range(int(Y.max()) + 1)])
    ex = Explorer()
    index = ex.index("image", len(Xt))
    method = widgets.Dropdown(options=list(influence.METHODS), value="exact", description="solver")
    damping = widgets.SelectionSlider(options=(0.0, 0.001, 0.01, 0.1, 1.0), value=0.0,
                                      description="damping", continuous_update=False)
    depth = widgets.SelectionSlider(options=(10, 50, 200, 1000), value=200,
                                    description="LiSSA depth", continuous_update=False,
                                    style={"description_width": "initial"})
    actual_all = influence.loss_change(model, loss_fn, loo_thetas, test)      # (n_test, K)
    shared = influence.Influence(model, loss_fn, train, l2)   # gradients, Hessian, factors: once
    cache: dict[tuple, Tensor] = {}             # scores per (test point, solver settings)

    def show():
        depth.disabled = method.value != "lissa"
        i = index.value
        if not ex.index_ok("test point", i, len(Xt)):
            return
        key = (i, method.value, damping.value, depth.value if method.value == "lissa" else None)
        if key not in cache:
            cache[key] = shared.scores((Xt[i:i + 1], Yt[i:i + 1]), method=method.value,
                                       damping=damping.value, lissa_depth=depth.value,
                                       progress=False)[0]
        ex.remembered(key, lambda: picture(i, cache[key]))

    def picture(i: int, scores: Tensor) -> None:
        """The scatter of predicted against actual, the test image and one montage of the
        most helpful and harmful training images (three axes: drawing ten took 135 ms)."""
        order = scores.argsort()
        pred, actual = scores[loo_indices].cpu(), actual_all[i].cpu()
        r = metrics.pearson(pred, actual)
        fig = Figure(figsize=(11, 3.6), layout="constrained")
        grid = fig.add_gridspec(1, 7)
        ax = fig.add_subplot(grid[0, :2])
        lim = float(torch.cat([pred, actual]).abs().max()) * 1.1 or 1.0
        unit = 10.0 ** math.floor(math.log10(lim))          # axes in units of 10^k, said in the labels
        ax.scatter(actual.numpy() / unit, pred.numpy() / unit, s=18, color=OKABE_ITO[0])
        ax.plot([-lim / unit, lim / unit], [-lim / unit, lim / unit], color="k", ls=":", lw=1)
        ax.set(xlabel=f"actual change (retrained), ×{unit:.0e}", ylabel=f"predicted, ×{unit:.0e}",
               title=f"Pearson r = {r:.2f}")
        ax_t = fig.add_subplot(grid[0, 2])
        ax_t.imshow(Xt[i].reshape(image_shape).cpu().numpy(), cmap="gray")
        ax_t.set_title(f"test: {names[int(Yt[i])]}")
        best = {"helpful": order.flip(0)[:top].tolist(), "harmful": order[:top].tolist()}
        plot_montage(fig.add_subplot(grid[0, 3:]),
                     [[X[j].reshape(image_shape).cpu().numpy() for j in idx] for idx in best.values()],
                     [[f"{label} {names[int(Y[j])]}" for j in idx] for label, idx in best.items()],
                     [[OKABE_ITO[2] if label == "helpful" else OKABE_ITO[5]] * len(idx)
                      for label, idx in best.items()])
        ax_t.set(xticks=[], yticks=[])
        ax_t.grid(False)
        ex.draw(fig)
        ex.say(f"{method.value}: most helpful point {int(order[-1])} "
               f"({scores[order[-1]].item():+.2e}), most harmful {int(order[0])} "
               f"({scores[order[0]].item():+.2e}); predicted vs actual r = {r:.2f}")

    return ex.box([widgets.HBox([index, method]), widgets.HBox([damping, depth])],
                  {"index": index, "method": method, "damping": damping, "depth": depth}, show)
