"""Where tasks run: an embedded LocalCluster of worker processes, an existing scheduler, or
in-process (``--no-cluster``, for debugging with ordinary tools).

The pipeline only sees ``Runner.map_unordered``; this module and ``pipeline`` are the only
ones that import ``distributed``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("vsbatch")

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


@dataclass(frozen=True)
class ClusterSpec:
    """How to get workers: ``local`` (embedded), ``none`` (in-process) or ``tcp://host:port``."""

    cluster: str = "local"
    workers: int | None = None
    threads_per_worker: int = 1
    memory_limit: str | None = None


class Runner:
    """Maps a function over items; yields ``(item, result, error)`` as tasks finish."""

    dashboard_link: str | None = None
    n_workers: int = 1

    def map_unordered(
        self, fn: Callable[..., Any], items: Iterable[Any], *args: Any
    ) -> Iterator[tuple[Any, Any, BaseException | None]]:
        raise NotImplementedError


class SerialRunner(Runner):
    """In-process execution, in order: the debugging path."""

    def map_unordered(self, fn, items, *args):  # noqa: ANN001, ANN201 - see Runner
        for item in items:
            try:
                yield item, fn(item, *args), None
            except Exception as exc:  # noqa: BLE001 - reported to the caller with its item
                yield item, None, exc


class DaskRunner(Runner):
    """Tasks on a distributed cluster; results are streamed back as they complete."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.dashboard_link = getattr(client, "dashboard_link", None)
        self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))

    def map_unordered(self, fn, items, *args):  # noqa: ANN001, ANN201 - see Runner
        from distributed import as_completed

        items = list(items)
        scattered = [self.client.scatter(a, broadcast=True) if _big(a) else a for a in args]
        futures = {self.client.submit(fn, item, *scattered, pure=False): item for item in items}
        for future in as_completed(futures):
            item = futures.pop(future)
            try:
                yield item, future.result(), None
            except Exception as exc:  # noqa: BLE001 - reported to the caller with its item
                yield item, None, exc
            future.release()


def _big(obj: Any) -> bool:
    return hasattr(obj, "nbytes") and getattr(obj, "nbytes", 0) > 1_000_000


@contextlib.contextmanager
def open_runner(spec: ClusterSpec) -> Iterator[Runner]:
    """A Runner for the spec, closed (with its embedded cluster) on exit."""
    if spec.cluster == "none":
        yield SerialRunner()
        return
    import dask
    from distributed import Client, LocalCluster

    if spec.cluster.startswith(("tcp://", "tls://", "ucx://")):
        with Client(spec.cluster) as client:
            yield DaskRunner(client)
        return
    if spec.cluster != "local":
        raise ValueError(f"unknown cluster {spec.cluster!r}: use local, none or tcp://host:port")
    for name in _THREAD_ENV:  # one thread per worker: do not oversubscribe the cores
        os.environ.setdefault(name, str(spec.threads_per_worker))
    workers = spec.workers or max(1, (os.cpu_count() or 1) // spec.threads_per_worker)
    with (
        dask.config.set({"logging.distributed": "error"}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            memory_limit=spec.memory_limit or "auto",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield DaskRunner(client)
