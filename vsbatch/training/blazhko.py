"""Training and evaluation of the Blazhko ResNet-34 (Jiang et al. 2025 Sect. 3).

The paper's settings: SGD, learning rate 1e-3, momentum 0.9, batch 32, ExponentialLR, up to
50 epochs keeping the best validation epoch (the paper's model is its epoch 30 of 50), a 7:2:1
train/validation/test split (stratified, seeded), cross-entropy over (nBL, BL). The decay
factor of ExponentialLR is not given in the paper: ``gamma`` (default 0.95) is recorded in the
card, as are the image size, the training-set size and the epochs. The paper stops early only by
hand ("if the ACC of the validation set does not increase with time"), so ``--set patience=N``
(epochs without a better validation loss) is off by default.

Images are built by the same Dask passes as ``vsbatch run`` (:func:`vsbatch.pipeline.
build_shards`, :func:`blazhko_shard`): clean light curves, the catalog period, the phased
image (:mod:`vsbatch.represent.phased_image`) stored as a fixed-size uint8 list, and on the
same light curves the PS17 frequency-analysis class (:func:`vsbatch.kernels.prewhiten.
blazhko_analysis`), so the test split reports both methods on the same stars.

Resume across sessions: every epoch writes ``OUT/checkpoint.pt`` (the training loop's
checkpoint: weights, SGD momentum, scheduler, best epoch, RNG states); ``vsbatch train blazhko
... --resume`` continues from it, with ``--epochs`` raised to train further, and ends with the
same weights as one uninterrupted run. The checkpoint (about 3 x the float32 weights) is not
needed for inference; delete it when training is done.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch import nn

from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.failures import FailureLog
from vsbatch.kernels.prewhiten import BLAZHKO_CLASS_NAMES, BlazhkoClass, blazhko_analysis
from vsbatch.models.artifacts import Artifact, save_artifact, table_fingerprint
from vsbatch.models.batching import count_parameters
from vsbatch.models.blazhko import (
    ARCHITECTURE,
    CLASS_NAMES,
    blazhko_resnet34,
    half_weights,
    network_input,
    p_bl,
)
from vsbatch.represent.phased_image import ImageSpec, as_uint8, phased_images
from vsbatch.stages.blazhko import DEFAULT_SELECTION
from vsbatch.stages.clean import clean_partition
from vsbatch.training.loop import FitConfig, FitResult, fit
from vsbatch.training.metrics import evaluate_binary
from vsbatch.training.requests import EvaluateRequest, Evaluation, TrainRequest
from vsbatch.training.splits import stratified_split

CANONICAL = ("source_id", "time", "mag", "mag_err", "band")
TRUTH_COLUMNS = ("survey", "mod_amp", "bl_cycles", "true_amplitude", "f_bl")  # blazhko_data's
SPLIT = (0.7, 0.2, 0.1)
FA_SCORE = {"BL": 1.0, "cBL/PC": 0.5, "nBL": 0.0}
CHECKPOINT_FILE = "checkpoint.pt"
KNOWN_PARAMS = {"size", "learning_rate", "momentum", "gamma", "patience", "partition_epochs",
                "min_epochs", "half", "threads", "type_column"}  # fmt: skip


def blazhko_shard(
    epochs: pa.Table, partition: str, *, spec: dict, label_column: str, min_epochs: int
) -> pa.Table:
    """Shard rows of one partition: image, label, FA class and generator truth per light curve.

    Why here: the images must come from exactly the light curves a run sees (the row policy of
    :func:`clean_partition`) and be cut in parallel on the workers.
    """
    carried = tuple(c for c in epochs.column_names if c not in CANONICAL)
    if "catalog_period" not in carried:
        raise UsageError("the Blazhko training data needs a per-source `period` column")
    clean = clean_partition(epochs, partition, min_epochs, carried, FailureLog(partition))
    seg = clean.segments
    period = seg.column("catalog_period").to_numpy(zero_copy_only=False).astype(np.float64)
    image_spec = ImageSpec.from_dict(spec)
    images = phased_images(clean.lcs, period, image_spec)
    with np.errstate(divide="ignore", invalid="ignore"):
        fa = blazhko_analysis(clean.lcs, 1.0 / period, order=image_spec.order)
    fa_class = [None if c == BlazhkoClass.UNCLASSIFIED else BLAZHKO_CLASS_NAMES[BlazhkoClass(c)]
                for c in fa.bl_class]  # fmt: skip
    flat = pa.array(as_uint8(images.images).reshape(-1), pa.uint8())
    columns = {
        "source_id": seg.column("source_id").cast(pa.string()),
        "band": seg.column("band"),
        "label": seg.column(label_column).cast(pa.string()),
        "image": pa.FixedSizeListArray.from_arrays(flat, image_spec.size**2),
        "image_status": pa.array(images.status),
        "n_drawn": pa.array(images.n_drawn),
        "fa_class": pa.array(fa_class, pa.string()),
    }
    for col in TRUTH_COLUMNS:
        if col in seg.column_names:
            columns[col] = seg.column(col)
    return pa.table(columns)


def build_image_table(
    data: str, spec: ImageSpec, *, label_column: str, min_epochs: int, partition_epochs: int,
    cluster: str = "local", workers: int = 1,
) -> pa.Table:  # fmt: skip
    """Shard rows of a labelled catalog (see :func:`blazhko_shard`), sorted by source id."""
    from vsbatch.cluster import ClusterSpec
    from vsbatch.pipeline import build_shards

    tmp = Path(tempfile.mkdtemp(prefix="vsbatch-blazhko-shards-"))
    try:
        shards = build_shards(
            data, tmp / "shards",
            partial(blazhko_shard, spec=spec.to_dict(), label_column=label_column,
                    min_epochs=min_epochs),
            RunConfig(partition_epochs=partition_epochs, min_epochs=min_epochs),
            ClusterSpec(cluster=cluster, workers=max(1, workers)),
        )  # fmt: skip
        table = pa.concat_tables([pq.read_table(f) for f in shards.files])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return table.take(pc.sort_indices(table, [("source_id", "ascending"), ("band", "ascending")]))


def _images(table: pa.Table, size: int) -> np.ndarray:
    flat = table.column("image").combine_chunks().values.to_numpy(zero_copy_only=False)
    return flat.reshape(table.num_rows, size, size)


def _labels(table: pa.Table) -> np.ndarray:
    return np.array([v == "BL" for v in table.column("label").to_pylist()], dtype=np.int64)


def fa_scores(table: pa.Table) -> np.ndarray:
    """Frequency-analysis score: BL 1, cBL/PC 0.5, nBL 0, unclassified NaN."""
    return np.array([FA_SCORE.get(v, np.nan) if v else np.nan
                     for v in table.column("fa_class").to_pylist()])  # fmt: skip


def compare_methods(table: pa.Table, p: np.ndarray) -> dict:
    """ACC, AUC, TPR, TNR, confusion and ROC of the CNN and of PS17 on the same stars.

    PS17 twice: ``fa_bl`` counts only BL as Blazhko, ``fa_bl_or_cbl`` also cBL/PC; light
    curves the frequency analysis cannot classify are excluded from its rows (``n_excluded``).
    """
    y = _labels(table)
    fa = fa_scores(table)
    report = {"n": int(y.size), "n_bl": int(y.sum()), "cnn": evaluate_binary(y, p),
              "fa_bl": evaluate_binary(y, fa, threshold=1.0),
              "fa_bl_or_cbl": evaluate_binary(y, fa, threshold=0.5)}  # fmt: skip
    both = np.isfinite(fa)
    report["cnn_on_fa_classified"] = evaluate_binary(y[both], p[both])
    report["agreement_cnn_fa_bl"] = float(np.mean((p[both] > 0.5) == (fa[both] >= 1.0)))
    if "survey" in table.column_names:  # prevalence differs by survey: rates, not accuracy
        surveys = np.array(table.column("survey").to_pylist(), dtype=object)
        report["by_survey"] = {
            str(s): {"n": int((surveys == s).sum()), "n_bl": int(y[surveys == s].sum()),
                     "cnn": _rates(y[surveys == s], p[surveys == s] > 0.5),
                     "fa_bl": _rates(y[surveys == s], fa[surveys == s] >= 1.0)}
            for s in sorted(set(surveys))
        }  # fmt: skip
    if "mod_amp" in table.column_names:
        amp = table.column("mod_amp").to_numpy(zero_copy_only=False)
        bins = [(0.0, 0.05), (0.05, 0.15), (0.15, 10.0)]
        report["tpr_by_mod_amp"] = {
            f"{lo}-{hi} mag": {"n": int(((y == 1) & (amp >= lo) & (amp < hi)).sum()),
                               "cnn": _acc(y[(y == 1) & (amp >= lo) & (amp < hi)],
                                           p[(y == 1) & (amp >= lo) & (amp < hi)] > 0.5),
                               "fa": _acc(y[(y == 1) & (amp >= lo) & (amp < hi)],
                                          fa[(y == 1) & (amp >= lo) & (amp < hi)] >= 1.0)}
            for lo, hi in bins
        }  # fmt: skip
    return report


def _acc(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(y == pred)) if y.size else float("nan")


def _rates(y: np.ndarray, pred: np.ndarray) -> dict:
    """ACC, TPR, TNR and the fraction called BL (NaN where a class is absent)."""
    return {"ACC": _acc(y, pred), "TPR": _acc(y[y == 1], pred[y == 1]),
            "TNR": _acc(y[y == 0], pred[y == 0]),
            "called_bl": float(np.mean(pred)) if y.size else float("nan")}  # fmt: skip


def _summary(report: dict) -> dict:
    keys = ("ACC", "AUC", "TPR", "TNR", "confusion_matrix", "n", "n_excluded")
    return {m: {k: report[m].get(k) for k in keys} for m in ("cnn", "fa_bl", "fa_bl_or_cbl")}


def plot_roc(report: dict, path: Path, title: str) -> None:
    """ROC of the CNN beside the PS17 operating points, written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    roc = report["cnn"]["roc"]
    ax.plot(roc["fpr"], roc["tpr"], "-", color="C0",
            label=f"ResNet-34 (AUC {report['cnn']['AUC']:.3f})")  # fmt: skip
    for key, marker, label in (("fa_bl", "o", "PS17 BL"), ("fa_bl_or_cbl", "s", "PS17 BL+cBL/PC")):
        r = report[key]
        ax.plot(1 - r["TNR"], r["TPR"], marker, color="C1" if key == "fa_bl" else "C2",
                label=f"{label} (ACC {r['ACC']:.3f})")  # fmt: skip
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false-positive rate (1 - TNR)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclass(frozen=True)
class BlazhkoSettings:
    """The settings of ``vsbatch train blazhko``: its ``--set`` values over the paper's."""

    spec: ImageSpec
    learning_rate: float
    momentum: float
    gamma: float  # ExponentialLR decay per epoch (not given in the paper)
    epochs: int
    batch_size: int
    patience: int
    min_epochs: int
    partition_epochs: int
    half: bool  # ship float16 weights (and report the metrics of those)

    @classmethod
    def from_request(cls, request: TrainRequest) -> BlazhkoSettings:
        """Read and check the request's settings; ``threads`` sets torch's threads here."""
        p = request.param
        unknown = set(request.params) - KNOWN_PARAMS
        if unknown:
            raise UsageError(
                f"unknown blazhko settings {sorted(unknown)}; known: {sorted(KNOWN_PARAMS)}"
            )
        threads = int(p("threads", 0, int))
        if threads:
            torch.set_num_threads(threads)
        spec = ImageSpec(size=int(p("size", 64, int)))
        epochs = request.epochs or 50
        return cls(
            spec=spec,
            learning_rate=float(p("learning_rate", 1e-3, float)),
            momentum=float(p("momentum", 0.9, float)),
            gamma=float(p("gamma", 0.95, float)),
            epochs=epochs,
            batch_size=request.batch_size or 32,
            patience=int(p("patience", epochs, int)),
            min_epochs=int(p("min_epochs", 2 * spec.order + 11, int)),
            partition_epochs=int(p("partition_epochs", 200_000, int)),
            half=bool(int(p("half", 1, int))),
        )


