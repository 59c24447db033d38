"""Tests of pipeline.maps on two gemeenten of 1 km squares built by hand (EPSG:28992)."""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from shapely.geometry import box  # noqa: E402

from pipeline import maps  # noqa: E402

SUFFIXES = ("", "_ci_low", "_ci_high", "_eb", "_reliability")
MEASURES_WITH_SUFFIXES = ("outflow", "p_child_poor_parents_not_poor", "inflow",
                          "abs_mobility_p25", "rank_slope", "kk_p25", "p_q1_q1", "p_q5_q1")
X0, Y0 = 250_000, 560_000


def _square(col: int, row: int, size: int = 1000):
    return box(X0 + col * size, Y0 + row * size, X0 + (col + 1) * size, Y0 + (row + 1) * size)


def make_areas() -> gpd.GeoDataFrame:
    """Two gemeenten (2 x 2 km each), each of two wijken (1 x 2 km) of two 1 km buurten."""
    rows = []
    for g, (gm, gm_name) in enumerate([("0001", "Westerveen"), ("0002", "Oosterveen")]):
        rows.append(("GM" + gm, gm_name, "gemeente", "GM" + gm,
                     box(X0 + 2000 * g, Y0, X0 + 2000 * (g + 1), Y0 + 2000)))
        for w in range(2):
            col = 2 * g + w
            wk = f"WK{gm}0{w + 1}"
            rows.append((wk, f"Wijk {gm_name} {w + 1}", "wijk", "GM" + gm,
                         box(X0 + 1000 * col, Y0, X0 + 1000 * (col + 1), Y0 + 2000)))
            for b in range(2):
                rows.append((f"BU{gm}0{w + 1}0{b + 1}", f"Buurt {gm_name} {w + 1}.{b + 1}", "buurt",
                             "GM" + gm, _square(col, b)))
    frame = pd.DataFrame(rows, columns=["area_code", "area_name", "level", "gemeente_code",
                                        "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:28992")


def _table(areas: gpd.GeoDataFrame, level: str, values: dict[str, dict]) -> pd.DataFrame:
    """A table with every contract column; areas not in ``values`` have nothing (no children)."""
    columns = ["area_code", "area_name", "level", "n_children", "n_parents_poor", "n_child_poor",
               "n_both_poor"]
    for measure in MEASURES_WITH_SUFFIXES:
        columns += [measure + s for s in SUFFIXES]
    columns += ["risk_ratio", "risk_ratio_ci_low", "risk_ratio_ci_high", "suppressed"]
    rows = []
    for code, name in areas.loc[areas["level"] == level, ["area_code", "area_name"]].itertuples(
            index=False):
        row = {c: np.nan for c in columns}
        row.update(area_code=code, area_name=name, level=level,
                   suppressed="n_children: n < 10")
        row.update(values.get(code, {}))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _published(outflow, low, high, n=120, n_pp=40, reliability=0.6):
    return {"outflow": outflow, "outflow_ci_low": low, "outflow_ci_high": high,
            "outflow_eb": outflow * 0.9, "outflow_reliability": reliability,
            "n_children": n, "n_parents_poor": n_pp, "suppressed": ""}


WITHHELD_BUURT = {"n_children": 60, "n_parents_poor": 8, "outflow": np.nan,
                  "suppressed": "outflow: numerator < 10"}


def make_tables(areas: gpd.GeoDataFrame) -> dict[str, pd.DataFrame]:
    """Buurt: 5 published, 2 with too few events, 1 without children; wijk 3 of 4; gemeente 2."""
    buurt = _table(areas, "buurt", {
        "BU00010101": _published(0.45, 0.30, 0.60),
        "BU00010102": _published(0.20, 0.11, 0.33),
        "BU00010201": _published(0.33, 0.21, 0.47),
        "BU00020101": _published(0.12, 0.05, 0.26),
        "BU00020201": _published(0.27, 0.16, 0.41),
        "BU00010202": WITHHELD_BUURT,
        "BU00020102": WITHHELD_BUURT,
        # BU00020202: no children at all, every value empty
    })
    wijk = _table(areas, "wijk", {
        "WK000101": _published(0.31, 0.22, 0.41, n=240, n_pp=80),
        "WK000102": _published(0.36, 0.26, 0.47, n=180, n_pp=60),
        "WK000201": _published(0.18, 0.11, 0.28, n=200, n_pp=70),
        "WK000202": WITHHELD_BUURT,
    })
    gemeente = _table(areas, "gemeente", {
        "GM0001": _published(0.33, 0.26, 0.41, n=420, n_pp=140),
        "GM0002": _published(0.22, 0.16, 0.29, n=260, n_pp=110),
    })
    return {"buurt": buurt, "wijk": wijk, "gemeente": gemeente}


@pytest.fixture
def areas() -> gpd.GeoDataFrame:
    return make_areas()


@pytest.fixture
def tables(areas) -> dict[str, pd.DataFrame]:
    return make_tables(areas)


def _map_axes(fig):
    return next(ax for ax in fig.axes if ax.get_label() == "kaart")


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _js_string(text: str) -> str:
    """``text`` as Jinja's ``tojson`` writes it inside the page."""
    return (json.dumps(text)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("'", "\\u0027"))


# --------------------------------------------------------------------------- formats, classes

def test_format_value_uses_dutch_percentages():
    assert maps.format_value(0.45, "pct") == "45,0%"
    assert maps.format_range(0.3, 0.6, "pct") == "30,0–60,0%"
    assert maps.format_value(0.4213, "rank") == "42,1"
    assert maps.format_value(2.345, "ratio") == "2,35"
    assert maps.format_value(np.nan, "pct") == "niet gepubliceerd"
    assert maps.format_count(1234.0) == "1.234"


def test_classify_values_keeps_withheld_out_and_is_reproducible():
    values = pd.Series([0.45, np.nan, 0.20, 0.33, 0.12, 0.27, np.nan, 0.31, 0.29, 0.05])
    first = maps.classify_values(values, scheme="NaturalBreaks", k=3)
    second = maps.classify_values(values, scheme="NaturalBreaks", k=3)
    assert first.yb.tolist() == second.yb.tolist()
    assert first.bins == second.bins
    assert first.yb[[1, 6]].tolist() == [-1, -1]
    assert first.k == 3 and sum(first.counts) == 8
    assert first.bins[-1] == pytest.approx(0.45)
    assert first.lows[0] == pytest.approx(0.05)


def test_classify_values_with_few_or_no_values():
    assert maps.classify_values(pd.Series([np.nan, np.nan]), k=5).k == 0
    one = maps.classify_values(pd.Series([0.2, np.nan, 0.2]), k=5)
    assert one.k == 1 and one.yb.tolist() == [0, -1, 0]
    assert maps.classify_values(pd.Series([0.1, 0.2, 0.3]), scheme="FisherJenks", k=5).k == 3


def test_unknown_scheme_fails():
    with pytest.raises(maps.MapInputError, match="unknown classification scheme"):
        maps.classify_values(pd.Series([0.1, 0.2, 0.3]), scheme="Jenkz", k=2)


def test_colours_darken_with_value():
    colours = maps.class_colours(5)
    lightness = [np.dot(matplotlib.colors.to_rgb(c), [0.299, 0.587, 0.114]) for c in colours]
    assert lightness == sorted(lightness, reverse=True)
    withheld = np.dot(matplotlib.colors.to_rgb(maps.WITHHELD_FACE), [0.299, 0.587, 0.114])
    assert lightness[0] < withheld


# --------------------------------------------------------------------------- static maps

def test_withheld_areas_are_hatched(areas, tables):
    fig = maps.make_static_map(tables["buurt"], areas, level="buurt", k=3, date="1 januari 2025")
    ax = _map_axes(fig)
    hatched = [c for c in ax.collections if c.get_hatch()]
    assert [c.get_gid() for c in hatched] == ["niet_gepubliceerd"]
    # two with too few events plus the buurt without children
    assert len(hatched[0].get_paths()) == 3
    classed = [c for c in ax.collections if (c.get_gid() or "").startswith("klasse_")]
    assert sum(len(c.get_paths()) for c in classed) == 5
    assert len({tuple(c.get_facecolor()[0]) for c in classed}) == len(classed) == 3


def test_legend_names_withheld_category_and_percent_ranges(areas, tables):
    fig = maps.make_static_map(tables["buurt"], areas, level="buurt", k=3)
    texts = [t.replace("\n", " ") for t in _legend_texts(fig)]
    assert f"{maps.WITHHELD_LABEL}  (3 buurten)" in texts
    class_texts = [t for t in texts if not t.startswith(maps.WITHHELD_LABEL)]
    # the values' own ranges, so no two labels share an end point
    assert class_texts == ["12,0–20,0%  (2 buurten)", "27,0–33,0%  (2 buurten)",
                           "45,0%  (1 buurt)"]


def test_map_shows_title_synthetic_mark_source_and_gemeente_names(areas, tables):
    fig = maps.make_static_map(tables["wijk"], areas, level="wijk", date="1 januari 2025")
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in _map_axes(fig).texts]
    assert any(t.startswith("Kans op armoede als jongvolwassene bij arme ouders") for t in texts)
    assert maps.SYNTHETIC_LABEL in texts
    assert f"{maps.SYNTHETIC_SOURCE_LINE} · 1 januari 2025" in texts
    assert {"Westerveen", "Oosterveen"} <= set(texts)
    assert "1 km" in texts  # scale bar: region is 4 km wide, so a 1 km bar
    assert "N" in texts


