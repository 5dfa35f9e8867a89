"""Model kinds: the values a model card's ``kind`` may take, and what each kind is.

The names are declared once, as the keys of ``kinds`` in ``schemas/models.json`` (beside the
catalog columns each kind writes). Each layer maps them to its part of a kind by plain
imports, so a renamed function breaks at import and every link is visible to tools:

- :data:`KINDS` here: a one-line summary and whether training can resume;
- :data:`vsbatch.models.networks.NETWORKS`: the network built from a card's ``architecture``;
- :data:`vsbatch.stages.inference.INFERENCE`: the catalog columns of a partition;
- :data:`vsbatch.training.kinds.TRAINING`: ``vsbatch train`` and ``vsbatch evaluate``.

Adding a kind is an entry in the schema and in each of these four tables (a test checks that
they cover exactly the declared kinds). This module imports no torch: the command line lists
the kinds on every invocation.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsbatch.errors import UsageError


@dataclass(frozen=True)
class ModelKind:
    """What a kind is, as ``vsbatch train`` and the command-line help need to know it."""

    summary: str
    resumable: bool = False  # training checkpoints every epoch and continues with --resume


KINDS: dict[str, ModelKind] = {
    "nnfap": ModelKind("GRU periodicity verifier, NN-FAP (Miller et al.)"),
    "cnn-lstm": ModelKind("1D CNN-LSTM type classifier on raw light curves (Bassi et al.)"),
    "dmdt-cnn": ModelKind("2D CNN type classifier on dm-dt images (Bassi et al.)"),
    "hybrid": ModelKind("CNN-LSTM and dm-dt CNN branches, features concatenated"),
    "catalog-cnn-lstm": ModelKind(
        "CNN-LSTM on the 360-point curve rebuilt from catalog Fourier parameters"
    ),
    "vartype": ModelKind(
        "LightGBM type classifier on catalog columns by band role, calibrated"
    ),
    "blazhko": ModelKind(
        "ResNet-34 Blazhko identification of RRab on phased images (Jiang et al. 2025)",
        resumable=True,
    ),
}


def available_kinds() -> list[str]:
    """Names of the model kinds."""
    return list(KINDS)


def model_kind(name: str) -> ModelKind:
    """The kind ``name``; a UsageError listing the known kinds otherwise."""
    if name not in KINDS:
        raise UsageError(f"unknown model kind {name!r} (known: {', '.join(KINDS)})")
    return KINDS[name]


def resumable_kinds() -> list[str]:
    """Names of the kinds whose training continues from a checkpoint (``--resume``)."""
    return [name for name, kind in KINDS.items() if kind.resumable]
