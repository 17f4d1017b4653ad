"""Resources, the Site and the TLS listener of the HTTPS front. Thin: uploads go to ``intake``, logins to the
portal, reads to the store (always off the reactor thread).

API (DESIGN.md section 13): ``PUT /api/v1/uploads/{name}`` (Basic auth) -> 201 + JSON receipt;
``GET /api/v1/uploads``; ``GET /api/v1/uploads/{reference}``; ``GET /api/v1/keys``. Errors are JSON
``{error, message, melding}``. Pages (Bokmål): ``/`` login, ``/opplasting``, ``/kvittering/{reference}``,
``/innsendinger``, ``POST /logg-ut``.
"""

import datetime
import json
import re
import secrets

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, endpoints, ssl
from twisted.logger import Logger
from twisted.web import http, pages, resource, server, static

from sendemodul import auth, identity, keydir, letters, messages_nb
from sendemodul.errors import (
    BydelError,
    ContainerError,
    ContainerReplayed,
    IntakeError,
    KommunenrError,
    LoginBusy,
    OrgnrError,
    SendemodulError,
    SpoolFull,
    TooManyUploads,
    UploadIncomplete,
    UploadTooLarge,
    WindowClosed,
)
from sendemodul.intake import OSLO
from sendemodul.receipt import Receipt
from sendemodul.service import LISTEN_BACKLOG, ListeningService
from sendemodul.web.request import BASE_HEADERS, UploadRequest, basic_credentials, login
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE, Sessions
from sendemodul.web.tls import CoalescingTLSFactory

log = Logger()

STATIC_DIR = letters.TEMPLATES_DIR / "static"
REFERENCE_RE = re.compile(r"^SM-\d{8}-[2-9A-HJ-NP-Z]{8}$")
UPLOAD_NAME_RE = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")


def status_for(error):
    """The HTTP status for an intake refusal."""
    if isinstance(error, UploadTooLarge):
        return 413
    if isinstance(error, SpoolFull):
        return 507
    if isinstance(error, TooManyUploads):
        return 429
    if isinstance(error, ContainerReplayed):
        return 409
    if isinstance(error, WindowClosed):
        return 403
    if isinstance(error, ContainerError):
        return 422
    return 400


_EXTRA_REASONS = {422: b"Unprocessable Content", 507: b"Insufficient Storage"}


def json_response(request, status, body):
    request.setResponseCode(status, _EXTRA_REASONS.get(status))
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def json_error(request, status, code, message):
    if status == 401 and request.requestHeaders.hasHeader(b"authorization"):
        # Only to clients that use Basic auth: a browser would answer it with a password dialog.
        request.setHeader(b"WWW-Authenticate", b'Basic realm="sendemodul", charset="UTF-8"')
    return json_response(request, status, {"error": code, "message": message, "melding": messages_nb.melding(code)})


def finish(request, body):
    if not request.finished and request.channel is not None:
        request.write(body)
        request.finish()


def respond(request, d):
    """Finish ``request`` with the bytes ``d`` fires with; an unexpected failure becomes a logged 500, never a
    request left hanging."""
    def failed(failure):
        log.failure("request failed", failure)
        request.setResponseCode(500)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return "Intern feil / internal error\n".encode("utf-8")

    d.addErrback(failed)
    d.addCallback(lambda body: finish(request, body))
    d.addErrback(lambda f: log.failure("could not finish the response", f))
    return server.NOT_DONE_YET


def oslo_time(text):
    """'2027-01-15T07:00:00Z' -> '15.01.2027 kl. 08:00' (Norwegian time)."""
    when = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(OSLO).strftime("%d.%m.%Y kl. %H:%M")


