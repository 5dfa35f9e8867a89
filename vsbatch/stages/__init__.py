"""Per-partition stages: clean → stats → (period → fourier → freqanalysis → dmdt → ...).

A stage takes the clean light curves of a whole partition and returns catalog columns for every
light curve; it knows nothing of Dask. ``process_partition`` runs the enabled stages on one
partition's epochs, so a single partition can be debugged with ordinary tools.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vsbatch.config import RunConfig
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.stats import variability_stats
from vsbatch.schema import table_schema
from vsbatch.stages.clean import CleanPartition, clean_partition
from vsbatch.stages.failures import FailureLog

StageFn = Callable[[LightCurves, pa.Table, RunConfig, FailureLog], dict[str, np.ndarray]]


def _stats_stage(
    lcs: LightCurves, segments: pa.Table, config: RunConfig, failures: FailureLog
) -> dict[str, np.ndarray]:
    return variability_stats(lcs).as_dict()


# Stage name -> function, in execution order. Column names come from schemas/catalog.json.
STAGES: dict[str, StageFn] = {"stats": _stats_stage}


@dataclass(frozen=True)
class PartitionOutput:
    """What one partition contributes: catalog rows and failure rows."""

    catalog: pa.Table
    failures: pa.Table


def catalog_schema(
    config: RunConfig, source_id_type: pa.DataType, carried: dict[str, pa.DataType]
) -> pa.Schema:
    """The Arrow schema of a run's catalog: declared columns of its stages + carried columns."""
    declared = table_schema("catalog").for_stages({"clean", *config.stages})
    schema = declared.arrow(source_id_type)
    at = schema.get_field_index("band") + 1
    for i, (name, arrow_type) in enumerate(carried.items()):
        meta = {"unit": "", "description": "Per-source value carried from the input."}
        schema = schema.insert(at + i, pa.field(name, arrow_type, metadata=meta))
    return schema


def _run_stage(
    name: str, clean: CleanPartition, config: RunConfig, failures: FailureLog
) -> dict[str, np.ndarray]:
    """Run a stage on the whole partition; if it raises, isolate the bad light curves."""
    fn = STAGES[name]
    try:
        return fn(clean.lcs, clean.segments, config, failures)
    except Exception:  # noqa: BLE001 - any error in one light curve must not fail the partition
        pass
    per_segment: list[dict[str, np.ndarray] | None] = []
    for i in range(clean.lcs.n_segments):
        lo, hi = clean.lcs.offsets[i], clean.lcs.offsets[i + 1]
        one = LightCurves(
            np.array([0, hi - lo], dtype=np.int64),
            clean.lcs.time[lo:hi],
            clean.lcs.mag[lo:hi],
            clean.lcs.err[lo:hi],
        )
        try:
            per_segment.append(fn(one, clean.segments.slice(i, 1), config, failures))
        except Exception as exc:  # noqa: BLE001
            sid = clean.segments.column("source_id")[i].as_py()
            band = clean.segments.column("band")[i].as_py()
            failures.add(sid, band, name, f"{type(exc).__name__}: {exc}")
            per_segment.append(None)
    template = next((r for r in per_segment if r is not None), None)
    if template is None:
        raise RuntimeError(f"stage {name} failed on every light curve of the partition")
    columns = {}
    for col, values in template.items():
        filler = np.full(1, np.nan if values.dtype.kind == "f" else -1, dtype=values.dtype)
        columns[col] = np.concatenate([r[col] if r is not None else filler for r in per_segment])
    return columns


def process_partition(
    table: pa.Table,
    partition: str,
    config: RunConfig,
    schema: pa.Schema,
    carried: tuple[str, ...] = (),
) -> PartitionOutput:
    """Clean one partition's epochs, run the enabled stages, return catalog + failure rows."""
    failures = FailureLog(partition)
    clean = clean_partition(table, partition, config.min_epochs, carried, failures)
    columns = {name: clean.segments.column(name) for name in clean.segments.column_names}
    for name in STAGES:
        if name in config.stages and clean.lcs.n_segments:
            columns.update(_run_stage(name, clean, config, failures))
    arrays = [_as_arrow(columns.get(f.name), f.type, clean.lcs.n_segments) for f in schema]
    return PartitionOutput(pa.Table.from_arrays(arrays, schema=schema), failures.to_table())


def _as_arrow(values: object, arrow_type: pa.DataType, n: int) -> pa.Array:
    if values is None:  # a stage that had no light curves to run on
        return pa.nulls(n, arrow_type)
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks().cast(arrow_type)
    return pa.array(values, arrow_type, from_pandas=True)  # NaN -> null: SQL aggregates skip it
