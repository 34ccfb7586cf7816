"""Area-weighted and population-weighted (dasymetric) interpolation between geographies."""

from __future__ import annotations

import logging
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from .._util import fmt_count
from ..errors import ColumnError, DataError
from ._checks import as_columns, check_pair, numeric_column, warn
from ._overlap import OverlapTable, overlap_table, population_table

log = logging.getLogger(__name__)

NanRule = Literal["propagate", "skip"]
NAN_RULES = {
    "propagate": "a target is NaN if any source overlapping it by more than `nan_tolerance` "
    "(1e-9) of its area or residents is NaN",
    "skip": "NaN sources are left out; `<variable>_coverage` says how much of the target is "
    "backed by non-missing sources",
}


# A NaN source smaller than this share of a target's area (residents) does not blank it.
NAN_TOLERANCE = 1e-9


def _check_tolerance(tol) -> None:
    if not (isinstance(tol, int | float) and 0 <= tol < 1):
        msg = f"`nan_tolerance={tol!r}` must be a number in [0, 1), e.g. 1e-9 (0 = any overlap)."
        raise ValueError(msg)


def _check_nan_rule(nan: str) -> None:
    if nan not in NAN_RULES:
        msg = f"`nan={nan!r}` is not a known rule; choose one of: {', '.join(NAN_RULES)}."
        raise ValueError(msg)


def apply_table(
    table: OverlapTable,
    data: pd.DataFrame,
    *,
    extensive=(),
    intensive=(),
    categorical=(),
    nan: NanRule = "propagate",
    nan_tolerance: float = NAN_TOLERANCE,
    allocate_total: bool = False,
    name: str = "source",
) -> pd.DataFrame:
    """Move the columns of ``data`` (indexed like the table's sources) through ``table``.

    Returns a DataFrame on the table's target index with one column per variable, the
    categorical shares, ``coverage`` and, with ``nan="skip"``, ``<variable>_coverage``.

    Extensive (counts): ``v_j = sum_i v_i * w_ij / W_i`` where ``W_i`` is the source's whole
    area (or residents), or with ``allocate_total=True`` only the part inside some target.
    Intensive (rates, means): ``v_j = sum_i v_i * w_ij / sum_i w_ij``, the area- (or
    population-) weighted mean over the covered part of the target. Categorical: the share of
    the target's covered area (residents) in each category.

    With ``nan="propagate"`` a NaN source blanks a target only where it holds more than
    ``nan_tolerance`` of the target's area (residents); a smaller sliver is left out of that
    target's value instead (logged with a count).
    """
    _check_nan_rule(nan)
    _check_tolerance(nan_tolerance)
    ext = as_columns(extensive, "extensive")
    inten = as_columns(intensive, "intensive")
    cat = as_columns(categorical, "categorical")
    both = set(ext) & set(inten) | (set(ext) | set(inten)) & set(cat)
    if both:
        msg = f"columns {sorted(map(str, both))} are named in more than one of extensive/intensive/categorical."
        raise ColumnError(msg)
    if not (ext or inten or cat):
        msg = "name at least one column in `extensive=`, `intensive=` or `categorical=`."
        raise ColumnError(msg)
    table = table.aligned(pd.Index(data.index), table.target_index)
    w = table.matrix
    wt = w.T.tocsr()
    n_t = w.shape[1]
    covered = table.covered()
    has_weight = covered > 0
    out: dict[str, np.ndarray] = {}
    var_cov: dict[str, np.ndarray] = {}
    # target x source: 1 where the source holds more than nan_tolerance of the target
    coo = w.tocoo()
    sig = coo.data > nan_tolerance * table.target_total[coo.col]
    touched = sparse.csr_matrix(
        (np.ones(int(sig.sum())), (coo.col[sig], coo.row[sig])), shape=(n_t, w.shape[0])
    )
    nearby = None if sig.all() else (w > 0).astype("float64").T.tocsr()
    slivers = 0

    def _block(cols):
        vals = np.column_stack([numeric_column(data, c, name, arg=str(c)) for c in cols])
        miss = np.isnan(vals)
        return np.where(miss, 0.0, vals), miss

    if ext:
        vals, miss = _block(ext)
        denom = np.asarray(w.sum(axis=1)).ravel() if allocate_total else table.source_total
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(denom > 0, 1.0 / denom, 0.0)
        lost = (denom <= 0) & (vals != 0).any(axis=1)
        if lost.any():
            unit = "area" if table.kind == "area" else "residents"
            warn(
                f"{fmt_count(int(lost.sum()), len(denom))} sources have no {unit} to spread "
                f"their extensive values over; those values are not allocated "
                f"(first: {table.source_index[lost][0]!r}).",
            )
        est = wt @ (vals * inv[:, None])
        ok_area = wt @ (~miss).astype("float64")
        slivers += _finish(est, miss, ok_area, touched, nearby, has_weight, nan)
        for k, c in enumerate(ext):
            out[c] = est[:, k]
            var_cov[c] = ok_area[:, k]
    if inten:
        vals, miss = _block(inten)
        num = wt @ vals
        ok_area = wt @ (~miss).astype("float64")
        # Over the non-missing sources: with "propagate" that is every source except NaN
        # slivers below nan_tolerance (targets with a larger NaN source are blanked below).
        with np.errstate(divide="ignore", invalid="ignore"):
            est = np.where(ok_area > 0, num / ok_area, np.nan)
        slivers += _finish(est, miss, ok_area, touched, nearby, has_weight, nan)
        for k, c in enumerate(inten):
            out[c] = est[:, k]
            var_cov[c] = ok_area[:, k]
    for c in cat:
        if c not in data.columns:
            cols = ", ".join(map(str, [x for x in data.columns if x != "geometry"][:15]))
            msg = f"`categorical`: no column {c!r} in `{name}`; its columns are: {cols}."
            raise ColumnError(msg)
        s = data[c]
        codes, uniques = pd.factorize(s, sort=True)
        order = np.argsort([str(u) for u in uniques], kind="stable")
        for u_pos in order:
            ind = (codes == u_pos).astype("float64")
            share = wt @ ind
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(has_weight, share / covered, np.nan)
            key = f"{c}_{uniques[u_pos]}"
            if key in out:
                msg = f"categorical column name {key!r} clashes with another output column."
                raise ColumnError(msg)
            out[key] = share
    for reserved in ("coverage", "geometry"):
        if reserved in out:
            msg = f"a variable may not be called {reserved!r}; rename the column first."
            raise ColumnError(msg)
    result = pd.DataFrame(out, index=table.target_index)
    result["coverage"] = table.coverage().to_numpy()
    if nan == "skip":
        with np.errstate(divide="ignore", invalid="ignore"):
            for c, a in var_cov.items():
                cov = np.where(table.target_total > 0, a / table.target_total, np.nan)
                result[f"{c}_coverage"] = np.clip(cov, 0.0, 1.0)
    if slivers:
        log.info(
            "%s target values kept although a NaN source overlaps them by at most %g of "
            "their %s (nan_tolerance); that sliver is left out",
            fmt_count(slivers),
            nan_tolerance,
            "area" if table.kind == "area" else "residents",
        )
    empty = int((~has_weight).sum())
    if empty:
        what = "overlap no source" if table.kind == "area" else "have no residents in any source"
        warn(
            f"{fmt_count(empty, n_t)} targets {what}; their values are NaN "
            f"(first: {table.target_index[~has_weight][0]!r})."
        )
    return result


