"""The Site and the TLS listener of the HTTPS front: the resource tree (:mod:`~sendemodul.web.pages`,
:mod:`~sendemodul.web.api`), our channel and request, TLS options, and :class:`WebService`, which listens on an
endpoint string and wraps it in TLS. Thin: uploads go to ``intake``, logins to the portal, reads to the store
(always off the reactor thread).
"""

import re

from twisted.internet import ssl
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.http import datetimeToString

from sendemodul import i18n
from sendemodul._twisted import PromptWritePort, finish_written
from sendemodul.errors import LoginBusy
from sendemodul.listening import ListeningService
from sendemodul.web.answers import BASE_HEADERS
from sendemodul.web.api import ApiNode, Keys, Uploads
from sendemodul.web.app import AppResource
from sendemodul.web.busy import BusyHead
from sendemodul.web.channel import RequestLineChannel
from sendemodul.web.credentials import basic_credentials, login
from sendemodul.web.errors import NotFoundJSON, busy_answer, internal_error_page
from sendemodul.web.module_page import ModulePage
from sendemodul.web.overview import OverviewPage
from sendemodul.web.pages import (
    STATIC_DIR,
    DeliveriesPage,
    Favicon,
    KeepAlive,
    LanguageSwitch,
    LoginPage,
    LogoutPage,
    NotFoundPage,
    Receipts,
    StatementPage,
    StaticFiles,
    UploadPage,
)
from sendemodul.web.passkeys import PasskeyLogin, PasskeysPage
from sendemodul.web.persons import Enrolments, PersonStepPage
from sendemodul.web.registration import RegistrationPage
from sendemodul.web.request import UploadRequest, bad_segment
from sendemodul.web.review import ReviewPages
from sendemodul.web.review_access import ApplicationPage, Applications, ReviewerLoginPage
from sendemodul.web.staff_pages import StaffStatusPage
from sendemodul.web.tls import CoalescingTLSFactory, ServerTLSOptions

log = Logger()


class Root(AppResource):
    def __init__(self, app):
        super().__init__(app)
        self.login = LoginPage(app)
        self.not_found = NotFoundPage(app)
        self.putChild(b"opplasting", UploadPage(app))
        self.putChild(b"innsendinger", DeliveriesPage(app))
        self.putChild(b"kvittering", Receipts(app))
        self.putChild(b"logg-ut", LogoutPage(app))
        reviews = ReviewPages(app)
        reviews.putChild(b"tilgang", Applications(app))
        self.putChild(b"oppgaver", reviews)
        self.putChild(b"tilgang", ApplicationPage(app))
        self.putChild(b"statsforvalter", ReviewerLoginPage(app))
        self.putChild(b"hvem-er-du", PersonStepPage(app))
        self.putChild(b"innmelding", Enrolments(app))
        self.putChild(b"registrer-person", RegistrationPage(app))
        self.putChild(b"mine-skjema", OverviewPage(app))
        self.putChild(b"passnokler", PasskeysPage(app))
        self.putChild(b"passnokkel", PasskeyLogin(app))
        self.putChild(b"krypteringsmodul", ModulePage(app))
        self.putChild(b"sprak", LanguageSwitch(app))
        self.putChild(b"okt", KeepAlive(app))
        self.putChild(b"tilgjengelighet", StatementPage(app))
        static_files = StaticFiles(str(STATIC_DIR))
        static_files.childNotFound = self.not_found
        self.putChild(b"static", static_files)
        self.putChild(b"favicon.ico", Favicon())
        self.putChild(b"statusliste", StaffStatusPage(app))
        v1 = ApiNode()
        v1.putChild(b"uploads", Uploads(app))
        v1.putChild(b"keys", Keys(app))
        api = ApiNode()
        api.putChild(b"v1", v1)
        self.putChild(b"api", api)

    def getChild(self, path, request):
        if path == b"":
            return self.login
        return self.not_found

    def render_GET(self, request):
        return self.login.render_GET(request)


