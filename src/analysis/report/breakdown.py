"""The headline taken apart: this quarter and the trend, each outcome, each start cohort, rates per
100,000 inhabitants, and who the victims were (sex and age).

Every table is computed from the headline estimate's own cells or from the panel, written to a
results file (``analysis.report.results_files``) and shown with counts from 1 to 4 suppressed
(and any count that would give one away, ``disclosure.suppress_cells``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.evaluation.trend import averted_interval, trend_table, window_effect
from analysis.report import disclosure
from analysis.report.content import (
    Context,
    fmt_num,
    fmt_p,
    fmt_pct,
    hidden,
    md_escape,
    outcome_name,
    pipe_table,
    record_noun,
    window_suppression,
)

NP = "n/p"  # not published: the cell would reveal a count from 1 to 4


# -- this quarter and the trend ----------------------------------------------------------------
def trend_rows(main, ctx: Context) -> pd.DataFrame:
    """``evaluation.trend.trend_table`` of the headline, with ``suppressed`` for rows whose
    recorded total would reveal a count from 1 to 4; the cumulative row carries the headline's
    own interval (test inversion) rather than the draws' spread."""
    t = trend_table(main)
    hide = window_suppression(ctx, main.outcome)
    t["suppressed"] = [f"trend:{r.label}" in hide for r in t.itertuples()]
    cum = t.window == "cumulative"
    lo, hi = main.ci_percent
    t.loc[cum, ["ci_low", "ci_high"]] = [lo, hi]
    exp = t.loc[cum, "expected"].iloc[0] if cum.any() else np.nan
    t.loc[cum, "averted_low"], t.loc[cum, "averted_high"] = averted_interval(exp, lo, hi)
    return t


def trend_md(t: pd.DataFrame, noun: str, quarter: str) -> tuple[str, str]:
    """(sentence, table) for the trend rows."""
    name = {
        "quarter": f"This quarter ({quarter})",
        "four_quarters": "Last four quarters",
        "cumulative": "Since the start",
    }
    rows = []
    for r in t.itertuples():
        label = name.get(r.window, r.label) + (f" ({r.label})" if r.window == "four_quarters" else "")
        if r.suppressed:
            rows.append(
                {
                    "Period": label,
                    "Sector-months": f"{r.cells:,}",
                    "Effect": NP,
                    "95% interval": NP,
                    f"{noun.capitalize()} averted": NP,
                    "Interval": NP,
                }
            )
            continue
        rows.append(
            {
                "Period": label,
                "Sector-months": f"{r.cells:,}",
                "Effect": fmt_pct(r.percent),
                "95% interval": f"{fmt_pct(r.ci_low)} to {fmt_pct(r.ci_high)}",
                f"{noun.capitalize()} averted": fmt_num(r.averted, 0),
                "Interval": f"{fmt_num(r.averted_low, 0)} to {fmt_num(r.averted_high, 0)}",
            }
        )
    q = t[t.window == "quarter"]
    four = t[t.window == "four_quarters"]
    years = t[t.window == "year"]
    text = []
    if not q.empty and not q.suppressed.iloc[0]:
        r = q.iloc[0]
        text.append(
            f"**In {quarter}** the program's sectors recorded {abs(r.percent):.1f}% "
            f"{'fewer' if r.percent < 0 else 'more'} {noun} than the counterfactual (effect {fmt_pct(r.percent)}, 95% "
            f"interval {fmt_pct(r.ci_low)} to {fmt_pct(r.ci_high)}): about {fmt_num(abs(r.averted), 0)} {noun} "
            f"{'averted' if r.averted >= 0 else 'more than expected'} in the quarter."
        )
    elif not q.empty:
        text.append(f"The estimate for {quarter} alone is not published: too few {noun} were recorded.")
    if not four.empty and not four.suppressed.iloc[0]:
        r = four.iloc[0]
        text.append(
            f"Over the last four quarters the effect was {fmt_pct(r.percent)} ({fmt_pct(r.ci_low)} to "
            f"{fmt_pct(r.ci_high)})."
        )
    full = years[(~years.suppressed) & (years.cells >= years.cells.max())]
    if len(full) >= 2:
        low, high = full.loc[full.percent.idxmin()], full.loc[full.percent.idxmax()]
        apart = low.ci_high < high.ci_low
        text.append(
            f"In the years with every program sector in it, the effect ranged from {fmt_pct(low.percent)} "
            f"({low.label}) to {fmt_pct(high.percent)} ({high.label})"
            + (
                "; those two intervals do not overlap, so the effect did change from year to year."
                if apart
                else "; their intervals overlap, so these data show no clear fading or strengthening."
            )
        )
    text.append(
        "Intervals of single periods come from the spread of the same period's effect over the headline's "
        "placebo draws (normal approximation); the cumulative row repeats the headline's own interval."
    )
    return " ".join(text), pipe_table(pd.DataFrame(rows), align="lrrrrr")


