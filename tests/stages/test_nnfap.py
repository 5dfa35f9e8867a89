"""The NN-FAP inference stage: the FAP users read is 1 where the fold has too few cycles."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from tests.conftest import FIXTURES
from vsbatch.config import RunConfig
from vsbatch.failures import FailureLog
from vsbatch.models import load_artifact
from vsbatch.represent.nnfap import light_curves_from_table
from vsbatch.stages.context import StageContext
from vsbatch.stages.models import resolve_models
from vsbatch.stages.nnfap import nnfap_columns


def test_fap_is_one_where_the_fold_has_fewer_than_two_cycles() -> None:
    lcs, keys = light_curves_from_table(pq.read_table(FIXTURES / "asas_i_12.parquet"))
    n = lcs.n_segments
    span = lcs.time_span()
    # half the curves folded at 1.5 cycles over their baseline, half at a 0.61803 d period
    period = np.where(np.arange(n) % 2 == 0, span / 1.5, 0.61803)
    columns = {"source_id": keys.column("source_id"), "band": keys.column("band"),
               "period": period}  # fmt: skip
    ctx = StageContext(lcs, columns, RunConfig(), FailureLog("p"))
    (ref,) = resolve_models(("nnfap",))
    out = nnfap_columns(ctx, ref, load_artifact("nnfap", device="cpu"))
    few = out["nnfap_few_cycles"].astype(bool)
    fap, p = out["nnfap_fap"], out["nnfap_p_periodic"]
    assert few[::2].all() and np.isfinite(fap).all()
    np.testing.assert_array_equal(fap[few], 1.0)
    np.testing.assert_allclose(fap[~few], 1.0 - p[~few])
    # the network's own opinion of the short folds stays visible in p_periodic
    assert (p[few] > 0.0).all() and not np.allclose(p[few], 0.0)
