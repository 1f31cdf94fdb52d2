"""Which partition a key goes to: Kafka's default partitioner (murmur2 of the key), as Java clients
and aiokafka compute it, so that an agency producing straight into a topic with any client puts a
subject in the same partition as the bus does.

The transport computes it itself because it hands aiokafka whole batches per partition
(``send_batch``) instead of one message at a time. aiokafka's own ``murmur2`` is a literal port
of the Java code (a mask after every operation, four indexings per word); this one reads the
words with ``struct`` and masks once per step, at less than half the cost per key.
The unit tests check it against aiokafka's on random keys of every length.

Even so a hash costs more than everything else the transport does for a message, and keys repeat:
a key is an event's subject, and the events of a subject come in runs (a dossier's steps). So
:func:`partition_of` keeps the hashes of the keys it saw last, a bounded cache.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32 bits, Kafka's seed) of ``data``: ``org.apache.kafka.common.utils.Utils.murmur2``."""
    length = len(data)
    h = _SEED ^ length
    words = length >> 2
    if words:
        for word in struct.unpack_from(f"<{words}I", data):
            k = (word * _M) & _MASK
            # the low 32 bits of a xor depend only on those of its operands: one mask for both
            h = ((h * _M) ^ ((k ^ (k >> 24)) * _M)) & _MASK
    extra = length & 3
    if extra:
        tail = length & ~3
        if extra == 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


# The cache of hashes: emptied when it holds this many keys; longer keys are not kept (its size
# stays under a few MiB).
MAX_CACHED_KEYS = 1 << 14
MAX_CACHED_KEY_BYTES = 128
_hashes: dict[bytes, int] = {}


def partition_of(key: bytes, partitions: Sequence[int]) -> int:
    """The partition of a keyed message among a topic's ``partitions`` (sorted by id)."""
    positive = _hashes.get(key)
    if positive is None:
        positive = murmur2(key) & 0x7FFFFFFF
        if len(key) <= MAX_CACHED_KEY_BYTES:
            if len(_hashes) >= MAX_CACHED_KEYS:
                _hashes.clear()
            _hashes[key] = positive
    return partitions[positive % len(partitions)]
