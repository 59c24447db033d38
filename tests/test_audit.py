"""Adversarial tests of the audit: tables built to leak, each of which the audit must catch, and
clean tables it must pass. The audit re-derives everything from the internal tables; nothing here
goes through pipeline.disclosure."""
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from pipeline import audit, bundle
from pipeline.audit import Internal, Limits

LIM = Limits(min_n=10, min_events=10, min_df=10)
REGION = "Veenkoloniën"
LEVELS = ("buurt", "wijk", "gemeente", "region")


# ----------------------------------------------------------------------------- internal tables by hand

def measures_row(key, a, b, c, d, *, lt=None):
    """One internal measures row from its 2x2 cells (a both poor, b parents only, c child only, d
    neither) and, optionally, the long-term 2x2 cells (default: nobody long-term poor)."""
    code, _, group = key.partition("|")
    n = a + b + c + d
    la, lb, lc, ld = lt or (0, 0, 0, n)
    r = {"key": key, "area_code": code, "group": group or "totaal", "n_children": n,
         "n_parents_poor": a + b, "n_child_poor": a + c, "n_both_poor": a,
         "n_parents_poor_lt": la + lb, "n_child_poor_lt": la + lc, "n_both_poor_lt": la,
         "_outflow_3gen_k": 0, "_outflow_3gen_n": 0, "_abs_mobility_p25_n": n, "abs_mobility_p25": 0.4}
    for sfx, (x, y, z, w) in (("", (a, b, c, d)), ("_lt", (la, lb, lc, ld))):
        for name, k, m in (("outflow", x, x + y), ("p_child_poor_parents_not_poor", z, z + w), ("inflow", x, x + z)):
            r[f"_{name}{sfx}_k"], r[f"_{name}{sfx}_n"] = k, m
            r[f"{name}{sfx}"] = k / m if m else np.nan
            r[f"{name}{sfx}_ci_low"], r[f"{name}{sfx}_ci_high"] = r[f"{name}{sfx}"] - 0.1, r[f"{name}{sfx}"] + 0.1
    return r


def hierarchy(buurten, *, groups=None):
    """Internal measures for buurten (code -> cells) in one wijk, one gemeente and the region;
    ``groups``: extra rows "code|breakdown=label" -> cells (their totals are not recomputed)."""
    def total(rows):
        return tuple(int(sum(c[i] for c in rows)) for i in range(4))
    out = {"buurt": [measures_row(k, *v) for k, v in buurten.items()]}
    wijken = {}
    for code, cells in buurten.items():
        wijken.setdefault("WK" + code[2:8], []).append(cells)
    out["wijk"] = [measures_row(k, *total(v)) for k, v in wijken.items()]
    gem = {}
    for code, cells in wijken.items():
        gem.setdefault("GM" + code[2:6], []).extend(cells)
    out["gemeente"] = [measures_row(k, *total(v)) for k, v in gem.items()]
    out["region"] = [measures_row(REGION, *total(list(buurten.values())))]
    for key, cells in (groups or {}).items():
        lvl = {"BU": "buurt", "WK": "wijk", "GM": "gemeente"}.get(key[:2], "region")
        out[lvl].append(measures_row(key, *cells))
    return {lvl: pd.DataFrame(rows) for lvl, rows in out.items()}


def released(m, columns, *, withhold=None):
    """The exported CSV (as text) of internal table ``m``: ``columns`` released, except the cells
    in ``withhold`` (key -> columns) which are left empty."""
    withhold = withhold or {}
    t = pd.DataFrame({"area_code": m["area_code"], "area_name": m["area_code"], "level": "x", "group": m["group"]})
    for c in columns:
        v = m[c].map(lambda x: "" if pd.isna(x) else (str(int(x)) if float(x).is_integer() else repr(float(x))))
        t[c] = [("" if c in withhold.get(k, ()) else s) for k, s in zip(m["key"], v)]
    t["suppressed"] = ""
    return t


def write_tree(root, internal, columns, *, withhold=None, extra=None):
    for lvl in LEVELS:
        t = released(internal[lvl], columns, withhold=withhold)
        p = root / f"reports/tables/transmission_{lvl}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        t.to_csv(p, index=False)
    for rel, text in (extra or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)


def run_audit(root, internal, *, provenance=None, lim=LIM, **kw):
    inner = Internal(measures=internal, young_adults=kw.pop("young_adults", {}), ya_persons=kw.pop("persons", None),
                     attrition=kw.pop("attrition", None), region_name=REGION)
    return audit.audit_outputs(root, internal=inner, lim=lim, provenance=provenance or {}, **kw)


