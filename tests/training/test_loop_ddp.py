"""Training through the product's paths: shards built by the run passes, ``vsbatch train``
and ``vsbatch evaluate`` on the command line, and data-parallel training on two Dask worker
processes (torch DistributedDataParallel, gloo) giving the weights of one process."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from tests.helpers import run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.models import load_artifact
from vsbatch.training.nnfap import train_nnfap

TINY = dict(seed=5, epochs=3, batch_size=16, hidden=8, layers=1, phase_shifts=2, patience=10,
            learning_rate=1e-2, device="cpu", log=None)  # fmt: skip


@pytest.fixture(scope="module")
def training_file(small_training_set, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "synth.parquet"
    pq.write_table(small_training_set, path)
    return path


def test_shards_hold_every_curve_once_per_shift(training_file: Path, tmp_path: Path) -> None:
    from vsbatch.training.nnfap import NnfapTrainingConfig, build_nnfap_shards

    cfg = NnfapTrainingConfig(phase_shifts=3)
    shards = build_nnfap_shards(
        training_file, tmp_path / "s", cfg, RunConfig(partition_epochs=3000)
    )
    assert len(shards.files) >= 3 and (tmp_path / "s" / "_shards.json").is_file()
    assert not (tmp_path / "s" / "_staging").exists()
    rows = pq.ParquetDataset([str(f) for f in shards.files]).read().to_pandas()
    per_curve = rows.groupby("source_id").shift_index.agg(["count", "min", "max"])
    assert len(per_curve) == 60 and (per_curve["count"] == 4).all()
    assert (per_curve["min"] == 0).all() and (per_curve["max"] == 3).all()
    assert rows.x.map(len).eq(200 * 4).all()
    # the same catalog, seed and partitioning give the same shards
    again = build_nnfap_shards(training_file, tmp_path / "t", cfg, RunConfig(partition_epochs=3000))
    for a, b in zip(shards.files, again.files, strict=True):
        assert pq.read_table(a).equals(pq.read_table(b))


@pytest.mark.slow
def test_ddp_on_two_dask_workers_equals_one_process(training_file: Path, tmp_path: Path) -> None:
    run_config = RunConfig(partition_epochs=3000)
    one = train_nnfap(training_file, tmp_path / "one", ranks=2, run_config=run_config, **TINY)
    two = train_nnfap(training_file, tmp_path / "two", workers=2, run_config=run_config,
                      cluster=ClusterSpec(workers=2), **TINY)  # fmt: skip
    assert two.card["data_parallel"] == {"ranks": 2, "processes": 2}
    a, b = one.model.state_dict(), two.model.state_dict()
    moved = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved < 1e-4, f"DDP weights differ from the one-process run by {moved}"
    # and the weights did train (not the initial ones)
    torch.manual_seed(TINY["seed"])
    from vsbatch.models.nnfap import NnfapModel

    init = NnfapModel(4, 8, 1).state_dict()
    assert max(float((a[k] - init[k]).abs().max()) for k in a) > 1e-3
    assert [c["val_loss"] for c in one.card["training_curve"]] == pytest.approx(
        [c["val_loss"] for c in two.card["training_curve"]], abs=1e-4
    )


@pytest.mark.slow
def test_train_and_evaluate_commands(training_file: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(
        capsys, "train", "nnfap", "--data", training_file, "-o", tmp_path / "m", "--epochs", 2,
        "--batch-size", 32, "--set", "hidden=8", "--set", "layers=1", "--set", "phase_shifts=2",
        "--device", "cpu", "--cluster", "local", "--name", "nnfap-cli",
    )  # fmt: skip
    assert code == 0, err
    art = load_artifact(tmp_path / "m")
    assert art.card["name"] == "nnfap-cli" and art.card["architecture"]["hidden"] == 8
    assert art.card["command"].startswith("vsbatch train nnfap")
    code, _, err = run_cli(
        capsys, "evaluate", tmp_path / "m", "--data", training_file, "-o", tmp_path / "ev",
        "--group-column", "kind", "--set", "maximum_frequency=5",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "ev" / "nnfap_eval.json").read_text())
    assert report["n_curves"] == 60 and 0 <= report["nnfap"]["AUC"] <= 1
    assert (tmp_path / "ev" / "nnfap_roc.png").stat().st_size > 1000
    code, _out, err = run_cli(capsys, "train", "nnfap", "--data", training_file, "-o",
                             tmp_path / "x", "--set", "hiden=8")  # fmt: skip
    assert code == 2 and "hiden" in err
