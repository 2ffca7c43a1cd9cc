"""Graded assignments with the real nbgrader (issue 25): the course directory that
``python -m xaitutor.editions nbgrader`` writes is released with ``nbgrader
generate_assignment`` and three submissions of two notebooks are autograded with ``nbgrader
autograde``: the model answers score full marks, the unanswered release 0, and a
submission with exactly one exercise wrong loses exactly that exercise's point."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from xaitutor import editions

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ("03_influence_functions", "06_actionable_causal_recourse")   # the two lightest notebooks (17 s, 12 s)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name[:2])
def test_every_notebook_becomes_an_assignment_with_answers_and_graded_checks(path):
    nb = editions.nbgrader_notebook(nbformat.read(path, as_version=4), path.name)
    meta = [c.metadata["nbgrader"] for c in nb.cells]
    answers = [c for c in nb.cells if c.metadata["nbgrader"]["solution"]]
    graded = [c for c in nb.cells if c.metadata["nbgrader"]["grade"]]
    assert answers and graded and all(m["points"] == 1 for m in meta if m["grade"])
    assert all("### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source for c in answers), \
        "every answer cell holds its model answer"
    assert all(re.search(r"^assert ", c.source, re.M) for c in graded)
    assert all(m["locked"] for m in meta if not m["solution"])
    assert len({m["grade_id"] for m in meta}) == len(meta)
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells), "the answer cells replace them"


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr[-3000:]


def _submit(course: Path, student: str, assignment: str, nb) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def _one_answer_wrong(nb):
    """The model answers with the first answer cell's model line replaced by a wrong one."""
    for cell in nb.cells:
        if cell.metadata["nbgrader"]["solution"]:
            cell.source, n = re.subn(r"(### BEGIN SOLUTION\n)(\w+) = [^\n]*", r"\1\2 = 'a wrong answer'",
                                     cell.source, count=1)
            assert n == 1
            return nb
    raise AssertionError("no answer cell")


def test_nbgrader_releases_and_autogrades_three_submissions(tmp_path, record_property):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed: pip install -e '.[test]'")
    course = tmp_path / "course"
    editions.write_nbgrader(ROOT / "notebooks", course, notebooks=[a[:2] for a in ASSIGNMENTS])
    for assignment in ASSIGNMENTS:
        _nbgrader(course, "generate_assignment", assignment, "--force")
        source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
        release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
        answer_lines = {line for c in source.cells for line in c.source.split("\n")
                        if c.metadata["nbgrader"]["solution"] and "SOLUTION" not in line and line.strip()
                        and not line.lstrip().startswith("#")} - {line for c in release.cells
                                                                   for line in c.source.split("\n")}
        text = "\n".join(c.source for c in release.cells)
        assert "BEGIN SOLUTION" not in text and 'solution("' not in text, "the release shows a model answer"
        assert answer_lines, "the source's answers differ from the release"
        _submit(course, "model", assignment, source)
        _submit(course, "blank", assignment, release)
        _submit(course, "one_wrong", assignment, _one_answer_wrong(source))
    for assignment in ASSIGNMENTS:
        _nbgrader(course, "autograde", assignment, "--create", "--force")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in ASSIGNMENTS:
            scores = {s: gb.find_submission(assignment, s).score for s in ("model", "blank", "one_wrong")}
            top = gb.find_submission(assignment, "model").max_score
            record_property("summary", f"nbgrader autograde, {assignment}: model answers {scores['model']:g}/{top:g}, "
                            f"unanswered release {scores['blank']:g}/{top:g}, one exercise wrong "
                            f"{scores['one_wrong']:g}/{top:g}")
            assert top >= 2 and scores == {"model": top, "blank": 0.0, "one_wrong": top - 1}
