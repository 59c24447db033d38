"""Audit (methodology §10): the last step of every run, and the gate before anything leaves.

Re-checks every file in ``figures/`` and ``reports/`` and fails the run, naming file, row and
column, when one holds a value that breaks the rules, a RIN-like identifier or record-level rows.
The exported tables are re-derived from the internal tables in ``data/processed/`` by their key
columns; this module shares no code with :mod:`pipeline.disclosure`, so that a mistake there
cannot hide here. Every other file (maps, figures, further tables) must have been built only
from audited files, public inputs and code, as the Snakefile declares; its hash and sources go
into ``reports/audit.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from . import io
from .errors import PipelineInputError
from .young_adults import SHARES as YA_SHARES

TEXT_SUFFIXES = {".csv", ".tsv", ".json", ".md", ".html", ".htm", ".txt", ".svg", ".geojson", ".xml", ".yaml"}
KEY_COLUMNS = {"area_code", "area_name", "level", "group", "year", "suppressed",
               # the per-cohort tables (issue #6): which unit and poverty line a row is about
               "cohort", "line", "first_birth_year", "last_birth_year", "pooled", "provisional", "parents_source"}
DERIVED = ("_ci_low", "_ci_high", "_eb", "_reliability")
TOTAL = "totaal"
# 9 digits standing alone (optionally after one letter, as in "R000123456"), not the decimals of a
# number and not part of a longer code or hex id.
RIN_TOKEN = re.compile(r"(?<![0-9A-Za-z.])[A-Za-z]?\d{9}(?![0-9A-Za-z])")
RIN_NAME = re.compile(r"RINPERSOON|RINOBJECTNUMMER", re.IGNORECASE)
# A RIN field used as a key ("RINPERSOON": ..., RINPERSOON=...) in JSON, HTML or Markdown; in CSV files
# the header is checked instead (prose such as an attrition step may name the column).
RIN_KEY = re.compile(r"[\"']?\b(?:RINPERSOONS?|RINOBJECTNUMMER)\w*[\"']?\s*[:=]", re.IGNORECASE)
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
# Fields of the person-level files that a released table never has (area and year columns aside).
RECORD_FIELDS = {"rinpersoon", "rinpersoons", "birth_year", "birth_month", "father", "mother", "parents_poor",
                 "child_poor", "parents_lt_poor", "child_lt_poor", "parent_rank", "child_rank", "poor", "lt_poor",
                 "away", "father_valid", "father_poor", "mother_valid", "mother_poor", "grandparents_poor",
                 "lives_with_parent", "parents_valid_years", "child_valid_years"}


@dataclass(frozen=True)
class Limits:
    """The output rules' thresholds (config ``disclosure:``)."""

    min_n: int = 10
    min_events: int = 10
    min_df: int = 10
    round_counts_to: int | None = None


@dataclass(frozen=True)
class Finding:
    """One thing that may not leave: the file, where in it, which rule, and the detail."""

    file: str
    where: str
    rule: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.rule}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Internal:
    """The internal (record-level or unrounded) tables the released files are checked against."""

    measures: dict[str, pd.DataFrame]                  # level -> indexed by key ("code" or "code|group")
    young_adults: dict[str, pd.DataFrame]              # level -> indexed by (year, area_code)
    ya_persons: pd.DataFrame | None = None             # year, RINPERSOON, gemeente, wijk and the flags
    attrition: pd.DataFrame | None = None              # step, check, unit, n_before, n_after, n_dropped
    statuses: pd.DataFrame | None = None               # the children's statuses (model assumptions)
    region_name: str = "Veenkoloniën"
    cohorts: dict[str, pd.DataFrame] | None = None     # level -> rolling measures, indexed "cohort|line|area_code"
    ya_line: dict[str, pd.DataFrame] | None = None     # level -> young adults by the new line
    ya_line_persons: pd.DataFrame | None = None        # year, RINPERSOON, gemeente, wijk, poor (new line)
    pooled_birth_years: tuple[int, int] | None = None  # the birth years of transmission_*.csv


@dataclass
class AuditResult:
    findings: list[Finding] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings


# --------------------------------------------------------------------------- cell models

