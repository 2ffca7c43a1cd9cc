"""Shapley values and LIME, xaitutor vs Captum, on the same model and inputs: time, and
error to the exact Shapley values.

    python benchmarks/shapley.py            # 16 digits, median of 3 runs
    python benchmarks/shapley.py --quick    # 4 digits, one run

Then KernelSHAP's accuracy at equal numbers of model calls, ours against shap's
``KernelExplainer`` (if shap is installed: ``pip install -e ".[peers]"``) and Captum's
``KernelShap``, on the same games (each digit's 12 superpixels), mean over 5 seeds.

The model is the course's digit CNN, trained for a few epochs (the error of an
estimator depends on the game, so on a trained model); the features are SLIC
superpixels of test digits that have exactly 12 of them (exact values: 2^12 = 4,096
model calls per digit). Errors are ‖estimate − exact‖ / ‖exact‖ per digit, averaged.

Where the definitions match, both sides must agree (checked before timing): exact
Shapley (on 4 patches: Captum's ShapleyValues walks all M! orders, 4.8e8 for M = 12),
permutation sampling with the same orders, feature ablation, and LIME given the same
coalitions, kernel and ridge. Where they differ — KernelSHAP (Captum: no paired
sampling, the ends held by a weight of 1e6 instead of a constraint, float32) and LIME's
defaults (Captum: a Lasso on a cosine kernel between perturbed *inputs*) — the table
shows what each estimates.
"""
from __future__ import annotations

import argparse
import statistics
import logging
import time
import warnings

import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import FeatureAblation, KernelShap, Lime, ShapleyValues, ShapleyValueSampling

from xaitutor import data, models, saliency, shapley

warnings.filterwarnings("ignore", message="You are providing multiple inputs for Lime")
logging.getLogger("shap").setLevel(logging.ERROR)


