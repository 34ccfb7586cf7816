"""Zonal statistics of rasters over areas with exact partial-cell coverage (exactextract)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from exactextract import exact_extract
from exactextract._exactextract import Feature
from exactextract.feature import FeatureSource
from exactextract.raster import NumPyRasterSource, RasterioRasterSource
from pyproj import CRS

from .._util import crs_label, fmt_count
from ..errors import CRSError, DataError, GeometryError, SourceError
from ._common import check_frame, geometry_array, valid_geometry_mask, warn_count

log = logging.getLogger(__name__)

# public stat name -> exactextract operation
_STATS = {
    "sum": "sum",
    "mean": "mean",
    "min": "min",
    "max": "max",
    "count": "count",
    "weighted_mean": "weighted_mean",
    "weighted_sum": "weighted_sum",
}
_WEIGHTED = {"weighted_mean", "weighted_sum"}


class _WKBFeature(Feature):
    """A feature handed to exactextract as WKB (much faster than GeoJSON round trips)."""

    def __init__(self, i: int, wkb: bytes):
        Feature.__init__(self)
        self.i = i
        self.wkb = wkb

    def geometry(self):
        return self.wkb

    def set_geometry_format(self):
        return "wkb"

    def get(self, name):
        return self.i

    def set(self, name, value):
        if name == "id":
            self.i = value

    def fields(self):
        return ["id"]


class _WKBSource(FeatureSource):
    def __init__(self, wkbs, positions, wkt):
        super().__init__()
        self.wkbs = wkbs
        self.positions = positions
        self.wkt = wkt

    def count(self):
        return len(self.wkbs)

    def __iter__(self):
        for i, b in zip(self.positions, self.wkbs, strict=True):
            yield _WKBFeature(int(i), b)

    def srs_wkt(self):
        return self.wkt


def _open(path, name):
    path = Path(os.fspath(path))
    if not path.exists():
        msg = f"`{name}` raster {path} does not exist; check the path in the recipe."
        raise SourceError(msg)
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        msg = f"`{name}` {path} cannot be read as a raster: {exc}."
        raise SourceError(msg) from exc


def _same_crs(ds, areas, name):
    if ds.crs is None:
        msg = (
            f"the raster `{name}` ({ds.name}) has no CRS; assign one (e.g. with gdal_edit -a_srs)."
        )
        raise CRSError(msg)
    rc = CRS.from_user_input(ds.crs.to_wkt())
    if not rc.is_projected:
        msg = f"the raster `{name}` ({ds.name}) is in a geographic CRS ({crs_label(rc)}); zonal statistics need a projected raster in metres (warp it first)."
        raise CRSError(msg)
    same = rc.equals(areas.crs, ignore_axis_order=True) or (
        rc.to_epsg(min_confidence=70) is not None
        and rc.to_epsg(min_confidence=70) == areas.crs.to_epsg(min_confidence=70)
    )
    if not same:
        msg = (
            f"the raster `{name}` ({ds.name}) is in {crs_label(rc)} but `areas` is in "
            f"{crs_label(areas.crs)}; reproject the areas with `areas.to_crs(...)` to the raster's CRS."
        )
        raise CRSError(msg)


def zonal_stats(
    areas,
    raster,
    *,
    stats=("sum", "mean"),
    weights=None,
    threshold: float | None = None,
    categorical: bool = False,
    band: int = 1,
) -> pd.DataFrame:
    """Statistics of a raster over each area, with exact partial-cell coverage.

    Every cell counts by the fraction of it inside the area (exactextract), so an area half
    over a cell takes half of its value into the sum.

    Parameters
    ----------
    areas
        GeoDataFrame of polygons indexed by area code, in the raster's (projected) CRS.
    raster
        Path of a single-band raster (GeoTIFF or anything GDAL reads).
    stats
        Names from: ``sum`` (sum of value x covered fraction), ``mean`` (coverage-weighted
        mean), ``min``, ``max``, ``count`` (covered valid cells, in cells), ``weighted_mean``
        and ``weighted_sum`` (weighted by the ``weights`` raster).
    weights
        Path of a second raster (e.g. population) for ``weighted_mean``/``weighted_sum``;
        ``weighted_mean`` is added to ``stats`` when ``weights`` is given and no weighted stat
        is listed.
    threshold
        Adds a column ``share_above``: share of the area's valid covered area whose cells have a
        value strictly greater than ``threshold``.
    categorical
        Adds a column ``frac_<class>`` per class value: share of the valid covered area in that
        class (classes absent from an area get 0 when the area has coverage).
    band
        Band number of ``raster``.

    Returns
    -------
    pandas.DataFrame
        On ``areas.index``: one column per stat, then ``share_above`` / ``frac_*`` columns if
        asked, then ``coverage``: the share of the area's area lying on valid (not nodata)
        raster cells, in 0..1. Where the coverage is 0 (area off the raster or all nodata) every
        statistic is NaN, never 0; areas without a geometry get NaN everywhere.

    Notes
    -----
    exactextract (C++) computes the coverage fractions; we feed it WKB geometries and use its
    ``raster-sequential`` strategy, the fastest configuration measured (benchmarks/indicators.py).
    """
    check_frame(areas, "areas", what="zonal_stats")
    stats = [stats] if isinstance(stats, str) else list(stats)
    unknown = [s for s in stats if s not in _STATS]
    if unknown:
        msg = f"unknown zonal statistic(s) {unknown}; choose from: {', '.join(_STATS)}."
        raise DataError(msg)
    if weights is None and any(s in _WEIGHTED for s in stats):
        msg = "`stats` asks for a weighted statistic but no `weights` raster was given."
        raise DataError(msg)
    if weights is not None and not any(s in _WEIGHTED for s in stats):
        stats.append("weighted_mean")

    geoms = geometry_array(areas)
    ok = valid_geometry_mask(geoms, "areas", role="areas")
    types = shapely.get_type_id(geoms[ok])
    if len(types) and not np.isin(types, (3, 6)).all():
        msg = "`areas` must be polygons for zonal statistics; found other geometry types."
        raise GeometryError(msg)
    pos = np.flatnonzero(ok)
    n = len(geoms)

    with _open(raster, "raster") as ds:
        _same_crs(ds, areas, "raster")
        res = ds.res
        cell_area = abs(res[0] * res[1])
        wkt = ds.crs.to_wkt()
        n_bands = ds.count
        if not 1 <= band <= n_bands:
            msg = f"`band={band}` does not exist: the raster {ds.name} has {n_bands} band(s)."
            raise DataError(msg)
        extra_arrays = None
        if threshold is not None or categorical:
            data = ds.read(band, masked=True)
            extra_arrays = (data, ds.bounds)
    if weights is not None:
        with _open(weights, "weights") as wds:
            _same_crs(wds, areas, "weights")

    ops = ["count"] + [_STATS[s] for s in stats if s != "count"]
    if categorical:
        ops += ["unique", "frac"]
    wkbs = shapely.to_wkb(geoms[pos])
    src = _WKBSource(wkbs, pos, wkt)
    rast = os.fspath(raster)
    raster_src = rast if n_bands == 1 else RasterioRasterSource(rast, band)
    table = pd.DataFrame(index=np.arange(n))
    if len(pos):
        got = exact_extract(
            raster_src,
            src,
            ops,
            weights=None if weights is None else os.fspath(weights),
            include_cols=["id"],
            strategy="raster-sequential",
            output="pandas",
        )
        got = got.set_index("id").reindex(np.arange(n))
        table = got
    else:
        for op in ops:
            table[op] = np.nan

    count = table["count"].to_numpy(dtype="float64", na_value=np.nan)
    poly_area = np.full(n, np.nan)
    poly_area[pos] = shapely.area(geoms[pos])
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = np.clip(count * cell_area / poly_area, 0.0, 1.0)
    coverage[~ok] = np.nan
    empty = ~(count > 0)
    warn_count(
        int((empty & ok).sum()),
        n,
        "areas lie off the raster or on nodata cells only; their zonal statistics are NaN "
        "(coverage 0).",
    )
    partial = int(((coverage < 0.999) & ~empty).sum())
    if partial:
        log.info("%s areas are only partly covered by valid raster cells.", fmt_count(partial, n))

    out = pd.DataFrame(index=areas.index)
    for s in stats:
        col = table[_STATS[s]].to_numpy(dtype="float64", na_value=np.nan)
        col = np.where(empty, np.nan, col)
        out[s] = col
    if threshold is not None:
        data, bounds = extra_arrays
        above = np.where(data.mask, -1.0, (data.filled(0) > threshold).astype("float32"))
        binary = NumPyRasterSource(
            np.asarray(above, dtype="float32"),
            bounds.left,
            bounds.bottom,
            bounds.right,
            bounds.top,
            nodata=-1.0,
            srs_wkt=wkt,
        )
        share = np.full(n, np.nan)
        if len(pos):
            sh = exact_extract(
                binary,
                _WKBSource(wkbs, pos, wkt),
                ["mean"],
                include_cols=["id"],
                strategy="raster-sequential",
                output="pandas",
            ).set_index("id")
            share[sh.index.to_numpy()] = sh["mean"].to_numpy(dtype="float64")
        out["share_above"] = np.where(empty, np.nan, share)
    if categorical and len(pos):
        long = table[["unique", "frac"]].dropna().explode(["unique", "frac"]).dropna()
        if len(long):
            wide = (
                long.assign(frac=long["frac"].astype("float64"))
                .pivot_table(index=long.index, columns="unique", values="frac", aggfunc="sum")
                .reindex(np.arange(n))
            )
            for cls in wide.columns:
                label = f"{int(cls)}" if float(cls).is_integer() else f"{cls:g}"
                vals = wide[cls].to_numpy(dtype="float64")
                out[f"frac_{label}"] = np.where(empty, np.nan, np.nan_to_num(vals, nan=0.0))
    out["coverage"] = coverage
    return out
