"""The top-K NN-FAP periodogram: GLS candidates and their aliases, scored in one batch."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.periodogram import frequency_grid
from vsbatch.models import load_artifact
from vsbatch.models.nnfap import candidate_frequencies, nnfap_periodogram, nnfap_top_k
from vsbatch.represent.nnfap import light_curves_from_table

GRID = dict(maximum_frequency=5.0, samples_per_peak=2.0)
TRUE_F = 1.0 / 0.3719  # an RR Lyrae-like period, not near a 1 c/d alias


@pytest.fixture(scope="module")
def injected() -> LightCurves:
    """A real OGLE bulge cadence (600 d, 128 epochs), a 0.4-mag sinusoid and real errors."""
    lcs, _ = light_curves_from_table(pq.read_table(FIXTURES / "ogle_blg_rrab_2.parquet"))
    t, _, e = lcs.segment(1)
    keep = t < t[0] + 600.0
    t, e = t[keep], e[keep]
    m = 13.0 + 0.2 * np.sin(2 * np.pi * TRUE_F * t) + np.random.default_rng(5).normal(0, e)
    return LightCurves.from_segments([(t, m, e)])


def test_candidates_hold_the_peaks_and_their_aliases(injected):
    freq = candidate_frequencies(injected, 8, **GRID)
    assert freq.shape == (1, 8 * 7)
    grid = frequency_grid(injected, **GRID)
    step = grid.step[:, None]
    assert (np.abs(freq[:, :8] - TRUE_F) < step).any(axis=1).all()  # the GLS peak itself
    for alias in (TRUE_F - 1.0, TRUE_F + 1.0, TRUE_F / 2):  # 2f lies beyond the grid
        assert (np.abs(freq - alias) < 2 * step).any(axis=1).all()
    assert not (np.abs(freq - 2 * TRUE_F) < 2 * step).any()
    finite = freq[np.isfinite(freq)]
    assert finite.min() >= grid.minimum_frequency.min() and finite.max() <= 5.0 + 1e-9


def test_top_k_agrees_with_the_full_grid_on_an_injected_star(injected):
    art = load_artifact("nnfap", device="cpu")
    top = nnfap_top_k(art, injected, 16, device="cpu", **GRID)
    _best_f, best_fap = top.best(rule=False)
    grid = frequency_grid(injected, **GRID)
    full = nnfap_periodogram(art, injected, grid.frequencies(0), device="cpu")
    # the best of 16 peaks and their aliases is among the whole grid's best folds, and no
    # worse than the injected period's fold (one of the candidates)
    assert np.mean(full.fap < best_fap[0]) < 0.01
    true_fap = full.fap[np.argmin(np.abs(full.frequency - TRUE_F))]
    assert best_fap[0] <= true_fap
    # every candidate on the grid has the full periodogram's value there
    on = np.flatnonzero(np.isin(top.frequency[0], full.frequency))
    at = np.searchsorted(full.frequency, top.frequency[0, on])
    np.testing.assert_allclose(top.fap[0, on], full.fap[at], rtol=1e-4, atol=1e-7)
    assert on.size >= 16
    assert not top.few_cycles[0, np.isfinite(top.fap[0]) & (top.frequency[0] > 0.05)].any()
