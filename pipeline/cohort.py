"""Children and their parents (methodology §2)."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from . import io

KEY = ["RINPERSOONS", "RINPERSOON"]
_EMPTY_RIN = r"\s*-*\s*"


def clean_persons(persons: pd.DataFrame, *, attrition: io.Attrition | None = None) -> pd.DataFrame:
    """Persons with RINPERSOONS "R", one row per RIN, birth year and month as numbers.

    Unknown year ("----") or month ("--") become NaN; the birth day is not used (CBS sets it to 01).
    """
    att = attrition or io.Attrition("cohort")
    n0 = len(persons)
    p = persons[persons["RINPERSOONS"] == "R"]
    att.record("persons with RINPERSOONS R (in GBA/BRP)", before=n0, after=len(p))
    n1 = len(p)
    p = p[~p.duplicated("RINPERSOON", keep=False)]
    att.record("persons with one GBAPERSOONTAB row", before=n1, after=len(p))
    year = _digits_as_number(p["GBAGEBOORTEJAAR"], digits="{4}")
    month = _digits_as_number(p["GBAGEBOORTEMAAND"], digits="{1,2}")
    month = month.where(month.between(1, 12))
    # Strings stay object dtype (pandas 3 would infer its str dtype from an object array, whose
    # isin and map go through Python lists).
    out = pd.DataFrame({"RINPERSOONS": pd.Series(p["RINPERSOONS"].to_numpy(dtype=object), dtype=object),
                        "RINPERSOON": pd.Series(p["RINPERSOON"].to_numpy(dtype=object), dtype=object),
                        "birth_year": year.to_numpy(dtype="float64"), "birth_month": month.to_numpy(dtype="float64")})
    for c, default in (("GBAGESLACHT", "-"), ("GBAGENERATIE", "-")):
        out[c.lower().replace("gba", "")] = (pd.Series(p[c].to_numpy(dtype=object), dtype=object)
                                             if c in p.columns else default)
    return out.reset_index(drop=True)


def _digits_as_number(s: pd.Series, *, digits: str) -> pd.Series:
    """The values that are ``digits`` decimal digits (a regex count, e.g. "{4}") as numbers, else NaN:
    ``pd.to_numeric(s.where(s.str.fullmatch(r"\\d" + digits), None), errors="coerce")``, in Arrow
    when every value is an ASCII string (then \\d means [0-9] in both)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        arr = pa.array(s.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        arr = None
    if arr is None or arr.null_count or (len(arr) and not pc.all(pc.string_is_ascii(arr)).as_py()):
        return pd.to_numeric(s.where(s.str.fullmatch(r"\d" + digits), None), errors="coerce")
    ok = pc.match_substring_regex(arr, f"^[0-9]{digits}$")
    num = pc.cast(pc.if_else(ok, arr, None), pa.int64()).to_numpy(zero_copy_only=False)
    return pd.Series(num, index=s.index, dtype="float64")


def _empty_rin(rin: pd.Series) -> pd.Series:
    """``rin.fillna("").str.fullmatch(_EMPTY_RIN)`` (empty, blank or dashes), with Python's regex
    only on the values that are not all ASCII digits (those never match), found in Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc
    text = rin.fillna("")
    try:
        arr = pa.array(text.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        return text.str.fullmatch(_EMPTY_RIN).astype(bool)
    digits = pc.match_substring_regex(arr, r"^[0-9]+$").to_numpy(zero_copy_only=False)
    out = np.zeros(len(text), dtype=bool)
    rest = np.flatnonzero(~digits)
    if len(rest):
        out[rest] = text.iloc[rest].str.fullmatch(_EMPTY_RIN).to_numpy(dtype=bool)
    return pd.Series(out, index=rin.index)


def link_parents(kids: pd.DataFrame, persons: pd.DataFrame, parents: pd.DataFrame, *, min_gap: int,
                 attrition: io.Attrition | None = None) -> pd.DataFrame:
    """Add the counted ``father`` and ``mother`` RIN (None when not counted) and ``n_parents``.

    ``kids`` and ``persons`` come from :func:`clean_persons`. Exact duplicate KINDOUDERTAB rows
    are dropped; a kid with two different rows is a conflict and leaves. A link counts when the
    parent's RINPERSOONS is R, the RIN is not empty or dashes, differs from the kid's, and the
    parent is in GBAPERSOONTAB born at least ``min_gap`` years before the kid (by month; an
    unknown parent month is taken as December, so doubt never makes a parent older).
    """
    att = attrition or io.Attrition("cohort")
    rows = parents[parents["RINPERSOONS"] == "R"]
    rows = rows[rows["RINPERSOON"].isin(kids["RINPERSOON"])]
    n0 = len(rows)
    rows = rows.drop_duplicates()
    att.record("KINDOUDERTAB rows of these persons after dropping exact duplicates", before=n0,
               after=len(rows), unit="rows")
    conflict = rows["RINPERSOON"].duplicated(keep=False)
    conflicted = set(rows.loc[conflict, "RINPERSOON"])
    rows = rows[~conflict]
    n1 = len(kids)
    kids = kids[~kids["RINPERSOON"].isin(conflicted)]
    att.record("no conflicting KINDOUDERTAB rows", before=n1, after=len(kids))
    out = io.checked_merge(kids, rows.drop(columns="RINPERSOONS"), on="RINPERSOON", how="left",
                           validate="1:1", what="persons -> KINDOUDERTAB")
    kid_m = out["birth_year"] * 12 + out["birth_month"]
    roles = (("father", "RINPERSOONSpa", "RINPERSOONpa"), ("mother", "RINPERSOONSMa", "RINPERSOONMa"))
    # rin.map(born_m) for both roles at once: positions in persons' RINs (unique: clean_persons)
    born_m = (persons["birth_year"] * 12 + persons["birth_month"].fillna(12)).to_numpy(dtype="float64")
    at = io.positions_in(np.concatenate([out[r_col].to_numpy(dtype=object) for _, _, r_col in roles]),
                         io.arrow_strings(persons["RINPERSOON"]))
    parent_m = dict(zip([role for role, _, _ in roles], np.split(io.take(born_m, at, fill=np.nan), [len(out)])))
    del at
    for role, s_col, r_col in roles:
        rin = out[r_col].astype(object)
        present = rin.notna() & ~_empty_rin(rin)
        ok = present & (out[s_col] == "R") & (rin != out["RINPERSOON"])
        pm = pd.Series(parent_m[role], index=rin.index)
        ok &= pm.notna() & (kid_m - pm >= min_gap * 12)
        out[role] = rin.where(ok, None).astype(object)
        io.log.info("%s links: %d present, %d counted (R, not self, in GBAPERSOONTAB, >= %d years older)",
                    role, int(present.sum()), int(ok.sum()), min_gap)
    out["n_parents"] = out["father"].notna().astype("int8") + out["mother"].notna().astype("int8")
    return out.drop(columns=["RINPERSOONSpa", "RINPERSOONpa", "RINPERSOONSMa", "RINPERSOONMa"])


def select_children(persons: pd.DataFrame, parents: pd.DataFrame, *, birth_years: tuple[int, int],
                    require_both_parents: bool = False, min_parent_age_gap: int = 12,
                    attrition: io.Attrition | None = None) -> pd.DataFrame:
    """The cohort: R persons born in ``birth_years`` (inclusive) with a known birth month and at
    least one counted parent (two with ``require_both_parents``)."""
    att = attrition or io.Attrition("cohort")
    people = clean_persons(persons, attrition=att)
    n0 = len(people)
    known = people["birth_year"].notna()
    att.record("birth year known", before=n0, after=int(known.sum()))
    lo, hi = birth_years
    kids = people[known & people["birth_year"].between(lo, hi)]
    att.record(f"born {lo}-{hi}", before=int(known.sum()), after=len(kids))
    n1 = len(kids)
    kids = kids[kids["birth_month"].notna()]
    att.record("birth month known", before=n1, after=len(kids))
    kids = link_parents(kids, people, parents, min_gap=min_parent_age_gap, attrition=att)
    counts = kids["n_parents"].value_counts().reindex([0, 1, 2], fill_value=0)
    io.log.info("children with 0/1/2 counted parents: %d/%d/%d", counts[0], counts[1], counts[2])
    need = 2 if require_both_parents else 1
    n2 = len(kids)
    kids = kids[kids["n_parents"] >= need]
    att.record(f"at least {need} counted parent(s)", before=n2, after=len(kids))
    kids = add_grandparents(kids, people, parents, min_gap=min_parent_age_gap, attrition=att)
    kids = kids.astype({"birth_year": "int16", "birth_month": "int8"})
    return kids.reset_index(drop=True)


def add_grandparents(kids: pd.DataFrame, persons: pd.DataFrame, parents: pd.DataFrame, *, min_gap: int,
                     attrition: io.Attrition | None = None) -> pd.DataFrame:
    """KINDOUDERTAB applied twice: the counted parents of each counted parent, as
    ``father_father``, ``father_mother``, ``mother_father`` and ``mother_mother``."""
    att = attrition or io.Attrition("cohort")
    rins = pd.unique(pd.concat([kids["father"], kids["mother"]]).dropna())
    gen1 = persons[persons["RINPERSOON"].isin(rins)]
    quiet = io.Attrition("cohort")  # the parents' own conflicts are not the cohort's attrition
    linked = link_parents(gen1, persons, parents, min_gap=min_gap, attrition=quiet).set_index("RINPERSOON")
    out = kids.copy()
    for role in ("father", "mother"):
        for gp in ("father", "mother"):
            g = out[role].map(linked[gp])
            out[f"{role}_{gp}"] = g.astype(object).where(g.notna(), None)
    n_any = int(out[["father_father", "father_mother", "mother_father", "mother_mother"]].notna().any(axis=1).sum())
    att.record("third generation: at least one counted grandparent (not a filter)", before=len(out), after=n_any)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline cohort", description=__doc__)
    ap.add_argument("--persons", required=True)
    ap.add_argument("--parents", required=True)
    ap.add_argument("--birth-years", type=int, nargs=2, required=True)
    ap.add_argument("--require-both-parents", action="store_true")
    ap.add_argument("--min-parent-age-gap", type=int, default=12)
    ap.add_argument("--out", required=True)
    ap.add_argument("--attrition", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("cohort")
    att = io.Attrition("cohort")
    kids = select_children(io.read_parquet(a.persons), io.read_parquet(a.parents),
                           birth_years=tuple(a.birth_years), require_both_parents=a.require_both_parents,
                           min_parent_age_gap=a.min_parent_age_gap, attrition=att)
    io.write_parquet(kids, a.out)
    io.write_csv(att.frame(), a.attrition)
    return 0
