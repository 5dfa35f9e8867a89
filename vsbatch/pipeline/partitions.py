"""Passes 2 and 3 of a run: shuffle the input into partitions, then compute every partition.

The tasks are module-level functions, so worker processes can unpickle them; each writes its
result to the run's staging folder and returns only a small record to the driver.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vsbatch.cluster import GPU_RESOURCE, Runner
from vsbatch.config import RunConfig
from vsbatch.io.catalog import (
    PartitionRecord,
    partition_file,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
)
from vsbatch.io.hats import HATS, with_partition_column
from vsbatch.io.inputs import InputSpec, ReadUnit, read_unit, read_units
from vsbatch.io.staging import fingerprint, read_pieces, write_pieces
from vsbatch.pipeline.commit import failed_partition, storage_error
from vsbatch.pipeline.plan import (
    CRASHED,
    FAILED_DIR,
    FEATURES_DIR,
    JOURNAL_DIR,
    OUT_DIR,
    SHUFFLE_DONE,
    RunPlan,
)
from vsbatch.pipeline.progress import Progress
from vsbatch.stages import apply_models, catalog_schema, process_partition

# --- pass 2: shuffle -------------------------------------------------------------------------


def _shuffle_task(item: tuple[int, ReadUnit], spec: InputSpec, plan: RunPlan, staging: str) -> int:
    index, unit = item
    table = read_unit(spec, unit, tuple(plan.carried_input_names))
    table = table.rename_columns([spec.output_name(c) for c in table.column_names])
    if "band" not in table.column_names:
        table = table.append_column("band", pa.nulls(table.num_rows, pa.string()))
    written = write_pieces(table, plan.partition_tree, Path(staging), index)
    return sum(written.values())


def shuffle(runner: Runner, spec: InputSpec, plan: RunPlan, staging: Path) -> None:
    """Pass 2: split every unit into per-partition pieces."""
    bad = {f for f, _ in plan.read_failures}
    units = [(i, u) for i, u in enumerate(read_units(spec)) if u.path not in bad]
    progress = Progress("shuffle", len(units))
    for item, _, error in runner.map_unordered(_shuffle_task, units, spec, plan, str(staging)):
        progress.step()
        if error is not None:
            full = storage_error(error, staging.parent.parent)
            if full is not None:
                raise full from error
            raise RuntimeError(f"{item[1].label}: {type(error).__name__}: {error}") from error
    (staging / SHUFFLE_DONE).touch()


# --- pass 3: stages, then models -------------------------------------------------------------


def _arrow_type(name: str) -> pa.DataType:
    return {"string": pa.string(), "int64": pa.int64()}.get(name) or pa.type_for_alias(name)


def _schema(plan: RunPlan, with_models: bool) -> pa.Schema:
    carried_types = dict(zip(plan.carried, map(_arrow_type, plan.carried_types), strict=True))
    config = RunConfig.from_dict(plan.config)
    models = plan.model_refs if with_models else []
    return catalog_schema(config, _arrow_type(plan.source_id_type), carried_types, models)


def write_output(
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
    name: str, plan: RunPlan, staging: str, previous: dict[str, PartitionRecord]
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
        rel, digest = write_output(staging_path, name, out.catalog, out.failures, plan.layout)
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


def _model_task(record: PartitionRecord, plan: RunPlan, staging: str) -> PartitionRecord:
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
    rel, digest = write_output(staging_path, record.name, out.catalog, failures, plan.layout)
    return replace(record, file=rel, sha256=digest, failures=failures.num_rows)


def process(
    runner: Runner,
    plan: RunPlan,
    staging: Path,
    reuse: dict[str, PartitionRecord],
    keep_going: bool,
) -> tuple[dict[str, PartitionRecord], int]:
    """Pass 3: run the stages on every partition not yet journaled, then the models on the
    partitions computed; returns every partition's record and how many were computed."""
    journal = staging / JOURNAL_DIR
    records = _journaled(journal, staging, reuse)
    todo = [name for name in plan.tree if plan.partition_epochs.get(name) and name not in records]
    progress = Progress("partitions", len(todo))
    computed = 0
    waiting_for_models = []
    args = (plan, str(staging), reuse)
    for name, result, error in runner.map_unordered(_partition_task, todo, *args):
        progress.step()
        if error is not None:
            record = failed_partition(name, error, staging, keep_going)
        else:
            record, was_computed = result
            computed += was_computed
            if plan.models and was_computed:
                waiting_for_models.append(record)
                continue
        write_json_atomic(record.__dict__, journal / f"{name}.json")
        records[name] = record
    if waiting_for_models:
        _apply_models(runner, plan, staging, waiting_for_models, records, keep_going)
    return records, computed


def _journaled(
    journal: Path, staging: Path, reuse: dict[str, PartitionRecord]
) -> dict[str, PartitionRecord]:
    """The partitions an interrupted run finished (their output still staged, or reused)."""
    records: dict[str, PartitionRecord] = {}
    if journal.exists():
        for path in journal.glob("*.json"):
            record = PartitionRecord(**json.loads(path.read_text()))
            if record.fingerprint.startswith(CRASHED):
                continue  # a crashed task is tried again
            if (
                record.file is None
                or (staging / OUT_DIR / record.file).exists()
                or (reuse.get(record.name) == record)
            ):
                records[record.name] = record
    return records


def _apply_models(
    runner: Runner,
    plan: RunPlan,
    staging: Path,
    waiting: list[PartitionRecord],
    records: dict[str, PartitionRecord],
    keep_going: bool,
) -> None:
    """The model tasks of the partitions in ``waiting``; each finished one is journaled and
    added to ``records``."""
    journal = staging / JOURNAL_DIR
    # inference tasks ask for a GPU where the cluster has GPU workers, so only they run them
    resources = {GPU_RESOURCE: 1} if runner.has_gpu_workers else None
    progress = Progress("models", len(waiting))
    tasks = runner.map_unordered(_model_task, waiting, plan, str(staging), resources=resources)
    for item, result, error in tasks:
        progress.step()
        record = (
            result if error is None else failed_partition(item.name, error, staging, keep_going)
        )
        write_json_atomic(record.__dict__, journal / f"{record.name}.json")
        records[record.name] = record
