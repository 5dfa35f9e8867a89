"""The run's scratch space: input units shuffled into per-partition pieces, and fingerprints.

Each input unit's epochs are split by partition and written as Arrow IPC pieces
(``_staging/<run>/shuffle/<partition>/u<unit>.arrow``); a partition task then reads only its
own pieces. This is a map-side shuffle through files, so it works the same on one machine and
on a cluster with a shared filesystem.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from vsbatch.io.catalog import atomic_path
from vsbatch.io.hats import PixelTree
from vsbatch.partitioning import PartitionTree

SHUFFLE_DIR = "shuffle"
SORT_COLUMNS = ("source_id", "band", "time", "mag", "mag_err")  # the order rows are hashed in


def write_pieces(
    table: pa.Table, tree: PartitionTree | PixelTree, staging: Path, unit: int
) -> dict[str, int]:
    """Split a unit's rows by partition into IPC pieces; returns rows written per partition."""
    if table.num_rows == 0:
        return {}
    leaf = tree.leaves_of_rows(table)
    order = np.argsort(leaf, kind="stable")  # one sort, then a slice per partition
    table, leaf = table.take(order), leaf[order]
    bounds = np.flatnonzero(np.r_[True, leaf[1:] != leaf[:-1], True])
    written = {}
    names = tree.names
    for lo, hi in itertools.pairwise(bounds):
        part = names[leaf[lo]]
        rows = table.slice(lo, hi - lo)
        path = staging / SHUFFLE_DIR / part / f"u{unit:06d}.arrow"
        with atomic_path(path, fsync=False) as tmp, ipc.new_file(tmp, rows.schema) as writer:
            writer.write_table(rows)
        written[part] = rows.num_rows
    return written


def read_pieces(staging: Path, partition: str) -> pa.Table:
    """All epochs of one partition, from every unit's piece (in unit order)."""
    folder = staging / SHUFFLE_DIR / partition
    tables = []
    for path in sorted(folder.glob("u*.arrow")):
        with ipc.open_file(path) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables, promote_options="default")


def fingerprint(table: pa.Table) -> str:
    """Content hash of a partition's rows: every column (name, type, values), so a changed
    per-source value (an input ``period``) or an added carried column changes it too;
    independent of file names, row order and chunking."""
    keys = [c for c in SORT_COLUMNS if c in table.column_names]
    order = pc.sort_indices(table, sort_keys=[(c, "ascending") for c in keys])
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        col = table.column(name).take(order).combine_chunks()
        h.update(f"\x1e{name}:{col.type}\x1e".encode())
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            h.update(np.ascontiguousarray(col.to_numpy(zero_copy_only=False)).tobytes())
        else:
            h.update("\x1f".join("\x00" if v is None else str(v) for v in col.to_pylist()).encode())
    return h.hexdigest()[:32]
