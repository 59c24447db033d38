"""Estimators on small hand-made tables, against values worked out by hand."""
import numpy as np
import pandas as pd
import pytest

from pipeline.measures import all_levels, area_measures, empirical_bayes, ols_hc1, proportion_se, wilson


def test_wilson_five_of_ten():
    low, high = wilson([5], [10])
    # p = .5, z = 1.96: centre .5, half-width 1.96 * sqrt(.025 + z^2/400) / (1 + z^2/10) = .26341
    assert low[0] == pytest.approx(0.23659, abs=1e-5)
    assert high[0] == pytest.approx(0.76341, abs=1e-5)


def test_wilson_zero_events_and_empty():
    low, high = wilson([0, 0], [20, 0])
    assert low[0] == 0.0
    # upper bound for 0/20: z^2/n / (1 + z^2/n) = 0.19208/1.19208
    assert high[0] == pytest.approx(0.16113, abs=1e-5)
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_proportion_se_uses_plus_two():
    # 0 of 8: p~ = 1/10, se = sqrt(.1 * .9 / 8)
    assert proportion_se([0], [8])[0] == pytest.approx(np.sqrt(0.09 / 8))


def _hc1_by_hand(x, y, at=0.25):
    X = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    e = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    meat = X.T @ np.diag(e**2) @ X
    n = len(x)
    V = n / (n - 2) * bread @ meat @ bread
    a = np.array([1.0, at])
    return beta[1], np.sqrt(V[1, 1]), beta[0] + at * beta[1], np.sqrt(a @ V @ a)


def test_ols_hc1_matches_matrix_formula():
    x = np.array([0.1, 0.2, 0.4, 0.5, 0.9, 0.3])
    y = np.array([0.3, 0.2, 0.5, 0.4, 0.8, 0.6])
    res = ols_hc1(pd.Series(["A"] * 6), pd.Series(x), pd.Series(y)).loc["A"]
    slope, slope_se, pred, pred_se = _hc1_by_hand(x, y)
    assert res["slope"] == pytest.approx(slope)
    assert res["slope_se"] == pytest.approx(slope_se)
    assert res["pred"] == pytest.approx(pred)
    assert res["pred_se"] == pytest.approx(pred_se)
    assert res["n"] == 6


def test_ols_exact_line_and_degenerate_groups():
    g = pd.Series(["line"] * 4 + ["flat_x"] * 3 + ["two"] * 2)
    x = pd.Series([0.0, 0.2, 0.4, 0.6, 0.5, 0.5, 0.5, 0.1, 0.9])
    y = pd.Series([0.1, 0.2, 0.3, 0.4, 0.1, 0.5, 0.9, 0.2, 0.3])
    res = ols_hc1(g, x, y)
    assert res.loc["line", "slope"] == pytest.approx(0.5)
    assert res.loc["line", "pred"] == pytest.approx(0.225)
    assert res.loc["line", "pred_se"] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(res.loc["flat_x", "slope"])  # no variation in parent rank
    assert np.isnan(res.loc["two", "slope"])     # fewer than 3 points


def test_empirical_bayes_by_hand():
    theta = pd.Series([0.2, 0.4, 0.0, 0.6])
    se = pd.Series([0.1, 0.1, 0.1, 0.1])
    parent = pd.Series(["G1", "G1", "G2", "G2"])
    shrunk, rel = empirical_bayes(theta, se, parent)
    # G1: mu .3, weighted variance .01 = mean se^2 -> sigma2 0 -> everything at mu
    assert shrunk[0] == pytest.approx(0.3) and shrunk[1] == pytest.approx(0.3)
    assert rel[0] == pytest.approx(0.0)
    # G2: mu .3, variance .09, sigma2 .08, r = .08/.09
    r = 0.08 / 0.09
    assert rel[2] == pytest.approx(r)
    assert shrunk[2] == pytest.approx(0.3 - r * 0.3)
    assert shrunk[3] == pytest.approx(0.3 + r * 0.3)


