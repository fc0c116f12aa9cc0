"""Incident files -> validated sector x month panel, quarantine and audit.

Every input row ends either in the panel or in the quarantine with one reason, checked in
order: ``duplicate`` (an outcome row that exactly repeats an earlier row of the same file),
``unparseable_date``, ``implausible_date`` (a placeholder such as 1900-01-01, a date after the
build date, or any date outside the months the records regularly cover: such rows never move
the window), ``superseded`` (a row of an older extract of the same source, in a month a newer
extract covers), ``duplicate`` again (the same outcome record in another file: the newest
file's copy is kept), ``outside_window``, ``not_an_outcome``, ``no_location``. The audit's
counts reconcile: rows in = rows used + rows quarantined.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import outcomes
from analysis.data.geography import Geography, read_geography, sha256
from analysis.data.readers import InputError, read_incidents
from analysis.data.rollout import read_rollout, treat_start

REASONS = ["duplicate", "unparseable_date", "implausible_date", "superseded", "outside_window", "not_an_outcome",
           "no_location"]
#: dates that stand for "unknown" in real exports; never a real event date here
PLACEHOLDER_DATES = ("1899-12-30", "1899-12-31", "1900-01-01", "1970-01-01")
QUARANTINE_COLUMNS = ["file", "row", "reason", "detail", "date_raw", "category", "crime", "lat", "lon", "location_id"]


@dataclass
class PanelBuild:
    """What the panel step produces: the panel, the quarantined rows and the audit."""

    panel: pd.DataFrame
    quarantine: pd.DataFrame
    audit: dict
    #: sector pairs whose polygons touch (both directions), for spillover analysis
    adjacency: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    def write(self, out_dir: Path | str) -> dict[str, Path]:
        """Write panel.parquet, quarantine.csv, audit.json and adjacency.csv atomically: files
        are built in a temporary folder and moved in only once all of them are complete."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".panel-", dir=out))
        files = {"panel": tmp / "panel.parquet", "quarantine": tmp / "quarantine.csv", "audit": tmp / "audit.json",
                 "adjacency": tmp / "adjacency.csv"}
        try:
            self.panel.to_parquet(files["panel"], index=False)
            _write_csv(self.quarantine, files["quarantine"])
            self.adjacency.to_csv(files["adjacency"], index=False)
            # the audit names the exact panel and adjacency it describes, so a reader can tell a
            # set of files that belong together from one caught half-replaced
            self.audit["outputs_sha256"] = {n: sha256(files[k]) for k, n in
                                            (("panel", "panel.parquet"), ("adjacency", "adjacency.csv"))}
            files["audit"].write_text(json.dumps(self.audit, indent=2, default=str))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = {}
        for k in ("panel", "quarantine", "adjacency", "audit"):  # the audit last
            os.replace(files[k], out / files[k].name)
            final[k] = out / files[k].name
        tmp.rmdir()
        return final


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV through pyarrow: millions of quarantined rows in a second or two."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    t = pa.Table.from_pandas(df.astype({c: "str" for c in df.columns if df[c].dtype == object or
                                        isinstance(df[c].dtype, pd.CategoricalDtype)}), preserve_index=False)
    pacsv.write_csv(t, path)


def last_complete_month(dates: pd.Series) -> pd.Period:
    """The last month the data cover completely.

    Monthly data (every date on the 1st) cover their last month. Otherwise the extract's end is
    the latest date up to which records keep arriving at their usual pace (``extract_end``),
    and its month counts only if that date is the month's last day: an extract cut on the 25th
    leaves its month partial, and one stray record dated the 31st does not make it complete.
    """
    d = dates.dropna()
    if (d.dt.day == 1).all():
        return d.max().to_period("M")
    end = extract_end(d)
    m = end.to_period("M")
    return m if end.normalize() == m.end_time.normalize() else m - 1


def extract_end(dates: pd.Series, share: float = 0.5, base: float = 30.0) -> pd.Timestamp:
    """The latest date D such that the days ending at D hold at least ``share`` of the usual
    number of records in that many days: where the records stop arriving regularly, whatever
    stray dates come after.

    The window is as many days as usually hold ``base`` records (one day for a full FGJ release,
    about six for the demo's gun records), so ordinary day-to-day noise does not cut a complete
    month, while an extract cut a window's length before the month's end leaves that month
    partial even with a stray record dated its last day (data/raw/README.md).
    """
    day = dates.to_numpy().astype("datetime64[D]").astype("int64")
    lo, hi = day.min(), day.max()
    c = np.bincount(day - lo, minlength=hi - lo + 1).astype(float)
    recent = c[max(0, len(c) - 365):]
    days = int(np.clip(np.ceil(base / max(recent.mean(), 1e-9)), 1, 14))
    window = np.convolve(c, np.ones(days))[: len(c)]  # records in the `days` days ending at each date
    past = window[max(0, len(c) - 365 - days): max(len(c) - days, 1)]
    usual = np.median(past) if len(c) > days else window.max()
    ok = np.flatnonzero(window >= share * max(usual, 1.0))
    end = int(ok[-1]) if len(ok) else len(c) - 1
    return pd.Timestamp(np.datetime64(int(lo + end), "D"))


