"""Tests of cni_geo.reapportion: hand grids, properties, errors, and real Camden data."""

from __future__ import annotations

import warnings
from itertools import pairwise

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from cni_geo.errors import ColumnError, CRSError, DataError
from cni_geo.reapportion import (
    aggregate,
    area_weighted,
    extent_weight,
    overlap_table,
    population_table,
    population_weighted,
)

KM = 1000.0


def squares(cells, index=None, **cols):
    """GeoDataFrame of 1 km squares whose lower-left corners are given in km."""
    geoms = [shapely.box(x * KM, y * KM, (x + 1) * KM, (y + 1) * KM) for x, y in cells]
    return gpd.GeoDataFrame(cols, geometry=geoms, index=index, crs="EPSG:27700")


def boxes(bounds, index=None, **cols):
    geoms = [shapely.box(*(np.asarray(b) * KM)) for b in bounds]
    return gpd.GeoDataFrame(cols, geometry=geoms, index=index, crs="EPSG:27700")


# --- hand grids -----------------------------------------------------------------------------


def test_hand_grid_area_weighted():
    # Two 1 km squares side by side; targets: one straddling both halves, one half outside.
    src = squares([(0, 0), (1, 0)], index=["a", "b"], pop=[100.0, 200.0], rate=[1.0, 3.0])
    tgt = boxes([(0.5, 0, 1.5, 1), (1.5, 0, 2.5, 1)], index=["x", "y"])
    out = area_weighted(src, tgt, extensive=["pop"], intensive=["rate"])
    # x gets half of a (50) and half of b (100); y gets the other half of b (100).
    assert out.loc["x", "pop"] == pytest.approx(150.0, rel=1e-12)
    assert out.loc["y", "pop"] == pytest.approx(100.0, rel=1e-12)
    # x: equal halves of rate 1 and 3 -> 2; y: only b's rate over its covered half.
    assert out.loc["x", "rate"] == pytest.approx(2.0, rel=1e-12)
    assert out.loc["y", "rate"] == pytest.approx(3.0, rel=1e-12)
    assert out.loc["x", "coverage"] == pytest.approx(1.0)
    assert out.loc["y", "coverage"] == pytest.approx(0.5)
    assert out.crs == tgt.crs and list(out.index) == ["x", "y"]
    assert out.geometry.equals(tgt.geometry)


def test_allocate_total_matches_tobler_semantics():
    src = squares([(0, 0)], index=["a"], pop=[100.0])
    tgt = boxes([(0.5, 0, 1.5, 1)], index=["x"])  # covers half of a
    assert area_weighted(src, tgt, extensive=["pop"]).loc["x", "pop"] == pytest.approx(50.0)
    out = area_weighted(src, tgt, extensive=["pop"], allocate_total=True)
    assert out.loc["x", "pop"] == pytest.approx(100.0)


def test_target_with_no_overlap_is_nan_not_zero():
    src = squares([(0, 0)], index=["a"], pop=[100.0], rate=[2.0])
    tgt = boxes([(0, 0, 1, 1), (5, 5, 6, 6)], index=["x", "far"])
    with pytest.warns(UserWarning, match="1 of 2 targets overlap no source"):
        out = area_weighted(src, tgt, extensive=["pop"], intensive=["rate"])
    assert np.isnan(out.loc["far", "pop"]) and np.isnan(out.loc["far", "rate"])
    assert out.loc["far", "coverage"] == 0.0
    assert out.loc["x", "pop"] == pytest.approx(100.0)


