"""Model answers to notebook 04 (counterfactual optimisation)."""


def toy_mu():
    """μ = 30 (any μ from about 20 up does it, on this toy).

    λ only scales the squared distance, which still prefers to spread a change over both
    coordinates; μ prices every unit of every coordinate moved, and once it outweighs
    what the second coordinate saves, one coordinate does the whole job. Check both
    numbers, not one: a price can also stop a search short of the boundary.
    """
    return 30.0


def free_age_prediction():
    """Yes: the optimiser sees only the model. If younger applicants score better, it
    lowers age like any other number; only a constraint (immutable, or one-way +1)
    rules that out."""
    return "yes"
