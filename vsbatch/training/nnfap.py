"""Training of the NN-FAP network (Miller et al. 2022 Sect. 2).

As the paper: binary cross-entropy, Adam, 20 % of the data held out for validation, every
training curve shown with 10 random phase shifts, early stopping when the validation loss
changes by less than 1e-5 between epochs. Additions, each recorded in the card: the split is by
light curve (stratified), not by shifted copy, so no curve is on both sides; validation uses
the unshifted fold (what inference sees); training also stops after ``patience`` epochs without
a new best validation loss or at ``epochs``; the weights of the best validation epoch are kept.

Data path: the labelled catalog goes through :func:`vsbatch.pipeline.build_shards` (the same
validation, partitioning and cleaning as ``vsbatch run``); every partition becomes a shard
of representation rows (unshifted and phase-shifted folds). With ``workers > 1`` each Dask
worker trains on its own shards under torch DistributedDataParallel (gloo on CPUs, NCCL on
GPUs); ``ranks`` without ``workers`` computes the same thing in one process.

Reproducible: one ``seed`` drives the split, the phase shifts, the initial weights and the
batch order; torch runs with deterministic algorithms.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch import nn

from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.failures import FailureLog
from vsbatch.kernels.status import KernelStatus
from vsbatch.models.artifacts import Artifact, load_artifact, save_artifact, table_fingerprint
from vsbatch.models.batching import count_parameters, outputs_in_batches, resolve_device
from vsbatch.models.nnfap import NnfapModel
from vsbatch.represent.nnfap import (
    CHANNELS,
    ERR_CUT_K,
    KNN_K,
    MAG_CLIP,
    MIN_POINTS,
    N_POINTS,
    nnfap_input,
)
from vsbatch.stages.clean import clean_partition
from vsbatch.training.evaluate import POSITIVE
from vsbatch.training.loop import FitConfig, fit, rank_process_group
from vsbatch.training.metrics import evaluate_binary
from vsbatch.training.requests import TrainRequest
from vsbatch.training.splits import stratified_split

CLASS_NAMES = ["aperiodic", "periodic"]


@dataclass(frozen=True)
class NnfapTrainingConfig:
    """Everything that decides the trained weights (written to the card)."""

    seed: int = 0
    epochs: int = 30
    batch_size: int = 128
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    learning_rate: float = 1e-3
    val_fraction: float = 0.2
    phase_shifts: int = 10
    min_delta: float = 1e-5
    patience: int = 4
    err_cut: float | str | None = "auto"
    err_cut_k: float = ERR_CUT_K
    min_points: int = MIN_POINTS
    padding: str = "pre"
    fold_column: str = "train_fold_period"
    label_column: str = "label"
    ranks: int = 1
    init: str | None = None  # an NN-FAP artifact (name or folder) to start from: fine-tuning

    @property
    def representation_args(self) -> dict:
        return {"err_cut": self.err_cut, "err_cut_k": self.err_cut_k,
                "min_points": self.min_points, "padding": self.padding}  # fmt: skip


def labels_of(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """1 for periodic, 0 for aperiodic: a boolean/integer column, or periodic/aperiodic text."""
    if pa.types.is_boolean(values.type) or pa.types.is_integer(values.type):
        return values.to_numpy(zero_copy_only=False).astype(np.int8)
    labels = [str(v).lower() for v in values.to_pylist()]
    return np.isin(labels, POSITIVE).astype(np.int8)


def _representation(cfg: NnfapTrainingConfig) -> dict:
    return {
        "name": "nnfap_sequence",
        "module": "vsbatch.represent.nnfap.nnfap_input",
        "channels": list(CHANNELS),
        "n_points": N_POINTS,
        "err_cut": cfg.err_cut,
        "err_cut_k": cfg.err_cut_k,
        "min_points": cfg.min_points,
        "knn_k": KNN_K,
        "padding": cfg.padding,
        "mag_scaling": f"(m - q1) / (q99 - q1) clipped to {list(MAG_CLIP)}",
        "cut": "even stride in time order to n_points",
        "train_phase_shifts": cfg.phase_shifts,
    }


def _partition_seed(seed: int, partition: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def nnfap_shard(epochs: pa.Table, partition: str, cfg: NnfapTrainingConfig) -> pa.Table:
    """Shard rows of one partition: per light curve its unshifted fold (``shift_index`` 0) and
    ``phase_shifts`` shifted folds (1..), with label and representation status.

    The light curves are cleaned as in ``vsbatch run``; the shifts are seeded by the run seed
    and the partition name, so the same catalog and seed give the same shards.
    """
    carried = tuple(dict.fromkeys(c for c in (cfg.fold_column, cfg.label_column, "kind")
                                  if c in epochs.column_names))  # fmt: skip
    clean = clean_partition(epochs, partition, 1, carried, FailureLog(partition))
    keys, lcs = clean.segments, clean.lcs
    freq = 1.0 / keys.column(cfg.fold_column).to_numpy(zero_copy_only=False).astype(float)
    rep = cfg.representation_args
    batches = [nnfap_input(lcs, freq, phase_shifts=0, **rep)]
    if cfg.phase_shifts:
        seed = _partition_seed(cfg.seed, partition)
        batches.append(nnfap_input(lcs, freq, phase_shifts=cfg.phase_shifts, seed=seed, **rep))
    segment = np.concatenate([b.segment for b in batches])
    shifted = np.tile(np.arange(1, cfg.phase_shifts + 1, dtype=np.int16), lcs.n_segments)
    shift_index = np.concatenate(
        [np.zeros(lcs.n_segments, np.int16)] + [shifted] * len(batches[1:])
    )
    x = np.concatenate([b.x for b in batches]).reshape(len(segment), -1)
    take = pa.array(segment)
    columns = {
        "source_id": keys.column("source_id").take(take),
        "band": keys.column("band").take(take),
        "label": pa.array(labels_of(keys.column(cfg.label_column))[segment]),
        "shift_index": pa.array(shift_index),
        "status": pa.array(np.concatenate([b.status for b in batches])),
        "x": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1]),
    }
    if "kind" in carried:
        columns["kind"] = keys.column("kind").take(take)
    return pa.table(columns)


def build_nnfap_shards(
    data: str | Path,
    shard_dir: str | Path,
    cfg: NnfapTrainingConfig,
    run_config: RunConfig | None = None,
    cluster: object = None,
):  # returns a ShardSet; the pipeline is imported lazily (it imports distributed)
    """NN-FAP training shards of a labelled catalog through the ``vsbatch run`` passes."""
    from vsbatch.cluster import ClusterSpec
    from vsbatch.pipeline import build_shards

    return build_shards(
        str(data), shard_dir, functools.partial(nnfap_shard, cfg=cfg), run_config,
        cluster or ClusterSpec(cluster="none"),
    )  # fmt: skip


def _keys(files: list[Path]) -> pa.Table:
    """source_id, band, label, kind of every light curve in the shards (unshifted rows)."""
    cols = ["source_id", "band", "label", "status"]
    tables = []
    for f in files:
        t = pq.read_table(f, columns=cols + (["kind"] if "kind" in pq.read_schema(f).names else []),
                          filters=[("shift_index", "==", 0)])  # fmt: skip
        tables.append(t.append_column("file", pa.array(np.full(t.num_rows, str(f)))))
    return pa.concat_tables(tables, promote_options="default")


def assign_ranks(files: list[Path], world: int) -> list[list[Path]]:
    """Shard files per rank, balanced by rows (largest first to the least-loaded rank)."""
    if len(files) < world:
        raise ValueError(f"{world} ranks need at least {world} shards, got {len(files)}; "
                         "lower partition_epochs")  # fmt: skip
    rows = sorted(((pq.read_metadata(f).num_rows, str(f)) for f in files), reverse=True)
    load, out = [0] * world, [[] for _ in range(world)]
    for n, f in rows:
        r = int(np.argmin(load))
        load[r] += n
        out[r].append(Path(f))
    return [sorted(o) for o in out]


def _rows(
    files: list[Path], keep: Callable[[pa.Table], pa.Array]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Representation and label tensors of the rows of ``files`` that ``keep`` selects."""
    tables = [t.filter(keep(t)) for t in (pq.read_table(f) for f in files)]
    table = pa.concat_tables(tables) if tables else pa.table({})
    if table.num_rows == 0:
        return torch.empty(0, N_POINTS, len(CHANNELS)), torch.empty(0)
    flat = table.column("x").combine_chunks().flatten().to_numpy().astype(np.float32)
    x = torch.from_numpy(flat.reshape(table.num_rows, N_POINTS, len(CHANNELS)))
    y = torch.from_numpy(table.column("label").to_numpy().astype(np.float32))
    return x, y


