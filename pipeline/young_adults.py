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
from .upbringing import address_on, clean_addresses, clean_areas, place

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


def young_adults_year(people: pd.DataFrame, spells: pd.DataFrame, areas: pd.DataFrame, py: pd.DataFrame, *,
                      year: int, ages: tuple[int, int], region: list[str], attrition: io.Attrition) -> pd.DataFrame:
    """Person-level flags for one income year (record level: stays in data/processed)."""
    age = year - people["birth_year"]
    ya = people[age.between(*ages)].copy()
    n0 = len(ya)
    ya["ref_date"] = year * 10000 + 1231
    located = address_on(ya, spells)
    attrition.record(f"{year}: aged {ages[0]}-{ages[1]} with an address on 31 December", before=n0, after=len(located))
    placed = place(located, areas, region=region, what=f"{year}: young adults", attrition=attrition)
    ya = io.checked_merge(placed, ya.drop(columns="ref_date"), on=KEY, how="inner", validate="1:1",
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
    spells = clean_addresses(io.read_parquet(a.addresses))
    spells = spells[spells["RINPERSOON"].isin(people["RINPERSOON"])]
    areas = clean_areas(io.read_parquet(a.areas))
    flags = []
    for year, f in sorted(files.items()):
        py = io.read_parquet(f, columns=["RINPERSOONS", "RINPERSOON", "hh", "valid", "poor", "lt_poor"])
        flags.append(young_adults_year(people, spells, areas, py, year=year, ages=tuple(a.ages), region=a.region,
                                       attrition=att))
    flags = pd.concat(flags, ignore_index=True)
    io.write_parquet(flags, f"{a.out_dir}/young_adults_persons.parquet")
    for level, t in aggregate(flags, region_name=a.region_name).items():
        io.write_parquet(t, f"{a.out_dir}/young_adults_{level}.parquet")
    io.write_csv(att.frame(), a.attrition)
    return 0
