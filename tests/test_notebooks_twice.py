"""Issue 8, part 3 (issue 23): every notebook, run in fresh kernels with two thread counts,
prints the same.

The committed notebook is a fresh run with two PyTorch threads (tools/execute_notebooks.py
records the count in its metadata, checked below). nbval (part of the same test command)
runs each notebook in a fresh kernel with the course's one thread and compares it with the
committed outputs; this test runs each notebook once more in a fresh kernel, as a learner's
(one thread), and asserts that what nbval compares — stdout and the text/plain and
text/html of every result, in cells not marked ``# NBVAL_IGNORE_OUTPUT``, after the same
sanitising — equals the committed notebook too. Fresh runs with different thread counts (a
different order of floating-point sums, as on a GPU) all equal to the committed outputs:
the compared outputs hang neither on the run nor on the thread count.

Without xdist the runs go two notebooks at a time (one kernel per core), starting with the
first test; under xdist each test runs its own notebook, and the two workers share them.
Where Chromium and Playwright are installed, tests/test_browser.py's JupyterLab run of each
notebook is that second run (same thread count, same comparison) and these tests skip,
saying so: the test command then runs each notebook twice, not three times.
"""
from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
COMPARED = ("text/plain", "text/html")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg", encoding="utf-8")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


SANITIZERS = _sanitizers()


def _clean(text: str) -> str:
    for pattern, replacement in SANITIZERS:
        text = pattern.sub(replacement, text)
    return text


