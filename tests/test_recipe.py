"""The recipe room: schema validation with key paths, YAML errors with line numbers, paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cni_geo.errors import RecipeError
from cni_geo.recipe import INDICATOR_KINDS, load_recipe

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "recipes" / "demo.yaml"

BASE = """\
schema: 1
name: tiny
sources:
  areas: {kind: areas, path: areas.gpkg, id: code}
  assets: {kind: assets, path: assets.gpkg}
units: {source: areas}
population: {source: areas, column: pop}
indicators:
  libraries:
    kind: count
    source: assets
    buffer: 1000
    per: residents
    direction: low
    domain: civic
index:
  root: cni
  nodes:
    cni: {children: [civic], combine: sum, weights: equal, transform: none}
    civic: {transform: exp, normalise: rankit}
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    (tmp_path / "areas.gpkg").write_bytes(b"")
    (tmp_path / "assets.gpkg").write_bytes(b"")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_base_recipe_parses_with_paths_resolved_against_its_folder(tmp_path, monkeypatch):
    path = write(tmp_path, BASE)
    monkeypatch.chdir("/")  # relative paths must not depend on the working directory
    r = load_recipe(path)
    assert r.sources["areas"].path == tmp_path / "areas.gpkg"
    assert r.indicators["libraries"].params == {"buffer": 1000, "per": "residents"}
    assert r.outputs.folder == tmp_path / "out" / "tiny"
    assert r.crs == "EPSG:27700"


def test_demo_recipe_exercises_every_room():
    r = load_recipe(DEMO)
    assert r.name == "cni_demo"
    kinds = {i.kind for i in r.indicators.values()}
    assert len(r.indicators) >= 12
    assert {"count", "nearest_distance", "zonal", "table", "area_share"} <= kinds
    assert {i.domain for i in r.indicators.values()} == {"civic", "connect", "engaged"}
    methods = {i.params.get("method") for i in r.indicators.values() if i.kind == "table"}
    assert {"aggregate", "population_weighted"} <= methods
    per = {
        (i.params.get("per"), i.params.get("buffer"))
        for i in r.indicators.values()
        if i.kind == "count"
    }
    assert ("residents", 1000) in per and ("km2", 0.0) in per
    assert r.left_behind.source == "imd"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "units: {source: areas}",
            "unitz: {source: areas}",
            "recipe.unitz: unknown key (did you mean 'units'?)",
        ),
        (
            "kind: count",
            "kind: counts",
            "indicators.libraries.kind: unknown value 'counts' (did you mean 'count'?)",
        ),
        (
            "source: assets\n",
            "source: asets\n",
            "indicators.libraries.source: unknown source 'asets' (did you mean 'assets'?)",
        ),
        ("buffer: 1000", "buffer: -5", "indicators.libraries.buffer: must be >= 0.0, found -5"),
        ("direction: low", "direction: up", "indicators.libraries.direction: unknown value 'up'"),
        ("per: residents", "per: people", "indicators.libraries.per: unknown value 'people'"),
        ("schema: 1", "schema: 7", "schema: this cni-geo reads recipe schema 1, found 7"),
        ("name: tiny", "name: 'a/b'", "name: 'a/b' becomes file names"),
        (
            "    buffer: 1000",
            "    bufer: 1000",
            "indicators.libraries.bufer: unknown key (did you mean 'buffer'?)",
        ),
    ],
)
def test_bad_values_name_the_key_path(tmp_path, old, new, expected):
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert expected in str(info.value)


def test_unknown_kind_lists_the_valid_ones(tmp_path):
    path = write(tmp_path, BASE.replace("kind: count", "kind: magic"))
    msg = str(pytest.raises(RecipeError, load_recipe, path).value)
    for kind in INDICATOR_KINDS:
        assert kind in msg


def test_missing_file_names_the_key_and_the_path(tmp_path):
    path = write(tmp_path, BASE.replace("assets.gpkg}", "nowhere/assets.gpkg}"))
    msg = str(pytest.raises(RecipeError, load_recipe, path).value)
    assert msg.startswith("sources.assets.path: file ")
    assert str(tmp_path / "nowhere" / "assets.gpkg") in msg


def test_yaml_syntax_error_reports_line_and_column(tmp_path):
    text = BASE.replace("units: {source: areas}", "units: {source: areas")
    path = write(tmp_path, text)
    msg = str(pytest.raises(RecipeError, load_recipe, path).value)
    # the unclosed flow mapping is detected where the next key starts (line 7 of the file)
    assert "YAML syntax error at line 7, column" in msg
    assert str(path) in msg


def test_duplicate_keys_are_refused_with_their_line(tmp_path):
    text = BASE.replace("name: tiny\n", "name: tiny\nname: other\n")
    msg = str(pytest.raises(RecipeError, load_recipe, write(tmp_path, text)).value)
    assert "line 3, column 1: duplicate key 'name'" in msg


def test_yaml_is_loaded_safely(tmp_path):
    marker = tmp_path / "pwned"
    text = f"schema: !!python/object/apply:os.system ['touch {marker}']\n"
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError):
        load_recipe(path)
    assert not marker.exists()


def test_environment_variables_in_paths(tmp_path, monkeypatch):
    data = tmp_path / "elsewhere"
    data.mkdir()
    (data / "assets.gpkg").write_bytes(b"")
    text = BASE.replace("path: assets.gpkg", 'path: "${CNI_TEST_DATA:-missing}/assets.gpkg"')
    path = write(tmp_path, text)
    monkeypatch.setenv("CNI_TEST_DATA", str(data))
    assert load_recipe(path).sources["assets"].path == data / "assets.gpkg"
    monkeypatch.delenv("CNI_TEST_DATA")
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "assets.gpkg").write_bytes(b"")
    assert load_recipe(path).sources["assets"].path == tmp_path / "missing" / "assets.gpkg"
    path2 = write(
        tmp_path, BASE.replace("path: assets.gpkg", 'path: "${CNI_NOT_SET}/a.gpkg"'), "r2.yaml"
    )
    msg = str(pytest.raises(RecipeError, load_recipe, path2).value)
    assert "CNI_NOT_SET is not set and has no default" in msg


def test_geographic_working_crs_is_refused(tmp_path):
    path = write(tmp_path, BASE + "crs: EPSG:4326\n")
    msg = str(pytest.raises(RecipeError, load_recipe, path).value)
    assert msg.startswith("crs: the working CRS must be projected")


def test_population_required_by_rates(tmp_path):
    text = BASE.replace("population: {source: areas, column: pop}\n", "")
    msg = str(pytest.raises(RecipeError, load_recipe, write(tmp_path, text)).value)
    assert "population: required by indicators libraries" in msg


def test_source_of_the_wrong_kind(tmp_path):
    text = BASE.replace("units: {source: areas}", "units: {source: assets}")
    msg = str(pytest.raises(RecipeError, load_recipe, write(tmp_path, text)).value)
    assert (
        "units.source: source 'assets' is of kind assets; this needs a source of kind areas" in msg
    )


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    msg = str(pytest.raises(RecipeError, load_recipe, path).value)
    assert "a recipe is a YAML mapping" in msg


def test_keys_with_line_breaks_give_one_line_errors(tmp_path):
    text = BASE.replace("    buffer: 1000\n", '    buffer: 1000\n    filter: {"a\\nb": []}\n')
    msg = str(pytest.raises(RecipeError, load_recipe, write(tmp_path, text)).value)
    assert "\n" not in msg
    assert msg == "indicators.libraries.filter.'a\\nb': give at least one value to keep."
