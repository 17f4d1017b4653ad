"""The Twisted internals sendemodul leans on (sendemodul/_twisted.py and the few public-but-undocumented behaviours
elsewhere): each test fails when a Twisted release changes what an override was written against.

When one fails after a Twisted upgrade: read the new upstream code named in the message, re-check the override in
sendemodul/_twisted.py (and docs/twisted-upstream.md: the change may have landed upstream, and the override can go),
then update the pinned hash here.
"""

import hashlib
import inspect
import os
import pathlib
import re
import struct

import pytest
import twisted
from twisted.conch.interfaces import ISFTPFile, ISFTPServer
from twisted.conch.ssh import connection, filetransfer, userauth
from twisted.conch.ssh.common import NS
from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.protocols import tls
from twisted.protocols.policies import ProtocolWrapper
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import http
from zope.interface import implementer, providedBy

from sendemodul import _twisted, logs
from sendemodul.sftp import server as sftp_server
from sendemodul.web.request import RequestLineChannel


def source_hash(function):
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def assert_pinned(function, pinned, what):
    """``function``'s source is still the one ``what`` was written against."""
    actual = source_hash(function)
    assert actual == pinned, (
        f"Twisted {twisted.__version__} changed {function.__module__}.{function.__qualname__} (source hash {actual}, "
        f"pinned {pinned} against Twisted {_twisted.WRITTEN_AGAINST}). Re-check {what} against the new code, "
        f"then update the pinned hash in tests/test_twisted_overrides.py."
    )


def _private_names_defined_in(paths):
    """Names with one leading underscore that sendemodul itself defines (functions, classes, attributes)."""
    names = set()
    for path in paths:
        text = path.read_text()
        names |= set(re.findall(r"\b(?:def|class) (_[A-Za-z]\w*)", text))
        names |= set(re.findall(r"import [^\n]*?\b(_[A-Za-z]\w*)", text))
        for line in text.splitlines():
            target, equals, _ = line.partition("=")
            if equals and not line[len(target) + 1 :].startswith("=") and not target.rstrip().endswith(("!", "<", ">")):
                names |= set(re.findall(r"(?:^|[\s.,(])(_[A-Za-z]\w*)", target))
    return names


def test_private_twisted_names_are_used_only_in_the_overrides_module():
    """Outside sendemodul/_twisted.py, every ``._name`` is one sendemodul defines itself: nothing reaches into a
    private attribute of Twisted (or of any other library)."""
    package = pathlib.Path(_twisted.__file__).parent
    files = [p for p in package.rglob("*.py") if p.name != "_twisted.py"]
    ours = _private_names_defined_in(files) | {"_twisted"}
    found = [
        f"{path.relative_to(package.parent)}:{number}: {name}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for name in re.findall(r"\.(_[A-Za-z]\w*)", line)
        if name not in ours
    ]
    assert found == [], (
        "private names of other code outside sendemodul/_twisted.py (move the override there):\n" + "\n".join(found)
    )


# -- BoundedFileTransferServer: FileTransferBase.dataReceived copied, _sendStatus used --------------------------------


def test_sftp_framing_loop_is_the_one_the_override_copies():
    assert_pinned(
        filetransfer.FileTransferBase.dataReceived,
        "3b8c12e664c21c7a",
        "BoundedFileTransferServer.dataReceived (its framing: 4-byte length, kind, request id; "
        "packet_<NAME> handlers given the packet from the request id on)",
    )


def test_sftp_send_status_is_private_with_the_signature_used():
    assert (
        str(inspect.signature(filetransfer.FileTransferServer._sendStatus))
        == "(self, requestId, code, message, lang=b'')"
    ), "re-check BoundedFileTransferServer.send_status"


def test_sftp_server_adapts_an_isftpserver_avatar_to_itself():
    """DropBoxTransferServer passes the drop box as the avatar: Conch must adapt it with ISFTPServer (to itself)."""
    assert str(inspect.signature(filetransfer.FileTransferServer.__init__)) == "(self, data=None, avatar=None)"
    box = sftp_server.DropBox("0301", intake=None, store=None, run_db=None)
    assert sftp_server.DropBoxTransferServer(box).client is box


@implementer(ISFTPServer)
class _Box:
    """An ISFTPServer stand-in (the requests used here never reach it)."""

    def gotVersion(self, version, extensions):
        return {}

    def openFile(self, *args):
        raise AssertionError("not called")


def _connected(server_class):
    proto = server_class(avatar=_Box())
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def _packet(kind, request_id, payload=b""):
    data = struct.pack("!BL", kind, request_id) + payload
    return struct.pack("!L", len(data)) + data


def _statuses(data):
    """(request id, code) of every FXP_STATUS in ``data``."""
    found = []
    while data:
        length, kind = struct.unpack("!LB", data[:5])
        if kind == filetransfer.FXP_STATUS:
            found.append(struct.unpack("!LL", data[5:13]))
        data = data[4 + length :]
    return found


