"""The end of a run: failures gathered, manifest written, files moved into place.

Also what a failed task means: a full or read-only disk stops the run with a StorageError
naming the catalog (nothing committed); any other crash stops it too, unless ``--keep-going``
records every light curve of the partition as failed instead.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vsbatch._version import __version__
from vsbatch.errors import StorageError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import Manifest, PartitionRecord, commit, write_parquet_atomic
from vsbatch.io.staging import fingerprint, read_pieces
from vsbatch.pipeline.plan import CRASHED, FAILED_DIR, OUT_DIR, RunPlan
from vsbatch.schema import failures_file

_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def storage_error(error: BaseException, root: Path) -> StorageError | None:
    """A StorageError naming the catalog when ``error`` is a failed write, else None."""
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return StorageError(
            f"{root}: cannot write the catalog: {error.strerror}{where}; nothing was committed "
            "and the previous catalog, if any, is unchanged"
        )
    return None


@contextmanager
def storage_errors(root: Path) -> Iterator[None]:
    """Inside the block, a failed write (see :func:`storage_error`) raises a StorageError."""
    try:
        yield
    except OSError as exc:
        full = storage_error(exc, root)
        if full is None:
            raise
        raise full from exc


def failed_partition(
    name: str, error: BaseException, staging: Path, keep_going: bool
) -> PartitionRecord:
    """The record of a partition whose task raised ``error``; raises unless ``keep_going``."""
    full = storage_error(error, staging.parent.parent)
    if full is not None:
        raise full from error
    message = f"partition {name}: {type(error).__name__}: {error}"
    if not keep_going:
        raise RuntimeError(message) from error
    return _fail_partition(name, staging, message)


def _fail_partition(name: str, staging: Path, message: str) -> PartitionRecord:
    """Record every light curve of a partition whose task crashed (``--keep-going``)."""
    table = read_pieces(staging, name)
    failures = FailureLog(name)
    keys = table.select(["source_id", "band"]).group_by(["source_id", "band"]).aggregate([])
    for sid, band in zip(
        keys.column("source_id").to_pylist(), keys.column("band").to_pylist(), strict=True
    ):
        failures.add(sid, band, "partition", message)
    write_parquet_atomic(failures.to_table(), staging / FAILED_DIR / f"{name}.parquet")
    return PartitionRecord(
        name,
        None,
        0,
        len(pc.unique(table.column("source_id"))),
        len(failures),
        table.num_rows,
        CRASHED + fingerprint(table),  # never equal to a content fingerprint: recomputed
        None,
    )


def collect_failures(
    plan: RunPlan,
    staging: Path,
    records: dict[str, PartitionRecord],
    root: Path,
    previous: Manifest | None,
    reuse: dict[str, PartitionRecord],
) -> pa.Table:
    """The run's failures table: unreadable files, then every partition's rows, sorted."""
    log_ = FailureLog()
    for file, reason in plan.read_failures:
        log_.add_file(file, "read", reason)
    tables = [log_.to_table()]
    reused = {n for n, r in records.items() if reuse.get(n) == r}
    if reused and previous is not None and (root / previous.failures_file).exists():
        old = pq.read_table(root / previous.failures_file)
        mask = pc.is_in(old.column("partition"), pa.array(sorted(reused)))
        tables.append(old.filter(mask))
    for name in sorted(set(records) - reused):
        path = staging / FAILED_DIR / f"{name}.parquet"
        if path.exists():
            tables.append(pq.read_table(path))
    table = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
    return table.sort_by(
        [
            ("partition", "ascending"),
            ("source_id", "ascending"),
            ("band", "ascending"),
            ("stage", "ascending"),
        ]
    )


def commit_plan(
    root: Path, source: str, plan: RunPlan, staging: Path, records: dict[str, PartitionRecord],
    failures: pa.Table, stats: dict,
) -> None:  # fmt: skip
    """The last step of a run: the manifest of the plan's partitions, then the commit."""
    manifest = Manifest(
        run_id=plan.run_id,
        vsbatch_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        input=str(source),
        config=plan.config,
        config_hash=plan.run_hash,
        partition_tree=plan.tree,
        partitions=sorted(records.values(), key=lambda r: r.name),
        failures_file=failures_file(plan.run_id),
        failures_rows=failures.num_rows,
        carried_columns=plan.carried,
        source_id_type=plan.source_id_type,
        stats=stats,
        models=plan.models,
        layout=plan.layout,
    )
    commit(root, staging / OUT_DIR, manifest, failures)
