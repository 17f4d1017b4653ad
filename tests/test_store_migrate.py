"""``sendemodul admin migrate-store``: a SQLite home copied into a real PostgreSQL, verified, and usable after."""

import pytest
from conftest import ALNA, STAVANGER, add_unit, run_cli

from sendemodul import audit
from sendemodul.store import Store

pytestmark = pytest.mark.integration


def upload(reference, container_id, received_at):
    return {
        "reference": reference,
        "unit": ALNA,
        "register": "11F",
        "periode": 2026,
        "container_id": container_id,
        "sha256": "0" * 64,
        "size": 1234,
        "status": "received",
        "test": 0,
        "late": 0,
        "received_at": received_at,
    }


@pytest.fixture
def pg_url(postgres):
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


def test_a_home_copied_into_postgresql_has_every_row_and_the_same_audit_chain(home, pg_url):
    source = Store.open(home / "sendemodul.db")
    alna = add_unit(source, ALNA, name="Alna")
    add_unit(source, STAVANGER, name="Stavanger")
    source.set_pin(alna, "$argon2id$x", actor="test")
    source.add_ssh_key(alna, algorithm="ssh-ed25519", public_key="k", fingerprint="SHA256:a", comment="", actor="t")
    source.record_upload(upload("SM-20270115-AAAAAAAA", "c1", "2027-01-15T07:00:00Z"), actor=ALNA)
    source.record_upload(upload("SM-20270115-BBBBBBBB", "c2", "2027-01-15T08:00:00Z"), actor=ALNA)  # supersedes
    expected = {
        "units": source.list_units(),
        "uploads": source.list_uploads(),
        "audit": list(source.audit_entries()),
        "keys": source.ssh_keys(alna),
        "epoch": source.credential_epoch(alna),
    }
    source.close()

    out = run_cli("admin", "migrate-store", "--to", pg_url, home=home).stdout
    assert "copied and verified: audit log intact" in out and "uploads          2 rows" in out

    copy = Store.open(pg_url)
    try:
        assert copy.list_units() == expected["units"]
        assert copy.list_uploads() == expected["uploads"]
        assert copy.list_uploads()[0]["superseded_by"] == "SM-20270115-BBBBBBBB"
        assert list(copy.audit_entries()) == expected["audit"]
        assert copy.ssh_keys(alna) == expected["keys"] and copy.credential_epoch(alna) == expected["epoch"]
        # PostgreSQL numbers the next rows past the copied ones, and the chain goes on from the copied head
        copy.add_ssh_key(alna, algorithm="ssh-ed25519", public_key="k2", fingerprint="SHA256:b", comment="", actor="t")
        assert [k["id"] for k in copy.ssh_keys(alna)] == [1, 2]
        copy.audit("after.copy", actor="test")
        assert audit.verify(copy.audit_entries(), copy.audit_head()) is None
        assert copy.audit_head()[0] == len(expected["audit"]) + 2
    finally:
        copy.close()

    again = run_cli("admin", "migrate-store", "--to", pg_url, home=home, check=False)
    assert again.returncode == 1 and "ERROR: the target's table audit is not empty" in again.stderr


def test_migrate_store_wants_a_postgresql_url(home):
    proc = run_cli("admin", "migrate-store", "--to", str(home / "other.db"), home=home, check=False)
    assert proc.returncode != 0 and "postgresql:// URL" in proc.stderr


def test_with_store_url_the_admin_commands_use_postgresql_and_backup_points_to_its_tools(home, pg_url, tmp_path):
    run_cli("admin", "migrate-store", "--to", pg_url, home=home)
    config = home / "config.toml"
    config.write_text(config.read_text().replace("[store]\n", f'[store]\nurl = "{pg_url}"\n', 1))
    run_cli("admin", "unit", "add", ALNA, "--name", "Alna", "--email", "a@example.org", home=home)
    copy = Store.open(pg_url)
    try:
        assert [u["unit"] for u in copy.list_units()] == [ALNA]  # written to PostgreSQL, not to sendemodul.db
    finally:
        copy.close()
    old = Store.open(home / "sendemodul.db")
    assert old.list_units() == []
    old.close()
    assert "audit log intact: 2 rows" in run_cli("admin", "audit", "verify", home=home).stdout
    refused = run_cli("admin", "backup", tmp_path / "backup", home=home, check=False)
    assert refused.returncode == 1 and "pg_dump" in refused.stderr
