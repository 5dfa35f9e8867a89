"""``vsbatch run --model nnfap``: the NN-FAP of every light curve at its fold period."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsbatch.kernels.status import KernelStatus
from vsbatch.models.nnfap import predict_nnfap
from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fold_period
from vsbatch.stages.models import ModelRef, version_tags

if TYPE_CHECKING:
    from vsbatch.models.loaded import Artifact


def nnfap_columns(ctx: StageContext, ref: ModelRef, artifact: Artifact) -> dict[str, np.ndarray]:
    """NN-FAP of every light curve folded at the run's ``fold_period``; 1 where the fold samples
    (an alias of) fewer than two cycles, ``few_cycles`` saying why."""
    period, _ = fold_period(ctx)
    with np.errstate(divide="ignore", invalid="ignore"):
        frequency = 1.0 / period
    pred = predict_nnfap(
        artifact, ctx.lcs, frequency, batch_size=ctx.config.model_batch_size, device="auto"
    )
    ctx.fail_status(pred.status, f"model:{ref.name}")
    scored = pred.status == KernelStatus.OK
    return {
        f"{ref.prefix}_fap": pred.catalog_fap,
        f"{ref.prefix}_p_periodic": pred.p_periodic,
        f"{ref.prefix}_few_cycles": np.where(scored, pred.few_cycles, None).astype(object),
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }
