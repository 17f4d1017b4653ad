"""Access for reviewers (issue 17): a person applies in the web for reviewer access to a fylke (name, work e-mail,
the fylke, the written standard); the reviewers of that fylke approve (the applicant becomes a reviewer person of the
fylke, without a unit, and gets the enrolment e-mail: the same single-use link, TOTP and recovery codes as every
person) or refuse (the applicant gets an e-mail saying so). The operator makes the first reviewer of a fylke
(``sendemodul admin person add --role statsforvalter --fylke 46``), and a reviewer logs in without a unit
(:func:`sendemodul.person_login.check_reviewer`).

Blocking (store, key file, SMTP): the web front calls these off the reactor thread. The e-mails are in the
applicant's chosen written standard and carry no ID number and no data."""

import base64
import datetime
import secrets
from dataclasses import dataclass

from sendemodul import enrolment, i18n, mailer, messages_nb, persons
from sendemodul.i18n import Msg
from sendemodul.identity.codelists import fylker
from sendemodul.messages_nb import MAIL
from sendemodul.timefmt import OSLO, utc_text

FIELDS = ("name", "email", "fylke", "language")


def fylker_of_year(year=None):
    """The fylker in force in ``year`` (this year in Oslo by default), by fylkesnr: those an application may name."""
    year = year or datetime.datetime.now(OSLO).year
    return [f for _, f in sorted(fylker().items()) if f.valid_in(year)]


def fylke_name(fylkesnr):
    fylke = fylker().get(fylkesnr)
    return fylke.name if fylke else fylkesnr


def problems(form, year=None):
    """What is wrong with an application's fields: ``{field: Msg}`` (empty when it can be sent)."""
    wrong = {}
    if not form.get("name", "").strip():
        wrong["name"] = "name"
    if not persons.EMAIL_RE.match(form.get("email", "").strip()):
        wrong["email"] = "email"
    if form.get("fylke") not in {f.fylkesnr for f in fylker_of_year(year)}:
        wrong["fylke"] = "fylke"
    if form.get("language") not in persons.LANGUAGES:
        wrong["language"] = "language"
    return {name: Msg(messages_nb.ACCESS_PROBLEMS[key]) for name, key in wrong.items()}


def new_application_id():
    """An opaque application id: ``A-`` and 20 base32 characters (100 random bits)."""
    return "A-" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").rstrip("=")[:20]


def apply(store, form):
    """Record a valid application (check :func:`problems` first): ``"open"``, ``"duplicate"`` (an open one for the
    address exists; the applicant is told the same as for a new one) or ``"full"``."""
    return store.apply_for_reviewer_access(
        application_id=new_application_id(),
        name=form["name"].strip()[:200],
        email=persons.normalize_email(form["email"]),
        fylke=form["fylke"],
        language=form["language"],
    )


@dataclass(frozen=True)
class Decided:
    application: dict
    #: The reviewer person an approval made or updated (None for a refusal).
    person: dict | None
    needs_enrolment: bool
    #: Where the e-mail went ("smtp" or an .eml path), or None when it failed (``mail_error`` says why).
    mail: object
    mail_error: str | None = None


def _token(cfg, now):
    """A new enrolment token and what the store keeps of it: its hash and its end (``limits.enrolment_link_seconds``
    from ``now``, as every person's link)."""
    token = persons.new_enrolment_token()
    expires = utc_text(now + datetime.timedelta(seconds=enrolment.link_seconds(cfg)))
    return token, (persons.token_hash(token), expires)


def _send(cfg, to, lang, subject_key, template, **values):
    body = enrolment._mail_templates(lang).get_template(template).render(**values)
    return mailer.send(cfg, to, Msg(MAIL[subject_key]).in_language(lang), body)


def _reviewer_mail(cfg, person, needs, token):
    """The e-mail to a new or changed reviewer: the enrolment link (when they must enrol) or a notice of the fylke."""
    lang = i18n.language(person.get("language"))
    return _send(
        cfg,
        person["email"],
        lang,
        "enrolment_subject" if needs else "reviewer_fylke_subject",
        "mail/reviewer-enrolment.txt.j2",
        name=person["name"],
        fylke=fylke_name(person["fylke"]),
        link=enrolment.enrolment_link(cfg, token) if needs else None,
        login=f"{cfg.server.public_url.rstrip('/')}/statsforvalter",
        hours=max(1, enrolment.link_seconds(cfg) // 3600),
    )


def approve(cfg, store, application_id, *, fylke, reviewer_person_id, now=None):
    """A reviewer of ``fylke`` approves an application: the reviewer person is made and e-mailed the enrolment link.
    Raises NotFound (another fylke's, or unknown) or ApplicationDecided."""
    token, stored = _token(cfg, now or datetime.datetime.now(datetime.UTC))
    application, person, needs = store.approve_reviewer_application(
        application_id,
        fylke=fylke,
        actor_person_id=reviewer_person_id,
        person_id=persons.new_person_id(),
        token=stored,
    )
    try:
        where = _reviewer_mail(cfg, person, needs, token)
    except mailer.MailFailed as e:
        return Decided(application, person, needs, None, str(e))
    return Decided(application, person, needs, where)


def refuse(cfg, store, application_id, *, fylke, reviewer_person_id):
    """A reviewer of ``fylke`` refuses an application; the applicant is told by e-mail."""
    application = store.refuse_reviewer_application(application_id, fylke=fylke, actor_person_id=reviewer_person_id)
    lang = i18n.language(application["language"])
    try:
        where = _send(
            cfg,
            application["email"],
            lang,
            "reviewer_refused_subject",
            "mail/reviewer-refused.txt.j2",
            name=application["name"],
            fylke=fylke_name(application["fylke"]),
            apply=f"{cfg.server.public_url.rstrip('/')}/tilgang",
        )
    except mailer.MailFailed as e:
        return Decided(application, None, False, None, str(e))
    return Decided(application, None, False, where)


def register_reviewer(cfg, store, *, name, email, language, fylke, actor, now=None):
    """The operator makes a reviewer of ``fylke`` without a unit (the first of a fylke, who then approves the
    others' applications) and e-mails the enrolment link: an :class:`~sendemodul.enrolment.Registered`."""
    token, stored = _token(cfg, now or datetime.datetime.now(datetime.UTC))
    person, needs = store.register_reviewer(
        person_id=persons.new_person_id(),
        name=name,
        email=persons.normalize_email(email),
        language=language,
        fylke=fylke,
        token=stored,
        actor=actor,
    )
    try:
        where = _reviewer_mail(cfg, person, needs, token)
    except mailer.MailFailed as e:
        return enrolment.Registered(person, needs, None, str(e))
    return enrolment.Registered(person, needs, where)
