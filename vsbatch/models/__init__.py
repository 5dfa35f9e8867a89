"""Neural-network models (torch nn.Modules) and the artifact format that ships them.

- :mod:`vsbatch.models.artifacts`: weights + model card, sha256-verified, never unpickled;
- :mod:`vsbatch.models.nnfap`: the NN-FAP periodicity verifier (Miller et al., seeds/003) and
  its batched inference :func:`~vsbatch.models.nnfap.predict_nnfap`.
"""

from vsbatch.models.artifacts import (
    Artifact,
    ArtifactError,
    ArtifactSummary,
    list_artifacts,
    load_artifact,
    save_artifact,
)
from vsbatch.models.nnfap import NnfapModel, NnfapPrediction, predict_nnfap

__all__ = [
    "Artifact",
    "ArtifactError",
    "ArtifactSummary",
    "NnfapModel",
    "NnfapPrediction",
    "list_artifacts",
    "load_artifact",
    "predict_nnfap",
    "save_artifact",
]
