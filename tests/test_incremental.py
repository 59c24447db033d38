"""Issue #6: a new income year updates the series without touching what was published.

The real Snakefile runs on small synthetic data with income years 2011-2024, then the generator's
files of income year 2025 appear in the raw tree (INHATAB and KOPPELPERSOONHUISHOUDEN only, as in
Remote Access). Snakemake's dry run must list exactly the jobs that depend on 2025, and after the
rerun every number published for earlier income years and for complete cohorts must be unchanged.

The generator runs once, with last year 2025, outside the workflow; the first run's raw tree is its
output without the 2025 income files. The workflow runs with ``synthetic.enabled: false`` and
``raw_root`` pointing at that tree, which is how it runs inside Remote Access (with synthetic data
on, the synthesize checkpoint would regenerate the whole tree when its parameters change).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
NEW = 2025
TARGETS = ([f"reports/tables/{name}_{lvl}.csv" for name in ("cohorts", "young_adults_line", "young_adults")
            for lvl in ("gemeente", "wijk", "region")]
           + [f"reports/tables/transmission_{lvl}.csv" for lvl in ("gemeente", "wijk", "region")]
           + ["reports/tables/trend_gemeente.csv", "reports/tables/trend_region.csv", "figures/trend_regio.png"])
# Jobs that depend on a new income year: its own ingest and household, and every step that reads
# all person-year files (and what reads their outputs).
EXPECTED = {("ingest_year", f"year={NEW}"),   # INHATAB, KOPPELPERSOONHUISHOUDEN and INHARMATAB (the new line)
            ("household", f"year={NEW}"), ("family_years", ""), ("status", ""), ("measures", ""),
            ("young_adults_places", ""),   # its income years (which year ends to place) include the new one
            *(("young_adults_year", f"year={y}") for y in range(2011, NEW + 1)),   # read the places again
            ("young_adults", ""),
            ("export_young_adults", ""), ("export", ""),
            ("rolling", ""), ("trend", ""), ("trend_charts", "")}


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The jobs run `python -m pipeline` in the work folder: import this checkout's package.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


def planned_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs, rule = set(), None
    for line in dry_run_output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            if rule is not None:
                jobs.add((rule, ""))
            rule = m.group(1)
            continue
        m = re.match(r"^\s+wildcards: (.*)$", line)
        if m and rule is not None:
            jobs.add((rule, m.group(1).strip()))
            rule = None
    if rule is not None:
        jobs.add((rule, ""))
    return jobs


def new_year_files(raw: Path) -> list[Path]:
    return sorted(p for p in (raw / "InkomenBestedingen").rglob("*") if p.is_file()
                  and re.search(rf"(INHA|KOPPELPERSOONHUISHOUDEN){NEW}", p.name))


def read(wd: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(wd / "reports/tables" / name, dtype={"area_code": str, "cohort": str, "group": str})


def test_new_income_year_reruns_only_what_depends_on_it(tmp_path):
    gen = tmp_path / "generated"
    res = subprocess.run([sys.executable, "-m", "pipeline", "synthesize", "--out", str(gen), "--persons", "12000",
                          "--seed", "11", "--first-year", "2011", "--last-year", str(NEW), "--target-year", "2023",
                          "--workers", "1"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    raw = tmp_path / "raw"
    shutil.copytree(gen / "cbs", raw)
    later = new_year_files(raw)
    assert len(later) == 2, later
    for p in later:
        p.unlink()
    cfg = tmp_path / "monitor.yaml"
    # The pooled cohort 1995-1997 is complete by 2024 (adult windows end in 2024), so the pooled table
    # stands too; a pooled cohort whose window is still open changes with every year, by design.
    cfg.write_text(f"raw_root: {raw}\nsynthetic: {{enabled: false}}\ncohort: {{birth_years: [1995, 1997]}}\n"
                   f"geography: {{boundaries: {gen / 'geo' / 'wijkenbuurten_2023_synthetisch.gpkg'}}}\n")
    wd = tmp_path / "run"
    wd.mkdir()
    first = snakemake(wd, cfg, *TARGETS)
    assert first.returncode == 0, first.stderr[-5000:]
    before = {name: read(wd, name) for name in (f"{n}_{lvl}.csv" for n in ("cohorts", "young_adults", "transmission")
                                                for lvl in ("gemeente", "wijk", "region"))}
    cohorts = before["cohorts_region.csv"]
    assert set(cohorts["cohort"]) >= {"1995", "1996", "1997", "1998", "1999", "2000", "1995-1997", "1998-2000"}
    assert "2001" not in set(cohorts["cohort"])        # its adult window starts in 2025
    mtimes = {p: p.stat().st_mtime for p in (wd / "data/processed").rglob("*.parquet")}

    for p in sorted((gen / "cbs" / "InkomenBestedingen").rglob("*")):
        if p in new_year_files(gen / "cbs"):
            dest = raw / p.relative_to(gen / "cbs")
            shutil.copy2(p, dest)
    dry = snakemake(wd, cfg, "--dry-run", *TARGETS)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert planned_jobs(dry.stdout) == EXPECTED, sorted(planned_jobs(dry.stdout) ^ EXPECTED)

    second = snakemake(wd, cfg, *TARGETS)
    assert second.returncode == 0, second.stderr[-5000:]
    # Nothing of the earlier years was recomputed.
    for p, t in mtimes.items():
        rel = p.relative_to(wd).as_posix()
        if re.search(r"(household|ingest)/", rel) or rel.startswith("data/processed/cohort/") \
                or rel.startswith("data/processed/upbringing/") or rel.startswith("data/processed/geography/"):
            assert p.stat().st_mtime == t, rel
    # Earlier income years of the young adults: every published value and suppression unchanged.
    for lvl in ("gemeente", "wijk", "region"):
        old = before[f"young_adults_{lvl}.csv"]
        new = read(wd, f"young_adults_{lvl}.csv")
        assert NEW in set(new["year"])
        pd.testing.assert_frame_equal(new[new["year"] < NEW].reset_index(drop=True), old.reset_index(drop=True))
        # Complete cohorts: unchanged; the new cohort 2001 appears, provisional.
        old = before[f"cohorts_{lvl}.csv"]
        new = read(wd, f"cohorts_{lvl}.csv")
        done = old[~old["provisional"]]
        assert len(done) and set(done["cohort"]) == {"1995", "1996", "1997", "1995-1997"}
        kept = new.merge(done[["cohort", "line", "area_code"]], on=["cohort", "line", "area_code"])
        pd.testing.assert_frame_equal(kept.reset_index(drop=True), done.reset_index(drop=True))
        assert (new.loc[new["cohort"] == "2001", "provisional"]).all() and (new["cohort"] == "2001").any()
        pd.testing.assert_frame_equal(read(wd, f"transmission_{lvl}.csv"), before[f"transmission_{lvl}.csv"])
    # Something was published for the complete cohorts and the earlier years (the test had data to compare).
    assert before["young_adults_region.csv"]["share_poor"].notna().all()
    assert before["cohorts_gemeente.csv"].query("~provisional")["n_children"].notna().any()
    trend = read(wd, "trend_region.csv")
    assert NEW in set(trend.loc[trend["series"] == "inkomensjaar", "year"].astype(int))
