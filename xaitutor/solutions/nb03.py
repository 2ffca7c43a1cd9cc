"""Model answers to notebook 03 (influence functions)."""


def hvp(objective, theta, v):
    """H v without forming H: the Hessian-vector product is the directional derivative of
    the gradient, d/dε ∇R(θ + εv) at ε = 0 — one forward-mode pass (``jvp``) through
    ``grad(objective)``. Cost: about two gradients, whatever the number of parameters."""
    from torch.func import grad, jvp
    return jvp(grad(objective), (theta,), (v,))[1]


hvp.binds = "lambda v: {answer}(objective, theta, v)"     # the learner's my_hvp(v), in nbgrader's edition


def flip_points(scores_row, k=10):
    """The k most *helpful* training points: the largest I(i, t). Influence is the predicted
    rise of the test loss when i is removed, and to first order the rises of several
    removals add up, so the points with the largest positive scores are those whose removal
    pushes the test point furthest towards the wrong class. (The most negative scores — the
    most harmful points — would make the prediction *more* confident.) Whether removing
    them really flips it is then checked by retraining."""
    return scores_row.argsort(descending=True)[:k].tolist()


flip_points.binds = "{answer}(scores_75)"                # the learner's my_points is a list of indices


def non_support_vector():
    """Not at all. The hinge SVM's optimum is fixed by its support vectors alone (the
    points on or inside the margin): a point outside the margin has zero loss and zero
    (sub)gradient, so θ̂ still satisfies the optimality conditions of R₋ᵢ and retraining
    returns θ̂ itself."""
    return "not at all"
