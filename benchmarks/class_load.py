"""A class on one JupyterHub: how the wall time and memory grow with the students.

The hub of tests/test_hub.py (tests/hub_helpers.py: jupyterhub and configurable-http-proxy
on 127.0.0.1, one CPU per student, each student in a home directory of their own): all
students log in and start their servers, then for each class size N every one of the
first N students runs the notebook top to bottom at the same time, through their server's
REST + websocket API behind the proxy, each in a fresh kernel.

    .venv/bin/python benchmarks/class_load.py                     # N = 1, 2, 4
    .venv/bin/python benchmarks/class_load.py --students 1 2 4 8
    .venv/bin/python benchmarks/class_load.py --quick             # N = 1, 2

Prints a Markdown table: students, wall time of the class, slowdown against one student
alone, the largest peak memory of a kernel, and the PyTorch threads of each kernel.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import hub_helpers as hh  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 2, 4],
                        help="class sizes to run, one after the other (default: 1 2 4)")
    parser.add_argument("--notebook", default="06_actionable_causal_recourse.ipynb",
                        help="notebook in notebooks/ (default: 06, the lightest)")
    parser.add_argument("--quick", action="store_true", help="class sizes 1 and 2 only")
    args = parser.parse_args()
    sizes = [1, 2] if args.quick else sorted(set(args.students))
    notebook = ROOT / "notebooks" / args.notebook
    if not notebook.exists():
        parser.error(f"no notebook {notebook}")
    try:
        hh.proxy_command()
    except hh.Unavailable as e:
        print(f"class_load: cannot run a hub here: {e}")
        return 1

    names = [f"student-{i}" for i in range(max(sizes))]
    rows = []
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="xaitutor-class-") as tmp:
        hub = hh.ClassHub(Path(tmp) / "hub", notebook)
        try:
            hub.start()
            students = [hub.add_student(n) for n in names]
            started = hh.start_servers(hub, names)
            for n in sizes:
                wall, results = hh.run_class(hub, students[:n])
                rows.append((n, wall, results))
                print(f"class_load: {n} student(s): {wall:.1f} s", file=sys.stderr)
            server_gb = hub.server_memory_gb()
        finally:
            hub.stop()
    alone = next((wall for n, wall, _ in rows if n == 1), math.nan)
    cpus = len(os.sched_getaffinity(0))
    print(f"\n{notebook.stem}: {len(names)} servers started at once in {started:.0f} s; "
          f"{hh.CPU_LIMIT} CPU per student on a {cpus}-CPU machine; whole benchmark "
          f"{time.monotonic() - begin:.0f} s; a student's server without a kernel: {server_gb:.2f} GB\n")
    print("| students | wall time (s) | slowdown vs one student | peak memory per kernel, max (GB) "
          "| PyTorch threads per kernel | errors |")
    print("|---|---|---|---|---|---|")
    failed = False
    for n, wall, results in rows:
        errors = [e for r in results for e in r["errors"]]
        failed |= bool(errors)
        threads = sorted({r["threads"] for r in results})
        print(f"| {n} | {wall:.1f} | {wall / alone:.2f}× | {max(r['peak_gb'] for r in results):.2f} "
              f"| {', '.join(map(str, threads))} | {'; '.join(errors)[:200] or 'none'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
