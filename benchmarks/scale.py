"""Scale runs (``python -m benchmarks scale N``): a seeded catalog of ``N`` synthetic sources
on real cadences, run end to end, with throughput and the peak memory of every worker process.

Why: a survey user needs to know that 10^6 sources fit a laptop and what 10^8 cost on a
cluster, and that a worker's memory is bounded by the partition size, not by the catalog. The
catalog is written in parts of ``PART_SOURCES`` sources, so generation itself is bounded and
resumable; the run uses ``--resume`` semantics, so a scale run may span sessions.

Cadences: real time stamps and real (mag, err) pairs of real stars, all their bands together
(the shared data folder: ASAS I, EROS-1 B+R, MACHO R+B, OGLE bulge I, SDSS Stripe 82 ugriz;
windows of at most ``MAX_TEMPLATE_EPOCHS`` epochs), each survey drawn equally often, so the
epoch counts, gaps, band mixes and error distributions are surveys' (median about 280 epochs
per source). Signals: 60 % periodic (RRab-like, sinusoid, eclipsing; periods log-uniform
0.1-10 d, amplitudes 0.05-1 mag, the same in every band), 40 % constant; each point scattered
by an error looked up from its band's real (mag, err) pairs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.shared_data import SHARED_LIGHT_CURVES, shared_data_dir
from benchmarks.workloads import SHAPES, periodic_shape
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import write_parquet_atomic
from vsbatch.schema import STAGING_DIR
from vsbatch.training.injection import Cadences, ErrorLookup

PART_SOURCES = 20_000
GENERATOR_VERSION = 2  # in the input folder's name: parts of another generator are not reused
MAX_TEMPLATE_EPOCHS = 600
PERIODIC_FRACTION = 0.6
# an error is one of the 10 real (mag, err) pairs nearest in magnitude (bands hold 10^4-10^6)
ERROR_NEIGHBOURS = 10
CONFIGS = {
    "default": RunConfig(),
    # a first pass over a large archive: statistics, period + Baluev FAP and Fourier parameters
    # up to 5 c/d (no multiband period, frequency analysis, dm-dt, PDM or models)
    "light": RunConfig(fmax=5.0, stages=("stats", "period", "fourier")),
}
TEMPLATE_FILES = tuple(SHARED_LIGHT_CURVES.values())


@dataclass(frozen=True)
class Templates:
    """Windows of real stars' cadences, all bands together, and each band's error look-up.

    Per window: time from 0, the band of each epoch and that band's real median magnitude
    (the synthetic signal is added to it), and which survey (input table) it came from.
    """

    times: list[np.ndarray]
    bands: list[np.ndarray]
    bases: list[np.ndarray]
    surveys: np.ndarray
    lookups: dict[str, ErrorLookup]

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` window indices: a survey uniformly, then one of its windows uniformly.

        Why: drawing windows uniformly would let the survey with the most stars set the
        cadence; surveys weighted equally give a mix of epoch counts like a multi-survey archive.
        """
        order = np.argsort(self.surveys, kind="stable")
        sizes = np.bincount(self.surveys)
        present = np.flatnonzero(sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)])[present]
        survey = rng.integers(0, present.size, n)
        within = (rng.uniform(size=n) * sizes[present][survey]).astype(np.int64)
        return order[starts[survey] + within]


LONG_COLUMNS = ["source_id", "time", "mag", "mag_err", "band"]
_LONG_SCHEMA = pa.schema([("source_id", pa.string()), ("time", pa.float64()),
                          ("mag", pa.float64()), ("mag_err", pa.float64()),
                          ("band", pa.string())])  # fmt: skip


