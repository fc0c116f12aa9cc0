"""Mutation testing: does a one-token bug in a rule that decides a number fail the tests?

``make mutate`` (never part of ``make test``). Every mutable node of the target modules is
changed one at a time (comparison, arithmetic and boolean operators, ``&=``/``|=``, small
integer and float constants, ``min``/``max`` and ``any``/``all``, a dropped ``not``). A mutant the
tests fail on is *killed*; one they pass is a *survivor*, printed with its place so it can be
killed by a new test or listed in the README (tables "Equivalent mutants" and "Near-equivalent
mutants", read back here: a listed mutant is not run and counts as *explained*).

Which tests run for a mutant: those that execute its line. A first pass runs the fast suite
(``-m "not slow"``) once under coverage with one context per test (``pytest-cov``), kept in
``build/`` and redone only when a source or test file changes. A mutant then runs the tests that
covered its statement (for a default argument: its function's body; for a module- or
class-level constant: every test that covered the module), rule tests (RULE_FILES) first, then fastest first, stopping at the first
failure, within a budget of seconds (a survivor then runs again with every covering test:
the second pass), plus the module's ``ALWAYS`` tests (those that read results a session fixture built
before them, which coverage attributes to one test only). A line no test executes is a survivor
without a run ("not covered").

Isolation and speed: the source tree is never touched. Each worker (``--jobs``, default 2) has
its own copy of ``src/`` under a temporary folder, first on ``sys.path`` and ``PYTHONPATH`` (so
subprocesses and notebook kernels import the mutant too); each mutant runs in a child forked
from a process that already imported numpy, pandas, scipy and pytest, which re-imports only
``analysis``.

Usage: python tools/mutate.py [module ...] [--jobs N] [--max N] [--remap]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
BUILD = ROOT / "build"
COVERAGE_FILE = BUILD / "mutation-coverage"
JUNIT = BUILD / "mutation-junit.xml"
MAP = BUILD / "mutation-map.json"

#: the modules measured by default: every module that decides a number
DEFAULT_TARGETS = sorted(str(p.relative_to(ROOT)) for d in ("data", "impact", "evaluation")
                         for p in (SRC / "analysis" / d).rglob("*.py") if p.name != "__init__.py") + [
    "src/analysis/report/disclosure.py"]

#: tests always run for a module's mutants, beside those coverage selects (session fixtures are
#: built in one test's setup, so coverage credits that test alone with the lines they ran)
_DEMO_PINNED = "tests/test_demo.py::test_demo_city_is_the_one_the_demo_reports_were_built_from"
ALWAYS: dict[str, list[str]] = {
    "src/analysis/data/panel.py": ["tests/test_panel.py"],
    # demo.json (the design it states, the true effect the report prints) is read by test_design
    "src/analysis/data/demo.py": [_DEMO_PINNED, "tests/test_demo.py::test_design"],
    # the city-wide monthly figures are read by no code of src/ (they document the calibration):
    # only the test that recomputes them from ../shared sees a change to them
    "src/analysis/data/calibration.py": [_DEMO_PINNED, "tests/test_demo.py::test_calibration_figures_match_the_real_data"],
    # the independent implementation (moderndid's polyhedra) is the test that sees the internals;
    # it is slower than the budget, so it is named here
    "src/analysis/evaluation/honest.py": ["tests/test_honest.py::test_polyhedra_match_moderndid"],
}

#: modules whose mutants change the demo city itself: their tests draw it afresh; every other
#: mutant's tests read one demo city drawn before the run (``ALTO_TEST_DEMO_DIR``, see conftest)
DRAWS_DEMO = {"src/analysis/data/demo.py", "src/analysis/data/calibration.py"}
DEMO_DIR = BUILD / "mutation-demo"
#: likewise the demo panel (``ALTO_TEST_DEMO_BUILD``), for mutants outside the data layer
DEMO_BUILD = BUILD / "mutation-demo-build.pickle"

#: test files written to name and guard one rule each (run first for a mutant)
RULE_FILES = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_rules*.py")} | {
    "tests/test_demo_numbers.py", "tests/test_disclosure.py"}

#: a test slower than this (seconds, in the coverage pass) is not run for mutants
MAX_TEST_SECONDS = 30.0
#: a survivor of the budget is run again with every covering test up to this many seconds
SECOND_BUDGET = 600.0
#: a mutant runs its covering tests, fastest first, until their coverage-pass times add up to
#: this many seconds (at least one test): a full pass stays within the hour, and a survivor
#: names the tests that ran, so a test that would catch it can be written or listed
BUDGET_SECONDS = 10.0

SWAP_OPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.And: ast.Or, ast.Or: ast.And,
}
SWAP_NAMES = {"min": "max", "max": "min", "any": "all", "all": "any", "floor": "ceil", "ceil": "floor",
              "nanmin": "nanmax", "nanmax": "nanmin"}


# --------------------------------------------------------------------------------------------
# mutants


def _skipped(tree: ast.AST) -> set[int]:
    """ids of nodes not worth mutating: docstrings, f-strings, the messages of raises, annotations."""
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
    skip = _skipped(tree)
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


def _places(tree: ast.AST) -> dict[int, tuple[str, list[int], str]]:
    """id(node) -> (qualified name of the enclosing def/class, the lines whose coverage selects
    its tests, and how: 'stmt' (the node's own lines and its statement's first line), 'body' (a
    default argument: its function's body) or 'module' (run at import: the module's tests))."""
    out: dict[int, tuple[str, list[int], str]] = {}

    def span(n):
        return list(range(n.lineno, n.end_lineno + 1))

    def visit(node, qual, scope, stmt):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{qual}.{node.name}" if qual else node.name
            outer = "stmt" if scope == "def" else "module"
            for d in [*node.decorator_list, *getattr(node, "bases", [])]:
                for n in ast.walk(d):
                    out[id(n)] = (qual, span(d), outer)
            if isinstance(node, ast.ClassDef):
                for s in node.body:
                    visit(s, name, "class", s)
                return
            body = list(range(node.body[0].lineno, node.body[-1].end_lineno + 1))
            for d in [*node.args.defaults, *node.args.kw_defaults]:
                for n in ast.walk(d) if d is not None else ():
                    out[id(n)] = (name, body, "body")
            for s in node.body:
                visit(s, name, "def", s)
            return
        if id(node) not in out:
            lines = sorted({stmt.lineno, *(span(node) if hasattr(node, "lineno") else [])})
            out[id(node)] = (qual, lines, "stmt" if scope == "def" else "module")
        for child in ast.iter_child_nodes(node):
            visit(child, qual, scope, child if isinstance(child, ast.stmt) else stmt)

    for s in tree.body:
        visit(s, "", "module", s)
    return out


def mutants(source: str):
    """Yield dicts (line, where, mutation, lines, select, text) for every single-node mutation;
    ``where`` is the enclosing def or class, ``select`` how its tests are chosen."""
    first = ast.parse(source)
    places = _places(first)
    meta = [places.get(id(node), ("", [node.lineno], "module")) for node, _ in _sites(first)]
    seen: dict[tuple[str, str], int] = {}
    for k in range(len(meta)):
        tree = ast.parse(source)  # a fresh tree per mutant: one change at a time
        node, kind = _sites(tree)[k]
        where, lines, select = meta[k]
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
        what = f"{before} -> {after}"
        # the same change can occur twice in one function: number the repeats so an explanation
        # in the README names exactly one mutant
        key = (where, what)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            what += f" (#{seen[key]})"
        yield {"line": node.lineno, "where": where or "<module>", "mutation": what, "lines": lines,
               "select": select, "text": ast.unparse(tree)}


# --------------------------------------------------------------------------------------------
# which tests cover which lines


def _hash(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _covered_run(jobs: int, files: list[str], deselect: list[str]) -> tuple[dict, dict]:
    """Run ``files`` once under coverage, one context per test: ({module: {line: [test ids]}},
    {test id: seconds})."""
    for f in (COVERAGE_FILE, JUNIT):
        f.unlink(missing_ok=True)
    env = {**os.environ, "COVERAGE_FILE": str(COVERAGE_FILE)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "--cov=analysis",
           "--cov-context=test", "--cov-report=", f"--junitxml={JUNIT}", *files,
           *[a for t in deselect for a in ("--deselect", t)]] + (["-n", str(jobs)] if jobs > 1 else [])
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if code not in (0, 5):  # 5: every test of these files deselected
        raise SystemExit(f"the fast suite fails without any mutation (pytest exit {code}); fix it first")
    return _read_pass()


def _read_pass() -> tuple[dict, dict]:
    from coverage import CoverageData

    files_map: dict[str, dict[str, list[str]]] = {}
    if COVERAGE_FILE.exists():
        data = CoverageData(basename=str(COVERAGE_FILE))
        data.read()
        for f in data.measured_files():
            path = Path(f).resolve()
            if not path.is_relative_to(ROOT):
                continue
            by_line = data.contexts_by_lineno(f)
            files_map[str(path.relative_to(ROOT))] = {
                str(ln): sorted({c.rsplit("|", 1)[0] for c in ctx if c}) for ln, ctx in by_line.items()}
    seconds: dict[str, float] = {}
    if JUNIT.exists():
        for case in ET.parse(JUNIT).getroot().iter("testcase"):
            nodeid = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            seconds[nodeid] = float(case.get("time", 0) or 0)
    return files_map, seconds


def coverage_map(jobs: int, remap: bool) -> dict:
    """{'files': {module: {line: [test ids]}}, 'seconds': {test id: duration}}: which tests run
    which lines, from the fast suite run under coverage. Kept in build/; when only some test
    files changed, only those are run again (a change to src/ redoes the whole pass, since lines
    move). Tests slower than ``MAX_TEST_SECONDS`` last time
    are left out of later passes (they never run for mutants)."""
    tests_dir = ROOT / "tests"
    # lines move only when src/ changes; a change to conftest.py or to a test helper can change
    # which lines a test covers, but rarely: --remap redoes the whole pass then
    base_fp = _hash(list(SRC.rglob("*.py")))
    test_files = {str(p.relative_to(ROOT)): _hash([p]) for p in tests_dir.glob("test_*.py")}
    old = json.loads(MAP.read_text()) if MAP.exists() else {}
    BUILD.mkdir(exist_ok=True)
    t0 = time.time()
    slow = [t for t, sec in old.get("seconds", {}).items() if sec > MAX_TEST_SECONDS]
    if remap or old.get("base") != base_fp:
        todo, files, seconds = sorted(test_files), {}, {}
    else:
        todo = sorted(f for f, h in test_files.items() if old.get("test_files", {}).get(f) != h)
        keep = lambda t: t.split("::")[0] in test_files and t.split("::")[0] not in todo
        files = {m: {ln: [t for t in ts if keep(t)] for ln, ts in lines.items()} for m, lines in old["files"].items()}
        seconds = {t: s for t, s in old["seconds"].items() if keep(t)}
        if not todo and set(old.get("test_files", {})) == set(test_files):
            return old
    if todo:
        print(f"coverage pass over {len(todo)} test file(s), one context per test ({jobs} workers) ...", flush=True)
        new_files, new_seconds = _covered_run(jobs, todo, [t for t in slow if t.split("::")[0] in todo])
        for m, lines in new_files.items():
            for ln, ts in lines.items():
                files.setdefault(m, {}).setdefault(ln, [])
                files[m][ln] = sorted(set(files[m][ln]) | set(ts))
        seconds.update(new_seconds)
        # the slow ones left out keep their old time, so they stay left out
        seconds.update({t: sec for t, sec in old.get("seconds", {}).items() if t in slow and t.split("::")[0] in todo})
        print(f"coverage pass: {len(new_seconds)} tests in {time.time() - t0:.0f} s", flush=True)
    out = {"base": base_fp, "test_files": test_files, "files": files, "seconds": seconds}
    MAP.write_text(json.dumps(out))
    return out


def select_tests(module: str, m: dict, cmap: dict, budget: float = BUDGET_SECONDS) -> list[str]:
    """The tests a mutant runs, rule tests first, then fastest first, within ``budget`` seconds."""
    lines = cmap["files"].get(module, {})
    if m["select"] == "module":
        chosen = {t for ts in lines.values() for t in ts}
    else:
        chosen = {t for ln in m["lines"] for t in lines.get(str(ln), [])}
    sec = cmap["seconds"]
    chosen = {t for t in chosen if sec.get(t, 0.0) <= MAX_TEST_SECONDS}
    always = sorted(ALWAYS.get(module, [])) if chosen else []  # only where the mutant's code runs at all
    out, total = [], 0.0
    # the rule tests and the pinned demo numbers first: built to fail on a broken rule, they kill
    # most mutants in their first seconds; then the others, fastest first
    first = lambda t: 0 if t.split("::")[0] in RULE_FILES else 1
    for t in sorted(chosen - set(always), key=lambda t: (first(t), sec.get(t, 1.0), t)):
        if out and total + sec.get(t, 1.0) > budget:
            break
        out.append(t)
        total += sec.get(t, 1.0)
    return out + always


# --------------------------------------------------------------------------------------------
# running


_WORK: Path | None = None


def _worker_init() -> None:
    global _WORK
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates us
    _WORK = Path(tempfile.mkdtemp(prefix="mutate-"))
    shutil.copytree(SRC, _WORK / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))


def _run(task: tuple[str, dict, list[str], float]) -> tuple[dict, str, float]:
    """Write one mutant into this worker's copy, run its tests in a forked child, restore."""
    module, m, tests, timeout = task
    assert _WORK is not None
    target = _WORK / module
    original = (ROOT / module).read_text()
    target.write_text(m["text"])
    t0 = time.time()
    try:
        outcome = _child(tests, timeout, module) if tests else "not covered"
    finally:
        target.write_text(original)
    return m, outcome, time.time() - t0


