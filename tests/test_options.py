"""Run defaults live in one place (``analysis.options.RunOptions``): the command line builds its
options from it, the build passes them to the notebooks and the manifest, and the notebooks'
parameters cells (literals, as Papermill needs) repeat them."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields

import pytest

from analysis.options import NOTEBOOK_OPTIONS, RunOptions

from conftest import ROOT


def _parameters(notebook: str) -> dict:
    text = (ROOT / "notebooks" / f"{notebook}.py").read_text()
    cell = re.search(r'# %% tags=\["parameters"\][^\n]*\n(.*?)\n# %%', text, re.S)
    assert cell, f"{notebook}.py has no parameters cell"
    values: dict = {}
    exec(cell.group(1), {}, values)
    return values


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_OPTIONS))
def test_notebook_parameters_repeat_the_run_defaults(notebook):
    got = _parameters(notebook)
    want = RunOptions().notebook_parameters(notebook)
    assert {k: got.get(k) for k in want} == want
    # every draw count a notebook takes is one of the run's options (none defined only there)
    assert {k for k in got if k.startswith("n_")} == {k for k in NOTEBOOK_OPTIONS[notebook] if k.startswith("n_")}


def test_the_command_line_offers_every_run_option_with_its_default_and_help():
    out = subprocess.run([sys.executable, "-m", "analysis", "report", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    flat = " ".join(out.split())
    for f in fields(RunOptions):
        assert f"--{f.name.replace('_', '-')}" in out
        assert " ".join(f.metadata["help"].split()) in flat
        if f.default is not None:
            assert f"(default: {f.default})" in flat


def test_build_parameters_come_from_the_run_options():
    o = RunOptions(n_perm=7, n_placebo=3, n_calibration=2, n_power=1, seed=5, method="imputation")
    assert o.notebook_parameters("program") == {"seed": 5, "method": "imputation", "n_perm": 7, "n_placebo": 3}
    assert o.notebook_parameters("checks") == {"seed": 5, "method": "imputation", "n_perm": 7, "n_calibration": 2,
                                               "n_power": 1}
    assert o.notebook_parameters("sectors") == {"seed": 5}
    assert o.notebook_parameters("sector") == {"seed": 5, "method": "imputation", "n_perm": 7}


def test_the_headline_method_has_one_default():
    from analysis.impact.registry import DEFAULT_METHOD

    assert RunOptions().method == DEFAULT_METHOD
    for notebook in ("program", "checks", "sector"):
        assert _parameters(notebook)["method"] == DEFAULT_METHOD
