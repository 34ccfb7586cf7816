"""Zonal statistics: hand values on a 1 km raster, brute-force coverage with shapely."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from shapely.geometry import box

from cni_geo.errors import CRSError, DataError
from cni_geo.indicators import zonal_stats

CRS = "EPSG:27700"
X0, Y0 = 500_000, 180_000


def write(path, arr, *, size=1000.0, nodata=-9.0, crs=CRS, x0=X0, y_top=None):
    arr = np.asarray(arr, dtype="float32")
    y_top = Y0 + arr.shape[0] * size if y_top is None else y_top
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[1],
        height=arr.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(x0, y_top, size, size),
        nodata=nodata,
    ) as ds:
        ds.write(arr, 1)
    return path


@pytest.fixture
def raster(tmp_path):
    # rows from the north: row 0 is y in [Y0+2000, Y0+3000]
    arr = [[1, 2, 3], [4, -9, 6], [7, 8, 9]]
    return write(tmp_path / "v.tif", arr)


def areas(*geoms):
    return gpd.GeoDataFrame(
        geometry=list(geoms),
        index=pd.Index([f"Z{i}" for i in range(len(geoms))], name="code"),
        crs=CRS,
    )


def test_hand_values_partial_cells_nodata_and_off_raster(raster):
    a = areas(
        box(X0, Y0, X0 + 1500, Y0 + 1000),  # cell 7 whole + half of cell 8
        box(X0 + 500, Y0 + 1000, X0 + 1500, Y0 + 2000),  # half of 4, half of nodata
        box(X0 + 1000, Y0 + 1000, X0 + 2000, Y0 + 2000),  # exactly the nodata cell
        box(X0 + 9000, Y0, X0 + 10000, Y0 + 1000),  # off the raster
        box(X0 + 2500, Y0 + 2500, X0 + 3500, Y0 + 3500),  # quarter of cell 3, rest off raster
    )
    with pytest.warns(UserWarning, match="2 of 5 areas lie off the raster or on nodata"):
        z = zonal_stats(a, raster, stats=("sum", "mean", "min", "max"))
    assert list(z.columns) == ["sum", "mean", "min", "max", "coverage"]
    assert z.loc["Z0", "sum"] == pytest.approx(7 + 0.5 * 8)
    assert z.loc["Z0", "mean"] == pytest.approx((7 + 4) / 1.5)
    assert z.loc["Z0", "coverage"] == pytest.approx(1.0)
    assert z.loc["Z1", "sum"] == pytest.approx(2.0) and z.loc["Z1", "mean"] == pytest.approx(4.0)
    assert z.loc["Z1", "coverage"] == pytest.approx(0.5)
    for code in ("Z2", "Z3"):
        assert z.loc[code, ["sum", "mean", "min", "max"]].isna().all()
        assert z.loc[code, "coverage"] == 0.0
    assert z.loc["Z4", "sum"] == pytest.approx(0.75) and z.loc["Z4", "coverage"] == pytest.approx(
        0.25
    )


def test_weighted_mean_threshold_and_categories(tmp_path, raster):
    pop = write(tmp_path / "w.tif", [[0, 0, 0], [1, 0, 0], [3, 1, 0]])
    a = areas(box(X0, Y0, X0 + 2000, Y0 + 2000), box(X0, Y0 + 2000, X0 + 3000, Y0 + 3000))
    z = zonal_stats(a, raster, stats=("mean",), weights=pop, threshold=5)
    # Z0 covers 7, 8, 4 and nodata: weighted mean (7*3 + 8*1 + 4*1) / 5
    assert z.loc["Z0", "weighted_mean"] == pytest.approx((21 + 8 + 4) / 5)
    assert z.loc["Z0", "share_above"] == pytest.approx(2 / 3)  # 7 and 8 of the 3 valid cells
    assert z.loc["Z1", "share_above"] == pytest.approx(0.0)
    assert z.loc["Z0", "coverage"] == pytest.approx(0.75)
    classes = write(tmp_path / "c.tif", [[1, 1, 2], [2, -9, 2], [3, 3, 3]])
    half = box(X0, Y0 + 500, X0 + 1000, Y0 + 1500)  # half of class 3, half of class 2
    c = zonal_stats(
        areas(half, box(X0, Y0 + 2000, X0 + 3000, Y0 + 3000)), classes, stats=(), categorical=True
    )
    assert c.loc["Z0", "frac_3"] == pytest.approx(0.5) and c.loc["Z0", "frac_2"] == pytest.approx(
        0.5
    )
    assert c.loc["Z0", "frac_1"] == 0.0
    assert c.loc["Z1", "frac_1"] == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="choose from"):
        zonal_stats(a, raster, stats=("median_ish",))
    with pytest.raises(CRSError, match="reproject"):
        zonal_stats(a.to_crs(3857), raster)


def test_matches_brute_force_cell_intersections(tmp_path):
    rng = np.random.default_rng(4)
    arr = rng.uniform(0, 10, size=(20, 30)).astype("float32")
    arr[3, 4] = -9
    path = write(tmp_path / "r.tif", arr, size=100.0)
    polys = [
        shapely.Point(X0 + rng.uniform(0, 3000), Y0 + rng.uniform(0, 2000)).buffer(
            rng.uniform(50, 600)
        )
        for _ in range(12)
    ]
    a = areas(*polys)
    z = zonal_stats(a, path, stats=("sum", "mean"))
    cells, vals = [], []
    for r in range(20):
        for c in range(30):
            if arr[r, c] == -9:
                continue
            top = Y0 + 2000 - r * 100
            cells.append(box(X0 + c * 100, top - 100, X0 + (c + 1) * 100, top))
            vals.append(float(arr[r, c]))
    for code, g in a.geometry.items():
        fr = np.array([g.intersection(cell).area / 10_000 for cell in cells])
        v = np.array(vals)
        assert z.loc[code, "sum"] == pytest.approx((fr * v).sum(), rel=1e-5)
        assert z.loc[code, "mean"] == pytest.approx((fr * v).sum() / fr.sum(), rel=1e-5)
        assert z.loc[code, "coverage"] == pytest.approx(fr.sum() * 10_000 / g.area, rel=1e-6)


def test_band_selection(tmp_path):
    path = tmp_path / "two.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=2,
        height=1,
        count=2,
        dtype="float32",
        crs=CRS,
        transform=from_origin(X0, Y0 + 1000, 1000, 1000),
        nodata=-9,
    ) as ds:
        ds.write(np.array([[1, 2]], dtype="float32"), 1)
        ds.write(np.array([[10, 20]], dtype="float32"), 2)
    a = areas(box(X0 + 500, Y0, X0 + 1500, Y0 + 1000))
    assert zonal_stats(a, path, stats="sum", band=2).loc["Z0", "sum"] == pytest.approx(15.0)
    assert zonal_stats(a, path, stats="sum").loc["Z0", "sum"] == pytest.approx(1.5)


def _brute(geom, arr, weights, threshold, size=100.0, nodata=-9.0):
    """Coverage-weighted sums by intersecting the polygon with every cell (shapely)."""
    top = Y0 + arr.shape[0] * size
    r, c = np.indices(arr.shape)
    cells = shapely.box(X0 + c * size, top - (r + 1) * size, X0 + (c + 1) * size, top - r * size)
    fr = shapely.area(shapely.intersection(geom, cells)) / size**2
    v = arr.astype("float64")
    ok = (v != nodata) & ~np.isnan(v)
    wt = np.where(weights != nodata, weights.astype("float64"), 0.0)
    fv = np.where(ok, fr, 0.0)
    v = np.where(ok, v, 0.0)
    return {
        "count": fv.sum(),
        "sum": (fv * v).sum(),
        "above": (fv * (v > threshold)).sum(),
        "w": (fv * wt).sum(),
        "wv": (fv * wt * v).sum(),
    }


_coord = st.floats(-300, 1300, allow_nan=False).map(lambda x: round(x / 25) * 25)


@st.composite
def _polygons(draw):
    """Polygons with holes, multipolygons, vertices on grid lines, parts off the raster."""
    kind = draw(st.sampled_from(["ring", "holes", "multi", "box"]))
    cx, cy = draw(_coord), draw(_coord)
    if kind == "box":
        w, h = draw(_coord), draw(_coord)
        return box(X0 + cx, Y0 + cy, X0 + cx + abs(w) + 25, Y0 + cy + abs(h) + 25)
    radius = draw(st.floats(30, 600))
    n = draw(st.integers(3, 12))
    angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi), min_size=n, max_size=n))))
    radii = radius * np.array(draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n)))
    ring = shapely.Polygon(
        np.column_stack([X0 + cx + radii * np.cos(angles), Y0 + cy + radii * np.sin(angles)])
    )
    ring = shapely.make_valid(ring)
    if kind == "holes":
        ring = ring.difference(shapely.Point(X0 + cx, Y0 + cy).buffer(radius * 0.2, 3))
    if kind == "multi":
        ring = ring.union(box(X0 + cx + 700, Y0 + cy - 50, X0 + cx + 760, Y0 + cy + 130))
    polys = [g for g in shapely.get_parts(ring) if g.geom_type == "Polygon" and g.area > 0]
    assume(polys)
    return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(geoms=st.lists(_polygons(), min_size=1, max_size=4), seed=st.integers(0, 1000))
def test_prefix_sums_equal_brute_force_on_random_polygons(tmp_path, monkeypatch, geoms, seed):
    import cni_geo.indicators._zonal as zonal

    # tiny blocks and chunks so that several raster blocks and event chunks are exercised
    monkeypatch.setattr(zonal, "_BLOCK_CELLS", 24)
    monkeypatch.setattr(zonal, "_CHUNK_EVENTS", 40)
    rng = np.random.default_rng(seed)
    arr = rng.uniform(0, 10, size=(10, 12)).astype("float32")
    arr[rng.random(arr.shape) < 0.1] = -9
    arr[rng.random(arr.shape) < 0.05] = np.nan
    wts = rng.integers(0, 5, size=arr.shape).astype("float32")
    wts[rng.random(arr.shape) < 0.1] = -9
    path = write(tmp_path / f"r{seed}.tif", arr, size=100.0)
    wpath = write(tmp_path / f"w{seed}.tif", wts, size=100.0)
    a = areas(*geoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zonal_stats(
            a,
            path,
            stats=("sum", "mean", "count", "weighted_sum", "weighted_mean"),
            weights=wpath,
            threshold=5.0,
        )
    for code, g in a.geometry.items():
        ref = _brute(g, arr, wts, threshold=5.0)
        if ref["count"] < 1e-9:
            assert z.loc[code, ["sum", "mean"]].isna().all() and z.loc[code, "coverage"] == 0
            continue
        assert z.loc[code, "count"] == pytest.approx(ref["count"], rel=1e-9, abs=1e-9)
        assert z.loc[code, "sum"] == pytest.approx(ref["sum"], rel=1e-9, abs=1e-8)
        assert z.loc[code, "mean"] == pytest.approx(ref["sum"] / ref["count"], rel=1e-8)
        assert z.loc[code, "share_above"] == pytest.approx(
            ref["above"] / ref["count"], rel=1e-8, abs=1e-9
        )
        assert z.loc[code, "weighted_sum"] == pytest.approx(ref["wv"], rel=1e-9, abs=1e-8)
        if ref["w"] > 1e-9:
            assert z.loc[code, "weighted_mean"] == pytest.approx(ref["wv"] / ref["w"], rel=1e-8)
        assert z.loc[code, "coverage"] == pytest.approx(
            min(ref["count"] * 10_000 / g.area, 1.0), rel=1e-9
        )
