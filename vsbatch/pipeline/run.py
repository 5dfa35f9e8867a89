"""``vsbatch run``: plan partitions, map the stages over them with Dask, commit the catalog.

Three passes over a light-curve input, each a set of independent tasks:

1. *summarize* each input unit (validates every value it reads, counts epochs per source);
   the driver builds the partition tree from the counts;
2. *shuffle* each unit into per-partition pieces in the staging folder;
3. *process* each partition (clean → stages) into a staged Parquet file.

The driver journals every finished partition, so ``--resume`` after a crash redoes only what
is missing, and commits by moving files into place and writing the manifest last. A
catalog-parameters input (one row per source, no epochs) given with models goes to
:func:`vsbatch.pipeline.catalog_route.classify_catalog` instead.
"""

from __future__ import annotations

import glob
import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vsbatch.cluster import ClusterSpec, open_runner
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.io.catalog import (
    Catalog,
    check_output_state,
    open_catalog,
    output_lock,
    read_manifest,
)
from vsbatch.io.catalog_tables import is_catalog_parameters
from vsbatch.io.inputs import InputSpec, open_input
from vsbatch.period_backends import resolve_backend
from vsbatch.pipeline.catalog_route import CatalogClassification, run_catalog_parameters
from vsbatch.pipeline.commit import collect_failures, commit_plan, storage_errors
from vsbatch.pipeline.partitions import process, shuffle
from vsbatch.pipeline.plan import (
    SHUFFLE_DONE,
    check_resumable,
    load_plan,
    plan_light_curves,
    run_hash,
    write_plan,
)
from vsbatch.schema import STAGING_DIR
from vsbatch.stages.models import resolve_models

log = logging.getLogger("vsbatch")


@dataclass(frozen=True)
class RunSummary:
    """What ``vsbatch run`` reports at the end."""

    catalog: Path
    run_id: str
    sources: int
    light_curves: int
    failures: int
    partitions: int
    partitions_computed: int
    wall_seconds: float

    @property
    def sources_per_second(self) -> float:
        return self.sources / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    def text(self) -> str:
        return (
            f"vsbatch run {self.run_id}: {self.sources} sources, {self.light_curves} light curves "
            f"in the catalog, {self.failures} failure records, {self.partitions} partitions "
            f"({self.partitions_computed} computed), {self.wall_seconds:.1f} s wall, "
            f"{self.sources_per_second:.1f} sources/s -> {self.catalog}"
        )


def run(
    source: str,
    output: str | Path,
    config: RunConfig | None = None,
    cluster: ClusterSpec | None = None,
    resume: bool = False,
    overwrite: bool = False,
    update: bool = False,
    keep_going: bool = False,
) -> RunSummary | CatalogClassification:
    """Run the stages over every light curve of ``source`` and commit a catalog at ``output``.

    With models, a catalog-parameters ``source`` (one row per source, no epochs) is classified
    instead (:func:`vsbatch.pipeline.catalog_route.classify_catalog`); options that route
    does not use are refused. Either result's ``text()`` is the command's summary line.

    Raises InputError (bad input, exit code 2) or UsageError (exit code 2) before any work
    is done when the input or the output folder cannot be used.
    """
    started = time.monotonic()
    config = config or RunConfig()
    if config.models and is_catalog_parameters(source):
        modes = {"resume": resume, "overwrite": overwrite, "update": update}
        return run_catalog_parameters(source, output, config, cluster, **modes,
                                      keep_going=keep_going)  # fmt: skip
    root = Path(output)
    check_output_state(root, resume, overwrite, update)
    resolve_backend(config.period_backend, np.zeros(0, dtype=np.int64))
    _check_output_apart(source, root)
    spec, skipped = _open_light_curves(source, config, keep_going)
    models = resolve_models(config.models)
    hashed = run_hash(config, models)
    with output_lock(root):  # held to the commit; a second run on this output is refused
        check_output_state(root, resume, overwrite, update)  # one may have ended meanwhile
        previous = read_manifest(root)
        staging_root = root / STAGING_DIR
        plan = load_plan(staging_root) if resume else None
        if plan is not None:
            check_resumable(plan, spec, config, hashed)
        elif resume and previous is not None and staging_root.exists() is False:
            if previous.config_hash != hashed:
                raise UsageError(f"{root}: committed with another configuration; use --overwrite")
            log.info("%s: nothing to resume, the catalog is complete", root)
            return _summary_of(open_catalog(root), started, computed=0)
        if plan is None and staging_root.exists():
            shutil.rmtree(staging_root)
        reuse = {}
        if update and previous is not None and previous.config_hash == hashed:
            reuse = {p.name: p for p in previous.partitions}

        with storage_errors(root):
            with open_runner(cluster or ClusterSpec()) as runner:
                if runner.dashboard_link:
                    log.info("dashboard: %s", runner.dashboard_link)
                if plan is None:
                    plan = plan_light_curves(runner, spec, skipped, config, models,
                                             previous if update else None, keep_going)  # fmt: skip
                    write_plan(plan, staging_root / plan.run_id)
                staging = staging_root / plan.run_id
                spec = replace(spec, extra_columns=tuple(plan.carried_input_names))
                if not (staging / SHUFFLE_DONE).exists():
                    shuffle(runner, spec, plan, staging)
                records, computed = process(runner, plan, staging, reuse, keep_going)

            failures = collect_failures(plan, staging, records, root, previous, reuse)
            stats = {
                "input_sources": plan.n_sources,
                "wall_seconds_last_run": round(time.monotonic() - started, 3),
                "partitions_computed_last_run": computed,
            }
            commit_plan(root, source, plan, staging, records, failures, stats)
        return _summary_of(open_catalog(root), started, computed)


def _check_output_apart(source: str, root: Path) -> None:
    """UsageError when the output lies inside a local input folder or an input path (a glob
    match) inside the output: a rerun would read the catalog's own files as light curves."""
    if "://" in source:
        return
    out = root.resolve()
    if Path(source).is_dir() and out.is_relative_to(Path(source).resolve()):
        raise UsageError(
            f"{root}: the output is inside the input folder {source}; a rerun would read the "
            "catalog as input: choose an output outside it"
        )
    paths = glob.glob(source, recursive=True) if any(c in source for c in "*?[") else [source]
    inside = [p for p in paths if Path(p).resolve().is_relative_to(out)]
    if inside:
        raise UsageError(f"{inside[0]}: an input file inside the output {root}; choose an input "
                         "that does not include the catalog")  # fmt: skip


def _open_light_curves(
    source: str, config: RunConfig, keep_going: bool
) -> tuple[InputSpec, list[tuple[str, str]]]:
    """The validated input and its unreadable files; UsageError if ``--type-column`` names
    no per-source column of it."""
    spec, skipped = open_input(source, config.column_map, keep_going)
    per_source = [spec.output_name(c) for c in spec.extra_columns]
    if config.type_column is not None and config.type_column not in per_source:
        raise UsageError(
            f"{source}: --type-column {config.type_column!r} is not a column of the input "
            f"(per-source columns: {', '.join(per_source) or 'none'})"
        )
    return spec, skipped


def _summary_of(catalog: Catalog, started: float, computed: int) -> RunSummary:
    m = catalog.manifest
    return RunSummary(
        catalog=catalog.root,
        run_id=m.run_id,
        sources=m.stats.get("input_sources", 0),
        light_curves=sum(p.rows for p in m.partitions),
        failures=m.failures_rows,
        partitions=len([p for p in m.partitions if p.input_epochs]),
        partitions_computed=computed,
        wall_seconds=time.monotonic() - started,
    )
