"""Loading and validating the YAML configuration against config/schema.yaml."""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import yaml

from .errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "config" / "schema.yaml"
DEFAULT = ROOT / "config" / "config.yaml"


def merge(base: dict, over: dict) -> dict:
    """Deep merge: mappings merge key by key, everything else is replaced (as Snakemake does)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def validate(config: dict, *, schema_path: Path = SCHEMA) -> dict:
    """Raise ConfigError naming the offending key when ``config`` breaks the schema."""
    import jsonschema

    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    lo, hi = config["cohort"]["birth_years"]
    if lo > hi:
        raise ConfigError(f"cohort/birth_years: first year {lo} is after last year {hi}")
    return config


def load(*paths: str | Path) -> dict:
    """The default config with each file in ``paths`` layered over it, validated."""
    cfg = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    for p in paths:
        cfg = merge(cfg, yaml.safe_load(Path(p).read_text(encoding="utf-8")) or {})
    return validate(cfg)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline validate_config",
                                 description="Check config files (layered over the default) against the schema.")
    ap.add_argument("configfiles", nargs="*")
    args = ap.parse_args(argv)
    load(*args.configfiles)
    print("configuration is valid")
    return 0
