"""Held-out accuracy of concept models over several seeds, next to the published figures.

    python benchmarks/concepts.py            # 5 seeds (about a minute on 2 CPU cores)
    python benchmarks/concepts.py --quick    # 2 seeds

For each data set (n = 1000, 70 % train) and model: task and concept accuracy on the
held-out 30 %, mean ± std over seeds, and the mean training time. Reference figures are
those quoted in the course (Espinosa Zarlenga et al. 2022): black box ~97–99 % on all
three, a fuzzy CBM ~82–87 % on Trigonometry and ~70–82 % on Dot.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

from xaitutor import concepts, data

MODELS = concepts.MODELS
REFERENCE = {
    ("xor", "black box"): "97–99", ("trigonometry", "black box"): "97–99", ("dot", "black box"): "97–99",
    ("trigonometry", "CBM, sequential"): "82–87 (fuzzy CBM)", ("dot", "CBM, sequential"): "70–82 (fuzzy CBM)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 5")
    parser.add_argument("--seeds", type=int, default=None)
    args = parser.parse_args()
    seeds = range(args.seeds or (2 if args.quick else 5))
    runs = [(ds, name, s) for ds in data.DATASETS for name in MODELS for s in seeds]
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for ds, name, seed in tqdm(runs, desc="fits"):
        (xtr, ctr, ytr), test = data.split(*data.load(ds, 1000, seed), train=0.7, seed=seed)
        start = time.perf_counter()
        model = concepts.fit(xtr, ctr, ytr, *MODELS[name], seed=seed, progress=False)
        seconds = time.perf_counter() - start
        acc = concepts.accuracy(model, *test)
        results.setdefault((ds, name), []).append((acc["task"], acc["concept"], seconds))

    print(f"\nHeld-out accuracy (%), mean ± std over {len(seeds)} seeds\n")
    header = f"| {'data set':13s} | {'model':16s} | {'task':13s} | {'concept':13s} | {'fit (s)':7s} | {'reference task':18s} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for (ds, name), rows in results.items():
        r = np.array(rows)
        task = f"{100 * r[:, 0].mean():5.1f} ± {100 * r[:, 0].std():4.1f}"
        conc = "—" if np.isnan(r[:, 1]).all() else f"{100 * r[:, 1].mean():5.1f} ± {100 * r[:, 1].std():4.1f}"
        print(f"| {ds:13s} | {name:16s} | {task:13s} | {conc:13s} | {r[:, 2].mean():7.2f} | "
              f"{REFERENCE.get((ds, name), ''):18s} |")


if __name__ == "__main__":
    main()
