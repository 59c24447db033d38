"""A person's household in one income year (methodology §4): valid, poor, long-term poor, rank,
the source table, and poverty on the new CBS line.

Income years before 2011 come from IHI (``HUISHBVRINK{year}``, household key RINPERSOONSKERN /
RINPERSOONKERN, linked to persons by ``Koppeltabel_IPI_IHI_IVB{year}``), later years from INHATAB
(key RINPERSOONSHKW / RINPERSOONHKW, linked by ``KOPPELPERSOONHUISHOUDEN{year}``). Both give the
same person-year columns; ``source`` says which table a row comes from. ``poor_new`` is the new
CBS poverty line (INHARMATAB ``INHARMOEDE`` < 100, 2018 onwards), a parallel series.
"""
from __future__ import annotations

import argparse
from typing import Iterable

import numpy as np
import pandas as pd

from . import io, tables
from .errors import PipelineInputError

SOURCE_INHATAB, SOURCE_IHI = "INHATAB", "IHI"
# BVRLICAT / BVRLICATL codes (UNVERIFIED, anchors.md §1.5: third-party Remote Access code reads
# category 4 as "below the lage-inkomensgrens" and categories 1-3 as no status). The workflow takes
# them from config (ihi:); these defaults only serve direct calls.
IHI_BELOW = (4,)
IHI_MISSING = (1, 2, 3)
INHARMOEDE_MISSING = (998, 999)
COLUMNS = ["year", "RINPERSOONS", "RINPERSOON", "hh", "valid", "poor", "lt_poor", "rank", "source", "poor_new"]


def household_status(income: pd.DataFrame) -> pd.DataFrame:
    """Per household (HKW key) of one INHATAB year: ``valid``, ``poor``, ``lt_poor``, ``rank``.

    Valid is INHPOPIIV == 1 (a private household with income); where the column is absent,
    1 <= INHP100HGEST <= 100. Poor and long-term poor need a valid household and
    0 <= INHARMLAG(L) < 100; the rank is INHP100HGEST / 100. A key on several rows: one row,
    not valid. ``hh`` (RINPERSOONSHKW + RINPERSOONHKW) is held as Arrow strings (io.joined_strings).
    """
    out, _ = _one_row_per_household(_household_rows(income), table="INHATAB")
    return out


def _household_rows(income: pd.DataFrame) -> pd.DataFrame:
    """household_status per INHATAB row, before the rows that share a key are made one."""
    pct = income["INHP100HGEST"]
    pct_ok = pct.between(1, 100)
    if "INHPOPIIV" in income.columns:
        valid = income["INHPOPIIV"].eq(1)
    else:
        io.log.warning("INHPOPIIV absent: valid households are those with 1 <= INHP100HGEST <= 100")
        valid = pct_ok
    lag, lagl = income["INHARMLAG"], income["INHARMLAGL"]
    return pd.DataFrame({
        "hh": io.joined_strings(income["RINPERSOONSHKW"], income["RINPERSOONHKW"]),
        "valid": valid.to_numpy(),
        "poor": (valid & lag.ge(0) & lag.lt(100)).to_numpy(),
        "lt_poor": (valid & lagl.ge(0) & lagl.lt(100)).to_numpy(),
        # A valid household without a usable percentile has no rank (it still has a status).
        "rank": np.where(valid & pct_ok, pct / 100.0, np.nan).astype("float32"),
    })


