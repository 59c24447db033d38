"""Export (methodology §10-§11): the tables that may leave, after disclosure control, and the
output-check report that lists every released cell with its rule and unrounded n."""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from . import disclosure, io
from .disclosure import Thresholds
from .measures import LEVELS, PROPORTIONS, REGRESSIONS, TOTAL
from .young_adults import COUNTS as YA_COUNTS
from .young_adults import SHARES

SUFFIXES = ("_ci_low", "_ci_high", "_eb", "_reliability")


def transmission_columns(available) -> list[str]:
    """The exported columns in order, of those the internal table has."""
    cols = ["area_code", "area_name", "level", "group", *disclosure.COUNTS]
    for name in ("outflow", "p_child_poor_parents_not_poor", "risk_ratio", "inflow",
                 "outflow_lt", "p_child_poor_parents_not_poor_lt", "risk_ratio_lt", "inflow_lt", "outflow_3gen",
                 *REGRESSIONS, "p_q1_q1", "p_q5_q1"):
        cols += [name] + [name + s for s in SUFFIXES if not (name.startswith("risk_ratio") and s in ("_eb", "_reliability"))]
    return [c for c in cols if c in set(available)] + ["suppressed"]


def area_frame(areas: pd.DataFrame, *, level: str, region_name: str) -> pd.DataFrame:
    """Area codes and names of one level, with each area's codes at the higher levels."""
    if level == "region":
        a = pd.DataFrame({"area_code": [region_name], "area_name": [region_name]})
    else:
        a = areas.loc[areas["level"] == level, ["area_code", "area_name"]].copy()
    a["region"] = region_name
    if level in ("buurt", "wijk"):
        a["gemeente"] = "GM" + a["area_code"].str[2:6]
    if level == "buurt":
        a["wijk"] = "WK" + a["area_code"].str[2:8]
    return a.set_index("area_code")


def complete(measures: pd.DataFrame, frame: pd.DataFrame, *, level: str) -> pd.DataFrame:
    """Measures on every area of the geography (zeros and empties where no children).

    Areas with children that the boundary file lacks are kept (their children count in every
    total) and named as such, so the totals of a level add up to the level above."""
    m = measures.set_index("area_code")
    extra = m.index.difference(frame.index)
    if len(extra):
        io.log.warning("%s: %d areas with children are not in the boundary file: %s", level, len(extra),
                       ", ".join(map(str, extra[:10])))
        add = pd.DataFrame({"area_name": "(niet in grenzenbestand)"}, index=extra)
        add["region"] = frame["region"].iloc[0]
        if level in ("buurt", "wijk"):
            add["gemeente"] = "GM" + extra.str[2:6]
        if level == "buurt":
            add["wijk"] = "WK" + extra.str[2:8]
        frame = pd.concat([frame, add])
    t = frame.join(m.drop(columns=["level", "key", "group"], errors="ignore"), how="left")
    _fill_counts(t)
    t["level"] = level
    t["group"] = TOTAL
    t["area_code"] = t.index
    return t


def _fill_counts(t: pd.DataFrame) -> None:
    for c in disclosure.COUNTS:
        if c in t.columns:
            t[c] = t[c].fillna(0).astype("int64")
    for c in [c for c in t.columns if c.startswith("_") and (c.endswith("_n") or c.endswith("_k"))]:
        t[c] = t[c].fillna(0)


def group_tables(measures: pd.DataFrame, frame: pd.DataFrame, *, level: str,
                 region_name: str) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Breakdown rows of one level as tables "level|breakdown" indexed "code|breakdown=label", with their
    ancestors: the area's total row, and the same group one level up (both partitions)."""
    tables, ancestors = {}, {}
    rows = measures[measures["group"] != TOTAL]
    for b, g in rows.groupby(rows["group"].str.split("=").str[0]):
        name = f"{level}|{b}"
        t = g.set_index("key").drop(columns=["level"])
        t["area_name"] = t["area_code"].map(frame["area_name"]).fillna("(niet in grenzenbestand)")
        t["level"] = level
        _fill_counts(t)
        label = t.index.str.split("|").str[1]
        anc = pd.DataFrame({level: t["area_code"]}, index=t.index)
        up = {"buurt": "wijk", "wijk": "gemeente", "gemeente": "region"}.get(level)
        if up:
            code = t["area_code"]
            up_code = (region_name if up == "region" else
                       ("GM" + code.str[2:6]) if up == "gemeente" else ("WK" + code.str[2:8]))
            anc[f"{up}|{b}"] = up_code + "|" + label
        tables[name], ancestors[name] = t, anc
    return tables, ancestors


