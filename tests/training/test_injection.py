"""Synthetic NN-FAP curves on real cadences: shapes, periods, error look-up, reproducibility."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vsbatch.training.injection import ErrorLookup, make_nnfap_training_set, shape


def _per_source(table: pa.Table):
    return table.to_pandas().groupby("source_id", sort=True)


def test_columns_balance_and_periods(small_training_set):
    t = small_training_set
    for col in ("source_id", "time", "mag", "mag_err", "band", "label", "is_periodic", "kind",
                "true_period", "train_fold_period", "true_amplitude", "snr",
                "template_id"):  # fmt: skip
        assert col in t.column_names
    first = _per_source(t).first()
    assert len(first) == 60
    assert (first.label == "periodic").sum() == 30
    assert set(first.kind) == {"type1", "type2", "type3", "type4", "type5", "shuffled", "inflated"}
    assert (first[first.label == "periodic"].kind.value_counts() == 6).all()
    span = _per_source(t).time.agg(lambda x: x.max() - x.min())
    periodic = first.label == "periodic"
    p = first.true_period[periodic]
    assert (p >= 0.1).all() and (p <= span[periodic] / 2).all()
    assert first.true_period[~periodic].isna().all()
    assert np.isfinite(first.train_fold_period).all()
    assert (first.train_fold_period[periodic] == first.true_period[periodic]).all()
    assert (first.snr > 0).all() and (first.true_amplitude > 0).all()


def test_times_and_errors_come_from_real_data(small_training_set, asas_table):
    real = asas_table.to_pandas()
    real_err = set(real.mag_err)
    synth = small_training_set.to_pandas()
    assert set(synth.mag_err) <= real_err  # "neighbour" draws return real errors
    times = real.groupby("source_id").time.apply(set)
    for (sid, tpl), g in synth.groupby(["source_id", "template_id"]):
        assert set(g.time) <= times[tpl], sid


def test_error_lookup_is_k_nearest_in_magnitude(rng):
    mag = rng.uniform(10, 15, 500)
    err = 0.01 + 0.01 * (mag - 10) ** 2 + rng.uniform(0, 1e-3, 500)
    lut = ErrorLookup.from_pairs(mag, err)
    q = np.array([9.0, 12.3, 14.99, 16.0])
    nb = lut.neighbours(q, 20)
    for i, m in enumerate(q):
        brute = np.sort(np.abs(lut.mag - m))[:20]
        np.testing.assert_allclose(np.sort(np.abs(lut.mag[nb[i]] - m)), brute)
    near = lut.err[lut.neighbours(np.array([12.0]), 20)[0]]
    drawn = lut.draw(np.full(2000, 12.0), rng, k=20)
    assert set(drawn) <= set(near) and len(set(drawn)) > 10
    gauss = lut.draw(np.full(2000, 12.0), rng, k=20, mode="gaussian")
    assert (gauss > 0).all() and abs(np.mean(gauss) - np.mean(near)) < 3 * np.std(near) / 40


def test_shapes_have_unit_peak_to_peak():
    x = np.linspace(0, 4 * np.pi, 8001)
    for kind in (1, 2, 3, 4, 5):
        y = shape(kind, x, (0.2, 0.7))
        assert abs(np.ptp(y) - 1.0) < 1e-3, kind


def test_reproducible_with_seed(asas_table):
    a = make_nnfap_training_set(asas_table, 12, seed=1, aperiodic_fold="random")
    b = make_nnfap_training_set(asas_table, 12, seed=1, aperiodic_fold="random")
    c = make_nnfap_training_set(asas_table, 12, seed=2, aperiodic_fold="random")
    assert a.drop_columns(["true_period"]).equals(b.drop_columns(["true_period"]))
    np.testing.assert_array_equal(a.column("true_period"), b.column("true_period"))
    assert not np.array_equal(a.column("mag").to_numpy()[:50], c.column("mag").to_numpy()[:50])


def test_aperiodic_fold_at_gls_period(asas_table):
    t = make_nnfap_training_set(asas_table, 6, seed=5, periodic_fraction=0.0)
    first = _per_source(t).first()
    assert (first.label == "aperiodic").all()
    fold = first.train_fold_period
    assert (fold > 1 / 25.0 - 1e-9).all() and np.isfinite(fold).all()
