"""The store, on both databases: every test that takes ``store`` (or ``location``) runs against the embedded SQLite
and against a real PostgreSQL (a fresh database per test, one server per session)."""

import json
import sqlite3
import threading

import pytest
from conftest import ALNA, add_unit
from support.wait import wait_for

from sendemodul import audit
from sendemodul.errors import AlreadyExists, AlreadyRecorded, NotFound, StoreError, UnitNotFound
from sendemodul.store import Store
from sendemodul.store import migrations as storemod

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


@pytest.fixture(params=DIALECTS)
def location(request, tmp_path):
    """Where a store can be made: a SQLite file's path, or an empty PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield tmp_path / "sendemodul.db"
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.new_database()
        yield url
        postgres.drop_database(url)


@pytest.fixture
def store(location):
    s = Store.create(location)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store.create(tmp_path / "sendemodul.db")
    yield s
    s.close()


def set_schema_version(store, version):
    if store.path is not None:
        store.conn().execute(f"PRAGMA user_version = {version}")
    else:
        store.conn().execute("UPDATE store_schema SET version = ?", (version,))


def build_old(location, upto):
    """A database made by a program whose schema ended at migration ``upto`` (empty tables)."""
    if isinstance(location, str):
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("CREATE TABLE store_schema (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)")
            for script in storemod.MIGRATIONS[:upto]:
                conn.execute(storemod.postgresql_script(script))
            conn.execute("INSERT INTO store_schema (id, version) VALUES (1, %s)", (upto,))
        return
    conn = sqlite3.connect(location, isolation_level=None)
    for number, script in enumerate(storemod.MIGRATIONS[:upto], start=1):
        for statement in storemod._split_sql(storemod.sqlite_script(script)):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.close()


def test_create_is_atomic_and_private(tmp_path):
    s = Store.create(tmp_path / "db.sqlite")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("db.sqlite")) == []
    assert (tmp_path / "db.sqlite").stat().st_mode & 0o777 == 0o600
    assert s.schema_version() == storemod.SCHEMA_VERSION
    s.close()
    with pytest.raises(AlreadyExists):
        Store.create(tmp_path / "db.sqlite")


def test_create_makes_every_table_and_refuses_a_second_time(store, location):
    assert store.schema_version() == storemod.SCHEMA_VERSION
    assert {"units", "pins", "ssh_keys", "signing_keys", "uploads", "audit", "audit_head"} <= set(store.table_names())
    assert "rowid" not in store.columns("uploads") and "container_id" in store.columns("uploads")
    with pytest.raises(AlreadyExists):
        Store.create(location)


def test_hardening_pragmas_on_every_connection(sqlite_store):
    store = sqlite_store

    def pragmas():
        c = store.conn()
        return {
            p: c.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("journal_mode", "foreign_keys", "secure_delete", "trusted_schema", "synchronous")
        }

    expected = {"journal_mode": "wal", "foreign_keys": 1, "secure_delete": 1, "trusted_schema": 0, "synchronous": 2}
    assert pragmas() == expected
    seen = []
    t = threading.Thread(target=lambda: seen.append(pragmas()))
    t.start()
    t.join()
    assert seen == [expected]


def test_foreign_keys_are_enforced(store):
    with pytest.raises(store.integrity_error), store.transaction() as conn:
        conn.execute("INSERT INTO pins (unit, phc, issued_at) VALUES ('0301-00-958935420', 'x', 'now')")


def test_the_audit_log_refuses_update_and_delete(store):
    store.audit("test.event", actor="test")
    for statement in ("UPDATE audit SET event = 'x' WHERE seq = 1", "DELETE FROM audit WHERE seq = 1"):
        with pytest.raises(store.engine.error, match="append-only"), store.transaction() as conn:
            conn.execute(statement)
    assert [e.event for e in store.audit_entries()] == ["test.event"]


def test_text_sorts_byte_by_byte_in_both_databases(store):
    """Units and references sort as SQLite sorts them (PostgreSQL's text columns are COLLATE "C")."""
    for unit in ("1103-00-964965226", ALNA):
        add_unit(store, unit, name="b" if unit == ALNA else "B")
    assert [u["name"] for u in store._rows("SELECT name FROM units ORDER BY name")] == ["B", "b"]


def test_open_refuses_a_missing_database(location):
    with pytest.raises(StoreError, match=r"admin init|migrate-store"):
        Store.open(location)
    assert not Store.exists(location)


def test_open_refuses_a_newer_schema(store, location):
    set_schema_version(store, 999)
    with pytest.raises(StoreError, match="newer than this program"):
        Store.open(location)


def test_upgrade_runs_new_migrations(store, location, monkeypatch):
    add_unit(store, ALNA)
    store.close()
    monkeypatch.setattr(storemod, "MIGRATIONS", [*storemod.MIGRATIONS, "CREATE TABLE extra (x INTEGER) STRICT;"])
    monkeypatch.setattr(storemod, "SCHEMA_VERSION", len(storemod.MIGRATIONS))
    upgraded = Store.open(location)
    assert upgraded.schema_version() == storemod.SCHEMA_VERSION
    assert "extra" in upgraded.table_names()
    assert [u["unit"] for u in upgraded.list_units()] == [ALNA]
    upgraded.close()


def test_a_sqlite_upgrade_backs_up_first(sqlite_store, monkeypatch):
    store = sqlite_store
    add_unit(store, ALNA)
    store.close()
    monkeypatch.setattr(storemod, "MIGRATIONS", [*storemod.MIGRATIONS, "CREATE TABLE extra (x INTEGER) STRICT;"])
    monkeypatch.setattr(storemod, "SCHEMA_VERSION", len(storemod.MIGRATIONS))
    Store.open(store.path).close()
    backup = store.path.with_name(f"{store.path.name}.v{storemod.SCHEMA_VERSION - 1}.bak")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == storemod.SCHEMA_VERSION - 1
    assert old.execute("SELECT unit FROM units").fetchall() == [(ALNA,)]


def test_a_failed_migration_leaves_the_old_schema(store, location, monkeypatch):
    store.close()
    monkeypatch.setattr(
        storemod, "MIGRATIONS", [*storemod.MIGRATIONS, "CREATE TABLE ok (x INTEGER); CREATE TABLE units (x INTEGER);"]
    )
    monkeypatch.setattr(storemod, "SCHEMA_VERSION", len(storemod.MIGRATIONS))
    with pytest.raises(StoreError):
        Store.open(location)
    monkeypatch.undo()
    reopened = Store.open(location)
    assert reopened.schema_version() == storemod.SCHEMA_VERSION
    assert "ok" not in reopened.table_names()
    reopened.close()


def test_postgresql_script_translates_the_shared_subset():
    text = storemod.postgresql_script(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT, b BLOB, r REAL,"
        " u TEXT REFERENCES units(unit), UNIQUE (n, s)) STRICT;\nALTER TABLE t ADD COLUMN m INTEGER;"
    )
    assert text == (
        'CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, s TEXT COLLATE "C", b BYTEA, r DOUBLE PRECISION,'
        ' u TEXT COLLATE "C" REFERENCES units(unit) DEFERRABLE INITIALLY IMMEDIATE, UNIQUE (n, s),'
        " rowid BIGSERIAL NOT NULL);\nALTER TABLE t ADD COLUMN m BIGINT;"
    )
    assert storemod.postgresql_script(
        "CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY AUTOINCREMENT) STRICT;"
    ) == ("CREATE TABLE IF NOT EXISTS u (id BIGSERIAL PRIMARY KEY, rowid BIGSERIAL NOT NULL);")


def test_units_pins_and_keys(store):
    unit = add_unit(store, ALNA, name="Alna")
    with pytest.raises(AlreadyExists):
        add_unit(store, ALNA)
    assert store.login_pin_hash(unit) is None
    store.set_pin(unit, "$argon2id$first", actor="test")
    store.set_pin(unit, "$argon2id$second", actor="test")
    assert store.login_pin_hash(unit) == "$argon2id$second"
    store.add_ssh_key(
        unit, algorithm="ssh-ed25519", public_key="ssh-ed25519 AAAA", fingerprint="SHA256:x", comment="c", actor="test"
    )
    with pytest.raises(AlreadyExists):
        store.add_ssh_key(
            unit,
            algorithm="ssh-ed25519",
            public_key="ssh-ed25519 AAAA",
            fingerprint="SHA256:x",
            comment="c",
            actor="test",
        )
    assert [k["fingerprint"] for k in store.ssh_keys(unit)] == ["SHA256:x"]
    store.remove_ssh_key(unit, "SHA256:x", actor="test")
    with pytest.raises(NotFound):
        store.remove_ssh_key(unit, "SHA256:x", actor="test")
    store.disable_unit(unit, actor="test")
    assert store.login_pin_hash(unit) is None and not store.unit_is_active(unit)
    with pytest.raises(StoreError, match="disabled"):
        store.set_pin(unit, "$argon2id$third", actor="test")
    with pytest.raises(UnitNotFound):
        store.revoke_pin("1103-00-964965226", actor="test")
    events = [e.event for e in store.audit_entries()]
    assert events == ["unit.add", "pin.issue", "pin.issue", "sshkey.add", "sshkey.remove", "unit.disable"]


def test_status_lists_every_unit_with_missing_by_default(store):
    add_unit(store, ALNA)
    add_unit(store, "1103-00-964965226")
    rows = store.status("11F", 2026)
    assert [(r["unit"], r["status"]) for r in rows] == [(ALNA, None), ("1103-00-964965226", None)]


def test_every_credential_change_raises_the_units_epoch_above_every_units(store):
    """Issue 14: pin issue, pin revoke, sshkey remove and unit disable each raise the unit's credential epoch (in
    their own transaction) past every unit's, so the server can find them with one indexed query."""
    from conftest import STAVANGER

    alna, stavanger = add_unit(store, ALNA), add_unit(store, STAVANGER)
    assert store.credential_epoch(alna) == store.credential_epoch(stavanger) == store.max_credential_epoch() == 0
    assert store.login_pin(alna) == (None, None)
    seen = []

    def changed(unit, step):
        before = store.max_credential_epoch()
        step()
        epoch = store.credential_epoch(unit)
        assert epoch is None or epoch > before
        seen.append((str(unit), epoch))

    changed(stavanger, lambda: store.set_pin(stavanger, "$argon2id$s", actor="test"))
    changed(alna, lambda: store.set_pin(alna, "$argon2id$a1", actor="test"))
    assert store.login_pin(alna) == ("$argon2id$a1", store.credential_epoch(alna))
    changed(alna, lambda: store.set_pin(alna, "$argon2id$a2", actor="test"))  # a new PIN replaces the old
    changed(alna, lambda: store.revoke_pin(alna, actor="test"))
    store.add_ssh_key(
        alna, algorithm="ssh-ed25519", public_key="ssh-ed25519 AAAA", fingerprint="SHA256:x", comment="c", actor="test"
    )
    assert store.credential_epoch(alna) == seen[-1][1]  # adding a credential ends nothing
    changed(alna, lambda: store.remove_ssh_key(alna, "SHA256:x", actor="test"))
    epoch = store.credential_epoch(alna)
    store.disable_unit(alna, actor="test")
    assert store.credential_epoch(alna) is None  # no login of a disabled unit is valid
    changes = store.credential_changes(0)
    assert [(u, e) for u, e, _active in changes] == [*[s for s in seen if s[0] == STAVANGER], (ALNA, epoch + 1)]
    assert changes[-1][2] is False and changes[0][2] is True
    assert store.credential_changes(store.max_credential_epoch()) == []


def test_an_upload_is_recorded_only_while_its_logins_epoch_is_the_units(store):
    from sendemodul.errors import LoginRevoked

    unit = add_unit(store, ALNA)
    store.set_pin(unit, "$argon2id$a", actor="test")
    epoch = store.credential_epoch(unit)

    def row(reference, container_id):
        return {
            "reference": reference,
            "unit": ALNA,
            "register": "11F",
            "periode": 2026,
            "container_id": container_id,
            "sha256": "0" * 64,
            "size": 1,
            "status": "received",
            "test": 0,
            "late": 0,
            "received_at": "2027-01-15T07:00:00Z",
        }

    store.record_upload(row("SM-20270115-AAAAAAAA", "c1"), actor=ALNA, credential_epoch=epoch)
    store.revoke_pin(unit, actor="test")
    with pytest.raises(LoginRevoked):
        store.record_upload(row("SM-20270115-BBBBBBBB", "c2"), actor=ALNA, credential_epoch=epoch)
    assert [r["reference"] for r in store.list_uploads(ALNA)] == ["SM-20270115-AAAAAAAA"]


def test_an_upgraded_database_gets_epoch_0_for_its_units_and_keeps_working(location):
    """Migration 3 on a database made by version 2: units and PINs stay, every epoch starts at 0."""
    build_old(location, 2)
    old = Store(location)
    with old.transaction() as conn:
        conn.execute(
            "INSERT INTO units (unit, kommunenr, bydel, orgnr, name, email, created_at) VALUES"
            " (?, '0301', '12', '958935420', 'Alna', 'a@example.org', '2026-01-01T00:00:00Z')",
            (ALNA,),
        )
        conn.execute(
            "INSERT INTO pins (unit, phc, issued_at) VALUES (?, '$argon2id$old', '2026-01-01T00:00:00Z')", (ALNA,)
        )
    old.close()
    store = Store.open(location)
    try:
        assert store.schema_version() == storemod.SCHEMA_VERSION >= 3
        assert store.login_pin(ALNA) == ("$argon2id$old", 0) and store.max_credential_epoch() == 0
        store.revoke_pin(ALNA, actor="test")
        assert store.credential_changes(0) == [(ALNA, 1, True)]
    finally:
        store.close()


# -- two fronts on one database ------------------------------------------------------------------------------------


def upload_row(reference, container_id, unit=ALNA):
    return {
        "reference": reference,
        "unit": unit,
        "register": "11F",
        "periode": 2026,
        "container_id": container_id,
        "sha256": "0" * 64,
        "size": 5 * 1024**3,  # past 2 GiB: PostgreSQL's columns are BIGINT
        "status": "received",
        "test": 0,
        "late": 0,
        "received_at": "2027-01-15T07:00:00Z",
    }


def in_threads(*calls):
    """Run each call in its own thread, all released at once; their results (or exceptions) in order."""
    results = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, call):
        start.wait()
        try:
            results[i] = call()
        except Exception as e:  # noqa: BLE001 (handed back to the test, which checks it)
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture
def two_fronts(store, location):
    """Two stores on one database, as two front processes have."""
    other = Store.open(location)
    yield store, other
    other.close()


