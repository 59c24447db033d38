"""File discovery and typed reading: versions, editions, suffixes, case, and errors that name
file, table and column."""
import pandas as pd
import pyreadstat
import pytest

from pipeline import tables
from pipeline.errors import PipelineInputError
from pipeline.ingest import ingest_table
from pipeline.io import discover, newest, pick_per_key, read_table

PERSON_PATTERN = r"GBAPERSOON(?:TAB)?\s?(?P<key>\d{4})(?:TAB)?V(?P<version>\d+)"
KOPPEL_PATTERN = r"KOPPELPERSOONHUISHOUDEN(?P<key>\d{4})(?:V(?P<version>\d+))?"


def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def test_newest_edition_highest_version_and_irregular_names(tmp_path):
    d = tmp_path / "Bevolking/GBAPERSOONTAB"
    _touch(d / "2016/GBAPERSOONTAB2016V1.sav")
    _touch(d / "2022/GBAPERSOON2022TABV1.sav")
    _touch(d / "2023/GBAPERSOON2023TABV1.sav")
    want = _touch(d / "2023/GBAPERSOON2023TABV2.sav")
    _touch(d / "2023/GBAPERSOON2023TABV2.txt")   # not a data file
    found = discover(tmp_path, dirs=["Bevolking/GBAPERSOONTAB"], pattern=PERSON_PATTERN)
    assert {f.key for f in found} == {2016, 2022, 2023}
    assert newest(found, table="persons", where="x") == want


def test_koppel_years_with_and_without_version_and_csv_fallback(tmp_path):
    d = tmp_path / "InkomenBestedingen/KOPPELPERSOONHUISHOUDEN"
    _touch(d / "KOPPELPERSOONHUISHOUDEN2018.sav")
    v2 = _touch(d / "KOPPELPERSOONHUISHOUDEN2019V2.sav")
    _touch(d / "KOPPELPERSOONHUISHOUDEN2019.sav")
    csv = _touch(d / "KOPPELPERSOONHUISHOUDEN2020.csv")
    sav = _touch(d / "KOPPELPERSOONHUISHOUDEN2021.sav")
    _touch(d / "KOPPELPERSOONHUISHOUDEN2021.csv")
    picked = pick_per_key(discover(tmp_path, dirs=["InkomenBestedingen/KOPPELPERSOONHUISHOUDEN"], pattern=KOPPEL_PATTERN))
    assert picked[2019] == v2 and picked[2020] == csv and picked[2021] == sav and 2018 in picked


def test_no_file_names_table(tmp_path):
    with pytest.raises(PipelineInputError, match="table persons"):
        newest(discover(tmp_path, dirs=["nope"], pattern=PERSON_PATTERN), table="persons", where="nope")


