"""Period recovery on real light curves with published periods (needs ../shared/data).

Floors are the fractions measured with the default grid (README, "Recovery on real data"),
rounded down, so a regression in the search fails here."""

from __future__ import annotations

import pytest

from benchmarks.validate import recovery_report
from tests.conftest import SHARED_DATA, shared_file
from vsbatch.cluster import ClusterSpec


@pytest.mark.slow
def test_ogle_rrab_periods_equal_the_ogle_catalog_to_1e5_days() -> None:
    shared_file("ogle-blg-rrab/lightcurves.parquet")
    (row,) = recovery_report(SHARED_DATA, cluster=ClusterSpec(cluster="none"), datasets=("ogle",))
    assert row.n == 5 and row.recovered == 5 and row.worst_abs_diff_days < 1e-5


@pytest.mark.slow
def test_s82_and_eros1_recovery_fractions() -> None:
    shared_file("sdss-s82-rrlyrae/lightcurves.parquet")
    shared_file("eros1-lmc/train.parquet")
    rows = recovery_report(SHARED_DATA, cluster=ClusterSpec(workers=2), datasets=("s82", "eros1"))
    got = {(r.dataset, r.subset, r.column): r for r in rows}
    s82 = got[("SDSS S82 RR Lyrae", "all", "period[sdss_r]")]
    assert s82.n == 322 and s82.fraction >= 0.60
    assert got[("SDSS S82 RR Lyrae", "all", "period_multiband")].fraction >= 0.60
    assert got[("EROS-1 LMC", "rr_lyrae", "period_multiband")].fraction >= 0.74
    assert got[("EROS-1 LMC", "cepheid", "period_multiband")].fraction >= 0.72
