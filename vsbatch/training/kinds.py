"""Training and evaluation of each model kind: ``vsbatch train KIND`` and ``vsbatch evaluate``.

One entry per kind of :mod:`vsbatch.models.kinds`; :func:`train` and :func:`evaluate` do the
checks every kind shares, then call the kind's own function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vsbatch.errors import UsageError
from vsbatch.models.kinds import model_kind, resumable_kinds
from vsbatch.models.loaded import Artifact
from vsbatch.training.blazhko import evaluate_blazhko, train_blazhko
from vsbatch.training.classifiers import evaluate_classifier_request, train_classifier_request
from vsbatch.training.evaluate import evaluate_nnfap_request
from vsbatch.training.nnfap import train_nnfap_request
from vsbatch.training.requests import EvaluateRequest, Evaluation, TrainRequest
from vsbatch.training.vartype import evaluate_vartype, train_vartype_request


@dataclass(frozen=True)
class KindTraining:
    """How a kind is trained and evaluated."""

    train: Callable[[TrainRequest], Artifact]
    evaluate: Callable[[Artifact, EvaluateRequest], Evaluation]


_CLASSIFIER = KindTraining(train_classifier_request, evaluate_classifier_request)

TRAINING: dict[str, KindTraining] = {
    "nnfap": KindTraining(train_nnfap_request, evaluate_nnfap_request),
    "cnn-lstm": _CLASSIFIER,
    "dmdt-cnn": _CLASSIFIER,
    "hybrid": _CLASSIFIER,
    "catalog-cnn-lstm": _CLASSIFIER,
    "blazhko": KindTraining(train_blazhko, evaluate_blazhko),
    "vartype": KindTraining(train_vartype_request, evaluate_vartype),
}


def train(request: TrainRequest) -> Artifact:
    """``vsbatch train``: the kind's training, after the checks every kind shares."""
    kind = model_kind(request.kind)  # UsageError naming the known kinds
    if request.resume and not kind.resumable:
        raise UsageError(
            f"--resume: {request.kind} training does not checkpoint "
            f"(resumable kinds: {', '.join(resumable_kinds())})"
        )
    return TRAINING[request.kind].train(request)


def evaluate(artifact: Artifact, request: EvaluateRequest) -> Evaluation:
    """``vsbatch evaluate``: the evaluation of the artifact's kind (known: it was loaded)."""
    return TRAINING[artifact.card["kind"]].evaluate(artifact, request)
