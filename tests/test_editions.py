"""The two editions (issue 25): the student edition is generated from the instructor's by
``python -m xaitutor.editions student``, committed in student/, shows no output and no
model answer, and runs top to bottom in a fresh kernel with every exercise unanswered."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from xaitutor import BadInput, editions

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENT = ROOT / "student"


def test_the_committed_student_edition_is_a_fresh_generation(tmp_path):
    """No drift: regenerate, and every committed student notebook must be identical."""
    written = editions.write_student(ROOT / "notebooks", tmp_path / "student")
    assert sorted(p.name for p in written) == sorted(p.name for p in STUDENT.glob("*.ipynb"))
    for path in written:
        assert json.loads(path.read_text()) == json.loads((STUDENT / path.name).read_text()), (
            f"student/{path.name} is out of date: run python -m xaitutor.editions student student/ --overwrite")


@pytest.mark.parametrize("path", sorted(STUDENT.glob("*.ipynb")), ids=lambda p: p.name[:2])
def test_the_student_edition_shows_no_output_and_no_answer(path):
    nb = nbformat.read(path, as_version=4)
    roles = editions.classify(nb, path.name)
    assert "widgets" not in nb.metadata and nb.metadata["xaitutor"] == {"edition": "student"}
    for cell, role in zip(nb.cells, roles):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [] and cell.execution_count is None
        assert not re.search(r"^\s*# NBVAL_", cell.source, re.M), "markers live in tags"
        if role == "solution":          # comments only: "Run All" prints no answer
            lines = cell.source.splitlines()
            assert lines[0].startswith("# Model answer") and all(line.startswith("#") for line in lines), cell.source
            calls = [line[2:] for line in lines if line.startswith('# solution("')]
            assert calls and all(re.fullmatch(r'solution\("\d\d", "\w+"\);', c) for c in calls), cell.source
            compile(cell.source, path.name, "exec")
            assert not ast.parse(cell.source).body, "the cell runs nothing until the learner uncomments it"
        else:
            assert "answer()" not in cell.source and 'solution("' not in cell.source
    # between a stub and its model answer nothing is readable without a click: the checks
    # (their feedback names the answer) and the evidence cells are folded
    open_exercise = False
    for k, (cell, role) in enumerate(zip(nb.cells, roles)):
        if k + 1 < len(roles) and roles[k + 1] == "solution" and cell.cell_type == "markdown":
            continue                                        # "the model answer is folded in the next cell"
        if role == "stub":
            assert "check_" not in cell.source, "a check left in the stub's cell gives its feedback away"
            open_exercise = True
        elif role == "solution":
            open_exercise = False
        elif open_exercise and not (cell.cell_type == "markdown" and cell.source.lstrip().startswith("#")):
            assert cell.metadata.get("jupyter", {}).get("source_hidden"), cell.source[:80]   # headings stay open
    predicting = False                                      # "Predict first": its test cells fold
    for cell, role in zip(nb.cells, roles):
        if cell.cell_type == "markdown":
            predicting = bool(editions.PREDICT.search(cell.source))
        elif predicting and role not in ("stub", "solution"):   # the learner's own cell stays open
            assert cell.metadata.get("jupyter", {}).get("source_hidden"), cell.source[:80]
    assert roles.count("solution") >= 2 and roles.count("stub") >= 2


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.name[:2])
def test_the_instructor_edition_keeps_its_test_markers_in_tags(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        assert not re.search(r"^\s*# NBVAL_", "".join(cell.source), re.M), (
            f"{path.name}, cell {i}: move the marker into a cell tag (xaitutor.editions.markers_to_tags)")
    assert sum("nbval-ignore-output" in c.metadata.get("tags", []) for c in nb.cells) >= 5


def test_markers_move_into_tags_and_leave_the_code():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\n\nprint(1)"),
                                         nbformat.v4.new_code_cell("# NBVAL_SKIP\nx = 2")])
    assert editions.markers_to_tags(nb) == 2
    assert [c.source for c in nb.cells] == ["print(1)", "x = 2"]
    assert [c.metadata.tags for c in nb.cells] == [["nbval-ignore-output"], ["nbval-skip"]]


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


@pytest.mark.parametrize("cells, words", [
    ((nbformat.v4.new_markdown_cell("### Exercise 1 · Guess"), nbformat.v4.new_code_cell("print(2)")),
     ("x.ipynb, cell 0", "without a stub")),
    ((nbformat.v4.new_code_cell('solution("01", "a")', metadata={"tags": ["solution"]}),),
     ("x.ipynb, cell 0", "no exercise precedes")),
    ((nbformat.v4.new_markdown_cell("### Exercise 1"), nbformat.v4.new_code_cell("my = ..."),
      nbformat.v4.new_code_cell("print('the answer is 3')", metadata={"tags": ["solution"]})),
     ("x.ipynb, cell 2", 'solution("NN", "name")')),
])
def test_a_cell_the_generator_cannot_classify_stops_it_naming_notebook_and_cell(cells, words):
    with pytest.raises(BadInput) as info:
        editions.student_notebook(_nb(*cells), "x.ipynb")
    assert all(w in str(info.value) for w in words), str(info.value)


def test_the_command_never_overwrites_the_source_or_other_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    nbformat.write(_nb(nbformat.v4.new_code_cell("print(1)")), source / "01_a.ipynb")
    before = (source / "01_a.ipynb").read_bytes()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "my_notes.txt").write_text("mine")
    run = lambda *args: subprocess.run([sys.executable, "-m", "xaitutor.editions", "student", *args],  # noqa: E731
                                       capture_output=True, text=True, cwd=tmp_path)
    refused = run("dest", "--source", "src")                      # the real command line, once
    assert refused.returncode == 2 and "holds other files (my_notes.txt)" in refused.stderr
    assert not (dest / "01_a.ipynb").exists()
    with pytest.raises(BadInput, match="never overwritten"):      # the same door, in-process
        editions.write_student(source, source, overwrite=True)
    assert editions.main(["student", str(dest), "--source", str(source), "--overwrite"]) == 0
    assert (dest / "01_a.ipynb").exists() and (dest / "my_notes.txt").read_text() == "mine"
    assert (source / "01_a.ipynb").read_bytes() == before


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.name[:2])
def test_every_exercise_check_is_compared_and_says_no_answer_yet(path):
    """The student edition's run (tests/test_browser.py in JupyterLab, or
    tests/test_notebooks_twice.py without a browser: top to bottom, fresh kernel, nothing
    answered) must print what the committed notebook prints in these cells: that each
    exercise has no answer yet. So each such cell must be one nbval compares."""
    from test_notebooks_twice import nbval_compares
    nb = nbformat.read(path, as_version=4)
    checked = 0
    for i, (cell, role) in enumerate(zip(nb.cells, editions.classify(nb, path.name))):
        if role != "stub" or "check_" not in cell.source:
            continue
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert nbval_compares(cell), f"{path.name}, cell {i}: an exercise check must be compared"
        assert re.search(r"✗ .*(no answer yet|not written yet)", text), f"{path.name}, cell {i}: {text[:300]}"
        checked += 1
    assert checked >= 1


def test_every_nbgrader_model_answer_has_the_learners_shape():
    """Found by autograding notebook 03: `my_point = solution("03", "flip_point")` (now `flip_points`) bound a
    function where the learner writes an index, and `my_hvp` a function of three arguments
    where the learner's takes one — nbgrader then scored the model answers 1 of 3."""
    import ast
    import inspect
    import re

    from xaitutor import editions
    from xaitutor.exercises import solution
    checked = 0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = editions.nbgrader_notebook(nbformat.read(path, as_version=4), path.name)
        for cell in nb.cells:
            if not cell.metadata["nbgrader"]["solution"]:
                continue
            stub = cell.source.split("### BEGIN SOLUTION")[0]
            for name, number, key in re.findall(r'### BEGIN SOLUTION\n(\w+) = solution\("(\d\d)", "(\w+)", show=False\)\n',
                                                cell.source):
                learner = next((n for n in ast.walk(ast.parse(stub)) if isinstance(n, ast.FunctionDef) and n.name == name), None)
                assert learner is not None, f"{path.name}: {name} is a value, but the answer binds the function {key}"
                wanted = [a.arg for a in learner.args.args]
                assert list(inspect.signature(solution(number, key, show=False)).parameters) == wanted, (path.name, name)
                checked += 1
    assert checked >= 2
