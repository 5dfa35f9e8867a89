"""Failure records: every light curve or file that could not be processed, with stage and reason."""

from __future__ import annotations

import pyarrow as pa

from vsbatch.schema import table_schema


class FailureLog:
    """Collects failure rows of one partition (or of the input check) as the stages run.

    The reason says why, never where: source, band, partition and file have their own columns,
    so ``GROUP BY reason`` counts light curves by cause.
    """

    def __init__(self, partition: str | None = None, file: str | None = None) -> None:
        self.partition = partition
        self.file = file
        self._rows: list[dict] = []

    def add(self, source_id: object, band: str | None, stage: str, reason: str) -> None:
        self._rows.append(
            {
                "source_id": None if source_id is None else str(source_id),
                "band": band,
                "stage": stage,
                "reason": reason,
                "partition": self.partition,
                "file": self.file,
            }
        )

    def add_file(self, file: str, stage: str, reason: str) -> None:
        """A whole input file that could not be read (``--keep-going``)."""
        self._rows.append(
            {
                "source_id": None,
                "band": None,
                "stage": stage,
                "reason": reason,
                "partition": None,
                "file": file,
            }
        )

    def __len__(self) -> int:
        return len(self._rows)

    def to_table(self) -> pa.Table:
        schema = table_schema("failures").arrow()
        return pa.Table.from_pylist(self._rows, schema=schema)
