"""``python -m pipeline young_adults_year``: one income year of the young adults (see
:func:`pipeline.young_adults.year_main`)."""
from __future__ import annotations

from .young_adults import year_main as main

__all__ = ["main"]
