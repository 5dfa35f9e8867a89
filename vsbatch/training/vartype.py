"""Training and evaluation of ``vartype``: LightGBM on a committed catalog's own columns.

Data: a catalog written by ``vsbatch run`` (stages stats, period, fourier, and multiband for
the cross-band period features) whose input carried a per-source label column; only columns
``vsbatch run`` computes are features (a label-derived value such as the EROS-1 kit's
``period_kit`` never is). Split: the classifiers' seeded stratified 60/20/20 split by source
(sources sorted by id), so the test 20 % are the stars the networks are tested on. The booster
trains on the 60 %, stops early and is calibrated on the 20 % validation (one temperature on
its raw scores, Guo et al. 2017), and is scored once on the test 20 %. ``--folds k`` adds
stratified k-fold cross-validation (fold f tests, fold f+1 validates). The baseline is
LightGBM's random forest (``boosting_type=rf``) on the same features, fitted on everything
but the test rows.

Settings (``--set key=value``): lr, leaves, min_leaf, rounds, early_stop, feature_fraction,
bagging_fraction, weighting (none | inverse), threshold (the ``unknown`` cut on p_max),
label_map, classes, band_roles (``NAME:blue,NAME:red`` added to the shipped table), rf_trees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.optimize import minimize_scalar

from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog, write_json_atomic, write_parquet_atomic
from vsbatch.models.artifacts import Artifact, save_text_artifact, table_fingerprint
from vsbatch.models.vartype import (
    BAND_ROLES,
    INPUT_COLUMNS,
    MODEL_FORMAT,
    VartypeModel,
    feature_names,
    lightgbm,
    softmax,
    source_features,
)
from vsbatch.schema import column_prefix
from vsbatch.stages.vartype import labelled_columns
from vsbatch.training.multiclass import (
    expected_calibration_error,
    multiclass_metrics,
    plot_confusion,
    summarise_folds,
)
from vsbatch.training.requests import EvaluateRequest, Evaluation, TrainRequest
from vsbatch.training.splits import stratified_folds, stratified_split

if TYPE_CHECKING:
    from lightgbm import Booster

SPLIT = (0.6, 0.2, 0.2)  # as the networks (vsbatch.training.classifiers.SPLIT)


@dataclass(frozen=True)
class VartypeConfig:
    """Everything besides the data that decides the booster (written to the card)."""

    seed: int = 0
    folds: int = 0
    learning_rate: float = 0.05
    leaves: int = 15
    min_leaf: int = 10
    rounds: int = 1000
    early_stop: int = 50
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    weighting: str = "none"
    threshold: float = 0.5
    label_map: dict[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    band_roles: dict[str, str] = field(default_factory=dict)
    rf_trees: int = 300


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split(":", 1) for item in text.split(",") if item)


_SETTINGS = {
    "lr": ("learning_rate", float), "leaves": ("leaves", int), "min_leaf": ("min_leaf", int),
    "rounds": ("rounds", int), "early_stop": ("early_stop", int),
    "feature_fraction": ("feature_fraction", float),
    "bagging_fraction": ("bagging_fraction", float), "weighting": ("weighting", str),
    "threshold": ("threshold", float), "label_map": ("label_map", _pairs),
    "classes": ("classes", lambda s: tuple(s.split(","))), "band_roles": ("band_roles", _pairs),
    "rf_trees": ("rf_trees", int),
}  # fmt: skip


def config_from_request(request: TrainRequest) -> VartypeConfig:
    """The configuration of ``vsbatch train vartype`` (flags plus ``--set`` settings)."""
    values: dict = {"seed": request.seed, "folds": request.folds}
    values.update(request.settings("vartype", _SETTINGS))
    cfg = VartypeConfig(**values)
    if cfg.folds and cfg.folds < 3:
        raise UsageError("--folds needs at least 3 (test, validation and training folds)")
    if cfg.weighting not in ("none", "inverse") or not 0 <= cfg.threshold <= 1:
        raise UsageError("weighting must be none or inverse, threshold in [0, 1]")
    if set(cfg.band_roles.values()) - {"blue", "red"}:
        raise UsageError("band_roles: every band maps to blue or red")
    return cfg


# --- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledFeatures:
    """Features and labels of every source with a mapped band, sorted by source id."""

    x: np.ndarray
    labels: np.ndarray  # str, after the label map
    source_id: np.ndarray
    fingerprint: str
    n_unusable: int


def catalog_rows(data: str, label_column: str) -> pa.Table:
    """The rows of a committed catalog, or of a Parquet table of such rows (e.g. a ``vsbatch
    query`` export); for light curves, a UsageError saying to run ``vsbatch run`` first (that
    is how a user's catalog is made, and the model reads only its columns)."""
    try:
        catalog = open_catalog(data)
        present = set(pq.read_schema(catalog.files[0]).names) if catalog.files else set()
        read = catalog.to_table
    except UsageError:
        try:
            dataset = pq.ParquetDataset(data)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{data}: not a catalog or Parquet table ({exc})") from exc
        present, read = set(dataset.schema.names), lambda columns: dataset.read(columns=columns)
    if not {"source_id", "band", "n_obs", "period"} <= present:
        raise UsageError(
            f"{data}: no catalog columns; vartype trains on what vsbatch run writes: run "
            f"`vsbatch run {data} -o CATALOG --stages stats,period,multiband,fourier` first"
        )
    if label_column not in present:
        raise UsageError(f"{data}: no label column {label_column!r} carried into the catalog")
    return read(["source_id", "band", label_column, *(c for c in INPUT_COLUMNS if c in present)])


def load_features(
    data: str, roles: dict[str, str], label_column: str, label_map: dict[str, str]
) -> LabelledFeatures:
    """Features and labels of every source of a catalog (:func:`catalog_rows`) with a light
    curve in a band ``roles`` maps."""
    table = catalog_rows(data, label_column)
    table = table.append_column("_sid", pc.cast(table.column("source_id"), pa.string()))
    table = table.sort_by([("_sid", "ascending"), ("band", "ascending")])
    codes = pc.dictionary_encode(table.column("_sid")).combine_chunks()
    sidx = codes.indices.to_numpy().astype(np.int64)
    columns = {c: table.column(c) for c in INPUT_COLUMNS if c in table.column_names}
    band = table.column("band").to_numpy(zero_copy_only=False)
    feats = source_features(columns, band, sidx, roles)
    first = np.unique(sidx, return_index=True)[1]
    raw = table.column(label_column).take(pa.array(first)).to_pylist()
    labels = np.array([label_map.get(str(v), str(v)) for v in raw], object)
    ids = np.array(table.column("_sid").take(pa.array(first)).to_pylist(), object)
    ok = feats.ok
    kept = pa.table({"source_id": ids[ok].tolist(), "label": labels[ok].tolist(),
                     "x": pa.FixedSizeListArray.from_arrays(feats.x[ok].reshape(-1),
                                                            feats.x.shape[1])})  # fmt: skip
    return LabelledFeatures(
        feats.x[ok], labels[ok], ids[ok], table_fingerprint(kept), int((~ok).sum())
    )


def _roles(cfg: VartypeConfig) -> dict[str, str]:
    return {**BAND_ROLES, **cfg.band_roles}


def _labelled(
    data_in: LabelledFeatures, cfg: VartypeConfig, class_names: list[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows kept (``classes``, and the model's classes when given) and their class indices."""
    keep = (
        np.isin(data_in.labels, cfg.classes) if cfg.classes else np.ones(len(data_in.labels), bool)
    )
    if class_names is not None:
        keep &= np.isin(data_in.labels, class_names)
    rows = np.flatnonzero(keep)
    names = class_names or sorted(set(data_in.labels[rows]))
    return rows, np.searchsorted(names, data_in.labels[rows]).astype(np.int64), names


# --- fitting -------------------------------------------------------------------------------


def _weights(y: np.ndarray, n_classes: int, weighting: str) -> np.ndarray | None:
    if weighting == "none":
        return None
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return (len(y) / (n_classes * np.maximum(counts, 1)))[y]


def fit_booster(
    x: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, n_classes: int, cfg: VartypeConfig
) -> Booster:
    """Gradient-boosted trees on ``tr``, early-stopped on ``va``'s log-loss (one thread:
    the same seed gives the same trees)."""
    lgb = lightgbm()
    params = {
        "objective": "multiclass", "num_class": n_classes, "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.leaves, "min_data_in_leaf": cfg.min_leaf,
        "feature_fraction": cfg.feature_fraction, "bagging_fraction": cfg.bagging_fraction,
        "bagging_freq": 1, "lambda_l2": 1.0, "seed": cfg.seed, "num_threads": 1,
        "deterministic": True, "force_row_wise": True, "verbosity": -1,
    }  # fmt: skip
    train = lgb.Dataset(x[tr], y[tr], weight=_weights(y[tr], n_classes, cfg.weighting))
    valid = lgb.Dataset(x[va], y[va], reference=train)
    return lgb.train(params, train, num_boost_round=cfg.rounds, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(cfg.early_stop, verbose=False)])  # fmt: skip


def fit_random_forest(
    x: np.ndarray, y: np.ndarray, rows: np.ndarray, n_classes: int, cfg: VartypeConfig
) -> Booster:
    """The baseline: LightGBM's random forest (bagged, fully grown trees, no boosting)."""
    lgb = lightgbm()
    params = {
        "objective": "multiclass", "num_class": n_classes, "boosting": "rf",
        "bagging_fraction": 0.632, "bagging_freq": 1, "feature_fraction": 0.5,
        "num_leaves": 255, "min_data_in_leaf": 2, "seed": cfg.seed, "num_threads": 1,
        "deterministic": True, "force_row_wise": True, "verbosity": -1,
    }  # fmt: skip
    return lgb.train(params, lgb.Dataset(x[rows], y[rows]), num_boost_round=cfg.rf_trees)


def raw_scores(booster: Booster, x: np.ndarray) -> np.ndarray:
    return np.asarray(
        booster.predict(x, raw_score=True, num_iteration=booster.best_iteration or None)
    )


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(scores / T) on a
    held-out set (T > 1 softens over-confident trees)."""

    def nll(log_t: float) -> float:
        p = softmax(scores, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


def scored(y: np.ndarray, proba: np.ndarray, class_names: list[str], threshold: float) -> dict:
    """The seeds' metrics plus ECE, and how many sources the ``unknown`` cut leaves scored."""
    m = multiclass_metrics(y, proba, class_names)
    kept = proba.max(axis=1) >= threshold if len(y) else np.zeros(0, bool)
    right = proba.argmax(axis=1) == y
    m.update(
        ece=expected_calibration_error(y, proba),
        threshold=threshold,
        coverage=float(kept.mean()) if len(y) else float("nan"),
        accuracy_above_threshold=float(right[kept].mean()) if kept.any() else float("nan"),
    )
    return m


@dataclass(frozen=True)
class FittedVartype:
    """A calibrated booster and what it scored on held-out rows."""

    booster: Booster
    temperature: float
    ece_before: float  # validation ECE at T = 1
    ece_after: float


def fit_calibrated(
    x: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, n_classes: int, cfg: VartypeConfig
) -> FittedVartype:
    """Booster on ``tr``, early stopping and temperature both on ``va``."""
    booster = fit_booster(x, y, tr, va, n_classes, cfg)
    s_va = raw_scores(booster, x[va])
    t = fit_temperature(s_va, y[va])
    return FittedVartype(booster, t, expected_calibration_error(y[va], softmax(s_va)),
                         expected_calibration_error(y[va], softmax(s_va, t)))  # fmt: skip


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    cfg: VartypeConfig,
    say: Callable[[str], None],
) -> dict:
    """Stratified k-fold: fold f tests, fold f+1 validates (early stop, temperature), the rest
    trains; mean and sd of the headline metrics and of ECE, the RF baseline beside them."""
    fold = stratified_folds(y, cfg.folds, cfg.seed)
    per_fold, rf_fold = [], []
    for f in range(cfg.folds):
        te, va = fold == f, fold == (f + 1) % cfg.folds
        tr = np.flatnonzero(~te & ~va)
        fitted = fit_calibrated(x, y, tr, np.flatnonzero(va), len(class_names), cfg)
        p = softmax(raw_scores(fitted.booster, x[te]), fitted.temperature)
        per_fold.append(scored(y[te], p, class_names, cfg.threshold))
        rf = fit_random_forest(x, y, np.flatnonzero(~te), len(class_names), cfg)
        rf_fold.append(multiclass_metrics(y[te], rf.predict(x[te]), class_names))
        say(f"fold {f + 1}/{cfg.folds}: accuracy {per_fold[-1]['accuracy']:.4f}  macro F1 "
            f"{per_fold[-1]['macro_f1']:.4f}  (RF {rf_fold[-1]['accuracy']:.4f})")  # fmt: skip
    out = summarise_folds(per_fold)
    eces = np.array([m["ece"] for m in per_fold])
    out["ece"] = {"mean": float(eces.mean()), "std": float(eces.std()),
                  "per_fold": eces.round(4).tolist()}  # fmt: skip
    out["baseline_rf"] = summarise_folds(rf_fold)
    out["protocol"] = (f"stratified {cfg.folds}-fold, seed {cfg.seed}: fold f tests, fold f+1 "
                       "validates (early stop, temperature), the rest trains; RF on all but "
                       "fold f")  # fmt: skip
    return out


# --- training ------------------------------------------------------------------------------


def _importances(booster: Booster, names: list[str]) -> dict[str, float]:
    """Total split gain of every feature, as a share of the whole, largest first."""
    gain = np.asarray(booster.feature_importance("gain"), float)
    share = gain / max(gain.sum(), 1e-300)
    order = np.argsort(-share)
    return {names[i]: round(float(share[i]), 4) for i in order if share[i] > 0}


def train_vartype(
    request: TrainRequest, cfg: VartypeConfig, say: Callable[[str], None] = print
) -> Artifact:
    """``vsbatch train vartype``: CV (with --folds), then the shipped 60/20/20 booster."""
    roles = _roles(cfg)
    data_in = load_features(request.data, roles, request.label_column, cfg.label_map)
    rows, y, class_names = _labelled(data_in, cfg, None)
    if len(class_names) < 2:
        raise UsageError(f"{request.data}: need at least two classes, got {class_names}")
    x = data_in.x[rows]
    counts = {c: int((y == i).sum()) for i, c in enumerate(class_names)}
    say(f"vartype: {len(y)} sources {counts}, {data_in.n_unusable} without a mapped band, "
        f"{x.shape[1]} features")  # fmt: skip
    cv = cross_validate(x, y, class_names, cfg, say) if cfg.folds else None
    split = stratified_split(y, SPLIT, cfg.seed)
    tr, va, te = (np.flatnonzero(split == k) for k in range(3))
    fitted = fit_calibrated(x, y, tr, va, len(class_names), cfg)
    s_te = raw_scores(fitted.booster, x[te])
    p_te = softmax(s_te, fitted.temperature)
    rf = fit_random_forest(x, y, np.concatenate([tr, va]), len(class_names), cfg)
    test = scored(y[te], p_te, class_names, cfg.threshold)
    metrics: dict = {"cv": cv} if cv else {}
    metrics.update(
        test=test, accuracy=test["accuracy"], macro_f1=test["macro_f1"], ece=test["ece"],
        ece_uncalibrated=expected_calibration_error(y[te], softmax(s_te)),
        validation_ece_before=fitted.ece_before, validation_ece_after=fitted.ece_after,
        baseline_rf_test=multiclass_metrics(y[te], rf.predict(x[te]), class_names),
        best_iteration=fitted.booster.best_iteration,
        split="stratified 60/20/20 by source (the networks' split); headline on the test 20 %",
    )  # fmt: skip
    if cv:
        for key in ("accuracy", "macro_f1"):
            metrics[f"cv_{key}_mean"] = cv[key]["mean"]
            metrics[f"cv_{key}_std"] = cv[key]["std"]
    names = feature_names()
    arch = {"model": MODEL_FORMAT, "n_classes": len(class_names), "features": names,
            "temperature": fitted.temperature, "unknown_threshold": cfg.threshold}  # fmt: skip
    text = fitted.booster.model_to_string(num_iteration=fitted.booster.best_iteration)
    model = VartypeModel(arch)
    model.load_text(text)
    return save_text_artifact(
        model, text, request.out_dir, name=request.name, kind="vartype", version="1.0.0",
        architecture=arch,
        representation={"name": "catalog_features", "band_roles": roles,
                        "module": "vsbatch.models.vartype.source_features",
                        "stages": ["stats", "period", "multiband", "fourier"]},
        class_names=class_names,
        training_data={"source": str(request.data), "fingerprint": data_in.fingerprint,
                       "n_sources": len(y), "class_counts": counts,
                       "n_unusable": data_in.n_unusable, "n_train": len(tr),
                       "n_validation": len(va), "n_test": len(te)},
        command=request.command, metrics=metrics,
        extra={"training_config": asdict(cfg), "label_column": request.label_column,
               "feature_importance_gain": _importances(fitted.booster, names),
               "lightgbm_version": lightgbm().__version__},
    )  # fmt: skip


def train_vartype_request(request: TrainRequest) -> Artifact:
    """``vsbatch train vartype`` (``TRAINING["vartype"].train``)."""
    return train_vartype(request, config_from_request(request))


# --- evaluation ----------------------------------------------------------------------------


def _baseline(
    x: np.ndarray,
    y: np.ndarray,
    test: np.ndarray | None,
    class_names: list[str],
    cfg: VartypeConfig,
) -> tuple[np.ndarray, str]:
    """RF probabilities of the scored rows: fitted on the non-test rows (split=test), else
    out of fold (5-fold on the evaluation data itself)."""
    if test is not None:
        rf = fit_random_forest(x, y, np.flatnonzero(~test), len(class_names), cfg)
        return rf.predict(x[test]), "fitted on the rows outside the test split"
    fold = stratified_folds(y, 5, cfg.seed)
    proba = np.zeros((len(y), len(class_names)))
    for f in range(5):
        rf = fit_random_forest(x, y, np.flatnonzero(fold != f), len(class_names), cfg)
        proba[fold == f] = rf.predict(x[fold == f])
    return proba, "out of fold: stratified 5-fold on the evaluation data"


def evaluate_vartype(artifact: Artifact, request: EvaluateRequest) -> Evaluation:
    """``vsbatch evaluate`` of vartype: the model's metrics, ECE and confusion matrix beside
    the RF baseline on the same features and rows; ``--set split=test`` scores the card's
    test split only (the training catalog's test 20 %)."""
    unknown = set(request.params) - {"split"}
    if unknown:
        raise UsageError(f"unknown vartype evaluation settings {sorted(unknown)}; known: split")
    split = request.params.get("split", "all")
    if split not in ("all", "test"):
        raise UsageError(f"split must be all or test, got {split!r}")
    card = artifact.card
    c = card["training_config"]
    cfg = VartypeConfig(**{**c, "classes": tuple(c["classes"])})
    data_in = load_features(request.data, card["representation"]["band_roles"],
                            request.label_column, cfg.label_map)  # fmt: skip
    class_names = list(card["class_names"])
    rows, y, _ = _labelled(data_in, cfg, class_names)
    x = data_in.x[rows]
    test = stratified_split(y, SPLIT, cfg.seed) == 2 if split == "test" else None
    scored_rows = np.flatnonzero(test) if test is not None else np.arange(len(y))
    proba = artifact.model.predict_proba(x[scored_rows])
    rf_proba, rf_how = _baseline(x, y, test, class_names, cfg)
    ys = y[scored_rows]
    report = scored(ys, proba, class_names, cfg.threshold)
    report["per_class_recall"] = {k: v["recall"] for k, v in report["per_class"].items()}
    report["baseline_rf"] = {**multiclass_metrics(ys, rf_proba, class_names), "fitted": rf_how}
    report.update(
        model=artifact.version_tag, data=str(request.data), split=split,
        beats_baseline=report["accuracy"] > report["baseline_rf"]["accuracy"]
        and report["macro_f1"] > report["baseline_rf"]["macro_f1"],
        unknown_labels=int(len(data_in.labels) - len(rows)),
        unusable_sources=data_in.n_unusable,
        same_data_as_training=data_in.fingerprint == card["training_data"]["fingerprint"],
    )  # fmt: skip
    return _write_evaluation(artifact, request, report, data_in, rows[scored_rows], proba)


def _write_evaluation(
    artifact: Artifact,
    request: EvaluateRequest,
    report: dict,
    data_in: LabelledFeatures,
    rows: np.ndarray,
    proba: np.ndarray,
) -> Evaluation:
    """``evaluation.json``, ``confusion.png`` and ``predictions.parquet`` (the run's columns)."""
    out = Path(request.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(report, out / "evaluation.json")
    png = plot_confusion(
        report, out / "confusion.png", f"{artifact.name} on {Path(request.data).name}"
    )
    cols = labelled_columns(column_prefix(artifact.name), list(artifact.card["class_names"]),
                            proba, np.ones(len(rows), bool), report["threshold"])  # fmt: skip
    table = pa.table({"source_id": data_in.source_id[rows].tolist(),
                      "label": data_in.labels[rows].tolist(),
                      **{k: pa.array(v.tolist()) for k, v in cols.items()}})  # fmt: skip
    write_parquet_atomic(table, out / "predictions.parquet")
    return Evaluation(report, (out / "evaluation.json", png, out / "predictions.parquet"))
