import sqlite3

import pytest
from conftest import ALNA, run_cli

from sendemodul import audit


def _fill(store, n=6):
    for i in range(n):
        store.audit("test.event", actor="test", detail={"i": i})


def _raw(store):
    """A raw connection with the append-only triggers dropped: what an attacker with the file could do."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    return conn


def _problem(store):
    return audit.verify(store.audit_entries(), store.audit_head())


def test_intact_chain_verifies(store):
    _fill(store)
    assert _problem(store) is None
    assert store.audit_head()[0] == 6


def test_triggers_refuse_update_and_delete(store):
    _fill(store, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn().execute("UPDATE audit SET event = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn().execute("DELETE FROM audit WHERE seq = 1")


def test_edited_row_is_named(store):
    _fill(store)
    _raw(store).execute("UPDATE audit SET detail = '{\"i\":99}' WHERE seq = 4")
    problem = _problem(store)
    assert problem.seq == 4 and "edited" in problem.message


def test_edited_row_with_recomputed_hash_breaks_the_next_link(store):
    _fill(store)
    row = next(e for e in store.audit_entries() if e.seq == 3)
    forged = audit.Entry(row.seq, row.at, "forged", row.actor, row.unit, row.detail, row.prev_hash)
    _raw(store).execute("UPDATE audit SET event = 'forged', hash = ? WHERE seq = 3", (forged.compute_hash(),))
    problem = _problem(store)
    assert problem.seq == 4 and "does not follow row 3" in problem.message


def test_deleted_row_is_named(store):
    _fill(store)
    _raw(store).execute("DELETE FROM audit WHERE seq = 3")
    problem = _problem(store)
    assert problem.seq == 3 and "row 3 deleted" in problem.message


def test_deleted_tail_is_noticed(store):
    _fill(store)
    _raw(store).execute("DELETE FROM audit WHERE seq >= 5")
    problem = _problem(store)
    assert problem.seq == 5 and "rows 5-6 deleted from the end" in problem.message


def test_reordered_rows_are_named(store):
    _fill(store)
    conn = _raw(store)
    conn.execute("UPDATE audit SET seq = 100 WHERE seq = 2")
    conn.execute("UPDATE audit SET seq = 2 WHERE seq = 5")
    conn.execute("UPDATE audit SET seq = 5 WHERE seq = 100")
    problem = _problem(store)
    assert problem.seq == 2


@pytest.mark.integration
def test_cli_audit_verify_names_the_first_bad_row(home):
    from sendemodul.store import Store

    run_cli("admin", "unit", "add", ALNA, "--name", "Alna", "--email", "a@example.org", home=home)
    run_cli("admin", "pin", "issue", ALNA, home=home)
    ok = run_cli("admin", "audit", "verify", home=home)
    assert "audit log intact: 3 rows" in ok.stdout
    store = Store.open(home / "sendemodul.db")
    _raw(store).execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    store.close()
    bad = run_cli("admin", "audit", "verify", home=home, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "ERROR: audit log damaged: row 2 was edited (its content does not match its hash)"
