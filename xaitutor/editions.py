"""Two editions of the course from one source.

The **instructor edition** is ``notebooks/``: executed, committed with its outputs, tested
by nbval. The **student edition** is generated from it:

    python -m xaitutor.editions student student/            # write (or refresh) student/
    python -m xaitutor.editions student DEST --source notebooks --overwrite

In the student edition every notebook has no outputs, no execution counts and no saved
widget state; every exercise is the learner's empty stub (as in the instructor edition);
every model answer is a folded cell whose ``solution("NN", "name")`` call is commented out,
so that running all cells prints no answer: the learner deletes the ``# `` and runs it; the markers that only
tests need live in cell tags (``nbval-ignore-output``), not in the code a learner reads.
The **nbgrader course** is generated too, for graded assignments on a JupyterHub:

    python -m xaitutor.editions nbgrader COURSE_DIR [--notebooks 06 07]

writes ``COURSE_DIR/nbgrader_config.py`` and one assignment per notebook under
``COURSE_DIR/source/``: the learner's answer lines as solution cells (the model answer
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``), every exercise check as an
autograded test cell worth one point (``assert`` on the check), everything else read-only.

The commands never change their source, and refuse a destination that holds other files
unless ``--overwrite`` is given.
"""
from __future__ import annotations

import argparse
import ast
import copy
import inspect
import re
import sys
from pathlib import Path

from . import _checks

__all__ = ["MARKERS", "PREDICT", "markers_to_tags", "classify", "student_notebook", "write_student",
           "nbgrader_notebook", "write_nbgrader"]

#: Comment markers nbval reads in a cell's source → the cell tag nbval reads instead.
MARKERS = {"# NBVAL_IGNORE_OUTPUT": "nbval-ignore-output", "# NBVAL_SKIP": "nbval-skip",
           "# NBVAL_RAISES_EXCEPTION": "nbval-raises-exception", "# NBVAL_CHECK_OUTPUT": "nbval-check-output"}

_EXERCISE = re.compile(r"^#+ .*\bExercise\b", re.M)
_SOLUTION_CALL = re.compile(r'solution\("(\d\d)", "(\w+)"\)')
_CHECKS = ("check_value", "check_choice", "check_function")
#: A "Predict first" prompt outside the exercises: the code cells after it (up to the next text) fold.
PREDICT = re.compile(r"[Pp]redict first|[Bb]efore you run|[Bb]efore running the")


def _tags(cell) -> list:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def markers_to_tags(nb) -> int:
    """Move every marker comment of ``nb``'s code cells into the cell's tags (in place):
    the marker line and one blank line after it go. Returns how many were moved."""
    moved = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).split("\n")
        kept = []
        for line in lines:
            tag = MARKERS.get(line.strip())
            if tag is None:
                kept.append(line)
                continue
            moved += 1
            if tag not in _tags(cell):
                _tags(cell).append(tag)
        while kept and not kept[0].strip():
            kept.pop(0)
        cell["source"] = "\n".join(kept)
    return moved


def _is_stub(source: str) -> bool:
    try:
        return bool(_placeholders(source))
    except SyntaxError:                    # a cell magic, say: not a learner's stub
        return False


