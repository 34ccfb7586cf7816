"""Straight-line (or road-network) distance from origins to the nearest asset."""

from __future__ import annotations

import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from .._util import fmt_count
from ..errors import DataError
from ._common import (
    category_labels,
    check_pair,
    column,
    geometry_array,
    valid_geometry_mask,
    warn_count,
)

log = logging.getLogger(__name__)

_POINT = 0  # shapely.GeometryType.POINT
try:  # optional accelerator for point k-NN, see _knn
    from pykdtree.kdtree import KDTree as _PYKDTREE
except ImportError:  # pragma: no cover - scipy fallback
    _PYKDTREE = None
# pykdtree uses OpenMP itself; with scipy, categories are spread over threads instead
_THREADS = _PYKDTREE is None and os.environ.get("CNI_GEO_THREADS", "1") != "0"


def nearest_distance(
    origins,
    assets,
    *,
    by: str | None = None,
    k: int = 1,
    max_distance: float | None = None,
    network=None,
):
    """Distance in metres from each origin to its nearest (or ``k``-th nearest) asset.

    Parameters
    ----------
    origins
        GeoDataFrame of origins (usually population points from
        :func:`cni_geo.geography.population_points`), in a projected CRS in metres.
    assets
        GeoDataFrame of assets in the same CRS: points, lines or polygons. Polygon assets
        (parks) are measured to the polygon itself, so an origin inside a park is 0 m away.
    by
        Name of a category column of ``assets``. When given, the result is a DataFrame with
        one column per category, named by the category value as a string (sorted as strings).
    k
        1 for the nearest asset, 2 for the second nearest, ... (distinct assets).
    max_distance
        Stop searching at this many metres; origins with no asset that close get NaN (with
        a counted warning). ``None`` searches without limit.
    network
        ``None`` for straight-line distance; otherwise a routing object with a method
        ``nearest_distance(origins, assets, *, by=None, max_distance=None)`` (for example
        :class:`cni_geo.network.RoadGraph`) to which the computation is delegated.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        Metres on ``origins.index``; a Series named ``"nearest_distance"``, or with ``by`` a
        DataFrame. NaN where there is no asset (empty layer or category, fewer than ``k``
        assets, none within ``max_distance``) or the origin has no geometry.

    Notes
    -----
    Point assets use a scipy ``cKDTree`` (exact Euclidean k-nearest neighbours). Other
    geometries use shapely's STRtree: ``query_nearest`` for ``k=1``; for ``k>1`` the distance to
    each asset's representative point (an upper bound on the distance to the asset) bounds a
    ``dwithin`` candidate search whose exact distances are then ranked. Both are exact.
    """
    if network is not None:
        if k != 1:
            msg = f"`k={k}` is not supported with `network`; road-network distances are to the nearest asset (k=1)."
            raise DataError(msg)
        return network.nearest_distance(origins, assets, by=by, max_distance=max_distance)
    check_pair(origins, assets, "origins", "assets", what="nearest_distance")
    if not isinstance(k, int | np.integer) or k < 1:
        msg = f"`k` must be a positive integer (1 = nearest); got {k!r}."
        raise DataError(msg)
    if max_distance is not None and not (max_distance >= 0):
        msg = (
            f"`max_distance` must be a non-negative number of metres or None; got {max_distance!r}."
        )
        raise DataError(msg)

    o_geoms = geometry_array(origins)
    o_ok = valid_geometry_mask(o_geoms, "origins", role="origins")
    a_geoms = geometry_array(assets)
    a_ok = valid_geometry_mask(a_geoms, "assets", role="assets")

    if by is None:
        codes = np.where(a_ok, 0, -1)
        names = [None]
    else:
        codes, names = category_labels(column(assets, by, "assets", arg="by"), "assets", "by")
        codes = np.where(a_ok, codes, -1)

    n = len(o_geoms)
    out = np.full((n, len(names)), np.nan)
    o_idx = np.flatnonzero(o_ok)
    o_valid = o_geoms[o_idx]
    o_points = bool(len(o_valid)) and bool(np.all(shapely.get_type_id(o_valid) == _POINT))
    o_xy = shapely.get_coordinates(o_valid) if o_points else None

    if not len(names) or not (codes >= 0).any():
        warnings.warn(
            "`assets` is empty (no asset with a geometry); every distance is NaN.", stacklevel=2
        )
    jobs = []
    for c, name in enumerate(names):
        sel = a_geoms[codes == c]
        label = "assets" if name is None else f"assets of category {name!r}"
        if len(sel) < k:
            if len(names) > 1 or name is not None or len(sel):
                warnings.warn(
                    f"there are {fmt_count(len(sel))} {label} (fewer than k={k}); "
                    "their distances are NaN.",
                    stacklevel=2,
                )
            continue
        if len(o_idx):
            jobs.append((c, sel))
    if o_xy is not None and len(o_xy) > 10_000:
        order = _spatial_order(o_xy)  # neighbouring queries share tree paths: ~2x faster
        o_xy_sorted = np.ascontiguousarray(o_xy[order])
    else:
        order, o_xy_sorted = None, o_xy

    all_points = all(bool(np.all(shapely.get_type_id(sel) == _POINT)) for _, sel in jobs)
    # the geometries themselves are only needed for non-point assets (STRtree path)
    o_sorted = o_valid if order is None or all_points else o_valid[order]

    def run(job):
        c, sel = job
        return c, _nearest(o_sorted, o_xy_sorted, sel, k=k, max_distance=max_distance)

    if len(jobs) > 1 and o_xy is not None and _THREADS:
        with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            results = list(pool.map(run, jobs))
    else:
        results = [run(j) for j in jobs]
    rows = slice(None) if len(o_idx) == n else o_idx
    for c, d in results:
        if order is None:
            out[rows, c] = d
        else:
            out[o_idx[order] if len(o_idx) != n else order, c] = d

    if max_distance is not None and len(names):
        far = np.isnan(out[rows]).any(axis=1) if len(o_idx) else np.zeros(0, bool)
        warn_count(
            int(far.sum()),
            n,
            f"origins have no asset within {max_distance:,.0f} m in at least one category; "
            "their distance is NaN.",
        )

    if by is None:
        return pd.Series(out[:, 0], index=origins.index, name="nearest_distance")
    frame = pd.DataFrame(out, index=origins.index, columns=pd.Index(names, dtype=object))
    frame.columns.name = by
    return frame


