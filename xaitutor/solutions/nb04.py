"""Model answers to notebook 04 (counterfactual optimisation)."""


def huge_price_prediction():
    """Nearly all. μ = 1000 freezes the proximal search (no coordinate is worth its
    price), but the polish that follows solves the last step exactly: for each row it
    moves one coordinate to the margin m wherever the box allows. The sparsity
    you see is then the polish's, not μ's."""
    return "nearly all"


def free_age_prediction():
    """Yes: the optimiser sees only the model. If younger applicants score better, it
    lowers age like any other number; only a constraint (immutable, or one-way +1)
    rules that out."""
    return "yes"
