"""Rules of the impact layer that decide a published number, one small input per rule (issue 14).

Companion of test_rules.py: each test names the rule it guards and is built so that breaking
that rule, and only it, fails it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest


# -- calibration: the placebo design and the rejection rate -------------------------------------
def _null_panel(n_units=12, n_periods=20):
    units = [f"U{i:02d}" for i in range(n_units)]
    periods = pd.period_range("2018-01", periods=n_periods, freq="M")
    idx = pd.MultiIndex.from_product([units, periods], names=["unit", "period"])
    return pd.DataFrame({"y": 1.0}, index=idx).reset_index()


def _starts(design) -> pd.Series:
    """A design's treated units and their first treated periods (what a run's panel said)."""
    rows = np.flatnonzero(design.start >= 0)
    return pd.Series([design.times[design.start[i]] for i in rows], index=design.units[rows])


def test_rule_calibration_gives_three_sectors_a_start_with_six_months_before_and_three_after(monkeypatch):
    """The report's calibration uses the defaults: 3 placebo sectors, at least 6 periods before
    the start and 3 from it on; every allowed start is drawn, none outside."""
    import analysis.impact as impact
    from analysis.evaluation.calibration import placebo_size

    seen = []

    def fake_infer(d, **kw):
        ts = _starts(d)
        seen.append((len(ts), ts.iloc[0], ts.nunique(), kw["alpha"]))
        return None, SimpleNamespace(p_value=0.5, record=SimpleNamespace(label=kw.get("inference") or "default"))

    monkeypatch.setattr(impact, "infer", fake_infer)
    panel = _null_panel()
    chk = placebo_size(panel, outcome="y", method="ppml", n_runs=400, seed=1)
    periods = pd.period_range("2018-01", periods=20, freq="M")
    assert {n for n, *_ in seen} == {3}
    assert {u for _, _, u, _ in seen} == {1}  # one start date per run, shared by the chosen sectors
    starts = {s for _, s, _, _ in seen}
    assert starts == set(periods[6: 20 - 3 + 1])  # 6 periods before the first possible start, 3 from the last
    assert {a for *_, a in seen} == {0.05}
    assert len(chk.p_values) == 400  # the default number of runs is not used here; n_runs is


def test_rule_calibration_default_number_of_runs_is_500(monkeypatch):
    import analysis.impact as impact
    from analysis.evaluation.calibration import placebo_size

    monkeypatch.setattr(impact, "infer", lambda d, **kw: (None, SimpleNamespace(p_value=0.5, record=SimpleNamespace(label="x"))))
    assert len(placebo_size(_null_panel(), outcome="y", method="ppml").p_values) == 500


def test_rule_calibration_refuses_a_panel_too_short_for_its_design():
    from analysis.evaluation.calibration import placebo_size

    with pytest.raises(ValueError, match="at least 9"):
        placebo_size(_null_panel(n_periods=8), outcome="y", method="ppml", n_runs=1)
    # 9 periods are enough for 6 before and 3 after (the only start is the 7th period)
    import analysis.impact as impact

    seen = []
    orig = impact.infer
    try:
        impact.infer = lambda d, **kw: seen.append(_starts(d).iloc[0]) or (None, SimpleNamespace(p_value=1.0, record=SimpleNamespace(label="x")))
        placebo_size(_null_panel(n_periods=9), outcome="y", method="ppml", n_runs=5)
    finally:
        impact.infer = orig
    assert set(seen) == {pd.Period("2018-07", "M")}


@pytest.mark.parametrize("k,n", [(0, 20), (1, 20), (7, 100), (100, 100), (3, 7)])
def test_rule_rejection_rate_and_its_wilson_interval(k, n):
    """A p-value equal to alpha rejects; the interval is Wilson's (statsmodels as the reference)."""
    from statsmodels.stats.proportion import proportion_confint

    from analysis.evaluation.calibration import SizeCheck

    p = np.r_[np.full(k, 0.05), np.full(n - k, 0.0501)]
    chk = SizeCheck(method="m", inference="i", alpha=0.05, p_values=p)
    assert chk.rejection_rate == pytest.approx(k / n)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert chk.interval == pytest.approx((lo, hi), abs=1e-6)
    row = chk.to_frame().iloc[0]
    assert (row.runs, row.rate_ci_low, row.rate_ci_high) == (n, pytest.approx(lo, abs=1e-6), pytest.approx(hi, abs=1e-6))


