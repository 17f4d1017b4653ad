"""What the resources of the HTTPS front share (:class:`WebApp`: config, portal, intake, store runner, sessions,
templates, the key directory) and the base class that holds it."""

import re
import secrets

import jinja2
import markupsafe
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.web import resource
from twisted.web.error import UnsupportedMethod

from sendemodul import auth, i18n, letters, messages_nb
from sendemodul.timefmt import oslo_display_of_text
from sendemodul.web.credentials import basic_credentials, login
from sendemodul.web.sessions import COOKIE, Sessions

#: A receipt reference inside running text (``SM-20270115-7KQ2XW9D``).
REFERENCE_IN_TEXT = re.compile(r"\bSM-\d{8}-[2-9A-HJ-NP-Z]{8}\b")


@jinja2.pass_environment
def references_unbroken(env, text):
    """``text`` (a :class:`~sendemodul.i18n.Msg` in the page's language) escaped, with each reference in it wrapped
    in ``<span class="ref">``: the value a unit is told to keep stays on one line (its hyphens would otherwise let it
    break), also on a 320 px wide screen."""
    text = i18n.text_in(env.globals.get("lang", i18n.DEFAULT), text)
    return markupsafe.Markup(
        REFERENCE_IN_TEXT.sub(lambda m: f'<span class="ref">{m.group(0)}</span>', str(markupsafe.escape(text)))
    )


