"""The population base: points where people live, each assigned to its area.

"Distance from where people live" is computed from these points (output-area or postcode
centroids with counts, population-weighted centroids, or raster cells), never from area
centroids unless a recipe says so.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely

from ._util import fmt_count, require_projected, require_same_crs
from .errors import ColumnError, DataError, GeometryError, SourceError

log = logging.getLogger(__name__)

How = Literal["point_on_surface", "centroid"]
_HOW = {
    "point_on_surface": shapely.point_on_surface,
    "centroid": shapely.centroid,
}


def _population(units, population, name: str) -> np.ndarray:
    if isinstance(population, str):
        if population not in units.columns:
            cols = ", ".join(map(str, list(units.columns)[:12]))
            msg = (
                f"`population={population!r}`: no such column in `{name}`; its columns are: {cols}."
            )
            raise ColumnError(msg)
        series = units[population]
    else:
        series = pd.Series(population).reindex(units.index)
    vals = pd.to_numeric(series, errors="coerce")
    bad = vals.isna() & series.notna()
    text = int(bad.sum())
    if text:
        first = bad.to_numpy().nonzero()[0][0]
        msg = (
            f"{fmt_count(text, len(series))} populations in `{name}` are not numbers "
            f"(first: {units.index[first]!r} = {series.iloc[first]!r}); fix the table."
        )
        raise DataError(msg)
    arr = vals.to_numpy(dtype="float64", na_value=np.nan)
    neg = arr < 0
    if neg.any():
        first = units.index[np.flatnonzero(neg)[0]]
        msg = (
            f"{fmt_count(int(neg.sum()), len(arr))} units in `{name}` have a negative population "
            f"(first: {first!r}); populations must be >= 0."
        )
        raise DataError(msg)
    missing = int(np.isnan(arr).sum())
    if missing:
        warnings.warn(
            f"{fmt_count(missing, len(arr))} units in `{name}` have no population (NaN); "
            "their points carry NaN and are left out of weighted measures.",
            stacklevel=3,
        )
    return arr


def population_points(units, *, population, how: How = "point_on_surface") -> gpd.GeoDataFrame:
    """One point per unit (output area, postcode, ...) carrying its residents.

    Parameters
    ----------
    units
        GeoDataFrame of units indexed by unit code (polygons or points), projected CRS.
    population
        Column name of ``units`` with residents, or a Series of residents on the unit codes.
    how
        ``"point_on_surface"`` (default: a point guaranteed inside the unit, also for
        crescent-shaped units) or ``"centroid"`` (the geometric centroid, which can fall
        outside a concave unit). Units that already are points are kept as they are.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by unit code, with columns ``population`` (float, NaN where unknown) and
        ``unit_code`` (the code, as a column too) and point geometry in the units' CRS.
        Units without geometry are dropped with a counted warning.
    """
    if how not in _HOW:
        msg = f"`how={how!r}` is not known; choose one of: {', '.join(_HOW)}."
        raise DataError(msg)
    if not isinstance(units, gpd.GeoDataFrame):
        msg = f"`units` must be a GeoDataFrame; got {type(units).__name__}."
        raise GeometryError(msg)
    require_projected(units, "units", what="population_points")
    pop = _population(units, population, "units")
    geoms = np.asarray(units.geometry.array, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.all():
        warnings.warn(
            f"{fmt_count(int((~ok).sum()), len(ok))} units have no geometry; they get no point.",
            stacklevel=2,
        )
    geoms = geoms[ok]
    is_point = shapely.get_type_id(geoms) == 0
    pts = geoms.copy()
    if (~is_point).any():
        pts[~is_point] = _HOW[how](geoms[~is_point])
    index = units.index[ok]
    return gpd.GeoDataFrame(
        {"population": pop[ok], "unit_code": index.to_numpy()},
        geometry=gpd.GeoSeries(pts, index=index, crs=units.crs),
        index=index,
        crs=units.crs,
    )


def raster_points(raster_path, *, band: int = 1, drop_zero: bool = True) -> gpd.GeoDataFrame:
    """Cells of a population raster as weighted points at the cell centres.

    Parameters
    ----------
    raster_path
        Path of a raster of residents per cell in a projected CRS.
    band
        Band to read.
    drop_zero
        Leave out cells with 0 residents (they weigh nothing), to save memory.

    Returns
    -------
    geopandas.GeoDataFrame indexed ``"r{row}_c{col}"`` with ``population``, ``row``, ``col``
    and point geometry; nodata cells are left out.
    """
    path = Path(os.fspath(raster_path))
    if not path.exists():
        msg = f"raster {path} does not exist; check the path."
        raise SourceError(msg)
    with rasterio.open(path) as ds:
        data = ds.read(band, masked=True)
        transform = ds.transform
        crs = ds.crs
    if crs is None or not crs.is_projected:
        msg = f"raster {path} must be in a projected CRS in metres (found {crs}); warp it first."
        raise DataError(msg)
    valid = ~np.ma.getmaskarray(data)
    values = np.asarray(data.filled(np.nan), dtype="float64")
    valid &= ~np.isnan(values)
    if (values[valid] < 0).any():
        msg = f"raster {path} has {int((values[valid] < 0).sum()):,} negative cells; populations must be >= 0."
        raise DataError(msg)
    if drop_zero:
        valid &= values > 0
    rows, cols = np.nonzero(valid)
    xs, ys = rasterio.transform.xy(transform, rows, cols, offset="center")
    pts = shapely.points(np.asarray(xs, dtype="float64"), np.asarray(ys, dtype="float64"))
    index = pd.Index(
        np.char.add(np.char.add("r", rows.astype(str)), np.char.add("_c", cols.astype(str))),
        name="cell",
    )
    return gpd.GeoDataFrame(
        {"population": values[rows, cols], "row": rows, "col": cols},
        geometry=gpd.GeoSeries(pts, index=index),
        index=index,
        crs=crs.to_wkt(),
    )


def pop_weighted_centroids(fine, coarse_key: str, *, population) -> gpd.GeoDataFrame:
    """Population-weighted centroids of coarse units from a finer unit (ONS PWC method).

    Parameters
    ----------
    fine
        GeoDataFrame of the fine units (points, e.g. postcodes, or polygons, which are
        reduced to a point on their surface) in a projected CRS.
    coarse_key
        Column of ``fine`` holding the code of the coarse unit each fine unit lies in.
    population
        Column (or Series on ``fine.index``) with the residents of each fine unit.

    Returns
    -------
    geopandas.GeoDataFrame indexed by coarse code with ``population`` (sum) and a point at
    ``(sum w x / sum w, sum w y / sum w)``. A coarse unit whose fine units hold no residents
    gets the unweighted mean of their points (counted warning). The weighted mean of points
    can fall outside a concave coarse unit, as with ONS centroids.
    """
    if not isinstance(fine, gpd.GeoDataFrame):
        msg = f"`fine` must be a GeoDataFrame; got {type(fine).__name__}."
        raise GeometryError(msg)
    if coarse_key not in fine.columns:
        msg = f"`coarse_key={coarse_key!r}`: no such column in `fine`."
        raise ColumnError(msg)
    pts = population_points(fine, population=population, how="point_on_surface")
    xy = shapely.get_coordinates(np.asarray(pts.geometry.array))
    key = fine[coarse_key].reindex(pts.index)
    missing = key.isna().to_numpy()
    if missing.any():
        warnings.warn(
            f"{fmt_count(int(missing.sum()), len(key))} fine units have no `{coarse_key}`; "
            "they are left out.",
            stacklevel=2,
        )
    w = np.nan_to_num(pts["population"].to_numpy(dtype="float64"), nan=0.0)
    codes, uniques = pd.factorize(key, sort=True, use_na_sentinel=True)
    keep = codes >= 0
    codes, xy, w = codes[keep], xy[keep], w[keep]
    m = len(uniques)
    wsum = np.bincount(codes, weights=w, minlength=m)
    n = np.bincount(codes, minlength=m).astype("float64")
    sx = np.bincount(codes, weights=w * xy[:, 0], minlength=m)
    sy = np.bincount(codes, weights=w * xy[:, 1], minlength=m)
    ux = np.bincount(codes, weights=xy[:, 0], minlength=m) / n
    uy = np.bincount(codes, weights=xy[:, 1], minlength=m) / n
    zero = wsum <= 0
    if zero.any():
        warnings.warn(
            f"{fmt_count(int(zero.sum()), m)} coarse units have no residents; their centroid "
            "is the unweighted mean of their fine units.",
            stacklevel=2,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.where(zero, ux, sx / wsum)
        cy = np.where(zero, uy, sy / wsum)
    index = pd.Index(uniques, name=coarse_key)
    return gpd.GeoDataFrame(
        {"population": wsum},
        geometry=gpd.GeoSeries(shapely.points(cx, cy), index=index),
        index=index,
        crs=fine.crs,
    )


def assign_to_areas(points, areas, *, name: str | None = None) -> pd.Series:
    """The code of the area each point lies in.

    Parameters
    ----------
    points
        GeoDataFrame of points (or any geometry: its representative point is used).
    areas
        GeoDataFrame of area polygons indexed by area code, in the same projected CRS.
    name
        Name of the returned Series (default: ``areas.index.name`` or ``"area_code"``).

    Returns
    -------
    pandas.Series on ``points.index`` with area codes; NaN (missing) for points outside every
    area, reported by a counted warning ("3 of 1,204 points lie outside every area").

    Notes
    -----
    A point inside or on the boundary of an area belongs to it (``intersects``). A point on a
    boundary shared by several areas (or in overlapping areas) goes to the area whose code
    sorts first as a string, so the answer never depends on row order.
    """
    for obj, nm in ((points, "points"), (areas, "areas")):
        if not isinstance(obj, gpd.GeoDataFrame | gpd.GeoSeries):
            msg = f"`{nm}` must be a GeoDataFrame; got {type(obj).__name__}."
            raise GeometryError(msg)
    require_same_crs(points, areas, "points", "areas")
    if not areas.index.is_unique:
        msg = "`areas` has duplicate codes in its index; each area needs a unique code."
        raise DataError(msg)
    pg = np.asarray(points.geometry.array, dtype=object)
    ok = ~(shapely.is_missing(pg) | shapely.is_empty(pg))
    pts = pg.copy()
    non_point = ok & (shapely.get_type_id(np.where(ok, pg, None)) != 0)
    if non_point.any():
        pts[non_point] = shapely.point_on_surface(pg[non_point])
    ag = np.asarray(areas.geometry.array, dtype=object)
    a_ok = ~(shapely.is_missing(ag) | shapely.is_empty(ag))
    a_pos = np.flatnonzero(a_ok)
    tree = shapely.STRtree(ag[a_pos])
    p_pos = np.flatnonzero(ok)
    pi, ti = tree.query(pts[p_pos], predicate="intersects")
    # deterministic: smallest code (as a string) wins on shared boundaries; ranks of the
    # codes are computed once per area, so the 1.7 M pairs are sorted as integers, and only
    # when some point matched several areas
    first = np.ones(len(pi), bool)
    if len(pi) and np.any(np.diff(pi) <= 0):
        rank = np.empty(len(a_pos), np.int64)
        rank[np.argsort(np.asarray(areas.index[a_pos].astype(str)), kind="stable")] = np.arange(
            len(a_pos)
        )
        order = np.lexsort((rank[ti], pi))
        pi, ti = pi[order], ti[order]
    first[1:] = pi[1:] != pi[:-1]
    # positions into the areas' index (-1 = outside): taking from the index keeps its dtype
    # without converting 1.7 M Python objects
    sel = np.full(len(pg), -1, dtype=np.int64)
    sel[p_pos[pi[first]]] = a_pos[ti[first]]
    outside = int((sel < 0).sum())
    if outside:
        warnings.warn(
            f"{fmt_count(outside, len(pg))} points lie outside every area (or have no "
            "geometry); their area code is missing.",
            stacklevel=2,
        )
    series_name = name or areas.index.name or "area_code"
    codes = areas.index.take(sel, allow_fill=True, fill_value=None)
    return pd.Series(codes, index=points.index, name=series_name)
