"""Mutation testing: does a one-token bug in a rule that decides a number fail the tests?

``make mutate`` (never part of ``make test``). For each target module, every mutable node is
changed one at a time (comparison, arithmetic and boolean operators, ``&=``/``|=``, small
integer and float constants, ``min``/``max`` and ``any``/``all``, a dropped ``not``), the mutant
is written over the module, and only that module's tests run (``TARGETS``). A mutant the tests
fail on is *killed*; one they pass is a *survivor*, printed with its line so it can be killed by a
new test or listed as equivalent in the README. The source is restored after every mutant, also
on Ctrl-C.

Speed: the heavy libraries are imported once; each mutant runs in a forked child that re-imports
only ``analysis`` from the mutated file, so a mutant costs about its tests' own time.

Usage: python tools/mutate.py [module ...] [--max N] [--timeout S]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: module -> the tests that guard it (fast ones: each runs once per mutant); each string is one
#: pytest invocation (its own -k applies to it alone)
TARGETS: dict[str, list[str]] = {
    "src/analysis/data/outcomes.py": ["tests/test_rules.py", "tests/test_ingest.py"],
    "src/analysis/data/rollout.py": ["tests/test_rules.py", "tests/test_bad_inputs.py -k rollout"],
    "src/analysis/impact/randomization.py": ["tests/test_rules.py", "tests/test_impact.py::test_reassignment_pool_holds_the_sectors_that_could_have_been_chosen",
                                             "tests/test_impact.py::test_randomization_interval_is_unbounded_when_the_test_cannot_bound_it",
                                             "tests/test_impact.py -k distinct"],
    "src/analysis/impact/wild.py": ["tests/test_rules.py", "tests/test_simulation.py::test_wild_bootstrap_holds_its_size_with_many_treated",
                                    "tests/test_impact.py -k wild"],
    "src/analysis/impact/result.py": ["tests/test_rules.py"],
    "src/analysis/report/disclosure.py": ["tests/test_rules.py", "tests/test_disclosure.py"],
}

SWAP_OPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.And: ast.Or, ast.Or: ast.And,
}
SWAP_NAMES = {"min": "max", "max": "min", "any": "all", "all": "any", "floor": "ceil", "ceil": "floor",
              "nanmin": "nanmax", "nanmax": "nanmin"}


def _in_docstring_or_fstring(tree: ast.AST) -> set[int]:
    """ids of nodes not worth mutating: docstrings, f-strings and the messages of raises."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.JoinedStr, ast.Raise)):
            skip.update(id(n) for n in ast.walk(node))
        # annotations are never evaluated (``from __future__ import annotations``)
        for ann in (getattr(node, "returns", None), getattr(node, "annotation", None)):
            if isinstance(ann, ast.AST):
                skip.update(id(n) for n in ast.walk(ann))
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.update(id(n) for n in ast.walk(first))
    return skip


