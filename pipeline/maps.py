"""Maps of the exported transmission tables: static choropleths (PNG, PDF) and one offline HTML map.

Reads only what may leave the secure environment (``reports/tables/transmission_{level}.csv``,
methodology §11) and the area geometries. A withheld value (empty cell) is drawn hatched and named
in the legend, never coloured. The HTML map carries Leaflet inline (``pipeline/assets/leaflet``)
and loads nothing from the network, since CBS Remote Access has none.

Run as ``python -m pipeline maps --areas AREAS.parquet --tables-dir reports/tables
--out-dir figures``.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import inspect
import json
import logging
import os
import re
import sys
import textwrap
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import folium
import geopandas as gpd
import mapclassify
import matplotlib
import numpy as np
import pandas as pd
from branca.element import Element
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

logger = logging.getLogger(__name__)

LEVELS = ("buurt", "wijk", "gemeente")
LEVEL_PLURAL = {"buurt": "buurten", "wijk": "wijken", "gemeente": "gemeenten"}
LAYER_NAMES = {"buurt": "Buurten", "wijk": "Wijken", "gemeente": "Gemeenten"}
RD_NEW = "EPSG:28992"

WITHHELD_LABEL = "Niet gepubliceerd (te weinig waarnemingen)"
SYNTHETIC_LABEL = "SYNTHETISCHE DATA"
SYNTHETIC_SOURCE_LINE = "Bron: CBS microdata (synthetisch), eigen bewerking"
REAL_SOURCE_LINE = "Bron: CBS microdata, eigen bewerking"

# YlOrRd is ColorBrewer's colour-blind-safe sequential scheme and its lightness falls monotonically,
# so the classes stay in order in grey print. The ends are cut off: the palest yellow would be
# hard to tell from the light grey of withheld areas and from the paper. Measures where a high
# value is good news (an expected income rank) get ColorBrewer's YlGnBu, equally safe and monotone,
# so that red always means "more poverty passed on" and a reader never reads a rank map as a risk.
DEFAULT_CMAP = "YlOrRd"
GOOD_CMAP = "YlGnBu"
CMAP_RANGE = (0.12, 0.95)
WITHHELD_FACE = "#eeeeee"
WITHHELD_EDGE = "#9a9a9a"
WITHHELD_HATCH = "////"
# Areas whose estimate is published but mostly noise (reliability below the threshold) are
# stippled: dots survive grey print and need no colour to be seen.
LOW_RELIABILITY_HATCH = "..."
LOW_RELIABILITY_EDGE = "#1a1a1a"
LOW_RELIABILITY_PATTERN_ID = "vk-lage-betrouwbaarheid"
DEFAULT_LOW_RELIABILITY = 0.5
HATCH_PATTERN_ID = "vk-niet-gepubliceerd"

AREA_COLUMNS = ("area_code", "area_name", "level", "gemeente_code", "geometry")
TABLE_COLUMNS = ("area_code", "area_name", "level", "n_children", "n_parents_poor", "suppressed")
ASSETS_DIR = Path(__file__).resolve().parent / "assets" / "leaflet"

MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december")


class MapInputError(ValueError):
    """An input table, column or geometry the maps cannot be drawn from."""


@dataclass(frozen=True)
class MeasureInfo:
    """How a measure is named and printed: ``unit`` is "pct" (fraction shown as %), "rank"
    (rank 0-1 shown as percentile 0-100) or "ratio" (shown as a plain number)."""

    title: str
    label: str
    unit: str
    higher_is_better: bool = False

    @property
    def cmap(self) -> str:
        """The colour map that goes from light to dark as the measure gets worse or better."""
        return GOOD_CMAP if self.higher_is_better else DEFAULT_CMAP


MEASURES: dict[str, MeasureInfo] = {
    "outflow": MeasureInfo(
        "Kans op armoede als jongvolwassene bij arme ouders (uitstroom)", "Uitstroom", "pct"),
    "p_child_poor_parents_not_poor": MeasureInfo(
        "Kans op armoede als jongvolwassene bij niet-arme ouders",
        "Kans bij niet-arme ouders", "pct"),
    "risk_ratio": MeasureInfo(
        "Relatief risico op armoede als jongvolwassene: arme t.o.v. niet-arme ouders",
        "Relatief risico", "ratio"),
    "inflow": MeasureInfo(
        "Aandeel met arme ouders onder arme jongvolwassenen (instroom)", "Instroom", "pct"),
    "abs_mobility_p25": MeasureInfo(
        "Verwachte inkomensrang als jongvolwassene bij ouders op het 25e percentiel "
        "(absolute mobiliteit)", "Verwachte rang (p25)", "rank", True),
    "rank_slope": MeasureInfo(
        "Samenhang tussen de inkomensrang van ouders en kind (rang-rangcoëfficiënt)",
        "Rang-rangcoëfficiënt", "ratio"),
    "kk_p25": MeasureInfo(
        "Verwachte inkomensrang als jongvolwassene bij ouders rond het 25e percentiel "
        "(lokale schatting)", "Verwachte rang (p15-p35)", "rank", True),
    "p_q1_q1": MeasureInfo(
        "Kans om als kind van ouders in het laagste inkomenskwintiel zelf in het laagste "
        "kwintiel te belanden", "Laagste naar laagste kwintiel", "pct"),
    "p_q5_q1": MeasureInfo(
        "Kans om als kind van ouders in het laagste inkomenskwintiel het hoogste kwintiel "
        "te bereiken", "Laagste naar hoogste kwintiel", "pct", True),
}
UNIT_LEGEND = {"pct": "Percentage", "rank": "Percentielrang (0-100)", "ratio": "Waarde"}


# --------------------------------------------------------------------------- measures, formats

def measure_info(measure: str) -> MeasureInfo:
    """Return the Dutch title, label and unit of ``measure`` (a §7 column, or one with ``_eb``).

    Parameters
    ----------
    measure : str
        Column name such as ``"outflow"`` or ``"outflow_eb"``.
    """
    base = measure[: -len("_eb")] if measure.endswith("_eb") else measure
    if base not in MEASURES:
        raise MapInputError(
            f"unknown measure {measure!r}; choose from {', '.join(MEASURES)} (optionally + '_eb')")
    info = MEASURES[base]
    if base == measure:
        return info
    return MeasureInfo(info.title + " – gekrompen schatting (empirisch Bayes)",
                       info.label + " (gekrompen)", info.unit, info.higher_is_better)


def _base_measure(measure: str) -> str:
    return measure[: -len("_eb")] if measure.endswith("_eb") else measure


def _number(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}".replace(".", ",")


def format_value(value: float | None, unit: str) -> str:
    """Format one value the Dutch way (decimal comma); an empty value reads "niet gepubliceerd".

    Parameters
    ----------
    value : float or None
        A fraction for "pct" and "rank", any number for "ratio".
    unit : {"pct", "rank", "ratio"}
    """
    if value is None or not np.isfinite(value):
        return "niet gepubliceerd"
    if unit == "pct":
        return _number(100 * value, 1) + "%"
    if unit == "rank":
        return _number(100 * value, 1)
    return _number(value, 2)


def format_range(low: float, high: float, unit: str) -> str:
    """Format an interval or class range as "30,0–60,0%" (the unit once, at the end).

    Parameters
    ----------
    low, high : float
    unit : {"pct", "rank", "ratio"}
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    a, b = format_value(low, unit), format_value(high, unit)
    if unit == "pct":
        a = a.rstrip("%")
    return f"{a}–{b}"


