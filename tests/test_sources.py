"""The sources room: readers, checks and explicit reprojection (real Camden data + tiny files)."""

from __future__ import annotations

import json
import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely

from cni_geo.errors import ColumnError, CRSError, DataError, GeometryError, SourceError
from cni_geo.sources import (
    check_raster,
    code_changes,
    read_areas,
    read_assets,
    read_iod,
    read_points,
    read_postcodes,
    read_table,
    to_working_crs,
)


def _squares(n=3, crs="EPSG:27700", codes=None):
    """n 1 km squares in a row, codes A0.. (areas of exactly 1 km2)."""
    geoms = [shapely.box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(n)]
    codes = codes or [f"A{i}" for i in range(n)]
    return gpd.GeoDataFrame(
        {"code": codes, "label": [f"n{i}" for i in range(n)]}, geometry=geoms, crs=crs
    )


# --- real data -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "n", "idcol"),
    [
        ("Camden_oa11", 749, "OA11CD"),
        ("Camden_lsoa11", 133, "LSOA11CD"),
        ("Camden_msoa11", 28, "MSOA11CD"),
    ],
)
def test_camden_2011_boundaries_join_census_totals(camden, stem, n, idcol):
    areas = read_areas(camden / "boundaries" / f"{stem}.shp")
    assert len(areas) == n and areas.index.name == idcol
    assert areas.crs.to_epsg() == 27700 and areas.geometry.is_valid.all()
    level = stem.split("_")[1]
    ks = read_table(camden / "population" / f"KS101EW_{level}.csv", id="GeographyCode")
    assert set(ks.index) == set(areas.index)
    # published total: 220,338 usual residents at every 2011 level
    assert ks.loc[areas.index, "KS101EW0001"].sum() == 220_338


def test_camden_lsoas_nest_in_msoas(camden):
    lsoa = read_areas(camden / "boundaries" / "Camden_lsoa11.shp")
    msoa = read_areas(camden / "boundaries" / "Camden_msoa11.shp")
    assert lsoa.area.sum() == pytest.approx(msoa.area.sum(), rel=1e-6)


def test_camden_census_2021_table(camden):
    t = read_table(camden / "population" / "census2021_TS001_camden.csv", id="Geography code")
    kinds = t["Geography area type"].value_counts()
    assert kinds["LSOA"] == 130 and kinds["MSOA"] == 27
    # published figures (README): OA rows sum to 210,124, the LAD row says 210,136
    assert t.loc[t["Geography area type"] == "Output Area", "Total"].sum() == 210_124
    assert t.loc["E09000007", "Total"] == 210_136


def test_code_changes_lsoa_2011_to_2021(camden):
    old = read_table(camden / "population" / "KS101EW_lsoa11.csv", id="GeographyCode").index
    t = read_table(camden / "population" / "census2021_TS001_camden.csv", id="Geography code")
    new = t.index[t["Geography area type"] == "LSOA"]
    report = code_changes(old, new)
    assert report.counts == {"unchanged": 124, "new": 6, "retired": 9}
    assert set(report.unchanged) == set(old) & set(new)


def test_iod_files(camden):
    f1 = read_iod(camden / "imd" / "File_1_-_IMD2019_Index_of_Multiple_Deprivation_Camden.csv")
    f2 = read_iod(camden / "imd" / "File_2_-_IoD2019_Domains_of_Deprivation_Camden.csv")
    assert len(f1) == 133 and f1.index.name == "lsoa_code"
    # IoD convention: decile = ceil(10 * rank / 32,844) (checked on every published Camden pair)
    expected = np.ceil(10 * f1["imd_rank"] / 32_844)
    assert (f1["imd_decile"] == expected).all()
    assert (f2.loc[f1.index, "imd_rank"] == f1["imd_rank"]).all()
    for dom in (
        "income",
        "employment",
        "education",
        "health",
        "crime",
        "barriers",
        "living_environment",
    ):
        assert (f2[f"{dom}_decile"] == np.ceil(10 * f2[f"{dom}_rank"] / 32_844)).all()
    assert f1.attrs["headers"]["imd_rank"] == "Index of Multiple Deprivation (IMD) Rank"
    # the raw file writes ranks with thousands separators: compare with an independent parse
    raw = pd.read_csv(
        camden / "imd" / "File_1_-_IMD2019_Index_of_Multiple_Deprivation_Camden.csv", dtype=str
    )
    first = int(raw.iloc[0, 4].replace(",", ""))
    assert f1.loc[raw.iloc[0, 0], "imd_rank"] == first


