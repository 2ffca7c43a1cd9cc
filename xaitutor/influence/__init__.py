"""Influence functions (Koh & Liang 2017): which training points made this prediction?

One definition everywhere. The model is trained to the optimum θ̂ of

    R(θ) = (1/n) Σ_i L(z_i, θ) + (l2/2) ‖θ‖²,        H = ∇²R(θ̂).

The **influence of training point i on test point t** is the predicted change of the test
loss when i is removed (its term dropped from the sum) and the model retrained:

    I(i, t) = (1/n) ∇θL(z_t, θ̂)ᵀ H⁻¹ ∇θL(z_i, θ̂)      (Koh & Liang's I_up,loss × −1/n).

Positive: removing i would *raise* the test loss — i is a helpful point. Negative: a
harmful one. The parameters with ``requires_grad`` count — all of them when none has it (a
model frozen for inference). No function changes a ``requires_grad`` flag; only :func:`fit`
changes the model (its weights, and it leaves it in eval mode). Per-sample gradients and
Hessians use ``torch.func`` (``vmap``, ``grad``, ``hessian``), Hessian-vector products a
second backward pass batched over the vectors; nothing loops over training points in
Python. Many queries on one training set: :class:`Influence` keeps what they share.

The family, one module each: ``objective`` (R(θ) on a flat parameter vector, :func:`fit`, the
gradients, Hessian-vector products and the Hessian), ``solvers`` (exact, CG, LiSSA),
``scores`` (:class:`Influence` and the functions that ask it), ``retraining`` (leave one out,
the reference) and ``svm`` (the smooth and the exact hinge). The names below are the family's
public face; ``xaitutor.influence.X`` keeps working for each.
"""
from __future__ import annotations

from . import objective, retraining, scores, solvers, svm
from .objective import FitReport, fit, hessian, hvp, per_sample_grads
from .solvers import METHODS, LissaReport
from .retraining import leave_one_out, loss_change, losses, retrain_without
from .scores import Influence, Solution, influence, perturbation_influence, self_influence, solve
from .svm import Hinge, HingeReport, SmoothHinge, fit_hinge_svm, hinge, retrain_hinge_svm_without, smooth_hinge

__all__ = ["fit", "FitReport", "Influence", "influence", "self_influence", "perturbation_influence",
           "per_sample_grads", "hvp", "hessian", "solve", "leave_one_out", "retrain_without",
           "loss_change", "smooth_hinge", "SmoothHinge", "hinge", "Hinge", "fit_hinge_svm",
           "HingeReport", "retrain_hinge_svm_without", "METHODS", "Solution", "LissaReport", "losses",
           "objective", "solvers", "scores", "retraining", "svm"]
