"""Blazhko ResNet-34: generator invariants, the unmodified network, a real training
run on tiny images, the artifact round trip and inference inside a 2-worker run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torchvision

import vsbatch
from benchmarks.blazhko_training_set import (
    DETECTION_CHI2,
    modulated_magnitudes,
    modulation_chi2,
    pulsation_shape,
)
from tests.conftest import FIXTURES, SHARED_DATA, light_curves_from_long, shared_file
from tests.helpers import catalog_frame, run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.failures import FailureLog
from vsbatch.kernels.arrays import LightCurves
from vsbatch.models.artifacts import load_artifact, save_artifact
from vsbatch.models.batching import count_parameters
from vsbatch.models.blazhko import (
    ARCHITECTURE,
    CLASS_NAMES,
    blazhko_resnet34,
    build_blazhko,
    half_weights,
    network_input,
    p_bl,
)
from vsbatch.represent.phased_image import ImageSpec, as_uint8, phased_images
from vsbatch.stages.blazhko import DEFAULT_SELECTION, paper_sample_cuts, rrab_selection
from vsbatch.stages.context import StageContext
from vsbatch.training.loop import FitConfig, fit
from vsbatch.training.requests import EvaluateRequest, TrainRequest

RRAB_AMPS = np.array([0.30, 0.15, 0.10, 0.07, 0.05, 0.03, 0.02, 0.015, 0.01, 0.005])
RRAB_PHASES = np.linspace(0.5, 4.0, 10)


def _cycle_amplitudes(t: np.ndarray, m: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    cycle = np.floor(t / period).astype(int)
    mids, ptp = [], []
    for c in np.unique(cycle)[1:-1]:  # whole cycles only
        sel = cycle == c
        mids.append(t[sel].mean())
        ptp.append(np.ptp(m[sel]))
    return np.array(mids), np.array(ptp)


def test_a_modulated_star_varies_with_the_stated_period_and_amplitude() -> None:
    period, f_bl, h = 0.55, 1 / 37.0, 0.3
    t = np.arange(0.0, 4 * 37.0, 0.002)
    ptp0 = np.ptp(pulsation_shape(RRAB_AMPS, RRAB_PHASES, np.linspace(0, 1, 4000)))
    plain = modulated_magnitudes(t, m0=15.0, period=period, amplitudes=RRAB_AMPS,
                                 phases=RRAB_PHASES)  # fmt: skip
    _, flat = _cycle_amplitudes(t, plain, period)
    assert np.ptp(flat) < 0.01 * ptp0
    bl = modulated_magnitudes(t, m0=15.0, period=period, amplitudes=RRAB_AMPS, phases=RRAB_PHASES,
                              f_bl=f_bl, h=h, beta=0.1, phi_a=0.4, phi_b=1.0)  # fmt: skip
    mids, amp = _cycle_amplitudes(t, bl, period)
    # per-cycle amplitude = ptp0 (1 + h sin(2 pi f_bl t + phi_a)): fit it at the stated f_bl
    design = np.column_stack([np.ones_like(mids), np.sin(2 * np.pi * f_bl * mids + 0.4)])
    coef, *_ = np.linalg.lstsq(design, amp, rcond=None)
    assert coef[0] == pytest.approx(ptp0, rel=0.03)
    assert coef[1] == pytest.approx(h * ptp0, rel=0.05)
    # and its strongest period among trial modulation frequencies is the stated one
    trials = np.linspace(0.005, 0.1, 400)
    power = [abs(np.sum((amp - amp.mean()) * np.exp(2j * np.pi * f * mids))) for f in trials]
    assert trials[int(np.argmax(power))] == pytest.approx(f_bl, abs=0.002)


def test_modulation_chi2_is_the_least_squares_residual_of_the_mean_curve() -> None:
    """Against numpy: chi2 of the noise-free curve about its weighted 10-harmonic fit."""
    rng = np.random.default_rng(4)
    period, f_bl = 0.6, 1 / 45.0
    t = np.sort(rng.uniform(0, 900, 150))
    err = rng.uniform(0.03, 0.1, t.size)
    rows = []
    for h in (0.0, 0.02, 0.2):
        m = modulated_magnitudes(t, m0=13.0, period=period, amplitudes=RRAB_AMPS,
                                 phases=RRAB_PHASES, f_bl=f_bl, h=h, beta=0.0)  # fmt: skip
        k = np.arange(1, 11)[None, :] * (2 * np.pi * t[:, None] / period)
        design = np.column_stack([np.ones_like(t), np.cos(k), np.sin(k)]) / err[:, None]
        coef, *_ = np.linalg.lstsq(design, m / err, rcond=None)
        rows.append((m, float(np.sum((m / err - design @ coef) ** 2))))
    chi2 = modulation_chi2(
        LightCurves.from_segments([(t, m, err) for m, _ in rows]), np.full(3, period)
    )
    assert chi2[0] < 1e-12  # an unmodulated star leaves nothing
    np.testing.assert_allclose(chi2[1:], [ref for _, ref in rows[1:]], rtol=1e-6)
    # a modulation of a few hundredths of a mag hides in 0.03-0.1 mag errors at 150 epochs;
    # ten times more does not (8 pi: one sinusoid at S/N 4 in the amplitude spectrum)
    assert chi2[1] < DETECTION_CHI2 < chi2[2]
    with pytest.raises(ValueError, match=r"no 10th-order fit for light curves \[0\]"):
        modulation_chi2(
            LightCurves.from_segments([(t[:25], rows[0][0][:25], err[:25])]), np.array([period])
        )


@pytest.fixture(scope="module")
def generated() -> pa.Table:
    shared_file("ogle-catalogue-tables")
    from benchmarks.blazhko_training_set import make_blazhko_training_set

    return make_blazhko_training_set(40, seed=3)


def test_generator_labels_truth_and_real_errors(generated: pa.Table) -> None:
    per = generated.to_pandas().groupby("source_id").first()
    assert len(per) == 40 and (per.label == "BL").sum() == 20 and set(per.type) == {"RRab"}
    bl, nbl = per[per.label == "BL"], per[per.label == "nBL"]
    assert (nbl.mod_amp == 0).all() and nbl.f_bl.isna().all()
    assert (bl.mod_amp > 0).all() and bl.f_bl.between(0.999e-4, 0.2001).all()
    assert per.period.between(0.25, 1.2).all()
    assert set(per.survey) == {"ogle", "asas", "s82", "eros"}  # the default mix, all drawn
    # detectable labels: only modulated stars, only where the modulation clears 8 pi
    assert (nbl.label_detectable == "nBL").all() and (nbl.mod_chi2 < 1e-9).all()
    assert ((bl.label_detectable == "BL") == (bl.mod_chi2 >= DETECTION_CHI2)).all()
    # every error is a real one of the survey it was looked up in
    real = pq.read_table(SHARED_DATA / "asas-i-rrlyrae" / "lightcurves.parquet",
                         columns=["mag_err"])  # fmt: skip
    asas = generated.filter(pa.compute.equal(generated.column("survey"), "asas"))
    assert np.isin(asas.column("mag_err").to_numpy(), real.column("mag_err").to_numpy()).all()


def test_the_network_is_torchvision_resnet34_unmodified() -> None:
    model = build_blazhko(ARCHITECTURE)
    reference = torchvision.models.resnet34(weights=None, num_classes=2)
    assert count_parameters(model) == count_parameters(reference) == 21_285_698
    assert str(model) == str(reference) and type(model) is type(reference)
    with pytest.raises(ValueError, match="not a Blazhko"):
        build_blazhko({"name": "resnet18", "num_classes": 2})


@pytest.fixture(scope="module")
def ogle_images(ogle_rrab: pd.DataFrame) -> np.ndarray:
    _keys, lcs = light_curves_from_long(ogle_rrab)
    period = ogle_rrab.groupby("source_id").period.first().to_numpy()
    return as_uint8(phased_images(lcs, period, ImageSpec(size=32)).images)


def test_tiny_training_run_and_artifact_round_trip(ogle_images: np.ndarray, tmp_path: Path) -> None:
    torch.manual_seed(0)
    images = np.concatenate([ogle_images] * 8)
    y = torch.tensor([0, 1] * 8)
    model = blazhko_resnet34()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    result = fit(model, [(network_input(images), y)], (network_input(images[:4]), y[:4]),
                 loss_fn=torch.nn.CrossEntropyLoss(), optimiser=optimiser,
                 config=FitConfig(epochs=2, batch_size=8),
                 scheduler=torch.optim.lr_scheduler.ExponentialLR(optimiser, 0.95))  # fmt: skip
    assert len(result.curve) == 2 and np.isfinite(result.best_val_loss)
    assert any(not torch.equal(before[k], v) for k, v in result.model.state_dict().items())
    p = p_bl(result.model, images[:2], device="cpu")
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()
    art = save_artifact(half_weights(result.model), tmp_path / "bz", name="blazhko", kind="blazhko",
                        version="0.0.1", architecture=ARCHITECTURE,
                        representation={"name": "phased_image", **ImageSpec(size=32).to_dict()},
                        class_names=CLASS_NAMES, training_data={"fingerprint": "test"},
                        command="test")  # fmt: skip
    result.model.float()
    loaded = load_artifact(art.path)
    assert loaded.card["kind"] == "blazhko" and count_parameters(loaded.model) == 21_285_698
    np.testing.assert_allclose(p_bl(loaded.model, images[:2], device="cpu"), p, atol=2e-3)


def test_rrab_selection_by_type_column_else_by_rule() -> None:
    lcs = light_curves_from_long(pd.DataFrame({
        "source_id": list("aabbcc"), "band": ["I"] * 6, "time": [0, 1] * 3,
        "mag": [15.0] * 6, "mag_err": [0.01] * 6}))[1]  # fmt: skip
    period = np.array([0.55, 0.30, 0.60])
    columns = {
        "source_id": ["a", "b", "c"],
        "band": ["I"] * 3,
        "type": ["RRab", "RRc", "RRab-BL"],
        "amplitude": np.array([0.8, 0.5, 0.1]),
    }
    ctx = StageContext(lcs, columns, RunConfig(), FailureLog("p"))
    assert list(rrab_selection(ctx, DEFAULT_SELECTION, period)) == ["type", None, "type"]
    columns["label"] = columns.pop("type")  # the next candidate column
    assert list(rrab_selection(ctx, DEFAULT_SELECTION, period)) == ["label", None, "label"]
    del columns["label"]  # no type column: the card's period/amplitude rule
    assert list(rrab_selection(ctx, DEFAULT_SELECTION, period)) == ["rule", None, None]
    columns["vartype"] = ["RRc", "RRab", "RRab"]  # --type-column replaces the card's names
    override = StageContext(lcs, columns, RunConfig(type_column="vartype"), FailureLog("p"))
    assert list(rrab_selection(override, DEFAULT_SELECTION, period)) == [None, "vartype", "vartype"]
    missing = StageContext(lcs, columns, RunConfig(type_column="sptype"), FailureLog("p"))
    with pytest.raises(ValueError, match="'sptype': the input has no such per-source column"):
        rrab_selection(missing, DEFAULT_SELECTION, period)


def test_paper_sample_cuts_keep_and_name_the_failed_criteria() -> None:
    n_obs = np.array([400, 300, 400, 351, 500, 500])
    mean_mag = np.array([17.0, 17.0, 18.5, 17.9, 16.0, np.nan])
    paper = paper_sample_cuts(n_obs, mean_mag)
    assert list(paper.keep) == [True, False, False, True, True, False]
    assert list(paper.failed) == [None, "n_obs > 350", "mean_mag < 18", None, None,
                                  "mean_mag < 18"]  # fmt: skip
    # MC Sample: P = 0.5 d needs amplitude > -5 log10(0.5) - 1 = 0.505 mag
    mc = paper_sample_cuts(n_obs, mean_mag, mean_err=np.array([0.01, 0.01, 0.01, 0.03, 0.01, 0.01]),
                           amplitude=np.array([0.6, 0.6, 0.6, 0.6, 0.45, 0.6]),
                           period=np.full(6, 0.5), cuts="paper-mc")  # fmt: skip
    assert list(mc.keep) == [True, False, False, False, False, False]
    assert mc.failed[3] == "mean_err < 0.025"
    assert mc.failed[4] == "amplitude > -5 log10(P) - 1"
    assert paper_sample_cuts(n_obs, mean_mag, cuts="none").keep.all()
    with pytest.raises(ValueError, match="needs mean_err"):
        paper_sample_cuts(n_obs, mean_mag, cuts="paper-mc")
    with pytest.raises(ValueError, match="blazhko_cuts must be one of"):
        RunConfig(blazhko_cuts="strict")
    with pytest.raises(ValueError, match="needs the fourier stage"):
        RunConfig(blazhko_cuts="paper-mc", stages=("stats", "period"))


@pytest.mark.slow
def test_train_and_evaluate_commands_on_a_small_generated_catalog(
    generated: pa.Table, tmp_path: Path
) -> None:
    from vsbatch.training.blazhko import evaluate_blazhko, train_blazhko

    data = tmp_path / "bz.parquet"
    pq.write_table(generated, data)
    art = train_blazhko(TrainRequest(kind="blazhko", data=str(data), out_dir=tmp_path / "m",
                                     name="blazhko", epochs=1, batch_size=8, cluster="none",
                                     params={"size": "32"}, command="test"))  # fmt: skip
    card = art.card
    assert card["representation"]["size"] == 32 and card["weights_dtype"].startswith("float16")
    assert card["training_data"]["n_train"] + card["training_data"]["n_validation"] \
        + card["training_data"]["n_test"] == card["training_data"]["n_usable"]  # fmt: skip
    assert {"ACC", "AUC", "TPR", "TNR"} <= set(card["metrics"])
    assert {"fa_bl", "fa_bl_or_cbl"} <= set(card["metrics"]["test"])
    out = evaluate_blazhko(load_artifact(art.path), EvaluateRequest(str(data), tmp_path / "ev"))
    assert out.report["cnn"]["n"] + out.report["cnn"]["n_excluded"] == 40
    assert all(f.exists() for f in out.files)


def test_compare_methods_reports_rates_per_survey() -> None:
    """Per survey: counts and the rates a base rate cannot hide (an unclassified PS17 star is
    not a BL call)."""
    from vsbatch.training.blazhko import compare_methods

    table = pa.table({"label": ["BL", "nBL", "nBL", "BL", "nBL", "nBL"],
                      "fa_class": ["BL", "nBL", "BL", "nBL", "nBL", None],
                      "survey": ["a", "a", "a", "b", "b", "b"]})  # fmt: skip
    by = compare_methods(table, np.array([0.9, 0.2, 0.7, 0.4, 0.1, 0.6]))["by_survey"]
    calls_a = {"ACC": 2 / 3, "TPR": 1.0, "TNR": 0.5, "called_bl": 2 / 3}
    assert by["a"] == {"n": 3, "n_bl": 1, "cnn": calls_a, "fa_bl": calls_a}
    assert by["b"]["cnn"] == {"ACC": 1 / 3, "TPR": 0.0, "TNR": 0.5, "called_bl": 1 / 3}
    assert by["b"]["fa_bl"] == {"ACC": 2 / 3, "TPR": 0.0, "TNR": 1.0, "called_bl": 0.0}


@pytest.mark.parametrize("name", ["blazhko", "blazhko-ogle"])
def test_shipped_reference_is_the_unmodified_network_in_verified_shards(name: str) -> None:
    art = load_artifact(name)
    card = art.card
    assert card["name"] == name  # the column prefix of its outputs
    assert card["kind"] == "blazhko" and count_parameters(art.model) == 21_285_698
    files = card["weights_files"]
    assert len(files) > 1 and all(f["bytes"] < 20_000_000 for f in files)
    for key in ("n_train", "n_validation", "n_test"):  # the card records the training-set size
        assert card["training_data"][key] > 0
    assert card["representation"]["size"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "surveys", "label", "min_auc"),
    [
        # OGLE windows, labelled as injected: 0.907 measured
        ("blazhko-ogle", {"ogle": 1.0}, "label", 0.8),
        # the default survey mix, labelled by detectable modulation: 0.891 measured
        ("blazhko", None, "label_detectable", 0.8),
    ],
)
def test_shipped_reference_separates_stars_it_never_saw(
    name: str, surveys: dict | None, label: str, min_auc: float
) -> None:
    """Better than chance (AUC 0.5) on a generator seed other than its training set's, on the
    cadences and labels it was trained for."""
    shared_file("ogle-catalogue-tables")
    from benchmarks.blazhko_training_set import make_blazhko_training_set
    from vsbatch.training.metrics import evaluate_binary

    art = load_artifact(name)
    spec = ImageSpec.from_dict(art.card["representation"])
    df = make_blazhko_training_set(200, seed=97, surveys=surveys).to_pandas()
    _, lcs = light_curves_from_long(df)
    per_source = df.groupby("source_id").first()  # one band per generated star, sorted ids
    images = phased_images(lcs, per_source.period.to_numpy(), spec)
    ok = images.status == 0
    y = (per_source[label] == "BL").to_numpy()[ok]
    report = evaluate_binary(y, p_bl(art.model, as_uint8(images.images)[ok], device="cpu"))
    assert ok.sum() >= 190 and report["AUC"] > min_auc


@pytest.fixture(scope="module")
def random_artifact(tmp_path_factory) -> Path:
    """An untrained ResNet-34 artifact (32 px) selecting RRab by the fixture's label column."""
    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("bzmodel") / "blazhko"
    save_artifact(blazhko_resnet34(), out, name="blazhko", kind="blazhko", version="0.0.1",
                  architecture=ARCHITECTURE,
                  representation={"name": "phased_image", **ImageSpec(size=32).to_dict()},
                  class_names=CLASS_NAMES, training_data={"fingerprint": "none"},
                  command="test", extra={"rrab_selection": {"type_column": "label"}})  # fmt: skip
    return out


