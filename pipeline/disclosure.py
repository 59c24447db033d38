"""Disclosure control (methodology §10): primary thresholds, suppression against recovery by
subtraction within an area's cells, between nested areas and complementary groups, and between
years of the young-adult series; optional rounding.

Pure functions on the internal measure tables; :mod:`pipeline.export` applies them and writes.

Within a row (an area, or a group of an area), the released statistics reveal linear combinations
of the row's *cells*: the finest partition of its population that the statistics describe. For
the transmission tables that is parents × child status, each none / poor / long-term poor (long-term
poor is a part of poor), with the parents-poor cells split by poor grandparents: 15 cells. For the
young adults it is own status (none / poor / long-term poor) × living away × father's and
mother's household (none counted / not poor / poor, only for those living away): 30 cells. A count
reveals its cells' sum; a rate is treated as revealing its numerator and denominator (as it does
with its interval). A row releases its statistics in order of importance only while no
combination of cells that the released statistics determine holds fewer than ``min_events``
persons (zero included), and no count withheld to protect another row becomes derivable: checked
exactly on the span of the released equations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .measures import PROPORTIONS, REGRESSIONS
from .young_adults import COUNTS as YA_COUNTS
from .young_adults import SHARES

COUNTS = ("n_children", "n_parents_poor", "n_child_poor", "n_both_poor",
          "n_parents_poor_lt", "n_child_poor_lt", "n_both_poor_lt")
# Release priority: the headline first, so that secondary suppression withholds the least useful.
POVERTY_STATS = ("n_children", "outflow", "n_parents_poor", "p_child_poor_parents_not_poor", "risk_ratio",
                 "n_child_poor", "inflow", "n_both_poor")
TRANSMISSION_ORDER = (POVERTY_STATS + tuple(s + "_lt" for s in POVERTY_STATS if s != "n_children")
                      + ("outflow_3gen",))
SUFFIXES = ("_ci_low", "_ci_high", "_eb", "_reliability")
SECONDARY_NESTED = "secondary: withheld so a withheld area cannot be recovered by subtraction"
SECONDARY_CELLS = "secondary: would reveal a small cell by subtraction"
SECONDARY_YEARS = "secondary: the difference with another year would isolate a small group"


@dataclass(frozen=True)
class Thresholds:
    min_n: int = 10
    min_events: int = 10
    min_df: int = 10
    round_counts_to: int | None = None

    @staticmethod
    def add_options(ap) -> None:
        """The threshold options of every step that releases numbers (argparse parser ``ap``)."""
        ap.add_argument("--min-n", type=int, default=10)
        ap.add_argument("--min-events", type=int, default=10)
        ap.add_argument("--min-df", type=int, default=10)
        ap.add_argument("--round-counts-to", type=int, default=0, help="0: no rounding")

    @classmethod
    def from_options(cls, a) -> "Thresholds":
        """The thresholds of parsed :meth:`add_options` options."""
        return cls(a.min_n, a.min_events, a.min_df, a.round_counts_to or None)


# --------------------------------------------------------------------------- cell models

@dataclass(frozen=True)
class CellModel:
    """The cells of a row's population and what each statistic reveals about them.

    ``vectors``: equation name -> 0/1 vector over the cells; ``terms``: equation name -> the row
    columns (with coefficients) that give its value; ``reveals``: statistic -> its equations.
    """

    name: str
    vectors: Mapping[str, np.ndarray]
    terms: Mapping[str, Mapping[str, int]]
    reveals: Mapping[str, tuple[str, ...]]
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def equations(self, stats) -> tuple[str, ...]:
        return tuple(sorted({e for s in stats for e in self.reveals[s]}))

    def determined(self, eqs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, frozenset]:
        """All non-empty cell combinations (0/1 vectors) the equations ``eqs`` determine, with
        coefficients ``C`` such that combination = C @ equations, and the set of them as tuples."""
        if eqs not in self._cache:
            e = np.vstack([self.vectors[q] for q in eqs]).astype(float)
            basis, pivots = _row_basis_pivots(e)
            r = len(basis)
            pick = _picks(r)
            # A combination's pivot columns are its 0/1 coefficients (the basis is reduced: its pivot
            # columns are exact unit columns), so only the other columns need the test whether it is
            # 0/1 everywhere (np.isclose to 0 or 1, default tolerances), and only the empty
            # combination has no cell.
            free = np.ones(e.shape[1], dtype=bool)
            free[pivots] = False
            vf = pick @ basis[:, free]
            ok = ((np.abs(vf) <= 1e-08) | (np.abs(vf - 1.0) <= 1e-08 + 1e-05)).all(axis=1)
            ok[0] = False
            v = np.rint(pick[ok] @ basis)
            c = v @ np.linalg.pinv(e)
            self._cache[eqs] = (v, c, frozenset(map(tuple, v.astype(int).tolist())))
        return self._cache[eqs]

    def values(self, row: pd.Series, eqs: tuple[str, ...]) -> np.ndarray:
        return np.array([sum(k * float(row[col]) for col, k in self.terms[q].items()) for q in eqs])

    def leak_data(self, stats) -> tuple:
        """:meth:`equations` of ``stats`` and their :meth:`determined` (None where there are no
        equations), cached by the (ordered) statistics."""
        stats = tuple(stats)
        cache = self._cache.setdefault("_leak_data", {})
        got = cache.get(stats)
        if got is None:
            eqs = self.equations(stats)
            got = cache[stats] = (eqs, *self.determined(eqs)) if eqs else (eqs, None, None, None)
        return got

    def leaks(self, stats, row, *, threshold: int, protect=(), values: dict | None = None) -> bool:
        """Whether releasing ``stats`` together determines a combination of cells under
        ``threshold`` or any of the ``protect`` statistics (counts) of this row.

        The equations and the cell combinations they determine are worked out once per statistics
        sequence, the small-combination test once per (equations, values); ``values``, a dict kept
        by the caller for one row (:func:`release_row`), holds the row's equation values so that each
        is worked out once."""
        got = self._cache.get("_leak_data", {}).get(stats) if type(stats) is tuple else None
        eqs, v, c, found = got if got is not None else self.leak_data(stats)
        if not eqs:
            return False
        if len(v):
            if values is None:
                values = {}
            try:
                vals = tuple([values[q] for q in eqs])
            except KeyError:
                for q in eqs:
                    if q not in values:
                        values[q] = sum(k * float(row[col]) for col, k in self.terms[q].items())
                vals = tuple([values[q] for q in eqs])
            memo = self._cache.get("_small_combination")
            if memo is None or len(memo) > 200_000:
                memo = self._cache["_small_combination"] = {}
            key = (eqs, vals, threshold)
            small = memo.get(key)
            if small is None:
                small = memo[key] = bool((np.rint(c @ np.array(vals)) < threshold).any())
            if small:
                return True
        if not protect:
            return False
        return any(g in found for g in self._guarded(protect))

    def _guarded(self, protect) -> tuple:
        """The 0/1 vectors (as tuples) of the equations of the ``protect`` statistics, cached."""
        key = ("_guarded", frozenset(protect))
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = tuple(tuple(self.vectors[q].astype(int))
                                           for p in protect for q in self.reveals.get(p, ()))
        return got


_PICKS: dict[int, np.ndarray] = {}


def _picks(r: int) -> np.ndarray:
    """Every 0/1 coefficient vector over ``r`` rows (2**r x r, as floats), made once per r."""
    if r not in _PICKS:
        _PICKS[r] = ((np.arange(2 ** r)[:, None] >> np.arange(r)) & 1).astype(float)
    return _PICKS[r]


def _row_basis(e: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Reduced row echelon basis of the row space of ``e`` (pivot entries 1, zeros above/below)."""
    return _row_basis_pivots(e, tol)[0]


