"""The persons' pages (issue 16): ``/hvem-er-du``, the second step of the web login (a person of the unit: e-mail
and a TOTP or recovery code), and ``/innmelding/{token}``, the enrolment page the e-mailed link opens (a QR code as
inline SVG and the secret as text, confirmed with a current code; then the recovery codes, shown once). The link is
valid for a limited time: the page warns before it runs out and a POST with ``handling=forleng`` gives it more
(:func:`sendemodul.enrolment.extend_enrolment`).

Abuse as for PINs: every failure is the same message after the same delay and adds to the source's score in the PIN
checker's :class:`~sendemodul.auth.Defender` (no lockout of a person that an attacker could trigger); the log and the
audit name persons only by their opaque id. The second step starts a new session (a new token): the session of the
PIN alone is ended, so a token seen before the second factor is worth nothing after it."""

import re
import secrets

import segno
from twisted.internet import task
from twisted.logger import Logger

from sendemodul import enrolment, i18n, messages_nb, person_login, persons, totp
from sendemodul.i18n import Msg
from sendemodul.web.app import AppResource
from sendemodul.web.errors import json_response, respond
from sendemodul.web.pages import PERSON_STEP, _form, _redirect
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE, PersonLogin

log = Logger()

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def person_login_of(row):
    return PersonLogin(
        row["person_id"],
        row["name"],
        persons.registers_of(row["registers"]),
        row.get("role") or "reporter",
        row.get("fylke"),
    )


