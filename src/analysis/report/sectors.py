"""Every sector's effect in one table and one forest plot, read from the sector notebooks' results
files (``results/sector_<id>.csv``): the report body shows them together, the appendix shows
each sector's event study and path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report.content import Context, file_stem, fmt_p, fmt_pct, md_escape, pipe_table
from analysis.report.i18n import _, month, nt, tr


def sector_rows(results_dir: str | Path, ctx: Context, outcome: str) -> pd.DataFrame:
    """One row per treated sector whose results file exists: start, effect, interval, p-value
    and its floor, sector-months; ``suppressed`` where the sector's estimate is withheld."""
    results_dir = Path(results_dir)
    starts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start
    rows = []
    for s in ctx.treated_sectors:
        f = results_dir / f"sector_{file_stem(s)}.csv"
        if not f.exists():
            continue
        r = pd.read_csv(f)
        r = r[r.outcome == outcome]
        if r.empty:
            continue
        r = r.iloc[0]
        suppressed = bool(r.get("suppressed", False)) or not np.isfinite(r.att_percent)
        rows.append(
            {
                "sector": s,
                "start": str(starts[s]),
                "months": int(r.n_treated_periods),
                "percent": np.nan if suppressed else float(r.att_percent),
                "ci_low": np.nan if suppressed else float(r.ci_percent_low),
                "ci_high": np.nan if suppressed else float(r.ci_percent_high),
                "p_value": np.nan if suppressed else float(r.p_value),
                "inference": r.inference,
                "min_p_value": float(r.get("min_p_value", 0.0)),
                "suppressed": suppressed,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "sector",
            "start",
            "months",
            "percent",
            "ci_low",
            "ci_high",
            "p_value",
            "inference",
            "min_p_value",
            "suppressed",
        ],
    )


def program_row(results_dir: str | Path) -> tuple[float, float, float] | None:
    """The headline (percent, low, high) from ``program.csv``, when it is written and published.

    The sectors notebook runs after every other notebook of the build; without the file (a
    notebook run by hand) the forest plot simply has no program row."""
    f = Path(results_dir) / "program.csv"
    if not f.exists():
        return None
    t = pd.read_csv(f)
    t = t.head(1)  # the headline's row comes first (whatever its method)
    if t.empty or not np.isfinite(t.att_percent.iloc[0]):
        return None
    r = t.iloc[0]
    return float(r.att_percent), float(r.ci_percent_low), float(r.ci_percent_high)


def sector_text(tbl: pd.DataFrame) -> str:
    shown = tbl[~tbl.suppressed]
    if shown.empty:
        return _("No sector's estimate can be published.")
    below = int((shown.ci_high < 0).sum())
    floor = float(shown.min_p_value.max()) if len(shown) else 0.0
    rest = len(shown) - below
    others = (
        "" if not rest else nt("; the other one's interval includes it", "; the other {n}'s intervals include it", rest)
    )
    text = (
        nt(
            "Of the {total} sectors with a published estimate, {n} shows a fall whose interval excludes zero{others}.",
            "Of the {total} sectors with a published estimate, {n} show a fall whose interval excludes zero{others}.",
            below,
            total=len(shown),
            others=others,
        )
        + " "
        + tr(
            "Estimates range from {low} to {high}.", low=fmt_pct(shown.percent.min()), high=fmt_pct(shown.percent.max())
        )
    )
    if floor:
        text += " " + tr(
            "A single sector's placebo p-value cannot go below {floor} (one over the number of distinct placebo "
            "calendars plus one, as few as the comparable sectors never in the program), so a sector's p-value at "
            "that floor means 'as extreme as any placebo', not 'p = 0'.",
            floor=f"{floor:.3f}",
        )
    return text


def sector_md(tbl: pd.DataFrame) -> str:
    cols = (
        _("Sector"),
        _("Start"),
        _("Months"),
        _("Effect"),
        _("95% interval"),
        _("p-value"),
        _("Smallest possible p"),
    )
    rows = []
    for r in tbl.itertuples():
        if r.suppressed:
            rows.append(
                dict(
                    zip(cols, (md_escape(r.sector), month(r.start, "short"), f"{r.months}", "n/p", "n/p", "n/p", "n/p"))
                )
            )
            continue
        rows.append(
            dict(
                zip(
                    cols,
                    (
                        md_escape(r.sector),
                        month(r.start, "short"),
                        f"{r.months}",
                        fmt_pct(r.percent),
                        tr("{lo} to {hi}", lo=fmt_pct(r.ci_low), hi=fmt_pct(r.ci_high)),
                        fmt_p(r.p_value, r.min_p_value).removeprefix("p = ").replace("p ", ""),
                        f"{r.min_p_value:.3f}" if r.min_p_value else "—",
                    ),
                )
            )
        )
    return pipe_table(pd.DataFrame(rows), align="llrrrrr")