def test_wards_geojsonseq_reprojected_with_log(camden, caplog):
    path = camden / "boundaries" / "camden_wards_wd19.geojsonl"
    with caplog.at_level(logging.INFO, logger="cni_geo.sources"):
        wards = read_areas(path)
    assert len(wards) == 18 and wards.crs.to_epsg() == 27700
    assert set(wards.index) == {f"E050001{i}" for i in range(28, 46)}
    assert wards.loc["E05000128", "name"] == "Belsize"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "EPSG:4326" in logged and "OSGB36" in logged and "accuracy" in logged
    # independent transform of the first vertex with pyproj's default transformer
    first = json.loads(path.read_text().splitlines()[0])
    lon, lat = first["geometry"]["coordinates"][0][0][0]
    x, y = pyproj.Transformer.from_crs(4326, 27700, always_xy=True).transform(lon, lat)
    got = shapely.get_coordinates(wards.loc["E05000128", "geometry"])[0]
    assert got == pytest.approx([x, y], abs=1e-6)
    lsoa = read_areas(camden / "boundaries" / "Camden_lsoa11.shp")
    # README: the ward union differs from the LSOA union by ~0.128 km2 of slivers
    diff = shapely.symmetric_difference(wards.union_all(), lsoa.union_all()).area / 1e6
    assert 0.05 < diff < 0.3


def test_schools_eastings_and_lonlat_agree(camden):
    path = camden / "schools" / "gias_schools_camden_2025-05.csv"
    en = read_points(path, id="urn")
    ll = read_points(path, id="urn", x="longitude", y="latitude", crs="EPSG:4326")
    assert len(en) == 104 and en.index[0] == "100005"
    d = en.distance(ll.loc[en.index])
    assert d.max() < 10  # DfE rounds eastings to 1 m and lon/lat comes via another datum path
    raw = pd.read_csv(path)
    assert en.geometry.x.to_numpy() == pytest.approx(raw["easting"].to_numpy())