def _row_basis_pivots(e: np.ndarray, tol: float = 1e-9) -> tuple[np.ndarray, list[int]]:
    """:func:`_row_basis` and the pivot column of each of its rows."""
    a = e.astype(float).copy()
    rows, cols = a.shape
    r = 0
    pivots = []
    for col in range(cols):
        if r == rows:
            break
        p = r + int(np.argmax(np.abs(a[r:, col])))
        if abs(a[p, col]) < tol:
            continue
        if p != r:
            a[[r, p]] = a[[p, r]]
        a[r] /= a[r, col]
        keep = a[r].copy()
        a -= np.outer(a[:, col], keep)  # every other row; row r is put back as it was
        a[r] = keep
        pivots.append(col)
        r += 1
    return a[:r], pivots


def _model(name: str, cells: list[dict], indicators: Mapping[str, Callable[[dict], bool]],
           terms: Mapping[str, Mapping[str, int]], reveals: Mapping[str, tuple[str, ...]]) -> CellModel:
    vectors = {q: np.array([1 if f(c) else 0 for c in cells], dtype=int) for q, f in indicators.items()}
    return CellModel(name, vectors, terms, reveals)


def _transmission_model() -> CellModel:
    # parents and child: "n" not poor, "p" poor (not long-term), "l" long-term poor; g: grandparents
    # poor (only recorded where parents are poor).
    cells = [{"p": p, "g": g, "c": c} for p in "npl" for g in ((0,) if p == "n" else (0, 1)) for c in "npl"]
    poor = {"p", "l"}
    ind = {
        "ALL": lambda x: True,
        "PP": lambda x: x["p"] in poor, "CP": lambda x: x["c"] in poor,
        "BOTH": lambda x: x["p"] in poor and x["c"] in poor,
        "NP": lambda x: x["p"] == "n", "NP_CP": lambda x: x["p"] == "n" and x["c"] in poor,
        "PPL": lambda x: x["p"] == "l", "CPL": lambda x: x["c"] == "l",
        "BOTHL": lambda x: x["p"] == "l" and x["c"] == "l",
        "NPL": lambda x: x["p"] != "l", "NPL_CPL": lambda x: x["p"] != "l" and x["c"] == "l",
        "G": lambda x: x["g"] == 1, "G_CP": lambda x: x["g"] == 1 and x["c"] in poor,
    }
    terms = {
        "ALL": {"n_children": 1}, "PP": {"n_parents_poor": 1}, "CP": {"n_child_poor": 1},
        "BOTH": {"n_both_poor": 1}, "NP": {"n_children": 1, "n_parents_poor": -1},
        "NP_CP": {"n_child_poor": 1, "n_both_poor": -1},
        "PPL": {"n_parents_poor_lt": 1}, "CPL": {"n_child_poor_lt": 1}, "BOTHL": {"n_both_poor_lt": 1},
        "NPL": {"n_children": 1, "n_parents_poor_lt": -1}, "NPL_CPL": {"n_child_poor_lt": 1, "n_both_poor_lt": -1},
        "G": {"_outflow_3gen_n": 1}, "G_CP": {"_outflow_3gen_k": 1},
    }
    reveals = {"n_children": ("ALL",)}
    for sfx, (pp, cp, both, np_, np_cp) in {"": ("PP", "CP", "BOTH", "NP", "NP_CP"),
                                             "_lt": ("PPL", "CPL", "BOTHL", "NPL", "NPL_CPL")}.items():
        reveals.update({
            f"n_parents_poor{sfx}": (pp,), f"n_child_poor{sfx}": (cp,), f"n_both_poor{sfx}": (both,),
            f"outflow{sfx}": (both, pp), f"p_child_poor_parents_not_poor{sfx}": (np_cp, np_),
            f"inflow{sfx}": (both, cp), f"risk_ratio{sfx}": (both, pp, np_cp, np_),
        })
    reveals["outflow_3gen"] = ("G_CP", "G")
    return _model("transmission", cells, ind, terms, reveals)


