"""Build a composite index from a table of indicator values and an :class:`IndexSpec`.

The engine ranks within the table it is given: on a national table it reproduces national
ranks; on a subset it gives a within-subset index (ranks 1..N of the subset, N = its size).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._util import build_timestamp, file_sha256
from ..errors import ColumnError, DataError, IndexSpecError, SourceError
from . import _diagnostics
from ._normalise import (
    DECILE_CONVENTION,
    NORMALISE_TEXT,
    NORMALISERS,
    POP_DECILE_CONVENTION,
    RANK_CONVENTION,
    _decile_array,
    _need_rank_array,
    _transform_rows,
    population_deciles,
)
from ._transform import impute, log_transform, shrink, winsorise
from ._weights import factor_weights, pca_weights
from .spec import IndexSpec

log = logging.getLogger(__name__)

TRANSFORM_TEXT = {
    "exp": "exponential transform of the need rank: X = -23 ln(1 - R (1 - exp(-100/23))), "
    "R = (N + 1 - rank) / N; 0 < X <= 100",
    "rank": "rank fraction R = (N + 1 - rank) / N (highest need = 1)",
    "none": "the combined value unchanged",
}


# --- helpers shared with the uncertainty module ----------------------------------------------


def _apply_transform(kind: str, combined: np.ndarray, axis: int = 0) -> np.ndarray:
    if kind == "none":
        return combined
    c = np.asarray(combined, dtype="float64")
    if c.ndim == 1:
        return _transform_rows(c[None, :], kind)[0]
    if axis == 1:
        return _transform_rows(np.ascontiguousarray(c), kind)
    return _transform_rows(np.ascontiguousarray(c.T), kind).T


def _combine(kind: str, values: list[np.ndarray], weights: list) -> np.ndarray:
    """Weighted sum (or mean) of children; a zero weight drops a child even where it is NaN.

    Summed left to right in child order (the Monte Carlo relies on this being the same
    arithmetic as a single build); products are accumulated in place.
    """
    total = None
    wsum = 0.0
    for x, w in zip(values, weights, strict=True):
        w = np.asarray(w, dtype="float64")
        with np.errstate(invalid="ignore"):
            term = w * x
            zero = w == 0
            if zero.any():
                term = np.where(zero, 0.0, term)
            if total is None:
                total = 0.0 + term
            elif total.shape == np.broadcast_shapes(total.shape, term.shape):
                total += term
            else:
                total = total + term
        wsum = wsum + w
    if kind == "mean":
        if total.shape == np.broadcast_shapes(total.shape, np.shape(wsum)):
            total /= wsum
        else:
            total = total / wsum
    return total


def _evaluate(
    spec: IndexSpec,
    leaf_values: dict[str, np.ndarray],
    weights: dict[str, list] | None = None,
    axis: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Evaluate the tree bottom-up. Returns ``(node -> score after transform, weights used)``.

    ``leaf_values`` are (n,) arrays, or 2-D with areas along ``axis``; ``weights`` overrides a
    node's child weights (scalars or arrays broadcasting against the values, in child order).
    Derived weights need (n,) values.
    """
    values = dict(leaf_values)
    used: dict[str, list] = {}
    for name in reversed(spec.order):
        node = spec.nodes[name]
        kids = [values[c] for c in node.children]
        if weights is not None and name in weights:
            w = weights[name]
        else:
            given = spec.child_weights(name)
            if given is not None:
                w = [given[c] for c in node.children]
            else:
                x = np.column_stack(kids)
                fn = factor_weights if node.weights == "factor" else pca_weights
                w = list(fn(x, name=f"index.nodes.{name}.weights: {node.weights}"))
        used[name] = w
        values[name] = _apply_transform(node.transform, _combine(node.combine, kids, w), axis)
    return {n: values[n] for n in spec.order}, used


# --- reading the table ----------------------------------------------------------------------


def _numeric(table: pd.DataFrame, column: str) -> pd.Series:
    s = table[column]
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64")
    text = s.astype("string").str.strip().str.replace(",", "", regex=False)
    text = text.mask(text == "")
    num = pd.to_numeric(text, errors="coerce")
    bad = s.notna() & (text.notna()) & num.isna()
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        msg = (
            f"column {column!r} is not numeric: {int(bad.sum()):,} of {len(s):,} values are "
            f"not numbers, e.g. {s.iloc[i]!r} in area {s.index[i]!r}; fix or blank them."
        )
        raise ColumnError(msg)
    return num.astype("float64")


