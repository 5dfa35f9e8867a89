"""Training shards: a labelled input cut into per-partition Parquet files by a run's passes.

Why here and not in training: training data must see exactly the epochs and partitions a run
sees, and a big input must be cut in parallel on the run's cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa

from vsbatch._version import __version__
from vsbatch.cluster import ClusterSpec, open_runner
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.io.catalog import write_json_atomic, write_parquet_atomic
from vsbatch.io.inputs import open_input
from vsbatch.io.staging import read_pieces
from vsbatch.pipeline.partitions import shuffle
from vsbatch.pipeline.plan import RunPlan, plan_light_curves
from vsbatch.pipeline.progress import Progress
from vsbatch.schema import STAGING_DIR

SHARDS_FILE = "_shards.json"


@dataclass(frozen=True)
class ShardSet:
    """Training shards written by :func:`build_shards`: one Parquet file per partition."""

    root: Path
    files: tuple[Path, ...]
    rows: int
    sources: int


def _shard_task(
    name: str, plan: RunPlan, staging: str, out_dir: str, make_shard: Callable
) -> tuple[str | None, int]:
    table = read_pieces(Path(staging), name)
    rows = make_shard(table, name)
    if rows.num_rows == 0:
        return None, 0
    file = f"shard-{name}.parquet"
    write_parquet_atomic(rows, Path(out_dir) / file)
    return file, rows.num_rows


def build_shards(
    source: str,
    out_dir: str | Path,
    make_shard: Callable[[pa.Table, str], pa.Table],
    config: RunConfig | None = None,
    cluster: ClusterSpec | None = None,
) -> ShardSet:
    """Training shards of a labelled catalog, built by the same passes as ``vsbatch run``.

    The input is validated, partitioned and shuffled as for a run; then
    ``make_shard(epochs, partition)`` (picklable: a module-level function or a
    ``functools.partial`` of one) turns each partition's long table (canonical columns plus
    the per-source columns carried from the input, e.g. the label) into shard rows, written as
    ``shard-<partition>.parquet`` with ``_shards.json`` listing them last.
    """
    config = config or RunConfig()
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root}: shard folder exists and is not empty")
    spec, skipped = open_input(source, config.column_map, keep_going=False)
    staging_root = root / STAGING_DIR
    with open_runner(cluster or ClusterSpec()) as runner:
        plan = plan_light_curves(runner, spec, skipped, config, [], None, keep_going=False)
        staging = staging_root / plan.run_id
        spec = replace(spec, extra_columns=tuple(plan.carried_input_names))
        shuffle(runner, spec, plan, staging)
        todo = [name for name in plan.tree if plan.partition_epochs.get(name)]
        progress = Progress("shards", len(todo))
        files, rows = [], 0
        tasks = runner.map_unordered(_shard_task, todo, plan, str(staging), str(root), make_shard)
        for name, result, error in tasks:
            progress.step()
            if error is not None:
                raise RuntimeError(f"partition {name}: {type(error).__name__}: {error}") from error
            if result[0] is not None:
                files.append(result[0])
                rows += result[1]
    shutil.rmtree(staging_root)
    files.sort()
    write_json_atomic(
        {
            "input": str(source),
            "run_id": plan.run_id,
            "sources": plan.n_sources,
            "rows": rows,
            "files": files,
            "vsbatch_version": __version__,
        },
        root / SHARDS_FILE,
    )
    return ShardSet(root, tuple(root / f for f in files), rows, plan.n_sources)
