"""``python -m benchmarks bench``: vsbatch side by side with astropy and nifty-ls, per core.

What is measured (all in this process, one thread, on the same seeded workload and the same
frequency grids):

(a) vsbatch ``search_periods`` (``numba`` and ``auto`` backends): periodogram, peaks,
    refinement, Baluev FAP, uncertainties and alias flags;
(b) astropy ``LombScargle`` ``fast`` (and ``cython`` on at most 20 sources) on the identical
    frequency array, plus ``false_alarm_probability(method="baluev")`` of the best peak;
(c) nifty-ls (finufft, one thread) one call per light curve, and batched: many y-vectors on
    one shared cadence in one call (nifty-ls batches need a common time array), with vsbatch
    timed on the very same batch;
(d) vsbatch's per-source feature stages (``process_partition`` on the workload as one
    partition, default ``RunConfig`` except the grid's ``fmax``) against astropy + NumPy doing
    the same steps per source, for the stages the default runs: variability statistics,
    astropy Lomb-Scargle + Baluev FAP, NumPy PDM (when enabled), clipped 10th-order Fourier
    least squares, the PS17 residual-spectrum classification, ``numpy.histogram2d`` dm-dt.
    Stages without a composition are listed in the report, and a "matched" vsbatch row then
    runs only the composed ones;
(e) optionally a whole ``vsbatch.run`` (start-up, Parquet I/O, one worker process) against
    astropy ``fast`` + Baluev alone.

Recovery: the fraction of sources whose best period is within 1e-3 (relative) of the injected
one; for eclipsing binaries half the injected period also counts (Lomb-Scargle finds P/2).

Timing excludes first calls (Numba compilation or cache loading, imports, FFTW plans): every
method is warmed up on a tiny batch first and those seconds are reported separately. Speed
goals are checked here and printed as PASS/FAIL, never asserted by the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.workloads import SHAPES, make_workload, periodic_shape
from vsbatch.config import RunConfig
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.periodogram import FrequencyGrid, frequency_grid
from vsbatch.period_backends import available_backends, resolve_backend, search_periods

RECOVERY_TOLERANCE = 1e-3
RECOVERY_RULE = (
    "recovered if |P_best / P_true - 1| <= 1e-3; for shape 'eclipsing' P_true / 2 also counts "
    "(Lomb-Scargle peaks at half the period of eclipsing binaries)"
)
SAMPLES_PER_PEAK = 5.0
MEDIAN_EPOCHS = 300
BASELINE_DAYS = 3000.0
MAX_PERIOD_DAYS = 10.0
# y-vectors per batched nifty-ls call: of 4 to 200, 8-16 ran fastest here (about 110-130
# curves/s vs 45 for 200 at 150k frequencies; larger batches fall out of cache).
NIFTY_BATCH = 10
WARMUP_SOURCES = 3
WARMUP_FMAX = 1.0  # the compiled code does not depend on the grid: warm up on a short one

# Speed goals (per core, side by side in one run).
TARGET_VS_ASTROPY = 5.0
TARGET_VS_NIFTY_BATCHED = 0.5  # "within 2x" of nifty-ls batched
TARGET_FEATURES = 3.0
TARGET_RUN = 2.0

# Stages the astropy + NumPy composition reproduces (others would run only on the vsbatch side).
# ``multiband`` is a no-op on both sides here: the workload is single-band.
COMPOSABLE_STAGES = ("stats", "period", "multiband", "pdm", "fourier", "freqanalysis", "dmdt")
_PERIOD_COLUMNS = ("period", "ls_period", "best_period", "period_ls")
# NUMBA_NUM_THREADS is left alone: Numba is loaded already and refuses a changed value once its
# threads run; its thread count is set through ``numba.set_num_threads`` instead (and Dask
# workers get it from ``vsbatch.cluster``).
_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass(frozen=True)
class BenchSizes:
    """Sources per measurement; ``loop_budget`` caps the seconds of each slow per-source loop."""

    period: int  # vsbatch, nifty-ls per curve and batched, astropy run comparison pool
    astropy_fast: int
    astropy_cython: int  # at most 20
    features: int  # vsbatch process_partition
    composition: int  # astropy + NumPy composition
    run: int  # whole vsbatch.run
    nnfap_periodogram: int  # curves scored over their GLS grid by NN-FAP
    nnfap_frequencies: int | None  # of each grid (None: all); the rate is extrapolated
    loop_budget: float | None  # seconds per slow per-source loop (None: no cap)


QUICK = BenchSizes(
    period=200,
    astropy_fast=150,
    astropy_cython=10,
    features=200,
    composition=60,
    run=200,
    nnfap_periodogram=1,
    nnfap_frequencies=8192,
    loop_budget=45.0,
)
FULL = BenchSizes(
    period=1000,
    astropy_fast=400,
    astropy_cython=20,
    features=1000,
    composition=150,
    run=500,
    nnfap_periodogram=2,
    nnfap_frequencies=None,
    loop_budget=None,
)


@dataclass
class BenchRow:
    """One measurement: ``rate`` is sources per second per core (one process, one thread)."""

    key: str
    group: str  # a: period search, b: astropy, c: nifty-ls, d: features, e: run, f: NN-FAP
    method: str
    n_sources: int
    seconds: float  # wall time of the timed work
    cpu_seconds: float  # process CPU time of it (about ``seconds`` when single-threaded)
    rate: float  # sources / seconds / workers
    recovery: float | None  # fraction of injected periods recovered; None: no period output
    reference: str  # key of the vsbatch row this one is compared with
    ratio_vs_vsbatch: float | None = None  # reference rate / this rate (> 1: vsbatch faster)
    workers: int = 1
    note: str = ""


@dataclass
class TargetCheck:
    """A speed goal, checked on this run's numbers."""

    name: str
    required: float  # minimum of ``measured``
    measured: float | None  # ratio of rates (vsbatch / other); None if not measured
    passed: bool | None  # None when it could not be measured
    detail: str