# Young adults: count -> which persons it counts (pov: "n"/"p"/"l"; away; f, m: 0 no counted parent
# household, 1 not poor, 2 poor; parents only for those living away).
YA_COUNT_CELLS: dict[str, Callable[[dict], bool]] = {
    "n_young_adults": lambda x: True,
    "n_poor": lambda x: x["pov"] != "n",
    "n_lt_poor": lambda x: x["pov"] == "l",
    "n_away": lambda x: x["away"] == 1,
    "n_away_father": lambda x: x["away"] == 1 and x["f"] >= 1,
    "n_away_father_poor": lambda x: x["away"] == 1 and x["f"] == 2,
    "n_away_mother": lambda x: x["away"] == 1 and x["m"] >= 1,
    "n_away_mother_poor": lambda x: x["away"] == 1 and x["m"] == 2,
    "n_poor_away": lambda x: x["pov"] != "n" and x["away"] == 1,
    "n_poor_away_father": lambda x: x["pov"] != "n" and x["away"] == 1 and x["f"] >= 1,
    "n_poor_away_father_poor": lambda x: x["pov"] != "n" and x["away"] == 1 and x["f"] == 2,
    "n_poor_away_mother": lambda x: x["pov"] != "n" and x["away"] == 1 and x["m"] >= 1,
    "n_poor_away_mother_poor": lambda x: x["pov"] != "n" and x["away"] == 1 and x["m"] == 2,
}


def _young_adult_model() -> CellModel:
    cells = [{"pov": p, "away": 0, "f": 0, "m": 0} for p in "npl"]
    cells += [{"pov": p, "away": 1, "f": f, "m": m} for p in "npl" for f in range(3) for m in range(3)]
    terms = {q: {q: 1} for q in YA_COUNT_CELLS}
    reveals = {q: (q,) for q in YA_COUNT_CELLS}
    reveals.update({share: (k, d) for share, (k, d) in SHARES.items()})
    return _model("young_adults", cells, YA_COUNT_CELLS, terms, reveals)