def load_templates(tables: list[pa.Table], max_epochs: int = MAX_TEMPLATE_EPOCHS) -> Templates:
    """Templates from long tables, one survey per table; a star observed longer than
    ``max_epochs`` epochs (all bands counted) gives several consecutive windows."""
    times, bands, bases, surveys, pairs = [], [], [], [], {}
    for survey, table in enumerate(tables):
        cadences = Cadences.from_table(table.select(LONG_COLUMNS).cast(_LONG_SCHEMA))
        for band, lookup in cadences.lookups.items():
            pairs.setdefault(band, []).append(lookup)
        ids = np.array(cadences.ids, dtype=object)
        first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for lo, hi in zip(first, np.r_[first[1:], ids.size], strict=True):
            segments = [cadences.lcs.segment(i) for i in range(lo, hi)]
            t = np.concatenate([seg[0] for seg in segments])
            band = np.repeat(np.array(cadences.bands[lo:hi], dtype=object),
                             [seg[0].size for seg in segments])  # fmt: skip
            base = np.concatenate([np.full(seg[1].size, np.median(seg[1])) for seg in segments])
            order = np.argsort(t, kind="stable")
            for w in range(0, t.size, max_epochs):
                window = order[w : w + max_epochs]
                if window.size >= 20:
                    times.append(t[window] - t[window[0]])
                    bands.append(band[window])
                    bases.append(base[window])
                    surveys.append(survey)
    lookups = {
        band: ErrorLookup.from_pairs(
            np.concatenate([lk.mag for lk in found]), np.concatenate([lk.err for lk in found])
        )
        for band, found in pairs.items()
    }
    return Templates(times, bands, bases, np.array(surveys, dtype=np.int64), lookups)


def shared_templates(data_dir: str | Path | None = None) -> Templates:
    """The real cadences of the shared data folder (the sets in :data:`TEMPLATE_FILES`)."""
    data = shared_data_dir(data_dir)
    return load_templates([pq.read_table(data / f, columns=LONG_COLUMNS) for f in TEMPLATE_FILES])


def _part(templates: Templates, first: int, n: int, seed: int) -> pa.Table:
    """Sources ``first .. first + n - 1``: the same seed and index give the same epochs."""
    rng = np.random.default_rng([seed, first])
    pick = templates.draw(rng, n)
    counts = np.array([templates.times[k].size for k in pick])
    time = np.concatenate([templates.times[k] for k in pick]) + np.repeat(
        rng.uniform(0, 1000, n), counts
    )
    base = np.concatenate([templates.bases[k] for k in pick])
    band = np.concatenate([templates.bands[k] for k in pick])
    periodic = rng.uniform(size=n) < PERIODIC_FRACTION
    shape = rng.integers(0, len(SHAPES), n)
    period = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n))
    amplitude = rng.uniform(0.05, 1.0, n) * periodic
    phase0 = rng.uniform(size=n)
    seg = np.repeat(np.arange(n), counts)
    phase = (time / period[seg] + phase0[seg]) % 1.0
    signal = np.zeros(time.size)
    for s, name in enumerate(SHAPES):
        rows = shape[seg] == s
        signal[rows] = periodic_shape(name, phase[rows])
    clean = base + amplitude[seg] * signal
    err = np.empty(time.size)
    for name, lookup in templates.lookups.items():
        rows = band == name
        err[rows] = lookup.draw(clean[rows], rng, k=ERROR_NEIGHBOURS)
    ids = np.array([f"scale-{seed}-{first + j:09d}" for j in range(n)], dtype=object)
    return pa.table({
        "source_id": pa.array(np.repeat(ids, counts), pa.string()),
        "time": time,
        "mag": clean + rng.normal(0.0, err),
        "mag_err": err,
        "band": pa.array(band, pa.string()),
    })  # fmt: skip