def _check_table(table: pd.DataFrame, spec: IndexSpec) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        msg = f"build_index: `table` must be a pandas DataFrame, got {type(table).__name__}."
        raise TypeError(msg)
    if spec.id is not None and spec.id in table.columns and table.index.name != spec.id:
        table = table.set_index(spec.id)
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()].unique()
        msg = (
            f"the table has {len(dup):,} duplicate area ids (e.g. {dup[0]!r}); "
            "each area must appear once."
        )
        raise DataError(msg)
    missing = [c for c in spec.columns() if c not in table.columns]
    if missing:
        present = ", ".join(map(str, table.columns))
        msg = (
            f"the table lacks column(s) {', '.join(map(repr, missing))} named by the index "
            f"recipe; columns present: {present}."
        )
        raise ColumnError(msg)
    if len(table) == 0:
        msg = "the table has no rows; there is nothing to rank."
        raise DataError(msg)
    return table


@dataclass
class _Prepared:
    oriented: dict[str, np.ndarray]  # treated, imputed, oriented (higher = more need)
    flags: dict[str, pd.Series]


def _prepare(table: pd.DataFrame, spec: IndexSpec) -> _Prepared:
    oriented: dict[str, np.ndarray] = {}
    flags: dict[str, pd.Series] = {}
    for name in spec.leaf_order:
        leaf = spec.leaves[name]
        label = f"leaf {name!r}" + (f" (column {leaf.column!r})" if leaf.column else "")
        values = _numeric(table, leaf.column) if leaf.column is not None else None
        for t in leaf.treatments:
            if t.kind == "shrink":
                p = t.params
                values = shrink(
                    _numeric(table, p["count"]),
                    _numeric(table, p["denominator"]),
                    table[p["parent"]],
                    model=p["model"],
                )
            elif values is None:
                msg = f"{label}: needs a column (or a shrink treatment first)."
                raise IndexSpecError(msg)
            elif t.kind == "log":
                values = log_transform(values, offset=t.params["offset"], name=label)
            else:
                values = winsorise(values, lower=t.params["lower"], upper=t.params["upper"])
        if values is None:
            msg = f"{label}: needs a column."
            raise IndexSpecError(msg)
        if values.notna().sum() == 0:
            msg = f"{label} has no values (all missing); drop it from the recipe or fix the input."
            raise DataError(msg)
        n_missing = int(values.isna().sum())
        values, flag = impute(values, method=leaf.impute)
        if leaf.impute != "none":
            flags[name] = flag.rename(f"{name}_imputed")
            if n_missing:
                log.info(
                    "%s: imputed %s of %s values (%s)", label, n_missing, len(values), leaf.impute
                )
        elif n_missing:
            warnings.warn(
                f"{label}: {n_missing:,} of {len(values):,} areas have no value and impute is "
                "none; their scores on the nodes above are NaN.",
                stacklevel=3,
            )
        v = snap_significant(values.to_numpy(dtype="float64"))
        oriented[name] = -v if leaf.direction == "low" else v
    return _Prepared(oriented, flags)


SIGNIFICANT_DIGITS = 12


