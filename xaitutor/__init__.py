"""xaitutor: the helper library of a Jupyter-first course in explainable AI for PyTorch."""
from ._checks import BadInput, BadInputType
from .constraints import Constraints
from .core import check, expect, get_device, max_abs_diff, peak_memory_gb, set_seed, train

__version__ = "0.1.0"
__all__ = ["set_seed", "get_device", "check", "expect", "max_abs_diff", "train", "peak_memory_gb",
           "set_threads", "BadInput", "BadInputType", "Constraints", "__version__"]

from . import concepts, data, exercises, plotting  # noqa: E402  (the topic modules)
from ._threads import set_threads  # noqa: E402

set_threads()           # one PyTorch thread (the course's small models), unless the user chose (_threads.py)
