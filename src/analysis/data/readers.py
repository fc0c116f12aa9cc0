"""Readers for the incident sources the workbook knows, chosen by name or by header.

Each reader returns *records*: one row per input data row with the common columns

``file, row`` (1-based data row, the header being row 0), ``source``, ``date``
(event date, NaT when unparseable), ``date_raw``, ``category``, ``crime``, ``lat``,
``lon``, ``location_id`` (a recorded cuadrante or sector id, or NA), ``dup_key`` (a hash of
the whole raw row, for exact-duplicate detection).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class InputError(ValueError):
    """A bad input file. The message names the file, and the row and column when known."""


@dataclass(frozen=True)
class Source:
    name: str
    required: tuple[str, ...]
    date: str
    category: str | None
    crime: str
    lat: str
    lon: str
    location_id: str | None
    description: str
    #: columns left out of the duplicate check (record ids that differ between re-exports)
    dup_exclude: tuple[str, ...] = ()


SOURCES = {
    "fgj": Source(
        "fgj",
        required=("fecha_hecho", "delito", "categoria_delito", "latitud", "longitud"),
        date="fecha_hecho", category="categoria_delito", crime="delito", lat="latitud", lon="longitud",
        location_id=None,
        description="FGJ-CDMX open data, Víctimas en carpetas de investigación (one row per victim)",
    ),
    "ssc": Source(
        "ssc",
        required=("cuadrante", "crime", "date", "lat", "long"),
        date="date", category=None, crime="crime", lat="lat", lon="long", location_id="cuadrante",
        description="SSC incident points (hoyodecrimen export: cuadrante, crime, date, hour, lat, long, id)",
        dup_exclude=("id",),
    ),
}


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), else cp1252; return (text, encoding)."""
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path}: not a text table (binary content)")
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: cannot decode as UTF-8 or latin-1")  # pragma: no cover - latin-1 decodes all


def detect_source(columns: list[str], path: Path) -> Source:
    """The source whose required columns the header holds."""
    have = {c.strip().lower() for c in columns}
    for src in SOURCES.values():
        if set(src.required) <= have:
            return src
    best = max(SOURCES.values(), key=lambda s: len(set(s.required) & have))
    missing = sorted(set(best.required) - have)
    raise InputError(
        f"{path}: header row (row 0) does not match a known source; closest is '{best.name}' "
        f"({best.description}), which needs column(s) {', '.join(missing)}. Header seen: {', '.join(columns[:12])}"
    )


def read_incidents(path: Path | str, source: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Read one incident file into records.

    Parameters
    ----------
    path : path
        A CSV file, optionally gzipped.
    source : {'fgj', 'ssc'}, optional
        Force a source; by default it is detected from the header.

    Returns
    -------
    records : DataFrame
        The common record columns described in the module docstring.
    info : dict
        ``source``, ``encoding`` and ``rows``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip

        raw = gzip.decompress(raw)
    text, encoding = _decode(raw, path)
    try:
        sniff = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
        sep = sniff.delimiter
    except csv.Error:
        sep = ","
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: not a readable table: {e}") from e
    if df.shape[1] < 2:
        raise InputError(f"{path}: not a table (found {df.shape[1]} column with separator {sep!r})")
    df.columns = [c.strip().lower() for c in df.columns]
    src = SOURCES[source] if source else detect_source(list(df.columns), path)
    missing = [c for c in src.required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)} for source '{src.name}'")

    n = len(df)
    date = pd.to_datetime(df[src.date].str.strip(), errors="coerce", format="mixed", dayfirst=False)

    def num(col: str) -> np.ndarray:
        s = df[col].str.strip().replace({"": None, "NA": None, "NaN": None, "nan": None})
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)

    loc_id = (df[src.location_id].str.strip().replace({"": pd.NA, "NA": pd.NA})
              if src.location_id else pd.Series(pd.NA, index=df.index, dtype="string"))
    records = pd.DataFrame({
        "file": str(path),
        "row": np.arange(1, n + 1),
        "source": src.name,
        "date": date,
        "date_raw": df[src.date],
        "category": df[src.category] if src.category else "",
        "crime": df[src.crime],
        "lat": num(src.lat),
        "lon": num(src.lon),
        "location_id": loc_id.astype("string"),
        "dup_key": pd.util.hash_pandas_object(
            df.drop(columns=[c for c in src.dup_exclude if c in df.columns]), index=False).to_numpy(),
    })
    return records, {"source": src.name, "encoding": encoding, "rows": n}
