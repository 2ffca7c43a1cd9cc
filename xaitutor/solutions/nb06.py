"""Model answers to notebook 06 (actionable and causal recourse)."""


def cheapest_single_change():
    """duration: the cost is the share of applicants passed, |ΔQ|, read off the printed Q
    columns. 30 → 24 months passes about 0.057 of applicants; a rich checking account
    about 0.063, savings 0.10 and a smaller loan 0.22. A big change in units can be
    cheap in percentiles, and the reverse."""
    return "duration"


def breaking_graph():
    """Income → debt (node 3's parent is node 2): bigger incomes bring bigger loans. The
    advice raises income as well as education; in a world with that arrow the raise
    also raises debt, which the bank's score punishes, and this applicant — advised to
    the edge of the boundary — stays rejected. (Education → age breaks it too, but
    nothing causes age.)"""
    return {3: [2]}
