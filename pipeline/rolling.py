"""Rolling cohorts (issue #6): transmission measures for every birth cohort whose windows fit the
income years on disk, one cohort per birth year plus rolling pools, for both poverty lines.

Internal, pre-suppression tables (data/processed/rolling/); :mod:`pipeline.trend` releases them.
A cohort (birth year b) fits when the parents' window (income years b + parents_ages) holds at
least ``parents_min_valid_years`` years on disk and the adult window (b + child_ages) at least
``child_min_valid_years``. It is *provisional* while its adult window runs past the last year on
disk: a later income year still changes it.

Two poverty lines: the CBS lage-inkomensgrens (``poor``, every year) and, where the person-year
files carry it, the new CBS armoedegrens (``poor_new``, pandas nullable boolean, from 2018 on; NA
where INHARMATAB has no row). The new line changes only the child's status: every parents'
window of the cohorts on disk lies before 2018, so the parents stay on the lage-inkomensgrens.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .cohort import select_children
from .measures import area_measures
from .status import FIELDS, child_statuses
from .upbringing import upbringing_areas

LINES = {"poor": "lage-inkomensgrens", "poor_new": "nieuwe armoedegrens"}
LEVELS = ("gemeente", "wijk", "region")
# The published measures of the rolling tables (the rest of area_measures stays internal).
MEASURES = ("n_children", "n_parents_poor", "n_child_poor", "n_both_poor", "outflow", "p_child_poor_parents_not_poor",
            "risk_ratio", "inflow", "abs_mobility_p25")
UNIT_COLUMNS = ["cohort", "line", "first_birth_year", "last_birth_year", "pooled", "provisional", "parents_source"]
_YEAR = re.compile(r"(\d{4})")


def fitting_cohorts(years, *, parents_ages: tuple[int, int], parents_min_valid_years: int,
                    child_ages: tuple[int, int], child_min_valid_years: int) -> pd.DataFrame:
    """Birth years whose windows hold enough income years of ``years``.

    Columns ``birth_year``, ``parents_years`` and ``child_years`` (income years on disk in each
    window) and ``provisional`` (the adult window runs past the last year on disk).
    """
    years = sorted(set(int(y) for y in years))
    cols = ["birth_year", "parents_years", "child_years", "provisional"]
    if not years:
        return pd.DataFrame(columns=cols)
    on = set(years)
    rows = []
    for b in range(min(years) - parents_ages[1], max(years) - child_ages[0] + 1):
        p = sum(b + a in on for a in range(parents_ages[0], parents_ages[1] + 1))
        c = sum(b + a in on for a in range(child_ages[0], child_ages[1] + 1))
        if p >= parents_min_valid_years and c >= child_min_valid_years:
            rows.append((b, p, c, b + child_ages[1] > max(years)))
    return pd.DataFrame(rows, columns=cols).astype({"birth_year": "int64", "parents_years": "int64",
                                                    "child_years": "int64", "provisional": bool})


def cohort_units(cohorts: pd.DataFrame, *, pool_sizes=(3,)) -> pd.DataFrame:
    """The units published: every fitting birth year on its own and every run of ``size``
    consecutive fitting birth years (rolling, step one year) for each pool size.

    Columns ``cohort`` (label "1995" or "1995-1997"), ``first_birth_year``, ``last_birth_year``,
    ``pooled``, ``provisional`` (any of its birth years is) and ``order``: the order in which
    :mod:`pipeline.trend` decides them (by last birth year, single years before pools, smaller
    pools first), so that a unit's suppression depends only on units that were complete earlier.
    """
    b = sorted(int(x) for x in cohorts["birth_year"])
    prov = dict(zip(cohorts["birth_year"].astype(int), cohorts["provisional"].astype(bool)))
    rows = [(str(y), y, y, False, prov[y]) for y in b]
    have = set(b)
    for size in sorted(set(int(s) for s in pool_sizes if int(s) > 1)):
        for lo in b:
            span = range(lo, lo + size)
            if all(y in have for y in span):
                rows.append((f"{lo}-{lo + size - 1}", lo, lo + size - 1, True, any(prov[y] for y in span)))
    out = pd.DataFrame(rows, columns=["cohort", "first_birth_year", "last_birth_year", "pooled", "provisional"])
    out["_size"] = out["last_birth_year"] - out["first_birth_year"]
    out = out.sort_values(["last_birth_year", "_size"], kind="mergesort").drop(columns="_size")
    out["order"] = np.arange(len(out))
    return out.reset_index(drop=True)


def new_line_child_status(children: pd.DataFrame, person_years: dict[int, pd.DataFrame], *,
                          child_ages: tuple[int, int], child_min_valid_years: int,
                          poor_share: float) -> pd.Series:
    """Per child (aligned with ``children``): poor as a young adult by the new armoedegrens, over
    the adult-window years in which the own household is valid and ``poor_new`` is known (at least
    ``child_min_valid_years``); NA otherwise, and everywhere when no year has ``poor_new``."""
    kids = children.reset_index(drop=True)
    n_valid = np.zeros(len(kids), dtype="int64")
    n_poor = np.zeros(len(kids), dtype="int64")
    for year, py in sorted(person_years.items()):
        if "poor_new" not in py.columns:
            continue
        age = year - kids["birth_year"].astype(int)
        inw = age.between(*child_ages).to_numpy()
        if not inw.any():
            continue
        p = py[py["RINPERSOONS"] == "R"].drop_duplicates("RINPERSOON").set_index("RINPERSOON")
        own = p.reindex(kids["RINPERSOON"])
        known = (own["valid"].fillna(False).astype(bool) & own["poor_new"].notna()).to_numpy() & inw
        n_valid += known
        n_poor += known & own["poor_new"].fillna(False).astype(bool).to_numpy()
    has = n_valid >= max(child_min_valid_years, 1)
    out = pd.Series(pd.array(n_poor >= poor_share * n_valid, dtype="boolean"), index=children.index)
    return out.where(has, pd.NA)


def parents_source(birth_year: int, *, parents_ages: tuple[int, int], sources: dict[int, str]) -> str:
    """Where the parents' window of a birth year comes from: "IHI", "INHATAB" or "IHI+INHATAB"."""
    got = sorted({sources[y] for y in range(birth_year + parents_ages[0], birth_year + parents_ages[1] + 1)
                  if y in sources})
    return "+".join(got)


