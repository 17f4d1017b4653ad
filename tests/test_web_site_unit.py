"""Unit tier: what the HTTPS front's Site and channel (sendemodul/web/site.py, request.py) answer to hostile requests
(issue 14, the outside red-team pass): bad bytes in paths (finding 5), a body trickled without a login (finding 2),
malformed ``Authorization`` headers, over-long heads and Twisted's own 400s (finding 7). The real Site, channel and
request over a ``StringTransport``, a ``Clock`` for every deadline, fakes for the portal and intake.

The same attacks over TLS against a real server: test_web_api.py.
"""

import base64
import json
import re
from typing import ClassVar

from support.fakes import PIN, UNIT, FakeIntake, FakePortal, parse_response, web_app
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sendemodul import auth
from sendemodul.web.site import Site

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class SiteTestCase(SynchronousTestCase):
    limits: ClassVar[dict[str, float]] = {}

    def setUp(self):
        self.clock = Clock()
        self.intake = FakeIntake()
        self.portal = FakePortal()
        self.app = web_app(
            self.clock, intake=self.intake, portal=self.portal, **{"idle_timeout_seconds": 3600, **self.limits}
        )
        self.site = Site(self.app, self.clock)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def connect(self):
        protocol = self.site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        protocol.makeConnection(transport)
        self.addCleanup(lambda: transport.disconnecting or protocol.connectionLost(None))
        return protocol, transport

    def request(self, data):
        """(status, headers, body) of the answer to ``data`` on a new connection."""
        protocol, transport = self.connect()
        protocol.dataReceived(data)
        return parse_response(transport.value())

    def errors_logged(self):
        return [e for e in self.events if e.get("log_failure") is not None or e.get("isError")]


BAD_PATHS = [
    b"/static/style.css%00.txt",
    b"/static/%00",
    b"/static/a%00/b",
    b"/static/%00%00%00",
    b"/static/%ff",
    b"/static/style.css%0a",
    b"/static/%7f",
    b"/%00",
    b"/opplasting%00",
    b"/kvittering/%00",
    b"/kvittering/SM%ff",
    b"/api/v1/uploads/%00",
    b"/api/v1/uploads/a%00.tar",
    b"/api/v1/keys%00",
    b"/api/%00/x",
    b"/logg-ut%00",
]


