"""The report's limitations in plain words, each from what the build measured (the audit of the
panel step and the estimates), never typed by hand."""

from __future__ import annotations

import pandas as pd

from analysis.report.content import Context, md_escape, noun_word, record_noun
from analysis.report.i18n import N_, _, date, month, nt, tr
from analysis.report.i18n import pct as _pct


def coinciding_events(ctx: Context) -> list[str]:
    """Known city-wide events within three months of a start."""
    events = {pd.Period("2020-03", "M"): N_("the first COVID-19 lockdown (March 2020)")}
    starts = sorted(set(ctx.panel.treat_start.dropna()))
    out = []
    for s in starts:
        for when, what in events.items():
            if abs((when - s).n) <= 3:
                gap = (when - s).n
                n = int((ctx.panel.drop_duplicates("unit").treat_start == s).sum())
                if gap == 0:
                    rel = _("the same month as")
                elif gap > 0:
                    rel = nt("{n} month before", "{n} months before", abs(gap))
                else:
                    rel = nt("{n} month after", "{n} months after", abs(gap))
                out.append(
                    nt(
                        "the {n} sector starting in {start} began {rel} {what}",
                        "the {n} sectors starting in {start} began {rel} {what}",
                        n,
                        start=month(s),
                        rel=rel,
                        what=_(what),
                    )
                )
    return out


def limitations_md(ctx: Context) -> str:
    a = ctx.audit
    nn = noun_word(record_noun(ctx))
    items = []
    ex = a.get("extracts") or []
    if ex:
        parts = [
            tr(
                "{file}: last event {last}",
                file=md_escape(e["file"]),
                last=date(e["last_event"]) if e.get("last_event") else _("unknown"),
            )
            + (tr(", last case file opened {date}", date=date(e["last_opened"])) if e.get("last_opened") else "")
            for e in ex
        ]
        items.append(
            tr(
                "**Data cut-off.** The figures use the extracts {extracts}. Records added to the source after these "
                "dates are not in this report.",
                extracts="; ".join(parts),
            )
        )
    lag = a.get("reporting_lag")
    if lag:
        miss = lag["share_missing_after_months"]
        items.append(
            tr(
                "**Case files opened late.** {over30} of the {noun} used had their case file opened more than 30 "
                "days after the event ({over90} more than 90 days). A file opened after the extract is missing from "
                "it, so the last months are incomplete: at this pace, about {miss0} of the last month's {noun} and "
                "{miss2} of those two months earlier were still to come. Both the program's sectors and the "
                "comparison are affected alike, so the percent effect is little moved, but recent counts will rise "
                "in the next extract (the comparison with the previous report shows by how much).",
                over30=_pct(100 * lag["share_over_30_days"], 1, signed=False),
                over90=_pct(100 * lag["share_over_90_days"], 1, signed=False),
                noun=nn,
                miss0=_pct(100 * miss[0], 0, signed=False),
                miss2=_pct(100 * miss[2], 0, signed=False),
            )
        )
    else:
        items.append(
            _(
                "**Case files opened late.** The source does not record when each case file was opened, so how "
                "incomplete the last months are cannot be measured; recent counts may rise in the next extract."
            )
        )
    q = a.get("quarantined_by_reason") or {}
    loc = a.get("location") or {}
    if a:
        unlocated = q.get("no_location", 0)
        share = unlocated / max(a.get("rows_used", 0) + unlocated, 1)
        items.append(
            tr(
                "**Records that could not be placed.** {n} outcome records ({share}) had no usable location and are "
                "not counted in any sector; if they are more common in some sectors than in others, those sectors' "
                "counts are understated. They are listed, with the reason, in the quarantine file.",
                n=f"{unlocated:,}",
                share=_pct(100 * share, 1, signed=False),
            )
            + (
                " "
                + tr(
                    "{n} records were placed by their recorded cuadrante instead of coordinates.", n=f"{loc['by_id']:,}"
                )
                if loc.get("by_id")
                else ""
            )
        )
    items.append(
        _(
            "**Intention to treat.** A sector counts as treated from its official start, whatever the intensity of "
            "the program's work there (see the activities section): the estimate is the effect of being assigned "
            "the program, not of any one activity."
        )
    )
    items.append(
        tr(
            "**Few treated sectors.** The estimate rests on {n} sectors. Standard errors that assume many clusters "
            "are wrong with so few; every interval here comes from placebo or randomization draws (SDID's through a "
            "normal approximation to its placebo spread), and the headline's test is checked in the calibration "
            "section. A single sector's p-value cannot fall below about 1/(number of comparable placebo calendars "
            "+ 1).",
            n=len(ctx.treated_sectors),
        )
    )
    co = coinciding_events(ctx)
    if co:
        items.append(
            tr(
                "**Events that coincide with starts.** {events}. The comparison sectors lived through the same "
                "events, so a city-wide change is netted out; an event that hit the program's sectors differently "
                "from the others would not be.",
                events=_first_upper("; ".join(co)),
            )
        )
    items.append(
        _(
            "**Comparison sectors.** Sectors bordering the program are kept as comparisons in the headline; if "
            "violence moved next door, the headline overstates the effect by the displacement (estimated in the "
            "section on neighbouring sectors)."
        )
    )
    return "\n".join(f"- {x}" for x in items)


def _first_upper(s: str) -> str:
    return s[:1].upper() + s[1:]
