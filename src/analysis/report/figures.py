"""Figures in the house style: plain, labelled, colour-blind safe, readable in print.

Each function returns a closed Figure: notebooks show it with ``i18n.show`` (or ``display(fig)``),
once, whatever the matplotlib backend. Every text on a figure is in the current language
(``analysis.report.i18n``), and each figure carries ``caption`` (its title) and ``alt_text``
(what it shows and its main number, written from its own data) for the rendered report.
"""

from __future__ import annotations

from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.labels import OUTCOME_SHORT
from analysis.report.disclosure import SMALL_MAX, is_small
from analysis.report.i18n import _, label, method_name, month, tr
from analysis.report.i18n import pct as _pct

TREATED = "#0072B2"
#: maps (``analysis.report.maps``): sectors outside the program, borders, start groups (dark to
#: light, earliest first, so the order reads in greyscale too)
OTHER = "#e6e6e6"
EDGE = "#ffffff"
GROUPS = ("#08306b", "#2171b5", "#6baed6", "#c6dbef", "#deebf7")
COUNTERFACTUAL = "#D55E00"
GREY = "#6b6b6b"

STYLE: Any = {  # rcParams (matplotlib types its keys as literals)
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "legend.frameon": False,
    "figure.figsize": (7.2, 3.6),
}


def _label(outcome: str) -> str:
    return label(OUTCOME_SHORT, outcome)


def _noun(noun: str) -> str:
    from analysis.report.content import noun_word

    return noun_word(noun)


def _frame(ax) -> None:
    ax.set_axis_off()
    ax.set_aspect("equal")


def _plot(polygons, ax, **kw) -> None:
    """Draw polygons (a GeoDataFrame) unless there are none (geopandas warns on an empty frame)."""
    if len(polygons):
        polygons.plot(ax=ax, **kw)


def locator(ax, sectors, sector: str) -> None:
    """A small locator map on ``ax``: every sector in light grey, ``sector`` in the accent colour."""
    _plot(sectors, ax, color=OTHER, edgecolor=EDGE, linewidth=0.2)
    _plot(sectors[sectors.unit == sector], ax, color=GROUPS[0], edgecolor="black", linewidth=0.5)
    _frame(ax)


def _inference(text: str) -> str:
    """The kind of inference named at the start of an inference's label, in the current language."""
    from analysis.labels import INFERENCE_LABELS

    for kind in INFERENCE_LABELS:
        if str(text).lower().startswith(kind):
            return label(INFERENCE_LABELS, kind)
    return str(text).split(" (")[0]


def _described(fig, caption: str, alt: str):
    """Attach the caption and alt text the render uses (numbered, in the figure's language)."""
    fig.caption = caption
    fig.alt_text = alt
    return fig


def _pc(x: float) -> str:
    return _pct(x, 1, signed=True)


def _method(method: str) -> str:
    return method_name(method, short=True)


def event_study(result, title: str | None = None, demo: bool = False, noun: str = "victims"):
    """Effect by month relative to the start, with its interval; the reference month is -1."""
    with plt.rc_context(STYLE):
        es = result.event_study
        fig, ax = plt.subplots(figsize=(7.2, 3.1))
        ax.axhline(0, color=GREY, lw=0.8)
        ax.axvline(-0.5, color=GREY, lw=0.8, ls="--")
        ax.fill_between(
            es.rel_period,
            es.ci_low,
            es.ci_high,
            color=TREATED,
            alpha=0.18,
            lw=0,
            label=tr("{level} interval", level=_pct(100 * (1 - result.alpha), 0, signed=False)),
        )
        ax.plot(es.rel_period, es.estimate, color=TREATED, marker="o", ms=2.5, lw=1.2, label=_("estimate"))
        ax.set_xlabel(_("Months since the program started in the sector"))
        # PPML's event study is in percent (recorded / expected - 1); the additive ones in counts
        log = result.event_scale == "log"
        ax.set_ylabel(_("Effect (% of expected)") if log else tr("Effect ({noun} per sector-month)", noun=_noun(noun)))
        caption = title or tr(
            "Event study: {outcome} ({method})", outcome=_label(result.outcome), method=_method(result.method)
        )
        ax.legend(loc="upper right", fontsize=8)
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plt.close(fig)
        pre, post = es[es.rel_period < 0], es[es.rel_period >= 0]
        fmt = _pc if log else (lambda x: f"{x:.2f}")
        alt = tr(
            "Line chart of the effect by month relative to the start, from {first} to {last} months, with its "
            "interval shaded. Before the start the estimates average {pre}; after it, {post}.",
            first=int(es.rel_period.min()),
            last=int(es.rel_period.max()),
            pre=fmt(float(pre.estimate.mean())) if len(pre) else "—",
            post=fmt(float(post.estimate.mean())) if len(post) else "—",
        )
        return _described(fig, caption, alt)


