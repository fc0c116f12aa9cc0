"""What a method declares: the ``Method`` object each estimator module defines and the registry
collects (``analysis.impact.registry``).

A method is a statistic of the outcome matrix and the adoption calendar. ``fit`` computes it
once with everything a reader sees (event study, counterfactual); ``draw`` computes it for one
more calendar, as cheaply as it can, for the inferences that repeat it. Inference lives in
``analysis.impact.inference``, written once per kind; a method lists the kinds it supports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.impact.design import Design
from analysis.impact.result import Draw, Fit
from analysis.labels import LANGUAGES

#: options every method accepts (the event-study window, in periods relative to the start)
COMMON_OPTIONS = ("event_window",)


@dataclass(frozen=True)
class Method:
    """A registered impact estimator.

    Attributes
    ----------
    name : str
        The key ``estimate(method=...)`` takes.
    fit : callable
        ``fit(design, *, event_window, **method_options) -> Fit``.
    draw : callable
        ``draw(Y, start, rels, fit, **method_options) -> Draw``: the statistic on outcomes ``Y``
        (N, T) under calendar ``start`` (-1 = untreated), with the event curve over ``rels``
        when ``rels`` is given. ``fit`` is the estimate on the observed calendar (a warm start).
    inferences : tuple of str
        Kinds of inference the method supports; the first is not necessarily the default.
    default_inference : str
        The one whose size holds with few treated units.
    references : tuple of str
        Where the method is published.
    linear : bool
        Whether the statistic is linear in the outcome for a fixed calendar (randomization
        inference then gets every null from one pass of draws).
    event_scale : str
        'level' (outcome units) or 'log' (log of recorded over expected, shown in percent).
    options : tuple of str
        Method-specific options ``estimate`` passes to ``fit`` and ``draw``.
    defaults : mapping
        Defaults of the options of its inferences (numbers of draws).
    hooks : mapping
        What an inference needs of this method beyond ``draw`` (documented in each inference).
    labels, short : tuple of str
        The method's name in tables and text, and its short name (figure titles, legends):
        (English, Spanish).
    """

    name: str
    fit: Callable[..., Fit]
    draw: Callable[..., Draw]
    inferences: tuple[str, ...]
    default_inference: str
    references: tuple[str, ...] = ()
    linear: bool = False
    event_scale: str = "level"
    options: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    hooks: Mapping[str, Any] = field(default_factory=dict)
    labels: tuple[str, str] = ("", "")
    short: tuple[str, str] = ("", "")

    def label(self, lang: str = "en", short: bool = False) -> str:
        """The method's name in ``lang`` ('en' or 'es'): in tables and text, or ``short`` (figures)."""
        if lang not in LANGUAGES:
            raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
        names = self.short if short else self.labels
        return names[LANGUAGES.index(lang)] or self.name

    def check_inference(self, inference: str) -> None:
        """A clear error for an inference this method does not support, listing those it does."""
        if inference not in self.inferences:
            raise ValueError(
                f"inference {inference!r} is not available for {self.name} "
                f"(use {' or '.join(repr(i) for i in self.inferences)}; default {self.default_inference!r})"
            )

    def __call__(self, design: Design, **options) -> Fit:
        return self.fit(design, **options)


@dataclass(frozen=True)
class Request:
    """What ``estimate`` asks of an inference (``analysis.impact.inference``): the method, the
    design and its fit, the level, the seed of the draws, the event window's relative periods,
    the inference's options (numbers of draws, pool) and the method's own options."""

    method: Method
    design: Design
    fit: Fit
    alpha: float
    seed: int
    rels: list[int] | None
    options: Mapping[str, Any] = field(default_factory=dict)
    method_options: Mapping[str, Any] = field(default_factory=dict)


def treated_rows(start: np.ndarray) -> np.ndarray:
    """Row indices of the treated units of a calendar, in order (the rows of ``Draw.expected``)."""
    return np.flatnonzero(np.asarray(start) >= 0)


def treated_rows_many(calendars: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For calendars (K, N) that all treat the same number p of units (placebo calendars,
    reassignments of one calendar): each one's treated rows in order and their starts, both
    (K, p); None when there are no calendars or their sizes differ (then one at a time)."""
    kk, rr = np.nonzero(calendars >= 0)
    counts = np.bincount(kk, minlength=len(calendars))
    if not len(calendars) or counts.min() != counts.max():
        return None
    rows = rr.reshape(len(calendars), -1)
    return rows, np.take_along_axis(calendars, rows, axis=1)
