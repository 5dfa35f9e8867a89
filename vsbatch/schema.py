"""The one place that turns the declarations in ``schemas/*.json`` into Arrow schemas.

Column names, types, units and descriptions live in ``schemas/`` (installed as
``vsbatch.schemas``); file and folder names of the catalog layout live here. Code, docs,
``vsbatch schema`` and validation all read these.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

# Catalog layout (see README "Catalog layout"): anything starting with "_" or "." is not table data.
MANIFEST_FILE = "_manifest.json"
STAGING_DIR = "_staging"
PARTITION_KEY = "part"
DATA_FILE_SUFFIX = ".parquet"
FAILURES_GLOB = "_failures*" + DATA_FILE_SUFFIX
LOCK_FILE = "_lock"
READERS_FILE = "_readers"  # shared-locked by readers: a commit then keeps what it supersedes


def failures_file(run_id: str) -> str:
    """A run's failures table, named with its run id: a commit never replaces the file the
    current manifest points to, so the manifest stays the one atomic switch."""
    return f"_failures-{run_id}{DATA_FILE_SUFFIX}"


_STRING = pa.string()
_ARROW_TYPES = {
    "float64": pa.float64(),
    "float32": pa.float32(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "int16": pa.int16(),
    "int8": pa.int8(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "list<float64>": pa.list_(pa.float64()),
    "list<float32>": pa.list_(pa.float32()),
}


@dataclass(frozen=True)
class Column:
    """One declared column."""

    name: str
    type: str
    unit: str
    description: str
    stage: str = ""

    def arrow_type(self, source_id_type: pa.DataType = _STRING) -> pa.DataType:
        return source_id_type if self.type == "source_id" else _ARROW_TYPES[self.type]


@dataclass(frozen=True)
class TableSchema:
    """A declared table: its columns in order, and its description."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{name!r} is not a column of the {self.name} table")

    def arrow(self, source_id_type: pa.DataType = _STRING) -> pa.Schema:
        fields = []
        for c in self.columns:
            meta = {"unit": c.unit, "description": c.description}
            fields.append(pa.field(c.name, c.arrow_type(source_id_type), metadata=meta))
        return pa.schema(fields)

    def for_stages(self, stages: set[str]) -> TableSchema:
        """The columns produced by the given stages (the catalog of a run)."""
        cols = tuple(c for c in self.columns if c.stage in stages)
        return TableSchema(self.name, self.description, cols)


@cache
def _load(name: str) -> dict:
    text = resources.files("vsbatch.schemas").joinpath(f"{name}.json").read_text("utf-8")
    return json.loads(text)


def _shape(value: object) -> object:
    """A declaration without its prose (descriptions, units): names, types, stages."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("description", "unit")}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


@cache
def output_schema_digest() -> str:
    """Hash of the declared output columns (catalog, failures and model columns; names, types
    and stages, not their prose). Part of a run's content hash: a catalog written before a
    column was added or retyped is recomputed by ``--update`` instead of mixing file layouts."""
    shapes = {name: _shape(_load(name)) for name in ("catalog", "failures", "models")}
    return hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16]


def table_schema(name: str) -> TableSchema:
    """The declared schema of ``catalog``, ``failures`` or ``input``."""
    raw = _load(name)
    cols = []
    for c in raw["columns"]:
        ctype = c.get("type") or c["types"][0]
        cols.append(Column(c["name"], ctype, c["unit"], c["description"], c.get("stage", "")))
    return TableSchema(raw["table"], raw["description"], tuple(cols))


@dataclass(frozen=True)
class InputColumn:
    name: str
    required: bool
    types: tuple[str, ...]
    unit: str
    description: str


def input_columns() -> tuple[InputColumn, ...]:
    """Required and optional columns of an input light-curve table."""
    return tuple(
        InputColumn(c["name"], c["required"], tuple(c["types"]), c["unit"], c["description"])
        for c in _load("input")["columns"]
    )


def nested_column_name() -> str:
    return _load("input")["nested_column"]


@dataclass(frozen=True)
class PositionColumns:
    """Names of the per-source position columns and of their HEALPix spatial index."""

    ra: str
    dec: str
    spatial_index: str
    spatial_index_order: int


def position_columns() -> PositionColumns:
    """The position columns that make a catalog spatial (HATS output, HEALPix partitions)."""
    raw = _load("input")["position_columns"]
    return PositionColumns(raw["ra"], raw["dec"], raw["spatial_index"], raw["spatial_index_order"])


def renamed_on_output() -> dict[str, str]:
    """Input per-source columns renamed in the catalog so they never collide (period)."""
    return dict(_load("input")["renamed_on_output"])


def column_prefix(model_name: str) -> str:
    """How a model's card name prefixes its catalog columns (``catalog-cnn-lstm`` ->
    ``catalog_cnn_lstm``): a SQL identifier without quoting."""
    return model_name.replace("-", "_")


def model_columns(kind: str, name: str, class_names: tuple[str, ...] = ()) -> TableSchema:
    """Catalog columns of a model of ``kind`` whose card calls it ``name``.

    An output declared as ``p_{class}`` becomes one column per class name of the card
    (``hybrid_p_rr_lyrae``, ...), class names lower-cased with non-alphanumerics as ``_``.
    """
    raw = _load("models")
    if kind not in raw["kinds"]:
        raise KeyError(f"no catalog columns declared for model kind {kind!r}")
    prefix = column_prefix(name)
    cols = []
    for o in [*raw["kinds"][kind], raw["version_column"]]:
        names = [o["output"]]
        if "{class}" in o["output"]:
            names = [o["output"].replace("{class}", class_slug(c)) for c in class_names]
        cols += [Column(f"{prefix}_{n}", o["type"], o["unit"], o["description"], "models")
                 for n in names]  # fmt: skip
    return TableSchema(f"model {name}", raw["description"], tuple(cols))


def class_slug(class_name: str) -> str:
    """A class name as it appears in column names: ``RRab`` -> ``rrab``, ``Cep-F`` -> ``cep_f``."""
    return re.sub(r"[^0-9a-z]+", "_", class_name.lower()).strip("_")


def describe(name: str) -> str:
    """A plain-text listing of a table's columns (``vsbatch schema``)."""
    schema = table_schema(name)
    lines = [f"{schema.name}: {schema.description}", ""]
    width = max(len(c.name) for c in schema.columns)
    for c in schema.columns:
        unit = f"[{c.unit}]" if c.unit else ""
        lines.append(f"  {c.name:<{width}}  {c.type:<9} {unit:<7} {c.description}")
    return "\n".join(lines)
