"""Rules of the Poisson imputation (PPML) that decide a published number (issue 14).

Companion of test_rules_impact.py (which holds the pivot interval, the +1 p-value, the log
event study and the smallest p-value of one sector): each test names the rule it guards and
is built on the smallest input on which that rule decides the outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


# -- the Poisson fit on the untreated cells -------------------------------------------------------
@pytest.mark.parametrize("where", ["unit", "period"])
def test_rule_ppml_fit_needs_an_untreated_cell_in_every_unit_and_every_period(where):
    """A unit or a period without an untreated cell has no effect to fit: refused, whether it is
    one unit or one period (not only when every one of them lacks it)."""
    from analysis.impact.ppml import fit_poisson_untreated

    Y = np.arange(1, 21, dtype=float).reshape(4, 5)
    untreated = np.ones((4, 5), bool)
    if where == "period":
        untreated[:, 4] = False
    else:
        untreated[2, :] = False
    with pytest.raises(ValueError, match="untreated cell in every unit and every period"):
        fit_poisson_untreated(Y, untreated)


def test_rule_ppml_fit_matches_the_recorded_margins_of_the_untreated_cells():
    """The Poisson maximum-likelihood conditions: on the untreated cells the fitted counts add up
    to the recorded ones in every unit and every period. One untreated cell in a unit or in a
    period is enough (it pins that effect exactly)."""
    from analysis.impact.ppml import fit_poisson_untreated

    Y = np.array([[3.0, 5.0, 2.0, 4.0], [6.0, 1.0, 7.0, 2.0], [2.0, 2.0, 9.0, 3.0], [4.0, 8.0, 1.0, 6.0]])
    untreated = np.ones((4, 4), bool)
    untreated[0, 1:] = False     # unit 0: a single untreated cell
    untreated[1:3, 3] = False    # period 3: a single untreated cell (unit 3)
    a, b = fit_poisson_untreated(Y, untreated)
    fit = np.exp(a[:, None] + b[None, :]) * untreated
    rec = Y * untreated
    assert np.allclose(fit.sum(1), rec.sum(1), rtol=1e-8)
    assert np.allclose(fit.sum(0), rec.sum(0), rtol=1e-8)
    assert b.mean() == pytest.approx(0.0, abs=1e-12)  # the levels' normalisation


# -- the event study: log(recorded / expected) ------------------------------------------------------
def test_rule_ppml_event_study_keeps_a_month_whose_expected_total_is_below_one():
    """A quiet sector expects less than one event a month: the log ratio is still
    log(recorded / expected), not dropped and not log(recorded)."""
    from analysis.impact.ppml import log_curve

    Y = np.array([[1.0, 2.0, 1.0, 0.0], [5.0, 5.0, 5.0, 5.0]])
    mu0 = np.array([[0.5, 0.25, 1.0, 0.4], [5.0, 5.0, 5.0, 5.0]])
    got = log_curve(Y, mu0, np.array([2, -1]), [-2, -1, 0, 1])
    assert got[0] == pytest.approx(np.log(2.0))
    assert got[1] == pytest.approx(np.log(8.0))
    assert got[2] == pytest.approx(0.0)
    assert np.isnan(got[3])  # nothing recorded


# -- the placebos' variance beyond Poisson -----------------------------------------------------------
def test_rule_extra_variance_leaves_out_draws_without_a_positive_finite_expectation():
    """Draws that cannot be imputed (expected NaN or 0), or whose total is not a number, are left
    out of the moments; the others, small expectations included, all count."""
    from analysis.impact.inference.placebo import extra_variance

    rec = np.array([120.0, 40.0, 3.0, 7.0, 5.0, np.nan])
    exp_ = np.array([100.0, 50.0, 0.5, np.nan, 0.0, 60.0])
    keep = [0, 1, 2]
    r, m = rec[keep], exp_[keep]
    want = np.mean(((r - m) ** 2 - m) / m**2)
    assert want > 0
    assert extra_variance(rec, exp_) == pytest.approx(want)


# -- the headline's pivot interval ---------------------------------------------------------------------
def test_rule_ppml_interval_is_bounded_when_fewer_than_one_event_is_expected():
    """A treated sector expecting 0.8 events has a finite pivot interval: its ends are where
    |recorded - u| / sqrt(u), u = (1 + r) expected, meets the critical draw."""
    from analysis.impact.inference.placebo import pivot_interval

    null_t = np.linspace(0.1, 3.0, 199)
    c = np.sort(null_t)[::-1][int(np.floor(0.05 * 200 - 1 + 1e-9))]
    rec, e = 4.0, 0.8
    lo, hi = pivot_interval(rec, e, null_t, 0.05, 0.0)
    assert -1.0 < lo < rec / e - 1 < hi < np.inf
    for r in (lo, hi):
        u = (1 + r) * e
        assert abs(rec - u) / np.sqrt(u) == pytest.approx(c, rel=1e-9)


# -- the placebo calendars -------------------------------------------------------------------------
def test_rule_placebos_need_only_as_many_comparable_units_as_treated_ones():
    """Two treated units and two comparable never-treated ones: enough (each placebo gives the
    two starts to the two candidates, in both orders)."""
    from analysis.impact.inference.placebo import placebo_calendars

    start = np.array([3, 5, -1, -1, -1, -1])
    cand = np.array([False, True, False, True])
    got = placebo_calendars(start, cand, 50, seed=0)
    assert sorted(map(tuple, got.tolist())) == [(-1, 3, -1, 5), (-1, 5, -1, 3)]
    with pytest.raises(ValueError, match="at least as many comparable never-treated"):
        placebo_calendars(start, np.array([False, True, False, False]), 50, seed=0)


@pytest.mark.parametrize("n", [19, 27])
def test_rule_placebos_are_each_taken_once_when_there_are_exactly_as_many_as_draws(n):
    """One treated unit and n candidates: n distinct placebos; with n draws each is taken once
    (the exact p-value), not n random ones with repeats. The count is exact: 19 computed through
    lgamma came out as 19.00000000000003, one more than the draws, and the placebos were drawn
    with repeats (13 distinct of 19)."""
    from analysis.impact.inference.placebo import distinct_placebos, placebo_calendars
    from analysis.impact.inference.randomization import distinct_reassignments

    start = np.array([4] + [-1] * n)
    assert distinct_placebos(start, n) == n and distinct_reassignments(start[: n]) == n
    got = placebo_calendars(start, np.ones(n, bool), n, seed=0)
    assert got.shape == (n, n)
    assert sorted(np.flatnonzero(row >= 0)[0] for row in got) == list(range(n))
    assert ((got >= 0).sum(1) == 1).all() and set(got[got >= 0]) == {4}


# -- the placebo draws, all at once ------------------------------------------------------------------
@pytest.mark.parametrize("b0", [False, True])
def test_rule_ppml_draws_at_once_are_the_draws_one_by_one(b0):
    """``ppml.draws`` (every placebo calendar in one pass, the untreated units carried as one
    number) gives each draw's effect, event curve and expected counts of ``ppml.draw`` on that
    calendar, to rounding: staggered starts, a unit with no event before its placebo start
    (expected 0, a curve of NaN there), an untreated unit and a month with no event at all, and a
    start in the second month."""
    from analysis.impact import ppml

    rng = np.random.default_rng(3)
    N, T = 14, 20
    Y = rng.poisson(3.0 * np.exp(rng.normal(0, 0.5, N))[:, None], (N, T)).astype(float)
    Y[2, :12] = 0  # no event before month 12
    Y[5] = 0  # never an event
    Y[:, 7] = 0  # a month without events
    cals = np.full((40, N), -1)
    for k in range(40):
        units = rng.choice(N, 3, replace=False)
        cals[k, units] = rng.permutation([1, 12, 15])
    cals[0, [2, 4, 9]] = [-1, -1, -1]
    cals[0, [2, 4, 9]] = [12, 15, 1]  # unit 2 starts in month 12, after no event at all
    fit = None
    if b0:
        fit = type("F", (), {"details": {"period_effects": ppml.fit_poisson_untreated(Y, np.ones((N, T), bool))[1]}})
    rels = list(range(-4, 6))
    one = [ppml.draw(Y, s, rels, fit) for s in cals]
    many = ppml.draws(Y, cals, rels, fit)
    assert len(many) == len(one)
    for a, b in zip(one, many):
        assert b.att == pytest.approx(a.att, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(b.expected, a.expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.curve, a.curve, rtol=1e-10, atol=1e-12)  # NaN where NaN
    assert (many[0].expected[np.searchsorted([2, 4, 9], 2)] == 0).all()
    # calendars treating different numbers of units: one by one
    mixed = cals[:3].copy()
    mixed[1, np.flatnonzero(mixed[1] >= 0)[0]] = -1
    got = ppml.draws(Y, mixed, rels, fit)
    assert [g.att for g in got] == pytest.approx([ppml.draw(Y, s, rels, fit).att for s in mixed])
    with pytest.raises(ValueError, match="untreated cell in every unit"):
        ppml.draws(Y, np.where(cals[:2] == 1, 0, cals[:2]), rels, fit)


@pytest.mark.parametrize("inference", ["placebo", "randomization"])
def test_rule_ppml_placebo_inference_is_the_same_with_draws_at_once_or_one_by_one(monkeypatch, inference):
    """The published p-value, interval and event-study spread do not depend on whether the
    draws (placebo calendars, or reassignments and the interval's refits) were computed at once
    (``hooks['draws']``, ``hooks['null_statistics']``) or one by one."""
    from dataclasses import replace

    from analysis import impact
    from analysis.impact import registry

    panel = _panel(n_units=30, treated=(0, 1, 2), level=6.0, disp=4.0, effect=0.7, seed=5)
    fast = impact.estimate(panel, outcome="y", method="ppml", n_perm=199, seed=1, inference=inference)
    ppml = registry.get_method("ppml")
    slow_method = replace(ppml, hooks={k: v for k, v in ppml.hooks.items() if k not in ("draws", "null_statistics")})
    monkeypatch.setitem(registry.REGISTRY, "ppml", slow_method)
    slow = impact.estimate(panel, outcome="y", method="ppml", n_perm=199, seed=1, inference=inference)
    assert "draws" not in registry.get_method("ppml").hooks
    assert fast.p_value == slow.p_value
    assert fast.conf_int().to_numpy() == pytest.approx(slow.conf_int().to_numpy(), rel=1e-9)
    cols = ["log_ratio", "log_se", "ci_low", "ci_high"]
    np.testing.assert_allclose(fast.event_study[cols].to_numpy(float), slow.event_study[cols].to_numpy(float), rtol=1e-9)
    np.testing.assert_allclose(fast.event_draws, slow.event_draws, rtol=1e-9)


# -- small panels for the estimator ------------------------------------------------------------------
def _panel(n_units=24, n_periods=18, start=9, treated=(0,), effect=1.0, level=4.0, disp=None, seed=0):
    """Counts by unit and month: unit levels spread around ``level``, a common seasonal swing,
    Poisson noise (or negative binomial with ``disp`` when overdispersed); the ``treated`` units
    start at month ``start`` and their counts from then on are multiplied by ``effect``."""
    rng = np.random.default_rng(seed)
    units = [f"U{i:02d}" for i in range(n_units)]
    periods = pd.period_range("2019-01", periods=n_periods, freq="M")
    mean = level * np.exp(rng.normal(0, 0.3, n_units))[:, None] * (1 + 0.3 * np.sin(np.arange(n_periods) / 2))[None, :]
    for i in treated:
        mean[i, start:] *= effect
    if disp is None:
        y = rng.poisson(mean)
    else:
        y = rng.negative_binomial(disp, disp / (disp + mean))
    p = pd.MultiIndex.from_product([units, periods], names=["unit", "period"]).to_frame(index=False)
    p["y"] = y.ravel().astype(float)
    p["treat_start"] = pd.Series([periods[start] if int(u[1:]) in treated else pd.NaT for u in p.unit], dtype="period[M]")
    return p


def _placebo_deviations(panel, n_perm, seed):
    """The placebo draws' recorded and expected totals, and the observed ones, rebuilt from the
    rule: the calendar given to comparable never-treated units, expected counts from the Poisson
    fit on the untreated cells of the never-treated units."""
    from analysis.impact.design import make_design, treatment_matrix
    from analysis.impact.inference.placebo import placebo_calendars
    from analysis.impact.inference.randomization import comparable_pool
    from analysis.impact.ppml import expected_untreated

    d = make_design(panel, "y")
    Y, start = d.Y, d.start
    T = Y.shape[1]
    D = treatment_matrix(start, T).astype(bool)
    mu0 = expected_untreated(Y, start)
    ctrl = start < 0
    draws = placebo_calendars(start, comparable_pool(Y, start)[ctrl], n_perm, seed)
    recs, exps = [], []
    for s in draws:
        Dp = treatment_matrix(s, T).astype(bool)
        recs.append(Y[ctrl][Dp].sum())
        exps.append(expected_untreated(Y[ctrl], s)[Dp].sum())
    return np.array(recs), np.array(exps), Y[D].sum(), mu0[D].sum()


def test_rule_ppml_placebo_p_value_studentizes_with_the_placebos_extra_variance():
    """The observed deviation and each placebo's are |recorded - expected| / sqrt(m + e m^2),
    e the placebos' variance beyond Poisson: the p-value is the share (with the +1) of placebos
    at least as far out as the observed one."""
    from analysis import impact

    panel = _panel(n_units=30, treated=(0, 1), level=8.0, disp=3.0, seed=4)
    r = impact.estimate(panel, outcome="y", method="ppml", n_perm=99, seed=2)
    recs, exps, rec, ex = _placebo_deviations(panel, 99, 2)
    m = exps
    e = max(0.0, np.mean(((recs - m) ** 2 - m) / m**2))
    assert e > 0.01  # overdispersed: the extra variance matters
    null = np.abs(recs - m) / np.sqrt(m + e * m**2)
    obs = abs(rec - ex) / np.sqrt(ex + e * ex**2)
    p = (1 + np.sum(null >= obs - 1e-12)) / (len(null) + 1)
    assert r.inference.n_draws == 99
    assert r.p_value == pytest.approx(p)
    assert 0.1 < p < 0.9  # a panel without effect: the observed sits among its placebos


# -- the exact randomization test and its interval by test inversion --------------------------------
def _randomization_p(panel, r, n_perm, seed, statistic):
    """p-value of a multiplicative effect r, rebuilt from the rule: the treated cells divided by
    (1 + r) (their Poisson variance too), the calendar reassigned among the comparable units,
    the statistic |rec/exp - 1| ('ratio') or |rec - exp| / sqrt(sum of variances)
    ('studentized'), and the +1 share of reassignments at least as extreme as the observed."""
    from analysis.impact.design import make_design, treatment_matrix
    from analysis.impact.inference.randomization import comparable_pool, permuted_starts
    from analysis.impact.ppml import expected_untreated

    d = make_design(panel, "y")
    Y, start = d.Y, d.start
    T = Y.shape[1]
    D = treatment_matrix(start, T).astype(bool)
    Yr = np.where(D, Y / (1 + r), Y)
    w = np.where(D, 1 / (1 + r), 1.0)

    def stat(s):
        Ds = treatment_matrix(s, T).astype(bool)
        mu = expected_untreated(Yr, s)
        rec, ex = Yr[Ds].sum(), mu[Ds].sum()
        return abs(rec / ex - 1) if statistic == "ratio" else abs(rec - ex) / np.sqrt((mu[Ds] * w[Ds]).sum())

    with np.errstate(invalid="ignore", divide="ignore"):
        null = np.array([stat(s) for s in permuted_starts(start, n_perm, seed, comparable_pool(Y, start))])
        obs = stat(start)
    null = null[np.isfinite(null)]
    return (1 + np.sum(null >= obs - 1e-12)) / (len(null) + 1)


# a strong fall (about -80 %), with each statistic, and a sector with few events whose interval
# reaches beyond 0.5 of the estimate on both sides
@pytest.mark.parametrize("kw,statistic", [
    (dict(effect=0.3, level=4.0, seed=1), "studentized"),
    (dict(effect=0.3, level=4.0, seed=1), "ratio"),
    (dict(level=1.0, n_periods=14, start=11, seed=0), "studentized"),
])
def test_rule_ppml_randomization_interval_is_the_set_its_test_does_not_reject(kw, statistic):
    """The interval of the exact test is its inversion: effects just outside either end are
    rejected at alpha (p <= alpha, the p-value's rule) and effects just inside are not; the
    p-value is that of r = 0."""
    from analysis import impact

    panel = _panel(n_units=20, **kw)
    n_perm, alpha, seed = 19, 0.1, kw["seed"]
    r = impact.estimate(panel, outcome="y", method="ppml", inference="randomization", n_perm=n_perm,
                        alpha=alpha, seed=seed, statistic=statistic)
    lo, hi = r.details["ratio_ci"]
    assert -1.0 < lo < r.details["effect_ratio"] < hi < np.inf
    assert r.p_value == pytest.approx(_randomization_p(panel, 0.0, n_perm, seed, statistic))
    step = 3e-3
    for outside, inside in ((lo - step, lo + step), (hi + step, hi - step)):
        assert _randomization_p(panel, outside, n_perm, seed, statistic) <= alpha
        assert _randomization_p(panel, inside, n_perm, seed, statistic) > alpha


@pytest.mark.parametrize("effect", [0.7, 100.0])
def test_rule_ppml_interval_is_minus_100_percent_to_infinity_when_the_test_cannot_reject(effect):
    """With 9 reassignments no p-value goes below 1/10 > 0.05: no effect is rejected, so the
    interval is a 100 % reduction to no upper bound, in ratio and in counts per treated cell,
    whatever the estimate (a 30 % fall, or a hundredfold rise whose downward search runs out of
    steps before reaching -100 %)."""
    from analysis import impact

    panel = _panel(n_units=20, effect=effect, seed=3)
    r = impact.estimate(panel, outcome="y", method="ppml", inference="randomization", n_perm=9, seed=3)
    assert r.p_value > 0.05
    assert r.details["ratio_ci"] == (-1.0, np.inf)
    cf = r.counterfactual[r.counterfactual.treated]
    assert r.ci_low == pytest.approx(-cf.counterfactual.mean()) and r.ci_high == np.inf
    if effect > 1:
        assert r.details["effect_ratio"] > 64  # the 8 doubling steps down end above -100 % (at the estimate - 64)


def test_rule_counts_beyond_float_range_are_capped_at_1e300():
    """The count of reassignments grows as a multinomial coefficient: 1,000 sectors with 500
    treated at 500 different starts have far more arrangements than a float holds. The count is
    exact in integers and capped at 1e300 (so the smallest attainable p-value, one over it, is
    still a number), never an overflow; below the cap it is exact: C(60, 30) to the unit."""
    from math import comb

    from analysis.impact.inference.placebo import distinct_placebos
    from analysis.impact.inference.randomization import distinct_reassignments

    big = np.r_[np.arange(1, 501), np.full(500, -1)]
    assert distinct_reassignments(big) == 1e300
    assert distinct_placebos(big, 1000) == 1e300
    half = np.r_[np.full(30, 7), np.full(30, -1)]
    assert distinct_reassignments(half) == float(comb(60, 30))
