"""The shared state store (:mod:`router.state`): in one SQLite file on a single machine, in
PostgreSQL for a bus of several processes."""

from adapters.state.postgres import PostgresStateStore
from adapters.state.sqlite import SqliteStateStore

__all__ = ["PostgresStateStore", "SqliteStateStore"]
