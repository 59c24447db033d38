"""Disclosure control (methodology §10): primary thresholds, suppression against recovery by
subtraction within an area's 2x2 table and between nested areas, and optional rounding.

Pure functions on the internal measure tables; :mod:`pipeline.export` applies them and writes.

The 2x2 table of an area has cells a = both poor, b = parents poor / child not, c = child poor /
parents not, d = neither. Each released statistic reveals linear combinations of those cells
(a rate is treated as revealing its numerator and complement, as it does once its denominator is
known). A row may not reveal any combination of cells below the threshold, nor a count that was
withheld to protect another area: that is checked exactly with the span of the released equations.
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .measures import PROPORTIONS, REGRESSIONS

COUNTS = ("n_children", "n_parents_poor", "n_child_poor", "n_both_poor",
          "n_parents_poor_lt", "n_child_poor_lt", "n_both_poor_lt")
# Release priority: the headline first, so that secondary suppression withholds the least useful.
POVERTY_STATS = ("n_children", "outflow", "n_parents_poor", "p_child_poor_parents_not_poor", "risk_ratio",
                 "n_child_poor", "inflow", "n_both_poor")
_A, _B, _C, _D = np.eye(4, dtype=int)
EQUATIONS = {
    "n_children": [_A + _B + _C + _D],
    "n_parents_poor": [_A + _B],
    "n_child_poor": [_A + _C],
    "n_both_poor": [_A],
    "outflow": [_A, _B],
    "p_child_poor_parents_not_poor": [_C, _D],
    "inflow": [_A, _C],
    "risk_ratio": [_A, _B, _C, _D],
}
COUNT_VECTOR = {"n_children": _A + _B + _C + _D, "n_parents_poor": _A + _B, "n_child_poor": _A + _C,
                "n_both_poor": _A}
COMBINATIONS = [np.array(v) for v in itertools.product((0, 1), repeat=4) if any(v)]
SUFFIXES = ("_ci_low", "_ci_high", "_eb", "_reliability")


@dataclass(frozen=True)
class Thresholds:
    min_n: int = 10
    min_events: int = 10
    min_df: int = 10
    round_counts_to: int | None = None


@lru_cache(maxsize=None)
def _reveals(stats: tuple[str, ...], protected: tuple[tuple[int, ...], ...]) -> bool:
    """Whether the equations of ``stats`` determine any of the ``protected`` cell combinations."""
    if not stats or not protected:
        return False
    m = np.vstack([v for s in stats for v in EQUATIONS[s]]).astype(float)
    r = np.linalg.matrix_rank(m)
    return any(np.linalg.matrix_rank(np.vstack([m, np.array(v, dtype=float)])) == r for v in protected)


def cells(row: pd.Series, sfx: str = "") -> np.ndarray:
    a = row[f"n_both_poor{sfx}"]
    b = row[f"n_parents_poor{sfx}"] - a
    c = row[f"n_child_poor{sfx}"] - a
    d = row["n_children"] - row[f"n_parents_poor{sfx}"] - c
    return np.array([a, b, c, d], dtype=float)


def primary_reason(row: pd.Series, stat: str, th: Thresholds, sfx: str = "") -> str | None:
    """Why the primary rule withholds ``stat`` (a base name) in this row, or None when it passes."""
    n = row["n_children"]
    if n < th.min_n:
        return f"n_children < {th.min_n}"
    if stat == "n_children":
        return None
    a, b, c, d = cells(row, sfx)
    need = {  # numerator and complement of the statistic
        "n_parents_poor": (a + b, c + d), "n_child_poor": (a + c, b + d), "n_both_poor": (a, b + c + d),
        "outflow": (a, b), "p_child_poor_parents_not_poor": (c, d), "inflow": (a, c),
        "risk_ratio": (min(a, c), min(b, d)),
    }[stat]
    if min(need) < th.min_events:
        return f"numerator or complement < {th.min_events}"
    return None


def _release_2x2(row: pd.Series, th: Thresholds, *, sfx: str, protect: set[str],
                 n_released: bool) -> dict[str, str | None]:
    x = cells(row, sfx)
    # Any combination of cells below the threshold (zero included: "none of them" discloses too).
    protected = [tuple(v) for v in COMBINATIONS if float(v @ x) < th.min_events]
    protected += [tuple(COUNT_VECTOR[c]) for c in COUNT_VECTOR if c + sfx in protect]
    protected = tuple(sorted(set(protected)))
    accepted: tuple[str, ...] = ("n_children",) if (sfx and n_released) else ()
    out: dict[str, str | None] = {}
    for stat in POVERTY_STATS:
        if sfx and stat == "n_children":
            continue
        name = stat + sfx
        if name in protect:
            out[name] = "secondary: withheld so a withheld area cannot be recovered by subtraction"
            continue
        reason = primary_reason(row, stat, th, sfx)
        if reason is None:
            trial = accepted + (stat,)
            if _reveals(trial, protected):
                reason = "secondary: would reveal a small cell by subtraction"
            else:
                accepted = trial
        out[name] = reason
    return out


def release_poverty_row(row: pd.Series, th: Thresholds, *, protect: set[str] = frozenset()) -> dict[str, str | None]:
    """Decide each poverty statistic of one area: None = released, else the reason it is withheld.

    Both 2x2 tables (poor and, where present, long-term poor ``_lt``) are checked; ``protect``
    names counts withheld in this row to stop recovery from nested areas or complementary groups;
    they must not be derivable from what the row releases.
    """
    out = _release_2x2(row, th, sfx="", protect=set(protect), n_released=False)
    if "n_both_poor_lt" in row.index:
        out.update(_release_2x2(row, th, sfx="_lt", protect=set(protect), n_released=out["n_children"] is None))
    if "outflow_3gen" in row.index:
        k, n = row["_outflow_3gen_k"], row["_outflow_3gen_n"]
        out["outflow_3gen"] = (out["n_children"] or
                               (None if min(k, n - k) >= th.min_events else f"numerator or complement < {th.min_events}"))
    return out


def rank_reasons(row: pd.Series, th: Thresholds) -> dict[str, str | None]:
    """Primary rules for the regression and quintile measures."""
    out: dict[str, str | None] = {}
    for name in REGRESSIONS:
        n = row.get(f"_{name}_n", 0)
        out[name] = None if n - 2 >= th.min_df and pd.notna(row[name]) else f"residual df < {th.min_df}"
    for name in ("p_q1_q1", "p_q5_q1"):
        if f"_{name}_k" not in row.index:
            continue
        k, n = row[f"_{name}_k"], row[f"_{name}_n"]
        out[name] = None if min(k, n - k) >= th.min_events else f"numerator or complement < {th.min_events}"
    return out


def decide(tables: dict[str, pd.DataFrame], *, ancestors: dict[str, pd.DataFrame], th: Thresholds,
           row_rule=None, counts: tuple[str, ...] = COUNTS, extra_rule=None,
           population: str = "n_children") -> dict[str, pd.DataFrame]:
    """Reasons per area (index area_code) and statistic: None where released.

    ``tables``: internal measures per table (a level, or a level's breakdown into groups) indexed
    by row key (all areas, zeros where no children). ``ancestors[name]``: per row of that table
    the key of the row it falls under in each other table (columns named after those tables),
    wherever the rows of ``name`` under one upper row partition that row's population: areas
    within a higher level, groups within their area's total, groups within the same group of a
    higher level. ``row_rule(row, th, protect=...)`` decides one
    row (default: the transmission table's 2x2 rule); ``extra_rule(row, th)`` adds statistics that
    take no part in the nested rule (default: the rank measures). ``population`` is the count that
    says whether an area holds anybody.

    Nested rule, for every count: for each released row and each partition of it there is never
    exactly one withheld part (areas without children hold nobody and do not count).
    Where there is one, the smallest released descendant is withheld too (or, with no other
    inhabited descendant, the total itself); this repeats until nothing changes.
    """
    row_rule = row_rule or release_poverty_row
    extra_rule = rank_reasons if extra_rule is None else extra_rule
    protect: dict[tuple[str, str], set[str]] = {}
    dec = {name: {code: row_rule(t.loc[code], th) for code in t.index} for name, t in tables.items()}
    # Every (upper table, lower table) pair whose lower rows partition the upper rows' population.
    members = {}
    for lower, anc in ancestors.items():
        for upper in anc.columns:
            if upper in tables:
                col = anc[upper]
                members[(upper, lower)] = {code: list(idx) for code, idx in col.groupby(col).groups.items()}

    def withhold(name: str, code: str, count: str) -> None:
        protect.setdefault((name, code), set()).add(count)
        dec[name][code] = row_rule(tables[name].loc[code], th, protect=protect[(name, code)])

    changed = True
    while changed:
        changed = False
        for count in counts:
            for (upper, lower), groups in members.items():
                if count not in tables[lower].columns or count not in tables[upper].columns:
                    continue
                inhabited = tables[lower][population] > 0
                for up_code, codes in groups.items():
                    if up_code not in dec[upper] or dec[upper][up_code][count] is not None:
                        continue
                    codes = [c for c in codes if inhabited.get(c, False)]
                    held = [c for c in codes if dec[lower][c][count] is not None]
                    if len(held) != 1:
                        continue
                    free = [c for c in codes if dec[lower][c][count] is None]
                    if free:
                        smallest = min(free, key=lambda c: (float(tables[lower].at[c, count]), c))
                        withhold(lower, smallest, count)
                    else:
                        withhold(upper, up_code, count)
                    changed = True
    out = {}
    for lvl, t in tables.items():
        main = pd.DataFrame.from_dict(dec[lvl], orient="index").reindex(t.index)
        extra = pd.DataFrame.from_dict({code: extra_rule(t.loc[code], th) for code in t.index}, orient="index")
        both = pd.concat([main, extra.reindex(t.index)], axis=1) if len(extra.columns) else main
        out[lvl] = both.astype(object).where(both.notna(), None)
    return out


def round_half_up(x: pd.Series, base: int) -> pd.Series:
    return (np.floor(x.astype(float) / base + 0.5) * base).astype("Int64")


def apply(table: pd.DataFrame, reasons: pd.DataFrame, *, th: Thresholds, counts: tuple[str, ...] = COUNTS,
          rates: tuple[str, ...] = PROPORTIONS + ("risk_ratio", "risk_ratio_lt")) -> pd.DataFrame:
    """Blank every withheld value and everything derived from it; add the ``suppressed`` column.

    With rounding, counts go to the nearest multiple and rates (not ranks) to two decimals.
    """
    out = table.copy()
    for stat in reasons.columns:
        withheld = reasons[stat].reindex(out.index).notna()
        cols = [stat] + [stat + s for s in SUFFIXES if stat + s in out.columns]
        for c in cols:
            out[c] = out[c].astype(float).where(~withheld) if stat not in counts else \
                out[c].astype("Int64").where(~withheld)
    if th.round_counts_to:
        for c in counts:
            if c in out.columns:
                out[c] = round_half_up(out[c], th.round_counts_to)
        for name in rates:
            for c in [name + s for s in ("",) + SUFFIXES if name + s in out.columns]:
                if not c.endswith("_reliability"):
                    out[c] = out[c].round(2)
    text = reasons.reindex(out.index).apply(
        lambda r: "; ".join(f"{k}: {v}" for k, v in r.items() if isinstance(v, str)), axis=1)
    out["suppressed"] = text.fillna("")
    return out
