"""Open the GeoPackage in real QGIS (Debian python3-qgis under /usr/bin/python3)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_gpkg import META, NCOL, NROW, assets_frame, grid_areas, roads_frame

from cni_geo.export.classify import category_style, decile_classification
from cni_geo.export.gpkg import write_geopackage

CHECK = Path(__file__).with_name("qgis_check.py")
PX_PER_KM = 100


def _rgb(hex_color: str) -> np.ndarray:
    h = hex_color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)])


@pytest.fixture(scope="module")
def qgis_result(qgis_python, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qgis")
    path = folder / "cni.gpkg"
    write_geopackage(
        path,
        grid_areas(),
        root="cni",
        domains=["civic"],
        assets=assets_frame(),
        extra_layers={"roads": roads_frame()},
        aliases={"gp_distance": "Distance to GP (m)"},
        descriptions={"gp_distance": "Straight-line distance to the nearest GP surgery."},
        metadata=META,
        title="Test index",
    )
    centres = [[c * 1000 + 500.0, r * 1000 + 500.0] for r in range(NROW) for c in range(NCOL)]
    request = {
        "gpkg": str(path),
        "layers": ["areas", "left_behind", "assets", "roads"],
        "png": str(folder / "areas.png"),
        "size": [NCOL * PX_PER_KM, NROW * PX_PER_KM],
        "extent": [0, 0, NCOL * 1000, NROW * 1000],
        "points": centres,
        "project": "cni-geo",
    }
    req = folder / "request.json"
    req.write_text(json.dumps(request))
    proc = subprocess.run(
        [qgis_python, str(CHECK), str(req)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"qgis_check printed no JSON; stderr:\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert "error" not in result, result.get("error")
    result["png"] = request["png"]
    return result


def test_every_layer_valid_with_counts(qgis_result):
    layers = qgis_result["layers"]
    expected = {"areas": 20, "left_behind": 4, "assets": 9, "roads": 2}
    for name, n in expected.items():
        assert layers[name]["valid"], name
        assert layers[name]["feature_count"] == n, name
        assert layers[name]["crs"] == "EPSG:27700"


def test_areas_renderer_graduated_with_shared_classes(qgis_result):
    r = qgis_result["layers"]["areas"]["renderer"]
    assert r["type"] == "graduatedSymbol"
    assert '"cni_decile"' in r["attr"]
    cls = decile_classification("cni_decile")
    got = [(c["label"], c["color"]) for c in r["classes"]]
    assert got == cls.legend()
    assert [(c["lower"], c["upper"]) for c in r["classes"][:10]] == [(i, i) for i in range(1, 11)]


def test_assets_categorized_and_left_behind_outline(qgis_result):
    r = qgis_result["layers"]["assets"]["renderer"]
    assert r["type"] == "categorizedSymbol" and r["attr"] == "category"
    style = category_style("category", assets_frame()["category"])
    got = {c["value"]: c["color"] for c in r["classes"] if c["value"]}
    assert got == style.mapping()
    lb = qgis_result["layers"]["left_behind"]["renderer"]
    assert lb["type"] == "singleSymbol" and lb["style"] == "no"


def test_aliases_and_domains_seen_by_qgis(qgis_result):
    fields = qgis_result["layers"]["areas"]["fields"]
    assert fields["gp_distance"]["alias"] == "Distance to GP (m)"
    assert fields["lsoa_code"]["alias"] == "Area code"
    assert fields["cni_decile"]["widget"] == "ValueMap"
    # the category field domain (gpkg_data_column_constraints) becomes a value map in QGIS
    assert qgis_result["layers"]["assets"]["fields"]["category"]["widget"] == "ValueMap"


def test_layer_metadata_readable(qgis_result):
    md = qgis_result["layers"]["areas"]["metadata"]
    assert md["title"] == "Test index: areas"
    assert "20 areas" in md["abstract"]
    assert md["licenses"] == META["licences"]
    assert md["rights"] == [META["attribution"]]
    assert any("recipe" in h for h in md["history"])


def test_rendered_colours_at_area_centres(qgis_result):
    cls = decile_classification("cni_decile")
    deciles = grid_areas()["cni_decile"].to_numpy()
    expected = cls.color_of(deciles)
    assert Path(qgis_result["png"]).stat().st_size > 0
    for sample, want in zip(qgis_result["samples"], expected, strict=True):
        diff = np.abs(_rgb(sample["color"]) - _rgb(want)).max()
        assert diff <= 3, (sample, want)


def test_stored_project_opens_styled(qgis_result):
    proj = qgis_result["project"]
    assert proj["read"] is True
    assert proj["crs"] == "EPSG:27700"
    layers = proj["layers"]
    assert all(v["valid"] for v in layers.values())
    assert layers["Areas"]["renderer"] == "graduatedSymbol"
    assert layers["Areas"]["feature_count"] == 20
    assert proj["order"][-1] == "Areas"  # the areas are drawn below the other layers


def test_sld_copies_load_in_qgis(qgis_result):
    sld = qgis_result["sld"]["areas"]
    assert sld["ok"], sld["message"]
    assert sld["renderer"] == "RuleRenderer"
    cls = decile_classification("cni_decile")
    assert [tuple(r) for r in sld["rules"]] == [tuple(x) for x in cls.legend()]
    assert qgis_result["sld"]["assets"]["ok"]