def test_audit_appends_from_two_fronts_at_once_form_one_chain(two_fronts):
    a, b = two_fronts
    per_thread = 15
    calls = [
        (lambda s=s, i=i: [s.audit("test.event", actor=f"front{i}", detail={"n": n}) for n in range(per_thread)])
        for i, s in enumerate([a, b, a, b])
    ]
    results = in_threads(*calls)
    assert all(isinstance(r, list) for r in results), results
    seqs = sorted(seq for r in results for seq in r)
    assert seqs == list(range(1, 4 * per_thread + 1))
    assert audit.verify(b.audit_entries(), b.audit_head()) is None
    assert a.audit_head() == b.audit_head() == (4 * per_thread, list(a.audit_entries())[-1].hash)


def test_the_same_container_recorded_by_two_fronts_at_once_is_recorded_once(two_fronts):
    a, b = two_fronts
    add_unit(a, ALNA)
    results = in_threads(
        lambda: a.record_upload(upload_row("SM-20270115-AAAAAAAA", "same"), actor=ALNA),
        lambda: b.record_upload(upload_row("SM-20270115-BBBBBBBB", "same"), actor=ALNA),
    )
    assert sorted(type(r).__name__ for r in results) == ["AlreadyRecorded", "dict"]
    assert [u["container_id"] for u in a.list_uploads()] == ["same"]
    assert [u["size"] for u in b.list_uploads()] == [5 * 1024**3]
    winner = next(r for r in results if isinstance(r, dict))["reference"]
    with pytest.raises(AlreadyRecorded):  # the reference is a key too
        b.record_upload(upload_row(winner, "other"), actor=ALNA)