class Channel(BusyHead, RequestLineChannel):
    """Twisted's HTTP/1.1 channel with a deadline for each request's line and headers (and each request told its
    request line before its body: :class:`RequestLineChannel`; a storm's first head answered busy before Twisted
    parses it: :class:`~sendemodul.web.busy.BusyHead`).

    The idle timeout restarts with every byte, so alone it never ends a client that trickles its request line a
    byte at a time (slowloris): the line and headers must be complete ``limits.header_timeout_seconds`` after the
    connection opened or the previous request ended. (Once the line is in, the request's own deadline answers 408.)
    The body of a request that has not logged in must be complete ``limits.login_grace_seconds`` after the same
    moment (the request's login grace); a logged-in upload has ``limits.max_upload_seconds``.
    """

    _head_deadline = None

    #: ``reactor.seconds()`` when the connection opened or the previous request ended: each request's login grace
    #: (``limits.login_grace_seconds``, :class:`~sendemodul.web.request.UploadRequest`) counts from here.
    head_started = None

    def connectionMade(self):
        self.head_started = self.site.reactor.seconds()
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

    def answer_raw(self, status, code, message):
        self._cancel_head_deadline()  # answered: the close follows the lingering moment
        super().answer_raw(status, code, message)

    def requestDone(self, request):
        self.head_started = self.site.reactor.seconds()  # before Twisted parses a pipelined next request
        super().requestDone(request)
        if self.persistent and self.transport is not None and not getattr(self.transport, "disconnecting", False):
            self._arm_head_deadline()

    def connectionLost(self, reason):
        self._cancel_head_deadline()
        super().connectionLost(reason)


class Site(server.Site):
    """The Site: our Request class, no tracebacks, headers on every answer, access log without client IPs."""

    displayTracebacks = False

    #: HTTP/1.1 only (our Channel), not Twisted's HTTP/2-switching wrapper: :meth:`acceptableProtocols` says so to
    #: ALPN.
    protocol = Channel

    def __init__(self, app, reactor):
        super().__init__(
            Root(app), requestFactory=SecureRequest, timeout=app.config.limits.idle_timeout_seconds, reactor=reactor
        )
        self.app = app
        self.reactor = reactor

    def acceptableProtocols(self):
        """Only ``http/1.1`` to a client's ALPN offer. Twisted's Site offers ``h2`` first wherever the ``h2`` package
        is importable (``http.H2_ENABLED``), for its HTTP/2-switching wrapper; our :class:`Channel` speaks HTTP/1.1
        only, so a client that took ``h2`` (curl and every browser prefer it) would send HTTP/2 to an HTTP/1.1
        parser: an install that gained ``h2`` beside Twisted would break every HTTPS client."""
        return [b"http/1.1"]

    #: Refused logins (401, 503) logged per second at most; the rest are counted and summed up once a second, so a
    #: storm of wrong PINs does not spend the reactor's time writing the log.
    REFUSALS_LOGGED_PER_SECOND = 20

    _refusal_second = None
    _refusals_in_second = 0
    _busy_in_second = 0

    def getResourceFor(self, request):
        """Our resource tree, but 404 for a path with a NUL, another control byte or non-UTF-8 in any segment:
        none of ours has one, and no resource need guard against them."""
        if any(bad_segment(segment) for segment in request.postpath):
            return NotFoundJSON() if request.postpath[0] == b"api" else NotFoundPage(self.app)
        return super().getResourceFor(request)

    def log(self, request):
        if request.code in (401, 503) and self._too_many_refusals(busy=getattr(request, "login_busy", False)):
            return
        if self.app.config.server.log_client_ip:
            log.info(
                "{ip} {method} {status}",
                ip=request.getClientAddress().host,
                method=request.method.decode("ascii", "replace"),
                status=request.code,
            )
        else:
            log.info("{method} {status}", method=request.method.decode("ascii", "replace"), status=request.code)

    def count_busy_refusal(self):
        """Count a login answered 503 busy without a ``Request`` (``Channel.answered_busy_head``) as :meth:`log`
        counts one answered through a request: in the second's sum, not logged one by one."""
        self._too_many_refusals(busy=True)

    def _too_many_refusals(self, busy=False):
        """True if this refusal is only counted, not logged: beyond ``REFUSALS_LOGGED_PER_SECOND`` in a second, and
        every login answered busy (``request.login_busy``: refused before any check, by the hash budget or a full
        hash pool; the PIN checker warns about those and the metrics count them), which a storm sends by the
        hundred. The counts of a second are logged in one line when the next refusal comes in a later second."""
        second = int(self.reactor.seconds())
        if second != self._refusal_second:
            skipped = self._refusals_in_second - self.REFUSALS_LOGGED_PER_SECOND
            if skipped > 0:
                log.info("{count} more refused logins in one second were not logged one by one", count=skipped)
            if self._busy_in_second:
                log.info("{count} logins answered 503 busy in one second", count=self._busy_in_second)
            self._refusal_second, self._refusals_in_second, self._busy_in_second = second, 0, 0
        if busy:
            self._busy_in_second += 1
            return True
        self._refusals_in_second += 1
        return self._refusals_in_second > self.REFUSALS_LOGGED_PER_SECOND


#: The paths of the API reads that log in with HTTP Basic (``api.ApiAuthenticated``: the list of uploads and one
#: upload), written only with unreserved characters, so that Twisted's unquoting and our path checks leave them as
#: they are: :meth:`SecureRequest.refused_at_once` answers these before the resource tree when the login is busy.
API_READ_PATH = re.compile(rb"^/api/v1/uploads(?:/[A-Za-z0-9._~-]*)?$")


