"""Open, validate and read light-curve inputs (long or nested Parquet) through pyarrow.dataset.

Validation happens before any work: every file's schema is checked against
``schemas/input.json`` and every error names the file and the column. The input is cut into
*units* (a file, or a group of its row groups) that the pipeline reads in parallel; a unit is
always returned in long format (one row per epoch) with canonical column names and types.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from vsbatch.errors import InputError
from vsbatch.io.hats import (
    hats_installed,
    is_hats_catalog,
    read_hats_input,
    spatial_index,
)
from vsbatch.schema import input_columns, nested_column_name, position_columns, renamed_on_output

log = logging.getLogger("vsbatch")

LONG = "long"
NESTED = "nested"
_UNIT_ROWS = 2_000_000  # rows of one read unit: bounds a worker's memory during the shuffle

_TYPE_NAMES = {
    "float64": (pa.types.is_float64,),
    "float32": (pa.types.is_float32,),
    "int64": (pa.types.is_int64,),
    "int32": (pa.types.is_int32,),
    "string": (pa.types.is_string, pa.types.is_large_string),
}


def _type_ok(arrow_type: pa.DataType, allowed: Iterable[str]) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return any(check(arrow_type) for name in allowed for check in _TYPE_NAMES[name])


@dataclass(frozen=True)
class ReadUnit:
    """A piece of the input read by one task: a file and, for big files, some row groups."""

    path: str
    row_groups: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        if self.row_groups is None:
            return self.path
        return f"{self.path} (row groups {self.row_groups[0]}-{self.row_groups[-1]})"


@dataclass(frozen=True)
class InputSpec:
    """A validated input: where it is, its layout, and how its columns map to vsbatch's."""

    source: str
    layout: str  # LONG or NESTED
    files: tuple[str, ...]
    filesystem: pafs.FileSystem = field(compare=False, repr=False)
    renames: dict[str, str] = field(default_factory=dict)  # file column -> canonical name
    source_id_type: pa.DataType = field(default_factory=pa.string)
    has_band: bool = False
    extra_columns: tuple[str, ...] = ()  # per-source candidates, as named in the file
    ignored_fields: tuple[str, ...] = ()
    spatial_index_computed: bool = False  # the spatial index comes from ra/dec, not a column
    pixels: tuple[tuple[int, int], ...] = ()  # (order, pixel) of a HATS input catalog

    def output_name(self, column: str) -> str:
        return renamed_on_output().get(column, column)


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def _files_under(fs: pafs.FileSystem, path: str) -> tuple[list[str], list[str], list[str]]:
    """(data files, odd entries, hidden Parquet files) below a folder.

    Hive convention: names starting with _ or . are not data; a Parquet file so named is
    reported (a warning), never skipped without a word. Every other entry must be a regular
    file: a dangling link or a pipe is returned as odd, for an error or a failure record.
    """
    if isinstance(fs, pafs.LocalFileSystem):
        entries, hidden = [], []
        for folder, dirs, names in os.walk(path):
            hidden += [os.path.join(folder, n) for n in names if n.startswith(("_", "."))]
            dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
            entries += [os.path.join(folder, n) for n in names if not n.startswith(("_", "."))]
        regular = [e for e in entries if os.path.isfile(e)]
    else:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
        visible = [i for i in infos if not _hidden(os.path.relpath(i.path, path))]
        entries = [i.path for i in visible if i.type != pafs.FileType.Directory]
        regular = [i.path for i in visible if i.type == pafs.FileType.File]
        shown = {i.path for i in visible}
        hidden = [i.path for i in infos if i.type == pafs.FileType.File and i.path not in shown]
    odd = sorted(set(entries) - set(regular))
    hidden_parquet = sorted(h for h in hidden if h.endswith(".parquet"))
    return sorted(regular), odd, hidden_parquet


