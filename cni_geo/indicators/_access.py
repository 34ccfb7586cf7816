"""Accessibility: gravity (Hansen) access and two-step floating catchments on a sparse OD matrix."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from .._util import fmt_count, require_projected, require_same_crs
from ..errors import ColumnError, DataError
from ._common import warn_count

log = logging.getLogger(__name__)

Decay = Literal["power", "exponential", "gaussian", "linear", "step"]


def _need(param, decay):
    if param is None:
        msg = {
            "power": "`decay='power'` needs `param` = the exponent beta in f(c) = c**-beta (e.g. 1.0).",
            "exponential": "`decay='exponential'` needs `param` = beta per metre in f(c) = exp(-beta*c).",
            "gaussian": "`decay='gaussian'` needs `param` = sigma in metres in f(c) = exp(-0.5*(c/sigma)**2).",
        }[decay]
        raise DataError(msg)
    return float(param)


def _power(c, cutoff, param, min_cost):
    return np.maximum(c, min_cost) ** -_need(param, "power")


def _exponential(c, cutoff, param, min_cost):
    return np.exp(-_need(param, "exponential") * c)


def _gaussian(c, cutoff, param, min_cost):
    s = _need(param, "gaussian")
    return np.exp(-0.5 * (c / s) ** 2)


def _linear(c, cutoff, param, min_cost):
    return np.clip(1.0 - c / cutoff, 0.0, 1.0)


def _step(c, cutoff, param, min_cost):
    if param is None:
        return np.ones_like(c)
    zones = sorted((float(b), float(w)) for b, w in param)
    bounds = np.array([b for b, _ in zones])
    weights = np.array([w for _, w in zones] + [0.0])
    return weights[np.searchsorted(bounds, c, side="left")]


DECAYS: dict[str, Callable] = {
    "power": _power,
    "exponential": _exponential,
    "gaussian": _gaussian,
    "linear": _linear,
    "step": _step,
}


def decay_weights(cost, decay: Decay = "step", *, cutoff: float, param=None, min_cost=1.0):
    """Vectorised distance-decay weights f(c) for an array of costs (0 beyond ``cutoff``).

    ``power``: max(c, min_cost)**-beta; ``exponential``: exp(-beta c); ``gaussian``:
    exp(-0.5 (c/sigma)^2); ``linear``: 1 - c/cutoff; ``step``: 1, or with ``param`` a list of
    ``(upper_bound, weight)`` zones (E2SFCA, e.g. ``[(500, 1), (1000, 0.68), (1500, 0.22)]``),
    the weight of the first zone whose bound is >= c (0 past the last zone).
    """
    if decay not in DECAYS:
        msg = f"`decay={decay!r}` is not known; choose one of: {', '.join(DECAYS)}."
        raise DataError(msg)
    c = np.asarray(cost, dtype="float64")
    f = DECAYS[decay](c, float(cutoff), param, float(min_cost))
    return np.where(c <= cutoff, f, 0.0)


def _ids_and_column(frame, col, name, arg):
    if col not in frame.columns:
        msg = f"`{arg}={col!r}`: no such column in `{name}`; its columns are: {', '.join(map(str, frame.columns[:12]))}."
        raise ColumnError(msg)
    vals = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if (vals < 0).any():
        msg = f"`{name}[{col!r}]` has {int((vals < 0).sum()):,} negative values; it must be >= 0."
        raise DataError(msg)
    nan = np.isnan(vals)
    warn_count(
        int(nan.sum()),
        len(vals),
        f"rows of `{name}` have no `{col}`; they count as 0.",
        stacklevel=4,
    )
    return np.where(nan, 0.0, vals)


def _check_sparse_costs(costs, n_origins: int, n_destinations: int, cutoff: float) -> np.ndarray:
    """The stored costs of a sparse OD matrix, after checking its shape, sign and the cutoff."""
    if not (float(cutoff) > 0):
        msg = f"`cutoff` must be a positive cost (metres or minutes); got {cutoff!r}."
        raise DataError(msg)
    if costs.shape != (n_origins, n_destinations):
        msg = (
            f"`costs` is a {costs.shape[0]:,} x {costs.shape[1]:,} sparse matrix; it must be "
            f"origins x destinations ({n_origins:,} x {n_destinations:,})."
        )
        raise DataError(msg)
    c = np.asarray(costs.data, dtype="float64")
    if (c < 0).any():
        msg = f"`costs` has {int((c < 0).sum()):,} negative costs; costs must be >= 0."
        raise DataError(msg)
    return c


def _log_unreached(denom: np.ndarray, supply: np.ndarray) -> None:
    unreached = int(((denom <= 0) & (supply > 0)).sum())
    if unreached:
        log.info(
            "%s destinations with supply are reached by no demand within the cutoff.",
            fmt_count(unreached, len(supply)),
        )


def od_pairs(origins, destinations, *, cutoff: float, costs: pd.DataFrame | None = None):
    """Origin-destination pairs within ``cutoff`` as ``(i, j, cost)`` position arrays.

    With ``costs=None`` the cost is the straight-line distance in metres between the
    geometries' points (cKDTree ball search). Otherwise ``costs`` is a long table with columns
    ``origin``, ``destination`` and ``cost`` (ids from ``origins.index`` and
    ``destinations.index``; need not be symmetric, e.g. road travel times); pairs above the
    cutoff, or with unknown ids, are dropped. ``costs`` may also be a scipy.sparse matrix of
    shape (origins, destinations) in row order whose stored entries are the pairs: the form to
    reuse one OD matrix for many supply layers (no id matching at all).
    """
    if not (float(cutoff) > 0):
        msg = f"`cutoff` must be a positive cost (metres or minutes); got {cutoff!r}."
        raise DataError(msg)
    if costs is not None and sp.issparse(costs):
        # a precomputed sparse OD matrix (origins x destinations in row order): its stored
        # entries are the pairs, so a zero cost must be stored explicitly
        coo = costs.tocoo()
        c = _check_sparse_costs(coo, len(origins), len(destinations), cutoff)
        keep = c <= float(cutoff)
        return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), c[keep]
    if costs is None:
        for g, nm in ((origins, "origins"), (destinations, "destinations")):
            if not isinstance(g, gpd.GeoDataFrame):
                msg = f"`{nm}` must be a GeoDataFrame when no `costs` table is given."
                raise DataError(msg)
            require_projected(g, nm, what="straight-line access")
        require_same_crs(origins, destinations, "origins", "destinations")
        oxy = shapely.get_coordinates(_points(origins))
        dxy = shapely.get_coordinates(_points(destinations))
        to = cKDTree(oxy)
        td = cKDTree(dxy)
        sdm = to.sparse_distance_matrix(td, float(cutoff), output_type="ndarray")
        return sdm["i"].astype(np.int64), sdm["j"].astype(np.int64), sdm["v"].astype("float64")
    need = {"origin", "destination", "cost"}
    if not need <= set(costs.columns):
        msg = f"`costs` must have columns origin, destination, cost; found {', '.join(map(str, costs.columns))}."
        raise ColumnError(msg)
    i = _positions(origins.index, costs["origin"])
    j = _positions(destinations.index, costs["destination"])
    c = pd.to_numeric(costs["cost"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if (c < 0).any():
        msg = f"`costs` has {int((c < 0).sum()):,} negative costs; costs must be >= 0."
        raise DataError(msg)
    unknown = (i < 0) | (j < 0)
    warn_count(
        int(unknown.sum()),
        len(c),
        "rows of `costs` name an unknown origin or destination; they are ignored.",
        stacklevel=4,
    )
    keep = ~unknown & (c <= float(cutoff))
    return i[keep], j[keep], c[keep]


def _positions(index: pd.Index, ids: pd.Series) -> np.ndarray:
    """Row positions of ``ids`` in ``index`` (-1 if absent); factorizes first, which is much
    faster than ``get_indexer`` on millions of repeated string ids."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    lookup = np.append(index.get_indexer(uniques), -1)
    return lookup[codes]


