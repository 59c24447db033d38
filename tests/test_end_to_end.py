"""The real Snakefile, end to end, on small synthetic data in a temporary folder.

Checks the exported counts against a count made here straight from the raw .sav files (written
independently of the pipeline, in plain Python), the planted clusters against the internal
estimates, the disclosure rules on every exported cell, and that a second run has nothing to do.
"""
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ["buurt", "wijk", "gemeente", "region"]
REGION = ["GM1680", "GM1681", "GM0114", "GM1952", "GM1895", "GM0765", "GM0037", "GM0047", "GM1950"]
T = 10


def snakemake(workdir, *args, timeout=900, env=None):
    env = dict(os.environ if env is None else env)
    # The jobs run `python -m pipeline` in the work folder: import this checkout's package, not
    # whichever copy the virtual environment has installed.
    env["PYTHONPATH"] = os.pathsep.join([p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p])
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(ROOT / "config" / "test.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def offline_env(log: Path) -> dict:
    """Environment in which every Python process of the run refuses non-loopback connections
    (tests/offline/sitecustomize.py) and logs each attempt to ``log``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "offline"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NETWORK_GUARD_LOG"] = str(log)
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(proxy, None)
    return env


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The whole workflow, run with the network blocked for every process (issue 8)."""
    wd = tmp_path_factory.mktemp("e2e")
    res = snakemake(wd, env=offline_env(wd / "network_attempts.log"))
    if res.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((wd / "logs").glob("*.log")))
        pytest.fail(f"snakemake failed:\n{res.stderr[-5000:]}\n{logs}")
    return wd


# ----------------------------------------------------------------------------- independent count

def _newest(folder: Path, rx: str) -> Path:
    best = None
    for p in folder.rglob("*.sav"):
        m = re.fullmatch(rx, p.stem, re.IGNORECASE)
        if m:
            key = (int(m.group(1)), int(m.group(2) or 0))
            if best is None or key > best[0]:
                best = (key, p)
    return best[1]


def _read(p, cols):
    df, _ = pyreadstat.read_sav(str(p), usecols=cols)
    return df