class WebApp:
    """What the resources share: config, portal, intake, store runner, sessions, templates."""

    def __init__(self, config, *, portal, intake, store, run_db, clock, source_banned=lambda host: False):
        self.config = config
        self.source_banned = source_banned  # an address banned for failed logins (auth.Defender)
        self.portal = portal
        self.intake = intake
        self.store = store
        self.run_db = run_db
        self.clock = clock
        self.sessions = Sessions(clock, idle_seconds=config.limits.session_idle_seconds)
        self.templates = letters.environment()
        self.templates.filters["oslo_time"] = oslo_time
        self.templates.filters["status_nb"] = messages_nb.status_nb

    def render(self, request, name, status=200, **context):
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        return self.templates.get_template(f"web/{name}.html.j2").render(**context).encode("utf-8")

    def session(self, request):
        token = request.getCookie(COOKIE)
        return self.sessions.get(token.decode("ascii", "replace")) if token else None

    def session_unit(self, request, csrf):
        """The unit of the request's web session; with ``csrf``, only if the CSRF token (header or form field) matches
        and any Origin header is our own."""
        session = self.session(request)
        if session is None:
            return None
        if csrf and not (self.same_origin(request) and self.csrf_ok(request, session.csrf)):
            return None
        return session.unit

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
        unit = self.session_unit(request, csrf=False)
        return defer.succeed(unit) if unit else defer.fail(UnauthorizedLogin())

    def set_cookie(self, request, name, value, max_age=None):
        request.addCookie(name, value, path=b"/", secure=True, httpOnly=True, sameSite="strict", max_age=max_age)


class AppResource(resource.Resource):
    def __init__(self, app):
        super().__init__()
        self.app = app


# -- API ----------------------------------------------------------------------------------------------------


def _upload_json(row):
    body = Receipt.from_row(row).to_json()
    del body["duplicate"]
    body["superseded_by"] = row["superseded_by"]
    body["reason"] = row["reason"]
    body["delivered_at"] = row.get("delivered_at")
    return body


class ApiAuthenticated(AppResource):
    """A GET resource that first authenticates, then calls ``self.get(request, unit) -> Deferred[(status, body)]``."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.authenticate(request)
        d.addCallback(lambda unit: self.get(request, unit))
        d.addCallback(lambda result: json_response(request, *result))
        d.addErrback(self._failed, request)
        return respond(request, d)

    def _failed(self, failure, request):
        if failure.check(LoginBusy):
            request.setHeader(b"Retry-After", b"5")
            return json_error(request, 503, "busy", str(failure.value))
        if failure.check(UnauthorizedLogin):
            return json_error(request, 401, "unauthorized", "Login failed: check the unit and the PIN.")
        log.failure("API request failed", failure)
        return json_error(request, 500, "error", "Internal error.")


class UploadList(ApiAuthenticated):
    def get(self, request, unit):
        d = self.app.run_db(self.app.store.list_uploads, unit)
        return d.addCallback(lambda rows: (200, {"unit": unit, "uploads": [_upload_json(r) for r in rows]}))


class UploadStatus(ApiAuthenticated):
    def __init__(self, app, reference):
        super().__init__(app)
        self.reference = reference

    def get(self, request, unit):
        def found(row):
            if row is None or row["unit"] != unit:  # another unit's upload does not exist for you
                return 404, {"error": "not_found", "message": "No such upload.",
                              "melding": messages_nb.melding("not_found")}
            body = _upload_json(row)
            body["feedback"] = [{"row_id": f["row_id"], "id_type": f["id_type"], "class": f["id_class"]}
                                for f in row["feedback"]]
            body["feedback_omitted"] = row.get("feedback_omitted") or 0
            return 200, body

        return self.app.run_db(self.app.store.upload_with_feedback, self.reference).addCallback(found)


class Upload(AppResource):
    """``PUT /api/v1/uploads/{name}``: the body was streamed to the spool by UploadRequest; finish the intake."""

    isLeaf = True

    def __init__(self, app, name):
        super().__init__(app)
        self.name = name

    def render_GET(self, request):
        return UploadStatus(self.app, self.name).render_GET(request)

    def render_PUT(self, request):
        if getattr(request, "rejection", None) is not None:
            status, code, message, headers = request.rejection
            for name, value in headers:
                request.setHeader(name, value)
            return json_error(request, status, code, message)
        upload = getattr(request, "upload", None)
        if upload is None:
            return json_error(request, 400, "incomplete", UploadIncomplete().message)
        request.upload = None  # ours now: a lost connection no longer discards it
        if not UPLOAD_NAME_RE.match(self.name):
            self.app.intake.abort(upload)
            return json_error(request, 400, "invalid", "The name in the URL is not a valid file name.")
        d = self.app.intake.finish(upload)
        d.addCallbacks(self._accepted, self._refused, callbackArgs=(request,), errbackArgs=(request,))
        return respond(request, d)

    def _accepted(self, receipt, request):
        request.setHeader(b"Location", f"/api/v1/uploads/{receipt.reference}".encode("ascii"))
        return json_response(request, 200 if receipt.duplicate else 201, receipt.to_json())

    def _refused(self, failure, request):
        if failure.check(IntakeError, ContainerError, SendemodulError):
            error = failure.value
            return json_error(request, status_for(error), error.code, str(error))
        log.failure("upload failed", failure)
        return json_error(request, 500, "error", "Internal error; nothing was kept. Try again later.")


class Uploads(UploadList):
    isLeaf = False

    def getChild(self, path, request):
        if path == b"":
            return self
        return Upload(self.app, path.decode("utf-8", "replace"))


class Keys(AppResource):
    """``GET /api/v1/keys``: the recipient keys the encryption module must use today (public; no login)."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.run_db(self._keys)
        d.addCallback(lambda body: json_response(request, 200, body))
        return respond(request, d)

    def _keys(self):
        directory = keydir.load_key_dir(keydir.find_key_dir(None, self.app.config.home))
        today = datetime.datetime.now(OSLO).date()
        return {"keys": [{"key_id": k.key_id, "role": k.role, "public": k.public,
                          "valid_from": k.valid_from.isoformat(), "valid_to": k.valid_to.isoformat(),
                          "current": k.valid_on(today)} for k in directory]}


