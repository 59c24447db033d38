"""Tests of pipeline.hotspots on square lattices built by hand (EPSG:28992)."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from shapely.geometry import box  # noqa: E402

from pipeline import hotspots, hotspots_truth  # noqa: E402
from test_maps import make_areas, make_tables  # noqa: E402


def lattice(n: int, values: np.ndarray) -> gpd.GeoDataFrame:
    """n x n buurten of 500 m in one gemeente, with ``values`` in row-major order."""
    cells = [box(250_000 + 500 * c, 560_000 + 500 * r, 250_500 + 500 * c, 560_500 + 500 * r)
             for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({
        "area_code": [f"BU0001{i:04d}" for i in range(n * n)],
        "area_name": [f"Buurt {i}" for i in range(n * n)],
        "level": "buurt", "gemeente_code": "GM0001", "outflow_eb": values,
    }, geometry=cells, crs="EPSG:28992")


def block_mask(n: int, rows: range, cols: range) -> np.ndarray:
    mask = np.zeros((n, n), dtype=bool)
    mask[np.ix_(list(rows), list(cols))] = True
    return mask.ravel()


# --------------------------------------------------------------------------- statistics

def test_benjamini_hochberg_by_hand():
    q = hotspots.benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.06, 0.0533, 0.20 -> step-up minimum
    assert q == pytest.approx([0.04, 0.0533333, 0.0533333, 0.20], rel=1e-5)
    assert hotspots.benjamini_hochberg([]).size == 0
    with pytest.raises(hotspots.HotspotInputError):
        hotspots.benjamini_hochberg([0.5, 1.5])


def test_queen_neighbours_share_corners():
    gdf = lattice(3, np.zeros(9))
    nb = hotspots.queen_neighbours(gdf)
    assert nb[4] == [0, 1, 2, 3, 5, 6, 7, 8]  # the middle cell touches all eight
    assert nb[0] == [1, 3, 4]


def test_local_moran_is_reproducible_and_refuses_islands():
    rng = np.random.default_rng(1)
    gdf = lattice(6, rng.normal(size=36))
    nb = hotspots.queen_neighbours(gdf)
    a = hotspots.local_moran(gdf["outflow_eb"].to_numpy(), nb, permutations=199, seed=5)
    b = hotspots.local_moran(gdf["outflow_eb"].to_numpy(), nb, permutations=199, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["quadrant"]) <= {1, 2, 3, 4}
    with pytest.raises(hotspots.HotspotInputError, match="island"):
        hotspots.local_moran(np.array([1.0, 2.0]), [[1], []], permutations=99)
    with pytest.raises(hotspots.HotspotInputError, match="finite"):
        hotspots.local_moran(np.array([1.0, np.nan]), [[1], [0]], permutations=99)


# --------------------------------------------------------------------------- finding clusters

def test_planted_block_is_found_as_high_high():
    n = 12
    rng = np.random.default_rng(2)
    planted = block_mask(n, range(3, 7), range(4, 8))
    values = np.where(planted, 0.5, 0.15) + rng.normal(0, 0.03, n * n)
    result, summary = hotspots.find_hotspots(lattice(n, values), measure="outflow_eb",
                                             permutations=999, seed=3, fdr=0.10)
    flagged = result["hotspot"].to_numpy()
    assert summary["status"] == "getoetst" and summary["n_tested"] == n * n
    assert (flagged & planted).sum() / planted.sum() >= 0.5  # recall
    assert (flagged & planted).sum() / flagged.sum() >= 0.9  # precision
    assert set(result.loc[flagged, "cluster"]) == {"hoog-hoog"}


def test_low_side_finds_low_low():
    n = 10
    rng = np.random.default_rng(3)
    planted = block_mask(n, range(2, 6), range(2, 6))
    values = np.where(planted, 0.30, 0.45) + rng.normal(0, 0.02, n * n)
    result, summary = hotspots.find_hotspots(lattice(n, values), measure="outflow_eb",
                                             side="low", permutations=999, seed=3)
    assert summary["n_hotspot"] >= 8
    assert set(result.loc[result["hotspot"], "cluster"]) == {"laag-laag"}
    assert result.loc[result["hotspot"], "area_code"].isin(
        lattice(n, values).loc[planted, "area_code"]).all()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_no_clusters_flags_almost_nothing(seed):
    n = 12
    values = np.random.default_rng(seed).normal(0.15, 0.03, n * n)
    result, summary = hotspots.find_hotspots(lattice(n, values), measure="outflow_eb",
                                             permutations=999, seed=seed, fdr=0.10)
    assert summary["n_significant"] <= 2
    # a cluster needs a core: without hotspot cores no area is a cluster member
    assert summary["n_hotspot_cluster"] == summary["n_hotspot"] <= 2


def test_cluster_members_are_cores_and_their_same_side_neighbours():
    # a path 0-1-2-3-4 with values 1, 1, 1, 0, 5 (mean 1.6); core at 1
    values = np.array([1.0, 1.0, 1.0, 0.0, 5.0])
    path = [[1], [0, 2], [1, 3], [2, 4], [3]]
    core = np.array([False, True, False, False, False])
    low = hotspots.cluster_members(values, path, core, side="low")
    assert low.tolist() == [True, True, True, False, False]  # 3 is not a neighbour of 1
    # on the high side only neighbours at or above the mean join: none of 0 and 2 do
    assert hotspots.cluster_members(values, path, core, side="high").tolist() == core.tolist()
    nothing = hotspots.cluster_members(values, path, np.zeros(5, dtype=bool), side="low")
    assert not nothing.any()
    with pytest.raises(hotspots.HotspotInputError):
        hotspots.cluster_members(values, path[:4], core, side="low")


def test_planted_block_cluster_extends_recall_within_the_block():
    # a weak planted block: fewer cores, and the cluster (cores with their same-side
    # neighbours) covers more of the block while staying mostly inside it
    n = 14
    rng = np.random.default_rng(8)
    planted = block_mask(n, range(3, 9), range(4, 10))
    values = np.where(planted, 0.30, 0.15) + rng.normal(0, 0.06, n * n)
    result, summary = hotspots.find_hotspots(lattice(n, values), measure="outflow_eb",
                                             permutations=999, seed=3, fdr=0.10)
    core = result["hotspot"].to_numpy()
    member = result["hotspot_cluster"].isin([hotspots.CORE, hotspots.MEMBER]).to_numpy()
    assert (result.loc[core, "hotspot_cluster"] == hotspots.CORE).all()
    assert summary["n_hotspot_cluster"] == member.sum() > core.sum() > 0
    assert (member & planted).sum() > (core & planted).sum()
    assert (member & planted).sum() / member.sum() >= 0.8  # precision of the cluster
    # every member is a core or touches one, and lies on the high side of the mean
    nb = hotspots.queen_neighbours(lattice(n, values))
    mean = values.mean()
    for i in np.flatnonzero(member & ~core):
        assert values[i] >= mean and any(core[j] for j in nb[i])
    table = hotspots.hotspot_table(result, make_areas(), level="buurt", measure="outflow_eb")
    assert set(table.loc[table["hotspot_cluster"] == hotspots.MEMBER, "area_code"]) == set(
        result.loc[member & ~core, "area_code"])


def test_withheld_areas_are_left_out_not_imputed():
    n = 8
    values = np.random.default_rng(4).normal(0.2, 0.02, n * n)
    values[[0, 1, 8, 9, 20]] = np.nan
    values[63] = 0.3
    values[[54, 55, 62]] = np.nan  # cell 63 (a corner) now has no released neighbour
    result, summary = hotspots.find_hotspots(lattice(n, values), measure="outflow_eb",
                                             permutations=199, seed=1, min_released_share=0.5)
    by_code = result.set_index("area_code")["cluster"]
    assert by_code["BU00010000"] == hotspots.NOT_RELEASED
    assert by_code["BU00010063"] == hotspots.ISLAND
    assert summary["n_released"] == n * n - 8 and summary["n_islands"] == 1
    assert summary["n_tested"] == n * n - 9
    assert result.loc[result["cluster"] == hotspots.NOT_RELEASED, "p_value"].isna().all()


def test_too_few_released_is_not_tested():
    n = 6
    values = np.full(n * n, np.nan)
    values[:10] = 0.3
    result, summary = hotspots.find_hotspots(lattice(n, values), measure="outflow_eb",
                                             permutations=99, seed=1, min_released_share=0.5)
    assert summary["status"].startswith("niet getoetst: 10 van 36 gepubliceerd")
    assert not result["hotspot"].any()
    assert set(result["cluster"]) == {hotspots.NOT_TESTED, hotspots.NOT_RELEASED}


def test_score_against_truth():
    flagged = pd.Series([True, True, False], index=["a", "b", "c"])
    planted = pd.Series([True, False, True, True], index=["a", "b", "c", "d"])
    assert hotspots.score_against_truth(flagged, planted) == {
        "n_planted": 3, "n_flagged": 2, "n_hit": 1, "recall": 1 / 3, "precision": 0.5}
    none = hotspots.score_against_truth(pd.Series(dtype=bool), planted)
    assert none["precision"] is None and none["recall"] == 0


# --------------------------------------------------------------------------- table, map, main

def test_table_lists_released_values_and_labels_only():
    n = 12
    rng = np.random.default_rng(2)
    planted = block_mask(n, range(3, 7), range(4, 8))
    gdf = lattice(n, np.where(planted, 0.5, 0.15) + rng.normal(0, 0.03, n * n))
    areas = pd.concat([gdf.drop(columns="outflow_eb"), gpd.GeoDataFrame(
        {"area_code": ["GM0001"], "area_name": ["Westerveen"], "level": ["gemeente"],
         "gemeente_code": ["GM0001"]}, geometry=[gdf.union_all() if hasattr(gdf, "union_all")
                                                 else gdf.unary_union], crs=gdf.crs)])
    result, _ = hotspots.find_hotspots(gdf, measure="outflow_eb", permutations=999, seed=3)
    table = hotspots.hotspot_table(result, areas, level="buurt", measure="outflow_eb")
    assert list(table.columns) == hotspots.TABLE_COLUMNS
    assert not [c for c in table.columns if c.startswith("n_")]  # no counts at all
    # significant areas, and the non-significant neighbours that belong to a hotspot cluster
    significant = table["cluster"].isin(list(hotspots.QUADRANT_LABELS.values()))
    assert (significant | (table["hotspot_cluster"] == hotspots.MEMBER)).all()
    assert (table.loc[table["hotspot"], "hotspot_cluster"] == hotspots.CORE).all()
    released = gdf.set_index("area_code")["outflow_eb"]
    assert np.allclose(table["value"], released.loc[table["area_code"]].to_numpy())
    assert (table["gemeente_name"] == "Westerveen").all()
    assert table.loc[significant, "q_value"].le(0.10).all()


def test_hotspot_map_draws_every_label():
    areas = make_areas()
    tables = make_tables(areas)
    gdf = hotspots.maps.join_areas(tables["buurt"], areas, level="buurt")
    result, summary = hotspots.find_hotspots(gdf, measure="outflow_eb", permutations=99,
                                             seed=1, min_released_share=0.5, min_tested=1)
    fig = hotspots.make_hotspot_map(result, areas, level="buurt", measure="outflow_eb",
                                    side="high", summary=summary, date="1 januari 2025")
    ax = next(a for a in fig.axes if a.get_label() == "kaart")
    drawn = sum(len(c.get_paths()) for c in ax.collections if c.get_gid())
    assert drawn == len(result)
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("Clusters van uitstroom (gekrompen) per buurt") for t in texts)


def _write(tmp_path, areas, tables):
    areas_path = tmp_path / "areas.parquet"
    areas.to_parquet(areas_path)
    tdir = tmp_path / "tables"
    tdir.mkdir()
    for level, table in tables.items():
        table.to_csv(tdir / f"transmission_{level}.csv", index=False)
    return areas_path, tdir


def test_main_writes_tables_maps_and_score(tmp_path):
    areas = make_areas()
    tables = make_tables(areas)
    areas_path, tdir = _write(tmp_path, areas, tables)
    truth = tmp_path / "truth"
    truth.mkdir()
    pd.DataFrame({"buurtcode": tables["buurt"]["area_code"],
                  "cluster": ["noordoost"] + [""] * (len(tables["buurt"]) - 1)}).to_csv(
        truth / "buurt_truth.csv", index=False)
    pd.DataFrame({"wijkcode": tables["wijk"]["area_code"], "cluster": ""}).to_csv(
        truth / "wijk_truth.csv", index=False)
    code = hotspots.main(["--areas", str(areas_path), "--tables-dir", str(tdir),
                          "--analysis", "buurt:outflow_eb:high", "wijk:outflow:high",
                          "--permutations", "99", "--tables-out", str(tmp_path / "out"),
                          "--figures-out", str(tmp_path / "fig"), "--date", "2025-01-01"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "hotspots_buurt.csv", "hotspots_summary.csv", "hotspots_wijk.csv"]
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [
        "hotspots_buurt_outflow_eb.pdf", "hotspots_buurt_outflow_eb.png",
        "hotspots_wijk_outflow.pdf", "hotspots_wijk_outflow.png"]
    summary = pd.read_csv(tmp_path / "out" / "hotspots_summary.csv")
    assert summary["measure"].tolist() == ["outflow_eb", "outflow"]
    # the truth check reads only what was released, in a step of its own
    assert hotspots_truth.main(["--areas", str(areas_path), "--tables-dir", str(tmp_path / "out"),
                                "--truth-dir", str(truth), "--out",
                                str(tmp_path / "score.json")]) == 0
    score = json.loads((tmp_path / "score.json").read_text())
    assert [s["measure"] for s in score] == ["outflow_eb", "outflow"]
    assert score[0]["n_planted"] == 1 and score[0]["n_flagged"] == 0


def test_main_fails_naming_file_and_column(tmp_path, capsys):
    areas = make_areas()
    tables = make_tables(areas)
    tables["buurt"] = tables["buurt"].drop(columns="outflow_eb")
    areas_path, tdir = _write(tmp_path, areas, tables)
    code = hotspots.main(["--areas", str(areas_path), "--tables-dir", str(tdir),
                          "--analysis", "buurt:outflow_eb:high", "--tables-out",
                          str(tmp_path / "out"), "--figures-out", str(tmp_path / "fig")])
    assert code == 2
    err = capsys.readouterr().err
    assert "transmission_buurt.csv" in err and "outflow_eb" in err
    assert not (tmp_path / "out").exists()


def test_bad_analysis_spec_fails():
    with pytest.raises(hotspots.HotspotInputError, match="LEVEL:MEASURE"):
        hotspots.Analysis.parse("buurt:outflow_eb")
    with pytest.raises(hotspots.HotspotInputError):
        hotspots.Analysis.parse("straat:outflow_eb:high")


def test_the_hotspot_side_is_always_red():
    assert hotspots.label_style("hoog-hoog", side="high")["facecolor"] == hotspots.HOT
    assert hotspots.label_style("laag-laag", side="low")["facecolor"] == hotspots.HOT
    assert hotspots.label_style("hoog-hoog", side="low")["facecolor"] == hotspots.COLD
    assert hotspots.label_style(hotspots.NOT_RELEASED, side="low")["hatch"]


def test_score_tables_counts_hits_over_the_region_areas():
    areas = make_areas()
    table = pd.DataFrame({"area_code": ["BU00010101", "BU00010102"], "measure": "outflow_eb",
                          "hotspot": ["True", "False"]})
    summary = pd.DataFrame({"level": ["buurt"], "measure": ["outflow_eb"],
                            "hotspot_side": ["high"], "status": ["getoetst"]})
    planted = pd.Series([True, True, False], index=["BU00010101", "BU00010201", "BU99999999"])
    [score] = hotspots.score_tables({"buurt": table}, summary, areas, {"buurt": planted})
    assert (score["n_planted"], score["n_flagged"], score["n_hit"]) == (2, 1, 1)
    assert score["recall"] == 0.5 and score["precision"] == 1.0
    assert "cluster_recall" not in score  # tables written before the cluster column
    table["hotspot_cluster"] = [hotspots.CORE, hotspots.MEMBER]
    [score] = hotspots.score_tables({"buurt": table}, summary, areas, {"buurt": planted})
    assert (score["cluster_n_flagged"], score["cluster_n_hit"]) == (2, 1)
    assert score["cluster_recall"] == 0.5 and score["cluster_precision"] == 0.5
