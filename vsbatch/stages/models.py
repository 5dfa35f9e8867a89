"""Model inference on a partition: the representation each model needs, built from the
partition's clean light curves, then batched inference (GPU when the worker has one).

Runs after the feature stages (it folds on their ``fold_period``) as its own task, so that on a
cluster with GPU workers only inference occupies them. One function per model kind; the
columns each kind writes are declared in ``schemas/models.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fold_period


@dataclass(frozen=True)
class ModelRef:
    """A model a run uses, as its plan and manifest record it."""

    name: str
    kind: str
    path: str
    sha256: str
    version: str

    @property
    def prefix(self) -> str:
        return self.name.replace("-", "_")


def resolve_models(names: tuple[str, ...]) -> list[ModelRef]:
    """Find each model (shipped name or folder) and read its card; no weights are loaded."""
    if not names:
        return []
    from vsbatch.models.artifacts import read_card, resolve_artifact

    refs = []
    for name in names:
        folder = resolve_artifact(name)
        card = read_card(folder)
        refs.append(
            ModelRef(
                card["name"],
                card["kind"],
                str(folder.resolve()),
                card["weights_sha256"],
                str(card["version"]),
            )
        )
    return refs


@lru_cache(maxsize=8)
def _loaded(path: str, sha256: str):  # noqa: ANN202 - an Artifact, cached per worker process
    from vsbatch.models.artifacts import load_artifact

    artifact = load_artifact(path, device="cpu")
    if artifact.card["weights_sha256"] != sha256:
        raise RuntimeError(f"{path}: model changed since the run was planned (sha256 differs)")
    return artifact


def _nnfap(ctx: StageContext, ref: ModelRef) -> dict[str, np.ndarray]:
    from vsbatch.models.nnfap import predict_nnfap

    artifact = _loaded(ref.path, ref.sha256)
    period, _ = fold_period(ctx)
    with np.errstate(divide="ignore", invalid="ignore"):
        frequency = 1.0 / period
    pred = predict_nnfap(
        artifact, ctx.lcs, frequency, batch_size=ctx.config.model_batch_size, device="auto"
    )
    ctx.fail_status(pred.status, f"model:{ref.name}")
    tag = np.full(ctx.lcs.n_segments, f"{ref.name} {ref.version} ({ref.sha256[:12]})", object)
    return {
        f"{ref.prefix}_fap": pred.fap,
        f"{ref.prefix}_p_periodic": pred.p_periodic,
        f"{ref.prefix}_version": tag,
    }


MODEL_KINDS: dict[str, Callable[[StageContext, ModelRef], dict[str, np.ndarray]]] = {
    "nnfap": _nnfap,
}


def model_stage(ctx: StageContext, ref: ModelRef) -> dict[str, np.ndarray]:
    if ref.kind not in MODEL_KINDS:
        raise ValueError(f"{Path(ref.path).name}: vsbatch run cannot use model kind {ref.kind!r}")
    return MODEL_KINDS[ref.kind](ctx, ref)
