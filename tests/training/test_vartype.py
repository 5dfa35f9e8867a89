"""``vartype`` on real EROS-1 catalog columns: the text artifact (and refusal of a pickle),
calibration, the evaluation's baseline, and ``vsbatch run --model vartype`` on real curves."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import vsbatch
from tests.conftest import FIXTURES, shared_file
from tests.helpers import catalog_frame
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import sha256_file
from vsbatch.models.artifacts import ArtifactError, load_artifact
from vsbatch.models.vartype import BAND_COLUMNS, BAND_ROLES, softmax, source_features
from vsbatch.training.kinds import evaluate, train
from vsbatch.training.multiclass import expected_calibration_error
from vsbatch.training.requests import EvaluateRequest, TrainRequest
from vsbatch.training.splits import stratified_split
from vsbatch.training.vartype import (
    SPLIT,
    VartypeConfig,
    fit_calibrated,
    fit_temperature,
    load_features,
    raw_scores,
)

STAGES = ("stats", "period", "multiband", "fourier")
PER_CLASS = 30


@pytest.fixture(scope="module")
def eros_catalog(tmp_path_factory) -> Path:
    """The catalog ``vsbatch run`` writes for 30 real EROS-1 stars of each class."""
    table = pq.read_table(shared_file("eros1-lmc/train.parquet"))
    first = table.group_by(["source_id", "label"]).aggregate([])
    ids = []
    for label in sorted(set(first.column("label").to_pylist())):
        ids += sorted(first.filter(pc.equal(first["label"], label))["source_id"].to_pylist())[
            :PER_CLASS
        ]
    src = tmp_path_factory.mktemp("eros") / "eros.parquet"
    pq.write_table(table.filter(pc.is_in(table["source_id"], pa.array(ids))), src)
    out = tmp_path_factory.mktemp("cat") / "cat"
    vsbatch.run(str(src), out, RunConfig(stages=STAGES, fmax=10.0), ClusterSpec(cluster="none"))
    return out


@pytest.fixture(scope="module")
def tiny_vartype(eros_catalog: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "vartype"
    params = {"rounds": "60", "early_stop": "20", "rf_trees": "40", "min_leaf": "5"}
    train(TrainRequest("vartype", str(eros_catalog), out, "vartype", params=params))
    return out


def test_text_artifact_round_trip_and_pickle_refused(tiny_vartype: Path, tmp_path: Path):
    art = load_artifact(tiny_vartype)
    weights = tiny_vartype / "weights.txt"
    assert art.card["weights_format"] == "text" and weights.read_text().startswith("tree")
    assert art.card["weights_sha256"] == sha256_file(weights)
    x = np.random.default_rng(0).normal(size=(5, len(art.card["architecture"]["features"])))
    p = art.model.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(load_artifact(tiny_vartype).model.predict_proba(x), p)
    copy = Path(shutil.copytree(tiny_vartype, tmp_path / "copy"))
    weights, marker = copy / "weights.txt", tmp_path / "pwned"
    for protocol in (0, pickle.HIGHEST_PROTOCOL):  # protocol 0 is ASCII text
        weights.write_bytes(pickle.dumps(_Evil(str(marker)), protocol=protocol))
        card = json.loads((copy / "model_card.json").read_text())
        card["weights_sha256"] = card["weights_files"][0]["sha256"] = sha256_file(weights)
        (copy / "model_card.json").write_text(json.dumps(card))  # the attacker fixed the card
        with pytest.raises(ArtifactError, match=r"not a plain-text model|does not load"):
            load_artifact(copy)
        assert not marker.exists()


class _Evil:
    """Unpickling this would create a file: the loader must never unpickle."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_calibration_reduces_ece() -> None:
    """Over-confident scores (true logits x 3, labels drawn from the true probabilities):
    the fitted temperature undoes the factor and removes most of the calibration error."""
    rng = np.random.default_rng(5)
    logits = rng.normal(0.0, 1.5, size=(4000, 4))
    truth = softmax(logits, 1.0)
    y = np.array([rng.choice(4, p=p) for p in truth])
    scores = 3.0 * logits
    t = fit_temperature(scores, y)
    assert 2.5 < t < 3.5
    before = expected_calibration_error(y, softmax(scores, 1.0))
    after = expected_calibration_error(y, softmax(scores, t))
    assert after < 0.5 * before and after < 0.03


def test_fit_calibrated_reports_the_ece_of_its_own_validation_scores(eros_catalog: Path):
    data = load_features(str(eros_catalog), BAND_ROLES, "label", {})
    names = sorted(set(data.labels))
    y = np.searchsorted(names, data.labels)
    split = stratified_split(y, SPLIT, 0)
    tr, va = np.flatnonzero(split == 0), np.flatnonzero(split == 1)
    fitted = fit_calibrated(data.x, y, tr, va, len(names), VartypeConfig(min_leaf=3))
    s = raw_scores(fitted.booster, data.x[va])
    assert expected_calibration_error(y[va], softmax(s, fitted.temperature)) == fitted.ece_after
    assert expected_calibration_error(y[va], softmax(s, 1.0)) == fitted.ece_before


def test_evaluate_reports_the_random_forest_baseline(tiny_vartype: Path, eros_catalog, tmp_path):
    art = load_artifact(tiny_vartype)
    request = EvaluateRequest(str(eros_catalog), tmp_path / "eval", params={"split": "test"})
    report = evaluate(art, request).report
    rf = report["baseline_rf"]
    assert report["n"] == rf["n"] == art.card["training_data"]["n_test"]
    assert 0.25 < rf["accuracy"] <= 1.0 and len(rf["confusion"]) == 4
    assert report["same_data_as_training"] and "ece" in report
    assert set(report["per_class_recall"]) == set(art.card["class_names"])
    assert report["beats_baseline"] == (
        report["accuracy"] > rf["accuracy"] and report["macro_f1"] > rf["macro_f1"]
    )


def test_features_need_a_mapped_band():
    cols = {c: np.full(3, 2.0) for c in BAND_COLUMNS}
    feats = source_features(cols, np.array(["EROS_B", "EROS_R", "Hp"]), np.array([0, 0, 1]),
                            BAND_ROLES)  # fmt: skip
    assert feats.ok.tolist() == [True, False]
    assert np.isnan(feats.x[1]).all() and feats.x[0, 0] == pytest.approx(np.log10(2.0))


def test_shipped_vartype_in_a_run_scores_the_two_band_source(tmp_path: Path):
    shipped = load_artifact("vartype")
    assert shipped.card["metrics"]["cv"]["folds"] == 5 and shipped.card["weights_bytes"] < 1e6
    config = RunConfig(stages=STAGES, fmax=10.0, models=("vartype",))
    src = str(FIXTURES / "misc_mit_5.parquet")
    summary = vsbatch.run(src, tmp_path / "cat", config, ClusterSpec(cluster="none"))
    cat = catalog_frame(summary.catalog)
    classes = shipped.card["class_names"]
    assert {"vartype_class", "vartype_p_max", "vartype_version"} <= set(cat.columns)
    assert {f"vartype_p_{c}" for c in classes} <= set(cat.columns)
    eros2 = cat[cat.band.str.startswith("EROS2")]
    assert len(eros2) == 2 and eros2.vartype_class.nunique() == 1
    assert eros2.vartype_class.iloc[0] == "cepheid"  # the EROS-2 LMC Cepheid lm0010n22323
    p = eros2[[f"vartype_p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(eros2.vartype_p_max, p.max(axis=1))
    others = cat[~cat.band.str.startswith("EROS2")]
    assert others.vartype_class.isna().all() and others.vartype_p_max.isna().all()
