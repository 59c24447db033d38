"""Export (methodology §10-§11): the tables that may leave, after disclosure control, and the
output-check report that lists every released cell with its rule and unrounded n."""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import disclosure, io
from .disclosure import Thresholds
from .measures import LEVELS, PROPORTIONS, REGRESSIONS, TOTAL
from .young_adults import COUNTS as YA_COUNTS
from .young_adults import SHARES

SUFFIXES = ("_ci_low", "_ci_high", "_eb", "_reliability")


def transmission_columns(available) -> list[str]:
    """The exported columns in order, of those the internal table has."""
    cols = ["area_code", "area_name", "level", "group", *disclosure.COUNTS]
    for name in ("outflow", "p_child_poor_parents_not_poor", "risk_ratio", "inflow",
                 "outflow_lt", "p_child_poor_parents_not_poor_lt", "risk_ratio_lt", "inflow_lt", "outflow_3gen",
                 *REGRESSIONS, "p_q1_q1", "p_q5_q1"):
        cols += [name] + [name + s for s in SUFFIXES if not (name.startswith("risk_ratio") and s in ("_eb", "_reliability"))]
    return [c for c in cols if c in set(available)] + ["suppressed"]


def area_frame(areas: pd.DataFrame, *, level: str, region_name: str) -> pd.DataFrame:
    """Area codes and names of one level, with each area's codes at the higher levels."""
    if level == "region":
        a = pd.DataFrame({"area_code": [region_name], "area_name": [region_name]})
    else:
        a = areas.loc[areas["level"] == level, ["area_code", "area_name"]].copy()
    a["region"] = region_name
    if level in ("buurt", "wijk"):
        a["gemeente"] = "GM" + a["area_code"].str[2:6]
    if level == "buurt":
        a["wijk"] = "WK" + a["area_code"].str[2:8]
    return a.set_index("area_code")


def complete(measures: pd.DataFrame, frame: pd.DataFrame, *, level: str) -> pd.DataFrame:
    """Measures on every area of the geography (zeros and empties where no children).

    Areas with children that the boundary file lacks are kept (their children count in every
    total) and named as such, so the totals of a level add up to the level above."""
    m = measures.set_index("area_code")
    extra = m.index.difference(frame.index)
    if len(extra):
        io.log.warning("%s: %d areas with children are not in the boundary file: %s", level, len(extra),
                       ", ".join(map(str, extra[:10])))
        add = pd.DataFrame({"area_name": "(niet in grenzenbestand)"}, index=extra)
        add["region"] = frame["region"].iloc[0]
        if level in ("buurt", "wijk"):
            add["gemeente"] = "GM" + extra.str[2:6]
        if level == "buurt":
            add["wijk"] = "WK" + extra.str[2:8]
        frame = pd.concat([frame, add])
    t = frame.join(m.drop(columns=["level", "key", "group"], errors="ignore"), how="left")
    _fill_counts(t)
    t["level"] = level
    t["group"] = TOTAL
    t["area_code"] = t.index
    return t


def _fill_counts(t: pd.DataFrame) -> None:
    for c in disclosure.COUNTS:
        if c in t.columns:
            t[c] = t[c].fillna(0).astype("int64")
    for c in [c for c in t.columns if c.startswith("_") and (c.endswith("_n") or c.endswith("_k"))]:
        t[c] = t[c].fillna(0)


def group_tables(measures: pd.DataFrame, frame: pd.DataFrame, *, level: str,
                 region_name: str) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Breakdown rows of one level as tables "level|breakdown" indexed "code|breakdown=label", with their
    ancestors: the area's total row, and the same group one level up (both partitions)."""
    tables, ancestors = {}, {}
    rows = measures[measures["group"] != TOTAL]
    for b, g in rows.groupby(rows["group"].str.split("=").str[0]):
        name = f"{level}|{b}"
        t = g.set_index("key").drop(columns=["level"])
        t["area_name"] = t["area_code"].map(frame["area_name"]).fillna("(niet in grenzenbestand)")
        t["level"] = level
        _fill_counts(t)
        label = t.index.str.split("|").str[1]
        anc = pd.DataFrame({level: t["area_code"]}, index=t.index)
        up = {"buurt": "wijk", "wijk": "gemeente", "gemeente": "region"}.get(level)
        if up:
            code = t["area_code"]
            up_code = (region_name if up == "region" else
                       ("GM" + code.str[2:6]) if up == "gemeente" else ("WK" + code.str[2:8]))
            anc[f"{up}|{b}"] = up_code + "|" + label
        tables[name], ancestors[name] = t, anc
    return tables, ancestors


def _rule_text(stat: str, th: Thresholds) -> str:
    if stat in REGRESSIONS:
        return (f"regression: residual df >= {th.min_df}; children outside it none or >= {th.min_events}"
                if stat != "kk_p25" else
                f"regression: residual df >= {th.min_df}; children outside the rank band >= {th.min_events}")
    if stat in ("p_q1_q1", "p_q5_q1"):
        return f"proportion: numerator, complement and children outside the quintile >= {th.min_events}"
    if stat in ("n_children", "n_young_adults"):
        return f"count: n >= {th.min_n}; nested areas and groups"
    if stat.startswith("n_"):
        return (f"count: part and rest >= {th.min_events}; no cell combination < {th.min_events} derivable; "
                "nested areas and groups")
    return (f"proportion: numerator and complement >= {th.min_events}; no cell combination < {th.min_events} "
            "derivable; nested areas and groups")


