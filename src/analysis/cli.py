"""The command line the Makefile calls: ``python -m analysis <command>``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from analysis.options import RunOptions
from analysis.paths import ROOT, repo_relative

RAW = ROOT / "data" / "raw"
PROCESSED = ROOT / "data" / "processed"
DEMO_RAW = ROOT / "data" / "demo" / "raw"


def _raw_incidents(raw: Path) -> list[Path]:
    d = raw / "incidents"
    return (
        sorted(p for p in d.glob("*") if p.is_file() and p.name != "README.md" and not p.name.startswith("."))
        if d.is_dir()
        else []
    )


def code_hash() -> str:
    """sha256 over the package's source and data tables: a panel built by other code is stale."""
    import hashlib

    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for f in sorted(pkg.rglob("*")):
        if f.is_file() and f.suffix in (".py", ".csv") and "__pycache__" not in f.parts:
            h.update(f.relative_to(pkg).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _fingerprint(kind: str, files: list[Path], options: dict) -> dict:
    """What determines the panel: every input file by name and content (so deletions and edits
    both count, whatever the file times say), the code, and the options."""
    from analysis.data.geography import sha256

    return {
        "kind": kind,
        "files": {repo_relative(f): sha256(f) for f in sorted(files)},
        "code": code_hash(),
        "options": options,
    }


def _up_to_date(out: Path, fingerprint: dict) -> bool:
    """True when ``out`` holds a panel built from exactly these inputs, code and options, and its
    files are the ones the audit describes."""
    from analysis.data.geography import sha256

    audit = out / "audit.json"
    try:
        a = json.loads(audit.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if a.get("fingerprint") != fingerprint:
        return False
    recorded = a.get("outputs_sha256") or {}
    return bool(recorded) and all((out / n).exists() and sha256(out / n) == h for n, h in recorded.items())


def cmd_data(args) -> int:
    """Build data/processed from data/raw, or from the demo city when data/raw has no incidents.

    Nothing is rebuilt when the inputs (names and contents), the code and the options are those
    the existing panel was built from; anything else (a file added, edited or deleted) rebuilds it.
    """
    from analysis.data import demo
    from analysis.data.panel import build_panel
    from analysis.periods import latest_complete_quarter

    raw = Path(args.raw)
    unit = getattr(args, "unit", "sector")
    # each unit's panel in a folder of its own: building one never replaces the other
    out = Path(args.out) if args.out else (PROCESSED if unit == "sector" else PROCESSED / unit)
    incidents = _raw_incidents(raw)
    meta = None
    cuadrantes = None
    if incidents:
        geos = sorted((raw / "geography").glob("*.geojson"))
        sector_files = [g for g in geos if not _is_cuadrante_file(g)]
        cuad_files = [g for g in geos if _is_cuadrante_file(g)]
        if len(sector_files) != 1 or len(cuad_files) > 1:
            print(
                f"error: {raw / 'geography'} must hold exactly one sector .geojson and at most one cuadrante "
                f".geojson (found {len(sector_files)} and {len(cuad_files)})",
                file=sys.stderr,
            )
            return 2
        geo, rollout = sector_files[0], raw / "program" / "rollout.csv"
        cuadrantes = cuad_files[0] if cuad_files else None
        if not rollout.exists():
            print(f"error: {rollout} is missing (sector, component, start[, end])", file=sys.stderr)
            return 2
        if unit == "cuadrante" and cuadrantes is None:
            print(
                f"error: a panel by cuadrante needs the cuadrante polygons: a .geojson in {raw / 'geography'} whose "
                "features have 'cuadrante' and 'sector' properties",
                file=sys.stderr,
            )
            return 2
        last = args.last_month
        fp = _fingerprint(
            "real",
            [*incidents, geo, rollout, *([cuadrantes] if cuadrantes else [])],
            {"last_month": last, **({"unit": unit} if unit != "sector" else {})},
        )
        if not args.force and _up_to_date(out, fp):
            print(f"Panel up to date: {out / 'panel.parquet'} was built from exactly these inputs and code")
            return 0
        print(f"Real data: {len(incidents)} incident file(s) in {raw / 'incidents'}")
    else:
        last = args.last_month or str(latest_complete_quarter().asfreq("M", "end"))
        fp = _fingerprint("demo", [], {"last_month": last, **({"unit": unit} if unit != "sector" else {})})
        if not args.force and _up_to_date(out, fp):
            print(f"Panel up to date: {out / 'panel.parquet'} (synthetic demo city to {last})")
            return 0
        meta = demo.write_demo_city(DEMO_RAW, last)
        incidents = _raw_incidents(DEMO_RAW)
        geo = DEMO_RAW / "geography" / "sectores_demo.geojson"
        rollout = DEMO_RAW / "program" / "rollout.csv"
        if unit == "cuadrante":
            cuadrantes = DEMO_RAW / "geography" / "cuadrantes_demo.geojson"
        print(
            f"No incident files in {raw / 'incidents'}: using the synthetic demo city ({demo.DEMO_LABEL}), "
            f"{meta['first_month']} to {meta['last_month']}"
        )
    b = build_panel(incidents, geo, rollout, cuadrantes_path=cuadrantes, last_month=last, unit=unit)
    if meta is not None:
        b.audit["demo"] = meta
    b.audit["fingerprint"] = fp
    files = b.write(out)
    a = b.audit
    print(f"Panel: {len(b.panel):,} {unit}-months ({b.panel.unit.nunique():,} {unit}s) -> {files['panel']}")
    print(
        f"Rows in {a['rows_in']:,} = used {a['rows_used']:,} + quarantined {a['rows_quarantined']:,} "
        f"({', '.join(f'{k} {v:,}' for k, v in a['quarantined_by_reason'].items()) or 'none'}) -> {files['quarantine']}"
    )
    for w in a.get("warnings", []):
        print(f"warning: {w}")
    return 0


def _is_cuadrante_file(path: Path) -> bool:
    """A GeoJSON whose features carry a 'cuadrante' property (read from the first feature)."""
    head = path.read_text(encoding="utf-8-sig", errors="replace")[:20000]
    return '"cuadrante"' in head


def cmd_panel(args) -> int:
    from analysis.data.panel import build_panel

    b = build_panel(
        args.incidents,
        args.geography,
        args.rollout,
        cuadrantes_path=args.cuadrantes,
        source=args.source,
        first_month=args.first_month,
        last_month=args.last_month,
        locate=args.locate,
        geography_version=args.geography_version,
        geography_valid_from=args.valid_from,
        geography_valid_to=args.valid_to,
        unit=args.unit,
    )
    files = b.write(args.out)
    a = b.audit
    print(
        f"rows in {a['rows_in']:,} = used {a['rows_used']:,} + quarantined {a['rows_quarantined']:,} "
        f"{json.dumps(a['quarantined_by_reason'])}"
    )
    for w in a["warnings"]:
        print(f"warning: {w}")
    print(json.dumps({k: str(v) for k, v in files.items()}))
    return 0


def _panel_unit(panel: Path) -> str:
    """The panel's units ('sector' or 'cuadrante'), from the audit written beside it."""
    try:
        return str(json.loads(panel.with_name("audit.json").read_text()).get("unit", "sector"))
    except (OSError, json.JSONDecodeError):
        return "sector"


def _panel_and_quarter(args) -> tuple[Path, str] | None:
    """The panel of ``--panel`` and the quarter of ``--quarter`` (default: the latest complete
    quarter the panel covers, as `make report`); None, with the error printed, when the panel
    is missing."""
    from analysis.periods import latest_reportable_quarter, quarter_label

    panel = Path(args.panel)
    if not panel.exists():
        print(f"error: {panel} does not exist; run `make data` first", file=sys.stderr)
        return None
    if args.quarter:
        return panel, args.quarter
    import pandas as pd

    return panel, quarter_label(latest_reportable_quarter(pd.read_parquet(panel, columns=["period"]).period.max()))


def cmd_report(args) -> int:
    from analysis.periods import QuarterError
    from analysis.report.build import BuildOptions, OptionError, ReportError, build_report

    found = _panel_and_quarter(args)
    if found is None:
        return 2
    panel, quarter = found
    from dataclasses import fields

    try:
        opts = BuildOptions(
            run=RunOptions.for_unit(_panel_unit(panel), **{f.name: getattr(args, f.name) for f in fields(RunOptions)}),
            languages=tuple(args.lang.replace(",", " ").split()),
            edition=args.edition,
            formats=tuple(dict.fromkeys(("html", "pdf", *args.formats.replace(",", " ").split()))),
            sectors=args.sectors.replace(",", " ").split() or None,
            force=args.force,
            workers=args.workers,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t = time.perf_counter()
    try:
        m = build_report(quarter, panel, args.reports, opts)
    except (QuarterError, OptionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ReportError as e:
        print(f"error: report for {quarter} not built; the previous one (if any) is unchanged.\n{e}", file=sys.stderr)
        return 1
    out = Path(m["path"])
    if m.get("up_to_date"):
        print(f"Report {m['quarter']} is up to date ({time.perf_counter() - t:.1f} s): {out}")
        return 0
    print(f"Report {m['quarter']} ({m['data']} data, {m['edition']} edition) built in {time.perf_counter() - t:.1f} s:")
    for key, name in m["outputs"].items():
        if "_" in key and isinstance(name, str):  # html_en, pdf_es, brief_en, docx_es ...
            print(f"  {key.replace('_', ' '):9s} {out / name}")
    print(f"  notebooks, results and manifest.json in {out}")
    return 0


def cmd_sector(args) -> int:
    """One sector's notebook on its own -> reports/scratch/<YYYYQn>/sector_<id>/."""
    from analysis.periods import QuarterError
    from analysis.report.build import BuildOptions, OptionError, ReportError, build_sector

    found = _panel_and_quarter(args)
    if found is None:
        return 2
    panel, quarter = found
    from dataclasses import fields

    t = time.perf_counter()
    try:
        opts = BuildOptions(
            run=RunOptions.for_unit(_panel_unit(panel), **{f.name: getattr(args, f.name) for f in fields(RunOptions)}),
            languages=(args.lang,),
            force=args.force,
        )
        out = build_sector(quarter, args.sector, panel, args.reports, opts)
    except (QuarterError, OptionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Sector {args.sector}, {quarter}, in {time.perf_counter() - t:.1f} s:")
    for k in ("html", "notebook"):
        print(f"  {k:9s} {out[k]}")
    return 0


def cmd_validate(args) -> int:
    """The realistic-city validation study (``analysis.validation``) -> reports/validation/."""
    import platform

    from analysis import validation as v

    shared = Path(args.shared)
    if not (shared / "cuadrante_month_2013_2015.csv.gz").exists():
        print(
            f"error: {shared} lacks cuadrante_month_2013_2015.csv.gz: the study's cities are built from the "
            "real sector counts in ../shared (set --shared)",
            file=sys.stderr,
        )
        return 2
    t = time.perf_counter()
    rates = v.real_sector_rates(shared)
    scenarios = args.scenarios.split(",")
    methods = args.methods.split(",")

    def progress(done: int, total: int) -> None:
        print(f"  {done}/{total} cities ({time.perf_counter() - t:.0f} s)", flush=True)

    print(
        f"Validation: {args.cities} cities x {len(scenarios)} scenarios, methods {', '.join(methods)}, "
        f"{args.workers} worker(s)",
        flush=True,
    )
    runs = v.run(
        rates, n_cities=args.cities, scenarios=scenarios, methods=methods, workers=args.workers, progress=progress
    )
    secs = time.perf_counter() - t
    files = v.write(
        runs,
        args.out,
        {
            "cities_per_scenario": args.cities,
            "scenarios": scenarios,
            "methods": methods,
            "options": {m: v.METHODS[m] for m in methods},
            "seconds": round(secs, 1),
            "workers": args.workers,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        },
    )
    print(files["table"].read_text())
    print(f"Done in {secs / 60:.1f} min -> {files['summary']}")
    return 0


def cmd_latest_quarter(args) -> int:
    from analysis.periods import latest_complete_quarter, quarter_label

    print(quarter_label(latest_complete_quarter()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per step the Makefile runs, every option with its help."""
    ap = argparse.ArgumentParser(
        prog="python -m analysis",
        description="The evaluation workbook's commands (the Makefile calls them): build the panel, build a "
        "quarterly report, run the validation study.",
    )
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="data/raw (or the demo city) -> data/processed")
    p.add_argument("--raw", default=str(RAW), help="folder of the raw inputs (default: %(default)s)")
    p.add_argument(
        "--out", default=None, help=f"where the panel is written (default: {PROCESSED}, or {PROCESSED}/<unit>)"
    )
    p.add_argument("--last-month", default=None, help="last month of the study window (YYYY-MM)")
    p.add_argument("--force", action="store_true", help="rebuild even when the inputs have not changed")
    p.add_argument(
        "--unit",
        default="sector",
        choices=["sector", "cuadrante"],
        help="the panel's units: police sectors, or the cuadrantes of the cuadrante polygons (default: %(default)s)",
    )
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("panel", help="incident files -> panel.parquet, quarantine.csv, audit.json")
    p.add_argument("--incidents", nargs="+", required=True, help="incident or victim files (FGJ or SSC formats)")
    p.add_argument("--geography", required=True, help="sector polygons (GeoJSON with a 'sector' property)")
    p.add_argument("--rollout", default=None, help="the program's start month by sector (CSV)")
    p.add_argument(
        "--cuadrantes", default=None, help="cuadrante GeoJSON with a 'sector' property, to place records by id"
    )
    p.add_argument(
        "--source",
        default=None,
        choices=["fgj", "ssc", "ssc_counts"],
        help="the files' format (default: read from the header)",
    )
    p.add_argument("--locate", default="point", choices=["point", "id"], help="which location wins when both exist")
    p.add_argument("--first-month", default=None, help="first month of the panel (YYYY-MM)")
    p.add_argument("--last-month", default=None, help="last month of the panel (YYYY-MM)")
    p.add_argument("--geography-version", default=None, help="version name, when the file does not carry one")
    p.add_argument("--valid-from", default=None, help="first day the geography is valid (YYYY-MM-DD)")
    p.add_argument("--valid-to", default=None, help="last day the geography is valid (YYYY-MM-DD)")
    p.add_argument(
        "--unit",
        default="sector",
        choices=["sector", "cuadrante"],
        help="the panel's units (cuadrante: records placed in the polygons of --cuadrantes; default: %(default)s)",
    )
    p.add_argument("--out", required=True, help="folder for panel.parquet, quarantine.csv and audit.json")
    p.set_defaults(func=cmd_panel)

    p = sub.add_parser("report", help="build reports/<YYYYQn>/")
    p.add_argument("--quarter", default=None, help="YYYYQn (default: latest complete quarter the data cover)")
    p.add_argument(
        "--panel", default=str(PROCESSED / "panel.parquet"), help="the panel to report on (default: %(default)s)"
    )
    p.add_argument(
        "--reports", default=str(ROOT / "reports"), help="where reports/<YYYYQn>/ is written (default: %(default)s)"
    )
    p.add_argument("--lang", default="en es", help="languages of the editions: en, es or both (default: %(default)s)")
    p.add_argument(
        "--edition",
        default="public",
        choices=["public", "internal"],
        help="public (default: counts from 1 to 4 suppressed) or internal (shows them; CONFIDENTIAL, "
        "built in reports/<YYYYQn>-CONFIDENTIAL/)",
    )
    p.add_argument("--formats", default="", help="extra formats beside HTML and PDF: docx (Word, through pandoc)")
    p.add_argument(
        "--sectors",
        default="",
        help="the sectors whose pages are built, for example 'D62 D69' (default: every sector in the program "
        "by the quarter's end)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run every notebook and computation again, whatever the cache holds (make report FORCE=1)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local processes (default: ALTO_WORKERS, else the machine's cores; DASK_SCHEDULER=tcp://host:port "
        "sends the work to a Dask cluster instead)",
    )
    for flag, kw in RunOptions.cli_arguments():  # the run's options, defaults and help from one place
        p.add_argument(flag, **kw)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sector", help="run one sector's notebook on its own (reports/scratch/<YYYYQn>/)")
    p.add_argument("sector", help="the sector's id, as in the panel (for example D62)")
    p.add_argument("--quarter", default=None, help="YYYYQn (default: latest complete quarter the data cover)")
    p.add_argument(
        "--panel", default=str(PROCESSED / "panel.parquet"), help="the panel to report on (default: %(default)s)"
    )
    p.add_argument(
        "--reports", default=str(ROOT / "reports"), help="reports/scratch/ is written here (default: %(default)s)"
    )
    p.add_argument("--lang", default="en", choices=["en", "es"], help="language of the page (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="run the notebook again, whatever the cache holds")
    for flag, kw in RunOptions.cli_arguments():
        p.add_argument(flag, **kw)
    p.set_defaults(func=cmd_sector)

    p = sub.add_parser("validate", help="validation study on realistic simulated cities -> reports/validation/")
    p.add_argument("--cities", type=int, default=200, help="cities per scenario")
    p.add_argument(
        "--scenarios", default="zero,constant,cohort,growing", help="effect scenarios (default: %(default)s)"
    )
    p.add_argument("--methods", default="ppml,imputation,sdid,sc", help="methods compared (default: %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="processes (default: %(default)s)")
    p.add_argument(
        "--shared",
        default=str(ROOT.parent / "shared" / "data" / "cdmx-hoyodecrimen"),
        help="the real 2013-2016 sector counts the cities are built from (default: %(default)s)",
    )
    p.add_argument(
        "--out", default=str(ROOT / "reports" / "validation"), help="where the study is written (default: %(default)s)"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("latest-quarter", help="print the latest complete quarter")
    p.set_defaults(func=cmd_latest_quarter)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import signal

    # a terminated build unwinds like an interrupted one: it says where its partial files are
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    debug = bool(os.environ.get("ANALYSIS_DEBUG"))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2


def one_line(e: BaseException) -> str:
    """An error as the user should see it: the message (the first lines of it), with the kind of
    error only when it is not one of ours; ANALYSIS_DEBUG=1 shows the traceback instead."""
    from analysis.data.readers import InputError
    from analysis.periods import QuarterError

    msg = str(e).strip() or type(e).__name__
    if isinstance(e, (InputError, QuarterError)) or type(e).__name__ == "ReportError":
        return msg
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or msg}"
    return f"{type(e).__name__}: {msg} (set ANALYSIS_DEBUG=1 for the traceback)"
