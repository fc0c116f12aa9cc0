"""What the report notebooks show: the reporting context, headline text, tables, results files.

Notebooks call these and hold no logic of their own, so every number in the report can be
traced from its cell to a function here or in ``analysis.impact``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.periods import check_reportable, parse_quarter, quarter_label

DEMO_LABEL = "DEMO DATA (synthetic)"
#: Counts from 1 to SUPPRESS_BELOW - 1 are hidden in public tables.
SUPPRESS_BELOW = 5

OUTCOME_NAMES = {
    "shootings": ("victims of shootings (gun homicides and non-fatal gun injuries)",
                  "víctimas de disparos (homicidios y lesiones por arma de fuego)"),
    "gun_homicides": ("victims of gun homicide", "víctimas de homicidio por arma de fuego"),
    "gun_injuries": ("victims of non-fatal gun injuries", "víctimas de lesiones por arma de fuego"),
}
#: short names of the inference methods, by the first word of ``ImpactResult.inference``
SHORT_INFERENCE = {"placebo": "Placebo", "randomization": "Randomization", "wild": "Wild bootstrap"}
METHOD_LABELS = {"imputation": "Imputation DiD", "sdid": "SDID", "sc": "Synthetic control", "twfe": "TWFE"}
ROLE = {"imputation": " (headline)", "twfe": " (reference only)"}


#: the outcome a report shows by default: the first of these the panel carries
DEFAULT_OUTCOMES = ("shootings", "gun_injuries", "gun_homicides", "all_homicides")


def file_stem(name: str) -> str:
    """A sector id as it may appear in a file name: letters, digits, '-' and '_' are kept;
    any other character becomes '_' and a short hash of the id is added, so two ids never share
    a file ('A/B' -> 'A_B-1a2b3c') and no id can write outside its folder."""
    import hashlib
    import re

    s = re.sub(r"[^A-Za-z0-9_-]+", "_", str(name))
    return s if s == name and s else f"{s}-{hashlib.sha256(str(name).encode()).hexdigest()[:6]}"


@dataclass
class Context:
    """The data a report for one quarter is made from."""

    quarter: pd.Period
    panel: pd.DataFrame
    audit: dict
    demo: dict | None

    @property
    def label(self) -> str:
        return quarter_label(self.quarter)

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    @property
    def treated_sectors(self) -> list[str]:
        ts = self.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
        return sorted(ts.index, key=lambda u: (ts[u], u))


def load_context(panel_path: str | Path, quarter: str, today=None) -> Context:
    """Load the panel and cut it at the end of ``quarter``; sectors whose start falls after
    the quarter count as not (yet) treated.

    Raises
    ------
    analysis.periods.QuarterError
        For a malformed, incomplete or uncovered quarter.
    """
    panel_path = Path(panel_path)
    panel = pd.read_parquet(panel_path)
    q = parse_quarter(quarter)
    check_reportable(q, first_month=panel.period.min(), last_month=panel.period.max(), today=today)
    end = q.asfreq("M", "end")
    panel = panel[panel.period <= end].copy()
    panel["treat_start"] = panel.treat_start.where(panel.treat_start <= end)
    audit_path = panel_path.with_name("audit.json")
    audit = json.loads(audit_path.read_text()) if audit_path.exists() else {}
    demo = audit.get("demo")
    return Context(quarter=q, panel=panel.reset_index(drop=True), audit=audit, demo=demo)


def panel_outcomes(ctx: Context) -> list[str]:
    """The outcome columns this panel carries (recorded by the panel step in the audit)."""
    listed = ctx.audit.get("outcomes")
    cols = listed if listed else [c for c in DEFAULT_OUTCOMES if c in ctx.panel]
    return [c for c in cols if c in ctx.panel]


def default_outcome(ctx: Context) -> str:
    """The report's outcome when none is asked for: victims of shootings where the source gives
    both gun homicides and gun injuries, else the gun outcome it does give."""
    have = panel_outcomes(ctx)
    for c in DEFAULT_OUTCOMES:
        if c in have:
            return c
    raise ValueError(f"the panel carries none of the outcomes {', '.join(DEFAULT_OUTCOMES)}")


def check_outcome(ctx: Context, outcome: str) -> None:
    """A clear error for an outcome the panel's sources cannot give."""
    have = panel_outcomes(ctx)
    if outcome not in have:
        raise ValueError(f"outcome {outcome!r} is not in this panel; its sources give: {', '.join(have)} "
                         f"(choose one with OUTCOME=...)")


def banner(ctx: Context) -> str:
    """Markdown banner that opens every section of a demo report."""
    if not ctx.is_demo:
        return ""
    return (f"**{DEMO_LABEL}** — every number here comes from a simulated city with a known program "
            f"effect of {fmt_num(ctx.demo['true_effect_percent'], 0)}%, not from Mexico City records.")


