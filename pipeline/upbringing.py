"""Area of upbringing (methodology §3): the address on a reference date, placed on the
boundaries of one target year through VSLGWBTAB."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from . import io
from .errors import PipelineInputError

KEY = ["RINPERSOONS", "RINPERSOON"]
OBJ = ["SOORTOBJECTNUMMER", "RINOBJECTNUMMER"]
OPEN_END = 99_999_999


def clean_addresses(addresses: pd.DataFrame) -> pd.DataFrame:
    """Spells with integer YYYYMMDD dates; an empty or dashed end date means still open.

    Spells without a readable start date cannot be placed in time and are dropped (logged).
    """
    start = io.yyyymmdd(addresses["GBADATUMAANVANGADRESHOUDING"])
    end = io.yyyymmdd(addresses["GBADATUMEINDEADRESHOUDING"], open_value=OPEN_END)
    ok = start > 0
    if (~ok).any():
        io.log.warning("%d address spells without a readable start date dropped", int((~ok).sum()))
    out = pd.DataFrame({"RINPERSOONS": addresses["RINPERSOONS"], "RINPERSOON": addresses["RINPERSOON"],
                        "start": start, "end": end, "SOORTOBJECTNUMMER": addresses["SOORTOBJECTNUMMER"],
                        "RINOBJECTNUMMER": addresses["RINOBJECTNUMMER"]})
    return out[ok.to_numpy()]


def address_on(people: pd.DataFrame, addresses: pd.DataFrame, *, date_col: str = "ref_date") -> pd.DataFrame:
    """For each person (KEY + ``date_col`` as YYYYMMDD int) the address spell covering that date:
    start <= date <= end, any end on or after the date counting as open. Of several, the latest
    start, then the lowest RINOBJECTNUMMER. People without such a spell are absent from the result.
    """
    cand = io.checked_merge(people[KEY + [date_col]], addresses, on=KEY, how="inner", validate="1:m",
                            what="persons -> GBAADRESOBJECTBUS spells")
    cand = cand[(cand["start"] <= cand[date_col]) & (cand[date_col] <= cand["end"])]
    cand = cand.sort_values(KEY + ["start", "RINOBJECTNUMMER"], ascending=[True, True, False, True],
                            kind="mergesort")
    return cand.drop_duplicates(KEY, keep="first")[KEY + OBJ].reset_index(drop=True)


def clean_areas(areas: pd.DataFrame) -> pd.DataFrame:
    """VSLGWBTAB codes of the target year with CBS prefixes; unusable codes become None."""
    gem = io.code_or_missing(areas["gem"], width=4)
    wc = io.code_or_missing(areas["wc"], width=6)
    bc = io.code_or_missing(areas["bc"], width=8)
    out = pd.DataFrame({"SOORTOBJECTNUMMER": areas["SOORTOBJECTNUMMER"], "RINOBJECTNUMMER": areas["RINOBJECTNUMMER"],
                        "gemeente": ("GM" + gem).where(gem.notna(), None),
                        "wijk": ("WK" + wc).where(wc.notna(), None),
                        "buurt": ("BU" + bc).where(bc.notna(), None)})
    dup = out.duplicated(OBJ, keep=False)
    if dup.any():
        io.log.warning("%d VSLGWBTAB rows share an object key; those objects are treated as unplaced",
                       int(dup.sum()))
        out = out[~dup]
    return out


def place(located: pd.DataFrame, areas: pd.DataFrame, *, region: list[str], what: str,
          attrition: io.Attrition) -> pd.DataFrame:
    """Join located persons to their target-year codes and keep those placed in the region."""
    n0 = len(located)
    out = io.checked_merge(located, areas, on=OBJ, how="inner", validate="m:1",
                           what=f"{what} address -> VSLGWBTAB")
    attrition.record(f"{what}: address found in VSLGWBTAB", before=n0, after=len(out))
    n1 = len(out)
    coded = out[["gemeente", "wijk", "buurt"]].notna().all(axis=1)
    out = out[coded]
    attrition.record(f"{what}: gemeente, wijk and buurt code known", before=n1, after=len(out))
    n2 = len(out)
    out = out[out["gemeente"].isin(region)]
    attrition.record(f"{what}: in the study region", before=n2, after=len(out))
    return out.drop(columns=OBJ).reset_index(drop=True)


def upbringing_areas(children: pd.DataFrame, addresses: pd.DataFrame, areas: pd.DataFrame, *,
                     region: list[str], reference_age: int = 15,
                     attrition: io.Attrition | None = None) -> pd.DataFrame:
    """Children with the ``gemeente``, ``wijk`` and ``buurt`` (target-year codes) of their address
    on their ``reference_age``-th birthday (the first of the birth month), within ``region``."""
    att = attrition or io.Attrition("upbringing")
    kids = children.copy()
    kids["ref_date"] = ((kids["birth_year"].astype("int64") + reference_age) * 10000
                        + kids["birth_month"].astype("int64") * 100 + 1)
    spells = clean_addresses(addresses)
    located = address_on(kids, spells)
    att.record(f"address known on the {reference_age}th birthday", before=len(kids), after=len(located))
    placed = place(located, clean_areas(areas), region=region, what="children", attrition=att)
    if placed.empty:
        raise PipelineInputError(f"no children grew up in the study region ({', '.join(region)}): "
                                 "check region/gemeenten against the target-year codes", table="VSLGWBTAB",
                                 column="gem")
    out = io.checked_merge(kids.drop(columns="ref_date"), placed, on=KEY, how="inner", validate="1:1",
                           what="children -> area of upbringing")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline upbringing", description=__doc__)
    ap.add_argument("--children", required=True)
    ap.add_argument("--addresses", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--region", nargs="+", required=True)
    ap.add_argument("--reference-age", type=int, default=15)
    ap.add_argument("--out", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("upbringing")
    att = io.Attrition("upbringing")
    children = io.read_parquet(a.children)
    # Only the children's address spells: the join in address_on is on the person, so the others
    # never matched; reading them cost most of this step's memory.
    addresses = io.read_parquet(a.addresses, rows_in=("RINPERSOON", set(children["RINPERSOON"])))
    # Likewise only the VSLGWBTAB rows of objects they lived at: an object key (SOORTOBJECTNUMMER,
    # RINOBJECTNUMMER) has one RINOBJECTNUMMER, so clean_areas drops the same duplicated keys.
    areas = io.read_parquet(a.areas, rows_in=("RINOBJECTNUMMER", pd.unique(addresses["RINOBJECTNUMMER"])))
    out = upbringing_areas(children, addresses, areas, region=a.region, reference_age=a.reference_age,
                           attrition=att)
    io.write_parquet(out, a.out)
    io.write_csv(att.frame(), a.attrition)
    return 0