def make_scale_catalog(
    templates: Templates, n_sources: int, out_dir: str | Path, seed: int = 0
) -> list[Path]:
    """Write (or complete) ``n_sources`` sources as ``part-NNNNN.parquet`` files of
    :data:`PART_SOURCES` sources; existing parts are kept (generation resumes)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for k, first in enumerate(range(0, n_sources, PART_SOURCES)):
        path = out / f"part-{k:05d}.parquet"
        if not path.exists():
            part = _part(templates, first, min(PART_SOURCES, n_sources - first), seed)
            write_parquet_atomic(part, path)
        files.append(path)
    return files


class _MemorySampler:
    """Peak resident memory of this process and each of its descendants (worker processes)."""

    def __init__(self, interval: float = 0.5) -> None:
        import psutil

        self._psutil, self.interval = psutil, interval
        self.peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = self._psutil.Process()
        while not self._stop.is_set():
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    name = "driver" if proc.pid == me.pid else " ".join(proc.cmdline()[-2:])
                except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                    continue
                if rss > self.peaks.get(proc.pid, ("", 0))[1]:
                    self.peaks[proc.pid] = (name, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class ScaleReport:
    """What a scale run measured (also written as ``scale_report.json`` beside the catalog)."""

    n_sources: int
    config: str
    workers: int
    light_curves: int
    failures: int
    partitions: int
    partitions_computed: int
    wall_seconds: float
    sources_per_second: float
    driver_peak_mib: float
    worker_peak_mib: float  # the largest peak of any worker process
    partition_epochs: int
    median_epochs_per_source: float  # input epochs, all bands (failed sources not counted)
    core_hours_per_1e8: float  # workers x wall, scaled linearly to 10^8 sources
    resumed: bool

    def text(self) -> str:
        return (
            f"scale run: {self.n_sources:,} sources ({self.config} configuration), "
            f"{self.workers} workers: {self.light_curves:,} light curves, {self.failures} "
            f"failure records, {self.partitions} partitions ({self.partitions_computed} "
            f"computed this time); {self.wall_seconds:,.0f} s wall, "
            f"{self.sources_per_second:,.1f} sources/s; peak memory: worker "
            f"{self.worker_peak_mib:,.0f} MiB, driver {self.driver_peak_mib:,.0f} MiB "
            f"(partitions of {self.partition_epochs:,} epochs; median "
            f"{self.median_epochs_per_source:,.0f} epochs per source); "
            f"{self.core_hours_per_1e8:,.0f} core-hours per 10^8 sources"
            + (" [resumed: wall time is this session's part only]" if self.resumed else "")
        )


def _median_epochs(catalog: Path) -> float:
    from vsbatch.query import query

    sql = "SELECT median(n) FROM (SELECT sum(n_input) AS n FROM catalog GROUP BY source_id)"
    return float(query(catalog, sql).column(0)[0].as_py())


def run_scale(
    n_sources: int,
    workdir: str | Path,
    *,
    config: str = "default",
    workers: int = 2,
    templates: Templates | None = None,
    data_dir: str | Path | None = None,
    seed: int = 0,
) -> ScaleReport:
    """Generate (or reuse) the catalog of ``n_sources`` sources in ``workdir`` and run it.

    An interrupted run is resumed (``--resume``) on the next call with the same arguments.
    """
    from vsbatch.pipeline import run

    work = Path(workdir)
    templates = templates or shared_templates(data_dir)
    source = work / f"input-{n_sources}-seed{seed}-g{GENERATOR_VERSION}"
    make_scale_catalog(templates, n_sources, source, seed)
    output = work / f"catalog-{n_sources}-{config}"
    resume = (output / STAGING_DIR).exists()
    if output.exists() and not resume:
        shutil.rmtree(output)
    run_config = CONFIGS[config]
    with _MemorySampler() as memory:
        summary = run(str(source), output, run_config, ClusterSpec(workers=workers),
                      resume=resume)  # fmt: skip
    driver = max((rss for name, rss in memory.peaks.values() if name == "driver"), default=0)
    worker = max((rss for name, rss in memory.peaks.values() if name != "driver"), default=0)
    wall = summary.wall_seconds
    report = ScaleReport(
        n_sources=n_sources, config=config, workers=workers,
        light_curves=summary.light_curves, failures=summary.failures,
        partitions=summary.partitions, partitions_computed=summary.partitions_computed,
        wall_seconds=round(wall, 1), sources_per_second=round(n_sources / wall, 2),
        driver_peak_mib=round(driver / 2**20, 1), worker_peak_mib=round(worker / 2**20, 1),
        partition_epochs=run_config.partition_epochs,
        median_epochs_per_source=_median_epochs(output),
        core_hours_per_1e8=round(workers * wall / 3600 * 1e8 / n_sources, 1), resumed=resume,
    )  # fmt: skip
    (output / "scale_report.json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks scale N [--light] [--workdir DIR] [--workers 2] [--data DIR]``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks scale")
    p.add_argument("n_sources", type=int, help="number of sources")
    p.add_argument(
        "--light", action="store_true", help="fmax 5 c/d; stats, period and Fourier stages only"
    )
    p.add_argument("--workdir", default="vsbatch-scale", help="input and catalog folder")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data", help="folder of the real cadences (default: the shared data)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    started = time.monotonic()
    report = run_scale(args.n_sources, args.workdir, config="light" if args.light else "default",
                       workers=args.workers, data_dir=args.data, seed=args.seed)  # fmt: skip
    print(report.text())
    print(f"(including generation: {time.monotonic() - started:,.0f} s)")
    return 0
