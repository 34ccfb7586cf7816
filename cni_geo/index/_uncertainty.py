"""Monte Carlo uncertainty and one-at-a-time sensitivity of the index ranks.

Uncertain inputs: the weights of every node with two or more children (Dirichlet draws around
the weights used, scaled to keep their total), the normalisation method of the indicators
(one method for all indicators per run, drawn from a list), and dropping one indicator (in
half the runs, a uniformly chosen indicator whose parent has another child). All random
draws are made up front from ``numpy.random.default_rng(seed)``, so results do not depend on
batching or on the number of worker threads. Runs are evaluated in batches as (runs x areas)
arrays; the indicators are normalised once per method (leaf ranks do not change across
weight draws) and each node's ranks come from one radix ordering per batch row
(``_normalise._order_rows``).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._diagnostics import json_ready
from ._normalise import NORMALISERS, _need_rank_array
from .engine import _check_table, _evaluate, _normalised, _prepare
from .spec import IndexSpec

log = logging.getLogger(__name__)


@dataclass
class UncertaintyResult:
    """Per-area distribution of the root rank and a sensitivity table."""

    summary: pd.DataFrame
    sensitivity: pd.DataFrame
    runs: int
    seed: int
    settings: dict = field(default_factory=dict)
    root: str = "index"

    def to_frame(self, id_name: str | None = None) -> pd.DataFrame:
        """The CSV layout: id column, base rank, median, 5th and 95th percentile rank, P(decile 1)."""
        out = self.summary.copy()
        out.index = out.index.rename(id_name or out.index.name or "id")
        return out.reset_index()

    def area_columns(self) -> pd.DataFrame:
        """Per-area columns to add to the areas layer, on the table's index.

        ``{root}_rank_median``, ``{root}_rank_p05``, ``{root}_rank_p95`` (float ranks,
        1 = highest need; percentiles by linear interpolation over the runs) and
        ``{root}_p_decile1`` (share of runs in which the area is in decile 1, 0..1). Areas
        without a rank in any run are NaN.
        """
        r = self.root
        s = self.summary
        return pd.DataFrame(
            {
                f"{r}_rank_median": s["median_rank"].astype("float64"),
                f"{r}_rank_p05": s["p05_rank"].astype("float64"),
                f"{r}_rank_p95": s["p95_rank"].astype("float64"),
                f"{r}_p_decile1": s["p_decile1"].astype("float64"),
            },
            index=s.index,
        )

    def column_descriptions(self) -> dict[str, str]:
        """One-line descriptions of :meth:`area_columns` (for field descriptions/aliases)."""
        r = self.root
        runs = f"{self.runs:,} Monte Carlo runs (seed {self.seed})"
        return {
            f"{r}_rank_median": f"Median rank of {r} over {runs}; 1 = highest need",
            f"{r}_rank_p05": f"5th percentile rank of {r} over {runs} (linear interpolation)",
            f"{r}_rank_p95": f"95th percentile rank of {r} over {runs} (linear interpolation)",
            f"{r}_p_decile1": f"Share of {runs} in which the area is in decile 1 of {r} (0-1)",
        }

    def metadata(self) -> dict:
        """Settings and the sensitivity table as plain JSON-ready values (NaN as None)."""
        return json_ready(
            {
                "runs": self.runs,
                "seed": self.seed,
                "root": self.root,
                **self.settings,
                "sensitivity": self.sensitivity.to_dict(orient="records"),
            }
        )


def _dirichlet_weights(rng, base: np.ndarray, concentration: float, size: int) -> np.ndarray:
    base = np.asarray(base, dtype="float64")
    total = base.sum()
    alpha = np.clip(concentration * base / total, 1e-3, None)
    return rng.dirichlet(alpha, size=size) * total  # (size, k)


def _base_weights(spec: IndexSpec, used: dict) -> dict[str, np.ndarray]:
    return {n: np.asarray(used[n], dtype="float64") for n in spec.order}


def _droppable(spec: IndexSpec) -> list[str]:
    return [
        name for name in spec.leaf_order if len(spec.nodes[spec.leaves[name].parent].children) > 1
    ]


def _run_batch(spec, leaf_sets, choice, weights_b, drop_b) -> np.ndarray:
    """Root ranks for a batch of B runs sharing one normalisation ``choice``: (B, n).

    Arrays are (runs, areas). A node whose weights are the same in every run of the batch
    gets scalar weights, so a subtree that does not vary is evaluated once, as (1, n).
    """
    b = drop_b.shape[0]
    w = {}
    for name in spec.order:
        kids = spec.nodes[name].children
        wm = np.array(weights_b[name], dtype="float64")  # (B, k)
        for j, c in enumerate(kids):
            hit = drop_b == c
            if hit.any():
                tot = wm[hit].sum(axis=1)
                kept = tot - wm[hit, j]
                scale = np.where(kept > 0, tot / np.where(kept > 0, kept, 1.0), 1.0)
                wm[hit] = wm[hit] * scale[:, None]
                wm[hit, j] = 0.0
        if (wm == wm[0]).all():
            w[name] = [float(x) for x in wm[0]]
        else:
            w[name] = [wm[:, j : j + 1] for j in range(len(kids))]
    leaves = {k: v[None, :] for k, v in leaf_sets[choice].items()}
    nodes, _ = _evaluate(spec, leaves, w, axis=1)
    root = nodes[spec.root]
    if root.shape[0] != b:
        root = np.broadcast_to(root, (b, root.shape[1]))
    return _need_rank_array(root, 1)


def _rank_percentiles(ranks: np.ndarray, qs: list[float]) -> np.ndarray:
    """Percentiles (linear interpolation) over runs (axis 0) of float ranks, NaN ignored.

    Ranks are whole numbers; below 65,536 areas each area's runs are first sorted as uint16
    with numpy's radix sort, which makes the selection inside ``np.percentile`` about twice
    as fast. Percentiles are order statistics, so the result is the same.
    """
    if np.isnan(ranks).any():
        return np.nanpercentile(ranks, qs, axis=0)
    if ranks.shape[1] == 0 or ranks.max() >= 65_536:
        return np.percentile(ranks, qs, axis=0)
    u = np.ascontiguousarray(ranks.T).astype(np.uint16)
    u.sort(axis=1, kind="stable")
    return np.percentile(u.astype(ranks.dtype), qs, axis=1)


def _pool_map(fn, tasks: list, workers: int) -> list:
    """``[fn(*t) for t in tasks]``, on ``workers`` threads when > 1 (numpy releases the GIL
    in the sorts and array arithmetic that dominate a batch). Order of results is kept."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(*t) for t in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda t: fn(*t), tasks))


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def uncertainty(
    table: pd.DataFrame,
    spec: IndexSpec,
    *,
    runs: int = 1000,
    seed: int = 0,
    concentration: float = 50.0,
    normalisations: tuple[str, ...] = ("rankit", "rank_normal", "zscore"),
    drop: bool = True,
    sensitivity_runs: int = 20,
    batch: int = 32,
    workers: int | None = None,
) -> UncertaintyResult:
    """Monte Carlo uncertainty of the root rank, and a one-at-a-time sensitivity table.

    Parameters
    ----------
    table, spec
        As for :func:`build_index`.
    runs
        Number of Monte Carlo runs (joint perturbation of every uncertain input).
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives the same result, whatever
        ``batch`` and ``workers``.
    concentration
        Dirichlet concentration: weights are drawn from ``Dirichlet(c * w / sum(w))`` and scaled
        back to ``sum(w)``; larger = closer to the given weights.
    normalisations
        Methods drawn per run (uniformly) and applied to every indicator.
    drop
        Whether half the runs drop one indicator (uniformly chosen among those whose parent
        has another child; the siblings' weights are scaled up to keep the total).
    sensitivity_runs
        Dirichlet draws per node in the one-at-a-time weight sensitivity.
    batch
        Runs evaluated together (memory ~ areas x batch x nodes x 8 bytes per worker).
    workers
        Threads evaluating batches in parallel; default ``min(4, os.cpu_count())``.

    Returns
    -------
    UncertaintyResult
        ``summary`` on the table index: ``base_rank``, ``median_rank``, ``p05_rank``,
        ``p95_rank`` (5th/95th percentiles, linear interpolation) and ``p_decile1`` (share of
        runs in decile 1); ``sensitivity`` with one row per uncertain input: ``input``,
        ``runs``, ``mean_abs_rank_shift`` (over areas and runs, against the base ranks) and
        ``max_abs_rank_shift``. ``area_columns()`` gives the per-area columns named after the
        root for the areas layer.
    """
    for m in normalisations:
        if m not in NORMALISERS:
            msg = f"uncertainty: unknown normalisation {m!r}; valid: {', '.join(NORMALISERS)}"
            raise ValueError(msg)
    if runs < 1:
        msg = f"uncertainty: runs must be >= 1, got {runs}."
        raise ValueError(msg)
    if batch < 1:
        msg = f"uncertainty: batch must be >= 1, got {batch}."
        raise ValueError(msg)
    workers = _default_workers() if workers is None else int(workers)
    if workers < 1:
        msg = f"uncertainty: workers must be >= 1, got {workers}."
        raise ValueError(msg)
    table = _check_table(table, spec)
    prep = _prepare(table, spec)
    base_leaves = _normalised(prep, spec)
    base_nodes, used = _evaluate(spec, base_leaves)
    base_rank = _need_rank_array(base_nodes[spec.root])
    n_areas = len(table)

    # Normal scores etc. are computed once per method: leaf values do not depend on the run.
    leaf_sets = {"recipe": base_leaves}
    for m in normalisations:
        leaf_sets[m] = _normalised(prep, spec, m)
    choices = ["recipe", *normalisations]
    base_w = _base_weights(spec, used)
    multi = [n for n in spec.order if len(spec.nodes[n].children) > 1]
    droppable = _droppable(spec) if drop else []

    rng = np.random.default_rng(seed)
    choice_idx = rng.integers(0, len(normalisations), size=runs) + 1
    weights_all = {}
    for name in spec.order:
        if name in multi:
            weights_all[name] = _dirichlet_weights(rng, base_w[name], concentration, runs)
        else:
            weights_all[name] = np.broadcast_to(base_w[name], (runs, len(base_w[name]))).copy()
    if droppable:
        do_drop = rng.random(runs) < 0.5
        which = rng.integers(0, len(droppable), size=runs)
        drop_all = np.where(do_drop, np.asarray(droppable, dtype=object)[which], None)
    else:
        drop_all = np.full(runs, None, dtype=object)

    # Monte Carlo tasks: runs grouped by normalisation, in batches.
    ranks = np.empty((runs, n_areas), dtype="float32")
    tasks = []
    for c in np.unique(choice_idx):
        cols = np.flatnonzero(choice_idx == c)
        for start in range(0, len(cols), batch):
            part = cols[start : start + batch]
            tasks.append(
                (choices[c], {k: v[part] for k, v in weights_all.items()}, drop_all[part], part)
            )

    def run_mc(choice, weights_b, drop_b, part):
        ranks[part] = _run_batch(spec, leaf_sets, choice, weights_b, drop_b)

    _pool_map(run_mc, tasks, workers)

    n_ranked = np.isfinite(ranks).sum(axis=1, keepdims=True)
    in_d1 = np.ceil(10.0 * ranks / n_ranked) == 1
    q = _rank_percentiles(ranks, [5, 50, 95])
    summary = pd.DataFrame(
        {
            "base_rank": pd.Series(base_rank, index=table.index).astype("Int64"),
            "median_rank": q[1],
            "p05_rank": q[0],
            "p95_rank": q[2],
            "p_decile1": in_d1.mean(axis=0),
        },
        index=table.index,
    )

    # One-at-a-time sensitivity: every input alone, the others at their base values.
    def shift(r: np.ndarray) -> tuple[float, float]:
        d = np.abs(r - base_rank[None, :])
        return float(np.nanmean(d)), float(np.nanmax(d))

    s_rng = np.random.default_rng([seed, 1])
    one = {n: base_w[n][None, :] for n in spec.order}
    s_tasks = []  # (label, runs, choice, weights, drop)
    for name in multi:
        k = sensitivity_runs
        wb = {n: np.broadcast_to(base_w[n], (k, len(base_w[n]))).copy() for n in spec.order}
        wb[name] = _dirichlet_weights(s_rng, base_w[name], concentration, k)
        for s in range(0, k, batch):
            s_tasks.append(
                (
                    "weights:" + name,
                    k,
                    "recipe",
                    {n: v[s : s + batch] for n, v in wb.items()},
                    np.full(min(batch, k - s), None, dtype=object),
                )
            )
    for m in normalisations:
        s_tasks.append(("normalise:" + m, 1, m, one, np.array([None], dtype=object)))
    # dropping each indicator: one run per indicator, evaluated together (the runs of a
    # batch are independent rows, so this equals evaluating them one by one)
    for s in range(0, len(droppable), batch):
        part = np.asarray(droppable[s : s + batch], dtype=object)
        wb = {n: np.broadcast_to(base_w[n], (len(part), len(base_w[n]))) for n in spec.order}
        s_tasks.append((None, 1, "recipe", wb, part))
    s_ranks = _pool_map(
        lambda label, k, choice, wb, db: _run_batch(spec, leaf_sets, choice, wb, db),
        s_tasks,
        workers,
    )
    rows = []
    pending: dict[str, list[np.ndarray]] = {}
    for (label, k, _c, _w, db), r in zip(s_tasks, s_ranks, strict=True):
        if label is None:  # a batch of dropped indicators, one row each
            for leaf, row in zip(db, r, strict=True):
                rows.append(("drop:" + leaf, 1, *shift(row[None, :])))
            continue
        pending.setdefault(label, []).append(r)
        if sum(len(x) for x in pending[label]) == k:
            rows.append((label, k, *shift(np.concatenate(pending.pop(label), axis=0))))
    sensitivity = pd.DataFrame(
        rows, columns=["input", "runs", "mean_abs_rank_shift", "max_abs_rank_shift"]
    )
    settings = {
        "concentration": concentration,
        "normalisations": list(normalisations),
        "drop": drop,
        "sensitivity_runs": sensitivity_runs,
        "what": "root rank over runs; percentiles by linear interpolation; decile 1 = "
        "ceil(10 x rank / N) == 1 within each run",
    }
    return UncertaintyResult(summary, sensitivity, runs, seed, settings, spec.root)


def recipe_uncertainty(
    table: pd.DataFrame,
    spec: IndexSpec,
    *,
    runs: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
) -> UncertaintyResult | None:
    """Run :func:`uncertainty` with the recipe's ``index.uncertainty`` settings, if enabled.

    This is the call for a build: ``runs`` and ``seed`` default to the recipe's
    ``index.uncertainty.runs`` / ``seed``; concentration, normalisations and dropping always
    come from the recipe. Returns None when the number of runs is 0.

    Use ``result.area_columns()`` for the per-area columns (``{root}_rank_median``,
    ``{root}_rank_p05``, ``{root}_rank_p95``, ``{root}_p_decile1``) on the table's index,
    ``result.sensitivity`` for the sensitivity table and ``result.metadata()`` (JSON-ready)
    for the run report.
    """
    u = spec.uncertainty
    n = u.runs if runs is None else int(runs)
    if n <= 0:
        return None
    return uncertainty(
        table,
        spec,
        runs=n,
        seed=u.seed if seed is None else int(seed),
        concentration=u.concentration,
        normalisations=tuple(u.normalisations),
        drop=u.drop,
        workers=workers,
    )
