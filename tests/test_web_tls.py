"""Unit tier: the HTTPS front's TLS protocol (sendemodul/web/tls.py) reads the socket in Twisted's 64 KiB until a
read fills that, and in ``SOCKET_READ_BYTES`` after (issue 25: a 256 KiB read of a few hundred bytes cost an mmap
and a munmap on a front that had not yet received a large body). Over Twisted's in-memory TLS pump."""

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.web.tls import SOCKET_READ_BYTES, CoalescingTLSFactory

TWISTED_READ_BYTES = 64 * 1024


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # twisted.test's certificate helper uses pyOpenSSL X509
class ReadSizeTests(SynchronousTestCase):
    def pair(self):
        from twisted.test.test_sslverify import makeCertificate

        key, cert = makeCertificate(O=b"sendemodul", CN=b"localhost")
        received = []

        class Sink(Protocol):
            def dataReceived(self, data):
                received.append(data)

        server_factory = CoalescingTLSFactory(
            CertificateOptions(privateKey=key, certificate=cert), Factory.forProtocol(Sink), connections_per_source=5
        )
        client_factory = TLSMemoryBIOFactory(CertificateOptions(verify=False), True, Factory.forProtocol(Protocol))
        client_factory.protocol = TLSMemoryBIOProtocol  # (Twisted's default would hold small writes for the reactor)
        server_proto = server_factory.buildProtocol(None)
        client_proto = client_factory.buildProtocol(None)
        server_io, client_io = makeFakeServer(server_proto), makeFakeClient(client_proto)
        server_io.bufferSize = TWISTED_READ_BYTES  # as tcp.Server has it
        pump = connect(server_proto, server_io, client_proto, client_io)
        return server_proto, server_io, client_proto, pump, received

    def test_small_reads_keep_twisteds_read_size(self):
        _, server_io, client, pump, received = self.pair()
        client.write(b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\n\r\n")
        pump.flush()
        self.assertEqual(b"".join(received), b"GET /api/v1/uploads HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(server_io.bufferSize, TWISTED_READ_BYTES)

    def test_a_full_read_raises_the_read_size(self):
        _, server_io, client, pump, received = self.pair()
        pump.flush()  # the handshake
        client.write(b"x" * (TWISTED_READ_BYTES + 1000))  # more than one read's worth, in one piece on the wire
        pump.flush()
        self.assertEqual(len(b"".join(received)), TWISTED_READ_BYTES + 1000)
        self.assertEqual(server_io.bufferSize, SOCKET_READ_BYTES)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
class AlpnTests(SynchronousTestCase):
    """Each connection is made by ``ServerConnections`` (no client ALPN list set on a server connection); the
    server still chooses ``http/1.1`` for a client that offers it, in the context's ALPN callback, as before."""

    def negotiated(self, offered):
        from twisted.test.test_sslverify import makeCertificate
        from twisted.web import resource, server

        key, cert = makeCertificate(O=b"sendemodul", CN=b"localhost")
        site = server.Site(resource.Resource())  # an IProtocolNegotiationFactory: http/1.1 (h2 is not installed)
        server_factory = CoalescingTLSFactory(
            CertificateOptions(privateKey=key, certificate=cert), site, connections_per_source=5
        )
        client_factory = TLSMemoryBIOFactory(
            CertificateOptions(verify=False, acceptableProtocols=offered), True, Factory.forProtocol(Protocol)
        )
        server_proto = server_factory.buildProtocol(None)
        client_proto = client_factory.buildProtocol(None)
        pump = connect(server_proto, makeFakeServer(server_proto), client_proto, makeFakeClient(client_proto))
        pump.flush()
        return server_proto.negotiatedProtocol, client_proto.negotiatedProtocol

    def test_a_client_offering_http11_gets_http11(self):
        self.assertEqual(self.negotiated([b"h2", b"http/1.1"]), (b"http/1.1", b"http/1.1"))

    def test_a_client_offering_no_alpn_gets_none(self):
        self.assertEqual(self.negotiated(None), (None, None))