def trends(
    result,
    demo: bool = False,
    max_panels: int = 12,
    window: int = 12,
    suppress_below: int = SMALL_MAX + 1,
    exclude=(),
    noun: str = "victims",
):
    """Observed vs counterfactual path of each treated sector, as rolling 12-month totals.

    Rolling totals read better than noisy monthly counts and rarely fall below the
    small-count threshold; any observed total from 1 to ``suppress_below - 1`` is not drawn, and
    sectors in ``exclude`` (those whose estimates are not published) are not drawn at all.
    """
    cf = result.counterfactual.copy()
    if cf.empty:
        raise ValueError(f"method {result.method} gives no counterfactual paths")
    cf = cf[~cf.unit.isin(list(exclude))]
    if cf.empty:
        return None
    cf = cf.sort_values(["unit", "period"])
    for c in ("observed", "counterfactual"):
        cf[c] = cf.groupby("unit")[c].transform(lambda s: s.rolling(window, min_periods=window).sum())
    small = (cf.observed > 0) & (cf.observed < suppress_below)
    cf.loc[small, "observed"] = np.nan
    starts = cf[cf.treated].groupby("unit").period.min()
    units = list(starts.sort_values().index)[:max_panels]
    n = len(units)
    cols = 2 if n > 1 else 1
    rows = int(np.ceil(n / cols))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(7.2, 2.4 * rows + 0.6), squeeze=False, sharex=True)
        for ax, u in zip(axes.ravel(), units):
            g = cf[cf.unit == u]
            x = g.period.dt.to_timestamp() if hasattr(g.period, "dt") else g.period
            ax.plot(x, g.observed, color=TREATED, lw=1.4, label=_("recorded"))
            ax.plot(
                x,
                g.counterfactual,
                color=COUNTERFACTUAL,
                lw=1.4,
                ls="--",
                label=tr("counterfactual ({method})", method=_method(result.method)),
            )
            s = starts[u]
            ax.axvline(s.to_timestamp() if hasattr(s, "to_timestamp") else s, color=GREY, lw=0.8)
            ax.set_title(
                tr("Sector {sector} (program from {start})", sector=u, start=month(s, "short")), loc="left", fontsize=9
            )
            ax.xaxis.set_major_locator(mdates.YearLocator(2 if n > 1 else 1))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
            ax.set_ylabel(tr("{noun}, last {n} months", noun=_noun(noun), n=window))
            ax.set_ylim(bottom=0)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        what = _label(result.outcome)
        title = (
            tr("{outcome}: sector {sector}, recorded and counterfactual", outcome=what, sector=units[0])
            if n == 1
            else tr("{outcome}: treated sectors, recorded and counterfactual", outcome=what)
        )
        fig.suptitle(title, x=0.01, ha="left", fontsize=10.5)
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower left", ncol=2, fontsize=8, bbox_to_anchor=(0.01, 0.0))
        _demo_mark(axes.ravel()[0], demo)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        plt.close(fig)
        alt = tr(
            "Small multiples, one per sector ({n}), of the recorded {noun} over the last {window} months (solid) "
            "and the counterfactual without the program (dashed), with a line at each sector's start.",
            n=n,
            noun=_noun(noun),
            window=window,
        )
        return _described(fig, title, alt)