def _rule_text(stat: str, th: Thresholds) -> str:
    if stat in REGRESSIONS:
        return f"regression: residual df >= {th.min_df}"
    if stat == "n_children":
        return f"count: n >= {th.min_n}"
    return f"numerator and complement >= {th.min_events}; 2x2 cells not recoverable; nested areas"


def _n_for(stat: str, table: pd.DataFrame) -> str:
    """The column holding the unrounded n behind ``stat``."""
    if f"_{stat}_n" in table.columns:
        return f"_{stat}_n"
    return "n_children"


def check_entries(table_name: str, internal: pd.DataFrame, reasons: pd.DataFrame, released: pd.DataFrame,
                  th: Thresholds, *, n_of=_n_for, rule_of=_rule_text, year=None) -> list[dict]:
    """One entry per cell (released or withheld) for reports/output_check.json."""
    out = []
    area = internal["area_code"] if "area_code" in internal.columns else pd.Series(internal.index, index=internal.index)
    group = internal["group"] if "group" in internal.columns else None
    for stat in reasons.columns:
        why = reasons[stat].reindex(internal.index)
        ok = why.isna()
        d = pd.DataFrame({"table": table_name, "area_code": area.to_numpy(), "statistic": stat,
                          "released": ok.to_numpy(),
                          "unrounded_n": internal[n_of(stat, internal)].fillna(0).astype("int64").to_numpy()},
                         index=internal.index)
        if group is not None:
            d.insert(2, "group", group.to_numpy())
        if year is not None:
            d.insert(1, "year", int(year))
        vals = released[stat].reindex(internal.index).astype("float64")
        d["rule"] = np.where(ok, rule_of(stat, th), None)
        d["value"] = vals.where(ok & vals.notna(), None).astype(object)
        d["reason"] = why.where(~ok, None)
        for rec in d.to_dict("records"):
            out.append({k: v for k, v in rec.items()
                        if not (k == "rule" and v is None) and not (k == "reason" and v is None)
                        and not (k == "value" and not rec["released"])})
    return out