def test_empirical_bayes_precision_weights():
    theta = pd.Series([0.1, 0.5])
    se = pd.Series([0.1, 0.2])       # weights 100 and 25
    shrunk, rel = empirical_bayes(theta, se, pd.Series(["G", "G"]))
    mu = (100 * 0.1 + 25 * 0.5) / 125    # 0.18
    var = (100 * (0.1 - mu) ** 2 + 25 * (0.5 - mu) ** 2) / 125
    sigma2 = max(0.0, var - (0.01 + 0.04) / 2)
    assert rel[0] == pytest.approx(sigma2 / (sigma2 + 0.01))
    assert shrunk[1] == pytest.approx(mu + sigma2 / (sigma2 + 0.04) * (0.5 - mu))


def _kids(rows):
    return pd.DataFrame(rows, columns=["buurt", "parents_poor", "child_poor", "parent_rank", "child_rank"]).assign(
        wijk=lambda d: "WK" + d["buurt"].str[2:8], gemeente=lambda d: "GM" + d["buurt"].str[2:6])


def test_area_measures_counts_and_rates():
    rows = ([("BU00010101", True, True, 0.1, 0.1)] * 3 + [("BU00010101", True, False, 0.15, 0.5)]
            + [("BU00010101", False, True, 0.5, 0.15)] + [("BU00010101", False, False, 0.9, 0.9)] * 5
            + [("BU00010101", None, True, 0.5, 0.5)])      # no parental status: leaves
    k = _kids(rows)
    k["parents_poor"] = k["parents_poor"].astype("boolean")
    k["child_poor"] = k["child_poor"].astype("boolean")
    t = area_measures(k, area=k["buurt"]).set_index("area_code").loc["BU00010101"]
    assert (t["n_children"], t["n_parents_poor"], t["n_child_poor"], t["n_both_poor"]) == (10, 4, 4, 3)
    assert t["outflow"] == pytest.approx(3 / 4)
    assert t["p_child_poor_parents_not_poor"] == pytest.approx(1 / 6)
    assert t["risk_ratio"] == pytest.approx(4.5)
    assert t["inflow"] == pytest.approx(3 / 4)
    # parent rank <= .2: the three (0.1, 0.1) children and one (0.15, 0.5)
    assert t["p_q1_q1"] == pytest.approx(3 / 4)
    assert t["p_q5_q1"] == pytest.approx(0.0)
    # Katz interval of the risk ratio: se = sqrt(1/3 - 1/4 + 1/1 - 1/6)
    se = np.sqrt(1 / 3 - 1 / 4 + 1 - 1 / 6)
    assert t["risk_ratio_ci_low"] == pytest.approx(4.5 * np.exp(-1.959964 * se), rel=1e-5)


def test_kk_band_estimator_uses_only_band():
    # inside 0.15-0.35 child rank = 0.2 + x; outside far off (must not matter)
    rows = [("BU00010101", False, False, x, 0.2 + x) for x in (0.15, 0.2, 0.25, 0.3, 0.35)]
    rows += [("BU00010101", False, False, 0.9, 0.0), ("BU00010101", False, False, 0.05, 0.9)]
    k = _kids(rows)
    t = area_measures(k, area=k["buurt"]).set_index("area_code").loc["BU00010101"]
    assert t["kk_p25"] == pytest.approx(0.45)
    assert t["_kk_p25_n"] == 5
    assert t["_abs_mobility_p25_n"] == 7


def test_all_levels_region_row_and_shrinkage_columns():
    rows = [(f"BU0001010{i}", i % 2 == 0, i % 3 == 0, i / 10, (9 - i) / 10) for i in range(10)]
    k = _kids(rows)
    out = all_levels(k, region_name="Testregio")
    assert list(out["region"]["area_code"]) == ["Testregio"]
    assert out["region"]["n_children"].iloc[0] == 10
    assert out["buurt"]["n_children"].sum() == 10
    assert "outflow_eb" in out["buurt"].columns and "outflow_reliability" in out["buurt"].columns
    assert out["region"]["outflow_eb"].isna().all()


