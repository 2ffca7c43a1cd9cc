"""Offline data sets of the course: generated here, or bundled with their licence."""
from .images import SHAPE_NAMES, digits, shapes
from .synthetic import DATASETS, dot, load, split, trigonometry, xor
from .tabular import TabularEncoder, german_credit

__all__ = ["xor", "trigonometry", "dot", "load", "split", "DATASETS", "digits", "shapes",
           "SHAPE_NAMES", "german_credit", "TabularEncoder"]