def classify(nb, name: str) -> list[str]:
    """Each cell's role: ``"exercise"`` (a markdown heading with *Exercise*), ``"stub"`` (the
    learner's cell: ``= ...`` or ``raise NotImplementedError``), ``"solution"`` (tagged), or
    ``"text"`` / ``"code"``. Refuses, naming ``name`` and the cell, an exercise without a
    stub before the next exercise, and a solution cell that no exercise precedes or that
    does not call ``solution("NN", "name")``."""
    roles, open_exercise, seen_exercise = [], None, False
    for i, cell in enumerate(nb["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            role = "exercise" if _EXERCISE.search(src) else "text"
            if role == "exercise":
                if open_exercise is not None:
                    raise _checks.BadInput(f"{name}, cell {open_exercise}: an exercise without a stub for the "
                                           "learner (a cell with `= ...` or `raise NotImplementedError`)")
                open_exercise, seen_exercise = i, True
        elif "solution" in cell.get("metadata", {}).get("tags", []):
            role = "solution"
            if not seen_exercise:
                raise _checks.BadInput(f"{name}, cell {i}: a solution cell that no exercise precedes")
            if not _SOLUTION_CALL.search(src):
                raise _checks.BadInput(f'{name}, cell {i}: a solution cell that does not call solution("NN", '
                                       '"name") (the student edition needs it to show the answer on request)')
        else:
            role = "stub" if _is_stub(src) else "code"
            if role == "stub":
                open_exercise = None
        roles.append(role)
    if open_exercise is not None:
        raise _checks.BadInput(f"{name}, cell {open_exercise}: an exercise without a stub for the learner")
    return roles


def _first_check_line(source: str) -> int | None:
    try:
        return next((st.lineno for st in ast.parse(source).body if _is_check(st)), None)
    except SyntaxError:
        return None


def _fold(cell, origin: int):
    """Fold the cell's code (one click unfolds it) and remember the instructor cell it
    comes from (tests compare a student run with the instructor's outputs by it)."""
    cell["metadata"].setdefault("jupyter", {})["source_hidden"] = True
    cell["metadata"]["xaitutor"] = {"cell": origin}
    return cell


def student_notebook(nb, name: str):
    """The student edition of one instructor notebook (a new notebook; ``nb`` is kept).

    Between an exercise's stub and its model answer nothing can be read before the learner
    acts: what follows the learner's lines in the stub's cell — the check, its reference
    and its feedback, which would give the answer away — moves to a folded cell of its own, the evidence cells and the text about them
    after the stub are folded, and the model answer cell prints the answer only when the
    learner uncomments its ``solution(...)`` call and runs it ("Run All" prints none).
    The cells that test a "Predict first" question outside the exercises are folded as
    well, with the text that tells their result; headings are never folded."""
    import nbformat

    out = copy.deepcopy(nb)
    markers_to_tags(out)
    roles, cells = classify(out, name), []
    in_exercise = predicting = tested = False      # tested: code after a "Predict first" folded
    for i, (cell, role) in enumerate(zip(out["cells"], roles)):
        if cell["cell_type"] != "code":
            text = "".join(cell["source"])
            leads_to_answer = i + 1 < len(roles) and roles[i + 1] == "solution"
            if role == "text" and not text.lstrip().startswith("#") and (   # headings stay open
                    (in_exercise and not leads_to_answer) or (predicting and tested)):
                cell["metadata"].setdefault("jupyter", {})["source_hidden"] = True   # the result, told
            predicting, tested = bool(PREDICT.search(text)), False
            cells.append(cell)
            continue
        cell["outputs"], cell["execution_count"] = [], None
        cell["metadata"]["xaitutor"] = {"cell": i}
        text = "".join(cell["source"])
        if role == "solution":
            # commented out: "Run All" must not print it; the learner asks by deleting the "# "
            calls = "\n".join(f'# solution("{nn}", "{key}");' for nn, key in _SOLUTION_CALL.findall(text))
            cell["source"] = ('# Model answer: once you have tried, delete the "# " in front of solution(...)\n'
                              "# below and run this cell: it prints the answer.\n" + calls)
            cell["metadata"].setdefault("jupyter", {})["outputs_hidden"] = False   # shown once run
            in_exercise = False
        elif role == "stub" and _first_check_line(text):
            # the learner's lines stay; everything after them (the check, its reference
            # answer and its feedback) moves to a folded cell
            line = max(end for _, end in _placeholders(text)) + 1
            lines = text.split("\n")
            cell["source"] = "\n".join(lines[:line - 1]).rstrip()
            cells.append(cell)
            check = nbformat.v4.new_code_cell("\n".join(lines[line - 1:]).strip("\n"),
                                              metadata={"tags": list(cell["metadata"].get("tags", []))})
            check["id"] = f"split-check-{i}"                                 # the same on every run
            cell = _fold(check, i)
            in_exercise = True
        elif role == "stub":
            in_exercise = True
        elif in_exercise or predicting:
            _fold(cell, i)
            tested = tested or predicting
        cells.append(cell)
    out["cells"] = cells
    out["metadata"].pop("widgets", None)
    out["metadata"]["xaitutor"] = {"edition": "student"}
    return out


def write_student(source: str | Path, dest: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the student edition of every notebook in ``source`` into ``dest``; returns
    the files written. ``dest`` may be new, hold only notebooks of the same names, or
    anything with ``overwrite=True``."""
    import nbformat

    source, dest = Path(source), Path(dest)
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise _checks.BadInput(f"source {source} holds no notebooks named NN_*.ipynb; pass the "
                               "instructor edition's folder, e.g. --source notebooks")
    if dest.resolve() == source.resolve():
        raise _checks.BadInput("dest is the source folder: the instructor edition is never overwritten; "
                               "choose another folder, e.g. student/")
    ours = {p.name for p in notebooks}
    others = sorted(p.name for p in dest.iterdir() if p.name not in ours) if dest.is_dir() else []
    if others and not overwrite:
        raise _checks.BadInput(f"dest {dest} holds other files ({', '.join(others[:5])}); choose an empty "
                               "folder or pass overwrite=True (--overwrite)")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.write(nbformat.from_dict(student_notebook(nb, path.name)), dest / path.name)
        written.append(dest / path.name)
    return written


# --- the nbgrader course -------------------------------------------------------------------------

def _is_check(stmt: ast.stmt) -> bool:
    """A top-level ``check_*(...)`` call, bare or assigned (``ok = check_value(...)``)."""
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    return isinstance(value, ast.Call) and getattr(value.func, "id", None) in _CHECKS


def _graded(source: str) -> str:
    """``source`` with every top-level check asserted: nbgrader gives the points when the
    cell runs without an error."""
    lines, tree = source.split("\n"), ast.parse(source)
    for stmt in reversed([st for st in tree.body if _is_check(st)]):
        if isinstance(stmt, ast.Expr):
            lines[stmt.lineno - 1] = lines[stmt.lineno - 1].replace("check_", "assert check_", 1)
        else:
            names = ", ".join(ast.unparse(t) for t in stmt.targets)
            lines.insert(stmt.end_lineno, f"assert {names}")
    return "\n".join(lines)


def _model_answer(number: str, key: str, name: str) -> str:
    """The line that binds the learner's ``name`` to the model answer ``key``: the value
    itself where it reads as a literal, else the shipped function (or its value). An answer
    whose arguments are not the learner's says how to bind it in its ``binds`` attribute, as
    the instructor's solution cell does (``"{answer}(scores_75)"``)."""
    from .exercises import solution
    answer = solution(number, key, show=False)
    call = f'solution("{number}", "{key}", show=False)'
    if hasattr(answer, "binds"):                # the learner's name is bound otherwise: e.g. "{answer}(scores_75)"
        return f"{name} = " + answer.binds.format(answer=call)
    if inspect.signature(answer).parameters:                       # the answer is a function
        return f"{name} = {call}"
    value = answer()
    text = repr(value)
    try:
        ok = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        ok = False
    return f"{name} = {text}" if ok else f'{name} = solution("{number}", "{key}", show=False)()'


def _placeholders(source: str) -> list[tuple[str, int]]:
    """The learner's names in a stub (``name = ...`` or a function that raises
    NotImplementedError) with the line after which the model answer goes."""
    out = []
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and stmt.value.value is ...:
            out += [(t.id, stmt.end_lineno) for t in stmt.targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, ast.FunctionDef) and "NotImplementedError" in ast.unparse(stmt):
            out.append((stmt.name, stmt.end_lineno))
    return out


def _match(names: list[str], keys: list[tuple[str, str]], where: str) -> dict[str, tuple[str, str]]:
    """Pair each learner name (``my_steps``) with its model answer key (``left_riemann_steps``)."""
    if len(names) == 1 and len(keys) == 1:
        return {names[0]: keys[0]}
    pairs = {}
    for name in names:
        bare = name.removeprefix("my_")
        hits = [k for k in keys if k[1] == bare or k[1].endswith("_" + bare) or bare.endswith(k[1])]
        if len(hits) != 1:
            raise _checks.BadInput(f"{where}: cannot tell which model answer {[k[1] for k in keys]} fills "
                                   f"{name}; name the answer after the learner's variable")
        pairs[name] = hits[0]
    return pairs


def _exercise_answers(nb, roles: list[str], name: str) -> dict[int, list[tuple[str, int, str]]]:
    """Per stub cell: (learner's name, line, model-answer line), from the solution cell
    that closes its exercise."""
    out, pending = {}, []
    for i, (cell, role) in enumerate(zip(nb["cells"], roles)):
        if role == "stub":
            pending += [(i, n, line) for n, line in _placeholders("".join(cell["source"]))]
        elif role == "solution":
            keys = _SOLUTION_CALL.findall("".join(cell["source"]))
            where = f"{name}, cell {i}"
            if not pending:
                raise _checks.BadInput(f"{where}: a model answer without a learner's stub before it")
            pairs = _match([n for _, n, _ in pending], keys, where)
            for j, n, line in pending:
                out.setdefault(j, []).append((n, line, _model_answer(*pairs[n], n)))
            pending = []
    return out


def _nbgrader_cell(cell, grade_id: str, *, solution: bool = False, points: int = 0):
    cell["metadata"]["nbgrader"] = {"grade": points > 0, "solution": solution, "locked": not solution,
                                    "grade_id": grade_id, "schema_version": 3, **({"points": points} if points else {})}
    return cell


def nbgrader_notebook(nb, name: str):
    """The nbgrader source version of one instructor notebook (a new notebook)."""
    import nbformat

    src = copy.deepcopy(nb)
    markers_to_tags(src)
    roles, cells = classify(src, name), []
    answers = _exercise_answers(src, roles, name)
    for i, (cell, role) in enumerate(zip(src["cells"], roles)):
        if role == "solution":
            continue                                       # the answers live in the solution cells now
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        text = "".join(cell["source"])
        first_check = _first_check_line(text) if cell["cell_type"] == "code" else None
        if role == "stub":
            lines = text.split("\n")
            head = lines[:first_check - 1] if first_check else lines
            for n, line, answer in sorted(answers.get(i, []), key=lambda a: -a[1]):
                head[line:line] = ["### BEGIN SOLUTION", answer, "### END SOLUTION"]
            cells.append(_nbgrader_cell(nbformat.v4.new_code_cell("\n".join(head).rstrip()), f"answer_{i}",
                                        solution=True))
            if first_check:
                rest = "\n".join(lines[first_check - 1:])
                cells.append(_nbgrader_cell(nbformat.v4.new_code_cell(_graded(rest)), f"check_{i}", points=1))
        elif first_check:
            cell["source"] = _graded(text)
            cells.append(_nbgrader_cell(cell, f"check_{i}", points=1))
        else:
            cells.append(_nbgrader_cell(cell, f"cell_{i}"))
    src["cells"] = cells
    src["metadata"].pop("widgets", None)
    src["metadata"]["xaitutor"] = {"edition": "nbgrader source"}
    return src


NBGRADER_CONFIG = """\
# nbgrader's configuration for the xaitutor course (written by python -m xaitutor.editions nbgrader)
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "xaitutor"
# the released answer cell keeps the learner's `name = ...` line; nothing else is added
c.ClearSolutions.code_stub = {"python": ""}
# a notebook trains small models: give each cell time on a busy hub
c.ExecutePreprocessor.timeout = 600
"""


def write_nbgrader(source: str | Path, course: str | Path, notebooks=None,
                   overwrite: bool = False) -> list[Path]:
    """An nbgrader course directory in ``course``: ``nbgrader_config.py`` and
    ``source/NN_name/NN_name.ipynb`` for every notebook (or those whose numbers are in
    ``notebooks``, e.g. ``["06", "07"]``). Returns the notebooks written."""
    import nbformat

    source, course = Path(source), Path(course)
    paths = [p for p in sorted(source.glob("[0-9][0-9]_*.ipynb")) if not notebooks or p.name[:2] in notebooks]
    if not paths:
        raise _checks.BadInput(f"no notebook of {source} matches {notebooks}; pass numbers such as 06 07")
    if course.is_dir() and any(course.iterdir()) and not overwrite:
        raise _checks.BadInput(f"course folder {course} is not empty; choose a new one or pass "
                               "overwrite=True (--overwrite)")
    (course / "source").mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    written = []
    for path in paths:
        target = course / "source" / path.stem / path.name
        target.parent.mkdir(exist_ok=True)
        nbformat.write(nbformat.from_dict(nbgrader_notebook(nbformat.read(path, as_version=4), path.name)), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaitutor.editions",
                                     description="Generate the course's student edition or nbgrader course.")
    sub = parser.add_subparsers(dest="edition", required=True)
    student = sub.add_parser("student", help="the student edition: no outputs, answers on request")
    student.add_argument("dest")
    grader = sub.add_parser("nbgrader", help="an nbgrader course directory, one assignment per notebook")
    grader.add_argument("dest", help="the course directory to write")
    grader.add_argument("--notebooks", nargs="*", help="numbers of the notebooks to include (default: all)")
    for command in (student, grader):
        command.add_argument("--source", default="notebooks", help="the instructor edition (default: notebooks)")
        command.add_argument("--overwrite", action="store_true", help="write into a folder that holds other files")
    args = parser.parse_args(argv)
    try:
        if args.edition == "student":
            written = write_student(args.source, args.dest, args.overwrite)
        else:
            written = write_nbgrader(args.source, args.dest, args.notebooks, args.overwrite)
    except _checks.BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote the {args.edition} edition of {len(written)} notebooks to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