TRANSMISSION_MODEL = _transmission_model()
YOUNG_ADULT_MODEL = _young_adult_model()
YA_ORDER = ("n_young_adults", *SHARES, *[c for c in YA_COUNTS if c != "n_young_adults"])


def young_adult_model() -> CellModel:
    return YOUNG_ADULT_MODEL


# --------------------------------------------------------------------------- one row

def _cell_counts(row, sfx: str = "") -> tuple:
    """The 2x2 cells a (both poor), b (parents only), c (child only), d (neither) of one row, as
    the row holds them (see :func:`cells`)."""
    both, parents, child = _CELL_COLUMNS[sfx]
    a = row[both]
    c = row[child] - a
    return a, row[parents] - a, c, row["n_children"] - row[parents] - c


_CELL_COLUMNS = {sfx: (f"n_both_poor{sfx}", f"n_parents_poor{sfx}", f"n_child_poor{sfx}") for sfx in ("", "_lt")}


def cells(row: pd.Series, sfx: str = "") -> np.ndarray:
    """The 2x2 cells a (both poor), b (parents only), c (child only), d (neither) of one row."""
    return np.array(_cell_counts(row, sfx), dtype=float)


def primary_reason(row: pd.Series, stat: str, th: Thresholds, sfx: str = "") -> str | None:
    """Why the primary rule withholds ``stat`` (a base name) in this row, or None when it passes."""
    n = row["n_children"]
    if n < th.min_n:
        return f"n_children < {th.min_n}"
    if stat == "n_children":
        return None
    if stat == "outflow_3gen":
        k, m = row["_outflow_3gen_k"], row["_outflow_3gen_n"]
        return None if min(k, m - k) >= th.min_events else f"numerator or complement < {th.min_events}"
    if stat.endswith("_lt"):
        stat, sfx = stat[:-3], "_lt"
    # the cells of :func:`cells` as floats, without building an array per statistic
    a, b, c, d = map(float, _cell_counts(row, sfx))
    # numerator and complement of the statistic
    if stat == "n_parents_poor":
        need = (a + b, c + d)
    elif stat == "n_child_poor":
        need = (a + c, b + d)
    elif stat == "n_both_poor":
        need = (a, b + c + d)
    elif stat == "outflow":
        need = (a, b)
    elif stat == "p_child_poor_parents_not_poor":
        need = (c, d)
    elif stat == "inflow":
        need = (a, c)
    elif stat == "risk_ratio":
        need = (min(a, c), min(b, d))
    else:
        raise KeyError(stat)
    if min(need) < th.min_events:
        return f"numerator or complement < {th.min_events}"
    return None


def release_row(row: pd.Series, th: Thresholds, *, model: CellModel, order: tuple[str, ...],
                primary: Callable[[pd.Series, str, Thresholds], str | None],
                protect=frozenset()) -> dict[str, str | None]:
    """Release the statistics of ``order`` that the row has, one by one, while the primary rule
    passes and no small combination of cells (or protected count) becomes derivable
    (:meth:`CellModel.leaks`, with the row's equation values worked out once)."""
    accepted: tuple[str, ...] = ()
    out: dict[str, str | None] = {}
    values: dict[str, float] = {}
    threshold = th.min_events
    leaks = model.leaks
    for stat in _present(model, order, row):
        if stat in protect:
            out[stat] = SECONDARY_NESTED
            continue
        reason = primary(row, stat, th)
        if reason is None:
            if leaks((*accepted, stat), row, threshold=threshold, protect=protect, values=values):
                reason = SECONDARY_CELLS
            else:
                accepted = (*accepted, stat)
        out[stat] = reason
    return out


def _present(model: CellModel, order: tuple[str, ...], row) -> tuple[str, ...]:
    """The statistics of ``order`` whose equations' columns the row has (cached per order and the
    row's columns)."""
    key = ("_present", order, tuple(row.keys()))
    got = model._cache.get(key)
    if got is None:
        cols = {s: tuple(col for q in qs for col in model.terms[q]) for s, qs in model.reveals.items()}
        got = model._cache[key] = tuple(s for s in order if all(col in row for col in cols[s]))
    return got


def release_poverty_row(row: pd.Series, th: Thresholds, *, protect: set[str] = frozenset()) -> dict[str, str | None]:
    """Decide each poverty statistic of one area: None = released, else the reason it is withheld.

    All statistics of the poor, long-term poor and three-generation tables are checked together
    on the 15 cells of :data:`TRANSMISSION_MODEL`; ``protect`` names counts withheld in this row
    to stop recovery from nested areas or complementary groups: they must not be derivable.
    """
    return release_row(row, th, model=TRANSMISSION_MODEL, order=TRANSMISSION_ORDER, primary=primary_reason,
                       protect=protect)