def count_from_raw(raw: Path, target_year: int):
    """n_children and n_parents_poor per area, straight from the raw files, row by row."""
    per = _read(_newest(raw / "Bevolking/GBAPERSOONTAB", r"GBAPERSOON(?:TAB)?(\d{4})(?:TAB)?V(\d+)"),
                ["RINPERSOONS", "RINPERSOON", "GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND"])
    per = per[per.RINPERSOONS == "R"]
    per = per[~per.RINPERSOON.duplicated(keep=False)]
    born = {}
    for rin, y, m in zip(per.RINPERSOON, per.GBAGEBOORTEJAAR, per.GBAGEBOORTEMAAND):
        if y.isdigit():
            born[rin] = (int(y), int(m) if m.isdigit() and 1 <= int(m) <= 12 else None)
    kids = {r: b for r, b in born.items() if 1995 <= b[0] <= 1998 and b[1] is not None}
    ko = _read(_newest(raw / "Bevolking/KINDOUDERTAB", r"KINDOUDER(?:TAB)?(\d{4})(?:TAB)?V(\d+)"), None)
    ko = ko[(ko.RINPERSOONS == "R") & ko.RINPERSOON.isin(kids)][
        ["RINPERSOON", "RINPERSOONSpa", "RINPERSOONpa", "RINPERSOONSMa", "RINPERSOONMa"]].drop_duplicates()
    rows = defaultdict(list)
    for r in ko.itertuples(index=False):
        rows[r.RINPERSOON].append(r)
    links = {}
    for kid, rs in rows.items():
        if len(rs) != 1:
            continue
        r = rs[0]
        cy, cm = kids[kid]
        got = {}
        for role, s, p in (("father", r.RINPERSOONSpa, r.RINPERSOONpa), ("mother", r.RINPERSOONSMa, r.RINPERSOONMa)):
            if s != "R" or not p.strip("- ") or p == kid or p not in born:
                continue
            py, pm = born[p]
            if cy * 12 + cm - (py * 12 + (pm or 12)) >= 144:
                got[role] = p
        if got:
            links[kid] = got
    adr = _read(_newest(raw / "Bevolking/GBAADRESOBJECTBUS", r"GBAADRESOBJECT(?:BUS)?(\d{4})(?:BUS)?V(\d+)"), None)
    adr = adr[(adr.RINPERSOONS == "R") & adr.RINPERSOON.isin(links)]
    home = {}
    for r in adr.itertuples(index=False):
        y, m = kids[r.RINPERSOON]
        ref = f"{y + 15}{m:02d}01"
        start, end = r.GBADATUMAANVANGADRESHOUDING, r.GBADATUMEINDEADRESHOUDING
        if not start.isdigit() or start > ref or (end.isdigit() and end < ref):
            continue
        cand = (start, tuple(-ord(c) for c in r.RINOBJECTNUMMER), r.SOORTOBJECTNUMMER, r.RINOBJECTNUMMER)
        if r.RINPERSOON not in home or cand[:2] > home[r.RINPERSOON][:2]:
            home[r.RINPERSOON] = cand
    vsl = _read(_newest(raw / "BouwenWonen/VSLGWBTAB", r"VSLGWB(\d{4})TAB03V(\d+)"),
                ["SOORTOBJECTNUMMER", "RINOBJECTNUMMER", f"bc{target_year}", f"gem{target_year}", f"wc{target_year}"])
    code = {(s, o): (g, w, b) for s, o, g, w, b in zip(vsl.SOORTOBJECTNUMMER, vsl.RINOBJECTNUMMER,
                                                       vsl[f"gem{target_year}"], vsl[f"wc{target_year}"], vsl[f"bc{target_year}"])}
    area = {}
    for kid, h in home.items():
        g, w, b = code.get((h[2], h[3]), ("", "", ""))
        if g.isdigit() and w.isdigit() and b.isdigit() and "GM" + g in REGION:
            area[kid] = {"buurt": "BU" + b, "wijk": "WK" + w, "gemeente": "GM" + g, "region": "Veenkoloniën"}
    years = {}
    for p in (raw / "InkomenBestedingen/INHATAB").glob("INHA*.sav"):
        y, v = map(int, re.fullmatch(r"INHA(\d{4})TABV(\d+)", p.stem).groups())
        if y not in years or v > years[y][0]:
            years[y] = (v, p)
    status = {}
    for y, (_, p) in years.items():
        inc = _read(p, None)
        valid_col = inc["INHPOPIIV"] == 1 if "INHPOPIIV" in inc else inc["INHP100HGEST"].between(1, 100)
        hh = {}
        for s, r, v, lag in zip(inc.RINPERSOONSHKW, inc.RINPERSOONHKW, valid_col, inc.INHARMLAG):
            hh[s + r] = (bool(v), bool(v) and 0 <= lag < 100)
        kp = [q for q in (raw / "InkomenBestedingen").rglob(f"KOPPELPERSOONHUISHOUDEN{y}*.sav")]
        kp = max(kp, key=lambda q: int(re.search(r"V(\d+)$", q.stem).group(1)) if re.search(r"V(\d+)$", q.stem) else 0)
        k = _read(kp, None)
        k = k[k.RINPERSOONS == "R"]
        k = k[~k.RINPERSOON.duplicated(keep=False)]
        status[y] = {r: hh.get(s + h, (False, False)) for r, s, h in zip(k.RINPERSOON, k.RINPERSOONSHKW, k.RINPERSOONHKW)}
    counts = {lvl: defaultdict(lambda: [0, 0]) for lvl in LEVELS}
    for kid, a in area.items():
        by = kids[kid][0]
        pv = []
        for y in range(by + 12, by + 18):
            if y not in status:
                continue
            st = status[y]
            for who in (kid, links[kid].get("mother"), links[kid].get("father")):
                if who is not None and who in st:
                    pv.append(st[who])
                    break
        pv = [p for v, p in pv if v]
        cv = [status[y][kid] for y in range(by + 24, by + 28) if y in status and kid in status[y]]
        cv = [p for v, p in cv if v]
        if len(pv) < 2 or len(cv) < 1:
            continue
        parents_poor = sum(pv) >= len(pv) / 2
        for lvl in LEVELS:
            counts[lvl][a[lvl]][0] += 1
            counts[lvl][a[lvl]][1] += int(parents_poor)
    return counts


