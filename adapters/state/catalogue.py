"""The portal connector's procedure catalogue as rows: what a store of it keeps, whatever the
database. One SQLite file on a single machine (:mod:`.catalogue_sqlite`), the shared state
database for a bus of several processes (:mod:`.catalogue_postgres`), so that every process
answers the scorecard and the needs report from the same catalogue. Entries and reports are JSON
bytes as the connector (:mod:`connectors.portal.catalogue`) wrote them, each with its digest."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple, Protocol


class EntryRow(NamedTuple):
    code: str
    entry: bytes  # JSON
    digest: str


class CatalogueRows(Protocol):
    """One portal connector's catalogue. The shared database out of reach raises
    :class:`router.state.StateUnavailable`."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def digests(self) -> dict[str, tuple[str, bool]]:
        """Procedure code -> (digest, withdrawn)."""
        ...

    async def apply(
        self,
        procedures: Sequence[EntryRow],
        withdrawn: Collection[str],
        returned: Collection[str],
        registers: Mapping[str, Sequence[EntryRow]],
        report: bytes,
        now: float,
    ) -> dict[str, int]:
        """Writes one sync in one transaction: the procedures read (listed again), those withdrawn
        and returned, each register's whole list (an entry missing from it is withdrawn), and the
        report when anything changed; answers, per register, how many entries changed."""
        ...

    async def last_sync(self) -> float | None: ...

    async def procedures(self, withdrawn: bool) -> list[bytes]:
        """The entries listed (and with ``withdrawn`` those no longer), by code."""
        ...

    async def counts(self) -> dict[str, int]:
        """``listed`` and ``withdrawn`` procedures."""
        ...
