"""Registering a person (skjema 999, from the web or ``sendemodul admin person add``) and their enrolment: the one
e-mail with a single-use link valid ``limits.enrolment_link_seconds`` (72 hours), the page that shows the new TOTP
secret, and its confirmation with a current code, which activates the person and hands out the recovery codes
(shown once, stored only as keyed hashes). Blocking: the web front calls these off the reactor thread.

The link is a time limit set by us, so (WCAG 2.2.1 Timing Adjustable) its page warns before it runs out and offers
more time (:func:`extend_enrolment`: the link is valid the whole time again from then); a link that has run out
says how to get a new one (the unit registers the person again with skjema 999)."""

import datetime
from dataclasses import dataclass

import jinja2

from sendemodul import i18n, mailer, persons, resources, totp
from sendemodul.i18n import Msg
from sendemodul.messages_nb import MAIL
from sendemodul.timefmt import parse_utc_text, utc_text


@dataclass(frozen=True)
class Registered:
    person: dict
    #: True when the person must still enrol (a link was sent); False when an active person got more registers.
    needs_enrolment: bool
    #: Where the e-mail went: "smtp" or the .eml file's path (None if it could not be sent).
    mail: object
    mail_error: str | None = None


def _mail_templates(lang=i18n.DEFAULT):
    """The e-mail templates in ``lang``, the person's own choice (plain text)."""
    return i18n.environment(lang, jinja2.FileSystemLoader(resources.templates_dir()), autoescape=False)


def link_seconds(cfg):
    """How long an enrolment link is valid (``limits.enrolment_link_seconds``)."""
    limits = getattr(cfg, "limits", None)
    return limits.enrolment_link_seconds if limits is not None else persons.ENROLMENT_HOURS * 3600


def enrolment_link(cfg, token):
    return f"{cfg.server.public_url.rstrip('/')}/innmelding/{token}"


def register(cfg, store, unit, *, name, email, mobile, language, registers, registration, actor, now=None):
    """Record a registration and send the person their e-mail. ``registers``: a tuple from
    :func:`persons.parse_registers`; ``registration``: the rest of skjema 999 (unit_name, responsible_*)."""
    now = now or datetime.datetime.now(datetime.UTC)
    token = persons.new_enrolment_token()
    expires = utc_text(now + datetime.timedelta(seconds=link_seconds(cfg)))
    person, needs = store.register_person(
        unit,
        person_id=persons.new_person_id(),
        name=name,
        email=persons.normalize_email(email),
        mobile=persons.normalize_mobile(mobile),
        language=language,
        registers=registers,
        registration=registration,
        token=(persons.token_hash(token), expires),
        actor=actor,
    )
    unit_row = store.get_unit(unit)
    lang = i18n.language(person.get("language"))
    body = (
        _mail_templates(lang)
        .get_template("mail/enrolment.txt.j2")
        .render(
            name=person["name"],
            unit=str(unit),
            unit_name=unit_row["name"],
            registers=", ".join(persons.registers_of(person["registers"])),
            link=enrolment_link(cfg, token) if needs else None,
            hours=max(1, link_seconds(cfg) // 3600),
        )
    )
    subject = Msg(MAIL["enrolment_subject" if needs else "registers_subject"]).in_language(lang)
    try:
        where = mailer.send(cfg, person["email"], subject, body)
    except mailer.MailFailed as e:
        return Registered(person, needs, None, str(e))
    return Registered(person, needs, where)


def open_enrolment(cfg, store, token):
    """For the enrolment page: ``(person_row, secret)`` with a pending secret kept (encrypted) for the person, or
    None for a link that is unknown, used, expired or of a disabled person."""
    person = store.enrolment_person(persons.token_hash(token))
    if person is None:
        return None
    key = persons.PersonKey.for_home(cfg.home)
    sealed = store.set_pending_totp(person["person_id"], key.encrypt_secret(person["person_id"], totp.new_secret()))
    return person, key.decrypt_secret(person["person_id"], sealed)


def seconds_left(person, now=None):
    """Whole seconds until the enrolment link of ``person`` (a row of :func:`open_enrolment`, with
    ``link_expires_at``) runs out."""
    now = now or datetime.datetime.now(datetime.UTC)
    return max(0, int((parse_utc_text(person["link_expires_at"]) - now).total_seconds()))


def extend_enrolment(cfg, store, token, now=None):
    """ "More time" on the enrolment page: the link, while unused and unexpired, is valid
    ``limits.enrolment_link_seconds`` from ``now`` again. The seconds it now has, or None for a link that is gone.
    (Whoever holds the link can enrol with it at once, so more time gives them nothing they did not have.)"""
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = link_seconds(cfg)
    if not store.extend_enrolment_token(persons.token_hash(token), utc_text(now + datetime.timedelta(seconds=seconds))):
        return None
    return seconds


def confirm_enrolment(cfg, store, token, code, unix_seconds):
    """Confirm with a current code: ``("ok", recovery_codes)``, ``("wrong_code", None)`` or ``("gone", None)``."""
    opened = open_enrolment(cfg, store, token)
    if opened is None:
        return "gone", None
    person, secret = opened
    step = totp.matching_step(secret, code, unix_seconds)
    if step is None:
        return "wrong_code", None
    key = persons.PersonKey.for_home(cfg.home)
    codes = persons.new_recovery_codes()
    hashes = [key.recovery_hash(person["person_id"], c) for c in codes]
    if not store.complete_enrolment(persons.token_hash(token), person["person_id"], step=step, recovery_hashes=hashes):
        return "gone", None
    return "ok", codes


DEMO_PERSON_EMAIL = "demo@example.org"


def create_demo_person(cfg, store, unit, *, actor):
    """Dev homes: an active demo person of the demo unit, for every register, whose TOTP secret is written to
    ``<home>/demo/totp-secret.txt`` (the one place a TOTP secret is kept in clear on purpose, as the demo PIN is),
    so that a newcomer can log in: ``sendemodul admin person code UNIT demo@example.org`` prints a current code."""
    from sendemodul.home import write_file

    done = store.register_person(
        unit,
        person_id=persons.new_person_id(),
        name="Demo Person",
        email=DEMO_PERSON_EMAIL,
        mobile=None,
        language="nb",
        registers=persons.PERSON_REGISTERS,
        registration={"unit_name": "demo"},
        token=(persons.token_hash(persons.new_enrolment_token()), utc_text(datetime.datetime.now(datetime.UTC))),
        actor=actor,
    )[0]
    key = persons.PersonKey.for_home(cfg.home)
    secret = totp.new_secret()
    store.activate_person_with_secret(done["person_id"], key.encrypt_secret(done["person_id"], secret), [], actor=actor)
    path = write_file(cfg.home / "demo" / "totp-secret.txt", totp.secret_text(secret) + "\n")
    return done, path
