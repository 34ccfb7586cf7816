"""Distance, counts, rates, aggregation and polygon coverage: hand values on 1 km grids and
brute force (shapely/scipy loops) on hypothesis-generated data."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from cni_geo.errors import CRSError, DataError
from cni_geo.indicators import (
    area_share,
    count_within,
    nearest_distance,
    per_1000,
    per_km2,
    share_within,
    weighted_aggregate,
)

CRS = "EPSG:27700"
X0, Y0 = 500_000, 180_000


def grid(nx=3, ny=3, size=1000.0):
    """nx x ny squares of 1 km, codes A0..; row-major from the south-west."""
    geoms, codes = [], []
    for r in range(ny):
        for c in range(nx):
            geoms.append(
                box(X0 + c * size, Y0 + r * size, X0 + (c + 1) * size, Y0 + (r + 1) * size)
            )
            codes.append(f"A{r * nx + c}")
    return gpd.GeoDataFrame(geometry=geoms, index=pd.Index(codes, name="code"), crs=CRS)


def pts(xy, crs=CRS, **cols):
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    idx = pd.Index([f"p{i}" for i in range(len(xy))], name="id")
    return gpd.GeoDataFrame(
        cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), index=idx, crs=crs
    )


# ---------------------------------------------------------------- nearest_distance


def test_nearest_hand_values_points_and_polygon():
    origins = pts([(X0, Y0), (X0 + 3000, Y0 + 4000), (X0 + 500, Y0 + 500)])
    assets = pts([(X0 + 3000, Y0), (X0, Y0 + 4000)])
    d = nearest_distance(origins, assets)
    # hand: (0,0)->(3000,0)=3000; (3000,4000)->(0,4000)=3000; (500,500)->(3000,0)=sqrt(2500^2+500^2)
    # and ->(0,4000)=sqrt(500^2+3500^2); min is the first
    assert d.loc["p0"] == pytest.approx(3000)
    assert d.loc["p1"] == pytest.approx(3000)
    assert d.loc["p2"] == pytest.approx(math.hypot(2500, 500))
    assert d.name == "nearest_distance" and list(d.index) == list(origins.index)
    # a 1 km park square: inside -> 0, 500 m east of it -> 500
    park = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=CRS)
    o = pts([(X0 + 200, Y0 + 300), (X0 + 1500, Y0 + 500), (X0 + 1300, Y0 + 1400)])
    dp = nearest_distance(o, park)
    assert dp.tolist() == pytest.approx([0.0, 500.0, 500.0])


def test_nearest_k_and_by_and_max_distance():
    origins = pts([(X0, Y0)])
    assets = pts(
        [(X0 + 100, Y0), (X0 + 300, Y0), (X0 + 1000, Y0), (X0, Y0 + 50)],
        kind=["gp", "gp", "school", "school"],
    )
    assert nearest_distance(origins, assets, k=2).iloc[0] == pytest.approx(100)
    assert nearest_distance(origins, assets, k=3).iloc[0] == pytest.approx(300)
    by = nearest_distance(origins, assets, by="kind")
    assert list(by.columns) == ["gp", "school"]
    assert by.loc["p0"].tolist() == pytest.approx([100, 50])
    with pytest.warns(UserWarning, match="1 of 1 origins have no asset within 80 m"):
        lim = nearest_distance(origins, assets, by="kind", max_distance=80)
    assert np.isnan(lim.loc["p0", "gp"]) and lim.loc["p0", "school"] == pytest.approx(50)
    with pytest.warns(UserWarning, match="fewer than k=5"):
        assert np.isnan(nearest_distance(origins, assets, k=5).iloc[0])


def test_nearest_empty_assets_warns_nan_and_crs_errors():
    origins = pts([(X0, Y0), (X0 + 1, Y0)])
    empty = pts(np.zeros((0, 2)))
    with pytest.warns(UserWarning, match="empty"):
        d = nearest_distance(origins, empty)
    assert d.isna().all() and len(d) == 2
    with pytest.raises(CRSError, match="geographic"):
        nearest_distance(origins.to_crs(4326), empty.to_crs(4326))
    with pytest.raises(CRSError, match="reproject"):
        nearest_distance(origins, pts([(X0, Y0)]).to_crs(3857))


def test_nearest_does_not_mutate_and_delegates_to_network():
    origins = pts([(X0, Y0)])
    assets = pts([(X0 + 10, Y0)], kind=["a"])
    before = origins.copy(), assets.copy()

    class Net:
        def nearest_distance(self, o, a, *, by=None, max_distance=None):
            self.called = (len(o), len(a), by, max_distance)
            return pd.Series([42.0], index=o.index)

    net = Net()
    assert nearest_distance(origins, assets, by="kind", max_distance=9, network=net).iloc[0] == 42
    assert net.called == (1, 1, "kind", 9)
    nearest_distance(origins, assets, by="kind")
    pd.testing.assert_frame_equal(origins, before[0])
    pd.testing.assert_frame_equal(assets, before[1])


coords = st.floats(0, 5000, allow_nan=False, allow_infinity=False)


@given(
    o=st.lists(st.tuples(coords, coords), min_size=1, max_size=25),
    a=st.lists(st.tuples(coords, coords, st.sampled_from(["x", "y"])), min_size=1, max_size=25),
    k=st.integers(1, 3),
    polys=st.booleans(),
)
def test_nearest_equals_brute_force(o, a, k, polys):
    origins = pts([(X0 + x, Y0 + y) for x, y in o])
    geoms = [Point(X0 + x, Y0 + y) for x, y, _ in a]
    if polys:  # small squares and lines of random size
        geoms = [
            g.buffer(50 + (i % 4) * 100, cap_style="square")
            if i % 2
            else shapely.LineString([g, Point(g.x + 300, g.y + 200)])
            for i, g in enumerate(geoms)
        ]
    assets = gpd.GeoDataFrame({"kind": [c for *_, c in a]}, geometry=geoms, crs=CRS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = nearest_distance(origins, assets, k=k, by="kind")
    for cat in got.columns:
        sub = [g for g, c in zip(geoms, assets["kind"], strict=True) if c == cat]
        for oi, og in enumerate(origins.geometry):
            ds = sorted(og.distance(g) for g in sub)
            expect = ds[k - 1] if len(ds) >= k else np.nan
            assert got.iloc[oi][cat] == pytest.approx(expect, abs=1e-6, nan_ok=True)
            assert not got.iloc[oi][cat] < 0


# ---------------------------------------------------------------- count_within


def test_count_within_hand_values_on_grid():
    areas = grid(3, 3)  # A4 is the centre square
    assets = pts(
        [
            (X0 + 1500, Y0 + 1500),  # in A4
            (X0 + 100, Y0 + 100),  # in A0, 900 m from A4, 1,273 m from A8 corner? (far)
            (X0 + 2500, Y0 + 2500),  # in A8
            (X0 + 4500, Y0 + 1500),  # 1,500 m east of the grid
        ],
        kind=["hall", "church", "hall", "church"],
        cap=[10.0, 20.0, 30.0, 40.0],
    )
    c0 = count_within(areas, assets)
    assert c0.loc["A4"] == 1 and c0.loc["A0"] == 1 and c0.loc["A8"] == 1 and c0.loc["A1"] == 0
    assert c0.sum() == 3 and c0.name == "count"
    c1 = count_within(areas, assets, buffer=1000)
    # A4 (1..2 km square): point at (100,100) is sqrt(900^2+900^2)=1,273 m from its corner -> out;
    # (1500,1500) in; (2500,2500) 707 m from corner (2000,2000) -> in; (4500,1500) 2,500 m -> out
    assert c1.loc["A4"] == 2
    # A2 (2..3 km x, 0..1 km y): (1500,1500) 707 m -> in; (2500,2500) 1,500 m -> out;
    # (4500,1500) sqrt(1500^2+500^2) -> out; (100,100) 1,900 m -> out
    assert c1.loc["A2"] == 1
    # A5 (2..3 km x, 1..2 km y): (4500,1500) is 1,500 m away -> out; (2500,2500) 500 m -> in
    assert c1.loc["A5"] == 2
    by = count_within(areas, assets, buffer=1000, by="kind")
    assert by.loc["A4"].to_dict() == {"church": 0, "hall": 2}
    w = count_within(areas, assets, buffer=1000, weight="cap")
    assert w.loc["A4"] == pytest.approx(40.0)
    with pytest.raises(DataError, match="non-negative"):
        count_within(areas, assets, buffer=-1)
    assert (count_within(areas, pts(np.zeros((0, 2)))) == 0).all()


@given(
    a=st.lists(st.tuples(st.floats(-2000, 5000), st.floats(-2000, 5000)), max_size=30),
    buffer=st.sampled_from([0.0, 250.0, 1000.0]),
)
def test_count_within_equals_brute_force(a, buffer):
    areas = grid(3, 2)
    assets = pts([(X0 + x, Y0 + y) for x, y in a]) if a else pts(np.zeros((0, 2)))
    got = count_within(areas, assets, buffer=buffer)
    for code, geom in areas.geometry.items():
        expect = sum(1 for p in assets.geometry if geom.distance(p) <= buffer)
        assert got.loc[code] == expect


# ---------------------------------------------------------------- rates


def test_per_1000_and_per_km2():
    values = pd.Series([5, 2, 3, 4], index=["a", "b", "c", "d"], name="n")
    pop = pd.Series([2000, 0, np.nan, 500], index=["d", "b", "c", "a"])  # aligned by index
    with pytest.warns(UserWarning) as rec:
        r = per_1000(values, pop)
    msgs = " ".join(str(w.message) for w in rec)
    assert (
        "1 of 4 areas have a population of 0" in msgs and "1 of 4 areas have no population" in msgs
    )
    assert r.loc["a"] == pytest.approx(10.0) and r.loc["d"] == pytest.approx(2.0)
    assert np.isnan(r.loc["b"]) and np.isnan(r.loc["c"])
    with pytest.raises(DataError, match="negative population"):
        per_1000(values, pd.Series([-1, 1, 1, 1], index=values.index))
    areas = grid(2, 1)
    areas.loc["A1", "geometry"] = box(X0 + 1000, Y0, X0 + 3000, Y0 + 1000)  # 2 km2
    dens = per_km2(pd.Series([3.0, 3.0], index=areas.index), areas)
    assert dens.tolist() == pytest.approx([3.0, 1.5])
    frame = per_1000(
        pd.DataFrame({"x": [1.0, 2.0]}, index=["a", "b"]), pd.Series({"a": 500, "b": 250})
    )
    assert frame["x"].tolist() == pytest.approx([2.0, 8.0])


# ---------------------------------------------------------------- weighted_aggregate


def test_weighted_aggregate_hand_values():
    v = pd.Series([1.0, 2.0, 3.0, 10.0, 4.0, np.nan], index=list("abcdef"), name="d")
    g = pd.Series(["X", "X", "X", "X", "Y", "Y"], index=list("abcdef"))
    w = pd.Series([1, 1, 1, 1, 2, 5], index=list("abcdef"))
    with pytest.warns(UserWarning, match="1 of 6 origins have no value"):
        med = weighted_aggregate(v, g, how="median")
    assert med.loc["X"] == 2.5 and med.loc["Y"] == 4.0  # np.median([1,2,3,10]) = 2.5
    w2 = pd.Series([1, 1, 1, 5, 1, 1], index=list("abcdef"))
    with pytest.warns(UserWarning):
        wm = weighted_aggregate(v, g, weights=w2, how="mean")
        wmed = weighted_aggregate(v, g, weights=w2, how="median")
    assert wm.loc["X"] == pytest.approx((1 + 2 + 3 + 50) / 8)
    assert wmed.loc["X"] == 10.0  # 5 of 8 weight on 10
    with pytest.raises(DataError, match="negative"):
        weighted_aggregate(v, g, weights=-w)
    with pytest.raises(DataError, match="choose one of"):
        weighted_aggregate(v, g, how="mode")


@given(
    data=st.lists(
        st.tuples(st.floats(0, 100, allow_nan=False), st.integers(1, 5), st.sampled_from("PQR")),
        min_size=1,
        max_size=40,
    ),
    q=st.sampled_from([0, 10, 25, 50, 90, 100]),
)
def test_weighted_percentile_equals_repeated_values(data, q):
    v = pd.Series([d[0] for d in data])
    w = pd.Series([d[1] for d in data])
    g = pd.Series([d[2] for d in data])
    got = weighted_aggregate(v, g, weights=w, how="percentile", q=q)
    unweighted = weighted_aggregate(v, g, how="percentile", q=q)
    mean = weighted_aggregate(v, g, weights=w, how="mean")
    for code in got.index:
        sel = (g == code).to_numpy()
        rep = np.repeat(v[sel].to_numpy(), w[sel].to_numpy())
        assert got.loc[code] == pytest.approx(np.percentile(rep, q, method="averaged_inverted_cdf"))
        assert unweighted.loc[code] == pytest.approx(
            np.percentile(v[sel], q, method="averaged_inverted_cdf")
        )
        assert mean.loc[code] == pytest.approx(np.average(v[sel], weights=w[sel]))
        if q == 50:
            med = got.loc[code]
            total = w[sel].sum()
            assert w[sel][v[sel] < med].sum() <= total / 2 + 1e-9
            assert w[sel][v[sel] > med].sum() <= total / 2 + 1e-9
            assert weighted_aggregate(v, g, how="median").loc[code] == pytest.approx(
                np.median(v[sel])
            )


# ---------------------------------------------------------------- coverage


def test_area_share_union_not_double_counted():
    areas = grid(2, 1)
    parks = gpd.GeoDataFrame(
        geometry=[
            box(X0, Y0, X0 + 500, Y0 + 1000),  # half of A0
            box(X0 + 250, Y0, X0 + 500, Y0 + 500),  # inside the first: no double count
            box(X0 + 750, Y0, X0 + 1250, Y0 + 1000),  # 0.25 in A0, 0.25 in A1
        ],
        crs=CRS,
    )
    s = area_share(areas, parks)
    assert s.loc["A0"] == pytest.approx(0.75) and s.loc["A1"] == pytest.approx(0.25)
    km2 = area_share(areas, parks, unit="km2")
    assert km2.loc["A0"] == pytest.approx(0.75)
    pop = pd.Series({"A0": 1500, "A1": 250})
    assert per_1000(km2, pop).loc["A1"] == pytest.approx(1.0)


def test_share_within_hand_values():
    areas_codes = ["A", "A", "A", "B", "C"]
    points = pts(
        [(X0, Y0), (X0 + 400, Y0), (X0 + 2000, Y0), (X0 + 5000, Y0), (X0 + 6000, Y0)],
        pop=[100.0, 50.0, 50.0, 10.0, 0.0],
        lsoa=areas_codes,
    )
    assets = pts([(X0 + 100, Y0)])
    with pytest.warns(UserWarning) as rec:
        s = share_within(
            points, assets, 500, population="pop", areas_of="lsoa", index=["A", "B", "C", "D"]
        )
    msgs = " ".join(str(w.message) for w in rec)
    assert (
        "1 of 3 areas have no residents" in msgs and "1 of 4 areas have no population point" in msgs
    )
    assert s.loc["A"] == pytest.approx(150 / 200) and s.loc["B"] == 0.0
    assert np.isnan(s.loc["C"]) and np.isnan(s.loc["D"])


def test_nearest_large_origin_set_with_missing_geometry_matches_scipy():
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 20_000, size=(12_000, 2))
    origins = pts(xy + [X0, Y0])
    origins.loc[["p5", "p11000"], "geometry"] = None
    axy = rng.uniform(0, 20_000, size=(300, 2))
    assets = pts(axy + [X0, Y0], kind=rng.choice(["a", "b"], 300))
    with pytest.warns(UserWarning, match="2 of 12,000 origins in `origins` have no geometry"):
        got = nearest_distance(origins, assets, by="kind", k=2)
    for cat in ("a", "b"):
        sel = (assets["kind"] == cat).to_numpy()
        expect = cKDTree(axy[sel]).query(xy, k=2)[0][:, 1]
        expect[[5, 11000]] = np.nan
        np.testing.assert_allclose(got[cat].to_numpy(), expect, rtol=1e-12)


@pytest.mark.parametrize("accelerator", [True, False])
def test_point_knn_backends_agree_with_brute_force(monkeypatch, accelerator):
    from cni_geo.indicators import _distance

    if not accelerator:
        monkeypatch.setattr(_distance, "_PYKDTREE", None)
    rng = np.random.default_rng(11)
    oxy = rng.uniform(0, 50_000, size=(15_000, 2))
    axy = np.vstack([rng.uniform(0, 2_000, size=(40, 2)), [[49_000, 49_000]]])  # clustered + 1 far
    got = nearest_distance(pts(oxy + [X0, Y0]), pts(axy + [X0, Y0]), k=1).to_numpy()
    sample = rng.choice(len(oxy), 300, replace=False)
    brute = np.sqrt(((oxy[sample, None, :] - axy[None, :, :]) ** 2).sum(-1)).min(axis=1)
    np.testing.assert_allclose(got[sample], brute, rtol=1e-12)


def test_count_within_warns_when_every_asset_is_outside():
    areas = grid(2, 2)
    far = pts([(X0 + 50_000, Y0), (X0 - 9_000, Y0 + 500)])
    with pytest.warns(UserWarning, match="2 of 2 assets lie outside every area and its 1,000 m"):
        c = count_within(areas, far, buffer=1000)
    assert (c == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    a=st.lists(st.tuples(st.floats(-1500, 4000), st.floats(-1500, 4000)), min_size=1, max_size=40),
    buffer=st.sampled_from([1.0, 300.0, 1000.0]),
    simple=st.booleans(),
)
def test_count_within_points_equals_brute_force_on_concave_areas_with_holes(a, buffer, simple):
    import cni_geo.indicators._counts as counts

    # both exact-distance branches: unprepared distance to the boundary, prepared dwithin
    old = counts._SIMPLE_VERTICES
    counts._SIMPLE_VERTICES = 10**6 if simple else 0
    try:
        ring = shapely.Point(X0 + 1000, Y0 + 1000).buffer(900, 4)
        holed = ring.difference(shapely.box(X0 + 800, Y0 + 700, X0 + 1200, Y0 + 1300))
        notch = shapely.box(X0 + 2000, Y0, X0 + 3000, Y0 + 2000).difference(
            shapely.box(X0 + 2300, Y0 + 500, X0 + 3000, Y0 + 1500)
        )
        areas = gpd.GeoDataFrame(
            geometry=[holed, notch, shapely.MultiPolygon([ring.buffer(-600), notch.buffer(-100)])],
            index=pd.Index(["H", "N", "M"], name="code"),
            crs=CRS,
        )
        assets = pts([(X0 + x, Y0 + y) for x, y in a])
        got = count_within(areas, assets, buffer=buffer)
    finally:
        counts._SIMPLE_VERTICES = old
    for code, geom in areas.geometry.items():
        expect = sum(1 for p in assets.geometry if geom.distance(p) <= buffer)
        assert got.loc[code] == expect
