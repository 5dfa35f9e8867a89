"""Read one source's data without scanning everything: its catalog rows and its input epochs.

The catalog rows come from the one partition file the source id hashes to, and the epochs only
from the input row groups whose ``source_id`` statistics can hold the id, so looking at one
star of a catalog of millions reads little more than that star. ``vsbatch inspect`` and the
report's Blazhko candidates figure both redraw curves from these.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vsbatch.errors import InputError
from vsbatch.io.catalog import Catalog
from vsbatch.io.inputs import InputSpec, ReadUnit, open_input, read_unit
from vsbatch.partitioning import PartitionTree, source_keys


def catalog_rows(cat: Catalog, source_id: object) -> list[dict]:
    """The catalog rows (one per band) of a source, read from the one partition it hashes to."""
    m = cat.manifest
    records = {p.name: p for p in m.partitions}
    if m.partition_tree and cat.hive_partitioned:  # HATS partitions are pixels: read all
        tree = PartitionTree.from_json(m.partition_tree)
        name = tree.names[int(tree.assign(source_keys([source_id]))[0])]
        files = [records[name].file] if name in records and records[name].file else []
    else:
        files = m.files
    tables = [
        pq.read_table(cat.root / f, filters=[("source_id", "==", source_id)])
        for f in files
        if (cat.root / f).exists()
    ]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return []
    rows = pa.concat_tables(tables).to_pylist()
    return sorted(rows, key=lambda r: (r.get("band") is not None, r.get("band") or ""))


def _stat_value(v: object) -> object:
    return v.decode("utf-8") if isinstance(v, bytes) else v


def _candidate_units(spec: InputSpec, source_id: object) -> list[ReadUnit]:
    """Row groups whose source_id min/max statistics can hold the id (all when unknown)."""
    column = {canon: orig for orig, canon in spec.renames.items()}.get("source_id", "source_id")
    units = []
    for path in spec.files:
        with spec.filesystem.open_input_file(path) as fh:
            meta = pq.ParquetFile(fh).metadata
        index = next(
            (j for j in range(meta.num_columns) if meta.schema.column(j).path == column), None
        )
        groups = []
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(index).statistics if index is not None else None
            if stats is not None and stats.has_min_max:
                try:
                    lo, hi = _stat_value(stats.min), _stat_value(stats.max)
                    if not lo <= source_id <= hi:
                        continue
                except (TypeError, UnicodeDecodeError):
                    pass
            groups.append(i)
        if groups:
            units.append(ReadUnit(path, tuple(groups)))
    return units


def source_epochs(source: str, column_map: dict[str, str] | None, source_id: object) -> pa.Table:
    """The input epochs of one source (long format, canonical names), as the pipeline reads them.

    ``column_map`` is the run's (``RunConfig.column_map``). Raises InputError when the input
    cannot be opened or holds no epoch of the source.
    """
    try:
        spec, _ = open_input(source, column_map)
    except InputError as exc:
        raise InputError(
            f"{exc}; the catalog was made from {source!r}: pass the input's current location "
            "(input=..., --input PATH)"
        ) from exc
    pieces = []
    for unit in _candidate_units(spec, source_id):
        table = read_unit(spec, unit)
        ids = table.column("source_id")
        if pa.types.is_integer(ids.type) and not isinstance(source_id, int):
            continue
        table = table.filter(pc.equal(ids, pa.scalar(source_id, ids.type)))
        if table.num_rows:
            pieces.append(table)
    if not pieces:
        raise InputError(f"{source}: no epochs of source {source_id!r} in the input")
    table = pa.concat_tables(pieces)
    if "band" not in table.column_names:
        table = table.append_column("band", pa.nulls(table.num_rows, pa.string()))
    return table


__all__ = ["catalog_rows", "source_epochs"]
