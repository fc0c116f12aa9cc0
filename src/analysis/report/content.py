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

from analysis.impact.registry import DEFAULT_METHOD
from analysis.labels import INCIDENT_OUTCOME_LABELS, INFERENCE_LABELS, OUTCOME_LABELS
from analysis.paths import ROOT
from analysis.periods import check_reportable, parse_quarter, quarter_label
from analysis.report import disclosure
from analysis.report.i18n import N_, _, label, method_name, month, tr
from analysis.report.i18n import join as join_words
from analysis.report.i18n import pct as _pct

DEMO_LABEL = N_("DEMO DATA (synthetic)")
#: Counts from 1 to SUPPRESS_BELOW - 1 are hidden in public tables (``disclosure.SMALL_MAX``).
SUPPRESS_BELOW = disclosure.SMALL_MAX + 1

SOURCE_DESCRIPTIONS = {
    "fgj": N_("victim records of the FGJ-CDMX (one record per victim)"),
    "ssc": N_("incident points of the SSC (one record per incident, whatever the number of victims)"),
    "ssc_counts": N_("monthly counts of incidents by cuadrante from the SSC"),
}
ROLE = {
    "ppml": N_("{method} (headline)"),
    "imputation": N_("{method} (comparison)"),
    "sdid": N_("{method} (comparison)"),
    "twfe": N_("{method} (reference only)"),
}
#: the methods of the report's table of estimates: the headline's first, then these others
COMPARISON_METHODS = ("ppml", "imputation", "sdid", "twfe")


def _role(method: str, i: int, headline: str) -> str | None:
    """A method's role in the table of estimates: the first row is the headline; when a researcher
    chose another headline method, the Poisson imputation becomes a comparison."""
    if headline != DEFAULT_METHOD:
        if i == 0:
            return ROLE[DEFAULT_METHOD]
        if method == DEFAULT_METHOD:
            return ROLE["imputation"]
    return ROLE.get(method)


def method_note(method: str) -> str:
    """Nothing for the validated headline method; for another, a note that says so (the text of
    the report describes the Poisson imputation, and its checks of the assumptions stay on it)."""
    if method == DEFAULT_METHOD:
        return ""
    return tr(
        "**Headline method changed for this run:** {method} instead of {default}, the method this report's "
        "text describes and the validation study supports. The checks of the assumptions below still test "
        "{default}.",
        method=method_name(method),
        default=method_name(DEFAULT_METHOD),
    )


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
    """Load the panel and cut it at the end of ``quarter`` (empty: the latest complete quarter the
    data cover, the build's default); sectors whose start falls after the quarter count as not
    (yet) treated.

    Raises
    ------
    analysis.periods.QuarterError
        For a malformed, incomplete or uncovered quarter.
    """
    panel_path = Path(panel_path)
    if not panel_path.exists():  # a notebook opened before anything was built: one line, not pyarrow's 100
        raise FileNotFoundError(
            f"{panel_path} does not exist: build the panel with `make data` (`make lab` builds it before it opens)"
        )
    panel = pd.read_parquet(panel_path)
    if not quarter:  # a notebook opened as it is: the quarter `make report` would build
        from analysis.periods import latest_reportable_quarter

        quarter = quarter_label(latest_reportable_quarter(panel.period.max(), today))
    from analysis.periods import QuarterError, latest_reportable_quarter

    try:
        q = parse_quarter(quarter)
        check_reportable(q, first_month=panel.period.min(), last_month=panel.period.max(), today=today)
    except QuarterError as e:
        first = quarter_label(panel.period.min().asfreq("Q"))
        try:
            last = quarter_label(latest_reportable_quarter(panel.period.max(), today))
        except QuarterError:
            last = "none"
        raise QuarterError(f"{e}; the quarters these data can report: {first} to {last}") from None
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


def headline_methods() -> list[str]:
    """The methods a headline can use (``analysis.impact.REGISTRY``)."""
    from analysis.impact.registry import REGISTRY

    return list(REGISTRY)


