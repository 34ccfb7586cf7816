"""The Dask side of :mod:`cni_geo.engine`: clients, clusters and running chunks on workers.

Imported only when ``engine="dask"`` is asked for, so dask stays an optional dependency
(``pip install "cni-geo[dask]"``).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_CLIENTS: dict[str, Any] = {}
_LOCAL: dict[str, Any] = {}

# Arguments at least this large (bytes, estimated) are sent once to every worker.
SCATTER_BYTES = 1 << 20


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            "engine='dask' needs dask-geopandas and distributed; install them with "
            '`pip install "cni-geo[dask]"`, or use engine="local".'
        )
        raise ImportError(msg) from exc
    return distributed


def local_client(*, n_workers: int = 2, processes: bool = True, threads_per_worker: int = 1):
    """A Client on a LocalCluster (started on first use and reused until the process exits)."""
    distributed = _import_distributed()
    key = f"{n_workers}/{processes}/{threads_per_worker}"
    with _LOCK:
        client = _LOCAL.get(key)
        if client is not None and client.status == "running":
            return client
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
        )
        client = distributed.Client(cluster, set_as_default=False)
        _LOCAL[key] = client
        log.info(
            "started a local Dask cluster: %d workers x %d thread(s), processes=%s",
            n_workers,
            threads_per_worker,
            processes,
        )
        return client


def get_client(scheduler: Any = None):
    """The client for ``scheduler``: a ``Client``, an address, or None for the local cluster."""
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if scheduler is None:
        return local_client()
    address = str(scheduler)
    with _LOCK:
        client = _CLIENTS.get(address)
        if client is not None and client.status == "running":
            return client
        try:
            client = distributed.Client(address, set_as_default=False, timeout="20s")
        except OSError as exc:
            msg = (
                f"cannot reach the Dask scheduler at {address}: {exc}. Start one with "
                "`dask scheduler` (and workers with `dask worker ADDRESS`), check the "
                "address in --scheduler / `engine:` in the recipe, or use --engine local."
            )
            raise ConnectionError(msg) from exc
        _CLIENTS[address] = client
        log.info("connected to the Dask scheduler at %s", address)
        return client


def total_threads(client) -> int:
    """Worker threads in the cluster (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a cluster still starting reports nothing
        return 1


def _nbytes(obj: Any) -> int:
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    memory_usage = getattr(obj, "memory_usage", None)
    if callable(memory_usage):
        try:
            usage = memory_usage(index=True, deep=False)
            return int(usage.sum()) if hasattr(usage, "sum") else int(usage)
        except TypeError:
            return 0
    if hasattr(obj, "data") and hasattr(obj, "n"):  # scipy cKDTree
        return int(getattr(obj.data, "nbytes", 0))
    return 0


def _share(client, value: Any) -> Any:
    """Send a large argument to every worker once; small ones travel with the tasks."""
    if _nbytes(value) >= SCATTER_BYTES:
        return client.scatter(value, broadcast=True, hash=False)
    return value


def run_chunks(
    client,
    func: Callable[..., Any],
    chunks: Sequence[Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
) -> list[Any]:
    """Run ``func(chunk, *args, **kwargs)`` for every chunk on the cluster; results in order."""
    shared_args = [_share(client, a) for a in args]
    shared_kwargs = {k: _share(client, v) for k, v in kwargs.items()}
    chunk_futures = client.scatter(list(chunks), hash=False)
    futures = [
        client.submit(func, chunk, *shared_args, pure=False, **shared_kwargs)
        for chunk in chunk_futures
    ]
    try:
        return client.gather(futures)
    finally:
        for fut in futures:
            fut.release()


def close() -> None:
    """Close every client and local cluster this module started."""
    with _LOCK:
        for client in list(_LOCAL.values()) + list(_CLIENTS.values()):
            cluster = getattr(client, "cluster", None)
            try:
                client.close()
                if cluster is not None:
                    cluster.close()
            except Exception:  # noqa: BLE001 - closing at exit must not raise
                log.debug("closing a Dask client failed", exc_info=True)
        _LOCAL.clear()
        _CLIENTS.clear()


atexit.register(close)
