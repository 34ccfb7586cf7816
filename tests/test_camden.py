"""The worked example: data/recipes/camden.yaml on the real Camden data, checked independently."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from cni_geo.pipeline import build

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "data" / "recipes" / "camden.yaml"


@pytest.fixture(scope="module")
def camden_build(camden, tmp_path_factory):
    import os

    old = os.environ.get("CNI_GEO_CAMDEN")
    os.environ["CNI_GEO_CAMDEN"] = str(camden)
    try:
        return build(RECIPE, out=tmp_path_factory.mktemp("camden"))
    finally:
        if old is None:
            os.environ.pop("CNI_GEO_CAMDEN")
        else:
            os.environ["CNI_GEO_CAMDEN"] = old


@pytest.fixture(scope="module")
def lsoa_pop(camden):
    t = pd.read_csv(camden / "population" / "KS101EW_lsoa11.csv", dtype={"GeographyCode": str})
    return t.set_index("GeographyCode")["KS101EW0001"].astype(float)


def test_population_matches_the_published_lsoa_totals(camden_build, lsoa_pop):
    areas = camden_build.areas
    assert len(areas) == 133
    assert areas["population"].sum() == 220_338
    # OA points summed into LSOAs equal the published LSOA table (OAs nest in LSOAs)
    np.testing.assert_array_equal(
        areas["population"].to_numpy(), lsoa_pop.reindex(areas.index).to_numpy()
    )


def test_names_come_from_the_imd_file(camden_build, camden):
    imd = pd.read_csv(camden / "imd" / "File_1_-_IMD2019_Index_of_Multiple_Deprivation_Camden.csv")
    names = imd.set_index("LSOA code (2011)")["LSOA name (2011)"]
    areas = camden_build.areas
    assert (areas["name"] == names.reindex(areas.index)).all()


def test_schools_within_1km_per_1000_by_brute_force(camden_build, camden, lsoa_pop):
    schools = pd.read_csv(camden / "schools" / "gias_schools_camden_2025-05.csv")
    pts = shapely.points(schools["easting"], schools["northing"])
    lsoa = gpd.read_file(camden / "boundaries" / "Camden_lsoa11.shp").set_index("LSOA11CD")
    areas = camden_build.areas
    for code in lsoa.index[::11]:
        n = int((shapely.distance(lsoa.geometry[code], pts) <= 1000).sum())
        assert areas.loc[code, "schools"] == pytest.approx(1000 * n / lsoa_pop[code], rel=1e-12)


def test_walking_distance_is_never_shorter_than_straight_line(camden_build, camden):
    from cni_geo.sources import read_osm_assets

    osm = read_osm_assets(camden / "osm" / "camden.osm.pbf")
    libs = osm.points[osm.points["category"] == "library"]
    assert len(libs) == 21  # as the data README counts amenity=library
    lib_xy = shapely.get_coordinates(libs.geometry.to_numpy())
    oa = gpd.read_file(camden / "boundaries" / "Camden_oa11.shp").set_index("OA11CD")
    pop = pd.read_csv(camden / "population" / "KS101EW_oa11.csv", dtype={"GeographyCode": str})
    pop = pop.set_index("GeographyCode")["KS101EW0001"].reindex(oa.index).astype(float)
    lsoa = gpd.read_file(camden / "boundaries" / "Camden_lsoa11.shp").set_index("LSOA11CD")
    pts = oa.geometry.representative_point()
    inside = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), lsoa, predicate="within")["LSOA11CD"]
    xy = shapely.get_coordinates(pts.to_numpy())
    straight = np.sqrt(((xy[:, None, :] - lib_xy[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    straight = pd.Series(straight, index=oa.index)
    w = pop * straight
    mean_straight = w.groupby(inside).sum() / pop.groupby(inside).sum()
    walk = camden_build.areas["library_walk"]
    mean_straight = mean_straight.reindex(walk.index)
    assert walk.notna().all()
    # every origin reaches a library on the walk network, and the quality column says so
    assert (camden_build.areas["library_walk_unreachable"] == 0).all()
    # each origin's network distance >= its straight-line distance, so weighted means are too
    assert (walk >= mean_straight - 1e-6).all()
    ratio = (walk / mean_straight).median()
    assert 1.0 < ratio < 2.0


def test_left_behind_uses_national_imd_deciles(camden_build, camden):
    imd = pd.read_csv(
        camden / "imd" / "File_1_-_IMD2019_Index_of_Multiple_Deprivation_Camden.csv", thousands=","
    ).set_index("LSOA code (2011)")
    published_decile = imd["Index of Multiple Deprivation (IMD) Decile"]
    areas = camden_build.areas
    expected = (areas["cni_decile"] == 1) & (published_decile.reindex(areas.index) == 1)
    assert (areas["left_behind"].astype(bool) == expected).all()
    # deciles from the national ranks with N = 32,844 reproduce the published deciles
    rank = imd["Index of Multiple Deprivation (IMD) Rank"]
    assert (np.ceil(10 * rank / 32_844) == published_decile).all()


def test_cni_is_the_sum_of_two_exp_transformed_domains(camden_build):
    areas = camden_build.areas
    n = len(areas)

    def x(rank):
        r = (n + 1 - rank) / n
        return -23 * np.log(1 - r * (1 - math.exp(-100 / 23)))

    np.testing.assert_allclose(
        areas["cni_score"], x(areas["civic_rank"]) + x(areas["connect_rank"]), rtol=1e-9
    )


def test_share_within_400m_of_a_bus_stop_by_brute_force(camden_build, camden):
    from cni_geo.sources import read_osm_assets

    osm = read_osm_assets(camden / "osm" / "camden.osm.pbf")
    stops = osm.points[osm.points["category"] == "bus_stop"]
    stop_xy = shapely.get_coordinates(stops.geometry.representative_point().to_numpy())
    oa = gpd.read_file(camden / "boundaries" / "Camden_oa11.shp").set_index("OA11CD")
    pop = pd.read_csv(camden / "population" / "KS101EW_oa11.csv", dtype={"GeographyCode": str})
    pop = pop.set_index("GeographyCode")["KS101EW0001"].reindex(oa.index).astype(float)
    lsoa = gpd.read_file(camden / "boundaries" / "Camden_lsoa11.shp").set_index("LSOA11CD")
    pts = oa.geometry.representative_point()
    inside = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), lsoa, predicate="within")["LSOA11CD"]
    xy = shapely.get_coordinates(pts.to_numpy())
    near = np.sqrt(((xy[:, None, :] - stop_xy[None, :, :]) ** 2).sum(axis=2)).min(axis=1) <= 400
    covered = pop.where(near, 0.0).groupby(inside).sum() / pop.groupby(inside).sum()
    got = camden_build.areas["bus_stop_400m"]
    np.testing.assert_allclose(got, covered.reindex(got.index), rtol=1e-12)
