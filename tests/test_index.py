"""The index engine: exp transform, ranks, deciles, published fixtures, Camden IMD, left behind."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from cni_geo.errors import ColumnError, DataError
from cni_geo.index import (
    build_index,
    deciles,
    exp_transform,
    left_behind,
    need_rank,
    normalise,
    parse_index_spec,
    population_deciles,
    run_index_table,
)

RECIPES = Path(__file__).resolve().parents[1] / "data" / "recipes"


def load(name):
    return parse_index_spec(yaml.safe_load((RECIPES / name).read_text()))


def x_by_hand(rank, n):
    """method.md: R = (N + 1 - rank) / N, X = -23 ln(1 - R (1 - exp(-100/23)))."""
    r = (n + 1 - rank) / n
    return -23.0 * math.log(1.0 - r * (1.0 - math.exp(-100.0 / 23.0)))


# --- exponential transform ------------------------------------------------------------------


def test_exp_transform_published_fixtures():
    n = 7433
    assert exp_transform(1198, n) == pytest.approx(40.5006, abs=5e-5)
    assert exp_transform(5690, n) == pytest.approx(6.0591, abs=5e-5)
    assert exp_transform(290, n) == pytest.approx(68.3058, abs=5e-5)
    total = sum(exp_transform(r, n) for r in (1198, 5690, 290))
    assert total == pytest.approx(114.8655, abs=5e-5)
    assert exp_transform(1, n) == 100.0
    assert exp_transform(n, n) == pytest.approx(x_by_hand(n, n), rel=1e-12)
    assert exp_transform(n, n) == pytest.approx(0.003, abs=5e-4)
    lincoln = sum(exp_transform(r, 33755) for r in (710, 298, 407))
    assert round(lincoln, 2) == 251.21


def test_exp_transform_series_and_share_above_50():
    n = 10_000
    ranks = pd.Series(np.arange(1, n + 1), index=[f"a{i}" for i in range(n)])
    x = exp_transform(ranks, n)
    assert list(x.index) == list(ranks.index)
    assert (np.diff(x.to_numpy()) < 0).all()
    # about 10% of areas score above 50 (method.md)
    assert 0.08 < (x > 50).mean() < 0.12


# --- ranks and deciles ----------------------------------------------------------------------


def test_need_rank_ties_min_and_nan():
    s = pd.Series([5.0, 9.0, 5.0, np.nan, 1.0], index=list("abcde"))
    r = need_rank(s)
    assert r.dtype == "Int64"
    assert r.tolist() == [2, 1, 2, pd.NA, 4]


@given(st.lists(st.integers(-5, 5) | st.none(), min_size=1, max_size=40))
def test_need_rank_matches_pandas(values):
    s = pd.Series([np.nan if v is None else float(v) for v in values])
    ours = need_rank(s).astype("Float64")
    ref = s.rank(method="min", ascending=False).astype("Float64")
    pd.testing.assert_series_equal(ours, ref, check_names=False)
    # 2-D batches rank each column like scipy
    from cni_geo.index._normalise import _need_rank_array

    m = np.column_stack([s.to_numpy(), s.to_numpy()[::-1]])
    ref2 = stats.rankdata(-m, method="min", axis=0, nan_policy="omit")
    np.testing.assert_array_equal(_need_rank_array(m), ref2)


def test_deciles_by_hand():
    # N = 25: ceil(10 r / 25): ranks 1-2 -> 1, 3-5 -> 2, 23-25 -> 10
    r = pd.Series(np.arange(1, 26))
    d = deciles(r)
    assert d.iloc[:2].tolist() == [1, 1]
    assert d.iloc[2:5].tolist() == [2, 2, 2]
    assert d.iloc[-3:].tolist() == [10, 10, 10]
    # ties share a decile
    assert deciles(pd.Series([3, 3, 1]), 25).tolist() == [2, 2, 1]


def test_camden_published_imd_deciles(camden):
    f1 = next((camden / "imd").glob("File_1*"))
    f2 = next((camden / "imd").glob("File_2*"))
    pairs = []
    t1 = pd.read_csv(f1, encoding="utf-8-sig", thousands=",")
    pairs.append((t1.iloc[:, 4], t1.iloc[:, 5]))
    t2 = pd.read_csv(f2, encoding="utf-8-sig", thousands=",")
    for i in range(4, t2.shape[1], 2):
        pairs.append((t2.iloc[:, i], t2.iloc[:, i + 1]))
    assert len(pairs) == 9
    for rank, published in pairs:
        ours = deciles(rank.astype(float), 32844)
        assert (ours.to_numpy() == published.to_numpy()).all(), rank.name


def test_population_deciles_by_hand():
    # ranks 1..4 with populations 10, 10, 60, 20 (total 100): cumulative 10, 20, 80, 100
    r = pd.Series([1, 2, 3, 4], index=list("abcd"))
    pop = pd.Series([10, 10, 60, 20], index=list("abcd"))
    assert population_deciles(r, pop).tolist() == [1, 2, 8, 10]
    # with unit populations it equals the rank rule
    r = pd.Series(np.arange(1, 38))
    assert (population_deciles(r, pd.Series(1, index=r.index)) == deciles(r)).all()


# --- normalisation --------------------------------------------------------------------------


def test_normalisations_by_hand():
    v = pd.Series([10.0, 30.0, 20.0, np.nan])
    rk = normalise(v, method="rankit")
    # ranks 1, 3, 2 of N = 3 (highest = 3): Phi^-1((r - 0.5)/3)
    expect = stats.norm.ppf((np.array([1, 3, 2]) - 0.5) / 3)
    np.testing.assert_allclose(rk.iloc[:3], expect)
    assert np.isnan(rk.iloc[3])
    np.testing.assert_allclose(
        normalise(v, method="rank_normal").iloc[:3], stats.norm.ppf(np.array([1, 3, 2]) / 4)
    )
    np.testing.assert_allclose(normalise(v, method="zscore").iloc[:3], [-1.2247449, 1.2247449, 0])
    np.testing.assert_allclose(
        normalise(v, method="minmax", direction="low").iloc[:3], [1.0, 0.0, 0.5]
    )
    np.testing.assert_allclose(normalise(v, method="rank", direction="low").iloc[:3], [3, 1, 2])


# --- building on tiny tables ----------------------------------------------------------------


def tiny_spec():
    return parse_index_spec(
        {
            "index": {
                "root": "top",
                "normalise": "none",
                "nodes": {
                    "top": {"children": ["d1", "d2"], "weights": {"d1": 2, "d2": 1}},
                    "d1": {"children": ["a", "b"], "combine": "mean", "transform": "exp"},
                    "d2": {"children": ["c"], "transform": "rank"},
                },
                "leaves": {
                    "a": {"column": "A"},
                    "b": {"column": "B", "direction": "low"},
                    "c": {"column": "C"},
                },
            }
        }
    )


def tiny_table():
    return pd.DataFrame(
        {"A": [1.0, 4.0, 2.0, 8.0], "B": [3.0, 1.0, 0.0, 9.0], "C": [5.0, 6.0, 7.0, 8.0]},
        index=pd.Index(["p", "q", "r", "s"], name="code"),
    )


def test_tiny_index_by_hand():
    table = tiny_table()
    before = table.copy()
    res = build_index(table, tiny_spec())
    pd.testing.assert_frame_equal(table, before)  # input untouched
    # d1 = mean(A, -B): p -1, q 1.5, r 1, s -0.5 -> ranks q1 r2 s3 p4 over N = 4
    d1 = {k: x_by_hand(r, 4) for k, r in {"p": 4, "q": 1, "r": 2, "s": 3}.items()}
    # d2 = rank fraction of C: s 1, r 3/4, q 2/4, p 1/4
    d2 = {"p": 0.25, "q": 0.5, "r": 0.75, "s": 1.0}
    top = {k: 2 * d1[k] + d2[k] for k in "pqrs"}
    s = res.scores
    for k in "pqrs":
        assert s.loc[k, "d1_score"] == pytest.approx(d1[k], rel=1e-12)
        assert s.loc[k, "d2_score"] == pytest.approx(d2[k], rel=1e-12)
        assert s.loc[k, "top_score"] == pytest.approx(top[k], rel=1e-12)
    expected_rank = pd.Series(top).rank(ascending=False, method="min").astype(int)
    assert s["top_rank"].to_dict() == expected_rank.to_dict()
    assert s["top_decile"].tolist() == [math.ceil(10 * r / 4) for r in s["top_rank"]]
    assert res.weights["top"] == {"d1": 2.0, "d2": 1.0}
    frame = res.to_frame()
    assert list(frame.columns) == [
        "code",
        *[f"{n}_{k}" for n in ("top", "d1", "d2") for k in ("score", "rank", "decile")],
    ]
    meta = res.metadata()
    assert "ceil(10 x rank / N)" in meta["conventions"]["decile"]
    assert meta["n_areas"] == 4


def test_row_order_does_not_matter():
    table = tiny_table()
    a = build_index(table, tiny_spec()).scores
    b = build_index(table.iloc[[2, 0, 3, 1]], tiny_spec()).scores
    pd.testing.assert_frame_equal(a, b.loc[a.index])


def test_impute_flags_and_missing_values_warn():
    spec = parse_index_spec(
        {
            "index": {
                "root": "top",
                "nodes": {"top": {"children": ["a", "b"], "combine": "mean"}},
                "leaves": {
                    "a": {"impute": "median", "normalise": "none"},
                    "b": {"normalise": "none"},
                },
            }
        }
    )
    t = pd.DataFrame({"a": [1.0, np.nan, 5.0], "b": [1.0, 2.0, np.nan]}, index=["x", "y", "z"])
    with pytest.warns(UserWarning, match="1 of 3 areas have no value"):
        res = build_index(t, spec)
    assert res.scores["a_imputed"].tolist() == [False, True, False]
    assert res.scores.loc["y", "top_score"] == pytest.approx((3.0 + 2.0) / 2)  # median of 1, 5
    assert pd.isna(res.scores.loc["z", "top_rank"])
    assert res.scores.loc["y", "top_rank"] == 1
    assert res.diagnostics["share_imputed"]["a"] == pytest.approx(1 / 3, abs=1e-6)


def test_bad_tables():
    spec = tiny_spec()
    t = tiny_table()
    with pytest.raises(ColumnError, match=r"lacks column\(s\) 'C'.*columns present: A, B"):
        build_index(t.drop(columns="C"), spec)
    bad = t.astype({"A": object})
    bad.loc["r", "A"] = "n/a"
    with pytest.raises(ColumnError, match="column 'A' is not numeric.*'n/a' in area 'r'"):
        build_index(bad, spec)
    with pytest.raises(DataError, match="duplicate area ids"):
        build_index(pd.concat([t, t.iloc[:1]]), spec)
    allnan = t.copy()
    allnan["C"] = np.nan
    with pytest.raises(DataError, match="all missing"):
        build_index(allnan, spec)


# --- published fixtures on synthetic national tables ----------------------------------------


def _rest(n, taken):
    return np.array([r for r in range(1, n + 1) if r != taken])


def test_cni2019_becontree_rank_690():
    """7,433 wards: 689 built to beat Becontree, the rest built to fall below it."""
    n, high = 7433, 689
    civic, conn, eng = _rest(n, 1198), _rest(n, 5690), _rest(n, 290)
    # high group: the 689 smallest remaining ranks of each domain, together
    # low group: civic ascending, connectedness descending, engaged rotated by half
    m = n - 1 - high
    rows = np.column_stack(
        [
            np.concatenate([civic[:high], civic[high:]]),
            np.concatenate([conn[:high], conn[high:][::-1]]),
            np.concatenate([eng[:high], np.roll(eng[high:], m // 2)]),
        ]
    )
    rows = np.vstack([rows, [1198, 5690, 290]])
    ids = [f"W{i:06d}" for i in range(n - 1)] + ["E05000028"]
    order = np.random.default_rng(7).permutation(n)  # row order must not matter
    table = pd.DataFrame(
        rows[order],
        columns=["Civic Assets rank", "Connectedness rank", "Engaged community rank"],
        index=pd.Index(np.array(ids)[order], name="ward17_code"),
    )
    sums = {i: sum(x_by_hand(r, n) for r in row) for i, row in zip(ids, rows, strict=True)}
    b = sums["E05000028"]
    expected_rank = 1 + sum(v > b for v in sums.values())
    assert expected_rank == 690  # the construction does what it says
    res = build_index(table, load("cni2019-from-domain-ranks.yaml"))
    row = res.scores.loc["E05000028"]
    assert row["civic_score"] == pytest.approx(40.5006, abs=5e-5)
    assert row["connect_score"] == pytest.approx(6.0591, abs=5e-5)
    assert row["engaged_score"] == pytest.approx(68.3058, abs=5e-5)
    assert row["cni_score"] == pytest.approx(114.8655, abs=5e-5)
    assert row["cni_rank"] == 690
    assert row["cni_decile"] == math.ceil(10 * 690 / n)
    ours = res.scores["cni_score"]
    np.testing.assert_allclose(ours.loc[ids].to_numpy(), [sums[i] for i in ids], rtol=1e-12)


def test_cni2023_lincoln_rank_1():
    n = 33755
    civic, conn, eng = _rest(n, 710), _rest(n, 298), _rest(n, 407)
    rows = np.column_stack([civic, conn[::-1], np.roll(eng, n // 3)])
    rows = np.vstack([[710, 298, 407], rows])
    ids = np.array(["E01026129"] + [f"L{i:06d}" for i in range(n - 1)])
    table = pd.DataFrame(
        rows,
        columns=[
            "Civic Assets Domain Rank",
            "Connectedness Domain Rank",
            "Active and Engaged Community Domain Rank",
        ],
        index=pd.Index(ids, name="lsoa21_code"),
    )
    sums = np.array([sum(x_by_hand(r, n) for r in row) for row in rows[:200]])
    res = build_index(table, load("cni2023-from-domain-ranks.yaml"))
    assert round(res.scores.loc["E01026129", "cni_score"], 2) == 251.21
    assert res.scores.loc["E01026129", "cni_rank"] == 1
    assert res.scores["cni_rank"].max() <= n
    np.testing.assert_allclose(res.scores["cni_score"].iloc[:200], sums, rtol=1e-12)


def test_cni2022_recipes_sum_of_exp(tmp_path):
    rng = np.random.default_rng(3)
    for name, id_col, n in [
        ("cni2022-wales-from-domain-ranks.yaml", "msoa11_code", 410),
        ("cni2022-scotland-from-domain-ranks.yaml", "iz11_code", 1279),
        ("cni2022-ni-from-domain-ranks.yaml", "soa11_code", 890),
    ]:
        cols = ["Civic Assets rank", "Connectedness rank", "Engaged Community rank"]
        ranks = np.column_stack([rng.permutation(n) + 1 for _ in cols])
        t = pd.DataFrame(
            ranks, columns=cols, index=pd.Index([f"A{i}" for i in range(n)], name=id_col)
        )
        res = build_index(t, load(name))
        expect = [sum(x_by_hand(r, n) for r in row) for row in ranks[:50]]
        np.testing.assert_allclose(res.scores["cni_score"].iloc[:50], expect, rtol=1e-12)


# --- IMD 2019 on the Camden subset ----------------------------------------------------------

IMD_WEIGHTS = {
    "Income": 0.225,
    "Employment": 0.225,
    "Education, Skills and Training": 0.135,
    "Health Deprivation and Disability": 0.135,
    "Crime": 0.093,
    "Barriers to Housing and Services": 0.093,
    "Living Environment": 0.093,
}


def test_imd2019_camden_within_subset(camden):
    path = next((camden / "imd").glob("File_2*"))
    table = pd.read_csv(path, encoding="utf-8-sig", thousands=",", dtype={"LSOA code (2011)": str})
    res = build_index(table, load("imd2019-from-domain-ranks.yaml"))
    t = table.set_index("LSOA code (2011)")
    n = len(t)
    assert n == 133
    # independent: re-rank each domain within Camden, transform by hand, weight, rank
    score = pd.Series(0.0, index=t.index)
    for dom, w in IMD_WEIGHTS.items():
        within = t[f"{dom} Rank (where 1 is most deprived)"].rank(method="min")
        score += w * within.map(lambda r: x_by_hand(r, n))
    np.testing.assert_allclose(res.scores.loc[t.index, "imd_score"], score, rtol=1e-12)
    rank = score.rank(ascending=False, method="min").astype(int)
    assert (res.scores.loc[t.index, "imd_rank"] == rank).all()
    # agreement with the published national IMD order: the exp transform is not linear in
    # rank, so a within-Camden transform weights the domains differently from the national
    # one and the order is close but not identical.
    published = t["Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)"]
    rho = stats.spearmanr(res.scores.loc[t.index, "imd_rank"].astype(float), published)[0]
    assert rho > 0.95


# --- property tests -------------------------------------------------------------------------

values = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=2, max_size=30
)


@given(
    values,
    st.sampled_from(["rankit", "rank_normal", "zscore", "minmax", "rank", "none"]),
    st.sampled_from(["exp", "rank", "none"]),
    st.sampled_from(["high", "low"]),
)
def test_one_indicator_keeps_its_order(vals, norm, transform, direction):
    spec = parse_index_spec(
        {
            "index": {
                "root": "r",
                "nodes": {"r": {"children": ["x"], "transform": transform}},
                "leaves": {"x": {"normalise": norm, "direction": direction}},
            }
        }
    )
    t = pd.DataFrame({"x": vals}, index=[f"a{i}" for i in range(len(vals))])
    res = build_index(t, spec)
    oriented = t["x"] if direction == "high" else -t["x"]
    expect = oriented.rank(ascending=False, method="min")
    if norm == "zscore" and oriented.std(ddof=0) > 0:
        # z-scores can merge values that differ only beyond float precision; compare the order
        diffs = np.sign(np.subtract.outer(oriented.to_numpy(), oriented.to_numpy()))
        ours = np.sign(np.subtract.outer(*[res.scores["r_score"].to_numpy()] * 2))
        assert ((ours == diffs) | (ours == 0)).all()
    else:
        assert (res.scores["r_rank"].astype(float) == expect).all() or norm in ("minmax", "zscore")


@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
        min_size=3,
        max_size=25,
    ),
    st.integers(0, 2),
    st.integers(1, 50),
    st.permutations(range(3)),
)
def test_monotone_and_permutation_invariant(rows, col, bump, perm):
    spec = parse_index_spec(
        {
            "index": {
                "root": "r",
                "normalise": "rank_normal",
                "nodes": {
                    "r": {"children": ["d1", "d2"]},
                    "d1": {"children": ["a", "b"], "combine": "mean", "transform": "exp"},
                    "d2": {"children": ["c"], "transform": "exp"},
                },
                "leaves": {"a": {}, "b": {"direction": "low"}, "c": {}},
            }
        }
    )
    t = pd.DataFrame(
        rows, columns=list("abc"), index=[f"a{i}" for i in range(len(rows))], dtype=float
    )
    base = build_index(t, spec).scores
    # more need on one indicator (along its direction) for area a0 never lowers its score
    t2 = t.copy()
    name = "abc"[col]
    t2.loc["a0", name] += -bump if name == "b" else bump
    moved = build_index(t2, spec).scores
    assert moved.loc["a0", "r_score"] >= base.loc["a0", "r_score"] - 1e-9
    # its rank in the domain holding the indicator never worsens (the others' values there can
    # only fall). Its overall rank can: passing an area in one domain can lift a third area
    # above it in the other domain's exp transform, e.g. rows (90, 0, 0), (0, 0, 1),
    # (0, 0, 1), (91, 1, 0) with a0's a + 1 moves a0 from overall rank 1 to 3.
    parent = "d2" if name == "c" else "d1"
    assert moved.loc["a0", f"{parent}_rank"] <= base.loc["a0", f"{parent}_rank"]
    # permuting the rows permutes the results
    order = list(range(len(rows)))[::-1]
    shuffled = build_index(t.iloc[order], spec).scores
    pd.testing.assert_frame_equal(shuffled.loc[base.index], base)
    assert len(perm) == 3


# --- derived weights against scikit-learn ---------------------------------------------------


def test_factor_weights_match_sklearn():
    sk = pytest.importorskip("sklearn.decomposition")
    from cni_geo.index import factor_loadings, factor_weights

    rng = np.random.default_rng(11)
    f = rng.normal(size=2000)
    lam = np.array([0.9, 0.7, 0.5, 0.3])
    x = f[:, None] * lam + rng.normal(size=(2000, 4)) * np.sqrt(1 - lam**2)
    z = (x - x.mean(0)) / x.std(0)
    fa = sk.FactorAnalysis(n_components=1, tol=1e-10, max_iter=10000).fit(z)
    ref_l = fa.components_[0] * np.sign(fa.components_[0].sum())
    ref_psi = fa.noise_variance_
    ours_l, ours_psi = factor_loadings(z)
    np.testing.assert_allclose(ours_l, ref_l, atol=2e-3)
    np.testing.assert_allclose(ours_psi, ref_psi, atol=2e-3)
    sigma = np.outer(ref_l, ref_l) + np.diag(ref_psi)
    coef = np.linalg.solve(sigma, ref_l)
    np.testing.assert_allclose(factor_weights(x), coef / coef.sum(), atol=2e-3)
    # through the engine: weights: factor on a node
    spec = parse_index_spec(
        {
            "index": {
                "root": "r",
                "normalise": "zscore",
                "nodes": {"r": {"children": list("abcd"), "weights": "factor"}},
                "leaves": {k: {} for k in "abcd"},
            }
        }
    )
    res = build_index(pd.DataFrame(x, columns=list("abcd")), spec)
    np.testing.assert_allclose(list(res.weights["r"].values()), coef / coef.sum(), atol=2e-3)


def test_pca_weights_match_sklearn():
    sk = pytest.importorskip("sklearn.decomposition")
    from cni_geo.index import pca_weights

    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 3)) @ np.array([[1, 0.5, 0.2], [0, 1, 0.4], [0, 0, 1]])
    z = (x - x.mean(0)) / x.std(0)
    comp = sk.PCA(n_components=1).fit(z).components_[0]
    comp = comp * np.sign(comp.sum())
    np.testing.assert_allclose(pca_weights(x), comp / comp.sum(), atol=1e-9)


# --- shrinkage ------------------------------------------------------------------------------


def test_shrink_by_hand():
    from cni_geo.index import shrink

    # one parent, four areas; parent rate 86/260
    count = pd.Series([1.0, 30.0, 50.0, 5.0], index=list("abcd"))
    den = pd.Series([10.0, 100.0, 100.0, 50.0], index=list("abcd"))
    par = pd.Series(["P"] * 4, index=list("abcd"))
    out = shrink(count, den, par)
    n = den.to_numpy()
    z = count.to_numpy() / n
    zp = 86 / 260
    s2 = zp * (1 - zp) / n
    var_b = (n * (z - zp) ** 2).sum() / n.sum()
    t2 = var_b - s2.mean()
    assert t2 > 0  # the construction has real between-area variation
    w = (1 / s2) / (1 / s2 + 1 / t2)
    np.testing.assert_allclose(out.to_numpy(), w * z + (1 - w) * zp, rtol=1e-12)
    out = {k: v for k, v in zip("abcd", out, strict=True)}
    zd = dict(zip("abcd", z, strict=True))
    zp_ = zp
    # the small area moves further towards the parent than the big one
    # the small area (a, n = 10) keeps less of its own deviation than a big one (b, n = 100)
    assert abs(out["a"] - zp_) / abs(zd["a"] - zp_) < abs(out["b"] - zp_) / abs(zd["b"] - zp_)


# --- left behind ----------------------------------------------------------------------------


def test_left_behind_by_hand():
    idx_decile = pd.Series([1, 1, 2, 1], index=["a", "b", "c", "z"], dtype="Int64")
    # deprivation over 20 rows (10% = top 2 scores): a and c most deprived, b not
    dep = pd.Series(np.arange(20, dtype=float), index=[f"x{i}" for i in range(20)])
    dep = pd.concat([dep.iloc[:17], pd.Series({"a": 100.0, "c": 90.0, "b": 5.0})])
    with pytest.warns(UserWarning, match="1 of 4 areas have no deprivation value"):
        lb = left_behind(idx_decile, dep, kind="score")
    assert lb.tolist() == [True, False, False, pd.NA]
    # ranks: N = rows of the deprivation table; decile 1 = ranks 1..2 of 20
    ranks = pd.Series([2.0, 3.0], index=["a", "b"])
    ranks = pd.concat(
        [ranks, pd.Series(np.arange(4, 22, dtype=float), index=[f"y{i}" for i in range(18)])]
    )
    assert left_behind(idx_decile.iloc[:2], ranks, kind="rank").tolist() == [True, False]
    with pytest.raises(DataError, match="duplicate ids"):
        left_behind(idx_decile, pd.concat([dep, dep.iloc[:1]]))


# --- run_index_table ------------------------------------------------------------------------


def test_run_index_table_writes_csv_and_sidecar(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    n = 40
    rng = np.random.default_rng(2)
    ranks = np.column_stack([rng.permutation(n) + 1 for _ in range(3)])
    ids = [f"E05{i:06d}" for i in range(n)]
    ids[0] = "E05000001 "  # kept unchanged (no trimming of the id text)
    t = pd.DataFrame(
        ranks, columns=["Civic Assets rank", "Connectedness rank", "Engaged community rank"]
    )
    t.insert(0, "ward17_code", ids)
    t["Civic Assets rank"] = t["Civic Assets rank"].astype(object)
    t.loc[3, "Civic Assets rank"] = f"{int(t.loc[3, 'Civic Assets rank']) * 0 + 1234:,}"
    ranks[3, 0] = 1234  # "1,234" with a thousands separator; N is 40 so it stays lowest need
    table = tmp_path / "in.csv"
    t.to_csv(table, index=False, encoding="utf-8-sig")
    dep = pd.DataFrame({"code": ids + ["EXTRA1", "EXTRA2"], "score": np.arange(n + 2, dtype=float)})
    dep_path = tmp_path / "imd.csv"
    dep.to_csv(dep_path, index=False)
    out = tmp_path / "out" / "cni.csv"
    recipe = RECIPES / "cni2019-from-domain-ranks.yaml"
    spec = load("cni2019-from-domain-ranks.yaml")
    run_index_table(
        table,
        spec,
        out,
        deprivation_path=dep_path,
        deprivation_id="code",
        deprivation_score="score",
        recipe_path=recipe,
        uncertainty=20,
        seed=1,
    )
    got = pd.read_csv(out, dtype={"ward17_code": str}, keep_default_na=False)
    assert got.columns[0] == "ward17_code"
    assert got["ward17_code"].tolist() == ids
    assert list(got.columns[1:4]) == ["cni_score", "cni_rank", "cni_decile"]
    assert got.columns[-1] == "left_behind"
    # the engine ranks within the table: re-rank each column (1,234 becomes rank 40)
    within = pd.DataFrame(ranks).rank(method="min").to_numpy()
    expect = [sum(x_by_hand(r, n) for r in row) for row in within]
    np.testing.assert_allclose(got["cni_score"], expect, rtol=1e-12)
    # deprivation decile 1 = the 4 highest scores of 42 rows (ceil(10 r / 42) == 1 <=> r <= 4)
    top_dep = set(dep.sort_values("score", ascending=False)["code"].iloc[:4])
    want = [
        (c in top_dep) and d == 1
        for c, d in zip(got["ward17_code"], got["cni_decile"], strict=True)
    ]
    assert (
        got["left_behind"].astype(str).str.lower().map({"true": True, "false": False}).tolist()
        == want
    )
    assert sum(want) >= 1  # the fixture exercises a true flag
    side = json.loads(Path(str(out) + ".json").read_text())
    assert side["created"] == "2023-11-14T22:13:20Z"
    assert side["recipe"]["sha256"]
    assert side["inputs"]["table"]["sha256"]
    assert side["index"]["nodes"]["cni"]["weights"] == {
        "civic": 1.0,
        "connect": 1.0,
        "engaged": 1.0,
    }
    unc = pd.read_csv(tmp_path / "out" / "cni_uncertainty.csv")
    assert list(unc.columns) == [
        "ward17_code",
        "base_rank",
        "median_rank",
        "p05_rank",
        "p95_rank",
        "p_decile1",
    ]
    from cni_geo.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        run_index_table(table, spec, out)


def test_values_equal_up_to_float_noise_tie():
    """Sums taken in another order differ in the last bits; they must rank as ties."""
    from cni_geo.index.engine import snap_significant

    rng = np.random.default_rng(3)
    parts = rng.random(50) * 1e3
    a = float(np.sum(parts))
    b = float(np.sum(parts[::-1]))
    c = float(sum(sorted(parts)))
    assert len({a, b, c}) > 1  # the noise is real
    snapped = snap_significant(np.array([a, b, c, a * 1.001, np.nan, 0.0, -a]))
    assert snapped[0] == snapped[1] == snapped[2]
    assert snapped[3] > snapped[0] and snapped[6] == -snapped[0]
    assert np.isnan(snapped[4]) and snapped[5] == 0.0
    table = pd.DataFrame({"x": [a, b, c, 1.0]}, index=["p", "q", "r", "s"])
    spec = parse_index_spec(
        {
            "root": "cni",
            "nodes": {"cni": {"children": ["x"], "transform": "none"}},
            "leaves": {"x": {"column": "x", "direction": "high", "normalise": "rank"}},
        }
    )
    ranks = build_index(table, spec).scores["cni_rank"]
    assert ranks.tolist() == [1, 1, 1, 4]