@dataclass
class BenchReport:
    """Everything one ``run_benchmark`` measured; ``text()`` for people, ``to_json()``."""

    mode: str  # quick or full
    seed: int
    fmax: float
    samples_per_peak: float
    median_epochs: int
    baseline_days: float
    machine: dict
    grid: dict  # frequencies per light curve (median, min, max)
    rows: list[BenchRow]
    ratios: dict[str, float]
    targets: list[TargetCheck]
    first_call_seconds: dict[str, float]  # warm-ups (compilation, imports), not in the rows
    stages: dict[str, list[str]]  # feature stages run on each side of (d)
    notes: list[str]
    total_seconds: float = 0.0
    recovery_rule: str = RECOVERY_RULE

    def row(self, key: str) -> BenchRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def to_dict(self) -> dict:
        return _finite_or_none(asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def text(self) -> str:
        m = self.machine
        versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        lines = [
            f"vsbatch bench ({self.mode}), seed {self.seed}: median {self.median_epochs} epochs "
            f"over {self.baseline_days:g} d; grid 1/T .. {self.fmax:g} c/d, "
            f"{self.samples_per_peak:g} samples per peak "
            f"(median {self.grid.get('median', 0):,} frequencies per light curve)",
            f"machine: {m['cpu_model']}, {m['cores']} cores ({m['usable_cores']} usable), "
            f"Python {m['python']}; {versions}",
            f"per core: one process, one thread ({m['thread_limits']}); "
            f"total {self.total_seconds:.0f} s",
            "",
        ]
        header = (
            f"{'':2}{'method':<52}{'sources':>8}{'seconds':>9}{'src/s/core':>12}"
            f"{'recovery':>10}{'vsbatch x':>11}"
        )
        lines += [header, "-" * len(header)]
        for r in self.rows:
            rec = "-" if r.recovery is None else f"{r.recovery:.3f}"
            ratio = "-" if r.ratio_vs_vsbatch is None else f"{r.ratio_vs_vsbatch:.2f}"
            star = "*" if r.key == r.reference else " "
            lines.append(
                f"{r.group:<2}{(r.method + star)[:52]:<52}{r.n_sources:>8}{r.seconds:>9.2f}"
                f"{r.rate:>12.2f}{rec:>10}{ratio:>11}"
            )
        lines.append(
            "* the group's vsbatch reference; 'vsbatch x' = reference rate / this row's rate "
            "(> 1: vsbatch faster)"
        )
        lines += ["", "targets:"]
        for t in self.targets:
            status = {True: "PASS", False: "FAIL", None: "n/a "}[t.passed]
            measured = "not measured" if t.measured is None else f"{t.measured:.2f}x"
            lines.append(f"  {status}  {t.name}: {measured} (need >= {t.required:g}x). {t.detail}")
        lines += ["", "notes:"]
        lines += [f"  - {n}" for n in [self.recovery_rule, *self.notes]]
        for r in self.rows:
            if r.note:
                lines.append(f"  - {r.key}: {r.note}")
        warm = ", ".join(f"{k} {v:.2f} s" for k, v in self.first_call_seconds.items())
        lines.append(f"  - first calls (compilation/cache load, imports; excluded): {warm}")
        return "\n".join(lines)


def _finite_or_none(value: object) -> object:
    """NaN/inf become None so the JSON is strict; NumPy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------- environment


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    """CPU model, cores, Python and the versions of the libraries being compared."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    names = ("vsbatch", "numpy", "numba", "astropy", "nifty-ls", "finufft", "pyarrow")
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {n: _version(n) for n in names},
        "thread_limits": "",
    }


def _loaded_libraries(*needles: str) -> list[str]:
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if any(n in Path(p).name for n in needles))


def _call_later(fn: Callable[[int], object], value: int) -> Callable[[], None]:
    def call() -> None:
        fn(value)

    return call


def _limit_numba(restore: list[Callable[[], None]]) -> str:
    """One Numba thread if its threading layer runs; else nothing to do (serial kernels)."""
    try:
        import numba
        from numba.np.ufunc import parallel
    except ImportError:
        return "Numba not loaded"
    if not getattr(parallel, "_is_initialized", False):
        return "Numba threading layer not started (vsbatch's kernels are serial)"
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    restore.append(_call_later(numba.set_num_threads, before))
    return f"numba.set_num_threads(1) (was {before})"


@contextlib.contextmanager
def single_threaded() -> Iterator[str]:
    """One thread for BLAS/OpenMP/Numba while benchmarking; restored afterwards.

    The environment variables reach libraries loaded later (finufft's OpenMP, spawned Dask
    workers); OpenBLAS libraries already loaded are limited through ``threadpoolctl`` when it is
    installed, else through their own ``*_set_num_threads`` entry points; nifty-ls is called
    with ``nthreads=1``. Yields a description of what was limited.
    """
    saved_env = {name: os.environ.get(name) for name in _THREAD_ENV}
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    restore: list[Callable[[], None]] = []
    how = []
    try:
        if importlib.util.find_spec("threadpoolctl") is not None:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=1)
            restore.append(limiter.restore_original_limits)
            how.append("threadpoolctl")
        else:
            pairs = (
                ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
                ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
                ("openblas_set_num_threads", "openblas_get_num_threads"),
            )
            for path in _loaded_libraries("openblas"):
                with contextlib.suppress(OSError):
                    lib = ctypes.CDLL(path)
                    for setter, getter in pairs:
                        if hasattr(lib, setter) and hasattr(lib, getter):
                            before = int(getattr(lib, getter)())
                            getattr(lib, setter)(1)
                            restore.append(_call_later(getattr(lib, setter), before))
                            how.append(f"{Path(path).name} 1 thread (was {before})")
                            break
        how.append("OMP/OPENBLAS/MKL_NUM_THREADS=1")
        how.append(_limit_numba(restore))
        yield "; ".join(how)
    finally:
        for undo in restore:
            with contextlib.suppress(Exception):
                undo()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ----------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class _Data:
    epochs: pa.Table  # long format, sorted by source_id then time
    lcs: LightCurves
    period: np.ndarray
    shape: np.ndarray  # str
    amplitude: np.ndarray
    n_obs: np.ndarray

    def head(self, k: int) -> _Data:
        """The first ``k`` sources."""
        end = int(self.lcs.offsets[k])
        lcs = LightCurves(
            self.lcs.offsets[: k + 1].copy(),
            self.lcs.time[:end],
            self.lcs.mag[:end],
            self.lcs.err[:end],
        )
        epochs = self.epochs.slice(0, end)
        return _Data(
            epochs, lcs, self.period[:k], self.shape[:k], self.amplitude[:k], self.n_obs[:k]
        )


def _workload(n: int, seed: int) -> _Data:
    w = make_workload(
        n,
        seed=seed,
        median_epochs=MEDIAN_EPOCHS,
        baseline_days=BASELINE_DAYS,
        max_period_days=MAX_PERIOD_DAYS,
    )
    order = pc.sort_indices(w.epochs, sort_keys=[("source_id", "ascending"), ("time", "ascending")])
    epochs = w.epochs.take(order)
    sid = epochs.column("source_id").to_numpy()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    offsets = np.r_[starts, len(sid)].astype(np.int64)
    lcs = LightCurves(
        offsets,
        epochs.column("time").to_numpy().astype(np.float64),
        epochs.column("mag").to_numpy().astype(np.float64),
        epochs.column("mag_err").to_numpy().astype(np.float64),
    )
    truth = w.truth.take(pc.sort_indices(w.truth, sort_keys=[("source_id", "ascending")]))
    return _Data(
        epochs,
        lcs,
        truth.column("period").to_numpy(),
        np.asarray(truth.column("shape").to_pylist()),
        truth.column("amplitude").to_numpy(),
        truth.column("n_obs").to_numpy(),
    )


def _shared_cadence_batch(data: _Data, n: int, seed: int) -> tuple[LightCurves, int]:
    """``n`` light curves with the truth of the first ``n`` sources on one shared cadence.

    The cadence (times and errors) is the workload source with the epoch count closest to the
    median; each y-vector is the source's shape, period and amplitude at a random phase plus
    Gaussian noise of the cadence's errors. Returns the batch and the cadence's source index.
    """
    counts = data.lcs.counts[:n]
    chosen = int(np.argmin(np.abs(counts - np.median(counts))))
    t, _, err = data.lcs.segment(chosen)
    rng = np.random.default_rng([seed, 1])
    mags = np.empty((n, len(t)))
    for i in range(n):
        phase = (t / data.period[i] + rng.uniform()) % 1.0
        base = rng.uniform(13.0, 18.5)
        clean = base + data.amplitude[i] * periodic_shape(str(data.shape[i]), phase)
        mags[i] = clean + rng.normal(0.0, err)
    offsets = np.arange(n + 1, dtype=np.int64) * len(t)
    lcs = LightCurves(offsets, np.tile(t, n), mags.ravel(), np.tile(err, n))
    return lcs, chosen