class PersonStepPage(AppResource):
    """``GET/POST /hvem-er-du``: "Hvem er du?" for a session that has passed the unit's PIN."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.session(request)
        d.addCallback(self._get, request)
        return respond(request, d)

    def _get(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if session.person is not None:
            return _redirect(request, "/mine-skjema")
        return self._page(request, session, {}, None)

    def _page(self, request, session, form, message, status=200, errors=None):
        return self.app.render(
            request, "hvem-er-du", status=status, session=session, form=form, message=message, errors=errors or {}
        )

    def render_POST(self, request):
        d = self.app.session(request)
        d.addCallback(self._post, request)
        return respond(request, d)

    def _post(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        form = {"email": _form(request, "email"), "code": _form(request, "code")}
        errors = {}
        if not persons.EMAIL_RE.match(form["email"]):
            errors["email"] = messages_nb.PERSON_TEXTS["email_missing"]
        if not form["code"]:
            errors["code"] = messages_nb.PERSON_TEXTS["code_missing"]
        if errors:
            return self._page(request, session, {**form, "code": ""}, None, status=400, errors=errors)
        source = request.source()
        if self.app.source_banned(source):
            return self._failed(None, request, session, form)
        d = self.app.run_db(
            person_login.check,
            self.app.config,
            self.app.store,
            session.unit,
            form["email"],
            form["code"],
            self.app.clock.seconds(),
        )
        d.addCallback(self._checked, request, session, form)
        return d

    def _checked(self, person, request, session, form):
        if person is None:
            return self._failed(request.source(), request, session, form)
        self.app.sessions.end(session.token)
        new = self.app.sessions.create(session.unit, session.epoch, person=person_login_of(person))
        self.app.set_cookie(request, COOKIE, new.token.encode("ascii"))
        log.info("person {person} logged in for {unit}", person=person["person_id"], unit=str(session.unit))
        d = self.app.run_db(
            self.app.store.audit,
            "person.login",
            actor=persons.audit_actor(person["person_id"]),
            unit=str(session.unit),
            detail={"person": person["person_id"]},
        )
        return d.addCallback(lambda _: _redirect(request, "/mine-skjema"))

    def _failed(self, source, request, session, form):
        if source is not None and self.app.score_failure(source, 1):
            log.warn("source banned after repeated failed logins (second step)")
        log.info("second login step failed for {unit}", unit=str(session.unit))
        # Audited like the PIN checker's failures: the unit only (which person was tried is not known, and an
        # e-mail address never enters the audit). The source's ban bounds how many rows one source can add.
        audited = self.app.run_db(
            self.app.store.audit, "person.login_failed", actor="web", unit=str(session.unit), detail={}
        )
        d = task.deferLater(self.app.clock, self.app.config.auth.failure_delay_seconds, lambda: None)
        d.addCallback(lambda _: audited)
        return d.addCallback(
            lambda _: self._page(
                request, session, {**form, "code": ""}, messages_nb.melding("person_unauthorized"), status=401
            )
        )


QR_TITLE = "QR-kode for autentiseringsappen"


def qr_svg(uri, title=QR_TITLE):
    """The ``otpauth://`` URI as an inline SVG QR code (no script, no external image: the CSP stays strict), with
    ``title`` (the page's language) as its text alternative."""
    return segno.make(uri, error="m").svg_inline(scale=4, title=title)


class Enrolments(AppResource):
    def getChild(self, path, request):
        return EnrolmentPage(self.app, path.decode("ascii", "replace"))


class EnrolmentPage(AppResource):
    """``/innmelding/{token}``: the single-use link from the registration e-mail."""

    isLeaf = True

    def __init__(self, app, token):
        super().__init__(app)
        self.token = token

    def render_GET(self, request):
        if not TOKEN_RE.match(self.token):
            return self._gone(request)
        d = self.app.run_db(enrolment.open_enrolment, self.app.config, self.app.store, self.token)
        d.addCallback(self._show, request, None, 200)
        return respond(request, d)

    def _gone(self, request):
        return self.app.render(
            request,
            "error",
            status=404,
            session=None,
            message=messages_nb.PERSON_TEXTS["link_gone"],
        )

    def _show(self, opened, request, message, status):
        if opened is None:
            return self._gone(request)
        person, secret = opened
        csrf = secrets.token_urlsafe(24)
        self.app.set_cookie(request, LOGIN_COOKIE, csrf.encode("ascii"))
        uri = totp.provisioning_uri(secret, account=person["email"])
        lang = i18n.request_language(request)
        return self.app.render(
            request,
            "innmelding",
            status=status,
            session=None,
            person=person,
            qr=qr_svg(uri, i18n.gettext_in(lang, QR_TITLE)),
            secret=totp.secret_text(secret),
            csrf=csrf,
            message=message,
            seconds_left=enrolment.seconds_left(person),
            warn_seconds=min(self.app.SESSION_WARN_SECONDS, enrolment.link_seconds(self.app.config) // 4),
        )

    def render_POST(self, request):
        if not TOKEN_RE.match(self.token):
            return self._gone(request)
        cookie = request.getCookie(LOGIN_COOKIE)
        if not (
            cookie and self.app.same_origin(request) and self.app.csrf_ok(request, cookie.decode("ascii", "replace"))
        ):
            return self.app.render(request, "error", status=403, session=None, message=messages_nb.melding("csrf"))
        source = request.source()
        if _form(request, "handling") == "forleng":
            d = self.app.run_db(enrolment.extend_enrolment, self.app.config, self.app.store, self.token)
            return respond(request, d.addCallback(self._extended, request))
        if self.app.source_banned(source):
            return respond(request, self._wrong(None, request))
        d = self.app.run_db(self._confirm, _form(request, "code"), self.app.clock.seconds())
        d.addCallback(self._confirmed, request)
        return respond(request, d)

    def _confirm(self, code, now):
        """In a DB thread: the confirmation's result, and whether the person is a reviewer without a unit (whose
        login is ``/statsforvalter``, not the unit's)."""
        person = self.app.store.enrolment_person(persons.token_hash(self.token))
        status, codes = enrolment.confirm_enrolment(self.app.config, self.app.store, self.token, code, now)
        return status, codes, person is not None and person["unit"] is None

    def _extended(self, seconds, request):
        """The answer to "more time" (``static/lenke.js``): the seconds the link now has, or 410 once it is gone."""
        if seconds is None:
            return json_response(request, 410, {"error": "gone", "melding": Msg(messages_nb.PERSON_TEXTS["link_gone"])})
        return json_response(request, 200, {"sekunder": seconds})

    def _confirmed(self, result, request):
        status, codes, reviewer = result
        if status == "gone":
            return self._gone(request)
        if status == "wrong_code":
            return self._wrong(request.source(), request)
        self.app.set_cookie(request, LOGIN_COOKIE, b"", max_age=b"0")
        request.setHeader(b"Cache-Control", b"no-store")
        return self.app.render(request, "gjenopprettingskoder", session=None, codes=codes, reviewer=reviewer)

    def _wrong(self, source, request):
        if source is not None:
            self.app.score_failure(source, 1)
        d = task.deferLater(self.app.clock, self.app.config.auth.failure_delay_seconds, lambda: None)
        d.addCallback(lambda _: self.app.run_db(enrolment.open_enrolment, self.app.config, self.app.store, self.token))
        return d.addCallback(self._show, request, messages_nb.PERSON_TEXTS["enrolment_wrong_code"], 400)


__all__ = ["PERSON_STEP", "Enrolments", "PersonStepPage"]
