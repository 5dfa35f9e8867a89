"""Job files (``vsbatch run --job jobs/x.yaml``): a whole run described in YAML, validated.

Keys (all optional but ``input`` and ``output``)::

    roots: [/data/survey/, s3://bucket/survey/]   # default: the current directory
    input: lightcurves/            # file, folder, glob or URL
    output: catalog/
    mode: new | resume | overwrite | update
    keep_going: false
    config: {fmax: 25, stages: [stats, period, ...], ...}     # any RunConfig field
    cluster:
      kind: local | none | slurm | kubernetes | tcp://host:port | scheduler-file:PATH
      workers: 2
      threads_per_worker: 1
      memory_limit: 4GiB
      gpus: 0
      slurm: {queue: ..., account: ..., cores: 4, memory: 16GiB, walltime: "04:00:00",
              jobs: 8, adapt_min: ..., adapt_max: ..., lifetime: 55m, lifetime_stagger: 4m,
              gpu_jobs: 1, gpus_per_job: 1, job_extra: [...]}
      kubernetes: {name: vsbatch, namespace: ..., image: ..., workers: 4, cpu: "1",
                   memory: 4Gi, gpu_workers: 1, gpus_per_worker: 1}

Unknown keys and wrong types are errors naming the file and the key.

Declared roots: every path a job file names (input, output, model folders, TLS files, a
scheduler file) must lie inside one of its ``roots`` after resolving ``..`` and symbolic links;
a URL must start with a root URL. Why: a job file may come from a scheduler or a shared
repository, and must not make vsbatch read or write anywhere else (``output:
../../home/x`` or a symlink out of the data folder are refused before any work).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import types
import typing
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vsbatch.cluster import ClusterSpec, KubernetesOptions, SlurmOptions
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError

MODES = ("new", "resume", "overwrite", "update")


@dataclass(frozen=True)
class Job:
    """A validated job: what to read, where to write, what to compute, where to run."""

    input: str
    output: str
    config: RunConfig
    cluster: ClusterSpec
    mode: str = "new"
    keep_going: bool = False
    roots: tuple[str, ...] = ()


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, where)
            except UsageError as exc:
                errors.append(str(exc))
        raise UsageError(errors[-1])
    if hint is type(None):
        if value is None:
            return None
        raise UsageError(f"{where}: expected null, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise UsageError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(_check_type(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is int and isinstance(value, bool))
    ):
        raise UsageError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    nested = {"slurm": SlurmOptions, "kubernetes": KubernetesOptions}
    values = {}
    for key, value in data.items():
        if cls is ClusterSpec and key in nested:
            values[key] = _build(nested[key], value, f"{where}.{key}")
        else:
            values[key] = _check_type(value, hints[key], f"{where}.{key}")
    try:
        return cls(**values)
    except UsageError as exc:  # the dataclass's own validation: say which file and section
        raise UsageError(f"{where}: {exc}") from exc


def load_job(path: str | Path) -> Job:
    """Read and validate a job file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read job file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a job file is a mapping of keys to values")
    known = {"input", "output", "mode", "keep_going", "config", "cluster", "roots"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for key in ("input", "output"):
        if not isinstance(data.get(key), str):
            raise UsageError(f"{path}: {key!r} must be given as a path or URL")
    mode = data.get("mode", "new")
    if mode not in MODES:
        raise UsageError(f"{path}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    cluster = dict(data.get("cluster") or {})
    if "kind" in cluster:
        cluster["cluster"] = cluster.pop("kind")
    roots = _check_type(data.get("roots", [os.getcwd()]), tuple[str, ...], f"{path}: roots")
    job = Job(
        input=data["input"],
        output=data["output"],
        config=_build(RunConfig, data.get("config") or {}, f"{path}: config"),
        cluster=_build(ClusterSpec, cluster, f"{path}: cluster"),
        mode=mode,
        keep_going=_check_type(data.get("keep_going", False), bool, f"{path}: keep_going"),
        roots=roots,
    )
    for key, named in _named_paths(job):
        check_inside_roots(named, roots, f"{path}: {key}", key)
    return job


def _is_url(text: str) -> bool:
    return "://" in text


def _named_paths(job: Job) -> list[tuple[str, str]]:
    """(key, path) of every local path or URL the job file makes vsbatch read or write."""
    named = [("input", job.input), ("output", job.output)]
    named += [(f"config.models[{i}]", m) for i, m in enumerate(job.config.models)
              if _is_url(m) or os.sep in m or m.startswith(".")]  # fmt: skip
    spec = job.cluster
    named += [(f"cluster.{k}", v) for k in ("tls_ca_file", "tls_cert", "tls_key")
              if (v := getattr(spec, k))]  # fmt: skip
    if spec.cluster.startswith("scheduler-file:"):
        named.append(("cluster.kind", spec.cluster.split(":", 1)[1]))
    return named


def _local_path(text: str) -> str | None:
    """The local path of a plain path or ``file://`` URL (percent-decoded); None for a URL."""
    if text.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlsplit(text).path) or "/"
    return None if _is_url(text) else text


def _paths_to_check(path: str, key: str) -> list[str]:
    """Every local path ``path`` can reach: itself and its fixed part (read literally), each
    glob match, and for the input every file under a matched folder (symlinks included)."""
    literal = path.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    reached = [path, literal or "."]
    if any(ch in path for ch in "*?["):
        reached += glob.glob(path, recursive=True)
    if key == "input":
        for match in [m for m in reached if os.path.isdir(m)]:
            for folder, dirs, names in os.walk(match):
                reached += [os.path.join(folder, n) for n in dirs + names]
    return reached


def _check_url(path: str, roots: tuple[str, ...], where: str) -> None:
    url_roots = [r.rstrip("/") + "/" for r in roots if _is_url(r) and _local_path(r) is None]
    traverses = ".." in urllib.parse.urlsplit(path).path.split("/")
    if traverses or not any(path.startswith(r) for r in url_roots):
        raise UsageError(f"{where}: {path} is outside the declared roots {list(roots)}")


def check_inside_roots(path: str, roots: tuple[str, ...], where: str, key: str = "") -> None:
    """UsageError unless every path ``path`` reaches (glob patterns allowed, ``file://`` URLs
    read as local paths) resolves inside one of ``roots``.

    Why every match and not the text before the first ``*``: ``ROOT/*/../../x`` starts inside
    the root and ends outside it; only the resolved real paths tell where a run reads or writes.
    """
    if not roots:
        raise UsageError(f"{where}: no roots are declared, so no path is allowed")
    local = _local_path(path)
    if local is None:
        _check_url(path, roots, where)
        return
    tops = [os.path.realpath(r) for r in (_local_path(r) for r in roots) if r is not None]
    for reached in _paths_to_check(local, key):
        real = os.path.realpath(reached)
        if not any(os.path.commonpath([real, top]) == top for top in tops):
            raise UsageError(
                f"{where}: {path} reaches {real}, outside the declared roots {list(roots)} "
                "(declare the folder in the job file's 'roots')"
            )
