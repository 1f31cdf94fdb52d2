"""The evidence cache: full records as providers released them, for a dataset's TTL.

Keyed by dataset and the request's identifiers (whose data), never by requester: the record is
minimised for each request after the cache, so one requester's purpose never shapes what another
gets. Sensitive datasets never reach it (:attr:`Dataset.cacheable`). Bounded: the least recently
used entry goes first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

CacheKey = tuple[str, tuple[tuple[str, str], ...]]


def cache_key(dataset: str, key: Mapping[str, str]) -> CacheKey:
    return dataset, tuple(sorted(key.items()))


@dataclass(frozen=True, slots=True)
class Cached:
    record: dict[str, Any]
    provider: str
    retrieved_at: float  # wall clock, seconds since the epoch
    expires: float  # on the cache's clock


class EvidenceCache:
    def __init__(self, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, Cached] = OrderedDict()
        # bumped by forget(): a record fetched under an earlier generation is not kept
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> Cached | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self,
        key: CacheKey,
        record: dict[str, Any],
        provider: str,
        retrieved_at: float,
        ttl_s: float,
        *,
        generation: int | None = None,
    ) -> None:
        """Keeps a record; not if ``generation`` (the cache's when the lookup started) has
        passed: a reload dropped what that lookup was made under."""
        if generation is not None and generation != self.generation:
            return
        self._entries[key] = Cached(record, provider, retrieved_at, self._clock() + ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, datasets: Collection[str]) -> int:
        """Drops the records of these datasets (their definition or their provider changed);
        returns how many went."""
        self.generation += 1  # lookups in flight were made under the configuration that ends
        gone = [key for key in self._entries if key[0] in datasets]
        for key in gone:
            del self._entries[key]
        return len(gone)
