"""The TPF's side of SSB's answers (issue 17): the collector checks signature, reference and package digest before it
records anything; a forged, unknown, mismatched or replayed answer is refused, audited, and changes nothing."""

import datetime
import json
import shutil

import pytest
from conftest import run_cli
from server import DEMO, make_container

from sendemodul import answer, config, keydir, package, signing
from sendemodul.collector import DONE, REFUSED, AnswerCollector, DirAnswers
from sendemodul.container import MAX_JSON_BYTES, Manifest, TarReader
from sendemodul.errors import ManifestInvalid
from sendemodul.store import Store

REFERENCE = "SM-20270115-7KQ2XW9D"


@pytest.fixture
def tpf(tmp_path):
    """A dev home with one delivered upload whose package is at SSB (``ssb``), and the collector reading
    ``<home>/ssb-answers``."""
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    make_container(home, tmp_path / "c.tar", records=5)
    keys = keydir.load_key_dir(home / "keys")
    pkg = tmp_path / f"{REFERENCE}.tar"
    package.make_package(
        tmp_path / "c.tar",
        pkg,
        tpf_identities=keydir.load_age_identities(home / "private" / "tpf.agekey"),
        master_key=bytes.fromhex((home / "private" / "pseudonym-master.key").read_text().strip()),
        environment="dev",
        key_version=1,
        tpf_signing_key=signing.load_private_key(home / "private" / "tpf-signing.key"),
        ssb_recipients=keys.sealing_keys("ssb", datetime.date.today()),
    )
    with open(pkg, "rb") as f:
        manifest = Manifest.parse(
            TarReader(f).read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid)
        )
    store = Store.open(home / "sendemodul.db")
    store.record_upload(
        {
            "reference": REFERENCE,
            "unit": DEMO,
            "register": "11F",
            "periode": 2026,
            "container_id": manifest.container_id,
            "sha256": "0" * 64,
            "size": 1,
            "status": "received",
            "test": 0,
            "late": 0,
            "received_at": "2027-01-15T08:00:00Z",
        },
        actor="test",
    )
    store.claim_received()
    store.finish_pseudonymizing(
        REFERENCE,
        status="queued",
        feedback=[],
        feedback_omitted=0,
        package_size=pkg.stat().st_size,
        package_sha256=answer.package_digest(pkg),
        counts={},
        actor="test",
    )
    store.mark_delivered(REFERENCE, actor="test")
    cfg = config.load(home)
    collector = AnswerCollector(cfg, store)
    yield home, store, collector, pkg, manifest
    store.close()


def _answer(home, pkg, manifest, *, decision="returned", key=None, reference=REFERENCE, **overrides):
    kwargs = {
        "reference": reference,
        "manifest": manifest,
        "package_sha256": answer.package_digest(pkg),
        "decision": decision,
        "message": "Rett feilene." if decision == "returned" else "",
        "errors": [
            {
                "row_id": "0" * 24,
                "journalnr": "00000003",
                "severity": "ERROR",
                "rule": "CODE",
                "field": "KJONN",
                "message": "a code that is not in the list",
            }
        ],
        "signing_key": key or signing.load_private_key(home / "private" / "ssb-signing.key"),
    }
    kwargs.update(overrides)
    return answer.make_answer(**kwargs)


def _drop(home, name, data):
    (home / "ssb-answers" / name).write_bytes(data)


def _state(store):
    row = store.upload(REFERENCE)
    return row["status"], row["updated_at"], store.answer(REFERENCE)


def _refusals(store):
    return [json.loads(e.detail) for e in store.audit_entries() if e.event == "answer.refused"]


def test_a_signed_answer_is_recorded_once_and_a_replay_is_refused(tpf):
    home, store, collector, pkg, manifest = tpf
    data = _answer(home, pkg, manifest)
    _drop(home, "a.json", data)
    assert collector.run_once() == 1
    status, _, recorded = _state(store)
    assert status == "returned"
    assert recorded["message"] == "Rett feilene." and recorded["errors"][0]["journalnr"] == "00000003"
    assert (home / "ssb-answers" / DONE / "a.json").exists()
    assert [e.event for e in store.audit_entries()][-1] == "upload.returned"

    before = _state(store)
    _drop(home, "a.json", data)  # the same answer again
    assert collector.run_once() == 1
    assert _state(store) == before
    assert _refusals(store)[-1]["code"] == "answer_replayed"
    assert (home / "ssb-answers" / REFUSED / "a.json").exists()
    # another answer for the same delivery is refused too: one answer per delivery
    assert collector.receive(_answer(home, pkg, manifest, decision="accepted")) == REFUSED
    assert _state(store) == before


