"""The TLS layer of the HTTPS front: Twisted's memory-BIO TLS protocol, tuned for large uploads.

An upload arrives as TLS records of at most 16 KiB. Twisted's ``TLSMemoryBIOProtocol`` hands each record to HTTP
separately, so a 1 GiB body makes some 70,000 trips through the HTTP parser and the request. Here every record
decrypted from one socket read goes up as one string, and the socket is read in larger pieces: the same bytes in a
quarter of the calls. Everything else (handshake, shutdown, producers, errors) is Twisted's.
"""

from OpenSSL.SSL import Error, WantReadError
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol

#: Bytes read from the socket at a time (Twisted's default is 64 KiB).
SOCKET_READ_BYTES = 256 * 1024
#: Largest plaintext of one TLS record.
RECORD_BYTES = 16 * 1024


class CoalescingTLSProtocol(TLSMemoryBIOProtocol):
    def makeConnection(self, transport):
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = SOCKET_READ_BYTES
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
    """Wraps ``wrappedFactory`` (the Site) in server-side TLS with :class:`CoalescingTLSProtocol`."""

    protocol = CoalescingTLSProtocol

    def __init__(self, contextFactory, wrappedFactory):
        super().__init__(contextFactory, False, wrappedFactory)
