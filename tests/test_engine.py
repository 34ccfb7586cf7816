"""The engines give identical results: local single call, local chunks, and Dask on 2 workers.

The Dask tests run a ``distributed.LocalCluster`` with 2 worker *processes* (``processes=True``),
so functions, frames and trees really travel by pickle as they would to a real cluster. Every
expected value is computed independently: brute force with numpy on 1 km grids in EPSG:27700.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial import cKDTree

gpd = pytest.importorskip("geopandas")

from cni_geo.engine import ENGINES, map_chunks, split_rows  # noqa: E402
from cni_geo.errors import RecipeError  # noqa: E402

CRS = "EPSG:27700"
NX, NY = 6, 5  # a 6 km x 5 km grid of 1 km squares


# ---- module-level steps (picklable, as Dask worker processes need) -------------------------


def nearest_kdtree(origins: pd.DataFrame, tree: cKDTree) -> pd.Series:
    """Straight-line distance to the nearest destination, by scipy's cKDTree."""
    d, _ = tree.query(np.column_stack([origins.geometry.x, origins.geometry.y]))
    return pd.Series(d, index=origins.index, name="distance")


def assign_strtree(points, areas) -> pd.Series:
    """Code of the square each point lies in (points are never on a boundary here)."""
    tree = shapely.STRtree(areas.geometry.values)
    pi, ai = tree.query(points.geometry.values, predicate="within")
    out = pd.Series(pd.NA, index=points.index, dtype="string", name="area")
    out.iloc[pi] = areas.index.to_numpy()[ai]
    return out


def count_dwithin(areas, assets, buffer: float) -> pd.Series:
    """Assets inside each area or within ``buffer`` metres of it."""
    tree = shapely.STRtree(assets.geometry.values)
    ai, _ = tree.query(areas.geometry.values, predicate="dwithin", distance=buffer)
    counts = np.bincount(ai, minlength=len(areas))
    return pd.Series(counts, index=areas.index, name="count")


def overlap_pairs(sources, targets) -> pd.DataFrame:
    """Long-form overlap table: one row per (source, target) pair with the shared area."""
    tree = shapely.STRtree(targets.geometry.values)
    si, ti = tree.query(sources.geometry.values, predicate="intersects")
    inter = shapely.area(
        shapely.intersection(sources.geometry.values[si], targets.geometry.values[ti])
    )
    keep = inter > 0
    return pd.DataFrame(
        {
            "source": sources.index.to_numpy()[si[keep]],
            "target": targets.index.to_numpy()[ti[keep]],
            "area": inter[keep],
        }
    )


def nearest_sparse(origins, tree: cKDTree):
    """A tuple (distances array, one-hot sparse row per origin) to test joining of types."""
    d, j = tree.query(np.column_stack([origins.geometry.x, origins.geometry.y]))
    m = sp.csr_matrix((np.ones(len(j)), (np.arange(len(j)), j)), shape=(len(j), tree.n))
    return d, m


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask_geopandas")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster, set_as_default=False) as c:
            yield c


@pytest.fixture(scope="module")
def grid():
    """1 km squares in EPSG:27700, codes in shuffled order (so alignment is by code)."""
    codes, geoms, bounds = [], [], []
    for i in range(NX):
        for j in range(NY):
            x0, y0 = 500_000 + 1000 * i, 200_000 + 1000 * j
            codes.append(f"E{i}{j}")
            geoms.append(shapely.box(x0, y0, x0 + 1000, y0 + 1000))
            bounds.append((x0, y0))
    areas = gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs=CRS).set_index("code")
    order = np.random.default_rng(3).permutation(len(areas))
    return areas.iloc[order]


def points(n: int, seed: int, *, margin: float = 0.0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = 500_000 - margin + rng.uniform(0, NX * 1000 + 2 * margin, n)
    y = 200_000 - margin + rng.uniform(0, NY * 1000 + 2 * margin, n)
    index = pd.Index([f"P{k:05d}" for k in rng.permutation(n)], name="pid")
    return gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=CRS, index=index)


