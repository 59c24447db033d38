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
    if table == "ihi":
        # IHI (income years before 2011): household key RINPERSOONSKERN/RINPERSOONKERN, BVR* variables.
        # BVRPERCGESTINKH is coded 0..99 (sometimes as text, " 0"); the reader turns it into numbers.
        return TableSpec("IHI (HUISHBVRINK)", [
            Col("RINPERSOONSKERN", width=1), Col("RINPERSOONKERN", width=9),
            Col("BVRPERCGESTINKH", kind="num"), Col("BVRLICAT", kind="num"), Col("BVRLICATL", kind="num"),
            Col("BVRGESTINKH", kind="num", required=False)])
    if table == "ihi_koppel":
        return TableSpec("Koppeltabel_IPI_IHI_IVB", RIN + [Col("RINPERSOONSKERN", width=1),
                                                            Col("RINPERSOONKERN", width=9)])
    if table == "inharma":
        # Key UNVERIFIED: the household key like INHATAB, or a person key; ingest checks that one
        # of the two pairs is complete.
        return TableSpec("INHARMATAB", [
            Col("RINPERSOONSHKW", width=1, required=False), Col("RINPERSOONHKW", width=9, required=False),
            Col("RINPERSOONS", width=1, required=False), Col("RINPERSOON", width=9, required=False),
            Col("INHARMOEDE", kind="num")])
    raise ValueError(f"unknown table {table}")


TABLES = ("persons", "parents", "addresses", "areas", "income", "koppel", "ihi", "ihi_koppel", "inharma")
# The key pairs INHARMATAB may carry, in order of preference (a person key is the more precise).
INHARMA_KEYS = (("RINPERSOONS", "RINPERSOON"), ("RINPERSOONSHKW", "RINPERSOONHKW"))
