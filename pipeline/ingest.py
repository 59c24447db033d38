"""Ingest: read one CBS table once, only the needed columns, typed and validated, to Parquet.

Everything downstream reads these Parquet files, so a changed definition never re-reads a .sav.
A large .sav is read and written in pieces (``--chunk-rows``), so the job never holds the whole
table as pandas objects; the Parquet file is the same as from one piece.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import io, tables
from .errors import PipelineInputError

CHUNK_ROWS = 250_000   # about 100-150 MB of pandas objects per piece for the fixed tables


def ingest_pieces(source: str | Path, *, table: str, target_year: int | None = None,
                  chunk_rows: int | None = CHUNK_ROWS) -> Iterator[pa.Table]:
    """The table's needed columns as typed pyarrow Tables of at most ``chunk_rows`` rows (None: one
    table); area columns renamed to gem/wc/bc. The checks on the whole table (no rows; IHI
    percentiles 0..99) raise after the last piece, so a writer of the pieces keeps nothing."""
    spec = tables.spec(table, target_year=target_year)
    n, pct_max = 0, np.nan
    keys = None
    for t in io.read_table_pieces(source, spec, chunk_rows=chunk_rows, arrow=True):
        n += t.num_rows
        if table == "ihi" and t.num_rows:
            top = pc.max(t["BVRPERCGESTINKH"]).as_py()   # nulls (NaN in pandas) skipped, as Series.max
            pct_max = np.fmax(pct_max, np.nan if top is None else top)
        if table == "inharma":
            if keys is None:
                keys = [k for k in tables.INHARMA_KEYS if all(c in t.column_names for c in k)]
                if not keys and n == 0:
                    raise PipelineInputError("the table has no rows", file=str(source), table=spec.table)
                if not keys:
                    raise PipelineInputError("no key: expected RINPERSOONSHKW and RINPERSOONHKW (household) or "
                                             "RINPERSOONS and RINPERSOON (person)", file=str(source),
                                             table=spec.table, column="RINPERSOONHKW")
            # keep one key pair only, so that downstream knows which join to make
            t = t.select(list(keys[0]) + ["INHARMOEDE"])
        if table == "areas":
            y = target_year
            names = {f"gem{y}": "gem", f"wc{y}": "wc", f"bc{y}": "bc"}
            t = t.rename_columns([names.get(c, c) for c in t.column_names])
        yield t
        del t
    if n == 0:
        raise PipelineInputError("the table has no rows", file=str(source), table=spec.table)
    if table == "ihi" and pct_max > 99:
        # IHI codes percentile groups 0..99; a 100 means another coding, and the +1 shift would be wrong.
        raise PipelineInputError(f"percentile {pct_max:g} found where IHI codes 0..99",
                                 file=str(source), table=spec.table, column="BVRPERCGESTINKH")


def ingest_table(source: str | Path, *, table: str, target_year: int | None = None) -> pd.DataFrame:
    """The table's needed columns as one typed frame (strings as object dtype, as read back from
    the Parquet file); area columns renamed to gem/wc/bc."""
    (t,) = ingest_pieces(source, table=table, target_year=target_year, chunk_rows=None)
    return io.frame_object_strings(t.to_pandas())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline ingest", description=__doc__)
    ap.add_argument("--table", required=True, action="append", choices=tables.TABLES,
                    help="the table; repeat --table/--source/--out to ingest several files in one process "
                         "(the tables of one income year)")
    ap.add_argument("--source", required=True, action="append")
    ap.add_argument("--out", required=True, action="append")
    ap.add_argument("--target-year", type=int)
    ap.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                    help="rows of a .sav read and written at a time (memory against per-piece overhead)")
    a = ap.parse_args(argv)
    if not len(a.table) == len(a.source) == len(a.out):
        ap.error("give as many --source and --out as --table")
    io.setup_logging(f"ingest[{','.join(a.table)}]")
    for table, source, out in zip(a.table, a.source, a.out):
        n = io.write_parquet_pieces(ingest_pieces(source, table=table, target_year=a.target_year,
                                                  chunk_rows=a.chunk_rows), out)
        io.log.info("wrote %d rows of %s to %s", n, table, out)
    return 0
