"""Unit tier: the upload request (sendemodul/web/request.py) on the real Site and HTTP channel, over a
``StringTransport``, with a ``Clock`` for every deadline and fakes for the portal and intake. No TLS, no socket.

The same behaviour with real clients over TLS is in test_web_api.py (integration).
"""

import base64
import json

from support.fakes import PIN, UNIT, FakeIntake, FakePortal, parse_response, receipt, web_app
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.errors import WindowClosed
from sendemodul.web.request import LINGER_SECONDS, MAX_DISCARD_BYTES, MAX_SMALL_BODY
from sendemodul.web.site import Site

MAX_BYTES = 1000
HEADER_SECONDS = 30
UPLOAD_SECONDS = 60
PEER = IPv4Address("TCP", "127.0.0.1", 40000)


def basic(unit=UNIT, pin=PIN):
    return b"Basic " + base64.b64encode(f"{unit}:{pin}".encode())


def put_head(length=None, *, auth=None, expect=False, name=b"a.tar", extra=b""):
    lines = [b"PUT /api/v1/uploads/" + name + b" HTTP/1.1", b"Host: localhost"]
    if auth is not False:
        lines.append(b"Authorization: " + (auth or basic()))
    if length is None:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Length: %d" % length)
    if expect:
        lines.append(b"Expect: 100-continue")
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


class UploadRequestTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.intake = FakeIntake(max_upload_bytes=MAX_BYTES, max_upload_seconds=UPLOAD_SECONDS)
        self.portal = FakePortal()
        self.app = web_app(
            self.clock,
            intake=self.intake,
            portal=self.portal,
            max_upload_bytes=MAX_BYTES,
            max_upload_seconds=UPLOAD_SECONDS,
            header_timeout_seconds=HEADER_SECONDS,
            idle_timeout_seconds=3600,
        )
        self.site = Site(self.app, self.clock)
        self.protocol = self.site.buildProtocol(PEER)
        self.transport = StringTransport(peerAddress=PEER)
        self.protocol.makeConnection(self.transport)

    def tearDown(self):
        if self.transport.connected and not self.transport.disconnecting:
            self.protocol.connectionLost(None)

    def send(self, data):
        self.protocol.dataReceived(data)

    def answer(self):
        status, headers, body = parse_response(self.transport.value())
        return (
            status,
            headers,
            (json.loads(body) if body and headers.get("content-type", "").startswith("application/json") else body),
        )

    def assertClosedAfterLinger(self):
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(LINGER_SECONDS)
        self.assertTrue(self.transport.disconnecting)


class AcceptedTests(UploadRequestTestCase):
    def test_the_body_streams_into_intake_and_the_receipt_is_201(self):
        self.send(put_head(10) + b"0123456789")
        status, headers, body = self.answer()
        self.assertEqual(status, 201)
        self.assertEqual(headers["location"], f"/api/v1/uploads/{body['reference']}")
        self.assertEqual(body["unit"], UNIT)
        self.assertEqual([bytes(u.data) for u in self.intake.finished], [b"0123456789"])

    def test_100_continue_comes_only_after_the_login(self):
        self.portal.pending = login = self.portal.pending_login()
        self.send(put_head(10, expect=True))
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.transport.producerState, "paused")
        self.assertEqual(self.intake.begun, [])
        login.callback(self.portal.avatar(UNIT))
        self.assertEqual(self.transport.value(), b"HTTP/1.1 100 Continue\r\n\r\n")
        self.assertEqual(self.transport.producerState, "producing")
        self.send(b"0123456789")
        self.assertEqual(self.answer()[0], 201)

    def test_a_body_that_came_during_the_login_is_kept_in_order(self):
        self.portal.pending = login = self.portal.pending_login()
        self.send(put_head(10) + b"01234")
        self.send(b"56789")
        self.assertEqual(self.intake.begun, [])
        login.callback(self.portal.avatar(UNIT))
        self.assertEqual(self.answer()[0], 201)
        self.assertEqual(bytes(self.intake.finished[0].data), b"0123456789")

    def test_a_duplicate_is_200_with_the_first_receipt(self):
        self.intake.outcome = lambda upload: receipt(upload).__class__(
            **{**receipt(upload).__dict__, "duplicate": True}
        )
        self.send(put_head(3) + b"abc")
        status, _, body = self.answer()
        self.assertEqual((status, body["duplicate"]), (200, True))

    def test_an_intake_refusal_is_its_status_and_message(self):
        def closed(upload):
            raise WindowClosed("Reception for 11F 2026 closed 15.02.2027.")

        self.intake.outcome = closed
        self.send(put_head(3) + b"abc")
        status, _, body = self.answer()
        self.assertEqual(
            (status, body["error"], body["message"]),
            (403, "window_closed", "Reception for 11F 2026 closed 15.02.2027."),
        )

    def test_the_server_banner_is_not_sent(self):
        self.send(put_head(3) + b"abc")
        self.assertNotIn("server", self.answer()[1])