def _n_for(stat: str, table: pd.DataFrame) -> str:
    """The column holding the unrounded n behind ``stat``: a count itself, else the denominator."""
    if stat.startswith("n_") and stat in table.columns:
        return stat
    if f"_{stat}_n" in table.columns:
        return f"_{stat}_n"
    return "n_children"


def check_entries(table_name: str, internal: pd.DataFrame, reasons: pd.DataFrame, released: pd.DataFrame,
                  th: Thresholds, *, n_of=_n_for, rule_of=_rule_text, year=None) -> pd.DataFrame:
    """One row per cell (released or withheld) of one table: its rule or the reason it is withheld,
    whether that reason is primary or secondary, the released value and the unrounded n."""
    stats = list(reasons.columns)
    k, n = len(stats), len(internal)
    why = reasons.reindex(internal.index)[stats].to_numpy(dtype=object).T.ravel()
    ok = pd.isna(why)
    area = (internal["area_code"] if "area_code" in internal.columns else pd.Series(internal.index)).to_numpy(dtype=object)
    d = pd.DataFrame({"table": table_name, "area_code": np.tile(area, k),
                      "statistic": np.repeat(np.array(stats, dtype=object), n), "released": ok})
    if "group" in internal.columns:
        d.insert(2, "group", np.tile(internal["group"].to_numpy(dtype=object), k))
    if year is not None:
        d.insert(1, "year", int(year))
    d["unrounded_n"] = np.concatenate([internal[n_of(s, internal)].fillna(0).to_numpy(dtype="int64") for s in stats]) \
        if k else np.array([], dtype="int64")
    vals = np.concatenate([released[s].reindex(internal.index).to_numpy(dtype="float64", na_value=np.nan)
                           for s in stats]) if k else np.array([])
    rules = np.repeat(np.array([rule_of(s, th) for s in stats], dtype=object), n)
    d["rule"] = np.where(ok, rules, None)
    d["value"] = np.where(ok & ~np.isnan(vals), vals.astype(object), None)
    d["reason"] = np.where(ok, None, why)
    secondary = np.array([isinstance(w, str) and w.startswith("secondary") for w in why], dtype=bool)
    d["suppression"] = np.where(ok, None, np.where(secondary, "secondary", "primary"))
    for c in ("rule", "value", "reason", "suppression"):
        d[c] = d[c].astype(object)
    return d


def export_transmission(measures: dict[str, pd.DataFrame], areas: pd.DataFrame, *, region_name: str,
                        th: Thresholds) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict]:
    """Released transmission tables per level (group rows included), their output-check cells and,
    per level, how many areas (of the geography and of those with children) are released."""
    internal, ancestors = {}, {}
    for lvl in LEVELS:
        m = measures[lvl]
        if "group" not in m.columns:
            m = m.assign(group=TOTAL, key=m["area_code"])
        frame = area_frame(areas, level=lvl, region_name=region_name)
        internal[lvl] = complete(m[m["group"] == TOTAL], frame, level=lvl)
        ancestors[lvl] = internal[lvl][[c for c in ("region", "gemeente", "wijk") if c in internal[lvl].columns]]
        gt, ga = group_tables(m, frame, level=lvl, region_name=region_name)
        internal.update(gt)
        ancestors.update(ga)
    reasons = disclosure.decide(internal, ancestors=ancestors, th=th)
    tables, entries, released_areas = {}, [], {}
    for lvl in LEVELS:
        parts = []
        for name in [n for n in internal if n.split("|")[0] == lvl]:
            rel = disclosure.apply(internal[name], reasons[name], th=th)
            entries.append(check_entries(f"transmission_{lvl}", internal[name], reasons[name], rel, th))
            parts.append(rel.reset_index(drop=True))
        rel = pd.concat(parts, ignore_index=True)
        rel["_order"] = rel["group"] != TOTAL
        rel = rel.sort_values(["_order", "area_code", "group"], kind="mergesort")
        tables[lvl] = rel[transmission_columns(rel.columns)].reset_index(drop=True)
        main = internal[lvl]
        tot = tables[lvl][tables[lvl]["group"] == TOTAL].set_index("area_code")
        with_children = main.index[main["n_children"] > 0]
        released_areas[lvl] = {
            "areas": int(len(main)), "areas_with_children": int(len(with_children)),
            **{f"released_{c}": int(tot[c].notna().sum()) for c in ("n_children", "outflow")},
        }
        io.log.info("transmission_%s: %d areas, %d with children, n_children released for %d, outflow for %d; "
                    "%d group rows", lvl, len(main), len(with_children), released_areas[lvl]["released_n_children"],
                    released_areas[lvl]["released_outflow"], int((tables[lvl]["group"] != TOTAL).sum()))
    return tables, pd.concat(entries, ignore_index=True), released_areas


# --------------------------------------------------------------------------- young adults

def year_members(flags: pd.DataFrame, ind: pd.DataFrame, *, level: str, region_name: str,
                 wanted: pd.DataFrame) -> pd.DataFrame:
    """Who each count counts per area of ``level`` and year (long: person, area, year, count), for
    the (area, count) pairs in ``wanted`` only: record level, built only where a difference between
    years needs checking. ``ind`` is :func:`pipeline.young_adults.indicators` of ``flags``."""
    return year_members_of(flags, ind, region_name=region_name)(level, wanted)


