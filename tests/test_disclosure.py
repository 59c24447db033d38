"""Disclosure control (§10): primary thresholds, the 2x2 recovery rule and nested areas."""
import numpy as np
import pandas as pd

from pipeline.disclosure import Thresholds, apply, decide, release_poverty_row

TH = Thresholds(min_n=10, min_events=10, min_df=10)


def row(a, b, c, d, **extra):
    r = {"n_children": a + b + c + d, "n_parents_poor": a + b, "n_child_poor": a + c, "n_both_poor": a}
    r.update(extra)
    return pd.Series(r)


def test_all_released_when_every_cell_large():
    dec = release_poverty_row(row(20, 30, 15, 100), TH)
    assert all(v is None for v in dec.values())


def test_small_area_withholds_everything():
    dec = release_poverty_row(row(2, 2, 1, 4), TH)
    assert all(v == "n_children < 10" for v in dec.values())


def test_outflow_withheld_on_small_numerator_but_n_children_released():
    dec = release_poverty_row(row(5, 30, 15, 100), TH)
    assert dec["n_children"] is None
    assert dec["outflow"] == "numerator or complement < 10"
    assert dec["inflow"] is not None and dec["n_both_poor"] is not None


def test_recovery_by_subtraction_inside_the_2x2_is_blocked():
    # c = 4 is small. outflow reveals a and b, n_child_poor = a + c would then give c back.
    dec = release_poverty_row(row(20, 30, 4, 100), TH)
    assert dec["outflow"] is None
    assert dec["p_child_poor_parents_not_poor"] is not None   # primary: c < 10
    assert dec["n_child_poor"] is not None                     # secondary: a + c - a = c
    assert dec["n_child_poor"].startswith("secondary")


def test_protected_count_cannot_be_derived_from_rates():
    dec = release_poverty_row(row(20, 30, 15, 100), TH, protect={"n_parents_poor"})
    assert dec["n_parents_poor"].startswith("secondary")
    # outflow reveals a and b, so a + b = n_parents_poor: it must go too
    assert dec["outflow"] is not None
    assert dec["n_children"] is None


def _levels(buurt_counts):
    """One region, one gemeente, one wijk, buurten with (a, b, c, d)."""
    def frame(codes, cells):
        rows = {code: row(*c) for code, c in zip(codes, cells)}
        t = pd.DataFrame(rows).T
        for name in ("abs_mobility_p25", "rank_slope", "kk_p25", "p_q1_q1", "p_q5_q1"):
            t[name] = np.nan
            t[f"_{name}_n"] = 0
            t[f"_{name}_k"] = 0
        return t
    codes = [f"BU000101{i:02d}" for i in range(len(buurt_counts))]
    total = tuple(int(sum(c[i] for c in buurt_counts)) for i in range(4))
    tables = {"buurt": frame(codes, buurt_counts), "wijk": frame(["WK000101"], [total]),
              "gemeente": frame(["GM0001"], [total]), "region": frame(["R"], [total])}
    anc = {"buurt": pd.DataFrame({"wijk": "WK000101", "gemeente": "GM0001", "region": "R"}, index=codes),
           "wijk": pd.DataFrame({"gemeente": "GM0001", "region": "R"}, index=["WK000101"]),
           "gemeente": pd.DataFrame({"region": "R"}, index=["GM0001"]),
           "region": pd.DataFrame(index=["R"])}
    return tables, anc


def test_one_withheld_buurt_in_released_wijk_takes_the_smallest_sibling():
    tables, anc = _levels([(10, 10, 10, 20), (10, 10, 10, 30), (1, 1, 1, 2), (10, 10, 10, 40)])
    dec = decide(tables, ancestors=anc, th=TH)
    held = dec["buurt"]["n_children"].notna()
    assert held.sum() == 2
    assert held["BU00010102"]                         # the small one (primary)
    assert held["BU00010100"]                         # the smallest released sibling (secondary)
    assert dec["buurt"].loc["BU00010100", "n_children"].startswith("secondary")
    assert dec["wijk"].loc["WK000101", "n_children"] is None


def test_empty_areas_do_not_trigger_secondary():
    tables, anc = _levels([(10, 10, 10, 20), (10, 10, 10, 30), (0, 0, 0, 0)])
    dec = decide(tables, ancestors=anc, th=TH)
    assert dec["buurt"].loc["BU00010100", "n_children"] is None
    assert dec["buurt"].loc["BU00010101", "n_children"] is None