def export_transmission(measures: dict[str, pd.DataFrame], areas: pd.DataFrame, *, region_name: str,
                        th: Thresholds) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Released transmission tables per level (group rows included) and their output-check entries."""
    internal, ancestors = {}, {}
    for lvl in LEVELS:
        m = measures[lvl]
        if "group" not in m.columns:
            m = m.assign(group=TOTAL, key=m["area_code"])
        frame = area_frame(areas, level=lvl, region_name=region_name)
        internal[lvl] = complete(m[m["group"] == TOTAL], frame, level=lvl)
        ancestors[lvl] = internal[lvl][[c for c in ("region", "gemeente", "wijk") if c in internal[lvl].columns]]
        gt, ga = group_tables(m, frame, level=lvl, region_name=region_name)
        internal.update(gt)
        ancestors.update(ga)
    reasons = disclosure.decide(internal, ancestors=ancestors, th=th)
    tables, entries = {}, []
    for lvl in LEVELS:
        parts = []
        for name in [n for n in internal if n.split("|")[0] == lvl]:
            rel = disclosure.apply(internal[name], reasons[name], th=th)
            entries += check_entries(f"transmission_{lvl}", internal[name], reasons[name], rel, th)
            parts.append(rel.reset_index(drop=True))
        rel = pd.concat(parts, ignore_index=True)
        rel["_order"] = rel["group"] != TOTAL
        rel = rel.sort_values(["_order", "area_code", "group"], kind="mergesort")
        tables[lvl] = rel[transmission_columns(rel.columns)].reset_index(drop=True)
        main = internal[lvl]
        n_with = int((main["n_children"] > 0).sum())
        n_out = int(tables[lvl].loc[tables[lvl]["group"] == TOTAL, "outflow"].notna().sum())
        io.log.info("transmission_%s: %d areas, %d with children, outflow released for %d; %d group rows",
                    lvl, len(main), n_with, n_out, int((tables[lvl]["group"] != TOTAL).sum()))
    return tables, entries


# --------------------------------------------------------------------------- young adults

def young_adult_row(row: pd.Series, th: Thresholds, *, protect: set[str] = frozenset()) -> dict[str, str | None]:
    """Counts need n >= min_n (the total) or numerator and complement >= min_events (a part);
    a share needs numerator and complement >= min_events; a protected count takes its shares along."""
    out: dict[str, str | None] = {}
    n = row["n_young_adults"]
    for c in YA_COUNTS:
        if n < th.min_n:
            out[c] = f"n_young_adults < {th.min_n}"
        elif c in protect:
            out[c] = "secondary: withheld so a withheld area cannot be recovered by subtraction"
        elif c != "n_young_adults" and min(row[c], n - row[c]) < th.min_events:
            out[c] = f"numerator or complement < {th.min_events}"
        else:
            out[c] = None
    for share, (k, d) in SHARES.items():
        if n < th.min_n:
            out[share] = f"n_young_adults < {th.min_n}"
        elif k in protect or d in protect:
            out[share] = "secondary: its count is withheld"
        elif min(row[k], row[d] - row[k]) < th.min_events:
            out[share] = f"numerator or complement < {th.min_events}"
        else:
            out[share] = None
    return out


def export_young_adults(ya: dict[str, pd.DataFrame], areas: pd.DataFrame, *, region_name: str,
                        th: Thresholds) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    levels = ("gemeente", "wijk", "region")
    years = sorted(set().union(*[set(t["year"]) for t in ya.values()]))
    frames = {lvl: area_frame(areas, level=lvl, region_name=region_name) for lvl in levels}
    tables = {lvl: [] for lvl in levels}
    entries: list[dict] = []
    share_cols = [c for s in SHARES for c in (s, f"{s}_ci_low", f"{s}_ci_high")]
    for year in years:
        internal = {}
        for lvl in levels:
            m = ya[lvl][ya[lvl]["year"] == year].set_index("area_code").drop(columns=["year", "level"])
            f = frames[lvl]
            extra = m.index.difference(f.index)
            if len(extra):
                io.log.warning("young adults %d %s: %d areas not in the boundary file", year, lvl, len(extra))
                add = pd.DataFrame({"area_name": "(niet in grenzenbestand)", "region": region_name}, index=extra)
                if lvl == "wijk":
                    add["gemeente"] = "GM" + extra.str[2:6]
                f = pd.concat([f, add])
            t = f.join(m, how="left")
            t[YA_COUNTS] = t[YA_COUNTS].fillna(0).astype("int64")
            internal[lvl] = t
        ancestors = {lvl: t[[c for c in ("region", "gemeente") if c in t.columns and c != lvl]]
                     for lvl, t in internal.items()}
        reasons = disclosure.decide(internal, ancestors=ancestors, th=th, row_rule=young_adult_row,
                                    counts=("n_young_adults", "n_poor", "n_lt_poor", "n_away"),
                                    extra_rule=lambda row, th: {}, population="n_young_adults")
        for lvl in levels:
            rel = disclosure.apply(internal[lvl], reasons[lvl], th=th, counts=tuple(YA_COUNTS), rates=tuple(SHARES))
            rel.index.name = "area_code"
            rel = rel.reset_index()
            rel.insert(0, "year", year)
            rel["level"] = lvl
            tables[lvl].append(rel[["year", "area_code", "area_name", "level", *YA_COUNTS, *share_cols, "suppressed"]])
            entries += check_entries(
                f"young_adults_{lvl}", internal[lvl], reasons[lvl], rel.set_index("area_code"), th, year=year,
                n_of=lambda stat, t: SHARES[stat][1] if stat in SHARES else "n_young_adults",
                rule_of=lambda stat, th: f"numerator and complement >= {th.min_events}; n >= {th.min_n}; nested areas")
    return {lvl: pd.concat(v, ignore_index=True) for lvl, v in tables.items()}, entries


# --------------------------------------------------------------------------- attrition

def released_attrition(rows: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Attrition counts rounded to tens, with counts under the threshold left empty, so that no
    small group of excluded persons can be read off (differences of rounded counts are inexact)."""
    out = rows.copy()
    for c in ("n_before", "n_after", "n_dropped"):
        v = out[c].astype(float)
        r = (np.floor(v / 10 + 0.5) * 10).astype("Int64")
        out[c] = r.where((v >= th.min_n) | (v == 0))
    out["note"] = "afgerond op tientallen; leeg = minder dan " + str(th.min_n)
    return out


# --------------------------------------------------------------------------- report

