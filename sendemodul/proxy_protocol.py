"""The PROXY protocol (v1 and v2, as HAProxy's ``send-proxy``/``send-proxy-v2`` sends it): the fronts behind a TCP
load balancer see each client's own address, for per-source limits, bans and the logs.

Twisted's ``haproxy:`` endpoint wrapper reads the header, but it builds the wrapped protocol as the connection is
accepted, with the balancer's address, and connects it before the header has arrived: our fronts decide at
``buildProtocol`` whether a source is banned or has too many connections open, so behind HAProxy every client
would share HAProxy's one address. :class:`ProxyHeaderFactory` instead reads the header first and only then builds
the wrapped protocol with the client's address (and gives it a transport whose ``getPeer`` is that address). The
listener description stays ``haproxy:tcp:PORT:...`` (:func:`sendemodul.listening.server_endpoint`).

A connection that sends no valid header within :data:`HEADER_TIMEOUT_SECONDS` is closed: only the balancer may
connect to such a port (docs/cluster.md).
"""

import ipaddress
import struct

from twisted.internet import address, interfaces
from twisted.protocols import policies
from twisted.protocols.policies import ProtocolWrapper
from zope.interface import directlyProvides, implementer, providedBy

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107
HEADER_TIMEOUT_SECONDS = 10.0


class BadHeader(ValueError):
    """Not a PROXY protocol header."""


def parse(data):
    """``(source, destination, rest)`` once ``data`` holds a whole header (addresses None for a ``LOCAL``/
    ``UNKNOWN`` connection, such as a health check), or None while more is needed. Raises :class:`BadHeader`."""
    if data[: len(V2_SIGNATURE)] == V2_SIGNATURE[: len(data)] and len(data) < 16:
        return None
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if data[: len(V1_PREFIX)] == V1_PREFIX[: len(data)] or data.startswith(V1_PREFIX):
        return _parse_v1(data)
    raise BadHeader("no PROXY protocol header")


def _parse_v2(data):
    version_command, family, length = data[12], data[13], struct.unpack("!H", data[14:16])[0]
    if version_command >> 4 != 2 or version_command & 0x0F not in (0, 1):
        raise BadHeader("unknown PROXY v2 version or command")
    if len(data) < 16 + length:
        return None
    body, rest = data[16 : 16 + length], data[16 + length :]
    if version_command & 0x0F == 0:  # LOCAL: the balancer itself (a health check)
        return None, None, rest
    if family == 0x11 and length >= 12:  # TCP over IPv4
        src, dst, sport, dport = struct.unpack("!4s4sHH", body[:12])
        return _ip(src, sport, address.IPv4Address), _ip(dst, dport, address.IPv4Address), rest
    if family == 0x21 and length >= 36:  # TCP over IPv6
        src, dst, sport, dport = struct.unpack("!16s16sHH", body[:36])
        return _ip(src, sport, address.IPv6Address), _ip(dst, dport, address.IPv6Address), rest
    if family == 0x00:  # UNSPEC
        return None, None, rest
    raise BadHeader("unsupported PROXY v2 address family")


def _ip(packed, port, kind):
    return kind("TCP", str(ipaddress.ip_address(packed)), port)


def _parse_v1(data):
    end = data.find(b"\r\n")
    if end < 0:
        if len(data) >= V1_MAX:
            raise BadHeader("PROXY v1 header too long")
        return None
    line, rest = data[:end].decode("ascii", "replace").split(" "), data[end + 2 :]
    if len(line) >= 2 and line[1] == "UNKNOWN":
        return None, None, rest
    if len(line) != 6 or line[1] not in ("TCP4", "TCP6"):
        raise BadHeader("malformed PROXY v1 header")
    kind = address.IPv4Address if line[1] == "TCP4" else address.IPv6Address
    try:
        ipaddress.ip_address(line[2]), ipaddress.ip_address(line[3])
        sport, dport = int(line[4]), int(line[5])
    except ValueError:
        raise BadHeader("malformed PROXY v1 header") from None
    return kind("TCP", line[2], sport), kind("TCP", line[3], dport), rest


class ProxyHeaderProtocol(ProtocolWrapper):
    """Reads the header, then builds the wrapped protocol for the client's address and passes everything on."""

    def __init__(self, factory):
        super().__init__(factory, None)
        self._buffer = b""
        self._source = self._destination = None
        self._timeout = None

    def makeConnection(self, transport):
        directlyProvides(self, providedBy(transport))
        self.connected = 1
        self.transport = transport
        self.factory.registerProtocol(self)
        self._timeout = self.factory.clock.callLater(HEADER_TIMEOUT_SECONDS, transport.abortConnection)

    def dataReceived(self, data):
        if self.wrappedProtocol is not None:
            return self.wrappedProtocol.dataReceived(data)
        self._buffer += data
        try:
            parsed = parse(self._buffer)
        except BadHeader:
            return self._abort()
        if parsed is None:
            return None
        self._cancel_timeout()
        self._source, self._destination, rest = parsed
        self._buffer = b""
        peer = self._source or self.transport.getPeer()
        wrapped = self.factory.wrappedFactory.buildProtocol(peer)
        if wrapped is None:
            return self._abort()
        self.wrappedProtocol = wrapped
        wrapped.makeConnection(self)
        if rest:
            wrapped.dataReceived(rest)
        return None

    def _abort(self):
        self._cancel_timeout()
        self.transport.abortConnection()

    def _cancel_timeout(self):
        if self._timeout is not None and self._timeout.active():
            self._timeout.cancel()
        self._timeout = None

    @property
    def bufferSize(self):
        """The socket's read size, read and set on the transport below (``ProtocolWrapper`` passes reads of other
        attributes down, but a set would stay on the wrapper): the fronts set it on the transport they are given,
        which behind HAProxy is this wrapper."""
        return self.transport.bufferSize

    @bufferSize.setter
    def bufferSize(self, size):
        self.transport.bufferSize = size

    def getPeer(self):
        return self._source or self.transport.getPeer()

    def getHost(self):
        return self._destination or self.transport.getHost()

    def connectionLost(self, reason):
        self._cancel_timeout()
        self.connected = 0
        self.factory.unregisterProtocol(self)
        if self.wrappedProtocol is not None:
            self.wrappedProtocol.connectionLost(reason)
            self.wrappedProtocol = None


class ProxyHeaderFactory(policies.WrappingFactory):
    """Wraps ``wrappedFactory``: each connection starts with a PROXY header, then is ``wrappedFactory``'s."""

    protocol = ProxyHeaderProtocol

    def __init__(self, wrappedFactory, clock):
        super().__init__(wrappedFactory)
        self.clock = clock

    def buildProtocol(self, addr):
        return self.protocol(self)

    def logPrefix(self):
        inner = self.wrappedFactory
        name = inner.logPrefix() if interfaces.ILoggingContext.providedBy(inner) else type(inner).__name__
        return f"{name} (PROXY)"


@implementer(interfaces.IStreamServerEndpoint)
class ProxyHeaderEndpoint:
    """An ``IStreamServerEndpoint`` whose connections start with a PROXY header (see the module)."""

    def __init__(self, wrapped, clock):
        self.wrapped = wrapped
        self.clock = clock

    def listen(self, factory):
        return self.wrapped.listen(ProxyHeaderFactory(factory, self.clock))