def young_adult_primary(row: pd.Series, stat: str, th: Thresholds) -> str | None:
    """Primary rule of the young-adult statistics: the population needs n >= min_n, a part count or
    share numerator and complement >= min_events."""
    n = row["n_young_adults"]
    if n < th.min_n:
        return f"n_young_adults < {th.min_n}"
    k, d = SHARES[stat] if stat in SHARES else (stat, "n_young_adults")
    if stat != "n_young_adults" and min(row[k], row[d] - row[k]) < th.min_events:
        return f"numerator or complement < {th.min_events}"
    return None


def release_young_adult_row(row: pd.Series, th: Thresholds, *, protect: set[str] = frozenset()) -> dict[str, str | None]:
    """Decide the young-adult statistics of one area and year (shares first, then the counts) on the
    30 cells of :func:`young_adult_model`."""
    return release_row(row, th, model=young_adult_model(), order=YA_ORDER, primary=young_adult_primary,
                       protect=protect)


def rank_reasons(row: pd.Series, th: Thresholds) -> dict[str, str | None]:
    """Primary rules for the regression and quintile measures.

    A regression needs ``min_df`` residual degrees of freedom, and the children it leaves out
    (no rank) are none or at least ``min_events``; a quintile share needs numerator, complement and
    the children outside its parent quintile all at least ``min_events``.
    """
    out: dict[str, str | None] = {}
    total = row.get("n_children", 0)
    for name in REGRESSIONS:
        n = row.get(f"_{name}_n", 0)
        if not (n - 2 >= th.min_df and pd.notna(row[name])):
            out[name] = f"residual df < {th.min_df}"
        elif 0 < total - n < th.min_events:
            out[name] = f"children outside the regression < {th.min_events}"
        else:
            out[name] = None
    for name in ("p_q1_q1", "p_q5_q1"):
        if f"_{name}_k" not in row:
            continue
        k, n = row[f"_{name}_k"], row[f"_{name}_n"]
        out[name] = (None if min(k, n - k, total - n) >= th.min_events
                     else f"numerator, complement or children outside the quintile < {th.min_events}")
    return out


# --------------------------------------------------------------------------- between rows

