"""Widgets of notebook 01: the concept-model explorer and the intervention playground."""
from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from .. import concepts, data
from ..plotting import OKABE_ITO, plot_decision_regions
from ._explorer import Explorer, message

__all__ = ["concept_model_explorer", "intervention_playground", "MODEL_CHOICES", "LAMBDAS"]

MODEL_CHOICES = concepts.MODELS
LAMBDAS = (0.0, 0.01, 0.1, 1.0, 10.0)


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
    ex = Explorer()
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

    def show():
        kind, mode = MODEL_CHOICES[model_choice.value]
        lam.disabled = kind == "blackbox" or mode != "joint"
        weight = lam.value if kind == "cem" or mode == "joint" else None
        ex.remembered((dataset.value, kind, mode, weight), lambda: picture(kind, mode))

    def picture(kind: str, mode: str) -> None:
        ex.say(message("training …", "info"))
        model, acc, (xte, cte, yte) = trained(dataset.value, kind, mode, lam.value)
        fig = Figure(figsize=(6, 4.8))
        ax = fig.add_subplot()
        plot_decision_regions(ax, lambda p: model(p)[1].argmax(1), xte, yte,
                              title=f"{model_choice.value} on {dataset.value} (held out)")
        ax.legend(loc="upper right", fontsize=12)
        ex.draw(fig)
        concept_txt = "—" if kind == "blackbox" else f"{acc['concept']:.2f}"
        ex.say(f'<span style="font-size:1.2em"><b>task accuracy</b> {acc["task"]:.2f}'
               f' &nbsp; <b>concept accuracy</b> {concept_txt}</span>')

    return ex.box([widgets.HBox([dataset, model_choice, lam])],
                  {"dataset": dataset, "model": model_choice, "lam": lam}, show)


def _bar(p: float, colour: str) -> str:
    return (f'<div style="display:inline-block;width:{200 * p:.0f}px;height:0.9em;'
            f'background:{colour};vertical-align:middle"></div> {p:.2f}')


def intervention_playground(model: concepts.ConceptModel, x: Tensor, c: Tensor, y: Tensor,
                            concept_names: Sequence[str] | None = None,
                            class_names: Sequence[str] | None = None) -> widgets.VBox:
    """Pick an example, then set each concept by hand (or leave the model's guess) and
    watch the task prediction change: concept interventions, one click at a time."""
    concepts.check_data(x, c, y)
    if model.kind == "blackbox":
        raise ValueError("a black box has no concepts to switch; pass a CBM or CEM")
    k, n = model.n_concepts, len(x)
    concept_names = list(concept_names or [f"c{j + 1}" for j in range(k)])
    class_names = list(class_names or [f"class {j}" for j in range(model.n_classes)])
    if len(concept_names) != k or len(class_names) != model.n_classes:
        raise ValueError(f"need {k} concept names and {model.n_classes} class names")
    ex = Explorer(out="view")
    index = widgets.IntText(value=0, description=f"example (0..{n - 1})",
                            style={"description_width": "initial"})
    toggles = [widgets.ToggleButtons(options=[("model's guess", -1), ("0", 0), ("1", 1)],
                                     value=-1, description=name,
                                     style={"button_width": "110px"})
               for name in concept_names]

    def show():
        i = index.value
        if not ex.index_ok("example", i, n):
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
        ex.say('<table style="font-size:1.1em"><tr><th>concept</th><th>model’s probability</th>'
               f"<th>true</th><th>fed to the task head</th></tr>{rows}</table>"
               '<table style="font-size:1.1em;margin-top:0.5em">'
               f"<tr><th>class</th><th>probability</th></tr>{task_rows}</table>"
               f'<p style="font-size:1.2em">prediction: <b>{html.escape(class_names[pred])}</b> · '
               f"true: <b>{html.escape(class_names[int(y[i])])}</b> · {verdict}</p>")

    box = ex.box([index, *toggles], {"index": index, **dict(zip(concept_names, toggles))},
                 show, observe=False)
    ex.follow(box, index, toggles, lambda i: [-1] * len(toggles))     # a new example: the model's guesses
    return box