def check_parameters(ctx: Context, outcome: str, sector: str | None = None, method: str | None = None) -> None:
    """The notebook's parameters checked before anything is shown: one line that names the bad
    value and lists the valid ones (outcomes the panel carries; sectors in the program by the
    quarter's end; methods). The quarter is checked by ``load_context``."""
    if method is not None and method not in headline_methods():
        raise ValueError(f"method {method!r} is not available; the methods are: {', '.join(headline_methods())}")
    check_outcome(ctx, outcome)
    if sector is not None and sector not in ctx.treated_sectors:
        known = sector in set(ctx.panel.unit)
        why = "is not in the program by the end of " + ctx.label if known else "is not a sector of this panel"
        raise ValueError(
            f"sector {sector!r} {why}; the sectors in the program are: {', '.join(ctx.treated_sectors) or 'none'}"
        )


#: why a record was set aside (``analysis.data.panel.REASONS``), as shown to readers
REASONS = {
    "duplicate": N_("duplicate"),
    "unparseable_date": N_("unreadable date"),
    "implausible_date": N_("implausible date"),
    "superseded": N_("superseded by a later extract"),
    "outside_window": N_("outside the study window"),
    "not_an_outcome": N_("not an outcome"),
    "no_location": N_("no location"),
}
#: what a record counts, as shown to readers (``record_noun`` gives the key)
NOUNS = {"victims": N_("victims"), "incidents": N_("incidents")}


def record_noun(ctx: Context) -> str:
    """'victims' when every record is a victim (FGJ files), else 'incidents' (a key: ``noun``
    gives the word in the current language)."""
    sources = {i.get("source") for i in ctx.audit.get("inputs") or []}
    return "victims" if not sources or sources == {"fgj"} else "incidents"


def noun_word(key: str) -> str:
    """'victims' / 'víctimas': the word for what a record counts, in the current language."""
    return _(NOUNS.get(key, key))


def outcome_name(ctx: Context, outcome: str) -> str:
    """The name of an outcome as this panel counts it (victims or incidents), in the current language."""
    table = OUTCOME_LABELS if record_noun(ctx) == "victims" else INCIDENT_OUTCOME_LABELS
    return label(table, outcome)


def data_text(ctx: Context) -> str:
    """The 'Data' and 'Units' paragraphs of the methods note, from what the panel step did: the
    sources read, how records were located, the period covered."""
    a, p = ctx.audit, ctx.panel
    key = record_noun(ctx)
    sources = sorted({i.get("source") for i in a.get("inputs") or []} - {None})
    what = "; ".join(_(SOURCE_DESCRIPTIONS[x]) if x in SOURCE_DESCRIPTIONS else x for x in sources) or _(
        "incident records"
    )
    loc = a.get("location") or {}
    by_point, by_id = loc.get("by_point", 0), loc.get("by_id", 0)
    if by_id and by_point:
        where = tr(
            "placed in a police sector by the coordinates of the event ({by_point} records) or, where the "
            "coordinates were missing or fell in no sector, by the cuadrante or sector recorded with it "
            "({by_id} records)",
            by_point=f"{by_point:,}",
            by_id=f"{by_id:,}",
        )
    elif by_id:
        where = _("placed in a police sector by the cuadrante or sector recorded with them")
    else:
        where = _("placed in a police sector by the coordinates of the event")
    kinds = [outcome_name(ctx, o) for o in panel_outcomes(ctx) if o != "shootings"]
    unit_text = (
        _("Counts are victims (one record per victim), by sector and month of the event.")
        if key == "victims"
        else _(
            "Counts are incidents (one record per incident: an incident with several victims counts "
            "once), by sector and month of the event."
        )
    )
    return (
        tr(
            "**Data.** {what}, {first} to {last}. Records are classified as {kinds} by the crime-label table "
            "shipped with the workbook, {where}, and counted by sector and month of the event; months without "
            "events count as zero. Records that could not be used are kept aside with a reason, and the counts "
            "reconcile.",
            what=what[0].upper() + what[1:],
            first=month(p.period.min()),
            last=month(p.period.max()),
            kinds=_(" or ").join(kinds),
            where=where,
        )
        + "\n\n"
        + tr(
            "**Units.** {unit_text} Percent effects and their intervals are relative to the predicted {noun} "
            "without the program in the treated sector-months. A randomization p-value cannot be smaller than "
            "one over the number of reassignments plus one.",
            unit_text=unit_text,
            noun=noun_word(key),
        )
    )