def _finish(est, miss, ok_area, touched, nearby, has_weight, nan) -> int:
    """NaN where no source weight exists, and where the NaN rule says so (in place).

    Returns how many (target, variable) values kept a value despite a NaN sliver.
    """
    slivers = 0
    if nan == "propagate":
        tainted = (touched @ miss.astype("float64")) > 0
        if nearby is not None:
            any_nan = (nearby @ miss.astype("float64")) > 0
            slivers = int((any_nan & ~tainted & has_weight[:, None]).sum())
        est[tainted] = np.nan
    # No non-missing source at all (also a target reached only by NaN slivers): NaN, never 0.
    est[ok_area <= 0] = np.nan
    est[~has_weight] = np.nan
    return slivers


def _result_frame(values: pd.DataFrame, target) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(values, geometry=target.geometry.copy(), crs=target.crs)


def area_weighted(
    source,
    target,
    *,
    extensive=(),
    intensive=(),
    categorical=(),
    table: OverlapTable | None = None,
    nan: NanRule = "propagate",
    nan_tolerance: float = NAN_TOLERANCE,
    allocate_total: bool = False,
) -> gpd.GeoDataFrame:
    """Move values from source areas to target areas in proportion to overlapping area.

    Parameters
    ----------
    source
        GeoDataFrame of polygons indexed by unique codes, holding the variables.
    target
        GeoDataFrame of polygons indexed by unique codes, in the same projected CRS.
    extensive
        Columns that are counts (residents, premises): split by the share of the source's area
        in each target, ``v_j = sum_i v_i * a_ij / A_i``. Totals are conserved wherever the
        targets cover the sources; the part of a source outside every target is not allocated
        (``allocate_total=True`` divides by the covered part instead, as tobler's default does).
    intensive
        Columns that are rates, shares or means: the area-weighted mean over the part of the
        target covered by sources, ``v_j = sum_i v_i * a_ij / sum_i a_ij``.
    categorical
        Columns of categories: one output column ``<column>_<category>`` per category with the
        share of the target's covered area in that category.
    table
        A reusable :class:`OverlapTable` from :func:`overlap_table` (rows and columns are
        matched by code, so row order does not matter).
    nan
        ``"propagate"`` (default): a target value is NaN if any source overlapping it by more
        than ``nan_tolerance`` of its area is NaN. ``"skip"``: NaN sources are left out, and a column
        ``<variable>_coverage`` gives the share of the target's area backed by non-missing
        sources (an extensive estimate then counts only those sources).
    nan_tolerance
        With ``nan="propagate"``, a NaN source overlapping a target by no more than this share
        of the target's area (default 1e-9: digitising slivers) is left out of that target
        instead of blanking it; 0 restores "any overlap blanks".

    Returns
    -------
    GeoDataFrame
        On the target's index, geometry and CRS, with each variable and ``coverage`` (share of
        the target's area covered by sources). A target that overlaps no source gets NaN values
        and coverage 0, never 0-valued estimates (a counted warning says how many).

    Notes
    -----
    Unlike tobler's ``area_interpolate``, the overlap table is float64, a CRS mismatch raises
    :class:`~cni_geo.errors.CRSError`, and uncovered targets are NaN instead of 0.
    """
    check_pair(source, target, "source", "target", what="area-weighted interpolation")
    if table is None:
        table = overlap_table(source, target)
    else:
        table = table.aligned(pd.Index(source.index), pd.Index(target.index))
    values = apply_table(
        table,
        source,
        extensive=extensive,
        intensive=intensive,
        categorical=categorical,
        nan=nan,
        nan_tolerance=nan_tolerance,
        allocate_total=allocate_total,
    )
    return _result_frame(values, target)


