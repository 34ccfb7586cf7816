"""The overlap table: how much of each source lies in each target, by area or by residents."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .._util import crs_label, fmt_count
from ..errors import CRSError, DataError, GeometryError, SourceError
from ._checks import (
    check_pair,
    check_unique_index,
    numeric_column,
    polygons,
    require_same_crs,
    warn,
)
from ._rastersum import raster_sums

log = logging.getLogger(__name__)

Kind = Literal["area", "population"]


@dataclass(frozen=True, eq=False)
class OverlapTable:
    """How much of each source area lies in each target area.

    Attributes
    ----------
    matrix
        ``scipy.sparse.csr_matrix`` (n_source x n_target, float64). For ``kind="area"`` the
        entries are intersection areas in square metres of the CRS; for ``kind="population"``
        they are the residents living in each source/target intersection.
    source_index, target_index
        The codes of the rows and columns.
    source_total
        The area (or residents) of each source in full, including any part outside every
        target: the denominator that spreads an extensive value over its pieces.
    target_total
        The area (or residents) of each target in full, including any part outside every
        source: the denominator of ``coverage``.
    kind
        ``"area"`` or ``"population"``.
    crs
        The CRS both sides were in.

    Build one with :func:`overlap_table` or :func:`population_table` and pass it as
    ``table=`` to reuse it for any number of variables.
    """

    matrix: sparse.csr_matrix
    source_index: pd.Index
    target_index: pd.Index
    source_total: np.ndarray
    target_total: np.ndarray
    kind: Kind = "area"
    crs: object = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __repr__(self) -> str:
        unit = "m2" if self.kind == "area" else "residents"
        return (
            f"OverlapTable({self.kind}, {self.shape[0]:,} sources x {self.shape[1]:,} targets, "
            f"{self.matrix.nnz:,} pieces, {unit})"
        )

    def covered(self) -> np.ndarray:
        """Area (or residents) of each target that lies inside some source."""
        return np.asarray(self.matrix.sum(axis=0)).ravel()

    def coverage(self) -> pd.Series:
        """Share of each target's area (or residents) covered by sources; NaN if the total is 0."""
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = np.where(self.target_total > 0, self.covered() / self.target_total, np.nan)
        return pd.Series(np.clip(cov, 0.0, 1.0), index=self.target_index, name="coverage")

    def to_frame(self) -> pd.DataFrame:
        """The non-zero pieces as a long table: source, target, weight, source_share, target_share."""
        coo = self.matrix.tocoo()
        with np.errstate(divide="ignore", invalid="ignore"):
            src_share = coo.data / self.source_total[coo.row]
            tgt_share = coo.data / self.target_total[coo.col]
        return pd.DataFrame(
            {
                "source": self.source_index[coo.row],
                "target": self.target_index[coo.col],
                "weight": coo.data,
                "source_share": src_share,
                "target_share": tgt_share,
            }
        )

    def aligned(self, source_index: pd.Index, target_index: pd.Index) -> OverlapTable:
        """The same table with rows and columns in the order of the given indexes.

        Raises :class:`DataError` if the codes are not the ones the table was built on.
        """
        if self.source_index.equals(source_index) and self.target_index.equals(target_index):
            return self
        rows = self.source_index.get_indexer(source_index)
        cols = self.target_index.get_indexer(target_index)
        if (
            (rows < 0).any()
            or (cols < 0).any()
            or len(rows) != len(self.source_index)
            or len(cols) != len(self.target_index)
        ):
            msg = (
                "`table` was built for other areas than `source`/`target` (their codes differ); "
                "rebuild it with overlap_table(source, target) or drop `table=`."
            )
            raise DataError(msg)
        return OverlapTable(
            self.matrix[rows][:, cols].tocsr(),
            pd.Index(source_index),
            pd.Index(target_index),
            self.source_total[rows],
            self.target_total[cols],
            self.kind,
            self.crs,
        )


def _chunked(func, *arrays, min_chunk: int = 2_000):
    """Apply a vectorised shapely function over chunks in threads (shapely releases the GIL).

    ``CNI_GEO_THREADS`` caps the threads (1 = single-threaded); default: the CPU count, max 8.
    """
    n = len(arrays[0])
    workers = int(os.environ.get("CNI_GEO_THREADS", "0") or 0) or min(os.cpu_count() or 1, 8)
    if workers < 2 or n < 2 * min_chunk:
        return func(*arrays)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(
            lambda k: func(*(a[bounds[k] : bounds[k + 1]] for a in arrays)), range(workers)
        )
        return np.concatenate(list(parts))