def test_nan_rules():
    src = squares([(0, 0), (1, 0), (2, 0)], index=list("abc"), v=[10.0, np.nan, 30.0])
    tgt = boxes([(0, 0, 2, 1), (2, 0, 3, 1)], index=["x", "y"])
    prop = area_weighted(src, tgt, extensive=["v"])
    assert np.isnan(prop.loc["x", "v"]) and prop.loc["y", "v"] == pytest.approx(30.0)
    skip = area_weighted(src, tgt, extensive=["v"], intensive=[], nan="skip")
    assert skip.loc["x", "v"] == pytest.approx(10.0)
    assert skip.loc["x", "v_coverage"] == pytest.approx(0.5)
    assert skip.loc["x", "coverage"] == pytest.approx(1.0)
    skip_i = area_weighted(src.rename(columns={"v": "r"}), tgt, intensive=["r"], nan="skip")
    assert skip_i.loc["x", "r"] == pytest.approx(10.0)  # mean over the non-missing half
    with pytest.raises(ValueError, match="propagate, skip"):
        area_weighted(src, tgt, extensive=["v"], nan="zero")


def test_nan_sliver_below_tolerance_does_not_blank_target(caplog):
    # Target x is 1 km2; the NaN source b reaches into it by a 1e-7 m wide strip (1e-4 m2,
    # 1e-10 of x's area). y lies wholly in b.
    eps = 1e-7
    src = gpd.GeoDataFrame(
        {"n": [10.0, np.nan], "r": [0.4, np.nan]},
        geometry=[shapely.box(0, 0, KM - eps, KM), shapely.box(KM - eps, 0, 2 * KM, KM)],
        index=["a", "b"],
        crs="EPSG:27700",
    )
    tgt = boxes([(0, 0, 1, 1), (1, 0, 2, 1)], index=["x", "y"])
    with caplog.at_level("INFO", logger="cni_geo.reapportion._interpolate"):
        out = area_weighted(src, tgt, extensive=["n"], intensive=["r"])
    # x: all of a (10 residents) and a's rate; y: NaN.
    assert out.loc["x", "n"] == pytest.approx(10.0, rel=1e-12)
    assert out.loc["x", "r"] == pytest.approx(0.4, rel=1e-12)
    assert np.isnan(out.loc["y", "n"]) and np.isnan(out.loc["y", "r"])
    assert "2 target values kept" in caplog.text
    strict = area_weighted(src, tgt, extensive=["n"], intensive=["r"], nan_tolerance=0)
    assert strict[["n", "r"]].isna().all().all()
    # A strip 1e4 times wider (1e-6 of x) is above the tolerance and blanks x again.
    wide = src.set_geometry(
        [shapely.box(0, 0, KM - 1e-3, KM), shapely.box(KM - 1e-3, 0, 2 * KM, KM)], crs=src.crs
    )
    assert area_weighted(wide, tgt, extensive=["n"])["n"].isna().all()
    # A target reached only by the NaN sliver has nothing behind it: NaN, not 0.
    only = area_weighted(src.loc[["b"]], tgt.loc[["x"]], extensive=["n"], intensive=["r"])
    assert only[["n", "r"]].isna().all().all()
    with pytest.raises(ValueError, match="nan_tolerance"):
        area_weighted(src, tgt, extensive=["n"], nan_tolerance=1.5)


def test_categorical_shares():
    src = squares([(0, 0), (1, 0)], index=["a", "b"], land=["urban", "rural"])
    tgt = boxes([(0.25, 0, 1.25, 1)], index=["x"])
    out = area_weighted(src, tgt, categorical=["land"])
    assert out.loc["x", "land_urban"] == pytest.approx(0.75)
    assert out.loc["x", "land_rural"] == pytest.approx(0.25)


def test_table_reuse_and_float64():
    src = squares([(0, 0), (1, 0)], index=["a", "b"], pop=[100.0, 200.0])
    tgt = boxes([(0.5, 0, 1.5, 1)], index=["x"])
    table = overlap_table(src, tgt)
    assert table.matrix.dtype == np.float64
    assert table.matrix.toarray() == pytest.approx(np.array([[0.5e6], [0.5e6]]))
    # Reordered source rows are matched by code, not position.
    out = area_weighted(src.iloc[::-1], tgt, extensive=["pop"], table=table)
    assert out.loc["x", "pop"] == pytest.approx(150.0)
    frame = table.to_frame()
    assert set(frame["source"]) == {"a", "b"} and frame["source_share"].tolist() == [0.5, 0.5]


