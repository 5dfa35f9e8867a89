"""Every ``--model`` is checked fully before the first task: a model the
workers would refuse stops the run with exit 2 and nothing written, instead of exit 0 with
every light curve a model failure."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.io.catalog import sha256_file
from vsbatch.models import NnfapModel, save_artifact
from vsbatch.models.artifacts import CARD_FILE, WEIGHTS_FILE


def _tiny(folder: Path) -> Path:
    torch.manual_seed(0)
    model = NnfapModel(hidden=8, layers=1)
    save_artifact(model, folder, name="tiny", kind="nnfap", version="0.0.1",
                  architecture=model.architecture(), representation={"n_points": 200},
                  class_names=["aperiodic", "periodic"], training_data={"fingerprint": "x"},
                  command="test")  # fmt: skip
    return folder


def _edit_card(folder: Path, **changes: object) -> None:
    card = json.loads((folder / CARD_FILE).read_text())
    card.update(changes)
    (folder / CARD_FILE).write_text(json.dumps(card))


def _weights_entry(folder: Path, file: str) -> None:
    """Point the card at ``file`` with its true sha256, so only the check under test refuses."""
    digest = sha256_file(folder / file)
    _edit_card(folder, weights_files=[{"file": file, "sha256": digest, "bytes": 1}],
               weights_sha256=digest)  # fmt: skip


def _pickle(folder: Path) -> str:
    (folder / WEIGHTS_FILE).write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    _weights_entry(folder, WEIGHTS_FILE)
    return "not a torch zip archive"


def _shard_name(folder: Path) -> str:
    (folder.parent / "stray.pt").write_bytes((folder / WEIGHTS_FILE).read_bytes())
    _weights_entry(folder, WEIGHTS_FILE)
    card = json.loads((folder / CARD_FILE).read_text())
    card["weights_files"][0]["file"] = "../stray.pt"
    (folder / CARD_FILE).write_text(json.dumps(card))
    return "is not a plain name"


def _huge(folder: Path) -> str:
    card = json.loads((folder / CARD_FILE).read_text())
    _edit_card(folder, architecture={**card["architecture"], "hidden": 10_000_000})
    return "architecture needs"


def _symlinked(folder: Path) -> str:
    outside = folder.parent / "elsewhere"
    outside.mkdir()
    os.replace(folder / WEIGHTS_FILE, outside / WEIGHTS_FILE)
    os.symlink(outside / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    return "outside the artifact folder"


def _unknown_kind(folder: Path) -> str:
    _edit_card(folder, kind="bogus")  # was refused only after the work
    return "cannot build the card's architecture"


@pytest.mark.parametrize("spoil", [_pickle, _shard_name, _huge, _symlinked, _unknown_kind])
def test_a_bad_model_stops_the_run_before_any_work(
    capsys, tmp_path: Path, spoil: Callable[[Path], str]
) -> None:
    message = spoil(_tiny(tmp_path / "m"))
    out = tmp_path / "cat"
    given = ("--no-cluster", "--stages", "stats", "--model", tmp_path / "m")
    code, _, err = run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out, *given)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()
