"""Two editions of the course from one source.

The **instructor edition** is ``notebooks/``: executed, committed with its outputs, tested
by nbval. The **student edition** is generated from it:

    python -m xaitutor.editions student student/            # write (or refresh) student/
    python -m xaitutor.editions student DEST --source notebooks --overwrite

In the student edition every notebook has no outputs, no execution counts and no saved
widget state; every exercise is the learner's empty stub (as in the instructor edition);
every model answer is a folded cell that prints the answer only when the learner runs it
(``solution("NN", "name")``), never an answer already printed; the markers that only
tests need live in cell tags (``nbval-ignore-output``), not in the code a learner reads.
The command never changes its source, and refuses a destination that holds other files
unless ``--overwrite`` is given.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

from . import _checks

__all__ = ["MARKERS", "markers_to_tags", "classify", "student_notebook", "write_student"]

#: Comment markers nbval reads in a cell's source → the cell tag nbval reads instead.
MARKERS = {"# NBVAL_IGNORE_OUTPUT": "nbval-ignore-output", "# NBVAL_SKIP": "nbval-skip",
           "# NBVAL_RAISES_EXCEPTION": "nbval-raises-exception", "# NBVAL_CHECK_OUTPUT": "nbval-check-output"}

_EXERCISE = re.compile(r"^#+ .*\bExercise\b", re.M)
_STUB = re.compile(r"=\s*\.\.\.(\s|$)|raise NotImplementedError")
_SOLUTION_CALL = re.compile(r'solution\("(\d\d)", "(\w+)"\)')


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
            role = "stub" if _STUB.search(src) else "code"
            if role == "stub":
                open_exercise = None
        roles.append(role)
    if open_exercise is not None:
        raise _checks.BadInput(f"{name}, cell {open_exercise}: an exercise without a stub for the learner")
    return roles


def student_notebook(nb, name: str):
    """The student edition of one instructor notebook (a new notebook; ``nb`` is kept)."""
    out = copy.deepcopy(nb)
    markers_to_tags(out)
    roles = classify(out, name)
    for cell, role in zip(out["cells"], roles):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if role == "solution":
            calls = "\n".join(f'solution("{nn}", "{key}");'
                              for nn, key in _SOLUTION_CALL.findall("".join(cell["source"])))
            cell["source"] = ("# Model answer: run this cell after your own attempt — it prints the answer\n"
                              + calls)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaitutor.editions",
                                     description="Generate the course's student edition.")
    sub = parser.add_subparsers(dest="edition", required=True)
    student = sub.add_parser("student", help="the student edition: no outputs, answers on request")
    student.add_argument("dest")
    student.add_argument("--source", default="notebooks", help="the instructor edition (default: notebooks)")
    student.add_argument("--overwrite", action="store_true", help="write into a folder that holds other files")
    args = parser.parse_args(argv)
    try:
        written = write_student(args.source, args.dest, args.overwrite)
    except _checks.BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote the student edition of {len(written)} notebooks to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