def city_series(panel: pd.DataFrame, outcome: str, demo: bool = False, noun: str = "victims"):
    """Monthly city-wide counts, treated and untreated sectors apart, for context."""
    p = panel.copy()
    p["group"] = np.where(p.treat_start.notna(), _("sectors in the program"), _("other sectors"))
    s = p.groupby(["period", "group"])[outcome].sum().unstack("group")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 2.8))
        for col, c in zip(s.columns, (GREY, TREATED)):
            total3 = s[col].rolling(3, min_periods=1).sum()
            # a 3-month total of 1 to 4 victims is not drawn (the mean times 3 would give it away)
            shown = (total3 / s[col].rolling(3, min_periods=1).count()).where(~total3.map(is_small))
            ax.plot(s.index.to_timestamp(), shown, color=c, lw=1.3, label=col)
        ax.set_ylabel(tr("{noun} per month (3-month mean)", noun=_noun(noun)))
        caption = tr("{outcome} across the city: totals by group", outcome=_label(outcome))
        ax.legend(fontsize=8)
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plt.close(fig)
        inside, outside = _("sectors in the program"), _("other sectors")
        alt = tr(
            "Line chart of monthly {noun} from {first} to {last}, as 3-month means, in the sectors in the program "
            "(mean {inside} a month) and in all other sectors together (mean {outside} a month).",
            noun=_noun(noun),
            first=s.index.min(),
            last=s.index.max(),
            inside=f"{s[inside].mean():.1f}" if inside in s else "—",
            outside=f"{s[outside].mean():.1f}" if outside in s else "—",
        )
        return _described(fig, caption, alt)


