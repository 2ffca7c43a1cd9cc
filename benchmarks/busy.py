"""Quiet and loaded: every notebook's and widget's time on an idle machine, then while another
process keeps one core busy (a student's browser and video call; a neighbour on a hub node).

    .venv/bin/python benchmarks/busy.py                   # the course's thread count
    .venv/bin/python benchmarks/busy.py --threads 2       # the same with 2 PyTorch threads
    .venv/bin/python benchmarks/busy.py --notebooks 01 07 --no-widgets

The load is a second Python process spinning in a loop (one core at 100 %: load average +1).
The notebooks run in fresh kernels (run_all.py's runner) and the widgets in a fresh process
(``widgets.py --json``: the first change, then the median of 5), each inheriting ``--threads`` as OMP_NUM_THREADS. Prints one
Markdown table for the notebooks and one for the widgets: quiet, loaded and loaded / quiet,
with the 1.5× the course aims at marked. Takes about 10 minutes on the course's 2-core machine.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_all import time_notebooks  # noqa: E402

GOAL = 1.5            # loaded within 1.5x of quiet (issue 23)


@contextlib.contextmanager
def one_core_busy(busy: bool = True):
    """While inside, a separate process keeps one core at 100 % (nothing when ``busy`` is False)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        time.sleep(1.0 if busy else 0.0)
        yield
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def widget_rows() -> dict[tuple, tuple]:
    """{(notebook, widget, control, note): (first ms, again ms)} from a fresh widgets.py run."""
    out = subprocess.run([sys.executable, str(HERE / "widgets.py"), "--json"], check=True,
                         capture_output=True, text=True, cwd=HERE.parent).stdout
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    return {(nb, w, control, note): (first, again) for nb, w, control, first, again, note in rows}


def ratio(quiet: float | None, loaded: float | None) -> str:
    if not quiet or loaded is None:
        return "—"
    if max(quiet, loaded) < 5:
        return "both < 5 ms"
    r = loaded / quiet
    return f"{r:.2f}" + (f" (> {GOAL})" if r > GOAL else "")


def ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.1f}" if value < 10 else f"{value:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="PyTorch threads (OMP_NUM_THREADS); default: the course's")
    parser.add_argument("--notebooks", nargs="*", metavar="NN", help="only these notebooks (default: all)")
    parser.add_argument("--no-widgets", action="store_true")
    parser.add_argument("--no-notebooks", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    label = f"{args.threads} thread(s) (OMP_NUM_THREADS)" if args.threads else "the course's thread count"
    print(f"# quiet vs one core busy, {label}, {os.cpu_count()} CPUs seen", flush=True)

    if not args.no_notebooks:
        times = {}
        for mode in ("quiet", "loaded"):
            with one_core_busy(mode == "loaded"):
                for name, _, seconds, peak in time_notebooks(args.notebooks or None):
                    times.setdefault(name, {})[mode] = seconds
                    print(f"  {mode:6s} {name}: {seconds:.1f} s, peak {peak:.2f} GB", flush=True)
        print("\n| notebook | quiet (s) | one core busy (s) | busy / quiet |\n|---|---|---|---|")
        for name, t in times.items():
            print(f"| {name} | {t['quiet']:.1f} | {t['loaded']:.1f} | {ratio(t['quiet'], t['loaded'])} |")

    if not args.no_widgets:
        runs = {}
        for mode in ("quiet", "loaded"):
            with one_core_busy(mode == "loaded"):
                runs[mode] = widget_rows()
        print("\n| notebook | widget | control | quiet: first / again (ms) | busy: first / again (ms) "
              "| busy / quiet | note |\n|---|---|---|---|---|---|---|")
        for key, (first, again) in runs["quiet"].items():
            b_first, b_again = runs["loaded"].get(key, (None, None))
            nb, widget, control, note = key
            # the ratio of the medians where the change was repeated and still computes (one first
            # time is one sample); of the first times where the repeats come from a cache
            cached = again is None or b_again is None or max(again, b_again) < 5
            r = ratio(first, b_first) if cached else ratio(again, b_again)
            print(f"| {nb} | {widget} | {control} | {ms(first)} / {ms(again)} | {ms(b_first)} / {ms(b_again)} "
                  f"| {r} | {note} |")


if __name__ == "__main__":
    main()