def fmt_p(p: float, floor: float = 0.0) -> str:
    """p-values as readers expect them: 'p < 0.001' rather than 'p = 0.000'; a permutation
    p-value at its smallest possible value reads 'p ≤ floor'."""
    if floor and p <= floor + 1e-12:
        return f"p ≤ {floor:.3f}"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt_num(x: float, digits: int = 2) -> str:
    """A number with a true minus sign, as in the PDF's typography."""
    return f"{x:.{digits}f}".replace("-", "−")


def fmt_pct(x: float) -> str:
    return f"{x:+.1f}%".replace("-", "−")


def _p(result) -> str:
    return fmt_p(result.p_value, result.extra.get("min_p_value", 0.0))


def cohorts_text(ctx: Context) -> str:
    """'D36 from 2019-07; D62 and D69 from 2020-02; 5 sectors from 2022-04'."""
    ts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    parts = []
    for start, units in ts.groupby(ts).groups.items():
        units = sorted(units)
        who = (" and ".join([", ".join(units[:-1]), units[-1]]) if len(units) > 1 else units[0]) if len(units) <= 3 \
            else f"{len(units)} sectors"
        parts.append(f"{who} from {start}")
    return "; ".join(parts)


def headline(result, ctx: Context, sector: str | None = None) -> str:
    """The headline paragraph, in English and Spanish, built from one ImpactResult.

    ``sector`` names the one treated sector of a per-sector estimate.
    """
    en, es = OUTCOME_NAMES.get(result.outcome, (result.outcome, result.outcome))
    lo, hi = result.ci_percent
    level = f"{100 * (1 - result.alpha):.0f}%"
    lower = result.att < 0
    first = ctx.panel.treat_start.min() if sector is None else ctx.panel.loc[ctx.panel.unit == sector, "treat_start"].iloc[0]
    span = f"{first} to {ctx.quarter.asfreq('M', 'end')}"
    where_en = f"In sector {sector}" if sector else f"In the {result.n_treated} sectors where Alto al Fuego operates"
    where_es = f"En el sector {sector}" if sector else f"En los {result.n_treated} sectores con Alto al Fuego"
    cells = result.n_treated_periods
    total = result.att * cells
    total_lo, total_hi = sorted((result.ci_low * cells, result.ci_high * cells))
    chance = lo < 0 < hi
    text = (
        f"**Cumulative estimate through {ctx.label}** (every month since "
        f"{'the' if sector else 'each'} sector's start, {span}). "
        f"{where_en}, recorded {en} were **{abs(result.att_percent):.1f}% {'lower' if lower else 'higher'}** "
        f"than the counterfactual — the estimate of what would have been recorded without the program, built from "
        f"the months before the start and from sectors not (yet) in it ({level} interval: {fmt_pct(lo)} to "
        f"{fmt_pct(hi)}; {_p(result)}). "
        f"That is {abs(result.att):.2f} {'fewer' if lower else 'more'} victims per sector per month against "
        f"{result.counterfactual_mean:.2f} expected, or about **{abs(total):,.0f} {'fewer' if lower else 'more'} victims** "
        f"over {cells:,} treated sector-months (interval {fmt_num(total_lo, 0)} to {fmt_num(total_hi, 0)})."
    )
    if sector is None:
        text += f" Starts: {cohorts_text(ctx)}."
    if chance:
        text += " *The interval includes zero: this change cannot be distinguished from chance.*"
    text += (
        f"\n\n*Resumen.* {where_es} hubo **{abs(result.att_percent):.1f}% {'menos' if lower else 'más'}** {es} "
        f"que en el contrafactual estimado (intervalo de {level}: {fmt_pct(lo)} a {fmt_pct(hi)}; {_p(result)})"
        + (", un cambio que no se distingue del azar." if chance else ".")
    )
    return text


def pipe_table(df: pd.DataFrame, align: str | None = None) -> str:
    """A Markdown pipe table that both nbconvert's HTML and pandoc's Typst writer render."""
    cols = list(df.columns)
    align = align or "l" + "r" * (len(cols) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(map(str, cols)) + " |", "| " + " | ".join(sep) + " |"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in row) + " |")
    return "\n".join(lines)