# --- population weighting by hand -------------------------------------------------------------


def test_population_points_by_hand():
    src = squares([(0, 0), (1, 0)], index=["a", "b"], jobs=[90.0, 40.0], rate=[1.0, 4.0])
    tgt = boxes([(0, 0, 0.5, 1), (0.5, 0, 2, 1)], index=["w", "e"])
    # a: 10 residents in its west half, 20 in its east; b: 40 residents, all in e.
    pts = gpd.GeoDataFrame(
        {"pop": [10.0, 20.0, 40.0]},
        geometry=shapely.points([(250, 500), (750, 500), (1500, 500)]),
        crs="EPSG:27700",
    )
    out = population_weighted(
        src, tgt, population=pts, population_column="pop", extensive=["jobs"], intensive=["rate"]
    )
    assert out.loc["w", "jobs"] == pytest.approx(90 * 10 / 30)
    assert out.loc["e", "jobs"] == pytest.approx(90 * 20 / 30 + 40)
    assert out["jobs"].sum() == pytest.approx(130.0, rel=1e-14)
    assert out.loc["e", "rate"] == pytest.approx((1 * 20 + 4 * 40) / 60)
    assert out.loc["w", "coverage"] == 1.0


def test_population_point_on_shared_boundary_is_split():
    src = squares([(0, 0), (1, 0)], index=["a", "b"], n=[1.0, 1.0])
    tgt = boxes([(0, 0, 2, 1)], index=["t"])
    pts = gpd.GeoDataFrame({"pop": [10.0]}, geometry=shapely.points([(1000, 500)]), crs=27700)
    table = population_table(src, tgt, population=pts, population_column="pop")
    assert table.matrix.toarray().ravel() == pytest.approx([5.0, 5.0])


def test_population_coverage_when_residents_outside_sources():
    src = squares([(0, 0)], index=["a"], n=[60.0])
    tgt = boxes([(0, 0, 2, 1)], index=["t"])
    pts = gpd.GeoDataFrame(
        {"pop": [30.0, 10.0]}, geometry=shapely.points([(500, 500), (1500, 500)]), crs=27700
    )
    out = population_weighted(src, tgt, population=pts, population_column="pop", extensive="n")
    assert out.loc["t", "coverage"] == pytest.approx(0.75)
    assert out.loc["t", "n"] == pytest.approx(60.0)


def test_population_fine_units_by_hand():
    # Fine units: the four 500 m quarters of square a and b as one unit.
    q = [(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5), (0, 0.5, 0.5, 1), (0.5, 0.5, 1, 1), (1, 0, 2, 1)]
    fine = boxes(q, index=list("pqrsb"), residents=[100.0, 0.0, 100.0, 200.0, 50.0])
    src = squares([(0, 0), (1, 0)], index=["A", "B"], v=[40.0, 10.0])
    # Target west: x < 0.25 km (half of quarters p and r) ; east: the rest.
    tgt = boxes([(0, 0, 0.25, 1), (0.25, 0, 2, 1)], index=["w", "e"])
    out = population_weighted(
        src, tgt, population=fine, population_column="residents", extensive=["v"]
    )
    a_in_w = 50.0 + 50.0  # half of p and half of r
    assert out.loc["w", "v"] == pytest.approx(40.0 * a_in_w / 400.0)
    assert out.loc["e", "v"] == pytest.approx(40.0 * 300.0 / 400.0 + 10.0)


def test_population_raster_by_hand(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    # 2 x 1 km area of 100 m cells; each cell in x < 1 km holds 1 resident, the rest 3.
    data = np.ones((10, 20), dtype="float32")
    data[:, 10:] = 3.0
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=10,
        width=20,
        count=1,
        dtype="float32",
        crs="EPSG:27700",
        transform=from_origin(0, 1000, 100, 100),
    ) as ds:
        ds.write(data, 1)
    src = squares([(0, 0), (1, 0)], index=["a", "b"], v=[100.0, 300.0])
    tgt = boxes([(0, 0, 0.55, 1), (0.55, 0, 2, 1)], index=["w", "e"])
    out = population_weighted(src, tgt, population=path, extensive=["v"])
    # w holds 5.5 columns x 10 rows of 1-resident cells = 55 of a's 100 residents.
    assert out.loc["w", "v"] == pytest.approx(100.0 * 55 / 100, rel=1e-9)
    assert out.loc["e", "v"] == pytest.approx(100.0 * 45 / 100 + 300.0, rel=1e-9)
    assert out["coverage"].tolist() == pytest.approx([1.0, 1.0])


