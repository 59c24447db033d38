"""Measures per area of upbringing (methodology §7) with intervals and empirical Bayes (§9).

These are the internal, pre-suppression estimates; they stay in data/processed/ and only reach
reports/ through :mod:`pipeline.export`, which applies disclosure control.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from . import io

Z = 1.959963984540054
LEVELS = ("buurt", "wijk", "gemeente", "region")
PARENT_LEVEL = {"buurt": "gemeente", "wijk": "gemeente", "gemeente": "region", "region": None}
PROPORTIONS = ("outflow", "p_child_poor_parents_not_poor", "inflow", "outflow_lt", "p_child_poor_parents_not_poor_lt",
               "inflow_lt", "outflow_3gen", "p_q1_q1", "p_q5_q1")
REGRESSIONS = ("abs_mobility_p25", "rank_slope", "kk_p25")


# --------------------------------------------------------------------------- estimators

def wilson(k, n, *, z: float = Z) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval for k successes out of n (NaN where n == 0)."""
    k = np.asarray(k, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low, high = centre - half, centre + half
    bad = n <= 0
    return np.where(bad, np.nan, np.clip(low, 0, 1)), np.where(bad, np.nan, np.clip(high, 0, 1))


def proportion_se(k, n) -> np.ndarray:
    """Standard error for shrinkage, with p~ = (k + 1) / (n + 2) so that 0 and 1 get a finite error."""
    k = np.asarray(k, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        pt = (k + 1) / (n + 2)
        return np.where(n > 0, np.sqrt(pt * (1 - pt) / n), np.nan)


def ols_hc1(group: pd.Series, x: pd.Series, y: pd.Series, *, at: float = 0.25) -> pd.DataFrame:
    """Per group the OLS fit y = a + b x with HC1 standard errors.

    Returns, indexed by group: ``n``, ``slope``, ``slope_se``, ``pred`` (a + at*b) and ``pred_se``.
    Groups with fewer than 3 points or no variation in x get NaN estimates.
    """
    d = pd.DataFrame({"g": group.to_numpy(), "x": x.to_numpy(dtype="float64"), "y": y.to_numpy(dtype="float64")})
    d = d.dropna()
    if d.empty:
        return pd.DataFrame(columns=["n", "slope", "slope_se", "pred", "pred_se"], dtype="float64")
    d["xx"], d["xy"] = d["x"] ** 2, d["x"] * d["y"]
    s = d.groupby("g", sort=False)[["x", "y", "xx", "xy"]].sum()
    n = d.groupby("g", sort=False).size().astype("float64")
    sxx = s["xx"] - s["x"] ** 2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (s["xy"] - s["x"] * s["y"] / n) / sxx
        a = (s["y"] - b * s["x"]) / n
    e = d["y"] - d["g"].map(a) - d["g"].map(b) * d["x"]
    d["e2"], d["e2x"], d["e2xx"] = e**2, e**2 * d["x"], e**2 * d["xx"]
    m = d.groupby("g", sort=False)[["e2", "e2x", "e2xx"]].sum()
    # (X'X)^-1 for X = [1, x]: 1/det * [[Sxx, -Sx], [-Sx, n]]
    det = n * s["xx"] - s["x"] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        i00, i01, i11 = s["xx"] / det, -s["x"] / det, n / det
        # V = c * B M B with M = [[e2, e2x], [e2x, e2xx]], c = n / (n - 2) (HC1)
        m00, m01, m11 = m["e2"], m["e2x"], m["e2xx"]
        bm00, bm01 = i00 * m00 + i01 * m01, i00 * m01 + i01 * m11
        bm10, bm11 = i01 * m00 + i11 * m01, i01 * m01 + i11 * m11
        v00 = bm00 * i00 + bm01 * i01
        v01 = bm00 * i01 + bm01 * i11
        v11 = bm10 * i01 + bm11 * i11
        c = n / (n - 2)
        v00, v01, v11 = c * v00, c * v01, c * v11
        pred_var = v00 + 2 * at * v01 + at**2 * v11
    ok = (n >= 3) & (sxx > 1e-12)
    out = pd.DataFrame({"n": n, "slope": b.where(ok), "slope_se": np.sqrt(v11.clip(lower=0)).where(ok),
                        "pred": (a + at * b).where(ok), "pred_se": np.sqrt(pred_var.clip(lower=0)).where(ok)})
    return out


def empirical_bayes(theta: pd.Series, se: pd.Series, parent: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Shrink each estimate towards the precision-weighted mean of its parent area (§9).

    Within each parent group: mu = sum(w theta) / sum(w) with w = 1/se^2; signal variance
    sigma2 = max(0, sum(w (theta - mu)^2) / sum(w) - mean(se^2)); reliability r = sigma2 /
    (sigma2 + se^2); shrunk = mu + r (theta - mu). Estimates without a finite positive se are
    left out (NaN).
    """
    d = pd.DataFrame({"t": theta.astype("float64"), "s": se.astype("float64"), "p": parent})
    ok = d["t"].notna() & np.isfinite(d["s"]) & (d["s"] > 0) & d["p"].notna()
    d = d[ok]
    shrunk = pd.Series(np.nan, index=theta.index)
    rel = pd.Series(np.nan, index=theta.index)
    if d.empty:
        return shrunk, rel
    d["w"] = 1 / d["s"] ** 2
    d["wt"] = d["w"] * d["t"]
    g = d.groupby("p", sort=False)
    mu = g["wt"].sum() / g["w"].sum()
    d["mu"] = d["p"].map(mu)
    d["wdev"] = d["w"] * (d["t"] - d["mu"]) ** 2
    d["s2"] = d["s"] ** 2
    g = d.groupby("p", sort=False)
    sigma2 = (g["wdev"].sum() / g["w"].sum() - g["s2"].mean()).clip(lower=0)
    d["sigma2"] = d["p"].map(sigma2)
    r = d["sigma2"] / (d["sigma2"] + d["s2"])
    shrunk[d.index] = d["mu"] + r * (d["t"] - d["mu"])
    rel[d.index] = r
    return shrunk, rel


# --------------------------------------------------------------------------- per area

def _prop(out: pd.DataFrame, name: str, k: pd.Series, n: pd.Series) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        out[name] = (k / n).where(n > 0)
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = wilson(k, n)
    out[f"_{name}_se"] = proportion_se(k, n)
    out[f"_{name}_k"] = k
    out[f"_{name}_n"] = n


def _two_by_two(out: pd.DataFrame, k: pd.DataFrame, *, parents: str, child: str, sfx: str) -> None:
    """Counts, outflow, the non-poor rate, risk ratio and inflow of one 2x2 table (parents x child)."""
    pp = k[parents].astype(bool)
    cp = k[child].astype(bool)
    area = k["_area"]
    out[f"n_parents_poor{sfx}"] = pp.groupby(area).sum().reindex(out.index, fill_value=0).astype("int64")
    out[f"n_child_poor{sfx}"] = cp.groupby(area).sum().reindex(out.index, fill_value=0).astype("int64")
    out[f"n_both_poor{sfx}"] = (pp & cp).groupby(area).sum().reindex(out.index, fill_value=0).astype("int64")
    a = out[f"n_both_poor{sfx}"]
    n_np = out["n_children"] - out[f"n_parents_poor{sfx}"]
    k_np = out[f"n_child_poor{sfx}"] - a
    _prop(out, f"outflow{sfx}", a, out[f"n_parents_poor{sfx}"])
    _prop(out, f"p_child_poor_parents_not_poor{sfx}", k_np, n_np)
    rr = f"risk_ratio{sfx}"
    with np.errstate(invalid="ignore", divide="ignore"):
        out[rr] = out[f"outflow{sfx}"] / out[f"p_child_poor_parents_not_poor{sfx}"]
        # Katz log interval; undefined when either numerator is 0.
        af, n1, cf, n0 = (a.astype(float), out[f"n_parents_poor{sfx}"].astype(float), k_np.astype(float),
                          n_np.astype(float))
        se_log = np.sqrt(1 / af - 1 / n1 + 1 / cf - 1 / n0)
        ok = (af > 0) & (cf > 0) & np.isfinite(out[rr])
        out[f"{rr}_ci_low"] = np.exp(np.log(out[rr]) - Z * se_log).where(ok)
        out[f"{rr}_ci_high"] = np.exp(np.log(out[rr]) + Z * se_log).where(ok)
    out[rr] = out[rr].where(np.isfinite(out[rr]))
    _prop(out, f"inflow{sfx}", a, out[f"n_child_poor{sfx}"])


def area_measures(kids: pd.DataFrame, *, area: pd.Series) -> pd.DataFrame:
    """All §7 measures per value of ``area`` (aligned with ``kids``), with Wilson/HC1 intervals.

    ``kids`` needs boolean ``parents_poor`` and ``child_poor`` and float ``parent_rank`` and
    ``child_rank``; only children with both statuses count. With ``parents_lt_poor`` and
    ``child_lt_poor`` the long-term variants (suffix ``_lt``) follow; with ``grandparents_poor``
    the three-generation rate. Helper columns starting with "_" (standard errors, numerators,
    denominators, regression n) feed shrinkage and disclosure.
    """
    k = kids.assign(_area=area.to_numpy())
    k = k[k["_area"].notna() & k["parents_poor"].notna() & k["child_poor"].notna()]
    out = pd.DataFrame({"n_children": k.groupby("_area", sort=True).size()}).astype("int64")
    _two_by_two(out, k, parents="parents_poor", child="child_poor", sfx="")
    if {"parents_lt_poor", "child_lt_poor"} <= set(k.columns):
        lt = k[k["parents_lt_poor"].notna() & k["child_lt_poor"].notna()]
        _two_by_two(out, lt, parents="parents_lt_poor", child="child_lt_poor", sfx="_lt")
    if "grandparents_poor" in k.columns:
        three = k[k["parents_poor"].astype(bool) & k["grandparents_poor"].fillna(False).astype(bool)]
        n3 = three.groupby("_area").size().reindex(out.index, fill_value=0)
        k3 = three["child_poor"].astype(bool).groupby(three["_area"]).sum().reindex(out.index, fill_value=0)
        _prop(out, "outflow_3gen", k3, n3)

    r = k[k["parent_rank"].notna() & k["child_rank"].notna()]
    full = ols_hc1(r["_area"], r["parent_rank"], r["child_rank"]).reindex(out.index)
    band = r[r["parent_rank"].between(0.15, 0.35)]
    kk = ols_hc1(band["_area"], band["parent_rank"], band["child_rank"]).reindex(out.index)
    for name, est, se, n in (("abs_mobility_p25", full["pred"], full["pred_se"], full["n"]),
                             ("rank_slope", full["slope"], full["slope_se"], full["n"]),
                             ("kk_p25", kk["pred"], kk["pred_se"], kk["n"])):
        out[name] = est
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = est - Z * se, est + Z * se
        out[f"_{name}_se"] = se
        out[f"_{name}_n"] = n.fillna(0).astype("int64")

    q1 = r["parent_rank"] <= 0.2
    rq = r[q1]
    n_q1 = rq.groupby("_area").size().reindex(out.index, fill_value=0)
    k11 = (rq["child_rank"] <= 0.2).groupby(rq["_area"]).sum().reindex(out.index, fill_value=0)
    k51 = (rq["child_rank"] > 0.8).groupby(rq["_area"]).sum().reindex(out.index, fill_value=0)
    _prop(out, "p_q1_q1", k11, n_q1)
    _prop(out, "p_q5_q1", k51, n_q1)
    out.index.name = "area_code"
    return out.reset_index()


def shrink(table: pd.DataFrame, *, parent: pd.Series) -> pd.DataFrame:
    """Add ``_eb`` and ``_reliability`` for every proportion and regression estimate."""
    out = table.copy()
    for name in PROPORTIONS + REGRESSIONS:
        if name in out.columns:
            out[f"{name}_eb"], out[f"{name}_reliability"] = empirical_bayes(out[name], out[f"_{name}_se"], parent)
    return out


# Breakdowns the anchors publish: extra rows with a ``group`` column, "name=label".
BREAKDOWNS = {
    "geslacht": ("geslacht", {"1": "man", "2": "vrouw"}),
    "huishouden": ("two_parent", {True: "tweeouder", False: "eenouder"}),
    "herkomst": ("generatie", {"0": "Nederland", "1": "eerste generatie", "2": "tweede generatie"}),
}
TOTAL = "totaal"


def group_labels(kids: pd.DataFrame) -> dict[str, pd.Series]:
    """Per breakdown the label of each child ("onbekend" where the register does not say)."""
    out = {}
    for name, (col, labels) in BREAKDOWNS.items():
        if col not in kids.columns:
            continue
        v = kids[col].astype(object)
        out[name] = v.map(lambda x: labels.get(x, "onbekend") if pd.notna(x) else "onbekend").astype(object)
    return out


def all_levels(kids: pd.DataFrame, *, region_name: str, breakdowns: bool = True) -> dict[str, pd.DataFrame]:
    """Measures with shrinkage for buurt, wijk, gemeente and the region (one row), and, with
    ``breakdowns``, for every (level, breakdown) as tables keyed "level|breakdown".

    Each table has ``key`` (area code, or "code|breakdown=label" for group rows), ``area_code``, ``level``
    and ``group`` ("totaal" or "breakdown=label"). Group rows shrink towards the same group in the
    parent area.
    """
    kids = kids.assign(region=region_name)
    labels = group_labels(kids) if breakdowns else {}
    out = {}
    for level in LEVELS:
        parent_level = PARENT_LEVEL[level]
        variants = [(level, kids[level], TOTAL, None)]
        for name, lab in labels.items():
            variants.append((f"{level}|{name}", kids[level] + "|" + name + "=" + lab, name, lab))
        for key, area, group, lab in variants:
            t = area_measures(kids, area=area)
            t = t.rename(columns={"area_code": "key"})
            t.insert(1, "area_code", t["key"].str.split("|").str[0])
            t.insert(2, "level", level)
            t.insert(3, "group", TOTAL if lab is None else t["key"].str.split("|").str[1])
            if parent_level:
                lookup = kids.drop_duplicates(level).set_index(level)[parent_level]
                parent = t["area_code"].map(lookup)
                if lab is not None:
                    parent = parent + "|" + t["key"].str.split("|").str[1]
                t = shrink(t, parent=parent)
            else:
                for name in PROPORTIONS + REGRESSIONS:
                    if name in t.columns:
                        t[f"{name}_eb"], t[f"{name}_reliability"] = np.nan, np.nan
            out[key] = t
        io.log.info("%s: %d areas with children, %d children", level, len(out[level]),
                    int(out[level]["n_children"].sum()))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline measures", description=__doc__)
    ap.add_argument("--statuses", required=True)
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--out-dir", required=True, help="writes measures_{level}.parquet (groups included)")
    a = ap.parse_args(argv)
    io.setup_logging("measures")
    kids = io.read_parquet(a.statuses)
    tables = all_levels(kids, region_name=a.region_name)
    for level in LEVELS:
        t = pd.concat([tables[k] for k in tables if k.split("|")[0] == level], ignore_index=True)
        io.write_parquet(t, f"{a.out_dir}/measures_{level}.parquet")
    return 0
