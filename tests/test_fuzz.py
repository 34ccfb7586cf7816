"""Fuzzing: mutated recipes for the validator, generated geometries and tables for the
reapportion and index rooms. Whatever the input, the outcome is a result or a cni-geo error
(a :class:`~cni_geo.errors.CniGeoError`), never an unhandled exception; and where the input is
valid, the results obey invariants checked independently (totals, row order).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cni_geo.errors import CniGeoError
from cni_geo.index import build_index, parse_index_spec
from cni_geo.reapportion import area_weighted
from cni_geo.recipe import load_recipe, parse_recipe

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "recipes" / "demo.yaml"
DEMO_RAW = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
X0, Y0 = 530_000, 180_000

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

# --------------------------------------------------------------------------------------------
# Mutated recipes

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["count", "areas", "EPSG:4326", "EPSG:27700", "../x", "civic", "sum", "exp"]),
)


def _paths(obj, prefix=()):
    """Every (path, value) in a nested recipe mapping/list."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


DEMO_PATHS = [p for p, _ in _paths(DEMO_RAW) if p]


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutated_recipes(draw):
    raw = copy.deepcopy(DEMO_RAW)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(DEMO_PATHS))
        try:
            parent = _get(raw, path[:-1])
            parent[path[-1]]  # noqa: B018 - the path may be gone after an earlier mutation
        except (KeyError, IndexError, TypeError):
            continue
        op = draw(st.sampled_from(["delete", "replace", "add_key", "rename"]))
        key = path[-1]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(junk)
        elif op == "add_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(junk)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = parent.pop(key)
    return raw


# found by hypothesis: keys with a line break must not break the one-line message
_NEWLINE_KEY = {**copy.deepcopy(DEMO_RAW), "\n": None}
_NEWLINE_INDICATOR = copy.deepcopy(DEMO_RAW)
_NEWLINE_INDICATOR["indicators"]["_\n"] = {"kind": "count"}


@FUZZ
@given(mutated_recipes())
@example(_NEWLINE_KEY)
@example(_NEWLINE_INDICATOR)
def test_mutated_recipes_give_a_recipe_or_a_recipe_error(raw):
    try:
        recipe = parse_recipe(raw, path=DEMO, check_files=False)
    except CniGeoError as exc:
        assert str(exc).strip(), "an error without a message"
        assert "\n" not in str(exc).strip() or "line" in str(exc)
    else:
        assert recipe.name and recipe.index is not None


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=200))
def test_any_text_as_a_recipe_file(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_recipe(path, check_files=False)
        except CniGeoError as exc:
            assert str(exc).strip()


# --------------------------------------------------------------------------------------------
# Generated geometries for reapportion

coord = st.integers(0, 4).map(lambda v: v * 500.0)


@st.composite
def polygon(draw):
    kind = draw(st.sampled_from(["box", "box", "box", "bowtie", "empty", "point", "sliver"]))
    x0, y0 = draw(coord), draw(coord)
    w, h = draw(st.integers(1, 4)) * 500.0, draw(st.integers(1, 4)) * 500.0
    if kind == "box":
        return shapely.box(X0 + x0, Y0 + y0, X0 + x0 + w, Y0 + y0 + h)
    if kind == "bowtie":
        return shapely.Polygon(
            [
                (X0 + x0, Y0 + y0),
                (X0 + x0 + w, Y0 + y0 + h),
                (X0 + x0 + w, Y0 + y0),
                (X0 + x0, Y0 + y0 + h),
            ]
        )
    if kind == "empty":
        return shapely.Polygon()
    if kind == "point":
        return shapely.Point(X0 + x0, Y0 + y0)
    return shapely.Polygon([(X0 + x0, Y0 + y0), (X0 + x0 + w, Y0 + y0), (X0 + x0 + w, Y0 + y0)])


values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.just(float("nan")),
    st.just(float("inf")),
    st.integers(0, 1000).map(float),
)


@st.composite
def layers(draw, *, with_values: bool):
    n = draw(st.integers(0, 6))
    geoms = [draw(polygon()) for _ in range(n)]
    codes = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), min_size=n, max_size=n)
    )
    crs = draw(st.sampled_from([27700, 27700, 27700, 4326, None]))
    data = {"v": [draw(values) for _ in range(n)]} if with_values else {}
    gdf = gpd.GeoDataFrame(data, geometry=geoms, index=pd.Index(codes, name="code"), crs=crs)
    return gdf