def recovery_fraction(period: np.ndarray, true_period: np.ndarray, shape: Sequence[str]) -> float:
    """Fraction of sources whose period matches the truth (see ``RECOVERY_RULE``)."""
    period = np.asarray(period, dtype=np.float64)
    true_period = np.asarray(true_period, dtype=np.float64)
    if len(period) == 0:
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.abs(period / true_period - 1.0) <= RECOVERY_TOLERANCE
        half = np.abs(period / (0.5 * true_period) - 1.0) <= RECOVERY_TOLERANCE
    ok |= half & (np.asarray(shape) == "eclipsing")
    return float(np.mean(ok))


# ----------------------------------------------------------------------------- timing


@dataclass
class _Timing:
    seconds: float = 0.0
    cpu_seconds: float = 0.0


@contextlib.contextmanager
def _timer() -> Iterator[_Timing]:
    gc.collect()
    out = _Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield out
    finally:
        out.seconds = time.perf_counter() - wall
        out.cpu_seconds = time.process_time() - cpu


def _per_source(
    fn: Callable[[int], float], n: int, budget: float | None, minimum: int = 3
) -> tuple[np.ndarray, _Timing]:
    """Run ``fn(i)`` (returns a period) for sources 0.. until ``n`` or the time budget is used.

    Returns the periods of the sources done (at least ``minimum`` of them) and the timing.
    """
    periods = []
    with _timer() as timing:
        start = time.perf_counter()
        for i in range(n):
            periods.append(fn(i))
            if budget is not None and i + 1 >= minimum and time.perf_counter() - start > budget:
                break
    return np.asarray(periods, dtype=np.float64), timing


# ----------------------------------------------------------------------------- methods


def _astropy_period(lcs: LightCurves, grid: FrequencyGrid, i: int, method: str) -> float:
    """astropy Lomb-Scargle on grid ``i`` plus the Baluev FAP of its best peak; the period."""
    from astropy.timeseries import LombScargle

    t, y, dy = lcs.segment(i)
    frequency = grid.frequencies(i)
    ls = LombScargle(t, y, dy)
    power = ls.power(frequency, method=method, assume_regular_frequency=True)
    best = int(np.nanargmax(power))
    ls.false_alarm_probability(
        power[best],
        method="baluev",
        minimum_frequency=frequency[0],
        maximum_frequency=frequency[-1],
    )
    return 1.0 / frequency[best]


def _nifty_period(lcs: LightCurves, grid: FrequencyGrid, i: int) -> float:
    from nifty_ls import finufft

    t, y, dy = lcs.segment(i)
    power = finufft.lombscargle(
        t, y, grid.minimum_frequency[i], grid.step[i], int(grid.n_frequencies[i]), dy=dy, nthreads=1
    )
    return 1.0 / (grid.minimum_frequency[i] + grid.step[i] * int(np.nanargmax(power)))


def _nifty_batched(batch: LightCurves, grid: FrequencyGrid) -> np.ndarray:
    """nifty-ls on many y-vectors sharing one time array, ``NIFTY_BATCH`` per call."""
    from nifty_ls import finufft

    n = batch.n_segments
    t, _, dy = batch.segment(0)
    mags = batch.mag.reshape(n, len(t))
    fmin, df, nf = grid.minimum_frequency[0], grid.step[0], int(grid.n_frequencies[0])
    periods = np.empty(n)
    dys = np.ascontiguousarray(np.broadcast_to(dy, (min(n, NIFTY_BATCH), len(t))))
    for lo in range(0, n, NIFTY_BATCH):
        y = mags[lo : lo + NIFTY_BATCH]
        power = finufft.lombscargle(t, y, fmin, df, nf, dy=dys[: len(y)], nthreads=1)
        periods[lo : lo + len(y)] = 1.0 / (fmin + df * np.nanargmax(power, axis=1))
    return periods


# --- the astropy + NumPy composition of the feature stages ---------------------------------


def _np_stats(t: np.ndarray, y: np.ndarray, dy: np.ndarray) -> dict[str, float]:
    n = len(y)
    mean = y.mean()
    median = np.median(y)
    w = 1.0 / dy**2
    wmean = np.sum(w * y) / np.sum(w)
    q5, q25, q75, q95 = np.percentile(y, [5.0, 25.0, 75.0, 95.0])
    c = y - mean
    m2 = np.mean(c**2)
    var = np.var(y, ddof=1)
    g1 = np.mean(c**3) / m2**1.5
    g2 = np.mean(c**4) / m2**2 - 3.0
    d = np.sqrt(n / (n - 1.0)) * (y - wmean) / dy
    p = d[:-1] * d[1:]
    return {
        "time_min": t[0],
        "time_span": t[-1] - t[0],
        "mag_mean": mean,
        "mag_median": median,
        "mag_wmean": wmean,
        "mag_std": np.sqrt(var),
        "mag_mad": np.median(np.abs(y - median)),
        "mag_iqr": q75 - q25,
        "skewness": g1 * np.sqrt(n * (n - 1.0)) / (n - 2.0),
        "kurtosis": ((n + 1.0) * g2 + 6.0) * (n - 1.0) / ((n - 2.0) * (n - 3.0)),
        "amplitude_robust": 0.5 * (q95 - q5),
        "stetson_j": np.mean(np.sign(p) * np.sqrt(np.abs(p))),
        "stetson_k": np.mean(np.abs(d)) / np.sqrt(np.mean(d**2)),
        "von_neumann_eta": np.sum(np.diff(y) ** 2) / (n - 1) / var,
    }