@dataclass(frozen=True)
class Cells:
    """A row's population split into cells, and for each internal column the cells it counts."""

    name: str
    labels: tuple[str, ...]
    counts: Mapping[str, tuple[int, ...]]            # internal column -> 0/1 per cell
    reveals: Mapping[str, tuple[str, ...]]           # released statistic -> internal columns it gives
    cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def solve(self, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Every non-empty combination of cells that the counts ``columns`` determine (rows of 0/1),
        and coefficients expressing each as a combination of those columns (exact arithmetic)."""
        if columns not in self.cache:
            self.cache[columns] = _determined([self.counts[c] for c in columns])
        return self.cache[columns]

    def describe(self, combo: np.ndarray) -> str:
        parts = [self.labels[i] for i in np.flatnonzero(combo)]
        return " + ".join(parts[:4]) + (f" + {len(parts) - 4} more" if len(parts) > 4 else "")


def _determined(rows: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    m, k = len(rows), len(rows[0])
    a = [[Fraction(x) for x in r] + [Fraction(int(i == j)) for j in range(m)] for i, r in enumerate(rows)]
    rank = 0
    for col in range(k):
        p = next((i for i in range(rank, m) if a[i][col] != 0), None)
        if p is None:
            continue
        a[rank], a[p] = a[p], a[rank]
        pivot = a[rank][col]
        a[rank] = [x / pivot for x in a[rank]]
        for i in range(m):
            if i != rank and a[i][col] != 0:
                f = a[i][col]
                a[i] = [x - f * y for x, y in zip(a[i], a[rank])]
        rank += 1
        if rank == m:
            break
    basis = [r[:k] for r in a[:rank]]
    transform = [r[k:] for r in a[:rank]]
    pick = ((np.arange(2 ** rank)[:, None] >> np.arange(rank)) & 1)[1:].astype(float)
    # The basis is exact; its entries are fractions with small denominators, so float sums of at
    # most ``rank`` of them are exact to far below the tolerance.
    combos = pick @ np.array(basis, dtype=float).reshape(rank, k)
    keep = (np.abs(combos - np.rint(combos)) < 1e-9).all(axis=1) & (np.rint(combos) >= 0).all(axis=1) \
        & (np.rint(combos) <= 1).all(axis=1)
    coefs = pick[keep] @ np.array(transform, dtype=float).reshape(rank, m)
    return np.rint(combos[keep]).astype(int).reshape(-1, k), coefs.reshape(-1, m)


def _cells(name: str, cells: list[tuple], label: Callable[[tuple], str], counts: Mapping[str, Callable[[tuple], bool]],
           reveals: Mapping[str, tuple[str, ...]]) -> Cells:
    return Cells(name, tuple(label(c) for c in cells),
                 {col: tuple(int(bool(f(c))) for c in cells) for col, f in counts.items()}, dict(reveals))


def transmission_cells() -> Cells:
    """Parents (0 not poor, 1 poor, 2 long-term poor) x grandparents poor (only with poor parents)
    x child (0, 1, 2): what the transmission statistics can say about a row."""
    cells = [(p, g, c) for p in range(3) for g in ((0,) if p == 0 else (0, 1)) for c in range(3)]
    word = {0: "niet arm", 1: "arm", 2: "langdurig arm"}

    def label(x):
        return f"ouders {word[x[0]]}{', grootouders arm' if x[1] else ''} x kind {word[x[2]]}"
    pp, cp = (lambda x: x[0] >= 1), (lambda x: x[2] >= 1)
    pl, cl = (lambda x: x[0] == 2), (lambda x: x[2] == 2)
    counts = {
        "n_children": lambda x: True, "n_parents_poor": pp, "n_child_poor": cp,
        "n_both_poor": lambda x: pp(x) and cp(x), "n_parents_poor_lt": pl, "n_child_poor_lt": cl,
        "n_both_poor_lt": lambda x: pl(x) and cl(x),
        "_outflow_k": lambda x: pp(x) and cp(x), "_outflow_n": pp,
        "_p_child_poor_parents_not_poor_k": lambda x: not pp(x) and cp(x),
        "_p_child_poor_parents_not_poor_n": lambda x: not pp(x),
        "_inflow_k": lambda x: pp(x) and cp(x), "_inflow_n": cp,
        "_outflow_lt_k": lambda x: pl(x) and cl(x), "_outflow_lt_n": pl,
        "_p_child_poor_parents_not_poor_lt_k": lambda x: not pl(x) and cl(x),
        "_p_child_poor_parents_not_poor_lt_n": lambda x: not pl(x),
        "_inflow_lt_k": lambda x: pl(x) and cl(x), "_inflow_lt_n": cl,
        "_outflow_3gen_k": lambda x: x[1] == 1 and cp(x), "_outflow_3gen_n": lambda x: x[1] == 1,
    }
    reveals = {c: (c,) for c in counts if not c.startswith("_")}
    for rate in ("outflow", "p_child_poor_parents_not_poor", "inflow", "outflow_lt",
                 "p_child_poor_parents_not_poor_lt", "inflow_lt", "outflow_3gen"):
        reveals[rate] = (f"_{rate}_k", f"_{rate}_n")
    for sfx in ("", "_lt"):
        reveals[f"risk_ratio{sfx}"] = reveals[f"outflow{sfx}"] + reveals[f"p_child_poor_parents_not_poor{sfx}"]
    return _cells("transmission", cells, label, counts, reveals)


def young_adult_cells() -> Cells:
    """Own household (0 not poor, 1 poor, 2 long-term poor) x living away x father's and mother's
    household (0 none counted, 1 not poor, 2 poor; only for those living away)."""
    cells = [(o, 0, 0, 0) for o in range(3)] + [(o, 1, f, m) for o in range(3) for f in range(3) for m in range(3)]
    word = {0: "niet arm", 1: "arm", 2: "langdurig arm"}
    par = {0: "geen", 1: "niet arm", 2: "arm"}

    def label(x):
        return (f"{word[x[0]]}, thuiswonend" if not x[1] else
                f"{word[x[0]]}, uitwonend, vader {par[x[2]]}, moeder {par[x[3]]}")
    poor, away = (lambda x: x[0] >= 1), (lambda x: x[1] == 1)
    counts = {
        "n_young_adults": lambda x: True, "n_poor": poor, "n_lt_poor": lambda x: x[0] == 2, "n_away": away,
        "n_away_father": lambda x: away(x) and x[2] >= 1, "n_away_father_poor": lambda x: away(x) and x[2] == 2,
        "n_away_mother": lambda x: away(x) and x[3] >= 1, "n_away_mother_poor": lambda x: away(x) and x[3] == 2,
        "n_poor_away": lambda x: poor(x) and away(x),
        "n_poor_away_father": lambda x: poor(x) and away(x) and x[2] >= 1,
        "n_poor_away_father_poor": lambda x: poor(x) and away(x) and x[2] == 2,
        "n_poor_away_mother": lambda x: poor(x) and away(x) and x[3] >= 1,
        "n_poor_away_mother_poor": lambda x: poor(x) and away(x) and x[3] == 2,
    }
    reveals = {c: (c,) for c in counts}
    reveals.update({share: (k, n) for share, (k, n) in YA_SHARES.items()})
    return _cells("young_adults", cells, label, counts, reveals)


TRANSMISSION = transmission_cells()
YOUNG_ADULTS = young_adult_cells()


# --------------------------------------------------------------------------- text

def scan_text(text: str, *, file: str) -> list[Finding]:
    """RIN-like identifiers (9-digit strings) and RIN fields used as keys anywhere in a text file."""
    out = []
    text = DATA_URI.sub("", text)
    for m in RIN_KEY.finditer(text):
        out.append(Finding(file, f"line {text.count(chr(10), 0, m.start()) + 1}", "RIN field name", m.group(0)))
        break
    for m in RIN_TOKEN.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append(Finding(file, f"line {line}", "RIN-like identifier (9-digit string)", m.group(0)))
        if len(out) >= 20:
            break
    return out


def read_released_csv(path: Path) -> pd.DataFrame:
    """A released CSV as text (nothing parsed away), empty cells as empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _numbers(t: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
    if not len(t):  # an empty table (e.g. the new poverty line before 2018 data exist) holds no numbers
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}, index=t.index)
    return t[list(cols)].apply(lambda s: pd.to_numeric(s.where(s != "", None), errors="coerce"))


def record_level(t: pd.DataFrame, *, file: str, key: list[str] | None) -> list[Finding]:
    """Person-level columns, RIN columns, or rows that do not each stand for a distinct key."""
    out = [Finding(file, f"column {c}", "RIN column") for c in t.columns if RIN_NAME.search(str(c))]
    out += [Finding(file, f"column {c}", "record-level field in a released table")
            for c in t.columns if str(c).strip().lower() in RECORD_FIELDS]
    if key and set(key) <= set(t.columns):
        dup = t.duplicated(key, keep=False)
        if dup.any():
            first = t.loc[dup, key].iloc[0].to_dict()
            out.append(Finding(file, f"{int(dup.sum())} rows, e.g. {first}", "record-level rows: key not unique",
                               f"key {key}"))
    return out


# --------------------------------------------------------------------------- one table