@pytest.mark.slow
def test_inference_inside_a_two_worker_run(random_artifact: Path, tmp_path: Path) -> None:
    # the card names `label`; the run's --type-column (a column the card does not know) must
    # reach the worker processes through the run configuration
    src = tmp_path / "in.parquet"
    pd.read_parquet(FIXTURES / "ogle_blg_rrab_2.parquet").rename(
        columns={"label": "vartype"}).to_parquet(src)  # fmt: skip
    config = RunConfig(partition_epochs=3000, fmax=5.0, models=(str(random_artifact),),
                       stages=("stats", "period", "fourier", "freqanalysis"),
                       type_column="vartype")  # fmt: skip
    summary = vsbatch.run(str(src), tmp_path / "cat", config, ClusterSpec(workers=2))
    assert summary.partitions > 1
    cat = catalog_frame(summary.catalog)
    assert len(cat) == 2 and cat.blazhko_p_bl.between(0, 1).all()
    assert set(cat.blazhko_class) <= {"BL", "nBL"} and (cat.blazhko_rrab_by == "vartype").all()
    assert cat.blazhko_cut_by.isna().all()  # cuts are off by default
    assert cat.fold_period_source.eq("catalog").all() and cat.fa_class.notna().all()
    expected = (cat.blazhko_class == "BL") == cat.fa_class.isin(["BL", "cBL/PC"])
    assert (cat.blazhko_fa_agree == expected).all()
    assert cat.blazhko_version.str.startswith("blazhko 0.0.1").all()


