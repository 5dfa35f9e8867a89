"""Shared test fixtures: shipped real light curves and, where present, ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vsbatch.kernels import LightCurves
from vsbatch.training.injection import make_nnfap_training_set

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_CATALOG = REPO / "vsbatch" / "sample_data" / "asas_i_rrlyrae_300.parquet"


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test when the shared folder is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is absent in this checkout)")
    return path


def light_curves_from_long(df: pd.DataFrame) -> tuple[list[tuple[str, str]], LightCurves]:
    """Group a long-format frame by (source_id, band) into LightCurves (test helper)."""
    keys, segments = [], []
    for key, g in df.groupby(["source_id", "band"], sort=True):
        keys.append(key)
        segments.append((g["time"].to_numpy(), g["mag"].to_numpy(), g["mag_err"].to_numpy()))
    return keys, LightCurves.from_segments(segments)


@pytest.fixture(scope="session")
def asas_lcs() -> tuple[list[tuple[str, str]], LightCurves]:
    """12 real ASAS I-band RR Lyrae-field light curves (Dékány et al. 2021, MIT)."""
    df = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    df = df.drop_duplicates(["source_id", "time", "mag", "mag_err"])
    return light_curves_from_long(df)


@pytest.fixture(scope="session")
def ogle_rrab() -> pd.DataFrame:
    """Two real OGLE-III/IV bulge RRab stars with their OGLE-III catalogue periods."""
    return pd.read_parquet(FIXTURES / "ogle_blg_rrab_2.parquet")


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def asas_table() -> pa.Table:
    """12 real ASAS I light curves (long format) as cadences and (mag, err) pairs."""
    return pq.read_table(FIXTURES / "asas_i_12.parquet")


@pytest.fixture(scope="session")
def small_training_set(asas_table: pa.Table) -> pa.Table:
    return make_nnfap_training_set(asas_table, 60, seed=7, aperiodic_fold="random")
