"""The set-up files agree with each other, and the notebooks are committed as nbval needs."""
import json
import re
import subprocess
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# conda-forge name → PyPI name (conda-forge's "playwright" is another package: the Python
# module `playwright` comes from "playwright-python")
CONDA_NAMES = {"pytorch": "torch", "playwright-python": "playwright"}
SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(>=\s*[0-9][0-9.]*)?")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(specs) -> dict[str, str | None]:
    out = {}
    for spec in specs:
        m = SPEC.match(spec.strip())
        assert m, f"cannot read the requirement {spec!r}"
        name = normalise(CONDA_NAMES.get(m.group(1), m.group(1)))
        out[name] = m.group(2).replace(" ", "") if m.group(2) else None
    return out


@pytest.fixture(scope="module")
def pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return parse(meta["dependencies"] + meta["optional-dependencies"]["test"])


def conda_packages() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    lines = text[text.index("dependencies:"):].splitlines()
    deps = [l.strip()[2:] for l in lines if re.match(r"^  - [A-Za-z]", l)]
    return [d for d in deps if not d.startswith(("python ", "python>", "pip"))]


def test_pyproject_declares_what_the_course_needs(pyproject):
    needed = {"torch", "torchvision", "captum", "matplotlib", "ipywidgets", "jupyterlab",
              "numpy", "scikit-learn", "tqdm", "pytest", "nbval"}
    assert needed <= set(pyproject)
    assert all(bound is not None for bound in pyproject.values()), "every dependency needs a lower bound"
    assert not any("==" in l for l in (ROOT / "pyproject.toml").read_text().splitlines()
                   if l.strip().startswith('"')), "no exact pins"
    assert pyproject["ipywidgets"] == ">=8" and pyproject["jupyterlab"] == ">=4"
    assert pyproject["jupyterlab-widgets"] == ">=3"


def test_environment_yml_matches_pyproject(pyproject):
    assert parse(conda_packages()) == pyproject
    text = (ROOT / "environment.yml").read_text()
    assert "cpu*" in text, "conda users get CPU PyTorch"
    assert "--editable ." in text


