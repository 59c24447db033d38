"""Measures per area of upbringing (methodology §7) with intervals and empirical Bayes (§9).

These are the internal, pre-suppression estimates; they stay in data/processed/ and only reach
reports/ through :mod:`pipeline.export`, which applies disclosure control.
"""
from __future__ import annotations

import argparse
from typing import NamedTuple

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


def _group_reduce(codes: np.ndarray, m: int, values: np.ndarray, *, how: str = "sum") -> np.ndarray:
    """Per group 0..m-1 (``codes``) the sum or mean of each column of ``values``; 0 (sum) or NaN
    (mean) for groups without rows.

    pandas' groupby does the work, so the sums are its compensated (Kahan) sums in row order, bit
    for bit those of a groupby over the same rows by any key. Pass only the rows that count: rows
    left in as NaN are skipped but change the compensated sums in the last bit.
    """
    if m == 0:
        return np.zeros((0, values.shape[1]))
    groups = pd.Categorical.from_codes(codes, categories=pd.RangeIndex(m))
    g = pd.DataFrame(values).groupby(groups, observed=False)
    return (g.sum() if how == "sum" else g.mean()).to_numpy(dtype="float64")


def _take(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``table[codes]`` where ``codes`` >= 0, else -1."""
    out = np.full(len(codes), -1, dtype="int64")
    has = codes >= 0
    out[has] = table[codes[has]]
    return out


def _clip0(v: np.ndarray) -> np.ndarray:
    """``v`` with negative values set to 0, as ``Series.clip(lower=0)`` does (NaN stays)."""
    return np.where(v < 0, 0.0, v)


def _ols(codes: np.ndarray, m: int, x: np.ndarray, y: np.ndarray, *,
         at: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`ols_hc1` on group codes 0..m-1 (no NaN in ``codes``, ``x``, ``y``): per group the
    number of points (int64) and ``slope``, ``slope_se``, ``pred``, ``pred_se`` (NaN for groups
    with fewer than 3 points or no variation in x)."""
    count = np.bincount(codes, minlength=m)
    n = count.astype("float64")
    xx, xy = x**2, x * y
    sx, sy, sxx_, sxy = _group_reduce(codes, m, np.column_stack([x, y, xx, xy])).T
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = sxx_ - sx**2 / n
        b = (sxy - sx * sy / n) / sxx
        a = (sy - b * sx) / n
        e = y - a[codes] - b[codes] * x
        m00, m01, m11 = _group_reduce(codes, m, np.column_stack([e**2, e**2 * x, e**2 * xx])).T
        # (X'X)^-1 for X = [1, x]: 1/det * [[Sxx, -Sx], [-Sx, n]]
        det = n * sxx_ - sx**2
        i00, i01, i11 = sxx_ / det, -sx / det, n / det
        # V = c * B M B with M = [[e2, e2x], [e2x, e2xx]], c = n / (n - 2) (HC1)
        bm00, bm01 = i00 * m00 + i01 * m01, i00 * m01 + i01 * m11
        bm10, bm11 = i01 * m00 + i11 * m01, i01 * m01 + i11 * m11
        v00 = bm00 * i00 + bm01 * i01
        v01 = bm00 * i01 + bm01 * i11
        v11 = bm10 * i01 + bm11 * i11
        c = n / (n - 2)
        v00, v01, v11 = c * v00, c * v01, c * v11
        pred_var = v00 + 2 * at * v01 + at**2 * v11
        ok = (n >= 3) & (sxx > 1e-12)
        return (count, np.where(ok, b, np.nan), np.where(ok, np.sqrt(_clip0(v11)), np.nan),
                np.where(ok, a + at * b, np.nan), np.where(ok, np.sqrt(_clip0(pred_var)), np.nan))


def ols_hc1(group: pd.Series, x: pd.Series, y: pd.Series, *, at: float = 0.25) -> pd.DataFrame:
    """Per group the OLS fit y = a + b x with HC1 standard errors.

    Returns, indexed by group (in order of first appearance): ``n``, ``slope``, ``slope_se``,
    ``pred`` (a + at*b) and ``pred_se``. Groups with fewer than 3 points or no variation in x get
    NaN estimates.
    """
    d = pd.DataFrame({"g": group.to_numpy(), "x": x.to_numpy(dtype="float64"), "y": y.to_numpy(dtype="float64")})
    d = d.dropna()
    if d.empty:
        return pd.DataFrame(columns=["n", "slope", "slope_se", "pred", "pred_se"], dtype="float64")
    codes, groups = pd.factorize(d["g"])
    count, slope, slope_se, pred, pred_se = _ols(codes, len(groups), d["x"].to_numpy(), d["y"].to_numpy(), at=at)
    return pd.DataFrame({"n": count.astype("float64"), "slope": slope, "slope_se": slope_se, "pred": pred,
                         "pred_se": pred_se}, index=pd.Index(groups, name="g"))


def _shrink_many(theta: np.ndarray, se: np.ndarray, parent: np.ndarray,
                 n_parents: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`empirical_bayes` for the columns of ``theta`` and ``se`` (rows x estimates) at once;
    ``parent`` holds each row's parent as a code 0..n_parents-1 (-1: none). Returns the shrunk
    estimates and the reliabilities, NaN where an estimate is left out.

    The estimates that count are stacked estimate by estimate, in row order, and grouped by
    (estimate, parent): each group sums exactly the values a per-estimate groupby would, in the
    same order (leaving the others in as NaN would change pandas' compensated sums in the last bit).
    """
    ok = ~np.isnan(theta) & np.isfinite(se) & (se > 0) & (parent >= 0)[:, None]
    shrunk, rel = np.full(theta.shape, np.nan), np.full(theta.shape, np.nan)
    j, i = np.nonzero(ok.T)
    group = j * n_parents + parent[i]
    m = theta.shape[1] * n_parents
    t, s = theta[i, j], se[i, j]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        w = 1 / s**2
        sw, swt = _group_reduce(group, m, np.column_stack([w, w * t])).T
        mu = (swt / sw)[group]
        s2 = s**2
        swdev = _group_reduce(group, m, (w * (t - mu) ** 2)[:, None])[:, 0]
        sigma2 = _clip0(swdev / sw - _group_reduce(group, m, s2[:, None], how="mean")[:, 0])[group]
        r = sigma2 / (sigma2 + s2)
        shrunk[i, j] = mu + r * (t - mu)
    rel[i, j] = r
    return shrunk, rel


def empirical_bayes(theta: pd.Series, se: pd.Series, parent: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Shrink each estimate towards the precision-weighted mean of its parent area (§9).

    Within each parent group: mu = sum(w theta) / sum(w) with w = 1/se^2; signal variance
    sigma2 = max(0, sum(w (theta - mu)^2) / sum(w) - mean(se^2)); reliability r = sigma2 /
    (sigma2 + se^2); shrunk = mu + r (theta - mu). Estimates without a finite positive se are
    left out (NaN).
    """
    d = pd.DataFrame({"t": theta.astype("float64"), "s": se.astype("float64"), "p": parent})
    codes, parents = pd.factorize(d["p"])
    shrunk, rel = _shrink_many(d[["t"]].to_numpy(dtype="float64"), d[["s"]].to_numpy(dtype="float64"), codes,
                               len(parents))
    return (pd.Series(shrunk[:, 0], index=d.index).reindex(theta.index),
            pd.Series(rel[:, 0], index=d.index).reindex(theta.index))


# --------------------------------------------------------------------------- per area

class _Children(NamedTuple):
    """The per-child inputs of :func:`area_measures` as NumPy arrays, worked out once for any
    number of groupings of the same children. Status flags are False where not counted."""
    valid: np.ndarray                  # both statuses known
    parents_poor: np.ndarray
    child_poor: np.ndarray
    lt_parents_poor: np.ndarray | None  # long-term statuses, among children with both known
    lt_child_poor: np.ndarray | None
    lt_valid: np.ndarray | None
    three: np.ndarray | None           # parents and grandparents poor
    ols: np.ndarray                    # both ranks known
    band: np.ndarray                   # ... and parent rank within 0.15-0.35
    x: np.ndarray                      # parent and child rank as float64 (NaN where not known)
    y: np.ndarray
    q1: np.ndarray                     # both ranks known and parent rank <= 0.2
    q1_q1: np.ndarray                  # ... and child rank <= 0.2
    q5_q1: np.ndarray                  # ... and child rank > 0.8


def _children(kids: pd.DataFrame) -> _Children:
    """The flags and ranks :func:`area_measures` counts and fits, for every child of ``kids``."""
    n = len(kids)

    def flag(col: str, rows: np.ndarray, f=lambda s: s.astype(bool)) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[rows] = f(kids[col][rows]).to_numpy(dtype=bool)
        return out

    valid = (kids["parents_poor"].notna() & kids["child_poor"].notna()).to_numpy(dtype=bool)
    pp, cp = flag("parents_poor", valid), flag("child_poor", valid)
    lt = ltp = ltc = three = None
    if {"parents_lt_poor", "child_lt_poor"} <= set(kids.columns):
        lt = valid & (kids["parents_lt_poor"].notna() & kids["child_lt_poor"].notna()).to_numpy(dtype=bool)
        ltp, ltc = flag("parents_lt_poor", lt), flag("child_lt_poor", lt)
    if "grandparents_poor" in kids.columns:
        three = pp & flag("grandparents_poor", valid, lambda s: s.fillna(False).astype(bool))
    reg = valid & (kids["parent_rank"].notna() & kids["child_rank"].notna()).to_numpy(dtype=bool)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    x[reg] = kids["parent_rank"][reg].to_numpy(dtype="float64")
    y[reg] = kids["child_rank"][reg].to_numpy(dtype="float64")
    ols = reg & ~np.isnan(x) & ~np.isnan(y)
    band = ols & flag("parent_rank", reg, lambda s: s.between(0.15, 0.35))
    q1 = flag("parent_rank", reg, lambda s: s <= 0.2)
    return _Children(valid, pp, cp, ltp, ltc, lt, three, ols, band, x, y, q1,
                     flag("child_rank", q1, lambda s: s <= 0.2), flag("child_rank", q1, lambda s: s > 0.8))


def _prop(out: dict[str, np.ndarray], name: str, k: np.ndarray, n: np.ndarray) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        out[name] = np.where(n > 0, k / n, np.nan)
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = wilson(k, n)
    out[f"_{name}_se"] = proportion_se(k, n)
    out[f"_{name}_k"] = k
    out[f"_{name}_n"] = n


def _two_by_two(out: dict[str, np.ndarray], *, n_parents_poor: np.ndarray, n_child_poor: np.ndarray,
                n_both_poor: np.ndarray, sfx: str) -> None:
    """Counts, outflow, the non-poor rate, risk ratio and inflow of one 2x2 table (parents x child);
    the non-poor parents are all children (``out["n_children"]``) less the poor ones."""
    out[f"n_parents_poor{sfx}"] = n_parents_poor
    out[f"n_child_poor{sfx}"] = n_child_poor
    out[f"n_both_poor{sfx}"] = a = n_both_poor
    n_np = out["n_children"] - n_parents_poor
    k_np = n_child_poor - a
    _prop(out, f"outflow{sfx}", a, n_parents_poor)
    _prop(out, f"p_child_poor_parents_not_poor{sfx}", k_np, n_np)
    rr = f"risk_ratio{sfx}"
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = out[f"outflow{sfx}"] / out[f"p_child_poor_parents_not_poor{sfx}"]
        # Katz log interval; undefined when either numerator is 0.
        af, n1, cf, n0 = a.astype(float), n_parents_poor.astype(float), k_np.astype(float), n_np.astype(float)
        se_log = np.sqrt(1 / af - 1 / n1 + 1 / cf - 1 / n0)
        ok = (af > 0) & (cf > 0) & np.isfinite(ratio)
        out[rr] = np.where(np.isfinite(ratio), ratio, np.nan)
        out[f"{rr}_ci_low"] = np.where(ok, np.exp(np.log(ratio) - Z * se_log), np.nan)
        out[f"{rr}_ci_high"] = np.where(ok, np.exp(np.log(ratio) + Z * se_log), np.nan)
    _prop(out, f"inflow{sfx}", a, n_child_poor)


def _area_table(c: _Children, codes: np.ndarray, areas: pd.Index) -> pd.DataFrame:
    """:func:`area_measures` with each child's area as a code into ``areas`` (sorted; -1: none)."""
    base = c.valid & (codes >= 0)
    n_children = np.bincount(codes[base], minlength=len(areas))
    has = n_children > 0
    g = _take(np.cumsum(has) - 1, np.where(base, codes, -1))   # codes among the areas with children
    m = int(has.sum())

    def count(rows: np.ndarray) -> np.ndarray:      # rows: children with both statuses only
        return np.bincount(g[rows] + 1, minlength=m + 1)[1:]

    out = {"n_children": n_children[has]}
    _two_by_two(out, n_parents_poor=count(c.parents_poor), n_child_poor=count(c.child_poor),
                n_both_poor=count(c.parents_poor & c.child_poor), sfx="")
    if c.lt_valid is not None:
        _two_by_two(out, n_parents_poor=count(c.lt_parents_poor), n_child_poor=count(c.lt_child_poor),
                    n_both_poor=count(c.lt_parents_poor & c.lt_child_poor), sfx="_lt")
    if c.three is not None:
        _prop(out, "outflow_3gen", count(c.three & c.child_poor), count(c.three))
    # Both fits in one: groups 0..m-1 all children with ranks, m..2m-1 those in the band.
    full, band = c.ols & base, c.band & base
    fits = _ols(np.concatenate([g[full], g[band] + m]), 2 * m, np.concatenate([c.x[full], c.x[band]]),
                np.concatenate([c.y[full], c.y[band]]))
    full, kk = [f[:m] for f in fits], [f[m:] for f in fits]
    for name, est, se, n in (("abs_mobility_p25", full[3], full[4], full[0]), ("rank_slope", full[1], full[2], full[0]),
                             ("kk_p25", kk[3], kk[4], kk[0])):
        out[name] = est
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = est - Z * se, est + Z * se
        out[f"_{name}_se"] = se
        out[f"_{name}_n"] = n
    n_q1 = count(c.q1)
    _prop(out, "p_q1_q1", count(c.q1_q1), n_q1)
    _prop(out, "p_q5_q1", count(c.q5_q1), n_q1)
    return pd.DataFrame(out, index=areas[has].rename("area_code")).reset_index()


def area_measures(kids: pd.DataFrame, *, area: pd.Series) -> pd.DataFrame:
    """All §7 measures per value of ``area`` (aligned with ``kids``), with Wilson/HC1 intervals.

    ``kids`` needs boolean ``parents_poor`` and ``child_poor`` and float ``parent_rank`` and
    ``child_rank``; only children with both statuses count. With ``parents_lt_poor`` and
    ``child_lt_poor`` the long-term variants (suffix ``_lt``) follow; with ``grandparents_poor``
    the three-generation rate. Helper columns starting with "_" (standard errors, numerators,
    denominators, regression n) feed shrinkage and disclosure.
    """
    codes, areas = pd.factorize(pd.Series(area.to_numpy()), sort=True)
    return _area_table(_children(kids), codes, areas)


def shrink(table: pd.DataFrame, *, parent: pd.Series) -> pd.DataFrame:
    """Add ``_eb`` and ``_reliability`` for every proportion and regression estimate."""
    names = [name for name in PROPORTIONS + REGRESSIONS if name in table.columns]
    codes, parents = pd.factorize(parent if parent.index.equals(table.index) else parent.reindex(table.index))
    shrunk, rel = _shrink_many(table[names].to_numpy(dtype="float64"),
                               table[[f"_{name}_se" for name in names]].to_numpy(dtype="float64"), codes, len(parents))
    new = {}
    for i, name in enumerate(names):
        new[f"{name}_eb"], new[f"{name}_reliability"] = shrunk[:, i], rel[:, i]
    return _with_columns(table, new)


def _with_columns(table: pd.DataFrame, new: dict) -> pd.DataFrame:
    """``table.assign(**new)``, in one concatenation when the columns are all new."""
    if any(c in table.columns for c in new):
        return table.assign(**new)
    return pd.concat([table, pd.DataFrame(new, index=table.index)], axis=1)


# Breakdowns the anchors publish: extra rows with a ``group`` column, "name=label".
BREAKDOWNS = {
    "geslacht": ("geslacht", {"1": "man", "2": "vrouw"}),
    "huishouden": ("two_parent", {True: "tweeouder", False: "eenouder"}),
    "herkomst": ("generatie", {"0": "Nederland", "1": "eerste generatie", "2": "tweede generatie"}),
}
TOTAL = "totaal"


def _label_codes(kids: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per breakdown each child's label as a code into an array of labels ("onbekend" where the
    register does not say)."""
    out = {}
    for name, (col, labels) in BREAKDOWNS.items():
        if col not in kids.columns:
            continue
        codes, values = pd.factorize(kids[col].astype(object))     # -1: missing
        names = [labels.get(x, "onbekend") if pd.notna(x) else "onbekend" for x in values] + ["onbekend"]
        label_codes, label_names = pd.factorize(np.array(names, dtype=object))
        out[name] = (label_codes[codes], np.asarray(label_names, dtype=object))
    return out


def all_levels(kids: pd.DataFrame, *, region_name: str, breakdowns: bool = True) -> dict[str, pd.DataFrame]:
    """Measures with shrinkage for buurt, wijk, gemeente and the region (one row), and, with
    ``breakdowns``, for every (level, breakdown) as tables keyed "level|breakdown".

    Each table has ``key`` (area code, or "code|breakdown=label" for group rows), ``area_code``, ``level``
    and ``group`` ("totaal" or "breakdown=label"). Group rows shrink towards the same group in the
    parent area.

    The children's flags are worked out once and each area code and label is coded once; the key
    strings are built for the groups only, not per child.
    """
    kids = kids.assign(region=region_name)
    children = _children(kids)
    labels = _label_codes(kids) if breakdowns else {}
    out = {}
    for level in LEVELS:
        parent_level = PARENT_LEVEL[level]
        area_codes, areas = pd.factorize(kids[level])            # -1: no area
        areas = np.asarray(areas, dtype=object)
        lookup = (kids[[level, parent_level]].drop_duplicates(level).set_index(level)[parent_level]
                  if parent_level else None)
        variants = [(level, area_codes, areas)]
        for name, (label_codes, names) in labels.items():
            # (area, label) as one code; the key string "area|name=label" only for the pairs present
            both = np.where(area_codes >= 0, area_codes * len(names) + label_codes, -1)
            pairs = np.flatnonzero(np.bincount(both[both >= 0], minlength=len(areas) * len(names)))
            keys = np.array([areas[p // len(names)] + "|" + name + "=" + names[p % len(names)] for p in pairs],
                            dtype=object)
            index = np.full(len(areas) * len(names), -1)
            index[pairs] = np.arange(len(pairs))
            variants.append((f"{level}|{name}", _take(index, both), keys))
        for key, codes, strings in variants:
            rank, keys = pd.factorize(pd.Series(strings), sort=True)   # sorted keys, as groupby sorts them
            t = _area_table(children, _take(rank, codes), keys)
            t = t.rename(columns={"area_code": "key"})
            t.insert(1, "area_code", t["key"].str.split("|").str[0])
            t.insert(2, "level", level)
            t.insert(3, "group", TOTAL if key == level else t["key"].str.split("|").str[1])
            if parent_level:
                parent = t["area_code"].map(lookup)
                if key != level:
                    parent = parent + "|" + t["key"].str.split("|").str[1]
                t = shrink(t, parent=parent)
            else:
                t = _with_columns(t, {f"{name}{sfx}": np.nan for name in PROPORTIONS + REGRESSIONS
                                      if name in t.columns for sfx in ("_eb", "_reliability")})
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
