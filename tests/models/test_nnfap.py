"""The top-K NN-FAP periodogram: GLS candidates and their aliases, scored in one batch."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.periodogram import frequency_grid
from vsbatch.models import load_artifact, predict_nnfap
from vsbatch.models.nnfap import candidate_frequencies, nnfap_periodogram, nnfap_top_k
from vsbatch.represent.nnfap import light_curves_from_table

GRID = dict(maximum_frequency=5.0, samples_per_peak=2.0)
TRUE_F = 1.0 / 0.3719  # an RR Lyrae-like period, not near a 1 c/d alias


@pytest.fixture(scope="module")
def injected() -> LightCurves:
    """Two real ASAS cadences (their first 300 d), a 0.4-mag sinusoid and real errors."""
    lcs, _ = light_curves_from_table(pq.read_table(FIXTURES / "asas_i_12.parquet"))
    rng = np.random.default_rng(5)
    curves = []
    for i in (0, 3):
        t, _, e = lcs.segment(i)
        keep = t < t[0] + 300.0
        t, e = t[keep], e[keep]
        m = 13.0 + 0.2 * np.sin(2 * np.pi * TRUE_F * t) + rng.normal(0, e)
        curves.append((t, m, e))
    return LightCurves.from_segments(curves)


def test_candidates_hold_the_peaks_and_their_aliases(injected):
    freq = candidate_frequencies(injected, 8, **GRID)
    assert freq.shape == (2, 8 * 7)
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
    best_f, best_fap = top.best()
    grid = frequency_grid(injected, **GRID)
    for i in range(2):
        one = injected.take(np.array([i]))
        full = nnfap_periodogram(art, one, grid.frequencies(i), device="cpu")
        # both find the injected period, and the top-K value is the full grid's minimum
        assert abs(full.best_frequency - TRUE_F) < 2 * grid.step[i]
        assert abs(best_f[i] - TRUE_F) < 2 * grid.step[i]
        assert best_fap[i] <= np.nanmin(full.fap) + 0.01
        # each candidate's value is the NN-FAP of that single fold
        j = int(np.nanargmin(top.fap[i]))
        single = predict_nnfap(art, one, top.frequency[i, j], device="cpu").fap[0]
        assert top.fap[i, j] == pytest.approx(single, rel=1e-5, abs=1e-7)
    assert not top.few_cycles[np.isfinite(top.fap) & (top.frequency > 0.1)].any()
