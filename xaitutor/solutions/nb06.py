"""Model answers to notebook 06 (actionable and causal recourse)."""


def cheapest_single_change():
    """duration: the cost is the share of applicants passed, |ΔQ|, read off the printed Q
    columns. 30 → 24 months passes about 0.057 of applicants; a rich checking account
    about 0.063, savings 0.10 and a smaller loan 0.22. A big change in units can be
    cheap in percentiles, and the reverse."""
    return "duration"


def breaking_graph():
    """Education → debt (node 3's parent is node 1): the study loan. The independent
    reading raised education as if nothing else moved; in a world where schooling costs
    money, it also raises debt, which the bank's score punishes, and the applicant stays
    rejected."""
    return {3: [1]}
