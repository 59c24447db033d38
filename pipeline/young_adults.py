"""Young adults where they live now (methodology §8, the Veenkoloniën monitor's view).

For each income year t: R persons who turn 22-26 in t, whose address on 31 December t lies in
the region, with a valid household in t. Per gemeente and wijk of residence and the region.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .cohort import clean_persons, link_parents
from .measures import wilson
from .upbringing import OBJ, clean_addresses, clean_areas

KEY = ["RINPERSOONS", "RINPERSOON"]
# share name -> (numerator count, denominator count)
SHARES = {
    "share_poor": ("n_poor", "n_young_adults"),
    "share_lt_poor": ("n_lt_poor", "n_young_adults"),
    "share_away": ("n_away", "n_young_adults"),
    "share_father_poor_away": ("n_away_father_poor", "n_away_father"),
    "share_mother_poor_away": ("n_away_mother_poor", "n_away_mother"),
    "share_father_poor_poor_away": ("n_poor_away_father_poor", "n_poor_away_father"),
    "share_mother_poor_poor_away": ("n_poor_away_mother_poor", "n_poor_away_mother"),
}
COUNTS = ["n_young_adults", "n_poor", "n_lt_poor", "n_away", "n_away_father", "n_away_father_poor",
          "n_away_mother", "n_away_mother_poor", "n_poor_away", "n_poor_away_father", "n_poor_away_father_poor",
          "n_poor_away_mother", "n_poor_away_mother_poor"]


def year_end_places(people: pd.DataFrame, spells: pd.DataFrame, areas: pd.DataFrame, *, years: list[int],
                    ages: tuple[int, int], region: list[str]) -> tuple[pd.DataFrame, dict[int, dict[str, int]]]:
    """Every person's address on 31 December of each income year in which they are aged ``ages``,
    placed on the target-year areas and kept in ``region``, in one pass for all years.

    Per (person, year) the same as :func:`pipeline.upbringing.address_on` with ``ref_date`` =
    year*10000+1231 (the covering spell with the latest start, then the lowest RINOBJECTNUMMER)
    followed by :func:`pipeline.upbringing.place`: each spell is expanded to the year ends it
    covers instead of joining all spells and all VSLGWBTAB objects once per year. Returns the rows
    (``year``, KEY, ``gemeente``, ``wijk``, ``buurt``; by year, then KEY) and per year the counts
    that :func:`young_adults_year` records as attrition.
    """
    yrs = sorted(years)
    by = people["birth_year"]
    counts = {y: {"aged": int((y - by).between(*ages).sum())} for y in yrs}
    # person id = rank by KEY, so sorting by id is sorting by KEY as address_on did
    who = people[KEY + ["birth_year"]].sort_values(KEY, kind="mergesort").reset_index(drop=True)
    who["pid"] = np.arange(len(who), dtype="int64")
    sp = io.checked_merge(spells[KEY + ["start", "end"] + OBJ], who, on=KEY, how="inner", validate="m:1",
                          what="GBAADRESOBJECTBUS spells -> persons of young-adult age")
    start = sp["start"].to_numpy(dtype="int64")
    end = sp["end"].to_numpy(dtype="int64")
    birth = sp["birth_year"].to_numpy(dtype="int64")
    # year*10000+1231 lies in [start, end] for the years ceil((start-1231)/1e4) .. floor((end-1231)/1e4)
    lo = np.maximum.reduce([-((1231 - start) // 10000), birth + ages[0], np.full(len(sp), yrs[0])])
    hi = np.minimum.reduce([(end - 1231) // 10000, birth + ages[1], np.full(len(sp), yrs[-1])])
    n = np.clip(hi - lo + 1, 0, None)
    row = np.repeat(np.arange(len(sp)), n)
    year = lo[row] + (np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n))
    keep = np.isin(year, yrs)
    row, year = row[keep], year[keep]
    # Strings stay object dtype (pandas 3 would infer its str dtype from an object array).
    cand = pd.DataFrame({"year": year, "pid": sp["pid"].to_numpy()[row], "start": start[row],
                         "RINOBJECTNUMMER": pd.Series(sp["RINOBJECTNUMMER"].to_numpy()[row], dtype=object),
                         "row": row})
    cand = cand.sort_values(["year", "pid", "start", "RINOBJECTNUMMER"], ascending=[True, True, False, True],
                            kind="mergesort").drop_duplicates(["year", "pid"], keep="first")
    row = cand["row"].to_numpy()
    located = pd.DataFrame({"year": cand["year"].to_numpy(), "pid": cand["pid"].to_numpy(),
                            "SOORTOBJECTNUMMER": pd.Series(sp["SOORTOBJECTNUMMER"].to_numpy()[row], dtype=object),
                            "RINOBJECTNUMMER": pd.Series(sp["RINOBJECTNUMMER"].to_numpy()[row], dtype=object)})
    del sp, cand
    out = io.checked_merge(located, areas[OBJ + ["gemeente", "wijk", "buurt"]].assign(_found=True), on=OBJ,
                           how="left", validate="m:1", what="young adults' addresses -> VSLGWBTAB")
    found = out["_found"].notna().to_numpy()
    coded = found & out[["gemeente", "wijk", "buurt"]].notna().all(axis=1).to_numpy()
    inside = coded & out["gemeente"].isin(region).to_numpy()
    y = out["year"].to_numpy()
    for yr in yrs:
        at = y == yr
        counts[yr].update(located=int(at.sum()), found=int((at & found).sum()), coded=int((at & coded).sum()),
                          inside=int((at & inside).sum()))
    out = out[inside]
    pid = out["pid"].to_numpy()
    text = {"RINPERSOONS": who["RINPERSOONS"].to_numpy()[pid], "RINPERSOON": who["RINPERSOON"].to_numpy()[pid],
            "gemeente": out["gemeente"].to_numpy(), "wijk": out["wijk"].to_numpy(), "buurt": out["buurt"].to_numpy()}
    placed = pd.DataFrame({"year": out["year"].to_numpy(), **{k: pd.Series(v, dtype=object) for k, v in text.items()}})
    return placed, counts


def young_adults_year(people: pd.DataFrame, placed: pd.DataFrame, py: pd.DataFrame, *, year: int,
                      ages: tuple[int, int], counts: dict[str, int], attrition: io.Attrition) -> pd.DataFrame:
    """Person-level flags for one income year (record level: stays in data/processed); ``placed``
    and ``counts`` are that year's from :func:`year_end_places`."""
    what = f"{year}: young adults"
    attrition.record(f"{year}: aged {ages[0]}-{ages[1]} with an address on 31 December", before=counts["aged"],
                     after=counts["located"])
    attrition.record(f"{what}: address found in VSLGWBTAB", before=counts["located"], after=counts["found"])
    attrition.record(f"{what}: gemeente, wijk and buurt code known", before=counts["found"], after=counts["coded"])
    attrition.record(f"{what}: in the study region", before=counts["coded"], after=counts["inside"])
    age = year - people["birth_year"]
    ya = io.checked_merge(placed[KEY + ["gemeente", "wijk", "buurt"]].reset_index(drop=True),
                          people[age.between(*ages)], on=KEY, how="inner", validate="1:1",
                          what="young adults -> persons")
    py = py[py["RINPERSOONS"] == "R"].drop_duplicates("RINPERSOON").set_index("RINPERSOON")
    own = py.reindex(ya["RINPERSOON"])
    valid = own["valid"].fillna(False).astype(bool).to_numpy()
    n1 = len(ya)
    ya = ya[valid].copy()
    own = own[valid]
    attrition.record(f"{year}: valid household (private, with income; no students or institutions)",
                     before=n1, after=len(ya))
    ya["poor"] = own["poor"].astype(bool).to_numpy()
    ya["lt_poor"] = own["lt_poor"].astype(bool).to_numpy()
    hh = own["hh"].to_numpy()
    for role in ("father", "mother"):
        prow = py.reindex(ya[role].fillna(""))
        ya[f"{role}_hh"] = prow["hh"].to_numpy()
        ya[f"{role}_valid"] = prow["valid"].fillna(False).astype(bool).to_numpy()
        ya[f"{role}_poor"] = prow["poor"].fillna(False).astype(bool).to_numpy()
    ya["away"] = (hh != ya["father_hh"].to_numpy()) & (hh != ya["mother_hh"].to_numpy())
    ya["year"] = year
    return ya[["year", "RINPERSOON", "gemeente", "wijk", "poor", "lt_poor", "away", "father_valid", "father_poor",
               "mother_valid", "mother_poor"]]


