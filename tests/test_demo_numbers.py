"""The numbers each method gives on the demo city stay the numbers it gave (a regression guard).

Rule: the demo report's numbers never move unless an issue asks for it (developers' guide).
The validation tests say each estimator is right on average; these say a refactor or a one-token
slip did not change what it returns on one fixed panel and seed: point estimate, interval,
p-value, the counts behind them and the whole event study. When a change is meant to move them,
rerun with ``ALTO_UPDATE_DEMO_NUMBERS=1`` and say in the commit which numbers moved and why.
"""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest

from analysis import impact

from conftest import ROOT

GOLDEN = ROOT / "tests" / "fixtures" / "demo_numbers.json"
UPDATE = os.environ.get("ALTO_UPDATE_DEMO_NUMBERS") == "1"

#: name -> (method, inference, options): every method and inference the report or a notebook uses
CASES = {
    "ppml": ("ppml", None, {}),
    "ppml-randomization": ("ppml", "randomization", {"n_perm": 99}),
    "imputation": ("imputation", None, {"n_perm": 99}),
    "cs": ("cs", None, {"n_perm": 49}),
    "sa": ("sa", None, {"n_perm": 49}),
    "twfe": ("twfe", None, {"n_perm": 49}),
    "twfe-cluster": ("twfe", "cluster", {}),
    "twfe-many-draws": ("twfe", None, {"n_perm": 219}),  # the event study's spread uses at most 199
    "twfe-wild": ("twfe", "wild", {"n_boot": 999}),
    "sdid": ("sdid", None, {"n_placebo": 20}),
    "sc": ("sc", None, {"n_placebo": 10}),
}


def _numbers(res) -> dict:
    out = {k: getattr(res, k) for k in ("att", "se", "ci_low", "ci_high", "p_value", "treated_mean", "n_treated",
                                        "n_control", "n_pre", "n_post")}
    out["percent"] = res.att_percent
    out["n_treated_periods"] = res.n_treated_periods
    # the typed fields that replaced the old ``extra`` dict, under the names the stored numbers use
    extra = {"min_p_value": res.inference.min_p_value, "n_draws": res.inference.n_draws,
             "n_treated_periods": res.n_treated_periods}
    if res.method == "ppml":
        extra.update(effect_ratio=res.details["effect_ratio"], event_scale=res.event_scale)
    out["extra"] = extra
    out["ci_percent"] = list(res.ci_percent)
    out["inference"] = res.inference.label
    es = res.event_study
    if len(es):
        out["event_study"] = {c: [float(v) for v in es[c]] for c in es.columns if pd.api.types.is_numeric_dtype(es[c])}
    cf = res.counterfactual
    if len(cf):
        out["counterfactual_sums"] = {c: float(cf[c].sum()) for c in cf.columns if pd.api.types.is_numeric_dtype(cf[c])}
    return json.loads(json.dumps(out, default=float))


def _same(a, b, path="") -> list[str]:
    """Differences between two nested structures (floats to 1e-9 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in
                (_same(a.get(k), b.get(k), f"{path}.{k}") if k in a and k in b else [f"{path}.{k}: only in one"])]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} values, expected {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return [] if a is b else [f"{path}: {a} != {b}"]
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _check(name: str, got: dict) -> None:
    stored = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if UPDATE:
        stored[name] = json.loads(json.dumps(got))
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        return
    assert name in stored, f"no stored numbers for {name}: run with ALTO_UPDATE_DEMO_NUMBERS=1"
    diffs = _same(json.loads(json.dumps(got)), stored[name], name)
    assert not diffs, "the demo numbers moved (if intended: ALTO_UPDATE_DEMO_NUMBERS=1, and say so):\n" + "\n".join(diffs[:12])


@pytest.mark.parametrize("name", list(CASES))
def test_rule_each_method_gives_the_demo_numbers_it_gave(name, demo_panel):
    method, inference, opts = CASES[name]
    res = impact.estimate(demo_panel, outcome="shootings", method=method, inference=inference, seed=3, **opts)
    _check(name, _numbers(res))


def test_rule_power_gives_the_demo_numbers_it_gave(demo_panel):
    from analysis.evaluation.power import power_curve

    never = demo_panel[demo_panel.treat_start.isna()]
    pw = power_curve(never, outcome="shootings", n_treated=8, follow_up=12, effects=(0.0, -0.3, -0.5), n_sims=12,
                     n_perm=19, seed=3)
    _check("power", {"curve": {c: [float(v) for v in pw.curve[c]] for c in pw.curve.columns}, "mde": float(pw.mde)})


def test_rule_sensitivity_gives_the_demo_numbers_it_gave(demo_panel):
    from analysis.evaluation.sensitivity import relative_magnitudes

    head = impact.estimate(demo_panel, outcome="shootings", method="ppml", seed=3)
    rm = relative_magnitudes(head, mbar=(0.0, 1.0), pre_quarters=2, post_quarters=2)
    got = {c: [float(v) for v in rm[c]] for c in rm.select_dtypes("number").columns}
    # the breakdown Mbar and the ordinary interval are published beside the table
    got["attrs"] = {k: rm.attrs[k] for k in ("breakdown", "estimate", "original_ci", "largest_pre_change", "scale")}
    _check("sensitivity", json.loads(json.dumps(got, default=float)))


def test_rule_spillover_gives_the_demo_numbers_it_gave(demo_panel, demo_build):
    from analysis.evaluation.spillover import spillover

    sp = spillover(demo_panel, demo_build.adjacency, outcome="shootings", n_perm=49, seed=3)
    _check("spillover", {"main": _numbers(sp.main), "exposed": _numbers(sp.exposed),
                         "exposed_units": [str(u) for u in sp.exposed_units],
                         "excluded_controls": [str(u) for u in sp.excluded_controls]})

