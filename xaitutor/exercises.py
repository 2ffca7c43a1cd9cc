"""Self-checks for the exercises: they print ✓ or ✗ with a reason and return a bool.

Unlike :func:`xaitutor.check` they never raise on a wrong answer, so a learner's
attempt cannot stop the notebook; solution cells ``assert`` the returned bool.

Model answers live in ``xaitutor/solutions/nbNN.py``, not in the notebooks. A solution
cell calls :func:`solution`, which prints the answer's source and returns it under a
name of its own, so "Run All" never overwrites the learner's attempt, the committed
notebook never shows the learner's cell as solved, and nbval still checks every answer.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence

import numpy as np

from . import _checks

__all__ = ["check_function", "check_value", "check_choice", "solution"]


def check_function(name: str, fn: Callable, reference: Callable, cases: Sequence[tuple],
                   atol: float = 1e-5, hide: Sequence[str] = (), namespace: dict | None = None) -> bool:
    """Call ``fn(*case)`` and ``reference(*case)`` for every case; ✓ when all agree.

    ``hide`` names variables of ``namespace`` (the notebook's ``globals()``) that ``fn`` must
    not use — e.g. the Hessian ``H`` when the task is to compute Hv without forming H: they
    are taken out of ``namespace`` while ``fn`` runs and put back afterwards (the reference
    must hold its own copy). A dotted name hides one attribute of a module:
    ``"saliency.integrated_gradients"`` leaves ``saliency.gradient`` usable."""
    if hide and namespace is None:
        raise ValueError("hide needs namespace: pass namespace=globals()")
    missing = [n for n in hide if n.split(".")[0] not in namespace] if hide else []
    if missing:
        raise ValueError(f"hide names {missing}, which are not in namespace")
    for i, args in enumerate(cases):
        hidden = _hide(namespace, hide)
        try:
            got = fn(*args)
        except NameError as e:
            if e.name in hide:
                print(f"✗ {name}: your function uses `{e.name}`, which this exercise asks you to do "
                      "without — compute the result from the function itself")
                return False
            print(f"✗ {name}: your function raised {type(e).__name__}: {e}")
            return False
        except NotImplementedError:
            print(f"✗ {name}: not written yet — replace the `raise NotImplementedError` "
                  "with your code")
            return False
        except Exception as e:  # the learner's code: report, never crash
            print(f"✗ {name}: your function raised {type(e).__name__}: {e}")
            return False
        finally:
            if hidden:
                namespace.update(hidden)
        if got is None:
            print(f"✗ {name}: your function returned None — did you forget `return`?")
            return False
        a, b = _checks.as_float64_array(got), _checks.as_float64_array(reference(*args))
        if a.shape != b.shape:
            print(f"✗ {name}: case {i} returned shape {a.shape}, expected {b.shape}")
            return False
        if not np.allclose(a, b, atol=atol, rtol=0):
            delta = float(np.max(np.abs(a - b)))
            print(f"✗ {name}: case {i} is off by up to {delta:.3g} (tolerance {atol:g}); "
                  "compare your formula with the one above")
            return False
    print(f"✓ {name}: matches the reference on {len(cases)} cases")
    return True


class _Without:
    """A module seen without some of its attributes: using one raises NameError naming it."""

    def __init__(self, module, prefix: str, names: set[str]):
        self._module, self._prefix, self._names = module, prefix, names

    def __getattr__(self, attr):
        if attr in self._names:
            raise NameError(f"{self._prefix}.{attr} is hidden", name=f"{self._prefix}.{attr}")
        return getattr(self._module, attr)


def _hide(namespace: dict, hide: Sequence[str]) -> dict:
    """Take the names in ``hide`` out of ``namespace`` (a dotted name: wrap its module in
    :class:`_Without`); return what was there, to put back."""
    saved = {}
    for name in hide:
        top, _, attr = name.partition(".")
        saved.setdefault(top, namespace[top])
        if not attr:
            namespace.pop(top)
        else:
            held = namespace[top]
            namespace[top] = _Without(held._module if isinstance(held, _Without) else held, top,
                                      (held._names if isinstance(held, _Without) else set()) | {attr})
    return saved


def check_value(name: str, got, expected, atol: float = 0.0, hint: str = "") -> bool:
    """✓ when the number(s) ``got`` equal ``expected`` within ``atol``."""
    if got is None or got is Ellipsis:
        print(f"✗ {name}: no answer yet — replace the `...`")
        return False
    a, b = _checks.as_float64_array(got), _checks.as_float64_array(expected)
    ok = a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=0))
    print(f"✓ {name}" if ok else f"✗ {name}: not quite. {hint}".rstrip())
    return ok


#: How often each choice question has been answered wrongly in this kernel.
_WRONG_TRIES: dict[str, int] = {}


def check_choice(name: str, got, expected, why: str, hint: str = "", reveal: bool = False) -> bool:
    """✓ when the learner's choice equals ``expected``, with the reason ``why``.

    A wrong choice first gets a hint (``hint``, or a nudge back to the evidence) and a
    second chance: the right answer and ``why`` show only after a second wrong try of the
    same question, or when the learner asks with ``reveal=True``."""
    if reveal:
        print(f"{name}: the answer is {expected!r}. {why}".rstrip())
        return False
    if got is None or got is Ellipsis:
        print(f"✗ {name}: no answer yet — replace the `...` with one of the options")
        return False
    norm = (lambda v: v.strip().lower() if isinstance(v, str) else v)
    if norm(got) == norm(expected):
        print(f"✓ {name}: the answer is {expected!r}. {why}".rstrip())
        return True
    tries = _WRONG_TRIES[name] = _WRONG_TRIES.get(name, 0) + 1
    if tries >= 2:
        print(f"✗ {name}: not {got!r} — the answer is {expected!r}. {why}".rstrip())
    else:
        nudge = hint or "look again at what the cell printed, and at the question's wording"
        print(f"✗ {name}: not {got!r}. Hint: {nudge}. Change your answer and run the cell again "
              "(a second wrong try shows the answer; so does reveal=True)")
    return False


def solution(notebook: str | int, name: str, show: bool = True):
    """Print the model answer ``name`` of notebook ``notebook`` and return it.

    ``notebook`` is the notebook's number (``"01"`` or ``1``); the answers are the
    functions of ``xaitutor/solutions/nb01.py`` and so on. Nothing in the caller's
    namespace changes: bind the result to a name of your own if you want it.
    """
    number = f"{int(notebook):02d}" if str(notebook).strip().isdigit() else str(notebook)
    try:
        module = importlib.import_module(f"xaitutor.solutions.nb{number}")
    except ModuleNotFoundError:
        raise ValueError(f"no solutions for notebook {notebook!r}; notebooks with solutions: "
                         f"{', '.join(available_solutions())}") from None
    names = [n for n, f in vars(module).items()
             if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("_")]
    if name not in names:
        raise ValueError(f"notebook {number} has no solution called {name!r}; "
                         f"it has: {', '.join(names)}")
    answer = getattr(module, name)
    if show:
        print(f"# xaitutor/solutions/nb{number}.py\n" + inspect.getsource(answer).rstrip())
    return answer


def available_solutions() -> list[str]:
    """The notebook numbers that have a solutions module."""
    from importlib import resources
    files = resources.files("xaitutor.solutions").iterdir()
    return sorted(f.name[2:4] for f in files if f.name.startswith("nb") and f.name.endswith(".py"))
