"""The bad-input catalogue (docs/errors.md): one test per entry.

Each test builds a small bad input in ``tmp_path`` (1 km squares in EPSG:27700), runs the
``cni-geo`` command (in process, through click's runner) or the library, and checks what the
user sees: a cni-geo error type, one line on stderr naming the file/layer/column/row/key, what
was found and the fix, and the documented exit code; or, for inputs that are usable, a warning
that carries a count and a correct result.

Set ``CNI_GEO_ERRORS_LOG=FILE`` to append every message seen to FILE (JSON lines); that is how
the messages in docs/errors.md were copied from real runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from click.testing import CliRunner

from cni_geo import errors
from cni_geo.cli import cli

ROOT = Path(__file__).resolve().parents[1]
X0, Y0 = 530_000, 180_000  # a corner in Camden, British National Grid
CODES = ["L1", "L2", "L3", "L4"]
POPULATION = [1000, 2000, 1500, 500]
CATALOGUE_LOG = os.environ.get("CNI_GEO_ERRORS_LOG")


# --------------------------------------------------------------------------------------------
# Small inputs: four 1 km squares, five assets, one table; a recipe using all three.


def squares(n_x: int = 2, n_y: int = 2, *, x0: float = X0, y0: float = Y0) -> list:
    """1 km squares, row by row from the south-west corner."""
    return [
        shapely.box(x0 + i * 1000, y0 + j * 1000, x0 + (i + 1) * 1000, y0 + (j + 1) * 1000)
        for j in range(n_y)
        for i in range(n_x)
    ]


def areas_frame(**columns) -> gpd.GeoDataFrame:
    data = {"code": CODES, "aname": ["North West", "B", "C", "D"], "population": POPULATION}
    data.update(columns)
    geometry = data.pop("geometry", squares())
    crs = data.pop("crs", 27700)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


def assets_frame() -> gpd.GeoDataFrame:
    xy = [(500, 500), (1500, 500), (500, 1500), (1600, 1600), (1200, 1200)]
    return gpd.GeoDataFrame(
        {"category": ["gp", "gp", "library", "library", "gp"], "name": list("abcde")},
        geometry=shapely.points([[X0 + x, Y0 + y] for x, y in xy]),
        crs=27700,
    )


def base_recipe() -> dict:
    return {
        "schema": 1,
        "name": "tiny",
        "sources": {
            "units": {
                "kind": "areas",
                "path": "areas.gpkg",
                "layer": "lsoa",
                "id": "code",
                "name": "aname",
            },
            "assets": {"kind": "assets", "path": "assets.gpkg", "layer": "assets"},
            "tab": {"kind": "table", "path": "t.csv", "id": "code"},
        },
        "units": {"source": "units"},
        "population": {"source": "units", "column": "population"},
        "indicators": {
            "gps": {
                "kind": "count",
                "source": "assets",
                "filter": {"category": "gp"},
                "per": "residents",
                "direction": "low",
                "domain": "d1",
            },
            "val": {
                "kind": "table",
                "source": "tab",
                "column": "v",
                "direction": "high",
                "domain": "d2",
            },
        },
        "index": {"root": "cni", "nodes": {"cni": {"children": ["d1", "d2"]}, "d1": {}, "d2": {}}},
        "outputs": {"folder": "out"},
    }


def make_inputs(folder: Path, *, areas: gpd.GeoDataFrame | None = None, table: str | None = None):
    """Write areas.gpkg (layer lsoa), assets.gpkg, t.csv and r.yaml; return the recipe path."""
    folder.mkdir(parents=True, exist_ok=True)
    (areas if areas is not None else areas_frame()).to_file(folder / "areas.gpkg", layer="lsoa")
    assets_frame().to_file(folder / "assets.gpkg", layer="assets")
    text = table if table is not None else "code,v\nL1,1.0\nL2,2.0\nL3,3.0\nL4,4.0\n"
    (folder / "t.csv").write_text(text, encoding="utf-8")
    return write_recipe(folder, base_recipe())


def write_recipe(folder: Path, raw: dict, name: str = "r.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def run(*args):
    """Run the cni-geo command in process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def _log(kind: str, text: str) -> None:
    if CATALOGUE_LOG:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        with open(CATALOGUE_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": test, "kind": kind, "text": text}) + "\n")


def error_line(res, code: int, *fragments: str) -> str:
    """Assert the run failed with ``code`` and exactly one error line holding ``fragments``."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errs = [ln for ln in lines if not ln.startswith("cni-geo: warning:")]
    _log("error", "\n".join(errs))
    assert res.exit_code == code, (res.exit_code, res.stderr, res.stdout)
    assert len(errs) == 1, res.stderr
    assert "Traceback" not in res.stderr
    line = errs[0]
    assert line.startswith("cni-geo: error: "), line
    for frag in fragments:
        assert re.search(frag, line, flags=re.IGNORECASE), f"{frag!r} not in {line!r}"
    return line


def warning_lines(res, *fragments: str) -> list[str]:
    """Assert the run succeeded and some warning line holds all ``fragments``."""
    assert res.exit_code == 0, res.stderr
    warns = [ln for ln in res.stderr.splitlines() if ln.startswith("cni-geo: warning:")]
    hits = [w for w in warns if all(re.search(f, w, flags=re.IGNORECASE) for f in fragments)]
    for w in hits:
        _log("warning", w)
    assert hits, f"no warning with {fragments} in:\n{res.stderr}"
    return hits


def lib_error(exc_type, func, *args, fragments=(), **kwargs) -> str:
    """Assert a library call raises ``exc_type`` (a CniGeoError) naming ``fragments``."""
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    assert isinstance(info.value, errors.CniGeoError)
    text = str(info.value)
    _log("library error", f"{type(info.value).__name__}: {text}")
    for frag in fragments:
        assert re.search(frag, text, flags=re.IGNORECASE), f"{frag!r} not in {text!r}"
    return text


def output_csv(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "tiny.csv", dtype={"code": str}).set_index("code")


# --------------------------------------------------------------------------------------------
# Files


def test_e01_missing_file(tmp_path):
    recipe = make_inputs(tmp_path)
    (tmp_path / "t.csv").unlink()
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 3, r"sources\.tab\.path", r"t\.csv", "does not exist", "recipe's folder")
    assert not (tmp_path / "out").exists(), "nothing may be written when the recipe is invalid"


def test_e02_missing_file_library(tmp_path):
    from cni_geo.sources import read_areas

    lib_error(
        errors.SourceError,
        read_areas,
        tmp_path / "nowhere.gpkg",
        id="code",
        fragments=[r"nowhere\.gpkg", "does not exist"],
    )


def test_e03_not_what_its_extension_says(tmp_path):
    recipe = make_inputs(tmp_path)
    (tmp_path / "areas.gpkg").write_text("code,aname\nL1,x\n", encoding="utf-8")
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"areas\.gpkg", "GPKG|GeoPackage", "really|rename|convert")


def test_e04_truncated_geopackage(tmp_path):
    recipe = make_inputs(tmp_path)
    gpkg = tmp_path / "areas.gpkg"
    data = gpkg.read_bytes()
    gpkg.write_bytes(data[: len(data) // 3])
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"areas\.gpkg", "truncated|corrupt|complete")


def test_e05_corrupt_geopackage(tmp_path):
    recipe = make_inputs(tmp_path)
    gpkg = tmp_path / "areas.gpkg"
    data = bytearray(gpkg.read_bytes())
    data[1024:4096] = os.urandom(3072)  # scribble over the schema pages
    gpkg.write_bytes(bytes(data))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"areas\.gpkg", "truncated|corrupt|complete")


def test_e06_truncated_pbf(tmp_path, camden):
    from cni_geo.sources import read_osm_assets

    pbf = tmp_path / "camden.osm.pbf"
    data = (camden / "osm" / "camden.osm.pbf").read_bytes()
    pbf.write_bytes(data[: len(data) // 2])
    lib_error(
        errors.SourceError,
        read_osm_assets,
        pbf,
        fragments=[r"camden\.osm\.pbf", "truncated", "download"],
    )


def test_e07_pbf_that_is_not_osm(tmp_path):
    from cni_geo.sources import read_osm_assets

    pbf = tmp_path / "fake.osm.pbf"
    pbf.write_bytes(b"<html>404 Not Found</html>\n" * 20)
    lib_error(
        errors.SourceError,
        read_osm_assets,
        pbf,
        fragments=[r"fake\.osm\.pbf", "not an OSM PBF"],
    )


def test_e08_empty_layer(tmp_path):
    recipe = make_inputs(tmp_path, areas=areas_frame().iloc[:0])
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"areas\.gpkg", "lsoa", "no features")


def test_e09_unknown_layer(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["sources"]["units"]["layer"] = "lsao"
    write_recipe(tmp_path, raw)
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, "lsao", "its layers are: lsoa")


# --------------------------------------------------------------------------------------------
# Coordinate reference systems


def test_e10_no_crs(tmp_path):
    recipe = make_inputs(tmp_path, areas=areas_frame(crs=None))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"areas\.gpkg", "no CRS", "crs:")


def test_e11_geographic_working_crs(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["crs"] = "EPSG:4326"
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, "crs", "projected", "EPSG:27700")


def test_e12_geographic_crs_where_metres_are_needed(tmp_path):
    from cni_geo.indicators import count_within

    areas = areas_frame().set_index("code").to_crs(4326)
    assets = assets_frame().to_crs(4326)
    lib_error(
        errors.CRSError,
        count_within,
        areas,
        assets,
        buffer=1000,
        fragments=["geographic|EPSG:4326", "metre"],
    )


def test_e13_mixed_crs_library(tmp_path):
    from cni_geo.reapportion import area_weighted

    src = areas_frame(v=[1.0, 2.0, 3.0, 4.0]).set_index("code")
    tgt = areas_frame().set_index("code").to_crs(3857)
    lib_error(
        errors.CRSError,
        area_weighted,
        src,
        tgt,
        intensive=["v"],
        fragments=["EPSG:27700", "EPSG:3857", "reproject"],
    )


def test_e14_mixed_crs_in_a_recipe_is_reprojected_explicitly(tmp_path, caplog):
    """Inputs in different CRSs are reprojected to the working CRS with a log line, and give
    the same values as inputs that were all in EPSG:27700."""
    good = tmp_path / "good"
    make_inputs(good)
    assert run("build", good / "r.yaml", "--out", good / "out").exit_code == 0
    mixed = tmp_path / "mixed"
    make_inputs(mixed)
    assets_frame().to_crs(4326).to_file(mixed / "assets.gpkg", layer="assets")
    res = run("-v", "build", mixed / "r.yaml", "--out", mixed / "out")
    assert res.exit_code == 0, res.stderr
    info = [ln for ln in res.stderr.splitlines() if "EPSG:4326" in ln and "27700" in ln]
    assert info, f"no log line naming the reprojection in:\n{res.stderr}"
    _log("info", info[0])
    a, b = output_csv(good / "out"), output_csv(mixed / "out")
    # hand count: gp points at (500,500) in L1, (1500,500) in L2, (1200,1200) in L4
    assert np.allclose(a["gps"].to_numpy(), [1.0, 0.5, 0.0, 2.0])
    assert np.allclose(a["gps"], b["gps"])


def test_e15_swapped_latitude_longitude(tmp_path):
    """Points whose longitude and latitude columns are swapped land far outside the areas:
    the user must hear it with a count, not get silent zeros."""
    recipe = make_inputs(tmp_path)
    pts = assets_frame().to_crs(4326)
    lon, lat = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    # swapped: the latitude written under `longitude` and vice versa
    pd.DataFrame({"id": list("abcde"), "longitude": lat, "latitude": lon}).to_csv(
        tmp_path / "charities.csv", index=False
    )
    raw = base_recipe()
    raw["sources"]["charities"] = {"kind": "points", "path": "charities.csv"}
    raw["indicators"]["charities"] = {
        "kind": "count",
        "source": "charities",
        "per": "residents",
        "direction": "low",
        "domain": "d2",
    }
    write_recipe(tmp_path, raw)
    res = run("build", recipe, "--out", tmp_path / "out")
    if res.exit_code == 0:
        warning_lines(res, r"5 of 5", "outside", "charities")
    else:
        error_line(res, 4, "charities", "outside", "swapped|latitude|longitude")


# --------------------------------------------------------------------------------------------
# Geometries


def test_e16_self_intersecting_repaired_with_counted_warning(tmp_path):
    geoms = squares()
    x, y = X0, Y0
    # a bow-tie over the first square's extent: (x,y)-(x+1000,y+1000)-(x+1000,y)-(x,y+1000)
    geoms[0] = shapely.Polygon([(x, y), (x + 1000, y + 1000), (x + 1000, y), (x, y + 1000)])
    assert not shapely.is_valid(geoms[0])
    recipe = make_inputs(tmp_path, areas=areas_frame(geometry=geoms))
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"1 of 4", "invalid", "repaired", r"areas\.gpkg")
    out = gpd.read_file(tmp_path / "out" / "tiny.gpkg", layer="areas")
    assert out.geometry.is_valid.all()
    # make_valid keeps both triangles of the bow-tie: half the square
    assert out.geometry.area.sort_values().iloc[0] == pytest.approx(500_000.0)


def test_e17_empty_geometry(tmp_path):
    geoms = squares()
    geoms[2] = shapely.Polygon()
    recipe = make_inputs(tmp_path, areas=areas_frame(geometry=geoms))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"1 of 4", "empty", "L3", r"areas\.gpkg")


def test_e18_mixed_geometry_types(tmp_path):
    geoms = squares()
    geoms[3] = shapely.Point(X0 + 1500, Y0 + 1500)
    recipe = make_inputs(tmp_path, areas=areas_frame(geometry=geoms))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, "Point", "Polygon", "polygons")


def test_e19_assets_that_are_lines(tmp_path):
    recipe = make_inputs(tmp_path)
    lines = assets_frame()
    lines["geometry"] = [shapely.LineString([(p.x, p.y), (p.x + 10, p.y)]) for p in lines.geometry]
    lines.to_file(tmp_path / "assets.gpkg", layer="assets")
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"assets\.gpkg", "lines", "points or polygons")


# --------------------------------------------------------------------------------------------
# Codes and values


def test_e20_duplicate_area_codes(tmp_path):
    recipe = make_inputs(tmp_path, areas=areas_frame(code=["L1", "L2", "L2", "L4"]))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, "code", "L2", "more than once|duplicate", "unique")


def test_e21_table_codes_missing_from_boundaries(tmp_path):
    table = "code,v\nL1,1\nL2,2\nL3,3\nL4,4\nL9,9\nL8,8\n"
    recipe = make_inputs(tmp_path, table=table)
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"2 of 6", "L8|L9|not in|no area|ignored")


def test_e22_boundary_codes_missing_from_table(tmp_path):
    recipe = make_inputs(tmp_path, table="code,v\nL1,1\nL2,2\nL4,4\n")
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"1 of 4", "no row|no data|NaN")
    out = output_csv(tmp_path / "out")
    assert np.isnan(out.loc["L3", "val"]), "no data is NaN, never 0"
    assert out.loc[["L1", "L2", "L4"], "val"].tolist() == [1.0, 2.0, 4.0]


def test_e23_duplicate_codes_in_a_table(tmp_path):
    recipe = make_inputs(tmp_path, table="code,v\nL1,1\nL2,2\nL3,3\nL4,4\nL2,5\n")
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"t\.csv", "L2", "more than once|duplicate")


def test_e24_population_nan(tmp_path):
    recipe = make_inputs(tmp_path, areas=areas_frame(population=[1000, np.nan, 1500, 500]))
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"1 of 4", "population", "NaN")
    out = output_csv(tmp_path / "out")
    assert np.isnan(out.loc["L2", "gps"])
    assert out.loc["L1", "gps"] == pytest.approx(1.0)  # 1 GP / 1,000 residents x 1,000


def test_e25_population_negative(tmp_path):
    recipe = make_inputs(tmp_path, areas=areas_frame(population=[1000, -5, 1500, 500]))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, "negative", "population", "L2")


def test_e26_population_zero(tmp_path):
    recipe = make_inputs(tmp_path, areas=areas_frame(population=[1000, 2000, 0, 500]))
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"1 of 4", "population of 0|no residents", "NaN")
    out = output_csv(tmp_path / "out")
    assert np.isnan(out.loc["L3", "gps"]), "a rate over zero residents is NaN, not 0 or inf"


def test_e27_text_in_a_numeric_column(tmp_path):
    recipe = make_inputs(tmp_path, table="code,v\nL1,1\nL2,2\nL3,n/a?\nL4,4\nL5,5\nL6,6\n")
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"t\.csv", "'v'", r"line 4", r"n/a\?")


def test_e28_text_in_a_population_column(tmp_path):
    recipe = make_inputs(
        tmp_path, areas=areas_frame(population=["1000", "2,000 approx", "1500", "500"])
    )
    res = run("build", recipe, "--out", tmp_path / "out")
    # names the column, the area and what was found
    error_line(res, 4, "population", "not numbers?|text", "L2", "2,000 approx")


def test_e29_thousands_separators_work(tmp_path):
    table = 'code,v\nL1,"1,000"\nL2,"2,500.5"\nL3,3\nL4,"1,234,567"\n'
    recipe = make_inputs(tmp_path, table=table)
    res = run("build", recipe, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    out = output_csv(tmp_path / "out")
    assert out["val"].tolist() == [1000.0, 2500.5, 3.0, 1234567.0]


def test_e30_byte_order_mark_works(tmp_path):
    recipe = make_inputs(tmp_path)
    (tmp_path / "t.csv").write_bytes(
        "\ufeffcode,v\r\nL1,1\r\nL2,2\r\nL3,3\r\nL4,4\r\n".encode("utf-8")
    )
    res = run("build", recipe, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    assert output_csv(tmp_path / "out")["val"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_e31_table_not_utf8(tmp_path):
    recipe = make_inputs(tmp_path)
    (tmp_path / "t.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"t\.csv", "UTF-8|CSV")


def test_e32_missing_id_column(tmp_path):
    recipe = make_inputs(tmp_path, table="lsoa,v\nL1,1\nL2,2\nL3,3\nL4,4\n")
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"t\.csv", "'code'", "columns are: lsoa, v")


def test_e33_missing_value_column(tmp_path):
    recipe = make_inputs(tmp_path, table="code,value\nL1,1\nL2,2\nL3,3\nL4,4\n")
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 4, r"indicators\.val\.column", "'v'", "value")


# --------------------------------------------------------------------------------------------
# Recipes


def test_e34_yaml_syntax_error(tmp_path):
    recipe = make_inputs(tmp_path)
    text = recipe.read_text().replace("kind: count", "kind: [count", 1)
    recipe.write_text(text)
    res = run("validate", recipe)
    error_line(res, 3, r"r\.yaml", "line \\d+, column \\d+")


def test_e35_unknown_recipe_key(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["indicators"]["gps"]["bufer"] = 1000
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, r"indicators\.gps\.bufer", "did you mean 'buffer'", "valid keys")


def test_e36_unknown_indicator_kind(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["indicators"]["gps"]["kind"] = "cuont"
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(
        res, 3, r"indicators\.gps\.kind", "cuont", "did you mean 'count'", "nearest_distance"
    )


def test_e37_unknown_source_name(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["indicators"]["gps"]["source"] = "asets"
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, r"indicators\.gps\.source", "asets", "did you mean 'assets'")


def test_e38_negative_weight(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["index"]["nodes"]["cni"]["weights"] = {"d1": 1, "d2": -1}
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, r"index\.nodes\.cni\.weights\.d2", ">= 0|negative")


def test_e39_weights_sum_to_zero(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["index"]["nodes"]["cni"]["weights"] = {"d1": 0, "d2": 0}
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, r"index\.nodes\.cni\.weights", "sum to 0")


def test_e40_cycle_in_the_index_tree(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["index"]["nodes"] = {
        "cni": {"children": ["d1", "d2"]},
        "d1": {"children": ["d3"]},
        "d2": {},
        "d3": {"children": ["d1"]},
    }
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, "cycle", "d1 -> d3 -> d1")


def test_e41_unsafe_yaml_tag_is_refused(tmp_path):
    recipe = make_inputs(tmp_path)
    marker = tmp_path / "pwned"
    text = recipe.read_text().replace(
        "name: tiny", f"name: !!python/object/apply:os.system ['touch {marker}']", 1
    )
    recipe.write_text(text)
    res = run("validate", recipe)
    error_line(res, 3, r"r\.yaml", "python/object")
    assert not marker.exists(), "the recipe ran code"


def test_e42_unset_environment_variable(tmp_path, monkeypatch):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["sources"]["tab"]["path"] = "${CNI_GEO_TEST_UNSET_DIR}/t.csv"
    write_recipe(tmp_path, raw)
    monkeypatch.delenv("CNI_GEO_TEST_UNSET_DIR", raising=False)
    res = run("validate", recipe)
    error_line(res, 3, r"sources\.tab\.path", "CNI_GEO_TEST_UNSET_DIR", "not set", ":-")


def test_e43_output_name_cannot_escape(tmp_path):
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["name"] = "../../escaped"
    write_recipe(tmp_path, raw)
    res = run("validate", recipe)
    error_line(res, 3, "name", "file names")


# --------------------------------------------------------------------------------------------
# Rasters and OpenStreetMap


def _raster(path: Path, *, nodata, x0: float = X0, y0: float = Y0 + 2000, n: int = 20):
    import rasterio
    from rasterio.transform import from_origin

    data = np.full((n, n), 10.0, dtype="float32")
    profile = dict(
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs="EPSG:27700",
        transform=from_origin(x0, y0, 100, 100),
    )
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _raster_recipe(tmp_path: Path) -> Path:
    recipe = make_inputs(tmp_path)
    raw = base_recipe()
    raw["sources"]["pop_raster"] = {"kind": "raster", "path": "r.tif"}
    raw["indicators"]["density"] = {
        "kind": "zonal",
        "source": "pop_raster",
        "stat": "sum",
        "per": "km2",
        "direction": "low",
        "domain": "d2",
    }
    write_recipe(tmp_path, raw)
    return recipe


def test_e44_raster_without_nodata(tmp_path):
    recipe = _raster_recipe(tmp_path)
    _raster(tmp_path / "r.tif", nodata=None)
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"r\.tif", "no nodata", "a_nodata")
    # 100 cells of 100 m holding 10 each in every 1 km square: 1,000 per km2
    assert np.allclose(output_csv(tmp_path / "out")["density"], 1000.0)


def test_e45_raster_not_covering_the_areas(tmp_path):
    recipe = _raster_recipe(tmp_path)
    # covers only the western column of squares (x0 .. x0+1000)
    _raster(tmp_path / "r.tif", nodata=-1, n=20)
    import rasterio
    from rasterio.transform import from_origin

    data = np.full((20, 10), 10.0, dtype="float32")
    with rasterio.open(
        tmp_path / "r.tif",
        "w",
        driver="GTiff",
        width=10,
        height=20,
        count=1,
        dtype="float32",
        crs="EPSG:27700",
        nodata=-1,
        transform=from_origin(X0, Y0 + 2000, 100, 100),
    ) as dst:
        dst.write(data, 1)
    res = run("build", recipe, "--out", tmp_path / "out")
    warning_lines(res, r"2 of 4", "raster|coverage")
    out = output_csv(tmp_path / "out")
    assert out.loc[["L1", "L3"], "density"].tolist() == pytest.approx([1000.0, 1000.0])
    assert out.loc[["L2", "L4"], "density_coverage"].tolist() == [0.0, 0.0]
    assert out.loc[["L2", "L4"], "density"].isna().all(), "off the raster is NaN, not 0"


def test_e46_osm_file_with_no_matching_tags(camden):
    from cni_geo.sources import read_osm_assets

    catalogue = {
        "categories": {
            "unicorn_stable": {
                "group": "community_space",
                "rules": [{"amenity": "unicorn_stable"}],
            }
        }
    }
    lib_error(
        errors.SourceError,
        read_osm_assets,
        camden / "osm" / "camden.osm.pbf",
        catalogue=catalogue,
        fragments=[r"camden\.osm\.pbf", "no feature", "amenity", "tag keys found"],
    )


# --------------------------------------------------------------------------------------------
# Outputs


def test_e47_output_folder_under_a_file(tmp_path):
    recipe = make_inputs(tmp_path)
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file\n")
    res = run("build", recipe, "--out", blocker / "sub")
    error_line(res, 5, r"file\.txt", "folder", "--out")
    assert blocker.read_text() == "I am a file\n"


def test_e48_output_folder_read_only(tmp_path):
    """Root ignores file modes, so make the folder truly read-only: a read-only tmpfs mounted
    in a private mount namespace (unshare), then run the real command inside it."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        pytest.skip("needs Linux unshare for a read-only mount")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("user/mount namespaces are not available here")
    recipe = make_inputs(tmp_path)
    out = tmp_path / "ro"
    out.mkdir()
    exe = Path(sys.executable).with_name("cni-geo")
    script = (
        f"mount -t tmpfs -o ro,size=1m tmpfs '{out}' && exec '{exe}' build '{recipe}' --out '{out}'"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, check=False
    )
    errs = [ln for ln in proc.stderr.splitlines() if ln and "warning:" not in ln]
    _log("error", "\n".join(errs))
    assert proc.returncode == 5, proc.stderr
    assert len(errs) == 1 and errs[0].startswith("cni-geo: error: "), proc.stderr
    assert "not writable" in errs[0] or "Read-only" in errs[0], errs[0]
    assert str(out) in errs[0]


def test_e49_output_exists_without_overwrite(tmp_path):
    recipe = make_inputs(tmp_path)
    assert run("build", recipe, "--out", tmp_path / "out").exit_code == 0
    before = (tmp_path / "out" / "tiny.csv").read_bytes()
    res = run("build", recipe, "--out", tmp_path / "out")
    error_line(res, 5, r"tiny\.(csv|gpkg)", "already exists", "--overwrite")
    assert (tmp_path / "out" / "tiny.csv").read_bytes() == before


def test_e50_full_disk_simulated(tmp_path, monkeypatch):
    """ENOSPC while the GeoPackage is written: an OutputError in one line, exit 5, the earlier
    CSV untouched and no file left under the final name or as a temporary."""
    import cni_geo.export.gpkg as gpkg_mod

    recipe = make_inputs(tmp_path)
    out = tmp_path / "out"
    assert run("build", recipe, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = gpkg_mod.pyogrio.write_dataframe

    def full_disk(*args, **kwargs):
        real(*args, **kwargs)  # a part of the file is written ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(gpkg_mod.pyogrio, "write_dataframe", full_disk)
    res = run("build", recipe, "--out", out, "--overwrite")
    error_line(res, 5, r"tiny\.gpkg", "No space left|disk")
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after.keys() == before.keys(), f"stray files: {set(after) ^ set(before)}"
    assert after["tiny.gpkg"] == before["tiny.gpkg"]


def test_e51_killed_during_export_is_in_test_faults():
    """Catalogue entry 'a run killed during export': the test is
    tests/test_faults.py::test_sigkill_during_export_leaves_previous_outputs. Here we check
    that the catalogue documents every entry above and that one."""
    doc = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    names = [n for n in globals() if re.match(r"test_e\d\d_", n)]
    for n in names:
        assert n in doc, f"{n} is not in docs/errors.md"
    assert "test_sigkill_during_export_leaves_previous_outputs" in doc
    assert len(re.findall(r"^### ", doc, flags=re.MULTILINE)) >= 30


# --------------------------------------------------------------------------------------------
# Security: text from data in HTML, output paths


def test_e52_html_in_area_names_and_title_is_escaped(tmp_path):
    evil = '<script>alert("pwned")</script>'
    quotes = 'O\'Brien "Quarter" & <b>Co</b>'
    recipe = make_inputs(tmp_path, areas=areas_frame(aname=[evil, quotes, "C", "D"]))
    raw = base_recipe()
    raw["title"] = "<img src=x onerror=alert(1)> Index"
    write_recipe(tmp_path, raw)
    res = run("build", recipe, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    html = (tmp_path / "out" / "tiny_map.html").read_text(encoding="utf-8")
    assert "<script>alert(" not in html
    assert "<img src=x onerror" not in html
    assert "<b>Co</b>" not in html
    # the names are still there, escaped (JSON \\u003c or HTML &lt;)
    assert re.search(r"(\\u003c|&lt;)script(\\u003e|&gt;)alert", html), "name lost"
    assert "Brien" in html
    # the GeoPackage and CSV keep the text as it was (no escaping outside HTML)
    csv = pd.read_csv(tmp_path / "out" / "tiny.csv", dtype={"code": str}).set_index("code")
    assert csv.loc["L1", "name"] == evil and csv.loc["L2", "name"] == quotes


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_e53_outputs_stay_in_the_chosen_folder(tmp_path):
    """--out X writes only inside X; the recipe's folder is used only when given there."""
    recipe = make_inputs(tmp_path / "work")
    raw = base_recipe()
    raw["outputs"]["folder"] = "../elsewhere"  # explicit in the recipe
    write_recipe(tmp_path / "work", raw)
    before = _files_under(tmp_path)
    res = run("build", recipe, "--out", tmp_path / "chosen")
    assert res.exit_code == 0, res.stderr
    new = _files_under(tmp_path) - before
    outside = [p for p in new if tmp_path / "chosen" not in p.parents]
    assert not outside, f"written outside --out: {outside}"
    assert not (tmp_path / "elsewhere").exists()
    # without --out, the recipe's explicit folder is honoured (and nothing else is written)
    res = run("build", recipe)
    assert res.exit_code == 0, res.stderr
    newer = _files_under(tmp_path) - before - new
    assert newer and all(tmp_path / "elsewhere" in p.parents for p in newer), newer
