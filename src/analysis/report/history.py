"""This quarter's headline beside the last published one, and why it moved.

Each build records in its manifest a digest of every month of the panel (``panel_digest``: a hash
of that month's counts in every sector, which reveals no count). The next quarter's build finds
the latest earlier report in ``reports/``, reads its headline from ``results/program.csv`` and
its digests from ``manifest.json``, and splits the change in three:

- *revised records*: the earlier report's months and sectors, re-estimated on this quarter's data
  (months whose digest changed were revised by a newer extract);
- *new months and new sectors*: from that to this quarter's headline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.periods import parse_quarter, quarter_label

#: outcome columns that enter a month's digest
DIGEST_COLUMNS = ("gun_homicides", "gun_injuries", "shootings")


def panel_digest(panel: pd.DataFrame) -> dict[str, str]:
    """{month: sha256[:16] of that month's counts by sector}: two panels agree on a month exactly
    when its digests do. Counts are never written, only their hash."""
    cols = [c for c in DIGEST_COLUMNS if c in panel]
    out = {}
    for period, g in panel.sort_values(["period", "unit"]).groupby("period", sort=True):
        h = hashlib.sha256()
        for row in g[["unit", *cols]].itertuples(index=False):
            h.update(("|".join(str(v) for v in row) + "\n").encode())
        out[str(period)] = h.hexdigest()[:16]
    return out


@dataclass
class Previous:
    label: str
    folder: Path
    manifest: dict
    program: pd.DataFrame


def find_previous(reports_dir: Path | str, label: str) -> Previous | None:
    """The latest report in ``reports_dir`` for a quarter before ``label`` with a readable
    manifest and headline; None when there is none."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return None
    current = parse_quarter(label)
    found = []
    for d in reports_dir.iterdir():
        try:
            q = parse_quarter(d.name)
        except Exception:
            continue
        if q < current and (d / "manifest.json").exists() and (d / "results" / "program.csv").exists():
            found.append((q, d))
    for q, d in sorted(found, reverse=True):
        try:
            manifest = json.loads((d / "manifest.json").read_text())
            program = pd.read_csv(d / "results" / "program.csv")
        except (OSError, json.JSONDecodeError, pd.errors.ParserError):
            continue
        return Previous(label=quarter_label(q), folder=d, manifest=manifest, program=program)
    return None


def headline_row(program: pd.DataFrame) -> pd.Series | None:
    """The headline's row of a program.csv: the first (whatever its method)."""
    return None if program.empty else program.iloc[0]


def month_changes(previous: Previous, panel: pd.DataFrame) -> dict:
    """Months new since the earlier report, months of both whose counts changed (revised), and
    sectors in the program now that were not then."""
    now = panel_digest(panel)
    then = previous.manifest.get("panel_digest") or {}
    new_months = sorted(m for m in now if m not in then and (not then or m > max(then)))
    revised = sorted(m for m in now if m in then and now[m] != then[m])
    sectors_then = set(treated_then(previous) or [])
    sectors_now = sorted(
        panel.loc[panel.treat_start.notna() & (panel.treat_start <= panel.period.max()), "unit"].unique()
    )
    return {
        "digest_recorded": bool(then),
        "new_months": new_months,
        "revised_months": revised,
        "new_sectors": [s for s in sectors_now if s not in sectors_then] if sectors_then else [],
    }


def treated_then(previous: Previous) -> list[str] | None:
    """The sectors in the program when the earlier report was built (its manifest's
    ``treated_sectors``); None for a manifest that predates the field (then: every sector started
    by the earlier quarter's end, which is the same unless the rollout file was revised)."""
    return previous.manifest.get("treated_sectors")


def cut_to(panel: pd.DataFrame, last_month, sectors: list[str] | None) -> pd.DataFrame:
    """The panel as the earlier report saw it, with today's records: months to ``last_month``,
    and only ``sectors`` treated (all sectors started by then when None)."""
    last = pd.Period(last_month, "M")
    p = panel[panel.period <= last].copy()
    keep = p.treat_start.notna() & (p.treat_start <= last)
    if sectors is not None:
        keep &= p.unit.isin(sectors)
    p.loc[~keep, "treat_start"] = pd.NaT
    return p.reset_index(drop=True)


def previous_md(previous: Previous | None, main, changes: dict | None, same_window=None) -> tuple[str, str]:
    """(text, table): the earlier report's headline beside this one and why it moved."""
    from analysis.report.content import fmt_pct, md_escape, pipe_table
    from analysis.report.i18n import _, month, nt, tr

    if previous is None:
        return (
            _(
                "No earlier quarterly report has been published, so there is nothing to compare this quarter's "
                "headline with. From the next quarter on, this section sets the two side by side and says why the "
                "number moved."
            ),
            "",
        )
    row = headline_row(previous.program)
    if row is None or pd.isna(row.get("att_percent")):
        return (tr("The {quarter} report has no published headline to compare with.", quarter=previous.label), "")
    lo, hi = main.ci_percent
    report, effect, interval, months = _("Report"), _("Effect"), _("95% interval"), _("Treated sector-months")
    rows = [
        {
            report: tr("{quarter} (published)", quarter=previous.label),
            effect: fmt_pct(row.att_percent),
            interval: tr("{lo} to {hi}", lo=fmt_pct(row.ci_percent_low), hi=fmt_pct(row.ci_percent_high)),
            months: f"{int(row.n_treated_periods):,}",
        },
    ]
    if same_window is not None:
        a, b = same_window.ci_percent
        rows.append(
            {
                report: tr("{quarter} months and sectors, today's records", quarter=previous.label),
                effect: fmt_pct(same_window.att_percent),
                interval: tr("{lo} to {hi}", lo=fmt_pct(a), hi=fmt_pct(b)),
                months: f"{same_window.n_treated_periods:,}",
            }
        )
    rows.append(
        {
            report: _("This report"),
            effect: fmt_pct(main.att_percent),
            interval: tr("{lo} to {hi}", lo=fmt_pct(lo), hi=fmt_pct(hi)),
            months: f"{main.n_treated_periods:,}",
        }
    )
    why = []
    c = changes or {}
    if c.get("new_months"):
        m = c["new_months"]
        why.append(
            nt(
                "{n} new month ({first} to {last})",
                "{n} new months ({first} to {last})",
                len(m),
                first=month(m[0]),
                last=month(m[-1]),
            )
        )
    if c.get("new_sectors"):
        why.append(
            nt(
                "{n} sector new to the program ({sectors})",
                "{n} sectors new to the program ({sectors})",
                len(c["new_sectors"]),
                sectors=", ".join(md_escape(x) for x in c["new_sectors"]),
            )
        )
    if c.get("revised_months"):
        r = c["revised_months"]
        why.append(
            nt(
                "records revised in {n} earlier month ({first} to {last}) by a newer extract",
                "records revised in {n} earlier months ({first} to {last}) by a newer extract",
                len(r),
                first=month(r[0]),
                last=month(r[-1]),
            )
        )
    elif c.get("digest_recorded"):
        why.append(_("no earlier month's records changed"))
    else:
        why.append(_("(the earlier report predates month digests, so revisions cannot be told apart)"))
    text = tr(
        "The {quarter} report put the effect at {before}; this one at {now}, a change of {points} points. What "
        "changed: {why}.",
        quarter=previous.label,
        before=fmt_pct(row.att_percent),
        now=fmt_pct(main.att_percent),
        points=_pts(main.att_percent - row.att_percent),
        why="; ".join(why),
    )
    if same_window is not None:
        rev = same_window.att_percent - row.att_percent
        new = main.att_percent - same_window.att_percent
        text += " " + tr(
            "Re-estimated on today's records over the earlier report's months and sectors, the effect is {effect}: "
            "revisions moved it by {rev} points, and the new months and sectors by {new}.",
            effect=fmt_pct(same_window.att_percent),
            rev=_pts(rev),
            new=_pts(new),
        )
    return text, pipe_table(pd.DataFrame(rows), align="lrrr")


def _pts(x: float) -> str:
    return f"{x:+.1f}".replace("-", "−")


def save(results_dir, previous: Previous | None, main, same_window, changes: dict | None):
    """``previous.csv``: the earlier headline, the same window on today's records and this one
    (no row for a report that has no earlier one)."""
    from analysis.report.results_files import save_table

    rows = []
    if previous is not None:
        row = headline_row(previous.program)
        if row is not None:
            rows.append(
                {
                    "report": previous.label,
                    "kind": "published",
                    "att_percent": row.att_percent,
                    "ci_percent_low": row.ci_percent_low,
                    "ci_percent_high": row.ci_percent_high,
                }
            )
        if same_window is not None:
            lo, hi = same_window.ci_percent
            rows.append(
                {
                    "report": previous.label,
                    "kind": "same_window_today",
                    "att_percent": same_window.att_percent,
                    "ci_percent_low": lo,
                    "ci_percent_high": hi,
                }
            )
        lo, hi = main.ci_percent
        rows.append(
            {
                "report": "this",
                "kind": "published",
                "att_percent": main.att_percent,
                "ci_percent_low": lo,
                "ci_percent_high": hi,
            }
        )
    t = pd.DataFrame(rows, columns=["report", "kind", "att_percent", "ci_percent_low", "ci_percent_high"])
    if changes:
        t.attrs.update(changes)
        t["new_months"] = len(changes.get("new_months", []))
        t["revised_months"] = len(changes.get("revised_months", []))
        t["new_sectors"] = " ".join(changes.get("new_sectors", []))
    return save_table(t, results_dir, "previous")
