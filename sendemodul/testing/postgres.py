"""A real PostgreSQL for the tests and ``scripts/bench``: Debian's ``postgresql`` package, ``initdb`` and
``pg_ctl`` in a temporary directory, listening on 127.0.0.1 at a free port. PostgreSQL refuses to run as root, so as
root it runs as the ``postgres`` user (the package creates it). One server per test session;
:meth:`PostgresServer.new_database` gives each test a fresh, empty database.

A missing ``/usr/lib/postgresql/*/bin/initdb`` fails with what to run (``scripts/system-packages``)."""

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sendemodul.testing.peers import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise AssertionError(f"PostgreSQL's {name} is missing: run scripts/system-packages (Debian's postgresql)")
    return found[-1]


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory (fsync off: for tests and benchmarks only)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sendemodul-pg-"))
        os.chmod(self.dir, 0o755)  # the postgres user must reach it
        self.as_root = os.geteuid() == 0
        if self.as_root:
            os.chown(self.dir, pwd.getpwnam("postgres").pw_uid, -1)
        self.port = free_port()
        self.user = "postgres"
        self._names = itertools.count(1)
        self._env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC"}

    def _run(self, *args: str, check: bool = True) -> "subprocess.CompletedProcess[str]":
        cmd = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        return subprocess.run(
            cmd, capture_output=True, text=True, check=check, env=self._env, cwd=self.dir, timeout=120
        )

    def start(self) -> "PostgresServer":
        data = self.dir / "data"
        self._run(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", self.user, "--locale=C", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(_bin("pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-o", options, "-w", "start")
        deadline = time.monotonic() + 30
        while not self._accepts():  # pg_ctl -w waited for it: this is seldom more than one look
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL did not accept connections: see {self.dir / 'log'}")
            time.sleep(0.05)
        return self

    def _accepts(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True
        return False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> "list[Any] | None":
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return cur.fetchall() if cur.description else None

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
