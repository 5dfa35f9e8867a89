"""Model artifacts: a folder with ``weights.pt`` (a state_dict) and ``model_card.json``.

Why this shape: a catalog must name the exact model behind every prediction, and loading a
model must never run code from a file. So:

- weights are a plain ``state_dict`` written by ``torch.save`` and read back only with
  ``torch.load(weights_only=True)``, after checking the file is a torch zip archive (a legacy
  or hand-made pickle is refused before torch sees it);
- the card stores the weights' sha256; :func:`load_artifact` recomputes it and refuses a
  mismatch (a swapped or corrupted file);
- a state_dict larger than :data:`MAX_WEIGHTS_FILE_BYTES` is split by tensor into numbered
  shards (``weights-1-of-3.pt`` ...), each a plain state_dict with its own sha256 in the card
  (repositories and object stores cap single files; the unmodified ResNet-34 is 42.7 MB even
  in float16), and the card's ``weights_sha256`` is then the digest of the shard list;
- the card holds everything needed to rebuild and use the model: kind, architecture,
  representation and its parameters, class names, plus how it was made (training-data
  fingerprint, command, metrics, training curve, vsbatch and torch versions, date).

A kind whose model is a library's own text format (``vartype``: a LightGBM booster) writes
``weights.txt`` instead, ``weights_format: text`` in the card: the same sha256 check, then the
file must be plain UTF-8 text (a pickle is refused) that the kind's parser reads as numbers.

Reference artifacts ship under ``vsbatch/models/reference/<name>/`` and load by name; folders
listed in the ``VSBATCH_MODELS`` environment variable (``os.pathsep``-separated) are searched
after them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from vsbatch._version import __version__
from vsbatch.errors import InputError, UsageError
from vsbatch.io.catalog import sha256_file, write_bytes_atomic
from vsbatch.models.kinds import model_kind
from vsbatch.models.loaded import Artifact
from vsbatch.models.networks import build_network

WEIGHTS_FILE = "weights.pt"
TEXT_WEIGHTS_FILE = "weights.txt"
TEXT_FORMAT = "text"  # the card's weights_format of a kind whose model is library text
MAX_WEIGHTS_FILE_BYTES = 16_000_000
CARD_FILE = "model_card.json"
REFERENCE_DIR = Path(__file__).parent / "reference"
CARD_VERSION = 1


class ArtifactError(InputError):
    """An artifact that cannot be used: missing, tampered with, or not a plain state_dict."""


@dataclass(frozen=True)
class ArtifactSummary:
    """One line of ``vsbatch models list``."""

    name: str
    kind: str
    version: str
    path: str
    parameters: int
    created: str
    weights_sha256: str
    metrics: dict


def table_fingerprint(table: pa.Table) -> str:
    """sha256 of a table's content (column names, types and values; not chunking or metadata).

    Why: the card must identify the training data independently of how it was stored.
    """
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        col = table.column(name).combine_chunks()
        h.update(f"{name}:{col.type}\n".encode())
        sink = pa.BufferOutputStream()
        batch = pa.record_batch([col], names=[name])
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        h.update(sink.getvalue().to_pybytes())
    return "sha256:" + h.hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _shard_state(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict]:
    """``state`` split in key order into dicts of at most ``max_bytes`` of tensor data each
    (a single larger tensor gets a shard of its own)."""
    shards: list[dict] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    return shards


def _weights_digest(files: list[dict]) -> str:
    """The card's ``weights_sha256``: the file's own sha256, or for shards the sha256 of the
    ``"<sha256> <file>"`` lines (so one value still names the exact weights)."""
    if len(files) == 1:
        return files[0]["sha256"]
    lines = "".join(f"{f['sha256']} {f['file']}\n" for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def _write_card(card: dict, folder: Path) -> None:
    text = json.dumps(_jsonable(card), indent=2, allow_nan=False) + "\n"
    write_bytes_atomic(text.encode("utf-8"), folder / CARD_FILE)


def _card(
    name: str, kind: str, version: str, architecture: dict, representation: dict,
    class_names: list[str], training_data: dict, command: str, metrics: dict | None,
    files: list[dict],
) -> dict:
    """The card fields every artifact has, whatever its weights format."""
    return {
        "card_version": CARD_VERSION,
        "name": name,
        "kind": kind,
        "version": version,
        "architecture": architecture,
        "representation": representation,
        "class_names": class_names,
        "training_data": training_data,
        "command": command,
        "metrics": metrics or {},
        "vsbatch_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "weights_files": files,
        "weights_sha256": _weights_digest(files),
        "weights_bytes": sum(f["bytes"] for f in files),
    }


def save_text_artifact(
    model: object, text: str, out_dir: str | Path, *, name: str, kind: str, version: str,
    architecture: dict, representation: dict, class_names: list[str], training_data: dict,
    command: str, metrics: dict | None = None, extra: dict | None = None,
) -> Artifact:
    """Write ``weights.txt`` (a library's text model, e.g. LightGBM's) and ``model_card.json``
    with ``weights_format: text``; ``model`` is the loaded form of ``text``."""
    model_kind(kind)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TEXT_WEIGHTS_FILE
    write_bytes_atomic(text.encode("utf-8"), path)
    files = [{"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}]
    card = _card(name, kind, version, architecture, representation, class_names,
                 training_data, command, metrics, files)  # fmt: skip
    card.update(weights_format=TEXT_FORMAT, **(extra or {}))
    _write_card(card, out)
    return Artifact(card, model, out)


def save_artifact(
    model: nn.Module,
    out_dir: str | Path,
    *,
    name: str,
    kind: str,
    version: str,
    architecture: dict,
    representation: dict,
    class_names: list[str],
    training_data: dict,
    command: str,
    metrics: dict | None = None,
    training_curve: list[dict] | None = None,
    extra: dict | None = None,
    max_file_bytes: int = MAX_WEIGHTS_FILE_BYTES,
) -> Artifact:
    """Write ``weights.pt`` (state_dict, tensors moved to the CPU) and ``model_card.json``.

    ``training_data`` should hold at least ``fingerprint`` (see :func:`table_fingerprint`).
    Weights over ``max_file_bytes`` are written as shards (see the module docstring).
    """
    model_kind(kind)  # an unknown kind raises here, before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    shards = _shard_state(state, max_file_bytes)
    files = []
    for i, shard in enumerate(shards, start=1):
        file = WEIGHTS_FILE if len(shards) == 1 else f"weights-{i}-of-{len(shards)}.pt"
        buffer = io.BytesIO()  # not a path: torch names the archive after the file, and the
        torch.save(shard, buffer)  # temporary file's random name would change the sha256
        write_bytes_atomic(buffer.getvalue(), out / file)
        files.append({"file": file, "sha256": sha256_file(out / file),
                      "bytes": (out / file).stat().st_size})  # fmt: skip
    card = _card(name, kind, version, architecture, representation, class_names,
                 training_data, command, metrics, files)  # fmt: skip
    card.update(
        parameter_count=int(sum(v.numel() for v in state.values())),
        training_curve=training_curve or [],
        torch_version=torch.__version__,
        **(extra or {}),
    )
    _write_card(card, out)
    return Artifact(card, model, out)


def search_path() -> list[Path]:
    """Folders searched for artifacts by name: the shipped references, then $VSBATCH_MODELS."""
    extra = [Path(p) for p in os.environ.get("VSBATCH_MODELS", "").split(os.pathsep) if p]
    return [REFERENCE_DIR, *extra]


def resolve_artifact(name_or_path: str | Path) -> Path:
    """The artifact folder of a path, or of a name found in :func:`search_path`.

    A bare name (no ``/``, not starting with ``.``) is only ever looked up in the search path:
    a folder of that name in the working directory is not a model the user named (write
    ``./NAME`` for that), and a job file must not load one from wherever it happens to run.
    """
    text = str(name_or_path)
    path = Path(name_or_path)
    is_path = isinstance(name_or_path, Path) or "/" in text or os.sep in text or text[:1] == "."
    if is_path and (path / CARD_FILE).is_file():
        return path
    for root in [] if is_path else search_path():
        if (root / text / CARD_FILE).is_file():
            return root / text
    known = ", ".join(s.name for s in list_artifacts()) or "none"
    raise ArtifactError(
        f"no model artifact {str(name_or_path)!r}: not a folder with {CARD_FILE} and not a "
        f"known name (known: {known})"
    )


def read_card(folder: Path) -> dict:
    try:
        card = json.loads((folder / CARD_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{folder / CARD_FILE}: unreadable model card ({exc})") from exc
    missing = [k for k in ("name", "kind", "version", "architecture", "weights_files",
                           "weights_sha256") if k not in card]  # fmt: skip
    if missing:
        raise ArtifactError(f"{folder / CARD_FILE}: model card lacks {', '.join(missing)}")
    return card


def load_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``weights``, never unpickling anything but tensors and containers."""
    if not zipfile.is_zipfile(weights):
        raise ArtifactError(
            f"{weights}: not a torch zip archive (a raw or legacy pickle?); refusing to load it"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends, all refusals
        raise ArtifactError(
            f"{weights}: refused by torch.load(weights_only=True): the file holds objects other "
            f"than tensors (possibly malicious); it was not executed ({type(exc).__name__})"
        ) from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ArtifactError(f"{weights}: not a state_dict of tensors")
    return state


def _verified_weights(folder: Path, card: dict) -> list[Path]:
    """The card's weights files, each checked against its sha256 (ArtifactError otherwise)."""
    paths = []
    for entry in card["weights_files"]:
        name = str(entry["file"])
        if Path(name).name != name or name in ("", ".", ".."):
            raise ArtifactError(f"{folder / CARD_FILE}: weights file {name!r} is not a plain name")
        weights = folder / name
        if not weights.is_file():
            raise ArtifactError(f"{weights}: missing weights file")
        if os.path.dirname(os.path.realpath(weights)) != os.path.realpath(folder):
            raise ArtifactError(
                f"{weights}: resolves to {os.path.realpath(weights)}, outside the artifact "
                "folder; refusing weights from elsewhere"
            )
        digest = sha256_file(weights)
        if digest != entry["sha256"]:
            raise ArtifactError(
                f"{weights}: sha256 {digest} does not match the model card's "
                f"{entry['sha256']}; refusing a modified or corrupted artifact"
            )
        paths.append(weights)
    return paths


def _load_text_model(folder: Path, card: dict) -> Artifact:
    """A kind whose weights are one library text model (``vartype``: LightGBM's): verified,
    refused unless plain UTF-8 text, then parsed by the kind's model (nothing is executed)."""
    (weights,) = _verified_weights(folder, card)
    raw = weights.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or raw[:1] == b"\x80" or "\x00" in text:
        raise ArtifactError(
            f"{weights}: not a plain-text model (a pickle or other binary?); refusing to load it"
        )
    try:
        model = build_network(card["kind"], card["architecture"])
        model.load_text(text)
    except Exception as exc:  # the parser's errors and a kind without text models: refusals
        raise ArtifactError(f"{folder}: model text does not load: {exc}") from exc
    return Artifact(card, model, folder)


def _network_fitting(folder: Path, card: dict, state: dict[str, torch.Tensor]) -> nn.Module:
    """The card's network, first built without memory (torch's meta device) so that an
    architecture asking for more bytes than its weights hold is refused before allocating
    (a card asking for 10^15 bytes must not take the machine with it)."""
    try:
        with torch.device("meta"):
            shape = build_network(card["kind"], card["architecture"])
        needed = sum(t.numel() * t.element_size() for t in shape.state_dict().values())
        held = sum(t.numel() * t.element_size() for t in state.values())
        if needed > 2 * held + 1_000_000:
            raise ArtifactError(
                f"{folder}: the card's architecture needs {needed:.3g} bytes of weights, its "
                f"weights files hold {held:.3g}; refusing it"
            )
        return build_network(card["kind"], card["architecture"])
    except (UsageError, TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"{folder}: cannot build the card's architecture: {exc}") from exc


def load_artifact(name_or_path: str | Path, *, device: str = "cpu") -> Artifact:
    """Load an artifact by folder or by name, verifying the weights' sha256 first.

    Refuses (``ArtifactError``): a missing card or weights file, a sha256 different from the
    card's, a file that is not a torch zip archive, anything ``weights_only=True`` rejects,
    and a state_dict that does not fit the card's architecture.
    """
    folder = resolve_artifact(name_or_path)
    card = read_card(folder)
    files = card["weights_files"]
    if _weights_digest(files) != card["weights_sha256"]:
        raise ArtifactError(
            f"{folder / CARD_FILE}: its shard list does not match its weights_sha256"
        )
    if card.get("weights_format") == TEXT_FORMAT:
        return _load_text_model(folder, card)
    state: dict[str, torch.Tensor] = {}
    for weights in _verified_weights(folder, card):
        shard = load_state_dict(weights)
        if state.keys() & shard.keys():
            raise ArtifactError(f"{weights}: repeats tensors of another weights file")
        state.update(shard)
    model = _network_fitting(folder, card, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ArtifactError(f"{folder}: weights do not fit the card's architecture: {exc}") from exc
    model.eval()
    return Artifact(card, model.to(device), folder)


def annotate_artifact(name_or_path: str | Path, key: str, value: object) -> dict:
    """Set one card field (e.g. an evaluation report) without touching the weights.

    Why: evaluations on real data come after training; the card is where a reader looks.
    The fields that describe the weights themselves cannot be changed this way.
    """
    protected = {"name", "kind", "version", "architecture", "weights_files",
                 "weights_sha256", "weights_bytes", "parameter_count", "representation",
                 "training_data"}  # fmt: skip
    if key in protected:
        raise ValueError(f"card field {key!r} describes the weights; retrain instead")
    folder = resolve_artifact(name_or_path)
    card = read_card(folder)
    card[key] = value
    _write_card(card, folder)
    return card


def list_artifacts() -> list[ArtifactSummary]:
    """Every artifact in :func:`search_path` (first occurrence of a name wins)."""
    seen: dict[str, ArtifactSummary] = {}
    for root in search_path():
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if (p / CARD_FILE).is_file()):
            try:
                card = read_card(folder)
            except ArtifactError:
                continue
            if folder.name in seen:
                continue
            seen[folder.name] = ArtifactSummary(
                name=str(card["name"]),
                kind=str(card["kind"]),
                version=str(card["version"]),
                path=str(folder),
                parameters=int(card.get("parameter_count", 0)),
                created=str(card.get("created", "")),
                weights_sha256=str(card["weights_sha256"]),
                metrics={
                    k: v for k, v in card.get("metrics", {}).items() if isinstance(v, int | float)
                },
            )
    return list(seen.values())
