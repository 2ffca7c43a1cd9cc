import pytest
import torch

from xaitutor.exercises import check_choice, check_function, check_value

CASES = [(torch.tensor([1.0, 2.0]),), (torch.tensor([-3.0]),)]


def reference(t):
    return t ** 2


def test_right_function_gets_a_tick(capsys):
    assert check_function("square", lambda t: t * t, reference, CASES)
    assert capsys.readouterr().out.startswith("✓ square: matches the reference on 2 cases")


def test_unwritten_none_raising_and_wrong_functions_are_explained(capsys):
    def stub(t):
        raise NotImplementedError
    assert not check_function("square", stub, reference, CASES)
    assert "not written yet" in capsys.readouterr().out
    assert not check_function("square", lambda t: None, reference, CASES)
    assert "forget `return`" in capsys.readouterr().out
    assert not check_function("square", lambda t: t.foo, reference, CASES)
    assert "raised AttributeError" in capsys.readouterr().out
    assert not check_function("square", lambda t: t * 2, reference, CASES)
    assert "case 0 is off by up to 1 " in capsys.readouterr().out
    assert not check_function("square", lambda t: t.sum(), reference, CASES)
    assert "shape" in capsys.readouterr().out


def test_a_hidden_variable_cannot_be_used_and_comes_back(capsys):
    """Notebook 03's Exercise 1 asks for Hv without forming H; `H @ v` used to pass."""
    import pytest
    namespace = {"H": torch.eye(2) * 2.0}
    H = namespace["H"]
    hv = lambda v: H @ v                          # noqa: E731 (the reference keeps its own H)
    cheat = eval("lambda v: H @ v", namespace)    # a notebook function: reads H from its globals
    assert not check_function("Hv", cheat, hv, [(torch.ones(2),)], hide=("H",), namespace=namespace)
    assert "uses `H`" in capsys.readouterr().out
    assert torch.equal(namespace["H"], H)         # put back
    honest = eval("lambda v: 2.0 * v", namespace)
    assert check_function("Hv", honest, hv, [(torch.ones(2),)], hide=("H",), namespace=namespace)
    other = eval("lambda v: G @ v", namespace)    # a NameError that is not the hidden name
    assert not check_function("Hv", other, hv, [(torch.ones(2),)], hide=("H",), namespace=namespace)
    assert "raised NameError" in capsys.readouterr().out
    with pytest.raises(ValueError, match="namespace=globals"):
        check_function("Hv", honest, hv, [(torch.ones(2),)], hide=("H",))
    with pytest.raises(ValueError, match="not in namespace"):
        check_function("Hv", honest, hv, [(torch.ones(2),)], hide=("K",), namespace=namespace)


def test_a_hidden_module_function_cannot_be_used_and_the_rest_of_the_module_can(capsys):
    """Notebook 02's Exercise 1 asks for the left Riemann sum; the library's own
    `integrated_gradients(..., method="riemann_left")` used to pass."""
    import types
    lib = types.SimpleNamespace(gradient=lambda v: 2.0 * v, integrated=lambda v: 2.0 * v)
    namespace = {"lib": lib}
    ref = lambda v: 2.0 * v                       # noqa: E731
    cheat = eval("lambda v: lib.integrated(v)", namespace)
    assert not check_function("left", cheat, ref, [(torch.ones(2),)], hide=("lib.integrated",), namespace=namespace)
    assert "uses `lib.integrated`" in capsys.readouterr().out
    assert namespace["lib"] is lib                # put back
    honest = eval("lambda v: lib.gradient(v)", namespace)
    assert check_function("left", honest, ref, [(torch.ones(2),)], hide=("lib.integrated",), namespace=namespace)
    both = eval("lambda v: lib.gradient(v)", namespace)   # two attributes of one module, and a plain name
    namespace["other"] = 1
    assert not check_function("left", eval("lambda v: lib.gradient(v) * other", namespace), ref, [(torch.ones(2),)],
                              hide=("lib.integrated", "lib.gradient"), namespace=namespace)
    assert "uses `lib.gradient`" in capsys.readouterr().out
    assert check_function("left", both, ref, [(torch.ones(2),)], hide=("lib.integrated", "other"), namespace=namespace)
    assert namespace["lib"] is lib and namespace["other"] == 1
    with pytest.raises(ValueError, match="not in namespace"):
        check_function("left", honest, ref, [(torch.ones(2),)], hide=("mod.integrated",), namespace=namespace)


