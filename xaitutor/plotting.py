"""Plots fit for a projector: large fonts, colour-blind-safe colours (Okabe & Ito)."""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from torch import Tensor
from . import _checks

__all__ = ["use_projector_style", "OKABE_ITO", "principal_plane", "plot_decision_regions",
           "plot_grouped_bars", "plot_curves", "figure_to_png", "plot_attribution",
           "shared_scale", "segment_edges", "plot_segments", "plot_montage", "image_shape"]

# Okabe & Ito (2008), "Color universal design": distinguishable by every common form of
# colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000"]


def use_projector_style(font_size: int = 14, dpi: int = 80) -> None:
    """Matplotlib defaults for a lecture hall: big text, thick lines, safe colours.

    ``dpi`` sets the inline figure resolution (small files in committed notebooks). In a
    Jupyter kernel whose matplotlib backend is a non-interactive one (``MPLBACKEND=Agg``
    exported in the shell, common on servers and CI), it switches to the inline backend,
    so the notebook still shows its figures.
    """
    _inline_in_jupyter()
    matplotlib.rcParams.update({
        "font.size": font_size, "axes.titlesize": font_size + 2,
        "axes.labelsize": font_size, "legend.fontsize": font_size - 2,
        "xtick.labelsize": font_size - 2, "ytick.labelsize": font_size - 2,
        "lines.linewidth": 2.5, "lines.markersize": 7,
        "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.3, "figure.dpi": dpi, "savefig.dpi": dpi,
        "figure.constrained_layout.use": True, "image.cmap": "viridis",
    })


def _inline_in_jupyter() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or "IPKernelApp" not in shell.config:
        return                                           # a terminal or a script: leave it
    if matplotlib.get_backend().lower() in ("agg", "pdf", "ps", "svg", "cairo", "template"):
        shell.run_line_magic("matplotlib", "inline")


