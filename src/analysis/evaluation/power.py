"""Power and minimum detectable effect for planning the expansion, simulated on the panel itself.

For a planned number of treated sectors and months of follow-up, ``power_curve`` repeatedly
picks that many sectors from a panel with no program effect (the never-treated sectors, all
months), gives them a start that leaves the follow-up, multiplies their post-start counts by
(1 + effect), and runs a randomization test of the headline's kind. Power at an effect is the
share of runs whose 5 % test rejects with the right sign; the minimum detectable effect (MDE) is
the smallest reduction detected with the target power.

The statistic is the imputation estimate on each sector's counts divided by its own mean before
the start: a city-wide change that multiplies every sector's rate (as in Mexico City, and as the
headline Poisson imputation assumes) is then the same for every sector, so high-violence sectors
no longer add their larger swings to the noise. It stands in for the Poisson test, whose refits
would cost a thousand times more, and has about its precision. Because it is linear in the
outcome, the statistic with an injected effect e is a + e * c for every reassignment, so one
randomization pass per run gives the whole curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from analysis.impact.design import treatment_matrix
from analysis.impact.imputation import att_many


@dataclass
class PowerResult:
    curve: pd.DataFrame  # effect (fraction), power
    n_treated: int
    follow_up: int
    n_sims: int
    target: float

    @property
    def mde(self) -> float:
        """Smallest reduction (a negative fraction) detected with the target power; NaN if none."""
        c = self.curve.sort_values("effect", ascending=False)  # from 0 towards larger reductions
        ok = c[c.power >= self.target]
        if ok.empty:
            return float("nan")
        first = ok.index[0]
        pos = list(c.index).index(first)
        if pos == 0:
            return float(c.effect.iloc[0])
        e0, p0 = c.effect.iloc[pos - 1], c.power.iloc[pos - 1]
        e1, p1 = c.effect.iloc[pos], c.power.iloc[pos]
        return float(e0 + (self.target - p0) * (e1 - e0) / (p1 - p0))


def _assignments(rng: np.random.Generator, start: np.ndarray, n_perm: int) -> np.ndarray:
    """The drawn calendar and its ``n_perm`` reassignments to random units, (1 + n_perm, N)."""
    return np.stack([start] + [rng.permutation(start) for _ in range(n_perm)])


def power_curve(
    panel: pd.DataFrame,
    *,
    outcome: str,
    n_treated: int,
    follow_up: int,
    calendar: np.ndarray | None = None,
    effects=tuple(-np.arange(0, 0.61, 0.05)),
    n_sims: int = 100,
    n_perm: int = 99,
    alpha: float = 0.05,
    target: float = 0.8,
    seed: int = 0,
    unit: str = "unit",
    time: str = "period",
) -> PowerResult:
    """Power of the headline test against multiplicative effects; see the module docstring.

    Parameters
    ----------
    panel : DataFrame
        Balanced panel with no program effect (for example the never-treated sectors).
    n_treated : int
        Sectors to be treated.
    follow_up : int
        Periods observed after the start.
    calendar : array of int, optional
        Start positions (column indices of the periods) of the treated sectors, one per sector:
        the program's own staggered calendar (``n_treated`` and ``follow_up`` are then
        ``len(calendar)`` and the months from the earliest start). Default: ``n_treated``
        sectors sharing one start ``follow_up`` periods before the end.
    effects : sequence of float
        Effects to evaluate, as fractions (-0.3 = 30 % fewer victims).
    """
    wide = panel.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
    if wide.isna().any().any():
        raise ValueError("panel is not balanced")
    Y = wide.to_numpy(float)
    N, T = Y.shape
    if calendar is not None:
        cal = np.asarray(calendar, dtype=int)
        if not 0 < len(cal) < N or cal.min() < 2 or cal.max() >= T:
            raise ValueError(f"the calendar needs 1 to {N - 1} starts within periods 2..{T - 1}")
        n_treated, follow_up = len(cal), int(T - cal.min())
    if not 0 < follow_up < T - 2:
        raise ValueError(f"follow_up must leave pre-period months (the panel has {T} periods)")
    if not 0 < n_treated < N:
        raise ValueError(f"n_treated must be between 1 and {N - 1}")
    effects = np.asarray(effects, float)
    rng = np.random.default_rng(seed)
    k = T - follow_up
    # every sector on its own scale: counts over its mean before the (earliest) start, which the
    # injected effect never touches (a sector with no event before it keeps its counts)
    pre = Y[:, :k].mean(1)
    Y = Y / np.where(pre > 0, pre, 1.0)[:, None]
    hits = np.zeros(len(effects))
    for _ in range(n_sims):
        start = np.full(N, -1)
        chosen = rng.choice(N, n_treated, replace=False)
        start[chosen] = k if calendar is None else cal
        calendars = _assignments(rng, start, n_perm)
        D = treatment_matrix(start, T).astype(bool)
        Z = np.where(D, Y, 0.0)  # the injected effect adds e * Z
        # the statistic under the drawn calendar and each reassignment, all at once
        sy, sz = att_many(Y, calendars), att_many(Z, calendars)
        a0, c0, a_p, c_p = sy[0], sz[0], sy[1:], sz[1:]
        obs = a0 + effects * c0  # (E,)
        perm = a_p[:, None] + effects[None, :] * c_p[:, None]  # (P, E)
        p = (1 + (np.abs(perm) >= np.abs(obs)[None, :] - 1e-12).sum(0)) / (n_perm + 1)
        right_sign = (np.sign(obs) == np.sign(effects)) | (effects == 0)
        hits += (p <= alpha) & right_sign
    curve = pd.DataFrame({"effect": effects, "power": hits / n_sims})
    return PowerResult(curve=curve, n_treated=n_treated, follow_up=follow_up, n_sims=n_sims, target=target)


def _power_cell(panel: pd.DataFrame, outcome: str, n_sims: int, seed: int, cell) -> PowerResult:
    """One cell of the planning table: (sectors, months of follow-up, the program's calendar or None)."""
    k, f, cal = cell
    return power_curve(
        panel,
        outcome=outcome,
        n_treated=k,
        follow_up=f,
        calendar=None if cal is None else np.asarray(cal),
        n_sims=n_sims,
        seed=seed,
    )


#: the code a planning table's numbers depend on (a change gives a new cache key)
CODE = ("evaluation/power.py", "impact/design.py", "impact/imputation.py")


def planning(
    panel: pd.DataFrame,
    *,
    outcome: str,
    calendar: np.ndarray | None = None,
    sizes=(3, 5, 10, 15),
    follow_ups=(12, 24),
    n_sims: int = 60,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict, bool]:
    """The planning table (minimum detectable reduction by sectors and months of follow-up) and
    the current design's row (``calendar``: the program's start positions in ``panel``'s
    periods), stored in ``analysis.cache``; returns ``(table, current, read_from_cache)``."""
    from analysis.cache import cached, code_hash, key

    def compute() -> tuple[pd.DataFrame, dict]:
        from analysis import executor

        # each cell of the table is independent and seeded: through the executor (local
        # processes, or the Dask cluster of DASK_SCHEDULER), the same numbers as one by one
        cells: list[tuple[int, int, tuple[int, ...] | None]] = [(k, f, None) for k in sizes for f in follow_ups]
        if calendar is not None and len(calendar):
            cells.append((len(calendar), 1, tuple(int(c) for c in calendar)))
        runs = executor.get().map(
            partial(_power_cell, panel[["unit", "period", outcome]], outcome, n_sims, seed),
            cells,
            desc="power simulations",
        )
        grid = runs[: len(sizes) * len(follow_ups)]
        table = pd.DataFrame([{"n_treated": r.n_treated, "follow_up": r.follow_up, "mde": r.mde} for r in grid])
        current: dict = {"n_treated": 0, "mde": float("nan")}
        if len(runs) > len(grid):
            r = runs[-1]
            current = {"n_treated": r.n_treated, "follow_up": r.follow_up, "mde": r.mde}
        return table, current

    k = key(
        panel=panel[["unit", "period", outcome]],
        outcome=outcome,
        sizes=list(sizes),
        follow_ups=list(follow_ups),
        calendar=None if calendar is None else [int(c) for c in calendar],
        n_sims=n_sims,
        seed=seed,
        code=code_hash(CODE),
    )
    (table, current), hit = cached("planning", k, compute)
    return table, current, hit
