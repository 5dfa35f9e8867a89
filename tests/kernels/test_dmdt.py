"""dm-dt histograms against numpy.histogram2d on real light curves."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import light_curves_from_long
from vsbatch.kernels import LightCurves
from vsbatch.kernels.dmdt import (
    BASSI_BINS,
    MAHABAL_DM_EDGES,
    MAHABAL_DT_EDGES,
    dmdt_histograms,
    freedman_diaconis_bins,
)
from vsbatch.kernels.status import KernelStatus


def _pairs(t, m):
    i, j = np.triu_indices(t.size, 1)
    dt = t[j] - t[i]
    keep = dt > 0
    return m[j][keep] - m[i][keep], dt[keep]


@pytest.fixture(scope="module")
def real_lcs(asas_lcs, ogle_rrab):
    """The 12 ASAS curves plus OGLE-BLG-RRLYR-02950 (1746 epochs, 1.5 million pairs)."""
    _, asas = asas_lcs
    _, ogle = light_curves_from_long(ogle_rrab)
    segments = [asas.segment(s) for s in range(asas.n_segments)] + [ogle.segment(0)]
    return LightCurves.from_segments(segments)


def test_mahabal_edges_as_published():
    assert MAHABAL_DM_EDGES.size == 23 and MAHABAL_DT_EDGES.size == 24
    np.testing.assert_array_equal(MAHABAL_DM_EDGES, -MAHABAL_DM_EDGES[::-1])
    assert MAHABAL_DT_EDGES[0] == 1 / 145 and MAHABAL_DT_EDGES[-1] == 4000


@pytest.mark.parametrize("bins", ["mahabal", "bassi"])
def test_counts_equal_numpy_histogram2d(real_lcs, bins):
    edges = (MAHABAL_DM_EDGES, MAHABAL_DT_EDGES) if bins == "mahabal" else BASSI_BINS
    res = dmdt_histograms(real_lcs, *edges, normalization="counts")
    n_dm, n_dt = (22, 23) if bins == "mahabal" else BASSI_BINS
    assert res.images.shape == (real_lcs.n_segments, n_dm, n_dt)
    assert res.images.dtype == np.float32
    assert (res.status == KernelStatus.OK).all() and not res.sampled.any()
    for s in range(real_lcs.n_segments):
        dm, dt = _pairs(*real_lcs.segment(s)[:2])
        ref, dm_edges, dt_edges = np.histogram2d(dm, dt, bins=edges)
        np.testing.assert_array_equal(res.images[s], ref)
        assert res.n_pairs[s] == res.n_pairs_total[s] == dm.size
        np.testing.assert_array_equal(res.dm_range[s], dm_edges[[0, -1]])
        np.testing.assert_array_equal(res.dt_range[s], dt_edges[[0, -1]])


def test_edge_values_and_equal_times_follow_numpy():
    """Pairs exactly on edges (incl. the inclusive last edge), outside them, at equal times."""
    t = np.array([0.0, 0.0, 1 / 145, 1.5, 4000.0, 4000.0 + 1 / 145, 5000.0])
    m = np.array([10.0, 10.3, 10.0, 10.1, 18.0, 2.0, 10.0])
    lcs = LightCurves.from_segments([(t, m, np.full(t.size, 0.01))])
    res = dmdt_histograms(lcs, normalization="counts")
    dm, dt = _pairs(t, m)
    assert dm.size == t.size * (t.size - 1) // 2 - 1  # the equal-time pair is skipped
    ref = np.histogram2d(dm, dt, bins=(MAHABAL_DM_EDGES, MAHABAL_DT_EDGES))[0]
    np.testing.assert_array_equal(res.images[0], ref)
    assert ref[-1, -1] == 4  # incl. dm = 8 and dt = 4000 exactly: the last cell is closed
    uniform = dmdt_histograms(lcs, 5, 4, normalization="counts")
    np.testing.assert_array_equal(uniform.images[0], np.histogram2d(dm, dt, bins=(5, 4))[0])


def test_normalisations(asas_lcs):
    _, lcs = asas_lcs
    counts = dmdt_histograms(lcs, normalization="counts").images.astype(np.float64)
    n_pairs = np.array([_pairs(*lcs.segment(s)[:2])[0].size for s in range(lcs.n_segments)])
    mahabal = dmdt_histograms(lcs).images
    ref = np.floor(255 * counts / n_pairs[:, None, None] + 0.99999)
    np.testing.assert_array_equal(mahabal, ref)
    assert mahabal.max() <= 255 and ((mahabal > 0) == (counts > 0)).all()
    peak = dmdt_histograms(lcs, normalization="max").images
    np.testing.assert_allclose(peak, counts / counts.max(axis=(1, 2))[:, None, None], rtol=1e-6)


def test_pair_sampling_above_max_pairs(ogle_rrab):
    _, lcs = light_curves_from_long(ogle_rrab)  # 1746 and 3598 epochs: 1.5 and 6.5 M pairs
    full = dmdt_histograms(lcs, normalization="counts")
    sample = dmdt_histograms(lcs, normalization="counts", max_pairs=2_000_000, seed=7)
    assert sample.sampled.tolist() == [False, True]
    assert sample.n_pairs.tolist() == [full.n_pairs[0], 2_000_000]
    assert sample.n_pairs_total[1] == 3598 * 3597 // 2
    np.testing.assert_array_equal(sample.images[0], full.images[0])
    again = dmdt_histograms(lcs, normalization="counts", max_pairs=2_000_000, seed=7)
    other = dmdt_histograms(lcs, normalization="counts", max_pairs=2_000_000, seed=8)
    np.testing.assert_array_equal(again.images, sample.images)
    assert not np.array_equal(other.images[1], sample.images[1])
    # the sample estimates the all-pairs histogram (multinomial noise ~1e-3 per cell)
    p_full = full.images[1] / full.n_pairs[1]
    p_sample = sample.images[1] / sample.n_pairs[1]
    assert np.abs(p_sample - p_full).sum() < 0.01
    assert abs(p_sample.sum() - p_full.sum()) < 0.002


def test_freedman_diaconis_bins_equal_numpy(asas_lcs):
    _, lcs = asas_lcs
    res = freedman_diaconis_bins(lcs)
    for s in range(lcs.n_segments):
        dm, dt = _pairs(*lcs.segment(s)[:2])
        assert res.n_dm[s] == np.histogram_bin_edges(dm, "fd").size - 1
        assert res.n_dt[s] == np.histogram_bin_edges(dt, "fd").size - 1


def test_too_few_points():
    lcs = LightCurves.from_segments(
        [
            (np.array([1.0]), np.array([10.0]), np.array([0.1])),
            (np.zeros(3), np.ones(3), np.ones(3)),
        ]
    )
    res = dmdt_histograms(lcs)
    assert (res.status == KernelStatus.TOO_FEW_POINTS).all()
    assert (res.images == 0).all() and (res.n_pairs == 0).all()
    assert (freedman_diaconis_bins(lcs).status == KernelStatus.TOO_FEW_POINTS).all()


def _splitmix_pairs(t, m, n_draw, seed):
    """The seeded pair sample of the kernel, redrawn in Python (SplitMix64)."""
    mask = (1 << 64) - 1
    state = seed
    dm, dt = [], []

    def draw():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    while len(dm) < n_draw:
        i = int((draw() >> 11) * (1.0 / 9007199254740992.0) * t.size)
        j = int((draw() >> 11) * (1.0 / 9007199254740992.0) * t.size)
        i, j = min(i, j), max(i, j)
        if t[j] > t[i]:
            dm.append(m[j] - m[i])
            dt.append(t[j] - t[i])
    return np.array(dm), np.array(dt)


def _random_lcs(rng, sizes):
    """Sorted random times with repeats and gaps; magnitudes with outliers beyond the edges."""
    segments = []
    for n in sizes:
        t = np.sort(np.round(rng.uniform(0, rng.choice([0.5, 50, 5000]), n), 3))
        m = 12 + rng.normal(0, rng.choice([0.05, 1.0, 4.0]), n)
        segments.append((t, m, np.full(n, 0.01)))
    return LightCurves.from_segments(segments)


@pytest.mark.parametrize("bins", ["mahabal", "bassi", "narrow"])
def test_random_curves_equal_numpy_histogram2d(bins):
    """All-pairs counts on random curves, for published, equal-width and odd edges."""
    edges = {
        "mahabal": (MAHABAL_DM_EDGES, MAHABAL_DT_EDGES),
        "bassi": BASSI_BINS,
        "narrow": (np.array([-3.0, -1e-9, 0.0, 1e-9, 2.0]), np.array([-1.0, 1e-3, 0.1, 7.0])),
    }[bins]
    lcs = _random_lcs(np.random.default_rng(5), [2, 3, 40, 300, 700])
    res = dmdt_histograms(lcs, *edges, normalization="counts")
    for s in range(lcs.n_segments):
        dm, dt = _pairs(*lcs.segment(s)[:2])
        np.testing.assert_array_equal(res.images[s], np.histogram2d(dm, dt, bins=edges)[0])


@pytest.mark.parametrize("bins", ["mahabal", "bassi"])
def test_sampled_pairs_equal_numpy_histogram2d(bins):
    """The seeded sample histogrammed equals numpy.histogram2d of the same pairs."""
    edges = (MAHABAL_DM_EDGES, MAHABAL_DT_EDGES) if bins == "mahabal" else BASSI_BINS
    lcs = _random_lcs(np.random.default_rng(9), [200, 400])
    res = dmdt_histograms(lcs, *edges, normalization="counts", max_pairs=5000, seed=[3, 11])
    assert res.sampled.all()
    for s, seed in enumerate([3, 11]):
        dm, dt = _splitmix_pairs(*lcs.segment(s)[:2], 5000, seed)
        ref, _dm_edges, dt_edges = np.histogram2d(dm, dt, bins=edges)
        np.testing.assert_array_equal(res.images[s], ref)
        np.testing.assert_array_equal(res.dt_range[s], dt_edges[[0, -1]])
