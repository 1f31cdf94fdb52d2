"""The transport's partitioner is Kafka's default one: the same partition as aiokafka's (and so
the Java client's) for every key, or a subject would land in two partitions and lose its order."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from adapters.kafka import partitioning
from adapters.kafka.partitioning import murmur2, partition_of


def test_murmur2_is_aiokafkas_for_keys_of_every_length() -> None:
    draw = random.Random(20261127)
    for length in range(0, 130):
        for _ in range(20):
            key = draw.randbytes(length)
            assert murmur2(key) == aiokafka_murmur2(key), key


def test_partition_of_is_the_default_partitioners() -> None:
    draw = random.Random(7)
    keys = [f"000.00.00.H49-240502-{n:04d}".encode() for n in range(500)]
    keys += ["hồ-sơ/1".encode(), b"", b"\xff" * 33]
    keys += [draw.randbytes(draw.randrange(1, 64)) for _ in range(500)]
    for count in (1, 3, 4, 8, 32):
        partitions = list(range(count))
        for key in keys:
            assert partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_the_cache_of_hashes_stays_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partitioning, "MAX_CACHED_KEYS", 8)
    monkeypatch.setattr(partitioning, "_hashes", {})
    keys = [f"H49-{n}".encode() for n in range(30)] + [b"k" * (partitioning.MAX_CACHED_KEY_BYTES + 1)]
    partitions = list(range(8))
    for _ in range(3):
        for key in keys:
            assert partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
            assert len(partitioning._hashes) <= 8
    assert keys[-1] not in partitioning._hashes
