"""Upward aggregation over a lookup: sums, weighted means and the IoD extent and proportion."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd

from .._util import fmt_count
from ..errors import ColumnError, DataError
from ._checks import check_unique_index, warn

log = logging.getLogger(__name__)

How = Literal["sum", "weighted_mean", "mean", "extent", "proportion"]


def extent_weight(rank, n: int) -> np.ndarray:
    """The IoD 2019 "extent" weight of a unit from its national rank (1 = most deprived).

    The unit's percentile is ``ceil(100 * rank / n)``. Percentiles 1-10 weigh 1.0; the 11th
    weighs 0.95 and each further percentile 0.9/19 less, down to 0.05 at the 30th; beyond the
    30th the weight is 0 (English Indices of Deprivation 2019 technical report, appendix N).
    """
    r = np.asarray(rank, dtype="float64")
    pct = np.ceil(100.0 * r / n)
    w = np.where(pct <= 10, 1.0, 0.95 - (pct - 11) * (0.90 / 19))
    w = np.where(pct > 30, 0.0, w)
    return np.where(np.isnan(r), np.nan, np.clip(w, 0.0, 1.0))


def _sum(v, w, grp, nan):
    return _grouped((v, None), grp, nan, lambda s: s[0])


def _mean(v, w, grp, nan):
    return _grouped((v, np.ones_like(v)), grp, nan, lambda s: s[0] / s[1])


def _weighted_mean(v, w, grp, nan):
    return _grouped((v * w, w), grp, nan, lambda s: s[0] / s[1], weights=w)


def _extent_from(v, w, grp, nan, n):
    return _grouped((extent_weight(v, n) * w, w), grp, nan, lambda s: s[0] / s[1], weights=w)


def _proportion_from(v, w, grp, nan, n):
    worst = np.where(np.isnan(v), np.nan, (np.ceil(10.0 * v / n) == 1).astype("float64"))
    return _grouped((worst, np.ones_like(v)), grp, nan, lambda s: s[0] / s[1])


def _grouped(parts, grp, nan, combine, weights=None):
    """Group sums of ``parts`` (arrays of shape (n, k)) by ``grp`` codes, NaN rule applied."""
    num = parts[0]
    miss = np.isnan(num)
    if weights is not None:
        miss = miss | np.isnan(weights)
    n_groups = int(grp.max()) + 1 if len(grp) else 0
    sums = []
    for part in parts:
        if part is None:
            continue
        p = np.where(miss, 0.0, part)
        sums.append(_bincount2(grp, p, n_groups))
    members = _bincount2(grp, np.ones_like(num), n_groups)
    missing = _bincount2(grp, miss.astype("float64"), n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = combine(sums)
    bad = (missing > 0) if nan == "propagate" else (missing >= members)
    res = np.where(bad, np.nan, res)
    if len(sums) > 1:
        res = np.where(sums[1] > 0, res, np.nan)
    return res


def _bincount2(grp, values, n_groups):
    return np.column_stack(
        [np.bincount(grp, weights=values[:, k], minlength=n_groups) for k in range(values.shape[1])]
    )


AGGREGATORS = {
    "sum": _sum,
    "mean": _mean,
    "weighted_mean": _weighted_mean,
    "extent": _extent_from,
    "proportion": _proportion_from,
}


def aggregate(
    values,
    lookup: pd.Series,
    *,
    how: How = "sum",
    weights: pd.Series | None = None,
    n: int | None = None,
    nan: Literal["propagate", "skip"] = "propagate",
):
    """Aggregate values on fine units up to coarse units through a lookup.

    Parameters
    ----------
    values
        Series or DataFrame indexed by fine-unit code. For ``"extent"`` and ``"proportion"``
        these are national ranks (1 = most deprived of ``n``).
    lookup
        Series fine code -> coarse code (e.g. from :func:`best_fit_lookup`).
    how
        ``"sum"``; ``"mean"`` (unweighted); ``"weighted_mean"`` (``sum w v / sum w``, e.g. the
        population-weighted mean IMD score); ``"extent"`` (the IoD share of residents living in
        the most deprived 30% of units nationally, weight 1 in the worst 10% tapering to 0.05
        at the 30th percentile, see :func:`extent_weight`; needs ``weights`` = residents and
        ``n``); ``"proportion"`` (the IoD share of the coarse unit's fine units that are in
        the most deprived decile nationally, ``ceil(10 * rank / n) == 1``; needs ``n``).
    weights
        Series of weights (residents) on the fine index, for ``weighted_mean`` and ``extent``.
    n
        The number of units ranked nationally (e.g. 32,844 LSOAs in IoD 2019).
    nan
        ``"propagate"`` (default): a coarse value is NaN if any of its fine units has a missing
        value (or missing weight), including fine codes in ``lookup`` absent from ``values``.
        ``"skip"``: missing members are left out; NaN only if all are missing.

    Returns
    -------
    Series or DataFrame
        Indexed by coarse code (sorted), named like ``values``.
    """
    if how not in AGGREGATORS:
        msg = f"`how={how!r}` is not a known aggregation; choose one of: {', '.join(AGGREGATORS)}."
        raise ValueError(msg)
    if nan not in ("propagate", "skip"):
        msg = f"`nan={nan!r}` is not a known rule; choose 'propagate' or 'skip'."
        raise ValueError(msg)
    is_series = isinstance(values, pd.Series)
    frame = values.to_frame() if is_series else values
    if not isinstance(frame, pd.DataFrame):
        msg = f"`values` must be a Series or DataFrame indexed by fine code (got {type(values).__name__})."
        raise DataError(msg)
    if not isinstance(lookup, pd.Series):
        msg = "`lookup` must be a Series fine code -> coarse code (see best_fit_lookup)."
        raise DataError(msg)
    check_unique_index(frame, "values")
    check_unique_index(lookup, "lookup")
    for c in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])):
            msg = f"column {c!r} of `values` is not numeric (dtype {frame[c].dtype}); convert it first."
            raise ColumnError(msg)
    if how in ("extent", "proportion"):
        if n is None or n <= 0:
            msg = f"`how={how!r}` needs `n`, the number of units ranked nationally (e.g. n=32844)."
            raise DataError(msg)
        ranks = frame.to_numpy(dtype="float64", na_value=np.nan)
        if ((ranks < 1) | (ranks > n)).any():
            msg = f"`how={how!r}` needs ranks between 1 and n={n:,}; `values` holds others."
            raise DataError(msg)
    needs_w = how in ("weighted_mean", "extent")
    if needs_w and weights is None:
        msg = f"`how={how!r}` needs `weights` (e.g. residents per fine unit)."
        raise DataError(msg)
    if not needs_w and weights is not None:
        msg = f"`how={how!r}` takes no `weights`; drop them or use how='weighted_mean'."
        raise DataError(msg)
    lk = lookup.dropna()
    extra = frame.index.difference(lk.index)
    if len(extra):
        warn(
            f"{fmt_count(len(extra), len(frame))} fine units in `values` are not in `lookup` "
            f"(first: {extra[0]!r}); they are left out.",
            stacklevel=3,
        )
    fine = pd.Index(lk.index)
    coarse_codes, coarse = pd.factorize(lk.to_numpy(), sort=True)
    v = frame.reindex(fine).to_numpy(dtype="float64", na_value=np.nan)
    absent = fine.difference(frame.index)
    if len(absent):
        warn(
            f"{fmt_count(len(absent), len(fine))} fine units in `lookup` have no row in "
            f"`values` (first: {absent[0]!r}); they count as missing.",
            stacklevel=3,
        )
    w = None
    if needs_w:
        if not isinstance(weights, pd.Series):
            msg = "`weights` must be a Series on the fine-unit index."
            raise DataError(msg)
        wv = pd.to_numeric(weights.reindex(fine), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        if (wv < 0).any():
            msg = "`weights` holds negative values; weights (residents) cannot be negative."
            raise DataError(msg)
        w = np.repeat(wv[:, None], v.shape[1], axis=1)
    func = AGGREGATORS[how]
    if how in ("extent", "proportion"):
        if w is None:
            w = np.ones_like(v)
        res = func(v, w, coarse_codes, nan, n)
    else:
        res = func(v, w, coarse_codes, nan)
    index = pd.Index(coarse, name=lookup.name)
    out = pd.DataFrame(res, index=index, columns=frame.columns)
    return out.iloc[:, 0].rename(values.name) if is_series else out