def output_check_markdown(entries: list[dict], *, th: Thresholds, files: list[str], synthetic: bool) -> str:
    df = pd.DataFrame(entries)
    today = dt.date.today().isoformat()
    lines = [
        "# Output check / Outputcontrole",
        "",
        f"Datum / date: {today}. " + ("**Synthetische data / synthetic data.**" if synthetic else ""),
        "",
        "## Regels / rules",
        "",
        f"- Aantallen en gemiddelden alleen bij n >= {th.min_n} / counts and means only with n >= {th.min_n}.",
        f"- Proporties alleen als teller en complement >= {th.min_events} / proportions only when numerator "
        f"and complement are both >= {th.min_events}.",
        f"- Regressies alleen bij >= {th.min_df} residuele vrijheidsgraden / regressions only with >= {th.min_df} "
        "residual degrees of freedom.",
        "- Geen minima of maxima / no minima or maxima.",
        "- Secundaire onderdrukking: geen cel van de 2x2-tabel (ouders arm x kind arm) onder de drempel "
        "terug te rekenen, en per gepubliceerd gebied nooit precies één onderdrukt deelgebied / secondary "
        "suppression: no 2x2 cell below the threshold recoverable, and never exactly one withheld sub-area "
        "under a released area.",
        "- Afgeleide waarden (interval, EB, betrouwbaarheid) volgen hun schatting / derived values follow "
        "their estimate.",
        f"- Afronding van aantallen / rounding of counts: {th.round_counts_to or 'geen / none'}.",
        "",
        "## Bestanden / files",
        "",
        *[f"- `{f}`" for f in files],
        "",
        "## Samenvatting per tabel / summary per table",
        "",
        "| tabel / table | cellen / cells | vrijgegeven / released | onderdrukt / withheld |",
        "|---|---:|---:|---:|",
    ]
    for table, g in df.groupby("table", sort=True):
        lines.append(f"| {table} | {len(g)} | {int(g['released'].sum())} | {int((~g['released']).sum())} |")
    lines += ["", "## Redenen van onderdrukking / reasons for suppression", "",
              "| reden / reason | cellen / cells |", "|---|---:|"]
    held = df[~df["released"]]
    for reason, n in held["reason"].value_counts().items():
        lines.append(f"| {reason} | {n} |")
    lines += ["", "Elke cel, met regel en onafgeronde n, staat in `output_check.json` / every cell, with its "
              "rule and unrounded n, is listed in `output_check.json`.", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline export", description=__doc__)
    ap.add_argument("--measures-dir", required=True)
    ap.add_argument("--young-adults-dir", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--attrition", nargs="+", required=True)
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--min-n", type=int, default=10)
    ap.add_argument("--min-events", type=int, default=10)
    ap.add_argument("--min-df", type=int, default=10)
    ap.add_argument("--round-counts-to", type=int, default=0)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--tables-dir", required=True)
    ap.add_argument("--check-json", required=True)
    ap.add_argument("--check-md", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("export")
    th = Thresholds(a.min_n, a.min_events, a.min_df, a.round_counts_to or None)
    import geopandas as gpd
    areas = pd.DataFrame(gpd.read_parquet(a.areas).drop(columns="geometry"))
    measures = {lvl: io.read_parquet(f"{a.measures_dir}/measures_{lvl}.parquet") for lvl in LEVELS}
    trans, entries = export_transmission(measures, areas, region_name=a.region_name, th=th)
    ya = {lvl: io.read_parquet(f"{a.young_adults_dir}/young_adults_{lvl}.parquet") for lvl in ("gemeente", "wijk", "region")}
    ya_tables, ya_entries = export_young_adults(ya, areas, region_name=a.region_name, th=th)
    entries += ya_entries
    files = []
    out = Path(a.tables_dir)
    for lvl, t in trans.items():
        io.write_csv(t, out / f"transmission_{lvl}.csv")
        files.append(f"tables/transmission_{lvl}.csv")
    for lvl, t in ya_tables.items():
        io.write_csv(t, out / f"young_adults_{lvl}.csv")
        files.append(f"tables/young_adults_{lvl}.csv")
    att = pd.concat([pd.read_csv(f) for f in a.attrition], ignore_index=True)
    io.write_csv(released_attrition(att, th), out / "attrition.csv")
    files.append("tables/attrition.csv")
    io.write_json({"generated": dt.datetime.now().isoformat(timespec="seconds"), "synthetic": a.synthetic,
                   "thresholds": th.__dict__, "files": files, "cells": entries}, a.check_json)
    io.write_text(output_check_markdown(entries, th=th, files=files, synthetic=a.synthetic), a.check_md)
    n_rel = sum(e["released"] for e in entries)
    io.log.info("output check: %d cells, %d released, %d withheld", len(entries), n_rel, len(entries) - n_rel)
    return 0