class NotFoundJSON(resource.Resource):
    isLeaf = True

    def render(self, request):
        return json_error(request, 404, "not_found", "No such resource.")


class ApiNode(resource.Resource):
    """A path segment of the API: unknown children are JSON 404s."""

    def getChild(self, path, request):
        return NotFoundJSON()

    def render(self, request):
        return NotFoundJSON().render(request)


# -- pages --------------------------------------------------------------------------------------------------


def _field_errors(form, year):
    """Bokmål messages per field for the login form (empty dict when the unit is well-formed)."""
    errors = {}
    k, b, o = form["kommunenr"], form["bydel"], form["orgnr"]
    if not re.fullmatch(r"\d{4}", k):
        errors["kommunenr"] = "Kommunenummeret skal ha fire siffer, for eksempel 0301."
    else:
        try:
            identity.kommune(k, year)
        except KommunenrError:
            errors["kommunenr"] = f"Kommunenummeret {k} finnes ikke i {year}. Kontroller nummeret."
    if not re.fullmatch(r"\d{2}", b):
        errors["bydel"] = "Bydel skal ha to siffer: 00 for hele kommunen, 01–15 for bydelene i Oslo."
    elif "kommunenr" not in errors:
        try:
            identity.check_bydel(k, b, year)
        except BydelError:
            errors["bydel"] = (f"Bydel {b} kan ikke brukes for kommune {k}. Bruk 00 for hele kommunen"
                               + (", eller 01–15 for en bydel." if k == "0301" else "."))
    if not re.fullmatch(r"\d{9}", o):
        errors["orgnr"] = "Organisasjonsnummeret skal ha ni siffer."
    else:
        try:
            identity.check_orgnr(o)
        except OrgnrError:
            errors["orgnr"] = (f"Organisasjonsnummeret {o} er ikke gyldig: det skal begynne med 8 eller 9 og ha "
                               "riktig kontrollsiffer.")
    if not form["pin"].strip():
        errors["pin"] = "Skriv inn PIN-koden."
    return errors


def _form(request, name):
    value = (request.args.get(name.encode()) or [b""])[0]
    return value.decode("utf-8", "replace").strip()[:200]


def _redirect(request, location):
    request.setResponseCode(303)
    request.setHeader(b"Location", location.encode("ascii"))
    return b""


