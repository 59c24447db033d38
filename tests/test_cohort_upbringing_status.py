"""Cohort (§2), area of upbringing (§3), household (§4) and statuses (§5-§6) on hand-built rows,
including the awkward ones."""
import numpy as np
import pandas as pd
import pytest

from pipeline.cohort import select_children
from pipeline.errors import PipelineInputError
from pipeline.household import person_year
from pipeline.status import child_statuses
from pipeline.upbringing import upbringing_areas

D = "---------"


def persons(rows):
    return pd.DataFrame(rows, columns=["RINPERSOONS", "RINPERSOON", "GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND",
                                       "GBAGESLACHT", "GBAGENERATIE"]).astype(object)


def parents(rows):
    return pd.DataFrame(rows, columns=["RINPERSOONS", "RINPERSOON", "RINPERSOONSpa", "RINPERSOONpa",
                                       "RINPERSOONSMa", "RINPERSOONMa"]).astype(object)


P = persons([
    ("R", "000000001", "1996", "03", "1", "0"),   # child, both parents
    ("R", "000000002", "1997", "11", "2", "0"),   # child, father RIN dashes, mother ok
    ("R", "000000003", "1995", "01", "1", "0"),   # child, conflicting rows
    ("R", "000000004", "1998", "06", "2", "0"),   # child, parent = self and parent too young
    ("R", "000000005", "----", "--", "1", "-"),   # unknown birth year
    ("R", "000000006", "1996", "--", "1", "0"),   # unknown month
    ("N", "000000007", "1996", "01", "1", "0"),   # not R
    ("R", "000000008", "2001", "01", "1", "0"),   # outside cohort years
    ("R", "000000009", "1996", "05", "2", "0"),   # child, only a parent absent from persons
    ("R", "100000001", "1966", "02", "1", "0"),   # father of 1
    ("R", "100000002", "1968", "07", "2", "0"),   # mother of 1 and 2
    ("R", "100000004", "1986", "--", "1", "0"),   # 'parent' of 4: month unknown -> Dec 1986 (< 12 y)
])
K = parents([
    ("R", "000000001", "R", "100000001", "R", "100000002"),
    ("R", "000000001", "R", "100000001", "R", "100000002"),   # exact duplicate
    ("R", "000000002", "-", D, "R", "100000002"),
    ("R", "000000003", "R", "100000001", "R", "100000002"),
    ("R", "000000003", "R", "100000001", "", ""),            # conflict
    ("R", "000000004", "R", "000000004", "R", "100000004"),
    ("R", "000000009", "R", "199999999", "", ""),
])


def test_select_children_rules():
    kids = select_children(P, K, birth_years=(1995, 1998)).set_index("RINPERSOON")
    assert sorted(kids.index) == ["000000001", "000000002"]
    assert kids.loc["000000001", "father"] == "100000001"
    assert kids.loc["000000001", "mother"] == "100000002"
    assert kids.loc["000000001", "n_parents"] == 2
    assert kids.loc["000000002", "father"] is None
    assert kids.loc["000000002", "n_parents"] == 1


def test_select_children_both_parents_and_attrition():
    from pipeline.io import Attrition
    att = Attrition("cohort")
    kids = select_children(P, K, birth_years=(1995, 1998), require_both_parents=True, attrition=att)
    assert list(kids["RINPERSOON"]) == ["000000001"]
    f = att.frame().set_index("check")
    assert f.loc["persons with RINPERSOONS R (in GBA/BRP)", "n_dropped"] == 1
    assert f.loc["birth month known", "n_dropped"] == 1
    assert f.loc["no conflicting KINDOUDERTAB rows", "n_dropped"] == 1


def addresses(rows):
    return pd.DataFrame(rows, columns=["RINPERSOONS", "RINPERSOON", "GBADATUMAANVANGADRESHOUDING",
                                       "GBADATUMEINDEADRESHOUDING", "SOORTOBJECTNUMMER", "RINOBJECTNUMMER"]).astype(object)


AREAS = pd.DataFrame([
    ("B", "obj1", "0765", "076501", "07650101"),
    ("B", "obj2", "0765", "076501", "07650102"),
    ("B", "obj3", "0014", "001401", "00140101"),    # outside the region
    ("B", "obj4", "----", "------", "--------"),    # no codes
    ("W", "obj1", "0047", "004701", "00470101"),    # same number, other object kind
], columns=["SOORTOBJECTNUMMER", "RINOBJECTNUMMER", "gem", "wc", "bc"]).astype(object)


def _children(rins_births):
    return pd.DataFrame([("R", r, y, m) for r, y, m in rins_births],
                        columns=["RINPERSOONS", "RINPERSOON", "birth_year", "birth_month"])


