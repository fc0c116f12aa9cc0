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
import zlib
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
            # optional: who the victim was, and when the case file was opened (for the report's
            # victims by sex and age, and its note on case files opened late)
            "sex": ("sexo", "sex"),
            "age": ("edad", "age"),
            "opened": ("fecha_inicio", "fechainicio", "fecha_de_inicio"),
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
    delim = max(counts, key=lambda d: counts[d])
    if counts[delim] == 0:
        raise InputError(f"{path}: not a table: no ',', ';', tab or '|' separator in the header row (row 0)")
    return delim, enc


def _read_table(path: Path, delim: str, enc: str, head: bytes) -> tuple[pa.Table, str]:
    import csv

    opts = pacsv.ParseOptions(delimiter=delim, newlines_in_values=True)
    gz = _is_gzip(path)
    for e in ([enc, "cp1252"] if enc == "utf-8" else [enc]):
        # the header in the encoding of this attempt (its names key the text-typed columns)
        first = head.decode(e if e != "utf-8" else "utf-8-sig", errors="replace").splitlines()[0]
        header = next(csv.reader([first], delimiter=delim))
        conv = pacsv.ConvertOptions(strings_can_be_null=False, quoted_strings_can_be_null=False,
                                    column_types={h: pa.string() for h in header})
        try:
            # every column as text: types are decided per field afterwards, with failures quarantined
            stream = pa.input_stream(str(path), compression="gzip" if gz else None)
            ro = pacsv.ReadOptions(encoding=e, block_size=1 << 24)
            tbl = pacsv.read_csv(stream, read_options=ro, parse_options=opts, convert_options=conv)
            if any(t != pa.string() for t in tbl.schema.types):
                tbl = tbl.cast(pa.schema([(n, pa.string()) for n in tbl.schema.names]))
            return tbl, ("utf-8" if e == "utf-8" else e)
        except UnicodeDecodeError:
            # cp1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D; 'É' is 0x90 in
            # the DOS code page 850 some exports use): name the first one and its row
            raise InputError(f"{path}: cannot decode as UTF-8 or cp1252: {_undefined_byte(path)}; "
                             "re-export the file as UTF-8") from None
        except pa.ArrowInvalid as err:
            msg = str(err)
            # arrow's own words only: a parse error quotes the offending row after them
            if msg.startswith("CSV parse error: Expected"):
                raise InputError(f"{path}: not a readable table: {_ragged_row(path, delim, e)}"
                                 f"{msg.splitlines()[0]}") from None
            if "invalid UTF8" in msg:
                continue
            raise InputError(f"{path}: not a readable table: {msg.splitlines()[0]}") from None
    raise InputError(f"{path}: cannot decode as UTF-8 or cp1252")


def _undefined_byte(path: Path) -> str:
    """Where each decoding fails: 'row N (byte 0xNN) is not UTF-8, row M (byte 0xMM) is not cp1252'
    (rows counted as _ragged_row counts them: the header is row 0). cp1252 leaves five bytes
    undefined; a UTF-8 file with one stray byte fails it on its own accented letters."""
    first: dict[str, str] = {}
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as f:
        for row, line in enumerate(f):
            for enc in ("utf-8", "cp1252"):
                if enc not in first:
                    try:
                        line.decode(enc)
                    except UnicodeDecodeError as e:
                        first[enc] = f"row {row} (byte 0x{line[e.start]:02X})"
            if len(first) == 2:
                break
    names = {"utf-8": "UTF-8", "cp1252": "cp1252"}
    return ", ".join(f"{first[e]} is not {names[e]}" for e in names if e in first) or "a byte neither defines"


def _ragged_row(path: Path, delim: str, encoding: str) -> str:
    """'row N: ' for the first data row whose number of fields differs from the header's."""
    import csv
    import io

    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as f:
        text = io.TextIOWrapper(f, encoding=encoding, errors="replace", newline="")
        reader = csv.reader(text, delimiter=delim)
        width = len(next(reader, []))
        for i, row in enumerate(reader, start=1):
            if len(row) != width:
                return f"row {i} has {len(row)} fields, the header {width}: "
    return ""


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


