"""The impact core's contracts: the registry, the typed result, aggregation after inference,
and a package without import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import impact
from analysis.impact.inference import KINDS
from analysis.labels import INFERENCE_LABELS

from conftest import ROOT

SRC = ROOT / "src" / "analysis"


def _panel(seed=0, N=30, T=30, cohorts=((10, 3), (16, 3)), effect=0.7, base=4.0):
    """Poisson counts with unit and period effects; cohorts of (start, size); a multiplicative effect."""
    rng = np.random.default_rng(seed)
    start = np.full(N, -1)
    k = 0
    for s, n in cohorts:
        start[k:k + n] = s
        k += n
    mu = base * np.exp(rng.normal(0, 0.3, N))[:, None] * np.exp(0.2 * np.sin(np.arange(T) / 3))[None, :]
    D = (np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    Y = rng.poisson(np.where(D, effect * mu, mu)).astype(float)
    p = pd.DataFrame({"unit": np.repeat([f"U{i:02d}" for i in range(N)], T), "period": np.tile(np.arange(T), N),
                      "y": Y.ravel()})
    p["treat_start"] = np.repeat(np.where(start >= 0, start, np.nan), T)
    return p


# -- the registry ---------------------------------------------------------------------------
def test_every_method_declares_a_supported_default_labels_and_references():
    assert impact.DEFAULT_METHOD in impact.REGISTRY
    for name, m in impact.REGISTRY.items():
        assert m.name == name
        assert m.default_inference in m.inferences and set(m.inferences) <= set(KINDS)
        assert m.references, name
        for lang in ("en", "es"):
            assert m.labels[("en", "es").index(lang)] and m.short[("en", "es").index(lang)], (name, lang)
        assert impact.registry.method_label(name, "es") == m.labels[1] and impact.registry.method_label("xyz") == "xyz"
        assert m.event_scale in ("level", "log")
    assert set(INFERENCE_LABELS) == set(KINDS)


@pytest.mark.parametrize("method", sorted(impact.REGISTRY))
def test_an_unsupported_inference_is_refused_with_the_list_of_supported_ones(method):
    m = impact.get_method(method)
    other = next(k for k in KINDS if k not in m.inferences)
    with pytest.raises(ValueError) as e:
        impact.estimate(_panel(), outcome="y", method=method, inference=other)
    msg = str(e.value)
    assert f"{other!r} is not available for {method}" in msg
    assert all(repr(k) in msg for k in m.inferences) and f"default {m.default_inference!r}" in msg


def test_an_unknown_method_or_option_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'did'; available: ppml, imputation, gardner"):
        impact.estimate(_panel(), outcome="y", method="did")
    with pytest.raises(ValueError, match=r"sdid with placebo inference does not take option\(s\) n_perms; it takes: .*n_placebo"):
        impact.estimate(_panel(), outcome="y", method="sdid", n_perms=10)


# -- the typed result -----------------------------------------------------------------------
def test_the_inference_record_is_filled_for_every_kind():
    """Kind, label, draws and floor come from the inference that ran; treated sector-months from
    the design, whatever the inference (the jackknife once reported 0)."""
    p = _panel()
    n_cells = int(((p.period >= p.treat_start.fillna(np.inf))).sum())
    cases = [("ppml", None, {"n_perm": 39}, "placebo", 39), ("ppml", "randomization", {"n_perm": 19}, "randomization", 19),
             ("imputation", None, {"n_perm": 19}, "randomization", 19), ("sdid", None, {"n_placebo": 9}, "placebo", 9),
             ("sdid", "jackknife", {}, "jackknife", 0), ("twfe", "cluster", {}, "cluster", 0),
             ("twfe", "wild", {"n_boot": 99}, "wild", 99)]
    for method, inference, opts, kind, n in cases:
        r = impact.estimate(p, outcome="y", method=method, inference=inference, **opts)
        assert r.inference.kind == kind and r.inference.n_draws == n, (method, inference)
        assert r.n_treated_periods == n_cells == 6 * 30 - 3 * 10 - 3 * 16, (method, inference)
        assert str(r.inference) == r.inference.label and r.to_frame().inference[0] == r.inference.label
        if kind == "randomization":
            assert r.inference.min_p_value >= 1 / (n + 1) and r.p_value >= r.inference.min_p_value
            assert r.inference.draws is not None and len(r.inference.draws) == n


def test_conf_int_recomputes_the_interval_at_another_level_from_the_kept_draws():
    p = _panel(effect=0.6)
    for method, opts in (("imputation", {"n_perm": 199}), ("ppml", {"n_perm": 199}), ("sdid", {"n_placebo": 30})):
        r = impact.estimate(p, outcome="y", method=method, seed=1, **opts)
        ci = r.conf_int()
        assert list(ci.columns) == ["lower", "upper"] and (ci.loc["att", "lower"], ci.loc["att", "upper"]) == (r.ci_low, r.ci_high)
        c90, c80 = r.conf_int(0.90), r.conf_int(0.80)
        assert r.ci_low <= c90.loc["att", "lower"] <= c80.loc["att", "lower"] and c80.loc["att", "upper"] <= c90.loc["att", "upper"] <= r.ci_high, method
        assert (c80.loc["att", "lower"], c80.loc["att", "upper"]) != (r.ci_low, r.ci_high), method
        # the same interval as a fresh estimate at that level
        again = impact.estimate(p, outcome="y", method=method, seed=1, alpha=0.2, **opts)
        assert (c80.loc["att", "lower"], c80.loc["att", "upper"]) == pytest.approx((again.ci_low, again.ci_high), rel=1e-9), method
    w = impact.estimate(p, outcome="y", method="twfe", inference="wild", n_boot=99)
    with pytest.raises(ValueError, match="wild inference keeps no draws"):
        w.conf_int(0.9)


def test_the_html_repr_shows_the_estimate_and_its_inference():
    r = impact.estimate(_panel(), outcome="y", method="ppml", n_perm=19)
    h = r._repr_html_()
    assert h.startswith("<table>") and "ppml" in h and r.inference.label in h and f"{r.att:.4f}" in h


# -- aggregation after inference --------------------------------------------------------------
def test_aggregations_reconcile_with_the_estimate_and_the_event_study():
    p = _panel(effect=0.6)
    add = impact.estimate(p, outcome="y", method="imputation", n_perm=49, seed=2)
    overall = add.aggregate("overall")
    assert len(overall) == 1 and overall.estimate[0] == pytest.approx(add.att, abs=1e-10)
    assert overall.cells[0] == add.n_treated_periods
    # cohorts and calendar years are a partition: their cell-weighted mean is the overall effect
    for by in ("cohort", "year", "quarter"):
        t = add.aggregate(by)
        assert t.cells.sum() == add.n_treated_periods
        assert np.average(t.estimate, weights=t.cells) == pytest.approx(add.att, abs=1e-10), by
        assert (t.se > 0).all() and (t.ci_low < t.estimate).all() and (t.estimate < t.ci_high).all(), by
    assert list(add.aggregate("cohort").group) == ["10", "16"]
    # by months since the start: the event study's points and spread, from the same cells and draws
    ev = add.aggregate("event").set_index("group")
    es = add.event_study.set_index("rel_period")
    common = es.index.intersection(ev.index)
    assert len(common) == len(es) and ev.estimate[common].to_numpy() == pytest.approx(es.estimate.to_numpy(), abs=1e-10)
    assert ev.se[common].to_numpy() == pytest.approx(es.se.to_numpy(), rel=1e-9)
    # a multiplicative method aggregates on its scale: recorded over expected, in percent
    mult = impact.estimate(p, outcome="y", method="ppml", n_perm=49, seed=2)
    o = mult.aggregate("overall")
    assert o.estimate[0] == pytest.approx(mult.att_percent, rel=1e-9) == pytest.approx(100 * mult.details["effect_ratio"])
    co = mult.aggregate("cohort")
    assert co.observed.sum() == pytest.approx(o.observed[0]) and co.expected.sum() == pytest.approx(o.expected[0])


def test_aggregation_refuses_a_method_without_cells_and_an_unknown_grouping():
    p = _panel()
    with pytest.raises(ValueError, match="keeps no cell-level effects"):
        impact.estimate(p, outcome="y", method="cs", n_perm=9).aggregate("cohort")
    with pytest.raises(ValueError, match="aggregate by one of overall, cohort, event, year, quarter"):
        impact.estimate(p, outcome="y", method="imputation", n_perm=9).aggregate("month")


def test_compare_puts_results_side_by_side():
    p = _panel()
    a = impact.estimate(p, outcome="y", method="imputation", n_perm=19)
    b = impact.estimate(p, outcome="y", method="ppml", n_perm=19)
    t = impact.compare({"additive": a, "poisson": b})
    assert list(t.columns) == ["additive", "poisson"]
    assert t.loc["effect", "additive"] == a.att and t.loc["p_floor", "poisson"] == b.inference.min_p_value


# -- the package: layers and no import cycles -------------------------------------------------
def _modules() -> list[str]:
    return sorted("analysis." + ".".join(f.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
                  for f in SRC.rglob("*.py"))


def _imports(mod: str) -> set[str]:
    """Modules of the package ``mod`` imports anywhere in its file (function bodies included)."""
    rel = mod.removeprefix("analysis.").replace(".", "/")
    path = SRC / (rel + ".py") if (SRC / (rel + ".py")).exists() else SRC / rel / "__init__.py"
    names = _modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("analysis"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in names else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("analysis")}
    return out - {mod}


def test_no_import_cycles_in_the_package():
    """No module reaches itself through the imports of its file (package ``__init__`` files that
    only gather their submodules' names are followed like any module)."""
    graph = {m: _imports(m) & set(_modules()) for m in _modules()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_the_layers_point_one_way():
    """data -> impact -> evaluation -> report: the estimators import neither the data layer, the
    evaluation above them nor the report."""
    for m in _modules():
        deps = _imports(m)
        if m.startswith("analysis.impact"):
            assert not {d for d in deps if d.startswith(("analysis.data", "analysis.report", "analysis.evaluation"))}, m
        if m.startswith("analysis.evaluation"):
            assert not {d for d in deps if d.startswith(("analysis.data", "analysis.report"))}, m


def test_every_module_imports_on_its_own():
    """Each module in a fresh interpreter (an import that works only after another module was
    loaded first is a hidden cycle or a missing import)."""
    code = ("import importlib, subprocess, sys\n"
            "bad = []\n"
            "for m in sys.argv[1:]:\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True)\n"
            "    if r.returncode: bad.append(m + ': ' + r.stderr.strip().splitlines()[-1])\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    mods = [m for m in _modules() if not m.endswith("__main__")]  # running it is the command line
    r = subprocess.run([sys.executable, "-c", code, *mods], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


# -- found in review: ties, floors, options, labels, aggregation order ---------------------------
def test_a_reassignment_that_gives_back_the_observed_calendar_ties_with_it():
    """One treated unit among 6: a sixth of the reassignments give it its own start again and tie
    with the observed statistic; the p-value cannot fall far below 1/6 (PPML's observed statistic
    was computed from another starting point than the draws' and those ties went uncounted:
    p = 0.01). The floor of every method counts the distinct reassignments."""
    p = _panel(N=6, T=30, cohorts=((12, 1),), effect=0.2, base=20)
    for method in ("ppml", "imputation", "twfe"):
        r = impact.estimate(p, outcome="y", method=method, inference="randomization", n_perm=599, seed=1)
        assert r.inference.min_p_value == pytest.approx(1 / 6)
        assert r.p_value > 0.12, (method, r.p_value)


def test_options_an_inference_does_not_read_are_refused_and_synonyms_are_honoured():
    p = _panel()
    assert impact.estimate(p, outcome="y", method="sdid", n_perm=15).inference.n_draws == 15
    assert impact.estimate(p, outcome="y", method="sdid", n_placebo=12).inference.n_draws == 12
    for method, inference, opt in (("ppml", "randomization", {"n_placebo": 9}), ("ppml", None, {"placebo_pool": 3}),
                                   ("sdid", None, {"pool": "comparable"}), ("twfe", "cluster", {"n_perm": 9}),
                                   ("twfe", "wild", {"n_perm": 9})):
        with pytest.raises(ValueError, match=f"with {inference or 'placebo'} inference does not take option"):
            impact.estimate(p, outcome="y", method=method, inference=inference, **opt)
    r = impact.estimate(p, outcome="y", method="imputation", n_perm=19, ci=False)
    assert np.isnan(r.ci_low) and np.isnan(r.ci_high) and 0 < r.p_value <= 1
    with pytest.raises(ValueError, match="ci=False"):
        r.conf_int(0.9)


def test_labels_and_pools_say_where_the_draws_were_taken():
    p = _panel(N=24, cohorts=((10, 3), (16, 3)))
    comp = impact.estimate(p, outcome="y", method="ppml", n_perm=19)
    everyone = impact.estimate(p, outcome="y", method="ppml", n_perm=19, pool="all")
    assert "at least as violent" in comp.inference.label and len(comp.inference.pool) >= 20
    assert "among all 18 never-treated units" in everyone.inference.label and everyone.inference.pool == ()
    # a pool topped up to its minimum size says so: 2 treated units of level 10, 3 units as violent,
    # 17 quieter ones added by level to reach the minimum of 20
    from analysis.impact.inference.randomization import comparable_pool, pool_words

    Y = np.repeat(np.r_[10, 10, 12, 11, 10, np.linspace(9, 1, 25)][:, None], 6, axis=1)
    start = np.r_[3, 3, np.full(28, -1)]
    words = pool_words(Y, start, comparable_pool(Y, start))
    assert words == ("the 20 units most violent before the start (5 at least as violent as the least violent "
                     "treated unit, 15 more added to reach 20)")


def test_aggregate_orders_groups_in_time_for_every_kind_of_period():
    p = _panel(T=40, cohorts=((4, 3), (10, 3)))
    r = impact.estimate(p, outcome="y", method="imputation", n_perm=19)
    q = r.aggregate("quarter")
    assert list(q.group) == sorted(q.group, key=int) and list(r.aggregate("cohort").group) == ["4", "10"]
    # monthly timestamps
    months = pd.date_range("2019-01-01", periods=40, freq="MS")
    ts = p.assign(period=months[p.period.to_numpy()],
                  treat_start=p.treat_start.map(lambda s: months[int(s)] if s == s else pd.NaT))
    y = impact.estimate(ts, outcome="y", method="imputation", n_perm=19).aggregate("year")
    assert list(y.group) == ["2019", "2020", "2021", "2022"][: len(y)] and y.cells.sum() == r.n_treated_periods
    # without an event window the cells of the draws are still kept
    nw = impact.estimate(p, outcome="y", method="imputation", n_perm=19, event_window=None).aggregate("cohort")
    assert (nw.se > 0).all()


def test_compare_keeps_every_result_of_a_list():
    p = _panel()
    a = impact.estimate(p, outcome="y", method="ppml", n_perm=19)
    b = impact.estimate(p, outcome="y", method="ppml", inference="randomization", n_perm=19)
    c = impact.estimate(p, outcome="y", method="ppml", n_perm=39)
    t = impact.compare([a, b, c])
    assert list(t.columns) == ["ppml: y (placebo)", "ppml: y (randomization)", "ppml: y (placebo) #2"]


def test_aggregate_by_event_is_the_event_study_on_its_own_scale_with_its_interval():
    """For the multiplicative method the aggregation runs on the log scale and is shown in percent:
    by months since the start it is the event study itself, point, spread and interval."""
    p = _panel(effect=0.6)
    r = impact.estimate(p, outcome="y", method="ppml", n_perm=49, seed=2)
    ev = r.aggregate("event").set_index("group")
    es = r.event_study.set_index("rel_period")
    ev = ev.loc[es.index]
    for col in ("estimate", "se", "ci_low", "ci_high"):
        assert ev[col].to_numpy() == pytest.approx(es[col].to_numpy(), rel=1e-9, abs=1e-12), col
    assert (ev.ci_low < ev.estimate).all() and (ev.estimate < ev.ci_high).all()
    assert ev.percent.to_numpy() == pytest.approx(100 * (ev.observed / ev.expected - 1).to_numpy())


def test_for_unit_keeps_the_unit_and_the_never_treated_units():
    p = _panel()
    one = impact.for_unit(p, "U01")
    assert set(one.unit) == {"U01"} | set(p.unit[p.treat_start.isna()])
    assert one.treat_start.notna().groupby(one.unit).all().sum() == 1
    with pytest.raises(ValueError, match="unit 'nope' is not in the panel"):
        impact.for_unit(p, "nope")
