"""Parsing and validation of the index section of a recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cni_geo.errors import IndexSpecError, RecipeError
from cni_geo.index import parse_index_spec

RECIPES = Path(__file__).resolve().parents[1] / "data" / "recipes"


def _recipe(nodes, leaves=None, **extra):
    return {
        "schema": 1,
        "name": "t",
        "index": {"root": "cni", "nodes": nodes, "leaves": leaves or {}, **extra},
    }


BASE_NODES = {
    "cni": {"children": ["a", "b"]},
    "a": {"children": ["x"], "transform": "exp"},
    "b": {"children": ["y", "z"], "combine": "mean"},
}
BASE_LEAVES = {"x": {"column": "X"}, "y": {"column": "Y", "direction": "low"}, "z": {}}


def test_parse_tree_order_defaults():
    spec = parse_index_spec(_recipe(BASE_NODES, BASE_LEAVES, normalise="zscore"))
    assert spec.order == ["cni", "a", "b"]
    assert spec.leaf_order == ["x", "y", "z"]
    assert spec.leaves["z"].column == "z"  # column defaults to the leaf name
    assert spec.leaves["y"].direction == "low"
    assert spec.leaves["x"].normalise == "zscore"
    assert spec.leaves["y"].parent == "b"
    assert spec.child_weights("b") == {"y": 1.0, "z": 1.0}
    assert spec.columns() == ["X", "Y", "z"]


def test_node_normalise_default_and_leaf_weights():
    nodes = {**BASE_NODES, "b": {"children": ["y", "z"], "normalise": "minmax"}}
    leaves = {**BASE_LEAVES, "y": {"column": "Y", "weight": 3}}
    spec = parse_index_spec(_recipe(nodes, leaves))
    assert spec.leaves["y"].normalise == "minmax"
    assert spec.leaves["x"].normalise == "rankit"
    assert spec.child_weights("b") == {"y": 3.0, "z": 1.0}


def test_passed_leaves_join_their_parent():
    nodes = {"cni": {"children": ["a", "b"]}, "a": {"children": []}, "b": {"children": ["y"]}}
    spec = parse_index_spec(
        _recipe(nodes, {"y": {}}),
        leaves={
            "gp": {"parent": "a", "direction": "high"},
            "parks": {"parent": "a", "direction": "low"},
        },
    )
    assert spec.nodes["a"].children == ("gp", "parks")
    assert spec.leaves["parks"].direction == "low"


@pytest.mark.parametrize(
    ("nodes", "leaves", "fragment"),
    [
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["b"]}, "b": {"children": ["a"]}},
            {},
            "cycle in the index tree: a -> b -> a",
        ),
        ({"cni": {"children": ["a"]}, "a": {"children": ["a"]}}, {}, "cycle"),
        (
            {"cni": {"children": ["a", "q"]}, "a": {"children": ["x"]}},
            {"x": {}},
            "unknown node or leaf 'q'",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"]}, "lost": {"children": ["y"]}},
            {"x": {}, "y": {}},
            "index.nodes.lost: orphan node",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"]}},
            {"x": {}, "y": {}},
            "index.leaves.y: orphan leaf",
        ),
        ({"cni": {"children": ["a", "x"]}, "a": {"children": ["x"]}}, {"x": {}}, "already a child"),
        (
            {"cni": {"children": ["a"], "weights": {"a": -1}}, "a": {"children": ["x"]}},
            {"x": {}},
            "index.nodes.cni.weights.a: weights must be >= 0",
        ),
        (
            {
                "cni": {"children": ["a", "b"], "weights": {"a": 0, "b": 0}},
                "a": {"children": ["x"]},
                "b": {"children": ["y"]},
            },
            {"x": {}, "y": {}},
            "must not sum to 0",
        ),
        (
            {"cni": {"children": ["a"], "weights": "magic"}, "a": {"children": ["x"]}},
            {"x": {}},
            "valid: equal, factor, pca",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"]}},
            {"x": {"normalise": "ranky"}},
            "index.leaves.x.normalise: unknown value 'ranky'; valid: rankit, rank_normal, zscore, minmax, rank, none",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"], "transform": "log"}},
            {"x": {}},
            "valid: exp, rank, none",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"], "colour": 1}},
            {"x": {}},
            "index.nodes.a.colour: unknown key",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"]}},
            {"x": {"weight": -2}},
            "index.leaves.x.weight: weights must be >= 0",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"]}},
            {"x": {"treatment": {"winsorise": {"lower": 0.9, "upper": 0.1}}}},
            "lower < upper",
        ),
        (
            {"cni": {"children": ["a"]}, "a": {"children": ["x"]}},
            {"x": {"treatment": "sqrt"}},
            "valid: log, winsorise, shrink",
        ),
    ],
)
def test_bad_trees(nodes, leaves, fragment):
    with pytest.raises(IndexSpecError) as err:
        parse_index_spec(_recipe(nodes, leaves))
    assert fragment in str(err.value)
    assert isinstance(err.value, RecipeError)


def test_root_and_section_errors():
    with pytest.raises(IndexSpecError, match="index.root: unknown node 'top'; nodes: cni"):
        parse_index_spec(
            {"index": {"root": "top", "nodes": {"cni": {"children": ["x"]}}, "leaves": {"x": {}}}}
        )
    with pytest.raises(IndexSpecError, match="index.wat: unknown key; valid keys: id, root"):
        parse_index_spec(
            {"index": {"root": "cni", "nodes": {"cni": {"children": ["x"]}}, "wat": 1}}
        )
    with pytest.raises(IndexSpecError, match="indicators.gp.domain: unknown node 'civc'"):
        parse_index_spec(_recipe(BASE_NODES, BASE_LEAVES), leaves={"gp": {"parent": "civc"}})


SHIPPED = [
    "cni2019-from-domain-ranks.yaml",
    "cni2023-from-domain-ranks.yaml",
    "imd2019-from-domain-ranks.yaml",
    "cni2022-wales-from-domain-ranks.yaml",
    "cni2022-scotland-from-domain-ranks.yaml",
    "cni2022-ni-from-domain-ranks.yaml",
    "cni2023-style-indicators.yaml",
    "ahah-style-access.yaml",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_parse(name):
    raw = yaml.safe_load((RECIPES / name).read_text())
    assert raw["schema"] == 1
    assert set(raw) <= {"schema", "name", "title", "description", "index"}
    spec = parse_index_spec(raw)
    assert spec.id is not None
    assert all(leaf.column for leaf in spec.leaves.values())
