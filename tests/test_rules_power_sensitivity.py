"""Rules of power, sensitivity, calibration and spillover that decide a published number (issue 14).

Companion of test_rules_impact.py: the planning table's minimum detectable effects
(``analysis.evaluation.power``), the relative-magnitudes table (``analysis.evaluation.sensitivity``), the
placebo calibration (``analysis.evaluation.calibration``) and the neighbours' estimate
(``analysis.evaluation.spillover``). Each test names the rule it guards, on a tiny input; the
estimators are replaced by fakes where the rule is about the design around them.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_rules_impact import _null_panel  # the constant panel the calibration rules use


# -- power: the minimum detectable effect read off the curve -------------------------------------
def _power_result(effects, power, target=0.8):
    from analysis.evaluation.power import PowerResult

    curve = pd.DataFrame({"effect": effects, "power": power})
    return PowerResult(curve=curve, n_treated=3, follow_up=12, n_sims=60, target=target)


def test_rule_mde_interpolates_power_linearly_between_the_grid_effects_around_the_target():
    """The MDE is the effect at which the power curve (walked from 0 towards larger reductions)
    first reaches the target, linear between grid points; a grid point exactly at the target is
    the MDE itself (power is a share of runs, so 48/60 = 0.8 happens); a curve that starts at or
    above the target gives its first effect; one that never reaches it gives NaN ("more than 60%")."""
    # 0.8 is reached exactly at the last grid point: that point is the MDE, not "never reached"
    assert _power_result([0.0, -0.1, -0.2], [0.05, 0.5, 48 / 60]).mde == pytest.approx(-0.2)
    # between -0.1 (power 0.5) and -0.2 (power 0.9): -0.1 + (0.8 - 0.5) / (0.9 - 0.5) * -0.1
    assert _power_result([0.0, -0.1, -0.2], [0.05, 0.5, 0.9]).mde == pytest.approx(-0.175)
    # the curve is read in order of effect, whatever the row order
    assert _power_result([-0.2, 0.0, -0.1], [0.9, 0.05, 0.5]).mde == pytest.approx(-0.175)
    # the first grid point already reaches the target: it is the MDE (no interpolation)
    assert _power_result([0.0, -0.1, -0.2], [0.85, 0.9, 1.0]).mde == 0.0
    assert _power_result([-0.05, -0.1, -0.2], [0.85, 0.9, 1.0]).mde == pytest.approx(-0.05)
    # the second point is the first to reach it: interpolate from the first, (0.8-0.3)/(0.9-0.3) of the way
    assert _power_result([-0.05, -0.1, -0.2], [0.3, 0.9, 1.0]).mde == pytest.approx(-0.05 - 0.05 * 5 / 6)
    assert np.isnan(_power_result([0.0, -0.1, -0.2], [0.05, 0.5, 0.79]).mde)


# -- power: the simulation itself ----------------------------------------------------------------
def _poisson_panel(n_units=6, n_periods=10, rate=4.0, seed=0):
    rng = np.random.default_rng(seed)
    units = [f"U{i}" for i in range(n_units)]
    periods = pd.period_range("2020-01", periods=n_periods, freq="M")
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = rng.poisson(rate, len(p)).astype(float)
    return p


def _record_assignments(monkeypatch):
    """Record every assignment (start vector) power_curve turns into a treatment matrix: per run,
    the drawn one first, then its reassignments."""
    import analysis.evaluation.power as power

    seen = []
    orig = power._assignments

    def recording(rng, start, n_perm):
        out = orig(rng, start, n_perm)
        seen.extend(np.array(s, copy=True) for s in out)
        return out

    monkeypatch.setattr(power, "_assignments", recording)
    return seen


def _imputation_stat(Y, D):
    """Mean over the treated cells of Y minus a_i + b_t fitted by least squares on the untreated cells."""
    N, T = Y.shape
    i, t = np.nonzero(~D)
    X = np.zeros((len(i), N + T))
    X[np.arange(len(i)), i] = 1.0
    X[np.arange(len(i)), N + t] = 1.0
    coef = np.linalg.lstsq(X, Y[i, t], rcond=None)[0]
    fitted = coef[:N, None] + coef[None, N:]
    return float((Y - fitted)[D].mean())


def _brute_force_power(Y, starts, n_perm, effects, alpha, follow_up):
    """The design of the module docstring run the long way: for each run and each effect, multiply
    the treated sectors' post-start counts by (1 + effect), put every sector on the scale of its own
    mean before the start (1 when that mean is 0), and run the randomization test on the imputation
    statistic; power = share of runs whose test rejects with the effect's sign."""
    N, T = Y.shape
    k = T - follow_up
    hits = np.zeros(len(effects))
    runs = len(starts) // (n_perm + 1)
    for r in range(runs):
        block = starts[r * (n_perm + 1): (r + 1) * (n_perm + 1)]
        mats = [(np.arange(T)[None, :] >= s[:, None]) & (s[:, None] >= 0) for s in block]
        D, perms = mats[0], mats[1:]
        for j, e in enumerate(effects):
            Ye = Y * np.where(D, 1 + e, 1.0)
            pre = Ye[:, :k].mean(1)
            Ye = Ye / np.where(pre > 0, pre, 1.0)[:, None]
            obs = _imputation_stat(Ye, D)
            stats = np.array([_imputation_stat(Ye, Dp) for Dp in perms])
            p = (1 + np.sum(np.abs(stats) >= abs(obs) - 1e-9)) / (n_perm + 1)
            hits[j] += p <= alpha and (np.sign(obs) == np.sign(e) or e == 0)
    return hits / runs