# ----------------------------------------------------------------------------- the tests

def released_table(run, lvl):
    """An exported table indexed like the internal one: area code, or "code|group" for groups."""
    t = pd.read_csv(run / f"reports/tables/transmission_{lvl}.csv", dtype={"area_code": str, "group": str})
    t["key"] = t["area_code"].where(t["group"] == "totaal", t["area_code"] + "|" + t["group"])
    return t.set_index("key")


def internal_table(run, lvl):
    return pd.read_parquet(run / f"data/processed/measures/measures_{lvl}.parquet").set_index("key")


def test_exported_counts_match_a_count_from_the_raw_files(run):
    counts = count_from_raw(run / "data/raw/synthetic/cbs", 2023)
    for lvl in LEVELS:
        t = released_table(run, lvl)
        t = t[t["group"] == "totaal"]
        released = t[t["n_children"].notna()]
        assert len(released), f"nothing released at {lvl}"
        checked = 0
        for code in released.index:
            assert released.at[code, "n_children"] == counts[lvl][code][0], (lvl, code)
            if pd.notna(released.at[code, "n_parents_poor"]):
                assert released.at[code, "n_parents_poor"] == counts[lvl][code][1], (lvl, code)
            checked += 1
        assert checked >= 1


def test_planted_clusters_come_out_on_top(run):
    truth = pd.read_csv(run / "data/raw/synthetic/truth/buurt_truth.csv", dtype=str)
    m = pd.read_parquet(run / "data/processed/measures/measures_buurt.parquet")
    m = m[m["group"] == "totaal"].merge(truth, left_on="area_code", right_on="buurtcode", how="inner")
    cluster = m["cluster"].fillna("") != ""
    assert cluster.any() and (~cluster).any()
    pooled_in = m.loc[cluster, "n_both_poor"].sum() / m.loc[cluster, "n_parents_poor"].sum()
    pooled_out = m.loc[~cluster, "n_both_poor"].sum() / m.loc[~cluster, "n_parents_poor"].sum()
    assert pooled_in > 1.5 * pooled_out and pooled_in - pooled_out > 0.1, (pooled_in, pooled_out)
    mean_in = m.loc[cluster, "outflow_eb"].mean()
    mean_out = m.loc[~cluster, "outflow_eb"].mean()
    assert mean_in > mean_out + 0.1, (mean_in, mean_out)
    wt = pd.read_csv(run / "data/raw/synthetic/truth/wijk_truth.csv", dtype={"wijkcode": str})
    w = pd.read_parquet(run / "data/processed/measures/measures_wijk.parquet")
    w = w[w["group"] == "totaal"].merge(wt, left_on="area_code", right_on="wijkcode")
    w = w[w["n_parents_poor"] >= 10]
    rho = w["outflow_eb"].rank().corr(w["outflow_propensity"].astype(float).rank())
    assert len(w) >= 15 and rho > 0.5, (len(w), rho)


def test_shrunk_buurt_outflow_is_closer_to_the_planted_truth(run):
    truth = pd.read_csv(run / "data/raw/synthetic/truth/buurt_truth.csv", dtype={"buurtcode": str})
    m = internal_table(run, "buurt")
    m = m[(m["group"] == "totaal") & (m["n_parents_poor"] > 0)].merge(
        truth, left_on="area_code", right_on="buurtcode")
    planted = m["outflow_propensity"].astype(float)
    mse_raw = ((m["outflow"] - planted) ** 2).mean()
    mse_eb = ((m["outflow_eb"] - planted) ** 2).mean()
    assert len(m) >= 50
    assert mse_eb < 0.5 * mse_raw, (mse_eb, mse_raw)