def _selector(curves: pa.Table, shifted: bool) -> Callable[[pa.Table], pa.Array]:
    """Rows of the given curves: shifted copies (training) or the unshifted fold."""
    ids = pc.binary_join_element_wise(curves.column("source_id").cast(pa.string()),
                                      pc.fill_null(curves.column("band"), ""), "\x1f")  # fmt: skip

    def keep(t: pa.Table) -> pa.Array:
        key = pc.binary_join_element_wise(t.column("source_id").cast(pa.string()),
                                          pc.fill_null(t.column("band"), ""), "\x1f")  # fmt: skip
        which = pc.greater(t.column("shift_index"), 0) if shifted else pc.equal(
            t.column("shift_index"), 0)  # fmt: skip
        ok = pc.equal(t.column("status"), int(KernelStatus.OK))
        return pc.and_(pc.and_(pc.is_in(key, ids), which), ok)

    return keep


class RankFit(NamedTuple):
    """A rank's trained weights and how its training went (rank 0's is the model)."""

    state: dict
    curve: list[dict]
    best_epoch: int
    best_val_loss: float
    stop_reason: str


def _fit_rank(
    rank: int, world: int, init_method: str | None, files: list[Path], train_curves: pa.Table,
    validation: tuple[torch.Tensor, torch.Tensor], cfg: NnfapTrainingConfig, device: str,
    virtual: list[list[Path]] | None, log: Callable[[str], None] | None,
) -> RankFit:  # fmt: skip
    """Train on this rank's shards; what rank 0 returns is the trained model."""
    with rank_process_group(rank, world, init_method, device) as distributed:
        torch.manual_seed(cfg.seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        groups = virtual if virtual is not None else [files]
        shifted = cfg.phase_shifts > 0
        train = [_rows(g, _selector(train_curves, shifted)) for g in groups]
        model = NnfapModel(len(CHANNELS), cfg.hidden, cfg.layers, cfg.dropout)
        if cfg.init:
            model.load_state_dict(load_artifact(cfg.init, device="cpu").model.state_dict())
        result = fit(
            model, train, validation,
            loss_fn=nn.BCEWithLogitsLoss(),
            optimiser=torch.optim.Adam(model.parameters(), lr=cfg.learning_rate),
            config=FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size // max(1, cfg.ranks),
                             seed=cfg.seed, patience=cfg.patience, min_delta=cfg.min_delta),
            device=resolve_device(device), log=log if rank == 0 else None,
            distributed=distributed,
        )  # fmt: skip
    state = {k: v.clone() for k, v in result.model.state_dict().items()}
    return RankFit(state, result.curve, result.best_epoch, result.best_val_loss, result.stop_reason)


