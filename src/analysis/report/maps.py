"""Maps of the program from the police-sector polygons (geopandas): where the program is and
since when, its neighbours, each sector's effect as a choropleth, and a small locator map.

A map shows places and percent effects only: no count is ever drawn on a map (counts from 1 to
4 are suppressed in tables; a map has no room to say why a number is missing). Fills are
chosen to read in greyscale: the start groups go from dark to light, the effect classes are
one hue from light to dark, and "not published" is hatched.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from analysis.report.figures import EDGE, GROUPS, OTHER, STYLE, _demo_mark, _described, _frame, _plot
from analysis.report.i18n import _, month, nt, tr
from analysis.report.i18n import pct as _pct

#: projected CRS for drawing Mexico City (UTM zone 14N, metres): shapes keep their proportions
CRS = "EPSG:32614"
NEIGHBOUR = "#bdbdbd"
#: effect classes (percent), from the largest fall to a rise; one hue, dark = larger fall
EFFECT_BINS = (-np.inf, -50, -25, -10, 0, np.inf)
EFFECT_COLOURS = ("#08306b", "#2171b5", "#6baed6", "#c6dbef", "#fdd0a2")


def load_sectors(path: str | Path):
    """The units' polygons as a GeoDataFrame in ``CRS``, one row per unit (``unit``): sectors, or
    cuadrantes when the file's features carry a ``cuadrante`` id (a panel by cuadrante)."""
    import json

    import geopandas as gpd

    from analysis.data.geography import read_geography

    feats = json.loads(Path(path).read_text(encoding="utf-8-sig")).get("features") or [{}]
    by_cuadrante = "cuadrante" in (feats[0].get("properties") or {})
    geo = read_geography(path, id_field="cuadrante" if by_cuadrante else "sector")
    g = gpd.GeoDataFrame(geo.sectors.rename(columns={"sector": "unit"}), geometry="geometry", crs="EPSG:4326")
    return g.to_crs(CRS)


def _keep_size(fig) -> None:
    """Keep the figure's full width in the saved image: the notebook saves figures cropped to what
    is drawn, and a city taller than wide would come out narrow (and be scaled up into a tall image
    that fills a printed page)."""
    for x, y in ((0.0, 0.0), (1.0, 1.0)):
        fig.text(x, y, "\u00a0", alpha=0.0)


#: a map of more polygons than this (a run by cuadrante) names none: their ids would cover them
MAX_NAMES = 100


def _names(ax, polygons, among: int) -> None:
    """Each polygon's sector id at a point inside it, dark on a white halo (legible on any fill);
    none on a map of more than ``MAX_NAMES`` polygons (``among``)."""
    import matplotlib.patheffects as pe

    if among > MAX_NAMES:
        return

    for unit, point in zip(polygons.unit, polygons.geometry.representative_point()):
        ax.annotate(
            str(unit),
            (point.x, point.y),
            ha="center",
            va="center",
            fontsize=6.5,
            fontweight="bold",
            path_effects=[pe.withStroke(linewidth=2.2, foreground="white")],
        )