def _brute_raster_sums(geoms, data, x0, y_top, res):
    """Per-cell GEOS intersection areas: the definition of an exact coverage-weighted sum."""
    out = []
    h, w = data.shape
    rows, cols = np.mgrid[0:h, 0:w]
    cells = shapely.box(
        x0 + cols * res, y_top - (rows + 1) * res, x0 + (cols + 1) * res, y_top - rows * res
    ).ravel()
    vals = np.nan_to_num(data.astype("float64"), nan=0.0).ravel()
    for g in geoms:
        frac = shapely.area(shapely.intersection(cells, g)) / res**2
        out.append(float((frac * vals).sum()))
    return np.array(out)


@st.composite
def raster_polygons(draw):
    """Random polygons (some with holes, some multi, some past the raster edge) over a grid."""
    coord = st.floats(-150.0, 950.0, allow_nan=False)
    geoms = []
    for _ in range(draw(st.integers(1, 4))):
        pts = draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=12))
        hull = shapely.convex_hull(shapely.multipoints(pts))
        if hull.area < 1.0:
            continue
        kind = draw(st.sampled_from(["plain", "hole", "multi"]))
        if kind == "hole":
            c = hull.centroid
            hull = hull.difference(shapely.box(c.x - 20, c.y - 20, c.x + 20, c.y + 20))
        elif kind == "multi":
            hull = shapely.union(hull, shapely.box(900, 900, 990, 990))
        geoms.append(hull)
    return np.array(geoms or [shapely.box(10, 10, 420, 333)], dtype=object)


@given(raster_polygons(), st.integers(0, 2**32 - 1))
def test_property_raster_sums_equal_per_cell_overlay(geoms, seed):
    from cni_geo.reapportion._rastersum import raster_sums

    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 50, (8, 9))
    data[rng.random(data.shape) < 0.1] = np.nan
    # 100 m cells, x from 0 to 900, y from 0 to 800 (the polygons reach past every edge)
    ours = raster_sums(geoms, data, (0.0, 0.0, 900.0, 800.0))
    ref = _brute_raster_sums(geoms, data, 0.0, 800.0, 100.0)
    assert np.allclose(ours, ref, rtol=1e-10, atol=1e-9)


def test_raster_sums_agree_with_exactextract():
    exactextract = pytest.importorskip("exactextract")
    from exactextract.raster import NumPyRasterSource

    from cni_geo.reapportion._rastersum import raster_sums

    rng = np.random.default_rng(5)
    data = rng.uniform(0, 20, (40, 50))
    pts = rng.uniform(-300, 5300, (60, 2))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts)))
    geoms = shapely.intersection(cells, shapely.box(-200, -200, 5200, 4200))
    geoms = shapely.segmentize(geoms[shapely.area(geoms) > 0], 30.0)
    gdf = gpd.GeoDataFrame(geometry=geoms, crs="EPSG:27700")
    rs = NumPyRasterSource(data, 0.0, 0.0, 5000.0, 4000.0, srs_wkt=gdf.crs.to_wkt())
    ref = exactextract.exact_extract(rs, gdf, "sum", output="pandas")["sum"].to_numpy()
    ours = raster_sums(geoms, data, (0.0, 0.0, 5000.0, 4000.0))
    # exactextract's own coverage fractions agree with exact overlay to ~1e-8.
    assert np.allclose(ours, ref, rtol=1e-7, atol=1e-6)