def rules(res):
    return [f.rule for f in res.findings]


BIG = {"BU00010101": (15, 15, 10, 20), "BU00010102": (12, 20, 11, 30), "BU00010103": (14, 16, 12, 25)}


# ----------------------------------------------------------------------------- clean tables pass

def test_clean_tables_pass(tmp_path):
    internal = hierarchy(BIG)
    write_tree(tmp_path, internal, ["n_children", "n_parents_poor", "outflow", "outflow_ci_low", "outflow_ci_high"])
    res = run_audit(tmp_path, internal)
    assert res.passed, [str(f) for f in res.findings]
    assert {e["path"] for e in res.files} == {f"reports/tables/transmission_{lvl}.csv" for lvl in LEVELS}


# ----------------------------------------------------------------------------- leaking constructions

def test_one_suppressed_buurt_in_a_released_wijk_is_caught(tmp_path):
    cells = dict(BIG, BU00010104=(1, 1, 1, 2))            # 5 children: withheld
    internal = hierarchy(cells)
    write_tree(tmp_path, internal, ["n_children"], withhold={"BU00010104": {"n_children"}})
    res = run_audit(tmp_path, internal)
    hit = [f for f in res.findings if f.rule == "recoverable by subtraction" and "buurt in wijk" in f.where]
    assert hit and "exactly one withheld part (BU00010104)" in hit[0].detail
    assert "WK000101" in hit[0].where and "n_children" in hit[0].where


def test_two_complementary_groups_with_one_suppressed_are_caught(tmp_path):
    groups = {"BU00010101|geslacht=man": (8, 8, 5, 10), "BU00010101|geslacht=vrouw": (7, 7, 5, 10)}
    internal = hierarchy(BIG, groups=groups)
    write_tree(tmp_path, internal, ["n_children"], withhold={"BU00010101|geslacht=vrouw": {"n_children"}})
    # 29 girls: not small, but withheld (say, to protect another area), so it may not be recoverable.
    res = run_audit(tmp_path, internal)
    hit = [f for f in res.findings if "groups 'geslacht' of buurt" in f.where]
    assert hit and "BU00010101|geslacht=vrouw" in hit[0].detail


def test_a_released_total_minus_released_parts_is_caught(tmp_path):
    # Two withheld buurten of 4 and 5 children: the wijk minus the released buurten gives 9 < 10.
    cells = dict(BIG, BU00010104=(1, 1, 1, 1), BU00010105=(1, 1, 1, 2))
    internal = hierarchy(cells)
    write_tree(tmp_path, internal, ["n_children"],
               withhold={"BU00010104": {"n_children"}, "BU00010105": {"n_children"}})
    res = run_audit(tmp_path, internal)
    hit = [f for f in res.findings if f.rule == "recoverable by subtraction" and "buurt in wijk" in f.where]
    assert hit and "2 withheld parts together hold 9 < 10" in hit[0].detail


def test_a_total_with_every_part_released_but_one_at_a_lower_level_is_caught(tmp_path):
    # The gemeente minus the released buurten (skipping the wijk level) isolates one buurt.
    cells = dict(BIG, BU00010104=(5, 5, 5, 5))
    internal = hierarchy(cells)
    write_tree(tmp_path, internal, ["n_children"], withhold={"BU00010104": {"n_children"}, "WK000101": {"n_children"}})
    res = run_audit(tmp_path, internal)
    assert any("buurt in gemeente" in f.where for f in res.findings)


def test_a_rate_next_to_its_count_giving_back_a_small_cell_is_caught(tmp_path):
    # outflow gives a = 20 and b = 30; n_child_poor = a + c then gives c = 4.
    internal = hierarchy({"BU00010101": (20, 30, 4, 100), "BU00010102": (20, 30, 40, 100)})
    write_tree(tmp_path, internal, ["n_children", "outflow", "n_child_poor"])
    res = run_audit(tmp_path, internal)
    hit = [f for f in res.findings if f.rule.startswith("cells recoverable by subtraction")]
    assert hit and "_key=BU00010101" in hit[0].where
    assert "ouders niet arm x kind arm" in hit[0].detail and "= 4" in hit[0].detail