def _child(tests: list[str], timeout: float, module: str = "", quiet: bool = True) -> str:
    """'killed', 'survived' or 'timeout' (counted as killed): the tests in a forked child."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            sys.dont_write_bytecode = True
            src = str(_WORK / "src")
            sys.path.insert(0, src)
            os.environ["PYTHONPATH"] = src + os.pathsep + os.environ.get("PYTHONPATH", "")
            os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
            if module not in DRAWS_DEMO:
                os.environ["ALTO_TEST_DEMO_DIR"] = str(DEMO_DIR)
            if not module.startswith("src/analysis/data/"):
                os.environ["ALTO_TEST_DEMO_BUILD"] = str(DEMO_BUILD)
            for name in [k for k in sys.modules if k == "analysis" or k.startswith("analysis.")]:
                del sys.modules[name]
            import pytest

            if quiet:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests])
            os._exit(0 if code == 0 else 1)
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


def explained() -> dict[tuple[str, str, str], str]:
    """The README's tables of equivalent and near-equivalent mutants: (module, where, mutation) -> why.

    Equivalent: no output can change. Near-equivalent: an output can change, but only below what
    any published figure shows, by a measured amount given in the reason."""
    text = (ROOT / "README.md").read_text()
    out = {}
    for title in ("### Equivalent mutants", "### Near-equivalent mutants"):
        part = text.split(title, 1)
        if len(part) < 2:
            continue
        for line in part[1].splitlines()[1:]:
            if line.startswith("#"):
                break
            # cells split on the pipes that are not escaped (a mutation may hold ``|`` written ``\|``)
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]] if line.startswith("|") else []
            if len(cells) >= 4 and cells[0].startswith("`"):
                mod, where, what, why = (c.strip("`") for c in cells[:4])
                out[("src/analysis/" + mod, where, what.replace("\\|", "|"))] = why
    return out


def _quiet(*args, **kwargs) -> None:
    pass


def _shared_demo() -> None:
    """The demo city and panel drawn once by the unmutated code (a subprocess, so this process
    imports no analysis; the recipe is conftest's: its last month and its build_demo_panel)."""
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    subprocess.run([sys.executable, "-c", "import sys, pickle, pathlib; sys.path.insert(0, 'tests'); "
                    "from analysis.data import demo; from conftest import DEMO_LAST_MONTH, build_demo_panel; "
                    "d = pathlib.Path(sys.argv[1]); demo.write_demo_city(d, DEMO_LAST_MONTH); "
                    "pathlib.Path(sys.argv[2]).write_bytes(pickle.dumps(build_demo_panel(d)))",
                    str(DEMO_DIR), str(DEMO_BUILD)], check=True, cwd=ROOT)


def try_one(module: str, where: str, mutation: str, tests: list[str] | None, budget: float) -> int:
    """Apply one mutant, as ``make mutate`` prints it, and run ``tests`` (default: the ones a
    run would choose) with their output shown: does a new test kill this survivor?"""
    found = [m for m in mutants((ROOT / module).read_text()) if (m["where"], m["mutation"]) == (where, mutation)]
    if not found:
        near = [m["mutation"] for m in mutants((ROOT / module).read_text()) if m["where"] == where]
        print(f"{module}: no mutant {mutation!r} in {where!r}; its mutants are:", *near, sep="\n  ", file=sys.stderr)
        return 2
    m = found[0]
    if not tests:
        tests = select_tests(module, m, coverage_map(1, False), budget)
    if not DEMO_BUILD.exists():
        _shared_demo()
    _worker_init()
    assert _WORK is not None
    (_WORK / module).write_text(m["text"])
    try:
        outcome = _child(tests, 600.0, module, quiet=False)
    finally:
        shutil.rmtree(_WORK, ignore_errors=True)
    print(f"{outcome}: line {m['line']} {where}: {mutation} ({len(tests)} test(s))")
    return 0 if outcome in ("killed", "timeout") else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="repo-relative module paths (default: data, impact, evaluation, disclosure)")
    ap.add_argument("--jobs", type=int, default=2, help="workers, each with its own copy of src/ (default 2)")
    ap.add_argument("--max", type=int, default=0, help="at most this many mutants per module (0: all)")
    ap.add_argument("--remap", action="store_true", help="redo the coverage pass even if nothing changed")
    ap.add_argument("--survivors", metavar="JSON", help="run again only the survivors listed in an earlier "
                    "build/mutation.json (tests added since can only kill more); its killed count is carried over")
    ap.add_argument("--budget", type=float, default=BUDGET_SECONDS,
                    help=f"seconds of (coverage-pass) test time per mutant (default {BUDGET_SECONDS:g})")
    ap.add_argument("--out", default=str(BUILD / "mutation.json"))
    ap.add_argument("--try", dest="try_one", nargs=3, metavar=("MODULE", "WHERE", "MUTATION"),
                    help="apply one mutant as a run prints it (module path, function, change) and run the "
                    "tests named after --tests (default: those a run would choose), output shown; "
                    "exit 0 when they kill it")
    ap.add_argument("--tests", nargs="*", default=[], help="with --try: the tests to run (pytest node ids)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    if args.try_one:
        return try_one(*args.try_one, args.tests, args.budget)
    modules = args.modules or DEFAULT_TARGETS
    for mod in modules:
        if not (ROOT / mod).is_file():
            print(f"{mod}: no such module", file=sys.stderr)
            return 2
    cmap = coverage_map(args.jobs, args.remap)
    _shared_demo()
    known = explained()

    import numpy  # noqa: F401  (imported once, shared by every forked child)
    import pandas  # noqa: F401
    import pytest  # noqa: F401
    import scipy.stats  # noqa: F401

    earlier = json.loads(Path(args.survivors).read_text()) if args.survivors else None
    if earlier is not None:
        modules = [m for m in modules if m in earlier]
    tasks = []
    results_pre: dict[str, list[dict]] = {}
    for mod in modules:
        again = {(r["where"], r["mutation"]) for r in earlier[mod]["survivors"]} if earlier is not None else None
        for k, m in enumerate(mutants((ROOT / mod).read_text())):
            if args.max and k >= args.max:
                break
            if again is not None and (m["where"], m["mutation"]) not in again:
                continue
            if (mod, m["where"], m["mutation"]) in known:
                # listed as (near-)equivalent in the README: surviving is what it is expected to
                # do, so it is not run (a listed mutant that no longer exists is simply unused)
                results_pre.setdefault(mod, []).append({"line": m["line"], "where": m["where"],
                                                        "mutation": m["mutation"], "outcome": "explained",
                                                        "seconds": 0.0, "tests": []})
                continue
            tests = select_tests(mod, m, cmap, args.budget)
            base = sum(cmap["seconds"].get(t, 1.0) for t in tests)
            tasks.append((mod, {**m, "module": mod, "tests": tests}, tests, 3 * base + 60))
    # longest first so the two workers finish together
    tasks.sort(key=lambda t: -t[3])
    print(f"{len(tasks)} mutants in {len(modules)} modules, {args.jobs} workers", flush=True)
    t_all = time.time()
    results: dict[str, list[dict]] = {m: list(results_pre.get(m, [])) for m in modules}
    def summarise(final: bool) -> dict:
        """Per module: counts, scores and survivors; printed only at the end (``final``)."""
        show = print if final else _quiet
        report = {}
        for mod in modules:
            rs = sorted(results[mod], key=lambda r: r["line"])
            killed = sum(r["outcome"] in ("killed", "timeout") for r in rs)
            expl = sum(r["outcome"] == "explained" for r in rs)
            # explained ones are kept in the list of survivors, marked as such
            surv = [r for r in rs if r["outcome"] in ("survived", "not covered", "explained")]
            if earlier is not None:  # earlier survivors not run again yet (a stopped run) stay survivors
                done = {(r["where"], r["mutation"]) for r in rs}
                surv += [{**r, "outcome": "not re-run"} for r in earlier[mod]["survivors"]
                         if (r["where"], r["mutation"]) not in done]
            n, secs = len(rs), sum(r["seconds"] for r in rs)
            if earlier is not None:  # the mutants killed earlier are still killed
                n, killed = earlier[mod]["mutants"], killed + earlier[mod]["killed"]
                secs += earlier[mod]["seconds"]
            report[mod] = {"mutants": n, "killed": killed, "explained": expl,
                           "score": round(100 * killed / max(n, 1), 1),
                           "score_with_explained": round(100 * (killed + expl) / max(n, 1), 1),
                           "seconds": round(secs, 1), "survivors": surv}
            show(f"{mod}: {killed}/{n} killed ({report[mod]['score']:.1f} %), {expl} explained, "
                  f"{len(surv) - expl} survive", flush=True)
            for r in (r for r in surv if r["outcome"] != "explained"):
                show(f"  {r['outcome']:<11} line {r['line']:>4} {r['where']}: {r['mutation']}", flush=True)
        return report

    pool = mp.get_context("fork").Pool(args.jobs, initializer=_worker_init)
    try:
        for i, (m, outcome, secs) in enumerate(pool.imap_unordered(_run, tasks), 1):
            mod = m["module"]
            why = known.get((mod, m["where"], m["mutation"]))
            if outcome == "survived" and why:
                outcome = "explained"
            results[mod].append({"line": m["line"], "where": m["where"], "mutation": m["mutation"],
                                 "outcome": outcome, "seconds": round(secs, 1), "tests": m["tests"]})
            if i % 25 == 0:  # a partial summary on disk, usable if the run is stopped
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(json.dumps({"partial": f"{i}/{len(tasks)}", **summarise(False)}, indent=2))
            if i % 50 == 0 or outcome == "survived":
                print(f"  {i}/{len(tasks)} in {time.time() - t_all:.0f} s: {outcome} {mod}:{m['line']} "
                      f"{m['mutation']}", flush=True)
        # second pass: a survivor of the budget runs every test that covers it (a test that
        # kills it may lie beyond the budget when many fast tests cover its line)
        again_tasks = []
        for mod in modules:
            for r in results[mod]:
                if r["outcome"] != "survived":
                    continue
                m = next(x for x in mutants((ROOT / mod).read_text())
                         if (x["where"], x["mutation"]) == (r["where"], r["mutation"]))
                tests = select_tests(mod, m, cmap, SECOND_BUDGET)
                if len(tests) > len(r["tests"]):
                    base = sum(cmap["seconds"].get(t, 1.0) for t in tests)
                    again_tasks.append((mod, {**m, "module": mod, "tests": tests}, tests, 3 * base + 60))
        if again_tasks:
            print(f"second pass: {len(again_tasks)} survivors with every covering test ...", flush=True)
        for m, outcome, secs in pool.imap_unordered(_run, again_tasks):
            r = next(r for r in results[m["module"]] if (r["where"], r["mutation"]) == (m["where"], m["mutation"]))
            r.update(outcome=outcome, seconds=round(r["seconds"] + secs, 1), tests=m["tests"])
            print(f"  second pass: {outcome} {m['module']}:{m['line']} {m['mutation']}", flush=True)
    except KeyboardInterrupt:
        pool.terminate()
        print("interrupted: the source was never touched", file=sys.stderr)
        return 130
    finally:
        pool.close()
        pool.join()

    report = summarise(True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    total = sum(r["mutants"] for r in report.values())
    killed = sum(r["killed"] for r in report.values())
    expl = sum(r["explained"] for r in report.values())
    for label, prefix in (("data", "src/analysis/data/"), ("impact", "src/analysis/impact/"),
                          ("evaluation", "src/analysis/evaluation/")):
        sub = [r for m, r in report.items() if m.startswith(prefix)]
        if sub:
            n, k = sum(r["mutants"] for r in sub), sum(r["killed"] for r in sub)
            print(f"{label}: {k}/{n} killed ({100 * k / max(n, 1):.1f} %)")
    print(f"total: {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %), {expl} explained, "
          f"in {time.time() - t_all:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