def _chunked_ogle(path: Path, chunk: int = 250) -> Path:
    """21 labelled light curves cut from the two real OGLE RRab (label alternates by chunk)."""
    parts = []
    for sid, g in pd.read_parquet(FIXTURES / "ogle_blg_rrab_2.parquet").groupby("source_id"):
        g = g.sort_values("time").reset_index(drop=True)
        for k, lo in enumerate(range(0, len(g) - chunk // 2, chunk)):
            part = g.iloc[lo : lo + chunk].assign(source_id=f"{sid}-{k:02d}")
            parts.append(part.assign(label="BL" if k % 2 else "nBL"))
    pd.concat(parts, ignore_index=True).to_parquet(path)
    return path


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny ResNet steps are slower on two threads of a busy machine than on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_torch_thread")
def test_train_checkpoints_and_resume_gives_the_uninterrupted_model(tmp_path: Path, capsys) -> None:
    data = _chunked_ogle(tmp_path / "chunks.parquet")
    base = ["train", "blazhko", "--data", data, "--seed", "0", "--batch-size", "8",
            "--set", "size=16", "--cluster", "none"]  # fmt: skip
    assert run_cli(capsys, *base, "-o", tmp_path / "split", "--epochs", "2")[0] == 0
    assert (tmp_path / "split" / "checkpoint.pt").is_file()
    code, out, _ = run_cli(capsys, *base, "-o", tmp_path / "split", "--epochs", "4", "--resume")
    assert code == 0 and "after epoch 2" in out and "epoch   1 " not in out
    assert run_cli(capsys, *base, "-o", tmp_path / "straight", "--epochs", "4")[0] == 0
    resumed, straight = load_artifact(tmp_path / "split"), load_artifact(tmp_path / "straight")
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=1e-3)
    card = resumed.card
    assert card["resumed_after_epoch"] == 2 and card["epochs_total"] == 4
    assert card["command"].endswith("--resume")
    for got, want in zip(card["training_curve"], straight.card["training_curve"], strict=True):
        assert got["epoch"] == want["epoch"]
        assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-5)
    # the card records image size, training-set size and epochs
    assert card["representation"]["size"] == 16 and card["training_config"]["max_epochs"] == 4
    assert card["training_data"]["n_train"] == straight.card["training_data"]["n_train"] > 0
    assert card["metrics"]["best_epoch"] == straight.card["metrics"]["best_epoch"]
    for done in tmp_path.glob("*/checkpoint.pt"):  # 256 MB each: not kept in pytest's tmp
        done.unlink()
