"""Model kinds: the one table that says where each kind's network, inference, training and
evaluation live.

Why a table of dotted names rather than imports: loading one card, or running one kind in a
worker, must not import every other kind's code. Every command dispatches through
:func:`model_kind`, so adding a kind is one entry here plus its modules:

- ``build(architecture: dict) -> nn.Module``: the network, from the card's ``architecture``;
- ``infer(ctx: StageContext, ref: ModelRef, artifact: Artifact) -> dict[str, np.ndarray]``:
  catalog columns (declared in ``schemas/models.json``) for every light curve of a partition;
- ``train(request: TrainRequest) -> Artifact``: ``vsbatch train KIND``;
- ``evaluate(artifact: Artifact, request: EvaluateRequest) -> Evaluation``: ``vsbatch evaluate``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vsbatch.errors import UsageError

if TYPE_CHECKING:
    from vsbatch.models.artifacts import Artifact


@dataclass(frozen=True)
class ModelKind:
    """Dotted ``module:attribute`` names of a kind's parts (imported on first use)."""

    name: str
    build: str
    infer: str
    train: str
    evaluate: str
    summary: str
    resumable: bool = False  # training checkpoints every epoch and continues with --resume

    def part(self, which: str) -> Callable:
        """The callable behind ``build``, ``infer``, ``train`` or ``evaluate``."""
        module, _, attr = getattr(self, which).partition(":")
        obj: object = importlib.import_module(module)
        for piece in attr.split("."):
            obj = getattr(obj, piece)
        return obj  # type: ignore[return-value]


KINDS: dict[str, ModelKind] = {
    "nnfap": ModelKind(
        "nnfap",
        build="vsbatch.models.nnfap:NnfapModel.from_architecture",
        infer="vsbatch.stages.models:nnfap_columns",
        train="vsbatch.training.nnfap:train_nnfap_request",
        evaluate="vsbatch.training.evaluate:evaluate_nnfap_request",
        summary="GRU periodicity verifier, NN-FAP (Miller et al., seeds/003)",
    ),
    "cnn-lstm": ModelKind(
        "cnn-lstm",
        build="vsbatch.models.classifiers:build_classifier",
        infer="vsbatch.stages.classify:classifier_columns",
        train="vsbatch.training.classifiers:train_classifier_request",
        evaluate="vsbatch.training.classifiers:evaluate_classifier_request",
        summary="1D CNN-LSTM type classifier on raw light curves (seeds/001 Table 2, seeds/002)",
    ),
    "dmdt-cnn": ModelKind(
        "dmdt-cnn",
        build="vsbatch.models.classifiers:build_classifier",
        infer="vsbatch.stages.classify:classifier_columns",
        train="vsbatch.training.classifiers:train_classifier_request",
        evaluate="vsbatch.training.classifiers:evaluate_classifier_request",
        summary="2D CNN type classifier on dm-dt images (seeds/001 Table 3, seeds/002 Fig. 3)",
    ),
    "hybrid": ModelKind(
        "hybrid",
        build="vsbatch.models.classifiers:build_classifier",
        infer="vsbatch.stages.classify:classifier_columns",
        train="vsbatch.training.classifiers:train_classifier_request",
        evaluate="vsbatch.training.classifiers:evaluate_classifier_request",
        summary="CNN-LSTM + dm-dt CNN branches, features concatenated (issue 5)",
    ),
    "catalog-cnn-lstm": ModelKind(
        "catalog-cnn-lstm",
        build="vsbatch.models.classifiers:build_classifier",
        infer="vsbatch.stages.classify:catalog_classifier_columns",
        train="vsbatch.training.classifiers:train_classifier_request",
        evaluate="vsbatch.training.classifiers:evaluate_classifier_request",
        summary="CNN-LSTM on the 360-point curve from catalogue parameters (seeds/001 Sect. 2.2.1)",
    ),
    "blazhko": ModelKind(
        "blazhko",
        build="vsbatch.models.blazhko:build_blazhko",
        infer="vsbatch.stages.blazhko:blazhko_columns",
        train="vsbatch.training.blazhko:train_blazhko",
        evaluate="vsbatch.training.blazhko:evaluate_blazhko",
        summary="ResNet-34 Blazhko identification of RRab on phased images (seeds/000)",
        resumable=True,
    ),
}


def model_kind(name: str) -> ModelKind:
    """The registered kind ``name``; a clear error listing the known kinds otherwise."""
    if name not in KINDS:
        raise KeyError(f"unknown model kind {name!r} (known: {', '.join(KINDS)})")
    return KINDS[name]


def train(request: TrainRequest) -> Artifact:
    """``vsbatch train``: the kind's training, after the checks every kind shares."""
    kind = model_kind(request.kind)
    if request.resume and not kind.resumable:
        resumable = ", ".join(k.name for k in KINDS.values() if k.resumable)
        raise UsageError(
            f"--resume: {kind.name} training does not checkpoint (resumable kinds: {resumable})"
        )
    return kind.part("train")(request)


class _Settings:
    """``--set key=value`` settings of a request (its ``params``)."""

    params: dict[str, str]

    def param(self, key: str, default: object, cast: Callable = str) -> object:
        """A ``--set`` value converted with ``cast``, or ``default`` when not given."""
        return cast(self.params[key]) if key in self.params else default


@dataclass(frozen=True)
class TrainRequest(_Settings):
    """What ``vsbatch train KIND`` asks for; kinds read the fields they use.

    ``data`` is a vsbatch input catalog (long or nested Parquet, file or folder) with a
    per-source label column; ``params`` holds kind-specific settings (``--set key=value``);
    ``cluster`` and ``workers`` say where training shards are built and, for kinds that train
    data-parallel, how many Dask worker processes train.
    """

    kind: str
    data: str
    out_dir: Path
    name: str
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    label_column: str = "label"
    folds: int = 0
    params: dict[str, str] = field(default_factory=dict)
    cluster: str = "local"
    workers: int = 1
    command: str = ""
    resume: bool = False  # continue from the checkpoint in ``out_dir`` (resumable kinds)


@dataclass(frozen=True)
class EvaluateRequest(_Settings):
    """What ``vsbatch evaluate MODEL`` asks for."""

    data: str
    out_dir: Path
    label_column: str = "label"
    group_column: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """An evaluation report (also written as JSON) and the files it wrote."""

    report: dict
    files: tuple[Path, ...] = ()
