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
