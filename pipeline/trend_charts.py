"""Trend tables and charts per gemeente and for the region (issue #6), built only from released
tables (``cohorts_*``, ``young_adults_*``, ``young_adults_line_*`` in reports/tables).

Series: per birth cohort (single years and pools) the outflow, the rate among children of parents
who were not poor and the rank measure; per income year the share of poor young adults. Both
poverty lines appear side by side where both exist (the new CBS armoedegrens from 2018), and every
point says where its income data come from (IHI before 2011, INHATAB after), so a chart can mark
where the definition changes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from . import io

LINE_OLD, LINE_NEW = "lage-inkomensgrens", "nieuwe armoedegrens"
FIRST_INHATAB, FIRST_NEW_LINE = 2011, 2018
COHORT_MEASURES = {"outflow": "uitstroom: kind arm als ouders arm waren",
                   "p_child_poor_parents_not_poor": "kind arm als ouders niet arm waren",
                   "abs_mobility_p25": "absolute mobiliteit (p25)"}
COLUMNS = ["area_code", "area_name", "level", "series", "measure", "line", "period", "cohort", "pooled", "year", "value",
           "ci_low", "ci_high", "provisional", "source", "definition_note"]


def income_source(year: int) -> str:
    return "IHI" if year < FIRST_INHATAB else "INHATAB"


def definition_note(year: int, *, line: str, first_year: int) -> str:
    """A note where the series changes definition: the switch from IHI to INHATAB and the first year
    of the new armoedegrens."""
    notes = []
    if year == FIRST_INHATAB and first_year < FIRST_INHATAB:
        notes.append("breuk: IHI tot 2010, INHATAB vanaf 2011")
    if year == FIRST_NEW_LINE:
        notes.append("nieuwe armoedegrens vanaf 2018" if line == LINE_NEW else
                     "vanaf 2018 ook de nieuwe armoedegrens")
    return "; ".join(notes)


def trend_table(cohorts: pd.DataFrame, young: pd.DataFrame, young_new: pd.DataFrame | None = None) -> pd.DataFrame:
    """One long table of released values (withheld ones left out), per area, series, line and
    cohort or year, with intervals. ``cohorts``: a released ``cohorts_{level}.csv``; ``young``:
    ``young_adults_{level}.csv``; ``young_new``: ``young_adults_line_{level}.csv`` (may be empty)."""
    parts = []
    for m in COHORT_MEASURES:
        if m not in cohorts.columns:
            continue
        c = cohorts[cohorts[m].notna()]
        parts.append(pd.DataFrame({
            "area_code": c["area_code"], "area_name": c["area_name"], "level": c["level"],
            "series": "geboortecohort", "measure": m, "line": c["line"], "period": "geboren " + c["cohort"].astype(str),
            "cohort": c["cohort"].astype(str),
            "pooled": c["pooled"].astype(bool),
            "year": (c["first_birth_year"] + c["last_birth_year"]) / 2,
            "value": c[m], "ci_low": c[f"{m}_ci_low"], "ci_high": c[f"{m}_ci_high"],
            "provisional": c["provisional"].astype(bool), "source": c["parents_source"].fillna("").astype(str),
            "definition_note": np.where(c["parents_source"].fillna("").str.contains("IHI"),
                                        "ouders (deels) uit IHI", "")}))
    first_year = int(young["year"].min()) if len(young) else FIRST_INHATAB
    for t, line in ((young, LINE_OLD), (young_new, LINE_NEW)):
        if t is None or not len(t) or "share_poor" not in t.columns:
            continue
        y = t[t["share_poor"].notna()]
        parts.append(pd.DataFrame({
            "area_code": y["area_code"], "area_name": y["area_name"], "level": y["level"],
            "series": "inkomensjaar", "measure": "share_poor", "line": line,
            "period": "inkomensjaar " + y["year"].astype(int).astype(str), "cohort": "", "pooled": False,
            "year": y["year"].astype(float), "value": y["share_poor"], "ci_low": y["share_poor_ci_low"],
            "ci_high": y["share_poor_ci_high"], "provisional": False,
            "source": [income_source(int(v)) for v in y["year"]],
            "definition_note": [definition_note(int(v), line=line, first_year=first_year) for v in y["year"]]}))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)[COLUMNS]
    return out.sort_values(["area_code", "series", "measure", "line", "pooled", "year"], kind="mergesort") \
        .reset_index(drop=True)


def plot_trend(t: pd.DataFrame, *, title: str, path: Path, synthetic: bool, dpi: int = 150) -> None:
    """Two panels: outflow per birth cohort (single years as points with bars, rolling pools as a
    line with a band) and the share of poor young adults per income year (a line with a band per
    poverty line); dashed lines where the definition changes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .maps import save_figure

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {LINE_OLD: "#1f4e79", LINE_NEW: "#c0504d"}
    c = t[(t["series"] == "geboortecohort") & (t["measure"] == "outflow")]
    for line, g in c.groupby("line"):
        single, pool = g[~g["pooled"]], g[g["pooled"]]
        if len(single):
            a1.errorbar(single["year"], single["value"], yerr=[single["value"] - single["ci_low"],
                                                               single["ci_high"] - single["value"]],
                        fmt="o", ms=4, capsize=2, color=colours.get(line), alpha=0.7, label=f"per geboortejaar ({line})")
        if len(pool):
            a1.plot(pool["year"], pool["value"], "-", color=colours.get(line), label=f"gepoold, lopend ({line})")
            a1.fill_between(pool["year"], pool["ci_low"], pool["ci_high"], color=colours.get(line), alpha=0.2)
        prov = g[g["provisional"]]
        if len(prov):
            a1.scatter(prov["year"], prov["value"], marker="o", facecolors="white", edgecolors=colours.get(line),
                       zorder=3, label="voorlopig (venster nog niet compleet)" if line == LINE_OLD else None)
    a1.set_title("Uitstroom per geboortecohort")
    a1.set_xlabel("geboortejaar (pool: midden)")
    a1.set_ylabel("kind arm als ouders arm waren")
    y = t[t["series"] == "inkomensjaar"]
    for line, g in y.groupby("line"):
        g = g.sort_values("year")
        a2.plot(g["year"], g["value"], "-o", ms=3, color=colours.get(line), label=line)
        a2.fill_between(g["year"], g["ci_low"], g["ci_high"], color=colours.get(line), alpha=0.2)
    years = y["year"]
    if len(years) and years.min() < 2011 <= years.max():
        a2.axvline(2010.5, ls="--", color="grey")
        a2.annotate("IHI | INHATAB", (2010.5, 0.02), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                    fontsize=8, color="grey")
    if len(years) and years.max() >= FIRST_NEW_LINE:
        a2.axvline(FIRST_NEW_LINE - 0.5, ls=":", color="grey")
        a2.annotate("nieuwe armoedegrens", (FIRST_NEW_LINE - 0.5, 0.98), xycoords=("data", "axes fraction"),
                    ha="center", va="top", fontsize=8, color="grey")
    a2.set_title("Jongvolwassenen (22-26) in armoede, per inkomensjaar")
    a2.set_xlabel("inkomensjaar")
    a2.set_ylabel("aandeel arm")
    from matplotlib.ticker import MaxNLocator
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "geen gepubliceerde waarden", transform=ax.transAxes, ha="center", color="grey")
    fig.suptitle(title + (" - SYNTHETISCHE DATA" if synthetic else "") + "\nbanden en balken: 95%-interval; "
                 "alleen gepubliceerde waarden", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)
    plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline trend_charts", description=__doc__)
    ap.add_argument("--tables-dir", required=True)
    ap.add_argument("--gemeenten", nargs="+", required=True)
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--figures-dir", required=True)
    ap.add_argument("--synthetic", action="store_true")
    a = ap.parse_args(argv)
    io.setup_logging("trend_charts")
    d = Path(a.tables_dir)
    tables = {}
    for lvl in ("gemeente", "region"):
        read = lambda name: pd.read_csv(d / f"{name}_{lvl}.csv", dtype={"area_code": str, "cohort": str})  # noqa: E731
        tables[lvl] = trend_table(read("cohorts"), read("young_adults"), read("young_adults_line"))
        io.write_csv(tables[lvl], d / f"trend_{lvl}.csv")
    for code in a.gemeenten + ["regio"]:
        lvl = "region" if code == "regio" else "gemeente"
        t = tables[lvl]
        t = t if code == "regio" else t[t["area_code"] == code]
        name = a.region_name if code == "regio" else (t["area_name"].iloc[0] if len(t) else code)
        plot_trend(t, title=f"{name}: trends", path=Path(a.figures_dir) / f"trend_{code}.png", synthetic=a.synthetic)
    return 0