def year_sources(person_years: dict[int, pd.DataFrame]) -> dict[int, str]:
    """The income source of each year: the person-year ``source`` column where present (branch
    ``ihi``: "IHI" before 2011, "INHATAB" after), else INHATAB."""
    out = {}
    for y, py in person_years.items():
        if "source" in py.columns and len(py):
            s = py["source"].dropna()
            out[y] = str(s.iloc[0]) if len(s) else "INHATAB"
        else:
            out[y] = "IHI" if y < 2011 else "INHATAB"
    return out


def unit_measures(kids: pd.DataFrame, units: pd.DataFrame, *, region_name: str,
                  lines: tuple[str, ...] = ("poor",)) -> dict[str, pd.DataFrame]:
    """Per level, the measures of every unit and line (long, one row per unit, line and area with
    children), with the helper columns (``_..._k``, ``_..._n``) the disclosure rules need.

    ``kids`` holds the statuses (``parents_poor``, ``child_poor``, ``parent_rank``, ``child_rank``,
    ``birth_year``, the area columns) and, for the new line, ``child_poor_new``.
    """
    k = kids.assign(region=region_name)
    out = {lvl: [] for lvl in LEVELS}
    for u in units.drop_duplicates("cohort").itertuples(index=False):
        sel = k[k["birth_year"].between(u.first_birth_year, u.last_birth_year)]
        for line in lines:
            if line == "poor":
                s = sel[["parents_poor", "child_poor", "parent_rank", "child_rank", *LEVELS]]
            else:
                if f"child_{line}" not in sel.columns:
                    continue
                s = sel[["parents_poor", f"child_{line}", *LEVELS]].rename(columns={f"child_{line}": "child_poor"})
                s = s[s["child_poor"].notna()].astype({"child_poor": object})
                s = s.assign(parent_rank=np.nan, child_rank=np.nan)
                if s.empty:
                    continue
            for lvl in LEVELS:
                m = area_measures(s, area=s[lvl])
                if line != "poor":
                    m["abs_mobility_p25"] = np.nan
                    m["_abs_mobility_p25_n"] = 0
                keep = ["area_code", *MEASURES] + [c for c in m.columns if c.startswith(tuple(
                    f"{x}_ci" for x in MEASURES)) or c.startswith(tuple(f"_{x}_" for x in MEASURES))]
                m = m[list(dict.fromkeys(keep))]
                m.insert(0, "line", LINES[line])
                m.insert(0, "cohort", u.cohort)
                out[lvl].append(m)
    empty = pd.DataFrame(columns=["cohort", "line", "area_code", *MEASURES])
    return {lvl: (pd.concat(v, ignore_index=True) if v else empty) for lvl, v in out.items()}


