"""Kansenkaart's older cohort (born 1985-1989) end to end: the real Snakefile on small synthetic
data with income years from 2003, so the parents' status comes from IHI years and the young adults'
from IHI and INHATAB years; INHARMATAB gives the new line from 2018."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
LEVELS = ["buurt", "wijk", "gemeente", "region"]
MEASURES = ["n_children", "outflow", "inflow", "abs_mobility_p25"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("kk")
    small = wd / "small.yaml"
    # Small data; the last income year needed is 2016 (born 1989, age 27); 2019 keeps two INHARMATAB years.
    small.write_text(yaml.safe_dump({"synthetic": {"persons": 30000, "seed": 11, "last_year": 2019}}))
    targets = [f"reports/tables/transmission_{lv}.csv" for lv in LEVELS] + ["reports/tables/attrition.csv"]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd),
           "--configfile", str(ROOT / "config" / "test.yaml"), str(ROOT / "config" / "kansenkaart_1985_1989.yaml"),
           str(small), "--cores", "2", *targets]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((wd / "logs").glob("*.log")))
        pytest.fail(f"snakemake failed:\n{res.stderr[-5000:]}\n{logs}")
    return wd


def test_person_years_from_ihi_and_inhatab_with_the_new_line(run):
    P = run / "data/processed/household"
    years = sorted(int(p.stem[-4:]) for p in P.glob("person_year_*.parquet"))
    assert years == list(range(2003, 2020))
    for y in years:
        py = pd.read_parquet(P / f"person_year_{y}.parquet")
        assert list(py.columns) == ["year", "RINPERSOONS", "RINPERSOON", "hh", "valid", "poor", "lt_poor", "rank",
                                    "source", "poor_new"]
        assert set(py["source"]) == {"IHI" if y < 2011 else "INHATAB"}
        assert str(py["poor_new"].dtype) == "boolean"
        valid = py[py["valid"]]
        assert 0.05 < valid["poor"].mean() < 0.4
        assert valid["rank"].between(0.01, 1.0).all() or valid["rank"].isna().any()
        if y < 2018:
            assert py["poor_new"].isna().all()
        else:
            # the new line: a status for nearly every valid person, fewer poor than the old line
            assert valid["poor_new"].notna().mean() > 0.95
            assert valid["poor_new"].mean() < valid["poor"].mean()


def test_children_born_1985_1989_get_their_parents_status_from_ihi_years(run):
    st = pd.read_parquet(run / "data/processed/status/statuses.parquet")
    kids = pd.read_parquet(run / "data/processed/cohort/children.parquet")
    assert kids["birth_year"].astype(int).between(1985, 1989).all()
    st = st.merge(kids[["RINPERSOONS", "RINPERSOON", "birth_year"]], on=["RINPERSOONS", "RINPERSOON"],
                  how="left", validate="1:1") if "birth_year" not in st.columns else st
    by = st["birth_year"].astype(int)
    # ages 15-19 end by 2008: every parents' year is an IHI year
    assert (by + 19 <= 2010).all()
    has = st["parents_poor"].notna()
    for y in range(1985, 1990):
        assert has[by == y].mean() > 0.8, y
    assert 0.05 < st.loc[has, "parents_poor"].astype(bool).mean() < 0.5
    assert st.loc[has, "parents_valid_years"].min() >= 2
    # the young-adult window (2009-2016) mixes IHI and INHATAB years
    assert st["child_poor"].notna().mean() > 0.8
    assert st.loc[st["parent_rank"].notna(), "parent_rank"].between(0.01, 1.0).all()


def test_transmission_tables_exist_with_released_values(run):
    for lv in LEVELS:
        t = pd.read_csv(run / f"reports/tables/transmission_{lv}.csv")
        assert {"area_code", "n_children", "outflow", "suppressed"} <= set(t.columns)
    region = pd.read_csv(run / "reports/tables/transmission_region.csv").iloc[0]
    assert region["n_children"] >= 100 and np.isfinite(region["outflow"]) and np.isfinite(region["inflow"])
    gm = pd.read_csv(run / "reports/tables/transmission_gemeente.csv")
    assert gm["n_children"].notna().sum() >= 5 and gm["abs_mobility_p25"].notna().sum() >= 3
    att = pd.read_csv(run / "reports/tables/attrition.csv")
    assert att["check"].str.contains("IHI").any()
