"""The procedure catalogue from the portal (reference portal-dvcqg.md §2.6, §2.7): the list of
procedures (``LayDanhSachTTHC``), each procedure (``LayThuTuc``), the agencies
(``LayDanhMucCoQuan``) and the fields (``LayDanhMucLinhVuc``), kept as the bus's catalogue so a
province does not write its ~2,000 procedures by hand.

A sync is idempotent: each entry is stored with the digest of what the portal said of it, and a
second sync of an unchanged catalogue writes nothing and says so. An entry the portal no longer
lists is marked withdrawn (``gone_since``), never deleted: dossiers of it remain and the scorecard
still names it; it comes back unmarked if the portal lists it again. A list that fails, or is
empty, changes nothing (an outage must not withdraw a province's catalogue).

Bounded: a reply with more items than ``max_items``, an item that is not the shape of §2.6/§2.7,
or text longer than a real catalogue holds is refused with :class:`CatalogueError`, naming what and
where; the HTTP layer's own cap (``max_reply_bytes``) bounds the bytes.

The portal is reached through :class:`CatalogueCalls`, a port: one call of a service on an
endpoint, answering the reply's ``result`` array.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import orjson

from adapters.state.catalogue import CatalogueRows, EntryRow
from adapters.state.catalogue_sqlite import SqliteCatalogue

T = TypeVar("T")

Endpoint = Literal["integration", "share"]
LIST = "LayDanhSachTTHC"
PROCEDURE = "LayThuTuc"
AGENCIES = "LayDanhMucCoQuan"
FIELDS = "LayDanhMucLinhVuc"

DEFAULT_MAX_ITEMS = 20000
SHOWN = 20  # failures a report's lines name one by one
MAX_CODE = 64
MAX_NAME = 2000
ONLINE_CHANNEL = 2  # KENH: 1 direct, 2 online, 3 postal
# DONVITINH of THOIGIANGIAIQUYET -> hours; working days are counted as calendar days (the
# portal's calendar of holidays is not public)
_UNIT_HOURS = (("giờ", 1), ("tuần", 168), ("tháng", 720), ("ngày", 24))


class CatalogueError(Exception):
    """The portal's catalogue reply cannot be taken (malformed, oversized) or the call failed."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CatalogueCalls(Protocol):
    """The portal, for the catalogue: one service on one endpoint, its ``result`` array (raises
    CatalogueError when the call fails or the reply has no such array)."""

    async def call(
        self, service: str, fields: Mapping[str, Any], *, endpoint: Endpoint
    ) -> Sequence[Mapping[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class ProcedureEntry:
    code: str  # MATTHC
    name: str  # TENTTHC
    agency: str  # MACOQUANCONGBO, the publishing agency
    published: bool  # TRANGTHAI 1
    fields: tuple[str, ...]  # LINHVUCTHUCHIEN[].MALINHVUC
    channels: tuple[int, ...]  # CACHTHUCTHUCHIEN[].KENH
    performers: tuple[str, ...]  # COQUANTHUCHIEN[].MADONVI
    max_hours: float | None  # the longest THOIGIANGIAIQUYET, in hours (the legal maximum)
    results: tuple[str, ...] = ()  # KETQUATHUCHIEN[].MAKETQUA, the procedure's result codes

    @property
    def result_code(self) -> str | None:
        """The procedure's one result code (MaGiayToKetQua); None when it has none or several,
        since which of several a dossier got is not in the catalogue."""
        return self.results[0] if len(self.results) == 1 else None

    @property
    def online(self) -> bool:
        return ONLINE_CHANNEL in self.channels

    @property
    def legal_maximum(self) -> timedelta | None:
        return None if self.max_hours is None else timedelta(hours=self.max_hours)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "agency": self.agency,
            "published": self.published,
            "fields": list(self.fields),
            "channels": list(self.channels),
            "performers": list(self.performers),
            "max_hours": self.max_hours,
            "results": list(self.results),
        }


# --- reading the portal's replies ------------------------------------------------------------


def _text(item: Mapping[str, Any], key: str, where: str, *, limit: int, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # codes are numeric text; some replies carry numbers
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogueError(f"{where}.{key}: expected a non-empty text, got {type(value).__name__}")
    if len(value) > limit:
        raise CatalogueError(f"{where}.{key}: {len(value)} characters, more than {limit}")
    return value.strip()


def _objects(value: Any, where: str, max_items: int) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: expected an array, got {type(value).__name__}")
    if len(value) > max_items:
        raise CatalogueError(f"{where}: {len(value)} items, more than the {max_items} allowed")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise CatalogueError(f"{where}[{i}]: expected an object, got {type(item).__name__}")
    return value


def read_list(items: Sequence[Mapping[str, Any]], max_items: int) -> dict[str, str]:
    """``LayDanhSachTTHC``: code -> name (a code listed twice keeps its first name)."""
    listed: dict[str, str] = {}
    for i, item in enumerate(_objects(list(items), LIST, max_items)):
        code = _text(item, "MATTHC", f"{LIST}[{i}]", limit=MAX_CODE)
        listed.setdefault(code, _text(item, "TENTTHC", f"{LIST}[{i}]", limit=MAX_NAME))
    return listed


def read_register(
    items: Sequence[Mapping[str, Any]], service: str, code_key: str, keys: Sequence[str], max_items: int
) -> dict[str, dict[str, str]]:
    """An agencies or fields register: code -> its fields."""
    out: dict[str, dict[str, str]] = {}
    for i, item in enumerate(_objects(list(items), service, max_items)):
        where = f"{service}[{i}]"
        code = _text(item, code_key, where, limit=MAX_CODE)
        out.setdefault(code, {key: _text(item, key, where, limit=MAX_NAME, required=False) for key in keys})
    return out


def _duration_hours(amount: Any, unit: Any) -> float | None:
    if isinstance(amount, str):
        try:
            amount = float(amount)
        except ValueError:
            return None
    if not isinstance(amount, int | float) or isinstance(amount, bool) or not 0 < amount < 1e6:
        return None
    word = str(unit or "").lower()
    for name, hours in _UNIT_HOURS:
        if name in word:
            return float(amount) * hours
    return None


def read_procedure(code: str, items: Sequence[Mapping[str, Any]], max_items: int) -> ProcedureEntry | None:
    """``LayThuTuc``'s ``result[0]`` as an entry (None: the portal does not have it)."""
    found = _objects(list(items), f"{PROCEDURE}({code})", max_items)  # the first is the procedure
    if not found:
        return None
    item = found[0]
    where = f"{PROCEDURE}({code})"
    if _text(item, "MATTHC", where, limit=MAX_CODE) != code:
        raise CatalogueError(f"{where}.MATTHC: the reply is of another procedure")
    fields = [
        _text(area, "MALINHVUC", f"{where}.LINHVUCTHUCHIEN[{i}]", limit=MAX_CODE)
        for i, area in enumerate(_objects(item.get("LINHVUCTHUCHIEN"), f"{where}.LINHVUCTHUCHIEN", max_items))
    ]
    channels: set[int] = set()
    longest: float | None = None
    ways = _objects(item.get("CACHTHUCTHUCHIEN"), f"{where}.CACHTHUCTHUCHIEN", max_items)
    for i, way in enumerate(ways):
        kenh = way.get("KENH")
        if isinstance(kenh, str) and kenh.isdigit():
            kenh = int(kenh)
        if not isinstance(kenh, int) or isinstance(kenh, bool) or not 1 <= kenh <= 9:
            raise CatalogueError(f"{where}.CACHTHUCTHUCHIEN[{i}].KENH: expected a channel 1-3")
        channels.add(kenh)
        for time_item in _objects(way.get("THOIGIAN"), f"{where}.CACHTHUCTHUCHIEN[{i}].THOIGIAN", max_items):
            hours = _duration_hours(time_item.get("THOIGIANGIAIQUYET"), time_item.get("DONVITINH"))
            if hours is not None and (longest is None or hours > longest):
                longest = hours
    performers = [
        _text(agency, "MADONVI", f"{where}.COQUANTHUCHIEN[{i}]", limit=MAX_CODE)
        for i, agency in enumerate(_objects(item.get("COQUANTHUCHIEN"), f"{where}.COQUANTHUCHIEN", max_items))
    ]
    results = [
        _text(result, "MAKETQUA", f"{where}.KETQUATHUCHIEN[{i}]", limit=MAX_CODE, required=False)
        for i, result in enumerate(_objects(item.get("KETQUATHUCHIEN"), f"{where}.KETQUATHUCHIEN", max_items))
    ]
    status = item.get("TRANGTHAI", 1)
    return ProcedureEntry(
        code=code,
        name=_text(item, "TENTTHC", where, limit=MAX_NAME),
        agency=_text(item, "MACOQUANCONGBO", where, limit=MAX_CODE, required=False),
        published=str(status).strip() == "1",
        fields=tuple(dict.fromkeys(fields)),
        channels=tuple(sorted(channels)),
        performers=tuple(dict.fromkeys(performers)),
        max_hours=longest,
        results=tuple(dict.fromkeys(code for code in results if code)),
    )


# --- the report of a sync --------------------------------------------------------------------


@dataclass
class SyncReport:
    listed: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    withdrawn: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # code -> why LayThuTuc failed
    agencies: tuple[int, int] = (0, 0)  # (listed, changed)
    fields: tuple[int, int] = (0, 0)

    @property
    def changes(self) -> int:
        return (
            len(self.added)
            + len(self.changed)
            + len(self.withdrawn)
            + len(self.returned)
            + self.agencies[1]
            + self.fields[1]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "withdrawn": self.withdrawn,
            "returned": self.returned,
            "failed": self.failed,
            "agencies": {"listed": self.agencies[0], "changed": self.agencies[1]},
            "fields": {"listed": self.fields[0], "changed": self.fields[1]},
            "changes": self.changes,
        }

    def lines(self) -> list[str]:
        out = [
            f"{self.listed} procedure(s) listed: {len(self.added)} added, {len(self.changed)} changed, "
            f"{self.unchanged} unchanged, {len(self.withdrawn)} withdrawn, {len(self.returned)} listed again, "
            f"{len(self.failed)} failed; agencies {self.agencies[0]} ({self.agencies[1]} changed), "
            f"fields {self.fields[0]} ({self.fields[1]} changed)"
        ]
        if not self.changes and not self.failed:
            out.append("nothing changed: the catalogue already matches the portal")
        out.extend(f"  withdrawn by the portal (kept, marked): {code}" for code in self.withdrawn)
        failed = sorted(self.failed.items())
        out.extend(f"  {code}: LayThuTuc failed (kept as it was): {why}" for code, why in failed[:SHOWN])
        if len(failed) > SHOWN:
            out.append(f"  ... and {len(failed) - SHOWN} more failed (--json lists them all)")
        return out


@dataclass(frozen=True, slots=True)
class NeedsReport:
    """Imported procedures (still listed by the portal) that have no ``procedures:`` entry in the
    configuration, so the evidence broker collects nothing for them."""

    imported: int
    configured: int
    missing: tuple[tuple[str, str], ...]  # (code, name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "configured": self.configured,
            "missing_needs": len(self.missing),
            "procedures": [{"code": code, "name": name} for code, name in self.missing],
        }

    def lines(self) -> list[str]:
        out = [
            f"{self.imported} procedure(s) imported, {self.configured} with needs configured, "
            f"{len(self.missing)} without (add them under procedures: in the configuration)"
        ]
        out.extend(f"  {code}  {name}" for code, name in self.missing)
        return out


# --- the store ---------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _entry(raw: bytes) -> ProcedureEntry:
    data = orjson.loads(raw)
    return ProcedureEntry(
        code=data["code"],
        name=data["name"],
        agency=data["agency"],
        published=data["published"],
        fields=tuple(data["fields"]),
        channels=tuple(data["channels"]),
        performers=tuple(data["performers"]),
        max_hours=data["max_hours"],
        results=tuple(data.get("results", ())),
    )


class CatalogueStore:
    """One portal connector's catalogue, over the rows of ``rows``: a SQLite file of the bus's
    data folder (:meth:`in_file`), or the shared state database."""

    def __init__(self, rows: CatalogueRows) -> None:
        self.rows = rows

    @classmethod
    def in_file(cls, path: Path) -> CatalogueStore:
        return cls(SqliteCatalogue(path))

    async def open(self) -> None:
        await self.rows.open()

    async def close(self) -> None:
        await self.rows.close()

    async def digests(self) -> dict[str, tuple[str, bool]]:
        """Procedure code -> (digest, withdrawn)."""
        return await self.rows.digests()

    async def apply(
        self,
        entries: Sequence[ProcedureEntry],
        withdrawn: Collection[str],
        returned: Collection[str],
        registers: Mapping[str, Mapping[str, Mapping[str, str]]],
        report: SyncReport,
        now: float,
    ) -> dict[str, int]:
        """Writes one sync in one transaction; answers, per register, how many entries changed."""
        procedures = [_row(entry.code, entry.as_dict()) for entry in entries]
        lists = {
            kind: [_row(code, item) for code, item in items.items()] for kind, items in registers.items()
        }
        return await self.rows.apply(
            procedures, withdrawn, returned, lists, orjson.dumps(report.as_dict()), now
        )

    async def last_sync(self) -> float | None:
        """When the catalogue was last synced from the portal (None: never)."""
        return await self.rows.last_sync()

    async def procedures(self, *, withdrawn: bool = False) -> list[ProcedureEntry]:
        """The procedures the portal lists (and, with ``withdrawn``, those it no longer does)."""
        return [_entry(raw) for raw in await self.rows.procedures(withdrawn)]

    async def counts(self) -> dict[str, int]:
        return await self.rows.counts()


def _row(code: str, value: Any) -> EntryRow:
    return EntryRow(code, orjson.dumps(value), _digest(value))


# --- the sync --------------------------------------------------------------------------------


class CatalogueSync:
    def __init__(
        self,
        calls: CatalogueCalls,
        store: CatalogueStore,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.calls = calls
        self.store = store
        self.max_items = max_items
        self.concurrency = concurrency
        self.clock = clock
        self._lock = asyncio.Lock()

    async def sync(self) -> SyncReport:
        """Reads the portal's catalogue and stores what changed; raises CatalogueError (and
        changes nothing) when the lists cannot be read."""
        async with self._lock:
            listed = read_list(await self.calls.call(LIST, {}, endpoint="share"), self.max_items)
            if not listed:
                raise CatalogueError(
                    f"{LIST}: the portal listed no procedure; the catalogue is left as it is"
                )
            agencies = read_register(
                await self.calls.call(AGENCIES, {}, endpoint="share"),
                AGENCIES,
                "MADONVI",
                ("TENDONVI", "CAPDONVI"),
                self.max_items,
            )
            areas = read_register(
                await self.calls.call(FIELDS, {}, endpoint="share"),
                FIELDS,
                "MALINHVUC",
                ("TENLINHVUC", "MANGANH"),
                self.max_items,
            )
            report = SyncReport(listed=len(listed))
            known = await self.store.digests()
            entries = await self._procedures(listed, report)
            fresh = []
            for entry in entries:
                before = known.get(entry.code)
                if before is None:
                    report.added.append(entry.code)
                elif before[0] != _digest(entry.as_dict()):
                    report.changed.append(entry.code)
                elif before[1]:
                    report.returned.append(entry.code)
                    continue
                else:
                    report.unchanged += 1
                    continue
                fresh.append(entry)
            report.withdrawn = sorted(
                code for code, (_, gone) in known.items() if code not in listed and not gone
            )
            changed = await self.store.apply(
                fresh,
                report.withdrawn,
                report.returned,
                {"agency": agencies, "field": areas},
                report,
                self.clock(),
            )
            report.agencies = (len(agencies), changed["agency"])
            report.fields = (len(areas), changed["field"])
            return report

    async def _procedures(self, listed: Mapping[str, str], report: SyncReport) -> list[ProcedureEntry]:
        slots = asyncio.Semaphore(self.concurrency)
        entries: list[ProcedureEntry] = []

        async def one(code: str) -> None:
            async with slots:
                try:
                    items = await self.calls.call(PROCEDURE, {"maTTHC": code}, endpoint="integration")
                    entry = read_procedure(code, items, self.max_items)
                except CatalogueError as error:
                    report.failed[code] = error.detail[:300]
                    return
            if entry is None:
                report.failed[code] = "listed, but LayThuTuc does not know it"
            else:
                entries.append(entry)

        await asyncio.gather(*(one(code) for code in listed))
        entries.sort(key=lambda e: e.code)
        return entries

    async def needs_report(self, configured: Collection[str]) -> NeedsReport:
        procedures = await self.store.procedures()
        missing = tuple((p.code, p.name) for p in procedures if p.code not in configured)
        return NeedsReport(len(procedures), len(procedures) - len(missing), missing)
