"""Overerfbare armoede in de Veenkoloniën: a Snakemake workflow on CBS Remote Access microdata.

Every step is a module with plain functions and a thin ``main(argv)``; run one with
``python -m pipeline <step> --help``.
"""

__version__ = "0.1.0"
