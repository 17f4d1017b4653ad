"""Review before delivery (issue 17), in the store and the real worker and forwarder processes: with ``[[review]]``
for 15F a delivery waits after pseudonymizing as an open task of the unit's fylke; another fylke does not see it; a
return needs 1 to 4,000 characters and never reaches SSB; the corrected delivery is a new task linked to the returned
one, and once approved reaches SSB exactly once. Every transition is audited with the acting person."""

import json
import shutil

import pytest
from conftest import run_cli
from server import DEMO, make_extract_container

from sendemodul import config
from sendemodul.errors import NotFound, ReviewDecided, ReviewMessageInvalid, ReviewOwnDelivery
from sendemodul.store import Store

pytestmark = pytest.mark.integration  # the real worker and forwarder processes

REVIEW = '\n[[review]]\nregister = "15F"\nby = "statsforvalter"\n'
OSLO_FYLKE = "03"


def _upload(home, store, tmp_path, name, seed):
    """A 15F container as intake leaves it: recorded ``received``, its file in ``spool/received/``."""
    path = tmp_path / f"{name}.tar"
    manifest, _, _ = make_extract_container(home, path, register="15F", records=4, seed=seed)
    reference = f"SM-20270115-{name.upper():A<8}"[:20]
    store.record_upload(
        {
            "reference": reference,
            "unit": DEMO,
            "register": "15F",
            "periode": 2026,
            "container_id": manifest.container_id,
            "sha256": "0" * 64,
            "size": path.stat().st_size,
            "status": "received",
            "test": 0,
            "late": 0,
            "received_at": f"2027-01-15T0{seed}:00:00Z",
        },
        actor="test",
    )
    shutil.copy(path, home / "spool" / "received" / f"{reference}.tar")
    return reference


def test_review_before_delivery(tmp_path):
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    (home / "config.toml").write_text((home / "config.toml").read_text() + REVIEW)
    assert config.load(home).review_for("15F").by == "statsforvalter"
    store = Store.open(home / "sendemodul.db")
    try:
        first = _upload(home, store, tmp_path, "first", 1)
        run_cli("worker", "--once", home=home)
        assert store.upload(first)["status"] == "awaiting_review"
        run_cli("forwarder", "--once", home=home)
        assert list((home / "ssb-inbox").iterdir()) == []  # waits for the reviewer

        assert [t["reference"] for t in store.review_tasks(OSLO_FYLKE)] == [first]
        assert store.review_tasks("46") == []  # another fylke sees nothing
        task = store.review_task(first)
        assert task["counts"]["records"] == 4 and task["unit"] == DEMO
        with pytest.raises(NotFound):
            store.decide_review(first, decision="approved", message="", person_id="p-vestland", fylke="46")
        with pytest.raises(ReviewOwnDelivery):
            store.decide_review(first, decision="approved", message="", person_id="p-1", fylke="03", sender="p-1")
        with pytest.raises(ReviewMessageInvalid):
            store.decide_review(first, decision="returned", message="x" * 4001, person_id="p-oslo", fylke="03")
        with pytest.raises(ReviewMessageInvalid):
            store.decide_review(first, decision="returned", message="   ", person_id="p-oslo", fylke="03")
        assert store.upload(first)["status"] == "awaiting_review"
        store.decide_review(first, decision="returned", message="y" * 4000, person_id="p-oslo", fylke="03")
        with pytest.raises(ReviewDecided):
            store.decide_review(first, decision="approved", message="", person_id="p-oslo", fylke="03")
        assert store.upload(first)["status"] == "review_returned"
        assert store.upload_with_answer(first)["review"]["message"] == "y" * 4000
        run_cli("forwarder", "--once", home=home)
        assert list((home / "ssb-inbox").iterdir()) == []
        assert not (home / "spool" / "outbox" / f"{first}.tar").exists()  # a returned package never goes to SSB
        assert [t["reference"] for t in store.review_tasks(OSLO_FYLKE, solved=True)] == [first]

        second = _upload(home, store, tmp_path, "second", 2)
        run_cli("worker", "--once", home=home)
        task = store.review_task(second)
        assert task["state"] == "open" and task["previous"] == first
        store.decide_review(second, decision="approved", message="", person_id="p-oslo", fylke="03")
        run_cli("forwarder", "--once", home=home)
        run_cli("forwarder", "--once", home=home)
        assert [p.name for p in (home / "ssb-inbox").iterdir()] == [f"{second}.tar"]
        assert store.upload(second)["status"] == "delivered"

        events = [(e.event, e.actor, json.loads(e.detail).get("reference")) for e in store.audit_entries()]
        assert ("review.returned", "p-oslo", first) in events and ("review.approved", "p-oslo", second) in events
        assert ("review.opened", "worker", second) in events
        status = json.loads(
            run_cli("admin", "status", "--register", "15F", "--periode", "2026", "--json", home=home).stdout
        )
        assert {r["state"] for r in status if r["unit"] == DEMO} == {"delivered"}
    finally:
        store.close()


def test_review_config_is_checked():
    from sendemodul.errors import ConfigError

    with pytest.raises(ConfigError, match="review"):
        config.parse('[[review]]\nregister = "15X"\n', "/tmp/x")
    with pytest.raises(ConfigError, match="by"):
        config.parse('[[review]]\nregister = "15F"\nby = "ssb"\n', "/tmp/x")
    assert config.parse('[[review]]\nregister = "15F"\n', "/tmp/x").review_for("11F") is None


def test_admin_grants_the_first_reviewer_of_a_fylke(tmp_path):
    """``admin person add --role statsforvalter --fylke 46`` makes a reviewer of Vestland (audited); a missing or
    unknown fylke, or a fylke for a reporter, is one ERROR line."""
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    base = ["admin", "person", "add", DEMO, "--name", "Ola Vestland", "--registers", "15F", "--home", home]
    for extra, expected in (
        (["--role", "statsforvalter"], "needs --fylke"),
        (["--role", "statsforvalter", "--fylke", "99"], "needs --fylke"),
        (["--fylke", "46"], "--fylke goes with --role statsforvalter"),
    ):
        proc = run_cli(*base, "--email", "x@example.org", *extra, check=False)
        assert proc.returncode == 1 and proc.stderr.startswith("ERROR: ") and expected in proc.stderr, proc.stderr
    out = run_cli(*base, "--email", "ola@sfvl.example.org", "--role", "statsforvalter", "--fylke", "46").stdout
    assert "statsforvalter for fylke 46" in out
    store = Store.open(home / "sendemodul.db")
    try:
        row = store._row("SELECT role, fylke FROM persons WHERE email = 'ola@sfvl.example.org'")
        assert row == {"role": "statsforvalter", "fylke": "46"}
        assert any(e.event == "person.role" for e in store.audit_entries())
    finally:
        store.close()
