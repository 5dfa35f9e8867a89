"""Phased light-curve images drawn as matplotlib would draw them, in one compiled call.

Why a rasterizer: the Blazhko CNN (Jiang et al. 2025, Sect. 3.1.1) looks at
``plt`` renderings of phased light curves (dpi 300, marker area 2 pt^2, frame phase [0, 1] x
dmag [-0.6, 0.6]); calling matplotlib per star costs ~0.1 s and a Python figure per light
curve, far too slow for catalogs. This kernel draws the same picture for a whole partition.

Geometry (what a matplotlib figure of ``figsize`` inches at ``dpi`` with the axes filling the
figure and no decorations renders): a canvas of ``W x H`` device pixels; each point is an
opaque filled disk of diameter ``sqrt(marker_area) + edge_width`` points (``plt.scatter(s=2)``
draws a circle of area ``s`` pt^2 with a 1 pt edge in the face colour) centred on
``(phase * W, (dmag - dmag_lo) / (dmag_hi - dmag_lo) * H)`` snapped as Agg snaps markers (to
the centre of the pixel ``floor(x + 0.5)``, measured on matplotlib's output); row 0 is
``dmag_lo``, the brightest end (the usual inverted magnitude axis). A device pixel is inked
when its centre lies inside a disk; overlapping disks ink a pixel once (opaque markers). The
canvas is then box-filtered (exact area weights, what ``PIL.Image.resize(..., BOX)`` does) to
``size x size``, so each output value is the inked fraction of its area, 0..1. Only inked
pixels are visited: the cost is the number of points times the disk area, not the canvas size.
"""

from __future__ import annotations

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves


@numba.njit(cache=True, inline="always")
def _spans(i: int, scale: float, size: int, lo_idx: np.ndarray, w: np.ndarray) -> int:
    """Output cells overlapped by device pixel ``i`` (scale < 1: at most two) and weights."""
    a = i * scale
    b = (i + 1) * scale
    first = min(int(a), size - 1)
    last = min(int(b), size - 1)
    if last == first or b <= last:
        lo_idx[0] = first
        w[0] = b - a
        return 1
    lo_idx[0] = first
    w[0] = last - a
    lo_idx[1] = last
    w[1] = b - last
    return 2


@numba.njit(cache=True)
def _raster_kernel(offsets, px, py, use, width, height, radius, size, out):
    canvas = np.zeros(width * height, dtype=np.uint8)
    touched = np.empty(width * height, dtype=np.int64)
    sx = size / width
    sy = size / height
    r2 = radius * radius
    xi = np.empty(2, dtype=np.int64)
    yi = np.empty(2, dtype=np.int64)
    xw = np.empty(2)
    yw = np.empty(2)
    for s in range(offsets.size - 1):
        n_touched = 0
        for i in range(offsets[s], offsets[s + 1]):
            if not use[i]:
                continue
            cx = np.floor(px[i] + 0.5) + 0.5  # Agg snaps marker centres to pixel centres
            cy = np.floor(py[i] + 0.5) + 0.5
            x0 = max(0, int(np.floor(cx - radius)))
            x1 = min(width - 1, int(np.ceil(cx + radius)))
            y0 = max(0, int(np.floor(cy - radius)))
            y1 = min(height - 1, int(np.ceil(cy + radius)))
            for iy in range(y0, y1 + 1):
                dy = iy + 0.5 - cy
                for ix in range(x0, x1 + 1):
                    dx = ix + 0.5 - cx
                    if dx * dx + dy * dy > r2:
                        continue
                    k = iy * width + ix
                    if canvas[k]:
                        continue
                    canvas[k] = 1
                    touched[n_touched] = k
                    n_touched += 1
                    nx = _spans(ix, sx, size, xi, xw)
                    ny = _spans(iy, sy, size, yi, yw)
                    for a in range(ny):
                        for b in range(nx):
                            out[s, yi[a], xi[b]] += yw[a] * xw[b]
        for j in range(n_touched):
            canvas[touched[j]] = 0


@numba.njit(cache=True)
def _device_coords(offsets, phase, mag, use, width, height, dmag_lo, dmag_hi, px, py):
    """Median-subtracted magnitudes (median of the used epochs) as device coordinates."""
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        n = 0
        for i in range(lo, hi):
            if use[i]:
                n += 1
        if n == 0:
            continue
        vals = np.empty(n)
        n = 0
        for i in range(lo, hi):
            if use[i]:
                vals[n] = mag[i]
                n += 1
        med = np.median(vals)
        for i in range(lo, hi):
            px[i] = phase[i] * width
            py[i] = (mag[i] - med - dmag_lo) / (dmag_hi - dmag_lo) * height


def canvas_shape(dpi: float, figsize: tuple[float, float]) -> tuple[int, int]:
    """(width, height) in device pixels of a matplotlib figure of ``figsize`` inches."""
    return int(round(figsize[0] * dpi)), int(round(figsize[1] * dpi))


def marker_radius(dpi: float, marker_area: float, edge_width: float) -> float:
    """Disk radius in device pixels of a scatter marker of area ``marker_area`` pt^2."""
    return (np.sqrt(marker_area) + edge_width) / 2.0 * dpi / 72.0


def rasterize_phased(
    lcs: LightCurves,
    phase: np.ndarray,
    use: np.ndarray,
    *,
    size: int,
    dpi: float = 300.0,
    figsize: tuple[float, float] = (6.4, 4.8),
    marker_area: float = 2.0,
    edge_width: float = 1.0,
    dmag_range: tuple[float, float] = (-0.6, 0.6),
) -> np.ndarray:
    """Images (n_segments, size, size) float32 of every segment's phased curve, 0..1 ink.

    ``phase`` (flat, in [0, 1)) and ``use`` (flat bool: the epochs to draw) are aligned with
    ``lcs.time``; magnitudes are drawn relative to the median of the used epochs. A segment
    with no used epoch gives a blank image.
    """
    width, height = canvas_shape(dpi, figsize)
    use = np.ascontiguousarray(use, dtype=np.bool_) & np.isfinite(phase) & np.isfinite(lcs.mag)
    px = np.zeros(lcs.time.size)
    py = np.zeros(lcs.time.size)
    _device_coords(lcs.offsets, np.ascontiguousarray(phase, np.float64), lcs.mag, use,
                   width, height, float(dmag_range[0]), float(dmag_range[1]), px, py)  # fmt: skip
    out = np.zeros((lcs.n_segments, size, size), dtype=np.float64)
    radius = marker_radius(dpi, marker_area, edge_width)
    _raster_kernel(lcs.offsets, px, py, use, width, height, radius, int(size), out)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
