"""Wild cluster bootstrap of a two-way fixed-effects coefficient, clusters = units, without refitting.

Applies to the methods whose statistic is the TWFE coefficient of the treatment indicator
(``Method.inferences`` lists 'wild').

The restricted wild cluster bootstrap (WCR; Cameron, Gelbach and Miller 2008; MacKinnon and
Webb 2018) imposes the null, multiplies each cluster's restricted residuals by one random
weight, and compares the observed t-statistic with the bootstrap ones. On a balanced panel
with unit and period effects, and clusters equal to units, every quantity a draw needs is
linear in its weight vector w (length N):

- restricted residuals u = two-way demeaned Y (they sum to zero within each unit), so the
  bootstrap outcome w * u, once demeaned, is w_i u_it - mean_j(w_j u_jt);
- with D~ the demeaned treatment, A = D~ u' (N x N), d_i = |D~_i|^2 and S = sum d_i:
  beta* = (w . diag A) / S, and unit i's score is  w_i A_ii - (A w)_i / N - beta* d_i.

So B draws cost one (B x N) @ (N x N) product: no refit, no N*T work per draw. Tests check it
against brute-force PanelOLS refits for every weight vector of a small panel.
"""

from __future__ import annotations

import numpy as np

from analysis.impact.design import demean2, treatment_matrix
from analysis.impact.method import Method, Request
from analysis.impact.result import InferenceOutcome, InferenceRecord

#: options this inference reads
OPTIONS = ("n_boot", "boot_weights", "ci")


def reads(method: Method) -> tuple[str, ...]:
    """The options this inference reads for ``method``."""
    return OPTIONS


WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def draw_weights(kind: str, B: int, N: int, rng: np.random.Generator) -> np.ndarray:
    """(B, N) cluster weights: 'webb' (6-point, default for few clusters) or 'rademacher'."""
    if kind == "webb":
        return WEBB[rng.integers(0, 6, size=(B, N))]
    if kind == "rademacher":
        return rng.choice([-1.0, 1.0], size=(B, N))
    raise ValueError(f"weights must be 'webb' or 'rademacher', not {kind!r}")


class _Projection:
    """The pieces of the TWFE fit that every bootstrap draw reuses."""

    def __init__(self, Y: np.ndarray, D: np.ndarray):
        N, T = Y.shape
        self.N, self.T = N, T
        self.Dt = demean2(D)
        self.u = demean2(Y)  # residuals under beta = 0
        self.A = self.Dt @ self.u.T  # A_ij = <D~_i, u_j>
        self.G = self.Dt @ self.Dt.T  # G_ij = <D~_i, D~_j>
        self.d = np.diag(self.G).copy()
        self.S = self.d.sum()
        self.beta = float(np.trace(self.A) / self.S)
        # CR1 small-sample factor (Stata's convention): G/(G-1) * (n-1)/(n-k), where k counts the
        # period effects and the coefficient but not the unit effects (nested in the clusters).
        # linearmodels' default scale differs by a constant, which leaves bootstrap p-values unchanged.
        n, k = N * T, T
        self.c = N / (N - 1) * (n - 1) / (n - k)

    def t_stat(self, beta0: float) -> float:
        s = np.diag(self.A) - self.beta * self.d  # unit scores of the unrestricted residuals
        se = np.sqrt(self.c * np.sum(s**2)) / self.S
        return (self.beta - beta0) / se

    def boot_t(self, W: np.ndarray, beta0: float = 0.0) -> np.ndarray:
        """Bootstrap t-statistics of draws W (B, N) for H0: beta = beta0."""
        A = self.A - beta0 * self.G  # restricted residuals u - beta0 * D~
        diagA = np.diag(A)
        b = W @ diagA / self.S  # (B,)
        q = W * diagA[None, :] - (W @ A.T) / self.N
        s = q - b[:, None] * self.d[None, :]
        se = np.sqrt(self.c * np.sum(s**2, axis=1)) / self.S
        return b / se


#: the outward search for a rejected beta0: 25 steps of 4 s.e. (to 100 s.e.), then 15 doublings
#: (to about 10^5 s.e.); beyond that the interval is reported unbounded
OUTWARD_STEPS = 40


