"""dm-dt images of the type classifiers, from :mod:`vsbatch.kernels.dmdt`.

Two binnings, both histograms of all epoch pairs (counts equal ``numpy.histogram2d``):

- ``"mahabal"``: the fixed edges of Mahabal et al. (2017), 22 dm x 23 dt cells. Every image
  shares the axes, so a cell is a time scale and an amplitude (what separates a 0.5 d RR Lyrae
  from a 200 d Mira);
- ``"fd"``: Bassi et al. (2021, Sect. 2.1): equal-width bins over each curve's own dm and
  dt range, their numbers fixed for the survey as the median Freedman-Diaconis counts of its
  curves (:func:`survey_fd_bins`; Bassi: 90 dm x 53 dt for CRTS, reused for OGLE).

Normalisation (every cell in [0, 1], one channel per band, :func:`source_images`):
``"max"`` (default) divides the counts by the image's largest count; ``"mahabal"`` is Mahabal
et al.'s ``floor(255 count / n_pairs + 0.99999)`` divided by 255. Why ``"max"`` by default: a
Mahabal image spreads 255 over ~500 cells, so most cells are a few 1/255; on EROS-1 the
compact 2D CNN at the seeds' learning rate (2e-4) stayed at chance for 15 epochs on such
inputs, while ``"max"`` images start learning at once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.dmdt import (
    BASSI_BINS,
    MAHABAL_DM_EDGES,
    MAHABAL_DT_EDGES,
    DmDtHistograms,
    dmdt_histograms,
    freedman_diaconis_bins,
)
from vsbatch.kernels.status import KernelStatus
from vsbatch.represent.sequences import stack_bands

BINNINGS = ("mahabal", "fd")
NORMALISATIONS = ("max", "mahabal")
DEFAULT_MAX_PAIRS = 10**6


def image_shape(binning: str, bins: tuple[int, int] = BASSI_BINS) -> tuple[int, int]:
    """(n_dm, n_dt) of the images of a binning."""
    if binning == "mahabal":
        return MAHABAL_DM_EDGES.size - 1, MAHABAL_DT_EDGES.size - 1
    if binning == "fd":
        return int(bins[0]), int(bins[1])
    raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")


def survey_fd_bins(lcs: LightCurves, *, max_pairs: int = DEFAULT_MAX_PAIRS) -> tuple[int, int]:
    """Bassi et al.'s image size of a survey: the median per-curve Freedman-Diaconis numbers
    of dm and dt bins (rounded), over the curves with at least one pair."""
    fd = freedman_diaconis_bins(lcs, max_pairs=max_pairs)
    ok = fd.status == KernelStatus.OK
    if not ok.any():
        raise ValueError("no light curve with a pair of epochs")
    return int(round(np.median(fd.n_dm[ok]))), int(round(np.median(fd.n_dt[ok])))


def dmdt_images(
    lcs: LightCurves,
    binning: str = "mahabal",
    bins: tuple[int, int] = BASSI_BINS,
    *,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    seed: int = 0,
    normalisation: str = "max",
) -> DmDtHistograms:
    """The [0, 1] dm-dt image of every segment (see the module docstring)."""
    image_shape(binning, bins)  # validates
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    if binning == "mahabal":
        dm_bins, dt_bins = MAHABAL_DM_EDGES, MAHABAL_DT_EDGES
    else:
        dm_bins, dt_bins = int(bins[0]), int(bins[1])
    if normalisation == "max":
        return dmdt_histograms(lcs, dm_bins, dt_bins, normalization="max", max_pairs=max_pairs,
                               seed=seed)  # fmt: skip
    hist = dmdt_histograms(lcs, dm_bins, dt_bins, max_pairs=max_pairs, seed=seed)
    return replace(hist, images=hist.images / np.float32(255.0))


def source_images(
    hist: DmDtHistograms, source_index: np.ndarray, slot: np.ndarray, n_bands: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n_sources, n_bands, n_dm, n_dt) float32, one channel per band, and ``present``."""
    return stack_bands(hist.images, hist.status == KernelStatus.OK, source_index, slot, n_bands)