def test_rule_power_is_the_randomization_test_rerun_with_the_effect_injected_into_the_counts(monkeypatch):
    """The one-pass curve (statistic a + e c for every reassignment) must equal what injecting each
    effect into the counts and re-running the test gives: the right sign of the injected effect
    in the reassignments, the p-value with its +1, the sign rule (at effect 0 any rejection counts)."""
    from analysis.evaluation.power import power_curve

    panel = _poisson_panel()
    seen = _record_assignments(monkeypatch)
    effects = (0.0, -0.2, -0.5, -0.8, 0.5)
    res = power_curve(panel, outcome="y", n_treated=2, follow_up=4, effects=effects, n_sims=20, n_perm=19,
                      alpha=0.25, seed=1)
    assert len(seen) == 20 * (1 + 19)
    Y = panel.pivot(index="unit", columns="period", values="y").to_numpy(float)
    expected = _brute_force_power(Y, seen, 19, effects, 0.25, follow_up=4)
    assert list(res.curve.effect) == list(effects)
    assert np.allclose(res.curve.power, expected, atol=1e-12), (list(res.curve.power), list(expected))
    assert res.curve.power.iloc[0] > 0  # some rejections at effect 0: the sign rule is exercised there


def test_rule_power_a_sector_with_no_event_before_the_start_keeps_its_counts(monkeypatch):
    """Each sector is put on the scale of its mean before the start; a sector with none then is
    divided by 1 (not by 0, which would turn its counts into NaN and inf and break every run)."""
    from analysis.evaluation.power import power_curve

    panel = _poisson_panel(seed=3)
    panel.loc[(panel.unit == "U5") & (panel.period < pd.Period("2020-07", "M")), "y"] = 0.0
    seen = _record_assignments(monkeypatch)
    effects = (0.0, -0.5, -0.9)
    with np.errstate(divide="raise", invalid="raise"):  # no division by a zero mean, anywhere
        res = power_curve(panel, outcome="y", n_treated=2, follow_up=4, effects=effects, n_sims=3, n_perm=9,
                          alpha=0.3, seed=2)
    Y = panel.pivot(index="unit", columns="period", values="y").to_numpy(float)
    assert np.allclose(res.curve.power, _brute_force_power(Y, seen, 9, effects, 0.3, follow_up=4), atol=1e-12)