def format_count(value: float | None) -> str:
    """Format a count; an empty count reads "niet gepubliceerd"."""
    if value is None or not np.isfinite(value):
        return "niet gepubliceerd"
    return f"{int(round(value)):,}".replace(",", ".")


def _n_classes(k: int) -> str:
    return f"{k} klasse" if k == 1 else f"{k} klassen"


def _format_date(date: dt.date | str | None) -> str:
    if date is None:
        date = dt.date.today()
    if isinstance(date, str):
        return date
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


# --------------------------------------------------------------------------- joining and classes

def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MapInputError(f"{what}: missing column(s) {', '.join(missing)}")


def join_areas(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    level: str,
    gemeenten: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Attach one level's table rows to that level's geometries, one row per area.

    Every area of the level must have exactly one table row and every table row a geometry
    (§11 lists every area, also those without children); a mismatch means the table and the
    geometries come from different geography years, and fails.

    Parameters
    ----------
    table : DataFrame
        ``transmission_{level}.csv`` as read.
    areas : GeoDataFrame
        All areas of the region at all levels (columns ``area_code, area_name, level,
        gemeente_code, geometry``).
    level : {"buurt", "wijk", "gemeente"}
    gemeenten : sequence of str, optional
        Gemeente codes (``"GM0765"``) to keep; all when omitted.
    """
    if level not in LEVELS:
        raise MapInputError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    _require_columns(areas, AREA_COLUMNS, "areas")
    _require_columns(table, ("area_code",), f"transmission_{level}")
    if "level" in table.columns:
        other = sorted(set(table["level"].dropna()) - {level})
        if other:
            raise MapInputError(f"transmission_{level}: rows of level(s) {other}")
    dupes = table["area_code"][table["area_code"].duplicated()]
    if len(dupes):
        raise MapInputError(f"transmission_{level}: area_code repeated: {sorted(set(dupes))[:5]}")

    at_level = areas[areas["level"] == level]
    no_geometry = sorted(set(table["area_code"]) - set(at_level["area_code"]))
    if no_geometry:
        raise MapInputError(
            f"transmission_{level}: {len(no_geometry)} area(s) without a {level} geometry, "
            f"e.g. {no_geometry[:5]}")
    if gemeenten is not None:
        unknown = sorted(set(gemeenten) - set(areas["gemeente_code"]))
        if unknown:
            raise MapInputError(f"gemeenten not in the areas file: {unknown}")
        at_level = at_level[at_level["gemeente_code"].isin(list(gemeenten))]
    rows_in = len(at_level)
    values = table.drop(columns=[c for c in ("area_name", "level") if c in table.columns])
    joined = at_level.merge(values, on="area_code", how="left", validate="1:1", indicator=True)
    no_row = joined.loc[joined["_merge"] == "left_only", "area_code"].tolist()
    if no_row:
        raise MapInputError(
            f"transmission_{level}: {len(no_row)} {level} area(s) without a table row, "
            f"e.g. {sorted(no_row)[:5]}")
    logger.info("%s: %d areas, %d matched a table row", level, rows_in, len(joined))
    return gpd.GeoDataFrame(joined.drop(columns="_merge"), geometry="geometry", crs=areas.crs)


@dataclass(frozen=True)
class Classes:
    """Classes of the published values: ``yb`` is the class per area (-1 where withheld);
    class i runs from ``lows[i]`` to ``bins[i]``, holds ``counts[i]`` areas whose values lie
    between ``mins[i]`` and ``maxs[i]`` (NaN for an empty class)."""

    yb: np.ndarray
    bins: tuple[float, ...]
    lows: tuple[float, ...]
    counts: tuple[int, ...]
    mins: tuple[float, ...]
    maxs: tuple[float, ...]

    @property
    def k(self) -> int:
        return len(self.bins)


def _make_classifier(scheme: str, values: np.ndarray, k: int):
    """Return the fitted mapclassify classifier named ``scheme`` (case and "_" ignored)."""
    names = {name.lower(): name for name in mapclassify.CLASSIFIERS}
    key = scheme.replace("_", "").replace(" ", "").lower()
    if key not in names or key == "userdefined":
        raise MapInputError(
            f"unknown classification scheme {scheme!r}; choose from "
            f"{', '.join(n for n in mapclassify.CLASSIFIERS if n != 'UserDefined')}")
    cls = getattr(mapclassify, names[key])
    kwargs = {"k": k} if "k" in inspect.signature(cls).parameters else {}
    # NaturalBreaks (k-means) and the sampled schemes draw from numpy's global generator: fix it
    # so the same table always gives the same map, and leave the caller's generator as it was.
    state = np.random.get_state()
    np.random.seed(0)
    try:
        return cls(values, **kwargs)
    finally:
        np.random.set_state(state)


def classify_values(values: pd.Series | np.ndarray, *, scheme: str = "NaturalBreaks",
                    k: int = 5) -> Classes:
    """Put the published (finite) values into at most ``k`` classes with a mapclassify scheme.

    Parameters
    ----------
    values : Series or array
        One value per area; NaN (withheld) gets class -1.
    scheme : str
        A mapclassify classifier name, e.g. "NaturalBreaks", "FisherJenks", "Quantiles".
    k : int
        Number of classes, lowered to the number of distinct values when there are fewer.
    """
    if k < 1:
        raise MapInputError(f"k must be at least 1, not {k}")
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(y)
    yb = np.full(len(y), -1, dtype=int)
    published = y[ok]
    if len(published) == 0:
        return Classes(yb, (), (), (), (), ())
    distinct = np.unique(published)
    if len(distinct) == 1:
        yb[ok] = 0
        only = (float(distinct[0]),)
        return Classes(yb, only, only, (int(ok.sum()),), only, only)
    classifier = _make_classifier(scheme, published, min(k, len(distinct)))
    bins = [float(b) for b in classifier.bins]
    yb[ok] = np.asarray(classifier.yb, dtype=int)
    lows = [float(published.min())] + bins[:-1]
    members = [y[yb == i] for i in range(len(bins))]
    return Classes(yb, tuple(bins), tuple(lows), tuple(len(m) for m in members),
                   tuple(float(m.min()) if len(m) else np.nan for m in members),
                   tuple(float(m.max()) if len(m) else np.nan for m in members))


def low_reliability_mask(table: pd.DataFrame, measure: str, *,
                         threshold: float | None = DEFAULT_LOW_RELIABILITY) -> np.ndarray:
    """Return True for the areas whose ``measure`` is published but has a reliability (§9,
    the share of the spread between areas that is signal) below ``threshold``.

    Parameters
    ----------
    table : DataFrame
        Rows of one level with ``measure`` and, where §9 defines one, ``{base}_reliability``.
    measure : str
        The mapped column (raw or ``_eb``); both use the raw estimate's reliability.
    threshold : float or None
        ``None`` marks nothing; so does a table without a reliability column.
    """
    column = f"{_base_measure(measure)}_reliability"
    if threshold is None or column not in table.columns:
        return np.zeros(len(table), dtype=bool)
    value = pd.to_numeric(table[measure], errors="coerce").to_numpy(dtype=float)
    reliability = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    return np.isfinite(value) & np.isfinite(reliability) & (reliability < threshold)


def low_reliability_label(threshold: float) -> str:
    """Legend text of the stippled areas, e.g. "Onzeker: betrouwbaarheid onder 0,50"."""
    return f"Onzeker: betrouwbaarheid onder {_number(threshold, 2)}"


def class_colours(k: int, *, cmap: str = DEFAULT_CMAP) -> list[str]:
    """Return ``k`` hex colours from light (low) to dark (high) along ``cmap``."""
    if k == 0:
        return []
    colormap = matplotlib.colormaps[cmap]
    positions = [float(np.mean(CMAP_RANGE))] if k == 1 else np.linspace(*CMAP_RANGE, k)
    return [matplotlib.colors.to_hex(colormap(p)) for p in positions]


def class_labels(classes: Classes, unit: str) -> list[str]:
    """Return one legend label per class: the range of the values in it (as %, for proportions).

    The values' own range rather than the breaks, so that neighbouring labels never share an
    end point ("12,0–20,0%", "27,0–33,0%"); an empty class shows its breaks.
    """
    labels = []
    for i in range(classes.k):
        low, high = classes.mins[i], classes.maxs[i]
        if not np.isfinite(low):  # empty class, e.g. the lowest whisker of BoxPlot
            if i == 0:
                labels.append("t/m " + format_value(classes.bins[0], unit))
                continue
            low, high = classes.bins[i - 1], classes.bins[i]
        a, b = format_value(low, unit), format_value(high, unit)
        labels.append(b if a == b else format_range(low, high, unit))
    return labels


# --------------------------------------------------------------------------- static maps

def _nice_length_km(span_m: float) -> float:
    target = span_m / 5 / 1000
    for length in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 25, 50, 100):
        if length >= target:
            return length
    return 100.0


def _km(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else _number(value, 1)


STRIP = 0.14  # share of the map height kept free below the areas for scale bar and north arrow


def _fit_limits(bounds: Sequence[float],
                box_ratio: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Pad the data bounds to the axes' width/height ratio, with a free strip at the bottom of at
    least :data:`STRIP` of the final height."""
    xmin, ymin, xmax, ymax = bounds
    width, height = max(xmax - xmin, 1.0), max(ymax - ymin, 1.0)
    xmin, xmax, ymax = xmin - 0.04 * width, xmax + 0.04 * width, ymax + 0.04 * height
    total = (ymax - ymin) / (1 - STRIP)
    ymin = ymax - total
    width, height = xmax - xmin, ymax - ymin
    if width / height < box_ratio:
        extra = (height * box_ratio - width) / 2
        xmin, xmax = xmin - extra, xmax + extra
    else:
        extra = width / box_ratio - height
        ymin, ymax = ymin - extra / 2, ymax + extra / 2
    return (xmin, xmax), (ymin, ymax)


def _draw_scale_bar_and_arrow(ax, *, bounds: Sequence[float], xlim: tuple[float, float],
                              ylim: tuple[float, float]) -> None:
    """Draw a km scale bar (lower left) and a north arrow (lower right) in the strip below the
    areas; the axes are in RD metres."""
    data_xmin, data_ymin, data_xmax, _ = bounds
    height = ylim[1] - ylim[0]
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    length_m = _nice_length_km(data_xmax - data_xmin) * 1000
    y0, bar_h = data_ymin - 0.10 * height, 0.012 * height
    for i, face in enumerate(("#000000", "#ffffff")):
        ax.add_patch(Rectangle((data_xmin + i * length_m / 2, y0), length_m / 2, bar_h,
                               facecolor=face, edgecolor="#000000", linewidth=0.7, zorder=7))
    for frac in (0, 0.5, 1):
        text = _km(frac * length_m / 1000) + (" km" if frac == 1 else "")
        ax.text(data_xmin + frac * length_m, y0 + bar_h * 1.8, text, ha="center", va="bottom",
                fontsize=8, zorder=7, path_effects=halo)
    # RD grid north lies within 2 degrees of true north over the Veenkoloniën: an upright arrow.
    x_arrow = data_xmax - 0.01 * (xlim[1] - xlim[0])
    ax.annotate("", xy=(x_arrow, data_ymin - 0.045 * height),
                xytext=(x_arrow, data_ymin - 0.115 * height),
                arrowprops={"arrowstyle": "-|>", "color": "#000000", "lw": 1.6,
                            "mutation_scale": 16}, zorder=7)
    ax.text(x_arrow, data_ymin - 0.04 * height, "N", ha="center", va="bottom", fontsize=11,
            fontweight="bold", zorder=7, path_effects=halo)


def frame_map(ax, *, gemeenten: gpd.GeoDataFrame, bounds, map_box: tuple[float, float, float, float],
              figsize: tuple[float, float]) -> None:
    """Gemeente borders and names over the areas, limits fitted to the axes box, scale bar and
    north arrow: the frame every static map of the project shares."""
    if len(gemeenten):
        gemeenten.boundary.plot(ax=ax, color="#1a1a1a", linewidth=1.4, zorder=5)
        halo = [patheffects.withStroke(linewidth=3, foreground="white")]
        for name, point in zip(gemeenten["area_name"], gemeenten.geometry.representative_point()):
            ax.text(point.x, point.y, str(name), ha="center", va="center", fontsize=9,
                    fontweight="bold", color="#111111", zorder=6, path_effects=halo)
    box_ratio = (map_box[2] * figsize[0]) / (map_box[3] * figsize[1])
    xlim, ylim = _fit_limits(bounds, box_ratio)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    _draw_scale_bar_and_arrow(ax, bounds=bounds, xlim=xlim, ylim=ylim)


def make_static_map(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    measure: str = "outflow",
    level: str,
    gemeenten: Sequence[str] | None = None,
    title: str | None = None,
    scheme: str = "NaturalBreaks",
    k: int = 5,
    synthetic: bool = True,
    source_line: str | None = None,
    date: dt.date | str | None = None,
    cmap: str | None = None,
    low_reliability: float | None = DEFAULT_LOW_RELIABILITY,
    figsize: tuple[float, float] = (10.0, 8.5),
) -> Figure:
    """Draw one level's choropleth and return the Figure, unsaved (see :func:`plot_static_map`).

    The map axes carry the label "kaart" and the legend axes "legenda"; the withheld areas are
    one hatched collection with gid "niet_gepubliceerd", the classes collections "klasse_{i}",
    and the stippled overlay of low-reliability areas "lage_betrouwbaarheid".

    Parameters
    ----------
    table : DataFrame
        ``transmission_{level}.csv`` as read by :func:`read_transmission_table`.
    areas : GeoDataFrame
        All areas of the region at all levels, in EPSG:28992.
    measure : str
        Column to map, see :data:`MEASURES` (or with ``_eb`` for the shrunk estimate).
    level : {"buurt", "wijk", "gemeente"}
    gemeenten : sequence of str, optional
        Gemeente codes to draw; all when omitted.
    title : str, optional
        Replaces the Dutch title of the measure.
    scheme, k : str, int
        mapclassify scheme name and number of classes.
    synthetic : bool
        Mark the map "SYNTHETISCHE DATA" (and default the source line to say so).
    source_line : str, optional
        Bottom line; defaults to :data:`SYNTHETIC_SOURCE_LINE` or :data:`REAL_SOURCE_LINE`.
    date : date or str, optional
        Printed after the source line; today when omitted.
    cmap : str, optional
        Sequential matplotlib colour map; by default YlOrRd, or YlGnBu where a high value is
        good news (see :attr:`MeasureInfo.cmap`).
    low_reliability : float or None
        Published areas whose ``{measure}_reliability`` lies below this are stippled and
        counted in the legend; ``None`` (or a table without that column) marks nothing.
    figsize : (float, float)
        Figure size in inches.
    """
    info = measure_info(measure)
    cmap = cmap or info.cmap
    _require_columns(table, (measure,), f"transmission_{level}")
    gdf = join_areas(table, areas, level=level, gemeenten=gemeenten)
    if gdf.empty:
        raise MapInputError(f"no {level} areas to draw for gemeenten {list(gemeenten or [])}")
    classes = classify_values(gdf[measure], scheme=scheme, k=k)
    colours = class_colours(classes.k, cmap=cmap)
    gm = areas[areas["level"] == "gemeente"]
    if gemeenten is not None:
        gm = gm[gm["gemeente_code"].isin(list(gemeenten))]

    fig = Figure(figsize=figsize)
    map_box = (0.01, 0.07, 0.66, 0.80)
    ax = fig.add_axes(map_box, label="kaart")
    lax = fig.add_axes((0.69, 0.07, 0.30, 0.80), label="legenda")
    lax.set_axis_off()
    ax.set_axis_off()

    edge = {"buurt": 0.25, "wijk": 0.4, "gemeente": 0.6}[level]
    for i, colour in enumerate(colours):
        in_class = gdf[classes.yb == i]
        if len(in_class):
            in_class.plot(ax=ax, facecolor=colour, edgecolor="white", linewidth=edge)
            ax.collections[-1].set_gid(f"klasse_{i}")
    withheld = gdf[classes.yb == -1]
    if len(withheld):
        withheld.plot(ax=ax, facecolor=WITHHELD_FACE, edgecolor=WITHHELD_EDGE,
                      hatch=WITHHELD_HATCH, linewidth=edge)
        ax.collections[-1].set_gid("niet_gepubliceerd")
    unreliable = gdf[low_reliability_mask(gdf, measure, threshold=low_reliability)]
    if len(unreliable):
        # The hatch takes the edge colour; a zero-width outline keeps the class borders white.
        unreliable.plot(ax=ax, facecolor="none", edgecolor=LOW_RELIABILITY_EDGE,
                        hatch=LOW_RELIABILITY_HATCH, linewidth=0.0)
        ax.collections[-1].set_gid("lage_betrouwbaarheid")
    frame_map(ax, gemeenten=gm, bounds=gdf.total_bounds, map_box=map_box, figsize=figsize)

    unit = info.unit
    def count(n: int) -> str:
        return f"({n} {LEVEL_PLURAL[level] if n != 1 else level})"

    handles = [Patch(facecolor=c, edgecolor="#808080", linewidth=0.5, label=f"{label}  {count(n)}")
               for c, label, n in zip(colours, class_labels(classes, unit), classes.counts)]
    handles.append(Patch(facecolor=WITHHELD_FACE, edgecolor=WITHHELD_EDGE, hatch=WITHHELD_HATCH,
                         linewidth=0.5,
                         label=textwrap.fill(f"{WITHHELD_LABEL}  {count(len(withheld))}", 30)))
    if len(unreliable):
        handles.append(Patch(facecolor="white", edgecolor=LOW_RELIABILITY_EDGE,
                             hatch=LOW_RELIABILITY_HATCH, linewidth=0.5,
                             label=textwrap.fill(
                                 f"{low_reliability_label(low_reliability)}  "
                                 f"{count(len(unreliable))}", 30)))
    legend_title = f"{UNIT_LEGEND[unit]}\nindeling: {scheme}, {_n_classes(classes.k)}"
    lax.legend(handles=handles, loc="upper left", title=legend_title, frameon=False, fontsize=9,
               title_fontsize=9.5, handlelength=2.2, handleheight=1.6, borderaxespad=0.0,
               alignment="left")

    heading = textwrap.wrap(title or info.title, width=72)
    fig.text(0.01, 0.975, "\n".join(heading), fontsize=14, fontweight="bold", va="top")
    n_areas = len(gdf)
    subtitle = (f"Per {level} van opgroeien · {n_areas - len(withheld)} van {n_areas} "
                f"{LEVEL_PLURAL[level]} gepubliceerd")
    fig.text(0.01, 0.975 - 0.032 * len(heading) - 0.006, subtitle, fontsize=10, va="top",
             color="#333333")
    source = source_line or (SYNTHETIC_SOURCE_LINE if synthetic else REAL_SOURCE_LINE)
    fig.text(0.01, 0.02, f"{source} · {_format_date(date)}", fontsize=8, color="#333333")
    if synthetic:
        ax.text(0.5, 0.5, SYNTHETIC_LABEL, transform=ax.transAxes, rotation=30, fontsize=40,
                fontweight="bold", color="#b00000", alpha=0.22, ha="center", va="center",
                zorder=8)
        fig.text(0.99, 0.02, f"{SYNTHETIC_LABEL}: geen echte cijfers", fontsize=8,
                 fontweight="bold", color="#b00000", ha="right")
    return fig


def _write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder and rename, so a failure leaves no
    half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name rather than mkstemp, whose 0600 mode the renamed figure would keep.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_figure(fig: Figure, path: Path, *, dpi: int = 200) -> Path:
    """Save ``fig`` atomically as PNG or PDF (by suffix), without timestamps in the metadata."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in {"png", "pdf"}:
        raise MapInputError(f"{path}: figures are written as .png or .pdf")
    metadata = {"Software": None} if fmt == "png" else {"Creator": None, "Producer": None,
                                                         "CreationDate": None}
    return _write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi,
                                                       metadata=metadata, facecolor="white"))


def plot_static_map(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    measure: str = "outflow",
    level: str,
    gemeenten: Sequence[str] | None = None,
    title: str | None = None,
    out_png: Path | None,
    out_pdf: Path | None,
    scheme: str = "NaturalBreaks",
    k: int = 5,
    synthetic: bool = True,
    source_line: str | None = None,
    date: dt.date | str | None = None,
    cmap: str | None = None,
    low_reliability: float | None = DEFAULT_LOW_RELIABILITY,
    dpi: int = 200,
) -> list[Path]:
    """Draw one level's choropleth and write it as PNG and/or PDF; return the paths written.

    Parameters
    ----------
    out_png, out_pdf : Path or None
        Where to write; ``None`` skips that format.
    dpi : int
        Resolution of the PNG (at least 150).

    The other parameters are those of :func:`make_static_map`.
    """
    if dpi < 150:
        raise MapInputError(f"dpi must be at least 150, not {dpi}")
    fig = make_static_map(table, areas, measure=measure, level=level, gemeenten=gemeenten,
                          title=title, scheme=scheme, k=k, synthetic=synthetic,
                          source_line=source_line, date=date, cmap=cmap,
                          low_reliability=low_reliability)
    return [save_figure(fig, Path(p), dpi=dpi) for p in (out_png, out_pdf) if p is not None]


# --------------------------------------------------------------------------- interactive map

def _leaflet_assets() -> tuple[str, str]:
    """Return Leaflet's JavaScript and CSS (its layer-control icons inlined as data URIs).

    The files are vendored in ``pipeline/assets/leaflet``; an installed ``XStatic-Leaflet``
    (PyPI) serves as a fallback where the package was installed without them.
    """
    folder = ASSETS_DIR
    if not (folder / "leaflet.js").is_file():
        try:
            from xstatic.pkg import leaflet as xstatic_leaflet  # type: ignore[import-not-found]
        except ImportError:
            raise MapInputError(f"Leaflet not found: neither {ASSETS_DIR} "
                                "nor the XStatic-Leaflet package") from None
        folder = Path(xstatic_leaflet.BASE_DIR)
    # The source map is not shipped; its comment would only make developer tools look for it.
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "",
                (folder / "leaflet.js").read_text(encoding="utf-8"))
    css = (folder / "leaflet.css").read_text(encoding="utf-8")
    for image in ("layers.png", "layers-2x.png"):
        path = folder / "images" / image
        if path.is_file():
            uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            css = css.replace(f"url(images/{image})", f"url({uri})")
    if "</script" in js.lower() or "</style" in css.lower():
        raise MapInputError(f"{folder}: Leaflet files cannot be inlined as they are")
    return js, css


def format_tooltip(row: Mapping, *, measure: str,
                   low_reliability: float | None = DEFAULT_LOW_RELIABILITY) -> str:
    """Return the tooltip HTML of one area: name, code, value, 95% interval, counts,
    reliability and why anything was withheld.

    Parameters
    ----------
    row : mapping
        One joined row (table columns plus ``area_name``).
    measure : str
        The mapped column.
    low_reliability : float or None
        A reliability below this is followed by "(onzeker)".
    """
    info = measure_info(measure)
    base = _base_measure(measure)
    base_info = measure_info(base)

    def get(column: str) -> float:
        value = row.get(column, np.nan)
        try:
            return float(value)
        except (TypeError, ValueError):
            return np.nan

    value = get(base)
    interval = format_range(get(f"{base}_ci_low"), get(f"{base}_ci_high"), base_info.unit)
    shown = format_value(value, base_info.unit)
    if interval:
        shown += f" (95%-interval {interval})"
    rows = [(base_info.label, shown)]
    if measure != base or f"{base}_eb" in row:
        rows.append(("Gekrompen schatting", format_value(get(f"{base}_eb"), info.unit)))
    if f"{base}_reliability" in row:
        reliability = get(f"{base}_reliability")
        shown_r = _number(reliability, 2) if np.isfinite(reliability) else "niet gepubliceerd"
        if (low_reliability is not None and np.isfinite(reliability)
                and reliability < low_reliability):
            shown_r += " (onzeker)"
        rows.append(("Betrouwbaarheid", shown_r))
    rows.append(("Kinderen (n)", format_count(get("n_children"))))
    rows.append(("Met arme ouders (n)", format_count(get("n_parents_poor"))))
    reason = row.get("suppressed", "")
    reason = "" if not isinstance(reason, str) else reason.strip()
    rows.append(("Reden niet gepubliceerd", reason or "-"))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return (f"<div class='vk-tip'><b>{html.escape(str(row.get('area_name', '')))}</b> "
            f"<span class='vk-code'>{html.escape(str(row.get('area_code', '')))}</span>"
            f"<table>{cells}</table></div>")


def _round_coordinates(obj, decimals: int):
    if isinstance(obj, float):
        return round(obj, decimals)
    if isinstance(obj, (list, tuple)):
        return [_round_coordinates(o, decimals) for o in obj]
    return obj


def _to_geojson(gdf: gpd.GeoDataFrame, properties: Sequence[str], *, simplify_m: float) -> dict:
    """GeoJSON in EPSG:4326 with the given properties, simplified in metres, rounded to ~1 m."""
    geometry = gdf.geometry
    if simplify_m > 0:
        geometry = geometry.simplify(simplify_m, preserve_topology=True)
    geometry = gpd.GeoSeries(geometry, crs=gdf.crs).to_crs("EPSG:4326")
    features = []
    for (_, row), geom in zip(gdf.iterrows(), geometry):
        if geom is None or geom.is_empty:
            logger.warning("%s: empty geometry, left off the HTML map", row.get("area_code"))
            continue
        shape = dict(geom.__geo_interface__)
        if "coordinates" in shape:  # a GeometryCollection is passed on unrounded
            shape["coordinates"] = _round_coordinates(shape["coordinates"], 5)
        features.append({"type": "Feature", "properties": {p: row[p] for p in properties},
                         "geometry": shape})
    return {"type": "FeatureCollection", "features": features}


def _legend_html(layer: str, heading: str, classes: Classes, colours: list[str], unit: str, *,
                 scheme: str, shown: bool, n_unreliable: int = 0,
                 low_reliability: float | None = None, title: str = "") -> str:
    items = []
    for colour, label, n in zip(colours, class_labels(classes, unit), classes.counts):
        items.append(f"<div class='vk-item'><span class='vk-swatch' style='background:{colour}'>"
                     f"</span>{html.escape(label)} <span class='vk-n'>({n})</span></div>")
    n_withheld = int((classes.yb == -1).sum())
    items.append(f"<div class='vk-item'><span class='vk-swatch vk-hatch'></span>"
                 f"{html.escape(WITHHELD_LABEL)} <span class='vk-n'>({n_withheld})</span></div>")
    if n_unreliable and low_reliability is not None:
        items.append(f"<div class='vk-item'><span class='vk-swatch vk-dots'></span>"
                     f"{html.escape(low_reliability_label(low_reliability))} "
                     f"<span class='vk-n'>({n_unreliable})</span></div>")
    display = "block" if shown else "none"
    return (f"<div class='vk-legend-level' data-layer='{html.escape(layer, quote=True)}' "
            f"data-title='{html.escape(title, quote=True)}' "
            f"style='display:{display}'><div class='vk-legend-title'>{html.escape(heading)}: "
            f"{UNIT_LEGEND[unit].lower()}</div>{''.join(items)}"
            f"<div class='vk-n'>indeling: {html.escape(scheme)}, {_n_classes(classes.k)}</div></div>")


PAGE_CSS = """
.leaflet-container { background: #ffffff; }
.vk-box { position: fixed; z-index: 1000; background: rgba(255,255,255,0.93); padding: 8px 10px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 13px/1.35 Arial, sans-serif; }
.vk-title { top: 10px; left: 55px; max-width: 52%; }
.vk-title h1 { font-size: 15px; margin: 0 0 3px 0; }
.vk-badge { display: inline-block; color: #ffffff; background: #b00000; font-weight: bold;
  padding: 1px 6px; border-radius: 3px; margin-top: 3px; }
.vk-legend { bottom: 24px; right: 10px; max-width: 300px; }
.vk-legend-title { font-weight: bold; margin-bottom: 4px; }
.vk-item { margin: 2px 0; }
.vk-swatch { display: inline-block; width: 22px; height: 14px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #808080; }
.vk-hatch { background: repeating-linear-gradient(45deg, #9a9a9a 0 1.5px, #eeeeee 1.5px 5px); }
.vk-dots { background: radial-gradient(#1a1a1a 1px, #ffffff 1.3px) 0 0 / 5px 5px; }
.vk-n { color: #555555; font-size: 11px; }
.vk-watermark { position: fixed; z-index: 500; top: 45%; left: 50%; pointer-events: none;
  transform: translate(-50%, -50%) rotate(-20deg); font: bold 64px Arial, sans-serif;
  color: rgba(176,0,0,0.16); white-space: nowrap; }
.vk-tip { font: 12px/1.3 Arial, sans-serif; }
.vk-tip .vk-code { color: #555555; }
.vk-tip table { margin-top: 3px; border-collapse: collapse; }
.vk-tip th { text-align: left; font-weight: normal; color: #444444; padding: 1px 8px 1px 0; }
.vk-tip td { padding: 1px 0; }
.leaflet-control-layers-list { max-height: 60vh; overflow-y: auto; }
"""

HATCH_SVG = (
    "<svg width='0' height='0' style='position:absolute' aria-hidden='true'><defs>"
    f"<pattern id='{HATCH_PATTERN_ID}' patternUnits='userSpaceOnUse' width='7' height='7' "
    "patternTransform='rotate(45)'>"
    f"<rect width='7' height='7' fill='{WITHHELD_FACE}'/>"
    f"<line x1='0' y1='0' x2='0' y2='7' stroke='{WITHHELD_EDGE}' stroke-width='2'/>"
    "</pattern>"
    f"<pattern id='{LOW_RELIABILITY_PATTERN_ID}' patternUnits='userSpaceOnUse' width='6' "
    "height='6'>"
    f"<circle cx='3' cy='3' r='1.1' fill='{LOW_RELIABILITY_EDGE}'/>"
    "</pattern></defs></svg>"
)


def _pick_initial_level(shares: Mapping[str, float]) -> str:
    # The finest level where at least half the areas are published; else the best-covered one.
    for level in LEVELS:
        if level in shares and shares[level] >= 0.5:
            return level
    return max(shares, key=lambda lv: (shares[lv], LEVELS.index(lv)))


_EXTERNAL_RESOURCE = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


def external_resources(page: str) -> list[str]:
    """Return the script and stylesheet tags of ``page`` that load from the network."""
    return [m.group(0) for m in _EXTERNAL_RESOURCE.finditer(page)]


def layer_name(measure: str, level: str, *, several: bool) -> str:
    """Name of one measure-and-level layer in the layer control ("Buurten" for a single measure,
    else "Uitstroom (gekrompen): buurten")."""
    if not several:
        return LAYER_NAMES[level]
    return f"{measure_info(measure).label}: {LEVEL_PLURAL[level]}"


def build_interactive_map(
    tables: Mapping[str, pd.DataFrame],
    areas: gpd.GeoDataFrame,
    *,
    measures: str | Sequence[str] = ("outflow",),
    out_html: Path | None = None,
    synthetic: bool = True,
    scheme: str = "NaturalBreaks",
    k: int = 5,
    gemeenten: Sequence[str] | None = None,
    initial_level: str | None = None,
    source_line: str | None = None,
    date: dt.date | str | None = None,
    cmap: str | None = None,
    low_reliability: float | None = DEFAULT_LOW_RELIABILITY,
    title: str | None = None,
    simplify_m: float = 10.0,
) -> folium.Map:
    """Build one offline HTML map with a layer per measure and level, tooltips and a legend per
    layer.

    Leaflet is inlined and folium's CDN links (jQuery, Bootstrap, awesome-markers) are dropped,
    so the page opens without a network; no tile layer is drawn. The layers are base layers
    (one shown at a time) so that the legend always belongs to what is on screen.

    Parameters
    ----------
    tables : mapping of level to DataFrame
        ``transmission_{level}.csv`` per level ("buurt", "wijk", "gemeente"); a "region" key is
        ignored.
    areas : GeoDataFrame
        All areas of the region at all levels, in EPSG:28992.
    measures : str or sequence of str
        Columns to map, each at every level; the first is shown on opening.
    out_html : Path, optional
        Where to write the page (atomically); not written when omitted.
    synthetic : bool
        Mark the page "SYNTHETISCHE DATA".
    scheme, k : str, int
        mapclassify scheme name and number of classes, per layer as in the static maps.
    gemeenten : sequence of str, optional
        Gemeente codes to draw; all when omitted.
    initial_level : str, optional
        Level shown on opening; by default the finest level with at least half its areas
        published for the first measure.
    source_line, date : str, date or str, optional
        Shown in the attribution corner; as in :func:`make_static_map`.
    cmap : str, optional
        Sequential matplotlib colour map; by default the measure's own (see
        :attr:`MeasureInfo.cmap`).
    low_reliability : float or None
        Published areas with a reliability below this are stippled, as in the static maps.
    title : str, optional
        Heading of the page; by default the title of the measure on screen.
    simplify_m : float
        Douglas-Peucker tolerance in metres (RD) applied before reprojecting to EPSG:4326.
    """
    measures = [measures] if isinstance(measures, str) else list(measures)
    if not measures:
        raise MapInputError("no measure to map")
    for measure in measures:
        measure_info(measure)
    several = len(measures) > 1
    levels = [lv for lv in LEVELS if lv in tables]
    if not levels:
        raise MapInputError(f"no table for any of {', '.join(LEVELS)}")
    js, css = _leaflet_assets()

    joined = {}
    for level in levels:
        _require_columns(tables[level], measures, f"transmission_{level}")
        joined[level] = join_areas(tables[level], areas, level=level, gemeenten=gemeenten)

    layers = {}
    for measure in measures:
        info = measure_info(measure)
        colours_of = cmap or info.cmap
        for level in levels:
            gdf = joined[level]
            classes = classify_values(gdf[measure], scheme=scheme, k=k)
            colours = class_colours(classes.k, cmap=colours_of)
            unreliable = low_reliability_mask(gdf, measure, threshold=low_reliability)
            shaped = gdf[["area_code", "geometry"]].assign(
                tooltip=[format_tooltip(row, measure=measure, low_reliability=low_reliability)
                         for row in gdf.to_dict("records")],
                fill=[colours[c] if c >= 0 else f"url(#{HATCH_PATTERN_ID})" for c in classes.yb],
            )
            layers[(measure, level)] = (shaped, classes, colours, unreliable)
    first = measures[0]
    shares = {lv: float((layers[(first, lv)][1].yb >= 0).mean()) if len(joined[lv]) else 0.0
              for lv in levels}
    if initial_level is None:
        initial_level = _pick_initial_level(shares)
    if initial_level not in levels:
        raise MapInputError(f"initial_level {initial_level!r} is not among {levels}")

    gm = areas[areas["level"] == "gemeente"]
    if gemeenten is not None:
        gm = gm[gm["gemeente_code"].isin(list(gemeenten))]
    gm_geojson = _to_geojson(gm.assign(geometry=gm.geometry.boundary), ["area_name"],
                             simplify_m=simplify_m) if len(gm) else None

    all_shapes = pd.concat([joined[lv] for lv in levels])
    west, south, east, north = gpd.GeoSeries(all_shapes.geometry, crs=areas.crs).to_crs(
        "EPSG:4326").total_bounds
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=10,
                      tiles=None, control_scale=False)
    # Only Leaflet is needed for polygons, tooltips, a layer control and an HTML legend.
    fmap.default_js = []
    fmap.default_css = []
    root = fmap.get_root()
    root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline")
    root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline")
    root.header.add_child(Element(f"<style>{PAGE_CSS}</style>"), name="vk_css")

    def style(feature):
        fill = feature["properties"]["fill"]
        withheld = fill.startswith("url(")
        is_gemeente = feature["properties"]["area_code"].startswith("GM")
        return {"fillColor": fill, "fillOpacity": 1.0 if withheld else 0.85,
                "color": "#1a1a1a" if is_gemeente else (WITHHELD_EDGE if withheld else "#ffffff"),
                "weight": 2.0 if is_gemeente else 0.7, "opacity": 1.0}

    def dots(feature):
        return {"fillColor": f"url(#{LOW_RELIABILITY_PATTERN_ID})", "fillOpacity": 1.0,
                "stroke": False}

    legends = []
    for measure in measures:
        info = measure_info(measure)
        for level in levels:
            shaped, classes, colours, unreliable = layers[(measure, level)]
            name = layer_name(measure, level, several=several)
            shown = measure == first and level == initial_level
            group = folium.FeatureGroup(name=name, overlay=False, show=shown)
            tooltip_fields = dict(fields=["tooltip"], labels=False, sticky=True)
            folium.GeoJson(
                _to_geojson(shaped, ["area_code", "tooltip", "fill"], simplify_m=simplify_m),
                style_function=style,
                highlight_function=lambda feature: {"weight": 3.0, "color": "#000000"},
                tooltip=folium.GeoJsonTooltip(**tooltip_fields),
                control=False,
            ).add_to(group)
            if unreliable.any():
                # Same tooltip on the dots, so pointing at a stippled area still explains it.
                folium.GeoJson(
                    _to_geojson(shaped[unreliable], ["area_code", "tooltip", "fill"],
                                simplify_m=simplify_m),
                    style_function=dots,
                    tooltip=folium.GeoJsonTooltip(**tooltip_fields),
                    control=False,
                ).add_to(group)
            if gm_geojson is not None and level != "gemeente":
                folium.GeoJson(
                    gm_geojson,
                    style_function=lambda feature: {"color": "#1a1a1a", "weight": 2.0,
                                                    "fill": False, "opacity": 1.0},
                    control=False,
                ).add_to(group)
            group.add_to(fmap)
            heading = name if several else LAYER_NAMES[level]
            legends.append(_legend_html(
                name, heading, classes, colours, info.unit, scheme=scheme, shown=shown,
                n_unreliable=int(unreliable.sum()), low_reliability=low_reliability,
                title=title or info.title))
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])

    badge = f"<div class='vk-badge'>{SYNTHETIC_LABEL}</div>" if synthetic else ""
    choose = "kies een kaartlaag" if several else "kies buurt, wijk of gemeente"
    page = [HATCH_SVG,
            f"<div class='vk-box vk-title'><h1 id='vk-heading'>"
            f"{html.escape(title or measure_info(first).title)}</h1>"
            f"Per gebied van opgroeien; {choose} rechtsboven. "
            f"Wijs een gebied aan voor waarde, 95%-interval en aantallen.{badge}</div>",
            f"<div class='vk-box vk-legend'>{''.join(legends)}</div>"]
    if synthetic:
        page.append(f"<div class='vk-watermark'>{SYNTHETIC_LABEL}</div>")
    root.html.add_child(Element("".join(page)), name="vk_page")
    source = source_line or (SYNTHETIC_SOURCE_LINE if synthetic else REAL_SOURCE_LINE)
    attribution = json.dumps(f"{source} · {_format_date(date)}")
    root.script.add_child(Element(f"""
window.addEventListener('load', function () {{
  var map = {fmap.get_name()};
  L.control.scale({{imperial: false}}).addTo(map);
  map.attributionControl.setPrefix('Leaflet');
  map.attributionControl.addAttribution({attribution}.replace(/&/g, '&amp;').replace(/</g, '&lt;'));
  map.on('baselayerchange', function (e) {{
    document.querySelectorAll('.vk-legend-level').forEach(function (el) {{
      var on = el.getAttribute('data-layer') === e.name;
      el.style.display = on ? 'block' : 'none';
      if (on) {{ document.getElementById('vk-heading').textContent = el.getAttribute('data-title'); }}
    }});
  }});
}});
"""), name="vk_script")

    if out_html is not None:
        write_html(fmap, Path(out_html))
    return fmap


def write_html(fmap: folium.Map, path: Path) -> Path:
    """Render ``fmap`` and write it atomically; fail if the page would load anything remotely."""
    page = fmap.get_root().render()
    remote = external_resources(page)
    if remote:
        raise MapInputError(f"{path}: the page would load from the network: {remote[:3]}")
    return _write_atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


# --------------------------------------------------------------------------- reading, main

def read_areas(path: Path) -> gpd.GeoDataFrame:
    """Read the area geometries (GeoParquet) and bring them to EPSG:28992."""
    path = Path(path)
    if not path.is_file():
        raise MapInputError(f"{path}: areas file not found")
    areas = gpd.read_parquet(path)
    _require_columns(areas, AREA_COLUMNS, str(path))
    for column in ("area_code", "area_name", "level", "gemeente_code"):
        areas[column] = areas[column].astype(str)
    if areas.crs is None:
        logger.warning("%s: no CRS, taken to be %s", path, RD_NEW)
        areas = areas.set_crs(RD_NEW)
    elif areas.crs.to_epsg() != 28992:
        logger.info("%s: reprojected from %s to %s", path, areas.crs, RD_NEW)
        areas = areas.to_crs(RD_NEW)
    return areas


def read_transmission_table(path: Path, *, measure: str | Sequence[str] = ()) -> pd.DataFrame:
    """Read one ``transmission_{level}.csv``: only empty cells are missing (§11), so an area
    named "NA" stays a name. Fails naming the file and column when a needed column is absent.

    Parameters
    ----------
    path : Path
    measure : str or sequence of str
        The column(s) that will be mapped; must be present.
    """
    path = Path(path)
    wanted = [measure] if isinstance(measure, str) else list(measure)
    if not path.is_file():
        raise MapInputError(f"{path}: table not found")
    text_columns = {"area_code": str, "area_name": str, "level": str, "group": str, "suppressed": str}
    table = pd.read_csv(path, dtype=text_columns, keep_default_na=False, na_values=[""])
    if "group" in table.columns:
        # Breakdown rows (sex, household, origin) are not mapped; the map shows the totals.
        table = table[table["group"].fillna("totaal") == "totaal"].reset_index(drop=True)
    missing = [c for c in (*TABLE_COLUMNS, *wanted) if c not in table.columns]
    if missing:
        raise MapInputError(f"{path}: missing column(s) {', '.join(missing)}")
    numeric = [c for c in table.columns if c not in text_columns]
    for column in numeric:
        try:
            table[column] = pd.to_numeric(table[column]).astype(float)
        except (TypeError, ValueError) as exc:
            raise MapInputError(f"{path}: column {column} is not numeric ({exc})") from None
    table["suppressed"] = table["suppressed"].fillna("")
    return table


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline maps",
        description="Draw the static maps (PNG, PDF) per measure and level, and offline HTML maps.")
    parser.add_argument("--areas", type=Path, required=True, help="GeoParquet of all areas")
    parser.add_argument("--tables-dir", type=Path, required=True,
                        help="folder with transmission_{level}.csv")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for the figures")
    parser.add_argument("--measures", nargs="+", default=["outflow"],
                        help="columns to map, each at every level (default outflow)")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS,
                        help="levels of the static maps (default all)")
    parser.add_argument("--html-all", default="kaart.html",
                        help="file name (in --out-dir) of the HTML map with every measure and "
                             "level; '' for none (default kaart.html)")
    parser.add_argument("--html-each", nargs="*", default=[],
                        help="measures that also get an HTML map of their own, {measure}_kaart.html")
    parser.add_argument("--scheme", default="NaturalBreaks", help="mapclassify scheme name")
    parser.add_argument("--k", type=int, default=5, help="number of classes")
    parser.add_argument("--low-reliability", type=float, default=DEFAULT_LOW_RELIABILITY,
                        help="stipple published areas with a reliability below this (0: none)")
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=True,
                        help="mark the maps SYNTHETISCHE DATA (default: yes)")
    parser.add_argument("--source-line", default=None, help="source line under the maps")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=None,
                        help="date printed on the maps, YYYY-MM-DD (default today)")
    parser.add_argument("--gemeenten", nargs="+", default=None, help="gemeente codes to draw")
    parser.add_argument("--dpi", type=int, default=200, help="PNG resolution (>= 150)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``{measure}_{level}.png/.pdf`` for every measure and level, the HTML map with every
    layer and ``{measure}_kaart.html`` for the measures asked for."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    low = args.low_reliability if args.low_reliability > 0 else None
    try:
        unknown = sorted(set(args.html_each) - set(args.measures))
        if unknown:
            raise MapInputError(f"--html-each {unknown} not among --measures {args.measures}")
        for measure in args.measures:
            measure_info(measure)
        areas = read_areas(args.areas)
        tables = {level: read_transmission_table(args.tables_dir / f"transmission_{level}.csv",
                                                 measure=args.measures)
                  for level in LEVELS}
        written: list[Path] = []
        for measure in args.measures:
            for level in args.levels:
                written += plot_static_map(
                    tables[level], areas, measure=measure, level=level,
                    gemeenten=args.gemeenten,
                    out_png=args.out_dir / f"{measure}_{level}.png",
                    out_pdf=args.out_dir / f"{measure}_{level}.pdf",
                    scheme=args.scheme, k=args.k, synthetic=args.synthetic,
                    source_line=args.source_line, date=args.date, low_reliability=low,
                    dpi=args.dpi)
        pages = [(args.out_dir / f"{m}_kaart.html", [m]) for m in args.html_each]
        if args.html_all:
            pages.append((args.out_dir / args.html_all, args.measures))
        for out_html, measures in pages:
            build_interactive_map(tables, areas, measures=measures, out_html=out_html,
                                  synthetic=args.synthetic, scheme=args.scheme, k=args.k,
                                  gemeenten=args.gemeenten, source_line=args.source_line,
                                  date=args.date, low_reliability=low)
            written.append(out_html)
    except MapInputError as exc:
        print(f"maps: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"written: {path}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
