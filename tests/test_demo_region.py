"""The synthetic demo region: regenerated content equals the committed files, and it is sound.

Every check recomputes its expectation from the files themselves with an independent tool
(shapely overlay unions, rasterio masks, exactextract, scipy graphs), never from the generator.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.features import geometry_mask
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import spearmanr

from cni_geo import demo
from cni_geo._demo_geometry import build_geography
from cni_geo.errors import OutputExistsError

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY_LAYERS = ("oa", "lsoa", "msoa", "ward")
# the brief's category -> group table, typed in independently of the generator
GROUPS = {
    "community_space": ("community_centre", "place_of_worship", "youth_club"),
    "education": ("nursery", "primary_school", "secondary_school", "college"),
    "sport_leisure": ("sports_centre", "swimming_pool", "pub"),
    "culture": ("library", "museum", "arts_centre", "theatre"),
    "green_space": ("park", "playground", "nature_reserve"),
    "service": (
        "gp",
        "pharmacy",
        "food_shop",
        "post_office",
        "hospital",
        "bus_stop",
        "rail_station",
    ),
}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo_region")
    demo.generate_region(root)
    return root


@pytest.fixture(scope="module")
def committed() -> Path:
    if not (ROOT / demo.FILES["boundaries"]).exists():
        pytest.fail("the committed demo files are missing; run python -m cni_geo.demo --out .")
    return ROOT


def _layer(root: Path, key: str, layer: str):
    return pyogrio.read_dataframe(root / demo.FILES[key], layer=layer)


@pytest.fixture(scope="module")
def bounds(committed):
    return {name: _layer(committed, "boundaries", name) for name in BOUNDARY_LAYERS}


# --- regeneration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "layer"),
    [("boundaries", name) for name in BOUNDARY_LAYERS]
    + [("assets", "assets"), ("assets", "green_space"), ("roads", "roads")],
)
def test_regenerated_layers_equal_committed(fresh, committed, key, layer):
    new = _layer(fresh, key, layer)
    old = _layer(committed, key, layer)
    pd.testing.assert_frame_equal(
        pd.DataFrame(new.drop(columns="geometry")), pd.DataFrame(old.drop(columns="geometry"))
    )
    assert new.crs == old.crs
    assert np.array_equal(shapely.to_wkb(new.geometry.values), shapely.to_wkb(old.geometry.values))


def test_regenerated_raster_equals_committed(fresh, committed):
    with rasterio.open(fresh / demo.FILES["population"]) as a:
        new, new_profile = a.read(1), a.profile
    with rasterio.open(committed / demo.FILES["population"]) as b:
        old, old_profile = b.read(1), b.profile
    assert np.array_equal(new, old)
    for key in ("crs", "transform", "nodata", "dtype", "width", "height"):
        assert new_profile[key] == old_profile[key]


@pytest.mark.parametrize("key", ["turnout", "broadband", "charities", "imd", "readme"])
def test_regenerated_text_equals_committed(fresh, committed, key):
    assert (fresh / demo.FILES[key]).read_text() == (committed / demo.FILES[key]).read_text()


def test_other_seed_gives_another_county():
    other = build_geography(7)
    committed_oa = _layer(ROOT, "boundaries", "oa")
    same = np.isin(shapely.to_wkb(other.oa_geom), shapely.to_wkb(committed_oa.geometry.values))
    assert not same.any()
    assert 1_300 <= len(other.oa_geom) <= 1_700


def test_existing_files_are_not_replaced(fresh):
    with pytest.raises(OutputExistsError, match="overwrite"):
        demo.generate_region(fresh)
    with pytest.raises(SystemExit) as info:
        demo.main(["--out", str(fresh)])
    assert info.value.code == OutputExistsError.exit_code


# --- boundaries ---------------------------------------------------------------------------------


def test_counts_codes_and_columns(bounds):
    oa, lsoa, msoa, ward = (bounds[k] for k in BOUNDARY_LAYERS)
    assert list(oa.columns) == ["oa_code", "lsoa_code", "msoa_code", "population", "geometry"]
    assert list(lsoa.columns) == ["lsoa_code", "lsoa_name", "msoa_code", "population", "geometry"]
    assert list(msoa.columns) == ["msoa_code", "msoa_name", "population", "geometry"]
    assert list(ward.columns) == ["ward_code", "ward_name", "geometry"]
    assert 1_300 <= len(oa) <= 1_700
    assert 250 <= len(lsoa) <= 350
    assert 50 <= len(msoa) <= 70
    assert 40 <= len(ward) <= 60
    for frame, col, prefix in [
        (oa, "oa_code", "X00"),
        (lsoa, "lsoa_code", "X01"),
        (msoa, "msoa_code", "X02"),
        (ward, "ward_code", "X05"),
    ]:
        codes = frame[col]
        assert codes.is_unique and codes.is_monotonic_increasing
        assert codes.str.fullmatch(prefix + r"\d{6}").all()
        assert frame.crs.to_epsg() == 27700
    names = pd.concat([lsoa.lsoa_name, msoa.msoa_name, ward.ward_name])
    assert names.str.contains("'").any() and names.str.contains("&").any()
    assert lsoa.lsoa_name.str.fullmatch(r".+ \d{3}[A-Z]").all()


def test_polygons_valid_single_and_on_a_1m_grid(bounds):
    for name, frame in bounds.items():
        geoms = frame.geometry.values
        assert shapely.is_valid(geoms).all(), name
        assert (shapely.get_type_id(geoms) == 3).all(), name
        xy = shapely.get_coordinates(geoms)
        assert np.array_equal(xy, np.round(xy)), name
        x, y = xy.T
        assert 400_000 < x.min() and x.max() < 460_000 and 250_000 < y.min() and y.max() < 290_000


def test_nesting_is_exact(bounds):
    oa, lsoa, msoa = bounds["oa"], bounds["lsoa"], bounds["msoa"]
    l_geom = lsoa.set_index("lsoa_code").geometry
    m_geom = msoa.set_index("msoa_code").geometry
    assert shapely.covered_by(oa.geometry.values, l_geom.loc[oa.lsoa_code].values).all()
    assert shapely.covered_by(lsoa.geometry.values, m_geom.loc[lsoa.msoa_code].values).all()
    # the OA's msoa_code is its LSOA's
    lsoa_msoa = lsoa.set_index("lsoa_code").msoa_code
    assert (lsoa_msoa.loc[oa.lsoa_code].values == oa.msoa_code.values).all()
    oa_area = pd.Series(shapely.area(oa.geometry.values))
    by_lsoa = oa_area.groupby(oa.lsoa_code.values).sum()
    np.testing.assert_allclose(
        by_lsoa.loc[lsoa.lsoa_code], shapely.area(lsoa.geometry.values), rtol=1e-6
    )
    l_area = pd.Series(shapely.area(lsoa.geometry.values))
    by_msoa = l_area.groupby(lsoa.msoa_code.values).sum()
    np.testing.assert_allclose(
        by_msoa.loc[msoa.msoa_code], shapely.area(msoa.geometry.values), rtol=1e-6
    )


def test_every_level_covers_the_county_without_gaps_or_overlaps(bounds):
    county = shapely.union_all(bounds["msoa"].geometry.values)  # general overlay union
    assert shapely.get_type_id(county) == 3 and len(county.interiors) == 0
    for name, frame in bounds.items():
        geoms = frame.geometry.values
        union = shapely.union_all(geoms)
        assert shapely.area(shapely.symmetric_difference(union, county)) == 0, name
        # no overlaps: the areas add up to the union's
        assert math.isclose(shapely.area(geoms).sum(), union.area, rel_tol=1e-9), name


def test_wards_do_not_nest(bounds):
    lsoa, ward = bounds["lsoa"], bounds["ward"]
    tree = shapely.STRtree(ward.geometry.values)
    li, wi = tree.query(lsoa.geometry.values, predicate="intersects")
    overlap = shapely.area(shapely.intersection(lsoa.geometry.values[li], ward.geometry.values[wi]))
    wards_per_lsoa = pd.Series(overlap > 10_000).groupby(li).sum()  # > 1 ha
    assert (wards_per_lsoa >= 2).sum() >= 10


def test_populations_add_up(bounds):
    oa, lsoa, msoa = bounds["oa"], bounds["lsoa"], bounds["msoa"]
    for frame in (oa, lsoa, msoa):
        assert pd.api.types.is_integer_dtype(frame.population)
        assert (frame.population > 0).all()
    by_lsoa = oa.groupby("lsoa_code").population.sum()
    assert (by_lsoa.loc[lsoa.lsoa_code].values == lsoa.population.values).all()
    by_msoa = lsoa.groupby("msoa_code").population.sum()
    assert (by_msoa.loc[msoa.msoa_code].values == msoa.population.values).all()
    total = oa.population.sum()
    assert 400_000 <= total <= 500_000
    assert 200 <= oa.population.mean() <= 400


# --- population raster --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raster(committed):
    with rasterio.open(committed / demo.FILES["population"]) as src:
        return src.read(1), src.profile, src.tags()


def test_raster_format(raster):
    values, profile, _ = raster
    assert profile["crs"].to_epsg() == 27700
    assert profile["dtype"] == "float32" and profile["nodata"] == -1
    assert profile["compress"].lower() == "deflate"
    t = profile["transform"]
    assert (t.a, t.e) == (100.0, -100.0)
    assert t.c % 100 == 0 and t.f % 100 == 0
    assert ((values == -1) | (values >= 0)).all()


def test_raster_nodata_exactly_outside_the_county(raster, bounds):
    values, profile, _ = raster
    t = profile["transform"]
    rows, cols = np.indices(values.shape)
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    county = shapely.union_all(bounds["oa"].geometry.values)
    inside = shapely.contains_xy(county, x, y)
    assert np.array_equal(inside, values != -1)


def test_raster_sums_to_oa_population_rasterio_masks(raster, bounds):
    values, profile, _ = raster
    transform = profile["transform"]
    oa = bounds["oa"]
    sums = np.empty(len(oa))
    for k, geom in enumerate(oa.geometry.values):
        minx, miny, maxx, maxy = geom.bounds
        c0, r0 = math.floor((minx - transform.c) / 100), math.floor((transform.f - maxy) / 100)
        c1, r1 = math.ceil((maxx - transform.c) / 100), math.ceil((transform.f - miny) / 100)
        block = values[r0:r1, c0:c1]
        window_transform = Affine(100, 0, transform.c + 100 * c0, 0, -100, transform.f - 100 * r0)
        mask = geometry_mask([geom], out_shape=block.shape, transform=window_transform, invert=True)
        sums[k] = block[mask].astype(np.float64).sum()
    np.testing.assert_allclose(sums, oa.population.to_numpy(float), rtol=1e-5)
    assert math.isclose(
        values[values > 0].astype(np.float64).sum(), oa.population.sum(), rel_tol=1e-6
    )


def test_raster_against_exactextract(committed, bounds):
    exactextract = pytest.importorskip("exactextract")
    lsoa = bounds["lsoa"]
    out = exactextract.exact_extract(
        str(committed / demo.FILES["population"]),
        lsoa,
        "sum",
        include_cols=["lsoa_code"],
        output="pandas",
    )
    got = out.set_index("lsoa_code")["sum"].loc[lsoa.lsoa_code].to_numpy()
    # coverage-weighted sums split boundary cells (and drop the part of county-edge cells that
    # lies outside the county), so they match closely but not exactly
    assert math.isclose(got.sum(), lsoa.population.sum(), rel_tol=1e-3)
    rel = np.abs(got - lsoa.population) / lsoa.population
    assert np.median(rel) < 0.05


# --- assets -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(committed):
    return _layer(committed, "assets", "assets"), _layer(committed, "assets", "green_space")


def test_asset_categories_and_groups(assets):
    points, green = assets
    assert list(points.columns) == ["asset_id", "name", "category", "group", "geometry"]
    expected = {c: g for g, cats in GROUPS.items() for c in cats}
    assert set(points.category) == set(expected)
    assert (points.group == points.category.map(expected)).all()
    counts = points.category.value_counts()
    assert counts.idxmax() == "bus_stop"
    assert 2_000 <= len(points) <= 8_000
    assert points.asset_id.is_unique and points.asset_id.is_monotonic_increasing
    assert set(green.category) == {"park", "playground", "nature_reserve"}
    assert (green.group == "green_space").all()
    assert (shapely.get_type_id(points.geometry.values) == 0).all()
    assert shapely.is_valid(green.geometry.values).all()


def test_green_points_are_point_on_surface(assets):
    points, green = assets
    pts = points.set_index("asset_id").geometry
    is_green = points.category.isin(GROUPS["green_space"])
    assert set(points.asset_id[is_green]) == set(green.asset_id)
    expected = shapely.point_on_surface(green.geometry.values)
    assert shapely.equals_exact(pts.loc[green.asset_id].values, expected, tolerance=0).all()
    assert (points.set_index("asset_id").loc[green.asset_id].name.values == green.name.values).all()


def test_assets_inside_county_and_some_areas_lack_categories(assets, bounds):
    points, _ = assets
    lsoa = bounds["lsoa"]
    county = shapely.union_all(lsoa.geometry.values)
    assert shapely.covered_by(points.geometry.values, county).all()
    pi, li = shapely.STRtree(lsoa.geometry.values).query(points.geometry.values, predicate="within")
    table = pd.crosstab(
        pd.Series(li, name="lsoa"), pd.Series(points.category.to_numpy(str)[pi], name="cat")
    )
    table = table.reindex(range(len(lsoa)), fill_value=0)
    for key in ("gp", "pharmacy", "secondary_school", "library", "community_centre"):
        missing = (table[key] == 0).sum()
        assert 0 < missing < len(lsoa), key
    # clustered: the densest tenth of LSOAs hold far more non-bus assets per km2 than the
    # sparser half
    km2 = shapely.area(lsoa.geometry.values) / 1e6
    density = (lsoa.population / km2).to_numpy()
    per_km2 = table.drop(columns="bus_stop").sum(axis=1).to_numpy() / km2
    top = density >= np.quantile(density, 0.9)
    low = density < np.quantile(density, 0.5)
    assert per_km2[top].mean() > 5 * per_km2[low].mean()


# --- roads --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def roads(committed):
    return _layer(committed, "roads", "roads")


def test_road_classes_and_types(roads):
    assert {"road_class", "oneway"} <= set(roads.columns)
    assert set(roads.road_class) == {
        "motorway",
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "track",
    }
    assert roads.oneway.dtype == bool and roads.oneway.any() and not roads.oneway.all()
    geoms = roads.geometry.values
    assert (shapely.get_type_id(geoms) == 1).all()
    xy = shapely.get_coordinates(geoms)
    assert np.array_equal(xy, np.round(xy))


def test_road_network_connected_and_split_at_junctions(roads):
    geoms = roads.geometry.values
    ends = np.vstack(
        [
            shapely.get_coordinates(shapely.get_point(geoms, 0)),
            shapely.get_coordinates(shapely.get_point(geoms, -1)),
        ]
    )
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    n = len(geoms)
    graph = sparse.coo_matrix((np.ones(n), (node[:n], node[n:])), shape=(node.max() + 1,) * 2)
    n_comp, _ = connected_components(graph, directed=False)
    assert n_comp == 1
    # apart from the motorway (bridges), roads meet only at shared end points
    other = geoms[roads.road_class.values != "motorway"]
    tree = shapely.STRtree(other)
    a, _ = tree.query(other, predicate="crosses")
    assert len(a) == 0
    a, _ = tree.query(other, predicate="overlaps")
    assert len(a) == 0
    end_pts = shapely.points(np.unique(ends, axis=0))
    pi, ei = tree.query(end_pts, predicate="intersects")
    on_interior = ~shapely.intersects(end_pts[pi], shapely.boundary(other[ei]))
    assert not on_interior.any()


# --- tables -------------------------------------------------------------------------------------


def test_turnout_by_ward(committed, bounds):
    t = pd.read_csv(committed / demo.FILES["turnout"], dtype={"ward_code": str})
    assert list(t.columns) == ["ward_code", "electorate", "votes", "turnout_pct"]
    ward = bounds["ward"]
    missing = sorted(set(ward.ward_code) - set(t.ward_code))
    assert len(missing) == 1 and set(t.ward_code) < set(ward.ward_code)
    assert missing[0] in (committed / demo.FILES["readme"]).read_text()
    assert (t.votes <= t.electorate).all() and (t.votes > 0).all()
    np.testing.assert_allclose(t.turnout_pct, np.round(100 * t.votes / t.electorate, 2), atol=1e-9)


def test_broadband_rural_slower(committed, bounds):
    b = pd.read_csv(committed / demo.FILES["broadband"], dtype={"oa_code": str})
    assert list(b.columns) == ["oa_code", "premises", "avg_download_mbps", "pct_below_10mbps"]
    oa = bounds["oa"]
    assert list(b.oa_code) == list(oa.oa_code)
    assert (b.premises > 0).all() and b.pct_below_10mbps.between(0, 100).all()
    density = oa.population / shapely.area(oa.geometry.values)
    assert spearmanr(density, b.avg_download_mbps).statistic > 0.5
    assert spearmanr(b.avg_download_mbps, b.pct_below_10mbps).statistic < -0.5


def test_charities_in_towns(committed, bounds):
    c = pd.read_csv(committed / demo.FILES["charities"])
    assert list(c.columns) == ["charity_id", "name", "easting", "northing"]
    assert c.charity_id.is_unique and 500 <= len(c) <= 3_000
    lsoa = bounds["lsoa"]
    pts = shapely.points(c.easting, c.northing)
    pi, li = shapely.STRtree(lsoa.geometry.values).query(pts, predicate="within")
    assert len(np.unique(pi)) == len(c)  # every charity is in exactly one LSOA
    per_lsoa = np.bincount(li, minlength=len(lsoa))
    density = lsoa.population / shapely.area(lsoa.geometry.values)
    assert spearmanr(density, per_lsoa / shapely.area(lsoa.geometry.values)).statistic > 0.5


def test_imd_ranks_and_deciles(committed, bounds):
    imd = pd.read_csv(committed / demo.FILES["imd"], dtype={"lsoa_code": str})
    assert list(imd.columns) == ["lsoa_code", "imd_score", "imd_rank", "imd_decile"]
    lsoa = bounds["lsoa"]
    n = len(lsoa)
    assert list(imd.lsoa_code) == list(lsoa.lsoa_code)
    assert sorted(imd.imd_rank) == list(range(1, n + 1))
    by_rank = imd.sort_values("imd_rank")
    assert by_rank.imd_score.is_monotonic_decreasing
    assert (imd.imd_decile == np.ceil(10 * imd.imd_rank / n)).all()
    # deprivation sits in towns: the worst decile is far denser than the rest
    density = (lsoa.population / shapely.area(lsoa.geometry.values)).to_numpy()
    worst = imd.imd_decile.to_numpy() == 1
    assert np.median(density[worst]) > 2 * np.median(density[~worst])


def test_readme_describes_every_file(committed):
    text = (committed / demo.FILES["readme"]).read_text()
    assert "synthetic" in text.lower()
    assert "python -m cni_geo.demo" in text
    for rel in demo.FILES.values():
        if not rel.endswith("README.md"):
            assert Path(rel).name in text, rel
    assert re.search(r"\b\d{3},\d{3} residents", text)


def test_demo_files_are_small(committed):
    total = sum((committed / rel).stat().st_size for rel in demo.FILES.values())
    assert total <= 5 * 1024 * 1024
