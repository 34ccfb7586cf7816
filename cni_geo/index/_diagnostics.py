"""Diagnostics of a built index: indicator correlations, Cronbach's alpha, share imputed."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cronbach_alpha(x: np.ndarray) -> float:
    """Cronbach's alpha of the columns of ``x`` over complete rows (NaN if < 2 columns).

    ``alpha = k / (k - 1) * (1 - sum(var_i) / var(sum_i x_i))``, variances with ddof 1.
    """
    x = np.asarray(x, dtype="float64")
    x = x[np.isfinite(x).all(axis=1)]
    k = x.shape[1]
    if k < 2 or len(x) < 2:
        return float("nan")
    total = x.sum(axis=1).var(ddof=1)
    if total == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / total))


def json_ready(value):
    """``value`` as plain JSON types: dicts with str keys, lists, str, bool, int, float, None.

    numpy scalars and arrays, pandas Series/DataFrames (as dicts) and tuples are converted;
    NaN and +-inf become None (JSON has no NaN), so ``json.dumps(..., allow_nan=False)`` works.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return json_ready(value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return json_ready(value.to_dict())
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    return str(value)


def _r(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 6)


def diagnostics(
    spec, leaf_scores: dict, node_scores: dict, flags: dict, weights: dict | None = None
) -> dict:
    """Correlations of the normalised indicators, alpha per node, share imputed/missing and
    the weights used, as plain JSON-ready values (NaN as None)."""
    leaves = spec.leaf_order
    frame = pd.DataFrame({name: leaf_scores[name] for name in leaves})
    corr = frame.corr(method="pearson") if len(leaves) > 1 else pd.DataFrame()
    correlations = {a: {b: _r(corr.loc[a, b]) for b in leaves if b != a} for a in corr.index}
    alpha = {}
    for name in spec.order:
        kids = spec.nodes[name].children
        if len(kids) < 2:
            continue
        x = np.column_stack([leaf_scores[c] if c in leaf_scores else node_scores[c] for c in kids])
        alpha[name] = _r(cronbach_alpha(x))
    n = len(frame)
    share_imputed = {
        name: round(float(flags[name].mean()), 6) if name in flags else 0.0 for name in leaves
    }
    share_missing = {
        name: round(float(np.isnan(leaf_scores[name]).mean()), 6) if n else 0.0 for name in leaves
    }
    out = {
        "indicator_correlations": correlations,
        "correlation_method": "Pearson, on the normalised indicators (higher = more need)",
        "cronbach_alpha": alpha,
        "alpha_method": "Cronbach's alpha of each node's children (normalised leaves or node "
        "scores after transform), complete areas only, variances with ddof 1",
        "share_imputed": share_imputed,
        "share_missing": share_missing,
    }
    if weights is not None:
        out["weights"] = weights
    return json_ready(out)