def outflow_interval_check(root: Path, *, min_n: int = 20) -> dict:
    """Coverage of the planted wijk outflow by the 95 % Wilson intervals of the internal wijk
    estimates (wijken with at least ``min_n`` children of poor parents), and the mean standardised
    error (k - n p) / sqrt(n p (1 - p)) under the planted p."""
    wt = pd.read_csv(root / "data/raw/synthetic/truth/wijk_truth.csv", dtype={"wijkcode": str})
    w = pd.read_parquet(root / "data/processed/measures/measures_wijk.parquet")
    w = w[(w["group"] == "totaal") & (w["_outflow_n"] >= min_n)].merge(
        wt, left_on="area_code", right_on="wijkcode", validate="1:1")
    p = w["outflow_propensity"].astype(float)
    covered = (w["outflow_ci_low"] <= p) & (p <= w["outflow_ci_high"])
    z = (w["_outflow_k"] - w["_outflow_n"] * p) / np.sqrt(w["_outflow_n"] * p * (1 - p))
    return {"wijken": len(w), "coverage": float(covered.mean()), "mean_z": float(z.mean()),
            "bias": float((w["outflow"] - p).mean())}


def test_wijk_intervals_cover_the_planted_outflow(run):
    """Issue 3: the 95 % intervals cover the planted value in roughly 95 % of wijken. At the test
    size only one wijk has 20 children of poor parents, so wijken with 10 count here and the bound
    is loose; the demo-size figure is in docs/methods.md (94 % of 84 wijken with 20)."""
    res = outflow_interval_check(run, min_n=10)
    assert res["wijken"] >= 5, res
    assert res["coverage"] >= 0.8, res
    # no systematic error: the mean standardised error stays within three standard errors of 0
    assert abs(res["mean_z"]) < 3 / np.sqrt(res["wijken"]), res


def test_three_generation_rate_is_measured(run):
    """The generator links parents born from 1966 to grandparents; the grandparents' poverty does
    not change the child's propensity, so the three-generation rate matches the outflow."""
    m = pd.read_parquet(run / "data/processed/measures/measures_region.parquet")
    r = m[m["group"] == "totaal"].iloc[0]
    assert r["_outflow_3gen_n"] >= 30, r["_outflow_3gen_n"]
    assert r["outflow_3gen_ci_low"] <= r["outflow"] <= r["outflow_3gen_ci_high"]


def test_young_adults_by_father_and_mother_every_year(run):
    for lvl in ("gemeente", "wijk", "region"):
        t = pd.read_csv(run / f"reports/tables/young_adults_{lvl}.csv")
        assert sorted(t["year"].unique()) == list(range(2011, 2024))
        for c in ("share_father_poor_away", "share_mother_poor_away", "share_father_poor_poor_away",
                  "share_mother_poor_poor_away"):
            assert c in t.columns
    r = pd.read_csv(run / "reports/tables/young_adults_region.csv")
    # the monitor's direction: among poor young adults living away, parents poor more often than among all
    assert (r["share_mother_poor_poor_away"] > r["share_mother_poor_away"]).mean() > 0.8