class BoundedFileTransferServerTests(SynchronousTestCase):
    """What the override fixes, shown against Conch's own FileTransferServer (so that the day Conch fixes it, these
    tests say so and the override can go)."""

    def test_sftp_an_oversized_packet_closes_the_connection(self):
        ours, transport = _connected(_twisted.BoundedFileTransferServer)
        ours.dataReceived(struct.pack("!LBL", 2**31, filetransfer.FXP_WRITE, 1) + b"x" * 1000)
        self.assertTrue(transport.disconnecting)

        conch, transport = _connected(filetransfer.FileTransferServer)
        conch.dataReceived(struct.pack("!LBL", 2**31, filetransfer.FXP_WRITE, 1) + b"x" * 1000)
        self.assertFalse(transport.disconnecting, "Conch now bounds SFTP packets: BoundedFileTransferServer may go")

    def test_sftp_an_unknown_request_is_answered_op_unsupported(self):
        ours, transport = _connected(_twisted.BoundedFileTransferServer)
        ours.dataReceived(_packet(250, 7))
        self.assertEqual(_statuses(transport.value()), [(7, filetransfer.FX_OP_UNSUPPORTED)])

        conch, transport = _connected(filetransfer.FileTransferServer)
        conch.dataReceived(_packet(250, 7))
        self.assertEqual(transport.value(), b"", "Conch now answers unknown requests: re-check the override")

    def test_sftp_a_failing_handler_is_answered_failure(self):
        bad_open = NS(b"name") + struct.pack("!L", 0)  # no attributes: Conch's parser raises
        ours, transport = _connected(_twisted.BoundedFileTransferServer)
        self.patch(_twisted.BoundedFileTransferServer, "on_request_failure", lambda self, name: None)
        ours.dataReceived(_packet(filetransfer.FXP_OPEN, 9, bad_open))
        self.assertEqual(_statuses(transport.value()), [(9, filetransfer.FX_FAILURE)])

        conch, transport = _connected(filetransfer.FileTransferServer)
        conch.dataReceived(_packet(filetransfer.FXP_OPEN, 9, bad_open))
        self.flushLoggedErrors()
        self.assertEqual(transport.value(), b"", "Conch now answers a failed request: re-check the override")

    def test_sftp_requests_split_and_joined_across_reads_are_all_answered(self):
        ours, transport = _connected(_twisted.BoundedFileTransferServer)
        data = b"".join(_packet(250, n) for n in range(5))
        for i in range(0, len(data), 7):
            ours.dataReceived(data[i : i + 7])
        self.assertEqual([n for n, _ in _statuses(transport.value())], list(range(5)))


def test_sftp_write_is_the_one_the_override_replaces():
    assert_pinned(
        filetransfer.FileTransferServer.packet_WRITE,
        "8124179b48ee5d1e",
        "BoundedFileTransferServer.write_request (its status answers; the unknown-handle branch)",
    )
    assert not hasattr(filetransfer.FileTransferServer, "_ebWrite"), "Conch has _ebWrite now: re-check write_request"


class _WriteBox(_Box):
    def __init__(self):
        self.written = []

    def openFile(self, filename, flags, attrs):
        box = self

        @implementer(ISFTPFile)
        class File:
            def writeChunk(self, offset, data):
                box.written.append((offset, data))

            def close(self):
                pass

        return File()


def _open_handle(proto, transport):
    proto.dataReceived(_packet(filetransfer.FXP_OPEN, 1, NS(b"f") + struct.pack("!LL", 0x1A, 0)))
    length, kind, _ = struct.unpack("!LBL", transport.value()[:9])
    assert kind == filetransfer.FXP_HANDLE
    handle = transport.value()[13 : 4 + length]
    transport.clear()
    return handle


class SftpWriteTests(SynchronousTestCase):
    def _server(self):
        box = _WriteBox()
        proto = _twisted.BoundedFileTransferServer(avatar=box)
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport, box, _open_handle(proto, transport)

    def test_sftp_writes_cut_anywhere_across_reads_are_all_written_and_answered(self):
        for step in (1, 3, 9, 1000, 32768, 10**6):
            proto, transport, box, handle = self._server()
            chunks = [bytes([n]) * size for n, size in enumerate((0, 1, 5000, 70_000, 3))]
            data = b"".join(
                _packet(filetransfer.FXP_WRITE, 10 + n, NS(handle) + struct.pack("!Q", 1000 * n) + NS(chunk))
                for n, chunk in enumerate(chunks)
            )
            for i in range(0, len(data), step):
                proto.dataReceived(data[i : i + step])
            self.assertEqual(box.written, [(1000 * n, chunk) for n, chunk in enumerate(chunks)], step)
            self.assertEqual(_statuses(transport.value()), [(10 + n, filetransfer.FX_OK) for n in range(5)])
            self.assertEqual(proto._incoming.size, 0)

    def test_sftp_writes_reach_a_file_that_takes_pieces_unjoined_and_equal(self):
        for step in (7, 4096, 32768, 300_000):
            proto, transport, box, handle = self._server()
            file = proto.openFiles[handle]
            file.takes_pieces = True
            chunk = os.urandom(100_000)
            proto_bytes = _packet(filetransfer.FXP_WRITE, 3, NS(handle) + struct.pack("!Q", 5) + NS(chunk))
            for i in range(0, len(proto_bytes), step):
                proto.dataReceived(memoryview(proto_bytes)[i : i + step])
            ((offset, pieces),) = box.written
            self.assertIsInstance(pieces, list, step)
            self.assertEqual((offset, b"".join(pieces)), (5, chunk), step)
            self.assertEqual(_statuses(transport.value()), [(3, filetransfer.FX_OK)])

    def test_sftp_a_write_to_an_unknown_handle_is_answered_failure(self):
        proto, transport, box, _handle = self._server()
        proto.dataReceived(_packet(filetransfer.FXP_WRITE, 4, NS(b"nope") + struct.pack("!Q", 0) + NS(b"data")))
        self.assertEqual(_statuses(transport.value()), [(4, filetransfer.FX_FAILURE)])
        self.assertEqual(box.written, [])

    def test_sftp_a_write_that_raises_or_answers_later_is_answered_as_conch_would(self):
        proto, transport, _box, handle = self._server()
        later = defer.Deferred()
        answers = iter([filetransfer.SFTPError(filetransfer.FX_PERMISSION_DENIED, "no"), later])

        def write_chunk(offset, data):
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return answer

        proto.openFiles[handle].writeChunk = write_chunk
        write = NS(handle) + struct.pack("!Q", 0) + NS(b"data")
        proto.dataReceived(b"".join(_packet(filetransfer.FXP_WRITE, n, write) for n in (1, 2)))
        refused = (1, filetransfer.FX_PERMISSION_DENIED)
        self.assertEqual(_statuses(transport.value()), [refused])
        later.callback(None)
        self.assertEqual(_statuses(transport.value()), [refused, (2, filetransfer.FX_OK)])

    def test_sftp_a_malformed_write_is_answered_failure(self):
        proto, transport, box, handle = self._server()
        self.patch(_twisted.BoundedFileTransferServer, "on_request_failure", lambda self, name: None)
        bad = NS(handle) + struct.pack("!Q", 0) + struct.pack("!L", 100) + b"short"
        proto.dataReceived(_packet(filetransfer.FXP_WRITE, 6, bad) + _packet(250, 7))
        self.assertEqual(
            _statuses(transport.value()), [(6, filetransfer.FX_FAILURE), (7, filetransfer.FX_OP_UNSUPPORTED)]
        )
        self.assertEqual(box.written, [])


