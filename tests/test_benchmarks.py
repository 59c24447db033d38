"""The scale benchmark (issue #7): its helpers on hand-built frames, and one run at a tiny size that
must write every table with plausible content. No timing is asserted: the benchmark measures, the
test only proves that it works."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import run
from pipeline import tables

ROOT = Path(__file__).resolve().parent.parent
PIPELINE_STEPS = ["ingest", "ingest_year", "household", "cohort", "upbringing", "family_years", "status", "measures",
                  "young_adults_places", "young_adults_year", "young_adults", "geography", "export_young_adults", "export"]


def test_job_files_map_to_their_rule():
    assert run.rule_of("ingest_persons") == "ingest"
    assert run.rule_of("ingest_year_2011") == "ingest_year"
    assert run.rule_of("ingest_income_2011") == "ingest_year"
    assert run.rule_of("ingest_koppel_2023") == "ingest_year"
    assert run.rule_of("ingest_ihi_koppel_2009") == "ingest_year"
    assert run.rule_of("household_2019") == "household"
    assert run.rule_of("young_adults_year_2019") == "young_adults_year"
    assert run.rule_of("young_adults") == "young_adults"


def test_floor_columns_follow_the_table_specs_case_insensitively_and_skip_absent_optional_ones():
    spec = tables.spec("income")
    available = ["rinpersoonshkw", "RINPERSOONHKW", "INHP100HGEST", "INHARMLAG", "INHARMLAGL", "OTHER"]
    assert run.used_columns(available, spec) == ["rinpersoonshkw", "RINPERSOONHKW", "INHP100HGEST",
                                                 "INHARMLAG", "INHARMLAGL"]


def test_step_table_sums_jobs_and_sets_the_floor_of_the_ingest_steps():
    jobs = pd.DataFrame({"job": ["ingest_persons", "ingest_areas", "ingest_income_2011", "household_2011", "export"],
                         "step": ["ingest", "ingest", "ingest_year", "household", "export"],
                         "wall_s": [2.0, 1.0, 3.0, 4.0, 10.0], "cpu_s": [1.5, 0.5, 2.0, 3.0, 9.0],
                         "max_rss_mb": [100.0, 200.0, 50.0, 80.0, 300.0]})
    floor = pd.DataFrame({"table": ["persons", "areas", "income", "koppel"], "floor_s": [0.5, 0.25, 1.0, 0.5],
                          "floor_cpu_s": [0.5, 0.5, 1.0, 1.0]})
    t = run.step_table(jobs, floor).set_index("step")
    assert list(t.index) == ["ingest", "ingest_year", "household", "export"]
    assert t.loc["ingest", "jobs"] == 2 and t.loc["ingest", "wall_s"] == 3.0 and t.loc["ingest", "max_rss_mb"] == 200
    assert t.loc["ingest", "floor_s"] == 0.75 and t.loc["ingest", "wall_over_floor"] == 4.0
    assert t.loc["ingest_year", "floor_s"] == 1.5 and t.loc["ingest_year", "wall_over_floor"] == 2.0
    assert t.loc["ingest", "cpu_over_floor_cpu"] == 2.0 and t.loc["ingest_year", "cpu_over_floor_cpu"] == 1.0
    assert pd.isna(t.loc["export", "floor_s"])
    assert t["share_of_job_wall_pct"].sum() == pytest.approx(100)


def test_scaling_compares_time_ratio_with_population_ratio():
    def s(n, wall, floor):
        return {"persons": n, "input_rows": 10 * n, "cold": {"wall_s": wall, "peak_gb": 1.0, "load_before": [1.0]},
                "floor": {"wall_s": floor}, "ratio_cold_over_floor": wall / floor,
                "reanalysis": {"share_of_cold": 0.2}}
    df = run.scaling([s(1000, 100.0, 10.0), s(100, 20.0, 1.0)])
    assert list(df["persons"]) == [100, 1000]
    big = df.iloc[1]
    assert big["population_ratio"] == 10 and big["run_time_ratio"] == 5 and big["floor_ratio"] == 10
    assert big["run_ratio_over_population_ratio"] == 0.5 and big["growth_exponent"] == pytest.approx(0.69897, abs=1e-5)


@pytest.mark.e2e
def test_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "bench"
    res = subprocess.run([sys.executable, "-m", "benchmarks", "--persons", "5000", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    work = out / "p5000"
    s = json.loads((work / "summary.json").read_text())
    # 4 fixed tables, income + koppel for each of the 13 income years, INHARMATAB where a year has one
    floor = pd.read_csv(work / "floor_files.csv")
    per_table = floor["table"].value_counts()
    assert all(per_table[t] == 1 for t in ("persons", "parents", "addresses", "areas"))
    assert per_table["income"] == per_table["koppel"] == 13
    assert len(floor) == s["input_files"] and (floor["rows"] > 0).all() and (floor["floor_s"] > 0).all()
    assert s["input_rows"] == floor["rows"].sum() > 5000
    assert s["floor"]["wall_s"] > 0 and s["cold"]["wall_s"] > 0 and s["cold"]["peak_gb"] > 0
    assert s["ratio_cold_over_floor"] == pytest.approx(s["cold"]["wall_s"] / s["floor"]["wall_s"])
    # the adult age window reaches status, measures and export only
    assert s["reanalysis"]["jobs"] == ["export", "measures", "status"]
    assert 0 < s["reanalysis"]["share_of_cold"] < 1
    steps = pd.read_csv(work / "steps.csv")
    assert set(PIPELINE_STEPS) <= set(steps["step"])
    per_step = steps.set_index("step")
    # one ingest_year job per income year reads all of the year's files
    assert per_step.loc["ingest_year", "jobs"] == 13 and per_step.loc["household", "jobs"] == 13
    assert (per_step.loc[PIPELINE_STEPS, "wall_s"] > 0).all()
    assert per_step.loc["ingest", "floor_s"] > 0 and per_step.loc["ingest_year", "floor_s"] > 0
    assert any(x.startswith("TOTAL cold run") for x in steps["step"])
    md = (work / "bench.md").read_text()
    assert "cold run / floor" in md and "re-analysis" in md and "| export |" in md
    assert (out / "scaling.csv").exists() and len(pd.read_csv(out / "scaling.csv")) == 1
    # the released tables were written; the generated data and intermediates were removed
    assert (work / "reports/tables/transmission_gemeente.csv").exists()
    assert not (out / "data" / "p5000").exists() and not (work / "data").exists()