def _pairs(src: np.ndarray, tgt: np.ndarray, *, keep_geoms: bool = False):
    """Intersecting (source, target) pairs, their intersection areas and optionally geometries.

    One STRtree query with predicate "intersects", then vectorised ``shapely.intersection`` on
    the candidate pairs (in threads, since shapely releases the GIL). Pairs where one polygon
    lies wholly inside the other (nested and fine-to-coarse units) skip the overlay: their
    intersection is the smaller polygon, found with a prepared ``contains_properly`` test that
    is only tried where the areas allow it.
    """
    shapely.prepare(tgt)
    tree = shapely.STRtree(src)
    ti, si = tree.query(tgt, predicate="intersects")
    n = len(si)
    areas = np.zeros(n, dtype="float64")
    geoms = np.empty(n, dtype=object) if keep_geoms else None
    if n == 0:
        return si, ti, areas, geoms
    src_area = shapely.area(src)
    tgt_area = shapely.area(tgt)
    done = np.zeros(n, dtype=bool)
    # Source wholly inside target: only possible where the source is the smaller one.
    cand = np.flatnonzero(src_area[si] < tgt_area[ti])
    if len(cand):
        hit = cand[_chunked(shapely.contains_properly, tgt[ti[cand]], src[si[cand]])]
        areas[hit] = src_area[si[hit]]
        done[hit] = True
        if keep_geoms:
            geoms[hit] = src[si[hit]]
    cand = np.flatnonzero(~done & (tgt_area[ti] < src_area[si]))
    if len(cand):
        shapely.prepare(src)
        hit = cand[_chunked(shapely.contains_properly, src[si[cand]], tgt[ti[cand]])]
        areas[hit] = tgt_area[ti[hit]]
        done[hit] = True
        if keep_geoms:
            geoms[hit] = tgt[ti[hit]]
    cut = np.flatnonzero(~done)
    if len(cut):
        pieces = _chunked(shapely.intersection, src[si[cut]], tgt[ti[cut]])
        areas[cut] = shapely.area(pieces)
        if keep_geoms:
            geoms[cut] = pieces
    keep = areas > 0
    si, ti, areas = si[keep], ti[keep], areas[keep]
    if keep_geoms:
        geoms = geoms[keep]
    return si, ti, areas, geoms


def overlap_table(source, target) -> OverlapTable:
    """The sparse source x target table of intersection areas (float64, square metres).

    Parameters
    ----------
    source, target
        GeoDataFrames of polygons indexed by unique area codes, in the same projected CRS.

    Returns
    -------
    OverlapTable
        Reusable: pass it as ``table=`` to :func:`area_weighted` for any number of variables.

    Examples
    --------
    >>> table = overlap_table(lsoas, wards)   # doctest: +SKIP
    >>> area_weighted(lsoas, wards, intensive=["turnout"], table=table)  # doctest: +SKIP
    """
    check_pair(source, target, "source", "target", what="an overlap table")
    src = polygons(source, "source")
    tgt = polygons(target, "target")
    si, ti, areas, _ = _pairs(src, tgt)
    matrix = sparse.csr_matrix((areas, (si, ti)), shape=(len(src), len(tgt)), dtype="float64")
    if matrix.nnz == 0:
        warn(
            f"no source area overlaps any target ({fmt_count(len(src))} sources, "
            f"{fmt_count(len(tgt))} targets); every reapportioned value will be NaN. "
            "Check that both layers cover the same place and are in the same CRS."
        )
    log.info("overlap table: %s", matrix.nnz)
    return OverlapTable(
        matrix,
        pd.Index(source.index),
        pd.Index(target.index),
        shapely.area(src),
        shapely.area(tgt),
        "area",
        source.crs,
    )


# --- population tables --------------------------------------------------------------------


def _point_membership(points: np.ndarray, polys: np.ndarray) -> sparse.csr_matrix:
    """points x polygons matrix: 1 where a point lies in a polygon, split equally on a boundary."""
    tree = shapely.STRtree(polys)
    pi, ai = tree.query(points, predicate="intersects")
    counts = np.bincount(pi, minlength=len(points)).astype("float64")
    w = 1.0 / counts[pi]
    return sparse.csr_matrix((w, (pi, ai)), shape=(len(points), len(polys)), dtype="float64")


