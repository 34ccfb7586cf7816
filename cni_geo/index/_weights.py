"""Derived weights: maximum-likelihood factor analysis and the first principal component."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ..errors import DataError

log = logging.getLogger(__name__)


def _standardise(x: np.ndarray, name: str) -> np.ndarray:
    ok = np.isfinite(x).all(axis=1)
    x = x[ok]
    if len(x) < x.shape[1] + 2:
        msg = f"{name}: too few complete areas ({len(x):,}) to derive weights from {x.shape[1]} children."
        raise DataError(msg)
    sd = x.std(axis=0)
    if (sd == 0).any():
        msg = f"{name}: a child is constant over the areas; derived weights are undefined."
        raise DataError(msg)
    return (x - x.mean(axis=0)) / sd


def factor_loadings(
    x: np.ndarray, *, tol: float = 1e-8, max_iter: int = 5000
) -> tuple[np.ndarray, np.ndarray]:
    """One-factor maximum-likelihood factor analysis of the columns of ``x`` (standardised).

    Returns ``(loadings, uniquenesses)``. Uses the fixed-point ML iteration of Joreskog (the
    one scikit-learn's ``FactorAnalysis`` also uses): with ``S`` the correlation matrix and
    ``Psi`` the uniquenesses, take the leading eigenpair ``(g, u)`` of
    ``Psi^-1/2 S Psi^-1/2``, set ``loadings = Psi^1/2 u sqrt(max(g - 1, 0))`` and
    ``Psi = diag(S - loadings loadings')``, until the log-likelihood settles. Written here so
    that scikit-learn stays a test-only dependency.
    """
    n, k = x.shape
    s = np.cov(x, rowvar=False, bias=True)
    psi = np.clip(np.diag(s).copy(), 1e-6, None)
    old = -np.inf
    for _ in range(max_iter):
        sq = np.sqrt(psi)
        m = s / np.outer(sq, sq)
        vals, vecs = np.linalg.eigh(m)
        g, u = vals[-1], vecs[:, -1]
        lam = sq * u * np.sqrt(max(g - 1.0, 0.0))
        psi = np.clip(np.diag(s) - lam**2, 1e-6, None)
        sigma = np.outer(lam, lam) + np.diag(psi)
        sign, logdet = np.linalg.slogdet(sigma)
        ll = -0.5 * (logdet + np.trace(np.linalg.solve(sigma, s)))
        if abs(ll - old) < tol:
            break
        old = ll
    if lam.sum() < 0:
        lam = -lam
    return lam, psi


def factor_weights(x: np.ndarray, *, name: str = "factor weights") -> np.ndarray:
    """Weights from one-factor ML factor analysis: normalised factor-score coefficients.

    The regression (Thomson) factor-score coefficients of a one-factor model are
    ``Sigma^-1 lambda``, proportional to ``lambda / psi``; they are computed on standardised
    children and scaled to sum to 1 (the IoD practice).
    """
    z = _standardise(np.asarray(x, dtype="float64"), name)
    lam, psi = factor_loadings(z)
    sigma = np.outer(lam, lam) + np.diag(psi)
    coef = np.linalg.solve(sigma, lam)
    return _normalise(coef, name)


def pca_weights(x: np.ndarray, *, name: str = "pca weights") -> np.ndarray:
    """Weights from the first principal component of the correlation matrix, summing to 1."""
    z = _standardise(np.asarray(x, dtype="float64"), name)
    corr = np.cov(z, rowvar=False, bias=True)
    vals, vecs = np.linalg.eigh(corr)
    v = vecs[:, -1]
    if v.sum() < 0:
        v = -v
    return _normalise(v, name)


def _normalise(coef: np.ndarray, name: str) -> np.ndarray:
    total = coef.sum()
    if total <= 0:
        msg = f"{name}: the derived coefficients sum to <= 0; the children do not share a factor."
        raise DataError(msg)
    w = coef / total
    if (w < 0).any():
        warnings.warn(
            f"{name}: {(w < 0).sum()} of {len(w)} derived weights are negative; "
            "check the indicators' directions.",
            stacklevel=3,
        )
    return w