def indicators(flags: pd.DataFrame) -> pd.DataFrame:
    """Per person-year row of ``flags``, 0/1 for each of :data:`COUNTS` (whom each count counts)."""
    f = flags
    return pd.DataFrame({
        "n_young_adults": 1, "n_poor": f["poor"], "n_lt_poor": f["lt_poor"], "n_away": f["away"],
        "n_away_father": f["away"] & f["father_valid"], "n_away_father_poor": f["away"] & f["father_valid"] & f["father_poor"],
        "n_away_mother": f["away"] & f["mother_valid"], "n_away_mother_poor": f["away"] & f["mother_valid"] & f["mother_poor"],
        "n_poor_away": f["poor"] & f["away"],
        "n_poor_away_father": f["poor"] & f["away"] & f["father_valid"],
        "n_poor_away_father_poor": f["poor"] & f["away"] & f["father_valid"] & f["father_poor"],
        "n_poor_away_mother": f["poor"] & f["away"] & f["mother_valid"],
        "n_poor_away_mother_poor": f["poor"] & f["away"] & f["mother_valid"] & f["mother_poor"],
    }, index=f.index).astype("int64")[COUNTS]


def aggregate(flags: pd.DataFrame, *, region_name: str) -> dict[str, pd.DataFrame]:
    """Counts and shares (Wilson intervals) per year and area, for gemeente, wijk and region."""
    f = flags.assign(region=region_name)
    ind = indicators(f)
    out = {}
    for level in ("gemeente", "wijk", "region"):
        t = ind.groupby([f["year"], f[level]]).sum()
        t.index.names = ["year", "area_code"]
        t = t.reset_index()
        for share, (k, n) in SHARES.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                t[share] = (t[k] / t[n]).where(t[n] > 0)
            t[f"{share}_ci_low"], t[f"{share}_ci_high"] = wilson(t[k], t[n])
        t.insert(2, "level", level)
        out[level] = t
    return out


