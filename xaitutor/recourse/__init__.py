"""Actionable and causal recourse: what a rejected applicant can actually do.

* **Action sets and percentile costs** (Ustun, Spangher & Liu 2019): each feature is
  immutable, free, or one-way, moves on a grid of values people really have, and may not
  take some categories ("unknown"); an action costs the shift it makes in the population's
  percentiles, Σ_j |Q_j(x'_j) − Q_j(x_j)| (or its maximum over features).
* **Exact recourse for a linear model**: the cheapest action that flips the decision, by
  mixed-integer programming (scipy's HiGHS ``milp``); **flipsets**, the k cheapest
  distinct sets of features to change; an **audit** of who has recourse, by group, and
  the **flip test** of a protected attribute (change it alone: does the decision change?).
* **Causal recourse** (Karimi, Schölkopf & Valera 2021): an additive-noise structural
  causal model, its counterfactuals by abduction, action and prediction (Pearl's three
  steps), and the cheapest set of interventions whose consequences flip the decision.

The family, one module each: ``actions`` (action sets, percentile costs), ``linear`` (exact
recourse, flipsets and audits for a linear model) and ``causal`` (additive SCMs and causal
recourse). ``xaitutor.recourse.X`` keeps working for every public name.
"""
from __future__ import annotations

from . import actions, causal, linear
from .actions import COSTS, ActionSet, percentile_cost
from .causal import AdditiveSCM, causal_recourse
from .linear import Audit, Flipset, FlipTest, Recourse, audit, flip_test, flipsets, linear_recourse

__all__ = ["ActionSet", "percentile_cost", "linear_recourse", "flipsets", "audit", "flip_test", "FlipTest",
           "AdditiveSCM", "causal_recourse", "Recourse", "Flipset", "Audit", "COSTS",
           "actions", "linear", "causal"]
