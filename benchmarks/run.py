"""Measure the workflow at given population sizes (issue #7, item 1).

Per size: generate synthetic data (timed on its own, not part of the run), read every input file
once with pyreadstat, only the columns the pipeline's table specs name (the floor), run the
workflow cold up to the exported tables in a fresh folder with ``synthetic.enabled: false`` (as in
Remote Access), sample the summed resident memory of the whole process tree, collect every job's
Snakemake ``benchmark:`` file, and rerun after changing the adult age window (the re-analysis).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil
import yaml

from pipeline import io, tables

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.25       # issue #7: cold run <= 1.25 x the read floor
TARGET_PEAK_GB = 3.0      # issue #7: peak memory of the run under 3 GB
TARGET_GROWTH = 1.2       # issue #7: run time grows <= 1.2 x the population ratio
TARGET_REANALYSIS = 0.10  # issue #7: re-analysis <= 10 % of the cold run

# What the cold run builds: everything `export` writes (the released tables and the output check).
TABLE_TARGETS = ([f"reports/tables/transmission_{lv}.csv" for lv in ("buurt", "wijk", "gemeente", "region")]
                 + [f"reports/tables/young_adults_{lv}.csv" for lv in ("gemeente", "wijk", "region")]
                 + ["reports/tables/attrition.csv", "reports/output_check.json"])
# Steps in workflow order; the per-step table follows it.
STEP_ORDER = ["ingest", "ingest_year", "household", "cohort", "upbringing", "family_years", "status", "measures",
              "young_adults_places", "young_adults_year", "young_adults", "geography", "export_young_adults", "export", "maps", "hotspots", "factsheets", "rolling", "trend",
              "trend_charts", "audit", "bundle"]
FIXED_TABLES = ("persons", "parents", "addresses", "areas")
YEARLY_TABLES = ("income", "koppel", "ihi", "ihi_koppel", "inharma")


# --------------------------------------------------------------------------- input files and floor

@dataclass(frozen=True)
class InputFile:
    table: str           # pipeline table name (tables.TABLES)
    year: int | None     # income year for income/koppel
    path: Path


def input_files(raw_root: str | Path, *, files: dict, income_years: list[int] | None = None) -> list[InputFile]:
    """The files the workflow reads, found the way the Snakefile finds them (pipeline.io): the
    newest edition of each fixed table; per income year INHATAB + KOPPELPERSOONHUISHOUDEN, else
    IHI + its Koppeltabel, and INHARMATAB where the year has one."""
    out = []
    for table in FIXED_TABLES:
        spec = files[table]
        found = io.discover(raw_root, dirs=spec["dirs"], pattern=spec["pattern"])
        out.append(InputFile(table, None, io.newest(found, table=table, where=str(raw_root))))
    per_year = {t: io.pick_per_key(io.discover(raw_root, dirs=files[t]["dirs"], pattern=files[t]["pattern"]))
                if t in files else {} for t in YEARLY_TABLES}
    inhatab = set(per_year["income"]) & set(per_year["koppel"])
    ihi = (set(per_year["ihi"]) & set(per_year["ihi_koppel"])) - inhatab
    for y in income_years or sorted(inhatab | ihi):
        pair = ("income", "koppel") if y in inhatab else ("ihi", "ihi_koppel")
        extra = ("inharma",) if y in per_year["inharma"] else ()
        out += [InputFile(t, y, per_year[t][y]) for t in pair + extra]
    return out


def used_columns(available: list[str], spec: tables.TableSpec) -> list[str]:
    """The file's names of the spec's columns (exact, else case-insensitive, as pipeline.io reads
    them); optional columns absent from the file are skipped."""
    lower = {}
    for a in available:
        lower.setdefault(a.lower(), a)
    cols = [c.name if c.name in available else lower.get(c.name.lower()) for c in spec.columns]
    return list(dict.fromkeys(c for c in cols if c))


def read_floor(files: list[InputFile], *, target_year: int) -> pd.DataFrame:
    """Read each file once, one after another, only the used columns: one row per file with its
    rows, columns, bytes and the wall and CPU seconds of the data read (the header read that
    finds the column names is not timed).

    The floor is pyreadstat's read as a pandas frame (issue #7's definition). For a .sav the same
    columns are read a second time as pyreadstat's plain lists (``output_format="dict"``, what
    ingest reads), without building a frame: ``lists_s``/``lists_cpu_s``, a lower floor."""
    import pyreadstat

    rows = []
    for f in files:
        spec = tables.spec(f.table, target_year=target_year if f.table == "areas" else None)
        suffix = f.path.suffix.lower()
        if suffix == ".sav":
            _, meta = pyreadstat.read_sav(str(f.path), metadataonly=True)
            cols = used_columns(list(meta.column_names), spec)
            t0, c0 = time.perf_counter(), time.process_time()
            df, _ = pyreadstat.read_sav(str(f.path), usecols=cols, apply_value_formats=False, user_missing=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            t1, c1 = time.perf_counter(), time.process_time()
            lists, _ = pyreadstat.read_sav(str(f.path), usecols=cols, apply_value_formats=False, user_missing=False,
                                           output_format="dict")
            lists_wall, lists_cpu = time.perf_counter() - t1, time.process_time() - c1
            del lists
        elif suffix == ".parquet":
            import pyarrow.parquet as pq
            cols = used_columns(pq.read_schema(f.path).names, spec)
            t0, c0 = time.perf_counter(), time.process_time()
            df = pd.read_parquet(f.path, columns=cols)
        else:
            cols = used_columns(list(pd.read_csv(f.path, nrows=0, sep=None, engine="python").columns), spec)
            t0, c0 = time.perf_counter(), time.process_time()
            df = pd.read_csv(f.path, usecols=cols, dtype=str, keep_default_na=False, sep=None, engine="python")
        if suffix != ".sav":
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            lists_wall, lists_cpu = wall, cpu
        rows.append({"table": f.table, "year": f.year, "file": f.path.name, "rows": len(df), "columns": len(cols),
                     "mb": f.path.stat().st_size / 1e6, "floor_s": wall, "floor_cpu_s": cpu,
                     "lists_s": lists_wall, "lists_cpu_s": lists_cpu})
        del df
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- measuring a command

class TreeMemory:
    """Samples the summed resident memory of a process and all its descendants in a thread.

    Summed RSS counts shared pages (libraries) once per process, so it is an upper bound of what
    the jobs need together; a job shorter than the interval can be missed."""

    def __init__(self, pid: int, *, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Measured:
    wall_s: float
    cpu_s: float | None          # user + system of the whole process tree (Linux/macOS)
    peak_rss_gb: float
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)


def _children_cpu() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def measure(cmd: list[str], *, log_path: Path, cwd: Path | None = None) -> Measured:
    """Run ``cmd`` to completion with its output in ``log_path``; wall and CPU time of the process
    tree and its peak summed RSS. A failing command raises with the end of its log."""
    env = dict(os.environ)
    # Jobs run `python -m pipeline` in the work folder: make them import this checkout's package,
    # not whichever one the venv has installed in editable mode.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before, cpu0 = _load(), _children_cpu()
    t0 = time.perf_counter()
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        with TreeMemory(proc.pid) as mem:
            rc = proc.wait()
    wall = time.perf_counter() - t0
    cpu1 = _children_cpu()
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"command failed ({rc}): {' '.join(map(str, cmd))}\n{tail}")
    return Measured(wall, None if cpu0 is None else cpu1 - cpu0, mem.peak / 1e9, load_before, _load())


# --------------------------------------------------------------------------- Snakemake benchmark files

_RULE_OF = [(re.compile(r"ingest_\w+_\d{4}"), "ingest_year"),
            (re.compile(r"ingest_\w+"), "ingest"),
            (re.compile(r"household_\d{4}"), "household"),
            (re.compile(r"young_adults_year_\d{4}"), "young_adults_year")]


def rule_of(stem: str) -> str:
    for rx, rule in _RULE_OF:
        if rx.fullmatch(stem):
            return rule
    return stem


def collect_jobs(bench_dir: Path, *, since: float | None = None) -> pd.DataFrame:
    """One row per Snakemake ``benchmark:`` file (one job): rule, wall s, CPU s, max RSS MB.
    With ``since`` (a time stamp) only files written after it: the jobs of a rerun."""
    rows = []
    for p in sorted(bench_dir.glob("*.tsv")):
        if since is not None and p.stat().st_mtime < since:
            continue
        b = pd.read_csv(p, sep="\t", na_values=["NA", "-"])
        rows.append({"job": p.stem, "step": rule_of(p.stem), "wall_s": float(b["s"].iloc[0]),
                     "cpu_s": float(b["cpu_time"].iloc[0]) if "cpu_time" in b else float("nan"),
                     "max_rss_mb": float(b["max_rss"].iloc[0]) if "max_rss" in b else float("nan")})
    return pd.DataFrame(rows, columns=["job", "step", "wall_s", "cpu_s", "max_rss_mb"])


def step_table(jobs: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """Per step: jobs, summed and longest wall time, summed CPU time, largest RSS, and for the two
    ingest steps the floor of the same files and wall / floor (a step that only reads and writes
    Parquet should stay near 1)."""
    g = jobs.groupby("step").agg(jobs=("job", "size"), wall_s=("wall_s", "sum"), wall_s_max=("wall_s", "max"),
                                 cpu_s=("cpu_s", "sum"), max_rss_mb=("max_rss_mb", "max")).reset_index()
    fixed, yearly = floor["table"].isin(FIXED_TABLES), floor["table"].isin(YEARLY_TABLES)
    g["floor_s"] = g["step"].map({"ingest": floor.loc[fixed, "floor_s"].sum(),
                                  "ingest_year": floor.loc[yearly, "floor_s"].sum()})
    g["wall_over_floor"] = g["wall_s"] / g["floor_s"]
    if "floor_cpu_s" in floor:
        g["cpu_over_floor_cpu"] = g["cpu_s"] / g["step"].map({"ingest": floor.loc[fixed, "floor_cpu_s"].sum(),
                                                              "ingest_year": floor.loc[yearly, "floor_cpu_s"].sum()})
    order = {s: i for i, s in enumerate(STEP_ORDER)}
    g = g.sort_values("step", key=lambda s: s.map(lambda x: order.get(x, len(order)))).reset_index(drop=True)
    total_wall = g["wall_s"].sum()
    g["share_of_job_wall_pct"] = 100 * g["wall_s"] / total_wall if total_wall else float("nan")
    return g


# --------------------------------------------------------------------------- one size

def _write_config(path: Path, gen: Path, *, target_year: int) -> None:
    """The Remote Access recipe's config file: raw_root on the generated tree, synthetic off."""
    boundaries = gen / "geo" / f"wijkenbuurten_{target_year}_synthetisch.gpkg"
    cfg = {"raw_root": (gen / "cbs").as_posix() + "/", "synthetic": {"enabled": False},
           "geography": {"boundaries": boundaries.as_posix(), "target_year": target_year}}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def snakemake_cmd(work: Path, configfiles: list[Path], *, cores: int, targets: list[str]) -> list[str]:
    return ([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
             "--configfile", *map(str, configfiles), "--cores", str(cores)] + targets)


