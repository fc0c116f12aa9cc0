"""Police geography: versioned sector polygons, point-in-polygon assignment, adjacency."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
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

    def __post_init__(self) -> None:
        self._tree = shapely.STRtree(self.sectors.geometry.to_numpy())

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


def read_geography(path: Path | str, id_field: str = "sector") -> Geography:
    """Read sector polygons from a GeoJSON FeatureCollection (WGS84 lon/lat)."""
    path = Path(path)
    try:
        fc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such geography file") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not GeoJSON ({e})") from e
    feats = fc.get("features") if isinstance(fc, dict) else None
    if not feats:
        raise InputError(f"{path}: no features in the geography file")
    rows = []
    for i, f in enumerate(feats):
        props = f.get("properties") or {}
        if id_field not in props:
            raise InputError(f"{path}: feature {i} has no '{id_field}' property")
        rows.append((str(props[id_field]), props.get("population"), shape(f["geometry"])))
    sectors = pd.DataFrame(rows, columns=["sector", "population", "geometry"])
    dup = sectors.sector[sectors.sector.duplicated()]
    if len(dup):
        raise InputError(f"{path}: sector id(s) repeated: {', '.join(dup.unique()[:5])}")
    meta = fc.get("geography") or {}
    return Geography(
        sectors=sectors,
        version=str(meta.get("version") or path.stem),
        valid_from=meta.get("valid_from"),
        valid_to=meta.get("valid_to"),
        path=path,
    )


def sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
