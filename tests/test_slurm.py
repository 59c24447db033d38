"""The workflow on a real Slurm cluster (issue 9), brought up on this machine for the test.

`../shared/slurm/slurm-up.sh` starts a single-node Slurm 22.05 (installing the Debian packages
`slurm-wlm` and `munge` first if they are missing) and `slurm-down.sh` stops it again. On small
synthetic data the test then runs the workflow three times, side by side where it can to keep the
whole module to a few minutes:

- locally, with `--cores 2`;
- on the cluster through `--executor slurm` with `config/profiles/slurm`: its exported tables must
  equal those of the local run, and every step must have gone through sbatch with the profile's
  resources;
- on the cluster with the persons table corrupted, up to the cohort step: the run must fail, show
  the failing step's log, and leave no output of that step and no half-written file.

Skipped, with the reason, only where Slurm cannot be installed (not Linux, not root, no apt-get,
the packages cannot be fetched, the plugin is not installed). Every Snakemake call runs under
`timeout -s KILL`: a status poll that hangs ignores SIGTERM (../shared/slurm/README.md).
"""
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED_SLURM = ROOT.parent / "shared" / "slurm"
PROFILE = ROOT / "config" / "profiles" / "slurm"
PACKAGES = ["slurm-wlm", "munge"]
# The shared scripts use fixed ports, so only one such cluster can run on a machine at a time.
PORT = 6817
LOCK = Path(tempfile.gettempdir()) / f"slurm-ci-{PORT}.lock"
# Small enough for a few minutes on two cores, large enough that tables have released cells:
# two years in the parents' window (children born 1995-1998 aged 12-17) and one in the child's (24-27).
YEARS = [2011, 2012, 2022]
TINY = {"synthetic": {"persons": 5000}, "income_years": YEARS}
TARGET = "export"                  # the released tables; maps and later steps are not needed here
# The failing run stops at the first step that reads the persons table.
FAILING_TARGET = "data/processed/cohort/children.parquet"
RULES = {"synthesize", "ingest", "ingest_year", "household", "cohort", "upbringing", "family_years", "status",
         "measures", "young_adults_places", "young_adults_year", "young_adults", "geography", "export_young_adults", "export"}
CLUSTER_TIMEOUT = 480              # seconds, per Snakemake call; SIGKILL after that
LOCAL_TIMEOUT = 300


# ----------------------------------------------------------------------------- cluster helpers

def _run(cmd, *, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def missing_packages(packages=PACKAGES) -> list[str]:
    """Debian packages of ``packages`` that are not installed."""
    return [p for p in packages if _run(["dpkg-query", "-W", "-f=${Status}", p]).stdout.strip()
            != "install ok installed"]


def reason_slurm_unavailable() -> str | None:
    """Why Slurm cannot be brought up here (a skip reason), or None after installing what is missing."""
    if not sys.platform.startswith("linux"):
        return f"Slurm test needs Linux (this is {sys.platform})"
    if find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (it needs Python >= 3.11)"
    if not (SHARED_SLURM / "slurm-up.sh").is_file():
        return f"{SHARED_SLURM}/slurm-up.sh not found: the shared folder must sit beside the clone"
    if os.geteuid() != 0:
        return "starting the Slurm daemons (slurm-up.sh) needs root"
    if shutil.which("dpkg-query") is None:
        return "not a Debian system: slurm-up.sh installs Slurm with apt-get"
    missing = missing_packages()
    if missing:
        if shutil.which("apt-get") is None:
            return f"Debian packages {missing} are missing and there is no apt-get"
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        res = _run(["sh", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                    + " ".join(missing)], env=env, timeout=600)
        if res.returncode != 0 or missing_packages():
            return f"apt-get could not install {missing}: {res.stderr.strip()[-500:]}"
    return None


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def acquire_lock(path: Path, *, wait: float):
    """An exclusive lock on ``path`` (released when the returned file is closed), waiting up to ``wait`` s."""
    f = open(path, "w")
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > deadline:
                f.close()
                raise TimeoutError(f"another Slurm test cluster on this machine holds {path}")
            time.sleep(2)


def cluster_env(base: Path) -> dict:
    """Environment in which sbatch, squeue and srun talk to the cluster under ``base``."""
    env = dict(os.environ)
    env["SLURM_CONF"] = str(base / "etc" / "slurm.conf")
    env["PATH"] = f"{base / 'bin'}{os.pathsep}{env['PATH']}"
    for var in ("SBATCH_ACCOUNT", "SBATCH_PARTITION"):   # the profile reads them; not wanted here
        env.pop(var, None)
    return env


def bring_up(base: Path) -> dict:
    res = _run(["bash", str(SHARED_SLURM / "slurm-up.sh")], env=dict(os.environ, SLURM_CI_DIR=str(base)),
               timeout=300)
    if res.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted((base / "log").glob("*.log")))
        raise RuntimeError(f"slurm-up.sh failed ({res.returncode}):\n{res.stdout[-2000:]}\n"
                           f"{res.stderr[-3000:]}\n{logs}")
    return cluster_env(base)


