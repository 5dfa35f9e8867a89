"""Neural-network models (torch nn.Modules) and the artifact format that ships them.

- :mod:`vsbatch.models.kinds`: the model kinds and what each is (no torch import);
- :mod:`vsbatch.models.networks`: each kind's network, built from a model card;
- :mod:`vsbatch.models.artifacts`: weights + model card, sha256-verified, never unpickled;
- :mod:`vsbatch.models.nnfap`: the NN-FAP periodicity verifier (Miller et al.) and its batched
  inference :func:`~vsbatch.models.nnfap.predict_nnfap`.

The names below are imported on first use, so that importing the package (as the command
line does to list the kinds) never pays for importing torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Artifact": "vsbatch.models.loaded",
    "ArtifactError": "vsbatch.models.artifacts",
    "ArtifactSummary": "vsbatch.models.artifacts",
    "list_artifacts": "vsbatch.models.artifacts",
    "load_artifact": "vsbatch.models.artifacts",
    "save_artifact": "vsbatch.models.artifacts",
    "NnfapModel": "vsbatch.models.nnfap",
    "NnfapPrediction": "vsbatch.models.nnfap",
    "predict_nnfap": "vsbatch.models.nnfap",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vsbatch.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
