"""Incident files -> validated sector x month panel, quarantine and audit.

Every input row ends either in the panel or in the quarantine with one reason, checked in
order: ``duplicate`` (exact repeat of an earlier row of the same file),
``unparseable_date``, ``outside_window``, ``not_an_outcome``, ``no_location``. The audit's
counts reconcile: rows in = rows used + rows quarantined.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data import outcomes
from analysis.data.geography import Geography, read_geography, sha256
from analysis.data.readers import read_incidents
from analysis.data.rollout import read_rollout, treat_start

QUARANTINE_COLUMNS = ["file", "row", "reason", "detail", "date_raw", "category", "crime", "lat", "lon", "location_id"]


@dataclass
class PanelBuild:
    """What the panel step produces: the panel, the quarantined rows and the audit."""

    panel: pd.DataFrame
    quarantine: pd.DataFrame
    audit: dict

    def write(self, out_dir: Path | str) -> dict[str, Path]:
        """Write panel.parquet, quarantine.csv and audit.json atomically (all or nothing)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".panel-", dir=out))
        files = {"panel": tmp / "panel.parquet", "quarantine": tmp / "quarantine.csv", "audit": tmp / "audit.json"}
        self.panel.to_parquet(files["panel"], index=False)
        self.quarantine.to_csv(files["quarantine"], index=False)
        files["audit"].write_text(json.dumps(self.audit, indent=2, default=str))
        final = {}
        for k, f in files.items():
            os.replace(f, out / f.name)
            final[k] = out / f.name
        tmp.rmdir()
        return final


def last_complete_month(dates: pd.Series) -> pd.Period:
    """Month of the latest event if that event is on the month's last day, else the month before."""
    d = dates.max()
    m = d.to_period("M")
    return m if d.normalize() == m.end_time.normalize() else m - 1


