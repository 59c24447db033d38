"""Issue #6 on hand-made rows: which cohorts fit, the pools, the release of overlapping cohorts in
order, both poverty lines, the trend table, and the audit's check between cohorts."""
import numpy as np
import pandas as pd
import pytest

from pipeline import disclosure
from pipeline.audit import between_units_findings
from pipeline.disclosure import Thresholds
from pipeline.rolling import (LINES, cohort_units, fitting_cohorts, new_line_child_status, unit_measures,
                              young_adults_line_table, young_adults_new_line)
from pipeline.trend import SECONDARY_UNITS, decide_units, derivable_equations, pool_leak
from pipeline.trend_charts import trend_table

W = dict(parents_ages=(12, 17), parents_min_valid_years=2, child_ages=(24, 27), child_min_valid_years=1)
TH = Thresholds()


def test_cohorts_fit_the_years_on_disk():
    c = fitting_cohorts(range(2011, 2024), **W)
    assert list(c["birth_year"]) == [1995, 1996, 1997, 1998, 1999]
    assert list(c["provisional"]) == [False, False, True, True, True]   # adult window open after 2023
    assert list(c["parents_years"]) == [2, 3, 4, 5, 6] and list(c["child_years"]) == [4, 4, 3, 2, 1]
    # A gap: the parents' window of 1996 has two years, its adult window none.
    c = fitting_cohorts([2011, 2012, 2019], **W)
    assert list(c["birth_year"]) == [1995]
    # With IHI years before 2011 on disk, earlier cohorts fit.
    assert fitting_cohorts(range(2003, 2024), **W)["birth_year"].min() == 1987
    assert fitting_cohorts([], **W).empty


def test_units_single_years_and_rolling_pools_in_decision_order():
    u = cohort_units(fitting_cohorts(range(2011, 2024), **W), pool_sizes=[3])
    assert list(u["cohort"]) == ["1995", "1996", "1997", "1995-1997", "1998", "1996-1998", "1999", "1997-1999"]
    assert list(u["provisional"]) == [False, False, True, True, True, True, True, True]
    assert list(u["order"]) == list(range(8))
    # Pools only over consecutive fitting years; size 1 means single years only.
    c = pd.DataFrame({"birth_year": [1995, 1996, 1998], "provisional": False})
    assert list(cohort_units(c, pool_sizes=[2])["cohort"]) == ["1995", "1996", "1995-1996", "1998"]
    assert list(cohort_units(c, pool_sizes=[1])["cohort"]) == ["1995", "1996", "1998"]


def test_pool_leak_finds_withheld_years_and_small_combinations():
    pool = np.array([1.0, 1, 1])
    x = np.array([20.0, 20, 20])
    assert not pool_leak(np.array([pool]), x, withheld=np.array([True, True, True]), threshold=10)
    # Two singles released: the pool gives the third.
    assert pool_leak(np.array([pool, [1, 0, 0], [0, 1, 0]]), x, withheld=np.array([False, False, True]),
                     threshold=10)
    # Two withheld years that together hold fewer than the threshold.
    assert pool_leak(np.array([[1.0, 1, 0]]), np.array([3.0, 4, 50]), withheld=np.array([True, True, True]),
                     threshold=10)
    # Rolling pools and one released single: P1 - P2 + x0 = x3.
    p1, p2 = [1.0, 1, 1, 0], [0.0, 1, 1, 1]
    assert pool_leak(np.array([p1, p2, [1, 0, 0, 0]]), np.full(4, 30.0), withheld=np.array([False, True, True, True]),
                     threshold=10)
    assert not pool_leak(np.array([p1, p2]), np.full(4, 30.0), withheld=np.ones(4, dtype=bool), threshold=10)


def test_derivable_equations_of_released_statistics():
    assert derivable_equations(["outflow"]) == {"BOTH", "PP", "PP_NCP"}
    assert derivable_equations(["n_children", "n_parents_poor"]) == {"ALL", "PP", "NP"}
    assert derivable_equations([]) == set()


