"""Where tasks run: an embedded LocalCluster, Slurm (dask-jobqueue), Kubernetes
(dask-kubernetes operator), a single GPU machine (dask-cuda), an existing scheduler, or
in-process (``--no-cluster``, for debugging with ordinary tools).

The pipeline only sees ``Runner.map_unordered``; this module and ``pipeline`` are the only
ones that import ``distributed``. Optional cluster managers are imported only when asked for,
with a message naming the extra to install.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vsbatch.config import check_minimums, cli
from vsbatch.errors import UsageError

log = logging.getLogger("vsbatch")

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
GPU_RESOURCE = "GPU"  # Dask worker resource advertised by GPU workers (one unit per GPU)
# glibc mallopt settings of every worker: arrays below 32 MiB reuse the heap and up to 64 MiB of
# free heap top is kept (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD). See tune_malloc.
MALLOC_SETTINGS = {-3: 32 << 20, -1: 64 << 20}


@dataclass(frozen=True)
class SlurmOptions:
    """Workers as Slurm jobs through dask-jobqueue's ``SLURMCluster``."""

    queue: str | None = None
    account: str | None = None
    cores: int = 1  # per job (one worker process per job, one thread per core)
    memory: str = "4GiB"  # per job
    walltime: str = "01:00:00"
    jobs: int = 1  # scale to this many jobs; or adapt between adapt_min and adapt_max
    adapt_min: int | None = None
    adapt_max: int | None = None
    # restart workers before the walltime kills them, so no task is lost mid-way
    lifetime: str | None = "55m"
    lifetime_stagger: str | None = "4m"
    gpu_jobs: int = 0  # a second group of jobs with --gres=gpu:N and the GPU resource
    gpus_per_job: int = 1
    job_extra: tuple[str, ...] = ()
    log_directory: str | None = None
    python: str | None = None  # the workers' interpreter (default: this one)


@dataclass(frozen=True)
class KubernetesOptions:
    """A ``DaskCluster`` of the dask-kubernetes operator with CPU and GPU worker groups."""

    name: str = "vsbatch"
    namespace: str | None = None
    image: str = "vsbatch:latest"
    workers: int = 2
    cpu: str = "1"
    memory: str = "4Gi"
    gpu_workers: int = 0
    gpus_per_worker: int = 1


@dataclass(frozen=True)
class ClusterSpec:
    """How to get workers.

    ``cluster``: ``local`` (embedded LocalCluster, or LocalCUDACluster with ``gpus``), ``none``
    (in-process), ``slurm``, ``kubernetes``, ``tcp://host:port`` (an existing scheduler) or
    ``scheduler-file:PATH`` (the one-allocation Slurm mode, see deploy/slurm).
    """

    cluster: str = field(
        default="local",
        metadata=cli(
            help="local, slurm, kubernetes (options in a job file), tcp://host:port, "
            "scheduler-file:PATH"
        ),
    )
    workers: int | None = field(
        default=None, metadata=cli(minimum=1, help="worker processes", default_text="one per core")
    )
    threads_per_worker: int = field(
        default=1, metadata=cli(minimum=1, help="threads of each worker process")
    )
    memory_limit: str | None = field(
        default=None, metadata=cli(help="per worker, e.g. 4GiB", default_text="share of RAM")
    )
    gpus: int = field(default=0, metadata=cli(minimum=0, help="local GPU workers (dask-cuda)"))
    # TLS between client, scheduler and workers (PEM files; one CA signs the certificates)
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    kubernetes: KubernetesOptions = field(default_factory=KubernetesOptions)

    def __post_init__(self) -> None:
        check_minimums(self)


class Runner:
    """Maps a function over items; yields ``(item, result, error)`` as tasks finish."""

    dashboard_link: str | None = None
    has_gpu_workers: bool = False

    def map_unordered(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *args: Any,
        resources: dict[str, float] | None = None,
    ) -> Iterator[tuple[Any, Any, BaseException | None]]:
        raise NotImplementedError

    def run_ranks(self, fn: Callable[..., Any], world: int, *args: Any) -> list[Any]:
        """``fn(rank, world, init_method, *args)`` on ``world`` distinct workers at once.

        Why: data-parallel training (torch.distributed) needs one long-lived process per rank
        that can reach rank 0; ``init_method`` is a ``tcp://host:port`` on rank 0's host.
        Returns the results in rank order.
        """
        raise NotImplementedError


