"""How fast every widget of the course answers: the time from setting a control's value
to the redrawn output, on the CPU, with as many threads as PyTorch uses here (xaitutor
caps them to the machine's CPU quota; set OMP_NUM_THREADS to choose).

Two numbers per control: the *first* change to that value (a setting never seen: what a
learner waits for the first time) and the median of changing it back and forth
(``xaitutor.widgets.time_update``: a widget that keeps what it computed answers these
from its cache).

    python benchmarks/widgets.py            # 5 repeats per control
    python benchmarks/widgets.py --quick    # 3 repeats

Each widget is built as its notebook builds it (smaller data where the notebook's size
does not change the answer time). Prints a Markdown table; the README keeps a copy.
"""
from __future__ import annotations

import argparse
import json
import time
import tomllib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from xaitutor import concepts, data, influence, latent, models, widgets
from xaitutor.core import train
from xaitutor.plotting import use_projector_style


MANIFEST = tomllib.loads((Path(__file__).resolve().parents[1] / "notebooks" / "manifest.toml")
                         .read_text())["notebook"]


def built(what: str, make):
    start = time.perf_counter()
    box = make()
    print(f"  built {what} in {time.perf_counter() - start:.1f} s", flush=True)
    return box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line (benchmarks/busy.py)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    use_projector_style()
    rows = []

    def measure(notebook: str, widget: str, box, control: str, value, note: str = "", label=None):
        w = box.controls[control]
        old, start = w.value, time.perf_counter()
        w.value = value                                           # first time: no cache
        first = time.perf_counter() - start
        w.value = old
        again = widgets.time_update(w, value, repeats=repeats)
        rows.append((notebook, widget, f"{control} → {value if label is None else label}", 1000 * first,
                     1000 * again, note))

    # 01: concept models
    explorer = built("concept_model_explorer", lambda: widgets.concept_model_explorer(n=1000))
    start = time.perf_counter()
    explorer.controls["model"].value = "CEM"                 # a new setting trains a model
    rows.append(("01", "concept_model_explorer", "model → CEM",
                 1000 * (time.perf_counter() - start), None, "a new setting trains a model"))
    measure("01", "concept_model_explorer", explorer, "model", "CBM, joint", "trained before: cached")
    x, c, y = data.xor(1000, seed=0)
    seq = concepts.fit(x, c, y, "cbm", "sequential", progress=False)
    playground = built("intervention_playground", lambda: widgets.intervention_playground(seq, x, c, y))
    measure("01", "intervention_playground", playground, "c1", 1)
    measure("01", "intervention_playground", playground, "index", 7)

    # 02: saliency (as in the notebook: MNIST, the MnistCNN)
    xm, ym = data.mnist()
    torch.manual_seed(0)
    cnn = models.fit_classifier(models.MnistCNN(), xm[:3000], ym[:3000], epochs=3, progress=False)
    xs, ys = xm[9000:9100], ym[9000:9100]
    xd, yd = data.digits()                                 # 8×8: notebook 07
    torch.manual_seed(0)
    cnn8 = models.fit_classifier(models.SmallCNN(1, 10), xd[:1200], yd[:1200], epochs=10, progress=False)
    sal = built("saliency_explorer", lambda: widgets.saliency_explorer(cnn, xs, ys, cnn.features[-1]))
    for method in ["SmoothGrad", "Integrated Gradients", "Grad-CAM", "occlusion"]:
        measure("02", "saliency_explorer", sal, "method", method)
    dele = built("deletion_explorer", lambda: widgets.deletion_explorer(cnn, xs, ys, cnn.features[-1]))
    measure("02", "deletion_explorer", dele, "step", 10)
    measure("02", "deletion_explorer", dele, "method", "Integrated Gradients")

    # 03: influence (as in the notebook: logistic regression on MNIST 1 vs 7, 700 training points, λ = 0.05)
    x17, y17 = data.mnist(classes=(1, 7))
    (x17, y17), _ = data.split(x17.flatten(1).double(), (y17 == 7).long(), train=1000 / len(x17), seed=0)
    tr, te = data.split(x17, y17, train=0.7, seed=0)
    torch.manual_seed(0)
    lin = nn.Linear(784, 2).double()
    influence.fit(lin, nn.CrossEntropyLoss(), *tr, l2=0.05)
    lin.eval()
    idx = torch.arange(0, 700, 35)
    thetas = influence.retrain_without(lin, nn.CrossEntropyLoss(), tr, idx, l2=0.05, progress=False)
    inf = built("influence_explorer", lambda: widgets.influence_explorer(
        lin, nn.CrossEntropyLoss(), tr, te, idx, thetas, l2=0.05, class_names=["1", "7"]))
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
    cf = built("counterfactual_explorer", lambda: widgets.counterfactual_explorer(mlp, rejected, enc, xc, yc,
                                                                                immutable=("age", "sex")))
    measure("04", "counterfactual_explorer", cf, "index", 3,
            "every applicant was searched in one batch when the setting was first met")
    measure("04", "counterfactual_explorer", cf, "lam", 1.0, "a new setting: one batched search")
    measure("04", "counterfactual_explorer", cf, "freeze duration", True, "a new setting")
    torch.manual_seed(0)
    toy = nn.Sequential(nn.Linear(2, 2)).eval()
    with torch.no_grad():
        toy[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        toy[0].bias.zero_()
    X2 = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-0.5, 0.5], [0.5, -0.5]])
    path = built("path_explorer", lambda: widgets.path_explorer(toy, X2, (X2[:, 0] > 0).long()))
    measure("04", "path_explorer", path, "x2", -0.8)

    # 05: latent counterfactuals (as in the notebook: MNIST, 40 digits, an 8-D VAE)
    clf = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), cnn).eval()
    vae = latent.train_vae(xm[:3000].flatten(1), latent_dim=8, hidden=256, epochs=5, progress=False)
    X, Y = xm[9000:9040].flatten(1), ym[9000:9040]
    lat = built("latent_explorer", lambda: widgets.latent_explorer(clf, vae, X, Y))
    new_target = 3 if int(clf(X[:1]).argmax(1)) != 3 else 5
    start = time.perf_counter()
    lat.controls["target"].value = new_target                  # a new target: one batched search
    rows.append(("05", "latent_explorer", f"target → {new_target}", 1000 * (time.perf_counter() - start), None,
                 f"first time: all {len(X)} digits, input space + REVISE in one batch"))
    measure("05", "latent_explorer", lat, "index", 9, "searched in that batch")
    measure("05", "latent_explorer", lat, "method", "cchvae", "one digit at a time, then cached")
    sliders = built("latent_sliders", lambda: widgets.latent_sliders(vae, clf))
    measure("05", "latent_sliders", sliders, "z1", 2.0)

    # 06: recourse (as in the notebook)
    from xaitutor import recourse
    lin_credit = nn.Linear(xc.shape[1], 2)
    opt = torch.optim.LBFGS(lin_credit.parameters(), max_iter=300)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lin_credit(xc), yc) + 1e-3 * lin_credit.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    lin_credit.eval()
    with torch.no_grad():
        refused = xc[lin_credit(xc).argmax(1) == 0][:30]
    acts = recourse.ActionSet.from_data(
        xc, enc, immutable=("age", "sex", "job", "housing", "purpose"), one_way={"saving_accounts": 1},
        order={"saving_accounts": ["little", "moderate", "quite rich", "rich"],
               "checking_account": ["little", "moderate", "rich"]},
        forbidden={"saving_accounts": ["not_known"], "checking_account": ["not_known"]})
    flip = built("flipset_explorer", lambda: widgets.flipset_explorer(lin_credit, refused, acts, xc))
    measure("06", "flipset_explorer", flip, "index", 4, "up to k = 5 exact MILPs")
    measure("06", "flipset_explorer", flip, "may change duration", False)
    X_loan, _ = data.loan_applicants(2000, seed=0)
    scm = recourse.AdditiveSCM(data.LOAN_GRAPH, n_nodes=5).fit(X_loan)
    loan_lin = nn.Linear(5, 2).eval()
    scm_box = built("scm_explorer", lambda: widgets.scm_explorer(loan_lin, scm, X_loan[:20],
                                                                 list(data.LOAN_FEATURES), [1, 2, 4], X_loan))
    measure("06", "scm_explorer", scm_box, "do education", float(X_loan[0, 1]) + 3,
            "the first applicant's education + 3", label="+3")

    # 07: Shapley values (as in the notebook: digits, SLIC superpixels; the credit MLP)
    shap = built("shapley_explorer", lambda: widgets.shapley_explorer(cnn8, xd[1200:1220], yd[1200:1220]))
    measure("07", "shapley_explorer", shap, "method", "KernelSHAP", "256 coalitions")
    measure("07", "shapley_explorer", shap, "method", "LIME", "256 coalitions")
    measure("07", "shapley_explorer", shap, "index", 7, "a new digit: SLIC + exact Shapley (2^M calls, M ≤ 10)")
    shap.controls["method"].value = "KernelSHAP"
    measure("07", "shapley_explorer", shap, "n_segments", 16, "new superpixels (10 to 15): KernelSHAP")
    groups = torch.zeros(xc.shape[1], dtype=torch.long)
    for g, col in enumerate([*enc.numeric, *enc.categorical]):
        groups[enc.columns_of(col)] = g
    coal = built("coalition_explorer", lambda: widgets.coalition_explorer(
        mlp, rejected[:1], 1, groups[None], names=[*enc.numeric, *enc.categorical], baseline=xc.mean(0)))
    measure("07", "coalition_explorer", coal, "duration in S", False, "10 coalitions, one batch")

    def shown(ms):
        if ms is None:
            return "—"
        return (f"{ms:.1f}" if ms < 10 else f"{ms:.0f}") + ("" if ms <= 100 else " (> 100)")

    untimed = [row["main_widget"] for row in MANIFEST if row["main_widget"] not in {r[1] for r in rows}]
    if untimed:                                   # a notebook added to the manifest, not here
        raise SystemExit(f"benchmarks/widgets.py times no {untimed} (notebooks/manifest.toml's main widgets)")
    if args.json:
        print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}))
        return
    print(f"\nfirst change, then the median of {repeats} changes back and forth; "
          f"{torch.get_num_threads()} PyTorch thread(s)\n")
    print("| notebook | widget | control | first (ms) | again (ms) | note |\n|---|---|---|---|---|---|")
    for nb, widget, control, first, again, note in rows:
        print(f"| {nb} | {widget} | {control} | {shown(first)} | {shown(again)} | {note} |")


if __name__ == "__main__":
    main()