def _write_sav(path, df, formats=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(df, str(path), variable_format=formats or {})
    return path


KOPPEL = pd.DataFrame({"RINPERSOONS": ["R", "R"], "RINPERSOON": ["000000001", "000000002"],
                       "RINPERSOONSHKW": ["R", "R"], "RINPERSOONHKW": ["000000001", "000000001"]})


def test_read_sav_only_needed_columns_as_strings(tmp_path):
    df = KOPPEL.assign(EXTRA=[1.0, 2.0])
    p = _write_sav(tmp_path / "K.sav", df, {"RINPERSOON": "A9", "RINPERSOONHKW": "A9"})
    out = read_table(p, tables.spec("koppel"))
    assert list(out.columns) == ["RINPERSOONS", "RINPERSOON", "RINPERSOONSHKW", "RINPERSOONHKW"]
    assert out["RINPERSOON"].tolist() == ["000000001", "000000002"]
    assert out["RINPERSOON"].dtype == object


def test_missing_column_names_file_table_and_column(tmp_path):
    p = _write_sav(tmp_path / "KOPPELPERSOONHUISHOUDEN2015.sav", KOPPEL.drop(columns="RINPERSOONHKW"))
    with pytest.raises(PipelineInputError) as e:
        read_table(p, tables.spec("koppel"))
    msg = str(e.value)
    assert "RINPERSOONHKW" in msg and "KOPPELPERSOONHUISHOUDEN" in msg and str(p) in msg


def test_wrong_type_names_column(tmp_path):
    inc = pd.DataFrame({"RINPERSOONSHKW": ["R"], "RINPERSOONHKW": ["000000001"], "INHPOPIIV": [1.0],
                        "INHP100HGEST": ["veel"], "INHARMLAG": [80.0], "INHARMLAGL": [90.0]})
    p = _write_sav(tmp_path / "INHA2015TABV1.sav", inc)
    with pytest.raises(PipelineInputError, match="INHP100HGEST"):
        read_table(p, tables.spec("income"))


def test_unreadable_sav(tmp_path):
    p = tmp_path / "INHA2015TABV1.sav"
    p.write_bytes(b"this is not an SPSS file")
    with pytest.raises(PipelineInputError, match="cannot read file.*INHA2015TABV1.sav"):
        read_table(p, tables.spec("income"))


def test_case_insensitive_names_and_numeric_codes_from_csv(tmp_path):
    # A converted copy: lower-case names and gemeente codes that lost their leading zeros.
    p = tmp_path / "VSLGWB2024TAB03V1.csv"
    p.write_text("soortobjectnummer,rinobjectnummer,Gem2023,wc2023,bc2023\nB,1,765,76501,7650101\nB,2,----,------,--------\n")
    out = ingest_table(p, table="areas", target_year=2023)
    assert out.loc[0, "gem"] == "765"   # read as text; zero-padding happens where codes are used
    from pipeline.upbringing import clean_areas
    c = clean_areas(out)
    assert c.loc[0, "buurt"] == "BU07650101" and c.loc[0, "gemeente"] == "GM0765"
    assert c.loc[1, "buurt"] is None


def test_numeric_codes_in_sav_are_zero_padded(tmp_path):
    df = pd.DataFrame({"SOORTOBJECTNUMMER": ["B"], "RINOBJECTNUMMER": ["1"], "gem2023": [765.0],
                       "wc2023": [76501.0], "bc2023": [7650101.0]})
    p = _write_sav(tmp_path / "VSLGWB2024TAB03V1.sav", df)
    out = ingest_table(p, table="areas", target_year=2023)
    assert out.loc[0, "gem"] == "0765" and out.loc[0, "bc"] == "07650101"


def test_empty_table_fails(tmp_path):
    p = tmp_path / "KOPPELPERSOONHUISHOUDEN2015.csv"
    p.write_text("RINPERSOONS,RINPERSOON,RINPERSOONSHKW,RINPERSOONHKW\n")
    with pytest.raises(PipelineInputError, match="no rows"):
        ingest_table(p, table="koppel")


# The vectorised text helpers must give exactly what the plain pandas expressions gave.
import numpy as np  # noqa: E402

from pipeline import io as pio  # noqa: E402

EDGE = ["000000001", " 123 ", "\t20200101\n", "20200101", "2020010", "202001011", "2020-01-01", "", "  ",
        "----", "--------", "NA", "765", "0765", "07650101", "123456789", "Ab", " aB\u00a0", "\u00a0x",
        "\x1c1\x1f", "\u0661\u0662\u0663", "\uff12\uff10\uff12\uff10\uff10\uff11\uff10\uff11", "1 2", None,
        np.nan, 765, 20200101.0, "99999999", "00000000"]


def _old_text(s):
    return s.astype(object).where(s.notna(), "").map(str).str.strip()


def _old_code_or_missing(s, width):
    s = _old_text(s)
    digits = s.str.fullmatch(r"\d+") & (s.str.len() <= width)
    return s.str.zfill(width).where(digits, None).astype(object)


def _old_yyyymmdd(s, open_value=None):
    s = _old_text(s)
    ok = s.str.fullmatch(r"\d{8}")
    fill = -1 if open_value is None else open_value
    return pd.to_numeric(s.where(ok, None), errors="coerce").fillna(fill).astype("int64")


@pytest.mark.parametrize("values", [EDGE, [v for v in EDGE if isinstance(v, str) and v.isascii()],
                                    ["20200101", " 20200101", "", "----"], [], ["", ""]])
def test_vectorised_text_helpers_match_plain_pandas(values):
    s = pd.Series(values, dtype=object, index=np.arange(len(values)) * 3)
    got = pio._stripped_text(s)
    assert got.dtype == object and got.tolist() == _old_text(s).tolist() and got.index.equals(s.index)
    for width in (4, 6, 8, 9):
        got = pio.code_or_missing(s, width=width)
        # the plain expression gave None on pandas 2.2 and NaN on pandas 3 for a missing code
        want = [None if pd.isna(v) else v for v in _old_code_or_missing(s, width)]
        assert got.dtype == object and got.tolist() == want
    for open_value in (None, 99_999_999):
        got = pio.yyyymmdd(s, open_value=open_value)
        assert got.dtype == "int64" and got.tolist() == _old_yyyymmdd(s, open_value).tolist()
        assert got.index.equals(s.index)


def test_code_strings_strip_only_where_needed_and_keep_case(tmp_path):
    s = pd.Series([" R", "r ", "000000001", "", None, "\u00a0B\u00a0"], dtype=object)
    got = pio._as_code_strings(s, pio.Col("RINPERSOONS"), path=tmp_path / "x.sav", table="t")
    assert got.tolist() == ["R", "r", "000000001", "", "", "B"] and got.dtype == object


def test_read_parquet_rows_in_equals_reading_all_then_isin(tmp_path):
    df = pd.DataFrame({"RINPERSOONS": ["R", "R", "B", "R", "R"],
                       "RINPERSOON": ["000000003", "000000001", "000000001", None, "000000002"],
                       "hh": ["a", None, "c", "d", "e"], "valid": [True, False, True, True, False],
                       "rank": [0.5, np.nan, 0.1, 0.2, 0.3]})
    p = tmp_path / "py.parquet"
    pio.write_parquet(df, p)
    keep = {"000000001", "000000003", "000000009"}
    whole = pio.read_parquet(p, columns=["RINPERSOON", "hh", "valid", "rank"])
    want = whole[whole["RINPERSOON"].isin(keep)].reset_index(drop=True)
    got = pio.read_parquet(p, columns=["RINPERSOON", "hh", "valid", "rank"], rows_in=("RINPERSOON", keep))
    pd.testing.assert_frame_equal(got, want)
    assert got["hh"].dtype == object and got["hh"].tolist() == ["a", None, "c"]
    assert len(pio.read_parquet(p, rows_in=("RINPERSOON", set()))) == 0


def test_sav_read_as_lists_gives_pyreadstat_frame(tmp_path):
    """io reads .sav with pyreadstat's dict output and builds the frame itself; it must hold what
    pyreadstat's own pandas frame holds: strings (empty ones kept), numbers with system missing
    as NaN, and SPSS dates as Python dates, in pieces too."""
    import datetime
    df = pd.DataFrame({
        "RINPERSOON": ["000000001", "", "000000003", "000000004"],
        "N": [1.0, np.nan, 3.5, -2.0],
        "D": [datetime.date(2001, 2, 3), None, datetime.date(1999, 12, 31), datetime.date(2023, 1, 1)],
    })
    p = tmp_path / "x.sav"
    pyreadstat.write_sav(df, str(p), variable_format={"D": "DATE11"})
    want, _ = pyreadstat.read_sav(str(p), apply_value_formats=False, user_missing=False)
    got = pio._sav_frame(*pyreadstat.read_sav(str(p), apply_value_formats=False, user_missing=False,
                                              output_format="dict"))
    assert list(got.columns) == list(want.columns)
    assert got["RINPERSOON"].dtype == object and got["RINPERSOON"].tolist() == want["RINPERSOON"].tolist()
    assert got["N"].dtype == "float64"
    np.testing.assert_array_equal(got["N"].to_numpy(), want["N"].to_numpy(dtype="float64"))
    w = want["D"].tolist()
    g = got["D"].tolist()
    assert [x if isinstance(x, datetime.date) else None for x in g] == \
           [x if isinstance(x, datetime.date) else None for x in w]
    assert isinstance(g[0], datetime.date)
    pieces = list(pio._raw_pieces(p, ["RINPERSOON", "N"], table="T", chunk_rows=1))
    assert len(pieces) == 4
    assert pd.concat(pieces, ignore_index=True)["RINPERSOON"].tolist() == want["RINPERSOON"].tolist()


@pytest.mark.parametrize("values", [[v for v in EDGE if isinstance(v, str) or v is None],
                                    [v for v in EDGE if isinstance(v, str) and v.isascii()] + [None, "\x0b1\x0c"],
                                    ["\x1f", " ", "a\x85", "\u2028b"], []])
def test_strings_typed_into_arrow_match_plain_pandas(values):
    """ingest types string columns straight into Arrow (_stripped_arrow): the same strings as the
    plain expression, on ASCII text (one trim) and on any other text (strip in Python where needed)."""
    s = pd.Series(values, dtype=object)
    got = pio._stripped_arrow(s)
    assert got is not None and got.null_count == 0
    assert got.to_pylist() == _old_text(s).tolist()


def test_read_attributes_is_geopandas_without_geometry(tmp_path):
    """The export steps read the areas' codes and names without geopandas: the same frame as
    geopandas' read minus the geometry, also where the geometry column has another name."""
    import geopandas as gpd
    from shapely.geometry import box
    g = gpd.GeoDataFrame({"area_code": ["GM0014", "WK001401", None], "area_name": ["Groningen", "Centrum", "x"],
                          "level": ["gemeente", "wijk", "buurt"], "n": [1, 2, 3]},
                         geometry=[box(0, 0, 1, 1), box(0, 0, 1, 2), box(1, 1, 2, 2)], crs="EPSG:28992")
    for name in ("geometry", "shape"):
        p = tmp_path / f"{name}.parquet"
        (g if name == "geometry" else g.rename_geometry(name)).to_parquet(p)
        want = pd.DataFrame(gpd.read_parquet(p).drop(columns=name))
        got = pio.read_attributes(p)
        pd.testing.assert_frame_equal(got, want)
        assert list(got.columns) == ["area_code", "area_name", "level", "n"]
