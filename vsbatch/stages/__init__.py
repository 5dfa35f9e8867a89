"""Per-partition stages: clean → stats → (period → fourier → freqanalysis → dmdt → ...).

A stage takes the clean light curves of a whole partition and returns catalog columns for every
light curve; it knows nothing of Dask. ``process_partition`` runs the enabled stages on one
partition's epochs, so a single partition can be debugged with ordinary tools. Stage names
and their order are declared in :data:`vsbatch.config.ALL_STAGES`, the columns each stage
returns in ``schemas/catalog.json`` (checked on every partition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vsbatch.config import ALL_STAGES, RunConfig
from vsbatch.failures import FailureLog
from vsbatch.stages.clean import clean_partition
from vsbatch.stages.columns import (
    as_arrow,
    catalog_schema,
    checked_outputs,
    model_stage_columns,
    stage_columns,
)
from vsbatch.stages.context import StageContext
from vsbatch.stages.dmdt import dmdt_stage
from vsbatch.stages.fourier import fourier_stage, freqanalysis_stage
from vsbatch.stages.models import ModelRef
from vsbatch.stages.period import multiband_stage, pdm_stage, period_stage
from vsbatch.stages.stats import stats_stage

__all__ = [
    "STAGES",
    "PartitionOutput",
    "apply_models",
    "available_stages",
    "catalog_schema",
    "process_partition",
]

StageFn = Callable[[StageContext], dict[str, np.ndarray]]


def _in_declared_order(functions: dict[str, StageFn]) -> dict[str, StageFn]:
    """``functions`` in the execution order of ``config.ALL_STAGES``, which must name exactly
    the same stages (the configuration validates the names users give)."""
    if set(functions) != set(ALL_STAGES):
        raise RuntimeError(
            f"stage functions {sorted(functions)} do not match the stages the configuration "
            f"declares ({', '.join(ALL_STAGES)})"
        )
    return {name: functions[name] for name in ALL_STAGES}


STAGES: dict[str, StageFn] = _in_declared_order(
    {
        "stats": stats_stage,
        "period": period_stage,
        "multiband": multiband_stage,
        "pdm": pdm_stage,
        "fourier": fourier_stage,
        "freqanalysis": freqanalysis_stage,
        "dmdt": dmdt_stage,
    }
)


def available_stages() -> list[str]:
    """Names of the stages, in execution order."""
    return list(STAGES)


@dataclass(frozen=True)
class PartitionOutput:
    """What one partition contributes: catalog rows and failure rows."""

    catalog: pa.Table
    failures: pa.Table


def _run_stage(name: str, fn: StageFn, ctx: StageContext) -> dict[str, np.ndarray]:
    """Run a stage on the whole partition; if it raises, isolate the bad light curves."""
    try:
        return fn(ctx)
    except Exception:  # any error in one light curve must not fail the partition
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
        except Exception as exc:  # recorded as this light curve's failure
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
    for name, stage in STAGES.items():
        if name in config.stages and clean.lcs.n_segments:
            outputs = _run_stage(name, stage, ctx)
            columns.update(checked_outputs(name, outputs, stage_columns(name)))
    arrays = [as_arrow(columns.get(f.name), f.type, clean.lcs.n_segments) for f in schema]
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
    # imported here: inference imports torch, which a run without models never needs
    from vsbatch.stages.inference import model_stage

    for ref in models:
        if clean.lcs.n_segments:
            label = f"model:{ref.name}"
            outputs = _run_stage(label, lambda c, ref=ref: model_stage(c, ref), ctx)
            columns.update(checked_outputs(label, outputs, model_stage_columns(ref)))
    arrays = [as_arrow(columns.get(f.name), f.type, clean.lcs.n_segments) for f in schema]
    return PartitionOutput(pa.Table.from_arrays(arrays, schema=schema), failures.to_table())
