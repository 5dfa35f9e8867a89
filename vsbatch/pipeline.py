"""``vsbatch run``: plan partitions, map the stages over them with Dask, commit the catalog.

Three passes over the input, each a set of independent tasks:

1. *summarize* each input unit (validates every value it reads, counts epochs per source);
   the driver builds the partition tree from the counts;
2. *shuffle* each unit into per-partition pieces in the staging folder;
3. *process* each partition (clean → stages) into a staged Parquet file.

The driver journals every finished partition, so ``--resume`` after a crash redoes only what
is missing, and commits by moving files into place and writing the manifest last.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vsbatch._version import __version__
from vsbatch.cluster import GPU_RESOURCE, ClusterSpec, Runner, open_runner
from vsbatch.config import RunConfig
from vsbatch.errors import InputError, StorageError, UsageError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import (
    Catalog,
    Manifest,
    PartitionRecord,
    check_output_state,
    commit,
    open_catalog,
    partition_file,
    read_manifest,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
)
from vsbatch.io.hats import HATS, HIVE, PixelTree, spatial_layout, with_partition_column
from vsbatch.io.inputs import InputSpec, ReadUnit, open_input, read_unit, read_units, summarize_unit
from vsbatch.io.staging import fingerprint, read_pieces, write_pieces
from vsbatch.partitioning import PartitionTree, source_keys
from vsbatch.schema import FAILURES_FILE, STAGING_DIR, position_columns
from vsbatch.stages import apply_models, catalog_schema, process_partition
from vsbatch.stages.models import ModelRef, resolve_models

log = logging.getLogger("vsbatch")

PLAN_FILE = "plan.json"
SHUFFLE_DONE = "shuffle.done"
JOURNAL_DIR = "journal"
OUT_DIR = "out"
FAILED_DIR = "failures"
FEATURES_DIR = "features"  # partitions waiting for their model task


@dataclass(frozen=True)
class RunSummary:
    """What ``vsbatch run`` reports at the end."""

    catalog: Path
    run_id: str
    sources: int
    light_curves: int
    failures: int
    partitions: int
    partitions_computed: int
    wall_seconds: float

    @property
    def sources_per_second(self) -> float:
        return self.sources / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    def text(self) -> str:
        return (
            f"vsbatch run {self.run_id}: {self.sources} sources, {self.light_curves} light curves "
            f"in the catalog, {self.failures} failure records, {self.partitions} partitions "
            f"({self.partitions_computed} computed), {self.wall_seconds:.1f} s wall, "
            f"{self.sources_per_second:.1f} sources/s -> {self.catalog}"
        )


@dataclass(frozen=True)
class _Plan:
    run_id: str
    input_files: list[list]  # [path, size]
    config: dict
    tree: list[str]
    carried: list[str]
    carried_types: list[str]
    source_id_type: str
    n_sources: int
    partition_epochs: dict[str, int]
    read_failures: list[list[str]]  # [file, reason]
    carried_input_names: list[str]  # the carried columns as named in the input
    models: list[dict]  # ModelRef fields of every model the run applies
    run_hash: str  # config + vsbatch version + model weights: what --update compares
    layout: str = HIVE  # HATS when sources carry positions: HEALPix-pixel partitions

    @property
    def partition_tree(self) -> PartitionTree | PixelTree:
        return _tree_type(self.layout).from_json(self.tree)

    @property
    def model_refs(self) -> list[ModelRef]:
        return [ModelRef(**{**m, "class_names": tuple(m.get("class_names", ()))})
                for m in self.models]  # fmt: skip


def _tree_type(layout: str) -> type[PartitionTree] | type[PixelTree]:
    return PixelTree if layout == HATS else PartitionTree


class _Progress:
    """A bar with ETA on a terminal, plain log lines otherwise."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_log = 0.0

    def step(self) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        if self.tty:
            filled = int(30 * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (30 - filled)
            end = "\n" if self.done == self.total else ""
            sys.stderr.write(
                f"\r{self.what} [{bar}] {self.done}/{self.total} "
                f"{elapsed:6.1f} s, ETA {eta:6.1f} s{end}"
            )
            sys.stderr.flush()
        elif self.done == self.total or elapsed - self.last_log >= 5:
            self.last_log = elapsed
            log.info(
                "%s: %d/%d done, %.1f s, ETA %.1f s",
                self.what,
                self.done,
                self.total,
                elapsed,
                eta,
            )


def _input_identity(spec: InputSpec) -> list[list]:
    return [[p, spec.filesystem.get_file_info(p).size] for p in spec.files]


# --- tasks (module level, so worker processes can unpickle them) -----------------------------


def _summarize_task(unit: ReadUnit, spec: InputSpec):  # noqa: ANN202 - UnitSummary
    return summarize_unit(spec, unit)


def _shuffle_task(item: tuple[int, ReadUnit], spec: InputSpec, plan: _Plan, staging: str) -> int:
    index, unit = item
    table = read_unit(spec, unit, tuple(plan.carried_input_names))
    table = table.rename_columns([spec.output_name(c) for c in table.column_names])
    if "band" not in table.column_names:
        table = table.append_column("band", pa.nulls(table.num_rows, pa.string()))
    written = write_pieces(table, plan.partition_tree, Path(staging), index)
    return sum(written.values())


def _schema(plan: _Plan, with_models: bool) -> pa.Schema:
    carried_types = dict(zip(plan.carried, map(_arrow_type, plan.carried_types), strict=True))
    config = RunConfig.from_dict(plan.config)
    models = plan.model_refs if with_models else []
    return catalog_schema(config, _arrow_type(plan.source_id_type), carried_types, models)


def _write_output(
    staging: Path, name: str, catalog: pa.Table, failures: pa.Table, layout: str
) -> tuple[str | None, str | None]:
    """Stage a partition's final rows and failures; (relative file, sha256) of the rows."""
    rel = partition_file(name, staging.name, layout) if catalog.num_rows else None
    digest = None
    if rel is not None:
        path = staging / OUT_DIR / rel
        if layout == HATS:
            catalog = with_partition_column(catalog, name)
        write_parquet_atomic(catalog, path)
        digest = sha256_file(path)
    write_parquet_atomic(failures, staging / FAILED_DIR / f"{name}.parquet")
    return rel, digest


def _partition_task(
    name: str, plan: _Plan, staging: str, previous: dict[str, PartitionRecord]
) -> tuple[PartitionRecord, bool]:
    """Run the stages on one partition; returns its record and whether it was computed.

    With models, the feature rows wait in the staging folder for ``_model_task``.
    """
    staging_path = Path(staging)
    table = read_pieces(staging_path, name)
    config = RunConfig.from_dict(plan.config)
    fp = fingerprint(table)
    old = previous.get(name)
    if old is not None and old.fingerprint == fp:
        return old, False
    out = process_partition(table, name, config, _schema(plan, False), tuple(plan.carried))
    if plan.models:
        write_parquet_atomic(out.catalog, staging_path / FEATURES_DIR / f"{name}.parquet")
        write_parquet_atomic(out.failures, staging_path / FAILED_DIR / f"{name}.parquet")
        rel, digest = None, None
    else:
        rel, digest = _write_output(staging_path, name, out.catalog, out.failures, plan.layout)
    record = PartitionRecord(
        name=name,
        file=rel,
        rows=out.catalog.num_rows,
        sources=len(pc.unique(table.column("source_id"))),
        failures=out.failures.num_rows,
        input_epochs=table.num_rows,
        fingerprint=fp,
        sha256=digest,
    )
    return record, True


def _model_task(record: PartitionRecord, plan: _Plan, staging: str) -> PartitionRecord:
    """Apply the run's models to a partition's staged feature rows (GPU workers if any)."""
    staging_path = Path(staging)
    config = RunConfig.from_dict(plan.config)
    features = pq.read_table(staging_path / FEATURES_DIR / f"{record.name}.parquet")
    table = read_pieces(staging_path, record.name)
    out = apply_models(
        table,
        features,
        record.name,
        config,
        _schema(plan, True),
        plan.model_refs,
        tuple(plan.carried),
    )
    earlier = pq.read_table(staging_path / FAILED_DIR / f"{record.name}.parquet")
    failures = pa.concat_tables([earlier, out.failures.cast(earlier.schema)])
    rel, digest = _write_output(staging_path, record.name, out.catalog, failures, plan.layout)
    return replace(record, file=rel, sha256=digest, failures=failures.num_rows)


def _arrow_type(name: str) -> pa.DataType:
    return {"string": pa.string(), "int64": pa.int64()}.get(name) or pa.type_for_alias(name)


# --- driver ----------------------------------------------------------------------------------


def run(
    source: str,
    output: str | Path,
    config: RunConfig | None = None,
    cluster: ClusterSpec | None = None,
    resume: bool = False,
    overwrite: bool = False,
    update: bool = False,
    keep_going: bool = False,
) -> RunSummary:
    """Run the stages over every light curve of ``source`` and commit a catalog at ``output``.

    Raises InputError (bad input, exit code 2) or UsageError (exit code 2) before any work
    is done when the input or the output folder cannot be used.
    """
    started = time.monotonic()
    config = config or RunConfig()
    root = Path(output)
    check_output_state(root, resume, overwrite, update)
    spec, skipped = open_input(source, config.column_map, keep_going)
    per_source = [spec.output_name(c) for c in spec.extra_columns]
    if config.type_column is not None and config.type_column not in per_source:
        raise UsageError(
            f"{source}: --type-column {config.type_column!r} is not a column of the input "
            f"(per-source columns: {', '.join(per_source) or 'none'})"
        )
    models = resolve_models(config.models)
    run_hash = config.content_hash(tuple(m.sha256 for m in models))
    previous = read_manifest(root)
    staging_root = root / STAGING_DIR
    plan = _load_plan(staging_root) if resume else None
    if plan is not None:
        _check_resumable(plan, spec, config, run_hash)
    elif resume and previous is not None and staging_root.exists() is False:
        if previous.config_hash != run_hash:
            raise UsageError(f"{root}: committed with another configuration; use --overwrite")
        log.info("%s: nothing to resume, the catalog is complete", root)
        return _summary_of(open_catalog(root), started, computed=0)
    if plan is None and staging_root.exists():
        shutil.rmtree(staging_root)
    reuse = {}
    if update and previous is not None and previous.config_hash == run_hash:
        reuse = {p.name: p for p in previous.partitions}

    with _storage_errors(root):
        with open_runner(cluster or ClusterSpec()) as runner:
            if runner.dashboard_link:
                log.info("dashboard: %s", runner.dashboard_link)
            if plan is None:
                plan = _plan(
                    runner, spec, skipped, config, previous if update else None, keep_going
                )
                if config.type_column is not None and config.type_column not in plan.carried:
                    raise UsageError(
                        f"{source}: --type-column {config.type_column!r} varies within a "
                        "source, so it is not carried as a per-source column"
                    )
                plan = replace(plan, models=[asdict(m) for m in models], run_hash=run_hash)
                staging = staging_root / plan.run_id
                write_json_atomic(_plan_json(plan), staging / PLAN_FILE)
            staging = staging_root / plan.run_id
            spec = replace(spec, extra_columns=tuple(plan.carried_input_names))
            if not (staging / SHUFFLE_DONE).exists():
                _shuffle(runner, spec, plan, staging)
            records, computed = _process(runner, plan, staging, reuse, keep_going)

        failures = _collect_failures(plan, staging, records, root, previous, reuse)
        stats = {
            "input_sources": plan.n_sources,
            "wall_seconds_last_run": round(time.monotonic() - started, 3),
            "partitions_computed_last_run": computed,
        }
        _commit_plan(root, source, plan, staging, records, failures, stats)
    return _summary_of(open_catalog(root), started, computed)


def _commit_plan(
    root: Path, source: str, plan: _Plan, staging: Path, records: dict[str, PartitionRecord],
    failures: pa.Table, stats: dict,
) -> None:  # fmt: skip
    """The last step of a run: the manifest of the plan's partitions, then the commit."""
    manifest = Manifest(
        run_id=plan.run_id,
        vsbatch_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        input=str(source),
        config=plan.config,
        config_hash=plan.run_hash,
        partition_tree=plan.tree,
        partitions=sorted(records.values(), key=lambda r: r.name),
        failures_file=FAILURES_FILE,
        failures_rows=failures.num_rows,
        carried_columns=plan.carried,
        source_id_type=plan.source_id_type,
        stats=stats,
        models=plan.models,
        layout=plan.layout,
    )
    commit(root, staging / OUT_DIR, manifest, failures)


def _summary_of(catalog: Catalog, started: float, computed: int) -> RunSummary:
    m = catalog.manifest
    return RunSummary(
        catalog=catalog.root,
        run_id=m.run_id,
        sources=m.stats.get("input_sources", 0),
        light_curves=sum(p.rows for p in m.partitions),
        failures=m.failures_rows,
        partitions=len([p for p in m.partitions if p.input_epochs]),
        partitions_computed=computed,
        wall_seconds=time.monotonic() - started,
    )


def _plan(
    runner: Runner,
    spec: InputSpec,
    skipped: list[tuple[str, str]],
    config: RunConfig,
    previous: Manifest | None,
    keep_going: bool,
) -> _Plan:
    """Pass 1: validate and count every unit, then fix partitions and carried columns."""
    units = read_units(spec)
    progress = _Progress("read", len(units))
    summaries, read_failures = [], [list(s) for s in skipped]
    for unit, result, error in runner.map_unordered(_summarize_task, units, spec):
        progress.step()
        if error is None:
            summaries.append(result)
        elif not isinstance(error, InputError):
            raise RuntimeError(f"{unit.label}: {type(error).__name__}: {error}") from error
        elif keep_going:
            log.warning("skipped (--keep-going): %s", error)
            read_failures.append([unit.path, str(error)])
        else:
            raise error
    counts = [s.counts for s in summaries if s.counts.num_rows]
    if not counts:
        raise InputError(f"{spec.source}: the input holds no light-curve rows")
    varying = set().union(*(s.varying_columns for s in summaries))
    if varying:
        log.warning("columns not constant per source, ignored: %s", ", ".join(sorted(varying)))
    if spec.ignored_fields:
        log.warning("input fields ignored: %s", ", ".join(spec.ignored_fields))
    carried_in = [c for c in spec.extra_columns if c not in varying]
    layout = spatial_layout([spec.output_name(c) for c in carried_in])
    index = position_columns().spatial_index
    sums = [("n", "sum")] + ([(index, "min")] if layout == HATS else [])
    table = pa.concat_tables(counts).group_by("source_id").aggregate(sums)
    table = table.sort_by("source_id")
    costs, bound = table.column("n_sum").to_numpy(), config.partition_epochs
    if layout == HATS:
        keys = table.column(f"{index}_min").to_numpy()
    else:
        keys = source_keys(table.column("source_id"))
    if previous is not None and previous.layout == layout:
        tree = _tree_type(layout).from_json(previous.partition_tree).refine(keys, costs, bound)
    elif layout == HATS:  # a HATS input's pixels (none for other inputs), split where too costly
        tree = PixelTree(spec.pixels).refine(keys, costs, bound)
    else:
        tree = PartitionTree.build(keys, costs, bound)
    names, leaf = tree.names, tree.assign(keys)
    totals = np.bincount(leaf, weights=costs, minlength=len(names))
    epochs = {names[i]: int(totals[i]) for i in np.flatnonzero(np.bincount(leaf))}
    schema = summaries[0].schema
    return _Plan(
        run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8],
        input_files=_input_identity(spec),
        config=config.to_dict(),
        tree=tree.to_json(),
        carried=[spec.output_name(c) for c in carried_in],
        carried_types=[str(schema.field(c).type) for c in carried_in],
        source_id_type=str(schema.field("source_id").type),
        n_sources=table.num_rows,
        partition_epochs=epochs,
        read_failures=read_failures,
        carried_input_names=carried_in,
        models=[],
        run_hash="",
        layout=layout,
    )


