"""Disclosure rules on small hand-made cities (issue 8): each test builds the case where one rule,
and only it, decides whether a count from 1 to 4 can be worked out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.report import content
from analysis.report import disclosure as dc

MONTHS = pd.period_range("2020-01", "2022-12", freq="M")
QUARTER = pd.Period("2022Q4", "Q")


def _ctx(counts: dict[str, object], starts: dict[str, str], n_controls: int = 6) -> content.Context:
    """``counts[unit]`` is a function of the month (Period) giving the unit's shootings."""
    rows = []
    units = list(counts) + [f"K{i}" for i in range(n_controls)]
    for u in units:
        f = counts.get(u, lambda m: 6)
        for m in MONTHS:
            rows.append({"unit": u, "period": m, "shootings": int(f(m)),
                         "treat_start": pd.Period(starts[u], "M") if u in starts else pd.NaT})
    p = pd.DataFrame(rows)
    p["treat_start"] = p.treat_start.astype("period[M]")
    return content.Context(quarter=QUARTER, panel=p, audit={}, demo=None)


def _reader(ctx) -> list[dc.Aggregate]:
    """What a reader gets: the program's total and each shown sector's total (their estimates:
    mean x sector-months) and every count the sector table shows."""
    p = ctx.panel
    rows, cells, hide = content.sector_table_cells(ctx, "shootings")
    hidden = dc.hidden_sectors(p, "shootings")
    out = []
    if not content.hidden(ctx, "shootings"):
        c = dc.cells_of(p, ctx.treated_sectors, from_start=True)
        out.append(dc.Aggregate("program", c, dc.total_of(p, "shootings", c)))
    for u in ctx.treated_sectors:
        if u not in hidden:
            c = dc.cells_of(p, [u], from_start=True)
            out.append(dc.Aggregate(u, c, dc.total_of(p, "shootings", c)))
    return out + [c for c in cells if c.label not in hide]


def test_primary_small_total_hides_the_sector():
    """Rule: a sector with 1 to 4 victims since its start publishes no estimate."""
    ctx = _ctx({"A": lambda m: 1 if m == pd.Period("2021-03", "M") else 0, "B": lambda m: 9}, {"A": "2021-01", "B": "2021-01"})
    assert dc.hidden_sectors(ctx.panel, "shootings")["A"] == "primary"
    assert dc.find_disclosures(_reader(ctx)) == []


def test_secondary_suppression_when_the_program_total_would_give_the_hidden_one_away():
    """Rule: hidden sectors together must hold 0 or at least 5 victims, else one more is hidden."""
    ctx = _ctx({"A": lambda m: 1 if m == pd.Period("2021-03", "M") else 0, "B": lambda m: 1,
                "D": lambda m: 5}, {"A": "2021-01", "B": "2021-01", "D": "2021-01"})
    h = dc.hidden_sectors(ctx.panel, "shootings")
    assert h == {"A": "primary", "B": "secondary"}
    assert dc.find_disclosures(_reader(ctx)) == []


def test_table_counts_inside_a_published_total():
    """The reviewer's complement: first 12 months (20) + the quarter (10) inside the sector's
    published total (33) leave 3 victims in 2022-01..09."""
    def c_counts(m):
        if m < pd.Period("2021-01", "M"):
            return 2
        if m <= pd.Period("2021-12", "M"):
            return 20 if m.month == 6 else 0
        if m <= pd.Period("2022-09", "M"):
            return 3 if m.month == 5 else 0
        return 10 if m.month == 11 else 0

    ctx = _ctx({"C": c_counts, "D": lambda m: 5}, {"C": "2021-01", "D": "2021-01"})
    rows, cells, hide = content.sector_table_cells(ctx, "shootings")
    assert any(v == "n/p" for k, v in hide.items() if k.startswith("C "))
    assert dc.find_disclosures(_reader(ctx)) == []
    # without the table's protection the reader would find the 3
    everything = _reader(ctx) + [c for c in cells if c.label in hide]
    assert any(": 3" in d for d in dc.find_disclosures(everything))