def test_population_raster_totals_from_pieces_and_partial_cover(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    rng = np.random.default_rng(11)
    data = rng.uniform(0, 9, (30, 30)).astype("float32")
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=30,
        width=30,
        count=1,
        dtype="float32",
        crs="EPSG:27700",
        transform=from_origin(0, 3000, 100, 100),
    ) as ds:
        ds.write(data, 1)
    # sources tile 0-3 km; targets tile 0.5-3.5 km in x, so some sources and targets are
    # only partly covered by the other layer.
    src = boxes([(0, 0, 1.23, 3), (1.23, 0, 2.01, 1.7), (1.23, 1.7, 2.01, 3), (2.01, 0, 3, 3)])
    src.index = ["a", "b", "c", "d"]
    src["v"] = [10.0, 20.0, 30.0, 40.0]
    tgt = boxes([(0.5, 0, 1.77, 2.2), (0.5, 2.2, 1.77, 3), (1.77, 0, 3.5, 3)])
    tgt.index = ["x", "y", "z"]
    table = population_table(src, tgt, population=path)
    d = data.astype("float64")
    s_tot = _brute_raster_sums(src.geometry.array, d, 0, 3000, 100)
    t_tot = _brute_raster_sums(tgt.geometry.array, d, 0, 3000, 100)
    pieces = shapely.intersection(
        np.repeat(src.geometry.array, len(tgt)), np.tile(tgt.geometry.array, len(src))
    )
    p = _brute_raster_sums(pieces, d, 0, 3000, 100).reshape(len(src), len(tgt))
    assert np.allclose(table.source_total, s_tot, rtol=1e-10)
    assert np.allclose(table.target_total, t_tot, rtol=1e-10)
    assert np.allclose(table.matrix.toarray(), p, rtol=1e-10, atol=1e-9)
    assert table.coverage().to_numpy() == pytest.approx(p.sum(axis=0) / t_tot, rel=1e-10)


# --- properties --------------------------------------------------------------------------------


def _cuts(draw, n):
    inner = draw(st.lists(st.integers(1, 39), min_size=n - 1, max_size=n - 1, unique=True))
    return [0.0] + sorted(x / 10 for x in inner) + [4.0]


@st.composite
def tilings(draw):
    """Two different rectangular tilings of the same 4 x 4 km square, with values."""

    def tiling(prefix):
        xs, ys = _cuts(draw, draw(st.integers(1, 4))), _cuts(draw, draw(st.integers(1, 4)))
        b = [(x0, y0, x1, y1) for x0, x1 in pairwise(xs) for y0, y1 in pairwise(ys)]
        return boxes(b, index=[f"{prefix}{i}" for i in range(len(b))])

    src, tgt = tiling("s"), tiling("t")
    n = len(src)
    vals = draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=n, max_size=n))
    src["count"] = vals
    src["const"] = 7.25
    return src, tgt


@given(tilings())
def test_property_totals_conserved_and_constant_stays(pair):
    src, tgt = pair
    out = area_weighted(src, tgt, extensive=["count"], intensive=["const"])
    assert out["count"].sum() == pytest.approx(src["count"].sum(), rel=1e-9, abs=1e-6)
    assert np.allclose(out["const"], 7.25, rtol=1e-12)
    assert np.allclose(out["coverage"], 1.0, rtol=1e-9)


@given(tilings())
def test_property_identity(pair):
    src, _ = pair
    out = area_weighted(src, src, extensive=["count"], intensive=["const"])
    assert np.allclose(out["count"], src["count"], rtol=1e-9, atol=1e-6)


@given(tilings(), st.randoms())
def test_property_row_order_independent(pair, rnd):
    src, tgt = pair
    ref = area_weighted(src, tgt, extensive=["count"])
    s_perm = src.iloc[rnd.sample(range(len(src)), len(src))]
    t_perm = tgt.iloc[rnd.sample(range(len(tgt)), len(tgt))]
    out = area_weighted(s_perm, t_perm, extensive=["count"])
    pd.testing.assert_series_equal(out["count"].loc[ref.index], ref["count"], rtol=1e-12)


