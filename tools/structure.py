"""The library's shape, measured (issue 26): function lengths, parameter counts, module sizes
and every use of another module's private name.

    python tools/structure.py            # a table for the README or an issue note
    python tools/structure.py --check    # exit 1 when a limit below is broken

Code lines are lines holding code: no blank line, no comment, no docstring. A private name is
one that starts with a single underscore; ``_checks``, ``_calls``, ``_batching`` and ``_threads``
are the ground floor that every module may use (they exist for that), so using them does not count.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES, MAX_PARAMETERS = 60, 12
GROUND_FLOOR = {"_checks", "_batching", "_threads", "_calls"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def code_lines(node: ast.AST, source: list[str]) -> int:
    """Lines of ``node`` that hold code (its docstring, comments and blank lines aside)."""
    skip = set()
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    first, last = getattr(node, "lineno", 1), getattr(node, "end_lineno", len(source))
    return sum(1 for i in range(first, last + 1)
               if i not in skip and source[i - 1].strip() and not source[i - 1].strip().startswith("#"))


def parameters(node: ast.FunctionDef) -> int:
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    return len([n for n in names if n not in ("self", "cls")])


def _ours(module: str | None, level: int) -> bool:
    return level > 0 or (module or "").split(".")[0] == "xaitutor"


def private_uses(tree: ast.Module) -> list[str]:
    """Private names of the library's other modules that this module imports or reaches
    through an attribute (``saliency._pick``); other packages' private names are not ours."""
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _ours(node.module, node.level):
            for alias in node.names:
                if _private(alias.name) and alias.name not in GROUND_FLOOR:
                    found.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
                aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name, 0):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and aliases.get(node.value.id, "_checks") not in GROUND_FLOOR:
            found.append(f"{node.value.id}.{node.attr}")
    return sorted(set(found))


def measure(folder: Path) -> dict:
    rows = {"long": [], "wide": [], "private": [], "modules": []}
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text()
        source, tree = text.splitlines(), ast.parse(text)
        name = str(path.relative_to(ROOT))
        rows["modules"].append((code_lines(tree, source) if source else 0, name))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if code_lines(node, source) > MAX_LINES:
                    rows["long"].append((code_lines(node, source), f"{name}:{node.name}"))
                if parameters(node) > MAX_PARAMETERS and not _private(node.name):
                    rows["wide"].append((parameters(node), f"{name}:{node.name}"))
        rows["private"] += [f"{name}: {use}" for use in private_uses(tree)]
    return rows


def report(rows: dict, title: str) -> list[str]:
    sizes = sorted(rows["modules"], reverse=True)
    lines = [f"## {title}",
             f"- functions over {MAX_LINES} code lines: {len(rows['long'])}"]
    lines += [f"  - {n} {where}" for n, where in sorted(rows["long"], reverse=True)]
    lines.append(f"- public functions over {MAX_PARAMETERS} parameters: {len(rows['wide'])}")
    lines += [f"  - {n} {where}" for n, where in sorted(rows["wide"], reverse=True)]
    lines.append(f"- uses of another module's private name: {len(rows['private'])}")
    lines += [f"  - {use}" for use in rows["private"]]
    lines.append(f"- code lines: {sum(n for n, _ in sizes)} in {len(sizes)} modules; largest: "
                 + ", ".join(f"{where.split('/', 1)[-1]} {n}" for n, where in sizes[:5]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a limit is broken")
    args = parser.parse_args(argv)
    library, tests = measure(ROOT / "xaitutor"), measure(ROOT / "tests")
    print("\n".join(report(library, "xaitutor/")))
    print(f"## tests/\n- uses of a library module's private name: {len(tests['private'])}")
    print("\n".join(f"  - {use}" for use in tests["private"]))
    broken = library["long"] or library["wide"] or library["private"] or tests["private"]
    return 1 if args.check and broken else 0


if __name__ == "__main__":
    sys.exit(main())
