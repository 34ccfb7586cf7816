"""Counts of assets in or near areas, and rates per 1,000 residents and per km2."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._util import fmt_count, require_projected
from ..errors import DataError
from ._common import (
    category_labels,
    check_pair,
    column,
    geometry_array,
    numeric,
    valid_geometry_mask,
    warn_count,
)

log = logging.getLogger(__name__)

# mean vertices per area below which point-to-boundary distances are computed unprepared
_SIMPLE_VERTICES = 64


def count_within(
    areas,
    assets,
    *,
    buffer: float = 0.0,
    by: str | None = None,
    weight: str | None = None,
):
    """Number of assets inside each area or within ``buffer`` metres of its boundary.

    Parameters
    ----------
    areas
        GeoDataFrame of areas (polygons) indexed by area code, projected CRS in metres.
    assets
        GeoDataFrame of assets (points, lines or polygons) in the same CRS. An asset counts for
        an area when its distance to the area is at most ``buffer`` (0 = it intersects the
        area), so an asset may count for several areas: the CNI 2019 civic-asset rule
        ("in the area or within 1 km of its boundary") is ``buffer=1000``. A point exactly on
        a shared boundary counts for both areas.
    buffer
        Metres, >= 0.
    by
        Category column of ``assets``: return a DataFrame with one column per category value
        (as a string).
    weight
        Numeric column of ``assets`` to sum instead of counting (e.g. capacity). Assets with a
        missing weight are ignored with a counted warning.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        On ``areas.index``, named ``"count"`` (or ``weight``). Integer counts; 0 where no asset
        is near (including an empty asset layer); NaN for areas without a geometry.

    Notes
    -----
    One shapely ``STRtree`` over the assets queried with every area at once (predicate
    ``intersects`` or ``dwithin``), then ``numpy.bincount``: no loop over areas.
    """
    check_pair(areas, assets, "areas", "assets", what="count_within")
    try:
        buffer = float(buffer)
    except (TypeError, ValueError):
        buffer = float("nan")
    if not (buffer >= 0):
        msg = f"`buffer` must be a non-negative number of metres (e.g. 1000); got {buffer!r}."
        raise DataError(msg)
    ar = geometry_array(areas)
    ar_ok = valid_geometry_mask(ar, "areas", role="areas")
    ag = geometry_array(assets)
    ag_ok = valid_geometry_mask(ag, "assets", role="assets")

    w = None
    if weight is not None:
        w = numeric(column(assets, weight, "assets", arg="weight"), f"`assets[{weight!r}]`")
        nan_w = np.isnan(w) & ag_ok
        warn_count(int(nan_w.sum()), len(w), f"assets have no `{weight}` value; they are ignored.")
        ag_ok &= ~np.isnan(w)
    if by is not None:
        codes, names = category_labels(column(assets, by, "assets", arg="by"), "assets", "by")
        ag_ok &= codes >= 0
    else:
        codes, names = np.zeros(len(ag), dtype=np.int64), [None]

    keep = np.flatnonzero(ag_ok)
    n_area, n_cat = len(ar), len(names)
    if len(keep) and ar_ok.any():
        tree = shapely.STRtree(ag[keep])
        a_idx = np.flatnonzero(ar_ok)
        points = bool((shapely.get_type_id(ag[keep]) == 0).all())
        if buffer > 0 and points:
            qi, ti = _points_within(ar[a_idx], ag[keep], tree, buffer)
        elif buffer > 0:
            qi, ti = tree.query(ar[a_idx], predicate="dwithin", distance=buffer)
        else:
            qi, ti = tree.query(ar[a_idx], predicate="intersects")
        area_i = a_idx[qi]
        asset_i = keep[ti]
        flat = area_i * n_cat + codes[asset_i]
        wts = None if w is None else w[asset_i]
        counts = np.bincount(flat, weights=wts, minlength=n_area * n_cat).reshape(n_area, n_cat)
        used = np.zeros(len(ag), bool)
        used[asset_i] = True
        outside = int((~used[keep]).sum())
        where = "every area" + (f" and its {buffer:,.0f} m buffer" if buffer > 0 else "")
        if outside == len(keep):
            warn_count(
                outside,
                len(keep),
                f"assets lie outside {where}, so every count is 0; check the assets' CRS "
                "and that longitude and latitude are not swapped.",
            )
        elif outside:
            log.info("%s assets lie outside %s.", fmt_count(outside, len(keep)), where)
    else:
        counts = np.zeros((n_area, n_cat), dtype=np.float64 if w is not None else np.int64)
    if not ar_ok.all():
        counts = counts.astype("float64")
        counts[~ar_ok] = np.nan
    name = weight if weight is not None else "count"
    if by is None:
        return pd.Series(counts[:, 0], index=areas.index, name=name)
    frame = pd.DataFrame(counts, index=areas.index, columns=pd.Index(names, dtype=object))
    frame.columns.name = by
    return frame


def _points_within(areas, points, tree, buffer):
    """Pairs (area, point) with the point at most ``buffer`` metres from the area.

    Candidates come from the tree by the area's bounding box grown by ``buffer`` and are cut
    to those within ``buffer`` of the box (numpy); points inside the area then count without a
    distance computation (``contains_xy``), and only the others get an exact GEOS distance to
    the area's boundary (prepared ``dwithin`` for areas with many vertices). Same pairs as ``tree.query(areas, predicate="dwithin")``, with fewer exact
    distance tests.
    """
    b = shapely.bounds(areas)
    boxes = shapely.box(b[:, 0] - buffer, b[:, 1] - buffer, b[:, 2] + buffer, b[:, 3] + buffer)
    qi, ti = tree.query(boxes)
    xy = shapely.get_coordinates(points)
    x, y = xy[ti, 0], xy[ti, 1]
    bq = b[qi]
    ddx = np.maximum(np.maximum(bq[:, 0] - x, x - bq[:, 2]), 0.0)
    ddy = np.maximum(np.maximum(bq[:, 1] - y, y - bq[:, 3]), 0.0)
    near = ddx * ddx + ddy * ddy <= buffer * buffer
    qi, ti, x, y = qi[near], ti[near], x[near], y[near]
    inside = shapely.contains_xy(areas[qi], x, y)
    rest = np.flatnonzero(~inside)
    if shapely.get_num_coordinates(areas).mean() <= _SIMPLE_VERTICES:
        # few vertices: first accept points within `buffer` of one of the area's vertices
        # (the distance to a polygon is at most that to any of its vertices, so this is
        # exact), in numpy; only the rest get a plain distance to the boundary, which beats
        # GEOS's prepared dwithin (2x) on such areas
        near_vertex = _near_a_vertex(areas, qi[rest], x[rest], y[rest], buffer)
        inside[rest[near_vertex]] = True
        rest = rest[~near_vertex]
        edges = shapely.boundary(areas)
        inside[rest] = shapely.distance(edges[qi[rest]], points[ti[rest]]) <= buffer
    else:
        shapely.prepare(areas)
        inside[rest] = shapely.dwithin(areas[qi[rest]], points[ti[rest]], buffer)
    return qi[inside], ti[inside]


def _near_a_vertex(areas, q, x, y, buffer) -> np.ndarray:
    """For each pair (area ``q[i]``, point ``(x[i], y[i])``): is some vertex of the area within
    ``buffer``? Vectorised over all pairs and vertices (a grouped minimum with reduceat)."""
    if len(q) == 0:
        return np.zeros(0, dtype=bool)
    coords, owner = shapely.get_coordinates(areas, return_index=True)
    nv = np.bincount(owner, minlength=len(areas))
    start = np.concatenate(([0], np.cumsum(nv)[:-1]))
    cnt = nv[q]
    pair_start = np.concatenate(([0], np.cumsum(cnt)[:-1]))
    vidx = np.repeat(start[q] - pair_start, cnt)
    vidx += np.arange(len(vidx))
    dx = coords[:, 0][vidx]
    dx -= np.repeat(x, cnt)
    dy = coords[:, 1][vidx]
    dy -= np.repeat(y, cnt)
    dx *= dx
    dy *= dy
    dx += dy
    return np.minimum.reduceat(dx, pair_start) <= buffer * buffer


def _denominator(values, denom: pd.Series, *, what: str, unit: str, negative_error: bool):
    """``denom`` aligned to ``values.index``, with 0/NaN/missing set to NaN and warned about."""
    d = pd.to_numeric(denom, errors="coerce").astype("float64")
    if not d.index.is_unique:
        msg = f"the {what} has duplicate index values; it must hold one value per area code."
        raise DataError(msg)
    aligned = d.reindex(values.index)
    arr = aligned.to_numpy(dtype="float64", na_value=np.nan)
    if negative_error and (arr < 0).any():
        bad = aligned[aligned < 0]
        msg = (
            f"{fmt_count(len(bad), len(arr))} areas have a negative {what} "
            f"(first: {bad.index[0]!r} = {bad.iloc[0]:g}); fix the population table."
        )
        raise DataError(msg)
    missing = int(np.isnan(arr).sum())
    zero = int((arr == 0).sum())
    warn_count(zero, len(arr), f"areas have a {what} of 0; their rate {unit} is NaN.", stacklevel=4)
    warn_count(
        missing,
        len(arr),
        f"areas have no {what} (missing or NaN); their rate {unit} is NaN.",
        stacklevel=4,
    )
    arr = np.where(arr > 0, arr, np.nan) if negative_error else np.where(arr != 0, arr, np.nan)
    return arr


def _scale(values, denom: np.ndarray, factor: float):
    if isinstance(values, pd.DataFrame):
        vals = values.apply(pd.to_numeric, errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        out = vals * factor / denom[:, None]
        return pd.DataFrame(out, index=values.index, columns=values.columns)
    vals = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(vals * factor / denom, index=values.index, name=values.name)


def per_1000(values, population):
    """``values`` per 1,000 residents: ``1000 * value / population``.

    Parameters
    ----------
    values
        Series or DataFrame on the area index (e.g. from :func:`count_within`).
    population
        Series of residents on the same codes (aligned by index, not by position).

    Returns
    -------
    Series or DataFrame like ``values``; NaN (with a counted warning) where the population is
    0, NaN or absent. A negative population raises :class:`cni_geo.errors.DataError`.
    """
    denom = _denominator(
        values, population, what="population", unit="per 1,000", negative_error=True
    )
    return _scale(values, denom, 1000.0)


def per_km2(values, areas):
    """``values`` per square kilometre of area.

    Parameters
    ----------
    values
        Series or DataFrame on the area index.
    areas
        GeoDataFrame/GeoSeries of the areas in a projected CRS in metres (their area is taken
        from the geometry), or a Series of areas already in km2.

    Returns
    -------
    Series or DataFrame like ``values``; NaN (with a counted warning) where the area is 0 or
    missing.
    """
    if isinstance(areas, gpd.GeoDataFrame | gpd.GeoSeries):
        require_projected(areas, "areas", what="per_km2")
        geo = areas if isinstance(areas, gpd.GeoSeries) else areas.geometry
        km2 = pd.Series(shapely.area(np.asarray(geo.array)) / 1e6, index=areas.index)
        km2[geo.isna().to_numpy() | geo.is_empty.to_numpy()] = np.nan
    else:
        km2 = areas
    denom = _denominator(values, km2, what="land area", unit="per km2", negative_error=True)
    return _scale(values, denom, 1.0)
