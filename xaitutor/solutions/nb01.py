"""Model answers to notebook 01 (concept bottleneck models).

Each function returns the answer of one exercise; its docstring gives the reasoning.
The notebook prints them with ``xaitutor.exercises.solution("01", name)``.
"""


def seed_lam():
    """Exercise 1: ``concept_loss + 0.2·task_loss`` as ``task_loss + λ·concept_loss``.

    Factor out the 0.2: concept_loss + 0.2·task_loss = 0.2·(task_loss + 5·concept_loss).
    A positive factor scales the loss but does not move its minimum (and Adam's steps
    hardly notice it), so the earlier lesson trains our joint CBM with λ = 1 / 0.2 = 5.
    """
    return 5.0


def one_correction():
    """Exercise 2: one correction per example — correct the most uncertain concept.

    A concept whose probability is near 0 or 1 is less often wrong, so correcting it
    helps least. The concept nearest 0.5 is the likeliest to be wrong,
    and on noisy XOR one wrong concept flips the answer: correcting it fixes most
    mistakes. (Shin et al. 2023 compare such selection rules.)
    """
    return "the most uncertain"


def dot_prediction():
    """Exercise 3: perfect concepts do not close the gap on Dot.

    The task head of a CBM sees only the two concept bits. Dot's label is the sign of
    v₁·v₃, and two signs of sums cannot determine the sign of a dot product: even the
    true concepts leave the head near 0.74 while the black box, which sees x, gets 0.98.
    A bottleneck that is too narrow cannot be fixed by correcting what passes through it.
    """
    return "no"


def lam_without_leakage():
    """Exercise 4: a λ that makes the joint CBM's corrections safe on Trigonometry.

    With λ = 1 the task loss wins: the concept probabilities stay soft and lean toward the
    label, so correcting them to 0/1 destroys information the head used. A heavier concept
    loss pushes every probability to 0 or 1, leaving nothing to hide. λ = 5 (the
    earlier lesson's weighting, Exercise 1) does it: accuracy falls to about 0.84, what the
    concepts alone allow, and correcting concepts no longer hurts; λ = 1 (section 6) leaks.
    """
    return 5.0
