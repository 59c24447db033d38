"""``python -m pipeline export_young_adults``: the young-adult half of the export (see
:func:`pipeline.export.young_adults_main`)."""
from __future__ import annotations

from .export import young_adults_main as main

__all__ = ["main"]
