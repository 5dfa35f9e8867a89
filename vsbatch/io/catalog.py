"""The output catalog: Hive-partitioned Parquet, a failures table, and the manifest commit point.

Layout (the contract SQL engines rely on)::

    CATALOG/part=o3p5/part-o3p5-<run>.parquet   one row per (source_id, band)
    CATALOG/_failures-<run>.parquet       every light curve not processed, with stage and reason
    CATALOG/_manifest.json                written last: the commit point
    CATALOG/_staging/<run_id>/            work in progress, never table data
    CATALOG/_lock                         held by the run writing the catalog (pid, host, start)
    CATALOG/_readers                      shared-locked by vsbatch readers during a query

The table is every Parquet file whose path has no component starting with ``_`` or ``.``.
Partition files are written in the staging folder and moved into place only at commit, each by
an atomic rename, so no reader ever sees a half-written file; ``open_catalog`` reads exactly the
files the manifest lists. Every file a manifest points to carries its run id, so replacing
the manifest is the one switch from the previous catalog to the new one. The files only the
previous manifest lists are then removed, unless a reader holds ``_readers`` (``reading``):
then they stay until the next commit, so a query that started on them finishes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from vsbatch.errors import UsageError
from vsbatch.io.hats import (
    HATS,
    HATS_DATA_GLOB,
    HIVE,
    pixel_file,
    remove_hats_metadata,
    write_hats_metadata,
)
from vsbatch.schema import (
    DATA_FILE_SUFFIX,
    FAILURES_GLOB,
    LOCK_FILE,
    MANIFEST_FILE,
    PARTITION_KEY,
    READERS_FILE,
    STAGING_DIR,
    table_schema,
)

PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True}


def partition_file(partition: str, run_id: str, layout: str = HIVE) -> str:
    """Path of a partition's data file relative to the catalog root.

    The run id in the name means a new run never overwrites a committed file: the previous
    manifest stays true until the new one replaces it.
    """
    name = f"part-{partition}-{run_id}{DATA_FILE_SUFFIX}"
    if layout == HATS:
        return pixel_file(partition, name)
    return f"{PARTITION_KEY}={partition}/{name}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path, *, fsync: bool = True) -> Iterator[Path]:
    """A hidden temporary path beside ``path`` to write to; when the block ends without an
    error it is fsynced and renamed over ``path``, else removed. Readers never see a partial
    file, and a crash leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)


