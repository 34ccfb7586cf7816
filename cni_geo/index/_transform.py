"""Treatments of raw indicator values (log, winsorise, Empirical-Bayes shrinkage) and imputation."""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DataError

log = logging.getLogger(__name__)


def log_transform(values: pd.Series, *, offset: float = 0.0, name: str = "values") -> pd.Series:
    """Natural log of ``values + offset``; values that are not > 0 after the offset raise."""
    v = values.astype("float64") + offset
    bad = v.notna() & (v <= 0)
    if bad.any():
        first = v.index[bad.to_numpy()][0]
        msg = (
            f"{name}: log needs values > 0 but {bad.sum():,} of {v.notna().sum():,} are <= 0 "
            f"after offset {offset:g} (e.g. area {first!r}); set treatment: {{log: {{offset: 1}}}}."
        )
        raise DataError(msg)
    return np.log(v)


def winsorise(values: pd.Series, *, lower: float = 0.0, upper: float = 1.0) -> pd.Series:
    """Clip values to their ``lower`` and ``upper`` quantiles (linear interpolation)."""
    v = values.astype("float64")
    lo, hi = v.quantile([lower, upper]).to_numpy()
    return v.clip(lower=lo, upper=hi)


def shrink(
    count: pd.Series,
    denominator: pd.Series,
    parent: pd.Series,
    *,
    model: Literal["binomial", "poisson"] = "binomial",
) -> pd.Series:
    """Empirical-Bayes shrinkage of small-area rates towards their parent area's rate.

    ``z = count / denominator`` is pulled towards the parent rate
    ``z_parent = sum(count) / sum(denominator)`` (over the parent's areas) as in the IoD:
    ``shrunk = w z + (1 - w) z_parent`` with ``w = (1/s^2) / (1/s^2 + 1/t^2)``. ``s^2`` is
    the sampling variance of the area's rate, ``z_parent (1 - z_parent) / n`` (binomial) or
    ``z_parent / n`` (Poisson); ``t^2`` is the between-area variance within the parent, the
    method-of-moments estimate (Marshall 1991) ``max(var_n(z) - mean(s^2), 0)`` with ``var_n``
    weighted by the denominators. Where ``t^2 = 0`` the area takes the parent rate. Written
    here because no maintained Python package provides this IoD-style estimator.

    Returns the shrunk rates on ``count``'s index; areas with a missing or zero denominator
    are NaN (counted in a warning).
    """
    c = count.astype("float64")
    n = denominator.astype("float64").reindex(c.index)
    par = parent.reindex(c.index)
    ok = c.notna() & n.notna() & (n > 0) & par.notna()
    if (~ok).any():
        warnings.warn(
            f"{(~ok).sum():,} of {len(c):,} areas have a missing count, parent or a zero "
            "denominator; their shrunk rate is NaN.",
            stacklevel=2,
        )
    df = pd.DataFrame({"c": c[ok], "n": n[ok], "p": par[ok]})
    df["z"] = df["c"] / df["n"]
    tot = df.groupby("p")[["c", "n"]].transform("sum")
    zp = tot["c"] / tot["n"]
    if model == "binomial":
        s2 = zp * (1 - zp) / df["n"]
    else:
        s2 = zp / df["n"]
    df["dev2"] = df["n"] * (df["z"] - zp) ** 2
    g = df.groupby("p")
    var_between = g["dev2"].transform("sum") / g["n"].transform("sum")
    t2 = (var_between - s2.groupby(df["p"]).transform("mean")).clip(lower=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(
            s2 <= 0, 1.0, np.where(t2 <= 0, 0.0, (1 / s2) / (1 / s2 + 1 / t2.replace(0, np.nan)))
        )
    shrunk = w * df["z"] + (1 - w) * zp
    out = pd.Series(np.nan, index=c.index, name=count.name)
    out[ok] = shrunk.to_numpy()
    return out


IMPUTERS = {
    "mean": lambda v: v.mean(),
    "median": lambda v: v.median(),
}


def impute(values: pd.Series, *, method: Literal["none", "mean", "median"] = "none"):
    """Fill missing values with the mean or median; returns (values, imputed-flag Series)."""
    flag = values.isna()
    if method == "none" or not flag.any():
        return values, flag
    if method not in IMPUTERS:
        msg = f"impute: unknown method {method!r}; valid: none, {', '.join(IMPUTERS)}"
        raise ValueError(msg)
    fill = IMPUTERS[method](values)
    return values.fillna(fill), flag