def estimates_table(results, labels: list[str] | None = None) -> str:
    """One row per result: effect in victims and in percent, interval, p-value, inference.

    ``labels`` replaces the method names in the first column (for groups of sectors)."""
    rows = []
    for i, r in enumerate(results):
        lo, hi = r.ci_percent
        n = r.extra.get("n_draws", 0)
        kind = SHORT_INFERENCE.get(r.inference.split()[0])
        rows.append({
            "Method" if labels is None else "Group": labels[i] if labels else
            METHOD_LABELS.get(r.method, r.method) + ROLE.get(r.method, ""),
            "Victims per sector-month": fmt_num(r.att), "Effect": fmt_pct(r.att_percent),
            f"{100 * (1 - r.alpha):.0f}% interval": f"{fmt_pct(lo)} to {fmt_pct(hi)}",
            "p-value": _p(r).removeprefix("p = ").replace("p ", ""),
            "Treated / comparison sectors": f"{r.n_treated} / {r.n_control}",
            "Inference": f"{kind}, {n:,} draws" if n and kind else r.inference,
        })
    return pipe_table(pd.DataFrame(rows), align="lrrrrrl")


def calibration_panel(ctx: Context) -> pd.DataFrame:
    """The sectors never in the program: a panel with no true effect, for placebo runs."""
    return ctx.panel[ctx.panel.treat_start.isna()].reset_index(drop=True)


def calibration_text(checks) -> str:
    """One sentence per method: the rejection rate of a true null in placebo runs."""
    lines = []
    for c in checks:
        lo, hi = c.interval
        ok = lo <= c.alpha  # the interval of the rejection rate reaches the nominal level
        lines.append(f"- {METHOD_LABELS.get(c.method, c.method)} with {c.inference.split(' (')[0]}: rejected a true "
                     f"null in **{100 * c.rejection_rate:.1f}%** of {len(c.p_values)} placebo runs "
                     f"(95% interval {100 * lo:.1f}% to {100 * hi:.1f}%; nominal 5%)"
                     + ("." if ok else " — **it finds effects where there are none too often: not used for conclusions**."))
    return "\n".join(lines)


def suppress(values: pd.Series, below: int = SUPPRESS_BELOW) -> pd.Series:
    """Hide small counts (1 to below-1) as '<below'; zeros and larger counts are shown."""
    v = values.astype(int)
    return v.astype(str).where(~((v > 0) & (v < below)), f"<{below}")


def sector_table(ctx: Context, outcome: str) -> str:
    """Treated sectors: start month and counts before and after, with small counts suppressed."""
    p = ctx.panel
    rows = []
    for u in ctx.treated_sectors:
        g = p[p.unit == u]
        s = g.treat_start.iloc[0]
        pre = g[(g.period < s) & (g.period >= s - 12)][outcome].sum()
        post = g[(g.period >= s) & (g.period < s + 12)][outcome].sum()
        last = g[g.period.dt.qyear.eq(ctx.quarter.year) & g.period.dt.quarter.eq(ctx.quarter.quarter)][outcome].sum()
        rows.append({"Sector": u, "Program start": str(s), "Victims, 12 months before start": pre,
                     "Victims, first 12 months": post if (s + 11) <= ctx.quarter.asfreq("M", "end") else np.nan,
                     f"Victims in {ctx.label}": last})
    df = pd.DataFrame(rows)
    for c in df.columns[2:]:
        df[c] = [("n/a" if pd.isna(x) else x) for x in df[c]]
        df[c] = df[c].where(df[c].eq("n/a"), suppress(pd.to_numeric(df[c], errors="coerce").fillna(0)))
    return pipe_table(df)


def data_note(ctx: Context) -> str:
    """What the panel holds and where its rows went, from the audit."""
    a = ctx.audit
    p = ctx.panel
    lines = [
        f"- Sectors: {p.unit.nunique()}; months: {p.period.min()} to {p.period.max()} ({p.period.nunique()}).",
        f"- Program starts: {cohorts_text(ctx)}.",
        f"- Sectors in the program by the end of {ctx.label}: {len(ctx.treated_sectors)}.",
    ]
    if a:
        q = a.get("quarantined_by_reason", {})
        lines.append(f"- Input records: {a['rows_in']:,}; used: {a['rows_used']:,}; set aside: "
                     f"{a['rows_quarantined']:,} ({', '.join(f'{k.replace(chr(95), chr(32))} {v:,}' for k, v in q.items())}).")
        g = a.get("geography", {})
        lines.append(f"- Police geography: version {g.get('version')} ({g.get('sectors')} sectors); "
                     f"located by coordinates: {a['location']['by_point']:,}.")
    return "\n".join(lines)


def save_results(results, out_dir: str | Path, name: str) -> Path:
    """Write estimates as data: ``<name>.csv`` (one row per result) and event studies."""
    from analysis.impact import stack

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stack(results).to_csv(out / f"{name}.csv", index=False)
    es = pd.concat([r.event_study.assign(method=r.method, outcome=r.outcome) for r in results], ignore_index=True)
    es.to_csv(out / f"{name}_event_study.csv", index=False)
    return out / f"{name}.csv"


