"""Model inference on a partition: the representation each model needs, built from the
partition's clean light curves, then batched inference (GPU when the worker has one).

Runs after the feature stages (models may fold on their ``fold_period``) as its own task, so
that on a cluster with GPU workers only inference occupies them. Each kind's inference
function is named in :data:`vsbatch.models.kinds.KINDS`; the columns it writes are declared in
``schemas/models.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsbatch.kernels.status import KernelStatus
from vsbatch.models.kinds import model_kind
from vsbatch.schema import column_prefix
from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fold_period

if TYPE_CHECKING:
    from vsbatch.models.artifacts import Artifact


@dataclass(frozen=True)
class ModelRef:
    """A model a run uses, as its plan and manifest record it."""

    name: str
    kind: str
    path: str
    sha256: str
    version: str
    class_names: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return column_prefix(self.name)


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
                tuple(card.get("class_names", ())),
            )
        )
    return refs


@lru_cache(maxsize=8)
def _loaded(path: str, sha256: str) -> Artifact:
    """The artifact, loaded once per worker process and checked against the planned sha256."""
    from vsbatch.models.artifacts import load_artifact

    artifact = load_artifact(path, device="cpu")
    if artifact.card["weights_sha256"] != sha256:
        raise RuntimeError(f"{path}: model changed since the run was planned (sha256 differs)")
    return artifact


def version_tags(ctx: StageContext, ref: ModelRef) -> np.ndarray:
    """The ``<name>_version`` column: name, version and weights sha256 prefix on every row."""
    return np.full(ctx.lcs.n_segments, f"{ref.name} {ref.version} ({ref.sha256[:12]})", object)


def nnfap_columns(ctx: StageContext, ref: ModelRef, artifact: Artifact) -> dict[str, np.ndarray]:
    """NN-FAP of every light curve folded at the run's ``fold_period``."""
    from vsbatch.models.nnfap import predict_nnfap

    period, _ = fold_period(ctx)
    with np.errstate(divide="ignore", invalid="ignore"):
        frequency = 1.0 / period
    pred = predict_nnfap(
        artifact, ctx.lcs, frequency, batch_size=ctx.config.model_batch_size, device="auto"
    )
    ctx.fail_status(pred.status, f"model:{ref.name}")
    scored = pred.status == KernelStatus.OK
    return {
        f"{ref.prefix}_fap": pred.fap,
        f"{ref.prefix}_p_periodic": pred.p_periodic,
        f"{ref.prefix}_few_cycles": np.where(scored, pred.few_cycles, None).astype(object),
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }


def model_stage(ctx: StageContext, ref: ModelRef) -> dict[str, np.ndarray]:
    """The catalog columns of one model for a partition (the kind's inference function)."""
    try:
        infer = model_kind(ref.kind).part("infer")
    except KeyError as exc:
        raise ValueError(f"{Path(ref.path).name}: vsbatch run cannot use it: {exc}") from exc
    return infer(ctx, ref, _loaded(ref.path, ref.sha256))