# -- the headline's interval: the pivot of the studentized deviation -----------------------------
def _brute_pivot(recorded, expected, null_t, alpha, extra):
    """Effects r on a fine grid whose deviation |recorded - u| / sqrt(u + extra u^2), u = (1 + r)
    expected, at most floor(alpha (n + 1)) - 1 draws reach (the rule of the +1 p-value)."""
    r = np.linspace(-0.999, 6.0, 700_001)
    u = (1 + r) * expected
    dev = np.abs(recorded - u) / np.sqrt(u + extra * u * u)
    t = np.sort(null_t)[::-1]
    p = (1 + np.searchsorted(-t, -dev, side="right")) / (len(t) + 1)  # draws at least as large, +1
    keep = r[p > alpha]
    return keep.min(), keep.max()


@pytest.mark.parametrize("recorded,expected,extra", [(70.0, 100.0, 0.0), (70.0, 100.0, 0.01), (140.0, 100.0, 0.02),
                                                     (30.0, 50.0, 0.3)])
def test_rule_ppml_interval_is_the_set_its_test_does_not_reject(recorded, expected, extra):
    from analysis.impact.inference.placebo import pivot_interval

    null_t = np.random.default_rng(7).gamma(2.0, 0.8, size=199)
    lo, hi = pivot_interval(recorded, expected, null_t, 0.05, extra)
    blo, bhi = _brute_pivot(recorded, expected, null_t, 0.05, extra)
    assert lo == pytest.approx(max(blo, -1.0), abs=2e-5)
    if np.isfinite(hi):
        assert hi == pytest.approx(bhi, abs=2e-5)
    else:  # no upper bound: the grid's end is still inside
        assert bhi == pytest.approx(6.0)


def test_rule_ppml_interval_has_no_upper_bound_when_the_extra_variance_outgrows_the_critical_value():
    from analysis.impact.inference.placebo import pivot_interval

    null_t = np.linspace(0.1, 3.0, 199)  # critical value c = the 10th largest = 2.85...
    c = np.sort(null_t)[::-1][int(np.floor(0.05 * 200 - 1 + 1e-9))]
    extra = 1.5 / c**2  # c^2 extra > 1
    lo, hi = pivot_interval(70.0, 100.0, null_t, 0.05, extra)
    assert hi == np.inf
    blo, _ = _brute_pivot(70.0, 100.0, null_t, 0.05, extra)
    assert lo == pytest.approx(max(blo, -1.0), abs=2e-5)
    # at c^2 extra = 1 exactly the quadratic is linear: the lower bound is recorded^2 / (2 recorded + c^2) / expected - 1
    lo1, hi1 = pivot_interval(70.0, 100.0, null_t, 0.05, 1.0 / c**2)
    assert hi1 == np.inf and lo1 == pytest.approx(70.0**2 / (2 * 70.0 + c**2) / 100.0 - 1)


@pytest.mark.parametrize("n_draws,bounded", [(18, False), (19, True)])
def test_rule_ppml_interval_needs_enough_draws_to_reject_at_all(n_draws, bounded):
    """At alpha 0.05 the +1 p-value reaches 0.05 only with 19 draws or more: fewer give (-1, inf)."""
    from analysis.impact.inference.placebo import pivot_interval

    lo, hi = pivot_interval(70.0, 100.0, np.linspace(0.5, 2.0, n_draws), 0.05, 0.0)
    assert bool(lo > -1.0 and np.isfinite(hi)) is bounded
    if not bounded:
        assert (lo, hi) == (-1.0, np.inf)
    assert pivot_interval(70.0, 0.0, np.linspace(0.5, 2.0, 99), 0.05, 0.0) == (-1.0, np.inf)


