"""The compiled phased-image rasterizer against matplotlib drawing the same stars."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tests.conftest import light_curves_from_long
from vsbatch.kernels.fourier import fit_fourier, fold
from vsbatch.kernels.raster import canvas_shape, rasterize_phased
from vsbatch.represent.phased_image import ImageSpec, max_light_phase, phased_images


def _matplotlib_image(phase: np.ndarray, dmag: np.ndarray, size: int) -> np.ndarray:
    """The paper's rendering (plt.scatter, dpi 300, s=2 pt^2, fixed frame), box-scaled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig = plt.figure(figsize=(6.4, 4.8), dpi=300)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0.6, -0.6)
    ax.scatter(phase, dmag, s=2, c="k")
    buf = io.BytesIO()
    fig.savefig(buf, dpi=300, format="png")
    plt.close(fig)
    grey = Image.open(buf).convert("L")
    assert grey.size == canvas_shape(300, (6.4, 4.8))
    small = grey.resize((size, size), Image.Resampling.BOX)
    return 1.0 - np.asarray(small, dtype=np.float64) / 255.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of ink coverage (min / max; equals the binary IoU on 0/1)."""
    return float(np.minimum(a, b).sum() / np.maximum(a, b).sum())


@pytest.fixture(scope="module")
def stars(ogle_rrab: pd.DataFrame):
    """The two real OGLE RRab, whole and cut to their first 400 epochs (sparser images)."""
    first = ogle_rrab.groupby("source_id").head(400)
    first = first.assign(source_id=first.source_id + "-400")
    df = pd.concat([ogle_rrab, first])
    keys, lcs = light_curves_from_long(df)
    period = df.groupby("source_id").period.first().loc[[k[0] for k in keys]].to_numpy()
    return lcs, period


@pytest.mark.parametrize("size", [64, 224])
def test_rasterizer_matches_matplotlib(stars, size: int) -> None:
    lcs, period = stars
    fit = fit_fourier(lcs, 1.0 / period, order=10, clip_threshold=0.35)
    t0 = max_light_phase(fit.amplitude, fit.phase) * period
    phase = fold(lcs, 1.0 / period, t0)
    ours = rasterize_phased(lcs, phase, fit.kept, size=size)
    for s in range(lcs.n_segments):
        lo, hi = lcs.offsets[s], lcs.offsets[s + 1]
        kept = fit.kept[lo:hi]
        dmag = lcs.mag[lo:hi][kept] - np.median(lcs.mag[lo:hi][kept])
        reference = _matplotlib_image(phase[lo:hi][kept], dmag, size)
        assert _iou(ours[s], reference) >= 0.9
        assert abs(ours[s].sum() - reference.sum()) <= 0.1 * reference.sum()


def test_phased_images_fold_clip_and_mark_unusable(stars) -> None:
    lcs, period = stars
    bad = period.copy()
    bad[1] = np.nan
    out = phased_images(lcs, bad, ImageSpec(size=32))
    assert out.images.shape == (lcs.n_segments, 32, 32) and out.images.dtype == np.float32
    assert out.status[1] != 0 and out.images[1].sum() == 0 and out.n_drawn[1] == 0
    assert out.status[0] == 0 and 0 < out.n_drawn[0] <= lcs.counts[0]
    assert out.images.min() >= 0.0 and out.images.max() <= 1.0
    # maximum light at phase 0: the brightest rows are inked near the left and right edges
    rows = np.flatnonzero(out.images[0].sum(axis=1) > 0)
    top = out.images[0][rows[0] : rows[0] + 2]
    assert top[:, :4].sum() + top[:, -4:].sum() > top[:, 12:20].sum()