def area_codes_of(flags: pd.DataFrame, *, region_name: str):
    """A function ``codes_of(level)``: the area codes of ``flags`` at that level as integer codes
    (-1 where none) and the codes they stand for (the region: one area), each level factorized once
    (shared by :func:`year_members_of` and :func:`year_subsets_of`)."""
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def codes_of(level: str) -> tuple[np.ndarray, np.ndarray]:
        if level not in done:
            if level == "region":
                done[level] = (np.zeros(len(flags), dtype="int64"), np.array([region_name], dtype=object))
            else:
                codes, uniques = pd.factorize(flags[level])
                done[level] = (np.asarray(codes, dtype="int64"), np.asarray(uniques, dtype=object))
        return done[level]

    return codes_of


def year_members_of(flags: pd.DataFrame, ind: pd.DataFrame, *, region_name: str, area_codes=None):
    """:func:`year_members` as a function of (level, wanted) that converts ``flags`` once: person
    and area codes, years and the 0/1 indicators as arrays, reused by every call. ``area_codes``:
    :func:`area_codes_of` of ``flags``, where the caller has it."""
    person = pd.factorize(flags["RINPERSOON"])[0]
    year = flags["year"].to_numpy()
    on_count = {c: np.asarray(ind[c]) == 1 for c in ind}
    codes_of = area_codes or area_codes_of(flags, region_name=region_name)

    def members_of(level: str, wanted: pd.DataFrame) -> pd.DataFrame:
        codes, uniques = codes_of(level)
        lookup = pd.Index(uniques)
        parts = [pd.DataFrame({"person": pd.Series(dtype="int64"), "area": pd.Series(dtype=object),
                               "year": pd.Series(dtype="int64"), "count": pd.Series(dtype=object)})]
        for c, where in wanted.groupby("count")["area"]:
            pick = lookup.get_indexer(pd.unique(where.to_numpy(dtype=object)))
            keep = np.zeros(len(uniques) + 1, dtype=bool)   # the last slot: codes -1 (no area)
            keep[pick[pick >= 0]] = True
            on = keep[codes] & on_count[c]
            parts.append(pd.DataFrame({"person": person[on], "area": uniques[codes[on]], "year": year[on],
                                       "count": np.full(int(on.sum()), c, dtype=object)}))
        return pd.concat(parts, ignore_index=True)

    return members_of


def counted_by(flags: pd.DataFrame, *, chunk: int = 250_000) -> dict[str, np.ndarray]:
    """:func:`pipeline.young_adults.indicators` of ``flags`` as one bool array per count, worked out
    a chunk of rows at a time (the int64 frame of all rows at once is 13 x 8 bytes per row)."""
    from .young_adults import indicators
    parts: dict[str, list[np.ndarray]] = {}
    for i in range(0, max(len(flags), 1), chunk):
        ind = indicators(flags.iloc[i:i + chunk])
        for c in ind.columns:
            parts.setdefault(c, []).append(ind[c].to_numpy() == 1)
    return {c: np.concatenate(v) for c, v in parts.items()}


