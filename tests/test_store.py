import sqlite3
import threading

import pytest
from conftest import ALNA, add_unit

from sendemodul.errors import AlreadyExists, NotFound, StoreError, UnitNotFound
from sendemodul.store import Store
from sendemodul.store import migrations as storemod


def test_create_is_atomic_and_private(tmp_path):
    s = Store.create(tmp_path / "db.sqlite")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("db.sqlite")) == []
    assert (tmp_path / "db.sqlite").stat().st_mode & 0o777 == 0o600
    assert s.schema_version() == storemod.SCHEMA_VERSION
    assert {"units", "pins", "ssh_keys", "signing_keys", "uploads", "audit", "audit_head"} <= set(s.table_names())
    s.close()
    with pytest.raises(AlreadyExists):
        Store.create(tmp_path / "db.sqlite")


def test_hardening_pragmas_on_every_connection(store):
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
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("INSERT INTO pins (unit, phc, issued_at) VALUES ('0301-00-958935420', 'x', 'now')")


def test_open_refuses_a_missing_database(tmp_path):
    with pytest.raises(StoreError, match="admin init"):
        Store.open(tmp_path / "none.db")


def test_open_refuses_a_newer_schema(store):
    store.conn().execute("PRAGMA user_version = 999")
    with pytest.raises(StoreError, match="newer than this program"):
        Store.open(store.path)


def test_upgrade_runs_new_migrations_and_backs_up_first(store, monkeypatch):
    add_unit(store, ALNA)
    store.close()
    monkeypatch.setattr(storemod, "MIGRATIONS", [*storemod.MIGRATIONS, "CREATE TABLE extra (x INTEGER) STRICT;"])
    monkeypatch.setattr(storemod, "SCHEMA_VERSION", len(storemod.MIGRATIONS))
    upgraded = Store.open(store.path)
    assert upgraded.schema_version() == storemod.SCHEMA_VERSION
    assert "extra" in upgraded.table_names()
    backup = store.path.with_name(f"{store.path.name}.v{storemod.SCHEMA_VERSION - 1}.bak")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == storemod.SCHEMA_VERSION - 1
    assert old.execute("SELECT unit FROM units").fetchall() == [(ALNA,)]
    upgraded.close()


def test_a_failed_migration_leaves_the_old_schema(store, monkeypatch):
    store.close()
    monkeypatch.setattr(storemod, "MIGRATIONS", [*storemod.MIGRATIONS, "CREATE TABLE ok (x); CREATE TABLE units (x);"])
    monkeypatch.setattr(storemod, "SCHEMA_VERSION", len(storemod.MIGRATIONS))
    with pytest.raises(StoreError):
        Store.open(store.path)
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == storemod.SCHEMA_VERSION - 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ok'").fetchone()[0] == 0


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


def test_an_upgraded_database_gets_epoch_0_for_its_units_and_keeps_working(tmp_path):
    """Migration 3 on a database made by version 2: units and PINs stay, every epoch starts at 0."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(storemod.MIGRATIONS[:2], start=1):
        for statement in storemod._split_sql(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO units (unit, kommunenr, bydel, orgnr, name, email, created_at) VALUES"
        " (?, '0301', '12', '958935420', 'Alna', 'a@example.org', '2026-01-01T00:00:00Z')",
        (ALNA,),
    )
    conn.execute("INSERT INTO pins (unit, phc, issued_at) VALUES (?, '$argon2id$old', '2026-01-01T00:00:00Z')", (ALNA,))
    conn.close()
    store = Store.open(path)
    try:
        assert store.schema_version() == storemod.SCHEMA_VERSION >= 3
        assert store.login_pin(ALNA) == ("$argon2id$old", 0) and store.max_credential_epoch() == 0
        store.revoke_pin(ALNA, actor="test")
        assert store.credential_changes(0) == [(ALNA, 1, True)]
    finally:
        store.close()
