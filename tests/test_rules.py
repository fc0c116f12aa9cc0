"""One test per rule that decides a published number (issue 14).

Each test builds the smallest input on which that rule, and only it, decides the outcome, so
breaking the rule (a mutant, or a careless edit) fails the test by name. The end-to-end tests
check that the parts agree; these check that each part is right.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest

from analysis.data import outcomes
from analysis.data.rollout import read_rollout, treat_start

# --- outcome classification -------------------------------------------------------------------

@pytest.mark.parametrize("row", list(outcomes.outcome_map().itertuples(index=False)), ids=lambda r: f"{r.source}:{r.crime}")
def test_rule_each_outcome_map_row_classifies_its_label(row):
    """Every row of outcome_map.csv maps its own (category, crime) to its outcome, whatever the
    accents, case and spacing of the release."""
    cat = "CATEGORIA CUALQUIERA" if row.category == "*" else row.category.lower()
    crime = "  " + row.crime.lower().replace(" ", "  ") + " "
    got = outcomes.classify(row.source, pd.Series([cat]), pd.Series([crime]))
    assert got.iloc[0] == row.outcome


def test_rule_a_crime_label_needs_its_category_when_the_map_gives_one():
    """fgj 'HOMICIDIO POR ARMA DE FUEGO' counts as a gun homicide under category HOMICIDIO DOLOSO
    or with no category column, never under another category; and the category alone never
    makes a record a gun homicide."""
    cat = pd.Series(["HOMICIDIO DOLOSO", "", "DELITO DE BAJO IMPACTO", "HOMICIDIO DOLOSO"])
    crime = pd.Series(["HOMICIDIO POR ARMA DE FUEGO"] * 3 + ["HOMICIDIO POR ARMA BLANCA"])
    got = outcomes.classify("fgj", cat, crime).tolist()
    assert got[:2] == ["gun_homicides", "gun_homicides"]
    assert pd.isna(got[2]) and pd.isna(got[3])


def test_rule_the_wildcard_category_matches_any_category_but_only_its_crime():
    cat = pd.Series(["HOMICIDIO DOLOSO", "DELITO DE BAJO IMPACTO", "", "X"])
    crime = pd.Series(["LESIONES DOLOSAS POR DISPARO DE ARMA DE FUEGO"] * 3 + ["LESIONES DOLOSAS POR ARMA BLANCA"])
    got = outcomes.classify("fgj", cat, crime).tolist()
    assert got[:3] == ["gun_injuries"] * 3 and pd.isna(got[3])


def test_rule_labels_of_another_source_do_not_apply():
    """An SSC label read as an FGJ file is not an outcome (sources have their own vocabularies)."""
    got = outcomes.classify("fgj", pd.Series(["*"]), pd.Series(["LESIONES POR ARMA DE FUEGO"]))
    assert pd.isna(got.iloc[0])


def test_rule_shootings_exist_only_when_both_gun_outcomes_do():
    """shootings = gun homicides + gun injuries, and only when a source gives both."""
    assert outcomes.outcome_columns({"gun_homicides", "gun_injuries"}) == ["gun_homicides", "gun_injuries", "shootings"]
    assert outcomes.outcome_columns({"gun_injuries", "all_homicides"}) == ["all_homicides", "gun_injuries"]
    both = outcomes.add_derived(pd.DataFrame({"gun_homicides": [1, 0, 2], "gun_injuries": [3, 1, 0]}))
    assert both.shootings.tolist() == [4, 1, 2]
    one = outcomes.add_derived(pd.DataFrame({"gun_injuries": [3, 1, 0]}))
    assert "shootings" not in one


# --- treat_start from the rollout -------------------------------------------------------------

def _rollout(tmp_path, rows: str):
    p = tmp_path / "rollout.csv"
    p.write_text("sector,component,start,end\n" + rows)
    return read_rollout(p)


def test_rule_a_sector_is_treated_from_its_earliest_component(tmp_path):
    """Components starting on different days: the sector starts with the first of them, in the
    month of that day (a start on the 20th counts the whole month)."""
    ro = _rollout(tmp_path, "S1,Justicia,2020-03-02,\nS1,Comunidad,2020-01-20,\nS1,Comunicación directa,2021-06-30,\n"
                            "S2,Justicia,2022-04-30,2023-01-31\n")
    ts = treat_start(ro)
    assert ts["S1"] == pd.Period("2020-01", "M")
    assert ts["S2"] == pd.Period("2022-04", "M")  # an end date does not end treatment (intention to treat)


def test_rule_the_end_column_is_optional(tmp_path):
    p = tmp_path / "rollout.csv"
    p.write_text("sector,component,start\nS1,Justicia,2020-03-02\n")
    ro = read_rollout(p)
    assert ro.end.isna().all() and treat_start(ro)["S1"] == pd.Period("2020-03", "M")


def test_rule_a_one_day_component_is_valid_but_an_end_before_its_start_is_not(tmp_path):
    from analysis.data.readers import InputError

    ro = _rollout(tmp_path, "S1,Justicia,2020-03-02,2020-03-02\n")  # starts and ends the same day
    assert len(ro) == 1
    with pytest.raises(InputError, match=r"row 1, column 'end': end 2020-03-01 is before start 2020-03-02"):
        _rollout(tmp_path, "S1,Justicia,2020-03-02,2020-03-01\n")


@pytest.mark.parametrize("rows,bad_row", [
    # a component still running (no end) cannot start again
    ("S1,Justicia,2020-01-01,\nS1,Justicia,2021-01-01,\n", 2),
    # a restart on the very day the previous period ended overlaps it
    ("S1,Justicia,2020-01-01,2020-06-30\nS1,Justicia,2020-06-30,\n", 2),
    # the third period overlaps the second, not the first
    ("S1,Justicia,2020-01-01,2020-02-01\nS1,Justicia,2020-03-01,2020-06-30\nS1,Justicia,2020-05-01,\n", 3),
])
def test_rule_periods_of_one_component_in_one_sector_may_not_overlap(tmp_path, rows, bad_row):
    from analysis.data.readers import InputError

    with pytest.raises(InputError, match=rf"row {bad_row}, column 'start': Justicia in sector S1 overlaps the period "
                                         rf"of row {bad_row - 1}"):
        _rollout(tmp_path, rows)


def test_rule_a_component_may_restart_after_it_ended(tmp_path):
    ro = _rollout(tmp_path, "S1,Justicia,2020-01-01,2020-06-30\nS1,Justicia,2020-07-01,\nS1,Comunidad,2020-02-01,\n")
    assert len(ro) == 3 and treat_start(ro)["S1"] == pd.Period("2020-01", "M")


# --- p-values and intervals -------------------------------------------------------------------

def test_rule_randomization_p_value_is_two_sided_with_the_plus_one():
    """p = (1 + #{|a_p| >= |estimate|}) / (n + 1): a reassignment as extreme on the other side counts."""
    from analysis.impact.inference.randomization import invert

    a_p = np.array([-3.0, -2.0, 2.0, 1.5, -0.2, 0.3, 0.0, 0.5, -0.5, 0.4, 0.2, -0.1, 0.05, -0.05, 0.15, -0.15, 0.25,
                    -0.25, 0.35])
    out = invert(2.0, a_p, np.ones_like(a_p), alpha=0.05)
    assert out["p_value"] == pytest.approx((1 + 3) / 20)  # -3, -2 and the tie 2.0; not 1.5
    out = invert(-2.0, a_p, np.ones_like(a_p), alpha=0.05)
    assert out["p_value"] == pytest.approx((1 + 3) / 20)


def test_rule_randomization_interval_is_the_set_not_rejected_at_its_level():
    """The interval is every tau whose p-value, (1 + #{|a_p - tau b_p| >= |estimate - tau|}) /
    (n + 1), is above alpha; checked against brute force at two levels."""
    from analysis.impact.inference.randomization import invert

    rng = np.random.default_rng(3)
    a_p = rng.normal(0, 1, 39)
    b_p = rng.uniform(-0.3, 0.3, 39)  # a reassignment's estimate on the observed treatment indicator
    est = 0.3
    grid = np.linspace(-8, 8, 32001)
    for alpha in (0.05, 0.10):
        lo, hi = invert(est, a_p, b_p, alpha=alpha)["ci"]
        p = (1 + (np.abs(a_p[:, None] - grid[None, :] * b_p[:, None]) >= np.abs(est - grid)[None, :] - 1e-12).sum(0)) / 40
        inside = grid[p > alpha]
        assert lo == pytest.approx(inside.min(), abs=5e-3) and hi == pytest.approx(inside.max(), abs=5e-3)
    wide = invert(est, a_p, b_p, alpha=0.05)["ci"]
    narrow = invert(est, a_p, b_p, alpha=0.10)["ci"]
    assert wide[0] < narrow[0] and narrow[1] < wide[1]


def _brute_interval(est, a_p, b_p, alpha, lo, hi, n=400001):
    grid = np.linspace(lo, hi, n)
    p = (1 + (np.abs(a_p[:, None] - grid[None, :] * b_p[:, None]) >= np.abs(est - grid)[None, :] - 1e-12).sum(0)) \
        / (len(a_p) + 1)
    inside = grid[p > alpha]
    return inside.min(), inside.max()


def test_rule_randomization_interval_follows_the_scale_of_the_draws():
    """The search grid is in units of the draws' spread: an effect measured in hundredths gets
    an interval as precise as one measured in units."""
    from analysis.impact.inference.randomization import invert

    rng = np.random.default_rng(4)
    a_p, b_p = rng.normal(0, 0.01, 39), rng.uniform(-0.3, 0.3, 39)
    lo, hi = invert(0.004, a_p, b_p, alpha=0.05)["ci"]
    blo, bhi = _brute_interval(0.004, a_p, b_p, 0.05, -1, 1)
    assert lo == pytest.approx(blo, abs=1e-4) and hi == pytest.approx(bhi, abs=1e-4)


def test_rule_randomization_interval_widens_its_search_until_both_ends_are_rejected():
    """Draws whose treatment estimate is close to the observed one's (b near 1) push the
    interval's ends far out: beyond the first grid of 10 spreads, which must widen on both sides."""
    from analysis.impact.inference.randomization import invert

    rng = np.random.default_rng(5)
    a_p, b_p = rng.normal(0, 1, 39), rng.uniform(-0.2, 0.2, 39)
    b_p[:3] = [0.97, 0.96, 0.95]
    out = invert(0.5, a_p, b_p, alpha=0.05)
    lo, hi = out["ci"]
    assert np.isfinite(lo) and np.isfinite(hi) and hi - lo > 20 * out["se"]
    blo, bhi = _brute_interval(0.5, a_p, b_p, 0.05, -400, 400, 800001)
    step = 2 * 100 * out["se"] / 4000  # the grid's resolution once widened to 100 spreads
    assert lo == pytest.approx(blo, abs=1.5 * step) and hi == pytest.approx(bhi, abs=1.5 * step)


@pytest.mark.parametrize("side", ["upper", "lower"])
@pytest.mark.parametrize("n_always", [1, 2])
def test_rule_randomization_interval_says_which_side_it_cannot_bound(n_always, side):
    """Draws with b = 1 and a below the estimate beat the observed statistic for every large tau
    and never for very negative ones. Two such draws among 39 keep p above 0.05 on the upper side
    only: that side is unbounded, the lower one is not. One keeps p at exactly 2/40 = 0.05 there,
    which rejects (p <= alpha): both sides bounded, as brute force finds."""
    from analysis.impact.inference.randomization import invert

    rng = np.random.default_rng(6)
    a_p, b_p = rng.normal(0, 1, 39), rng.uniform(-0.2, 0.2, 39)
    a_p[:n_always], b_p[:n_always] = -1.0, 1.0
    if side == "lower":  # the mirror image: the lower side is the one never rejected
        a_p, b_p = -a_p, b_p
    est = 0.5 if side == "upper" else -0.5
    out = invert(est, a_p, b_p, alpha=0.05)
    lo, hi = out["ci"] if side == "upper" else (-out["ci"][1], -out["ci"][0])
    a_p = a_p if side == "upper" else -a_p
    assert np.isfinite(lo)
    blo, bhi = _brute_interval(0.5, a_p, b_p, 0.05, -50, 50, 1000001)
    # the grid's resolution: 10 spreads when both ends reject at once, 1000 when one never does
    step = 2 * (1000 if n_always == 2 else 10) * out["se"] / 4000
    assert lo == pytest.approx(blo, abs=1.5 * step)
    if n_always == 2:
        assert hi == np.inf
    else:
        assert hi == pytest.approx(bhi, abs=1.5 * step)


def test_rule_ppml_p_value_has_the_plus_one_and_drops_unimputable_draws():
    from analysis.impact.inference.randomization import perm_p

    stats = np.array([0.5, 0.1, np.inf, np.nan, 0.3, 0.2])
    assert perm_p(stats, 0.25) == pytest.approx((1 + 2) / (4 + 1))
    assert perm_p(np.array([0.1, 0.2, 0.3]), 1.0) == pytest.approx(1 / 4)


def test_rule_webb_weights_take_their_six_values_equally_often():
    from analysis.impact.inference.wild import WEBB, draw_weights

    assert sorted(np.round(WEBB ** 2, 12)) == sorted([1.5, 1.5, 1.0, 1.0, 0.5, 0.5])
    w = draw_weights("webb", 6000, 10, np.random.default_rng(0))
    vals, counts = np.unique(np.round(w, 12), return_counts=True)
    assert len(vals) == 6 and np.allclose(counts / w.size, 1 / 6, atol=0.01)
    assert abs(w.mean()) < 0.01 and w.var() == pytest.approx(1.0, abs=0.02)  # mean 0, variance 1


def test_rule_percent_is_effect_over_the_counterfactual_mean():
    """att_percent = 100 * att / (treated mean - att): the denominator is what would have been
    recorded, not what was."""
    from analysis.impact.result import ImpactResult, InferenceRecord

    r = ImpactResult(method="m", outcome="y", inference=InferenceRecord("x", "x"), att=-2.0, se=np.nan, ci_low=-3.0, ci_high=-1.0,
                     p_value=0.01, treated_mean=6.0, n_treated=1, n_control=1, n_pre=1, n_post=1, alpha=0.05)
    assert r.counterfactual_mean == pytest.approx(8.0)
    assert r.att_percent == pytest.approx(-25.0)
    assert r.ci_percent == pytest.approx((-37.5, -12.5))
    r2 = dataclasses.replace(r, ci_high=-2.0, ci_low=-4.0)
    assert r2.ci_percent == pytest.approx((-50.0, -25.0))
    assert r.alpha == 0.05  # 95 % intervals unless asked otherwise


def test_rule_small_positive_counterfactuals_still_give_a_percent():
    """A counterfactual mean below one victim per sector-month (a quiet sector) is still positive:
    its percent change is defined; and the level is 95 % unless asked otherwise."""
    from analysis.impact.result import ImpactResult, InferenceRecord

    r = ImpactResult(method="m", outcome="y", inference=InferenceRecord("x", "x"), att=-0.25, se=np.nan, ci_low=-0.4, ci_high=-0.1,
                     p_value=0.01, treated_mean=0.25, n_treated=1, n_control=1, n_pre=1, n_post=1)
    assert r.counterfactual_mean == pytest.approx(0.5)
    assert r.att_percent == pytest.approx(-50.0) and r.ci_percent == pytest.approx((-80.0, -20.0))
    assert r.alpha == 0.05 and r.n_treated_periods == 0


@pytest.mark.parametrize("treated_mean,att", [(2.0, 2.0), (1.0, 2.0)])
def test_rule_no_percent_without_a_positive_counterfactual(treated_mean, att):
    """A counterfactual mean of zero or below has no percent change: NaN, never inf or a sign flip."""
    from analysis.impact.result import ImpactResult, InferenceRecord

    r = ImpactResult(method="m", outcome="y", inference=InferenceRecord("x", "x"), att=att, se=np.nan, ci_low=att - 1, ci_high=att + 1,
                     p_value=0.5, treated_mean=treated_mean, n_treated=1, n_control=1, n_pre=1, n_post=1)
    assert np.isnan(r.att_percent) and all(np.isnan(v) for v in r.ci_percent)
    assert np.isnan(r.to_frame().att_percent.iloc[0])


def test_rule_normal_interval_and_p_value():
    """z_interval: att -/+ z(1 - alpha/2) se and the two-sided normal p-value; none without an s.e."""
    from scipy.stats import norm

    from analysis.impact.result import z_interval

    lo, hi, p = z_interval(-2.0, 0.5, 0.05)
    assert (lo, hi) == pytest.approx((-2.0 - 1.959964 * 0.5, -2.0 + 1.959964 * 0.5), abs=1e-6)
    assert p == pytest.approx(2 * norm.sf(4.0))
    lo, hi, p = z_interval(1.0, 2.0, 0.10)
    assert (lo, hi) == pytest.approx((1.0 - 1.644854 * 2.0, 1.0 + 1.644854 * 2.0), abs=1e-6)
    assert p == pytest.approx(2 * norm.sf(0.5))
    assert np.isnan(z_interval(1.0, 0.0, 0.05)[2])


def test_rule_treated_sector_months_are_the_field_estimate_fills():
    from analysis.impact.result import ImpactResult, InferenceRecord

    cf = pd.DataFrame({"unit": ["A"] * 4, "period": range(4), "observed": 1, "counterfactual": 1.0,
                       "treated": [False, True, True, True]})
    base = dict(method="m", outcome="y", inference=InferenceRecord("randomization", "x"), att=-1.0, se=0.2, ci_low=-1.4, ci_high=-0.6, p_value=0.01,
                treated_mean=3.0, n_treated=1, n_control=1, n_pre=1, n_post=3, n_treated_periods=7)
    assert ImpactResult(**base, counterfactual=cf).n_treated_periods == 7
    row = ImpactResult(**base, counterfactual=cf, notes=["first", "second"]).to_frame().iloc[0]
    assert row.n_treated_periods == 7 and row.inference == "x" and row.notes == "first | second" and row.att_percent == pytest.approx(-25.0)
    assert "event_study" not in row.index and "counterfactual" not in row.index and row.method == "m"
    text = ImpactResult(**base, notes=["first", "second"]).summary()
    assert text.splitlines()[-2:] == ["  note: first", "  note: second"]


# --- disclosure ------------------------------------------------------------------------------

@pytest.mark.parametrize("count,small", [(0, False), (1, True), (4, True), (4.0000001, True), (5, False), (12, False)])
def test_rule_counts_from_one_to_four_are_small(count, small):
    from analysis.report.disclosure import is_small

    assert is_small(count) is small


# --- input fingerprints ----------------------------------------------------------------------

def test_rule_input_hash_covers_the_whole_file(tmp_path):
    """Two files that differ only after their first MiB have different fingerprints, equal to
    hashlib's over the whole file."""
    from analysis.data.geography import sha256

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB
    a.write_bytes(body)
    b.write_bytes(body[:-1] + b"\x00")
    assert sha256(a) == hashlib.sha256(body).hexdigest()
    assert sha256(a) != sha256(b)


# --- what the report prints ------------------------------------------------------------------

def _city(pre_count: int):
    """One treated sector A (start 2021-01) with ``pre_count`` shootings in the 12 months before
    its start and 9 a month after; six comparison sectors with 6 a month."""
    months = pd.period_range("2020-01", "2022-12", freq="M")
    rows = []
    for u in ["A"] + [f"K{i}" for i in range(6)]:
        for m in months:
            if u == "A":
                y = (pre_count if m == pd.Period("2020-06", "M") else 0) if m < pd.Period("2021-01", "M") else 9
            else:
                y = 6
            rows.append({"unit": u, "period": m, "shootings": y,
                         "treat_start": pd.Period("2021-01", "M") if u == "A" else pd.NaT})
    p = pd.DataFrame(rows)
    p["treat_start"] = p.treat_start.astype("period[M]")
    from analysis.report import content

    return content.Context(quarter=pd.Period("2022Q4", "Q"), panel=p, audit={}, demo=None)


@pytest.mark.parametrize("pre,shown", [(3, "<5"), (4, "<5"), (5, "5"), (0, "0")])
def test_rule_every_column_of_the_sector_table_suppresses_one_to_four(pre, shown):
    """The '12 months before start' column, like the others, prints 1-4 as '<5'."""
    from analysis.report import content

    table = content.sector_table(_city(pre), "shootings")
    header, _, row = table.splitlines()[:3]
    cols = [c.strip() for c in header.strip("|").split("|")]
    vals = [c.strip() for c in row.strip("|").split("|")]
    assert dict(zip(cols, vals))["Victims, 12 months before start (rate)"].split(" (")[0] == shown


def test_rule_headline_sets_the_effect_against_the_counterfactual():
    """'... fewer victims per sector per month against <counterfactual> expected': the mean that
    would have been recorded (treated mean - effect), not the recorded mean."""
    from analysis.impact.result import ImpactResult, InferenceRecord
    from analysis.report import content

    ctx = _city(6)
    r = ImpactResult(method="ppml", outcome="shootings", inference=InferenceRecord("randomization", "randomization inference (99 reassignments)"),
                     att=-2.0, se=np.nan, ci_low=-3.0, ci_high=-1.0, p_value=0.01, treated_mean=9.0, n_treated=1,
                     n_control=6, n_pre=12, n_post=24, alpha=0.05, n_treated_periods=24)
    text = content.headline(r, ctx)
    assert "2.00 fewer victims per sector per month against 11.00 expected" in text
    assert "18.2% lower" in text  # -2 / 11
    assert "about **48 fewer victims** over 24 treated sector-months (interval: 24 to 72 fewer)" in text


def test_rule_assumptions_paragraph_takes_its_figures_from_the_validation_table():
    """The paragraph on parallel trends prints the headline under both readings and the
    validation study's figures as they are in its table, never typed by hand."""
    from analysis.impact.result import ImpactResult, InferenceRecord
    from analysis.report import content

    ctx = _city(6)

    def res(method, att):
        return ImpactResult(method=method, outcome="shootings", inference=InferenceRecord("placebo", "placebo inference (99 draws)"), att=att,
                            se=np.nan, ci_low=att - 1, ci_high=att + 0.5, p_value=0.02, treated_mean=9.0, n_treated=1,
                            n_control=6, n_pre=12, n_post=24, alpha=0.05)

    rows = []
    for sc, m, est, cov, rej in [("zero", "ppml", 0.3, 0.951, 0.043), ("zero", "imputation", -12.0, 0.4, 0.61),
                                 ("constant", "ppml", -24.6, 0.947, 1.0), ("constant", "imputation", -36.2, 0.7, 1.0),
                                 ("constant", "sdid", -33.3, 0.6, 1.0), ("constant", "sc", -21.9, 0.8, 1.0)]:
        rows.append({"scenario": sc, "method": m, "cities": 321, "truth_percent": 0.0 if sc == "zero" else -25.0,
                     "mean_estimate": est, "coverage": cov, "rejects": rej})
    table = pd.DataFrame(rows).set_index(["scenario", "method"])
    text = content.assumptions_text(res("ppml", -2.0), res("imputation", -3.0), ctx, table)
    assert "the change is **−18.2%**" in text and "it is **−25.0%**" in text  # -2/11 and -3/12
    for piece in ["on 321 simulated cities", "a true fall of 25%", "at −24.6% on average", "in 94.7% of cities",
                  "additive imputation at −36.2%", "SDID: −33.3%", "errs the other way: −21.9%",
                  "found one in 4.3% of cities", "additive imputation's in 61%"]:
        assert piece in text, piece
    assert "simulated cities" not in content.assumptions_text(res("ppml", -2.0), res("imputation", -3.0), ctx, None)