def program_map(
    sectors,
    ctx,
    adjacency: pd.DataFrame | None = None,
    demo: bool = False,
    figsize: tuple[float, float] = (7.2, 4.6),
):
    """Program sectors by start group, the sectors that border them, and the others."""
    starts = ctx.panel.drop_duplicates("unit").set_index("unit").treat_start.dropna()
    groups = sorted(set(starts))
    neighbours: set[str] = set()
    if adjacency is not None and len(adjacency):
        a, b = adjacency.columns[:2]
        for x, y in zip(adjacency[a], adjacency[b]):
            if x in starts.index and y not in starts.index:
                neighbours.add(y)
            if y in starts.index and x not in starts.index:
                neighbours.add(x)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=figsize)
        _plot(sectors, ax, color=OTHER, edgecolor=EDGE, linewidth=0.5)
        near = sectors[sectors.unit.isin(neighbours)]
        _plot(near, ax, facecolor="white", edgecolor=NEIGHBOUR, linewidth=0.5, hatch="////")
        handles = []
        for i, g in enumerate(groups):
            units = list(starts.index[starts == g])
            colour = GROUPS[min(i, len(GROUPS) - 1)]
            _plot(sectors[sectors.unit.isin(units)], ax, color=colour, edgecolor="black", linewidth=0.6)
            handles.append(
                Patch(
                    facecolor=colour,
                    edgecolor="black",
                    label=nt(
                        "{n} sector from {start}", "{n} sectors from {start}", len(units), start=month(g, "short")
                    ),
                )
            )
        handles.append(
            Patch(
                facecolor="white",
                edgecolor=NEIGHBOUR,
                hatch="////",
                label=tr("Neighbouring sectors ({n})", n=len(near)),
            )
        )
        others = len(sectors) - len(near) - int(sectors.unit.isin(starts.index).sum())
        handles.append(Patch(facecolor=OTHER, edgecolor="#999999", label=tr("Other sectors ({n})", n=others)))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        _names(ax, sectors[sectors.unit.isin(starts.index)], among=len(sectors))
        _frame(ax)
        caption = _("Where the program operates: police sectors by start date, and their neighbours")
        _demo_mark(ax, demo)
        fig.tight_layout()
        _keep_size(fig)
        plt.close(fig)
    by_group = [
        nt("{n} sector from {start}", "{n} sectors from {start}", int((starts == g).sum()), start=month(g))
        for g in groups
    ]
    alt = tr(
        "Map of the city's {total} police sectors: {treated} in the program, started in {groups} groups "
        "({starts}); {near} neighbouring sectors hatched; the other {others} in light grey.",
        total=len(sectors),
        treated=int(sectors.unit.isin(starts.index).sum()),
        groups=len(groups),
        starts="; ".join(by_group),
        near=len(near),
        others=others,
    )
    return _described(fig, caption, alt)


def effect_map(sectors, table: pd.DataFrame, demo: bool = False, figsize: tuple[float, float] = (7.2, 4.4)):
    """Each program sector's effect since its start (percent) in classes; sectors whose estimate
    is not published are hatched, the others left light grey. ``table``: ``report.sectors.sector_rows``."""
    t = table.copy()
    t["shown"] = ~t.get("suppressed", pd.Series(False, index=t.index)).astype(bool) & np.isfinite(
        t.percent.astype(float)
    )
    labels = [
        _("fall of more than 50%"),
        _("fall of 25% to 50%"),
        _("fall of 10% to 25%"),
        _("fall of less than 10%"),
        _("rise"),
    ]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=figsize)
        _plot(sectors, ax, color=OTHER, edgecolor=EDGE, linewidth=0.5)
        handles = []
        shown = t[t.shown]
        cls = pd.cut(shown.percent.astype(float), EFFECT_BINS, labels=False, right=False)
        used = set(cls.dropna().astype(int))
        for k, (colour, label) in enumerate(zip(EFFECT_COLOURS, labels)):
            units = list(shown.sector[cls == k])
            _plot(sectors[sectors.unit.isin(units)], ax, color=colour, edgecolor="black", linewidth=0.6)
            if k in used:
                handles.append(Patch(facecolor=colour, edgecolor="black", label=label))
        hidden = list(t.sector[~t.shown])
        if hidden:
            _plot(sectors[sectors.unit.isin(hidden)], ax, color="white", edgecolor="black", linewidth=0.6, hatch="xxx")
            handles.append(Patch(facecolor="white", edgecolor="black", hatch="xxx", label=_("not published")))
        handles.append(Patch(facecolor=OTHER, edgecolor="#999999", label=_("not in the program")))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=8,
            frameon=False,
            title=_("Effect since the start"),
            title_fontsize=8,
        )
        _names(ax, sectors[sectors.unit.isin(list(t.sector))], among=len(sectors))
        _frame(ax)
        caption = _("The effect in each program sector since its start")
        _demo_mark(ax, demo)
        fig.tight_layout()
        _keep_size(fig)
        plt.close(fig)
    if len(shown):
        best, worst = shown.loc[shown.percent.idxmin()], shown.loc[shown.percent.idxmax()]
        alt = tr(
            "Choropleth map of the effect in each of {n} program sectors: from {low} in sector {low_sector} to {high} "
            "in sector {high_sector}.",
            n=len(t),
            low=_pct(float(best.percent)),
            low_sector=best.sector,
            high=_pct(float(worst.percent)),
            high_sector=worst.sector,
        ) + (" " + tr("{n} not published.", n=len(hidden)) if hidden else "")
    else:
        alt = _("Map of the program sectors; no sector's effect can be published.")
    return _described(fig, caption, alt)
