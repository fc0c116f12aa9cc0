"""Program activities by component: ``data/raw/program/activities.csv``.

One row per sector, month, component and activity: ``sector, month, component, activity, count``
and, optionally, ``person_id`` (the person the activity reached, for counting people rather than
contacts). Person identifiers are replaced by a salted hash as the file is read and never leave
this module in clear; the report shows only counts of distinct hashes, suppressed from 1 to 4.

Components are those of Alto al Fuego: ``justicia`` (justice actions on priority groups),
``comunidad`` (community work and referrals to services) and ``comunicacion_directa`` (custom
notifications and call-ins); common spellings are recognised (accents, case, English names).
Bad input gets an ``InputError`` naming the file, row and column.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.readers import InputError



def N_(message: str) -> str:
    """Marks a reader-facing name for the report's message catalogue (``analysis.report.i18n``);
    the report translates it where it is shown."""
    return message


COMPONENTS = ("justicia", "comunidad", "comunicacion_directa")
COMPONENT_LABELS = {
    "justicia": N_("Justice (Justicia)"),
    "comunidad": N_("Community (Comunidad)"),
    "comunicacion_directa": N_("Direct communication (Comunicación directa)"),
}
_ALIASES = {
    "justicia": "justicia",
    "justice": "justicia",
    "comunidad": "comunidad",
    "community": "comunidad",
    "comunicacion directa": "comunicacion_directa",
    "comunicacion_directa": "comunicacion_directa",
    "direct communication": "comunicacion_directa",
    "direct_communication": "comunicacion_directa",
}
REQUIRED = ("sector", "month", "component", "activity", "count")
#: the salt of the person hashes: a hash cannot be matched against a list of names hashed elsewhere
SALT = b"alto-al-fuego/activities/v1"


def _plain(s: str) -> str:
    s = unicodedata.normalize("NFKD", str(s)).encode("ascii", "ignore").decode()
    return " ".join(s.lower().replace("-", " ").split())


def hash_person(value: str) -> str:
    return hashlib.sha256(SALT + str(value).strip().encode("utf-8")).hexdigest()[:20]


def read_activities(path: Path | str) -> pd.DataFrame:
    """The activities table with ``person`` (hashed) in place of ``person_id``; ``month`` a Period."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise InputError(f"{path}: cannot be read as a UTF-8 CSV table ({e})") from None
    raw.columns = [_plain(c).replace(" ", "_") for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(REQUIRED)}[, person_id])")

    def fail(i: int, col: str, why: str) -> None:
        raise InputError(f"{path}: row {i + 2}, column '{col}': {raw[col].iloc[i]!r} {why}")

    sector = raw.sector.str.strip()
    for i in np.flatnonzero((sector == "").to_numpy()):
        fail(int(i), "sector", "is empty")
    month = pd.to_datetime(raw.month.str.strip(), format="%Y-%m", errors="coerce")
    for i in np.flatnonzero(month.isna().to_numpy()):
        fail(int(i), "month", "is not a month (expected YYYY-MM)")
    comp = raw.component.map(lambda c: _ALIASES.get(_plain(c)))
    for i in np.flatnonzero(comp.isna().to_numpy()):
        fail(int(i), "component", f"is not a component (one of: {', '.join(COMPONENTS)})")
    count = pd.to_numeric(raw["count"].str.strip(), errors="coerce")
    bad = count.isna() | (count < 0) | (count != count.round())
    for i in np.flatnonzero(bad.to_numpy()):
        fail(int(i), "count", "is not a whole number >= 0")
    activity = raw.activity.str.strip()
    for i in np.flatnonzero((activity == "").to_numpy()):
        fail(int(i), "activity", "is empty")
    out = pd.DataFrame(
        {
            "sector": sector,
            "month": month.dt.to_period("M"),
            "component": comp,
            "activity": activity,
            "count": count.astype("int64"),
        }
    )
    if "person_id" in raw.columns:
        pid = raw.person_id.str.strip()
        out["person"] = np.where(pid == "", None, pid.map(hash_person))
    return out


def activity_summary(acts: pd.DataFrame, sectors: list[str] | None = None) -> pd.DataFrame:
    """Activities by component, sector and quarter: ``count`` (activities) and ``people``
    (distinct persons reached, when person ids were given)."""
    a = acts if sectors is None else acts[acts.sector.isin(sectors)]
    a = a.assign(quarter=a.month.dt.asfreq("Q").astype(str))
    keys = ["component", "sector", "quarter"]
    out = a.groupby(keys, observed=True)["count"].sum().rename("count").to_frame()
    if "person" in a:
        out["people"] = a.dropna(subset=["person"]).groupby(keys)["person"].nunique()
    return out.reset_index()


# -- the demo city's activities ---------------------------------------------------------------
#: (component, activity, monthly mean per sector, share with a person id)
DEMO_ACTIVITIES = (
    ("comunicacion_directa", N_("custom notifications"), 4.0, 1.0),
    ("comunicacion_directa", N_("call-ins"), 0.35, 0.0),
    ("comunidad", N_("referrals to services"), 9.0, 1.0),
    ("comunidad", N_("community meetings"), 2.0, 0.0),
    ("justicia", N_("justice actions on priority groups"), 3.0, 0.0),
)


def demo_activities(rollout: pd.DataFrame, last_month: pd.Period, seed: int) -> pd.DataFrame:
    """Plausible activity records for the demo city's program sectors, from each start to
    ``last_month``: a ramp-up over the first six months, Poisson volumes, people drawn from each
    sector's own list of priority persons (so people recur, as in the program)."""
    rng = np.random.default_rng(seed)
    rows = []
    starts = rollout.groupby("sector").start.min()
    for sector, start in starts.items():
        s = pd.Period(str(start)[:7], "M")
        people = [f"{sector}-P{i:03d}" for i in range(60)]
        for k, m in enumerate(pd.period_range(s, last_month, freq="M")):
            ramp = min(1.0, (k + 1) / 6)
            for comp, act, mean, share_id in DEMO_ACTIVITIES:
                n = int(rng.poisson(mean * ramp))
                if not n:
                    continue
                if share_id:
                    for who in rng.choice(people, size=n):
                        rows.append((sector, str(m), comp, act, 1, who))
                else:
                    rows.append((sector, str(m), comp, act, n, ""))
    return pd.DataFrame(rows, columns=["sector", "month", "component", "activity", "count", "person_id"])
