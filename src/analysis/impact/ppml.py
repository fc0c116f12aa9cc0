"""Poisson (PPML) imputation for counts: the exponential-mean analogue of the imputation estimator.

Unit and period effects of a Poisson model, E[y_it] = exp(a_i + b_t), are fitted by (pseudo)
maximum likelihood on the untreated cells only; each treated cell's expected count without the
program is exp(a_i + b_t). The effect is reported as a percent change, sum(recorded) /
sum(expected) - 1 over the treated cells, and per cohort and period as the same ratio (the
cohort-by-period effects of Wooldridge 2023, exp(tau_gt) - 1). Counts that are small and
overdispersed are modelled on their own scale, and a multiplicative effect is its natural unit.

Inference: randomization over the adoption calendar. The p-value tests no effect; the interval
collects the multiplicative effects r for which the test does not reject when the treated cells
are divided by (1 + r) (found by bisection).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design, treatment_matrix
from analysis.impact.result import ImpactResult
from analysis.impact.randomization import draw_spread, permuted_starts


def fit_poisson_untreated(Y: np.ndarray, untreated: np.ndarray, tol: float = 1e-10,
                          max_iter: int = 5000, b0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Log unit and period effects (a, b) of the Poisson two-way model on the untreated cells.

    Closed-form alternating updates (each is the exact maximiser given the other); a unit or
    period with no event in its untreated cells gets -inf (expected count 0). ``b0`` starts the
    period effects from a nearby solution (the reassignments of the randomization test): the
    same fixed point, reached in a fraction of the iterations.
    """
    W = untreated.astype(float)
    if (W.sum(1) == 0).any() or (W.sum(0) == 0).any():
        raise ValueError("ppml needs an untreated cell in every unit and every period")
    sy_i, sy_t = (Y * W).sum(1), (Y * W).sum(0)
    a = np.log(np.maximum(sy_i, 1e-300) / W.sum(1))
    b = np.zeros(Y.shape[1]) if b0 is None else np.where(np.isfinite(b0), b0, 0.0)
    with np.errstate(divide="ignore"):
        for _ in range(max_iter):
            eb = np.exp(b)
            a_new = np.log(sy_i) - np.log(W @ eb)
            ea = np.exp(a_new)
            b_new = np.log(sy_t) - np.log(ea @ W)
            fin = np.isfinite(a_new)
            finb = np.isfinite(b_new)
            done = (np.abs(a_new[fin] - a[fin]).max(initial=0) < tol) and (np.abs(b_new[finb] - b[finb]).max(initial=0) < tol)
            a, b = a_new, b_new
            if done:
                break
    # identify the levels: mean period effect 0 over finite periods
    shift = b[np.isfinite(b)].mean()
    return a + shift, b - shift


def expected_untreated(Y: np.ndarray, start: np.ndarray, b0: np.ndarray | None = None) -> np.ndarray:
    """Expected counts without the program, exp(a_i + b_t), for every cell."""
    D = treatment_matrix(start, Y.shape[1]).astype(bool)
    a, b = fit_poisson_untreated(Y, ~D, b0=b0)
    return np.exp(a[:, None] + b[None, :])


