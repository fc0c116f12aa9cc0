"""Every results file a build publishes: its name and the function that writes it.

The notebooks compute; these write. A results file is data a reader can reuse, so a count from 1
to 4 that a file would reveal is withheld here (the row keeps its design columns, the column
``suppressed`` says so), and the build checks the files again before publishing
(``disclosure.check_published``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report import content, disclosure

#: results files each notebook must write (``{stem}`` is a sector's file-name stem)
EXPECTED_RESULTS = {
    "program": (
        "program.csv",
        "program_event_study.csv",
        "sensitivity.csv",
        "trend.csv",
        "quarters.csv",
        "outcomes.csv",
        "cohorts.csv",
        "rates.csv",
        "sex_age.csv",
        "pretrends.csv",
        "robustness.csv",
        "activities.csv",
        "cost.csv",
        "previous.csv",
    ),
    "checks": ("calibration.csv", "spillover.csv", "power.csv"),
    "sectors": ("sectors.csv",),
    "sector": ("sector_{stem}.csv", "sector_{stem}_event_study.csv"),
}


def expected_results(sectors: list[str]) -> list[str]:
    """The results files a build for ``sectors`` must have written."""
    out = list(EXPECTED_RESULTS["program"]) + list(EXPECTED_RESULTS["checks"]) + list(EXPECTED_RESULTS["sectors"])
    for s in sectors:
        out += [f.format(stem=content.file_stem(s)) for f in EXPECTED_RESULTS["sector"]]
    return out


#: columns of a results row that reveal the recorded victims (alone or with the others)
HIDDEN_COLUMNS = (
    "att",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "treated_mean",
    "att_percent",
    "ci_percent_low",
    "ci_percent_high",
    "counterfactual_mean",
)


def _withhold(table: pd.DataFrame, hide) -> None:
    """Mark rows ``suppressed`` and blank the columns that reveal their recorded victims."""
    table["suppressed"] = list(hide)
    table.loc[table.suppressed, [c for c in HIDDEN_COLUMNS if c in table]] = np.nan


def save_results(
    results, out_dir: str | Path, name: str, ctx: content.Context | None = None, sector: str | None = None
) -> Path:
    """Write estimates as data: ``<name>.csv`` (one row per result) and event studies.

    With ``ctx``, an estimate that may not be published (``hidden``) keeps its design columns
    but not its numbers, and the column ``suppressed`` says so."""
    from analysis.impact import stack

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = stack(results)
    es = pd.concat([r.event_study.assign(method=r.method, outcome=r.outcome) for r in results], ignore_index=True)
    if ctx is not None:
        hide = [content.hidden(ctx, r.outcome, sector) for r in results]
        _withhold(table, hide)
        if any(hide):
            es.loc[
                es.method.isin([r.method for r, h in zip(results, hide) if h]),
                [c for c in es.columns if c not in ("rel_period", "method", "outcome")],
            ] = np.nan
    table.to_csv(out / f"{name}.csv", index=False)
    es.to_csv(out / f"{name}_event_study.csv", index=False)
    return out / f"{name}.csv"


def save_spillover(spill, out_dir: str | Path, ctx: content.Context) -> Path:
    """Write the spillover estimates as data (``spillover.csv``); a group with 1 to 4 recorded
    victims keeps its design columns but not its numbers."""
    t = spill.to_frame()
    _withhold(t, [disclosure.is_small(disclosure.recorded_total(r)) for r in t.itertuples()])
    path = Path(out_dir) / "spillover.csv"
    t.to_csv(path, index=False)
    return path


def save_calibration(checks, out_dir: str | Path) -> Path:
    """Write the placebo rejection rates as data: ``calibration.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat([c.to_frame() for c in checks], ignore_index=True).to_csv(out / "calibration.csv", index=False)
    return out / "calibration.csv"


def save_power(plan: pd.DataFrame, out_dir: str | Path, current: dict | None = None) -> Path:
    """Write the planning table's numbers (minimum detectable effects) as data: ``power.csv``,
    with the current design's row (``design`` = 'current') when given."""
    path = Path(out_dir) / "power.csv"
    if current and current.get("n_treated"):
        plan = pd.concat([plan, pd.DataFrame([{**current, "design": "current"}])], ignore_index=True)
    plan.to_csv(path, index=False)
    return path


def save_sensitivity(table: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write the relative-magnitudes table with its breakdown value and scale: ``sensitivity.csv``."""
    path = Path(out_dir) / "sensitivity.csv"
    table.assign(breakdown=table.attrs["breakdown"], scale=table.attrs.get("scale", "level")).to_csv(path, index=False)
    return path


def save_table(
    table: pd.DataFrame, out_dir: str | Path, name: str, blank: tuple[str, ...] = (), hide: pd.Series | None = None
) -> Path:
    """Write a report table as data (``<name>.csv``); rows where ``hide`` is true (or the
    table's own ``suppressed`` column) keep their labels but have the columns ``blank`` emptied:
    a results file never holds what the report withholds."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = table.copy()
    mask = hide if hide is not None else t.get("suppressed")
    if mask is not None and len(t):
        mask = pd.Series(mask, index=t.index).astype(bool)
        t.loc[mask, [c for c in blank if c in t]] = np.nan
    t.to_csv(out / f"{name}.csv", index=False)
    return out / f"{name}.csv"
