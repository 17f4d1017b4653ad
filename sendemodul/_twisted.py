"""Every place where sendemodul bends Twisted past its public API: the one module that names a private Twisted
attribute or copies the body of a Twisted method.

Written against Twisted 26.10.0 (``WRITTEN_AGAINST``). Each override says which Twisted behaviour it changes and
why (the bug it fixes, with the test that shows it); tests/test_twisted_overrides.py pins the upstream code each
one leans on, so that a Twisted upgrade that changes it fails a test instead of the server; docs/twisted-upstream.md
is the change we would propose to Twisted so that the override can go.

Everything else in sendemodul uses Twisted's public names only, and imports from here what it needs of these.

``BadRequestAnsweringChannel`` (issue 14) hooks Twisted's bare 400 answer so that it can carry our headers.

Overrides that were elsewhere and were replaced by public API (issue 13): ``http._GenericHTTPChannelProtocol`` (our
Site serves HTTP/1.1 only: ``Site.protocol`` is our channel class), ``HTTPChannel._command``/``_path``/``_version``
(``web.request.RequestLineChannel`` hands the request its request line), raw HTTP written to the transport
(``HTTPChannel.writeHeaders``), ``SSHUserAuthServer._ebPassword`` (``passwordDelay`` is 0: it only waited a reactor
turn), the ``_log`` properties (logs.QUIET_NAMESPACES names our classes) and ``FileTransferServer.__init__`` (the
drop box provides ``ISFTPServer`` itself, so Conch's own adaptation returns it).

Dropped because no gain could be shown (figures in docs/twisted-upstream.md): Conch's ``SSHTransportBase.getPacket``
re-implemented to cut each packet out of the buffer with fewer copies (the method alone is cheaper, but the
reactor's CPU per GiB over SFTP in ``scripts/bench`` was 4.04-4.78 s with it and 4.38-5.46 s without it), and a
cache of zope ``Provides`` declarations for the ``directlyProvides`` calls in ``TLSMemoryBIOProtocol.makeConnection``
(said to save 12% of the reactor in a login storm; ``scripts/bench --only storm`` could not tell it from the noise,
and a micro-benchmark found 11 us per connection with or without it).
"""

import struct

from OpenSSL.SSL import Error, WantReadError
from twisted.conch.ssh import filetransfer, userauth
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.web import http

#: The Twisted release these overrides were written and checked against.
WRITTEN_AGAINST = "26.10.0"


class BoundedFileTransferServer(filetransfer.FileTransferServer):
    """Conch's SFTP server with a bound on the packet size and an answer to every request.

    Overrides ``FileTransferBase.dataReceived`` (it copies its framing loop) because Conch's loop
      - buffers any declared packet length: a client that announces a 4 GiB packet makes the server keep everything
        it sends (no limit exists in Conch); here a packet over ``max_packet_bytes`` closes the connection, as
        OpenSSH's sftp-server does at 256 KiB;
      - sends no answer when a ``packet_*`` handler raises, or when the packet type is unknown: the client waits for
        ever on that request id; here it gets ``SSH_FX_FAILURE`` / ``SSH_FX_OP_UNSUPPORTED``;
      - logs an info event per request ("dispatching: WRITE"): 18% of the CPU of an upload when profiled
        (TESTING.md), filtered by the observer but still built; here nothing is logged per request;
      - keeps the buffer as ``bytes`` and re-slices it per packet (the packet and the rest of the buffer copied); here
        a ``bytearray`` cut in place, one copy per packet.
    Tests: test_twisted_overrides.py (``test_sftp_*``) show each difference against Conch's own server.
    """

    max_packet_bytes = 256 * 1024

    def __init__(self, data=None, avatar=None):
        super().__init__(data, avatar)
        self._incoming = bytearray()

    def send_status(self, request_id, code, message):
        """Answer ``request_id`` with an ``SSH_FXP_STATUS`` (Conch's ``_sendStatus``)."""
        self._sendStatus(request_id, code, message)

    def on_oversized_packet(self, length):
        """Called before the connection is closed for a packet over ``max_packet_bytes``."""

    def on_request_failure(self, name):
        """Called (inside the ``except``) when the ``packet_<name>`` handler raised; the client gets FX_FAILURE."""

    def dataReceived(self, data):
        buf = self._incoming
        buf += data
        while len(buf) >= 9:
            length, kind = struct.unpack_from("!LB", buf)
            if length > self.max_packet_bytes:
                self.on_oversized_packet(length)
                del buf[:]
                self.transport.loseConnection()
                return
            if len(buf) < 4 + length:
                return
            with memoryview(buf) as view:
                packet = bytes(view[5:4 + length])  # one copy (a bytearray slice would be a second)
            del buf[:4 + length]
            name = self.packetTypes.get(kind)
            handler = getattr(self, f"packet_{name}", None) if name else None
            if handler is None:
                self.send_status(packet[:4], filetransfer.FX_OP_UNSUPPORTED, b"not supported")
                continue
            try:
                handler(packet)
            except Exception:
                self.on_request_failure(name)
                self.send_status(packet[:4], filetransfer.FX_FAILURE, b"bad request")


