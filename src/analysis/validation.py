"""Validation on realistic cities: how each method and its inference behave when a city-wide
change multiplies every sector's rate, as Mexico City's did.

A city here is built the way the real data behave (issue 13):
- baseline sector rates from the real 2013-2015 sector counts in ``../shared`` (SSC counts by
  cuadrante and month, placed in the 72 sectors of 2016; gun homicides as a share of all
  intentional homicides, ``calibration.GUN_SHARE_OF_HOMICIDES``);
- a city-wide factor that multiplies every sector's rate: seasonality
  (``calibration.SEASONALITY``), a rise of 45 % from 2016 to mid-2019, a long decline after it to
  60 % of the 2016 level by 2026, a COVID dip (x 0.8 from April to June 2020);
- small sector-specific drifts (log-linear, sd 0.1 per decade);
- negative-binomial overdispersion with the shapes measured on the real counts;
- 15 treated sectors drawn among the 40 most violent, in four start groups (3 pilots from
  2019-07, then 4 from 2020-02, 4 from 2022-04 and 4 from 2024-01);
- a known multiplicative effect on both outcomes, by scenario: none (size), a constant -25 %,
  heterogeneous across start groups (-40, -30, -20, -10 %), or growing with time in the program
  (from 0 to -40 % over three years).

The target of every method is the same number: the percent change in expected victims over the
treated sector-months, sum(mu1) / sum(mu0) - 1. For each method and its default inference the
study reports bias and RMSE of the percent estimate, coverage of its 95 % interval and, without
an effect, how often a 5 % test rejects; each with its Monte Carlo standard error.

``python -m analysis validate`` (``make validate``) writes the table to ``reports/validation/``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data import calibration as cal

MONTHS = pd.period_range("2016-01", "2026-09", freq="M")
START_GROUPS = (("2019-07", 3), ("2020-02", 4), ("2022-04", 4), ("2024-01", 4))
SCENARIOS = ("zero", "constant", "cohort", "growing")
#: methods and the options of their default inference used here (draws kept modest: the
#: Monte Carlo error of a 5 % test with 99-199 draws is small next to that of 200 cities)
METHODS = {
    "imputation": {"n_perm": 199},
    "ppml": {"n_perm": 199},
    "sdid": {"n_placebo": 50},
    "sc": {"n_placebo": 50},
    "twfe": {"n_perm": 199},
}
#: what ``make validate`` runs (twfe's randomization inference costs 10-20 s a city; it is
#: labelled biased in the report and left out unless asked for)
DEFAULT_METHODS = ("ppml", "imputation", "sdid", "sc")


def real_sector_rates(shared: Path | str) -> pd.DataFrame:
    """Mean monthly gun homicides and gun injuries of each 2016 sector, 2013-01 to 2015-09,
    from the SSC counts in ``shared`` (built by the project's own panel step)."""
    from analysis.data.panel import build_panel

    shared = Path(shared)
    b = build_panel([shared / "cuadrante_month_2013_2015.csv.gz"], shared / "sectores.geojson")
    m = b.panel.groupby("unit")[["all_homicides", "gun_injuries"]].mean()
    return pd.DataFrame(
        {
            "sector": m.index,
            "gun_homicides": m.all_homicides.to_numpy() * cal.GUN_SHARE_OF_HOMICIDES,
            "gun_injuries": m.gun_injuries.to_numpy(),
        }
    ).reset_index(drop=True)


def city_factor(months: pd.PeriodIndex = MONTHS) -> np.ndarray:
    """The city-wide multiplier of every sector's rate, by month (see the module docstring)."""
    trend = cal.city_trend(months)
    season = np.array(cal.SEASONALITY)[np.asarray(months.month) - 1]
    covid = np.where((months >= pd.Period("2020-04", "M")) & (months <= pd.Period("2020-06", "M")), 0.8, 1.0)
    return trend * season * covid


@dataclass(frozen=True)
class City:
    panel: pd.DataFrame  # unit, period, gun_homicides, gun_injuries, shootings, treat_start
    truth_percent: float  # 100 * (sum mu1 / sum mu0 - 1) over the treated cells (shootings)


def simulate_city(rates: pd.DataFrame, scenario: str, seed: int, months: pd.PeriodIndex = MONTHS) -> City:
    """One realistic city (see the module docstring)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    rng = np.random.default_rng(seed)
    n, T = len(rates), len(months)
    t = np.arange(T) / 120.0
    drift = np.exp(rng.normal(0.0, 0.1, n)[:, None] * t[None, :])
    common = city_factor(months)[None, :] * drift
    base = rates[["gun_homicides", "gun_injuries"]].to_numpy()
    # 15 treated sectors among the 40 most violent, in four start groups
    top = np.argsort(-base.sum(1), kind="stable")[:40]
    chosen = rng.choice(top, size=sum(k for _, k in START_GROUPS), replace=False)
    start = np.full(n, -1)
    group = np.full(n, -1)
    i = 0
    for g, (s, k) in enumerate(START_GROUPS):
        start[chosen[i : i + k]] = months.get_loc(pd.Period(s, "M"))
        group[chosen[i : i + k]] = g
        i += k
    rel = np.arange(T)[None, :] - np.where(start >= 0, start, 10**6)[:, None]
    treated = rel >= 0
    if scenario == "zero":
        mult = np.ones((n, T))
    elif scenario == "constant":
        mult = np.where(treated, 0.75, 1.0)
    elif scenario == "cohort":
        by_group = np.array([0.60, 0.70, 0.80, 0.90])
        mult = np.where(treated, by_group[np.maximum(group, 0)][:, None], 1.0)
    else:  # growing: from no effect at the start to -40 % after three years
        mult = np.where(treated, 1.0 - 0.4 * np.clip(rel / 36.0, 0.0, 1.0), 1.0)
    out = {}
    mu0_tot = np.zeros((n, T))
    for j, (name, shape) in enumerate(
        (("gun_homicides", cal.HOMICIDE_NB_SHAPE), ("gun_injuries", cal.FIREARM_INJURY_NB_SHAPE))
    ):
        mu0 = base[:, j][:, None] * common
        mu0_tot += mu0
        out[name] = rng.poisson(mu0 * mult * rng.gamma(shape, 1.0 / shape, size=(n, T)))
    truth = 100 * ((mu0_tot * mult)[treated].sum() / mu0_tot[treated].sum() - 1)
    units = rates.sector.to_numpy()
    panel = pd.DataFrame(
        {
            "unit": np.repeat(units, T),
            "period": np.tile(months, n),
            "gun_homicides": out["gun_homicides"].ravel(),
            "gun_injuries": out["gun_injuries"].ravel(),
        }
    )
    panel["shootings"] = panel.gun_homicides + panel.gun_injuries
    ts = pd.Series([months[s] if s >= 0 else pd.NaT for s in start], index=units, dtype="period[M]")
    panel["treat_start"] = panel.unit.map(ts).astype("period[M]")
    return City(panel=panel, truth_percent=float(truth))


def _one(args) -> list[dict]:
    """Every method on one city: a row per method."""
    rates, scenario, seed, methods, options = args
    from analysis import impact

    city = simulate_city(rates, scenario, seed)
    rows = []
    for m in methods:
        t = time.perf_counter()
        try:
            r = impact.estimate(
                city.panel, outcome="shootings", method=m, seed=seed, **{**METHODS[m], **options.get(m, {})}
            )
            lo, hi = r.ci_percent
            rows.append(
                {
                    "scenario": scenario,
                    "city": seed,
                    "method": m,
                    "inference": r.inference,
                    "truth": city.truth_percent,
                    "estimate": r.att_percent,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p_value": r.p_value,
                    "seconds": time.perf_counter() - t,
                    "error": "",
                }
            )
        except Exception as e:  # a method that fails on a city is counted, not hidden
            rows.append(
                {
                    "scenario": scenario,
                    "city": seed,
                    "method": m,
                    "inference": "",
                    "truth": city.truth_percent,
                    "estimate": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "p_value": np.nan,
                    "seconds": time.perf_counter() - t,
                    "error": f"{type(e).__name__}: {e}",
                }
            )
    return rows


def run(
    rates: pd.DataFrame,
    n_cities: int = 200,
    scenarios=SCENARIOS,
    methods=DEFAULT_METHODS,
    workers: int = 2,
    first_seed: int = 1,
    progress=None,
    options: dict | None = None,
) -> pd.DataFrame:
    """One row per scenario, city and method. Cities are seeded ``first_seed ..``: the same
    arguments give the same table. ``options`` overrides a method's options ({method: {...}})."""
    jobs = [(rates, s, first_seed + k, list(methods), options or {}) for s in scenarios for k in range(n_cities)]
    rows: list[dict] = []
    if workers <= 1:
        for j in jobs:
            rows += _one(j)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for k, r in enumerate(pool.map(_one, jobs, chunksize=4)):
                rows += r
                if progress and (k + 1) % 50 == 0:
                    progress(k + 1, len(jobs))
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, coverage and rejection rate by scenario and method, with Monte Carlo errors.

    ``rejects`` is the share of cities whose 5 % test rejects no effect: the size in the
    scenario without an effect, the power elsewhere."""
    ok = runs[runs.error.eq("") & runs.estimate.notna()]
    out = []
    for (s, m), g in ok.groupby(["scenario", "method"], sort=False):
        err = g.estimate - g.truth
        cover = ((g.ci_low <= g.truth) & (g.truth <= g.ci_high)).to_numpy(float)
        rej = (g.p_value < 0.05).to_numpy(float)
        n = len(g)
        out.append(
            {
                "scenario": s,
                "method": m,
                "cities": n,
                "failed": int(((runs.scenario == s) & (runs.method == m)).sum() - n),
                "truth_percent": g.truth.mean(),
                "mean_estimate": g.estimate.mean(),
                "bias": err.mean(),
                "bias_mc_se": err.std(ddof=1) / np.sqrt(n),
                "rmse": float(np.sqrt((err**2).mean())),
                "coverage": cover.mean(),
                "coverage_mc_se": float(np.sqrt(cover.mean() * (1 - cover.mean()) / n)),
                "rejects": rej.mean(),
                "rejects_mc_se": float(np.sqrt(rej.mean() * (1 - rej.mean()) / n)),
                "seconds_per_city": g.seconds.mean(),
            }
        )
    return pd.DataFrame(out)


def markdown_table(summary: pd.DataFrame) -> str:
    """The table as the README and the report print it (points of percent; Monte Carlo s.e.)."""
    lines = [
        "| scenario | method | cities | truth | mean estimate | bias (MC s.e.) | RMSE | coverage of 95 % interval | rejects no effect at 5 % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples():
        lines.append(
            f"| {r.scenario} | {r.method} | {r.cities} | {r.truth_percent:+.1f} % | {r.mean_estimate:+.1f} % | "
            f"{r.bias:+.2f} ({r.bias_mc_se:.2f}) | {r.rmse:.2f} | {100 * r.coverage:.1f} % ({100 * r.coverage_mc_se:.1f}) | "
            f"{100 * r.rejects:.1f} % ({100 * r.rejects_mc_se:.1f}) |"
        )
    return "\n".join(lines)


def write(runs: pd.DataFrame, out_dir: Path | str, meta: dict) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(runs)
    files = {
        "runs": out / "runs.csv",
        "summary": out / "summary.csv",
        "table": out / "summary.md",
        "meta": out / "meta.json",
    }
    runs.to_csv(files["runs"], index=False)
    summary.to_csv(files["summary"], index=False)
    files["table"].write_text(markdown_table(summary) + "\n")
    files["meta"].write_text(json.dumps(meta, indent=2, default=str))
    return files
