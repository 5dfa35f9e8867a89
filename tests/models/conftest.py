"""Fixtures for the model tests: a real cadence table and a small synthetic training set."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from vsbatch.training.injection import make_nnfap_training_set


@pytest.fixture(scope="session")
def asas_table() -> pa.Table:
    """12 real ASAS I light curves (long format) as cadences and (mag, err) pairs."""
    return pq.read_table(FIXTURES / "asas_i_12.parquet")


@pytest.fixture(scope="session")
def small_training_set(asas_table: pa.Table) -> pa.Table:
    return make_nnfap_training_set(asas_table, 60, seed=7, aperiodic_fold="random")
