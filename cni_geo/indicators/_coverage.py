"""Coverage measures: share of residents near an asset, share of area under polygons."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
import shapely

from ..errors import DataError
from ._common import (
    check_frame,
    check_pair,
    column,
    geometry_array,
    numeric,
    valid_geometry_mask,
    warn_count,
)
from ._distance import nearest_distance

log = logging.getLogger(__name__)


def share_within(
    points,
    assets,
    distance: float,
    *,
    population: str,
    areas_of: str,
    index=None,
    network=None,
) -> pd.Series:
    """Share of each area's residents living within ``distance`` metres of an asset.

    Parameters
    ----------
    points
        GeoDataFrame of population points (from :mod:`cni_geo.geography`), each carrying its
        residents and the code of the area it lies in.
    assets
        GeoDataFrame of assets in the same projected CRS (polygons measured to the polygon).
    distance
        Metres (>= 0); a point exactly ``distance`` away counts as within.
    population
        Column of ``points`` with the residents of each point (>= 0).
    areas_of
        Column of ``points`` with the code of the area each point belongs to.
    index
        Optional area codes to return; areas without any point get NaN (counted warning).
    network
        Optional routing object, passed to :func:`nearest_distance` (road distance).

    Returns
    -------
    pandas.Series named ``"share_within"``, values in 0..1:
    sum(pop of points with d <= distance) / sum(pop of points), per area. NaN where an area
    has no residents. With an empty asset layer every share is 0 (nobody is near an asset).
    Points without geometry are left out of both sums.
    """
    check_pair(points, assets, "points", "assets", what="share_within")
    if not (float(distance) >= 0):
        msg = f"`distance` must be a non-negative number of metres; got {distance!r}."
        raise DataError(msg)
    pop = numeric(
        column(points, population, "points", arg="population"), f"`points[{population!r}]`"
    )
    if (pop < 0).any():
        msg = f"`points[{population!r}]` has {int((pop < 0).sum()):,} negative values; populations must be >= 0."
        raise DataError(msg)
    codes = column(points, areas_of, "points", arg="areas_of")
    geoms = geometry_array(points)
    ok = valid_geometry_mask(geoms, "points", role="points")
    a_ok = ~(shapely.is_missing(geometry_array(assets)) | shapely.is_empty(geometry_array(assets)))
    if a_ok.any():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # far points are expected here, not a problem
            d = nearest_distance(
                points[ok], assets, max_distance=float(distance), network=network
            ).to_numpy(dtype="float64")
        near = np.zeros(len(geoms), bool)
        near[ok] = d <= float(distance)
    else:
        warn_count(1, 1, "asset layer is empty; every share within distance is 0.")
        near = np.zeros(len(geoms), bool)
    pop_ok = np.where(ok, pop, np.nan)
    frame = pd.DataFrame(
        {"near": np.where(near, pop_ok, 0.0), "all": pop_ok, "code": codes.to_numpy()},
    )
    frame = frame[ok & ~np.isnan(pop)]
    warn_count(
        int((ok & np.isnan(pop)).sum()), len(pop), "points have no population; they are left out."
    )
    sums = frame.groupby("code", sort=True)[["near", "all"]].sum()
    nopop = int((sums["all"] <= 0).sum())
    warn_count(nopop, len(sums), "areas have no residents; their share within distance is NaN.")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (sums["near"] / sums["all"].where(sums["all"] > 0)).rename("share_within")
    share.index.name = areas_of
    if index is not None:
        target = pd.Index(index)
        warn_count(
            int((~target.isin(share.index)).sum()),
            len(target),
            "areas have no population point; their share within distance is NaN.",
        )
        share = share.reindex(target)
    return share


Unit = Literal["share", "km2", "m2"]
_UNITS = {"share": None, "km2": 1e-6, "m2": 1.0}


def area_share(areas, polygons, *, unit: Unit = "share") -> pd.Series:
    """Share of each area covered by ``polygons`` (green space, water, ...).

    Parameters
    ----------
    areas
        GeoDataFrame of area polygons, projected CRS in metres.
    polygons
        GeoDataFrame of polygons in the same CRS. They are unioned first, so overlapping
        polygons (a park inside a larger park) are not counted twice. Points and lines have no
        area and are ignored (counted warning); invalid polygons are repaired with make_valid.
    unit
        ``"share"`` (0..1, covered area / area), ``"km2"`` or ``"m2"`` (covered area). For
        green space per 1,000 residents use ``per_1000(area_share(..., unit="km2"), pop)``.

    Returns
    -------
    pandas.Series on ``areas.index`` named ``"area_share"`` (or ``"area_km2"``/``"area_m2"``);
    NaN for areas without a geometry (or of zero area, for shares).
    """
    if unit not in _UNITS:
        msg = f"`unit={unit!r}` is not known; choose one of: {', '.join(_UNITS)}."
        raise DataError(msg)
    check_frame(areas, "areas", what="area_share")
    check_pair(areas, polygons, "areas", "polygons", what="area_share")
    ar = geometry_array(areas)
    ar_ok = valid_geometry_mask(ar, "areas", role="areas")
    pg = geometry_array(polygons)
    pg = pg[valid_geometry_mask(pg, "polygons", role="polygons")]
    is_poly = np.isin(shapely.get_type_id(pg), (3, 6))
    warn_count(
        int((~is_poly).sum()), len(pg), "features of `polygons` are not polygons; they are ignored."
    )
    pg = pg[is_poly]
    invalid = ~shapely.is_valid(pg)
    if invalid.any():
        log.info("repairing %d invalid polygons", int(invalid.sum()))
        pg = pg.copy()
        pg[invalid] = shapely.make_valid(pg[invalid])
    covered = np.zeros(len(ar))
    if len(pg) and ar_ok.any():
        parts = shapely.get_parts(shapely.union_all(pg))
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        tree = shapely.STRtree(parts)
        a_idx = np.flatnonzero(ar_ok)
        qi, ti = tree.query(ar[a_idx], predicate="intersects")
        inter = shapely.area(shapely.intersection(ar[a_idx[qi]], parts[ti]))
        covered = np.bincount(a_idx[qi], weights=inter, minlength=len(ar))
    covered = np.where(ar_ok, covered, np.nan)
    if unit == "share":
        total = np.where(ar_ok, shapely.area(np.where(ar_ok, ar, None)), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.where(total > 0, covered / total, np.nan)
        return pd.Series(np.clip(vals, 0, 1), index=areas.index, name="area_share")
    return pd.Series(covered * _UNITS[unit], index=areas.index, name=f"area_{unit}")
