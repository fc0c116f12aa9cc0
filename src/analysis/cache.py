"""A content-addressed cache for expensive, deterministic computations (calibration, power).

A result is stored under the sha256 of everything that determines it: the data it reads (hashed
by value), its parameters and seed, and the source of the code that computes it. A rebuild with
the same inputs reads the stored result instead of recomputing it; any change to one of them
gives a new key, so a stale result is never read. The folder is ``.cache/`` at the repository
root (ignored by git), or ``ALTO_CACHE_DIR`` when set; ``ALTO_CACHE_DIR=off`` turns caching off;
``ALTO_CACHE_FORCE=1`` recomputes everything and replaces what is stored.
Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.paths import ROOT

SRC = ROOT / "src" / "analysis"


def cache_dir() -> Path | None:
    """Where results are stored; None when caching is off."""
    env = os.environ.get("ALTO_CACHE_DIR", "")
    if env.lower() == "off":
        return None
    return Path(env) if env else ROOT / ".cache"


def code_hash(paths: Iterable[str]) -> str:
    """sha256 of the source files (paths relative to src/analysis; a folder means all its .py files)."""
    h = hashlib.sha256()
    for rel in sorted(paths):
        p = SRC / rel
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            h.update(f.relative_to(SRC).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def frame_hash(df: pd.DataFrame) -> str:
    """sha256 of a table's values, column names and order (not of its memory layout)."""
    h = hashlib.sha256(json.dumps([str(c) for c in df.columns]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def key(**parts: Any) -> str:
    """sha256 of the parts (tables by value, everything else by its JSON form)."""
    norm = {k: frame_hash(v) if isinstance(v, pd.DataFrame) else v for k, v in sorted(parts.items())}
    return hashlib.sha256(json.dumps(norm, sort_keys=True, default=str).encode()).hexdigest()


def forced() -> bool:
    """``ALTO_CACHE_FORCE=1`` (``make report FORCE=1``): compute everything again and replace
    what is stored."""
    return os.environ.get("ALTO_CACHE_FORCE", "") not in ("", "0")


def load(name: str, k: str) -> tuple[Any, bool]:
    """``(value, True)`` when a value is stored for ``name`` under key ``k``, else ``(None, False)``."""
    folder = cache_dir()
    if folder is None or forced():
        return None, False
    path = folder / f"{name}-{k[:32]}.pkl"
    if path.exists():
        try:
            with path.open("rb") as f:
                stored = pickle.load(f)
            if stored.get("key") == k:
                return stored["value"], True
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError):
            pass  # unreadable or from another version: recompute and replace it
    return None, False


def store(name: str, k: str, value: Any) -> None:
    """Store ``value`` under key ``k``; atomic (a temporary file renamed into place), so two builds
    never read half a file. A read-only checkout still builds; it only recomputes next time."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump({"key": k, "value": value}, f)
        os.replace(tmp, folder / f"{name}-{k[:32]}.pkl")
    except OSError:
        pass


def cached(name: str, k: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``(value, hit)``: the stored value for ``name`` and key ``k``, or ``compute()`` stored now."""
    value, hit = load(name, k)
    if hit:
        return value, True
    value = compute()
    store(name, k, value)
    return value, False