def _nearest(o_geoms, o_xy, a_geoms, *, k, max_distance):
    """Distance of each origin to its k-th nearest geometry in ``a_geoms`` (NaN if none)."""
    bound = np.inf if max_distance is None else float(max_distance)
    if o_xy is not None and bool(np.all(shapely.get_type_id(a_geoms) == _POINT)):
        a_xy = shapely.get_coordinates(a_geoms)
        # a first pass bounded near the typical k-th neighbour distance prunes the search;
        # the few origins with nothing that close are queried again with the real bound
        span = np.ptp(np.vstack([a_xy, o_xy[:: max(1, len(o_xy) // 10_000)]]), axis=0)
        r0 = 3.0 * np.sqrt(max(span[0] * span[1], 1.0) * k / len(a_xy))
        query = _knn(a_xy)
        d = query(o_xy, k, min(r0, bound))
        if r0 < bound:
            miss = np.flatnonzero(~np.isfinite(d))
            if len(miss):
                d[miss] = query(np.ascontiguousarray(o_xy[miss]), k, bound)
        d[~np.isfinite(d)] = np.nan
        return d
    tree = shapely.STRtree(a_geoms)
    if k == 1:
        (oi, _), dist = tree.query_nearest(
            o_geoms,
            max_distance=None if max_distance is None else bound,
            return_distance=True,
            all_matches=False,
        )
        res = np.full(len(o_geoms), np.nan)
        res[oi] = dist
        return res
    # k > 1: bound by the k-th nearest representative point, then rank exact distances
    reps = shapely.point_on_surface(a_geoms)
    o_rep = o_xy if o_xy is not None else shapely.get_coordinates(shapely.point_on_surface(o_geoms))
    kd = cKDTree(shapely.get_coordinates(reps))
    ub, _ = kd.query(o_rep, k=[k], workers=-1)
    ub = ub[:, 0]
    # an origin's representative point lies inside it, so this is an upper bound too
    radius = np.minimum(ub, bound) + 1e-9
    oi, ai = tree.query(o_geoms, predicate="dwithin", distance=radius)
    d = shapely.distance(o_geoms[oi], a_geoms[ai])
    keep = d <= bound
    oi, d = oi[keep], d[keep]
    order = np.lexsort((d, oi))
    oi, d = oi[order], d[order]
    start = np.searchsorted(oi, np.arange(len(o_geoms)), side="left")
    stop = np.searchsorted(oi, np.arange(len(o_geoms)), side="right")
    res = np.full(len(o_geoms), np.nan)
    has = (stop - start) >= k
    res[has] = d[start[has] + k - 1]
    return res


def _knn(a_xy: np.ndarray):
    """A function ``(xy, k, bound) -> distance to the k-th nearest point`` (inf if none).

    pykdtree (OpenMP, exact, same float64 distances) when installed: about 2x faster than
    scipy's cKDTree on 1.7 M queries here; scipy's cKDTree otherwise.
    """
    if _PYKDTREE is not None and len(a_xy) < 2**31:
        tree = _PYKDTREE(np.ascontiguousarray(a_xy, dtype="float64"))

        def query(xy, k, bound):
            ub = None if not np.isfinite(bound) else float(bound)
            d, _ = tree.query(
                np.ascontiguousarray(xy, dtype="float64"), k=k, distance_upper_bound=ub
            )
            d = np.asarray(d, dtype="float64")
            return d if k == 1 else d[:, k - 1].copy()

        return query
    tree = cKDTree(a_xy)

    def query(xy, k, bound):
        return tree.query(xy, k=[k], distance_upper_bound=bound)[0][:, 0]

    return query


def _spatial_order(xy: np.ndarray) -> np.ndarray:
    """A Z-order (Morton) permutation of points, so consecutive queries are close together."""
    mn = xy.min(axis=0)
    span = float((xy.max(axis=0) - mn).max()) or 1.0
    q = ((xy - mn) / span * 65535).astype(np.uint64)

    def spread(v):
        v = v & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    return np.argsort(spread(q[:, 0]) | (spread(q[:, 1]) << np.uint64(1)), kind="stable")