class SerialRunner(Runner):
    """In-process execution, in order: the debugging path."""

    def map_unordered(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *args: Any,
        resources: dict[str, float] | None = None,
    ) -> Iterator[tuple[Any, Any, BaseException | None]]:
        for item in items:
            try:
                yield item, fn(item, *args), None
            except Exception as exc:  # reported to the caller with its item
                yield item, None, exc

    def run_ranks(self, fn: Callable[..., Any], world: int, *args: Any) -> list[Any]:
        if world != 1:
            raise UsageError(f"{world} training ranks need a Dask cluster, not cluster 'none'")
        return [fn(0, 1, f"tcp://127.0.0.1:{free_port()}", *args)]


def _shared_value(value: Any) -> Any:
    """A shared task argument, as a task result the scheduler can recompute."""
    return value


class DaskRunner(Runner):
    """Tasks on a distributed cluster; results are streamed back as they complete."""

    def __init__(self, client: Any) -> None:
        self.client = client
        client.register_worker_callbacks(setup=tune_malloc)
        self.dashboard_link = getattr(client, "dashboard_link", None)
        workers = client.scheduler_info().get("workers", {})
        self.has_gpu_workers = any(
            w.get("resources", {}).get(GPU_RESOURCE) for w in workers.values()
        )

    def map_unordered(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *args: Any,
        resources: dict[str, float] | None = None,
    ) -> Iterator[tuple[Any, Any, BaseException | None]]:
        from distributed import as_completed

        items = list(items)
        # the shared arguments (a run's plan is ~100 kB at 4,000 partitions) go to the cluster
        # once; passed by value they would be serialised into every task, so the driver's
        # memory would grow as partitions x plan size. Each is a task's result, not scattered
        # data: when the only worker holding it dies, the scheduler recomputes it from the
        # task instead of cancelling every task that needs it ("already forgotten").
        shared = [self.client.submit(_shared_value, a, pure=False) for a in args]
        futures = {
            self.client.submit(fn, item, *shared, pure=False, resources=resources): item
            for item in items
        }
        for future in as_completed(futures):
            item = futures.pop(future)
            try:
                yield item, future.result(), None
            except Exception as exc:  # reported to the caller with its item
                yield item, None, exc
            future.release()

    def run_ranks(self, fn: Callable[..., Any], world: int, *args: Any) -> list[Any]:
        workers = sorted(self.client.scheduler_info()["workers"])
        if len(workers) < world:
            raise UsageError(f"{world} training ranks need {world} workers; the cluster has "
                             f"{len(workers)}")  # fmt: skip
        chosen = workers[:world]
        port = self.client.run(free_port, workers=[chosen[0]])[chosen[0]]
        init = f"tcp://{urlsplit(chosen[0]).hostname}:{port}"
        futures = [
            self.client.submit(
                fn, rank, world, init, *args, workers=[w], allow_other_workers=False, pure=False
            )
            for rank, w in enumerate(chosen)
        ]
        return self.client.gather(futures)


def tune_malloc() -> bool:
    """Set MALLOC_SETTINGS in this process (glibc only); True when applied.

    Why: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's
    mmap threshold at 128 KiB, so every larger array (a periodogram, nifty-ls's buffers) is
    mapped, faulted page by page and unmapped on every call: a nifty-ls call cost 1.5-2.2x the
    CPU time in a worker (docs/performance.md). The same values given as environment variables
    through ``distributed.nanny.pre-spawn-environ`` reached the worker's environment but left
    the faults in place in our measurement; mallopt inside the worker removes them, and a
    worker setup callback reaches local, Slurm, Kubernetes and restarted workers alike.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(param, value) == 1 for param, value in MALLOC_SETTINGS.items())


def free_port() -> int:
    """A TCP port free on this host now (for a torch.distributed rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def security(spec: ClusterSpec) -> Any:
    """A ``distributed.Security`` requiring TLS when the spec names certificates, else None."""
    files = (spec.tls_ca_file, spec.tls_cert, spec.tls_key)
    if not any(files):
        return None
    if not all(files):
        raise UsageError("TLS needs tls_ca_file, tls_cert and tls_key together")
    for path in files:
        if not os.path.isfile(path):
            raise UsageError(f"TLS file {path} does not exist")
    from distributed.security import Security

    ca, cert, key = files
    return Security(
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        require_encryption=True,
    )


def _optional(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"{module} is not installed: pip install 'vsbatch[{extra}]' for this cluster kind"
        ) from exc


def _single_thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in _THREAD_ENV}


