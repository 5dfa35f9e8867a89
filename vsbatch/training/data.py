"""Labelled light curves for evaluation, read with the same validation as ``vsbatch run``."""

from __future__ import annotations

import pyarrow as pa

from vsbatch.errors import InputError
from vsbatch.io.inputs import open_input, read_unit, read_units


def read_labelled(source: str, column_map: dict[str, str] | None = None) -> pa.Table:
    """A vsbatch input (long or nested Parquet, file, folder or glob) as one long table.

    Canonical columns (source_id, time, mag, mag_err[, band]) plus every per-source column of
    the input (labels, catalogue periods) under its input name. Bad input raises InputError
    naming the file, as a run would; use for evaluation sets that fit in memory.
    """
    spec, _ = open_input(source, column_map or {}, keep_going=False)
    tables = [read_unit(spec, unit, spec.extra_columns) for unit in read_units(spec)]
    if not tables:
        raise InputError(f"{source}: the input holds no light-curve rows")
    return pa.concat_tables(tables, promote_options="default")
