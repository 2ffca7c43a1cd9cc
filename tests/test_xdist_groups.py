"""How the test command shares its work between two pytest-xdist workers (conftest.py,
``--dist loadgroup``): a notebook's nbval cells stay together, and the long per-notebook
runs (a second fresh run, the browser) are units of their own."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLLECT = """
import json, pytest
class Groups:
    def pytest_collection_finish(self, session):
        self.of = {i.nodeid: [m.args[0] for m in i.iter_markers("xdist_group")] for i in session.items}
g = Groups()
code = pytest.main(["--collect-only", "-q", "-o", "addopts=", "--nbval", "--nbval-current-env",
                    "-p", "no:cacheprovider", "tests/test_notebooks_twice.py", "tests/test_browser.py",
                    "tests/test_core.py", "notebooks/03_influence_functions.ipynb"], plugins=[g])
print("GROUPS" + json.dumps(g.of))
"""


def test_each_item_has_one_group_nbval_cells_share_theirs_and_notebook_runs_get_their_own():
    out = subprocess.run([sys.executable, "-c", COLLECT], cwd=ROOT, capture_output=True, text=True,
                         timeout=300).stdout
    groups = json.loads(out.split("GROUPS", 1)[1])
    assert all(len(g) == 1 for g in groups.values()), "every item needs exactly one group"
    group = {nodeid: g[0] for nodeid, g in groups.items()}
    nbval = {g for n, g in group.items() if n.startswith("notebooks/03_")}
    assert nbval == {"notebooks/03_influence_functions.ipynb"} and sum(
        n.startswith("notebooks/03_") for n in group) > 10            # all cells, one group
    assert len({g for n, g in group.items() if n.startswith("tests/test_core.py")}) == 1
    twice = {g for n, g in group.items() if n.startswith("tests/test_notebooks_twice.py::test_a_run")}
    browser = {g for n, g in group.items() if n.startswith("tests/test_browser.py::test_notebook_runs")}
    n_notebooks = len(list((ROOT / "notebooks").glob("[0-9]*.ipynb")))
    assert len(twice) == n_notebooks and "tests/test_notebooks_twice.py::03_influence_functions" in twice
    assert len(browser) == n_notebooks