def brute_nearest(origins, dest_xy: np.ndarray) -> np.ndarray:
    o = np.column_stack([origins.geometry.x, origins.geometry.y])
    return np.sqrt(((o[:, None, :] - dest_xy[None, :, :]) ** 2).sum(-1)).min(1)


def brute_counts(areas, assets, buffer: float) -> np.ndarray:
    """Distance from each point to each axis-aligned square, by hand."""
    b = areas.geometry.bounds.to_numpy()
    px = assets.geometry.x.to_numpy()[None, :]
    py = assets.geometry.y.to_numpy()[None, :]
    dx = np.maximum(np.maximum(b[:, [0]] - px, 0), px - b[:, [2]])
    dy = np.maximum(np.maximum(b[:, [1]] - py, 0), py - b[:, [3]])
    return (np.hypot(dx, dy) <= buffer).sum(1)


# ---- tests -----------------------------------------------------------------------------------


def test_nearest_distance_dask_equals_local_and_brute_force(client):
    origins = points(3_000, 1)
    dest = points(150, 2, margin=500)
    dest_xy = np.column_stack([dest.geometry.x, dest.geometry.y])
    tree = cKDTree(dest_xy)
    expected = brute_nearest(origins, dest_xy)

    local = map_chunks(nearest_kdtree, origins, tree)
    chunked = map_chunks(nearest_kdtree, origins, tree, n_chunks=7)
    dasked = map_chunks(nearest_kdtree, origins, tree, engine="dask", scheduler=client, n_chunks=9)

    np.testing.assert_allclose(local.to_numpy(), expected, rtol=0, atol=1e-9)
    pd.testing.assert_series_equal(chunked, local)
    pd.testing.assert_series_equal(dasked, local)
    assert dasked.index.equals(origins.index)


def test_hilbert_partition_keeps_input_order(client):
    origins = points(2_000, 5)
    dest = points(80, 6)
    tree = cKDTree(np.column_stack([dest.geometry.x, dest.geometry.y]))
    local = map_chunks(nearest_kdtree, origins, tree)
    spatial = map_chunks(
        nearest_kdtree, origins, tree, engine="dask", scheduler=client, partition="hilbert"
    )
    pd.testing.assert_series_equal(spatial, local)
    spatial_local = map_chunks(nearest_kdtree, origins, tree, n_chunks=5, partition="hilbert")
    pd.testing.assert_series_equal(spatial_local, local)


def test_package_nearest_distance_on_dask(client):
    indicators = pytest.importorskip("cni_geo.indicators")
    origins = points(2_500, 7)
    assets = points(120, 8, margin=300).assign(
        category=np.where(np.arange(120) % 3 == 0, "gp", "pharmacy")
    )
    a_xy = np.column_stack([assets.geometry.x, assets.geometry.y])
    local = indicators.nearest_distance(origins, assets, by="category")
    dasked = map_chunks(
        indicators.nearest_distance,
        origins,
        assets,
        by="category",
        engine="dask",
        scheduler=client,
        n_chunks=6,
    )
    pd.testing.assert_frame_equal(dasked, local)
    for cat in ("gp", "pharmacy"):
        sel = (assets["category"] == cat).to_numpy()
        np.testing.assert_allclose(dasked[cat].to_numpy(), brute_nearest(origins, a_xy[sel]))


