"""Placebo inference: the program's calendar given to never-treated units, for every method that
supports it.

Never-treated units stand in for the treated ones with the same start dates, the method's
statistic is recomputed on the never-treated units alone (``Method.draw``), and the placebo
effects, which carry no program effect, are the reference for the observed one. A method
declares its scheme (``Method.hooks['placebo']``):

- ``'stand-ins'`` (Arkhangelsky et al. 2021, Algorithm 4; SDID and synthetic control): each
  treated unit's date goes to a random never-treated unit (by default any; ``placebo_pool=k``:
  among the k nearest in pre-program level); the standard error is the spread of the placebo
  effects and the interval normal.
- ``'calendars'`` (Poisson imputation): the calendar goes to never-treated units that could have
  been chosen (``pool='comparable'``, ``randomization.comparable_pool``), every distinct placebo
  once when there are no more of them than draws. A method may compute all its draws at once
  (``hooks['draws']``, ``draws(Y, calendars, rels, fit, **method_options) -> list[Draw]``). Each placebo's recorded minus expected count
  in standard deviations (variance m + e m^2: Poisson plus the placebos' variance beyond it,
  ``extra_variance``) is the reference for the observed one; the interval is the pivot of
  ``pivot_interval``. On 1,000 realistic cities per scenario (``analysis.validation``) this
  rejected a true null 3.8 % of the time at 5 % and covered 94.5-95.5 %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design, treatment_matrix
from analysis.impact.event import draw_spread
from analysis.impact.inference.randomization import (
    _counterfactual,
    arrangements,
    draw_all,
    draw_cells,
    perm_p,
    pool_mask,
    pool_words,
    totals_many,
)
from analysis.impact.method import Method, Request, treated_rows
from analysis.impact.result import Draws, Fit, InferenceOutcome, InferenceRecord, z_interval

#: options this inference reads (``n_placebo`` draws, or ``n_perm`` when it is not given)
OPTIONS = ("n_placebo", "n_perm", "placebo_pool", "pool", "ci")


def reads(method: Method) -> tuple[str, ...]:
    """The options this inference reads for ``method``: its scheme's (``placebo_pool`` for
    stand-ins; ``pool`` and ``ci`` for calendars) and the number of draws (``n_placebo``, or
    ``n_perm`` when it is not given)."""
    if method.hooks.get("placebo", "stand-ins") == "calendars":
        return ("n_placebo", "n_perm", "pool", "ci")
    return ("n_placebo", "n_perm", "placebo_pool")


def placebo_pools(
    Y: np.ndarray, tr_rows: np.ndarray, ctrl: np.ndarray, n_pre: int, size: int | None
) -> list[np.ndarray]:
    """For each treated unit, the never-treated units it may be replaced by in a placebo draw."""
    if size is None or size >= len(ctrl):
        return [ctrl for _ in tr_rows]
    level = Y[:, :n_pre].mean(1)
    return [ctrl[np.argsort(np.abs(level[ctrl] - level[i]), kind="stable")[:size]] for i in tr_rows]


def draw_stand_ins(pools: list[np.ndarray], ctrl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One stand-in per treated unit, all distinct; a unit whose pool is used up takes the
    nearest unused unit of its pool order, then any unused never-treated unit."""
    taken: set[int] = set()
    out = np.empty(len(pools), dtype=int)
    for j in rng.permutation(len(pools)):
        free = [c for c in rng.permutation(pools[j]) if c not in taken]
        if not free:
            free = [c for c in rng.permutation(ctrl) if c not in taken]
        out[j] = free[0]
        taken.add(int(free[0]))
    return out


def distinct_placebos(start: np.ndarray, n_candidates: int) -> float:
    """How many different placebo calendars ``n_candidates`` never-treated units can take."""
    _, counts = np.unique(start[start >= 0], return_counts=True)
    return arrangements(n_candidates, counts)


class PoolTooSmall(ValueError):
    """Fewer comparable never-treated units than treated ones: no placebo calendar can be drawn."""