class WebApp:
    """What the resources share: config, portal, intake, store runner, sessions, templates."""

    def __init__(
        self,
        config,
        *,
        portal,
        intake,
        store,
        run_db,
        clock,
        keys,
        source_banned=lambda host: False,
        score_failure=lambda host, score: False,
    ):
        """``keys``: the server's :class:`~sendemodul.keydir.LiveKeyDirectory` (``GET /api/v1/keys``);
        ``source_banned``/``score_failure``: the PIN checker's per-source scores (:class:`auth.Defender`), which the
        person step of the login and the enrolment page share, so wrong codes count like wrong PINs."""
        self.config = config
        self.keys = keys
        self.source_banned = source_banned  # an address banned for failed logins (auth.Defender)
        self.score_failure = score_failure
        #: ``[auth] web_requires_person``: the web session must also name a person (the second login step).
        self.requires_person = config.auth.web_requires_person
        self.portal = portal
        self.intake = intake
        self.store = store
        self.run_db = run_db
        self.clock = clock
        self.sessions = Sessions(
            clock, idle_seconds=config.limits.session_idle_seconds, max_seconds=config.limits.session_max_seconds
        )
        #: One environment per language. They share one dict of filters, so a filter added to ``templates`` (the
        #: Bokmål one) is there in every language.
        self.environments = {lang: letters.environment(lang) for lang in i18n.LANGUAGES}
        self.templates = self.environments[i18n.DEFAULT]
        for env in self.environments.values():
            env.filters = self.templates.filters
        self.templates.filters["oslo_time"] = oslo_display_of_text
        self.templates.filters["status_nb"] = messages_nb.status_nb
        self.templates.filters["refs"] = references_unbroken
        self.templates.filters["status_list_nb"] = messages_nb.status_list_nb

    #: How long before a web session runs out the page warns (at most; a quarter of a short idle time).
    SESSION_WARN_SECONDS = 120

    def render(self, request, name, status=200, **context):
        """The page ``templates/web/{name}.html.j2`` in the request's language (:func:`i18n.request_language`)."""
        lang = i18n.request_language(request)
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Content-Language", lang.encode("ascii"))
        idle = self.config.limits.session_idle_seconds
        context.setdefault("session", None)
        context.setdefault("person_required", self.requires_person)
        context.setdefault("path", request.path.decode("utf-8", "replace"))
        context.setdefault("session_idle_seconds", idle)
        context.setdefault("session_warn_seconds", min(self.SESSION_WARN_SECONDS, idle // 4))
        return self.environments[lang].get_template(f"web/{name}.html.j2").render(**context).encode("utf-8")

    def session(self, request, *, unitless=False):
        """Deferred: the request's live web session, or None. Every request checks, off the reactor thread, that
        the unit's credential epoch is still the one the session logged in under: after a revoke, a disable or a
        new PIN the session ends at its next request (and the credential watch ends it within its poll).

        A reviewer's session without a unit (the login at ``/statsforvalter``, issue 17) has ``unit`` None and is
        given only to the pages that ask for it (``unitless=True``: the reviewer's pages, logging out, the session's
        keep-alive); every unit's page sees None and sends it to ``/``, which sends it on to ``/oppgaver/``."""
        token = request.getCookie(COOKIE)
        session = self.sessions.get(token.decode("ascii", "replace")) if token else None
        if session is None or (session.unit is None and not unitless):
            return defer.succeed(None)

        def checked(state):
            epoch, person_active = state
            unit_ok = session.unit is None or (session.epoch is not None and epoch == session.epoch)
            if not unit_ok or not person_active:
                self.sessions.end(session.token)
                return None
            return session

        person = session.person
        if session.unit is None:
            fylke = getattr(person, "fylke", None)
            return self.run_db(self._reviewer_state, getattr(person, "person_id", None), fylke).addCallback(checked)
        person_id = person.person_id if person is not None else None
        return self.run_db(self._session_state, str(session.unit), person_id).addCallback(checked)

    def _session_state(self, unit, person_id):
        """In a DB thread: the unit's credential epoch, and whether the session's person (if any) is still active
        (a disabled person's sessions end at their next request)."""
        epoch = self.store.credential_epoch(unit)
        return epoch, person_id is None or self.store.person_is_active(person_id)

    def _reviewer_state(self, person_id, fylke):
        """In a DB thread, for a session without a unit: ``(None, ok)``, ok while its person is still an active
        reviewer of the same fylke (disabled, or moved to another fylke: the session ends at its next request)."""
        row = self.store.person(person_id) if person_id else None
        ok = (
            row is not None
            and row["unit"] is None
            and row["state"] == "active"
            and row["role"] == "statsforvalter"
            and row["fylke"] == fylke
        )
        return None, ok

    def needs_person(self, session):
        """True when ``session`` has passed only the unit's PIN and the config asks for a person too."""
        return self.requires_person and session.person is None

    def session_login(self, request, csrf):
        """Deferred: the login (an :class:`auth.UnitAvatar`) of the request's web session, or UnauthorizedLogin;
        with ``csrf``, only if the CSRF token (header or form field) matches and any Origin header is our own."""

        def checked(session):
            if session is None or self.needs_person(session):
                raise UnauthorizedLogin()
            if csrf and not (self.same_origin(request) and self.csrf_ok(request, session.csrf)):
                raise UnauthorizedLogin()
            return auth.UnitAvatar(session.unit, session.epoch, session.person)

        return self.session(request).addCallback(checked)

    def csrf_ok(self, request, expected):
        form = getattr(request, "args", None) or {}  # no args yet while an upload's headers are checked
        given = request.getHeader(b"x-csrf-token") or (form.get(b"csrf") or [b""])[0]
        if isinstance(given, str):
            given = given.encode("utf-8")
        return bool(given) and secrets.compare_digest(given, expected.encode("ascii"))

    def same_origin(self, request):
        origin = request.getHeader(b"origin")
        if origin is None:
            return True
        host = request.getHeader(b"host") or b""
        return origin in (b"https://" + host,)

    def authenticate(self, request):
        """Deferred unit for a read request: HTTP Basic, or the web session (no CSRF needed for reads). An API read's
        Basic login may have been started already, before the resource tree (``SecureRequest.refused_at_once``):
        then that one, not a second."""
        started = getattr(request, "basic_login", None)
        if started is not None:
            request.basic_login = None
            return started
        header = request.requestHeaders.getRawHeaders(b"authorization")
        if header:
            return login(self.portal, basic_credentials(header[0], request.source()))
        return self.session_login(request, csrf=False).addCallback(lambda avatar: avatar.parsed)

    def set_cookie(self, request, name, value, max_age=None, same_site="strict"):
        request.addCookie(name, value, path=b"/", secure=True, httpOnly=True, sameSite=same_site, max_age=max_age)


class AppResource(resource.Resource):
    def __init__(self, app):
        super().__init__()
        self.app = app

    def render(self, request):
        """Twisted's rendering, but a method the resource does not take gets our 405 page, in the request's
        language (Twisted's own page has no ``lang``); HEAD stays Twisted's (a GET without the body)."""
        try:
            return super().render(request)
        except UnsupportedMethod as e:
            if request.method == b"HEAD" and b"GET" in e.allowedMethods:
                raise
            request.setHeader(b"Allow", b", ".join(e.allowedMethods))
            return self.app.render(request, "error", status=405, message=messages_nb.page_text("method_not_allowed"))
