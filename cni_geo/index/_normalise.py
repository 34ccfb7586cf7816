"""Ranks, deciles, the exponential transform and the normalisations of indicators.

Conventions (method.md): rank 1 = highest need, ties take the smallest rank ("min"); decile =
ceil(10 x rank / N) with N the number of ranked (non-missing) areas, so tied areas share a
decile and row order never matters.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import DataError

EXP_CONSTANT = 23.0
EXP_RANGE = 100.0

RANK_CONVENTION = "rank 1 = highest need; ties take the smallest rank (method 'min')"
DECILE_CONVENTION = (
    "decile = ceil(10 x rank / N), N = number of ranked areas (IoD); "
    "decile 1 = highest need; tied areas share a decile"
)
POP_DECILE_CONVENTION = (
    "population-weighted: decile = ceil(10 x (P_before + p) / P), P_before = residents of "
    "areas ranked strictly higher need, p = mean population of the area's tie group, "
    "P = all residents of ranked areas; each decile holds about 10% of residents"
)


def _as_array(values) -> np.ndarray:
    return np.asarray(values, dtype="float64")


def _wrap(result: np.ndarray, like, name: str | None = None, dtype=None):
    if isinstance(like, pd.Series):
        out = pd.Series(result, index=like.index, name=name if name is not None else like.name)
        return out.astype(dtype) if dtype is not None else out
    return result


def exp_transform(rank, n: int | None = None):
    """The exponential transform of a need rank (SIMD/IoD/CNI): 0 < X <= 100.

    ``R = (N + 1 - rank) / N`` and ``X = -23 ln(1 - R (1 - exp(-100/23)))``, so rank 1 gives
    exactly 100 and rank N gives X(1/N).

    Parameters
    ----------
    rank
        Need ranks (1 = highest need); scalar, array or Series. NaN stays NaN.
    n
        The number of ranked areas; default the number of non-missing ranks.

    Examples
    --------
    >>> round(float(exp_transform(1198, 7433)), 4)
    40.5006
    """
    r = _as_array(rank)
    if n is None:
        n = int(np.isfinite(r).sum())
    if n <= 0:
        msg = "exp_transform: n must be >= 1 (the number of ranked areas)."
        raise DataError(msg)
    big_r = (n + 1 - r) / n
    x = -EXP_CONSTANT * np.log1p(-big_r * -np.expm1(-EXP_RANGE / EXP_CONSTANT))
    x = np.where(big_r == 1, EXP_RANGE, x)  # exactly 100 at rank 1, free of rounding
    if np.ndim(x) == 0:
        return float(x)
    return _wrap(x, rank)


# Rows at least this long are ordered by a two-pass 16-bit radix sort (below); shorter ones
# by np.argsort. Both give the same ranks: ranks depend on the values only.
_RADIX_MIN = 2048
_QMAX = 4294967040.0  # top of the 32-bit quantisation grid for finite keys
_QNAN = np.uint32(0xFFFFFFFF)  # NaN keys: one bucket after every finite key


def _take_rows(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``np.take_along_axis(a, order, axis=1)`` row by row (faster for long 2-D rows)."""
    out = np.empty(order.shape, dtype=a.dtype)
    for i in range(order.shape[0]):
        # mode "wrap" is a no-op for valid positions; the default "raise" buffers `out`
        np.take(a[i], order[i], out=out[i], mode="wrap")
    return out


def _argsort_desc(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-v, axis=1)  # NaN stays NaN and sorts last
    return order, np.take_along_axis(v, order, axis=1)


