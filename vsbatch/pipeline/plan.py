"""The plan of a run: its partitions, carried columns and models, fixed before any work.

Both routes build one: a light-curve run from pass 1 over its input (every unit validated and
counted), a catalog-parameters run from the table itself. The plan is written to the run's
staging folder first, so ``--resume`` finds it and checks that the input and configuration
are still those of the interrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from vsbatch.cluster import Runner
from vsbatch.config import RunConfig
from vsbatch.errors import InputError, UsageError
from vsbatch.io.catalog import Manifest, write_json_atomic
from vsbatch.io.hats import HATS, HIVE, PixelTree, spatial_layout
from vsbatch.io.inputs import InputSpec, ReadUnit, UnitSummary, read_units, summarize_unit
from vsbatch.partitioning import PartitionTree, partition_bound, source_keys
from vsbatch.pipeline.progress import Progress
from vsbatch.schema import position_columns
from vsbatch.stages.models import ModelRef

log = logging.getLogger("vsbatch")

# Inside a run's staging folder (<catalog>/<STAGING_DIR>/<run id>/):
PLAN_FILE = "plan.json"
SHUFFLE_DONE = "shuffle.done"  # every input unit is split into partition pieces
JOURNAL_DIR = "journal"  # a record per finished partition
OUT_DIR = "out"  # partition files, moved into the catalog at commit
FAILED_DIR = "failures"  # failure records per partition
FEATURES_DIR = "features"  # partitions waiting for their model task
# fingerprint prefix of a partition whose task crashed (--keep-going): --update and --resume
# recompute it (a lost worker is no property of its light curves)
CRASHED = "crashed:"


@dataclass(frozen=True)
class RunPlan:
    """Everything a run decided before its first task, as written to ``plan.json``."""

    run_id: str
    input_files: list[list]  # [path, size, sha256]
    config: dict
    tree: list[str]
    carried: list[str]
    carried_types: list[str]
    source_id_type: str
    n_sources: int
    partition_epochs: dict[str, int]
    read_failures: list[list[str]]  # [file, reason]
    carried_input_names: list[str]  # the carried columns as named in the input
    models: list[dict]  # ModelRef fields of every model the run applies
    run_hash: str  # config + vsbatch version + model weights: what --update compares
    layout: str = HIVE  # HATS when sources carry positions: HEALPix-pixel partitions

    @property
    def partition_tree(self) -> PartitionTree | PixelTree:
        return tree_type(self.layout).from_json(self.tree)

    @property
    def model_refs(self) -> list[ModelRef]:
        return [ModelRef(**{**m, "class_names": tuple(m.get("class_names", ()))})
                for m in self.models]  # fmt: skip


def tree_type(layout: str) -> type[PartitionTree] | type[PixelTree]:
    """The partition tree class of a catalog layout."""
    return PixelTree if layout == HATS else PartitionTree


def run_hash(config: RunConfig, models: list[ModelRef]) -> str:
    """What ``--update`` and ``--resume`` compare: the options and every model's weights."""
    return config.content_hash(tuple(m.sha256 for m in models))


def new_plan(
    config: RunConfig,
    models: list[ModelRef],
    tree: PartitionTree | PixelTree,
    keys: np.ndarray,
    costs: np.ndarray,
    **input_fields: object,
) -> RunPlan:
    """A plan with a fresh run id over ``tree``, whose partitions cost the sum of their
    sources' ``costs`` (sources placed by ``keys``); ``input_fields`` describe the input."""
    leaf = tree.assign(keys)
    totals = np.bincount(leaf, weights=costs, minlength=len(tree.names))
    return RunPlan(
        run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8],
        config=config.to_dict(),
        tree=tree.to_json(),
        partition_epochs={tree.names[i]: int(totals[i]) for i in np.flatnonzero(np.bincount(leaf))},
        models=[asdict(m) for m in models],
        run_hash=run_hash(config, models),
        **input_fields,
    )


def _file_sha256(spec: InputSpec, path: str) -> str:
    h = hashlib.sha256()
    with spec.filesystem.open_input_stream(path) as stream:
        while block := stream.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def input_identity(spec: InputSpec) -> list[list]:
    """Each input file's path, size and content sha256: ``--resume`` refuses an input that
    changed. Why the content and not the size: a file rewritten to the same size with other
    rows would otherwise lose sources silently (one more read of the input, at planning)."""
    return [[p, spec.filesystem.get_file_info(p).size, _file_sha256(spec, p)] for p in spec.files]


def write_plan(plan: RunPlan, staging: Path) -> None:
    write_json_atomic(dict(plan.__dict__), staging / PLAN_FILE)


def load_plan(staging_root: Path) -> RunPlan | None:
    """The plan of the interrupted run under ``staging_root``, if any."""
    plans = sorted(staging_root.glob(f"*/{PLAN_FILE}")) if staging_root.exists() else []
    if not plans:
        return None
    return RunPlan(**json.loads(plans[-1].read_text()))


def check_resumable(plan: RunPlan, spec: InputSpec, config: RunConfig, hashed: str) -> None:
    if RunConfig.from_dict(plan.config) != config or plan.run_hash != hashed:
        raise UsageError("--resume: the interrupted run used another configuration")
    if plan.input_files != (now := input_identity(spec)):
        raise UsageError(f"--resume: {_input_change(plan.input_files, now)} since the "
                         "interrupted run; start again with --overwrite")  # fmt: skip


