"""``python -m benchmarks --persons N [N ...] --out DIR``: run the scale benchmark."""
from __future__ import annotations

import sys

from .run import main

if __name__ == "__main__":
    sys.exit(main())