def regular_coverage(months: np.ndarray, share: float = 0.1, max_gap: int = 3) -> tuple[int, int]:
    """(first, last) month ordinals of the span the records regularly cover.

    A month is covered when its count is at least ``share`` of the median month; covered months
    less than ``max_gap`` months apart form one span, and the span holding most records wins.
    A stray record dated decades early (a case reported long after the event), a block of
    placeholder dates (1900-01-01) or a typo in the future therefore never stretches the study
    window over months of false zeros, however many such rows there are.
    """
    vals, counts = np.unique(months, return_counts=True)
    full = np.arange(vals.min(), vals.max() + 1)
    c = np.zeros(len(full))
    c[vals - vals.min()] = counts
    med = np.median(c[c > 0])
    dense = np.flatnonzero(c >= share * med)
    breaks = np.flatnonzero(np.diff(dense) > max_gap)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(dense) - 1]
    totals = [c[dense[a]: dense[b] + 1].sum() for a, b in zip(starts, ends)]
    k = int(np.argmax(totals))
    return int(full[dense[starts[k]]]), int(full[dense[ends[k]]])


#: an older extract is superseded in the months a newer one covers only when at least this share
#: of its records there are also in the newer one (same day, outcome and place): a new release of
#: the same period repeats most records (revising some); files that split time, or add late
#: reports, share none, and both are kept (identical records are then caught one by one)
SUPERSEDE_SHARED = 0.5


def record_identity(rec: pd.DataFrame) -> np.ndarray:
    """A key per row from what any release of a record keeps: event day, outcome, coordinates
    (to about a metre) and recorded location id, whatever the column names or extra fields."""
    day = rec.date.to_numpy().astype("datetime64[D]").astype("int64")
    frame = pd.DataFrame({"day": day, "outcome": rec.outcome.astype("string").fillna(""),
                          "lat": np.round(rec.lat.to_numpy(), 5), "lon": np.round(rec.lon.to_numpy(), 5),
                          "loc": rec.location_id.astype("string").fillna("")})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def supplying_files(rec: pd.DataFrame, ordinal: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, dict, list[str], dict]:
    """Successive extracts of one source: which file supplies which months.

    Each file's own regularly covered span (``regular_coverage`` of its outcome rows) is where it
    claims months. Files are ordered newest first (latest span end, then more rows, then name).
    An older file's rows in the months a newer file of the same source also covers are
    superseded when at least ``SUPERSEDE_SHARED`` of them are in the newer file too (a new
    release of the same period). Files of *different* sources whose spans overlap are refused:
    an SSC count file and SSC points, or FGJ victims and SSC incidents, describe the same events
    and would be added together.

    Returns a boolean array (True for superseded rows), ``{file: ['2013-01 to 2015-12', ...]}``
    (the months each file supplies, for the audit), the files from newest to oldest and
    ``{month ordinal: file}`` (the file that supplies each month some file covers).
    """
    superseded = np.zeros(len(rec), bool)
    files = rec.file.cat.codes.to_numpy()
    names = list(rec.file.cat.categories)
    source = rec.source.astype(str).to_numpy()
    is_outcome = rec.outcome.notna().to_numpy()
    ident = record_identity(rec) if len(names) > 1 else None
    supplied: dict = {}
    newest_first: list[str] = []
    owner: dict[int, str] = {}
    by_source: dict[str, tuple[int, int, str]] = {}
    for src in pd.unique(source):
        spans = {}
        for code in np.unique(files[source == src]):
            m = ok & (files == code) & is_outcome
            if m.any():
                spans[code] = regular_coverage(ordinal[m])
        if not spans:
            continue
        lo_all, hi_all = min(lo for lo, _ in spans.values()), max(hi for _, hi in spans.values())
        for other, (olo, ohi, ofile) in by_source.items():
            if lo_all <= ohi and olo <= hi_all:
                first = next(names[c] for c in spans)
                raise InputError(
                    f"{first} ({src}) and {ofile} ({other}) are different sources covering the same months "
                    f"({pd.Period(ordinal=max(lo_all, olo), freq='M')} to {pd.Period(ordinal=min(hi_all, ohi), freq='M')}): "
                    "they describe the same events and would be added together; build the panel from one source")
        by_source[src] = (lo_all, hi_all, names[next(iter(spans))])
        order = sorted(spans, key=lambda k: (-spans[k][1], -int((files == k).sum()), names[k]))
        for i, code in enumerate(order):
            lo, hi = spans[code]
            months = np.arange(lo, hi + 1)
            gone = np.zeros(len(months), bool)
            mine = ok & (files == code) & is_outcome
            for newer in order[:i]:
                nlo, nhi = spans[newer]
                both = (months >= nlo) & (months <= nhi) & ~gone
                if not both.any():
                    continue
                m0, m1 = months[both].min(), months[both].max()
                a = mine & (ordinal >= m0) & (ordinal <= m1)
                b = ok & (files == newer) & is_outcome & (ordinal >= m0) & (ordinal <= m1)
                if ident is not None and a.any() and np.isin(ident[a], ident[b]).mean() >= SUPERSEDE_SHARED:
                    gone |= both
            rows = np.flatnonzero(ok & (files == code) & (ordinal >= lo) & (ordinal <= hi))
            superseded[rows[gone[ordinal[rows] - lo]]] = True
            kept = [int(m) for m in months[~gone]]
            supplied[names[code]] = _ranges(kept)
            owner.update(dict.fromkeys(kept, names[code]))
            newest_first.append(names[code])
    return superseded, supplied, newest_first, owner


