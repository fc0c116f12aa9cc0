"""How long `make report` takes (issue 12), measured as a user runs it, on this machine.

    python benchmarks/bench_build.py [--skip-dask] [--skip-15]

Each build runs `python -m analysis report` (what `make report` calls) on a demo city, into a
folder of its own with a cache of its own (ALTO_CACHE_DIR):

- cold:   an empty cache: every notebook, calibration and power run computed;
- cached: the same build again, nothing changed (the report is up to date);
- warm:   the notebooks' entries removed from the cache, the calibration's and the planning
          table's kept (what a change to the report's code costs);
- dask:   cold, on a Dask LocalCluster of 2 worker processes (DASK_SCHEDULER); its results files
          compared with the cold local build's, byte for byte;
- 15 sectors: cold, on the demo city with 15 treated sectors among its 72
  (DemoDesign(n_expansion=12));
- cuadrantes: cold, the demo city by its 864 cuadrantes (what `make report UNIT=cuadrante` runs,
  with that unit's draws: analysis.options.UNIT_DEFAULTS).

Prints a table and writes reports/bench/build.md and build.json with the goals beside each time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "bench"
GOALS = {"cold": 60.0, "cached": 10.0, "15 sectors, cold": 90.0, "cuadrantes, cold": 300.0}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "results").iterdir())}


def _build(panel: Path, reports: Path, cache: Path, env: dict | None = None) -> tuple[float, Path]:
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "analysis", "report", "--panel", str(panel), "--reports", str(reports),
         "--lang", "en es"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ALTO_CACHE_DIR": str(cache), **(env or {})},
    )
    secs = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"build failed:\n{r.stderr[-3000:]}")
    folder = next(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    return secs, folder


def _demo_panel(work: Path, n_expansion: int | None, unit: str = "sector") -> Path:
    from analysis.data import demo
    from analysis.data.panel import build_panel
    from analysis.periods import latest_complete_quarter

    last = str(latest_complete_quarter().asfreq("M", "end"))
    # with 15 treated sectors the neighbour (spillover) check leaves 9 comparable sectors for 15:
    # its main estimate takes the exact reassignment test (evaluation.spillover), said in the report
    design = demo.DemoDesign() if n_expansion is None else demo.DemoDesign(n_expansion=n_expansion)
    raw = work / "raw"
    meta = demo.write_demo_city(raw, last, design)
    b = build_panel(
        [raw / "incidents" / "victimas_fgj_demo.csv"],
        raw / "geography" / "sectores_demo.geojson",
        raw / "program" / "rollout.csv",
        cuadrantes_path=raw / "geography" / "cuadrantes_demo.geojson" if unit == "cuadrante" else None,
        last_month=last,
        unit=unit,
    )
    b.audit["demo"] = meta
    b.write(work / "processed")
    return work / "processed" / "panel.parquet"


#: ms a calibration run took (``_host_speed``) when this VM's host was quiet (2026-11-29 23:45)
IDLE_MS = 29.0


def _host_speed(panel: Path) -> float:
    """Milliseconds of one placebo run of the report's calibration (PPML, 999 placebo calendars),
    the median of three rounds of 40 runs in one process: the same work before and after a change
    of code, so that a build time can be read against how busy the VM's host was (the same build
    took 44 s and 69 s an hour apart, with this measure at 29 and 52 ms)."""
    import statistics

    from analysis.evaluation.calibration import placebo_size
    from analysis.report import content

    ctx = content.load_context(panel, "")
    never, calendar = content.calibration_panel(ctx), content.program_calendar(ctx)
    rounds = []
    bars, os.environ["ALTO_PROGRESS"] = os.environ.get("ALTO_PROGRESS"), "0"  # no progress bar here
    for seed in range(3):
        t = time.perf_counter()
        placebo_size(never, outcome="shootings", method="ppml", calendar=calendar, n_runs=40, n_perm=999, ci=False,
                     seed=seed, event_window=None, workers=1)
        rounds.append((time.perf_counter() - t) / 40 * 1000)
    if bars is None:
        del os.environ["ALTO_PROGRESS"]
    else:
        os.environ["ALTO_PROGRESS"] = bars
    return statistics.median(rounds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-dask", action="store_true", help="leave out the Dask build")
    ap.add_argument("--skip-15", action="store_true", help="leave out the 15-sector city")
    ap.add_argument("--skip-cuadrante", action="store_true", help="leave out the city by cuadrante")
    ap.add_argument(
        "--skip-cold",
        action="store_true",
        help="leave out the cold and cached local builds; the warm one reads the calibration and planning "
        "entries of the repository's .cache when it has them",
    )
    args = ap.parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="alto-bench-") as tmp:
        work = Path(tmp)
        panel = _demo_panel(work / "city", None)

        def row(name: str, secs: float, note: str = "") -> None:
            goal = GOALS.get(name)
            rows.append({"build": name, "seconds": round(secs, 1), "goal_seconds": goal,
                         "met": None if goal is None else secs < goal, "note": note})
            print(f"  {name:18s} {secs:7.1f} s" + (f"  (goal < {goal:.0f} s)" if goal else "") + (f"  {note}" if note else ""),
                  flush=True)

        speed_before = _host_speed(panel)
        cache = work / "cache"
        if not args.skip_cold:
            secs, cold = _build(panel, work / "cold", cache)
            row("cold", secs, f"empty cache; the host's speed then: {speed_before:.0f} ms a calibration run")
            secs, _ = _build(panel, work / "cold", cache)
            row("cached", secs, "nothing changed: up to date")
            for p in cache.glob("notebook-*"):
                p.unlink()
            shutil.rmtree(cold)
        else:
            cache.mkdir()
            for p in [*(ROOT / ".cache").glob("calibration-*"), *(ROOT / ".cache").glob("planning-*")]:
                shutil.copyfile(p, cache / p.name)
        secs, warm = _build(panel, work / "cold", cache)
        row("warm", secs, "calibration and planning from the cache, every notebook run")
        local = _digest(warm)
        if not args.skip_dask:
            from distributed import LocalCluster

            # the workers (started here) and the build use a cache of their own: nothing computed before
            os.environ["ALTO_CACHE_DIR"] = str(work / "cache-dask")
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
                secs, d = _build(panel, work / "dask", work / "cache-dask", {"DASK_SCHEDULER": c.scheduler_address})
            same = _digest(d) == local
            row("dask, cold", secs, f"LocalCluster, 2 workers; results files {'identical to' if same else 'DIFFER from'} local")
        if not args.skip_15:
            panel15 = _demo_panel(work / "city15", 12)
            secs, _ = _build(panel15, work / "r15", work / "cache15")
            row("15 sectors, cold", secs, "demo variant: 72 sectors, 15 treated")
        if not args.skip_cuadrante:
            panel_c = _demo_panel(work / "cityc", None, unit="cuadrante")
            secs, _ = _build(panel_c, work / "rc", work / "cachec")
            row("cuadrantes, cold", secs, "the demo city by its 864 cuadrantes (96 in the program), the unit's draws")
        speed_after = _host_speed(panel)
    OUT.mkdir(parents=True, exist_ok=True)
    speed = (f"the host's speed: {speed_before:.0f} ms a calibration run before the builds, {speed_after:.0f} ms "
             f"after ({IDLE_MS:.0f} ms on this VM when its host was quiet; times scale with it)")
    meta = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%d %H:%M"), "rows": rows,
            "host_ms_per_calibration_run": [round(speed_before, 1), round(speed_after, 1)]}
    (OUT / "build.json").write_text(json.dumps(meta, indent=2))
    lines = ["| build | seconds | goal | met | note |", "|---|---:|---:|---|---|"]
    for r in rows:
        goal = f"< {r['goal_seconds']:.0f}" if r["goal_seconds"] else ""
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['build']} | {r['seconds']:.1f} | {goal} | {met} | {r['note']} |")
    (OUT / "build.md").write_text(
        f"# `make report` times ({meta['when']}, {meta['machine']})\n\n" + "\n".join(lines) + f"\n\n{speed}.\n"
    )
    print("\n".join(lines))
    print(speed)
    print(f"written to {OUT / 'build.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