def bench_size(persons: int, *, out: Path, seed: int, cores: int, first_year: int, last_year: int,
               reanalysis_child_ages: tuple[int, int], extras: bool, keep_data: bool,
               data: Path | None = None) -> dict:
    """Generate, floor, cold run, (extras), re-analysis for one population size; writes
    ``p{persons}/`` under ``out`` (logs, benchmark files, tables) and returns the summary.
    With ``data`` (a folder ``synthesize`` wrote earlier, with ``cbs/`` and ``geo/``) nothing is
    generated: that tree is measured as it is, and left in place."""
    tag = f"p{persons}"
    gen, work = (out / "data" / tag if data is None else data), out / tag
    for d in ((gen, work) if data is None else (work,)):
        shutil.rmtree(d, ignore_errors=True)
    work.mkdir(parents=True)
    base_cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    target_year = base_cfg["geography"]["target_year"]
    if data is None:
        print(f"[{tag}] synthesize {persons} persons", flush=True)
        synth = measure([sys.executable, "-m", "pipeline", "synthesize", "--out", str(gen),
                         "--persons", str(persons), "--seed", str(seed), "--first-year", str(first_year),
                         "--last-year", str(last_year), "--target-year", str(target_year)],
                        log_path=work / "synthesize.log")
    else:
        if not (gen / "cbs").is_dir():
            raise SystemExit(f"--data {gen}: no cbs/ folder (expected the output of pipeline synthesize)")
        print(f"[{tag}] using the data in {gen} (not generated, not timed)", flush=True)
        synth = Measured(math.nan, math.nan, math.nan)

    files = input_files(gen / "cbs", files=base_cfg["files"])
    print(f"[{tag}] floor: {len(files)} files", flush=True)
    load_floor = _load()
    floor = read_floor(files, target_year=target_year)
    floor.to_csv(work / "floor_files.csv", index=False)

    cfg = work / "bench.yaml"
    _write_config(cfg, gen, target_year=target_year)
    print(f"[{tag}] cold run", flush=True)
    cold = measure(snakemake_cmd(work, [cfg], cores=cores, targets=TABLE_TARGETS), log_path=work / "cold_run.log")
    jobs = collect_jobs(work / "benchmarks")
    jobs.to_csv(work / "jobs_cold.csv", index=False)

    extra = None
    if extras:
        print(f"[{tag}] extras (maps, hotspots, fact sheets, audit, bundle)", flush=True)
        t_extra = time.time()
        extra = measure(snakemake_cmd(work, [cfg], cores=cores, targets=[]), log_path=work / "extras_run.log")
        extra_jobs = collect_jobs(work / "benchmarks", since=t_extra)
        extra_jobs.to_csv(work / "jobs_extras.csv", index=False)

    re_cfg = work / "reanalysis.yaml"
    re_cfg.write_text(yaml.safe_dump({"windows": {"child_ages": list(reanalysis_child_ages)}}))
    print(f"[{tag}] re-analysis with child ages {reanalysis_child_ages}", flush=True)
    t_re = time.time()
    rerun = measure(snakemake_cmd(work, [cfg, re_cfg], cores=cores, targets=TABLE_TARGETS),
                    log_path=work / "reanalysis_run.log")
    re_jobs = collect_jobs(work / "benchmarks", since=t_re)
    re_jobs.to_csv(work / "jobs_reanalysis.csv", index=False)

    steps = step_table(jobs, floor)
    floor_s = float(floor["floor_s"].sum())
    summary = {
        "persons": persons, "seed": seed, "income_years": [first_year, last_year], "cores": cores,
        "input_files": len(files), "input_rows": int(floor["rows"].sum()), "input_mb": float(floor["mb"].sum()),
        "synthesize": {"wall_s": synth.wall_s, "cpu_s": synth.cpu_s, "peak_gb": synth.peak_rss_gb,
                       "load_before": synth.load_before, "load_after": synth.load_after},
        "floor": {"wall_s": floor_s, "cpu_s": float(floor["floor_cpu_s"].sum()), "load_before": load_floor,
                  "load_after": _load()},
        # pyreadstat's plain lists, no frame (what ingest reads): a lower floor than the issue's
        "floor_lists": ({"wall_s": float(floor["lists_s"].sum()), "cpu_s": float(floor["lists_cpu_s"].sum())}
                        if "lists_s" in floor else None),
        "cold": {"wall_s": cold.wall_s, "cpu_s": cold.cpu_s, "peak_gb": cold.peak_rss_gb,
                 "load_before": cold.load_before, "load_after": cold.load_after,
                 "jobs": len(jobs), "job_wall_sum_s": float(jobs["wall_s"].sum()),
                 "job_cpu_sum_s": float(jobs["cpu_s"].sum()), "job_max_rss_mb": float(jobs["max_rss_mb"].max())},
        "ratio_cold_over_floor": cold.wall_s / floor_s if floor_s else math.nan,
        # CPU seconds are less sensitive than wall time to other work on the machine; the run may
        # spend up to `cores` times its wall time, so this ratio is not the goal's, only a check on it.
        "ratio_cold_cpu_over_floor_cpu": (cold.cpu_s / float(floor["floor_cpu_s"].sum())
                                          if cold.cpu_s is not None else math.nan),
        "reanalysis": {"child_ages": list(reanalysis_child_ages), "wall_s": rerun.wall_s, "cpu_s": rerun.cpu_s,
                       "peak_gb": rerun.peak_rss_gb, "share_of_cold": rerun.wall_s / cold.wall_s,
                       "load_before": rerun.load_before, "load_after": rerun.load_after,
                       "jobs": sorted(re_jobs["job"])},
        "extras": None if extra is None else {"wall_s": extra.wall_s, "cpu_s": extra.cpu_s,
                                              "peak_gb": extra.peak_rss_gb, "load_before": extra.load_before,
                                              "load_after": extra.load_after,
                                              "jobs": extra_jobs.drop(columns="step").to_dict("records")},
        "machine": machine(),
    }
    write_size_report(summary, steps, floor, work)
    if not keep_data:
        if data is None:
            shutil.rmtree(gen, ignore_errors=True)
        for d in ("data", ".snakemake"):
            shutil.rmtree(work / d, ignore_errors=True)
    return summary


