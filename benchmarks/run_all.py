"""Regenerate every number of the README: each benchmark, then each notebook's run time
and peak memory in a fresh kernel (on a copy: the committed notebooks are not touched).

    .venv/bin/python benchmarks/run_all.py            # full benchmarks
    .venv/bin/python benchmarks/run_all.py --quick    # each benchmark's --quick
    .venv/bin/python benchmarks/run_all.py --tests    # and time the README's test command,
                                                      # with the seconds of each test file
    .venv/bin/python benchmarks/run_all.py --tests-only     # just that
    .venv/bin/python benchmarks/run_all.py --notebooks-only 04 05   # just those notebooks' rows

Each part prints how long it took and the end prints the total (the README says what
they came to on the course's 2-core machine; a busy machine takes longer). Prints
Markdown tables to stdout, ready to paste into README.md; the notebooks' kernels write
their warnings to a log file, not between the rows of the table.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# each notebook's benchmark (notebooks/manifest.toml), then every widget's answer time
BENCHMARKS = [row["benchmark"] for row in tomllib.loads((ROOT / "notebooks" / "manifest.toml").read_text())["notebook"]
              if row["benchmark"]] + ["widgets.py"]


def time_notebooks(only: list[str] | None = None, log_path: str | None = None):
    """Run each notebook (``only``: those whose number is listed, e.g. ["04", "05"]) in a
    fresh kernel on a copy; yields (name, device, seconds, peak GB) as each one finishes. The kernels inherit
    this process's environment (OMP_NUM_THREADS, XAITUTOR_THREADS) and write their stderr
    to ``log_path`` (default: a temporary file)."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"    # the debugger's frozen-modules note
    with tempfile.TemporaryDirectory() as tmp, open(log_path or Path(tmp) / "kernels.log", "w") as log, \
            contextlib.redirect_stderr(log):
        for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            if only and path.name[:2] not in only:
                continue
            copy = Path(tmp) / path.name
            shutil.copy(path, copy)
            nb = nbformat.read(copy, as_version=4)
            nb.cells.append(nbformat.v4.new_code_cell(
                "import xaitutor; print(xaitutor.get_device(), xaitutor.peak_memory_gb())"))
            start = time.perf_counter()
            client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": tmp}})
            client.execute(stderr=log)
            seconds = time.perf_counter() - start
            device, peak = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
            yield path.stem, device, seconds, float(peak)


def notebooks_table(only: list[str] | None = None, log_path: str | None = None) -> None:
    """The README's notebook table: one row per notebook, printed as each finishes."""
    print("\n| notebook | device | run time (s) | peak memory (GB) |\n|---|---|---|---|", flush=True)
    for name, device, seconds, peak in time_notebooks(only, log_path):
        print(f"| {name} | {device} | {seconds:.0f} | {peak:.2f} |", flush=True)


def test_times() -> None:
    """Time the test command's pytest and print where the time goes: seconds per test file
    (and per notebook for nbval, per class for the one-notebook classes of the browser and
    second-run tests), summed over the workers, from pytest's JUnit XML report."""
    import collections
    import xml.etree.ElementTree as ET
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", f"--junitxml={report}"], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
        cases = list(ET.parse(report).getroot().iter("testcase")) if report.exists() else []
    seconds, counts = collections.defaultdict(float), collections.Counter()
    for case in cases:
        parts = case.get("classname", "").split(".")
        unit = ".".join(parts[:3] if len(parts) > 2 and parts[2].startswith("Test") else parts[:2])
        seconds[unit] += float(case.get("time", 0))
        counts[unit] += 1
    print(f"\n## the test command\n\n`python -m pytest`: {summary} — {wall:.0f} s\n", flush=True)
    print("| test file, notebook or class | tests | seconds (summed over the workers) |\n|---|---|---|")
    for unit, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {unit} | {counts[unit]} | {s:.1f} |")
    print(f"| all | {sum(counts.values())} | {sum(seconds.values()):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tests", action="store_true", help="also time `python -m pytest`")
    parser.add_argument("--notebooks-only", nargs="*", metavar="NN",
                        help="only the notebook table, for these notebooks (all when none is named)")
    parser.add_argument("--tests-only", action="store_true", help="only time `python -m pytest`, per test file")
    parser.add_argument("--kernel-log", help="write the notebooks' kernel stderr to this file")
    args = parser.parse_args()
    if args.tests_only:
        test_times()
        return
    if args.notebooks_only is not None:
        notebooks_table(args.notebooks_only or None, args.kernel_log)
        return
    began = time.perf_counter()
    for script in BENCHMARKS:
        print(f"\n## {script}{' --quick' if args.quick else ''}", flush=True)
        cmd = [sys.executable, str(ROOT / "benchmarks" / script)] + (["--quick"] if args.quick else [])
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        print(f"\n({script} took {time.perf_counter() - start:.0f} s)", flush=True)
    print("\n## notebooks", flush=True)
    start = time.perf_counter()
    notebooks_table(log_path=args.kernel_log)
    print(f"\n(the notebooks took {time.perf_counter() - start:.0f} s)", flush=True)
    if args.tests:
        test_times()
    print(f"\nrun_all{' --quick' if args.quick else ''}{' --tests' if args.tests else ''} took "
          f"{(time.perf_counter() - began) / 60:.1f} minutes", flush=True)


if __name__ == "__main__":
    main()
