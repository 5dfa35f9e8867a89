"""The NN-FAP periodogram (Miller et al., Sect. 6): NN-FAP over a frequency grid of one curve."""

from __future__ import annotations

import numpy as np
import pytest

from vsbatch.kernels.periodogram import frequency_grid
from vsbatch.models import load_artifact, predict_nnfap
from vsbatch.models.nnfap import nnfap_periodogram
from vsbatch.represent.nnfap import light_curves_from_table


@pytest.fixture(scope="module")
def artifact():
    return load_artifact("nnfap")


def test_periodogram_equals_single_folds_and_finds_the_period(artifact, small_training_set):
    lcs, keys = light_curves_from_table(small_training_set, ("train_fold_period", "label"))
    periodic = [i for i, lab in enumerate(keys.column("label").to_pylist()) if lab == "periodic"]
    i = periodic[0]
    one = lcs.take(np.array([i]))
    true_f = 1.0 / keys.column("train_fold_period")[i].as_py()
    grid = np.sort(np.r_[np.linspace(0.05, 3.0, 150), true_f])
    pg = nnfap_periodogram(artifact, one, grid, batch_size=64, device="cpu")
    assert pg.fap.shape == grid.shape and np.isfinite(pg.fap).all()
    # each value is the NN-FAP of that single fold (the batching does not change it)
    pick = np.array([0, 37, int(np.searchsorted(grid, true_f)), grid.size - 1])
    single = [predict_nnfap(artifact, one, f, device="cpu").fap[0] for f in grid[pick]]
    np.testing.assert_allclose(pg.fap[pick], single, rtol=1e-5, atol=1e-7)
    # the injected period folds cleanly: NN-FAP there is far below the grid's median
    assert pg.fap[np.searchsorted(grid, true_f)] < np.median(pg.fap)


def test_default_grid_is_the_period_stage_grid(artifact, small_training_set):
    lcs, _ = light_curves_from_table(small_training_set)
    one = lcs.take(np.array([1]))
    grid = dict(maximum_frequency=0.1, samples_per_peak=1.0)
    pg = nnfap_periodogram(artifact, one, **grid, batch_size=512, device="cpu")
    expected = frequency_grid(one, **grid).frequencies(0)
    assert 10 < expected.size < 1000
    np.testing.assert_array_equal(pg.frequency, expected)
    assert pg.best_frequency in expected
    with pytest.raises(ValueError, match="one light curve"):
        nnfap_periodogram(artifact, lcs.take(np.array([0, 1])), np.array([1.0]))