@given(tilings(), st.integers(0, 100))
def test_property_nan_propagates_and_partial_coverage(pair, k):
    src, tgt = pair
    drop = k % len(src)
    bad = src.copy()
    bad.iloc[drop, bad.columns.get_loc("count")] = np.nan
    out = area_weighted(bad, tgt, extensive=["count"])
    table = overlap_table(src, tgt).matrix.toarray()
    touched = table[drop] > 0
    assert out["count"].isna().to_numpy().tolist() == touched.tolist()
    # Removing a source leaves the targets it touched less than fully covered.
    if len(src) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            part = area_weighted(src.drop(src.index[drop]), tgt, extensive=["count"])
        assert (part["coverage"].to_numpy()[touched] < 1 - 1e-12).all()
        assert np.allclose(part["coverage"].to_numpy()[~touched], 1.0)


@given(tilings())
def test_property_equals_tobler(pair):
    tobler = pytest.importorskip("tobler")
    src, tgt = pair
    ours = area_weighted(src, tgt, extensive=["count"], intensive=["const"])
    ref = tobler.area_weighted.area_interpolate(
        src, tgt, extensive_variables=["count"], intensive_variables=["const"]
    )
    assert np.allclose(ours["count"], ref["count"], rtol=1e-6, atol=1e-3)
    assert np.allclose(ours["const"], ref["const"], rtol=1e-6)


# --- bad input ---------------------------------------------------------------------------------


def test_errors():
    src = squares([(0, 0)], index=["a"], pop=[1.0], name=["x"])
    tgt = boxes([(0, 0, 1, 1)], index=["t"])
    with pytest.raises(CRSError, match=r"to_crs"):
        area_weighted(src, tgt.set_crs(3857, allow_override=True), extensive=["pop"])
    with pytest.raises(CRSError, match="geographic"):
        area_weighted(src.to_crs(4326), tgt.to_crs(4326), extensive=["pop"])
    with pytest.raises(ColumnError, match="'name'"):
        area_weighted(src, tgt, extensive=["name"])
    with pytest.raises(ColumnError, match="no column 'nope'"):
        area_weighted(src, tgt, intensive=["nope"])
    dup = pd.concat([src, src])
    with pytest.raises(DataError, match="duplicated codes"):
        area_weighted(dup, tgt, extensive=["pop"])
    far = boxes([(9, 9, 10, 10)], index=["f"])
    with pytest.warns(UserWarning, match="no source area overlaps any target"):
        out = area_weighted(src, far, extensive=["pop"])
    assert out["pop"].isna().all()


def test_invalid_geometry_repaired_with_count():
    bowtie = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])
    src = gpd.GeoDataFrame({"pop": [100.0]}, geometry=[bowtie], index=["a"], crs=27700)
    tgt = boxes([(0, 0, 0.5, 1), (0.5, 0, 1, 1)], index=["w", "e"])
    with pytest.warns(UserWarning, match="1 of 1 geometries in `source` were invalid"):
        out = area_weighted(src, tgt, extensive=["pop"])
    # The bow tie's two triangles are mirror images across x = 500: 50 each.
    assert out["pop"].tolist() == pytest.approx([50.0, 50.0])
    assert not src.geometry.iloc[0].is_valid  # input untouched


# --- aggregate ---------------------------------------------------------------------------------


def test_aggregate_by_hand():
    lk = pd.Series(["P", "P", "Q", "Q"], index=list("abcd"), name="coarse")
    v = pd.Series([1.0, 2.0, 3.0, np.nan], index=list("abcd"), name="x")
    w = pd.Series([1.0, 3.0, 1.0, 1.0], index=list("abcd"))
    s = aggregate(v, lk)
    assert s.loc["P"] == 3.0 and np.isnan(s.loc["Q"])
    assert aggregate(v, lk, nan="skip").loc["Q"] == 3.0
    wm = aggregate(v, lk, how="weighted_mean", weights=w)
    assert wm.loc["P"] == pytest.approx((1 * 1 + 2 * 3) / 4)
    with pytest.raises(ValueError, match="sum, mean, weighted_mean, extent, proportion"):
        aggregate(v, lk, how="median")
    with pytest.raises(DataError, match="needs `weights`"):
        aggregate(v, lk, how="weighted_mean")


