"""The SQLite engine (the embedded default): one connection per thread with the hardening pragmas, WAL and
``BEGIN IMMEDIATE`` transactions; the database created atomically (write, then rename) and backed up before an
upgrade; one worker of a kind per home by a kernel file lock."""

import contextlib
import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from sendemodul.errors import AlreadyExists, StoreError
from sendemodul.store.migrations import migrate

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA secure_delete = ON",
    "PRAGMA trusted_schema = OFF",
    "PRAGMA busy_timeout = 10000",
)


def _connect(path):
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class SqliteEngine:
    """A SQLite database file and this process's connections to it."""

    dialect = "sqlite"
    integrity_error = sqlite3.IntegrityError
    error = sqlite3.Error

    def __init__(self, path):
        self.path = Path(path)
        self.location = str(self.path)
        self._local = threading.local()
        self._connections = []
        self._connections_lock = threading.Lock()

    def create(self):
        """Create the database atomically: build it under a temporary name, then rename it into place."""
        path = self.path
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

    def open(self):
        """Check the database exists and migrate it to the current schema."""
        if not self.path.is_file():
            raise StoreError(f"no database at {self.path}: run 'sendemodul admin init' first")
        try:
            migrate(self.conn(), self.path)
        except sqlite3.DatabaseError as e:
            self.close()
            raise StoreError(f"database {self.path} cannot be used: {e}") from None

    def exists(self):
        return self.path.is_file()

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
        return sqlite_utils.Database(self.conn())

    def close(self):
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction (``BEGIN IMMEDIATE``: one writer at a time): commits on success, rolls back on any
        exception."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def schema_version(self):
        return self.conn().execute("PRAGMA user_version").fetchone()[0]

    def table_names(self):
        return self.db().table_names()

    def columns(self, table):
        return [row[1] for row in self.conn().execute(f"PRAGMA table_info({table})")]

    def defer_constraints(self, conn):
        conn.execute("PRAGMA defer_foreign_keys = ON")

    def after_copy(self, conn):
        """Nothing: SQLite numbers new rows past the highest key by itself."""

    def role_lock(self, name, lock_dir):
        return FileRoleLock(Path(lock_dir) / f".{name}.lock")


class FileRoleLock:
    """One pseudonymizer (or forwarder) per home: an exclusive ``flock`` the kernel drops when the process dies."""

    def __init__(self, path):
        self.path = path
        self._fd = None

    def try_acquire(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def check(self):
        """Raises StoreError when the lock is no longer held (a file lock is held until the process ends)."""

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
