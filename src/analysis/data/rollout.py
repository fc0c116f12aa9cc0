"""The program's rollout table: which sector got which component from when."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.data.readers import InputError

REQUIRED = ("sector", "component", "start")


def read_rollout(path: Path | str, sectors: list[str] | None = None) -> pd.DataFrame:
    """Read and validate ``rollout.csv`` (sector, component, start[, end]).

    Errors name the file, the data row (1-based) and the column: an unknown sector, an
    unparseable date, an end before its start, or overlapping periods of one component in
    one sector.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such rollout file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the rollout file is empty") from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)}; expected sector, component, start[, end]")
    if "end" not in df:
        df["end"] = ""
    if df.empty:
        raise InputError(f"{path}: the rollout has a header but no rows: no sector is in the program")
    known = set(sectors) if sectors is not None else None
    out = []
    for i, r in enumerate(df.itertuples(index=False), start=1):
        sec = r.sector.strip()
        if known is not None and sec not in known:
            raise InputError(f"{path}: row {i}, column 'sector': sector {sec!r} is not in the geography")
        start = _iso(r.start)
        if pd.isna(start):
            raise InputError(f"{path}: row {i}, column 'start': {r.start!r} is not a date written YYYY-MM-DD "
                             "(the rollout takes ISO dates only: 01/06/2014 could be June or January)")
        end = _iso(r.end) if r.end.strip() else pd.NaT
        if r.end.strip() and pd.isna(end):
            raise InputError(f"{path}: row {i}, column 'end': {r.end!r} is not a date written YYYY-MM-DD (or empty)")
        if pd.notna(end) and end < start:
            raise InputError(f"{path}: row {i}, column 'end': end {r.end} is before start {r.start}")
        out.append((i, sec, r.component.strip(), start, end))
    ro = pd.DataFrame(out, columns=["row", "sector", "component", "start", "end"])
    for (sec, comp), g in ro.groupby(["sector", "component"]):
        g = g.sort_values("start")
        for k in range(1, len(g)):
            prev_end = g.end.iloc[k - 1]
            if pd.isna(prev_end) or g.start.iloc[k] <= prev_end:
                raise InputError(
                    f"{path}: row {g.row.iloc[k]}, column 'start': {comp} in sector {sec} overlaps the period "
                    f"of row {g.row.iloc[k - 1]}"
                )
    return ro


def _iso(text: str) -> pd.Timestamp:
    """A date written exactly YYYY-MM-DD (a real calendar day), else NaT."""
    t = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        return pd.NaT
    return pd.to_datetime(t, format="%Y-%m-%d", errors="coerce")


def treat_start(rollout: pd.DataFrame) -> pd.Series:
    """First treated month of each sector: the month of its earliest component start.

    The estimates are intention-to-treat: a sector counts as treated from that month on, and
    the whole month counts even when the program started mid-month. ``end`` dates are validated
    and kept in the rollout table but do not end treatment in the panel.
    """
    return rollout.groupby("sector").start.min().dt.to_period("M")
