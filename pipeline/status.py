"""Parents' poverty in childhood (methodology §5) and the child as a young adult (§6)."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from . import io

FIELDS = ["hh", "valid", "poor", "lt_poor", "rank"]
GRANDPARENTS = ["father_father", "father_mother", "mother_father", "mother_mother"]


class _Year:
    """One income year's person rows (R persons, the first row per RINPERSOON) for lookups by the
    integer RIN codes of :func:`child_statuses`."""

    def __init__(self, *, rin: np.ndarray, hh: np.ndarray, valid: np.ndarray, poor: np.ndarray,
                 lt_poor: np.ndarray, rank: np.ndarray):
        first = io.first_codes(rin) if len(rin) else np.zeros(0, dtype=bool)   # drop_duplicates("RINPERSOON")
        self.index = pd.Index(rin[first])
        self.valid = np.asarray(valid, dtype=bool)[first]
        self.poor = np.asarray(poor, dtype=bool)[first]
        self.lt_poor = np.asarray(lt_poor, dtype=bool)[first]
        self.rank = np.asarray(rank)[first]
        self.hh = np.asarray(hh)[first]

    def lookup(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """The year's fields for each RIN code (not found: not valid, no rank, household -1)."""
        pos = self.index.get_indexer(codes)
        found = pos >= 0
        at = np.where(found, pos, 0)
        out = {"found": found}
        for name, fill in (("hh", -1), ("valid", False), ("poor", False), ("lt_poor", False), ("rank", np.nan)):
            a = getattr(self, name)
            if len(a):
                out[name] = np.where(found, a[at], fill).astype(a.dtype, copy=False)
            else:
                out[name] = np.full(len(codes), fill, dtype=a.dtype)
        return {f: out[f] for f in FIELDS + ["found"]}


def _summarise(long: pd.DataFrame, *, prefix: str, min_valid: int, poor_share: float) -> pd.DataFrame:
    """Per child: valid years, poor and long-term-poor status (share of valid years) and mean rank."""
    g = long.groupby("child", sort=False)
    valid = long["valid"]
    agg = pd.DataFrame({
        "n_years": g.size(),
        "n_valid": g["valid"].sum(),
        "n_poor": long["poor"].groupby(long["child"], sort=False).sum(),
        "n_lt": long["lt_poor"].groupby(long["child"], sort=False).sum(),
        "rank": long["rank"].where(valid).groupby(long["child"], sort=False).mean(),
    })
    has = agg["n_valid"] >= min_valid
    out = pd.DataFrame(index=agg.index)
    out[f"{prefix}_valid_years"] = agg["n_valid"].astype("int16")
    out[f"{prefix}_poor"] = (agg["n_poor"] >= poor_share * agg["n_valid"]).where(has)
    out[f"{prefix}_lt_poor"] = (agg["n_lt"] >= poor_share * agg["n_valid"]).where(has)
    out[f"{prefix}_rank"] = agg["rank"].where(has)
    return out


RIN_COLUMNS = ["RINPERSOON", "mother", "father"] + GRANDPARENTS


def _tables_from_frames(kids: pd.DataFrame, person_years: dict[int, pd.DataFrame]
                        ) -> tuple[dict[str, np.ndarray], dict[int, _Year]]:
    """Integer codes instead of strings: one code per RINPERSOON over the children's columns and all
    years (a missing RIN of a child's relative is "", found only where a row has ""), one per
    household key; a missing household key (never written by household) matches nothing."""
    years = sorted(person_years)
    pys = {}
    for year in years:
        py = person_years[year]
        pys[year] = py[(py["RINPERSOONS"] == "R").to_numpy()].reset_index(drop=True)
    rin_cols = [c for c in RIN_COLUMNS if c in kids.columns]
    codes = io.key_codes([pd.DataFrame({"r": kids[c].fillna("").to_numpy(dtype=object)}) for c in rin_cols]
                         + [pd.DataFrame({"r": pys[y]["RINPERSOON"].to_numpy(dtype=object)}) for y in years], "r")
    kid_code = dict(zip(rin_cols, codes[:len(rin_cols)]))
    hh_codes = io.key_codes([pys[y] for y in years], "hh") if years else []
    tabs = {}
    for i, year in enumerate(years):
        py = pys[year]
        tabs[year] = _Year(rin=codes[len(rin_cols) + i], hh=np.where(py["hh"].isna().to_numpy(), -1, hh_codes[i]),
                           valid=py["valid"].to_numpy(dtype=bool), poor=py["poor"].to_numpy(dtype=bool),
                           lt_poor=py["lt_poor"].to_numpy(dtype=bool), rank=py["rank"].to_numpy())
    return kid_code, tabs