def household_status_ihi(ihi: pd.DataFrame, *, below: Iterable[int] = IHI_BELOW,
                         below_long: Iterable[int] = IHI_BELOW, missing: Iterable[int] = IHI_MISSING,
                         file: str | None = None) -> pd.DataFrame:
    """Per household (KERN key) of one IHI year, in INHATAB's terms: ``valid``, ``poor``, ``lt_poor``,
    ``rank``.

    Valid: BVRLICAT holds a code that is not one of ``missing`` (institutional, unknown income,
    student household in the assumed coding); empty, negative or missing-coded values are not
    valid. Poor: valid and BVRLICAT in ``below``; long-term poor: valid and BVRLICATL in
    ``below_long``. Rank: (BVRPERCGESTINKH + 1) / 100, so that IHI's 0..99 matches INHATAB's
    1..100; a valid household without a percentile in 0..99 has no rank. ``hh`` (RINPERSOONSKERN +
    RINPERSOONKERN) is held as Arrow strings (io.joined_strings).

    Raises PipelineInputError when BVRPERCGESTINKH reaches 100 (then it is not coded 0..99 and the
    shift would be wrong).
    """
    below, below_long, missing = (np.asarray(sorted(set(map(int, c))), dtype="float64")
                                  for c in (below, below_long, missing))
    if np.isin(below, missing).any():
        raise ValueError(f"BVRLICAT codes {sorted(set(below) & set(missing))} are both 'below' and 'missing'")
    pct = ihi["BVRPERCGESTINKH"]
    if pct.gt(99).any():
        raise PipelineInputError(f"percentile {pct.max():g} found: IHI codes BVRPERCGESTINKH 0..99, so this "
                                 "file does not follow the coding the pipeline assumes", file=file,
                                 table="IHI (HUISHBVRINK)", column="BVRPERCGESTINKH")
    licat, licatl = ihi["BVRLICAT"], ihi["BVRLICATL"]
    valid = licat.notna() & licat.ge(0) & ~licat.isin(missing)
    pct_ok = pct.between(0, 99) & (pct == np.floor(pct))
    out = pd.DataFrame({
        "hh": io.joined_strings(ihi["RINPERSOONSKERN"], ihi["RINPERSOONKERN"]),
        "valid": valid.to_numpy(),
        "poor": (valid & licat.isin(below)).to_numpy(),
        "lt_poor": (valid & licatl.isin(below_long)).to_numpy(),
        "rank": np.where(valid & pct_ok, (pct + 1) / 100.0, np.nan).astype("float32"),
    })
    known = set(below) | set(below_long) | set(missing)
    other = sorted(set(licat.dropna().unique()) - known)
    io.log.info("IHI: BVRLICAT codes read as at or above the line: %s; below: %s; no status: %s",
                [int(v) if float(v).is_integer() else v for v in other], below.astype(int).tolist(),
                missing.astype(int).tolist())
    return _one_row_per_household(out, table="IHI")[0]


