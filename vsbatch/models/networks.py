"""The network of each model kind, built from a model card's ``architecture``.

One entry per kind of :mod:`vsbatch.models.kinds`; :func:`vsbatch.models.artifacts.load_artifact`
builds the network here before loading its weights into it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vsbatch.models.blazhko import build_blazhko
from vsbatch.models.classifiers import build_classifier
from vsbatch.models.kinds import model_kind
from vsbatch.models.nnfap import NnfapModel
from vsbatch.models.vartype import VartypeModel

NETWORKS: dict[str, Callable[[dict], nn.Module | VartypeModel]] = {
    "nnfap": NnfapModel.from_architecture,
    "cnn-lstm": build_classifier,
    "dmdt-cnn": build_classifier,
    "hybrid": build_classifier,
    "catalog-cnn-lstm": build_classifier,
    "blazhko": build_blazhko,
    "vartype": VartypeModel.from_architecture,
}


def build_network(kind: str, architecture: dict) -> nn.Module | VartypeModel:
    """The untrained network of a kind (UsageError naming the known kinds for another name)."""
    model_kind(kind)
    return NETWORKS[kind](architecture)