def _fmt(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def audit_table(released: pd.DataFrame, internal: pd.DataFrame, *, file: str, cells: Cells, lim: Limits,
                key: list[str], population: str) -> tuple[list[Finding], pd.DataFrame]:
    """Check every released value of one table against the internal rows with the same key.

    ``released`` is the CSV as text; ``internal`` is indexed like ``key`` (missing rows hold
    nobody). Returns the findings and, per released row, which counts it gives away (directly or
    by subtraction within the row), for the checks between rows.
    """
    out: list[Finding] = []
    idx = pd.MultiIndex.from_frame(released[key]) if len(key) > 1 else pd.Index(released[key[0]])
    inner = internal.reindex(idx)
    inner.index = released.index
    stat_cols = [c for c in released.columns if c not in KEY_COLUMNS and c not in key]
    unknown = [c for c in stat_cols if c not in internal.columns]
    for c in unknown:
        if (released[c] != "").any():
            out.append(Finding(file, f"column {c}", "column not in the internal table: cannot be checked"))
    stat_cols = [c for c in stat_cols if c not in unknown]
    rel = _numbers(released, stat_cols)
    shown = rel.notna()
    bad_text = (released[stat_cols] != "") & ~shown
    for c in bad_text.columns[bad_text.any()]:
        out.append(Finding(file, f"column {c}", "value that is not a number", released.loc[bad_text[c], c].iloc[0]))
    inner = inner.reindex(columns=sorted(set(internal.columns)))
    counts_cols = [c for c in inner.columns if c.startswith("n_")]
    inner[counts_cols] = inner[counts_cols].fillna(0)
    pop = inner[population].fillna(0)

    def where(i, col) -> str:
        return " ".join(f"{k}={released.at[i, k]}" for k in key) + f", column {col}"

    # Derived values only with their estimate.
    for c in stat_cols:
        for s in DERIVED:
            if c.endswith(s):
                base = c[: -len(s)]
                lost = shown[c] & (~shown[base] if base in shown.columns else True)
                for i in released.index[lost][:5]:
                    out.append(Finding(file, where(i, c), "derived value released without its estimate", base))
    # Primary rules.
    for c in stat_cols:
        if c.endswith(DERIVED) or not shown[c].any():
            continue
        on = shown[c]
        cols = cells.reveals.get(c, ())
        if c == population or (c.startswith("n_") and not cols):
            bad = on & (inner[c].fillna(0) < lim.min_n)
            rule = f"count < {lim.min_n}"
        elif len(cols) == 1:
            part = inner[c]
            bad = on & ((part < lim.min_events) | (pop - part < lim.min_events))
            rule = f"count: part or rest < {lim.min_events}"
        elif len(cols) == 2:
            k, n = inner[cols[0]].fillna(0), inner[cols[1]].fillna(0)
            bad = on & ((k < lim.min_events) | (n - k < lim.min_events))
            rule = f"proportion: numerator or complement < {lim.min_events}"
        elif len(cols) == 4:
            k1, n1, k0, n0 = (inner[q].fillna(0) for q in cols)
            bad = on & (pd.concat([k1, n1 - k1, k0, n0 - k0], axis=1).min(axis=1) < lim.min_events)
            rule = f"ratio: a cell of its 2x2 table < {lim.min_events}"
        elif f"_{c}_k" in inner.columns:
            k, n = inner[f"_{c}_k"].fillna(0), inner[f"_{c}_n"].fillna(0)
            bad = on & ((k < lim.min_events) | (n - k < lim.min_events) | (pop - n < lim.min_events))
            rule = f"proportion: numerator, complement or the rest of the area < {lim.min_events}"
        elif f"_{c}_n" in inner.columns:
            n = inner[f"_{c}_n"].fillna(0)
            outside = pop - n
            bad = on & ((n - 2 < lim.min_df) | ((outside > 0) & (outside < lim.min_events)))
            if c == "kk_p25":
                bad |= on & (outside < lim.min_events)
            rule = f"regression: residual df < {lim.min_df} or too few children outside it"
        else:
            out.append(Finding(file, f"column {c}", "no rule known for this statistic"))
            continue
        bad |= on & (pop < lim.min_n)
        for i in released.index[bad][:5]:
            out.append(Finding(file, where(i, c), rule))
        if int(bad.sum()) > 5:
            out.append(Finding(file, f"column {c}", rule, f"{int(bad.sum())} cells in all"))
    # Released counts must be the internal ones (rounded where configured): a mismatch means the
    # keys do not line up and nothing above can be trusted.
    for c in [c for c in stat_cols if c.startswith("n_")]:
        on = shown[c]
        want = inner[c].astype(float)
        if lim.round_counts_to:
            b = lim.round_counts_to
            want = np.floor(want / b + 0.5) * b
        bad = on & ((rel[c] - want).abs() > 1e-9)
        for i in released.index[bad][:3]:
            out.append(Finding(file, where(i, c), "released count differs from the internal count",
                               f"{_fmt(rel.at[i, c])} vs {_fmt(inner.at[i, c])}"))
    if lim.round_counts_to:
        # An exact rate next to a rounded count gives the count back: rates go to two decimals
        # (rank measures keep their precision), reliabilities aside.
        for c in stat_cols:
            v = rel[c][shown[c]]
            base = next((c[: -len(s)] for s in DERIVED if c.endswith(s)), c)
            if c.startswith("n_") and ((v % lim.round_counts_to) != 0).any():
                out.append(Finding(file, f"column {c}", f"count not rounded to {lim.round_counts_to}"))
            is_rate = len(cells.reveals.get(base, ())) >= 2 or f"_{base}_k" in inner.columns
            if is_rate and not c.endswith("_reliability") and ((v * 100 - (v * 100).round()).abs() > 1e-6).any():
                out.append(Finding(file, f"column {c}", "rate not rounded to two decimals next to rounded counts"))
    # Within a row: no combination of cells under the threshold recoverable by subtraction.
    model_stats = [c for c in stat_cols if c in cells.reveals and all(q in inner.columns for q in cells.reveals[c])]
    counts_in_model = [c for c in cells.counts if c.startswith("n_") and c in inner.columns]
    derivable = pd.DataFrame(False, index=released.index, columns=counts_in_model)
    pattern = shown[model_stats].apply(lambda r: tuple(c for c, on in r.items() if on), axis=1) \
        if model_stats else pd.Series([()] * len(released), index=released.index)
    for pat, rows in pattern.groupby(pattern).groups.items():
        if not pat:
            continue
        cols = tuple(sorted({q for s in pat for q in cells.reveals[s]}))
        combos, coef = cells.solve(cols)
        if not len(combos):
            continue
        values = np.rint(inner.loc[rows, list(cols)].fillna(0).to_numpy(dtype=float) @ coef.T)
        small = values < lim.min_events
        for r_i, c_i in zip(*np.nonzero(small)):
            i = rows[r_i]
            out.append(Finding(file, " ".join(f"{k}={released.at[i, k]}" for k in key),
                               f"cells recoverable by subtraction hold < {lim.min_events}",
                               f"{cells.describe(combos[c_i])} = {int(values[r_i, c_i])} from {', '.join(pat)}"))
            if sum(f.rule.startswith("cells recoverable") for f in out) > 50:
                break
        found = {tuple(v) for v in combos}
        for c in counts_in_model:
            if cells.counts[c] in found:
                derivable.loc[rows, c] = True
    return out, derivable


# --------------------------------------------------------------------------- between rows

def nested_findings(parts: pd.DataFrame, *, counts: list[str], lim: Limits, population: str) -> list[Finding]:
    """Recovery by subtraction between rows: under every total that gives a count away, the parts
    that do not give it away (among those holding anybody) must not be exactly one, and together
    must hold none or at least the threshold.

    ``parts``: one row per (partition, part) with columns ``total`` (key of the total row),
    ``part`` (key of the part), ``file`` (the part's file), ``total_shows_<count>``, ``shows_<count>`` (booleans), the
    internal ``<count>`` of the part and ``inhabited``.
    """
    out = []
    p = parts[parts["inhabited"]]
    for c in counts:
        if f"total_shows_{c}" not in p.columns:  # a table without this count (e.g. the new-line young adults)
            continue
        need = lim.min_n if c == population else lim.min_events
        q = p[p[f"total_shows_{c}"] & ~p[f"shows_{c}"]]
        if q.empty:
            continue
        g = q.groupby(["partition", "total"])
        held = pd.DataFrame({"k": g.size(), "sum": g[c].sum(), "first": g["part"].first(), "file": g["file"].first()})
        bad = held[(held["k"] == 1) | (held["sum"] < need)]
        for (partition, total), r in bad.head(20).iterrows():
            what = (f"exactly one withheld part ({r['first']}) recoverable"
                    if r["k"] == 1 else f"{int(r['k'])} withheld parts together hold {int(r['sum'])} < {need}")
            out.append(Finding(r["file"], f"{partition}: total {total}, column {c}", "recoverable by subtraction",
                               what))
    return out


def _parent_codes(code: str, *, region: str) -> dict[str, str]:
    if code.startswith("BU"):
        return {"wijk": "WK" + code[2:8], "gemeente": "GM" + code[2:6], "region": region}
    if code.startswith("WK"):
        return {"gemeente": "GM" + code[2:6], "region": region}
    if code.startswith("GM"):
        return {"region": region}
    return {}


# --------------------------------------------------------------------------- exported tables

def _parts(partition: list[str], keys: list[str], totals: list[str | None], shows: pd.DataFrame,
           total_shows: pd.DataFrame, inner: pd.DataFrame, *, file: str) -> pd.DataFrame:
    """Rows for :func:`nested_findings`: each part with its total and what both give away."""
    d = pd.DataFrame({"partition": partition, "part": keys, "total": totals, "file": file}, dtype=object)
    d = d[d["total"].notna()].reset_index(drop=True)
    pop_col = "n_children" if "n_children" in inner.columns else "n_young_adults"
    d["inhabited"] = inner[pop_col].reindex(d["part"]).fillna(0).to_numpy() > 0
    for c in shows.columns:
        d[f"shows_{c}"] = shows[c].astype(bool).reindex(d["part"], fill_value=False).to_numpy(dtype=bool)
        d[f"total_shows_{c}"] = (total_shows[c].astype(bool).reindex(d["total"], fill_value=False).to_numpy(dtype=bool)
                                 if c in total_shows.columns else False)
        d[c] = inner[c].reindex(d["part"]).fillna(0).to_numpy() if c in inner.columns else 0
    return d


def audit_transmission(tables: Mapping[str, pd.DataFrame], internal: Internal, *, lim: Limits,
                       files: Mapping[str, str]) -> list[Finding]:
    """The transmission tables of all levels: each cell, each row, and nested areas and groups."""
    out: list[Finding] = []
    shows, inner_all = {}, {}
    for lvl, t in tables.items():
        file = files[lvl]
        found = record_level(t, file=file, key=["area_code", "group"])
        out += found
        if found or not {"area_code", "group"} <= set(t.columns):
            continue
        m = internal.measures.get(lvl)
        if m is None:
            out.append(Finding(file, "table", "no internal table to check against"))
            continue
        inner = m.set_index("key")
        released = t.assign(_key=np.where(t["group"] == TOTAL, t["area_code"], t["area_code"] + "|" + t["group"]))
        f, derivable = audit_table(released, inner, file=file, cells=TRANSMISSION, lim=lim, key=["_key"],
                                   population="n_children")
        out += f
        derivable.index = pd.Index(released["_key"].to_numpy(dtype=object))
        shows[lvl], inner_all[lvl] = derivable, inner
    # Between rows: areas within higher areas (per group too), and groups within their area.
    rows = []
    for lvl, d in shows.items():
        inner = inner_all[lvl]
        keys = [str(k) for k in inner.index.union(d.index)]
        code = [k.split("|")[0] for k in keys]
        group = [k.split("|")[1] if "|" in k else TOTAL for k in keys]
        for up in ("wijk", "gemeente", "region"):
            if up not in shows or up == lvl:
                continue
            ups = [_parent_codes(c, region=internal.region_name).get(up) for c in code]
            totals = [None if u is None else (u if g == TOTAL else f"{u}|{g}") for u, g in zip(ups, group)]
            rows.append(_parts([f"{lvl} in {up}"] * len(keys), keys, totals, d, shows[up], inner, file=files[lvl]))
        gk = [i for i, g in enumerate(group) if g != TOTAL]
        rows.append(_parts([f"groups '{group[i].split('=')[0]}' of {lvl}" for i in gk], [keys[i] for i in gk],
                           [code[i] for i in gk], d, d, inner, file=files[lvl]))
    rows = [r for r in rows if len(r)]
    if rows:
        counts = [c for c in TRANSMISSION.counts if c.startswith("n_")]
        out += nested_findings(pd.concat(rows, ignore_index=True), counts=counts, lim=lim, population="n_children")
    return out


YA_MEMBERS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "n_young_adults": lambda f: pd.Series(True, index=f.index),
    "n_poor": lambda f: f["poor"], "n_lt_poor": lambda f: f["lt_poor"], "n_away": lambda f: f["away"],
    "n_away_father": lambda f: f["away"] & f["father_valid"],
    "n_away_father_poor": lambda f: f["away"] & f["father_valid"] & f["father_poor"],
    "n_away_mother": lambda f: f["away"] & f["mother_valid"],
    "n_away_mother_poor": lambda f: f["away"] & f["mother_valid"] & f["mother_poor"],
    "n_poor_away": lambda f: f["poor"] & f["away"],
    "n_poor_away_father": lambda f: f["poor"] & f["away"] & f["father_valid"],
    "n_poor_away_father_poor": lambda f: f["poor"] & f["away"] & f["father_valid"] & f["father_poor"],
    "n_poor_away_mother": lambda f: f["poor"] & f["away"] & f["mother_valid"],
    "n_poor_away_mother_poor": lambda f: f["poor"] & f["away"] & f["mother_valid"] & f["mother_poor"],
}