def _ranges(months: list[int]) -> list[str]:
    """Month ordinals -> ['2013-01 to 2015-12', ...]."""
    out: list[str] = []
    for k, g in itertools.groupby(enumerate(sorted(months)), key=lambda t: t[1] - t[0]):
        ms = [m for _, m in g]
        a, b = pd.Period(ordinal=ms[0], freq="M"), pd.Period(ordinal=ms[-1], freq="M")
        out.append(f"{a} to {b}" if a != b else str(a))
    return out


@dataclass
class Rows:
    """The input rows of every file, and for each the first check it failed (0: still in)."""

    rec: pd.DataFrame
    infos: list[dict]
    code: np.ndarray    # reason codes in the order the checks run: index into REASONS plus one
    detail: np.ndarray  # what a reader of the quarantine file needs to find the problem
    ordinal: np.ndarray  # months as Period ordinals (months since 1970-01)

    def quarantine(self, mask: np.ndarray, why: str, what: str | np.ndarray = "") -> None:
        """Set aside the rows of ``mask`` still in, for reason ``why``; the first failing check is the reason."""
        m = np.asarray(mask, bool) & (self.code == 0)
        self.code[m] = REASONS.index(why) + 1
        self.detail[m] = what[m] if isinstance(what, np.ndarray) else what

    @property
    def used(self) -> np.ndarray:
        return self.code == 0


@dataclass
class Window:
    """The study window and how it was found."""

    lo: pd.Period
    hi: pd.Period
    span: str  # the months the outcome records regularly cover
    supplied: dict  # months supplied by each extract
    duplicates_across_files: int
    warnings: list[str]

    @property
    def months(self) -> pd.PeriodIndex:
        return pd.period_range(self.lo, self.hi, freq="M")


@dataclass
class Location:
    """Where the rows that reached the location step were placed, by point and by recorded id."""

    cand: np.ndarray      # rows that reached the step
    by_point: pd.Series
    by_id: pd.Series
    has_point: np.ndarray
    method: np.ndarray    # 'point', 'id' or 'unassigned'
    sector: np.ndarray    # the sector of every input row (None where not placed)


def read(incident_paths: Sequence[Path | str], source: str | None = None) -> Rows:
    """Step 1: every incident file through its reader, rows stacked, none yet set aside."""
    recs, infos = [], []
    for p in incident_paths:
        r, info = read_incidents(p, source)
        recs.append(r)
        infos.append({"file": str(p), "sha256": sha256(p), **info})
    rec = pd.concat(recs, ignore_index=True) if len(recs) > 1 else recs[0]
    for c in ("file", "source"):  # concat of categoricals with different categories gives objects
        if not isinstance(rec[c].dtype, pd.CategoricalDtype):
            rec[c] = rec[c].astype("category")
    n_in = len(rec)
    # months as Period ordinals (months since 1970-01), computed without building 2 million Periods
    ordinal = rec.date.to_numpy().astype("datetime64[M]").astype("int64")
    return Rows(rec=rec, infos=infos, code=np.zeros(n_in, dtype=np.int8), detail=np.full(n_in, "", dtype=object),
                ordinal=ordinal)


