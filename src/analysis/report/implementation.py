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
from analysis.report.content import Context, fmt_num, md_escape, pipe_table


def load_activities(path: str | Path | None, ctx: Context) -> pd.DataFrame | None:
    """The activities of the program's sectors to the end of the quarter; None without a file."""
    if not path or not Path(path).exists():
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
    if acts is None:
        return (
            "No activity file was given (`data/raw/program/activities.csv`, described in data/raw/README.md): "
            "this section will show the program's work by component (Justice, Community, Direct communication) "
            "once it is. The estimates above do not depend on it.",
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
                    "Component": COMPONENT_LABELS[c],
                    "Activity": md_escape(act),
                    **{qq: f"{int(q.get(qq, 0)):,}" for qq in quarters},
                }
            )
    if "people" in g:
        for c in COMPONENTS:
            p = g[g.component == c].set_index("quarter").people
            if p.notna().any():
                rows.append(
                    {
                        "Component": COMPONENT_LABELS[c],
                        "Activity": "*distinct people reached*",
                        **{qq: _people(p.get(qq)) for qq in quarters},
                    }
                )
    tot = acts[acts.sector.isin(ctx.treated_sectors)]
    text = (
        f"Activities recorded in the {len(ctx.treated_sectors)} program sectors, by component, in the last "
        f"{len(quarters)} quarters ({int(tot['count'].sum()):,} since the first start). People are counted once per "
        "component and quarter however many times they were reached; their identifiers were replaced by a salted "
        "hash when the file was read and appear nowhere in this report."
    )
    table = pipe_table(pd.DataFrame(rows), align="ll" + "r" * len(quarters))
    return text, table + "\n\n" + sector_md(acts, ctx)


def sector_md(acts: pd.DataFrame, ctx: Context) -> str:
    """Activities in the reporting quarter by program sector and component."""
    q = str(ctx.quarter)
    s = activity_summary(acts, ctx.treated_sectors)
    s = s[s.quarter == q]
    wide = s.pivot_table(index="sector", columns="component", values="count", aggfunc="sum", fill_value=0)
    rows = []
    for sec in ctx.treated_sectors:
        row = {"Sector": md_escape(sec)}
        for c in COMPONENTS:
            row[COMPONENT_LABELS[c]] = f"{int(wide.loc[sec, c]):,}" if sec in wide.index and c in wide else "0"
        rows.append(row)
    return f"Activities in {q} by sector and component:\n\n" + pipe_table(pd.DataFrame(rows), align="lrrr")


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
        return "unbounded"
    if abs(x) >= 1e9:
        return f"{currency} {x / 1e9:,.2f} billion".replace("-", "−")
    if abs(x) >= 1e6:
        return f"{currency} {x / 1e6:,.1f} million".replace("-", "−")
    return f"{currency} {x:,.0f}".replace("-", "−")


def cost_md(c: dict | None, costs: Costs, homicides: dict | None, injuries: dict | None, noun: str) -> str:
    if c is None or homicides is None or injuries is None:
        return (
            "The cost section needs separate estimates for gun homicides and non-fatal gun injuries, which these "
            "data do not give."
        )
    cur = costs.currency
    label = (
        " These are **default figures from the United States, not from Mexico**, not adjusted for prices or "
        "incomes in Mexico: the team knows of no published Mexican cost per victim of a shooting. Replace them "
        "(in the workbook's cost parameters, `config/cost.toml`) when local figures exist."
        if costs.is_default
        else ""
    )
    text = (
        f"Victims averted since the start: {fmt_num(homicides['averted'], 0)} of gun homicide (interval "
        f"{fmt_num(homicides['averted_low'], 0)} to {fmt_num(homicides['averted_high'], 0)}) and "
        f"{fmt_num(injuries['averted'], 0)} of non-fatal gun injury ({fmt_num(injuries['averted_low'], 0)} to "
        f"{fmt_num(injuries['averted_high'], 0)}), from the estimates by outcome above. Valued at "
        f"{money(costs.fatal, cur)} per person killed and {money(costs.nonfatal, cur)} per person injured by gunfire "
        f"({costs.price_year} prices; source: {md_escape(costs.source)}), the violence averted is worth about "
        f"**{money(c['cost_averted'], cur)}** (from {money(c['cost_averted_low'], cur)} to "
        f"{money(c['cost_averted_high'], cur)}, combining the ends of each outcome's interval, which makes the "
        f"range wider than a 95% interval).{label}"
    )
    if "cost_per_victim_averted" in c:
        text += (
            f"\n\nThe program cost {money(c['program_cost'], cur)} to date"
            + (f" (source: {md_escape(costs.program_cost_source)})" if costs.program_cost_source else "")
            + f": **{money(c['cost_per_victim_averted'], cur)} per victim averted** (from "
            f"{money(c['cost_per_victim_low'], cur)} to {money(c['cost_per_victim_high'], cur)}), and each dollar "
            f"spent averted about {c['benefit_cost_ratio']:.1f} dollars of harm."
        )
    else:
        text += (
            "\n\n**The program's cost has not been given**, so the cost per victim averted cannot be computed. Enter "
            "the program's total cost to date (all components, all sectors) as `program_cost` in `config/cost.toml`, "
            "with its source, and rebuild the report."
        )
    return text


ACTIVITY_CAVEAT = (
    "*Each point is a program sector in a quarter since its start. This is description, not an estimate of what "
    "each activity achieved: activity goes where and when violence is high, so the association runs both ways.*"
)


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