def test_two_fronts_claiming_work_at_once_claim_each_upload_once(two_fronts):
    a, b = two_fronts
    add_unit(a, ALNA)
    for n in range(20):
        a.record_upload(upload_row(f"SM-20270115-{n:08d}", f"c{n}"), actor=ALNA)

    def drain(store):
        claimed = []
        while (row := store.claim_received()) is not None:
            claimed.append(row["reference"])
        return claimed

    results = in_threads(lambda: drain(a), lambda: drain(b), lambda: drain(a), lambda: drain(b))
    claimed = [ref for r in results for ref in r]
    assert sorted(claimed) == [f"SM-20270115-{n:08d}" for n in range(20)]
    assert {u["status"] for u in b.list_uploads()} == {"pseudonymizing"}


def test_credential_epochs_raised_by_two_fronts_at_once_stay_distinct(two_fronts):
    a, b = two_fronts
    units = [add_unit(a, text) for text in (ALNA, "1103-00-964965226")]
    pins = [
        lambda s=s, u=u: [s.set_pin(u, f"$argon2id${n}", actor="t") for n in range(10)] for s, u in zip((a, b), units)
    ]
    in_threads(*pins)
    epochs = [e for _, e, _ in a.credential_changes(0)]
    assert a.max_credential_epoch() == 20 and sorted(epochs) == epochs and len(set(epochs)) == 2


