"""Input-space vs latent counterfactuals (REVISE, C-CHVAE), 100 inputs per data set.

    python benchmarks/latent.py            # 100 inputs per data set
    python benchmarks/latent.py --quick    # 30

Digits: 3s → 8 for the course's CNN (the VAE never sees it). German credit: rejected
applicants → approved, age and sex immutable, values within the training range.
Metrics from ``xaitutor.counterfactuals.metrics``, plausibility judged from outside the
VAE: L1 distance to the nearest training point of the target class, yNN (share of the 5
nearest training points the model gives the target), closer-to-target (share nearer a
target-class training point than any source-class one) and LOF inliers. The VAE's own
reconstruction error is not reported: it rates the VAE's counterfactuals above real data.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from xaitutor import counterfactuals as cf
from xaitutor import data, latent, models
from xaitutor.core import train
from xaitutor.constraints import Constraints


def row(name, x, x_cf, seconds, model, target, X_train, y_train, vae, **settings):
    m = cf.metrics(model, x, x_cf, target, X_train, y_train, **settings)
    print(f"| {name:26s} | {m['validity']:5.2f} | {m['proximity_l1']:6.2f} | {m['sparsity']:7.2f} | "
          f"{m['plausibility_nn']:7.2f} | {m['plausibility_ynn']:5.2f} | {m['closer_to_target']:6.2f} | "
          f"{m['plausibility_lof']:5.2f} | {seconds:7.2f} |")


def header(title):
    print(f"\n{title}\n")
    print(f"| {'method':26s} | {'valid':>5s} | {'L1':>6s} | {'changed':>7s} | {'NN dist':>7s} | "
          f"{'yNN':>5s} | {'closer':>6s} | {'LOF':>5s} | {'seconds':>7s} |")
    print(f"|{'-' * 28}|{'-' * 7}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 7}|{'-' * 8}|{'-' * 7}|{'-' * 9}|")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    n = 30 if parser.parse_args().quick else 100

    x, y = data.digits()
    (xtr, ytr), (xte, yte) = data.split(x, y, train=0.7, seed=0)
    torch.manual_seed(0)
    cnn = models.fit_classifier(models.SmallCNN(1, 10), xtr, ytr, epochs=30, progress=False)
    clf = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), cnn).eval()
    Xtr, Xall = xtr.flatten(1), torch.cat([xte, xtr]).flatten(1)
    yall = torch.cat([yte, ytr])
    vae = latent.train_vae(Xtr, latent_dim=8, epochs=100, progress=False)
    with torch.no_grad():
        threes = Xall[(yall == 3) & (clf(Xall).argmax(1) == 3)][:n]
    header(f"digits: {len(threes)} threes → 8")
    for name, fn in (("input space (notebook 04)", lambda: cf.optimize(clf, threes, 8, lam=0.05, distance="l1", constraints=Constraints(bounds=(0.0, 1.0))).x_cf),
                     ("REVISE", lambda: latent.counterfactual(clf, vae, threes, 8).x_cf),
                     ("C-CHVAE", lambda: latent.counterfactual(clf, vae, threes, 8, method="cchvae").x_cf)):
        x_cf, seconds = timed(fn)
        row(name, threes, x_cf, seconds, clf, 8, Xtr, ytr, vae)

    xg, yg, _, enc = data.german_credit()
    (gtr, gytr), (gte, gyte) = data.split(xg, yg, train=0.7, seed=0)
    torch.manual_seed(0)
    credit = nn.Sequential(nn.Linear(xg.shape[1], 32), nn.ReLU(), nn.Linear(32, 2))
    train(lambda xb, yb: F.cross_entropy(credit(xb), yb), credit, (gtr, gytr), epochs=300, progress=False)
    credit.eval()
    rejected = xg[cf.predict(credit, xg) == 0][:n]
    tab_vae = latent.train_vae(gtr, latent_dim=6, likelihood="mixed", categorical=enc.categorical_groups,
                               epochs=150, progress=False)
    imm = enc.columns_of("age") + enc.columns_of("sex")
    bounds = enc.bounds(gtr)
    settings = dict(mad=cf.mad(gtr), constraints=Constraints(bounds=bounds, categorical=enc.categorical_groups, immutable=imm))
    header(f"German credit: {len(rejected)} rejected applicants → approved (age, sex immutable)")
    for name, fn in (("input space (notebook 04)", lambda: cf.optimize(credit, rejected, 1, **settings).x_cf),
                     ("REVISE", lambda: latent.counterfactual(credit, tab_vae, rejected, 1, constraints=Constraints(immutable=imm, bounds=bounds)).x_cf),
                     ("C-CHVAE", lambda: latent.counterfactual(credit, tab_vae, rejected, 1, method="cchvae", constraints=Constraints(immutable=imm, bounds=bounds)).x_cf)):
        x_cf, seconds = timed(fn)
        row(name, rejected, x_cf, seconds, credit, 1, gtr, gytr, tab_vae, **settings)


if __name__ == "__main__":
    main()