def _shuffle(runner: Runner, spec: InputSpec, plan: _Plan, staging: Path) -> None:
    """Pass 2: split every unit into per-partition pieces."""
    bad = {f for f, _ in plan.read_failures}
    units = [(i, u) for i, u in enumerate(read_units(spec)) if u.path not in bad]
    progress = _Progress("shuffle", len(units))
    for item, _, error in runner.map_unordered(_shuffle_task, units, spec, plan, str(staging)):
        progress.step()
        if error is not None:
            full = storage_error(error, staging.parent.parent)
            if full is not None:
                raise full from error
            raise RuntimeError(f"{item[1].label}: {type(error).__name__}: {error}") from error
    (staging / SHUFFLE_DONE).touch()


def _process(
    runner: Runner,
    plan: _Plan,
    staging: Path,
    reuse: dict[str, PartitionRecord],
    keep_going: bool,
) -> tuple[dict[str, PartitionRecord], int]:
    """Pass 3: run the stages on every partition not yet journaled."""
    records: dict[str, PartitionRecord] = {}
    journal = staging / JOURNAL_DIR
    if journal.exists():
        for path in journal.glob("*.json"):
            record = PartitionRecord(**json.loads(path.read_text()))
            if (
                record.file is None
                or (staging / OUT_DIR / record.file).exists()
                or (reuse.get(record.name) == record)
            ):
                records[record.name] = record
    todo = [name for name in plan.tree if plan.partition_epochs.get(name) and name not in records]
    progress = _Progress("partitions", len(todo))
    computed = 0
    waiting_for_models = []
    args = (plan, str(staging), reuse)
    for name, result, error in runner.map_unordered(_partition_task, todo, *args):
        progress.step()
        if error is not None:
            record = _failed(name, error, staging, keep_going)
        else:
            record, was_computed = result
            computed += was_computed
            if plan.models and was_computed:
                waiting_for_models.append(record)
                continue
        write_json_atomic(record.__dict__, journal / f"{name}.json")
        records[name] = record
    if waiting_for_models:
        # inference tasks ask for a GPU where the cluster has GPU workers, so only they run them
        resources = {GPU_RESOURCE: 1} if runner.has_gpu_workers else None
        progress = _Progress("models", len(waiting_for_models))
        tasks = runner.map_unordered(
            _model_task, waiting_for_models, plan, str(staging), resources=resources
        )
        for item, result, error in tasks:
            progress.step()
            record = result if error is None else _failed(item.name, error, staging, keep_going)
            write_json_atomic(record.__dict__, journal / f"{record.name}.json")
            records[record.name] = record
    return records, computed


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def storage_error(error: BaseException, root: Path) -> StorageError | None:
    """A StorageError naming the catalog when ``error`` is a failed write, else None."""
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return StorageError(
            f"{root}: cannot write the catalog: {error.strerror}{where}; nothing was committed "
            "and the previous catalog, if any, is unchanged"
        )
    return None