def _one_row_per_household(out: pd.DataFrame, *, table: str,
                           codes: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """``out`` with one row per ``hh`` (households on several rows: not valid, no rank), and the
    kept rows' key codes; ``codes`` are the rows' codes from io.key_codes where known."""
    if codes is None:
        (codes,) = io.key_codes([out], "hh")   # integer keys: no string hashing per duplicate check
    dup = io.duplicated_codes(codes)
    if dup.any():
        io.log.warning("%d %s rows share a household key; those households are not valid", int(dup.sum()), table)
        out.loc[dup, ["valid", "poor", "lt_poor"]] = False
        out.loc[dup, "rank"] = np.nan
        first = io.first_codes(codes)
        out, codes = out[first], codes[first]   # drop_duplicates("hh")
    return out, codes


def new_line_status(inharma: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """INHARMATAB as (key columns, frame with the key and ``poor_new``).

    The key is the person (RINPERSOONS, RINPERSOON) where the table has one, else the household
    (RINPERSOONSHKW, RINPERSOONHKW); which one CBS uses is UNVERIFIED. ``poor_new`` is
    0 <= INHARMOEDE < 100; 998 and 999 (missing), negative values (codes) and empty cells give NA.
    A key on several rows gets NA.
    """
    for pair in tables.INHARMA_KEYS:
        if all(c in inharma.columns for c in pair):
            key = list(pair)
            break
    else:
        raise PipelineInputError("no key columns", table="INHARMATAB", column="RINPERSOONHKW")
    v = inharma["INHARMOEDE"].astype("float64")
    known = v.notna() & v.ge(0) & ~v.isin(INHARMOEDE_MISSING)
    poor = pd.array(np.where(known, v.lt(100), False), dtype="boolean")
    poor[~known.to_numpy()] = pd.NA
    out = inharma[key].copy()
    out["poor_new"] = poor
    dup = io.duplicated_keys(out, key)
    if dup.any():
        io.log.warning("%d INHARMATAB rows share a key; their status on the new line is missing", int(dup.sum()))
        out.loc[dup, "poor_new"] = pd.NA
        (codes,) = io.key_codes([out], key)
        out = out[io.first_codes(codes)]   # drop_duplicates(key)
    return key, out


def _koppel_frame(koppel: pd.DataFrame, *, s: str, r: str) -> pd.DataFrame:
    return pd.DataFrame({"RINPERSOONS": koppel["RINPERSOONS"], "RINPERSOON": koppel["RINPERSOON"],
                         "hh": io.joined_strings(koppel[s], koppel[r])})


def _person_year(k: pd.DataFrame, hh: pd.DataFrame, *, year: int, source: str, koppel_name: str,
                 income_name: str, inharma: pd.DataFrame | None, att: io.Attrition) -> pd.DataFrame:
    # hh: the income table's rows, one per household or not yet (coded once with the persons' keys)
    kc, hc = io.key_codes([k, hh], "hh")
    hh, hc = _one_row_per_household(hh, table=source, codes=hc)
    n0 = len(k)
    keep = ~io.duplicated_keys(k, ["RINPERSOONS", "RINPERSOON"])
    k, kc = k[keep], kc[keep]
    del keep
    att.record(f"{year}: persons with one {koppel_name} row (conflicting rows dropped)",
               before=n0, after=len(k), unit="person rows")
    # The left m:1 join on the household key as positions (-1: no income row): the persons keep
    # their order, as pd.merge(how="left") keeps it.
    at = io.lookup_codes(kc, hc, what=f"{koppel_name}{year} -> {income_name}{year}")
    del kc, hc
    # The strings stay as they came (Arrow-backed from main); _with_object_strings makes them object.
    out = pd.DataFrame({
        "year": np.full(len(k), year, dtype=np.int16),
        **{c: k[c].reset_index(drop=True) for c in ("RINPERSOONS", "RINPERSOON", "hh")},
        **{c: io.take(hh[c].astype(bool), at, fill=False) for c in ("valid", "poor", "lt_poor")},
        "rank": io.take(hh["rank"].astype("float32"), at, fill=np.nan),
    })
    del at
    out["source"] = pd.Series(source, index=out.index, dtype=object)
    att.record(f"{year}: persons in a valid household ({source})", before=len(out),
               after=int(out["valid"].sum()), unit="person rows")
    out["poor_new"] = pd.arrays.BooleanArray(np.zeros(len(out), dtype=bool), np.ones(len(out), dtype=bool))  # all NA
    if inharma is not None:
        out = _add_new_line(out, inharma, year=year, att=att)
    return out   # the columns are COLUMNS, in order


def _with_object_strings(out: pd.DataFrame) -> pd.DataFrame:
    """``out`` with its string columns as object dtype (missing values None), as the person-year
    files have them (pandas 3 would infer its str dtype from an object array)."""
    for c in ("RINPERSOONS", "RINPERSOON", "hh"):
        out[c] = pd.Series(io.object_strings(out[c]), index=out.index, dtype=object)
    return out


def _add_new_line(out: pd.DataFrame, inharma: pd.DataFrame, *, year: int, att: io.Attrition) -> pd.DataFrame:
    """``out`` (a person-year frame) with ``poor_new`` from INHARMATAB (see new_line_status)."""
    key, st = new_line_status(inharma)
    if key == ["RINPERSOONSHKW", "RINPERSOONHKW"]:
        st = pd.DataFrame({"hh": io.joined_strings(st[key[0]], st[key[1]]), "poor_new": st["poor_new"]})
        key = ["hh"]
    at = io.checked_lookup(out, st, on=key, what=f"persons {year} -> INHARMATAB{year} on {'/'.join(key)}")
    known = st["poor_new"].notna().to_numpy()
    value = st["poor_new"].fillna(False).to_numpy(dtype=bool)
    poor_new = pd.array(io.take(value, at, fill=False), dtype="boolean")
    poor_new[~io.take(known, at, fill=False)] = pd.NA
    out["poor_new"] = poor_new
    att.record(f"{year}: persons with a status on the new poverty line (INHARMATAB)", before=len(out),
               after=int(out["poor_new"].notna().sum()), unit="person rows")
    return out


def person_year(koppel: pd.DataFrame, income: pd.DataFrame, *, year: int, attrition: io.Attrition | None = None,
                inharma: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each person's household key and status in ``year`` from INHATAB (persons without an INHATAB
    row: not valid), with ``source`` "INHATAB" and ``poor_new`` from ``inharma`` (NA without it)."""
    att = attrition or io.Attrition("household")
    return _with_object_strings(_person_year(
        _koppel_frame(koppel, s="RINPERSOONSHKW", r="RINPERSOONHKW"), _household_rows(income), year=year,
        source=SOURCE_INHATAB, koppel_name="KOPPELPERSOONHUISHOUDEN", income_name="INHA", inharma=inharma, att=att))


def person_year_ihi(koppel: pd.DataFrame, ihi: pd.DataFrame, *, year: int, below: Iterable[int] = IHI_BELOW,
                    below_long: Iterable[int] = IHI_BELOW, missing: Iterable[int] = IHI_MISSING,
                    attrition: io.Attrition | None = None, inharma: pd.DataFrame | None = None,
                    file: str | None = None) -> pd.DataFrame:
    """The same person-year frame from an IHI year (``source`` "IHI"); see household_status_ihi."""
    att = attrition or io.Attrition("household")
    hh = household_status_ihi(ihi, below=below, below_long=below_long, missing=missing, file=file)
    return _with_object_strings(_person_year(
        _koppel_frame(koppel, s="RINPERSOONSKERN", r="RINPERSOONKERN"), hh, year=year, source=SOURCE_IHI,
        koppel_name="Koppeltabel_IPI_IHI_IVB", income_name="HUISHBVRINK", inharma=inharma, att=att))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline household", description=__doc__)
    ap.add_argument("--koppel", help="KOPPELPERSOONHUISHOUDEN parquet (INHATAB years)")
    ap.add_argument("--income", help="INHATAB parquet")
    ap.add_argument("--ihi-koppel", help="Koppeltabel_IPI_IHI_IVB parquet (IHI years)")
    ap.add_argument("--ihi", help="IHI (HUISHBVRINK) parquet")
    ap.add_argument("--inharma", help="INHARMATAB parquet (optional: the new poverty line)")
    ap.add_argument("--licat-below", type=int, nargs="+", default=list(IHI_BELOW))
    ap.add_argument("--licatl-below", type=int, nargs="+", default=list(IHI_BELOW))
    ap.add_argument("--licat-missing", type=int, nargs="*", default=list(IHI_MISSING))
    ap.add_argument("--year", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    inhatab, ihi = bool(a.koppel or a.income), bool(a.ihi_koppel or a.ihi)
    if inhatab == ihi or (inhatab and not (a.koppel and a.income)) or (ihi and not (a.ihi_koppel and a.ihi)):
        ap.error("give either --koppel and --income (INHATAB) or --ihi-koppel and --ihi (IHI)")
    io.setup_logging(f"household[{a.year}]")
    att = io.Attrition("household")
    # person_year / person_year_ihi step by step, so that each input is freed once used: the
    # households' statuses, then the persons' keys, then (the join done) INHARMATAB. The strings
    # stay Arrow-backed (no Python string per value) until the person-year frame is written.
    if inhatab:
        hh = _household_rows(io.read_parquet(a.income, arrow_strings=True))
        k = _koppel_frame(io.read_parquet(a.koppel, arrow_strings=True), s="RINPERSOONSHKW", r="RINPERSOONHKW")
        names = dict(source=SOURCE_INHATAB, koppel_name="KOPPELPERSOONHUISHOUDEN", income_name="INHA")
    else:
        hh = household_status_ihi(io.read_parquet(a.ihi, arrow_strings=True), below=a.licat_below,
                                  below_long=a.licatl_below, missing=a.licat_missing, file=a.ihi)
        k = _koppel_frame(io.read_parquet(a.ihi_koppel, arrow_strings=True), s="RINPERSOONSKERN", r="RINPERSOONKERN")
        names = dict(source=SOURCE_IHI, koppel_name="Koppeltabel_IPI_IHI_IVB", income_name="HUISHBVRINK")
    py = _person_year(k, hh, year=a.year, inharma=None, att=att, **names)
    del k, hh
    if a.inharma:
        py = _add_new_line(py, io.read_parquet(a.inharma, arrow_strings=True), year=a.year, att=att)
    io.write_parquet(py, a.out, strings_as_object=True)   # as _with_object_strings(py) would be written
    io.write_csv(att.frame(), a.attrition)
    return 0
