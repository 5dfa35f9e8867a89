"""Which partition a source belongs to: a stable function of its id, bounded by cost.

Each source id is hashed to a 64-bit key (BLAKE2b, so the same id gets the same key on every
machine and Python version). Partitions are the leaves of a binary tree over key prefixes, like
HEALPix orders over the sky: a leaf ``(order, prefix)`` holds every key whose top ``order``
bits equal ``prefix``. A leaf whose cost (sum of epochs) exceeds the bound is split in two,
down to single sources. Reusing a previous run's tree keeps every source in its partition, so
an update touches only the partitions whose sources changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_KEY_BITS = 64
_MAX_ORDER = 40
# A small input is still split into about this many partitions (so every worker of a small
# cluster gets work from the first source), but none cheaper than MIN_PARTITION_EPOCHS (a few
# hundred ms of work, against a task's fixed cost of a few ms).
MIN_PARTITIONS = 16
MIN_PARTITION_EPOCHS = 5_000


def partition_bound(total_cost: int, max_cost: int) -> int:
    """The cost bound of a plan: ``max_cost``, lowered for a small input so that it splits into
    about MIN_PARTITIONS partitions. It depends on the input alone, never on the number of
    workers, so any number of workers writes the same catalog."""
    share = -(-int(total_cost) // MIN_PARTITIONS)
    return min(max_cost, max(MIN_PARTITION_EPOCHS, share))


def source_keys(ids: pa.Array | np.ndarray | list) -> np.ndarray:
    """uint64 hash keys of source ids (integers hash as their decimal text)."""
    values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else list(ids)
    out = np.empty(len(values), dtype=np.uint64)
    for i, v in enumerate(values):
        digest = hashlib.blake2b(str(v).encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big")
    return out


@dataclass(frozen=True)
class Partition:
    """A leaf of the key tree."""

    order: int
    prefix: int

    @property
    def name(self) -> str:
        return f"o{self.order}p{self.prefix}"  # a letter first: SQL engines keep it text

    @property
    def key_start(self) -> int:
        return self.prefix << (_KEY_BITS - self.order) if self.order else 0

    @classmethod
    def from_name(cls, name: str) -> Partition:
        order, prefix = name[1:].split("p")
        return cls(int(order), int(prefix))


@dataclass(frozen=True)
class PartitionTree:
    """The leaves, covering the whole key space, sorted by key."""

    leaves: tuple[Partition, ...]

    def __post_init__(self) -> None:
        starts = [leaf.key_start for leaf in self.leaves]
        if not self.leaves or starts[0] != 0 or starts != sorted(starts):
            raise ValueError("partition leaves must cover the key space in key order")

    @property
    def names(self) -> list[str]:
        return [leaf.name for leaf in self.leaves]

    def _starts(self) -> np.ndarray:
        return np.array([leaf.key_start for leaf in self.leaves], dtype=np.uint64)

    def assign(self, keys: np.ndarray) -> np.ndarray:
        """Index of the leaf holding each key."""
        return np.searchsorted(self._starts(), keys, side="right") - 1

    def leaves_of_rows(self, table: pa.Table) -> np.ndarray:
        """Leaf index of every row of a long table (by the hash of its source id)."""
        unique = pc.unique(table.column("source_id"))
        row_unique = pc.index_in(table.column("source_id"), value_set=unique).to_numpy()
        return self.assign(source_keys(unique))[row_unique]

    def refine(self, keys: np.ndarray, costs: np.ndarray, max_cost: int) -> PartitionTree:
        """Split every leaf whose sources cost more than ``max_cost`` (existing leaves are kept)."""
        order = np.argsort(keys, kind="stable")
        keys, costs = keys[order], costs[order]
        cum = np.concatenate([[0], np.cumsum(costs, dtype=np.int64)])
        out: list[Partition] = []
        for leaf in self.leaves:
            _split(leaf, keys, cum, max_cost, out)
        return PartitionTree(tuple(out))

    @classmethod
    def build(cls, keys: np.ndarray, costs: np.ndarray, max_cost: int) -> PartitionTree:
        """The coarsest tree whose leaves cost at most ``max_cost`` (single sources excepted)."""
        return cls((Partition(0, 0),)).refine(keys, costs, max_cost)

    def to_json(self) -> list[str]:
        return self.names

    @classmethod
    def from_json(cls, names: list[str]) -> PartitionTree:
        return cls(tuple(Partition.from_name(n) for n in names))


def _key_range(leaf: Partition, keys: np.ndarray) -> tuple[int, int]:
    lo = np.searchsorted(keys, np.uint64(leaf.key_start), side="left")
    if leaf.order == 0:
        return int(lo), len(keys)
    end = (leaf.prefix + 1) << (_KEY_BITS - leaf.order)
    hi = len(keys) if end >= 1 << _KEY_BITS else np.searchsorted(keys, np.uint64(end), "left")
    return int(lo), int(hi)


def _split(
    leaf: Partition, keys: np.ndarray, cum: np.ndarray, max_cost: int, out: list[Partition]
) -> None:
    lo, hi = _key_range(leaf, keys)
    if cum[hi] - cum[lo] <= max_cost or hi - lo <= 1 or leaf.order >= _MAX_ORDER:
        out.append(leaf)
        return
    for child in (0, 1):
        _split(Partition(leaf.order + 1, 2 * leaf.prefix + child), keys, cum, max_cost, out)
