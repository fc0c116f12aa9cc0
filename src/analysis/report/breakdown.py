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
    noun_word,
    outcome_name,
    pipe_table,
    record_noun,
    window_suppression,
)
from analysis.report.i18n import N_, _, month, tr

NP = "n/p"  # not published: the cell would reveal a count from 1 to 4
#: column headers by what a record counts (the Spanish agrees with the noun: evitadas / evitados)
AVERTED = {"victims": N_("Victims averted"), "incidents": N_("Incidents averted")}
AVERTED_CI = {"victims": N_("Victims averted (interval)"), "incidents": N_("Incidents averted (interval)")}


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


def trend_md(tbl: pd.DataFrame, noun: str, quarter: str) -> tuple[str, str]:
    """(sentence, table) for the trend rows; ``noun`` is ``content.record_noun``'s key."""
    nn = noun_word(noun)
    name = {
        "quarter": tr("This quarter ({quarter})", quarter=quarter),
        "four_quarters": _("Last four quarters"),
        "cumulative": _("Since the start"),
    }
    period, months, effect, interval = _("Period"), _("Sector-months"), _("Effect"), _("95% interval")
    averted_col, averted_ci = _(AVERTED[noun] if noun in AVERTED else "Victims averted"), _("Interval")
    rows = []
    for r in tbl.itertuples():
        label = name.get(r.window, r.label) + (f" ({_span(r.label)})" if r.window == "four_quarters" else "")
        if r.suppressed:
            rows.append(
                {period: label, months: f"{r.cells:,}", effect: NP, interval: NP, averted_col: NP, averted_ci: NP}
            )
            continue
        rows.append(
            {
                period: label,
                months: f"{r.cells:,}",
                effect: fmt_pct(r.percent),
                interval: tr("{lo} to {hi}", lo=fmt_pct(r.ci_low), hi=fmt_pct(r.ci_high)),
                averted_col: fmt_num(r.averted, 0),
                averted_ci: tr("{lo} to {hi}", lo=fmt_num(r.averted_low, 0), hi=fmt_num(r.averted_high, 0)),
            }
        )
    q = tbl[tbl.window == "quarter"]
    four = tbl[tbl.window == "four_quarters"]
    years = tbl[tbl.window == "year"]
    text = []
    if not q.empty and not q.suppressed.iloc[0]:
        r = q.iloc[0]
        values = {
            "quarter": quarter,
            "size": fmt_pct(abs(r.percent)).lstrip("+"),
            "noun": nn,
            "effect": fmt_pct(r.percent),
            "lo": fmt_pct(r.ci_low),
            "hi": fmt_pct(r.ci_high),
            "n": fmt_num(abs(r.averted), 0),
        }
        if r.percent < 0 and r.averted >= 0:
            text.append(
                tr(
                    "**In {quarter}** the program's sectors recorded {size} fewer {noun} than the counterfactual "
                    "(effect {effect}, 95% interval {lo} to {hi}): about {n} {noun} averted in the quarter.",
                    **values,
                )
            )
        else:
            text.append(
                tr(
                    "**In {quarter}** the program's sectors recorded {size} more {noun} than the counterfactual "
                    "(effect {effect}, 95% interval {lo} to {hi}): about {n} {noun} more than expected in the "
                    "quarter.",
                    **values,
                )
            )
    elif not q.empty:
        text.append(
            tr(
                "The estimate for {quarter} alone is not published: too few {noun} were recorded.",
                quarter=quarter,
                noun=nn,
            )
        )
    if not four.empty and not four.suppressed.iloc[0]:
        r = four.iloc[0]
        text.append(
            tr(
                "Over the last four quarters the effect was {effect} ({lo} to {hi}).",
                effect=fmt_pct(r.percent),
                lo=fmt_pct(r.ci_low),
                hi=fmt_pct(r.ci_high),
            )
        )
    full = years[(~years.suppressed) & (years.cells >= years.cells.max())]
    if len(full) >= 2:
        low, high = full.loc[full.percent.idxmin()], full.loc[full.percent.idxmax()]
        apart = low.ci_high < high.ci_low
        text.append(
            tr(
                "In the years with every program sector in it, the effect ranged from {low} ({low_year}) to {high} "
                "({high_year})",
                low=fmt_pct(low.percent),
                low_year=low.label,
                high=fmt_pct(high.percent),
                high_year=high.label,
            )
            + (
                _("; those two intervals do not overlap, so the effect did change from year to year.")
                if apart
                else _("; their intervals overlap, so these data show no clear fading or strengthening.")
            )
        )
    text.append(
        _(
            "Intervals of single periods come from the spread of the same period's effect over the headline's "
            "placebo draws (normal approximation); the cumulative row repeats the headline's own interval."
        )
    )
    return " ".join(text), pipe_table(pd.DataFrame(rows), align="lrrrrr")