def build_panel(
    incident_paths: list[Path | str],
    geography_path: Path | str,
    rollout_path: Path | str | None = None,
    *,
    source: str | None = None,
    first_month: str | pd.Period | None = None,
    last_month: str | pd.Period | None = None,
) -> PanelBuild:
    """Build the sector x month panel from incident files.

    Parameters
    ----------
    incident_paths : list of paths
        Incident files of one known source each (see ``analysis.data.readers``).
    geography_path : path
        Sector polygons (GeoJSON).
    rollout_path : path, optional
        ``rollout.csv``; without it no sector is treated.
    source : str, optional
        Force the reader instead of detecting it from the header.
    first_month, last_month : Period-like, optional
        Study window. By default it runs from the first event's month to the last
        complete month of the data.

    Returns
    -------
    PanelBuild
    """
    geo: Geography = read_geography(geography_path)
    recs, infos = [], []
    for p in incident_paths:
        r, info = read_incidents(p, source)
        recs.append(r)
        infos.append({"file": str(p), "sha256": sha256(p), **info})
    rec = pd.concat(recs, ignore_index=True)
    n_in = len(rec)
    reason = pd.Series(pd.NA, index=rec.index, dtype="string")
    detail = pd.Series("", index=rec.index, dtype="string")

    def quarantine(mask: pd.Series | np.ndarray, why: str, what: pd.Series | str = "") -> None:
        m = pd.Series(mask, index=rec.index) & reason.isna()
        reason[m] = why
        detail[m] = what[m] if isinstance(what, pd.Series) else what

    quarantine(rec.duplicated(["file", "dup_key"]), "duplicate", "exact repeat of an earlier row of this file")
    quarantine(rec.date.isna(), "unparseable_date", "date column: " + rec.date_raw.astype("string"))

    dated = rec.date[reason.isna()]
    if dated.empty:
        raise ValueError(f"no row with a valid date in {', '.join(map(str, incident_paths))}")
    lo = pd.Period(first_month, "M") if first_month is not None else dated.min().to_period("M")
    hi = pd.Period(last_month, "M") if last_month is not None else last_complete_month(dated)
    month = rec.date.dt.to_period("M")
    quarantine((month < lo) | (month > hi), "outside_window", f"study window {lo} to {hi}")

    outcome = pd.Series(pd.NA, index=rec.index, dtype="string")
    for src, g in rec.groupby("source"):
        outcome[g.index] = outcomes.classify(src, g.category, g.crime)
    quarantine(outcome.isna(), "not_an_outcome", "crime label: " + rec.crime.astype("string"))

    # location: the point first; the recorded id where the point is missing or outside
    sector = pd.Series(geo.locate(rec.lon.to_numpy(), rec.lat.to_numpy()), index=rec.index, dtype="object")
    has_point = np.isfinite(rec.lat) & np.isfinite(rec.lon)
    by_id = rec.location_id.where(rec.location_id.isin(geo.names))
    method = np.select([sector.notna(), by_id.notna()], ["point", "id"], "unassigned")
    sector = sector.where(sector.notna(), by_id)
    quarantine(sector.isna(), "no_location",
               np.where(has_point, "coordinates outside every sector polygon", "no coordinates and no known sector id"))

    used = reason.isna()
    u = pd.DataFrame({"unit": sector[used].astype(str), "period": month[used], "outcome": outcome[used]})
    counts = u.groupby(["unit", "period", "outcome"]).size().unstack("outcome", fill_value=0)
    found = set(outcome[used].dropna().unique())
    months = pd.period_range(lo, hi, freq="M")
    grid = pd.MultiIndex.from_product([geo.names, months], names=["unit", "period"])
    panel = counts.reindex(grid, fill_value=0).reindex(columns=sorted(found), fill_value=0).astype("int64").reset_index()
    panel.columns.name = None
    panel = outcomes.add_derived(panel)
    panel["population"] = panel.unit.map(geo.sectors.set_index("sector").population).astype("Float64")

    rollout_info = None
    if rollout_path is not None:
        ro = read_rollout(rollout_path, geo.names)
        ts = treat_start(ro)
        panel["treat_start"] = panel.unit.map(ts).astype("period[M]")
        rollout_info = {"file": str(rollout_path), "sha256": sha256(rollout_path),
                        "treated_sectors": {k: str(v) for k, v in ts.items()}}
    else:
        panel["treat_start"] = pd.Series(pd.NaT, index=panel.index, dtype="period[M]")

    q = rec.loc[~used].assign(reason=reason[~used], detail=detail[~used])[QUARANTINE_COLUMNS]
    in_point = (method == "point")
    audit = {
        "rows_in": n_in,
        "rows_used": int(used.sum()),
        "rows_quarantined": int((~used).sum()),
        "quarantined_by_reason": {k: int(v) for k, v in reason[~used].value_counts().sort_index().items()},
        "used_by_outcome": {k: int(v) for k, v in outcome[used].value_counts().sort_index().items()},
        "location": {
            "by_point": int((in_point & used).sum()),
            "by_id": int(((method == "id") & used).sum()),
            "point_and_id_disagree": int((in_point & used & by_id.notna() & (sector != by_id)).sum()),
            "unassigned": int((method == "unassigned").sum()),
            "points_with_coordinates": int(has_point.sum()),
            "points_inside_a_polygon": int(in_point.sum()),
            "point_match_rate": float(in_point.sum() / max(int(has_point.sum()), 1)),
        },
        "by_month": _by_month(month, used, reason),
        "window": {"first_month": str(lo), "last_month": str(hi), "months": len(months)},
        "geography": {"file": str(geo.path), "sha256": sha256(geo.path), "version": geo.version,
                      "valid_from": geo.valid_from, "valid_to": geo.valid_to, "sectors": len(geo.names)},
        "inputs": infos,
        "rollout": rollout_info,
        "outcomes": outcomes.outcome_columns(found),
        "notes": _notes(found),
    }
    assert audit["rows_in"] == audit["rows_used"] + audit["rows_quarantined"]
    return PanelBuild(panel=panel, quarantine=q.reset_index(drop=True), audit=audit)


def _by_month(month: pd.Series, used: pd.Series, reason: pd.Series) -> dict:
    m = month.astype("string").fillna("unparseable")
    t = pd.crosstab(m, np.where(used, "used", reason.fillna("used")))
    return {k: {c: int(v) for c, v in row.items() if v} for k, row in t.iterrows()}


def _notes(found: set[str]) -> list[str]:
    notes = []
    if "all_homicides" in found:
        notes.append("SSC HOMICIDIO DOLOSO counts every intentional homicide, whatever the weapon: it is in "
                     "'all_homicides', never in 'gun_homicides', so 'shootings' is not defined for this source.")
    return notes
