"""Period search of many light curves, with the periodogram behind a registry of backends.

Backends compute the same standard-normalised generalised Lomb-Scargle power on the same
grids (see ``vsbatch.kernels.periodogram``):

- ``numba``: the portable path, direct sums with trigonometric recurrences. Also does
  multiband sources. Cost O(N_obs * N_freq): fastest for short light curves.
- ``nifty-ls``: the finufft non-uniform FFT of nifty-ls (optional dependency), one
  single-threaded call per light curve (parallelism is across processes). Cost
  O(N_obs + N_freq log N_freq) plus a few ms of plan set-up per call: wins for long curves.
- ``auto``: per light curve, ``nifty-ls`` when installed and the curve has at least
  ``AUTO_NIFTY_MIN_EPOCHS`` epochs (``..._MULTIHARMONIC`` for ``nterms > 1``; single-band
  only), else ``numba``.

Everything after the periodogram is shared: top peaks, refinement of the best one with exact
sums, Baluev FAP, period uncertainty and alias flags.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vsbatch.errors import UsageError
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.fap import baluev_fap, time_variance
from vsbatch.kernels.periodogram import (
    FrequencyGrid,
    Peaks,
    Periodogram,
    alias_flags,
    frequency_grid,
    frequency_uncertainty,
    gls_power,
    group_baseline,
    refine_peak,
    source_groups,
    top_peaks,
)

AUTO_NIFTY_MIN_EPOCHS = 450
"""``auto`` crossover for ``nterms=1``, measured on 2 vCPU Zen 5 with 150k frequencies: Numba
83 vs nifty-ls 77 curves/s at 400 epochs, 66 vs 74 at 500; Numba 145 vs 80 at 200 epochs,
nifty-ls 81 vs 36 at 1,000."""
AUTO_NIFTY_MIN_EPOCHS_MULTIHARMONIC = 150
"""The same for ``nterms > 1`` (Numba solves the normal equations at every frequency): Numba
31 vs nifty-ls 26 curves/s at 100 epochs, 24 vs 26 at 200 (``nterms=2``)."""


@dataclass(frozen=True)
class PeriodBackend:
    """A way to compute ``Periodogram`` power for a batch of light curves on given grids."""

    name: str
    power: Callable[[LightCurves, FrequencyGrid, int, np.ndarray | None], Periodogram]
    is_available: Callable[[], bool]
    multiband: bool  # accepts a source_index grouping bands into one source


def _numba_power(
    lcs: LightCurves, grid: FrequencyGrid, nterms: int, source_index: np.ndarray | None
) -> Periodogram:
    return gls_power(lcs, grid, nterms=nterms, source_index=source_index)


def _nifty_power(
    lcs: LightCurves, grid: FrequencyGrid, nterms: int, source_index: np.ndarray | None
) -> Periodogram:
    if source_index is not None:
        raise ValueError("the nifty-ls backend has no multiband periodogram")
    from nifty_ls import finufft, finufft_chi2

    offsets = grid.offsets
    power = np.empty(offsets[-1])
    for i in range(lcs.n_segments):
        n = int(grid.n_frequencies[i])
        if n == 0:
            continue
        t, y, dy = lcs.segment(i)
        if np.all(y == y[0]):  # undefined; as the Numba kernel, not the rounding residue
            power[offsets[i] : offsets[i + 1]] = np.nan
            continue
        args = (t, y, grid.minimum_frequency[i], grid.step[i], n)
        if nterms == 1:
            power[offsets[i] : offsets[i + 1]] = finufft.lombscargle(*args, dy=dy, nthreads=1)
        else:
            power[offsets[i] : offsets[i + 1]] = finufft_chi2.lombscargle(
                *args, dy=dy, nthreads=1, nterms=nterms
            )
    return Periodogram(grid, power)


def _nifty_installed() -> bool:
    return importlib.util.find_spec("nifty_ls") is not None


BACKENDS: dict[str, PeriodBackend] = {
    "numba": PeriodBackend("numba", _numba_power, lambda: True, multiband=True),
    "nifty-ls": PeriodBackend("nifty-ls", _nifty_power, _nifty_installed, multiband=False),
}


def available_backends() -> list[str]:
    """Names of the installed backends (``auto`` is always accepted in addition)."""
    return [name for name, b in BACKENDS.items() if b.is_available()]


def resolve_backend(
    name: str, n_obs: np.ndarray, *, nterms: int = 1, multiband: bool = False
) -> np.ndarray:
    """The backend name used for each light curve (or source) with ``n_obs`` epochs.

    UsageError for a name that is not a backend or not installed: a run calls this with no
    light curves before any work, so a typo is exit 2, not a failure record per light curve.
    """
    n_obs = np.asarray(n_obs)
    if name == "auto":
        nifty = not multiband and BACKENDS["nifty-ls"].is_available()
        threshold = AUTO_NIFTY_MIN_EPOCHS if nterms == 1 else AUTO_NIFTY_MIN_EPOCHS_MULTIHARMONIC
        return np.where(nifty & (n_obs >= threshold), "nifty-ls", "numba")
    if name not in BACKENDS:
        raise UsageError(
            f"unknown period backend {name!r}; choose from auto, {', '.join(BACKENDS)}"
        )
    backend = BACKENDS[name]
    if not backend.is_available():
        raise UsageError(f"period backend {name!r} is not installed")
    if multiband and not backend.multiband:
        raise ValueError(f"period backend {name!r} cannot search multiband sources")
    return np.full(len(n_obs), name)


@dataclass(frozen=True)
class PeriodSearchResult:
    """Per light curve (or per multiband source), see ``search_periods``."""

    frequency: np.ndarray  # (n,) refined best frequency, cycles/day
    period: np.ndarray  # (n,) days
    power: np.ndarray  # (n,) standard-normalised power at ``frequency``
    fap: np.ndarray  # (n,) Baluev false-alarm probability of that peak (NaN for nterms > 1)
    log10_fap: np.ndarray  # (n,) finite even where ``fap`` underflows to 0
    period_uncertainty: np.ndarray  # (n,) days, 1 sigma (sinusoid formula; rough if nterms > 1)
    top_frequencies: np.ndarray  # (n, k) best separated grid peaks, best first, NaN-padded
    top_powers: np.ndarray  # (n, k)
    alias_flag: np.ndarray  # (n,) uint8 bitmask of ALIAS_DAILY | ALIAS_HALF_DOUBLE


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start and length."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - ends + lengths, lengths) + np.arange(ends[-1] if len(ends) else 0)


def _take(
    lcs: LightCurves, groups: np.ndarray, chosen: np.ndarray, multiband: bool
) -> tuple[LightCurves, np.ndarray | None]:
    """The light curves of the chosen sources, with their source index when multiband."""
    n_seg = groups[chosen + 1] - groups[chosen]
    segments = _ranges(groups[chosen], n_seg)
    return lcs.take(segments), (np.repeat(np.arange(len(chosen)), n_seg) if multiband else None)


def _chunks(indices: np.ndarray, n_frequencies: np.ndarray, limit: int) -> list[np.ndarray]:
    """Split ``indices`` into runs whose grids hold at most ``limit`` frequencies (or one)."""
    out, start, total = [], 0, 0
    for j, i in enumerate(indices):
        if j > start and total + n_frequencies[i] > limit:
            out.append(indices[start:j])
            start, total = j, 0
        total += n_frequencies[i]
    if start < len(indices):
        out.append(indices[start:])
    return out


def search_periods(
    lcs: LightCurves,
    *,
    source_index: np.ndarray | None = None,
    backend: str = "auto",
    maximum_frequency: float = 25.0,
    samples_per_peak: float = 5.0,
    minimum_frequency: float | None = None,
    nterms: int = 1,
    n_top: int = 5,
    min_peak_separation: float = 0.005,
    alias_tolerance: float = 0.01,
    strong_peak_fraction: float = 0.8,
    chunk_frequencies: int = 1 << 23,
) -> PeriodSearchResult:
    """Best period, its significance and competing peaks for every light curve of a batch.

    Per light curve (per source when ``source_index`` groups bands; see
    ``vsbatch.kernels.periodogram`` for the multiband model), on the ``frequency_grid``:

    1. the (``nterms``-harmonic) generalised Lomb-Scargle power from the chosen backend, in
       chunks of at most ``chunk_frequencies`` frequencies (64 MB of power);
    2. the ``n_top`` highest peaks at least ``min_peak_separation`` c/d apart (``top_peaks``);
    3. the best one refined on a 10x finer local grid plus a parabola, evaluated exactly
       (``refine_peak``);
    4. its Baluev FAP (``nterms == 1`` only), the Montgomery & O'Donoghue period uncertainty
       (``frequency_uncertainty / f**2``) and the alias bitmask (``alias_flags``).
    """
    groups = source_groups(lcs.n_segments, source_index)
    multiband = source_index is not None
    grid = frequency_grid(
        lcs,
        maximum_frequency=maximum_frequency,
        samples_per_peak=samples_per_peak,
        minimum_frequency=minimum_frequency,
        source_index=source_index,
    )
    n_obs = lcs.offsets[groups[1:]] - lcs.offsets[groups[:-1]]
    names = resolve_backend(backend, n_obs, nterms=nterms, multiband=multiband)

    frequency, power, top = _best_peaks(
        lcs, groups, grid, names, nterms, n_top, min_peak_separation, chunk_frequencies,
        multiband,
    )  # fmt: skip
    fap_value, log10_fap = _baluev(lcs, groups, power, n_obs, grid, nterms, source_index)
    sigma_f = frequency_uncertainty(power, n_obs, group_baseline(lcs, groups))
    flags = alias_flags(
        frequency,
        power,
        top,
        tolerance=alias_tolerance,
        strong_fraction=strong_peak_fraction,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return PeriodSearchResult(
            frequency=frequency,
            period=1.0 / frequency,
            power=power,
            fap=fap_value,
            log10_fap=log10_fap,
            period_uncertainty=sigma_f / frequency**2,
            top_frequencies=top.frequency,
            top_powers=top.power,
            alias_flag=flags,
        )


def _best_peaks(
    lcs: LightCurves,
    groups: np.ndarray,
    grid: FrequencyGrid,
    names: np.ndarray,
    nterms: int,
    n_top: int,
    min_peak_separation: float,
    chunk_frequencies: int,
    multiband: bool,
) -> tuple[np.ndarray, np.ndarray, Peaks]:
    """Refined best frequency and its power, and the top grid peaks, of every source: each
    backend's sources in chunks of at most ``chunk_frequencies`` grid frequencies."""
    n = len(groups) - 1
    frequency, power = np.full(n, np.nan), np.full(n, np.nan)
    top_f, top_p = np.full((n, n_top), np.nan), np.full((n, n_top), np.nan)
    for name in np.unique(names):
        for chosen in _chunks(np.flatnonzero(names == name), grid.n_frequencies, chunk_frequencies):
            sub, sub_source = _take(lcs, groups, chosen, multiband)
            sub_grid = FrequencyGrid(
                grid.minimum_frequency[chosen], grid.step[chosen], grid.n_frequencies[chosen]
            )
            periodogram = BACKENDS[name].power(sub, sub_grid, nterms, sub_source)
            peaks = top_peaks(periodogram, n_top, min_peak_separation)
            best = refine_peak(
                sub,
                peaks.frequency[:, 0],
                sub_grid.step,
                nterms=nterms,
                source_index=sub_source,
                bounds=(sub_grid.minimum_frequency, sub_grid.maximum_frequency),
            )
            frequency[chosen], power[chosen] = best.frequency, best.power
            top_f[chosen], top_p[chosen] = peaks.frequency, peaks.power
    return frequency, power, Peaks(top_f, top_p)


def _baluev(
    lcs: LightCurves,
    groups: np.ndarray,
    power: np.ndarray,
    n_obs: np.ndarray,
    grid: FrequencyGrid,
    nterms: int,
    source_index: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Baluev FAP and its log10 of each best peak; NaN for ``nterms > 1`` (no such bound)."""
    n = len(groups) - 1
    if nterms != 1:
        return np.full(n, np.nan), np.full(n, np.nan)
    n_bands = np.add.reduceat(lcs.counts > 0, groups[:-1]) if n else np.zeros(0)
    tv = time_variance(lcs, source_index)
    fap = baluev_fap(power, n_obs, grid.maximum_frequency, tv, n_bands)
    return fap.fap, fap.log10_fap
