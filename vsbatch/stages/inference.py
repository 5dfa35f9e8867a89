"""Model inference on a partition: each kind's inference function, and the model stage.

An inference function takes the partition's clean light curves (``StageContext``), the run's
reference to the model and the loaded artifact, builds the representation the model's card
asks for and returns the catalog columns ``schemas/models.json`` declares for its kind. One
entry per kind of :mod:`vsbatch.models.kinds`.

Importing this module imports torch: :func:`vsbatch.stages.apply_models` imports it only for
runs with models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vsbatch.models.kinds import model_kind
from vsbatch.models.loaded import Artifact
from vsbatch.stages.blazhko import blazhko_columns
from vsbatch.stages.classify import catalog_classifier_columns, classifier_columns
from vsbatch.stages.context import StageContext
from vsbatch.stages.models import ModelRef, loaded_artifact
from vsbatch.stages.nnfap import nnfap_columns
from vsbatch.stages.vartype import vartype_columns

InferenceFn = Callable[[StageContext, ModelRef, Artifact], dict[str, np.ndarray]]

INFERENCE: dict[str, InferenceFn] = {
    "nnfap": nnfap_columns,
    "cnn-lstm": classifier_columns,
    "dmdt-cnn": classifier_columns,
    "hybrid": classifier_columns,
    "catalog-cnn-lstm": catalog_classifier_columns,
    "blazhko": blazhko_columns,
    "vartype": vartype_columns,
}


def model_stage(ctx: StageContext, ref: ModelRef) -> dict[str, np.ndarray]:
    """The catalog columns of one model for a partition (the kind's inference function)."""
    model_kind(ref.kind)  # UsageError naming the known kinds
    return INFERENCE[ref.kind](ctx, ref, loaded_artifact(ref.path, ref.sha256))
