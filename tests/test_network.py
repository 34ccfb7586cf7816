"""Road-network distances: hand-made 1 km grids, and Camden against networkx."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from cni_geo.errors import CRSError, RecipeError
from cni_geo.network import build_graph


def _grid(n=3, step=1000.0, oneway=None):
    """Roads along x = 0, 1000, ... and y = 0, 1000, ...: full lines crossing at shared vertices."""
    lines = []
    for i in range(n):
        xs = [(i * step, j * step) for j in range(n)]
        ys = [(j * step, i * step) for j in range(n)]
        lines += [shapely.LineString(xs), shapely.LineString(ys)]
    ow = oneway or [0] * len(lines)
    return gpd.GeoDataFrame(
        {"road_class": ["residential"] * len(lines), "oneway": ow}, geometry=lines, crs=27700
    )


def _pts(xy, **cols):
    return gpd.GeoDataFrame(cols, geometry=shapely.points(np.asarray(xy, dtype=float)), crs=27700)


def test_hand_grid_walk():
    g = build_graph(_grid(), profile="walk")
    assert g.n_nodes == 9  # 3 x 3 crossings, lines split at shared vertices
    origins = _pts([(-10, 0), (1000, 500), (1990, 2000)])
    origins.index = ["a", "b", "c"]
    assets = _pts([(2000, 2010)])
    d = g.nearest_distance(origins, assets)
    # by hand: 10 m snap + 4 km Manhattan path + 10 m snap; 1.5 km up + 1 km across + 10;
    # 10 m along the top edge + 10 m snap
    assert d.to_dict() == pytest.approx({"a": 4020.0, "b": 2510.0, "c": 20.0})
    t = g.nearest_distance(origins, assets, metric="time")
    assert t["a"] == pytest.approx(4020 / (4.8 / 3.6))
    snap = g.snap(origins)
    assert snap["snap_distance"].tolist() == pytest.approx([10, 0, 0])


def test_hand_grid_drive_oneway_and_unreachable():
    roads = _grid()
    # make the bottom road (y = 0) one-way westwards: 2000 -> 0 only
    bottom = roads.index[(roads.geometry.bounds["maxy"] == 0)][0]
    roads.loc[bottom, "oneway"] = -1
    dead = gpd.GeoDataFrame(
        {"road_class": ["residential"], "oneway": [1]},
        geometry=[shapely.LineString([(2000, 0), (3000, 0)])],
        crs=27700,
    )
    roads = pd.concat([roads, dead], ignore_index=True)
    g = build_graph(roads, profile="drive")
    origins = _pts([(0, 0), (3000, 0)])
    assets = _pts([(2000, 0)])
    with pytest.warns(UserWarning, match="1 of 2 origins cannot reach"):
        d = g.nearest_distance(origins, assets)
    # from (0,0) eastwards is forbidden on y=0: up 1 km, across 2 km, down 1 km
    assert d.iloc[0] == pytest.approx(4000.0)
    assert np.isnan(d.iloc[1])  # a one-way dead end: never 0
    walk = build_graph(roads, profile="walk")
    assert walk.nearest_distance(origins, assets).tolist() == pytest.approx([2000.0, 1000.0])
    # drive times follow the class speed (residential 24 km/h) plus walked snap legs
    tt = g.nearest_distance(origins.iloc[:1], assets, metric="time")
    assert tt.iloc[0] == pytest.approx(4000 / (24 / 3.6))


def test_by_category_max_snap_and_errors():
    g = build_graph(_grid(), profile="walk")
    origins = _pts([(0, 0), (5000, 5000)])
    assets = _pts([(1000, 0), (0, 2000)], category=["x", "y"])
    with pytest.warns(UserWarning, match="1 of 2 origins are more than 500 m"):
        d = g.nearest_distance(origins, assets, by="category")
    assert d.loc[0].to_dict() == {"x": 1000.0, "y": 2000.0} and d.loc[1].isna().all()
    assert g.nearest_distance(origins.iloc[:1], assets, max_distance=1500).iloc[0] == 1000.0
    with pytest.warns(UserWarning, match="cannot reach"):
        assert np.isnan(
            g.nearest_distance(origins.iloc[:1], assets.iloc[1:], max_distance=1500).iloc[0]
        )
    with pytest.raises(RecipeError, match="distance, time"):
        g.nearest_distance(origins, assets, metric="km")
    with pytest.raises(CRSError, match="EPSG:4326"):
        g.nearest_distance(origins.to_crs(4326), assets)
    with pytest.raises(RecipeError, match="walk, drive"):
        build_graph(_grid(), profile="bike")


@given(
    st.lists(st.tuples(st.floats(-200, 3200), st.floats(-200, 3200)), min_size=1, max_size=6),
    st.lists(st.tuples(st.floats(0, 3000), st.floats(0, 3000)), min_size=1, max_size=4),
)
def test_grid_equals_brute_force(origins, assets):
    """On a 4 x 4 grid with 1 km blocks every walk distance equals a brute-force formula."""
    g = build_graph(_grid(4), profile="walk")
    o, a = _pts(origins), _pts(assets)
    got = g.nearest_distance(o, a, max_snap=None)
    so, sa = g.snap(o), g.snap(a)
    # brute force: every snapped point sits on a grid line; between two points on a Manhattan
    # grid the network distance is the L1 distance, except when both are on the same
    # horizontal (or vertical) line segment between two crossings' lines... use networkx instead
    G = nx.Graph()
    for u, v, w in zip(g.seg_u, g.seg_v, g.seg_length, strict=True):
        G.add_edge(("n", int(u)), ("n", int(v)), weight=float(w))
    for tag, s in (("o", so), ("a", sa)):
        for i, r in enumerate(s.itertuples()):
            u, v, L = int(g.seg_u[r.segment]), int(g.seg_v[r.segment]), g.seg_length[r.segment]
            G.add_edge((tag, i), ("n", u), weight=r.snap_distance + r.t * L)
            G.add_edge((tag, i), ("n", v), weight=r.snap_distance + (1 - r.t) * L)
    for i in range(len(o)):
        ref = nx.single_source_dijkstra_path_length(G, ("o", i), weight="weight")
        best = min(ref.get(("a", j), np.inf) for j in range(len(a)))
        # same-segment direct connection (not expressible through end nodes)
        for j in range(len(a)):
            if so["segment"].iloc[i] == sa["segment"].iloc[j]:
                L = g.seg_length[so["segment"].iloc[i]]
                best = min(
                    best,
                    so["snap_distance"].iloc[i]
                    + sa["snap_distance"].iloc[j]
                    + abs(so["t"].iloc[i] - sa["t"].iloc[j]) * L,
                )
        assert got.iloc[i] == pytest.approx(best, abs=1e-6)
        # and never shorter than the straight line
        assert got.iloc[i] >= min(o.geometry.iloc[i].distance(p) for p in a.geometry) - 1e-6


def test_cache_round_trip(tmp_path):
    roads = _grid()
    path = tmp_path / "roads.gpkg"
    roads.to_file(path, layer="roads")
    g1 = build_graph(path, layer="roads", cache_dir=tmp_path / "cache")
    files = list((tmp_path / "cache").glob("roadgraph-walk-*.npz"))
    assert len(files) == 1
    g2 = build_graph(path, layer="roads", cache_dir=tmp_path / "cache")
    assert np.array_equal(g1.nodes, g2.nodes) and np.array_equal(g1.seg_length, g2.seg_length)
    assert g2.crs.equals(g1.crs)
    build_graph(path, layer="roads", profile="drive", cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("roadgraph-*.npz"))) == 2


# --- Camden: OA points -> nearest library and park on the walk network ----------------------


@pytest.fixture(scope="module")
def camden_case(camden):
    from cni_geo.sources import read_areas, read_osm_assets, read_table

    pbf = camden / "osm" / "camden.osm.pbf"
    g = build_graph(pbf, profile="walk")
    osm = read_osm_assets(pbf)
    assets = osm.points
    oa = read_areas(camden / "boundaries" / "Camden_oa11.shp")
    pop = read_table(camden / "population" / "KS101EW_oa11.csv", id="GeographyCode")["KS101EW0001"]
    origins = gpd.GeoDataFrame(
        {"residents": pop.loc[oa.index]}, geometry=oa.representative_point(), crs=oa.crs
    )
    # parks as their polygons (reached at the edge), libraries as points
    parks = pd.concat(
        [
            osm.polygons[osm.polygons.category == "park"],
            assets[(assets.category == "park") & (assets.source_geometry == "Point")],
        ]
    )
    sub = pd.concat([assets[assets.category == "library"], parks[["category", "geometry"]]])
    return g, origins, gpd.GeoDataFrame(sub, geometry="geometry", crs=assets.crs)


def test_camden_network_at_least_straight_line(camden_case):
    g, origins, assets = camden_case
    d = g.nearest_distance(origins, assets, by="category")
    assert origins["residents"].sum() == 220_338
    for cat in ("library", "park"):
        pts = assets[assets.category == cat]
        tree = shapely.STRtree(pts.geometry.values)
        _, straight = tree.query_nearest(
            origins.geometry.values, return_distance=True, all_matches=False
        )
        ok = d[cat].notna().to_numpy()
        assert ok.mean() > 0.98
        assert (d[cat].to_numpy()[ok] >= straight[ok] - 1e-6).all()
        ratio = np.median(d[cat].to_numpy()[ok] / np.maximum(straight[ok], 1.0))
        # detour factors of 1.2-1.6 are typical for points in cities; parks are reached at
        # their edge, so trips are short (median ~160 m) and the origin's own walk to the
        # street weighs more: a wider band there
        assert 1.1 <= ratio <= (1.6 if cat == "library" else 2.5)


def test_camden_snap_distance_is_distance_to_roads(camden_case):
    g, origins, _ = camden_case
    snap = g.snap(origins)
    segs = shapely.linestrings(np.stack([g.nodes[g.seg_u], g.nodes[g.seg_v]], axis=1))[
        g.snappable_segments()
    ]
    _, dist = shapely.STRtree(segs).query_nearest(
        origins.geometry.values, return_distance=True, all_matches=False
    )
    assert snap["snap_distance"].to_numpy() == pytest.approx(dist, abs=1e-6)


def test_camden_equals_networkx_per_source(camden_case):
    """Exact equality with per-asset networkx single-source searches on a subset of origins."""
    g, origins, assets = camden_case
    lib = assets[assets.category == "library"]
    sub = origins.iloc[::25]
    got = g.nearest_distance(sub, lib)
    # independent graph: nodes from the segment end coordinates (tuples), not our node ids
    key = [tuple(p) for p in g.nodes]
    G = nx.Graph()
    for u, v, w in zip(g.seg_u, g.seg_v, g.seg_length, strict=True):
        a, b = key[u], key[v]
        if not G.has_edge(a, b) or G[a][b]["weight"] > w:
            G.add_edge(a, b, weight=float(w))
    so, sa = g.snap(sub), g.snap(lib)
    per_asset = []
    for r in sa.itertuples():
        L = g.seg_length[r.segment]
        u, v = key[g.seg_u[r.segment]], key[g.seg_v[r.segment]]
        du = nx.single_source_dijkstra_path_length(G, u, weight="weight")
        dv = nx.single_source_dijkstra_path_length(G, v, weight="weight")
        per_asset.append((du, dv, r.snap_distance + r.t * L, r.snap_distance + (1 - r.t) * L))
    for i, r in enumerate(so.itertuples()):
        L = g.seg_length[r.segment]
        ends = [(key[g.seg_u[r.segment]], r.t * L), (key[g.seg_v[r.segment]], (1 - r.t) * L)]
        best = np.inf
        for du, dv, cu, cv in per_asset:
            for node, c in ends:
                best = min(best, c + du.get(node, np.inf) + cu, c + dv.get(node, np.inf) + cv)
        for ra in sa.itertuples():
            if ra.segment == r.segment:
                best = min(best, ra.snap_distance + abs(ra.t - r.t) * L)
        assert got.iloc[i] == pytest.approx(best + r.snap_distance, rel=1e-12, abs=1e-6), sub.index[
            i
        ]


# --- snapping: exact nearest segment, and the per-graph snap cache ---------------------------


def _brute_snap(g, geoms):
    """Distance from each geometry to the nearest usable segment, by shapely over all pairs."""
    segs = shapely.linestrings(np.stack([g.nodes[g.seg_u], g.nodes[g.seg_v]], axis=1))
    segs = segs[g.snappable_segments()]
    return shapely.distance(np.asarray(geoms)[:, None], segs[None, :]).min(axis=1)


@given(
    st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 5000)), min_size=2, max_size=25),
    st.lists(st.tuples(st.floats(-3000, 8000), st.floats(-3000, 8000)), min_size=1, max_size=30),
)
def test_snap_is_the_exact_nearest_segment(vertices, points):
    """Random polylines (segments from centimetres to kilometres) against brute force."""
    line = shapely.LineString(vertices)
    roads = gpd.GeoDataFrame({"road_class": ["residential"]}, geometry=[line], crs=27700)
    try:
        g = build_graph(roads)
    except Exception:  # every vertex merged into one (no segment): nothing to snap to
        return
    if len(g.seg_u) == 0:
        return
    pts = _pts(points)
    s = g.snap(pts)
    brute = _brute_snap(g, pts.geometry.values)
    assert s["snap_distance"].to_numpy() == pytest.approx(brute, abs=1e-6)
    # the snapped point lies on the chosen segment, snap_distance away from the point
    seg = s["segment"].to_numpy()
    on = shapely.points(s[["x", "y"]].to_numpy())
    chosen = shapely.linestrings(np.stack([g.nodes[g.seg_u[seg]], g.nodes[g.seg_v[seg]]], axis=1))
    assert shapely.distance(on, chosen) == pytest.approx(np.zeros(len(pts)), abs=1e-6)
    assert shapely.distance(on, pts.geometry.values) == pytest.approx(brute, abs=1e-6)


def test_snap_far_from_short_segments_and_polygons():
    """A point whose nearest samples all sit on short segments while a long one is nearer.

    50 short segments zigzag 32 m above (5,000, 28); the 10 km road at y = 0 is 28 m below it,
    but that road's samples are 125 m apart (none within 60 m), so the k-d tree's first answers
    all lie on the zigzag and the exact radius search must find the road. Polygons snap by
    their edge.
    """
    zig = [(4982.5 + i * 0.7, 60 + (i % 2) * 0.7) for i in range(51)]
    loop = [zig[-1], (zig[-1][0], 3000), (10_000, 3000), (10_000, 0)]  # far from the point
    roads = gpd.GeoDataFrame(
        {"road_class": ["residential"] * 3},
        geometry=[
            shapely.LineString([(0, 0), (5000, 0), (10_000, 0)]),
            shapely.LineString(zig),
            shapely.LineString(loop),
        ],
        crs=27700,
    )
    g = build_graph(roads)
    assert g.snappable_segments().all()
    pts = _pts([(5000, 28), (5000.3, 59.5), (20_000, 5), (-100, -100)])
    s = g.snap(pts)
    assert s["snap_distance"].to_numpy() == pytest.approx(
        _brute_snap(g, pts.geometry.values), abs=1e-9
    )
    assert s["snap_distance"].iloc[0] == pytest.approx(28.0)  # straight down to the road
    assert (s["x"].iloc[0], s["y"].iloc[0]) == pytest.approx((5000.0, 0.0))
    assert s["snap_distance"].iloc[2] == pytest.approx(np.hypot(10_000, 5))  # to the road's end
    park = gpd.GeoDataFrame(
        geometry=[shapely.box(2000, 100, 3000, 900), shapely.box(4990, 50, 5100, 200)],
        crs=27700,
    )
    sp_ = g.snap(park, keep_shape=True)
    assert sp_["snap_distance"].to_numpy() == pytest.approx(
        _brute_snap(g, park.geometry.values), abs=1e-9
    )
    assert sp_["snap_distance"].iloc[0] == pytest.approx(100.0)  # its bottom edge to y = 0
    assert sp_["snap_distance"].iloc[1] == 0.0  # the zigzag runs through it


def test_snap_cache_reuses_and_invalidates(monkeypatch):
    from cni_geo.network import _snap

    calls = []
    real = _snap.SegmentIndex.nearest_points

    def counting(self, xy):
        calls.append(len(xy))
        return real(self, xy)

    monkeypatch.setattr(_snap.SegmentIndex, "nearest_points", counting)
    g = build_graph(_grid(), profile="walk")
    origins = _pts([(-10, 0), (1000, 500), (1990, 2000)])
    assets = _pts([(2000, 2010), (0, 1000)], category=["x", "y"])
    d = g.nearest_distance(origins, assets, by="category")
    # one snap of the 3 origins for both categories, one per category's assets
    assert sorted(calls) == [1, 1, 3]
    calls.clear()
    g.nearest_distance(origins, assets[assets.category == "x"])
    assert calls == []  # origins and those assets: both from the cache
    # the same coordinates under another index: cache hit, results on the new index
    moved_index = origins.set_axis(["a", "b", "c"])
    s = g.snap(moved_index)
    assert calls == [] and list(s.index) == ["a", "b", "c"]
    # by hand: (-10, 0) -> 10 m to (0, 0), then 1 km up to the asset at (0, 1000)
    assert d.loc[0, "y"] == pytest.approx(1010.0)
    # moving one origin misses the cache and gives the new answer
    moved = origins.copy()
    moved.geometry = shapely.points([(-10, 990), (1000, 500), (1990, 2000)])
    d2 = g.nearest_distance(moved, assets[assets.category == "y"])
    assert calls == [3]
    assert d2.iloc[0] == pytest.approx(20.0)  # 10 m snap + 10 m along x = 0
    # cached arrays cannot be changed through a returned frame
    s2 = g.snap(origins)
    s2.loc[0, "snap_distance"] = -1.0
    assert g.snap(origins).loc[0, "snap_distance"] == pytest.approx(10.0)