def test_apply_blanks_derived_values_and_names_rule():
    t = pd.DataFrame({"n_children": [50], "n_parents_poor": [35], "n_child_poor": [35], "n_both_poor": [30],
                      "outflow": [0.857], "outflow_ci_low": [0.7], "outflow_ci_high": [0.95], "outflow_eb": [0.8],
                      "outflow_reliability": [0.5]}, index=["X"])
    reasons = pd.DataFrame({"n_children": [None], "outflow": ["numerator or complement < 10"]}, index=["X"])
    out = apply(t, reasons, th=TH)
    assert out.loc["X", "n_children"] == 50
    assert out.loc[["X"], ["outflow", "outflow_ci_low", "outflow_ci_high", "outflow_eb", "outflow_reliability"]].isna().all(axis=None)
    assert out.loc["X", "suppressed"] == "outflow: numerator or complement < 10"


def test_rounding_counts_and_rates():
    t = pd.DataFrame({"n_children": [52], "n_parents_poor": [37], "n_child_poor": [33], "n_both_poor": [21],
                      "outflow": [0.56756]}, index=["X"])
    reasons = pd.DataFrame({"n_children": [None], "outflow": [None]}, index=["X"])
    out = apply(t, reasons, th=Thresholds(round_counts_to=5))
    assert out.loc["X", "n_children"] == 50 and out.loc["X", "n_parents_poor"] == 35
    assert out.loc["X", "outflow"] == 0.57


# ----------------------------------------------------------------------------- cells across tables, sums, years

def lt_row(a, b, c, d, la, lb, lc, ld):
    r = row(a, b, c, d)
    r["n_parents_poor_lt"], r["n_child_poor_lt"], r["n_both_poor_lt"] = la + lb, la + lc, la
    return r


def test_poor_minus_long_term_poor_is_a_cell_too():
    # 40 children with poor parents, 36 of them long-term: "poor, not long-term" holds 4.
    dec = release_poverty_row(lt_row(20, 20, 30, 80, 18, 18, 0, 114), TH)
    assert dec["n_parents_poor"] is None
    assert dec["n_parents_poor_lt"] == "secondary: would reveal a small cell by subtraction"
    # far apart: both released
    dec = release_poverty_row(lt_row(20, 20, 30, 80, 10, 10, 0, 130), TH)
    assert dec["n_parents_poor"] is None and dec["n_parents_poor_lt"] is None


def test_withheld_parts_together_must_reach_the_threshold():
    # Two small buurten (4 and 5 children) are withheld; the wijk minus the others would give 9.
    tables, anc = _levels([(10, 10, 10, 20), (10, 10, 10, 30), (1, 1, 1, 1), (1, 1, 1, 2)])
    dec = decide(tables, ancestors=anc, th=TH)
    held = dec["buurt"]["n_children"].notna()
    assert held["BU00010102"] and held["BU00010103"]
    assert held["BU00010100"] and dec["buurt"].loc["BU00010100", "n_children"].startswith("secondary")
    assert dec["wijk"].loc["WK000101", "n_children"] is None


def test_rank_measures_follow_a_withheld_population():
    tables, anc = _levels([(10, 10, 10, 20), (10, 10, 10, 30), (1, 1, 1, 2)])
    tables["buurt"]["abs_mobility_p25"] = 0.4
    tables["buurt"]["_abs_mobility_p25_n"] = tables["buurt"]["n_children"]
    dec = decide(tables, ancestors=anc, th=TH)
    assert dec["buurt"].loc["BU00010100", "abs_mobility_p25"] == "secondary: n_children withheld"
    assert dec["buurt"].loc["BU00010101", "abs_mobility_p25"] is None


def test_years_whose_persons_are_nested_and_differ_by_few_are_caught():
    from pipeline.disclosure import isolated_by_years
    members = pd.DataFrame({"person": list(range(14)) + list(range(17)) + list(range(5, 25)),
                            "area": ["W"] * 31 + ["W"] * 20, "year": [2015] * 14 + [2016] * 17 + [2017] * 20,
                            "count": "n_young_adults"})
    released = pd.DataFrame({"area": "W", "year": [2015, 2016, 2017], "count": "n_young_adults", "n": [14, 17, 20]})
    hits = isolated_by_years(members, released, threshold=10)
    # 2015 is inside 2016 (3 newcomers); 2016 and 2017 differ on both sides, as do 2015 and 2017.
    assert hits[["area", "year", "count", "other_year"]].values.tolist() == [["W", 2015, "n_young_adults", 2016]]


