"""Model answers to notebook 07 (Shapley values, KernelSHAP and LIME)."""


def toy_values():
    """f = 2·x1 + x2·x3 at (1, 1, 1), baseline 0: three units to split.

    x1 adds 2 whatever joins before it, in all 6 orders: φ1 = 2. The product x2·x3 is
    earned by whichever of x2 and x3 joins second, and each is second in half of the
    orders: φ2 = φ3 = 1/2. Efficiency: 2 + 1/2 + 1/2 = 3 = f(x) − f(b).
    """
    return [2.0, 0.5, 0.5]


def budget_choice():
    """KernelSHAP: its weighted regression uses every model call to estimate every
    feature at once (and paired coalitions cancel much of the noise), while a
    permutation spends its calls on one chain of marginal contributions."""
    return "KernelSHAP"


def wide_kernel():
    """Banzhaf: a very wide kernel gives every coalition the same weight, and the
    unweighted least-squares fit of a game over all its coalitions has the Banzhaf
    values as coefficients (Hammer & Holzman, 1992). The Shapley kernel is not flat."""
    return "Banzhaf"


def and_weight():
    """Any c with 1/4 < c < 1/3 flips the ranking.

    The AND of x1, x2, x3 is one unit shared three ways: Shapley gives each 1/3, Banzhaf
    (an unweighted average over the 2^3 coalitions of the others) 1/4. x4 adds c to
    every coalition, so both give it c. With c = 0.3, Shapley ranks x1 above x4 and
    Banzhaf — and so wide-kernel LIME — ranks x4 above x1.
    """
    return 0.3


def game_for_uses():
    """Interventional: it changes only what the model reads, so a feature the model never
    reads gets exactly 0. The conditional game credits age with what it tells about the
    inputs it is correlated with, and would say "age matters" for a model that never
    sees it."""
    return "interventional"
