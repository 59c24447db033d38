"""Tests of pipeline.factsheet on the hand-made areas and tables of test_maps."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pipeline import factsheet  # noqa: E402
from test_maps import _published, make_areas, make_tables  # noqa: E402

REGION = "Testregio"
BENCHMARKS = {"outflow": (0.096, "CBS (2023), ander cohort")}


def _weasyprint_loads() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def young_adults() -> dict[str, pd.DataFrame]:
    rows = []
    for year in (2019, 2020, 2021):
        for code, name, level, share in (("GM0001", "Westerveen", "gemeente", 0.10),
                                         ("GM0002", "Oosterveen", "gemeente", np.nan),
                                         (REGION, REGION, "region", 0.08)):
            rows.append({"year": year, "area_code": code, "area_name": name, "level": level,
                         "n_young_adults": 300, "share_poor": share + 0.01 * (year - 2019),
                         "share_poor_ci_low": share - 0.02, "share_poor_ci_high": share + 0.04,
                         "suppressed": "" if np.isfinite(share) else "share_poor: numerator < 10"})
    frame = pd.DataFrame(rows)
    return {"gemeente": frame[frame["level"] == "gemeente"].reset_index(drop=True),
            "region": frame[frame["level"] == "region"].reset_index(drop=True)}


@pytest.fixture
def inputs():
    areas = make_areas()
    tables = make_tables(areas)
    region = tables["gemeente"].iloc[[0]].assign(area_code=REGION, area_name=REGION,
                                                 level="region")
    for key, value in _published(0.25, 0.21, 0.30, n=680, n_pp=250).items():
        region[key] = value
    tables["region"] = region
    # the region's rank measure, and Westerveen's with an interval wholly above it
    tables["region"]["abs_mobility_p25"] = 0.40
    gm = tables["gemeente"]
    gm.loc[gm["area_code"] == "GM0001", ["abs_mobility_p25", "abs_mobility_p25_ci_low",
                                         "abs_mobility_p25_ci_high"]] = [0.45, 0.42, 0.48]
    return areas, tables, young_adults()


def _sheet(inputs, code, **kw):
    areas, tables, young = inputs
    return factsheet.build_factsheet(
        code=code, tables=tables, young=young, areas=areas, region_name=REGION,
        benchmarks=BENCHMARKS, map_measure="outflow", map_level="buurt", cohort=(1995, 1998),
        child_ages=(24, 27), young_ages=(22, 26), date="1 januari 2025", **kw)


def test_gemeente_sheet_has_figures_intervals_region_and_benchmark(inputs):
    page = _sheet(inputs, "GM0001")
    assert "Feitenblad overerfbare armoede: Westerveen" in page
    assert "33,0%" in page and "26,0–41,0%" in page  # the gemeente's outflow and interval
    assert "Regio Testregio" in page and "25,0%" in page  # the region beside it
    assert "9,6%" in page and "CBS (2023), ander cohort" in page  # benchmark with its source
    # its interval (26-41%) lies wholly above the region's 25%
    assert "Dat is duidelijk hoger dan in de hele regio Testregio (25,0%)." in page
    assert "SYNTHETISCHE DATA" in page
    assert "Wat zeggen ze niet?" in page and "veroorzaakt" in page


def test_comparison_follows_the_interval(inputs):
    _, tables, _ = inputs
    region = tables["region"].iloc[0].to_dict()
    gm = tables["gemeente"].set_index("area_code")
    assert factsheet.compare(gm.loc["GM0001"].to_dict(), region, "abs_mobility_p25") == "hoger"
    assert factsheet.compare(gm.loc["GM0002"].to_dict(), region, "outflow") == "gelijk"
    assert factsheet.compare(None, region, "outflow") == ""
    below = {"outflow_ci_low": 0.05, "outflow_ci_high": 0.2}
    assert factsheet.compare(below, region, "outflow") == "lager"


def test_withheld_figure_reads_niet_gepubliceerd(inputs):
    cell = factsheet.format_cell({"outflow": np.nan}, "outflow")
    assert cell["value"] == "niet gepubliceerd" and cell["interval"] == ""
    assert factsheet.format_cell(None, "n_children")["value"] == "niet gepubliceerd"
    assert factsheet.format_cell({"n_children": 1234.0}, "n_children")["value"] == "1.234"


def test_sheet_loads_nothing_from_elsewhere(inputs):
    page = _sheet(inputs, None)
    assert "Feitenblad overerfbare armoede: Testregio" in page
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def test_region_sheet_has_no_region_column(inputs):
    page = _sheet(inputs, None)
    assert "Regio Testregio</th>" not in page
    assert "verschilt niet duidelijk" not in page


def test_trend_figure_skips_withheld_years():
    young = pd.concat(young_adults().values(), ignore_index=True)
    fig = factsheet.trend_figure(young, codes=["GM0001", REGION], names=["W", "R"],
                                 synthetic=False)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    assert factsheet.trend_figure(young, codes=["GM0002"], names=["O"], synthetic=False) is None


def test_unknown_gemeente_fails(inputs):
    with pytest.raises(factsheet.FactsheetError, match="GM9999"):
        _sheet(inputs, "GM9999")


@pytest.mark.skipif(not _weasyprint_loads(),
                    reason="WeasyPrint cannot load here (pango missing): `make test` installs it")
def test_pdf_is_written(inputs, tmp_path):
    out = factsheet.write_pdf(_sheet(inputs, "GM0001"), tmp_path / "feitenblad_GM0001.pdf")
    data = out.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["feitenblad_GM0001.pdf"]


def test_main_fails_naming_file_and_column(inputs, tmp_path, capsys):
    areas, tables, young = inputs
    areas.to_parquet(tmp_path / "areas.parquet")
    for level, table in tables.items():
        table.to_csv(tmp_path / f"transmission_{level}.csv", index=False)
    young["gemeente"].drop(columns="share_poor_ci_high").to_csv(
        tmp_path / "young_adults_gemeente.csv", index=False)
    young["region"].to_csv(tmp_path / "young_adults_region.csv", index=False)
    code = factsheet.main(["--areas", str(tmp_path / "areas.parquet"), "--tables-dir",
                           str(tmp_path), "--out-dir", str(tmp_path / "out"), "--region-name",
                           REGION, "--gemeenten", "GM0001", "--map-measure", "outflow",
                           "--no-pdf"])
    assert code == 2
    err = capsys.readouterr().err
    assert "young_adults_gemeente.csv" in err and "share_poor_ci_high" in err
    assert not (tmp_path / "out").exists()


def test_main_writes_a_sheet_per_gemeente_and_the_region(inputs, tmp_path):
    areas, tables, young = inputs
    areas.to_parquet(tmp_path / "areas.parquet")
    for level, table in tables.items():
        table.to_csv(tmp_path / f"transmission_{level}.csv", index=False)
    for level, table in young.items():
        table.to_csv(tmp_path / f"young_adults_{level}.csv", index=False)
    code = factsheet.main(["--areas", str(tmp_path / "areas.parquet"), "--tables-dir",
                           str(tmp_path), "--out-dir", str(tmp_path / "out"), "--region-name",
                           REGION, "--gemeenten", "GM0001", "GM0002", "--map-measure",
                           "outflow", "--no-pdf", "--benchmarks",
                           '[{"measure": "outflow", "value": 0.096, "source": "CBS"}]'])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "feitenblad_GM0001.html", "feitenblad_GM0002.html", "feitenblad_regio.html"]