def year_subsets_of(flags: pd.DataFrame, ind: pd.DataFrame, *, region_name: str):
    """A function ``subset_of(level, pairs)``: per pair (``area``, ``count``, ``year_s``, ``year_t``),
    whether the persons that count counts in that area in year_s are a subset of those of year_t
    (an empty set is a subset of any): the test of :func:`pipeline.disclosure.isolated_by_years` on
    :func:`year_members`, without building the member rows.

    Per level the person-year rows are sorted once by (area, person); per count each (area, person)
    gets a bit mask of the years it is counted in, and a pair fails where some person of the area
    has the bit of year_s and not that of year_t."""
    years = np.unique(flags["year"].to_numpy())
    codes_of = area_codes_of(flags, region_name=region_name)
    if len(years) > 62:   # more years than bits: compare the member rows instead
        members_of = year_members_of(flags, ind, region_name=region_name, area_codes=codes_of)
        return lambda level, pairs: disclosure.subset_pairs(members_of(level, pairs[["area", "count"]]
                                                                         .drop_duplicates()), pairs)
    person = pd.factorize(flags["RINPERSOON"])[0].astype("int64")
    # the year bits in the narrowest integer that holds them (less to gather and reduce per count)
    bit_type = "int16" if len(years) <= 15 else "int32" if len(years) <= 31 else "int64"
    bit = np.left_shift(np.int64(1), np.searchsorted(years, flags["year"].to_numpy()).astype("int64")).astype(bit_type)
    by_level: dict[str, tuple] = {}
    masks: dict[tuple[str, str], np.ndarray] = {}

    def sorted_level(level: str) -> tuple:
        if level not in by_level:
            codes, uniques = codes_of(level)
            # by area, then person (one integer key; the order of a person's rows within an area does
            # not matter: their year bits are or-ed)
            n_person = int(person.max()) + 1 if len(person) else 1
            order = np.argsort(person if level == "region" else codes * n_person + person)
            order = order[codes[order] >= 0]            # rows without an area count nowhere
            a, p = codes[order], person[order]
            first = np.flatnonzero(np.r_[True, (a[1:] != a[:-1]) | (p[1:] != p[:-1])]) if len(order) else \
                np.array([], dtype="int64")
            area_of_group = a[first]
            start = np.searchsorted(area_of_group, np.arange(len(uniques)), side="left")
            end = np.searchsorted(area_of_group, np.arange(len(uniques)), side="right")
            by_level[level] = (pd.Index(uniques), order, first, start, end, bit[order])
        return by_level[level]

    def year_masks(level: str, count: str) -> np.ndarray:
        if (level, count) not in masks:
            _, order, first, _, _, bits = sorted_level(level)
            on = np.asarray(ind[count])
            counted = np.where((on if on.dtype == bool else on == 1)[order], bits, 0)
            masks[(level, count)] = np.bitwise_or.reduceat(counted, first) if len(first) else counted[:0]
        return masks[(level, count)]

    found: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    n_years = len(years)

    def outside(level: str, count: str) -> tuple[np.ndarray, np.ndarray]:
        """For every area w of the level: [w, s, t] true where somebody is counted in year s and not
        in year t, and [w, s] true where somebody is counted in year s."""
        key = (level, count)
        if key not in found:
            uniques, _, _, start, end, _ = sorted_level(level)
            m = year_masks(level, count)
            not_in_t = np.zeros((len(uniques), n_years, n_years), dtype=bool)
            counted = np.zeros((len(uniques), n_years), dtype=bool)
            if len(m):
                area = np.repeat(np.arange(len(uniques), dtype="int64"), end - start)   # groups are by area
                if n_years + int(len(uniques)).bit_length() <= 62:
                    # the distinct (area, mask) pairs, as one integer each
                    k = np.sort(pd.unique(area * (np.int64(1) << n_years) + m.astype("int64")))
                    area, m = k >> n_years, k & ((np.int64(1) << n_years) - 1)
                has = ((m[:, None] >> np.arange(n_years)) & 1).astype(bool)
                starts = np.flatnonzero(np.r_[True, area[1:] != area[:-1]])
                w = area[starts]
                not_in_t[w] = np.logical_or.reduceat(has[:, :, None] & ~has[:, None, :], starts, axis=0)
                counted[w] = np.logical_or.reduceat(has, starts, axis=0)
            found[key] = (not_in_t, counted)
        return found[key]

    def subset_of(level: str, pairs: pd.DataFrame) -> np.ndarray:
        lookup = sorted_level(level)[0]
        where = lookup.get_indexer(pairs["area"].to_numpy(dtype=object))
        y_s, y_t = pairs["year_s"].to_numpy(), pairs["year_t"].to_numpy()
        ys, yt = np.searchsorted(years, y_s), np.searchsorted(years, y_t)
        # nobody counted in year_s (the empty set: a subset) where the area or the year is unknown
        asked = (where >= 0) & (ys < n_years)
        asked[asked] = years[ys[asked]] == y_s[asked]
        t_known = yt < n_years
        t_known[t_known] = years[yt[t_known]] == y_t[t_known]
        out = np.ones(len(pairs), dtype=bool)
        rows = np.flatnonzero(asked)
        count, count_of = pd.factorize(pairs["count"].to_numpy(dtype=object)[rows])
        for i, c in enumerate(count_of):
            r = rows[count == i]
            not_in_t, counted = outside(level, c)
            w, s_, t_, known = where[r], ys[r], yt[r], t_known[r]
            isolated = counted[w, s_]
            isolated[known] = not_in_t[w[known], s_[known], t_[known]]
            out[r] = ~isolated
        return out

    return subset_of


def released_counts(internal: pd.DataFrame, reasons: pd.DataFrame, *, year: int,
                    counts: tuple[str, ...] = tuple(YA_COUNTS)) -> pd.DataFrame:
    """The released counts of one year and level, long: area, year, count, n."""
    counts = [c for c in counts if c in reasons.columns]
    # row by row, count by count (the order of ``internal[counts].stack()``)
    ok = reasons[counts].reindex(internal.index).isna().to_numpy(dtype=bool).ravel()
    n = internal[counts].to_numpy().ravel()[ok]
    return pd.DataFrame({"area": np.repeat(internal.index.to_numpy(dtype=object), len(counts))[ok], "year": year,
                         "count": np.tile(np.array(counts, dtype=object), len(internal))[ok], "n": n})


