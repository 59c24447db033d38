"""Young adults' places (methodology §8): who is 22-26 in an income year and where they live on
31 December, from the persons, parent links, address spells and VSLGWBTAB alone.

The first half of the ``young_adults`` step. It reads no income year, so the workflow runs it while
the income years are still being ingested; ``young_adults`` then adds each year's households.
Record-level output: stays in data/processed.
"""
from __future__ import annotations

import argparse

from . import io
from .young_adults import place_young_adults, write_places


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline young_adults_places", description=__doc__)
    ap.add_argument("--persons", required=True)
    ap.add_argument("--parents", required=True)
    ap.add_argument("--addresses", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--years", type=int, nargs="+", required=True, help="the income years")
    ap.add_argument("--ages", type=int, nargs=2, default=[22, 26])
    ap.add_argument("--min-parent-age-gap", type=int, default=12)
    ap.add_argument("--region", nargs="+", required=True)
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("young_adults_places")
    att = io.Attrition("young_adults")
    people, placed, counts = place_young_adults(a.persons, a.parents, a.addresses, a.areas, years=sorted(set(a.years)),
                                                ages=tuple(a.ages), min_parent_age_gap=a.min_parent_age_gap,
                                                region=a.region, attrition=att)
    io.log.info("%d persons aged %d-%d in an income year, %d person-years placed in the region", len(people),
                a.ages[0], a.ages[1], len(placed))
    write_places(people, placed, counts, att, ages=tuple(a.ages), out_dir=a.out_dir)
    return 0