def _points_table(src, tgt, population, column):
    pts = np.asarray(population.geometry.array, dtype=object)
    pop = numeric_column(population, column, "population", arg="population_column")
    ok = ~(shapely.is_missing(pts) | shapely.is_empty(pts) | np.isnan(pop))
    if (~ok).any():
        warn(
            f"{fmt_count(int((~ok).sum()), len(pts))} population points have no geometry or "
            "no count; they are ignored."
        )
    pts, pop = pts[ok], pop[ok]
    ms = _point_membership(pts, src)
    mt = _point_membership(pts, tgt)
    weighted = sparse.diags(pop) @ ms
    matrix = (weighted.T @ mt).tocsr()
    src_total = np.asarray(weighted.sum(axis=0)).ravel()
    tgt_total = np.asarray((sparse.diags(pop) @ mt).sum(axis=0)).ravel()
    outside = int((np.asarray(ms.sum(axis=1)).ravel() == 0).sum())
    if outside:
        log.info("%s population points lie in no source", fmt_count(outside, len(pts)))
    return matrix, src_total, tgt_total


def _fine_table(src, tgt, fine, column):
    check_unique_index(fine, "population")
    fg = polygons(fine, "population")
    pop = numeric_column(fine, column, "population", arg="population_column")
    missing = np.isnan(pop)
    if missing.any():
        warn(
            f"{fmt_count(int(missing.sum()), len(pop))} units in `population` have no count "
            f"in {column!r}; they carry no residents."
        )
        pop = np.where(missing, 0.0, pop)
    density = pop / shapely.area(fg)
    # fine x source pieces, then pieces x target.
    fi, si, a_fs, pieces = _pairs(fg, src, keep_geoms=True)
    src_total = np.bincount(si, weights=density[fi] * a_fs, minlength=len(src))
    pk, tj, a_pt, _ = _pairs(pieces, tgt)
    vals = density[fi[pk]] * a_pt
    matrix = sparse.csr_matrix((vals, (si[pk], tj)), shape=(len(src), len(tgt)), dtype="float64")
    gi, tt, a_ft, _ = _pairs(fg, tgt)
    tgt_total = np.bincount(tt, weights=density[gi] * a_ft, minlength=len(tgt))
    return matrix, src_total, tgt_total


class _Raster:
    """The population raster window covering the areas, in memory (float64, NaN = no data)."""

    def __init__(self, path, bounds, crs):
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(path) as ds:
            if ds.crs is None or not crs.equals(ds.crs):
                label = ds.crs.to_string() if ds.crs is not None else "no CRS"
                msg = (
                    f"the population raster {path} is in {label} but the areas are in "
                    f"{crs_label(crs)}; reproject the raster (e.g. `gdalwarp -t_srs`) or the "
                    "areas so that they match."
                )
                raise CRSError(msg)
            t = ds.transform
            if t.b != 0 or t.d != 0 or t.e >= 0:
                msg = f"the population raster {path} is rotated or south-up; warp it to a north-up grid first."
                raise SourceError(msg)
            xmin, ymin, xmax, ymax = bounds
            c0 = int(np.floor((min(xmin, xmax) - t.c) / t.a)) - 1
            c1 = int(np.ceil((max(xmin, xmax) - t.c) / t.a)) + 1
            r0 = int(np.floor((t.f - ymax) / -t.e)) - 1 if t.e < 0 else 0
            r1 = int(np.ceil((t.f - ymin) / -t.e)) + 1 if t.e < 0 else ds.height
            c0, r0 = max(c0, 0), max(r0, 0)
            win = Window(c0, r0, max(min(c1, ds.width) - c0, 0), max(min(r1, ds.height) - r0, 0))
            data = ds.read(1, window=win, out_dtype="float64", masked=True)
            self.data = data.filled(np.nan) if np.ma.is_masked(data) else np.ma.getdata(data)
            wt = ds.window_transform(win)
            self.extent = (wt.c, wt.f + wt.e * win.height, wt.c + wt.a * win.width, wt.f)
            self.srs_wkt = ds.crs.to_wkt()
        negative = int((self.data < 0).sum())
        if negative:
            msg = f"the population raster {path} holds {negative:,} negative cells; residents cannot be negative."
            raise DataError(msg)

    def sums(self, geoms: np.ndarray) -> np.ndarray:
        """Residents in each polygon, each cell weighted by its exact covered share."""
        return raster_sums(geoms, self.data, self.extent)


# A source (target) whose pieces add up to its whole area to this relative tolerance takes
# its residents from its pieces instead of a second pass over the raster.
_FULL = 1e-9