def test_no_exported_cell_breaks_the_rules(run):
    out = run / "reports/tables"
    internal = {lvl: internal_table(run, lvl) for lvl in LEVELS}
    released = {lvl: released_table(run, lvl) for lvl in LEVELS}
    for lvl in LEVELS:
        t, m = released[lvl], internal[lvl].reindex(released[lvl].index).fillna(0)
        assert (m.loc[t["n_children"].notna(), "n_children"] >= T).all()
        for sfx in ("", "_lt"):
            a = m[f"n_both_poor{sfx}"]
            b = m[f"n_parents_poor{sfx}"] - a
            c = m[f"n_child_poor{sfx}"] - a
            d = m["n_children"] - m[f"n_parents_poor{sfx}"] - c
            for col, num, comp in (("outflow", a, b), ("p_child_poor_parents_not_poor", c, d), ("inflow", a, c),
                                   ("n_parents_poor", a + b, c + d), ("n_child_poor", a + c, b + d),
                                   ("n_both_poor", a, b + c + d)):
                col = col + sfx
                rel = t[col].notna()
                assert (num[rel] >= T).all() and (comp[rel] >= T).all(), (lvl, col)
                for suffix in ("_ci_low", "_ci_high", "_eb", "_reliability"):
                    if col + suffix in t.columns:
                        assert not (t[col + suffix].notna() & ~rel).any(), (lvl, col + suffix)
            # n_child_poor and outflow together would give c = n_child_poor - outflow * n_parents_poor
            both = t[f"n_child_poor{sfx}"].notna() & t[f"outflow{sfx}"].notna() & t[f"n_parents_poor{sfx}"].notna()
            assert (c[both] >= T).all(), lvl
        rel = t["outflow_3gen"].notna()
        k3, n3 = m["_outflow_3gen_k"], m["_outflow_3gen_n"]
        assert (k3[rel] >= T).all() and ((n3 - k3)[rel] >= T).all(), lvl
        for reg in ("abs_mobility_p25", "rank_slope", "kk_p25"):
            rel = t[reg].notna()
            assert (m.loc[rel, f"_{reg}_n"] - 2 >= T).all(), (lvl, reg)
    # Nested: never exactly one withheld inhabited descendant under a released area.
    parent_of = {"buurt": lambda c: {"wijk": "WK" + c[2:8], "gemeente": "GM" + c[2:6], "region": "Veenkoloniën"},
                 "wijk": lambda c: {"gemeente": "GM" + c[2:6], "region": "Veenkoloniën"},
                 "gemeente": lambda c: {"region": "Veenkoloniën"}}
    for count in ("n_children", "n_parents_poor", "n_child_poor", "n_both_poor"):
        for lower, f in parent_of.items():
            held = defaultdict(int)
            totals = released[lower][released[lower]["group"] == "totaal"]
            for code, row in totals.iterrows():
                if pd.isna(row[count]) and internal[lower]["n_children"].get(code, 0) > 0:
                    for upper, up in f(code).items():
                        held[(upper, up)] += 1
            for (upper, up), n in held.items():
                if up in released[upper].index and pd.notna(released[upper].at[up, count]):
                    assert n != 1, (count, lower, upper, up)
        # Complementary groups: under a released total, never exactly one withheld group of a breakdown.
        for lvl in LEVELS:
            t = released[lvl]
            groups = t[t["group"] != "totaal"]
            inhabited = internal[lvl]["n_children"].reindex(groups.index).fillna(0) > 0
            held = groups[groups[count].isna() & inhabited]
            per = held.groupby([held["area_code"], held["group"].str.split("=").str[0]]).size()
            for (code, breakdown), n in per.items():
                if pd.notna(t.at[code, count]):
                    assert n != 1, (count, lvl, code, breakdown)
    # Every table has the exact first columns, one row per area, and no record-level columns.
    for lvl in LEVELS:
        t = released[lvl].reset_index(drop=True)
        assert list(t.columns[:4]) == ["area_code", "area_name", "level", "group"]
        assert not t[["area_code", "group"]].duplicated().any()
        assert t.loc[t["group"] == "totaal", "area_code"].is_unique
        assert not any("RIN" in c.upper() for c in t.columns)
    assert (released["region"]["group"] == "totaal").sum() == 1
    check = json.loads((run / "reports/output_check.json").read_text())
    assert check["cells"] and all(("unrounded_n" in c) == c["released"] for c in check["cells"])
    assert all("reason" in c for c in check["cells"] if not c["released"])


def test_every_area_of_the_geography_has_a_row(run):
    import geopandas as gpd
    areas = gpd.read_parquet(run / "data/processed/geography/areas.parquet")
    for lvl in ("buurt", "wijk", "gemeente"):
        t = pd.read_csv(run / f"reports/tables/transmission_{lvl}.csv", dtype={"area_code": str})
        assert set(areas.loc[areas["level"] == lvl, "area_code"]) <= set(t["area_code"])


def test_young_adults_and_attrition_exported(run):
    ya = pd.read_csv(run / "reports/tables/young_adults_region.csv")
    assert sorted(ya["year"]) == list(range(2011, 2024))
    assert (ya["n_young_adults"] >= T).all()
    assert ya["share_poor"].between(0, 1).all()
    att = pd.read_csv(run / "reports/tables/attrition.csv")
    assert {"cohort", "upbringing", "status", "household", "young_adults"} <= set(att["step"])