def screen(rows: Rows, *, first_month=None, last_month=None, build_date: str | None = None,
           files: str = "") -> Window:
    """Step 2: set aside, in order, exact repeats, unparseable and implausible dates, rows of
    superseded extracts, the same record in two files, rows outside the study window and rows
    that are not a study outcome; return the window."""
    rec, ordinal = rows.rec, rows.ordinal
    n_in = len(rec)
    rows.quarantine(rec.duplicate.to_numpy(), "duplicate", "exact repeat of an earlier row of this file")
    rows.quarantine(rec.date.isna().to_numpy(), "unparseable_date", "see date_raw")

    today = pd.Timestamp(build_date or pd.Timestamp.today().normalize())
    placeholder = rec.date.isin(pd.to_datetime(list(PLACEHOLDER_DATES))).to_numpy()
    rows.quarantine(placeholder, "implausible_date", "placeholder date (stands for 'unknown')")
    rows.quarantine((rec.date > today).to_numpy(), "implausible_date", f"dated after the build date {today.date()}")
    is_outcome = rec.outcome.notna().to_numpy() & rows.used
    if not is_outcome.any():
        raise ValueError(f"no row with a valid date and a study outcome in {files}")
    # the span the outcome records regularly cover; rows dated outside it are set aside and
    # never move the window
    first_dense, last_dense = regular_coverage(ordinal[is_outcome])
    span = f"{pd.Period(ordinal=first_dense, freq='M')} to {pd.Period(ordinal=last_dense, freq='M')}"
    rows.quarantine((ordinal < first_dense) | (ordinal > last_dense), "implausible_date",
                    f"outside the months the records regularly cover ({span})")

    # successive extracts of one source: the newest supplies the months it covers
    superseded, supplied, newest_first, owner = supplying_files(rec, ordinal, rows.used)
    sup_detail = np.full(n_in, "", dtype=object)
    sup_detail[superseded] = ["a newer extract supplies this month: " + _name(owner.get(o, "?"))
                              for o in ordinal[superseded]]
    rows.quarantine(superseded, "superseded", sup_detail)

    # the same outcome record in two files (a .csv beside its .gz, overlapping releases) counts
    # once: the copy in the newest file is kept
    n_cross = 0
    cand = np.flatnonzero(rows.used & rec.outcome.notna().to_numpy())
    if len(cand) and len(rec.file.cat.categories) > 1:
        rank = {f: i for i, f in enumerate(newest_first)}
        file_rank = np.array([rank.get(f, len(rank)) for f in rec.file.cat.categories])[rec.file.cat.codes.to_numpy()[cand]]
        order = cand[np.lexsort((rec.row.to_numpy()[cand], file_rank))]
        keys = pd.Series(rec.row_key.to_numpy()[order])
        dup = keys.duplicated().to_numpy()
        if dup.any():
            first_of = dict(zip(keys[~dup], order[~dup]))
            det = np.full(n_in, "", dtype=object)
            det[order[dup]] = [f"same record as {_name(str(rec.file.iloc[first_of[k]]))} row {rec.row.iloc[first_of[k]]}"
                               for k in keys[dup]]
            mask = np.zeros(n_in, bool)
            mask[order[dup]] = True
            n_cross = int(mask.sum())
            rows.quarantine(mask, "duplicate", det)

    dated = rec.date[rows.used]
    covered_lo = pd.Period(ordinal=first_dense, freq="M")
    covered_hi = min(last_complete_month(dated), pd.Period(ordinal=last_dense, freq="M"))
    lo = _month(first_month, "first_month") if first_month is not None else covered_lo
    hi = _month(last_month, "last_month") if last_month is not None else covered_hi
    if lo > hi:
        raise InputError(f"the study window is empty: its first month {lo} is after its last month {hi}")
    window_warnings = []
    if lo < covered_lo or hi > covered_hi:
        window_warnings.append(
            f"the window {lo} to {hi} reaches beyond the months the records cover completely ({covered_lo} to "
            f"{covered_hi}): its counts in " + " and ".join(
                x for x in (f"{lo} to {covered_lo - 1}" if lo < covered_lo else "",
                            f"{covered_hi + 1} to {hi}" if hi > covered_hi else "") if x)
            + " are zeros that were not observed")
    rows.quarantine((ordinal < lo.ordinal) | (ordinal > hi.ordinal), "outside_window", f"study window {lo} to {hi}")

    outcome = rec.outcome.to_numpy(dtype=object)  # classified by the reader from outcome_map.csv
    rows.quarantine(pd.isna(outcome), "not_an_outcome", "see crime")
    return Window(lo=lo, hi=hi, span=span, supplied=supplied, duplicates_across_files=n_cross, warnings=window_warnings)


