"""The relay's partitioning hash is the producer's own, byte for byte."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner, murmur2

from shared.outbox import key_partition


def test_a_key_lands_where_the_default_partitioner_puts_it() -> None:
    partitioner = DefaultPartitioner()
    for n in (1, 3, 6, 12):
        parts = list(range(n))
        for i in range(500):
            key = f"student-{i}"
            assert key_partition(key.encode(), n) == partitioner(key.encode(), parts, parts)


def test_every_length_and_any_bytes_hash_as_aiokafkas_murmur2() -> None:
    rng = random.Random(7)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", "学员-001".encode()]
    keys += [rng.randbytes(rng.randint(0, 64)) for _ in range(3000)]
    for n in (1, 7, 12):
        for key in keys:
            assert key_partition(key, n) == (murmur2(key) & 0x7FFFFFFF) % n, key
