"""Widgets of notebook 05: the latent explorer and the latent sliders."""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import counterfactuals, latent
from ._explorer import Explorer

__all__ = ["latent_explorer", "latent_sliders"]


def latent_explorer(model: torch.nn.Module, vae, x: Tensor, y: Tensor,
                    image_shape: tuple[int, int] = (8, 8), n_frames: int = 6,
                    target: int | None = None) -> widgets.VBox:
    """Pick a digit and a target class: the input-space counterfactual (notebook 04)
    beside the latent one (REVISE or C-CHVAE), and REVISE's path decoded frame by frame.
    ``target``: the class shown first (default 8 when the model has it, else its last
    class)."""
    n = len(x)
    with torch.no_grad():
        n_classes = int(model(x[:1]).shape[1])
    if target is None:
        target = 8 if n_classes > 8 else n_classes - 1
    if not 0 <= target < n_classes:
        raise ValueError(f"target={target} but the model has {n_classes} classes "
                         f"(0..{n_classes - 1})")
    ex = Explorer()
    index = ex.index("digit", n)
    target_w = widgets.Dropdown(options=list(range(n_classes)), value=target, description="target")
    method = widgets.ToggleButtons(options=list(latent.METHODS), value="revise")
    cache: dict[tuple[int, int], tuple] = {}

    def searched(i: int, t: int):
        """The input-space counterfactual and REVISE's recorded walk (kept: switching the
        method back and forth or revisiting a digit answers at once)."""
        if (i, t) not in cache:
            xi = x[i:i + 1]
            space = counterfactuals.optimize(model, xi, t, lam=0.05, distance="l1",
                                             bounds=(0.0, 1.0))
            cache[i, t] = space, latent.counterfactual(model, vae, xi, t, record_path=True)
        return cache[i, t]

    def show():
        i = index.value
        if not ex.index_ok("digit", i, n):
            return
        xi = x[i:i + 1]
        space, walk = searched(i, target_w.value)
        lat = walk if method.value == "revise" else \
            latent.counterfactual(model, vae, xi, target_w.value, method=method.value)
        frames = walk.path[torch.linspace(0, len(walk.path) - 1, n_frames).long(), 0]
        with torch.no_grad():
            decoded = vae.decode(frames)
            labels = model(decoded).argmax(1).tolist()
        fig = Figure(figsize=(10, 3.6), layout="constrained")
        grid = fig.add_gridspec(2, max(n_frames, 3))
        for col, (img, title) in enumerate(((xi[0], "the digit"),
                                            (space.x_cf[0], f"input space: {'✓' if space.valid[0] else '✗'}"),
                                            (lat.x_cf[0], f"{method.value}: {'✓' if lat.valid[0] else '✗'}"))):
            ax = fig.add_subplot(grid[0, col])
            ax.imshow(img.reshape(image_shape).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=11)
        for col in range(n_frames):
            ax = fig.add_subplot(grid[1, col])
            ax.imshow(decoded[col].reshape(image_shape).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"path {col}: says {labels[col]}", fontsize=9)
        for ax in fig.axes:
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
        ex.draw(fig)
        ex.say(f"input-space change L1 {float((space.x_cf - xi).abs().sum()):.1f} · "
               f"latent change L1 {float((lat.x_cf - xi).abs().sum()):.1f}")

    return ex.box([widgets.HBox([index, target_w, method])],
                  {"index": index, "target": target_w, "method": method}, show)


def latent_sliders(vae, model: torch.nn.Module | None = None, image_shape: tuple[int, int] = (8, 8),
                   limit: float = 3.0) -> widgets.VBox:
    """One slider per latent dimension; the decoded image (and the model's label) follow."""
    sliders = [widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=0.1, description=f"z{j + 1}",
                                   continuous_update=True) for j in range(vae.latent_dim)]
    ex = Explorer()
    device = next(vae.parameters()).device

    def show():
        z = torch.tensor([[s.value for s in sliders]], device=device)
        with torch.no_grad():
            img = vae.decode(z)[0]
            label = int(model(img[None]).argmax(1)) if model is not None else None
        fig = Figure(figsize=(2.6, 2.6), layout="constrained")
        ax = fig.add_subplot()
        ax.imshow(img.reshape(image_shape).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ex.draw(fig)
        ex.say("" if label is None else f"the classifier says <b>{label}</b>")

    return ex.box([widgets.HBox([widgets.VBox(sliders), widgets.VBox([ex.image, ex.status])])],
                  {f"z{j + 1}": s for j, s in enumerate(sliders)}, show, place_outputs=False)