def train_blazhko(request: TrainRequest) -> Artifact:
    """``vsbatch train blazhko``: shards, 7:2:1 split, the paper's SGD, test-split metrics."""
    started = time.perf_counter()
    st = BlazhkoSettings.from_request(request)
    table = build_image_table(request.data, st.spec, label_column=request.label_column,
                              min_epochs=st.min_epochs, partition_epochs=st.partition_epochs,
                              cluster=request.cluster, workers=request.workers)  # fmt: skip
    t_images = time.perf_counter() - started
    usable = table.filter(pc.equal(table.column("image_status"), 0))
    y = _labels(usable)
    split = stratified_split(y, SPLIT, request.seed)
    images = _images(usable, st.spec.size)
    fingerprint = table_fingerprint(table.drop_columns(["image"]))
    tr, va, te = (np.flatnonzero(split == k) for k in range(3))
    print(
        f"train_blazhko: {len(tr)}/{len(va)}/{len(te)} train/validation/test images "
        f"{st.spec.size}x{st.spec.size} ({int(y.sum())} BL), "
        f"{table.num_rows - usable.num_rows} light curves unusable, images in {t_images:.0f} s",
        flush=True,
    )
    result = _fit_resnet(request, st, images, y, tr, va, fingerprint)
    model = result.model
    if st.half:  # the shipped weights are float16: report the metrics of exactly those weights
        half_weights(model).float()
    report = compare_methods(usable.take(pa.array(te)), p_bl(model, images[te], device="cpu"))
    metrics = {**{k: v for k, v in report["cnn"].items() if k in ("ACC", "AUC", "TPR", "TNR")},
               "split": "test (10 %, stratified)", "test": _summary(report),
               "best_epoch": result.best_epoch, "val_loss": result.best_val_loss,
               "stop_reason": result.stop_reason,
               "train_seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    training_data = _training_data(request, table, usable, y, (tr, va, te), fingerprint)
    if st.half:
        half_weights(model)
    artifact = save_artifact(
        model, request.out_dir, name=request.name, kind="blazhko", version="1.0.0",
        architecture=ARCHITECTURE, representation=_representation(st.spec),
        class_names=CLASS_NAMES, training_data=training_data, command=request.command,
        metrics=metrics, training_curve=result.curve,
        extra=_card_extra(request, st, result, report),
    )  # fmt: skip
    model.float()
    return artifact


def _fit_resnet(
    request: TrainRequest, st: BlazhkoSettings, images: np.ndarray, y: np.ndarray,
    tr: np.ndarray, va: np.ndarray, fingerprint: str,
) -> FitResult:  # fmt: skip
    """The seeded ResNet-34 trained with the paper's SGD and ExponentialLR, checkpointed every
    epoch into the output folder (resumed from it with ``request.resume``)."""
    torch.manual_seed(request.seed)
    model = blazhko_resnet34()
    optimiser = torch.optim.SGD(model.parameters(), lr=st.learning_rate, momentum=st.momentum)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=st.gamma)
    config = FitConfig(epochs=st.epochs, batch_size=st.batch_size, seed=request.seed,
                       patience=st.patience, eval_batch_size=128)  # fmt: skip
    return fit(
        model, [(network_input(images[tr]), torch.from_numpy(y[tr]))],
        (network_input(images[va]), torch.from_numpy(y[va])),
        loss_fn=nn.CrossEntropyLoss(), optimiser=optimiser, config=config, scheduler=scheduler,
        log=lambda msg: print(msg, flush=True), checkpoint=Path(request.out_dir) / CHECKPOINT_FILE,
        resume=request.resume,
        checkpoint_identity={"data": fingerprint, "size": st.spec.size,
                             "learning_rate": st.learning_rate, "momentum": st.momentum,
                             "gamma": st.gamma},
    )  # fmt: skip


