"""Phased light-curve images, the Blazhko ResNet-34 input (Jiang et al. 2025, Sect. 3.1.1).

The paper's five steps, for every light curve of a partition at once:

1. fold on the pulsation period (the catalogue period when given, else vsbatch's);
2. fit a 10th-order Fourier series (:func:`vsbatch.kernels.fourier.fit_fourier`, weighted)
   and drop points more than 0.35 mag from it (iterated clipping, the fit's ``kept`` mask);
3. subtract the median magnitude of the kept points;
4. draw them in the fixed frame phase [0, 1] x dmag [-0.6, 0.6] as ``plt.scatter`` at dpi 300
   with 2 pt^2 markers would (:func:`vsbatch.kernels.raster.rasterize_phased`);
5. scale the picture to the network's input size (box filter).

Choices the paper leaves open, fixed here: phase zero is the maximum light of the fitted
series (the OGLE epoch convention, so every star's hump sits at the frame edges the same
way); the frame fills the whole figure (no axes, ticks or labels); the default figure size is
matplotlib's 6.4 x 4.8 in; the image is grey ink coverage in [0, 1] (1 = fully inked).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.fourier import TWO_PI, FourierFit, fit_fourier, fold
from vsbatch.kernels.raster import rasterize_phased
from vsbatch.kernels.status import KernelStatus

MAX_LIGHT_GRID = 1000  # phases on which the fitted series is searched for maximum light


@dataclass(frozen=True)
class ImageSpec:
    """Everything that decides an image (recorded in the model card's representation)."""

    size: int = 64
    dpi: float = 300.0
    figsize: tuple[float, float] = (6.4, 4.8)
    marker_area: float = 2.0  # pt^2, the paper's "size of each point"
    edge_width: float = 1.0  # pt, matplotlib's default marker edge (face-coloured)
    dmag_range: tuple[float, float] = (-0.6, 0.6)
    order: int = 10
    clip_mag: float = 0.35

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImageSpec:
        """The spec of a model card's ``representation`` (extra keys ignored)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("figsize", "dmag_range"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass(frozen=True)
class PhasedImages:
    """Images of a batch of light curves and which of them could be drawn."""

    images: np.ndarray  # (n, size, size) float32, ink coverage 0..1; zeros where status != OK
    status: np.ndarray  # int8 KernelStatus of the Fourier fit (BAD_FREQUENCY: no period)
    n_drawn: np.ndarray  # int32, epochs drawn (kept by the 0.35 mag clipping)


def max_light_phase(amplitude: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Phase in [0, 1) of the brightest point (smallest magnitude) of each fitted series."""
    grid = np.arange(MAX_LIGHT_GRID) / MAX_LIGHT_GRID
    model = np.zeros((amplitude.shape[0], MAX_LIGHT_GRID))
    for k in range(amplitude.shape[1]):
        a = np.nan_to_num(amplitude[:, k : k + 1])
        model += a * np.cos(TWO_PI * (k + 1) * grid[None, :] + np.nan_to_num(phase[:, k : k + 1]))
    return grid[np.argmin(model, axis=1)]


@dataclass(frozen=True)
class PhaseFold:
    """Light curves folded as their images are drawn (what a figure of them must reuse)."""

    fit: FourierFit  # the spec's order, points beyond its clip_mag marked not kept
    ok: np.ndarray  # bool per light curve: the fit succeeded
    zero: np.ndarray  # per light curve: phase of the fit's maximum light at t0 = 0
    phase: np.ndarray  # per epoch, maximum light at phase 0 (0 where not ok)


def phase_fold(lcs: LightCurves, period: np.ndarray, spec: ImageSpec) -> PhaseFold:
    """Fourier fit at ``period`` (days), clipping, and the fold with maximum light at phase 0."""
    period = np.asarray(period, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frequency = np.where(np.isfinite(period) & (period > 0), 1.0 / period, np.nan)
    fit = fit_fourier(lcs, frequency, order=spec.order, clip_threshold=spec.clip_mag)
    ok = fit.status == KernelStatus.OK
    zero = max_light_phase(fit.amplitude, fit.phase)
    t0 = zero / np.where(ok, frequency, 1.0)
    phase = fold(lcs, np.where(ok, frequency, 0.0), np.where(ok, t0, 0.0))
    return PhaseFold(fit, ok, zero, phase)


def phased_images(lcs: LightCurves, period: np.ndarray, spec: ImageSpec) -> PhasedImages:
    """The paper's phased images of every light curve folded at ``period`` (days)."""
    folded = phase_fold(lcs, period, spec)
    fit, ok, phase = folded.fit, folded.ok, folded.phase
    use = fit.kept & np.repeat(ok, lcs.counts)
    images = rasterize_phased(
        lcs, phase, use, size=spec.size, dpi=spec.dpi, figsize=spec.figsize,
        marker_area=spec.marker_area, edge_width=spec.edge_width, dmag_range=spec.dmag_range,
    )  # fmt: skip
    n_drawn = np.where(ok, fit.n_used, 0).astype(np.int32)
    return PhasedImages(images, fit.status.astype(np.int8), n_drawn)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Ink coverage 0..1 quantised to 0..255 (how shards store it and inference feeds it)."""
    return np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
