"""Training and evaluation of the variable-type classifiers: ``cnn-lstm``, ``dmdt-cnn``,
``hybrid`` on light curves and ``catalog-cnn-lstm`` on catalog parameters.

As Carraro 2025 (Table 1) and Bassi et al. 2021 (Sect. 5): Adam with learning rate 2e-4,
softmax cross-entropy, classes weighted by inverse frequency ("weights assigned in accordance
with the numbers of the light curves"), a stratified 60/20/20 train/validation/test split.
Optional, as Carraro's balanced sets: ``cap=N`` keeps at most N sources per class (a seeded sample)
before splitting. ``--folds k`` adds stratified k-fold cross-validation: fold f is the test
set, fold f+1 the validation set, the rest trains (60/20/20 again for k = 5); its mean and
standard deviation go into the card. The shipped weights are those of the 60/20/20 model at
its best validation epoch (:func:`vsbatch.training.loop.fit`).

Labels: ``label_map=CEPII:CEP,T2CEP:CEP`` renames labels before anything else (configuration,
recorded in the card), ``classes=a,b,c`` keeps only those labels. Light-curve training data
come from :func:`vsbatch.pipeline.build_shards` (the partitions and clean light curves of a
run), one shard row per source with its inputs as fixed-size float32 lists.

Settings (``--set key=value``): layout (compact | pooled | exact, see
:mod:`vsbatch.models.classifiers`), dropout (before the dense layers; default: the layout's),
lr, patience, weighting (inverse | none), cap, label_map, classes, cv_epochs, threads, bands
(comma list; default all bands of the data, sorted), length, mag_clip, min_points
(sequences), binning (mahabal | fd), bins (``90x53``), max_pairs, image_normalisation (max |
mahabal; images), n_points, period_channel (catalog curves), time_layouts (batches per
layout to time, 0: off), min_epochs, ranks (data-parallel ranks, see below).

Data parallel, as NN-FAP (:mod:`vsbatch.training.loop`): ``--workers N`` trains every model
(each cross-validation fold and the final one) on N Dask worker processes under
DistributedDataParallel, the training rows dealt to the ranks by class; ``ranks=N`` alone runs
the same N ranks in one process and gives the same weights when there is no dropout (with
dropout, each process draws its own masks).
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch import nn

from vsbatch.cluster import ClusterSpec, Runner, open_runner
from vsbatch.errors import UsageError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import write_json_atomic, write_parquet_atomic
from vsbatch.io.catalog_tables import read_catalog_parameters
from vsbatch.models.artifacts import Artifact, save_artifact, table_fingerprint
from vsbatch.models.batching import count_parameters, resolve_device
from vsbatch.models.classifiers import LAYOUTS, architecture_for, build_classifier
from vsbatch.represent.dmdt_images import DEFAULT_MAX_PAIRS, image_shape
from vsbatch.represent.sequences import (
    CURVE_POINTS,
    DEFAULT_LENGTH,
    DEFAULT_MAG_CLIP,
    DEFAULT_MIN_POINTS,
    SEQUENCE_CHANNELS,
)
from vsbatch.schema import column_prefix
from vsbatch.stages.classify import (
    CATALOG_KIND,
    class_columns,
    curve_inputs,
    predict_proba,
    source_inputs,
)
from vsbatch.stages.clean import clean_partition
from vsbatch.training.loop import (
    FitConfig,
    FitResult,
    Inputs,
    fit,
    predict,
    rank_process_group,
)
from vsbatch.training.multiclass import multiclass_metrics, plot_confusion, summarise_folds
from vsbatch.training.requests import EvaluateRequest, Evaluation, TrainRequest
from vsbatch.training.splits import stratified_folds, stratified_split

KIND_MODELS = {
    "cnn-lstm": "CnnLstm",
    "dmdt-cnn": "DmdtCnn",
    "hybrid": "Hybrid",
    CATALOG_KIND: "CnnLstm",
}
SPLIT = (0.6, 0.2, 0.2)
INPUT_COLUMNS = ("x0", "x1")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything besides the data that decides a classifier's weights (written to the card)."""

    kind: str
    seed: int = 0
    epochs: int = 30
    cv_epochs: int | None = None  # epochs of each cross-validation fold (default: epochs)
    folds: int = 0
    batch_size: int = 64
    learning_rate: float = 2e-4
    patience: int = 5
    layout: str = "compact"
    dropout: float | None = None  # None: the layout's
    weighting: str = "inverse"
    cap: int = 0
    label_map: dict[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    bands: tuple[str, ...] = ()
    length: int = DEFAULT_LENGTH
    mag_clip: float = DEFAULT_MAG_CLIP
    min_points: int = DEFAULT_MIN_POINTS
    binning: str = "mahabal"
    bins: tuple[int, int] = (90, 53)
    max_pairs: int = DEFAULT_MAX_PAIRS
    image_normalisation: str = "max"
    n_points: int = CURVE_POINTS
    period_channel: bool = True
    min_epochs: int = 5
    threads: int | None = None
    time_layouts: int = 0
    ranks: int = 1  # data-parallel ranks (Dask worker processes with --workers, else virtual)


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split(":", 1) for item in text.split(",") if item)