def test_extent_and_proportion_by_hand():
    n = 1000
    # Percentiles: rank 50 -> 5th (weight 1), 110 -> 11th (0.95), 300 -> 30th (0.05),
    # 301 -> 31st (0), 200 -> 20th (0.95 - 9 * 0.9 / 19).
    ranks = pd.Series([50, 110, 300, 301, 200], index=list("abcde"), dtype="float64")
    assert extent_weight(ranks, n) == pytest.approx([1, 0.95, 0.05, 0, 0.95 - 9 * 0.9 / 19])
    pop = pd.Series([100.0, 200.0, 300.0, 400.0, 0.0], index=list("abcde"))
    lk = pd.Series(["X"] * 4 + ["Y"], index=list("abcde"))
    ext = aggregate(ranks, lk, how="extent", weights=pop, n=n)
    assert ext.loc["X"] == pytest.approx((100 * 1 + 200 * 0.95 + 300 * 0.05) / 1000)
    assert np.isnan(ext.loc["Y"])  # no residents: no share
    prop = aggregate(ranks, lk, how="proportion", n=n)
    assert prop.loc["X"] == pytest.approx(1 / 4) and prop.loc["Y"] == 0.0


# --- real data: Camden -------------------------------------------------------------------------


def _ks101(camden, level):
    t = pd.read_csv(camden / "population" / f"KS101EW_{level}.csv", encoding="utf-8-sig")
    return t.set_index("GeographyCode")["KS101EW0001"].astype("float64")


def _read(camden, level, code):
    g = gpd.read_file(camden / "boundaries" / f"Camden_{level}.shp").set_index(code)
    return g.set_crs(27700, allow_override=True)


@pytest.fixture(scope="module")
def camden_units(camden):
    oa = _read(camden, "oa11", "OA11CD")
    oa["pop"] = _ks101(camden, "oa11").reindex(oa.index)
    lsoa = _read(camden, "lsoa11", "LSOA11CD")
    lsoa["pop"] = _ks101(camden, "lsoa11").reindex(lsoa.index)
    msoa = _read(camden, "msoa11", "MSOA11CD")
    msoa["pop"] = _ks101(camden, "msoa11").reindex(msoa.index)
    wards = gpd.read_file(camden / "boundaries" / "camden_wards_wd19.geojsonl")
    wards = wards.set_index("wd19cd").to_crs(27700)  # explicit reprojection for the test
    return oa, lsoa, msoa, wards


def test_camden_nested_levels_conserve_residents(camden_units):
    oa, lsoa, msoa, _ = camden_units
    assert oa["pop"].sum() == lsoa["pop"].sum() == msoa["pop"].sum() == 220_338
    to_lsoa = area_weighted(oa, lsoa, extensive=["pop"])
    # The LSOA and MSOA boundary files differ by micro-slivers (up to 5e-6 of an LSOA's area
    # lies outside its MSOA), so the default (divide by the whole source area) loses a little;
    # allocate_total=True spreads each source over its covered part: conserved to float64.
    to_msoa = area_weighted(to_lsoa, msoa, extensive=["pop"])
    assert to_msoa["pop"].sum() == pytest.approx(220_338, rel=1e-6)
    assert to_msoa["pop"].sum() <= 220_338
    exact = area_weighted(to_lsoa, msoa, extensive=["pop"], allocate_total=True)
    assert exact["pop"].sum() == pytest.approx(220_338, rel=1e-12)
    assert to_lsoa["pop"].sum() == pytest.approx(220_338, rel=1e-12)
    # Nested exactly: each LSOA's published count is the sum of its OAs.
    assert np.allclose(to_lsoa["pop"], lsoa["pop"], rtol=1e-6)
    assert np.allclose(to_msoa["pop"], msoa["pop"], rtol=1e-5)  # slivers, see above
    # The same through a lookup and aggregate(sum), the lookup from geopandas' own sjoin.
    pts = oa[["pop"]].set_geometry(oa.representative_point())
    joined = gpd.sjoin(pts, lsoa[["geometry"]], predicate="within")
    agg = aggregate(oa["pop"], joined["LSOA11CD"], how="sum")
    pd.testing.assert_series_equal(agg, lsoa["pop"].loc[agg.index], check_names=False)