def year_findings(shows: pd.DataFrame, inner: pd.DataFrame, persons: pd.DataFrame, *, level: str, region: str,
                  file: str, lim: Limits) -> list[Finding]:
    """Differences between years of one area: where a count's persons of one year are a subset of
    another year's and both years give the count away, the difference must not be 1 to the
    threshold - 1 persons.

    ``shows``/``inner`` are indexed "year|area_code"; ``persons`` holds the person-level flags.
    """
    out = []
    year = np.array([int(k.split("|")[0]) for k in shows.index])
    area = np.array([k.split("|", 1)[1] for k in shows.index], dtype=object)
    flags = persons.assign(_area=region if level == "region" else persons[level])
    for c in shows.columns:
        if c not in YA_MEMBERS:
            continue
        need = lim.min_n if c == "n_young_adults" else lim.min_events
        on = shows[c].to_numpy(dtype=bool)
        r = pd.DataFrame({"area": area[on], "year": year[on], "n": inner[c].reindex(shows.index[on]).fillna(0).to_numpy()})
        pairs = r.merge(r, on="area", suffixes=("_s", "_t"))
        pairs = pairs[(pairs["n_t"] - pairs["n_s"] > 0) & (pairs["n_t"] - pairs["n_s"] < need)]
        if pairs.empty:
            continue
        who = flags.loc[YA_MEMBERS[c](flags).astype(bool), ["RINPERSOON", "_area", "year"]]
        who = who[who["_area"].isin(set(pairs["area"]))]
        sets = {k: set(v) for k, v in who.groupby(["_area", "year"])["RINPERSOON"]}
        for p in pairs.itertuples(index=False):
            if sets.get((p.area, p.year_s), set()) <= sets.get((p.area, p.year_t), set()):
                out.append(Finding(file, f"area_code={p.area}, column {c}, years {p.year_s} and {p.year_t}",
                                   "the difference between two years isolates a small group",
                                   f"{int(p.n_t - p.n_s)} persons"))
    return out