def locate_rows(rows: Rows, geo: Geography, priority: str = "point") -> Location:
    """Step 3: place the rows still in by point in polygon and by recorded id (``priority`` says
    which wins, the other is the fallback); set aside the rows neither places, and refuse a file
    whose points mostly fall outside every sector."""
    rec = rows.rec
    n_in = len(rec)
    cand = np.flatnonzero(rows.used)
    lat, lon = rec.lat.to_numpy()[cand], rec.lon.to_numpy()[cand]
    by_point = pd.Series(geo.locate(lon, lat), dtype="object")
    has_point = np.isfinite(lat) & np.isfinite(lon)
    loc_id = rec.location_id.iloc[cand].reset_index(drop=True)
    by_id = geo.sector_of_id(loc_id)
    first, second = (by_point, by_id) if priority == "point" else (by_id, by_point)
    names = ("point", "id") if priority == "point" else ("id", "point")
    method = np.select([first.notna(), second.notna()], list(names), "unassigned")
    sector = np.full(n_in, None, dtype=object)
    sector[cand] = first.where(first.notna(), second).to_numpy()
    why = np.where(has_point, "coordinates outside every sector polygon", "no usable coordinates") + \
        " and no known location id (id: " + loc_id.fillna("none").to_numpy(dtype=object) + ")"
    lost = np.zeros(n_in, bool)
    lost[cand] = pd.isna(sector[cand])
    full_why = np.full(n_in, "", dtype=object)
    full_why[cand] = why
    rows.quarantine(lost, "no_location", full_why)
    _check_points_fit(rec, cand, lat, lon, has_point, by_point, geo)
    return Location(cand=cand, by_point=by_point, by_id=by_id, has_point=has_point, method=method, sector=sector)


def aggregate(rows: Rows, loc: Location, geo: Geography, window: Window,
              rollout_path: Path | str | None = None, parent: dict | None = None) -> tuple[pd.DataFrame, dict | None]:
    """Step 4: the rows in, counted by sector, month and outcome (weights: victims per record),
    on the full grid of sectors and months; derived outcomes, population, geography version and
    each sector's start. Returns the panel and what the rollout file gave. With ``parent``
    (cuadrante -> sector) the geography's units are cuadrantes, each starting with its sector."""
    code, used = rows.code, rows.used
    if not used.any():
        raise ValueError(f"no input row could be used (rows in {len(code):,}: "
                         + ", ".join(f"{r} {int((code == i + 1).sum()):,}" for i, r in enumerate(REASONS)
                                     if (code == i + 1).any()) + "): the panel would be all zeros")
    outcome = rows.rec.outcome.to_numpy(dtype=object)
    u = pd.DataFrame({"unit": loc.sector[used].astype(str),
                      "period": pd.PeriodIndex.from_ordinals(rows.ordinal[used], freq="M"),
                      "outcome": outcome[used], "weight": rows.rec.weight.to_numpy()[used]})
    counts = u.groupby(["unit", "period", "outcome"]).weight.sum().unstack("outcome", fill_value=0)
    found = set(outcome[used])
    grid = pd.MultiIndex.from_product([geo.names, window.months], names=["unit", "period"])
    panel = counts.reindex(grid, fill_value=0).reindex(columns=sorted(found), fill_value=0).astype("int64").reset_index()
    panel.columns.name = None
    panel = outcomes.add_derived(panel)
    panel["population"] = panel.unit.map(geo.sectors.set_index("sector").population).astype("Float64")
    panel["geography_version"] = geo.version

    rollout_info = None
    if rollout_path is not None:
        ro = read_rollout(rollout_path, geo.names if parent is None else sorted(set(parent.values())))
        ts = treat_start(ro)
        unit_sector = panel.unit if parent is None else panel.unit.map(parent)
        panel["treat_start"] = unit_sector.map(ts).astype("period[M]")
        rollout_info = {"file": str(rollout_path), "sha256": sha256(rollout_path),
                        "treated_sectors": {k: str(v) for k, v in ts.items()}}
    else:
        panel["treat_start"] = pd.Series(pd.NaT, index=panel.index, dtype="period[M]")
    return panel, rollout_info


def quarantine_table(rows: Rows) -> pd.DataFrame:
    """The rows set aside, each with its reason and what a reader needs to find it."""
    rec, used = rows.rec, rows.used
    reason = pd.Series(np.array([None, *REASONS], dtype=object)[rows.code], dtype="string")
    q = rec.loc[~used, [c for c in QUARANTINE_COLUMNS if c in rec]].assign(
        reason=reason[~used].to_numpy(), detail=rows.detail[~used])[QUARANTINE_COLUMNS]
    return q.reset_index(drop=True)