def test_ssh_channel_data_is_the_one_the_override_copies():
    assert_pinned(
        connection.SSHConnection.ssh_CHANNEL_DATA,
        "c0fbbffec99da20d",
        "DataConnection.channel_data (the window and packet-size checks, the window adjustment, dataReceived)",
    )


def test_sftp_close_is_the_one_the_override_replaces():
    assert_pinned(
        filetransfer.FileTransferServer.packet_CLOSE,
        "499c7a1f4aadd9bd",
        "BoundedFileTransferServer.packet_CLOSE (Conch forgets a handle only when its close succeeds)",
    )
    assert_pinned(
        filetransfer.FileTransferServer._cbClose,
        "a9fac661a230f774",
        "BoundedFileTransferServer.packet_CLOSE (replaces _cbClose)",
    )
    assert (
        str(inspect.signature(filetransfer.FileTransferServer._ebStatus))
        == "(self, reason, requestId, msg=b'request failed')"
    ), "re-check BoundedFileTransferServer.packet_CLOSE"


class _FailingClose:
    def close(self):
        raise filetransfer.SFTPError(filetransfer.FX_FAILURE, "refused")


class _Closes:
    def close(self):
        return None


class ClosingTests(SynchronousTestCase):
    def closed(self, server_class):
        proto, transport = _connected(server_class)
        proto.openFiles[b"1"] = _FailingClose()
        proto.openDirs[b"2"] = [_FailingClose(), iter(())]
        proto.dataReceived(
            _packet(filetransfer.FXP_CLOSE, 4, NS(b"1"))
            + _packet(filetransfer.FXP_CLOSE, 5, NS(b"2"))
            + _packet(filetransfer.FXP_CLOSE, 6, NS(b"1"))
        )
        return proto, _statuses(transport.value())

    def test_sftp_a_failed_close_forgets_the_handle(self):
        ours, statuses = self.closed(_twisted.BoundedFileTransferServer)
        self.assertEqual(
            statuses, [(4, filetransfer.FX_FAILURE), (5, filetransfer.FX_FAILURE), (6, filetransfer.FX_NO_SUCH_FILE)]
        )
        self.assertEqual((ours.openFiles, ours.openDirs), ({}, {}))

        conch, statuses = self.closed(filetransfer.FileTransferServer)
        self.assertEqual(statuses[:2], [(4, filetransfer.FX_FAILURE), (5, filetransfer.FX_FAILURE)])
        self.assertEqual(
            (list(conch.openFiles), list(conch.openDirs)),
            ([b"1"], [b"2"]),
            "Conch now forgets a handle whose close failed: BoundedFileTransferServer.packet_CLOSE may go",
        )

    def test_sftp_a_successful_close_answers_ok_as_conch_does(self):
        ours, transport = _connected(_twisted.BoundedFileTransferServer)
        ours.openFiles[b"1"] = _Closes()
        ours.dataReceived(_packet(filetransfer.FXP_CLOSE, 4, NS(b"1")))
        self.assertEqual(_statuses(transport.value()), [(4, filetransfer.FX_OK)])
        self.assertEqual(ours.openFiles, {})


# -- AdmittingUserAuthServer: SSHUserAuthServer._cbFinishedAuth ----------------------------------------------------


def test_userauth_success_callback_is_the_one_the_override_hooks():
    assert_pinned(
        userauth.SSHUserAuthServer._cbFinishedAuth,
        "f4521485b1a3dd5f",
        "AdmittingUserAuthServer._cbFinishedAuth (result is (interface, avatar, logout); it sets the "
        "avatar and sends USERAUTH_SUCCESS)",
    )
    assert_pinned(
        userauth.SSHUserAuthServer.ssh_USERAUTH_REQUEST,
        "fafb2aefa3d14157",
        "that every authentication method's success still goes through _cbFinishedAuth",
    )


class _SSHTransport:
    def __init__(self):
        self.packets = []
        self.factory = self
        self.avatar = None

    def getService(self, transport, name):
        return lambda: "service"

    def sendPacket(self, kind, data):
        self.packets.append(kind)

    def setService(self, service):
        self.service = service


class AdmittingUserAuthServerTests(SynchronousTestCase):
    def make(self, admitted):
        class Server(_twisted.AdmittingUserAuthServer):
            def admit(self, avatar, logout):
                self.asked = avatar
                return admitted

        server_ = Server()
        server_.transport = _SSHTransport()
        server_.nextService = b"ssh-connection"
        server_.user, server_.method = b"0301", b"password"
        return server_

    def test_userauth_an_admitted_login_succeeds_as_in_conch(self):
        s = self.make(True)
        s._cbFinishedAuth((None, "avatar", lambda: None))
        self.assertEqual((s.asked, s.transport.avatar), ("avatar", "avatar"))
        self.assertEqual(s.transport.packets, [userauth.MSG_USERAUTH_SUCCESS])

    def test_userauth_a_refused_login_sends_no_success(self):
        s = self.make(False)
        s._cbFinishedAuth((None, "avatar", lambda: None))
        self.assertEqual((s.transport.avatar, s.transport.packets), (None, []))


