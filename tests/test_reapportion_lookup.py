"""Tests of best-fit lookups and boundary-vintage changes in cni_geo.reapportion."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from cni_geo.errors import DataError
from cni_geo.reapportion import aggregate, best_fit_lookup, vintage_change

KM = 1000.0


def boxes(bounds, index, **cols):
    geoms = [shapely.box(*(np.asarray(b) * KM)) for b in bounds]
    return gpd.GeoDataFrame(cols, geometry=geoms, index=pd.Index(index), crs="EPSG:27700")


def points(xy_km, pop):
    return gpd.GeoDataFrame(
        {"pop": pop}, geometry=shapely.points(np.asarray(xy_km) * KM), crs="EPSG:27700"
    )


def test_best_fit_population_centroid_by_hand():
    # Fine unit f straddles coarse W (x < 1) and E: 70% of its area in W, but 90 of its 100
    # residents live in E, so ONS best fit puts it in E while "area" puts it in W.
    fine = boxes([(0.3, 0, 1.3, 1), (0, 0, 0.3, 1)], ["f", "g"])
    fine.index.name = "fine"
    coarse = boxes([(0, 0, 1, 1), (1, 0, 2, 1)], ["W", "E"])
    coarse.index.name = "ward"
    pts = points([(0.5, 0.5), (1.2, 0.5), (0.1, 0.5)], [10.0, 90.0, 5.0])
    lk, rep = best_fit_lookup(fine, coarse, population=pts, population_column="pop", report=True)
    # f's weighted centroid x = (0.5*10 + 1.2*90) / 100 = 1.13 km -> E.
    assert lk.to_dict() == {"f": "E", "g": "W"} and lk.name == "ward"
    assert rep.loc["f", "population_outside"] == pytest.approx(0.10)
    assert rep.loc["f", "area_outside"] == pytest.approx(0.70)
    assert rep.loc["f", "split"] and not rep.loc["g", "split"]
    by_area = best_fit_lookup(fine, coarse, method="area")
    assert by_area.to_dict() == {"f": "W", "g": "W"}


def test_best_fit_errors_and_fallback():
    fine = boxes([(0, 0, 1, 1), (1, 0, 2, 1)], ["a", "b"])
    coarse = boxes([(0, 0, 2, 1)], ["C"])
    with pytest.raises(DataError, match="method='area'"):
        best_fit_lookup(fine, coarse)
    with pytest.raises(ValueError, match="population_centroid"):
        best_fit_lookup(fine, coarse, method="nearest")
    pts = points([(0.5, 0.5)], [10.0])  # b has no residents
    with pytest.warns(UserWarning, match="1 of 2 fine units have no residents"):
        lk = best_fit_lookup(fine, coarse, population=pts, population_column="pop")
    assert lk.tolist() == ["C", "C"]


def test_camden_oa_best_fit_matches_nesting(camden):
    oa = gpd.read_file(camden / "boundaries" / "Camden_oa11.shp").set_index("OA11CD")
    lsoa = gpd.read_file(camden / "boundaries" / "Camden_lsoa11.shp").set_index("LSOA11CD")
    ks = pd.read_csv(camden / "population" / "KS101EW_oa11.csv", encoding="utf-8-sig")
    pop = ks.set_index("GeographyCode")["KS101EW0001"].reindex(oa.index).astype("float64")
    pts = gpd.GeoDataFrame({"pop": pop}, geometry=oa.representative_point(), crs=oa.crs)
    lk, rep = best_fit_lookup(oa, lsoa, population=pts, population_column="pop", report=True)
    # Independent: the LSOA containing each OA's representative point (geopandas sjoin).
    ref = gpd.sjoin(pts, lsoa[["geometry"]], predicate="within")["LSOA11CD"]
    pd.testing.assert_series_equal(lk.loc[ref.index], ref, check_names=False)
    assert not rep["split"].any()
    ks_l = pd.read_csv(camden / "population" / "KS101EW_lsoa11.csv", encoding="utf-8-sig")
    published = ks_l.set_index("GeographyCode")["KS101EW0001"].astype("float64")
    summed = aggregate(pop, lk, how="sum")
    assert summed.sum() == 220_338
    pd.testing.assert_series_equal(summed, published.loc[summed.index], check_names=False)


def test_camden_extent_on_real_imd(camden):
    # IMD 2019 ranks of Camden's LSOAs (n = 32,844): brute-force extent with the published
    # weights (1 in the worst 10%, 0.95 at the 11th percentile ... 0.05 at the 30th).
    imd = pd.read_csv(
        next((camden / "imd").glob("File_1*.csv")), encoding="utf-8-sig", thousands=","
    ).set_index("LSOA code (2011)")
    rank = imd["Index of Multiple Deprivation (IMD) Rank"].astype("float64")
    ks = pd.read_csv(camden / "population" / "KS101EW_lsoa11.csv", encoding="utf-8-sig")
    pop = ks.set_index("GeographyCode")["KS101EW0001"].reindex(rank.index).astype("float64")
    lk = pd.Series("E09000007", index=rank.index)
    ext = aggregate(rank, lk, how="extent", weights=pop, n=32_844).iloc[0]
    expected = 0.0
    for code, r in rank.items():
        p = -(-100 * int(r) // 32_844)  # ceil
        w = 1.0 if p <= 10 else (0.95 - (p - 11) * 0.9 / 19 if p <= 30 else 0.0)
        expected += w * pop[code]
    assert ext == pytest.approx(expected / pop.sum(), rel=1e-12)
    prop = aggregate(rank, lk, how="proportion", n=32_844).iloc[0]
    decile = imd["Index of Multiple Deprivation (IMD) Decile"]
    assert prop == pytest.approx((decile == 1).mean(), rel=1e-12)  # published deciles


def test_vintage_change_synthetic_split_merge():
    # Old: a, b, c, d in a row. New: a split into a1, a2; b and c merged into bc; d unchanged.
    old = boxes([(0, 0, 1, 1), (1, 0, 2, 1), (2, 0, 3, 1), (3, 0, 4, 1)], list("abcd"))
    new = boxes(
        [(0, 0, 0.5, 1), (0.5, 0, 1, 1), (1, 0, 3, 1), (3, 0, 4, 1)], ["a1", "a2", "bc", "d"]
    )
    # Residents: a has 30 in its west half and 10 in its east; b 20, c 40, d 50.
    pts = points(
        [(0.25, 0.5), (0.75, 0.5), (1.5, 0.5), (2.5, 0.5), (3.5, 0.5)],
        [30.0, 10.0, 20.0, 40.0, 50.0],
    )
    change = vintage_change(old, new, population=pts, population_column="pop")
    assert change.old_status.to_dict() == {
        "a": "split",
        "b": "merged",
        "c": "merged",
        "d": "unchanged",
    }
    assert change.new_status.to_dict() == {
        "a1": "split",
        "a2": "split",
        "bc": "merged",
        "d": "unchanged",
    }
    link = change.links.set_index(["old", "new"])
    assert link.loc[("a", "a1"), "old_share"] == pytest.approx(0.75)
    assert link.loc[("b", "bc"), "new_share"] == pytest.approx(20 / 60)
    table = pd.DataFrame(
        {"n": [40.0, 20.0, 40.0, 50.0], "rate": [1.0, 2.0, 5.0, 3.0]}, index=list("abcd")
    )
    moved = change.apply(table, extensive=["n"], intensive=["rate"])
    assert moved.loc["a1", "n"] == pytest.approx(30.0) and moved.loc["bc", "n"] == 60.0
    assert moved.loc["bc", "rate"] == pytest.approx((2 * 20 + 5 * 40) / 60)
    assert moved["n"].sum() == pytest.approx(150.0, rel=1e-14)
    assert change.summary().loc["split", "old"] == 1


def test_vintage_change_complex_and_slivers():
    old = boxes([(0, 0, 1, 1), (1, 0, 2, 1)], ["a", "b"])
    # New boundary moved to x = 1.5 plus a 0.1% sliver: a -> n1 entirely, b -> n1 (half), n2.
    new = boxes([(0, 0, 1.5, 1), (1.5, 0, 2, 1)], ["n1", "n2"])
    change = vintage_change(old, new)  # by area
    assert change.old_status.to_dict() == {"a": "merged", "b": "complex"}
    assert change.new_status.to_dict() == {"n1": "complex", "n2": "split"}
    tiny = boxes([(0, 0, 1.0005, 1), (1.0005, 0, 2, 1)], ["m1", "m2"])
    same = vintage_change(old, tiny, tolerance=0.01)
    assert (same.old_status == "unchanged").all()
