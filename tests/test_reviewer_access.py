"""Access for reviewers (issue 17), in the store (SQLite and PostgreSQL) and the logic: an application's fields are
checked (name, work e-mail, a fylke of the year's list, the written standard); one open application per address;
only a reviewer of the fylke applied for decides it, once; approval makes a reviewer person without a unit and
e-mails the enrolment link in the applicant's language, refusal e-mails the applicant; every transition is audited
with the acting person and never with a name or an e-mail address; the reviewer logs in without a unit."""

import json

import pytest
from conftest import ALNA, add_unit
from test_store import build_old, location  # noqa: F401 (the fixture: SQLite and PostgreSQL)

from sendemodul import config as configmod
from sendemodul import enrolment, person_login, reviewer_access, totp
from sendemodul.errors import ApplicationDecided, NotFound
from sendemodul.store import Store
from sendemodul.store import reviewer_access as store_access

T0 = 1_790_000_000
FORM = {"name": "Kari Vestland", "email": "Kari@SFVL.example.org", "fylke": "46", "language": "nn"}


@pytest.fixture
def store(location):  # noqa: F811
    s = Store.create(location)
    yield s
    s.close()


@pytest.fixture
def cfg(tmp_path):
    return configmod.Config(home=tmp_path)


def _mail(path):
    import email
    import email.policy

    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _token(path):
    return _mail(path).get_content().split("/innmelding/")[1].split()[0]


def _first_reviewer(cfg, store, fylke="46", email="ola@sfvl.example.org"):
    """The operator's first reviewer of ``fylke``, enrolled: ``(person, secret)``."""
    done = reviewer_access.register_reviewer(
        cfg, store, name="Ola Vestland", email=email, language="nb", fylke=fylke, actor="admin"
    )
    token = _token(done.mail)
    _, secret = enrolment.open_enrolment(cfg, store, token)
    assert enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0), T0)[0] == "ok"
    return store.person(done.person["person_id"]), secret


def _audit(store, event):
    """The audit rows of ``event``: ``(actor, detail)``."""
    return [(e.actor, json.loads(e.detail)) for e in store.audit_entries() if e.event == event]


def test_problems_name_each_bad_field_in_bokmal_and_nynorsk():
    assert reviewer_access.problems(FORM) == {}
    bad = reviewer_access.problems({"name": " ", "email": "kari@", "fylke": "99", "language": "se"})
    assert set(bad) == {"name", "email", "fylke", "language"}
    assert bad["name"].in_language("nb") == "Skriv navnet ditt."
    assert bad["name"].in_language("nn") == "Skriv namnet ditt."
    assert "fylket" in bad["fylke"].in_language("nb") and "statsforvaltar" in bad["fylke"].in_language("nn")


def test_the_form_offers_the_fylker_of_the_year():
    assert [f.fylkesnr for f in reviewer_access.fylker_of_year(2026)][:3] == ["03", "11", "15"]
    assert "46" in {f.fylkesnr for f in reviewer_access.fylker_of_year(2026)}
    assert "31" not in {f.fylkesnr for f in reviewer_access.fylker_of_year(2023)}  # Østfold anew from 2024


def test_one_open_application_per_address_and_none_audits_a_name_or_address(store):
    assert reviewer_access.apply(store, FORM) == "open"
    assert reviewer_access.apply(store, {**FORM, "fylke": "03", "email": "kari@sfvl.example.org "}) == "duplicate"
    [application] = store.reviewer_applications("46")
    assert application["email"] == "kari@sfvl.example.org" and application["application_id"].startswith("A-")
    assert store.reviewer_applications("03") == []
    assert _audit(store, "reviewer_application.received") == [
        ("web", {"application": application["application_id"], "fylke": "46"})
    ]
    assert "kari" not in repr(list(store.audit_entries())).lower()


def test_a_fylke_takes_a_bounded_number_of_open_applications(store, monkeypatch):
    monkeypatch.setattr(store_access, "MAX_OPEN_APPLICATIONS", 2)
    assert [reviewer_access.apply(store, {**FORM, "email": f"p{i}@example.org"}) for i in range(3)] == [
        "open",
        "open",
        "full",
    ]
    assert reviewer_access.apply(store, {**FORM, "email": "p9@example.org", "fylke": "03"}) == "open"