def wild_bootstrap(
    Y: np.ndarray,
    start: np.ndarray,
    *,
    B: int = 9999,
    weights: str = "webb",
    seed: int = 0,
    alpha: float = 0.05,
    ci: bool = True,
    chunk: int = 2000,
) -> dict:
    """WCR bootstrap p-value (and test-inversion interval) for the TWFE coefficient.

    Returns ``estimate``, ``se`` (cluster-robust, CR1), ``t``, ``p_value`` (symmetric) and
    ``ci`` (the values of beta0 the bootstrap test does not reject; NaN when ``ci=False``).
    """
    D = treatment_matrix(start, Y.shape[1])
    pr = _Projection(np.asarray(Y, float), D)
    rng = np.random.default_rng(seed)
    W = draw_weights(weights, B, pr.N, rng)
    # a draw whose weights are all equal rebuilds the sample (up to sign): its |t*| equals |t| at
    # every beta0, a tie counted as such (in floating point, rounding that grows with |beta0|
    # would drop it far out). With few clusters such draws are common (one in 2^(N-1) for
    # Rademacher weights); when they exceed alpha x B the test rejects no beta0 at all.
    const = np.all(W == W[:, :1], axis=1)
    n_const, W = int(const.sum()), W[~const]

    def pval(beta0: float) -> float:
        t_obs = abs(pr.t_stat(beta0))
        hits = n_const
        for i in range(0, len(W), chunk):
            hits += int(np.sum(np.abs(pr.boot_t(W[i : i + chunk], beta0)) >= t_obs - 1e-12))
        return hits / B

    t0 = pr.t_stat(0.0)
    se = pr.beta / t0 if t0 != 0 else float("nan")
    p0 = pval(0.0)
    interval = (float("nan"), float("nan"))
    if ci:

        def edge(inside: float, outside: float) -> float:
            for _ in range(40):  # bisection on the rejection boundary
                mid = (inside + outside) / 2
                if pval(mid) > alpha:
                    inside = mid
                else:
                    outside = mid
                if abs(outside - inside) < 1e-6 * max(1.0, abs(se)):
                    break
            return (inside + outside) / 2

        def outside(sign: int) -> float:
            """A beta0 the test rejects on this side (steps of 4 s.e., then doubling), or +-inf:
            the p-value tends to a limit as beta0 grows, which with few clusters can exceed alpha."""
            step, b = 4 * abs(se), pr.beta + sign * 4 * abs(se)
            for k in range(OUTWARD_STEPS):
                if pval(b) <= alpha:
                    return b
                step = step if k < 25 else 2 * step
                b += sign * step
            return sign * float("inf")

        if n_const / B > alpha:
            interval = (-float("inf"), float("inf"))
        else:
            lo_out, hi_out = outside(-1), outside(+1)
            interval = (
                edge(pr.beta, lo_out) if np.isfinite(lo_out) else lo_out,
                edge(pr.beta, hi_out) if np.isfinite(hi_out) else hi_out,
            )
    return {"estimate": pr.beta, "se": float(abs(se)), "t": float(t0), "p_value": float(p0), "ci": interval}


def run(req: Request) -> InferenceOutcome:
    """The restricted wild cluster bootstrap of the method's TWFE coefficient; the event study
    keeps the regression's cluster-robust errors."""
    design, fit, alpha, seed, options = req.design, req.fit, req.alpha, req.seed, req.options
    n_boot, weights = int(options["n_boot"]), options["boot_weights"]
    wb = wild_bootstrap(
        design.Y, design.start, B=n_boot, weights=weights, seed=seed, alpha=alpha, ci=bool(options.get("ci", True))
    )
    record = InferenceRecord(
        kind="wild",
        label=f"wild cluster bootstrap (restricted, {weights} weights, {n_boot} draws)",
        n_draws=n_boot,
        min_p_value=0.0,
    )
    return InferenceOutcome(se=wb["se"], ci=wb["ci"], p_value=wb["p_value"], record=record, event_se=fit.event_se)