# --------------------------------------------------------------------------- hand-made children

REGION = "Regio"
AREAS = pd.DataFrame({"level": ["gemeente", "wijk", "wijk"], "area_code": ["GM0001", "WK000101", "WK000102"],
                      "area_name": ["Een", "Een-Noord", "Een-Zuid"]})


def kids(years, per_year=100, seed=3, new_line=False):
    rng = np.random.default_rng(seed)
    rows = []
    for b in years:
        for i in range(per_year):
            pp = rng.random() < 0.4
            rows.append({"RINPERSOON": f"{b}{i:05d}", "birth_year": b, "gemeente": "GM0001",
                         "wijk": "WK000101" if i % 3 else "WK000102", "buurt": "BU00010101",
                         "parents_poor": pp, "child_poor": rng.random() < (0.5 if pp else 0.15),
                         "parent_rank": rng.random(), "child_rank": rng.random()})
    k = pd.DataFrame(rows)
    if new_line:
        k["child_poor_new"] = pd.array(np.where(np.arange(len(k)) % 7 == 0, None,
                                                k["child_poor"] | (np.arange(len(k)) % 5 == 0)), dtype="boolean")
    return k


def units_for(years, provisional_from=9999, lines=("poor",)):
    c = pd.DataFrame({"birth_year": years, "provisional": [y >= provisional_from for y in years]})
    u = cohort_units(c, pool_sizes=[2])
    u["parents_source"] = "INHATAB"
    return pd.concat([u.assign(line=LINES[ln]) for ln in lines], ignore_index=True)


def test_units_are_decided_in_order_and_earlier_ones_stand():
    k = kids([1995, 1996, 1997, 1998])
    small = units_for([1995, 1996, 1997])
    big = units_for([1995, 1996, 1997, 1998])
    m_small = unit_measures(k[k["birth_year"] <= 1997], small, region_name=REGION)
    m_big = unit_measures(k, big, region_name=REGION)
    _, r_small = decide_units(m_small, small, AREAS, region_name=REGION, th=TH)
    _, r_big = decide_units(m_big, big, AREAS, region_name=REGION, th=TH)
    for key, per in r_small.items():
        for lvl, t in per.items():
            pd.testing.assert_frame_equal(t, r_big[key][lvl])
    # Every single year and pool of the region released its headline numbers here.
    assert r_big[("1995-1996", LINES["poor"])]["region"].at[REGION, "n_children"] is None


def test_a_released_pool_withholds_the_single_years_it_would_give_away():
    k = kids([1995, 1996, 1997])
    u = units_for([1995, 1996, 1997])
    m = unit_measures(k, u, region_name=REGION)
    # The pooled table of 1995-1997 was released before (n_children and outflow of the region).
    fixed = {"region": pd.DataFrame({"n_children": [300.0], "outflow": [0.4]}, index=[REGION])}
    _, r = decide_units(m, u, AREAS, region_name=REGION, th=TH, fixed=fixed, fixed_years=(1995, 1997))
    got = {c: r[(c, LINES["poor"])]["region"] for c in ("1995", "1996", "1997", "1995-1996", "1996-1997")}
    # 1995 leaves 1996 + 1997 (two years, not yet decided) in the pool: released.
    assert got["1995"].at[REGION, "n_children"] is None and got["1995"].at[REGION, "outflow"] is None
    # 1996 would leave 1997 alone in the pool, and 1997 would give 1996 back: withheld.
    for c in ("1996", "1997"):
        assert got[c].at[REGION, "n_children"] == SECONDARY_UNITS
        assert got[c].at[REGION, "outflow"] == SECONDARY_UNITS
    # 1995-1996 minus 1995 would give 1996; 1996-1997 is the pool minus 1995: nothing new, released.
    assert got["1995-1996"].at[REGION, "n_children"] == SECONDARY_UNITS
    assert got["1996-1997"].at[REGION, "n_children"] is None
    # Without the pooled table every unit is released.
    _, r = decide_units(m, u, AREAS, region_name=REGION, th=TH)
    assert all(r[(c, LINES["poor"])]["region"].at[REGION, "n_children"] is None for c in got)


