"""OpenStreetMap readers on the real Camden extract, checked against independent pyogrio counts."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import yaml

from cni_geo.errors import RecipeError, SourceError
from cni_geo.sources import load_catalogue, read_osm_assets, read_osm_roads
from cni_geo.sources._osm import GROUPS, NOT_ROADS, default_catalogue_path


@pytest.fixture(scope="module")
def pbf(camden):
    return camden / "osm" / "camden.osm.pbf"


@pytest.fixture(scope="module")
def raw(pbf):
    return {lyr: pyogrio.read_dataframe(pbf, layer=lyr) for lyr in ("points", "multipolygons")}


@pytest.fixture(scope="module")
def assets(pbf):
    return read_osm_assets(pbf, dedupe=False)


def _independent(raw, key, value):
    """Features tagged key=value: a column where GDAL made one, else a substring of other_tags."""
    total = 0
    for frame in raw.values():
        if key in frame.columns:
            total += int((frame[key] == value).sum())
        else:
            total += int(
                frame["other_tags"]
                .fillna("")
                .str.contains(f'"{key}"=>"{value}"', regex=False)
                .sum()
            )
    return total


@pytest.mark.parametrize(
    ("category", "key", "value"),
    [
        ("library", "amenity", "library"),
        ("place_of_worship", "amenity", "place_of_worship"),
        ("arts_centre", "amenity", "arts_centre"),
        ("theatre", "amenity", "theatre"),
        ("playground", "leisure", "playground"),
        ("post_office", "amenity", "post_office"),
        ("hospital", "amenity", "hospital"),
    ],
)
def test_category_counts_match_independent_count(assets, raw, category, key, value):
    assert assets.counts[category] == _independent(raw, key, value)


def test_published_readme_counts(assets):
    # ../shared/data/camden/README.md: library (21), place_of_worship (103), arts_centre (12)
    assert assets.counts["library"] == 21
    assert assets.counts["place_of_worship"] == 103
    assert assets.counts["arts_centre"] == 12


def test_asset_frame_shape(assets, raw):
    pts, polys, counts = assets
    assert pts.crs.to_epsg() == 27700 and pts.geom_type.eq("Point").all()
    assert counts.sum() == len(pts) and pts.index.is_unique
    assert set(pts["group"]) <= set(GROUPS)
    assert pts.loc[pts.category == "library", "group"].eq("culture").all()
    # polygon features keep their polygons (same ids) and their point lies inside them
    assert len(polys) == (pts["source_geometry"] == "Polygon").sum()
    inside = polys.geometry.buffer(1e-6).contains(pts.loc[polys.index].geometry)
    assert inside.all()
    # the schools split (primary/secondary/unknown phase) adds up to amenity=school
    school = counts[["primary_school", "secondary_school", "school"]].sum()
    assert school == _independent(raw, "amenity", "school")
    # names come through from the OSM `name` tag
    lib = pts[pts.category == "library"]
    assert lib["name"].str.contains("Library", case=False).sum() >= 10


def test_dedupe_drops_points_inside_same_category_polygons(pbf, assets):
    deduped = read_osm_assets(pbf)
    pts = assets.points
    p, q = pts[pts.source_geometry == "Point"], pts[pts.source_geometry == "Polygon"]
    polys = assets.polygons
    j = gpd.sjoin(p, polys[["category", "geometry"]], predicate="within", how="inner")
    dup = j[j["category_left"] == j["category_right"]].index.unique()
    assert len(deduped.points) == len(pts) - len(dup)
    assert len(q) == (deduped.points.source_geometry == "Polygon").sum()


def test_roads(pbf, raw):
    roads = read_osm_roads(pbf)
    lines = pyogrio.read_dataframe(pbf, layer="lines")
    kept = lines["highway"].notna() & ~lines["highway"].isin(NOT_ROADS)
    assert len(roads) == kept.sum()
    tags = lines["other_tags"].fillna("")
    ow = tags.str.contains('"oneway"=>"yes"', regex=False) & kept
    back = tags.str.contains('"oneway"=>"-1"', regex=False) & kept
    assert (roads["oneway"] == -1).sum() == back.sum()
    assert (roads["oneway"] == 1).sum() >= ow.sum()  # plus roundabouts
    assert roads.crs.to_epsg() == 27700 and roads.geom_type.eq("LineString").all()


def test_default_catalogue_is_valid_and_documented(repo_root):
    assert default_catalogue_path() == repo_root / "data" / "catalogues" / "osm_assets.yaml"
    cat = load_catalogue()
    need = {
        "community_centre": "community_space", "place_of_worship": "community_space",
        "youth_club": "community_space", "nursery": "education", "primary_school": "education",
        "secondary_school": "education", "college": "education", "sports_centre": "sport_leisure",
        "swimming_pool": "sport_leisure", "pub": "sport_leisure", "library": "culture",
        "museum": "culture", "arts_centre": "culture", "theatre": "culture", "park": "green_space",
        "playground": "green_space", "nature_reserve": "green_space", "gp": "service",
        "pharmacy": "service", "food_shop": "service", "post_office": "service",
        "hospital": "service", "bus_stop": "service", "rail_station": "service",
    }  # fmt: skip
    assert {k: cat["categories"][k]["group"] for k in need} == need
    doc = (repo_root / "docs" / "osm-catalogue.md").read_text()
    for k in need:
        assert f"`{k}`" in doc


def test_bad_catalogues(tmp_path, pbf):
    with pytest.raises(RecipeError, match="unknown key 'categorys'"):
        load_catalogue(
            {"categorys": {}, "categories": {"a": {"group": "culture", "rules": [{"x": 1}]}}}
        )
    with pytest.raises(RecipeError, match="categories.lib: unknown key 'tag'"):
        load_catalogue({"categories": {"lib": {"group": "culture", "tag": {}}}})
    with pytest.raises(RecipeError, match="unknown group 'cultur'"):
        load_catalogue(
            {"categories": {"lib": {"group": "cultur", "rules": [{"amenity": "library"}]}}}
        )
    nothing = tmp_path / "nothing.yaml"
    nothing.write_text(
        yaml.safe_dump(
            {"categories": {"x": {"group": "culture", "rules": [{"amenity": "no_such_value"}]}}}
        )
    )
    with pytest.raises(SourceError, match=r"no feature.*tag keys found.*amenity"):
        read_osm_assets(pbf, catalogue=nothing)


def test_truncated_and_missing_pbf(tmp_path, pbf):
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(pbf.read_bytes()[:1_000_000])
    with pytest.raises(SourceError, match="truncated"):
        read_osm_assets(cut)
    with pytest.raises(SourceError, match="truncated"):
        read_osm_roads(cut)
    with pytest.raises(SourceError, match="does not exist"):
        read_osm_assets(tmp_path / "none.osm.pbf")
    fake = tmp_path / "fake.osm.pbf"
    fake.write_bytes(b"\x00\x00\x00\x0d\x0a\x07OSMData\x18\x05hello")
    with pytest.raises(SourceError):
        read_osm_assets(fake)


def test_counts_are_a_series_in_catalogue_order(assets):
    assert isinstance(assets.counts, pd.Series)
    assert list(assets.counts.index) == list(load_catalogue()["categories"])