def test_rule_extra_variance_is_the_mean_excess_over_poisson_and_never_negative():
    from analysis.impact.inference.placebo import extra_variance

    m = np.array([100.0, 50.0, 200.0])
    r = np.array([120.0, 40.0, 170.0])
    assert extra_variance(r, m) == pytest.approx(np.mean(((r - m) ** 2 - m) / m**2))
    assert extra_variance(np.array([100.0, 50.0]), np.array([100.0, 50.0])) == 0.0  # under-dispersed: 0
    assert extra_variance(np.array([np.nan, 5.0]), np.array([3.0, 0.0])) == 0.0  # nothing usable


# -- placebo stand-ins of SDID and SC, and the DID weights ---------------------------------------
def test_rule_did_weights_are_uniform_over_controls_and_pre_periods():
    from analysis.impact.sdid import block_weights

    Y = np.random.default_rng(0).normal(size=(7, 10))
    omega, lam = block_weights(Y, N0=5, T0=6, estimator="did")
    assert np.allclose(omega, 1 / 5) and len(omega) == 5
    assert np.allclose(lam, 1 / 6) and len(lam) == 6


def test_rule_placebo_pool_of_a_treated_unit_is_the_never_treated_closest_in_pre_start_level():
    from analysis.impact.inference.placebo import placebo_pools

    level = np.array([10.0, 1.0, 2.0, 3.0, 9.0, 12.0, 30.0])  # rows 0 and 6 treated
    Y = np.repeat(level[:, None], 4, axis=1)
    ctrl = np.array([1, 2, 3, 4, 5])
    pools = placebo_pools(Y, np.array([0, 6]), ctrl, n_pre=3, size=2)
    assert [sorted(p) for p in pools] == [[4, 5], [4, 5]]  # 9 and 12 are nearest to 10; 12 and 9 to 30
    pools = placebo_pools(Y, np.array([0]), ctrl, n_pre=3, size=3)
    assert sorted(pools[0]) == [3, 4, 5]
    assert [list(p) for p in placebo_pools(Y, np.array([0, 6]), ctrl, n_pre=3, size=None)] == [list(ctrl)] * 2
    assert [list(p) for p in placebo_pools(Y, np.array([0]), ctrl, n_pre=3, size=5)] == [list(ctrl)]


def test_rule_placebo_stand_ins_are_distinct_and_fall_back_to_any_unused_control():
    from analysis.impact.inference.placebo import draw_stand_ins

    ctrl = np.array([1, 2, 3, 4, 5])
    rng = np.random.default_rng(3)
    for _ in range(200):
        # three treated units share a pool of two: the third takes an unused control outside it
        out = draw_stand_ins([np.array([4, 5])] * 3, ctrl, rng)
        assert len(set(out)) == 3
        assert sum(o in (4, 5) for o in out) == 2 and set(out) <= set(ctrl)
    seen = {tuple(draw_stand_ins([np.array([1, 2, 3])], ctrl, rng)) for _ in range(200)}
    assert seen == {(1,), (2,), (3,)}  # a unit's stand-in is drawn from its pool, each member reachable


def test_rule_rademacher_weights_are_plus_and_minus_one_equally_often():
    from analysis.impact.inference.wild import draw_weights

    w = draw_weights("rademacher", 4000, 5, np.random.default_rng(0))
    assert set(np.unique(w)) == {-1.0, 1.0}
    assert abs(np.mean(w == 1.0) - 0.5) < 0.02
    with pytest.raises(ValueError, match="'webb' or 'rademacher'"):
        draw_weights("mammen", 10, 5, np.random.default_rng(0))


