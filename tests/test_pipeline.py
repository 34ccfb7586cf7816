"""The demo end to end: every number checked against an independent computation."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from cni_geo._demo_build import run_demo
from cni_geo.errors import OutputExistsError
from cni_geo.pipeline import build

ROOT = Path(__file__).resolve().parents[1]
REGION = ROOT / "boundaries" / "demo" / "demo_boundaries.gpkg"
DATA = ROOT / "data" / "demo"
RECIPE = ROOT / "data" / "recipes" / "demo.yaml"
EPOCH = "1700000000"


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        result = run_demo(out, overwrite=False)
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH")
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    return out, result


@pytest.fixture(scope="module")
def table(demo_out):
    out, _ = demo_out
    return pd.read_csv(out / "cni_demo.csv", dtype={"lsoa_code": str}).set_index("lsoa_code")


@pytest.fixture(scope="module")
def oa():
    return gpd.read_file(REGION, layer="oa", engine="pyogrio").set_index("oa_code")


@pytest.fixture(scope="module")
def lsoa():
    return gpd.read_file(REGION, layer="lsoa", engine="pyogrio").set_index("lsoa_code")


def test_three_outputs_and_report(demo_out):
    out, result = demo_out
    for name in ("cni_demo.gpkg", "cni_demo_map.html", "cni_demo.csv", "cni_demo.csv.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "cni_demo_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<iframe src="cni_demo_map.html"' in (out / "cni_demo_embed.html").read_text()
    report = json.loads((out / "cni_demo_report.json").read_text())
    assert report["units"] == len(result.areas)
    assert {s["name"] for s in report["stages"]} >= {
        "read units",
        "population base",
        "index",
        "outputs",
    }


def test_population_totals_equal_the_generators(table, oa, lsoa):
    assert table["population"].sum() == oa["population"].sum()
    by_lsoa = oa.groupby("lsoa_code")["population"].sum()
    pd.testing.assert_series_equal(
        table["population"].sort_index(),
        by_lsoa.sort_index().astype(float),
        check_names=False,
        check_index_type=False,
    )
    assert set(table.index) == set(lsoa.index)


def test_ranks_follow_scores_and_deciles_follow_ranks(table):
    n = len(table)
    for node in ("cni", "civic", "connect", "engaged"):
        score = table[f"{node}_score"]
        rank = table[f"{node}_rank"]
        assert rank.between(1, n).all()
        expected = score.rank(ascending=False, method="min")
        assert (rank == expected).all(), node
        assert (table[f"{node}_decile"] == np.ceil(10 * rank / n)).all(), node


def test_rank_uncertainty_columns(table, demo_out):
    _, result = demo_out
    p05, med, p95 = table["cni_rank_p05"], table["cni_rank_median"], table["cni_rank_p95"]
    assert ((p05 <= med) & (med <= p95)).all()
    assert ((p05 >= 1) & (p95 <= len(table))).all()
    assert table["cni_p_decile1"].between(0, 1).all()
    # areas ranked in decile 1 are far more often in decile 1 across the runs than the rest
    top = table.loc[table["cni_decile"] == 1, "cni_p_decile1"].mean()
    rest = table.loc[table["cni_decile"] >= 3, "cni_p_decile1"].mean()
    assert top > 0.5 > 0.05 > rest
    assert result.provenance["uncertainty"]["runs"] == 200


def test_index_is_the_sum_of_exp_transformed_domain_ranks(table):
    n = len(table)

    def x(rank):
        r = (n + 1 - rank) / n
        return -23 * np.log(1 - r * (1 - math.exp(-100 / 23)))

    for d in ("civic", "connect", "engaged"):
        np.testing.assert_allclose(table[f"{d}_score"], x(table[f"{d}_rank"]), rtol=1e-9)
    total = table[["civic_score", "connect_score", "engaged_score"]].sum(axis=1)
    np.testing.assert_allclose(table["cni_score"], total, rtol=1e-12)


def test_left_behind_is_decile_one_of_both(table):
    imd = pd.read_csv(DATA / "imd_lsoa.csv", dtype={"lsoa_code": str}).set_index("lsoa_code")
    imd_rank = imd["imd_score"].rank(ascending=False, method="min")
    imd_decile = np.ceil(10 * imd_rank / len(imd)).reindex(table.index)
    expected = (table["cni_decile"] == 1) & (imd_decile == 1)
    got = table["left_behind"].astype(str).str.lower() == "true"
    assert (got == expected).all()
    assert expected.sum() >= 1  # the demo is built so that some areas are Left Behind


def test_count_within_1km_per_1000_by_brute_force(table, oa, lsoa):
    assets = gpd.read_file(DATA / "assets.gpkg", layer="assets", engine="pyogrio")
    spaces = assets[assets["group"] == "community_space"]
    pop = oa.groupby("lsoa_code")["population"].sum()
    for code in lsoa.index[::37]:
        geom = lsoa.geometry[code]
        n = sum(geom.distance(p) <= 1000 for p in spaces.geometry)
        assert table.loc[code, "community_spaces"] == pytest.approx(1000 * n / pop[code], rel=1e-12)


def test_gp_distance_by_brute_force(table, oa, lsoa):
    assets = gpd.read_file(DATA / "assets.gpkg", layer="assets", engine="pyogrio")
    gp = np.column_stack(
        shapely.get_coordinates(assets.loc[assets["category"] == "gp", "geometry"]).T
    )
    pts = oa.geometry.representative_point()
    for code in lsoa.index[::41]:
        mine = oa.index[oa["lsoa_code"] == code]
        xy = shapely.get_coordinates(pts[mine].to_numpy())
        d = np.sqrt(((xy[:, None, :] - gp[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        w = oa.loc[mine, "population"].to_numpy(dtype=float)
        assert table.loc[code, "gp_distance"] == pytest.approx((d * w).sum() / w.sum(), rel=1e-9)


def test_gp_access_e2sfca_by_brute_force(table, oa):
    """Enhanced 2SFCA from OA points to GPs, computed with plain numpy loops."""
    assets = gpd.read_file(DATA / "assets.gpkg", layer="assets", engine="pyogrio")
    gp = shapely.get_coordinates(assets.loc[assets["category"] == "gp", "geometry"].to_numpy())
    xy = shapely.get_coordinates(oa.geometry.representative_point().to_numpy())
    pop = oa["population"].to_numpy(dtype=float)
    zones = [(1500, 1.0), (3000, 0.6), (5000, 0.25)]

    def f(d):
        for bound, w in zones:
            if d <= bound:
                return w
        return 0.0

    w = np.array([[f(np.hypot(*(p - g))) for g in gp] for p in xy])
    ratio = np.array(
        [1.0 / (pop * w[:, j]).sum() if (pop * w[:, j]).sum() > 0 else 0.0 for j in range(len(gp))]
    )
    access = pd.Series((w * ratio).sum(axis=1), index=oa.index)
    expected = (access * oa["population"]).groupby(oa["lsoa_code"]).sum() / oa.groupby("lsoa_code")[
        "population"
    ].sum()
    np.testing.assert_allclose(table["gp_access"].reindex(expected.index), expected, rtol=1e-9)
    # supply is conserved: residents x access sums to the number of GPs reached by someone
    reached = int(((pop[:, None] * w).sum(axis=0) > 0).sum())
    assert (table["gp_access"] * table["population"]).sum() == pytest.approx(reached, rel=1e-9)


def test_broadband_is_population_weighted_over_output_areas(table, oa):
    bb = pd.read_csv(DATA / "broadband_oa.csv", dtype={"oa_code": str}).set_index("oa_code")
    joined = oa[["lsoa_code", "population"]].join(bb["avg_download_mbps"])
    joined = joined.dropna()
    expected = (joined["avg_download_mbps"] * joined["population"]).groupby(
        joined["lsoa_code"]
    ).sum() / joined.groupby("lsoa_code")["population"].sum()
    np.testing.assert_allclose(
        table["broadband_speed"].reindex(expected.index), expected, rtol=1e-9
    )


def test_geopackage_holds_the_same_numbers(demo_out, table):
    out, _ = demo_out
    layers = {name for name, _ in pyogrio.list_layers(out / "cni_demo.gpkg")}
    assert {"areas", "assets", "green_space", "left_behind", "population"} <= layers
    people = pyogrio.read_dataframe(out / "cni_demo.gpkg", layer="population")
    assert people["population"].sum() == table["population"].sum()
    areas = pyogrio.read_dataframe(out / "cni_demo.gpkg", layer="areas").set_index("lsoa_code")
    assert len(areas) == len(table)
    for col in ("cni_score", "cni_rank", "cni_decile", "gp_distance", "community_spaces"):
        np.testing.assert_allclose(
            areas[col].reindex(table.index).astype(float),
            table[col].astype(float),
            rtol=1e-12,
            err_msg=col,
        )


def test_rerun_with_source_date_epoch_gives_identical_bytes(demo_out, tmp_path, monkeypatch):
    out, _ = demo_out
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    run_demo(tmp_path, overwrite=False)
    for name in ("cni_demo.csv", "cni_demo.csv.json", "cni_demo.gpkg"):
        a = hashlib.sha256((out / name).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert a == b, name


def test_existing_outputs_refused_before_any_work(demo_out):
    out, _ = demo_out
    before = (out / "cni_demo.csv").read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build(RECIPE, out=out)
    assert (out / "cni_demo.csv").read_bytes() == before


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next(folder.glob("cni_geo-*.whl"))


def test_wheel_carries_the_demo_recipe_and_catalogue(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cni_geo/_data/recipes/demo.yaml" in names
    assert "cni_geo/_data/catalogues/osm_assets.yaml" in names
    assert "cni_geo/demo.py" in names
    packaged = zipfile.ZipFile(wheel).read("cni_geo/_data/recipes/demo.yaml").decode()
    assert packaged == RECIPE.read_text()


def test_installed_wheel_regenerates_the_region_away_from_a_checkout(demo_out, wheel, tmp_path):
    """An installed wheel has no boundaries/ or data/: `cni-geo demo` regenerates the region
    with the packaged generator and gives the same index as the committed files."""
    out, _ = demo_out
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "SOURCE_DATE_EPOCH": EPOCH}
    code = (
        "import cni_geo; print(cni_geo.__file__); "
        "from cni_geo.cli import main; main(['-q', 'demo', '--out', 'result'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(str(target))  # the installed copy ran, not the checkout
    assert (tmp_path / "result" / "cni_demo.csv").read_bytes() == (
        out / "cni_demo.csv"
    ).read_bytes()


def test_dask_engine_gives_identical_results(demo_out, tmp_path):
    """The chunked engine on a 2-worker LocalCluster reproduces the single-machine build."""
    pytest.importorskip("distributed")
    _, result = demo_out
    again = build(RECIPE, out=tmp_path, engine="dask")
    cols = [c for c in result.areas.columns if c != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(again.areas[cols]), pd.DataFrame(result.areas[cols]))
