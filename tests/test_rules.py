"""One test per rule that decides a published number (issue 14).

Each test builds the smallest input on which that rule, and only it, decides the outcome, so
breaking the rule (a mutant, or a careless edit) fails the test by name. The end-to-end tests
check that the parts agree; these check that each part is right.
"""

from __future__ import annotations

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


# --- p-values and intervals -------------------------------------------------------------------

def test_rule_randomization_p_value_is_two_sided_with_the_plus_one():
    """p = (1 + #{|a_p| >= |estimate|}) / (n + 1): a reassignment as extreme on the other side counts."""
    from analysis.impact.randomization import invert

    a_p = np.array([-3.0, -2.0, 2.5, 0.1, -0.2, 0.3, 0.0, 0.5, -0.5, 0.4, 0.2, -0.1, 0.05, -0.05, 0.15, -0.15, 0.25,
                    -0.25, 0.35])
    out = invert(2.0, a_p, np.ones_like(a_p), alpha=0.05)
    assert out["p_value"] == pytest.approx((1 + 3) / 20)
    out = invert(-2.0, a_p, np.ones_like(a_p), alpha=0.05)
    assert out["p_value"] == pytest.approx((1 + 3) / 20)


def test_rule_randomization_interval_is_the_set_not_rejected_at_its_level():
    """The interval is every tau whose p-value, (1 + #{|a_p - tau b_p| >= |estimate - tau|}) /
    (n + 1), is above alpha; checked against brute force at two levels."""
    from analysis.impact.randomization import invert

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


def test_rule_ppml_p_value_has_the_plus_one_and_drops_unimputable_draws():
    from analysis.impact.ppml import _perm_p

    stats = np.array([0.5, 0.1, np.inf, np.nan, 0.3, 0.2])
    assert _perm_p(stats, 0.25) == pytest.approx((1 + 2) / (4 + 1))
    assert _perm_p(np.array([0.1, 0.2, 0.3]), 1.0) == pytest.approx(1 / 4)


def test_rule_webb_weights_take_their_six_values_equally_often():
    from analysis.impact.wild import WEBB, draw_weights

    assert sorted(np.round(WEBB ** 2, 12)) == sorted([1.5, 1.5, 1.0, 1.0, 0.5, 0.5])
    w = draw_weights("webb", 6000, 10, np.random.default_rng(0))
    vals, counts = np.unique(np.round(w, 12), return_counts=True)
    assert len(vals) == 6 and np.allclose(counts / w.size, 1 / 6, atol=0.01)
    assert abs(w.mean()) < 0.01 and w.var() == pytest.approx(1.0, abs=0.02)  # mean 0, variance 1


def test_rule_percent_is_effect_over_the_counterfactual_mean():
    """att_percent = 100 * att / (treated mean - att): the denominator is what would have been
    recorded, not what was."""
    from analysis.impact.result import ImpactResult

    r = ImpactResult(method="m", outcome="y", inference="x", att=-2.0, se=np.nan, ci_low=-3.0, ci_high=-1.0,
                     p_value=0.01, treated_mean=6.0, n_treated=1, n_control=1, n_pre=1, n_post=1, alpha=0.05)
    assert r.counterfactual_mean == pytest.approx(8.0)
    assert r.att_percent == pytest.approx(-25.0)
    assert r.ci_percent == pytest.approx((-37.5, -12.5))


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
    assert dict(zip(cols, vals))["Victims, 12 months before start"] == shown


def test_rule_headline_sets_the_effect_against_the_counterfactual():
    """'... fewer victims per sector per month against <counterfactual> expected': the mean that
    would have been recorded (treated mean - effect), not the recorded mean."""
    from analysis.impact.result import ImpactResult
    from analysis.report import content

    ctx = _city(6)
    r = ImpactResult(method="ppml", outcome="shootings", inference="randomization inference (99 reassignments)",
                     att=-2.0, se=np.nan, ci_low=-3.0, ci_high=-1.0, p_value=0.01, treated_mean=9.0, n_treated=1,
                     n_control=6, n_pre=12, n_post=24, alpha=0.05, extra={"n_treated_periods": 24})
    text = content.headline(r, ctx)
    assert "2.00 fewer victims per sector per month against 11.00 expected" in text
    assert "18.2% lower" in text  # -2 / 11
    assert "about **48 fewer victims** over 24 treated sector-months (interval −72 to −24)" in text
