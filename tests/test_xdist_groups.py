"""How the test command shares its work between two pytest-xdist workers (``--dist
loadscope``, pyproject.toml): a unit of work is a module, or a class. A notebook's nbval
cells are one unit (they share a kernel), a test module's functions are one unit (module
fixtures are built once), and the per-notebook runs — a second fresh run, the browser —
are classes, one unit each, so the two workers share the longest tests of the suite."""
import subprocess
import sys
from pathlib import Path

from xdist.scheduler.loadscope import LoadScopeScheduling

ROOT = Path(__file__).resolve().parents[1]


def _unit(nodeid: str) -> str:
    return LoadScopeScheduling._split_scope(None, nodeid)          # xdist's own rule


def test_nbval_cells_share_a_unit_and_each_notebook_run_is_a_unit_of_its_own():
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "--nbval",
         "--nbval-current-env", "-p", "no:cacheprovider", "tests/test_notebooks_twice.py",
         "tests/test_browser.py", "tests/test_core.py", "notebooks/03_influence_functions.ipynb"],
        cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    nodeids = [line for line in out.splitlines() if "::" in line]
    units = {}
    for n in nodeids:
        units.setdefault(n.split("::")[0], set()).add(_unit(n))
    cells = [n for n in nodeids if n.startswith("notebooks/03_")]
    assert len(cells) > 10 and units["notebooks/03_influence_functions.ipynb"] == {
        "notebooks/03_influence_functions.ipynb"}                    # every cell, one kernel
    assert units["tests/test_core.py"] == {"tests/test_core.py"}
    n_notebooks = len(list((ROOT / "notebooks").glob("[0-9]*.ipynb")))
    for module, test in (("tests/test_notebooks_twice.py", "test_a_second_run"),
                         ("tests/test_browser.py", "test_notebook_runs_in_jupyterlab")):
        runs = {_unit(n) for n in nodeids if n.startswith(module) and test in n}
        assert len(runs) == n_notebooks, (module, runs)
    assert any("03_influence_functions" in u for u in units["tests/test_notebooks_twice.py"])