def audit(rows: Rows, loc: Location, geo: Geography, window: Window, panel: pd.DataFrame, rollout_info: dict | None,
          *, priority: str, cuadrantes_path: Path | str | None = None, parent: dict | None = None) -> dict:
    """Step 5: the audit: counts that reconcile (rows in = used + quarantined; events used = the
    panel's total), by reason, by outcome, by month and by location method, with the inputs' hashes;
    the panel's ``unit`` ('cuadrante' with ``parent``, each cuadrante's sector: ``unit_sectors``)."""
    code, used, rec = rows.code, rows.used, rows.rec
    n_in = len(rec)
    outcome = rec.outcome.to_numpy(dtype=object)
    found = set(outcome[used])
    in_use = used[loc.cand]  # location figures concern the rows that reached the location step
    by_point, by_id, method, has_point = loc.by_point, loc.by_id, loc.method, loc.has_point
    both = (by_point.notna() & by_id.notna()).to_numpy()
    agree = both & (by_point.to_numpy() == by_id.to_numpy())
    weight = rec.weight.to_numpy()
    months = window.months
    outside_validity = geo.months_outside_validity(months)
    warnings = list(geo.repairs) + window.warnings
    if outside_validity:
        warnings.append(f"{len(outside_validity)} month(s) of the window ({outside_validity[0]} ...) fall outside the "
                        f"validity of geography {geo.version} ({geo.valid_from} to {geo.valid_to or 'open'})")
    out: dict[str, Any] = {
        "unit": "sector" if parent is None else "cuadrante",
        **({"unit_sectors": parent} if parent is not None else {}),
        "rows_in": n_in,
        "rows_used": int(used.sum()),
        "rows_quarantined": int((~used).sum()),
        "events_in": int(weight.sum()),
        "events_used": int(weight[used].sum()),
        "quarantined_by_reason": {r: int(((code == i + 1)).sum()) for i, r in enumerate(REASONS) if (code == i + 1).any()},
        "events_quarantined_by_reason": {r: int(weight[code == i + 1].sum()) for i, r in enumerate(REASONS) if (code == i + 1).any()},
        "used_by_outcome": {k: int(v) for k, v in pd.Series(weight[used]).groupby(outcome[used]).sum().sort_index().items()},
        "mojibake_repaired": int(sum(i["mojibake_repaired"] for i in rows.infos)),
        "location": {
            "note": "rows that reached the location step (dated, in the window, an outcome, not a duplicate)",
            "priority": priority,
            "by_point": int(((method == "point") & in_use).sum()),
            "by_id": int(((method == "id") & in_use).sum()),
            "point_and_id_disagree": int((both & ~agree & in_use).sum()),
            "point_and_id_agree": int((agree & in_use).sum()),
            "unassigned": int((method == "unassigned").sum()),
            "points_with_coordinates": int(has_point.sum()),
            "points_inside_a_polygon": int(by_point.notna().sum()),
            "point_match_rate": float(by_point.notna().sum() / max(int(has_point.sum()), 1)),
        },
        "by_month": _by_month(rows.ordinal, code),
        "window": {"first_month": str(window.lo), "last_month": str(window.hi), "months": len(months)},
        "regular_coverage": window.span,
        "months_supplied_by_file": window.supplied,
        "duplicates_across_files": window.duplicates_across_files,
        "cuadrantes": {"file": str(cuadrantes_path), "sha256": sha256(cuadrantes_path)} if cuadrantes_path else None,
        "geography": {"file": str(geo.path), "sha256": sha256(geo.path), "version": geo.version,
                      "valid_from": geo.valid_from, "valid_to": geo.valid_to, "sectors": len(geo.names),
                      "cuadrantes_file": str(cuadrantes_path) if cuadrantes_path else None,
                      "months_outside_validity": len(outside_validity), "repaired": geo.repairs},
        "warnings": warnings,
        "inputs": rows.infos,
        "rollout": rollout_info,
        "outcomes": outcomes.outcome_columns(found),
        "notes": _notes(found),
        "extracts": _extracts(rec, used),
        "reporting_lag": _reporting_lag(rec, used),
        "victims_by_group": _victims_by_group(rec, used, loc, rows.ordinal),
    }
    if out["rows_in"] != out["rows_used"] + out["rows_quarantined"]:
        raise AssertionError("rows in != rows used + rows quarantined")
    if out["events_used"] != int(panel[sorted(found)].to_numpy().sum()):
        raise AssertionError("events used != the panel's total")
    return out