def _training_data(
    request: TrainRequest, table: pa.Table, usable: pa.Table, y: np.ndarray,
    split: tuple[np.ndarray, np.ndarray, np.ndarray], fingerprint: str,
) -> dict:  # fmt: skip
    """The card's ``training_data``: counts per split and survey, the test stars' ids."""
    tr, va, te = split
    surveys = usable.column("survey").to_pylist() if "survey" in usable.column_names else []
    return {
        "fingerprint": fingerprint,
        "source": str(request.data),
        "n_light_curves": int(table.num_rows),
        "n_usable": int(usable.num_rows),
        "n_bl": int(y.sum()),
        "n_train": len(tr), "n_validation": len(va), "n_test": len(te),
        "by_survey": {s: surveys.count(s) for s in sorted(set(surveys))},
        "test_source_ids": usable.column("source_id").take(pa.array(te)).to_pylist()[:5000],
    }  # fmt: skip


def _representation(spec: ImageSpec) -> dict:
    """The card's ``representation``: the phased image and how it is drawn."""
    return {"name": "phased_image", "module": "vsbatch.represent.phased_image",
            **spec.to_dict(), "phase_zero": "maximum light of the Fourier fit",
            "frame": "axes fill the figure, no decorations",
            "pixel": "ink coverage 0..1 stored as uint8 (x 255), grey to 3 channels",
            "fold": "catalog period when given, else the run's period"}  # fmt: skip