def test_only_a_reviewer_of_the_fylke_decides_and_approval_enrols_without_a_unit(cfg, store):
    ola, _ = _first_reviewer(cfg, store, "46")
    other, _ = _first_reviewer(cfg, store, "03", email="per@sfov.example.org")
    assert ola["unit"] is None and (ola["role"], ola["fylke"], ola["state"]) == ("statsforvalter", "46", "active")
    reviewer_access.apply(store, FORM)
    [application] = store.reviewer_applications("46")
    app_id = application["application_id"]
    with pytest.raises(NotFound):  # another fylke's reviewer: as if it did not exist
        reviewer_access.approve(cfg, store, app_id, fylke="03", reviewer_person_id=other["person_id"])
    assert store.reviewer_application(app_id)["state"] == "open"
    decided = reviewer_access.approve(cfg, store, app_id, fylke="46", reviewer_person_id=ola["person_id"])
    assert decided.application["state"] == "approved" and decided.application["decided_by"] == ola["person_id"]
    kari = decided.person
    assert (kari["unit"], kari["role"], kari["fylke"], kari["state"]) == (None, "statsforvalter", "46", "pending")
    message = _mail(decided.mail)
    assert message["To"] == "kari@sfvl.example.org" and "innlogginga di" in message["Subject"]  # Nynorsk
    assert "/innmelding/" in message.get_content() and "/statsforvalter" in message.get_content()
    with pytest.raises(ApplicationDecided):
        reviewer_access.refuse(cfg, store, app_id, fylke="46", reviewer_person_id=ola["person_id"])
    assert _audit(store, "reviewer_application.approved") == [
        (f"person:{ola['person_id']}", {"application": app_id, "fylke": "46", "person": kari["person_id"]})
    ]
    # the new reviewer enrols from the link and logs in without a unit
    token = _token(decided.mail)
    _, secret = enrolment.open_enrolment(cfg, store, token)
    assert enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0), T0)[0] == "ok"
    code = totp.code_at(secret, T0 + 30)
    assert person_login.check_reviewer(cfg, store, "KARI@sfvl.example.org", code, T0 + 30)["fylke"] == "46"
    assert person_login.check_reviewer(cfg, store, "kari@sfvl.example.org", code, T0 + 30) is None  # replayed


def test_refusal_emails_the_applicant_and_is_audited_with_the_reviewer(cfg, store):
    ola, _ = _first_reviewer(cfg, store)
    reviewer_access.apply(store, {**FORM, "language": "nb"})
    app_id = store.reviewer_applications("46")[0]["application_id"]
    decided = reviewer_access.refuse(cfg, store, app_id, fylke="46", reviewer_person_id=ola["person_id"])
    assert decided.application["state"] == "refused" and decided.person is None
    message = _mail(decided.mail)
    assert message["Subject"] == "Sendemodulen: søknaden om tilgang er avslått"
    assert "Vestland har avslått" in message.get_content() and "/tilgang" in message.get_content()
    assert store.reviewer_by_email("kari@sfvl.example.org") is None
    assert _audit(store, "reviewer_application.refused") == [
        (f"person:{ola['person_id']}", {"application": app_id, "fylke": "46"})
    ]
    assert [a["application_id"] for a in store.reviewer_applications("46", solved=True)] == [app_id]
    assert reviewer_access.apply(store, {**FORM, "language": "nb"}) == "open"  # may apply again


def test_a_person_of_a_unit_does_not_log_in_without_it(cfg, store):
    add_unit(store, ALNA)
    from sendemodul import identity

    done = enrolment.register(
        cfg,
        store,
        identity.parse_unit(ALNA, 2026),
        name="Kari",
        email="kari@example.org",
        mobile="",
        language="nb",
        registers=("15F",),
        registration={},
        actor="test",
    )
    token = _token(done.mail)
    _, secret = enrolment.open_enrolment(cfg, store, token)
    enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0), T0)
    store.set_person_role(done.person["person_id"], "statsforvalter", "03", actor="test")
    assert person_login.check_reviewer(cfg, store, "kari@example.org", totp.code_at(secret, T0 + 30), T0 + 30) is None


def test_a_disabled_reviewer_cannot_log_in_and_enrols_anew_when_registered_again(cfg, store):
    ola, secret = _first_reviewer(cfg, store)
    store.disable_person(ola["person_id"], actor="admin")
    assert person_login.check_reviewer(cfg, store, ola["email"], totp.code_at(secret, T0 + 30), T0 + 30) is None
    again = reviewer_access.register_reviewer(
        cfg, store, name="Ola Vestland", email=ola["email"], language="nb", fylke="46", actor="admin"
    )
    assert again.person["person_id"] == ola["person_id"] and again.needs_enrolment
    assert again.person["state"] == "pending" and again.person["totp_secret"] is None


def test_an_upgrade_from_schema_8_keeps_the_persons_and_adds_the_applications(location, cfg):  # noqa: F811
    build_old(location, 8)
    store = Store.open(location)
    try:
        assert "reviewer_applications" in store.table_names()
        assert reviewer_access.apply(store, FORM) == "open"
        ola, _ = _first_reviewer(cfg, store)
        assert store.login_reviewer("ola@sfvl.example.org")["person_id"] == ola["person_id"]
    finally:
        store.close()


def test_a_reviewers_link_lives_as_long_as_every_persons_link(cfg, store):
    import dataclasses
    import datetime

    short = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, enrolment_link_seconds=2 * 3600))
    now = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=datetime.UTC)
    done = reviewer_access.register_reviewer(
        short, store, name="Ola", email="ola@sfvl.example.org", language="nb", fylke="46", actor="admin", now=now
    )
    assert "gjelder i 2 timer" in _mail(done.mail).get_content()
    [row] = store._rows("SELECT expires_at FROM enrolment_tokens WHERE person_id = ?", (done.person["person_id"],))
    assert row["expires_at"] == "2026-12-07T10:00:00Z"