def decide_years_in_order(internal: dict[int, dict[str, pd.DataFrame]], decide_year, *, members_of,
                          levels: tuple[str, ...], counts: tuple[str, ...], population: str, th: Thresholds,
                          what: str, subset_of=None) -> tuple[dict, dict]:
    """Decide the years of a yearly series oldest first, so that published numbers stand when a year
    is added: a year's suppression depends only on itself and the years before it.

    ``decide_year(year, protect)`` decides one year within itself (cell rule, nested areas), with
    ``protect[level][area]`` the counts withheld in advance. Between years (when ``members_of(level,
    wanted)`` gives who each count counts, long: person, area, year, count): where the persons of a
    released count of this year and of an earlier year are a subset of one another and the totals
    differ by less than the threshold, this year's count is withheld
    (:func:`pipeline.disclosure.isolated_by_years` with ``newest``), never the earlier one; then the
    year is decided again, until nothing changes. Returns the reasons and the protected counts per year.
    ``subset_of(level, pairs)`` (:func:`year_subsets_of`), where given, answers the subset test
    instead of the member rows of ``members_of``.
    """
    years = sorted(internal)
    protect: dict[int, dict[str, dict[str, set[str]]]] = {y: {lvl: {} for lvl in levels} for y in years}
    reasons: dict[int, dict[str, pd.DataFrame]] = {}
    published: dict[tuple[int, str], pd.DataFrame] = {}   # released counts of the years already decided
    for year in years:
        while True:
            reasons[year] = decide_year(year, protect[year])
            if members_of is None and subset_of is None:
                break
            new = 0
            current = {}   # this year's released counts per level (published as they are once nothing changes)
            for lvl in levels:
                done = [y for y in years if y < year]
                current[lvl] = released_counts(internal[year][lvl], reasons[year][lvl], year=year, counts=counts)
                rel = pd.concat([published[(y, lvl)] for y in done] + [current[lvl]], ignore_index=True)
                for need, which in ((th.min_n, [population]), (th.min_events, [c for c in counts if c != population])):
                    r = rel[rel["count"].isin(which)]
                    pairs = disclosure.year_pairs(r, threshold=need, year=year)
                    if pairs.empty:
                        continue
                    if subset_of is not None:
                        hits = disclosure.isolated_by_years(None, r, threshold=need, newest=year, pairs=pairs,
                                                            subset=lambda p, lvl=lvl: subset_of(lvl, p))
                    else:
                        members = members_of(lvl, pairs[["area", "count"]].drop_duplicates())
                        hits = disclosure.isolated_by_years(members, r, threshold=need, newest=year, pairs=pairs)
                    for h in hits.itertuples(index=False):
                        got = protect[year][lvl].setdefault(h.area, set())
                        if h.count not in got:
                            got.add(h.count)
                            new += 1
                            io.log.info("%s %s %s %d: %s withheld, the difference with the published %d isolates "
                                        "a small group", what, lvl, h.area, year, h.count, h.other_year)
            if not new:
                break
        if members_of is not None or subset_of is not None:
            for lvl in levels:
                published[(year, lvl)] = current[lvl]
    return reasons, protect