def _ring_area(xy):
    xy = xy - xy[0]  # shift for floating-point stability
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * (np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def test_edge_case_hole_and_inverted_ring(camden):
    for stem in ("ward-hole", "ward-inverted"):
        path = camden / "edge-cases" / f"{stem}.shp"
        areas = read_areas(path)
        raw = pyogrio.read_dataframe(path).geometry.iloc[0]
        parts = [raw] if raw.geom_type == "Polygon" else list(raw.geoms)
        expected = 0.0
        for poly in parts:
            expected += abs(_ring_area(np.asarray(poly.exterior.coords)))
            expected -= sum(abs(_ring_area(np.asarray(r.coords))) for r in poly.interiors)
        if stem == "ward-hole":
            assert len(parts[0].interiors) >= 1
        assert areas.geometry.iloc[0].is_valid
        assert areas.area.iloc[0] == pytest.approx(expected, rel=1e-9)


# --- tiny files: validation ----------------------------------------------------------------


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        read_areas(tmp_path / "nope.gpkg")
    (tmp_path / "bad.gpkg").write_text("this is not a geopackage")
    with pytest.raises(SourceError, match="bad.gpkg"):
        read_areas(tmp_path / "bad.gpkg")
    _squares().to_file(tmp_path / "really.geojson", driver="GeoJSON")
    (tmp_path / "really.geojson").rename(tmp_path / "really.gpkg")
    with pytest.raises(SourceError, match="GeoJSON"):
        read_areas(tmp_path / "really.gpkg")


def test_layers_empty_and_unknown(tmp_path):
    path = tmp_path / "two.gpkg"
    _squares().to_file(path, layer="a")
    _squares().iloc[:0].to_file(path, layer="empty")
    with pytest.raises(SourceError, match="a, empty"):
        read_areas(path)
    with pytest.raises(SourceError, match="no layer 'zz'.*a, empty"):
        read_areas(path, layer="zz")
    with pytest.raises(SourceError, match="no features"):
        read_areas(path, layer="empty")
    assert list(read_areas(path, layer="a").index) == ["A0", "A1", "A2"]


def test_no_crs_and_override(tmp_path):
    path = tmp_path / "nocrs.gpkg"
    _squares().set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(CRSError, match="no CRS"):
        read_areas(path)
    areas = read_areas(path, crs="EPSG:27700")
    assert areas.area.tolist() == pytest.approx([1e6] * 3)


def test_geographic_to_working_crs_explicit(caplog):
    g = gpd.GeoDataFrame(geometry=[shapely.Point(-0.1276, 51.5072)], crs="EPSG:4326")
    with caplog.at_level(logging.INFO, logger="cni_geo.sources"):
        out = to_working_crs(g, "EPSG:27700", name="pts")
    assert "pts" in caplog.text and "EPSG:4326" in caplog.text
    x, y = pyproj.Transformer.from_crs(4326, 27700, always_xy=True).transform(-0.1276, 51.5072)
    assert (out.geometry.x.iloc[0], out.geometry.y.iloc[0]) == pytest.approx((x, y), abs=1e-6)
    assert g.crs.to_epsg() == 4326  # input untouched
    with pytest.raises(CRSError, match="metres"):
        to_working_crs(g, "EPSG:4326")
    with pytest.raises(CRSError, match="no CRS"):
        to_working_crs(g.set_crs(None, allow_override=True))


def test_id_detection_and_errors(tmp_path):
    g = _squares().rename(columns={"code": "LSOA21CD", "label": "LSOA21NM"})
    g.to_file(tmp_path / "ons.gpkg")
    areas = read_areas(tmp_path / "ons.gpkg")
    assert areas.index.name == "LSOA21CD" and areas["name"].tolist() == ["n0", "n1", "n2"]
    _squares().rename(columns={"code": "foo"}).to_file(tmp_path / "x.gpkg")
    with pytest.raises(ColumnError, match="foo"):
        read_areas(tmp_path / "x.gpkg")
    with pytest.raises(ColumnError, match="no column 'bar'.*foo, label"):
        read_areas(tmp_path / "x.gpkg", id="bar")
    _squares(codes=["A", "B", "A"]).to_file(tmp_path / "dup.gpkg")
    with pytest.raises(DataError, match="more than once.*A"):
        read_areas(tmp_path / "dup.gpkg", id="code")


def test_invalid_repaired_empty_and_mixed(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000), (0, 0)])
    g = gpd.GeoDataFrame(
        {"code": ["B", "S"]}, geometry=[bowtie, shapely.box(2000, 0, 3000, 1000)], crs=27700
    )
    g.to_file(tmp_path / "bow.gpkg")
    with pytest.warns(UserWarning, match="1 of 2 geometries.*repaired"):
        areas = read_areas(tmp_path / "bow.gpkg", id="code")
    # the bowtie is two triangles of 250,000 m2 each
    assert areas.area["B"] == pytest.approx(500_000)
    e = gpd.GeoDataFrame(
        {"code": ["E", "S"]}, geometry=[shapely.Polygon(), shapely.box(0, 0, 1, 1)], crs=27700
    )
    e.to_file(tmp_path / "empty.gpkg")
    with pytest.raises(GeometryError, match="1 of 2 areas.*empty.*E"):
        read_areas(tmp_path / "empty.gpkg", id="code")
    m = gpd.GeoDataFrame(
        {"code": ["P", "S"]}, geometry=[shapely.Point(0, 0), shapely.box(0, 0, 1, 1)], crs=27700
    )
    m.to_file(tmp_path / "mixed.gpkg")
    with pytest.raises(GeometryError, match="Point"):
        read_areas(tmp_path / "mixed.gpkg", id="code")


