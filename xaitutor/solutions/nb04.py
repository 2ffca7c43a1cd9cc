"""Model answers to notebook 04 (counterfactual optimisation)."""


def huge_price_prediction():
    """One. μ = 1000 freezes the proximal search (no coordinate is worth its price), but
    the polish that follows solves the last step exactly: it tries every feature alone
    and keeps the cheapest move that reaches the margin m — one coordinate per row, since
    at that price a second coordinate never pays for itself. The sparsity you see is
    then the polish's, not μ's."""
    return "one"


def free_age_prediction():
    """Yes: the optimiser sees only the model. If younger applicants score better, it
    lowers age like any other number; only a constraint (immutable, or one-way +1)
    rules that out."""
    return "yes"
