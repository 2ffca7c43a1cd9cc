"""Execute the course notebooks top to bottom in a fresh kernel and save them with outputs.

    python tools/execute_notebooks.py                 # every notebook
    python tools/execute_notebooks.py notebooks/01_concept_bottleneck_xor.ipynb

This is how the committed notebooks are made (nbval compares against what it saves).
The state of live widgets is saved, so the explorers show their last picture when the
notebook is opened; outputs of widgets that no longer exist (finished progress bars)
are dropped, so JupyterLab does not show "model not found" for them. Prints each
notebook's run time.

The kernel runs two PyTorch threads (OMP_NUM_THREADS=2, recorded in the notebook's
metadata as ``xaitutor.threads``), not the course's one: the test command's runs (nbval's
and the second run) use one, so every test command compares runs with two thread counts
(tests/test_notebooks_twice.py).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
THREADS = 2                  # tests/test_notebooks_twice.py: COMMITTED_THREADS


class _Client(NotebookClient):
    """nbclient keeps the state of closed widgets; forget them, as a browser would."""

    def handle_comm_msg(self, outs, msg, cell_index):
        if msg["msg_type"] == "comm_close":
            self.widget_state.pop(msg["content"]["comm_id"], None)
            self.widget_buffers.pop(msg["content"]["comm_id"], None)
            return
        super().handle_comm_msg(outs, msg, cell_index)


def drop_dead_widget_outputs(nb: nbformat.NotebookNode) -> int:
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is not None and view.get("model_id") not in state:
                dropped += 1
                continue
            kept.append(out)
        cell.outputs = kept
    return dropped


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ.pop("XAITUTOR_THREADS", None)
    os.environ.pop("MKL_NUM_THREADS", None)
    os.environ["OMP_NUM_THREADS"] = str(THREADS)            # the kernel inherits it
    nb.metadata["xaitutor"] = {"threads": THREADS}
    start = time.perf_counter()
    _Client(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   record_timing=False, resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    dropped = drop_dead_widget_outputs(nb)
    nbformat.write(nb, path)
    print(f"{path.name}: executed in {seconds:.1f} s; dropped {dropped} finished progress bars")
    return seconds


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    for p in paths:
        execute(p.resolve())