def export_young_adults(ya: dict[str, pd.DataFrame], areas: pd.DataFrame, *, region_name: str, th: Thresholds,
                        flags: pd.DataFrame | None = None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Released young-adult tables per level (one row per area and year) and their output-check cells.

    Within a year: the cell rule, nested areas (wijk within gemeente within region). Between
    years (with ``flags``, the person-level rows), oldest year first (:func:`decide_years_in_order`):
    where a year's persons of a count and area are a subset of (or contain) an earlier year's and the
    difference is smaller than the threshold, the later year's count is withheld, so that adding a
    year never changes what earlier years published.
    """
    levels = ("gemeente", "wijk", "region")
    years = sorted(set().union(*[set(t["year"]) for t in ya.values()]))
    frames = {lvl: area_frame(areas, level=lvl, region_name=region_name) for lvl in levels}
    internal: dict[int, dict[str, pd.DataFrame]] = {}
    for year in years:
        internal[year] = {}
        for lvl in levels:
            m = ya[lvl][ya[lvl]["year"] == year].set_index("area_code").drop(columns=["year", "level"])
            f = frames[lvl]
            extra = m.index.difference(f.index)
            if len(extra):
                io.log.warning("young adults %d %s: %d areas not in the boundary file", year, lvl, len(extra))
                add = pd.DataFrame({"area_name": "(niet in grenzenbestand)", "region": region_name}, index=extra)
                if lvl == "wijk":
                    add["gemeente"] = "GM" + extra.str[2:6]
                f = pd.concat([f, add])
            t = f.join(m, how="left")
            t[YA_COUNTS] = t[YA_COUNTS].fillna(0).astype("int64")
            internal[year][lvl] = t
    subset_of = None
    if flags is not None:
        subset_of = year_subsets_of(flags, counted_by(flags), region_name=region_name)

    memos: dict[int, dict] = {}   # per year: row decisions per set of protected counts, kept when a year is redone

    def decide_year(year, protect):
        ancestors = {lvl: t[[c for c in ("region", "gemeente") if c in t.columns and c != lvl]]
                     for lvl, t in internal[year].items()}
        return disclosure.decide(
            internal[year], ancestors=ancestors, th=th, row_rule=disclosure.release_young_adult_row,
            counts=tuple(YA_COUNTS), extra_rule=lambda row, th: {}, population="n_young_adults", protect=protect,
            memo=memos.setdefault(year, {}))

    reasons, protect = decide_years_in_order(
        internal, decide_year, members_of=None, subset_of=subset_of, levels=levels, counts=tuple(YA_COUNTS),
        population="n_young_adults", th=th, what="young adults")
    tables = {lvl: [] for lvl in levels}
    entries: list[pd.DataFrame] = []
    share_cols = [c for s in SHARES for c in (s, f"{s}_ci_low", f"{s}_ci_high")]
    for year in years:
        for lvl in levels:
            r = reasons[year][lvl].copy()
            for area, cs in protect[year][lvl].items():
                for c in cs:
                    r.loc[area, c] = disclosure.SECONDARY_YEARS
            rel = disclosure.apply(internal[year][lvl], r, th=th, counts=tuple(YA_COUNTS), rates=tuple(SHARES))
            rel.index.name = "area_code"
            rel = rel.reset_index()
            rel.insert(0, "year", year)
            rel["level"] = lvl
            tables[lvl].append(rel[["year", "area_code", "area_name", "level", *YA_COUNTS, *share_cols, "suppressed"]])
            entries.append(check_entries(
                f"young_adults_{lvl}", internal[year][lvl], r, rel.set_index("area_code"), th, year=year,
                n_of=lambda stat, t: SHARES[stat][1] if stat in SHARES else stat,
                rule_of=_rule_text))
    return {lvl: pd.concat(v, ignore_index=True) for lvl, v in tables.items()}, pd.concat(entries, ignore_index=True)


def write_cells(cells: pd.DataFrame, path: str | Path) -> None:
    """Output-check cells of one part of the export (record of every cell, with its unrounded n:
    stays in data/processed), for :func:`read_cells`."""
    io.write_parquet(cells, path)


def read_cells(path: str | Path) -> pd.DataFrame:
    """The cells of :func:`write_cells` as they were (object strings, missing values None)."""
    return io.read_parquet(path)


def young_adults_main(argv: list[str]) -> int:
    """``python -m pipeline export_young_adults``: disclosure control of the young-adult tables
    (reports/tables/young_adults_*.csv) and their output-check cells, which ``export`` adds to the
    output check. Apart from ``export`` because nothing here depends on the cohort's windows: a
    re-analysis of the transmission measures does not redo it."""
    ap = argparse.ArgumentParser(prog="python -m pipeline export_young_adults", description=young_adults_main.__doc__)
    ap.add_argument("--young-adults-dir", required=True)
    ap.add_argument("--areas", required=True)
    ap.add_argument("--region-name", required=True)
    Thresholds.add_options(ap)
    ap.add_argument("--tables-dir", required=True)
    ap.add_argument("--cells", required=True, help="Parquet: the tables' output-check cells (stays inside)")
    a = ap.parse_args(argv)
    io.setup_logging("export_young_adults")
    th = Thresholds.from_options(a)
    areas = io.read_attributes(a.areas)
    ya = {lvl: io.read_parquet(f"{a.young_adults_dir}/young_adults_{lvl}.parquet") for lvl in ("gemeente", "wijk", "region")}
    # Read as stored (no object strings): only RINPERSOON, the areas, the year and the flags are used,
    # by codes and masks, so the person-level rows stay small.
    flags = pd.read_parquet(f"{a.young_adults_dir}/young_adults_persons.parquet")
    ya_tables, ya_cells = export_young_adults(ya, areas, region_name=a.region_name, th=th, flags=flags)
    del flags, ya
    out = Path(a.tables_dir)
    for lvl, t in ya_tables.items():
        io.write_csv(t, out / f"young_adults_{lvl}.csv")
    write_cells(ya_cells, a.cells)
    n_rel = int(ya_cells["released"].sum())
    io.log.info("young adults: %d cells, %d released, %d withheld", len(ya_cells), n_rel, len(ya_cells) - n_rel)
    return 0


# --------------------------------------------------------------------------- attrition

def released_attrition(rows: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Attrition counts rounded to tens, with counts under the threshold left empty, so that no
    small group of excluded persons can be read off (differences of rounded counts are inexact)."""
    out = rows.copy()
    for c in ("n_before", "n_after", "n_dropped"):
        v = out[c].astype(float)
        r = (np.floor(v / 10 + 0.5) * 10).astype("Int64")
        out[c] = r.where((v >= th.min_n) | (v == 0))
    out["note"] = "afgerond op tientallen; leeg = minder dan " + str(th.min_n)
    return out


# --------------------------------------------------------------------------- report

def suppression_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per table and kind of row (area totals or group rows): cells, released, withheld by the
    primary rule and by a secondary rule."""
    kind = np.where(cells["group"].fillna(TOTAL) == TOTAL, "totaal", "groepen") if "group" in cells.columns \
        else np.full(len(cells), "totaal")
    d = cells.assign(rows=kind)
    g = d.groupby(["table", "rows"], sort=True)
    out = pd.DataFrame({
        "cells": g.size(),
        "released": g["released"].sum(),
        "withheld_primary": g["suppression"].apply(lambda s: int((s == "primary").sum())),
        "withheld_secondary": g["suppression"].apply(lambda s: int((s == "secondary").sum())),
    }).reset_index()
    return out.astype({c: "int64" for c in ("cells", "released", "withheld_primary", "withheld_secondary")})


def _check_frame(cells: pd.DataFrame, *, rounded: bool) -> pd.DataFrame:
    d = cells.copy()
    if rounded:
        d["unrounded_n"] = None
    else:
        d["unrounded_n"] = d["unrounded_n"].astype(object).where(d["released"], None)
    return d


def check_records(cells: pd.DataFrame, *, rounded: bool) -> list[dict]:
    """The cells as JSON records for the report that leaves: released cells with rule, value and
    unrounded n (not when counts are rounded: it would undo the rounding); withheld cells with the
    reason only (their n is what is being protected)."""
    d = _check_frame(cells, rounded=rounded)
    # DataFrame.to_dict("records"), column by column: Python scalars (numpy ones unboxed), no NaN.
    names = list(d.columns)
    columns = [[v.item() if isinstance(v, np.generic) else v for v in d[c].to_numpy(dtype=object)] for c in names]
    return [{k: v for k, v in zip(names, r) if v is not None and not (isinstance(v, float) and v != v)}
            for r in zip(*columns)]


def check_records_json(cells: pd.DataFrame, *, rounded: bool) -> str:
    """``json.dumps(check_records(cells, rounded=rounded), ensure_ascii=False)`` (as
    :func:`pipeline.io.write_json` writes it), built column by column as text: each value encoded as
    the json module encodes it, each distinct string once, without a dict per cell."""
    d = _check_frame(cells, rounded=rounded)
    columns = []
    for name in d.columns:
        key = json.dumps(name, ensure_ascii=False) + ": "
        s = d[name]
        if (isinstance(s.dtype, np.dtype) and s.dtype.kind in "iub") or (
                isinstance(s.dtype, pd.StringDtype) and isinstance(s.dtype.na_value, float)):
            # numpy integers and booleans, strings missing as NaN: each distinct value encoded once
            # (missing: code -1, left out as check_records leaves NaN out)
            codes, uniques = pd.factorize(s)
            enc = [_json_value(u) for u in uniques.tolist()]
            columns.append(np.array([None if e is None else key + e for e in enc] + [None], dtype=object)[codes]
                           .tolist())
            continue
        strings: dict[str, str] = {}
        col = []
        for v in s.tolist():
            t = type(v)
            if v is None:
                col.append(None)
            elif t is str:
                e = strings.get(v)
                if e is None:
                    e = strings[v] = key + json.dumps(v, ensure_ascii=False)
                col.append(e)
            elif t is float and v - v == 0:          # finite (NaN and infinities go below)
                col.append(key + float.__repr__(v))
            elif t is int:
                col.append(key + int.__repr__(v))
            else:
                e = _json_value(v)
                col.append(None if e is None else key + e)
        columns.append(col)
    rows = ["{" + ", ".join([e for e in r if e is not None]) + "}" for r in zip(*columns)]
    return "[" + ", ".join(rows) + "]"


def _json_value(v) -> str | None:
    """A scalar as ``json.dumps`` (ensure_ascii=False, :func:`pipeline.io.write_json`'s default)
    writes it inside a record; None where :func:`check_records` leaves it out (None, NaN)."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and v != v):
        return None
    t = type(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)
    if t is float and v not in (float("inf"), float("-inf")):
        return float.__repr__(v)
    if t is str:
        return json.dumps(v, ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False, default=io._json_default)


def output_check_json(head: dict, cells: pd.DataFrame, *, rounded: bool) -> str:
    """The text :func:`pipeline.io.write_json` writes for ``{**head, "cells": check_records(cells)}``
    with ``indent=None``."""
    text = json.dumps({**head, "cells": []}, indent=None, ensure_ascii=False, default=io._json_default)
    assert text.endswith("[]}")
    return text[:-3] + check_records_json(cells, rounded=rounded) + "}\n"


def output_check_markdown(cells: pd.DataFrame, *, th: Thresholds, files: list[str], figures: dict[str, list[str]],
                          areas: dict[str, dict], synthetic: bool) -> str:
    """The output-check report for the CBS output checkers, in Dutch and English."""
    today = dt.date.today().isoformat()
    summary = suppression_summary(cells)
    lines = [
        "# Outputcontrole / Output check",
        "",
        f"Datum / date: {today}. " + ("**Synthetische data / synthetic data.**" if synthetic else ""),
        "",
        "## Regels / rules",
        "",
        f"- Aantallen en gemiddelden alleen bij n >= {th.min_n} / counts and means only with n >= {th.min_n}.",
        f"- Proporties en deelaantallen alleen als teller en complement >= {th.min_events} / proportions and part "
        f"counts only when numerator and complement are both >= {th.min_events}.",
        f"- Regressies alleen bij >= {th.min_df} residuele vrijheidsgraden / regressions only with >= {th.min_df} "
        "residual degrees of freedom.",
        "- Geen minima of maxima / no minima or maxima.",
        "- Afgeleide waarden (interval, EB, betrouwbaarheid) alleen met hun schatting / derived values (interval, "
        "EB, reliability) only with their estimate.",
        f"- Secundair, binnen een gebied: uit wat gepubliceerd is, is geen combinatie van cellen (ouders x kind, elk "
        f"niet / wel / langdurig arm; jongvolwassenen: arm x uitwonend x huishouden vader en moeder) met minder dan "
        f"{th.min_events} personen af te leiden, ook 0 niet / secondary, within an area: no combination of cells "
        f"with fewer than {th.min_events} persons (zero included) can be derived from what is released.",
        "- Secundair, tussen gebieden en groepen: onder een gepubliceerd totaal nooit precies één onderdrukt deel, en "
        "samen bevatten de onderdrukte delen 0 of ten minste de drempel / secondary, between nested areas and "
        "complementary groups: under a released total never exactly one withheld part, and the withheld parts "
        "together hold none or at least the threshold.",
        "- Secundair, tussen jaren (jongvolwassenen): waar de personen van een jaar een deelverzameling zijn van "
        "die van een ander jaar en het verschil kleiner is dan de drempel, wordt het aantal van het latere jaar "
        "onderdrukt (oudste jaar eerst) / "
        "secondary, between years (young adults): where one year's persons are a subset of another year's and the "
        "difference is below the threshold, the later year's count is withheld (years are decided oldest first).",
        f"- Afronding van aantallen / rounding of counts: {th.round_counts_to or 'geen / none'}.",
        "- De audit (`reports/audit.md`) controleert alle bestanden in `reports/` en `figures/` onafhankelijk "
        "opnieuw / the audit (`reports/audit.md`) re-checks every file in `reports/` and `figures/` independently.",
        "",
        "## Tabellen / tables",
        "",
        *[f"- `{f}`" for f in files],
        "",
        "## Figuren / figures",
        "",
    ]
    if figures:
        for fig, src in sorted(figures.items()):
            lines.append(f"- `{fig}`: gemaakt uit / built from " + ", ".join(f"`{x}`" for x in src))
    else:
        lines.append("- geen / none")
    lines += [
        "",
        "## Onderdrukking per tabel / suppression per table",
        "",
        "| tabel / table | rijen / rows | cellen / cells | vrijgegeven / released | primair / primary "
        "| secundair / secondary |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples(index=False):
        lines.append(f"| {r.table} | {r.rows} | {r.cells} | {r.released} | {r.withheld_primary} | "
                     f"{r.withheld_secondary} |")
    lines += ["", "## Gepubliceerde gebieden / areas released", "",
              "| niveau / level | gebieden / areas | met kinderen / with children | n_children vrijgegeven / released "
              "| outflow vrijgegeven / released |", "|---|---:|---:|---:|---:|"]
    for lvl, a in areas.items():
        def share(k: str) -> str:
            base = a["areas_with_children"]
            return f"{a[k]} ({a[k] / base:.0%})" if base else str(a[k])
        lines.append(f"| {lvl} | {a['areas']} | {a['areas_with_children']} | {share('released_n_children')} | "
                     f"{share('released_outflow')} |")
    held = cells[~cells["released"]]
    lines += ["", "## Redenen van onderdrukking / reasons for suppression", "",
              "| reden / reason | soort / kind | cellen / cells |", "|---|---|---:|"]
    for (reason, kind), n in held.groupby(["reason", "suppression"]).size().sort_values(ascending=False).items():
        lines.append(f"| {reason} | {kind} | {n} |")
    lines += ["", "Elke cel staat in `output_check.json`: vrijgegeven cellen met regel, waarde en onafgeronde n, "
              "onderdrukte cellen met de reden (hun n wordt juist beschermd) / every cell is listed in "
              "`output_check.json`: released cells with rule, value and unrounded n, withheld cells with the reason "
              "(their n is what is protected)."
              + (" Bij afronding staat de onafgeronde n alleen in het interne bestand / with rounding the unrounded n "
                 "is only in the internal file." if th.round_counts_to else ""), ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline export", description=__doc__)
    ap.add_argument("--measures-dir", required=True)
    ap.add_argument("--young-adults-cells", required=True,
                    help="the young-adult tables' output-check cells (export_young_adults; stays inside)")
    ap.add_argument("--young-adults-files", nargs="*", default=[],
                    help="the released young-adult tables (export_young_adults), as listed in the output check")
    ap.add_argument("--areas", required=True)
    ap.add_argument("--attrition", nargs="+", required=True)
    ap.add_argument("--region-name", required=True)
    Thresholds.add_options(ap)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--figures", default="{}", help="JSON: released figure -> the files it is built from")
    ap.add_argument("--tables-dir", required=True)
    ap.add_argument("--check-json", required=True)
    ap.add_argument("--check-md", required=True)
    ap.add_argument("--check-internal", required=True, help="Parquet: every cell with its unrounded n (stays inside)")
    a = ap.parse_args(argv)
    io.setup_logging("export")
    th = Thresholds.from_options(a)
    areas = io.read_attributes(a.areas)
    measures = {lvl: io.read_parquet(f"{a.measures_dir}/measures_{lvl}.parquet") for lvl in LEVELS}
    trans, cells, released_areas = export_transmission(measures, areas, region_name=a.region_name, th=th)
    del measures
    cells = pd.concat([cells, read_cells(a.young_adults_cells)], ignore_index=True)
    files = []
    out = Path(a.tables_dir)
    for lvl, t in trans.items():
        io.write_csv(t, out / f"transmission_{lvl}.csv")
        files.append(f"tables/transmission_{lvl}.csv")
    files += list(a.young_adults_files)
    att = pd.concat([pd.read_csv(f) for f in a.attrition], ignore_index=True)
    io.write_csv(released_attrition(att, th), out / "attrition.csv")
    files.append("tables/attrition.csv")
    figures = json.loads(a.figures)
    summary = suppression_summary(cells)
    head = {"generated": dt.datetime.now().isoformat(timespec="seconds"), "synthetic": a.synthetic,
            "thresholds": th.__dict__, "files": files, "figures": figures,
            "suppression": summary.to_dict("records"),
            "areas_released": {lvl: released_areas[lvl] for lvl in ("buurt", "wijk", "gemeente")}}
    io.write_text(output_check_json(head, cells, rounded=bool(th.round_counts_to)), a.check_json)
    io.write_parquet(cells.astype({"value": "float64", "unrounded_n": "int64"}), a.check_internal)
    io.write_text(output_check_markdown(cells, th=th, files=files, figures=figures,
                                        areas=head["areas_released"], synthetic=a.synthetic), a.check_md)
    n_rel = int(cells["released"].sum())
    io.log.info("output check: %d cells, %d released, %d withheld (%d primary, %d secondary)", len(cells), n_rel,
                len(cells) - n_rel, int((cells["suppression"] == "primary").sum()),
                int((cells["suppression"] == "secondary").sum()))
    return 0
