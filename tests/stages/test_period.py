"""The alias-aware period columns in a real run on real light curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import vsbatch
from tests.conftest import FIXTURES
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog


def test_runner_up_columns_in_a_run_on_real_light_curves(tmp_path: Path) -> None:
    config = RunConfig(stages=("period", "multiband"))
    src = FIXTURES / "misc_mit_5.parquet"
    vsbatch.run(str(src), tmp_path / "cat", config, ClusterSpec(cluster="none"))
    cat = open_catalog(tmp_path / "cat").to_pandas().set_index(["source_id", "band"])
    span = pd.read_parquet(src).groupby("source_id").time.agg(np.ptp)  # >= each band's
    for period, second, delta in (
        ("period", "period_2nd", "delta_chi2_period"),
        ("period_multiband", "period_multiband_2nd", "delta_chi2_multiband"),
    ):
        assert cat[[period, second, delta]].notna().all().all()
        assert (cat[delta] >= 0).all()
        separation = np.abs(1 / cat[period] - 1 / cat[second])
        assert (separation >= 1 / span.loc[cat.index.get_level_values(0)].to_numpy() - 1e-12).all()
    eros = cat.loc["EROS2-lm0010n22323"]
    assert eros.period_multiband.nunique() == 1 and eros.n_bands.iloc[0] == 2
    # the fixture's EROS-2 Cepheid: both bands and the multiband choice agree
    assert np.allclose(eros.period, eros.period_multiband, rtol=1e-3)