#: the date shapes of real releases: (name shown to users, regex on the date token with groups
#: y, m, d, or y, a, b when the order of day and month is to be decided). Which of day-first or
#: month-first an a/b shape is, is decided from the whole column (see ``parse_dates``).
DATE_SHAPES = (
    ("YYYY-MM-DD", r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    ("YYYY/MM/DD", r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$"),
    ("DD/MM/YYYY or MM/DD/YYYY", r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})$"),
    ("DD-MM-YYYY or MM-DD-YYYY", r"^(?P<a>\d{1,2})-(?P<b>\d{1,2})-(?P<y>\d{4})$"),
    ("YYYYMMDD", r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
    ("DD/MM/YY or MM/DD/YY", r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{2})$"),
)


def _rows(idx: np.ndarray, k: int = 3) -> str:
    shown = ", ".join(str(int(i) + 1) for i in idx[:k])
    return shown + (f" and {len(idx) - k:,} more" if len(idx) > k else "")


def _ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """datetime64[s] from year, month, day; NaT for an impossible date (2020-02-30, month 13):
    strict, never rolled over into the next month."""
    ok = (m >= 1) & (m <= 12) & (d >= 1)
    month = np.where(ok, (y - 1970) * 12 + m - 1, 0).astype("int64").astype("datetime64[M]")
    days_in = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype("int64")
    ok &= d <= days_in
    out = month.astype("datetime64[D]") + np.where(ok, d - 1, 0).astype("timedelta64[D]")
    return np.where(ok, out.astype("datetime64[s]"), np.datetime64("NaT", "s"))


def parse_dates(arr: pa.ChunkedArray, raw: pd.Series, where: str = "") -> pd.Series:
    """Event dates, with one format for the whole column.

    The format is the one date shape the column's values have (a time after the date is
    ignored). A column with values of two shapes is an error that names rows of each; so is a
    D/M/Y-or-M/D/Y column with numbers above 12 in both places. Day-first is chosen only when
    some value's first number is above 12, month-first only when some value's second number is;
    a column with neither cannot be read safely and is an error too. Values of no known shape
    (empty, 'sin dato') and impossible dates are NaT: the panel step quarantines them.

    ``where`` ("<file>: column 'x': ") prefixes error messages.
    """
    token = pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), r"[T ].*$", "")
    n = len(raw)
    shape = np.full(n, -1, dtype=np.int8)
    for k, (_, rx) in enumerate(DATE_SHAPES):
        hit = pc.fill_null(pc.match_substring_regex(token, rx), False).to_numpy(zero_copy_only=False)
        shape[hit & (shape < 0)] = k
    present = [k for k in range(len(DATE_SHAPES)) if (shape == k).any()]
    if len(present) > 1:
        parts = [f"{DATE_SHAPES[k][0]} (rows {_rows(np.flatnonzero(shape == k))}, e.g. "
                 f"{raw.iloc[np.flatnonzero(shape == k)[0]]!r})" for k in present]
        raise InputError(f"{where}mixes date formats: {'; '.join(parts)}. One format per column is required: "
                         "convert the column to YYYY-MM-DD")
    date = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[s]")
    if not present:
        filled = np.flatnonzero(raw.ne("").to_numpy())
        if len(filled):
            raise InputError(f"{where}no value is a date in a known format (e.g. row {filled[0] + 1}: "
                             f"{raw.iloc[filled[0]]!r}); accepted: " + ", ".join(n for n, _ in DATE_SHAPES))
        return date
    _, rx = DATE_SHAPES[present[0]]
    rows = np.flatnonzero(shape == present[0])
    sub = pc.take(token, pa.array(rows)) if len(rows) < n else token
    groups = pc.extract_regex(sub, rx).combine_chunks() if isinstance(sub, pa.ChunkedArray) else pc.extract_regex(sub, rx)
    num = {g: pc.cast(groups.field(g), pa.int64()).to_numpy(zero_copy_only=False)
           for g in ("y", "m", "d", "a", "b") if f"(?P<{g}>" in rx}
    y = num["y"]
    if rx.endswith("(?P<y>\\d{2})$"):
        y = np.where(y < 69, 2000 + y, 1900 + y)  # as strptime's %y
    if "a" in num:
        a, b = num["a"], num["b"]
        day_first, month_first = np.flatnonzero(a > 12), np.flatnonzero(b > 12)
        tok = lambda i: pc.take(sub, pa.array([int(i)]))[0].as_py()  # noqa: E731
        if len(day_first) and len(month_first):
            raise InputError(
                f"{where}mixes day-first and month-first dates: day-first in rows {_rows(rows[day_first])} "
                f"(e.g. {tok(day_first[0])!r}), month-first in rows {_rows(rows[month_first])} "
                f"(e.g. {tok(month_first[0])!r}); convert the column to YYYY-MM-DD")
        if not len(day_first) and not len(month_first):
            raise InputError(f"{where}dates such as {tok(0)!r} could be day-first or month-first and no "
                             "value settles it (no number above 12 in either place); convert the column to YYYY-MM-DD")
        # a real day-first (month-first) column has a number above 12 first (second) in about 60 %
        # of its rows; one typo is no evidence
        evidence, which = (day_first, "first") if len(day_first) else (month_first, "second")
        if len(evidence) < 0.1 * len(a):
            raise InputError(f"{where}dates could be day-first or month-first: only rows {_rows(rows[evidence])} "
                             f"have a number above 12 in the {which} place (e.g. {tok(evidence[0])!r}), "
                             "too few to settle it; convert the column to YYYY-MM-DD")
        d, m = (a, b) if len(day_first) else (b, a)
    else:
        m, d = num["m"], num["d"]
    date.iloc[rows] = _ymd(y, m, d)
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
    try:
        return _read_incidents(path, source)
    except (EOFError, OSError, zlib.error, pa.ArrowException) as e:
        if isinstance(e, InputError):
            raise
        kind = "a truncated or corrupt gzip file" if _is_gzip(path) else "unreadable"
        raise InputError(f"{path}: {kind} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None


def _victim_fields(text, arrow, col: dict, n: int) -> dict:
    """Sex ('female', 'male' or 'unknown'), age in years (NaN when absent or implausible) and the
    date the case file was opened (NaT when absent or unreadable): optional, never a reason to
    set a row aside."""
    out: dict = {}
    if col.get("sex") is not None:
        s = text(arrow("sex")).str.lower().str.strip()
        out["sex"] = np.select([s.str.startswith("f") | s.str.startswith("muj"), s.str.startswith("m") | s.str.startswith("h")],
                               ["female", "male"], "unknown")
    if col.get("age") is not None:
        a = pd.to_numeric(text(arrow("age")), errors="coerce").to_numpy(dtype=float)
        out["age"] = np.where((a >= 0) & (a <= 110), a, np.nan)
    if col.get("opened") is not None:
        raw = text(arrow("opened")).str.slice(0, 10)
        d = pd.to_datetime(raw, errors="coerce", format="%Y-%m-%d")
        if d.isna().mean() > 0.5:
            d = pd.to_datetime(raw, errors="coerce", format="%d/%m/%Y")
        out["opened"] = d.to_numpy()
    return out


def _read_incidents(path: Path, source: str | None) -> tuple[pd.DataFrame, dict]:
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
    date = parse_dates(date_arr, date_raw, where=f"{path}: column '{col['date']}': ")
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
        hint = ("latitude and longitude look swapped (the latitude column holds longitudes)"
                if abs(lat[i]) <= 180 and abs(lon[i]) <= 90 else
                "projected coordinates (UTM?) are not supported: convert them to longitude/latitude")
        raise InputError(f"{path}: row {i + 1}, columns '{col['lon']}'/'{col['lat']}': coordinates "
                         f"({lon[i]}, {lat[i]}) are not WGS84 degrees: {hint}")
    loc = text(arrow("location_id")).replace({"": None, "NA": None}).astype("string")

    # exact duplicates among the outcome rows (a repeated victim record would be counted twice)
    skip = {col.get(f) for f in src.dup_exclude}
    duplicate = np.zeros(n, bool)
    duplicate[keep] = exact_duplicates(sub, [c for c in tbl.schema.names if c not in skip])

    # the whole record, for finding the same record in two files: a hash of every column's value
    # (in header order, with the header itself), computed for the outcome rows only
    row_key = np.zeros(n, dtype=np.uint64)
    if len(keep):
        kept = [c for c in sorted(tbl.schema.names) if c not in skip]
        joined = pc.binary_join_element_wise(*[pc.fill_null(sub.column(c), "") for c in kept], "\x1f")
        vals = pd.Series(joined.to_numpy(zero_copy_only=False), dtype=object)
        row_key[keep] = pd.util.hash_array(("\x1f".join(kept) + "\x1e" + vals).to_numpy(dtype=object))

    extra = _victim_fields(text, arrow, col, n)
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
        "row_key": row_key,
        **extra,
    })
    info = {"source": src.name, "encoding": encoding, "rows": n, "events": int(weight.sum()),
            "mojibake_repaired": n_fix_crime + n_fix_cat,
            "columns": {f: c for f, c in col.items() if c is not None}}
    return records, info
