"""Offline data sets of the course: generated here, or bundled with their licence."""
from .images import SHAPE_NAMES, digits, mnist, shapes
from .synthetic import (DATASETS, LOAN_FEATURES, LOAN_GRAPH, dot, load, loan_applicants, split,
                        trigonometry, xor)
from .tabular import TabularEncoder, german_credit

__all__ = ["xor", "trigonometry", "dot", "load", "split", "DATASETS", "digits", "shapes",
           "SHAPE_NAMES", "mnist", "german_credit", "TabularEncoder", "loan_applicants", "LOAN_FEATURES",
           "LOAN_GRAPH"]
