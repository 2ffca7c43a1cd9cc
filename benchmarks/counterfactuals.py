"""Counterfactuals for rejected German-credit applicants: xaitutor vs DiCE, vs the exact
optimum, and along a sparsity path.

    python benchmarks/counterfactuals.py            # 100 applicants
    python benchmarks/counterfactuals.py --quick    # 20 applicants

Three tables. (1) A network, every method: validity, cost, features changed,
plausibility, time. (2) A logistic regression, where the cheapest counterfactual is a
mixed-integer program (``cf.lp_counterfactual``, scipy's HiGHS) and so is the sparsest
(``cf.min_features_counterfactual``): our search with and without its polish, as a
ratio to that optimum. (3) The sparsity path (L0 and elastic net) on the network.

Everyone explains the same network on the same encoding: DiCE's own (one-hot
categories, min-max scaled numbers), so DiCE's gradient method can run on it. DiCE is
an optional peer (``pip install -e ".[peers]"``); without it only our rows print, with
a message. alibi needs TensorFlow and is not compared here. Metrics are
``xaitutor.counterfactuals.metrics`` for every method: validity, MAD-weighted L1
proximity, columns changed, distance to the nearest good-credit applicant, LOF inliers.
"""
from __future__ import annotations

import argparse
import time
import warnings
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xaitutor import counterfactuals as cf
from xaitutor.constraints import Constraints
from xaitutor.counterfactuals import Search

warnings.filterwarnings("ignore")