@contextmanager
def _storage_errors(root: Path) -> Iterator[None]:
    """Inside the block, a failed write (see :func:`storage_error`) raises a StorageError."""
    try:
        yield
    except OSError as exc:
        full = storage_error(exc, root)
        if full is None:
            raise
        raise full from exc


def _failed(name: str, error: BaseException, staging: Path, keep_going: bool) -> PartitionRecord:
    full = storage_error(error, staging.parent.parent)
    if full is not None:
        raise full from error
    message = f"partition {name}: {type(error).__name__}: {error}"
    if not keep_going:
        raise RuntimeError(message) from error
    return _fail_partition(name, staging, message)


def _fail_partition(name: str, staging: Path, message: str) -> PartitionRecord:
    """Record every light curve of a partition whose task crashed (``--keep-going``)."""
    table = read_pieces(staging, name)
    failures = FailureLog(name)
    keys = table.select(["source_id", "band"]).group_by(["source_id", "band"]).aggregate([])
    for sid, band in zip(
        keys.column("source_id").to_pylist(), keys.column("band").to_pylist(), strict=True
    ):
        failures.add(sid, band, "partition", message)
    write_parquet_atomic(failures.to_table(), staging / FAILED_DIR / f"{name}.parquet")
    return PartitionRecord(
        name,
        None,
        0,
        len(pc.unique(table.column("source_id"))),
        len(failures),
        table.num_rows,
        fingerprint(table),
        None,
    )