def test_rule_group_time_of_a_panel_without_cohorts_is_empty_and_typed():
    from analysis.impact.cs import group_time

    gt = group_time(np.ones((4, 6)), np.full(4, -1))
    assert len(gt) == 0 and list(gt.columns) == ["g", "t", "att", "n_g"]
    assert [str(gt[c].dtype) for c in gt.columns] == ["int64", "int64", "float64", "int64"]


# -- the design's checks: each refusal on the smallest panel that needs it -----------------------
def _tiny(n_units=4, n_periods=6, treated=("U0",), start_pos=3):
    units = [f"U{i}" for i in range(n_units)]
    periods = pd.period_range("2020-01", periods=n_periods, freq="M")
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = np.arange(len(p), dtype=float) % 5
    p["treat_start"] = pd.Series([periods[start_pos] if u in treated else pd.NaT for u in p.unit], dtype="period[M]")
    return p


@pytest.mark.parametrize("break_it,error", [
    (lambda p: p.assign(y=p.y.where(p.index != 7)), "1 missing values"),
    (lambda p: pd.concat([p, p.iloc[[5]]], ignore_index=True), "repeated"),
    (lambda p: p.drop(index=[9]), "not balanced"),
    (lambda p: p.assign(treat_start=p.treat_start.where(~((p.unit == "U0") & (p.index == 2)), pd.Period("2020-05", "M"))),
     "constant within a unit"),
    (lambda p: p.assign(treat_start=pd.Series([pd.Period("2020-01", "M") if u == "U0" else pd.NaT for u in p.unit],
                                              dtype="period[M]")), "from the first period"),
    (lambda p: p.assign(treat_start=pd.Series([pd.Period("2021-01", "M") if u == "U0" else pd.NaT for u in p.unit],
                                              dtype="period[M]")), "no unit is treated within"),
    (lambda p: p.assign(treat_start=pd.Series([pd.Period("2020-04", "M")] * len(p), dtype="period[M]")),
     "no never-treated"),
])
def test_rule_the_design_refuses_a_panel_it_cannot_use(break_it, error):
    from analysis.impact.design import make_design

    make_design(_tiny(), "y")  # the unbroken panel is fine
    with pytest.raises(ValueError, match=error):
        make_design(break_it(_tiny()), "y")


def test_rule_a_start_after_the_panel_leaves_the_unit_untreated_and_others_keep_theirs():
    from analysis.impact.design import make_design

    p = _tiny(treated=("U0", "U1"))
    p.loc[p.unit == "U1", "treat_start"] = pd.Period("2022-01", "M")
    d = make_design(p, "y")
    assert list(d.start) == [3, -1, -1, -1]
    assert list(d.treated) == [True, False, False, False]
    assert d.D.sum() == 3 and d.D[0, 3:].tolist() == [1.0, 1.0, 1.0]


def test_rule_ppml_p_value_counts_a_draw_tied_with_the_observed_statistic():
    from analysis.impact.inference.randomization import perm_p

    obs = 2.0
    assert perm_p(np.array([2.0, 1.0, 3.0, 0.5]), obs) == pytest.approx((1 + 2) / 5)
    assert perm_p(np.array([2.0 - 1e-13, 1.0]), obs) == pytest.approx((1 + 1) / 3)  # within the tolerance


