"""The synthetic-data generator: layout, formats, determinism, geography, planted truth and dirt.

Everything is read back from the written files with pyreadstat/geopandas, as the analysis would.
"""
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyreadstat
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from pipeline import synthesize as syn

PERSONS = 3000
SEED = 5
FIRST, LAST, TARGET = 2011, 2023, 2023
CORE = ["GM1680", "GM1681", "GM0114", "GM1952", "GM1895", "GM0765", "GM0037", "GM0047", "GM1950"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn") / "a"
    summary = syn.synthesize(out_dir=d, persons=PERSONS, seed=SEED)
    return d, summary


@pytest.fixture(scope="module")
def again(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn") / "b"
    syn.synthesize(out_dir=d, persons=PERSONS, seed=SEED)
    return d


def read(path, **kw):
    return pyreadstat.read_sav(str(path), **kw)


def cbs(out):
    return out[0] / "cbs"


def newest(folder: Path, rx: str) -> Path:
    """The file the analysis must pick: newest edition (or year), then highest version."""
    best = None
    for p in folder.rglob("*.sav"):
        m = re.fullmatch(rx, p.stem)
        if m:
            key = (int(m.group(1)), int(m.group(2) or 0))
            if best is None or key > best[0]:
                best = (key, p)
    return best[1]


def gba(out):
    return read(newest(cbs(out) / "Bevolking/GBAPERSOONTAB", r"GBAPERSOON(\d{4})TABV(\d+)"))


def kindouder(out):
    return read(newest(cbs(out) / "Bevolking/KINDOUDERTAB", r"KINDOUDER(\d{4})TABV(\d+)"))


def adres(out):
    return read(newest(cbs(out) / "Bevolking/GBAADRESOBJECTBUS", r"GBAADRESOBJECT(\d{4})BUSV(\d+)"))


def vslgwb(out):
    return read(newest(cbs(out) / "BouwenWonen/VSLGWBTAB", r"VSLGWB(\d{4})TAB03V(\d+)"))


def inha(out, year):
    return read(newest(cbs(out) / "InkomenBestedingen/INHATAB", rf"INHA({year})TABV(\d+)"))


def koppel(out, year):
    return read(newest(cbs(out) / "InkomenBestedingen/KOPPELPERSOONHUISHOUDEN",
                       rf"KOPPELPERSOONHUISHOUDEN({year})(?:V(\d+))?"))


# ------------------------------------------------------------------------------------ layout

def test_layout_and_file_names(out):
    root, summary = out
    files = {str(p.relative_to(root)).replace("\\", "/") for p in root.rglob("*") if p.is_file()}
    expected = {
        "cbs/Bevolking/GBAPERSOONTAB/2022/GBAPERSOON2022TABV1.sav",
        "cbs/Bevolking/GBAPERSOONTAB/2023/GBAPERSOON2023TABV1.sav",
        "cbs/Bevolking/GBAPERSOONTAB/2023/GBAPERSOON2023TABV2.sav",
        "cbs/Bevolking/KINDOUDERTAB/KINDOUDER2022TABV1.sav",
        "cbs/Bevolking/KINDOUDERTAB/KINDOUDER2023TABV1.sav",
        "cbs/Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT2023BUSV1.sav",
        "cbs/Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT2023BUSV2.sav",
        "cbs/BouwenWonen/VSLGWBTAB/VSLGWB2024TAB03V1.sav",
        "geo/wijkenbuurten_2023_synthetisch.gpkg",
        "truth/buurt_truth.csv", "truth/wijk_truth.csv", "truth/children_truth.csv",
        "truth/README.md", "truth/summary.json",
    }
    for y in range(FIRST, LAST + 1):
        for v in syn.inha_versions(y, FIRST):
            expected.add(f"cbs/InkomenBestedingen/INHATAB/INHA{y}TABV{v}.sav")
        for suffix in syn.koppel_versions(y):
            expected.add(f"cbs/InkomenBestedingen/KOPPELPERSOONHUISHOUDEN/KOPPELPERSOONHUISHOUDEN{y}{suffix}.sav")
        if y >= 2018:
            expected.add(f"cbs/InkomenBestedingen/INHARMATAB/INHARMA{y}TABV1.sav")
    assert files == expected
    assert {"INHA2011TABV2.sav", "INHA2011TABV3.sav"} <= {Path(f).name for f in files}
    assert {"KOPPELPERSOONHUISHOUDEN2019V2.sav", "KOPPELPERSOONHUISHOUDEN2020V2.sav"} <= {Path(f).name for f in files}
    # no temporary folder left beside the output
    assert [p.name for p in root.parent.iterdir()] == ["a"]
    assert summary["files"] == sorted(f for f in expected if f.startswith("cbs/"))
    assert json.loads((root / "truth/summary.json").read_text())["seed"] == SEED


def test_total_persons_close_to_the_argument(out):
    df, _ = gba(out)
    assert abs(len(df) - PERSONS) < 0.02 * PERSONS
    assert df.RINPERSOON.str.fullmatch(r"\d{9}").all()


# ------------------------------------------------------------------------------------ determinism

def test_same_seed_gives_identical_tables(out, again):
    a, b = out[0], again
    sav_a = sorted(p.relative_to(a) for p in a.rglob("*.sav"))
    assert sav_a == sorted(p.relative_to(b) for p in b.rglob("*.sav"))
    for rel in sav_a:
        da, ma = read(a / rel)
        db, mb = read(b / rel)
        pd.testing.assert_frame_equal(da, db)
        assert ma.original_variable_types == mb.original_variable_types
        assert ma.variable_value_labels == mb.variable_value_labels
    for rel in ("truth/buurt_truth.csv", "truth/wijk_truth.csv", "truth/children_truth.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(a / rel, dtype=str), pd.read_csv(b / rel, dtype=str))
    for layer in ("gemeenten", "wijken", "buurten"):
        ga = gpd.read_file(a / "geo/wijkenbuurten_2023_synthetisch.gpkg", layer=layer)
        gb = gpd.read_file(b / "geo/wijkenbuurten_2023_synthetisch.gpkg", layer=layer)
        assert_geodataframe_equal(ga, gb)


def test_another_seed_gives_other_data_and_parallel_writing_the_same(tmp_path, out):
    one = syn.synthesize(out_dir=tmp_path / "w1", persons=800, seed=11, workers=1)
    two = syn.synthesize(out_dir=tmp_path / "w2", persons=800, seed=11, workers=2)
    assert one["workers"] == 1 and two["workers"] == 2
    for rel in ("cbs/Bevolking/GBAPERSOONTAB/2023/GBAPERSOON2023TABV2.sav",
                "cbs/InkomenBestedingen/INHATAB/INHA2015TABV2.sav",
                "cbs/InkomenBestedingen/KOPPELPERSOONHUISHOUDEN/KOPPELPERSOONHUISHOUDEN2019V2.sav"):
        pd.testing.assert_frame_equal(read(tmp_path / "w1" / rel)[0], read(tmp_path / "w2" / rel)[0])
    other = read(tmp_path / "w1/cbs/Bevolking/GBAPERSOONTAB/2023/GBAPERSOON2023TABV2.sav")[0]
    assert not other.RINPERSOON.isin(gba(out)[0].RINPERSOON).mean() > 0.01


# ------------------------------------------------------------------------------------ formats

def test_gbapersoontab_formats_and_labels(out):
    df, meta = gba(out)
    t = meta.original_variable_types
    assert t["RINPERSOONS"] == "A1" and t["RINPERSOON"] == "A9" and t["GBAGEBOORTEJAAR"] == "A4"
    assert t["GBAGEBOORTEMAAND"] == "A2" and t["GBAGEBOORTEDAG"] == "A2" and t["GBAGESLACHT"] == "A1"
    assert t["GBAGENERATIE"] == "A1" and t["GBAHERKOMSTGROEPERING"] == "A4" and t["GBAGEBOORTELAND"] == "A4"
    labels = meta.variable_value_labels
    assert labels["RINPERSOONS"]["R"] == "RINPERSOON WEL IN GBA/BRP"
    assert labels["GBAGESLACHT"]["1"] == "Mannen" and labels["GBAGESLACHT"]["2"] == "Vrouwen"
    for col in ("GBAHERKOMSTGROEPERING", "GBAGEBOORTELAND"):
        assert labels[col]["6030"] == "Nederland" and labels[col]["6043"] == "Turkije"
        assert labels[col]["5022"] == "Marokko" and labels[col]["5007"] == "Suriname"
    assert set(df.RINPERSOONS) <= {"R", "N", "S"}
    assert (df.GBAGEBOORTEDAG == "01").all()
    assert df.GBAGEBOORTEJAAR.str.fullmatch(r"\d{4}|----").all()
    assert df.GBAGEBOORTEMAAND.str.fullmatch(r"0[1-9]|1[0-2]|--").all()
    assert set(df.GBAGESLACHT) <= {"1", "2", "-"} and set(df.GBAGENERATIE) <= {"0", "1", "2", "-"}
    assert {"6030", "6043", "5022", "5007"} <= set(df.GBAHERKOMSTGROEPERING)
    assert df.GBAHERKOMSTGROEPERING.isin(["----", "0000"]).any()
    assert df.duplicated(["RINPERSOONS", "RINPERSOON"]).sum() == 0


def test_kindoudertab_exact_column_case(out):
    df, meta = kindouder(out)
    assert list(df.columns) == ["RINPERSOONS", "RINPERSOON", "RINPERSOONSpa", "RINPERSOONpa",
                                "RINPERSOONSMa", "RINPERSOONMa", "XKOPPELNUMMER"]
    t = meta.original_variable_types
    assert t["RINPERSOONpa"] == "A9" and t["RINPERSOONMa"] == "A9" and t["XKOPPELNUMMER"] == "A12"
    assert df.RINPERSOONpa.str.fullmatch(r"\d{9}|-{9}|").all()


def test_address_and_area_formats(out):
    ad, meta = adres(out)
    t = meta.original_variable_types
    assert list(ad.columns) == ["RINPERSOONS", "RINPERSOON", "GBADATUMAANVANGADRESHOUDING",
                                "GBADATUMEINDEADRESHOUDING", "SOORTOBJECTNUMMER", "RINOBJECTNUMMER"]
    assert t["GBADATUMAANVANGADRESHOUDING"] == "A8" and t["GBADATUMEINDEADRESHOUDING"] == "A8"
    assert t["RINOBJECTNUMMER"] == "A16" and t["SOORTOBJECTNUMMER"] == "A1"
    assert meta.variable_value_labels["SOORTOBJECTNUMMER"]["B"] == "BAG-verblijfsobject"
    assert pd.to_datetime(ad.GBADATUMAANVANGADRESHOUDING, format="%Y%m%d").min() >= pd.Timestamp("1994-10-01")
    end = ad.GBADATUMEINDEADRESHOUDING
    assert end.str.fullmatch(r"\d{8}|-{8}|").all()
    # open spells: mostly parseable sentinels, some 99991231, a few empty and dashed
    counts = end.value_counts()
    assert counts["20500101"] > counts["99991231"] > counts.get("", 0) > 0
    assert counts["20231231"] > counts["99991231"] and counts.get("--------", 0) > 0
    assert pd.to_datetime(end[end.str.fullmatch(r"\d{8}") & (end != "99991231")], format="%Y%m%d").notna().all()
    vs, vmeta = vslgwb(out)
    years = range(2015, TARGET + 2)
    assert list(vs.columns) == ["SOORTOBJECTNUMMER", "RINOBJECTNUMMER"] + [
        f"{k}{y}" for y in years for k in ("gem", "wc", "bc")]
    vt = vmeta.original_variable_types
    assert all(vt[f"gem{y}"] == "A4" and vt[f"wc{y}"] == "A6" and vt[f"bc{y}"] == "A8" for y in years)
    assert not vs.duplicated(["SOORTOBJECTNUMMER", "RINOBJECTNUMMER"]).any()


def test_income_and_household_formats(out):
    df, meta = inha(out, 2015)
    t = meta.original_variable_types
    assert t["RINPERSOONSHKW"] == "A1" and t["RINPERSOONHKW"] == "A9"
    assert meta.variable_value_labels["RINPERSOONSHKW"]["R"] == "RINPERSOON WEL IN GBA/BRP"
    for col in ("INHPOPIIV", "INHP100HGEST", "INHARMLAG", "INHARMLAGL", "INHGESTINKH", "INHBESTINKH",
                "INHBRUTINKH", "INHARMEUR", "INHARMSOC", "INHSAMHH", "INHAHL", "INHBBIHJ", "INHEHALGR", "INHUAF"):
        assert t[col].startswith("F"), col
        assert df[col].dtype == np.float64
    assert not df.duplicated(["RINPERSOONSHKW", "RINPERSOONHKW"]).any()
    k, kmeta = koppel(out, 2015)
    assert list(k.columns) == ["RINPERSOONS", "RINPERSOON", "RINPERSOONSHKW", "RINPERSOONHKW"]
    assert kmeta.original_variable_types["RINPERSOONHKW"] == "A9"
    keys = set(zip(df.RINPERSOONSHKW, df.RINPERSOONHKW))
    assert set(zip(k.RINPERSOONSHKW, k.RINPERSOONHKW)) <= keys


def test_income_variables_are_consistent(out):
    df, _ = inha(out, 2018)
    valid = df.INHPOPIIV == 1
    poor = valid & df.INHARMLAG.between(0, 99)
    assert 0.05 < poor.sum() / valid.sum() < 0.35
    # poor households have low percentiles, the long-term poor are poor now
    assert df.loc[poor, "INHP100HGEST"].max() <= 12
    assert df.loc[valid & ~poor & (df.INHARMLAG >= 100), "INHP100HGEST"].median() > 30
    lt = valid & df.INHARMLAGL.between(0, 99)
    assert lt.any() and (lt <= poor).all()
    inst = df.INHPOPIIV.isin([3, 8])
    assert (df.loc[inst, "INHP100HGEST"] == -2).all() and (df.loc[inst, "INHARMLAG"] == -2).all()
    assert (df.loc[inst, "INHSAMHH"] == 71).all()


# ------------------------------------------------------------------------------------ geography

@pytest.fixture(scope="module")
def layers(out):
    path = out[0] / "geo/wijkenbuurten_2023_synthetisch.gpkg"
    return {lyr: gpd.read_file(path, layer=lyr) for lyr in ("gemeenten", "wijken", "buurten")}


def test_geopackage_layers_columns_and_crs(layers):
    gm, wk, bu = layers["gemeenten"], layers["wijken"], layers["buurten"]
    assert list(gm.columns) == ["gemeentecode", "gemeentenaam", "synthetisch", "bron", "geometry"]
    assert list(wk.columns) == ["wijkcode", "wijknaam", "gemeentecode", "gemeentenaam", "synthetisch", "bron",
                                "geometry"]
    assert list(bu.columns) == ["buurtcode", "buurtnaam", "wijkcode", "wijknaam", "gemeentecode", "gemeentenaam",
                                "synthetisch", "bron", "geometry"]
    for g in layers.values():
        assert g.crs.to_epsg() == 28992
        assert g.geometry.is_valid.all() and not g.geometry.is_empty.any()
        assert g["synthetisch"].all() and (g["bron"] == "synthetisch, CBS-indeling nagebootst").all()
        assert not g.apply(lambda r: any("synthetisch" in str(v) for v in r.drop(["bron", "geometry"])), axis=1).any()
    names = dict(zip(gm.gemeentecode, gm.gemeentenaam))
    assert {c: names[c] for c in CORE} == {
        "GM1680": "Aa en Hunze", "GM1681": "Borger-Odoorn", "GM0114": "Emmen", "GM1952": "Midden-Groningen",
        "GM1895": "Oldambt", "GM0765": "Pekela", "GM0037": "Stadskanaal", "GM0047": "Veendam",
        "GM1950": "Westerwolde"}
    assert len(set(gm.gemeentecode) - set(CORE)) >= 2
    assert bu.buurtcode.str.fullmatch(r"BU\d{8}").all() and wk.wijkcode.str.fullmatch(r"WK\d{6}").all()
    assert (bu.buurtcode.str[2:8] == bu.wijkcode.str[2:]).all()
    assert (wk.wijkcode.str[2:6] == wk.gemeentecode.str[2:]).all()
    assert bu.buurtcode.is_unique and wk.wijkcode.is_unique
    core_wk, core_bu = wk.gemeentecode.isin(CORE).sum(), bu.gemeentecode.isin(CORE).sum()
    assert 100 <= core_wk <= 130 and 350 <= core_bu <= 450
    # real places at their real spots: Emmen-Centrum lies in Emmen, Winschoten in Oldambt
    for x, y, code in ((256700, 533900, "GM0114"), (265200, 574300, "GM1895"), (262800, 568500, "GM0765")):
        assert gm.loc[gm.contains(shapely.Point(x, y)), "gemeentecode"].tolist() == [code]
    assert {"Emmer-Compascuum", "Ter Apel", "Oude Pekela-Centrum", "Nieuw-Buinen"} <= set(wk.wijknaam)


def test_buurten_tile_wijken_and_wijken_tile_gemeenten(layers):
    gm, wk, bu = layers["gemeenten"], layers["wijken"], layers["buurten"]
    for parts, whole, key in ((bu, wk, "wijkcode"), (wk, gm, "gemeentecode")):
        area_sum = parts.area.groupby(parts[key]).sum()
        union = parts.dissolve(by=key).geometry
        target = whole.set_index(key).geometry
        assert set(area_sum.index) == set(target.index)
        rel = (area_sum - target.area.reindex(area_sum.index)).abs() / target.area.reindex(area_sum.index)
        assert rel.max() < 1e-6  # no overlaps, no gaps
        sym = union.symmetric_difference(target.reindex(union.index)).area / target.reindex(union.index).area
        assert sym.max() < 1e-6
    assert bu.geometry.area.min() > 10_000  # no slivers (a hectare at least)


# ------------------------------------------------------------------------------------ VSLGWBTAB codes

def test_vslgwb_codes_match_the_geography_and_history(out, layers):
    vs, _ = vslgwb(out)
    bu = layers["buurten"]
    ok = vs[f"bc{TARGET}"].str.fullmatch(r"\d{8}") & vs[f"wc{TARGET}"].str.fullmatch(r"\d{6}") & vs[
        f"gem{TARGET}"].str.fullmatch(r"\d{4}")
    codes = set("BU" + vs.loc[ok, f"bc{TARGET}"])
    assert codes == set(bu.buurtcode)
    assert (vs.loc[ok, f"bc{TARGET}"].str[:6] == vs.loc[ok, f"wc{TARGET}"]).all()
    assert (vs.loc[ok, f"wc{TARGET}"].str[:4] == vs.loc[ok, f"gem{TARGET}"]).all()
    # before 2018 the merged gemeenten carry their old codes, with old wijk and buurt codes
    g17, g18 = set(vs.gem2017), set(vs.gem2018)
    assert {"0018", "1987", "0040", "0048", "0007"} <= g17 and not {"1952", "1950"} & g17
    assert {"1952", "1950"} <= g18 and not {"0018", "1987", "0040", "0048", "0007"} & g18
    old = vs[vs.gem2017.isin(["0018", "0007"])]
    assert (old.wc2017.str[:4] == old.gem2017).all() and (old.bc2017.str[:6] == old.wc2017).all()
    # the edition year after the target year renumbers Veendam's buurten
    ve = vs[ok & (vs[f"gem{TARGET}"] == "0047")]
    assert (ve[f"bc{TARGET + 1}"] != ve[f"bc{TARGET}"]).all()
    rest = vs[ok & (vs[f"gem{TARGET}"] != "0047")]
    assert (rest[f"bc{TARGET + 1}"] == rest[f"bc{TARGET}"]).all()


# ------------------------------------------------------------------------------------ truth

def test_truth_beside_the_raw_tree_with_strong_clusters(out):
    root = out[0]
    assert not list((root / "cbs").rglob("*truth*")) and not list((root / "cbs").rglob("*.csv"))
    bt = pd.read_csv(root / "truth/buurt_truth.csv", dtype={"buurtcode": str, "wijkcode": str, "gemeentecode": str,
                                                             "cluster": str})
    assert list(bt.columns[:7]) == ["buurtcode", "wijkcode", "gemeentecode", "cluster", "p_parents_poor",
                                    "outflow_propensity", "p_child_poor_parents_not_poor"]
    cl = bt.cluster.fillna("")
    assert set(cl) == {"", "noordoost", "emmen"}
    assert set(bt.loc[cl == "noordoost", "gemeentecode"]) <= {"GM0765", "GM0047", "GM1895", "GM1952"}
    assert set(bt.loc[cl == "emmen", "gemeentecode"]) == {"GM0114"}
    inside, outside = bt.loc[cl != "", "outflow_propensity"], bt.loc[cl == "", "outflow_propensity"]
    assert inside.min() > outside.max() and inside.mean() > 0.45 and outside.mean() < 0.2
    assert bt.p_child_poor_parents_not_poor.between(0.03, 0.09).all()
    assert bt.loc[cl != "", "p_parents_poor"].mean() > bt.loc[cl == "", "p_parents_poor"].mean()
    wt = pd.read_csv(root / "truth/wijk_truth.csv", dtype={"wijkcode": str})
    assert {"wijkcode", "outflow_propensity"} <= set(wt.columns)
    assert set(wt.wijkcode) == set(bt.wijkcode)
    assert wt.outflow_propensity.between(bt.outflow_propensity.min(), bt.outflow_propensity.max()).all()
    assert "outflow_propensity" in (root / "truth/README.md").read_text()


def test_planted_status_comes_back_from_the_household_files(out):
    """Parents' poverty by majority over the family's household years (mother's key) matches the truth."""
    root = out[0]
    ct = pd.read_csv(root / "truth/children_truth.csv", dtype={"RINPERSOON": str})
    ct = ct[(ct.RINPERSOONS == "R") & (ct.birth_year.between(1996, 2005))].drop_duplicates("RINPERSOON", keep=False)
    votes = []
    for y in range(2011, 2019):
        inc, _ = inha(out, y)
        valid = inc["INHPOPIIV"] == 1 if "INHPOPIIV" in inc else inc["INHP100HGEST"].between(1, 100)
        inc = inc.assign(valid=valid, poor=valid & inc.INHARMLAG.between(0, 99))
        k, _ = koppel(out, y)
        k = k[k.RINPERSOONS == "R"].merge(inc, on=["RINPERSOONSHKW", "RINPERSOONHKW"], validate="m:1")
        k = k[k.valid & k.RINPERSOON.isin(ct.RINPERSOON)]
        age = y - ct.set_index("RINPERSOON").birth_year.reindex(k.RINPERSOON).to_numpy()
        votes.append(k.loc[(age >= 12) & (age <= 17), ["RINPERSOON", "poor"]])
    v = pd.concat(votes).groupby("RINPERSOON")["poor"].agg(["mean", "size"])
    v = v[v["size"] >= 2].join(ct.set_index("RINPERSOON").parents_poor_planted)
    assert len(v) > 200
    assert ((v["mean"] >= 0.5) == (v.parents_poor_planted == 1)).mean() > 0.93


def test_parents_born_from_1966_are_linked_to_older_grandparents(out):
    """KINDOUDERTAB holds rows for parents (the third generation), older by 18-45 years, and only
    for parents born 1966 or later; poor families have poor grandparents more often."""
    ko, _ = kindouder(out)
    g, _ = gba(out)
    ct = pd.read_csv(out[0] / "truth/children_truth.csv", dtype={"RINPERSOON": str})
    kids = ko[ko.RINPERSOON.isin(ct.RINPERSOON)]
    parents = set(kids.RINPERSOONMa) | set(kids.RINPERSOONpa)
    # (a planted error makes a few children their own father: those rows are the child's own)
    rows = ko[ko.RINPERSOON.isin(parents) & ~ko.RINPERSOON.isin(ct.RINPERSOON)
              & (ko.RINPERSOONpa.str.strip("-") != "")]
    assert len(rows) > 100
    by = g.drop_duplicates("RINPERSOON").set_index("RINPERSOON").GBAGEBOORTEJAAR
    own = pd.to_numeric(by.reindex(rows.RINPERSOON), errors="coerce").to_numpy()
    gpa = pd.to_numeric(by.reindex(rows.RINPERSOONpa), errors="coerce").to_numpy()
    known = np.isfinite(own) & np.isfinite(gpa)
    assert known.sum() > 50
    # birth years in GBAPERSOONTAB carry a little planted dirt (unknown years), hence the margin
    assert (own[known] >= 1965).mean() > 0.99
    assert ((own[known] - gpa[known] >= 16) & (own[known] - gpa[known] <= 50)).mean() > 0.98
    assert out[1]["dirt"]["kindouder_parents_linked_to_grandparents"] >= len(rows)


def test_young_adults_measured_status_is_the_planted_one(out):
    """In the adult window (24-27) the majority of a child's own household years gives its planted
    status: transient years there are rare, and a non-poor child at home lifts its family."""
    ct = pd.read_csv(out[0] / "truth/children_truth.csv", dtype={"RINPERSOON": str})
    ct = ct[(ct.RINPERSOONS == "R")].drop_duplicates("RINPERSOON", keep=False)
    ct = ct[ct.birth_year.between(1989, 1998)].set_index("RINPERSOON")
    votes = []
    for y in range(2013, LAST + 1):
        inc, _ = inha(out, y)
        valid = inc["INHPOPIIV"] == 1 if "INHPOPIIV" in inc else inc["INHP100HGEST"].between(1, 100)
        inc = inc.assign(valid=valid, poor=valid & inc.INHARMLAG.between(0, 99))
        k, _ = koppel(out, y)
        k = k[k.RINPERSOONS == "R"].merge(inc, on=["RINPERSOONSHKW", "RINPERSOONHKW"], validate="m:1")
        k = k[k.valid & k.RINPERSOON.isin(ct.index)]
        age = y - ct.birth_year.reindex(k.RINPERSOON).to_numpy()
        votes.append(k.loc[(age >= 24) & (age <= 27), ["RINPERSOON", "poor"]])
    v = pd.concat(votes).groupby("RINPERSOON")["poor"].mean()
    v = pd.DataFrame({"measured": v >= 0.5}).join(ct.child_poor_planted == 1)
    assert len(v) > 300
    assert (v.measured == v.child_poor_planted).mean() > 0.98
    # the misclassified are few in both directions: no bias either way
    fp = (v.measured & ~v.child_poor_planted).sum()
    fn = (~v.measured & v.child_poor_planted).sum()
    assert max(fp, fn) < 0.02 * len(v)


# ------------------------------------------------------------------------------------ dirt

def test_every_kind_of_dirt_is_counted(out):
    dirt = out[1]["dirt"]
    for name in ("unknown_birth_year", "unknown_birth_month", "children_rinpersoons_N", "rinpersoon_shared_by_N_and_R",
                 "kindouder_missing_father_link", "kindouder_conflicting_children", "kindouder_exact_duplicate_rows",
                 "parent_rin_equals_child_rin", "father_born_less_than_12_years_before_child",
                 "parents_absent_from_gbapersoontab", "student_household_years", "institutional_household_years",
                 "income_unknown_household_years", "negative_income_household_years",
                 "koppel_missing_child_at_home_12_17", "family_moves_between_buurten",
                 "children_moved_between_buurten_age_12_17", "overlapping_address_spells",
                 "vslgwb_objects_all_codes_dashed", "vslgwb_objects_target_bc_dashed", "vslgwb_objects_missing",
                 "nonbag_objects_sharing_rinobjectnummer_with_bag", "children_without_address_at_15",
                 "duplicate_address_rows"):
        assert dirt[name] > 0, name
    assert dirt["inhatab_year_without_inhpopiiv"] == 2012


def test_dirt_is_in_the_files(out):
    per, _ = gba(out)
    assert (per.GBAGEBOORTEJAAR == "----").any()
    assert ((per.GBAGEBOORTEMAAND == "--") & (per.GBAGEBOORTEJAAR != "----")).any()
    assert (per.RINPERSOONS == "N").any() and (per.RINPERSOONS == "S").any()
    # an N child shares its RINPERSOON with an R person: only the pair identifies
    assert per.RINPERSOON.duplicated().any()
    ko, _ = kindouder(out)
    assert (ko.RINPERSOONpa == "---------").any() and (ko.RINPERSOONpa == "").any()
    assert set(ko.loc[ko.RINPERSOONpa == "---------", "RINPERSOONSpa"]) == {"-"}
    assert ko.duplicated().any()
    dedup = ko.drop_duplicates()
    assert dedup.duplicated(["RINPERSOONS", "RINPERSOON"]).any()  # a child with two different rows
    assert (ko.RINPERSOONpa == ko.RINPERSOON).any()
    known = ko[ko.RINPERSOONSpa == "R"]
    assert (~known.RINPERSOONpa.isin(per.RINPERSOON)).any()  # parents absent from GBAPERSOONTAB
    born = per[per.RINPERSOONS == "R"].drop_duplicates("RINPERSOON").set_index("RINPERSOON").GBAGEBOORTEJAAR
    kids = ko[ko.RINPERSOONS == "R"]
    ky = pd.to_numeric(born.reindex(kids.RINPERSOON), errors="coerce").to_numpy()
    fy = pd.to_numeric(born.reindex(kids.RINPERSOONpa), errors="coerce").to_numpy()
    assert ((ky - fy) < 12).any()
    # households: students, institutional, unknown and negative incomes; INHPOPIIV absent in one year
    inc, _ = inha(out, 2016)
    assert {1, 2, 3, 7, 8} <= set(inc.INHPOPIIV)
    assert {-1, -2} <= set(inc.INHP100HGEST) and (inc.INHGESTINKH == 9999999999).any()
    assert (inc.INHBESTINKH < 0).any() or (inha(out, 2017)[0].INHBESTINKH < 0).any()
    assert "INHPOPIIV" not in inha(out, 2012)[0].columns
    assert all("INHPOPIIV" in inha(out, y)[0].columns for y in range(2013, 2024))
    # persons without a household row in some years
    k15 = set(koppel(out, 2015)[0].RINPERSOON)
    k16 = set(koppel(out, 2016)[0].RINPERSOON)
    assert k15 - k16 and k16 - k15
    # overlapping address spells, dashed and empty codes, addresses missing from VSLGWBTAB
    ad, _ = adres(out)
    ad = ad.sort_values(["RINPERSOONS", "RINPERSOON", "GBADATUMAANVANGADRESHOUDING"])
    same = (ad.RINPERSOON == ad.RINPERSOON.shift(-1)) & (ad.RINPERSOONS == ad.RINPERSOONS.shift(-1))
    end = ad.GBADATUMEINDEADRESHOUDING
    assert (same & end.str.fullmatch(r"\d{8}") & (end >= ad.GBADATUMAANVANGADRESHOUDING.shift(-1))
            & (ad.RINOBJECTNUMMER != ad.RINOBJECTNUMMER.shift(-1))).any()
    vs, _ = vslgwb(out)
    assert (vs[f"gem{TARGET}"] == "----").any() and (vs[f"bc{TARGET}"] == "--------").any()
    assert (vs[f"wc{TARGET}"] == "------").any() and (vs[f"bc{TARGET}"] == "").any()
    keys = set(zip(vs.SOORTOBJECTNUMMER, vs.RINOBJECTNUMMER))
    missing = [k not in keys for k in zip(ad.SOORTOBJECTNUMMER, ad.RINOBJECTNUMMER)]
    assert any(missing)
    assert (ad.SOORTOBJECTNUMMER == "N").any()
    n_rins = set(ad.loc[ad.SOORTOBJECTNUMMER == "N", "RINOBJECTNUMMER"])
    assert n_rins & set(vs.loc[vs.SOORTOBJECTNUMMER == "B", "RINOBJECTNUMMER"])
    # people living outside the region
    assert (~vs[f"gem{TARGET}"].isin([c[2:] for c in CORE] + ["----"])).any()


def test_losing_versions_differ_from_the_winners(out):
    root = cbs(out)
    v2, _ = read(root / "Bevolking/GBAPERSOONTAB/2023/GBAPERSOON2023TABV2.sav")
    v1, _ = read(root / "Bevolking/GBAPERSOONTAB/2023/GBAPERSOON2023TABV1.sav")
    old, _ = read(root / "Bevolking/GBAPERSOONTAB/2022/GBAPERSOON2022TABV1.sav")
    assert len(v1) == len(v2) and (v1.GBAGEBOORTEJAAR != v2.GBAGEBOORTEJAAR).sum() > 10
    assert len(old) < len(v2)
    a, _ = read(root / "InkomenBestedingen/INHATAB/INHA2011TABV3.sav")
    b, _ = read(root / "InkomenBestedingen/INHATAB/INHA2011TABV2.sav")
    assert ((a.INHARMLAG < 100) != (b.INHARMLAG < 100)).sum() > 0
    ka, _ = read(root / "InkomenBestedingen/KOPPELPERSOONHUISHOUDEN/KOPPELPERSOONHUISHOUDEN2019V2.sav")
    kb, _ = read(root / "InkomenBestedingen/KOPPELPERSOONHUISHOUDEN/KOPPELPERSOONHUISHOUDEN2019V1.sav")
    assert len(kb) < len(ka)
    a1, _ = read(root / "Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT2023BUSV1.sav")
    a2, _ = read(root / "Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT2023BUSV2.sav")
    assert len(a1) == len(a2) and (a1.RINOBJECTNUMMER != a2.RINOBJECTNUMMER).mean() > 0.03


# ------------------------------------------------------------------------------------ interface

def test_cli_writes_and_replaces_atomically(tmp_path, capsys):
    target = tmp_path / "syn"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    assert syn.main(["--out", str(target), "--persons", "600", "--seed", "3"]) == 0
    assert not (target / "stale.txt").exists() and (target / "truth/summary.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]
    with pytest.raises(SystemExit) as exc:
        syn.main(["--out", str(tmp_path / "x"), "--persons", "10"])
    assert exc.value.code == 2
    assert "persons" in capsys.readouterr().err


def test_a_crash_leaves_no_half_written_tree(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(syn, "truth_tables", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        syn.synthesize(out_dir=tmp_path / "syn", persons=600, seed=1)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ no clusters

def test_no_clusters_gives_cluster_buurten_the_propensities_of_elsewhere():
    geo = syn.build_geography(seed=SEED)
    with_clusters = syn.plant_buurt_truth(geo, seed=SEED)
    flat_geo = syn.without_clusters(geo)
    flat = syn.plant_buurt_truth(flat_geo, seed=SEED)
    was_cluster = geo.buurten["cluster"].to_numpy(dtype=object) != ""
    assert was_cluster.any()
    assert (flat_geo.buurten["cluster"] == "").all() and (flat_geo.wijken["cluster"] == "").all()
    # every buurt now lies in the band of the buurten outside the clusters
    outside = with_clusters.loc[~was_cluster, "outflow_propensity"]
    assert flat["outflow_propensity"].between(outside.min() - 0.02, outside.max() + 0.02).all()
    assert flat.loc[was_cluster, "outflow_propensity"].mean() < 0.25
    # outside the former clusters the draws are the same, so only the clusters changed
    assert np.allclose(flat.loc[~was_cluster, "outflow_propensity"], outside, atol=0.03)
    assert (geo.buurten["cluster"].to_numpy(dtype=object) != "").any()  # input left as it was


def test_no_clusters_flag_on_the_command_line(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(syn, "synthesize", lambda **kw: seen.update(kw) or {})
    assert syn.main(["--out", str(tmp_path / "x"), "--persons", "1000", "--no-clusters"]) == 0
    assert seen["clusters"] is False
    assert syn.main(["--out", str(tmp_path / "x"), "--persons", "1000"]) == 0
    assert seen["clusters"] is True


# ------------------------------------------------------------------------------------ IHI years, new line

@pytest.fixture(scope="module")
def older(tmp_path_factory):
    """The same arguments with income years from 2003: IHI for 2003-2010."""
    d = tmp_path_factory.mktemp("syn") / "ihi"
    return d, syn.synthesize(out_dir=d, persons=PERSONS, seed=SEED, first_year=2003)


def ihi(out, year):
    return read(newest(cbs(out) / "InkomenBestedingen/INTEGRAAL HUISHOUDENS INKOMEN", rf"HUISHBVRINK({year})TABV(\d+)"))


def ivb(out, year):
    return read(newest(cbs(out) / "InkomenBestedingen", rf"(?i)Koppeltabel_IPI_IHI_IVB\s?({year})(?:V(\d+))?"))


def test_older_years_add_ihi_files_and_leave_the_rest_unchanged(out, older):
    a, b = set(out[1]["files"]), set(older[1]["files"])
    assert a < b
    added = b - a
    assert all("INTEGRAAL" in f or "Koppeltabel" in f for f in added)
    for y in range(2003, 2011):
        assert f"cbs/InkomenBestedingen/INTEGRAAL HUISHOUDENS INKOMEN/{y}/HUISHBVRINK{y}TABV{syn.ihi_versions(y, 2003)[-1]}.sav" in b
    assert "cbs/InkomenBestedingen/INTEGRAAL HUISHOUDENS INKOMEN/2003/HUISHBVRINK2003TABV1.sav" in b  # a loser
    assert "cbs/InkomenBestedingen/INTEGRAAL PERSOONLIJK INKOMEN/2005/KOPPELTABEL_IPI_IHI_IVB2005V1.sav" in b
    assert "cbs/InkomenBestedingen/Koppeltabel IPI IHI IVB/Koppeltabel_IPI_IHI_IVB 2007.sav" in b
    assert not any("INHA20" in f and int(re.search(r"INHA(\d{4})", f).group(1)) < 2011 for f in b)
    for f in ("cbs/InkomenBestedingen/INHATAB/INHA2011TABV3.sav", "cbs/InkomenBestedingen/INHATAB/INHA2016TABV2.sav",
              "cbs/InkomenBestedingen/KOPPELPERSOONHUISHOUDEN/KOPPELPERSOONHUISHOUDEN2013.sav",
              "cbs/InkomenBestedingen/INHARMATAB/INHARMA2021TABV1.sav",
              "cbs/Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT2023BUSV2.sav"):
        assert read(out[0] / f)[0].equals(read(older[0] / f)[0]), f


def test_ihi_formats_codes_and_kern_key(older):
    df, meta = ihi(older, 2006)
    assert {"RINPERSOONSKERN", "RINPERSOONKERN", "BVRGESTINKH", "BVRPERCGESTINKH", "BVRLICAT", "BVRLICATL"} <= set(df)
    assert meta.original_variable_types["BVRPERCGESTINKH"] == "A2"
    assert meta.original_variable_types["RINPERSOONKERN"] == "A9"
    pct = df.BVRPERCGESTINKH.str.strip()
    assert set(pct[pct != ""].astype(int)) <= set(range(100)) and (pct == "0").any()
    assert set(df.BVRLICAT.unique()) <= {1, 2, 3, 4, 5, 6} and set(df.BVRLICATL.unique()) <= {1, 2, 3, 4, 5}
    assert meta.variable_value_labels["BVRLICAT"][4] == "Onder de lage-inkomensgrens"
    poor = df.BVRLICAT == 4
    assert pct[poor & (pct != "")].astype(int).median() < pct[(df.BVRLICAT == 5) & (pct != "")].astype(int).median()
    assert (df.loc[df.BVRLICAT == 2, "BVRGESTINKH"] == 999999999).all() and (pct[df.BVRLICAT == 2] == "").all()
    assert (df.loc[df.BVRLICATL == 4, "BVRLICAT"] == 4).all()   # four years below implies below now
    k, _ = ivb(older, 2006)
    assert list(k.columns) == ["RINPERSOONS", "RINPERSOON", "RINPERSOONSKERN", "RINPERSOONKERN"]
    assert k.merge(df, on=["RINPERSOONSKERN", "RINPERSOONKERN"], how="left", indicator=True)["_merge"].eq("both").all()


def test_planted_parents_status_comes_back_from_ihi_years(older):
    """Children born 1986-1992: parents' poverty by majority over IHI years at 12-17 matches the truth."""
    root = older[0]
    ct = pd.read_csv(root / "truth/children_truth.csv", dtype={"RINPERSOON": str})
    ct = ct[(ct.RINPERSOONS == "R") & ct.birth_year.between(1986, 1992)].drop_duplicates("RINPERSOON", keep=False)
    votes = []
    for y in range(2003, 2011):
        inc, _ = ihi(older, y)
        inc = inc.assign(valid=~inc.BVRLICAT.isin([1, 2, 3]), poor=inc.BVRLICAT == 4)
        k, _ = ivb(older, y)
        k = k[k.RINPERSOONS == "R"].merge(inc, on=["RINPERSOONSKERN", "RINPERSOONKERN"], validate="m:1")
        k = k[k.valid & k.RINPERSOON.isin(ct.RINPERSOON)]
        age = y - ct.set_index("RINPERSOON").birth_year.reindex(k.RINPERSOON).to_numpy()
        votes.append(k.loc[(age >= 12) & (age <= 17), ["RINPERSOON", "poor"]])
    v = pd.concat(votes).groupby("RINPERSOON")["poor"].agg(["mean", "size"])
    v = v[v["size"] >= 2].join(ct.set_index("RINPERSOON").parents_poor_planted)
    assert len(v) > 100
    assert ((v["mean"] >= 0.5) == (v.parents_poor_planted == 1)).mean() > 0.93


def test_new_poverty_line_finds_fewer_poor_and_has_both_key_forms(out):
    root, summary = out
    nl = summary["new_poverty_line"]
    assert sorted(nl["years"]) == [str(y) for y in range(2018, 2024)] and nl["person_key_year"] == 2021
    for y, v in nl["years"].items():
        assert v["share_poor_inharmoede"] < v["share_poor_inharmlag"] - 0.01, y
    h, meta = read(cbs(out) / "InkomenBestedingen/INHARMATAB/INHARMA2019TABV1.sav")
    assert list(h.columns) == ["RINPERSOONSHKW", "RINPERSOONHKW", "INHARMOEDE"]
    assert meta.variable_value_labels["INHARMOEDE"] == {998: "Niet in doelpopulatie", 999: "Onbekend"}
    inc, _ = inha(out, 2019)
    m = inc.merge(h, on=["RINPERSOONSHKW", "RINPERSOONHKW"], how="left", validate="1:1")
    assert 0 < m.INHARMOEDE.isna().sum() < 0.02 * len(m)          # a few households without a row
    assert (m.loc[m.INHPOPIIV == 2, "INHARMOEDE"].dropna() == 998).all()
    pop = m[m.INHPOPIIV == 1]
    old, new = pop.INHARMLAG.between(0, 99), pop.INHARMOEDE < 100
    assert (new & ~old).sum() < (old & ~new).sum()                   # the buffer lifts more than it adds
    p, _ = read(cbs(out) / "InkomenBestedingen/INHARMATAB/INHARMA2021TABV1.sav")
    assert list(p.columns) == ["RINPERSOONS", "RINPERSOON", "INHARMOEDE"]
    readme = " ".join((root / "truth/README.md").read_text().split())
    assert "INHARMOEDE" in readme and "wealth buffer" in readme and "BVRLICAT" in readme
