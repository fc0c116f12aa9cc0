"""Outcome classification: which crime labels count as which outcome.

The mapping is data, in ``outcome_map.csv`` beside this module, so an analyst can read and
extend it without touching code. A ``*`` category matches any category.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

#: Outcome columns of the panel contract; ``shootings`` is derived as their sum.
GUN_OUTCOMES = ("gun_homicides", "gun_injuries")
DERIVED = {"shootings": GUN_OUTCOMES}


def outcome_map() -> pd.DataFrame:
    """The crime-label to outcome table shipped with the package."""
    with resources.files("analysis.data").joinpath("outcome_map.csv").open(encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


def normalise_label(s: pd.Series) -> pd.Series:
    """Upper-case, strip accents and squeeze spaces so labels from any release compare equal."""
    out = s.fillna("").astype(str).str.upper().str.strip().str.replace(r"\s+", " ", regex=True)
    return out.str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")


def classify(source: str, category: pd.Series, crime: pd.Series, table: pd.DataFrame | None = None) -> pd.Series:
    """Map each record's (category, crime) to an outcome name, or NA when it is not an outcome.

    Labels are compared after ``normalise_label``; only distinct (category, crime) pairs are
    classified, so a 2-million-row file costs as much as its few hundred labels.
    """
    table = outcome_map() if table is None else table
    t = table[table.source == source]
    ccat, ucat = pd.factorize(category.fillna(""))
    ccr, ucr = pd.factorize(crime.fillna(""))
    codes, pair = pd.factorize(ccat.astype(np.int64) * (len(ucr) + 1) + ccr)
    cat = normalise_label(pd.Series(np.asarray(ucat, dtype=object)[pair // (len(ucr) + 1)]))
    cr = normalise_label(pd.Series(np.asarray(ucr, dtype=object)[pair % (len(ucr) + 1)]))
    out = pd.Series(pd.NA, index=cat.index, dtype="string")
    for row in t.itertuples(index=False):
        hit = cr == normalise_label(pd.Series([row.crime])).iloc[0]
        if row.category != "*":
            # releases without a category column match on the crime label alone
            hit &= (cat == normalise_label(pd.Series([row.category])).iloc[0]) | (cat == "")
        out = out.mask(hit & out.isna(), row.outcome)
    return pd.Series(out.to_numpy()[codes], index=crime.index, dtype="string")


def outcome_columns(found: set[str]) -> list[str]:
    """Outcome columns a panel carries given the outcomes its sources provide."""
    cols = sorted(found)
    for derived, parts in DERIVED.items():
        if all(p in found for p in parts):
            cols.append(derived)
    return cols


def add_derived(panel: pd.DataFrame) -> pd.DataFrame:
    """Add ``shootings`` = gun homicides + gun injuries where both are present."""
    for derived, parts in DERIVED.items():
        if all(p in panel for p in parts):
            panel[derived] = np.sum([panel[p].to_numpy() for p in parts], axis=0)
    return panel