def slurm_cluster(spec: ClusterSpec) -> Any:
    """A dask-jobqueue SLURMCluster for the CPU workers (not yet scaled)."""
    jobqueue = _optional("dask_jobqueue", "slurm")
    opts = spec.slurm
    extra = []
    if opts.lifetime:
        extra += ["--lifetime", opts.lifetime]
    if opts.lifetime_stagger:
        extra += ["--lifetime-stagger", opts.lifetime_stagger]
    return jobqueue.SLURMCluster(
        queue=opts.queue,
        account=opts.account,
        cores=opts.cores,
        processes=opts.cores,
        memory=opts.memory,
        walltime=opts.walltime,
        worker_extra_args=extra,
        job_extra_directives=list(opts.job_extra),
        job_script_prologue=[f"export {k}={v}" for k, v in _single_thread_env(1).items()],
        log_directory=opts.log_directory,
        python=opts.python or sys.executable,
        silence_logs="error",
    )


def slurm_gpu_job_options(cluster: Any, spec: ClusterSpec) -> dict:
    """Job options of the GPU group: the CPU jobs' options plus ``--gres=gpu:N`` and the GPU
    worker resource, so inference tasks land on these workers only."""
    opts = dict(cluster.new_spec["options"])
    n = spec.slurm.gpus_per_job
    opts["job_extra_directives"] = [*opts.get("job_extra_directives", []), f"--gres=gpu:{n}"]
    opts["worker_extra_args"] = [
        *opts.get("worker_extra_args", []),
        "--resources",
        f"{GPU_RESOURCE}={n}",
    ]
    opts["cores"] = opts["processes"] = 1
    return opts


def slurm_job_scripts(spec: ClusterSpec) -> dict[str, str]:
    """The sbatch scripts dask-jobqueue would submit for the CPU and the GPU group."""
    with slurm_cluster(spec) as cluster:
        gpu = cluster.job_cls(cluster.scheduler_address, **slurm_gpu_job_options(cluster, spec))
        return {"cpu": cluster.job_script(), "gpu": gpu.job_script()}


def kubernetes_cluster_spec(spec: ClusterSpec) -> dict:
    """The ``DaskCluster`` resource (dict) with a CPU worker group; GPU group via
    ``kubernetes_gpu_worker_group``. The same specs are shipped as YAML in deploy/kubernetes."""
    operator = _optional("dask_kubernetes.operator", "kubernetes")
    k = spec.kubernetes
    env = [{"name": n, "value": v} for n, v in _single_thread_env(1).items()]
    cluster = operator.make_cluster_spec(
        name=k.name,
        image=k.image,
        n_workers=k.workers,
        resources={
            "requests": {"cpu": k.cpu, "memory": k.memory},
            "limits": {"cpu": k.cpu, "memory": k.memory},
        },
        env=env,
    )
    if k.namespace:
        cluster["metadata"]["namespace"] = k.namespace
    return cluster


def kubernetes_job_spec(spec: ClusterSpec, job_file: str, name: str = "vsbatch-run") -> dict:
    """A run-to-completion ``DaskJob``: the vsbatch driver pod (``vsbatch run --job
    job_file`` against the job's own scheduler) beside the DaskCluster of ``spec``."""
    cluster = kubernetes_cluster_spec(spec)
    driver = {
        "name": "job",
        "image": spec.kubernetes.image,
        "args": ["run", "--job", job_file, "--cluster", "$(DASK_SCHEDULER_ADDRESS)"],
    }
    job = {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": {**cluster["metadata"], "name": name},
        "spec": {
            "job": {"spec": {"restartPolicy": "OnFailure", "containers": [driver]}},
            "cluster": {"spec": cluster["spec"]},
        },
    }
    return job


def kubernetes_gpu_worker_group(spec: ClusterSpec) -> dict:
    """The GPU ``DaskWorkerGroup``: ``nvidia.com/gpu`` limits and the GPU worker resource."""
    operator = _optional("dask_kubernetes.operator", "kubernetes")
    k = spec.kubernetes
    worker = operator.make_worker_spec(
        image=k.image,
        n_workers=k.gpu_workers,
        resources={"limits": {"nvidia.com/gpu": str(k.gpus_per_worker), "memory": k.memory}},
        env=[{"name": n, "value": v} for n, v in _single_thread_env(1).items()],
        worker_command="dask-cuda-worker",
    )
    container = worker["spec"]["containers"][0]
    container["args"] += ["--resources", f"{GPU_RESOURCE}={k.gpus_per_worker}"]
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskWorkerGroup",
        "metadata": {"name": f"{k.name}-gpu"},
        "spec": {"cluster": k.name, "worker": worker},
    }