# -- outcomes ----------------------------------------------------------------------------------
def outcome_rows(results: dict, ctx: Context) -> pd.DataFrame:
    """One row per outcome from PPML results keyed by outcome: percent, interval, p, victims averted."""
    rows = []
    for outcome, r in results.items():
        T = len(r.periods)
        w = window_effect(r, 0, T - 1)
        lo, hi = r.ci_percent
        obs = w["observed"]
        rows.append(
            {
                "outcome": outcome,
                "suppressed": hidden(ctx, outcome),
                "percent": r.att_percent,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": r.p_value,
                "p_floor": r.inference.min_p_value,
                "observed": obs,
                "expected": w["expected"],
                "averted": w["expected"] - obs,
                "averted_low": averted_interval(w["expected"], lo, hi)[0],
                "averted_high": averted_interval(w["expected"], lo, hi)[1],
                "inference": r.inference.label,
                "n_draws": r.inference.n_draws,
            }
        )
    return pd.DataFrame(rows)


def outcome_md(t: pd.DataFrame, ctx: Context) -> str:
    noun = record_noun(ctx)
    rows = []
    for r in t.itertuples():
        name = outcome_name(ctx, r.outcome)[0]
        name = name[0].upper() + name[1:]
        if r.suppressed:
            rows.append(
                {
                    "Outcome": name,
                    "Effect": NP,
                    "95% interval": NP,
                    "p-value": NP,
                    "Smallest possible p": NP,
                    f"{noun.capitalize()} averted (interval)": NP,
                }
            )
            continue
        rows.append(
            {
                "Outcome": name,
                "Effect": fmt_pct(r.percent),
                "95% interval": f"{fmt_pct(r.ci_low)} to {fmt_pct(r.ci_high)}",
                "p-value": fmt_p(r.p_value, r.p_floor).removeprefix("p = ").replace("p ", ""),
                "Smallest possible p": f"{r.p_floor:.3f}" if r.p_floor else "—",
                f"{noun.capitalize()} averted (interval)": f"{fmt_num(r.averted, 0)} ({fmt_num(r.averted_low, 0)} to "
                f"{fmt_num(r.averted_high, 0)})",
            }
        )
    return pipe_table(pd.DataFrame(rows), align="lrrrrr")


# -- cohorts -----------------------------------------------------------------------------------
def cohort_rows(main, ctx: Context) -> pd.DataFrame:
    """``main.aggregate('cohort')`` with the sectors of each cohort and suppression."""
    t = main.aggregate("cohort")
    starts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    t["sectors"] = [", ".join(sorted(starts.index[starts.astype(str) == g])) for g in t.group]
    hide = window_suppression(ctx, main.outcome)
    t["suppressed"] = [f"cohort:{g}" in hide for g in t.group]
    return t


def cohort_md(t: pd.DataFrame) -> str:
    rows = []
    for r in t.itertuples():
        n = len(r.sectors.split(", "))
        who = r.sectors if n <= 3 else f"{n} sectors"
        shown = not r.suppressed
        rows.append(
            {
                "Start": r.group,
                "Sectors": md_escape(who),
                "Sector-months": f"{r.cells:,}",
                "Effect": fmt_pct(r.estimate) if shown else NP,
                "95% interval": f"{fmt_pct(r.ci_low)} to {fmt_pct(r.ci_high)}" if shown else NP,
            }
        )
    return pipe_table(pd.DataFrame(rows), align="llrrr")


