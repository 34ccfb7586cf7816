"""Population base: points, raster cells, weighted centroids, assignment to areas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from hypothesis import given
from hypothesis import strategies as st
from rasterio.transform import from_origin
from shapely.geometry import Point, Polygon, box

from cni_geo.errors import ColumnError, CRSError, DataError
from cni_geo.geography import (
    assign_to_areas,
    pop_weighted_centroids,
    population_points,
    raster_points,
)

CRS = "EPSG:27700"
X0, Y0 = 500_000, 180_000


def squares():
    return gpd.GeoDataFrame(
        {"pop": [100, 0, 50]},
        geometry=[
            box(X0, Y0, X0 + 1000, Y0 + 1000),
            box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000),
            # a U shape whose centroid falls outside it
            Polygon(
                [
                    (X0, Y0 + 1000),
                    (X0 + 3000, Y0 + 1000),
                    (X0 + 3000, Y0 + 3000),
                    (X0 + 2000, Y0 + 3000),
                    (X0 + 2000, Y0 + 1500),
                    (X0 + 1000, Y0 + 1500),
                    (X0 + 1000, Y0 + 3000),
                    (X0, Y0 + 3000),
                ]
            ),
        ],
        index=pd.Index(["E1", "E2", "E3"], name="oa"),
        crs=CRS,
    )


def test_population_points_inside_and_carry_population():
    units = squares()
    before = units.copy()
    p = population_points(units, population="pop")
    assert list(p.index) == ["E1", "E2", "E3"] and p["unit_code"].tolist() == ["E1", "E2", "E3"]
    assert p["population"].tolist() == [100, 0, 50]
    assert all(units.geometry.iloc[i].contains(p.geometry.iloc[i]) for i in range(3))
    c = population_points(units, population="pop", how="centroid")
    assert c.geometry.iloc[0].equals(Point(X0 + 500, Y0 + 500))
    assert not units.geometry.iloc[2].contains(c.geometry.iloc[2])  # the U's centroid is outside
    pd.testing.assert_frame_equal(units, before)
    with pytest.raises(DataError, match="negative population"):
        population_points(units.assign(pop=[1, -1, 2]), population="pop")
    with pytest.raises(ColumnError, match="no such column"):
        population_points(units, population="people")
    with pytest.warns(UserWarning, match="1 of 3 units in `units` have no population"):
        population_points(units.assign(pop=[1, np.nan, 2]), population="pop")
    with pytest.raises(CRSError):
        population_points(units.to_crs(4326), population="pop")


def test_assign_to_areas_boundary_rule_and_outside_count():
    areas = squares()
    points = gpd.GeoDataFrame(
        geometry=[
            Point(X0 + 500, Y0 + 500),  # E1
            Point(X0 + 1000, Y0 + 500),  # on the E1/E2 boundary -> E1 (smallest code)
            Point(X0 + 9000, Y0),  # outside
            Point(X0 + 1500, Y0 + 2000),  # in the notch of the U -> outside
            Point(X0 + 2500, Y0 + 2500),  # E3
        ],
        index=list("abcde"),
        crs=CRS,
    )
    with pytest.warns(UserWarning, match="2 of 5 points lie outside every area"):
        got = assign_to_areas(points, areas)
    assert got.loc["a"] == "E1" and got.loc["b"] == "E1" and got.loc["e"] == "E3"
    assert pd.isna(got.loc["c"]) and pd.isna(got.loc["d"])
    # row order of the areas does not change the boundary rule
    with pytest.warns(UserWarning):
        rev = assign_to_areas(points, areas.iloc[::-1])
    pd.testing.assert_series_equal(got, rev)
    assert got.name == "oa"


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=40))
def test_assign_matches_brute_force(cells):
    areas = squares()
    # points on a 100 m lattice, many on boundaries
    points = gpd.GeoDataFrame(
        geometry=[Point(X0 + 100 * i, Y0 + 100 * j) for i, j in cells], crs=CRS
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = assign_to_areas(points, areas)
    for k, p in enumerate(points.geometry):
        hits = sorted(code for code, g in areas.geometry.items() if g.intersects(p))
        expect = hits[0] if hits else None
        assert (pd.isna(got.iloc[k]) and expect is None) or got.iloc[k] == expect


def test_pop_weighted_centroids_hand_values():
    fine = gpd.GeoDataFrame(
        {"pop": [1, 3, 0, 0], "msoa": ["M1", "M1", "M2", "M2"]},
        geometry=[Point(X0, Y0), Point(X0 + 400, Y0), Point(X0, Y0 + 100), Point(X0, Y0 + 300)],
        crs=CRS,
    )
    with pytest.warns(UserWarning, match="1 of 2 coarse units have no residents"):
        c = pop_weighted_centroids(fine, "msoa", population="pop")
    assert c.loc["M1"].geometry.equals(Point(X0 + 300, Y0))  # (0*1 + 400*3)/4
    assert c.loc["M2"].geometry.equals(Point(X0, Y0 + 200))
    assert c.loc["M1", "population"] == 4


def test_raster_points_cell_centres(tmp_path):
    arr = np.array([[1.0, 0.0], [-9.0, 5.0]], dtype="float32")
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=2,
        height=2,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=from_origin(X0, Y0 + 200, 100, 100),
        nodata=-9,
    ) as ds:
        ds.write(arr, 1)
    p = raster_points(path)
    assert sorted(p["population"].tolist()) == [1.0, 5.0]
    xy = sorted(map(tuple, shapely.get_coordinates(p.geometry.array)))
    assert xy == [(X0 + 50, Y0 + 150), (X0 + 150, Y0 + 50)]
    assert len(raster_points(path, drop_zero=False)) == 3


def test_text_population_names_the_unit():
    units = squares().assign(pop=["1", "x", "3"])
    with pytest.raises(DataError, match=r"1 of 3 populations .* \(first: 'E2' = 'x'\)"):
        population_points(units, population="pop")
