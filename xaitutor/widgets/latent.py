"""Widgets of notebook 05: the latent explorer and the latent sliders."""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import counterfactuals, latent
from ..constraints import Constraints
from ..plotting import image_shape as _image_shape, plot_montage
from ._explorer import Explorer

__all__ = ["latent_explorer", "latent_sliders"]


def _first_target(model: torch.nn.Module, x: Tensor, target: int | None) -> tuple[int, int]:
    """The class shown first (default 8 when the model has it, else its last class) and
    the number of classes."""
    with torch.no_grad():
        n_classes = int(model(x[:1]).shape[1])
    if target is None:
        target = 8 if n_classes > 8 else n_classes - 1
    if not 0 <= target < n_classes:
        raise ValueError(f"target={target} but the model has {n_classes} classes "
                         f"(0..{n_classes - 1})")
    return target, n_classes


def _search_all(model: torch.nn.Module, vae, x: Tensor, predicted: Tensor, kind: str, t: int):
    """Every digit's input-space or REVISE counterfactual toward ``t`` (the digits not
    already predicted as ``t``) in one batched call. Returns (result, row of each digit)."""
    todo = (predicted != t).nonzero().flatten()
    rows = torch.full((len(x),), -1, dtype=torch.long)
    rows[todo.cpu()] = torch.arange(len(todo))
    if kind == "input space":
        found = counterfactuals.optimize(model, x[todo], t, lam=0.05, distance="l1",
                                         constraints=Constraints(bounds=(0.0, 1.0)),
                                         search=counterfactuals.Search(polish=False))  # 784 single-pixel moves a round: off
    else:
        found = latent.counterfactual(model, vae, x[todo], t, method=kind,
                                      search=counterfactuals.Search(record_path=kind == "revise"))
    return found, rows


def latent_explorer(model: torch.nn.Module, vae, x: Tensor, y: Tensor,
                    image_shape: tuple[int, int] | None = None, n_frames: int = 6,
                    target: int | None = None) -> widgets.VBox:
    """Pick a digit and a target class: the input-space counterfactual (notebook 04)
    beside the latent one (REVISE or C-CHVAE), and REVISE's path decoded frame by frame.
    ``target``: the class shown first (default 8 when the model has it, else its last
    class)."""
    n = len(x)
    image_shape = _image_shape(x[0].numel(), image_shape)          # None: the square the pixels fill
    target, n_classes = _first_target(model, x, target)
    ex = Explorer()
    index = ex.index("digit", n)
    target_w = widgets.Dropdown(options=list(range(n_classes)), value=target, description="target")
    method = widgets.ToggleButtons(options=list(latent.METHODS), value="revise")
    cache: dict[tuple, object] = {}
    with torch.no_grad():
        predicted = model(x).argmax(1)

    def searched(kind: str, t: int):
        """All digits' counterfactuals toward ``t``, searched the first time they are asked
        for: other digits, and switching back, answer at once."""
        if (kind, t) not in cache:
            cache[kind, t] = _search_all(model, vae, x, predicted, kind, t)
        return cache[kind, t]

    def show():
        i, t = index.value, target_w.value
        if not ex.index_ok("digit", i, n):
            return
        if int(predicted[i]) == t:
            raise ValueError(f"digit {i} is already predicted as {t}: nothing to change — "
                             "choose another target or another digit")
        ex.remembered((i, t, method.value), lambda: picture(i, t))

    def picture(i: int, t: int) -> None:
        xi = x[i:i + 1]
        (space, r), (walk, _) = searched("input space", t), searched("revise", t)
        if method.value == "revise":
            lat, row = walk, int(r[i])
        else:                      # C-CHVAE's shells grow until the slowest row is done: one digit at a time
            if ("cchvae", t, i) not in cache:
                cache["cchvae", t, i] = latent.counterfactual(model, vae, xi, t, method="cchvae",
                                                              n_candidates=100, radius_step=0.25)
            lat, row = cache["cchvae", t, i], 0
        i = int(r[i])                                             # its row in the batched results
        frames = walk.path[torch.linspace(0, len(walk.path) - 1, n_frames).long(), i]
        with torch.no_grad():
            decoded = vae.decode(frames)
            labels = model(decoded).argmax(1).tolist()
        fig = Figure(figsize=(10, 3.6), layout="constrained")
        shown = ((xi[0], "the digit"),
                 (space.x_cf[i], f"input space: {'✓' if space.valid[i] else '✗'}"),
                 (lat.x_cf[row], f"{method.value}: {'✓' if lat.valid[row] else '✗'}"))
        as_image = lambda v: v.reshape(image_shape).cpu().numpy()        # noqa: E731
        plot_montage(fig.add_subplot(), [[as_image(v) for v, _ in shown], [as_image(v) for v in decoded]],
                     [[name for _, name in shown], [f"path {k}: says {labels[k]}" for k in range(n_frames)]],
                     vmin=0, vmax=1, fontsize=12)
        ex.draw(fig)
        ex.say(f"input-space change L1 {float((space.x_cf[i] - xi[0]).abs().sum()):.1f} · "
               f"latent change L1 {float((lat.x_cf[row] - xi[0]).abs().sum()):.1f}")

    return ex.box([widgets.HBox([index, target_w, method])],
                  {"index": index, "target": target_w, "method": method}, show)


def latent_sliders(vae, model: torch.nn.Module | None = None, image_shape: tuple[int, int] | None = None,
                   limit: float = 3.0) -> widgets.VBox:
    """One slider per latent dimension; the decoded image (and the model's label) follow."""
    sliders = [widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=0.1, description=f"z{j + 1}",
                                   continuous_update=True) for j in range(vae.latent_dim)]
    ex = Explorer()
    device = next(vae.parameters()).device
    with torch.no_grad():
        n_pixels = vae.decode(torch.zeros(1, vae.latent_dim, device=device))[0].numel()
    image_shape = _image_shape(n_pixels, image_shape)                 # None: the square the pixels fill

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