def population_weighted(
    source,
    target,
    *,
    population=None,
    population_column: str | None = None,
    extensive=(),
    intensive=(),
    table: OverlapTable | None = None,
    nan: NanRule = "propagate",
    nan_tolerance: float = NAN_TOLERANCE,
) -> gpd.GeoDataFrame:
    """Move values between geographies in proportion to where residents live (dasymetric).

    Parameters
    ----------
    source, target
        GeoDataFrames of polygons indexed by unique codes, in the same projected CRS.
    population
        Points with counts, a finer unit's polygons with counts, or a population raster path;
        see :func:`population_table`. Not needed when ``table`` is given.
    population_column
        The count column of a points or polygons ``population``.
    extensive
        Counts: ``v_j = sum_i v_i * p_ij / P_i`` where ``p_ij`` are the residents of source i
        living in target j and ``P_i`` all residents of source i. Totals are conserved where the
        targets hold all of each source's residents.
    intensive
        Rates and means: the population-weighted mean ``sum_i v_i p_ij / sum_i p_ij``.
    table
        A reusable ``kind="population"`` :class:`OverlapTable` from :func:`population_table`.
    nan, nan_tolerance
        As in :func:`area_weighted` (the tolerance is a share of the target's residents).

    Returns
    -------
    GeoDataFrame
        On the target's index and CRS, with each variable and ``coverage``: the share of the
        target's residents who live inside some source. A target with no residents inside any
        source gets NaN (counted warning). A source with no residents cannot pass on an
        extensive value; that is warned about with a count.
    """
    check_pair(source, target, "source", "target", what="population-weighted interpolation")
    if table is None:
        if population is None:
            msg = "`population` is required (points, finer polygons or a raster path) unless `table=` is given."
            raise DataError(msg)
        table = population_table(
            source, target, population=population, population_column=population_column
        )
    else:
        if table.kind != "population":
            msg = "`table` is an area table; build a population one with population_table(...)."
            raise DataError(msg)
        table = table.aligned(pd.Index(source.index), pd.Index(target.index))
    values = apply_table(
        table,
        source,
        extensive=extensive,
        intensive=intensive,
        nan=nan,
        nan_tolerance=nan_tolerance,
    )
    return _result_frame(values, target)