def test_real_data_map_has_no_synthetic_mark(areas, tables):
    fig = maps.make_static_map(tables["gemeente"], areas, level="gemeente", synthetic=False)
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in _map_axes(fig).texts]
    assert not any(maps.SYNTHETIC_LABEL in t or "synthetisch" in t for t in texts)
    assert any(t.startswith(maps.REAL_SOURCE_LINE) for t in texts)


def test_plot_static_map_writes_png_and_pdf(areas, tables, tmp_path):
    png, pdf = tmp_path / "out" / "outflow_buurt.png", tmp_path / "out" / "outflow_buurt.pdf"
    written = maps.plot_static_map(tables["buurt"], areas, level="buurt", out_png=png,
                                   out_pdf=pdf, dpi=150)
    assert written == [png, pdf]
    assert _png_size(png) == (1500, 1275)  # figsize 10 x 8.5 in at 150 dpi
    assert png.stat().st_size > 20_000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in png.parent.iterdir()) == ["outflow_buurt.pdf",
                                                            "outflow_buurt.png"]


def test_failed_save_leaves_no_file(areas, tables, tmp_path, monkeypatch):
    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(maps.Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        maps.plot_static_map(tables["buurt"], areas, level="buurt",
                             out_png=tmp_path / "x.png", out_pdf=None)
    assert list(tmp_path.iterdir()) == []


def test_table_area_without_geometry_fails(areas, tables):
    extra = pd.concat([tables["wijk"], tables["wijk"].iloc[[0]].assign(area_code="WK999901")])
    with pytest.raises(maps.MapInputError, match="WK999901"):
        maps.make_static_map(extra, areas, level="wijk")


def test_area_without_table_row_fails(areas, tables):
    with pytest.raises(maps.MapInputError, match="without a table row"):
        maps.make_static_map(tables["wijk"].iloc[1:], areas, level="wijk")


def test_gemeenten_selects_areas(areas, tables):
    fig = maps.make_static_map(tables["buurt"], areas, level="buurt", gemeenten=["GM0002"], k=2)
    ax = _map_axes(fig)
    assert sum(len(c.get_paths()) for c in ax.collections
               if (c.get_gid() or "").startswith(("klasse_", "niet_"))) == 4
    assert "Westerveen" not in [t.get_text() for t in ax.texts]


# --------------------------------------------------------------------------- interactive map

@pytest.fixture
def page(areas, tables, tmp_path) -> str:
    out = tmp_path / "outflow_kaart.html"
    maps.build_interactive_map(tables, areas, out_html=out, k=3)
    return out.read_text(encoding="utf-8")


def test_html_loads_nothing_from_the_network(page):
    tags = re.findall(r"<(?:script|link)\b[^>]*>", page, flags=re.IGNORECASE)
    assert tags, "no script tags at all"
    for tag in tags:
        assert not re.search(r"\b(?:src|href)\s*=", tag, flags=re.IGNORECASE), tag
    assert "Leaflet 1.9.3" in page  # the library itself is inline
    assert ".leaflet-control-layers" in page  # and its stylesheet
    assert "url(images/layers.png)" not in page
    for cdn in ("cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com", "bootstrapcdn"):
        assert cdn not in page


def test_html_tooltip_has_value_and_interval(areas, tables, page):
    row = maps.join_areas(tables["buurt"], areas, level="buurt").set_index("area_code")
    tooltip = maps.format_tooltip({**row.loc["BU00010101"].to_dict(), "area_code": "BU00010101"},
                                  measure="outflow")
    assert "Buurt Westerveen 1.1" in tooltip and "BU00010101" in tooltip
    assert "45,0% (95%-interval 30,0–60,0%)" in tooltip
    assert "120" in tooltip and "40" in tooltip and "0,60" in tooltip
    assert _js_string(tooltip) in page

    withheld = maps.format_tooltip({**row.loc["BU00010202"].to_dict(), "area_code": "BU00010202"},
                                   measure="outflow")
    assert "outflow: numerator &lt; 10" in withheld and "niet gepubliceerd" in withheld
    assert _js_string(withheld) in page


def test_html_has_a_layer_per_level_and_legend(page):
    for name in ("Buurten", "Wijken", "Gemeenten"):
        assert re.search(rf'"{name}"\s*:\s*feature_group_\w+', page), name
    assert page.count("class='vk-legend-level'") == 3
    assert maps.WITHHELD_LABEL in page
    assert maps.SYNTHETIC_LABEL in page
    assert f"url(#{maps.HATCH_PATTERN_ID})" in page and f"id='{maps.HATCH_PATTERN_ID}'" in page
    assert "L.tileLayer(" not in page


def _shown_layers(fmap) -> list[str]:
    return [child.layer_name for child in fmap._children.values()
            if getattr(child, "layer_name", None) and getattr(child, "show", False)]


def test_geojson_is_lonlat_rounded_and_keeps_every_area(areas):
    buurten = areas[areas["level"] == "buurt"]
    geojson = maps._to_geojson(buurten, ["area_code"], simplify_m=10)
    codes = [f["properties"]["area_code"] for f in geojson["features"]]
    assert codes == buurten["area_code"].tolist()
    lon, lat = geojson["features"][0]["geometry"]["coordinates"][0][0]
    assert 3 < lon < 8 and 50 < lat < 54  # RD was reprojected to EPSG:4326
    assert lon == round(lon, 5) and lat == round(lat, 5)


def test_html_opens_on_finest_level_with_half_published(areas, tables):
    assert _shown_layers(maps.build_interactive_map(tables, areas, k=3)) == ["Buurten"]  # 5 of 8
    buurt = tables["buurt"].copy()
    buurt.loc[buurt["area_code"].isin(["BU00010101", "BU00010102"]), "outflow"] = np.nan
    fmap = maps.build_interactive_map({**tables, "buurt": buurt}, areas, k=3)
    assert _shown_layers(fmap) == ["Wijken"]  # buurt 3 of 8, wijk 3 of 4


# --------------------------------------------------------------------------- command line

def _write_inputs(tmp_path: Path, areas, tables) -> tuple[Path, Path]:
    areas_path = tmp_path / "areas.parquet"
    areas.to_parquet(areas_path)
    tables_dir = tmp_path / "tables"
    tables_dir.mkdir()
    for level, table in tables.items():
        table.to_csv(tables_dir / f"transmission_{level}.csv", index=False)
    return areas_path, tables_dir


def test_main_writes_every_figure(areas, tables, tmp_path, capsys):
    areas_path, tables_dir = _write_inputs(tmp_path, areas, tables)
    out = tmp_path / "figures"
    code = maps.main(["--areas", str(areas_path), "--tables-dir", str(tables_dir),
                      "--out-dir", str(out), "--k", "3", "--dpi", "150", "--date", "2025-01-01",
                      "--measures", "outflow", "outflow_eb", "--html-each", "outflow"])
    assert code == 0
    expected = sorted([f"{m}_{lv}.{ext}" for m in ("outflow", "outflow_eb") for lv in maps.LEVELS
                       for ext in ("png", "pdf")] + ["outflow_kaart.html", "kaart.html"])
    assert sorted(p.name for p in out.iterdir()) == expected
    printed = capsys.readouterr().out
    assert all(f"written: {out / name}" in printed for name in expected)


def test_main_reads_empty_cells_as_withheld(areas, tables, tmp_path):
    _, tables_dir = _write_inputs(tmp_path, areas, tables)
    table = maps.read_transmission_table(tables_dir / "transmission_buurt.csv", measure="outflow")
    by_code = table.set_index("area_code")
    assert np.isnan(by_code.loc["BU00020202", "n_children"])
    assert by_code.loc["BU00010101", "suppressed"] == ""
    assert by_code.loc["BU00010202", "suppressed"] == "outflow: numerator < 10"
    assert by_code.loc["BU00010101", "outflow"] == pytest.approx(0.45)


def test_main_fails_naming_file_and_column(areas, tables, tmp_path, capsys):
    tables = {**tables, "wijk": tables["wijk"].drop(columns="outflow")}
    areas_path, tables_dir = _write_inputs(tmp_path, areas, tables)
    out = tmp_path / "figures"
    code = maps.main(["--areas", str(areas_path), "--tables-dir", str(tables_dir),
                      "--out-dir", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "transmission_wijk.csv" in err and "outflow" in err
    assert not out.exists()  # failed before drawing anything


def test_main_fails_on_missing_table(areas, tables, tmp_path, capsys):
    areas_path, tables_dir = _write_inputs(tmp_path, areas, tables)
    (tables_dir / "transmission_gemeente.csv").unlink()
    code = maps.main(["--areas", str(areas_path), "--tables-dir", str(tables_dir),
                      "--out-dir", str(tmp_path / "figures")])
    assert code == 2
    assert "transmission_gemeente.csv: table not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- reliability, colours, layers

def test_low_reliability_areas_are_stippled_and_counted(areas, tables):
    buurt = tables["buurt"].copy()
    buurt.loc[buurt["area_code"].isin(["BU00010101", "BU00020101"]), "outflow_reliability"] = 0.3
    for measure in ("outflow", "outflow_eb"):
        fig = maps.make_static_map(buurt, areas, measure=measure, level="buurt", k=3,
                                   low_reliability=0.5)
        dots = [c for c in _map_axes(fig).collections if c.get_gid() == "lage_betrouwbaarheid"]
        assert len(dots) == 1 and len(dots[0].get_paths()) == 2
        assert dots[0].get_hatch() == maps.LOW_RELIABILITY_HATCH
        texts = [t.replace("\n", " ") for t in _legend_texts(fig)]
        assert "Onzeker: betrouwbaarheid onder 0,50  (2 buurten)" in texts
    fig = maps.make_static_map(buurt, areas, level="buurt", k=3, low_reliability=None)
    assert not [c for c in _map_axes(fig).collections if c.get_gid() == "lage_betrouwbaarheid"]


def test_withheld_area_is_never_marked_low_reliability(tables):
    buurt = tables["buurt"].copy()
    buurt["outflow_reliability"] = 0.1  # also on the withheld rows
    mask = maps.low_reliability_mask(buurt, "outflow", threshold=0.5)
    assert mask.sum() == buurt["outflow"].notna().sum() == 5


def test_rank_measures_read_dark_as_high_in_their_own_scheme():
    assert maps.measure_info("outflow_eb").cmap == maps.DEFAULT_CMAP
    assert maps.measure_info("abs_mobility_p25_eb").cmap == maps.GOOD_CMAP
    for cmap in (maps.DEFAULT_CMAP, maps.GOOD_CMAP):
        colours = maps.class_colours(7, cmap=cmap)
        grey = [np.dot(matplotlib.colors.to_rgb(c), [0.299, 0.587, 0.114]) for c in colours]
        assert grey == sorted(grey, reverse=True)  # grey print keeps the order
        assert min(np.diff(grey[::-1])) > 0.03  # and neighbouring classes apart


def test_html_has_a_layer_per_measure_and_level(areas, tables):
    page = maps.build_interactive_map(tables, areas, measures=["outflow", "outflow_eb"],
                                      k=3).get_root().render()
    for measure in ("Uitstroom", "Uitstroom (gekrompen)"):
        for plural in ("buurten", "wijken", "gemeenten"):
            assert re.search(rf'"{re.escape(measure)}: {plural}"\s*:\s*feature_group_\w+', page)
    assert page.count("class='vk-legend-level'") == 6
    assert maps.external_resources(page) == []
