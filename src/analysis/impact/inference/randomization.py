"""Randomization inference over the adoption calendar, for every method that supports it.

The observed calendar of starts is reassigned to randomly chosen units (``permuted_starts``) and
the method's statistic recomputed on each reassignment (``Method.draw``).

- A method linear in the outcome for a fixed assignment (TWFE, imputation, two-stage DiD,
  Callaway-Sant'Anna, Sun-Abraham): under the sharp null of a constant additive effect tau each
  reassignment's statistic is a_p - tau * b_p, where a_p is the statistic on Y and b_p on the
  observed treatment indicator, both under reassignment p. One pass therefore gives the p-value
  of every tau, and the confidence set is the taus the test does not reject (``invert``).
- Any other method (PPML): the p-value of no effect compares the observed statistic with the
  reassignments' (``Method.hooks['test_statistic']``), and the interval inverts the test of a
  multiplicative effect r by refitting with the treated cells divided by (1 + r)
  (``hooks['null_statistic']``), the edges found by bisection (``multiplicative_interval``).

The reassignments can be restricted to a pool of comparable units (``pool='comparable'``,
``comparable_pool``).
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial, prod

import numpy as np
import pandas as pd

from analysis.impact.design import treatment_matrix
from analysis.impact.event import draw_spread
from analysis.impact.method import Method, Request, treated_rows, treated_rows_many
from analysis.impact.result import Cells, Draw, Draws, Fit, InferenceOutcome, InferenceRecord

#: options this inference reads
OPTIONS = ("n_perm", "pool", "ci")


def reads(method: Method) -> tuple[str, ...]:
    """The options this inference reads for ``method``."""
    return OPTIONS


def permuted_starts(start: np.ndarray, n_perm: int, seed: int, pool: np.ndarray | None = None) -> np.ndarray:
    """(n_perm, N) reassignments of the observed adoption calendar to random units.

    With ``pool`` (a boolean mask over units that contains every treated unit) the calendar is
    reassigned among the pool's units only; the others stay untreated in every reassignment.
    """
    rng = np.random.default_rng(seed)
    if pool is None:
        return np.stack([rng.permutation(start) for _ in range(n_perm)])
    pool = np.asarray(pool, bool)
    if not pool[start >= 0].all():
        raise ValueError("the reassignment pool must contain every treated unit")
    idx = np.flatnonzero(pool)
    out = np.tile(start, (n_perm, 1))
    for k in range(n_perm):
        out[k, idx] = rng.permutation(start[idx])
    return out


#: the smallest reassignment pool: with one treated unit among 20 the test can reach p = 0.05
MIN_POOL = 20


def comparable_pool(Y: np.ndarray, start: np.ndarray, n_pre: int | None = None) -> np.ndarray:
    """Units that could have been chosen for the program: those at least as violent before it
    as the least violent treated unit.

    The program chose its sectors among the most violent, so a reassignment of its calendar to a
    quiet sector imagines a design that could not have happened; there, a multiplicative
    statistic is much noisier (few events), and PPML's test reassigning among all sectors
    rejected too rarely (1.5-2 % at a nominal 5 % on realistic cities; ``analysis.validation``).
    The level is the mean count in the months before the first start. The pool holds every
    treated unit and at least ``max(2 x treated, MIN_POOL)`` units (the most violent untreated
    ones fill it up), so there are at least as many comparable never-treated units as treated
    ones and a single sector's test can reach a 5 % p-value.
    """
    treated = start >= 0
    level, pool = _as_violent(Y, start, n_pre)
    need = min(len(start), max(2 * int(treated.sum()), MIN_POOL))
    if pool.sum() < need:
        order = [i for i in np.argsort(-level, kind="stable") if not pool[i]]
        pool[order[: need - int(pool.sum())]] = True
    return pool


def _as_violent(Y: np.ndarray, start: np.ndarray, n_pre: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(each unit's mean count before the first start, the units at least as violent as the least
    violent treated one, treated units included): the rule of ``comparable_pool``."""
    treated = start >= 0
    n_pre = int(start[treated].min()) if n_pre is None else n_pre
    level = Y[:, : max(n_pre, 1)].mean(1)
    return level, treated | (level >= level[treated].min())


def totals(Yd: np.ndarray, start: np.ndarray, d: Draw) -> tuple[float, float]:
    """Recorded and expected counts over the treated cells of calendar ``start`` (a draw's
    expected counts cover its treated rows only, in row order)."""
    Dp = treatment_matrix(start, Yd.shape[1]).astype(bool)
    return Yd[Dp].sum(), _expected(d)[Dp[treated_rows(start)]].sum()