def tear_down(base: Path) -> None:
    _run(["bash", str(SHARED_SLURM / "slurm-down.sh")], env=dict(os.environ, SLURM_CI_DIR=str(base)),
         timeout=120)


# ----------------------------------------------------------------------------- snakemake runs

@dataclass
class Run:
    workdir: Path
    returncode: int
    output: str
    seconds: float


def start_snakemake(workdir: Path, *args, env: dict, timeout: int, target: str = TARGET
                    ) -> tuple[subprocess.Popen, float]:
    """Start Snakemake in ``workdir`` (its own process group), killed with SIGKILL after ``timeout`` s."""
    configs = [str(ROOT / "config" / "test.yaml"), str(workdir / "tiny.yaml")]
    cmd = ["timeout", "-s", "KILL", str(timeout), sys.executable, "-m", "snakemake", target,
           "--snakefile", str(ROOT / "Snakefile"), *args, "--configfile", *configs]
    out = open(workdir / "snakemake.out", "w")
    # cwd, not --directory: the Slurm plugin puts its job logs under the directory it started in.
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out.close()
    return proc, time.monotonic()


def finish(started: tuple[subprocess.Popen, float], workdir: Path, *, timeout: int) -> Run:
    proc, t0 = started
    try:
        rc = proc.wait(timeout=timeout + 30)
    except subprocess.TimeoutExpired:   # `timeout` itself hung: end the whole group we started
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    return Run(workdir, rc, (workdir / "snakemake.out").read_text(errors="replace"), time.monotonic() - t0)


def kill_group(started: tuple[subprocess.Popen, float]) -> None:
    proc, _ = started
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def new_workdir(root: Path, name: str, config: dict) -> Path:
    wd = root / name
    wd.mkdir()
    (wd / "tiny.yaml").write_text(yaml.safe_dump(config))
    return wd