def test_poor_minus_long_term_poor_is_caught(tmp_path):
    # 40 children with poor parents, 36 with long-term poor parents: 4 poor but not long-term.
    internal = hierarchy(BIG)
    internal["wijk"] = pd.DataFrame([measures_row("WK000101", 20, 20, 30, 80, lt=(18, 18, 0, 114))])
    write_tree(tmp_path, internal, ["n_children", "n_parents_poor", "n_parents_poor_lt"])
    res = run_audit(tmp_path, internal)
    hit = [f for f in res.findings if f.rule.startswith("cells recoverable") and "WK000101" in f.where]
    assert hit and "= 4" in hit[0].detail


def test_a_small_count_a_small_numerator_and_a_thin_regression_are_caught(tmp_path):
    cells = dict(BIG, BU00010104=(2, 2, 2, 1))
    internal = hierarchy(cells)
    internal["buurt"].loc[internal["buurt"]["key"] == "BU00010101", "_abs_mobility_p25_n"] = 11
    write_tree(tmp_path, internal, ["n_children", "n_both_poor", "abs_mobility_p25"])
    found = run_audit(tmp_path, internal).findings
    assert any(f.rule == "count < 10" and "BU00010104" in f.where for f in found)
    assert any(f.rule.startswith("count: part or rest") and "n_both_poor" in f.where for f in found)
    assert any(f.rule.startswith("regression") and "BU00010101" in f.where for f in found)


def test_a_derived_value_without_its_estimate_is_caught(tmp_path):
    internal = hierarchy(BIG)
    write_tree(tmp_path, internal, ["n_children", "outflow", "outflow_ci_low"], withhold={"BU00010101": {"outflow"}})
    found = run_audit(tmp_path, internal).findings
    assert any(f.rule == "derived value released without its estimate" and "outflow_ci_low" in f.where
               for f in found)


def test_a_nine_digit_rin_in_a_csv_is_caught(tmp_path):
    internal = hierarchy(BIG)
    write_tree(tmp_path, internal, ["n_children"],
               extra={"reports/tables/notes.csv": "area_code,remark\nBU00010101,see 000123456\n",
                      "reports/tables/keys.csv": "area_code,RINPERSOON\nBU00010101,x\n"})
    found = run_audit(tmp_path, internal, provenance={"reports/tables/notes.csv": ["reports/tables/transmission_buurt.csv"],
                                                      "reports/tables/keys.csv": ["reports/tables/transmission_buurt.csv"]}).findings
    assert any(f.file == "reports/tables/notes.csv" and f.rule.startswith("RIN-like") and f.detail == "000123456"
               for f in found)
    assert any(f.file == "reports/tables/keys.csv" and f.rule == "RIN column" for f in found)


def test_nine_digit_numbers_that_are_not_identifiers_pass():
    text = 'x,0.123456789,1.5e-05\n<div id="map_d534077175e4a1b">data:image/png;base64,AB123456789CD== 2023</div>'
    assert audit.scan_text(text, file="f") == []
    assert [f.detail for f in audit.scan_text("a R000123456 b", file="f")] == ["R000123456"]


def test_a_record_level_table_is_caught(tmp_path):
    internal = hierarchy(BIG)
    persons = "area_code,poor,child_rank\nBU00010101,1,0.2\nBU00010101,0,0.7\nBU00010102,1,0.1\n"
    write_tree(tmp_path, internal, ["n_children"], extra={"reports/tables/children.csv": persons})
    found = run_audit(tmp_path, internal,
                      provenance={"reports/tables/children.csv": ["data/processed/status/statuses.parquet"]}).findings
    mine = [f for f in found if f.file == "reports/tables/children.csv"]
    assert any(f.rule == "record-level field in a released table" for f in mine)
    assert any(f.rule == "record-level rows: key not unique" for f in mine)
    assert any(f.rule.startswith("built from a file that is neither") for f in mine)


def test_duplicated_rows_of_an_exported_table_are_caught(tmp_path):
    internal = hierarchy(BIG)
    write_tree(tmp_path, internal, ["n_children"])
    p = tmp_path / "reports/tables/transmission_buurt.csv"
    t = pd.read_csv(p, dtype=str, keep_default_na=False)
    pd.concat([t, t.iloc[[0]]]).to_csv(p, index=False)
    assert "record-level rows: key not unique" in rules(run_audit(tmp_path, internal))


