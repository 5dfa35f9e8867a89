"""Tiny end-to-end NN-FAP training, prediction and evaluation on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vsbatch.kernels import LightCurves
from vsbatch.kernels.status import KernelStatus
from vsbatch.models import load_artifact, predict_nnfap
from vsbatch.represent.nnfap import light_curves_from_table
from vsbatch.training.evaluate import evaluate_nnfap
from vsbatch.training.nnfap import train_nnfap


@pytest.fixture(scope="module")
def tiny_artifact(small_training_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("nnfap") / "tiny"
    return train_nnfap(
        small_training_set, out, seed=3, epochs=4, batch_size=32, hidden=12, layers=1,
        phase_shifts=3, learning_rate=1e-2, patience=10, device="cpu", log=None,
    )  # fmt: skip


def test_training_loss_decreases_and_card(tiny_artifact, small_training_set):
    curve = tiny_artifact.card["training_curve"]
    assert len(curve) == 4
    assert curve[-1]["train_loss"] < curve[0]["train_loss"]
    card = json.loads((tiny_artifact.path / "model_card.json").read_text())
    assert card["training_data"]["n_curves"] == 60
    assert card["metrics"]["n"] == 12 and 0 <= card["metrics"]["AUC"] <= 1
    assert card["representation"]["err_cut"] == "auto"
    assert card["architecture"]["hidden"] == 12


def test_training_is_reproducible(tiny_artifact, small_training_set, tmp_path):
    again = train_nnfap(
        small_training_set, tmp_path / "again", seed=3, epochs=4, batch_size=32, hidden=12,
        layers=1, phase_shifts=3, learning_rate=1e-2, patience=10, device="cpu", log=None,
    )  # fmt: skip
    assert again.card["weights_sha256"] == tiny_artifact.card["weights_sha256"]


def test_predict_on_a_batch(tiny_artifact, small_training_set):
    art = load_artifact(tiny_artifact.path)
    lcs, keys = light_curves_from_table(small_training_set, ("train_fold_period",))
    t, m, e = lcs.segment(0)
    batch = LightCurves.from_segments([*(lcs.segment(i) for i in range(5)), (t[:4], m[:4], e[:4])])
    freq = 1.0 / keys.column("train_fold_period").to_numpy()[:6]
    pred = predict_nnfap(art, batch, freq, batch_size=2, device="cpu")
    assert pred.fap.shape == (6,) and pred.status[-1] == KernelStatus.TOO_FEW_POINTS
    assert np.isnan(pred.fap[-1]) and np.isfinite(pred.fap[:5]).all()
    np.testing.assert_allclose(pred.fap[:5] + pred.p_periodic[:5], 1.0)
    whole = predict_nnfap(art, batch, freq, batch_size=1024, device="cpu")
    np.testing.assert_allclose(whole.fap, pred.fap, rtol=1e-5)


def test_evaluate_writes_json_and_png(tiny_artifact, small_training_set, tmp_path):
    ev = evaluate_nnfap(tiny_artifact, small_training_set, tmp_path, group_column="kind",
                        device="cpu", maximum_frequency=5.0)  # fmt: skip
    rep = json.loads(ev.json_path.read_text())
    assert rep["n_curves"] == 60 and set(rep) >= {"nnfap", "baluev", "groups"}
    assert 0 <= rep["baluev"]["AUC"] <= 1 and "type3" in rep["groups"]
    assert ev.png_path.stat().st_size > 1000
    assert ev.per_curve.num_rows == 60