def test_rule_power_counts_tied_reassignments_so_identical_sectors_show_nothing():
    """A reassignment whose statistic equals the observed one reaches it (the p-value counts ties).
    When every sector has the same counts every month, every reassignment gives the same estimate
    as the drawn one, so the 5 % test never rejects and the power at no effect is 0, not 1."""
    from analysis.evaluation.power import power_curve

    panel = _poisson_panel().assign(y=3.0)
    res = power_curve(panel, outcome="y", n_treated=2, follow_up=4, effects=(0.0,), n_sims=5, n_perm=19, seed=0)
    assert res.curve.power.tolist() == [0.0]


def test_rule_power_defaults_are_the_planning_tables(monkeypatch):
    """The planning table calls power_curve with its defaults: effects from 0 to -60 % in steps of
    5 points (NaN means "more than 60%"), 99 reassignments per run (p-values in hundredths), a
    5 % test and a target of 80 % power."""
    from analysis.evaluation.power import power_curve

    seen = _record_assignments(monkeypatch)
    res = power_curve(_poisson_panel(), outcome="y", n_treated=2, follow_up=4, n_sims=1, seed=0)
    assert np.allclose(res.curve.effect, -0.05 * np.arange(13)) and len(res.curve) == 13
    assert len(seen) == 1 + 99
    assert res.target == 0.8


@pytest.mark.parametrize("follow_up,ok", [(0, False), (1, True), (7, True), (8, False), (10, False)])
def test_rule_power_follow_up_leaves_at_least_three_months_before_the_start(follow_up, ok):
    """With T = 10 months, 1 to 7 months of follow-up are allowed (at least 3 months before the
    common start to fit the sectors' levels and put each on its own scale); 0 and 8+ are refused."""
    from analysis.evaluation.power import power_curve

    kw = dict(outcome="y", n_treated=2, follow_up=follow_up, effects=(0.0,), n_sims=1, n_perm=1)
    if ok:
        assert len(power_curve(_poisson_panel(), **kw).curve) == 1
    else:
        with pytest.raises(ValueError, match="follow_up must leave pre-period months"):
            power_curve(_poisson_panel(), **kw)


@pytest.mark.parametrize("n_treated,ok", [(0, False), (1, True), (5, True), (6, False)])
def test_rule_power_treats_between_one_sector_and_all_but_one(n_treated, ok):
    """Of N = 6 sectors, 1 to 5 can be treated: none gives no test, all leaves no comparison."""
    from analysis.evaluation.power import power_curve

    kw = dict(outcome="y", n_treated=n_treated, follow_up=4, effects=(0.0,), n_sims=1, n_perm=1)
    if ok:
        assert len(power_curve(_poisson_panel(), **kw).curve) == 1
    else:
        with pytest.raises(ValueError, match="n_treated must be between 1 and 5"):
            power_curve(_poisson_panel(), **kw)


def test_rule_power_refuses_a_panel_with_one_missing_sector_month():
    """A single missing row (one sector, one month) makes the panel unbalanced: refused."""
    from analysis.evaluation.power import power_curve

    panel = _poisson_panel().drop(index=[13])
    with pytest.raises(ValueError, match="not balanced"):
        power_curve(panel, outcome="y", n_treated=2, follow_up=4, effects=(0.0,), n_sims=1, n_perm=1)


