"""Input checks shared by the reapportionment functions."""

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


def warn(msg: str, *, stacklevel: int = 4) -> None:
    """A counted warning, also logged."""
    log.warning(msg)
    warnings.warn(msg, UserWarning, stacklevel=stacklevel)


def check_areas(gdf, name: str, *, what: str) -> None:
    """``gdf`` is a GeoDataFrame in a projected CRS in metres with a unique index."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = (
            f"`{name}` must be a GeoDataFrame of polygons indexed by area code "
            f"(got {type(gdf).__name__})."
        )
        raise GeometryError(msg)
    require_projected(gdf, name, what=what)
    check_unique_index(gdf, name)


def check_unique_index(obj, name: str) -> None:
    """Raise :class:`DataError` on duplicate index values: results align by index."""
    if not obj.index.is_unique:
        dup = obj.index[obj.index.duplicated()].unique()
        msg = (
            f"`{name}` has {fmt_count(len(dup))} duplicated codes in its index "
            f"(first: {dup[0]!r}); each area needs a unique code. Drop or dissolve the "
            f"duplicates, e.g. `{name}.dissolve(by={name}.index)`."
        )
        raise DataError(msg)


def check_pair(a, b, name_a: str, name_b: str, *, what: str) -> None:
    check_areas(a, name_a, what=what)
    check_areas(b, name_b, what=what)
    require_same_crs(a, b, name_a, name_b)


def polygons(gdf, name: str) -> np.ndarray:
    """The geometries as a shapely array: missing/empty ones are an error, invalid ones repaired.

    Repair uses ``shapely.make_valid(method="structure")``, which keeps polygonal parts only,
    and warns with the count of repaired geometries.
    """
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        first = gdf.index[missing][0]
        msg = (
            f"{fmt_count(int(missing.sum()), len(geoms))} areas in `{name}` have no geometry "
            f"(first: {first!r}); drop them or supply their boundaries."
        )
        raise GeometryError(msg)
    kinds = shapely.get_type_id(geoms)
    nonpoly = ~np.isin(kinds, (3, 6, 7))
    if nonpoly.any():
        first = gdf.index[nonpoly][0]
        msg = (
            f"{fmt_count(int(nonpoly.sum()), len(geoms))} geometries in `{name}` are not "
            f"polygons (first: {first!r}, a {shapely.get_type_id(geoms[nonpoly][0])} type id); "
            "reapportionment moves values between areas, so both sides must be polygons."
        )
        raise GeometryError(msg)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(
            geoms[invalid], method="structure", keep_collapsed=False
        )
        warn(
            f"{fmt_count(int(invalid.sum()), len(geoms))} geometries in `{name}` were invalid "
            f"and were repaired with make_valid (first: {gdf.index[invalid][0]!r})."
        )
    return geoms


def numeric_column(df, col, name: str, *, arg: str) -> np.ndarray:
    """Column ``col`` of ``df`` as float64; :class:`ColumnError` if absent or not numeric."""
    if col not in df.columns:
        cols = ", ".join(map(str, [c for c in df.columns if c != "geometry"][:15]))
        msg = f"`{arg}`: no column {col!r} in `{name}`; its columns are: {cols}."
        raise ColumnError(msg)
    s = df[col]
    if isinstance(s, pd.DataFrame):
        msg = f"`{arg}`: column {col!r} appears more than once in `{name}`; rename one."
        raise ColumnError(msg)
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        sample = s.dropna().head(1).tolist()
        msg = (
            f"`{arg}`: column {col!r} of `{name}` is not numeric (dtype {s.dtype}, e.g. "
            f"{sample[0]!r} ); convert it with `pd.to_numeric(..., errors='coerce')` first."
            if sample
            else f"`{arg}`: column {col!r} of `{name}` is not numeric (dtype {s.dtype})."
        )
        raise ColumnError(msg)
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    inf = np.isinf(values)
    if inf.any():
        msg = (
            f"{fmt_count(int(inf.sum()), len(values))} values of {col!r} in `{name}` are "
            "infinite; replace them with NaN (missing) or a finite number."
        )
        raise DataError(msg)
    return values


def as_columns(value, arg: str) -> list:
    """A column name or a sequence of them as a list (a bare string is one column)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    cols = list(value)
    dup = {c for c in cols if cols.count(c) > 1}
    if dup:
        msg = f"`{arg}` names {sorted(map(str, dup))} more than once."
        raise ColumnError(msg)
    return cols


__all__ = [
    "warn",
    "check_areas",
    "check_unique_index",
    "check_pair",
    "polygons",
    "numeric_column",
    "as_columns",
    "require_same_crs",
    "require_projected",
]