def _locate(source: str) -> tuple[pafs.FileSystem, list[str]]:
    """The filesystem of a path, glob or URL (Arrow filesystems, else fsspec) and its paths."""
    if "://" in source:
        try:
            fs, path = pafs.FileSystem.from_uri(source)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            import fsspec

            fsspec_fs, path = fsspec.core.url_to_fs(source)
            fs = pafs.PyFileSystem(pafs.FSSpecHandler(fsspec_fs))
        return fs, [path]
    fs = pafs.LocalFileSystem()
    if any(ch in source for ch in "*?["):
        return fs, [os.path.abspath(f) for f in sorted(glob.glob(source, recursive=True))]
    return fs, [os.path.abspath(source)]


def _list_files(fs: pafs.FileSystem, paths: list[str]) -> tuple[list[str], list[str]]:
    """The data files of files and folders, and the entries that are not regular files."""
    files: list[str] = []
    odd: list[str] = []
    for path in paths:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise InputError(f"{path}: no such file or folder")
        if info.type == pafs.FileType.Directory:
            regular, strange, hidden = _files_under(fs, path)
            files, odd = files + regular, odd + strange
            if hidden:
                log.warning("%s: %d Parquet files named with a leading _ or . are not read "
                            "(Hive convention), e.g. %s; rename them to include them",
                            path, len(hidden), hidden[0])  # fmt: skip
        elif info.type != pafs.FileType.File or (
            isinstance(fs, pafs.LocalFileSystem) and not os.path.isfile(path)
        ):
            odd.append(path)
        else:
            files.append(path)
    return files, odd


TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".lc", ".csv.gz", ".tsv.gz")


def _file_schema(fs: pafs.FileSystem, path: str) -> pa.Schema:
    try:
        with fs.open_input_file(path) as fh:
            return pq.ParquetFile(fh).schema_arrow
    except (OSError, pa.ArrowException) as exc:  # unreadable, not Parquet, or corrupt
        hint = ""
        if path.lower().endswith(TEXT_SUFFIXES):
            hint = "; for CSV or text light curves convert first: vsbatch ingest FILE -o X.parquet"
        raise InputError(f"{path}: cannot read as Parquet ({exc}){hint}") from exc


def _canonical_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type a column has once read (see ``_canonical_types``), for comparing files."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_int32(arrow_type) or pa.types.is_int16(arrow_type):
        return pa.int64()
    return arrow_type


@dataclass(frozen=True)
class _FileColumns:
    source_id_type: pa.DataType
    has_band: bool
    extra: dict[str, pa.DataType]  # top-level per-source candidates and their types
    ignored: list[str]


def open_input(
    source: str, column_map: dict[str, str] | None = None, keep_going: bool = False
) -> tuple[InputSpec, list[tuple[str, str]]]:
    """Validate an input and return it with the files skipped under ``keep_going``.

    ``column_map`` maps canonical names to the input's (``{"time": "hjd"}``).
    Returns ``(spec, skipped)`` where ``skipped`` lists ``(file, reason)``.
    """
    try:
        fs, paths = _locate(source)
        catalog = None
        if len(paths) == 1 and is_hats_catalog(fs, paths[0]):
            catalog = read_hats_input(source, source if "://" in source else paths[0])
            paths = list(catalog.paths)
        files, odd = _list_files(fs, paths)
    except (OSError, ImportError) as exc:  # an unreachable host, a URL scheme not installed
        raise InputError(f"{source}: cannot reach the input ({exc})") from exc
    skipped: list[tuple[str, str]] = []
    for path in odd:
        reason = f"{path}: in input {source}, not a regular file (a dangling link, a pipe?)"
        if not keep_going:
            raise InputError(reason)
        skipped.append((path, reason))
    if not files:
        raise InputError(f"{source}: no input files found")
    column_map = {**(catalog.column_map if catalog else {}), **(column_map or {})}
    renames = {v: k for k, v in column_map.items()}
    good: list[tuple[str, pa.Schema]] = []
    for path in files:
        try:
            good.append((path, _file_schema(fs, path)))
        except InputError as exc:
            if not keep_going:
                raise
            skipped.append((path, str(exc)))
    if not good:
        raise InputError(f"{source}: none of the {len(files)} input files could be read")
    nested_name = column_map.get("lc", nested_column_name())
    layouts = {path: (NESTED if nested_name in schema.names else LONG) for path, schema in good}
    if len(set(layouts.values())) > 1:
        raise InputError(f"{source}: mixes long-format and nested ({nested_name!r}) files")
    layout = layouts[good[0][0]]
    per_file = {
        path: _check_schema(path, schema, layout, nested_name, renames) for path, schema in good
    }
    id_types = {str(f.source_id_type) for f in per_file.values()}
    if len(id_types) > 1:
        raise InputError(
            f"{source}: column source_id has different types across files ({sorted(id_types)})"
        )
    with_band = [p for p, f in per_file.items() if f.has_band]
    if with_band and len(with_band) < len(per_file):
        without = sorted(set(per_file) - set(with_band))
        raise InputError(
            f"{without[0]}: has no band column while other files of {source} have one "
            f"({len(without)} such files); bands cannot be told apart"
        )
    return (
        InputSpec(
            source=source,
            layout=layout,
            files=tuple(p for p, _ in good),
            filesystem=fs,
            renames=renames if layout == LONG else {**renames, nested_name: "lc"},
            source_id_type=next(iter(per_file.values())).source_id_type,
            has_band=bool(with_band),
            pixels=catalog.pixels if catalog else (),
            **_extra_columns(list(per_file.values())),
        ),
        skipped,
    )