def _collect_failures(
    plan: _Plan,
    staging: Path,
    records: dict[str, PartitionRecord],
    root: Path,
    previous: Manifest | None,
    reuse: dict[str, PartitionRecord],
) -> pa.Table:
    """The run's failures table: unreadable files, then every partition's rows, sorted."""
    log_ = FailureLog()
    for file, reason in plan.read_failures:
        log_.add_file(file, "read", reason)
    tables = [log_.to_table()]
    reused = {n for n, r in records.items() if reuse.get(n) == r}
    if reused and previous is not None and (root / previous.failures_file).exists():
        old = pq.read_table(root / previous.failures_file)
        mask = pc.is_in(old.column("partition"), pa.array(sorted(reused)))
        tables.append(old.filter(mask))
    for name in sorted(set(records) - reused):
        path = staging / FAILED_DIR / f"{name}.parquet"
        if path.exists():
            tables.append(pq.read_table(path))
    table = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
    return table.sort_by(
        [
            ("partition", "ascending"),
            ("source_id", "ascending"),
            ("band", "ascending"),
            ("stage", "ascending"),
        ]
    )


def _plan_json(plan: _Plan) -> dict:
    return dict(plan.__dict__)


def _load_plan(staging_root: Path) -> _Plan | None:
    plans = sorted(staging_root.glob(f"*/{PLAN_FILE}")) if staging_root.exists() else []
    if not plans:
        return None
    return _Plan(**json.loads(plans[-1].read_text()))


