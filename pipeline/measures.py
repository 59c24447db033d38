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
PROPORTIONS = ("outflow", "p_child_poor_parents_not_poor", "inflow", "p_q1_q1", "p_q5_q1")
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


def area_measures(kids: pd.DataFrame, *, area: pd.Series) -> pd.DataFrame:
    """All §7 measures per value of ``area`` (aligned with ``kids``), with Wilson/HC1 intervals.

    ``kids`` needs boolean ``parents_poor`` and ``child_poor`` and float ``parent_rank`` and
    ``child_rank``; only children with both statuses count. Helper columns starting with "_"
    (standard errors, numerators, denominators, regression n) feed shrinkage and disclosure.
    """
    k = kids.assign(_area=area.to_numpy())
    k = k[k["parents_poor"].notna() & k["child_poor"].notna()]
    pp = k["parents_poor"].astype(bool)
    cp = k["child_poor"].astype(bool)
    g = k.groupby("_area", sort=True)
    out = pd.DataFrame({
        "n_children": g.size(),
        "n_parents_poor": pp.groupby(k["_area"]).sum(),
        "n_child_poor": cp.groupby(k["_area"]).sum(),
        "n_both_poor": (pp & cp).groupby(k["_area"]).sum(),
    }).astype("int64")
    n_np = out["n_children"] - out["n_parents_poor"]
    k_np = out["n_child_poor"] - out["n_both_poor"]
    _prop(out, "outflow", out["n_both_poor"], out["n_parents_poor"])
    _prop(out, "p_child_poor_parents_not_poor", k_np, n_np)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["risk_ratio"] = out["outflow"] / out["p_child_poor_parents_not_poor"]
        # Katz log interval; undefined when either numerator is 0.
        a, n1, c, n0 = (out["n_both_poor"].astype(float), out["n_parents_poor"].astype(float),
                        k_np.astype(float), n_np.astype(float))
        se_log = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
        okrr = (a > 0) & (c > 0) & np.isfinite(out["risk_ratio"])
        out["risk_ratio_ci_low"] = np.exp(np.log(out["risk_ratio"]) - Z * se_log).where(okrr)
        out["risk_ratio_ci_high"] = np.exp(np.log(out["risk_ratio"]) + Z * se_log).where(okrr)
    out["risk_ratio"] = out["risk_ratio"].where(np.isfinite(out["risk_ratio"]))
    _prop(out, "inflow", out["n_both_poor"], out["n_child_poor"])

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
        out[f"{name}_eb"], out[f"{name}_reliability"] = empirical_bayes(out[name], out[f"_{name}_se"], parent)
    return out


def all_levels(kids: pd.DataFrame, *, region_name: str) -> dict[str, pd.DataFrame]:
    """Measures with shrinkage for buurt, wijk, gemeente and the region (one row)."""
    kids = kids.assign(region=region_name)
    out = {}
    for level in LEVELS:
        t = area_measures(kids, area=kids[level])
        parent_level = PARENT_LEVEL[level]
        if parent_level:
            lookup = kids.drop_duplicates(level).set_index(level)[parent_level]
            t = shrink(t, parent=t["area_code"].map(lookup))
        else:
            for name in PROPORTIONS + REGRESSIONS:
                t[f"{name}_eb"], t[f"{name}_reliability"] = np.nan, np.nan
        t.insert(1, "level", level)
        out[level] = t
        io.log.info("%s: %d areas with children, %d children", level, len(t), int(t["n_children"].sum()))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline measures", description=__doc__)
    ap.add_argument("--statuses", required=True)
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--out-dir", required=True, help="writes measures_{level}.parquet")
    a = ap.parse_args(argv)
    io.setup_logging("measures")
    kids = io.read_parquet(a.statuses)
    for level, t in all_levels(kids, region_name=a.region_name).items():
        io.write_parquet(t, f"{a.out_dir}/measures_{level}.parquet")
    return 0
