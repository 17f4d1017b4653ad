"""The schema as numbered migrations, for SQLite and PostgreSQL, and bringing a SQLite database up to date
(backed up first; :mod:`~sendemodul.store.postgres` brings a PostgreSQL one up to date).

A migration is one SQL script written for SQLite in the subset both databases share (``STRICT`` tables, ``INTEGER``,
``TEXT``, ``REFERENCES``, ``CREATE INDEX``, ``ALTER TABLE ... ADD COLUMN``): :func:`postgresql_script` turns it into
PostgreSQL's (see there), so a new migration is usually one plain string. Only where the dialects really differ
(triggers) is an entry a :class:`PerDialect` holding both texts.
"""

import re
import sqlite3
from dataclasses import dataclass

from sendemodul.errors import StoreError


@dataclass(frozen=True)
class PerDialect:
    """A migration whose SQLite and PostgreSQL texts differ beyond what :func:`postgresql_script` translates. The
    PostgreSQL text is used as written."""

    sqlite: str
    postgresql: str


_M1_TABLES = """
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
"""
_M1_SQLITE_TRIGGERS = """    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """
_M1_POSTGRESQL_TRIGGERS = """
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""


def postgresql_script(script):
    """The PostgreSQL text of a migration written for SQLite in the shared subset:

    - ``STRICT`` goes (PostgreSQL's columns are always typed);
    - ``INTEGER PRIMARY KEY [AUTOINCREMENT]`` (SQLite's rowid alias, numbered when left out) becomes ``BIGSERIAL
      PRIMARY KEY``;
      any other ``INTEGER`` becomes ``BIGINT`` (sizes pass 2 GiB), ``REAL`` ``DOUBLE PRECISION``, ``BLOB`` ``BYTEA``;
    - ``TEXT`` compares byte by byte (``COLLATE "C"``) as in SQLite, whatever the database's locale;
    - every ``REFERENCES`` is ``DEFERRABLE`` (checked at once, as in SQLite, unless a transaction defers it:
      ``admin migrate-store`` copies rows that point forward, such as ``superseded_by``);
    - every ``CREATE TABLE`` gets a hidden ``rowid BIGSERIAL`` column, so ``ORDER BY rowid`` means insertion order
      in both databases (the store drops it from the rows it returns).
    """
    if isinstance(script, PerDialect):
        return script.postgresql
    text = re.sub(r"\)\s*STRICT\s*;", ");", script)
    text = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", "BIGSERIAL PRIMARY KEY", text)
    text = re.sub(r"\bINTEGER\b", "BIGINT", text)
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)
    text = re.sub(r"\bBLOB\b", "BYTEA", text)
    text = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', text)
    text = re.sub(r"(REFERENCES\s+\w+\s*\([^)]*\))", r"\1 DEFERRABLE INITIALLY IMMEDIATE", text)
    return _add_rowid(text)


def _add_rowid(text):
    out, pos = [], 0
    for match in re.finditer(r"CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?\w+\s*\(", text):
        if match.start() < pos:
            continue
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        out.append(text[pos : i - 1])
        out.append(", rowid BIGSERIAL NOT NULL)")
        pos = i
    out.append(text[pos:])
    return "".join(out)


def sqlite_script(script):
    """The SQLite text of a migration."""
    return script.sqlite if isinstance(script, PerDialect) else script


# Each migration is one SQL script (or a PerDialect); its 1-based position is the schema version it produces. Never
# edit a released migration: append a new one.
MIGRATIONS: "list[str | PerDialect]" = [
    # 1: units, credentials, uploads, audit
    PerDialect(
        sqlite=_M1_TABLES + _M1_SQLITE_TRIGGERS,
        postgresql=postgresql_script(_M1_TABLES) + _M1_POSTGRESQL_TRIGGERS,
    ),
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
    # 3: a credential epoch per unit, raised (to a value higher than any unit's) by every command that ends a
    # credential: PIN issued or revoked, unit disabled, SSH key removed. A login remembers the epoch it was checked
    # under; the server ends every session (web and SFTP) and refuses every upload whose login's epoch is no longer
    # the unit's (issue 14). Existing units start at 0, so an upgraded home keeps its sessions' meaning.
    """
    ALTER TABLE units ADD COLUMN credential_epoch INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX units_credential_epoch ON units (credential_epoch);
    """,
    # 4: reminders ("purring", issue 19): which reminder days are done and each unit's reminder claimed or sent, so
    # none goes out twice; and the heartbeats of the pseudonymizer and the forwarder that /readyz checks.
    """
    CREATE TABLE reminder_days (
        register TEXT NOT NULL,
        periode INTEGER NOT NULL,
        day TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        PRIMARY KEY (register, periode, day)
    ) STRICT;
    CREATE TABLE reminders_sent (
        register TEXT NOT NULL,
        periode INTEGER NOT NULL,
        day TEXT NOT NULL,
        unit TEXT NOT NULL REFERENCES units(unit),
        state TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (register, periode, day, unit)
    ) STRICT;
    CREATE TABLE heartbeats (
        process TEXT PRIMARY KEY,
        at TEXT NOT NULL
    ) STRICT;
    """,
    # 5: reporting persons (issue 16): a person of a unit (role reporter; statsforvalter/staff later, with a fylke),
    # the skjema 999 registrations, single-use enrolment tokens (hashed), recovery codes (keyed hashes), passkeys,
    # and the person who made an upload. The TOTP secret is AES-GCM ciphertext; totp_last_step refuses replays.
    """
    CREATE TABLE persons (
        person_id TEXT PRIMARY KEY,
        unit TEXT REFERENCES units(unit),
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        mobile TEXT,
        language TEXT NOT NULL DEFAULT 'nb',
        registers TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'pending',
        role TEXT NOT NULL DEFAULT 'reporter',
        fylke TEXT,
        totp_secret TEXT,
        totp_pending TEXT,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        activated_at TEXT,
        disabled_at TEXT
    ) STRICT;
    CREATE UNIQUE INDEX persons_unit_email ON persons (unit, email);
    CREATE TABLE person_registrations (
        id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES persons(person_id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        registers TEXT NOT NULL,
        unit_name TEXT NOT NULL DEFAULT '',
        responsible_name TEXT NOT NULL DEFAULT '',
        responsible_phone TEXT NOT NULL DEFAULT '',
        responsible_email TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE TABLE enrolment_tokens (
        token_hash TEXT PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES persons(person_id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    ) STRICT;
    CREATE TABLE recovery_codes (
        person_id TEXT NOT NULL REFERENCES persons(person_id),
        code_hash TEXT NOT NULL,
        used_at TEXT,
        PRIMARY KEY (person_id, code_hash)
    ) STRICT;
    CREATE TABLE passkeys (
        credential_id TEXT PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES persons(person_id),
        public_key TEXT NOT NULL,
        sign_count INTEGER NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL,
        last_used_at TEXT
    ) STRICT;
    ALTER TABLE uploads ADD COLUMN person_id TEXT REFERENCES persons(person_id);
    ALTER TABLE uploads ADD COLUMN no_participants INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: sources banned for failed logins, shared by every front of a cluster (issue 20): a front that bans a
    # source writes it here; every front reads the bans still running (``until``: seconds since the epoch) and
    # refuses that source too. Rows past their time are removed.
    """
    CREATE TABLE source_bans (
        source TEXT PRIMARY KEY,
        until REAL NOT NULL
    ) STRICT;
    CREATE INDEX source_bans_until ON source_bans (until);
    """,
    # 7: SSB's answers (issue 17): a delivered upload becomes accepted or returned by SSB's signed answer, recorded
    # once (answer_id is the replay guard, reference the one-answer-per-delivery guard), with SSB's message and its
    # rows in error (JSON: row id, journalnummer, severity, rule, field, message; never an ID number). mail_state:
    # the e-mail to the unit when it arrives: pending -> sending -> sent. And review before delivery: a delivery of a
    # register with [[review]] waits (uploads.status awaiting_review) with a review row for the unit's fylke (open ->
    # approved | returned; counts: records and ID classes, never a record; previous: the returned delivery it
    # corrects; decided_by: the reviewer's opaque person id).
    """
    CREATE TABLE answers (
        answer_id TEXT PRIMARY KEY,
        reference TEXT NOT NULL UNIQUE REFERENCES uploads(reference),
        decision TEXT NOT NULL,
        message TEXT NOT NULL,
        errors TEXT NOT NULL,
        errors_omitted INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        received_at TEXT NOT NULL,
        signed_by TEXT NOT NULL,
        mail_state TEXT NOT NULL DEFAULT 'pending',
        mail_at TEXT
    ) STRICT;
    CREATE INDEX answers_mail ON answers (mail_state);
    ALTER TABLE uploads ADD COLUMN answered_at TEXT;
    CREATE TABLE reviews (
        reference TEXT PRIMARY KEY REFERENCES uploads(reference),
        fylke TEXT NOT NULL,
        state TEXT NOT NULL,
        counts TEXT NOT NULL,
        previous TEXT REFERENCES uploads(reference),
        message TEXT,
        decided_by TEXT,
        decided_at TEXT,
        created_at TEXT NOT NULL,
        mail_state TEXT NOT NULL DEFAULT 'none'
    ) STRICT;
    CREATE INDEX reviews_fylke ON reviews (fylke, state);
    """,
    # 8: the unit's written standard (issue 18; språklova § 15): letters and e-mails to it are in Bokmål ('nb') or
    # Nynorsk ('nn'); a language-neutral kommune ('neutral') gets Bokmål. Existing units keep getting Bokmål.
    """
    ALTER TABLE units ADD COLUMN language TEXT NOT NULL DEFAULT 'nb' CHECK (language IN ('nb', 'nn', 'neutral'));
    """,
    # 9: access for reviewers (issue 17): a reviewer is a person of a fylke, not of a unit (persons.unit NULL, role
    # statsforvalter, fylke set), one per e-mail address (NULLs are distinct in persons_unit_email, so a partial
    # index of its own). reviewer_applications: who applied in the web (name, work e-mail, fylke, written standard)
    # and what the fylke's reviewers decided (open -> approved | refused; decided_by: the reviewer's opaque person
    # id; person_id: the reviewer person an approval made); one open application per e-mail address.
    """
    CREATE UNIQUE INDEX persons_reviewer_email ON persons (email) WHERE unit IS NULL;
    CREATE TABLE reviewer_applications (
        application_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        fylke TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'nb',
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'approved', 'refused')),
        created_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        person_id TEXT REFERENCES persons(person_id)
    ) STRICT;
    CREATE INDEX reviewer_applications_fylke ON reviewer_applications (fylke, state, created_at);
    CREATE UNIQUE INDEX reviewer_applications_open ON reviewer_applications (email) WHERE state = 'open';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn, path):
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
            for statement in _split_sql(sqlite_script(MIGRATIONS[number - 1])):
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
