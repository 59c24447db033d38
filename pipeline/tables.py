"""The CBS tables the pipeline reads: for each, the columns it needs and their kinds.

Names are CBS's exact names (cbs-microdata.md); the reader also accepts them in another case.
"""
from __future__ import annotations

from .io import Col, TableSpec

RIN = [Col("RINPERSOONS", width=1), Col("RINPERSOON", width=9)]


def spec(table: str, *, target_year: int | None = None) -> TableSpec:
    if table == "persons":
        return TableSpec("GBAPERSOONTAB", RIN + [
            Col("GBAGEBOORTEJAAR", width=4), Col("GBAGEBOORTEMAAND", width=2),
            Col("GBAGESLACHT", width=1, required=False), Col("GBAGENERATIE", width=1, required=False)])
    if table == "parents":
        return TableSpec("KINDOUDERTAB", RIN + [
            Col("RINPERSOONSpa", width=1), Col("RINPERSOONpa", width=9),
            Col("RINPERSOONSMa", width=1), Col("RINPERSOONMa", width=9)])
    if table == "addresses":
        return TableSpec("GBAADRESOBJECTBUS", RIN + [
            Col("GBADATUMAANVANGADRESHOUDING", width=8), Col("GBADATUMEINDEADRESHOUDING", width=8),
            Col("SOORTOBJECTNUMMER"), Col("RINOBJECTNUMMER")])
    if table == "areas":
        if target_year is None:
            raise ValueError("the areas table needs a target year")
        y = target_year
        return TableSpec("VSLGWBTAB", [Col("SOORTOBJECTNUMMER"), Col("RINOBJECTNUMMER"),
                                       Col(f"gem{y}", width=4), Col(f"wc{y}", width=6), Col(f"bc{y}", width=8)])
    if table == "income":
        return TableSpec("INHATAB", [
            Col("RINPERSOONSHKW", width=1), Col("RINPERSOONHKW", width=9),
            Col("INHPOPIIV", kind="num", required=False), Col("INHP100HGEST", kind="num"),
            Col("INHARMLAG", kind="num"), Col("INHARMLAGL", kind="num")])
    if table == "koppel":
        return TableSpec("KOPPELPERSOONHUISHOUDEN", RIN + [Col("RINPERSOONSHKW", width=1),
                                                            Col("RINPERSOONHKW", width=9)])
    raise ValueError(f"unknown table {table}")


TABLES = ("persons", "parents", "addresses", "areas", "income", "koppel")