def _input_change(before: list[list], after: list[list]) -> str:
    """What differs between two input identities, in words."""
    old, new = {f[0]: f[1:] for f in before}, {f[0]: f[1:] for f in after}
    if added := sorted(set(new) - set(old)):
        return f"{added[0]} was added to the input ({len(added)} files)"
    if removed := sorted(set(old) - set(new)):
        return f"{removed[0]} was removed from the input ({len(removed)} files)"
    path = next(p for p in sorted(new) if new[p] != old[p])
    if new[path][0] != old[path][0]:
        return f"{path} changed size ({old[path][0]} -> {new[path][0]} bytes)"
    return f"{path} changed content (same size, another sha256)"


# --- pass 1 of a light-curve run ------------------------------------------------------------


def _summarize_task(unit: ReadUnit, spec: InputSpec) -> UnitSummary:
    return summarize_unit(spec, unit)


def plan_light_curves(
    runner: Runner,
    spec: InputSpec,
    skipped: list[tuple[str, str]],
    config: RunConfig,
    models: list[ModelRef],
    previous: Manifest | None,
    keep_going: bool,
) -> RunPlan:
    """Pass 1: validate and count every unit, then fix partitions and carried columns
    (UsageError when ``--type-column`` is not constant per source, so not carried).

    With ``previous`` (``--update``) its partitions are kept, split only where too costly.
    """
    summaries, read_failures = _summarize_units(runner, spec, skipped, keep_going)
    counts = [s.counts for s in summaries if s.counts.num_rows]
    if not counts:
        raise InputError(f"{spec.source}: the input holds no light-curve rows")
    varying = set().union(*(s.varying_columns for s in summaries))
    if varying:
        log.warning("columns not constant per source, ignored: %s", ", ".join(sorted(varying)))
    if spec.ignored_fields:
        log.warning("input fields ignored: %s", ", ".join(spec.ignored_fields))
    carried_in = [c for c in spec.extra_columns if c not in varying]
    carried = [spec.output_name(c) for c in carried_in]
    if config.type_column is not None and config.type_column not in carried:
        raise UsageError(
            f"{spec.source}: --type-column {config.type_column!r} varies within a "
            "source, so it is not carried as a per-source column"
        )
    if previous is not None and previous.carried_columns != carried:
        log.info("--update: the carried input columns changed (%s -> %s): every partition is "
                 "recomputed", previous.carried_columns, carried)  # fmt: skip
    layout = spatial_layout(carried)
    keys, costs = _source_costs(counts, layout)
    bound = partition_bound(int(costs.sum()), config.partition_epochs)
    tree = _light_curve_tree(spec, layout, keys, costs, bound, previous)
    schema = summaries[0].schema
    return new_plan(
        config, models, tree, keys, costs,
        input_files=input_identity(spec),
        carried=carried,
        carried_types=[str(schema.field(c).type) for c in carried_in],
        source_id_type=str(schema.field("source_id").type),
        n_sources=len(costs),
        read_failures=read_failures,
        carried_input_names=carried_in,
        layout=layout,
    )  # fmt: skip


def _summarize_units(
    runner: Runner, spec: InputSpec, skipped: list[tuple[str, str]], keep_going: bool
) -> tuple[list[UnitSummary], list[list[str]]]:
    """Every readable unit's summary, and the [file, reason] of every unreadable one
    (``--keep-going``; else the first bad unit's InputError is raised)."""
    units = read_units(spec)
    progress = Progress("read", len(units))
    summaries, read_failures = [], [list(s) for s in skipped]
    for unit, result, error in runner.map_unordered(_summarize_task, units, spec):
        progress.step()
        if error is None:
            summaries.append(result)
        elif not isinstance(error, InputError):
            raise RuntimeError(f"{unit.label}: {type(error).__name__}: {error}") from error
        elif keep_going:
            log.warning("skipped (--keep-going): %s", error)
            read_failures.append([unit.path, str(error)])
        else:
            raise error
    return summaries, read_failures


def _source_costs(counts: list[pa.Table], layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Per source, sorted by id: its partitioning key and its epoch count."""
    index = position_columns().spatial_index
    sums = [("n", "sum")] + ([(index, "min")] if layout == HATS else [])
    table = pa.concat_tables(counts).group_by("source_id").aggregate(sums)
    table = table.sort_by("source_id")
    if layout == HATS:
        keys = table.column(f"{index}_min").to_numpy()
    else:
        keys = source_keys(table.column("source_id"))
    return keys, table.column("n_sum").to_numpy()


def _light_curve_tree(
    spec: InputSpec,
    layout: str,
    keys: np.ndarray,
    costs: np.ndarray,
    bound: int,
    previous: Manifest | None,
) -> PartitionTree | PixelTree:
    if previous is not None and previous.layout == layout:
        return tree_type(layout).from_json(previous.partition_tree).refine(keys, costs, bound)
    if layout == HATS:  # a HATS input's pixels (none for other inputs), split where too costly
        return PixelTree(spec.pixels).refine(keys, costs, bound)
    return PartitionTree.build(keys, costs, bound)