def _np_pdm(t: np.ndarray, y: np.ndarray, frequency: np.ndarray, n_bins: int = 10) -> float:
    """Stellingwerf theta on ``frequency`` (``n_bins`` equal bins, one cover); best frequency."""
    n = len(y)
    tr = t - t[0]
    yc = y - y.mean()
    total = np.sum(yc**2)
    variance = total / (n - 1)
    best_theta, best_f = np.inf, np.nan
    chunk = max(1, (1 << 20) // max(n, 1))
    for lo in range(0, len(frequency), chunk):
        f = frequency[lo : lo + chunk]
        x = np.multiply.outer(f, tr)
        x -= np.floor(x)
        bins = np.minimum((x * n_bins).astype(np.int64), n_bins - 1)
        bins += (np.arange(len(f)) * n_bins)[:, None]
        flat = bins.ravel()
        counts = np.bincount(flat, minlength=len(f) * n_bins).reshape(len(f), n_bins)
        sums = np.bincount(
            flat, weights=np.broadcast_to(yc, x.shape).ravel(), minlength=len(f) * n_bins
        ).reshape(len(f), n_bins)
        filled = counts > 0
        between = np.sum(np.where(filled, sums**2 / np.maximum(counts, 1), 0.0), axis=1)
        theta = (total - between) / (n - filled.sum(axis=1)) / variance
        k = int(np.argmin(theta))
        if theta[k] < best_theta:
            best_theta, best_f = theta[k], f[k]
    return best_f


def _np_fourier(
    t: np.ndarray,
    y: np.ndarray,
    dy: np.ndarray,
    frequency: float,
    order: int,
    clip: float,
    iterations: int = 5,
    min_dof: int = 10,
) -> dict[str, float]:
    """Weighted least-squares Fourier series with 0.35 mag clipping, as ``fit_fourier``."""
    if not np.isfinite(frequency):
        return {}
    harmonics = np.arange(1, order + 1)
    angle = 2.0 * np.pi * frequency * np.multiply.outer(t, harmonics)
    design = np.hstack([np.ones((len(t), 1)), np.cos(angle), np.sin(angle)])
    w = 1.0 / dy
    use = np.ones(len(t), dtype=bool)
    for iteration in range(iterations + 1):
        k = min(order, (int(use.sum()) - 1 - min_dof) // 2)
        if k < 1:
            return {}
        cols = np.r_[0, 1 : k + 1, order + 1 : order + k + 1]
        a = design[:, cols]
        coef = np.linalg.lstsq(a[use] * w[use, None], y[use] * w[use], rcond=None)[0]
        resid = y - a @ coef
        keep = np.abs(resid) <= clip
        if iteration == iterations or np.array_equal(keep, use):
            break
        use = keep
    aw = a[use] * w[use, None]
    dof = int(use.sum()) - len(cols)
    chi2_red = float(np.sum((resid[use] * w[use]) ** 2) / max(dof, 1))
    cov = np.linalg.inv(aw.T @ aw) * chi2_red
    ak, bk = coef[1 : k + 1], coef[k + 1 :]
    amp = np.hypot(ak, bk)
    phase = np.mod(np.arctan2(-bk, ak), 2.0 * np.pi)
    out = {"a0": coef[0], "a0_error": np.sqrt(cov[0, 0]), "order_used": k}
    for j in range(k):  # amplitude and phase errors, linear propagation from (a_j, b_j)
        ia, ib = 1 + j, 1 + k + j
        ga = np.array([ak[j], bk[j]]) / amp[j]
        gp = np.array([bk[j], -ak[j]]) / amp[j] ** 2
        sub = cov[np.ix_([ia, ib], [ia, ib])]
        out[f"A{j + 1}"], out[f"A{j + 1}_error"] = amp[j], np.sqrt(ga @ sub @ ga)
        out[f"phi{j + 1}"], out[f"phi{j + 1}_error"] = phase[j], np.sqrt(gp @ sub @ gp)
    for h in (2, 3):
        if k < h:
            continue
        idx = [1, 1 + k, h, h + k]
        a1, b1, ah, bh = ak[0], bk[0], ak[h - 1], bk[h - 1]
        r = amp[h - 1] / amp[0]
        g_r = np.array(
            [-r * a1 / amp[0] ** 2, -r * b1 / amp[0] ** 2, r * ah / amp[h - 1] ** 2,
             r * bh / amp[h - 1] ** 2]
        )  # fmt: skip
        g_phi = np.array(
            [-h * b1 / amp[0] ** 2, h * a1 / amp[0] ** 2, bh / amp[h - 1] ** 2,
             -ah / amp[h - 1] ** 2]
        )  # fmt: skip
        sub = cov[np.ix_(idx, idx)]
        out[f"r{h}1"], out[f"r{h}1_error"] = r, np.sqrt(g_r @ sub @ g_r)
        out[f"phi{h}1"] = np.mod(phase[h - 1] - h * phase[0], 2.0 * np.pi)
        out[f"phi{h}1_error"] = np.sqrt(g_phi @ sub @ g_phi)
    grid = np.linspace(0.0, 1.0, 2000, endpoint=False)
    model_angle = 2.0 * np.pi * np.multiply.outer(grid, harmonics[:k])
    model = coef[0] + np.cos(model_angle) @ ak + np.sin(model_angle) @ bk
    kept = resid[use]
    out["peak_to_peak"] = np.ptp(model)
    out["rms"] = np.sqrt(np.mean(kept**2))
    out["chi2_reduced"] = chi2_red
    out["r_squared"] = 1.0 - np.sum(kept**2) / np.sum((y[use] - y[use].mean()) ** 2)
    return out


def _np_spectrum(t: np.ndarray, r: np.ndarray, f_start: float, df: float, nf: int) -> np.ndarray:
    """Deeming DFT amplitude ``(2/N) |sum r exp(-2 pi i f t)|`` on ``f_start + df * arange(nf)``.

    Blocks of 512 frequencies: the phasors of the block's first frequency times a cumulative
    product of the per-step rotation (10x faster than ``exp`` of every phase), then one
    matrix-vector product per block.
    """
    out = np.empty(nf)
    rotation = np.exp(-2j * np.pi * df * t)
    block = np.empty((512, len(t)), dtype=np.complex128)
    for lo in range(0, nf, len(block)):
        m = min(len(block), nf - lo)
        phasors = block[:m]
        phasors[0] = np.exp(-2j * np.pi * (f_start + df * lo) * t)
        phasors[1:] = rotation
        np.cumprod(phasors, axis=0, out=phasors)
        out[lo : lo + m] = np.abs(phasors @ r)
    return out * (2.0 / len(t))


def _np_freqanalysis(
    t: np.ndarray,
    y: np.ndarray,
    f0: float,
    order: int,
    min_dof: int = 10,
    halfwidth: float = 0.3,
    n_harmonics: int = 2,
    oversample: float = 10.0,
    noise_halfwidth: float = 1.0,
    noise_oversample: float = 2.0,
    resolution_factor: float = 1.5,
    snr_bl: float = 4.0,
    snr_cbl: float = 3.5,
    instrumental: float = 2.005,
    instrumental_tolerance: float = 0.005,
) -> str:
    """The plain PS17 procedure (see ``vsbatch.kernels.prewhiten``): unweighted harmonic fit,
    residual amplitude spectra around f0 and 2 f0, S/N in a +-1 c/d noise box; the class."""
    n, span = len(t), t[-1] - t[0]
    if not (np.isfinite(f0) and f0 > 0) or n < 2 * order + 1 + min_dof or span <= 0:
        return "unclassified"
    tc = t - 0.5 * (t[0] + t[-1])
    angle = 2.0 * np.pi * f0 * np.multiply.outer(tc, np.arange(1, order + 1))
    design = np.hstack([np.ones((n, 1)), np.cos(angle), np.sin(angle)])
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    resid -= resid.mean()
    resolution = resolution_factor / span
    dff, dfc = 1.0 / (oversample * span), 1.0 / (noise_oversample * span)
    fc0 = max(0.0, f0 - halfwidth - noise_halfwidth)
    nc = int((n_harmonics * f0 + halfwidth + noise_halfwidth - fc0) / dfc) + 1
    csum = np.r_[0.0, np.cumsum(_np_spectrum(tc, resid, fc0, dfc, nc))]
    nf = int(2.0 * halfwidth / dff) + 1
    best_resolved, best_any = -np.inf, -np.inf
    for k in range(1, n_harmonics + 1):
        f_lo = k * f0 - halfwidth
        fine = _np_spectrum(tc, resid, f_lo, dff, nf)
        j = np.arange(1, nf - 1)
        j = j[(fine[j] > fine[j - 1]) & (fine[j] >= fine[j + 1])]
        fp = f_lo + j * dff
        j_lo = np.maximum(0, np.ceil((fp - noise_halfwidth - fc0) / dfc)).astype(np.int64)
        j_hi = np.minimum(nc - 1, np.floor((fp + noise_halfwidth - fc0) / dfc)).astype(np.int64)
        e_lo = np.maximum(j_lo, np.floor((fp - resolution - fc0) / dfc) + 1).astype(np.int64)
        e_hi = np.minimum(j_hi, np.ceil((fp + resolution - fc0) / dfc) - 1).astype(np.int64)
        lobe = e_hi >= e_lo
        e_lo, e_hi = np.where(lobe, e_lo, 0), np.where(lobe, e_hi, -1)
        total = csum[j_hi + 1] - csum[j_lo] - (csum[e_hi + 1] - csum[e_lo])
        count = (j_hi - j_lo + 1) - (e_hi - e_lo + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = fine[j] / (total / count)
        counted = (np.abs(fp - instrumental) > instrumental_tolerance) & np.isfinite(snr)
        resolved = np.abs(fp - k * f0) >= resolution
        if np.any(counted):
            best_any = max(best_any, snr[counted].max())
        if np.any(counted & resolved):
            best_resolved = max(best_resolved, snr[counted & resolved].max())
    if best_resolved >= snr_bl:
        return "BL"
    return "cBL/PC" if best_any >= snr_cbl else "nBL"


def _np_dmdt(
    t: np.ndarray, y: np.ndarray, dm_edges: np.ndarray, dt_edges: np.ndarray
) -> np.ndarray:
    """All-pairs dm-dt histogram with the Mahabal et al. edges and 0-255 normalisation."""
    i, j = np.triu_indices(len(t), 1)
    dt = t[j] - t[i]
    dm = y[j] - y[i]
    ok = dt > 0
    counts = np.histogram2d(dm[ok], dt[ok], bins=(dm_edges, dt_edges))[0]
    n_pairs = max(int(ok.sum()), 1)
    return np.floor(255.0 * counts / n_pairs + 0.99999).astype(np.float32)


def _dmdt_edges() -> tuple[np.ndarray, np.ndarray]:
    from vsbatch.kernels.dmdt import MAHABAL_DM_EDGES, MAHABAL_DT_EDGES

    return MAHABAL_DM_EDGES, MAHABAL_DT_EDGES


def _composition(
    table: pa.Table, config: RunConfig, steps: Sequence[str], n: int, budget: float | None
) -> tuple[np.ndarray, _Timing]:
    """astropy + NumPy doing ``steps`` source by source, starting from the long table."""
    dm_edges, dt_edges = _dmdt_edges() if "dmdt" in steps else (None, None)
    with _timer() as timing:
        sid = table.column("source_id").to_numpy()
        order = np.lexsort((table.column("time").to_numpy(), sid))
        sid = sid[order]
        time_ = table.column("time").to_numpy()[order]
        mag = table.column("mag").to_numpy()[order]
        err = table.column("mag_err").to_numpy()[order]
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        offsets = np.r_[starts, len(sid)]
        lcs = LightCurves(offsets.astype(np.int64), time_, mag, err)
        grid = frequency_grid(
            lcs,
            maximum_frequency=config.fmax,
            samples_per_peak=config.samples_per_peak,
            minimum_frequency=config.fmin,
        )

        def one(i: int) -> float:
            t, y, dy = lcs.segment(i)
            period = float("nan")
            if "stats" in steps:
                _np_stats(t, y, dy)
            if "period" in steps:
                period = _astropy_period(lcs, grid, i, "fast")
            if "pdm" in steps:
                _np_pdm(t, y, grid.frequencies(i), config.pdm_bins)
            # multiband: every source of the workload has one band, nothing to do
            if "fourier" in steps:
                _np_fourier(t, y, dy, 1.0 / period, config.fourier_order, config.clip_mag)
            if "freqanalysis" in steps:
                _np_freqanalysis(t, y, 1.0 / period, config.fourier_order)
            if "dmdt" in steps:
                _np_dmdt(t, y, dm_edges, dt_edges)
            return period

        inner, _ = _per_source(one, min(n, lcs.n_segments), budget)
    return inner, timing


# --- vsbatch feature stage and run ----------------------------------------------------------


def _stage_names() -> list[str]:
    from vsbatch.stages import STAGES

    return list(STAGES)


def _process(table: pa.Table, config: RunConfig) -> pa.Table:
    from vsbatch.stages import catalog_schema, process_partition

    schema = catalog_schema(config, table.schema.field("source_id").type, {})
    return process_partition(table, "bench", config, schema, ()).catalog


def _catalog_periods(catalog: pa.Table, n: int) -> np.ndarray | None:
    """Best period per source id 0..n-1 from a catalog table, or None without a period column."""
    name = next((c for c in _PERIOD_COLUMNS if c in catalog.column_names), None)
    if name is None:
        return None
    out = np.full(n, np.nan)
    ids = catalog.column("source_id").to_numpy(zero_copy_only=False).astype(np.int64)
    values = catalog.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    ok = (ids >= 0) & (ids < n)
    out[ids[ok]] = values[ok]
    return out


def _whole_run(table: pa.Table, config: RunConfig, n: int) -> tuple[np.ndarray | None, _Timing]:
    import vsbatch
    from vsbatch.cluster import ClusterSpec

    with tempfile.TemporaryDirectory(prefix="vsbatch-bench-") as tmp:
        source = Path(tmp) / "workload.parquet"
        pq.write_table(table, source)
        with _timer() as timing:
            vsbatch.run(str(source), Path(tmp) / "catalog", config, ClusterSpec(workers=1))
        catalog = vsbatch.open_catalog(Path(tmp) / "catalog").to_table()
    return _catalog_periods(catalog, n), timing


# ----------------------------------------------------------------------------- driver


def _row(
    key: str,
    group: str,
    method: str,
    periods: np.ndarray | None,
    timing: _Timing,
    data: _Data,
    reference: str,
    n: int | None = None,
    workers: int = 1,
    note: str = "",
) -> BenchRow:
    n = len(periods) if n is None else n
    recovery = None
    if periods is not None:
        recovery = recovery_fraction(periods[:n], data.period[:n], data.shape[:n])
    seconds = max(timing.seconds, 1e-9)
    return BenchRow(
        key=key,
        group=group,
        method=method,
        n_sources=n,
        seconds=timing.seconds,
        cpu_seconds=timing.cpu_seconds,
        rate=n / seconds / workers,
        recovery=recovery,
        reference=reference,
        workers=workers,
        note=note,
    )


def _preload() -> None:
    import astropy.timeseries  # noqa: F401
    import scipy.linalg
    import scipy.special  # noqa: F401

    if "nifty-ls" in available_backends():
        import nifty_ls.finufft  # noqa: F401


def _sizes_for(quick: bool, n_sources: int | None) -> BenchSizes:
    base = QUICK if quick else FULL
    if n_sources is None:
        return base
    n = max(3, int(n_sources))
    return BenchSizes(
        period=n,
        astropy_fast=min(base.astropy_fast, n),
        astropy_cython=min(base.astropy_cython, n),
        features=n,
        composition=min(base.composition, n),
        run=n,
        nnfap_periodogram=min(base.nnfap_periodogram, n),
        nnfap_frequencies=min(base.nnfap_frequencies or 1 << 62, 64 * n),
        loop_budget=base.loop_budget,
    )


def run_benchmark(
    quick: bool = True,
    n_sources: int | None = None,
    seed: int = 0,
    fmax: float = 10.0,
    include_run: bool = True,
) -> BenchReport:
    """Measure vsbatch against astropy and nifty-ls side by side in this process; see module doc.

    ``quick`` (about 2 minutes on 2 cores): 200 sources for the fast paths, astropy ``fast``
    on up to 150 and ``cython`` on up to 10, the astropy + NumPy composition on up to 60 (each
    slow loop also stops after ``QUICK.loop_budget`` seconds). Full mode: ``FULL``.
    ``n_sources`` replaces the fast-path count (the slow ones are capped by it).
    """
    started = time.perf_counter()
    sizes = _sizes_for(quick, n_sources)
    n_all = max(sizes.period, sizes.features, sizes.run if include_run else 0)
    machine = machine_info()
    _preload()  # load every compared library first, so that its thread pools are limited too
    with single_threaded() as limits:
        machine["thread_limits"] = limits
        report = _measure(sizes, n_all, seed, fmax, include_run, quick, machine)
    report.total_seconds = time.perf_counter() - started
    return report


def _measure(
    sizes: BenchSizes,
    n_all: int,
    seed: int,
    fmax: float,
    include_run: bool,
    quick: bool,
    machine: dict,
) -> BenchReport:
    """Every measurement of :func:`run_benchmark`, groups (a) to (f) in order, on one workload."""
    data = _workload(n_all, seed)
    period_data = data.head(sizes.period)
    grid = frequency_grid(
        period_data.lcs, maximum_frequency=fmax, samples_per_peak=SAMPLES_PER_PEAK
    )
    tiny = data.head(min(WARMUP_SOURCES, n_all))
    warm = _warm_up(tiny)
    notes: list[str] = []
    rows, vs_periods = _period_search_rows(period_data, fmax)
    rows += _astropy_rows(period_data, grid, sizes)
    if "nifty-ls" in available_backends():
        rows += _nifty_rows(period_data, grid, sizes.period, seed, fmax)
    else:
        notes.append("nifty-ls is not installed: group (c) and its target were skipped")
    default = RunConfig(fmax=fmax, samples_per_peak=SAMPLES_PER_PEAK)
    stages = _feature_stages(default)
    notes += stages.notes()
    rows += _feature_rows(data, tiny, sizes, default, stages, warm)
    if include_run:
        rows += _whole_run_rows(data, sizes.run, default, rows)
    rows.append(_nnfap_periodogram_row(period_data, grid, sizes, warm))
    rows.append(_nnfap_top_k_row(period_data.head(min(sizes.period, NNFAP_TOP_K_CURVES)), fmax))
    ratios = _compare_with_references(rows)
    targets = _targets({r.key: r for r in rows}, vs_periods, period_data, include_run)
    return BenchReport(
        mode="quick" if quick else "full",
        seed=seed,
        fmax=fmax,
        samples_per_peak=SAMPLES_PER_PEAK,
        median_epochs=MEDIAN_EPOCHS,
        baseline_days=BASELINE_DAYS,
        machine=machine,
        grid=_grid_summary(grid, period_data),
        rows=rows,
        ratios=ratios,
        targets=targets,
        first_call_seconds=warm,
        stages=stages.as_dict(),
        notes=[*_GRID_NOTES, *notes],
    )


_GRID_NOTES = (
    "one frequency grid per light curve from vsbatch.kernels.periodogram.frequency_grid "
    "(1/T .. fmax, step 1/(5 T)); astropy gets the identical frequency array, nifty-ls "
    "the identical (fmin, df, Nf)",
    "rows of one group may use different numbers of sources: always the first N sources "
    "of the same seeded workload; rates are per source",
)


def _warm_up(tiny: _Data) -> dict[str, float]:
    """Seconds of the first calls (compilation, cache loading, imports), reported apart."""
    warm: dict[str, float] = {}
    tiny_grid = frequency_grid(
        tiny.lcs, maximum_frequency=WARMUP_FMAX, samples_per_peak=SAMPLES_PER_PEAK
    )
    for backend in ("numba", "auto"):
        with _timer() as t:
            search_periods(tiny.lcs, backend=backend, maximum_frequency=WARMUP_FMAX)
        warm[f"vsbatch {backend}"] = t.seconds
    with _timer() as t:
        _astropy_period(tiny.lcs, tiny_grid, 0, "fast")
        _astropy_period(tiny.lcs, tiny_grid, 0, "cython")
    warm["astropy"] = t.seconds
    if "nifty-ls" in available_backends():
        with _timer() as t:
            _nifty_period(tiny.lcs, tiny_grid, 0)
        warm["nifty-ls"] = t.seconds
    return warm


def _period_search_rows(data: _Data, fmax: float) -> tuple[list[BenchRow], np.ndarray]:
    """(a) vsbatch ``search_periods`` with the ``numba`` and ``auto`` backends; the rows and
    the ``auto`` periods (the targets compare those with astropy's)."""
    lcs = data.lcs
    rows = []
    for backend in ("numba", "auto"):
        with _timer() as t:
            result = search_periods(
                lcs, backend=backend, maximum_frequency=fmax, samples_per_peak=SAMPLES_PER_PEAK
            )
        note = ""
        if backend == "auto":
            used = resolve_backend("auto", lcs.counts)
            names, counts = np.unique(used, return_counts=True)
            note = "auto used " + ", ".join(
                f"{k} for {c}" for k, c in zip(names, counts, strict=True)
            )
        rows.append(
            _row(f"vsbatch_{backend}", "a", f"vsbatch search_periods {backend} + Baluev FAP",
                 result.period, t, data, "vsbatch_auto", note=note)
        )  # fmt: skip
    return rows, result.period


def _astropy_rows(data: _Data, grid: FrequencyGrid, sizes: BenchSizes) -> list[BenchRow]:
    """(b) astropy ``LombScargle`` ``fast`` and ``cython`` plus the Baluev FAP, per source."""
    lcs = data.lcs
    rows = []
    for method, n in (("fast", sizes.astropy_fast), ("cython", sizes.astropy_cython)):
        periods, t = _per_source(
            lambda i, m=method: _astropy_period(lcs, grid, i, m),
            min(n, lcs.n_segments),
            sizes.loop_budget,
        )
        rows.append(
            _row(f"astropy_{method}", "b", f"astropy LombScargle {method} + Baluev FAP",
                 periods, t, data, "vsbatch_auto")
        )  # fmt: skip
    return rows


def _nifty_rows(
    data: _Data, grid: FrequencyGrid, n_batch: int, seed: int, fmax: float
) -> list[BenchRow]:
    """(c) nifty-ls one call per curve, then batched on one shared cadence with vsbatch timed
    on the very same batch."""
    lcs = data.lcs
    periods, t = _per_source(lambda i: _nifty_period(lcs, grid, i), lcs.n_segments, None)
    rows = [
        _row("nifty_ls_per_curve", "c", "nifty-ls finufft, one call per curve (no FAP)",
             periods, t, data, "vsbatch_auto")
    ]  # fmt: skip
    batch, cadence = _shared_cadence_batch(data, n_batch, seed)
    batch_grid = frequency_grid(batch, maximum_frequency=fmax, samples_per_peak=SAMPLES_PER_PEAK)
    with _timer() as t:
        periods = _nifty_batched(batch, batch_grid)
    shared = (
        f"one shared cadence (source {cadence}, {batch.counts[0]} epochs) with "
        f"{batch.n_segments} y-vectors from the truth of the first {batch.n_segments} sources"
    )
    rows.append(
        _row("nifty_ls_batched", "c",
             f"nifty-ls batched, shared cadence ({NIFTY_BATCH}/call, no FAP)", periods, t,
             data, "vsbatch_auto_shared_cadence", note=shared)
    )  # fmt: skip
    with _timer() as t:
        result = search_periods(
            batch, backend="auto", maximum_frequency=fmax, samples_per_peak=SAMPLES_PER_PEAK
        )
    rows.append(
        _row("vsbatch_auto_shared_cadence", "c",
             "vsbatch search_periods auto, same shared-cadence batch", result.period, t, data,
             "vsbatch_auto_shared_cadence")
    )  # fmt: skip
    return rows


@dataclass(frozen=True)
class _FeatureStages:
    """Which stages of the default configuration each side of (d) runs."""

    default: tuple[str, ...]  # the default RunConfig's stages
    run_on_vsbatch: list[str]  # those present in vsbatch.stages
    composed: list[str]  # those the astropy + NumPy composition also does
    vsbatch_only: list[str]
    missing: list[str]  # in the default configuration but not in vsbatch.stages

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "default_config": list(self.default),
            "vsbatch_default_ran": self.run_on_vsbatch,
            "composed_both_sides": self.composed,
            "vsbatch_only": self.vsbatch_only,
            "not_in_vsbatch_yet": self.missing,
        }

    def notes(self) -> list[str]:
        """What a reader of (d) must know: skipped stages and how the sides differ."""
        notes = []
        if self.missing:
            notes.append(
                f"stages of the default RunConfig not present in vsbatch.stages yet (skipped on "
                f"both sides): {', '.join(self.missing)}"
            )
        if self.vsbatch_only:
            notes.append(
                f"stages run by vsbatch but not by the astropy + NumPy composition: "
                f"{', '.join(self.vsbatch_only)} (the 'default' row does more work than the "
                f"composition)"
            )
        if "freqanalysis" in self.composed:
            notes.append(
                "freqanalysis composed as the plain PS17 procedure (unweighted harmonic fit, one "
                "residual scan around f0 and 2 f0, S/N classes); vsbatch's conditional alias "
                "guards (instrumental pre-whitening, f0 refit) are not composed"
            )
        if "multiband" in self.composed:
            notes.append("multiband: every workload source has one band, a no-op on both sides")
        return notes


def _feature_stages(default: RunConfig) -> _FeatureStages:
    """Split the default stages into those both sides run and those only vsbatch runs."""
    present = _stage_names()
    run_on_vsbatch = [s for s in default.stages if s in present]
    composed = [s for s in run_on_vsbatch if s in COMPOSABLE_STAGES]
    if "period" not in composed:
        composed = [s for s in composed if s == "stats" or s == "dmdt"]
    return _FeatureStages(
        default=tuple(default.stages),
        run_on_vsbatch=run_on_vsbatch,
        composed=composed,
        vsbatch_only=[s for s in run_on_vsbatch if s not in composed],
        missing=[s for s in default.stages if s not in present],
    )


def _feature_rows(
    data: _Data,
    tiny: _Data,
    sizes: BenchSizes,
    default: RunConfig,
    stages: _FeatureStages,
    warm: dict[str, float],
) -> list[BenchRow]:
    """(d) vsbatch's feature stages on one partition (default stages, and the composed ones
    alone when they differ) against the astropy + NumPy composition, per source."""
    rows = []
    feature_data = data.head(sizes.features)
    configs = [("default", default)]
    if stages.vsbatch_only:
        configs.append(("matched", RunConfig(fmax=default.fmax, samples_per_peak=SAMPLES_PER_PEAK,
                                             stages=tuple(stages.composed))))  # fmt: skip
    for label, config in configs:
        warm_cfg = RunConfig(
            fmax=WARMUP_FMAX, samples_per_peak=SAMPLES_PER_PEAK, stages=config.stages
        )
        with _timer() as t:
            _process(tiny.epochs, warm_cfg)
        warm[f"vsbatch process_partition {label}"] = t.seconds
        with _timer() as t:
            catalog = _process(feature_data.epochs, config)
        ran = [s for s in config.stages if s in stages.run_on_vsbatch]
        rows.append(
            _row(f"vsbatch_features_{label}", "d", f"vsbatch process_partition, {label} stages",
                 _catalog_periods(catalog, sizes.features), t, feature_data,
                 "vsbatch_features_default", n=sizes.features,
                 note=f"one partition of {sizes.features} sources; stages {', '.join(ran)}")
        )  # fmt: skip
    with _timer() as t:
        warm_cfg = RunConfig(fmax=WARMUP_FMAX, samples_per_peak=SAMPLES_PER_PEAK)
        _composition(tiny.epochs, warm_cfg, stages.composed, 1, None)
    warm["astropy + NumPy composition"] = t.seconds
    comp_data = data.head(min(sizes.composition, len(data.period)))
    periods, t = _composition(
        comp_data.epochs, default, stages.composed, sizes.composition, sizes.loop_budget
    )
    rows.append(
        _row("astropy_numpy_features", "d", "astropy + NumPy composition, per source",
             periods if "period" in stages.composed else None, t, comp_data,
             "vsbatch_features_default", n=len(periods),
             note="steps " + ", ".join(stages.composed))
    )  # fmt: skip
    return rows


def _whole_run_rows(
    data: _Data, n_run: int, default: RunConfig, rows: list[BenchRow]
) -> list[BenchRow]:
    """(e) a whole ``vsbatch.run`` on one worker, next to astropy ``fast`` + Baluev alone
    (the timing of (b), taken from ``rows``)."""
    run_data = data.head(n_run)
    periods, t = _whole_run(run_data.epochs, default, n_run)
    run_row = _row(
        "vsbatch_run", "e", "vsbatch.run, 1 worker (start-up + Parquet I/O)", periods, t,
        run_data, "vsbatch_run", n=n_run,
        note="wall time of vsbatch.run with ClusterSpec(workers=1): a client process "
        "plus one single-threaded worker process; CPU seconds are the client's only",
    )  # fmt: skip
    fast = next(r for r in rows if r.key == "astropy_fast")
    fast_alone = BenchRow(
        **{
            **asdict(fast),
            "key": "astropy_fast_run_sources",
            "group": "e",
            "method": "astropy fast + Baluev alone (timing of b)",
            "reference": "vsbatch_run",
            "note": f"the first {fast.n_sources} of the run's {n_run} sources",
        }
    )
    return [run_row, fast_alone]


def _compare_with_references(rows: list[BenchRow]) -> dict[str, float]:
    """Set each row's ratio to its group's vsbatch reference; the ratios by name."""
    by_key = {r.key: r for r in rows}
    for r in rows:
        ref = by_key.get(r.reference)
        if ref is not None and r.rate > 0:
            r.ratio_vs_vsbatch = ref.rate / r.rate
    ratios = {
        f"{r.reference} / {r.key}": r.ratio_vs_vsbatch
        for r in rows
        if r.key != r.reference and r.ratio_vs_vsbatch is not None
    }
    if "vsbatch_features_matched" in by_key:
        ratios["vsbatch_features_matched / astropy_numpy_features"] = (
            by_key["vsbatch_features_matched"].rate / by_key["astropy_numpy_features"].rate
        )
    return ratios


def _grid_summary(grid: FrequencyGrid, data: _Data) -> dict:
    """Frequencies and epochs per light curve, and sources per shape, of the period search."""
    grid_n = grid.n_frequencies
    return {
        "median": int(np.median(grid_n)),
        "min": int(grid_n.min()),
        "max": int(grid_n.max()),
        "epochs_median": int(np.median(data.lcs.counts)),
        "shapes": {s: int(np.sum(data.shape == s)) for s in SHAPES},
    }


def _nnfap_periodogram_row(
    data: _Data, grid: FrequencyGrid, sizes: BenchSizes, warm: dict[str, float]
) -> BenchRow:
    """NN-FAP of the shipped model over each curve's GLS grid (its first
    ``sizes.nnfap_frequencies`` frequencies when set: the rate is then extrapolated)."""
    from vsbatch.models import load_artifact
    from vsbatch.models.nnfap import nnfap_periodogram

    artifact = load_artifact("nnfap")
    with _timer() as t:
        nnfap_periodogram(artifact, data.lcs.take(np.array([0])), grid.frequencies(0)[:256])
    warm["NN-FAP periodogram"] = t.seconds
    n, limit = sizes.nnfap_periodogram, sizes.nnfap_frequencies
    periods = np.full(n, np.nan)
    with _timer() as t:
        for i in range(n):
            freq = grid.frequencies(i)[:limit]
            pg = nnfap_periodogram(artifact, data.lcs.take(np.array([i])), freq)
            periods[i] = 1.0 / pg.best_frequency
    scored = int(sum(min(int(grid.n_frequencies[i]), limit or 1 << 62) for i in range(n)))
    per_second = scored / max(t.seconds, 1e-9)
    full = float(np.mean(grid.n_frequencies[:n]))
    whole = limit is None or full <= limit
    timing = (
        t if whole else _Timing(t.seconds * full * n / scored, t.cpu_seconds * full * n / scored)
    )
    return _row(
        "nnfap_periodogram", "f", "NN-FAP periodogram (shipped model), per curve",
        periods if whole else None, timing, data, "vsbatch_auto", n=n,
        note=f"{full:,.0f} trial frequencies per curve (its GLS grid); {per_second:,.0f} "
        "frequencies/s on one thread"
        + ("" if whole else f", measured on the first {limit:,} of each grid and extrapolated")
        + "; the paper needed 23 min on 64 cores for one curve",
    )  # fmt: skip


NNFAP_TOP_K_CURVES = 40  # curves the top-K NN-FAP periodogram is timed on


def _nnfap_top_k_row(data: _Data, fmax: float) -> BenchRow:
    """The top-K NN-FAP periodogram of the shipped model (64 GLS peaks and their aliases) of
    every curve in one call; its period is the candidate NN-FAP finds most periodic."""
    from vsbatch.models import load_artifact
    from vsbatch.models.nnfap import nnfap_top_k

    artifact = load_artifact("nnfap")
    nnfap_top_k(artifact, data.lcs.take(np.array([0])), maximum_frequency=fmax)  # warm-up
    with _timer() as t:
        top = nnfap_top_k(artifact, data.lcs, maximum_frequency=fmax)
    best, _ = top.best()
    n_candidates = float(np.isfinite(top.frequency).sum(axis=1).mean())
    return _row(
        "nnfap_top_k", "f", "NN-FAP top-K periodogram (64 GLS peaks + aliases), per curve",
        1.0 / best, t, data, "vsbatch_auto",
        note=f"{n_candidates:,.0f} candidate folds per curve scored in one batch; best = "
        "lowest NN-FAP with few-cycle folds counted as FAP 1",
    )  # fmt: skip


def _targets(
    rows: dict[str, BenchRow], vs_periods: np.ndarray, data: _Data, include_run: bool
) -> list[TargetCheck]:
    out = []
    vs, fast = rows["vsbatch_auto"], rows["astropy_fast"]
    k = fast.n_sources
    vs_rec = recovery_fraction(vs_periods[:k], data.period[:k], data.shape[:k])
    speed = vs.rate / fast.rate
    out.append(
        TargetCheck(
            "period search vs astropy fast + Baluev FAP",
            TARGET_VS_ASTROPY,
            speed,
            bool(speed >= TARGET_VS_ASTROPY and vs_rec >= (fast.recovery or 0.0)),
            f"also needs equal or better recovery: vsbatch {vs_rec:.3f} vs astropy "
            f"{fast.recovery:.3f} on the same {k} sources",
        )
    )
    batched, same = rows.get("nifty_ls_batched"), rows.get("vsbatch_auto_shared_cadence")
    if batched is not None and same is not None:
        ratio = same.rate / batched.rate
        out.append(
            TargetCheck(
                "period search within 2x of nifty-ls batched",
                TARGET_VS_NIFTY_BATCHED,
                ratio,
                bool(ratio >= TARGET_VS_NIFTY_BATCHED),
                f"same shared-cadence batch: vsbatch {same.rate:.1f} vs nifty-ls "
                f"{batched.rate:.1f} sources/s (nifty-ls computes no FAP or refinement)",
            )
        )
    else:
        out.append(
            TargetCheck(
                "period search within 2x of nifty-ls batched",
                TARGET_VS_NIFTY_BATCHED,
                None,
                None,
                "nifty-ls not installed",
            )
        )
    feat, comp = rows["vsbatch_features_default"], rows["astropy_numpy_features"]
    ratio = feat.rate / comp.rate
    detail = f"{comp.note}"
    matched = rows.get("vsbatch_features_matched")
    if matched is not None:
        detail += f"; with vsbatch on the same steps only: {matched.rate / comp.rate:.2f}x"
    out.append(
        TargetCheck(
            "whole feature stage vs astropy + NumPy",
            TARGET_FEATURES,
            ratio,
            bool(ratio >= TARGET_FEATURES),
            detail,
        )
    )
    run = rows.get("vsbatch_run")
    if include_run and run is not None:
        ratio = run.rate / fast.rate
        out.append(
            TargetCheck(
                "whole vsbatch run vs astropy fast + Baluev alone",
                TARGET_RUN,
                ratio,
                bool(ratio >= TARGET_RUN),
                f"{run.n_sources} sources in {run.seconds:.1f} s wall with 1 worker, start-up "
                f"and I/O included",
            )
        )
    else:
        out.append(
            TargetCheck(
                "whole vsbatch run vs astropy fast + Baluev alone",
                TARGET_RUN,
                None,
                None,
                "not run (include_run=False)",
            )
        )
    return out


# ----------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The options of :func:`run_benchmark` on the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks bench", description=__doc__.splitlines()[0].split(": ", 1)[1]
    )
    parser.add_argument("--full", action="store_true", help="larger counts (no time budget)")
    parser.add_argument("--n-sources", type=int, help="sources for the fast paths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmax", type=float, default=10.0, help="grid maximum, c/d")
    parser.add_argument("--no-run", action="store_true", help="skip the whole vsbatch.run")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks bench [--full] [--n-sources N] [--seed S] [--fmax F] [--no-run]
    [--json]``."""
    args = build_parser().parse_args(argv)
    report = run_benchmark(
        quick=not args.full,
        n_sources=args.n_sources,
        seed=args.seed,
        fmax=args.fmax,
        include_run=not args.no_run,
    )
    print(report.to_json() if args.json else report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
