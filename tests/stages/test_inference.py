"""The ``--model`` pass inside real runs: a 2-worker LocalCluster, and a scheduler whose only
GPU-advertising worker must run every inference task (and no CPU worker any)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vsbatch
from tests.conftest import FIXTURES
from tests.helpers import catalog_frame, dask_cli_cluster
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog
from vsbatch.training.nnfap import train_nnfap

CONFIG = dict(partition_epochs=800, fmax=5.0, stages=("stats", "period", "fourier"))


@pytest.fixture(scope="module")
def tiny_model(small_training_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "nnfap-tiny"
    train_nnfap(small_training_set, out, seed=1, epochs=2, batch_size=32, hidden=8, layers=1,
                phase_shifts=2, patience=10, device="cpu", log=None, name="nnfap")  # fmt: skip
    return out


@pytest.mark.slow
def test_model_columns_from_a_two_worker_run(tiny_model: Path, tmp_path: Path) -> None:
    config = RunConfig(**CONFIG, models=(str(tiny_model),))
    src = str(FIXTURES / "asas_i_12.parquet")
    summary = vsbatch.run(src, tmp_path / "cat", config, ClusterSpec(workers=2))
    assert summary.partitions > 1
    cat = catalog_frame(summary.catalog)
    columns = {"nnfap_fap", "nnfap_p_periodic", "nnfap_few_cycles", "nnfap_version"}
    assert columns <= set(cat.columns)
    assert cat.nnfap_few_cycles[cat.nnfap_fap.notna()].notna().all()
    assert cat.nnfap_few_cycles[cat.nnfap_fap.isna()].isna().all()
    scored = cat.nnfap_fap.notna()
    assert scored.sum() >= 10
    judged = scored & ~cat.nnfap_few_cycles.fillna(False).astype(bool)
    np.testing.assert_allclose(cat.nnfap_fap[judged] + cat.nnfap_p_periodic[judged], 1.0)
    assert (cat.nnfap_fap[scored & ~judged] == 1.0).all()
    manifest = open_catalog(summary.catalog).manifest
    (model,) = manifest.models
    assert model["name"] == "nnfap" and cat.nnfap_version.iloc[0].startswith("nnfap ")
    assert model["sha256"][:12] in cat.nnfap_version.iloc[0]
    # the same run without the model gives the same feature columns
    plain = vsbatch.run(src, tmp_path / "plain", RunConfig(**CONFIG), ClusterSpec(workers=2))
    base = catalog_frame(plain.catalog)
    assert base.equals(cat[base.columns])


@pytest.mark.slow
def test_inference_runs_only_on_the_worker_advertising_a_gpu(
    tiny_model: Path, tmp_path: Path
) -> None:
    from distributed import Client

    # a CPU worker and a "GPU" worker (a CPU advertising the resource)
    with (
        dask_cli_cluster([[], ["--resources", "GPU=1"]]) as address,
        Client(address, timeout=60) as client,
    ):
        config = RunConfig(**CONFIG, models=(str(tiny_model),))
        src = str(FIXTURES / "asas_i_12.parquet")
        summary = vsbatch.run(src, tmp_path / "cat", config, ClusterSpec(cluster=address))
        info = client.scheduler_info()["workers"]
        gpu = next(a for a, w in info.items() if w.get("resources", {}).get("GPU"))
        # the keys each worker's state machine saw (a lambda travels by value)
        ran = client.run(lambda dask_worker: sorted({str(e[0]) for e in dask_worker.state.log}))
    model_tasks = {a: [k for k in keys if "_model_task" in k] for a, keys in ran.items()}
    assert len(model_tasks[gpu]) == summary.partitions > 1
    assert all(not keys for a, keys in model_tasks.items() if a != gpu)
    assert any("_partition_task" in k for a, keys in ran.items() if a != gpu for k in keys)
