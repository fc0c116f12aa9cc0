"""Does an inference method reject a true null as often as it says? Placebo runs on real data.

On a panel where nothing was treated (for example the real 2013-2015 sector counts, before
the program), ``placebo_size`` repeatedly pretends that a few random units started the
program at a random period, estimates the effect, and records the p-value. A method whose
5 % test rejects far more than 5 % of these true nulls is miscalibrated, whatever library it
comes from. The report shows the resulting rejection rate as the method's calibration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd

from analysis import impact


@dataclass
class SizeCheck:
    """Placebo p-values of one method and inference, with the rejection rate."""

    method: str
    inference: str
    alpha: float
    p_values: np.ndarray  # of the runs that could be estimated
    name: str = ""  # what the report calls this test, exactly
    #: runs left out because no placebo calendar could be drawn for them (fewer comparable
    #: sectors than treated ones among those never in the program: many treated sectors)
    skipped: int = 0

    @property
    def rejection_rate(self) -> float:
        return float(np.mean(self.p_values <= self.alpha))

    @property
    def mc_error(self) -> float:
        """Monte Carlo standard error of the rejection rate (binomial)."""
        n, r = len(self.p_values), self.rejection_rate
        return float(np.sqrt(r * (1 - r) / n)) if n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the rejection rate."""
        n, k = len(self.p_values), float(np.sum(self.p_values <= self.alpha))
        z = 1.959964
        c = (k + z * z / 2) / (n + z * z)
        h = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
        return float(c - h), float(c + h)

    def to_frame(self) -> pd.DataFrame:
        lo, hi = self.interval
        return pd.DataFrame(
            [
                {
                    "test": self.name or f"{self.method}, {self.inference}",
                    "method": self.method,
                    "inference": self.inference,
                    "runs": len(self.p_values),
                    "skipped": self.skipped,
                    "alpha": self.alpha,
                    "rejection_rate": self.rejection_rate,
                    "rate_ci_low": lo,
                    "rate_ci_high": hi,
                    "mc_error": self.mc_error,
                }
            ]
        )