def _span(label: str) -> str:
    """'2025Q4 to 2026Q3' (a results file's label) in the current language."""
    a, sep, b = str(label).partition(" to ")
    return tr("{first} to {last}", first=a, last=b) if sep else str(label)


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


def outcome_md(tbl: pd.DataFrame, ctx: Context) -> str:
    out_col, effect, interval, pcol, floor = (
        _("Outcome"),
        _("Effect"),
        _("95% interval"),
        _("p-value"),
        _("Smallest possible p"),
    )
    key = record_noun(ctx)
    averted_col = _(AVERTED_CI[key] if key in AVERTED_CI else "Victims averted (interval)")
    rows = []
    for r in tbl.itertuples():
        name = outcome_name(ctx, r.outcome)
        name = name[0].upper() + name[1:]
        if r.suppressed:
            rows.append({out_col: name, effect: NP, interval: NP, pcol: NP, floor: NP, averted_col: NP})
            continue
        rows.append(
            {
                out_col: name,
                effect: fmt_pct(r.percent),
                interval: tr("{lo} to {hi}", lo=fmt_pct(r.ci_low), hi=fmt_pct(r.ci_high)),
                pcol: fmt_p(r.p_value, r.p_floor).removeprefix("p = ").replace("p ", ""),
                floor: f"{r.p_floor:.3f}" if r.p_floor else "—",
                averted_col: tr(
                    "{n} ({lo} to {hi})",
                    n=fmt_num(r.averted, 0),
                    lo=fmt_num(r.averted_low, 0),
                    hi=fmt_num(r.averted_high, 0),
                ),
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


def cohort_md(tbl: pd.DataFrame) -> str:
    rows = []
    for r in tbl.itertuples():
        n = len(r.sectors.split(", "))
        who = r.sectors if n <= 3 else tr("{n} sectors", n=n)
        shown = not r.suppressed
        rows.append(
            {
                _("Start"): month(r.group, "short"),
                _("Sectors"): md_escape(who),
                _("Sector-months"): f"{r.cells:,}",
                _("Effect"): fmt_pct(r.estimate) if shown else NP,
                _("95% interval"): tr("{lo} to {hi}", lo=fmt_pct(r.ci_low), hi=fmt_pct(r.ci_high)) if shown else NP,
            }
        )
    return pipe_table(pd.DataFrame(rows), align="llrrr")


# -- rates -------------------------------------------------------------------------------------
#: the rows of the rates table (English in the results file; the report translates them)
RATE_ROWS = {
    "program_before": N_("Program sectors, 12 months before each start"),
    "program_since": N_("Program sectors since each start (recorded)"),
    "program_expected": N_("Program sectors since each start (expected without the program)"),
    "others_before": N_("Other sectors, 12 months before {first}"),
    "others_since": N_("Other sectors, {first} to {last}"),
}


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
        ("program_before", RATE_ROWS["program_before"], y[pre].sum(), pm[pre].sum()),
        ("program_since", RATE_ROWS["program_since"], y[post].sum(), pm[post].sum()),
        ("program_expected", RATE_ROWS["program_expected"], w["expected"], pm[post].sum()),
        ("others_before", RATE_ROWS["others_before"], y[others_pre].sum(), pm[others_pre].sum()),
        ("others_since", RATE_ROWS["others_since"], y[others].sum(), pm[others].sum()),
    ]
    rows = [(k, lab.format(first=first, last=p.period.max()), v, m) for k, lab, v, m in rows]
    out = pd.DataFrame(
        [
            {"row": k, "label": lab, "victims": v, "person_months": m, "rate_per_100k_year": rate(v, m)}
            for k, lab, v, m in rows
        ]
    )
    # the program's count before the starts is the sector table's first column summed: withheld
    # with it (``content.window_suppression``); the others only when they are 1 to 4
    before_hidden = "rates:before" in window_suppression(ctx, outcome)
    out.attrs.update(first=str(first), last=str(p.period.max()))
    out["withheld"] = [
        bool((r == "program_before" and before_hidden) or disclosure.is_small(v)) for r, v in zip(out.row, out.victims)
    ]
    return out


def rate_md(tbl: pd.DataFrame, noun: str) -> str:
    if tbl.empty:
        return _("Rates need each sector's population, which the geography file does not give.")
    note = "\n\n" + _(
        "*These raw rates are not the estimate: the windows differ (the program's sectors started at different "
        "times) and a city-wide change moves both groups. The estimate compares each program sector with its own "
        "prediction, month by month.*"
    )
    first, last = tbl.attrs.get("first"), tbl.attrs.get("last")
    labels = [
        md_escape(tr(RATE_ROWS[k], first=month(first), last=month(last)) if k in RATE_ROWS and first else lab)
        for k, lab in zip(tbl.row, tbl.label)
    ]
    out = pd.DataFrame(
        {
            "": labels,
            noun_word(noun).capitalize(): [NP if w else f"{v:,.0f}" for v, w in zip(tbl.victims, tbl.withheld)],
            _("Per 100,000 inhabitants per year"): [
                NP if w else fmt_num(r, 1) for r, w in zip(tbl.rate_per_100k_year, tbl.withheld)
            ],
        }
    )
    return pipe_table(out, align="lrr") + note


# -- who the victims were ----------------------------------------------------------------------
SEXES = {"female": N_("Women"), "male": N_("Men"), "unknown": N_("Not recorded")}


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


def sex_age_md(tbl: pd.DataFrame, noun: str) -> str:
    nn = noun_word(noun)
    if tbl.empty:
        return tr(
            "The source does not record the {noun}' sex or age (the SSC's incident files do not); the FGJ victim "
            "files do.",
            noun=nn,
        )
    ages = list(dict.fromkeys(tbl.age_group))

    def age_col(a: str) -> str:
        return tr("Age {group}", group=a) if a != "unknown" else _("Age not recorded")

    rows = []
    for s in dict.fromkeys(tbl.sex):
        g = tbl[tbl.sex == s].set_index("age_group")
        total = int(g.victims.sum())
        row = {"": _(SEXES[s]) if s in SEXES else s}
        for a in ages:
            row[age_col(a)] = g.shown[a] or str(int(g.victims[a]))
        row[_("Total")] = "<5" if disclosure.is_small(total) else f"{total:,}"
        rows.append(row)
    col = {"": _("Total")}
    for a in ages:
        tot = int(tbl[tbl.age_group == a].victims.sum())
        col[age_col(a)] = "<5" if disclosure.is_small(tot) else f"{tot:,}"
    col[_("Total")] = f"{int(tbl.victims.sum()):,}"
    rows.append(col)
    lead = tr("{noun} in the program's sectors since each start, by sex and age group:", noun=nn.capitalize()) + "\n\n"
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


def cohort_text(tbl: pd.DataFrame) -> str:
    shown = tbl[~tbl.suppressed]
    if len(shown) < 2:
        return _("The program's sectors started in a single month so far: the cohort table has one row.")
    best = shown.loc[shown.estimate.idxmin()]
    worst = shown.loc[shown.estimate.idxmax()]
    overlap = not (best.ci_high < worst.ci_low)
    return (
        tr(
            "By start cohort, the effect ranges from {best} (sectors from {best_start}) to {worst} (from "
            "{worst_start})",
            best=fmt_pct(best.estimate),
            best_start=best.group,
            worst=fmt_pct(worst.estimate),
            worst_start=worst.group,
        )
        + (
            _("; the intervals overlap, so the cohorts cannot be told apart.")
            if overlap
            else _("; the intervals do not overlap.")
        )
        + " "
        + _("Later cohorts have had less time in the program, so their estimates cover earlier months of it.")
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
