"""The PostgreSQL engine (``[store] url = "postgresql://..."``): one database shared by every front of a cluster.

The store's SQL is written once, with SQLite's ``?`` placeholders, in the subset both databases share; this engine
turns each statement into psycopg's form in one place (:func:`to_pyformat`) and gives the store objects that behave
like sqlite3's connection (``execute``, ``executemany``, ``fetchone``, ``rowcount``), so no query knows which
database runs.

Concurrency is SQLite's: every write transaction first takes one transaction-level advisory lock
(:data:`WRITE_LOCK`), so write transactions run one at a time across all fronts, exactly as ``BEGIN IMMEDIATE`` makes
them in SQLite. Each read-then-write the store does (the audit chain's head, a unit's credential epoch raised above
every unit's, claiming the oldest received upload) is therefore correct with any number of fronts, and a watcher
polling ``credential_epoch > n`` sees the epochs committed in the order they were taken. Reads outside a transaction
take no lock. Write transactions are short (milliseconds), so one at a time is far from the bottleneck.

Connections come from a ``psycopg_pool`` pool (autocommit; a transaction holds one connection for its length; a
statement outside a transaction borrows one for that statement): bounded, checked before use, and re-opened after
PostgreSQL restarts or fails over.
"""

import contextlib
import re
import threading

import psycopg
from psycopg_pool import ConnectionPool

import sendemodul.store.migrations as migrations
from sendemodul.errors import AlreadyExists, StoreError

#: Advisory lock keys (64-bit; one namespace per database). ``WRITE_LOCK`` serialises write transactions,
#: ``MIGRATE_LOCK`` schema upgrades by fronts starting together; the roles hold session locks while they run.
WRITE_LOCK = 0x53454E44_00000001
MIGRATE_LOCK = 0x53454E44_00000002
ROLE_LOCKS = {"worker": 0x53454E44_00000010, "forwarder": 0x53454E44_00000011}

_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")
_translated: dict[str, str] = {}


def to_pyformat(sql):
    """``?`` placeholders (outside quoted strings) become ``%s``, and every ``%`` becomes ``%%`` (psycopg reads
    placeholders inside quotes too)."""
    done = _translated.get(sql)
    if done is None:
        done = _TOKENS.sub(lambda m: {"?": "%s"}.get(m.group(0), m.group(0).replace("%", "%%")), sql)
        _translated[sql] = done
    return done


def redact(url):
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class Result:
    """A statement's rows, fetched at once (the connection goes back to the pool), read like a sqlite3 cursor."""

    def __init__(self, cursor):
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self._rows = cursor.fetchall() if cursor.description else []
        self._next = 0

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size):
        rows = self._rows[self._next : self._next + size]
        self._next += len(rows)
        return rows

    def fetchall(self):
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """What the store's SQL talks to: inside a transaction its connection; outside, a pooled one per statement."""

    def __init__(self, engine, conn=None):
        self._engine = engine
        self._conn = conn

    @contextlib.contextmanager
    def _connection(self):
        if self._conn is not None:
            yield self._conn
        else:
            with self._engine.pool().connection() as conn:
                yield conn

    def execute(self, sql, params=()):
        with self._connection() as conn, conn.cursor() as cur:
            cur.execute(to_pyformat(sql), tuple(params))
            return Result(cur)

    def executemany(self, sql, seq_of_params):
        with self._connection() as conn, conn.cursor() as cur:
            cur.executemany(to_pyformat(sql), [tuple(p) for p in seq_of_params])
            return cur.rowcount