def test_one_role_lock_holder_at_a_time_and_the_next_takes_over(two_fronts, tmp_path):
    a, b = two_fronts
    first, second = a.role_lock("worker", tmp_path), b.role_lock("worker", tmp_path)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert b.role_lock("forwarder", tmp_path).try_acquire()  # another role, another lock
    first.check()
    first.release()  # an orderly stop: the next process takes over at its next try
    assert second.try_acquire()
    second.check()
    if hasattr(second, "_conn"):  # PostgreSQL: the holder dies (its connection ends without an unlock) ...
        second._conn.close()
        # ... and the lock is free once PostgreSQL's backend for it has exited, a moment later
        wait_for(first.try_acquire, timeout=30)
        first.release()
    else:
        second.release()


def test_placeholders_are_translated_for_postgresql_outside_quotes_only():
    from sendemodul.store.postgres import to_pyformat

    sql = "SELECT * FROM t WHERE a = ? AND b LIKE 'x%?' AND c = '''?' AND d = ?"
    assert to_pyformat(sql) == "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%?' AND c = '''?' AND d = %s"


def test_a_percent_sign_and_a_question_mark_in_a_literal_reach_the_database_unchanged(store):
    assert store.conn().execute("SELECT '100%?', ?", ("x",)).fetchone() == ("100%?", "x")