def timed(fn, repeats: int):
    """(result of the first call, median seconds over ``repeats`` calls)."""
    times, out = [], None
    for r in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        out = result if r == 0 else out
    return out, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, repeats = (4, 1) if args.quick else (16, 3)
    x_all, y_all = data.digits()
    (x_tr, y_tr), (x_te, y_te) = data.split(x_all, y_all, train=0.7, seed=0)
    torch.manual_seed(0)
    model = models.fit_classifier(models.SmallCNN(1, 10), x_tr, y_tr, epochs=10, progress=False)
    seg_all = shapley.superpixels(x_te[:200], n_segments=16, compactness=0.1)
    pick = [i for i, s in enumerate(seg_all) if int(s.max()) + 1 == 12][:n]
    x, t, seg = x_te[pick], y_te[pick], seg_all[pick]
    m = 12
    exact, t_exact = timed(lambda: shapley.exact(model, x, t, seg), repeats)
    ref = shapley.group_values(exact, seg)

    def error(a: torch.Tensor) -> float:
        g = shapley.group_values(a.double(), seg)
        return ((g - ref).norm(dim=1) / ref.norm(dim=1)).mean().item()

    rows = [("exact Shapley, 12 superpixels (4,096 calls)", 1000 * t_exact, None, 0.0, None,
             "Captum's ShapleyValues: 12! = 4.8e8 orders, not run")]

    # exact on 4 patches: both enumerate
    quarters = shapley.patches(x, 4)
    ours, t_ours = timed(lambda: shapley.exact(model, x, t, quarters), repeats)
    theirs, t_theirs = timed(lambda: ShapleyValues(model).attribute(x, target=t, feature_mask=quarters,
                                                                    perturbations_per_eval=64), repeats)
    rows.append(("exact Shapley, 4 patches", 1000 * t_ours, 1000 * t_theirs, None, None,
                 f"same values, max |Δ| {(ours - theirs).abs().max():.1e}"))

    # permutation sampling, the same orders
    for orders in (10, 50):
        ours, t_ours = timed(lambda: shapley.sampling(model, x, t, seg, n_samples=orders, seed=0), repeats)

        def captum_sampling():
            torch.manual_seed(0)
            return ShapleyValueSampling(model).attribute(x, target=t, feature_mask=seg, n_samples=orders,
                                                         perturbations_per_eval=m)
        theirs, t_theirs = timed(captum_sampling, repeats)
        rows.append((f"permutation sampling, {orders} orders ({orders * (m - 1) + 2} calls)", 1000 * t_ours,
                     1000 * t_theirs, error(ours), error(theirs),
                     f"same orders, max |Δ| {(ours - theirs).abs().max():.1e}"))

    # KernelSHAP: different estimators of the same values
    for budget in (200, 1000):
        ours, t_ours = timed(lambda: shapley.kernel_shap(model, x, t, seg, n_samples=budget, seed=0), repeats)

        def captum_kernel():
            torch.manual_seed(0)
            return KernelShap(model).attribute(x, target=t, feature_mask=seg, n_samples=budget,
                                               perturbations_per_eval=budget)
        theirs, t_theirs = timed(captum_kernel, repeats)
        eff = (shapley.group_values(theirs.double(), seg).sum(1) - ref.sum(1)).abs().max().item()
        rows.append((f"KernelSHAP, {budget} coalitions", 1000 * t_ours, 1000 * t_theirs, error(ours),
                     error(theirs), f"Captum's efficiency gap up to {eff:.1e} (ours: 0 by constraint)"))

    # LIME: the same definition (our coalitions, kernel and ridge), then each one's defaults
    z = torch.rand(1000, m, generator=torch.Generator().manual_seed(0)) < 0.5
    z[0] = True

    def captum_same():
        out = []
        for i in range(len(x)):                       # Captum fits one digit at a time
            samples = iter(z.long())                  # our coalitions, again for each digit

            def coalitions(_, **kwargs):
                while True:
                    yield next(samples)[None]

            def kernel(_, __, zi, **kwargs):
                return torch.exp(-(1 - torch.sqrt(zi.sum() / zi.numel())) ** 2 / (2 * 0.25 ** 2))

            out.append(Lime(model, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=kernel,
                            perturb_func=coalitions).attribute(x[i:i + 1], target=t[i:i + 1],
                                                               feature_mask=seg[i:i + 1], n_samples=1000,
                                                               perturbations_per_eval=1000))
        return torch.cat(out)
    ours, t_ours = timed(lambda: shapley.lime(model, x, t, seg, n_samples=1000, seed=0), repeats)
    theirs, t_theirs = timed(captum_same, repeats)
    rows.append(("LIME, 1,000 coalitions, same kernel and ridge", 1000 * t_ours, 1000 * t_theirs, error(ours),
                 error(theirs), f"same definition, max |Δ| {(ours - theirs).abs().max():.1e}"))

    def captum_default():
        torch.manual_seed(0)
        return Lime(model).attribute(x, target=t, feature_mask=seg, n_samples=1000, perturbations_per_eval=1000)
    theirs, t_theirs = timed(captum_default, repeats)
    rows.append(("LIME, 1,000 coalitions, each one's defaults", 1000 * t_ours, 1000 * t_theirs, error(ours),
                 error(theirs), "Captum: Lasso(0.01), cosine kernel on the inputs; ours: ridge(1), kernel on z"))

    ours, t_ours = timed(lambda: saliency.feature_ablation(model, x, t, seg), repeats)
    theirs, t_theirs = timed(lambda: FeatureAblation(model).attribute(x, target=t, feature_mask=seg,
                                                                      perturbations_per_eval=m), repeats)
    rows.append(("feature ablation (leave-one-out)", 1000 * t_ours, 1000 * t_theirs, error(ours), error(theirs),
                 f"same values, max |Δ| {(ours - theirs).abs().max():.1e}"))

    print(f"\n{len(x)} test digits with {m} SLIC superpixels each; digit CNN; median of {repeats} run(s); "
          f"{torch.get_num_threads()} PyTorch thread(s). Error: ‖estimate − exact‖ / ‖exact‖, mean over digits.\n")
    print("| method | xaitutor (ms) | Captum (ms) | ours / Captum | error, ours | error, Captum | note |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v, spec: "—" if v is None else format(v, spec)                     # noqa: E731
    for name, ms_o, ms_c, e_o, e_c, note in rows:
        ratio = None if ms_c is None else ms_o / ms_c
        print(f"| {name} | {fmt(ms_o, '.0f')} | {fmt(ms_c, '.0f')} | {fmt(ratio, '.2f')} | "
              f"{fmt(e_o, '.3f')} | {fmt(e_c, '.3f')} | {note} |")
    kernel_shap_accuracy(model, x, t, seg, ref, seeds=2 if args.quick else 5)


def kernel_shap_accuracy(model, x, t, seg, ref, seeds: int = 5) -> None:
    """Error to the exact values at equal budgets: ours, shap's and Captum's KernelSHAP."""
    try:
        import numpy as np
        import shap
    except ImportError:
        shap = None
    m = int(seg.max()) + 1

    def shap_values(budget: int, seed: int) -> torch.Tensor:
        rows = []
        for i in range(len(x)):
            def game(z, i=i):
                return shapley.coalition_values(model, x[i:i + 1], t[i:i + 1], torch.as_tensor(z).bool(),
                                                seg[i:i + 1])[0].double().numpy()
            np.random.seed(seed)
            explainer = shap.KernelExplainer(game, np.zeros((1, m)))
            rows.append(explainer.shap_values(np.ones((1, m)), nsamples=budget, l1_reg=False, silent=True)[0])
        return torch.as_tensor(np.array(rows))

    def captum_values(budget: int, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return KernelShap(model).attribute(x, target=t, feature_mask=seg, n_samples=budget,
                                           perturbations_per_eval=budget)

    print(f"\nKernelSHAP at equal model calls per digit (+2 for ∅ and N): ‖estimate − exact‖ / ‖exact‖, "
          f"mean over {len(x)} digits × {seeds} seeds" + ("" if shap else " (shap not installed)") + ".\n")
    print("| coalitions | xaitutor | shap KernelExplainer | Captum KernelShap | ours / shap |")
    print("|---|---|---|---|---|")
    for budget in (32, 64, 128, 256, 512, 1024):
        ours = statistics.mean(_group_error(shapley.group_values(
            shapley.kernel_shap(model, x, t, seg, n_samples=budget, seed=s), seg), ref) for s in range(seeds))
        captum = statistics.mean(_group_error(shapley.group_values(captum_values(budget, s), seg), ref)
                                 for s in range(seeds))
        theirs = None
        if shap is not None:
            theirs = statistics.mean(_group_error(shap_values(budget, s), ref) for s in range(seeds))
        ratio = "—" if theirs is None else f"{ours / theirs:.2f}"
        print(f"| {budget} | {ours:.4f} | {'—' if theirs is None else format(theirs, '.4f')} | "
              f"{captum:.4f} | {ratio} |")


def _group_error(values: torch.Tensor, ref: torch.Tensor) -> float:
    """Mean relative error of group values ``(N, M)`` to ``ref``."""
    return ((values.double() - ref).norm(dim=1) / ref.norm(dim=1)).mean().item()


if __name__ == "__main__":
    main()
