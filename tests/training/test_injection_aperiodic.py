"""The aperiodic NN-FAP training curves: each generator makes what it claims, on real cadences."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from vsbatch.training.injection import (
    ASTROPHYSICAL_KINDS,
    make_nnfap_training_set,
    microlensing_mag,
    outburst_shape,
    paczynski_magnification,
)
from vsbatch.training.nnfap import train_nnfap

KINDS = ("shuffled", "inflated", *ASTROPHYSICAL_KINDS)


@pytest.fixture(scope="module")
def cadences() -> pa.Table:
    return pq.read_table(FIXTURES / "asas_i_12.parquet")


@pytest.fixture(scope="module")
def realistic(cadences: pa.Table) -> pa.Table:
    # amplitudes well above the noise, so each shape is visible in the data
    return make_nnfap_training_set(cadences, 84, seed=3, aperiodic_kinds=KINDS,
                                   snr_range=(20.0, 60.0))  # fmt: skip


def test_microlensing_peaks_at_t0_symmetric_and_blended() -> None:
    t = np.linspace(-100.0, 100.0, 2001)
    mag = microlensing_mag(t, 18.0, 0.0, 20.0, 0.1, 1.0)
    assert t[np.argmin(mag)] == 0.0
    np.testing.assert_allclose(mag, mag[::-1])  # symmetric about t0
    # unblended peak: A(u0) = (u0^2 + 2) / (u0 sqrt(u0^2 + 4)); far from t0 back to base
    assert 18.0 - mag.min() == pytest.approx(2.5 * np.log10(paczynski_magnification(0.1)))
    assert abs(mag[0] - 18.0) < 5e-3  # u = 5 t_E: A = 1.003
    # blending dilutes the brightening: fs = 0.2 keeps 20 % of the extra flux
    blended = microlensing_mag(np.array([0.0]), 18.0, 0.0, 20.0, 0.1, 0.2)[0]
    extra = paczynski_magnification(0.1) - 1.0
    assert 18.0 - blended == pytest.approx(2.5 * np.log10(1.0 + 0.2 * extra))


def test_outburst_rises_fast_and_decays_slowly() -> None:
    t = np.linspace(-50.0, 50.0, 10001)
    flux = outburst_shape(t, 0.0, rise=1.0, decay=10.0)
    assert flux.max() == 1.0 and t[np.argmax(flux)] == 0.0
    before, after = flux[np.searchsorted(t, -5.0)], flux[np.searchsorted(t, 5.0)]
    assert before == pytest.approx(np.exp(-5.0)) and after == pytest.approx(np.exp(-0.5))


def _curves(table: pa.Table) -> dict:
    df = table.to_pandas()
    return {sid: g for sid, g in df.groupby("source_id")}


def test_every_kind_is_made_on_real_epochs_and_folded_at_its_gls_period(realistic, cadences):
    df = realistic.to_pandas()
    first = df.groupby("source_id").first()
    assert set(first.kind) == {"type1", "type2", "type3", "type4", "type5", *KINDS}
    aperiodic = first[first.label == "aperiodic"]
    assert (aperiodic.kind.value_counts() == 6).all()
    assert aperiodic.true_period.isna().all() and np.isfinite(aperiodic.train_fold_period).all()
    times = cadences.to_pandas().groupby("source_id").time.apply(set)
    for _, g in df[df.label == "aperiodic"].groupby("source_id"):
        assert set(g.time) <= times[g.template_id.iloc[0]]


def test_each_aperiodic_kind_has_its_shape(realistic):
    checked = set()
    for _, g in _curves(realistic).items():
        kind = g.kind.iloc[0]
        t, m, e = g.time.to_numpy(), g.mag.to_numpy(), g.mag_err.to_numpy()
        amp = g.true_amplitude.iloc[0]
        if amp < 15 * np.median(e):  # microlensing amplitudes are physical, often small
            continue
        brighter, fainter = np.median(m) - m.min(), m.max() - np.median(m)
        if kind in ("microlensing", "outburst"):  # brightenings from a quiet level
            assert brighter > 2 * fainter and brighter > 0.5 * amp
        elif kind == "dip":  # a fading from a quiet level
            assert fainter > 2 * brighter and fainter > 0.5 * amp
        elif kind == "trend":  # a smooth drift: a quadratic in time explains most of it
            x = (t - t.mean()) / np.ptp(t)
            assert np.var(m - np.polyval(np.polyfit(x, m, 2), x)) < 0.2 * np.var(m)
        checked.add(kind)
    assert {"microlensing", "outburst", "dip", "trend"} <= checked


def test_a_training_step_on_the_realistic_negatives(realistic, tmp_path):
    art = train_nnfap(realistic, tmp_path / "m", seed=2, epochs=1, batch_size=32, hidden=8,
                      layers=1, phase_shifts=1, device="cpu", log=None)  # fmt: skip
    kinds = art.card["training_data"]["kinds"]
    assert set(KINDS) <= set(kinds) and kinds["microlensing"] == 6
    assert np.isfinite(art.card["metrics"]["val_loss"])
    assert len(art.card["training_curve"]) == 1
    # fine-tuning starts from those weights and says so in the card
    tuned = train_nnfap(realistic, tmp_path / "t", seed=2, epochs=1, batch_size=32, hidden=8,
                        layers=1, phase_shifts=1, device="cpu", log=None,
                        init=str(art.path))  # fmt: skip
    assert tuned.card["initial_weights"] == art.version_tag
    assert tuned.card["training_curve"][0]["val_loss"] != art.card["training_curve"][0]["val_loss"]