def _points(gdf):
    g = np.asarray(gdf.geometry.array, dtype=object)
    bad = shapely.is_missing(g) | shapely.is_empty(g)
    if bad.any():
        msg = f"{fmt_count(int(bad.sum()), len(g))} rows have no geometry; drop them before computing access."
        raise DataError(msg)
    is_pt = shapely.get_type_id(g) == 0
    if not is_pt.all():
        g = g.copy()
        g[~is_pt] = shapely.point_on_surface(g[~is_pt])
    return g


def gravity_access(
    origins,
    destinations,
    *,
    supply: str,
    cutoff: float,
    decay: Decay = "power",
    param=None,
    costs: pd.DataFrame | None = None,
    min_cost: float = 1.0,
) -> pd.Series:
    """Gravity (Hansen) accessibility: A_i = sum over j with c_ij <= cutoff of S_j f(c_ij).

    Parameters
    ----------
    origins, destinations
        GeoDataFrames (points; others reduced to a point on their surface) in one projected CRS,
        or any frames indexed by id when ``costs`` is given.
    supply
        Column of ``destinations`` with the supply S_j (e.g. places, GPs); NaN counts as 0.
    cutoff
        Maximum cost (metres for straight line; the unit of ``costs`` otherwise).
    decay, param
        Decay function and its parameter, see :func:`decay_weights`.
    costs
        Optional long table ``origin, destination, cost`` (e.g. road travel times; may be
        asymmetric). Default: straight-line distances.
    min_cost
        For ``power`` decay, costs below this are raised to it (avoids 0**-beta).

    Returns
    -------
    pandas.Series named ``"gravity_access"`` on ``origins.index`` (supply units x decay
    weight); 0 where no destination lies within the cutoff.
    """
    s = _ids_and_column(destinations, supply, "destinations", "supply")
    i, j, c = od_pairs(origins, destinations, cutoff=cutoff, costs=costs)
    f = decay_weights(c, decay, cutoff=cutoff, param=param, min_cost=min_cost)
    acc = np.bincount(i, weights=f * s[j], minlength=len(origins))
    return pd.Series(acc, index=origins.index, name="gravity_access")