class TwoLogits(nn.Module):
    """A sigmoid network (what DiCE's PyTorch backend wants) as two-class logits."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        p = self.net(x).clamp(1e-7, 1 - 1e-7)
        return torch.cat([torch.log1p(-p), torch.log(p)], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_rows = 20 if args.quick else 100
    try:
        import dice_ml
        import pandas as pd
    except ImportError:
        dice_ml = None
        print("dice-ml is not installed (pip install -e '.[peers]'): only xaitutor is measured\n")
    import csv

    path = resources.files("xaitutor.data") / "files" / "german_credit" / "german.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    continuous = ["age", "job", "credit_amount", "duration"]
    categorical = ["sex", "housing", "saving_accounts", "checking_account", "purpose"]
    if dice_ml is not None:
        df = pd.read_csv(path)
        data = dice_ml.Data(dataframe=df, continuous_features=continuous, outcome_name="risk")
        encoded = data.get_ohe_min_max_normalized_data(df.drop(columns="risk"))
        columns = list(encoded.columns)
        X = torch.tensor(encoded.values.astype(np.float32))
    else:                                   # the same encoding, by hand
        columns = continuous + sorted({f"{c}_{r[c]}" for r in rows for c in categorical})
        num = np.array([[float(r[c]) for c in continuous] for r in rows])
        num = (num - num.min(0)) / (num.max(0) - num.min(0))
        cat = np.array([[float(name in {f"{c}_{r[c]}" for c in categorical}) for name in columns[4:]]
                        for r in rows])
        X = torch.tensor(np.hstack([num, cat]), dtype=torch.float32)
    y = torch.tensor([int(r["risk"]) for r in rows])
    groups = [[j for j, name in enumerate(columns) if name.startswith(c + "_")] for c in categorical]

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(X.shape[1], 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        F.binary_cross_entropy(net(X).squeeze(1), y.float()).backward()
        opt.step()
    net.eval()
    model = TwoLogits(net).eval()
    rejected_idx = (cf.predict(model, X) == 0).nonzero().flatten()[:n_rows]
    x = X[rejected_idx]
    mads = cf.mad(X)
    rules = Constraints(categorical=groups, bounds=(0.0, 1.0))
    settings = dict(X_train=X, y_train=y, mad=mads, constraints=rules)
    results = {}

    start = time.perf_counter()
    ours = cf.optimize(model, x, 1, mad=mads, constraints=rules)
    results["xaitutor (batched)"] = (ours.x_cf, time.perf_counter() - start)
    start = time.perf_counter()
    ours_sparse = cf.optimize(model, x, 1, mu=1.0, sparsity="l0", mad=mads, constraints=rules)
    results["xaitutor, L0 μ = 1"] = (ours_sparse.x_cf, time.perf_counter() - start)
    start = time.perf_counter()
    search_only = cf.optimize(model, x, 1, mad=mads, constraints=rules, search=Search(polish=False))
    results["xaitutor, no polish"] = (search_only.x_cf, time.perf_counter() - start)

    if dice_ml is not None:
        query = df.drop(columns="risk").iloc[rejected_idx.numpy()]
        for method in ("gradient", "random"):
            try:
                explainer = dice_ml.Dice(data, dice_ml.Model(model=net, backend="PYT", func="ohe-min-max"),
                                         method=method)
                start = time.perf_counter()
                out = explainer.generate_counterfactuals(query, total_CFs=1, desired_class="opposite",
                                                         verbose=False)
                seconds = time.perf_counter() - start
            except Exception as e:                                   # report, do not hide
                print(f"DiCE {method}: failed ({type(e).__name__}: {e})")
                continue
            found = []
            for i, example in enumerate(out.cf_examples_list):
                frame = example.final_cfs_df
                if frame is None or len(frame) == 0:
                    found.append(x[i])                               # none found: counts invalid
                    continue
                enc = data.get_ohe_min_max_normalized_data(frame.drop(columns="risk"))
                found.append(torch.tensor(enc[columns].values[0].astype(np.float32)))
            results[f"DiCE {method}"] = (torch.stack(found), seconds)

    print(f"\n{len(x)} rejected applicants, German credit, one counterfactual each "
          f"(CPU threads {torch.get_num_threads()})\n")
    head = (f"| {'method':20s} | {'valid':>5s} | {'MAD L1':>6s} | {'changed':>7s} | "
            f"{'NN dist':>7s} | {'LOF in':>6s} | {'seconds':>7s} | {'vs DiCE gradient':>16s} |")
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    t_dice = results.get("DiCE gradient", (None, None))[1]
    for name, (x_cf, seconds) in results.items():
        m = cf.metrics(model, x, x_cf, 1, **settings)
        speed = f"{t_dice / seconds:15.0f}×" if t_dice else f"{'—':>16s}"
        print(f"| {name:20s} | {m['validity']:5.2f} | {m['proximity_mad']:6.2f} | {m['sparsity']:7.2f} | "
              f"{m['plausibility_nn']:7.2f} | {m['plausibility_lof']:6.2f} | {seconds:7.2f} | {speed} |")
    print("\n(changed: original features; a category switch counts once)")

    exact_table(X, y, groups, mads, n_rows)
    path_table(model, x, mads, groups, settings)


def exact_table(X, y, groups, mads, n_rows) -> None:
    """(2) A logistic regression: our counterfactuals against the MILP optima."""
    torch.manual_seed(0)
    logreg = nn.Linear(X.shape[1], 2)
    opt = torch.optim.Adam(logreg.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(logreg(X), y).backward()
        opt.step()
    logreg.eval()
    x = X[cf.predict(logreg, X) == 0][:n_rows]
    kw = dict(mad=mads, constraints=Constraints(categorical=groups, bounds=(0.0, 1.0)))
    rows = {}
    for name, run in (("MILP: cheapest", lambda: cf.lp_counterfactual(logreg, x, 1, **kw)),
                      ("MILP: fewest features", lambda: cf.min_features_counterfactual(logreg, x, 1, **kw)),
                      ("search only (no polish)", lambda: cf.optimize(logreg, x, 1, **kw, search=Search(polish=False))),
                      ("optimize, defaults", lambda: cf.optimize(logreg, x, 1, **kw)),
                      ("optimize, L0 (μ = 1)", lambda: cf.optimize(logreg, x, 1, mu=1.0, sparsity="l0", **kw))):
        start = time.perf_counter()
        r = run()
        rows[name] = (r, time.perf_counter() - start)
    exact = rows["MILP: cheapest"][0]
    ok = exact.feasible.clone()
    for r, _ in rows.values():
        ok &= r.feasible if hasattr(r, "feasible") else r.valid
    print(f"\nLogistic regression, {len(x)} rejected applicants ({int(ok.sum())} with a counterfactual "
          "from every method): cost and features against the exact optimum\n")
    head = f"| {'method':24s} | {'cost ÷ optimum':>14s} | {'features changed':>16s} | {'seconds':>7s} |"
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    for name, (r, seconds) in rows.items():
        cost = ((r.x_cf - x).abs() / mads).sum(1)
        m = cf.metrics(logreg, x[ok], r.x_cf[ok], 1, X, y, **kw)
        print(f"| {name:24s} | {(cost[ok].sum() / exact.cost[ok].sum()).item():14.3f} | "
              f"{m['sparsity']:16.2f} | {seconds:7.2f} |")


def path_table(model, x, mads, groups, settings) -> None:
    """(3) The sparsity path on the network: features changed and cost against μ."""
    mus = [0.0, 0.1, 0.3, 1.0, 3.0]
    print("\nSparsity path on the network (cf.sparsity_path; each μ starts from the previous support)\n")
    head = f"| {'penalty':32s} | " + " | ".join(f"μ = {m:<4g}" for m in mus) + " |"
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    for name, kw in (("L0, MAD distance", dict(sparsity="l0")), ("elastic net (L2 + L1)", dict(distance="l2"))):
        path = cf.sparsity_path(model, x, 1, mus, mad=mads, constraints=settings["constraints"], **kw)
        ms = [cf.metrics(model, x, r.x_cf, 1, **settings) for r in path]
        print(f"| {name + ': features':32s} | " + " | ".join(f"{m['sparsity']:8.2f}" for m in ms) + " |")
        print(f"| {'  MAD cost':32s} | " + " | ".join(f"{m['proximity_mad']:8.2f}" for m in ms) + " |")
        print(f"| {'  validity':32s} | " + " | ".join(f"{m['validity']:8.2f}" for m in ms) + " |")


if __name__ == "__main__":
    main()