def _sites(tree: ast.AST) -> list[tuple[ast.AST, tuple]]:
    """Every mutable node of ``tree`` with the kind of mutation, in a fixed walk order."""
    skip = _in_docstring_or_fstring(tree)
    sites: list[tuple[ast.AST, tuple]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            sites += [(node, ("cmp", j)) for j, op in enumerate(node.ops) if type(op) in SWAP_OPS]
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAP_OPS:
            sites.append((node, ("op",)))
        elif isinstance(node, ast.BoolOp):
            sites.append((node, ("bool",)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, ("not",)))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            sites.append((node, ("const",)))
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in SWAP_NAMES:
                sites.append((node, ("call",)))
    return sites


def mutants(source: str):
    """Yield (line, description, mutated source) for every single-node mutation."""
    for k in range(len(_sites(ast.parse(source)))):
        tree = ast.parse(source)  # a fresh tree per mutant: one change at a time
        node, kind = _sites(tree)[k]
        before = ast.unparse(node)
        if kind[0] == "cmp":
            node.ops[kind[1]] = SWAP_OPS[type(node.ops[kind[1]])]()
        elif kind[0] == "op":
            node.op = SWAP_OPS[type(node.op)]()
        elif kind[0] == "bool":
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif kind[0] == "not":
            # drop the not: replace the UnaryOp by its operand in its parent
            for parent in ast.walk(tree):
                for field, value in ast.iter_fields(parent):
                    if value is node:
                        setattr(parent, field, node.operand)
                    elif isinstance(value, list):
                        for i, v in enumerate(value):
                            if v is node:
                                value[i] = node.operand
        elif kind[0] == "const":
            v = node.value
            node.value = 1 if v == 0 else 0 if v == 1 else v + 1
        elif kind[0] == "call":
            f = node.func
            if isinstance(f, ast.Name):
                f.id = SWAP_NAMES[f.id]
            else:
                f.attr = SWAP_NAMES[f.attr]
        after = ast.unparse(node) if kind[0] != "not" else ast.unparse(node.operand)
        yield node.lineno, f"{before} -> {after}", ast.unparse(tree)


def _run_child(tests: list[str], timeout: float) -> str:
    """'killed', 'survived' or 'timeout': the tests in a forked child that re-imports analysis."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            sys.dont_write_bytecode = True
            for name in [m for m in sys.modules if m == "analysis" or m.startswith("analysis.")]:
                del sys.modules[name]
            import pytest

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            # each entry is its own pytest run, so a -k in one never filters another's tests
            for group in tests:
                code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *group.split()])
                if code != 0:
                    os._exit(1)
            os._exit(0)
        except BaseException:
            os._exit(1)
    t0 = time.time()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        if time.time() - t0 > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.05)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _drop_pyc(path: Path) -> None:
    for p in (path.parent / "__pycache__").glob(path.stem + ".*.pyc"):
        p.unlink(missing_ok=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="repo-relative module paths (default: every target)")
    ap.add_argument("--max", type=int, default=0, help="at most this many mutants per module (0: all)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant before it counts as killed")
    ap.add_argument("--out", default=str(ROOT / "build" / "mutation.json"))
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(SRC))
    # a kill must not leave a mutant in the source: SIGTERM unwinds like Ctrl-C (the finally restores)
    signal.signal(signal.SIGTERM, _interrupt)
    import numpy  # noqa: F401  (imported once, shared by every forked child)
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401

    modules = args.modules or list(TARGETS)
    report = {}
    t_all = time.time()
    for mod in modules:
        path = ROOT / mod
        tests = TARGETS.get(mod)
        if tests is None:
            print(f"{mod}: no tests listed in TARGETS", file=sys.stderr)
            return 2
        original = path.read_text()
        base = _run_child(tests, args.timeout)
        if base != "survived":
            print(f"{mod}: its tests fail without any mutation ({base}); fix them first", file=sys.stderr)
            return 2
        results = []
        t0 = time.time()
        try:
            for k, (line, what, text) in enumerate(mutants(original)):
                if args.max and k >= args.max:
                    break
                path.write_text(text)
                _drop_pyc(path)
                outcome = _run_child(tests, args.timeout)
                results.append({"line": line, "mutation": what, "outcome": outcome})
        finally:  # also on Ctrl-C (SIGINT); SIGTERM is turned into the same below
            path.write_text(original)
            _drop_pyc(path)
        killed = sum(r["outcome"] != "survived" for r in results)
        score = 100 * killed / max(len(results), 1)
        report[mod] = {"mutants": len(results), "killed": killed, "score": round(score, 1),
                       "seconds": round(time.time() - t0, 1),
                       "survivors": [r for r in results if r["outcome"] == "survived"]}
        print(f"{mod}: {killed}/{len(results)} killed ({score:.1f} %) in {time.time() - t0:.0f} s", flush=True)
        for r in report[mod]["survivors"]:
            print(f"  survived  line {r['line']}: {r['mutation']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    total = sum(r["mutants"] for r in report.values())
    killed = sum(r["killed"] for r in report.values())
    print(f"total: {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %) in {time.time() - t_all:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
