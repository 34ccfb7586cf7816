"""Best-fit lookups between fine and coarse units, and boundary-vintage changes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._util import fmt_count, require_same_crs
from ..errors import DataError, GeometryError
from ._checks import check_pair, numeric_column, polygons, warn
from ._interpolate import NanRule, apply_table
from ._overlap import OverlapTable, overlap_table, population_table

log = logging.getLogger(__name__)

Method = Literal["population_centroid", "area"]


def _row_argmax(table: OverlapTable) -> tuple[np.ndarray, np.ndarray]:
    """Column of the largest entry in each row (-1 for an empty row) and that entry."""
    m = table.matrix.tocsr()
    best = np.full(m.shape[0], -1, dtype=np.int64)
    val = np.zeros(m.shape[0])
    nonempty = np.diff(m.indptr) > 0
    if nonempty.any():
        arg = np.asarray(m.argmax(axis=1)).ravel()
        best[nonempty] = arg[nonempty]
        val[nonempty] = m[np.flatnonzero(nonempty), arg[nonempty]].A1
    return best, val


def _weighted_centroids(fine_geoms, points, pop) -> tuple[np.ndarray, np.ndarray]:
    """Population-weighted centroid of the points inside each fine unit (NaN if none)."""
    tree = shapely.STRtree(fine_geoms)
    pi, fi = tree.query(points, predicate="intersects")
    counts = np.bincount(pi, minlength=len(points)).astype("float64")
    w = pop[pi] / counts[pi]
    xy = shapely.get_coordinates(points)
    n = len(fine_geoms)
    tot = np.bincount(fi, weights=w, minlength=n)
    sx = np.bincount(fi, weights=w * xy[pi, 0], minlength=n)
    sy = np.bincount(fi, weights=w * xy[pi, 1], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.column_stack([sx / tot, sy / tot]), tot


def best_fit_lookup(
    fine,
    coarse,
    *,
    method: Method = "population_centroid",
    population=None,
    population_column: str | None = None,
    split_tolerance: float = 0.01,
    report: bool = False,
):
    """Assign each fine unit to one coarse unit (ONS best-fit practice).

    Parameters
    ----------
    fine, coarse
        GeoDataFrames of polygons indexed by unique codes, in the same projected CRS.
    method
        ``"population_centroid"`` (ONS): the coarse unit holding the fine unit's
        population-weighted centroid, computed from ``population`` points (OA or postcode
        centroids, address points) inside the fine unit. A fine unit with no residents falls
        back to its point-on-surface (counted warning). ``"area"``: the coarse unit holding
        the largest share of the fine unit's area.
    population
        GeoDataFrame of points with a count column (required for ``"population_centroid"``;
        with ``"area"`` it adds population shares to the report).
    population_column
        The count column of ``population``.
    split_tolerance
        A fine unit is reported as split when more than this share of its residents (or area,
        without population) lies outside the assigned coarse unit.
    report
        Also return the report.

    Returns
    -------
    Series, or (Series, DataFrame) with ``report=True``
        The lookup fine code -> coarse code (name = the coarse index name), NaN-free except for
        fine units overlapping no coarse unit. The report, on the fine index, holds ``coarse``,
        ``area_outside`` (share of the fine unit's area outside its coarse unit),
        ``population_outside`` (same for residents, when population is given) and ``split``.
    """
    if method not in ("population_centroid", "area"):
        msg = f"`method={method!r}` is not known; choose 'population_centroid' or 'area'."
        raise ValueError(msg)
    check_pair(fine, coarse, "fine", "coarse", what="a best-fit lookup")
    fg = polygons(fine, "fine")
    cg = polygons(coarse, "coarse")
    area_tab = overlap_table(fine, coarse)
    pop_tab = None
    if population is not None:
        if not isinstance(population, gpd.GeoDataFrame):
            msg = "`population` must be a GeoDataFrame of points with a count column."
            raise DataError(msg)
        types = set(shapely.get_type_id(np.asarray(population.geometry.array, dtype=object)))
        if not types <= {0}:
            msg = "`population` for a best-fit lookup must hold points (e.g. OA or postcode centroids)."
            raise GeometryError(msg)
        require_same_crs(fine, population, "fine", "population")
        pop_tab = population_table(
            fine, coarse, population=population, population_column=population_column
        )
    if method == "area":
        best, _ = _row_argmax(area_tab)
    else:
        if population is None:
            msg = (
                "`method='population_centroid'` needs `population` points with "
                "`population_column`; or use method='area'."
            )
            raise DataError(msg)
        pts = np.asarray(population.geometry.array, dtype=object)
        pop = numeric_column(population, population_column, "population", arg="population_column")
        pop = np.where(np.isnan(pop), 0.0, pop)
        xy, tot = _weighted_centroids(fg, pts, pop)
        empty = ~(tot > 0)
        cents = shapely.points(np.where(empty[:, None], 0.0, xy))
        if empty.any():
            cents[empty] = shapely.point_on_surface(fg[empty])
            warn(
                f"{fmt_count(int(empty.sum()), len(fg))} fine units have no residents in "
                f"`population`; their point-on-surface is used instead (first: "
                f"{fine.index[empty][0]!r}).",
                stacklevel=3,
            )
        tree = shapely.STRtree(cg)
        qi, ci = tree.query(cents, predicate="intersects")
        # A centroid exactly on a boundary: keep the coarse unit with the larger overlap.
        ov = np.asarray(area_tab.matrix[qi, ci]).ravel()
        order = np.lexsort((-ov, qi))
        qi, ci = qi[order], ci[order]
        first = np.unique(qi, return_index=True)[1]
        best = np.full(len(fg), -1, dtype=np.int64)
        best[qi[first]] = ci[first]
        stray = best < 0
        if stray.any():
            fallback, _ = _row_argmax(area_tab)
            best[stray] = fallback[stray]
            warn(
                f"{fmt_count(int(stray.sum()), len(fg))} population-weighted centroids fall in "
                "no coarse unit; those fine units are assigned by largest area overlap.",
                stacklevel=3,
            )
    assigned = best >= 0
    codes = pd.Series(coarse.index.to_numpy(dtype=object)[np.maximum(best, 0)], index=fine.index)
    codes[~assigned] = np.nan
    codes.name = coarse.index.name or "coarse"
    if (~assigned).any():
        warn(
            f"{fmt_count(int((~assigned).sum()), len(fg))} fine units overlap no coarse unit; "
            f"their lookup is missing (first: {fine.index[~assigned][0]!r}).",
            stacklevel=3,
        )
    rows = np.flatnonzero(assigned)
    rep = pd.DataFrame({"coarse": codes}, index=fine.index)
    inside_area = np.zeros(len(fg))
    inside_area[rows] = np.asarray(area_tab.matrix[rows, best[rows]]).ravel()
    rep["area_outside"] = np.where(assigned, 1.0 - inside_area / area_tab.source_total, np.nan)
    rep["area_outside"] = rep["area_outside"].clip(lower=0.0)
    measure = "area_outside"
    if pop_tab is not None:
        inside_pop = np.zeros(len(fg))
        inside_pop[rows] = np.asarray(pop_tab.matrix[rows, best[rows]]).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(
                assigned & (pop_tab.source_total > 0),
                1.0 - inside_pop / pop_tab.source_total,
                np.nan,
            )
        rep["population_outside"] = np.clip(share, 0.0, 1.0)
        measure = "population_outside"
    rep["split"] = rep[measure].fillna(rep["area_outside"]).gt(split_tolerance)
    n_split = int(rep["split"].sum())
    if n_split:
        what = "residents" if measure == "population_outside" else "area"
        log.warning(
            "%s fine units are split across coarse boundaries (more than %g%% of their %s "
            "outside the assigned unit).",
            fmt_count(n_split, len(fg)),
            100 * split_tolerance,
            what,
        )
    return (codes, rep) if report else codes


STATUS = ("unchanged", "split", "merged", "complex")


@dataclass(frozen=True, eq=False)
class VintageChange:
    """How one boundary vintage maps onto another, by residents (or area).

    Attributes
    ----------
    table
        The old x new :class:`OverlapTable` (``kind="population"`` when built with residents).
    links
        Long table of significant links: ``old``, ``new``, ``weight`` (residents or m2),
        ``old_share`` (share of the old unit going to the new one) and ``new_share``.
    old_status, new_status
        ``unchanged`` | ``split`` | ``merged`` | ``complex`` for each old and each new unit
        (an old unit that was merged into a bigger new unit is ``merged``; a new unit made of
        parts of a split old unit is ``split``; ``complex`` mixes both).
    """

    table: OverlapTable
    links: pd.DataFrame
    old_status: pd.Series
    new_status: pd.Series

    def summary(self) -> pd.DataFrame:
        """Counts of each status for old and new units."""
        return pd.DataFrame(
            {
                "old": self.old_status.value_counts().reindex(STATUS, fill_value=0),
                "new": self.new_status.value_counts().reindex(STATUS, fill_value=0),
            }
        )

    def apply(
        self, values: pd.DataFrame, *, extensive=(), intensive=(), nan: NanRule = "propagate"
    ) -> pd.DataFrame:
        """Move a table on old codes to new codes (no geometry needed).

        Extensive columns are split by the share of the old unit's residents in each new unit;
        intensive ones are the resident-weighted mean. Returns a DataFrame on the new codes
        with ``coverage``.
        """
        return apply_table(
            self.table, values, extensive=extensive, intensive=intensive, nan=nan, name="values"
        )


def vintage_change(
    old,
    new,
    *,
    population=None,
    population_column: str | None = None,
    tolerance: float = 0.01,
) -> VintageChange:
    """Map an old boundary vintage (e.g. LSOA 2011) onto a new one (LSOA 2021).

    Parameters
    ----------
    old, new
        GeoDataFrames of polygons indexed by unique codes, in the same projected CRS.
    population
        Points, finer polygons or a raster of residents (see :func:`population_table`); the
        links are then weighted by residents. Without it, by area.
    population_column
        Count column of a points or polygons ``population``.
    tolerance
        A link counts when it carries at least this share of the old unit's residents or of the
        new unit's residents; smaller overlaps are digitising slivers and are ignored when
        classifying (they stay in ``table``).

    Returns
    -------
    VintageChange
        With the links, a status per old and per new unit, and ``apply`` to move tables.
    """
    check_pair(old, new, "old", "new", what="a boundary-vintage change")
    if population is None:
        table = overlap_table(old, new)
    else:
        table = population_table(
            old, new, population=population, population_column=population_column
        )
    frame = table.to_frame().rename(
        columns={
            "source": "old",
            "target": "new",
            "source_share": "old_share",
            "target_share": "new_share",
        }
    )
    sig_old = frame["old_share"].fillna(0) >= tolerance
    sig_new = frame["new_share"].fillna(0) >= tolerance
    links = frame[sig_old | sig_new].reset_index(drop=True)
    n_out = links[links["old_share"].fillna(0) >= tolerance].groupby("old").size()
    n_in = links[links["new_share"].fillna(0) >= tolerance].groupby("new").size()
    n_out = n_out.reindex(table.source_index, fill_value=0)
    n_in = n_in.reindex(table.target_index, fill_value=0)
    old_split = n_out > 1
    new_merged = n_in > 1
    links = links.assign(
        split=old_split.reindex(links["old"]).to_numpy(),
        merged=new_merged.reindex(links["new"]).to_numpy(),
    )
    # An old unit is complex if it is split and one of its parts is merged with others.
    old_any_merge = (
        links.groupby("old")["merged"].any().reindex(table.source_index, fill_value=False)
    )
    new_any_split = (
        links.groupby("new")["split"].any().reindex(table.target_index, fill_value=False)
    )
    old_status = pd.Series("unchanged", index=table.source_index, name="status", dtype=object)
    old_status[old_split] = "split"
    old_status[~old_split & old_any_merge] = "merged"
    old_status[old_split & old_any_merge] = "complex"
    new_status = pd.Series("unchanged", index=table.target_index, name="status", dtype=object)
    new_status[new_any_split] = "split"
    new_status[new_merged & ~new_any_split] = "merged"
    new_status[new_merged & new_any_split] = "complex"
    lost = n_out == 0
    if lost.any():
        warn(
            f"{fmt_count(int(lost.sum()), len(lost))} old units have no link to any new unit "
            f"(first: {table.source_index[lost][0]!r}); their values cannot be carried over.",
            stacklevel=3,
        )
        old_status[lost] = np.nan
    counts = old_status.value_counts()
    log.info(
        "vintage change: %s old units: %s",
        fmt_count(len(old_status)),
        ", ".join(f"{counts.get(s, 0):,} {s}" for s in STATUS),
    )
    return VintageChange(table, links.drop(columns=["split", "merged"]), old_status, new_status)