def write_json_atomic(data: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def write_bytes_atomic(data: bytes, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@dataclass(frozen=True)
class PartitionRecord:
    """A finished partition as the manifest records it."""

    name: str
    file: str | None  # relative to the catalog root; None when no light curve survived
    rows: int
    sources: int
    failures: int
    input_epochs: int
    fingerprint: str  # content hash of the partition's input epochs
    sha256: str | None


@dataclass
class Manifest:
    """``_manifest.json``: what a committed catalog holds and how it was made."""

    run_id: str
    vsbatch_version: str
    created: str
    input: str
    config: dict
    config_hash: str
    partition_tree: list[str]
    partitions: list[PartitionRecord]
    failures_file: str
    failures_rows: int
    carried_columns: list[str]
    source_id_type: str
    stats: dict = field(default_factory=dict)
    models: list[dict] = field(default_factory=list)  # name, kind, path, sha256, version
    layout: str = HIVE  # HATS: HEALPix pixels, HATS metadata, ``part`` stored in the files

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        data = dict(data)
        data["partitions"] = [PartitionRecord(**p) for p in data["partitions"]]
        return cls(**data)

    @property
    def files(self) -> list[str]:
        return [p.file for p in self.partitions if p.file]


def inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refusing absolute paths and ``..`` that would leave ``root``
    (a manifest or journal must never make vsbatch read or delete files elsewhere)."""
    candidate = Path(relative)
    resolved = (Path(root) / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(Path(root).resolve()):
        raise UsageError(f"{what} names {relative!r}, outside {root}; refusing to use it")
    return Path(root) / candidate


def read_manifest(root: Path) -> Manifest | None:
    path = Path(root) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = Manifest.from_json(json.load(fh))
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{path}: not a valid vsbatch manifest ({exc})") from exc
    for rel in [*manifest.files, manifest.failures_file]:
        inside(root, rel, str(path))
    return manifest


def check_output_state(root: Path, resume: bool, overwrite: bool, update: bool) -> None:
    """Refuse to clobber an existing catalog unless told how to treat it."""
    if sum([resume, overwrite, update]) > 1:
        raise UsageError("choose at most one of --resume, --overwrite, --update")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: the output exists and is not a folder")
    if (root / STAGING_DIR).is_symlink():
        raise UsageError(f"{root / STAGING_DIR}: a symbolic link; a run's scratch space is never "
                         "followed elsewhere: remove the link")  # fmt: skip
    if not root.exists() or resume or overwrite or update:
        return
    if (root / MANIFEST_FILE).exists() or (root / STAGING_DIR).exists():
        raise UsageError(
            f"{root} already holds a catalog (or an interrupted run); use --resume to continue, "
            "--overwrite to replace it, or --update to recompute what changed"
        )
    if any(p.name != LOCK_FILE for p in root.iterdir()):
        raise UsageError(f"{root} exists and is not an empty folder or a vsbatch catalog")


def commit(root: Path, staging: Path, manifest: Manifest, failures: pa.Table) -> None:
    """Move staged partition files into place, write the failures table, then the manifest.

    Every file the new manifest points to is named with its run id, so nothing the previous
    manifest points to is replaced: a crash or a failed write at any point leaves the previous
    catalog whole. The previous commit's files go after the switch, or, while a reader holds
    ``_readers``, at the next commit (which first removes every file neither manifest lists,
    such as those of a commit that crashed). A HATS catalog's metadata is written (each file
    renamed into place) just before the failures.
    """
    root = Path(root)
    previous = read_manifest(root)
    keep = {*manifest.files, manifest.failures_file}
    if previous is not None:
        keep |= {*previous.files, previous.failures_file}
    for pattern in (f"{PARTITION_KEY}=*/part-*{DATA_FILE_SUFFIX}", HATS_DATA_GLOB, FAILURES_GLOB):
        for stale in root.glob(pattern):
            if stale.relative_to(root).as_posix() not in keep:
                stale.unlink()
                if stale.parent != root:
                    with contextlib.suppress(OSError):  # not empty: other files remain
                        stale.parent.rmdir()
    for rel in manifest.files:
        src, dst = inside(staging, rel, "journal"), inside(root, rel, "journal")
        if src.exists():  # else already moved by a commit that crashed part-way
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    if manifest.layout == HATS and manifest.files:
        write_hats_metadata(root, manifest.files, staging.parent / HATS)
    write_parquet_atomic(failures, inside(root, manifest.failures_file, "manifest"))
    write_json_atomic(manifest.to_json(), root / MANIFEST_FILE)
    if manifest.layout != HATS or not manifest.files:
        remove_hats_metadata(root)  # it would describe the superseded files
    old = {*previous.files, previous.failures_file} if previous is not None else set()
    _remove_unless_read(root, old - {*manifest.files, manifest.failures_file})
    shutil.rmtree(root / STAGING_DIR, ignore_errors=True)


def _remove_unless_read(root: Path, superseded: set[str]) -> None:
    """Remove the superseded files now, unless a reader holds ``_readers`` (created here by
    the first commit; the next commit removes them then): folder readers must not see two
    commits' rows, running queries must not lose their files."""
    fd = os.open(root / READERS_FILE, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        for rel in superseded:
            with contextlib.suppress(FileNotFoundError):
                (root / rel).unlink()
            if (root / rel).parent != root:
                with contextlib.suppress(OSError):  # not empty: other files remain
                    (root / rel).parent.rmdir()
    finally:
        os.close(fd)


@contextlib.contextmanager
def reading(root: str | os.PathLike) -> Iterator[None]:
    """Hold a shared lock on ``root/_readers`` while reading a catalog (take it before
    reading the manifest): a commit meanwhile keeps the files it supersedes until the next
    one. A catalog without the file (read-only, or older) has nothing to hold."""
    try:
        fd = os.open(Path(root) / READERS_FILE, os.O_RDONLY)
    except OSError:
        fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def output_lock(root: Path) -> Iterator[None]:
    """Hold ``root/_lock`` while a run writes the catalog; a second run is refused naming the
    holder. Why: two runs committing to one catalog would delete each other's files. The lock
    is the kernel's (``flock``), so a crashed or killed run never leaves it held."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or "unknown"
            raise UsageError(
                f"{root}: another run is writing this catalog ({holder}); wait for it to end "
                "or choose another output"
            ) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Catalog:
    """A committed catalog, read through its manifest (never a half-written or stale file)."""

    root: Path
    manifest: Manifest

    @property
    def files(self) -> list[Path]:
        return [self.root / f for f in self.manifest.files]

    @property
    def hive_partitioned(self) -> bool:
        """Whether ``part`` is a Hive folder key (else, in a HATS catalog, a stored column)."""
        return self.manifest.layout != HATS

    def dataset(self) -> ds.Dataset:
        """The committed files as one Arrow dataset, with the ``part`` column (needs files)."""
        hive = ds.partitioning(pa.schema([(PARTITION_KEY, pa.string())]), flavor="hive")
        return ds.dataset(
            [str(f) for f in self.files],
            format="parquet",
            partitioning=hive if self.hive_partitioned else None,
            partition_base_dir=str(self.root),
        )

    def to_table(self, columns: list[str] | None = None) -> pa.Table:
        """The committed rows, with the ``part`` column, sorted by partition file."""
        if not self.files:
            return pa.table({})
        return self.dataset().to_table(columns=columns)

    def to_pandas(self, columns: list[str] | None = None):
        return self.to_table(columns).to_pandas()

    def failures(self) -> pa.Table:
        path = self.root / self.manifest.failures_file
        if not path.exists():
            return table_schema("failures").arrow().empty_table()
        return pq.read_table(path)


def open_catalog(path: str | os.PathLike) -> Catalog:
    """Open a committed catalog; raises UsageError when no manifest is there."""
    root = Path(path)
    manifest = read_manifest(root)
    if manifest is None:
        raise UsageError(f"{root}: no {MANIFEST_FILE}; not a committed vsbatch catalog")
    return Catalog(root, manifest)
