"""Access for reviewers in the web (issue 17):

- ``/tilgang``: the public application form (name, work e-mail, the fylke from the year's list, the written
  standard), with the login form's double-submit CSRF cookie; a recorded application counts toward the source's
  score in the PIN checker's defender (:data:`APPLICATION_SCORE`), so one source cannot flood the fylke's tasks, and
  a banned source is refused. Every applicant is told the same ("received"), also when an open application for the
  address exists already.
- ``/statsforvalter``: the reviewer's login without a unit: e-mail address and a TOTP or recovery code
  (:func:`sendemodul.person_login.check_reviewer`), with the same delay, message and source score for every
  failure as the person step of the unit's login; the new session has no unit and reaches only the reviewer's
  pages.
- ``/oppgaver/tilgang/{application}``: an application as a reviewer's task, "Godkjenn" or "Avslå"; only the
  reviewers of the fylke applied for see it (any other gets a 404), and the decision is audited with the acting
  reviewer (:mod:`sendemodul.reviewer_access`).
"""

import re
import secrets

from twisted.internet import task
from twisted.logger import Logger

from sendemodul import i18n, messages_nb, person_login, persons, reviewer_access
from sendemodul.errors import ApplicationDecided, NotFound
from sendemodul.i18n import Msg
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond
from sendemodul.web.pages import _form, _redirect, home_of
from sendemodul.web.review import ReviewerPage, _not_found
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE

log = Logger()

APPLICATION_RE = re.compile(r"^A-[A-Z2-7]{20}$")
#: What one recorded application adds to its source's score (a ban at ``[auth] source_ban_score``, 20 by default:
#: ten applications from one address within ``source_window_seconds``).
APPLICATION_SCORE = 2


def _login_csrf(app, request):
    """A new double-submit token for a public form: in a cookie and in the form."""
    token = secrets.token_urlsafe(24)
    app.set_cookie(request, LOGIN_COOKIE, token.encode("ascii"))
    return token


def _login_csrf_ok(app, request):
    cookie = request.getCookie(LOGIN_COOKIE)
    return bool(cookie) and app.same_origin(request) and app.csrf_ok(request, cookie.decode("ascii", "replace"))


class ApplicationPage(AppResource):
    """``GET/POST /tilgang``: "Søk om tilgang som statsforvalter"."""

    isLeaf = True

    def render_GET(self, request):
        return self._page(request, {"language": i18n.request_language(request)}, {}, None)

    def _page(self, request, form, errors, message, status=200):
        return self.app.render(
            request,
            "tilgang",
            status=status,
            session=None,
            form=form,
            errors=errors,
            message=message,
            fylker=reviewer_access.fylker_of_year(),
            csrf=_login_csrf(self.app, request),
        )

    def render_POST(self, request):
        form = {name: _form(request, name) for name in reviewer_access.FIELDS}
        if not _login_csrf_ok(self.app, request):
            return self._page(request, form, {}, messages_nb.melding("csrf"), status=403)
        errors = reviewer_access.problems(form)
        if errors:
            return self._page(request, form, errors, None, status=400)
        source = request.source()
        if self.app.source_banned(source):
            return self._page(request, form, {}, Msg(messages_nb.ACCESS_TEXTS["banned"]), status=429)
        d = self.app.run_db(reviewer_access.apply, self.app.store, form)
        d.addCallback(self._applied, request, form, source)
        return respond(request, d)

    def _applied(self, state, request, form, source):
        if state == "full":
            return self._page(request, form, {}, Msg(messages_nb.ACCESS_TEXTS["full"]), status=503)
        if source is not None and self.app.score_failure(source, APPLICATION_SCORE):
            log.warn("source banned after many applications for reviewer access")
        log.info("application for reviewer access for fylke {fylke} ({state})", fylke=form["fylke"], state=state)
        self.app.set_cookie(request, LOGIN_COOKIE, b"", max_age=b"0")
        return self.app.render(
            request, "tilgang-sendt", session=None, fylke=reviewer_access.fylke_name(form["fylke"]), form=form
        )


