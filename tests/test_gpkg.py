"""GeoPackage writer: read the file back with pyogrio and sqlite3 and compare with the input."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cni_geo.errors import ColumnError, OutputError, OutputExistsError
from cni_geo.export import gpkg as gpkg_mod
from cni_geo.export.classify import decile_classification
from cni_geo.export.gpkg import write_geopackage

NCOL, NROW = 5, 4


def grid_areas() -> gpd.GeoDataFrame:
    """A 5 x 4 grid of 1 km squares in EPSG:27700; cell k (row-major from the south-west) has
    decile k % 10 + 1, except cell 12 whose decile is missing."""
    rows, cols = np.divmod(np.arange(NCOL * NROW), NCOL)
    geom = shapely.box(cols * 1000.0, rows * 1000.0, cols * 1000.0 + 1000, rows * 1000.0 + 1000)
    k = np.arange(NCOL * NROW)
    decile = (k % 10 + 1).astype("float64")
    decile[12] = np.nan
    rank = np.where(np.isnan(decile), np.nan, k + 1.0)
    return gpd.GeoDataFrame(
        {
            "name": [f"Area {i}" for i in k],
            "population": 1000 + 10 * k,
            "gp_distance": np.where(k == 3, np.nan, k * 125.5),
            "gp_distance_coverage": np.linspace(0.5, 1.0, len(k)),
            "cni_score": 100.0 - k * 3.25,
            "cni_rank": rank,
            "cni_decile": decile,
            "civic_score": k * 1.5,
            "civic_decile": 11.0 - (k % 10 + 1),
            "left_behind": k % 6 == 0,
        },
        geometry=geom,
        crs="EPSG:27700",
        index=pd.Index([f"E01{i:06d}" for i in k], name="lsoa_code"),
    )


def assets_frame() -> gpd.GeoDataFrame:
    cats = ["library", "pub", "community_centre"] * 3
    return gpd.GeoDataFrame(
        {
            "category": cats,
            "group": ["culture", "sport", "community"] * 3,
            "name": [f"Asset {i}" for i in range(9)],
        },
        geometry=shapely.points(np.arange(9) * 500.0 + 250, np.full(9, 2250.0)),
        crs="EPSG:27700",
    )


META = {
    "version": "0.1.0",
    "recipe": {"name": "demo", "path": "recipes/demo.yaml"},
    "inputs": {"/home/someone/data/boundaries.gpkg": "ab" * 32},
    "crs": "EPSG:27700",
    "conventions": {"rank": "1 = highest need, ties min", "decile": "ceil(10 x rank / N)"},
    "licences": ["Open Government Licence v3.0", "ODbL 1.0 (OpenStreetMap)"],
    "attribution": "Contains OS data (c) Crown copyright; (c) OpenStreetMap contributors",
}


def write(path, areas=None, **kw):
    kw.setdefault("domains", ["civic"])
    kw.setdefault("assets", assets_frame())
    kw.setdefault("metadata", META)
    kw.setdefault("aliases", {"gp_distance": "Distance to GP (m)"})
    kw.setdefault(
        "descriptions", {"gp_distance": "Straight-line distance to the nearest GP surgery."}
    )
    return write_geopackage(path, grid_areas() if areas is None else areas, **kw)


def rows(path, query, params=()):
    con = sqlite3.connect(path)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpkg") / "cni.gpkg"
    write(path, extra_layers={"roads": roads_frame()})
    return path


def roads_frame():
    return gpd.GeoDataFrame(
        {"highway": ["primary", "residential"]},
        geometry=[
            shapely.LineString([(0, 0), (5000, 4000)]),
            shapely.LineString([(0, 4000), (5000, 0)]),
        ],
        crs="EPSG:27700",
    )


# ------------------------------------------------------------------------------- content
def test_layers_and_counts(written):
    names = {n for n, _ in pyogrio.list_layers(written)}
    assert {"areas", "left_behind", "assets", "roads", "layer_styles"} <= names
    src = grid_areas()
    assert pyogrio.read_info(written, layer="areas")["features"] == 20
    # cells 0, 6, 12, 18 are flagged (k % 6 == 0)
    assert pyogrio.read_info(written, layer="left_behind")["features"] == 4
    assert pyogrio.read_info(written, layer="assets")["features"] == 9
    assert pyogrio.read_info(written, layer="roads")["features"] == 2
    lb = pyogrio.read_dataframe(written, layer="left_behind")
    assert list(lb["lsoa_code"]) == [src.index[k] for k in (0, 6, 12, 18)]


def test_areas_roundtrip_values(written):
    src = grid_areas()
    back = pyogrio.read_dataframe(written, layer="areas")
    assert list(back.columns) == ["lsoa_code", *src.columns.drop("geometry"), "geometry"]
    back = back.set_index("lsoa_code")
    assert list(back.index) == list(src.index)
    for col in src.columns.drop("geometry"):
        a = src[col].to_numpy()
        b = back[col].to_numpy()
        if col == "left_behind" or src[col].dtype == object or col == "name":
            assert list(a) == list(b), col
        else:
            np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=col)
    assert shapely.equals(back.geometry.values, src.geometry.values).all()
    assert back.crs.to_epsg() == 27700


def test_deciles_are_integer_fields(written):
    types = dict(rows(written, "SELECT name, type FROM pragma_table_info('areas')"))
    assert types["cni_decile"] == "INTEGER"
    assert types["cni_rank"] == "INTEGER"
    assert types["cni_score"] == "REAL"
    # the missing decile is NULL, not 0
    assert rows(written, "SELECT cni_decile FROM areas WHERE lsoa_code = 'E01000012'") == [(None,)]


def test_styles_default_and_classes(written):
    styles = {
        r[0]: r[1:]
        for r in rows(
            written, "SELECT f_table_name, styleQML, styleSLD, useAsDefault FROM layer_styles"
        )
    }
    assert set(styles) == {"areas", "left_behind", "assets", "roads"}
    assert all(v[2] == 1 for v in styles.values())
    root = ET.fromstring(styles["areas"][0])
    r = root.find("renderer-v2")
    assert r.get("type") == "graduatedSymbol"
    assert '"cni_decile"' in r.get("attr")
    labels = [e.get("label") for e in r.find("ranges")]
    cls = decile_classification("cni_decile")
    assert labels == [*cls.labels, "No data"]
    # colours by hand: the symbol colours as r,g,b,255 from the classification's hex colours
    colors = {}
    for sym in r.find("symbols"):
        colors[sym.get("name")] = sym.find("layer/prop[@k='color']").get("v")
    expect = [
        ",".join(str(int(h[i : i + 2], 16)) for i in (1, 3, 5)) + ",255"
        for h in (*cls.colors, cls.nodata_color)
    ]
    got = [colors[e.get("symbol")] for e in r.find("ranges")]
    assert got == expect
    aliases = {a.get("field"): a.get("name") for a in root.find("aliases")}
    assert aliases["gp_distance"] == "Distance to GP (m)"
    assert aliases["fid"] == ""
    # assets: categorized on category, one class per distinct value plus "Other"
    ar = ET.fromstring(styles["assets"][0]).find("renderer-v2")
    assert ar.get("type") == "categorizedSymbol" and ar.get("attr") == "category"
    vals = [c.get("value") for c in ar.find("categories")]
    assert vals == ["community_centre", "library", "pub", ""]
    # left behind: an outline without fill
    lr = ET.fromstring(styles["left_behind"][0]).find("renderer-v2")
    assert lr.find("symbols/symbol/layer/prop[@k='style']").get("v") == "no"
    # SLD: well-formed, one rule per class plus no data
    sld = ET.fromstring(styles["areas"][1])
    rules = sld.findall(".//{http://www.opengis.net/se}Rule")
    assert len(rules) == 11


def test_data_columns_and_domains(written):
    dc = {
        (t, c): (n, d, k)
        for t, c, n, d, k in rows(
            written,
            "SELECT table_name, column_name, name, description, constraint_name "
            "FROM gpkg_data_columns",
        )
    }
    assert dc[("areas", "gp_distance")][:2] == (
        "Distance to GP (m)",
        "Straight-line distance to the nearest GP surgery.",
    )
    assert dc[("areas", "cni_decile")][2] == "decile"
    assert dc[("areas", "civic_decile")][2] == "decile"
    assert dc[("assets", "category")][2] == "asset_category"
    assert "1 = highest need" in dc[("areas", "cni_rank")][1]
    enum = rows(
        written,
        "SELECT value, description FROM gpkg_data_column_constraints "
        "WHERE constraint_name = 'decile' AND constraint_type = 'enum' ORDER BY CAST(value AS INT)",
    )
    assert [v for v, _ in enum] == [str(i) for i in range(1, 11)]
    assert enum[0][1] == "1 (highest need)"
    cats = rows(
        written,
        "SELECT value FROM gpkg_data_column_constraints WHERE constraint_name = 'asset_category'",
    )
    assert sorted(v for (v,) in cats) == ["community_centre", "library", "pub"]
    ext = {r[0] for r in rows(written, "SELECT table_name FROM gpkg_extensions")}
    assert {"gpkg_data_columns", "gpkg_data_column_constraints", "gpkg_metadata"} <= ext


def test_metadata_and_contents(written):
    doc = rows(
        written,
        "SELECT m.metadata FROM gpkg_metadata m JOIN gpkg_metadata_reference r "
        "ON r.md_file_id = m.id WHERE r.reference_scope = 'geopackage'",
    )
    prov = json.loads(doc[0][0])
    assert prov["recipe"] == META["recipe"]
    assert prov["licences"] == META["licences"]
    assert prov["conventions"] == META["conventions"]
    # absolute input paths are reduced to file names, the hash kept
    assert prov["inputs"] == {"boundaries.gpkg": "ab" * 32}
    assert prov["layers"] == {"areas": 20, "left_behind": 4, "assets": 9, "roads": 2}
    assert "/home/" not in written.read_bytes().decode("latin-1")
    per_layer = rows(
        written,
        "SELECT r.table_name, m.md_standard_uri FROM gpkg_metadata m "
        "JOIN gpkg_metadata_reference r ON r.md_file_id = m.id WHERE r.reference_scope = 'table'",
    )
    assert {t for t, _ in per_layer} == {"areas", "left_behind", "assets", "roads"}
    contents = {
        r[0]: r[1:]
        for r in rows(written, "SELECT table_name, identifier, description FROM gpkg_contents")
    }
    ident, desc = contents["areas"]
    assert ident.endswith("areas") and "20 areas" in desc
    assert "Open Government Licence" in desc


def test_qgis_project_stored(written):
    import io
    import zipfile

    (name, meta, content) = rows(written, "SELECT name, metadata, content FROM qgis_projects")[0]
    assert name == "cni-geo"
    assert json.loads(meta)["last_modified_user"] == "cni-geo"
    z = zipfile.ZipFile(io.BytesIO(bytes.fromhex(content)))
    qgs = ET.fromstring(z.read(z.namelist()[0]))
    sources = [e.text for e in qgs.iter("datasource")]
    assert "./cni.gpkg|layername=areas" in sources
    assert not any(s.startswith("/") for s in sources)


# ------------------------------------------------------------------------- reproducible
def test_reproducible_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = tmp_path / "a" / "cni.gpkg"
    b = tmp_path / "b" / "cni.gpkg"
    write(a)
    write(b)
    assert sha(a) == sha(b)
    # 1700000000 s after the epoch is 2023-11-14 22:13:20 UTC
    stamps = {r[0] for r in rows(a, "SELECT last_change FROM gpkg_contents")}
    assert stamps == {"2023-11-14T22:13:20.000Z"}


# ----------------------------------------------------------------------------- atomicity
def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "cni.gpkg"
    path.write_bytes(b"previous")
    with pytest.raises(OutputExistsError, match="overwrite"):
        write(path)
    assert path.read_bytes() == b"previous"


def test_failure_midway_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "cni.gpkg"
    write(path)
    before = sha(path)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gpkg_mod, "_write_metadata", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write(path, overwrite=True)
    assert sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cni.gpkg"]


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "cni.gpkg"
    path.write_bytes(b"previous")
    write(path, overwrite=True, assets=None)
    assert pyogrio.read_info(path, layer="areas")["features"] == 20
    assert "assets" not in {n for n, _ in pyogrio.list_layers(path)}


# ----------------------------------------------------------------------------- bad input
def _assert_nothing_written(folder):
    assert list(folder.iterdir()) == []


def test_layer_name_clash(tmp_path):
    for bad in ("areas", "Areas", "layer_styles", "gpkg_contents"):
        with pytest.raises(OutputError, match="clashes"):
            write(tmp_path / "x.gpkg", extra_layers={bad: roads_frame()})
    with pytest.raises(OutputError, match="table name"):
        write(tmp_path / "x.gpkg", extra_layers={"my roads": roads_frame()})
    _assert_nothing_written(tmp_path)


def test_column_case_duplicates(tmp_path):
    areas = grid_areas().assign(Population=1)
    with pytest.raises(ColumnError, match="population / Population"):
        write(tmp_path / "x.gpkg", areas)
    _assert_nothing_written(tmp_path)


def test_reserved_column(tmp_path):
    areas = grid_areas().assign(fid=np.arange(20))
    with pytest.raises(ColumnError, match="'fid'"):
        write(tmp_path / "x.gpkg", areas)
    _assert_nothing_written(tmp_path)


def test_mixed_object_column(tmp_path):
    areas = grid_areas()
    areas["note"] = pd.Series([1, "two"] * 10, index=areas.index, dtype=object)
    with pytest.raises(ColumnError, match="'note'.*int, str"):
        write(tmp_path / "x.gpkg", areas)
    _assert_nothing_written(tmp_path)


def test_missing_decile_column(tmp_path):
    with pytest.raises(ColumnError, match="'connected_decile'"):
        write(tmp_path / "x.gpkg", domains=["civic", "connected"])


def test_output_folder_not_creatable(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        write(blocker / "sub" / "x.gpkg")


def test_output_folder_not_writable(tmp_path, monkeypatch):
    """Root ignores file modes, so the permission check is simulated here; tests/test_errors.py
    (e48) runs the real command against a read-only mount."""
    import cni_geo._util as util

    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setattr(util.os, "access", lambda path, mode: str(path) != str(folder))
    with pytest.raises(OutputError, match="not writable"):
        write(folder / "x.gpkg")
    assert list(folder.iterdir()) == []


def test_extra_layers_and_green_space(tmp_path):
    green = gpd.GeoDataFrame(
        {"kind": ["park"]}, geometry=[shapely.box(100, 100, 900, 900)], crs="EPSG:27700"
    )
    pop = gpd.GeoDataFrame(
        {"population": [10, 20, 30]},
        geometry=shapely.points([500.0, 1500, 2500], [500.0, 500, 500]),
        crs="EPSG:27700",
    )
    path = write(tmp_path / "x.gpkg", green_space=green, extra_layers={"population_points": pop})
    back = pyogrio.read_dataframe(path, layer="population_points")
    assert list(back["population"]) == [10, 20, 30]
    assert pyogrio.read_info(path, layer="green_space")["geometry_type"] == "MultiPolygon"
    styles = dict(rows(path, "SELECT f_table_name, useAsDefault FROM layer_styles"))
    assert styles["green_space"] == 1 and styles["population_points"] == 1


@settings(max_examples=12)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64)),
        min_size=20,
        max_size=20,
    )
)
def test_indicator_values_roundtrip(tmp_path_factory, values):
    """Any float (or missing value) in an indicator column comes back exactly, missing as NaN."""
    areas = grid_areas()
    areas["x"] = np.array([np.nan if v is None else v for v in values], dtype="float64")
    path = tmp_path_factory.mktemp("h") / "x.gpkg"
    write(path, areas, assets=None, qgis_project=False)
    back = pyogrio.read_dataframe(path, layer="areas", columns=["lsoa_code", "x"])
    np.testing.assert_array_equal(back["x"].to_numpy(), areas["x"].to_numpy())


def test_inputs_not_mutated(tmp_path):
    areas = grid_areas()
    assets = assets_frame()
    before_a, before_s = areas.copy(), assets.copy()
    write(tmp_path / "x.gpkg", areas, assets=assets)
    pd.testing.assert_frame_equal(areas, before_a)
    pd.testing.assert_frame_equal(assets, before_s)