def test_point_in_polygon_dask_equals_local_and_hand(client, grid):
    pts = points(4_000, 11)
    x = pts.geometry.x.to_numpy()
    y = pts.geometry.y.to_numpy()
    col = ((x - 500_000) // 1000).astype(int)
    row = ((y - 200_000) // 1000).astype(int)
    by_hand = [f"E{i}{j}" for i, j in zip(col, row, strict=True)]

    local = map_chunks(assign_strtree, pts, grid)
    dasked = map_chunks(assign_strtree, pts, grid, engine="dask", scheduler=client)
    assert local.tolist() == by_hand
    pd.testing.assert_series_equal(dasked, local)

    geography = pytest.importorskip("cni_geo.geography")
    pkg_local = geography.assign_to_areas(pts, grid, name="area")
    pkg_dask = map_chunks(
        geography.assign_to_areas, pts, grid, name="area", engine="dask", scheduler=client
    )
    assert pkg_local.astype(str).tolist() == by_hand
    pd.testing.assert_series_equal(pkg_dask, pkg_local)


def test_counts_dask_equals_local_and_brute_force(client, grid):
    assets = points(600, 21, margin=1_500)
    expected = brute_counts(grid, assets, 1000.0)

    local = map_chunks(count_dwithin, grid, assets, buffer=1000.0)
    dasked = map_chunks(
        count_dwithin, grid, assets, buffer=1000.0, engine="dask", scheduler=client, n_chunks=4
    )
    np.testing.assert_array_equal(local.to_numpy(), expected)
    pd.testing.assert_series_equal(dasked, local)

    indicators = pytest.importorskip("cni_geo.indicators")
    pkg_local = indicators.count_within(grid, assets, buffer=1000.0)
    pkg_dask = map_chunks(
        indicators.count_within, grid, assets, buffer=1000.0, engine="dask", scheduler=client
    )
    np.testing.assert_array_equal(pkg_local.to_numpy(), expected)
    pd.testing.assert_series_equal(pkg_dask, pkg_local)


def test_overlap_table_by_sources_in_input_order(client, grid):
    # Sources: 1.5 km squares offset from the grid; targets: the 1 km grid.
    rng = np.random.default_rng(4)
    x0 = 500_000 + rng.uniform(0, 4_000, 40)
    y0 = 200_000 + rng.uniform(0, 3_000, 40)
    sources = gpd.GeoDataFrame(
        {"sid": [f"S{k:02d}" for k in range(40)]},
        geometry=shapely.box(x0, y0, x0 + 1500, y0 + 1500),
        crs=CRS,
    ).set_index("sid")
    local = map_chunks(overlap_pairs, sources, grid)
    dasked = map_chunks(overlap_pairs, sources, grid, engine="dask", scheduler=client, n_chunks=5)
    pd.testing.assert_frame_equal(dasked.reset_index(drop=True), local.reset_index(drop=True))
    # Each source lies wholly inside the grid: its pieces add up to 1.5 km x 1.5 km.
    totals = local.groupby("source", sort=False)["area"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1500.0 * 1500.0)
    assert list(dict.fromkeys(local["source"])) == list(sources.index)


def test_tuple_of_array_and_sparse_results_join(client):
    origins = points(500, 31)
    dest = points(40, 32)
    tree = cKDTree(np.column_stack([dest.geometry.x, dest.geometry.y]))
    d_local, m_local = map_chunks(nearest_sparse, origins, tree)
    d_dask, m_dask = map_chunks(
        nearest_sparse, origins, tree, engine="dask", scheduler=client, n_chunks=3
    )
    np.testing.assert_array_equal(d_dask, d_local)
    assert (m_dask != m_local).nnz == 0
    assert m_dask.shape == (500, 40)


def test_unknown_engine_lists_the_known_ones():
    with pytest.raises(RecipeError, match="unknown engine 'spark'; known: local, dask"):
        map_chunks(nearest_kdtree, points(3, 1), None, engine="spark")
    assert set(ENGINES) == {"local", "dask"}
    with pytest.raises(RecipeError, match="known: rows, hilbert"):
        map_chunks(nearest_kdtree, points(3, 1), None, partition="zorder")


@given(n=st.integers(0, 60), n_chunks=st.integers(1, 80))
def test_split_rows_covers_every_row_once_in_order(n, n_chunks):
    frame = pd.DataFrame({"v": np.arange(n)}, index=[f"r{k}" for k in range(n)])
    parts = split_rows(frame, n_chunks)
    assert 1 <= len(parts) <= max(1, min(n_chunks, n))
    pd.testing.assert_frame_equal(pd.concat(parts), frame)
