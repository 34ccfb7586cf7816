"""The web map's HTML and embedded data, checked without a browser (see test_browser.py)."""

from __future__ import annotations

import html.parser
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from matplotlib import colormaps
from matplotlib.colors import to_hex
from PIL import Image
from pyproj import Transformer

from cni_geo.errors import ColumnError, CRSError, OutputExistsError
from cni_geo.export import _webmap_data
from cni_geo.export._webmap_simplify import thin_coverage
from cni_geo.export.classify import decile_classification
from cni_geo.export.static_map import write_static_map
from cni_geo.export.webmap import embed_snippet, write_web_map

X0, Y0 = 520_000, 180_000
EVIL = '<script>alert(1)</script> O\'Brien "Q" & co'


def grid(nx: int = 10, ny: int = 10, *, seed: int = 0) -> gpd.GeoDataFrame:
    """nx * ny 1 km squares with ranks 1..n in a shuffled order and deciles by hand."""
    n = nx * ny
    boxes = [
        shapely.box(X0 + i * 1000, Y0 + j * 1000, X0 + (i + 1) * 1000, Y0 + (j + 1) * 1000)
        for j in range(ny)
        for i in range(nx)
    ]
    rng = np.random.default_rng(seed)
    codes = pd.Index([f"E0{i:07d}" for i in range(n)], name="lsoa_code")
    frame = {"name": [f"Area {i}" for i in range(n)], "population": 1500}
    for node in ("cni", "civic", "connect"):
        rank = rng.permutation(n) + 1
        frame[f"{node}_rank"] = rank
        frame[f"{node}_decile"] = np.ceil(10 * rank / n).astype(int)
        frame[f"{node}_score"] = (n - rank) * 1.2345678
    frame["left_behind"] = (frame["cni_decile"] == 1) & (frame["civic_decile"] <= 5)
    frame["secret_indicator"] = np.arange(n) + 987654.321
    gdf = gpd.GeoDataFrame(frame, geometry=boxes, crs="EPSG:27700", index=codes)
    gdf.loc[codes[3], "name"] = EVIL
    gdf["civic_decile"] = gdf["civic_decile"].astype("float64")
    gdf.loc[codes[7], ["civic_decile", "civic_rank"]] = np.nan
    return gdf


