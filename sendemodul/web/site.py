"""The Site and the TLS listener of the HTTPS front: the resource tree (:mod:`~sendemodul.web.pages`,
:mod:`~sendemodul.web.api`), our channel and request, TLS options, and :class:`WebService`, which listens on an
endpoint string and wraps it in TLS. Thin: uploads go to ``intake``, logins to the portal, reads to the store
(always off the reactor thread).
"""

import re

from OpenSSL import SSL
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
from sendemodul.web.tls import CoalescingTLSFactory

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


#: The first bytes of a connection that :meth:`Channel.dataReceived` may answer itself when the login is refused busy
#: at once: one whole HTTP/1.1 ``GET`` of an API read (the paths of :data:`API_READ_PATH`, no query) and its header
#: lines, each a plain token name and a printable value, and nothing after the blank line (no body, no second request).
#: Anything else goes to Twisted's parser as it came.
BUSY_HEAD = re.compile(
    rb"GET /api/v1/uploads(?:/[A-Za-z0-9._~-]*)? HTTP/1\.1\r\n((?:[A-Za-z0-9-]+:[\x20-\x7e]*\r\n){1,8})\r\n\Z"
)

#: The headers such a head may carry (lower case, each at most once): none that could change the answer's language
#: (``Cookie``, ``Accept-Language``), its length or framing (``Content-Length``, ``Transfer-Encoding``, ``Expect``).
BUSY_HEAD_NAMES = frozenset((b"host", b"authorization", b"connection", b"user-agent", b"accept"))

#: The longest head answered so (far below Twisted's limits on a line and on all header lines).
BUSY_HEAD_BYTES = 2048


