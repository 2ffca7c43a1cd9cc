import importlib.util
import os
import pathlib
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

# The test command runs two pytest-xdist workers (README). Each worker, and every notebook
# kernel it starts, then uses one thread — the course's own count (xaitutor/_threads.py),
# set here before any test imports torch: two busy workers on two cores, not four threads
# taking turns. (The committed notebooks were made with two: tests/test_notebooks_twice.py.)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# Offline: block every non-loopback connection, in this process and in every process the
# tests start — nbval's notebook kernels inherit PYTHONPATH and load
# tests/offline/sitecustomize.py — whichever path pytest is given.
_OFFLINE = pathlib.Path(__file__).parent / "tests" / "offline"
os.environ["XAITUTOR_BLOCK_NETWORK"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(_OFFLINE), os.environ.get("PYTHONPATH")) if p)
_spec = importlib.util.spec_from_file_location("_xaitutor_offline", _OFFLINE / "sitecustomize.py")
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))     # and this process

# Test files are laid out like the library (tests/counterfactuals/ for the package); the
# helpers beside them (tests/tolerances.py, frozen_models.py, hub_helpers.py) are importable
# from every folder.
sys.path.insert(0, str(pathlib.Path(__file__).parent / "tests"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """``--nbval-sanitize-with`` in pyproject.toml is relative to the repository, not to the
    directory pytest happens to be started from (``cd notebooks && pytest``)."""
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not os.path.isabs(path) and not os.path.exists(path):
        config.option.nbval_sanitize_with = str(config.rootpath / path)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


NBVAL_OUTPUT_TIMEOUT = 120     # seconds nbval waits for a finished cell's output messages


def pytest_collection_modifyitems(session, config, items):
    """nbval waits only 5 s for a cell's output once the cell has finished; on a busy or
    oversubscribed CPU the messages can take longer, and the notebook fails although
    nothing is wrong. A slow machine must only be slower."""
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT


def pytest_terminal_summary(terminalreporter):
    """Lines a test asks to be shown whatever the capture (``record_property("summary",
    text)``; under xdist the reports bring them from the workers): the nbgrader scores."""
    lines = [value for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
             for key, value in getattr(report, "user_properties", []) if key == "summary"]
    if lines:
        terminalreporter.section("summary")
        for line in lines:
            terminalreporter.write_line(line)
