"""Police geography: versioned sector polygons, point-in-polygon assignment, adjacency."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from analysis.data.readers import InputError


@dataclass
class Geography:
    """Sector polygons of one version of the police geography.

    Attributes
    ----------
    sectors : DataFrame
        ``sector`` (unique id), ``population`` (may be NA), ``geometry`` (shapely).
    version, valid_from, valid_to : str or None
        From the file's top-level ``geography`` member; the version defaults to the file name.
    path : Path
    """

    sectors: pd.DataFrame
    version: str
    valid_from: str | None
    valid_to: str | None
    path: Path

    #: recorded location id (normalised) -> sector: sector names, their aliases in older
    #: geography versions (``sector_aliases.csv``) and, when given, cuadrante ids
    id_lookup: dict = field(default_factory=dict)
    #: invalid polygons that were repaired, one line each (the panel's audit lists them)
    repairs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tree = shapely.STRtree(self.sectors.geometry.to_numpy())
        lookup = {_norm_id(n): n for n in self.sectors.sector}
        for a in sector_aliases().itertuples(index=False):
            if a.sector in set(self.sectors.sector):
                lookup.setdefault(_norm_id(a.alias), a.sector)
        self.id_lookup = {**lookup, **self.id_lookup}

    def sector_of_id(self, ids: pd.Series) -> pd.Series:
        """Sector of each recorded id (a sector name, an older alias or a cuadrante), or NA."""
        key = ids.astype("string").map(lambda v: _norm_id(v) if isinstance(v, str) else v)
        return key.map(self.id_lookup).astype("object").where(key.notna(), None)

    def add_cuadrantes(self, path: Path | str, id_field: str = "cuadrante", sector_field: str = "sector") -> int:
        """Learn cuadrante -> sector from a cuadrante file (GeoJSON, properties only are used).

        Returns the number of cuadrantes whose sector is in this geography.
        """
        path = Path(path)
        try:
            fc = json.loads(path.read_text(encoding="utf-8-sig"))
        except (FileNotFoundError, json.JSONDecodeError) as e:
            raise InputError(f"{path}: cannot read the cuadrante file ({e})") from None
        known = set(self.sectors.sector)
        n = 0
        for i, f in enumerate(fc.get("features", [])):
            p = f.get("properties") or {}
            if id_field not in p or sector_field not in p:
                raise InputError(f"{path}: feature {i} lacks '{id_field}' or '{sector_field}'")
            sec = self.id_lookup.get(_norm_id(str(p[sector_field])))
            if sec in known:
                self.id_lookup[_norm_id(str(p[id_field]))] = sec
                n += 1
        return n

    def months_outside_validity(self, months: pd.PeriodIndex) -> list[str]:
        """Months of the study window outside the geography's validity dates."""
        lo = pd.Period(self.valid_from, "M") if self.valid_from else None
        hi = pd.Period(self.valid_to, "M") if self.valid_to else None
        return [str(m) for m in months if (lo is not None and m < lo) or (hi is not None and m > hi)]

    @property
    def names(self) -> list[str]:
        return self.sectors.sector.tolist()

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Sector of each point (object array; None where a point is in no polygon).

        A point on a shared border goes to the first polygon in file order, so every point
        has at most one sector.
        """
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        out = np.full(len(lon), None, dtype=object)
        ok = np.isfinite(lon) & np.isfinite(lat)
        pts = shapely.points(lon[ok], lat[ok])
        pi, gi = self._tree.query(pts, predicate="intersects")
        if len(pi) == 0:
            return out
        order = np.lexsort((gi, pi))
        pi, gi = pi[order], gi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        idx = np.flatnonzero(ok)
        out[idx[pi[first]]] = self.sectors.sector.to_numpy()[gi[first]]
        return out

    def adjacency(self, tolerance: float = 1e-6) -> pd.DataFrame:
        """Pairs of sectors whose polygons touch (within ``tolerance`` degrees), both directions."""
        geoms = self.sectors.geometry.to_numpy()
        a, b = self._tree.query(shapely.buffer(geoms, tolerance), predicate="intersects")
        keep = a != b
        names = self.sectors.sector.to_numpy()
        return (pd.DataFrame({"sector": names[a[keep]], "neighbour": names[b[keep]]})
                .drop_duplicates().sort_values(["sector", "neighbour"]).reset_index(drop=True))


def _norm_id(v: str) -> str:
    """Ids compare without case, accents or spacing: 'Angel - Zona Rosa' == 'ANGEL-ZONA ROSA'."""
    import unicodedata

    s = unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode().upper()
    return "".join(s.split())


def sector_aliases() -> pd.DataFrame:
    """Older sector names and the current sector they map to (``sector_aliases.csv``)."""
    with resources.files("analysis.data").joinpath("sector_aliases.csv").open(encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


def read_geography(path: Path | str, id_field: str = "sector", version: str | None = None,
                   valid_from: str | None = None, valid_to: str | None = None) -> Geography:
    """Read sector polygons from a GeoJSON FeatureCollection (WGS84 lon/lat)."""
    path = Path(path)
    try:
        fc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such geography file") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not GeoJSON ({e})") from e
    if not isinstance(fc, dict) or fc.get("type") not in (None, "FeatureCollection"):
        kind = fc.get("type") if isinstance(fc, dict) else type(fc).__name__
        raise InputError(f"{path}: a GeoJSON FeatureCollection of sector polygons is expected, not a {kind}")
    feats = fc.get("features") if isinstance(fc, dict) else None
    if feats is not None and not isinstance(feats, list):
        raise InputError(f"{path}: 'features' is not a list")
    if not feats:
        raise InputError(f"{path}: no features in the geography file")
    rows, repaired = [], []
    for i, f in enumerate(feats):
        props = (f.get("properties") if isinstance(f, dict) else None) or {}
        if id_field not in props:
            raise InputError(f"{path}: feature {i} has no '{id_field}' property")
        name = str(props[id_field])
        geom = f.get("geometry")
        if not geom:
            raise InputError(f"{path}: feature {i} (sector {name!r}) has no geometry (null)")
        try:
            g = shape(geom)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
            raise InputError(f"{path}: feature {i} (sector {name!r}): unreadable geometry ({e})") from None
        if g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty:
            raise InputError(f"{path}: feature {i} (sector {name!r}): geometry is {g.geom_type}"
                             f"{' (empty)' if g.is_empty else ''}, expected a Polygon or MultiPolygon")
        if not g.is_valid:
            why = shapely.is_valid_reason(g)
            fixed = _polygonal(shapely.make_valid(g))
            if fixed is None or fixed.is_empty:
                raise InputError(f"{path}: feature {i} (sector {name!r}): invalid polygon ({why}) that cannot be repaired")
            repaired.append(f"sector {name!r} (feature {i}): invalid polygon ({why}) repaired; "
                            f"{_km2(fixed):.3f} km2 after repair: check it against the source")
            g = fixed
        pop = props.get("population")
        if pop is not None and pop != "":
            try:
                pop = float(pop)
            except (TypeError, ValueError):
                raise InputError(f"{path}: feature {i} (sector {name!r}): population {pop!r} is not a number "
                                 "(leave it out, or null, when unknown)") from None
        else:
            pop = None
        rows.append((name, pop, g))
    sectors = pd.DataFrame(rows, columns=["sector", "population", "geometry"])
    dup = sectors.sector[sectors.sector.duplicated()]
    if len(dup):
        feats_of = {d: [i for i, r in enumerate(rows) if r[0] == d] for d in dup.unique()[:5]}
        raise InputError(f"{path}: sector id(s) repeated: "
                         + "; ".join(f"{d!r} in features {', '.join(map(str, ix))}" for d, ix in feats_of.items()))
    _check_lonlat(sectors, path)
    _check_overlaps(sectors, path)
    # version and validity: arguments, else the file's top-level "geography" member, else the file name
    meta = fc.get("geography") or {}
    geo = Geography(
        sectors=sectors,
        version=str(version or meta.get("version") or path.stem),
        valid_from=valid_from or meta.get("valid_from"),
        valid_to=valid_to or meta.get("valid_to"),
        path=path,
    )
    geo.repairs = repaired
    return geo


#: Mexico City with a margin: sector polygons must lie inside (longitude, latitude in degrees)
CDMX_BOUNDS = (-99.7, 18.8, -98.6, 19.9)
#: sectors may overlap by digitising noise only: at most this share of the smaller one's area
OVERLAP_TOLERANCE = 0.001


def _polygonal(g):
    """The polygonal part of a repaired geometry (make_valid may add stray lines or points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def _km2(g) -> float:
    """Approximate area in km2 of a lon/lat geometry near Mexico City's latitude."""
    lat = np.radians(g.centroid.y) if not g.is_empty else 0.0
    return g.area * 111.32 * 111.32 * float(np.cos(lat))


def _check_lonlat(sectors: pd.DataFrame, path: Path) -> None:
    """Refuse polygons that are not longitude/latitude degrees in Mexico City."""
    x0, y0, x1, y1 = CDMX_BOUNDS
    for row in sectors.itertuples(index=False):
        bx0, by0, bx1, by1 = row.geometry.bounds
        if bx0 >= x0 and bx1 <= x1 and by0 >= y0 and by1 <= y1:
            continue
        if bx0 >= y0 and bx1 <= y1 and by0 >= x0 and by1 <= x1:
            hint = "latitude and longitude are swapped (GeoJSON wants longitude first)"
        elif max(abs(bx0), abs(bx1)) > 180 or max(abs(by0), abs(by1)) > 90:
            hint = "these are not degrees: projected coordinates (UTM?) must be converted to longitude/latitude (WGS84)"
        else:
            hint = "this is not in Mexico City"
        raise InputError(f"{path}: sector {row.sector!r}: coordinates ({bx0:.4g}, {by0:.4g}) to ({bx1:.4g}, {by1:.4g}) "
                         f"are not longitude/latitude in Mexico City: {hint}")


def _check_overlaps(sectors: pd.DataFrame, path: Path) -> None:
    """Refuse sectors that overlap by more than ``OVERLAP_TOLERANCE`` of the smaller one: a point
    in the overlap would be counted in whichever sector comes first in the file."""
    geoms = sectors.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    bad = []
    for i, j in zip(a[keep], b[keep]):
        inter = shapely.intersection(geoms[i], geoms[j])
        share = inter.area / max(min(geoms[i].area, geoms[j].area), 1e-18)
        if share > OVERLAP_TOLERANCE:
            bad.append(f"{sectors.sector.iloc[i]!r} and {sectors.sector.iloc[j]!r} share {_km2(inter):.3f} km2 "
                       f"({100 * share:.1f}% of the smaller)")
    if bad:
        raise InputError(f"{path}: sector polygons overlap: {'; '.join(bad[:5])}"
                         + (f" (and {len(bad) - 5} more pairs)" if len(bad) > 5 else ""))


def sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
