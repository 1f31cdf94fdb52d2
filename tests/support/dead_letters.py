"""An in-memory :class:`router.ports.DeadLetterStore` for tests of delivery logic."""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Sequence

from router.ports import DeadLetter, DeadLetterQuery, NewDeadLetter


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        # set to make the next calls of add() fail, as a broken disk would
        self.fail_with: Exception | None = None
        self.add_calls = 0
        self._last_id = 0  # ids are never reused
        # (subscription, subject) -> the highest letter id when a purge ended its hold; a new
        # letter of the subject takes its entry away
        self.purges: dict[tuple[str, str], int] = {}

    async def add(self, letters: Sequence[NewDeadLetter]) -> None:
        self.add_calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        held = {(d.subscription, d.event_id, d.message.offset) for d in self.letters}
        for new in letters:
            if (new.subscription, new.event_id, new.message.offset) in held:
                continue
            self._last_id += 1
            self.purges.pop((new.subscription, new.subject), None)
            self.letters.append(
                DeadLetter(
                    id=self._last_id,
                    subscription=new.subscription,
                    event_id=new.event_id,
                    subject=new.subject,
                    reason=new.reason,
                    attempts=new.attempts,
                    last_error=new.last_error,
                    failed_at_ms=int(time.time() * 1000),
                    message=new.message,
                )
            )

    async def list(self, query: DeadLetterQuery) -> list[DeadLetter]:
        out = [
            d
            for d in self.letters
            if (query.subscription is None or d.subscription == query.subscription)
            and (query.include_replayed or d.replayed_at_ms is None)
            and d.id > query.after_id
            and (query.subject is None or d.subject == query.subject)
            and (not query.ids or d.id in query.ids)
        ]
        return out[: query.limit]

    async def mark_replayed(self, ids: Sequence[int]) -> None:
        now = int(time.time() * 1000)
        self.letters = [
            dataclasses.replace(d, replayed_at_ms=now) if d.id in ids else d for d in self.letters
        ]

    async def purge(self, ids: Sequence[int]) -> None:
        touched = {(d.subscription, d.subject) for d in self.letters if d.id in ids}
        self.letters = [d for d in self.letters if d.id not in ids]
        for subscription, subject in touched:
            if not self._letters_of(subscription, subject):
                self.purges[subscription, subject] = self._last_id

    async def purged_holds(self, subscription: str, subjects: Sequence[str]) -> frozenset[str]:
        return frozenset(
            subject
            for subject in subjects
            if (subscription, subject) in self.purges and not self._letters_of(subscription, subject)
        )

    def _letters_of(self, subscription: str, subject: str) -> bool:
        return any((d.subscription, d.subject) == (subscription, subject) for d in self.letters)

    async def held_subjects(self, subscription: str) -> frozenset[str]:
        return frozenset(
            d.subject for d in self.letters if d.subscription == subscription and d.replayed_at_ms is None
        )

    async def count(self, subscription: str) -> int:
        return sum(1 for d in self.letters if d.subscription == subscription and d.replayed_at_ms is None)

    def of(self, subscription: str) -> builtins.list[DeadLetter]:
        return [d for d in self.letters if d.subscription == subscription]