class AdmittingUserAuthServer(userauth.SSHUserAuthServer):
    """Conch's ``ssh-userauth`` service with a last say between a successful login and ``USERAUTH_SUCCESS``.

    Overrides ``SSHUserAuthServer._cbFinishedAuth`` (the callback every successful authentication method goes
    through; it sets the avatar, sends ``USERAUTH_SUCCESS`` and starts the next service): :meth:`admit` may refuse the
    avatar (the per-unit session limit: the unit is known only once the login succeeded) and disconnect instead. Conch
    has no public hook there: the realm does not see the transport, and the next service starts after
    ``USERAUTH_SUCCESS`` has been sent. Tests: test_sftp's session-limit tests and
    test_twisted_overrides.py's ``test_userauth_*``.
    """

    def admit(self, avatar, logout):
        """True to finish the login; False if this method has already refused it (and disconnected)."""
        return True

    def _cbFinishedAuth(self, result):
        _, avatar, logout = result
        if not self.admit(avatar, logout):
            return None
        return super()._cbFinishedAuth(result)


class CoalescingTLSMemoryBIOProtocol(TLSMemoryBIOProtocol):
    """Twisted's memory-BIO TLS protocol, handing the application all the plaintext of one socket read at once.

    Overrides ``TLSMemoryBIOProtocol._flushReceiveBIO`` (it copies its receive loop): Twisted calls the wrapped
    protocol's ``dataReceived`` once per ``recv`` of at most 32 KiB, in practice once per TLS record (16 KiB), so a
    1 GiB upload makes some 65,000 trips through ``HTTPChannel.dataReceived``, the line/body parser and the request.
    Here every record decrypted from one socket read is joined and delivered in one call. Errors (including the
    peer's close_notify) are left to Twisted's own loop, which meets the same error again and shuts down as it
    always does. Measured with ``scripts/bench --only https``: figures in docs/twisted-upstream.md.
    """

    #: Largest plaintext of one TLS record: what one ``recv`` returns at most.
    record_bytes = 16 * 1024

    def _flushReceiveBIO(self):
        received = []
        failed = False
        while not self._lostTLSConnection:
            try:
                received.append(self._tlsConnection.recv(self.record_bytes))
            except WantReadError:
                break
            except Error:  # also ZeroReturnError: Twisted's own loop below handles it
                failed = True
                break
        if received and not self._aborted:
            ProtocolWrapper.dataReceived(self, received[0] if len(received) == 1 else b"".join(received))
        if failed:
            super()._flushReceiveBIO()  # meets the same error again and shuts down as Twisted does
        else:
            self._flushSendBIO()


class BadRequestAnsweringChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel with a say in the bare ``400 Bad Request`` it writes for a request it cannot read.

    Overrides ``HTTPChannel._respondToBadRequestAndDisconnect``: Twisted calls it for a malformed request line, a
    header without a colon or with a bad name or a NUL, a bad or repeated ``Content-Length``/``Transfer-Encoding``,
    bad chunked framing, too many headers or too many header bytes (``HTTPChannel``), and a multipart form it cannot
    parse (``Request.requestReceived``). It writes ``HTTP/1.1 400 Bad Request`` and nothing else (no headers at all:
    not the security headers every other answer of ours carries) and closes. Here it calls :meth:`answer_bad_request`,
    which does the same unless a subclass answers otherwise (``web.request.RequestLineChannel``: the security
    headers, a JSON body, a lingering close). Twisted has no public hook there. Tests: test_twisted_overrides.py
    ``test_http_bad_request_*``; test_web_site_unit.py ``RawAnswerTests``.
    """

    def answer_bad_request(self):
        """Answer a request Twisted could not read, and close. By default Twisted's own bare 400."""
        super()._respondToBadRequestAndDisconnect()

    def _respondToBadRequestAndDisconnect(self):
        self.answer_bad_request()