def _card_extra(
    request: TrainRequest, st: BlazhkoSettings, result: FitResult, report: dict
) -> dict:
    """The card's training configuration, epochs, weight format, RRab selection and the test
    comparison with PS17."""
    p = request.param
    type_column = {"type_column": p("type_column")} if "type_column" in request.params else {}
    return {"training_config": {"optimiser": "SGD", "learning_rate": st.learning_rate,
                                "momentum": st.momentum,
                                "scheduler": f"ExponentialLR(gamma={st.gamma})",
                                "batch_size": st.batch_size, "max_epochs": st.epochs,
                                "patience": st.patience, "split": list(SPLIT),
                                "seed": request.seed, "loss": "cross-entropy",
                                "threads": torch.get_num_threads()},
            "epochs_total": len(result.curve),
            "resumed_after_epoch": result.resumed_after_epoch,
            "checkpoint": f"{CHECKPOINT_FILE} (training state for --resume; not for inference)",
            "weights_dtype": "float16 conv/linear, float32 batch norm" if st.half else "float32",
            "rrab_selection": {**DEFAULT_SELECTION, **type_column},
            "evaluation_test": report,
            "parameters_note": f"{count_parameters(result.model)} parameters: torchvision "
                               "resnet34(num_classes=2), unmodified"}  # fmt: skip


