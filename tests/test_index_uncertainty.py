"""Monte Carlo uncertainty and sensitivity of the index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cni_geo.index import build_index, parse_index_spec, uncertainty


def _spec():
    return parse_index_spec(
        {
            "index": {
                "root": "r",
                "normalise": "rankit",
                "nodes": {
                    "r": {"children": ["d1", "d2"]},
                    "d1": {"children": ["a", "b"], "combine": "mean", "transform": "exp"},
                    "d2": {"children": ["c"], "transform": "exp"},
                },
                "leaves": {"a": {}, "b": {}, "c": {}},
            }
        }
    )


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.normal(size=(n, 3)), columns=list("abc"), index=[f"z{i}" for i in range(n)]
    )


def test_seeded_and_reproducible():
    t = _table()
    a = uncertainty(t, _spec(), runs=60, seed=4)
    b = uncertainty(t, _spec(), runs=60, seed=4, batch=7)  # batching does not change results
    pd.testing.assert_frame_equal(a.summary, b.summary)
    c = uncertainty(t, _spec(), runs=60, seed=5)
    assert not a.summary["median_rank"].equals(c.summary["median_rank"])
    base = build_index(t, _spec()).scores["r_rank"]
    assert (a.summary["base_rank"] == base).all()
    s = a.summary
    assert ((s["p05_rank"] <= s["median_rank"]) & (s["median_rank"] <= s["p95_rank"])).all()
    assert s["p_decile1"].between(0, 1).all()


def test_no_uncertainty_gives_base_ranks():
    # a huge Dirichlet concentration, one normalisation equal to the recipe's and no dropping:
    # every run is the base index, so every percentile is the base rank and P(decile 1) is 0/1
    t = _table(200, 1)
    spec = parse_index_spec(
        {
            "index": {
                "root": "r",
                "nodes": {
                    "r": {"children": ["d1", "d2"]},
                    "d1": {"children": ["a"], "transform": "exp"},
                    "d2": {"children": ["c"], "transform": "exp"},
                },
                "leaves": {"a": {}, "c": {}},
            }
        }
    )
    u = uncertainty(t, spec, runs=20, concentration=1e12, normalisations=("rankit",), drop=False)
    base = u.summary["base_rank"].astype(float)
    # weights still move by ~1e-6, which may swap areas whose scores are that close
    score = build_index(t, spec).scores["r_score"].sort_values()
    gaps = np.diff(score.to_numpy()) / score.abs().max()
    near = set(score.index[:-1][gaps < 1e-4]) | set(score.index[1:][gaps < 1e-4])
    for col in ("median_rank", "p05_rank", "p95_rank"):
        off = u.summary.index[(u.summary[col] - base).abs() > 1e-6]
        assert set(off) <= near
    expect_d1 = (np.ceil(10 * base / 200) == 1).astype(float)
    np.testing.assert_array_equal(u.summary["p_decile1"], expect_d1)


def test_sensitivity_drop_matches_a_rebuild():
    t = _table(150, 2)
    u = uncertainty(t, _spec(), runs=5)
    row = u.sensitivity.set_index("input").loc["drop:b"]
    # independent: the index without b (d1 = a alone), ranks compared with the base ranks
    spec_wo = parse_index_spec(
        {
            "index": {
                "root": "r",
                "nodes": {
                    "r": {"children": ["d1", "d2"]},
                    "d1": {"children": ["a"], "transform": "exp"},
                    "d2": {"children": ["c"], "transform": "exp"},
                },
                "leaves": {"a": {}, "c": {}},
            }
        }
    )
    base = build_index(t, _spec()).scores["r_rank"].astype(float)
    wo = build_index(t, spec_wo).scores["r_rank"].astype(float)
    assert row["mean_abs_rank_shift"] == pytest.approx((wo - base).abs().mean())
    assert "normalise:zscore" in set(u.sensitivity["input"])
    assert "weights:r" in set(u.sensitivity["input"])


def test_workers_and_batch_do_not_change_results():
    t = _table(400, 3)
    a = uncertainty(t, _spec(), runs=40, seed=9, workers=1, batch=40)
    b = uncertainty(t, _spec(), runs=40, seed=9, workers=3, batch=6)
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    pd.testing.assert_frame_equal(a.sensitivity, b.sensitivity, check_exact=True)


def test_area_columns_for_the_areas_layer():
    # every run is the base index (one normalisation = the recipe's, weights pinned by a huge
    # concentration on a tree whose nodes have one child each, no dropping), so every
    # percentile is the base rank; the base rank is computed here by scipy
    from scipy import stats

    t = _table(250, 4)
    spec = parse_index_spec(
        {
            "index": {
                "root": "r",
                "nodes": {
                    "r": {"children": ["d1"]},
                    "d1": {"children": ["a"], "transform": "exp"},
                },
                "leaves": {"a": {"direction": "low"}},
            }
        }
    )
    u = uncertainty(t, spec, runs=12, normalisations=("rankit",), drop=False, seed=1)
    cols = u.area_columns()
    assert list(cols.columns) == ["r_rank_median", "r_rank_p05", "r_rank_p95", "r_p_decile1"]
    assert cols.index.equals(t.index)
    assert list(u.column_descriptions()) == list(cols.columns)
    rank = stats.rankdata(t["a"].to_numpy(), method="min")  # direction low: lowest = rank 1
    for c in ("r_rank_median", "r_rank_p05", "r_rank_p95"):
        np.testing.assert_array_equal(cols[c].to_numpy(), rank)
    np.testing.assert_array_equal(cols["r_p_decile1"].to_numpy(), np.ceil(10 * rank / 250) == 1)


def test_recipe_uncertainty_uses_the_recipe_settings():
    import json

    from cni_geo.index import recipe_uncertainty

    t = _table(120, 6)
    raw = {
        "index": {
            "root": "r",
            "normalise": "rankit",
            "nodes": {
                "r": {"children": ["d1", "d2"]},
                "d1": {"children": ["a", "b"], "combine": "mean", "transform": "exp"},
                "d2": {"children": ["c"], "transform": "exp"},
            },
            "leaves": {"a": {}, "b": {}, "c": {}},
        }
    }
    assert recipe_uncertainty(t, parse_index_spec(raw)) is None  # runs: 0 by default
    raw["index"]["uncertainty"] = {"runs": 8, "seed": 2, "normalisations": ["zscore"]}
    u = recipe_uncertainty(t, parse_index_spec(raw), workers=1)
    assert u.runs == 8 and u.seed == 2
    inputs = set(u.sensitivity["input"])
    assert "normalise:zscore" in inputs and "normalise:rankit" not in inputs
    assert {"drop:a", "drop:b"} <= inputs and "drop:c" not in inputs  # c is d2's only child
    meta = u.metadata()
    json.dumps(meta, allow_nan=False)  # plain JSON for the run report
    assert meta["root"] == "r" and len(meta["sensitivity"]) == len(u.sensitivity)


def test_diagnostics_are_plain_json_with_nan_as_none():
    import json

    spec = parse_index_spec(
        {
            "index": {
                "root": "r",
                "normalise": "none",
                "nodes": {
                    "r": {"children": ["d1", "d2"], "weights": {"d1": 2, "d2": 1}},
                    "d1": {"children": ["a", "b"]},
                    "d2": {"children": ["c", "k"]},
                },
                "leaves": {"a": {}, "b": {}, "c": {}, "k": {"impute": "mean"}},
            }
        }
    )
    t = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0],
            "b": [2.0, 1.0, 4.0, 3.0],
            "c": [1.0, 2.0, 3.0, 4.0],
            "k": [5.0, 5.0, np.nan, 5.0],  # constant (after mean imputation): no correlation
        },
        index=list("pqrs"),
    )
    d = build_index(t, spec).diagnostics
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    # by hand: corr(a, b) = 0.6; alpha(a, b) = 2 (1 - (var a + var b) / var(a + b)), ddof 1
    assert d["indicator_correlations"]["a"]["b"] == pytest.approx(0.6)
    ab = np.array([3.0, 3.0, 7.0, 7.0])
    assert d["cronbach_alpha"]["d1"] == pytest.approx(2 * (1 - (5 / 3 + 5 / 3) / ab.var(ddof=1)))
    assert d["indicator_correlations"]["a"]["k"] is None
    assert d["cronbach_alpha"]["d2"] == pytest.approx(0.0)  # 2 (1 - var c / var c)
    assert d["share_imputed"]["k"] == 0.25
    assert d["weights"]["r"] == {"d1": 2.0, "d2": 1.0}
    json.dumps(build_index(t, spec).metadata(), allow_nan=False)