def audit_young_adults(tables: Mapping[str, pd.DataFrame], internal: Internal, *, lim: Limits,
                       files: Mapping[str, str]) -> list[Finding]:
    """The young-adult tables: each cell and row per year, nested areas within a year, and
    differences between years."""
    out: list[Finding] = []
    shows, inner_all = {}, {}
    for lvl, t in tables.items():
        file = files[lvl]
        found = record_level(t, file=file, key=["year", "area_code"])
        out += found
        m = internal.young_adults.get(lvl)
        if found or not {"year", "area_code"} <= set(t.columns):
            continue
        if m is None:
            out.append(Finding(file, "table", "no internal table to check against"))
            continue
        inner = m.assign(_key=m["year"].astype(int).astype(str) + "|" + m["area_code"].astype(str)).set_index("_key")
        released = t.assign(_key=t["year"].astype(str) + "|" + t["area_code"])
        f, derivable = audit_table(released, inner, file=file, cells=YOUNG_ADULTS, lim=lim, key=["_key"],
                                   population="n_young_adults")
        out += f
        derivable.index = pd.Index(released["_key"].to_numpy(dtype=object))
        shows[lvl], inner_all[lvl] = derivable, inner
        if internal.ya_persons is not None:
            out += year_findings(derivable, inner, internal.ya_persons, level=lvl, region=internal.region_name,
                                 file=file, lim=lim)
    rows = []
    for lvl, d in shows.items():
        keys = [str(k) for k in inner_all[lvl].index.union(d.index)]
        for up in ("gemeente", "region"):
            if up not in shows or up == lvl:
                continue
            totals = []
            for k in keys:
                y, code = k.split("|", 1)
                u = _parent_codes(code, region=internal.region_name).get(up)
                totals.append(None if u is None else f"{y}|{u}")
            rows.append(_parts([f"{lvl} in {up}"] * len(keys), keys, totals, d, shows[up], inner_all[lvl],
                               file=files[lvl]))
    rows = [r for r in rows if len(r)]
    if rows:
        out += nested_findings(pd.concat(rows, ignore_index=True), counts=list(YOUNG_ADULTS.counts), lim=lim,
                               population="n_young_adults")
    return out


def young_adults_between_lines(new: Mapping[str, pd.DataFrame], old: Mapping[str, pd.DataFrame], internal: Internal,
                               *, lim: Limits, files: Mapping[str, str]) -> list[Finding]:
    """The new-line young adults are the §8 young adults less those without a new-line status: where
    the new table gives its number away (the count or the share), the §8 table must show its own,
    and the two must be equal or differ by at least ``min_n``."""
    out = []
    for lvl, t in new.items():
        if not len(t) or lvl not in old or internal.ya_line is None or lvl not in internal.ya_line:
            continue
        shown = _numbers(t, ["n_young_adults", "share_poor"]).notna().any(axis=1)
        o = old[lvl]
        o_shown = dict(zip(zip(o["year"].astype(int), o["area_code"]), _numbers(o, ["n_young_adults"])["n_young_adults"]))
        n_old = internal.young_adults[lvl].set_index(["year", "area_code"])["n_young_adults"] \
            if lvl in internal.young_adults else pd.Series(dtype=float)
        n_new = internal.ya_line[lvl].set_index(["year", "area_code"])["n_young_adults"]
        for i in t.index[shown]:
            key = (int(t.at[i, "year"]), t.at[i, "area_code"])
            diff = float(n_old.get(key, 0)) - float(n_new.get(key, 0))
            if pd.isna(o_shown.get(key, np.nan)) or not (lim.round_counts_to or diff == 0 or diff >= lim.min_n):
                out.append(Finding(files[lvl], f"year={key[0]}, area_code={key[1]}",
                                   "the new poverty line gives away young adults the §8 table withholds",
                                   f"difference {int(diff)}"))
    return out


def _unit_years(label: str) -> tuple[int, int]:
    lo, _, hi = str(label).partition("-")
    return int(lo), int(hi or lo)


def between_units_findings(vectors: list[np.ndarray], values: np.ndarray, withheld: np.ndarray, *, need: int,
                           where: str, file: str) -> list[Finding]:
    """Recovery by subtraction between overlapping cohorts of one area and count: the released units
    (0/1 over birth years) must not give a single withheld birth year, nor two withheld birth years
    that together hold fewer than ``need``. Checked by matrix rank: a vector is determined when adding
    it to the released rows does not raise their rank."""
    if not vectors or not withheld.any():
        return []
    m = np.vstack(vectors).astype(float)
    rank = np.linalg.matrix_rank(m)
    idx = np.flatnonzero(withheld)
    out = []

    def determined(v):
        return np.linalg.matrix_rank(np.vstack([m, v])) == rank
    for i in idx:
        e = np.zeros(m.shape[1])
        e[i] = 1
        if determined(e):
            out.append(Finding(file, where, "a withheld birth year follows from the released cohorts", f"column {i}"))
    for a_i, i in enumerate(idx):
        for j in idx[a_i + 1:]:
            e = np.zeros(m.shape[1])
            e[[i, j]] = 1
            if values[i] + values[j] < need and determined(e):
                out.append(Finding(file, where, "two withheld birth years follow from the released cohorts",
                                   f"together {int(values[i] + values[j])} < {need}"))
    return out