def test_new_poverty_line_when_present_and_skipped_when_absent():
    k = kids([1995, 1996], new_line=True)
    u = units_for([1995, 1996], lines=("poor", "poor_new"))
    m = unit_measures(k, u, region_name=REGION, lines=("poor", "poor_new"))
    region = m["region"].set_index(["cohort", "line"])
    old, new = region.loc[("1995", LINES["poor"])], region.loc[("1995", LINES["poor_new"])]
    sel = k[(k["birth_year"] == 1995) & k["child_poor_new"].notna()]
    assert new["n_children"] == len(sel)
    assert new["n_both_poor"] == int((sel["parents_poor"] & sel["child_poor_new"].astype(bool)).sum())
    assert old["n_children"] == 100 and np.isnan(new["abs_mobility_p25"])
    # Without the column: only the lage-inkomensgrens.
    m = unit_measures(k.drop(columns="child_poor_new"), u, region_name=REGION, lines=("poor", "poor_new"))
    assert set(m["region"]["line"]) == {LINES["poor"]}


def py(rows, *, new=None):
    t = pd.DataFrame(rows, columns=["RINPERSOON", "hh", "valid", "poor"])
    t.insert(0, "RINPERSOONS", "R")
    t["lt_poor"], t["rank"] = False, 0.5
    if new is not None:
        t["poor_new"] = pd.array(new, dtype="boolean")
    return t


def test_new_line_statuses_from_person_year_files_with_and_without_poor_new():
    children = pd.DataFrame({"RINPERSOON": ["a", "b", "c"], "birth_year": [1994, 1994, 1994]})
    years = {2017: py([("a", "h1", True, True), ("b", "h2", True, False), ("c", "h3", True, True)]),
             2018: py([("a", "h1", True, True), ("b", "h2", True, False), ("c", "h3", True, True)],
                      new=[True, True, None]),
             2019: py([("a", "h1", True, True), ("b", "h2", False, False), ("c", "h3", True, True)],
                      new=[False, True, None])}
    s = new_line_child_status(children, years, child_ages=(24, 27), child_min_valid_years=1, poor_share=0.5)
    # a: 2018 poor, 2019 not (1 of 2 >= half: poor); b: 2019 household not valid, 2018 poor; c: never known.
    assert list(s.iloc[:2]) == [True, True] and pd.isna(s.iloc[2])
    assert new_line_child_status(children, {2017: years[2017]}, child_ages=(24, 27), child_min_valid_years=1,
                                 poor_share=0.5).isna().all()
    flags = pd.DataFrame({"year": [2017, 2018, 2018, 2018], "RINPERSOON": ["a", "a", "b", "c"],
                          "gemeente": "GM0001", "wijk": "WK000101"})
    f = young_adults_new_line(flags, years)
    assert list(f["year"]) == [2018, 2018] and list(f["poor"]) == [True, True]   # c has no new-line status
    t = young_adults_line_table(f, region_name=REGION)["region"]
    assert t.loc[0, "n_young_adults"] == 2 and t.loc[0, "line"] == LINES["poor_new"]
    assert young_adults_new_line(flags, {2017: years[2017]}).empty


