"""The TLS layer of the HTTPS front: Twisted's memory-BIO TLS protocol, tuned for large uploads.

An upload arrives as TLS records of at most 16 KiB. Twisted's ``TLSMemoryBIOProtocol`` hands each record to HTTP
separately, so a 1 GiB body makes some 70,000 trips through the HTTP parser and the request. Here every record
decrypted from one socket read goes up as one string, and the socket is read in larger pieces: the same bytes in a
quarter of the calls. Everything else (handshake, shutdown, producers, errors) is Twisted's.
"""

import collections

from OpenSSL.SSL import Error, WantReadError
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from zope.interface import providedBy
from zope.interface.declarations import Provides

log = Logger()

#: Bytes read from the socket at a time (Twisted's default is 64 KiB).
SOCKET_READ_BYTES = 256 * 1024
#: Largest plaintext of one TLS record.
RECORD_BYTES = 16 * 1024


#: zope.interface caches instance declarations only weakly; Twisted's makeConnection declares the transport's
#: interfaces on every connection, and with short connections the cache is always cold (12% of the reactor's time
#: in a login storm). Kept alive here, once per (protocol class, transport class).
_DECLARATIONS = {}


class CoalescingTLSProtocol(TLSMemoryBIOProtocol):
    def makeConnection(self, transport):
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = SOCKET_READ_BYTES
        key = (type(self), type(transport))
        if key not in _DECLARATIONS:
            _DECLARATIONS[key] = [Provides(type(self), interface) for interface in providedBy(transport)]
        super().makeConnection(transport)

    def _flushReceiveBIO(self):
        received = []
        failed = False
        while not self._lostTLSConnection:
            try:
                received.append(self._tlsConnection.recv(RECORD_BYTES))
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
