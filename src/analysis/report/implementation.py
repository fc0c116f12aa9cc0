"""What the program did (activities by component) and what the violence averted is worth (cost).

Activities are description only: set beside the outcomes they show what was done where and when,
not what caused what (more activity goes where violence is higher, so a raw association runs
both ways).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.activities import COMPONENT_LABELS, COMPONENTS, activity_summary, read_activities
from analysis.evaluation.cost import Costs, cost_averted
from analysis.report import disclosure
from analysis.report.content import Context, fmt_num, md_escape, panel_unit, pipe_table
from analysis.report.i18n import N_, _, current, tr


def load_activities(path: str | Path | None, ctx: Context) -> pd.DataFrame | None:
    """The activities of the program's sectors to the end of the quarter; None without a file,
    and in a run by cuadrante (activities are recorded by sector: ``activity_md`` says so)."""
    if not path or not Path(path).exists() or panel_unit(ctx) != "sector":
        return None
    acts = read_activities(path)
    end = ctx.quarter.asfreq("M", "end")
    return acts[acts.month <= end].reset_index(drop=True)


def activity_rows(acts: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """By component and quarter, over the program's sectors: activities and distinct people
    reached (when person ids were given; counts 1 to 4 of people read '<5')."""
    s = activity_summary(acts, ctx.treated_sectors)
    g = s.groupby(["component", "quarter"], as_index=False)[["count"]].sum()
    if "person" in acts:
        a = acts[acts.sector.isin(ctx.treated_sectors)].dropna(subset=["person"])
        a = a.assign(quarter=a.month.dt.asfreq("Q").astype(str))
        people = a.groupby(["component", "quarter"]).person.nunique().rename("people").reset_index()
        g = g.merge(people, on=["component", "quarter"], how="left")
    return g


def activity_md(acts: pd.DataFrame | None, ctx: Context, last: int = 4) -> tuple[str, str]:
    """(text, table): the last ``last`` quarters by component, and by sector this quarter."""
    if panel_unit(ctx) != "sector":
        return (
            _(
                "The program records its activities by sector: a run by cuadrante does not show them (the quarterly "
                "report, by sector, does)."
            ),
            "",
        )
    if acts is None:
        return (
            _(
                "No activity file was given (the program's record of its activities; its format is described in "
                "the workbook's data guide): this section will show the program's work by component (Justice, "
                "Community, Direct communication) once it is. The estimates above do not depend on it."
            ),
            "",
        )
    g = activity_rows(acts, ctx)
    quarters = sorted(g.quarter.unique())[-last:]
    rows = []
    for c in COMPONENTS:
        for act in sorted(acts.loc[acts.component == c, "activity"].unique()):
            a = acts[(acts.component == c) & (acts.activity == act) & acts.sector.isin(ctx.treated_sectors)]
            q = a.assign(quarter=a.month.dt.asfreq("Q").astype(str)).groupby("quarter")["count"].sum()
            rows.append(
                {
                    _("Component"): _(COMPONENT_LABELS[c]),
                    _("Activity"): md_escape(_(act)),
                    **{qq: f"{int(q.get(qq, 0)):,}" for qq in quarters},
                }
            )
    if "people" in g:
        for c in COMPONENTS:
            p = g[g.component == c].set_index("quarter").people
            if p.notna().any():
                rows.append(
                    {
                        _("Component"): _(COMPONENT_LABELS[c]),
                        _("Activity"): _("*distinct people reached*"),
                        **{qq: _people(p.get(qq)) for qq in quarters},
                    }
                )
    tot = acts[acts.sector.isin(ctx.treated_sectors)]
    text = tr(
        "Activities recorded in the {sectors} program sectors, by component, in the last {quarters} quarters "
        "({total} since the first start). People are counted once per component and quarter however many times "
        "they were reached; their identifiers were replaced by a salted hash when the file was read and appear "
        "nowhere in this report.",
        sectors=len(ctx.treated_sectors),
        quarters=len(quarters),
        total=f"{int(tot['count'].sum()):,}",
    )
    return text, pipe_table(pd.DataFrame(rows), align="ll" + "r" * len(quarters))


def sector_md(acts: pd.DataFrame, ctx: Context) -> str:
    """Activities in the reporting quarter by program sector and component."""
    q = str(ctx.quarter)
    s = activity_summary(acts, ctx.treated_sectors)
    s = s[s.quarter == q]
    wide = s.pivot_table(index="sector", columns="component", values="count", aggfunc="sum", fill_value=0)
    rows = []
    for sec in ctx.treated_sectors:
        row = {_("Sector"): md_escape(sec)}
        for c in COMPONENTS:
            row[_(COMPONENT_LABELS[c])] = f"{int(wide.loc[sec, c]):,}" if sec in wide.index and c in wide else "0"
        rows.append(row)
    return pipe_table(pd.DataFrame(rows), align="lrrr")


def _people(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "0"
    return "<5" if disclosure.is_small(v) else f"{int(v):,}"


def activity_vs_outcome(acts: pd.DataFrame, main, ctx: Context) -> pd.DataFrame:
    """Per program sector and quarter since its start: activities and the headline's recorded and
    expected victims (description only)."""
    starts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    a = acts[acts.sector.isin(starts.index)]
    a = a.assign(quarter=a.month.dt.asfreq("Q").astype(str)).groupby(["sector", "quarter"])["count"].sum()
    cf = main.counterfactual
    cf = cf[cf.treated.astype(bool)].assign(quarter=lambda d: d.period.astype("period[M]").dt.asfreq("Q").astype(str))
    o = cf.groupby(["unit", "quarter"])[["observed", "counterfactual"]].sum()
    o.index.names = ["sector", "quarter"]
    out = o.join(a.rename("activities"), how="left").fillna({"activities": 0}).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["percent"] = 100 * (out.observed / out.counterfactual - 1)
    return out


# -- cost --------------------------------------------------------------------------------------
def cost_rows(homicides: dict | None, injuries: dict | None, costs: Costs) -> dict | None:
    if homicides is None or injuries is None:
        return None
    return cost_averted(homicides, injuries, costs)


def money(x: float, currency: str) -> str:
    if not np.isfinite(x):
        return _("unbounded")
    if abs(x) >= 1e9 and current() != "es":  # Spanish counts in millions: "USD 1,200 millones", never "billón"
        return tr("{currency} {x} billion", currency=currency, x=f"{x / 1e9:,.2f}").replace("-", "−")
    if abs(x) >= 1e9:
        return tr("{currency} {x} million", currency=currency, x=f"{x / 1e6:,.0f}").replace("-", "−")
    if abs(x) >= 1e6:
        return tr("{currency} {x} million", currency=currency, x=f"{x / 1e6:,.1f}").replace("-", "−")
    return f"{currency} {x:,.0f}".replace("-", "−")


def cost_md(c: dict | None, costs: Costs, homicides: dict | None, injuries: dict | None, noun: str) -> str:
    if c is None or homicides is None or injuries is None:
        return _(
            "The cost section needs separate estimates for gun homicides and non-fatal gun injuries, which these "
            "data do not give."
        )
    cur = costs.currency
    label = (
        " "
        + _(
            "These are **default figures from the United States, not from Mexico**, not adjusted for prices or "
            "incomes in Mexico: the team knows of no published Mexican cost per victim of a shooting. Replace them "
            "in the workbook's cost parameters when local figures exist."
        )
        if costs.is_default
        else ""
    )
    text = (
        tr(
            "Victims averted since the start: {hom} of gun homicide (interval {hom_lo} to {hom_hi}) and {inj} of "
            "non-fatal gun injury ({inj_lo} to {inj_hi}), from the estimates by outcome above. Valued at {fatal} per "
            "person killed and {nonfatal} per person injured by gunfire ({year} prices; source: {source}), the "
            "violence averted is worth about **{value}** (from {value_lo} to {value_hi}, combining the ends of each "
            "outcome's interval, which makes the range wider than a 95% interval).",
            hom=fmt_num(homicides["averted"], 0),
            hom_lo=fmt_num(homicides["averted_low"], 0),
            hom_hi=fmt_num(homicides["averted_high"], 0),
            inj=fmt_num(injuries["averted"], 0),
            inj_lo=fmt_num(injuries["averted_low"], 0),
            inj_hi=fmt_num(injuries["averted_high"], 0),
            fatal=money(costs.fatal, cur),
            nonfatal=money(costs.nonfatal, cur),
            year=costs.price_year,
            source=md_escape(costs.source_in(current())),
            value=money(c["cost_averted"], cur),
            value_lo=money(c["cost_averted_low"], cur),
            value_hi=money(c["cost_averted_high"], cur),
        )
        + label
    )
    if "cost_per_victim_averted" in c:
        source = (
            " " + tr("(source: {source})", source=md_escape(costs.program_cost_source_in(current())))
            if costs.program_cost_source
            else ""
        )
        text += "\n\n" + tr(
            "The program cost {cost} to date{source}: **{per_victim} per victim averted** (from {lo} to {hi}), and "
            "each dollar spent averted about {ratio} dollars of harm.",
            cost=money(c["program_cost"], cur),
            source=source,
            per_victim=money(c["cost_per_victim_averted"], cur),
            lo=money(c["cost_per_victim_low"], cur),
            hi=money(c["cost_per_victim_high"], cur),
            ratio=f"{c['benefit_cost_ratio']:.1f}",
        )
    else:
        text += "\n\n" + _(
            "**The program's cost has not been given**, so the cost per victim averted cannot be computed. Enter "
            "the program's total cost to date (all components, all sectors), with its source, in the workbook's "
            "cost parameters and rebuild the report."
        )
    return text


ACTIVITY_CAVEAT = N_(
    "*Each point is a program sector in a quarter since its start. This is description, not an estimate of what "
    "each activity achieved: activity goes where and when violence is high, so the association runs both ways.*"
)


def activity_caveat() -> str:
    return _(ACTIVITY_CAVEAT)


def save(results_dir, acts: pd.DataFrame | None, ctx: Context, cost: dict | None):
    """``activities.csv`` (by component and quarter; people counts 1 to 4 blanked) and ``cost.csv``."""
    from analysis.report.results_files import save_table

    if acts is None:
        a = pd.DataFrame(columns=["component", "quarter", "count", "people", "people_suppressed"])
    else:
        a = activity_rows(acts, ctx)
        if "people" in a:  # activity counts are not people and are all published; small people counts are not
            a["people_suppressed"] = [disclosure.is_small(v) if pd.notna(v) else False for v in a.people]
    save_table(a, results_dir, "activities", ("people",), hide=a.get("people_suppressed"))
    c = pd.DataFrame([cost]) if cost else pd.DataFrame(columns=["cost_averted"])
    return save_table(c, results_dir, "cost")
