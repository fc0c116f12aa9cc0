"""A notebook job: one notebook, its parameters and the files it reads, run wherever the executor
puts it (``analysis.executor``: a local process, or a Dask worker on another machine), and keyed
by what determines it so that a build reads an unchanged notebook's results from the cache.

The job carries the bytes of its input files and returns the executed notebook and the results
files it wrote: nothing depends on a folder shared with the machine that runs it. Every path in
its parameters is relative to the notebook's folder of a build (``../_inputs/panel.parquet``,
``../results``), so the executed notebook reads the same wherever it ran and publishes no
machine path.

The key (``NotebookJob.key``) is the sha256 of the notebook's text, its parameters, the sha256
of each input file (or, for a sector's page, of the part of the panel its numbers come from:
``view``), the source of ``src/analysis`` and the key packages' versions. A change to any of
them runs the notebook again; the cache never serves a result computed from other inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from analysis.paths import ROOT

NOTEBOOKS = ROOT / "notebooks"
#: the packages the numbers and pages come from: their versions are part of every notebook's key
#: and are recorded in the manifest
KEY_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "linearmodels",
    "synthdid-py",
    "matplotlib",
    "papermill",
    "nbconvert",
    "pypandoc-binary",
    "typst",
    "shapely",
    "pyarrow",
    "babel",
    "geopandas",
    "dask",
    "distributed",
)
#: the variables that set the BLAS libraries' threads
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: notebook processes running now on this machine, so that a failed or interrupted build can
#: stop them
RUNNING: set = set()  # subprocess.Popen, or multiprocessing's Process (both have kill())
#: set by ``stop_all``: a notebook not yet started when the build stopped is not started
STOP = threading.Event()
_FORK_LOCK = threading.Lock()


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def code_version() -> str:
    """sha256 of everything under src/analysis (code, catalogues, tables) and of the versions of
    the packages the numbers and the pages come from."""
    from importlib import metadata

    h = hashlib.sha256()
    src = ROOT / "src" / "analysis"
    for f in sorted(src.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".mo"):
            h.update(f.relative_to(src).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    for p in (*KEY_PACKAGES, "jupytext", "ipykernel"):
        try:
            h.update(f"{p}=={metadata.version(p)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{p} missing".encode())
    h.update(sys.version.encode())
    return h.hexdigest()


@dataclass
class NotebookJob:
    """One notebook of a build."""

    notebook: str  # its name in notebooks/ (program, checks, sector, sectors, brief)
    stem: str  # the executed notebook's name (sector_D62)
    parameters: dict  # Papermill parameters; paths relative to the build's notebooks/ folder
    #: path inside the build folder (``_inputs/panel.parquet``; ``../2026Q2/...`` for an earlier
    #: report beside it) -> the file on this machine
    inputs: dict[str, Path] = field(default_factory=dict)
    #: when the notebook's numbers depend on less than its input files (a sector's page: its own
    #: rows, the comparison sectors', its suppression), what they depend on; keyed instead of
    #: those files (``analysis.report.build.sector_view``)
    view: dict | None = None
    viewed: tuple[str, ...] = ()  # the input files the view stands for
    #: the notebooks (stems) whose results files this one reads: it runs after them, with those
    #: files among its inputs (``analysis.report.build.execute``)
    reads: tuple[str, ...] = ()

    def key(self, code: str) -> str:
        src = (NOTEBOOKS / f"{self.notebook}.py").read_bytes()
        files = {rel: file_hash(p) for rel, p in sorted(self.inputs.items()) if rel not in self.viewed}
        parts = {
            "notebook": hashlib.sha256(src).hexdigest(),
            "parameters": self.parameters,
            "files": files,
            "view": self.view,
            "code": code,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def payload(self, env: dict[str, str] | None = None) -> dict:
        """What is sent to the machine that runs it: plain bytes and strings."""
        return {
            "notebook": self.notebook,
            "source": (NOTEBOOKS / f"{self.notebook}.py").read_text(encoding="utf-8"),
            "stem": self.stem,
            "parameters": self.parameters,
            "files": {rel: Path(p).read_bytes() for rel, p in self.inputs.items()},
            "env": env or {},
        }


def _inside(base: Path, rel: str) -> Path:
    """``base / rel`` for a relative path that stays inside ``base``'s parent (``../`` reaches an
    earlier report beside the build folder, never further)."""
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or parts.count("..") > 1 or (parts.count("..") == 1 and parts[0] != ".."):
        raise ValueError(f"input path {rel!r} leaves the build's folder")
    return (base / rel).resolve()


def run(payload: dict) -> dict:
    """Run one job in a fresh folder of this machine and return the executed notebook (bytes),
    the results files it wrote (name -> bytes), its time and, when a cell failed, the error."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"alto-{payload['stem']}-") as tmp:
        base = Path(tmp) / "reports" / "build"
        for d in ("notebooks", "results", "_inputs"):
            (base / d).mkdir(parents=True)
        inputs = set()
        for rel, data in payload["files"].items():
            dest = _inside(base, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            inputs.add(dest)
        source = Path(tmp) / f"{payload['notebook']}.py"
        source.write_text(payload["source"], encoding="utf-8")
        out = base / "notebooks" / f"{payload['stem']}.ipynb"
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"notebook": str(source), "out": str(out), "parameters": payload["parameters"]}))
        # no progress bar in a published notebook; no autoreload (analysis.report.workbench); one
        # BLAS thread, as a Dask worker gives its processes: the numbers then do not depend on
        # where a notebook ran (with the machine's threads they differed in the 15th digit)
        env = {
            **os.environ,
            **payload.get("env", {}),
            "ALTO_PROGRESS": "0",
            "ALTO_BUILD": "1",
            **dict.fromkeys(BLAS_THREADS, "1"),
        }
        returncode, stderr = _execute(spec, base / "notebooks", env, Path(tmp))
        error = None
        err = Path(str(out) + ".error.json")
        if returncode == 3 and err.exists():
            error = json.loads(err.read_text())
        elif returncode != 0:
            error = {"status": returncode, "stderr": " | ".join(stderr.strip().splitlines()[-3:])}
        results = {
            p.name: p.read_bytes()
            for p in sorted((base / "results").iterdir())
            if p.is_file() and p.resolve() not in inputs
        }
        return {
            "stem": payload["stem"],
            "notebook": out.read_bytes() if out.exists() else None,
            "results": results,
            "error": error,
            "seconds": time.perf_counter() - t0,
        }