def young_adults_new_line(flags: pd.DataFrame, person_years: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The young adults of §8 (``flags``: year, RINPERSOON, gemeente, wijk, ...) in the years whose
    person-year file has ``poor_new``, with ``poor`` replaced by the new line; persons whose
    ``poor_new`` is NA leave. Empty (same columns) when no year has the column."""
    cols = ["year", "RINPERSOON", "gemeente", "wijk", "poor"]
    parts = []
    for year, py in sorted(person_years.items()):
        if "poor_new" not in py.columns:
            continue
        f = flags[flags["year"] == year]
        p = py[py["RINPERSOONS"] == "R"].drop_duplicates("RINPERSOON").set_index("RINPERSOON")
        new = p["poor_new"].astype("boolean").reindex(f["RINPERSOON"]).to_numpy()
        known = ~pd.isna(new)
        g = f.loc[known, ["year", "RINPERSOON", "gemeente", "wijk"]].copy()
        g["poor"] = np.asarray(new[known], dtype=bool)
        parts.append(g)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "year" else (bool if c == "poor" else object))
                             for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def young_adults_line_table(flags_new: pd.DataFrame, *, region_name: str) -> dict[str, pd.DataFrame]:
    """Per level: ``n_young_adults``, ``n_poor`` and ``share_poor`` (Wilson interval) per year and area."""
    from .measures import wilson
    f = flags_new.assign(region=region_name)
    out = {}
    for lvl in LEVELS:
        t = f.groupby(["year", lvl]).agg(n_young_adults=("poor", "size"), n_poor=("poor", "sum")).reset_index()
        t = t.rename(columns={lvl: "area_code"}).astype({"n_young_adults": "int64", "n_poor": "int64"})
        with np.errstate(invalid="ignore", divide="ignore"):
            t["share_poor"] = (t["n_poor"] / t["n_young_adults"]).where(t["n_young_adults"] > 0)
        t["share_poor_ci_low"], t["share_poor_ci_high"] = wilson(t["n_poor"], t["n_young_adults"])
        t.insert(2, "level", lvl)
        t.insert(3, "line", LINES["poor_new"])
        out[lvl] = t
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline rolling", description=__doc__)
    ap.add_argument("--persons", required=True)
    ap.add_argument("--parents", required=True)
    ap.add_argument("--addresses", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--person-years", nargs="+", required=True)
    ap.add_argument("--young-adults", required=True, help="young_adults_persons.parquet (§8 flags)")
    ap.add_argument("--region", nargs="+", required=True)
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--require-both-parents", action="store_true")
    ap.add_argument("--min-parent-age-gap", type=int, default=12)
    ap.add_argument("--reference-age", type=int, default=15)
    ap.add_argument("--parents-ages", type=int, nargs=2, default=[12, 17])
    ap.add_argument("--parents-min-valid-years", type=int, default=2)
    ap.add_argument("--child-ages", type=int, nargs=2, default=[24, 27])
    ap.add_argument("--child-min-valid-years", type=int, default=1)
    ap.add_argument("--poor-share", type=float, default=0.5)
    ap.add_argument("--pool-sizes", type=int, nargs="*", default=[3])
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("rolling")
    files = {int(_YEAR.findall(Path(f).name)[-1]): f for f in a.person_years}
    cohorts = fitting_cohorts(files, parents_ages=tuple(a.parents_ages),
                              parents_min_valid_years=a.parents_min_valid_years, child_ages=tuple(a.child_ages),
                              child_min_valid_years=a.child_min_valid_years)
    if cohorts.empty:
        raise SystemExit(f"no birth cohort fits the income years {sorted(files)}")
    units = cohort_units(cohorts, pool_sizes=a.pool_sizes)
    io.log.info("income years %d-%d: %d birth cohorts fit (%s), %d units", min(files), max(files), len(cohorts),
                ", ".join(map(str, cohorts["birth_year"])), len(units))
    att = io.Attrition("rolling")
    kids = select_children(io.read_parquet(a.persons), io.read_parquet(a.parents),
                           birth_years=(int(cohorts["birth_year"].min()), int(cohorts["birth_year"].max())),
                           require_both_parents=a.require_both_parents, min_parent_age_gap=a.min_parent_age_gap,
                           attrition=att)
    kids = upbringing_areas(kids, io.read_parquet(a.addresses), io.read_parquet(a.areas), region=a.region,
                            reference_age=a.reference_age, attrition=att)
    flags = io.read_parquet(a.young_adults, columns=["year", "RINPERSOON", "gemeente", "wijk"])
    keep = (set(kids["RINPERSOON"]) | set(kids["father"].dropna()) | set(kids["mother"].dropna())
            | set(flags["RINPERSOON"]))
    years = {}
    for y, f in files.items():
        cols = [c for c in ["RINPERSOONS", "RINPERSOON", *FIELDS, "poor_new", "source"] if c in io.parquet_columns(f)]
        years[y] = io.read_parquet(f, columns=cols, rows_in=("RINPERSOON", keep))
    kids = kids[kids["birth_year"].isin(set(cohorts["birth_year"]))]
    st = child_statuses(kids.drop(columns=[c for c in kids.columns if c.startswith(("father_", "mother_"))]), years,
                        parents_ages=tuple(a.parents_ages), parents_min_valid_years=a.parents_min_valid_years,
                        child_ages=tuple(a.child_ages), child_min_valid_years=a.child_min_valid_years,
                        poor_share=a.poor_share, attrition=att)
    lines = ("poor",)
    if any("poor_new" in py.columns for py in years.values()):
        # Branch ihi writes the column in every year, NA where INHARMATAB has no row (before 2018).
        new = new_line_child_status(st, years, child_ages=tuple(a.child_ages),
                                    child_min_valid_years=a.child_min_valid_years, poor_share=a.poor_share)
        if new.notna().any():
            st["child_poor_new"] = new
            lines = ("poor", "poor_new")
        io.log.info("new armoedegrens: %d children with a status as young adults", int(new.notna().sum()))
    src = year_sources(years)
    units["parents_source"] = ["+".join(sorted({s for b in range(lo, hi + 1) for s in parents_source(
        b, parents_ages=tuple(a.parents_ages), sources=src).split("+") if s}))
        for lo, hi in zip(units["first_birth_year"], units["last_birth_year"])]
    tables = unit_measures(st, units, region_name=a.region_name, lines=lines)
    # A unit of the new line exists only where some of its children have a new-line status.
    have = set(zip(tables["region"]["cohort"], tables["region"]["line"]))
    units_out = pd.concat([units.assign(line=LINES[ln]) for ln in lines], ignore_index=True)
    units_out = units_out[[(c, ln) in have or ln == LINES["poor"] for c, ln in zip(units_out["cohort"], units_out["line"])]]
    out = Path(a.out_dir)
    io.write_parquet(units_out, out / "units.parquet")
    # what the cohort selection, placement and statuses kept and dropped over all fitting birth years
    io.write_csv(att.frame(), out / "attrition.csv")
    io.write_parquet(st[["RINPERSOON", "birth_year", *LEVELS[:2], "buurt", "parents_poor", "child_poor"]
                        + (["child_poor_new"] if "child_poor_new" in st.columns else [])], out / "statuses.parquet")
    for lvl, t in tables.items():
        io.write_parquet(t, out / f"measures_{lvl}.parquet")
    new = young_adults_new_line(flags, years)
    io.write_parquet(new, out / "young_adults_line_persons.parquet")
    for lvl, t in young_adults_line_table(new, region_name=a.region_name).items():
        io.write_parquet(t, out / f"young_adults_line_{lvl}.parquet")
    return 0
