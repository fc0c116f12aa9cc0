"""Where the repository is, and how paths are shown: one place for both."""

from __future__ import annotations

from pathlib import Path

#: the repository root (src/analysis/paths.py -> the folder holding src/)
ROOT = Path(__file__).resolve().parents[2]


def repo_relative(path: Path | str, outside: str = "absolute") -> str:
    """``path`` relative to the repository when it is inside it; otherwise the absolute path
    (``outside='absolute'``, for messages to the user) or the file name only (``outside='name'``,
    for published files, which must hold no machine path)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return p.name if outside == "name" else str(p)
