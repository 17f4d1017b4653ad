"""The store's connections: one per thread, with the hardening pragmas, WAL and ``BEGIN IMMEDIATE`` transactions;
creating the database atomically and opening (migrating) it."""

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from sendemodul.errors import AlreadyExists, StoreError
from sendemodul.store.migrations import migrate
from sendemodul.timefmt import utc_now_text

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA secure_delete = ON",
    "PRAGMA trusted_schema = OFF",
    "PRAGMA busy_timeout = 10000",
)


def utcnow():
    """The current time as an ISO 8601 UTC string with seconds, e.g. 2026-01-15T07:00:00Z."""
    return utc_now_text()


def _connect(path):
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class Connections:
    """The database file and this process's connections to it; the base of :class:`~sendemodul.store.Store`.
    Create it with :meth:`create` (atomically), open it with :meth:`open`."""

    def __init__(self, path):
        self.path = Path(path)
        self._local = threading.local()
        self._connections = []
        self._connections_lock = threading.Lock()

    @classmethod
    def create(cls, path):
        """Create a new database atomically: build it under a temporary name, then rename it into place."""
        path = Path(path)
        if path.exists():
            raise AlreadyExists(f"database {path} already exists")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            conn.execute("PRAGMA journal_mode = DELETE")  # a single file to rename; WAL is switched on when opened
            migrate(conn, tmp)
            conn.close()
            os.chmod(tmp, 0o600)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.rename(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return cls.open(path)

    @classmethod
    def open(cls, path):
        """Open an existing database, migrating it to the current schema."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no database at {path}: run 'sendemodul admin init' first")
        store = cls(path)
        try:
            migrate(store.conn(), path)
        except sqlite3.DatabaseError as e:
            store.close()
            raise StoreError(f"database {path} cannot be used: {e}") from None
        return store

    def conn(self):
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def db(self):
        """This thread's connection wrapped by sqlite-utils (for reads and schema introspection)."""
        return sqlite_utils.Database(self.conn())

    def close(self):
        """Close every connection. Only at shutdown, when no thread uses the store any more."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on any exception."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _rows(self, sql, params=()):
        return list(self.db().query(sql, params))

    def _row(self, sql, params=()):
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- schema ------------------------------------------------------------------------------------------------

    def schema_version(self):
        return self.conn().execute("PRAGMA user_version").fetchone()[0]

    def table_names(self):
        return self.db().table_names()