def draw_all(method: Method, Y: np.ndarray, calendars: np.ndarray, rels, fit: Fit, method_options: dict) -> list:
    """``method.draw`` on every calendar: all at once when the method can (``hooks['draws']``,
    PPML: the same numbers, a tenth of the time), else one by one."""
    batch = method.hooks.get("draws")
    if batch is not None:
        return batch(Y, calendars, rels, fit, **method_options)
    return [method.draw(Y, s, rels, fit, **method_options) for s in calendars]


def totals_many(Yd: np.ndarray, calendars: np.ndarray, draws: list) -> tuple[np.ndarray, np.ndarray]:
    """``totals`` of every calendar (rows of ``calendars``) and its draw, at once when all treat
    the same number of units (placebo calendars), else one by one."""
    if isinstance(draws, Draws):  # computed with the draws, the same expressions
        return draws.totals
    same = treated_rows_many(calendars)
    if same is None or any(d.expected is None for d in draws):
        pairs = [totals(Yd, s, d) for s, d in zip(calendars, draws, strict=True)]
        return np.array([r for r, _ in pairs], float), np.array([e for _, e in pairs], float)
    rows, starts = same
    post = np.arange(Yd.shape[1])[None, None, :] >= starts[:, :, None]
    expected = np.stack([d.expected for d in draws])
    return (Yd[rows] * post).sum((1, 2)), (expected * post).sum((1, 2))


def pool_mask(Y: np.ndarray, start: np.ndarray, pool: str) -> np.ndarray:
    """The units draws are taken among: 'comparable' (``comparable_pool``) or 'all'."""
    if pool not in ("comparable", "all"):
        raise ValueError(
            f"pool {pool!r}: use 'comparable' (units at least as violent before the program as "
            "the least violent treated one) or 'all'"
        )
    return comparable_pool(Y, start) if pool == "comparable" else np.ones(len(start), bool)


def pool_words(
    Y: np.ndarray, start: np.ndarray, mask: np.ndarray, among: np.ndarray | None = None, noun: str = "units"
) -> str:
    """The units of ``mask`` (restricted to ``among``, when given) in words: those at least as
    violent before the start as the least violent treated unit, and how many were added to reach
    the pool's minimum size when too few were (``comparable_pool``)."""
    by_level = mask & _as_violent(Y, start)[1]
    sel = mask if among is None else mask & among
    n, k = int(sel.sum()), int((by_level if among is None else by_level & among).sum())
    if k >= n:
        return f"the {n} {noun} at least as violent before the start as the least violent treated unit"
    return (
        f"the {n} {noun} most violent before the start ({k} at least as violent as the least violent treated "
        f"unit, {n - k} more added to reach {n})"
    )


def arrangements(n_units: int, group_sizes) -> float:
    """How many ways ``n_units`` units split into labelled groups of ``group_sizes`` (the rest in
    one more group): the multinomial coefficient, counted exactly in integers (a rounded count
    can pass for one more than it is, and decide whether every placebo is taken once)."""
    sizes = [int(c) for c in group_sizes]
    n = factorial(n_units) // (prod(factorial(c) for c in sizes) * factorial(n_units - sum(sizes)))
    return float(min(n, 10**300))


def distinct_reassignments(start: np.ndarray) -> float:
    """How many different ways the calendar ``start`` (-1 for untreated) can be given to these
    units: the smallest p-value a randomization test over them can reach is one over it (one
    treated sector among 20 cannot give p below 1/20, however many draws are taken)."""
    _, counts = np.unique(start, return_counts=True)
    return arrangements(len(start), counts)


def perm_p(stats: np.ndarray, obs: float) -> float:
    """Randomization p-value of ``obs`` among the draws' statistics, leaving out the draws whose
    treated units cannot be imputed (NaN or inf)."""
    stats = stats[np.isfinite(stats)]
    return float((1 + np.sum(stats >= obs - 1e-12)) / (len(stats) + 1))