# -- rates -------------------------------------------------------------------------------------
def rate_rows(main, ctx: Context) -> pd.DataFrame:
    """Victims per 100,000 inhabitants per year: the program's sectors in the 12 months before
    each start, since the start (recorded, and expected without the program), and the other
    sectors over the same months. Needs the sectors' population (NaN without it)."""
    p = ctx.panel
    if "population" not in p:
        return pd.DataFrame()
    pop = p.drop_duplicates("unit").set_index("unit").population.astype(float)
    outcome = main.outcome
    treated = ctx.treated_sectors
    if pop.reindex(treated).isna().any() or not treated:
        return pd.DataFrame()

    def rate(victims: float, person_months: float) -> float:
        return 100_000 * 12 * victims / person_months if person_months > 0 else np.nan

    pm = p.unit.map(pop).to_numpy()
    tr = p.unit.isin(treated).to_numpy()
    post = (p.treat_start.notna() & (p.period >= p.treat_start)).to_numpy()
    pre = (p.treat_start.notna() & (p.period < p.treat_start) & (p.period >= p.treat_start - 12)).to_numpy()
    y = p[outcome].to_numpy(float)
    T = len(main.periods)
    w = window_effect(main, 0, T - 1)
    first = p.treat_start.min()
    others = (~tr) & (p.period >= first).to_numpy()
    others_pre = (~tr) & (p.period < first).to_numpy() & (p.period >= first - 12).to_numpy()
    rows = [
        ("program_before", "Program sectors, 12 months before each start", y[pre].sum(), pm[pre].sum()),
        ("program_since", "Program sectors since each start (recorded)", y[post].sum(), pm[post].sum()),
        (
            "program_expected",
            "Program sectors since each start (expected without the program)",
            w["expected"],
            pm[post].sum(),
        ),
        ("others_before", f"Other sectors, 12 months before {first}", y[others_pre].sum(), pm[others_pre].sum()),
        ("others_since", f"Other sectors, {first} to {p.period.max()}", y[others].sum(), pm[others].sum()),
    ]
    out = pd.DataFrame(
        [
            {"row": k, "label": lab, "victims": v, "person_months": m, "rate_per_100k_year": rate(v, m)}
            for k, lab, v, m in rows
        ]
    )
    # the program's count before the starts is the sector table's first column summed: withheld
    # with it (``content.window_suppression``); the others only when they are 1 to 4
    before_hidden = "rates:before" in window_suppression(ctx, outcome)
    out["withheld"] = [
        bool((r == "program_before" and before_hidden) or disclosure.is_small(v)) for r, v in zip(out.row, out.victims)
    ]
    return out


def rate_md(t: pd.DataFrame, noun: str) -> str:
    if t.empty:
        return "Rates need each sector's population, which the geography file does not give."
    note = (
        "\n\n*These raw rates are not the estimate: the windows differ (the program's sectors started at different "
        "times) and a city-wide change moves both groups. The estimate compares each program sector with its own "
        "prediction, month by month.*"
    )
    out = pd.DataFrame(
        {
            "": [md_escape(x) for x in t.label],
            f"{noun.capitalize()}": [NP if w else f"{v:,.0f}" for v, w in zip(t.victims, t.withheld)],
            "Per 100,000 inhabitants per year": [
                NP if w else fmt_num(r, 1) for r, w in zip(t.rate_per_100k_year, t.withheld)
            ],
        }
    )
    return pipe_table(out, align="lrr") + note


# -- who the victims were ----------------------------------------------------------------------
SEXES = {"female": "Women", "male": "Men", "unknown": "Not recorded"}


def victims_by_group(ctx: Context, outcome: str) -> pd.DataFrame | None:
    """The audit's victims by sector, month, sex and age group, as a table (None when the source
    gives neither sex nor age). Outcome 'shootings' sums gun homicides and gun injuries."""
    v = ctx.audit.get("victims_by_group")
    if not v:
        return None
    t = pd.DataFrame(v["rows"], columns=v["columns"])
    parts = ("gun_homicides", "gun_injuries") if outcome == "shootings" else (outcome,)
    t = t[t.outcome.isin(parts)].copy()
    t["period"] = pd.PeriodIndex(t.month, freq="M")
    return t