def _extra_columns(files: list[_FileColumns]) -> dict[str, tuple[str, ...] | bool]:
    """Per-source columns that can be carried: in every file, one scalar type, and not the
    name of a catalog column in any letter case (``period`` is renamed ``catalog_period``;
    ``Period`` or ``N_OBS`` would make SQL engines, which ignore case, rename vsbatch's own
    columns), nor of another carried column in another case.
    Sources with ``ra`` and ``dec`` also get their spatial index, computed when not given."""
    from vsbatch.schema import PARTITION_KEY, table_schema

    reserved = {n.lower() for n in [*table_schema("catalog").names, PARTITION_KEY]}
    renamed = renamed_on_output()
    candidates = set.intersection(*(set(f.extra) for f in files))
    folded = [renamed.get(n, n).lower() for n in candidates]
    reserved |= {f for f in folded if folded.count(f) > 1}
    ignored = set().union(*(set(f.ignored) for f in files))
    ignored |= set().union(*(set(f.extra) for f in files)) - candidates
    carried = []
    for name in sorted(candidates):
        types = {_canonical_type(f.extra[name]) for f in files}
        scalar = all(not pa.types.is_nested(t) for t in types)
        if len(types) == 1 and scalar and renamed.get(name, name).lower() not in reserved:
            carried.append(name)
        else:
            ignored.add(name)
    pos = position_columns()
    positions = {pos.ra, pos.dec} <= set(carried) and all(
        _type_ok(f.extra[c], ("float64", "float32")) for f in files for c in (pos.ra, pos.dec)
    )
    computed = positions and pos.spatial_index not in carried and hats_installed()
    return {
        "extra_columns": (*carried, pos.spatial_index) if computed else tuple(carried),
        "ignored_fields": tuple(sorted(ignored)),
        "spatial_index_computed": computed,
    }


