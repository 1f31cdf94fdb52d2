"""The PostgreSQL server of the tests.

LIENTHONG_POSTGRES_DSN names one (a ``postgresql://`` URL of a role that may create databases); unset, the first test that
needs PostgreSQL starts a throwaway cluster for the run: ``initdb`` into a temporary folder, a free
port on 127.0.0.1, the unix socket in that folder, trust authentication on loopback only; it is
stopped and removed when the run ends. PostgreSQL refuses to run as root: as root, the cluster runs
as the ``postgres`` user (``runuser``), the folder handed to it. Each test gets a database of its
own (:func:`fresh_database`).

Without PostgreSQL (no DSN, no ``initdb``) a test skips with the reason; with
LIENTHONG_REQUIRE_POSTGRES=1 (CI) it fails instead."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DSN_ENV = "LIENTHONG_POSTGRES_DSN"
REQUIRE_ENV = "LIENTHONG_REQUIRE_POSTGRES"
# Debian's packages put the server here, outside PATH
BIN_FOLDERS = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
ROLE = "lienthong"

_started: list[str] = []  # the DSN of the cluster this run started, once it is


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _unavailable(reason: str) -> None:
    if postgres_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def _tool(name: str) -> str | None:
    for folder in BIN_FOLDERS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Cluster:
    """A throwaway PostgreSQL cluster of this run: ``initdb`` into a temporary folder, a free port
    on 127.0.0.1, the unix socket in that folder, trust authentication on loopback only. A test
    that owns one may stop it and start it again (same data, same port); it is removed when the
    run ends."""

    def __init__(self, port: int | None = None) -> None:
        """``port``: on 127.0.0.1; a free one when None."""
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            _unavailable(
                f"{DSN_ENV} is not set and PostgreSQL's initdb is not installed (apt-get install postgresql)"
            )
            raise AssertionError("unreachable")
        self._pg_ctl = pg_ctl
        # as root, in /tmp: the postgres user must reach it, whatever TMPDIR says
        self.folder = Path(
            tempfile.mkdtemp(prefix="lienthong-pg-", dir="/tmp" if os.geteuid() == 0 else None)
        )
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._data, port = self.folder / "data", port or _free_port()
        subprocess.run(
            _as_server_user(
                [initdb, "-D", str(self._data), "-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        self._options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={self.folder} -c fsync=off"
        self.dsn = f"postgresql://{ROLE}@127.0.0.1:{port}/postgres"
        atexit.register(self.remove)
        self.start()

    def start(self) -> None:
        """Starts the server and waits until it takes connections."""
        subprocess.run(
            _as_server_user(
                [
                    self._pg_ctl,
                    "-D",
                    str(self._data),
                    "-o",
                    self._options,
                    "-l",
                    str(self.folder / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stops the server (``fast``: its clients disconnected, as an operator's stop does)."""
        subprocess.run(
            _as_server_user([self._pg_ctl, "-D", str(self._data), "-m", mode, "-w", "stop"]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _start_cluster() -> str:
    return Cluster().dsn


def postgres_server() -> str:
    """The DSN of the server (its maintenance database), started on first use; a skip (a failure
    when PostgreSQL is required) when there is none."""
    given = os.environ.get(DSN_ENV, "").strip()
    if given:
        return given
    if not _started:
        _started.append(_start_cluster())
    return _started[0]


def with_database(dsn: str, name: str) -> str:
    """``dsn`` (a ``postgresql://`` URL) pointing at the database ``name`` instead."""
    return urlsplit(dsn)._replace(path=f"/{name}").geturl()


def fresh_database() -> str:
    """The DSN of a new, empty database on the test server."""
    server = postgres_server()
    name = f"t_{uuid.uuid4().hex[:16]}"
    psql = _tool("psql") or "psql"
    subprocess.run(
        [psql, "-q", "-X", server, "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True
    )
    return with_database(server, name)
