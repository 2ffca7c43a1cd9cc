"""notebooks/manifest.toml, the one list of the course's notebooks (issue 26): every row must
match its notebook, the library and the benchmarks, and every notebook must have a row — so
that a notebook added without one, or a widget renamed, fails here and names the place."""
from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = tomllib.loads((ROOT / "notebooks" / "manifest.toml").read_text())["notebook"]
KEYS = {"file", "title", "topic", "widgets", "main_widget", "control", "benchmark"}


def test_every_notebook_has_one_row_in_order():
    on_disk = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [row["file"] for row in ROWS] == on_disk


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["file"][:2])
def test_a_row_names_what_exists(row):
    assert set(row) == KEYS, f"{row['file']}: the keys are {sorted(KEYS)}"
    importlib.import_module(row["topic"])
    widget_module = importlib.import_module(row["widgets"])
    assert callable(getattr(widget_module, row["main_widget"], None)), \
        f"{row['widgets']} has no function {row['main_widget']}"
    assert row["main_widget"] in importlib.import_module("xaitutor.widgets").__all__
    source = "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" / row["file"], as_version=4).cells
                       if c.cell_type == "code")
    assert f"{row['main_widget']}(" in source, f"{row['file']} never builds {row['main_widget']}"
    assert set(row["control"]) == {"name", "label", "kind"} and row["control"]["kind"] in ("dropdown", "checkbox")
    widget_source = Path(widget_module.__file__).read_text()
    name, label = row["control"]["name"], row["control"]["label"]
    prefix = name.rsplit(" ", 1)[0]                # "freeze credit_amount": one of f"freeze {c}"
    assert f'"{name}":' in widget_source or f'f"{prefix} {{' in widget_source, \
        f"{row['widgets']} names no control {name!r} in its controls"
    if row["control"]["kind"] == "dropdown":       # a checkbox's label is its column's name
        assert f'description="{label}"' in widget_source, f"{row['widgets']} shows no control labelled {label!r}"
    if row["benchmark"]:
        assert (ROOT / "benchmarks" / row["benchmark"]).is_file()


def test_run_all_runs_every_benchmark_of_the_manifest():
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run_all
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert run_all.BENCHMARKS == [row["benchmark"] for row in ROWS if row["benchmark"]] + ["widgets.py"]


def test_the_readme_lists_the_manifest_notebooks_in_order():
    """The README's first table (notebook | teaches | status) has one row per manifest row."""
    import re
    readme = (ROOT / "README.md").read_text()
    linked = re.findall(r"^\| \[(\d\d_\w+)\]\(notebooks/(\d\d_\w+\.ipynb)\) \|", readme, flags=re.M)
    assert [f for _, f in linked] == [row["file"] for row in ROWS]
    assert all(name + ".ipynb" == f for name, f in linked)


def test_the_widget_benchmark_measures_every_main_widget_of_the_manifest():
    source = (ROOT / "benchmarks" / "widgets.py").read_text()
    assert "manifest.toml" in source
    for row in ROWS:
        assert f'"{row["main_widget"]}"' in source, f"benchmarks/widgets.py never times {row['main_widget']}"
