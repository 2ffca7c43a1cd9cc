"""Counterfactual explanations: the closest input the model would decide differently
(Wachter, Mittelstadt & Russell 2017), made sparse, actionable and diverse, with exact
references and quality measures.

* :mod:`.search` — :func:`optimize`: prediction + λ·distance + μ·sparsity by proximal
  gradient steps (:mod:`.objective`, :mod:`.proximal`), constraints
  (:class:`~xaitutor.constraints.Constraints`) by projection, a polishing phase of exact
  local moves (:mod:`.polish`); :class:`Search` holds its knobs;
* :mod:`.exact` — linear-programming and mixed-integer optima for linear models
  (scipy's HiGHS), the references the search is measured against;
* :mod:`.quality` — :func:`metrics` and the plausibility measures that can fail.
"""
from .exact import ExactCounterfactuals, lp_counterfactual, min_features_counterfactual
from .quality import (closer_to_target, judge_validity, kernel_distance, metrics, plausibility_lof,
                      plausibility_ynn)
from ..constraints import Constraints, feature_groups
from .search import (Counterfactuals, Search, check_request, mad, median_absolute_deviation,
                     optimize, predict, sparsity_path)

__all__ = ["optimize", "Search", "Constraints", "sparsity_path", "Counterfactuals",
           "median_absolute_deviation", "mad", "metrics", "predict", "check_request", "feature_groups",
           "lp_counterfactual", "min_features_counterfactual", "ExactCounterfactuals",
           "plausibility_lof", "plausibility_ynn", "closer_to_target", "judge_validity", "kernel_distance"]
