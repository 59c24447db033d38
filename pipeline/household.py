"""A person's household in one income year (methodology §4): valid, poor, long-term poor, rank."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from . import io


def household_status(income: pd.DataFrame) -> pd.DataFrame:
    """Per household (HKW key) of one INHATAB year: ``valid``, ``poor``, ``lt_poor``, ``rank``.

    Valid is INHPOPIIV == 1 (a private household with income); where the column is absent,
    1 <= INHP100HGEST <= 100. Poor and long-term poor need a valid household and
    0 <= INHARMLAG(L) < 100; the rank is INHP100HGEST / 100.
    """
    pct = income["INHP100HGEST"]
    pct_ok = pct.between(1, 100)
    if "INHPOPIIV" in income.columns:
        valid = income["INHPOPIIV"].eq(1)
    else:
        io.log.warning("INHPOPIIV absent: valid households are those with 1 <= INHP100HGEST <= 100")
        valid = pct_ok
    lag, lagl = income["INHARMLAG"], income["INHARMLAGL"]
    out = pd.DataFrame({
        "hh": (income["RINPERSOONSHKW"] + income["RINPERSOONHKW"]).astype(object),
        "valid": valid.to_numpy(),
        "poor": (valid & lag.ge(0) & lag.lt(100)).to_numpy(),
        "lt_poor": (valid & lagl.ge(0) & lagl.lt(100)).to_numpy(),
        # A valid household without a usable percentile has no rank (it still has a status).
        "rank": np.where(valid & pct_ok, pct / 100.0, np.nan).astype("float32"),
    })
    dup = out["hh"].duplicated(keep=False)
    if dup.any():
        io.log.warning("%d INHATAB rows share a household key; those households are not valid", int(dup.sum()))
        out.loc[dup, ["valid", "poor", "lt_poor"]] = False
        out.loc[dup, "rank"] = np.nan
        out = out.drop_duplicates("hh")
    return out


def person_year(koppel: pd.DataFrame, income: pd.DataFrame, *, year: int,
                attrition: io.Attrition | None = None) -> pd.DataFrame:
    """Each person's household key and status in ``year`` (persons without INHATAB row: not valid)."""
    att = attrition or io.Attrition("household")
    hh = household_status(income)
    k = pd.DataFrame({"RINPERSOONS": koppel["RINPERSOONS"], "RINPERSOON": koppel["RINPERSOON"],
                      "hh": (koppel["RINPERSOONSHKW"] + koppel["RINPERSOONHKW"]).astype(object)})
    n0 = len(k)
    dup = k.duplicated(["RINPERSOONS", "RINPERSOON"], keep=False)
    k = k[~dup]
    att.record(f"{year}: persons with one KOPPELPERSOONHUISHOUDEN row (conflicting rows dropped)",
               before=n0, after=len(k), unit="person rows")
    out = io.checked_merge(k, hh, on="hh", how="left", validate="m:1",
                           what=f"KOPPELPERSOONHUISHOUDEN{year} -> INHA{year}")
    for c in ("valid", "poor", "lt_poor"):
        out[c] = out[c].astype("boolean").fillna(False).astype(bool)
    out["rank"] = out["rank"].astype("float32")
    out.insert(0, "year", np.int16(year))
    att.record(f"{year}: persons in a valid household", before=len(out), after=int(out["valid"].sum()),
               unit="person rows")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline household", description=__doc__)
    ap.add_argument("--koppel", required=True)
    ap.add_argument("--income", required=True)
    ap.add_argument("--year", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    io.setup_logging(f"household[{a.year}]")
    att = io.Attrition("household")
    py = person_year(io.read_parquet(a.koppel), io.read_parquet(a.income), year=a.year, attrition=att)
    io.write_parquet(py, a.out)
    io.write_csv(att.frame(), a.attrition)
    return 0