def test_table_counts_of_hidden_sectors_cannot_undo_their_suppression():
    """The reviewer's second case: A (1 victim) and B (13) hidden; the program's 134 less D's
    120 gives 14, and the table's counts of A and B must not bring it down to 1-4."""
    def a(m):
        return 1 if m == pd.Period("2021-05", "M") else 0

    def b(m):
        if m < pd.Period("2021-01", "M"):
            return 0
        if m <= pd.Period("2021-12", "M"):
            return 6 if m.month == 4 else 0
        if m <= pd.Period("2022-09", "M"):
            return 1 if m.month in (2,) else 0
        return 6 if m.month == 10 else 0

    ctx = _ctx({"A": a, "B": b, "D": lambda m: 5}, {"A": "2021-01", "B": "2021-01", "D": "2021-01"})
    assert set(dc.hidden_sectors(ctx.panel, "shootings")) == {"A", "B"}
    assert dc.find_disclosures(_reader(ctx)) == []


@pytest.mark.parametrize("seed", range(25))
def test_random_small_cities_leak_nothing(seed):
    """Random cities with sparse counts: whatever the reader combines, nothing from 1 to 4."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    starts = {f"T{i}": str(pd.Period("2020-06", "M") + int(rng.integers(0, 24))) for i in range(n)}
    lam = {u: float(rng.choice([0.02, 0.1, 0.3, 1.0, 3.0])) for u in starts}
    draws = {u: dict(zip(MONTHS, rng.poisson(lam[u], len(MONTHS)))) for u in starts}
    ctx = _ctx({u: (lambda m, d=draws[u]: d[m]) for u in starts}, starts)
    assert dc.find_disclosures(_reader(ctx)) == [], (seed, lam)


def test_finder_sees_differences_and_remainders():
    a = dc.Aggregate("a", frozenset({1, 2, 3}), 10)
    b = dc.Aggregate("b", frozenset({1, 2}), 7)
    c = dc.Aggregate("c", frozenset({1}), 3)
    assert dc.find_disclosures([a, b]) == ["a minus b: 3"]
    assert "c: total 3" in dc.find_disclosures([c])
    d = dc.Aggregate("d", frozenset({1, 2, 3, 4}), 20)
    e = dc.Aggregate("e", frozenset({1, 2}), 9)
    f = dc.Aggregate("f", frozenset({3}), 8)
    assert any(x.startswith("d minus e, f: 3") for x in dc.find_disclosures([d, e, f]))
    assert dc.find_disclosures([dc.Aggregate("z", frozenset({1}), 0), dc.Aggregate("y", frozenset({1, 2}), 5)]) == []


@pytest.mark.parametrize("name", ["ZAP<img src=x onerror=alert(1)>", "@ZONA", "Sector $1$", "A|B", "x_y*z", "#1 [a](b)"])
def test_names_from_the_data_stay_text_in_html_and_pdf(name):
    """Rule: a name from the data is text in both renderings: no tag, no citation (pandoc reads
    '@ZONA' as one and the PDF fails), no maths, no table cell, no emphasis, no link."""
    import pypandoc
    from nbconvert.filters.markdown import markdown2html

    md = f"In sector {content.md_escape(name)} the count fell."
    html = markdown2html(md)
    assert "<img" not in html and "<em>" not in html and "<a " not in html and "<td" not in html
    typ = pypandoc.convert_text(md, "typst", format="markdown-raw_html-markdown_in_html_blocks")
    assert "#cite" not in typ and "$" not in typ.replace("\\$", "")
    import html as h

    assert name in h.unescape(re_text(html))


def re_text(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", html)


def test_rule_published_results_files_are_read_as_the_totals_they_reveal(tmp_path):
    """program.csv, sector_*.csv and spillover.csv each reveal mean x sector-months; suppressed
    rows reveal nothing; the same total over the same cells counts once; a small neighbours'
    total is flagged as it stands, and a difference of published totals is found."""
    ctx = _ctx({"A": lambda m: 1 if m >= pd.Period("2022-10", "M") else 6, "B": lambda m: 6},
               {"A": "2022-10", "B": "2022-10"})
    d = tmp_path
    pd.DataFrame([{"method": "ppml", "treated_mean": 21 / 6, "n_treated_periods": 6},
                  {"method": "sdid", "treated_mean": 21 / 6, "n_treated_periods": 6}]).to_csv(d / "program.csv", index=False)
    pd.DataFrame([{"treated_mean": 6.0, "n_treated_periods": 3, "suppressed": False}]).to_csv(d / "sector_b.csv", index=False)
    pd.DataFrame([{"treated_mean": 1.0, "n_treated_periods": 3, "suppressed": True}]).to_csv(d / "sector_a.csv", index=False)
    pd.DataFrame([{"group": "treated (neighbours not used as controls)", "treated_mean": 21 / 6, "n_treated_periods": 6},
                  {"group": "neighbours of treated sectors", "treated_mean": 2 / 4, "n_treated_periods": 4}]
                 ).to_csv(d / "spillover.csv", index=False)
    stems = {"A": "a", "B": "b"}
    aggs, small = dc.published_aggregates(d, ctx.panel, ["A", "B"], stems)
    assert [a.label for a in aggs] == ["program.csv ppml", "program.csv sdid", "sector_b.csv",
                                       "spillover.csv (program sectors)"]
    assert [a.total for a in aggs] == [21.0, 21.0, 18.0, 21.0]
    assert len(aggs[0].cells) == 6 and len(aggs[2].cells) == 3
    assert small == ["spillover.csv row 2: total 2"]
    found = dc.check_published(d, ctx.panel, ["A", "B"], stems)
    assert found == ["spillover.csv row 2: total 2", "program.csv ppml minus sector_b.csv: 3"]
    # a table count given with the results adds its own way in; a missing file adds nothing
    extra = [dc.Aggregate("table A 2022-10", frozenset({("A", pd.Period("2022-10", "M").ordinal)}), 1.0)]
    assert "table A 2022-10" in " ".join(dc.check_published(d, ctx.panel, ["A", "B"], stems, extra))
    (d / "spillover.csv").unlink()
    assert dc.check_published(d, ctx.panel, ["A", "B"], stems) == ["program.csv ppml minus sector_b.csv: 3"]


def test_rule_total_of_no_cells_is_zero_and_recorded_total_is_mean_times_months():
    from types import SimpleNamespace

    p = _ctx({"A": lambda m: 2}, {"A": "2022-10"}).panel
    assert dc.total_of(p, "shootings", frozenset()) == 0.0
    assert dc.recorded_total(SimpleNamespace(treated_mean=2.5, n_treated_periods=4)) == 10.0


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_the_cell_index_follows_a_panel_changed_in_place(demo_panel):
    """The cells of a panel are indexed once and kept while it lives; a panel sorted or given
    other starts in place gets the totals and cells of what it now holds."""
    from analysis.report import disclosure

    p = demo_panel.copy()
    units = sorted(p.unit.unique())[:3]
    first, last = p.period.min() + 5, p.period.min() + 20
    cells = disclosure.cells_of(p, units, first, last)
    assert len(cells) == 3 * 16
    total = disclosure.total_of(p, "shootings", cells)
    assert total == p[p.unit.isin(units) & p.period.between(first, last)].shootings.sum()
    p.sort_values(["period", "unit"], inplace=True, ignore_index=True)  # what a user may do
    p["shootings"] = p.shootings.to_numpy()[::-1]  # the same cells now hold other counts
    fresh = p.copy()
    assert disclosure.total_of(p, "shootings", cells) == disclosure.total_of(fresh, "shootings", cells)
    treated = p.loc[p.treat_start.notna(), "unit"].iloc[0]
    before = disclosure.cells_of(p, [treated], from_start=True)
    p["treat_start"] = p.treat_start.where(p.unit != treated, p.period.min() + 3)
    after = disclosure.cells_of(p, [treated], from_start=True)
    assert after == disclosure.cells_of(p.copy(), [treated], from_start=True) and len(after) > len(before)
    with pytest.raises(ValueError, match="not a month"):
        disclosure.cells_of(p, units, pd.Period("2020Q1", "Q"))
