"""Stage ``stats``: variability statistics of every light curve."""

from __future__ import annotations

import numpy as np

from vsbatch.kernels.stats import variability_stats
from vsbatch.stages.context import StageContext


def stats_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    return variability_stats(ctx.lcs).as_dict()