def city_text(ctx: Context) -> str:
    """The sentence under the city-wide context figure; the 2020 dip only when the data cover it."""
    covers_2020 = ctx.panel.period.min() <= pd.Period("2020-03", "M") and ctx.panel.period.max() >= pd.Period(
        "2020-06", "M"
    )
    if covers_2020:
        return tr(
            "Monthly {noun} in the sectors in the program and in all other sectors together (3-month "
            "averages). City-wide swings, such as the 2020 dip, affect both groups; the estimates above "
            "compare like with like.",
            noun=noun_word(record_noun(ctx)),
        )
    return tr(
        "Monthly {noun} in the sectors in the program and in all other sectors together (3-month averages). "
        "City-wide swings affect both groups; the estimates above compare like with like.",
        noun=noun_word(record_noun(ctx)),
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


def panel_unit(ctx: Context) -> str:
    """The panel's units: 'sector', or 'cuadrante' (``make report UNIT=cuadrante``)."""
    return str(ctx.audit.get("unit", "sector"))


def unit_groups(ctx: Context) -> dict | None:
    """Each unit's sector when the units are cuadrantes (to leave a whole sector out), else None."""
    return ctx.audit.get("unit_sectors") if panel_unit(ctx) == "cuadrante" else None


def banner(ctx: Context) -> str:
    """Markdown banner that opens every section of a demo report, or of a run by cuadrante."""
    parts = []
    if panel_unit(ctx) == "cuadrante":
        units = ctx.panel.drop_duplicates("unit")
        parts.append(
            tr(
                "**Research run by police cuadrante** — the units are the city's {n} cuadrantes ({k} in the program's "
                "sectors), not its sectors: where the text says sector, read cuadrante. Fewer draws than the "
                "quarterly report; not a deliverable.",
                n=len(units),
                k=int(units.treat_start.notna().sum()),
            )
        )
    if ctx.is_demo and ctx.demo is not None:
        parts.append(
            tr(
                "**{label}** — every number here comes from a simulated city with a known program effect of "
                "{effect}, not from Mexico City records.",
                label=_(DEMO_LABEL),
                effect=_pct(ctx.demo["true_effect_percent"], 0, signed=False).replace("+", ""),
            )
        )
    return "\n\n".join(parts)


def fmt_p(p: float, floor: float = 0.0) -> str:
    """p-values as readers expect them: 'p < 0.001' rather than 'p = 0.000'; a permutation
    p-value at its smallest possible value reads 'p ≤ floor'."""
    if floor and p <= floor + 1e-12:
        return f"p ≤ {floor:.3f}"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"  # the same in Spanish (decimal point in es-MX)


def fmt_num(x: float, digits: int = 2) -> str:
    """A number with a true minus sign, as in the PDF's typography."""
    return f"{x:.{digits}f}".replace("-", "−")


def fmt_pct(x: float) -> str:
    """A signed percentage in the current language's format ('+3.2%', '−31.7 %')."""
    return _pct(x, 1, signed=True)


def _p(result) -> str:
    return fmt_p(result.p_value, result.inference.min_p_value)


def p_with_floor(p: float, floor: float) -> str:
    """A p-value with the smallest value its test can give: 'p = 0.023 (smallest possible 0.001)';
    at the floor, 'p ≤ 0.001 (the smallest possible)'."""
    if not floor:
        return fmt_p(p)
    if p <= floor + 1e-12:
        return tr("p ≤ {floor}, the smallest this test can give", floor=f"{floor:.3f}")
    return tr("{p}; the smallest this test can give is {floor}", p=fmt_p(p), floor=f"{floor:.3f}")


def _pf(result) -> str:
    return p_with_floor(result.p_value, result.inference.min_p_value)


def cohorts_text(ctx: Context) -> str:
    """'D36 from 2019-07; D62 and D69 from 2020-02; 5 sectors from 2022-04'."""
    ts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    parts = []
    for start, units in ts.groupby(ts).groups.items():
        units = [md_escape(u) for u in sorted(units)]
        who = join_words(units) if len(units) <= 3 else tr("{n} sectors", n=len(units))
        parts.append(tr("{who} from {start}", who=who, start=month(start)))
    return "; ".join(parts)


def count_interval(low: float, high: float, noun: str = "") -> str:
    """An interval of a change in counts in words: '496 to 704 fewer', 'from 38 fewer to 4 more'."""
    lo, hi = sorted((low, high))
    n = f" {noun}" if noun else ""
    if hi <= 0:
        return tr("{a} to {b} fewer", a=f"{abs(hi):,.0f}", b=f"{abs(lo):,.0f}") + n
    if lo >= 0:
        return tr("{a} to {b} more", a=f"{lo:,.0f}", b=f"{hi:,.0f}") + n
    return tr("from {a} fewer to {b} more", a=f"{abs(lo):,.0f}", b=f"{hi:,.0f}") + n


def headline(result, ctx: Context, sector: str | None = None, short: bool = False) -> str:
    """The headline paragraph, in the current language, built from one ImpactResult.

    ``sector`` names the one treated sector of a per-sector estimate; ``short`` gives one
    sentence (the appendix's sector pages).
    """
    name = outcome_name(ctx, result.outcome)
    nn = noun_word(record_noun(ctx))
    why = hidden_reason(ctx, result.outcome, sector)
    if why:
        who = tr("sector {sector}", sector=md_escape(sector)) if sector else _("the sectors in the program")
        if why == "secondary":
            return tr(
                "**No estimate is published for {who}.** Another sector recorded too few {outcome} for its "
                "estimate to be shown, and the program's total less this sector's would give that small "
                "count away; this sector's estimate is therefore withheld too.",
                who=who,
                outcome=name,
            )
        return tr(
            "**No estimate is published for {who}.** Too few {outcome} were recorded there since the start for "
            "an estimate to be shown without revealing a count below {limit} (directly, or from the other "
            "figures of this report).",
            who=who,
            outcome=name,
            limit=SUPPRESS_BELOW,
        )
    lo, hi = result.ci_percent
    level = _pct(100 * (1 - result.alpha), 0, signed=False)
    lower = result.att < 0
    first = (
        ctx.panel.treat_start.min()
        if sector is None
        else ctx.panel.loc[ctx.panel.unit == sector, "treat_start"].iloc[0]
    )
    span = tr("{first} to {last}", first=month(first), last=month(ctx.quarter.asfreq("M", "end")))
    where = (
        tr("In sector {sector}", sector=md_escape(sector))
        if sector
        else tr("In the {n} sectors where Alto al Fuego operates", n=result.n_treated)
    )
    cells = result.n_treated_periods
    total = result.att * cells
    total_lo, total_hi = sorted((result.ci_low * cells, result.ci_high * cells))
    chance = lo < 0 < hi
    if not np.isfinite(result.att_percent):
        # a counterfactual mean at or below zero has no percent change; say so instead of "nan%"
        values = {"x": f"{abs(result.att):.2f}", "noun": nn, "cf": fmt_num(result.counterfactual_mean)}
        change = (
            tr(
                "lower than the counterfactual by {x} {noun} per sector per month (the counterfactual mean, "
                "{cf}, is not positive, so no percent change is defined)",
                **values,
            )
            if lower
            else tr(
                "higher than the counterfactual by {x} {noun} per sector per month (the counterfactual mean, "
                "{cf}, is not positive, so no percent change is defined)",
                **values,
            )
        )
        interval = tr(
            "{level} interval: {lo} to {hi} per sector-month",
            level=level,
            lo=fmt_num(result.ci_low),
            hi=fmt_num(result.ci_high),
        )
    else:
        size = _pct(abs(result.att_percent), 1, signed=False)
        change = (
            tr("**{size} lower** than the counterfactual", size=size)
            if lower
            else tr("**{size} higher** than the counterfactual", size=size)
        )
        interval = tr("{level} interval: {lo} to {hi}", level=level, lo=fmt_pct(lo), hi=fmt_pct(hi))
    fewer = (
        (lambda n: tr("{n} fewer {noun}", n=n, noun=nn)) if lower else (lambda n: tr("{n} more {noun}", n=n, noun=nn))
    )
    if short:
        return tr(
            "Since {first} ({months} months): recorded {noun} {change} ({interval}; {p}); about {total} "
            "(interval: {total_interval}).",
            first=month(first),
            months=f"{cells:,}",
            noun=nn,
            change=change,
            interval=interval,
            p=_pf(result),
            total=fewer(f"{abs(total):,.0f}"),
            total_interval=count_interval(total_lo, total_hi),
        ) + (" " + _("*Not distinguishable from chance.*") if chance else "")
    text = tr(
        "**Cumulative estimate through {quarter}** (every month since {whose} start, {span}). {where}, "
        "recorded {outcome} were {change} — the estimate of what would have been recorded without the "
        "program, built from the months before the start and from sectors not (yet) in it ({interval}; {p}). "
        "That is {per_month} per sector per month against {expected} expected, or about **{total}** over "
        "{months} treated sector-months (interval: {total_interval}).",
        quarter=ctx.label,
        whose=_("the sector's") if sector else _("each sector's"),
        span=span,
        where=where,
        outcome=name,
        change=change,
        interval=interval,
        p=_pf(result),
        per_month=fewer(f"{abs(result.att):.2f}"),
        expected=f"{result.counterfactual_mean:.2f}",
        total=fewer(f"{abs(total):,.0f}"),
        months=f"{cells:,}",
        total_interval=count_interval(total_lo, total_hi),
    )
    if sector is None:
        text += " " + tr("Starts: {starts}.", starts=cohorts_text(ctx))
    if chance:
        text += " " + _("*The interval includes zero: this change cannot be distinguished from chance.*")
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
    nn = noun_word(noun)
    first = _("Method") if labels is None else _("Group")
    per = tr("{noun} per sector-month", noun=nn.capitalize())
    rows = []
    for i, r in enumerate(results):
        lo, hi = r.ci_percent
        interval = tr("{level} interval", level=_pct(100 * (1 - r.alpha), 0, signed=False))
        if disclosure.is_small(disclosure.recorded_total(r)):  # the row would give a count of 1-4 away
            rows.append(
                {
                    first: labels[i] if labels else method_name(r.method),
                    per: "n/p",
                    _("Effect"): "n/p",
                    interval: "n/p",
                    _("p-value"): "n/p",
                    _("Smallest possible p"): "n/p",
                    _("Treated / comparison sectors"): f"{r.n_treated} / {r.n_control}",
                    _("Test (draws)"): tr("not published: fewer than 5 {noun} recorded", noun=nn),
                }
            )
            continue
        name = (
            labels[i]
            if labels
            else tr(role, method=method_name(r.method))
            if (role := _role(r.method, i, results[0].method))
            else method_name(r.method)
        )
        rows.append(
            {
                first: name,
                per: fmt_num(r.att),
                _("Effect"): fmt_pct(r.att_percent),
                interval: tr("{lo} to {hi}", lo=fmt_pct(lo), hi=fmt_pct(hi)),
                _("p-value"): _p(r).removeprefix("p = ").replace("p ", ""),
                _("Smallest possible p"): f"{r.inference.min_p_value:.3f}" if r.inference.min_p_value else "—",
                _("Treated / comparison sectors"): f"{r.n_treated} / {r.n_control}",
                _("Test (draws)"): test_name(r),
            }
        )
    return pipe_table(pd.DataFrame(rows).fillna("n/p"), align="lrrrrrrl")


def test_name(r) -> str:
    """The exact test behind a row: its kind, the draws and what was reassigned."""
    kind, n = r.inference.kind, r.inference.n_draws
    if kind == "placebo" and r.method == "ppml":
        pool = len(r.inference.pool) if r.inference.pool else None
        if pool:
            return tr("Placebo calendars, {pool} comparable never-treated sectors ({n})", pool=pool, n=f"{n:,}")
        return tr("Placebo calendars, comparable never-treated sectors ({n})", n=f"{n:,}")
    if kind == "placebo":
        return tr("Placebo sectors, normal approximation ({n})", n=f"{n:,}")
    if kind == "randomization":
        return tr("Randomization of the start calendar ({n})", n=f"{n:,}")
    name = label(INFERENCE_LABELS, kind) or r.inference.label
    return f"{name} ({n:,})" if n else name


def calibration_panel(ctx: Context) -> pd.DataFrame:
    """The sectors never in the program: a panel with no true effect, for placebo runs."""
    return ctx.panel[ctx.panel.treat_start.isna()].reset_index(drop=True)


#: the tests the calibration checks, named exactly as the report names them
HEADLINE_TEST = N_(
    "Poisson imputation (PPML) with placebo inference (the program's calendar given to comparable sectors never in "
    "the program; the headline's test)"
)
CLUSTER_TEST = N_(
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
    rows, _cells, hide = sector_table_cells(ctx, outcome)
    n = noun_word(record_noun(ctx)).capitalize()

    def show(agg) -> str:
        return _("n/a") if agg is None else hide.get(agg.label, str(int(agg.total)))

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
                _("Sector"): md_escape(r["sector"]),
                _("Program start"): month(r["start"], "short"),
                tr("{noun}, 12 months before start (rate)", noun=n): cell(r["pre"], r["sector"], 12),
                tr("{noun}, first 12 months (rate)", noun=n): cell(r.get("first12"), r["sector"], 12),
                tr("{noun} in {quarter} (rate)", noun=n, quarter=ctx.label): cell(r["quarter"], r["sector"], 3),
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
        tr(
            "- Sectors: {sectors}; months: {first} to {last} ({months}).",
            sectors=p.unit.nunique(),
            first=month(p.period.min()),
            last=month(p.period.max()),
            months=p.period.nunique(),
        ),
        tr("- Program starts: {starts}.", starts=cohorts_text(ctx)),
        tr("- Sectors in the program by the end of {quarter}: {n}.", quarter=ctx.label, n=len(ctx.treated_sectors)),
    ]
    if a:
        q = a.get("quarantined_by_reason", {})
        lines.append(
            tr(
                "- Input records: {rows_in}; used: {used}; set aside: {aside} ({reasons}).",
                rows_in=f"{a['rows_in']:,}",
                used=f"{a['rows_used']:,}",
                aside=f"{a['rows_quarantined']:,}",
                reasons=", ".join(f"{_(REASONS[k]) if k in REASONS else k} {v:,}" for k, v in q.items()),
            )
        )
        g = a.get("geography", {})
        loc = a.get("location", {})
        lines.append(
            tr(
                "- Police geography: version {version} ({sectors} sectors); located by coordinates: {by_point}",
                version=md_escape(g.get("version")),
                sectors=g.get("sectors"),
                by_point=f"{loc.get('by_point', 0):,}",
            )
            + (tr("; by recorded cuadrante or sector: {by_id}", by_id=f"{loc['by_id']:,}") if loc.get("by_id") else "")
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
            _(
                "Not yet possible: the analysis needs at least one whole quarter after the first start and two "
                "before it in the event study."
            ),
            "",
        )
    b = table.attrs["breakdown"]
    est = table.estimate.iloc[0]
    if table.attrs.get("scale") == "log":

        def show(x: float) -> str:
            if np.isfinite(x):
                return fmt_pct(100 * np.expm1(x))
            return _pct(-100, 0, signed=False) if x < 0 else _("unbounded")

        change = tr("{change} against what the comparison predicts (recorded / expected - 1)", change=show(est))
        departures = _("proportional departures from parallel trends")
    else:

        def show(x: float) -> str:
            return fmt_num(x)

        change = tr("{x} victims per sector-month", x=fmt_num(est))
        departures = _("departures from parallel trends")
    if b <= 0:
        verdict = (
            _(
                "Even with parallel trends holding exactly after the start, the robust interval includes zero: "
                "this event study alone does not show that victims fell."
            )
            if est < 0
            else _(
                "Even with parallel trends holding exactly after the start, the robust interval includes zero: "
                "this event study alone does not show that victims rose."
            )
        )
    else:
        values = {"departures": departures, "b": f"{b:.2f}"}
        verdict = (
            tr(
                "The conclusion that victims fell survives {departures} as long as, after the start, those "
                "departures grow from one quarter to the next by less than **{b} times** the largest "
                "quarter-to-quarter departure seen before the start.",
                **values,
            )
            if est < 0
            else tr(
                "The conclusion that victims rose survives {departures} as long as, after the start, those "
                "departures grow from one quarter to the next by less than **{b} times** the largest "
                "quarter-to-quarter departure seen before the start.",
                **values,
            )
        )
        verdict += " " + (
            _("That is a fragile margin: read the headline together with the event study above.")
            if b < 0.5
            else _("That is a comfortable margin.")
            if b >= 1
            else _("That is a moderate margin.")
        )
    first = _("the first quarter") if horizon_quarters == 1 else tr("the first {n} quarters", n=horizon_quarters)
    text = (
        tr(
            "Averaged over {first} after the start, and measured against the last quarter before it, the "
            "change is {change}.",
            first=first,
            change=change,
        )
        + f" {verdict} "
        + _(
            "(Relative magnitudes, Rambachan and Roth 2023: the identified range is what the estimates allow "
            "if they were exact; the 95% interval also carries their sampling error.)"
        )
    )
    tbl = pd.DataFrame(
        {
            _("Allowed departure (times the largest before the start)"): [f"{m:g}" for m in table.mbar],
            _("Identified range"): [
                tr("{lo} to {hi}", lo=show(lo), hi=show(hi)) for lo, hi in zip(table.set_low, table.set_high)
            ],
            _("95% robust interval"): [
                tr("{lo} to {hi}", lo=show(lo), hi=show(hi)) for lo, hi in zip(table.ci_low, table.ci_high)
            ],
        }
    )
    return text, pipe_table(tbl, align="lrr")


def load_adjacency(panel_path: str | Path) -> pd.DataFrame:
    """The sector adjacency table written beside the panel by the panel step."""
    path = Path(panel_path).with_name("adjacency.csv")
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: rebuild the panel with `make data`")
    return pd.read_csv(path, dtype=str)


def spillover_labels() -> list[str]:
    """The rows of the spillover table."""
    return [_("Sectors in the program"), _("Their neighbours")]


def spillover_table(s, noun: str = "victims") -> str | None:
    """The spillover estimates as a table (``estimates_table``) of the groups that could be
    estimated; None when neither could."""
    pairs = [(lab, r) for lab, r in zip(spillover_labels(), (s.main, s.exposed)) if r is not None]
    if not pairs:
        return None
    return estimates_table([r for _l, r in pairs], noun=noun, labels=[lab for lab, _r in pairs])


def spillover_note(code: str, n_treated: int = 0) -> str:
    """A group's note (``evaluation.spillover.NOTES``) in words."""
    if code == "no-neighbours":
        return _("No sector outside the program borders one of its sectors: there is no neighbour to check.")
    if code == "no-comparison":
        return _(
            "Every sector outside the program borders one of its sectors: none is left to compare with, so neither "
            "the program's effect without its neighbours nor the neighbours' own change can be estimated."
        )
    if code == "randomization":
        return tr(
            "Without the neighbours, the sectors outside the program that were as violent as its sectors are fewer "
            "than its {n} sectors, so no placebo calendar can be drawn; this interval comes from the exact test that "
            "reassigns the program's calendar among all comparable sectors, its own included (valid, and "
            "conservative when effects differ between sectors).",
            n=n_treated,
        )
    return code


def spillover_text(s) -> str:
    """What the neighbours' estimate says, in words; what could not be estimated, and why."""
    if s.main is None and s.exposed is None:
        return spillover_note(s.notes.get("main", ""))
    n = len(s.exposed_units)
    lo, hi = s.exposed.ci_percent
    values = {"change": fmt_pct(s.exposed.att_percent), "lo": fmt_pct(lo), "hi": fmt_pct(hi)}
    if disclosure.is_small(disclosure.recorded_total(s.exposed)):
        verdict = _("too few victims were recorded in them for their change to be published")
    elif lo < 0 < hi:
        verdict = tr(
            "no displacement into neighbouring sectors can be distinguished from chance (their change: "
            "{change}, interval {lo} to {hi})",
            **values,
        )
    elif s.exposed.att > 0:
        verdict = tr(
            "victims rose in neighbouring sectors by {change} (interval {lo} to {hi}): a sign of displacement "
            "that offsets part of the effect",
            **values,
        )
    else:
        verdict = tr(
            "victims also fell in neighbouring sectors, by {change} (interval {lo} to {hi}): benefits spread "
            "beyond the program's sectors",
            **values,
        )
    text = tr(
        "The {n} sectors that border a sector in the program were left out of the comparison and estimated as "
        "their own group: {verdict}. Without them as comparisons the program's effect is {effect} (interval "
        "{lo} to {hi}).",
        n=n,
        verdict=verdict,
        effect=fmt_pct(s.main.att_percent),
        lo=fmt_pct(s.main.ci_percent[0]),
        hi=fmt_pct(s.main.ci_percent[1]),
    )
    if s.notes.get("main"):
        text += " " + spillover_note(s.notes["main"], n_treated=s.main.n_treated)
    return text


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
    nn = noun_word(record_noun(ctx))
    hi_level, lo_level = pre_start_levels(ctx, main.outcome)
    level = _pct(100 * (1 - main.alpha), 0, signed=False)

    def under(r) -> str:
        lo, hi = r.ci_percent
        return tr(
            "**{effect}** ({level} interval {lo} to {hi}; {p})",
            effect=fmt_pct(r.att_percent),
            level=level,
            lo=fmt_pct(lo),
            hi=fmt_pct(hi),
            p=_pf(r),
        )

    text = (
        tr(
            "Every estimate here compares the program's sectors with a prediction of what they would have recorded "
            "without it, built from the sectors not (yet) in it. The headline assumes that, without the program, "
            "each sector's {noun} would have risen or fallen in the same *proportion* as the others' (parallel "
            "trends in proportions: a city-wide fall of 10% is a fall of 10% in every sector). The additive "
            "comparisons (imputation DiD, SDID, TWFE) assume instead that they would have changed by the same "
            "*number* of {noun}. Both cannot hold when the program's sectors are much more violent than the rest "
            "(Roth and Sant'Anna 2023), as they are here: before the first start they recorded {high} {noun} per "
            "sector-month against {low} elsewhere. A city-wide change then moves them by more {noun} than the "
            "average sector, and an additive comparison counts the difference as the program's doing.",
            noun=nn,
            high=fmt_num(hi_level),
            low=fmt_num(lo_level),
        )
        + "\n\n"
        + tr(
            "Under parallel trends in proportions (the headline) the change is {main}; under parallel trends in "
            "levels (the additive imputation) it is {additive}.",
            main=under(main),
            additive=under(additive),
        )
    )
    if validation is not None:
        try:
            z_p, z_a = validation.loc[("zero", "ppml")], validation.loc[("zero", "imputation")]
            c_p, c_a = validation.loc[("constant", "ppml")], validation.loc[("constant", "imputation")]
        except KeyError:
            return text
        sd = validation.loc[("constant", "sdid")] if ("constant", "sdid") in validation.index else None
        sc = validation.loc[("constant", "sc")] if ("constant", "sc") in validation.index else None
        others = ""
        if sd is not None and sc is not None:
            others = " " + tr(
                "(SDID: {sdid}; synthetic control, which errs the other way: {sc})",
                sdid=fmt_pct(sd.mean_estimate),
                sc=fmt_pct(sc.mean_estimate),
            )
        elif sd is not None:
            others = " " + tr("(SDID: {sdid})", sdid=fmt_pct(sd.mean_estimate))
        text += " " + tr(
            "Which reading to trust was measured (a validation study on simulated cities, described under Data and "
            "methods): on {cities} "
            "simulated cities built from the real 2013-2015 sector counts, with city-wide swings that multiply "
            "every sector's rate as Mexico City's did and the program in the most violent sectors, a true fall "
            "of {truth} was estimated by the headline method at {ppml} on average (its 95% interval held the "
            "truth in {coverage} of cities) and by the additive imputation at {additive}{others}. Where the "
            "program had no effect, the headline's 5% test found one in {z_ppml} of cities and the additive "
            "imputation's in {z_additive}. The additive rows of the table above are therefore shown as "
            "comparisons, not as conclusions: where they say more than the headline, the difference is what "
            "proportional city-wide trends alone would produce.",
            cities=f"{int(c_p.cities):,}",
            truth=_pct(abs(c_p.truth_percent), 0, signed=False),
            ppml=fmt_pct(c_p.mean_estimate),
            coverage=_pct(100 * c_p.coverage, 1, signed=False),
            additive=fmt_pct(c_a.mean_estimate),
            others=others,
            z_ppml=_pct(100 * z_p.rejects, 1, signed=False),
            z_additive=_pct(100 * z_a.rejects, 0, signed=False),
        )
    return text
