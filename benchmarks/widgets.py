"""How fast every widget of the course answers: the median time from setting a control's
value to the redrawn output (``xaitutor.widgets.time_update``), on the CPU.

    python benchmarks/widgets.py            # 5 repeats per control
    python benchmarks/widgets.py --quick    # 3 repeats

Each widget is built as its notebook builds it (smaller data where the notebook's size
does not change the answer time). Prints a Markdown table; the README keeps a copy.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from xaitutor import concepts, data, influence, latent, models, widgets
from xaitutor.core import train
from xaitutor.plotting import use_projector_style


def built(what: str, make):
    start = time.perf_counter()
    box = make()
    print(f"  built {what} in {time.perf_counter() - start:.1f} s", flush=True)
    return box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    torch.set_num_threads(2)
    use_projector_style()
    rows = []

    def measure(notebook: str, widget: str, box, control: str, value, note: str = ""):
        seconds = widgets.time_update(box.controls[control], value, repeats=repeats)
        rows.append((notebook, widget, f"{control} → {value}", 1000 * seconds, note))

    # 01: concept models
    explorer = built("concept_model_explorer", lambda: widgets.concept_model_explorer(n=1000))
    start = time.perf_counter()
    explorer.controls["model"].value = "CEM"                 # a new setting trains a model
    rows.append(("01", "concept_model_explorer", "model → CEM (first time: trains)",
                 1000 * (time.perf_counter() - start), "trains once, then cached"))
    measure("01", "concept_model_explorer", explorer, "model", "CBM, joint", "cached")
    x, c, y = data.xor(1000, seed=0)
    seq = concepts.fit(x, c, y, "cbm", "sequential", progress=False)
    playground = built("intervention_playground", lambda: widgets.intervention_playground(seq, x, c, y))
    measure("01", "intervention_playground", playground, "c1", 1)
    measure("01", "intervention_playground", playground, "index", 7)

    # 02: saliency
    xd, yd = data.digits()
    torch.manual_seed(0)
    cnn = models.fit_classifier(models.SmallCNN(1, 10), xd[:1200], yd[:1200], epochs=10,
                                progress=False)
    xs, ys = xd[1200:1300], yd[1200:1300]
    sal = built("saliency_explorer", lambda: widgets.saliency_explorer(cnn, xs, ys, cnn.features[-1]))
    for method in ["SmoothGrad", "Integrated Gradients", "Grad-CAM", "occlusion"]:
        measure("02", "saliency_explorer", sal, "method", method)
    dele = built("deletion_explorer", lambda: widgets.deletion_explorer(cnn, xs, ys, cnn.features[-1]))
    measure("02", "deletion_explorer", dele, "step", 10)
    measure("02", "deletion_explorer", dele, "method", "Integrated Gradients")

    # 03: influence (logistic regression on 3 vs 8, as in the notebook)
    sel = (yd == 3) | (yd == 8)
    xi, yi = xd[sel].flatten(1).double(), (yd[sel] == 8).long()
    tr, te = (xi[:300], yi[:300]), (xi[300:], yi[300:])
    torch.manual_seed(0)
    lin = nn.Linear(64, 2).double()
    influence.fit(lin, nn.CrossEntropyLoss(), *tr)
    lin.eval()
    idx = torch.arange(0, 300, 15)
    thetas = influence.retrain_without(lin, nn.CrossEntropyLoss(), tr, idx, progress=False)
    inf = built("influence_explorer", lambda: widgets.influence_explorer(
        lin, nn.CrossEntropyLoss(), tr, te, idx, thetas, class_names=["3", "8"]))
    measure("03", "influence_explorer", inf, "index", 5, "exact solver")
    inf.controls["method"].value = "cg"
    measure("03", "influence_explorer", inf, "index", 5, "CG")
    inf.controls["method"].value = "lissa"
    measure("03", "influence_explorer", inf, "index", 5, "LiSSA, depth 200")

    # 04: counterfactuals
    xc, yc, _, enc = data.german_credit()
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(xc.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
    train(lambda xb, yb: F.cross_entropy(mlp(xb), yb), mlp, (xc, yc), epochs=100, progress=False)
    mlp.eval()
    with torch.no_grad():
        rejected = xc[mlp(xc).argmax(1) == 0][:20]
    cf = built("counterfactual_explorer", lambda: widgets.counterfactual_explorer(mlp, rejected, enc, xc, yc))
    measure("04", "counterfactual_explorer", cf, "index", 3, "200 proximal steps + polish")
    measure("04", "counterfactual_explorer", cf, "freeze duration", True)
    torch.manual_seed(0)
    toy = nn.Sequential(nn.Linear(2, 2)).eval()
    with torch.no_grad():
        toy[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        toy[0].bias.zero_()
    X2 = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-0.5, 0.5], [0.5, -0.5]])
    path = built("path_explorer", lambda: widgets.path_explorer(toy, X2, (X2[:, 0] > 0).long()))
    measure("04", "path_explorer", path, "x2", -0.8)

    # 05: latent counterfactuals
    clf = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), cnn).eval()
    vae = latent.train_vae(xd[:1200].flatten(1), latent_dim=2, epochs=30, progress=False)
    X, Y = xd[1200:1260].flatten(1), yd[1200:1260]
    lat = built("latent_explorer", lambda: widgets.latent_explorer(clf, vae, X, Y))
    lat.controls["target"].value = 3 if int(clf(X[:1]).argmax(1)) != 3 else 5
    start = time.perf_counter()
    lat.controls["index"].value = 9                            # a digit not searched yet
    rows.append(("05", "latent_explorer", "index → 9 (first time: two searches)",
                 1000 * (time.perf_counter() - start), "input space + REVISE, 300 steps each"))
    measure("05", "latent_explorer", lat, "index", 4, "searched before: cached")
    measure("05", "latent_explorer", lat, "method", "cchvae")
    sliders = built("latent_sliders", lambda: widgets.latent_sliders(vae, clf))
    measure("05", "latent_sliders", sliders, "z1", 2.0)

    print(f"\nmedian of {repeats} updates, 2 CPU threads\n")
    print("| notebook | widget | control | answer (ms) | note |\n|---|---|---|---|---|")
    for nb, widget, control, ms, note in rows:
        flag = "" if ms <= 100 else " (> 100 ms)"
        shown = f"{ms:.1f}" if ms < 10 else f"{ms:.0f}"
        print(f"| {nb} | {widget} | {control} | {shown}{flag} | {note} |")


if __name__ == "__main__":
    main()
