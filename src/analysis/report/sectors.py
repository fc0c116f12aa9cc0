"""Every sector's effect in one table and one forest plot, read from the sector notebooks' results
files (``results/sector_<id>.csv``): the report body shows them together, the appendix shows
each sector's event study and path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report.content import Context, file_stem, fmt_p, fmt_pct, md_escape, pipe_table


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
    t = t[t.method == "ppml"]
    if t.empty or not np.isfinite(t.att_percent.iloc[0]):
        return None
    r = t.iloc[0]
    return float(r.att_percent), float(r.ci_percent_low), float(r.ci_percent_high)


def sector_text(t: pd.DataFrame) -> str:
    shown = t[~t.suppressed]
    if shown.empty:
        return "No sector's estimate can be published."
    below = int((shown.ci_high < 0).sum())
    floor = float(shown.min_p_value.max()) if len(shown) else 0.0
    rest = len(shown) - below
    others = (
        ""
        if not rest
        else ("; the other one's interval includes it" if rest == 1 else f"; the other {rest}'s intervals include it")
    )
    text = (
        f"Of the {len(shown)} sectors with a published estimate, {below} show{'s' if below == 1 else ''} a fall whose "
        f"interval excludes zero{others}. Estimates range from {fmt_pct(shown.percent.min())} to "
        f"{fmt_pct(shown.percent.max())}."
    )
    if floor:
        text += (
            f" A single sector's placebo p-value cannot go below {floor:.3f} (one over the number of distinct placebo "
            "calendars plus one, as few as the comparable sectors never in the program), so a sector's p-value at that floor means 'as extreme as any placebo', not 'p = 0'."
        )
    return text


def sector_md(t: pd.DataFrame) -> str:
    rows = []
    for r in t.itertuples():
        if r.suppressed:
            rows.append(
                {
                    "Sector": md_escape(r.sector),
                    "Start": r.start,
                    "Months": f"{r.months}",
                    "Effect": "n/p",
                    "95% interval": "n/p",
                    "p-value": "n/p",
                    "Smallest possible p": "n/p",
                }
            )
            continue
        rows.append(
            {
                "Sector": md_escape(r.sector),
                "Start": r.start,
                "Months": f"{r.months}",
                "Effect": fmt_pct(r.percent),
                "95% interval": f"{fmt_pct(r.ci_low)} to {fmt_pct(r.ci_high)}",
                "p-value": fmt_p(r.p_value, r.min_p_value).removeprefix("p = ").replace("p ", ""),
                "Smallest possible p": f"{r.min_p_value:.3f}" if r.min_p_value else "—",
            }
        )
    return pipe_table(pd.DataFrame(rows), align="llrrrrr")
