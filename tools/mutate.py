"""Mutation testing, one module at a time: make one small breakage of the library at a
time (a flipped comparison, a changed operator, a constant off by one, a dropped `not`)
and run the tests that should notice. A mutant the tests let pass is a hole in them.

    python tools/mutate.py xaitutor/shapley.py tests/test_shapley.py --sample 40
    python tools/mutate.py xaitutor/recourse/linear.py tests/test_recourse.py --sample 40 --seed 1

The mutants are written into a copy of the project in a temporary folder (the package,
the tests, pyproject.toml), first on PYTHONPATH there, so the working tree is never
touched; survivors are listed with their line so that a test can be written.
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
         ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
         ast.And: ast.Or, ast.Or: ast.And}


def sites(tree: ast.AST) -> list[tuple[int, str]]:
    """(node index in ast.walk order, what the mutation does) for every mutable spot
    outside docstrings and error messages."""
    out = []
    for k, node in enumerate(ast.walk(tree)):
        if isinstance(node, (ast.Compare,)) and type(node.ops[0]) in SWAPS:
            out.append((k, f"{type(node.ops[0]).__name__} → {SWAPS[type(node.ops[0])].__name__}"))
        elif isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in SWAPS:
            out.append((k, f"{type(node.op).__name__} → {SWAPS[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            out.append((k, "drop not"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and \
                not isinstance(node.value, bool):
            out.append((k, f"{node.value!r} → {node.value!r} + 1"))
    return out


def mutate(tree: ast.AST, index: int) -> ast.AST:
    for k, node in enumerate(ast.walk(tree)):
        if k != index:
            continue
        if isinstance(node, ast.Compare):
            node.ops[0] = SWAPS[type(node.ops[0])]()
        elif isinstance(node, (ast.BinOp, ast.BoolOp)):
            node.op = SWAPS[type(node.op)]()
        elif isinstance(node, ast.UnaryOp):
            return _drop_not(tree, node)
        else:
            node.value = node.value + 1
    return tree


def _drop_not(tree: ast.AST, target: ast.UnaryOp) -> ast.AST:
    class Drop(ast.NodeTransformer):
        def visit_UnaryOp(self, node):
            self.generic_visit(node)
            return node.operand if node is target else node
    return Drop().visit(tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--sample", type=int, default=30, help="mutants to try (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    source = (root / args.module).read_text()
    all_sites = sites(ast.parse(source))
    chosen = sorted(random.Random(args.seed).sample(all_sites, min(args.sample, len(all_sites))))
    killed, survived = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("xaitutor", "tests", "pyproject.toml"):
            copy = shutil.copytree if (root / part).is_dir() else shutil.copy
            copy(root / part, Path(tmp) / part)
        path = Path(tmp) / args.module
        env = {**os.environ, "PYTHONPATH": tmp}

        def tests_fail() -> bool:
            try:
                return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:randomly",
                                       "-o", "addopts=", *args.tests], capture_output=True, cwd=tmp, env=env,
                                      timeout=args.timeout).returncode != 0
            except subprocess.TimeoutExpired:
                return True                                             # a hang counts as caught
        path.write_text(ast.unparse(ast.parse(source)))
        if tests_fail():
            sys.exit(f"the tests fail without any mutant: fix them first ({' '.join(args.tests)})")
        for n, (index, what) in enumerate(chosen, 1):
            node = [nd for k, nd in enumerate(ast.walk(ast.parse(source))) if k == index][0]
            path.write_text(ast.unparse(mutate(ast.parse(source), index)))
            start = time.perf_counter()
            dead = tests_fail()
            killed += dead
            if not dead:
                survived.append(f"{args.module}:{node.lineno}: {what}")
            print(f"[{n}/{len(chosen)}] line {node.lineno}: {what}: "
                  f"{'killed' if dead else 'SURVIVED'} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\n{args.module}: {killed} of {len(chosen)} mutants killed "
          f"({len(all_sites)} mutable spots in all)")
    for s in survived:
        print("  survived:", s)


if __name__ == "__main__":
    main()
