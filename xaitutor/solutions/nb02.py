"""Model answers to notebook 02 (saliency maps). Read one with
``xaitutor.exercises.solution("02", "ig_left")``."""
from __future__ import annotations

import torch

from xaitutor import saliency


def ig_left(model, x, t, baseline, n_steps):
    """Exercise 1 — Integrated Gradients with the left Riemann sum.

    Only the points on the path change: α_k = k / n for k = 0, …, n − 1 (the midpoint
    rule used (k + ½) / n). Each point gets the same weight 1/n, so the integral is the
    mean of the gradients, times (x − baseline). All n points go through the model as
    one batch: the path is (n_steps, N, …), flattened to (n_steps·N, …) and back.
    """
    alphas = torch.arange(n_steps, device=x.device) / n_steps              # 0, 1/n, …, (n−1)/n
    path = baseline + alphas.view(-1, *[1] * x.dim()) * (x - baseline)     # (n_steps, N, …)
    g = saliency.gradient(model, path.flatten(0, 1), t.repeat(n_steps)).view(n_steps, *x.shape)
    return (x - baseline) * g.mean(0)


def left_riemann_steps():
    """Exercise 1 — how many steps does the left Riemann sum need to bring the completeness
    gap within 5 % of S_c(x) − S_c(x'): 4, 16 or 64?

    16. The left sum reads each step's gradient at the step's start, α_k = k/n: where the
    gradient grows along the path it under-counts that step, where it shrinks it
    over-counts. On the digit CNN it needs more steps than the midpoint rule, which reads
    the middle of each step: the table of gaps shows the left sum above 5 % at 4 and 8
    steps and below at 16, the midpoint rule below 5 % already at 4 steps.
    """
    return 16


def saturated_input():
    """Exercise 2 — an input where the gradient says "x₂ does not matter" although it does,
    for h(x) = min(1, 2·x₁ + x₂).

    The gradient is 0 wherever 2·x₁ + x₂ > 1 (the model is flat there). For x₂ to matter,
    removing it must lower h: h(x₁, 0) = min(1, 2·x₁) must stay below 1 − 0.25, so
    x₁ ≤ 0.375. Take x₁ = 0.25 (2·x₁ = 0.5) and x₂ = 1: the sum is 1.5 > 1 (gradient 0),
    and h drops from 1 to 0.5 without x₂. Integrated Gradients from 0 walks the path
    α·x, which is unsaturated while 1.5·α < 1, i.e. for α < 2/3: IG₂ = x₂ · 1 · 2/3 ≈ 0.67
    and IG₁ = x₁ · 2 · 2/3 ≈ 0.33; they add up to h(x) − h(0) = 1 (completeness).
    """
    return torch.tensor([[0.25, 1.0]])


def survives_randomisation():
    """Exercise 3 — after every layer is re-drawn, which map keeps a higher rank correlation
    with the original: occlusion or Grad-CAM?

    Occlusion: a black patch over the black background of a digit changes no input, so
    the score does not move there whatever the weights are; only patches over the ink
    can score, and the map keeps the digit's shape even for a random network. Grad-CAM
    weighs the last layer's maps by the (now random) gradients of a random head: nothing
    of the original ranking survives.
    """
    return "occlusion"


def new_head_explains():
    """Exercise 4 — after ``model.fc = nn.Linear(512, 1000)``, what do the maps explain:
    "the loaded network" or "a random head on the loaded features"?

    A random head on the loaded features. ``nn.Linear`` draws fresh random weights and the
    assignment throws the trained head away; the features below it are untouched. The
    predicted class changes, and the gradient map of the class the loaded network
    predicts hardly agrees with the loaded network's (the notebook prints both).
    """
    return "a random head on the loaded features"


def is_same_model(model, probe, logits):
    """Exercise 4 — does ``model`` still compute what the network you loaded computed?

    Record the loaded network's outputs on a fixed probe input once; later, a model that
    gives the same outputs on the probe (to float round-off) is that network, whatever
    Python object holds it. Checking the *number* of outputs is not enough: the mistaken
    ``model.fc = nn.Linear(512, 1000)`` keeps 1000 outputs and a fresh random head.
    Comparing object identity is too strict: a copy with the same weights is fine.
    """
    with torch.no_grad():
        out = model(probe)
    return bool(out.shape == logits.shape and torch.allclose(out, logits, atol=1e-4))
