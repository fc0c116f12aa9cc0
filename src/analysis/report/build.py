"""The quarterly build: each notebook in its own process, the render makes HTML and PDF, a
manifest records what went in.

Guarantees (each tested in tests/test_build.py):
- one build per quarter at a time: a lock file ``reports/.lock-<YYYYQn>`` held with ``flock``
  names its holder; a second build is refused with that name;
- the inputs (panel, audit, adjacency) are copied into the staging folder and hashed before any
  notebook runs, and every notebook reads that snapshot: a ``make data`` during the build cannot
  mix two panels, and the manifest's hashes are those of what was read;
- each notebook runs in a process of its own with its own working directory and absolute paths
  (``analysis.report.execute``); every expected results file must exist before anything is
  published;
- atomic: everything is built in ``reports/.staging-<YYYYQn>-<pid>`` and only a complete build
  replaces ``reports/<YYYYQn>/``. A failure leaves the previous report in place, moves the
  partial build to ``reports/.failed-<YYYYQn>`` and says so; a killed build's staging folder
  is named when it is interrupted and removed by the next build;
- published files hold no absolute machine path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from analysis import impact
from analysis.data.geography import sha256
from analysis.options import RunOptions
from analysis.paths import ROOT, repo_relative
from analysis.report import content
from analysis.report import jobs as jobs_mod
from analysis.report.history import panel_digest
from analysis.report.jobs import KEY_PACKAGES, NotebookJob
from analysis.report.render import ReportMeta, combine, render_brief, render_docx, render_html, render_pdf
from analysis.report.results_files import expected_results

NOTEBOOKS = ROOT / "notebooks"
#: the editions a build can make: the public one (default) suppresses counts from 1 to 4 and
#: anything that gives one away; the internal one shows them and is marked CONFIDENTIAL
EDITIONS = ("public", "internal")
#: output formats: HTML and PDF by default; Word (docx) for partners who edit text, on request
FORMATS = ("html", "pdf", "docx")
DEFAULT_FORMATS = ("html", "pdf")
#: files of data/processed a build reads; each is copied into the snapshot
SNAPSHOT_FILES = ("panel.parquet", "audit.json", "adjacency.csv")
#: the cost parameters (config/cost.toml), copied into the snapshot and hashed like the data
COST_CONFIG = ROOT / "config" / "cost.toml"
#: the cover and metadata (title, authors, contact, version), read by the render
COVER_CONFIG = ROOT / "config" / "report.toml"


class ReportError(RuntimeError):
    """A report step failed; the message names the step (notebook and cell, file) that failed."""


class OptionError(ReportError):
    """An option the data cannot serve (an outcome the sources do not give); nothing is kept."""


@dataclass
class BuildOptions:
    """How to build: what to compute (``run``, the options every entry point shares) and where."""

    run: RunOptions = field(default_factory=RunOptions)
    sectors: list[str] | None = None  # default: every sector treated by the quarter's end
    workers: int | None = None  # local processes (default: ALTO_WORKERS, else the machine's cores)
    force: bool = False  # run every notebook, whatever the cache holds (`make report FORCE=1`)
    executor: object = None  # an analysis.executor (default: Dask when DASK_SCHEDULER is set, else local)
    progress: bool | None = None  # a progress bar over the notebooks (default: when the terminal shows one)
    languages: tuple[str, ...] = ("en", "es")  # one edition per language, from the same run
    edition: str = "public"  # or "internal" (counts 1-4 shown; CONFIDENTIAL; never by default)
    formats: tuple[str, ...] = DEFAULT_FORMATS

    def __post_init__(self) -> None:
        from analysis.report.i18n import check_language

        for lang in self.languages:
            check_language(lang)
        if self.edition not in EDITIONS:
            raise ValueError(f"edition {self.edition!r} is not available: use one of {', '.join(EDITIONS)}")
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise ValueError(f"format {bad[0]!r} is not available: use any of {', '.join(FORMATS)}")

    @property
    def folder(self) -> str:
        """The report folder's suffix: the internal edition never replaces the public report."""
        return "-CONFIDENTIAL" if self.edition == "internal" else ""


def _say(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stderr)  # above a progress bar, when one is shown


