"""``python -m pipeline <step> [options]``: run one workflow step.

The Snakefile calls every step this way, so a step runs the same inside and outside Snakemake.
"""
from __future__ import annotations

import importlib
import sys

# step name -> module; modules are imported lazily so one step never pays for another's imports.
STEPS = {
    "synthesize": "pipeline.synthesize",
    "ingest": "pipeline.ingest",
    "household": "pipeline.household",
    "cohort": "pipeline.cohort",
    "upbringing": "pipeline.upbringing",
    "family_years": "pipeline.family_years",
    "status": "pipeline.status",
    "measures": "pipeline.measures",
    "young_adults_places": "pipeline.young_adults_places",
    "young_adults_year": "pipeline.young_adults_year",
    "young_adults": "pipeline.young_adults",
    "export_young_adults": "pipeline.export_young_adults",
    "export": "pipeline.export",
    "rolling": "pipeline.rolling",
    "trend": "pipeline.trend",
    "trend_charts": "pipeline.trend_charts",
    "maps": "pipeline.maps",
    "hotspots": "pipeline.hotspots",
    "hotspots_truth": "pipeline.hotspots_truth",
    "factsheet": "pipeline.factsheet",
    "audit": "pipeline.audit",
    "bundle": "pipeline.bundle",
    "geography": "pipeline.geography",
    "validate_config": "pipeline.config",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in STEPS:
        print("usage: python -m pipeline <step> [options]\n\nsteps:\n  " + "\n  ".join(STEPS))
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(STEPS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
