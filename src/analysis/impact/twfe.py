"""Two-way fixed-effects difference-in-differences with an event study.

The point estimate and the cluster-robust errors come from linearmodels' ``PanelOLS``
(unit and period effects, errors clustered by unit). With few treated sectors clustered
errors are far too small, so the default inference is randomization inference: the
observed adoption calendar is reassigned to randomly chosen units and the TWFE coefficient
recomputed. On a balanced panel the coefficient is a ratio of inner products with the
two-way demeaned treatment (Frisch-Waugh-Lovell), so each permutation costs O(N T) and no
refit; tests check it equals PanelOLS.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.design import Design, treatment_matrix
from analysis.impact.randomization import invert, permuted_starts
from analysis.impact.result import ImpactResult, z_interval

STAGGERED_NOTE = ("TWFE is biased when effects vary across adoption cohorts or over time (staggered "
                  "adoption); shown as the familiar baseline.")


def demean2(X: np.ndarray) -> np.ndarray:
    """Two-way within transform of an (N, T) matrix, or of (K, N, T) stacked matrices."""
    return X - X.mean(-1, keepdims=True) - X.mean(-2, keepdims=True) + X.mean((-1, -2), keepdims=True)


def twfe_coefficient(Y: np.ndarray, D: np.ndarray) -> float:
    """TWFE coefficient of D on a balanced panel (equals PanelOLS with both effects)."""
    Dt = demean2(D)
    return float((Dt * Y).sum() / (Dt * D).sum())


def _panelols(design: Design, X: np.ndarray, names: list[str]):
    from linearmodels import PanelOLS

    N, T = design.Y.shape
    idx = pd.MultiIndex.from_product([np.arange(N), np.arange(T)], names=["unit", "time"])
    exog = pd.DataFrame(X.reshape(len(names), N * T).T, index=idx, columns=names)
    y = pd.Series(design.Y.ravel(), index=idx, name="y")
    return PanelOLS(y, exog, entity_effects=True, time_effects=True, drop_absorbed=True).fit(
        cov_type="clustered", cluster_entity=True)


def randomization_test(Y: np.ndarray, start: np.ndarray, n_perm: int = 999, seed: int = 0,
                       alpha: float = 0.05) -> dict:
    """Randomization inference for the TWFE coefficient over adoption assignments.

    Under the sharp null of a constant additive effect tau, Y - tau * D is unaffected by
    treatment; the statistic for a permuted assignment p is then linear in tau
    (a_p - tau * b_p), so the whole confidence set comes from one pass.

    Returns
    -------
    dict
        ``estimate``, ``p_value`` (tau = 0), ``ci`` (test inversion at level 1 - alpha),
        ``se`` (standard deviation of the permutation distribution), ``draws``.
    """
    T = Y.shape[1]
    D = treatment_matrix(start, T)
    beta = twfe_coefficient(Y, D)
    perms = permuted_starts(start, n_perm, seed)
    a = np.empty(n_perm)
    b = np.empty(n_perm)
    for k, s in enumerate(perms):
        Dp = treatment_matrix(s, T)
        Dt = demean2(Dp)
        den = (Dt * Dp).sum()
        a[k] = (Dt * Y).sum() / den
        b[k] = (Dt * D).sum() / den
    return {"estimate": beta, **invert(beta, a, b, alpha), "draws": a}


def event_study_matrix(start: np.ndarray, T: int, window: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """Relative-period dummies (K, N, T), endpoints binned, period -1 left out as reference."""
    lo, hi = window
    rels = [r for r in range(lo, hi + 1) if r != -1]
    t = np.arange(T)[None, :]
    s = np.asarray(start)[:, None]
    rel = np.where(s >= 0, t - s, 10**6)
    X = []
    for r in rels:
        if r == lo:
            m = rel <= lo
        elif r == hi:
            m = (rel >= hi) & (rel < 10**6)
        else:
            m = rel == r
        X.append(m.astype(float))
    return np.stack(X), rels


def estimate_twfe(design: Design, outcome: str, *, inference: str = "randomization", alpha: float = 0.05,
                  n_perm: int = 999, seed: int = 0, event_window: tuple[int, int] | None = (-12, 24),
                  n_boot: int = 9999, boot_weights: str = "webb") -> ImpactResult:
    """TWFE DiD; see the module docstring. ``inference`` is 'randomization', 'wild' (wild cluster
    bootstrap, ``n_boot`` draws of ``boot_weights``) or 'cluster'; ``event_window=None`` skips
    the event study."""
    D = design.D
    fit = _panelols(design, D[None], ["treated"])
    att = float(fit.params["treated"])
    notes = [STAGGERED_NOTE]
    if inference == "cluster":
        se = float(fit.std_errors["treated"])
        lo, hi, p = z_interval(att, se, alpha)
        notes.append("Cluster-robust errors over-reject with few treated units: for reference only.")
    elif inference == "randomization":
        ri = randomization_test(design.Y, design.start, n_perm=n_perm, seed=seed, alpha=alpha)
        se, (lo, hi), p = ri["se"], ri["ci"], ri["p_value"]
    elif inference == "wild":
        from analysis.impact.wild import wild_bootstrap

        wb = wild_bootstrap(design.Y, design.start, B=n_boot, weights=boot_weights, seed=seed, alpha=alpha)
        se, (lo, hi), p = wb["se"], wb["ci"], wb["p_value"]
    else:
        raise ValueError(f"inference {inference!r} is not available for twfe (use 'randomization', 'wild' or 'cluster')")
    labels = {"randomization": f"randomization inference ({n_perm} reassignments of the adoption calendar)",
              "cluster": "cluster-robust by unit",
              "wild": f"wild cluster bootstrap (restricted, {boot_weights} weights, {n_boot} draws)"}
    extra = {"n_treated_periods": int(D.sum()), "n_draws": {"randomization": n_perm, "wild": n_boot}.get(inference, 0),
             "min_p_value": 1 / (n_perm + 1) if inference == "randomization" else 0.0}

    T = design.Y.shape[1]
    if event_window is None:  # no event study (placebo calibration runs need only the average)
        return ImpactResult(
            method="twfe", outcome=outcome, inference=labels[inference],
            att=att, se=se, ci_low=lo, ci_high=hi, p_value=p, treated_mean=design.treated_mean(),
            n_treated=int(design.treated.sum()), n_control=int((~design.treated).sum()),
            n_pre=design.n_pre, n_post=design.n_post, alpha=alpha, notes=notes,
            extra=extra,
        )
    lo_w = max(event_window[0], -int(design.start[design.treated].max()))
    hi_w = min(event_window[1], T - 1 - int(design.start[design.treated].min()))
    X, rels = event_study_matrix(design.start, T, (lo_w, hi_w))
    es_fit = _panelols(design, X, [f"rel_{r}" for r in rels])
    est = es_fit.params.to_numpy()
    if inference == "randomization":
        # permutation spread of each coefficient, from the same calendar reassignments
        draws = []
        for s in permuted_starts(design.start, min(n_perm, 199), seed + 1):
            Xp, _ = event_study_matrix(s, T, (lo_w, hi_w))
            Xpt = demean2(Xp).reshape(len(rels), -1)
            # normal equations: K x K with K about 36, far cheaper than an SVD of the N*T x K matrix
            draws.append(np.linalg.solve(Xpt @ Xpt.T, Xpt @ design.Y.ravel()))
        es_se = np.std(np.array(draws), axis=0)
    else:
        es_se = es_fit.std_errors.to_numpy()
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2)
    es = pd.DataFrame({"rel_period": rels, "estimate": est, "se": es_se,
                       "ci_low": est - z * es_se, "ci_high": est + z * es_se})
    es = pd.concat([es, pd.DataFrame({"rel_period": [-1], "estimate": [0.0], "se": [0.0],
                                      "ci_low": [0.0], "ci_high": [0.0]})]).sort_values("rel_period")
    return ImpactResult(
        method="twfe", outcome=outcome, inference=labels[inference],
        att=att, se=se, ci_low=lo, ci_high=hi, p_value=p, treated_mean=design.treated_mean(),
        n_treated=int(design.treated.sum()), n_control=int((~design.treated).sum()),
        n_pre=design.n_pre, n_post=design.n_post, alpha=alpha,
        event_study=es.reset_index(drop=True), notes=notes,
        extra=extra,
    )
