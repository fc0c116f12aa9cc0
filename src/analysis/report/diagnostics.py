"""The report's checks in words: pre-trends and anticipation, the sensitivity analysis set against
the headline, the calibration of each test shown, and what the planning table means.

Each function takes computed results (``analysis.evaluation``) and returns Markdown; none computes
an estimate of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.impact.registry import method_label
from analysis.report.content import fmt_p, fmt_pct, md_escape, pipe_table


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
            + " The row below that leaves the 12 months before each start out of the prediction shows how much "
            "the estimate leans on them; the sensitivity analysis shows how far the conclusion survives if such "
            "departures continued after the start. Neither removes the concern."
        )
    return text + f" (In the event study above, the last four months before the start average {fmt_pct(last4)}.)"


def headline_caveat(test) -> str:
    """One sentence under the headline when the pre-trend test finds a departure (else empty)."""
    joint = test.p_value <= 0.05
    total = np.isfinite(test.pooled_p_value) and test.pooled_p_value <= 0.05
    if not (joint or total):
        return ""
    lower = test.pooled_percent < 0
    return (
        f"**Main caveat.** In the {test.months} months before each start the program's sectors were already "
        f"{abs(test.pooled_percent):.1f}% {'below' if lower else 'above'} what the comparison predicts, more than "
        f"chance would give (see Pre-trends). "
        + (
            "If that lower level would have lasted anyway, part of the fall is not the program's doing."
            if lower
            else "If the program's sectors were chosen after a rise, part of the fall is a return to normal."
        )
    )


def robustness_md(
    main, anticipations: list[dict], sens: pd.DataFrame, sens_quarters: int, loo: pd.DataFrame | None = None
) -> str:
    """The rows that leave the months before each start out, and the sentence that reconciles the
    sensitivity analysis with the headline."""
    lo, hi = main.ci_percent
    rows = [
        {
            "Estimate": "Headline (every month since each start)",
            "Effect": fmt_pct(main.att_percent),
            "95% interval": f"{fmt_pct(lo)} to {fmt_pct(hi)}",
        }
    ]
    for a in anticipations:
        rows.append(
            {
                "Estimate": f"Leaving out the {a['months_left_out']} months before each start",
                "Effect": fmt_pct(a["percent"]),
                "95% interval": f"{fmt_pct(a['ci_low'])} to {fmt_pct(a['ci_high'])}",
            }
        )
    if loo is not None and len(loo):
        lo_r, hi_r = loo.loc[loo.percent.idxmin()], loo.loc[loo.percent.idxmax()]
        rows.append(
            {
                "Estimate": f"Leaving out one sector at a time ({len(loo)} estimates)",
                "Effect": f"{fmt_pct(lo_r.percent)} (without {md_escape(lo_r.left_out)}) to {fmt_pct(hi_r.percent)} "
                f"(without {md_escape(hi_r.left_out)})",
                "95% interval": "",
            }
        )
    moves = "; ".join(
        f"leaving out {a['months_left_out']} months moves it by {a['percent'] - main.att_percent:+.1f} points".replace(
            "-", "−"
        )
        for a in anticipations
    )
    text = (
        "If sectors changed in the months just before the program arrived (because they were chosen after a "
        "spike, or because work began before the official start), those months would distort both the "
        "prediction and the effect. Leaving them out of both (anticipation): " + moves + "."
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
    return text + "\n\n" + pipe_table(pd.DataFrame(rows), align="lrr")


# -- calibration -------------------------------------------------------------------------------
def calibration_md(checks: list, design: str) -> str:
    """One line per test: what exactly it is, its rejection rate of a true null with the Monte
    Carlo error and interval, and the verdict."""
    # whether it was read from the cache is the build log's business (and the notebook's), not the reader's
    lines = [f"Design of every run: {design}. A well-calibrated 5% test finds an effect in about 5% of runs.\n"]
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


def calibration_design(
    ctx, calendar: list, n_runs: int, n_perm: int, pool: int | None = None, headline_pool: int | None = None
) -> str:
    """The calibration's design in words; ``pool`` and ``headline_pool``: the comparable sectors
    the placebo draws came from in a run and in the headline (the placebo sectors are drawn at
    random, the program's were among the most violent, so a run's pool is larger)."""
    groups = pd.Series([str(s) for s in calendar]).value_counts().sort_index()
    starts = "; ".join(f"{n} sector{'s' if n > 1 else ''} from {s}" for s, n in groups.items())
    never = ctx.panel.loc[ctx.panel.treat_start.isna(), "unit"].nunique()
    text = (
        f"{n_runs:,} placebo rollouts on the {never} sectors never in the program, each giving the program's real "
        f"calendar ({starts}) to as many sectors drawn at random, tested with the headline's method and its "
        f"{n_perm:,} placebo draws"
    )
    if pool and headline_pool:
        text += (
            f". Because the placebo sectors are drawn at random while the program's were among the most violent, "
            f"a run's placebo draws come from about {pool} comparable sectors, against {headline_pool} for the "
            "headline"
        )
    return text


def pool_size(label: str) -> int | None:
    """The number of comparable never-treated sectors in a placebo inference's label."""
    import re

    m = re.search(r"among the (\d+) never-treated", str(label))
    return int(m.group(1)) if m else None


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
    if np.isfinite(mde):
        now += (
            f"; the estimate, {fmt_pct(est)}, is larger than that, so an effect of its size is detectable."
            if abs(est) >= abs(100 * mde)
            else f"; the estimate, {fmt_pct(est)}, is smaller than that: an effect of its size is often missed."
        )
    else:
        now += "."
    last = int(plan.follow_up.max())
    ok = plan[(plan.follow_up == last) & (plan.mde.abs() * 100 <= target)]
    if ok.empty:
        nxt = (
            f" For the next expansion, no size in the table detects a fall of {target:.0f}% (the middle of the 20-35% "
            f"that focused-deterrence programs achieved elsewhere) within {last} months."
        )
    else:
        k = int(ok.n_treated.min())
        below = plan[(plan.follow_up == last) & (plan.n_treated < k)]
        prev = below.loc[below.n_treated.idxmax()] if not below.empty else None
        nxt = (
            f" For the next expansion: to detect a fall of {target:.0f}% (the middle of the 20-35% that "
            f"focused-deterrence programs achieved elsewhere) within {last} months, an expansion of about **{k} "
            f"sectors** is needed"
            + (
                f" ({int(prev.n_treated)} sectors reach {abs(100 * prev.mde):.0f}%)"
                if prev is not None and np.isfinite(prev.mde)
                else ""
            )
            + "; smaller expansions detect only larger falls. Each cell is simulated, so differences of a few points "
            "are within simulation noise, and a larger expansion leaves fewer comparable sectors outside the program."
        )
    return now + nxt


def planning_md(plan: pd.DataFrame, current: dict) -> str:
    wide = plan.pivot(index="n_treated", columns="follow_up", values="mde")
    table = pd.DataFrame({"Sectors in the program": [str(k) for k in wide.index]})
    for f in wide.columns:
        table[f"{f} months of follow-up"] = [
            "more than 60%" if np.isnan(v) else f"−{abs(100 * v):.0f}%" for v in wide[f]
        ]
    observed = f"Program as it is ({int(current.get('follow_up', 0))} months since the first start)"
    table[observed] = ""
    mde = float(current.get("mde", np.nan))
    cur = {"Sectors in the program": f"**{current['n_treated']} (the program's own calendar)**"}
    for f in wide.columns:
        cur[f"{f} months of follow-up"] = ""
    cur[observed] = f"**−{abs(100 * mde):.0f}%**" if np.isfinite(mde) else "more than 60%"
    table = pd.concat([table, pd.DataFrame([cur])], ignore_index=True)
    return pipe_table(table)


def method_name(method: str, inference_label: str) -> str:
    return f"{method_label(method)}, {inference_label.split(' (')[0]}"
