"""The store's connections, through the engine of the database the location names: SQLite (a file path, the
embedded default) or PostgreSQL (a ``postgresql://`` URL). The engines (:mod:`~sendemodul.store.sqlite`,
:mod:`~sendemodul.store.postgres`) give the same small surface (``conn().execute`` with ``?`` placeholders,
``transaction()``, the schema), so the store's SQL is written once and nothing outside the store knows which
database runs."""

import os

from sendemodul.timefmt import utc_now_text


def utcnow():
    """The current time as an ISO 8601 UTC string with seconds, e.g. 2026-01-15T07:00:00Z."""
    return utc_now_text()


def is_url(location):
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def engine_for(location):
    if is_url(location):
        from sendemodul.store.postgres import PostgresEngine

        return PostgresEngine(location)
    from sendemodul.store.sqlite import SqliteEngine

    return SqliteEngine(location)


class Connections:
    """The database and this process's connections to it; the base of :class:`~sendemodul.store.Store`.
    Create it with :meth:`create` (atomically), open it with :meth:`open`. ``location`` is a SQLite file's path or a
    ``postgresql://`` URL."""

    def __init__(self, location):
        self.engine = engine_for(os.fspath(location) if not isinstance(location, str) else location)

    @property
    def path(self):
        """The SQLite file (None for PostgreSQL)."""
        return self.engine.path

    @property
    def location(self):
        return self.engine.location

    @property
    def integrity_error(self):
        """The exception a broken unique or foreign key raises (the engine's)."""
        return self.engine.integrity_error

    @classmethod
    def create(cls, location):
        """Create a new database (a SQLite file atomically; PostgreSQL's schema in an empty database)."""
        cls(location).engine.create()
        return cls.open(location)

    @classmethod
    def open(cls, location):
        """Open an existing database, migrating it to the current schema."""
        store = cls(location)
        store.engine.open()
        return store

    @staticmethod
    def exists(location):
        """Whether a database with a schema is there (a SQLite file, a PostgreSQL schema)."""
        return engine_for(os.fspath(location) if not isinstance(location, str) else location).exists()

    def migrate(self):
        """Bring the schema up to date (what :meth:`open` does)."""
        self.engine.open()

    def conn(self):
        """This thread's connection: inside :meth:`transaction`, the transaction's."""
        return self.engine.conn()

    def close(self):
        """Close every connection. Only at shutdown, when no thread uses the store any more."""
        self.engine.close()

    def transaction(self):
        """A write transaction, one writer at a time: commits on success, rolls back on any exception."""
        return self.engine.transaction()

    def _rows(self, sql, params=()):
        cursor = self.conn().execute(sql, params)
        names = [d[0] for d in cursor.description]
        # PostgreSQL's tables carry a hidden rowid column (see migrations.postgresql_script)
        return [{k: v for k, v in zip(names, row) if k != "rowid"} for row in cursor.fetchall()]

    def _row(self, sql, params=()):
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def role_lock(self, name, lock_dir):
        """The lock that lets one ``name`` (``worker``, ``forwarder``) run at a time: per home (a file lock in
        ``lock_dir``) or per cluster (a PostgreSQL advisory lock). ``try_acquire() -> bool``, ``check()`` (raises
        StoreError when lost), ``release()``."""
        return self.engine.role_lock(name, lock_dir)

    # -- schema ------------------------------------------------------------------------------------------------

    def schema_version(self):
        return self.engine.schema_version()

    def table_names(self):
        return self.engine.table_names()

    def columns(self, table):
        """The columns of ``table`` as the store sees them (PostgreSQL's hidden rowid left out)."""
        return [c for c in self.engine.columns(table) if c != "rowid"]