def sex_age_rows(ctx: Context, outcome: str) -> pd.DataFrame:
    """Victims in the program's sectors since each start, by sex and age group, with the cells
    to hide (1 to 4, and any that the totals would give away)."""
    t = victims_by_group(ctx, outcome)
    if t is None or t.empty:
        return pd.DataFrame()
    starts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    t = t[t.unit.isin(starts.index)]
    t = t[t.period >= t.unit.map(starts)]
    end = ctx.quarter.asfreq("M", "end")
    t = t[t.period <= end]
    from analysis.data.panel import AGE_GROUPS

    ages = [a for *_, a in AGE_GROUPS] + ["unknown"]
    sexes = list(SEXES)
    counts = t.groupby(["sex", "age_group"]).victims.sum()
    universe = {
        (u, m.ordinal)
        for u, m in zip(ctx.panel.unit, ctx.panel.period)
        if u in starts.index and m >= starts[u] and m <= end
    }
    aggs = [
        disclosure.Aggregate(f"{s}|{a}", frozenset((u, m, s, a) for u, m in universe), float(counts.get((s, a), 0)))
        for s in sexes
        for a in ages
    ]
    # the row and column totals are published too: they may give a hidden cell away
    fixed = [
        disclosure.Aggregate(
            f"{s}|all",
            frozenset((u, m, s, a) for u, m in universe for a in ages),
            float(counts.xs(s, level="sex").sum()) if s in counts.index.get_level_values(0) else 0.0,
        )
        for s in sexes
    ] + [
        disclosure.Aggregate(
            f"all|{a}",
            frozenset((u, m, s, a) for u, m in universe for s in sexes),
            float(counts.xs(a, level="age_group").sum()) if a in counts.index.get_level_values(1) else 0.0,
        )
        for a in ages
    ]
    hide = disclosure.suppress_cells([f for f in fixed if not disclosure.is_small(f.total)], aggs)
    rows = [
        {"sex": s, "age_group": a, "victims": int(counts.get((s, a), 0)), "shown": hide.get(f"{s}|{a}", "")}
        for s in sexes
        for a in ages
    ]
    out = pd.DataFrame(rows)
    # groups with no victim at all and no hidden cell are left out (a reader loses nothing)
    keep_s = [s for s in sexes if out[out.sex == s].victims.sum() > 0]
    keep_a = [a for a in ages if out[out.age_group == a].victims.sum() > 0]
    return out[out.sex.isin(keep_s) & out.age_group.isin(keep_a)].reset_index(drop=True)


def sex_age_md(t: pd.DataFrame, noun: str) -> str:
    if t.empty:
        return (
            f"The source does not record the {noun}' sex or age (the SSC's incident files do not); "
            "the FGJ victim files do."
        )
    ages = list(dict.fromkeys(t.age_group))
    rows = []
    for s in dict.fromkeys(t.sex):
        g = t[t.sex == s].set_index("age_group")
        total = int(g.victims.sum())
        row = {"": SEXES.get(s, s)}
        for a in ages:
            row["Age " + a if a != "unknown" else "Age not recorded"] = g.shown[a] or str(int(g.victims[a]))
        row["Total"] = "<5" if disclosure.is_small(total) else f"{total:,}"
        rows.append(row)
    col = {"": "Total"}
    for a in ages:
        tot = int(t[t.age_group == a].victims.sum())
        col["Age " + a if a != "unknown" else "Age not recorded"] = "<5" if disclosure.is_small(tot) else f"{tot:,}"
    col["Total"] = f"{int(t.victims.sum()):,}"
    rows.append(col)
    lead = f"{noun.capitalize()} in the program's sectors since each start, by sex and age group:\n\n"
    return lead + pipe_table(pd.DataFrame(rows), align="l" + "r" * (len(ages) + 1))