def _raster_table(src, tgt, path, crs):
    path = os.fspath(path)
    if not os.path.exists(path):
        msg = f"the population raster {path} does not exist."
        raise SourceError(msg)
    b1, b2 = shapely.total_bounds(src), shapely.total_bounds(tgt)
    bounds = (min(b1[0], b2[0]), min(b1[1], b2[1]), max(b1[2], b2[2]), max(b1[3], b2[3]))
    raster = _Raster(path, bounds, crs)
    si, ti, areas, pieces = _pairs(src, tgt, keep_geoms=True)
    vals = raster.sums(pieces)
    matrix = sparse.csr_matrix((vals, (si, ti)), shape=(len(src), len(tgt)), dtype="float64")
    return matrix, _totals(raster, src, si, areas, vals), _totals(raster, tgt, ti, areas, vals)


def _totals(raster, geoms, which, areas, vals):
    """Residents of each polygon in full: the sum of its pieces where they tile it, else a
    raster pass over the polygon itself (only for those partly outside the other layer)."""
    n = len(geoms)
    covered = np.bincount(which, weights=areas, minlength=n)
    total = np.bincount(which, weights=vals, minlength=n)
    partial = np.flatnonzero(covered < (1.0 - _FULL) * shapely.area(geoms))
    if len(partial):
        total[partial] = raster.sums(geoms[partial])
    log.info("raster totals: %s of %s taken from their pieces", n - len(partial), n)
    return total


def population_table(source, target, *, population, population_column=None) -> OverlapTable:
    """The source x target table of residents, for dasymetric (population-weighted) moves.

    Parameters
    ----------
    source, target
        GeoDataFrames of polygons indexed by unique codes, in the same projected CRS.
    population
        Where people live, one of:

        - a GeoDataFrame of **points** (OA or postcode centroids, address points) with a count
          column: each point's residents go to the source and target holding it (split equally
          if it lies exactly on a shared boundary);
        - a GeoDataFrame of **polygons** (a finer unit, e.g. output areas) with a count column:
          residents are spread evenly over each fine unit and cut exactly along source and
          target boundaries;
        - a **raster** path (residents per cell): each cell's residents are spread evenly over
          the cell and summed with exact cell coverage fractions (what exactextract's ``sum``
          computes; see ``_rastersum`` for why it is done here instead) over every
          source/target intersection. A source or target tiled by its pieces takes its total
          from them; only those partly outside the other layer get a pass of their own.
    population_column
        The count column for the two GeoDataFrame forms.

    Returns
    -------
    OverlapTable
        ``kind="population"``; ``source_total``/``target_total`` are the residents of each unit
        in full, so coverage is the share of a target's residents living inside some source.
    """
    check_pair(source, target, "source", "target", what="a population table")
    src = polygons(source, "source")
    tgt = polygons(target, "target")
    if isinstance(population, gpd.GeoDataFrame):
        require_same_crs(source, population, "source", "population")
        if population_column is None:
            msg = (
                "`population` is a GeoDataFrame: name its count column with "
                "`population_column=` (e.g. population_column='population')."
            )
            raise DataError(msg)
        types = set(shapely.get_type_id(np.asarray(population.geometry.array, dtype=object)))
        types.discard(-1)
        if types <= {0, 4}:
            matrix, s_tot, t_tot = _points_table(src, tgt, population, population_column)
        elif types <= {3, 6}:
            matrix, s_tot, t_tot = _fine_table(src, tgt, population, population_column)
        else:
            msg = (
                "`population` must hold only points (e.g. OA centroids) or only polygons "
                f"(a finer unit); found geometry type ids {sorted(types)}."
            )
            raise GeometryError(msg)
        counts = population[population_column]
        if pd.api.types.is_numeric_dtype(counts) and (counts < 0).any():
            msg = (
                f"{fmt_count(int((counts < 0).sum()), len(counts))} values of "
                f"{population_column!r} in `population` are negative; residents cannot be."
            )
            raise DataError(msg)
    elif isinstance(population, str | os.PathLike):
        matrix, s_tot, t_tot = _raster_table(src, tgt, population, source.crs)
    else:
        msg = (
            "`population` must be a GeoDataFrame of points or polygons with a count column, "
            f"or a path to a population raster (got {type(population).__name__})."
        )
        raise DataError(msg)
    matrix = sparse.csr_matrix(matrix, dtype="float64")
    matrix.eliminate_zeros()
    if matrix.nnz == 0:
        warn(
            "no residents live in any source/target intersection; every population-weighted "
            "value will be NaN. Check that the population covers the areas and shares their CRS."
        )
    return OverlapTable(
        matrix,
        pd.Index(source.index),
        pd.Index(target.index),
        np.asarray(s_tot, dtype="float64"),
        np.asarray(t_tot, dtype="float64"),
        "population",
        source.crs,
    )
