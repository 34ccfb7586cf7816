"""Gravity access and 2SFCA: brute-force loops, supply conservation, asymmetric costs."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cni_geo.errors import DataError
from cni_geo.indicators import decay_weights, gravity_access, two_step_fca

CRS = "EPSG:27700"
X0, Y0 = 500_000, 180_000


def frame(xy, prefix, **cols):
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return gpd.GeoDataFrame(
        cols,
        geometry=gpd.points_from_xy(X0 + xy[:, 0], Y0 + xy[:, 1]),
        index=pd.Index([f"{prefix}{i}" for i in range(len(xy))]),
        crs=CRS,
    )


def f_ref(c, decay, cutoff, param):
    """The decay functions written out one cost at a time (independent of the vectorised ones)."""
    if c > cutoff:
        return 0.0
    if decay == "step":
        if param is None:
            return 1.0
        for bound, w in sorted(param):
            if c <= bound:
                return w
        return 0.0
    if decay == "linear":
        return max(0.0, 1 - c / cutoff)
    if decay == "power":
        return max(c, 1.0) ** -param
    if decay == "exponential":
        return math.exp(-param * c)
    if decay == "gaussian":
        return math.exp(-0.5 * (c / param) ** 2)
    raise AssertionError(decay)


def brute(origins, dests, demand, supply, cutoff, decay, param, cost):
    """2SFCA and Hansen by explicit loops over every pair."""
    n, m = len(origins), len(dests)
    R = np.zeros(m)
    for j in range(m):
        tot = sum(demand[i] * f_ref(cost(i, j), decay, cutoff, param) for i in range(n))
        R[j] = supply[j] / tot if tot > 0 else 0.0
    A = [sum(R[j] * f_ref(cost(i, j), decay, cutoff, param) for j in range(m)) for i in range(n)]
    G = [
        sum(supply[j] * f_ref(cost(i, j), decay, cutoff, param) for j in range(m)) for i in range(n)
    ]
    return np.array(A), np.array(G)


DECAYS = [
    ("step", None),
    ("step", [(300, 1.0), (700, 0.68), (1000, 0.22)]),
    ("linear", None),
    ("power", 1.5),
    ("exponential", 0.002),
    ("gaussian", 400.0),
]

xy = st.tuples(st.floats(0, 3000), st.floats(0, 3000))


@given(
    o=st.lists(st.tuples(xy, st.integers(0, 50)), min_size=1, max_size=15),
    d=st.lists(st.tuples(xy, st.integers(0, 30)), min_size=1, max_size=10),
    which=st.sampled_from(range(len(DECAYS))),
)
def test_matches_brute_force_and_conserves_supply(o, d, which):
    decay, param = DECAYS[which]
    cutoff = 1000.0
    origins = frame([p for p, _ in o], "o", pop=[float(v) for _, v in o])
    dests = frame([p for p, _ in d], "d", places=[float(v) for _, v in d])
    got = two_step_fca(
        origins, dests, demand="pop", supply="places", cutoff=cutoff, decay=decay, param=param
    )
    grav = gravity_access(origins, dests, supply="places", cutoff=cutoff, decay=decay, param=param)
    og, dg = list(origins.geometry), list(dests.geometry)
    A, G = brute(
        origins,
        dests,
        origins["pop"].tolist(),
        dests["places"].tolist(),
        cutoff,
        decay,
        param,
        lambda i, j: og[i].distance(dg[j]),
    )
    np.testing.assert_allclose(got.to_numpy(), A, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grav.to_numpy(), G, rtol=1e-9, atol=1e-12)
    # conservation: sum_i D_i A_i = supply of destinations with some weighted demand
    reached = [
        j
        for j in range(len(dg))
        if sum(
            origins["pop"].iloc[i] * f_ref(og[i].distance(dg[j]), decay, cutoff, param)
            for i in range(len(og))
        )
        > 0
    ]
    assert (origins["pop"] * got).sum() == pytest.approx(
        dests["places"].iloc[reached].sum(), rel=1e-9, abs=1e-9
    )
    assert (got >= 0).all()


def test_asymmetric_costs_table():
    origins = pd.DataFrame({"pop": [10.0, 30.0]}, index=["a", "b"])
    dests = pd.DataFrame({"places": [20.0, 6.0]}, index=["X", "Y"])
    # travel times in minutes; a->X is short but X->a would be long (one-way streets)
    costs = pd.DataFrame(
        {
            "origin": ["a", "a", "b", "b", "X"],
            "destination": ["X", "Y", "X", "Y", "a"],
            "cost": [5.0, 20.0, 25.0, 8.0, 99.0],
        }
    )
    with pytest.warns(UserWarning, match="1 of 5 rows of `costs` name an unknown"):
        got = two_step_fca(origins, dests, demand="pop", supply="places", cutoff=15, costs=costs)
    # hand: X reached by a only -> R_X = 20/10 = 2; Y by b only -> R_Y = 6/30 = 0.2
    assert got.loc["a"] == pytest.approx(2.0) and got.loc["b"] == pytest.approx(0.2)
    wide = two_step_fca(origins, dests, demand="pop", supply="places", cutoff=30, costs=costs)
    # all four pairs: R_X = 20/40, R_Y = 6/40 -> A = 0.5 + 0.15 for both
    assert wide.tolist() == pytest.approx([0.65, 0.65])
    with pytest.raises(DataError, match="choose one of"):
        decay_weights([1.0], "cubic", cutoff=1)
    with pytest.raises(DataError, match="needs `param`"):
        gravity_access(origins, dests, supply="places", cutoff=15, costs=costs, decay="power")


def test_sparse_cost_matrix_equals_the_long_table():
    """A precomputed sparse OD matrix gives the same 2SFCA as the long table, by hand too."""
    import scipy.sparse as sp

    origins = pd.DataFrame({"pop": [10.0, 30.0, 5.0]}, index=["a", "b", "c"])
    dests = pd.DataFrame({"places": [20.0, 6.0]}, index=["X", "Y"])
    rows, cols, cost = [0, 0, 1, 1, 2], [0, 1, 0, 1, 1], [5.0, 20.0, 25.0, 8.0, 0.0]
    matrix = sp.coo_matrix((cost, (rows, cols)), shape=(3, 2))  # c->Y stored as an explicit 0
    table = pd.DataFrame(
        {
            "origin": np.array(["a", "b", "c"])[rows],
            "destination": np.array(["X", "Y"])[cols],
            "cost": cost,
        }
    )
    for cutoff in (10.0, 30.0):
        a = two_step_fca(origins, dests, demand="pop", supply="places", cutoff=cutoff, costs=table)
        b = two_step_fca(
            origins, dests, demand="pop", supply="places", cutoff=cutoff, costs=matrix.tocsr()
        )
        pd.testing.assert_series_equal(a, b)
    # cutoff 10: X reached by a (10 people) -> 2.0; Y by b and c (35) -> 6/35 each
    got = two_step_fca(origins, dests, demand="pop", supply="places", cutoff=10, costs=matrix)
    assert got.tolist() == pytest.approx([2.0, 6 / 35, 6 / 35])
    with pytest.raises(DataError, match="origins x destinations"):
        two_step_fca(origins, dests, demand="pop", supply="places", cutoff=10, costs=matrix.T)