def test_young_adults_poor_minus_poor_away_is_a_cell():
    from pipeline.disclosure import release_young_adult_row
    from pipeline.young_adults import COUNTS
    r = pd.Series(0, index=COUNTS, dtype="int64")
    r["n_young_adults"], r["n_poor"], r["n_away"], r["n_poor_away"] = 100, 30, 60, 25
    dec = release_young_adult_row(r, TH)
    assert dec["share_poor"] is None and dec["share_away"] is None
    # 30 poor, 25 of them away: 5 poor young adults live with a parent.
    assert dec["n_poor_away"] == "secondary: would reveal a small cell by subtraction"


def test_year_subsets_from_bit_masks_match_the_member_rows():
    # export.year_subsets_of (bit masks per person) answers as disclosure.subset_pairs on the member rows.
    from pipeline.disclosure import subset_pairs
    from pipeline.export import counted_by, year_members_of, year_subsets_of
    from pipeline.young_adults import COUNTS
    rng = np.random.default_rng(3)
    rows = []
    for p in range(60):
        y0 = int(rng.integers(2015, 2020))
        home = rng.choice(["WK01", "WK02", None])
        for y in range(y0, int(rng.integers(y0, 2022)) + 1):
            rows.append(dict(year=y, RINPERSOON=f"{p:05d}", gemeente="GM01",
                             wijk=home if rng.random() < 0.9 else "WK03", poor=rng.random() < 0.5,
                             lt_poor=rng.random() < 0.3, away=rng.random() < 0.6, father_valid=rng.random() < 0.7,
                             father_poor=rng.random() < 0.4, mother_valid=rng.random() < 0.7,
                             mother_poor=rng.random() < 0.4))
    flags = pd.DataFrame(rows).astype({"wijk": object})
    subset_of = year_subsets_of(flags, counted_by(flags, chunk=50), region_name="R")
    members_of = year_members_of(flags, counted_by(flags), region_name="R")
    for level, areas in (("wijk", ["WK01", "WK02", "WK03", "WK99"]), ("region", ["R"])):
        n = 300
        pairs = pd.DataFrame({"area": rng.choice(np.array(areas, dtype=object), n),
                              "count": rng.choice(np.array(COUNTS[:5], dtype=object), n),
                              "year_s": rng.integers(2014, 2024, n), "year_t": rng.integers(2014, 2024, n)})
        want = subset_pairs(members_of(level, pairs[["area", "count"]].drop_duplicates()), pairs)
        assert (subset_of(level, pairs) == want).all()
        assert want.any() and not want.all()


def test_year_pairs_with_one_year_are_the_rows_of_all_pairs_with_that_year():
    # year_pairs(year=...) pairs only that year's rows, in the order of the merge of all rows with all rows.
    from pipeline.disclosure import year_pairs
    rng = np.random.default_rng(5)
    n = 2000
    r = pd.DataFrame({"area": rng.choice(np.array(list("abcdefg"), dtype=object), n),
                      "year": rng.integers(2011, 2016, n),
                      "count": rng.choice(np.array(["x", "y", "z"], dtype=object), n),
                      "n": rng.integers(0, 30, n)})
    r = r.drop_duplicates(["area", "year", "count"]).sample(frac=1, random_state=2).reset_index(drop=True)
    for year in range(2011, 2017):
        every = year_pairs(r, threshold=10)
        want = every[(every["year_s"] == year) | (every["year_t"] == year)].reset_index(drop=True)
        got = year_pairs(r, threshold=10, year=year).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)


def test_output_check_json_text_is_json_dumps_of_the_records():
    # check_records_json writes, column by column, what json.dumps writes for check_records.
    import json
    from pipeline import io
    from pipeline.export import check_records, check_records_json
    cells = pd.DataFrame({
        "table": ["t", "t", "t", "t"], "area_code": pd.Series(["a", None, "é\"x", "b"], dtype="str"),
        "statistic": np.array(["n", "m", "n", "m"], dtype=object), "released": [True, False, True, True],
        "unrounded_n": [1, 2, 3, 4], "value": pd.Series([1.5, None, float("inf"), -0.0], dtype=object),
        "reason": pd.Series([None, "primary", np.nan, None], dtype=object),
        "year": [2019.0, np.nan, 2020.0, 2021.0], "other": pd.Series([np.int64(3), None, 2.5, True], dtype=object)})
    for rounded in (False, True):
        want = json.dumps(check_records(cells, rounded=rounded), ensure_ascii=False, default=io._json_default)
        assert check_records_json(cells, rounded=rounded) == want