# -- sensitivity: the quarterly event study and the relative-magnitudes table --------------------
def _event_result(means, months_missing_in_draws=(), months_missing_in_estimates=(), n_draws=300):
    """A fake imputation result: monthly estimates constant within each quarter (``means`` maps a
    quarter to its value) and draws of unit covariance around zero."""
    rels = [m for q in means for m in range(3 * q, 3 * q + 3)]
    est = [means[m // 3] for m in rels]
    es_rels = [m for m in rels if m not in months_missing_in_estimates]
    dr_rels = [m for m in rels if m not in months_missing_in_draws]
    draws = np.random.default_rng(0).normal(size=(n_draws, len(dr_rels)))
    return SimpleNamespace(
        method="imputation",
        event_study=pd.DataFrame({"rel_period": es_rels, "estimate": [e for m, e in zip(rels, est) if m in es_rels]}),
        event_draws=draws, event_rels=np.array(dr_rels), event_scale="level",
        inference=SimpleNamespace(kind="randomization"),
    )


@pytest.mark.parametrize("where", ["draws", "estimates"])
def test_rule_a_quarter_needs_all_three_months_in_both_the_estimates_and_the_draws(where):
    """A month present in the event study but not in the draws (or the reverse) leaves its quarter
    incomplete: refused with a message, not averaged over what is there."""
    from analysis.evaluation.sensitivity import quarterly_event_study

    means = {-3: 1.0, -2: 4.0, -1: 2.0, 0: 0.5}
    quarterly_event_study(_event_result(means), 3, 1)  # complete: fine
    kw = {"months_missing_in_draws": (1,)} if where == "draws" else {"months_missing_in_estimates": (1,)}
    with pytest.raises(ValueError, match="lacks months 0..2 for quarter 0"):
        quarterly_event_study(_event_result(means, **kw), 3, 1)


def test_rule_relative_magnitudes_largest_pre_change_and_column_order():
    """Quarters -3, -2, -1 at 1, 4, 2 are -1, 2, 0 against the reference quarter -1: the
    quarter-to-quarter changes before the start are 3 and 2, the largest is 3. The table's columns
    are in the documented order, the one the report's empty table and sensitivity.csv use."""
    from analysis.evaluation.sensitivity import relative_magnitudes
    from analysis.report.content import SENSITIVITY_COLUMNS

    t = relative_magnitudes(_event_result({-3: 1.0, -2: 4.0, -1: 2.0, 0: 0.5}), mbar=(1.0,), pre_quarters=3,
                            post_quarters=1)
    assert t.attrs["largest_pre_change"] == pytest.approx(3.0)
    assert t.estimate[0] == pytest.approx(0.5 - 2.0)
    assert list(t.columns) == SENSITIVITY_COLUMNS == ["mbar", "estimate", "set_low", "set_high", "ci_low", "ci_high"]


# -- calibration: the placebo runs' seeds and label ----------------------------------------------


def test_rule_calibration_runs_each_get_their_own_seed(monkeypatch):
    """Each placebo run hands the estimator a fresh seed, so no two runs share their permutation or
    placebo draws (shared draws would make the runs dependent and the rejection rate noisier)."""
    import analysis.impact as impact
    from analysis.evaluation.calibration import placebo_size

    seeds = []
    monkeypatch.setattr(impact, "infer",
                        lambda d, **kw: seeds.append(kw["seed"]) or (None, SimpleNamespace(p_value=0.5, record=SimpleNamespace(label="x"))))
    placebo_size(_null_panel(), outcome="y", method="ppml", n_runs=60, seed=4)
    assert len(set(seeds)) == 60 and min(seeds) >= 0


def test_rule_calibration_is_labelled_with_the_inference_the_estimator_used(monkeypatch):
    """With no inference asked, the estimator picks its default; the check is labelled with that
    name (what the report's calibration table shows), not with "None"."""
    import analysis.impact as impact
    from analysis.evaluation.calibration import placebo_size

    monkeypatch.setattr(impact, "infer", lambda d, **kw: (None, SimpleNamespace(p_value=0.5, record=SimpleNamespace(label="placebo"))))
    assert placebo_size(_null_panel(), outcome="y", method="ppml", n_runs=3).inference == "placebo"
    chk = placebo_size(_null_panel(), outcome="y", method="ppml", inference="randomization", n_runs=0)
    assert chk.inference == "randomization"  # no run: the asked-for name


# -- spillover: which inference the neighbours' estimate gets ------------------------------------
def _spill_panel():
    units = ["A", "B", "C", "D", "E"]
    periods = pd.period_range("2020-01", periods=8, freq="M")
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = 1.0
    p["treat_start"] = pd.Series([periods[4] if u == "A" else pd.NaT for u in p.unit], dtype="period[M]")
    adjacency = pd.DataFrame({"sector": ["A", "B"], "neighbour": ["B", "A"]})
    return p, adjacency


@pytest.mark.parametrize("method,options,expected", [
    ("ppml", {}, "randomization"),            # PPML's default placebo calendars lack never-exposed units
    ("ppml", {"inference": "placebo"}, "placebo"),  # an inference the caller asked for is kept
    ("twfe", {}, None),                       # other methods keep their own default
])
def test_rule_spillover_gives_the_neighbours_exact_reassignment_only_for_ppml_by_default(monkeypatch, method,
                                                                                          options, expected):
    import analysis.impact as impact
    from analysis.evaluation.spillover import spillover

    calls = []
    monkeypatch.setattr(impact, "estimate", lambda p, **kw: calls.append(kw) or SimpleNamespace(notes=[]))
    panel, adjacency = _spill_panel()
    s = spillover(panel, adjacency, outcome="y", method=method, **options)
    assert s.exposed_units == ["B"]
    main, exposed = calls
    assert main.get("inference") == options.get("inference")
    assert exposed.get("inference") == expected


def _ring_panel(n_treated, n_touching, n_far, seed=0):
    """Counts for ``n_treated`` program units starting in month 12 of 24, ``n_touching``
    never-treated units that touch the first program unit and ``n_far`` that touch none."""
    rng = np.random.default_rng(seed)
    units = [f"T{i}" for i in range(n_treated)] + [f"N{i}" for i in range(n_touching)] + [f"F{i}" for i in range(n_far)]
    periods = pd.period_range("2020-01", periods=24, freq="M")
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = rng.poisson(8.0, len(p)).astype(float)
    p["treat_start"] = pd.Series([periods[12] if u.startswith("T") else pd.NaT for u in p.unit], dtype="period[M]")
    pairs = [("T0", f"N{i}") for i in range(n_touching)]
    adjacency = pd.DataFrame(pairs + [(b, a) for a, b in pairs], columns=["sector", "neighbour"])
    return p, adjacency


def test_rule_spillover_falls_back_to_the_exact_test_when_too_few_sectors_are_left_for_placebos():
    """15 treated sectors of 72 left 9 comparable ones once their neighbours were set aside, and
    the build stopped (PoolTooSmall). The main effect then takes the exact reassignment test, the
    note says why (in the report too), and the neighbours' estimate is unchanged."""
    from analysis.evaluation.spillover import spillover
    from analysis.report import content

    panel, adjacency = _ring_panel(n_treated=6, n_touching=10, n_far=4)
    s = spillover(panel, adjacency, outcome="y", n_perm=99, seed=1)
    assert s.notes == {"main": "randomization"}
    assert s.main.inference.kind == "randomization" and s.main.n_control == 4
    assert s.exposed.inference.kind == "randomization" and s.exposed.n_treated == 10
    frame = s.to_frame()
    assert list(frame.note) == ["randomization", ""] and frame.att_percent.notna().all()
    text = content.spillover_text(s)
    assert "no placebo calendar can be drawn" in text and "6 sectors" in text
    # an inference the caller chose is not replaced
    from analysis.impact.inference.placebo import PoolTooSmall

    with pytest.raises(PoolTooSmall):
        spillover(panel, adjacency, outcome="y", n_perm=99, inference="placebo")
    # enough sectors left: the method's own placebo inference, no note
    panel, adjacency = _ring_panel(n_treated=2, n_touching=3, n_far=20)
    s = spillover(panel, adjacency, outcome="y", n_perm=99, seed=1)
    assert s.notes == {} and s.main.inference.kind == "placebo"


@pytest.mark.parametrize("n_touching,n_far,code", [(0, 8, "no-neighbours"), (8, 0, "no-comparison")])
def test_rule_spillover_without_neighbours_or_without_comparisons_says_so(tmp_path, n_touching, n_far, code):
    """No sector touches the program, or every sector outside it does: nothing can be estimated.
    That used to raise in the checks notebook; now both groups are None, the table has a row per
    group with its note and no number, the report and the brief say why, and the disclosure
    check passes over the empty rows."""
    from analysis.evaluation.spillover import spillover
    from analysis.report import brief, content

    panel, adjacency = _ring_panel(n_treated=2, n_touching=n_touching, n_far=n_far)
    s = spillover(panel, adjacency, outcome="y", n_perm=99)
    assert s.main is None and s.exposed is None and s.notes == {"main": code, "exposed": code}
    assert content.spillover_table(s) is None
    text = content.spillover_text(s)
    assert text == content.spillover_note(code) and ("no neighbour" in text or "none is left" in text)
    frame = s.to_frame()
    assert list(frame.note) == [code, code] and len(frame) == 2
    frame.to_csv(tmp_path / "spillover.csv", index=False)
    lines = brief.spillover_lines(tmp_path)
    assert lines == [f"**Displacement:** {content.spillover_note(code)}"]


def test_the_72_sector_demo_city_with_15_treated_sectors_gets_its_neighbour_check(tmp_path):
    """The input that stopped the build (issue 12): the demo city with 12 expansion sectors.
    Its 15 program sectors have 48 neighbours, leaving 9 comparable sectors for the placebos."""
    from analysis.data import demo
    from analysis.data.panel import build_panel
    from analysis.evaluation.spillover import spillover
    from analysis.report import content

    raw = tmp_path / "raw"
    demo.write_demo_city(raw, "2025-12", demo.DemoDesign(n_expansion=12))
    b = build_panel([raw / "incidents" / "victimas_fgj_demo.csv"], raw / "geography" / "sectores_demo.geojson",
                    raw / "program" / "rollout.csv", last_month="2025-12")
    panel = b.panel
    assert panel.drop_duplicates("unit").treat_start.notna().sum() == 15 and panel.unit.nunique() == 72
    s = spillover(panel, b.adjacency, outcome="shootings", n_perm=19, seed=0)
    assert s.notes == {"main": "randomization"} and s.main.n_treated == 15
    assert np.isfinite(s.main.ci_percent).all() and -60 < s.main.att_percent < 0
    assert "15 sectors" in content.spillover_text(s)


def test_rule_calibration_reruns_from_its_seed_draw_for_draw(monkeypatch):
    """A calibration published in an earlier quarter is re-run from its seed: run r draws, from
    one ``default_rng(seed)`` stream and in this order, its sectors, its start and its estimator's
    seed (below 2**31, a 32-bit signed int that every backend accepts). A change to the stream
    (another bound, another order) moves every published rejection rate, so it must be deliberate."""
    import analysis.impact as impact
    from analysis.evaluation.calibration import placebo_size

    calls = []

    def fake(d, **kw):
        rows = np.flatnonzero(d.start >= 0)
        calls.append((sorted(d.units[rows]), d.times[d.start[rows[0]]], kw["seed"]))
        return None, SimpleNamespace(p_value=0.5, record=SimpleNamespace(label="x"))

    monkeypatch.setattr(impact, "infer", fake)
    panel = _null_panel()
    placebo_size(panel, outcome="y", method="ppml", n_runs=40, seed=11)
    units = np.sort(panel.unit.unique())
    times = pd.period_range("2018-01", periods=20, freq="M")
    rng = np.random.default_rng(11)
    expected = []
    for _ in range(40):
        chosen = sorted(rng.choice(units, size=3, replace=False))
        k = int(rng.integers(6, 20 - 3 + 1))
        expected.append((chosen, times[k], int(rng.integers(2**31))))
    assert calls == expected
