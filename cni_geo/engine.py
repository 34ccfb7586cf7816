"""Engines: run a row-wise step on one machine or on a Dask cluster, with identical results.

The stages whose cost grows with the number of population points and assets (nearest
distances for origins, point-in-polygon assignment of points, overlap tables by source, counts
by area) are *row-wise*: each output row depends only on its input row and on shared arguments
(the destinations, the polygons, the raster). :func:`map_chunks` splits the rows into chunks,
runs the step on each (in this process, or on the workers of a ``dask.distributed`` cluster),
and puts the pieces back together in the input order, so the result is the same as one call on
the whole frame.

Example
-------
>>> import numpy as np, pandas as pd
>>> from scipy.spatial import cKDTree
>>> def nearest(origins, tree):
...     d, _ = tree.query(origins[["x", "y"]].to_numpy())
...     return pd.Series(d, index=origins.index, name="distance")
>>> pts = pd.DataFrame({"x": [0.0, 3.0, 9.0], "y": [0.0, 4.0, 0.0]})
>>> tree = cKDTree([[0.0, 0.0], [9.0, 1.0]])
>>> map_chunks(nearest, pts, tree, n_chunks=2).round(2).tolist()
[0.0, 5.0, 1.0]

``engine="dask"`` runs the same call on a dask.distributed cluster: a local one with two
workers when no ``scheduler`` is given, else the cluster at ``scheduler``
(``"tcp://host:8786"``) or a ``distributed.Client`` you pass. See docs/scale.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import RecipeError

log = logging.getLogger(__name__)

Engine = Literal["local", "dask"]
Partition = Literal["rows", "hilbert"]

ENGINES: dict[str, str] = {
    "local": "this process; chunks run one after another (bounds peak memory)",
    "dask": "a dask.distributed cluster (LocalCluster with 2 workers, or --scheduler ADDRESS)",
}
PARTITIONS: dict[str, str] = {
    "rows": "contiguous blocks of rows in input order",
    "hilbert": "spatially compact chunks (Hilbert order of the geometries, dask-geopandas)",
}


def check_engine(engine: str, *, key: str = "engine") -> str:
    """Return ``engine`` if it is a known engine name, else raise :class:`RecipeError`."""
    if engine not in ENGINES:
        msg = f"{key}: unknown engine {engine!r}; known: {', '.join(ENGINES)}."
        raise RecipeError(msg)
    return engine


def split_rows(frame: pd.DataFrame, n_chunks: int) -> list[pd.DataFrame]:
    """Split ``frame`` into ``n_chunks`` contiguous row blocks (fewer if it has fewer rows)."""
    n = len(frame)
    n_chunks = max(1, min(int(n_chunks), n)) if n else 1
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(np.int64)
    return [frame.iloc[bounds[k] : bounds[k + 1]] for k in range(n_chunks)]


def map_chunks(
    func: Callable[..., Any],
    frame: pd.DataFrame,
    *args: Any,
    engine: Engine = "local",
    scheduler: Any = None,
    n_chunks: int | None = None,
    partition: Partition = "rows",
    **kwargs: Any,
) -> Any:
    """Run ``func(chunk, *args, **kwargs)`` on row chunks of ``frame`` and join the results.

    Parameters
    ----------
    func
        A row-wise step: each output row depends only on its own input row and on ``args`` /
        ``kwargs``. It returns a Series/DataFrame/GeoDataFrame (on the chunk's index or long
        form, e.g. one row per source-target pair), a numpy array, a scipy.sparse matrix with
        one row per input row, or a tuple of these. For ``engine="dask"`` with worker
        processes it must be importable (a module-level function), as Dask pickles it.
    frame
        The rows to split: origins (nearest distance), points (point-in-polygon assignment),
        sources (overlap tables) or areas (counts). Never modified.
    *args, **kwargs
        Passed unchanged to every call. With ``engine="dask"``, large arguments (frames,
        arrays, trees) are sent once to every worker (``Client.scatter(broadcast=True)``).
    engine
        ``"local"``: in this process; with ``n_chunks`` the chunks run one after another,
        which bounds the memory a step needs for its intermediate arrays. ``"dask"``: on a
        dask.distributed cluster.
    scheduler
        Only for ``engine="dask"``: ``None`` (a LocalCluster with 2 workers, started once and
        reused), a scheduler address such as ``"tcp://host:8786"``, or a
        ``distributed.Client``.
    n_chunks
        Number of chunks. Default: 1 for ``"local"`` (a single call), and 4 per worker thread
        for ``"dask"``.
    partition
        ``"rows"`` (contiguous blocks, the default) or ``"hilbert"``: spatially compact
        chunks ordered along a Hilbert curve of the geometries (dask-geopandas), for steps
        that profit from locality. With ``"hilbert"`` the results must be on the chunk's index
        (one row per input row); they are put back into input order.

    Returns
    -------
    The chunk results joined in input order: ``pd.concat`` for pandas objects, ``np.concatenate``
    for arrays, ``scipy.sparse.vstack`` for sparse matrices, element-wise for tuples. For a
    row-wise ``func`` this equals ``func(frame, *args, **kwargs)``.

    Raises
    ------
    RecipeError
        Unknown ``engine`` or ``partition``.
    ImportError
        ``engine="dask"`` without dask-geopandas and distributed installed
        (``pip install "cni-geo[dask]"``).
    """
    check_engine(engine)
    if partition not in PARTITIONS:
        msg = f"partition: unknown partition {partition!r}; known: {', '.join(PARTITIONS)}."
        raise RecipeError(msg)
    if engine == "local" and scheduler is not None:
        log.warning("scheduler=%r is ignored with engine='local'.", scheduler)

    if engine == "dask":
        from . import _dask

        client = _dask.get_client(scheduler)
        if n_chunks is None:
            n_chunks = 4 * max(1, _dask.total_threads(client))
    elif n_chunks is None:
        n_chunks = 1

    order = None
    if partition == "hilbert":
        order = hilbert_order(frame)
        source = frame.iloc[order]
    else:
        source = frame
    chunks = split_rows(source, n_chunks)

    if engine == "dask":
        log.info(
            "running %s on %d chunks of %s rows on Dask",
            _name(func),
            len(chunks),
            f"{len(frame):,}",
        )
        results = _dask.run_chunks(client, func, chunks, args, kwargs)
    elif len(chunks) == 1 and order is None:
        return func(frame, *args, **kwargs)
    else:
        log.debug("running %s on %d chunks in this process", _name(func), len(chunks))
        results = [func(chunk, *args, **kwargs) for chunk in chunks]

    joined = concat_results(results)
    if order is not None:
        joined = _restore_order(joined, chunks, order, frame)
    return joined


def concat_results(results: Sequence[Any]) -> Any:
    """Join per-chunk results in chunk order (see :func:`map_chunks` for the supported types)."""
    first = results[0]
    if isinstance(first, tuple):
        return tuple(concat_results([r[k] for r in results]) for k in range(len(first)))
    if isinstance(first, pd.Series | pd.DataFrame):
        if len(results) == 1:
            return first
        joined = pd.concat(list(results))
        if isinstance(first, pd.Series):
            joined.name = first.name
        return joined
    if isinstance(first, np.ndarray):
        return np.concatenate(list(results))
    try:
        import scipy.sparse as sp

        if sp.issparse(first):
            return sp.vstack(list(results), format=first.format)
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    if isinstance(first, list):
        return [item for r in results for item in r]
    msg = (
        f"map_chunks cannot join results of type {type(first).__name__}; return a pandas "
        "object, a numpy array, a scipy.sparse matrix, a list or a tuple of these."
    )
    raise TypeError(msg)


def hilbert_order(frame: pd.DataFrame) -> np.ndarray:
    """Row positions of a GeoDataFrame sorted along a Hilbert curve (dask-geopandas)."""
    import dask_geopandas

    if not hasattr(frame, "geometry"):
        msg = "partition='hilbert' needs a GeoDataFrame (a geometry column); use partition='rows'."
        raise RecipeError(msg)
    positions = frame.geometry.reset_index(drop=True)
    dgs = dask_geopandas.from_geopandas(positions, npartitions=1)
    dist = dgs.hilbert_distance().compute(scheduler="synchronous")
    return np.argsort(dist.to_numpy(), kind="stable")


def _restore_order(joined: Any, chunks: list, order: np.ndarray, frame: pd.DataFrame) -> Any:
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    if isinstance(joined, tuple):
        return tuple(_restore_order(j, chunks, order, frame) for j in joined)
    if isinstance(joined, pd.Series | pd.DataFrame):
        if len(joined) != len(frame):
            msg = (
                "partition='hilbert' needs one result row per input row; this step returned "
                f"{len(joined):,} rows for {len(frame):,}. Use partition='rows'."
            )
            raise ValueError(msg)
        return joined.iloc[inverse]
    if isinstance(joined, np.ndarray):
        return joined[inverse]
    return joined[inverse]  # scipy.sparse CSR/CSC support row fancy indexing


def _name(func: Callable) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


__all__ = [
    "Engine",
    "ENGINES",
    "PARTITIONS",
    "check_engine",
    "concat_results",
    "hilbert_order",
    "map_chunks",
    "split_rows",
]