def two_step_fca(
    origins,
    destinations,
    *,
    demand: str,
    supply: str,
    cutoff: float,
    decay: Decay = "step",
    param: float | Sequence | None = None,
    costs: pd.DataFrame | None = None,
    min_cost: float = 1.0,
) -> pd.Series:
    """Two-step floating catchment area access (2SFCA; enhanced E2SFCA with a decay).

    Step 1, for each destination j: R_j = S_j / sum over i with c_ij <= cutoff of D_i f(c_ij).
    Step 2, for each origin i: A_i = sum over j with c_ij <= cutoff of R_j f(c_ij).
    With ``decay="step"`` and no ``param`` this is the classic 2SFCA (Luo and Wang 2003);
    step zones (``param=[(500, 1), (1000, 0.68), (1500, 0.22)]``) give the enhanced 2SFCA
    (Luo and Qi 2009); any other decay gives a kernel-density 2SFCA.

    Parameters
    ----------
    origins
        Demand locations with column ``demand`` (e.g. children per output area).
    destinations
        Supply locations with column ``supply`` (e.g. school pupil capacity).
    cutoff, decay, param, costs, min_cost
        As in :func:`gravity_access`; ``costs`` may be asymmetric (c_ij != c_ji).

    Returns
    -------
    pandas.Series named ``"two_step_fca"`` on ``origins.index``: supply per unit of demand
    (e.g. places per child). 0 where no destination is within the cutoff. Supply is
    conserved: sum_i D_i A_i equals the total supply of destinations reached by some demand.
    Destinations no demand reaches have no ratio (logged) and add nothing.

    Notes
    -----
    The OD pairs within the cutoff form a sparse matrix W = f(c_ij) kept in coordinate form
    (row, column, weight arrays); both steps are sparse matrix-vector products done with
    ``numpy.bincount``, no loop over origins or destinations.
    """
    d = _ids_and_column(origins, demand, "origins", "demand")
    s = _ids_and_column(destinations, supply, "destinations", "supply")
    if sp.issparse(costs) and costs.format == "csr":
        # a CSR OD matrix: reuse its structure, weights in place of costs, two CSR products
        # (no coordinate arrays, no id matching): the fast path for many supply layers
        c = _check_sparse_costs(costs, len(origins), len(destinations), cutoff)
        w = sp.csr_matrix(
            (
                decay_weights(c, decay, cutoff=cutoff, param=param, min_cost=min_cost),
                costs.indices,
                costs.indptr,
            ),
            shape=costs.shape,
        )
        denom = w.T @ d
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(denom > 0, s / denom, 0.0)
        _log_unreached(denom, s)
        return pd.Series(w @ ratio, index=origins.index, name="two_step_fca")
    i, j, c = od_pairs(origins, destinations, cutoff=cutoff, costs=costs)
    f = decay_weights(c, decay, cutoff=cutoff, param=param, min_cost=min_cost)
    # W = sparse (i, j, f) in coordinate form; W.T @ d and W @ ratio as weighted bincounts
    # (as fast as scipy.sparse CSR products here, without building and sorting a CSR)
    denom = np.bincount(j, weights=f * d[i], minlength=len(destinations))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denom > 0, s / denom, 0.0)
    _log_unreached(denom, s)
    acc = np.bincount(i, weights=f * ratio[j], minlength=len(origins))
    return pd.Series(np.asarray(acc, dtype="float64"), index=origins.index, name="two_step_fca")
