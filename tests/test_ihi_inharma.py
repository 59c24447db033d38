"""IHI income years (before 2011) and the new poverty line (INHARMATAB) on hand-built rows:
BVRLICAT codes, the percentile shift, missing codes, the KERN key, both INHARMATAB key forms and
998/999, file discovery under the folder names Remote Access uses."""
import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from pipeline import tables
from pipeline.errors import PipelineInputError
from pipeline.household import household_status_ihi, new_line_status, person_year, person_year_ihi
from pipeline.ingest import ingest_table
from pipeline.io import discover, pick_per_key
from pipeline.status import child_statuses

from test_cohort_upbringing_status import INCOME, _py

IHI = pd.DataFrame([
    # KERN key, percentile (0..99), BVRLICAT, BVRLICATL
    ("R", "H_POOR", 9.0, 4.0, 5.0),         # below the line this year, not for four years
    ("R", "H_RICH", 89.0, 5.0, 5.0),
    ("R", "H_ZERO", 0.0, 4.0, 4.0),         # lowest percentile group -> rank 0.01; long-term poor
    ("R", "H_INST", np.nan, 1.0, 1.0),      # institutional: no status
    ("R", "H_UNKN", np.nan, 2.0, 2.0),      # income unknown
    ("R", "H_STUD", 40.0, 3.0, 3.0),        # student household: has a percentile, no status
    ("R", "H_EMPTY", 50.0, np.nan, np.nan),  # empty code: not valid
    ("R", "H_NOPCT", np.nan, 5.0, 5.0),     # valid without a percentile: status, no rank
], columns=["RINPERSOONSKERN", "RINPERSOONKERN", "BVRPERCGESTINKH", "BVRLICAT", "BVRLICATL"])


def _kern(rows):
    return pd.DataFrame([("R", r, "R", h) for r, h in rows],
                        columns=["RINPERSOONS", "RINPERSOON", "RINPERSOONSKERN", "RINPERSOONKERN"]).astype(object)


def test_ihi_codes_percentile_shift_and_missing_codes():
    st = household_status_ihi(IHI).set_index("hh")
    assert st.loc["RH_POOR", "valid"] and st.loc["RH_POOR", "poor"] and not st.loc["RH_POOR", "lt_poor"]
    assert st.loc["RH_POOR", "rank"] == pytest.approx(0.10)     # 9 -> group 10 of 1..100
    assert st.loc["RH_RICH", "rank"] == pytest.approx(0.90) and not st.loc["RH_RICH", "poor"]
    assert st.loc["RH_ZERO", "rank"] == pytest.approx(0.01) and st.loc["RH_ZERO", "lt_poor"]
    for h in ("RH_INST", "RH_UNKN", "RH_STUD", "RH_EMPTY"):
        assert not st.loc[h, ["valid", "poor", "lt_poor"]].any() and np.isnan(st.loc[h, "rank"]), h
    assert st.loc["RH_NOPCT", "valid"] and np.isnan(st.loc["RH_NOPCT", "rank"])


def test_ihi_codes_come_from_the_caller():
    # Another coding: 2 = below, 9 = no status. Code 4 then means "at or above the line".
    alt = IHI.assign(BVRLICAT=[2.0, 4.0, 2.0, 9.0, 9.0, 9.0, np.nan, 4.0], BVRLICATL=[4.0, 4.0, 2.0, 9.0, 9.0, 9.0,
                                                                                   np.nan, 4.0])
    st = household_status_ihi(alt, below=[2], below_long=[2], missing=[9]).set_index("hh")
    assert st.loc["RH_POOR", "poor"] and not st.loc["RH_POOR", "lt_poor"]
    assert st.loc["RH_RICH", "valid"] and not st.loc["RH_RICH", "poor"]
    assert st.loc["RH_ZERO", "lt_poor"] and not st.loc["RH_INST", "valid"]
    with pytest.raises(ValueError, match="both"):
        household_status_ihi(IHI, below=[4], missing=[4])


def test_ihi_percentile_100_means_another_coding():
    bad = IHI.assign(BVRPERCGESTINKH=[10.0, 100.0, 1.0, np.nan, np.nan, 41.0, 51.0, np.nan])
    with pytest.raises(PipelineInputError, match="BVRPERCGESTINKH") as e:
        household_status_ihi(bad, file="HUISHBVRINK2005TABV1.sav")
    assert "HUISHBVRINK2005TABV1.sav" in str(e.value) and "IHI" in str(e.value)