def _flag(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")


_SETTINGS = {
    "lr": ("learning_rate", float),
    "patience": ("patience", int),
    "layout": ("layout", str),
    "dropout": ("dropout", float),
    "weighting": ("weighting", str),
    "cap": ("cap", int),
    "label_map": ("label_map", _pairs),
    "classes": ("classes", lambda s: tuple(s.split(","))),
    "bands": ("bands", lambda s: tuple(s.split(","))),
    "cv_epochs": ("cv_epochs", int),
    "threads": ("threads", int),
    "length": ("length", int),
    "mag_clip": ("mag_clip", float),
    "min_points": ("min_points", int),
    "binning": ("binning", str),
    "bins": ("bins", lambda s: tuple(int(v) for v in s.lower().split("x"))),
    "max_pairs": ("max_pairs", int),
    "image_normalisation": ("image_normalisation", str),
    "n_points": ("n_points", int),
    "period_channel": ("period_channel", _flag),
    "time_layouts": ("time_layouts", int),
    "min_epochs": ("min_epochs", int),
    "ranks": ("ranks", int),
}


def config_from_request(request: TrainRequest) -> ClassifierConfig:
    """The training configuration of ``vsbatch train`` (flags plus ``--set`` settings)."""
    values: dict = {"kind": request.kind, "seed": request.seed, "folds": request.folds}
    if request.epochs:
        values["epochs"] = request.epochs
    if request.batch_size:
        values["batch_size"] = request.batch_size
    values.update(request.settings(request.kind, _SETTINGS))
    cfg = ClassifierConfig(**values)
    if cfg.folds and cfg.folds < 3:
        raise UsageError("--folds needs at least 3 (test, validation and training folds)")
    if cfg.ranks < 1:
        raise UsageError("ranks must be at least 1")
    if cfg.layout not in LAYOUTS or cfg.weighting not in ("inverse", "none"):
        raise UsageError(f"layout must be one of {sorted(LAYOUTS)}, weighting inverse|none")
    return cfg


# --- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledInputs:
    """Model inputs and labels of every usable source, sorted by source_id."""

    x: tuple[np.ndarray, ...]
    labels: np.ndarray  # str, after the label map
    source_id: np.ndarray
    fingerprint: str
    n_unusable: int


def representation_for(cfg: ClassifierConfig) -> dict:
    """The card's ``representation``: what :func:`vsbatch.stages.classify.source_inputs` (or
    the catalog curve) builds, with every parameter."""
    if cfg.kind == CATALOG_KIND:
        return {
            "name": "reconstructed_curve",
            "module": "vsbatch.represent.sequences.reconstructed_curves",
            "n_points": cfg.n_points,
            "period_channel": cfg.period_channel,
            "channels": ["m - M (mag)", "log10 period (d)"][: 1 + cfg.period_channel],
            "inputs": ["period", "amplitude", "r21", "phi21", "r31", "phi31"],
        }
    model = KIND_MODELS[cfg.kind]
    rep: dict = {
        "name": "classifier_inputs",
        "module": "vsbatch.stages.classify.source_inputs",
        "bands": list(cfg.bands),
        "sequence": None,
        "image": None,
    }
    if model in ("CnnLstm", "Hybrid"):
        rep["sequence"] = {
            "length": cfg.length,
            "mag_clip": cfg.mag_clip,
            "min_points": cfg.min_points,
            "channels": list(SEQUENCE_CHANNELS),
            "padding": "zeros at the end (Bassi et al.)",
        }
    if model in ("DmdtCnn", "Hybrid"):
        rep["image"] = {
            "binning": cfg.binning,
            "bins": list(image_shape(cfg.binning, cfg.bins)),
            "max_pairs": cfg.max_pairs,
            "normalisation": cfg.image_normalisation,
        }
    return rep


def classifier_shard(
    table: pa.Table, partition: str, representation: dict, label_column: str, min_epochs: int
) -> pa.Table:
    """Shard rows of one partition (``build_shards``' ``make_shard``): per usable source its
    id, label and inputs (``x0``, ``x1`` as fixed-size float32 lists, row-major)."""
    clean = clean_partition(table, partition, min_epochs, (label_column,), FailureLog(partition))
    seg = clean.segments
    codes = pc.dictionary_encode(seg.column("source_id")).combine_chunks()
    sidx = codes.indices.to_numpy().astype(np.int64)
    band = seg.column("band").to_numpy(zero_copy_only=False)
    inputs = source_inputs(clean.lcs, band, sidx, representation)
    first = np.unique(sidx, return_index=True)[1]
    ok = inputs.ok[sidx[first]]
    cols = {
        "source_id": pc.cast(seg.column("source_id").take(first[ok]), pa.string()),
        "label": pc.cast(seg.column(label_column).take(first[ok]), pa.string()),
    }
    for name, x in zip(INPUT_COLUMNS, inputs.x, strict=False):
        rows = x[ok].reshape(int(ok.sum()), -1)
        flat = pa.array(rows.reshape(-1), pa.float32())
        cols[name] = pa.FixedSizeListArray.from_arrays(flat, rows.shape[1])
    return pa.table(cols)


def _bands_of(data: str) -> tuple[str, ...]:
    try:
        bands = pq.ParquetDataset(data).read(columns=["band"]).column("band")
    except (OSError, KeyError, pa.ArrowInvalid) as exc:
        raise UsageError(f"{data}: cannot list its bands ({exc}); give --set bands=A,B") from exc
    return tuple(sorted(str(b) for b in pc.unique(bands).to_pylist() if b is not None))


def load_light_curve_inputs(
    data: str,
    cfg: ClassifierConfig,
    representation: dict,
    label_column: str,
    cluster: ClusterSpec | None = None,
) -> LabelledInputs:
    """Inputs of every labelled source of a light-curve catalog, via training shards built on
    ``cluster`` (a local Dask cluster by default)."""
    from vsbatch.config import RunConfig
    from vsbatch.pipeline import build_shards

    make = functools.partial(
        classifier_shard,
        representation=representation,
        label_column=label_column,
        min_epochs=cfg.min_epochs,
    )
    with tempfile.TemporaryDirectory(prefix="vsbatch-shards-") as tmp:
        shards = build_shards(
            data,
            Path(tmp) / "shards",
            make,
            RunConfig(min_epochs=cfg.min_epochs),
            cluster or ClusterSpec(),
        )
        table = pa.concat_tables([pq.read_table(f) for f in shards.files])
        n_sources = shards.sources
    table = table.sort_by("source_id")
    shapes = _input_shapes(representation)
    x = tuple(
        table.column(name).combine_chunks().flatten().to_numpy().reshape(-1, *shape)
        for name, shape in zip(INPUT_COLUMNS, shapes, strict=False)
    )
    labels = _map_labels(table.column("label").to_pylist(), cfg.label_map)
    return LabelledInputs(
        x,
        labels,
        np.array(table.column("source_id").to_pylist()),
        table_fingerprint(table),
        n_sources - table.num_rows,
    )


def _input_shapes(rep: dict) -> list[tuple[int, ...]]:
    n_bands, shapes = len(rep["bands"]), []
    if rep.get("sequence"):
        shapes.append((rep["sequence"]["length"], n_bands * len(SEQUENCE_CHANNELS)))
    if rep.get("image"):
        shapes.append((n_bands, *rep["image"]["bins"]))
    return shapes


def load_catalog_inputs(
    data: str, cfg: ClassifierConfig, representation: dict, label_column: str
) -> LabelledInputs:
    """Reconstructed curves of the labelled catalog rows with a period and an amplitude,
    after the label map, ``classes`` and ``cap`` (a 400,000-row catalog is capped before
    any curve is built)."""
    table = read_catalog_parameters(data)
    if label_column not in table.column_names:
        raise UsageError(f"{data}: no label column {label_column!r}")
    table = table.sort_by("source_id")
    period = table.column("period").to_numpy(zero_copy_only=False).astype(float)
    amplitude = table.column("amplitude").to_numpy(zero_copy_only=False).astype(float)
    usable = np.isfinite(period) & (period > 0) & np.isfinite(amplitude) & (amplitude >= 0)
    table = table.filter(pa.array(usable))
    labels = _map_labels(table.column(label_column).to_pylist(), cfg.label_map)
    rows = select_rows(labels, cfg)
    table = table.take(pa.array(rows))
    params = {
        k: table.column(k).to_numpy(zero_copy_only=False).astype(float)
        for k in ("period", "amplitude", "r21", "phi21", "r31", "phi31")
        if k in table.column_names
    }
    curves = curve_inputs(params, representation)
    return LabelledInputs(
        (curves.x,),
        labels[rows],
        np.array(table.column("source_id").to_pylist()),
        table_fingerprint(table),
        int((~usable).sum()),
    )


def _map_labels(labels: list, label_map: dict[str, str]) -> np.ndarray:
    return np.array([label_map.get(str(v), str(v)) for v in labels], dtype=object)


def select_rows(labels: np.ndarray, cfg: ClassifierConfig) -> np.ndarray:
    """Rows kept for training: labels in ``classes`` (all when empty), at most ``cap`` per
    class (a seeded sample; 0: no cap), in their original order."""
    keep = np.isin(labels, cfg.classes) if cfg.classes else np.ones(len(labels), bool)
    idx = np.flatnonzero(keep)
    if cfg.cap > 0:
        rng = np.random.default_rng(cfg.seed)
        parts = [rng.permutation(idx[labels[idx] == c])[: cfg.cap] for c in np.unique(labels[idx])]
        idx = np.sort(np.concatenate(parts))
    return idx


# --- training ------------------------------------------------------------------------------


def class_weights(y: np.ndarray, n_classes: int, weighting: str) -> np.ndarray:
    """Inverse-frequency weights ``n / (k n_c)`` (1 for a balanced set), or all ones."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    if weighting == "none":
        return np.ones(n_classes)
    return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)


def _tensors(x: tuple[np.ndarray, ...], idx: np.ndarray) -> Inputs:
    parts = tuple(torch.from_numpy(np.ascontiguousarray(a[idx])) for a in x)
    return parts if len(parts) > 1 else parts[0]


def rank_rows(train_idx: np.ndarray, y: np.ndarray, ranks: int) -> list[np.ndarray]:
    """The training rows of each data-parallel rank, dealt in class order so that every rank
    holds nearly the same number of each class; a single rank keeps ``train_idx``."""
    if ranks == 1:
        return [train_idx]
    order = train_idx[np.argsort(y[train_idx], kind="stable")]
    return [np.sort(order[r::ranks]) for r in range(ranks)]


def class_weighted_loss(
    weights: torch.Tensor, device: torch.device, distributed: tuple[int, int] | None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Class-weighted cross-entropy, the batch's weighted mean sum(w l) / sum(w) (PyTorch's).

    Why the distributed form: under DDP each rank holds part of the batch and DDP averages the
    ranks' gradients, so a rank's own weighted mean would weigh the ranks equally whatever
    their weights. Each rank divides instead by the mean of the ranks' weight sums (one
    all-reduce per call, which every rank makes at the same point of ``fit``); the average is
    then the gradient of the whole batch's weighted mean, as in one process.
    """
    w = weights.to(device)
    if distributed is None:
        ce = nn.CrossEntropyLoss(weight=w)
        return lambda out, target: ce(out.to(device), target.to(device))
    import torch.distributed as dist

    world = distributed[1]

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.to(device)
        wt = w[target]
        total = wt.sum().detach().clone()
        dist.all_reduce(total)
        per_row = nn.functional.cross_entropy(out.to(device), target, reduction="none")
        return (wt * per_row).sum() * world / total

    return loss


def train_once(
    x: tuple[np.ndarray, ...],
    y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    architecture: dict,
    cfg: ClassifierConfig,
    epochs: int,
    device: torch.device,
    log: Callable[[str], None] | None = print,
    runner: Runner | None = None,
) -> FitResult:
    """One seeded model trained by the shared loop on ``train_idx``, best epoch on ``val_idx``.

    With ``cfg.ranks > 1`` the rows are dealt to the ranks (:func:`rank_rows`), each taking
    ``batch_size / ranks`` rows per step: on ``runner``'s Dask workers, one process per rank
    under DDP (:meth:`~vsbatch.cluster.Runner.run_ranks`), else as virtual ranks of this
    process (the same weights, without dropout). Class weights are those of all of
    ``train_idx``.
    """
    n_classes = architecture["n_classes"]
    weights = torch.tensor(
        class_weights(y[train_idx], n_classes, cfg.weighting), dtype=torch.float32
    )
    train = [
        (_tensors(x, idx), torch.from_numpy(y[idx])) for idx in rank_rows(train_idx, y, cfg.ranks)
    ]
    validation = (_tensors(x, val_idx), torch.from_numpy(y[val_idx]))
    args = (validation, weights, architecture, cfg, epochs, str(device))
    if runner is not None and cfg.ranks > 1:
        return runner.run_ranks(_fit_rank_task, cfg.ranks, train, *args)[0]
    return _fit_ranks(0, 1, None, train, *args, log=log)


def _fit_ranks(
    rank: int,
    world: int,
    init_method: str | None,
    train: list[tuple[Inputs, torch.Tensor]],
    validation: tuple[Inputs, torch.Tensor],
    weights: torch.Tensor,
    architecture: dict,
    cfg: ClassifierConfig,
    epochs: int,
    device: str,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train on ``train`` (one element per rank this process holds) as rank ``rank`` of a
    ``world``-process group (``world`` 1: no group, the ranks of ``train`` are virtual)."""
    dev = torch.device(device)
    with rank_process_group(rank, world, init_method, device) as distributed:
        torch.manual_seed(cfg.seed)
        model = build_classifier(architecture)
        return fit(
            model,
            train,
            validation,
            loss_fn=class_weighted_loss(weights, dev, distributed),
            optimiser=torch.optim.Adam(model.parameters(), lr=cfg.learning_rate),
            config=FitConfig(
                epochs=epochs,
                batch_size=max(1, cfg.batch_size // cfg.ranks),
                seed=cfg.seed,
                patience=cfg.patience,
            ),
            device=dev,
            log=log,
            distributed=distributed,
        )


def _fit_rank_task(
    rank: int,
    world: int,
    init_method: str,
    train: list[tuple[Inputs, torch.Tensor]],
    *args: object,
) -> FitResult:
    """A Dask task: rank ``rank`` of a data-parallel training, on its own rows (one thread and
    deterministic algorithms, as NN-FAP's ranks)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return _fit_ranks(rank, world, init_method, [train[rank]], *args)


def _probabilities(model: nn.Module, x: tuple[np.ndarray, ...], idx: np.ndarray) -> np.ndarray:
    logits = predict(model, _tensors(x, idx), batch_size=1024).double()
    return torch.softmax(logits, dim=1).numpy()


def measure_layouts(
    x: tuple[np.ndarray, ...],
    y: np.ndarray,
    cfg: ClassifierConfig,
    architectures: dict[str, dict],
    batches: int,
) -> dict:
    """Seconds per training step (forward + backward + Adam) of each layout on real inputs,
    the median of ``batches`` steps after one warm-up, and its parameter count."""
    out = {}
    idx = np.arange(min(cfg.batch_size, len(y)))
    xb, yb = _tensors(x, idx), torch.from_numpy(y[idx])
    for layout, arch in architectures.items():
        torch.manual_seed(cfg.seed)
        model = build_classifier(arch)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
        times = []
        for _ in range(batches + 1):
            t0 = time.perf_counter()
            opt.zero_grad()
            out_b = model(*xb) if isinstance(xb, tuple) else model(xb)
            nn.functional.cross_entropy(out_b, yb).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        step = float(np.median(times[1:]))
        out[layout] = {
            "parameters": count_parameters(model),
            "batch_size": len(idx),
            "seconds_per_step": round(step, 4),
            "seconds_per_epoch_estimate": round(
                step * int(np.ceil(SPLIT[0] * len(y) / len(idx))), 1
            ),
        }
    return out


def cross_validate(
    x: tuple[np.ndarray, ...],
    y: np.ndarray,
    architecture: dict,
    cfg: ClassifierConfig,
    class_names: list[str],
    device: torch.device,
    say: Callable[[str], None],
    runner: Runner | None = None,
) -> dict:
    """Stratified ``cfg.folds``-fold cross-validation: fold f tests, fold f+1 validates (best
    epoch), the rest trains; per-fold metrics, their mean and standard deviation, and the mean
    normalised confusion matrix (the card's ``metrics.cv``)."""
    fold = stratified_folds(y, cfg.folds, cfg.seed)
    per_fold = []
    for f in range(cfg.folds):
        test, val = fold == f, fold == (f + 1) % cfg.folds
        res = train_once(
            x,
            y,
            np.flatnonzero(~test & ~val),
            np.flatnonzero(val),
            architecture,
            cfg,
            cfg.cv_epochs or cfg.epochs,
            device,
            log=None,
            runner=runner,
        )
        m = multiclass_metrics(
            y[test], _probabilities(res.model, x, np.flatnonzero(test)), class_names
        )
        m.update(best_epoch=res.best_epoch, seconds=res.seconds)
        per_fold.append(m)
        say(
            f"fold {f + 1}/{cfg.folds}: accuracy {m['accuracy']:.4f}  macro F1 "
            f"{m['macro_f1']:.4f}  best epoch {res.best_epoch}  {res.seconds:.0f} s"
        )
    out = summarise_folds(per_fold)
    out["protocol"] = (
        f"stratified {cfg.folds}-fold, seed {cfg.seed}: fold f tests, fold f+1 validates "
        f"(best epoch), the rest trains; {cfg.cv_epochs or cfg.epochs} epochs max, "
        f"patience {cfg.patience}"
    )
    out["confusion_normalised_mean"] = (
        np.mean([m["confusion_normalised"] for m in per_fold], axis=0).round(4).tolist()
    )
    return out


def train_classifier(
    data: str,
    out_dir: str | Path,
    cfg: ClassifierConfig,
    *,
    name: str | None = None,
    label_column: str = "label",
    device: str = "auto",
    cluster: str = "local",
    workers: int = 1,
    command: str = "",
    version: str = "1.0.0",
    log: Callable[[str], None] | None = print,
) -> Artifact:
    """Train a classifier of ``cfg.kind`` on a labelled catalog and save its artifact.

    ``cluster`` builds the light-curve training shards; ``workers > 1`` trains data-parallel
    on that many of its Dask worker processes (``cfg.ranks`` is then ``workers``).
    """
    say = log or (lambda _m: None)
    world = max(1, int(workers))
    cfg, spec = _run_settings(data, cfg, cluster, world)
    dev = resolve_device(device)
    rep = representation_for(cfg)
    t0 = time.perf_counter()
    data_in = _load_inputs(data, cfg, rep, label_column, spec)
    load_seconds = time.perf_counter() - t0
    tset = _training_set(data, data_in, cfg)
    say(
        f"{cfg.kind}: {len(tset.y)} sources {tset.counts}, {data_in.n_unusable} unusable, inputs "
        f"{[a.shape[1:] for a in tset.x]}, {load_seconds:.1f} s to build, device {dev}, "
        f"{cfg.ranks} rank(s) on {world} process(es)"
    )
    archs = _architectures(cfg, tset.x, len(tset.class_names))
    arch = archs[cfg.layout]
    fitted = _fit_with_cv(tset, arch, cfg, dev, say, spec if world > 1 else None)
    metrics = _card_metrics(tset, fitted)
    extra = _card_extra(cfg, label_column, dev, world, load_seconds, fitted, archs)
    if cfg.time_layouts:
        extra["layout_timing"] = measure_layouts(tset.x, tset.y, cfg, archs, cfg.time_layouts)
    return save_artifact(
        fitted.result.model,
        out_dir,
        name=name or cfg.kind,
        kind=cfg.kind,
        version=version,
        architecture=arch,
        representation=rep,
        class_names=tset.class_names,
        training_data={
            "source": str(data),
            "fingerprint": data_in.fingerprint,
            "n_sources": len(tset.y),
            "class_counts": tset.counts,
            "n_unusable": data_in.n_unusable,
            "n_train": len(fitted.train),
            "n_validation": len(fitted.validation),
            "n_test": len(fitted.test),
        },
        command=command,
        metrics=metrics,
        training_curve=fitted.result.curve,
        extra=extra,
    )


def _run_settings(
    data: str, cfg: ClassifierConfig, cluster: str, world: int
) -> tuple[ClassifierConfig, ClusterSpec]:
    """The configuration as trained (ranks from the workers, bands from the data when not
    given) and the cluster; sets torch's threads and deterministic algorithms."""
    if world > 1 and cfg.ranks not in (1, world):
        raise UsageError(f"--workers {world} trains {world} ranks; ranks={cfg.ranks} differs")
    cfg = replace(cfg, ranks=max(world, cfg.ranks))
    spec = ClusterSpec(cluster=cluster, workers=world if world > 1 else None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if cfg.kind != CATALOG_KIND and not cfg.bands:
        cfg = ClassifierConfig(**{**asdict(cfg), "bands": _bands_of(data)})
    return cfg, spec


def _load_inputs(
    data: str, cfg: ClassifierConfig, representation: dict, label_column: str, spec: ClusterSpec
) -> LabelledInputs:
    """Inputs of a catalog-parameters table (``catalog-cnn-lstm``) or of a light-curve catalog
    (the other kinds, shards built on ``spec``)."""
    if cfg.kind == CATALOG_KIND:
        return load_catalog_inputs(data, cfg, representation, label_column)
    return load_light_curve_inputs(data, cfg, representation, label_column, spec)


@dataclass(frozen=True)
class _TrainingSet:
    """The sources a classifier trains on: inputs, class indices and class names."""

    x: tuple[np.ndarray, ...]
    y: np.ndarray  # int64 index into class_names
    class_names: list[str]  # sorted labels
    counts: dict[str, int]  # sources per class


def _training_set(data: str, data_in: LabelledInputs, cfg: ClassifierConfig) -> _TrainingSet:
    """The rows kept by ``classes`` and ``cap``, with at least two classes."""
    rows = select_rows(data_in.labels, cfg)
    labels = data_in.labels[rows]
    class_names = sorted(set(labels))
    if len(class_names) < 2:
        raise UsageError(f"{data}: need at least two classes, got {class_names}")
    return _TrainingSet(
        x=tuple(a[rows] for a in data_in.x),
        y=np.searchsorted(class_names, labels).astype(np.int64),
        class_names=class_names,
        counts={c: int((labels == c).sum()) for c in class_names},
    )


def _architectures(
    cfg: ClassifierConfig, x: tuple[np.ndarray, ...], n_classes: int
) -> dict[str, dict]:
    """The architecture of every layout for these inputs (the card lists their sizes)."""
    model = KIND_MODELS[cfg.kind]
    shapes = dict(
        sequence_channels=x[0].shape[2] if model != "DmdtCnn" else 0,
        image_channels=x[-1].shape[1] if model != "CnnLstm" else 0,
        image_shape=tuple(x[-1].shape[2:]) if model != "CnnLstm" else (0, 0),
    )
    dropout = {} if cfg.dropout is None else {"dropout": cfg.dropout}
    return {lay: architecture_for(model, lay, n_classes, **shapes) | dropout for lay in LAYOUTS}


@dataclass(frozen=True)
class _FittedClassifier:
    """The shipped model (60/20/20 split), its split and the cross-validation behind it."""

    result: FitResult
    train: np.ndarray  # row indices
    validation: np.ndarray
    test: np.ndarray
    cv: dict | None  # the card's ``metrics.cv`` (None without --folds)
    cv_seconds: float


def _fit_with_cv(
    tset: _TrainingSet,
    architecture: dict,
    cfg: ClassifierConfig,
    device: torch.device,
    say: Callable[[str], None],
    workers: ClusterSpec | None,
) -> _FittedClassifier:
    """Cross-validation (with ``cfg.folds``), then the model trained on the seeded 60/20/20
    split; data-parallel on a runner of ``workers`` when given."""
    x, y = tset.x, tset.y
    runs_on = open_runner(workers) if workers is not None else contextlib.nullcontext()
    with runs_on as runner:
        t_cv = time.perf_counter()
        cv = None
        if cfg.folds:
            cv = cross_validate(x, y, architecture, cfg, tset.class_names, device, say, runner)
        cv_seconds = time.perf_counter() - t_cv
        split = stratified_split(y, SPLIT, cfg.seed)
        tr, va, te = (np.flatnonzero(split == k) for k in range(3))
        res = train_once(x, y, tr, va, architecture, cfg, cfg.epochs, device, say, runner)
    return _FittedClassifier(res, tr, va, te, cv, cv_seconds)


def _card_metrics(tset: _TrainingSet, fitted: _FittedClassifier) -> dict:
    """Test and validation metrics of the shipped model, with the cross-validation summary."""
    x, y, names, res = tset.x, tset.y, tset.class_names, fitted.result
    te, va = fitted.test, fitted.validation
    metrics: dict = {} if fitted.cv is None else {"cv": fitted.cv}
    metrics["test"] = multiclass_metrics(y[te], _probabilities(res.model, x, te), names)
    metrics["validation"] = multiclass_metrics(y[va], _probabilities(res.model, x, va), names)
    metrics.update(
        accuracy=metrics["test"]["accuracy"],
        macro_f1=metrics["test"]["macro_f1"],
        best_epoch=res.best_epoch,
        stop_reason=res.stop_reason,
        split="stratified 60/20/20 by source; headline numbers on the test 20 %",
    )
    if fitted.cv is not None:
        metrics.update(
            cv_accuracy_mean=fitted.cv["accuracy"]["mean"],
            cv_accuracy_std=fitted.cv["accuracy"]["std"],
            cv_macro_f1_mean=fitted.cv["macro_f1"]["mean"],
            cv_macro_f1_std=fitted.cv["macro_f1"]["std"],
        )
    return metrics


def _card_extra(
    cfg: ClassifierConfig,
    label_column: str,
    device: torch.device,
    world: int,
    load_seconds: float,
    fitted: _FittedClassifier,
    architectures: dict[str, dict],
) -> dict:
    """The card's configuration, timing, data-parallel layout and size of every layout."""
    res = fitted.result
    return {
        "training_config": asdict(cfg),
        "label_map": cfg.label_map,
        "label_column": label_column,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "timing": {
            "inputs_seconds": round(load_seconds, 1),
            "train_seconds": res.seconds,
            "cv_seconds": round(fitted.cv_seconds, 1),
            "seconds_per_epoch": round(res.seconds / max(len(res.curve), 1), 2),
        },
        "layout": cfg.layout,
        "data_parallel": {"ranks": cfg.ranks, "processes": world},
        "parameters_by_layout": {
            lay: count_parameters(build_classifier(a)) for lay, a in architectures.items()
        },
    }


def train_classifier_request(request: TrainRequest) -> Artifact:
    """``vsbatch train cnn-lstm|dmdt-cnn|hybrid|catalog-cnn-lstm`` (``KINDS[...].train``)."""
    return train_classifier(
        request.data,
        request.out_dir,
        config_from_request(request),
        name=request.name,
        label_column=request.label_column,
        device=request.device,
        cluster=request.cluster,
        workers=request.workers,
        command=request.command,
    )


# --- evaluation ----------------------------------------------------------------------------


def evaluate_classifier(
    artifact: Artifact,
    data: str,
    out_dir: str | Path,
    *,
    label_column: str = "label",
    split: str = "all",
    cluster: str = "local",
) -> Evaluation:
    """Accuracy, per-class and macro precision / recall / F1 and the normalised confusion
    matrix of a classifier on a labelled catalog: ``evaluation.json``, ``confusion.png`` and
    ``predictions.parquet`` (per scored source its id, label and the columns ``vsbatch run``
    would write, so every number can be recomputed or broken down further).

    Labels go through the card's label map; sources whose label is not one of the card's
    classes are counted, not scored. ``split="test"`` scores only the test 20 % of the
    card's seeded 60/20/20 split, which is the training test set when ``data`` is the
    training catalog (the report says whether the data fingerprint matches).
    """
    card = artifact.card
    cfg = ClassifierConfig(
        **{
            **card["training_config"],
            "bands": tuple(card["training_config"]["bands"]),
            "classes": tuple(card["training_config"]["classes"]),
            "bins": tuple(card["training_config"]["bins"]),
        }
    )
    data_in = _load_inputs(
        data, cfg, card["representation"], label_column, ClusterSpec(cluster=cluster)
    )
    class_names = list(card["class_names"])
    rows = select_rows(data_in.labels, cfg)
    if split == "test":
        y_all = np.searchsorted(class_names, data_in.labels[rows])
        rows = rows[stratified_split(y_all, SPLIT, cfg.seed) == 2]
    elif split != "all":
        raise UsageError(f"split must be all or test, got {split!r}")
    known = np.isin(data_in.labels[rows], class_names)
    rows = rows[known]
    y = np.searchsorted(class_names, data_in.labels[rows]).astype(np.int64)
    proba = predict_proba(artifact, tuple(a[rows] for a in data_in.x))
    report = multiclass_metrics(y, proba, class_names)
    report.update(
        model=artifact.version_tag,
        data=str(data),
        split=split,
        unknown_labels=int((~known).sum()),
        unusable_sources=data_in.n_unusable,
        same_data_as_training=data_in.fingerprint == card["training_data"]["fingerprint"],
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "evaluation.json"
    write_json_atomic(report, json_path)
    png = plot_confusion(report, out / "confusion.png", f"{artifact.name} on {Path(data).name}")
    columns = class_columns(column_prefix(artifact.name), class_names, proba, np.ones(len(y), bool))
    predictions = pa.table(
        {
            "source_id": pa.array(data_in.source_id[rows].tolist()),  # the input's id type
            "label": pa.array(data_in.labels[rows].tolist(), pa.string()),
            **{k: pa.array(v.tolist()) for k, v in columns.items()},
        }
    )
    write_parquet_atomic(predictions, out / "predictions.parquet")
    return Evaluation(report, (json_path, png, out / "predictions.parquet"))


def evaluate_classifier_request(artifact: Artifact, request: EvaluateRequest) -> Evaluation:
    """``vsbatch evaluate`` of a classifier; ``--set split=test`` scores the test split only."""
    unknown = set(request.params) - {"split"}
    if unknown:
        raise UsageError(f"unknown classifier evaluation settings {sorted(unknown)}; known: split")
    return evaluate_classifier(
        artifact,
        request.data,
        request.out_dir,
        label_column=request.label_column,
        split=request.params.get("split", "all"),
    )