def test_trend_table_shows_both_lines_over_their_overlap_and_only_released_values():
    cohorts = pd.DataFrame({
        "area_code": "GM0001", "area_name": "Een", "level": "gemeente", "cohort": ["1995", "1995-1997", "1996"],
        "line": LINES["poor"], "first_birth_year": [1995, 1995, 1996], "last_birth_year": [1995, 1997, 1996],
        "pooled": [False, True, False], "provisional": [False, True, False], "parents_source": "INHATAB",
        "outflow": [0.3, 0.35, np.nan], "outflow_ci_low": [0.2, 0.3, np.nan], "outflow_ci_high": [0.4, 0.4, np.nan]})
    ya = pd.DataFrame({"year": [2010, 2011, 2017, 2018, 2019], "area_code": "GM0001", "area_name": "Een",
                       "level": "gemeente", "share_poor": [0.1, 0.12, 0.13, 0.14, np.nan],
                       "share_poor_ci_low": 0.05, "share_poor_ci_high": 0.2})
    new = pd.DataFrame({"year": [2018, 2019], "area_code": "GM0001", "area_name": "Een", "level": "gemeente",
                        "line": LINES["poor_new"], "share_poor": [0.11, 0.12], "share_poor_ci_low": 0.05,
                        "share_poor_ci_high": 0.2})
    t = trend_table(cohorts, ya, new)
    out = t[t["measure"] == "outflow"]
    assert list(out["cohort"]) == ["1995", "1995-1997"] and list(out["year"]) == [1995.0, 1996.0]
    y = t[t["series"] == "inkomensjaar"].set_index(["line", "year"])
    assert (LINES["poor"], 2018.0) in y.index and (LINES["poor_new"], 2018.0) in y.index
    assert (LINES["poor"], 2019.0) not in y.index                      # withheld: not in the table
    assert y.loc[(LINES["poor"], 2010.0), "source"] == "IHI"
    assert "IHI" in y.loc[(LINES["poor"], 2011.0), "definition_note"]
    assert "2018" in y.loc[(LINES["poor_new"], 2018.0), "definition_note"]
    assert not t.duplicated(["area_code", "series", "measure", "line", "period"]).any()
    # The new line absent (today's data): the table has the lage-inkomensgrens only.
    assert set(trend_table(cohorts, ya, new.iloc[0:0])["line"]) == {LINES["poor"]}


