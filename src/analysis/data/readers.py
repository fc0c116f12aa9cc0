"""Readers for the incident sources the workbook knows, chosen by name or detected from the header.

Each reader returns *records*: one row per input data row with the common columns

``file, row`` (1-based data row; the header is row 0), ``source``, ``date`` (event date,
NaT when unparseable), ``date_raw``, ``category``, ``crime``, ``lat``, ``lon``,
``location_id`` (a recorded cuadrante or sector id, or NA), ``weight`` (events the row
stands for: 1 for victim or incident rows, the count for aggregated rows), ``outcome`` (the
study outcome the crime label maps to, or None) and ``duplicate`` (True for an outcome row
that exactly repeats an earlier row of the same file). Coordinates are parsed for outcome rows
only: no other row is ever located.

Column names differ between releases (``fecha_hecho``, ``FechaHecho``, ``FECHA DE LOS
HECHOS``...): headers are normalised (lower case, no accents, ``_`` for spaces and dashes)
and matched against each source's aliases.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


class InputError(ValueError):
    """A bad input file. The message names the file, and the row and column when known."""


@dataclass(frozen=True)
class Source:
    """A known input format: canonical field -> accepted (normalised) header names."""

    name: str
    description: str
    fields: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    #: fields left out of the duplicate check (record ids that differ between re-exports)
    dup_exclude: tuple[str, ...] = ()


SOURCES = {
    "fgj": Source(
        "fgj",
        "FGJ-CDMX open data, Víctimas en carpetas de investigación (one row per victim)",
        fields={
            "date": ("fecha_hecho", "fechahecho", "fecha_de_los_hechos", "fecha_hechos"),
            "crime": ("delito", "modalidad_delito", "modalidad"),
            "category": ("categoria_delito", "categoria", "categoria_de_delito"),
            "lat": ("latitud", "coord_y", "lat", "y"),
            "lon": ("longitud", "coord_x", "lon", "long", "x"),
            "id": ("id_ci", "id"),
        },
        required=("date", "crime", "lat", "lon"),
        dup_exclude=(),
    ),
    "ssc": Source(
        "ssc",
        "SSC incident points (cuadrante, crime, date, hour, year, month, lat, long, id)",
        fields={
            "location_id": ("cuadrante",),
            "crime": ("crime",),
            "date": ("date",),
            "lat": ("lat",),
            "lon": ("long",),
            "id": ("id",),
        },
        required=("location_id", "crime", "date", "lat", "lon"),
        dup_exclude=("id",),
    ),
    "ssc_counts": Source(
        "ssc_counts",
        "counts by cuadrante and month (cuadrante, crime, date, count, year, sector, population)",
        fields={
            "cuadrante": ("cuadrante",),
            "location_id": ("sector",),
            "crime": ("crime",),
            "date": ("date",),
            "weight": ("count",),
        },
        required=("cuadrante", "location_id", "crime", "date", "weight"),
    ),
}


def normalise_header(name: str) -> str:
    """``'MODALIDAD - DELITO'`` -> ``'modalidad_delito'``; ``'Año_inicio'`` -> ``'ano_inicio'``."""
    s = unicodedata.normalize("NFKD", str(name).strip().lstrip("\ufeff")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


# -- mojibake --------------------------------------------------------------------------------
_UTF8_AS_1252 = re.compile("[ÃÂ][\u0080-\u00ff\u2010-\u203a\u20ac\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc]")
_LOWER_ACCENT_IN_UPPER = re.compile(r"(?<=[A-Z])[\u00e0-\u00ff](?=[A-Z])")


def repair_text(s: str) -> str:
    """Undo the mojibake seen in real releases, or return ``s`` unchanged.

    - UTF-8 read as cp1252/latin-1: ``'VIOLACIÃ“N'`` -> ``'VIOLACIÓN'``;
    - DOS code page 850 read as latin-1: ``'VIOLACIàN'`` -> ``'VIOLACIÓN'`` (an accented lower-case
      letter between capitals, in labels written in capitals).
    """
    if _UTF8_AS_1252.search(s):
        for enc in ("cp1252", "latin-1"):
            try:
                return s.encode(enc).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
    if _LOWER_ACCENT_IN_UPPER.search(s):
        try:
            fixed = _LOWER_ACCENT_IN_UPPER.sub(lambda m: m.group(0).encode("latin-1").decode("cp850"), s)
            if fixed.upper() == fixed:
                return fixed
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return s


def repair_column(values: pd.Series) -> tuple[pd.Series, int]:
    """Repair every distinct value once; return the repaired column and the rows changed."""
    uniq = pd.Series(values.unique(), dtype=object)
    fixed = uniq.map(lambda v: repair_text(v) if isinstance(v, str) else v)
    changed = dict(zip(uniq[fixed != uniq], fixed[fixed != uniq]))
    if not changed:
        return values, 0
    mask = values.isin(list(changed))
    return values.where(~mask, values.map(changed)).astype("str"), int(mask.sum())


# -- reading ---------------------------------------------------------------------------------
def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _peek(path: Path, n: int = 1 << 16) -> bytes:
    with (gzip.open if _is_gzip(path) else open)(path, "rb") as f:
        return f.read(n)


def _sniff(head: bytes, path: Path) -> tuple[str, str]:
    """(delimiter, encoding guess) from the start of the file."""
    if not head.strip():
        raise InputError(f"{path}: the file is empty")
    if b"\x00" in head[:4096]:
        raise InputError(f"{path}: not a text table (binary content)")
    try:
        text = head.decode("utf-8-sig")
        enc = "utf-8"
    except UnicodeDecodeError as e:
        # a cut multi-byte character at the very end of the sample is not an error
        if e.start >= len(head) - 3:
            text, enc = head[: e.start].decode("utf-8-sig"), "utf-8"
        else:
            text, enc = head.decode("cp1252", errors="replace"), "cp1252"
    first = text.splitlines()[0] if text.splitlines() else ""
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delim = max(counts, key=counts.get)
    if counts[delim] == 0:
        raise InputError(f"{path}: not a table: no ',', ';', tab or '|' separator in the header row (row 0)")
    return delim, enc


def _read_table(path: Path, delim: str, enc: str, head: bytes) -> tuple[pa.Table, str]:
    import csv

    first = head.decode(enc if enc != "utf-8" else "utf-8-sig", errors="replace").splitlines()[0]
    header = next(csv.reader([first], delimiter=delim))
    opts = pacsv.ParseOptions(delimiter=delim, newlines_in_values=True)
    conv = pacsv.ConvertOptions(strings_can_be_null=False, quoted_strings_can_be_null=False,
                                column_types={h: pa.string() for h in header})
    gz = _is_gzip(path)
    for e in ([enc, "cp1252"] if enc == "utf-8" else [enc]):
        try:
            # every column as text: types are decided per field afterwards, with failures quarantined
            stream = pa.input_stream(str(path), compression="gzip" if gz else None)
            ro = pacsv.ReadOptions(encoding=e, block_size=1 << 24)
            tbl = pacsv.read_csv(stream, read_options=ro, parse_options=opts, convert_options=conv)
            if any(t != pa.string() for t in tbl.schema.types):
                tbl = tbl.cast(pa.schema([(n, pa.string()) for n in tbl.schema.names]))
            return tbl, ("utf-8" if e == "utf-8" else e)
        except pa.ArrowInvalid as err:
            msg = str(err)
            if "UTF8" in msg or "utf8" in msg.lower():
                continue
            m = re.search(r"row (\d+)", msg)
            where = f"row {m.group(1)}: " if m else ""
            raise InputError(f"{path}: not a readable table: {where}{msg.splitlines()[0]}") from None
    raise InputError(f"{path}: cannot decode as UTF-8 or cp1252")


def exact_duplicates(tbl: pa.Table, columns: list[str]) -> np.ndarray:
    """True for each row that repeats an earlier row exactly in ``columns``.

    Each column is dictionary-encoded and its codes folded into one 64-bit key per row; rows
    sharing a key are then compared on their codes, so the answer is exact, not probabilistic.
    """
    n = tbl.num_rows
    if n == 0:
        return np.zeros(0, bool)
    key = np.zeros(n, dtype=np.uint64)
    codes = []
    with np.errstate(over="ignore"):
        for c in columns:
            idx = pc.dictionary_encode(tbl.column(c)).combine_chunks().indices.to_numpy(zero_copy_only=False)
            key = key * np.uint64(0x9E3779B97F4A7C15) + idx.astype(np.uint64) + np.uint64(1)
            codes.append(idx)
    cand = np.flatnonzero(pd.Series(key).duplicated(keep=False).to_numpy())
    out = np.zeros(n, bool)
    if cand.size:
        sub = pd.DataFrame({i: c[cand] for i, c in enumerate(codes)})
        out[cand] = sub.duplicated().to_numpy()
    return out


#: formats tried, in order, for dates that are not ISO (YYYY-MM-DD[...]); each is strict, so an
#: impossible day (2020-02-30) or month (2020-13-01) is unparseable rather than moved
DATE_FORMATS = ("%Y/%m/%d", "%d/%m/%Y", "%d-%m-%Y", "%Y%m%d", "%d/%m/%y")


def parse_dates(arr: pa.ChunkedArray, raw: pd.Series) -> pd.Series:
    """Event dates: ISO first (fast, in Arrow), then the other formats of real releases, strictly."""
    head = pc.utf8_slice_codeunits(arr, 0, 10)
    iso = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    # Arrow rolls impossible days over (2020-02-30 -> 2020-03-01): keep only exact round trips
    back = pc.strftime(iso, format="%Y-%m-%d")
    same = pc.fill_null(pc.equal(back, head), False)
    date = pd.Series(pc.if_else(same, iso, pa.scalar(None, iso.type)).to_numpy(zero_copy_only=False),
                     dtype="datetime64[s]")
    todo = np.array(date.isna() & raw.ne(""), dtype=bool)
    for fmt in DATE_FORMATS:
        if not todo.any():
            break
        parsed = pd.to_datetime(raw[todo].str.slice(0, 10), format=fmt, errors="coerce")
        ok = parsed.notna().to_numpy()
        idx = np.flatnonzero(todo)[ok]
        date.iloc[idx] = parsed[ok].astype("datetime64[s]").to_numpy()
        todo[idx] = False
    return date


def detect_source(columns: list[str], path: Path) -> Source:
    """The source whose required fields the (normalised) header holds."""
    have = set(columns)

    def found(src: Source) -> set[str]:
        return {f for f in src.required if set(src.fields[f]) & have}

    for src in SOURCES.values():
        if found(src) == set(src.required):
            return src
    best = max(SOURCES.values(), key=lambda s: len(found(s)))
    missing = [f"{f} (one of: {', '.join(best.fields[f])})" for f in best.required if f not in found(best)]
    raise InputError(
        f"{path}: header row (row 0) does not match a known source; closest is '{best.name}' ({best.description}), "
        f"which needs {'; '.join(missing)}. Header seen: {', '.join(columns[:15])}"
    )


def read_incidents(path: Path | str, source: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Read one incident file (CSV, optionally gzipped) into records.

    Parameters
    ----------
    path : path
    source : {'fgj', 'ssc', 'ssc_counts'}, optional
        Force a source; by default it is detected from the header.

    Returns
    -------
    records : DataFrame
        The common record columns described in the module docstring.
    info : dict
        ``source``, ``encoding``, ``rows``, ``mojibake_repaired`` (rows whose labels were
        repaired) and ``columns`` (canonical field -> header used).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    head = _peek(path)
    delim, enc = _sniff(head, path)
    tbl, encoding = _read_table(path, delim, enc, head)
    names = [normalise_header(n) for n in tbl.schema.names]
    if len(names) < 2:
        raise InputError(f"{path}: not a table (found {len(names)} column)")
    tbl = tbl.rename_columns(names)
    if source is not None and source not in SOURCES:
        raise InputError(f"{path}: unknown source {source!r}; known: {', '.join(SOURCES)}")
    src = SOURCES[source] if source else detect_source(names, path)
    col = {f: next((a for a in aliases if a in names), None) for f, aliases in src.fields.items()}
    missing = [f for f in src.required if col[f] is None]
    if missing:
        raise InputError(f"{path}: missing required column(s) for source '{src.name}': "
                         + "; ".join(f"{f} (one of: {', '.join(src.fields[f])})" for f in missing))
    n = tbl.num_rows

    def arrow(f: str) -> pa.ChunkedArray:
        if col.get(f) is None:
            return pa.chunked_array([pa.array([""] * n, pa.string())]) if n else pa.chunked_array([], pa.string())
        return pc.utf8_trim_whitespace(tbl.column(col[f]))

    def text(arr: pa.ChunkedArray) -> pd.Series:
        # arrow-backed strings: no Python object per row
        return pd.Series(pd.arrays.ArrowStringArray(arr), dtype="str") if n else pd.Series([], dtype="str")

    def number(f: str) -> np.ndarray:
        """Coordinates of the outcome rows (NaN elsewhere: other rows are never located)."""
        out = np.full(n, np.nan)
        if col.get(f) is None or not len(keep):
            return out
        a = pc.replace_substring(pc.utf8_trim_whitespace(sub.column(col[f])), ",", ".")
        ok = pc.match_substring_regex(a, r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
        out[keep] = pc.cast(pc.if_else(ok, a, pa.scalar(None, pa.string())), pa.float64()).to_numpy(zero_copy_only=False)
        return out

    date_arr = arrow("date")
    date_raw = text(date_arr)
    date = parse_dates(date_arr, date_raw)
    crime, n_fix_crime = repair_column(text(arrow("crime")))
    category, n_fix_cat = repair_column(text(arrow("category")))
    # classify here so the costly per-row work below runs only on rows that are study outcomes
    from analysis.data.outcomes import classify

    outcome = classify(src.name, category, crime)
    keep = np.flatnonzero(outcome.notna().to_numpy())
    sub = tbl.take(pa.array(keep, pa.int64())) if len(keep) < n else tbl

    if "weight" in src.fields:
        w = text(arrow("weight"))
        weight = pd.to_numeric(w, errors="coerce")
        bad = weight.isna() | (weight < 0) | (weight != weight.round())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: row {i + 1}, column '{col['weight']}': {w.iloc[i]!r} is not a count "
                             "(expected a whole number >= 0)")
        weight = weight.astype("int64").to_numpy()
    else:
        weight = np.ones(n, dtype="int64")

    lat = number("lat")
    lon = number("lon")
    if np.nanmax(np.abs(lon), initial=0) > 180 or np.nanmax(np.abs(lat), initial=0) > 90:
        i = int(np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))[0])
        raise InputError(f"{path}: row {i + 1}, columns '{col['lon']}'/'{col['lat']}': coordinates "
                         f"({lon[i]}, {lat[i]}) are not WGS84 degrees (projected coordinates are not supported)")
    loc = text(arrow("location_id")).replace({"": None, "NA": None}).astype("string")

    # exact duplicates among the outcome rows (a repeated victim record would be counted twice)
    skip = {col.get(f) for f in src.dup_exclude}
    duplicate = np.zeros(n, bool)
    duplicate[keep] = exact_duplicates(sub, [c for c in tbl.schema.names if c not in skip])

    records = pd.DataFrame({
        "file": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[str(path)]),
        "row": np.arange(1, n + 1),
        "source": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[src.name]),
        "date": date,
        "date_raw": date_raw,
        "category": category,
        "crime": crime,
        "lat": lat,
        "lon": lon,
        "location_id": loc,
        "weight": weight,
        "outcome": outcome.to_numpy(dtype=object, na_value=None),
        "duplicate": duplicate,
    })
    info = {"source": src.name, "encoding": encoding, "rows": n, "events": int(weight.sum()),
            "mojibake_repaired": n_fix_crime + n_fix_cat,
            "columns": {f: c for f, c in col.items() if c is not None}}
    return records, info