def test_rolling_cohorts_and_trends(run):
    """Issue #6: every birth cohort that fits 2011-2023 and the rolling pools, released; trend tables
    with intervals; one chart per gemeente and the region."""
    for lvl in ("gemeente", "wijk", "region"):
        t = pd.read_csv(run / f"reports/tables/cohorts_{lvl}.csv", dtype={"cohort": str, "area_code": str})
        assert set(t["cohort"]) == {"1995", "1996", "1997", "1998", "1999", "1995-1997", "1996-1998", "1997-1999"}
        # the synthetic files carry INHARMATAB from 2018: the new line runs beside the old one
        assert set(t["line"]) == {"lage-inkomensgrens", "nieuwe armoedegrens"}
        assert not t.duplicated(["cohort", "line", "area_code"]).any()
        assert list(t.loc[t["cohort"].isin(["1995", "1996"]), "provisional"].unique()) == [False]
        assert t.loc[t["cohort"] == "1999", "provisional"].all()
        rel = t["outflow"].notna()
        assert not (t["outflow_ci_low"].notna() & ~rel).any()
        assert (t.loc[t["n_children"].notna(), "n_children"] >= T).all()
        line = pd.read_csv(run / f"reports/tables/young_adults_line_{lvl}.csv")
        assert not line.empty and "share_poor" in line.columns
        assert line["year"].min() == 2018 and set(line["line"]) == {"nieuwe armoedegrens"}
    region = pd.read_csv(run / "reports/tables/cohorts_region.csv", dtype={"cohort": str})
    assert region["outflow"].notna().sum() >= 3
    trend = pd.read_csv(run / "reports/tables/trend_region.csv")
    years = trend[(trend["series"] == "inkomensjaar") & (trend["line"] == "lage-inkomensgrens")]
    assert sorted(years["year"].astype(int)) == list(range(2011, 2024))
    assert (years["ci_low"] <= years["value"]).all() and (years["value"] <= years["ci_high"]).all()
    assert years.loc[years["year"] == 2018, "definition_note"].str.contains("2018").all()
    assert {"geboortecohort"} <= set(trend["series"])
    # both lines over their overlap years, side by side
    new_years = trend[(trend["series"] == "inkomensjaar") & (trend["line"] == "nieuwe armoedegrens")]
    assert len(new_years) >= 2 and new_years["year"].astype(int).between(2018, 2023).all()
    gem = pd.read_csv(run / "reports/tables/trend_gemeente.csv", dtype={"area_code": str})
    assert set(gem["area_code"]) <= set(REGION)
    for name in REGION + ["regio"]:
        assert (run / f"figures/trend_{name}.png").stat().st_size > 10_000
    check = json.loads((run / "reports/output_check_trend.json").read_text(encoding="utf-8"))
    assert {c["table"] for c in check["cells"]} >= {"cohorts_gemeente", "cohorts_wijk", "cohorts_region"}
    audit = json.loads((run / "reports/audit.json").read_text(encoding="utf-8"))
    kinds = {e["path"]: e for e in audit["files"]}
    assert "differences between cohorts" in kinds["reports/tables/cohorts_region.csv"]["checks"]


def test_maps_written(run):
    for lvl in ("buurt", "wijk", "gemeente"):
        assert (run / f"figures/outflow_{lvl}.png").stat().st_size > 10_000
        assert (run / f"figures/outflow_{lvl}.pdf").stat().st_size > 1_000
    assert (run / "figures/outflow_kaart.html").stat().st_size > 10_000


def test_the_run_made_no_network_request(run):
    log = run / "network_attempts.log"
    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", attempts
    html = list((run / "figures").glob("*.html"))
    assert html, "no interactive map was produced"
    for page in html:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", text), page


def test_the_guard_blocks_network(tmp_path):
    log = tmp_path / "attempts.log"
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError as e:\n    print('blocked', e)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=offline_env(log), timeout=60)
    assert "blocked" in res.stdout
    assert log.read_text().strip()


