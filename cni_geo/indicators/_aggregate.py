"""Population-weighted (or unweighted) aggregation of origin-level values to areas."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd

from .._util import fmt_count
from ..errors import DataError
from ._common import warn_count

log = logging.getLogger(__name__)

How = Literal["mean", "median", "percentile"]
_HOWS = ("mean", "median", "percentile")
_TOL = 1e-10


def weighted_aggregate(
    values: pd.Series,
    groups: pd.Series,
    *,
    weights: pd.Series | None = None,
    how: How = "mean",
    q: float | None = None,
    index=None,
) -> pd.Series:
    """Aggregate origin-level values (e.g. distance from each postcode) to areas.

    Parameters
    ----------
    values
        Series of values per origin.
    groups
        Series of area codes per origin, aligned to ``values`` by index (e.g. from
        :func:`cni_geo.geography.assign_to_areas`).
    weights
        Optional Series of non-negative weights per origin (residents), aligned by index.
        ``None`` weighs every origin equally (AHAH takes the plain median over postcodes).
    how
        ``"mean"``: sum(w x) / sum(w). ``"median"``: the weighted median. ``"percentile"``: the
        weighted ``q``-th percentile (``q`` in 0..100).
    q
        Percentile for ``how="percentile"``.
    index
        Optional area codes to return (areas with no origin get NaN); by default the codes
        found in ``groups``, sorted.

    Returns
    -------
    pandas.Series named like ``values`` on the area codes; NaN where an area has no origin
    with a value and a positive weight.

    Notes
    -----
    Percentiles use the averaged inverse of the weighted empirical distribution function
    (Hyndman and Fan's type 2): with the values of an area sorted and ``F(x)`` the share of
    weight at or below ``x``, the ``q``-quantile is the smallest ``x_j`` with
    ``F(x_j) >= q``, averaged with the next value when ``F(x_j) == q`` exactly. Unweighted,
    this is ``numpy.percentile(..., method="averaged_inverted_cdf")`` and the median equals
    ``numpy.median``; with integer weights it equals repeating each value ``w`` times. The
    weighted median leaves at most half of the weight on either side. Origins with a NaN value,
    group or weight are left out (counted warning); zero weights take no part; negative
    weights raise :class:`cni_geo.errors.DataError`. Vectorised with one sort (no loop per
    area); written here because numpy's weighted quantile has no averaged variant and no
    grouping.
    """
    if how not in _HOWS:
        msg = f"`how={how!r}` is not known; choose one of: {', '.join(_HOWS)}."
        raise DataError(msg)
    if how == "percentile":
        if q is None or not (0 <= float(q) <= 100):
            msg = f"`how='percentile'` needs `q` between 0 and 100; got {q!r}."
            raise DataError(msg)
        qf = float(q) / 100.0
    else:
        qf = 0.5
    if not isinstance(values, pd.Series) or not isinstance(groups, pd.Series):
        msg = "`values` and `groups` must be pandas Series aligned by index (origin ids)."
        raise DataError(msg)
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    g = groups.reindex(values.index)
    n = len(x)
    if weights is None:
        w = np.ones(n)
    else:
        w = pd.to_numeric(weights.reindex(values.index), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        if (w < 0).any():
            msg = (
                f"{fmt_count(int((w < 0).sum()), n)} `weights` are negative; weights are "
                "residents and must be >= 0."
            )
            raise DataError(msg)
        warn_count(int(np.isnan(w).sum()), n, "origins have no weight (NaN); they are left out.")
    g_missing = g.isna().to_numpy()
    warn_count(int(g_missing.sum()), n, "origins have no area code; they are left out.")
    warn_count(
        int((np.isnan(x) & ~g_missing).sum()), n, "origins have no value (NaN); they are left out."
    )
    codes, uniques = pd.factorize(g, sort=True, use_na_sentinel=True)
    keep = (codes >= 0) & ~np.isnan(x) & ~np.isnan(w) & (w > 0)
    codes, x, w = codes[keep], x[keep], w[keep]
    m = len(uniques)
    result = np.full(m, np.nan)
    if len(x):
        if how == "mean":
            wsum = np.bincount(codes, weights=w, minlength=m)
            xsum = np.bincount(codes, weights=w * x, minlength=m)
            with np.errstate(invalid="ignore", divide="ignore"):
                result = np.where(wsum > 0, xsum / wsum, np.nan)
        else:
            result = _grouped_quantile(codes, x, w, m, qf)
    out = pd.Series(result, index=pd.Index(uniques, name=groups.name), name=values.name)
    if index is not None:
        target = pd.Index(index)
        absent = int((~target.isin(out.index)).sum())
        warn_count(absent, len(target), "areas have no origin; their value is NaN.")
        out = out.reindex(target)
    return out


def _grouped_quantile(codes, x, w, m, qf):
    order = np.lexsort((x, codes))
    codes, x, w = codes[order], x[order], w[order]
    total = np.bincount(codes, weights=w, minlength=m)
    start = np.searchsorted(codes, np.arange(m), side="left")
    stop = np.searchsorted(codes, np.arange(m), side="right")
    cum = pd.Series(w).groupby(codes).cumsum().to_numpy()  # restarts in each group
    F = cum / total[codes]
    F[stop[codes] - 1 == np.arange(len(F))] = 1.0  # exact at each group's end
    key = codes * 2.0 + F
    has = stop > start
    target = np.arange(m) * 2.0 + qf - _TOL
    j = np.searchsorted(key, target, side="left")
    j = np.minimum(j, np.maximum(stop - 1, 0))
    j = np.maximum(j, start)
    res = np.full(m, np.nan)
    jj = j[has]
    val = x[jj]
    tie = (np.abs(F[jj] - qf) <= _TOL) & (jj + 1 < stop[has])
    nxt = np.where(tie, x[np.minimum(jj + 1, len(x) - 1)], val)
    res[has] = np.where(tie, (val + nxt) / 2.0, val)
    return res