def test_binder_requirements_match_pyproject(pyproject):
    lines = [l for l in (ROOT / "binder/requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith(("#", "--"))]
    assert parse(lines) == pyproject
    text = (ROOT / "binder/requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in text, "Binder gets CPU-only PyTorch"
    assert "pip install --no-deps --editable ." in (ROOT / "binder/postBuild").read_text()


VENV_PREFIX = ("(.venv/bin/python -m pip --version >/dev/null 2>&1 || "
               "(rm -rf .venv && python3 -m venv .venv))")
# Both README commands install the same way: the venv's own setuptools builds the package
# (no build isolation), so the install needs no package index once everything is there
# (test_environments.py runs the lab command so, with an empty pip cache and no index).
INSTALL = ('.venv/bin/python -m pip install -q "setuptools>=77" && '
           ".venv/bin/python -m pip install -q --no-build-isolation -e ")


def test_environment_yml_names_the_conda_forge_package_of_the_playwright_module():
    deps = conda_packages()
    assert any(d.startswith("playwright-python ") for d in deps)
    assert not any(re.match(r"playwright\s*(>=|$)", d) for d in deps)


def test_readme_rebuilds_a_half_made_venv(tmp_path):
    """A .venv left without pip (python3-venv was missing, or an interrupted run) must be
    rebuilt by the README's commands, not fail forever with "No module named pip"."""
    subprocess.run(["python3", "-m", "venv",
                    "--without-pip", str(tmp_path / ".venv")], check=True)
    broken = subprocess.run([str(tmp_path / ".venv/bin/python"), "-m", "pip", "--version"],
                            capture_output=True, text=True)
    assert broken.returncode != 0 and "No module named pip" in broken.stderr
    done = subprocess.run(["bash", "-c", VENV_PREFIX + " && .venv/bin/python -m pip --version"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("pip "), done.stderr


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    setup = [b for b in blocks if b.startswith(VENV_PREFIX)]
    assert len(setup) == 2
    lab, test = setup
    assert lab == f"{VENV_PREFIX} && {INSTALL}. && .venv/bin/jupyter lab --allow-root notebooks/"  # root too
    assert test == f'{VENV_PREFIX} && {INSTALL}".[test]" && .venv/bin/python -m pytest'
    out = subprocess.run(
        ["awk", '/<!-- test-command -->/{found=1; next} found && /^```/{n++; if (n==2) exit; next} found && n==1',
         str(ROOT / "README.md")], capture_output=True, text=True, check=True).stdout.strip()
    assert out == test
    assert "<!-- test-command -->" in (ROOT / ".ci/run").read_text()


def test_readme_class_test_runs_the_hub_marker_and_ci_runs_it_too():
    """The JupyterHub class test is the README's second test step (kept out of the everyday
    loop): one command after <!-- class-test-command -->, selecting the `hub` marker, which
    .ci/run extracts and runs after the test command."""
    out = subprocess.run(
        ["awk", '/<!-- class-test-command -->/{found=1; next} found && /^```/{n++; if (n==2) exit; next} found && n==1',
         str(ROOT / "README.md")], capture_output=True, text=True, check=True).stdout.strip()
    assert out.startswith(".venv/bin/python -m pytest -m hub ") and out.endswith("tests/test_hub.py")
    ci = (ROOT / ".ci/run").read_text()
    assert "<!-- class-test-command -->" in ci and 'run_step "class test" "$class_cmd"' in ci


def test_the_licence_is_an_spdx_expression_with_its_files():
    """`license = {text = ...}` is deprecated (setuptools refuses it after 2027-02-18): the
    SPDX string and `license-files` (PEP 639), which need setuptools >= 77 to build, and
    the installed package says so in its metadata."""
    from importlib.metadata import metadata
    toml = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = toml["project"]
    assert project["license"] == "MIT"
    assert toml["build-system"]["requires"] == ["setuptools>=77"]
    files = [p for pattern in project["license-files"] for p in ROOT.glob(pattern)]
    notes = {"xaitutor/data/files/german_credit/README.md", "xaitutor/data/files/mnist/README.md"}
    assert ROOT / "LICENSE" in files and {ROOT / n for n in notes} <= set(files)
    meta = metadata("xaitutor")
    assert meta["License-Expression"] == "MIT" and meta.get("License") is None
    assert {"LICENSE", *notes} <= set(meta.get_all("License-File"))


def test_pytest_runs_the_notebooks_under_nbval():
    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert opts["testpaths"] == ["notebooks", "tests"]          # the longest units first (xdist balance)
    assert "--nbval" in opts["addopts"].split()
    assert (ROOT / "tests/nbval_sanitize.cfg").exists()


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no numbered notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_run_once_top_to_bottom_and_is_light(path):
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and c["source"]]
    counts = [c.get("execution_count") for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "re-run it with tools/execute_notebooks.py"
    assert not any(o.get("output_type") == "error" for c in cells for o in c["outputs"])
    assert path.stat().st_size < 3_000_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_skeleton(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for heading in ("You will learn", "Time:", "Exercise", "Summary", "References"):
        assert heading in text, f"missing {heading!r}"
    imports = [i for i, src in enumerate(code) if re.search(r"^(import|from) \S+", src, re.M)]
    assert imports == [0], "imports belong in the setup cell only"
    assert "set_seed" in code[0] and "get_device" in code[0]
    solutions = [c for c in nb["cells"] if "solution" in c.get("metadata", {}).get("tags", [])]
    assert solutions and all(c["metadata"].get("jupyter", {}).get("source_hidden") for c in solutions)
    assert "../shared" not in text and "http" not in "".join(code), "notebooks run offline"


WEIGHT_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".safetensors", ".bin", ".npz"}


def test_shipped_weights_are_checksummed_and_nothing_unpickles():
    """Issue 8: shipped weights and arrays must load safely and be checksummed. The one
    weights file (the digit CNN, issue 27) and the MNIST arrays each have a loader with a
    recorded SHA-256 that reads them with allow_pickle=False; the test fails on any other
    weights file in the package or the notebooks folder, and on any torch.load without
    weights_only=True or pickle.load in the code."""
    import hashlib

    from xaitutor import models
    from xaitutor.data import images
    # arrays and weights the package ships, each with its loader's recorded SHA-256 (read with allow_pickle=False)
    checksummed = {"xaitutor/data/files/mnist/mnist10k.npz": images.MNIST_SHA256,
                   "xaitutor/data/files/weights/mnist_cnn.npz": models.MNIST_CNN_SHA256}
    for path, sha in checksummed.items():
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == sha, path
    for loader in (images, models):
        assert "allow_pickle=False" in Path(loader.__file__).read_text()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    weights = [p for p in tracked if Path(p).suffix in WEIGHT_SUFFIXES and p not in checksummed]
    assert not weights, f"weights files without a checksummed loader: {weights}"
    unsafe = []
    for p in tracked:
        if Path(p).suffix not in {".py", ".ipynb"} or p.startswith("tests/"):
            continue
        text = (ROOT / p).read_text(encoding="utf-8")
        for match in re.finditer(r"torch\.load\(([^)]*)\)|pickle\.loads?\(", text):
            if match.group(0).startswith("pickle") or "weights_only=True" not in match.group(0):
                unsafe.append(f"{p}: {match.group(0)}")
    assert not unsafe, f"unsafe loading: {unsafe}"


AUTH_OFF = re.compile(r"""token\s*=\s*(''|""|\s)|password\s*=\s*(''|"")|disable_check_xsrf|"""
                      r"""allow_origin\s*=\s*['"]\*|--ip[= ]0\.0\.0\.0|ServerApp\.ip\s*=\s*['"]?0\.0\.0\.0""")


def test_no_instruction_turns_jupyter_authentication_off():
    """Issue 8: the README, Binder files and CI script never tell anyone to run Jupyter
    without its token or open to the network."""
    files = [ROOT / "README.md", ROOT / ".ci" / "run", ROOT / "environment.yml",
             *sorted((ROOT / "binder").iterdir())]
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in files
                 for m in AUTH_OFF.finditer(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders
    assert AUTH_OFF.search("jupyter lab --IdentityProvider.token=''")      # the pattern bites
    assert AUTH_OFF.search("jupyter lab --ip=0.0.0.0")