def test_person_year_from_ihi_has_the_inhatab_schema():
    k = _kern([("A", "H_POOR"), ("B", "H_RICH"), ("C", "H_STUD"), ("D", "H_MISSING")])
    py = person_year_ihi(k, IHI, year=2005)
    ref = person_year(_py(2015, [("A", "H_POOR")]), INCOME, year=2015)
    assert list(py.columns) == list(ref.columns)
    assert list(py.columns) == ["year", "RINPERSOONS", "RINPERSOON", "hh", "valid", "poor", "lt_poor", "rank",
                                "source", "poor_new"]
    assert py.dtypes.to_dict() == ref.dtypes.to_dict()
    py = py.set_index("RINPERSOON")
    assert (py["source"] == "IHI").all() and (ref["source"] == "INHATAB").all()
    assert py["poor_new"].isna().all() and str(py["poor_new"].dtype) == "boolean"
    assert py.loc["A", "poor"] and py.loc["A", "hh"] == "RH_POOR"
    assert not py.loc["C", "valid"] and not py.loc["D", "valid"]
    assert int(py["year"].iloc[0]) == 2005


def test_statuses_over_ihi_and_inhatab_years():
    kids = pd.DataFrame({"RINPERSOONS": ["R"], "RINPERSOON": ["K1"], "birth_year": [1990], "birth_month": [1],
                         "father": [None], "mother": ["M1"]})
    years = {2004: person_year_ihi(_kern([("K1", "H_POOR")]), IHI, year=2004),
             2005: person_year_ihi(_kern([("M1", "H_ZERO")]), IHI, year=2005),       # mother's household
             2014: person_year(_py(2014, [("K1", "H_POOR")]), INCOME, year=2014),
             2015: person_year(_py(2015, [("K1", "H_RICH")]), INCOME, year=2015)}
    out = child_statuses(kids, years, parents_ages=(14, 15), child_ages=(24, 25)).iloc[0]
    assert out["parents_valid_years"] == 2 and bool(out["parents_poor"]) is True
    assert out["parent_rank"] == pytest.approx((0.10 + 0.01) / 2, rel=1e-6)
    assert bool(out["child_poor"]) is True and out["child_valid_years"] == 2


def _inharma(key, rows):
    return pd.DataFrame(rows, columns=[*key, "INHARMOEDE"]).astype({key[0]: object, key[1]: object})


def test_new_line_household_key_and_missing_codes():
    inh = _inharma(["RINPERSOONSHKW", "RINPERSOONHKW"],
                   [("R", "H_POOR", 85.0), ("R", "H_RICH", 250.0), ("R", "H_STUD", 998.0), ("R", "H_INST", 999.0),
                    ("R", "H_LTP", -1.0), ("R", "H_EDGE", 100.0)])
    k = _py(2019, [("A", "H_POOR"), ("B", "H_RICH"), ("C", "H_STUD"), ("D", "H_INST"), ("E", "H_LTP"),
                   ("F", "H_NOT_IN_INHARMA")])
    py = person_year(k, INCOME, year=2019, inharma=inh).set_index("RINPERSOON")
    assert str(py["poor_new"].dtype) == "boolean"
    assert py.loc["A", "poor_new"] is True or py.loc["A", "poor_new"] == True  # noqa: E712
    assert py.loc["B", "poor_new"] == False  # noqa: E712
    for r in ("C", "D", "E", "F"):
        assert pd.isna(py.loc[r, "poor_new"]), r
    key, st = new_line_status(inh)
    assert key == ["RINPERSOONSHKW", "RINPERSOONHKW"]
    assert st.set_index("RINPERSOONHKW").loc["H_EDGE", "poor_new"] == False  # noqa: E712  100 is not below
    # the old line does not change
    assert py.loc["A", "poor"] and not py.loc["B", "poor"]


def test_new_line_person_key_and_conflicting_rows():
    inh = _inharma(["RINPERSOONS", "RINPERSOON"], [("R", "A", 120.0), ("R", "B", 40.0), ("R", "C", 60.0),
                                                   ("R", "C", 160.0)])
    k = _py(2020, [("A", "H_POOR"), ("B", "H_POOR"), ("C", "H_RICH"), ("D", "H_RICH")])
    py = person_year(k, INCOME, year=2020, inharma=inh).set_index("RINPERSOON")
    # the person key lets two members of one household differ
    assert py.loc["A", "poor_new"] == False and py.loc["B", "poor_new"] == True  # noqa: E712
    assert pd.isna(py.loc["C", "poor_new"]) and pd.isna(py.loc["D", "poor_new"])