def test_upbringing_picks_spell_on_15th_birthday():
    kids = _children([("A", 1996, 3), ("B", 1996, 3), ("C", 1996, 3), ("D", 1996, 3), ("E", 1996, 3),
                      ("F", 1996, 3)])
    adr = addresses([
        ("R", "A", "19960301", "20100101", "B", "obj3"),   # before
        ("R", "A", "20100102", "", "B", "obj1"),           # open (empty) on 2011-03-01
        ("R", "B", "20050101", "--------", "B", "obj1"),   # open (dashes), overlapping with
        ("R", "B", "20080101", "20500101", "B", "obj2"),   # a later start: wins
        ("R", "C", "20110301", "20110301", "B", "obj2"),   # one-day spell on the date
        ("R", "C", "20110301", "20120101", "B", "obj1"),   # same start: lowest object wins -> obj1
        ("R", "D", "20000101", "20110228", "B", "obj1"),   # ended the day before: no address
        ("R", "E", "20000101", "99991231", "B", "obj4"),   # address without codes
        ("R", "F", "20000101", "20231231", "W", "obj1"),   # other object kind -> GM0047
    ])
    out = upbringing_areas(kids, adr, AREAS, region=["GM0765", "GM0047"]).set_index("RINPERSOON")
    assert out.loc["A", "buurt"] == "BU07650101"
    assert out.loc["B", "buurt"] == "BU07650102"
    assert out.loc["C", "buurt"] == "BU07650101"
    assert out.loc["F", "gemeente"] == "GM0047" and out.loc["F", "wijk"] == "WK004701"
    assert "D" not in out.index and "E" not in out.index


def test_upbringing_region_without_children_fails_early():
    kids = _children([("A", 1996, 3)])
    adr = addresses([("R", "A", "20000101", "", "B", "obj3")])
    with pytest.raises(PipelineInputError, match="no children grew up in the study region"):
        upbringing_areas(kids, adr, AREAS, region=["GM0765"])


def _py(year, rows):
    koppel = pd.DataFrame([("R", r, "R", h) for r, h in rows],
                          columns=["RINPERSOONS", "RINPERSOON", "RINPERSOONSHKW", "RINPERSOONHKW"]).astype(object)
    return koppel


INCOME = pd.DataFrame([
    ("R", "H_POOR", 1.0, 10.0, 80.0, 120.0),
    ("R", "H_RICH", 1.0, 90.0, 300.0, 300.0),
    ("R", "H_STUD", 2.0, -1.0, 70.0, -4.0),     # student household: not valid
    ("R", "H_INST", 3.0, -2.0, -2.0, -2.0),     # institutional
    ("R", "H_LTP", 1.0, 5.0, 60.0, 90.0),       # long-term poor
], columns=["RINPERSOONSHKW", "RINPERSOONHKW", "INHPOPIIV", "INHP100HGEST", "INHARMLAG", "INHARMLAGL"])


def test_person_year_status_and_fallback_without_inhpopiiv():
    k = _py(2015, [("A", "H_POOR"), ("B", "H_RICH"), ("C", "H_STUD"), ("D", "H_INST"), ("E", "H_LTP"),
                   ("F", "H_MISSING")])
    py = person_year(k, INCOME, year=2015).set_index("RINPERSOON")
    assert py.loc["A", "poor"] and not py.loc["A", "lt_poor"] and py.loc["A", "rank"] == pytest.approx(0.10)
    assert py.loc["B", "valid"] and not py.loc["B", "poor"]
    assert not py.loc["C", "valid"] and not py.loc["C", "poor"]
    assert not py.loc["D", "valid"]
    assert py.loc["E", "lt_poor"]
    assert not py.loc["F", "valid"] and np.isnan(py.loc["F", "rank"])
    # Without INHPOPIIV the percentile decides validity (1..100).
    py2 = person_year(k, INCOME.drop(columns="INHPOPIIV"), year=2015).set_index("RINPERSOON")
    assert py2.loc["A", "valid"] and not py2.loc["C", "valid"] and not py2.loc["D", "valid"]