def invert(estimate: float, a_p: np.ndarray, b_p: np.ndarray, alpha: float) -> dict:
    """p-value of tau = 0 and the (1 - alpha) confidence set by test inversion.

    Parameters
    ----------
    estimate : float
        The observed estimate.
    a_p, b_p : ndarray (n_perm,)
        Each reassignment's estimate on the outcome and on the observed treatment indicator.

    Returns
    -------
    dict
        ``p_value``, ``ci`` (lowest and highest tau not rejected, on a grid of 4,001 points that
        widens until both of its ends are rejected; a side the test cannot bound with these
        reassignments is reported as -inf or +inf) and ``se`` (the permutation standard deviation).
    """
    n = len(a_p)
    p0 = (1 + np.sum(np.abs(a_p) >= abs(estimate) - 1e-12)) / (n + 1)
    spread = max(float(np.std(a_p)), 1e-12)

    def pvals(grid: np.ndarray) -> np.ndarray:
        stat_perm = np.abs(a_p[:, None] - grid[None, :] * b_p[:, None])
        return (1 + (stat_perm >= np.abs(estimate - grid)[None, :] - 1e-12).sum(0)) / (n + 1)

    for width in (10, 100, 1000):
        grid = estimate + np.linspace(-width, width, 4001) * spread
        pv = pvals(grid)
        if pv[0] <= alpha and pv[-1] <= alpha:
            break
    inside = grid[pv > alpha]
    if not inside.size:
        return {"p_value": float(p0), "ci": (float("nan"), float("nan")), "se": spread}
    lo = -np.inf if pv[0] > alpha else float(inside.min())
    hi = np.inf if pv[-1] > alpha else float(inside.max())
    return {"p_value": float(p0), "ci": (lo, hi), "se": spread}


def multiplicative_interval(pval: Callable[[float], float], ratio: float, alpha: float) -> tuple[float, float]:
    """Multiplicative effects r (fractions, -1 = a 100 % reduction) whose test ``pval(r)`` does
    not reject at ``alpha``: from the estimate ``ratio`` each side steps out (0.5, doubling) until
    the test rejects, then bisects 12 times; a side it never rejects is unbounded (-1 or inf)."""

    def edge(inside: float, outside: float, step: float) -> float:
        for _ in range(8):
            if pval(outside) <= alpha:
                break
            if step < 0 and outside <= -0.999:
                return -1.0  # a 100 % reduction: the bound of a multiplicative effect
            inside, outside = outside, max(outside + step, -0.999) if step < 0 else outside + step
            step *= 2
        else:
            return -1.0 if step < 0 else np.inf
        for _ in range(12):
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if pval(mid) > alpha else (inside, mid)
        return (inside + outside) / 2

    return edge(ratio, max(-0.999, ratio - 0.5), -0.5), edge(ratio, ratio + 0.5, 0.5)


def _counterfactual(method: Method, fit: Fit) -> np.ndarray:
    """The fit's counterfactual, which a test on recorded over expected counts needs."""
    if fit.counterfactual is None:
        raise ValueError(f"{method.name} gives no counterfactual: its test cannot compare recorded and expected counts")
    return fit.counterfactual


def _expected(d: Draw) -> np.ndarray:
    if d.expected is None:
        raise ValueError("a draw gave no counterfactual for its treated units")
    return d.expected


def draw_cells(Yd: np.ndarray, calendars: np.ndarray, expected: list) -> Cells | None:
    """The treated cells of every draw (``Cells``), when the method gives each draw's
    counterfactual; None otherwise. ``expected``: each draw's, or ``Draws`` (already stacked)."""
    if isinstance(expected, Draws):
        same = treated_rows_many(calendars)
        assert same is not None  # Draws are of calendars treating the same number of units
        return Cells(start=same[1], observed=Yd[same[0]], expected=expected.expected)
    if not expected or any(e is None for e in expected):
        return None
    same = treated_rows_many(calendars)
    if same is not None:  # placebo calendars: one gather instead of a loop over draws
        return Cells(start=same[1], observed=Yd[same[0]], expected=np.stack(expected))
    rows = [treated_rows(s) for s in calendars]
    return Cells(
        start=np.stack([s[r] for s, r in zip(calendars, rows)]),
        observed=np.stack([Yd[r] for r in rows]),
        expected=np.stack(expected),
    )