def machine() -> dict:
    import pyreadstat
    import snakemake

    def git(*a):
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    return {"when": dt.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
            "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "python": platform.python_version(), "pandas": pd.__version__, "pyreadstat": pyreadstat.__version__,
            "snakemake": snakemake.__version__, "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


# --------------------------------------------------------------------------- reports

def _md_table(df: pd.DataFrame, floats: str = "{:,.1f}") -> str:
    def cell(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float):
            return floats.format(v)
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)
    df = df.assign(**{c: df[c].astype("Int64").map(lambda v: "" if v is pd.NA else str(v))
                      for c in df.columns if c == "year"})
    head = "| " + " | ".join(df.columns) + " |\n|" + "|".join(
        "---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns) + "|\n"
    return head + "".join("| " + " | ".join(cell(v) for v in row) + " |\n" for row in df.itertuples(index=False))


def totals_rows(s: dict) -> pd.DataFrame:
    """The whole-run figures as rows of the per-step table (``step`` starting with ``TOTAL``)."""
    c, f = s["cold"], s["floor"]
    return pd.DataFrame([
        {"step": "TOTAL cold run (whole tree)", "jobs": c["jobs"], "wall_s": c["wall_s"], "cpu_s": c["cpu_s"],
         "max_rss_mb": c["peak_gb"] * 1000, "floor_s": f["wall_s"], "wall_over_floor": s["ratio_cold_over_floor"]},
        {"step": "TOTAL read floor (sequential)", "jobs": s["input_files"], "wall_s": f["wall_s"], "cpu_s": f["cpu_s"],
         "floor_s": f["wall_s"], "wall_over_floor": 1.0},
        {"step": "TOTAL re-analysis", "jobs": len(s["reanalysis"]["jobs"]), "wall_s": s["reanalysis"]["wall_s"],
         "cpu_s": s["reanalysis"]["cpu_s"], "max_rss_mb": s["reanalysis"]["peak_gb"] * 1000},
        {"step": "(synthesize, not in the run)", "jobs": 1, "wall_s": s["synthesize"]["wall_s"],
         "cpu_s": s["synthesize"]["cpu_s"], "max_rss_mb": s["synthesize"]["peak_gb"] * 1000},
    ])


def write_size_report(s: dict, steps: pd.DataFrame, floor: pd.DataFrame, work: Path) -> None:
    """``summary.json``, ``steps.csv`` (per step and totals) and ``bench.md`` in ``work``."""
    (work / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    full = pd.concat([steps, totals_rows(s)], ignore_index=True)
    full.to_csv(work / "steps.csv", index=False)
    c, f, r = s["cold"], s["floor"], s["reanalysis"]
    ok = lambda b: "yes" if b else "**no**"  # noqa: E731
    lines = [
        f"# Benchmark: {s['persons']:,} persons, income years {s['income_years'][0]}–{s['income_years'][1]}",
        "",
        f"Measured {s['machine']['when']} on {s['machine']['cpus']} CPUs, {s['machine']['memory_gb']} GB "
        f"(commit {s['machine']['commit']}{' + changes' if s['machine']['dirty'] else ''}; Snakemake "
        f"{s['machine']['snakemake']}, pandas {s['machine']['pandas']}, pyreadstat {s['machine']['pyreadstat']}). "
        f"Load average (1, 5, 15 min) before / after: floor {f['load_before']} / {f['load_after']}, "
        f"cold run {c['load_before']} / {c['load_after']}. A load above the number of CPUs means other work "
        "competed for them: wall times are then inflated, and so are ratios of times measured at different "
        "moments.",
        "",
        f"- input: {s['input_files']} files, {s['input_rows']:,} rows, {s['input_mb']:,.0f} MB (.sav)",
        f"- synthesize (not part of the run): {s['synthesize']['wall_s']:,.1f} s wall, "
        f"peak {s['synthesize']['peak_gb']:.2f} GB",
        f"- read floor (each file once, used columns only, one after another): {f['wall_s']:,.1f} s "
        f"(CPU {f['cpu_s']:,.1f} s)",
        *([f"- the same files read as pyreadstat's plain lists (`output_format=\"dict\"`, no frame; what "
           f"ingest reads): {s['floor_lists']['wall_s']:,.1f} s (CPU {s['floor_lists']['cpu_s']:,.1f} s); "
           f"cold run / this lower floor: {c['wall_s'] / s['floor_lists']['wall_s']:.2f}"]
          if s.get("floor_lists") else []),
        f"- cold run up to the exported tables, {s['cores']} cores: {c['wall_s']:,.1f} s wall, "
        f"CPU {c['cpu_s'] or float('nan'):,.1f} s, {c['jobs']} jobs, peak summed RSS {c['peak_gb']:.2f} GB",
        f"- cold run / floor: **{s['ratio_cold_over_floor']:.2f}** (goal ≤ {TARGET_RATIO}: "
        f"{ok(s['ratio_cold_over_floor'] <= TARGET_RATIO)}); peak < {TARGET_PEAK_GB} GB: "
        f"{ok(c['peak_gb'] < TARGET_PEAK_GB)}",
        f"- CPU time of the cold run / CPU time of the floor: {s['ratio_cold_cpu_over_floor_cpu']:.2f} (less "
        f"sensitive to contention than wall time; the jobs' `benchmark:` files sum to {c['job_cpu_sum_s']:,.1f} s, "
        "the rest is Snakemake itself and what those files miss: they keep the CPU time seen at a job's last "
        "sample, taken every 0.5 s for 30 s and every 30 s after)",
        f"- re-analysis (windows.child_ages → {r['child_ages']}): {r['wall_s']:,.1f} s = "
        f"**{100 * r['share_of_cold']:.1f} %** of the cold run (goal ≤ {100 * TARGET_REANALYSIS:.0f} %: "
        f"{ok(r['share_of_cold'] <= TARGET_REANALYSIS)}); jobs rerun: {', '.join(r['jobs']) or 'none'}",
    ]
    if s.get("extras"):
        e = s["extras"]
        lines.append(f"- extras after the tables (maps, hotspots, fact sheets, audit, bundle): {e['wall_s']:,.1f} s "
                     f"wall, peak {e['peak_gb']:.2f} GB; per job (wall s, CPU s, max RSS MB): "
                     + ", ".join(f"{j['job']} {j['wall_s']:.1f}/{j['cpu_s']:.1f}/{j['max_rss_mb']:.0f}"
                                 for j in e.get("jobs", [])))
    lines += ["", "## Per step (Snakemake `benchmark:` files of the cold run)", "",
              "Wall and CPU seconds summed over a step's jobs; jobs ran side by side. `floor_s` is the "
              "read floor of the files a step reads (ingest steps only). CPU and RSS are sampled by Snakemake "
              "(every 0.5 s, after 30 s every 30 s): lower bounds for long jobs.", "",
              _md_table(full.rename(columns={"share_of_job_wall_pct": "% of job wall"})),
              "## Read floor per file", "", _md_table(floor, "{:,.2f}")]
    (work / "bench.md").write_text("\n".join(lines) + "\n")


def scaling(summaries: list[dict]) -> pd.DataFrame:
    """Across sizes, relative to the smallest: population ratio, time ratios and growth exponents."""
    s = sorted(summaries, key=lambda x: x["persons"])
    if not s:
        return pd.DataFrame()
    b = s[0]
    rows = []
    for x in s:
        pop = x["persons"] / b["persons"]
        run = x["cold"]["wall_s"] / b["cold"]["wall_s"]
        cpu = (x["cold"].get("cpu_s") or float("nan")) / (b["cold"].get("cpu_s") or float("nan"))
        flo = x["floor"]["wall_s"] / b["floor"]["wall_s"]
        rows.append({"persons": x["persons"], "input_rows": x["input_rows"], "cold_wall_s": x["cold"]["wall_s"],
                     "floor_s": x["floor"]["wall_s"], "cold_over_floor": x["ratio_cold_over_floor"],
                     "cold_cpu_over_floor_cpu": x.get("ratio_cold_cpu_over_floor_cpu", float("nan")),
                     "cold_cpu_s": x["cold"].get("cpu_s") or float("nan"),
                     "peak_gb": x["cold"]["peak_gb"], "reanalysis_share": x["reanalysis"]["share_of_cold"],
                     "population_ratio": pop, "run_time_ratio": run, "floor_ratio": flo,
                     "run_ratio_over_population_ratio": run / pop, "cpu_time_ratio": cpu,
                     "growth_exponent": math.log(run) / math.log(pop) if pop > 1 else float("nan"),
                     "load_1min_cold": (x["cold"]["load_before"] or [float("nan")])[0]})
    return pd.DataFrame(rows)


def write_scaling(out: Path) -> pd.DataFrame:
    """``scaling.csv`` and ``scaling.md`` over every size measured into ``out``."""
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob("p*/summary.json"))]
    df = scaling(summaries)
    df.to_csv(out / "scaling.csv", index=False)
    (out / "scaling.md").write_text(
        "# Scaling across sizes\n\nRatios relative to the smallest size. Goal (issue #7): run time ratio ≤ "
        f"{TARGET_GROWTH} × population ratio, i.e. `run_ratio_over_population_ratio` ≤ {TARGET_GROWTH}.\n\n"
        + _md_table(df, "{:,.2f}"))
    return df


