"""One executor for the expensive, independent pieces of work: the notebooks of a build, the
calibration's placebo runs, the planning table's power simulations.

- By default, local processes: ``ALTO_WORKERS`` of them (default: the machine's cores), each
  with one BLAS thread (two processes each running OpenBLAS's own threads on two cores ran the
  TWFE calibration 6 times slower).
- When ``DASK_SCHEDULER=tcp://host:port`` is set, a Dask cluster (``dask.distributed``): the same
  functions run on its workers; the numbers do not change, because every piece of work carries
  its own seed, drawn in order before anything is sent (a test compares the two paths).

A team starts a cluster on several machines with the project's environment on each (same
``pyproject.toml`` pins, the repository installed with ``pip install -e .``)::

    machine A$ .venv/bin/dask scheduler                 # prints tcp://A:8786
    machine B$ .venv/bin/dask worker tcp://A:8786 --nthreads 1 --nworkers 4
    any$ make report DASK_SCHEDULER=tcp://A:8786

A notebook run on a worker receives its input files with the task and sends back its results:
the workers need no shared folder.

Every ``map`` shows a progress bar on standard error (in the terminal, and in a notebook run in
JupyterLab); ``ALTO_PROGRESS=0`` turns the bars off (the build does so for the notebooks it
runs, so no bar is published).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """``ALTO_WORKERS`` when set, else the machine's cores."""
    env = os.environ.get("ALTO_WORKERS", "")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"ALTO_WORKERS={env!r} is not a whole number of processes") from None
        if n < 1:
            raise ValueError(f"ALTO_WORKERS={env!r}: at least one process is needed")
        return n
    return os.cpu_count() or 1


def progress_enabled() -> bool:
    return os.environ.get("ALTO_PROGRESS", "1") != "0"


def progress(total: int, desc: str, enabled: bool | None = None):
    """A progress bar on standard error (``tqdm``); a silent stand-in when bars are off."""
    from tqdm import tqdm

    on = progress_enabled() if enabled is None else enabled
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not on, mininterval=0.5, leave=True, unit="run")


def _one_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _apply_chunk(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # as in the local worker processes: the same numbers to the last bit
        return [fn(x) for x in chunk]


def _chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Executor:
    """What every executor does: ``map`` in order, with a progress bar and a callback as each
    chunk of work finishes; a backend only runs the chunks (``_run``)."""

    name = ""
    _workers = 1

    @property
    def workers(self) -> int:
        """Work that can run at once."""
        return self._workers

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        chunksize: int = 1,
        threads: bool = False,
        show: bool | None = None,
        callback: Callable[[T, R], None] | None = None,
    ) -> list[R]:
        """``[fn(x) for x in items]``, in order, spread over the workers in chunks of
        ``chunksize``; the first failure stops the rest and is raised. ``callback(x, fn(x))``
        runs here as each one finishes. ``threads``: work that starts processes of its own (a
        notebook), run in threads locally and one per worker slot on Dask."""
        items = list(items)
        chunks = _chunks(items, max(1, chunksize)) if items else []
        bar = progress(len(items), desc, show)

        def done(i: int, got: list, offset: int = 0) -> None:  # got: chunk i's results from ``offset`` on
            if callback is not None:
                for x, r in zip(chunks[i][offset : offset + len(got)], got, strict=True):
                    callback(x, r)
            bar.update(len(got))

        try:
            results = self._run(fn, chunks, threads, done)
        finally:
            bar.close()
        return [r for chunk in results for r in chunk]

    def _run(
        self, fn: Callable[[Any], Any], chunks: list[list[Any]], threads: bool, done: Callable[..., None]
    ) -> list[list[Any]]:
        """Each chunk's results, in order; ``done(i, results)`` as chunk i finishes."""
        raise NotImplementedError


