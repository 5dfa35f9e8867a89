"""Sequence inputs of the type classifiers and the per-source stacking of
bands shared by every classifier input.

(a) Raw light curves (Bassi et al. 2021, Sect. 2.2): the epochs in time order, zero-padded
at the end or cut to a fixed ``length`` (Bassi: 359 for OGLE, the mode of the epoch counts;
EROS-1 has at most 125 epochs per band, hence the default 128). Bassi feed magnitudes only;
an irregularly sampled curve also needs its timing, so each step holds two channels:

- ``mag``: ``m - median(m)`` (mag), clipped to ``+-mag_clip``; the amplitude is kept (it tells a
  Mira from a Cepheid), the zero point (distance, band) is not;
- ``log_dt``: ``log10(1 + dt)`` with ``dt`` the days since the previous epoch (0 at the first),
  so a step across a seasonal gap looks different from one inside a night.

(b) The 360-point curve of Carraro (2025, Sect. 2.2.1) from catalog parameters, so a
catalogue without light curves can be classified::

    m(phi) - M = A1 cos(2 pi phi) + A2 cos(4 pi phi + phi21) [+ A3 cos(6 pi phi + phi31)]

with ``A1 = amplitude / 2`` (peak-to-peak to first-harmonic amplitude, as the thesis),
``A2 = R21 A1``, ``A3 = R31 A1``, phases in the cosine convention of the OGLE catalogues and of
vsbatch's Fourier stage (``phi_k1 = phi_k - k phi_1``, ``phi_1 = 0``). The thesis writes
``A_i cos(phi_i) cos + A_i sin(phi_i) sin``, i.e. ``cos(k 2 pi phi - phi_k1)``: the time-reversed
curve, the same information; using the catalogue's own sign keeps a vsbatch catalog and the
OGLE tables on one convention. Differences from the thesis, each an option: the mean magnitude
``M`` is subtracted (it measures distance, not type), the third harmonic enters when R31/phi31
are given, and a second channel holds ``log10(period)`` on every step (the thesis curve spans
one cycle and carries no period; ``period_channel=False`` gives the thesis input). A missing
R21/phi21 (OGLE gives none for long-period variables) or R31/phi31 means that harmonic is 0.

Multi-band models see all bands of a source: :func:`stack_bands` puts each band's per-segment
array in its own slot, in the order of the model card's ``bands``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.status import KernelStatus

SEQUENCE_CHANNELS = ("mag", "log_dt")
CURVE_POINTS = 360  # the thesis's reconstructed curve (phases j / 360, j = 0..359)
DEFAULT_LENGTH = 128
DEFAULT_MAG_CLIP = 3.0
DEFAULT_MIN_POINTS = 5
NO_AMPLITUDE = 100  # status of a catalogue row without a usable amplitude
CURVE_REASONS = {
    int(KernelStatus.OK): "ok",
    int(KernelStatus.BAD_FREQUENCY): "period is missing, infinite or not positive",
    NO_AMPLITUDE: "amplitude is missing, infinite or negative",
}


@dataclass(frozen=True)
class SequenceBatch:
    """Fixed-length inputs: ``x`` (n, length, channels) float32, zero where ``status`` != OK."""

    x: np.ndarray
    n_used: np.ndarray  # int64, steps holding real points
    status: np.ndarray  # int8 KernelStatus


@numba.njit(cache=True)
def _sequence_kernel(time, mag, offsets, length, mag_clip, min_points, x, n_used, status):
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        n = hi - lo
        if n < min_points:
            status[s] = KernelStatus.TOO_FEW_POINTS
            n_used[s] = 0
            continue
        status[s] = KernelStatus.OK
        med = np.median(mag[lo:hi])
        k = min(n, length)
        n_used[s] = k
        for i in range(k):
            dm = mag[lo + i] - med
            x[s, i, 0] = min(max(dm, -mag_clip), mag_clip)
            dt = time[lo + i] - time[lo + i - 1] if i > 0 else 0.0
            x[s, i, 1] = np.log10(1.0 + dt)


def raw_sequences(
    lcs: LightCurves,
    length: int = DEFAULT_LENGTH,
    *,
    mag_clip: float = DEFAULT_MAG_CLIP,
    min_points: int = DEFAULT_MIN_POINTS,
) -> SequenceBatch:
    """The padded/cut raw sequence of every segment (channels :data:`SEQUENCE_CHANNELS`).

    Why the first ``length`` epochs rather than an even stride: it is Bassi et al.'s rule
    ("clipped at the 359th observation") and keeps the true spacing of consecutive epochs.
    Segments with fewer than ``min_points`` epochs get status TOO_FEW_POINTS and zeros.
    """
    if length < 1:
        raise ValueError("length must be >= 1")
    n = lcs.n_segments
    x = np.zeros((n, length, len(SEQUENCE_CHANNELS)), dtype=np.float32)
    n_used = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    _sequence_kernel(
        lcs.time,
        lcs.mag,
        lcs.offsets,
        int(length),
        float(mag_clip),
        int(min_points),
        x,
        n_used,
        status,
    )
    return SequenceBatch(x, n_used, status)


def _harmonic(values: np.ndarray | None, n: int) -> np.ndarray:
    """A per-row harmonic parameter with missing values (None, NaN) as 0."""
    if values is None:
        return np.zeros(n)
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, 0.0)


def reconstructed_curves(
    period: np.ndarray,
    amplitude: np.ndarray,
    r21: np.ndarray | None = None,
    phi21: np.ndarray | None = None,
    r31: np.ndarray | None = None,
    phi31: np.ndarray | None = None,
    *,
    n_points: int = CURVE_POINTS,
    period_channel: bool = True,
) -> SequenceBatch:
    """The thesis's regularised curve of every row (see the module docstring).

    Rows without a finite positive period get status BAD_FREQUENCY, rows without a finite
    non-negative amplitude :data:`NO_AMPLITUDE` (reasons in :data:`CURVE_REASONS`); both zeros.
    """
    period = np.asarray(period, dtype=np.float64)
    amplitude = np.asarray(amplitude, dtype=np.float64)
    n = period.size
    a1 = 0.5 * np.where(np.isfinite(amplitude), amplitude, 0.0)
    a2 = a1 * _harmonic(r21, n)
    a3 = a1 * _harmonic(r31, n)
    p21, p31 = _harmonic(phi21, n), _harmonic(phi31, n)
    theta = (2.0 * np.pi * np.arange(n_points) / n_points).astype(np.float32)
    a1, a2, a3, p21, p31 = (v.astype(np.float32) for v in (a1, a2, a3, p21, p31))
    shape = (
        a1[:, None] * np.cos(theta)[None, :]
        + a2[:, None] * np.cos(2.0 * theta[None, :] + p21[:, None])
        + a3[:, None] * np.cos(3.0 * theta[None, :] + p31[:, None])
    )
    status = np.full(n, KernelStatus.OK, dtype=np.int8)
    status[~(np.isfinite(amplitude) & (amplitude >= 0))] = NO_AMPLITUDE
    status[~(np.isfinite(period) & (period > 0))] = KernelStatus.BAD_FREQUENCY
    x = np.zeros((n, n_points, 2 if period_channel else 1), dtype=np.float32)
    ok = status == KernelStatus.OK
    x[ok, :, 0] = shape[ok]
    if period_channel:
        x[ok, :, 1] = np.log10(period[ok])[:, None]
    return SequenceBatch(x, np.where(ok, n_points, 0).astype(np.int64), status)


def band_slots(band: np.ndarray, bands: tuple[str, ...]) -> np.ndarray:
    """Slot of every segment's band in ``bands`` (-1 for a band the model does not know)."""
    lookup = {b: i for i, b in enumerate(bands)}
    return np.array([lookup.get(b, -1) for b in band], dtype=np.int64)


