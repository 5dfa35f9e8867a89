"""Partitions: a stable function of the source id, bounded by cost, refined locally on update."""

from __future__ import annotations

import numpy as np

from vsbatch.partitioning import (
    MIN_PARTITION_EPOCHS,
    MIN_PARTITIONS,
    Partition,
    PartitionTree,
    partition_bound,
    source_keys,
)


def test_keys_are_stable_and_type_independent() -> None:
    keys = source_keys(["OGLE-BLG-RRLYR-02950", "42"])
    # BLAKE2b-64 of the UTF-8 text: fixed forever, whatever the machine or Python
    assert keys.tolist() == source_keys(["OGLE-BLG-RRLYR-02950", 42]).tolist()
    assert keys[0] != keys[1]


def test_tree_bounds_cost_and_covers_all_keys(rng: np.random.Generator) -> None:
    ids = [f"src-{i}" for i in range(5000)]
    keys = source_keys(ids)
    costs = rng.integers(10, 600, size=len(ids))
    costs[17] = 50_000  # one heavy source (a Mira with many epochs) sits alone
    tree = PartitionTree.build(keys, costs, max_cost=20_000)
    leaf = tree.assign(keys)
    per_leaf = np.bincount(leaf, weights=costs, minlength=len(tree.leaves))
    heavy = leaf[17]
    assert per_leaf[heavy] == 50_000 and (leaf == heavy).sum() == 1
    assert (np.delete(per_leaf, heavy) <= 20_000).all()
    assert per_leaf.sum() == costs.sum()
    assert PartitionTree.from_json(tree.to_json()) == tree


def test_refine_keeps_untouched_partitions() -> None:
    ids = [f"s{i}" for i in range(2000)]
    keys, costs = source_keys(ids), np.full(2000, 100)
    tree = PartitionTree.build(keys, costs, max_cost=30_000)
    more = source_keys([f"new{i}" for i in range(400)])
    grown = tree.refine(np.r_[keys, more], np.r_[costs, np.full(400, 100)], max_cost=30_000)
    before, after = set(tree.names), set(grown.names)
    assert len(before - after) >= 1 and len(before & after) >= 1
    # every old source keeps its partition unless that partition was split
    old_names = [tree.names[i] for i in tree.assign(keys)]
    new_names = [grown.names[i] for i in grown.assign(keys)]
    for o, n in zip(old_names, new_names, strict=True):
        assert o == n or o not in after
    assert Partition.from_name("o3p5") == Partition(3, 5)


def test_small_inputs_get_several_partitions_whatever_the_workers() -> None:
    """The bound falls with the input's size alone, to MIN_PARTITIONS partitions at most."""
    assert partition_bound(10**9, 100_000) == 100_000
    assert partition_bound(90_001, 100_000) == 90_000 // MIN_PARTITIONS + 1
    assert partition_bound(1_000, 100_000) == MIN_PARTITION_EPOCHS
    assert partition_bound(90_000, 2_000) == 2_000  # a lower bound asked for is kept
    rng = np.random.default_rng(3)
    costs = rng.integers(200, 400, 300)
    keys = source_keys(np.arange(300))
    tree = PartitionTree.build(keys, costs, partition_bound(int(costs.sum()), 100_000))
    assert len(tree.leaves) >= MIN_PARTITIONS
