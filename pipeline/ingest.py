"""Ingest: read one CBS table once, only the needed columns, typed and validated, to Parquet.

Everything downstream reads these Parquet files, so a changed definition never re-reads a .sav.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from . import io, tables
from .errors import PipelineInputError


def ingest_table(source: str | Path, *, table: str, target_year: int | None = None) -> pd.DataFrame:
    """The table's needed columns as a typed frame; area columns renamed to gem/wc/bc."""
    spec = tables.spec(table, target_year=target_year)
    df = io.read_table(source, spec)
    if df.empty:
        raise PipelineInputError("the table has no rows", file=str(source), table=spec.table)
    if table == "ihi" and df["BVRPERCGESTINKH"].gt(99).any():
        # IHI codes percentile groups 0..99; a 100 means another coding, and the +1 shift would be wrong.
        raise PipelineInputError(f"percentile {df['BVRPERCGESTINKH'].max():g} found where IHI codes 0..99",
                                 file=str(source), table=spec.table, column="BVRPERCGESTINKH")
    if table == "inharma":
        keys = [k for k in tables.INHARMA_KEYS if all(c in df.columns for c in k)]
        if not keys:
            raise PipelineInputError("no key: expected RINPERSOONSHKW and RINPERSOONHKW (household) or "
                                     "RINPERSOONS and RINPERSOON (person)", file=str(source), table=spec.table,
                                     column="RINPERSOONHKW")
        # keep one key pair only, so that downstream knows which join to make
        df = df[list(keys[0]) + ["INHARMOEDE"]]
    if table == "areas":
        y = target_year
        df = df.rename(columns={f"gem{y}": "gem", f"wc{y}": "wc", f"bc{y}": "bc"})
    return df


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline ingest", description=__doc__)
    ap.add_argument("--table", required=True, choices=tables.TABLES)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--target-year", type=int)
    a = ap.parse_args(argv)
    io.setup_logging(f"ingest[{a.table}]")
    df = ingest_table(a.source, table=a.table, target_year=a.target_year)
    io.write_parquet(df, a.out)
    io.log.info("wrote %d rows to %s", len(df), a.out)
    return 0
