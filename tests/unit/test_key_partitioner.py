"""The relays' partitioner places every key where aiokafka's default (the Java client's
murmur2) does: the partition of a unit-year's events is part of the ordering contract."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner

from shared.infra.kafka import key_partitioner


def test_keys_go_to_the_default_partitioners_partition() -> None:
    rng = random.Random(20261202)
    default = DefaultPartitioner()
    keys = [f"U{rng.randint(0, 10**9)}:{rng.choice([2024, 2025])}".encode() for _ in range(2000)]
    keys += ["Tổ dân phố số 1:2025".encode(), b"", b"\x00\xff" * 9]
    for partitions in ([0], [0, 1, 2], list(range(12))):
        for key in keys + keys[:50]:  # the second time from the cache
            assert key_partitioner(key, partitions, partitions) == default(key, partitions, partitions)


def test_a_keyless_record_goes_to_an_available_partition() -> None:
    assert key_partitioner(None, [0, 1, 2], [2]) == 2
    assert key_partitioner(None, [0, 1, 2], []) in (0, 1, 2)