@contextlib.contextmanager
def open_runner(spec: ClusterSpec) -> Iterator[Runner]:
    """A Runner for the spec, closed (with any cluster it started) on exit."""
    if spec.cluster == "none":
        yield SerialRunner()
        return
    for name, value in _single_thread_env(spec.threads_per_worker).items():
        os.environ.setdefault(name, value)  # spawned local workers inherit it
    sec = security(spec)
    if spec.cluster.startswith(("tcp://", "tls://", "ucx://")):
        opened = _scheduler_runner(spec.cluster, sec)
    elif spec.cluster.startswith("scheduler-file:"):
        opened = _scheduler_file_runner(spec.cluster.split(":", 1)[1], sec)
    elif spec.cluster == "slurm":
        opened = _slurm_runner(spec)
    elif spec.cluster == "kubernetes":
        opened = _kubernetes_runner(spec)
    elif spec.cluster == "local":
        opened = _local_runner(spec, sec)
    else:
        raise UsageError(
            f"unknown cluster {spec.cluster!r}: use local, none, slurm, kubernetes, "
            "tcp://host:port or scheduler-file:PATH"
        )
    with opened as runner:
        yield runner


@contextlib.contextmanager
def _scheduler_runner(address: str, sec: Any) -> Iterator[Runner]:
    """Tasks on an existing scheduler."""
    from distributed import Client

    with Client(address, security=sec) as client:
        yield DaskRunner(client)


@contextlib.contextmanager
def _scheduler_file_runner(path: str, sec: Any) -> Iterator[Runner]:
    """Tasks on the scheduler of the same allocation, found through the file it writes."""
    from distributed import Client

    deadline = time.monotonic() + 600
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(1)  # the scheduler of the same allocation writes it when it is up
    with Client(scheduler_file=path, security=sec) as client:
        client.wait_for_workers(1, timeout=600)
        yield DaskRunner(client)


@contextlib.contextmanager
def _slurm_runner(spec: ClusterSpec) -> Iterator[Runner]:
    """Workers as Slurm jobs: a CPU group, scaled or adaptive, and an optional GPU group."""
    from distributed import Client

    opts = spec.slurm
    with slurm_cluster(spec) as cluster:
        if opts.adapt_max:
            cluster.adapt(minimum=opts.adapt_min or 0, maximum=opts.adapt_max)
        else:
            cluster.scale(jobs=opts.jobs)
        if opts.gpu_jobs:  # a second worker group on the same scheduler
            gpu_options = slurm_gpu_job_options(cluster, spec)
            for i in range(opts.gpu_jobs):
                cluster.worker_spec[f"gpu-{i}"] = {"cls": cluster.job_cls, "options": gpu_options}
            cluster.sync(cluster._correct_state)  # submit the added specs now
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=600)
            yield DaskRunner(client)


@contextlib.contextmanager
def _kubernetes_runner(spec: ClusterSpec) -> Iterator[Runner]:
    """A DaskCluster of the operator, with a GPU worker group when asked for."""
    from distributed import Client

    operator = _optional("dask_kubernetes.operator", "kubernetes")
    k = spec.kubernetes
    with operator.KubeCluster(
        custom_cluster_spec=kubernetes_cluster_spec(spec), namespace=k.namespace
    ) as cluster:
        if k.gpu_workers:
            cluster.add_worker_group(
                name="gpu",
                n_workers=k.gpu_workers,
                resources={"limits": {"nvidia.com/gpu": str(k.gpus_per_worker)}},
                worker_command="dask-cuda-worker",
            )
        with Client(cluster) as client:
            yield DaskRunner(client)


def _started(start: Callable[[], Any], attempts: int = 3) -> Any:
    """``start()``, again when it fails: a worker killed while the local cluster starts
    ("Nanny failed to start") must not end a run that has not begun."""
    for _ in range(attempts - 1):
        try:
            return start()
        except (RuntimeError, OSError, TimeoutError) as exc:
            log.warning("local cluster failed to start (%s); starting it again", exc)
    return start()


@contextlib.contextmanager
def _local_runner(spec: ClusterSpec, sec: Any) -> Iterator[Runner]:
    """An embedded LocalCluster, or a LocalCUDACluster with one worker per GPU."""
    import dask
    from distributed import Client, LocalCluster

    if spec.gpus:
        dask_cuda = _optional("dask_cuda", "gpu")
        cluster_cm = dask_cuda.LocalCUDACluster(
            n_workers=spec.gpus,
            threads_per_worker=spec.threads_per_worker,
            resources={GPU_RESOURCE: 1},
        )
    else:
        workers = spec.workers or max(1, (os.cpu_count() or 1) // spec.threads_per_worker)
        cluster_cm = _started(
            lambda: LocalCluster(
                n_workers=workers,
                threads_per_worker=spec.threads_per_worker,
                processes=True,
                memory_limit=spec.memory_limit or "auto",
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                **({"security": sec, "protocol": "tls://"} if sec else {}),
            )
        )
    with (
        dask.config.set({"logging.distributed": "error"}),
        cluster_cm as cluster,
        Client(cluster, security=sec) as client,
    ):
        yield DaskRunner(client)