def _check_names(
    path: str, schema: pa.Schema, layout: str, nested_name: str, renames: dict[str, str]
) -> None:
    """InputError for a repeated column name, a ``--column`` naming no column of the file, or
    a mapped column whose vsbatch name the file also holds (both would be read as one)."""
    names = list(schema.names)
    if layout == NESTED and pa.types.is_struct(lc := schema.field(nested_name).type):
        names += [lc.field(i).name for i in range(lc.num_fields)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: column {repeated[0]!r} appears more than once")
    for given, canon in renames.items():
        if given in (canon, nested_name):
            continue
        if given not in names:
            raise InputError(f"{path}: --column {canon}={given}: the file has no column "
                             f"{given!r} (columns: {', '.join(names)})")  # fmt: skip
        if canon in names:
            raise InputError(f"{path}: --column {canon}={given}, but the file also has a "
                             f"column {canon!r}; only one can be {canon}")  # fmt: skip


def _check_schema(
    path: str, schema: pa.Schema, layout: str, nested_name: str, renames: dict[str, str]
) -> _FileColumns:
    """What one file holds, or InputError naming the file and its column."""
    original = {canon: name for name, canon in renames.items()}
    _check_names(path, schema, layout, nested_name, renames)
    if layout == NESTED:
        lc_type = schema.field(nested_name).type
        if not pa.types.is_struct(lc_type):
            raise InputError(
                f"{path}: column {nested_name!r} must be a struct of lists, is {lc_type}"
            )
        inner = {lc_type.field(i).name: lc_type.field(i).type for i in range(lc_type.num_fields)}
        per_epoch = {}
        for name, t in inner.items():
            if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
                raise InputError(f"{path}: field {nested_name}.{name} must be a list, is {t}")
            per_epoch[renames.get(name, name)] = t.value_type
        top = {renames.get(n, n): schema.field(n).type for n in schema.names if n != nested_name}
        where = f"{nested_name}."
    else:
        per_epoch = {renames.get(n, n): schema.field(n).type for n in schema.names}
        top = {"source_id": per_epoch.pop("source_id")} if "source_id" in per_epoch else {}
        where = ""
    for col in input_columns():
        table = top if col.name == "source_id" else per_epoch
        prefix = "" if col.name == "source_id" else where
        shown = f"'{prefix}{original.get(col.name, col.name)}'"
        if col.name in original:
            shown += f" (mapped to {col.name})"
        if col.name not in table:
            if col.required:
                raise InputError(
                    f"{path}: required column {shown} is missing "
                    f"(columns: {', '.join(schema.names)})"
                )
            continue
        if not _type_ok(table[col.name], col.types):
            raise InputError(
                f"{path}: column {shown} has type {table[col.name]}, "
                f"expected one of {', '.join(col.types)}"
            )
    known = {c.name for c in input_columns()}
    if layout == NESTED:
        extra = {n: t for n, t in top.items() if n not in known}
        ignored = [f"{nested_name}.{n}" for n in per_epoch if n not in known]
    else:
        extra = {n: t for n, t in per_epoch.items() if n not in known}
        ignored = []
    return _FileColumns(_canonical_type(top["source_id"]), "band" in per_epoch, extra, ignored)


def read_units(spec: InputSpec, rows_per_unit: int = _UNIT_ROWS) -> list[ReadUnit]:
    """Cut the input into units of at most about ``rows_per_unit`` rows (whole row groups)."""
    units: list[ReadUnit] = []
    for path in spec.files:
        with spec.filesystem.open_input_file(path) as fh:
            meta = pq.ParquetFile(fh).metadata
        if meta.num_rows <= rows_per_unit or meta.num_row_groups == 1:
            units.append(ReadUnit(path))
            continue
        group: list[int] = []
        rows = 0
        for i in range(meta.num_row_groups):
            group.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= rows_per_unit:
                units.append(ReadUnit(path, tuple(group)))
                group, rows = [], 0
        if group:
            units.append(ReadUnit(path, tuple(group)))
    return units


def _read_raw(spec: InputSpec, unit: ReadUnit, columns: list[str] | None) -> pa.Table:
    try:
        with spec.filesystem.open_input_file(unit.path) as fh:
            pf = pq.ParquetFile(fh)
            if unit.row_groups is None:
                return pf.read(columns=columns)
            return pf.read_row_groups(list(unit.row_groups), columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{unit.label}: cannot read ({exc})") from exc


def read_unit(spec: InputSpec, unit: ReadUnit, extra_columns: tuple[str, ...] = ()) -> pa.Table:
    """Read a unit as a long table: source_id, time, mag, mag_err[, band], extra columns.

    Types are made canonical (float64 time/mag/mag_err, string band); nested rows are
    flattened so the stages see one layout.
    """
    back = {canon: orig for orig, canon in spec.renames.items()}
    epoch_cols = ["time", "mag", "mag_err"] + (["band"] if spec.has_band else [])
    index = position_columns().spatial_index
    computed = spec.spatial_index_computed and index in extra_columns
    if computed:
        extra_columns = tuple(c for c in extra_columns if c != index)
    if spec.layout == NESTED:
        raw = _read_raw(spec, unit, [back.get(c, c) for c in ["source_id", "lc", *extra_columns]])
        lc = raw.column(back.get("lc", "lc")).combine_chunks()
        sub_names = {canon: back.get(canon, canon) for canon in epoch_cols}
        lengths = pc.list_value_length(lc.field(sub_names["time"])).fill_null(0)
        for canon in epoch_cols[1:]:
            other = pc.list_value_length(lc.field(sub_names[canon])).fill_null(0)
            if not pc.all(pc.equal(lengths, other)).as_py():
                raise InputError(
                    f"{unit.label}: lists {sub_names['time']!r} and {sub_names[canon]!r} of the "
                    f"light-curve column differ in length for some sources"
                )
        parents = pc.list_parent_indices(lc.field(sub_names["time"]))
        # A source with no epochs becomes one all-null epoch, so cleaning records it as a
        # failure instead of it vanishing from the row accounting.
        empty = pc.indices_nonzero(pc.equal(lengths, 0))
        parents = pa.concat_arrays([parents.cast(pa.int64()), empty.cast(pa.int64())])
        columns = {"source_id": raw.column(back.get("source_id", "source_id")).take(parents)}
        for canon in epoch_cols:
            flat = pc.list_flatten(lc.field(sub_names[canon]))
            columns[canon] = pa.concat_arrays([flat, pa.nulls(len(empty), flat.type)])
        for col in extra_columns:
            columns[col] = raw.column(back.get(col, col)).take(parents)
        table = pa.table(columns)
    else:
        names = ["source_id", *epoch_cols, *extra_columns]
        raw = _read_raw(spec, unit, [back.get(c, c) for c in names])
        table = raw.rename_columns(names)
    if computed:
        table = table.append_column(index, spatial_index(table, unit.label))
    return _canonical_types(table, unit)


def _canonical_types(table: pa.Table, unit: ReadUnit) -> pa.Table:
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if name in ("time", "mag", "mag_err"):
            col = col.cast(pa.float64())
        elif name == "band" or pa.types.is_large_string(col.type):
            col = col.cast(pa.string())
        elif name == "source_id" and pa.types.is_int32(col.type):
            col = col.cast(pa.int64())
        cols[name] = col
    table = pa.table(cols)
    n_null = table.column("source_id").null_count
    if n_null:
        raise InputError(f"{unit.label}: {n_null} rows have a null source_id")
    return table


@dataclass(frozen=True)
class UnitSummary:
    """What planning needs from one unit: epochs per source and non-constant extra columns."""

    counts: pa.Table  # source_id, n[, spatial index]
    varying_columns: tuple[str, ...]
    schema: pa.Schema  # canonical types of the unit's columns


def summarize_unit(spec: InputSpec, unit: ReadUnit) -> UnitSummary:
    """Read a unit fully (so corrupt pages surface now) and count epochs per source."""
    table = read_unit(spec, unit, spec.extra_columns)
    grouped = table.group_by("source_id")
    index = position_columns().spatial_index
    with_index = index in table.column_names  # a source's position decides its partition
    counts = grouped.aggregate(
        [("time", "count", pc.CountOptions(mode="all"))] + ([(index, "min")] if with_index else [])
    )
    counts = counts.rename_columns(["source_id", "n"] + ([index] if with_index else []))
    varying = []
    if spec.layout == LONG and spec.extra_columns:
        distinct = grouped.aggregate(
            [(c, "count_distinct", pc.CountOptions(mode="all")) for c in spec.extra_columns]
        )
        for col in spec.extra_columns:
            if pc.max(distinct.column(f"{col}_count_distinct")).as_py() > 1:
                varying.append(col)
    return UnitSummary(counts, tuple(varying), table.schema)