# -- one build per quarter -------------------------------------------------------------------
class BuildLock:
    """An exclusive ``flock`` on ``reports/.lock-<label>``; the file names the holder.

    The operating system releases the lock when the holder dies, however it dies, so a killed
    build never blocks the next one.
    """

    def __init__(self, reports_dir: Path, label: str):
        self.path = reports_dir / f".lock-{label}"
        self.label = label
        self._fd: int | None = None

    def __enter__(self) -> BuildLock:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ReportError(f"cannot create the build lock {repo_relative(self.path)}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown holder"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise ReportError(
                    f"another build of {self.label} is running ({holder}); wait for it to finish "
                    f"or stop it, then try again"
                ) from None
            raise
        holder = (
            f"pid {os.getpid()} on {socket.gethostname()}, user {os.environ.get('USER', '?')}, "
            f"started {dt.datetime.now().isoformat(timespec='seconds')}"
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


# -- inputs ------------------------------------------------------------------------------------
def snapshot_inputs(panel_path: Path, dest: Path, tries: int = 3) -> dict[str, str]:
    """Copy the panel and the files written beside it into ``dest`` and return their sha256.

    The panel step records the hashes of the panel and adjacency it wrote in ``audit.json``
    (written last); a copy whose hashes disagree with its audit was taken while ``make data``
    was replacing the files, and is taken again.
    """
    dest.mkdir(parents=True, exist_ok=True)
    src = {n: panel_path.with_name(n) for n in SNAPSHOT_FILES}
    src["panel.parquet"] = panel_path
    for f in src.values():
        if not f.exists():
            raise ReportError(f"{repo_relative(f)} does not exist; run `make data` first")
    for _ in range(tries):
        for name in ("audit.json", "panel.parquet", "adjacency.csv"):
            shutil.copyfile(src[name], dest / name)
        hashes = {n: sha256(dest / n) for n in SNAPSHOT_FILES}
        try:
            recorded = json.loads((dest / "audit.json").read_text()).get("outputs_sha256")
        except json.JSONDecodeError:
            recorded = None
        if recorded is None:
            raise ReportError(
                f"{repo_relative(src['audit.json'])} records no hashes of the panel it describes "
                "(written by an older version): run `make data` again"
            )
        if all(recorded.get(n) == hashes[n] for n in ("panel.parquet", "adjacency.csv")):
            return hashes
        time.sleep(0.5)
    raise ReportError(
        f"{repo_relative(panel_path.parent)} kept changing while the build read it (is `make data` "
        "running?); the panel, audit and adjacency files do not belong together: try again"
    )


# -- notebooks: analysis.report.jobs (each a process of its own, run by analysis.executor) ----


def _git_commit() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return rev + ("+uncommitted-changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _versions() -> dict:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for p in KEY_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def _clean_stale(reports_dir: Path, label: str) -> None:
    """Remove staging folders left by builds of this quarter that were killed (we hold the lock,
    so no build is using them)."""
    for old in sorted(reports_dir.glob(f".staging-{label}-*")) + sorted(reports_dir.glob(f".old-{label}-*")):
        shutil.rmtree(old, ignore_errors=True)
        _say(f"removed {repo_relative(old)}, left by an earlier build of {label} that did not finish")


def build_report(
    quarter: str,
    panel_path: Path | str,
    reports_dir: Path | str = ROOT / "reports",
    options: BuildOptions | None = None,
    today: dt.date | None = None,
) -> dict:
    """Build ``reports/<YYYYQn>/`` and return the manifest.

    Raises
    ------
    analysis.periods.QuarterError
        For a malformed, incomplete or uncovered quarter (before anything is published).
    ReportError
        When a step fails (a notebook, a missing results file, the lock, the final swap); the
        previous report is left untouched and the message says where the partial build is.
    """
    from analysis.periods import QuarterError, parse_quarter, quarter_label

    opt = options or BuildOptions()
    label = quarter_label(parse_quarter(quarter))  # malformed quarters fail before anything is written
    panel_path = Path(panel_path).resolve()
    reports_dir = Path(reports_dir).resolve()
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot create {repo_relative(reports_dir)}: {e.strerror}") from None
    if not os.access(reports_dir, os.W_OK | os.X_OK):
        raise ReportError(f"{repo_relative(reports_dir)} is not writable: the report cannot be built there")
    folder = label + opt.folder
    with BuildLock(reports_dir, folder):
        _clean_stale(reports_dir, folder)
        staging = reports_dir / f".staging-{folder}-{os.getpid()}"
        try:
            return _build(label, panel_path, reports_dir, staging, opt, today)
        except (QuarterError, OptionError):
            shutil.rmtree(staging, ignore_errors=True)  # nothing was built: nothing to keep
            raise
        except KeyboardInterrupt:
            _say(f"build interrupted: the partial build is at {repo_relative(staging)} (the next build removes it)")
            raise
        except ReportError as e:
            if "the finished build is at" in str(e):
                raise  # a complete build that could not be swapped in stays where the message says
            raise ReportError(_fail(reports_dir, folder, staging, str(e))) from None
        except Exception as e:  # anything else: still say where the partial build is
            if staging.exists():
                _fail(reports_dir, folder, staging, "")
                raise ReportError(
                    f"{type(e).__name__}: {e} (partial build moved to "
                    f"{repo_relative(reports_dir / f'.failed-{folder}')})"
                ) from e
            raise


def _fail(reports_dir: Path, label: str, staging: Path, msg: str) -> str:
    """Move a failed staging folder to ``.failed-<label>`` and return the message naming it."""
    if not staging.exists():
        return msg
    failed = reports_dir / f".failed-{label}"
    try:
        if failed.exists():
            shutil.rmtree(failed)
        staging.rename(failed)
    except OSError:
        return f"{msg}\nthe partial build is at {repo_relative(staging)} (the next build removes it)"
    msg = msg.replace(str(staging), str(failed)).replace(repo_relative(staging), repo_relative(failed))
    return msg + f"\nthe partial build is at {repo_relative(failed)}"


@dataclass
class Stage:
    """A staged build: the snapshot of the inputs, the reporting context and the notebook jobs."""

    label: str
    staging: Path
    snapshot: Path
    hashes: dict[str, str]
    ctx: content.Context
    outcome: str
    sectors: list[str]
    parameters: dict  # what every notebook gets: quarter, outcome, paths, seed
    jobs: list[NotebookJob]  # run side by side
    after: list[NotebookJob] = field(default_factory=list)  # read the results of jobs above (their ``reads``)
    workers: int | None = None
    progress: bool | None = None
    keys: dict[str, str] = field(default_factory=dict)  # each notebook's cache key
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)  # each notebook's results files
    #: notebooks finish in threads of their own (``execute``): what they write here takes turns
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    timings: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # what the build said, kept in build.log

    def step(self, name: str, seconds: float, note: str = "") -> None:
        """Record a step's time and say it: one line per step, on the terminal and in build.log."""
        line = f"{name}: {seconds:.1f} s" + (f" ({note})" if note else "")
        with self.lock:
            self.timings[name] = seconds
            self.log.append(line)
            _say("  " + line)


def stage(label: str, panel_path: Path, staging: Path, opt: BuildOptions, today: dt.date | None = None) -> Stage:
    """Step 1: the staging folder, a hashed snapshot of the inputs, the checked options and the
    notebook jobs (raises ``OptionError`` for an outcome the sources do not give)."""
    snap = staging / "_inputs"
    staging.mkdir(parents=True)
    hashes = snapshot_inputs(panel_path, snap)
    ctx = content.load_context(snap / "panel.parquet", label, today=today)  # validates the quarter
    (staging / "notebooks").mkdir()
    (staging / "results").mkdir()
    outcome = opt.run.outcome or content.default_outcome(ctx)
    try:
        content.check_outcome(ctx, outcome)
    except ValueError as e:
        raise OptionError(str(e)) from None
    if opt.run.method not in content.headline_methods():
        raise OptionError(
            f"method {opt.run.method!r} is not available; the methods are: {', '.join(content.headline_methods())}"
        )
    # every path relative to the build's notebooks/ folder: the same wherever a notebook runs
    common = {
        "quarter": label,
        "outcome": outcome,
        "panel_path": "../_inputs/panel.parquet",
        "results_dir": "../results",
        "languages": " ".join(opt.languages),
        "edition": opt.edition,
    }
    if opt.sectors is not None:
        try:
            for s in opt.sectors:
                content.check_parameters(ctx, outcome, sector=s)
        except ValueError as e:
            raise OptionError(str(e)) from None
    # every sector in the program gets its page; a panel by cuadrante (about 100 in the program)
    # gets none unless asked for (SECTORS=...): a research run, not the quarterly deliverable
    by_sector = content.panel_unit(ctx) == "sector"
    sectors = list(opt.sectors) if opt.sectors is not None else (ctx.treated_sectors if by_sector else [])
    extra = _snapshot_program_files(ctx, snap, hashes)
    inputs = {f"_inputs/{n}": snap / n for n in sorted(hashes)}
    maps = {"geography_path": "../_inputs/sectors.geojson" if "geography" in extra else ""}
    program = {
        **common,
        **opt.run.notebook_parameters("program"),
        # earlier reports live beside the build's folder: from its notebooks/, two levels up
        "reports_dir": "../..",
        "activities_path": "../_inputs/activities.csv" if "activities" in extra else "",
        "cost_config": "../_inputs/cost.toml",
        **maps,
    }
    jobs = [
        NotebookJob("program", "program", program, {**inputs, **_earlier_reports(staging, label)}),
        NotebookJob("checks", "checks", {**common, **opt.run.notebook_parameters("checks")}, dict(inputs)),
    ]
    jobs += [
        NotebookJob(
            "sector",
            f"sector_{content.file_stem(s)}",
            {**common, "sector": s, **maps, **opt.run.notebook_parameters("sector")},
            dict(inputs),
            view=sector_view(ctx, s, outcome),
            viewed=("_inputs/panel.parquet", "_inputs/audit.json"),
        )
        for s in sectors
    ]
    pages = tuple(j.stem for j in jobs if j.notebook == "sector")
    after = [
        # the sectors' summary: the sector pages' results and the program's headline
        NotebookJob(
            "sectors",
            "sectors",
            {**common, **maps, **opt.run.notebook_parameters("sectors")},
            dict(inputs),
            reads=("program", *pages),
        ),
        # the brief: the program's results (trend, pretrends, quarters, headline) and the checks'
        # (spillover)
        NotebookJob("brief", "brief", {**common, **maps}, dict(inputs), reads=("program", "checks")),
    ]
    return Stage(
        label=label,
        staging=staging,
        snapshot=snap,
        hashes=hashes,
        ctx=ctx,
        outcome=outcome,
        sectors=sectors,
        parameters=common,
        jobs=jobs,
        after=after,
        workers=opt.workers,
        progress=opt.progress if opt.progress is not None else sys.stderr.isatty(),
    )


#: what a sector's page reads from the audit (the rest, such as the rollout file's hash, changes
#: with other sectors' starts and does not enter its numbers)
SECTOR_AUDIT = ("demo", "outcomes", "inputs")


def sector_view(ctx: content.Context, sector: str, outcome: str) -> dict:
    """What a sector's page depends on, instead of the whole panel: its own rows and those of the
    sectors never in the program (``impact.for_unit``), whether its estimate is suppressed
    (which depends on the other sectors: ``content.hidden_reason``), and what it reads of the
    audit. Another sector's start changes none of these, so its page is read from the cache;
    tests/test_build.py re-runs the notebook to check that the page is then indeed the same."""
    from analysis.cache import frame_hash

    rows = impact.for_unit(ctx.panel, sector) if sector in set(ctx.panel.unit) else ctx.panel.iloc[:0]
    return {
        "rows": frame_hash(rows.reset_index(drop=True)),
        "hidden": content.hidden_reason(ctx, outcome, sector) if sector in ctx.treated_sectors else None,
        "treated": sorted(ctx.treated_sectors) if sector not in ctx.treated_sectors else True,
        # the input files by name and content, not by the folder they were read from
        "audit": {
            k: [{**i, "file": Path(i["file"]).name} if "file" in i else i for i in v] if k == "inputs" and v else v
            for k, v in ((k, ctx.audit.get(k)) for k in SECTOR_AUDIT)
        },
        "quarter": ctx.label,
    }


def _earlier_reports(staging: Path, label: str) -> dict[str, Path]:
    """The files of earlier quarters' reports the program notebook compares with (beside the
    build's folder: ``../<YYYYQn>/manifest.json`` and its headline)."""
    from analysis.periods import parse_quarter

    out: dict[str, Path] = {}
    current = parse_quarter(label)
    for d in sorted(staging.parent.iterdir()):
        try:
            q = parse_quarter(d.name)
        except Exception:
            continue
        if q < current and (d / "manifest.json").is_file() and (d / "results" / "program.csv").is_file():
            out[f"../{d.name}/manifest.json"] = d / "manifest.json"
            out[f"../{d.name}/results/program.csv"] = d / "results" / "program.csv"
    return out


def _snapshot_program_files(ctx: content.Context, snap: Path, hashes: dict[str, str]) -> dict[str, str]:
    """Copy the activities file (beside the rollout, when there is one) and the cost parameters
    into the snapshot and hash them: the notebooks read these copies, the manifest records them."""
    out = {}
    rollout = (ctx.audit.get("rollout") or {}).get("file")
    acts = Path(rollout).with_name("activities.csv") if rollout else None
    if acts is not None and acts.exists():
        shutil.copyfile(acts, snap / "activities.csv")
        hashes["activities.csv"] = sha256(snap / "activities.csv")
        out["activities"] = str(snap / "activities.csv")
    if not COST_CONFIG.exists():
        raise ReportError(f"{repo_relative(COST_CONFIG)} does not exist: the cost parameters are needed")
    shutil.copyfile(COST_CONFIG, snap / "cost.toml")
    hashes["cost.toml"] = sha256(snap / "cost.toml")
    out["cost"] = str(snap / "cost.toml")
    # the sector polygons the panel was built from (maps): the copy must be the file the audit hashed
    geo = ctx.audit.get("geography") or {}
    if geo.get("file") and Path(geo["file"]).exists():
        shutil.copyfile(geo["file"], snap / "sectors.geojson")
        h = sha256(snap / "sectors.geojson")
        if geo.get("sha256") and h != geo["sha256"]:
            raise ReportError(
                f"{repo_relative(Path(geo['file']))} changed since the panel was built from it: run `make data` again"
            )
        hashes["sectors.geojson"] = h
        out["geography"] = str(snap / "sectors.geojson")
    return out


def execute(st: Stage, executor=None, force: bool = False) -> list[Path]:
    """Step 2: every notebook, through the executor (``analysis.executor``: local processes, or
    the Dask cluster of ``DASK_SCHEDULER``); a notebook whose key (``NotebookJob.key``) is in
    the cache is read from it instead (``force``: run them all).

    A notebook that reads others' results (``NotebookJob.reads``: the sectors' summary reads the
    sector pages and the program's, the brief the program's and the checks') starts as soon as
    those are written, with exactly those files as inputs, and before any notebook still
    waiting: the brief runs while the sector pages are still being made. At most as many
    notebooks run at once as the executor has workers. One failing or an interruption stops
    the others. The notebooks are returned in the report's order, whatever order they ran in."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    from analysis import executor as executors

    ex = executor or executors.get(st.workers)
    code = jobs_mod.code_version()
    order = [*st.jobs, *st.after]
    names = {j.stem for j in order}
    for j in order:
        missing = sorted(set(j.reads) - names)
        if missing:
            raise ReportError(
                f"notebook {j.stem} reads the results of {', '.join(missing)}, which this build does not run"
            )
    waiting, finished = list(order), set[str]()
    running: dict[Future, NotebookJob] = {}
    slots = max(1, ex.workers)
    bar = executors.progress(len(order), "notebooks", st.progress)
    pool = ThreadPoolExecutor(max_workers=slots)
    jobs_mod.allow()
    try:
        while waiting or running:
            ready = [j for j in waiting if set(j.reads) <= finished]
            ready.sort(key=lambda j: not j.reads)  # stable: the readers first, then in order
            for j in ready[: max(0, slots - len(running))]:
                for stem in j.reads:
                    j.inputs.update({f"results/{n}": st.staging / "results" / n for n in st.written.get(stem, ())})
                waiting.remove(j)
                running[pool.submit(_run_jobs, st, [j], ex, code, force, show=False, stop_others=False)] = j
            if not running:  # nothing can start: the notebooks read each other's results
                raise ReportError(f"notebooks {', '.join(j.stem for j in waiting)} read each other's results")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            # the first failures, before anything is stopped: a notebook killed because another
            # failed is never the one reported
            failed = [e for f in done if (e := f.exception()) is not None]
            if failed:
                raise failed[0]
            for f in done:
                finished.add(running.pop(f).stem)
                bar.update(1)
    except BaseException:
        jobs_mod.stop_all()  # one notebook failed, or the build was interrupted: stop the others now
        getattr(ex, "cancel_all", lambda: None)()  # on Dask: the notebooks sent and not yet done
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown()
    return [st.staging / "notebooks" / f"{j.stem}.ipynb" for j in order]


def _run_jobs(
    st: Stage,
    batch: list[NotebookJob],
    ex,
    code: str,
    force: bool,
    show: bool | None = None,
    stop_others: bool = True,
) -> list[Path]:
    """Run (or read from the cache) the notebooks of ``batch``; a failure raises ``ReportError``
    and, with ``stop_others``, stops every notebook this machine runs (``execute`` stops them
    itself, once it has seen which notebook failed first)."""
    from analysis import cache

    keys = {j.stem: j.key(code) for j in batch}
    st.keys.update(keys)
    stored: dict[str, dict] = {}
    for j in batch:
        value, hit = (None, False) if force else cache.load(f"notebook-{j.stem}", keys[j.stem])
        if hit and value is not None:
            stored[j.stem] = value
    todo = [j for j in batch if j.stem not in stored]
    by_stem = {j.stem: j for j in batch}
    for got in stored.values():
        _materialize(st, got)
    if stored:
        st.step(f"cache: {len(stored)} notebook(s)", 0.0, ", ".join(stored))

    env = {"DASK_SCHEDULER": ex.address} if getattr(ex, "name", "") == "dask" else {}
    if force:
        env["ALTO_CACHE_FORCE"] = "1"

    def done(_job: NotebookJob, out: dict) -> None:
        _materialize(st, out)
        if out["error"] is not None:
            raise ReportError(_job_error(st, out))
        cache.store(f"notebook-{out['stem']}", keys[out["stem"]], out)
        where = "" if ex.name == "local" else f"on {ex.name}"
        st.step(f"notebook {out['stem']}", out["seconds"], where)

    try:
        ex.map(
            _run_payload,
            [j.payload(env) for j in todo],
            desc="notebooks",
            threads=True,
            show=st.progress if show is None else show,
            callback=lambda payload, out: done(by_stem[payload["stem"]], out),
        )
    except BaseException:
        if stop_others:
            jobs_mod.stop_all()  # one notebook failed, or the build was interrupted: stop the others now
        raise
    return [st.staging / "notebooks" / f"{j.stem}.ipynb" for j in batch]


def _run_payload(payload: dict) -> dict:
    return jobs_mod.run(payload)


def _materialize(st: Stage, out: dict) -> None:
    """Write a job's executed notebook and results files into the staging folder."""
    with st.lock:
        st.written[out["stem"]] = tuple(sorted(out["results"]))
        if out["notebook"] is not None:
            (st.staging / "notebooks" / f"{out['stem']}.ipynb").write_bytes(out["notebook"])
        for name, data in out["results"].items():
            path = st.staging / "results" / name
            if path.exists() and path.read_bytes() != data:
                raise ReportError(f"notebooks {out['stem']} and another both wrote results/{name}")
            path.write_bytes(data)


def _job_error(st: Stage, out: dict) -> str:
    e = out["error"]
    nb = st.staging / "notebooks" / f"{out['stem']}.ipynb"
    if "ename" in e:
        return (
            f"notebook {out['stem']} failed in cell {e['exec_count']} (index {e['cell_index']}): "
            f"{e['ename']}: {e['evalue']}\nthe partial notebook with the traceback is at {nb}"
        )
    return f"notebook {out['stem']} could not be run (exit status {e['status']}): {e['stderr']}"


def check_outputs(st: Stage) -> None:
    """Step 3: every expected results file exists, and nothing in them lets a reader work out a
    count from 1 to 4 (the last line of defence of the disclosure rules)."""
    from analysis.report import disclosure

    missing = [f for f in expected_results(st.sectors) if not (st.staging / "results" / f).exists()]
    if missing:
        raise ReportError(
            f"the notebooks ran but did not write {', '.join(missing)} in results/: nothing was published"
        )
    if st.parameters.get("edition") == "internal":
        return  # the internal edition shows small counts on purpose (CONFIDENTIAL, never published)
    _, table_cells, table_hide = content.sector_table_cells(st.ctx, st.outcome)
    shown = [c for c in table_cells if c.label not in table_hide]
    stems = {s: content.file_stem(s) for s in st.sectors}
    leaks = disclosure.check_published(st.staging / "results", st.ctx.panel, st.sectors, stems, shown)
    if leaks:
        raise ReportError(
            "disclosure check failed, nothing was published: a reader could work out a count "
            f"from 1 to 4 from the results files and tables ({'; '.join(leaks[:3])})"
        )


def render(st: Stage, executed: list[Path], built: str, opt: BuildOptions | None = None) -> dict[str, str]:
    """Step 4: the executed notebooks, combined, rendered in each language to HTML and PDF (and
    Word on request), and each language's two-page brief."""
    from analysis.report.cover import citation, cover_lines, cutoff_date, load_cover
    from analysis.report.i18n import _, use

    opt = opt or BuildOptions()
    ctx = st.ctx
    try:
        cover = load_cover(COVER_CONFIG)
    except ValueError as e:
        raise ReportError(str(e)) from None
    cutoff = cutoff_date(cover, ctx.audit.get("extracts") or [])
    by_stem = {p.stem: p for p in executed}
    body = [by_stem[s] for s in ("program", "sectors", "checks") if s in by_stem]
    pages = [p for p in executed if p.stem.startswith("sector_")]
    internal = opt.edition == "internal"
    outputs: dict[str, str] = {}
    for lang in opt.languages:
        with use(lang):
            demo = _(content.DEMO_LABEL) if ctx.is_demo else None
            confidential = (
                _("CONFIDENTIAL: internal edition, shows counts from 1 to 4; do not share") if internal else ""
            )
            appendix = _("Appendix: sector pages")
            sources = _("Appendix: where each figure and table comes from")
            meta = ReportMeta(
                title=cover.title(lang),
                subtitle=cover.subtitle(lang),
                quarter=st.label,
                built=built,
                demo_label=demo,
                footer=(f"{demo} · " if demo else "") + _("Alto al Fuego evaluation workbook") + f" · {st.label}",
                lang=lang,
                cover=cover_lines(cover, lang, st.label, built, cutoff),
                citation=citation(cover, lang, st.label, int(built[:4])),
                confidential=confidential,
                contents=_("Contents"),
                skip=_("Skip to the contents"),
                contact_label=_("Contact"),
            )
            nb = combine(body + pages, headings={len(body): appendix} if pages else None, lang=lang)
            _append_sources(nb, sources)
        stem = f"alto-al-fuego_{st.label}" + ("_CONFIDENTIAL" if internal else "") + f"_{lang}"
        for fmt in opt.formats:
            t = time.perf_counter()
            path = st.staging / f"{stem}.{fmt}"
            if fmt == "html":
                render_html(nb, path, meta)
            elif fmt == "pdf":
                render_pdf(nb, path, meta, appendix=appendix)
            else:
                render_docx(nb, path, meta)
            st.step(f"render {fmt} {lang}", time.perf_counter() - t)
            outputs[f"{fmt}_{lang}"] = path.name
        if "brief" in by_stem:
            t = time.perf_counter()
            path = st.staging / f"{stem.replace(f'_{lang}', '')}_brief_{lang}.pdf"
            with use(lang):
                brief = combine([by_stem["brief"]], lang=lang)
                brief_meta = dataclasses.replace(meta, subtitle=_("Two-page brief") + " · " + meta.subtitle)
            render_brief(brief, path, brief_meta)
            st.step(f"render brief {lang}", time.perf_counter() - t)
            outputs[f"brief_{lang}"] = path.name
    # the first language's files under the old keys, for readers of older manifests
    first = opt.languages[0]
    for fmt in ("html", "pdf"):
        if f"{fmt}_{first}" in outputs:
            outputs[fmt] = outputs[f"{fmt}_{first}"]
    return outputs


def _append_sources(nb, heading: str) -> None:
    """The appendix that maps each figure and table to the notebook cell and the function behind
    it (no code path appears in the reader's text above it)."""
    import nbformat

    from analysis.report.i18n import _

    ex = nb.metadata.get("exhibits", [])
    if not ex:
        return
    figure_word, table_word = _("Figure"), _("Table")
    lines = [
        f"# {heading}",
        "",
        _(
            "Every number in this report is computed by the evaluation workbook's notebooks, which call tested "
            "functions. The table gives, for each figure and table, the executed notebook published with this "
            "report, the cell (counting from the top of the notebook) and the function that makes it."
        ),
        "",
        "| " + " | ".join((_("Exhibit"), _("Notebook"), _("Cell"), _("Function"))) + " |",
        "| :--- | :--- | ---: | :--- |",
    ]
    for e in ex:
        fn = f"`{e['source']}`" if e["source"] else ""
        word = figure_word if e["kind"] == "figure" else table_word
        lines.append(f"| {word} {e['number']} | notebooks/{e['notebook']}.ipynb | {e['cell']} | {fn} |")
    cell = nbformat.v4.new_markdown_cell("\n".join(lines))
    cell["id"] = f"cell-{len(nb.cells)}"
    nb.cells.append(cell)


def write_manifest(
    st: Stage,
    executed: list[Path],
    outputs: dict[str, str],
    opt: BuildOptions,
    panel_path: Path,
    built: str,
    build: str = "",
) -> dict:
    """Step 5: ``manifest.json``: what went in (hashes), with which options and code, what came out;
    then the snapshot of the panel is removed (it holds small counts: it is never published)."""
    ctx = st.ctx
    inputs = {
        f"data/processed/{n}" if panel_path.parent == ROOT / "data" / "processed" and n in SNAPSHOT_FILES else n: h
        for n, h in st.hashes.items()
        if n in SNAPSHOT_FILES
    }
    if "cost.toml" in st.hashes:
        inputs[repo_relative(COST_CONFIG, "name")] = st.hashes["cost.toml"]
    if COVER_CONFIG.exists():
        inputs[repo_relative(COVER_CONFIG, "name")] = sha256(COVER_CONFIG)
    rollout = (ctx.audit.get("rollout") or {}).get("file")
    if "activities.csv" in st.hashes and rollout:
        inputs[repo_relative(Path(rollout).with_name("activities.csv"), "name")] = st.hashes["activities.csv"]
    for f in ctx.audit.get("inputs") or []:
        inputs[repo_relative(f["file"], "name")] = f["sha256"]
    for key in ("geography", "cuadrantes", "rollout"):
        if (ctx.audit.get(key) or {}).get("file"):
            inputs[repo_relative(ctx.audit[key]["file"], "name")] = ctx.audit[key]["sha256"]
    run = {k: v for k, v in opt.run.as_dict().items() if k != "outcome"}
    manifest = {
        "quarter": st.label,
        "built": built,
        "data": "demo" if ctx.is_demo else "real",
        "demo": ctx.demo,
        "code_commit": _git_commit(),
        "inputs_sha256": inputs,
        "parameters": {
            **st.parameters,
            **run,
            "panel_path": "_inputs/panel.parquet (snapshot, removed after the build)",
            "results_dir": "results",
            "sectors": list(st.sectors),
        },
        "treated_sectors": ctx.treated_sectors,
        "edition": opt.edition,
        "languages": list(opt.languages),
        "extracts": ctx.audit.get("extracts") or [],
        "panel_digest": panel_digest(ctx.panel),
        "packages": _versions(),
        "timings_seconds": {k: round(v, 3) for k, v in st.timings.items()},
        # what the build came from (build_key): a build with the same key leaves this report as it is
        "build_key": build,
        "notebook_keys": st.keys,
        "outputs": {
            **outputs,
            "notebooks": [f"notebooks/{p.name}" for p in executed],
            "results": sorted(p.name for p in (st.staging / "results").iterdir()),
            # which notebook wrote each results file (the sectors' summary and the brief read
            # those of the notebooks they name: NotebookJob.reads)
            "written_by": {stem: list(names) for stem, names in sorted(st.written.items())},
        },
    }
    (st.staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    (st.staging / "build.log").write_text("\n".join(st.log) + "\n", encoding="utf-8")
    shutil.rmtree(st.snapshot)
    return manifest


def _build(
    label: str, panel_path: Path, reports_dir: Path, staging: Path, opt: BuildOptions, today: dt.date | None
) -> dict:
    """The steps in order: stage, execute, check, render, manifest, swap; a report built from the
    same inputs, parameters and code is left as it is."""
    t0 = time.perf_counter()
    st = stage(label, panel_path, staging, opt, today)
    st.step(
        "inputs",
        time.perf_counter() - t0,
        f"{len(st.hashes)} files snapshotted and hashed; {len(st.jobs) + len(st.after)} notebooks",
    )
    executed = execute(st, opt.executor, opt.force)
    key = build_key(st, opt)
    final = reports_dir / (label + opt.folder)
    existing = None if opt.force else _same_build(final, key)
    if existing is not None:
        shutil.rmtree(staging)
        _say(
            f"  {repo_relative(final)} is up to date: built {existing['built']} from the same inputs, "
            "parameters and code (make report FORCE=1 builds it again)"
        )
        return {**existing, "path": str(final), "up_to_date": True}
    t = time.perf_counter()
    check_outputs(st)
    st.step("check", time.perf_counter() - t, "every results file written; none gives away a count from 1 to 4")
    built = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    outputs = render(st, executed, built, opt)
    st.step("total", time.perf_counter() - t0)
    manifest = write_manifest(st, executed, outputs, opt, panel_path, built, key)
    manifest["path"] = str(publish(staging, final))
    return manifest


def build_key(st: Stage, opt: BuildOptions) -> str:
    """sha256 of what the published files come from: every notebook's key (inputs, parameters,
    code), the cover, the languages, edition and formats."""
    import hashlib

    parts = {
        "notebooks": st.keys,
        "cover": sha256(COVER_CONFIG) if COVER_CONFIG.exists() else None,
        "languages": list(opt.languages),
        "edition": opt.edition,
        "formats": list(opt.formats),
        "sectors": list(st.sectors),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _same_build(final: Path, key: str) -> dict | None:
    """The manifest of ``final`` when it was built with ``key`` and every file it lists is there."""
    try:
        manifest = json.loads((final / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("build_key") != key:
        return None
    out = manifest.get("outputs") or {}
    files = [v for k, v in out.items() if isinstance(v, str)]
    files += list(out.get("notebooks") or []) + [f"results/{r}" for r in out.get("results") or []]
    if not all((final / f).is_file() for f in files):
        return None
    return manifest


def publish(staging: Path, final: Path) -> Path:
    """Swap a finished build in: ``final`` is replaced by ``staging`` or, when the old report
    cannot be moved (a file open in another program, a folder it may not change), left as it
    was, with an error that says where the finished build is."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    try:
        if final.exists():
            final.rename(old)
        staging.rename(final)
    except OSError as e:
        if old.exists() and not final.exists():
            old.rename(final)
        raise ReportError(
            f"the report was built but could not replace {repo_relative(final)} ({e.strerror}); "
            f"the finished build is at {repo_relative(staging)}: close what holds the old report "
            "and move it in by hand, or build again"
        ) from None
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return final


def build_sector(
    quarter: str,
    sector: str,
    panel_path: Path | str,
    reports_dir: Path | str = ROOT / "reports",
    options: BuildOptions | None = None,
) -> dict[str, Path]:
    """One sector's page on its own (``make sector SECTOR=D62``): the sector notebook run as the
    build runs it (same inputs, parameters and cache), written with its results and an HTML page
    to ``reports/scratch/<YYYYQn>/sector_<id>/``. Not a deliverable: nothing is checked for
    publication there, and the quarterly report is left as it is."""
    from analysis.periods import parse_quarter, quarter_label
    from analysis.report.i18n import _, tr, use

    opt = dataclasses.replace(options or BuildOptions(), sectors=[sector])
    label = quarter_label(parse_quarter(quarter))
    out = Path(reports_dir).resolve() / "scratch" / label / f"sector_{content.file_stem(sector)}"
    staging = out.with_name(f".staging-{out.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        st = stage(label, Path(panel_path).resolve(), staging, opt)
        job = next(j for j in st.jobs if j.notebook == "sector")
        st.after = []
        from analysis import executor as executors

        jobs_mod.allow()
        [nb_path] = _run_jobs(st, [job], opt.executor or executors.get(opt.workers), jobs_mod.code_version(), opt.force)
        lang = opt.languages[0]
        with use(lang):
            nb = combine([nb_path], lang=lang)
            meta = ReportMeta(
                title=tr("Sector {sector}", sector=sector),
                subtitle=label,
                quarter=label,
                built=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
                demo_label=_(content.DEMO_LABEL) if st.ctx.is_demo else None,
                lang=lang,
            )
        render_html(nb, staging / f"sector_{content.file_stem(sector)}_{lang}.html", meta)
        shutil.rmtree(st.snapshot)  # the inputs hold small counts: never kept
        (staging / "build.log").write_text("\n".join(st.log) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "folder": out,
        "notebook": out / "notebooks" / nb_path.name,
        "html": out / f"sector_{content.file_stem(sector)}_{lang}.html",
    }