def test_second_run_has_nothing_to_do(run):
    res = snakemake(run, "--dry-run")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr, (res.stdout + res.stderr)[-3000:]


# ----------------------------------------------------------------------------- disclosure: audit and attack

def _differencing_attack(released, inner, *, parent_keys, counts, population):
    """Subtract every released part from its released total, for every count and every partition
    (``parent_keys(key)`` gives (partition, total) pairs); return what it recovers: (total, count,
    withheld parts, remainder) wherever the remainder pins down withheld
    cells (exactly one withheld part) or gives a small sum. Written from scratch: it knows only
    the released tables, and which parts hold anybody (taken from the internal tables, as an
    attacker who knows empty areas would)."""
    recovered, tried, with_held = [], 0, 0
    for count in counts:
        parts = {}
        for key in inner.index.union(released.index):
            for partition, total in parent_keys(key):
                parts.setdefault((partition, total), []).append(key)
        for (_, total), keys in parts.items():
            if total not in released.index or pd.isna(released.at[total, count]):
                continue
            keys = [k for k in keys if inner[population].get(k, 0) > 0]
            shown = [k for k in keys if k in released.index and pd.notna(released.at[k, count])]
            held = [k for k in keys if k not in shown]
            rest = released.at[total, count] - sum(released.at[k, count] for k in shown)
            tried += 1
            with_held += bool(held)
            if len(held) == 1 or (held and rest < T):
                recovered.append((total, count, held, rest))
            assert held or rest == 0, (total, count)
    return recovered, tried, with_held


def test_differencing_attack_recovers_no_withheld_cell(run):
    up = {"buurt": ("wijk", "gemeente", "region"), "wijk": ("gemeente", "region"), "gemeente": ("region",)}

    def parents(code):
        return {"wijk": "WK" + code[2:8], "gemeente": "GM" + code[2:6], "region": "Veenkoloniën"}

    counts = ["n_children", "n_parents_poor", "n_child_poor", "n_both_poor",
              "n_parents_poor_lt", "n_child_poor_lt", "n_both_poor_lt"]
    rel = pd.concat([released_table(run, lvl) for lvl in LEVELS])
    inner = pd.concat([internal_table(run, lvl) for lvl in LEVELS])
    level_of = {k: lvl for lvl in LEVELS for k in internal_table(run, lvl).index}
    level_of.update({k: lvl for lvl in LEVELS for k in released_table(run, lvl).index})

    def parent_keys(key):
        code, _, group = key.partition("|")
        lvl = level_of[key]
        suffix = "|" + group if group else ""
        out = [(f"{lvl} in {u}", parents(code)[u] + suffix) for u in up.get(lvl, ())]
        return out + ([("groups", code)] if group else [])  # a breakdown's groups partition the area's total

    # Group rows of different breakdowns share the total, so attack each breakdown on its own.
    found, tried, with_held = [], 0, 0
    for breakdown in [None, "geslacht", "huishouden", "herkomst"]:
        keep = [k for k in inner.index.union(rel.index)
                if "|" not in k or k.split("|")[1].split("=")[0] == breakdown]
        r, t, w = _differencing_attack(rel.loc[rel.index.intersection(keep)], inner.loc[inner.index.intersection(keep)],
                                       parent_keys=parent_keys, counts=counts, population="n_children")
        found, tried, with_held = found + r, tried + t, with_held + w
    assert tried > 1000 and with_held > 100, (tried, with_held)   # the attack had something to work on
    assert not found, found[:10]

    # Young adults: wijk within gemeente within the region, per year.
    ya_rel = pd.concat([pd.read_csv(run / f"reports/tables/young_adults_{lvl}.csv", dtype={"area_code": str})
                        for lvl in ("wijk", "gemeente", "region")])
    ya_rel.index = ya_rel["year"].astype(str) + "|" + ya_rel["area_code"]
    ya_in = pd.concat([pd.read_parquet(run / f"data/processed/young_adults/young_adults_{lvl}.parquet")
                       for lvl in ("wijk", "gemeente", "region")])
    ya_in.index = ya_in["year"].astype(str) + "|" + ya_in["area_code"]

    def ya_parents(key):
        year, code = key.split("|")
        if code.startswith("WK"):
            return [("wijk in gemeente", f"{year}|GM{code[2:6]}"), ("wijk in region", f"{year}|Veenkoloniën")]
        return [("gemeente in region", f"{year}|Veenkoloniën")] if code.startswith("GM") else []

    ya_counts = [c for c in ya_rel.columns if c.startswith("n_")]
    found, tried, with_held = _differencing_attack(ya_rel, ya_in, parent_keys=ya_parents, counts=ya_counts,
                                                   population="n_young_adults")
    assert tried > 1000 and with_held > 100, (tried, with_held)
    assert not found, found[:10]


