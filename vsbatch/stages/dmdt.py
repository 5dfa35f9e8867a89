"""Stage ``dmdt``: the Mahabal et al. (2017) dm-dt image of every light curve.

The image (22 dm x 23 dt cells, 0-255) is stored flattened, row-major in dm; light curves
with more than ``dmdt_max_pairs`` pairs use a seeded sample of pairs (``dmdt_sampled``).
"""

from __future__ import annotations

import numpy as np

from vsbatch.kernels.dmdt import dmdt_histograms
from vsbatch.stages.context import StageContext


def dmdt_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    hist = dmdt_histograms(ctx.lcs, max_pairs=ctx.config.dmdt_max_pairs, seed=ctx.config.seed)
    ctx.fail_status(hist.status, "dmdt")
    n = ctx.lcs.n_segments
    return {
        "dmdt_mahabal": hist.images.reshape(n, -1),
        "dmdt_n_pairs": hist.n_pairs,
        "dmdt_sampled": hist.sampled,
    }
