"""Thin ipywidgets controls over the pure functions of the library.

Each builder returns an ``ipywidgets.VBox`` ready to display. For tests (and the
curious) the box also carries ``.controls`` (name → control widget) and the widgets it
draws into (``.status``, ``.image``, ``.view``), so it can be driven without a browser:
set ``box.controls["dataset"].value = "dot"`` and read ``box.status.value``.
A bad value shows a message inside the widget, which keeps working.
"""
from __future__ import annotations

import html
import time
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from . import concepts, counterfactuals, data, influence, latent, metrics, saliency
from .plotting import OKABE_ITO, figure_to_png, plot_attribution, plot_decision_regions

__all__ = ["concept_model_explorer", "intervention_playground", "saliency_explorer",
           "deletion_explorer", "influence_explorer", "counterfactual_explorer", "path_explorer",
           "latent_explorer", "latent_sliders", "time_update", "MODEL_CHOICES"]

MODEL_CHOICES = concepts.MODELS
LAMBDAS = (0.0, 0.01, 0.1, 1.0, 10.0)


def _message(text: str, kind: str = "warning") -> str:
    colour = {"warning": "#D55E00", "info": "#0072B2"}[kind]
    return f'<div style="color:{colour};font-size:1.1em">{"⚠ " if kind == "warning" else ""}' \
           f'{html.escape(text)}</div>'


def _bad_index(what: str, i: int, n: int) -> str | None:
    """A message for an index outside 0..n-1 (None when it is fine)."""
    if 0 <= i < n:
        return None
    return _message(f"{what} {i} does not exist: choose an index in 0..{n - 1}")


def _assemble(rows: list, controls: dict, show, **outputs) -> widgets.VBox:
    """Wire every control to ``show``, draw once, and return the box, carrying its
    controls and output widgets as attributes (for tests and curious learners)."""
    for w in controls.values():
        w.observe(show, names="value")
    show()
    box = widgets.VBox(rows)
    box.controls = controls
    for name, w in outputs.items():
        setattr(box, name, w)
    return box