def evaluate_blazhko(artifact: Artifact, request: EvaluateRequest) -> Evaluation:
    """``vsbatch evaluate``: CNN and PS17 metrics on a labelled catalog, report + ROC figure.

    ``--set split=test`` keeps only the artifact's test-split stars (by source id) when the
    data is its training set.
    """
    spec = ImageSpec.from_dict(artifact.card["representation"])
    min_epochs = int(request.params.get("min_epochs", 2 * spec.order + 11))
    table = build_image_table(request.data, spec, label_column=request.label_column,
                              min_epochs=min_epochs,
                              partition_epochs=int(request.params.get("partition_epochs",
                                                                      200_000)))  # fmt: skip
    table = table.filter(pc.equal(table.column("image_status"), 0))
    if request.params.get("split") == "test":
        ids = pa.array(artifact.card["training_data"]["test_source_ids"], pa.string())
        table = table.filter(pc.is_in(table.column("source_id"), ids))
    p = p_bl(artifact.model, _images(table, spec.size))
    report = {"model": artifact.version_tag, "data": str(request.data),
              **compare_methods(table, p)}  # fmt: skip
    out = Path(request.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path_json, path_png = out / "blazhko_evaluation.json", out / "blazhko_roc.png"
    path_json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    plot_roc(report, path_png, f"Blazhko: {artifact.name} on {Path(str(request.data)).name}")
    return Evaluation({"model": report["model"], **_summary(report)}, (path_json, path_png))
