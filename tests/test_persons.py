"""Reporting persons (issue 16): TOTP (RFC 6238 vectors, drift, replay), registration and enrolment in the store,
recovery codes, and secrets never stored in clear."""

import base64
import datetime

import pytest
from conftest import ALNA, add_unit, grep_tree

from sendemodul import config as configmod
from sendemodul import enrolment, person_login, persons, totp
from sendemodul.errors import UsageError

T0 = 1_790_000_000  # a fixed instant (2026-09-21)


def test_totp_matches_the_rfc_6238_sha1_vectors():
    secret = b"12345678901234567890"
    # RFC 6238 appendix B gives 8 digits; the 6-digit code is the same value mod 10**6.
    for unix, eight in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (2000000000, "69279037")):
        assert totp.code_at(secret, unix) == eight[-6:]


def test_totp_accepts_one_step_of_drift_and_refuses_two():
    secret = totp.new_secret()
    now_step = totp.step_at(T0)
    for delta in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at_step(secret, now_step + delta), T0) == now_step + delta
    assert totp.matching_step(secret, totp.code_at_step(secret, now_step - 2), T0) is None
    assert totp.matching_step(secret, totp.code_at_step(secret, now_step + 2), T0) is None
    assert totp.matching_step(secret, "12345", T0) is None  # wrong length


def test_totp_code_not_newer_than_the_last_used_step_is_refused():
    secret = totp.new_secret()
    step = totp.step_at(T0)
    code = totp.code_at_step(secret, step)
    assert totp.matching_step(secret, code, T0, last_step=step - 1) == step
    assert totp.matching_step(secret, code, T0, last_step=step) is None


def test_secret_text_round_trips_and_uri_names_the_issuer():
    secret = totp.new_secret()
    assert totp.secret_from_text(totp.secret_text(secret).lower()) == secret
    uri = totp.provisioning_uri(secret, account="kari@example.org")
    assert uri.startswith("otpauth://totp/Sendemodul%3Akari%40example.org?secret=") and "period=30" in uri


def test_parse_registers():
    assert persons.parse_registers("11cf, 11F") == ("11F", "11CF")
    with pytest.raises(UsageError, match="unknown register 'IPLOS'"):
        persons.parse_registers("11F,IPLOS")
    with pytest.raises(UsageError, match="no register"):
        persons.parse_registers(" , ")


@pytest.fixture
def cfg(tmp_path):
    return configmod.Config(home=tmp_path)


def _register(cfg, store, email="kari@example.org", registers=("11F",)):
    if store.get_unit(ALNA) is None:
        add_unit(store, ALNA)
    return enrolment.register(
        cfg,
        store,
        _unit(),
        name="Kari Nordmann",
        email=email,
        mobile="+47 912 34 567",
        language="nb",
        registers=registers,
        registration={"unit_name": "Alna", "responsible_name": "Ola", "responsible_phone": "22 00 00 00"},
        actor="test",
    )


def _unit():
    from sendemodul import identity

    return identity.parse_unit(ALNA, 2026)


def _token_from_mail(path):
    text = path.read_text()
    return text.split("/innmelding/")[1].split()[0]


def test_registration_writes_one_eml_with_a_single_use_link_and_enrolment_activates(cfg, store):
    done = _register(cfg, store)
    assert done.needs_enrolment and done.person["state"] == "pending"
    assert done.mail.parent == tmp_mail(cfg) and done.mail.stat().st_mode & 0o777 == 0o600
    token = _token_from_mail(done.mail)
    person, secret = enrolment.open_enrolment(cfg, store, token)
    assert enrolment.open_enrolment(cfg, store, token)[1] == secret  # a reload shows the same secret
    assert enrolment.confirm_enrolment(cfg, store, token, "000000", T0)[0] == "wrong_code"
    status, codes = enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0), T0)
    assert status == "ok" and len(codes) == 10 and len(set(codes)) == 10
    assert store.person(person["person_id"])["state"] == "active"
    assert enrolment.open_enrolment(cfg, store, token) is None  # used once
    assert enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0 + 30), T0 + 30)[0] == "gone"
    # the code used to enrol is spent too
    assert person_login.check(cfg, store, _unit(), "kari@example.org", totp.code_at(secret, T0), T0) is None


def tmp_mail(cfg):
    return cfg.home / "mail"


def _enrolled(cfg, store):
    done = _register(cfg, store)
    token = _token_from_mail(done.mail)
    _, secret = enrolment.open_enrolment(cfg, store, token)
    _, codes = enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0), T0)
    return done.person, secret, codes


def test_a_totp_code_used_twice_is_refused(cfg, store):
    person, secret, _ = _enrolled(cfg, store)
    code = totp.code_at(secret, T0 + 60)
    assert (
        person_login.check(cfg, store, _unit(), "KARI@example.org ", code, T0 + 60)["person_id"] == person["person_id"]
    )
    assert person_login.check(cfg, store, _unit(), "kari@example.org", code, T0 + 60) is None
    assert person_login.check(cfg, store, _unit(), "kari@example.org", code, T0 + 75) is None  # same step, later