def principal_plane(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(d,)`` and the two leading principal directions ``(2, d)`` of ``x``
    (signs fixed so the largest entry of each direction is positive)."""
    mean = x.mean(0)
    _, _, vt = torch.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:2]
    signs = torch.sign(basis.gather(1, basis.abs().argmax(1, keepdim=True)))
    return mean, basis * signs


def plot_decision_regions(ax: plt.Axes, predict: Callable[[Tensor], Tensor], x: Tensor,
                          y: Tensor, title: str = "", resolution: int = 120,
                          labels: Sequence[str] = ("class 0", "class 1")) -> None:
    """Shade a plane by ``predict(points) -> class indices`` and scatter ``(x, y)``.

    With 2 input features the plane is the input plane. With more, it is the plane
    through the data mean spanned by the two leading principal directions; the points
    are drawn at their projections (so a point may sit in the "wrong" region because it
    lies off the plane). Mistakes of ``predict`` on ``x`` are black crosses.
    """
    if x.dim() != 2 or x.shape[1] < 2:
        raise _checks.BadInput(f"decision regions need x of shape (n, d ≥ 2), got {tuple(x.shape)}")
    xc, y_cpu = x.detach().float().cpu(), y.detach().cpu()
    if xc.shape[1] == 2:
        mean, basis = torch.zeros(2), torch.eye(2)
        axis_labels = ("$x_1$", "$x_2$")
    else:
        mean, basis = principal_plane(xc)
        axis_labels = ("principal direction 1", "principal direction 2")
    z = (xc - mean) @ basis.T                                   # (n, 2) plane coordinates
    lo, hi = z.min(0).values, z.max(0).values
    pad = 0.05 * (hi - lo)
    g0 = torch.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    g1 = torch.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    grid = torch.cartesian_prod(g1, g0).flip(1)                 # (res², 2), row-major
    with torch.no_grad():
        points = (mean + grid @ basis).to(x.device, x.dtype)     # back to input space
        regions = predict(points).cpu().view(resolution, resolution)
        pred = predict(x).cpu()
    ax.contourf(g0.numpy(), g1.numpy(), regions.numpy(), levels=[-0.5, 0.5, 1.5],
                cmap=ListedColormap(OKABE_ITO[:2]), alpha=0.25)
    z = z.numpy()
    for cls in (0, 1):
        sel = (y_cpu == cls).numpy()
        ax.scatter(z[sel, 0], z[sel, 1], s=10, color=OKABE_ITO[cls], label=labels[cls])
    wrong = (pred != y_cpu).numpy()
    if wrong.any():
        ax.scatter(z[wrong, 0], z[wrong, 1], marker="x", s=40, color="black", label="mistake")
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    ax.grid(False)


def plot_grouped_bars(ax: plt.Axes, table: Mapping[str, Mapping[str, float]],
                      ylabel: str = "task accuracy", ylim: tuple[float, float] = (0.5, 1.0),
                      annotate: bool = True) -> None:
    """Grouped bar chart of ``table[group][series] = value`` (e.g. data set → model)."""
    groups = list(table)
    series = list(dict.fromkeys(s for g in groups for s in table[g]))
    width = 0.8 / len(series)
    for i, s in enumerate(series):
        vals = [table[g].get(s, np.nan) for g in groups]
        pos = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        bars = ax.bar(pos, vals, width, label=s, color=OKABE_ITO[i % len(OKABE_ITO)])
        if annotate:
            ax.bar_label(bars, labels=[f"{v:.2f}" for v in vals], fontsize=12, padding=2)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set(ylabel=ylabel, ylim=ylim)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def plot_curves(ax: plt.Axes, curves: Mapping[str, Sequence[float]], xlabel: str,
                ylabel: str, title: str = "") -> None:
    """One marked line per entry of ``curves``, x = 0, 1, 2, ..."""
    markers = "osD^vP*X"
    for i, (name, ys) in enumerate(curves.items()):
        ax.plot(range(len(ys)), ys, marker=markers[i % len(markers)], label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.set_xticks(range(max(len(v) for v in curves.values())))
    ax.legend()


def plot_attribution(ax: plt.Axes, image: Tensor, attribution: Tensor, title: str = "",
                     alpha: float = 0.65, colorbar: bool = False, signed: bool | None = None,
                     scale: float | None = None) -> None:
    """A map over its image: the image in grey, the map on top. Signed maps use a
    diverging blue–red scale centred on 0 (red: evidence for the class); maps that are
    never negative use viridis — unless ``signed=True``, which keeps the diverging scale
    (a row of signed maps where one happens to be all positive). ``scale`` is the colour
    limit (±scale, or 0..scale): give maps that are compared by magnitude the same one
    (:func:`shared_scale`); by default each map is scaled to its own largest value.
    ``image`` is ``(C, H, W)``; ``attribution`` ``(C or 1, H, W)`` is summed over channels."""
    if scale is not None:
        scale = _checks.positive(scale, "scale")
    img = image.detach().float().cpu()
    img = (img.mean(0) if img.dim() == 3 else img).numpy()
    a = attribution.detach().float().cpu()
    a = (a.sum(0) if a.dim() == 3 else a).numpy()
    ax.imshow(img, cmap="gray", interpolation="nearest")
    if signed or (signed is None and (a < 0).any()):
        lim = scale or float(np.abs(a).max()) or 1.0
        im = ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=alpha, interpolation="nearest")
    else:
        im = ax.imshow(a, cmap="viridis", vmin=0, vmax=scale or float(a.max()) or 1.0, alpha=alpha,
                       interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    ax.set(title=title, xticks=[], yticks=[])
    ax.grid(False)


def shared_scale(*maps: Tensor) -> float:
    """One colour limit for maps compared by magnitude: the largest |value| of any of them
    (each summed over channels, as :func:`plot_attribution` draws it); 1.0 if all are 0."""
    if not maps:
        raise _checks.BadInput("shared_scale: pass at least one map")
    largest = 0.0
    for a in maps:
        if not isinstance(a, Tensor):
            raise _checks.BadInputType(f"shared_scale: maps must be tensors; got {type(a).__name__}")
        a = a.detach().float()
        largest = max(largest, float((a.sum(-3) if a.dim() >= 3 else a).abs().max()))
    return largest or 1.0


def segment_edges(mask: Tensor) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The borders between segments of a segmentation ``(H, W)`` (e.g. superpixel ids):
    line segments ((x0, y0), (x1, y1)) along the pixel edges where two neighbouring
    pixels lie in different segments, in ``imshow``'s coordinates (pixel centres at
    integers)."""
    s = mask.detach().cpu().numpy()
    lines = [((c + 0.5, r - 0.5), (c + 0.5, r + 0.5)) for r, c in zip(*np.nonzero(s[:, :-1] != s[:, 1:]))]
    lines += [((c - 0.5, r + 0.5), (c + 0.5, r + 0.5)) for r, c in zip(*np.nonzero(s[:-1, :] != s[1:, :]))]
    return lines


def plot_segments(ax: plt.Axes, image: Tensor, mask: Tensor, title: str = "") -> None:
    """An image ``(C, H, W)`` in grey with the borders of its segments ``(H, W)`` (or
    ``(1, H, W)``) drawn as orange lines (Okabe & Ito) along the pixel edges."""
    from matplotlib.collections import LineCollection

    img = image.detach().float().cpu()
    ax.imshow((img.mean(0) if img.dim() == 3 else img).numpy(), cmap="gray", interpolation="nearest")
    ax.add_collection(LineCollection(segment_edges(mask.reshape(mask.shape[-2:])),
                                     colors=OKABE_ITO[1], linewidths=2.5))
    ax.set(title=title, xticks=[], yticks=[])
    ax.grid(False)


def plot_montage(ax: plt.Axes, rows: Sequence[Sequence[np.ndarray]], titles: Sequence[Sequence[str]],
                 colours: Sequence[Sequence[str]] | None = None, cmap: str = "gray",
                 vmin: float | None = None, vmax: float | None = None, fontsize: float = 11) -> None:
    """Rows of equal-sized images drawn into one axes, each with its title above it.

    One ``imshow`` for all of them: a widget that drew each thumbnail in its own axes spent
    most of its time laying out and drawing axes (ten took 135 ms, one montage ~85 ms).
    The gaps are white; the axes frame and ticks are switched off."""
    if len(rows) != len(titles) or any(len(r) != len(t) for r, t in zip(rows, titles)):
        raise _checks.BadInput("give one title per image: titles must have the shape of rows "
                               f"({[len(r) for r in rows]} images, {[len(t) for t in titles]} titles)")
    shapes = {np.asarray(img).shape for r in rows for img in r}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise _checks.BadInput(f"every image must be 2-D (h, w) and of one size; got shapes {sorted(shapes)}")
    h, w = np.asarray(rows[0][0]).shape
    gap, band = max(1, w // 4), max(2, h // 2)          # between images; above each row, for titles
    sheet = np.full((len(rows) * (h + band), max(len(r) for r in rows) * (w + gap) - gap), np.nan)
    for r, (images, names) in enumerate(zip(rows, titles)):
        y0 = band + r * (h + band)
        for k, (img, name) in enumerate(zip(images, names)):
            x0 = k * (w + gap)
            sheet[y0:y0 + h, x0:x0 + w] = np.asarray(img)
            ax.text(x0 + w / 2, y0 - 0.25 * band, name, ha="center", va="bottom", fontsize=fontsize,
                    color=colours[r][k] if colours else "black")
    ax.imshow(np.ma.masked_invalid(sheet), cmap=matplotlib.colormaps[cmap].with_extremes(bad="white"),
              vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.axis("off")


def figure_to_png(fig: plt.Figure, layout: dict | None = None, dpi: float | None = None) -> bytes:
    """Render a figure to PNG bytes (for an ``ipywidgets.Image``) and close it.

    ``layout``: a dict the caller keeps between renders of the same kind of figure (a
    widget keeps one). The first render runs the figure's layout engine (constrained
    layout, about half the time of a render) and stores where the axes went; later
    renders of the same grid of axes reuse those positions and skip the engine."""
    axes = fig.get_axes()
    key = tuple((spec.get_geometry() if (spec := ax.get_subplotspec()) else None, ax.get_label())
                for ax in axes)                                  # the grid, not the content
    saved = None if layout is None else layout.get(key)
    if saved is not None:
        fig.set_layout_engine("none")
        for ax, pos in zip(axes, saved):
            ax.set_position(pos)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1},   # fast to encode: widgets wait for it
                **({} if dpi is None else {"dpi": dpi}))
    if layout is not None and saved is None:
        layout[key] = [ax.get_position() for ax in axes]
    plt.close(fig)
    return buf.getvalue()


def image_shape(n_pixels: int, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """How to draw a flat row of ``n_pixels`` as an image: ``shape`` when given (it must hold
    them all), else the square it fills (64 → 8 × 8, 784 → 28 × 28)."""
    if shape is None:
        side = math.isqrt(n_pixels)
        if side * side != n_pixels:
            raise _checks.BadInput(f"{n_pixels} pixels do not fill a square; pass image_shape=(H, W) "
                                   f"with H · W = {n_pixels}")
        return side, side
    if len(shape) != 2 or shape[0] * shape[1] != n_pixels:
        raise _checks.BadInput(f"image_shape={tuple(shape)} does not hold {n_pixels} pixels; pass (H, W) "
                               f"with H · W = {n_pixels}")
    return int(shape[0]), int(shape[1])
