"""Real data (Camden): census populations, OSM assets, DfE schools, a rasterised population.

Expected values come from independent computations in the test (numpy distance matrices,
shapely loops, geopandas overlay, exactextract called directly) or from published tables.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rasterio.features
from rasterio.transform import from_origin

from cni_geo.geography import assign_to_areas, population_points
from cni_geo.indicators import (
    area_share,
    count_within,
    nearest_distance,
    per_1000,
    share_within,
    two_step_fca,
    weighted_aggregate,
    zonal_stats,
)

BNG = "EPSG:27700"


def _read(path, code):
    gdf = gpd.read_file(path).set_crs(BNG, allow_override=True)  # ESRI .prj "OSGB 1936 TM"
    return gdf.set_index(code)


@pytest.fixture(scope="module")
def data(camden):
    oa = _read(camden / "boundaries/Camden_oa11.shp", "OA11CD")
    lsoa = _read(camden / "boundaries/Camden_lsoa11.shp", "LSOA11CD")
    pop = pd.read_csv(camden / "population/KS101EW_oa11.csv", encoding="utf-8-sig", thousands=",")
    oa["pop"] = pop.set_index("GeographyCode")["KS101EW0001"].reindex(oa.index).astype(float)
    lsoa_pop = pd.read_csv(
        camden / "population/KS101EW_lsoa11.csv", encoding="utf-8-sig", thousands=","
    )
    lsoa_pop = lsoa_pop.set_index("GeographyCode")["KS101EW0001"]
    pts = pyogrio.read_dataframe(
        camden / "osm/camden.osm.pbf", layer="points", columns=["name", "other_tags"]
    )
    tags = pts["other_tags"].fillna("")
    kind = pd.Series(pd.NA, index=pts.index, dtype="string")
    for k in ("library", "place_of_worship", "community_centre", "pub"):
        kind[tags.str.contains(f'"amenity"=>"{k}"', regex=False)] = k
    assets = pts.assign(kind=kind)[kind.notna()].to_crs(BNG)
    mp = pyogrio.read_dataframe(
        camden / "osm/camden.osm.pbf", layer="multipolygons", columns=["leisure"]
    )
    parks = mp[mp["leisure"].isin(["park", "garden"])].to_crs(BNG)
    schools = pd.read_csv(camden / "schools/gias_schools_camden_2025-05.csv")
    schools = gpd.GeoDataFrame(
        schools, geometry=gpd.points_from_xy(schools["easting"], schools["northing"]), crs=BNG
    ).set_index("urn")
    return dict(oa=oa, lsoa=lsoa, lsoa_pop=lsoa_pop, assets=assets, parks=parks, schools=schools)


def test_population_base_reproduces_published_lsoa_totals(data):
    points = population_points(data["oa"], population="pop")
    points["lsoa"] = assign_to_areas(points, data["lsoa"])
    assert points["lsoa"].notna().all()
    summed = points.groupby("lsoa")["population"].sum()
    pd.testing.assert_series_equal(
        summed.sort_index(), data["lsoa_pop"].astype(float).sort_index(), check_names=False
    )
    assert summed.sum() == 220_338


def test_distance_and_counts_equal_brute_force(data):
    points = population_points(data["oa"], population="pop")
    assets = data["assets"]
    got = nearest_distance(points, assets, by="kind")
    oxy = np.column_stack([points.geometry.x, points.geometry.y])
    for k in got.columns:
        sub = assets[assets["kind"] == k]
        axy = np.column_stack([sub.geometry.x, sub.geometry.y])
        brute = np.sqrt(((oxy[:, None, :] - axy[None, :, :]) ** 2).sum(-1)).min(axis=1)
        np.testing.assert_allclose(got[k].to_numpy(), brute, rtol=1e-12)
    lsoa = data["lsoa"]
    counts = count_within(lsoa, assets, buffer=1000, by="kind")
    for code, geom in lsoa.geometry.items():
        d = assets.geometry.distance(geom)
        for k in counts.columns:
            assert counts.loc[code, k] == int(((d <= 1000) & (assets["kind"] == k)).sum())
    rate = per_1000(counts, data["lsoa_pop"])
    code = lsoa.index[0]
    assert rate.loc[code, "pub"] == pytest.approx(
        1000 * counts.loc[code, "pub"] / data["lsoa_pop"][code]
    )


def test_parks_share_and_polygon_distance_against_geopandas(data):
    lsoa, parks = data["lsoa"], data["parks"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        share = area_share(lsoa, parks)
    union = gpd.GeoDataFrame(geometry=[parks.make_valid().union_all()], crs=BNG)
    ov = gpd.overlay(lsoa.reset_index()[["LSOA11CD", "geometry"]], union, how="intersection")
    expect = ov.set_index("LSOA11CD").area / lsoa.area.reindex(ov["LSOA11CD"]).to_numpy()
    expect = expect.groupby(level=0).sum().reindex(lsoa.index).fillna(0.0)
    np.testing.assert_allclose(share.to_numpy(), expect.to_numpy(), atol=1e-9)
    assert 0 < share.mean() < 1
    points = population_points(data["oa"], population="pop")
    d = nearest_distance(points, parks.make_valid())
    brute = np.array([parks.make_valid().distance(p).min() for p in points.geometry[:60]])
    np.testing.assert_allclose(d.to_numpy()[:60], brute, atol=1e-6)
    points["lsoa"] = assign_to_areas(points, lsoa)
    s = share_within(points, parks.make_valid(), 300, population="population", areas_of="lsoa")
    near = (d <= 300).astype(float) * points["population"]
    manual = near.groupby(points["lsoa"]).sum() / points.groupby("lsoa")["population"].sum()
    np.testing.assert_allclose(s.reindex(manual.index).to_numpy(), manual.to_numpy(), atol=1e-12)
    med = weighted_aggregate(d, points["lsoa"], weights=points["population"], how="mean")
    manual = (d * points["population"]).groupby(points["lsoa"]).sum() / points.groupby("lsoa")[
        "population"
    ].sum()
    np.testing.assert_allclose(med.reindex(manual.index).to_numpy(), manual.to_numpy(), rtol=1e-12)


def test_schools_2sfca_conserves_pupil_places(data):
    schools = data["schools"]
    schools = schools[schools["number_of_pupils"].notna()]
    points = population_points(data["oa"], population="pop")
    acc = two_step_fca(points, schools, demand="population", supply="number_of_pupils", cutoff=1500)
    oxy = np.column_stack([points.geometry.x, points.geometry.y])
    sxy = np.column_stack([schools.geometry.x, schools.geometry.y])
    within = np.sqrt(((oxy[:, None] - sxy[None]) ** 2).sum(-1)) <= 1500
    D = points["population"].to_numpy()
    S = schools["number_of_pupils"].to_numpy(dtype=float)
    demand_j = (within * D[:, None]).sum(0)
    R = np.where(demand_j > 0, S / np.where(demand_j > 0, demand_j, 1), 0)
    np.testing.assert_allclose(acc.to_numpy(), (within * R[None]).sum(1), rtol=1e-10)
    assert (D * acc).sum() == pytest.approx(S[demand_j > 0].sum(), rel=1e-10)


def test_zonal_stats_on_rasterised_population(data, tmp_path):
    import exactextract

    oa, lsoa = data["oa"], data["lsoa"]
    xmin, ymin, xmax, ymax = oa.total_bounds
    x0, y1 = np.floor(xmin / 100) * 100 - 500, np.ceil(ymax / 100) * 100 + 500
    w, h = int((xmax - x0) / 100) + 6, int((y1 - ymin) / 100) + 6
    transform = from_origin(x0, y1, 100, 100)
    density = oa["pop"] / oa.area * 10_000  # residents per 100 m cell
    arr = rasterio.features.rasterize(
        zip(oa.geometry, density, strict=True),
        out_shape=(h, w),
        transform=transform,
        fill=-1,
        dtype="float32",
    )
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype="float32",
        crs=BNG,
        transform=transform,
        nodata=-1,
    ) as ds:
        ds.write(arr, 1)
    z = zonal_stats(lsoa, path, stats=("sum", "mean"))
    # independent: exactextract called directly on the GeoDataFrame (its default path)
    ref = exactextract.exact_extract(
        str(path),
        lsoa.reset_index(),
        ["sum", "mean", "count"],
        include_cols=["LSOA11CD"],
        output="pandas",
    ).set_index("LSOA11CD")
    # exactextract keeps coverage fractions in float32 (relative rounding ~6e-8 per cell);
    # ours are float64, so the two agree to ~1e-7 (exactness is checked against shapely in
    # tests/test_indicators_zonal.py)
    np.testing.assert_allclose(
        z["sum"].to_numpy(), ref["sum"].reindex(lsoa.index).to_numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        z["mean"].to_numpy(), ref["mean"].reindex(lsoa.index).to_numpy(), rtol=1e-6
    )
    # coverage = covered valid cells x cell area / area (cells at the borough edge are nodata)
    expect_cov = ref["count"].reindex(lsoa.index).to_numpy() * 10_000 / lsoa.area.to_numpy()
    np.testing.assert_allclose(z["coverage"].to_numpy(), np.minimum(expect_cov, 1), rtol=1e-6)
    assert (z["coverage"] < 0.999).any() and (z["coverage"] > 0.5).all()
    # the rasterised total is close to the census total (an independent, published figure)
    assert z["sum"].sum() == pytest.approx(220_338, rel=0.03)
    # rasterio masks (cell-centre rule): per LSOA they differ by up to ~20% on small LSOAs, but
    # the LSOAs tile the borough, so the masked totals agree with the exact totals to ~1% (edge cells)
    approx = sum(
        arr[rasterio.features.geometry_mask([g], (h, w), transform, invert=True) & (arr >= 0)].sum()
        for g in lsoa.geometry
    )
    assert z["sum"].sum() == pytest.approx(approx, rel=0.02)
