"""Issue 15, part 1: the course in ordinary environments — a shell that exports
MPLBACKEND=Agg, pytest started from another directory."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def tiny_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "from xaitutor.plotting import use_projector_style\n"
        "use_projector_style()\n"
        "plt.plot([0, 1], [1, 0])\n"
        "plt.show()\n"
        "print('max |Δ| 3.1e-07 and done')")]
    nbformat.write(nb, path)
    return path


def test_a_notebook_shows_its_figures_when_the_shell_exports_mplbackend_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(tiny_notebook(tmp_path / "figure.ipynb"), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    kinds = [key for out in nb.cells[0].outputs for key in out.get("data", {})]
    assert "image/png" in kinds, f"no figure in the outputs: {nb.cells[0].outputs}"


def test_pytest_started_from_another_directory_finds_the_sanitiser():
    """`cd notebooks && python -m pytest ...`: the committed outputs say 'max |Δ| 9.9e-08'; a
    fresh run prints 3.1e-07 (another round-off, as on a GPU), which only the sanitiser —
    a path in pyproject.toml — makes equal. It must be found from any working directory."""
    path = ROOT / "tests" / "_cwd_check.ipynb"               # inside the repository, as users run it
    try:
        nb = nbformat.read(tiny_notebook(path), as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
        for out in nb.cells[0].outputs:
            if out.get("output_type") == "stream":
                out["text"] = out["text"].replace("3.1e-07", "9.9e-08")
        nbformat.write(nb, path)
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        run = subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider"],
                             cwd=ROOT / "notebooks", capture_output=True, text=True, env=env, timeout=300)
    finally:
        path.unlink(missing_ok=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
