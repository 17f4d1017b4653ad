import sqlite3
import threading

import pytest

from sendemodul.errors import AlreadyExists, NotFound, StoreError, UnitNotFound
from sendemodul.store import Store
from sendemodul.store import migrations as storemod

from conftest import ALNA, add_unit


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
        return {p: c.execute(f"PRAGMA {p}").fetchone()[0]
                for p in ("journal_mode", "foreign_keys", "secure_delete", "trusted_schema", "synchronous")}

    expected = {"journal_mode": "wal", "foreign_keys": 1, "secure_delete": 1, "trusted_schema": 0, "synchronous": 2}
    assert pragmas() == expected
    seen = []
    t = threading.Thread(target=lambda: seen.append(pragmas()))
    t.start()
    t.join()
    assert seen == [expected]


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction() as conn:
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
    store.add_ssh_key(unit, algorithm="ssh-ed25519", public_key="ssh-ed25519 AAAA", fingerprint="SHA256:x",
                      comment="c", actor="test")
    with pytest.raises(AlreadyExists):
        store.add_ssh_key(unit, algorithm="ssh-ed25519", public_key="ssh-ed25519 AAAA", fingerprint="SHA256:x",
                          comment="c", actor="test")
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