class RefusedBeforeTheBodyTests(UploadRequestTestCase):
    def test_a_declared_length_over_the_limit_is_413_at_once(self):
        self.send(put_head(MAX_BYTES + 1))
        status, headers, body = self.answer()
        self.assertEqual((status, body["error"]), (413, "too_large"))
        self.assertEqual(headers["connection"], "close")
        self.assertEqual(self.portal.attempts, [])
        self.assertEqual(self.intake.begun, [])
        self.assertClosedAfterLinger()

    def test_a_wrong_pin_waiting_for_100_continue_is_401_at_once_and_nothing_is_begun(self):
        self.send(put_head(10, auth=basic(pin="0000-0000-0000"), expect=True))
        status, headers, body = self.answer()
        self.assertEqual((status, body["error"]), (401, "unauthorized"))
        self.assertIn("Basic", headers["www-authenticate"])
        self.assertNotIn(b"100 Continue", self.transport.value())
        self.assertEqual(self.intake.begun, [])
        self.assertClosedAfterLinger()

    def test_a_wrong_pin_while_sending_reads_and_discards_the_body_then_answers_401(self):
        self.send(put_head(10, auth=basic(pin="0000-0000-0000")) + b"0123456789")
        status, _, body = self.answer()
        self.assertEqual((status, body["error"]), (401, "unauthorized"))
        self.assertEqual(self.intake.begun, [])

    def test_a_refused_body_past_max_discard_bytes_is_cut_off(self):
        self.send(put_head(None, auth=basic(pin="0000-0000-0000")))
        chunk = b"x" * (1 << 20)
        for _ in range(MAX_DISCARD_BYTES // len(chunk) + 1):
            self.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, headers, _body = self.answer()
        self.assertEqual((status, headers["connection"]), (401, "close"))

    def test_no_credentials_is_401_without_a_basic_challenge(self):
        self.send(put_head(10, auth=False, expect=True))
        status, headers, _ = self.answer()
        self.assertEqual(status, 401)
        self.assertNotIn("www-authenticate", headers)  # a browser would show a password dialog

    def test_too_many_uploads_for_the_unit_is_429_with_retry_after(self):
        self.intake.config.limits.uploads_per_unit = 0
        self.send(put_head(10, expect=True))
        status, headers, body = self.answer()
        self.assertEqual((status, body["error"], headers["retry-after"]), (429, "too_many_uploads", "10"))

    def test_an_unexpected_login_error_is_500_and_logged(self):
        self.portal.pending = self.portal.pending_login()
        self.send(put_head(10, expect=True))
        self.portal.pending.errback(RuntimeError("bug"))
        self.assertEqual(self.answer()[0], 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_an_invalid_name_is_400_before_the_body_and_nothing_is_begun(self):
        self.send(put_head(3, name=b"%01bad"))
        status, _, body = self.answer()
        self.assertEqual((status, body["error"]), (400, "invalid"))
        self.assertEqual((self.intake.begun, self.portal.attempts), ([], []))
        self.assertClosedAfterLinger()

    def test_an_upload_that_no_resource_takes_is_discarded(self):
        """The name is fine, so the body streams; a later part of the path is not, so the answer is 404 from the
        Site and the upload resource never takes the file: the request's end throws it away."""
        self.send(put_head(3, name=b"a.tar/%00") + b"abc")
        self.assertEqual(self.answer()[0], 404)
        self.assertEqual(len(self.intake.begun), 1)
        self.assertTrue(self.intake.begun[0].discarded)


class LimitsDuringTheBodyTests(UploadRequestTestCase):
    def test_a_body_past_the_limit_is_413_and_the_upload_is_discarded(self):
        self.send(put_head(None))
        self.send(b"%x\r\n" % (MAX_BYTES + 1) + b"x" * (MAX_BYTES + 1) + b"\r\n")
        status, _, body = self.answer()
        self.assertEqual((status, body["error"]), (413, "too_large"))
        self.assertTrue(self.intake.begun[0].discarded)
        self.assertEqual(self.intake.finished, [])
        self.assertClosedAfterLinger()

    def test_pressure_from_the_spool_pauses_and_resumes_reading(self):
        self.send(put_head(10) + b"01234")
        self.intake.begun[0].on_pressure(True)
        self.assertEqual(self.transport.producerState, "paused")
        self.intake.begun[0].on_pressure(False)
        self.assertEqual(self.transport.producerState, "producing")

    def test_a_lost_connection_discards_the_partial_upload(self):
        self.send(put_head(10) + b"01234")
        self.protocol.connectionLost(None)
        self.assertTrue(self.intake.begun[0].discarded)
        self.assertEqual(self.intake.finished, [])

    def test_other_requests_may_carry_only_a_small_body(self):
        self.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % (MAX_SMALL_BODY + 1))
        status, _, body = self.answer()
        self.assertEqual((status, body["error"]), (413, "too_large"))
        self.assertEqual(self.intake.begun, [])


class DeadlineTests(UploadRequestTestCase):
    """The request's deadlines run on the injected clock."""

    def test_headers_not_complete_in_header_timeout_seconds_get_408(self):
        self.send(b"PUT /api/v1/uploads/a.tar HTTP/1.1\r\nHost: localhost\r\n")
        self.clock.advance(HEADER_SECONDS - 1)
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(1)
        status, _, body = self.answer()
        self.assertEqual((status, body["error"]), (408, "timeout"))
        self.assertClosedAfterLinger()

    def test_a_body_that_trickles_past_max_upload_seconds_gets_408_and_is_discarded(self):
        self.send(put_head(100))
        for _ in range(UPLOAD_SECONDS // 5 - 1):  # a byte every 5 s: never idle, never done
            self.send(b"x")
            self.clock.advance(5)
        self.assertEqual(self.transport.value(), b"")
        self.send(b"x")
        self.clock.advance(5)
        status, _, body = self.answer()
        self.assertEqual((status, body["error"]), (408, "timeout"))
        self.assertTrue(self.intake.begun[0].discarded)
        self.assertEqual(self.intake.finished, [])
        self.assertClosedAfterLinger()

    def test_a_complete_upload_cancels_its_deadline(self):
        self.send(put_head(3) + b"abc")
        self.assertEqual(self.answer()[0], 201)
        self.assertNotIn("UploadRequest._too_slow", repr(self.clock.getDelayedCalls()))
        self.clock.advance(UPLOAD_SECONDS * 2)
        self.assertEqual(parse_response(self.transport.value())[0], 201)

    def test_the_request_uses_the_clock_it_is_given(self):
        from sendemodul.web.request import UploadRequest

        other = Clock()
        request = UploadRequest(self.protocol, clock=other)  # the Site builds our Channel itself
        self.assertIs(request.clock, other)
        self.assertEqual(len(other.getDelayedCalls()), 2)  # the header deadline and the login grace
        request.connectionLost(None)
        self.assertEqual(other.getDelayedCalls(), [])