def audit_cohorts(tables: Mapping[str, pd.DataFrame], internal: Internal, *, lim: Limits, files: Mapping[str, str],
                  transmission: Mapping[str, pd.DataFrame] | None = None) -> list[Finding]:
    """The per-cohort tables: each cell and row against the internal rolling measures, nested areas
    within a cohort, and differences between overlapping cohorts (single birth years, pools and the
    pooled ``transmission_*`` table of ``internal.pooled_birth_years``)."""
    out: list[Finding] = []
    if internal.cohorts is None:
        return [Finding(files[k], "table", "no internal table to check against") for k in tables]
    shows, inner_all, unit_of = {}, {}, {}
    for lvl, t in tables.items():
        file = files[lvl]
        key = ["cohort", "line", "area_code"]
        found = record_level(t, file=file, key=key)
        out += found
        if found or not set(key) <= set(t.columns):
            continue
        inner = internal.cohorts.get(lvl)
        if inner is None:
            out.append(Finding(file, "table", "no internal table to check against"))
            continue
        released = t.assign(_key=t["cohort"] + "|" + t["line"] + "|" + t["area_code"])
        f, derivable = audit_table(released, inner, file=file, cells=TRANSMISSION, lim=lim, key=["_key"],
                                   population="n_children")
        out += f
        derivable.index = pd.Index(released["_key"].to_numpy(dtype=object))
        shows[lvl], inner_all[lvl] = derivable, inner
    # Nested areas within each cohort and line.
    rows = []
    for lvl, d in shows.items():
        keys = [str(k) for k in inner_all[lvl].index.union(d.index)]
        for up in ("gemeente", "region"):
            if up not in shows or up == lvl:
                continue
            totals = []
            for k in keys:
                unit, line, code = k.split("|", 2)
                u = _parent_codes(code, region=internal.region_name).get(up)
                totals.append(None if u is None else f"{unit}|{line}|{u}")
            rows.append(_parts([f"{lvl} in {up}"] * len(keys), keys, totals, d, shows[up], inner_all[lvl],
                               file=files[lvl]))
    rows = [r for r in rows if len(r)]
    counts = ["n_children", "n_parents_poor", "n_child_poor", "n_both_poor"]
    if rows:
        out += nested_findings(pd.concat(rows, ignore_index=True), counts=counts, lim=lim, population="n_children")
    # Between overlapping cohorts of the same area, count and line.
    pooled = {}
    if transmission and internal.pooled_birth_years:
        for lvl in shows:
            t = transmission.get(lvl)
            if t is None or internal.measures.get(lvl) is None:
                continue
            t = t[t["group"] == TOTAL]
            inner = internal.measures[lvl].set_index("key")
            _, d = audit_table(t.assign(_key=t["area_code"]), inner, file="", cells=TRANSMISSION, lim=lim,
                               key=["_key"], population="n_children")
            d.index = pd.Index(t["area_code"].to_numpy(dtype=object))
            pooled[lvl] = d
    # Between the two poverty lines: the same children, so the new line may give away the parents' side
    # only where the lage-inkomensgrens row does, and where both populations are equal or differ by at
    # least the threshold.
    for lvl, d in shows.items():
        inner = inner_all[lvl]
        for k in d.index:
            unit, ln, code = k.split("|", 2)
            if ln == "lage-inkomensgrens":
                continue
            old = f"{unit}|lage-inkomensgrens|{code}"
            for c in ("n_children", "n_parents_poor"):
                if c not in d.columns or not d.at[k, c]:
                    continue
                diff = float(inner[c].get(old, 0) or 0) - float(inner[c].get(k, 0) or 0)
                need = lim.min_n if c == "n_children" else lim.min_events
                shown_old = old in d.index and bool(d.at[old, c])
                if not shown_old or not (diff == 0 or diff >= need):
                    out.append(Finding(files[lvl], f"cohort {unit}, area_code={code}, column {c}",
                                       "the new poverty line gives away what the lage-inkomensgrens withholds",
                                       f"difference {int(diff)}"))
    for lvl, d in shows.items():
        inner = inner_all[lvl]
        labels = pd.Series([k.split("|", 2) for k in d.index], index=d.index)
        unit = labels.str[0]
        line = labels.str[1]
        area = labels.str[2]
        singles = sorted({int(u) for u in unit if "-" not in u})
        pos = {b: i for i, b in enumerate(singles)}

        def vec(lo, hi):
            v = np.zeros(len(singles))
            for b in range(lo, hi + 1):
                if b not in pos:
                    return None
                v[pos[b]] = 1
            return v
        for (ln, code), idx in d.groupby([line, area]).groups.items():
            for c in counts:
                vectors, values, withheld = [], np.zeros(len(singles)), np.zeros(len(singles), dtype=bool)
                for k in idx:
                    lo, hi = _unit_years(k.split("|")[0])
                    v = vec(lo, hi)
                    if v is None:
                        continue
                    if d.at[k, c]:
                        vectors.append(v)
                    if lo == hi:
                        n = float(inner[c].get(k, 0) or 0)
                        values[pos[lo]] = n
                        withheld[pos[lo]] = (not d.at[k, c]) and float(inner["n_children"].get(k, 0) or 0) > 0
                p = pooled.get(lvl)
                if ln == "lage-inkomensgrens" and p is not None and code in p.index and c in p.columns \
                        and p.at[code, c]:
                    v = vec(*internal.pooled_birth_years)
                    if v is not None:
                        vectors.append(v)
                out += between_units_findings(vectors, values, withheld,
                                              need=lim.min_n if c == "n_children" else lim.min_events,
                                              where=f"area_code={code}, line {ln}, column {c}", file=files[lvl])
    return out


def audit_attrition(t: pd.DataFrame, internal: pd.DataFrame | None, *, file: str, lim: Limits) -> list[Finding]:
    """Attrition counts: rounded to tens, empty where the unrounded count is 1 to min_n - 1."""
    key = ["step", "check", "unit"]
    out = record_level(t, file=file, key=key)
    if internal is None:
        return out + [Finding(file, "table", "no internal attrition to check against")]
    inner = internal.drop_duplicates(key).set_index(key)
    cols = [c for c in ("n_before", "n_after", "n_dropped") if c in t.columns]
    rel = _numbers(t, cols)
    for i in t.index:
        k = tuple(t.loc[i, key])
        if k not in inner.index:
            out.append(Finding(file, f"row {i + 2}", "row not in the internal attrition", " / ".join(k)))
            continue
        for c in cols:
            v, r = float(inner.at[k, c]), rel.at[i, c]
            if pd.isna(r):
                continue
            if 0 < v < lim.min_n or r % 10 != 0 or abs(r - v) > 5:
                out.append(Finding(file, f"row {i + 2} ({k[0]}: {k[1]}), column {c}",
                                   f"attrition count not rounded to tens or under {lim.min_n}"))
    return out


def audit_output_check(check: dict, tables: Mapping[str, pd.DataFrame], *, file: str, lim: Limits) -> list[Finding]:
    """The output-check JSON: withheld cells carry no value or n; released cells carry the value of
    the released table; with rounding, no unrounded n."""
    out = []
    cells = pd.DataFrame(check.get("cells", []))
    if cells.empty:
        return [Finding(file, "cells", "no cells listed")]
    for c in ("year", "group", "value", "unrounded_n"):
        if c not in cells.columns:
            cells[c] = np.nan
    held = ~cells["released"].astype(bool)
    leak = held & (cells["value"].notna() | cells["unrounded_n"].notna())
    for r in cells[leak].head(10).itertuples(index=False):
        out.append(Finding(file, f"{r.table} {r.area_code} {r.statistic}", "withheld cell carries a value or n"))
    if lim.round_counts_to and cells["unrounded_n"].notna().any():
        out.append(Finding(file, "cells", "unrounded n listed although counts are rounded"))
    long = []
    for name, t in tables.items():
        key = [c for c in ("year", "area_code", "group") if c in t.columns]
        stats = [c for c in t.columns if c not in KEY_COLUMNS]
        v = _numbers(t, stats)
        v[key] = t[key]
        m = v.melt(id_vars=key, var_name="statistic", value_name="csv")
        m["table"] = name
        long.append(m)
    csv = pd.concat(long, ignore_index=True)
    csv["year"] = pd.to_numeric(csv.get("year"), errors="coerce")
    csv["group"] = csv["group"].where(csv["group"].notna(), None) if "group" in csv.columns else None
    cells["year"] = pd.to_numeric(cells["year"], errors="coerce")
    on = ["table", "area_code", "statistic", "year", "group"]
    for d in (cells, csv):
        d["group"] = d["group"].fillna("").astype(str)
        d["year"] = d["year"].fillna(-1).astype(int)
        d["area_code"] = d["area_code"].astype(str)
    j = cells.merge(csv, on=on, how="left", indicator=True)
    missing = j["_merge"] != "both"
    for r in j[missing].head(5).itertuples(index=False):
        out.append(Finding(file, f"{r.table} {r.area_code} {r.statistic}", "cell not in the released tables"))
    j = j[~missing]
    rel = j["released"].astype(bool)
    val = pd.to_numeric(j["value"], errors="coerce")
    wrong = (rel & ((val - j["csv"]).abs() > 1e-9 * np.maximum(1, val.abs()))) | (~rel & j["csv"].notna()) \
        | (rel & val.isna() & j["csv"].notna())
    for r in j[wrong].head(10).itertuples(index=False):
        out.append(Finding(file, f"{r.table} {r.area_code} {r.statistic}",
                           "output check and released table disagree", f"{r.value} vs {r.csv}"))
    counts = rel & j["statistic"].str.startswith("n_") & j["unrounded_n"].notna()
    bad_n = counts & ((pd.to_numeric(j["unrounded_n"], errors="coerce") - j["csv"]).abs() > 0) & ~bool(lim.round_counts_to)
    for r in j[bad_n].head(10).itertuples(index=False):
        out.append(Finding(file, f"{r.table} {r.area_code} {r.statistic}", "unrounded n of a count differs from "
                                                                              "the released count"))
    small = rel & (pd.to_numeric(j["unrounded_n"], errors="coerce") < min(lim.min_n, lim.min_events))
    for r in j[small].head(10).itertuples(index=False):
        out.append(Finding(file, f"{r.table} {r.area_code} {r.statistic}", "released cell with n under the threshold"))
    return out