def build_panel(
    incident_paths: Sequence[Path | str],
    geography_path: Path | str,
    rollout_path: Path | str | None = None,
    *,
    cuadrantes_path: Path | str | None = None,
    source: str | None = None,
    first_month: str | pd.Period | None = None,
    last_month: str | pd.Period | None = None,
    locate: str = "point",
    geography_version: str | None = None,
    geography_valid_from: str | None = None,
    geography_valid_to: str | None = None,
    build_date: str | None = None,
    unit: str = "sector",
) -> PanelBuild:
    """Build the sector x month panel from incident files, in steps a test can call one by one:
    ``read``, ``screen`` (the quarantine checks up to the study window), ``locate_rows``,
    ``aggregate``, ``quarantine_table`` and ``audit``.

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
        complete month of the data, and it is trimmed to the months that the outcome
        records cover regularly (at least a tenth of the median month): one record dated years
        early, or a typo in the future, does not stretch the panel over months of false zeros.
    locate : {'point', 'id'}
        Which location wins when a record has both usable coordinates and a known recorded
        id; the other is the fallback. Disagreements are counted either way.
    geography_version, geography_valid_from, geography_valid_to : str, optional
        Version and validity of the sector file when it does not carry them itself.
    build_date : str, optional
        Records dated after it are set aside (default: today).
    unit : {'sector', 'cuadrante'}
        The panel's units. 'cuadrante': records are placed in the cuadrante polygons of
        ``cuadrantes_path`` (by point, or by recorded cuadrante id), each cuadrante starts when
        its sector does, and the adjacency is between cuadrantes; the audit gives each
        cuadrante's sector (``unit_sectors``).

    Returns
    -------
    PanelBuild
    """
    if locate not in ("point", "id"):
        raise ValueError(f"locate must be 'point' or 'id', not {locate!r}")
    if unit not in ("sector", "cuadrante"):
        raise ValueError(f"unit must be 'sector' or 'cuadrante', not {unit!r}")
    geo: Geography = read_geography(geography_path, version=geography_version, valid_from=geography_valid_from,
                                    valid_to=geography_valid_to)
    parent = None
    if unit == "cuadrante":
        if cuadrantes_path is None:
            raise ValueError("unit='cuadrante' needs the cuadrante polygons (cuadrantes_path)")
        parent = cuadrante_sectors(cuadrantes_path, geo)
        geo = read_geography(cuadrantes_path, id_field="cuadrante", version=geo.version, valid_from=geo.valid_from,
                             valid_to=geo.valid_to)
    elif cuadrantes_path is not None:
        geo.add_cuadrantes(cuadrantes_path)
    rows = read(incident_paths, source)
    window = screen(rows, first_month=first_month, last_month=last_month, build_date=build_date,
                    files=", ".join(map(str, incident_paths)))
    loc = locate_rows(rows, geo, locate)
    panel, rollout_info = aggregate(rows, loc, geo, window, rollout_path, parent)
    a = audit(rows, loc, geo, window, panel, rollout_info, priority=locate, cuadrantes_path=cuadrantes_path,
              parent=parent)
    return PanelBuild(panel=panel, quarantine=quarantine_table(rows), audit=a, adjacency=geo.adjacency())


def cuadrante_sectors(path: Path | str, sectors: Geography) -> dict[str, str]:
    """Each cuadrante's sector, from the cuadrante file's ``cuadrante`` and ``sector`` properties;
    a sector the sector file does not know (under its name or an older alias) is an error that
    names the file and feature."""
    path = Path(path)
    try:
        fc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: cannot read the cuadrante file ({e})") from None
    out: dict[str, str] = {}
    for i, f in enumerate(fc.get("features", [])):
        p = f.get("properties") or {}
        if "cuadrante" not in p or "sector" not in p:
            raise InputError(f"{path}: feature {i} lacks 'cuadrante' or 'sector'")
        sec = sectors.sector_of_id(pd.Series([str(p["sector"])])).iloc[0]
        if sec is None or pd.isna(sec):
            raise InputError(f"{path}: feature {i} (cuadrante {p['cuadrante']!r}): sector {p['sector']!r} is not in "
                             f"{sectors.path.name}")
        out[str(p["cuadrante"])] = str(sec)
    return out


AGE_GROUPS = ((0, 17, "0-17"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 49, "35-49"), (50, 200, "50+"))


def age_group(age: np.ndarray) -> np.ndarray:
    out = np.full(len(age), "unknown", dtype=object)
    for lo, hi, name in AGE_GROUPS:
        out[(age >= lo) & (age <= hi)] = name
    return out


def _extracts(rec: pd.DataFrame, used: np.ndarray) -> list[dict]:
    """Each input file's last event date and last case-file date: the extract's cut-off, which
    the report's limitations state."""
    out = []
    for f, g in rec.groupby("file", observed=True):
        d = pd.to_datetime(g.date, errors="coerce")
        row = {"file": _name(str(f)), "last_event": str(d.max().date()) if d.notna().any() else None}
        if "opened" in g:
            o = pd.to_datetime(g.opened, errors="coerce")
            row["last_opened"] = str(o.max().date()) if o.notna().any() else None
        out.append(row)
    return out


