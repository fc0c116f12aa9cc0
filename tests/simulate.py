"""Simulated panels with known effects, shared by the estimator tests."""

import numpy as np
import pandas as pd


def _sim_panel(rng, n=40, T=36, n_treated=3, effect=0.0):
    """Overdispersed counts with unit and period effects; treated units get a staggered start."""
    a = np.exp(rng.normal(0.8, 0.6, n))
    g = np.exp(rng.normal(0, 0.15, T))
    start = np.full(n, -1)
    tr = rng.choice(n, n_treated, replace=False)
    start[tr] = rng.integers(T // 3, T - 6, n_treated)
    D = (np.arange(T)[None, :] >= start[:, None]) & (start[:, None] >= 0)
    mu = a[:, None] * g[None, :] * np.where(D, 1 + effect, 1.0)
    return rng.poisson(mu * rng.gamma(5, 1 / 5, mu.shape)), start


def _dynamic_panel(n=40, T=36, seed=0):
    """Noise-free staggered panel whose effect grows with time since the start (0.5 per month)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(5, 2, n), rng.normal(0, 1, T)
    start = np.full(n, -1)
    start[:12] = 8
    start[12:24] = 20
    rel = np.arange(T)[None, :] - start[:, None]
    tau = np.where((start[:, None] >= 0) & (rel >= 0), 0.5 * (rel + 1), 0.0)
    Y = a[:, None] + b[None, :] + tau
    units = [f"u{i:02d}" for i in range(n)]
    periods = pd.period_range("2020-01", periods=T, freq="M")
    panel = pd.DataFrame({"unit": np.repeat(units, T), "period": np.tile(periods, n), "y": Y.ravel()})
    ts = pd.Series([periods[s] if s >= 0 else pd.NaT for s in start], index=units, dtype="period[M]")
    panel["treat_start"] = panel.unit.map(ts).astype("period[M]")
    return panel, float(tau[tau > 0].mean())


def _heterogeneous_panel(rng, n=40, T=30, starts=(10, 15, 20)):
    """Overdispersed counts, six treated units in three cohorts (``starts``), effects that differ
    by cohort and grow with time since the start (20-40 % fewer events). Returns the panel and
    the realised average effect on the treated cells; ``attrs`` also hold each cell's realised
    effect (``cell_effect``, units x periods) and each unit's start (``start``, -1 if never)."""
    a = np.exp(rng.normal(0.8, 0.6, n))
    g = np.exp(rng.normal(0, 0.15, T))
    start = np.full(n, -1)
    start[rng.choice(n, 6, replace=False)] = rng.choice(list(starts), 6)
    rel = np.arange(T)[None, :] - start[:, None]
    D = (start[:, None] >= 0) & (rel >= 0)
    keep = np.where(D, 0.8 - 0.02 * np.minimum(rel, 10) - 0.1 * (start[:, None] == starts[0]), 1.0)
    mu = a[:, None] * g[None, :]
    Y0 = rng.poisson(mu * rng.gamma(5, 1 / 5, mu.shape))
    Y = rng.binomial(Y0, np.clip(keep, 0, 1))
    p = pd.DataFrame({"unit": np.repeat(np.arange(n), T), "period": np.tile(np.arange(T), n), "y": Y.ravel().astype(float)})
    p["treat_start"] = p.unit.map({i: (s if s >= 0 else np.nan) for i, s in enumerate(start)})
    p.attrs["ratio"] = float(Y[D].sum() / Y0[D].sum() - 1)  # realised effect as a ratio
    p.attrs.update(cell_effect=(Y - Y0).astype(float), start=start)
    return p, float((Y - Y0)[D].mean())