def model_assumptions(internal: Internal) -> list[Finding]:
    """The cell models take long-term poor as part of poor, with the same persons known for both;
    records that break that would make the within-row check unsound."""
    out = []
    s = internal.statuses
    if s is not None:
        for who in ("parents", "child"):
            poor, lt = s[f"{who}_poor"], s[f"{who}_lt_poor"]
            bad = (lt.fillna(False).astype(bool) & ~poor.fillna(False).astype(bool)) | (lt.isna() != poor.isna())
            if bad.any():
                out.append(Finding("data/processed/status/statuses.parquet", f"{int(bad.sum())} children",
                                   f"{who}: long-term poor without poor, or known for one only",
                                   "the disclosure cell model assumes long-term poor is a part of poor"))
    f = internal.ya_persons
    if f is not None:
        bad = f["lt_poor"].astype(bool) & ~f["poor"].astype(bool)
        if bad.any():
            out.append(Finding("data/processed/young_adults/young_adults_persons.parquet", f"{int(bad.sum())} rows",
                               "long-term poor without poor", "the disclosure cell model assumes the contrary"))
    return out


# --------------------------------------------------------------------------- all files

def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_KNOWN = {
    re.compile(r"reports/tables/transmission_(buurt|wijk|gemeente|region)\.csv"): "transmission",
    re.compile(r"reports/tables/young_adults_(gemeente|wijk|region)\.csv"): "young_adults",
    re.compile(r"reports/tables/attrition\.csv"): "attrition",
    re.compile(r"reports/tables/cohorts_(gemeente|wijk|region)\.csv"): "cohorts",
    re.compile(r"reports/tables/young_adults_line_(gemeente|wijk|region)\.csv"): "young_adults_line",
    re.compile(r"reports/output_check(?:_trend)?\.json"): "output_check",
    re.compile(r"reports/output_check(?:_trend)?\.md"): "output_check_text",
}


def kind_of(rel: str) -> tuple[str, str | None]:
    for rx, kind in _KNOWN.items():
        m = rx.fullmatch(rel)
        if m:
            return kind, (m.group(1) if m.groups() else None)
    return "other", None


def audit_outputs(root: Path, *, internal: Internal, lim: Limits, provenance: Mapping[str, list[str]],
                  public: Iterable[str] = (), code_dirs: Iterable[str] = (), exclude: Iterable[str] = (),
                  dirs: Iterable[str] = ("reports", "figures")) -> AuditResult:
    """Audit every file under ``root/dirs`` (paths relative to ``root``), except ``exclude``.

    ``provenance``: for files other than the exported tables and the output check, the files each
    was built from (paths relative to ``root``, or absolute for code); each must be an audited file,
    one of ``public`` (e.g. the boundary file) or code under ``code_dirs``.
    """
    res = AuditResult()
    exclude = {str(Path(e)) for e in exclude}
    paths = sorted(p for d in dirs if (root / d).is_dir() for p in (root / d).rglob("*")
                   if p.is_file() and not p.name.startswith(".") and str(p.relative_to(root)) not in exclude)
    rels = [str(p.relative_to(root)).replace("\\", "/") for p in paths]
    audited = set(rels)
    trans, ya, trans_files, ya_files = {}, {}, {}, {}
    coh, coh_files, yal, yal_files = {}, {}, {}, {}
    checks = []
    for p, rel in zip(paths, rels):
        kind, level = kind_of(rel)
        entry = {"path": rel, "sha256": sha256(p), "bytes": p.stat().st_size, "kind": kind}
        res.files.append(entry)
        if p.suffix.lower() in TEXT_SUFFIXES:
            text = p.read_text(encoding="utf-8", errors="replace")
            res.findings += scan_text(text, file=rel)
            entry["checks"] = ["RIN-like identifiers"]
        else:
            text = None
        if kind == "transmission":
            trans[level], trans_files[level] = read_released_csv(p), rel
        elif kind == "young_adults":
            ya[level], ya_files[level] = read_released_csv(p), rel
        elif kind == "cohorts":
            coh[level], coh_files[level] = read_released_csv(p), rel
        elif kind == "young_adults_line":
            yal[level], yal_files[level] = read_released_csv(p), rel
        elif kind == "attrition":
            res.findings += audit_attrition(read_released_csv(p), internal.attrition, file=rel, lim=lim)
            entry["checks"].append("attrition rounding and threshold")
        elif kind == "output_check":
            checks.append((json.loads(text), rel))
        elif kind == "other":
            if p.suffix.lower() in (".csv", ".tsv"):
                t = pd.read_csv(p, dtype=str, keep_default_na=False, sep=None, engine="python")
                # Rows of a table of statistics differ in their labels; rows that repeat every label
                # are records.
                numeric = _numbers(t, t.columns).notna() | (t == "")
                key = [c for c in t.columns if not numeric[c].all()]
                res.findings += record_level(t, file=rel, key=key or list(t.columns))
                entry["checks"].append("record-level rows")
            res.findings += provenance_findings(rel, provenance, audited=audited, public=public, code_dirs=code_dirs,
                                                root=root, entry=entry)
    if trans:
        res.findings += audit_transmission(trans, internal, lim=lim, files=trans_files)
    if ya:
        res.findings += audit_young_adults(ya, internal, lim=lim, files=ya_files)
    for e in res.files:
        if e["kind"] in ("transmission", "young_adults"):
            e["checks"] += ["primary rules", "derived values", "cells within a row", "nested areas and groups"] \
                + (["differences between years"] if e["kind"] == "young_adults" else [])
    if coh:
        res.findings += audit_cohorts(coh, internal, lim=lim, files=coh_files, transmission=trans)
    if yal:
        line = Internal({}, internal.ya_line or {}, internal.ya_line_persons, region_name=internal.region_name)
        res.findings += audit_young_adults(yal, line, lim=lim, files=yal_files)
        res.findings += young_adults_between_lines(yal, ya, internal, lim=lim, files=yal_files)
    for e in res.files:
        if e["kind"] in ("cohorts", "young_adults_line"):
            e["checks"] += ["primary rules", "derived values", "cells within a row", "nested areas"] \
                + (["differences between cohorts"] if e["kind"] == "cohorts" else ["differences between years"])
    named = {f"transmission_{k}": v for k, v in trans.items()}
    named.update({f"young_adults_{k}": v for k, v in ya.items()})
    named.update({f"cohorts_{k}": v.assign(group=v["cohort"] + "|" + v["line"]) for k, v in coh.items()})
    named.update({f"young_adults_line_{k}": v for k, v in yal.items()})
    for check, rel in checks:
        mine = {t.split("/")[-1].removesuffix(".csv") for t in check.get("files", [])}
        sel = {k: v for k, v in named.items() if k in mine} if mine else named
        res.findings += audit_output_check(check, sel, file=rel, lim=lim)
    res.findings += model_assumptions(internal)
    return res


