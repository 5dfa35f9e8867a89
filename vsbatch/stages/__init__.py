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
from vsbatch.failures import FailureLog
from vsbatch.schema import model_columns, table_schema
from vsbatch.stages.clean import clean_partition
from vsbatch.stages.context import StageContext
from vsbatch.stages.dmdt import dmdt_stage
from vsbatch.stages.fourier import fourier_stage, freqanalysis_stage
from vsbatch.stages.models import ModelRef, model_stage
from vsbatch.stages.period import multiband_stage, pdm_stage, period_stage
from vsbatch.stages.stats import stats_stage

StageFn = Callable[[StageContext], dict[str, np.ndarray]]

# Stage name -> function, in execution order. Column names come from schemas/catalog.json.
STAGES: dict[str, StageFn] = {
    "stats": stats_stage,
    "period": period_stage,
    "multiband": multiband_stage,
    "pdm": pdm_stage,
    "fourier": fourier_stage,
    "freqanalysis": freqanalysis_stage,
    "dmdt": dmdt_stage,
}


@dataclass(frozen=True)
class PartitionOutput:
    """What one partition contributes: catalog rows and failure rows."""

    catalog: pa.Table
    failures: pa.Table


def catalog_schema(
    config: RunConfig,
    source_id_type: pa.DataType,
    carried: dict[str, pa.DataType],
    models: list[ModelRef] = (),
) -> pa.Schema:
    """The Arrow schema of a run's catalog: declared columns of its stages and models, with
    the carried input columns after ``band``."""
    declared = table_schema("catalog").for_stages({"clean", *config.stages})
    schema = declared.arrow(source_id_type)
    for ref in models:
        for f in model_columns(ref.kind, ref.name, ref.class_names).arrow():
            schema = schema.append(f)
    at = schema.get_field_index("band") + 1
    for i, (name, arrow_type) in enumerate(carried.items()):
        meta = {"unit": "", "description": "Per-source value carried from the input."}
        schema = schema.insert(at + i, pa.field(name, arrow_type, metadata=meta))
    return schema


def _run_stage(name: str, fn: StageFn, ctx: StageContext) -> dict[str, np.ndarray]:
    """Run a stage on the whole partition; if it raises, isolate the bad light curves."""
    try:
        return fn(ctx)
    except Exception:  # noqa: BLE001 - any error in one light curve must not fail the partition
        pass
    per_segment: list[dict[str, np.ndarray] | None] = []
    for i in range(ctx.lcs.n_segments):
        one = StageContext(
            ctx.lcs.take(np.array([i])),
            {k: v[i : i + 1] for k, v in ctx.columns.items()},
            ctx.config,
            ctx.failures,
        )
        try:
            per_segment.append(fn(one))
        except Exception as exc:  # noqa: BLE001
            ctx.fail(i, name, f"{type(exc).__name__}: {exc}")
            per_segment.append(None)
    template = next((r for r in per_segment if r is not None), None)
    if template is None:  # every light curve failed, each recorded: the columns stay null
        return {}
    columns = {}
    for col, values in template.items():
        missing = np.nan if values.dtype.kind in "fc" else None if values.dtype == object else -1
        filler = np.full((1, *values.shape[1:]), missing, dtype=values.dtype)
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
    columns: dict[str, object] = {n: clean.segments.column(n) for n in clean.segments.column_names}
    ctx = StageContext(clean.lcs, columns, config, failures)
    for name in STAGES:
        if name in config.stages and clean.lcs.n_segments:
            columns.update(_run_stage(name, STAGES[name], ctx))
    arrays = [_as_arrow(columns.get(f.name), f.type, clean.lcs.n_segments) for f in schema]
    return PartitionOutput(pa.Table.from_arrays(arrays, schema=schema), failures.to_table())


def apply_models(
    table: pa.Table,
    features: pa.Table,
    partition: str,
    config: RunConfig,
    schema: pa.Schema,
    models: list[ModelRef],
    carried: tuple[str, ...] = (),
) -> PartitionOutput:
    """Add the models' columns to a partition's feature rows (the second task of a partition).

    The light curves are cleaned again exactly as for the features (the row policy is
    deterministic), so the model sees the same epochs the features were computed on.
    """
    clean = clean_partition(table, partition, config.min_epochs, carried, FailureLog(partition))
    if clean.segments.column("source_id") != features.column("source_id"):
        raise RuntimeError(f"partition {partition}: features do not match its light curves")
    failures = FailureLog(partition)
    columns: dict[str, object] = {n: features.column(n) for n in features.column_names}
    ctx = StageContext(clean.lcs, columns, config, failures)
    for ref in models:
        if clean.lcs.n_segments:
            label = f"model:{ref.name}"
            columns.update(_run_stage(label, lambda c, ref=ref: model_stage(c, ref), ctx))
    arrays = [_as_arrow(columns.get(f.name), f.type, clean.lcs.n_segments) for f in schema]
    return PartitionOutput(pa.Table.from_arrays(arrays, schema=schema), failures.to_table())


def _as_arrow(values: object, arrow_type: pa.DataType, n: int) -> pa.Array:
    if values is None:  # a stage that had no light curves to run on
        return pa.nulls(n, arrow_type)
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks().cast(arrow_type)
    values = np.asarray(values)
    if values.ndim == 2:  # per-light-curve vectors (top periods, Fourier amplitudes, images)
        flat = pa.array(values.reshape(-1), arrow_type.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1]).cast(arrow_type)
    return pa.array(values, arrow_type, from_pandas=True)  # NaN -> null: SQL aggregates skip it
