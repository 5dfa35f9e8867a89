"""A stage returning a column its schema does not declare is an internal error, not a silently
null column."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import vsbatch.stages as stages
from tests.conftest import FIXTURES
from vsbatch.config import RunConfig
from vsbatch.stages.columns import catalog_schema, checked_outputs, stage_columns


def test_undeclared_key_names_the_stage_and_the_key() -> None:
    outputs = {"mag_mean": np.zeros(1), "mag_meen": np.zeros(1)}
    with pytest.raises(RuntimeError, match="stage stats returned mag_meen, not declared"):
        checked_outputs("stats", outputs, stage_columns("stats"))
    assert checked_outputs("stats", {"mag_mean": np.zeros(1)}, stage_columns("stats"))


def test_a_misspelt_stage_output_fails_the_partition(monkeypatch) -> None:
    def misspelt(ctx):
        return {"mag_meen": np.zeros(ctx.lcs.n_segments)}

    monkeypatch.setitem(stages.STAGES, "stats", misspelt)
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    config = RunConfig(stages=("stats",))
    schema = catalog_schema(config, table.schema.field("source_id").type, {})
    with pytest.raises(RuntimeError, match="stage stats returned mag_meen"):
        stages.process_partition(table, "p", config, schema)