def placebo_size(
    panel: pd.DataFrame,
    *,
    outcome: str,
    method: str,
    inference: str | None = None,
    n_runs: int = 500,
    n_treated: int = 3,
    min_pre: int = 6,
    min_post: int = 3,
    calendar: Sequence | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    workers: int = 1,
    unit: str = "unit",
    time: str = "period",
    **options,
) -> SizeCheck:
    """Rejection rate of a true null over placebo adoptions.

    Parameters
    ----------
    panel : DataFrame
        A balanced panel in which no unit is treated (its ``treat_start`` is ignored).
    n_treated : int
        Units given a placebo start in each run (ignored when ``calendar`` is given).
    min_pre, min_post : int
        The random start leaves at least this many periods before and after it.
    calendar : sequence of periods, optional
        The program's own calendar, one start per treated sector (for example three sectors
        starting in 2022-04 and one in 2019-07): each run gives these starts to as many units
        drawn at random, so the check has the program's number of sectors, start groups and
        follow-up. Default: ``n_treated`` units sharing one random start.
    workers : int
        Processes the runs are spread over; the numbers do not depend on it (each run's units,
        start and seed are drawn first, in order, from one stream).
    **options
        Passed to ``analysis.impact.estimate`` (for example ``n_perm``).
    """
    rng = np.random.default_rng(seed)
    units = np.sort(panel[unit].unique())
    times = np.sort(panel[time].unique())
    base = panel[[unit, time, outcome]].copy()
    specs: list[tuple[np.ndarray, list, int]] = []
    if calendar is not None:
        starts = list(calendar)
        if not 0 < len(starts) < len(units):
            raise ValueError(f"the calendar has {len(starts)} starts for {len(units)} units")
        missing = [s for s in starts if s not in set(times)]
        if missing:
            raise ValueError(f"calendar starts {missing[:3]} are not periods of the panel")
        for _ in range(n_runs):
            chosen = rng.choice(units, size=len(starts), replace=False)
            specs.append((chosen, starts, int(rng.integers(2**31))))
    else:
        if len(times) < min_pre + min_post:
            raise ValueError(f"the panel has {len(times)} periods; placebo runs need at least {min_pre + min_post}")
        for _ in range(n_runs):
            chosen = rng.choice(units, size=n_treated, replace=False)
            k = int(rng.integers(min_pre, len(times) - min_post + 1))
            specs.append((chosen, [times[k]] * n_treated, int(rng.integers(2**31))))
    design, runs = _runs(base, unit, time, outcome, specs)
    job = partial(_run, design, method, inference, alpha, options)
    from analysis import executor

    # local processes (one BLAS thread each: two processes each running OpenBLAS's own threads on
    # two cores ran the TWFE calibration 6 times slower), or the Dask cluster of DASK_SCHEDULER;
    # each run's units, start and seed were drawn above, so the numbers do not depend on where
    # they run
    ex = executor.get(workers) if workers > 1 or os.environ.get("DASK_SCHEDULER") else executor.LocalExecutor(1)
    out = ex.map(
        job,
        runs,
        desc=f"calibration runs ({method})",
        chunksize=max(1, len(specs) // (4 * max(1, ex.workers))),
    )
    pvals = np.array([p for p, _ in out], dtype=float)
    label = next((lab for _, lab in reversed(out) if lab), None)
    done = np.isfinite(pvals)
    return SizeCheck(
        method=method,
        inference=label or str(inference),
        alpha=alpha,
        p_values=pvals[done],
        skipped=int((~done).sum()),
    )


def _runs(base: pd.DataFrame, unit: str, time: str, outcome: str, specs: list) -> tuple[impact.Design, list]:
    """The panel as matrices, made once, and each run as (rows treated, their start columns,
    seed): what ``make_design`` gives each run's own panel, without pivoting the panel 500 times."""
    # one unit is given a start only so that make_design accepts the panel, and checks it
    # (balance, repeats, missing values); each run's own starts replace it
    t0 = base[time].iloc[0]
    one = pd.Series({base[unit].iloc[0]: np.sort(base[time].unique())[1]})
    p = base.assign(treat_start=base[unit].map(one))
    if isinstance(t0, pd.Period):
        p["treat_start"] = p.treat_start.astype(f"period[{t0.freqstr}]")
    design = impact.make_design(p, outcome, unit=unit, time=time)
    row = {u: i for i, u in enumerate(design.units)}
    cols = np.asarray(design.times)
    col: dict = {}  # a start's column, as make_design finds it
    runs = []
    for chosen, starts, run_seed in specs:
        for s in starts:
            if s not in col:
                col[s] = int(np.searchsorted(cols, s))
        k = np.array([col[s] for s in starts], dtype=int)
        if (k == 0).any():
            u = chosen[int(np.flatnonzero(k == 0)[0])]
            raise ValueError(f"unit {u!r} is treated from the first period on: no pre-treatment data")
        rows = np.array([row[u] for u in chosen], dtype=int)
        inside = k < len(cols)  # a start after the last period: never treated within the panel
        runs.append((rows[inside], k[inside], run_seed))
    return design, runs


def _run(design: impact.Design, method, inference, alpha, options, spec) -> tuple[float, str]:
    """One placebo run: the chosen rows start as the spec says; the p-value and inference label."""
    rows, starts, run_seed = spec
    start = np.full(len(design.units), -1)
    start[rows] = starts
    from analysis.impact.inference.placebo import PoolTooSmall

    try:
        _, out = impact.infer(
            replace(design, start=start),
            method=method,
            inference=inference,
            alpha=alpha,
            seed=run_seed,
            **options,
        )
    except PoolTooSmall:  # this draw left too few comparable sectors: counted as skipped, not as a result
        return float("nan"), ""
    return float(out.p_value), out.record.label


#: the code a calibration's numbers depend on (a change to any of it gives a new cache key)
CODE = ("impact", "evaluation/calibration.py")


def program_calibration(
    panel: pd.DataFrame,
    *,
    outcome: str,
    method: str,
    calendar: Sequence,
    n_runs: int,
    seed: int = 0,
    inference: str | None = None,
    workers: int = 2,
    **options,
) -> tuple[SizeCheck, bool]:
    """``placebo_size`` with the program's calendar, stored in ``analysis.cache`` under the hash
    of the panel, the calendar, the options and the code; returns ``(check, read_from_cache)``."""
    from analysis.cache import cached, code_hash, key

    k = key(
        panel=panel[["unit", "period", outcome]],
        outcome=outcome,
        method=method,
        inference=inference,
        calendar=[str(s) for s in calendar],
        n_runs=n_runs,
        seed=seed,
        options=options,
        code=code_hash(CODE),
    )
    return cached(
        f"calibration-{method}",
        k,
        lambda: placebo_size(
            panel,
            outcome=outcome,
            method=method,
            inference=inference,
            n_runs=n_runs,
            calendar=calendar,
            seed=seed,
            workers=workers,
            **options,
        ),
    )
