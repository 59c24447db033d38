"""The income years of the cohort's families in one file (what ``status`` reads).

Every person-year row (``household`` output) of a cohort child, a counted parent or a grandparent,
for all income years, with the columns ``status`` uses. Nothing here depends on an age window,
the poverty share or the minimum of valid years, so a re-analysis that changes those reruns
``status`` from this one small file instead of filtering every year's person-year file again.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

from . import io
from .status import FIELDS, GRANDPARENTS

COLUMNS = ["year", "RINPERSOONS", "RINPERSOON"] + FIELDS
_YEAR = re.compile(r"(\d{4})")


def family_rins(children: pd.DataFrame) -> set[str]:
    """The RINPERSOON of every child and of their counted parents and grandparents."""
    keep = set(children["RINPERSOON"].dropna())
    for c in ["father", "mother"] + GRANDPARENTS:
        if c in children.columns:
            keep |= set(children[c].dropna())
    return keep


def family_person_years(children: pd.DataFrame, person_years: dict[int, str | Path]):
    """The rows of the person-year files (by year) whose RINPERSOON is one of the families', in
    year order and within a year in file order, columns COLUMNS, as a pyarrow Table (the strings
    never become Python objects)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    keep = pa.array(sorted(family_rins(children)), type=pa.string())
    parts = []
    for year in sorted(person_years):
        path = person_years[year]
        t = pq.read_table(path, columns=COLUMNS)
        n = t.num_rows
        t = t.filter(pc.is_in(t["RINPERSOON"], value_set=keep.cast(t["RINPERSOON"].type)))
        other = pc.not_equal(t["year"], year)
        if pc.any(other).as_py():
            raise ValueError(f"{path}: rows of year {pc.min(t.filter(other)['year']).as_py()} in the file of {year}")
        io.log.info("%d: %d of %d person-year rows are the families'", year, t.num_rows, n)
        parts.append(t.replace_schema_metadata(None))
    if not parts:
        return pa.table({c: pa.array([], type=pa.string()) for c in COLUMNS})
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks()


YEARS_KEY = b"pipeline.income_years"   # Parquet key-value metadata: the income years the file covers


def write_family_years(family, path: str | Path, *, years: list[int]) -> None:
    """``family`` (a pyarrow Table or a DataFrame) as Parquet, with the income years it covers in
    the file's metadata (a year may have no rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = family if isinstance(family, pa.Table) else pa.Table.from_pandas(family, preserve_index=False)
    table = table.replace_schema_metadata({YEARS_KEY: json.dumps(sorted(map(int, years))).encode()})
    io._atomic(Path(path), lambda p: pq.write_table(table, p))


def read_family_years(path: str | Path):
    """The file of :func:`write_family_years`: (pyarrow Table, income years it covers)."""
    import pyarrow.parquet as pq
    meta = pq.read_schema(path).metadata or {}
    if YEARS_KEY not in meta:
        raise ValueError(f"{path}: no income years in the file's metadata (not written by family_years)")
    years = json.loads(meta[YEARS_KEY])
    table = pq.read_table(path)
    extra = sorted(set(table["year"].unique().to_pylist()) - set(years))
    if extra:
        raise ValueError(f"{path}: rows of years {extra}, which are not its income years {years}")
    return table, years


def family_frames(table, *, years: list[int]) -> dict[int, pd.DataFrame]:
    """The table of :func:`read_family_years` as {year: its rows} (strings as object dtype, a fresh
    RangeIndex; a year without rows gets an empty frame), as ``child_statuses`` takes them."""
    family = io.frame_object_strings(table.to_pandas())
    by = {int(y): g.reset_index(drop=True) for y, g in family.groupby("year", sort=True)}
    empty = family.iloc[:0].reset_index(drop=True)
    return {y: by.get(y, empty) for y in years}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline family_years", description=__doc__)
    ap.add_argument("--children", required=True)
    ap.add_argument("--person-years", nargs="+", required=True, help="person_year_{YYYY}.parquet files")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("family_years")
    kids = io.read_parquet(a.children)
    files = {int(_YEAR.findall(Path(f).name)[-1]): f for f in a.person_years}
    out = family_person_years(kids, files)
    io.log.info("kept %d person-year rows of %d children's families over %d income years", out.num_rows, len(kids),
                len(files))
    write_family_years(out, a.out, years=list(files))
    return 0