def calibration(checks, demo: bool = False):
    """Share of placebo runs (no true effect) in which each method's 5 % test rejected."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 0.75 + 0.55 * len(checks)))
        names = [f"{_method(c.method)}, {_inference(c.inference)}" for c in checks]
        y = np.arange(len(checks))[::-1]
        rates = np.array([100 * c.rejection_rate for c in checks])
        lo = np.array([100 * c.interval[0] for c in checks])
        hi = np.array([100 * c.interval[1] for c in checks])
        ax.barh(
            y,
            rates,
            color=[TREATED if r <= 100 * c.alpha * 1.5 else COUNTERFACTUAL for r, c in zip(rates, checks)],
            height=0.5,
        )
        ax.errorbar(rates, y, xerr=[rates - lo, hi - rates], fmt="none", ecolor="black", lw=1, capsize=3)
        ax.axvline(100 * checks[0].alpha, color=GREY, ls="--", lw=1)
        ax.set_yticks(y, names)
        ax.set_xlabel(tr("% of {n} placebo runs rejecting a true null at 5% (dashed: 5%)", n=len(checks[0].p_values)))
        ax.set_xlim(0, max(20, hi.max() + 2))
        caption = _("Calibration: how often each method finds an effect where there is none")
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        plt.close(fig)
        alt = tr(
            "Bar chart of the share of placebo runs in which each test found an effect where there is none, "
            "against the nominal 5%: {rates}.",
            rates="; ".join(f"{name} {_pct(r, 1, signed=False)}" for name, r in zip(names, rates)),
        )
        return _described(fig, caption, alt)


def sensitivity(table: pd.DataFrame, demo: bool = False, noun: str = "victims"):
    """Robust interval (thin) and identified range (thick) of the post-start average by Mbar,
    from ``analysis.evaluation.sensitivity.relative_magnitudes``; the dotted line is the breakdown value."""
    log = table.attrs.get("scale") == "log"
    if log:  # an analysis on the log scale (PPML) is drawn in percent: 100 (exp(x) - 1)
        attrs = dict(table.attrs)
        table = table.copy()
        for c in ("estimate", "set_low", "set_high", "ci_low", "ci_high"):
            table[c] = 100 * np.expm1(table[c].astype(float))
        table.attrs = attrs
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 3.0))
        x = table.mbar.to_numpy()
        width = 0.06 * max(x.max() - x.min(), 0.5)
        ax.axhline(0, color=GREY, lw=0.8)
        ax.vlines(x, table.ci_low, table.ci_high, color=TREATED, lw=1.4, label=_("95% robust interval"))
        ax.hlines(
            np.r_[table.ci_low, table.ci_high], np.r_[x, x] - width / 3, np.r_[x, x] + width / 3, color=TREATED, lw=1.4
        )
        ax.vlines(x, table.set_low, table.set_high, color=TREATED, lw=6, alpha=0.45, label=_("identified range"))
        ax.plot(x, table.estimate, "o", color=TREATED, ms=3.5)
        b = table.attrs.get("breakdown")
        if b is not None and 0 < b < x.max() + width:
            ax.axvline(b, color=COUNTERFACTUAL, ls=":", lw=1.2, label=tr("breakdown: {b}", b=f"{b:.2f}"))
        ax.set_xticks(x, [f"{m:g}" for m in x])
        ax.set_xlim(x.min() - 2 * width, x.max() + 2 * width)
        ax.set_xlabel(_("Allowed post-start departure from parallel trends (times the largest before the start)"))
        ax.set_ylabel(_("Effect (% of expected)") if log else tr("Effect ({noun} per sector-month)", noun=_noun(noun)))
        caption = _("Sensitivity of the first-year effect to departures from parallel trends")
        ax.legend(loc="best", fontsize=8)
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plt.close(fig)
        fmt = _pc if log else (lambda v: f"{v:.2f}")
        alt = tr(
            "Intervals of the first-year effect for allowed departures from {low} to {high} times the largest "
            "before the start; with none allowed the effect is {est} (robust interval {lo} to {hi}); breakdown "
            "value {b}.",
            low=f"{x.min():g}",
            high=f"{x.max():g}",
            est=fmt(float(table.estimate.iloc[0])),
            lo=fmt(float(table.ci_low.iloc[0])),
            hi=fmt(float(table.ci_high.iloc[0])),
            b=f"{b:.2f}" if b is not None and np.isfinite(b) else "—",
        )
        return _described(fig, caption, alt)


def _demo_mark(ax, demo: bool) -> None:
    """Stamp the figure (bottom right, clear of titles and data) so a figure lifted alone still says it."""
    if demo:
        ax.figure.text(
            0.995,
            0.005,
            _("DEMO DATA (synthetic)"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="#b00020",
            fontweight="bold",
        )


def by_quarter(
    table: pd.DataFrame,
    headline: float,
    demo: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] = (7.2, 3.0),
):
    """The effect in each calendar quarter (percent, with its interval), the headline as a line.

    ``table``: ``ImpactResult.aggregate('quarter')`` with ``suppressed`` (quarters not drawn)."""
    t_ = table[~table.get("suppressed", pd.Series(False, index=table.index)).astype(bool)]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=figsize)
        x = pd.PeriodIndex(t_.group, freq="Q").to_timestamp(how="start") + pd.Timedelta(days=45)
        ax.axhline(0, color=GREY, lw=0.8)
        ax.axhline(headline, color=COUNTERFACTUAL, lw=1.0, ls="--", label=tr("since the start: {x}", x=_pc(headline)))
        ax.errorbar(
            x,
            t_.estimate,
            yerr=[t_.estimate - t_.ci_low, t_.ci_high - t_.estimate],
            fmt="o",
            ms=3.5,
            color=TREATED,
            ecolor=TREATED,
            elinewidth=0.9,
            capsize=0,
            alpha=0.9,
            label=_("quarter (95% interval)"),
        )
        ax.set_ylabel(_("Effect (% of expected)"))
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        caption = title or _("Effect of the program by calendar quarter")
        ax.legend(loc="lower left", fontsize=8, ncol=2)
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plt.close(fig)
        if len(t_):
            last = t_.iloc[-1]
            alt = tr(
                "Dot chart of the effect in each calendar quarter from {first} to {last}, with 95% intervals, "
                "against the effect since the start ({headline}, dashed line); the latest quarter: {latest}.",
                first=t_.group.iloc[0],
                last=last.group,
                headline=_pc(headline),
                latest=_pc(float(last.estimate)),
            )
        else:
            alt = _("No quarter can be drawn: every quarter's count is too small to publish.")
        return _described(fig, caption, alt)


def forest(
    table: pd.DataFrame,
    headline: tuple[float, float, float] | None = None,
    demo: bool = False,
    title: str | None = None,
):
    """One row per sector: effect and interval in percent (``sector, start, percent, ci_low,
    ci_high``; rows with ``suppressed`` are listed without a point); the program's on top."""
    rows = table.reset_index(drop=True)
    n = len(rows) + (1 if headline else 0)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 0.32 * n + 1.1))
        labels, y = [], 0
        if headline:
            est, lo, hi = headline
            ax.errorbar([est], [y], xerr=[[est - lo], [hi - est]], fmt="D", ms=5, color="black", elinewidth=1.4)
            labels.append(_("All program sectors"))
            y += 1
        for r in rows.itertuples():
            if getattr(r, "suppressed", False) or not np.isfinite(r.percent):
                ax.text(0, y, _("not published (fewer than 5 victims)"), va="center", fontsize=8, color=GREY)
            else:
                ax.errorbar(
                    [r.percent],
                    [y],
                    xerr=[[r.percent - r.ci_low], [r.ci_high - r.percent]],
                    fmt="o",
                    ms=4,
                    color=TREATED,
                    elinewidth=1.0,
                )
            labels.append(tr("{sector} (from {start})", sector=r.sector, start=month(r.start, "short")))
            y += 1
        ax.axvline(0, color=GREY, lw=0.8)
        if headline:
            ax.axvline(headline[0], color=COUNTERFACTUAL, lw=0.8, ls="--")
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(_("Effect (% of expected), 95% interval"))
        caption = title or _("Effect in each sector since its start")
        ax.grid(axis="y", alpha=0)
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plt.close(fig)
        shown = rows[~rows.get("suppressed", pd.Series(False, index=rows.index)).astype(bool)]
        shown = shown[np.isfinite(shown.percent.astype(float))]
        alt = tr(
            "Forest plot of the effect in each of {n} program sectors with its 95% interval{program}; sector "
            "estimates range from {low} to {high}.",
            n=len(rows),
            program=tr(", and for all program sectors together ({x})", x=_pc(headline[0])) if headline else "",
            low=_pc(float(shown.percent.min())) if len(shown) else "—",
            high=_pc(float(shown.percent.max())) if len(shown) else "—",
        ) + (" " + tr("{n} not published.", n=len(rows) - len(shown)) if len(rows) > len(shown) else "")
        return _described(fig, caption, alt)