def test_audit_passes_and_bundle_holds_exactly_what_may_leave(run):
    import zipfile

    report = json.loads((run / "reports/audit.json").read_text(encoding="utf-8"))
    assert report["passed"]
    audited = {e["path"] for e in report["files"]}
    on_disk = {str(p.relative_to(run)) for d in ("reports", "figures") for p in (run / d).rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    assert on_disk - audited == {"reports/audit.json", "reports/audit.md"}
    figures = [e for e in report["files"] if e["path"].startswith("figures/")]
    assert figures and all(s["as"] in ("audited", "public", "code") for e in figures for s in e["built_from"])
    names = zipfile.ZipFile(run / "export/veenkolonien_export.zip").namelist()
    assert set(names) == on_disk
    assert not [n for n in names if not n.startswith(("reports/", "figures/"))]
    check = json.loads((run / "reports/output_check.json").read_text(encoding="utf-8"))
    assert not [c for c in check["cells"] if not c["released"] and ("unrounded_n" in c or "value" in c)]
    assert {"buurt", "wijk"} <= set(check["areas_released"])


def test_maps_hotspots_and_fact_sheets_from_released_values_only(run):
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())["maps"]
    for measure in cfg["measures"]:
        for lvl in ("buurt", "wijk", "gemeente"):
            assert (run / f"figures/{measure}_{lvl}.png").stat().st_size > 10_000
    assert (run / "figures/kaart.html").stat().st_size > 10_000
    summary = pd.read_csv(run / "reports/tables/hotspots_summary.csv")
    assert len(summary) == 4 and set(summary["status"].str[:8]) <= {"getoetst", "niet get"}
    for lvl in ("buurt", "wijk"):
        hot = pd.read_csv(run / f"reports/tables/hotspots_{lvl}.csv", dtype={"area_code": str})
        assert not [c for c in hot.columns if c.startswith("n_")]
        released = released_table(run, lvl)
        for measure, part in hot.groupby("measure"):
            values = released.loc[part["area_code"], measure].to_numpy(dtype=float)
            assert np.allclose(part["value"].to_numpy(dtype=float), values), measure
    for name in REGION + ["regio"]:
        page = (run / f"reports/factsheets/feitenblad_{name}.html").read_text(encoding="utf-8")
        assert "Kerncijfers" in page and "SYNTHETISCHE DATA" in page
        assert (run / f"reports/factsheets/feitenblad_{name}.pdf").read_bytes()[:5] == b"%PDF-"
    score = json.loads((run / "data/processed/hotspots/truth_check.json").read_text())
    assert {s["measure"] for s in score} == {"outflow", "abs_mobility_p25"}
    # cores and clusters (cores with their same-side neighbours) are both scored
    for s in score:
        assert s["cluster_n_flagged"] >= s["n_flagged"] and s["cluster_n_hit"] >= s["n_hit"]


def test_snakemake_report_collects_maps_tables_and_fact_sheets(run, tmp_path):
    res = snakemake(run, "--report", str(tmp_path / "report.html"))
    assert res.returncode == 0, res.stderr[-3000:]
    text = (tmp_path / "report.html").read_text(encoding="utf-8", errors="replace")
    for name in ("kaart.html", "hotspots_summary.csv", "feitenblad_regio.pdf",
                 "outflow_eb_buurt.png"):
        assert name in text, name
