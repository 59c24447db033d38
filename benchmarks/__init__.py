"""The scale benchmark of issue #7: synthetic data at given sizes, a cold run of the workflow up to
the exported tables, Snakemake's per-step `benchmark:` files, and the read floor of the same run.

``python -m benchmarks --persons 200000 2000000 --out benchmarks/results/<name>``; see README,
"Schaal en snelheid / Scale and speed". Not a timed test: the test suite runs it at a tiny size.
"""