def _write_sav(path, df, formats=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(df, str(path), variable_format=formats or {})
    return path


def test_ingest_ihi_with_text_percentiles_and_kern_key(tmp_path):
    df = pd.DataFrame({"RINPERSOONSKERN": ["R", "R", "R"], "RINPERSOONKERN": ["000000001", "000000002", "000000003"],
                       "BVRPERCGESTINKH": [" 0", "99", ""], "BVRLICAT": [4.0, 5.0, 2.0], "BVRLICATL": [4.0, 5.0, 2.0],
                       "BVRGESTINKH": [8000.0, 60000.0, 999999999.0], "BVRBBIHJ": [22.0, 11.0, 99.0]})
    p = _write_sav(tmp_path / "HUISHBVRINK2006TABV1.sav", df, {"RINPERSOONKERN": "A9", "BVRPERCGESTINKH": "A2"})
    out = ingest_table(p, table="ihi")
    assert out["BVRPERCGESTINKH"].tolist()[:2] == [0.0, 99.0] and np.isnan(out["BVRPERCGESTINKH"].iloc[2])
    st = household_status_ihi(out).set_index("hh")
    assert st.loc["R000000001", "rank"] == pytest.approx(0.01) and st.loc["R000000001", "poor"]
    assert st.loc["R000000002", "rank"] == pytest.approx(1.0)
    assert not st.loc["R000000003", "valid"]
    bad = _write_sav(tmp_path / "HUISHBVRINK2008TABV1.sav", df.assign(BVRPERCGESTINKH=["1", "100", ""]),
                     {"BVRPERCGESTINKH": "A3"})
    with pytest.raises(PipelineInputError, match="BVRPERCGESTINKH") as e:
        ingest_table(bad, table="ihi")
    assert "HUISHBVRINK2008TABV1.sav" in str(e.value)
    with pytest.raises(PipelineInputError, match="RINPERSOONKERN") as e:
        ingest_table(_write_sav(tmp_path / "HUISHBVRINK2007TABV1.sav", df.drop(columns="RINPERSOONKERN")), table="ihi")
    assert "HUISHBVRINK2007TABV1.sav" in str(e.value) and "IHI" in str(e.value)


def test_ingest_inharma_accepts_either_key_and_names_a_missing_one(tmp_path):
    hkw = pd.DataFrame({"RINPERSOONSHKW": ["R"], "RINPERSOONHKW": ["000000001"], "INHARMOEDE": [80.0]})
    out = ingest_table(_write_sav(tmp_path / "INHARMA2019TABV1.sav", hkw), table="inharma")
    assert list(out.columns) == ["RINPERSOONSHKW", "RINPERSOONHKW", "INHARMOEDE"]
    pers = pd.DataFrame({"rinpersoons": ["R"], "rinpersoon": ["000000001"], "RINPERSOONSHKW": ["R"],
                         "RINPERSOONHKW": ["000000009"], "INHARMOEDE": [998.0]})
    out = ingest_table(_write_sav(tmp_path / "INHARMA2020TABV1.sav", pers), table="inharma")
    assert list(out.columns) == ["RINPERSOONS", "RINPERSOON", "INHARMOEDE"]     # the person key wins
    nokey = pd.DataFrame({"RINPERSOONHKW": ["000000001"], "INHARMOEDE": [80.0]})
    with pytest.raises(PipelineInputError) as e:
        ingest_table(_write_sav(tmp_path / "INHARMA2021TABV1.sav", nokey), table="inharma")
    assert "INHARMATAB" in str(e.value) and "INHARMA2021TABV1.sav" in str(e.value) and "RINPERSOONHKW" in str(e.value)


def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def test_discovery_of_ihi_koppeltabel_and_inharmatab_under_plausible_names(tmp_path):
    from pipeline.config import DEFAULT
    files = yaml.safe_load(DEFAULT.read_text())["files"]
    inc = tmp_path / "InkomenBestedingen"
    ihi = {2003: _touch(inc / "INTEGRAAL HUISHOUDENS INKOMEN/2003/HUISHBVRINK2003TABV2.sav"),
           2004: _touch(inc / "Integraal_Huishoudens_Inkomen/2004/huishbvrink2004tabv1.SAV")}
    _touch(inc / "INTEGRAAL HUISHOUDENS INKOMEN/2003/HUISHBVRINK2003TABV1.sav")   # loses to V2
    kop = {2003: _touch(inc / "INTEGRAAL HUISHOUDENS INKOMEN/2003/Koppeltabel_IPI_IHI_IVB2003.sav"),
           2004: _touch(inc / "INTEGRAAL PERSOONLIJK INKOMEN/2004/KOPPELTABEL_IPI_IHI_IVB2004V2.sav"),
           2005: _touch(inc / "Koppeltabel IPI IHI IVB/Koppeltabel IPI IHI IVB 2005.csv")}
    inh = {2018: _touch(inc / "INHARMATAB/INHARMA2018TABV1.sav"), 2019: _touch(inc / "inharmatab/INHARMA2019TABV2.sav")}
    got = {t: pick_per_key(discover(tmp_path, dirs=files[t]["dirs"], pattern=files[t]["pattern"]))
           for t in ("ihi", "ihi_koppel", "inharma")}
    assert {k: v.resolve() for k, v in got["ihi"].items()} == {k: v.resolve() for k, v in ihi.items()}
    assert {k: v.resolve() for k, v in got["ihi_koppel"].items()} == {k: v.resolve() for k, v in kop.items()}
    assert {k: v.resolve() for k, v in got["inharma"].items()} == {k: v.resolve() for k, v in inh.items()}
    # the INHATAB patterns do not pick up the IHI files, and vice versa
    assert not pick_per_key(discover(tmp_path, dirs=files["koppel"]["dirs"], pattern=files["koppel"]["pattern"]))


def test_table_specs_exist_for_the_new_tables():
    for t in ("ihi", "ihi_koppel", "inharma"):
        assert t in tables.TABLES and tables.spec(t).columns