def sensitivity_text(table: pd.DataFrame, horizon_quarters: int) -> tuple[str, str]:
    """Plain words and a table for the relative-magnitudes sensitivity analysis
    (``analysis.impact.sensitivity.relative_magnitudes``)."""
    b = table.attrs["breakdown"]
    est = table.estimate.iloc[0]
    direction = "fell" if est < 0 else "rose"
    if b <= 0:
        verdict = (f"Even with parallel trends holding exactly after the start, the robust interval includes zero: "
                   f"this event study alone does not show that victims {direction}.")
    else:
        verdict = (f"The conclusion that victims {direction} survives departures from parallel trends as long as, "
                   f"after the start, those departures grow from one quarter to the next by less than "
                   f"**{b:.2f} times** the largest quarter-to-quarter departure seen before the start. "
                   + ("That is a fragile margin: read the headline together with the event study above."
                      if b < 0.5 else "That is a comfortable margin." if b >= 1 else "That is a moderate margin."))
    text = (f"Averaged over the first {horizon_quarters} quarters after the start, and measured against the last "
            f"quarter before it, the change is {fmt_num(est)} victims per sector-month. {verdict} "
            f"(Relative magnitudes, Rambachan and Roth 2023: the identified range is what the estimates allow "
            f"if they were exact; the 95% interval also carries their sampling error.)")
    t = pd.DataFrame({
        "Allowed departure (times the largest before the start)": [f"{m:g}" for m in table.mbar],
        "Identified range": [f"{fmt_num(lo)} to {fmt_num(hi)}" for lo, hi in zip(table.set_low, table.set_high)],
        "95% robust interval": [f"{fmt_num(lo)} to {fmt_num(hi)}" for lo, hi in zip(table.ci_low, table.ci_high)],
    })
    return text, pipe_table(t, align="lrr")


def load_adjacency(panel_path: str | Path) -> pd.DataFrame:
    """The sector adjacency table written beside the panel by the panel step."""
    path = Path(panel_path).with_name("adjacency.csv")
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: rebuild the panel with `make data`")
    return pd.read_csv(path, dtype=str)


def spillover_text(s) -> str:
    """What the neighbours' estimate says, in words."""
    lo, hi = s.exposed.ci_percent
    n = len(s.exposed_units)
    if lo < 0 < hi:
        verdict = ("no displacement into neighbouring sectors can be distinguished from chance "
                   f"(their change: {fmt_pct(s.exposed.att_percent)}, interval {fmt_pct(lo)} to {fmt_pct(hi)})")
    elif s.exposed.att > 0:
        verdict = (f"victims rose in neighbouring sectors by {fmt_pct(s.exposed.att_percent)} (interval {fmt_pct(lo)} "
                   f"to {fmt_pct(hi)}): a sign of displacement that offsets part of the effect")
    else:
        verdict = (f"victims also fell in neighbouring sectors, by {fmt_pct(s.exposed.att_percent)} (interval "
                   f"{fmt_pct(lo)} to {fmt_pct(hi)}): benefits spread beyond the program's sectors")
    return (f"The {n} sectors that border a sector in the program were left out of the comparison and estimated "
            f"as their own group: {verdict}. Without them as comparisons the program's effect is "
            f"{fmt_pct(s.main.att_percent)} (interval {fmt_pct(s.main.ci_percent[0])} to {fmt_pct(s.main.ci_percent[1])}).")


def planning_table(panel: pd.DataFrame, outcome: str, sizes=(3, 5, 10, 15), follow_ups=(12, 24),
                   n_sims: int = 60, seed: int = 0) -> tuple[str, pd.DataFrame]:
    """Minimum detectable reduction (80 % power, 5 % test) by sectors treated and months of
    follow-up, simulated on ``panel``; returns the Markdown table and the numbers as data."""
    from analysis.impact.power import power_curve

    data = pd.DataFrame([
        {"n_treated": k, "follow_up": f,
         "mde": power_curve(panel, outcome=outcome, n_treated=k, follow_up=f, n_sims=n_sims, seed=seed).mde}
        for k in sizes for f in follow_ups
    ])
    wide = data.pivot(index="n_treated", columns="follow_up", values="mde")
    table = pd.DataFrame({"Sectors in the program": wide.index})
    for f in wide.columns:
        table[f"{f} months of follow-up"] = ["more than 60%" if np.isnan(v) else f"{abs(100 * v):.0f}%"
                                             for v in wide[f]]
    return pipe_table(table), data


def save_calibration(checks, out_dir: str | Path) -> Path:
    """Write the placebo rejection rates as data: ``calibration.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat([c.to_frame() for c in checks], ignore_index=True).to_csv(out / "calibration.csv", index=False)
    return out / "calibration.csv"
