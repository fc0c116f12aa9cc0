"""The quarterly build: Papermill runs the notebooks, the render makes HTML and PDF, a
manifest records what went in. Atomic: everything is built in a staging folder and only a
complete build replaces ``reports/<YYYYQn>/``; a failure leaves the previous report in place
and names the notebook and cell that failed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from analysis.data.geography import sha256
from analysis.report import content
from analysis.report.render import ReportMeta, combine, render_html, render_pdf

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = ROOT / "notebooks"
TITLE = "Alto al Fuego: impact on gun violence"
SUBTITLE = "Quarterly evaluation report · Mexico City Focused Deterrence of Violence strategy"
KEY_PACKAGES = ("numpy", "pandas", "scipy", "linearmodels", "synthdid-py", "matplotlib", "papermill",
                "nbconvert", "pypandoc-binary", "typst", "shapely", "pyarrow")


class ReportError(RuntimeError):
    """A report step failed; the message names the notebook and the cell."""


@dataclass
class BuildOptions:
    outcome: str = "shootings"
    n_placebo: int = 200
    n_perm: int = 999
    n_calibration: int = 100
    n_power: int = 60
    seed: int = 0
    sectors: list[str] | None = None  # default: every sector treated by the quarter's end
    workers: int = 2
    timings: dict = field(default_factory=dict)


def _execute(nb_name: str, out: Path, params: dict, cwd: Path) -> None:
    import jupytext
    import papermill as pm

    nb = jupytext.read(NOTEBOOKS / f"{nb_name}.py")
    try:
        pm.execute_notebook(nb, str(out), parameters=params, cwd=str(cwd), kernel_name="python3",
                            progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as e:
        raise ReportError(
            f"notebook {nb_name} failed in cell {e.exec_count} (index {e.cell_index}): {e.ename}: {e.evalue}\n"
            f"the partial notebook with the traceback is at {out}") from None


def _git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+uncommitted-changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for p in KEY_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def build_report(quarter: str, panel_path: Path | str, reports_dir: Path | str = ROOT / "reports",
                 options: BuildOptions | None = None, today: dt.date | None = None) -> dict:
    """Build ``reports/<YYYYQn>/`` and return the manifest.

    Raises
    ------
    analysis.periods.QuarterError
        For a malformed, incomplete or uncovered quarter (before anything is written).
    ReportError
        When a notebook fails; the previous report is left untouched.
    """
    opt = options or BuildOptions()
    panel_path = Path(panel_path).resolve()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx = content.load_context(panel_path, quarter, today=today)  # validates the quarter first
    label = ctx.label
    reports_dir = Path(reports_dir).resolve()
    reports_dir.mkdir(parents=True, exist_ok=True)
    staging = reports_dir / f".staging-{label}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "notebooks").mkdir(parents=True)
    (staging / "results").mkdir()

    common = {"quarter": label, "outcome": opt.outcome, "panel_path": str(panel_path), "results_dir": "../results",
              "seed": opt.seed}
    try:
        sectors = opt.sectors if opt.sectors is not None else ctx.treated_sectors
        jobs = [("program", "program", {**common, "n_placebo": opt.n_placebo, "n_perm": opt.n_perm,
                                        "n_calibration": opt.n_calibration, "n_power": opt.n_power})]
        jobs += [("sector", f"sector_{s}", {**common, "sector": s, "n_perm": opt.n_perm}) for s in sectors]

        def run(job: tuple[str, str, dict]) -> Path:
            nb_name, stem, params = job
            t = time.perf_counter()
            out = staging / "notebooks" / f"{stem}.ipynb"
            _execute(nb_name, out, params, staging / "notebooks")
            timings[f"notebook {stem}"] = time.perf_counter() - t
            return out

        # each notebook runs in its own kernel process; two at a time suit a 2-core machine
        with ThreadPoolExecutor(max_workers=opt.workers) as pool:
            executed = list(pool.map(run, jobs))
    except ReportError as e:
        failed = reports_dir / f".failed-{label}"
        if failed.exists():
            shutil.rmtree(failed)
        staging.rename(failed)
        raise ReportError(str(e).replace(str(staging), str(failed))) from None

    built = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    meta = ReportMeta(title=TITLE, subtitle=SUBTITLE, quarter=label, built=built,
                      demo_label=content.DEMO_LABEL if ctx.is_demo else None,
                      footer=(f"{content.DEMO_LABEL} · " if ctx.is_demo else "") + f"Alto al Fuego evaluation workbook · {label}")
    nb = combine(executed, headings={1: "Results by sector"} if len(executed) > 1 else None)
    stem = f"alto-al-fuego_{label}"
    t = time.perf_counter()
    render_html(nb, staging / f"{stem}.html", meta)
    timings["render html"] = time.perf_counter() - t
    t = time.perf_counter()
    render_pdf(nb, staging / f"{stem}.pdf", meta)
    timings["render pdf"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    inputs = {str(panel_path): sha256(panel_path)}
    for f in (ctx.audit.get("inputs") or []):
        inputs[f["file"]] = f["sha256"]
    for key in ("geography", "rollout"):
        if ctx.audit.get(key):
            inputs[ctx.audit[key]["file"]] = ctx.audit[key]["sha256"]
    manifest = {
        "quarter": label,
        "built": built,
        "data": "demo" if ctx.is_demo else "real",
        "demo": ctx.demo,
        "code_commit": _git_commit(),
        "inputs_sha256": inputs,
        "parameters": {**common, "n_placebo": opt.n_placebo, "n_perm": opt.n_perm,
                       "n_calibration": opt.n_calibration, "n_power": opt.n_power, "sectors": list(sectors)},
        "packages": _versions(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "outputs": {"html": f"{stem}.html", "pdf": f"{stem}.pdf",
                    "notebooks": [f"notebooks/{p.name}" for p in executed],
                    "results": sorted(p.name for p in (staging / "results").iterdir())},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))

    final = reports_dir / label
    old = reports_dir / f".old-{label}-{os.getpid()}"
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)
    manifest["path"] = str(final)
    return manifest