class SecureRequest(UploadRequest):
    #: Answer an API read whose login is refused busy at once, without the resource tree (:meth:`refused_at_once`).
    #: Off only in tests, to compare its bytes with the ordinary path's.
    refuse_at_once = True

    #: The Deferred login of an API read started by :meth:`refused_at_once`, for :meth:`WebApp.authenticate`.
    basic_login = None

    def process(self):
        if self.refuse_at_once and self.refused_at_once():
            return None
        for name, value in BASE_HEADERS:
            self.setHeader(name, value)
        return super().process()

    def refused_at_once(self):
        """For ``GET /api/v1/uploads[/...]`` with HTTP Basic: log in now, before the resource tree, and if the
        login is refused at once as busy (the hash budget is spent, or the hash pool is full: no hash, no store
        read) write the answer here and finish. True if answered.

        A storm of wrong PINs gets this answer by the hundred a second, each on a new TLS connection; the resource
        traversal, the rendering, the answer's deferred chain and the response headers set one by one were about
        half of what the reactor spent per refusal above the TLS handshake. The bytes are the ones the ordinary path
        writes (:func:`~sendemodul.web.errors.busy_answer`; tests/test_web_site_unit.py compares them), the access
        log counts it as before (:meth:`Site.log`), and a keep-alive connection stays open as before. Any other
        outcome (a success, a 401 after the failure delay, a login still running) goes on the ordinary way, with
        this login handed to :meth:`WebApp.authenticate` (``basic_login``): one login per request, as before."""
        if self.method != b"GET" or self.clientproto != b"HTTP/1.1" or not API_READ_PATH.match(self.path):
            return False
        header = self.requestHeaders.getRawHeaders(b"authorization")
        if not header:
            return False
        outcome = []

        def seen(result):
            outcome.append(result)
            return result

        d = self.channel.take_started_login(header[0]) if hasattr(self.channel, "take_started_login") else None
        if d is None:
            d = login(self.app.portal, basic_credentials(header[0], self.source()))
        d.addBoth(seen)
        if not (outcome and isinstance(outcome[0], Failure) and isinstance(outcome[0].value, LoginBusy)):
            self.basic_login = d
            return False
        d.addErrback(lambda failure: None)  # answered here
        self.setResponseCode(503)
        self.login_busy = True  # counted by the access log, not logged one by one (Site.log)
        before_date, after_date = busy_answer(str(outcome[0].value), i18n.request_language(self))
        head = [b"HTTP/1.1 503 Service Unavailable\r\n"]
        for name, values in self.responseHeaders.getAllRawHeaders():  # what the channel set: Connection: close
            for value in values:
                head.append(b"%s: %s\r\n" % (name, value))
        self.channel.write(b"".join((*head, before_date, b"Date: ", datetimeToString(), b"\r\n", after_date)))
        finish_written(self)
        return True

    def processingFailed(self, reason):
        """An exception out of a resource: logged, and our 500 page in the request's language (Twisted's own has
        no ``lang``)."""
        log.failure("request failed", reason)
        if not self.finished and self.channel is not None:
            body = internal_error_page(self)
            self.setResponseCode(500)
            self.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            self.setHeader(b"Content-Length", b"%d" % len(body))
            self.write(body)
            self.finish()
        return reason


def tls_options(cert_path):
    """TLS 1.2+ with forward-secret AEAD ciphers only, from a PEM bundle (key + certificate)."""
    pem = cert_path.read_bytes()
    cert = ssl.PrivateCertificate.loadPEM(pem)
    return ServerTLSOptions(
        privateKey=cert.privateKey.original,
        certificate=cert.original,
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
        acceptableCiphers=ssl.AcceptableCiphers.fromOpenSSLCipherString("ECDHE+AESGCM:ECDHE+CHACHA20"),
    )


class WebService(ListeningService):
    """Listens for HTTPS on the endpoint ``description`` (``config.server.https_endpoint``, a plain socket) and
    adds TLS with the home's certificate."""

    listening_format = "HTTPS listening on https://{host}:{port}/"
    #: Each answer sent in the reactor event that read its request, not one event later (fewer syscalls and
    #: reactor events per connection: a login storm's refusals, docs/performance.md).
    port_class = PromptWritePort

    def __init__(self, app, reactor, description=None):
        super().__init__(reactor, app.config.server.https_endpoint if description is None else description)
        self.app = app

    def make_factory(self):
        cfg = self.app.config
        return CoalescingTLSFactory(
            tls_options(cfg.tls_cert_path),
            Site(self.app, self.reactor),
            connections_per_source=cfg.limits.https_connections_per_source,
            is_banned=self.app.source_banned,
        )
