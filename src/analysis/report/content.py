"""What the report notebooks show: the reporting context, headline text, tables, results files.

Notebooks call these and hold no logic of their own, so every number in the report can be
traced from its cell to a function here or in ``analysis.impact``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.impact.registry import method_label
from analysis.labels import INCIDENT_OUTCOME_LABELS, INFERENCE_LABELS, OUTCOME_LABELS, label
from analysis.paths import ROOT
from analysis.periods import check_reportable, parse_quarter, quarter_label
from analysis.report import disclosure

DEMO_LABEL = "DEMO DATA (synthetic)"
#: Counts from 1 to SUPPRESS_BELOW - 1 are hidden in public tables (``disclosure.SMALL_MAX``).
SUPPRESS_BELOW = disclosure.SMALL_MAX + 1

SOURCE_DESCRIPTIONS = {
    "fgj": "victim records of the FGJ-CDMX (one record per victim)",
    "ssc": "incident points of the SSC (one record per incident, whatever the number of victims)",
    "ssc_counts": "monthly counts of incidents by cuadrante from the SSC",
}
ROLE = {"ppml": " (headline)", "imputation": " (comparison)", "sdid": " (comparison)", "twfe": " (reference only)"}
#: the validation study's table (``make validate``), read by the report's assumptions paragraph
VALIDATION_SUMMARY = ROOT / "reports" / "validation" / "summary.csv"


#: the outcome a report shows by default: the first of these the panel carries
DEFAULT_OUTCOMES = ("shootings", "gun_injuries", "gun_homicides", "all_homicides")


def md_escape(text) -> str:
    """A string from the data, safe inside Markdown that becomes HTML and Typst: HTML's special
    characters become entities (a sector named ``<img onerror=...>`` shows as text and runs
    nothing) and Markdown's punctuation is backslash-escaped (no stray emphasis, link or table
    cell)."""
    import html as _html

    s = _html.escape(str(text), quote=False)  # quotes need no escaping in text, and "&#x27;" would lose its "#"
    # '@' would start a pandoc citation (the PDF then fails), '$' maths, '^' a superscript
    return "".join("\\" + c if c in "\\`*_{}[]()#+!|~@$^" else c for c in s)


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
    #: results derived from the fields above, computed once (``window_suppression``)
    memo: dict = field(default_factory=dict, repr=False, compare=False)

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
        raise ValueError(
            f"outcome {outcome!r} is not in this panel; its sources give: {', '.join(have)} "
            f"(choose one with OUTCOME=...)"
        )


def check_parameters(ctx: Context, outcome: str, sector: str | None = None) -> None:
    """The notebook's parameters checked before anything is shown: one line that names the bad
    value and lists the valid ones (outcomes the panel carries; sectors in the program by the
    quarter's end). The quarter is checked by ``load_context``."""
    check_outcome(ctx, outcome)
    if sector is not None and sector not in ctx.treated_sectors:
        known = sector in set(ctx.panel.unit)
        why = "is not in the program by the end of " + ctx.label if known else "is not a sector of this panel"
        raise ValueError(
            f"sector {sector!r} {why}; the sectors in the program are: {', '.join(ctx.treated_sectors) or 'none'}"
        )


def record_noun(ctx: Context) -> str:
    """'victims' when every record is a victim (FGJ files), else 'incidents'."""
    sources = {i.get("source") for i in ctx.audit.get("inputs") or []}
    return "victims" if not sources or sources == {"fgj"} else "incidents"


def outcome_name(ctx: Context, outcome: str) -> tuple[str, str]:
    """(English, Spanish) name of an outcome as this panel counts it."""
    table = OUTCOME_LABELS if record_noun(ctx) == "victims" else INCIDENT_OUTCOME_LABELS
    return label(table, outcome, "en"), label(table, outcome, "es")


def data_text(ctx: Context) -> str:
    """The 'Data' and 'Units' paragraphs of the methods note, from what the panel step did: the
    sources read, how records were located, the period covered."""
    a, p = ctx.audit, ctx.panel
    noun = record_noun(ctx)
    sources = sorted({i.get("source") for i in a.get("inputs") or []} - {None})
    what = "; ".join(SOURCE_DESCRIPTIONS.get(x, x) for x in sources) or "incident records"
    loc = a.get("location") or {}
    by_point, by_id = loc.get("by_point", 0), loc.get("by_id", 0)
    if by_id and by_point:
        where = (
            f"placed in a police sector by the coordinates of the event ({by_point:,} records) or, where the "
            f"coordinates were missing or fell in no sector, by the cuadrante or sector recorded with it "
            f"({by_id:,} records)"
        )
    elif by_id:
        where = "placed in a police sector by the cuadrante or sector recorded with them"
    else:
        where = "placed in a police sector by the coordinates of the event"
    kinds = [outcome_name(ctx, o)[0] for o in panel_outcomes(ctx) if o != "shootings"]
    unit_text = (
        "Counts are victims (one record per victim), by sector and month of the event."
        if noun == "victims"
        else "Counts are incidents (one record per incident: an incident with several victims counts "
        "once), by sector and month of the event."
    )
    return (
        f"**Data.** {what[0].upper() + what[1:]}, {p.period.min()} to {p.period.max()}. Records are classified "
        f"as {' or '.join(kinds)} by the crime-label table shipped with the workbook, {where}, and counted by "
        f"sector and month of the event; months without events count as zero. Records that could not be used "
        f"are kept aside with a reason, and the counts reconcile.\n\n"
        f"**Units.** {unit_text} Percent effects and their intervals are relative to the predicted "
        f"{noun} without the program in the treated sector-months. A randomization p-value cannot be smaller "
        f"than one over the number of reassignments plus one."
    )


def city_text(ctx: Context) -> str:
    """The sentence under the city-wide context figure; the 2020 dip only when the data cover it."""
    covers_2020 = ctx.panel.period.min() <= pd.Period("2020-03", "M") and ctx.panel.period.max() >= pd.Period(
        "2020-06", "M"
    )
    swings = "City-wide swings, such as the 2020 dip, affect" if covers_2020 else "City-wide swings affect"
    return (
        f"Monthly {record_noun(ctx)} in the sectors in the program and in all other sectors together (3-month "
        f"averages). {swings} both groups; the estimates above compare like with like."
    )


def hidden_sectors(ctx: Context, outcome: str) -> list[str]:
    """Treated sectors whose estimates are not published (``disclosure.hidden_sectors``)."""
    return sorted(disclosure.hidden_sectors(ctx.panel, outcome))


def hidden_reason(ctx: Context, outcome: str, sector: str | None = None) -> str | None:
    """Why the estimate of ``sector`` (or of the whole program) may not be published:
    'primary' or 'secondary' (``disclosure.hidden_sectors``), 'program' when the program's total
    is itself 1 to 4; None when it may be published."""
    if sector is None:
        return "program" if disclosure.is_small(disclosure.sector_totals(ctx.panel, outcome).sum()) else None
    return disclosure.hidden_sectors(ctx.panel, outcome).get(sector)


def hidden(ctx: Context, outcome: str, sector: str | None = None) -> bool:
    """True when the estimate of ``sector`` (or of the whole program) may not be published: it
    would reveal a count from 1 to 4 (``analysis.report.disclosure``)."""
    return hidden_reason(ctx, outcome, sector) is not None


def banner(ctx: Context) -> str:
    """Markdown banner that opens every section of a demo report."""
    if not ctx.is_demo or ctx.demo is None:
        return ""
    return (
        f"**{DEMO_LABEL}** — every number here comes from a simulated city with a known program "
        f"effect of {fmt_num(ctx.demo['true_effect_percent'], 0)}%, not from Mexico City records."
    )


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
    return fmt_p(result.p_value, result.inference.min_p_value)


def p_with_floor(p: float, floor: float) -> str:
    """A p-value with the smallest value its test can give: 'p = 0.023 (smallest possible 0.001)';
    at the floor, 'p ≤ 0.001 (the smallest possible)'."""
    if not floor:
        return fmt_p(p)
    if p <= floor + 1e-12:
        return f"p ≤ {floor:.3f}, the smallest this test can give"
    return f"{fmt_p(p)}; the smallest this test can give is {floor:.3f}"


def _pf(result) -> str:
    return p_with_floor(result.p_value, result.inference.min_p_value)


def cohorts_text(ctx: Context) -> str:
    """'D36 from 2019-07; D62 and D69 from 2020-02; 5 sectors from 2022-04'."""
    ts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    parts = []
    for start, units in ts.groupby(ts).groups.items():
        units = [md_escape(u) for u in sorted(units)]
        who = (
            (" and ".join([", ".join(units[:-1]), units[-1]]) if len(units) > 1 else units[0])
            if len(units) <= 3
            else f"{len(units)} sectors"
        )
        parts.append(f"{who} from {start}")
    return "; ".join(parts)


def count_interval(low: float, high: float, noun: str = "") -> str:
    """An interval of a change in counts in words: '496 to 704 fewer', 'from 38 fewer to 4 more'."""
    lo, hi = sorted((low, high))
    n = f" {noun}" if noun else ""
    if hi <= 0:
        return f"{abs(hi):,.0f} to {abs(lo):,.0f} fewer{n}"
    if lo >= 0:
        return f"{lo:,.0f} to {hi:,.0f} more{n}"
    return f"from {abs(lo):,.0f} fewer to {hi:,.0f} more{n}"


def headline(result, ctx: Context, sector: str | None = None, short: bool = False) -> str:
    """The headline paragraph, in English and Spanish, built from one ImpactResult.

    ``sector`` names the one treated sector of a per-sector estimate; ``short`` gives one
    sentence (the appendix's sector pages).
    """
    en, es = outcome_name(ctx, result.outcome)
    noun = record_noun(ctx)
    why = hidden_reason(ctx, result.outcome, sector)
    if why:
        who = f"sector {md_escape(sector)}" if sector else "the sectors in the program"
        quien = f"el sector {md_escape(sector)}" if sector else "los sectores del programa"
        if why == "secondary":
            return (
                f"**No estimate is published for {who}.** Another sector recorded too few {en} for its "
                f"estimate to be shown, and the program's total less this sector's would give that small "
                f"count away; this sector's estimate is therefore withheld too.\n\n*Resumen.* No se publica "
                f"una estimación para {quien}: con ella y el total del programa podría deducirse el conteo "
                f"pequeño de otro sector."
            )
        return (
            f"**No estimate is published for {who}.** Too few {en} were recorded there since the start for "
            f"an estimate to be shown without revealing a count below {SUPPRESS_BELOW} (directly, or from the "
            f"other figures of this report).\n\n*Resumen.* No se publica una estimación para {quien}: hay muy "
            f"pocos casos registrados."
        )
    lo, hi = result.ci_percent
    level = f"{100 * (1 - result.alpha):.0f}%"
    lower = result.att < 0
    first = (
        ctx.panel.treat_start.min()
        if sector is None
        else ctx.panel.loc[ctx.panel.unit == sector, "treat_start"].iloc[0]
    )
    span = f"{first} to {ctx.quarter.asfreq('M', 'end')}"
    where_en = (
        f"In sector {md_escape(sector)}"
        if sector
        else f"In the {result.n_treated} sectors where Alto al Fuego operates"
    )
    where_es = (
        f"En el sector {md_escape(sector)}" if sector else f"En los {result.n_treated} sectores con Alto al Fuego"
    )
    cells = result.n_treated_periods
    total = result.att * cells
    total_lo, total_hi = sorted((result.ci_low * cells, result.ci_high * cells))
    chance = lo < 0 < hi
    if not np.isfinite(result.att_percent):
        # a counterfactual mean at or below zero has no percent change; say so instead of "nan%"
        change_en = (
            f"{'lower' if lower else 'higher'} than the counterfactual by {abs(result.att):.2f} {noun} per "
            f"sector per month (the counterfactual mean, {fmt_num(result.counterfactual_mean)}, is not "
            f"positive, so no percent change is defined)"
        )
        change_es = f"{abs(result.att):.2f} {'menos' if lower else 'más'} {es} por sector y mes que en el contrafactual"
        interval = f"{level} interval: {fmt_num(result.ci_low)} to {fmt_num(result.ci_high)} per sector-month"
        interval_es = f"intervalo de {level}: {fmt_num(result.ci_low)} a {fmt_num(result.ci_high)} por sector y mes"
    else:
        change_en = f"**{abs(result.att_percent):.1f}% {'lower' if lower else 'higher'}** than the counterfactual"
        change_es = (
            f"**{abs(result.att_percent):.1f}% {'menos' if lower else 'más'}** {es} que en el contrafactual estimado"
        )
        interval = f"{level} interval: {fmt_pct(lo)} to {fmt_pct(hi)}"
        interval_es = f"intervalo de {level}: {fmt_pct(lo)} a {fmt_pct(hi)}"
    if short:
        return (
            f"Since {first} ({cells:,} months): recorded {noun} {change_en} ({interval}; {_pf(result)}); about "
            f"{abs(total):,.0f} {'fewer' if lower else 'more'} {noun} (interval: {count_interval(total_lo, total_hi)})."
            + (" *Not distinguishable from chance.*" if chance else "")
        )
    text = (
        f"**Cumulative estimate through {ctx.label}** (every month since "
        f"{'the' if sector else 'each'} sector's start, {span}). "
        f"{where_en}, recorded {en} were {change_en} — the estimate of what would have been recorded without the "
        f"program, built from the months before the start and from sectors not (yet) in it ({interval}; "
        f"{_pf(result)}). "
        f"That is {abs(result.att):.2f} {'fewer' if lower else 'more'} {noun} per sector per month against "
        f"{result.counterfactual_mean:.2f} expected, or about **{abs(total):,.0f} {'fewer' if lower else 'more'} {noun}** "
        f"over {cells:,} treated sector-months (interval: {count_interval(total_lo, total_hi)})."
    )
    if sector is None:
        text += f" Starts: {cohorts_text(ctx)}."
    if chance:
        text += " *The interval includes zero: this change cannot be distinguished from chance.*"
    text += f"\n\n*Resumen.* {where_es} hubo {change_es} ({interval_es}; {_p(result)})" + (
        ", un cambio que no se distingue del azar." if chance else "."
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


def estimates_table(results, labels: list[str] | None = None, noun: str = "victims") -> str:
    """One row per result: effect in victims and in percent, interval, p-value, inference.

    ``labels`` replaces the method names in the first column (for groups of sectors)."""
    rows = []
    for i, r in enumerate(results):
        lo, hi = r.ci_percent
        if disclosure.is_small(disclosure.recorded_total(r)):  # the row would give a count of 1-4 away
            rows.append(
                {
                    "Method" if labels is None else "Group": labels[i] if labels else method_label(r.method),
                    f"{noun.capitalize()} per sector-month": "n/p",
                    "Effect": "n/p",
                    f"{100 * (1 - r.alpha):.0f}% interval": "n/p",
                    "p-value": "n/p",
                    "Smallest possible p": "n/p",
                    "Treated / comparison sectors": f"{r.n_treated} / {r.n_control}",
                    "Test (draws)": f"not published: fewer than 5 {noun} recorded",
                }
            )
            continue
        rows.append(
            {
                "Method" if labels is None else "Group": labels[i]
                if labels
                else method_label(r.method) + ROLE.get(r.method, ""),
                f"{noun.capitalize()} per sector-month": fmt_num(r.att),
                "Effect": fmt_pct(r.att_percent),
                f"{100 * (1 - r.alpha):.0f}% interval": f"{fmt_pct(lo)} to {fmt_pct(hi)}",
                "p-value": _p(r).removeprefix("p = ").replace("p ", ""),
                "Smallest possible p": f"{r.inference.min_p_value:.3f}" if r.inference.min_p_value else "—",
                "Treated / comparison sectors": f"{r.n_treated} / {r.n_control}",
                "Test (draws)": test_name(r),
            }
        )
    return pipe_table(pd.DataFrame(rows).fillna("n/p"), align="lrrrrrrl")


def test_name(r) -> str:
    """The exact test behind a row: its kind, the draws and what was reassigned."""
    kind, n = r.inference.kind, r.inference.n_draws
    if kind == "placebo" and r.method == "ppml":
        pool = len(r.inference.pool) if r.inference.pool else None
        who = f"{pool} comparable never-treated sectors" if pool else "comparable never-treated sectors"
        return f"Placebo calendars, {who} ({n:,})"
    if kind == "placebo":
        return f"Placebo sectors, normal approximation ({n:,})"
    if kind == "randomization":
        return f"Randomization of the start calendar ({n:,})"
    name = label(INFERENCE_LABELS, kind) or r.inference.label
    return f"{name} ({n:,})" if n else name


def calibration_panel(ctx: Context) -> pd.DataFrame:
    """The sectors never in the program: a panel with no true effect, for placebo runs."""
    return ctx.panel[ctx.panel.treat_start.isna()].reset_index(drop=True)


#: the tests the calibration checks, named exactly as the report names them
HEADLINE_TEST = (
    "Poisson imputation (PPML) with placebo inference (the program's calendar given to comparable sectors never in "
    "the program; the headline's test)"
)
CLUSTER_TEST = (
    "Two-way fixed effects with standard errors clustered by sector (not a row of the estimates table, whose TWFE "
    "row uses randomization inference)"
)


def program_calendar(ctx: Context) -> list:
    """The program's starts, one per treated sector (the calendar the calibration replays)."""
    ts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    return sorted(ts.tolist())


def calendar_positions(ctx: Context, panel: pd.DataFrame) -> np.ndarray:
    """The program's starts as positions among ``panel``'s periods (for the power simulation)."""
    periods = list(np.sort(panel.period.unique()))
    return np.array([periods.index(s) for s in program_calendar(ctx) if s in periods], dtype=int)


def sector_table_cells(ctx: Context, outcome: str):
    """The counts of the sector table as a reader can use them, and which to hide.

    Returns ``(rows, cells, hide)``: one dict per treated sector (sector, start and the
    Aggregate behind each count), every count as a ``disclosure.Aggregate`` and
    ``{label: '<5' or 'n/p'}`` from ``disclosure.suppress_cells``, set against what the report
    publishes elsewhere: the program's total and each shown sector's total through their
    estimates.
    """
    p = ctx.panel
    end, q0 = ctx.quarter.asfreq("M", "end"), ctx.quarter.asfreq("M", "start")
    treated = ctx.treated_sectors
    fixed = _published_totals(ctx, outcome)
    if treated and not hidden(ctx, outcome):
        withheld = window_suppression(ctx, outcome)
        fixed += [a for a in program_windows(ctx, outcome) if a.label not in withheld]
    rows, cells = [], []
    for u in treated:
        s = p.loc[p.unit == u, "treat_start"].iloc[0]
        spans = {"pre": (s - 12, s - 1), "quarter": (q0, end)}
        if (s + 11) <= end:
            spans["first12"] = (s, s + 11)
        row = {"sector": u, "start": s}
        for k, (a, b) in spans.items():
            c = disclosure.cells_of(p, [u], a, b)
            row[k] = disclosure.Aggregate(f"{u} {k}", c, disclosure.total_of(p, outcome, c))
            cells.append(row[k])
        rows.append(row)
    return rows, cells, disclosure.suppress_cells(fixed, cells)


def program_windows(ctx: Context, outcome: str) -> list:
    """Every program-wide total the trend table, the quarter figure and the cohort table publish
    (``analysis.report.breakdown``), as ``disclosure.Aggregate`` labelled ``trend:<label>``,
    ``quarter:<YYYYQn>`` and ``cohort:<YYYY-MM>``: one list, so those tables and the sector table
    suppress against the same published totals."""
    p = ctx.panel
    treated = ctx.treated_sectors
    periods = pd.PeriodIndex(sorted(p.period.unique()), freq="M")
    end = periods.max()
    q = periods.asfreq("Q")
    out = []

    def add(label: str, first, last, units=None) -> None:
        c = disclosure.cells_of(p, treated if units is None else units, first, last, from_start=True)
        if c:
            out.append(disclosure.Aggregate(label, c, disclosure.total_of(p, outcome, c)))

    last_q = q[-1]
    add(f"trend:{last_q}", last_q.asfreq("M", "start"), end)
    add(f"trend:{last_q - 3} to {last_q}", (last_q - 3).asfreq("M", "start"), end)
    for y in sorted(set(periods.year)):
        add(f"trend:{y}", pd.Period(f"{y}-01", "M"), pd.Period(f"{y}-12", "M"))
    for qq in sorted(set(q)):
        add(f"quarter:{qq}", qq.asfreq("M", "start"), qq.asfreq("M", "end"))
    starts = p.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    for g in sorted(set(starts)):
        add(f"cohort:{g}", None, None, sorted(starts.index[starts == g]))
    # the rates table's "12 months before each start": the sum of the sector table's first column
    before = (
        frozenset().union(*[disclosure.cells_of(p, [u], s - 12, s - 1) for u, s in starts.items()])
        if len(starts)
        else frozenset()
    )
    if before:
        out.append(disclosure.Aggregate("rates:before", before, disclosure.total_of(p, outcome, before)))
    return out


def _published_totals(ctx: Context, outcome: str) -> list:
    """The totals the report's estimates give away: the program's and each published sector's."""
    out = []
    if ctx.treated_sectors and not hidden(ctx, outcome):
        c = disclosure.cells_of(ctx.panel, ctx.treated_sectors, from_start=True)
        out.append(disclosure.Aggregate("program", c, disclosure.total_of(ctx.panel, outcome, c)))
    hid = disclosure.hidden_sectors(ctx.panel, outcome)
    for u in ctx.treated_sectors:
        if u not in hid:
            c = disclosure.cells_of(ctx.panel, [u], from_start=True)
            out.append(disclosure.Aggregate(f"{u} total", c, disclosure.total_of(ctx.panel, outcome, c)))
    return out


def window_suppression(ctx: Context, outcome: str) -> dict[str, str]:
    """Which of ``program_windows`` to withhold: counts of 1 to 4, and any total that, with the
    others, the program's total and the published sectors' totals, would give one away
    (``disclosure.suppress_cells``)."""
    key = ("window_suppression", outcome)
    if key not in ctx.memo:  # the trend, quarter, cohort, rate and sector tables all ask
        ctx.memo[key] = disclosure.suppress_cells(_published_totals(ctx, outcome), program_windows(ctx, outcome))
    return ctx.memo[key]


def sector_table(ctx: Context, outcome: str) -> str:
    """Treated sectors: start month and counts before and after.

    Counts from 1 to 4 read '<5'; a count that, set against the report's other figures (a
    sector's total through its estimate, the program's total, the other counts of the table),
    would give away 1 to 4 victims reads 'n/p' (not published): ``sector_table_cells``.
    """
    rows, _, hide = sector_table_cells(ctx, outcome)
    n = record_noun(ctx).capitalize()

    def show(agg) -> str:
        return "n/a" if agg is None else hide.get(agg.label, str(int(agg.total)))

    pop = (
        ctx.panel.drop_duplicates("unit").set_index("unit").population.astype(float)
        if "population" in ctx.panel
        else pd.Series(dtype=float)
    )

    def cell(agg, sector: str, months: int) -> str:
        """The count and, where it is shown and the population known, its rate per 100,000
        inhabitants per year in brackets."""
        shown = show(agg)
        people = pop.get(sector, np.nan)
        if agg is None or agg.label in hide or not np.isfinite(people) or people <= 0:
            return shown
        return f"{shown} ({fmt_num(100_000 * 12 * agg.total / months / people, 1)})"

    table = pd.DataFrame(
        [
            {
                "Sector": md_escape(r["sector"]),
                "Program start": str(r["start"]),
                f"{n}, 12 months before start (rate)": cell(r["pre"], r["sector"], 12),
                f"{n}, first 12 months (rate)": cell(r.get("first12"), r["sector"], 12),
                f"{n} in {ctx.label} (rate)": cell(r["quarter"], r["sector"], 3),
            }
            for r in rows
        ]
    )
    return pipe_table(table)


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
        lines.append(
            f"- Input records: {a['rows_in']:,}; used: {a['rows_used']:,}; set aside: "
            f"{a['rows_quarantined']:,} ({', '.join(f'{k.replace(chr(95), chr(32))} {v:,}' for k, v in q.items())})."
        )
        g = a.get("geography", {})
        loc = a.get("location", {})
        lines.append(
            f"- Police geography: version {md_escape(g.get('version'))} ({g.get('sectors')} sectors); "
            f"located by coordinates: {loc.get('by_point', 0):,}"
            + (f"; by recorded cuadrante or sector: {loc['by_id']:,}" if loc.get("by_id") else "")
            + "."
        )
    return "\n".join(lines)


SENSITIVITY_COLUMNS = ["mbar", "estimate", "set_low", "set_high", "ci_low", "ci_high"]


def sensitivity_horizon(result, most: int = 4) -> tuple[int, int]:
    """(pre, post) whole quarters of the event study the sensitivity analysis can use, at most
    ``most`` each: a program in its first quarters gets as long an analysis as the data allow."""
    es = set(result.event_study.rel_period)
    draws = set([] if result.event_rels is None else result.event_rels)

    def whole(q: int) -> bool:
        return all(m in es and m in draws for m in range(3 * q, 3 * q + 3))

    post = next((k for k in range(most) if not whole(k)), most)
    pre = next((k for k in range(1, most + 1) if not whole(-k)), most + 1) - 1
    return pre, post


def relative_magnitudes_or_none(result, mbar, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """The relative-magnitudes table over as many quarters as the data allow (at most four),
    or an empty table when there is not yet a whole quarter after the start or two before it."""
    from analysis.evaluation.sensitivity import relative_magnitudes

    pre, post = sensitivity_horizon(result)
    if post < 1 or pre < 2:
        t = pd.DataFrame(columns=SENSITIVITY_COLUMNS)
        t.attrs["breakdown"] = np.nan
        return t, post
    return relative_magnitudes(result, mbar=mbar, pre_quarters=pre, post_quarters=post, seed=seed), post


def sensitivity_text(table: pd.DataFrame, horizon_quarters: int) -> tuple[str, str]:
    """Plain words and a table for the relative-magnitudes sensitivity analysis
    (``analysis.evaluation.sensitivity.relative_magnitudes``), on the estimate's own scale: victims
    per sector-month for an additive estimate, percent for one on the log scale (PPML)."""
    if table.empty:
        return (
            "Not yet possible: the analysis needs at least one whole quarter after the first start and two "
            "before it in the event study.",
            "",
        )
    b = table.attrs["breakdown"]
    est = table.estimate.iloc[0]
    if table.attrs.get("scale") == "log":

        def show(x: float) -> str:
            return fmt_pct(100 * np.expm1(x)) if np.isfinite(x) else ("-100%" if x < 0 else "unbounded")

        change = f"{show(est)} against what the comparison predicts (recorded / expected - 1)"
        departures = "proportional departures from parallel trends"
    else:

        def show(x: float) -> str:
            return fmt_num(x)

        change = f"{fmt_num(est)} victims per sector-month"
        departures = "departures from parallel trends"
    direction = "fell" if est < 0 else "rose"
    if b <= 0:
        verdict = (
            f"Even with parallel trends holding exactly after the start, the robust interval includes zero: "
            f"this event study alone does not show that victims {direction}."
        )
    else:
        verdict = (
            f"The conclusion that victims {direction} survives {departures} as long as, "
            f"after the start, those departures grow from one quarter to the next by less than "
            f"**{b:.2f} times** the largest quarter-to-quarter departure seen before the start. "
            + (
                "That is a fragile margin: read the headline together with the event study above."
                if b < 0.5
                else "That is a comfortable margin."
                if b >= 1
                else "That is a moderate margin."
            )
        )
    first = "the first quarter" if horizon_quarters == 1 else f"the first {horizon_quarters} quarters"
    text = (
        f"Averaged over {first} after the start, and measured against the last "
        f"quarter before it, the change is {change}. {verdict} "
        f"(Relative magnitudes, Rambachan and Roth 2023: the identified range is what the estimates allow "
        f"if they were exact; the 95% interval also carries their sampling error.)"
    )
    t = pd.DataFrame(
        {
            "Allowed departure (times the largest before the start)": [f"{m:g}" for m in table.mbar],
            "Identified range": [f"{show(lo)} to {show(hi)}" for lo, hi in zip(table.set_low, table.set_high)],
            "95% robust interval": [f"{show(lo)} to {show(hi)}" for lo, hi in zip(table.ci_low, table.ci_high)],
        }
    )
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
    if disclosure.is_small(disclosure.recorded_total(s.exposed)):
        verdict = "too few victims were recorded in them for their change to be published"
    elif lo < 0 < hi:
        verdict = (
            "no displacement into neighbouring sectors can be distinguished from chance "
            f"(their change: {fmt_pct(s.exposed.att_percent)}, interval {fmt_pct(lo)} to {fmt_pct(hi)})"
        )
    elif s.exposed.att > 0:
        verdict = (
            f"victims rose in neighbouring sectors by {fmt_pct(s.exposed.att_percent)} (interval {fmt_pct(lo)} "
            f"to {fmt_pct(hi)}): a sign of displacement that offsets part of the effect"
        )
    else:
        verdict = (
            f"victims also fell in neighbouring sectors, by {fmt_pct(s.exposed.att_percent)} (interval "
            f"{fmt_pct(lo)} to {fmt_pct(hi)}): benefits spread beyond the program's sectors"
        )
    return (
        f"The {n} sectors that border a sector in the program were left out of the comparison and estimated "
        f"as their own group: {verdict}. Without them as comparisons the program's effect is "
        f"{fmt_pct(s.main.att_percent)} (interval {fmt_pct(s.main.ci_percent[0])} to {fmt_pct(s.main.ci_percent[1])})."
    )


def validation_figures(path: str | Path = VALIDATION_SUMMARY) -> pd.DataFrame | None:
    """The validation study's table (one row per scenario and method), or None when it has not
    been run (``make validate`` writes it; the repository ships the measured one)."""
    path = Path(path)
    if not path.exists():
        return None
    return pd.read_csv(path).set_index(["scenario", "method"])


def pre_start_levels(ctx: Context, outcome: str) -> tuple[float, float]:
    """Mean recorded per sector-month before the first start: in the program's sectors and in
    the others. The gap is why the two readings of parallel trends disagree."""
    p = ctx.panel
    before = p[p.period < p.treat_start.min()]
    treated = before.treat_start.notna()
    return float(before.loc[treated, outcome].mean()), float(before.loc[~treated, outcome].mean())


def assumptions_text(main, additive, ctx: Context, validation: pd.DataFrame | None = None) -> str:
    """What the comparison assumes: parallel trends in proportions (the headline, ``main``) or in
    levels (``additive``), the headline under both, and what the validation study measured."""
    noun = record_noun(ctx)
    hi_level, lo_level = pre_start_levels(ctx, main.outcome)
    level = f"{100 * (1 - main.alpha):.0f}%"

    def under(r) -> str:
        lo, hi = r.ci_percent
        return f"**{fmt_pct(r.att_percent)}** ({level} interval {fmt_pct(lo)} to {fmt_pct(hi)}; {_pf(r)})"

    text = (
        "Every estimate here compares the program's sectors with a prediction of what they would have "
        "recorded without it, built from the sectors not (yet) in it. The headline assumes that, without the "
        f"program, each sector's {noun} would have risen or fallen in the same *proportion* as the others' "
        "(parallel trends in proportions: a city-wide fall of 10% is a fall of 10% in every sector). The "
        "additive comparisons (imputation DiD, SDID, TWFE) assume instead that they would have changed by the "
        f"same *number* of {noun}. Both cannot hold when the program's sectors are much more violent than the "
        f"rest (Roth and Sant'Anna 2023), as they are here: before the first start they recorded "
        f"{fmt_num(hi_level)} {noun} per sector-month against {fmt_num(lo_level)} elsewhere. A city-wide change "
        f"then moves them by more {noun} than the average sector, and an additive comparison counts the "
        f"difference as the program's doing.\n\n"
        f"Under parallel trends in proportions (the headline) the change is {under(main)}; under parallel "
        f"trends in levels (the additive imputation) it is {under(additive)}."
    )
    if validation is not None:
        try:
            z_p, z_a = validation.loc[("zero", "ppml")], validation.loc[("zero", "imputation")]
            c_p, c_a = validation.loc[("constant", "ppml")], validation.loc[("constant", "imputation")]
        except KeyError:
            return text
        sd = validation.loc[("constant", "sdid")] if ("constant", "sdid") in validation.index else None
        sc = validation.loc[("constant", "sc")] if ("constant", "sc") in validation.index else None
        text += (
            f" Which reading to trust was measured (`make validate`, reports/validation/): on "
            f"{int(c_p.cities):,} simulated cities built from the real 2013-2015 sector counts, with city-wide "
            f"swings that multiply every sector's rate as Mexico City's did and the program in the most violent "
            f"sectors, a true fall of {abs(c_p.truth_percent):.0f}% was estimated by the headline method at "
            f"{fmt_pct(c_p.mean_estimate)} on average (its 95% interval held the truth in "
            f"{100 * c_p.coverage:.1f}% of cities) and by the additive imputation at {fmt_pct(c_a.mean_estimate)}"
            + (f" (SDID: {fmt_pct(sd.mean_estimate)}" if sd is not None else "")
            + (
                f"; synthetic control, which errs the other way: {fmt_pct(sc.mean_estimate)}"
                if sc is not None and sd is not None
                else ""
            )
            + (")" if sd is not None else "")
            + f". Where the program had no effect, the headline's 5% test found one in {100 * z_p.rejects:.1f}% "
            f"of cities and the additive imputation's in {100 * z_a.rejects:.0f}%. The additive rows of the "
            "table above are therefore shown as comparisons, not as conclusions: where they say more than the "
            "headline, the difference is what proportional city-wide trends alone would produce."
        )
    return text
