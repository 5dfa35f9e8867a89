"""The models of a run: which ones (read from their cards when the run is planned), and each
one's weights loaded once per worker process.

Inference runs after the feature stages (models may fold on their ``fold_period``) as its own
task, so that on a cluster with GPU workers only inference occupies them; each kind's
inference function is in :data:`vsbatch.stages.inference.INFERENCE`, and the columns it
writes are declared in ``schemas/models.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from vsbatch.schema import column_prefix
from vsbatch.stages.context import StageContext

if TYPE_CHECKING:
    from vsbatch.models.loaded import Artifact


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
    """Find and fully check each model (shipped name or folder) before any task: its card,
    every weights file (name, sha256, no pickle, inside its folder) and its architecture.

    Why load here: a model refused on the workers would make every light curve a model
    failure after all the work, with exit 0; here it is one clear error before any.
    """
    if not names:
        return []
    # imported here: the artifact module imports torch, which a run without models never needs
    from vsbatch.models.artifacts import load_artifact, resolve_artifact

    refs = []
    for name in names:
        folder = resolve_artifact(name)
        card = load_artifact(folder).card
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
def loaded_artifact(path: str, sha256: str) -> Artifact:
    """The artifact, loaded once per worker process and checked against the planned sha256."""
    from vsbatch.models.artifacts import load_artifact

    artifact = load_artifact(path, device="cpu")
    if artifact.card["weights_sha256"] != sha256:
        raise RuntimeError(f"{path}: model changed since the run was planned (sha256 differs)")
    return artifact


def version_tags(ctx: StageContext, ref: ModelRef) -> np.ndarray:
    """The ``<name>_version`` column: name, version and weights sha256 prefix on every row."""
    return np.full(ctx.lcs.n_segments, f"{ref.name} {ref.version} ({ref.sha256[:12]})", object)