def _reporting_lag(rec: pd.DataFrame, used: np.ndarray) -> dict | None:
    """Days from the event to the opening of its case file, over the rows used: how many files
    are opened late, and so how incomplete the last months of an extract are."""
    if "opened" not in rec:
        return None
    ev = pd.to_datetime(rec.date[used], errors="coerce")
    op = pd.to_datetime(rec.opened[used], errors="coerce")
    lag = (op - ev).dt.days.to_numpy(dtype=float)
    lag = lag[np.isfinite(lag) & (lag >= 0)]
    if not len(lag):
        return None
    return {
        "records": int(len(lag)),
        "share_over_30_days": float(np.mean(lag > 30)),
        "share_over_90_days": float(np.mean(lag > 90)),
        "share_over_365_days": float(np.mean(lag > 365)),
        "median_days": float(np.median(lag)),
        "p90_days": float(np.quantile(lag, 0.9)),
        # the share of a month's records still to come k months after it ends (k = 0, 1, 2, 3)
        "share_missing_after_months": [float(np.mean(lag > 30 * k + 15)) for k in range(4)],
    }


def _victims_by_group(rec: pd.DataFrame, used: np.ndarray, loc, ordinal: np.ndarray) -> dict | None:
    """Victims used, by sector, month, outcome, sex and age group (when the source gives sex
    or age), as ``{"columns": [...], "rows": [[...], ...]}``: unpublished (the audit is never
    published); the report shows only sums, suppressed from 1 to 4."""
    if "sex" not in rec and "age" not in rec:
        return None
    n = int(used.sum())
    sex = rec.sex.to_numpy(dtype=object)[used] if "sex" in rec else np.full(n, "unknown", dtype=object)
    sex = np.where(pd.isna(sex), "unknown", sex)
    age = rec.age.to_numpy(dtype=float)[used] if "age" in rec else np.full(n, np.nan)
    t = pd.DataFrame({
        "unit": loc.sector[used].astype(str),
        "month": pd.PeriodIndex.from_ordinals(ordinal[used], freq="M").astype(str),
        "outcome": rec.outcome.to_numpy(dtype=object)[used],
        "sex": sex,
        "age_group": age_group(age),
        "victims": rec.weight.to_numpy()[used],
    })
    g = t.groupby(["unit", "month", "outcome", "sex", "age_group"]).victims.sum().reset_index()
    return {"columns": list(g.columns), "rows": [[*map(str, r[:-1]), int(r[-1])] for r in g.itertuples(index=False)]}


def _check_points_fit(rec, cand, lat, lon, has_point, by_point, geo, min_share: float = 0.5) -> None:
    """Refuse a file whose points mostly fall outside every sector: swapped or projected
    coordinates, or the wrong geography, would otherwise give a panel of false zeros."""
    files = rec.file.to_numpy()[cand]
    for f in pd.unique(files):
        m = (files == f) & has_point
        if m.sum() < 20:
            continue
        inside = by_point.notna().to_numpy()[m].mean()
        if inside >= min_share:
            continue
        swapped = pd.notna(geo.locate(lat[m], lon[m])).mean()
        hint = ("latitude and longitude look swapped: the latitude column holds longitudes"
                if swapped >= min_share else "wrong coordinate columns, or a geography of another city?")
        raise InputError(f"{f}: only {100 * inside:.1f}% of {int(m.sum()):,} outcome records with coordinates fall "
                         f"in a sector of {geo.path.name}: {hint}")


def _month(value, option: str) -> pd.Period:
    try:
        return pd.Period(value, "M")
    except (ValueError, TypeError):
        raise InputError(f"{option} {value!r} is not a month written YYYY-MM") from None


def _name(path: str) -> str:
    return Path(path).name


def _by_month(ordinal: np.ndarray, code: np.ndarray) -> dict:
    """Rows by month of the event and by fate (used, or the quarantine reason)."""
    nat = ordinal == np.iinfo(np.int64).min
    key = np.where(nat, -1, ordinal - ordinal[~nat].min() if (~nat).any() else 0)
    k = (key + 1) * (len(REASONS) + 1) + code
    uniq, counts = np.unique(k, return_counts=True)
    base = ordinal[~nat].min() if (~nat).any() else 0
    out: dict = {}
    fates = ["used", *REASONS]
    for u, c in zip(uniq, counts):
        m, r = divmod(int(u), len(REASONS) + 1)
        label = "unparseable" if m == 0 else str(pd.Period(ordinal=int(base + m - 1), freq="M"))
        out.setdefault(label, {})[fates[r]] = int(c)
    return out


def _notes(found: set[str]) -> list[str]:
    notes = ["Exact duplicates are dropped once: in victim files without a victim id, two victims of one case "
             "with the same sex and age (or none recorded) look identical and are counted once; check the "
             "'duplicate' rows of quarantine.csv against the source when multi-victim events matter."]
    if "all_homicides" in found:
        notes.append("SSC HOMICIDIO DOLOSO counts every intentional homicide, whatever the weapon: it is in "
                     "'all_homicides', never in 'gun_homicides', so 'shootings' is not defined for this source.")
    return notes