def placebo_calendars(start: np.ndarray, candidates: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """(n_draws, len(candidates)) starts: the treated units' calendar given to randomly chosen
    ``candidates`` (a boolean mask over the never-treated units), the others untreated; every
    distinct placebo once when there are no more of them than ``n_draws``."""
    rng = np.random.default_rng(seed)
    cal = np.sort(start[start >= 0])
    idx = np.flatnonzero(candidates)
    if len(idx) < len(cal):
        raise PoolTooSmall(
            f"placebo inference needs at least as many comparable never-treated units as treated ones "
            f"({len(idx)} < {len(cal)}); use inference='randomization'"
        )
    if distinct_placebos(start, len(idx)) <= n_draws:
        # fewer distinct placebos than draws (one sector among 19 comparable ones): take each once,
        # so the p-value is the exact one and not a resampled one below its true floor
        from itertools import permutations

        seen = sorted({tuple(sorted(zip(pos, cal))) for pos in permutations(idx, len(cal))})
        out = np.full((len(seen), len(candidates)), -1)
        for k, assignment in enumerate(seen):
            for i, s in assignment:
                out[k, i] = s
        return out
    out = np.full((n_draws, len(candidates)), -1)
    for k in range(n_draws):
        out[k, rng.choice(idx, size=len(cal), replace=False)] = rng.permutation(cal)
    return out


def extra_variance(recorded: np.ndarray, expected: np.ndarray) -> float:
    """Relative variance beyond Poisson of the draws' totals, e in Var = expected + e expected^2
    (overdispersion and the error of the fitted expectation, both of which grow with the square
    of the level), by moments over the draws; 0 when the draws are no more variable than Poisson."""
    ok = np.isfinite(recorded) & np.isfinite(expected) & (expected > 0)
    if not ok.any():
        return 0.0
    r, m = recorded[ok], expected[ok]
    return float(max(0.0, np.mean(((r - m) ** 2 - m) / m**2)))


def pivot_interval(
    recorded: float, expected: float, null_t: np.ndarray, alpha: float, extra: float = 0.0
) -> tuple[float, float]:
    """Multiplicative effects r whose studentized deviation, |recorded - (1 + r) expected| /
    sqrt((1 + r) expected), the draws without an effect (``null_t``) do not beat often enough to
    reject at ``alpha``: the p-value's rule, used as a pivot.

    Used with placebo draws among never-treated units, whose deviations carry no program effect.
    The deviation's variance at r is u + extra u^2 with u = (1 + r) expected: Poisson in u, and
    the part beyond Poisson (``extra_variance`` of the placebos) scaling with u^2, so an
    effect's smaller counts carry their smaller spread. Closed form with c the critical value
    (the draw that the p-value's rule puts at the edge): (recorded - u)^2 <= c^2 (u + extra u^2);
    too few draws to reject give (-1, inf).
    """
    t = np.sort(null_t[np.isfinite(null_t)])[::-1]
    k = int(np.floor(alpha * (len(t) + 1) - 1 + 1e-9))  # t is rejected when at most k draws reach it
    if k < 0 or k >= len(t) or expected <= 0:
        return -1.0, np.inf
    c = t[k]
    # (recorded - u)^2 <= c^2 (u + extra u^2): a u^2 + b u + recorded^2 <= 0
    a, b = 1 - c * c * extra, -(2 * recorded + c * c)
    if abs(a) < 1e-12:
        return max(recorded**2 / -b / expected - 1, -1.0), np.inf
    disc = np.sqrt(b * b - 4 * a * recorded**2)
    if a < 0:  # the deviation never exceeds c for large u: no upper bound
        return max((-b - disc) / (2 * a) / expected - 1, -1.0), np.inf
    lo_u, hi_u = (-b - disc) / (2 * a), (-b + disc) / (2 * a)
    return max(lo_u / expected - 1, -1.0), hi_u / expected - 1


def _event_spread(curves: np.ndarray, rels: list[int] | None) -> dict:
    """The event study's spread over the draws and the draws themselves (none without a window)."""
    if rels is None:
        return {"event_se": None, "event_draws": None, "event_rels": None}
    return {
        "event_se": pd.Series(draw_spread(curves), index=np.array(rels)),
        "event_draws": curves,
        "event_rels": np.array(rels),
    }


def _stand_ins(method: Method, design: Design, fit: Fit, alpha: float, seed: int, rels, options, method_options):
    Y, start = design.Y, design.start
    n_placebo = int(options["n_placebo"] if "n_placebo" in options else options["n_perm"])
    placebo_pool = options.get("placebo_pool")
    tr_rows = treated_rows(start)
    ctrl = np.flatnonzero(start < 0)
    n_tr = len(tr_rows)
    if len(ctrl) <= n_tr:
        raise ValueError(f"placebo inference needs more never-treated units ({len(ctrl)}) than treated ({n_tr})")
    rng = np.random.default_rng(seed)
    pools = placebo_pools(Y, tr_rows, ctrl, design.n_pre, placebo_pool)
    atts = np.empty(n_placebo)
    curves = np.full((n_placebo, len(rels) if rels is not None else 0), np.nan)
    Yc = Y[ctrl]
    calendars, expected = [], []
    for b in range(n_placebo):
        pick = rng.choice(ctrl, size=n_tr, replace=False) if placebo_pool is None else draw_stand_ins(pools, ctrl, rng)
        s = np.full(len(ctrl), -1)
        s[np.searchsorted(ctrl, pick)] = start[tr_rows]
        d = method.draw(Yc, s, rels, fit, **method_options)
        atts[b] = d.att
        if rels is not None:
            curves[b] = d.curve
        calendars.append(s)
        expected.append(d.expected)
    se = float(np.sqrt(np.mean((atts - atts.mean()) ** 2)))
    lo, hi, p = z_interval(fit.att, se, alpha)
    label = (
        f"placebo ({n_placebo} draws; stand-ins among the {placebo_pool} never-treated units nearest "
        "in pre-program level)"
        if placebo_pool and placebo_pool < len(ctrl)
        else f"placebo ({n_placebo} draws of never-treated stand-ins)"
    )
    record = InferenceRecord(kind="placebo", label=label, n_draws=n_placebo, min_p_value=0.0, draws=atts)
    return InferenceOutcome(
        se=se,
        ci=(lo, hi),
        p_value=p,
        record=record,
        **_event_spread(curves, rels),
        cells=draw_cells(Yc, np.stack(calendars), expected),
        interval_at=lambda a: z_interval(fit.att, se, a)[:2],
    )


def _calendars(method: Method, design: Design, fit: Fit, alpha: float, seed: int, rels, options, method_options):
    Y, start = design.Y, design.start
    T = Y.shape[1]
    n_perm, ci = (
        int(options["n_placebo"] if "n_placebo" in options else options["n_perm"]),
        bool(options.get("ci", True)),
    )
    in_pool = pool_mask(Y, start, options.get("pool", "comparable"))
    D = treatment_matrix(start, T).astype(bool)
    ctrl = start < 0
    Yd, draws = Y[ctrl], placebo_calendars(start, in_pool[ctrl], n_perm, seed)
    n_draws = len(draws)
    curves = np.full((n_draws, len(rels) if rels is not None else 0), np.nan)
    studentized = method_options.get("statistic", "studentized") == "studentized"
    cf = _counterfactual(method, fit)
    rec_obs, exp_obs = float(Y[D].sum()), float(cf[D].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        done = draw_all(method, Yd, draws, rels, fit, method_options)
        recs, exps = totals_many(Yd, draws, done)
        if rels is not None and isinstance(done, Draws) and done.curves is not None:
            curves = done.curves
        elif rels is not None:
            curves = np.stack([np.asarray(d.curve, float) for d in done]) if done else curves
        expected = done if isinstance(done, Draws) else [d.expected for d in done]
        extra = 0.0
        if studentized:
            extra = extra_variance(recs, exps)
            null_stats = np.abs(recs - exps) / np.sqrt(exps + extra * exps**2)
            obs0 = abs(rec_obs - exp_obs) / np.sqrt(exp_obs + extra * exp_obs**2)
        else:
            test_statistic = method.hooks["test_statistic"]
            null_stats = np.array([test_statistic(a, b, **method_options) for a, b in zip(recs, exps)])
            obs0 = test_statistic(rec_obs, exp_obs, **method_options)
    p0 = perm_p(null_stats, obs0)
    cf_mean = float(cf[D].mean())

    def interval_at(a: float) -> tuple[float, float]:
        lo_r, hi_r = pivot_interval(rec_obs, exp_obs, null_stats, a, extra)
        return lo_r * cf_mean, hi_r * cf_mean

    lo = hi = lo_r = hi_r = float("nan")
    if ci:
        if not studentized:
            raise ValueError("placebo inference needs statistic='studentized' (its interval is a pivot)")
        lo_r, hi_r = pivot_interval(rec_obs, exp_obs, null_stats, alpha, extra)
        lo, hi = lo_r * cf_mean, hi_r * cf_mean
    n_cand = int((in_pool & ctrl).sum())
    pool = options.get("pool", "comparable")
    among = (
        pool_words(Y, start, in_pool, among=ctrl, noun="never-treated units")
        if pool == "comparable"
        else f"all {n_cand} never-treated units"
    )
    label = f"placebo inference ({n_draws} placebo calendars among {among}; studentized, multiplicative)"
    record = InferenceRecord(
        kind="placebo",
        label=label,
        n_draws=n_draws,
        min_p_value=max(1 / (n_draws + 1), 1 / (distinct_placebos(start, n_cand) + 1)),
        draws=null_stats,
        pool=tuple(design.units[in_pool]) if pool == "comparable" else (),
    )
    return InferenceOutcome(
        se=float("nan"),
        ci=(lo, hi),
        p_value=p0,
        record=record,
        **_event_spread(curves, rels),
        cells=lambda: draw_cells(Yd, draws, expected),
        interval_at=interval_at if ci and studentized else None,
        details={"ratio_ci": (lo_r, hi_r)},
    )


def run(req: Request) -> InferenceOutcome:
    """Placebo inference for ``method`` by its scheme; see the module docstring."""
    method, design, fit, alpha, seed, rels = req.method, req.design, req.fit, req.alpha, req.seed, req.rels
    options, method_options = dict(req.options), dict(req.method_options)
    scheme = method.hooks.get("placebo", "stand-ins")
    run_scheme = {"stand-ins": _stand_ins, "calendars": _calendars}[scheme]
    return run_scheme(method, design, fit, alpha, seed, rels, options, method_options)