def test_rule_ppml_event_study_is_the_log_ratio_where_both_totals_are_positive():
    from analysis.impact.ppml import log_curve

    # two units, five months; unit 0 starts at month 2, unit 1 never
    Y = np.array([[4.0, 2.0, 0.0, 3.0, 6.0], [9.0, 9.0, 9.0, 9.0, 9.0]])
    mu0 = np.array([[2.0, 0.0, 5.0, 3.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    got = log_curve(Y, mu0, np.array([2, -1]), [-2, -1, 0, 1, 2])
    assert got[0] == pytest.approx(np.log(2.0))       # 4 recorded against 2 expected
    assert np.isnan(got[1])                           # nothing expected: no ratio
    assert np.isnan(got[2])                           # nothing recorded: no log
    assert got[3] == pytest.approx(0.0) and got[4] == pytest.approx(np.log(3.0))
    # the untreated unit never enters, however long the window
    long = log_curve(Y, mu0, np.array([2, -1]), list(range(-2, 80)))
    assert np.allclose(long[:5], got, equal_nan=True) and np.isnan(long[5:]).all()


@pytest.mark.parametrize("inference", ["placebo", "randomization"])
def test_rule_ppml_smallest_p_value_of_one_sector_among_nineteen_comparable(inference):
    """One treated sector; the comparable pool holds 20 sectors (MIN_POOL), 19 of them never
    treated: each placebo is used once (19 draws), and no p-value can go below 1/20."""
    from analysis import impact

    rng = np.random.default_rng(1)
    units = [f"U{i:02d}" for i in range(25)]
    periods = pd.period_range("2019-01", periods=24, freq="M")
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = rng.poisson(5.0, len(p)).astype(float)
    p["treat_start"] = pd.Series([periods[12] if u == "U00" else pd.NaT for u in p.unit], dtype="period[M]")
    r = impact.estimate(p, outcome="y", method="ppml", inference=inference, seed=1)
    assert len(r.inference.pool) == 20
    assert r.inference.min_p_value == pytest.approx(1 / 20)
    assert r.p_value >= 1 / 20
    if inference == "placebo":
        assert r.inference.n_draws == 19
        assert (r.p_value * 20) == pytest.approx(round(r.p_value * 20))  # an exact p: k / 20


@pytest.mark.parametrize("where", ["period", "unit"])
def test_rule_imputation_needs_an_untreated_cell_in_every_unit_and_period(where):
    from analysis.impact.imputation import fit_untreated

    Y = np.arange(20, dtype=float).reshape(4, 5)
    untreated = np.ones((4, 5), bool)
    fit_untreated(Y, untreated)
    if where == "period":
        untreated[:, 4] = False
    else:
        untreated[2, :] = False
    with pytest.raises(ValueError, match="untreated cell in every unit and every period"):
        fit_untreated(Y, untreated)


@pytest.mark.parametrize("num_pre,num_post", [(0, 3), (3, 0)])
def test_rule_relative_magnitudes_need_a_pre_and_a_post_coefficient(num_pre, num_post):
    from analysis.evaluation.honest import sensitivity_rm

    n = num_pre + num_post
    with pytest.raises(ValueError, match="at least one pre-start and one post-start"):
        sensitivity_rm(np.zeros(n), np.eye(n), num_pre, num_post, mbar=(1.0,))


def test_rule_normal_quantile_and_tail_are_scipys():
    """The intervals' z and the normal p-values come from the standard library (importing
    scipy.stats cost every notebook 2.5 s): the same numbers as scipy.stats.norm, to 1e-12,
    into the far tail where a p-value like 1e-16 is printed."""
    from scipy.stats import norm

    from analysis.impact.result import normal_quantile, normal_sf, z_interval

    for q in (0.9, 0.95, 0.975, 0.995, 0.9995, 1 - 1e-9):
        assert normal_quantile(q) == pytest.approx(norm.ppf(q), rel=1e-12)
    for x in (0.0, 0.5, 1.96, 3.0, 8.2, 15.0, 30.0):
        assert normal_sf(x) == pytest.approx(norm.sf(x), rel=1e-12)
    lo, hi, p = z_interval(-2.0, 0.25, 0.05)
    assert (lo, hi) == pytest.approx((-2.0 - norm.ppf(0.975) * 0.25, -2.0 + norm.ppf(0.975) * 0.25), rel=1e-14)
    assert p == pytest.approx(2 * norm.sf(8.0), rel=1e-12)
