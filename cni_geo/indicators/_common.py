"""Checks and small helpers shared by the indicator families."""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._util import fmt_count, require_projected, require_same_crs
from ..errors import ColumnError, DataError, GeometryError

log = logging.getLogger(__name__)


def check_frame(gdf, name: str, *, what: str) -> None:
    """``gdf`` must be a GeoDataFrame/GeoSeries in a projected CRS with a unique index."""
    if not isinstance(gdf, gpd.GeoDataFrame | gpd.GeoSeries):
        msg = f"`{name}` must be a GeoDataFrame (got {type(gdf).__name__}); read it with cni_geo.sources."
        raise GeometryError(msg)
    require_projected(gdf, name, what=what)


def check_unique_index(obj, name: str) -> None:
    if not obj.index.is_unique:
        dup = obj.index[obj.index.duplicated()]
        msg = (
            f"`{name}` has {fmt_count(len(dup))} duplicate index values (first: {dup[0]!r}); "
            "results align by index, so each row needs a unique code."
        )
        raise DataError(msg)


def check_pair(a, b, name_a: str, name_b: str, *, what: str) -> None:
    check_frame(a, name_a, what=what)
    check_frame(b, name_b, what=what)
    require_same_crs(a, b, name_a, name_b)


def geometry_array(gdf) -> np.ndarray:
    """The geometries as a shapely array (GeoSeries or GeoDataFrame)."""
    geo = gdf if isinstance(gdf, gpd.GeoSeries) else gdf.geometry
    return np.asarray(geo.array, dtype=object)


def valid_geometry_mask(
    geoms: np.ndarray, name: str, *, role: str, warn: bool = True
) -> np.ndarray:
    """True where a geometry is present and non-empty; warn with a count for the others."""
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bad = int((~ok).sum())
    if bad and warn:
        warnings.warn(
            f"{fmt_count(bad, len(geoms))} {role} in `{name}` have no geometry; they are ignored.",
            stacklevel=3,
        )
    return ok


def column(gdf, col: str, name: str, *, arg: str) -> pd.Series:
    """``gdf[col]`` with an error naming the argument if the column is absent."""
    if col not in gdf.columns:
        cols = ", ".join(map(str, list(gdf.columns)[:12]))
        msg = f"`{arg}={col!r}`: no column {col!r} in `{name}`; its columns are: {cols}."
        raise ColumnError(msg)
    return gdf[col]


def numeric(series: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    bad = int((values.isna() & series.notna()).sum())
    if bad:
        msg = f"{fmt_count(bad, len(series))} values of {name} are not numbers; fix them or drop them."
        raise DataError(msg)
    return values.to_numpy(dtype="float64", na_value=np.nan)


def category_labels(values: pd.Series, name: str, arg: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 for missing) and the category names as strings, sorted."""
    missing = values.isna().to_numpy()
    if missing.any():
        warnings.warn(
            f"{fmt_count(int(missing.sum()), len(values))} rows of `{name}` have no `{arg}` value; "
            "they are ignored.",
            stacklevel=3,
        )
    as_str = values.astype("string")
    codes, uniques = pd.factorize(as_str, sort=True, use_na_sentinel=True)
    names = [str(u) for u in uniques]
    return codes, names


def warn_count(n: int, total: int, text: str, *, stacklevel: int = 3) -> None:
    if n:
        warnings.warn(f"{fmt_count(n, total)} {text}", stacklevel=stacklevel)
