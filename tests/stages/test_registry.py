"""The stage registry follows the configuration's stage names, and every stage (feature stages
and each model kind's inference) returns exactly the columns ``schemas/`` declares for it, on
real light curves."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import vsbatch.stages as stages
from tests.conftest import FIXTURES
from vsbatch.config import ALL_STAGES, RunConfig
from vsbatch.failures import FailureLog
from vsbatch.models.kinds import available_kinds
from vsbatch.schema import model_columns, table_schema
from vsbatch.stages.clean import clean_partition
from vsbatch.stages.context import StageContext
from vsbatch.stages.models import resolve_models

CARRIED = ("label",)


def test_stages_are_the_configured_ones_in_their_order() -> None:
    assert tuple(stages.STAGES) == ALL_STAGES
    assert stages.available_stages() == list(ALL_STAGES)


def test_a_registry_differing_from_the_configuration_is_refused() -> None:
    functions = dict(stages.STAGES)
    functions["periodd"] = functions.pop("period")
    with pytest.raises(RuntimeError, match="periodd"):
        stages._in_declared_order(functions)


@pytest.fixture(scope="module")
def stage_outputs() -> tuple[StageContext, dict[str, set[str]]]:
    """Every stage run in order on five real multi-band light curves (MIT-licensed fixture)."""
    table = pq.read_table(FIXTURES / "misc_mit_5.parquet")
    config = RunConfig(stages=ALL_STAGES, fmax=5.0)
    failures = FailureLog("fixture")
    clean = clean_partition(table, "fixture", config.min_epochs, CARRIED, failures)
    assert clean.lcs.n_segments > 0
    columns = {n: clean.segments.column(n) for n in clean.segments.column_names}
    outputs = {"clean": set(columns) - set(CARRIED)}
    ctx = StageContext(clean.lcs, columns, config, failures)
    for name, stage in stages.STAGES.items():
        out = stage(ctx)
        outputs[name] = set(out)
        columns.update(out)
    return ctx, outputs


@pytest.mark.parametrize("stage", ["clean", *ALL_STAGES])
def test_stage_returns_the_columns_declared_for_it(stage_outputs, stage: str) -> None:
    _, outputs = stage_outputs
    declared = set(table_schema("catalog").for_stages({stage}).names)
    assert outputs[stage] == declared


@pytest.mark.parametrize("kind", available_kinds())
def test_model_inference_returns_the_columns_declared_for_its_kind(stage_outputs, kind) -> None:
    from vsbatch.stages.inference import model_stage

    ctx, _ = stage_outputs
    (ref,) = resolve_models((kind,))  # the shipped reference model of this kind
    assert ref.kind == kind
    declared = model_columns(ref.kind, ref.name, ref.class_names).names
    assert set(model_stage(ctx, ref)) == set(declared)