def test_points_csv_detection_and_missing(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text(
        "\ufeffid,Longitude,Latitude\n1,-0.1276,51.5072\n2,,51.5\n3,-0.13,51.51\n", encoding="utf-8"
    )
    with pytest.warns(UserWarning, match="1 of 3 rows.*no coordinates"):
        pts = read_points(p, id="id")
    assert list(pts.index) == ["1", "3"]
    x, y = pyproj.Transformer.from_crs(4326, 27700, always_xy=True).transform(-0.13, 51.51)
    assert pts.geometry.x["3"] == pytest.approx(x, abs=1e-6)
    q = tmp_path / "xy.csv"
    q.write_text("x,y\n500,600\n700,abc\n")
    with pytest.raises(ColumnError, match="'y'.*row 3"):
        read_points(q, x="x", y="y", crs=27700)
    with pytest.raises(CRSError):
        read_points(q, x="x", y="y")


def test_assets_points_and_polygons(tmp_path):
    g = gpd.GeoDataFrame(
        {"kind": ["library", "park"]},
        geometry=[shapely.Point(10, 20), shapely.box(0, 0, 1000, 1000)],
        crs=27700,
    )
    g.to_file(tmp_path / "a.gpkg")
    a = read_assets(tmp_path / "a.gpkg", category="kind")
    assert a["category"].tolist() == ["library", "park"]
    assert a.geom_type.eq("Point").all() and a["source_geometry"].tolist() == ["Point", "Polygon"]
    assert shapely.contains(shapely.box(0, 0, 1000, 1000), a.geometry.iloc[1])
    with pytest.raises(ColumnError, match="kind"):
        read_assets(tmp_path / "a.gpkg")


def test_read_table_nomis_bom_thousands_and_errors(tmp_path):
    p = tmp_path / "nomis.csv"
    p.write_text(
        '\ufeff"KS101EW - Usual resident population"\n"ONS Crown Copyright Reserved"\n\n'
        '"2011 output area","mnemonic","All usual residents"\n'
        '"Camden 001A","E00004120","1,314"\n"Camden 001B","E00004121","250"\n\n'
        '"In order to protect against disclosure of personal information, records have been swapped"\n',
        encoding="utf-8",
    )
    t = read_table(p, id="mnemonic")
    assert t["All usual residents"].to_dict() == {"E00004120": 1314, "E00004121": 250}
    with pytest.raises(ColumnError, match="no column.*'zz'.*mnemonic"):
        read_table(p, id="mnemonic", columns=["zz"])
    bad = tmp_path / "bad.csv"
    bad.write_text("code,v\nA,1\nB,2\nC,three\n")
    with pytest.raises(ColumnError, match="'v'.*line 4.*three"):
        read_table(bad, id="code")
    dup = tmp_path / "dup.csv"
    dup.write_text("code,v\nA,1\nA,2\n")
    with pytest.raises(DataError, match="A"):
        read_table(dup, id="code")
    marks = tmp_path / "marks.csv"
    marks.write_text("code,v\n00A,1\n00B,..\n")
    with pytest.warns(UserWarning, match="1 of 2 values"):
        t = read_table(marks, id="code")
    assert t.index.tolist() == ["00A", "00B"] and math.isnan(t.loc["00B", "v"])
    with pytest.raises(ColumnError, match="no column 'nope'"):
        read_table(marks, id="nope")


def test_read_postcodes_nspl_layout(tmp_path):
    p = tmp_path / "nspl.csv"
    p.write_text(
        "pcd,pcd2,pcds,dointr,doterm,oseast1m,osnrth1m,lsoa21cd\n"
        "NW1 2DB,NW1  2DB,NW1 2DB,198001,,529900,182700,E01000001\n"
        "NW1 9ZZ,NW1  9ZZ,NW1 9ZZ,198001,200301,529950,182750,E01000001\n"
        "GY1 1AA,GY1  1AA,GY1 1AA,198001,,,,\n"
    )
    with pytest.warns(UserWarning, match="1 of 2 postcodes.*no grid reference"):
        pc = read_postcodes(p, columns=["LSOA21CD"])
    assert pc.index.tolist() == ["NW1 2DB"]
    assert (pc.geometry.x.iloc[0], pc.geometry.y.iloc[0]) == (529900, 182700)
    assert pc["lsoa21cd"].iloc[0] == "E01000001"


def test_check_raster(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    path = tmp_path / "r.tif"
    profile = dict(
        driver="GTiff",
        width=3,
        height=2,
        count=1,
        dtype="float32",
        transform=from_origin(1000, 2000, 100, 100),
    )
    with rasterio.open(path, "w", crs="EPSG:27700", nodata=-1, **profile) as dst:
        dst.write(np.ones((1, 2, 3), dtype="float32"))
    meta = check_raster(path, working_crs="EPSG:27700")
    assert (
        meta["bounds"] == (1000, 1800, 1300, 2000)
        and meta["nodata"] == -1
        and meta["matches_working_crs"]
    )
    with rasterio.open(tmp_path / "nocrs.tif", "w", **profile) as dst:
        dst.write(np.ones((1, 2, 3), dtype="float32"))
    with pytest.raises(CRSError, match="no CRS"):
        check_raster(tmp_path / "nocrs.tif", working_crs="EPSG:27700")
    with rasterio.open(tmp_path / "nonodata.tif", "w", crs="EPSG:27700", **profile) as dst:
        dst.write(np.ones((1, 2, 3), dtype="float32"))
    with pytest.warns(UserWarning, match="no nodata"):
        check_raster(tmp_path / "nonodata.tif", working_crs="EPSG:27700")
