"""The report's checks in words: pre-trends and anticipation, the sensitivity analysis set against
the headline, the calibration of each test shown, and what the planning table means.

Each function takes computed results (``analysis.evaluation``) and returns Markdown; none computes
an estimate of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.registry import method_label
from analysis.report.content import fmt_num, fmt_p, fmt_pct, pipe_table


def pre_start_mean(main, months: int = 4) -> float:
    """Mean event-study deviation (percent for PPML) over the last ``months`` months before the start."""
    ev = main.event_study
    pre = ev[(ev.rel_period < 0) & (ev.rel_period >= -months)]
    return float(pre.estimate.mean()) if len(pre) else float("nan")


def pretrend_md(test, main, noun: str) -> str:
    """The joint pre-trend test and the size of the deviations, in words, and a one-row table."""
    last4 = pre_start_mean(main, 4)
    floor = test.min_p_value
    joint = test.p_value <= 0.05
    total = np.isfinite(test.pooled_p_value) and test.pooled_p_value <= 0.05
    quarters = ", ".join(f"{fmt_pct(v)} (quarter {q})" for q, v in zip(test.quarters, test.percent))
    text = (
        f"**Pre-trends.** If the program's sectors had been moving away from the comparison before the start, part "
        f"of the measured effect could be that movement. Left out of the model and predicted like treated months "
        f"(Borusyak, Jaravel and Spiess 2024), the {test.months} months before each start recorded {quarters} "
        f"{noun} against the prediction; over the whole {test.months} months, {fmt_pct(test.pooled_percent)}. "
        f"Joint test that every quarter is on the prediction: {fmt_p(test.p_value, floor)}; test of the "
        f"{test.months} months together: {fmt_p(test.pooled_p_value, floor)} ({test.n_draws:,} placebo draws, the "
        f"headline's inference; the smallest p-value either can give is {floor:.3f}). "
    )
    if not (joint or total):
        text += "Neither departs from the prediction by more than chance would."
    else:
        lower = test.pooled_percent < 0
        text += (
            f"**The program's sectors were already {'quieter' if lower else 'more violent'} than predicted before "
            f"the start**, by more than chance would give. "
            + (
                "If that lower level would have lasted without the program, part of the fall measured after the "
                "start is not the program's doing and the headline overstates it; if it was a passing lull, the "
                "headline is unaffected."
                if lower
                else "Sectors may have been chosen after a rise: part of the fall measured after the start could be "
                "a return to normal, and the headline would overstate the effect."
            )
            + " The anticipation row below and the sensitivity analysis bound how much this could matter."
        )
    return text + f" (In the event study above, the last four months before the start average {fmt_pct(last4)}.)"


def robustness_md(main, anticipation: dict, sens: pd.DataFrame, sens_quarters: int) -> str:
    """The anticipation row and the sentence that reconciles the sensitivity analysis with the headline."""
    lo, hi = main.ci_percent
    rows = pd.DataFrame(
        [
            {
                "Estimate": "Headline (every month since each start)",
                "Effect": fmt_pct(main.att_percent),
                "95% interval": f"{fmt_pct(lo)} to {fmt_pct(hi)}",
            },
            {
                "Estimate": f"Leaving out the {anticipation['months_left_out']} months before each start "
                "(anticipation)",
                "Effect": fmt_pct(anticipation["percent"]),
                "95% interval": f"{fmt_pct(anticipation['ci_low'])} to {fmt_pct(anticipation['ci_high'])}",
            },
        ]
    )
    diff = anticipation["percent"] - main.att_percent
    text = (
        f"If sectors changed in the months just before the program arrived (because they were chosen after a "
        f"spike, or because work began before the official start), those months would distort both the "
        f"prediction and the effect. Leaving the {anticipation['months_left_out']} months before each start out "
        f"of both moves the estimate by {fmt_num(diff, 1)} percentage points."
    )
    if not sens.empty:
        est = 100 * np.expm1(sens.estimate.iloc[0]) if sens.attrs.get("scale") == "log" else sens.estimate.iloc[0]
        first = "first quarter" if sens_quarters == 1 else f"first {sens_quarters} quarters"
        text += (
            f" The sensitivity analysis below starts from a different number, {fmt_pct(est)}, because it "
            f"measures something narrower: the {first} after the start only, against the last quarter before "
            f"it, where the headline ({fmt_pct(main.att_percent)}) pools every month since each start against "
            f"all months before."
        )
    return text + "\n\n" + pipe_table(rows, align="lrr")


# -- calibration -------------------------------------------------------------------------------
def calibration_md(checks: list, design: str, cached: bool) -> str:
    """One line per test: what exactly it is, its rejection rate of a true null with the Monte
    Carlo error and interval, and the verdict."""
    lines = [
        f"Design of every run: {design}. A well-calibrated 5% test finds an effect in about 5% of runs."
        + (
            " (Read from the cache: the inputs that determine it have not changed since it was computed.)"
            if cached
            else ""
        )
        + "\n"
    ]
    for c in checks:
        lo, hi = c.interval
        ok = lo <= c.alpha  # the interval of the rejection rate reaches the nominal level
        twice = hi < 2 * c.alpha
        lines.append(
            f"- **{c.name}**: rejected a true null in **{100 * c.rejection_rate:.1f}%** of {len(c.p_values):,} "
            f"runs (Monte Carlo standard error {100 * c.mc_error:.1f} points; 95% interval {100 * lo:.1f}% to "
            f"{100 * hi:.1f}%; nominal 5%)"
            + (
                (
                    ": calibrated, and the interval rules out a test that rejects twice too often."
                    if twice
                    else ": consistent with 5%, but the runs cannot yet rule out twice too many rejections."
                )
                if ok
                else " — **it finds effects where there are none too often: not used for conclusions**."
            )
        )
    return "\n".join(lines)


def calibration_design(ctx, calendar: list, n_runs: int, n_perm: int) -> str:
    groups = pd.Series([str(s) for s in calendar]).value_counts().sort_index()
    starts = "; ".join(f"{n} sector{'s' if n > 1 else ''} from {s}" for s, n in groups.items())
    never = ctx.panel.loc[ctx.panel.treat_start.isna(), "unit"].nunique()
    return (
        f"{n_runs:,} placebo rollouts on the {never} sectors never in the program, each giving the program's real "
        f"calendar ({starts}) to as many sectors drawn at random, with the headline's {n_perm:,} placebo draws"
    )


# -- planning ----------------------------------------------------------------------------------
def planning_sentence(plan: pd.DataFrame, current: dict, main, target: float = 25.0) -> str:
    """What the planning table implies: the current design's detectable effect against the
    estimate, and how many sectors the next expansion needs to detect a fall of ``target`` %."""
    mde = float(current.get("mde", np.nan))
    now = (
        f"With the program as it is ({current['n_treated']} sectors, starts as they were, observed to the end of "
        f"the quarter), the headline's test detects a fall of **{abs(100 * mde):.0f}%** or more four times in five"
        if np.isfinite(mde)
        else f"With the program as it is ({current['n_treated']} sectors) no fall up to 60% is detected four times in five"
    )
    est = main.att_percent
    now += (
        f"; the estimate, {fmt_pct(est)}, is {'beyond' if abs(est) >= abs(100 * mde) else 'within'} that reach."
        if np.isfinite(mde)
        else "."
    )
    ok = plan[(plan.follow_up == plan.follow_up.max()) & (plan.mde.abs() * 100 <= target)]
    if ok.empty:
        nxt = (
            f" For the next expansion, no size in the table detects a fall of {target:.0f}% (the middle of what "
            f"focused deterrence achieved elsewhere, 20-35%) within {plan.follow_up.max()} months."
        )
    else:
        k = int(ok.n_treated.min())
        nxt = (
            f" For the next expansion: to detect a fall of {target:.0f}% (the middle of what focused deterrence "
            f"achieved elsewhere, 20-35%) within {int(plan.follow_up.max())} months, at least **{k} new sectors** "
            f"are needed; smaller expansions can only detect larger falls (table)."
        )
    return now + nxt


def planning_md(plan: pd.DataFrame, current: dict) -> str:
    wide = plan.pivot(index="n_treated", columns="follow_up", values="mde")
    table = pd.DataFrame({"Sectors in the program": [str(k) for k in wide.index]})
    for f in wide.columns:
        table[f"{f} months of follow-up"] = [
            "more than 60%" if np.isnan(v) else f"−{abs(100 * v):.0f}%" for v in wide[f]
        ]
    cur = {"Sectors in the program": f"**Current design ({current['n_treated']}, staggered)**"}
    for f in wide.columns:
        cur[f"{f} months of follow-up"] = ""
    mde = float(current.get("mde", np.nan))
    cur[table.columns[-1]] = (
        f"**−{abs(100 * mde):.0f}%** (observed to date)" if np.isfinite(mde) else "more than 60% (observed to date)"
    )
    table = pd.concat([table, pd.DataFrame([cur])], ignore_index=True)
    return pipe_table(table)


def method_name(method: str, inference_label: str) -> str:
    return f"{method_label(method)}, {inference_label.split(' (')[0]}"
