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


def _r(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 6)


def diagnostics(spec, leaf_scores: dict, node_scores: dict, flags: dict) -> dict:
    """Correlations of the normalised indicators, alpha per node, share imputed/missing."""
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
    return {
        "indicator_correlations": correlations,
        "correlation_method": "Pearson, on the normalised indicators (higher = more need)",
        "cronbach_alpha": alpha,
        "share_imputed": share_imputed,
        "share_missing": share_missing,
    }