def quarter_rows(main, ctx: Context) -> pd.DataFrame:
    """``main.aggregate('quarter')`` with ``suppressed`` for quarters whose recorded total would
    reveal a count from 1 to 4 (percent scale for PPML)."""
    t = main.aggregate("quarter")
    hide = window_suppression(ctx, main.outcome)
    t["suppressed"] = [f"quarter:{g}" in hide for g in t.group]
    return t


def outcomes_to_show(ctx: Context, headline_outcome: str) -> list[str]:
    """The outcomes estimated besides the headline's: gun homicides, gun injuries and their total,
    those the panel carries."""
    from analysis.report.content import panel_outcomes

    have = panel_outcomes(ctx)
    return [o for o in ("gun_homicides", "gun_injuries", "shootings") if o in have and o != headline_outcome]


def cohort_text(t: pd.DataFrame) -> str:
    shown = t[~t.suppressed]
    if len(shown) < 2:
        return "The program's sectors started in a single month so far: the cohort table has one row."
    best = shown.loc[shown.estimate.idxmin()]
    worst = shown.loc[shown.estimate.idxmax()]
    overlap = not (best.ci_high < worst.ci_low)
    return (
        f"By start cohort, the effect ranges from {fmt_pct(best.estimate)} (sectors from {best.group}) to "
        f"{fmt_pct(worst.estimate)} (from {worst.group})"
        + (
            "; the intervals overlap, so the cohorts cannot be told apart."
            if overlap
            else "; the intervals do not overlap."
        )
        + " Later cohorts have had less time in the program, so their estimates cover earlier months of it."
    )


def averted(outcomes: pd.DataFrame, outcome: str) -> dict | None:
    """The averted victims of one outcome (``outcome_rows``), None when not estimated or not published."""
    r = outcomes[outcomes.outcome == outcome]
    if r.empty or bool(r.suppressed.iloc[0]):
        return None
    return {k: float(r[k].iloc[0]) for k in ("averted", "averted_low", "averted_high")}


VICTIM_COLUMNS = (
    "observed",
    "expected",
    "percent",
    "ci_low",
    "ci_high",
    "averted",
    "averted_low",
    "averted_high",
    "estimate",
    "se",
    "p_value",
)


def save(
    results_dir, *, trend, quarters, outcomes, cohorts, rates, sex_age, pretrends, anticipations, main, leave_one_out
) -> list:
    """Write the breakdown tables as results files (suppressed rows blanked)."""
    from analysis.report.results_files import save_table

    sa = sex_age.copy()
    if not sa.empty:
        sa["suppressed"] = sa.shown != ""
    rt = rates.copy()
    if not rt.empty:
        rt["suppressed"] = rt["withheld"] if "withheld" in rt else [disclosure.is_small(v) for v in rt.victims]
    rob = pd.DataFrame(
        [
            {
                "estimate": "headline",
                "percent": main.att_percent,
                "ci_low": main.ci_percent[0],
                "ci_high": main.ci_percent[1],
            },
            *[
                {
                    "estimate": f"anticipation_{a['months_left_out']}m",
                    "percent": a["percent"],
                    "ci_low": a["ci_low"],
                    "ci_high": a["ci_high"],
                }
                for a in anticipations
            ],
            *[
                {"estimate": f"without_{r.left_out}", "percent": r.percent, "ci_low": np.nan, "ci_high": np.nan}
                for r in leave_one_out.itertuples()
            ],
        ]
    )
    return [
        save_table(trend, results_dir, "trend", VICTIM_COLUMNS),
        save_table(quarters, results_dir, "quarters", VICTIM_COLUMNS),
        save_table(outcomes, results_dir, "outcomes", VICTIM_COLUMNS),
        save_table(cohorts, results_dir, "cohorts", VICTIM_COLUMNS),
        save_table(rt, results_dir, "rates", ("victims", "rate_per_100k_year")),
        save_table(sa, results_dir, "sex_age", ("victims",)),
        save_table(
            pretrends.to_frame().assign(
                pooled_p_value=pretrends.pooled_p_value, pooled_percent=pretrends.pooled_percent
            ),
            results_dir,
            "pretrends",
        ),
        save_table(rob, results_dir, "robustness"),
    ]