def _check_resumable(plan: _Plan, spec: InputSpec, config: RunConfig, run_hash: str) -> None:
    if RunConfig.from_dict(plan.config) != config or plan.run_hash != run_hash:
        raise UsageError("--resume: the interrupted run used another configuration")
    if plan.input_files != _input_identity(spec):
        raise UsageError("--resume: the input files changed since the interrupted run")


# --- training shards -------------------------------------------------------------------------

SHARDS_FILE = "_shards.json"


@dataclass(frozen=True)
class ShardSet:
    """Training shards written by :func:`build_shards`: one Parquet file per partition."""

    root: Path
    files: tuple[Path, ...]
    rows: int
    sources: int


def _shard_task(
    name: str, plan: _Plan, staging: str, out_dir: str, make_shard: Callable
) -> tuple[str | None, int]:
    table = read_pieces(Path(staging), name)
    rows = make_shard(table, name)
    if rows.num_rows == 0:
        return None, 0
    file = f"shard-{name}.parquet"
    write_parquet_atomic(rows, Path(out_dir) / file)
    return file, rows.num_rows


def build_shards(
    source: str,
    out_dir: str | Path,
    make_shard: Callable[[pa.Table, str], pa.Table],
    config: RunConfig | None = None,
    cluster: ClusterSpec | None = None,
) -> ShardSet:
    """Training shards of a labelled catalog, built by the same passes as ``vsbatch run``.

    Why: training data must see exactly the epochs and partitions a run sees, and a big
    catalog must be cut in parallel. The input is validated, partitioned and shuffled as for a
    run; then ``make_shard(epochs, partition)`` (picklable: a module-level function or a
    ``functools.partial`` of one) turns each partition's long table (canonical columns plus
    the per-source columns carried from the input, e.g. the label) into shard rows, written as
    ``shard-<partition>.parquet`` with ``_shards.json`` listing them last.
    """
    config = config or RunConfig()
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root}: shard folder exists and is not empty")
    spec, skipped = open_input(source, config.column_map, keep_going=False)
    staging_root = root / STAGING_DIR
    with open_runner(cluster or ClusterSpec()) as runner:
        plan = _plan(runner, spec, skipped, config, None, keep_going=False)
        staging = staging_root / plan.run_id
        spec = replace(spec, extra_columns=tuple(plan.carried_input_names))
        _shuffle(runner, spec, plan, staging)
        todo = [name for name in plan.tree if plan.partition_epochs.get(name)]
        progress = _Progress("shards", len(todo))
        files, rows = [], 0
        tasks = runner.map_unordered(_shard_task, todo, plan, str(staging), str(root), make_shard)
        for name, result, error in tasks:
            progress.step()
            if error is not None:
                raise RuntimeError(f"partition {name}: {type(error).__name__}: {error}") from error
            if result[0] is not None:
                files.append(result[0])
                rows += result[1]
    shutil.rmtree(staging_root)
    files.sort()
    write_json_atomic(
        {
            "input": str(source),
            "run_id": plan.run_id,
            "sources": plan.n_sources,
            "rows": rows,
            "files": files,
            "vsbatch_version": __version__,
        },  # fmt: skip
        root / SHARDS_FILE,
    )
    return ShardSet(root, tuple(root / f for f in files), rows, plan.n_sources)