def _ratio(Y: np.ndarray, start: np.ndarray, b0: np.ndarray | None = None) -> float:
    """recorded / expected - 1 over the treated cells (NaN or inf when they cannot be imputed)."""
    D = treatment_matrix(start, Y.shape[1]).astype(bool)
    mu0 = expected_untreated(Y, start, b0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(Y[D].sum() / mu0[D].sum() - 1)


def log_curve(Y: np.ndarray, mu0: np.ndarray, start: np.ndarray, rels: list[int]) -> np.ndarray:
    """log(recorded / expected) by months since the start, over the treated units: the event
    study on the model's own (proportional) scale. Before the start it is the fit's residual
    ratio in the treated units' untreated months (near zero when proportional trends hold)."""
    T = Y.shape[1]
    tr = start >= 0
    rel = np.where(tr[:, None], np.arange(T)[None, :] - np.where(tr, start, 0)[:, None], 10**6)
    idx = rel - rels[0]
    ok = (idx >= 0) & (idx < len(rels))
    y = np.bincount(idx[ok], weights=Y[ok], minlength=len(rels))
    m = np.bincount(idx[ok], weights=mu0[ok], minlength=len(rels))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((m > 0) & (y > 0), np.log(y / np.where(m > 0, m, 1)), np.nan)


def _perm_p(stats: np.ndarray, obs: float) -> float:
    """Randomization p-value of ``obs`` among the reassignments' statistics, leaving out the
    reassignments whose treated units cannot be imputed (NaN or inf)."""
    stats = stats[np.isfinite(stats)]
    return float((1 + np.sum(stats >= obs - 1e-12)) / (len(stats) + 1))


def estimate_ppml(design: Design, outcome: str, *, inference: str = "randomization", alpha: float = 0.05,
                  n_perm: int = 199, seed: int = 0, event_window: tuple[int, int] = (-12, 24),
                  ci: bool = True) -> ImpactResult:
    """Poisson imputation; see the module docstring."""
    if inference != "randomization":
        raise ValueError(f"inference {inference!r} is not available for ppml (use 'randomization')")
    Y, start = design.Y, design.start
    T = Y.shape[1]
    D = treatment_matrix(start, T).astype(bool)
    a_full, b_full = fit_poisson_untreated(Y, ~D)
    mu0 = np.exp(a_full[:, None] + b_full[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = float(Y[D].sum() / mu0[D].sum() - 1)
    att = float((Y - mu0)[D].mean())
    perms = permuted_starts(start, n_perm, seed)
    rels = list(range(event_window[0], event_window[1] + 1))

    if not np.isfinite(ratio):
        raise ValueError("ppml cannot impute the treated units: they have no recorded events before the start "
                         "(expected counts of zero); use method='imputation'")

    def pval(r: float) -> float:
        Yr = np.where(D, Y / (1 + r), Y)  # recorded counts with the hypothesised effect removed
        obs = abs(_ratio(Yr, start, b_full))
        with np.errstate(invalid="ignore", divide="ignore"):
            stats = np.array([abs(_ratio(Yr, s, b_full)) for s in perms])
        return _perm_p(stats, obs)

    # the test of no effect, and the event study's spread under the same reassignments
    curves = np.full((n_perm, len(rels)), np.nan)
    null_stats = np.full(n_perm, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, s in enumerate(perms):
            Dp = treatment_matrix(s, T).astype(bool)
            mu_p = expected_untreated(Y, s, b_full)
            null_stats[k] = abs(Y[Dp].sum() / mu_p[Dp].sum() - 1)
            curves[k] = log_curve(Y, mu_p, s, rels)
    p0 = _perm_p(null_stats, abs(ratio))
    lo_r = hi_r = float("nan")
    if ci:
        def edge(inside: float, outside: float, step: float) -> float:
            # move the outer point until the test rejects there; a side it never rejects is unbounded
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

        lo_r = edge(ratio, max(-0.999, ratio - 0.5), -0.5)
        hi_r = edge(ratio, ratio + 0.5, 0.5)
    cf_mean = float(mu0[D].mean())
    # interval in counts per treated cell, on the same footing as the other methods
    lo, hi = lo_r * cf_mean, hi_r * cf_mean

    # event study in percent, from the log ratio by months since the start and its spread over
    # the reassignments (normal approximation on the log scale, then back to percent)
    from scipy.stats import norm

    lc = log_curve(Y, mu0, start, rels)
    spread = draw_spread(curves)
    z = norm.ppf(1 - alpha / 2)
    es = pd.DataFrame({"rel_period": rels, "log_ratio": lc, "log_se": spread})
    es = es[np.isfinite(es.log_ratio)].reset_index(drop=True)
    es["estimate"] = 100 * np.expm1(es.log_ratio)
    es["se"] = 100 * np.exp(es.log_ratio) * es.log_se  # delta method, for reference
    es["ci_low"] = 100 * np.expm1(es.log_ratio - z * es.log_se)
    es["ci_high"] = 100 * np.expm1(es.log_ratio + z * es.log_se)
    es = es[["rel_period", "estimate", "se", "ci_low", "ci_high", "log_ratio", "log_se"]]
    cohort = pd.DataFrame([
        {"start": int(g), "period": int(t), "effect_percent": 100 * (Y[start == g, t].sum() / mu0[start == g, t].sum() - 1)}
        for g in np.unique(start[start >= 0]) for t in range(int(g), T)
    ])
    tr = np.flatnonzero(start >= 0)
    cf = pd.DataFrame({
        "unit": np.repeat(design.units[tr].to_numpy(), T), "period": np.tile(design.times.to_numpy(), len(tr)),
        "observed": Y[tr].ravel(), "counterfactual": mu0[tr].ravel(), "treated": D[tr].ravel(),
    })
    return ImpactResult(
        method="ppml", outcome=outcome,
        inference=f"randomization inference ({n_perm} reassignments of the adoption calendar; multiplicative null)",
        att=att, se=float("nan"), ci_low=lo, ci_high=hi, p_value=p0, treated_mean=design.treated_mean(),
        n_treated=len(tr), n_control=int((start < 0).sum()), n_pre=design.n_pre, n_post=design.n_post, alpha=alpha,
        event_study=es, counterfactual=cf,
        notes=["Poisson imputation: expected counts without the program from unit and period effects fitted "
               "on untreated cells; the effect is recorded / expected - 1. The event study is in percent: "
               "recorded / expected - 1 by months since the start, with intervals from its spread over the "
               "reassignments on the log scale."],
        extra={"effect_ratio": ratio, "ratio_ci": (lo_r, hi_r), "cohort_period": cohort,
               "min_p_value": 1 / (n_perm + 1), "n_draws": n_perm, "n_treated_periods": int(D.sum()),
               "event_draws": curves, "event_rels": np.array(rels), "event_scale": "log",
               "event_estimate": dict(zip(es.rel_period, es.log_ratio))},
    )