def train_nnfap(
    data: str | Path | pa.Table,
    out_dir: str | Path,
    *,
    seed: int = 0,
    epochs: int = 30,
    batch_size: int = 128,
    hidden: int = 64,
    layers: int = 2,
    val_fraction: float = 0.2,
    patience: int = 4,
    min_delta: float = 1e-5,
    learning_rate: float = 1e-3,
    phase_shifts: int = 10,
    label_column: str = "label",
    init: str | None = None,
    device: str = "auto",
    workers: int = 1,
    ranks: int | None = None,
    cluster: object = None,
    run_config: RunConfig | None = None,
    shard_dir: str | Path | None = None,
    name: str = "nnfap",
    version: str = "1.0.0",
    command: str | None = None,
    card_extra: dict | None = None,
    log: Callable[[str], None] | None = print,
    **representation: object,
) -> Artifact:
    """Train NN-FAP on a labelled catalog and save the artifact to ``out_dir``.

    ``data``: a vsbatch input catalog (path) or a long table (source_id, time, mag, mag_err[,
    band]) with, per source, ``label_column`` (periodic/aperiodic, or 1/0) and ``train_fold_period``
    (days), e.g. from :func:`vsbatch.training.injection.make_nnfap_training_set`. Shards are built
    with the run passes (``cluster``: a :class:`~vsbatch.cluster.ClusterSpec`, in-process by
    default; ``run_config`` sets partitioning) into ``shard_dir`` (a temporary folder by default).
    ``workers > 1`` trains data-parallel on that many Dask workers (``cluster`` must provide
    them); ``ranks`` alone splits the shards the same way in one process. ``representation``
    may override ``err_cut``, ``err_cut_k``, ``min_points``, ``padding``. ``init`` starts from
    the weights of an NN-FAP artifact of the same architecture (fine-tuning on a new set).
    """
    world = max(1, int(workers))
    cfg = NnfapTrainingConfig(
        seed=seed, epochs=epochs, batch_size=batch_size, hidden=hidden, layers=layers,
        learning_rate=learning_rate, val_fraction=val_fraction, phase_shifts=phase_shifts,
        min_delta=min_delta, patience=patience, label_column=label_column, init=init,
        ranks=max(world, int(ranks or 1)), **representation,  # type: ignore[arg-type]
    )  # fmt: skip
    if world > 1 and cfg.ranks != world:
        raise ValueError("with workers > 1, ranks must equal workers")
    say = log or (lambda _msg: None)
    dev = resolve_device(device)
    with tempfile.TemporaryDirectory(prefix="vsbatch-nnfap-") as tmp:
        shard_path = Path(shard_dir or Path(tmp) / "shards")
        shards = build_nnfap_shards(_as_path(data, Path(tmp)), shard_path, cfg, run_config, cluster)
        split = _split_curves(list(shards.files), cfg)
        fitted = _train_ranks(split, cfg, world, cluster, str(dev), say)
    model = NnfapModel(len(CHANNELS), cfg.hidden, cfg.layers, cfg.dropout)
    model.load_state_dict(fitted.state)
    model.eval()
    return save_artifact(
        model,
        out_dir,
        name=name,
        kind="nnfap",
        version=version,
        architecture=model.architecture(),
        representation=_representation(cfg),
        class_names=CLASS_NAMES,
        training_data=_training_data(data, split, cfg),
        command=command or " ".join(shlex.quote(a) for a in sys.argv),
        metrics=_validation_metrics(model, split.validation, fitted),
        training_curve=fitted.curve,
        extra={
            **_card_extra(model, cfg, str(dev), world),
            **(card_extra or {}),
            **({"initial_weights": load_artifact(init).version_tag} if init else {}),
        },
    )