def provenance_findings(rel: str, provenance: Mapping[str, list[str]], *, audited: set[str], public: Iterable[str],
                        code_dirs: Iterable[str], root: Path, entry: dict) -> list[Finding]:
    """A file that the audit cannot re-derive must have been built only from audited files, public
    inputs and code."""
    if rel not in provenance:
        return [Finding(rel, "file", "unknown origin: not an exported table and no rule declares what it is built from")]
    out = []
    public = {str(Path(x)) for x in public}
    # Code may be named through Snakemake's source cache, which keeps the original path inside.
    code = [str(Path(c).resolve()).replace("\\", "/").strip("/") for c in code_dirs]
    sources = []
    for src in provenance[rel]:
        s = str(src).replace("\\", "/")
        p = Path(s) if Path(s).is_absolute() else root / s
        if s in audited:
            how = "audited"
        elif str(Path(s)) in public:
            how = "public"
        elif any(c and c in s for c in code):
            how = "code"
        else:
            how = None
            out.append(Finding(rel, f"input {s}", "built from a file that is neither audited, public nor code"))
        sources.append({"path": s, "as": how, "sha256": sha256(p) if p.is_file() else None})
    entry["built_from"] = sources
    entry["checks"] = entry.get("checks", []) + ["built only from audited tables, public inputs and code"]
    return out


# --------------------------------------------------------------------------- report and entry point

def audit_markdown(res: AuditResult, *, lim: Limits) -> str:
    lines = ["# Audit van de uitvoer / output audit", "",
             f"Datum / date: {dt.date.today().isoformat()}. Resultaat / result: "
             + ("**geslaagd / passed**" if res.passed else f"**afgekeurd / failed ({len(res.findings)})**"), "",
             f"Drempels / thresholds: n >= {lim.min_n}, teller en complement / numerator and complement >= "
             f"{lim.min_events}, vrijheidsgraden / df >= {lim.min_df}, afronding / rounding: "
             f"{lim.round_counts_to or 'geen / none'}.", "",
             "Elke tabel is opnieuw afgeleid uit de interne tabellen, los van de onderdrukkingscode; elk ander "
             "bestand is alleen gemaakt uit gecontroleerde bestanden, publieke invoer en code / every table was "
             "re-derived from the internal tables, apart from the suppression code; every other file was built only "
             "from audited files, public inputs and code.", "",
             "| bestand / file | soort / kind | controles / checks | sha256 |", "|---|---|---|---|"]
    for e in res.files:
        checks = "; ".join(e.get("checks", []))
        if e.get("built_from"):
            checks += "; uit / from " + ", ".join(f"`{s['path']}`" for s in e["built_from"] if s["as"] != "code")
        lines.append(f"| `{e['path']}` | {e['kind']} | {checks} | `{e['sha256'][:16]}` |")
    if res.findings:
        lines += ["", "## Bevindingen / findings", ""] + [f"- {f}" for f in res.findings]
    return "\n".join(lines) + "\n"


def load_internal(*, measures_dir: str, young_adults_dir: str, attrition: list[str], statuses: str | None,
                  region_name: str, rolling_dir: str | None = None,
                  pooled_birth_years: tuple[int, int] | None = None) -> Internal:
    """Read the internal tables the audit checks against; a missing one fails naming the file."""
    def need(path: str, what: str) -> Path:
        p = Path(path)
        if not p.is_file():
            raise PipelineInputError("internal table missing for the audit", file=str(p), table=what)
        return p
    measures = {lvl: io.read_parquet(need(f"{measures_dir}/measures_{lvl}.parquet", "measures"))
                for lvl in ("buurt", "wijk", "gemeente", "region")}
    ya = {lvl: io.read_parquet(need(f"{young_adults_dir}/young_adults_{lvl}.parquet", "young adults"))
          for lvl in ("gemeente", "wijk", "region")}
    persons = io.read_parquet(need(f"{young_adults_dir}/young_adults_persons.parquet", "young adults persons"))
    att = pd.concat([pd.read_csv(need(f, "attrition"), dtype={"step": str, "check": str, "unit": str})
                     for f in attrition], ignore_index=True) if attrition else None
    st = io.read_parquet(need(statuses, "statuses"), columns=["parents_poor", "parents_lt_poor", "child_poor",
                                                              "child_lt_poor"]) if statuses else None
    out = Internal(measures, ya, persons, att, st, region_name, pooled_birth_years=pooled_birth_years)
    if rolling_dir:
        levels = ("gemeente", "wijk", "region")
        m = {lvl: io.read_parquet(need(f"{rolling_dir}/measures_{lvl}.parquet", "rolling measures")) for lvl in levels}
        out.cohorts = {lvl: t.assign(_key=t["cohort"] + "|" + t["line"] + "|" + t["area_code"]).set_index("_key")
                       for lvl, t in m.items()}
        out.ya_line = {lvl: io.read_parquet(need(f"{rolling_dir}/young_adults_line_{lvl}.parquet", "young adults line"))
                       for lvl in levels}
        out.ya_line_persons = io.read_parquet(need(f"{rolling_dir}/young_adults_line_persons.parquet",
                                                   "young adults line persons"))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline audit", description=__doc__)
    ap.add_argument("--measures-dir", required=True)
    ap.add_argument("--young-adults-dir", required=True)
    ap.add_argument("--attrition", nargs="*", default=[])
    ap.add_argument("--statuses")
    ap.add_argument("--rolling-dir", help="internal tables of the rolling cohorts (issue #6)")
    ap.add_argument("--pooled-birth-years", type=int, nargs=2, help="birth years of transmission_*.csv")
    ap.add_argument("--region-name", required=True)
    ap.add_argument("--min-n", type=int, default=10)
    ap.add_argument("--min-events", type=int, default=10)
    ap.add_argument("--min-df", type=int, default=10)
    ap.add_argument("--round-counts-to", type=int, default=0)
    ap.add_argument("--provenance", default="{}", help="JSON: file -> the files its rule reads")
    ap.add_argument("--public", nargs="*", default=[], help="public inputs a figure may use (boundary file)")
    ap.add_argument("--code-dir", nargs="*", default=[])
    ap.add_argument("--root", default=".")
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-md", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("audit")
    lim = Limits(a.min_n, a.min_events, a.min_df, a.round_counts_to or None)
    internal = load_internal(measures_dir=a.measures_dir, young_adults_dir=a.young_adults_dir,
                             attrition=a.attrition, statuses=a.statuses, region_name=a.region_name,
                             rolling_dir=a.rolling_dir,
                             pooled_birth_years=tuple(a.pooled_birth_years) if a.pooled_birth_years else None)
    root = Path(a.root)
    res = audit_outputs(root, internal=internal, lim=lim, provenance=json.loads(a.provenance), public=a.public,
                        code_dirs=a.code_dir, exclude=[a.out_json, a.out_md])
    for e in res.files:
        io.log.info("audited %s (%s)", e["path"], e["kind"])
    if not res.passed:
        for f in res.findings[:200]:
            io.log.error("%s", f)
        raise SystemExit(f"audit failed: {len(res.findings)} findings in figures/ and reports/; the first: "
                         f"{res.findings[0]} (all in the log)")
    io.write_json({"generated": dt.datetime.now().isoformat(timespec="seconds"), "passed": True,
                   "thresholds": lim.__dict__, "files": res.files}, a.out_json)
    io.write_text(audit_markdown(res, lim=lim), a.out_md)
    io.log.info("audit passed: %d files", len(res.files))
    return 0