def test_check_value_and_choice(capsys):
    assert check_value("pi", 3.1416, 3.14159, atol=1e-3)
    assert not check_value("pi", 3.0, 3.14159, atol=1e-3, hint="more digits")
    assert "more digits" in capsys.readouterr().out
    assert not check_value("pi", ..., 3.14159)
    assert check_choice("q", " Yes", "yes", "because")
    assert not check_choice("q", "no", "yes", "because")
    assert not check_choice("q", ..., "yes", "because")
    assert "no answer yet" in capsys.readouterr().out


def test_a_wrong_choice_gets_a_hint_first_and_the_answer_only_on_a_second_try_or_on_request(capsys):
    """Issue 25: a first wrong try must not give the answer away."""
    assert not check_choice("which kernel", "Shapley", "Banzhaf", "a flat kernel fits Banzhaf values",
                            hint="what does a flat kernel weigh alike")
    first = capsys.readouterr().out
    assert "Banzhaf" not in first and "what does a flat kernel weigh alike" in first and "✗" in first
    assert not check_choice("another question", "a", "b", "because b")          # counted per question
    assert "'b'" not in capsys.readouterr().out
    assert not check_choice("which kernel", "leave-one-out", "Banzhaf", "a flat kernel fits Banzhaf values")
    second = capsys.readouterr().out
    assert "'Banzhaf'" in second and "a flat kernel fits Banzhaf values" in second
    assert not check_choice("a third question", ..., "c", "because c", reveal=True)
    assert "'c'" in capsys.readouterr().out
    assert check_choice("which kernel", "banzhaf ", "Banzhaf", "why")              # right: ✓


# --- model answers: shipped in the package, shown on demand, never over the learner's cell ---

import ast  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from xaitutor.exercises import available_solutions, solution  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _bound_names(src: str) -> set[str]:
    tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_solution_prints_the_source_and_returns_the_answer(capsys):
    number = available_solutions()[0]
    module = __import__(f"xaitutor.solutions.nb{number}", fromlist=["_"])
    name = next(n for n, f in vars(module).items()
                if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("_"))
    got = solution(int(number), name)
    assert got is getattr(module, name)
    out = capsys.readouterr().out
    assert out.startswith(f"# xaitutor/solutions/nb{number}.py\n") and f"def {name}(" in out
    assert solution(number, name, show=False) is got and capsys.readouterr().out == ""


def test_solution_names_what_exists_when_asked_for_what_does_not():
    number = available_solutions()[0]
    with pytest.raises(ValueError, match="has no solution called 'nope'; it has: "):
        solution(number, "nope")
    with pytest.raises(ValueError, match="no solutions for notebook '99'"):
        solution("99", "anything")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_come_from_the_package_and_leave_the_attempt_alone(path):
    """Issue 14: "Run All" must not overwrite the learner's attempt with the solution, and
    every shipped answer is used (so nbval checks it)."""
    cells = _cells(path)
    number = path.name[:2]
    solution_cells = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert solution_cells, "every notebook has exercises with model answers"
    learner = set()
    for c in cells:
        if c["cell_type"] == "code" and c not in solution_cells:
            learner |= {n for n in _bound_names("".join(c["source"])) if n.startswith("my_")}
    used = set()
    for c in solution_cells:
        src = "".join(c["source"])
        assert re.search(r"solution\(\"" + number + r"\", \"\w+\"\)", src), \
            f"a solution cell must print its answer from xaitutor/solutions/nb{number}.py:\n{src}"
        used |= set(re.findall(r"solution\(\"" + number + r"\", \"(\w+)\"\)", src))
        clobbered = _bound_names(src) & learner
        assert not clobbered, f"the solution cell rebinds the learner's {sorted(clobbered)}"
        meta = c["metadata"].get("jupyter", {})
        assert meta.get("source_hidden") and meta.get("outputs_hidden"), \
            "a model answer stays folded until the learner unfolds it"
    module = __import__(f"xaitutor.solutions.nb{number}", fromlist=["_"])
    shipped = {n for n, f in vars(module).items()
               if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("_")}
    assert shipped == used, f"answers shipped but not shown: {sorted(shipped - used)}"