class LoginPage(AppResource):
    isLeaf = True

    def render_GET(self, request):
        if self.app.session(request):
            return _redirect(request, "/opplasting")
        return self._page(request, {}, {}, None)

    def _page(self, request, form, errors, message, status=200):
        token = secrets.token_urlsafe(24)
        self.app.set_cookie(request, LOGIN_COOKIE, token.encode("ascii"))
        return self.app.render(request, "login", status=status, form=form, errors=errors, message=message,
                               csrf=token, session=None)

    def render_POST(self, request):
        form = {name: _form(request, name) for name in ("kommunenr", "bydel", "orgnr")}
        form["pin"] = _form(request, "pin")
        cookie = request.getCookie(LOGIN_COOKIE)
        if not (cookie and self.app.same_origin(request) and self.app.csrf_ok(request, cookie.decode("ascii",
                                                                                                    "replace"))):
            return self._page(request, form, {}, messages_nb.melding("csrf"), status=403)
        errors = _field_errors(form, datetime.datetime.now(OSLO).year)
        if errors:
            return self._page(request, form, errors, "Rett opp feltene som er merket.", status=400)
        unit = f"{form['kommunenr']}-{form['bydel']}-{form['orgnr']}"
        d = self.app.portal.login(auth.UnitCredentials(unit, form["pin"], request.source()), None,
                                  auth.IUnitAvatar)
        d.addCallbacks(self._logged_in, self._failed, callbackArgs=(request,), errbackArgs=(request, form))
        return respond(request, d)

    def _logged_in(self, result, request):
        session = self.app.sessions.create(result[1].unit)
        self.app.set_cookie(request, COOKIE, session.token.encode("ascii"))
        self.app.set_cookie(request, LOGIN_COOKIE, b"", max_age=b"0")
        return _redirect(request, "/opplasting")

    def _failed(self, failure, request, form):
        code = "busy" if failure.check(LoginBusy) else "unauthorized"
        if code == "unauthorized":
            failure.trap(UnauthorizedLogin)
        form = {**form, "pin": ""}
        return self._page(request, form, {}, messages_nb.melding(code), status=503 if code == "busy" else 401)


class SessionPage(AppResource):
    """A page for a logged-in unit; otherwise a redirect to the login page."""

    isLeaf = True

    def render_GET(self, request):
        session = self.app.session(request)
        if session is None:
            return _redirect(request, "/")
        return respond(request, defer.maybeDeferred(self.page, request, session))


class UploadPage(SessionPage):
    def page(self, request, session):
        return self.app.render(request, "opplasting", session=session,
                               max_bytes=self.app.config.limits.max_upload_bytes)


class DeliveriesPage(SessionPage):
    def page(self, request, session):
        d = self.app.run_db(self.app.store.list_uploads, session.unit)
        return d.addCallback(lambda rows: self.app.render(request, "innsendinger", session=session,
                                                          uploads=list(reversed(rows))))


class ReceiptPage(SessionPage):
    def __init__(self, app, reference):
        super().__init__(app)
        self.reference = reference

    def page(self, request, session):
        def found(row):
            if row is None or row["unit"] != session.unit:
                return self.app.render(request, "error", status=404, session=session,
                                       message=messages_nb.melding("not_found"))
            return self.app.render(request, "kvittering", session=session, upload=row, feedback=row["feedback"])

        if not REFERENCE_RE.match(self.reference):
            return found(None)
        return self.app.run_db(self.app.store.upload_with_feedback, self.reference).addCallback(found)


class Receipts(AppResource):
    def getChild(self, path, request):
        return ReceiptPage(self.app, path.decode("ascii", "replace"))


class LogoutPage(AppResource):
    isLeaf = True

    def render_POST(self, request):
        session = self.app.session(request)
        if session is None:
            return _redirect(request, "/")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session,
                                   message=messages_nb.melding("csrf"))
        self.app.sessions.end(session.token)
        self.app.set_cookie(request, COOKIE, b"", max_age=b"0")
        return _redirect(request, "/")


class StaticFiles(static.File):
    def directoryListing(self):
        return pages.notFound()


class Root(AppResource):
    def __init__(self, app):
        super().__init__(app)
        self.login = LoginPage(app)
        self.putChild(b"opplasting", UploadPage(app))
        self.putChild(b"innsendinger", DeliveriesPage(app))
        self.putChild(b"kvittering", Receipts(app))
        self.putChild(b"logg-ut", LogoutPage(app))
        self.putChild(b"static", StaticFiles(str(STATIC_DIR)))
        v1 = ApiNode()
        v1.putChild(b"uploads", Uploads(app))
        v1.putChild(b"keys", Keys(app))
        api = ApiNode()
        api.putChild(b"v1", v1)
        self.putChild(b"api", api)

    def getChild(self, path, request):
        if path == b"":
            return self.login
        return pages.notFound()

    def render_GET(self, request):
        return self.login.render_GET(request)