def test_a_ban_decided_by_one_front_is_read_by_the_other_until_it_ends(two_fronts):
    a, b = two_fronts
    a.ban_source("192.0.2.7", 1000.0)
    a.ban_source("192.0.2.7", 900.0)  # a shorter ban leaves the longer one
    b.ban_source("198.51.100.1", 500.0)
    assert b.source_bans(100.0) == a.source_bans(100.0) == [("192.0.2.7", 1000.0), ("198.51.100.1", 500.0)]
    assert a.source_bans(500.0) == [("192.0.2.7", 1000.0)]  # ended bans are removed
    assert b.source_bans(1000.0) == []


def test_heartbeats_reminder_claims_and_the_metrics_snapshot(store):
    """Issue 19's tables on both databases: a reminder is claimed once, the metrics' counts are plain integers."""
    import datetime

    add_unit(store, ALNA)
    store.heartbeat("worker")
    store.heartbeat("worker")
    assert set(store.heartbeats()) == {"worker"}
    assert store.claim_reminder("11F", 2026, "2027-01-10", ALNA) is True
    assert store.claim_reminder("11F", 2026, "2027-01-10", ALNA) is False
    store.reminder_failed("11F", 2026, "2027-01-10", ALNA)
    assert store.claim_reminder("11F", 2026, "2027-01-10", ALNA) is True
    store.reminder_sent("11F", 2026, "2027-01-10", ALNA)
    store.complete_reminder_day("11F", 2026, "2027-01-10")
    store.complete_reminder_day("11F", 2026, "2027-01-10")
    assert store.reminder_day_done("11F", 2026, "2027-01-10")
    assert [r["state"] for r in store.reminders()] == ["sent"]
    store.record_upload(upload_row("SM-20270115-AAAAAAAA", "c1"), actor=ALNA)
    store.delivery_failed("SM-20270115-AAAAAAAA", "refused", "2027-01-15T08:00:00Z")
    snapshot = store.metrics_snapshot(datetime.datetime(2027, 1, 15, 8, 0, tzinfo=datetime.UTC))
    assert snapshot["states"] == {("received", "11F"): 1}
    assert snapshot["delivered"] == 0 and snapshot["failed_attempts"] == 0  # (only a queued upload's attempt counts)
    assert type(snapshot["failed_attempts"]) is int and snapshot["pseudonymizer_lag"] == 3600.0


def test_an_unused_enrolment_link_gets_more_time_and_a_gone_one_none(store):
    """The enrolment page's "more time": a new end for an unused, unexpired link (audited with the person's id); a
    link that has run out or was used stays gone (SQLite and PostgreSQL)."""
    unit = add_unit(store, ALNA)

    def register(email, token, expires):
        return store.register_person(
            unit, person_id=f"P-{token}", name="Kari", email=email, mobile=None, language="nn", registers=("11F",),
            registration={}, token=(token, expires), actor="test",
        )[0]  # fmt: skip

    register("a@example.org", "live", "2999-01-01T00:00:00Z")
    register("b@example.org", "old", "2000-01-01T00:00:00Z")
    assert store.enrolment_person("live")["link_expires_at"] == "2999-01-01T00:00:00Z"
    assert store.extend_enrolment_token("live", "3000-01-01T00:00:00Z") is True
    assert store.enrolment_person("live")["link_expires_at"] == "3000-01-01T00:00:00Z"
    assert store.extend_enrolment_token("old", "3000-01-01T00:00:00Z") is False
    assert store.enrolment_person("old") is None
    assert store.extend_enrolment_token("unknown", "3000-01-01T00:00:00Z") is False
    events = [e for e in store.audit_entries() if e.event == "person.enrolment_extended"]
    assert [(e.unit, json.loads(e.detail)) for e in events] == [(str(unit), {"person": "P-live"})]