class BadPathTests(SiteTestCase):
    def test_a_nul_byte_in_a_static_path_is_404_not_500(self):
        status, headers, _ = self.request(b"GET /static/style.css%00.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 404)
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(self.errors_logged(), [])

    def test_nul_control_and_non_utf8_bytes_anywhere_in_the_tree_are_404_or_400_never_500(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:{PIN}".encode()) + b"\r\n"
        answers = {}
        for path in BAD_PATHS:
            for method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE"):
                for credentials in (b"", auth):
                    status, _, _ = self.request(
                        method
                        + b" "
                        + path
                        + b" HTTP/1.1\r\nHost: x\r\n"
                        + credentials
                        + b"Content-Length: 3\r\n\r\nabc"
                    )
                    answers[(method, path, bool(credentials))] = status
        wrong = {
            k: v
            for k, v in answers.items()
            if v not in (400, 404) and not (k[0] in (b"GET", b"HEAD") and v in (303, 401))
        }  # a page's redirect to login, the API's 401
        self.assertEqual(wrong, {})
        self.assertEqual(self.errors_logged(), [])

    def test_an_upload_to_a_bad_name_is_refused_before_its_body_and_keeps_nothing(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:{PIN}".encode()) + b"\r\n"
        for name in (b"a%00.tar", b"%0a", b"%ff.tar", b""):
            status, _, _ = self.request(
                b"PUT /api/v1/uploads/" + name + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 3\r\n\r\n"
            )
            self.assertIn(status, (400, 404), name)
        self.assertEqual(self.intake.begun, [])


GRACE = 60  # limits.login_grace_seconds
HEAD = 30  # limits.header_timeout_seconds
LINGER = 2  # web.request.LINGER_SECONDS: an early answer is followed by a lingering close
FORM_HEAD = (
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
)
PUT_HEAD = b"PUT /api/v1/uploads/x.tar HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"


class LoginGraceTests(SiteTestCase):
    """Issue 14, finding 2: only the request line and headers had a deadline, so a client that sent no credentials
    could hold a request open for ever by trickling its body a byte every 45 s (under the idle timeout). Now a
    request that has not logged in must be complete ``limits.login_grace_seconds`` after its connection opened
    (or the previous request ended); after a login, the upload's own limit (``max_upload_seconds``) applies."""

    limits: ClassVar[dict[str, float]] = {
        "login_grace_seconds": GRACE,
        "header_timeout_seconds": HEAD,
        "idle_timeout_seconds": 60,
    }

    def trickle(self, protocol, transport, until):
        """A body byte every 45 s (never idle for the 60 s idle timeout) until ``until`` seconds on the clock or an
        answer; returns the answer so far."""
        while self.clock.seconds() + 45 < until and not transport.value():
            self.clock.advance(45)
            protocol.dataReceived(b"a")
        return transport.value()

    def assert_answered_and_closed_at_the_grace(self, head, status):
        protocol, transport = self.connect()
        protocol.dataReceived(head + b"a")
        self.assertEqual(self.trickle(protocol, transport, GRACE), b"")  # 45 s: still waiting
        self.clock.advance(GRACE - self.clock.seconds() - 0.01)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.01)
        answer = parse_response(transport.value())
        self.assertEqual(answer[0], status)
        self.assertEqual(answer[1]["connection"], "close")
        self.assertEqual(answer[1]["strict-transport-security"][:8], "max-age=")
        self.assertFalse(transport.disconnecting)
        self.clock.advance(LINGER)
        self.assertTrue(transport.disconnecting)
        return answer

    def test_a_form_body_trickled_without_login_is_408_and_closed_at_the_login_grace(self):
        self.assert_answered_and_closed_at_the_grace(FORM_HEAD, 408)
        self.assertEqual(self.portal.attempts, [])

    def test_an_upload_without_credentials_trickled_is_answered_401_and_closed_at_the_login_grace(self):
        """The upload was refused at its headers (no credentials) and its body is being read and thrown away: at
        the grace it gets that refusal, at once, instead of a read that went on for as long as the body lasts."""
        _, _, body = self.assert_answered_and_closed_at_the_grace(PUT_HEAD, 401)
        self.assertIn(b'"unauthorized"', body)
        self.assertEqual(self.intake.begun, [])

    def test_an_upload_with_a_wrong_pin_trickled_is_answered_at_the_login_grace(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:WRONG".encode()) + b"\r\n"
        self.assert_answered_and_closed_at_the_grace(PUT_HEAD.replace(b"\r\n\r\n", b"\r\n" + auth + b"\r\n"), 401)

    def test_the_grace_counts_from_the_connection_not_from_the_request_line(self):
        protocol, transport = self.connect()
        self.clock.advance(HEAD - 1)
        protocol.dataReceived(FORM_HEAD)
        self.clock.advance(GRACE - self.clock.seconds())
        self.assertEqual(parse_response(transport.value())[0], 408)

    def test_a_kept_alive_connections_next_request_has_its_own_grace(self):
        protocol, transport = self.connect()
        self.clock.advance(HEAD - 5)  # 25 s of the first request's grace spent: the next one has all 60 s
        protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(parse_response(transport.value())[0], 200)
        transport.clear()
        protocol.dataReceived(FORM_HEAD)
        self.assertEqual(self.trickle(protocol, transport, self.clock.seconds() + GRACE), b"")
        self.clock.advance(GRACE - 45 - 0.01)
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0.01)
        self.assertEqual(parse_response(transport.value())[0], 408)

    def test_a_logged_in_upload_outlives_the_grace_and_is_received(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:{PIN}".encode()) + b"\r\n"
        protocol, transport = self.connect()
        protocol.dataReceived(PUT_HEAD.replace(b"\r\n\r\n", b"\r\n" + auth + b"\r\n"))
        self.assertEqual(self.trickle(protocol, transport, 10 * GRACE), b"")
        protocol.dataReceived(b"a" * (1000 - self.intake.begun[0].size))
        self.assertEqual(parse_response(transport.value())[0], 201)

    def test_a_login_still_being_checked_at_the_grace_is_408_and_its_outcome_answers_nothing(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:WRONG".encode()) + b"\r\n"
        for outcome in ("fails", "succeeds"):
            self.portal.pending = self.portal.pending_login()
            protocol, transport = self.connect()
            protocol.dataReceived(
                PUT_HEAD.replace(b"1000", b"3").replace(b"\r\n\r\n", b"\r\n" + auth + b"\r\n") + b"abc"
            )
            self.clock.advance(GRACE)
            self.assertEqual(parse_response(transport.value())[0], 408)
            if outcome == "fails":
                self.portal.pending.errback(UnauthorizedLogin())
            else:
                self.portal.pending.callback(self.portal.avatar(UNIT))
            self.assertEqual(transport.value().count(b"HTTP/1.1 "), 1, outcome)
            self.assertEqual(self.intake.begun, [], outcome)

    def test_a_form_that_arrives_within_the_grace_is_answered_normally(self):
        protocol, transport = self.connect()
        protocol.dataReceived(FORM_HEAD.replace(b"1000", b"10"))
        self.clock.advance(GRACE - 1)
        protocol.dataReceived(b"kommunenr=")
        self.assertEqual(parse_response(transport.value())[0], 403)  # no login cookie: the form's own answer
        transport.clear()
        self.clock.advance(2)  # past the grace of the request that was answered
        self.assertEqual((transport.value(), transport.disconnecting), (b"", False))


def b64(raw):
    return base64.b64encode(raw)


MALFORMED_AUTHORIZATION = {
    "not basic": b"Bearer " + b64(f"{UNIT}:{PIN}".encode()),
    "no scheme": b64(f"{UNIT}:{PIN}".encode()),
    "bad base64": b"Basic !!!" + b64(f"{UNIT}:{PIN}".encode()),
    "no colon": b"Basic " + b64(f"{UNIT}{PIN}".encode()),
    "username not utf-8": b"Basic " + b64(b"0301-12-95893542\xff:" + PIN.encode()),
    "pin not utf-8": b"Basic " + b64(UNIT.encode() + b":\xc3\x28" + PIN.encode()),
    "over-long": b"Basic " + b64(f"{UNIT}:{PIN}".encode() + b" " * 600),
}


class MalformedAuthorizationTests(SiteTestCase):
    """Issue 14, finding 7: a malformed ``Authorization`` header failed at once, before the portal, so it cost
    nothing and counted toward no abuse score. Now the portal gets ``MalformedCredentials`` for the source: a wrong
    PIN's score and delay (auth.PinChecker; test_auth.py), for the API's reads and for uploads alike."""

    def check(self, head_for):
        for kind, value in MALFORMED_AUTHORIZATION.items():
            self.portal.credentials.clear()
            status, _, _ = self.request(head_for(value))
            self.assertEqual(status, 401, kind)
            self.assertEqual(len(self.portal.credentials), 1, kind)
            creds = self.portal.credentials[0]
            self.assertIsInstance(creds, auth.MalformedCredentials, kind)
            self.assertEqual(creds.source, "127.0.0.1", kind)
        self.assertEqual(self.intake.begun, [])

    def test_malformed_headers_on_a_read_reach_the_checker_as_malformed_credentials(self):
        self.check(lambda value: b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n\r\n")

    def test_malformed_headers_on_an_upload_reach_the_checker_as_malformed_credentials(self):
        self.check(
            lambda value: (
                b"PUT /api/v1/uploads/a.tar HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + value
                + b"\r\nContent-Length: 3\r\n\r\nabc"
            )
        )

    def test_well_formed_credentials_are_still_unit_credentials(self):
        status, _, _ = self.request(
            b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: basic "
            + b64(f"{UNIT}:{PIN}".encode())
            + b"\r\n\r\n"
        )
        self.assertEqual(status, 200)
        self.assertNotIsInstance(self.portal.credentials[0], auth.MalformedCredentials)


SECURITY_HEADERS = (
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cache-control",
    "content-security-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
)


class RawAnswerTests(SiteTestCase):
    """Issue 14, finding 7: answers the channel gives before any resource sees the request. A header line over
    16 KiB was not answered at all (Twisted's line receiver closes, or waits for the line's end until the header
    deadline); Twisted's own 400s carried no headers at all. Now 431 (414 for the request line) at once, and every
    such answer carries the security headers, ``Connection: close``, a JSON body, and a lingering close."""

    def assert_raw_answer(self, data, status):
        protocol, transport = self.connect()
        protocol.dataReceived(data)
        answer = parse_response(transport.value())
        self.assertEqual(answer[0], status, transport.value()[:200])
        for name in SECURITY_HEADERS:
            self.assertIn(name, answer[1], name)
        self.assertEqual(answer[1]["connection"], "close")
        self.assertEqual(int(answer[1]["content-length"]), len(answer[2]))
        self.assertEqual(transport.value().count(b"HTTP/1.1 "), 1)
        protocol.dataReceived(b"more of the same\r\n" * 1000)  # read and thrown away while it lingers
        self.assertEqual(transport.value().count(b"HTTP/1.1 "), 1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(LINGER)
        self.assertTrue(transport.disconnecting)
        self.clock.advance(100)  # past the header deadline and the login grace: no deadline answers again
        self.assertEqual(transport.value().count(b"HTTP/1.1 "), 1)
        return answer

    def test_a_header_line_over_16_kib_is_431_at_once(self):
        _, _, body = self.assert_raw_answer(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * 1024 + 10), 431)
        self.assertIn(b'"header_too_large"', body)

    def test_a_complete_header_line_over_16_kib_is_431(self):
        self.assert_raw_answer(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (16 * 1024 + 10) + b"\r\n", 431)

    def test_headers_over_16_kib_together_are_431(self):
        self.assert_raw_answer(
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(17)), 431
        )

    def test_a_request_line_over_16_kib_is_414(self):
        self.assert_raw_answer(b"GET /" + b"a" * (16 * 1024 + 10), 414)

    def test_an_upload_whose_headers_are_too_large_keeps_nothing(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:{PIN}".encode()) + b"\r\n"
        self.assert_raw_answer(b"PUT /api/v1/uploads/a.tar HTTP/1.1\r\n" + auth + b"X-Big: " + b"a" * 17000, 431)
        self.assertEqual(self.intake.begun, [])

    def test_twisteds_own_400_answers_carry_the_security_headers(self):
        cases = {
            "malformed request line": b"GARBAGE\r\n",
            "malformed request line and more": b"GARBAGE\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "header without a colon": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            "bad header name": b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
            "NUL in a header value": b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
            "bad Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            "two lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "bad Transfer-Encoding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "bad chunk": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "too many headers": b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(501)) + b"\r\n",
            "bad multipart form": (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                b"Content-Length: 5\r\n\r\nhello"
            ),
        }
        for name, data in cases.items():
            with self.subTest(name):
                _, _, body = self.assert_raw_answer(data, 400)
                self.assertIn(b'"bad_request"', body)


class RefusalLogTests(SiteTestCase):
    """The access log in a storm (Site.log): logins answered 503 busy are counted and summed up once a second, not
    logged one by one; wrong PINs (401) still are, up to REFUSALS_LOGGED_PER_SECOND a second."""

    def login(self, pin):
        auth_header = base64.b64encode(f"{UNIT}:{pin}".encode())
        return self.request(
            b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth_header + b"\r\n\r\n"
        )

    def access_lines(self):
        return [e for e in self.events if e.get("log_format") == "{method} {status}"]

    def summaries(self):
        return [
            e["count"] for e in self.events if e.get("log_format") == "{count} logins answered 503 busy in one second"
        ]

    def test_busy_logins_are_counted_not_logged_and_summed_up_a_second_later(self):
        self.portal.login = lambda creds, mind, *interfaces: defer.fail(auth.Throttled("total"))
        for _ in range(30):
            status, _, _ = self.login("wrong")
            self.assertEqual(status, 503)
        self.assertEqual(self.access_lines(), [])
        self.assertEqual(self.summaries(), [])
        self.clock.advance(1)
        self.login("wrong")
        self.assertEqual(self.summaries(), [30])
        self.assertEqual(self.access_lines(), [])

    def test_wrong_pins_are_still_logged_one_by_one(self):
        for _ in range(3):
            status, _, _ = self.login("wrong")
            self.assertEqual(status, 401)
        self.assertEqual([e["status"] for e in self.access_lines()], [401, 401, 401])
        self.assertEqual(self.summaries(), [])


class BusyLoginCase(SiteTestCase):
    """A portal whose every login is refused busy at once (``auth.Throttled``), counted in ``self.logins``; and the
    answer to a request with the early answers on or off."""

    def setUp(self):
        super().setUp()
        self.logins = []

        def busy(creds, mind, *interfaces):
            self.logins.append(creds)
            return defer.fail(auth.Throttled("unit"))

        self.portal.login = busy

    #: Which early answers are on: both (the channel's from the raw head, else the request's), the request's
    #: only, or neither (the resource tree answers).
    MODES: ClassVar[dict[str, tuple[bool, bool]]] = {
        "channel": (True, True),
        "request": (False, True),
        "ordinary": (False, False),
    }

    def answer(self, data, mode, chunks=1):
        """The bytes answered to ``data`` (Date blanked; sent in ``chunks`` pieces), whether the connection is
        closing, and the protocol, with the early answers of ``mode`` on."""
        channel_on, request_on = self.MODES[mode]
        protocol, transport = self.connect()
        protocol.answer_busy_head = channel_on
        self.site.requestFactory.refuse_at_once = request_on
        self.addCleanup(setattr, self.site.requestFactory, "refuse_at_once", True)
        step = -(-len(data) // chunks)
        for at in range(0, len(data), step):
            protocol.dataReceived(data[at : at + step])
        answer = re.sub(rb"\r\nDate: [^\r]+\r\n", b"\r\nDate: -\r\n", transport.value())
        return answer, transport.disconnecting, protocol

    def raw(self, path, head, mode):
        """The bytes answered to a busy login (Date blanked) and whether the connection is closing."""
        auth_header = base64.b64encode(f"{UNIT}:wrong".encode())
        data = (
            b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth_header + b"\r\n" + head + b"\r\n"
        )
        return self.answer(data, mode)[:2]


class RefusedAtOnceTests(BusyLoginCase):
    """An API read whose Basic login is refused busy at once is answered before the resource tree
    (``SecureRequest.refused_at_once``, issue 25: the storm's cost per refused login). What the client gets must be
    byte for byte what the ordinary path (the resource tree, ``ApiAuthenticated``) gives, apart from the Date; with
    one login per request either way."""

    HEADS: ClassVar[dict[str, bytes]] = {
        "close": b"Connection: close\r\n",
        "keep-alive": b"",
        "nynorsk by Accept-Language": b"Accept-Language: nn-NO, nb;q=0.5\r\nConnection: close\r\n",
        "nynorsk by cookie": b"Cookie: a=b; sprak=nn\r\n",
    }
    PATHS = (b"/api/v1/uploads", b"/api/v1/uploads?lang=nn", b"/api/v1/uploads/", b"/api/v1/uploads/SM-20270115-7KQ2X")

    def test_a_busy_login_gets_the_ordinary_paths_bytes_and_close(self):
        for path in self.PATHS:
            for name, head in self.HEADS.items():
                with self.subTest(path=path, head=name):
                    at_once = self.raw(path, head, "channel")
                    self.assertEqual(at_once, self.raw(path, head, "request"))
                    self.assertEqual(at_once, self.raw(path, head, "ordinary"))
                    self.assertTrue(at_once[0].startswith(b"HTTP/1.1 503 Service Unavailable\r\n"))
                    self.assertEqual(at_once[1], name in ("close", "nynorsk by Accept-Language"))
                    _, headers, body = parse_response(at_once[0])
                    lang = "nb" if name in ("close", "keep-alive") and b"lang=nn" not in path else "nn"
                    self.assertEqual(headers["content-language"], lang)
                    self.assertEqual(json.loads(body)["error"], "busy")
                    self.assertEqual(headers["retry-after"], "5")
                    self.assertIn("content-security-policy", headers)
        self.assertEqual(len(self.logins), 3 * len(self.PATHS) * len(self.HEADS))  # one login per request

    def test_the_answer_is_made_without_the_resource_tree(self):
        """(So that the test above compares two different paths.)"""
        self.site.getResourceFor = lambda request: self.fail("the resource tree was used")
        status, _, _ = self.request(
            b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
            + b64(f"{UNIT}:x".encode())
            + b"\r\n\r\n"
        )
        self.assertEqual(status, 503)

    def test_a_kept_alive_connection_reads_its_next_request_after_a_busy_answer(self):
        protocol, transport = self.connect()
        one = (
            b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
            + b64(f"{UNIT}:x".encode())
            + b"\r\n\r\n"
        )
        protocol.dataReceived(one + one)  # pipelined
        self.assertEqual(transport.value().count(b"HTTP/1.1 503 Service Unavailable\r\n"), 2)
        protocol.dataReceived(b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\n\r\n")  # no login: the session's way
        self.assertEqual(transport.value().count(b"HTTP/1.1 "), 3)
        self.assertIn(b"HTTP/1.1 401 Unauthorized\r\n", transport.value())
        self.assertEqual(len(self.logins), 2)
        self.assertFalse(transport.disconnecting)

    def test_other_outcomes_go_the_ordinary_way_with_one_login(self):
        """A success, a wrong PIN and a login still being checked when the request is complete: the resource tree
        answers, with the login started before it (not a second one)."""
        portal = FakePortal()
        self.app.portal = portal
        request = b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
        status, _, body = self.request(request % b64(f"{UNIT}:{PIN}".encode()))
        self.assertEqual((status, json.loads(body)["unit"]), (200, UNIT))
        status, _, _ = self.request(request % b64(f"{UNIT}:wrong".encode()))
        self.assertEqual(status, 401)
        portal.pending = portal.pending_login()
        protocol, transport = self.connect()
        protocol.dataReceived(request % b64(f"{UNIT}:{PIN}".encode()))
        self.assertEqual(transport.value(), b"")
        portal.pending.errback(auth.Throttled("unit"))  # busy, but after the request went on: the ordinary 503
        status, headers, body = parse_response(transport.value())
        self.assertEqual((status, json.loads(body)["error"], headers["retry-after"]), (503, "busy", "5"))
        self.assertEqual(portal.attempts, [UNIT, UNIT, UNIT])

    def test_only_basic_logins_of_api_reads_are_answered_at_once(self):
        """A HEAD, an HTTP/1.0 request, another path or a percent-escaped one, and a request without Basic auth
        go the ordinary way (a HEAD and HTTP/1.0 are written differently; a session has no login to refuse)."""
        calls = []
        original = self.site.getResourceFor
        self.site.getResourceFor = lambda request: calls.append(request.path) or original(request)
        auth_line = b"Authorization: Basic " + b64(f"{UNIT}:x".encode()) + b"\r\n"
        for line in (
            b"HEAD /api/v1/uploads HTTP/1.1",
            b"GET /api/v1/uploads HTTP/1.0",
            b"GET /api/v1/uploads/%53M-1 HTTP/1.1",
            b"GET /api/v1/uploads/a/b HTTP/1.1",
            b"GET /api/v1/uploadsx HTTP/1.1",
        ):
            self.request(line + b"\r\nHost: x\r\n" + auth_line + b"Connection: close\r\n\r\n")
        self.request(b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(len(calls), 6)


def busy_head(*lines, path=b"/api/v1/uploads", pin="wrong"):
    """A storm's request head: ``GET path`` with a Basic login and ``lines`` (default: ``Connection: close``)."""
    auth_line = b"Authorization: Basic " + b64(f"{UNIT}:{pin}".encode())
    extra = lines if lines else (b"Connection: close",)
    return b"\r\n".join((b"GET " + path + b" HTTP/1.1", b"Host: x", auth_line, *extra)) + b"\r\n\r\n"


class BusyHeadTests(BusyLoginCase):
    """A storm's login refused busy at once is answered by the channel from the connection's first bytes, before
    Twisted's line parser or a ``Request`` exists (``Channel.answered_busy_head``, issue 25). It must answer exactly
    what the request's early answer and the resource tree answer, with the same access-log count, close and timers;
    anything it does not take (a partial or pipelined head, other headers, keep-alive, another outcome of the login)
    goes to Twisted's parser unchanged, with one login per request."""

    #: Heads the channel does not take: each must get, byte for byte, what the other two paths give.
    NOT_TAKEN: ClassVar[dict[str, bytes]] = {
        "keep-alive": busy_head(b"User-Agent: t"),
        "Connection: Close, then keep-alive token": busy_head(b"Connection: close keep-alive"),
        "a cookie": busy_head(b"Cookie: sprak=nn", b"Connection: close"),
        "Accept-Language": busy_head(b"Accept-Language: nn", b"Connection: close"),
        "Content-Length: 0": busy_head(b"Content-Length: 0", b"Connection: close"),
        "two Authorization headers": busy_head(b"Authorization: Basic eA==", b"Connection: close"),
        "a folded header line": busy_head(b"Connection: close", b"X-A: b", b" c"),
        "a query": busy_head(path=b"/api/v1/uploads?lang=nn"),
        "an escaped path": busy_head(path=b"/api/v1/uploads/%53M-1"),
        "pipelined": busy_head() + busy_head(),
        "a body after the head": busy_head() + b"xyz",
        "HTTP/1.0": busy_head().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        "a lower-case method": b"get" + busy_head()[3:],
        "a tab in a value": busy_head(b"Connection: close", b"User-Agent: a\tb"),
        "a NUL in a value": busy_head(b"Connection: close", b"User-Agent: a\x00b"),
        "a bare LF": busy_head().replace(b"Host: x\r\n", b"Host: x\n"),
    }

    def test_the_storms_head_is_answered_before_any_request_exists(self):
        self.site.requestFactory = lambda *a, **kw: self.fail("a Request was made")
        answer, closing, protocol = self.answer(busy_head(), "channel")
        self.assertTrue(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"))
        self.assertTrue(closing)
        self.assertEqual(protocol.requests, [])
        self.assertEqual(len(self.logins), 1)

    def test_it_is_the_same_answer_close_log_count_and_timers_as_the_other_paths(self):
        seen = {}
        for mode in self.MODES:
            self.site = Site(self.app, self.clock)  # its own count of the second's refusals
            self.events.clear()
            for _ in range(3):  # three refusals in one second, then one in the next: the summary line counts 3
                answer, closing, protocol = self.answer(busy_head(), mode)
            protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # after the answer: thrown away
            timers = sorted(call.getTime() for call in self.clock.getDelayedCalls() if call.active())
            self.clock.advance(1)
            self.answer(busy_head(), mode)
            counted = [e["count"] for e in self.events if "answered 503 busy" in e.get("log_format", "")]
            seen[mode] = (answer, closing, timers, counted)
        self.assertEqual(seen["channel"], seen["request"])
        self.assertEqual(seen["channel"], seen["ordinary"])
        self.assertEqual(seen["channel"][3], [3])
        self.assertEqual(len(self.logins), 3 * 4)

    def test_what_the_channel_does_not_take_is_answered_as_twisted_parses_it(self):
        for name, data in self.NOT_TAKEN.items():
            with self.subTest(head=name):
                del self.logins[:]
                answers = {mode: self.answer(data, mode)[:2] for mode in self.MODES}
                self.assertEqual(answers["channel"], answers["request"])
                self.assertEqual(answers["channel"], answers["ordinary"])
                self.assertEqual(len(self.logins) % 3, 0)  # as many logins in each mode

    def test_every_path_the_channel_takes_is_answered_as_the_resource_tree_answers_it(self):
        """Dots and the other unreserved characters in the upload's segment ("..", ".", "~") included."""
        for path in (b"/api/v1/uploads/", b"/api/v1/uploads/..", b"/api/v1/uploads/.", b"/api/v1/uploads/~a_b.c-9"):
            with self.subTest(path=path):
                answers = {mode: self.answer(busy_head(path=path), mode)[:2] for mode in self.MODES}
                self.assertEqual(answers["channel"], answers["ordinary"])
                self.assertEqual(answers["request"], answers["ordinary"])

    def test_a_head_in_pieces_gets_the_same_answer(self):
        whole = self.answer(busy_head(), "channel")[:2]
        for chunks in (2, 3, len(busy_head())):
            with self.subTest(chunks=chunks):
                self.assertEqual(self.answer(busy_head(), "channel", chunks)[:2], whole)

    def test_the_login_has_the_connections_source(self):
        """The transport's peer (behind a PROXY-protocol listener, the client's address from the header)."""
        protocol = self.site.buildProtocol(PEER)
        protocol.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", "203.0.113.9", 5000)))
        protocol.dataReceived(busy_head())
        self.assertEqual([creds.source for creds in self.logins], ["203.0.113.9"])

    def test_other_outcomes_go_on_with_the_login_started_by_the_channel(self):
        """A success, a wrong PIN, a ban (refused at once, but not busy) and a login still being checked: the request
        Twisted makes from the same bytes answers, with the channel's login (one per request)."""
        portal = FakePortal()
        self.app.portal = portal
        answer, closing, _ = self.answer(busy_head(pin=PIN), "channel")
        self.assertEqual((parse_response(answer)[0], json.loads(parse_response(answer)[2])["unit"]), (200, UNIT))
        self.assertTrue(closing)
        answer, _, _ = self.answer(busy_head(), "channel")
        self.assertEqual(parse_response(answer)[0], 401)
        portal.pending = portal.pending_login()
        answer, _, protocol = self.answer(busy_head(pin=PIN), "channel")
        self.assertEqual(answer, b"")
        portal.pending.errback(auth.Throttled("unit"))  # busy, but after the request went on: the ordinary 503
        self.assertEqual(parse_response(protocol.transport.value())[0], 503)
        self.assertEqual(portal.attempts, [UNIT, UNIT, UNIT])
        self.assertEqual(self.errors_logged(), [])
