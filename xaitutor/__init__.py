"""xaitutor: the helper library of a Jupyter-first course in explainable AI for PyTorch."""
from .core import check, expect, get_device, max_abs_diff, peak_memory_gb, set_seed, train

__version__ = "0.1.0"
__all__ = ["set_seed", "get_device", "check", "expect", "max_abs_diff", "train", "peak_memory_gb",
           "__version__"]

from . import concepts, data, exercises, plotting  # noqa: E402  (the topic modules)
from ._threads import cap_threads as _cap_threads  # noqa: E402

_cap_threads()          # as many PyTorch threads as the container's CPU quota, not the host's