class ReviewerLoginPage(AppResource):
    """``GET/POST /statsforvalter``: the reviewer's login without a unit."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.session(request, unitless=True)
        d.addCallback(
            lambda session: (
                _redirect(request, home_of(self.app, session)) if session else self._page(request, {}, {}, None)
            )
        )
        return respond(request, d)

    def _page(self, request, form, errors, message, status=200):
        return self.app.render(
            request,
            "statsforvalter",
            status=status,
            session=None,
            form=form,
            errors=errors,
            message=message,
            csrf=_login_csrf(self.app, request),
        )

    def render_POST(self, request):
        form = {"email": _form(request, "email"), "code": _form(request, "code")}
        shown = {**form, "code": ""}
        if not _login_csrf_ok(self.app, request):
            return self._page(request, shown, {}, messages_nb.melding("csrf"), status=403)
        errors = {}
        if not persons.EMAIL_RE.match(form["email"]):
            errors["email"] = Msg(messages_nb.ACCESS_PROBLEMS["email"])
        if not form["code"]:
            errors["code"] = Msg(messages_nb.ACCESS_PROBLEMS["code"])
        if errors:
            return self._page(request, shown, errors, None, status=400)
        source = request.source()
        if self.app.source_banned(source):
            return respond(request, self._failed(None, request, shown))
        d = self.app.run_db(
            person_login.check_reviewer,
            self.app.config,
            self.app.store,
            form["email"],
            form["code"],
            self.app.clock.seconds(),
        )
        d.addCallback(self._checked, request, shown, source)
        return respond(request, d)

    def _checked(self, person, request, form, source):
        if person is None:
            return self._failed(source, request, form)
        from sendemodul.web.persons import person_login_of

        session = self.app.sessions.create(None, None, person=person_login_of(person))
        self.app.set_cookie(request, COOKIE, session.token.encode("ascii"))
        self.app.set_cookie(request, LOGIN_COOKIE, b"", max_age=b"0")
        log.info("reviewer {person} logged in without a unit", person=person["person_id"])
        d = self.app.run_db(
            lambda: self.app.store.audit(
                "person.login",
                actor=persons.audit_actor(person["person_id"]),
                unit=None,
                detail={"person": person["person_id"], "fylke": person["fylke"]},
            )
        )
        return d.addCallback(lambda _: _redirect(request, "/oppgaver/"))

    def _failed(self, source, request, form):
        if source is not None and self.app.score_failure(source, 1):
            log.warn("source banned after repeated failed logins (reviewer)")
        log.info("reviewer login failed")
        # As the person step's failures: which person was tried is not known, and an e-mail address never enters
        # the audit; the source's ban bounds how many rows one source can add.
        audited = self.app.run_db(
            lambda: self.app.store.audit("person.login_failed", actor="web", unit=None, detail={})
        )
        d = task.deferLater(self.app.clock, self.app.config.auth.failure_delay_seconds, lambda: None)
        d.addCallback(lambda _: audited)
        return d.addCallback(
            lambda _: self._page(request, form, {}, messages_nb.melding("reviewer_unauthorized"), status=401)
        )


class Applications(AppResource):
    """``/oppgaver/tilgang/``: each application is a child."""

    def getChild(self, path, request):
        return ApplicationTaskPage(self.app, path.decode("ascii", "replace"))


class ApplicationTaskPage(ReviewerPage):
    """``/oppgaver/tilgang/{application}``: an application for reviewer access as the fylke's reviewer sees it."""

    def __init__(self, app, application_id):
        super().__init__(app)
        self.application_id = application_id

    def _application(self, reviewer):
        """In a DB thread: the application if it is for the reviewer's fylke, else None."""
        row = self.app.store.reviewer_application(self.application_id)
        return row if row is not None and row["fylke"] == reviewer.fylke else None

    def page(self, request, session, reviewer, error=None, status=200):
        if not APPLICATION_RE.match(self.application_id):
            return _not_found(self.app, request, session)

        def found(application):
            if application is None:
                return _not_found(self.app, request, session)
            return self.app.render(
                request,
                "oppgave-tilgang",
                status=status,
                session=session,
                reviewer=reviewer,
                application=application,
                fylke_name=reviewer_access.fylke_name(application["fylke"]),
                error=error,
            )

        return self.app.run_db(self._application, reviewer).addCallback(found)

    def post(self, request, session, reviewer):
        if not APPLICATION_RE.match(self.application_id):
            return _not_found(self.app, request, session)
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        action = (request.args.get(b"handling") or [b""])[0]
        decide = {b"godkjenn": reviewer_access.approve, b"avsla": reviewer_access.refuse}.get(action)
        if decide is None:
            return self.page(request, session, reviewer, messages_nb.melding("invalid"), status=400)
        d = self.app.run_db(
            lambda: decide(
                self.app.config,
                self.app.store,
                self.application_id,
                fylke=reviewer.fylke,
                reviewer_person_id=reviewer.person_id,
            )
        )

        def done(decided):
            if decided.mail_error is not None:
                log.warn("reviewer access decided, but the e-mail failed: {error}", error=decided.mail_error)
                return self.page(request, session, reviewer, Msg(messages_nb.ACCESS_TEXTS["mail_failed"]))
            return _redirect(request, "/oppgaver/")

        def failed(failure):
            if failure.check(NotFound):
                return _not_found(self.app, request, session)
            failure.trap(ApplicationDecided)
            return self.page(request, session, reviewer, messages_nb.melding("application_decided"), status=400)

        return d.addCallbacks(done, failed)
