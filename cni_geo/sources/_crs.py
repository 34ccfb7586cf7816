"""Explicit, logged reprojection to the working CRS."""

from __future__ import annotations

import functools
import logging
import warnings

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from .._util import DEFAULT_CRS, crs_label
from ..errors import CRSError

log = logging.getLogger("cni_geo.sources")

GRID_HINT = (
    "For the exact transformation install the grid it needs (e.g. OSTN15 for Great Britain: "
    "`projsync --file uk_os_OSTN15_NTv2_OSGBtoETRS.tif` into a folder named by PROJ_DATA) "
    "or allow PROJ to fetch grids on demand with PROJ_NETWORK=ON."
)


def as_crs(crs, *, name: str = "crs") -> pyproj.CRS:
    """A :class:`pyproj.CRS` from anything pyproj accepts, or a :class:`CRSError`."""
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        msg = f"`{name}` = {crs!r} is not a CRS pyproj understands ({exc}); use e.g. 'EPSG:27700'."
        raise CRSError(msg) from exc


def require_metric(crs: pyproj.CRS, *, name: str = "working_crs") -> None:
    """Raise unless ``crs`` is projected with metre units."""
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter", "m"):
        msg = (
            f"`{name}` is {crs_label(crs)}, which is not a projected CRS in metres; "
            "distances, areas and densities need metres. Use e.g. 'EPSG:27700' (Great Britain) "
            "or the UTM zone of your area."
        )
        raise CRSError(msg)


@functools.lru_cache(maxsize=32)
def _transformer(src_wkt: str, dst_wkt: str):
    """The best available transformation between two CRSs, and whether a better one exists."""
    src, dst = pyproj.CRS.from_wkt(src_wkt), pyproj.CRS.from_wkt(dst_wkt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the missing-grid warning: we log our own
        group = pyproj.transformer.TransformerGroup(src, dst, always_xy=True)
    if not group.transformers:
        msg = f"PROJ knows no transformation from {crs_label(src)} to {crs_label(dst)}."
        raise CRSError(msg)
    best_missing = None
    if not group.best_available and group.unavailable_operations:
        best_missing = group.unavailable_operations[0]
    return group.transformers[0], best_missing


def describe_transformation(src, dst) -> str:
    """A one-line description of the transformation PROJ will use from ``src`` to ``dst``."""
    t, missing = _transformer(as_crs(src).to_wkt(), as_crs(dst).to_wkt())
    acc = f"{t.accuracy:g} m" if t.accuracy is not None and t.accuracy >= 0 else "unknown"
    text = f"'{t.description}' (accuracy {acc})"
    if missing is not None:
        text += f"; the more accurate '{missing.name}' needs a grid file that is not installed"
    return text


def transform_geometries(geoms, src, dst) -> np.ndarray:
    """Transform a shapely geometry array with the logged best-available transformation."""
    t, _ = _transformer(as_crs(src).to_wkt(), as_crs(dst).to_wkt())

    def _fn(coords: np.ndarray) -> np.ndarray:
        x, y = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), _fn)


def to_working_crs(
    gdf: gpd.GeoDataFrame, crs=DEFAULT_CRS, *, name: str = "layer"
) -> gpd.GeoDataFrame:
    """Reproject ``gdf`` to the working CRS explicitly, logging the transformation used.

    Parameters
    ----------
    gdf
        A GeoDataFrame with a CRS (never modified).
    crs
        The working CRS, projected in metres (default British National Grid, EPSG:27700).
    name
        How the layer is named in log lines and errors (a file or source name).

    Returns
    -------
    GeoDataFrame
        A copy in ``crs``. When ``gdf`` is already in an equivalent CRS only the CRS label is
        normalised; coordinates are untouched.

    Notes
    -----
    The transformation is chosen by PROJ (best available) and logged with its accuracy. Without
    the OSTN15 grid, EPSG:4326 -> EPSG:27700 uses a Helmert fit that is a few metres off; the
    log line says so and how to supply the grid (``PROJ_DATA`` or ``PROJ_NETWORK=ON``).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(-0.1276, 51.5072)], crs="EPSG:4326")
    >>> round(to_working_crs(g).geometry.x.iloc[0], -2)
    530000.0
    """
    target = as_crs(crs, name="working_crs")
    require_metric(target)
    if gdf.crs is None:
        msg = (
            f"`{name}` has no CRS, so it cannot be reprojected to {crs_label(target)}. "
            "Give the source's CRS with `crs=` (recipe: `crs:` on the source), e.g. 'EPSG:4326' "
            "for longitude/latitude."
        )
        raise CRSError(msg)
    if gdf.crs.equals(target):
        out = gdf.copy()
        if not gdf.crs.is_exact_same(target):
            out = out.set_crs(target, allow_override=True)
        return out
    how = describe_transformation(gdf.crs, target)
    level = logging.WARNING if "not installed" in how else logging.INFO
    log.log(
        level,
        "reprojecting %s (%s features) from %s to %s with %s.%s",
        name,
        f"{len(gdf):,}",
        crs_label(gdf.crs),
        crs_label(target),
        how,
        (" " + GRID_HINT) if "not installed" in how else "",
    )
    out = gdf.copy()
    for col in out.columns[out.dtypes == "geometry"]:
        series = out[col]
        if series.crs is None or series.crs.equals(target):
            continue
        out[col] = gpd.GeoSeries(
            transform_geometries(series.values, series.crs, target), index=out.index, crs=target
        )
    return out.set_crs(target, allow_override=True)