def test_audit_finds_a_birth_year_given_away_by_overlapping_cohorts():
    pool, e0, e1 = np.array([1.0, 1, 1]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    x = np.array([30.0, 30, 30])
    assert between_units_findings([pool, e0, e1], x, np.array([False, False, True]), need=10, where="w", file="f")
    assert not between_units_findings([pool, e0], x, np.array([False, True, True]), need=10, where="w", file="f")
    assert between_units_findings([pool, e0], np.array([30.0, 4, 4]), np.array([False, True, True]), need=10,
                                  where="w", file="f")


def test_between_years_the_newer_year_yields():
    members = pd.DataFrame({"person": list(range(30)) + list(range(33)), "area": "A",
                            "year": [2020] * 30 + [2021] * 33, "count": "n_poor"})
    released = pd.DataFrame({"area": "A", "year": [2020, 2021], "count": "n_poor", "n": [30, 33]})
    old = disclosure.isolated_by_years(members, released, threshold=10)
    assert list(old["year"]) == [2020]                      # without an order: the smaller count
    new = disclosure.isolated_by_years(members, released, threshold=10, newest=2021)
    assert list(new["year"]) == [2021] and list(new["other_year"]) == [2020]
    assert disclosure.isolated_by_years(members, released, threshold=10, newest=2019).empty


def test_new_line_tables_are_released_in_order_and_pass_the_audit(tmp_path):
    from pipeline import audit
    from pipeline.trend import export_units, export_young_adults_line

    def released(tables, name):
        out = {}
        for lvl, t in tables.items():
            t.to_csv(tmp_path / f"{name}_{lvl}.csv", index=False)
            out[lvl] = audit.read_released_csv(tmp_path / f"{name}_{lvl}.csv")
        return out

    k = kids([1995, 1996, 1997], new_line=True)
    u = units_for([1995, 1996, 1997], lines=("poor", "poor_new"))
    m = unit_measures(k, u, region_name=REGION, lines=("poor", "poor_new"))
    tables, cells = export_units(m, u, AREAS, region_name=REGION, th=TH)
    r = tables["region"]
    assert set(r["line"]) == {LINES["poor"], LINES["poor_new"]}
    assert r.loc[r["line"] == LINES["poor_new"], "outflow"].notna().any()
    assert set(cells["table"]) == {"cohorts_gemeente", "cohorts_wijk", "cohorts_region"}
    internal = audit.Internal({}, {}, region_name=REGION)
    internal.cohorts = {lvl: t.assign(_key=t["cohort"] + "|" + t["line"] + "|" + t["area_code"]).set_index("_key")
                        for lvl, t in m.items()}
    files = {lvl: lvl for lvl in tables}
    assert audit.audit_cohorts(released(tables, "cohorts"), internal, lim=audit.Limits(), files=files) == []

    # Young adults by the new line: 2019 holds the persons of 2018 and three more, so the difference of
    # the two totals isolates three persons: the later year yields, the earlier one stands.
    rows = [(2018, f"p{i:03d}", i % 4 == 0) for i in range(100)] + [(2019, f"p{i:03d}", i % 4 == 0) for i in range(103)]
    flags = pd.DataFrame(rows, columns=["year", "RINPERSOON", "poor"])
    flags["gemeente"] = "GM0001"
    flags["wijk"] = np.where(flags["RINPERSOON"].str[-1].isin(list("01234")), "WK000101", "WK000102")
    flags = flags[["year", "RINPERSOON", "gemeente", "wijk", "poor"]]
    ya = young_adults_line_table(flags, region_name=REGION)
    ya_tables, ya_cells = export_young_adults_line(ya, flags, AREAS, region_name=REGION, th=TH)
    reg = ya_tables["region"].set_index("year")
    assert reg.at[2018, "n_young_adults"] == 100 and pd.notna(reg.at[2018, "share_poor"])
    assert pd.isna(reg.at[2019, "n_young_adults"])
    assert disclosure.SECONDARY_YEARS in reg.at[2019, "suppressed"]
    # The same rows with 2019 alone decide 2018 the same way (what is published stands).
    only = export_young_adults_line({lvl: t[t["year"] == 2018] for lvl, t in ya.items()}, flags[flags["year"] == 2018],
                                    AREAS, region_name=REGION, th=TH)[0]
    for lvl in only:
        pd.testing.assert_frame_equal(only[lvl], ya_tables[lvl][ya_tables[lvl]["year"] == 2018].reset_index(drop=True))
    line = audit.Internal({}, ya, flags, region_name=REGION)
    assert audit.audit_young_adults(released(ya_tables, "young_adults_line"), line, lim=audit.Limits(),
                                    files=files) == []
    # Had the later year been published, the audit would have found the three persons.
    leaky = {lvl: t.copy() for lvl, t in ya_tables.items()}
    r = leaky["region"]
    r.loc[r["year"] == 2019, "n_young_adults"] = 103
    found = audit.audit_young_adults(released(leaky, "leaky"), line, lim=audit.Limits(), files=files)
    assert any("isolates a small group" in f.rule for f in found)


def test_the_person_year_contract_survives_parquet(tmp_path):
    """Branch ``ihi`` writes ``source`` (str) and ``poor_new`` (nullable boolean) into the person-year
    files; read back, they give the new-line status and the source of each year."""
    from pipeline import io
    from pipeline.rolling import year_sources

    t = py([("a", "h1", True, True), ("b", "h2", True, False)], new=[True, None])
    t["source"] = "INHATAB"
    io.write_parquet(t, tmp_path / "person_year_2019.parquet")
    old = py([("a", "h1", True, True)])
    old["source"] = "IHI"
    io.write_parquet(old, tmp_path / "person_year_2009.parquet")
    assert {"poor_new", "source"} <= set(io.parquet_columns(tmp_path / "person_year_2019.parquet"))
    back = io.read_parquet(tmp_path / "person_year_2019.parquet")
    assert str(back["poor_new"].dtype) == "boolean" and pd.isna(back.loc[1, "poor_new"])
    years = {2019: back, 2009: io.read_parquet(tmp_path / "person_year_2009.parquet")}
    assert year_sources(years) == {2019: "INHATAB", 2009: "IHI"}
    assert year_sources({2009: py([("a", "h1", True, True)])}) == {2009: "IHI"}   # no column: by year
    kids_ = pd.DataFrame({"RINPERSOON": ["a", "b"], "birth_year": [1994, 1994]})
    s = new_line_child_status(kids_, years, child_ages=(24, 27), child_min_valid_years=1, poor_share=0.5)
    assert bool(s.iloc[0]) is True
    assert pd.isna(s.iloc[1])


def test_trend_chart_draws_both_lines(tmp_path):
    from pipeline.trend_charts import plot_trend

    years = np.arange(2008, 2024)
    ya = pd.DataFrame({"year": years, "area_code": "GM0001", "area_name": "Een", "level": "gemeente",
                       "share_poor": 0.12 + 0.002 * (years - 2008), "share_poor_ci_low": 0.09, "share_poor_ci_high": 0.18})
    new = pd.DataFrame({"year": years[years >= 2018], "area_code": "GM0001", "area_name": "Een", "level": "gemeente",
                        "line": LINES["poor_new"], "share_poor": 0.09, "share_poor_ci_low": 0.07,
                        "share_poor_ci_high": 0.11})
    cohorts = pd.DataFrame({
        "area_code": "GM0001", "area_name": "Een", "level": "gemeente",
        "cohort": ["1993", "1994", "1995", "1993-1995", "1996", "1994-1996", "1996"],
        "line": [LINES["poor"]] * 6 + [LINES["poor_new"]], "first_birth_year": [1993, 1994, 1995, 1993, 1996, 1994, 1996],
        "last_birth_year": [1993, 1994, 1995, 1995, 1996, 1996, 1996], "pooled": [False, False, False, True, False, True,
                                                                              False],
        "provisional": [False, False, False, False, True, True, True], "parents_source": "IHI+INHATAB",
        "outflow": [0.3, 0.32, 0.35, 0.33, 0.4, 0.36, 0.3], "outflow_ci_low": 0.2, "outflow_ci_high": 0.5})
    t = trend_table(cohorts, ya, new)
    both = t[(t["series"] == "inkomensjaar") & (t["year"] >= 2018)].groupby("year")["line"].nunique()
    assert (both == 2).all() and len(both) == 6
    plot_trend(t, title="Een: trends", path=tmp_path / "trend_GM0001.png", synthetic=True)
    assert (tmp_path / "trend_GM0001.png").stat().st_size > 10_000


def test_the_new_line_shows_the_parents_side_only_where_the_old_line_does():
    from pipeline.trend import SECONDARY_LINES, export_units

    k = kids([1995, 1996, 1997], new_line=True)
    # 1996: every child has a new-line status, so both lines hold the same children.
    k.loc[k["birth_year"] == 1996, "child_poor_new"] = k.loc[k["birth_year"] == 1996, "child_poor"]
    u = units_for([1995, 1996, 1997], lines=("poor", "poor_new"))
    m = unit_measures(k, u, region_name=REGION, lines=("poor", "poor_new"))
    fixed = {"region": pd.DataFrame({"n_children": [300.0], "outflow": [0.4]}, index=[REGION])}
    tables, _ = export_units(m, u, AREAS, region_name=REGION, th=TH, fixed=fixed, fixed_years=(1995, 1997))
    r = tables["region"].set_index(["cohort", "line"])
    old, new = LINES["poor"], LINES["poor_new"]
    # The old line withholds 1996 (the pooled table would give it away): so does the new line, the
    # same children.
    assert pd.isna(r.at[("1996", old), "n_children"]) and pd.isna(r.at[("1996", new), "n_children"])
    assert SECONDARY_LINES in r.at[("1996", new), "suppressed"]
    # 1995: released on the old line; the new line's population differs by 1/7 of the children
    # (>= 10), so it may show its own count.
    assert pd.notna(r.at[("1995", old), "n_children"]) and pd.notna(r.at[("1995", new), "n_children"])