@FUZZ
@given(layers(with_values=True), layers(with_values=False), st.sampled_from(["skip", "propagate"]))
def test_area_weighted_on_generated_geometries(source, target, nan):
    for kw in ({"intensive": ["v"]}, {"extensive": ["v"]}):
        try:
            out = area_weighted(source, target, nan=nan, **kw)
        except CniGeoError as exc:
            assert str(exc).strip()
            continue
        assert out.index.equals(target.index)
        cov = out["coverage"].to_numpy(float)
        ok = ~np.isnan(cov)
        assert ((cov[ok] >= -1e-9) & (cov[ok] <= 1 + 1e-9)).all()
        # no data is NaN, never 0: a target with no coverage has NaN values
        assert np.isnan(out["v"].to_numpy(float)[cov == 0]).all()


@st.composite
def grid_layers(draw):
    """Valid, unique-coded sources on a 500 m grid and targets that cover them all."""
    n = draw(st.integers(1, 8))
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=n, max_size=n, unique=True
        )
    )
    vals = draw(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=n, max_size=n))
    src = gpd.GeoDataFrame(
        {"v": vals},
        geometry=[
            shapely.box(X0 + i * 500, Y0 + j * 500, X0 + (i + 1) * 500, Y0 + (j + 1) * 500)
            for i, j in cells
        ],
        index=pd.Index([f"s{k}" for k in range(n)], name="code"),
        crs=27700,
    )
    # targets: vertical strips over the 3 km square, cut at generated x positions
    cuts = sorted(set(draw(st.lists(st.integers(1, 11), max_size=4))))
    xs = [0, *cuts, 12]
    tgt = gpd.GeoDataFrame(
        geometry=[
            shapely.box(X0 + a * 250, Y0, X0 + b * 250, Y0 + 3000)
            for a, b in zip(xs, xs[1:], strict=False)
        ],
        index=pd.Index([f"t{k}" for k in range(len(xs) - 1)], name="code"),
        crs=27700,
    )
    return src, tgt, draw(st.randoms(use_true_random=False))


@FUZZ
@given(grid_layers())
def test_area_weighted_conserves_totals_and_ignores_row_order(case):
    src, tgt, rnd = case
    out = area_weighted(src, tgt, extensive=["v"])
    # the strips cover every source: the total is conserved (brute force: plain sum)
    assert out["v"].sum() == pytest.approx(src["v"].sum(), rel=1e-9, abs=1e-6)
    order_s = list(range(len(src)))
    order_t = list(range(len(tgt)))
    rnd.shuffle(order_s)
    rnd.shuffle(order_t)
    again = area_weighted(src.iloc[order_s], tgt.iloc[order_t], extensive=["v"])
    pd.testing.assert_series_equal(again["v"].reindex(out.index), out["v"], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Generated tables for the index

SPEC = parse_index_spec(
    {
        "root": "cni",
        "nodes": {
            "cni": {"children": ["d1", "d2"], "transform": "none"},
            "d1": {"children": ["a"], "transform": "exp"},
            "d2": {"children": ["b"], "transform": "exp"},
        },
        "leaves": {
            "a": {"column": "a", "direction": "high"},
            "b": {"column": "b", "direction": "low"},
        },
    }
)

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**9), 10**9),
    st.none(),
    st.sampled_from(["", "1,234", " 7 ", "n/a", "..", "x"]),
)


@st.composite
def tables(draw):
    n = draw(st.integers(0, 8))
    ids = draw(st.lists(st.sampled_from([f"E{k:02d}" for k in range(10)]), min_size=n, max_size=n))
    cols = {
        c: [draw(cell) for _ in range(n)]
        for c in draw(st.sampled_from([("a", "b"), ("a",), ("a", "b", "c")]))
    }
    return pd.DataFrame(cols, index=pd.Index(ids, name="code"), dtype=object)


@FUZZ
@given(tables())
def test_build_index_on_generated_tables(table):
    try:
        result = build_index(table, SPEC)
    except CniGeoError as exc:
        assert str(exc).strip()
        return
    ranks = result.scores["cni_rank"].dropna()
    assert ((ranks >= 1) & (ranks <= len(table))).all()


@FUZZ
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30),
    st.randoms(use_true_random=False),
)
def test_index_does_not_depend_on_row_order(a_values, rnd):
    n = len(a_values)
    table = pd.DataFrame(
        {"a": a_values, "b": [((k * 7919) % 101) / 3.0 for k in range(n)]},
        index=pd.Index([f"E{k:03d}" for k in range(n)], name="code"),
    )
    assume(table["a"].nunique() > 1)
    order = list(range(n))
    rnd.shuffle(order)
    first = build_index(table, SPEC).scores
    second = build_index(table.iloc[order], SPEC).scores.reindex(first.index)
    pd.testing.assert_frame_equal(second, first, check_exact=False, rtol=1e-12)
