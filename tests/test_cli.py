"""The command line: exit codes, one-line messages, overwrite refusal, the index verb."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cni_geo import __version__
from cni_geo.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "recipes" / "demo.yaml"

INDEX_RECIPE = """\
schema: 1
name: two_domains
index:
  id: area
  root: cni
  nodes:
    cni: {children: [d1, d2], combine: sum, weights: equal, transform: none}
    d1: {children: [a], transform: exp}
    d2: {children: [b], transform: exp}
  leaves:
    a: {column: "A rank", direction: low, normalise: none}
    b: {column: "B rank", direction: low, normalise: none}
"""


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_version():
    res = run("--version")
    assert res.exit_code == 0
    assert __version__ in res.output


def test_validate_demo_recipe():
    res = run("validate", DEMO)
    assert res.exit_code == 0, res.output
    assert "valid build recipe 'cni_demo'" in res.output


def test_bad_recipe_is_one_line_and_exit_3(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("kind: count", "kind: cuont", 1))
    # paths in the demo recipe are relative to its folder: keep it beside the original
    target = DEMO.parent / "_tmp_bad_recipe.yaml"
    target.write_text(bad.read_text())
    try:
        res = run("validate", target)
    finally:
        target.unlink()
    assert res.exit_code == 3
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(
        "cni-geo: error: indicators.community_spaces.kind: unknown value 'cuont'"
    )
    assert "Traceback" not in res.output


def test_missing_recipe_file(tmp_path):
    res = run("validate", tmp_path / "nope.yaml")
    assert res.exit_code == 3
    assert "does not exist" in res.output


def test_usage_error_exit_2():
    res = run("build")
    assert res.exit_code == 2


def _table(tmp_path: Path, n: int = 40, seed: int = 1) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "area": [f"E{i:08d}" for i in range(n)],
            "A rank": rng.permutation(n) + 1,
            "B rank": rng.permutation(n) + 1,
        }
    )
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _x(rank, n):
    r = (n + 1 - rank) / n
    return -23 * math.log(1 - r * (1 - math.exp(-100 / 23)))


def test_index_verb_matches_a_hand_computation(tmp_path):
    table, frame = _table(tmp_path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(INDEX_RECIPE)
    out = tmp_path / "out" / "cni.csv"
    res = run("index", table, "--recipe", recipe, "--out", out)
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype={"area": str})
    n = len(frame)
    expected = [_x(a, n) + _x(b, n) for a, b in zip(frame["A rank"], frame["B rank"], strict=True)]
    assert list(got.columns[:1]) == ["area"]
    assert list(got["area"]) == list(frame["area"])
    np.testing.assert_allclose(got["cni_score"], expected, rtol=1e-12)
    np.testing.assert_allclose(got["d1_score"], [_x(a, n) for a in frame["A rank"]], rtol=1e-12)
    # rank 1 = highest score; decile = ceil(10 * rank / N)
    order = pd.Series(expected).rank(ascending=False, method="min").astype(int)
    assert list(got["cni_rank"]) == list(order)
    assert list(got["cni_decile"]) == [math.ceil(10 * r / n) for r in order]
    prov = json.loads(Path(str(out) + ".json").read_text())
    assert prov["cni_geo_version"] == __version__ or prov.get("version") == __version__


def test_index_verb_refuses_to_overwrite(tmp_path):
    table, _ = _table(tmp_path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(INDEX_RECIPE)
    out = tmp_path / "cni.csv"
    out.write_text("keep me\n")
    res = run("index", table, "--recipe", recipe, "--out", out)
    assert res.exit_code == 5
    assert "already exists" in res.output and "--overwrite" in res.output
    assert out.read_text() == "keep me\n"
    res = run("index", table, "--recipe", recipe, "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("area,")


def test_index_verb_missing_column_lists_those_present(tmp_path):
    table, frame = _table(tmp_path)
    frame.drop(columns="B rank").to_csv(table, index=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(INDEX_RECIPE)
    res = run("index", table, "--recipe", recipe, "--out", tmp_path / "o.csv")
    assert res.exit_code == 4
    assert "B rank" in res.output and "A rank" in res.output
    assert not (tmp_path / "o.csv").exists()


def test_deprivation_options_must_come_together(tmp_path):
    table, _ = _table(tmp_path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(INDEX_RECIPE)
    res = run(
        "index", table, "--recipe", recipe, "--out", tmp_path / "o.csv", "--deprivation", table
    )
    assert res.exit_code == 3
    assert "--deprivation-id" in res.output


@pytest.mark.parametrize("flag", ["-q", "-v"])
def test_verbosity_flags_accepted(flag):
    res = run(flag, "validate", DEMO)
    assert res.exit_code == 0
    if flag == "-q":
        assert res.output == ""
