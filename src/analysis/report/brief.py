"""The two-page brief: four key messages read from the build's results files (victims averted
since the start, this quarter, displacement to neighbouring sectors, the main caveat), the
quarter figure and the effect map. It computes nothing: every number is one the full report
publishes, so the brief can never say something the report does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report.content import Context, fmt_num, fmt_pct, noun_word, record_noun, spillover_note
from analysis.report.i18n import _, tr
from analysis.report.i18n import pct as _pct


def _read(results_dir: str | Path, name: str) -> pd.DataFrame:
    f = Path(results_dir) / f"{name}.csv"
    return pd.read_csv(f) if f.exists() else pd.DataFrame()


def _shown(row: pd.Series) -> bool:
    return not bool(row.get("suppressed", False)) and np.isfinite(float(row.get("percent", np.nan)))


def spillover_lines(results_dir: str | Path) -> list[str]:
    """The brief's line on displacement, from ``spillover.csv``: the neighbours' change, or why
    it is not published (too few records) or not estimated (its ``note``)."""
    lines: list[str] = []
    sp = _read(results_dir, "spillover")
    near = sp[sp.group.astype(str).str.startswith("neighbours")] if len(sp) and "group" in sp else sp
    note = str(near.iloc[0].get("note", "")) if len(near) else ""
    if len(near) and pd.isna(near.iloc[0].get("att_percent")) and note not in ("", "nan"):
        # not estimated: no sector borders the program, or every one does
        lines.append(tr("**Displacement:** {why}", why=spillover_note(note)))
    elif len(near) and not bool(near.iloc[0].get("suppressed", False)):
        r = near.iloc[0]
        lo, hi = float(r.ci_percent_low), float(r.ci_percent_high)
        values = {"effect": fmt_pct(float(r.att_percent)), "lo": fmt_pct(lo), "hi": fmt_pct(hi)}
        if lo < 0 < hi:
            msg = tr(
                "**No displacement detected:** in the sectors that border the program, the change ({effect}; "
                "interval {lo} to {hi}) cannot be told apart from chance.",
                **values,
            )
        elif float(r.att_percent) > 0:
            msg = tr(
                "**Possible displacement:** violence rose in the sectors that border the program ({effect}; interval "
                "{lo} to {hi}).",
                **values,
            )
        else:
            msg = tr(
                "**Benefits spread:** violence also fell in the sectors that border the program ({effect}; interval "
                "{lo} to {hi}).",
                **values,
            )
        lines.append(msg)
    else:
        lines.append(_("**Displacement:** the neighbouring sectors' change cannot be published (too few records)."))
    return lines


def key_messages(results_dir: str | Path, ctx: Context) -> list[str]:
    """The four key messages, in the current language, as Markdown list items."""
    nn = noun_word(record_noun(ctx))
    trend = _read(results_dir, "trend")
    out = []
    cum = trend[trend.window == "cumulative"] if len(trend) else trend
    if len(cum) and _shown(cum.iloc[0]):
        r = cum.iloc[0]
        out.append(
            tr(
                "**Since the start, about {n} fewer {noun}** (interval {lo} to {hi}) were recorded in the {sectors} "
                "program sectors than the estimate of what would have been recorded without the program: "
                "{effect} (95% interval {ci_lo} to {ci_hi}).",
                n=fmt_num(r.averted, 0),
                noun=nn,
                lo=fmt_num(r.averted_low, 0),
                hi=fmt_num(r.averted_high, 0),
                sectors=len(ctx.treated_sectors),
                effect=fmt_pct(r.percent),
                ci_lo=fmt_pct(r.ci_low),
                ci_hi=fmt_pct(r.ci_high),
            )
        )
    else:
        out.append(_("**Since the start:** the program-wide estimate cannot be published (too few records)."))
    q = trend[trend.window == "quarter"] if len(trend) else trend
    if len(q) and _shown(q.iloc[0]):
        r = q.iloc[0]
        out.append(
            tr(
                "**This quarter ({quarter}):** {effect} against the counterfactual (95% interval {lo} to {hi}), "
                "about {n} {noun} averted.",
                quarter=ctx.label,
                effect=fmt_pct(r.percent),
                lo=fmt_pct(r.ci_low),
                hi=fmt_pct(r.ci_high),
                n=fmt_num(r.averted, 0),
                noun=nn,
            )
        )
    else:
        out.append(
            tr("**This quarter ({quarter}):** too few records for an estimate to be published.", quarter=ctx.label)
        )
    out += spillover_lines(results_dir)
    pre = _read(results_dir, "pretrends")
    if len(pre) and float(pre.pooled_p_value.iloc[0]) <= 0.05:
        size = _pct(abs(float(pre.pooled_percent.iloc[0])), 1, signed=False)
        if float(pre.pooled_percent.iloc[0]) < 0:
            out.append(
                tr(
                    "**Main caveat:** in the year before each start the program's sectors were already {size} below "
                    "the prediction; if that lower level would have lasted anyway, the estimate overstates the "
                    "program's effect. The full report shows how much the estimate leans on those months.",
                    size=size,
                )
            )
        else:
            out.append(
                tr(
                    "**Main caveat:** in the year before each start the program's sectors were already {size} above "
                    "the prediction; part of the fall may be a return to normal. The full report shows how much the "
                    "estimate leans on those months.",
                    size=size,
                )
            )
    else:
        out.append(
            _(
                "**Main caveat:** the estimate rests on few sectors and on the assumption that, without the program, "
                "they would have followed the others in proportion; the checks in the full report found no sign "
                "against it before the start."
            )
        )
    return out


def brief_md(results_dir: str | Path, ctx: Context) -> str:
    """The brief's opening: a title line and the key messages."""
    items = "\n".join(f"- {m}" for m in key_messages(results_dir, ctx))
    return "## " + _("Key messages") + "\n\n" + items


def quarters(results_dir: str | Path) -> pd.DataFrame:
    """The quarter table (``quarters.csv``) as the quarter figure reads it."""
    t = _read(results_dir, "quarters")
    if len(t):
        t["group"] = t.group.astype(str)
        t["suppressed"] = t.suppressed.astype(bool)
    return t


def headline(results_dir: str | Path) -> float | None:
    t = _read(results_dir, "program")
    t = t.head(1)  # the headline's row comes first (whatever its method)
    return float(t.att_percent.iloc[0]) if len(t) and np.isfinite(t.att_percent.iloc[0]) else None


def closing() -> str:
    return _(
        "This brief summarises the quarterly evaluation report of the same quarter, which gives the methods, "
        "every check and the sector-by-sector results. Counts from 1 to 4 are never published."
    )