# --- catalogue-parameters input: one row per source, no epochs (issue 5) ----------------------


def _catalog_partition_task(
    name: str, models: list[ModelRef], schema: pa.Schema, staging: str, batch_rows: int
) -> tuple[PartitionRecord, int]:
    """Classify one partition's catalogue rows and stage its catalog file and failure records
    (the counterpart of :func:`_partition_task`); returns its record and how many rows every
    model classified."""
    from vsbatch.models.artifacts import table_fingerprint
    from vsbatch.stages.classify import classify_parameter_rows

    rows = read_pieces(Path(staging), name).sort_by("source_id")
    catalog, failures, scored = classify_parameter_rows(rows, name, models, schema, batch_rows)
    rel, digest = _write_output(Path(staging), name, catalog, failures.to_table(), HIVE)
    sources = len(pc.unique(rows.column("source_id")))
    record = PartitionRecord(
        name, rel, rows.num_rows, sources, len(failures), 0, table_fingerprint(rows), digest
    )
    return record, scored


def _catalogue_plan(
    source: str, table: pa.Table, config: RunConfig, models: list[ModelRef]
) -> _Plan:
    """A run plan for a catalogue-parameters table: partitions of the source-id hash tree
    holding at most ``config.partition_epochs`` rows (a row costs one, having no epochs),
    every column but ``source_id`` and ``band`` carried."""
    ids = pc.value_counts(table.column("source_id"))
    counts = ids.field("counts").to_numpy().astype(np.int64)
    keys = source_keys(ids.field("values"))
    tree = PartitionTree.build(keys, counts, config.partition_epochs)
    rows = np.bincount(tree.assign(keys), weights=counts, minlength=len(tree.names))
    path = Path(source)
    carried = [c for c in table.column_names if c not in ("source_id", "band")]
    return _Plan(
        run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8],
        input_files=[
            [str(f), f.stat().st_size]
            for f in (sorted(path.rglob("*.parquet")) if path.is_dir() else [path])
        ],
        config=config.to_dict(),
        tree=tree.to_json(),
        carried=carried,
        carried_types=[str(table.schema.field(c).type) for c in carried],
        source_id_type=str(table.schema.field("source_id").type),
        n_sources=len(ids),
        partition_epochs={tree.names[i]: int(rows[i]) for i in np.flatnonzero(rows)},
        read_failures=[],
        carried_input_names=carried,
        models=[asdict(r) for r in models],
        run_hash=config.content_hash(tuple(r.sha256 for r in models)),
        layout=HIVE,
    )