def _order_desc_rows(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Descending order of each row of a 2-D float array (NaN last) and the sorted values.

    Equal values come in any order. ``np.argsort`` on float64 is a comparison sort (about
    1.5-3 ms per 33,755 values on the project machine). Instead each row is mapped onto a
    32-bit grid, ``q = floor((max - v) * scale)``: every step is a correctly rounded monotone
    operation, so ``v_a >= v_b`` implies ``q_a <= q_b``. ``q`` is ordered with two stable
    16-bit passes of numpy's radix sort (least significant half first), then only the grid
    cells holding distinct values out of order (rare) are re-sorted by the exact value. The
    result is a true descending order of ``v``. Short rows, rows holding +-inf and rows of
    almost equal values use ``np.argsort``.
    """
    b, n = v.shape
    if n < _RADIX_MIN or b == 0:
        return _argsort_desc(v)
    lo = v.min(axis=1, keepdims=True)  # NaN if the row has one
    any_nan = bool(np.isnan(lo).any())
    if any_nan:
        nan = np.isnan(v)
        if nan.all(axis=1).any():
            return _argsort_desc(v)
        lo = np.nanmin(v, axis=1, keepdims=True)
        hi = np.nanmax(v, axis=1, keepdims=True)
    else:
        hi = v.max(axis=1, keepdims=True)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return _argsort_desc(v)
    span = hi - lo
    with np.errstate(over="ignore", divide="ignore"):
        scale = np.where(span > 0, _QMAX / span, 0.0)
    if not np.isfinite(scale).all():  # span so small that _QMAX / span overflows
        return _argsort_desc(v)
    # (max - v) <= span, so q <= _QMAX (1 + 4e-16) < 2**32 - 1: no clipping needed
    qf = hi - v
    qf *= scale
    if any_nan:
        qf[nan] = 0.0
    q = qf.astype(np.uint32)
    if any_nan:
        q[nan] = _QNAN
    halves = q.view(np.uint16).reshape(b, n, 2)  # little- or big-endian halves
    lo_i, hi_i = (0, 1) if np.little_endian else (1, 0)
    low = np.ascontiguousarray(halves[:, :, lo_i])
    high = np.ascontiguousarray(halves[:, :, hi_i])
    o1 = np.argsort(low, axis=1, kind="stable")
    o2 = np.argsort(_take_rows(high, o1), axis=1, kind="stable")
    order = _take_rows(o1, o2)
    s = _take_rows(v, order)
    bad = s[:, 1:] > s[:, :-1]  # an inversion: distinct values in one cell, out of order
    bad_rows = np.flatnonzero(bad.any(axis=1))
    if len(bad_rows):
        sub_order = order[bad_rows]
        qs = _take_rows(q[bad_rows], sub_order)
        # grid cells along the sorted rows, numbered across these rows
        new_cell = np.ones(qs.shape, dtype=bool)
        new_cell[:, 1:] = qs[:, 1:] != qs[:, :-1]
        cell = np.cumsum(new_cell.ravel()).reshape(qs.shape)
        fix = np.zeros(int(cell[-1, -1]) + 1, dtype=bool)
        fix[cell[:, 1:][bad[bad_rows]]] = True
        rows, cols = np.nonzero(fix[cell])
        members = sub_order[rows, cols]
        # sort the members of those cells by (row, -value); each cell keeps its positions
        o = np.lexsort((-v[bad_rows[rows], members], rows))
        sub_order[rows, cols] = members[o]
        order[bad_rows] = sub_order
        s[bad_rows] = _take_rows(v[bad_rows], sub_order)
    return order, s


def _sorted_need_ranks(
    v: np.ndarray, *, only_irregular: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Descending order (NaN last) of each row of 2-D ``v`` and the need ranks in that order.

    Ranks are 1 = highest value, ties take the smallest rank ("min"), NaN for NaN. Returns
    ``(order, sorted values, irregular, ranks)`` where ``irregular`` flags rows with ties or
    non-finite values; a regular row's ranks are simply 1..n. With ``only_irregular`` the
    ranks are returned for the irregular rows only (shape ``(irregular.sum(), n)``).
    """
    b, n = v.shape
    order, s = _order_desc_rows(v)
    if n == 0:
        return order, s, np.zeros(b, dtype=bool), np.empty((0 if only_irregular else b, 0))
    ties = (s[:, 1:] == s[:, :-1]).any(axis=1)
    # descending with NaN last: a row holds a non-finite value iff an end is not finite
    nonfinite = ~(np.isfinite(s[:, 0]) & np.isfinite(s[:, -1]))
    irregular = ties | nonfinite
    rows = np.flatnonzero(irregular) if only_irregular else np.arange(b)
    ranks = np.empty((len(rows), n), dtype="float64")
    ranks[:] = np.arange(1, n + 1, dtype="float64")
    fix = irregular[rows]
    if fix.any():
        sub = s[rows[fix]]
        start = np.empty(sub.shape, dtype=bool)
        start[:, 0] = True
        np.not_equal(sub[:, 1:], sub[:, :-1], out=start[:, 1:])
        first = np.maximum.accumulate(np.where(start, np.arange(n), 0), axis=1)
        r = first + 1.0
        r[np.isnan(sub)] = np.nan
        ranks[fix] = r
    return order, s, irregular, ranks


def _scatter_rows(order: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """``out[i, order[i]] = sorted_values[i]``; ``sorted_values`` may be 1-D (shared)."""
    shape = order.shape
    shared = sorted_values.ndim == 1
    out = np.empty(shape, dtype=sorted_values.dtype)
    if shape[1] >= _RADIX_MIN or shared:
        for i in range(shape[0]):
            out[i, order[i]] = sorted_values if shared else sorted_values[i]
    else:
        np.put_along_axis(out, order, sorted_values, axis=1)
    return out


def _rank_rows(v: np.ndarray) -> np.ndarray:
    """Need ranks along axis 1 of a 2-D array (ties 'min', NaN kept)."""
    order, _, _, ranks = _sorted_need_ranks(v)
    return _scatter_rows(order, ranks)


def _exp_values(rank: np.ndarray, n) -> np.ndarray:
    """X = -23 ln(1 - R (1 - exp(-100/23))), R = (N + 1 - rank) / N; exactly 100 at rank 1."""
    big_r = (n + 1 - rank) / n
    x = -EXP_CONSTANT * np.log1p(-big_r * -np.expm1(-EXP_RANGE / EXP_CONSTANT))
    return np.where(big_r == 1, EXP_RANGE, x)


def _transform_rows(v: np.ndarray, kind: str) -> np.ndarray:
    """The ``exp`` or ``rank`` node transform along axis 1 of a 2-D array, NaN kept.

    The transformed values in sorted order depend only on (rank, N): a row without ties or
    non-finite values takes one precomputed vector (shared across the batch), scattered
    back, instead of evaluating the formula per area. N = areas with a finite value.
    """
    order, s, irregular, ranks = _sorted_need_ranks(v, only_irregular=True)
    b, n = v.shape
    fn = _exp_values if kind == "exp" else (lambda r, m: (m + 1 - r) / m)
    out = np.empty((b, n), dtype="float64")
    if (~irregular).any():
        shared = fn(np.arange(1, n + 1, dtype="float64"), n)
        for i in np.flatnonzero(~irregular):
            out[i, order[i]] = shared
    if irregular.any():
        rows = np.flatnonzero(irregular)
        counts = np.isfinite(s[rows]).sum(axis=1)
        vals = fn(ranks, counts[:, None])
        for j, i in enumerate(rows):
            out[i, order[i]] = vals[j]
    return out


def _need_rank_array(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Rank along ``axis``, highest value = 1, ties 'min', NaN kept; float output.

    One argsort per row and a running maximum over tie-group starts; written here (instead
    of ``scipy.stats.rankdata``) because the Monte Carlo ranks (runs x areas) batches with
    NaN, and this is about 3x faster on them without a Python loop per run.
    """
    v = np.asarray(values, dtype="float64")
    if v.ndim == 1:
        return _rank_rows(v[None, :])[0]
    if axis == 1:
        return _rank_rows(np.ascontiguousarray(v))
    return _rank_rows(np.ascontiguousarray(v.T)).T


def need_rank(values, *, name: str | None = None):
    """Need rank: 1 = highest value (highest need), ties take the smallest rank, NaN kept.

    Returns a nullable ``Int64`` Series on the input index for a Series input, else a float
    array.
    """
    r = _need_rank_array(_as_array(values))
    if isinstance(values, pd.Series):
        return _wrap(r, values, name, dtype="Int64")
    return r


def _decile_array(rank: np.ndarray, n: int) -> np.ndarray:
    return np.clip(np.ceil(10.0 * rank / n), 1, 10)


def deciles(rank, n: int | None = None, *, name: str | None = None):
    """IoD deciles from need ranks: ``ceil(10 * rank / n)``; decile 1 = highest need.

    ``n`` defaults to the number of non-missing ranks. Tied ranks share a decile.
    """
    r = _as_array(rank)
    if n is None:
        n = int(np.isfinite(r).sum())
    d = _decile_array(r, n) if n > 0 else np.full(r.shape, np.nan)
    if isinstance(rank, pd.Series):
        return _wrap(d, rank, name, dtype="Int64")
    return d


def population_deciles(rank, population, *, name: str | None = None):
    """Population-weighted deciles: each decile holds about 10% of residents.

    An area's decile is ``ceil(10 * (P_before + p) / P)`` where ``P_before`` is the population
    of areas with a strictly smaller rank (higher need), ``p`` the mean population of the
    area's tie group and ``P`` the population of all ranked areas. With every population 1
    this is exactly the IoD rule ``ceil(10 * rank / N)``; tied areas share a decile.
    """
    r = pd.Series(_as_array(rank), index=getattr(rank, "index", None))
    pop = pd.Series(_as_array(population), index=r.index)
    bad = pop.isna() | (pop < 0)
    ok = r.notna() & ~bad
    if bad[r.notna()].any():
        msg = (
            f"population deciles: {fmt(int(bad[r.notna()].sum()), int(r.notna().sum()))} ranked "
            "areas have a missing or negative population; fix the population column."
        )
        raise DataError(msg)
    total = pop[ok].sum()
    out = pd.Series(np.nan, index=r.index)
    if total <= 0:
        msg = "population deciles: the ranked areas have no residents in total."
        raise DataError(msg)
    grp = pd.DataFrame({"r": r[ok], "p": pop[ok]}).groupby("r")["p"].agg(["sum", "mean"])
    grp = grp.sort_index()
    before = grp["sum"].cumsum() - grp["sum"]
    dec = np.clip(np.ceil(10.0 * (before + grp["mean"]) / total - 1e-12), 1, 10)
    out[ok] = r[ok].map(dec).to_numpy()
    if isinstance(rank, pd.Series):
        return out.rename(name if name is not None else rank.name).astype("Int64")
    return out.to_numpy()


def fmt(n: int, total: int) -> str:
    return f"{n:,} of {total:,}"


# --- normalisations --------------------------------------------------------------------------


def _avg_rank(v: np.ndarray) -> np.ndarray:
    """Ascending rank (highest value = N), ties averaged, NaN kept."""
    return stats.rankdata(v, method="average", axis=0, nan_policy="omit")


def _count(v: np.ndarray) -> np.ndarray:
    return np.isfinite(v).sum(axis=0)


def _rankit(v):
    r = _avg_rank(v)
    return special.ndtri((r - 0.5) / _count(v))


def _rank_normal(v):
    r = _avg_rank(v)
    return special.ndtri(r / (_count(v) + 1.0))


def _zscore(v):
    mean = np.nanmean(v, axis=0)
    sd = np.nanstd(v, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (v - mean) / sd
    return np.where(np.asarray(sd) > 0, out, np.where(np.isnan(v), np.nan, 0.0))


def _minmax(v):
    lo = np.nanmin(v, axis=0)
    hi = np.nanmax(v, axis=0)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (v - lo) / span
    return np.where(np.asarray(span) > 0, out, np.where(np.isnan(v), np.nan, 0.0))


def _rank(v):
    return _avg_rank(v)


def _none(v):
    return np.asarray(v, dtype="float64")


NORMALISERS = {
    "rankit": _rankit,
    "rank_normal": _rank_normal,
    "zscore": _zscore,
    "minmax": _minmax,
    "rank": _rank,
    "none": _none,
}

NORMALISE_TEXT = {
    "rankit": "rankit normal scores Phi^-1((r - 0.5)/N), r = average rank with highest need = N",
    "rank_normal": "rank-based normal scores Phi^-1(r/(N + 1)), r = average rank, highest need = N",
    "zscore": "z-score (x - mean) / sd, sd with ddof 0",
    "minmax": "min-max (x - min) / (max - min)",
    "rank": "plain rank r (average ties), highest need = N",
    "none": "the oriented value unchanged",
}


def normalise(
    values,
    *,
    method: Literal["rankit", "rank_normal", "zscore", "minmax", "rank", "none"] = "rankit",
    direction: Literal["high", "low"] = "high",
):
    """Orient an indicator so higher = more need, then normalise it.

    ``direction="low"`` negates the values first (lower value = more need). Rank-based methods
    give tied values their average rank. NaN stays NaN and does not count in N.

    Parameters
    ----------
    values
        A Series (result on its index) or array (along axis 0).
    method
        One of ``rankit``, ``rank_normal``, ``zscore``, ``minmax``, ``rank``, ``none``.
    direction
        ``high`` (higher value = more need) or ``low``.
    """
    if method not in NORMALISERS:
        msg = f"normalise: unknown method {method!r}; valid: {', '.join(NORMALISERS)}"
        raise ValueError(msg)
    if direction not in ("high", "low"):
        msg = f"normalise: unknown direction {direction!r}; valid: high, low"
        raise ValueError(msg)
    v = _as_array(values)
    if direction == "low":
        v = -v
    return _wrap(NORMALISERS[method](v), values)