def nbval_compares(cell: nbformat.NotebookNode) -> bool:
    """Whether nbval compares this code cell's outputs: not when its source has the
    ``# NBVAL_IGNORE_OUTPUT`` / ``# NBVAL_SKIP`` comment or its metadata the
    ``nbval-ignore-output`` / ``nbval-skip`` tag (nbval honours both forms)."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    return not ({"nbval-ignore-output", "nbval-skip"} & tags
                or "NBVAL_IGNORE_OUTPUT" in cell.source or "NBVAL_SKIP" in cell.source)


def compared_outputs(nb: nbformat.NotebookNode) -> list[tuple[int, list[str]]]:
    """Per code cell that nbval checks: its compared outputs as sanitised strings. Adjacent
    stdout chunks are one text (how a print is split into messages varies from run to
    run); stderr (warnings, progress bars) is not compared."""
    result = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not nbval_compares(cell):
            continue
        shown: list[list[str]] = []                  # [kind, text]
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                if out.name != "stdout":
                    continue
                if shown and shown[-1][0] == "stdout":
                    shown[-1][1] += out.text
                else:
                    shown.append(["stdout", out.text])
            elif out.output_type in ("display_data", "execute_result") and WIDGET_VIEW not in out.data:
                shown += [[k, out.data[k]] for k in COMPARED if k in out.data]
            elif out.output_type == "error":
                shown.append(["error", f"{out.ename}: {out.evalue}"])
        result.append((i, [f"{kind}: {_clean(text)}" for kind, text in shown]))
    return result


def run_fresh(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _first_difference(a, b) -> str:
    for (i, x), (_, y) in zip(a, b):
        if x != y:
            return f"cell {i}:\n  {x!r}\nvs\n  {y!r}"
    return f"different numbers of compared cells: {len(a)} vs {len(b)}"


# The committed notebooks are made with two PyTorch threads (tools/execute_notebooks.py sets
# OMP_NUM_THREADS=2 and records it in each notebook's metadata); nbval's run and the second
# run use the course's own count, one thread (xaitutor/_threads.py), as a learner's kernel
# does. So every test command compares runs made with two thread counts, and the runs it
# makes itself share the two cores without oversubscribing them.
COMMITTED_THREADS = 2
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XAITUTOR_THREADS")


def learner_env(**extra: str) -> dict[str, str]:
    """This process's environment without any thread setting: a kernel started with it
    uses the course's thread count, as a learner's does."""
    return {**{k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}, **extra}


# Where a Chromium and Playwright are at hand, tests/test_browser.py runs every notebook in
# JupyterLab as a learner would and compares the saved run the same way: that is the second
# run, and the tests below stand aside (one run fewer per notebook in the test command).
CHROMIUM = os.environ.get("XAITUTOR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_RUNS_THEM = CHROMIUM is not None and importlib.util.find_spec("playwright") is not None


def _as_a_learner(mp: pytest.MonkeyPatch) -> None:
    for name in THREAD_VARIABLES:                      # the kernels inherit the environment
        mp.delenv(name, raising=False)


def _run_as_a_learner(path: Path) -> nbformat.NotebookNode:
    with pytest.MonkeyPatch.context() as mp:
        _as_a_learner(mp)
        return run_fresh(path)


@pytest.fixture(scope="module")
def second_runs():
    """Without xdist: every notebook run once, two at a time (one kernel per core), with the
    course's thread count. Under xdist each test runs its own notebook (its own class, so
    its own unit of work), and the two workers share the notebooks out."""
    if os.environ.get("PYTEST_XDIST_WORKER") or BROWSER_RUNS_THEM:
        return {}
    with pytest.MonkeyPatch.context() as mp:
        _as_a_learner(mp)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {path: pool.submit(run_fresh, path) for path in NOTEBOOKS}
            return {path: f.exception() or f.result() for path, f in futures.items()}


def _second_run_prints_what_the_committed_notebook_shows(path, second_runs):
    if BROWSER_RUNS_THEM:
        pytest.skip("the second run is tests/test_browser.py's: JupyterLab runs this notebook as a "
                    "learner would and its saved outputs are compared with the committed ones")
    run = second_runs[path] if path in second_runs else _run_as_a_learner(path)
    if isinstance(run, BaseException):
        raise run
    assert_shows_what_is_committed(run, path)


def assert_shows_what_is_committed(run: nbformat.NotebookNode, path: Path) -> None:
    """What nbval compares in ``run`` (a fresh run with the course's threads) equals the committed
    notebook at ``path``; shared with tests/test_browser.py, whose JupyterLab run is the
    second run where a browser is at hand."""
    shown, committed = compared_outputs(run), compared_outputs(nbformat.read(path, as_version=4))
    assert sum(len(out) for _, out in shown) > 0, "nothing compared: is every cell ignored?"
    assert shown == committed, (f"{path.name}: a fresh run with the course's thread count differs from the "
                                f"committed notebook ({COMMITTED_THREADS} threads) at "
                                f"{_first_difference(shown, committed)}")


# One class per notebook: pytest-xdist (--dist loadscope, pyproject.toml) keeps a module's
# tests on one worker but gives each class its own unit, so the two workers share these
# runs, the longest tests of the suite, instead of one worker running all seven.
def _second_run_class(path: Path) -> type:
    def test_a_second_run_prints_what_the_committed_notebook_shows(self, second_runs):
        _second_run_prints_what_the_committed_notebook_shows(path, second_runs)
    return type(f"TestSecondRun_{path.stem}", (), {
        "test_a_second_run_prints_what_the_committed_notebook_shows":
            test_a_second_run_prints_what_the_committed_notebook_shows})


for _path in NOTEBOOKS:
    globals()[f"TestSecondRun_{_path.stem}"] = _second_run_class(_path)


def test_committed_notebooks_were_made_with_another_thread_count_than_the_course_uses():
    """nbval's run (the course's threads) and the committed run (two threads) differ in their
    thread count, so every test command compares a two-thread run with a one-thread run."""
    from xaitutor._threads import COURSE_THREADS
    assert COURSE_THREADS != COMMITTED_THREADS
    made_with = {p.name: nbformat.read(p, as_version=4).metadata.get("xaitutor", {}).get("threads")
                 for p in NOTEBOOKS}
    assert made_with == {p.name: COMMITTED_THREADS for p in NOTEBOOKS}, (
        f"re-execute with tools/execute_notebooks.py (it records the thread count): {made_with}")


def test_compared_outputs_follow_nbval_markers():
    """The helper sees what nbval sees: ignored cells and widget views are left out,
    sanitised numbers are replaced."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)"),
                nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(2)")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="✓ ok (max |Δ| 1.2e-07 ≤ 1e-06)\n"),
                           nbformat.v4.new_output("display_data",
                                                  data={WIDGET_VIEW: {}, "text/plain": "VBox()"})]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb.cells[0].outputs.insert(1, nbformat.v4.new_output("stream", name="stderr", text="warn\n"))
    nb.cells[0].outputs.insert(2, nbformat.v4.new_output("stream", name="stdout", text="more\n"))
    assert compared_outputs(nb) == [(0, ["stdout: ✓ ok (max |Δ| <number> ≤ 1e-06)\nmore\n"])]


def test_compared_outputs_leave_out_cells_nbval_ignores_by_tag():
    """A cell tagged ``nbval-ignore-output`` (the folded solution cells) or ``nbval-skip``
    is not compared by nbval, so not here either; an untagged twin is."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(3)", metadata={"tags": ["solution", "nbval-ignore-output"]}),
                nbformat.v4.new_code_cell("print(4)", metadata={"tags": ["nbval-skip"]}),
                nbformat.v4.new_code_cell("print(5)", metadata={"tags": ["solution"]})]
    for cell, text in zip(nb.cells, ("3\n", "4\n", "5\n")):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    assert compared_outputs(nb) == [(2, ["stdout: 5\n"])]