def decide(tables: dict[str, pd.DataFrame], *, ancestors: dict[str, pd.DataFrame], th: Thresholds,
           row_rule=None, counts: tuple[str, ...] = COUNTS, extra_rule=None,
           population: str = "n_children",
           protect: Mapping[str, Mapping[str, set[str]]] | None = None,
           memo: dict | None = None) -> dict[str, pd.DataFrame]:
    """Reasons per area (index area_code) and statistic: None where released.

    ``tables``: internal measures per table (a level, or a level's breakdown into groups) indexed
    by row key (all areas, zeros where no children). ``ancestors[name]``: per row of that table
    the key of the row it falls under in each other table (columns named after those tables),
    wherever the rows of ``name`` under one upper row partition that row's population: areas
    within a higher level, groups within their area's total, groups within the same group of a
    higher level. ``row_rule(row, th, protect=...)`` decides one
    row (default: the transmission table's cell rule); ``extra_rule(row, th)`` adds statistics that
    take no part in the nested rule (default: the rank measures; withheld too where the population
    count is). ``population`` is the count that says whether an area holds anybody. ``protect``:
    per table and row key, counts to withhold from the start (e.g. by the rule between years).
    ``memo``: a dict the caller keeps to decide the same tables again with other ``protect``
    (same ``th`` and rules): each row's decision per set of protected counts is kept there and
    reused.

    Nested rule, for every count and every released row and partition of it: the withheld
    inhabited parts are never exactly one, and together they hold none or at least the threshold
    (``min_n`` for the population count, ``min_events`` for the others), since the released total
    minus the released parts gives their sum. Where that fails, the smallest released part is
    withheld too (or, with none left, the total itself); this repeats until nothing changes.
    """
    row_rule = row_rule or release_poverty_row
    extra_rule = rank_reasons if extra_rule is None else extra_rule
    prot: dict[tuple[str, str], set[str]] = {}
    for name, per in (protect or {}).items():
        for code, cs in per.items():
            if code in tables[name].index and cs:
                prot[(name, code)] = set(cs)
    # Plain dicts per row: the rules read a few values per row many times over.
    rows = {name: _row_dicts(t) for name, t in tables.items()}

    def rule(name: str, code: str) -> dict:
        p = prot.get((name, code), frozenset())
        if memo is None:
            return row_rule(rows[name][code], th, protect=p)
        key = (name, code, frozenset(p))
        got = memo.get(key)
        if got is None:
            got = memo[key] = row_rule(rows[name][code], th, protect=p)
        return got

    dec = {name: {code: rule(name, code) for code in rows[name]} for name in tables}
    # Every (upper table, lower table) pair whose lower rows partition the upper rows' population.
    members = {}
    for lower, anc in ancestors.items():
        for upper in anc.columns:
            if upper in tables:
                col = anc[upper]
                members[(upper, lower)] = {code: list(idx) for code, idx in col.groupby(col).groups.items()}

    def withhold(name: str, code: str, count: str) -> None:
        prot.setdefault((name, code), set()).add(count)
        dec[name][code] = rule(name, code)

    inhabited: dict[tuple, list] = {}   # the lower rows of a group that hold anybody (rows do not change)
    changed = True
    while changed:
        changed = False
        for count in counts:
            need = th.min_n if count == population else th.min_events
            for (upper, lower), groups in members.items():
                if count not in tables[lower].columns or count not in tables[upper].columns:
                    continue
                low = rows[lower]
                for up_code, codes in groups.items():
                    if up_code not in dec[upper] or dec[upper][up_code].get(count, "") is not None:
                        continue
                    key = (upper, lower, up_code)
                    if key not in inhabited:
                        inhabited[key] = [c for c in codes if c in low and low[c][population] > 0]
                    codes = inhabited[key]
                    held = [c for c in codes if dec[lower][c].get(count, "") is not None]
                    if not held or (len(held) > 1 and sum(float(low[c][count]) for c in held) >= need):
                        continue
                    free = [c for c in codes if dec[lower][c].get(count, "") is None]
                    if free:
                        smallest = min(free, key=lambda c: (float(low[c][count]), c))
                        withhold(lower, smallest, count)
                    else:
                        withhold(upper, up_code, count)
                    changed = True
    out = {}
    for lvl, t in tables.items():
        extra_dec = {code: extra_rule(r, th) for code, r in rows[lvl].items()}
        fast = _reason_frame(dec[lvl], extra_dec, t.index, population)
        if fast is not None:
            out[lvl] = fast
            continue
        main = pd.DataFrame.from_dict(dec[lvl], orient="index").reindex(t.index)
        extra = pd.DataFrame.from_dict(extra_dec, orient="index")
        if len(extra.columns):
            extra = extra.reindex(t.index).astype(object)
            if population in main.columns:
                gone = main[population].notna()
                for c in extra.columns:
                    extra[c] = extra[c].where(~(gone & extra[c].isna()), f"secondary: {population} withheld")
            both = pd.concat([main, extra], axis=1)
        else:
            both = main
        out[lvl] = both.astype(object).where(both.notna(), None)
    return out


def _reason_frame(main: dict, extra: dict, index: pd.Index, population: str) -> pd.DataFrame | None:
    """The reasons frame :func:`decide` builds from the row decisions ``main`` and ``extra`` (code
    -> statistic -> reason or None) with ``DataFrame.from_dict``, ``reindex``, ``concat`` and
    ``where``, built column by column: object columns of str or None, columns in order of first
    appearance (main, then extra). None where that shortcut does not apply (no rows, a name in
    both, a reason that is neither str nor None): the caller builds it the pandas way."""
    if not len(index) or not main or not index.is_unique:
        return None

    def columns(per_code: dict) -> list:
        names = {}
        for d in per_code.values():
            for k in d:
                names[k] = None
        return list(names)

    main_names, extra_names = columns(main), columns(extra)
    if set(main_names) & set(extra_names):
        return None
    empty: dict = {}
    main_rows = [main.get(code, empty) for code in index]
    data = {}
    for c in main_names:
        data[c] = [d.get(c) for d in main_rows]
    if extra_names:
        extra_rows = [extra.get(code, empty) for code in index]
        gone = data.get(population)
        for c in extra_names:
            v = [d.get(c) for d in extra_rows]
            if gone is not None:
                v = [f"secondary: {population} withheld" if x is None and g is not None else x
                     for x, g in zip(v, gone)]
            data[c] = v
    for v in data.values():
        if any(x is not None and type(x) is not str for x in v):
            return None
    return pd.DataFrame({c: np.array(v, dtype=object) for c, v in data.items()}, index=index,
                        columns=pd.Index(main_names + extra_names), dtype=object)


def _row_dicts(t: pd.DataFrame) -> dict:
    """``t.to_dict("index")``, built column by column (Python scalars, numpy ones unboxed)."""
    if t.columns.has_duplicates or not t.index.is_unique:
        return t.to_dict("index")
    names = list(t.columns)
    columns = [[v.item() if isinstance(v, np.generic) else v for v in t[c].to_numpy(dtype=object)]
               if t[c].dtype == object else t[c].tolist() for c in names]
    return {code: dict(zip(names, r)) for code, r in zip(t.index, zip(*columns))}


