"""The TLS layer of the HTTPS front: Twisted's memory-BIO TLS protocol, tuned for large uploads.

An upload arrives as TLS records of at most 16 KiB. Twisted's ``TLSMemoryBIOProtocol`` hands each record to HTTP
separately, so a 1 GiB body makes some 70,000 trips through the HTTP parser and the request. Here every record
decrypted from one socket read goes up as one string (``_twisted.CoalescingTLSMemoryBIOProtocol``), and the socket
is read in larger pieces: the same bytes in a quarter of the calls. Everything else (handshake, shutdown,
producers, errors) is Twisted's.
"""

import collections

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from sendemodul._twisted import CoalescingTLSMemoryBIOProtocol

log = Logger()

#: Bytes read from the socket at a time (Twisted's default is 64 KiB).
SOCKET_READ_BYTES = 256 * 1024


class ServerTLSOptions(ssl.CertificateOptions):
    """Twisted's ``CertificateOptions``, making each server connection without a call that does nothing there.

    Twisted's ``serverConnectionForTLS`` adapts the wrapped factory (our ``Site``) to ``IProtocolNegotiationFactory``
    on every connection and hands the Site's protocols to ``Connection.set_alpn_protos``: the list a *client* offers
    in its ClientHello, which OpenSSL does not use on the accepting side. The server's ALPN answer comes from the
    callback Twisted sets on every context (``setupForALPN``), which asks the Site during the handshake, and only
    when the client offers ALPN; that stays as it was. The call cost about 3 % of a refused login's CPU in a storm
    (docs/performance.md, the storm, round seven); tests/test_web_tls.py checks that clients offering ALPN get the
    same answer as from Twisted's own options."""

    def serverConnectionForTLS(self, protocol):
        return SSL.Connection(self.getContext())


class CoalescingTLSProtocol(CoalescingTLSMemoryBIOProtocol):
    def makeConnection(self, transport):
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = SOCKET_READ_BYTES
        super().makeConnection(transport)


class CoalescingTLSFactory(TLSMemoryBIOFactory):
    """Wraps ``wrappedFactory`` (the Site) in server-side TLS with :class:`CoalescingTLSProtocol`.

    At most ``connections_per_source`` connections from one address are open at once, and none from an address
    that ``is_banned`` (too many failed logins): such a connection is closed as soon as it is accepted, before any
    TLS work is spent on it, so an attacker that has been banned costs next to nothing."""

    protocol = CoalescingTLSProtocol

    def __init__(self, contextFactory, wrappedFactory, *, connections_per_source, is_banned=lambda host: False):
        super().__init__(contextFactory, False, wrappedFactory)
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
