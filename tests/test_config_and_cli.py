"""Configuration schema and the command-line steps: bad input fails early, names file, table and
column, and leaves no output behind."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
import yaml

from pipeline.config import load, merge, validate
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_default_and_layered_configs_are_valid():
    cfg = load()
    assert cfg["region"]["gemeenten"][0].startswith("GM")
    cfg = load(ROOT / "config" / "test.yaml", ROOT / "config" / "strict.yaml")
    assert cfg["disclosure"]["min_n"] == 20 and cfg["synthetic"]["persons"] < 350000


def test_unknown_key_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cohort:\n  birth_yeras: [1995, 1998]\n")
    with pytest.raises(ConfigError, match="birth_yeras"):
        load(bad)


def test_wrong_region_code_is_rejected():
    cfg = merge(load(), {"region": {"gemeenten": ["0765"]}})
    with pytest.raises(ConfigError, match="region/gemeenten"):
        validate(cfg)


def test_snakemake_validates_the_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"disclosure": {"min_n": 10, "min_events": 10, "min_df": 10,
                                                  "round_counts_to": None, "dominance": 0.5}}))
    res = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                          str(tmp_path), "--configfile", str(bad), "--dry-run", "--cores", "1"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "dominance" in res.stdout + res.stderr


def _run(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120)


def test_ingest_missing_column_fails_and_writes_nothing(tmp_path):
    src = tmp_path / "KOPPELPERSOONHUISHOUDEN2015.sav"
    pyreadstat.write_sav(pd.DataFrame({"RINPERSOONS": ["R"], "RINPERSOON": ["000000001"], "RINPERSOONSHKW": ["R"]}),
                         str(src))
    out = tmp_path / "out" / "koppel_2015.parquet"
    res = _run("ingest", "--table", "koppel", "--source", str(src), "--out", str(out))
    assert res.returncode != 0
    assert "RINPERSOONHKW" in res.stderr and "KOPPELPERSOONHUISHOUDEN" in res.stderr and str(src) in res.stderr
    assert not out.exists()
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_ingest_unreadable_sav_fails_and_writes_nothing(tmp_path):
    src = tmp_path / "INHA2015TABV1.sav"
    src.write_bytes(b"\x00garbage")
    out = tmp_path / "income_2015.parquet"
    res = _run("ingest", "--table", "income", "--source", str(src), "--out", str(out))
    assert res.returncode != 0 and "cannot read file" in res.stderr and "INHATAB" in res.stderr
    assert not out.exists()


def test_missing_table_names_it(tmp_path):
    out = tmp_path / "persons.parquet"
    res = _run("ingest", "--table", "persons", "--source", str(tmp_path / "GBAPERSOON2023TABV1.sav"), "--out", str(out))
    assert res.returncode != 0 and "does not exist" in res.stderr and "GBAPERSOONTAB" in res.stderr
    assert not out.exists()


def test_snakemake_names_a_missing_table(tmp_path):
    (tmp_path / "cbs").mkdir()
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"raw_root": str(tmp_path / "cbs"), "synthetic": {"enabled": False},
                                    "geography": {"boundaries": str(tmp_path / "none.gpkg"), "target_year": 2023}}))
    res = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                          str(tmp_path), "--configfile", str(mine), "--dry-run", "--cores", "1"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "no file found for this table" in res.stdout + res.stderr or "no income year" in res.stdout + res.stderr


def test_remote_access_recipe_with_one_config_file(tmp_path):
    """The README's Remote Access recipe: a raw tree laid out like the G: drive, a config file of
    one's own with raw_root, synthetic off and the boundary file, and nothing else."""
    gen = tmp_path / "gen"
    res = _run("synthesize", "--out", str(gen), "--persons", "4000", "--seed", "3")
    assert res.returncode == 0, res.stderr[-2000:]
    g_drive = tmp_path / "G:"
    (gen / "cbs").rename(g_drive)
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        f'raw_root: "{g_drive.as_posix()}/"\n'
        "synthetic: {enabled: false}\n"
        "geography:\n"
        f'  boundaries: "{(gen / "geo" / "wijkenbuurten_2023_synthetisch.gpkg").as_posix()}"\n'
        "  target_year: 2023\n")
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(mine), "--cores", "2"]
    res = subprocess.run(cmd + ["reports/tables/transmission_gemeente.csv"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    t = pd.read_csv(work / "reports/tables/transmission_gemeente.csv")
    assert (t["group"] == "totaal").sum() == 9 and t["n_children"].notna().any()
    assert not (work / "data" / "raw").exists() or not any((work / "data" / "raw").iterdir())