class Channel(RequestLineChannel):
    """Twisted's HTTP/1.1 channel with a deadline for each request's line and headers (and each request told its
    request line before its body: :class:`RequestLineChannel`).

    The idle timeout restarts with every byte, so alone it never ends a client that trickles its request line a
    byte at a time (slowloris): the line and headers must be complete ``limits.header_timeout_seconds`` after the
    connection opened or the previous request ended. (Once the line is in, the request's own deadline answers 408.)
    The body of a request that has not logged in must be complete ``limits.login_grace_seconds`` after the same
    moment (the request's login grace); a logged-in upload has ``limits.max_upload_seconds``.
    """

    _head_deadline = None

    #: Answer a storm's login that is refused busy at once from its raw head, before any ``Request`` exists
    #: (:meth:`answered_busy_head`). Off only in tests, to compare its bytes with the request's path.
    answer_busy_head = True

    #: Whether the next :meth:`dataReceived` is the connection's first (only that one may be answered from its head).
    _first_data = True

    #: ``(Authorization value, Deferred)`` of a login that :meth:`answered_busy_head` started and that was not
    #: refused at once, while Twisted parses the same head: the request takes it (:meth:`take_started_login`).
    _started_login = None

    #: ``reactor.seconds()`` when the connection opened or the previous request ended: each request's login grace
    #: (``limits.login_grace_seconds``, :class:`~sendemodul.web.request.UploadRequest`) counts from here.
    head_started = None

    def connectionMade(self):
        self.head_started = self.site.reactor.seconds()
        super().connectionMade()
        self._arm_head_deadline()

    def dataReceived(self, data):
        if self._first_data:
            self._first_data = False
            if self.answer_busy_head and self.answered_busy_head(data):
                return
        super().dataReceived(data)

    def answered_busy_head(self, data):
        """For the first bytes of a connection that are one whole ``GET /api/v1/uploads[/...]`` with HTTP Basic and
        ``Connection: close`` (:data:`BUSY_HEAD`): log in now, and if the login is refused busy at once (the hash
        budget is spent, or the hash pool is full) write the answer and close, before Twisted's line parser and a
        ``Request`` exist. True if answered.

        This is the storm's case: wrong PINs by the hundred a second, each on a new TLS connection sending one such
        head. The bytes are those :meth:`SecureRequest.refused_at_once` writes (tests/test_web_site_unit.py compares
        the three paths: here, there, and the resource tree), in Bokmål (the head carries nothing that chooses a
        language), the access log counts it as :meth:`Site.log` counts a busy answer, and the connection closes as
        the channel closes it after a ``Connection: close`` request. Any other outcome of the login goes on the
        ordinary way with the same login: Twisted parses the same bytes at once, and the request takes the login
        started here (:meth:`take_started_login`), so there is one login per request as before."""
        if len(data) > BUSY_HEAD_BYTES or not data.startswith(b"GET /api/v1/uploads"):
            return False
        head = BUSY_HEAD.match(data)
        if head is None:
            return False
        headers = {}
        for line in head.group(1).split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name in headers or name not in BUSY_HEAD_NAMES:
                return False
            headers[name] = value.strip(b" \t")
        authorization = headers.get(b"authorization")
        if authorization is None or headers.get(b"connection", b"").lower() != b"close":
            return False
        peer = self.transport.getPeer()
        outcome = []

        def seen(result):
            outcome.append(result)
            return result

        d = login(self.site.app.portal, basic_credentials(authorization, getattr(peer, "host", None))).addBoth(seen)
        if not (outcome and isinstance(outcome[0], Failure) and outcome[0].check(LoginBusy)):
            self._started_login = (authorization, d)
            try:
                super().dataReceived(data)
            finally:
                if self._started_login is not None:  # not taken (cannot happen for a head that matched): not lost
                    self._started_login = None
                    d.addErrback(lambda failure: None)
                    log.error("a login started for a request was not taken by it")
            return True
        d.addErrback(lambda failure: None)  # answered here
        self._cancel_head_deadline()
        if self.timeOut is not None:  # as Twisted does for a request being answered; not restored: the channel closes
            self.setTimeout(None)
        self._raw_answered = True  # what the client still sends is thrown away until the close
        before_date, after_date = busy_answer(str(outcome[0].value), i18n.DEFAULT)
        self.transport.write(
            b"".join(
                (
                    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n",
                    before_date,
                    b"Date: ",
                    datetimeToString(),
                    b"\r\n",
                    after_date,
                )
            )
        )
        self.site.count_busy_refusal()
        self._close_without_waiting()
        return True

    def _close_without_waiting(self):
        """Close as nginx closes after an answered request: our close_notify, then the TCP close, without waiting
        for the client's close_notify (one reactor event and a TLS record less per refused login in a storm).

        Only here: the connection's first bytes were one whole request, nothing after it, ``Connection: close``,
        so nothing the client sent is left unread when the socket closes (the kernel sends a FIN, not a reset);
        the client's own close_notify, sent after it has read ours and so the whole answer, meets a closed socket.
        The worst a client that sends more meanwhile gets is a reset in place of a 503 busy, the same "try later".
        Done by telling OpenSSL the peer's close_notify is in (``RECEIVED_SHUTDOWN``), so that its ``shutdown``
        completes at once and Twisted's TLS layer closes the transport as after a two-way shutdown."""
        handle = getattr(self.transport, "getHandle", lambda: None)()
        if isinstance(handle, SSL.Connection):
            handle.set_shutdown(handle.get_shutdown() | SSL.RECEIVED_SHUTDOWN)
        self.loseConnection()

    def take_started_login(self, authorization):
        """The Deferred login :meth:`answered_busy_head` started for this ``Authorization`` value, or None."""
        started, self._started_login = self._started_login, None
        if started is None:
            return None
        if started[0] != authorization:  # not this request's (cannot happen): keep it from being lost unseen
            started[1].addErrback(lambda failure: None)
            return None
        return started[1]

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

    #: HTTP/1.1 only: the TLS options offer no ALPN, so Twisted's HTTP/2-switching wrapper had nothing to switch.
    protocol = Channel

    def __init__(self, app, reactor):
        super().__init__(
            Root(app), requestFactory=SecureRequest, timeout=app.config.limits.idle_timeout_seconds, reactor=reactor
        )
        self.app = app
        self.reactor = reactor

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
        if not (outcome and isinstance(outcome[0], Failure) and outcome[0].check(LoginBusy)):
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
    return ssl.CertificateOptions(
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
