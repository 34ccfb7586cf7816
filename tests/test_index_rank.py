"""The ranking kernels behind the index and its Monte Carlo: radix ordering, ranks, transforms.

References are independent: scipy.stats.rankdata for ranks, numpy's sort for order, and the
method.md formula with its published fixture for the exponential transform.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import cni_geo.index._normalise as nm

# values chosen to provoke ties, -0.0 vs 0.0, values sharing a 32-bit grid cell, NaN and inf
_special = st.sampled_from(
    [0.0, -0.0, 1.0, 1.0 + 2**-52, 1.0 - 2**-53, -1.0, 1e300, -1e300, 5e-324, np.nan]
)
_values = st.one_of(
    _special,
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-3, 3).map(float),
)


def _ref_need_rank(row: np.ndarray) -> np.ndarray:
    return stats.rankdata(-row, method="min", nan_policy="omit")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_values, min_size=1, max_size=60), min_size=1, max_size=4), st.data())
def test_radix_order_and_ranks_match_references(rows, data):
    n = min(len(r) for r in rows)
    v = np.array([r[:n] for r in rows], dtype="float64")
    if data.draw(st.booleans()):  # sometimes an infinite value (falls back to argsort)
        v[0, 0] = data.draw(st.sampled_from([np.inf, -np.inf]))
    with patch.object(nm, "_RADIX_MIN", 1):  # force the radix path on short rows
        order, s = nm._order_desc_rows(v)
        ranks = nm._rank_rows(v)
    assert np.array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(n), v.shape))
    assert np.array_equal(s, np.take_along_axis(v, order, axis=1), equal_nan=True)
    # descending with NaN last: the same multiset as numpy's ascending sort of -v
    assert np.array_equal(-s, np.sort(-v, axis=1), equal_nan=True)
    ref = np.vstack([_ref_need_rank(r) for r in v])
    assert np.array_equal(ranks, ref, equal_nan=True)


def test_radix_path_on_national_size_rows():
    rng = np.random.default_rng(11)
    n = 33_755
    v = np.vstack(
        [
            rng.normal(size=n),
            np.round(rng.gamma(2.0, 1.0, size=n), 2),  # many ties
            np.exp(rng.normal(scale=8, size=n)),  # very skewed: many keys share grid cells
            np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            np.r_[rng.normal(size=n - 1) * 1e-9, 1e12],  # one outlier squeezes the rest
        ]
    )
    assert n >= nm._RADIX_MIN
    ranks = nm._rank_rows(v)
    for i, row in enumerate(v):
        np.testing.assert_array_equal(ranks[i], _ref_need_rank(row))


def test_exp_transform_rows_published_fixture():
    # method.md: N = 7,433, rank 1,198 -> 40.5006; rank 1 -> exactly 100
    n = 7433
    rng = np.random.default_rng(5)
    v = rng.permutation(np.arange(n, 0, -1, dtype="float64"))[None, :]  # rank = n + 1 - v
    x = nm._transform_rows(v, "exp")[0]
    rank = n + 1 - v[0]
    assert x[rank == 1][0] == 100.0
    assert x[rank == 1198][0] == pytest.approx(40.5006, abs=5e-5)
    # ties and NaN: ranks from scipy, N = finite values, the method.md formula
    w = np.array([[3.0, 1.0, 3.0, np.nan, 2.0, 0.5]])
    r = _ref_need_rank(w[0])
    big_r = (5 + 1 - r) / 5
    expect = -23 * np.log(1 - big_r * (1 - np.exp(-100 / 23)))
    np.testing.assert_allclose(nm._transform_rows(w, "exp")[0], expect, rtol=1e-12)
    np.testing.assert_allclose(nm._transform_rows(w, "rank")[0], big_r, rtol=1e-15)
