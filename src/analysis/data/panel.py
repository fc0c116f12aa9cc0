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
    cuadrantes_path: Path | str | None = None,
    source: str | None = None,
    first_month: str | pd.Period | None = None,
    last_month: str | pd.Period | None = None,
    locate: str = "point",
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
    cuadrantes_path : path, optional
        Cuadrante polygons with a ``sector`` property: lets records be placed by their
        recorded cuadrante id when they have no usable coordinates.
    source : str, optional
        Force the reader instead of detecting it from the header.
    first_month, last_month : Period-like, optional
        Study window. By default it runs from the first event's month to the last
        complete month of the data.
    locate : {'point', 'id'}
        Which location wins when a record has both usable coordinates and a known recorded
        id; the other is the fallback. Disagreements are counted either way.

    Returns
    -------
    PanelBuild
    """
    if locate not in ("point", "id"):
        raise ValueError(f"locate must be 'point' or 'id', not {locate!r}")
    geo: Geography = read_geography(geography_path)
    if cuadrantes_path is not None:
        geo.add_cuadrantes(cuadrantes_path)
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

    # location: by point in polygon and by recorded id; `locate` says which wins, the other is the fallback
    by_point = pd.Series(geo.locate(rec.lon.to_numpy(), rec.lat.to_numpy()), index=rec.index, dtype="object")
    has_point = np.isfinite(rec.lat) & np.isfinite(rec.lon)
    by_id = geo.sector_of_id(rec.location_id)
    first, second = (by_point, by_id) if locate == "point" else (by_id, by_point)
    name_first, name_second = ("point", "id") if locate == "point" else ("id", "point")
    method = pd.Series(np.select([first.notna(), second.notna()], [name_first, name_second], "unassigned"), index=rec.index)
    sector = first.where(first.notna(), second)
    why = np.where(has_point, "coordinates outside every sector polygon and no known location id",
                   "no coordinates and no known location id")
    quarantine(sector.isna(), "no_location", pd.Series(why, index=rec.index) + " (id: " + rec.location_id.fillna("none") + ")")

    used = reason.isna()
    u = pd.DataFrame({"unit": sector[used].astype(str), "period": month[used], "outcome": outcome[used],
                      "weight": rec.weight[used]})
    counts = u.groupby(["unit", "period", "outcome"]).weight.sum().unstack("outcome", fill_value=0)
    found = set(outcome[used].dropna().unique())
    months = pd.period_range(lo, hi, freq="M")
    grid = pd.MultiIndex.from_product([geo.names, months], names=["unit", "period"])
    panel = counts.reindex(grid, fill_value=0).reindex(columns=sorted(found), fill_value=0).astype("int64").reset_index()
    panel.columns.name = None
    panel = outcomes.add_derived(panel)
    panel["population"] = panel.unit.map(geo.sectors.set_index("sector").population).astype("Float64")
    panel["geography_version"] = geo.version

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
    both = by_point.notna() & by_id.notna()
    outside_validity = geo.months_outside_validity(months)
    warnings = []
    if outside_validity:
        warnings.append(f"{len(outside_validity)} month(s) of the window ({outside_validity[0]} ...) fall outside the "
                        f"validity of geography {geo.version} ({geo.valid_from} to {geo.valid_to or 'open'})")
    audit = {
        "rows_in": n_in,
        "rows_used": int(used.sum()),
        "rows_quarantined": int((~used).sum()),
        "events_in": int(rec.weight.sum()),
        "events_used": int(rec.weight[used].sum()),
        "quarantined_by_reason": {k: int(v) for k, v in reason[~used].value_counts().sort_index().items()},
        "events_quarantined_by_reason": {k: int(v) for k, v in rec.weight[~used].groupby(reason[~used]).sum().sort_index().items()},
        "used_by_outcome": {k: int(v) for k, v in rec.weight[used].groupby(outcome[used]).sum().sort_index().items()},
        "mojibake_repaired": int(sum(i["mojibake_repaired"] for i in infos)),
        "location": {
            "priority": locate,
            "by_point": int(((method == "point") & used).sum()),
            "by_id": int(((method == "id") & used).sum()),
            "point_and_id_disagree": int((both & used & (by_point != by_id)).sum()),
            "point_and_id_agree": int((both & used & (by_point == by_id)).sum()),
            "unassigned": int((method == "unassigned").sum()),
            "points_with_coordinates": int(has_point.sum()),
            "points_inside_a_polygon": int(by_point.notna().sum()),
            "point_match_rate": float(by_point.notna().sum() / max(int(has_point.sum()), 1)),
        },
        "by_month": _by_month(month, used, reason),
        "window": {"first_month": str(lo), "last_month": str(hi), "months": len(months)},
        "geography": {"file": str(geo.path), "sha256": sha256(geo.path), "version": geo.version,
                      "valid_from": geo.valid_from, "valid_to": geo.valid_to, "sectors": len(geo.names),
                      "cuadrantes_file": str(cuadrantes_path) if cuadrantes_path else None,
                      "months_outside_validity": len(outside_validity)},
        "warnings": warnings,
        "inputs": infos,
        "rollout": rollout_info,
        "outcomes": outcomes.outcome_columns(found),
        "notes": _notes(found),
    }
    assert audit["rows_in"] == audit["rows_used"] + audit["rows_quarantined"]
    assert audit["events_used"] == int(panel[sorted(found)].to_numpy().sum())
    return PanelBuild(panel=panel, quarantine=q.reset_index(drop=True), audit=audit)


def _by_month(month: pd.Series, used: pd.Series, reason: pd.Series) -> dict:
    """Rows by month of the event and by fate (used or the quarantine reason)."""
    m = month.astype("string").fillna("unparseable")
    t = pd.crosstab(m, np.where(used, "used", reason.fillna("used")))
    return {k: {c: int(v) for c, v in row.items() if v} for k, row in t.iterrows()}


def _notes(found: set[str]) -> list[str]:
    notes = []
    if "all_homicides" in found:
        notes.append("SSC HOMICIDIO DOLOSO counts every intentional homicide, whatever the weapon: it is in "
                     "'all_homicides', never in 'gun_homicides', so 'shootings' is not defined for this source.")
    return notes
