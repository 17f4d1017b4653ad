"""What the resources of the HTTPS front share (:class:`WebApp`: config, portal, intake, store runner, sessions,
templates, the key directory) and the base class that holds it."""

import secrets

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.web import resource

from sendemodul import auth, letters, messages_nb
from sendemodul.timefmt import oslo_display_of_text
from sendemodul.web.credentials import basic_credentials, login
from sendemodul.web.sessions import COOKIE, Sessions


class WebApp:
    """What the resources share: config, portal, intake, store runner, sessions, templates."""

    def __init__(self, config, *, portal, intake, store, run_db, clock, keys, source_banned=lambda host: False):
        """``keys``: the server's :class:`~sendemodul.keydir.LiveKeyDirectory` (``GET /api/v1/keys``)."""
        self.config = config
        self.keys = keys
        self.source_banned = source_banned  # an address banned for failed logins (auth.Defender)
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
        self.templates.filters["status_list_nb"] = messages_nb.status_list_nb

    def render(self, request, name, status=200, **context):
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        return self.templates.get_template(f"web/{name}.html.j2").render(**context).encode("utf-8")

    def session(self, request):
        """Deferred: the request's live web session, or None. Every request checks, off the reactor thread, that
        the unit's credential epoch is still the one the session logged in under: after a revoke, a disable or a
        new PIN the session ends at its next request (and the credential watch ends it within its poll)."""
        token = request.getCookie(COOKIE)
        session = self.sessions.get(token.decode("ascii", "replace")) if token else None
        if session is None:
            return defer.succeed(None)

        def checked(epoch):
            if session.epoch is None or epoch != session.epoch:
                self.sessions.end(session.token)
                return None
            return session

        return self.run_db(self.store.credential_epoch, str(session.unit)).addCallback(checked)

    def session_login(self, request, csrf):
        """Deferred: the login (an :class:`auth.UnitAvatar`) of the request's web session, or UnauthorizedLogin;
        with ``csrf``, only if the CSRF token (header or form field) matches and any Origin header is our own."""

        def checked(session):
            if session is None:
                raise UnauthorizedLogin()
            if csrf and not (self.same_origin(request) and self.csrf_ok(request, session.csrf)):
                raise UnauthorizedLogin()
            return auth.UnitAvatar(session.unit, session.epoch)

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
