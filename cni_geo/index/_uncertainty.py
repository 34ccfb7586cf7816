"""Monte Carlo uncertainty and one-at-a-time sensitivity of the index ranks.

Uncertain inputs: the weights of every node with two or more children (Dirichlet draws around
the weights used, scaled to keep their total), the normalisation method of the indicators
(one method for all indicators per run, drawn from a list), and dropping one indicator (in
half the runs, a uniformly chosen indicator whose parent has another child). All random
draws are made up front from ``numpy.random.default_rng(seed)``, so results do not depend on
batching. Runs are evaluated in batches as (areas x runs) arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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

    def to_frame(self, id_name: str | None = None) -> pd.DataFrame:
        """The CSV layout: id column, base rank, median, 5th and 95th percentile rank, P(decile 1)."""
        out = self.summary.copy()
        out.index = out.index.rename(id_name or out.index.name or "id")
        return out.reset_index()

    def metadata(self) -> dict:
        return {
            "runs": self.runs,
            "seed": self.seed,
            **self.settings,
            "sensitivity": self.sensitivity.to_dict(orient="records"),
        }


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
    batch: int = 50,
) -> UncertaintyResult:
    """Monte Carlo uncertainty of the root rank, and a one-at-a-time sensitivity table.

    Parameters
    ----------
    table, spec
        As for :func:`build_index`.
    runs
        Number of Monte Carlo runs (joint perturbation of every uncertain input).
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives the same result.
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
        Runs evaluated together (memory ~ areas x batch x nodes x 8 bytes).

    Returns
    -------
    UncertaintyResult
        ``summary`` on the table index: ``base_rank``, ``median_rank``, ``p05_rank``,
        ``p95_rank`` (5th/95th percentiles, linear interpolation) and ``p_decile1`` (share of
        runs in decile 1); ``sensitivity`` with one row per uncertain input: ``input``,
        ``runs``, ``mean_abs_rank_shift`` (over areas and runs, against the base ranks) and
        ``max_abs_rank_shift``.
    """
    for m in normalisations:
        if m not in NORMALISERS:
            msg = f"uncertainty: unknown normalisation {m!r}; valid: {', '.join(NORMALISERS)}"
            raise ValueError(msg)
    if runs < 1:
        msg = f"uncertainty: runs must be >= 1, got {runs}."
        raise ValueError(msg)
    table = _check_table(table, spec)
    prep = _prepare(table, spec)
    base_leaves = _normalised(prep, spec)
    base_nodes, used = _evaluate(spec, base_leaves)
    base_rank = _need_rank_array(base_nodes[spec.root])
    n_areas = len(table)

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

    ranks = np.empty((runs, n_areas), dtype="float32")
    for c in np.unique(choice_idx):
        cols = np.flatnonzero(choice_idx == c)
        for start in range(0, len(cols), batch):
            part = cols[start : start + batch]
            ranks[part] = _run_batch(
                spec,
                leaf_sets,
                choices[c],
                {k: v[part] for k, v in weights_all.items()},
                drop_all[part],
            )
    n_ranked = np.isfinite(ranks).sum(axis=1, keepdims=True)
    in_d1 = np.ceil(10.0 * ranks / n_ranked) == 1
    has_nan = np.isnan(ranks).any()
    pct = np.nanpercentile if has_nan else np.percentile
    q = pct(ranks, [5, 50, 95], axis=0)
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

    # One-at-a-time sensitivity.
    rows = []

    def shift(r: np.ndarray) -> tuple[float, float]:
        d = np.abs(r - base_rank[None, :])
        return float(np.nanmean(d)), float(np.nanmax(d))

    s_rng = np.random.default_rng([seed, 1])
    for name in multi:
        k = sensitivity_runs
        wb = {n: np.broadcast_to(base_w[n], (k, len(base_w[n]))).copy() for n in spec.order}
        wb[name] = _dirichlet_weights(s_rng, base_w[name], concentration, k)
        r = np.concatenate(
            [
                _run_batch(
                    spec,
                    leaf_sets,
                    "recipe",
                    {n: v[s : s + batch] for n, v in wb.items()},
                    np.full(min(batch, k - s), None, dtype=object),
                )
                for s in range(0, k, batch)
            ],
            axis=0,
        )
        rows.append(("weights:" + name, k, *shift(r)))
    one = {n: base_w[n][None, :] for n in spec.order}
    for m in normalisations:
        r = _run_batch(spec, leaf_sets, m, one, np.array([None], dtype=object))
        rows.append(("normalise:" + m, 1, *shift(r)))
    for leaf in droppable:
        r = _run_batch(spec, leaf_sets, "recipe", one, np.array([leaf], dtype=object))
        rows.append(("drop:" + leaf, 1, *shift(r)))
    sensitivity = pd.DataFrame(
        rows, columns=["input", "runs", "mean_abs_rank_shift", "max_abs_rank_shift"]
    )
    settings = {
        "concentration": concentration,
        "normalisations": list(normalisations),
        "drop": drop,
        "what": "root rank over runs; percentiles by linear interpolation; decile 1 = "
        "ceil(10 x rank / N) == 1 within each run",
    }
    return UncertaintyResult(summary, sensitivity, runs, seed, settings)
