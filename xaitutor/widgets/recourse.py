"""Widgets of notebook 06: the flipset explorer and the SCM intervention explorer."""
from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from torch import Tensor

from .. import recourse
from ._explorer import Explorer

__all__ = ["flipset_explorer", "scm_explorer"]


def flipset_explorer(model: torch.nn.Module, x: Tensor, action_set: recourse.ActionSet,
                     X_ref: Tensor, k: int = 5, cost: str = "percentile") -> widgets.VBox:
    """Pick an applicant (a row of ``x``) and untick the features they will not touch:
    the flipset — the k cheapest distinct ways to flip the decision — follows, live."""
    n = len(x)
    ex = Explorer(out="view")
    index = ex.index("applicant", n)
    ticks = {name: widgets.Checkbox(value=True, description=name, indent=False,
                                    layout={"width": "160px"}) for name in action_set.actionable}

    def show():
        i = index.value
        if not ex.index_ok("applicant", i, n):
            return
        with torch.no_grad():
            p = model(x[i:i + 1]).softmax(1)[0, 1].item()
        if p > 0.5:
            raise ValueError(f"applicant {i} is already approved (p = {p:.2f}); choose another")
        frozen = [name for name, box in ticks.items() if not box.value]
        fs = recourse.flipsets(model, x[i], action_set.freeze(frozen), X_ref, k=k, cost=cost)
        if not fs.items:
            ex.say(f"<p>approval probability now {p:.2f} · <b>no action in this set flips the "
                   "decision</b>: this applicant has no recourse — tick more features</p>")
            return
        rows = "".join(f"<tr><td>{j + 1}</td><td>{c:.3f}</td><td>{html.escape('; '.join(a))}</td></tr>"
                       for j, (c, a, _) in enumerate(fs.items))
        ex.say(f"<p>approval probability now {p:.2f} · {len(fs.items)} distinct ways to be approved, "
               "cheapest first (cost = total shift in population percentiles)</p>"
               '<table style="font-size:1.05em"><tr><th>#</th><th>cost</th><th>actions</th></tr>'
               f"{rows}</table>")

    return ex.box([widgets.HBox([index]), widgets.HTML("<b>may change:</b>"),
                   widgets.HBox(list(ticks.values()), layout={"flex_flow": "row wrap"})],
                  {"index": index, **{f"may change {n_}": w for n_, w in ticks.items()}}, show)


def scm_explorer(model: torch.nn.Module, scm: recourse.AdditiveSCM, x: Tensor,
                 names: Sequence[str], actionable: Sequence[int], X_ref: Tensor) -> widgets.VBox:
    """Pick an applicant and move sliders that *intervene* on the actionable nodes of the
    SCM (a slider left at the person's own value is no intervention): every downstream
    value is recomputed through the graph (abduction, action, prediction), beside what
    the same changes would give if the features were independent, and the decision."""
    n = len(x)
    ex = Explorer(out="view")
    index = ex.index("applicant", n)
    lo, hi = X_ref.min(0).values, X_ref.max(0).values
    sliders = {j: widgets.FloatSlider(value=float(x[0, j]), min=float(lo[j]), max=float(hi[j]),
                                      step=float((hi[j] - lo[j]) / 100), description=f"do({names[j]})",
                                      continuous_update=False, readout_format=".1f",
                                      style={"description_width": "initial"}) for j in actionable}

    def decision(row: Tensor) -> str:
        with torch.no_grad():
            p = model(row).softmax(1)[0, 1].item()
        return f"{'✓ approved' if p > 0.5 else '✗ rejected'} (p = {p:.2f})"

    def show():
        i = index.value
        if not ex.index_ok("applicant", i, n):
            return
        xi = x[i:i + 1]
        do = {j: s.value for j, s in sliders.items() if abs(s.value - float(xi[0, j])) > 1e-6}
        causal = scm.counterfactual(xi, do)
        independent = xi.clone()
        for j, v in do.items():
            independent[0, j] = v
        moved = set(do) | {d for j in do for d in scm.descendants(j)}
        rows = ""
        for j, name in enumerate(names):
            why = "do" if j in do else ("downstream" if j in moved else "")
            style = ' style="font-weight:bold;color:#D55E00"' if why else ""
            rows += (f"<tr><td>{html.escape(name)}</td><td>{float(xi[0, j]):.1f}</td>"
                     f"<td>{float(independent[0, j]):.1f}</td><td{style}>{float(causal[0, j]):.1f}</td>"
                     f"<td>{why}</td></tr>")
        ex.say('<table style="font-size:1.05em"><tr><th>feature</th><th>now</th>'
               "<th>if independent</th><th>through the SCM</th><th></th></tr>"
               f"{rows}<tr><td><b>decision</b></td><td>{decision(xi)}</td><td>{decision(independent)}"
               f"</td><td><b>{decision(causal)}</b></td><td></td></tr></table>")

    box = ex.box([widgets.HBox([index]), *sliders.values()],
                 {"index": index, **{f"do {names[j]}": s for j, s in sliders.items()}}, show,
                 observe=False)

    ex.follow(box, index, list(sliders.values()),               # a new person: the sliders at their values
              lambda i: [float(x[i, j]) for j in sliders] if 0 <= i < n else None)
    return box
