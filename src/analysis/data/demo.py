"""The synthetic demo city: a seeded stand-in for Mexico City when no real data is present.

``write_demo_city`` writes files in the same formats the real readers take
(FGJ-style victim records, a sector GeoJSON, ``rollout.csv``), so the demo exercises the
very pipeline real data goes through. Sector rates, overdispersion and seasonality are
calibrated to real 2013-2016 sector counts (``analysis.data.calibration``). The program
has a known multiplicative effect, recorded with the expected counts in ``truth.parquet``
so tests can compare estimates with the truth.

Draws for a month never depend on the last month written: every series is generated up to
``HORIZON`` and cut, so the 2024Q2 demo numbers are the same whichever day it is built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import Polygon, mapping

from analysis.data import calibration as cal

FIRST_MONTH = pd.Period("2016-01", freq="M")
HORIZON = pd.Period("2035-12", freq="M")
GEOGRAPHY_VERSION = "demo-2016"
DEMO_LABEL = "DEMO DATA (synthetic)"

# FGJ "Víctimas en carpetas de investigación" labels the readers map to outcomes.
FGJ_CATEGORY_HOMICIDE = "HOMICIDIO DOLOSO"
FGJ_GUN_HOMICIDE = "HOMICIDIO POR ARMA DE FUEGO"
FGJ_GUN_FEMICIDE = "FEMINICIDIO POR DISPARO DE ARMA DE FUEGO"
FGJ_CATEGORY_INJURY = "DELITO DE BAJO IMPACTO"
FGJ_GUN_INJURY = "LESIONES DOLOSAS POR DISPARO DE ARMA DE FUEGO"
FGJ_OTHER = (
    ("ROBO A TRANSEUNTE EN VIA PUBLICA CON Y SIN VIOLENCIA", "ROBO A TRANSEUNTE EN VÍA PÚBLICA CON Y SIN VIOLENCIA"),
    ("ROBO DE VEHICULO CON Y SIN VIOLENCIA", "ROBO DE VEHÍCULO CON Y SIN VIOLENCIA"),
)

FGJ_COLUMNS = [
    "anio_inicio", "mes_inicio", "fecha_inicio", "hora_inicio", "anio_hecho", "mes_hecho",
    "fecha_hecho", "hora_hecho", "delito", "categoria_delito", "sexo", "edad", "tipo_persona",
    "calidad_juridica", "competencia", "colonia_hecho", "colonia_catalogo", "alcaldia_hecho",
    "alcaldia_catalogo", "municipio_hecho", "latitud", "longitud",
]


@dataclass(frozen=True)
class DemoDesign:
    """What the demo city is made of. Defaults give about 72 sectors as in Mexico City."""

    seed: int = 20190701
    n_cols: int = 9
    n_rows: int = 8
    lon_range: tuple[float, float] = (-99.30, -98.96)
    lat_range: tuple[float, float] = (19.18, 19.58)
    #: multiplicative effect of the program on expected gun homicides and gun injuries
    effect: float = 0.70
    pilot_starts: tuple[str, ...] = ("2019-07", "2020-02", "2020-02")
    expansion_start: str = "2022-04"
    n_expansion: int = 5
    #: city-wide dip of 2020 (months, factor)
    shock_months: tuple[str, str] = ("2020-04", "2020-09")
    shock_factor: float = 0.75
    share_missing_coordinates: float = 0.015
    share_duplicates: float = 0.002
    other_crimes_per_month: int = 12
    components: tuple[str, ...] = field(default=("Justicia", "Comunidad", "Comunicación directa"))


def _sector_polygons(d: DemoDesign, rng: np.random.Generator) -> list[Polygon]:
    """A jittered grid: interior vertices move by up to a quarter cell, so cells stay simple."""
    xs = np.linspace(*d.lon_range, d.n_cols + 1)
    ys = np.linspace(*d.lat_range, d.n_rows + 1)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    jx = rng.uniform(-0.25, 0.25, gx.shape) * dx
    jy = rng.uniform(-0.25, 0.25, gy.shape) * dy
    jx[[0, -1], :] = 0
    jy[:, [0, -1]] = 0
    gx, gy = np.round(gx + jx, 6), np.round(gy + jy, 6)
    polys = []
    for r in range(d.n_rows):
        for c in range(d.n_cols):
            ring = [(gx[c, r], gy[c, r]), (gx[c + 1, r], gy[c + 1, r]),
                    (gx[c + 1, r + 1], gy[c + 1, r + 1]), (gx[c, r + 1], gy[c, r + 1])]
            polys.append(Polygon(ring))
    return polys


#: cuadrantes per demo sector: columns x rows of each sector's quadrilateral (864 in the
#: 72-sector city, about the city's 850 police cuadrantes)
CUADRANTE_GRID = (3, 4)


def cuadrante_polygons(sector: Polygon, grid: tuple[int, int] = CUADRANTE_GRID) -> list[Polygon]:
    """A demo sector's quadrilateral cut into ``grid`` cuadrantes by bilinear interpolation of its
    corners. A point on a sector's edge is computed from that edge's two corners alone (the
    other corners' weights are exactly 0), so neighbouring sectors' cuadrantes share their
    vertices exactly and touch."""
    p00, p10, p11, p01 = (np.array(c) for c in list(sector.exterior.coords)[:4])
    nu, nv = grid

    def at(i: int, j: int) -> tuple[float, float]:
        u, v = i / nu, j / nv
        x = (1 - u) * (1 - v) * p00 + u * (1 - v) * p10 + (1 - u) * v * p01 + u * v * p11
        return float(x[0]), float(x[1])  # not rounded: a rounded point leaves its sector's edge

    return [
        Polygon([at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)]) for j in range(nv) for i in range(nu)
    ]


def cuadrantes(sectors: pd.DataFrame, grid: tuple[int, int] = CUADRANTE_GRID) -> pd.DataFrame:
    """The demo city's cuadrantes: ``cuadrante`` (<sector>-<nn>), ``sector``, ``population`` (the
    sector's, split evenly) and ``geometry``."""
    rows = []
    for s, pop, g in sectors[["sector", "population", "geometry"]].itertuples(index=False):
        parts = cuadrante_polygons(g, grid)
        for k, poly in enumerate(parts):
            rows.append({"cuadrante": f"{s}-{k + 1:02d}", "sector": s, "population": int(pop) // len(parts),
                         "geometry": poly})
    return pd.DataFrame(rows)


def _sample_points(poly: Polygon, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform points inside a polygon by rejection from its bounding box."""
    from shapely import contains_xy

    minx, miny, maxx, maxy = poly.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = np.column_stack([rng.uniform(minx, maxx, 2 * n + 8), rng.uniform(miny, maxy, 2 * n + 8)])
        # keep points 1e-5 degrees (~1 m) inside so rounding never moves them across a border
        inner = poly.buffer(-1e-5)
        out = np.vstack([out, cand[contains_xy(inner, cand[:, 0], cand[:, 1])]])
    return out[:n]


def _nb(mu: np.ndarray, k: float, rng: np.random.Generator) -> np.ndarray:
    """Negative-binomial counts with mean mu and shape k (gamma-Poisson mixture)."""
    return rng.poisson(mu * rng.gamma(k, 1.0 / k, size=mu.shape))


def simulate_city(design: DemoDesign = DemoDesign()) -> dict:
    """Draw the demo city in memory (sectors, rollout, expected and realised counts).

    Returns
    -------
    dict
        ``sectors`` (DataFrame: sector, alcaldia, population, geometry), ``rollout``
        (DataFrame), ``truth`` (sector x month expected counts with and without the
        program, and realised counts), ``months`` (PeriodIndex to ``HORIZON``).
    """
    d = design
    rng = np.random.default_rng(d.seed)
    n = d.n_cols * d.n_rows
    polys = _sector_polygons(d, rng)
    names = [f"D{i + 1:02d}" for i in range(n)]
    region = ["NORTE" if (i // d.n_cols) >= d.n_rows // 2 else "SUR" for i in range(n)]
    side = ["PONIENTE" if (i % d.n_cols) < d.n_cols // 2 else "ORIENTE" for i in range(n)]
    alcaldia = [f"DEMO {a} {b}" for a, b in zip(region, side)]
    pop = np.round(np.exp(rng.normal(*cal.SECTOR_LOG_POPULATION, n))).astype(int)

    # correlated log rates of (all) homicides and firearm injuries per sector
    (m_h, s_h), (m_i, s_i), r = cal.HOMICIDE_LOG_RATE, cal.FIREARM_INJURY_LOG_RATE, cal.LOG_RATE_CORRELATION
    cov = [[s_h**2, r * s_h * s_i], [r * s_h * s_i, s_i**2]]
    lr = rng.multivariate_normal([m_h, m_i], cov, size=n)
    base_hom = np.maximum(np.exp(lr[:, 0]) - 0.05, 0.02) * cal.GUN_SHARE_OF_HOMICIDES
    base_inj = np.maximum(np.exp(lr[:, 1]) - 0.05, 0.02)

    months = pd.period_range(FIRST_MONTH, HORIZON, freq="M")
    season = np.array(cal.SEASONALITY)[months.month - 1]
    shock = np.where((months >= pd.Period(d.shock_months[0], "M")) & (months <= pd.Period(d.shock_months[1], "M")),
                     d.shock_factor, 1.0)
    # the city-wide trend multiplies every sector's rate, as in the real city: the most violent
    # sectors (the program's) swing most in numbers of victims (calibration.CITY_TREND)
    common = cal.city_trend(months) * season * shock

    # the program goes where shootings are highest, as Alto al Fuego did
    order = np.argsort(-(base_hom + base_inj), kind="stable")
    pilots = rng.choice(order[:12], size=len(d.pilot_starts), replace=False)
    rest = [i for i in order[:30] if i not in set(pilots)]
    expansion = rng.choice(rest, size=d.n_expansion, replace=False)
    start = pd.Series(pd.NaT, index=names, dtype="period[M]")
    for i, s in zip(pilots, d.pilot_starts):
        start.iloc[i] = pd.Period(s, "M")
    for i in expansion:
        start.iloc[i] = pd.Period(d.expansion_start, "M")

    treated_now = np.array([[(not pd.isna(s)) and m >= s for m in months] for s in start])
    mult = np.where(treated_now, d.effect, 1.0)
    mu0_hom = base_hom[:, None] * common[None, :]
    mu0_inj = base_inj[:, None] * common[None, :]
    y_hom = _nb(mu0_hom * mult, cal.HOMICIDE_NB_SHAPE, rng)
    y_inj = _nb(mu0_inj * mult, cal.FIREARM_INJURY_NB_SHAPE, rng)

    idx = pd.MultiIndex.from_product([names, months], names=["unit", "period"])
    truth = pd.DataFrame({
        "mu0_gun_homicides": mu0_hom.ravel(), "mu1_gun_homicides": (mu0_hom * mult).ravel(),
        "mu0_gun_injuries": mu0_inj.ravel(), "mu1_gun_injuries": (mu0_inj * mult).ravel(),
        "gun_homicides": y_hom.ravel(), "gun_injuries": y_inj.ravel(),
        "treated": treated_now.ravel(),
    }, index=idx).reset_index()
    for p in ("mu0", "mu1"):
        truth[f"{p}_shootings"] = truth[f"{p}_gun_homicides"] + truth[f"{p}_gun_injuries"]
    truth["shootings"] = truth.gun_homicides + truth.gun_injuries

    rollout = pd.DataFrame(
        [(names[i], comp, start.iloc[i].to_timestamp().date().isoformat(), "")
         for i in sorted(np.r_[pilots, expansion]) for comp in d.components],
        columns=["sector", "component", "start", "end"],
    )
    sectors = pd.DataFrame({"sector": names, "alcaldia": alcaldia, "population": pop, "geometry": polys})
    return {"sectors": sectors, "rollout": rollout, "truth": truth, "months": months,
            "pilots": [names[i] for i in pilots], "expansion": [names[i] for i in expansion]}


def _victim_rows(city: dict, last_month: pd.Period, d: DemoDesign, rng: np.random.Generator) -> pd.DataFrame:
    truth = city["truth"]
    truth = truth[truth.period <= last_month]
    sectors = city["sectors"].set_index("sector")
    parts = []
    for outcome, labels in (("gun_homicides", None), ("gun_injuries", None)):
        counts = truth[["unit", "period", outcome]]
        counts = counts[counts[outcome] > 0]
        rep = counts.loc[counts.index.repeat(counts[outcome])]
        ev = pd.DataFrame({"unit": rep.unit.to_numpy(), "period": rep.period.to_numpy()})
        if outcome == "gun_homicides":
            fem = rng.random(len(ev)) < 0.06
            ev["delito"] = np.where(fem, FGJ_GUN_FEMICIDE, FGJ_GUN_HOMICIDE)
            ev["categoria_delito"] = FGJ_CATEGORY_HOMICIDE
            ev["sexo"] = np.where(fem, "Femenino", np.where(rng.random(len(ev)) < 0.1, "Femenino", "Masculino"))
        else:
            ev["delito"] = FGJ_GUN_INJURY
            ev["categoria_delito"] = FGJ_CATEGORY_INJURY
            ev["sexo"] = np.where(rng.random(len(ev)) < 0.12, "Femenino", "Masculino")
        parts.append(ev)
    # crimes outside the study, as every real FGJ release is mostly made of
    months = pd.period_range(FIRST_MONTH, last_month, freq="M")
    n_other = d.other_crimes_per_month * len(months)
    other = pd.DataFrame({
        "unit": rng.choice(sectors.index.to_numpy(), n_other),
        "period": np.repeat(months, d.other_crimes_per_month),
    })
    pick = rng.integers(0, len(FGJ_OTHER), n_other)
    other["delito"] = [FGJ_OTHER[j][1] for j in pick]
    other["categoria_delito"] = [FGJ_OTHER[j][0] for j in pick]
    other["sexo"] = np.where(rng.random(n_other) < 0.4, "Femenino", "Masculino")
    parts.append(other)
    ev = pd.concat(parts, ignore_index=True)
    # the program's effect is on records; order them by time so files read like real releases
    ev = ev.sort_values(["period", "unit"], kind="stable").reset_index(drop=True)

    start = ev.period.dt.start_time
    day = (rng.random(len(ev)) * ev.period.dt.days_in_month).astype(int)
    fecha_hecho = start + pd.to_timedelta(day, unit="D")
    lag = rng.geometric(0.6, len(ev)) - 1
    # as in the real files, some case files are opened weeks or months after the event (a
    # complaint filed late); drawn from a stream of their own so no other column changes
    late = np.random.default_rng(d.seed + 3)
    lag = lag + np.where(late.random(len(ev)) < 0.12, np.ceil(late.exponential(75.0, len(ev))), 0).astype(int)
    fecha_inicio = fecha_hecho + pd.to_timedelta(lag, unit="D")
    hour = rng.integers(0, 24, len(ev))
    minute = rng.integers(0, 60, len(ev))

    lon = np.empty(len(ev))
    lat = np.empty(len(ev))
    for name, pos in ev.groupby("unit").indices.items():
        pts = _sample_points(sectors.loc[name, "geometry"], len(pos), rng)
        lon[pos], lat[pos] = pts[:, 0], pts[:, 1]
    missing = rng.random(len(ev)) < d.share_missing_coordinates
    alcaldia = sectors.loc[ev.unit, "alcaldia"].to_numpy()

    out = pd.DataFrame({
        "anio_inicio": fecha_inicio.dt.year, "mes_inicio": fecha_inicio.dt.month,
        "fecha_inicio": fecha_inicio.dt.strftime("%Y-%m-%d"),
        "hora_inicio": [f"{(h + 2) % 24:02d}:{m:02d}:00" for h, m in zip(hour, minute)],
        "anio_hecho": fecha_hecho.dt.year, "mes_hecho": fecha_hecho.dt.month,
        "fecha_hecho": fecha_hecho.dt.strftime("%Y-%m-%d"),
        "hora_hecho": [f"{h:02d}:{m:02d}:00" for h, m in zip(hour, minute)],
        "delito": ev.delito, "categoria_delito": ev.categoria_delito, "sexo": ev.sexo,
        "edad": rng.integers(15, 60, len(ev)), "tipo_persona": "FISICA", "calidad_juridica": "VICTIMA",
        "competencia": "FUERO COMUN", "colonia_hecho": "COLONIA DEMO", "colonia_catalogo": "COLONIA DEMO",
        "alcaldia_hecho": alcaldia, "alcaldia_catalogo": alcaldia, "municipio_hecho": "CIUDAD DE MEXICO",
        "latitud": np.where(missing, np.nan, np.round(lat, 6)),
        "longitud": np.where(missing, np.nan, np.round(lon, 6)),
    })
    # a few records are exported twice, as happens in real releases
    dup = out.sample(frac=d.share_duplicates, random_state=np.random.RandomState(d.seed % 2**32))
    out = pd.concat([out, dup]).sort_index(kind="stable").reset_index(drop=True)
    return out[FGJ_COLUMNS]


def write_demo_city(out_dir: Path | str, last_month: pd.Period | str, design: DemoDesign = DemoDesign()) -> dict:
    """Write the demo city as raw-style files under ``out_dir`` and return its metadata.

    Files: ``incidents/victimas_fgj_demo.csv``, ``geography/sectores_demo.geojson``,
    ``geography/cuadrantes_demo.geojson``,
    ``program/rollout.csv``, ``program/activities.csv``, ``truth.parquet`` and ``demo.json`` (seed, design, true effect).
    """
    out = Path(out_dir)
    last_month = pd.Period(last_month, freq="M")
    if last_month < FIRST_MONTH or last_month > HORIZON:
        raise ValueError(f"demo months run from {FIRST_MONTH} to {HORIZON}; got {last_month}")
    city = simulate_city(design)
    rng = np.random.default_rng(design.seed + 1)
    for sub in ("incidents", "geography", "program"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    # rows are drawn to the horizon and then cut, so a month's records never depend on last_month
    victims = _victim_rows(city, HORIZON, design, rng)
    victims = victims[pd.PeriodIndex(victims.fecha_hecho, freq="M") <= last_month].copy()
    # an extract holds no case file opened after it was taken (five days after the last month)
    cut = (last_month.end_time + pd.Timedelta(days=5)).normalize()
    late = pd.to_datetime(victims.fecha_inicio) > cut
    victims.loc[late, "fecha_inicio"] = cut.strftime("%Y-%m-%d")
    victims.loc[late, "anio_inicio"], victims.loc[late, "mes_inicio"] = cut.year, cut.month
    victims.to_csv(out / "incidents" / "victimas_fgj_demo.csv", index=False)

    sec = city["sectors"]
    fc = {
        "type": "FeatureCollection",
        "geography": {"version": GEOGRAPHY_VERSION, "valid_from": str(FIRST_MONTH.start_time.date()),
                      "valid_to": None, "note": DEMO_LABEL},
        "features": [
            {"type": "Feature",
             "properties": {"sector": s, "municipio": a, "population": int(p)},
             "geometry": mapping(g)}
            for s, a, p, g in sec[["sector", "alcaldia", "population", "geometry"]].itertuples(index=False)
        ],
    }
    (out / "geography" / "sectores_demo.geojson").write_text(json.dumps(fc))
    # the police cuadrantes inside the sectors (``make data UNIT=cuadrante``)
    cu = cuadrantes(sec)
    fc_c = {
        "type": "FeatureCollection",
        "geography": fc["geography"],
        "features": [
            {"type": "Feature", "properties": {"cuadrante": c, "sector": s, "population": int(p)}, "geometry": mapping(g)}
            for c, s, p, g in cu[["cuadrante", "sector", "population", "geometry"]].itertuples(index=False)
        ],
    }
    (out / "geography" / "cuadrantes_demo.geojson").write_text(json.dumps(fc_c))
    city["rollout"].to_csv(out / "program" / "rollout.csv", index=False)
    # activities by component (their own random stream: the other files do not change with them)
    from analysis.data.activities import demo_activities

    demo_activities(city["rollout"], last_month, design.seed + 2).to_csv(out / "program" / "activities.csv", index=False)
    truth = city["truth"]
    truth = truth[truth.period <= last_month]
    truth.to_parquet(out / "truth.parquet", index=False)

    meta = {
        "label": DEMO_LABEL,
        "seed": design.seed,
        "first_month": str(FIRST_MONTH),
        "last_month": str(last_month),
        "n_sectors": len(sec),
        "pilot_sectors": city["pilots"],
        "expansion_sectors": city["expansion"],
        "true_effect_multiplier": design.effect,
        "true_effect_percent": round(100 * (design.effect - 1), 6),
        "true_effect_applies_to": ["gun_homicides", "gun_injuries", "shootings"],
        "calibration": "analysis.data.calibration (real SSC sector counts 2013-2016)",
    }
    (out / "demo.json").write_text(json.dumps(meta, indent=2))
    return meta


def true_effect(truth: pd.DataFrame, outcome: str = "shootings", last_month: pd.Period | None = None) -> dict:
    """The demo's true average effect on the treated through ``last_month``.

    Returns ``att`` (expected events per treated sector-month, with minus without the
    program) and ``percent`` (relative to the expected counts without it).
    """
    t = truth[truth.treated]
    if last_month is not None:
        t = t[t.period <= pd.Period(last_month, "M")]
    mu0, mu1 = t[f"mu0_{outcome}"], t[f"mu1_{outcome}"]
    return {"att": float((mu1 - mu0).mean()), "percent": float(100 * (mu1.sum() / mu0.sum() - 1)),
            "n_cells": int(len(t))}
