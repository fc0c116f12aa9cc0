"""The report's limitations in plain words, each from what the build measured (the audit of the
panel step and the estimates), never typed by hand."""

from __future__ import annotations

import pandas as pd

from analysis.report.content import Context, md_escape, record_noun


def coinciding_events(ctx: Context) -> list[str]:
    """Known city-wide events within three months of a start."""
    events = {pd.Period("2020-03", "M"): "the first COVID-19 lockdown (March 2020)"}
    starts = sorted(set(ctx.panel.treat_start.dropna()))
    out = []
    for s in starts:
        for when, what in events.items():
            if abs((when - s).n) <= 3:
                gap = (when - s).n
                n = int((ctx.panel.drop_duplicates("unit").treat_start == s).sum())
                rel = (
                    "the same month as"
                    if gap == 0
                    else f"{abs(gap)} month{'s' if abs(gap) > 1 else ''} " + ("after" if gap > 0 else "before")
                )
                out.append(f"the {n} sector{'s' if n > 1 else ''} starting in {s} began {rel} {what}")
    return out


def limitations_md(ctx: Context) -> str:
    a = ctx.audit
    noun = record_noun(ctx)
    items = []
    ex = a.get("extracts") or []
    if ex:
        parts = [
            f"{md_escape(e['file'])}: last event {e.get('last_event') or 'unknown'}"
            + (f", last case file opened {e['last_opened']}" if e.get("last_opened") else "")
            for e in ex
        ]
        items.append(
            "**Data cut-off.** The figures use the extracts " + "; ".join(parts) + ". Records added to the "
            "source after these dates are not in this report."
        )
    lag = a.get("reporting_lag")
    if lag:
        miss = lag["share_missing_after_months"]
        items.append(
            f"**Case files opened late.** {100 * lag['share_over_30_days']:.1f}% of the {noun} used had their case file "
            f"opened more than 30 days after the event ({100 * lag['share_over_90_days']:.1f}% more than 90 days). A "
            f"file opened after the extract is missing from it, so the last months are incomplete: at this pace, "
            f"about {100 * miss[0]:.0f}% of the last month's {noun} and {100 * miss[2]:.0f}% of those two months "
            "earlier were still to come. Both the program's sectors and the comparison are affected alike, so the "
            "percent effect is little moved, but recent counts will rise in the next extract (the comparison with "
            "the previous report shows by how much)."
        )
    else:
        items.append(
            "**Case files opened late.** The source does not record when each case file was opened, so how "
            "incomplete the last months are cannot be measured; recent counts may rise in the next extract."
        )
    q = a.get("quarantined_by_reason") or {}
    loc = a.get("location") or {}
    if a:
        unlocated = q.get("no_location", 0)
        share = unlocated / max(a.get("rows_used", 0) + unlocated, 1)
        items.append(
            f"**Records that could not be placed.** {unlocated:,} outcome records ({100 * share:.1f}%) had no usable "
            "location and are not counted in any sector; if they are more common in some sectors than in others, "
            "those sectors' counts are understated. They are listed, with the reason, in the quarantine file."
            + (
                f" {loc['by_id']:,} records were placed by their recorded cuadrante instead of coordinates."
                if loc.get("by_id")
                else ""
            )
        )
    items.append(
        "**Intention to treat.** A sector counts as treated from its official start, whatever the intensity of the "
        "program's work there (see the activities section): the estimate is the effect of being assigned the "
        "program, not of any one activity."
    )
    items.append(
        f"**Few treated sectors.** The estimate rests on {len(ctx.treated_sectors)} sectors. Standard errors that "
        "assume many clusters are wrong with so few; every interval here comes from placebo or randomization "
        "draws (SDID's through a normal approximation to its placebo spread), and the headline's test is "
        "checked in the calibration section. A single sector's p-value cannot fall below about "
        "1/(number of comparable placebo calendars + 1)."
    )
    co = coinciding_events(ctx)
    if co:
        items.append(
            "**Events that coincide with starts.** " + _first_upper("; ".join(co)) + ". The comparison sectors lived "
            "through the same events, so a city-wide change is netted out; an event that hit the program's sectors "
            "differently from the others would not be."
        )
    items.append(
        "**Comparison sectors.** Sectors bordering the program are kept as comparisons in the headline; if violence "
        "moved next door, the headline overstates the effect by the displacement (estimated in the section on "
        "neighbouring sectors)."
    )
    return "\n".join(f"- {x}" for x in items)


def _first_upper(s: str) -> str:
    return s[:1].upper() + s[1:]