def snap_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits so values equal up to floating-point noise tie.

    Indicator values computed by sums in a different order (input rows shuffled, another
    engine) can differ in the last bits; ranked raw, two areas with the same true value would
    swap places. Rounding to 12 significant digits (far below any measurement's precision)
    before ranking makes such values exact ties, so ranks never depend on row order.
    NaN, infinities and 0 are kept as they are.
    """
    v = np.asarray(values, dtype="float64")
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    with np.errstate(divide="ignore"):
        mag = np.floor(np.log10(np.abs(np.where(ok, v, 1.0))))
    ok &= np.abs(mag) < 280  # beyond, 10**(digits - 1 - mag) is not representable: keep as is
    if ok.any():
        scale = 10.0 ** (digits - 1 - mag[ok])
        out[ok] = np.round(v[ok] * scale) / scale
    return out


def _normalised(
    prep: _Prepared, spec: IndexSpec, method: str | None = None
) -> dict[str, np.ndarray]:
    return {
        name: NORMALISERS[method or spec.leaves[name].normalise](v)
        for name, v in prep.oriented.items()
    }


# --- results ---------------------------------------------------------------------------------


@dataclass
class IndexResult:
    """A built index: scores, ranks and deciles per non-leaf node, with weights and diagnostics."""

    scores: pd.DataFrame
    weights: dict[str, dict[str, float]]
    diagnostics: dict
    spec: IndexSpec
    id_name: str | None = None
    n: dict[str, int] = field(default_factory=dict)
    left_behind_info: dict | None = None

    def metadata(self) -> dict:
        """Conventions, N per node, weights used, normalisations and diagnostics (JSON-ready)."""
        spec = self.spec
        leaves = {
            name: {
                "column": leaf.column,
                "parent": leaf.parent,
                "direction": leaf.direction,
                "normalise": leaf.normalise,
                "treatment": [{t.kind: t.params} for t in leaf.treatments],
                "impute": leaf.impute,
            }
            for name, leaf in spec.leaves.items()
        }
        nodes = {
            name: {
                "children": list(spec.nodes[name].children),
                "combine": spec.nodes[name].combine,
                "weights": self.weights[name],
                "transform": spec.nodes[name].transform,
                "n": self.n.get(name),
            }
            for name in spec.order
        }
        meta = {
            "root": spec.root,
            "domains": spec.domains,
            "n_areas": int(len(self.scores)),
            "conventions": {
                "direction": "higher score = higher need",
                "rank": RANK_CONVENTION,
                "decile": POP_DECILE_CONVENTION
                if spec.deciles == "population"
                else DECILE_CONVENTION,
                "scope": "ranks are within the table given (N = its number of ranked areas)",
                "transforms": {
                    k: TRANSFORM_TEXT[k] for k in sorted({n.transform for n in spec.nodes.values()})
                },
                "normalisations": {
                    k: NORMALISE_TEXT[k]
                    for k in sorted({lf.normalise for lf in spec.leaves.values()})
                },
                "combine": "sum: sum of weight x child; mean: that sum / sum of weights",
            },
            "nodes": nodes,
            "leaves": leaves,
            "diagnostics": self.diagnostics,
        }
        if self.left_behind_info is not None:
            meta["left_behind"] = self.left_behind_info
        return _diagnostics.json_ready(meta)

    def to_frame(self, id_name: str | None = None) -> pd.DataFrame:
        """The CSV layout: id column, then ``{node}_score/_rank/_decile`` per node, ``left_behind``."""
        cols = []
        for name in self.spec.order:
            cols += [f"{name}_score", f"{name}_rank", f"{name}_decile"]
        if "left_behind" in self.scores.columns:
            cols.append("left_behind")
        out = self.scores[cols].copy()
        out.index = out.index.rename(id_name or self.id_name or self.scores.index.name or "id")
        return out.reset_index()


# --- left behind -----------------------------------------------------------------------------


def left_behind(
    index_decile: pd.Series,
    deprivation: pd.Series,
    *,
    kind: Literal["score", "rank"] = "score",
    n: int | None = None,
    name: str = "left_behind",
) -> pd.Series:
    """Flag areas in decile 1 of both the index and the deprivation measure.

    Parameters
    ----------
    index_decile
        The index's deciles (1 = highest need) on the area index.
    deprivation
        The whole deprivation table's values on its id index: a score (higher = more
        deprived) or a rank (1 = most deprived). Its decile is computed over all its rows.
    kind
        ``score`` or ``rank``.
    n
        For ranks, N of the deprivation ranking; default the number of non-missing ranks.

    Returns
    -------
    A nullable boolean Series on ``index_decile``'s index; NA where the area's index decile is
    missing or its id is not in the deprivation table (counted in a warning).
    """
    if kind not in ("score", "rank"):
        msg = f"left_behind: unknown kind {kind!r}; valid: score, rank"
        raise ValueError(msg)
    if deprivation.index.has_duplicates:
        dup = deprivation.index[deprivation.index.duplicated()].unique()
        msg = (
            f"the deprivation table has {len(dup):,} duplicate ids (e.g. {dup[0]!r}); "
            "each area must appear once."
        )
        raise DataError(msg)
    dep = deprivation.astype("float64")
    if kind == "score":
        rank = _need_rank_array(dep.to_numpy())
    else:
        rank = dep.to_numpy()
    big_n = n if n is not None else int(np.isfinite(rank).sum())
    dep_decile = pd.Series(_decile_array(rank, big_n), index=dep.index)
    joined = dep_decile.reindex(index_decile.index)
    missing = int(joined.isna().sum())
    if missing:
        warnings.warn(
            f"{missing:,} of {len(joined):,} areas have no deprivation value (id not in the "
            "deprivation table or blank); their left_behind flag is missing.",
            stacklevel=2,
        )
    idx = index_decile.astype("Float64")
    flag = (idx == 1) & (joined.astype("Float64") == 1)
    flag = flag.astype("boolean")
    flag[idx.isna().to_numpy() | joined.isna().to_numpy()] = pd.NA
    return flag.rename(name)


# --- build -----------------------------------------------------------------------------------


def build_index(
    table: pd.DataFrame,
    spec: IndexSpec,
    *,
    population: pd.Series | None = None,
    deprivation: pd.Series | None = None,
    deprivation_kind: Literal["score", "rank"] = "score",
    deprivation_n: int | None = None,
) -> IndexResult:
    """Build the index described by ``spec`` from ``table``.

    Parameters
    ----------
    table
        One row per area, indexed by area id (or with the spec's ``id`` column), holding every
        leaf column. Not modified.
    spec
        From :func:`parse_index_spec`.
    population
        Residents per area (aligned by index), for ``deciles: population``; default the spec's
        ``population`` column of ``table``.
    deprivation
        The deprivation table's score or rank on its id index; adds ``left_behind``.
    deprivation_kind
        ``score`` (higher = more deprived) or ``rank`` (1 = most deprived).
    deprivation_n
        N of a deprivation ranking; default its number of rows with a value.

    Returns
    -------
    IndexResult
        ``scores`` has, for every non-leaf node in tree order, ``{node}_score`` (after the
        node's transform), ``{node}_rank`` (1 = highest need, ties 'min') and
        ``{node}_decile``; then ``{leaf}_imputed`` flags and ``left_behind``.
    """
    table = _check_table(table, spec)
    prep = _prepare(table, spec)
    leaf_scores = _normalised(prep, spec)
    node_scores, used = _evaluate(spec, leaf_scores)

    if spec.deciles == "population":
        if population is None:
            if spec.population is None or spec.population not in table.columns:
                msg = (
                    "deciles: population needs residents per area: pass `population=` or name "
                    "the column with index.population."
                )
                raise ColumnError(msg)
            population = _numeric(table, spec.population)
        population = population.reindex(table.index).astype("float64")

    cols: dict[str, pd.Series] = {}
    n_used: dict[str, int] = {}
    for name in spec.order:
        score = node_scores[name]
        rank = _need_rank_array(score)
        n = int(np.isfinite(score).sum())
        n_used[name] = n
        if spec.deciles == "population":
            dec = population_deciles(pd.Series(rank, index=table.index), population).to_numpy(
                dtype="float64", na_value=np.nan
            )
        else:
            dec = _decile_array(rank, n) if n else np.full(len(score), np.nan)
        cols[f"{name}_score"] = pd.Series(score, index=table.index)
        cols[f"{name}_rank"] = pd.Series(rank, index=table.index).astype("Int64")
        cols[f"{name}_decile"] = pd.Series(dec, index=table.index).astype("Int64")
    for flag in prep.flags.values():
        cols[flag.name] = flag.astype(bool)
    scores = pd.DataFrame(cols, index=table.index)
    lb_info = None
    if deprivation is not None:
        scores["left_behind"] = left_behind(
            scores[f"{spec.root}_decile"], deprivation, kind=deprivation_kind, n=deprivation_n
        )
        lb_info = {
            "rule": "left_behind = decile 1 of the index and decile 1 of deprivation",
            "deprivation_kind": deprivation_kind,
            "deprivation_n": deprivation_n
            if deprivation_n is not None
            else int(deprivation.notna().sum()),
            "n_left_behind": int(scores["left_behind"].sum()),
            "n_unjoined": int(scores["left_behind"].isna().sum()),
        }
    weights = {
        name: {c: float(w) for c, w in zip(spec.nodes[name].children, used[name], strict=True)}
        for name in spec.order
    }
    diagnostics = _diagnostics.diagnostics(spec, leaf_scores, node_scores, prep.flags, weights)
    id_name = table.index.name or spec.id
    return IndexResult(scores, weights, diagnostics, spec, id_name, n_used, lb_info)


# --- file-level entry point (the CLI's `cni-geo index`) --------------------------------------


def _read_csv(path: Path, id_col: str, what: str) -> pd.DataFrame:
    if not path.exists():
        msg = f"{what} {path} does not exist; check the path."
        raise SourceError(msg)
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", thousands=",", dtype={id_col: "string"})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = f"{what} {path} cannot be read as CSV: {exc}."
        raise SourceError(msg) from exc
    if id_col not in frame.columns:
        msg = (
            f"{what} {path} has no id column {id_col!r}; columns present: "
            f"{', '.join(map(str, frame.columns))}."
        )
        raise ColumnError(msg)
    blank = frame[id_col].isna()
    if blank.any():
        msg = f"{what} {path}: {int(blank.sum()):,} of {len(frame):,} rows have a blank {id_col!r}."
        raise DataError(msg)
    if frame[id_col].duplicated().any():
        dup = frame.loc[frame[id_col].duplicated(), id_col].unique()
        msg = (
            f"{what} {path} has {len(dup):,} duplicate ids in {id_col!r} (e.g. {dup[0]!r}); "
            "each area must appear once."
        )
        raise DataError(msg)
    return frame.set_index(id_col)


def _relpath(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def run_index_table(
    table_path,
    spec: IndexSpec,
    out_path,
    *,
    deprivation_path=None,
    deprivation_id: str | None = None,
    deprivation_score: str | None = None,
    deprivation_rank: str | None = None,
    uncertainty: int = 0,
    seed: int = 0,
    overwrite: bool = False,
    recipe_path=None,
) -> Path:
    """Read a CSV of indicator values, build the index, write ``OUT.csv`` and its sidecar.

    The table's id column (``spec.id``) is read as text and written back unchanged under its
    header. With a deprivation table (``deprivation_id`` and exactly one of
    ``deprivation_score``/``deprivation_rank``) a ``left_behind`` column is added. With
    ``uncertainty > 0`` (or ``index.uncertainty.runs`` in the recipe) ``OUT_uncertainty.csv``
    is written too. Returns the path of the main CSV.
    """
    from .. import __version__
    from ..export.table import write_table
    from ._uncertainty import uncertainty as run_uncertainty

    if spec.id is None:
        msg = "index.id: required for `cni-geo index`: the id column of the input table."
        raise IndexSpecError(msg)
    table_path = Path(table_path)
    out_path = Path(out_path)
    table = _read_csv(table_path, spec.id, "the table")

    dep = None
    kind = "score"
    inputs = {"table": {"path": _relpath(table_path), "sha256": file_sha256(table_path)}}
    if deprivation_path is not None:
        if deprivation_id is None:
            msg = "--deprivation needs --deprivation-id (the id column of the deprivation table)."
            raise ColumnError(msg)
        if (deprivation_score is None) == (deprivation_rank is None):
            msg = "--deprivation needs exactly one of --deprivation-score or --deprivation-rank."
            raise ColumnError(msg)
        dpath = Path(deprivation_path)
        dframe = _read_csv(dpath, deprivation_id, "the deprivation table")
        col = deprivation_score if deprivation_score is not None else deprivation_rank
        kind = "score" if deprivation_score is not None else "rank"
        if col not in dframe.columns:
            msg = (
                f"the deprivation table {dpath} has no column {col!r}; columns present: "
                f"{', '.join(map(str, dframe.columns))}."
            )
            raise ColumnError(msg)
        dep = _numeric(dframe, col)
        inputs["deprivation"] = {
            "path": _relpath(dpath),
            "sha256": file_sha256(dpath),
            "id": deprivation_id,
            "column": col,
            "kind": kind,
        }

    result = build_index(table, spec, deprivation=dep, deprivation_kind=kind)
    runs = uncertainty or spec.uncertainty.runs
    prov: dict = {
        "cni_geo_version": __version__,
        "created": build_timestamp(),
        "inputs": inputs,
        "index": result.metadata(),
    }
    if recipe_path is not None:
        rp = Path(recipe_path)
        prov["recipe"] = {"path": _relpath(rp), "sha256": file_sha256(rp)}
    unc = None
    if runs:
        unc = run_uncertainty(
            table,
            spec,
            runs=runs,
            seed=seed if uncertainty else spec.uncertainty.seed,
            concentration=spec.uncertainty.concentration,
            normalisations=spec.uncertainty.normalisations,
            drop=spec.uncertainty.drop,
        )
        prov["uncertainty"] = unc.metadata()
    written = write_table(
        out_path,
        result.to_frame(spec.id),
        provenance=prov,
        overwrite=overwrite,
        index=False,
    )
    if unc is not None:
        upath = out_path.with_name(out_path.stem + "_uncertainty" + out_path.suffix)
        write_table(
            upath,
            unc.to_frame(spec.id),
            provenance={**prov, "output": "uncertainty of the root rank"},
            overwrite=overwrite,
            index=False,
        )
    return written