def test_a_code_two_steps_old_is_refused(cfg, store):
    _, secret, _ = _enrolled(cfg, store)
    now = T0 + 600
    assert person_login.check(cfg, store, _unit(), "kari@example.org", totp.code_at(secret, now - 60), now) is None
    assert person_login.check(cfg, store, _unit(), "kari@example.org", totp.code_at(secret, now - 30), now)


def test_an_older_code_after_a_newer_one_is_refused(cfg, store):
    _, secret, _ = _enrolled(cfg, store)
    now = T0 + 900
    assert person_login.check(cfg, store, _unit(), "kari@example.org", totp.code_at(secret, now + 30), now)
    assert person_login.check(cfg, store, _unit(), "kari@example.org", totp.code_at(secret, now), now) is None


def test_a_recovery_code_works_once(cfg, store):
    person, _, codes = _enrolled(cfg, store)
    assert person_login.check(cfg, store, _unit(), "kari@example.org", codes[3].lower(), T0 + 60)
    assert person_login.check(cfg, store, _unit(), "kari@example.org", codes[3], T0 + 90) is None
    assert store.recovery_codes_left(person["person_id"]) == 9
    assert person_login.check(cfg, store, _unit(), "kari@example.org", "AAAA-BBBB-CCCC", T0 + 90) is None


def test_unknown_and_disabled_persons_fail_alike(cfg, store):
    person, secret, _ = _enrolled(cfg, store)
    assert person_login.check(cfg, store, _unit(), "ola@example.org", totp.code_at(secret, T0 + 60), T0 + 60) is None
    store.disable_person(person["person_id"], actor="test")
    assert person_login.check(cfg, store, _unit(), "kari@example.org", totp.code_at(secret, T0 + 60), T0 + 60) is None


def test_an_expired_link_is_refused(cfg, store):
    done = enrolment.register(
        cfg,
        store,
        add_unit(store, ALNA),
        name="Kari",
        email="kari@example.org",
        mobile="",
        language="nn",
        registers=("15F",),
        registration={},
        actor="test",
        now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=73),
    )
    assert enrolment.open_enrolment(cfg, store, _token_from_mail(done.mail)) is None


def test_a_new_registration_adds_registers_to_an_active_person_without_a_new_link(cfg, store):
    person, _, _ = _enrolled(cfg, store)
    again = _register(cfg, store, registers=("15F",))
    assert not again.needs_enrolment and "/innmelding/" not in again.mail.read_text()
    assert persons.registers_of(store.person(person["person_id"])["registers"]) == ("11F", "15F")


def test_secrets_are_stored_only_encrypted_or_hashed(cfg, store):
    done = _register(cfg, store)
    token = _token_from_mail(done.mail)
    _, secret = enrolment.open_enrolment(cfg, store, token)
    _, codes = enrolment.confirm_enrolment(cfg, store, token, totp.code_at(secret, T0), T0)
    done.mail.unlink()  # the dev file backend holds the link by design; this test is about the store
    store.close()
    for needle in (
        token,
        secret,
        base64.b32encode(secret).rstrip(b"="),
        *codes,
        *(persons.normalize_recovery_code(c) for c in codes),
    ):
        needle = needle.encode() if isinstance(needle, str) else needle
        assert grep_tree(cfg.home, needle) == [], needle


def test_a_secret_copied_to_another_person_does_not_decrypt(tmp_path):
    key = persons.PersonKey.for_home(tmp_path)
    sealed = key.encrypt_secret("P-AAAA", b"x" * 20)
    assert key.decrypt_secret("P-AAAA", sealed) == b"x" * 20
    with pytest.raises(UsageError):
        key.decrypt_secret("P-BBBB", sealed)
    assert persons.PersonKey.path_for(tmp_path).stat().st_mode & 0o777 == 0o600
    assert persons.PersonKey.for_home(tmp_path) == key


def test_skjema_999_check_step_names_every_wrong_field_in_bokmaal():
    from sendemodul import identity
    from sendemodul.web.registration import problems

    unit = identity.Unit("0301", "12", "958935420")
    good = {
        "kommunenr": "0301",
        "unit_name": "Oslo kommune, bydel Alna",
        "bydel": "12",
        "responsible_name": "Ola",
        "responsible_phone": "22 00 00 00",
        "responsible_email": "ola@example.org",
        "name": "Kari",
        "email": "kari@example.org",
        "mobile": "",
        "registers": ["11F"],
        "language": "nb",
    }
    assert problems(good, unit) == {}
    bad = {**good, "bydel": "00", "responsible_phone": "12", "email": "kari", "registers": [], "mobile": "x"}
    found = problems(bad, unit)
    assert sorted(found) == ["bydel", "email", "mobile", "registers", "responsible_phone"]
    assert found["bydel"] == "Bydel må være 12, enheten du er logget inn som."


def test_mine_skjema_says_how_far_the_deadline_is():
    from sendemodul.config.sections import Window
    from sendemodul.web.overview import deadline_text

    window = Window("*", 2026, deadline=datetime.date(2027, 1, 15))
    day = datetime.date
    assert deadline_text(window, day(2027, 1, 12)) == "frist om 3 dager"
    assert deadline_text(window, day(2027, 1, 15)) == "fristen er i dag"
    assert deadline_text(window, day(2027, 1, 20)) == "fristen gikk ut for 5 dager siden"
    assert deadline_text(None, day(2027, 1, 1)) == ""
