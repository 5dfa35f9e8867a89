"""Artifact round trip, sha256 verification and refusal of pickles."""

from __future__ import annotations

import hashlib
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
    card["weights_files"][0]["sha256"] = card["weights_sha256"]
    (art.path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match=r"not a torch zip archive|weights_only=True"):
        load_artifact(art.path)
    assert not marker.exists()


def test_large_weights_are_sharded_and_every_shard_verified(tmp_path):
    model, art = _save(tmp_path, max_file_bytes=1_000)
    files = art.card["weights_files"]
    n = len(files)
    assert n >= 2 and [f["file"] for f in files] == [
        f"weights-{i}-of-{n}.pt" for i in range(1, n + 1)
    ]
    assert sorted(p.name for p in art.path.glob("weights*.pt")) == sorted(f["file"] for f in files)
    assert not (art.path / WEIGHTS_FILE).exists()
    for f in files:
        assert sha256_file(art.path / f["file"]) == f["sha256"]
        shard = torch.load(art.path / f["file"], weights_only=True)
        big = [k for k, v in shard.items() if v.numel() * v.element_size() > 1_000]
        assert len(shard) == 1 or not big  # only a lone tensor may exceed the limit
    assert art.card["weights_bytes"] == sum(f["bytes"] for f in files)
    assert len(art.card["weights_sha256"]) == 64
    x = torch.randn(3, 200, 4)
    torch.testing.assert_close(load_artifact(art.path).model(x), model.eval()(x))

    second = art.path / files[1]["file"]
    state = torch.load(second, weights_only=True)
    torch.save({k: v + 1.0 for k, v in state.items()}, second)
    with pytest.raises(ArtifactError, match=f"{files[1]['file']}: sha256"):
        load_artifact(art.path)
    second.unlink()
    with pytest.raises(ArtifactError, match="missing weights file"):
        load_artifact(art.path)


@pytest.mark.parametrize("tamper", ["traversal", "list-changed"])
def test_shard_list_cannot_be_redirected(tmp_path, tamper):
    _, art = _save(tmp_path, max_file_bytes=1_000)
    card = json.loads((art.path / CARD_FILE).read_text())
    if tamper == "traversal":
        outside = tmp_path / "outside.pt"
        outside.write_bytes((art.path / card["weights_files"][0]["file"]).read_bytes())
        card["weights_files"][0]["file"] = "../outside.pt"
        lines = "".join(f"{f['sha256']} {f['file']}\n" for f in card["weights_files"])
        card["weights_sha256"] = hashlib.sha256(lines.encode()).hexdigest()  # a consistent card
        match = "not a plain name"
    else:
        card["weights_files"] = card["weights_files"][:-1]
        match = "shard list does not match"
    (art.path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match=match):
        load_artifact(art.path)


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