def slurm_args() -> list[str]:
    # Polls from 2 s after submission instead of 40 s: the jobs here take seconds. MinJobAge=300
    # in slurm-up.sh keeps finished jobs in squeue far longer than 3 x 2 s.
    return ["--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "2"]


def submitted_job_ids(output: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", output)


def slurm_jobs(job_ids: list[str], env: dict) -> pd.DataFrame:
    """Rule, memory and time limit as Slurm recorded them, one row per job (squeue keeps finished
    jobs for MinJobAge)."""
    res = _run(["squeue", "-h", "--states=all", "-j", ",".join(job_ids), "-o", "%i|%k|%m|%l|%T"],
               env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    rows = [line.split("|") for line in res.stdout.splitlines() if line.strip()]
    df = pd.DataFrame(rows, columns=["job", "comment", "memory", "time_limit", "state"])
    df["rule"] = df["comment"].str.extract(r"^rule_(.+?)(?:_wildcards_.*)?$", expand=False)
    df["mem_mb"] = df["memory"].map(_mem_mb)
    return df


def _mem_mb(text: str) -> float:
    num, unit = re.fullmatch(r"([\d.]+)([KMGT]?)", text).groups()
    return float(num) * {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024 ** 2}[unit]


def read_tables(workdir: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_csv(p) for p in sorted((workdir / "reports" / "tables").glob("*.csv"))}


def half_written(workdir: Path) -> list[Path]:
    """Temporary files left behind and Parquet files that do not read (outside .snakemake)."""
    bad = [p for p in workdir.rglob("*.tmp") if ".snakemake" not in p.parts]
    for p in (workdir / "data" / "processed").rglob("*.parquet"):
        try:
            pd.read_parquet(p)
        except Exception:   # noqa: BLE001 - any unreadable file counts
            bad.append(p)
    return bad


def corrupt_persons_table(raw_cbs: Path) -> list[Path]:
    """Overwrite every GBAPERSOONTAB file with bytes that are no SPSS file."""
    files = sorted(raw_cbs.rglob("GBAPERSOON*.sav"))
    for p in files:
        p.write_bytes(b"not an SPSS file\n")
    return files


def show(run: Run) -> str:
    return f"exit {run.returncode} after {run.seconds:.0f} s in {run.workdir}\n{run.output[-6000:]}"


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def cluster():
    """A running single-node Slurm; always torn down again."""
    reason = reason_slurm_unavailable()
    if reason:
        pytest.skip(reason)
    lock = acquire_lock(LOCK, wait=600)
    base = Path(tempfile.mkdtemp(prefix="slurm-ci-"))   # short: munge's socket path must fit
    base.chmod(0o755)                                   # munged wants a+x on every parent
    try:
        if port_in_use(PORT):
            pytest.fail(f"port {PORT} is in use: a Slurm controller not started by this test is "
                        "running on this machine")
        t0 = time.monotonic()
        env = bring_up(base)
        print(f"Slurm up in {time.monotonic() - t0:.1f} s")
        yield env
    finally:
        tear_down(base)
        shutil.rmtree(base, ignore_errors=True)
        lock.close()


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The local run and the cluster run side by side (the cluster run mostly waits on status polls),
    then the failing cluster run on the local run's raw files with the persons table corrupted."""
    root = tmp_path_factory.mktemp("slurm")
    wd_local = new_workdir(root, "local", TINY)
    wd_cluster = new_workdir(root, "cluster", TINY)
    wd_fail = new_workdir(root, "failing", {**TINY, "synthetic": {"enabled": False}})
    started = {}
    try:
        started["cluster"] = start_snakemake(wd_cluster, *slurm_args(), env=cluster, timeout=CLUSTER_TIMEOUT)
        started["local"] = start_snakemake(wd_local, "--cores", "2", env=dict(os.environ), timeout=LOCAL_TIMEOUT)
        local = finish(started["local"], wd_local, timeout=LOCAL_TIMEOUT)
        if local.returncode != 0:
            pytest.fail(f"local run failed:\n{show(local)}")

        shutil.copytree(wd_local / "data" / "raw" / "synthetic", wd_fail / "data" / "raw" / "synthetic")
        corrupted = corrupt_persons_table(wd_fail / "data" / "raw" / "synthetic" / "cbs")
        assert corrupted, "no GBAPERSOONTAB file in the synthetic raw tree"
        started["failing"] = start_snakemake(wd_fail, *slurm_args(), env=cluster, timeout=CLUSTER_TIMEOUT,
                                             target=FAILING_TARGET)

        result = {"local": local,
                  "cluster": finish(started["cluster"], wd_cluster, timeout=CLUSTER_TIMEOUT),
                  "failing": finish(started["failing"], wd_fail, timeout=CLUSTER_TIMEOUT)}
    finally:
        for s in started.values():
            kill_group(s)
    for name, r in result.items():
        print(f"{name}: exit {r.returncode} in {r.seconds:.0f} s")
    return result


# ----------------------------------------------------------------------------- tests

def test_cluster_run_exports_the_same_tables_as_a_local_run(runs):
    cluster, local = runs["cluster"], runs["local"]
    assert cluster.returncode == 0, show(cluster)
    on_cluster, here = read_tables(cluster.workdir), read_tables(local.workdir)
    assert on_cluster.keys() == here.keys()
    assert {"transmission_buurt.csv", "transmission_region.csv", "young_adults_region.csv",
            "attrition.csv"} <= set(here)
    for name, frame in here.items():
        pd.testing.assert_frame_equal(on_cluster[name], frame, check_exact=True, obj=name)
    region = here["transmission_region.csv"]
    assert (region.loc[region["group"] == "totaal", "n_children"] > 0).all()


def test_every_step_went_through_sbatch_with_the_profiles_resources(runs, cluster):
    run = runs["cluster"]
    assert run.returncode == 0, show(run)
    ids = submitted_job_ids(run.output)
    assert "localrule" not in run.output
    jobs = slurm_jobs(ids, cluster)
    assert len(jobs) == len(ids)
    assert set(jobs["rule"]) == RULES
    assert (jobs["state"] == "COMPLETED").all(), jobs
    # Fixed figures of the profile, and a step whose request grows with its input (512 MB + K x input).
    synth = jobs.loc[jobs["rule"] == "synthesize"].iloc[0]
    assert (synth["mem_mb"], synth["time_limit"]) == (3072, "15:00")
    per_year = jobs.loc[jobs["rule"] == "ingest_year"]
    # one job per income year: INHATAB, KOPPELPERSOONHUISHOUDEN and, from 2018, INHARMATAB
    assert len(per_year) == len(YEARS)
    assert per_year["mem_mb"].between(512, 1000, inclusive="left").all(), per_year
    # the request grows with the input: above the 512 MB base
    assert (per_year["mem_mb"] > 512).all(), per_year
    assert set(jobs.loc[jobs["rule"] == "household", "comment"]) == {f"rule_household_wildcards_{y}"
                                                                     for y in YEARS}


def test_a_failing_step_fails_the_run_shows_its_log_and_leaves_no_half_written_output(runs, cluster):
    run = runs["failing"]
    wd = run.workdir
    assert run.returncode != 0, show(run)
    log = wd / "logs" / "ingest_persons.log"
    assert log.is_file(), show(run)
    last_line = [line for line in log.read_text().splitlines() if line.strip()][-1]
    assert "GBAPERSOON" in last_line           # the step names the file it could not read
    assert "Logfile logs/ingest_persons.log" in run.output, show(run)
    assert last_line in run.output, show(run)  # the log itself is printed, not just its name
    assert not (wd / "data" / "processed" / "ingest" / "persons.parquet").exists()
    assert not (wd / "data" / "processed" / "cohort").exists()   # nothing after the failed step ran
    assert half_written(wd) == []
    # The profile retries once, with twice the memory and time, before giving up.
    jobs = slurm_jobs(submitted_job_ids(run.output), cluster)
    persons = jobs.loc[jobs["comment"] == "rule_ingest_wildcards_persons"].sort_values(
        "job", key=lambda s: s.astype(int))
    assert list(persons["state"]) == ["FAILED", "FAILED"], jobs
    assert persons["mem_mb"].iloc[1] == 2 * persons["mem_mb"].iloc[0]
