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
(``web.channel.RequestLineChannel`` hands the request its request line), raw HTTP written to the transport
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

import collections
import itertools
import struct

from OpenSSL.SSL import RECEIVED_SHUTDOWN, SENT_SHUTDOWN, Error, WantReadError, ZeroReturnError
from twisted.conch.ssh import connection, filetransfer, transport, userauth
from twisted.conch.ssh.common import getNS
from twisted.internet import defer, error, tcp
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python import failure
from twisted.web import http
from zope.interface import directlyProvides, providedBy

from sendemodul.sftp import ciphers

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
        a ``bytearray`` cut in place, one copy per packet; a ``WRITE`` is parsed in the buffer and only its data
        copied, or not even that for a file that ``takes_pieces`` (:meth:`write_request`).
    Tests: test_twisted_overrides.py (``test_sftp_*``) show each difference against Conch's own server.

    Overrides ``FileTransferServer.packet_CLOSE`` too (it replaces Conch's ``_cbClose``): Conch forgets a handle only
    when its ``close()`` succeeds, so a handle whose close fails (an upload that intake refuses) stays in
    ``openFiles``, with everything it refers to, until the connection ends, although the client has closed it and
    can never use it again. Here a handle is forgotten as soon as the client closes it, whatever the close answers,
    as in OpenSSH's sftp-server; without that an open-handle limit would fill up with refused uploads.
    Tests: ``test_sftp_a_failed_close_*``.
    """

    max_packet_bytes = 256 * 1024

    def __init__(self, data=None, avatar=None):
        super().__init__(data, avatar)
        self._incoming = ByteQueue()
        self._wanted = 9  # bytes the next request needs before it can be looked at

    def send_status(self, request_id, code, message):
        """Answer ``request_id`` with an ``SSH_FXP_STATUS`` (Conch's ``_sendStatus``)."""
        self._sendStatus(request_id, code, message)

    def on_oversized_packet(self, length):
        """Called before the connection is closed for a packet over ``max_packet_bytes``."""

    def on_request_failure(self, name):
        """Called (inside the ``except``) when the ``packet_<name>`` handler raised; the client gets FX_FAILURE."""

    def packet_CLOSE(self, data):
        request_id = data[:4]
        handle, rest = getNS(data[4:])
        if rest:
            raise ValueError("trailing data in CLOSE")
        if handle in self.openFiles:
            closing = self.openFiles.pop(handle)
        elif handle in self.openDirs:
            closing = self.openDirs.pop(handle)[0]
        else:
            self.send_status(request_id, filetransfer.FX_NO_SUCH_FILE, b"No such handle")
            return
        d = defer.maybeDeferred(closing.close)
        d.addCallback(lambda _: self.send_status(request_id, filetransfer.FX_OK, b"file closed"))
        d.addErrback(self._ebStatus, request_id, b"close failed")

    def dataReceived(self, data):
        chunks = self._incoming
        chunks.append(data)
        if chunks.size < self._wanted:  # the request at the head is still incomplete (a WRITE comes in ~8 pieces)
            return
        while chunks.size >= 9:
            length, kind = chunks.unpack("!LB")
            if length > self.max_packet_bytes:
                self.on_oversized_packet(length)
                chunks.clear()
                self.transport.loseConnection()
                return
            if chunks.size < 4 + length:
                self._wanted = 4 + length
                return
            if kind == filetransfer.FXP_WRITE:
                write = self._take_write(chunks, length)
                if write is not None:
                    self.write_request(*write)
                    continue
            packet = chunks.take(4 + length)[5:]
            name = self.packetTypes.get(kind)
            handler = getattr(self, f"packet_{name}", None) if name else None
            if handler is None:
                self.send_status(packet[:4], filetransfer.FX_OP_UNSUPPORTED, b"not supported")
                continue
            try:
                handler(packet)
            except Exception:  # noqa: BLE001 - any failure of a handler answers that request, not kill the session
                self.on_request_failure(name)
                self.send_status(packet[:4], filetransfer.FX_FAILURE, b"bad request")
        self._wanted = 9

    @staticmethod
    def _take_write(chunks, length):
        """A whole ``SSH_FXP_WRITE`` of ``length`` bytes (after its length field) from ``chunks``: (request id,
        handle, offset, data), the data as the list of buffers it arrived in (not copied); None (nothing taken) if it
        is not well-formed."""
        if length < 13:
            return None
        (handle_length,) = chunks.unpack("!L", 9)
        head = 9 + 4 + handle_length + 12  # length, type, id, handle, offset, data length
        if handle_length > 256 or head > 4 + length:  # (OpenSSH's handles are 4 bytes, ours 8)
            return None
        header = chunks.peek(head)
        offset, data_length = struct.unpack_from("!QL", header, head - 12)
        if head + data_length != 4 + length:
            return None
        request_id, handle = bytes(header[5:9]), bytes(header[13 : 13 + handle_length])
        chunks.skip(head)
        return request_id, handle, offset, chunks.take_pieces(data_length)

    def packet_WRITE(self, data):
        self.write_request(*parse_write(memoryview(data)))

    def write_request(self, request_id, handle, offset, data):
        """``SSH_FXP_WRITE``, parsed (Conch's ``packet_WRITE`` cuts the data out of the request with four copies,
        here :func:`parse_write` makes one, and the fast path in :meth:`dataReceived` none: ``data`` is then a list
        of buffers, handed on as it is to a file whose ``takes_pieces`` is true and joined for any other; and for
        an unknown handle Conch calls a method that Conch 26.10 does not have, so the client got ``bad request``
        and our log a traceback). A ``writeChunk`` that answers at once (the
        drop box's queues the data and returns None) is answered without a Deferred and its callbacks (``py-spy``
        during ``scripts/bench --only sftp``: 5 % of the reactor went to the Deferred path of the 4,096 WRITEs of a
        GiB); one that returns a Deferred, or raises, is answered as Conch does (``_cbStatus``, ``_ebStatus``)."""
        file = self.openFiles.get(handle)
        if file is None:
            self.send_status(request_id, filetransfer.FX_FAILURE, b"No such handle")
            return
        if type(data) is list and not getattr(file, "takes_pieces", False):
            data = b"".join(data)
        try:
            result = file.writeChunk(offset, data)
        except Exception:  # noqa: BLE001 - every failure is the client's FX_* answer, as maybeDeferred made it
            self._ebStatus(failure.Failure(), request_id, b"write failed")
            return
        if isinstance(result, defer.Deferred):
            result.addCallback(self._cbStatus, request_id, b"write succeeded")
            result.addErrback(self._ebStatus, request_id, b"write failed")
        else:
            self.send_status(request_id, filetransfer.FX_OK, b"write succeeded")


def parse_write(request):
    """``SSH_FXP_WRITE`` from the request id on (a buffer) -> (request id, handle, offset, data), the data copied
    once; ValueError (or ``struct.error``) unless the request is exactly that."""
    (handle_length,) = struct.unpack_from("!L", request, 4)
    at = 8 + handle_length
    offset, data_length = struct.unpack_from("!QL", request, at)
    at += 12
    if at + data_length != len(request):
        raise ValueError("malformed SSH_FXP_WRITE")
    return bytes(request[:4]), bytes(request[8 : 8 + handle_length]), offset, bytes(request[at:])


class ByteQueue:
    """Bytes received and not yet taken, as the chunks they came in: :meth:`take` copies what it returns once (a
    chunk taken whole is not copied at all), where a growing ``bytearray`` copied every chunk in and again out, and
    again whenever ``realloc`` moved it (``perf``: a third of the memory copies of an SFTP upload)."""

    def __init__(self):
        self._chunks = collections.deque()
        self._pos = 0  # bytes of the first chunk already taken
        self.size = 0

    def append(self, data):
        if data:
            self._chunks.append(data)
            self.size += len(data)

    def clear(self):
        self._chunks.clear()
        self._pos = self.size = 0

    def peek(self, n):
        """The next ``n`` bytes (at least; ``n <= size``), not taken: the first chunk, joined with the next ones if
        it is shorter."""
        first = self._chunks[0]
        if len(first) - self._pos < n:
            first = b"".join((memoryview(first)[self._pos :], *self._pieces_after_first(n - len(first) + self._pos)))
            self._merge_first(first)
        return memoryview(first)[self._pos : self._pos + n]

    def _pieces_after_first(self, n):
        pieces, have = [], 0
        for chunk in itertools.islice(self._chunks, 1, None):
            pieces.append(chunk)
            have += len(chunk)
            if have >= n:
                break
        return pieces

    def _merge_first(self, joined):
        """Replace the chunks that ``joined`` is made of (from the current position) by ``joined``."""
        have = len(self._chunks[0]) - self._pos
        self._chunks.popleft()
        while have < len(joined):
            have += len(self._chunks.popleft())
        self._chunks.appendleft(joined)
        self._pos = 0

    def unpack(self, fmt, at=0):
        """``struct.unpack_from(fmt)`` at ``at`` bytes from the current position (not taken)."""
        first = self._chunks[0]
        end = self._pos + at + struct.calcsize(fmt)
        if end <= len(first):
            return struct.unpack_from(fmt, first, self._pos + at)
        return struct.unpack_from(fmt, self.peek(at + struct.calcsize(fmt)), at)

    def skip(self, n):
        self._advance(n)

    def take_pieces(self, n):
        """The next ``n`` bytes (``n <= size``), taken, as a list of the buffers they arrived in (views where a
        chunk is cut): nothing is copied."""
        pieces, have, pos = [], 0, self._pos
        for chunk in self._chunks:
            if have >= n:
                break
            if pos or len(chunk) > n - have:
                chunk = memoryview(chunk)[pos : pos + n - have]
            pos = 0
            pieces.append(chunk)
            have += len(chunk)
        self._advance(n)
        return pieces

    def take(self, n):
        """The next ``n`` bytes (``n <= size``) as ``bytes``, taken."""
        if not n:
            return b""
        first = self._chunks[0]
        pos = self._pos
        if pos == 0 and len(first) == n:
            out = first if type(first) is bytes else bytes(first)
        elif len(first) - pos >= n:
            out = first[pos : pos + n]
        else:
            pieces, have = [memoryview(first)[pos:]], len(first) - pos
            for chunk in itertools.islice(self._chunks, 1, None):
                if have + len(chunk) >= n:
                    pieces.append(memoryview(chunk)[: n - have])
                    break
                pieces.append(chunk)
                have += len(chunk)
            out = b"".join(pieces)
        self._advance(n)
        return bytes(out) if type(out) is not bytes else out

    def _advance(self, n):
        self.size -= n
        n += self._pos
        chunks = self._chunks
        while chunks and n >= len(chunks[0]):
            n -= len(chunks.popleft())
        self._pos = n


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
    Here every record decrypted from one socket read is joined and delivered in one call; then an error (the
    peer's close_notify, a bad record) ends the connection as Twisted's loop ends it. (Until 2026-12-08 that was left
    to Twisted's loop, which called ``recv`` again: after a fatal error OpenSSL then reports an EOF, so the
    application got ``ConnectionLost`` instead of the error.) Measured with ``scripts/bench --only https``: figures
    in docs/twisted-upstream.md.

    Also overrides ``TLSMemoryBIOProtocol.makeConnection`` for a server's connection: the same end state with less
    work per connection (:meth:`makeConnection`), and ``TLSMemoryBIOProtocol.dataReceived``: a large read goes into
    OpenSSL's memory BIO a piece at a time (:meth:`dataReceived`).
    """

    #: Largest plaintext of one TLS record: what one ``recv`` returns at most.
    record_bytes = 16 * 1024

    #: Most bytes written into OpenSSL's receive BIO at once (:meth:`dataReceived`).
    bio_write_bytes = 64 * 1024

    #: True: this side accepts connections (a server), so the handshake waits for the client's first bytes
    #: (:meth:`makeConnection`).
    accepting = True

    def makeConnection(self, transport):
        """``TLSMemoryBIOProtocol.makeConnection`` for the accepting side, ending in the same state with less work: a
        login storm makes a new connection every few milliseconds (docs/performance.md, the storm, round seven).

        Twisted's calls ``directlyProvides`` once per interface of the transport (each call replaces the last), then
        ``ProtocolWrapper.makeConnection``, which declares them all at once, and calls ``Protocol.makeConnection``
        and ``registerProtocol`` a second time; then ``do_handshake``, which on the accepting side can only raise
        ``WantReadError`` (there is no ClientHello yet) and write nothing. Here: the same declaration once, each
        call once, the wrapped protocol connected as ``ProtocolWrapper.makeConnection`` connects it, and the
        handshake started by the first bytes the client sends (``dataReceived`` runs ``_checkHandshakeStatus`` while
        ``_handshakeDone`` is false, as it does for every later read of the handshake). A connecting side, or one
        whose application is connected later (``_connectWrapped`` false), takes Twisted's own path.
        tests/test_twisted_overrides.py pins both Twisted methods and compares the end state with theirs."""
        if not (self.accepting and self._connectWrapped):
            super().makeConnection(transport)
            return
        self._tlsConnection = self.factory._creatorCallable(self)
        self._appSendBuffer = []
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    def connectionLost(self, reason):
        """Twisted's, without asking OpenSSL for data it can no longer give: once the TLS shutdown is complete both
        ways (our close_notify sent, the peer's received, or taken as received by ``web.busy``'s close without
        waiting), ``SSL_read`` answers ``ZERO_RETURN`` at once, and Twisted's ``connectionLost`` would meet it twice
        (here and in its own loop), then shut down again, flush an empty send buffer three times and close a
        transport that is already closed, only to set ``_lostTLSConnection``. Set here instead; ``_reason`` and the
        wrapped protocol's ``connectionLost`` are as they would have been. One connection of a storm each
        (docs/performance.md, the storm, round seven)."""
        if not self._lostTLSConnection and self._tlsConnection.get_shutdown() & _SHUT_BOTH == _SHUT_BOTH:
            self._lostTLSConnection = True
        super().connectionLost(reason)

    def dataReceived(self, data):
        """Twisted's, but a read larger than :attr:`bio_write_bytes` goes into the receive BIO in pieces of that size,
        each drained of its records before the next is written; the plaintext of the whole read still reaches the
        application in one call (:meth:`_deliver`), except in the read that finishes the handshake, whose pieces up
        to the client's Finished take Twisted's path (one call for those, one for the rest).

        OpenSSL's memory BIO never gives memory back: its buffer keeps the size of the largest write (and a third
        more) until the connection is freed. Written whole, every 256 KiB socket read (``web.tls.SOCKET_READ_BYTES``)
        left each HTTPS connection holding ~340 KiB, which a burst of 200 uploads kept all at once (about 55 MiB of
        the front's heap; issue 25, docs/performance.md, "The burst's memory"). In 64 KiB pieces it stays under ~110
        KiB (a piece, the part of a record cut at the last piece's end, a third more), for three more ``bio_write``
        calls and ``WantReadError`` exceptions per read. Until the handshake is done, each piece takes Twisted's own
        path, which meets the same states as the whole read would; after an error, the pieces left are not read, as
        Twisted reads no more once the connection is lost.
        tests/test_twisted_overrides.py checks the bytes, the single delivery, the pieces' sizes and the errors
        against Twisted's own protocol."""
        step = self.bio_write_bytes
        if len(data) <= step:
            super().dataReceived(data)
            return
        view = memoryview(data)
        pieces = collections.deque(view[start : start + step] for start in range(0, len(view), step))
        while pieces and not (self._handshakeDone or self._lostTLSConnection):
            super().dataReceived(pieces.popleft())
        if not pieces or self._lostTLSConnection:
            return
        self._tlsConnection.bio_write(pieces.popleft())
        if self._appSendBuffer:  # (after the first write, as Twisted retries them after its one write)
            self._unbufferPendingWrites()
        received = []
        failed = self._read_records(received)
        while pieces and failed is None and not self._lostTLSConnection:
            self._tlsConnection.bio_write(pieces.popleft())
            failed = self._read_records(received)
        self._deliver(received, failed)  # (what is left after an error is never read, as in Twisted's loop)

    def _read_records(self, received):
        """Append the plaintext of every whole record in the receive BIO to ``received``. Returns the ``Failure`` of
        anything OpenSSL raised but ``WantReadError`` (the peer's close_notify, a bad record), else None."""
        while not self._lostTLSConnection:
            try:
                received.append(self._tlsConnection.recv(self.record_bytes))
            except WantReadError:
                return None
            except Error:
                return failure.Failure()
        return None

    def _flushReceiveBIO(self):
        received = []
        self._deliver(received, self._read_records(received))

    def _deliver(self, received, failed):
        """The plaintext received, in one call; then, if OpenSSL raised ``failed``, the connection ended as Twisted's
        loop ends it: after a close_notify our own and the reason the transport gives, after anything else that
        failure as the reason."""
        if received and not self._aborted:
            ProtocolWrapper.dataReceived(self, received[0] if len(received) == 1 else b"".join(received))
        if failed is not None:
            if failed.check(ZeroReturnError):
                self._shutdownTLS()
                self._tlsShutdownFinished(None)
            else:
                self._tlsShutdownFinished(failed)
        self._flushSendBIO()


#: Both halves of a TLS shutdown done: our close_notify sent and the peer's received.
_SHUT_BOTH = SENT_SHUTDOWN | RECEIVED_SHUTDOWN


class PromptWriteServer(tcp.Server):
    """A TCP server connection that sends what its protocol wrote while handling a read right after that read, in the
    same reactor event, instead of registering for writability and sending in a later one; and that closes at once
    when the protocol lost the connection in that read with nothing left to send.

    Twisted's ``FileDescriptor.write`` only buffers and calls ``startWriting``; the send waits for the next
    ``epoll_wait`` to report the socket writable (it always is, with an empty buffer), so every answer costs an
    ``epoll_ctl`` to add the write interest, an ``epoll_wait``, a reactor dispatch (``callWithLogger`` and its log
    context), the send, and an ``epoll_ctl`` to drop the interest again; and ``loseConnection`` with an empty buffer
    does the same around a ``send`` of zero bytes before it closes. A refused login over HTTPS has three of these
    (the server's TLS flight, the answer, the close): 10 of its 31 syscalls and 3 of its 8 reactor events
    (docs/performance.md, the storm, round six).

    Overrides ``Connection.doRead`` and ``FileDescriptor.startWriting``, and reads ``dataBuffer``,
    ``_tempDataBuffer``, ``disconnecting``, ``_writeDisconnecting``, ``_aborting``, ``producer`` and calls
    ``doWrite``/``_postLoseConnection`` as ``FileDescriptor.doWrite`` does. Only when nothing was buffered before the
    read: while the protocol handles the read, ``startWriting`` is only noted; afterwards, buffered data is sent by
    Twisted's own ``doWrite`` (which joins the writes of that read into one send, as the next event would have), and
    what it could not send waits for writability as before; a lost connection with nothing to send is closed as the
    reactor closes it after ``doWrite`` (``posixbase._disconnectSelectable`` for a write: both interests dropped,
    ``connectionLost`` with the same reason). Anything else (a read that ends the connection, an abort, a producer
    that will write, a pending half-close) gets Twisted's own ``startWriting``. tests/test_twisted_overrides.py pins
    the Twisted code this leans on and checks the bytes, the close and the writability wait.
    """

    _noting_writes = False
    _write_noted = False

    #: Close the socket without a ``shutdown(SHUT_RDWR)`` first (``_SocketCloser._closeSocket``): one syscall less
    #: per connection. Twisted's own comment there says it "isn't really necessary": our sockets are close-on-exec,
    #: so this process holds the only descriptor and ``close`` ends the TCP connection: a FIN, or, when received
    #: data is left unread, a reset (which ``shutdown`` first would only have preceded with a FIN). nginx closes so.
    _shouldShutdown = False

    def startWriting(self):
        if self._noting_writes:
            self._write_noted = True
            return
        super().startWriting()

    def doRead(self):
        if self.dataBuffer or self._tempDataBuffer or self.disconnecting:
            return super().doRead()  # a send is already waiting for writability: Twisted's path
        self._noting_writes = True
        try:
            why = super().doRead()
        finally:
            self._noting_writes = False
        if not self._write_noted:
            return why
        self._write_noted = False
        if why is not None or self._aborting or not self.connected:
            super().startWriting()  # as Twisted would have left it (an abort has dropped its doWrite)
            return why
        if self._tempDataBuffer:
            why = self.doWrite()
            if why is None and (self.dataBuffer or self._tempDataBuffer):
                super().startWriting()  # the rest when the socket can take it
        elif self.disconnecting and self.producer is None:
            why = self._postLoseConnection()
        else:
            super().startWriting()
        if why is not None:
            self.reactor.removeReader(self)
            self.reactor.removeWriter(self)
            self.connectionLost(_CLOSED.get(type(why)) or failure.Failure(why))
        return None


#: The reasons the reactor gives ``connectionLost`` after a write (``posixbase._disconnectSelectable``'s).
_CLOSED = {
    error.ConnectionDone: failure.Failure(error.ConnectionDone()),
    error.ConnectionLost: failure.Failure(error.ConnectionLost()),
}


class PromptWritePort(tcp.Port):
    """Twisted's TCP port, with :class:`PromptWriteServer` connections (``Port.transport`` is the class it makes)."""

    transport = PromptWriteServer


# ---- SSH packets: AEAD and encrypt-then-MAC, strict key exchange, server-sig-algs (issue 23) ----
# Conch's SSH transport bent to speak AEAD and encrypt-then-MAC packets, with strict key exchange, and to advertise
# the user-key signature algorithms we accept (issue 23).
#
# What it changes in Twisted Conch 26.10 (``twisted/conch/ssh/transport.py``), and the names it leans on:
#
# - After ``ssh_KEXINIT`` has negotiated, ``nextEncryptions`` (a ``SSHCiphers``) is replaced by a
#   :class:`PacketCiphers`: an ``SSHCiphers`` whose ``setKeys`` builds a :mod:`sendemodul.sftp.ciphers` sealer/opener
#   for each direction that uses an AEAD cipher or an EtM MAC, and lets Conch set up any other direction as before
#   (it reads ``outCipType``/``inCipType``/``outMACType``/``inMACType`` and the six ``setKeys`` arguments that
#   ``SSHTransportBase._keySetup`` passes: IV, key and integrity key per direction from ``_getKey``, 4 hash outputs
#   long, enough for chacha20-poly1305's 64 bytes).
# - ``getPacket``/``sendPacket``: when ``currentEncryptions`` has an opener/sealer for that direction, the packet is
#   framed here; otherwise Conch's (or our faster) code runs. Leans on ``buf``, ``incomingPacketSequence``,
#   ``outgoingPacketSequence``, ``incomingCompression``/``outgoingCompression``, and to leave the queueing of
#   messages during a key exchange to Conch: ``_keyExchangeState``, ``_KEY_EXCHANGE_NONE``,
#   ``_allowedKeyExchangeMessageType``.
# - Strict key exchange (``kex-strict-s-v00@openssh.com``, OpenSSH PROTOCOL 1.10, the Terrapin countermeasure that
#   draft-ietf-sshm-chacha20-poly1305 makes a MUST): offered in the first KEXINIT (``sendKexInit`` reads
#   ``supportedKeyExchanges``); if the client offers ``kex-strict-c-v00@openssh.com`` its KEXINIT must be its first
#   packet, nothing but key-exchange messages may come before its first NEWKEYS (``dispatchMessage``), and each
#   direction's sequence number restarts at 0 after each NEWKEYS (``sendPacket`` of ``MSG_NEWKEYS``,
#   ``ssh_NEWKEYS``). Leans on ``sessionID`` being None until the first key exchange completes.
# - ``sendExtInfo``: ``server-sig-algs`` names the user-key signature algorithms we verify, not our host-key types
#   (Conch sends ``supportedPublicKeys``, i.e. ``ssh-ed25519`` only here, and OpenSSH and paramiko then find "no
#   mutual signature algorithm" for an RSA key).
#
# ``tests/test_ssh_ciphers.py`` fails when one of these names changes.

log = Logger()

KEX_STRICT_SERVER = b"kex-strict-s-v00@openssh.com"
KEX_STRICT_CLIENT = b"kex-strict-c-v00@openssh.com"

#: Offered first, in OpenSSH's order; Conch's aes-ctr follow (sftp/server.py's list).
OFFERED_AEAD_CIPHERS = (ciphers.CHACHA20_POLY1305, ciphers.AES128_GCM, ciphers.AES256_GCM)
OFFERED_ETM_MACS = (ciphers.HMAC_SHA2_256_ETM, ciphers.HMAC_SHA2_512_ETM)

#: The user-key signature algorithms in ``server-sig-algs`` (ssh-rsa, RSA with SHA-1, is left out as OpenSSH >= 8.8
#: does; sendemodul/sftp/checker.py refuses it unless configured).
SERVER_SIG_ALGS = (
    b"ssh-ed25519",
    b"ecdsa-sha2-nistp256",
    b"ecdsa-sha2-nistp384",
    b"ecdsa-sha2-nistp521",
    b"rsa-sha2-512",
    b"rsa-sha2-256",
)

_TWO_UINT32 = struct.Struct(">2L")

#: Messages a strict key exchange lets through before the first NEWKEYS: DISCONNECT, KEXINIT, NEWKEYS, 30-49.
_KEX_MESSAGES = frozenset((transport.MSG_DISCONNECT, transport.MSG_KEXINIT, transport.MSG_NEWKEYS, *range(30, 50)))


class PacketCiphers(transport.SSHCiphers):
    """Conch's ``SSHCiphers`` plus, per direction, a sealer (out) or opener (in) for AEAD and EtM packets."""

    sealer = None
    opener = None

    def setKeys(self, outIV, outKey, inIV, inKey, outInteg, inInteg):
        names = (self.outCipType, self.inCipType, self.outMACType, self.inMACType)
        if ciphers.is_ours(self.outCipType, self.outMACType):
            self.sealer = ciphers.sealer(self.outCipType, self.outMACType, outIV, outKey, outInteg)
            self.outCipType = self.outMACType = b"none"  # Conch sets up nothing for this direction
        if ciphers.is_ours(self.inCipType, self.inMACType):
            self.opener = ciphers.opener(self.inCipType, self.inMACType, inIV, inKey, inInteg)
            self.inCipType = self.inMACType = b"none"
        try:
            super().setKeys(outIV, outKey, inIV, inKey, outInteg, inInteg)
        finally:
            self.outCipType, self.inCipType, self.outMACType, self.inMACType = names
        if self.sealer is not None:
            self.encBlockSize = self.sealer.block_size
        if self.opener is not None:
            self.decBlockSize = self.opener.block_size
            self.verifyDigestSize = 0


def _first_common(client, server):
    """RFC 4253 7.1: the first of the client's algorithms that the server also supports."""
    return next((name for name in client if name in server), None)


def mac_shown(cipher, mac):
    """The MAC as OpenSSH's logs show it: ``<implicit>`` with an AEAD cipher."""
    return "<implicit>" if cipher in ciphers.AEAD_CIPHERS else mac.decode("ascii", "replace")


class AEADTransportMixin:
    """Mix in before an ``SSHServerTransport`` subclass (see the module docstring for what it changes)."""

    strict_kex = False
    _refused = False
    _macs_offered = None
    _first_kexinit_seen = False
    _first_newkeys_seen = False

    # -- strict key exchange, and our packet layouts negotiated ------------------------------------------------
    def sendKexInit(self):
        kex, macs = self.supportedKeyExchanges, self.supportedMACs
        if self.sessionID is None:  # the marker belongs to the first key exchange only
            self.supportedKeyExchanges = [*kex, KEX_STRICT_SERVER]
        if self._macs_offered is not None:  # answering in the middle of ssh_KEXINIT: offer only our own MACs
            self.supportedMACs = self._macs_offered
        try:
            super().sendKexInit()
        finally:
            self.supportedKeyExchanges, self.supportedMACs = kex, macs

    def ssh_KEXINIT(self, packet):
        try:
            lists = [names.split(b",") for names in getNS(packet[16:], 10)[:10]]
        except Exception:  # noqa: BLE001 - any malformed KEXINIT is left for Conch to refuse
            lists = None  # Conch refuses it
        if not self._first_kexinit_seen:
            self._first_kexinit_seen = True
            self.strict_kex = lists is not None and KEX_STRICT_CLIENT in lists[0]
            if self.strict_kex and self.incomingPacketSequence != 1:
                self._refuse(ciphers.PacketError(b"strict KEX violation: KEXINIT was not the first packet"))
                return
        # With an AEAD cipher both ways the MAC lists are ignored (RFC 5647 as OpenSSH does it, and the chacha20
        # draft): Conch insists on a common MAC, so for this negotiation any MAC the client names will do.
        macs = self._macs_offered = self.supportedMACs
        if lists is not None and all(
            _first_common(lists[i], self.supportedCiphers) in ciphers.AEAD_CIPHERS for i in (2, 3)
        ):
            self.supportedMACs = [*macs, *lists[4], *lists[5]]
        try:
            super().ssh_KEXINIT(packet)  # may answer with our KEXINIT (a re-key the client began)
        finally:
            self.supportedMACs = macs
            self._macs_offered = None
        negotiated = self.__dict__.get("nextEncryptions")
        if negotiated is not None and not isinstance(negotiated, PacketCiphers):
            self.nextEncryptions = PacketCiphers(
                negotiated.outCipType, negotiated.inCipType, negotiated.outMACType, negotiated.inMACType
            )

    def dispatchMessage(self, messageNum, payload):
        if self.strict_kex and not self._first_newkeys_seen and messageNum not in _KEX_MESSAGES:
            self._refuse(ciphers.PacketError(b"strict KEX violation: message %d before the first NEWKEYS" % messageNum))
            return
        super().dispatchMessage(messageNum, payload)

    def ssh_NEWKEYS(self, packet):
        super().ssh_NEWKEYS(packet)
        if packet != b"":  # refused by Conch: keys unchanged
            return
        if self.strict_kex:
            self.incomingPacketSequence = 0
        first, self._first_newkeys_seen = not self._first_newkeys_seen, True
        enc = self.currentEncryptions
        log.info(
            "SSH {what}: kex {kex}, host key {host_alg}, cipher {cipher_in} (in) {cipher_out} (out), "
            "MAC {mac_in} (in) {mac_out} (out), strict kex {strict}",
            what="keys in use" if first else "keys renewed",
            kex=self.kexAlg.decode("ascii", "replace"),
            host_alg=self.keyAlg.decode("ascii", "replace"),
            cipher_in=enc.inCipType.decode("ascii", "replace"),
            cipher_out=enc.outCipType.decode("ascii", "replace"),
            mac_in=mac_shown(enc.inCipType, enc.inMACType),
            mac_out=mac_shown(enc.outCipType, enc.outMACType),
            strict="yes" if self.strict_kex else "no",
        )

    # -- the packets -------------------------------------------------------------------------------------------
    def sendPacket(self, messageType, payload):
        sealer = getattr(self.currentEncryptions, "sealer", None)
        if sealer is None or (
            self._keyExchangeState != self._KEY_EXCHANGE_NONE and not self._allowedKeyExchangeMessageType(messageType)
        ):
            super().sendPacket(messageType, payload)  # Conch's framing, or its queue during a key exchange
        else:
            data = bytes((messageType,)) + payload
            if self.outgoingCompression:
                data = self.outgoingCompression.compress(data) + self.outgoingCompression.flush(2)
            self.transport.write(sealer.seal(self.outgoingPacketSequence & 0xFFFFFFFF, data))
            self.outgoingPacketSequence += 1
        if messageType == transport.MSG_NEWKEYS and self.strict_kex:
            self.outgoingPacketSequence = 0

    def dataReceived(self, data):
        """With our packet layout in, the packets of one read are opened and dispatched here (Conch's loop and
        ``getPacket`` otherwise), without copying the read: each packet is opened where it lies in ``data``; only a
        packet cut by the end of a read is kept (in ``buf``) and joined with the start of the next read. Each
        payload is the opener's own output (never copied here), and ``CHANNEL_DATA`` goes straight to the
        connection's ``channel_data`` (:class:`DataConnection`) as a slice of it, a ``memoryview`` (the SFTP
        server's :class:`ByteQueue` copies each request out once, but a WRITE's data for a file that
        ``takes_pieces``: :meth:`BoundedFileTransferServer.write_request`). Conch's loop copies everything still
        waiting on every read (``self.buf = self.buf + data``), then the payload (``packet[1:]``), and
        ``ssh_CHANNEL_DATA`` twice more; with OpenSSH's 32 KiB packets, memory copies were a fifth of the
        reactor's CPU (``perf``, ``scripts/bench --only sftp``)."""
        opener = getattr(self.currentEncryptions, "opener", None)
        if opener is None or self._refused:
            super().dataReceived(data)
            return
        self.packets_arriving()
        rest, self.buf = self.buf, b""
        if rest:  # the start of a packet, kept from the last read
            try:
                size = opener.packet_size(self.incomingPacketSequence & 0xFFFFFFFF, rest)
            except ciphers.PacketError as e:
                self._refuse(e)
                return
            if size is None or len(rest) >= size:  # (fewer than 4 bytes; or whole packets left at new keys)
                data = bytes(rest) + data
            elif len(rest) + len(data) < size:
                self.buf = bytes(rest) + data
                return
            else:
                need = size - len(rest)
                with memoryview(data) as view:
                    first = b"".join((rest, view[:need]))
                if not self._open_packets(opener, first):
                    return
                data = memoryview(data)[need:]
        self._open_packets(opener, data)

    def _open_packets(self, opener, data):
        """Open and dispatch the packets in ``data``; keep a packet cut at its end in ``buf``. False once the
        connection is closing or the keys are no longer ours (Conch then took what was left)."""
        pos, end = 0, len(data)
        with memoryview(data) as view:
            while pos < end:
                if opener is not getattr(self.currentEncryptions, "opener", None):  # new keys (after NEWKEYS)
                    self.buf = bytes(view[pos:])
                    self.dataReceived(b"")  # the rest under the new keys, here or in Conch's loop
                    return False
                try:
                    got = opener.open_view(self.incomingPacketSequence & 0xFFFFFFFF, view[pos:])
                except ciphers.PacketError as e:
                    self._refuse(e)
                    return False
                if got is None:
                    self.buf = bytes(view[pos:])  # a packet cut by the end of the read
                    return True
                payload, used = got
                pos += used
                self.incomingPacketSequence += 1
                if self.incomingCompression:
                    payload = self._decompressed(payload)
                    if payload is None:
                        return False
                if not payload:  # (only a decompressor gives an empty payload; Conch's loop stops there too)
                    self.buf = bytes(view[pos:])
                    return False
                message = payload[0]
                if message == connection.MSG_CHANNEL_DATA and len(payload) >= 9:
                    channel_data = getattr(self.service, "channel_data", None)
                    local, length = _TWO_UINT32.unpack_from(payload, 1)
                    if channel_data is not None and len(payload) == 9 + length:
                        channel_data(local, length, payload[9:])  # (the opener's own bytes: no copy)
                        if self._refused:
                            return False
                        continue
                self.dispatchMessage(message, bytes(payload[1:]))
                if self._refused:
                    return False
        return True

    def packets_arriving(self):
        """Called once per read that :meth:`dataReceived` handles itself, before its packets (a subclass's hook:
        Conch's ``dataReceived``, which a subclass may extend, is not called then)."""

    def _decompressed(self, payload):
        try:
            return self.incomingCompression.decompress(bytes(payload))
        except Exception:  # noqa: BLE001 - any decompressor failure is a compression error to the peer
            self._refuse(ciphers.PacketError(b"compression error", transport.DISCONNECT_COMPRESSION_ERROR))
            return None

    def getPacket(self):
        if self._refused:  # closing: whatever else arrives is dropped
            self.buf = b""
            return None
        opener = getattr(self.currentEncryptions, "opener", None)
        if opener is None:
            return super().getPacket()
        try:
            got = opener.open(self.incomingPacketSequence & 0xFFFFFFFF, self.buf)
        except ciphers.PacketError as e:
            self._refuse(e)
            return None
        if got is None:
            return None
        payload, used = got
        self.buf = self.buf[used:]
        if self.incomingCompression:
            payload = self._decompressed(payload)
            if payload is None:
                return None
        self.incomingPacketSequence += 1
        return payload

    def _refuse(self, error):
        """Close the connection over a refused packet, saying why in our log (no packet content)."""
        log.info("SSH packet refused, connection closed: {reason}", reason=error.reason.decode("ascii", "replace"))
        self.buf = b""
        self._refused = True
        self.sendDisconnect(error.code, error.reason)

    # -- user-key signature algorithms ---------------------------------------------------------------------------
    def sendExtInfo(self, extensions):
        extensions = [
            (name, b",".join(SERVER_SIG_ALGS) if name == b"server-sig-algs" else value) for name, value in extensions
        ]
        super().sendExtInfo(extensions)


class DataConnection(connection.SSHConnection):
    """Conch's ``ssh-connection`` service with the handling of ``CHANNEL_DATA`` callable with the message already
    parsed (:meth:`channel_data`), so that :meth:`AEADTransportMixin.dataReceived` hands over just the data.

    Overrides ``SSHConnection.ssh_CHANNEL_DATA`` (it copies its body into :meth:`channel_data`: the checks against
    the window and the packet size, the window adjustment, then the channel's ``dataReceived``). Conch cuts the
    data out of the message with two copies (``packet[4:]``, then ``getNS``); the transport's fast path makes none (the
    data is a ``memoryview`` over the decrypted packet, which nothing else holds).
    Tests: test_twisted_overrides.py ``test_ssh_channel_data_*``.
    """

    def ssh_CHANNEL_DATA(self, packet):
        local_channel, data_length = _TWO_UINT32.unpack(packet[:8])
        self.channel_data(local_channel, data_length, getNS(packet[4:])[0])

    def channel_data(self, local_channel, data_length, data):
        """``CHANNEL_DATA`` for ``local_channel``: ``data_length`` as the message declares it, ``data`` as cut."""
        channel = self.channels[local_channel]
        if data_length > channel.localWindowLeft or data_length > channel.localMaxPacket:  # more than we want
            self._log.error("too much data")
            self.sendClose(channel)
            return
        channel.localWindowLeft -= data_length
        if channel.localWindowLeft < channel.localWindowSize // 2:
            self.adjustWindow(channel, channel.localWindowSize - channel.localWindowLeft)
        channel.dataReceived(data)


class BadRequestAnsweringChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel with a say in the bare ``400 Bad Request`` it writes for a request it cannot read.

    Overrides ``HTTPChannel._respondToBadRequestAndDisconnect``: Twisted calls it for a malformed request line, a
    header without a colon or with a bad name or a NUL, a bad or repeated ``Content-Length``/``Transfer-Encoding``,
    bad chunked framing, too many headers or too many header bytes (``HTTPChannel``), and a multipart form it cannot
    parse (``Request.requestReceived``). It writes ``HTTP/1.1 400 Bad Request`` and nothing else (no headers at all:
    not the security headers every other answer of ours carries) and closes. Here it calls :meth:`answer_bad_request`,
    which does the same unless a subclass answers otherwise (``web.channel.RequestLineChannel``: the security
    headers, a JSON body, a lingering close). Twisted has no public hook there. Tests: test_twisted_overrides.py
    ``test_http_bad_request_*``; test_web_site_unit.py ``RawAnswerTests``.
    """

    def answer_bad_request(self):
        """Answer a request Twisted could not read, and close. By default Twisted's own bare 400."""
        super()._respondToBadRequestAndDisconnect()

    def _respondToBadRequestAndDisconnect(self):
        self.answer_bad_request()


# --- the HTTPS front's answers written outside the Request's header machinery (issue 25, the storm) -------------


def finish_written(request):
    """Finish a twisted.web ``Request`` whose whole answer (status line, headers, body, and the last chunk if
    chunked) was written to its channel already: the access log, the channel's ``requestDone`` (the close, or the
    next request on a keep-alive connection) and the notifications, as ``Request.finish`` does them.

    Sets ``Request.startedWriting`` (an attribute without an underscore, but no public API: Twisted sets it when
    ``Request.write`` writes the headers), so that ``finish`` does not write headers again; ``chunked`` stays 0, so
    it writes no last chunk. Used by ``web.site.SecureRequest.refused_at_once`` for the 503 of a storm's login,
    whose head is made once per language rather than header by header. Tests: test_twisted_overrides.py
    ``test_request_finish_*``; test_web_site_unit.py compares the bytes with the ordinary path's."""
    request.startedWriting = 1
    request.finish()
