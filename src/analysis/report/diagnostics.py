"""The report's checks in words: pre-trends and anticipation, the sensitivity analysis set against
the headline, the calibration of each test shown, and what the planning table means.

Each function takes computed results (``analysis.evaluation``) and returns Markdown; none computes
an estimate of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report.content import fmt_p, fmt_pct, md_escape, noun_word, pipe_table
from analysis.report.i18n import _, month, nt, tr
from analysis.report.i18n import pct as _pct


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
    quarters = ", ".join(
        nt("{x} ({n} quarter before the start)", "{x} ({n} quarters before the start)", abs(int(q)), x=fmt_pct(v))
        for q, v in zip(test.quarters, test.percent)
    )
    text = (
        tr(
            "**Pre-trends.** If the program's sectors had been moving away from the comparison before the start, part "
            "of the measured effect could be that movement. Left out of the model and predicted like treated months "
            "(Borusyak, Jaravel and Spiess 2024), the {months} months before each start recorded {quarters} {noun} "
            "against the prediction; over the whole {months} months, {pooled}. Joint test that every quarter is on "
            "the prediction: {p_joint}; test of the {months} months together: {p_pooled} ({draws} placebo draws, the "
            "headline's inference; the smallest p-value either can give is {floor}).",
            months=test.months,
            quarters=quarters,
            noun=noun_word(noun),
            pooled=fmt_pct(test.pooled_percent),
            p_joint=fmt_p(test.p_value, floor),
            p_pooled=fmt_p(test.pooled_p_value, floor),
            draws=f"{test.n_draws:,}",
            floor=f"{floor:.3f}",
        )
        + " "
    )
    if not (joint or total):
        text += _("Neither departs from the prediction by more than chance would.")
    else:
        lower = test.pooled_percent < 0
        text += (
            (
                _(
                    "**The program's sectors were already quieter than predicted before the start**, by more than "
                    "chance would give. If that lower level would have lasted without the program, part of the "
                    "fall measured after the start is not the program's doing and the headline overstates it; if "
                    "it was a passing lull, the headline is unaffected."
                )
                if lower
                else _(
                    "**The program's sectors were already more violent than predicted before the start**, by more "
                    "than chance would give. Sectors may have been chosen after a rise: part of the fall measured "
                    "after the start could be a return to normal, and the headline would overstate the effect."
                )
            )
            + " "
            + _(
                "The row below that leaves the 12 months before each start out of the prediction shows how much "
                "the estimate leans on them; the sensitivity analysis shows how far the conclusion survives if "
                "such departures continued after the start. Neither removes the concern."
            )
        )
    return (
        text
        + " "
        + tr("(In the event study above, the last four months before the start average {x}.)", x=fmt_pct(last4))
    )


def headline_caveat(test) -> str:
    """One sentence under the headline when the pre-trend test finds a departure (else empty)."""
    joint = test.p_value <= 0.05
    total = np.isfinite(test.pooled_p_value) and test.pooled_p_value <= 0.05
    if not (joint or total):
        return ""
    size = _pct(abs(test.pooled_percent), 1, signed=False)
    if test.pooled_percent < 0:
        return tr(
            "**Main caveat.** In the {months} months before each start the program's sectors were already {size} "
            "below what the comparison predicts, more than chance would give (see Pre-trends). If that lower "
            "level would have lasted anyway, part of the fall is not the program's doing.",
            months=test.months,
            size=size,
        )
    return tr(
        "**Main caveat.** In the {months} months before each start the program's sectors were already {size} "
        "above what the comparison predicts, more than chance would give (see Pre-trends). If the program's "
        "sectors were chosen after a rise, part of the fall is a return to normal.",
        months=test.months,
        size=size,
    )


def robustness_md(
    main, anticipations: list[dict], sens: pd.DataFrame, sens_quarters: int, loo: pd.DataFrame | None = None
) -> str:
    """The rows that leave the months before each start out, and the sentence that reconciles the
    sensitivity analysis with the headline."""
    lo, hi = main.ci_percent
    est_col, effect, interval = _("Estimate"), _("Effect"), _("95% interval")
    rows = [
        {
            est_col: _("Headline (every month since each start)"),
            effect: fmt_pct(main.att_percent),
            interval: tr("{lo} to {hi}", lo=fmt_pct(lo), hi=fmt_pct(hi)),
        }
    ]
    for a in anticipations:
        rows.append(
            {
                est_col: tr("Leaving out the {n} months before each start", n=a["months_left_out"]),
                effect: fmt_pct(a["percent"]),
                interval: tr("{lo} to {hi}", lo=fmt_pct(a["ci_low"]), hi=fmt_pct(a["ci_high"])),
            }
        )
    if loo is not None and len(loo):
        lo_r, hi_r = loo.loc[loo.percent.idxmin()], loo.loc[loo.percent.idxmax()]
        rows.append(
            {
                est_col: tr("Leaving out one sector at a time ({n} estimates)", n=len(loo)),
                effect: tr(
                    "{lo} (without {lo_sector}) to {hi} (without {hi_sector})",
                    lo=fmt_pct(lo_r.percent),
                    lo_sector=md_escape(lo_r.left_out),
                    hi=fmt_pct(hi_r.percent),
                    hi_sector=md_escape(hi_r.left_out),
                ),
                interval: "",
            }
        )
    moves = "; ".join(
        tr(
            "leaving out {n} months moves it by {points} points",
            n=a["months_left_out"],
            points=f"{a['percent'] - main.att_percent:+.1f}".replace("-", "−"),
        )
        for a in anticipations
    )
    text = tr(
        "If sectors changed in the months just before the program arrived (because they were chosen after a "
        "spike, or because work began before the official start), those months would distort both the "
        "prediction and the effect. Leaving them out of both (anticipation): {moves}.",
        moves=moves,
    )
    if not sens.empty:
        est = 100 * np.expm1(sens.estimate.iloc[0]) if sens.attrs.get("scale") == "log" else sens.estimate.iloc[0]
        first = _("first quarter") if sens_quarters == 1 else tr("first {n} quarters", n=sens_quarters)
        text += " " + tr(
            "The sensitivity analysis below starts from a different number, {est}, because it measures something "
            "narrower: the {first} after the start only, against the last quarter before it, where the headline "
            "({headline}) pools every month since each start against all months before.",
            est=fmt_pct(est),
            first=first,
            headline=fmt_pct(main.att_percent),
        )
    return text + "\n\n" + pipe_table(pd.DataFrame(rows), align="lrr")


# -- calibration -------------------------------------------------------------------------------
def calibration_md(checks: list, design: str) -> str:
    """One line per test: what exactly it is, its rejection rate of a true null with the Monte
    Carlo error and interval, and the verdict. ``design``: ``calibration_design`` in the same
    language; each check's ``name`` is an English message (``content.HEADLINE_TEST``), translated here."""
    # whether it was read from the cache is the build log's business (and the notebook's), not the reader's
    lines = [
        tr(
            "Design of every run: {design}. A well-calibrated 5% test finds an effect in about 5% of runs.",
            design=design,
        )
        + "\n"
    ]
    for c in checks:
        lo, hi = c.interval
        ok = lo <= c.alpha  # the interval of the rejection rate reaches the nominal level
        twice = hi < 2 * c.alpha
        line = tr(
            "- **{name}**: rejected a true null in **{rate}** of {runs} runs (Monte Carlo standard error {se} points; "
            "95% interval {lo} to {hi}; nominal 5%)",
            name=_(c.name),
            rate=_pct(100 * c.rejection_rate, 1, signed=False),
            runs=f"{len(c.p_values):,}",
            se=f"{100 * c.mc_error:.1f}",
            lo=_pct(100 * lo, 1, signed=False),
            hi=_pct(100 * hi, 1, signed=False),
        )
        if c.skipped:
            line += " " + nt(
                "({runs} run left out: too few comparable sectors for its placebo calendars)",
                "({runs} runs left out: too few comparable sectors for their placebo calendars)",
                c.skipped,
                runs=f"{c.skipped:,}",
            )
        if not ok:
            line += " — " + _("**it finds effects where there are none too often: not used for conclusions**.")
        elif twice:
            line += _(": calibrated, and the interval rules out a test that rejects twice too often.")
        else:
            line += _(": consistent with 5%, but the runs cannot yet rule out twice too many rejections.")
        lines.append(line)
    return "\n".join(lines)


