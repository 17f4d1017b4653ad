"""All SQL lives here: SQLite through sqlite-utils, numbered migrations, hardening pragmas, WAL.

The ``Store`` is synchronous and thread-safe: every thread gets its own connection (WAL lets readers run beside the
one writer; writers take ``BEGIN IMMEDIATE`` and wait on ``busy_timeout``). Twisted code must never call it on the
reactor thread: it goes through :class:`sendemodul.service.StoreService.run`, which defers to a thread pool. The
admin CLI (no reactor) calls it directly.

Nothing secret is stored: PINs only as Argon2id PHC strings, no ID numbers, no file names from clients, no content.
"""

import contextlib
import datetime
import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from sendemodul import audit
from sendemodul.errors import AlreadyExists, NotFound, StoreError, UnitNotFound

# Each migration is one SQL script; its 1-based position is the schema version it produces. Never edit a released
# migration: append a new one.
MIGRATIONS = [
    # 1: units, credentials, uploads, audit
    """
    CREATE TABLE units (
        unit TEXT PRIMARY KEY,
        kommunenr TEXT NOT NULL,
        bydel TEXT NOT NULL,
        orgnr TEXT NOT NULL,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        disabled_at TEXT
    ) STRICT;
    CREATE TABLE pins (
        unit TEXT PRIMARY KEY REFERENCES units(unit),
        phc TEXT NOT NULL,
        issued_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE ssh_keys (
        id INTEGER PRIMARY KEY,
        unit TEXT NOT NULL REFERENCES units(unit),
        algorithm TEXT NOT NULL,
        public_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        added_at TEXT NOT NULL,
        UNIQUE (unit, fingerprint)
    ) STRICT;
    CREATE TABLE signing_keys (
        id INTEGER PRIMARY KEY,
        unit TEXT NOT NULL REFERENCES units(unit),
        public_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        added_at TEXT NOT NULL,
        revoked_at TEXT,
        UNIQUE (unit, fingerprint)
    ) STRICT;
    CREATE TABLE uploads (
        reference TEXT PRIMARY KEY,
        unit TEXT NOT NULL REFERENCES units(unit),
        register TEXT NOT NULL,
        periode INTEGER NOT NULL,
        container_id TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        status TEXT NOT NULL,
        test INTEGER NOT NULL DEFAULT 0,
        late INTEGER NOT NULL DEFAULT 0,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        superseded_by TEXT REFERENCES uploads(reference),
        reason TEXT
    ) STRICT;
    CREATE INDEX uploads_unit ON uploads (unit, register, periode);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        actor TEXT NOT NULL,
        unit TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    ) STRICT;
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: the pseudonymizer and the forwarder: feedback on invalid IDs, the package, delivery attempts
    """
    CREATE TABLE feedback (
        reference TEXT NOT NULL REFERENCES uploads(reference),
        row_id TEXT NOT NULL,
        id_type TEXT NOT NULL,
        id_class TEXT NOT NULL,
        PRIMARY KEY (reference, row_id, id_type)
    ) STRICT;
    ALTER TABLE uploads ADD COLUMN feedback_omitted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE uploads ADD COLUMN package_size INTEGER;
    ALTER TABLE uploads ADD COLUMN package_sha256 TEXT;
    ALTER TABLE uploads ADD COLUMN pseudonymized_at TEXT;
    ALTER TABLE uploads ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE uploads ADD COLUMN next_attempt_at TEXT;
    ALTER TABLE uploads ADD COLUMN last_error TEXT;
    ALTER TABLE uploads ADD COLUMN delivered_at TEXT;
    CREATE INDEX uploads_status ON uploads (status, received_at);
    CREATE TABLE mail_days (
        day TEXT PRIMARY KEY,
        completed_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE mail_sent (
        day TEXT NOT NULL,
        unit TEXT NOT NULL REFERENCES units(unit),
        state TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (day, unit)
    ) STRICT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

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
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _connect(path):
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def _migrate(conn, path):
    """Bring the schema to SCHEMA_VERSION; back the file up first when an existing DB is upgraded."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"database {path} has schema version {version}, newer than this program ({SCHEMA_VERSION})")
    if version == SCHEMA_VERSION:
        return
    if version > 0:
        backup = sqlite3.connect(f"{path}.v{version}.bak")
        with backup:
            conn.backup(backup)
        backup.close()
    for number in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _split_sql(script):
    """Split a migration into statements, keeping trigger bodies (``BEGIN ... END;``) whole."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise StoreError("incomplete SQL statement in migration")
    return statements


class Store:
    """The database. Create it with :meth:`create` (atomically), open it with :meth:`open`."""

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
            _migrate(conn, tmp)
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
            _migrate(store.conn(), path)
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

    # -- audit -------------------------------------------------------------------------------------------------

    def _audit_in(self, conn, event, actor, unit, detail):
        head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, audit.GENESIS)
        entry = audit.Entry(seq=seq, at=utcnow(), event=event, actor=actor, unit=unit,
                            detail=audit.canonical_detail(detail), prev_hash=prev_hash)
        row_hash = entry.compute_hash()
        conn.execute(
            "INSERT INTO audit (seq, at, event, actor, unit, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.seq, entry.at, entry.event, entry.actor, entry.unit, entry.detail, entry.prev_hash, row_hash),
        )
        conn.execute("INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (seq, row_hash))
        return seq

    def audit(self, event, *, actor, unit=None, detail=None):
        """Append one audit event (its own transaction). Returns its sequence number."""
        with self.transaction() as conn:
            return self._audit_in(conn, event, actor, unit, detail or {})

    def audit_entries(self):
        """Every audit row in storage order, as :class:`audit.StoredEntry`."""
        for row in self.conn().execute(
            "SELECT seq, at, event, actor, unit, detail, prev_hash, hash FROM audit ORDER BY rowid"
        ):
            yield audit.StoredEntry(*row)

    def audit_head(self):
        row = self.conn().execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else (0, audit.GENESIS)

    # -- units -------------------------------------------------------------------------------------------------

    def add_unit(self, unit, *, name, email, actor):
        """Register a unit (an ``identity.Unit``)."""
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO units (unit, kommunenr, bydel, orgnr, name, email, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (str(unit), unit.kommunenr, unit.bydel, unit.orgnr, name, email, utcnow()),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"unit {unit} is already registered") from None
            self._audit_in(conn, "unit.add", actor, str(unit), {"name": name})

    def get_unit(self, unit):
        return self._row("SELECT * FROM units WHERE unit = ?", (str(unit),))

    def require_unit(self, unit):
        row = self.get_unit(unit)
        if row is None:
            raise UnitNotFound(f"unit {unit} is not registered (see 'sendemodul admin unit list')")
        return row

    def list_units(self):
        return self._rows(
            "SELECT u.*, p.issued_at AS pin_issued_at,"
            " (SELECT count(*) FROM ssh_keys k WHERE k.unit = u.unit) AS ssh_keys,"
            " (SELECT count(*) FROM signing_keys s WHERE s.unit = u.unit AND s.revoked_at IS NULL) AS signing_keys"
            " FROM units u LEFT JOIN pins p ON p.unit = u.unit ORDER BY u.unit"
        )

    def disable_unit(self, unit, *, actor):
        """Disable a unit: it can no longer log in; its PIN is revoked. Its history stays."""
        with self.transaction() as conn:
            self.require_unit(unit)
            conn.execute("UPDATE units SET disabled_at = ? WHERE unit = ? AND disabled_at IS NULL",
                         (utcnow(), str(unit)))
            conn.execute("DELETE FROM pins WHERE unit = ?", (str(unit),))
            self._audit_in(conn, "unit.disable", actor, str(unit), {})

    # -- PINs --------------------------------------------------------------------------------------------------

    def set_pin(self, unit, phc, *, actor):
        """Store a new PIN hash for an active unit, replacing the previous one."""
        with self.transaction() as conn:
            row = self.require_unit(unit)
            if row["disabled_at"]:
                raise StoreError(f"unit {unit} is disabled")
            conn.execute("INSERT OR REPLACE INTO pins (unit, phc, issued_at) VALUES (?, ?, ?)",
                         (str(unit), phc, utcnow()))
            self._audit_in(conn, "pin.issue", actor, str(unit), {})

    def revoke_pin(self, unit, *, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            if conn.execute("DELETE FROM pins WHERE unit = ?", (str(unit),)).rowcount == 0:
                raise NotFound(f"unit {unit} has no PIN to revoke")
            self._audit_in(conn, "pin.revoke", actor, str(unit), {})

    def login_pin_hash(self, unit):
        """The PIN hash of an active unit, or None (unknown, disabled, or no PIN)."""
        row = self._row(
            "SELECT p.phc FROM pins p JOIN units u ON u.unit = p.unit WHERE p.unit = ? AND u.disabled_at IS NULL",
            (str(unit),),
        )
        return row["phc"] if row else None

    def unit_is_active(self, unit):
        row = self._row("SELECT 1 FROM units WHERE unit = ? AND disabled_at IS NULL", (str(unit),))
        return row is not None

    # -- SSH keys ----------------------------------------------------------------------------------------------

    def add_ssh_key(self, unit, *, algorithm, public_key, fingerprint, comment, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            try:
                conn.execute(
                    "INSERT INTO ssh_keys (unit, algorithm, public_key, fingerprint, comment, added_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (str(unit), algorithm, public_key, fingerprint, comment, utcnow()),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"unit {unit} already has the SSH key {fingerprint}") from None
            self._audit_in(conn, "sshkey.add", actor, str(unit), {"fingerprint": fingerprint})

    def ssh_keys(self, unit):
        return self._rows("SELECT * FROM ssh_keys WHERE unit = ? ORDER BY id", (str(unit),))

    def remove_ssh_key(self, unit, fingerprint, *, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            cur = conn.execute("DELETE FROM ssh_keys WHERE unit = ? AND fingerprint = ?", (str(unit), fingerprint))
            if cur.rowcount == 0:
                raise NotFound(f"unit {unit} has no SSH key {fingerprint}")
            self._audit_in(conn, "sshkey.remove", actor, str(unit), {"fingerprint": fingerprint})

    # -- signing keys (the unit's Ed25519 key that signs container manifests) ---------------------------------

    def add_signing_key(self, unit, *, public_key, fingerprint, actor):
        with self.transaction() as conn:
            self.require_unit(unit)
            try:
                conn.execute(
                    "INSERT INTO signing_keys (unit, public_key, fingerprint, added_at) VALUES (?, ?, ?, ?)",
                    (str(unit), public_key, fingerprint, utcnow()),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"unit {unit} already has the signing key {fingerprint}") from None
            self._audit_in(conn, "signingkey.add", actor, str(unit), {"fingerprint": fingerprint})

    def signing_keys(self, unit):
        """The unit's current (not revoked) signing keys."""
        return self._rows("SELECT * FROM signing_keys WHERE unit = ? AND revoked_at IS NULL ORDER BY id",
                          (str(unit),))

    # -- uploads -----------------------------------------------------------------------------------------------

    def upload(self, reference):
        return self._row("SELECT * FROM uploads WHERE reference = ?", (reference,))

    def upload_by_container_id(self, container_id):
        return self._row("SELECT * FROM uploads WHERE container_id = ?", (container_id,))

    def upload_exists(self, reference):
        return self.upload(reference) is not None

    def record_upload(self, row, *, actor):
        """Record an accepted upload (``row``: reference, unit, register, periode, container_id, sha256, size,
        status, test, late, received_at) and mark older uploads of the same unit/register/periode (and the same
        test flag) superseded. Returns the stored row; raises ``sqlite3.IntegrityError`` if the container_id is
        already recorded."""
        columns = ("reference", "unit", "register", "periode", "container_id", "sha256", "size", "status", "test",
                   "late", "received_at")
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO uploads ({', '.join(columns)}, updated_at) VALUES ({', '.join('?' * len(columns))}, ?)",
                (*(row[c] for c in columns), row["received_at"]),
            )
            conn.execute(
                "UPDATE uploads SET superseded_by = ?, updated_at = ? WHERE unit = ? AND register = ? AND periode = ?"
                " AND test = ? AND reference != ? AND superseded_by IS NULL",
                (row["reference"], row["received_at"], row["unit"], row["register"], row["periode"], row["test"],
                 row["reference"]),
            )
            self._audit_in(conn, "upload.received", actor, row["unit"], {
                "reference": row["reference"], "register": row["register"], "periode": row["periode"],
                "size": row["size"], "sha256": row["sha256"], "test": bool(row["test"]), "late": bool(row["late"])})
        return self.upload(row["reference"])

    def list_uploads(self, unit=None):
        if unit is None:
            return self._rows("SELECT * FROM uploads ORDER BY received_at, reference")
        return self._rows("SELECT * FROM uploads WHERE unit = ? ORDER BY received_at, reference", (str(unit),))

    def status(self, register, periode):
        """Every registered unit with its newest upload for the register and periode (None when missing)."""
        return self._rows(
            "SELECT u.unit, u.name, u.disabled_at, up.reference, up.status, up.late, up.test, up.received_at,"
            " up.delivered_at, up.reason"
            " FROM units u LEFT JOIN uploads up ON up.reference = ("
            "   SELECT reference FROM uploads x WHERE x.unit = u.unit AND x.register = ? AND x.periode = ?"
            "   AND x.test = 0 ORDER BY x.received_at DESC, x.rowid DESC LIMIT 1)"
            " ORDER BY u.unit",
            (register, periode),
        )


    # -- the pseudonymizer (worker) ----------------------------------------------------------------------------

    def reset_pseudonymizing(self):
        """At worker start: uploads left ``pseudonymizing`` by a crash go back to ``received``. Returns them."""
        with self.transaction() as conn:
            refs = [r[0] for r in conn.execute("SELECT reference FROM uploads WHERE status = 'pseudonymizing'")]
            conn.execute("UPDATE uploads SET status = 'received', updated_at = ? WHERE status = 'pseudonymizing'",
                         (utcnow(),))
        return refs

    def claim_received(self):
        """Take the oldest ``received`` upload for pseudonymizing (status -> ``pseudonymizing``); None if none."""
        with self.transaction() as conn:
            row = conn.execute("SELECT reference FROM uploads WHERE status = 'received'"
                               " ORDER BY received_at, rowid LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE uploads SET status = 'pseudonymizing', updated_at = ? WHERE reference = ?",
                         (utcnow(), row[0]))
        return self.upload(row[0])

    def finish_pseudonymizing(self, reference, *, status, feedback, feedback_omitted, package_size, package_sha256,
                              counts, actor):
        """Record a pseudonymized upload: ``status`` is ``queued`` (to be forwarded) or ``tested`` (a test upload,
        never forwarded); ``feedback`` holds (row_id, id_type, id_class) of the invalid IDs."""
        now = utcnow()
        with self.transaction() as conn:
            conn.execute("DELETE FROM feedback WHERE reference = ?", (reference,))
            conn.executemany("INSERT OR IGNORE INTO feedback (reference, row_id, id_type, id_class)"
                             " VALUES (?, ?, ?, ?)", [(reference, *f) for f in feedback])
            conn.execute(
                "UPDATE uploads SET status = ?, feedback_omitted = ?, package_size = ?, package_sha256 = ?,"
                " pseudonymized_at = ?, updated_at = ?, reason = NULL, attempts = 0, next_attempt_at = NULL,"
                " last_error = NULL WHERE reference = ? AND status = 'pseudonymizing'",
                (status, feedback_omitted, package_size, package_sha256, now, now, reference))
            row = conn.execute("SELECT unit FROM uploads WHERE reference = ?", (reference,)).fetchone()
            self._audit_in(conn, "upload.pseudonymized", actor, row[0] if row else None, {
                "reference": reference, "status": status, "counts": counts,
                "invalid": len(feedback) + feedback_omitted})

    def quarantine_upload(self, reference, reason, *, actor):
        """Stop an upload that failed after intake; ``reason`` is shown to the unit (no ID, no content)."""
        now = utcnow()
        with self.transaction() as conn:
            conn.execute("UPDATE uploads SET status = 'quarantined', reason = ?, updated_at = ? WHERE reference = ?",
                         (reason, now, reference))
            row = conn.execute("SELECT unit FROM uploads WHERE reference = ?", (reference,)).fetchone()
            self._audit_in(conn, "upload.quarantined", actor, row[0] if row else None,
                           {"reference": reference, "reason": reason})

    def upload_with_feedback(self, reference):
        """The upload row with its ``feedback`` rows added, or None."""
        row = self.upload(reference)
        if row is not None:
            row["feedback"] = self.feedback(reference)
        return row

    def feedback(self, reference):
        """The invalid IDs of an upload by row id, field and class (never the ID itself)."""
        return self._rows("SELECT row_id, id_type, id_class FROM feedback WHERE reference = ? ORDER BY row_id, id_type",
                          (reference,))

    def uploads_with_status(self, *statuses):
        marks = ", ".join("?" * len(statuses))
        return self._rows(f"SELECT * FROM uploads WHERE status IN ({marks}) ORDER BY received_at, rowid", statuses)

    # -- the forwarder -----------------------------------------------------------------------------------------

    def next_delivery(self, now):
        """The oldest ``queued`` production upload whose next attempt is due at ``now`` (ISO UTC), or None."""
        return self._row("SELECT * FROM uploads WHERE status = 'queued' AND test = 0"
                         " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
                         " ORDER BY received_at, rowid LIMIT 1", (now,))

    def delivery_failed(self, reference, error, next_attempt_at):
        with self.transaction() as conn:
            conn.execute("UPDATE uploads SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
                         " updated_at = ? WHERE reference = ? AND status = 'queued'",
                         (error, next_attempt_at, utcnow(), reference))

    def mark_delivered(self, reference, *, actor):
        """Record the delivery time. Only a ``queued`` upload can become ``delivered`` (exactly once)."""
        now = utcnow()
        with self.transaction() as conn:
            changed = conn.execute("UPDATE uploads SET status = 'delivered', delivered_at = ?, updated_at = ?,"
                                   " next_attempt_at = NULL WHERE reference = ? AND status = 'queued'",
                                   (now, now, reference)).rowcount
            if changed:
                row = conn.execute("SELECT unit FROM uploads WHERE reference = ?", (reference,)).fetchone()
                self._audit_in(conn, "upload.delivered", actor, row[0], {"reference": reference})
        return bool(changed)

    def requeue(self, reference, *, actor):
        """An admin sends an upload round again: ``quarantined`` -> ``received`` (pseudonymize again), or a
        ``queued`` one is retried at once. Returns the new status."""
        with self.transaction() as conn:
            row = conn.execute("SELECT unit, status FROM uploads WHERE reference = ?", (reference,)).fetchone()
            if row is None:
                raise NotFound(f"no upload {reference} (see 'sendemodul admin uploads')")
            unit, status = row
            if status == "quarantined":
                new = "received"
                conn.execute("UPDATE uploads SET status = 'received', reason = NULL, updated_at = ?"
                             " WHERE reference = ?", (utcnow(), reference))
            elif status == "queued":
                new = "queued"
                conn.execute("UPDATE uploads SET next_attempt_at = NULL, updated_at = ? WHERE reference = ?",
                             (utcnow(), reference))
            else:
                raise StoreError(f"upload {reference} is {status}; only quarantined or queued uploads can be "
                                 "requeued")
            self._audit_in(conn, "upload.requeue", actor, unit, {"reference": reference, "from": status})
        return new

    # -- the morning e-mail ------------------------------------------------------------------------------------

    def last_mail_day(self):
        """The newest day (``YYYY-MM-DD``, Oslo) whose morning e-mails are done, or None."""
        row = self.conn().execute("SELECT max(day) FROM mail_days").fetchone()
        return row[0] if row else None

    def complete_mail_day(self, day):
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO mail_days (day, completed_at) VALUES (?, ?)", (day, utcnow()))

    def activity(self, start, end):
        """Uploads received or changed in [start, end) (ISO UTC strings), with their unit's name and e-mail."""
        return self._rows(
            "SELECT up.*, u.name AS unit_name, u.email AS unit_email FROM uploads up JOIN units u ON u.unit = up.unit"
            " WHERE u.disabled_at IS NULL AND ((up.received_at >= ? AND up.received_at < ?)"
            " OR (up.updated_at >= ? AND up.updated_at < ?)) ORDER BY up.unit, up.received_at, up.reference",
            (start, end, start, end))

    def claim_mail(self, day, unit):
        """Mark the e-mail of ``unit`` for ``day`` as being sent; False if it was sent (or tried) before. A crash
        after this leaves it claimed: an e-mail is never sent twice (at most once)."""
        with self.transaction() as conn:
            try:
                conn.execute("INSERT INTO mail_sent (day, unit, state, at) VALUES (?, ?, 'sending', ?)",
                             (day, unit, utcnow()))
            except sqlite3.IntegrityError:
                return False
        return True

    def mail_sent(self, day, unit):
        with self.transaction() as conn:
            conn.execute("UPDATE mail_sent SET state = 'sent', at = ? WHERE day = ? AND unit = ?", (utcnow(), day, unit))
            self._audit_in(conn, "mail.sent", "mailer", unit, {"day": day})

    def mail_failed(self, day, unit):
        """The relay refused or was unreachable before accepting: release the claim so a later run retries."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM mail_sent WHERE day = ? AND unit = ? AND state = 'sending'", (day, unit))

    def mails(self):
        return self._rows("SELECT * FROM mail_sent ORDER BY day, unit")