def _tables_from_arrow(kids: pd.DataFrame, family, *, years: list[int]
                       ) -> tuple[dict[str, np.ndarray], dict[int, _Year]]:
    """:func:`_tables_from_frames` on a pyarrow table of person-year rows (``year`` + the person-year
    columns), without turning its strings into Python objects: a RIN is coded by its position among
    the children's RIN strings (others are never looked up: -1), a household key by Arrow's
    dictionary encoding."""
    import pyarrow as pa
    import pyarrow.compute as pc
    rin_cols = [c for c in RIN_COLUMNS if c in kids.columns]
    values = [kids[c].fillna("").to_numpy(dtype=object) for c in rin_cols]
    enc = pc.dictionary_encode(pa.array(np.concatenate(values) if values else [], type=pa.string()))
    allk = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    bounds = np.cumsum([0] + [len(v) for v in values])
    kid_code = {c: allk[bounds[i]:bounds[i + 1]] for i, c in enumerate(rin_cols)}
    r = family.filter(pc.equal(family["RINPERSOONS"], "R"))
    rin = pc.fill_null(pc.index_in(r["RINPERSOON"], value_set=enc.dictionary.cast(r["RINPERSOON"].type)), -1)
    rin = rin.to_numpy().astype(np.int64)   # a ChunkedArray: to_numpy concatenates
    hh = pc.dictionary_encode(r["hh"].combine_chunks()).indices
    hh = pc.fill_null(hh, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    year = r["year"].to_numpy()
    cols = {c: r[c].to_numpy() for c in ("valid", "poor", "lt_poor", "rank")}
    del r
    tabs = {}
    for y in sorted(years):
        at = np.flatnonzero(year == y)
        tabs[y] = _Year(rin=rin[at], hh=hh[at], **{c: v[at] for c, v in cols.items()})
    return kid_code, tabs


def child_statuses(children: pd.DataFrame, person_years: dict[int, pd.DataFrame], *,
                   parents_ages: tuple[int, int] = (12, 17), parents_min_valid_years: int = 2,
                   child_ages: tuple[int, int] = (24, 27), child_min_valid_years: int = 1,
                   poor_share: float = 0.5, attrition: io.Attrition | None = None) -> pd.DataFrame:
    """Children with ``parents_poor``, ``parents_lt_poor``, ``parent_rank``, ``child_poor``,
    ``child_lt_poor``, ``child_rank`` and ``lives_with_parent``, over the income years given.

    In the parents' window each year uses the child's own household, else the counted mother's,
    else the father's; a row whose household is not valid makes the year invalid (no fallback).
    The adult window uses the child's own household only. Status needs the minimum number of
    valid years; otherwise it is missing.
    """
    kids = children.reset_index(drop=True)
    kid_code, tabs = _tables_from_frames(kids, person_years)
    return _statuses(kids, kid_code, tabs, parents_ages=parents_ages, parents_min_valid_years=parents_min_valid_years,
                     child_ages=child_ages, child_min_valid_years=child_min_valid_years, poor_share=poor_share,
                     attrition=attrition)


def family_statuses(children: pd.DataFrame, family, *, years: list[int], parents_ages: tuple[int, int] = (12, 17),
                    parents_min_valid_years: int = 2, child_ages: tuple[int, int] = (24, 27),
                    child_min_valid_years: int = 1, poor_share: float = 0.5,
                    attrition: io.Attrition | None = None) -> pd.DataFrame:
    """:func:`child_statuses` from the families' person-year rows of all ``years`` as one pyarrow
    table (the file of ``family_years``)."""
    kids = children.reset_index(drop=True)
    kid_code, tabs = _tables_from_arrow(kids, family, years=years)
    return _statuses(kids, kid_code, tabs, parents_ages=parents_ages, parents_min_valid_years=parents_min_valid_years,
                     child_ages=child_ages, child_min_valid_years=child_min_valid_years, poor_share=poor_share,
                     attrition=attrition)


def _statuses(kids: pd.DataFrame, kid_code: dict[str, np.ndarray], tabs: dict[int, _Year], *,
              parents_ages: tuple[int, int], parents_min_valid_years: int, child_ages: tuple[int, int],
              child_min_valid_years: int, poor_share: float, attrition: io.Attrition | None) -> pd.DataFrame:
    att = attrition or io.Attrition("status")
    child_id = pd.Series(np.arange(len(kids)), index=kids.index)  # position = child id
    years = sorted(tabs)
    birth = kids["birth_year"].astype(int).to_numpy()
    ids = child_id.to_numpy()
    p_rows, c_rows, gp_valid, gp_poor = [], [], [], []
    for year in years:
        tab = tabs[year]
        age = year - birth
        in_p = (age >= parents_ages[0]) & (age <= parents_ages[1])
        if in_p.any():
            own, mo, fa = (tab.lookup(kid_code[c][in_p]) for c in ("RINPERSOON", "mother", "father"))
            take_mo = ~own["found"] & mo["found"]
            take_fa = ~own["found"] & ~mo["found"] & fa["found"]
            use = {f: np.where(take_fa, fa[f], np.where(take_mo, mo[f], own[f])) for f in FIELDS + ["found"]}
            use = pd.DataFrame(use)
            use["source"] = np.select([own["found"], take_mo, take_fa], ["own", "mother", "father"], "none")
            use["both_known"] = mo["found"] & fa["found"]
            use["together"] = use["both_known"].to_numpy() & (mo["hh"] == fa["hh"]) & (mo["hh"] >= 0)
            grand = [tab.lookup(kid_code[g][in_p]) for g in GRANDPARENTS if g in kid_code]
            if grand:
                gp_valid.append(np.column_stack([g["valid"] for g in grand]).astype(np.int8))
                gp_poor.append(np.column_stack([g["poor"] for g in grand]).astype(np.int8))
            use["child"] = ids[in_p]
            use["year"] = year
            p_rows.append(use)
        in_c = (age >= child_ages[0]) & (age <= child_ages[1])
        if in_c.any():
            own = pd.DataFrame(tab.lookup(kid_code["RINPERSOON"][in_c]))
            own["hh_father"] = tab.lookup(kid_code["father"][in_c])["hh"]
            own["hh_mother"] = tab.lookup(kid_code["mother"][in_c])["hh"]
            own["child"] = ids[in_c]
            own["year"] = year
            c_rows.append(own)
    del tabs
    empty = pd.DataFrame(columns=FIELDS + ["found", "child", "year", "source", "hh_father", "hh_mother"])
    p_long = pd.concat(p_rows, ignore_index=True) if p_rows else empty
    c_long = pd.concat(c_rows, ignore_index=True) if c_rows else empty
    if len(p_long):
        src = p_long["source"].value_counts()
        io.log.info("parents' window: %d child-years; household from own %d, mother %d, father %d, none %d",
                    len(p_long), src.get("own", 0), src.get("mother", 0), src.get("father", 0), src.get("none", 0))
    par = _summarise(p_long.astype({"valid": bool, "poor": bool, "lt_poor": bool}), prefix="parents",
                     min_valid=parents_min_valid_years, poor_share=poor_share)
    chi = _summarise(c_long.astype({"valid": bool, "poor": bool, "lt_poor": bool}), prefix="child",
                     min_valid=child_min_valid_years, poor_share=poor_share)
    # Two-parent childhood household: both counted parents in one household in at least half of the
    # window's years in which both had a household; one counted parent means a one-parent household.
    if len(p_long):
        g = p_long.groupby("child", sort=False)
        known, together = g["both_known"].sum(), g["together"].sum()
        two = (together >= poor_share * known).where(known > 0).reindex(par.index)
        n_counted = kids["father"].notna().astype(int) + kids["mother"].notna().astype(int)
        one_counted = pd.Series((n_counted < 2).to_numpy(), index=np.arange(len(kids))).reindex(par.index)
        par["two_parent"] = two.where(~one_counted.fillna(False).astype(bool), False)
    # Third generation: a grandparent's own household poor in at least half of its valid years in
    # the same window (at least ``parents_min_valid_years``); any of the four grandparents counts.
    if len(p_long) and gp_valid:
        gv = np.concatenate(gp_valid).astype(np.int16)
        gp = np.concatenate(gp_poor).astype(np.int16)
        nv = pd.DataFrame(gv).groupby(p_long["child"].to_numpy()).sum()
        npoor = pd.DataFrame(gp).groupby(p_long["child"].to_numpy()).sum()
        has = nv >= parents_min_valid_years
        poor = (npoor >= poor_share * nv) & has
        par["grandparents_known"] = has.any(axis=1).reindex(par.index)
        par["grandparents_poor"] = poor.any(axis=1).where(has.any(axis=1)).reindex(par.index)
    # Living with a parent: in the last valid adult year the child's household key is a parent's.
    last = c_long[c_long["valid"].astype(bool)].sort_values("year").drop_duplicates("child", keep="last")
    hh = last["hh"].to_numpy()
    with_parent = (hh >= 0) & ((hh == last["hh_father"].to_numpy()) | (hh == last["hh_mother"].to_numpy()))
    chi["lives_with_parent"] = pd.Series(with_parent, index=last["child"].to_numpy()).reindex(chi.index)
    ids = np.arange(len(kids))
    out = pd.concat([kids, par.rename(columns={"parents_rank": "parent_rank"}).reindex(ids).reset_index(drop=True),
                     chi.reindex(ids).reset_index(drop=True)], axis=1)
    out["parents_valid_years"] = out["parents_valid_years"].fillna(0).astype("int16")
    out["child_valid_years"] = out["child_valid_years"].fillna(0).astype("int16")
    n = len(out)
    has_p = out["parents_poor"].notna()
    att.record(f"parents' status known (>= {parents_min_valid_years} valid years at ages "
               f"{parents_ages[0]}-{parents_ages[1]})", before=n, after=int(has_p.sum()))
    has_c = has_p & out["child_poor"].notna()
    att.record(f"own status known as young adult (>= {child_min_valid_years} valid years at ages "
               f"{child_ages[0]}-{child_ages[1]})", before=int(has_p.sum()), after=int(has_c.sum()))
    kids_n = int(has_c.sum())
    if "grandparents_poor" in out.columns:
        gp_known = has_c & out["grandparents_poor"].notna()
        att.record("third generation: a grandparent's status known (same window, >= "
                   f"{parents_min_valid_years} valid years)", before=kids_n, after=int(gp_known.sum()))
    for c in ("parents_poor", "parents_lt_poor", "child_poor", "child_lt_poor", "lives_with_parent", "two_parent",
              "grandparents_poor"):
        if c in out.columns:
            out[c] = out[c].astype("boolean")
    out = out.drop(columns=["grandparents_known"], errors="ignore")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline status", description=__doc__)
    ap.add_argument("--children", required=True)
    ap.add_argument("--family-years", required=True,
                    help="the families' person-year rows of all income years (step family_years)")
    ap.add_argument("--parents-ages", type=int, nargs=2, default=[12, 17])
    ap.add_argument("--parents-min-valid-years", type=int, default=2)
    ap.add_argument("--child-ages", type=int, nargs=2, default=[24, 27])
    ap.add_argument("--child-min-valid-years", type=int, default=1)
    ap.add_argument("--poor-share", type=float, default=0.5)
    ap.add_argument("--out", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    from .family_years import read_family_years
    io.setup_logging("status")
    att = io.Attrition("status")
    kids = io.read_parquet(a.children)
    family, years = read_family_years(a.family_years)
    out = family_statuses(kids, family, years=years, parents_ages=tuple(a.parents_ages),
                          parents_min_valid_years=a.parents_min_valid_years, child_ages=tuple(a.child_ages),
                          child_min_valid_years=a.child_min_valid_years, poor_share=a.poor_share, attrition=att)
    io.write_parquet(out, a.out)
    io.write_csv(att.frame(), a.attrition)
    return 0