def test_camden_lsoa_to_wards_vs_tobler(camden_units):
    tobler = pytest.importorskip("tobler")
    _, lsoa, _, wards = camden_units
    lsoa = lsoa.assign(density=lsoa["pop"] / lsoa.area)
    out = area_weighted(lsoa, wards, extensive=["pop"], intensive=["density"])
    assert len(out) == 18 and out.crs == wards.crs
    # Non-nested: every ward is mostly but not all covered by LSOAs (slivers).
    assert (out["coverage"] > 0.9).all() and (out["coverage"] <= 1.0).all()
    assert out["coverage"].min() < 1.0
    ref = tobler.area_weighted.area_interpolate(
        lsoa, wards, extensive_variables=["pop"], intensive_variables=["density"]
    )
    ours_tot = area_weighted(lsoa, wards, extensive=["pop"], allocate_total=True)
    assert np.allclose(ours_tot["pop"], ref["pop"], rtol=1e-6)
    assert np.allclose(out["density"], ref["density"], rtol=1e-6)
    # Independent check of coverage: the covered share by geopandas overlay.
    inter = gpd.overlay(wards.reset_index(), lsoa.reset_index()[["geometry"]], how="intersection")
    covered = inter.dissolve("wd19cd").area / wards.area
    assert np.allclose(out["coverage"], covered.loc[out.index], rtol=1e-9)


def test_camden_population_weighted_lsoa_to_wards(camden_units):
    oa, lsoa, _, wards = camden_units
    # Residents from the OAs as fine polygons and as centroid points.
    by_poly = population_weighted(
        lsoa, wards, population=oa, population_column="pop", extensive=["pop"]
    )
    pts = oa[["pop"]].set_geometry(oa.representative_point())
    by_pts = population_weighted(
        lsoa, wards, population=pts, population_column="pop", extensive=["pop"]
    )
    # Brute force for the points case: each OA point's LSOA and ward by sjoin, then shares.
    j1 = gpd.sjoin(pts, lsoa[["geometry"]], predicate="intersects")
    j2 = gpd.sjoin(j1.drop(columns="index_right", errors="ignore"), wards[["geometry"]])
    j2 = j2.rename(columns={"LSOA11CD": "lsoa", "wd19cd": "ward"})
    lsoa_tot = j1.groupby("LSOA11CD")["pop"].sum()
    share = (
        j2.groupby(["lsoa", "ward"])["pop"].sum()
        / lsoa_tot.reindex(
            j2.groupby(["lsoa", "ward"])["pop"].sum().index.get_level_values(0)
        ).to_numpy()
    )
    expect = (
        (share * lsoa["pop"].reindex(share.index.get_level_values(0)).to_numpy())
        .groupby(level=1)
        .sum()
    )
    assert np.allclose(by_pts["pop"].loc[expect.index], expect, rtol=1e-9)
    # Fine polygons: residents are spread evenly over each OA, so the total passed on is the
    # OAs' residents inside the wards (LSOAs nest OAs), which geopandas overlay gives directly.
    inter = gpd.overlay(oa.reset_index(), wards.reset_index()[["geometry"]], how="intersection")
    inside = inter.dissolve("OA11CD").area / oa.area
    expected_total = float((oa["pop"] * inside.reindex(oa.index).fillna(0.0)).sum())
    assert by_poly["pop"].sum() == pytest.approx(expected_total, rel=1e-9)
    for out in (by_poly, by_pts):
        assert out["pop"].sum() <= 220_338 + 1e-6
        assert out["coverage"].between(0.9, 1.0).all()
