from __future__ import annotations

from router.evidence.cache import EvidenceCache, cache_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = EvidenceCache(clock=clock)
    key = cache_key("citizen.identity", {"personal_id": "1"})
    cache.put(key, {"a": 1}, "population", 100.0, ttl_s=10)
    clock.now = 9.9
    hit = cache.get(key)
    assert hit is not None and hit.record == {"a": 1} and hit.provider == "population"
    clock.now = 10.0
    assert cache.get(key) is None and len(cache) == 0


def test_the_key_is_dataset_and_subject_and_the_least_recently_used_goes_first() -> None:
    cache = EvidenceCache(max_entries=2, clock=Clock())
    a, b, c = (cache_key("d", {"k": v}) for v in "abc")
    assert cache_key("d", {"x": "1", "y": "2"}) == cache_key("d", {"y": "2", "x": "1"})
    assert cache_key("d", {"k": "a"}) != cache_key("e", {"k": "a"})
    cache.put(a, {}, "p", 0, 60)
    cache.put(b, {}, "p", 0, 60)
    assert cache.get(a) is not None  # a is now the most recent
    cache.put(c, {}, "p", 0, 60)
    assert cache.get(b) is None and cache.get(a) is not None and cache.get(c) is not None


def test_a_lookup_that_started_before_a_reload_dropped_its_dataset_is_not_kept() -> None:
    cache = EvidenceCache(clock=Clock())
    key = cache_key("business.registration", {"tax_code": "0100109106"})
    started = cache.generation  # a lookup starts...
    cache.forget({"business.registration"})  # ...a reload moves the dataset to another registry...
    cache.put(key, {"old": True}, "business", 0.0, ttl_s=60, generation=started)  # ...it ends
    assert cache.get(key) is None
    cache.put(key, {"new": True}, "business", 0.0, ttl_s=60, generation=cache.generation)
    hit = cache.get(key)
    assert hit is not None and hit.record == {"new": True}
