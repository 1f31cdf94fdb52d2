"""The writer thread: every write to the log file goes through it, committed in groups.

SQLite has one writer at a time and, with ``synchronous=FULL``, every commit costs an fsync. So one
thread owns the write connection; callers on the event loop queue *jobs* (functions of a
:class:`Txn`) and await a future. The thread takes every job queued while its previous commit was
running and commits them all in one transaction (group commit): the fsync is paid once per group,
and the more callers wait, the bigger the groups get. Each caller's future is resolved only after
the commit returned, so an awaited write is a durable write.

Failure isolation without savepoints: if any job of a group fails, the whole transaction is rolled
back and each job is run again in a transaction of its own, so one caller's error never fails or
half-applies another's write. Jobs therefore keep their side effects inside the transaction and
register what must follow a commit with :meth:`Txn.after_commit` / :meth:`Txn.in_loop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from router.ports import TransportError

T = TypeVar("T")
S = TypeVar("S")

log = logging.getLogger(__name__)


class Txn:
    """One write transaction, as the jobs in it see it."""

    __slots__ = ("_after_commit", "_in_loop", "_locals", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], None]] = []
        self._in_loop: list[Callable[[], None]] = []
        self._locals: dict[object, object] = {}

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the writer thread once the transaction is committed (never if rolled back)."""
        self._after_commit.append(fn)

    def in_loop(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the event loop after the commit, before the callers of the group resume
        (a loop turn before they are answered, when the hooks wake consumers: :class:`Writer`)."""
        self._in_loop.append(fn)

    def local(self, key: object, factory: Callable[[], S]) -> S:
        """State shared by the jobs of this transaction (created by ``factory`` on first use)."""
        try:
            return cast(S, self._locals[key])
        except KeyError:
            value = self._locals[key] = factory()
            return value


@dataclass(slots=True)
class _Job:
    fn: Callable[[Txn], Any]
    future: asyncio.Future[Any]


_STOP = object()
# (future, succeeded, result or exception)
_Outcome = tuple[asyncio.Future[Any], bool, Any]


def as_transport_error(exc: BaseException) -> BaseException:
    """SQLite's errors reach callers as TransportError (the port's error); others (bugs, bad
    arguments) keep their type."""
    if isinstance(exc, sqlite3.Error):
        error = TransportError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    return exc


class Writer:
    """The thread that owns the write connection.

    ``maintenance``, if given, is ``(interval_s, fn)``: ``fn`` runs in a transaction of its own every
    ``interval_s`` seconds, between groups, and returns True when it has more to do (it then runs
    again as soon as the queued jobs are committed). It must bound its own work per call.

    ``hooks_wake_consumers``: the commits' :meth:`Txn.in_loop` hooks wake consumers (the log's
    deliveries), so a group with hooks answers its callers one loop turn after running them
    (:func:`_answer_after_hooks`). Callers are then not answered in commit order across groups: a
    group without hooks that lands in the same turn is answered first.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        name: str,
        max_jobs_per_commit: int = 256,
        maintenance: tuple[float, Callable[[Txn], bool]] | None = None,
        hooks_wake_consumers: bool = False,
    ) -> None:
        self._connect = connect
        self._answer = _answer_after_hooks if hooks_wake_consumers else _deliver
        self._name = name
        self._max_jobs = max_jobs_per_commit
        self._maintenance = maintenance
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._dead = False  # set by the thread on its way out, before it fails what is queued
        self._in_flight: list[_Job] = []
        self._stopped: asyncio.Future[None] | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not (self._dead or self._closing)

    async def start(self, on_open: Callable[[sqlite3.Connection], T]) -> T:
        """Starts the thread, which opens the connection and runs ``on_open`` on it first."""
        loop = self._loop = asyncio.get_running_loop()
        opened: asyncio.Future[T] = loop.create_future()
        self._stopped = loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(on_open, opened), name=self._name, daemon=True
        )
        self._thread.start()
        return await opened

    def submit(self, fn: Callable[[Txn], T]) -> asyncio.Future[T]:
        """Queues a job; the future resolves after the commit that includes it."""
        if self._closing or self._loop is None:
            raise TransportError("the log is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(fn, future))
        if self._dead:
            # The thread is gone or going (it fails what it finds queued); fail what came after.
            self._fail_queued(TransportError("the log writer has stopped"))
        return future

    async def close(self) -> None:
        """Commits everything queued so far, then stops the thread."""
        if self._closing or self._stopped is None:
            return
        self._closing = True
        self._queue.put(_STOP)
        if self._thread is not None and self._thread.is_alive():
            await self._stopped
        else:
            self._fail_queued(TransportError("the log writer has stopped"))

    # --- the thread ------------------------------------------------------------------------

    def _run(self, on_open: Callable[[sqlite3.Connection], Any], opened: asyncio.Future[Any]) -> None:
        conn: sqlite3.Connection | None = None
        try:
            try:
                conn = self._connect()
                state = on_open(conn)
            except BaseException as exc:
                self._post([(opened, False, as_transport_error(exc))], [])
                return
            self._post([(opened, True, state)], [])
            self._serve(conn)
        except BaseException:
            log.exception("the log writer thread failed")
        finally:
            self._dead = True
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()  # rolls back a transaction left open by a failure
            stopped = TransportError("the log writer has stopped")
            self._post([(job.future, False, stopped) for job in self._in_flight], [])
            self._fail_queued(stopped)
            if self._stopped is not None:
                self._post([(self._stopped, True, None)], [])

    def _serve(self, conn: sqlite3.Connection) -> None:
        due = time.monotonic() + self._maintenance[0] if self._maintenance else None
        while True:
            try:
                first = self._queue.get(timeout=None if due is None else max(0.0, due - time.monotonic()))
            except queue.Empty:
                first = None
            jobs: list[_Job] = []
            stop = first is _STOP
            if isinstance(first, _Job):
                jobs.append(first)
                while len(jobs) < self._max_jobs:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    jobs.append(cast(_Job, item))
            if jobs:
                self._in_flight = jobs
                self._commit(conn, jobs)
                self._in_flight = []
            if stop:
                return
            if self._maintenance is not None and due is not None and time.monotonic() >= due:
                interval, task = self._maintenance
                more = self._maintain(conn, task)
                due = time.monotonic() + (0.0 if more else interval)

    def _commit(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        txn = Txn(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [job.fn(txn) for job in jobs]
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            if len(jobs) == 1:
                self._post([(jobs[0].future, False, as_transport_error(exc))], [])
            else:
                for job in jobs:
                    self._commit(conn, [job])
            return
        for hook in txn._after_commit:
            hook()
        self._post(
            [(job.future, True, result) for job, result in zip(jobs, results, strict=True)], txn._in_loop
        )

    def _maintain(self, conn: sqlite3.Connection, task: Callable[[Txn], bool]) -> bool:
        txn = Txn(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            more = task(txn)
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            log.exception("log maintenance failed; retrying at the next interval")
            return False
        for hook in txn._after_commit:
            hook()
        self._post([], txn._in_loop)
        return more

    def _post(self, outcomes: list[_Outcome], in_loop: list[Callable[[], None]]) -> None:
        """Hands results to the event loop: one wake-up per group, not one per caller."""
        if self._loop is None:
            return
        # RuntimeError: the event loop is closed, nobody is awaiting these any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._answer, outcomes, in_loop)

    def _fail_queued(self, error: TransportError) -> None:
        failed: list[_Outcome] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                failed.append((item.future, False, error))
        if failed:
            self._post(failed, [])


def _deliver(outcomes: list[_Outcome], in_loop: list[Callable[[], None]]) -> None:
    """Runs a commit's hooks, then answers its callers."""
    _run_hooks(in_loop)
    _resolve(outcomes)


def _answer_after_hooks(outcomes: list[_Outcome], in_loop: list[Callable[[], None]]) -> None:
    """Runs a commit's hooks, then answers its callers a loop turn later when there were hooks.

    The hooks wake the consumers of what was appended (a delivery to a webhook); the turn lets
    what they start run first, up to the request on the wire (aiohttp writes a request's body
    from a task of its own on Python 3.11), before the publish requests resume and write their
    replies. An event reaches its subscriber sooner; its publisher's 202 waits for that start.
    """
    _run_hooks(in_loop)
    if in_loop and outcomes:
        asyncio.get_running_loop().call_soon(_resolve, outcomes)
    else:
        _resolve(outcomes)


def _run_hooks(in_loop: list[Callable[[], None]]) -> None:
    for fn in in_loop:
        try:
            fn()
        except Exception:
            log.exception("a log commit hook failed")


def _resolve(outcomes: list[_Outcome]) -> None:
    for future, succeeded, value in outcomes:
        if future.done():  # the caller was cancelled; the write happened all the same
            continue
        if succeeded:
            future.set_result(value)
        else:
            future.set_exception(value)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback failed")
