"""Model inputs built from light curves: the NN-FAP sequence of Miller et al. (2022).

NN-FAP input (Sect. 2.1 of the paper), for a light curve folded at a candidate frequency:

- points with a large error are rejected (the paper: ``err >= 0.1`` mag on VVV). The cut here
  is survey-aware (``err_cut="auto"``): keep ``err < max(0.1, ERR_CUT_K * median(err))`` with
  ``ERR_CUT_K = 3``. It is never stricter than the paper's 0.1 mag, and on noisy surveys
  (EROS-1, median error ~0.13 mag; ASAS ~0.05-0.1 mag) it removes only the outliers instead of
  most of the curve. ``err_cut=0.1`` gives the paper's fixed rule, ``None`` no cut;
- the curve is cut to ``n_points`` (200) epochs by an even stride in time order (keeps the
  whole baseline and the cadence; truncating would keep only the first seasons), sorted by
  phase ``frac(f (t - t0))``;
- per step ``i`` the channels are ``[mag_i, phase_i, dphase_i, knn_i]``: phase-sorted
  magnitude, phase, ``phase_i - phase_{i-1}`` (``phase_0 - 0`` for the first point), and the
  200-point inverse-distance KNN interpolation of the folded curve
  (:func:`vsbatch.kernels.interp.knn_interpolate`, on all kept epochs, grid ``j / 200``);
- curves with fewer than ``n_points`` epochs are zero-padded; ``padding="pre"`` puts the zeros
  first (Keras ``pad_sequences`` default, and the GRU's last state then sits next to real
  points); the KNN channel always fills all 200 steps;
- magnitudes are not in the paper's description; a network cannot take raw 12-20 mag values,
  so both magnitude channels are scaled per curve to ``(m - q1) / (q99 - q1)`` (1st and 99th
  percentile of the kept epochs), clipped to ``[-1, 2]``. The scale removes the amplitude
  (NN-FAP judges the shape of the fold, not its size) and the clip bounds outliers.

Random phase shifts (the paper shows each training curve 10 times, shifted by U(0, 2 pi)) are
implemented as per-copy ``t0`` offsets, so the interpolation is recomputed on the shifted fold.
Errors never enter the input (the paper found they hurt); they only select the points.

:func:`fold_cycles` says whether a fold samples at least two cycles (the paper's condition
for trusting NN-FAP), counting folds that are spectral-window aliases of a fold with fewer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vsbatch.kernels.arrays import LightCurves, per_segment
from vsbatch.kernels.interp import knn_interpolate
from vsbatch.kernels.status import STATUS_REASONS, KernelStatus

N_POINTS = 200
ERR_CUT_FLOOR = 0.1  # the paper's fixed cut (mag); the auto cut is never stricter
ERR_CUT_K = 3.0  # auto cut: err < max(ERR_CUT_FLOOR, ERR_CUT_K * median err of the curve)
MIN_POINTS = 10  # fewest kept epochs for an input (the paper tests N down to 10; trust N > 50)
KNN_K = 5  # scikit-learn's default n_neighbors (the paper does not state k)
CHANNELS = ("mag", "phase", "dphase", "knn")
MAG_CLIP = (-1.0, 2.0)


@dataclass(frozen=True)
class NnfapBatch:
    """NN-FAP inputs of a batch (``n = n_segments * max(1, phase_shifts)`` rows).

    Row ``r`` is light curve ``segment[r]`` folded with phase offset ``shift[r]`` (cycles).
    Rows whose ``status`` is not OK are all zeros and must not be scored.
    """

    x: np.ndarray  # float32 (n, n_points, 4): CHANNELS
    valid_mask: np.ndarray  # bool (n, n_points): steps holding a real (not padded) point
    status: np.ndarray  # int8 (n,) KernelStatus
    segment: np.ndarray  # int64 (n,) index of the light curve in the input batch
    shift: np.ndarray  # float64 (n,) phase shift in cycles (0 without shifts)
    n_points: np.ndarray  # int32 (n,) epochs kept by the error cut (before cutting to 200)

    def reasons(self) -> list[str]:
        """Failure text of each row (``"ok"`` for usable rows)."""
        return [STATUS_REASONS[KernelStatus(int(s))] for s in self.status]


def light_curves_from_table(
    table: pa.Table, per_source: tuple[str, ...] = ()
) -> tuple[LightCurves, pa.Table]:
    """Group a long table (source_id, time, mag, mag_err[, band]) into light curves.

    Why: the generator, training and evaluation take ordinary vsbatch input tables. One segment
    per (source_id, band), ordered by source then band, epochs sorted by time; rows with
    non-finite time/mag or non-positive errors are dropped (the pipeline's row policy).
    Returns the curves and a table of ``source_id``, ``band`` and the first value of each
    ``per_source`` column per segment.
    """
    if "band" not in table.column_names:
        table = table.append_column("band", pa.nulls(table.num_rows, pa.string()))
    time = table.column("time").to_numpy().astype(np.float64)
    mag = table.column("mag").to_numpy().astype(np.float64)
    err = table.column("mag_err").to_numpy().astype(np.float64)
    keep = np.isfinite(time) & np.isfinite(mag) & np.isfinite(err) & (err > 0)
    table = table.filter(pa.array(keep))
    keys = [("source_id", "ascending", "at_end"), ("band", "ascending", "at_end")]
    order = pc.sort_indices(table, sort_keys=[*keys, ("time", "ascending", "at_end")])
    table = table.take(order)
    codes = [
        pc.fill_null(pc.dictionary_encode(table.column(k)).combine_chunks().indices, -1)
        .to_numpy(zero_copy_only=False)
        .astype(np.int64)
        for k in ("source_id", "band")
    ]
    n = table.num_rows
    new = np.r_[n > 0, (codes[0][1:] != codes[0][:-1]) | (codes[1][1:] != codes[1][:-1])][:n]
    starts = np.flatnonzero(new)
    offsets = np.append(starts, n).astype(np.int64)
    lcs = LightCurves(
        offsets,
        np.ascontiguousarray(table.column("time").to_numpy(), dtype=np.float64),
        np.ascontiguousarray(table.column("mag").to_numpy(), dtype=np.float64),
        np.ascontiguousarray(table.column("mag_err").to_numpy(), dtype=np.float64),
    )
    first = pa.array(starts, pa.int64())
    cols = {c: table.column(c).take(first) for c in ("source_id", "band", *per_source)}
    return lcs, pa.table(cols)


@numba.njit(cache=True)
def _thresholds_kernel(offsets, err, auto, fixed, k, floor, out):
    for s in range(offsets.size - 1):
        if not auto:
            out[s] = fixed
            continue
        e = err[offsets[s] : offsets[s + 1]]
        good = e[np.isfinite(e) & (e > 0.0)]
        out[s] = max(floor, k * np.median(good)) if good.size else floor


@numba.njit(cache=True)
def _sequence_kernel(
    time,
    mag,
    offsets,
    segment,
    frequency,
    t0,
    q_lo,
    q_hi,
    n_points,
    pre,
    clip_lo,
    clip_hi,
    x,
    valid,
    status,
):
    """Fill the point channels of every row (KNN channel is added afterwards)."""
    for r in range(segment.size):
        s = segment[r]
        lo, hi = offsets[s], offsets[s + 1]
        n = hi - lo
        if status[r] != 0:
            continue
        m_keep = min(n, n_points)
        ph = np.empty(m_keep)
        mm = np.empty(m_keep)
        for j in range(m_keep):
            # even stride in time order: index floor(j * n / m_keep) of the kept epochs
            i = lo + (j * n) // m_keep
            v = frequency[r] * (time[i] - t0[r])
            p = v - np.floor(v)
            ph[j] = 0.0 if p >= 1.0 else p
            mm[j] = mag[i]
        order = np.argsort(ph, kind="mergesort")
        scale = q_hi[s] - q_lo[s]
        if not scale > 0.0:
            scale = 1.0
        start = n_points - m_keep if pre else 0
        prev = 0.0
        for j in range(m_keep):
            p = ph[order[j]]
            v = (mm[order[j]] - q_lo[s]) / scale
            x[r, start + j, 0] = min(max(v, clip_lo), clip_hi)
            x[r, start + j, 1] = p
            x[r, start + j, 2] = p - prev
            valid[r, start + j] = True
            prev = p


def _keep_mask(lcs: LightCurves, thresholds: np.ndarray) -> np.ndarray:
    seg = np.repeat(np.arange(lcs.n_segments), lcs.counts)
    return (
        np.isfinite(lcs.time)
        & np.isfinite(lcs.mag)
        & np.isfinite(lcs.err)
        & (lcs.err > 0)
        & (lcs.err < thresholds[seg])
    )


def _subset(lcs: LightCurves, keep: np.ndarray) -> LightCurves:
    seg = np.repeat(np.arange(lcs.n_segments), lcs.counts)
    counts = np.bincount(seg[keep], minlength=lcs.n_segments)
    offsets = np.zeros(lcs.n_segments + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return LightCurves(offsets, lcs.time[keep], lcs.mag[keep], lcs.err[keep])


def _quantiles(lcs: LightCurves, q: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(lcs.n_segments, np.nan)
    hi = np.full(lcs.n_segments, np.nan)
    for s in np.flatnonzero(lcs.counts > 0):
        a, b = lcs.offsets[s], lcs.offsets[s + 1]
        lo[s], hi[s] = np.percentile(lcs.mag[a:b], q)
    return lo, hi


def _error_cut(lcs: LightCurves, err_cut: float | str | None, err_cut_k: float) -> LightCurves:
    """The epochs of every light curve that pass the error cut (see the module docstring)."""
    thresholds = np.empty(lcs.n_segments)
    auto = isinstance(err_cut, str)
    if auto and err_cut != "auto":
        raise ValueError("err_cut must be 'auto', a number or None")
    fixed = np.inf if err_cut is None else (0.0 if auto else float(err_cut))
    _thresholds_kernel(
        lcs.offsets, lcs.err, auto, fixed, float(err_cut_k), ERR_CUT_FLOOR, thresholds
    )
    return _subset(lcs, _keep_mask(lcs, thresholds))


@dataclass(frozen=True)
class _RowFolds:
    """How each input row is folded: its light curve, phase shift, frequency and epoch."""

    segment: np.ndarray  # int64, light curve of each row
    shift: np.ndarray  # float64, phase shift in cycles
    frequency: np.ndarray  # float64, c/d (may be non-finite or <= 0)
    good: np.ndarray  # bool, frequency finite and positive
    t0: np.ndarray  # float64, epoch of phase 0 with the shift folded in (0 where not good)


def _row_folds(freq: np.ndarray, t0_seg: np.ndarray, phase_shifts: int, seed: int) -> _RowFolds:
    """``max(1, phase_shifts)`` rows per light curve, shifted by seeded U(0, 1) cycles."""
    copies = max(1, int(phase_shifts))
    segment = np.repeat(np.arange(freq.size, dtype=np.int64), copies)
    if phase_shifts > 0:
        shift = np.random.default_rng(seed).uniform(0.0, 1.0, size=segment.size)
    else:
        shift = np.zeros(segment.size)
    f_rows = freq[segment]
    good_f = np.isfinite(f_rows) & (f_rows > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # phase + shift == frac(f (t - t0 + shift / f)): a shift is a change of epoch
        t0_rows = np.where(good_f, t0_seg[segment] - shift / np.where(good_f, f_rows, 1.0), 0.0)
    return _RowFolds(segment, shift, f_rows, good_f, t0_rows)


def _fill_knn_channel(
    x: np.ndarray,
    kept: LightCurves,
    rows: _RowFolds,
    status: np.ndarray,
    q_lo: np.ndarray,
    q_hi: np.ndarray,
    knn_k: int,
) -> None:
    """Write the scaled, clipped KNN interpolation of the fold into channel 3 of usable rows."""
    ok = np.flatnonzero(status == KernelStatus.OK)
    if not ok.size:
        return
    interp = knn_interpolate(
        kept.take(rows.segment[ok]), rows.frequency[ok], t0=rows.t0[ok], n_grid=x.shape[1],
        k=knn_k,
    )  # fmt: skip
    s_ok = rows.segment[ok]
    scale = q_hi[s_ok] - q_lo[s_ok]
    scale = np.where(scale > 0, scale, 1.0)
    knn = (interp.values - q_lo[s_ok, None]) / scale[:, None]
    x[ok, :, 3] = np.clip(knn, *MAG_CLIP)


def nnfap_input(
    lcs: LightCurves,
    frequency: np.ndarray | float,
    *,
    n_points: int = N_POINTS,
    phase_shifts: int = 0,
    seed: int = 0,
    err_cut: float | str | None = "auto",
    err_cut_k: float = ERR_CUT_K,
    min_points: int = MIN_POINTS,
    knn_k: int = KNN_K,
    padding: str = "pre",
    t0: np.ndarray | float = 0.0,
) -> NnfapBatch:
    """The NN-FAP input of every light curve of a batch, folded at ``frequency`` (c/d).

    ``phase_shifts=0`` gives one unshifted row per curve (inference); ``phase_shifts=10``
    gives 10 rows per curve, each folded with a seeded random phase offset U(0, 1) cycles
    (the paper's training augmentation). Curves with fewer than ``min_points`` epochs left
    after the error cut get TOO_FEW_POINTS, a non-finite or non-positive frequency
    BAD_FREQUENCY; their rows are zeros.
    """
    if padding not in ("pre", "post"):
        raise ValueError("padding must be 'pre' or 'post'")
    if n_points < 1 or min_points < 1:
        raise ValueError("n_points and min_points must be >= 1")
    n_seg = lcs.n_segments
    freq = per_segment(frequency, n_seg, "frequency")
    t0_seg = per_segment(t0, n_seg, "t0")
    kept = _error_cut(lcs, err_cut, err_cut_k)
    n_kept = kept.counts
    rows = _row_folds(freq, t0_seg, phase_shifts, seed)
    status = np.where(
        ~rows.good,
        np.int8(KernelStatus.BAD_FREQUENCY),
        np.where(n_kept[rows.segment] < max(min_points, knn_k), KernelStatus.TOO_FEW_POINTS, 0),
    ).astype(np.int8)

    n_rows = rows.segment.size
    x = np.zeros((n_rows, n_points, len(CHANNELS)), dtype=np.float32)
    valid = np.zeros((n_rows, n_points), dtype=bool)
    q_lo, q_hi = _quantiles(kept, (1.0, 99.0))
    _sequence_kernel(
        kept.time, kept.mag, kept.offsets, rows.segment,
        np.where(rows.good, rows.frequency, 1.0), rows.t0, q_lo, q_hi,
        int(n_points), padding == "pre", MAG_CLIP[0], MAG_CLIP[1], x, valid, status,
    )  # fmt: skip
    _fill_knn_channel(x, kept, rows, status, q_lo, q_hi, knn_k)
    return NnfapBatch(
        x=x,
        valid_mask=valid,
        status=status,
        segment=rows.segment,
        shift=rows.shift,
        n_points=n_kept[rows.segment].astype(np.int32),
    )


ALIAS_WINDOW_POWER = 0.5  # a spectral-window peak this strong makes two folds look alike
MIN_CYCLES = 2.0  # the paper's advice: trust a fold only with at least two cycles (Sect. 3.2)


@numba.njit(cache=True)
def _fold_cycles_kernel(time, offsets, frequency, cycles, steps, n_cycles, window):
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        n = hi - lo
        f = frequency[s]
        if n < 2 or not (np.isfinite(f) and f > 0.0):
            n_cycles[s] = np.nan
            window[s] = np.nan
            continue
        span = time[hi - 1] - time[lo]
        n_cycles[s] = span * f
        if not span > 0.0:
            window[s] = 1.0
            continue
        best = 0.0
        for j in range(steps):
            nu = f + cycles * (2.0 * j / (steps - 1) - 1.0) / span
            if nu < cycles / span:
                continue  # the window's main lobe: f - nu would be f itself, not a shorter fold
            c = 0.0
            si = 0.0
            for i in range(lo, hi):
                a = 2.0 * np.pi * nu * (time[i] - time[lo])
                c += np.cos(a)
                si += np.sin(a)
            best = max(best, np.sqrt(c * c + si * si) / n)
        window[s] = best


@dataclass(frozen=True)
class FoldCycles:
    """How many cycles a fold really samples (per light curve).

    ``n_cycles`` is baseline x frequency (the paper trusts NN-FAP from 2 up). ``alias_window``
    is the largest spectral-window power ``|mean exp(2 pi i nu t)|`` for ``nu`` within
    ``MIN_CYCLES / T`` of the fold frequency, leaving out ``nu < MIN_CYCLES / T`` (the window's
    main lobe: a fold of 2-4 cycles is judged, not flagged): when it is high, the fold at
    ``f`` is an alias of a fold with fewer than two cycles (e.g. ``f = 1 c/d + 1/T`` on a
    nightly cadence folds a single event into one clean bump, exactly like ``f = 1/T``).
    ``few_cycles`` is
    ``n_cycles < MIN_CYCLES`` or ``alias_window >= ALIAS_WINDOW_POWER``.
    """

    n_cycles: np.ndarray  # float64
    alias_window: np.ndarray  # float64 in [0, 1]
    few_cycles: np.ndarray  # bool


def fold_cycles(
    lcs: LightCurves, frequency: np.ndarray | float, *, cycles: float = MIN_CYCLES,
    steps: int = 81,
) -> FoldCycles:  # fmt: skip
    """The cycle diagnostics of folding each light curve at ``frequency`` (see FoldCycles).

    Why: NN-FAP (like any phase-fold judge) cannot tell one cycle of a transient or trend from
    one cycle of a periodic star; this marks folds where that is what it is shown.
    """
    n = lcs.n_segments
    n_cycles = np.empty(n)
    window = np.empty(n)
    _fold_cycles_kernel(
        lcs.time, lcs.offsets, per_segment(frequency, n, "frequency"), float(cycles),
        int(steps), n_cycles, window,
    )  # fmt: skip
    with np.errstate(invalid="ignore"):
        few = (n_cycles < cycles) | (window >= ALIAS_WINDOW_POWER)
    return FoldCycles(n_cycles, window, few)