def _card_extra(model: NnfapModel, cfg: NnfapTrainingConfig, device: str, world: int) -> dict:
    """The card's notes on the output, the configuration and the hardware it trained on."""
    return {
        "output": "sigmoid(logit) = P(periodic); NN-FAP = 1 - P(periodic) (Miller et al. 2022)",
        "training_config": asdict(cfg),
        "device": device,
        "data_parallel": {"ranks": cfg.ranks, "processes": world},
        "parameters_note": f"{count_parameters(model)} parameters "
        f"({cfg.layers} x GRU({cfg.hidden}) + linear head)",
    }


def _as_path(data: str | Path | pa.Table, tmp: Path) -> str | Path:
    """A path to the training catalog: ``data`` itself, or the table written into ``tmp``."""
    if not isinstance(data, pa.Table):
        return data
    path = tmp / "training.parquet"
    pq.write_table(data, path)
    return path


@dataclass(frozen=True)
class _CurveSplit:
    """The shards' light curves split into training and validation (by curve, stratified)."""

    files: list[Path]
    keys: pa.Table  # source_id, band, label, status[, kind], file of every light curve
    y: np.ndarray  # label per curve
    val: np.ndarray  # bool per curve: in the validation split
    usable: np.ndarray  # bool per curve: representation status OK
    train_curves: pa.Table
    validation: tuple[torch.Tensor, torch.Tensor]  # unshifted folds of the validation curves


def _split_curves(files: list[Path], cfg: NnfapTrainingConfig) -> _CurveSplit:
    """Seeded stratified validation split of the shards' curves and the validation tensors."""
    keys = _keys(files)
    y = keys.column("label").to_numpy()
    val = stratified_split(y, (1 - cfg.val_fraction, cfg.val_fraction), cfg.seed) == 1
    usable = pc.equal(keys.column("status"), int(KernelStatus.OK)).to_numpy(
        zero_copy_only=False)  # fmt: skip
    train_curves, val_curves = keys.filter(pa.array(~val)), keys.filter(pa.array(val))
    validation = _rows(files, _selector(val_curves, shifted=False))
    return _CurveSplit(files, keys, y, val, usable, train_curves, validation)


def _train_ranks(
    split: _CurveSplit, cfg: NnfapTrainingConfig, world: int, cluster: object, device: str,
    say: Callable[[str], None],
) -> RankFit:  # fmt: skip
    """Rank 0's model: trained on ``world`` Dask workers under DDP, or in this process (with
    ``cfg.ranks`` virtual ranks when more than one)."""
    from vsbatch.cluster import ClusterSpec, open_runner

    say(
        f"train_nnfap: {split.train_curves.num_rows} train / {int(split.val.sum())} "
        f"validation curves in {len(split.files)} shards, {int((~split.usable).sum())} "
        f"curves unusable, {cfg.ranks} rank(s) on {world} process(es), device {device}"
    )
    groups = assign_ranks(split.files, cfg.ranks)
    if world > 1:
        spec = cluster or ClusterSpec(workers=world)
        with open_runner(spec) as runner:  # type: ignore[arg-type]
            results = runner.run_ranks(
                _fit_rank_of, world, groups, split.train_curves, split.validation, cfg, device
            )
        return results[0]
    virtual = groups if cfg.ranks > 1 else None
    return _fit_rank(
        0, 1, None, split.files, split.train_curves, split.validation, cfg, device, virtual, say
    )