def rewrite(out: Path) -> None:
    """Render ``bench.md`` and ``steps.csv`` of every size in ``out`` again from the saved
    measurements (``summary.json``, ``jobs_cold.csv``, ``floor_files.csv``), and the scaling."""
    for work in sorted(p.parent for p in out.glob("p*/summary.json")):
        floor = pd.read_csv(work / "floor_files.csv")
        steps = step_table(pd.read_csv(work / "jobs_cold.csv"), floor)
        summary = json.loads((work / "summary.json").read_text())
        # results written before the CPU ratio was added
        summary.setdefault("ratio_cold_cpu_over_floor_cpu", (summary["cold"]["cpu_s"] or math.nan)
                           / summary["floor"]["cpu_s"])
        write_size_report(summary, steps, floor, work)
    write_scaling(out)


# --------------------------------------------------------------------------- entry point

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--persons", type=int, nargs="+", help="population sizes to measure")
    ap.add_argument("--rewrite", action="store_true",
                    help="measure nothing: render the tables of every size already in --out again")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results") / dt.date.today().isoformat())
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--first-year", type=int, default=2011)
    ap.add_argument("--last-year", type=int, default=2023)
    ap.add_argument("--reanalysis-child-ages", type=int, nargs=2, default=(25, 28), metavar=("FROM", "TO"))
    ap.add_argument("--extras", action="store_true",
                    help="after the tables also build maps, hotspots, fact sheets, audit and bundle, timed apart")
    ap.add_argument("--keep-data", action="store_true", help="keep the generated data and data/processed")
    ap.add_argument("--data", type=Path, default=None,
                    help="measure this already generated tree (pipeline synthesize --out) instead of "
                         "generating one; only with a single --persons, which should be its size")
    a = ap.parse_args(argv)
    a.out = a.out.resolve()
    if a.rewrite:
        rewrite(a.out)
        return 0
    if not a.persons:
        ap.error("--persons is required")
    if a.data is not None and len(a.persons) != 1:
        ap.error("--data measures one tree: give exactly one --persons")
    a.out.mkdir(parents=True, exist_ok=True)
    for n in a.persons:
        s = bench_size(n, out=a.out, seed=a.seed, cores=a.cores, first_year=a.first_year, last_year=a.last_year,
                       reanalysis_child_ages=tuple(a.reanalysis_child_ages), extras=a.extras, keep_data=a.keep_data,
                       data=None if a.data is None else a.data.resolve())
        print(f"[p{n}] cold {s['cold']['wall_s']:.1f} s, floor {s['floor']['wall_s']:.1f} s, "
              f"ratio {s['ratio_cold_over_floor']:.2f}, peak {s['cold']['peak_gb']:.2f} GB, "
              f"re-analysis {100 * s['reanalysis']['share_of_cold']:.1f} %", flush=True)
        write_scaling(a.out)
    print(f"results in {a.out}")
    return 0
