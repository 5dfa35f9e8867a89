"""Artifact round trip, sha256 verification and refusal of pickles."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from vsbatch.io.catalog import sha256_file
from vsbatch.models import ArtifactError, NnfapModel, list_artifacts, load_artifact, save_artifact
from vsbatch.models.artifacts import CARD_FILE, WEIGHTS_FILE, table_fingerprint


def _save(tmp_path, **over):
    torch.manual_seed(0)
    model = NnfapModel(hidden=8, layers=1)
    args = dict(
        name="tiny", kind="nnfap", version="0.0.1", architecture=model.architecture(),
        representation={"n_points": 200}, class_names=["aperiodic", "periodic"],
        training_data={"fingerprint": "sha256:0"}, command="test",
    )  # fmt: skip
    args.update(over)
    return model, save_artifact(model, tmp_path / "tiny", **args)


def test_round_trip(tmp_path):
    model, art = _save(tmp_path)
    card = json.loads((art.path / CARD_FILE).read_text())
    for key in ("name", "kind", "version", "architecture", "parameter_count", "representation",
                "class_names", "training_data", "command", "metrics", "training_curve",
                "vsbatch_version", "created", "weights_sha256"):  # fmt: skip
        assert key in card
    assert card["weights_sha256"] == sha256_file(art.path / WEIGHTS_FILE)
    loaded = load_artifact(art.path)
    x = torch.randn(3, 200, 4)
    torch.testing.assert_close(loaded.model(x), model.eval()(x))
    assert loaded.version_tag.startswith("tiny 0.0.1 (")


def test_sha_mismatch_refused(tmp_path):
    _, art = _save(tmp_path)
    state = torch.load(art.path / WEIGHTS_FILE, weights_only=True)
    state["head.bias"] += 1.0
    torch.save(state, art.path / WEIGHTS_FILE)
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(art.path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("how", ["raw-pickle", "torch-zip"])
def test_malicious_pickle_refused_without_running(tmp_path, how):
    _, art = _save(tmp_path)
    marker = tmp_path / "pwned"
    weights = art.path / WEIGHTS_FILE
    if how == "raw-pickle":
        weights.write_bytes(pickle.dumps({"head.bias": _Evil(str(marker))}))
    else:
        torch.save({"head.bias": _Evil(str(marker))}, weights)
    card = json.loads((art.path / CARD_FILE).read_text())
    card["weights_sha256"] = sha256_file(weights)  # the attacker also fixed the card
    (art.path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="refus"):
        load_artifact(art.path)
    assert not marker.exists()


def test_reference_found_by_name_and_listed():
    names = {s.name: s for s in list_artifacts()}
    assert "nnfap" in names and names["nnfap"].kind == "nnfap"
    art = load_artifact("nnfap")
    assert art.card["weights_sha256"] == names["nnfap"].weights_sha256
    assert art.card["weights_bytes"] < 1_000_000
    with pytest.raises(ArtifactError, match="no model artifact"):
        load_artifact("no-such-model")


def test_table_fingerprint_ignores_chunking(small_training_set):
    t = small_training_set
    rechunked = t.slice(0, 100).combine_chunks()
    rechunked = (
        type(t).from_batches(t.to_batches(max_chunksize=777)).replace_schema_metadata({"x": "y"})
    )
    assert table_fingerprint(rechunked) == table_fingerprint(t)
    assert table_fingerprint(t.slice(1)) != table_fingerprint(t)