def concept_model_explorer(n: int = 1000, seed: int = 0, device: torch.device | str | None = None,
                           progress: bool = False) -> widgets.VBox:
    """Pick a data set, a model (CBM in three modes, CEM, black box) and λ; see held-out
    task and concept accuracy and the decision regions. Trained models are cached, so
    revisiting a setting answers at once; a new one trains in about a second."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    dataset = widgets.Dropdown(options=list(data.DATASETS), value="xor", description="data set")
    model_choice = widgets.Dropdown(options=list(MODEL_CHOICES), value="CBM, joint",
                                    description="model")
    lam = widgets.SelectionSlider(options=LAMBDAS, value=1.0, description="λ (concepts)",
                                  continuous_update=False, style={"description_width": "initial"})
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw
    cache: dict[tuple, tuple] = {}

    def trained(ds: str, kind: str, mode: str, weight: float):
        key = (ds, kind, mode, weight if kind == "cem" or mode == "joint" else None)
        if key not in cache:
            x, c, y = (t.to(device) for t in data.load(ds, n, seed))
            (xtr, ctr, ytr), test = data.split(x, c, y, seed=seed)
            model = concepts.fit(xtr, ctr, ytr, kind, mode, seed=seed, lam=weight,
                                 progress=progress)
            cache[key] = (model, concepts.accuracy(model, *test), test)
        return cache[key]

    def show(change=None):
        kind, mode = MODEL_CHOICES[model_choice.value]
        lam.disabled = kind == "blackbox" or mode != "joint"
        status.value = _message("training …", "info")
        try:
            model, acc, (xte, cte, yte) = trained(dataset.value, kind, mode, lam.value)
        except ValueError as e:
            status.value = _message(str(e))
            return
        fig = Figure(figsize=(6, 4.8))
        ax = fig.add_subplot()
        plot_decision_regions(ax, lambda p: model(p)[1].argmax(1), xte, yte,
                              title=f"{model_choice.value} on {dataset.value} (held out)")
        ax.legend(loc="upper right", fontsize=10)
        image.value = figure_to_png(fig, layout)
        concept_txt = "—" if kind == "blackbox" else f"{acc['concept']:.2f}"
        status.value = (f'<span style="font-size:1.2em"><b>task accuracy</b> {acc["task"]:.2f}'
                        f' &nbsp; <b>concept accuracy</b> {concept_txt}</span>')

    return _assemble([widgets.HBox([dataset, model_choice, lam]), status, image],
                     {"dataset": dataset, "model": model_choice, "lam": lam},
                     show, status=status, image=image)


def _bar(p: float, colour: str) -> str:
    return (f'<div style="display:inline-block;width:{200 * p:.0f}px;height:0.9em;'
            f'background:{colour};vertical-align:middle"></div> {p:.2f}')


def intervention_playground(model: concepts._ConceptModel, x: Tensor, c: Tensor, y: Tensor,
                            concept_names: Sequence[str] | None = None,
                            class_names: Sequence[str] | None = None) -> widgets.VBox:
    """Pick an example, then set each concept by hand (or leave the model's guess) and
    watch the task prediction change: concept interventions, one click at a time."""
    concepts._check_data(x, c, y)
    if model.kind == "blackbox":
        raise ValueError("a black box has no concepts to switch; pass a CBM or CEM")
    k, n = model.n_concepts, len(x)
    concept_names = list(concept_names or [f"c{j + 1}" for j in range(k)])
    class_names = list(class_names or [f"class {j}" for j in range(model.n_classes)])
    if len(concept_names) != k or len(class_names) != model.n_classes:
        raise ValueError(f"need {k} concept names and {model.n_classes} class names")
    index = widgets.IntText(value=0, description=f"example (0..{n - 1})",
                            style={"description_width": "initial"})
    toggles = [widgets.ToggleButtons(options=[("model's guess", -1), ("0", 0), ("1", 1)],
                                     value=-1, description=name,
                                     style={"button_width": "110px"})
               for name in concept_names]
    view = widgets.HTML()
    resetting = False

    def show(change=None):
        if resetting:
            return
        i = index.value
        if problem := _bad_index("example", i, n):
            view.value = problem
            return
        xi, ci = x[i:i + 1], c[i:i + 1]
        chosen = torch.tensor([[max(t.value, 0) for t in toggles]], dtype=x.dtype, device=x.device)
        mask = torch.tensor([[t.value >= 0 for t in toggles]], device=x.device)
        with torch.no_grad():
            c_prob, _ = model(xi)
            y_prob = model(xi, chosen, mask)[1].softmax(1)[0]
        rows = ""
        for j, name in enumerate(concept_names):
            p = c_prob[0, j].item()
            fed = f"<b>{toggles[j].value}</b> (set by you)" if mask[0, j] else f"{p:.2f}"
            rows += (f"<tr><td><b>{html.escape(name)}</b></td><td>{_bar(p, OKABE_ITO[4])}</td>"
                     f"<td>{int(ci[0, j])}</td><td>{fed}</td></tr>")
        pred = int(y_prob.argmax())
        task_rows = "".join(f"<tr><td>{html.escape(name)}</td>"
                            f"<td>{_bar(y_prob[j].item(), OKABE_ITO[j % 2])}</td></tr>"
                            for j, name in enumerate(class_names))
        verdict = "✓ correct" if pred == int(y[i]) else "✗ wrong"
        view.value = (
            '<table style="font-size:1.1em"><tr><th>concept</th><th>model’s probability</th>'
            f"<th>true</th><th>fed to the task head</th></tr>{rows}</table>"
            '<table style="font-size:1.1em;margin-top:0.5em">'
            f"<tr><th>class</th><th>probability</th></tr>{task_rows}</table>"
            f'<p style="font-size:1.2em">prediction: <b>{html.escape(class_names[pred])}</b> · '
            f"true: <b>{html.escape(class_names[int(y[i])])}</b> · {verdict}</p>")

    def new_example(change=None):
        nonlocal resetting
        resetting = True
        for t in toggles:
            t.value = -1
        resetting = False
        show()

    index.observe(new_example, names="value")
    for t in toggles:
        t.observe(show, names="value")
    show()
    box = widgets.VBox([index, *toggles, view])
    box.controls = {"index": index, **{name: t for name, t in zip(concept_names, toggles)}}
    box.view = view
    return box


BASELINES = ("black", "blurred", "uniform noise")


def _baseline(name: str, x: Tensor) -> Tensor:
    if name == "black":
        return torch.zeros_like(x)
    if name == "blurred":
        return saliency.blur(x, 1.5)
    return torch.rand(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype).to(x.device)


def _image_index(n: int) -> widgets.IntText:
    return widgets.IntText(value=0, description=f"image (0..{n - 1})",
                           style={"description_width": "initial"}, layout={"width": "190px"})


def saliency_explorer(model: torch.nn.Module, x: Tensor, y: Tensor, layer: torch.nn.Module,
                      class_names: Sequence[str] | None = None) -> widgets.VBox:
    """Pick an image, a method and its knob (σ, n_steps, baseline, window); see the map
    over the image, for the predicted class. Answers in well under 100 ms for the
    digits CNN on a laptop CPU."""
    n = len(x)
    names = list(class_names or [str(i) for i in range(int(y.max()) + 1)])
    index = _image_index(n)
    method = widgets.Dropdown(options=list(saliency.METHODS), value="gradient", description="method")
    sigma = widgets.FloatSlider(value=0.15, min=0.0, max=0.5, step=0.05, description="σ (SmoothGrad)",
                                continuous_update=False, style={"description_width": "initial"})
    n_steps = widgets.IntSlider(value=32, min=2, max=128, description="n_steps (IG)",
                                continuous_update=False, style={"description_width": "initial"})
    baseline = widgets.Dropdown(options=BASELINES, value="black", description="baseline (IG)",
                                style={"description_width": "initial"})
    window = widgets.IntSlider(value=2, min=1, max=min(x.shape[2:]), description="window (occlusion)",
                               continuous_update=False, style={"description_width": "initial"})
    knobs = {"sigma": sigma, "n_steps": n_steps, "baseline": baseline, "window": window}
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw

    def show(change=None):
        for name, w in knobs.items():
            w.disabled = name not in saliency.METHODS[method.value]
        i = index.value
        if problem := _bad_index("image", i, n):
            status.value = problem
            return
        xi = x[i:i + 1]
        start = time.perf_counter()
        try:
            with torch.no_grad():
                pred = int(model(xi).argmax(1))
            a = saliency.explain(method.value, model, xi, pred, layer=layer, sigma=sigma.value,
                                 n_steps=n_steps.value, baseline=_baseline(baseline.value, xi),
                                 window=window.value, n_samples=50)
        except ValueError as e:
            status.value = _message(str(e))
            return
        fig = Figure(figsize=(6.4, 3.6), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2)
        plot_attribution(ax0, xi[0], torch.zeros_like(xi[0]), title=f"label {names[int(y[i])]}", alpha=0)
        plot_attribution(ax1, xi[0], a[0], title=f"{method.value} for {names[pred]}")
        image.value = figure_to_png(fig, layout)
        ms = 1000 * (time.perf_counter() - start)
        status.value = (f'predicted <b>{html.escape(names[pred])}</b> · true '
                        f'<b>{html.escape(names[int(y[i])])}</b> <span style="color:gray">({ms:.0f} ms)</span>')

    return _assemble([widgets.HBox([index, method]), widgets.HBox([sigma, n_steps]),
                      widgets.HBox([baseline, window]), status, image],
                     {"index": index, "method": method, **knobs}, show, status=status, image=image)


def deletion_explorer(model: torch.nn.Module, x: Tensor, y: Tensor, layer: torch.nn.Module,
                      n_steps: int = 16) -> widgets.VBox:
    """Delete (or insert) pixels in the order a method ranks them and watch the class
    probability: the curve, its area (AUC) and the image at the chosen step."""
    n = len(x)
    index = _image_index(n)
    method = widgets.Dropdown(options=[*saliency.METHODS, "random order"], value="gradient",
                              description="method")
    mode = widgets.ToggleButtons(options=["deletion", "insertion"], value="deletion")
    step = widgets.IntSlider(value=n_steps // 4, min=0, max=n_steps, description="step",
                             continuous_update=False)
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw

    def show(change=None):
        i = index.value
        if problem := _bad_index("image", i, n):
            status.value = problem
            return
        xi, t = x[i:i + 1], y[i:i + 1]
        if method.value == "random order":
            a = torch.rand(xi.shape, generator=torch.Generator().manual_seed(i)).to(xi.device)
        else:
            a = saliency.explain(method.value, model, xi, t, layer=layer)
        curve = metrics.deletion_curve(model, xi, t, a, n_steps=n_steps, mode=mode.value)[0].cpu()
        area = metrics.auc(curve[None]).item()
        order = metrics.pixel_map(a)[0].flatten().argsort(descending=True)
        k = round(step.value * xi[0, 0].numel() / n_steps)
        keep = torch.zeros(xi[0, 0].numel(), dtype=torch.bool, device=xi.device)
        keep[order[:k]] = True
        keep = keep.view(xi.shape[2:])
        shown = torch.where(keep, 0.0, xi[0]) if mode.value == "deletion" else torch.where(keep, xi[0], 0.0)
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
        image.value = figure_to_png(fig, layout)
        better = "lower" if mode.value == "deletion" else "higher"
        status.value = f"{mode.value} AUC <b>{area:.2f}</b> ({better} is more faithful)"

    return _assemble([widgets.HBox([index, method, mode]), step, status, image],
                     {"index": index, "method": method, "mode": mode, "step": step},
                     show, status=status, image=image)


def influence_explorer(model: torch.nn.Module, loss_fn, train: tuple[Tensor, Tensor],
                       test: tuple[Tensor, Tensor], loo_indices: Tensor, loo_thetas: Tensor,
                       l2: float = 1e-2, image_shape: tuple[int, int] = (8, 8),
                       class_names: Sequence[str] | None = None, top: int = 4) -> widgets.VBox:
    """Pick a test point and a solver (with its damping and LiSSA depth): see the most
    helpful and most harmful training images, and the predicted against the actual
    change of the test loss for the training points retrained without
    (``loo_indices`` with their retrained parameters ``loo_thetas``)."""
    (X, Y), (Xt, Yt) = train, test
    names = list(class_names or [str(c) for c in range(int(Y.max()) + 1)])
    index = _image_index(len(Xt))
    method = widgets.Dropdown(options=list(influence.METHODS), value="exact", description="solver")
    damping = widgets.SelectionSlider(options=(0.0, 0.001, 0.01, 0.1, 1.0), value=0.0,
                                      description="damping", continuous_update=False)
    depth = widgets.SelectionSlider(options=(10, 50, 200, 1000), value=200,
                                    description="LiSSA depth", continuous_update=False,
                                    style={"description_width": "initial"})
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw
    actual_all = influence.loss_change(model, loss_fn, loo_thetas, test)      # (n_test, K)
    cache: dict[tuple, Tensor] = {}

    def show(change=None):
        depth.disabled = method.value != "lissa"
        i = index.value
        if problem := _bad_index("test point", i, len(Xt)):
            status.value = problem
            return
        key = (i, method.value, damping.value, depth.value if method.value == "lissa" else None)
        try:
            if key not in cache:
                cache[key] = influence.influence(model, loss_fn, train, (Xt[i:i + 1], Yt[i:i + 1]),
                                                 l2=l2, method=method.value, damping=damping.value,
                                                 lissa_depth=depth.value)[0]
        except ValueError as e:
            status.value = _message(str(e))
            return
        scores = cache[key]
        order = scores.argsort()
        pred, actual = scores[loo_indices].cpu(), actual_all[i].cpu()
        r = torch.corrcoef(torch.stack([pred, actual]))[0, 1].item()
        fig = Figure(figsize=(11, 3.6), layout="constrained")
        grid = fig.add_gridspec(2, top + 3)
        ax = fig.add_subplot(grid[:, :2])
        ax.scatter(actual.numpy(), pred.numpy(), s=18, color=OKABE_ITO[0])
        lim = float(torch.cat([pred, actual]).abs().max()) * 1.1 or 1.0
        ax.plot([-lim, lim], [-lim, lim], color="k", ls=":", lw=1)
        ax.set(xlabel="actual change (retrained)", ylabel="predicted", title=f"Pearson r = {r:.2f}")
        ax.ticklabel_format(style="sci", scilimits=(-2, 2))
        ax_t = fig.add_subplot(grid[:, 2])
        ax_t.imshow(Xt[i].reshape(image_shape).cpu().numpy(), cmap="gray")
        ax_t.set_title(f"test: {names[int(Yt[i])]}")
        for row, (label, idx) in enumerate((("helpful", order.flip(0)[:top]), ("harmful", order[:top]))):
            for k, j in enumerate(idx.tolist()):
                a = fig.add_subplot(grid[row, 3 + k])
                a.imshow(X[j].reshape(image_shape).cpu().numpy(), cmap="gray")
                a.set_title(f"{label} {names[int(Y[j])]}", fontsize=10,
                            color=OKABE_ITO[2] if label == "helpful" else OKABE_ITO[5])
        for a in fig.axes[1:]:
            a.set(xticks=[], yticks=[])
            a.grid(False)
        image.value = figure_to_png(fig, layout)
        status.value = (f"{method.value}: most helpful point {int(order[-1])} "
                        f"({scores[order[-1]].item():+.2e}), most harmful {int(order[0])} "
                        f"({scores[order[0]].item():+.2e}); predicted vs actual r = {r:.2f}")

    return _assemble([widgets.HBox([index, method]), widgets.HBox([damping, depth]), status, image],
                     {"index": index, "method": method, "damping": damping, "depth": depth},
                     show, status=status, image=image)


def counterfactual_explorer(model: torch.nn.Module, x: Tensor, encoder: data.TabularEncoder,
                            X_train: Tensor, y_train: Tensor, target: int = 1,
                            one_way: dict[int, int] | None = None,
                            default_immutable: Sequence[str] = ("age", "sex")) -> widgets.VBox:
    """Pick an applicant (a row of ``x``), tick the features that may not change, move λ
    (proximity) and μ (sparsity): see the counterfactual as a before/after table with
    its metrics."""
    n = len(x)
    columns = list(encoder.numeric) + list(encoder.categorical)
    index = _image_index(n)
    index.description = f"applicant (0..{n - 1})"
    frozen = {c: widgets.Checkbox(value=c in default_immutable, description=c, indent=False,
                                  layout={"width": "150px"}) for c in columns}
    lam = widgets.SelectionSlider(options=(0.0, 0.01, 0.1, 1.0), value=0.1, description="λ",
                                  continuous_update=False)
    mu = widgets.SelectionSlider(options=(0.0, 0.01, 0.1, 0.5), value=0.0, description="μ",
                                 continuous_update=False)
    view = widgets.HTML()
    mads, bounds = counterfactuals.mad(X_train), encoder.bounds(X_train)

    def show(change=None):
        i = index.value
        if problem := _bad_index("applicant", i, n):
            view.value = problem
            return
        immutable = [j for c, box in frozen.items() if box.value for j in encoder.columns_of(c)]
        try:
            r = counterfactuals.optimize(model, x[i:i + 1], target, lam=lam.value, mu=mu.value,
                                         mad=mads, immutable=immutable, one_way=one_way,
                                         bounds=bounds, categorical=encoder.categorical_groups,
                                         steps=200)
        except ValueError as e:
            view.value = _message(str(e))
            return
        m = counterfactuals.metrics(model, x[i:i + 1], r.x_cf, target, X_train, y_train, mad=mads,
                                    immutable=immutable, one_way=one_way, bounds=bounds,
                                    categorical=encoder.categorical_groups)
        before, after = encoder.decode(x[i])[0], encoder.decode(r.x_cf[0])[0]
        rows = ""
        for c in columns:
            lock = " 🔒" if frozen[c].value else ""
            style = ' style="font-weight:bold;color:#D55E00"' if before[c] != after[c] else ""
            rows += (f"<tr><td>{html.escape(c)}{lock}</td><td>{html.escape(str(before[c]))}</td>"
                     f"<td{style}>{html.escape(str(after[c]))}</td></tr>")
        verdict = "✓ approved" if bool(r.valid[0]) else "✗ still rejected (no valid counterfactual found)"
        view.value = ('<table style="font-size:1.05em"><tr><th>feature</th><th>now</th>'
                      f"<th>counterfactual</th></tr>{rows}</table>"
                      f"<p style='font-size:1.1em'>{verdict} · features changed "
                      f"{m['sparsity']:.0f} · MAD distance {m['proximity_mad']:.2f} · "
                      f"LOF inlier {'yes' if m['plausibility_lof'] == 1 else 'no'} · "
                      f"nearer a target-class applicant "
                      f"{'yes' if m.get('closer_to_target', 0) == 1 else 'no'}</p>")

    return _assemble([widgets.HBox([index, lam, mu]), widgets.HTML("<b>may not change:</b>"),
                      widgets.HBox(list(frozen.values()), layout={"flex_flow": "row wrap"}), view],
                     {"index": index, "lam": lam, "mu": mu,
                      **{f"freeze {c}": w for c, w in frozen.items()}},
                     show, view=view)


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
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw

    def show(change=None):
        start = torch.tensor([[sx.value, sy.value]], dtype=X.dtype, device=X.device)
        try:
            r = counterfactuals.optimize(model, start, target, lam=lam.value, mu=mu.value,
                                         distance="l2", sparsity=kind.value, steps=150,
                                         record_path=True)
        except ValueError as e:
            status.value = _message(str(e))
            return
        fig = Figure(figsize=(5.6, 4.6), layout="constrained")
        ax = fig.add_subplot()
        plot_decision_regions(ax, lambda p: model(p).argmax(1), X, y, title="counterfactual search")
        p = r.path[:, 0].cpu().numpy()
        ax.plot(p[:, 0], p[:, 1], color="k", lw=2)
        ax.scatter(*p[0], s=90, color="white", edgecolor="k", zorder=3, label="start")
        ax.scatter(*p[-1], s=140, marker="*", color=OKABE_ITO[5], edgecolor="k", zorder=3,
                   label="counterfactual")
        ax.legend(loc="lower right", fontsize=9)
        image.value = figure_to_png(fig, layout)
        moved = (r.x_cf[0] - start[0]).abs()
        status.value = (f"{'✓ valid' if bool(r.valid[0]) else '✗ not valid'} · moved "
                        f"Δx₁ = {moved[0]:.2f}, Δx₂ = {moved[1]:.2f}")

    return _assemble([widgets.HBox([sx, sy]), widgets.HBox([lam, mu, kind]), status, image],
                     {"x1": sx, "x2": sy, "lam": lam, "mu": mu, "sparsity": kind},
                     show, status=status, image=image)


def latent_explorer(model: torch.nn.Module, vae, x: Tensor, y: Tensor,
                    image_shape: tuple[int, int] = (8, 8), n_frames: int = 6) -> widgets.VBox:
    """Pick a digit and a target class: the input-space counterfactual (notebook 04)
    beside the latent one (REVISE or C-CHVAE), and REVISE's path decoded frame by frame."""
    n = len(x)
    index = _image_index(n)
    index.description = f"digit (0..{n - 1})"
    target = widgets.Dropdown(options=list(range(int(y.max()) + 1)), value=8, description="target")
    method = widgets.ToggleButtons(options=list(latent.METHODS), value="revise")
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw
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

    def show(change=None):
        i = index.value
        if problem := _bad_index("digit", i, n):
            status.value = problem
            return
        xi = x[i:i + 1]
        try:
            space, walk = searched(i, target.value)
            lat = walk if method.value == "revise" else \
                latent.counterfactual(model, vae, xi, target.value, method=method.value)
        except ValueError as e:
            status.value = _message(str(e))
            return
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
        image.value = figure_to_png(fig, layout)
        status.value = (f"input-space change L1 {float((space.x_cf - xi).abs().sum()):.1f} · "
                        f"latent change L1 {float((lat.x_cf - xi).abs().sum()):.1f}")

    return _assemble([widgets.HBox([index, target, method]), status, image],
                     {"index": index, "target": target, "method": method},
                     show, status=status, image=image)


def latent_sliders(vae, model: torch.nn.Module | None = None, image_shape: tuple[int, int] = (8, 8),
                   limit: float = 3.0) -> widgets.VBox:
    """One slider per latent dimension; the decoded image (and the model's label) follow."""
    sliders = [widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=0.1, description=f"z{j + 1}",
                                   continuous_update=True) for j in range(vae.latent_dim)]
    status, image = widgets.HTML(), widgets.Image(format="png")
    layout: dict = {}                        # axes positions, computed on the first draw
    device = next(vae.parameters()).device

    def show(change=None):
        z = torch.tensor([[s.value for s in sliders]], device=device)
        with torch.no_grad():
            img = vae.decode(z)[0]
            label = int(model(img[None]).argmax(1)) if model is not None else None
        fig = Figure(figsize=(2.6, 2.6), layout="constrained")
        ax = fig.add_subplot()
        ax.imshow(img.reshape(image_shape).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        image.value = figure_to_png(fig, layout)
        status.value = "" if label is None else f"the classifier says <b>{label}</b>"

    return _assemble([widgets.HBox([widgets.VBox(sliders), widgets.VBox([image, status])])],
                     {f"z{j + 1}": s for j, s in enumerate(sliders)}, show,
                     status=status, image=image)


def time_update(control: widgets.Widget, value, repeats: int = 5) -> float:
    """Median seconds a widget takes to answer ``control.value = value`` (and back)."""
    times, old = [], control.value
    if value == old:
        raise ValueError(f"value must differ from the control's current value {old!r} "
                         "(an unchanged value triggers no update)")
    for r in range(repeats):
        start = time.perf_counter()
        control.value = value if r % 2 == 0 else old
        times.append(time.perf_counter() - start)
    control.value = old
    return sorted(times)[len(times) // 2]