def activity_vs_outcome(tbl: pd.DataFrame, demo: bool = False):
    """Description only: each program sector-quarter's activities against its recorded / expected
    victims (percent); one colour per sector."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 3.0))
        ok = tbl[np.isfinite(tbl.percent) & (tbl.counterfactual > 0)]
        for i, (s, g) in enumerate(ok.groupby("sector")):
            ax.scatter(g.activities, g.percent, s=12, alpha=0.7, label=s, color=plt.get_cmap("tab10")(i % 10))
        ax.axhline(0, color=GREY, lw=0.8)
        ax.set_xlabel(_("Program activities in the sector-quarter"))
        ax.set_ylabel(_("Recorded vs expected (%)"))
        caption = _("Activity and outcomes by sector and quarter (description, not effect)")
        ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=_("sector"), title_fontsize=7)
        _demo_mark(ax, demo)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        plt.close(fig)
        corr = ok[["activities", "percent"]].corr().iloc[0, 1] if len(ok) > 2 else float("nan")
        alt = tr(
            "Scatter plot of {n} sector-quarters: program activities (horizontal) against recorded versus expected "
            "{pct} (vertical), one colour per sector; correlation {r}.",
            n=len(ok),
            pct="%",
            r=f"{corr:.2f}".replace("-", "−") if np.isfinite(corr) else "—",
        )
        return _described(fig, caption, alt)


def sector_panel(result, sector: str, demo: bool = False, noun: str = "victims", window: int = 12, sectors=None):
    """A sector's appendix figure: its event study (left) and its recorded and counterfactual path
    as rolling 12-month totals (middle; totals from 1 to 4 not drawn); with ``sectors`` (the
    polygons, ``report.maps.load_sectors``), a small locator map on the right."""
    with plt.rc_context(STYLE):
        if sectors is not None and (sectors.unit == sector).any():
            fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(7.2, 2.6), gridspec_kw={"width_ratios": [1, 1, 0.62]})
            locator(a3, sectors, sector)
        else:
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.2, 2.5))
        es = result.event_study
        a1.axhline(0, color=GREY, lw=0.8)
        a1.axvline(-0.5, color=GREY, lw=0.8, ls="--")
        a1.fill_between(es.rel_period, es.ci_low, es.ci_high, color=TREATED, alpha=0.18, lw=0)
        a1.plot(es.rel_period, es.estimate, color=TREATED, marker="o", ms=2, lw=1.0)
        a1.set_xlabel(_("Months since the start"))
        a1.set_ylabel(
            _("Effect (% of expected)") if result.event_scale == "log" else tr("{noun} per month", noun=_noun(noun))
        )
        if (
            result.event_scale == "log"
        ):  # one sector's monthly bands reach hundreds of percent: keep the estimates readable
            top = float(np.nanmax(np.r_[es.estimate.to_numpy(), 0.0]))
            a1.set_ylim(-100, max(100.0, min(200.0, top + 50)))
        a1.set_title(tr("{sector}: event study", sector=sector), loc="left", fontsize=9)
        cf = result.counterfactual.sort_values("period").copy()
        for c in ("observed", "counterfactual"):
            cf[c] = cf[c].rolling(window, min_periods=window).sum()
        cf.loc[(cf.observed > 0) & (cf.observed <= SMALL_MAX), "observed"] = np.nan
        x = cf.period.dt.to_timestamp() if hasattr(cf.period, "dt") else cf.period
        a2.plot(x, cf.observed, color=TREATED, lw=1.3, label=_("recorded"))
        a2.plot(x, cf.counterfactual, color=COUNTERFACTUAL, lw=1.3, ls="--", label=_("counterfactual"))
        start = cf.loc[cf.treated.astype(bool), "period"].min()
        if pd.notna(start):
            a2.axvline(start.to_timestamp(), color=GREY, lw=0.8)
        a2.xaxis.set_major_locator(mdates.YearLocator(4 if sectors is not None else 2))
        a2.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        a2.set_ylim(bottom=0)
        a2.set_ylabel(tr("{noun}, last {n} months", noun=_noun(noun), n=window))
        a2.set_title(tr("{sector}: recorded and counterfactual", sector=sector), loc="left", fontsize=9)
        a2.legend(fontsize=7, loc="lower left")
        _demo_mark(a2, demo)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        plt.close(fig)
        alt = tr(
            "Two panels for sector {sector}: the effect by month since the start (since the start as a whole: "
            "{effect}) and the recorded {noun} over the last {window} months against the counterfactual; a small "
            "map shows where the sector is.",
            sector=sector,
            effect=_pc(float(result.att_percent)) if np.isfinite(result.att_percent) else f"{result.att:.2f}",
            noun=_noun(noun),
            window=window,
        )
        return _described(fig, tr("Sector {sector}: event study and recorded path", sector=sector), alt)
