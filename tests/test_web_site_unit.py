"""Unit tier: what the HTTPS front's Site and channel (sendemodul/web/site.py, request.py) answer to hostile requests
(issue 14): bad bytes in paths, and what is still to come of the red-team findings. The real Site, channel and
request over a ``StringTransport``, a ``Clock`` for every deadline, fakes for the portal and intake.

The same attacks over TLS against a real server: test_web_api.py.
"""

import base64

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.web.site import Site
from support.fakes import PIN, UNIT, FakeIntake, FakePortal, parse_response, web_app

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class SiteTestCase(SynchronousTestCase):
    limits = {}

    def setUp(self):
        self.clock = Clock()
        self.intake = FakeIntake()
        self.portal = FakePortal()
        self.app = web_app(self.clock, intake=self.intake, portal=self.portal,
                           **{"idle_timeout_seconds": 3600, **self.limits})
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
    b"/static/style.css%00.txt", b"/static/%00", b"/static/a%00/b", b"/static/%00%00%00", b"/static/%ff",
    b"/static/style.css%0a", b"/static/%7f", b"/%00", b"/opplasting%00", b"/kvittering/%00", b"/kvittering/SM%ff",
    b"/api/v1/uploads/%00", b"/api/v1/uploads/a%00.tar", b"/api/v1/keys%00", b"/api/%00/x", b"/logg-ut%00",
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
                    status, _, _ = self.request(method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + credentials
                                                + b"Content-Length: 3\r\n\r\nabc")
                    answers[(method, path, bool(credentials))] = status
        wrong = {k: v for k, v in answers.items() if v not in (400, 404) and not
                 (k[0] in (b"GET", b"HEAD") and v in (303, 401))}  # a page's redirect to login, the API's 401
        self.assertEqual(wrong, {})
        self.assertEqual(self.errors_logged(), [])

    def test_an_upload_to_a_bad_name_is_refused_before_its_body_and_keeps_nothing(self):
        auth = b"Authorization: Basic " + base64.b64encode(f"{UNIT}:{PIN}".encode()) + b"\r\n"
        for name in (b"a%00.tar", b"%0a", b"%ff.tar", b""):
            status, _, _ = self.request(b"PUT /api/v1/uploads/" + name + b" HTTP/1.1\r\nHost: x\r\n" + auth
                                        + b"Content-Length: 3\r\n\r\n")
            self.assertIn(status, (400, 404), name)
        self.assertEqual(self.intake.begun, [])
