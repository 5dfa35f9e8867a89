"""Catalog columns of the stages: the declared schema of a run, the columns each stage may
return, and the conversion of a stage's NumPy outputs to Arrow.

Why check a stage's returned keys: the catalog picks its columns by the declared names, so a
key the schema does not declare (a misspelling) would otherwise leave its column null without
a word.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

import numpy as np
import pyarrow as pa

from vsbatch.config import RunConfig
from vsbatch.schema import model_columns, table_schema
from vsbatch.stages.models import ModelRef


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


@cache
def stage_columns(stage: str) -> frozenset[str]:
    """The catalog columns ``schemas/catalog.json`` declares for ``stage``."""
    return frozenset(table_schema("catalog").for_stages({stage}).names)


def model_stage_columns(ref: ModelRef) -> frozenset[str]:
    """The catalog columns ``schemas/models.json`` declares for a model of a run."""
    return frozenset(model_columns(ref.kind, ref.name, ref.class_names).names)


def checked_outputs(
    stage: str, outputs: dict[str, np.ndarray], declared: Collection[str]
) -> dict[str, np.ndarray]:
    """``outputs``, after checking that ``stage`` returned only ``declared`` columns.

    An undeclared key is a bug in the stage, not in the input: RuntimeError naming both.
    """
    undeclared = sorted(set(outputs) - set(declared))
    if undeclared:
        raise RuntimeError(
            f"stage {stage} returned {', '.join(undeclared)}, not declared for it in schemas/ "
            f"(declared: {', '.join(sorted(declared))})"
        )
    return outputs


def as_arrow(values: object, arrow_type: pa.DataType, n: int) -> pa.Array:
    """A column of ``n`` rows of ``arrow_type`` from a stage's output (nulls when absent)."""
    if values is None:  # a stage that had no light curves to run on
        return pa.nulls(n, arrow_type)
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks().cast(arrow_type)
    values = np.asarray(values)
    if values.ndim == 2:  # per-light-curve vectors (top periods, Fourier amplitudes, images)
        flat = pa.array(values.reshape(-1), arrow_type.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1]).cast(arrow_type)
    return pa.array(values, arrow_type, from_pandas=True)  # NaN -> null: SQL aggregates skip it
