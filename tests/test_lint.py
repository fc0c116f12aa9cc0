"""Lint, format and types are part of `make test`: ruff (lint on the code, tests, tools and
notebooks; format on src/analysis) and mypy on src/analysis, all clean, with the configuration in
pyproject.toml. A `noqa` no configured rule reads fails too (RUF100)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

LINTED = ["src", "tests", "tools", "benchmarks", "notebooks"]


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' (make setup) installs it")
    return exe


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean():
    r = _run([_tool("ruff"), "check", "--output-format", "concise", *LINTED])
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_is_clean():
    r = _run([_tool("ruff"), "format", "--check", "src/analysis"])
    assert r.returncode == 0, "run `ruff format src/analysis`:\n" + r.stdout + r.stderr


def test_mypy_is_clean():
    r = _run([sys.executable, "-m", "mypy"])
    assert r.returncode == 0, r.stdout + r.stderr
