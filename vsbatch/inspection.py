"""``vsbatch inspect``: one PNG that shows how a source's catalog rows came about.

Why: a catalog value (a period, a Blazhko class, a Fourier parameter) is only trusted after
someone has looked at the light curve behind it. This page redraws, from the input the manifest
records, what every stage saw, with the same configuration (``RunConfig.from_dict(manifest
.config)``: same frequency grid, fold period, Fourier order and clipping) and the same row
policy (``vsbatch.stages.clean.clean_partition``):

1. the raw light curve per band (magnitude axis inverted);
2. the GLS periodogram of each band with the catalog's peak and the power at which the Baluev
   FAP is 10^-3;
3. the curve folded on ``fold_period`` (phase 0-2) with the catalog's Fourier fit and the
   epochs the 0.35 mag clipping rejected;
4. the residual amplitude spectrum after pre-whitening f0 and its harmonics, with the PS17
   side-peak search windows k f0 +- 0.3 c/d and the deciding peak;
5. the dm-dt image (Mahabal et al. 2017 bins) as stored in the catalog;
6. the model inputs: the NN-FAP 200-point KNN interpolation of the folded curve, and the
   prediction of each model column when the catalog has any (none yet).

The source's rows and epochs are read by ``vsbatch.io.source_lookup`` (only the partition file
its id hashes to and the input row groups that can hold it), so inspecting one star of a
catalog of millions reads little more than that star.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pyarrow.compute as pc
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vsbatch.config import RunConfig
from vsbatch.errors import InputError, UsageError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import Catalog, open_catalog, write_bytes_atomic
from vsbatch.io.source_lookup import catalog_rows, source_epochs
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.dmdt import MAHABAL_DM_EDGES, MAHABAL_DT_EDGES, dmdt_histograms
from vsbatch.kernels.fap import baluev_fap, time_variance
from vsbatch.kernels.fourier import FourierFit, fit_fourier, fold
from vsbatch.kernels.interp import knn_interpolate, phase_grid
from vsbatch.kernels.periodogram import FrequencyGrid, frequency_grid
from vsbatch.kernels.prewhiten import amplitude_spectrum, blazhko_analysis
from vsbatch.kernels.status import KernelStatus
from vsbatch.period_backends import BACKENDS, resolve_backend
from vsbatch.plotting import STYLE, PanelInfo, figure, fourier_curve, panel_info, png_bytes
from vsbatch.schema import table_schema
from vsbatch.stages.clean import CleanPartition, clean_partition

FIGSIZE = (14.0, 14.0)  # inches; at DPI the PNG is 1400 x 1400 pixels
DPI = 100
FAP_LEVEL = 1e-3
"""False-alarm probability whose GLS power is drawn on the periodogram."""
SIDE_PEAK_HALFWIDTH = 0.3  # c/d, the PS17 search window k f0 +- 0.3 (blazhko_analysis default)
NOISE_HALFWIDTH = 1.0  # c/d, the PS17 S/N box
SNR_BL = 4.0
SEARCH_HARMONICS = 2
RESOLUTION_FACTOR = 1.5  # a side peak closer than 1.5/T to k f0 is unresolved (PS17)
TIME_CMAP = "viridis"
KNN_POINTS = 200
MAX_PLOT_POINTS = 5000  # a spectrum is reduced to this many per-bin maxima before drawing
MAX_SPECTRUM_FREQUENCIES = 400_000
BAND_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_PIPELINE_STAGES = {"clean", "stats", "period", "multiband", "pdm", "fourier", "freqanalysis"}
_PIPELINE_STAGES |= {"dmdt", "hive"}


@dataclass(frozen=True)
class BandInspection:
    """What the inspection found for one band of the source."""

    band: str | None
    n_input: int  # epochs in the input
    n_epochs: int  # epochs after the row policy (the catalog's n_obs)
    period: float  # d, the catalog's GLS period (NaN when not computed)
    fold_period: float  # d, what the Fourier fit and the frequency analysis folded on
    log10_fap: float  # the catalog's log10 Baluev FAP of the period
    fap_level_power: float  # GLS power at which the Baluev FAP equals FAP_LEVEL
    fa_class: str | None
    n_rejected: int  # epochs the Fourier fit's clipping rejected


@dataclass(frozen=True)
class InspectionSummary:
    """What ``inspect_source`` drew, and from what."""

    source_id: object
    output: Path
    input: str
    primary_band: str | None  # the band with most epochs: residual spectrum and dm-dt
    bands: tuple[BandInspection, ...]
    panels: tuple[PanelInfo, ...]
    width: int  # pixels
    height: int
    model_columns: tuple[str, ...]
    consistent: bool  # the refit matched the catalog (same input, same config)
    notes: tuple[str, ...]


# ----------------------------------------------------------------------------- finding data


def _typed_id(source_id: object, id_type: str) -> object:
    if id_type == "int64":
        try:
            return int(str(source_id).strip())
        except ValueError:
            raise UsageError(
                f"source id {source_id!r} is not an integer; this catalog's source_id is int64"
            ) from None
    return str(source_id)


def _not_found(cat: Catalog, source_id: object) -> UsageError:
    fails = cat.failures()
    mask = pc.equal(fails.column("source_id"), str(source_id))
    records = fails.filter(mask).to_pylist()
    if records:
        what = "; ".join(f"{r['band']}: {r['stage']}: {r['reason']}" for r in records[:5])
        return UsageError(
            f"source {source_id!r} has no row in the catalog {cat.root}; its failure records: "
            f"{what}"
        )
    return UsageError(
        f"source {source_id!r} is not in the catalog {cat.root} (no row and no failure record; "
        f"ids are matched exactly, as {cat.manifest.source_id_type})"
    )


def model_columns(cat: Catalog, columns: list[str]) -> tuple[str, ...]:
    """Columns filled by models: undeclared (or declared by a stage not of the pipeline)."""
    declared = {c.name: c.stage for c in table_schema("catalog").columns}
    carried = set(cat.manifest.carried_columns)
    out = []
    for c in columns:
        stage = declared.get(c)
        if c in carried or c == "part" or (stage is not None and stage in _PIPELINE_STAGES):
            continue
        out.append(c)
    return tuple(out)


# ----------------------------------------------------------------------------- computations


def fap_power_level(lcs: LightCurves, grid: FrequencyGrid, fap: float = FAP_LEVEL) -> np.ndarray:
    """GLS power at which the Baluev FAP of each light curve equals ``fap`` (bisection).

    The FAP falls monotonically with the power, so 60 halvings of [0, 1] give the level to
    double precision; NaN where the FAP is undefined (too few epochs).
    """
    n = lcs.counts.astype(np.float64)
    tv = time_variance(lcs)
    fmax = grid.maximum_frequency
    target = math.log10(fap)
    lo, hi = np.zeros(len(n)), np.ones(len(n))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = baluev_fap(mid, n, fmax, tv, 1).log10_fap > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    level = 0.5 * (lo + hi)
    ok = np.isfinite(baluev_fap(level, n, fmax, tv, 1).log10_fap)
    return np.where(ok, level, np.nan)


def periodogram(
    lcs: LightCurves, config: RunConfig
) -> tuple[np.ndarray, np.ndarray, FrequencyGrid]:
    """(frequency, power) of a one-segment batch on the run's grid, with the run's backend."""
    grid = frequency_grid(
        lcs,
        maximum_frequency=config.fmax,
        samples_per_peak=config.samples_per_peak,
        minimum_frequency=config.fmin,
    )
    if not grid.n_frequencies[0]:
        return np.zeros(0), np.zeros(0), grid
    backend = str(resolve_backend(config.period_backend, lcs.counts)[0])
    power = BACKENDS[backend].power(lcs, grid, 1, None).power
    return grid.frequencies(0), power, grid


def envelope(x: np.ndarray, y: np.ndarray, n_out: int = MAX_PLOT_POINTS) -> tuple:
    """Reduce a dense curve to per-bin maxima (peaks survive) for drawing."""
    if len(x) <= 2 * n_out:
        return x, y
    width = len(x) // n_out
    m = width * (len(x) // width)
    yy = np.where(np.isfinite(y[:m]), y[:m], -np.inf).reshape(-1, width)
    idx = np.argmax(yy, axis=1) + np.arange(yy.shape[0]) * width
    return x[idx], y[idx]


@dataclass(frozen=True)
class _Band:
    """Everything drawn for one band."""

    label: str
    row: dict
    lcs: LightCurves
    frequency: np.ndarray
    power: np.ndarray
    fap_power: float
    fold_period: float
    fit: FourierFit  # of this band (one segment), with the run's order and clipping
    knn: np.ndarray
    colour: str


def _float(row: dict, name: str) -> float:
    v = row.get(name)
    return float(v) if v is not None else float("nan")


def _fold_period(row: dict) -> float:
    p = _float(row, "fold_period")
    return p if math.isfinite(p) and p > 0 else _float(row, "period")


@dataclass(frozen=True)
class _Residuals:
    """Residuals of the PS17 pre-whitening and their amplitude spectrum."""

    frequency: np.ndarray  # c/d
    amplitude: np.ndarray  # mag
    snr_level: np.ndarray  # SNR_BL x mean amplitude within +-NOISE_HALFWIDTH
    f0: float  # the frequency pre-whitened (f0_fit of the analysis)
    residual: np.ndarray  # mag, one per epoch


def residual_spectrum(lcs: LightCurves, f0: float, config: RunConfig) -> _Residuals | None:
    """Amplitude spectrum of the residuals after an unweighted fit of f0 + harmonics (PS17).

    f0 is the frequency the frequency analysis ended with (``blazhko_analysis``'s ``f0_fit``:
    refitted when the strongest residual was unresolved), the fit unweighted as Period04's.
    """
    if not (math.isfinite(f0) and f0 > 0):
        return None
    fa = blazhko_analysis(lcs, f0, order=config.fourier_order)
    if fa.status[0] != KernelStatus.OK:
        return _Residuals(np.zeros(0), np.zeros(0), np.zeros(0), f0, np.zeros(0))
    f_fit = float(fa.f0_fit[0])
    t, m, _ = lcs.segment(0)
    flat = LightCurves(lcs.offsets, t, m, np.ones_like(t))
    fit = fit_fourier(flat, f_fit, order=config.fourier_order, clip_iterations=0)
    resid = m - fourier_curve(fit, 0, fold(flat, f_fit))
    span = float(t[-1] - t[0])
    f_lo = max(0.0, f_fit - SIDE_PEAK_HALFWIDTH - NOISE_HALFWIDTH)
    f_hi = SEARCH_HARMONICS * f_fit + SIDE_PEAK_HALFWIDTH + NOISE_HALFWIDTH
    df = max(1.0 / (10.0 * span), (f_hi - f_lo) / MAX_SPECTRUM_FREQUENCIES)
    n = int((f_hi - f_lo) / df) + 1
    spec = amplitude_spectrum(LightCurves(lcs.offsets, t, resid, np.ones_like(t)), f_lo, df, n)
    amp = spec.amplitude[0]
    half = max(1, round(NOISE_HALFWIDTH / df))
    csum = np.concatenate([[0.0], np.cumsum(amp)])
    idx = np.arange(n)
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, n)
    noise = (csum[hi] - csum[lo]) / (hi - lo)
    return _Residuals(spec.frequency[0], amp, SNR_BL * noise, f_fit, resid)


def residual_zoom(
    lcs: LightCurves, res: _Residuals, f_start: float, df: float, n: int
) -> np.ndarray:
    """The residual amplitude spectrum on a finer local grid (for the side-peak inset)."""
    t = lcs.time
    flat = LightCurves(lcs.offsets, t, res.residual, np.ones_like(t))
    return amplitude_spectrum(flat, f_start, df, n).amplitude[0]


def _dmdt_image(row: dict, lcs: LightCurves, config: RunConfig) -> tuple[np.ndarray, str]:
    shape = (len(MAHABAL_DM_EDGES) - 1, len(MAHABAL_DT_EDGES) - 1)
    stored = row.get("dmdt_mahabal")
    if stored is not None and len(stored) == shape[0] * shape[1]:
        return np.asarray(stored, dtype=float).reshape(shape), "from the catalog"
    hist = dmdt_histograms(lcs, max_pairs=config.dmdt_max_pairs, seed=config.seed)
    return hist.images[0].astype(float), "recomputed"


# ----------------------------------------------------------------------------- drawing


def _time_offset(t: np.ndarray) -> float:
    """A round offset for absolute dates (HJD 2450000 + ...), 0 for small times."""
    t0 = float(np.min(t)) if len(t) else 0.0
    return 0.0 if t0 < 10_000 else math.floor(t0 / 10_000) * 10_000


def _robust_limits(y: np.ndarray, pad: float = 0.12) -> tuple[float, float]:
    lo, hi = np.percentile(y, [0.2, 99.8]) if len(y) else (0.0, 1.0)
    span = hi - lo if hi > lo else 0.1
    return lo - pad * span, hi + pad * span


def _mag_limits(ax: Axes, values: list[np.ndarray]) -> None:
    """Robust limits with the magnitude axis inverted (bright up), as astronomers draw it."""
    lims = [_robust_limits(v) for v in values if len(v)]
    if lims:
        ax.set_ylim(max(hi for _, hi in lims), min(lo for lo, _ in lims))
    elif not ax.yaxis_inverted():
        ax.invert_yaxis()


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _draw_light_curve(ax: Axes, fig: Figure, bands: list[_Band]) -> None:
    offset = _time_offset(np.concatenate([b.lcs.time for b in bands]))
    single = len(bands) == 1
    for b in bands:
        t, m, e = b.lcs.segment(0)
        if single:  # colour by time: the same colours on the folded curve show period changes
            ax.errorbar(t - offset, m, e, fmt="none", ecolor="0.75", elinewidth=0.5, zorder=1)
            art = ax.scatter(t - offset, m, c=t - offset, s=6, cmap=TIME_CMAP, zorder=2, lw=0)
            fig.colorbar(art, ax=ax, label="Time (d)", pad=0.01, aspect=30)
        else:
            label = f"{b.label} ({len(t)})"
            ax.errorbar(
                t - offset, m, e, fmt=".", ms=3, color=b.colour, elinewidth=0.5, label=label
            )
    _mag_limits(ax, [b.lcs.mag for b in bands])
    ax.set_xlabel("Time (d)" if not offset else f"Time \u2212 {offset:.0f} (d)")
    ax.set_ylabel("Magnitude (mag)")
    n = sum(len(b.lcs.time) for b in bands)
    ax.set_title(f"Light curve ({n} epochs after the row policy)")
    if not single:
        ax.legend(title="band (epochs)", loc="best")


def _draw_periodogram(ax: Axes, bands: list[_Band], config: RunConfig) -> None:
    drawn = False
    for n_band, b in enumerate(bands):
        if not len(b.frequency):
            continue
        drawn = True
        f, p = envelope(b.frequency, b.power)
        ax.plot(f, p, lw=0.6, color=b.colour, label=b.label if len(bands) > 1 else None)
        if math.isfinite(b.fap_power):
            ax.axhline(b.fap_power, color=b.colour, ls="--", lw=0.9, alpha=0.8)
        f_best = _float(b.row, "frequency")
        if math.isfinite(f_best):
            p_best = _float(b.row, "power")
            ax.plot([f_best], [p_best], marker="v", ms=9, color="k", mec="w", zorder=5)
            text = f"P = {_float(b.row, 'period'):.7g} d" + (f" ({b.label})" if n_band else "")
            where = (8, 2 - 13 * n_band)  # one line per band, not on top of each other
            ax.annotate(text, (f_best, p_best), xytext=where, textcoords="offset points")
    if not drawn:
        _no_data(ax, "no periodogram (zero time span)")
    ax.plot([], [], color="0.3", ls="--", lw=0.9, label=f"FAP = {FAP_LEVEL:g} (Baluev 2008)")
    ax.plot([], [], ls="none", marker="v", color="k", label="catalog period")
    ax.set_xlabel("Frequency (d$^{-1}$)")
    ax.set_ylabel("GLS power (standard normalisation)")
    peak = max([float(np.nanmax(b.power)) for b in bands if len(b.power)] + [0.1])
    ax.set_ylim(0, 1.12 * peak)
    lo = f"{config.fmin:g}" if config.fmin is not None else "1/T"
    ax.set_title(f"GLS periodogram (run grid {lo} to {config.fmax:g} d$^{{-1}}$)")
    ax.legend(loc="upper right")


def _draw_folded(ax: Axes, bands: list[_Band], clip_mag: float) -> None:
    kept_mags, drawn = [], False
    grid = np.linspace(0.0, 2.0, 801)
    single = len(bands) == 1
    for b in bands:
        p = b.fold_period
        if not (math.isfinite(p) and p > 0):
            continue
        drawn = True
        t, m, _ = b.lcs.segment(0)
        phase = fold(b.lcs, 1.0 / p)
        fitted = b.fit.status[0] == KernelStatus.OK
        kept = np.asarray(b.fit.kept, dtype=bool) if fitted else np.ones(len(t), dtype=bool)
        kept_mags.append(m[kept])
        x, y = np.concatenate([phase, phase + 1.0]), np.concatenate([m, m])
        k2 = np.concatenate([kept, kept])
        if single:
            tt = np.concatenate([t, t])
            ax.scatter(x[k2], y[k2], c=tt[k2], s=6, cmap=TIME_CMAP, lw=0, zorder=2)
        else:
            ax.scatter(x[k2], y[k2], s=6, color=b.colour, lw=0, alpha=0.8, label=b.label)
        if (~kept).any():
            label = f"clipped, > {clip_mag:g} mag from the fit ({int((~kept).sum())})"
            ax.scatter(x[~k2], y[~k2], s=14, marker="x", color="0.45", lw=0.8, label=label)
        if fitted:
            curve = fourier_curve(b.fit, 0, grid % 1.0)
            label = f"Fourier fit, order {int(b.fit.order_used[0])}" if b is bands[0] else None
            ax.plot(grid, curve, color="k", lw=1.3, zorder=4, label=label)
    if not drawn:
        _no_data(ax, "no period to fold on")
    _mag_limits(ax, kept_mags)
    ax.set_xlim(0, 2)
    ax.set_xlabel("Phase")
    ax.set_ylabel("Magnitude (mag)")
    periods = sorted({f"{b.fold_period:.7g}" for b in bands if math.isfinite(b.fold_period)})
    source = sorted({str(b.row.get("fold_period_source") or "search") for b in bands})
    if periods:
        ax.set_title(f"Folded on P = {', '.join(periods)} d ({', '.join(source)} period)")
    else:
        ax.set_title("Folded on P: no period in the catalog")
    if drawn:
        ax.legend(loc="best")


def _draw_residuals(ax: Axes, zoom_ax: Axes, b: _Band, res: _Residuals | None, order: int) -> None:
    """The PS17 residual spectrum, and a zoom on the harmonic holding the deciding peak."""
    ax.set_xlabel("Frequency (d$^{-1}$)")
    ax.set_ylabel("Amplitude (mag)")
    band = f", {b.label}" if b.label != "(no band)" else ""
    ax.set_title(f"Residual amplitude spectrum after f0 + {order} harmonics{band}")
    zoom_ax.set_xlabel("f \u2212 k f0 (d$^{-1}$)")
    zoom_ax.set_ylabel("Amplitude (mag)")
    if res is None or not len(res.frequency):
        why = "no period" if res is None else "too few epochs for the PS17 analysis"
        _no_data(ax, f"no residual spectrum ({why})")
        zoom_ax.set_title("Side-peak zoom")
        _no_data(zoom_ax, "no side peak")
        return
    f, a = envelope(res.frequency, res.amplitude)
    ax.plot(f, a, lw=0.6, color="#444444")
    fs, lvl = envelope(res.frequency, res.snr_level, 1000)
    label = f"S/N = {SNR_BL:g} (mean amplitude ±{NOISE_HALFWIDTH:g} d$^{{-1}}$)"
    ax.plot(fs, lvl, color="#d62728", lw=1, ls="--", label=label)
    window = f"k f0 ± {SIDE_PEAK_HALFWIDTH:g} d$^{{-1}}$: side-peak search"
    for k in range(1, SEARCH_HARMONICS + 1):
        c = k * res.f0
        label = window if k == 1 else None
        lo, hi = c - SIDE_PEAK_HALFWIDTH, c + SIDE_PEAK_HALFWIDTH
        ax.axvspan(lo, hi, color="#ffbf00", alpha=0.18, lw=0, label=label)
        ax.axvline(c, color="0.5", ls=":", lw=0.8)
    top_axis = ax.secondary_xaxis("top")
    harmonics = [k * res.f0 for k in range(1, SEARCH_HARMONICS + 1)]
    top_axis.set_xticks(harmonics, ["f0"] + [f"{k}f0" for k in range(2, SEARCH_HARMONICS + 1)])
    top_axis.tick_params(labelsize=8, length=3, pad=1)
    top = 1.6 * max(float(np.nanmax(res.amplitude)), float(np.nanmax(res.snr_level)))
    ax.set_xlim(res.frequency[0], res.frequency[-1])
    ax.set_ylim(0, top)
    f_side = _float(b.row, "fa_f_side")
    if math.isfinite(f_side):
        j = int(np.clip(np.searchsorted(res.frequency, f_side), 0, len(res.frequency) - 1))
        a_side = float(res.amplitude[j])
        ax.plot([f_side], [a_side], marker="v", ms=8, color="#d62728", mec="w", zorder=5)
        ax.plot([], [], ls="none", marker="v", color="#d62728", label="deciding peak (catalog)")
    ax.legend(loc="upper left", fontsize=8)
    _draw_side_peak_zoom(zoom_ax, b, res, f_side)


def _draw_side_peak_zoom(ax: Axes, b: _Band, res: _Residuals, f_side: float) -> None:
    """Around k f0: is the deciding peak resolved from the harmonic (|f - k f0| >= 1.5/T)?"""
    t = b.lcs.time
    span = float(t[-1] - t[0])
    k = max(1, round(f_side / res.f0)) if math.isfinite(f_side) else 1
    centre = k * res.f0
    offset = f_side - centre if math.isfinite(f_side) else 0.0
    half = min(max(4.0 * abs(offset), 15.0 / span), SIDE_PEAK_HALFWIDTH + 0.05)
    step = 1.0 / (40.0 * span)
    n = int(2 * half / step) + 1
    amp = residual_zoom(b.lcs, res, centre - half, step, n)
    x = -half + step * np.arange(n)
    ax.plot(x, amp, lw=0.9, color="#444444")
    res_lim = RESOLUTION_FACTOR / span
    label = f"unresolved, |f \u2212 {k}f0| < {RESOLUTION_FACTOR:g}/T"
    ax.axvspan(-res_lim, res_lim, color="0.6", alpha=0.3, lw=0, label=label)
    ax.axvline(0.0, color="0.5", ls=":", lw=0.8)
    if math.isfinite(f_side):
        j = int(np.clip(round((offset + half) / step), 0, n - 1))
        cls = b.row.get("fa_class") or "?"
        snr = _float(b.row, "fa_snr")
        text = f"{cls}: S/N {snr:.1f}, f_mod = {abs(offset):.3g} d$^{{-1}}$"
        ax.plot([offset], [amp[j]], marker="v", ms=8, color="#d62728", mec="w", zorder=5)
        ax.plot([], [], ls="none", marker="v", color="#d62728", label=text)
    ax.set_xlim(-half, half)
    ax.set_ylim(0, 1.45 * float(np.nanmax(amp)))
    ax.set_title(f"Side-peak zoom around {k}f0 = {centre:.6g} d$^{{-1}}$")
    ax.legend(loc="best", fontsize=8)


def _draw_dmdt(ax: Axes, fig: Figure, image: np.ndarray, origin: str, band: str) -> None:
    n_dm, n_dt = image.shape
    art = ax.pcolormesh(np.arange(n_dt + 1), np.arange(n_dm + 1), image, cmap="viridis")
    fig.colorbar(art, ax=ax, label="pairs, scaled 0-255", pad=0.01, aspect=30)
    dt_ticks = [0, 4, 7, 9, 13, 15, 17, 19, 21, 23]
    labels = [f"{v:.2g}" if v < 1 else f"{v:g}" for v in MAHABAL_DT_EDGES[dt_ticks]]
    ax.set_xticks(dt_ticks, labels, fontsize=8)
    dm_ticks = [0, 2, 6, 8, 11, 14, 16, 20, 22]
    ax.set_yticks(dm_ticks, [f"{MAHABAL_DM_EDGES[i]:g}" for i in dm_ticks], fontsize=8)
    ax.grid(False)
    ax.set_xlabel("Δt (d), bin edges")
    ax.set_ylabel("Δm (mag), bin edges")
    ax.set_title(f"dm-dt image (Mahabal et al. 2017 bins), {band}, {origin}")


def _draw_model_input(ax: Axes, bands: list[_Band], models: tuple[str, ...]) -> None:
    phases = phase_grid(KNN_POINTS)
    values = []
    for b in bands:
        if np.isfinite(b.knn).any():
            label = b.label if len(bands) > 1 else None
            ax.plot(phases, b.knn, ".-", ms=3, lw=0.8, color=b.colour, label=label)
            values.append(b.knn[np.isfinite(b.knn)])
    if not values:
        _no_data(ax, "no model input (no period or too few epochs)")
    _mag_limits(ax, values)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Phase")
    ax.set_ylabel("Magnitude (mag)")
    ax.set_title(f"Model input: NN-FAP {KNN_POINTS}-point KNN interpolation")
    if models:
        lines = [
            f"{b.label}: " + ", ".join(f"{c} = {_fmt(b.row.get(c))}" for c in models) for b in bands
        ]
        text = "Model predictions\n" + "\n".join(lines)
    else:
        text = "No model predictions: the catalog has no model columns yet"
    box = {"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9}
    ax.text(0.02, 0.03, text, transform=ax.transAxes, fontsize=8.5, bbox=box)
    if len(bands) > 1 and values:
        ax.legend(loc="best")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "null" if v is None else str(v)


_HEADLINE = (  # (format, catalog columns); parts whose values are missing are left out
    ("P = {:.7g} d", ("period",)),
    ("log10 FAP = {:.1f}", ("log10_fap_baluev",)),
    ("A = {:.3f} mag", ("amplitude",)),
    ("R21 = {:.3f}, φ21 = {:.3f}", ("r21", "phi21")),
    ("R31 = {:.3f}, φ31 = {:.3f}", ("r31", "phi31")),
)


def _headline(source_id: object, bands: list[_Band]) -> str:
    lines = [f"{source_id}"]
    for b in bands:
        parts = []
        for fmt, names in _HEADLINE:
            values = [_float(b.row, n) for n in names]
            if all(math.isfinite(v) for v in values):
                parts.append(fmt.format(*values))
        if b.row.get("fa_class") is not None:
            parts.append(f"fa_class = {b.row['fa_class']}")
        lines.append(f"{b.label}: " + ("  ·  ".join(parts) or "no period in the catalog"))
    return "\n".join(lines)


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"{path} is not a PNG file")
    return struct.unpack(">II", head[16:24])


# ----------------------------------------------------------------------------- entry point


def inspect_source(
    catalog_path: str | os.PathLike,
    source_id: object,
    output_png: str | os.PathLike,
    input: str | os.PathLike | None = None,  # named as the CLI's --input
) -> InspectionSummary:
    """Draw one source's light curve and every stage's view of it into a PNG.

    The epochs come from ``input`` or else the input the manifest records, cleaned by the
    pipeline's row policy; the grid, fold period and fits use the manifest's configuration.
    Raises UsageError when the source has no catalog row (naming its failure records, if
    any) and InputError when its epochs cannot be found in the input.
    """
    with matplotlib.rc_context(STYLE):
        return _inspect(catalog_path, source_id, output_png, input)


def _inspect(
    catalog_path: str | os.PathLike,
    source_id: object,
    output_png: str | os.PathLike,
    source_override: str | os.PathLike | None,
) -> InspectionSummary:
    cat = open_catalog(catalog_path)
    m = cat.manifest
    config = RunConfig.from_dict(m.config)
    sid = _typed_id(source_id, m.source_id_type)
    rows = catalog_rows(cat, sid)
    if not rows:
        raise _not_found(cat, sid)
    source = str(source_override) if source_override is not None else m.input
    epochs = source_epochs(source, config.column_map, sid)
    clean = clean_partition(epochs, "inspect", config.min_epochs, (), FailureLog("inspect"))
    notes: list[str] = []
    bands, infos, consistent = _refit_bands(clean, rows, config, notes)
    by_band = {r.get("band"): r for r in rows}
    seg_bands = clean.segments.column("band").to_pylist()
    missing = [b for b in by_band if b not in seg_bands]
    if missing:
        consistent = False
        notes.append(f"bands {missing} are in the catalog but have no epochs in {source}")
    if not bands:
        raise InputError(f"{source}: no epochs of source {sid!r} survive the row policy")
    primary = max(bands, key=lambda b: len(b.lcs.time))
    models = model_columns(cat, list(rows[0]))

    headline = (
        _headline(sid, bands) + f"\ncatalog {cat.root} (run {m.run_id}), epochs from {source}"
    )
    if notes:
        headline += "\n" + "; ".join(notes)
    data, panels = _draw_page(bands, primary, models, config, headline)
    out = Path(output_png)
    write_bytes_atomic(data, out)
    width, height = _png_size(out)
    return InspectionSummary(
        source_id=sid,
        output=out,
        input=source,
        primary_band=primary.row.get("band"),
        bands=tuple(infos),
        panels=panels,
        width=width,
        height=height,
        model_columns=models,
        consistent=consistent,
        notes=tuple(notes),
    )


def _refit_bands(
    clean: CleanPartition, rows: list[dict], config: RunConfig, notes: list[str]
) -> tuple[list[_Band], list[BandInspection], bool]:
    """Recompute every stage's view of each cleaned band that has a catalog row.

    Returns the bands to draw, their summaries and whether the refits matched the catalog;
    appends what did not match (and input bands without a row) to ``notes``.
    """
    by_band = {r.get("band"): r for r in rows}
    n_input = {r.get("band"): int(r.get("n_input") or 0) for r in rows}
    bands: list[_Band] = []
    infos: list[BandInspection] = []
    consistent = True
    for i, band in enumerate(clean.segments.column("band").to_pylist()):
        row = by_band.get(band)
        if row is None:
            notes.append(f"band {band}: in the input but not in the catalog (a failure record)")
            continue
        lcs = clean.lcs.take(np.array([i]))
        freq, power, grid = periodogram(lcs, config)
        fap_power = float(fap_power_level(lcs, grid)[0]) if len(freq) else float("nan")
        p = _fold_period(row)
        f = _frequency(p)
        fit = fit_fourier(
            lcs,
            f,
            order=config.fourier_order,
            clip_threshold=config.clip_mag,
            select_order=config.fourier_order_selection == "bic",
        )
        knn = knn_interpolate(lcs, f, n_grid=KNN_POINTS).values[0]
        label = band if band is not None else "(no band)"
        colour = BAND_COLOURS[len(bands) % len(BAND_COLOURS)]
        bands.append(_Band(label, row, lcs, freq, power, fap_power, p, fit, knn, colour))
        consistent &= _check(row, lcs, fit, notes, label)
        infos.append(
            BandInspection(
                band=band,
                n_input=n_input.get(band, 0),
                n_epochs=int(lcs.counts[0]),
                period=_float(row, "period"),
                fold_period=p,
                log10_fap=_float(row, "log10_fap_baluev"),
                fap_level_power=fap_power,
                fa_class=row.get("fa_class"),
                n_rejected=int(fit.n_rejected[0]),
            )
        )
    return bands, infos, consistent


def _draw_page(
    bands: list[_Band],
    primary: _Band,
    models: tuple[str, ...],
    config: RunConfig,
    headline: str,
) -> tuple[bytes, tuple[PanelInfo, ...]]:
    """The 3 x 2 page (the residual cell split in spectrum and zoom) as PNG bytes."""
    fig = figure(*FIGSIZE)
    grid = fig.add_gridspec(3, 2)
    ax_lc, ax_pg = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_fold = fig.add_subplot(grid[1, 0])
    right = grid[1, 1].subgridspec(2, 1, height_ratios=(3, 2))
    ax_res, ax_zoom = fig.add_subplot(right[0]), fig.add_subplot(right[1])
    ax_dmdt, ax_model = fig.add_subplot(grid[2, 0]), fig.add_subplot(grid[2, 1])
    _draw_light_curve(ax_lc, fig, bands)
    _draw_periodogram(ax_pg, bands, config)
    _draw_folded(ax_fold, bands, config.clip_mag)
    residuals = residual_spectrum(primary.lcs, _frequency(primary.fold_period), config)
    _draw_residuals(ax_res, ax_zoom, primary, residuals, config.fourier_order)
    image, origin = _dmdt_image(primary.row, primary.lcs, config)
    _draw_dmdt(ax_dmdt, fig, image, origin, primary.label)
    _draw_model_input(ax_model, bands, models)
    fig.suptitle(headline, fontsize=10.5)
    drawn = (ax_lc, ax_pg, ax_fold, ax_res, ax_zoom, ax_dmdt, ax_model)
    return png_bytes(fig, DPI), tuple(panel_info(a) for a in drawn)


def _frequency(period: float) -> float:
    return 1.0 / period if math.isfinite(period) and period > 0 else float("nan")


def _check(row: dict, lcs: LightCurves, fit: FourierFit, notes: list[str], label: str) -> bool:
    """Does what we recomputed match the catalog row? (Else the input changed since the run.)"""
    ok = True
    n_obs = row.get("n_obs")
    if n_obs is not None and int(n_obs) != int(lcs.counts[0]):
        notes.append(f"{label}: {lcs.counts[0]} epochs now, {n_obs} in the catalog")
        ok = False
    amp = row.get("amplitude")
    close = amp is None or math.isclose(float(amp), float(fit.peak_to_peak[0]), rel_tol=1e-6)
    if fit.status[0] == KernelStatus.OK and not close:
        notes.append(f"{label}: the Fourier refit differs from the catalog (input changed?)")
        ok = False
    return ok


__all__ = [
    "BandInspection",
    "InspectionSummary",
    "fap_power_level",
    "inspect_source",
]
