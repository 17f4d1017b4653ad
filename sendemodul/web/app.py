"""What the resources of the HTTPS front share (:class:`WebApp`: config, portal, intake, store runner, sessions,
templates, the key directory) and the base class that holds it."""

import re
import secrets

import markupsafe
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.web import resource

from sendemodul import auth, letters, messages_nb
from sendemodul.timefmt import oslo_display_of_text
from sendemodul.web.credentials import basic_credentials, login
from sendemodul.web.sessions import COOKIE, Sessions

#: A receipt reference inside running text (``SM-20270115-7KQ2XW9D``).
REFERENCE_IN_TEXT = re.compile(r"\bSM-\d{8}-[2-9A-HJ-NP-Z]{8}\b")


def references_unbroken(text):
    """``text`` escaped, with each reference in it wrapped in ``<span class="ref">``: the value a unit is told to
    keep stays on one line (its hyphens would otherwise let it break), also on a 320 px wide screen."""
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
        self.templates = letters.environment()
        self.templates.filters["oslo_time"] = oslo_display_of_text
        self.templates.filters["status_nb"] = messages_nb.status_nb
        self.templates.filters["refs"] = references_unbroken
        self.templates.filters["status_list_nb"] = messages_nb.status_list_nb

    def render(self, request, name, status=200, **context):
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        context.setdefault("person_required", self.requires_person)
        return self.templates.get_template(f"web/{name}.html.j2").render(**context).encode("utf-8")

    def session(self, request):
        """Deferred: the request's live web session, or None. Every request checks, off the reactor thread, that
        the unit's credential epoch is still the one the session logged in under: after a revoke, a disable or a
        new PIN the session ends at its next request (and the credential watch ends it within its poll)."""
        token = request.getCookie(COOKIE)
        session = self.sessions.get(token.decode("ascii", "replace")) if token else None
        if session is None:
            return defer.succeed(None)

        def checked(state):
            epoch, person_active = state
            if session.epoch is None or epoch != session.epoch or not person_active:
                self.sessions.end(session.token)
                return None
            return session

        person_id = session.person.person_id if session.person is not None else None
        return self.run_db(self._session_state, str(session.unit), person_id).addCallback(checked)

    def _session_state(self, unit, person_id):
        """In a DB thread: the unit's credential epoch, and whether the session's person (if any) is still active
        (a disabled person's sessions end at their next request)."""
        epoch = self.store.credential_epoch(unit)
        return epoch, person_id is None or self.store.person_is_active(person_id)

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
        """Deferred unit for a read request: HTTP Basic, or the web session (no CSRF needed for reads)."""
        header = request.requestHeaders.getRawHeaders(b"authorization")
        if header:
            return login(self.portal, basic_credentials(header[0], request.source()))
        return self.session_login(request, csrf=False).addCallback(lambda avatar: avatar.parsed)

    def set_cookie(self, request, name, value, max_age=None):
        request.addCookie(name, value, path=b"/", secure=True, httpOnly=True, sameSite="strict", max_age=max_age)


class AppResource(resource.Resource):
    def __init__(self, app):
        super().__init__()
        self.app = app