def payload_of(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="cni-data">(.*?)</script>', text, re.S)
    assert match, "the embedded data block is missing"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    return grid()


@pytest.fixture(scope="module")
def written(areas, tmp_path_factory):
    path = tmp_path_factory.mktemp("webmap") / "map.html"
    write_web_map(
        path,
        areas,
        root="cni",
        domains=("civic", "connect"),
        title="Index <b>map</b>",
        sources_text="Synthetic grid",
        aliases={"civic": "Civic assets"},
    )
    text = path.read_text(encoding="utf-8")
    return path, text, payload_of(text)


def test_one_feature_per_area_in_index_order(areas, written):
    _, _, data = written
    assert data["n"] == len(areas)
    assert data["codes"] == list(areas.index)
    assert len(data["geom"]["feats"]) == len(areas) + 1
    decoded = _webmap_data.decode_geometry(data["geom"])
    assert all(len(polys) == 1 and len(polys[0]) == 1 for polys in decoded)


def test_coordinates_are_wgs84_rounded_to_5_decimals(areas, written):
    _, _, data = written
    decoded = _webmap_data.decode_geometry(data["geom"])
    to_wgs = Transformer.from_crs(27700, 4326, always_xy=True)
    for i in (0, 3, 55, len(areas) - 1):
        minx, miny, maxx, maxy = areas.geometry.iloc[i].bounds
        corners = np.array([(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)])
        lon, lat = to_wgs.transform(corners[:, 0], corners[:, 1])
        expected = {(round(a, 5), round(b, 5)) for a, b in zip(lon, lat, strict=True)}
        ring = decoded[i][0][0]
        got = {(round(a, 5), round(b, 5)) for a, b in ring}
        assert got == expected
        assert np.allclose(ring * 1e5, np.round(ring * 1e5), atol=1e-6)


def test_classes_and_colours_follow_the_shared_classification(areas, written):
    _, _, data = written
    by_id = {layer["id"]: layer for layer in data["layers"]}
    assert list(by_id) == ["cni", "civic", "connect"]
    viridis = [to_hex(colormaps["viridis"].resampled(10)(i)) for i in range(10)]
    for node, layer in by_id.items():
        dec = areas[f"{node}_decile"].to_numpy(dtype=float)
        expected = np.where(np.isnan(dec), -1, np.nan_to_num(dec) - 1).astype(int)
        assert layer["classes"] == expected.tolist()
        assert layer["colors"] == viridis
        cls = decile_classification(f"{node}_decile")
        assert layer["nodata"] == [cls.nodata_label, cls.nodata_color]
    assert by_id["civic"]["classes"][7] == -1
    assert by_id["civic"]["title"] == "Civic assets"


def test_only_shown_properties_are_embedded(areas, written):
    _, text, data = written
    assert "secret_indicator" not in text
    assert "987654" not in text
    assert "population" not in text
    assert set(data["props"]) == {"score", "rank", "decile", "domain_ranks", "left_behind"}
    assert data["props"]["rank"] == areas["cni_rank"].tolist()
    assert data["props"]["score"] == [round(v, 2) for v in areas["cni_score"]]
    civic = [None if np.isnan(v) else int(v) for v in areas["civic_rank"]]
    assert data["props"]["domain_ranks"] == [civic, areas["connect_rank"].tolist()]
    assert data["props"]["left_behind"] == areas["left_behind"].astype(int).tolist()


def test_names_are_escaped_in_the_page(written):
    _, text, data = written
    assert "<script>alert" not in text
    assert "Index <b>map</b>" not in text
    assert "Index &lt;b&gt;map&lt;/b&gt;" in text  # the <title>
    assert data["names"][3] == EVIL  # the data keeps the raw name; the page escapes it on display
    assert data["title"] == "Index <b>map</b>"  # shown with textContent, never as HTML


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
            if attrs.get("src"):
                self.refs.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.refs.append(attrs["href"])


def test_self_contained_page_loads_nothing_from_the_network(written):
    _, text, _ = written
    tags = _Tags()
    tags.feed(text)
    assert tags.refs == []
    assert tags.scripts >= 3  # Leaflet, markercluster, the data, the map script
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert "sourceMappingURL" not in text
    assert "L.MarkerClusterGroup" in text and "Leaflet 1.9" in text


def test_cdn_page_links_its_libraries(areas, tmp_path):
    path = write_web_map(tmp_path / "cdn.html", areas, domains=("civic",), self_contained=False)
    tags = _Tags()
    tags.feed(path.read_text(encoding="utf-8"))
    assert tags.refs and all(r.startswith("https://") for r in tags.refs)
    assert not any("jquery" in r or "bootstrap" in r for r in tags.refs)
    assert payload_of(path.read_text(encoding="utf-8"))["basemap"] == "CartoDB Positron"


def test_licences_sources_and_attribution_shown(written):
    _, _, data = written
    about = data["about_html"]
    for needle in ("BSD-2-Clause", "MIT", "Leaflet.markercluster", "Synthetic grid", "Crown"):
        assert needle in about
    assert data["basemap"] == "none"


def wiggly_grid(nx: int, ny: int) -> gpd.GeoDataFrame:
    """A grid whose shared edges carry 5 m vertices displaced by a smooth field (same on both sides)."""
    gdf = grid(nx, ny)
    dense = shapely.segmentize(np.asarray(gdf.geometry.array), 5.0)

    def wiggle(xy):
        x, y = xy[:, 0], xy[:, 1]
        dx = 25 * np.sin(y / 90.0) + 3 * np.sin(x / 7.0 + y / 11.0)
        dy = 25 * np.sin(x / 110.0) + 3 * np.cos(x / 9.0 - y / 5.0)
        return np.column_stack([x + dx, y + dy])

    return gdf.set_geometry(shapely.transform(dense, wiggle))


def test_demo_sized_map_is_under_2_mb_and_keeps_shared_edges(tmp_path):
    areas = wiggly_grid(20, 15)  # 300 areas, ~240,000 vertices
    assert shapely.coverage_is_valid(np.asarray(areas.geometry.array))
    assets = gpd.GeoDataFrame(
        {"category": ["library", "park"] * 150, "name": [f"A{i}" for i in range(300)]},
        geometry=gpd.points_from_xy(X0 + np.arange(300) * 60.0, Y0 + np.arange(300) * 45.0),
        crs="EPSG:27700",
    )
    path = write_web_map(tmp_path / "demo.html", areas, domains=("civic", "connect"), assets=assets)
    assert path.stat().st_size <= 2_000_000
    data = payload_of(path.read_text(encoding="utf-8"))
    decoded = _webmap_data.decode_geometry(data["geom"])
    polys = np.array([shapely.Polygon(polys[0][0]) for polys in decoded], dtype=object)
    assert len(data["geom"]["coords"]) // 2 < shapely.get_num_coordinates(polys).sum() + 1
    assert (
        shapely.get_num_coordinates(polys).sum()
        < 0.2 * shapely.get_num_coordinates(np.asarray(areas.geometry.array)).sum()
    )
    # neighbours still share their edges exactly: a valid coverage, no gaps or overlaps
    assert shapely.coverage_is_valid(polys)
    union = shapely.union_all(polys)
    assert abs(shapely.area(union) - shapely.area(polys).sum()) < 1e-9


def test_assets_by_category(tmp_path, areas):
    pts = gpd.GeoDataFrame(
        {"category": ["park", "library", "park", None], "name": ["P1", "L<1>", "P2", "x"]},
        geometry=gpd.points_from_xy([X0 + 500, X0 + 1500, X0 + 2500, X0], [Y0 + 500] * 4),
        crs="EPSG:27700",
    ).to_crs(4326)
    with pytest.warns(UserWarning, match="1 of 4 assets"):
        path = write_web_map(tmp_path / "a.html", areas, domains=("civic",), assets=pts)
    assets = payload_of(path.read_text(encoding="utf-8"))["assets"]
    assert assets["categories"] == ["library", "park"]
    assert assets["cat"] == [1, 0, 1]
    assert assets["names"] == ["P1", "L<1>", "P2"]
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(X0 + 1500, Y0 + 500)
    assert assets["xy"][2:4] == [round(lon * 1e5), round(lat * 1e5)]


def test_same_input_same_file(areas, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = write_web_map(tmp_path / "a.html", areas, domains=("civic",))
    b = write_web_map(tmp_path / "b.html", areas, domains=("civic",))
    assert a.read_bytes() == b.read_bytes()


def test_errors_name_the_problem(areas, tmp_path):
    with pytest.raises(CRSError, match="geographic"):
        write_web_map(tmp_path / "x.html", areas.to_crs(4326))
    with pytest.raises(ColumnError, match="engaged_rank"):
        write_web_map(tmp_path / "x.html", areas, domains=("engaged",))
    path = write_web_map(tmp_path / "x.html", areas)
    with pytest.raises(OutputExistsError):
        write_web_map(path, areas)
    write_web_map(path, areas, overwrite=True)


def test_size_is_logged(areas, tmp_path, caplog):
    caplog.set_level("INFO", logger="cni_geo.export.webmap")
    path = write_web_map(tmp_path / "m.html", areas)
    mb = f"{path.stat().st_size / 1e6:.2f} MB"
    assert any(mb in r.getMessage() for r in caplog.records)


def test_embed_snippet_is_an_iframe():
    snippet = embed_snippet('maps/cni "2023".html', height=500, title="CNI <map>")

    class P(html.parser.HTMLParser):
        found: list = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    parser = P()
    parser.feed(snippet)
    (tag, attrs), *rest = parser.found
    assert tag == "iframe" and rest == []
    assert attrs["src"] == 'maps/cni "2023".html'
    assert attrs["height"] == "500" and attrs["width"] == "100%"
    assert attrs["title"] == "CNI <map>"
    assert "allowfullscreen" in attrs


coord = st.floats(-180, 180, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(coord, st.floats(-85, 85), st.floats(1e-4, 2.0)), min_size=1, max_size=8))
def test_geometry_encoding_round_trips_to_rounded_coordinates(squares):
    geoms = np.array([shapely.box(x, y, x + s, y + s) for x, y, s in squares], dtype=object)
    decoded = _webmap_data.decode_geometry(_webmap_data.encode_geometry(geoms))
    for g, polys in zip(geoms, decoded, strict=True):
        ring = np.round(shapely.get_coordinates(g) * 1e5)
        keep = np.ones(len(ring), dtype=bool)
        keep[1:] = (ring[1:] != ring[:-1]).any(axis=1)
        assert np.array_equal(np.round(polys[0][0] * 1e5), ring[keep])


def test_static_map_colours_match_the_legend_classes(tmp_path):
    areas = grid(10, 10)
    path = write_static_map(tmp_path / "m.png", areas, title="Test")
    img = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    found = {to_hex(c / 255): k for c, k in zip(colours, counts, strict=True)}
    palette = decile_classification("cni_decile").colors
    # each decile holds 10 equal squares, so each colour covers about the same number of pixels
    shares = np.array([found.get(c, 0) for c in palette], dtype=float)
    assert (shares > 0).all()
    assert shares.max() / shares.min() < 1.3


def test_template_syntax_in_names_is_data_not_code(areas, tmp_path):
    """Names reach the page verbatim: ``{{ }}``/``{% %}`` are not evaluated by Jinja."""
    odd = areas.copy()
    names = ["{{ 7*7 }}", "{% if x %}", "{# c #}", "}}{{"]
    odd.loc[odd.index[:4], "name"] = names
    path = write_web_map(tmp_path / "t.html", odd, domains=("civic",))
    assert payload_of(path.read_text(encoding="utf-8"))["names"][:4] == names


def lattice_coverage(nx: int, ny: int, k: int, amp: float, seed: int, *, island: bool):
    """Cells of a jittered 1 km lattice whose edges carry k random-wiggled vertices.

    Every edge is built once and used forwards by one cell and backwards by its neighbour, so
    neighbours share identical vertices (a valid coverage). Two far-apart cells form one
    MultiPolygon; with ``island`` the cell (1, 1) gets a hole filled exactly by an island area
    (rings with no node at all).
    """
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    p = np.stack([X0 + ii * 1000.0, Y0 + jj * 1000.0], axis=-1)
    p[1:-1, 1:-1] += rng.uniform(-150, 150, size=p[1:-1, 1:-1].shape)

    def edge(a, b):
        t = np.linspace(0, 1, k + 2)[:, None]
        d = b - a
        normal = np.array([-d[1], d[0]]) / np.hypot(*d)
        off = amp * np.sin(np.pi * t) * rng.uniform(-1, 1, size=(k + 2, 1))
        return a + t * d + off * normal

    h = {(i, j): edge(p[i, j], p[i + 1, j]) for i in range(nx) for j in range(ny + 1)}
    v = {(i, j): edge(p[i, j], p[i, j + 1]) for i in range(nx + 1) for j in range(ny)}
    cells = {}
    for i in range(nx):
        for j in range(ny):
            ring = np.vstack(
                [h[i, j][:-1], v[i + 1, j][:-1], h[i, j + 1][::-1][:-1], v[i, j][::-1]]
            )
            cells[i, j] = shapely.Polygon(ring)
    geoms = []
    if island:
        c = np.asarray(cells[1, 1].centroid.coords[0])
        ang = np.linspace(0, 2 * np.pi, 4 * k + 5)[:-1]
        rad = 200 + rng.uniform(-amp, amp, len(ang))
        hole = c + np.column_stack([np.cos(ang), np.sin(ang)]) * rad[:, None]
        cells[1, 1] = shapely.Polygon(cells[1, 1].exterior.coords, [hole[::-1]])
        geoms.append(shapely.Polygon(hole))
    multi = shapely.MultiPolygon([cells.pop((0, 0)), cells.pop((nx - 1, ny - 1))])
    return np.array([multi, *geoms, *cells.values()], dtype=object)


def _segments(geoms):
    """Undirected segments of all rings as rows (x0, y0, x1, y1), smaller end first."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo, hi = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    return np.hstack([lo, hi])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    nx=st.integers(3, 5),
    ny=st.integers(3, 4),
    k=st.integers(1, 40),
    amp=st.floats(0.0, 25.0),
    eps=st.floats(0.05, 60.0),
    seed=st.integers(0, 2**32 - 1),
    island=st.booleans(),
)
def test_coverage_prepass_keeps_shared_edges_rings_and_areas(nx, ny, k, amp, eps, seed, island):
    geoms = lattice_coverage(nx, ny, k, amp, seed, island=island)
    assume(shapely.coverage_is_valid(geoms) and shapely.is_valid(geoms).all())
    out = thin_coverage(geoms, eps)

    assert len(out) == len(geoms)
    assert (shapely.get_type_id(out) == shapely.get_type_id(geoms)).all()
    # only vertices are removed: every output vertex is an input vertex
    inp = {tuple(c) for c in shapely.get_coordinates(geoms)}
    assert {tuple(c) for c in shapely.get_coordinates(out)} <= inp
    # no ring below 4 points (3 corners and the closing one)
    rings = shapely.get_rings(shapely.get_parts(out))
    assert (shapely.get_num_coordinates(rings) >= 4).all()
    assert shapely.is_valid(out).all()
    # neighbours share identical edges: brute force on segments. A segment used by two areas
    # appears twice; segments used once are exactly the outline of the union.
    seg, count = np.unique(_segments(out), axis=0, return_counts=True)
    assert count.max() <= 2
    single = seg[count == 1]
    single_len = np.hypot(single[:, 2] - single[:, 0], single[:, 3] - single[:, 1]).sum()
    union = shapely.union_all(out)
    assert single_len == pytest.approx(shapely.length(union), rel=1e-9)
    assert shapely.coverage_is_valid(out)
    assert shapely.area(union) == pytest.approx(shapely.area(out).sum(), rel=1e-9)
    # each boundary moves by at most eps, so the area moves by at most ~2 eps per unit length
    moved = shapely.hausdorff_distance(shapely.boundary(geoms), shapely.boundary(out))
    assert (moved <= eps * (1 + 1e-9)).all()
    bound = 2 * eps * shapely.length(shapely.boundary(geoms)) + 1e-6
    assert (np.abs(shapely.area(out) - shapely.area(geoms)) <= bound).all()
    if island:  # the hole and the island that fills it are still the same ring
        isl = out[1]
        holder = [g for g in out if shapely.get_num_interior_rings(g) == 1][0]
        hole = shapely.get_interior_ring(holder, 0)
        assert shapely.equals(shapely.Polygon(hole), isl)
        assert {tuple(c) for c in shapely.get_coordinates(hole)} == {
            tuple(c) for c in shapely.get_coordinates(isl)
        }


def test_coverage_prepass_by_hand():
    """Two 1 km squares sharing an edge with a 1 m kink at (1001, 700), worked out by hand.

    Douglas-Peucker on the shared arc (1000, 0) .. (1000, 1000): the kink is 1 m off the chord
    and (1000, 500) is 0.71 m off the chord (1000, 0)-(1001, 700), so eps = 0.5 keeps both on
    both sides and eps = 2 drops both on both sides. The 3 m dip at (1500, -3) on the outline
    stays at eps = 2 and goes at eps = 6; (500, 0) is collinear and always goes.
    """
    left = shapely.Polygon(
        [(0, 0), (500, 0), (1000, 0), (1000, 500), (1001, 700), (1000, 1000), (0, 1000)]
    )
    right = shapely.Polygon(
        [(1000, 0), (1500, -3), (2000, 0), (2000, 1000), (1000, 1000), (1001, 700), (1000, 500)]
    )
    pair = np.array([left, right], dtype=object)

    def coords(g):
        return {tuple(c) for c in shapely.get_coordinates(g).tolist()}

    shared = {(1000.0, 500.0), (1001.0, 700.0)}
    square = {(0.0, 0.0), (1000.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0)}
    right_outline = {
        (1000.0, 0.0),
        (1500.0, -3.0),
        (2000.0, 0.0),
        (2000.0, 1000.0),
        (1000.0, 1000.0),
    }
    out = thin_coverage(pair, 0.5)
    assert coords(out[0]) == square | shared
    assert coords(out[1]) == right_outline | shared
    out = thin_coverage(pair, 2.0)
    assert coords(out[0]) == square
    assert coords(out[1]) == right_outline
    out = thin_coverage(pair, 6.0)
    assert shapely.equals(out[0], shapely.box(0, 0, 1000, 1000))
    assert shapely.equals(out[1], shapely.box(1000, 0, 2000, 1000))
    assert coords(out[1]) == {(1000.0, 0.0), (2000.0, 0.0), (2000.0, 1000.0), (1000.0, 1000.0)}


def test_coverage_prepass_never_collapses_a_sliver():
    """A 2 m wide lens between two squares: simplifying its two arcs by 5 m would flatten it to
    a line, so both arcs are kept, for the lens and for its neighbours alike."""
    lens = shapely.Polygon([(1000, 0), (1001, 500), (1000, 1000), (999, 500)])
    left = shapely.Polygon([(0, 0), (1000, 0), (999, 500), (1000, 1000), (0, 1000)])
    right = shapely.Polygon([(1000, 0), (2000, 0), (2000, 1000), (1000, 1000), (1001, 500)])
    geoms = np.array([left, lens, right], dtype=object)
    assert shapely.coverage_is_valid(geoms)
    out = thin_coverage(geoms, 5.0)
    assert shapely.equals(out[1], lens)
    assert shapely.area(out[1]) == pytest.approx(1000.0)  # by hand: two triangles of 500 m2
    assert shapely.coverage_is_valid(out)
    assert [999.0, 500.0] in shapely.get_coordinates(out[0]).tolist()
    assert [1001.0, 500.0] in shapely.get_coordinates(out[2]).tolist()


def test_coverage_prepass_on_real_output_areas(camden):
    """Camden's 749 full-resolution Output Areas (a real coverage from ONS/OS)."""
    oas = gpd.read_file(camden / "boundaries" / "Camden_oa11.shp")
    geoms = np.asarray(oas.geometry.array, dtype=object)
    assert shapely.coverage_is_valid(geoms)
    eps = 2.0
    out = thin_coverage(geoms, eps)
    assert shapely.get_num_coordinates(out).sum() < 0.5 * shapely.get_num_coordinates(geoms).sum()
    assert shapely.coverage_is_valid(out)
    assert shapely.is_valid(out).all()  # no area made to self-intersect
    seg, count = np.unique(_segments(out), axis=0, return_counts=True)
    assert count.max() <= 2
    single = seg[count == 1]
    single_len = np.hypot(single[:, 2] - single[:, 0], single[:, 3] - single[:, 1]).sum()
    assert single_len == pytest.approx(shapely.length(shapely.union_all(out)), rel=1e-9)
    moved = shapely.hausdorff_distance(shapely.boundary(geoms), shapely.boundary(out))
    assert (moved <= eps * (1 + 1e-9)).all()
    assert (shapely.get_num_coordinates(shapely.get_rings(shapely.get_parts(out))) >= 4).all()


@pytest.mark.parametrize("collide", [False, True])
def test_vertex_ids_match_numpy_unique(collide, monkeypatch):
    """Vertex ids group exactly equal coordinates, even when every hash collides."""
    from cni_geo.export import _webmap_simplify

    if collide:
        monkeypatch.setattr(_webmap_simplify, "_keys", lambda xy: np.zeros(len(xy), np.uint64))
    rng = np.random.default_rng(3)
    xy = X0 + rng.integers(0, 40, size=(20_000, 2)) * 0.5
    xy[:5] = [[0.0, 0.0], [-0.0, 0.0], [0.0, -0.0], [1e-300, 0.0], [0.0, 0.0]]
    ids, order, first = _webmap_simplify.vertex_ids(xy)
    _, inverse = np.unique(xy, axis=0, return_inverse=True)
    assert first.sum() == inverse.max() + 1
    # the same partition: a one-to-one map between our ids and numpy's
    pairs = np.unique(np.column_stack([ids, inverse.ravel()]), axis=0)
    assert len(pairs) == first.sum()
    assert (np.diff(ids[order]) >= 0).all()