@dataclass(frozen=True)
class CatalogClassification:
    """What :func:`classify_catalog` committed."""

    catalog: Path
    run_id: str
    rows: int
    classified: int
    failures: int
    partitions: int
    seconds: float
    models: tuple[str, ...]

    def text(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"vsbatch run {self.run_id} (catalogue parameters): {self.rows} rows, "
            f"{self.classified} classified by {', '.join(self.models)}, {self.failures} failure "
            f"records, {self.partitions} partitions, {self.seconds:.1f} s wall, {rate:,.0f} "
            f"rows/s -> {self.catalog}"
        )


def classify_catalog(
    source: str,
    output: str | Path,
    models: tuple[str, ...],
    *,
    overwrite: bool = False,
    cluster: ClusterSpec | None = None,
    partition_rows: int = RunConfig.partition_epochs,
) -> CatalogClassification:
    """Classify a catalogue-parameters table (no epochs) with ``catalog-cnn-lstm`` models and
    commit the result as a vsbatch catalog.

    Why its own driver: such an input has nothing to clean or fit, each row is one source.
    The rest is a light-curve run's machinery: rows are split into partitions of the source-id
    hash tree (at most ``partition_rows`` rows each) through the staging folder, each partition
    is classified as a task on ``cluster`` (in this process by default), and the partition
    files, the failures table (a row per model for every row whose period or amplitude is
    missing, infinite or out of range; such rows stay in the catalog with null classes) and
    the manifest are committed last, so readers see the previous catalog or the whole new one.
    Columns: the input's, then ``<name>_class``, ``<name>_p_<class>``, ``<name>_version``.
    """
    from vsbatch.io.catalogue_tables import read_catalog_parameters
    from vsbatch.stages.classify import CATALOG_KIND, catalog_parameters_schema

    started = time.monotonic()
    root = Path(output)
    check_output_state(root, resume=False, overwrite=overwrite, update=False)
    refs = resolve_models(tuple(models))
    wrong = [r.name for r in refs if r.kind != CATALOG_KIND]
    if wrong:
        raise UsageError(
            f"a catalogue-parameters input has no light curves; model(s) "
            f"{', '.join(wrong)} need them (use {CATALOG_KIND})"
        )
    table = read_catalog_parameters(source)
    if table.num_rows == 0:
        raise InputError(f"{source}: the catalogue-parameters table has no rows")
    if table.column("source_id").null_count:
        n_null = table.column("source_id").null_count
        raise InputError(f"{source}: {n_null} rows have a null source_id")
    config = RunConfig(stages=(), models=tuple(models), partition_epochs=partition_rows)
    plan = _catalogue_plan(source, table, config, refs)
    schema = catalog_parameters_schema(table.schema, refs)
    staging = root / STAGING_DIR / plan.run_id
    with _storage_errors(root):
        shutil.rmtree(root / STAGING_DIR, ignore_errors=True)  # no resume: start afresh
        write_json_atomic(_plan_json(plan), staging / PLAN_FILE)
        write_pieces(table, plan.partition_tree, staging, 0)
        todo = sorted(plan.partition_epochs)
        progress = _Progress("classify", len(todo))
        records, classified = {}, 0
        args = (refs, schema, str(staging), config.model_batch_size)
        with open_runner(cluster or ClusterSpec(cluster="none")) as runner:
            for name, result, error in runner.map_unordered(_catalog_partition_task, todo, *args):
                progress.step()
                if error is not None:
                    _failed(name, error, staging, keep_going=False)  # raises
                records[name], n_ok = result
                classified += n_ok
        failures = _collect_failures(plan, staging, records, root, None, {})
        seconds = time.monotonic() - started
        stats = {
            "input_kind": "catalogue parameters (one row per source, no epochs)",
            "input_sources": plan.n_sources,
            "input_rows": table.num_rows,
            "classified_rows": classified,
            "wall_seconds_last_run": round(seconds, 3),
            "rows_per_second": round(table.num_rows / seconds, 1),
            "partitions_computed_last_run": len(records),
        }
        _commit_plan(root, source, plan, staging, records, failures, stats)
    return CatalogClassification(
        root,
        plan.run_id,
        table.num_rows,
        classified,
        failures.num_rows,
        len(records),
        time.monotonic() - started,
        tuple(r.name for r in refs),
    )