# -- HTTP: the request line before the body, the channel's header writer ------------------------------------------


class _Recording(http.Request):
    def request_line_received(self, method, path, version):
        self.line = (method, path, version)
        self.channel.lines.append(self.line)

    def process(self):
        self.finish()

    def gotLength(self, length):
        self.line_at_length = self.line
        self.requestHeaders.removeHeader(b"expect")  # as UploadRequest does for uploads
        super().gotLength(length)


class RequestLineChannelTests(SynchronousTestCase):
    """``HTTPChannel.lineReceived`` makes the request when it reads the request line (``RequestLineChannel`` relies
    on it), and ``allHeadersReceived`` calls ``gotLength`` before it answers ``Expect: 100-continue`` (UploadRequest
    removes the header there to answer it itself, after the login)."""

    def channel(self):
        channel = RequestLineChannel()
        channel.requestFactory = _Recording
        channel.lines = []
        channel.makeConnection(StringTransport())
        return channel

    def test_http_the_request_knows_its_line_when_its_length_is_known(self):
        channel = self.channel()
        channel.dataReceived(
            b"PUT /api/v1/uploads/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        self.assertEqual(channel.requests[-1].line_at_length, (b"PUT", b"/api/v1/uploads/x", b"HTTP/1.1"))
        self.assertNotIn(b"100 Continue", channel.transport.value())

    def test_http_twisted_answers_expect_after_gotlength(self):
        """Without the header removed in gotLength Twisted answers 100 Continue itself (what the test above
        relies on not happening)."""
        channel = RequestLineChannel()
        channel.requestFactory = http.Request
        channel.makeConnection(StringTransport())
        channel.dataReceived(b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        self.assertIn(b"100 Continue", channel.transport.value())

    def test_http_pipelined_requests_each_get_their_own_line(self):
        channel = self.channel()
        channel.dataReceived(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(channel.lines, [(b"GET", b"/a", b"HTTP/1.1"), (b"GET", b"/b", b"HTTP/1.1")])

    def test_http_write_headers_is_the_public_header_writer(self):
        assert str(inspect.signature(http.HTTPChannel.writeHeaders)) == "(self, version, code, reason, headers)"
        channel = self.channel()
        channel.writeHeaders(b"HTTP/1.1", b"413", b"Content Too Large", [(b"Connection", b"close")])
        self.assertEqual(channel.transport.value(), b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n\r\n")


# -- BadRequestAnsweringChannel: HTTPChannel._respondToBadRequestAndDisconnect hooked; the head's public limits -------

BAD_REQUESTS = {
    "malformed request line": b"GARBAGE\r\n",
    "header without a colon": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
    "bad Content-Length": b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    "bad chunk": b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "too many header bytes": b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * 10000 + b"\r\nX-B: " + b"b" * 10000 + b"\r\n",
}


def test_http_bad_request_answer_is_the_one_the_override_hooks():
    assert_pinned(
        http.HTTPChannel._respondToBadRequestAndDisconnect,
        "c7ccc0f4450a7d6b",
        "BadRequestAnsweringChannel (Twisted's bare 400 and close, replaced by answer_bad_request)",
    )
    assert inspect.getsource(http.HTTPChannel).count("self._respondToBadRequestAndDisconnect()") >= 8, (
        "HTTPChannel answers bad requests some other way: re-check BadRequestAnsweringChannel"
    )
    assert "self.channel._respondToBadRequestAndDisconnect()" in inspect.getsource(http.Request.requestReceived)


class BadRequestAnsweringChannelTests(SynchronousTestCase):
    """Twisted answers each bad request with a bare ``HTTP/1.1 400 Bad Request`` (no headers) through
    ``_respondToBadRequestAndDisconnect``; ``BadRequestAnsweringChannel`` sends every one of them to its
    ``answer_bad_request``, whose default is Twisted's own answer."""

    def feed(self, channel, data):
        channel.requestFactory = http.Request
        channel.makeConnection(StringTransport())
        channel.dataReceived(data)
        return channel.transport.value()

    def test_http_bad_request_twisted_answers_a_bare_400(self):
        for name, data in BAD_REQUESTS.items():
            self.assertEqual(self.feed(http.HTTPChannel(), data), b"HTTP/1.1 400 Bad Request\r\n\r\n", name)

    def test_http_bad_request_every_one_goes_through_the_hook(self):
        class Hooked(_twisted.BadRequestAnsweringChannel):
            def answer_bad_request(self):
                self.answered = True
                self.transport.write(b"ours")
                self.transport.loseConnection()

        for name, data in BAD_REQUESTS.items():
            channel = Hooked()
            self.assertEqual(self.feed(channel, data), b"ours", name)
            self.assertTrue(channel.answered, name)

    def test_http_bad_request_default_hook_is_twisteds_answer(self):
        for name, data in BAD_REQUESTS.items():
            self.assertEqual(
                self.feed(_twisted.BadRequestAnsweringChannel(), data), b"HTTP/1.1 400 Bad Request\r\n\r\n", name
            )

    def test_http_head_limits_are_public_and_a_long_line_goes_to_line_length_exceeded(self):
        """RequestLineChannel answers 431/414 on Twisted's public limits: ``MAX_LENGTH`` (one line; Twisted closes
        without a word through ``lineLengthExceeded``, which HTTPChannel does not override) and
        ``totalHeadersSize`` (all the head's lines)."""
        self.assertEqual((http.HTTPChannel.MAX_LENGTH, http.HTTPChannel.totalHeadersSize), (16384, 16384))
        self.assertNotIn("lineLengthExceeded", vars(http.HTTPChannel))
        self.assertEqual(self.feed(http.HTTPChannel(), b"GET / HTTP/1.1\r\nX: " + b"a" * 16390), b"")

        class Recording(http.HTTPChannel):
            def lineLengthExceeded(self, line):
                self.exceeded = len(line)

        channel = Recording()
        self.feed(channel, b"GET / HTTP/1.1\r\nX: " + b"a" * 16390)
        self.assertEqual(channel.exceeded, 16393)


# -- Conch's loggers: logs.QUIET_NAMESPACES names our subclasses -----------------------------------------------------


def test_conch_chatter_of_our_subclasses_is_in_the_quiet_namespaces():
    """Conch logs through a class attribute ``_log = Logger()``, whose namespace is the instance's class: the
    namespaces logs.py quiets must name our subclasses."""
    for cls in (sftp_server.DropBoxTransport, sftp_server.SFTPOnlySession, sftp_server.DropBoxTransferServer):
        assert isinstance(inspect.getattr_static(cls, "_log"), Logger), f"re-check how {cls.__name__}'s base logs"
        namespace = cls._log.namespace
        assert namespace in logs.QUIET_NAMESPACES, namespace


# -- CoalescingTLSMemoryBIOProtocol: TLSMemoryBIOProtocol._flushReceiveBIO copied -----------------------------------


def test_tls_receive_loop_is_the_one_the_override_copies():
    assert_pinned(
        tls.TLSMemoryBIOProtocol._flushReceiveBIO,
        "b45e129f60c44862",
        "CoalescingTLSMemoryBIOProtocol._flushReceiveBIO (the loop over recv, its three outcomes, "
        "_lostTLSConnection, _aborted, _flushSendBIO)",
    )
    for name in ("_tlsConnection", "_lostTLSConnection", "_aborted"):
        assert name in inspect.getsource(tls.TLSMemoryBIOProtocol), f"TLSMemoryBIOProtocol.{name} is gone"
    assert callable(tls.TLSMemoryBIOProtocol._flushSendBIO)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # twisted.test's certificate helper uses pyOpenSSL X509
class CoalescingTLSTests(SynchronousTestCase):
    """The plaintext of several records read at once reaches the application in one call; a close_notify after
    them still ends the connection as Twisted does."""

    def pair(self, protocol=_twisted.CoalescingTLSMemoryBIOProtocol, *, greet=True):
        from twisted.internet.protocol import Factory, Protocol
        from twisted.internet.ssl import CertificateOptions
        from twisted.protocols.tls import TLSMemoryBIOFactory
        from twisted.test.iosim import connect, makeFakeClient, makeFakeServer
        from twisted.test.test_sslverify import makeCertificate

        key, cert = makeCertificate(O=b"sendemodul", CN=b"localhost")

        class Sink(Protocol):
            def connectionMade(self):
                self.chunks, self.lost = [], None

            def dataReceived(self, data):
                self.chunks.append(data)

            def connectionLost(self, reason):
                self.lost = reason

        sink = Sink()
        server_factory = TLSMemoryBIOFactory(
            CertificateOptions(privateKey=key, certificate=cert), False, Factory.forProtocol(lambda: sink)
        )
        server_factory.protocol = protocol
        client_factory = TLSMemoryBIOFactory(CertificateOptions(verify=False), True, Factory.forProtocol(Protocol))
        server_proto = server_factory.buildProtocol(None)
        client_proto = client_factory.buildProtocol(None)
        server_io, client_io = makeFakeServer(server_proto), makeFakeClient(client_proto)
        pump = connect(server_proto, server_io, client_proto, client_io, greet=greet)
        return sink, client_proto, pump

    def test_tls_records_of_one_read_arrive_in_one_call(self):
        sink, client, pump = self.pair()
        for _ in range(4):
            client.write(b"x" * 16384)  # one TLS record each
        pump.flush()
        self.assertEqual(b"".join(sink.chunks), b"x" * 65536)
        self.assertEqual(len(sink.chunks), 1)

    def test_tls_close_notify_after_data_ends_the_connection(self):
        sink, client, pump = self.pair()
        client.write(b"y" * 20000)
        client.loseConnection()
        pump.flush()
        self.assertEqual(b"".join(sink.chunks), b"y" * 20000)
        self.assertIsNotNone(sink.lost)

    def spy_on_bio_writes(self, pump):
        """The sizes of the server's writes into its receive BIO, from now on."""
        connection = pump.server._tlsConnection
        sizes, write = [], connection.bio_write

        def recording(data):
            sizes.append(len(data))
            return write(data)

        connection.bio_write = recording
        return sizes

    def test_tls_a_large_read_goes_into_the_bio_in_pieces_and_up_in_one_call(self):
        """OpenSSL's memory BIO keeps the size of its largest write for the connection's life, so a read of 256 KiB
        goes in 64 KiB at a time; the application still gets the whole read's plaintext at once."""
        sink, client, pump = self.pair()
        pump.flush()
        sizes = self.spy_on_bio_writes(pump)
        data = bytes(range(256)) * 1024  # 256 KiB, 16 records
        client.write(data)
        pump.flush()
        self.assertEqual(sink.chunks, [data])
        self.assertGreater(sum(sizes), len(data))  # the records' headers and tags
        self.assertEqual(max(sizes), _twisted.CoalescingTLSMemoryBIOProtocol.bio_write_bytes)
        self.assertEqual(len(sizes), -(-sum(sizes) // _twisted.CoalescingTLSMemoryBIOProtocol.bio_write_bytes))

    def test_tls_a_large_read_that_finishes_the_handshake_arrives_whole(self):
        """The client's Finished and 300,000 bytes in one read (iosim's pump delivers all the client wrote at once;
        ``greet=False`` leaves the handshake to the first pumps): the pieces up to the Finished take Twisted's path,
        the rest is drained piece by piece; the bytes arrive whole and in order."""
        sink, client, pump = self.pair(greet=False)
        server = pump.server
        reads, receive = [], server.dataReceived

        def recording(data):
            reads.append((len(data), server._handshakeDone))
            receive(data)

        server.dataReceived = recording
        data = bytes(range(251)) * 1200
        client.write(data)  # held by the client's TLS until the handshake is done, then sent after its Finished
        pump.flush()
        self.assertTrue(any(size > len(data) and not done for size, done in reads), reads)
        self.assertEqual(b"".join(sink.chunks), data)
        self.assertEqual(len(sink.chunks), 2)

    def test_tls_close_notify_after_a_large_read_ends_the_connection(self):
        sink, client, pump = self.pair()
        pump.flush()
        client.write(b"z" * 200_000)
        client.loseConnection()
        pump.flush()
        self.assertEqual(b"".join(sink.chunks), b"z" * 200_000)
        self.assertIsNotNone(sink.lost)

    def test_tls_a_bad_record_in_a_large_read_ends_the_connection_as_twisted_ends_it(self):
        """A record that fails to decrypt in the third piece: the records before it reach the application, none
        after it, and the connection ends with the reason Twisted's own protocol gives."""

        def run(protocol):
            sink, client, pump = self.pair(protocol)
            pump.flush()
            client.write(b"a" * 256 * 1024)
            wire = bytearray(pump.clientIO.getOutBuffer())
            wire[150_000] ^= 0xFF  # inside a record of the third 64 KiB piece
            pump.server.dataReceived(bytes(wire))
            pump.flush()
            return b"".join(sink.chunks), sink.lost

        got, lost = run(_twisted.CoalescingTLSMemoryBIOProtocol)
        twisted_got, twisted_lost = run(tls.TLSMemoryBIOProtocol)
        self.assertTrue(0 < len(got) < 150_000 and got == b"a" * len(got), len(got))
        self.assertEqual(got, twisted_got)
        self.assertIsNotNone(lost)
        self.assertEqual(type(lost.value), type(twisted_lost.value))


def test_tls_connection_setup_is_the_one_the_override_replaces():
    what = (
        "CoalescingTLSMemoryBIOProtocol.makeConnection (_creatorCallable, _appSendBuffer, the interfaces declared, "
        "Protocol.makeConnection, registerProtocol, the wrapped protocol connected, _checkHandshakeStatus at the end, "
        "and dataReceived starting the handshake while _handshakeDone is false; CoalescingTLSMemoryBIOProtocol."
        "dataReceived: bio_write, the handshake, _unbufferPendingWrites, _flushReceiveBIO, in that order; "
        "the override keeps the order for its first piece)"
    )
    assert_pinned(tls.TLSMemoryBIOProtocol.makeConnection, "c83b193e6cb07f9f", what)
    assert_pinned(ProtocolWrapper.makeConnection, "1954239c5d3014a3", what)
    assert_pinned(tls.TLSMemoryBIOProtocol.dataReceived, DATA_RECEIVED_PIN, what)
    assert_pinned(
        tls.TLSMemoryBIOProtocol.connectionLost,
        "db44a0b303d81d19",
        "CoalescingTLSMemoryBIOProtocol.connectionLost (bio_shutdown and _flushReceiveBIO only while "
        "_lostTLSConnection is false; then _reason or the transport's reason to the wrapped protocol)",
    )


#: ``TLSMemoryBIOProtocol.dataReceived``: starts (or goes on with) the handshake while ``_handshakeDone`` is false.
DATA_RECEIVED_PIN = "0c9326eac628dc89"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # twisted.test's certificate helper uses pyOpenSSL X509
class TLSConnectionSetupTests(SynchronousTestCase):
    """The accepting side's ``makeConnection`` ends in the state Twisted's ends in, without the handshake step that
    can only wait for the ClientHello; the handshake then completes with the client's first bytes."""

    def connect(self, protocol_class):
        from twisted.internet import tcp
        from twisted.internet.protocol import Factory, Protocol
        from twisted.internet.ssl import CertificateOptions
        from twisted.test.test_sslverify import makeCertificate
        from zope.interface import classImplements, implementedBy

        key, cert = makeCertificate(O=b"sendemodul", CN=b"localhost")

        class App(Protocol):
            made = 0

            def connectionMade(self):
                App.made += 1

        class TCPLike(StringTransport):
            """Declares what Twisted's TCP server connection declares (many interfaces, as in the front)."""

        classImplements(TCPLike, *list(implementedBy(tcp.Server)))
        factory = tls.TLSMemoryBIOFactory(
            CertificateOptions(privateKey=key, certificate=cert), False, Factory.forProtocol(App)
        )
        factory.protocol = protocol_class
        protocol = factory.buildProtocol(None)
        transport = TCPLike()
        protocol.makeConnection(transport)
        return protocol, transport, factory, App

    def state(self, protocol, transport, factory, app):
        from zope.interface import directlyProvidedBy

        return {
            "declared": sorted(i.__identifier__ for i in directlyProvidedBy(protocol)),
            "provides": sorted(i.__identifier__ for i in providedBy(protocol)),
            "registered": list(factory.protocols) == [protocol],
            "transport": protocol.transport is transport,
            "connected": protocol.connected,
            "app connected": (protocol.wrappedProtocol.transport is protocol, app.made),
            "written": transport.value(),
            "handshake done": protocol._handshakeDone,
            "send buffer": protocol._appSendBuffer,
        }

    def test_the_end_state_is_twisteds(self):
        twisteds = self.state(*self.connect(tls.TLSMemoryBIOProtocol))
        ours = self.state(*self.connect(_twisted.CoalescingTLSMemoryBIOProtocol))
        self.assertEqual(ours, twisteds)
        self.assertIn("twisted.internet.interfaces.ITCPTransport", ours["declared"])
        self.assertEqual(ours["app connected"], (True, 1))

    def test_the_handshake_completes_with_the_clients_first_bytes(self):
        server, server_transport, _, _ = self.connect(_twisted.CoalescingTLSMemoryBIOProtocol)
        self.assertEqual(server_transport.value(), b"")  # nothing before the ClientHello
        client_protocol = self.handshake(server, server_transport)
        self.assertTrue(server._handshakeDone)
        self.assertTrue(client_protocol._handshakeDone)
        client_protocol.write(b"hello")
        client_protocol.factory._clock.advance(0)
        received = []
        server.wrappedProtocol.dataReceived = received.append
        data = client_protocol.transport.value()
        self.assertNotEqual(data, b"")
        server.dataReceived(data)
        self.assertEqual(received, [b"hello"])

    def handshake(self, server, server_transport):
        """A client's TLS protocol, its handshake with ``server`` done in memory."""
        from twisted.internet.protocol import Factory, Protocol
        from twisted.internet.ssl import CertificateOptions
        from twisted.internet.task import Clock

        clock = Clock()  # Twisted's TLS gathers small writes until the next reactor turn
        client = tls.TLSMemoryBIOFactory(
            CertificateOptions(verify=False), True, Factory.forProtocol(Protocol), clock=clock
        )
        client_protocol = client.buildProtocol(None)
        client_transport = StringTransport()
        client_protocol.makeConnection(client_transport)
        while client_transport.value() or server_transport.value():
            if client_transport.value():
                data = client_transport.value()
                client_transport.clear()
                server.dataReceived(data)
            if server_transport.value():
                data = server_transport.value()
                server_transport.clear()
                client_protocol.dataReceived(data)
        return client_protocol

    def test_after_a_complete_shutdown_the_connection_is_lost_as_twisted_loses_it_without_reading(self):
        """As after ``web.busy``'s close without waiting: the peer's close_notify taken as received, ours sent."""
        from OpenSSL import SSL
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        outcomes = []
        for protocol_class in (tls.TLSMemoryBIOProtocol, _twisted.CoalescingTLSMemoryBIOProtocol):
            server, transport, _, _ = self.connect(protocol_class)
            client = self.handshake(server, transport)
            lost = []
            server.wrappedProtocol.connectionLost = lost.append
            handle = server.getHandle()
            handle.set_shutdown(handle.get_shutdown() | SSL.RECEIVED_SHUTDOWN)
            server.loseConnection()
            written = transport.value()
            reads = []

            class Counting:
                def __getattr__(self, name, handle=handle, reads=reads):
                    if name == "recv":
                        reads.append(name)
                    return getattr(handle, name)

            server._tlsConnection = Counting()
            reason = Failure(ConnectionDone())
            server.connectionLost(reason)
            client.dataReceived(written)
            outcomes.append((lost == [reason], server._lostTLSConnection, transport.value() == written, len(reads)))
        twisteds, ours = outcomes
        self.assertEqual(twisteds[:3], (True, True, True))
        self.assertEqual(ours, (*twisteds[:3], 0))
        self.assertGreater(twisteds[3], 0)  # Twisted's reads (and meets ZERO_RETURN); ours does not


def _sendemodul_classes():
    import importlib
    import pkgutil

    import sendemodul

    for info in pkgutil.walk_packages(sendemodul.__path__, "sendemodul."):
        if info.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__ == info.name:
                yield value


def test_only_the_overrides_module_overrides_private_twisted_attributes():
    """No class outside sendemodul/_twisted.py defines a ``_name`` that a Twisted base class already has."""
    found = []
    for cls in _sendemodul_classes():
        if cls.__module__ == _twisted.__name__:
            continue
        twisted_bases = [base for base in cls.__mro__[1:] if base.__module__.startswith("twisted.")]
        for name in vars(cls):
            if name.startswith("_") and not name.startswith("__") and any(hasattr(b, name) for b in twisted_bases):
                found.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert found == [], "private Twisted attributes overridden outside sendemodul/_twisted.py: " + ", ".join(found)


def test_tls_socket_read_size_is_still_the_transports_buffer_size():
    """web/tls.py raises the TCP transport's ``bufferSize`` (how much one socket read takes); without the attribute
    it would silently stay at Twisted's default."""
    from twisted.internet import tcp

    assert tcp.Server.bufferSize == 64 * 1024, "re-check SOCKET_READ_BYTES in sendemodul/web/tls.py"
    assert "self.bufferSize" in inspect.getsource(tcp.Connection.doRead)


# --- the HTTPS front's answers written outside the Request's header machinery (issue 25, the storm) -------------


def test_request_finish_is_the_one_finish_written_leans_on():
    """``_twisted.finish_written`` sets ``startedWriting`` so that ``Request.finish`` writes no headers, and leaves
    ``chunked`` 0 so that it writes no last chunk; ``finish`` then logs, and ends the request on the channel."""
    what = "_twisted.finish_written (startedWriting: no headers from finish; chunked 0: no last chunk)"
    assert_pinned(http.Request.finish, "4590c5f7e2207ef0", what)
    assert_pinned(http.Request.write, "0e547d4f76bd1472", what)


def test_request_finish_written_adds_nothing_logs_and_ends_the_request():
    """A request answered by hand and finished with ``finish_written``: the connection carries exactly the bytes
    written, the site's log sees it once, and the channel goes on to the next request (keep-alive) or closes."""
    logged = []

    class Site(http.HTTPFactory):
        def log(self, request):
            logged.append((request.method, request.code))

    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"

    class Answering(http.Request):
        def process(self):
            self.setResponseCode(503)
            self.channel.write(answer)
            _twisted.finish_written(self)

    for head, closes in ((b"", False), (b"Connection: close\r\n", True)):
        factory = Site()
        channel = factory.buildProtocol(None)
        channel.requestFactory = Answering
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
        assert transport.value() == answer
        assert bool(transport.disconnecting) is closes
        if not closes:  # the next request on the same connection is read and answered
            channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert transport.value() == answer * 2
        channel.connectionLost(None)
    assert logged == [(b"GET", 503)] * 3


# -- PromptWriteServer: Connection.doRead and FileDescriptor.startWriting overridden, doWrite's state read ------------


def test_tcp_write_path_is_the_one_the_prompt_server_leans_on():
    from twisted.internet import abstract, posixbase, tcp

    what = "PromptWriteServer (a read's writes sent after it, a lost connection closed at once)"
    assert_pinned(tcp.Connection.doRead, "20ac74ffecd6b7f2", what + ": doRead returns the protocol's reason")
    assert_pinned(abstract.FileDescriptor.doWrite, "a986d7b1b1054e43", what + ": doWrite's buffers, producer and close")
    assert_pinned(
        abstract.FileDescriptor.write,
        "3e46c97fc173bc7e",
        what + ": write buffers in _tempDataBuffer, then startWriting",
    )
    assert_pinned(
        abstract.FileDescriptor.loseConnection,
        "e13b8468f05208ae",
        what + ": loseConnection stops reading, then startWriting",
    )
    assert_pinned(tcp.Connection.abortConnection, "c948f3ef21c1822c", what + ": _aborting")
    assert_pinned(
        posixbase._DisconnectSelectableMixin._disconnectSelectable,
        "9d6de0e555ea44fe",
        what + ": the reasons after a write",
    )
    assert_pinned(
        tcp.Port.doRead,
        "d240fc123090ee23",
        what + ": the port makes self.transport(skt, protocol, addr, self, s, reactor)",
    )


class PromptWriteServerTests(TestCase):
    """Over real loopback sockets and the real reactor: what a protocol writes while handling a read is sent before
    the reactor's next event, without ever registering for writability; a loseConnection in that read closes the
    socket at once with Twisted's reason; an answer larger than the socket takes still arrives whole; a write from
    a timer goes Twisted's way. Each compared with Twisted's own ``tcp.Port``, so that the test fails if the
    override stops doing anything."""

    def serve(self, port_class, answer, *, later=False):
        """A server that answers its first read with ``answer`` (two writes) and loses the connection; the client's
        Deferred fires with (bytes received, server's reason, [registered for writability after each read])."""
        from twisted.internet import protocol, reactor

        registered, lost = [], defer.Deferred()

        class Recording(port_class.transport):
            def doRead(self):
                why = super().doRead()
                registered.append(self in self.reactor.getWriters())
                return why

        class Answer(protocol.Protocol):
            def dataReceived(self, data):
                def write():
                    self.transport.write(answer[:5])
                    self.transport.write(answer[5:])
                    self.transport.loseConnection()

                reactor.callLater(0, write) if later else write()

            def connectionLost(self, reason):
                lost.callback([reason])  # (a Failure passed alone would fire the errbacks)

        class Port(port_class):
            transport = Recording

        port = Port(0, protocol.Factory.forProtocol(Answer), 50, "127.0.0.1", reactor)
        port.startListening()
        self.addCleanup(port.stopListening)
        received, done = [], defer.Deferred()

        class Client(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(b"ask")

            def dataReceived(self, data):
                received.append(data)

            def connectionLost(self, reason):
                done.callback(None)

        protocol.ClientCreator(reactor, Client).connectTCP("127.0.0.1", port.getHost().port)
        return defer.gatherResults([done, lost]).addCallback(lambda r: (b"".join(received), r[1][0], registered))

    @defer.inlineCallbacks
    def test_tcp_an_answer_written_in_a_read_is_sent_and_closed_without_waiting_for_writability(self):
        from twisted.internet import error, tcp

        answer = b"HTTP/1.1 503 busy\r\n\r\n"
        received, reason, registered = yield self.serve(_twisted.PromptWritePort, answer)
        self.assertEqual(received, answer)
        self.assertTrue(reason.check(error.ConnectionDone))
        self.assertEqual(registered, [False])
        # Twisted's own port: the same bytes and reason, one event later (registered for writability after the read)
        received, reason, registered = yield self.serve(tcp.Port, answer)
        self.assertEqual((received, bool(reason.check(error.ConnectionDone)), registered), (answer, True, [True]))

    @defer.inlineCallbacks
    def test_tcp_an_answer_larger_than_the_socket_takes_waits_for_writability_and_arrives_whole(self):
        from twisted.internet import error

        answer = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than loopback's buffers take at once
        received, reason, registered = yield self.serve(_twisted.PromptWritePort, answer)
        self.assertEqual(received, answer)
        self.assertTrue(reason.check(error.ConnectionDone))
        self.assertEqual(registered, [True])

    @defer.inlineCallbacks
    def test_tcp_a_write_outside_a_read_goes_twisteds_way(self):
        from twisted.internet import error

        answer = b"later answer"
        received, reason, registered = yield self.serve(_twisted.PromptWritePort, answer, later=True)
        self.assertEqual(received, answer)
        self.assertTrue(reason.check(error.ConnectionDone))
        self.assertEqual(registered, [False])  # nothing was written in the read itself


def test_tcp_both_fronts_listen_with_the_prompt_port_and_other_endpoints_still_work():
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory

    from sendemodul.listening import ListeningService, server_endpoint
    from sendemodul.sftp.server import SFTPService
    from sendemodul.web.site import WebService

    assert WebService.port_class is _twisted.PromptWritePort and ListeningService.port_class is None
    # SFTP too: an upload's WRITE statuses go out in the read that completed the WRITE (docs/performance.md, session 9)
    assert SFTPService.port_class is _twisted.PromptWritePort
    for description in ("tcp:0:interface=127.0.0.1", "haproxy:tcp:0:interface=127.0.0.1"):
        ports = []
        server_endpoint(reactor, description, port_class=_twisted.PromptWritePort).listen(Factory()).addBoth(
            ports.append
        )
        assert isinstance(ports[0], _twisted.PromptWritePort), ports
        ports[0].stopListening()
    ports = []
    server_endpoint(reactor, "tcp:0:interface=127.0.0.1").listen(Factory()).addBoth(ports.append)
    assert type(ports[0]).__name__ == "Port" and not isinstance(ports[0], _twisted.PromptWritePort), ports
    ports[0].stopListening()