def stack_bands(
    values: np.ndarray, ok: np.ndarray, source_index: np.ndarray, slot: np.ndarray, n_bands: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-source arrays (n_sources, n_bands, ...) from per-segment ``values``.

    Why: a multi-band model sees all bands of a source at once. Segments with ``ok`` False or
    an unknown band (slot -1) leave their slot at zero; ``present`` (n_sources, n_bands) says
    which slots hold a curve. Sources are numbered 0..max(source_index).
    """
    n_sources = int(source_index.max()) + 1 if source_index.size else 0
    out = np.zeros((n_sources, n_bands, *values.shape[1:]), dtype=values.dtype)
    present = np.zeros((n_sources, n_bands), dtype=bool)
    use = ok & (slot >= 0)
    out[source_index[use], slot[use]] = values[use]
    present[source_index[use], slot[use]] = True
    return out, present


def source_sequences(
    batch: SequenceBatch, source_index: np.ndarray, slot: np.ndarray, n_bands: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n_sources, length, n_bands * channels) float32 and ``present``: bands side by side as
    channels (band 0's channels first)."""
    stacked, present = stack_bands(
        batch.x, batch.status == KernelStatus.OK, source_index, slot, n_bands
    )
    n, b, length, c = stacked.shape
    return np.ascontiguousarray(stacked.transpose(0, 2, 1, 3).reshape(n, length, b * c)), present