def calibration_design(
    ctx, calendar: list, n_runs: int, n_perm: int, pool: int | None = None, headline_pool: int | None = None
) -> str:
    """The calibration's design in words; ``pool`` and ``headline_pool``: the comparable sectors
    the placebo draws came from in a run and in the headline (the placebo sectors are drawn at
    random, the program's were among the most violent, so a run's pool is larger)."""
    groups = pd.Series([str(s) for s in calendar]).value_counts().sort_index()
    starts = "; ".join(
        (tr("{n} sectors from {start}", n=n, start=month(s)) if n > 1 else tr("1 sector from {start}", start=month(s)))
        for s, n in groups.items()
    )
    never = ctx.panel.loc[ctx.panel.treat_start.isna(), "unit"].nunique()
    text = tr(
        "{runs} placebo rollouts on the {never} sectors never in the program, each giving the program's real "
        "calendar ({starts}) to as many sectors drawn at random, tested with the headline's method and its "
        "{draws} placebo draws",
        runs=f"{n_runs:,}",
        never=never,
        starts=starts,
        draws=f"{n_perm:,}",
    )
    if pool and headline_pool:
        text += tr(
            ". Because the placebo sectors are drawn at random while the program's were among the most violent, "
            "a run's placebo draws come from about {pool} comparable sectors, against {headline_pool} for the "
            "headline",
            pool=pool,
            headline_pool=headline_pool,
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
        tr(
            "With the program as it is ({n} sectors, starts as they were, observed to the end of the quarter), the "
            "headline's test detects a fall of **{mde}** or more four times in five",
            n=current["n_treated"],
            mde=_pct(abs(100 * mde), 0, signed=False),
        )
        if np.isfinite(mde)
        else tr(
            "With the program as it is ({n} sectors) no fall up to 60% is detected four times in five",
            n=current["n_treated"],
        )
    )
    est = main.att_percent
    if np.isfinite(mde):
        now += (
            tr("; the estimate, {est}, is larger than that, so an effect of its size is detectable.", est=fmt_pct(est))
            if abs(est) >= abs(100 * mde)
            else tr(
                "; the estimate, {est}, is smaller than that: an effect of its size is often missed.", est=fmt_pct(est)
            )
        )
    else:
        now += "."
    last = int(plan.follow_up.max())
    target_pct = _pct(target, 0, signed=False)
    ok = plan[(plan.follow_up == last) & (plan.mde.abs() * 100 <= target)]
    if ok.empty:
        nxt = " " + tr(
            "For the next expansion, no size in the table detects a fall of {target} (the middle of the 20-35% "
            "that focused-deterrence programs achieved elsewhere) within {months} months.",
            target=target_pct,
            months=last,
        )
    else:
        k = int(ok.n_treated.min())
        below = plan[(plan.follow_up == last) & (plan.n_treated < k)]
        prev = below.loc[below.n_treated.idxmax()] if not below.empty else None
        reach = (
            " "
            + tr(
                "({n} sectors reach {mde})",
                n=int(prev.n_treated),
                mde=_pct(abs(100 * prev.mde), 0, signed=False),
            )
            if prev is not None and np.isfinite(prev.mde)
            else ""
        )
        nxt = " " + tr(
            "For the next expansion: to detect a fall of {target} (the middle of the 20-35% that "
            "focused-deterrence programs achieved elsewhere) within {months} months, an expansion of about **{k} "
            "sectors** is needed{reach}; smaller expansions detect only larger falls. Each cell is simulated, so "
            "differences of a few points are within simulation noise, and a larger expansion leaves fewer "
            "comparable sectors outside the program.",
            target=target_pct,
            months=last,
            k=k,
            reach=reach,
        )
    return now + nxt


def planning_md(plan: pd.DataFrame, current: dict) -> str:
    wide = plan.pivot(index="n_treated", columns="follow_up", values="mde")
    sectors_col = _("Sectors in the program")
    more = _("more than 60%")
    table = pd.DataFrame({sectors_col: [str(k) for k in wide.index]})
    for f in wide.columns:
        table[tr("{n} months of follow-up", n=f)] = [
            more if np.isnan(v) else _pct(-abs(100 * v), 0, signed=False) for v in wide[f]
        ]
    observed = tr("Program as it is ({n} months since the first start)", n=int(current.get("follow_up", 0)))
    table[observed] = ""
    mde = float(current.get("mde", np.nan))
    cur = {sectors_col: tr("**{n} (the program's own calendar)**", n=current["n_treated"])}
    for f in wide.columns:
        cur[tr("{n} months of follow-up", n=f)] = ""
    cur[observed] = f"**{_pct(-abs(100 * mde), 0, signed=False)}**" if np.isfinite(mde) else more
    table = pd.concat([table, pd.DataFrame([cur])], ignore_index=True)
    return pipe_table(table)