_YEAR = re.compile(r"(\d{4})")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline young_adults", description=__doc__)
    ap.add_argument("--persons", required=True)
    ap.add_argument("--parents", required=True)
    ap.add_argument("--addresses", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--person-years", nargs="+", required=True)
    ap.add_argument("--ages", type=int, nargs=2, default=[22, 26])
    ap.add_argument("--min-parent-age-gap", type=int, default=12)
    ap.add_argument("--region", nargs="+", required=True)
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("young_adults")
    att = io.Attrition("young_adults")
    files = {int(_YEAR.findall(Path(f).name)[-1]): f for f in a.person_years}
    lo, hi = min(files) - a.ages[1], max(files) - a.ages[0]
    people = clean_persons(io.read_parquet(a.persons), attrition=io.Attrition("young_adults"))
    everyone = people
    people = people[people["birth_year"].between(lo, hi)]
    people = link_parents(people, everyone, io.read_parquet(a.parents), min_gap=a.min_parent_age_gap,
                          attrition=att)
    spells = clean_addresses(io.read_parquet(a.addresses, rows_in=("RINPERSOON", set(people["RINPERSOON"]))))
    areas = clean_areas(io.read_parquet(a.areas))
    placed, counts = year_end_places(people, spells, areas, years=sorted(files), ages=tuple(a.ages),
                                     region=a.region)
    del spells
    # Only the rows young_adults_year can look up: the people, their counted parents, and "" (the
    # key a missing parent is looked up with).
    lookup = set(people["RINPERSOON"]) | set(people["father"].dropna()) | set(people["mother"].dropna()) | {""}
    flags = []
    for year, f in sorted(files.items()):
        py = io.read_parquet(f, columns=["RINPERSOONS", "RINPERSOON", "hh", "valid", "poor", "lt_poor"],
                             rows_in=("RINPERSOON", lookup))
        flags.append(young_adults_year(people, placed[placed["year"] == year], py, year=year, ages=tuple(a.ages),
                                       counts=counts[year], attrition=att))
    flags = pd.concat(flags, ignore_index=True)
    io.write_parquet(flags, f"{a.out_dir}/young_adults_persons.parquet")
    for level, t in aggregate(flags, region_name=a.region_name).items():
        io.write_parquet(t, f"{a.out_dir}/young_adults_{level}.parquet")
    io.write_csv(att.frame(), a.attrition)
    return 0