def year_pairs(released: pd.DataFrame, *, threshold: int, year: int | None = None) -> pd.DataFrame:
    """Pairs of released counts (same area and count, years ``year_s`` and ``year_t``) whose
    difference ``n_t - n_s`` is 1 to ``threshold - 1``: the only ones a subset could make unsafe.
    With ``year``, only the pairs that have that year on one side (the same rows, in the same order,
    without pairing every other year with every other)."""
    r = released[["area", "year", "count", "n"]]
    if year is not None:
        return _year_pairs_with(r, threshold=threshold, year=year)
    pairs = r.merge(r, on=["area", "count"], suffixes=("_s", "_t"))
    diff = pairs["n_t"] - pairs["n_s"]
    return pairs[(diff > 0) & (diff < threshold) & (pairs["year_s"] != pairs["year_t"])]


def _year_pairs_with(r: pd.DataFrame, *, threshold: int, year: int) -> pd.DataFrame:
    """:func:`year_pairs` with ``year`` on one side, on integer codes: every row of that year is
    paired with the rows of the same area and count, both ways, in the order of the merge of all
    rows with all rows (left row, then right row)."""
    key = pd.factorize(r["area"])[0].astype("int64") * (len(r) + 1) + pd.factorize(r["count"])[0]
    yr, n = r["year"].to_numpy(), r["n"].to_numpy()
    order = np.argsort(key, kind="stable")
    sk = key[order]
    this = np.flatnonzero(yr == year)
    lo, hi = np.searchsorted(sk, key[this], side="left"), np.searchsorted(sk, key[this], side="right")
    size = hi - lo
    mine = np.repeat(this, size)                       # a row of ``year``
    other = order[np.repeat(lo - np.cumsum(size) + size, size) + np.arange(int(size.sum()))]
    i, j = np.concatenate([mine, other]), np.concatenate([other, mine])
    diff = n[j] - n[i]
    keep = (diff > 0) & (diff < threshold) & (yr[i] != yr[j])
    i, j = i[keep], j[keep]
    o = np.lexsort((j, i))
    i, j = i[o], j[o]
    left, right = r.iloc[i].reset_index(drop=True), r.iloc[j].reset_index(drop=True)
    return pd.DataFrame({"area": left["area"], "year_s": left["year"], "count": left["count"], "n_s": left["n"],
                         "year_t": right["year"], "n_t": right["n"]})


def isolated_by_years(members: pd.DataFrame | None, released: pd.DataFrame, *, threshold: int,
                      newest: int | None = None,
                      subset: Callable[[pd.DataFrame], np.ndarray] | None = None,
                      pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Released counts that the difference with the same count of another year would isolate.

    ``members``: one row per person counted (columns ``person``, ``area``, ``year``, ``count``);
    ``released``: the released counts (columns ``area``, ``year``, ``count``, ``n``). Where one
    year's persons are a subset of another year's in the same area and count, and the difference
    is 1 to ``threshold - 1`` persons, the difference of the two totals gives that small group.
    Returned (columns ``area``, ``year``, ``count``, ``other_year``): the smaller of the two counts,
    or, with ``newest``, only pairs with year ``newest`` and always that year's count (the years
    before it are published and stand). Both years' sets differing on both sides isolates nobody
    (the difference mixes entrants and leavers) and passes. ``subset(pairs)``, where given, answers
    the subset test per pair (columns ``area``, ``count``, ``year_s``, ``year_t``) instead of
    ``members`` (see :func:`pipeline.export.year_subsets_of`); ``pairs``, where given, is
    :func:`year_pairs` of ``released`` (the caller has it already).
    """
    cols = ["area", "year", "count", "other_year"]
    if pairs is None:
        pairs = year_pairs(released, threshold=threshold)
    if newest is not None:
        pairs = pairs[(pairs["year_s"] == newest) | (pairs["year_t"] == newest)]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    hit = pairs[subset(pairs) if subset is not None else subset_pairs(members, pairs)]
    if newest is None:
        out = hit.rename(columns={"year_s": "year", "year_t": "other_year"})[cols]
    else:
        other = np.where(hit["year_s"] == newest, hit["year_t"], hit["year_s"])
        out = pd.DataFrame({"area": hit["area"].to_numpy(), "year": newest, "count": hit["count"].to_numpy(),
                            "other_year": other})
    return out.drop_duplicates(["area", "year", "count"]).reset_index(drop=True)


def subset_pairs(members: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Per pair (``area``, ``count``, ``year_s``, ``year_t``): whether the persons of year_s are a
    subset of those of year_t (an empty set is a subset of any). Vectorised: every member of year_s
    is looked up among the (area, count, person, year_t) of the members, as integer codes."""
    key = pairs[["area", "count"]].drop_duplicates()
    key = key.assign(_g=np.arange(len(key), dtype="int64"))
    pg = pairs[["area", "count"]].merge(key, on=["area", "count"], how="left")["_g"].to_numpy()
    m = members[["area", "count", "year", "person"]].merge(key, on=["area", "count"])
    if m.empty:
        return np.ones(len(pairs), dtype=bool)
    g = m["_g"].to_numpy(dtype="int64")
    person = pd.factorize(m["person"])[0].astype("int64")
    n_person = int(person.max()) + 1
    years = np.unique(np.concatenate([m["year"].to_numpy(dtype="int64"), pairs["year_s"].to_numpy(dtype="int64"),
                                      pairs["year_t"].to_numpy(dtype="int64")]))
    n_year = len(years)
    year = m["year"].to_numpy(dtype="int64")
    present = np.unique((g * n_person + person) * n_year + np.searchsorted(years, year))
    # each member of year_s of a pair, and the code it needs in year_t
    left = pd.DataFrame({"_g": g, "year": year, "person": person})
    right = pd.DataFrame({"_g": pg, "year": pairs["year_s"].to_numpy(dtype="int64"),
                          "pair": np.arange(len(pairs)),
                          "yt": np.searchsorted(years, pairs["year_t"].to_numpy(dtype="int64"))})
    j = left.merge(right, on=["_g", "year"])
    need = (j["_g"].to_numpy() * n_person + j["person"].to_numpy()) * n_year + j["yt"].to_numpy()
    pos = np.minimum(np.searchsorted(present, need), len(present) - 1)
    missing = present[pos] != need
    ok = np.ones(len(pairs), dtype=bool)
    ok[j["pair"].to_numpy()[missing]] = False
    return ok