def test_forged_unknown_and_mismatched_answers_are_refused_audited_and_change_nothing(tpf, tmp_path):
    home, store, collector, pkg, manifest = tpf
    before = _state(store)
    forged_key = signing.write_new_key(tmp_path / "forger.key", "forger")
    other_pkg = tmp_path / "other.tar"
    shutil.copy(pkg, other_pkg)
    with open(other_pkg, "ab") as f:
        f.write(b"\0" * 512)
    cases = {
        "answer_signature": _answer(home, pkg, manifest, key=forged_key),
        "answer_unknown": _answer(home, pkg, manifest, reference="SM-20270115-ZZZZZZZZ"),
        "answer_mismatch": _answer(home, pkg, manifest, package_sha256=answer.package_digest(other_pkg)),
        "answer_invalid": b'{"format":"sendemodul-answer/1"}',
    }
    for code, data in cases.items():
        assert collector.receive(data) == REFUSED, code
        assert _refusals(store)[-1]["code"] == code
        assert _state(store) == before
    assert _refusals(store)[1]["reference"] == "SM-20270115-ZZZZZZZZ"
    # and still the genuine answer is accepted afterwards
    assert collector.receive(_answer(home, pkg, manifest, decision="accepted")) == DONE
    assert _state(store)[0] == "accepted"
    run_cli("admin", "audit", "verify", home=home)


def test_an_answer_with_an_id_number_in_it_is_stored_without_it(tpf):
    from sendemodul import identity

    home, store, collector, pkg, manifest = tpf
    fnr = identity.generate_fnr(datetime.date(1980, 2, 3), 200, kind="synthetic")
    data = _answer(home, pkg, manifest, message=f"Sjekk personen {fnr}.")
    assert collector.receive(data) == DONE
    stored = store.answer(REFERENCE)
    assert fnr not in json.dumps(stored) and answer.REDACTED in stored["message"]
    assert fnr.encode() not in (home / "sendemodul.db").read_bytes()


def test_files_being_written_are_left_alone(tpf):
    home, store, collector, pkg, manifest = tpf
    _drop(home, ".b.json.part", _answer(home, pkg, manifest))
    assert DirAnswers(home / "ssb-answers").pending() == []
    assert collector.run_once() == 0 and _state(store)[0] == "delivered"


@pytest.mark.integration
def test_the_unit_gets_one_email_when_the_answer_arrives(tpf, smtp):
    """One e-mail to each person of the unit who may report the register (the dev home's demo person), on a real
    SMTP server: SSB's decision, message and the rows by journalnummer; a relay outage leaves it for the next check;
    never sent twice. A unit without such persons gets it at its own address."""
    import dataclasses

    from sendemodul.answer_mail import AnswerMail

    home, store, collector, pkg, manifest = tpf
    assert collector.receive(_answer(home, pkg, manifest)) == DONE
    cfg = config.load(home)
    down = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True, smtp_port=1, timeout_seconds=2))
    assert AnswerMail(down, store).run() == 0
    up = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True, smtp_port=smtp.port))
    assert AnswerMail(up, store).run() == 1
    assert AnswerMail(up, store).run() == 0
    assert len(smtp.messages) == 1
    _, recipients, message = smtp.messages[0]
    assert recipients == ["demo@example.org"]
    assert "returnert" in message["Subject"] and REFERENCE in message["Subject"]
    # nobody of the unit may report IPLOS, and once its person is disabled nobody 11F: the unit's own address
    assert store.answer_recipients(DEMO, "IPLOS") == [("kostra-demo@example.org", "nb")]
    store.conn().execute("UPDATE persons SET state = 'disabled'")
    assert store.answer_recipients(DEMO, "11F") == [("kostra-demo@example.org", "nb")]
    body = message.get_content()
    assert "Rett feilene." in body and "00000003" in body and "CODE" in body


@pytest.mark.integration
def test_a_returned_review_sends_one_email_with_the_reviewers_message(tpf, smtp):
    """The county governor's return reaches the unit by e-mail once, with the message, and nothing of the data."""
    import dataclasses

    from sendemodul.answer_mail import AnswerMail

    home, store, _, _, _ = tpf
    store.conn().execute("UPDATE uploads SET status = 'awaiting_review' WHERE reference = ?", (REFERENCE,))
    store.conn().execute(
        "INSERT INTO reviews (reference, fylke, state, counts, created_at) VALUES (?, '03', 'open', '{}', 'x')",
        (REFERENCE,),
    )
    store.decide_review(REFERENCE, decision="returned", message="Mangler tiltak.", person_id="p-1", fylke="03")
    cfg = config.load(home)
    up = dataclasses.replace(cfg, mail=dataclasses.replace(cfg.mail, enabled=True, smtp_port=smtp.port))
    assert AnswerMail(up, store).run() == 1
    assert AnswerMail(up, store).run() == 0
    _, recipients, message = smtp.messages[0]
    assert recipients == ["kostra-demo@example.org"] and "statsforvalteren" in message["Subject"]  # no sender person
    assert "Mangler tiltak." in message.get_content()