def test_edge_area_with_all_children_poor():
    rows = [("BU00010101", True, True, 0.1 * i, 0.05 * i) for i in range(1, 13)]
    k = _kids(rows)
    t = area_measures(k, area=k["buurt"]).set_index("area_code").loc["BU00010101"]
    assert t["outflow"] == 1.0 and t["inflow"] == 1.0
    # Wilson for 12/12: upper bound 1, lower bound n / (n + z^2)
    assert t["outflow_ci_high"] == pytest.approx(1.0)
    assert t["outflow_ci_low"] == pytest.approx(12 / (12 + 1.959964**2), rel=1e-5)
    # p~ = 13/14 keeps the shrinkage error finite
    assert t["_outflow_se"] == pytest.approx(np.sqrt(13 / 14 * 1 / 14 / 12))
    assert np.isnan(t["p_child_poor_parents_not_poor"])      # nobody with non-poor parents
    assert np.isnan(t["risk_ratio"])


def test_edge_area_with_one_child():
    k = _kids([("BU00010101", True, False, 0.3, 0.4)])
    t = area_measures(k, area=k["buurt"]).set_index("area_code").loc["BU00010101"]
    assert t["n_children"] == 1 and t["outflow"] == 0.0
    assert np.isnan(t["abs_mobility_p25"]) and np.isnan(t["rank_slope"])
    low, high = wilson([0], [1])
    assert t["outflow_ci_low"] == 0.0 and t["outflow_ci_high"] == pytest.approx(high[0])


def test_edge_no_variation_in_parent_rank():
    k = _kids([("BU00010101", False, False, 0.5, r) for r in (0.1, 0.5, 0.9, 0.3)])
    t = area_measures(k, area=k["buurt"]).set_index("area_code").loc["BU00010101"]
    assert np.isnan(t["rank_slope"]) and np.isnan(t["abs_mobility_p25"])


def test_ols_intercept_and_slope_by_hand():
    # points (0, .2), (.5, .3), (1, .7): xbar .5, ybar .4, Sxy = .25, Sxx = .5 -> b = .5, a = .15
    res = ols_hc1(pd.Series(["A"] * 3), pd.Series([0.0, 0.5, 1.0]), pd.Series([0.2, 0.3, 0.7])).loc["A"]
    assert res["slope"] == pytest.approx(0.5)
    assert res["pred"] == pytest.approx(0.15 + 0.25 * 0.5)
    # residuals .05, -.1, .05; HC1 variance of b with c = 3/1
    e = np.array([0.05, -0.1, 0.05])
    x = np.array([0.0, 0.5, 1.0])
    var_b = 3 * np.sum(((x - 0.5) ** 2) * e**2) / 0.5**2
    assert res["slope_se"] == pytest.approx(np.sqrt(var_b))


def test_long_term_variant_and_three_generations():
    rows = [("BU00010101", True, True, 0.1, 0.1)] * 4 + [("BU00010101", False, False, 0.9, 0.9)] * 4
    k = _kids(rows)
    k["parents_lt_poor"] = [True, True, False, False] + [False] * 4
    k["child_lt_poor"] = [True, False, False, False] + [False] * 4
    k["grandparents_poor"] = pd.array([True, True, True, None] + [None] * 4, dtype="boolean")
    t = area_measures(k, area=k["buurt"]).set_index("area_code").loc["BU00010101"]
    assert t["n_parents_poor_lt"] == 2 and t["n_both_poor_lt"] == 1 and t["outflow_lt"] == 0.5
    assert t["_outflow_3gen_n"] == 3 and t["outflow_3gen"] == 1.0


def test_breakdown_rows_have_groups_and_shrink_within_group():
    rows = [(f"BU0001010{i % 3}", i % 2 == 0, i % 3 == 0, (i % 10) / 10, ((i * 7) % 10) / 10) for i in range(60)]
    k = _kids(rows)
    k["geslacht"] = ["1" if i % 2 else "2" for i in range(60)]
    k["geslacht"] = k["geslacht"].astype(object)
    out = all_levels(k, region_name="R")
    g = out["buurt|geslacht"]
    assert set(g["group"]) == {"geslacht=man", "geslacht=vrouw"}
    assert g.groupby("area_code")["n_children"].sum().to_dict() == out["buurt"].set_index("area_code")["n_children"].to_dict()
    assert set(out["region|geslacht"]["key"]) == {"R|geslacht=man", "R|geslacht=vrouw"}