def _validation_metrics(
    model: NnfapModel, validation: tuple[torch.Tensor, torch.Tensor], fitted: RankFit
) -> dict:
    """The card's metrics: the binary scores of the validation curves and how training ended."""
    x_va, y_va = validation
    logits = outputs_in_batches(model, x_va.numpy(), batch_size=1024, device="cpu")
    metrics = evaluate_binary(y_va.numpy().astype(np.int8), 1.0 / (1.0 + np.exp(-logits)))
    metrics.pop("roc")
    metrics.update(
        split="validation (unshifted folds)",
        best_epoch=fitted.best_epoch,
        val_loss=fitted.best_val_loss,
        stop_reason=fitted.stop_reason,
        train_seconds=round(sum(c["seconds"] for c in fitted.curve), 1),
    )
    return metrics


def _training_data(
    data: str | Path | pa.Table, split: _CurveSplit, cfg: NnfapTrainingConfig
) -> dict:
    """The card's ``training_data``: fingerprint and counts of curves, shards and rows."""
    y, keys = split.y, split.keys
    training_data = {
        "fingerprint": _data_fingerprint(data),
        "n_curves": int(keys.num_rows),
        "n_periodic": int(y.sum()),
        "n_aperiodic": int((y == 0).sum()),
        "n_shards": len(split.files),
        "n_train_rows": int(split.usable[~split.val].sum()) * max(1, cfg.phase_shifts),
        "n_validation_curves": len(split.validation[1]),
    }
    if "kind" in keys.column_names:
        kinds, counts = np.unique(np.array(keys.column("kind").to_pylist(), str),
                                  return_counts=True)  # fmt: skip
        training_data["kinds"] = dict(zip(kinds.tolist(), counts.tolist(), strict=True))
    return training_data


def _fit_rank_of(
    rank: int, world: int, init_method: str, groups: list[list[Path]], train_curves: pa.Table,
    validation: tuple[torch.Tensor, torch.Tensor], cfg: NnfapTrainingConfig, device: str,
) -> RankFit:  # fmt: skip
    """A Dask task: rank ``rank`` of a DDP run trains on its own shard files."""
    torch.set_num_threads(1)
    return _fit_rank(rank, world, init_method, groups[rank], train_curves, validation, cfg,
                     device, None, None)  # fmt: skip


def _data_fingerprint(data: str | Path | pa.Table) -> str:
    if isinstance(data, pa.Table):
        return table_fingerprint(data)
    from vsbatch.io.catalog import sha256_file

    path = Path(data)
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(path) if path.is_dir() else f.name}:{sha256_file(f)}\n".encode())
    return "sha256:" + h.hexdigest()


def train_nnfap_request(request: TrainRequest) -> Artifact:
    """``vsbatch train nnfap``: the request's settings (``--set hidden=...``) to train_nnfap."""
    from vsbatch.cluster import ClusterSpec

    p = request.param
    known = {"hidden", "layers", "learning_rate", "phase_shifts", "patience", "val_fraction",
             "err_cut", "err_cut_k", "min_points", "padding", "partition_epochs",
             "init"}  # fmt: skip
    unknown = set(request.params) - known
    if unknown:
        raise UsageError(f"unknown nnfap settings {sorted(unknown)}; known: {sorted(known)}")
    rep = {
        k: p(k, None, float if k == "err_cut_k" else int if k == "min_points" else str)
        for k in ("err_cut", "err_cut_k", "min_points", "padding")
        if k in request.params
    }
    if "err_cut" in rep and rep["err_cut"] not in ("auto", "none"):
        rep["err_cut"] = float(rep["err_cut"])
    elif rep.get("err_cut") == "none":
        rep["err_cut"] = None
    workers = max(1, request.workers)
    spec = ClusterSpec(cluster=request.cluster, workers=workers if workers > 1 else None)
    run_config = RunConfig(partition_epochs=int(p("partition_epochs", 100_000, int)))
    return train_nnfap(
        request.data, request.out_dir, seed=request.seed,
        epochs=request.epochs or 30, batch_size=request.batch_size or 128,
        hidden=p("hidden", 64, int), layers=p("layers", 2, int),
        learning_rate=p("learning_rate", 1e-3, float), phase_shifts=p("phase_shifts", 10, int),
        patience=p("patience", 4, int), val_fraction=p("val_fraction", 0.2, float),
        label_column=request.label_column, init=p("init", None, str), device=request.device,
        workers=workers,
        cluster=spec, run_config=run_config, name=request.name, command=request.command,
        **rep,
    )  # fmt: skip