class Channel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel with a deadline for each request's line and headers.

    The idle timeout restarts with every byte, so alone it never ends a client that trickles its request line a
    byte at a time (slowloris): the line and headers must be complete ``limits.header_timeout_seconds`` after the
    connection opened or the previous request ended. (Once the line is in, the request's own deadline answers 408.)
    """

    _head_deadline = None

    def connectionMade(self):
        super().connectionMade()
        self._arm_head_deadline()

    def _arm_head_deadline(self):
        self._cancel_head_deadline()
        self._head_deadline = self.callLater(self.site.app.config.limits.header_timeout_seconds, self._head_too_slow)

    def _cancel_head_deadline(self):
        if self._head_deadline is not None and self._head_deadline.active():
            self._head_deadline.cancel()
        self._head_deadline = None

    def _head_too_slow(self):
        self._head_deadline = None
        if self.requests:  # the request line is in: the request's own deadline answers
            return
        log.info("request line too slow: closing")
        self.timeoutConnection()

    def allHeadersReceived(self):
        self._cancel_head_deadline()
        super().allHeadersReceived()

    def requestDone(self, request):
        super().requestDone(request)
        if self.persistent and self.transport is not None and not getattr(self.transport, "disconnecting", False):
            self._arm_head_deadline()

    def connectionLost(self, reason):
        self._cancel_head_deadline()
        super().connectionLost(reason)


class Site(server.Site):
    """The Site: our Request class, no tracebacks, headers on every answer, access log without client IPs."""

    displayTracebacks = False

    def protocol(self):
        """Twisted's own protocol factory (HTTP/1.1, or HTTP/2 if negotiated), with our channel."""
        return http._GenericHTTPChannelProtocol(Channel())

    def __init__(self, app, reactor):
        super().__init__(Root(app), requestFactory=SecureRequest, timeout=app.config.limits.idle_timeout_seconds,
                         reactor=reactor)
        self.app = app
        self.reactor = reactor

    #: Refused logins (401, 503) logged per second at most; the rest are counted and summed up once a second, so a
    #: storm of wrong PINs does not spend the reactor's time writing the log.
    REFUSALS_LOGGED_PER_SECOND = 20

    _refusal_second = None
    _refusals_in_second = 0

    def log(self, request):
        if request.code in (401, 503) and self._too_many_refusals():
            return
        if self.app.config.server.log_client_ip:
            log.info("{ip} {method} {status}", ip=request.getClientAddress().host,
                     method=request.method.decode("ascii", "replace"), status=request.code)
        else:
            log.info("{method} {status}", method=request.method.decode("ascii", "replace"), status=request.code)


    def _too_many_refusals(self):
        second = int(self.reactor.seconds())
        if second != self._refusal_second:
            skipped = self._refusals_in_second - self.REFUSALS_LOGGED_PER_SECOND
            if skipped > 0:
                log.info("{count} more refused logins in one second were not logged one by one", count=skipped)
            self._refusal_second, self._refusals_in_second = second, 0
        self._refusals_in_second += 1
        return self._refusals_in_second > self.REFUSALS_LOGGED_PER_SECOND


class SecureRequest(UploadRequest):
    def process(self):
        for name, value in BASE_HEADERS:
            self.setHeader(name, value)
        return super().process()


def tls_options(cert_path):
    """TLS 1.2+ with forward-secret AEAD ciphers only, from a PEM bundle (key + certificate)."""
    pem = cert_path.read_bytes()
    cert = ssl.PrivateCertificate.loadPEM(pem)
    return ssl.CertificateOptions(
        privateKey=cert.privateKey.original, certificate=cert.original,
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
        acceptableCiphers=ssl.AcceptableCiphers.fromOpenSSLCipherString("ECDHE+AESGCM:ECDHE+CHACHA20"),
    )


class WebService(ListeningService):
    """Listens for HTTPS on the configured port."""

    listening_format = "HTTPS listening on https://{host}:{port}/"

    def __init__(self, app, reactor):
        super().__init__(reactor)
        self.app = app

    def endpoint_and_factory(self):
        cfg = self.app.config
        endpoint = endpoints.TCP4ServerEndpoint(self.reactor, cfg.server.https_port, backlog=LISTEN_BACKLOG,
                                                interface=cfg.server.interface)
        return endpoint, CoalescingTLSFactory(tls_options(cfg.tls_cert_path), Site(self.app, self.reactor),
                                              connections_per_source=cfg.limits.https_connections_per_source,
                                              is_banned=self.app.source_banned)
