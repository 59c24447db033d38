"""Young adults where they live now (methodology §8, the Veenkoloniën monitor's view).

For each income year t: R persons who turn 22-26 in t, whose address on 31 December t lies in
the region, with a valid household in t. Per gemeente and wijk of residence and the region.
"""
from __future__ import annotations

import argparse
import json
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
    # person id (pid) = position in who = rank by KEY, so sorting by id is sorting by KEY as address_on did
    who = people[KEY + ["birth_year"]].sort_values(KEY, kind="mergesort").reset_index(drop=True)
    # The joins and the sort on integer keys (io.checked_lookup, codes in string order) instead of
    # pd.merge and sort_values on object columns; the rows and their order are the same.
    at = io.checked_lookup(spells, who, on=KEY, how="inner", validate="m:1",
                           what="GBAADRESOBJECTBUS spells -> persons of young-adult age")
    hit = at >= 0
    pids = at[hit]   # pid is who's position
    del at
    start = spells["start"].to_numpy(dtype="int64")[hit]
    end = spells["end"].to_numpy(dtype="int64")[hit]
    birth = who["birth_year"].to_numpy(dtype="int64")[pids]
    soort = spells["SOORTOBJECTNUMMER"].to_numpy(dtype=object)[hit]
    rinobj = spells["RINOBJECTNUMMER"].to_numpy(dtype=object)[hit]
    del hit
    # year*10000+1231 lies in [start, end] for the years ceil((start-1231)/1e4) .. floor((end-1231)/1e4)
    lo = np.maximum.reduce([-((1231 - start) // 10000), birth + ages[0], np.full(len(start), yrs[0])])
    hi = np.minimum.reduce([(end - 1231) // 10000, birth + ages[1], np.full(len(start), yrs[-1])])
    n = np.clip(hi - lo + 1, 0, None)
    row = np.repeat(np.arange(len(start)), n)
    year = lo[row] + (np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n))
    keep = np.isin(year, yrs)
    row, year = row[keep], year[keep]
    # Per (year, person) the covering spell with the latest start, then the lowest RINOBJECTNUMMER
    # (the rank of the string, as sort_values orders object strings; missing last), then the first row.
    # The rows by (year, person) as one int64 (a stable sort: a group's rows keep their order); only
    # groups with several spells are sorted further, on the ranks of their own RINOBJECTNUMMERs.
    group = (year - yrs[0]) * np.int64(len(who)) + pids[row]
    order = np.argsort(group, kind="stable")
    row, year, group = row[order], year[order], group[order]
    first = np.ones(len(row), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    size = np.diff(np.append(np.flatnonzero(first), len(row)))
    several = np.flatnonzero(np.repeat(size > 1, size))
    if len(several):
        robj, n_obj = io.sorted_codes(rinobj[row[several]])   # pd.factorize(..., sort=True)
        robj = np.where(robj < 0, n_obj, robj)
        best = several[np.lexsort((robj, -start[row[several]], group[several]))]   # stable, last key first
        lead = np.ones(len(best), dtype=bool)
        lead[1:] = group[best[1:]] != group[best[:-1]]
        first[several] = False
        first[best[lead]] = True
        del robj, best, lead
    row, year = row[first], year[first]
    pid = pids[row]
    del order, first, group, size, several
    # The join of the located rows' objects to VSLGWBTAB on codes of the spells' objects (coded
    # once per spell, not per year end; strings stay object dtype, not pandas 3's inferred str).
    obj, area_obj = io.key_codes([pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in zip(OBJ, (soort, rinobj))}),
                                  areas], OBJ)
    located = pd.DataFrame({"year": year, "pid": pid})
    at = io.lookup_codes(obj[row], area_obj, what="young adults' addresses -> VSLGWBTAB")
    del soort, rinobj, row, start, end, birth, pids, obj, area_obj
    found = at >= 0
    # The codes' tests on the VSLGWBTAB rows, then taken to the located rows (no row: None, not coded).
    geo = {c: areas[c].to_numpy(dtype=object) for c in ("gemeente", "wijk", "buurt")}
    area_coded = pd.notna(geo["gemeente"]) & pd.notna(geo["wijk"]) & pd.notna(geo["buurt"])
    area_inside = area_coded & pd.Series(geo["gemeente"], dtype=object).isin(region).to_numpy()
    coded = io.take(area_coded, at, fill=False)
    inside = io.take(area_inside, at, fill=False)
    del area_coded, area_inside
    y = located["year"].to_numpy()
    for yr in yrs:
        here = y == yr
        counts[yr].update(located=int(here.sum()), found=int((here & found).sum()), coded=int((here & coded).sum()),
                          inside=int((here & inside).sum()))
    pid = located["pid"].to_numpy()[inside]
    at = at[inside]   # all >= 0
    text = {"RINPERSOONS": who["RINPERSOONS"].to_numpy()[pid], "RINPERSOON": who["RINPERSOON"].to_numpy()[pid],
            "gemeente": geo["gemeente"][at], "wijk": geo["wijk"][at], "buurt": geo["buurt"][at]}
    placed = pd.DataFrame({"year": y[inside], **{k: pd.Series(v, dtype=object) for k, v in text.items()}})
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
    aged = people.loc[age.between(*ages).to_numpy(), KEY + ["father", "mother"]]
    # The inner 1:1 join as positions: the placed rows (in order) with their person row.
    at = io.checked_lookup(placed, aged, on=KEY, how="inner", validate="1:1", what="young adults -> persons")
    hit = at >= 0
    at = at[hit]
    ya = {"RINPERSOON": placed["RINPERSOON"].to_numpy(dtype=object)[hit],
          "gemeente": placed["gemeente"].to_numpy(dtype=object)[hit], "wijk": placed["wijk"].to_numpy(dtype=object)[hit],
          "father": aged["father"].to_numpy(dtype=object)[at], "mother": aged["mother"].to_numpy(dtype=object)[at]}
    del aged, at, hit
    # py.reindex(...) of the first "R" row per RINPERSOON as positions (-1: no row): index_in gives
    # the position of a value's first row, so py needs no de-duplication first.
    py = py[(py["RINPERSOONS"] == "R").to_numpy()]
    # hh as codes (equal exactly when the strings are, missing values equal to each other as None
    # == None): the comparisons below need no Python strings; -1 (no row) equals no code.
    (hh_code,) = io.key_codes([py], "hh")
    cols = {"hh": hh_code}
    for c in ("valid", "poor", "lt_poor"):   # reindex + fillna(False).astype(bool)
        cols[c] = pd.Series(py[c].to_numpy()).fillna(False).astype(bool).to_numpy()
    # The three lookups (own, father's, mother's row) in one: one hash table of py's RINPERSOON.
    n = len(ya["RINPERSOON"])
    rows = io.positions_in(np.concatenate([ya["RINPERSOON"]] + [
        pd.Series(ya[role], dtype=object).fillna("").to_numpy(dtype=object) for role in ("father", "mother")]),
        io.arrow_strings(py["RINPERSOON"]))
    own, parent_rows = rows[:n], {"father": rows[n:2 * n], "mother": rows[2 * n:]}
    del rows
    valid = io.take(cols["valid"], own, fill=False)
    n1 = len(valid)
    ya = {k: v[valid] for k, v in ya.items()}
    own = own[valid]
    attrition.record(f"{year}: valid household (private, with income; no students or institutions)",
                     before=n1, after=int(valid.sum()))
    out = pd.DataFrame({"year": np.full(len(own), year, dtype=np.int64),
                        **{c: pd.Series(ya[c], dtype=object) for c in ("RINPERSOON", "gemeente", "wijk")},
                        "poor": cols["poor"][own], "lt_poor": cols["lt_poor"][own]})
    hh = cols["hh"][own]
    flags = {}
    for role in ("father", "mother"):
        prow = parent_rows[role][valid]
        flags[f"{role}_hh"] = io.take(cols["hh"], prow, fill=-1)
        flags[f"{role}_valid"] = io.take(cols["valid"], prow, fill=False)
        flags[f"{role}_poor"] = io.take(cols["poor"], prow, fill=False)
    out["away"] = (hh != flags["father_hh"]) & (hh != flags["mother_hh"])
    for c in ("father_valid", "father_poor", "mother_valid", "mother_poor"):
        out[c] = flags[c]
    return out


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
COUNTS_FILE, PLACES_ATTRITION = "counts.json", "attrition.csv"


def _people_file(year: int) -> str:
    return f"people_{year}.parquet"


def _placed_file(year: int) -> str:
    return f"placed_{year}.parquet"


def place_young_adults(persons: str | Path, parents: str | Path, addresses: str | Path, areas: str | Path, *,
                       years: list[int], ages: tuple[int, int], min_parent_age_gap: int, region: list[str],
                       attrition: io.Attrition) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, dict[str, int]]]:
    """The persons who are ``ages`` old in one of ``years`` with their counted parents, and their
    places on 31 December of those years (:func:`year_end_places`), from the ingested Parquet
    files. Nothing here reads an income year, so the workflow runs it beside the income years'
    ingest; returns (people, placed, counts)."""
    import pyarrow.compute as pc
    lo, hi = min(years) - ages[1], max(years) - ages[0]
    # Sex and generation are not used here: clean_persons gives them as "-" when not read.
    people = clean_persons(io.read_parquet(persons, columns=["RINPERSOONS", "RINPERSOON", "GBAGEBOORTEJAAR",
                                                             "GBAGEBOORTEMAAND"]),
                           attrition=io.Attrition("young_adults"))
    everyone = people
    people = people[people["birth_year"].between(lo, hi)]
    # Only these persons' KINDOUDERTAB rows: link_parents keeps no other rows.
    people = link_parents(people, everyone, io.read_parquet(parents, rows_in=("RINPERSOON", pc.unique(
        io.arrow_strings(people["RINPERSOON"])))), min_gap=min_parent_age_gap, attrition=attrition)
    del everyone
    spells = clean_addresses(io.read_parquet(addresses, rows_in=("RINPERSOON", pc.unique(io.arrow_strings(
        people["RINPERSOON"])))))
    # Only the VSLGWBTAB rows of objects these persons lived at: an object key (SOORTOBJECTNUMMER,
    # RINOBJECTNUMMER) has one RINOBJECTNUMMER, so clean_areas drops the same duplicated keys.
    places = clean_areas(io.read_parquet(areas, rows_in=("RINOBJECTNUMMER", pc.unique(io.arrow_strings(
        spells["RINOBJECTNUMMER"])))))
    placed, counts = year_end_places(people, spells, places, years=sorted(years), ages=ages, region=region)
    return people[KEY + ["birth_year", "father", "mother"]].reset_index(drop=True), placed, counts


def write_places(people: pd.DataFrame, placed: pd.DataFrame, counts: dict[int, dict[str, int]],
                 attrition: io.Attrition, *, ages: tuple[int, int], out_dir: str | Path) -> None:
    """What :func:`place_young_adults` found, per income year (record level: stays in
    data/processed): the persons of the year's ages with their parents, the year's placed rows,
    and the counts and parent-link attrition of all years. One file per year, so that each
    ``young_adults_year`` job reads only its year."""
    out = Path(out_dir)
    by = people["birth_year"].to_numpy()
    at_year = placed["year"].to_numpy()
    for year in sorted(counts):
        aged = (year - by >= ages[0]) & (year - by <= ages[1])
        io.write_parquet(people[aged].reset_index(drop=True), out / _people_file(year))
        io.write_parquet(placed[at_year == year].reset_index(drop=True), out / _placed_file(year))
    io.write_json({str(y): c for y, c in counts.items()}, out / COUNTS_FILE)
    io.write_csv(attrition.frame(), out / PLACES_ATTRITION)


def read_places(places_dir: str | Path, *, year: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """One year of :func:`write_places`: the persons of that year's ages, its placed rows, its counts."""
    d = Path(places_dir)
    counts = {int(y): c for y, c in json.loads((d / COUNTS_FILE).read_text()).items()}
    if year not in counts:
        raise ValueError(f"income year {year} has no young-adult places (young_adults_places ran for the years "
                         f"{sorted(counts)})")
    return io.read_parquet(d / _people_file(year)), io.read_parquet(d / _placed_file(year)), counts[year]


def young_adults_of_year(people: pd.DataFrame, here: pd.DataFrame, counts: dict[str, int], person_year: str | Path,
                         *, year: int, ages: tuple[int, int], attrition: io.Attrition) -> pd.DataFrame:
    """The person-level flags of :func:`young_adults_year` for one income year, reading of the
    year's person-year file only the rows of its placed young adults and their parents."""
    import pyarrow.compute as pc
    rin = pd.Index(people["RINPERSOON"])   # unique (clean_persons)
    parents = people[["father", "mother"]].to_numpy(dtype=object)
    # Only the rows young_adults_year can look up: this year's placed young adults, their
    # counted parents, and "" (the key a missing parent is looked up with).
    at = rin.get_indexer(here["RINPERSOON"])
    fam = parents[at[at >= 0]].ravel()
    lookup = pc.unique(io.arrow_strings(np.concatenate([here["RINPERSOON"].to_numpy(dtype=object),
                                                        fam[pd.notna(fam)], np.array([""], dtype=object)])))
    del at, fam
    py = io.read_parquet(person_year, columns=["RINPERSOONS", "RINPERSOON", "hh", "valid", "poor", "lt_poor"],
                         rows_in=("RINPERSOON", lookup), arrow_strings=True)
    io.log.info("%d: %d person-year rows of %d young adults in the region and their parents", year, len(py), len(here))
    return young_adults_year(people, here, py, year=year, ages=ages, counts=counts, attrition=attrition)


def year_main(argv: list[str]) -> int:
    """``python -m pipeline young_adults_year``: one income year's young adults (flags and
    attrition rows), from young_adults_places and the year's person-year file."""
    ap = argparse.ArgumentParser(prog="python -m pipeline young_adults_year", description=year_main.__doc__)
    ap.add_argument("--places-dir", required=True, help="the output folder of young_adults_places")
    ap.add_argument("--year", type=int, required=True)
    ap.add_argument("--person-year", required=True, help="person_year_{YYYY}.parquet of that year")
    ap.add_argument("--ages", type=int, nargs=2, default=[22, 26])
    ap.add_argument("--out", required=True, help="Parquet: the year's person-level flags")
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    io.setup_logging(f"young_adults_year[{a.year}]")
    people, here, counts = read_places(a.places_dir, year=a.year)
    att = io.Attrition("young_adults")
    flags = young_adults_of_year(people, here, counts, a.person_year, year=a.year, ages=tuple(a.ages), attrition=att)
    io.write_parquet(flags, a.out)
    io.write_csv(att.frame(), a.attrition)
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline young_adults", description=__doc__)
    ap.add_argument("--places-dir", required=True, help="the output folder of young_adults_places")
    ap.add_argument("--flags", nargs="+", required=True, help="young_adults_year's flags, one file per income year")
    ap.add_argument("--year-attrition", nargs="+", required=True, help="young_adults_year's attrition, per year")
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("young_adults")
    year_of = lambda f: int(_YEAR.findall(Path(f).name)[-1])  # noqa: E731
    flags = sorted(a.flags, key=year_of)
    rows = sorted(a.year_attrition, key=year_of)
    if [year_of(f) for f in flags] != [year_of(f) for f in rows]:
        raise ValueError("--flags and --year-attrition must be of the same income years")
    # The parent links' attrition (young_adults_places), then each year's, oldest first.
    att = pd.concat([pd.read_csv(Path(a.places_dir) / PLACES_ATTRITION)] + [pd.read_csv(f) for f in rows],
                    ignore_index=True)
    flags = pd.concat([io.read_parquet(f) for f in flags], ignore_index=True)
    io.write_parquet(flags, f"{a.out_dir}/young_adults_persons.parquet")
    for level, t in aggregate(flags, region_name=a.region_name).items():
        io.write_parquet(t, f"{a.out_dir}/young_adults_{level}.parquet")
    io.write_csv(att, a.attrition)
    return 0
