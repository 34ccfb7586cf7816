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


def _rank_rows(v: np.ndarray) -> np.ndarray:
    """Need ranks along axis 1 of a C-contiguous 2-D array (ties 'min', NaN kept)."""
    n = v.shape[1]
    key = -v  # NaN sorts last
    order = np.argsort(key, axis=1)
    s = np.take_along_axis(key, order, axis=1)
    start = np.empty(s.shape, dtype=bool)
    start[:, 0] = True
    np.not_equal(s[:, 1:], s[:, :-1], out=start[:, 1:])
    if start.all():
        ranks_sorted = np.broadcast_to(np.arange(1, n + 1, dtype="float64"), s.shape)
    else:
        pos = np.arange(n)
        first = np.maximum.accumulate(np.where(start, pos, 0), axis=1)
        ranks_sorted = (first + 1).astype("float64")
    nan = np.isnan(s)
    if nan.any():
        ranks_sorted = np.where(nan, np.nan, ranks_sorted)
    out = np.empty(s.shape, dtype="float64")
    np.put_along_axis(out, order, ranks_sorted, axis=1)
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
