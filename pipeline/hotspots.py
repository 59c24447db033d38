"""Hotspots: local Moran's I on released area estimates, corrected for multiple testing.

Reads only what may leave the secure environment (``reports/tables/transmission_{level}.csv``,
methodology §11) and the area geometries, and writes the significant areas with their cluster
labels (``reports/tables/hotspots_{level}.csv``), a summary of every analysis and a map per
analysis.

Choices (see README, "Kaarten, hotspots en feitenbladen"):

- Only released values are tested. A withheld area is left out of the contiguity graph, not
  imputed: an imputed value (say the wijk's) would make neighbours alike by construction and
  the permutation test would call that a cluster. An area whose queen neighbours are all
  withheld is an island and is not tested.
- A proportion is released only where numerator and complement reach the threshold, so which
  areas are released depends on the value itself. Where fewer than ``min_released_share`` of the
  areas are released, the released ones are a selected sample and the permutation null (values
  exchangeable over the released areas) does not hold: such an analysis is reported as not
  tested rather than run. Rank measures are released on n alone and do not have this problem.
- Raw estimates by default, not the shrunk ``_eb`` ones (any released column can be chosen).
  Shrinkage pulls each buurt toward its gemeente's mean, and where a gemeente's buurten show no
  signal variance it gives them all that mean: neighbours become alike by construction, and on
  synthetic data without clusters the shrunk rank measure gave 50 false buurt hotspots, the raw
  one none.
- Pseudo p-values from conditional permutations (fixed seed), folded (esda's ``p_sim``), then
  Benjamini-Hochberg over the tested areas of one analysis.

Run as ``python -m pipeline hotspots --areas AREAS.parquet --tables-dir reports/tables
--analysis buurt:outflow:high --tables-out reports/tables --figures-out figures``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from . import maps

logger = logging.getLogger(__name__)

# Quadrants of esda's Moran_Local.q: 1 high-high, 2 low-high, 3 low-low, 4 high-low.
QUADRANT_LABELS = {1: "hoog-hoog", 2: "laag-hoog", 3: "laag-laag", 4: "hoog-laag"}
NOT_SIGNIFICANT = "niet significant"
NOT_RELEASED = "niet getoetst: niet gepubliceerd"
ISLAND = "niet getoetst: geen gepubliceerde buren"
NOT_TESTED = "niet getoetst: te weinig gepubliceerd"
LABEL_ORDER = ("hoog-hoog", "laag-laag", "hoog-laag", "laag-hoog", NOT_SIGNIFICANT, ISLAND,
               NOT_RELEASED, NOT_TESTED)
# Paired ColorBrewer hues that differ in lightness as well as hue, plus hatching on the
# outliers, so the four kinds stay apart in grey print and for colour-blind readers. Red is the
# hotspot side (poverty passed on), blue the opposite, whichever of high-high and low-low that is.
HOT, COLD, HOT_OUTLIER, COLD_OUTLIER = "#b2182b", "#2166ac", "#f4a582", "#92c5de"
LABEL_STYLE = {
    "hoog-hoog": {"facecolor": HOT, "hatch": None},
    "laag-laag": {"facecolor": COLD, "hatch": None},
    "hoog-laag": {"facecolor": HOT_OUTLIER, "hatch": "\\\\\\"},
    "laag-hoog": {"facecolor": COLD_OUTLIER, "hatch": "\\\\\\"},
    NOT_SIGNIFICANT: {"facecolor": "#f7f7f7", "hatch": None},
    ISLAND: {"facecolor": "#d9d9d9", "hatch": None},
    NOT_RELEASED: {"facecolor": maps.WITHHELD_FACE, "hatch": maps.WITHHELD_HATCH},
    # released but not tested: cross-hatched, apart from the withheld areas' single hatch
    NOT_TESTED: {"facecolor": "#fbfbfb", "hatch": "xx"},
}
# A hotspot's cluster (Anselin's "core and its neighbours"): a significant area on the hotspot
# side is the core ("kern"); a tested queen neighbour of a core whose own value lies on the same
# side of the mean is a member ("buur"). Every other area: "".
CORE, MEMBER = "kern", "buur"
# lighter than a core, dotted: apart from the cores and from the outliers' diagonal hatch
MEMBER_STYLE = {"facecolor": "#d6604d", "hatch": "..."}
TABLE_COLUMNS = ["area_code", "area_name", "level", "gemeente_code", "gemeente_name", "measure",
                 "value", "cluster", "hotspot", "hotspot_cluster", "local_i", "p_value", "q_value"]
SUMMARY_COLUMNS = ["level", "measure", "hotspot_side", "status", "n_areas", "n_released",
                   "n_tested", "n_islands", "permutations", "seed", "fdr", "n_significant",
                   "n_hoog_hoog", "n_laag_laag", "n_hoog_laag", "n_laag_hoog", "n_hotspot",
                   "n_hotspot_cluster"]


class HotspotInputError(ValueError):
    """An input table, column, geometry or option the hotspot analysis cannot use."""


@dataclass(frozen=True)
class Analysis:
    """One test: ``measure`` at ``level``; ``side`` "high" makes high-high clusters the hotspots
    (more poverty passed on), "low" makes low-low ones (a low expected income rank)."""

    level: str
    measure: str
    side: str

    @classmethod
    def parse(cls, text: str) -> "Analysis":
        """Read "buurt:outflow:high"."""
        parts = text.split(":")
        if len(parts) != 3 or parts[2] not in ("high", "low") or parts[0] not in maps.LEVELS:
            raise HotspotInputError(
                f"analysis {text!r}: expected LEVEL:MEASURE:high|low with LEVEL one of "
                f"{', '.join(maps.LEVELS)}")
        maps.measure_info(parts[1])
        return cls(*parts)

    @property
    def hotspot_label(self) -> str:
        return "hoog-hoog" if self.side == "high" else "laag-laag"


# --------------------------------------------------------------------------- statistics

def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return Benjamini-Hochberg adjusted p-values (q-values), in the input order.

    Parameters
    ----------
    p_values : array of float
        One p-value per test, all in [0, 1].
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p.copy()
    if not np.all((p >= 0) & (p <= 1)):
        raise HotspotInputError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    # step-up: the running minimum from the largest p-value down
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(adjusted)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def queen_neighbours(gdf: gpd.GeoDataFrame) -> list[list[int]]:
    """Queen-contiguity neighbours (sharing a border or a corner) by row position.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons in a projected CRS.
    """
    from libpysal.weights import Queen

    if len(gdf) == 0:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands; we report them ourselves
        w = Queen.from_dataframe(gdf.reset_index(drop=True), use_index=False,
                                 silence_warnings=True)
    return [sorted(int(j) for j in w.neighbors[i]) for i in range(len(gdf))]


def local_moran(
    values: np.ndarray,
    neighbours: Sequence[Sequence[int]],
    *,
    permutations: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """Local Moran's I with row-standardised weights and conditional-permutation p-values.

    Returns one row per value with columns ``local_i``, ``quadrant`` (1 high-high, 2 low-high,
    3 low-low, 4 high-low) and ``p_value`` (esda's folded pseudo p-value ``p_sim``).

    Parameters
    ----------
    values : array of float
        Finite values, one per area.
    neighbours : list of lists of int
        Neighbours of each area by position; every area needs at least one.
    permutations : int
        Number of conditional permutations (at least 99).
    seed : int
        Seed of the permutations, so the same input gives the same p-values.
    """
    from esda.moran import Moran_Local
    from libpysal.weights import W

    y = np.asarray(values, dtype=float)
    if len(y) != len(neighbours):
        raise HotspotInputError(f"{len(y)} values but {len(neighbours)} neighbour lists")
    if not np.all(np.isfinite(y)):
        raise HotspotInputError("local_moran needs finite values; leave withheld areas out")
    if any(len(nb) == 0 for nb in neighbours):
        raise HotspotInputError("local_moran needs at least one neighbour per area (no islands)")
    if permutations < 99:
        raise HotspotInputError(f"permutations must be at least 99, not {permutations}")
    w = W({i: list(nb) for i, nb in enumerate(neighbours)}, silence_warnings=True)
    w.transform = "r"
    with warnings.catch_warnings():
        # esda >= 2.7 announces that a later major release will default to two-sided p-values;
        # we use the folded (directed) p_sim of every esda version from 2.6 on, as documented.
        warnings.filterwarnings("ignore", message=".*alternative hypothesis.*",
                                category=DeprecationWarning)
        lm = Moran_Local(y, w, transformation="r", permutations=permutations, seed=seed,
                         n_jobs=1)
    return pd.DataFrame({"local_i": np.asarray(lm.Is, dtype=float),
                         "quadrant": np.asarray(lm.q, dtype=int),
                         "p_value": np.asarray(lm.p_sim, dtype=float)})


def cluster_members(
    values: np.ndarray,
    neighbours: Sequence[Sequence[int]],
    core: np.ndarray,
    *,
    side: str,
) -> np.ndarray:
    """The areas of the hotspot clusters: each core with its neighbours on the same side.

    A significant local Moran's I says that an area *and its neighbours* are alike beyond
    chance: the significant area is the core of a cluster, and the cluster is the core with its
    neighbours (Anselin 1995; the GeoDa workbook, "Local Spatial Autocorrelation (1)", on the
    spatial footprint of clusters and "select all cores and neighbors"). Of the neighbours only
    those whose own value lies on the hotspot side of the mean belong to a high-high (or
    low-low) cluster; a neighbour on the other side is not part of it. Without a core there is
    no cluster, so nothing is added where nothing is significant.

    Returns a boolean array, True for the cores and their same-side neighbours.

    Parameters
    ----------
    values : array of float
        The tested values (the ones local Moran's I was computed on), one per area.
    neighbours : list of lists of int
        Neighbours by position, as passed to :func:`local_moran`.
    core : array of bool
        The hotspot cores: significant and in the hotspot quadrant.
    side : {"high", "low"}
    """
    y = np.asarray(values, dtype=float)
    core = np.asarray(core, dtype=bool)
    if len(y) != len(neighbours) or len(core) != len(y):
        raise HotspotInputError(f"{len(y)} values, {len(neighbours)} neighbour lists and "
                                f"{len(core)} core flags")
    same_side = y >= y.mean() if side == "high" else y < y.mean()
    member = core.copy()
    for i in np.flatnonzero(core):
        for j in neighbours[i]:
            if same_side[j]:
                member[j] = True
    return member


def find_hotspots(
    gdf: gpd.GeoDataFrame,
    *,
    measure: str,
    side: str = "high",
    permutations: int = 9999,
    seed: int = 0,
    fdr: float = 0.10,
    min_released_share: float = 0.5,
    min_tested: int = 10,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Label every area of one level with its local-Moran cluster, testing released values only.

    Returns the areas with columns ``value``, ``cluster`` (one of :data:`LABEL_ORDER`),
    ``hotspot`` (significant and in the ``side`` cluster: a cluster's core),
    ``hotspot_cluster`` ("kern" for a core, "buur" for a same-side neighbour of a core, see
    :func:`cluster_members`, else ""), ``local_i``, ``p_value`` and ``q_value`` (empty where not
    tested), and a summary dict.

    Parameters
    ----------
    gdf : GeoDataFrame
        The areas of one level joined to their released table row (NaN = withheld).
    measure : str
        Column to test.
    side : {"high", "low"}
        Which significant cluster counts as a hotspot.
    permutations, seed : int
        Conditional permutations and their seed.
    fdr : float
        Benjamini-Hochberg false discovery rate over the tested areas.
    min_released_share : float
        Below this share of released areas nothing is tested (the released ones are selected on
        their value; see the module docstring).
    min_tested : int
        Fewest areas with a released neighbour worth a test.
    """
    if side not in ("high", "low"):
        raise HotspotInputError(f"side must be 'high' or 'low', not {side!r}")
    if not 0 < fdr < 1:
        raise HotspotInputError(f"fdr must lie between 0 and 1, not {fdr}")
    if measure not in gdf.columns:
        raise HotspotInputError(f"missing column {measure}")
    out = gdf.reset_index(drop=True).copy()
    value = pd.to_numeric(out[measure], errors="coerce").to_numpy(dtype=float)
    released = np.isfinite(value)
    out["value"] = value
    out["cluster"] = np.where(released, NOT_SIGNIFICANT, NOT_RELEASED).astype(object)
    for column in ("local_i", "p_value", "q_value"):
        out[column] = np.nan
    out["hotspot_cluster"] = ""
    summary = {"n_areas": int(len(out)), "n_released": int(released.sum()), "n_tested": 0,
               "n_islands": 0, "permutations": permutations, "seed": seed, "fdr": fdr}

    share = released.mean() if len(out) else 0.0
    idx = np.flatnonzero(released)
    neighbours = queen_neighbours(out.iloc[idx]) if len(idx) else []
    islands = idx[[len(nb) == 0 for nb in neighbours]] if len(idx) else idx
    out.loc[islands, "cluster"] = ISLAND
    summary["n_islands"] = int(len(islands))
    tested = idx[[len(nb) > 0 for nb in neighbours]] if len(idx) else idx
    if share < min_released_share or len(tested) < min_tested:
        why = (f"{int(released.sum())} van {len(out)} gepubliceerd ({100 * share:.0f}%)"
               if share < min_released_share else
               f"{len(tested)} gebieden met gepubliceerde buren (minimaal {min_tested})")
        out.loc[released, "cluster"] = NOT_TESTED
        out["hotspot"] = False
        summary.update(status=f"niet getoetst: {why}", n_significant=0)
        summary.update({f"n_{k.replace('-', '_')}": 0 for k in QUADRANT_LABELS.values()})
        summary["n_hotspot"] = summary["n_hotspot_cluster"] = 0
        logger.info("%s: not tested (%s)", measure, why)
        return out, summary

    # Drop the islands and renumber: the graph of the tested areas only.
    position = {int(i): n for n, i in enumerate(tested)}
    sub_neighbours = [[position[int(idx[j])] for j in neighbours[k]]
                      for k in range(len(idx)) if len(neighbours[k]) > 0]
    stats = local_moran(value[tested], sub_neighbours, permutations=permutations, seed=seed)
    stats["q_value"] = benjamini_hochberg(stats["p_value"].to_numpy())
    significant = stats["q_value"].to_numpy() <= fdr
    labels = np.where(significant, stats["quadrant"].map(QUADRANT_LABELS).to_numpy(),
                      NOT_SIGNIFICANT)
    out.loc[tested, "cluster"] = labels
    for column in ("local_i", "p_value", "q_value"):
        out.loc[tested, column] = stats[column].to_numpy()
    hotspot_label = "hoog-hoog" if side == "high" else "laag-laag"
    out["hotspot"] = out["cluster"] == hotspot_label
    core = out["hotspot"].to_numpy()[tested]
    member = cluster_members(value[tested], sub_neighbours, core, side=side)
    out.loc[tested[member & ~core], "hotspot_cluster"] = MEMBER
    out.loc[tested[core], "hotspot_cluster"] = CORE
    counts = out["cluster"].value_counts()
    summary.update(status="getoetst", n_tested=int(len(tested)),
                   n_significant=int(significant.sum()),
                   n_hotspot=int(out["hotspot"].sum()), n_hotspot_cluster=int(member.sum()))
    summary.update({f"n_{k.replace('-', '_')}": int(counts.get(k, 0))
                    for k in QUADRANT_LABELS.values()})
    logger.info("%s: tested %d of %d areas (%d released, %d islands); %d significant at FDR %.2f,"
                " %d hotspot cores (%s), %d areas in their clusters with same-side neighbours",
                measure, len(tested), len(out), released.sum(), len(islands),
                significant.sum(), fdr, out["hotspot"].sum(), hotspot_label, member.sum())
    return out, summary


def hotspot_table(labelled: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, level: str,
                  measure: str) -> pd.DataFrame:
    """The significant areas of one analysis and the other members of its hotspot clusters, as
    rows of ``hotspots_{level}.csv``: codes, names, the released value, the cluster label, the
    role in a hotspot cluster and the statistics; no counts.

    Parameters
    ----------
    labelled : GeoDataFrame
        Output of :func:`find_hotspots`.
    areas : GeoDataFrame
        All areas (for the gemeente names).
    level, measure : str
    """
    significant = labelled[labelled["cluster"].isin(list(QUADRANT_LABELS.values()))
                           | (labelled["hotspot_cluster"] != "")]
    gm_names = areas.loc[areas["level"] == "gemeente"].set_index("area_code")["area_name"]
    rows = pd.DataFrame({
        "area_code": significant["area_code"].astype(str).to_numpy(),
        "area_name": significant["area_name"].astype(str).to_numpy(),
        "level": level,
        "gemeente_code": significant["gemeente_code"].astype(str).to_numpy(),
        "gemeente_name": significant["gemeente_code"].map(gm_names).fillna("").to_numpy(),
        "measure": measure,
        "value": significant["value"].to_numpy(dtype=float),
        "cluster": significant["cluster"].to_numpy(),
        "hotspot": significant["hotspot"].to_numpy(dtype=bool),
        "hotspot_cluster": significant["hotspot_cluster"].to_numpy(dtype=object),
        "local_i": significant["local_i"].to_numpy(dtype=float),
        "p_value": significant["p_value"].to_numpy(dtype=float),
        "q_value": significant["q_value"].to_numpy(dtype=float),
    }, columns=TABLE_COLUMNS)
    order = {label: i for i, label in enumerate(LABEL_ORDER)}
    return (rows.assign(_o=rows["cluster"].map(order), _m=rows["hotspot_cluster"] == MEMBER)
            .sort_values(["_o", "_m", "gemeente_code", "area_code"], kind="mergesort")
            .drop(columns=["_o", "_m"]).reset_index(drop=True))


def score_against_truth(flagged: pd.Series, planted: pd.Series) -> dict:
    """Recall and precision of flagged areas against planted ones (synthetic data only).

    Parameters
    ----------
    flagged, planted : Series of bool
        Indexed by area code; areas missing from ``flagged`` count as not flagged.
    """
    flagged = flagged.reindex(planted.index, fill_value=False).astype(bool)
    planted = planted.astype(bool)
    hit = int((flagged & planted).sum())
    # None rather than NaN where undefined, so the JSON stays valid
    return {"n_planted": int(planted.sum()), "n_flagged": int(flagged.sum()), "n_hit": hit,
            "recall": hit / int(planted.sum()) if planted.sum() else None,
            "precision": hit / int(flagged.sum()) if flagged.sum() else None}


# --------------------------------------------------------------------------- map

def label_style(label: str, *, side: str) -> dict:
    """Face colour and hatch of a cluster label; with ``side`` "low" the hues swap, so that the
    hotspot (low-low) is red and a cluster of good news blue."""
    style = dict(LABEL_STYLE[label])
    if side == "low" and label in QUADRANT_LABELS.values():
        swap = {HOT: COLD, COLD: HOT, HOT_OUTLIER: COLD_OUTLIER, COLD_OUTLIER: HOT_OUTLIER}
        style["facecolor"] = swap[style["facecolor"]]
    return style


def make_hotspot_map(
    labelled: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    level: str,
    measure: str,
    side: str,
    summary: dict,
    synthetic: bool = True,
    date: dt.date | str | None = None,
    figsize: tuple[float, float] = (10.0, 8.5),
) -> Figure:
    """Draw the clusters of one analysis: hotspots dark, outliers hatched, untested grey.

    Parameters
    ----------
    labelled : GeoDataFrame
        Output of :func:`find_hotspots` (EPSG:28992).
    areas : GeoDataFrame
        All areas, for the gemeente borders and names.
    level, measure, side : str
        As in :class:`Analysis`.
    summary : dict
        Second output of :func:`find_hotspots`.
    synthetic : bool
        Mark the map "SYNTHETISCHE DATA".
    date : date or str, optional
        Printed after the source line; today when omitted.
    figsize : (float, float)
    """
    info = maps.measure_info(measure)
    fig = Figure(figsize=figsize)
    map_box = (0.01, 0.07, 0.66, 0.78)
    ax = fig.add_axes(map_box, label="kaart")
    lax = fig.add_axes((0.69, 0.07, 0.30, 0.78), label="legenda")
    ax.set_axis_off()
    lax.set_axis_off()
    edge = {"buurt": 0.25, "wijk": 0.4, "gemeente": 0.6}[level]
    handles = []
    plural = maps.LEVEL_PLURAL[level]
    hotspot_label = "hoog-hoog" if side == "high" else "laag-laag"
    member = (labelled["hotspot_cluster"] == MEMBER if "hotspot_cluster" in labelled
              else pd.Series(False, index=labelled.index))
    layers = []
    for label in LABEL_ORDER:
        text = label
        if label in QUADRANT_LABELS.values():
            text = f"{label}{' (hotspot: kern)' if label == hotspot_label else ''}"
        layers.append((label, labelled[(labelled["cluster"] == label) & ~member],
                       label_style(label, side=side), text))
        if label == hotspot_label:
            layers.append(("buur_van_kern", labelled[member], MEMBER_STYLE,
                           f"{hotspot_label}: buur van een kern, zelf "
                           f"{'hoog' if side == 'high' else 'laag'} (hotspot: cluster)"))
    for gid, part, style, text in layers:
        if part.empty:
            continue
        part.plot(ax=ax, facecolor=style["facecolor"], hatch=style["hatch"],
                  edgecolor=maps.WITHHELD_EDGE if style["hatch"] else "#bdbdbd", linewidth=edge)
        ax.collections[-1].set_gid(gid.replace(" ", "_").replace(":", ""))
        handles.append(Patch(facecolor=style["facecolor"], hatch=style["hatch"],
                             edgecolor="#808080", linewidth=0.5,
                             label=textwrap.fill(f"{text}  ({len(part)} "
                                                 f"{plural if len(part) != 1 else level})", 32)))
    gm = areas[areas["level"] == "gemeente"]
    gm = gm[gm["gemeente_code"].isin(set(labelled["gemeente_code"]))]
    maps.frame_map(ax, gemeenten=gm, bounds=labelled.total_bounds, map_box=map_box, figsize=figsize)
    lax.legend(handles=handles, loc="upper left", frameon=False, fontsize=9,
               title=f"Lokale Moran's I\nFDR {maps._number(summary['fdr'], 2)} "
                     f"(Benjamini-Hochberg)", title_fontsize=9.5, handlelength=2.2,
               handleheight=1.6, borderaxespad=0.0, alignment="left")
    heading = textwrap.wrap(f"Clusters van {info.label.lower()} per {level}", width=72)
    fig.text(0.01, 0.975, "\n".join(heading), fontsize=14, fontweight="bold", va="top")
    if summary["status"] == "getoetst":
        sub = (f"{summary['n_tested']} van {summary['n_areas']} {plural} getoetst "
               f"(alleen gepubliceerde waarden, buren: gedeelde grens of hoek); "
               f"{summary['permutations']} permutaties, seed {summary['seed']}")
    else:
        sub = f"Niet getoetst: {summary['status'].split(': ', 1)[-1]}"
    fig.text(0.01, 0.975 - 0.032 * len(heading) - 0.006, textwrap.fill(sub, 110), fontsize=9.5,
             va="top", color="#333333")
    source = maps.SYNTHETIC_SOURCE_LINE if synthetic else maps.REAL_SOURCE_LINE
    fig.text(0.01, 0.02, f"{source} · {maps._format_date(date)}", fontsize=8, color="#333333")
    if synthetic:
        ax.text(0.5, 0.5, maps.SYNTHETIC_LABEL, transform=ax.transAxes, rotation=30, fontsize=40,
                fontweight="bold", color="#b00000", alpha=0.22, ha="center", va="center",
                zorder=8)
    return fig


# --------------------------------------------------------------------------- reading, main

def read_truth(path: Path, *, level: str) -> pd.Series:
    """Planted clusters of the synthetic generator (``{level}_truth.csv``, column ``cluster``)
    as a boolean Series indexed by area code."""
    path = Path(path)
    if not path.is_file():
        raise HotspotInputError(f"{path}: truth file not found")
    code = {"buurt": "buurtcode", "wijk": "wijkcode"}.get(level)
    if code is None:
        raise HotspotInputError(f"no planted truth at level {level}")
    truth = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (code, "cluster") if c not in truth.columns]
    if missing:
        raise HotspotInputError(f"{path}: missing column(s) {', '.join(missing)}")
    return pd.Series((truth["cluster"] != "").to_numpy(), index=truth[code].to_numpy())


def score_tables(hotspot_tables: Mapping[str, pd.DataFrame], summary: pd.DataFrame,
                 areas: gpd.GeoDataFrame, truths: Mapping[str, pd.Series]) -> list[dict]:
    """Recall and precision of each analysis's hotspots against planted clusters (synthetic
    data only), from the released hotspot tables alone.

    Parameters
    ----------
    hotspot_tables : mapping of level to DataFrame
        ``hotspots_{level}.csv`` as written by :func:`main`.
    summary : DataFrame
        ``hotspots_summary.csv``.
    areas : GeoDataFrame
        All areas: the region's areas of each level are those scored.
    truths : mapping of level to Series of bool
        Planted clusters by area code (:func:`read_truth`).
    """
    scores = []
    for row in summary.to_dict("records"):
        level, measure = row["level"], row["measure"]
        if level not in truths:
            continue
        codes = areas.loc[areas["level"] == level, "area_code"].astype(str)
        table = hotspot_tables[level]
        rows = table[table["measure"] == measure]
        hot = set(rows.loc[rows["hotspot"].astype(str).isin(["True", "true", "1"]),
                           "area_code"].astype(str))
        flagged = pd.Series(codes.isin(hot).to_numpy(), index=codes.to_numpy())
        planted = truths[level].reindex(codes.to_numpy(), fill_value=False)
        score = score_against_truth(flagged, planted)
        if "hotspot_cluster" in rows.columns:
            # the clusters: cores with their same-side neighbours (cluster_members)
            in_cluster = set(rows.loc[rows["hotspot_cluster"].fillna("").astype(str)
                                      .isin([CORE, MEMBER]), "area_code"].astype(str))
            cluster = score_against_truth(
                pd.Series(codes.isin(in_cluster).to_numpy(), index=codes.to_numpy()), planted)
            score.update({f"cluster_{k}": v for k, v in cluster.items() if k != "n_planted"})
        score.update(level=level, measure=measure, side=row["hotspot_side"],
                     status=row["status"])
        scores.append(score)
    return scores


def run_analyses(
    analyses: Sequence[Analysis],
    areas: gpd.GeoDataFrame,
    tables: dict[str, pd.DataFrame],
    *,
    permutations: int,
    seed: int,
    fdr: float,
    min_released_share: float,
) -> tuple[dict[Analysis, gpd.GeoDataFrame], pd.DataFrame]:
    """Run every analysis; return the labelled areas per analysis and the summary table.

    Parameters
    ----------
    analyses : sequence of Analysis
    areas : GeoDataFrame
        All areas (EPSG:28992).
    tables : dict of level to DataFrame
        The released tables as read by :func:`pipeline.maps.read_transmission_table`.
    permutations, seed, fdr, min_released_share
        As in :func:`find_hotspots`.
    """
    labelled, rows = {}, []
    for analysis in analyses:
        table = tables[analysis.level]
        if analysis.measure not in table.columns:
            raise HotspotInputError(
                f"transmission_{analysis.level}.csv: missing column {analysis.measure}")
        gdf = maps.join_areas(table, areas, level=analysis.level)
        result, summary = find_hotspots(gdf, measure=analysis.measure, side=analysis.side,
                                        permutations=permutations, seed=seed, fdr=fdr,
                                        min_released_share=min_released_share)
        labelled[analysis] = result
        rows.append({"level": analysis.level, "measure": analysis.measure,
                     "hotspot_side": analysis.side, **summary})
    return labelled, pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline hotspots",
        description="Local Moran's I hotspots on the released tables, with FDR correction.")
    parser.add_argument("--areas", type=Path, required=True, help="GeoParquet of all areas")
    parser.add_argument("--tables-dir", type=Path, required=True,
                        help="folder with transmission_{level}.csv")
    parser.add_argument("--analysis", nargs="+", required=True,
                        help="LEVEL:MEASURE:high|low, e.g. buurt:outflow:high")
    parser.add_argument("--permutations", type=int, default=9999)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--fdr", type=float, default=0.10)
    parser.add_argument("--min-released-share", type=float, default=0.5)
    parser.add_argument("--tables-out", type=Path, required=True,
                        help="folder for hotspots_{level}.csv and hotspots_summary.csv")
    parser.add_argument("--figures-out", type=Path, required=True,
                        help="folder for hotspots_{level}_{measure}.png/.pdf")
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--dpi", type=int, default=200)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``hotspots_{level}.csv`` per level, ``hotspots_summary.csv`` and a map per
    analysis."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s hotspots %(levelname)s %(message)s", force=True)
    from .io import write_csv

    try:
        analyses = [Analysis.parse(a) for a in args.analysis]
        areas = maps.read_areas(args.areas)
        levels = sorted({a.level for a in analyses}, key=maps.LEVELS.index)
        tables = {lv: maps.read_transmission_table(
            args.tables_dir / f"transmission_{lv}.csv",
            measure=[a.measure for a in analyses if a.level == lv]) for lv in levels}
        labelled, summary = run_analyses(analyses, areas, tables,
                                         permutations=args.permutations, seed=args.seed,
                                         fdr=args.fdr, min_released_share=args.min_released_share)
    except (HotspotInputError, maps.MapInputError) as exc:
        print(f"hotspots: error: {exc}", file=sys.stderr)
        return 2
    written = []
    for level in levels:
        parts = [hotspot_table(labelled[a], areas, level=level, measure=a.measure)
                 for a in analyses if a.level == level]
        path = args.tables_out / f"hotspots_{level}.csv"
        write_csv(pd.concat(parts, ignore_index=True), path)
        written.append(path)
    path = args.tables_out / "hotspots_summary.csv"
    write_csv(summary, path)
    written.append(path)
    for analysis in analyses:
        row = summary[(summary["level"] == analysis.level)
                      & (summary["measure"] == analysis.measure)].iloc[0].to_dict()
        fig = make_hotspot_map(labelled[analysis], areas, level=analysis.level,
                               measure=analysis.measure, side=analysis.side, summary=row,
                               synthetic=args.synthetic, date=args.date)
        for ext in ("png", "pdf"):
            path = args.figures_out / f"hotspots_{analysis.level}_{analysis.measure}.{ext}"
            maps.save_figure(fig, path, dpi=args.dpi)
            written.append(path)
    for path in written:
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
