"""Failure records group by cause: where a light curve failed lives in its own columns."""

from __future__ import annotations

import duckdb

from vsbatch.failures import FailureLog


def test_the_same_cause_in_many_light_curves_is_one_reason() -> None:
    log = FailureLog(partition="o1p0", file="in.parquet")
    for sid in ("a", "b", "c"):
        log.add(sid, "I", "period", "zero time span: no period can be searched")
    failures = log.to_table()
    groups = duckdb.sql("SELECT reason, count(*) AS n FROM failures GROUP BY reason").fetchall()
    assert groups == [("zero time span: no period can be searched", 3)]
    assert failures.column("source_id").to_pylist() == ["a", "b", "c"]
    assert set(failures.column("partition").to_pylist()) == {"o1p0"}
    assert set(failures.column("file").to_pylist()) == {"in.parquet"}
