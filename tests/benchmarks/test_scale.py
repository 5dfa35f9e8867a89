"""The suite's version of the scale runs: 1,000 synthetic sources on real cadences
end to end on 2 worker processes, every source accounted for, worker memory measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.scale import (
    GENERATOR_VERSION,
    PART_SOURCES,
    load_templates,
    make_scale_catalog,
    run_scale,
)
from tests.conftest import FIXTURES
from tests.helpers import catalog_frame
from vsbatch.io.catalog import open_catalog


@pytest.fixture(scope="module")
def templates():
    """Real cadences and errors of the shipped fixtures (ASAS I, OGLE bulge, misc surveys)."""
    names = ("asas_i_12.parquet", "ogle_blg_rrab_2.parquet", "misc_mit_5.parquet")
    cols = ["source_id", "time", "mag", "mag_err", "band"]
    return load_templates([pq.read_table(FIXTURES / n, columns=cols) for n in names])


def test_catalog_is_seeded_and_uses_real_cadences(templates, tmp_path: Path) -> None:
    a = make_scale_catalog(templates, 300, tmp_path / "a", seed=3)
    b = make_scale_catalog(templates, 300, tmp_path / "b", seed=3)
    assert len(a) == 1 and pq.read_table(a[0]).equals(pq.read_table(b[0]))
    df = pq.read_table(a[0]).to_pandas()
    assert df.source_id.nunique() == 300
    # every source's time stamps are a real cadence (shifted): its gaps occur in a template
    real_gaps = np.unique(np.round(np.concatenate([np.diff(t) for t in templates.times]), 6))
    one = df[df.source_id == df.source_id.iloc[0]].time.to_numpy()
    assert np.isin(np.round(np.diff(one), 6), real_gaps).all()
    # errors are real ones of the same band
    assert len(templates.lookups) >= 2
    for band, rows in df.groupby("band"):
        assert np.isin(rows.mag_err.to_numpy(), templates.lookups[band].err).all()
    assert PART_SOURCES >= 1000


def test_surveys_are_drawn_equally_whatever_their_number_of_windows(templates) -> None:
    sizes = np.bincount(templates.surveys)
    assert sizes.max() > 2 * sizes.min()  # unequal numbers of windows per survey
    picks = templates.draw(np.random.default_rng(0), 30_000)
    share = np.bincount(templates.surveys[picks], minlength=sizes.size) / picks.size
    np.testing.assert_allclose(share, 1 / sizes.size, atol=0.01)


@pytest.mark.slow
def test_thousand_sources_end_to_end_on_two_workers(templates, tmp_path: Path) -> None:
    report = run_scale(1000, tmp_path, workers=2, templates=templates, seed=1)
    cat = catalog_frame(tmp_path / "catalog-1000-default")
    failures = open_catalog(tmp_path / "catalog-1000-default").failures().to_pandas()
    inputs = pq.read_table(tmp_path / f"input-1000-seed1-g{GENERATOR_VERSION}").to_pandas()
    expected = set(inputs.source_id)
    assert set(cat.source_id) | set(failures.source_id) == expected  # nobody lost
    assert report.n_sources == 1000 and report.light_curves == len(cat)
    assert report.partitions >= 2 and report.partitions_computed == report.partitions
    assert report.worker_peak_mib > 50 and report.driver_peak_mib > 50  # both were sampled
    assert report.core_hours_per_1e8 > 0 and not report.resumed
    per_source = inputs[inputs.source_id.isin(cat.source_id)].groupby("source_id").size()
    assert report.median_epochs_per_source == pytest.approx(per_source.median())
    saved = json.loads((tmp_path / "catalog-1000-default" / "scale_report.json").read_text())
    assert saved["worker_peak_mib"] == report.worker_peak_mib
    periodic = cat.period.notna().mean()
    assert periodic > 0.9  # every curve with enough epochs gets a period
