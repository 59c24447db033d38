"""Synthetic data only: score the released hotspot tables against the generator's planted clusters.

A step of its own, so that nothing released ever reads the planted truth; the score stays inside
(``data/processed/hotspots/truth_check.json``). The truth files are read as plain CSV: nothing is
imported from the generator.

Run as ``python -m pipeline hotspots_truth --areas AREAS.parquet --tables-dir reports/tables
--truth-dir data/raw/synthetic/truth --out truth_check.json``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import hotspots, maps

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Write recall and precision per hotspot analysis as JSON."""
    parser = argparse.ArgumentParser(prog="python -m pipeline hotspots_truth",
                                     description="Score hotspots against planted clusters.")
    parser.add_argument("--areas", type=Path, required=True)
    parser.add_argument("--tables-dir", type=Path, required=True,
                        help="folder with hotspots_{level}.csv and hotspots_summary.csv")
    parser.add_argument("--truth-dir", type=Path, required=True,
                        help="folder with {level}_truth.csv (column cluster)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s hotspots_truth %(levelname)s %(message)s", force=True)
    from .io import write_json

    try:
        summary_path = args.tables_dir / "hotspots_summary.csv"
        if not summary_path.is_file():
            raise hotspots.HotspotInputError(f"{summary_path}: table not found")
        summary = pd.read_csv(summary_path)
        levels = [lv for lv in maps.LEVELS if lv in set(summary["level"])]
        tables = {}
        for level in levels:
            path = args.tables_dir / f"hotspots_{level}.csv"
            if not path.is_file():
                raise hotspots.HotspotInputError(f"{path}: table not found")
            tables[level] = pd.read_csv(path, dtype={"area_code": str, "hotspot": str,
                                                       "hotspot_cluster": str})
        truths = {lv: hotspots.read_truth(args.truth_dir / f"{lv}_truth.csv", level=lv)
                  for lv in levels if lv in ("buurt", "wijk")}
        scores = hotspots.score_tables(tables, summary, maps.read_areas(args.areas), truths)
    except (hotspots.HotspotInputError, maps.MapInputError) as exc:
        print(f"hotspots_truth: error: {exc}", file=sys.stderr)
        return 2
    for score in scores:
        logger.info("against the planted clusters: %s", score)
    write_json(scores, args.out)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
