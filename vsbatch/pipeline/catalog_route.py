"""The catalog-parameters route: one row per source (period, amplitude, Fourier parameters),
no epochs, classified by ``catalog-cnn-lstm`` models and committed as a vsbatch catalog.

Why its own driver: such an input has nothing to clean or fit. The rest is a light-curve run's
machinery: a plan of source-id hash partitions, the staging folder, one task per partition on
the cluster, and the same commit.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vsbatch.cluster import ClusterSpec, open_runner
from vsbatch.config import RunConfig, command_line_options
from vsbatch.errors import InputError, UsageError
from vsbatch.io.catalog import PartitionRecord, check_output_state
from vsbatch.io.catalog_tables import read_catalog_parameters
from vsbatch.io.hats import HIVE
from vsbatch.io.staging import read_pieces, write_pieces
from vsbatch.partitioning import PartitionTree, source_keys
from vsbatch.pipeline.commit import collect_failures, commit_plan, failed_partition, storage_errors
from vsbatch.pipeline.partitions import write_output
from vsbatch.pipeline.plan import RunPlan, new_plan, write_plan
from vsbatch.pipeline.progress import Progress
from vsbatch.schema import STAGING_DIR
from vsbatch.stages.models import ModelRef, resolve_models

# RunConfig fields this route uses; any other one set away from its default is refused
_USED_FIELDS = ("models", "partition_epochs", "model_batch_size")


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


def run_catalog_parameters(
    source: str,
    output: str | Path,
    config: RunConfig,
    cluster: ClusterSpec | None,
    *,
    resume: bool,
    overwrite: bool,
    update: bool,
    keep_going: bool,
) -> CatalogClassification:
    """:func:`vsbatch.pipeline.run` on a catalog-parameters input: refuses by name every
    option this route does not use (a light-curve option would silently do nothing)."""
    refused = _refused_options(config, resume=resume, update=update, keep_going=keep_going)
    if refused:
        raise UsageError(
            f"{source}: a catalog-parameters input (one row per source, no epochs) takes no "
            f"{', '.join(refused)}; rerun it with --overwrite"
        )
    return classify_catalog(
        source,
        output,
        config.models,
        overwrite=overwrite,
        cluster=cluster,
        partition_rows=config.partition_epochs,
        model_batch_size=config.model_batch_size,
    )


def _refused_options(config: RunConfig, **flags: bool) -> list[str]:
    """The options, as command-line flags, set in ``config`` or ``flags`` that this route
    does not use: config fields away from their default, then the flags given."""
    refused = [
        option.flag_name(name)
        for name, option, default in command_line_options(RunConfig)
        if name not in _USED_FIELDS and getattr(config, name) != default
    ]
    return refused + ["--" + name.replace("_", "-") for name, given in flags.items() if given]


def classify_catalog(
    source: str,
    output: str | Path,
    models: tuple[str, ...],
    *,
    overwrite: bool = False,
    cluster: ClusterSpec | None = None,
    partition_rows: int = RunConfig.partition_epochs,
    model_batch_size: int = RunConfig.model_batch_size,
) -> CatalogClassification:
    """Classify a catalog-parameters table (no epochs) with ``catalog-cnn-lstm`` models and
    commit the result as a vsbatch catalog.

    Rows are split into partitions of the source-id hash tree (at most ``partition_rows`` rows
    each) through the staging folder, each partition is classified as a task on ``cluster``
    (in this process by default), and the partition files, the failures table (a row per model
    for every row whose period or amplitude is missing, infinite or out of range; such rows
    stay in the catalog with null classes) and the manifest are committed last, so readers see
    the previous catalog or the whole new one.
    Columns: the input's, then ``<name>_class``, ``<name>_p_<class>``, ``<name>_version``.
    """
    # torch is imported only when a catalog is classified, not by every run
    from vsbatch.stages.classify import catalog_parameters_schema

    started = time.monotonic()
    root = Path(output)
    check_output_state(root, resume=False, overwrite=overwrite, update=False)
    refs = _catalog_models(models)
    table = _read_rows(source)
    config = RunConfig(
        stages=(), models=tuple(models), partition_epochs=partition_rows,
        model_batch_size=model_batch_size,
    )  # fmt: skip
    plan = _catalog_plan(source, table, config, refs)
    schema = catalog_parameters_schema(table.schema, refs)
    staging = root / STAGING_DIR / plan.run_id
    with storage_errors(root):
        shutil.rmtree(root / STAGING_DIR, ignore_errors=True)  # no resume: start afresh
        write_plan(plan, staging)
        write_pieces(table, plan.partition_tree, staging, 0)
        records, classified = _classify_partitions(plan, refs, schema, staging, cluster)
        failures = collect_failures(plan, staging, records, root, None, {})
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
        commit_plan(root, source, plan, staging, records, failures, stats)
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


def _catalog_models(models: tuple[str, ...]) -> list[ModelRef]:
    """The resolved models; UsageError if one needs light curves."""
    from vsbatch.stages.classify import CATALOG_KIND

    refs = resolve_models(tuple(models))
    wrong = [r.name for r in refs if r.kind != CATALOG_KIND]
    if wrong:
        raise UsageError(
            f"a catalogue-parameters input has no light curves; model(s) "
            f"{', '.join(wrong)} need them (use {CATALOG_KIND})"
        )
    return refs


def _read_rows(source: str) -> pa.Table:
    """The catalog-parameters table; InputError if empty or a source id is null."""
    table = read_catalog_parameters(source)
    if table.num_rows == 0:
        raise InputError(f"{source}: the catalogue-parameters table has no rows")
    if table.column("source_id").null_count:
        n_null = table.column("source_id").null_count
        raise InputError(f"{source}: {n_null} rows have a null source_id")
    return table


def _catalog_plan(
    source: str, table: pa.Table, config: RunConfig, models: list[ModelRef]
) -> RunPlan:
    """A run plan for a catalog-parameters table: partitions of the source-id hash tree
    holding at most ``config.partition_epochs`` rows (a row costs one, having no epochs),
    every column but ``source_id`` and ``band`` carried."""
    ids = pc.value_counts(table.column("source_id"))
    counts = ids.field("counts").to_numpy().astype(np.int64)
    keys = source_keys(ids.field("values"))
    tree = PartitionTree.build(keys, counts, config.partition_epochs)
    path = Path(source)
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    carried = [c for c in table.column_names if c not in ("source_id", "band")]
    return new_plan(
        config, models, tree, keys, counts,
        input_files=[[str(f), f.stat().st_size] for f in files],
        carried=carried,
        carried_types=[str(table.schema.field(c).type) for c in carried],
        source_id_type=str(table.schema.field("source_id").type),
        n_sources=len(ids),
        read_failures=[],
        carried_input_names=carried,
        layout=HIVE,
    )  # fmt: skip


def _classify_partitions(
    plan: RunPlan,
    refs: list[ModelRef],
    schema: pa.Schema,
    staging: Path,
    cluster: ClusterSpec | None,
) -> tuple[dict[str, PartitionRecord], int]:
    """Every partition's record, and how many rows every model classified."""
    todo = sorted(plan.partition_epochs)
    progress = Progress("classify", len(todo))
    records, classified = {}, 0
    batch_rows = RunConfig.from_dict(plan.config).model_batch_size
    args = (refs, schema, str(staging), batch_rows)
    with open_runner(cluster or ClusterSpec(cluster="none")) as runner:
        for name, result, error in runner.map_unordered(_catalog_partition_task, todo, *args):
            progress.step()
            if error is not None:
                failed_partition(name, error, staging, keep_going=False)  # raises
            records[name], n_ok = result
            classified += n_ok
    return records, classified


def _catalog_partition_task(
    name: str, models: list[ModelRef], schema: pa.Schema, staging: str, batch_rows: int
) -> tuple[PartitionRecord, int]:
    """Classify one partition's rows and stage its catalog file and failure records; returns
    its record and how many rows every model classified."""
    from vsbatch.models.artifacts import table_fingerprint
    from vsbatch.stages.classify import classify_parameter_rows

    rows = read_pieces(Path(staging), name).sort_by("source_id")
    catalog, failures, scored = classify_parameter_rows(rows, name, models, schema, batch_rows)
    rel, digest = write_output(Path(staging), name, catalog, failures.to_table(), HIVE)
    sources = len(pc.unique(rows.column("source_id")))
    record = PartitionRecord(
        name, rel, rows.num_rows, sources, len(failures), 0, table_fingerprint(rows), digest
    )
    return record, scored
