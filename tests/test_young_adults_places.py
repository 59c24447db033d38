"""young_adults places every person once for all year ends: the result must be the per-year
address_on + place it replaced, attrition counts included."""
import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.upbringing import KEY, OPEN_END, address_on, place
from pipeline.young_adults import year_end_places


def _per_year(people, spells, areas, *, years, ages, region):
    rows, counts = [], {}
    for year in years:
        att = io.Attrition("t")
        ya = people[(year - people["birth_year"]).between(*ages)].copy()
        ya["ref_date"] = year * 10000 + 1231
        located = address_on(ya, spells)
        placed = place(located, areas, region=region, what="x", attrition=att)
        r = att.frame()
        counts[year] = {"aged": len(ya), "located": len(located), "found": int(r["n_after"].iloc[0]),
                        "coded": int(r["n_after"].iloc[1]), "inside": int(r["n_after"].iloc[2])}
        rows.append(placed.assign(year=year))
    return pd.concat(rows, ignore_index=True)[["year"] + KEY + ["gemeente", "wijk", "buurt"]], counts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_year_end_places_equal_per_year_address_on_and_place(seed):
    rng = np.random.default_rng(seed)
    n = 400
    people = pd.DataFrame({"RINPERSOONS": "R", "RINPERSOON": [f"{i:09d}" for i in rng.permutation(10**6)[:n]],
                           "birth_year": rng.integers(1980, 2000, n).astype("float64")})
    m = 1500
    who = rng.integers(0, n + 40, m)      # some spells belong to no listed person
    rins = np.where(who < n, people["RINPERSOON"].to_numpy()[np.minimum(who, n - 1)], "999999999")
    sy = rng.integers(1995, 2024, m)
    start = sy * 10000 + rng.choice([101, 601, 1230, 1231], m)
    dur = rng.integers(0, 4, m)
    end = np.where(rng.random(m) < 0.2, OPEN_END, (sy + dur) * 10000 + rng.choice([101, 1230, 1231], m))
    end = np.maximum(end, start)
    obj = rng.integers(0, 60, m)
    spells = pd.DataFrame({"RINPERSOONS": "R", "RINPERSOON": rins, "start": start.astype("int64"),
                           "end": end.astype("int64"), "SOORTOBJECTNUMMER": "B",
                           "RINOBJECTNUMMER": [f"{o:05d}" for o in obj]})
    k = np.arange(50)                    # objects 50-59 are in no VSLGWBTAB row
    gem = np.select([k % 7 == 0, k % 3 == 0], [None, "GM0002"], "GM0001").astype(object)
    gem[k % 7 == 0] = None
    areas = pd.DataFrame({"SOORTOBJECTNUMMER": "B", "RINOBJECTNUMMER": [f"{o:05d}" for o in k],
                          "gemeente": gem, "wijk": [None if o % 11 == 0 else f"WK{o:06d}" for o in k],
                          "buurt": [f"BU{o:08d}" for o in k]})
    years = [2011, 2012, 2013, 2015, 2016, 2019, 2020, 2021, 2022, 2023]   # a gap, as with missing years
    want, want_counts = _per_year(people, spells, areas, years=years, ages=(22, 26), region=["GM0001"])
    got, counts = year_end_places(people, spells, areas, years=years, ages=(22, 26), region=["GM0001"])
    assert len(want) > 100
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    assert counts == want_counts
    assert all(got[c].dtype == object for c in KEY + ["gemeente", "wijk", "buurt"])   # as on pandas 2.2