def run(req: Request) -> InferenceOutcome:
    """Randomization inference for ``method``; see the module docstring."""
    method, design, fit, alpha, seed, rels = req.method, req.design, req.fit, req.alpha, req.seed, req.rels
    options, method_options = dict(req.options), dict(req.method_options)
    n_perm, ci = int(options["n_perm"]), bool(options.get("ci", True))
    Y, start = design.Y, design.start
    T = Y.shape[1]
    pool = options.get("pool", "all")
    in_pool = pool_mask(Y, start, pool) if method.linear is False or pool != "all" else None
    perms = permuted_starts(start, n_perm, seed, in_pool)
    curves = np.full((n_perm, len(rels)), np.nan) if rels is not None else None
    a_p = np.empty(n_perm)
    expected: list = []
    D = treatment_matrix(start, T).astype(bool)

    if method.linear:
        Df = D.astype(float)
        b_p = np.empty(n_perm)
        for k, s in enumerate(perms):
            d = method.draw(Y, s, rels, fit, **method_options)
            a_p[k] = d.att
            if curves is not None and d.curve is not None:
                curves[k] = d.curve
            expected.append(d.expected)
            b_p[k] = method.draw(Df, s, None, fit, **method_options).att
        statistic = fit.att if fit.statistic is None else fit.statistic
        ri = invert(statistic, a_p, b_p, alpha)
        se, (lo, hi), p0 = ri["se"], ri["ci"], ri["p_value"]
        if not ci:
            lo = hi = float("nan")
        # the floor: one over the draws, or over the distinct reassignments when there are fewer
        min_p = max(1 / (n_perm + 1), 1 / distinct_reassignments(start if in_pool is None else start[in_pool]))
        label = f"randomization inference ({n_perm} reassignments of the adoption calendar)"
        if in_pool is not None:
            label = label[:-1] + f" among {pool_words(Y, start, in_pool)})"
        stat_draws = a_p
        details = {}

        def interval_at(a: float) -> tuple[float, float]:
            return invert(statistic, a_p, b_p, a)["ci"]
    else:
        test_statistic = method.hooks["test_statistic"]
        with np.errstate(invalid="ignore", divide="ignore"):
            done = draw_all(method, Y, perms, rels, fit, method_options)
            recs, exps = totals_many(Y, perms, done)
            if curves is not None:
                curves = np.stack([np.asarray(d.curve, float) for d in done])
            expected = [d.expected for d in done]
            null_stats = np.array([test_statistic(a, b, **method_options) for a, b in zip(recs, exps)])
            cf = _counterfactual(method, fit)
            rec_obs, exp_obs = float(Y[D].sum()), float(cf[D].sum())
            # the observed statistic computed as the draws compute theirs (the same warm start): a
            # reassignment that gives the treated units their own calendar ties with it exactly,
            # where the fit from scratch differs by ~1e-11 and such ties went uncounted (a single
            # sector's p-value fell below the floor of 1 / its distinct reassignments)
            obs_draw = method.draw(Y, start, None, fit, **method_options)
            obs0 = test_statistic(rec_obs, float(totals(Y, start, obs_draw)[1]), **method_options)
        p0 = perm_p(null_stats, obs0)
        lo = hi = lo_r = hi_r = float("nan")
        cf_mean = float(cf[D].mean())
        if ci:
            null_statistic = method.hooks["null_statistic"]
            null_many = method.hooks.get("null_statistics")  # all reassignments at once (PPML)

            def pval_at(r: float, a: float | None = None) -> float:
                with np.errstate(invalid="ignore", divide="ignore"):
                    Yr = np.where(D, Y / (1 + r), Y)  # recorded counts with the hypothesised effect removed
                    w = np.where(D, 1 / (1 + r), 1.0)
                    stats = (
                        null_many(Yr, perms, w, fit, **method_options)
                        if null_many is not None
                        else np.array([null_statistic(Yr, s, w, fit, **method_options) for s in perms])
                    )
                    return perm_p(stats, null_statistic(Yr, start, w, fit, **method_options))

            lo_r, hi_r = multiplicative_interval(pval_at, float(rec_obs / exp_obs - 1), alpha)
            lo, hi = lo_r * cf_mean, hi_r * cf_mean
        se = float("nan")
        mask = in_pool if in_pool is not None else np.ones(len(start), bool)  # always set for these methods
        min_p = max(1 / (n_perm + 1), 1 / distinct_reassignments(start[mask]))
        label = (
            f"randomization inference ({n_perm} reassignments of the adoption calendar among "
            + (pool_words(Y, start, mask) if pool == "comparable" else f"all {len(start)} units")
            + "; multiplicative null)"
        )
        stat_draws = null_stats
        details = {"ratio_ci": (lo_r, hi_r)}

        def interval_at(a: float) -> tuple[float, float]:
            lr, hr = multiplicative_interval(pval_at, float(rec_obs / exp_obs - 1), a)
            return lr * cf_mean, hr * cf_mean

    event_se, event_draws, event_rels = None, curves, None if rels is None else np.array(rels)
    if "event_draws" in method.hooks:  # a regression's event study, its own draws (TWFE)
        event_draws, event_rels = method.hooks["event_draws"](design, fit, n_perm, seed, in_pool)
    if event_draws is not None and event_rels is not None:
        event_se = pd.Series(draw_spread(event_draws), index=event_rels)
    record = InferenceRecord(
        kind="randomization",
        label=label,
        n_draws=n_perm,
        min_p_value=min_p,
        draws=stat_draws,
        pool=tuple(design.units[in_pool]) if in_pool is not None and pool != "all" else (),
    )
    return InferenceOutcome(
        se=se,
        ci=(lo, hi),
        p_value=float(p0),
        record=record,
        event_se=event_se,
        event_draws=event_draws,
        event_rels=event_rels,
        cells=draw_cells(Y, perms, expected),
        interval_at=interval_at if ci else None,
        details=details,
    )