class PostgresEngine:
    """A PostgreSQL database (its URL) and this process's pool of connections to it."""

    dialect = "postgresql"
    integrity_error = psycopg.IntegrityError
    error = psycopg.Error
    path = None

    def __init__(self, url, *, max_connections=16):
        self.location = url
        self._max_connections = max_connections
        self._pool = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()

    def pool(self):
        """The pool, opened on first use (building a store does no I/O)."""
        with self._pool_lock:
            if self._pool is None:
                pool = ConnectionPool(
                    self.location,
                    min_size=1,
                    max_size=self._max_connections,
                    kwargs={"autocommit": True},
                    check=ConnectionPool.check_connection,
                    name="sendemodul",
                    open=False,
                )
                try:
                    pool.open(wait=True, timeout=15)
                except psycopg.Error as e:  # PoolTimeout is one
                    pool.close()
                    raise StoreError(f"PostgreSQL at {redact(self.location)} cannot be reached: {e}") from None
                self._pool = pool
            return self._pool

    def close(self):
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def conn(self):
        return PgConnection(self, getattr(self._local, "conn", None))

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction, one at a time across every front (see the module's docstring)."""
        if getattr(self._local, "conn", None) is not None:
            raise StoreError("a transaction is already open in this thread")
        with self.pool().connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            self._local.conn = conn
            try:
                yield PgConnection(self, conn)
            finally:
                self._local.conn = None

    # -- schema ------------------------------------------------------------------------------------------------

    def schema_version(self):
        if not self._has_schema():
            return 0
        row = self.conn().execute("SELECT version FROM store_schema WHERE id = 1").fetchone()
        return row[0] if row else 0

    def _has_schema(self):
        return self.conn().execute("SELECT to_regclass('store_schema') IS NOT NULL").fetchone()[0]

    def exists(self):
        try:
            return self.schema_version() > 0
        finally:
            self.close()

    def table_names(self):
        return [
            row[0]
            for row in self.conn().execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename != 'store_schema'"
                " ORDER BY tablename"
            )
        ]

    def columns(self, table):
        return [
            row[0]
            for row in self.conn().execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ? ORDER BY ordinal_position",
                (table,),
            )
        ]

    def create(self):
        """Make the schema in an empty database (the database itself is the operator's: ``createdb``)."""
        try:
            if self.table_names():
                raise AlreadyExists(f"the database {redact(self.location)} already holds tables")
            self.migrate()
        finally:
            self.close()

    def open(self):
        try:
            if self.schema_version() == 0:
                raise StoreError(
                    f"no sendemodul schema in {redact(self.location)}: copy a home into it with"
                    " 'sendemodul admin migrate-store --to URL' first"
                )
            self.migrate()
        except psycopg.Error as e:
            self.close()
            raise StoreError(f"database {redact(self.location)} cannot be used: {e}") from None

    def migrate(self):
        """Bring the schema to the current version in one transaction (PostgreSQL's DDL is transactional, so a
        failed step leaves the old schema whole), one front at a time."""
        target = migrations.SCHEMA_VERSION
        with self.pool().connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS store_schema"
                " (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)"
            )
            row = conn.execute("SELECT version FROM store_schema WHERE id = 1").fetchone()
            version = row[0] if row else 0
            if version > target:
                raise StoreError(
                    f"database {redact(self.location)} has schema version {version}, newer than this program ({target})"
                )
            for number in range(version + 1, target + 1):
                try:
                    conn.execute(migrations.postgresql_script(migrations.MIGRATIONS[number - 1]))
                except psycopg.Error as e:
                    raise StoreError(f"migration {number} failed on {redact(self.location)}: {e}") from None
            conn.execute(
                "INSERT INTO store_schema (id, version) VALUES (1, %s)"
                " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (target,),
            )

    def defer_constraints(self, conn):
        conn.execute("SET CONSTRAINTS ALL DEFERRED")

    def after_copy(self, conn):
        """Rows copied with their keys (``ssh_keys.id``, ``audit.seq``) leave the sequences behind: move each past
        the highest key, so the next row numbered by PostgreSQL does not collide."""
        serials = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_default LIKE 'nextval(%' AND column_name != 'rowid'"
        ).fetchall()
        for table, column in serials:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce((SELECT max({column}) FROM {table}), 0) + 1,"
                " false)",
                (table, column),
            )

    def role_lock(self, name, lock_dir):
        return AdvisoryRoleLock(self.location, ROLE_LOCKS[name])


class AdvisoryRoleLock:
    """One pseudonymizer (or forwarder) per cluster: a session advisory lock on a connection of its own. PostgreSQL
    drops it when that connection ends, so when the holding process dies (even by ``kill -9``) another front's
    waiting process gets it at its next try."""

    def __init__(self, url, key):
        self.url = url
        self.key = key
        self._conn = None

    def try_acquire(self):
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.Error as e:
                raise StoreError(f"PostgreSQL at {redact(self.url)} cannot be reached: {e}") from None
        held = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
        return bool(held)

    def check(self):
        """Raises StoreError when the lock's connection is gone (PostgreSQL restarted: the lock may be another's)."""
        try:
            self._conn.execute("SELECT 1")
        except (psycopg.Error, AttributeError) as e:
            raise StoreError(f"lost the connection that holds the lock: {e}") from None

    def release(self):
        """Give the lock up and close its connection. The lock is unlocked first: PostgreSQL drops a session's locks
        only when its backend has exited, which comes a moment after the client closes the connection, so a waiting
        process could still be refused right after an orderly release. (After a crash, the waiting process gets the
        lock at a later try, once that backend has gone.)"""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self._conn.close()
            self._conn = None
