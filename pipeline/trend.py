"""Release of the rolling cohorts and the new-line young adults (issue #6): disclosure control
that lets published numbers stand when an income year is added.

Per-cohort tables: every unit (a single birth year, or a pool of consecutive birth years) is a
population of children that overlaps the others; the pooled table of config ``cohort.birth_years``
(``transmission_{level}.csv``, released by :mod:`pipeline.export`) is one more. Differences between
overlapping units would give away the cells of a birth year. Units are therefore decided one by
one, in the order of :func:`pipeline.rolling.cohort_units` (the existing pooled table first, as
published), each within itself by the cell and nested rules of :mod:`pipeline.disclosure`, and then
against the units already decided: for every area and every equation of the 2x2 table (the
margins: children, parents poor, child poor, parents not poor; and its four cells), the released units
must not determine any single withheld birth year, nor a combination of withheld birth years with
fewer than the threshold (:func:`pool_leak`). Where they would, the *new* unit's statistics that
give the equation away are withheld; earlier units are never changed.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from . import disclosure, io
from .disclosure import Thresholds
from .export import area_frame, check_entries, check_records, complete, decide_years_in_order, suppression_summary
from .rolling import LEVELS, LINES, MEASURES, UNIT_COLUMNS

BASE_COUNTS = ("n_children", "n_parents_poor", "n_child_poor", "n_both_poor")
ORDER = tuple(s for s in disclosure.POVERTY_STATS)
RATES = ("outflow", "p_child_poor_parents_not_poor", "inflow", "risk_ratio")
# The margins and the four cells of the 2x2 table (parents poor x child poor): the equations checked
# between units.
EQS = ("ALL", "PP", "CP", "BOTH", "NP", "NP_CP", "PP_NCP", "NP_NCP")
_T = disclosure.TRANSMISSION_MODEL
# The transmission cell model with the two remaining cells as equations and one pseudo-statistic per
# equation ("eq:PP"), so that the row rule can be told to keep an equation underivable (the rule
# between units protects equations).
MODEL = disclosure.CellModel(
    "transmission_units",
    {**_T.vectors, "PP_NCP": _T.vectors["PP"] - _T.vectors["BOTH"], "NP_NCP": _T.vectors["NP"] - _T.vectors["NP_CP"]},
    {**_T.terms, "PP_NCP": {"n_parents_poor": 1, "n_both_poor": -1},
     "NP_NCP": {"n_children": 1, "n_parents_poor": -1, "n_child_poor": -1, "n_both_poor": 1}},
    {**_T.reveals, **{f"eq:{q}": (q,) for q in EQS}, **{f"line:{q}": (q,) for q in ("ALL", "PP", "NP")}})
YA_LINE_COUNTS = ("n_young_adults", "n_poor")
SECONDARY_UNITS = "secondary: with the cohorts published before, would give away a withheld birth year"
SECONDARY_LINES = ("secondary: the lage-inkomensgrens row of the same persons does not show it, or the two differ "
                   "by a small group")
YA_LINE_SHARES = ("share_poor",)


def release_unit_row(row, th: Thresholds, *, protect=frozenset()) -> dict:
    """The poverty statistics of one area of one unit (see :func:`pipeline.disclosure.release_row`)."""
    return disclosure.release_row(row, th, model=MODEL, order=ORDER, primary=disclosure.primary_reason,
                                  protect=protect)


def rank_rule(row, th: Thresholds) -> dict:
    return {"abs_mobility_p25": disclosure.rank_reasons(row, th)["abs_mobility_p25"]}


def derivable_equations(released_stats) -> set[str]:
    """The equations of :data:`EQS` that the released statistics of one row determine."""
    eqs = MODEL.equations([s for s in released_stats if s in MODEL.reveals])
    if not eqs:
        return set()
    _, _, found = MODEL.determined(eqs)
    return {q for q in EQS if tuple(MODEL.vectors[q].astype(int)) in found}


def pool_leak(released: np.ndarray, values: np.ndarray, *, withheld: np.ndarray, threshold: int,
              max_rank: int = 16) -> bool:
    """Whether released unit totals give away withheld birth years.

    ``released``: one 0/1 row per released unit over the birth years (a single year is a unit
    vector); ``values``: the count of each birth year; ``withheld``: birth years holding anybody whose
    own count is not released. True when the rows determine (by linear combination) a single
    withheld year, or a 0/1 combination of withheld years holding fewer than ``threshold``. Known
    years (released singles, empty years) drop out first. With more than ``max_rank`` independent
    rows over withheld years the answer is True (too many combinations to check: withhold).
    """
    cols = np.flatnonzero(withheld)
    if not len(cols) or not len(released):
        return False
    r = np.asarray(released, dtype=float)[:, cols]
    r = r[np.abs(r).sum(axis=1) > 0]
    if not len(r):
        return False
    basis = disclosure._row_basis(r)
    k = len(basis)
    if k > max_rank:
        return True
    pick = ((np.arange(1, 2 ** k)[:, None] >> np.arange(k)) & 1).astype(float)
    v = pick @ basis
    ok = (np.isclose(v, 0) | np.isclose(v, 1)).all(axis=1)
    v = np.rint(v[ok])
    if not len(v):
        return False
    x = np.asarray(values, dtype=float)[cols]
    return bool(((v.sum(axis=1) == 1) | (v @ x < threshold)).any())


def _internal_unit(m: pd.DataFrame, frame: pd.DataFrame, *, level: str) -> pd.DataFrame:
    t = complete(m.drop(columns=["cohort", "line"]), frame, level=level)
    return t.drop(columns=["group"])


def decide_units(measures: dict[str, pd.DataFrame], units: pd.DataFrame, areas: pd.DataFrame, *, region_name: str,
                 th: Thresholds, fixed: dict[str, pd.DataFrame] | None = None,
                 fixed_years: tuple[int, int] | None = None) -> tuple[dict, dict]:
    """Decide every unit and line (see the module docstring).

    ``measures[level]``: long internal table (cohort, line, area_code, measures); ``units``: one row
    per unit and line (:data:`pipeline.rolling.UNIT_COLUMNS` and ``order``); ``fixed[level]``: the
    already released pooled table (area_code, released statistics, NaN where withheld) covering birth
    years ``fixed_years``, taken as released before every unit. Returns the internal tables and the
    reasons, both keyed (cohort, line) -> level -> frame indexed by area_code.
    """
    frames = {lvl: area_frame(areas, level=lvl, region_name=region_name) for lvl in LEVELS}
    internal, reasons = {}, {}
    line_order = {ln: i for i, ln in enumerate(LINES.values())}
    for line, lu in sorted(units.groupby("line", sort=False), key=lambda x: line_order.get(x[0], 99)):
        lu = lu.sort_values("order", kind="mergesort")
        singles = sorted(int(b) for b in lu.loc[~lu["pooled"].astype(bool), "first_birth_year"])
        pos = {b: i for i, b in enumerate(singles)}
        rows: dict[tuple, list] = {}      # (level, area, eq) -> released unit vectors
        tabs_of = {}
        for u in lu.itertuples(index=False):
            tabs_of[u.cohort] = {}
            for lvl in LEVELS:
                m = measures[lvl]
                m = m[(m["cohort"] == u.cohort) & (m["line"] == line)]
                tabs_of[u.cohort][lvl] = _internal_unit(m, frames[lvl], level=lvl)
        # Per level, the count of every equation per area (rows) and birth year (columns), and who is there.
        per_year = {}
        for b in singles:
            for lvl, t in tabs_of[str(b)].items():
                cnt = pd.DataFrame({q: [MODEL.values(r, (q,))[0] for _, r in t.iterrows()] for q in EQS},
                                   index=t.index)
                cnt["_inhabited"] = t["n_children"] > 0
                per_year.setdefault(lvl, {})[b] = cnt

        def vector(lo, hi):
            v = np.zeros(len(singles))
            for b in range(lo, hi + 1):
                if b in pos:
                    v[pos[b]] = 1
            return v

        if fixed and fixed_years and line == LINES["poor"] \
                and not all(b in pos for b in range(fixed_years[0], fixed_years[1] + 1)):
            io.log.warning("the pooled table's birth years %d-%d are not all single units here (%s): the rule "
                           "between units cannot count it", fixed_years[0], fixed_years[1], singles)
        if fixed and fixed_years and all(b in pos for b in range(fixed_years[0], fixed_years[1] + 1)) \
                and line == LINES["poor"]:
            v = vector(*fixed_years)
            for lvl, t in fixed.items():
                if lvl not in LEVELS:
                    continue
                for area, r in t.iterrows():
                    shown = [s for s in ORDER if s in r.index and pd.notna(r[s])]
                    for q in derivable_equations(shown):
                        rows.setdefault((lvl, area, q), []).append(v)
        for u in lu.itertuples(index=False):
            key = (u.cohort, line)
            tabs = tabs_of[u.cohort]
            ancestors = {lvl: t[[c for c in ("region", "gemeente") if c in t.columns and c != lvl]]
                         for lvl, t in tabs.items()}
            v = vector(u.first_birth_year, u.last_birth_year)
            protect = {lvl: {} for lvl in LEVELS}
            if line != LINES["poor"] and (u.cohort, LINES["poor"]) in internal:
                protect = same_children_rule(tabs, internal[(u.cohort, LINES["poor"])],
                                             reasons[(u.cohort, LINES["poor"])], th=th)
            while True:
                rs = disclosure.decide(tabs, ancestors=ancestors, th=th, row_rule=release_unit_row,
                                       counts=BASE_COUNTS, extra_rule=rank_rule, population="n_children",
                                       protect=protect)
                new, commit = 0, []
                for lvl, t in tabs.items():
                    for area in t.index:
                        shown = [s for s in ORDER if s in rs[lvl].columns and rs[lvl].at[area, s] is None]
                        for q in derivable_equations(shown):
                            cand = rows.get((lvl, area, q), []) + [v]
                            values, withheld = _year_values(per_year, lvl, area, q, singles, cand)
                            if pool_leak(np.array(cand), values, withheld=withheld,
                                         threshold=th.min_n if q == "ALL" else th.min_events):
                                protect[lvl].setdefault(area, set()).add(f"eq:{q}")
                                new += 1
                            else:
                                commit.append((lvl, area, q))
                if not new:
                    break
                io.log.info("unit %s (%s): %d equations withheld against earlier units", u.cohort, line, new)
            for lvl, area, q in commit:
                rows.setdefault((lvl, area, q), []).append(v)
            _name_unit_reasons(tabs, rs, protect, th)
            internal[key], reasons[key] = tabs, rs
    return internal, reasons


PARENT_SIDE = ("ALL", "PP", "NP")


def same_children_rule(tabs: dict, old_tabs: dict, old_reasons: dict, *, th: Thresholds) -> dict:
    """Protections for the new-line rows of a unit: they describe (nearly) the same children as the
    lage-inkomensgrens rows, so their parents' side (children, parents poor, parents not poor) may
    show only what the old line showed, and only where both populations are equal or differ by at
    least the threshold (the difference is the children without a new-line status)."""
    out = {lvl: {} for lvl in tabs}
    for lvl, t in tabs.items():
        old, why = old_tabs[lvl], old_reasons[lvl]
        for area in t.index:
            shown = [s for s in ORDER if s in why.columns and area in why.index and why.at[area, s] is None]
            ok = derivable_equations(shown)
            for q in PARENT_SIDE:
                new_v = MODEL.values(t.loc[area], (q,))[0]
                old_v = MODEL.values(old.loc[area], (q,))[0] if area in old.index else 0.0
                diff = old_v - new_v
                need = th.min_n if q == "ALL" else th.min_events
                if q not in ok or not (diff == 0 or diff >= need):
                    out[lvl].setdefault(area, set()).add(f"line:{q}")
    return out


def _name_unit_reasons(tabs, rs, protect, th) -> None:
    """Where a statistic is withheld only because of the rule between units (or between the two
    poverty lines), say so."""
    for lvl, per in protect.items():
        for area, prot in per.items():
            eqs = {p for p in prot if str(p).startswith("eq:")}
            lines = {p for p in prot if str(p).startswith("line:")}
            if not eqs and not lines:
                continue
            row = tabs[lvl].loc[area]
            no_eq = release_unit_row(row, th, protect=frozenset(prot - eqs))
            neither = release_unit_row(row, th, protect=frozenset(prot - eqs - lines))
            for stat in neither:
                if rs[lvl].at[area, stat] is None:
                    continue
                if no_eq.get(stat) is None and eqs:
                    rs[lvl].at[area, stat] = SECONDARY_UNITS
                elif neither[stat] is None and lines:
                    rs[lvl].at[area, stat] = SECONDARY_LINES


def _year_values(per_year, lvl, area, q, singles, released):
    """Per birth year of ``singles``: the count of equation ``q`` in ``area`` and whether it is
    withheld (inhabited and not among the ``released`` rows as a single year; a year not decided
    yet counts as withheld)."""
    values = np.zeros(len(singles))
    withheld = np.zeros(len(singles), dtype=bool)
    known = {tuple(r) for r in released}
    for i, b in enumerate(singles):
        c = per_year.get(lvl, {}).get(b)
        if c is None or area not in c.index:
            continue
        values[i] = c.at[area, q]
        e = np.zeros(len(singles))
        e[i] = 1
        withheld[i] = bool(c.at[area, "_inhabited"]) and tuple(e) not in known
    return values, withheld


def unit_columns() -> list[str]:
    cols = []
    for name in MEASURES:
        cols.append(name)
        if not name.startswith("n_"):
            cols += [f"{name}_ci_low", f"{name}_ci_high"]
    return cols


def export_units(measures, units, areas, *, region_name, th, fixed=None, fixed_years=None):
    """Released per-cohort tables per level and their output-check cells."""
    internal, reasons = decide_units(measures, units, areas, region_name=region_name, th=th, fixed=fixed,
                                     fixed_years=fixed_years)
    info = units.set_index(["cohort", "line"])
    tables = {lvl: [] for lvl in LEVELS}
    entries = []
    for key, tabs in internal.items():
        for lvl, t in tabs.items():
            rel = disclosure.apply(t, reasons[key][lvl], th=th, counts=BASE_COUNTS, rates=RATES)
            t = t.assign(group=f"{key[0]}|{key[1]}")
            entries.append(check_entries(f"cohorts_{lvl}", t, reasons[key][lvl], rel, th))
            rel = rel.reset_index(drop=True)
            for c in UNIT_COLUMNS:
                rel[c] = info.at[key, c] if c not in ("cohort", "line") else (key[0] if c == "cohort" else key[1])
            rel["level"] = lvl
            cols = ["area_code", "area_name", "level", *UNIT_COLUMNS]
            tables[lvl].append(rel[cols + [c for c in unit_columns() if c in rel.columns] + ["suppressed"]])
    out = {}
    for lvl, parts in tables.items():
        t = pd.concat(parts, ignore_index=True)
        t["_o"] = t["cohort"].map(dict(zip(units["cohort"], units["order"])))
        out[lvl] = t.sort_values(["line", "_o", "area_code"], kind="mergesort").drop(columns="_o").reset_index(drop=True)
    return out, pd.concat(entries, ignore_index=True) if entries else pd.DataFrame()


def export_young_adults_line(ya: dict[str, pd.DataFrame], flags_new: pd.DataFrame, areas: pd.DataFrame, *,
                             region_name: str, th: Thresholds, old: dict[str, pd.DataFrame] | None = None):
    """Released young adults by the new armoedegrens per year and level, oldest year first (as the
    §8 tables): cell rule, nested areas, and between years with this year's count withheld.

    ``old[level]``: the released §8 table (year, area_code, n_young_adults; empty where withheld).
    The new line counts the same young adults, less those without a new-line status, so its
    ``n_young_adults`` (and the share, which gives it) is shown only where the old table shows its
    own and both are equal or differ by at least ``min_n`` (with rounding: where the old one is shown).
    """
    frames = {lvl: area_frame(areas, level=lvl, region_name=region_name) for lvl in LEVELS}
    years = sorted(set().union(*[set(t["year"]) for t in ya.values()])) if ya else []
    internal = {}
    for year in years:
        internal[year] = {}
        for lvl in LEVELS:
            m = ya[lvl][ya[lvl]["year"] == year].set_index("area_code").drop(columns=["year", "level", "line"])
            f = frames[lvl]
            extra = m.index.difference(f.index)
            if len(extra):
                add = pd.DataFrame({"area_name": "(niet in grenzenbestand)", "region": region_name}, index=extra)
                if lvl == "wijk":
                    add["gemeente"] = "GM" + extra.str[2:6]
                f = pd.concat([f, add])
            t = f.join(m, how="left")
            t[list(YA_LINE_COUNTS)] = t[list(YA_LINE_COUNTS)].fillna(0).astype("int64")
            internal[year][lvl] = t

    by_line: dict[int, dict[str, set]] = {y: {lvl: set() for lvl in LEVELS} for y in years}
    if old is not None:
        for year in years:
            for lvl in LEVELS:
                o = old[lvl]
                o = o[o["year"] == year].set_index("area_code")["n_young_adults"]
                for area, n_new in internal[year][lvl]["n_young_adults"].items():
                    n_old = o.get(area, np.nan)
                    same = pd.notna(n_old) and (bool(th.round_counts_to) or n_old - n_new == 0 or n_old - n_new >= th.min_n)
                    if n_new > 0 and not same:
                        by_line[year][lvl].add(area)

    def decide_year(year, protect):
        for lvl, areas_ in by_line[year].items():
            for area in areas_:
                protect[lvl].setdefault(area, set()).add("n_young_adults")
        anc = {lvl: t[[c for c in ("region", "gemeente") if c in t.columns and c != lvl]]
               for lvl, t in internal[year].items()}
        return disclosure.decide(internal[year], ancestors=anc, th=th, row_rule=disclosure.release_young_adult_row,
                                 counts=YA_LINE_COUNTS, extra_rule=lambda row, th: {}, population="n_young_adults",
                                 protect=protect)

    person = pd.factorize(flags_new["RINPERSOON"])[0] if len(flags_new) else np.array([], dtype="int64")

    def members_of(lvl, wanted):
        area = (np.full(len(flags_new), region_name, dtype=object) if lvl == "region"
                else flags_new[lvl].to_numpy(dtype=object))
        parts = [pd.DataFrame({"person": pd.Series(dtype="int64"), "area": pd.Series(dtype=object),
                               "year": pd.Series(dtype="int64"), "count": pd.Series(dtype=object)})]
        for c, where in wanted.groupby("count")["area"]:
            on = pd.Series(area).isin(set(where)).to_numpy().copy()
            if c == "n_poor":
                on = on & flags_new["poor"].to_numpy(dtype=bool)
            parts.append(pd.DataFrame({"person": person[on], "area": area[on],
                                       "year": flags_new["year"].to_numpy()[on], "count": c}))
        return pd.concat(parts, ignore_index=True)

    reasons, protect = decide_years_in_order(internal, decide_year, members_of=members_of, levels=LEVELS,
                                             counts=YA_LINE_COUNTS, population="n_young_adults", th=th,
                                             what="young adults (nieuwe armoedegrens)")
    tables = {lvl: [] for lvl in LEVELS}
    entries = []
    cols = ["year", "area_code", "area_name", "level", "line", *YA_LINE_COUNTS, "share_poor", "share_poor_ci_low",
            "share_poor_ci_high", "suppressed"]
    for year in years:
        for lvl in LEVELS:
            r = reasons[year][lvl].copy()
            for area, cs in protect[year][lvl].items():
                for c in cs:
                    r.loc[area, c] = (SECONDARY_LINES if c == "n_young_adults" and area in by_line[year][lvl]
                                      else disclosure.SECONDARY_YEARS)
            rel = disclosure.apply(internal[year][lvl], r, th=th, counts=YA_LINE_COUNTS, rates=YA_LINE_SHARES)
            entries.append(check_entries(f"young_adults_line_{lvl}", internal[year][lvl], r, rel, th, year=year,
                                         n_of=lambda stat, t: "n_young_adults" if stat == "share_poor" else stat))
            rel.index.name = "area_code"
            rel = rel.reset_index()
            rel.insert(0, "year", year)
            rel["level"] = lvl
            rel["line"] = LINES["poor_new"]
            tables[lvl].append(rel[cols])
    out = {lvl: (pd.concat(v, ignore_index=True) if v else pd.DataFrame(columns=cols)) for lvl, v in tables.items()}
    return out, (pd.concat(entries, ignore_index=True) if entries else pd.DataFrame())


def check_markdown(cells: pd.DataFrame, *, th: Thresholds, files: list[str], synthetic: bool) -> str:
    summary = suppression_summary(cells) if len(cells) else pd.DataFrame()
    lines = ["# Outputcontrole reeksen / Output check of the series", "",
             f"Datum / date: {dt.date.today().isoformat()}. " + ("**Synthetische data / synthetic data.**"
                                                                  if synthetic else ""), "",
             "Dezelfde regels als `output_check.md`, plus / the same rules as `output_check.md`, plus:", "",
             "- Geboortecohorten en gepoolde cohorten overlappen: eenheden worden op volgorde beslist (eerst de "
             "gepoolde tabel `transmission_*`, dan op laatste geboortejaar); een nieuwe eenheid wordt onderdrukt "
             "als zij samen met eerder gepubliceerde eenheden een onderdrukt geboortejaar of een combinatie van "
             f"onderdrukte jaren met minder dan {th.min_events} personen prijsgeeft / overlapping units are decided "
             "in order; a new unit is withheld where, with the units published before it, it would give away a "
             "withheld birth year or a combination of withheld years under the threshold.",
             "- Jongvolwassenen (nieuwe armoedegrens): jaren op volgorde, een nieuw jaar past zich aan de "
             "gepubliceerde jaren aan / young adults (new line): years in order, a new year yields to the published "
             "ones.", "", "## Tabellen / tables", "", *[f"- `{f}`" for f in files], "",
             "| tabel / table | rijen / rows | cellen / cells | vrijgegeven / released | primair / primary "
             "| secundair / secondary |", "|---|---|---:|---:|---:|---:|"]
    for r in summary.itertuples(index=False):
        lines.append(f"| {r.table} | {r.rows} | {r.cells} | {r.released} | {r.withheld_primary} | "
                     f"{r.withheld_secondary} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline trend", description=__doc__)
    ap.add_argument("--rolling-dir", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--transmission-dir", required=True, help="the released transmission_{level}.csv")
    ap.add_argument("--pooled-birth-years", type=int, nargs=2, required=True)
    ap.add_argument("--region-name", required=True)
    Thresholds.add_options(ap)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--tables-dir", required=True)
    ap.add_argument("--check-json", required=True)
    ap.add_argument("--check-md", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("trend")
    th = Thresholds.from_options(a)
    areas = io.read_attributes(a.areas)
    d = Path(a.rolling_dir)
    units = io.read_parquet(d / "units.parquet")
    measures = {lvl: io.read_parquet(d / f"measures_{lvl}.parquet") for lvl in LEVELS}
    fixed = {}
    for lvl in LEVELS:
        t = pd.read_csv(Path(a.transmission_dir) / f"transmission_{lvl}.csv", dtype={"area_code": str, "group": str})
        fixed[lvl] = t[t["group"] == "totaal"].set_index("area_code")
    tables, cells = export_units(measures, units, areas, region_name=a.region_name, th=th, fixed=fixed,
                                 fixed_years=tuple(a.pooled_birth_years))
    ya = {lvl: io.read_parquet(d / f"young_adults_line_{lvl}.parquet") for lvl in LEVELS}
    flags_new = io.read_parquet(d / "young_adults_line_persons.parquet")
    old = {lvl: pd.read_csv(Path(a.tables_dir) / f"young_adults_{lvl}.csv", dtype={"area_code": str}) for lvl in LEVELS}
    ya_tables, ya_cells = export_young_adults_line(ya, flags_new, areas, region_name=a.region_name, th=th, old=old)
    out = Path(a.tables_dir)
    files = []
    for lvl in LEVELS:
        io.write_csv(tables[lvl], out / f"cohorts_{lvl}.csv")
        io.write_csv(ya_tables[lvl], out / f"young_adults_line_{lvl}.csv")
        files += [f"tables/cohorts_{lvl}.csv", f"tables/young_adults_line_{lvl}.csv"]
    cells = pd.concat([c for c in (cells, ya_cells) if len(c)], ignore_index=True)
    io.write_json({"generated": dt.datetime.now().isoformat(timespec="seconds"), "synthetic": a.synthetic,
                   "thresholds": th.__dict__, "files": files,
                   "suppression": suppression_summary(cells).to_dict("records"),
                   "cells": check_records(cells, rounded=bool(th.round_counts_to))}, a.check_json, indent=None)
    io.write_text(check_markdown(cells, th=th, files=files, synthetic=a.synthetic), a.check_md)
    n_rel = int(cells["released"].sum())
    io.log.info("series output check: %d cells, %d released", len(cells), n_rel)
    return 0