def test_figures_must_come_from_audited_tables(tmp_path):
    internal = hierarchy(BIG)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    write_tree(tmp_path, internal, ["n_children"], extra={"figures/good.png": png, "figures/bad.png": png,
                                                           "figures/orphan.pdf": b"%PDF-1.4"})
    prov = {"figures/good.png": ["reports/tables/transmission_buurt.csv", "data/processed/geography/areas.parquet",
                                 "/somewhere/pipeline/maps.py"],
            "figures/bad.png": ["reports/tables/transmission_buurt.csv", "data/processed/measures/measures_buurt.parquet"]}
    res = run_audit(tmp_path, internal, provenance=prov, public=["data/processed/geography/areas.parquet"],
                    code_dirs=["/somewhere/pipeline"])
    by_file = {f.file: f.rule for f in res.findings}
    assert "figures/good.png" not in by_file
    assert by_file["figures/bad.png"].startswith("built from a file that is neither")
    assert by_file["figures/orphan.pdf"].startswith("unknown origin")
    good = next(e for e in res.files if e["path"] == "figures/good.png")
    assert {s["as"] for s in good["built_from"]} == {"audited", "public", "code"}
    assert len(good["sha256"]) == 64


def test_output_check_may_not_carry_the_n_of_a_withheld_cell(tmp_path):
    cells = dict(BIG, BU00010104=(1, 1, 1, 2))
    internal = hierarchy(cells)
    write_tree(tmp_path, internal, ["n_children"], withhold={"BU00010104": {"n_children"}})
    check = {"cells": [
        {"table": "transmission_buurt", "area_code": "BU00010101", "group": "totaal", "statistic": "n_children",
         "released": True, "unrounded_n": 60, "value": 60.0},
        {"table": "transmission_buurt", "area_code": "BU00010104", "group": "totaal", "statistic": "n_children",
         "released": False, "unrounded_n": 5, "reason": "n_children < 10"}]}
    (tmp_path / "reports/output_check.json").write_text(json.dumps(check))
    found = run_audit(tmp_path, internal).findings
    assert any(f.file == "reports/output_check.json" and f.rule == "withheld cell carries a value or n" for f in found)


def test_rounded_counts_must_be_rounded_and_rates_too(tmp_path):
    internal = hierarchy(BIG)
    write_tree(tmp_path, internal, ["n_children", "outflow"])
    found = run_audit(tmp_path, internal, lim=Limits(10, 10, 10, 5)).findings
    assert any(f.rule == "released count differs from the internal count" for f in found)
    assert any(f.rule == "rate not rounded to two decimals next to rounded counts" for f in found)


def test_attrition_counts_rounded_and_small_ones_empty(tmp_path):
    internal = hierarchy(BIG)
    write_tree(tmp_path, internal, ["n_children"],
               extra={"reports/tables/attrition.csv": "step,check,unit,n_before,n_after,n_dropped,note\n"
                                                      "cohort,born 1995-1998,persons,4420,4410,10,x\n"})
    att = pd.DataFrame([{"step": "cohort", "check": "born 1995-1998", "unit": "persons", "n_before": 4417,
                         "n_after": 4413, "n_dropped": 4}])
    found = run_audit(tmp_path, internal, attrition=att).findings
    assert any(f.file == "reports/tables/attrition.csv" and "n_dropped" in f.where for f in found)
    assert not any("n_before" in f.where for f in found)


# ----------------------------------------------------------------------------- young adults

def young_adult_tables():
    """Persons in one wijk in 2015 and 2016; in 2016 the same 14 plus 3 newcomers."""
    rows = []
    for year, people in ((2015, range(14)), (2016, range(17))):
        for i in people:
            rows.append({"year": year, "RINPERSOON": f"{i:09d}", "gemeente": "GM0001", "wijk": "WK000101",
                         "poor": i % 2 == 0, "lt_poor": False, "away": True, "father_valid": True,
                         "father_poor": False, "mother_valid": True, "mother_poor": False})
    persons = pd.DataFrame(rows)
    tables = {}
    for lvl in ("wijk", "gemeente", "region"):
        area = persons["wijk"] if lvl == "wijk" else (persons["gemeente"] if lvl == "gemeente" else REGION)
        f = persons.assign(area_code=area)
        ind = pd.DataFrame({c: fn(f).astype(int) for c, fn in audit.YA_MEMBERS.items()})
        t = ind.groupby([f["year"], f["area_code"]]).sum().reset_index()
        tables[lvl] = t
    return persons, tables