class LocalExecutor(Executor):
    """Local processes (``threads=True``: threads, for work that starts processes of its own)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self._workers = workers if workers is not None else default_workers()

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def _run(
        self, fn: Callable[[Any], Any], chunks: list[list[Any]], threads: bool, done: Callable[..., None]
    ) -> list[list[Any]]:
        apply = _apply_thread if threads else _apply_chunk
        if self.workers <= 1 or sum(map(len, chunks)) <= 1:
            out: list[list[Any]] = []
            for i, c in enumerate(chunks):
                out.append([])
                for k, x in enumerate(c):  # one at a time, so the bar moves
                    got = apply(fn, [x])
                    done(i, got, k)
                    out[-1] += got
            return out
        pool: ThreadPoolExecutor | ProcessPoolExecutor
        if threads:
            pool = ThreadPoolExecutor(max_workers=self.workers)
        else:
            pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_one_blas_thread)
        futures: dict[Future, int] = {}
        try:
            for i, c in enumerate(chunks):
                futures[pool.submit(apply, fn, c)] = i
            results: list[list[Any]] = [[] for _ in chunks]
            for f in as_completed(futures):
                i = futures[f]
                results[i] = f.result()
                done(i, results[i])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results


def _apply_thread(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    return [fn(x) for x in chunk]


class DaskExecutor(Executor):
    """A Dask cluster (``dask.distributed``), given by its scheduler's address or a client."""

    name = "dask"

    def __init__(self, address: str | None = None, client: Any = None):
        from distributed import Client

        if client is None and not address:
            raise ValueError("a Dask executor needs the scheduler's address (DASK_SCHEDULER=tcp://host:port)")
        try:
            self.client = client if client is not None else Client(address, timeout="20s")
        except OSError as e:
            raise RuntimeError(
                f"cannot reach the Dask scheduler at {address} (DASK_SCHEDULER): {e}; start one with "
                "`dask scheduler` or unset DASK_SCHEDULER to run on this machine"
            ) from None
        self.address = address or self.client.scheduler.address
        self._active: set = set()  # futures sent by any thread's map and not yet done

    def cancel_all(self) -> None:
        """Cancel every piece of work this executor sent that has not finished (a build that
        stopped: its maps run in threads of their own)."""
        self.client.cancel(list(self._active))

    @property
    def workers(self) -> int:
        return sum(w.get("nthreads", 1) for w in self.client.scheduler_info().get("workers", {}).values()) or 1

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address})"

    def _run(
        self, fn: Callable[[Any], Any], chunks: list[list[Any]], threads: bool, done: Callable[..., None]
    ) -> list[list[Any]]:
        from distributed import as_completed as dask_completed

        apply = _apply_thread if threads else _apply_chunk
        # work that starts processes of its own (a notebook) leaves its worker's slot while it
        # waits (analysis.report.jobs), so that the runs it sends can use it: at most one such
        # task per slot is sent at a time, or every notebook would start at once
        limit = self.workers if threads else len(chunks)
        futures = [self.client.submit(apply, fn, c, pure=False) for c in chunks[:limit]]
        self._active.update(futures)
        order = {f.key: i for i, f in enumerate(futures)}
        running = dask_completed(futures)
        try:
            for f in running:
                i = order[f.key]
                done(i, f.result())  # raises the task's exception here
                if len(futures) < len(chunks):
                    nxt = self.client.submit(apply, fn, chunks[len(futures)], pure=False)
                    self._active.add(nxt)
                    order[nxt.key] = len(futures)
                    futures.append(nxt)
                    running.add(nxt)
            return self.client.gather(futures)
        except BaseException:
            self.client.cancel(futures)
            raise
        finally:
            self._active.difference_update(futures)


_DASK: dict[str, DaskExecutor] = {}


def get(workers: int | None = None) -> Executor:
    """The executor this run uses: Dask when ``DASK_SCHEDULER`` is set, else local processes."""
    address = os.environ.get("DASK_SCHEDULER", "").strip()
    if address:
        if address not in _DASK:
            _DASK[address] = DaskExecutor(address)
        return _DASK[address]
    return LocalExecutor(workers)