#: what the notebooks' process imports: loaded once by the fork server, not once per notebook
SERVER_MODULES = ["analysis.report.execute", "jupytext", "papermill", "nbformat", "nbclient"]


def _execute(spec: Path, cwd: Path, env: dict, tmp: Path) -> tuple[int, str]:
    """Run ``analysis.report.execute`` on ``spec`` in a process of its own started in ``cwd``
    with environment ``env``; its exit status and standard error.

    Locally the process is forked from a server that imported Papermill and Jupytext once
    (``multiprocessing``'s fork server, itself started clean): each notebook then saves the
    second of CPU that a new Python spends importing them, twelve times a build. A Dask worker's
    processes may not have children of their own through ``multiprocessing``, so there it is a
    new Python, as it was everywhere before."""
    import multiprocessing

    if multiprocessing.current_process().daemon or _on_dask_worker() or not _forkable():
        proc = subprocess.Popen(
            [sys.executable, "-m", "analysis.report.execute", str(spec)],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        RUNNING.add(proc)
        if STOP.is_set():  # stop_all ran while this one was starting
            proc.kill()
        seceded = _secede()  # on a Dask worker: free its slot for the work this notebook sends
        try:
            _, stderr = proc.communicate()
        finally:
            RUNNING.discard(proc)
            if seceded:
                from distributed import rejoin

                rejoin()
        return proc.returncode, stderr
    from multiprocessing.connection import wait

    from analysis.report import execute

    errors = tmp / "stderr.txt"
    forked = _server().Process(target=execute.forked, args=(str(spec), str(cwd), env, str(errors)), daemon=False)
    # starting a process reads the exit status of every other child that has ended, from the
    # same socket its own join reads: two threads reading one status gave 255 to the other
    # (a review showed it; 193 of 900). Starts and joins take turns; waiting does not.
    with _FORK_LOCK:
        if STOP.is_set():
            return -9, "stopped: another notebook failed or the build was interrupted"
        forked.start()
        RUNNING.add(forked)
    try:
        wait([forked.sentinel])
        with _FORK_LOCK:
            forked.join()
    finally:
        RUNNING.discard(forked)
    stderr = errors.read_text(encoding="utf-8", errors="replace") if errors.exists() else ""
    return int(forked.exitcode if forked.exitcode is not None else -9), stderr


def _forkable() -> bool:
    """Whether processes can be forked from the server without running this program's main
    module again: the fork server's children import it unless it is a package's ``__main__``
    (``python -m analysis``, ``python -m pytest``) or there is none (``python -c``, a Jupyter
    kernel). A script (``python build.py``) may have no ``if __name__ == "__main__"`` guard: its
    notebooks get a new Python each."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(main, "__file__", None) is None or (spec is not None and spec.name.endswith(".__main__"))


def _server():
    """The fork server's context. It lives as long as this process: in a long session a change
    to Papermill, Jupytext or ``analysis.report.execute`` is seen after a restart (the kernels,
    new Pythons, always run the current code)."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(SERVER_MODULES)
    return ctx


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _secede() -> bool:
    """On a Dask worker, leave its slot while this thread waits; whether it did."""
    if not _on_dask_worker():
        return False
    from distributed import secede

    secede()
    return True


def stop_all() -> None:
    """Kill the notebook processes this machine is running (a failed or interrupted build); a
    notebook about to start does not (``STOP``, until ``allow``)."""
    STOP.set()
    for p in list(RUNNING):
        p.kill()


def allow() -> None:
    """A new build: notebooks may start again after ``stop_all``."""
    STOP.clear()