def test_child_statuses_windows_and_fallback():
    kids = pd.DataFrame({"RINPERSOONS": ["R", "R"], "RINPERSOON": ["K1", "K2"], "birth_year": [1996, 1996],
                         "birth_month": [1, 1], "father": ["F1", None], "mother": ["M1", "M2"]})
    inc = INCOME
    years = {}
    # parents' window 2008-2013 -> years on disk 2011, 2012, 2013
    years[2011] = person_year(_py(2011, [("K1", "H_POOR"), ("K2", "H_RICH")]), inc, year=2011)
    # 2012: K1 has no row -> mother's household (poor); K2 has a student household -> invalid, no fallback
    years[2012] = person_year(_py(2012, [("M1", "H_POOR"), ("F1", "H_RICH"), ("K2", "H_STUD"), ("M2", "H_POOR")]),
                              inc, year=2012)
    years[2013] = person_year(_py(2013, [("K1", "H_RICH"), ("K2", "H_POOR")]), inc, year=2013)
    # adult window 2020-2023: K1 poor in 2020 and rich in 2021 (1 of 2 = half -> poor); K2 lives with mother
    years[2020] = person_year(_py(2020, [("K1", "H_POOR"), ("K2", "H_RICH"), ("M2", "H_RICH")]), inc, year=2020)
    years[2021] = person_year(_py(2021, [("K1", "H_RICH"), ("M1", "H_LTP")]), inc, year=2021)
    out = child_statuses(kids, years).set_index("RINPERSOON")
    assert out.loc["K1", "parents_valid_years"] == 3
    assert bool(out.loc["K1", "parents_poor"]) is True            # poor in 2011, 2012 of 3
    assert out.loc["K1", "parent_rank"] == pytest.approx((0.10 + 0.10 + 0.90) / 3, rel=1e-6)
    assert out.loc["K2", "parents_valid_years"] == 2                # 2012 invalid, no fallback
    assert bool(out.loc["K2", "parents_poor"]) is True              # 1 of 2 valid years = half
    assert bool(out.loc["K1", "child_poor"]) is True
    assert out.loc["K1", "child_valid_years"] == 2
    assert bool(out.loc["K1", "lives_with_parent"]) is False
    assert bool(out.loc["K2", "lives_with_parent"]) is True
    assert bool(out.loc["K2", "child_poor"]) is False


def test_child_statuses_too_few_valid_years():
    kids = pd.DataFrame({"RINPERSOONS": ["R"], "RINPERSOON": ["K1"], "birth_year": [1998], "birth_month": [1],
                         "father": [None], "mother": ["M1"]})
    years = {2015: person_year(_py(2015, [("K1", "H_POOR")]), INCOME, year=2015)}
    out = child_statuses(kids, years)
    assert out["parents_poor"].isna().all()      # 1 valid year < 2
    assert out["child_poor"].isna().all()        # adult window not on disk


def test_family_years_file_gives_the_same_statuses(tmp_path):
    """status reads one file of the families' person-years (step family_years) instead of every
    year's file: the same statuses, other persons left out, and a year without family rows kept."""
    from pipeline import io
    from pipeline.family_years import family_frames, family_person_years, read_family_years, write_family_years
    from pipeline.status import family_statuses
    kids = pd.DataFrame({"RINPERSOONS": ["R", "R"], "RINPERSOON": ["K1", "K2"], "birth_year": [1996, 1996],
                         "birth_month": [1, 1], "father": ["F1", None], "mother": ["M1", "M2"],
                         "father_father": ["G1", None], "father_mother": [None, None],
                         "mother_father": [None, "G2"], "mother_mother": [None, None]})
    rows = {2011: [("K1", "H_POOR"), ("K2", "H_RICH"), ("X1", "H_POOR"), ("G1", "H_POOR"), ("G2", "H_RICH")],
            2012: [("M1", "H_POOR"), ("F1", "H_POOR"), ("K2", "H_STUD"), ("M2", "H_POOR"), ("G1", "H_LTP")],
            2013: [("X2", "H_RICH")],                            # nobody of the families
            2020: [("K1", "H_POOR"), ("K2", "H_RICH"), ("M2", "H_RICH"), ("F1", "H_POOR")],
            2021: [("K1", "H_RICH"), ("M1", "H_LTP"), ("K1", "H_POOR")]}   # K1 twice: conflicting, dropped
    years = {y: person_year(_py(y, r), INCOME, year=y) for y, r in rows.items()}
    files = {}
    for y, df in years.items():
        files[y] = tmp_path / f"person_year_{y}.parquet"
        io.write_parquet(df, files[y])
    fam = family_person_years(kids, files)
    assert set(fam.column("RINPERSOON").to_pylist()) == {"K1", "K2", "M1", "M2", "F1", "G1", "G2"}
    write_family_years(fam, tmp_path / "family.parquet", years=list(files))
    table, covered = read_family_years(tmp_path / "family.parquet")
    assert covered == sorted(rows)
    back = family_frames(table, years=covered)
    assert sorted(back) == sorted(rows) and back[2013].empty
    want = child_statuses(kids, years)
    # the statuses from the per-year frames and straight from the Arrow table of the file
    pd.testing.assert_frame_equal(child_statuses(kids, back), want, check_exact=True)
    got = family_statuses(kids, table, years=covered)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.set_index("RINPERSOON").loc["K1", "parents_valid_years"] == 2   # own 2011, mother 2012; 2013 none


def test_empty_parent_rin_matches_the_plain_regex():
    from pipeline.cohort import _EMPTY_RIN, _empty_rin
    s = pd.Series(["", None, "---", " - ", "000000001", "12a", "\u00a0", "\u0661\u0662", "x-", "  ", "\x1c-"],
                  dtype=object, index=np.arange(11) * 2)
    got = _empty_rin(s)
    assert got.index.equals(s.index)
    assert got.tolist() == s.fillna("").str.fullmatch(_EMPTY_RIN).tolist()