def round_half_up(x: pd.Series, base: int) -> pd.Series:
    return (np.floor(x.astype(float) / base + 0.5) * base).astype("Int64")


def apply(table: pd.DataFrame, reasons: pd.DataFrame, *, th: Thresholds, counts: tuple[str, ...] = COUNTS,
          rates: tuple[str, ...] = PROPORTIONS + ("risk_ratio", "risk_ratio_lt")) -> pd.DataFrame:
    """Blank every withheld value and everything derived from it; add the ``suppressed`` column.

    With rounding, counts go to the nearest multiple and rates (not ranks) to two decimals.
    """
    held = reasons.reindex(table.index)
    keep_all = held.isna().to_numpy(dtype=bool)
    new: dict[str, object] = {}      # the blanked columns, put in place all at once
    for j, stat in enumerate(reasons.columns):
        keep = keep_all[:, j]
        cols = [stat] + [stat + s for s in SUFFIXES if stat + s in table.columns]
        for c in cols:
            col = table[c] if c not in new else pd.Series(new[c], index=table.index)
            if stat not in counts:
                new[c] = np.where(keep, col.to_numpy(dtype="float64", na_value=np.nan), np.nan)
            else:   # as col.astype("Int64").where(keep)
                a = col.astype("Int64").array
                new[c] = pd.arrays.IntegerArray(a.to_numpy(dtype="int64", na_value=0), a.isna() | ~keep)
    out = pd.DataFrame({c: new[c] if c in new else table[c] for c in table.columns}, index=table.index,
                       columns=table.columns)
    if th.round_counts_to:
        for c in counts:
            if c in out.columns:
                out[c] = round_half_up(out[c], th.round_counts_to)
        for name in rates:
            for c in [name + s for s in ("",) + SUFFIXES if name + s in out.columns]:
                if not c.endswith("_reliability"):
                    out[c] = out[c].round(2)
    out["suppressed"] = suppressed_text(held)
    return out


def suppressed_text(reasons: pd.DataFrame) -> pd.Series:
    """Per row, "statistic: reason" of every withheld statistic, joined by "; " ("" where none)."""
    if not len(reasons) or not len(reasons.columns):
        text = reasons.apply(lambda r: "; ".join(f"{k}: {v}" for k, v in r.items() if isinstance(v, str)), axis=1)
        return text.fillna("")
    names = list(reasons.columns)
    values = reasons.to_numpy(dtype=object)
    text = ["; ".join(f"{k}: {v}" for k, v in zip(names, r) if isinstance(v, str)) for r in values]
    return pd.Series(np.array(text, dtype=object), index=reasons.index, dtype=object)
