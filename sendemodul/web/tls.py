"""The TLS layer of the HTTPS front: Twisted's memory-BIO TLS protocol, tuned for large uploads.

An upload arrives as TLS records of at most 16 KiB. Twisted's ``TLSMemoryBIOProtocol`` hands each record to HTTP
separately, so a 1 GiB body makes some 70,000 trips through the HTTP parser and the request. Here every record
decrypted from one socket read goes up as one string (``_twisted.CoalescingTLSMemoryBIOProtocol``), and once a
read fills Twisted's 64 KiB the socket is read in larger pieces: the same bytes in a quarter of the calls.
Everything else (handshake, shutdown, producers, errors) is Twisted's.
"""

import collections

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from sendemodul._twisted import CoalescingTLSMemoryBIOProtocol

log = Logger()

#: Bytes read from the socket at a time once a read has filled Twisted's default of 64 KiB (a body arriving).
SOCKET_READ_BYTES = 256 * 1024


class CoalescingTLSProtocol(CoalescingTLSMemoryBIOProtocol):
    """Reads the socket in Twisted's 64 KiB until one read fills that (a body is streaming in), then in
    ``SOCKET_READ_BYTES``.

    Not 256 KiB from the start: Python's ``recv(n)`` allocates ``n`` bytes and shrinks them to what arrived, and
    glibc serves an allocation over its mmap threshold (128 KiB until a large block has been freed) with ``mmap``
    and the shrink with ``mremap``, so each small read (a handshake, a request head) of a front that has not yet
    received a large body cost an ``mmap``, a page fault and a ``munmap``: 20-27 us a read against 5 us for 64 KiB
    (a socketpair micro-benchmark), about 3.6 reads per refused login of a storm (issue 25)."""

    _read_bytes = None  # the transport's read size until a read fills it; then None (raised)

    def makeConnection(self, transport):
        self._read_bytes = getattr(transport, "bufferSize", None)
        super().makeConnection(transport)

    def dataReceived(self, data):
        if self._read_bytes is not None and len(data) >= self._read_bytes:  # a full read: a body is streaming in
            self.transport.bufferSize = SOCKET_READ_BYTES
            self._read_bytes = None
        super().dataReceived(data)


@implementer(IOpenSSLServerConnectionCreator)
class ServerConnections:
    """Makes each server-side ``OpenSSL.SSL.Connection`` from the one context of ``options`` (a
    ``CertificateOptions``), as Twisted does, without the client's ALPN list Twisted also sets on it.

    Twisted's ``CertificateOptions.serverConnectionForTLS`` asks the wrapped factory for its ALPN protocols (the
    Site's: ``http/1.1``) and calls ``set_alpn_protos`` on every new connection, server or client; OpenSSL uses that
    list only in a client's hello. A server chooses in the context's ALPN callback, which Twisted installed when it
    made the context and which is unchanged here (tests/test_web_tls.py). 8-23 us less per connection, i.e. per
    refused login of a storm (issue 25)."""

    def __init__(self, options):
        self.options = options

    def serverConnectionForTLS(self, tls_protocol):
        return SSL.Connection(self.options.getContext(), None)


class CoalescingTLSFactory(TLSMemoryBIOFactory):
    """Wraps ``wrappedFactory`` (the Site) in server-side TLS with :class:`CoalescingTLSProtocol`.

    At most ``connections_per_source`` connections from one address are open at once, and none from an address
    that ``is_banned`` (too many failed logins): such a connection is closed as soon as it is accepted, before any
    TLS work is spent on it, so an attacker that has been banned costs next to nothing. ``contextFactory`` is a
    ``CertificateOptions`` (each connection is made by :class:`ServerConnections`)."""

    protocol = CoalescingTLSProtocol

    def __init__(self, contextFactory, wrappedFactory, *, connections_per_source, is_banned=lambda host: False):
        super().__init__(ServerConnections(contextFactory), False, wrappedFactory)
        self.connections_per_source = connections_per_source
        self.is_banned = is_banned
        self.per_source = collections.Counter()

    def buildProtocol(self, addr):
        host = getattr(addr, "host", None)
        if self.is_banned(host):
            return None  # (the ban was logged when it began)
        if self.per_source[host] >= self.connections_per_source:
            log.info("HTTPS connection refused: {count} already open from that address", count=self.per_source[host])
            return None
        protocol = super().buildProtocol(addr)
        protocol.source_host = host
        self.per_source[host] += 1
        return protocol

    def unregisterProtocol(self, protocol):
        super().unregisterProtocol(protocol)
        host = protocol.source_host
        self.per_source[host] -= 1
        if not self.per_source[host]:
            del self.per_source[host]