def test_the_difference_between_two_years_isolating_a_small_group_is_caught(tmp_path):
    persons, internal = young_adult_tables()
    for lvl, m in internal.items():
        t = pd.DataFrame({"year": m["year"].astype(str), "area_code": m["area_code"], "area_name": "x",
                          "level": lvl, "n_young_adults": m["n_young_adults"].astype(str), "suppressed": ""})
        p = tmp_path / f"reports/tables/young_adults_{lvl}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        t.to_csv(p, index=False)
    res = run_audit(tmp_path, {}, young_adults=internal, persons=persons)
    hit = [f for f in res.findings if f.rule == "the difference between two years isolates a small group"]
    assert hit and "years 2015 and 2016" in hit[0].where and hit[0].detail == "3 persons"


# ----------------------------------------------------------------------------- entry point and bundle

def _internal_files(root, internal):
    for lvl, m in internal.items():
        p = root / f"data/processed/measures/measures_{lvl}.parquet"
        p.parent.mkdir(parents=True, exist_ok=True)
        m.assign(level=lvl).to_parquet(p)
    persons, ya = young_adult_tables()
    d = root / "data/processed/young_adults"
    d.mkdir(parents=True, exist_ok=True)
    for lvl, t in ya.items():
        t.to_parquet(d / f"young_adults_{lvl}.parquet")
    persons.to_parquet(d / "young_adults_persons.parquet")


def _main(root, *extra):
    return audit.main(["--root", str(root), "--measures-dir", str(root / "data/processed/measures"),
                       "--young-adults-dir", str(root / "data/processed/young_adults"), "--region-name", REGION,
                       "--out-json", "reports/audit.json", "--out-md", "reports/audit.md", *extra])


def test_main_fails_naming_file_and_cell_and_writes_no_report(tmp_path, monkeypatch):
    cells = dict(BIG, BU00010104=(1, 1, 1, 2))
    internal = hierarchy(cells)
    _internal_files(tmp_path, internal)
    write_tree(tmp_path, internal, ["n_children"], withhold={"BU00010104": {"n_children"}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        _main(tmp_path)
    msg = str(exc.value)
    assert "audit failed" in msg and "transmission_buurt.csv" in msg and "BU00010104" in msg and "n_children" in msg
    assert not (tmp_path / "reports/audit.json").exists()


def test_bundle_holds_exactly_what_the_audit_passed(tmp_path, monkeypatch):
    internal = hierarchy(BIG)
    _internal_files(tmp_path, internal)
    write_tree(tmp_path, internal, ["n_children"])
    monkeypatch.chdir(tmp_path)
    assert _main(tmp_path) == 0
    report = json.loads((tmp_path / "reports/audit.json").read_text())
    assert report["passed"]
    assert bundle.main(["--root", str(tmp_path), "--audit", "reports/audit.json", "reports/audit.md",
                        "--out", "export/x.zip"]) == 0
    names = zipfile.ZipFile(tmp_path / "export/x.zip").namelist()
    assert sorted(names) == sorted([e["path"] for e in report["files"]] + ["reports/audit.json", "reports/audit.md"])
    assert not [n for n in names if not n.startswith(("reports/", "figures/"))]
    first = (tmp_path / "export/x.zip").read_bytes()
    bundle.main(["--root", str(tmp_path), "--audit", "reports/audit.json", "reports/audit.md", "--out", "export/y.zip"])
    assert (tmp_path / "export/y.zip").read_bytes() == first          # reproducible
    # A file changed after the audit is refused.
    (tmp_path / "reports/tables/transmission_buurt.csv").write_text("area_code\nBU1\n")
    with pytest.raises(ValueError, match="changed or vanished since the audit"):
        bundle.main(["--root", str(tmp_path), "--audit", "reports/audit.json", "reports/audit.md",
                     "--out", "export/z.zip"])
    assert not (tmp_path / "export/z.zip").exists()


def test_bundle_refuses_a_failed_audit_and_paths_outside_reports(tmp_path):
    (tmp_path / "reports").mkdir()
    with pytest.raises(ValueError, match="did not pass"):
        bundle.bundle_files({"passed": False, "files": []}, root=tmp_path, reports=[], audit_file="a")
    with pytest.raises(ValueError, match="outside reports/ and figures/"):
        bundle.bundle_files({"passed": True, "files": [{"path": "data/processed/x.parquet", "sha256": ""}]},
                            root=tmp_path, reports=[], audit_file="a")
