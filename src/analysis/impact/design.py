"""A panel in the architecture's contract, as the matrices every estimator works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Design:
    """A balanced panel as matrices.

    Attributes
    ----------
    Y : ndarray (N, T)
        Outcome.
    start : ndarray (N,)
        Index into ``times`` of each unit's first treated period; -1 for never treated.
    units, times : Index
        Labels of rows and columns (``times`` sorted).
    """

    Y: np.ndarray
    start: np.ndarray
    units: pd.Index
    times: pd.Index

    @property
    def D(self) -> np.ndarray:
        return treatment_matrix(self.start, len(self.times))

    @property
    def treated(self) -> np.ndarray:
        return self.start >= 0

    @property
    def n_pre(self) -> int:
        return int(self.start[self.treated].min()) if self.treated.any() else len(self.times)

    @property
    def n_post(self) -> int:
        return len(self.times) - self.n_pre

    def treated_mean(self) -> float:
        D = self.D
        return float(self.Y[D == 1].mean()) if D.any() else float("nan")


def treatment_matrix(start: np.ndarray, T: int) -> np.ndarray:
    """D[i, t] = 1 when unit i is treated at t (t >= start[i] >= 0)."""
    t = np.arange(T)[None, :]
    s = np.asarray(start)[:, None]
    return ((s >= 0) & (t >= s)).astype(float)


def demean2(X: np.ndarray) -> np.ndarray:
    """Two-way within transform of an (N, T) matrix, or of (K, N, T) stacked matrices."""
    return X - X.mean(-1, keepdims=True) - X.mean(-2, keepdims=True) + X.mean((-1, -2), keepdims=True)


def make_design(
    panel: pd.DataFrame, outcome: str, unit: str = "unit", time: str = "period", treat_start: str = "treat_start"
) -> Design:
    """Check a long panel and turn it into a ``Design``.

    Raises
    ------
    ValueError
        When a column is missing, the outcome has missing values, a (unit, time) pair
        repeats, the panel is not balanced, a unit's start varies over time, or no unit is
        treated within the panel's periods.
    """
    for c in (unit, time, outcome, treat_start):
        if c not in panel.columns:
            raise ValueError(f"panel has no column {c!r} (columns: {', '.join(map(str, panel.columns))})")
    if panel[outcome].isna().any():
        raise ValueError(f"outcome {outcome!r} has {int(panel[outcome].isna().sum())} missing values")
    if panel.duplicated([unit, time]).any():
        raise ValueError(f"panel has repeated ({unit}, {time}) rows")
    wide = panel.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
    if wide.isna().any().any():
        raise ValueError("panel is not balanced: every unit needs every period (fill months without events with 0)")
    given = panel.loc[panel[treat_start].notna(), [unit, treat_start]].groupby(unit)[treat_start]
    if (given.nunique() > 1).any():
        raise ValueError(f"{treat_start!r} must be constant within a unit")
    starts = given.first()
    times = wide.columns
    pos = np.full(len(wide), -1)
    for i, u in enumerate(wide.index):
        if u in starts.index:
            k = int(np.searchsorted(np.asarray(times), starts[u]))
            # units treated before the first period carry no pre-period: they are not usable
            if k == 0:
                raise ValueError(f"unit {u!r} is treated from the first period on: no pre-treatment data")
            pos[i] = k if k < len(times) else -1
    if not (pos >= 0).any():
        raise ValueError("no unit is treated within the panel's periods")
    if (pos >= 0).all():
        raise ValueError("every unit is treated: there are no never-treated comparison units")
    return Design(Y=wide.to_numpy(float), start=pos, units=wide.index, times=pd.Index(times))
