"""Rules of difference-in-differences inference that decide a published number (issue 14).

TWFE's event study, the Callaway-Sant'Anna and Sun-Abraham results, the wild cluster bootstrap
and the randomization interval. Each test names the rule it guards, on a tiny input whose right
answer comes from a hand computation, an independent implementation (ordinary least squares
with explicit dummies, a brute-force bootstrap with one refit per draw) or the documented rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _panel(Y: np.ndarray, start) -> pd.DataFrame:
    """Long panel (unit, period, y, treat_start) of an (N, T) matrix; ``start`` holds period
    indices, -1 for never treated."""
    N, T = Y.shape
    units = [f"U{i:02d}" for i in range(N)]
    periods = pd.period_range("2020-01", periods=T, freq="M")
    p = pd.DataFrame({"unit": np.repeat(units, T), "period": np.tile(periods, N), "y": Y.ravel().astype(float)})
    ts = pd.Series([periods[s] if s >= 0 else pd.NaT for s in start], index=units, dtype="period[M]")
    p["treat_start"] = p.unit.map(ts).astype("period[M]")
    return p


def _ols(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (X of full column rank)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _fe_dummies(N: int, T: int) -> np.ndarray:
    """Intercept, N - 1 unit and T - 1 period dummies for an (N, T) panel raveled by unit."""
    u = np.repeat(np.arange(N), T)
    t = np.tile(np.arange(T), N)
    cols = [np.ones(N * T)] + [(u == i).astype(float) for i in range(1, N)] + [(t == s).astype(float)
                                                                             for s in range(1, T)]
    return np.column_stack(cols)


# -- TWFE event study ---------------------------------------------------------------------------
def test_rule_twfe_event_study_is_the_regression_on_binned_relative_period_dummies():
    """The event study regresses the outcome on unit and period effects and one dummy per
    relative period of the treated units, period -1 left out, the window cut to the periods the
    panel can show (back to the latest starter's first month, on to the earliest starter's last)
    and its two end dummies binning everything beyond them. Never-treated units carry no dummy.
    Checked against OLS with every dummy written out, on a panel long enough (70 months) that
    some treated months lie 60 and more months after their start."""
    from analysis import impact

    rng = np.random.default_rng(1)
    N, T = 6, 14
    start = np.array([3, 5, 5, -1, -1, -1])
    Y = rng.normal(0, 1, (N, T)) + np.arange(N)[:, None] + np.sin(np.arange(T))[None, :]
    res = impact.estimate(_panel(Y, start), outcome="y", method="twfe", inference="cluster")
    es = res.event_study.set_index("rel_period")

    # default window (-12, 24): the latest start is 5, so no treated unit is seen 6 months before it;
    # the earliest, 3, is seen 10 months after it
    lo, hi = -5, 10
    assert list(es.index) == list(range(lo, hi + 1))
    rel = np.where(start[:, None] >= 0, np.arange(T)[None, :] - start[:, None], np.nan).ravel()
    treated = np.repeat(start >= 0, T)
    rels = [r for r in range(lo, hi + 1) if r != -1]
    dummies = [treated & ((rel <= lo) if r == lo else (rel >= hi) if r == hi else (rel == r)) for r in rels]
    X = np.column_stack([_fe_dummies(N, T)] + [d.astype(float) for d in dummies])
    beta = _ols(Y.ravel(), X)[-len(rels):]
    assert es.loc[rels, "estimate"].to_numpy() == pytest.approx(beta, abs=1e-8)
    assert es.loc[-1, "estimate"] == 0.0


def test_rule_twfe_event_study_matrix_gives_never_treated_units_no_dummy():
    """The relative-period dummies of a never-treated unit are all zero, even in the binned end
    dummies; a treated unit's last dummy collects every period from the window's end on, however
    far (here up to 66 months after the start)."""
    from analysis.impact.twfe import event_study_matrix

    T = 70
    X, rels = event_study_matrix(np.array([2, -1]), T, (-2, 3))
    assert rels == [-2, 0, 1, 2, 3]
    assert X[:, 1].sum() == 0  # the never-treated unit
    # each month of the treated unit is in exactly one dummy, but month 1 (relative -1, the reference)
    assert X[:, 0].sum(0).tolist() == [1.0, 0.0] + [1.0] * (T - 2)
    assert X[-1, 0].sum() == T - 2 - 3  # months 5..69: relative periods 3..67, all binned
    assert X[0, 0, 0] == 1.0 and X[0, 0, 1] == 0.0  # the lower bin: relative -2 only (the reference -1 is month 1)


# -- what a result says about its own inference ------------------------------------------------
def _staggered(seed=0, N=8, T=8, start=(3, 5, -1, -1, -1, -1, -1, -1), effect=0.0):
    rng = np.random.default_rng(seed)
    start = np.asarray(start)
    Y = rng.normal(0, 1, (N, T)) + np.arange(N)[:, None]
    Y += effect * ((np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0))
    return _panel(Y, start)


def test_rule_cs_and_sa_notes_describe_the_estimator_that_ran():
    """Callaway-Sant'Anna and Sun-Abraham share one implementation; the note printed under each
    result names the estimator (and comparison) that produced it."""
    from analysis import impact

    p = _staggered()
    cs = impact.estimate(p, outcome="y", method="cs", n_perm=9)
    sa = impact.estimate(p, outcome="y", method="sa", n_perm=9)
    assert cs.method == "cs" and cs.notes[0].startswith("Callaway-Sant'Anna")
    assert sa.method == "sa" and sa.notes[0].startswith("Sun-Abraham")


def test_rule_twfe_smallest_p_value_is_one_over_the_number_of_reassignments_plus_one():
    """The randomization p-value is (1 + #{reassignments at least as extreme}) / (n + 1), so its
    floor, reported as ``min_p_value``, is 1 / (n + 1); an effect no reassignment comes near
    reaches it."""
    from analysis import impact

    p = _staggered(N=12, T=8, start=(2, 4, 6) + (-1,) * 9, effect=100.0)
    res = impact.estimate(p, outcome="y", method="twfe", n_perm=19, event_window=None)
    assert res.inference.min_p_value == 1 / 20
    assert res.p_value == pytest.approx(1 / 20)
    assert res.inference.n_draws == 19


@pytest.mark.parametrize("method,inference,n_draws,words", [
    ("cs", None, 499, "499 reassignments"),
    ("twfe", "randomization", 999, "999 reassignments"),
    ("twfe", "wild", 9999, "9999 draws"),
])
def test_rule_default_number_of_draws_of_each_inference(method, inference, n_draws, words):
    """Without ``n_perm``/``n_boot`` a result uses its method's documented default number of
    draws (``Method.defaults``): 499 calendar reassignments for CS, 999 for TWFE, 9,999
    wild-bootstrap draws; the inference label says so. The p-value floor is one over the draws
    or over the distinct reassignments when there are fewer: 6 x 5 = 30 here (two treated units
    with different starts among 6)."""
    from analysis import impact

    res = impact.estimate(_staggered(N=6, T=6, start=(3, -1, 4, -1, -1, -1)), outcome="y", method=method,
                          inference=inference, event_window=None if method == "twfe" else (-12, 24))
    assert res.inference.n_draws == n_draws
    assert words in res.inference.label
    if inference != "wild":
        assert res.inference.min_p_value == max(1 / (n_draws + 1), 1 / 30) == 1 / 30


# -- the randomization interval: its grid --------------------------------------------------------
def _ri_p(est, a_p, b_p, tau):
    """The documented p-value of the sharp null tau: (1 + #{|a_p - tau b_p| >= |est - tau|}) / (n + 1)."""
    return (1 + np.sum(np.abs(a_p - tau * b_p) >= abs(est - tau) - 1e-12)) / (len(a_p) + 1)


@pytest.mark.parametrize("reach,width", [(9.9975, 10), (50.0123, 100), (500.0123, 1000)])
def test_rule_randomization_interval_ends_are_the_outermost_unrejected_points_of_its_grid(reach, width):
    """The interval is searched on 4,001 points spanning +-10, then +-100, then +-1,000
    permutation spreads around the estimate: the first span whose two ends are rejected. Its
    ends are the outermost points of that grid that are not rejected. Here two draws (a = 0,
    b = 1/2) keep every tau down to estimate - reach spreads unrejected; the others (b = 0) stop
    counting far sooner. The case reach = 9.9975 puts the boundary between the grid's first and
    second points: the first is rejected (that side is bounded), the second is the lower end."""
    from analysis.impact.inference.randomization import invert

    rng = np.random.default_rng(7)
    a_p = np.r_[0.0, 0.0, rng.normal(0, 1, 37)]
    b_p = np.r_[0.5, 0.5, np.zeros(37)]
    spread = np.std(a_p)
    # a draw (0, 1/2) counts at tau = est - x iff |est - x| / 2 >= x, i.e. x <= -est for est < 0
    est = -reach * spread
    out = invert(est, a_p, b_p, alpha=0.05)
    assert out["se"] == pytest.approx(spread)
    step = 2 * width / 4000 * spread
    for w in (10, 100, 1000):  # the span used is the first whose two ends are rejected
        ends = [_ri_p(est, a_p, b_p, est + s * w * spread) for s in (-1, 1)]
        assert (max(ends) <= 0.05) == (w == width)
        if w == width:
            break
    for end, outward in zip(out["ci"], (-1, 1)):
        k = (end - est) / step
        assert np.isfinite(end) and k == pytest.approx(round(k), abs=1e-6)  # a point of the grid
        assert _ri_p(est, a_p, b_p, end) > 0.05 >= _ri_p(est, a_p, b_p, end + outward * step)
    assert out["ci"][0] == pytest.approx(est - np.floor(reach * 4000 / (2 * width)) * step, abs=1e-9 * width)


# -- the wild cluster bootstrap, against one refit per draw ---------------------------------------
def _cluster_fit(y, X, N, T):
    """OLS coefficient on X's first column and its cluster-robust (by unit) standard error,
    without a small-sample factor (it scales every t-statistic alike and leaves p-values alone)."""
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    e = y - X @ b
    XtXi = np.linalg.inv(X.T @ X)
    scores = np.array([X[i * T:(i + 1) * T].T @ e[i * T:(i + 1) * T] for i in range(N)])
    V = XtXi @ scores.T @ scores @ XtXi
    return b[0], np.sqrt(V[0, 0])


def _wcr_p(Y, start, W, beta0):
    """Restricted wild cluster bootstrap p-value of beta = beta0, by brute force: impose the
    null, refit the unit and period effects, multiply each unit's residuals by its weight, refit
    the full model on every bootstrap sample, and count |t*| >= |t| (ties included).
    Also returns how many draws tie with the observed statistic."""
    N, T = Y.shape
    D = ((np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)).astype(float).ravel()
    F = _fe_dummies(N, T)
    X = np.column_stack([D, F])
    y = Y.ravel()
    b, se = _cluster_fit(y, X, N, T)
    t_obs = abs(b - beta0) / se
    y0 = y - beta0 * D
    fitted = F @ np.linalg.lstsq(F, y0, rcond=None)[0]
    t = []
    for w in W:
        bs, ses = _cluster_fit(beta0 * D + fitted + np.repeat(w, T) * (y0 - fitted), X, N, T)
        t.append(abs(bs - beta0) / ses)
    t = np.array(t)
    return float(np.mean(t >= t_obs * (1 - 1e-9))), int(np.sum(np.abs(t - t_obs) <= 1e-9 * t_obs))


def _few_clusters(N, seed, start):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (N, 6)) + np.arange(N)[:, None], np.asarray(start)


def test_rule_wild_bootstrap_p_value_is_the_share_of_draws_at_least_as_extreme_ties_included():
    """The WCR p-value is the share of bootstrap draws whose |t*| is at least the observed |t|.
    A draw whose weights are all equal reproduces the sample (up to sign), so its t* ties with
    the observed one and must count: with four clusters and Rademacher weights one draw in eight
    does. Every draw counts, the first included. Checked against refits of each bootstrap sample."""
    from analysis.impact.inference.wild import draw_weights, wild_bootstrap

    Y, start = _few_clusters(4, 4, [2, 4, -1, -1])
    B = 24
    W = draw_weights("rademacher", B, 4, np.random.default_rng(4))
    p, ties = _wcr_p(Y, start, W, 0.0)
    assert ties >= 1 and np.all(W[0] == W[0, 0])  # tied draws, the first among them
    res = wild_bootstrap(Y, start, B=B, weights="rademacher", seed=4, ci=False)
    assert res["p_value"] == pytest.approx(p, abs=1e-12)


def test_rule_wild_interval_ends_where_the_bootstrap_test_starts_to_reject():
    """The WCR interval is the set of nulls beta0 whose bootstrap p-value is above alpha: just
    inside each end p > alpha, just outside p <= alpha (a p-value equal to alpha rejects; with
    20 draws p = 1/20 = 0.05 is reached). With six clusters and one treated unit the interval
    reaches more than 4 standard errors out on both sides, so its search must step outwards.
    Checked against refits of each bootstrap sample."""
    from analysis.impact.inference.wild import draw_weights, wild_bootstrap

    Y, start = _few_clusters(6, 5, [3, -1, -1, -1, -1, -1])
    B = 20
    W = draw_weights("rademacher", B, 6, np.random.default_rng(5))
    assert not np.any(np.all(W == W[:, :1], axis=1))  # no draw reproduces the sample (see the notes)
    res = wild_bootstrap(Y, start, B=B, weights="rademacher", seed=5, alpha=0.05)
    (lo, hi), b, se = res["ci"], res["estimate"], res["se"]
    assert lo < b - 4 * se and hi > b + 4 * se
    eps = 1e-3 * se
    for end, outward in ((lo, -1), (hi, 1)):
        assert _wcr_p(Y, start, W, end - outward * eps)[0] > 0.05
        assert _wcr_p(Y, start, W, end + outward * eps)[0] <= 0.05


# -- Callaway-Sant'Anna: the event study from 2x2 comparisons ---------------------------------------
def test_rule_cs_event_study_averages_two_by_two_comparisons_by_cohort_size():
    """Each point of the CS event study at event time e averages, over the cohorts seen e months
    from their start, the cohort's change from its base month minus the never-treated units'
    change, weighted by cohort size; the base month is g - 1 from the start on and t - 1 before
    it. A cohort of one unit counts like any other: the months only it reaches (e = 2, 3 here)
    are in the curve, and the ``dynamic`` overall effect is the mean of the curve over e >= 0.
    Checked against a hand computation of every 2x2 comparison."""
    from analysis import impact

    rng = np.random.default_rng(2)
    N, T = 7, 7
    start = np.array([3, 5, 5, -1, -1, -1, -1])
    Y = rng.normal(0, 1, (N, T))
    never = Y[start < 0].mean(0)
    curve = {}
    for e in range(-4, 4):
        num = den = 0.0
        for g in (3, 5):
            t = g + e
            b = g - 1 if e >= 0 else t - 1
            if not (0 <= b and t < T) or t == b:
                continue
            m = Y[start == g].mean(0)
            n_g = int((start == g).sum())
            num += n_g * ((m[t] - m[b]) - (never[t] - never[b]))
            den += n_g
        if den:
            curve[e] = num / den
    res = impact.estimate(_panel(Y, start), outcome="y", method="cs", n_perm=9, aggregation="dynamic")
    es = res.event_study.set_index("rel_period").estimate
    assert sorted(es.index) == sorted(curve) == list(range(-4, 4))
    assert es.to_dict() == pytest.approx(curve, abs=1e-12)
    assert res.att == pytest.approx(np.mean([v for e, v in curve.items() if e >= 0]), abs=1e-12)


def test_rule_wild_interval_is_unbounded_when_tied_draws_exceed_alpha():
    """With four clusters and Rademacher weights a draw in eight has all weights equal; it rebuilds
    the sample, so its |t*| ties with the observed |t| at every null beta0 and the p-value never
    falls below the share of such draws. When that share exceeds alpha no beta0 is rejected: the
    honest interval is the whole line, not an end found where rounding drops a tie."""
    from analysis.impact.inference.wild import draw_weights, wild_bootstrap

    Y, start = _few_clusters(4, 4, [2, 4, -1, -1])
    B = 40
    W = draw_weights("rademacher", B, 4, np.random.default_rng(1))
    share = np.mean(np.all(W == W[:, :1], axis=1))
    assert share > 0.05
    res = wild_bootstrap(Y, start, B=B, weights="rademacher", seed=1, alpha=0.05)
    assert res["ci"] == (-np.inf, np.inf)
    # with alpha below the tied share an interval exists again, and it is finite
    res = wild_bootstrap(Y, start, B=B, weights="rademacher", seed=1, alpha=0.2)
    assert share < 0.2 and all(np.isfinite(res["ci"]))


def test_rule_wild_interval_is_unbounded_when_no_far_null_is_rejected_even_without_ties():
    """Three clusters, one treated, Webb weights: no draw has all weights equal, yet as beta0
    grows the share of draws at least as extreme as the sample tends to a limit above alpha
    (checked by refits at 1e6 standard errors on both sides): no beta0 is rejected that far out,
    so the outward search gives up and the interval is unbounded, not cut where it stopped."""
    from analysis.impact.inference.wild import draw_weights, wild_bootstrap

    Y, start = _few_clusters(3, 4, [2, -1, -1])
    B = 40
    W = draw_weights("webb", B, 3, np.random.default_rng(6))
    assert not np.any(np.all(W == W[:, :1], axis=1))
    res = wild_bootstrap(Y, start, B=B, weights="webb", seed=6, alpha=0.05)
    b, se = res["estimate"], res["se"]
    assert _wcr_p(Y, start, W, b - 1e6 * se)[0] > 0.05 and _wcr_p(Y, start, W, b + 1e6 * se)[0] > 0.05
    assert res["ci"] == (-np.inf, np.inf)


def test_rule_wild_interval_is_bounded_when_tied_draws_are_exactly_alpha():
    """A p-value equal to alpha rejects: when the draws that tie at every null are exactly
    alpha x B (2 of 40 here, alpha = 0.05), a null where no other draw is as extreme gets
    p = alpha and is rejected, so the interval has ends; only a larger share leaves it unbounded."""
    from analysis.impact.inference.wild import draw_weights, wild_bootstrap

    Y, start = _few_clusters(6, 5, [2, -1, -1, -1, -1, -1])
    B = 40
    W = draw_weights("rademacher", B, 6, np.random.default_rng(0))
    n_const = int(np.all(W == W[:, :1], axis=1).sum())
    assert n_const == 2
    res = wild_bootstrap(Y, start, B=B, weights="rademacher", seed=0, alpha=n_const / B)
    lo, hi = res["ci"]
    assert np.isfinite(lo) and np.isfinite(hi) and lo < res["estimate"] < hi
