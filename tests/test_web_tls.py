"""Unit tier: the HTTPS front's TLS options (sendemodul/web/tls.py ``ServerTLSOptions``, made by
``web.site.tls_options``): each connection is made without Twisted's per-connection ``set_alpn_protos``, which on the
accepting side does nothing; a client offering ALPN gets the same answer as from Twisted's own options (chosen by the
context's ALPN callback, which asks the Site during the handshake)."""

import pytest
from support.fakes import web_app
from twisted.internet import ssl
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from sendemodul.home import self_signed_certificate
from sendemodul.web.site import Site, tls_options
from sendemodul.web.tls import ServerTLSOptions


@pytest.fixture(scope="module")
def cert_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    path.write_bytes(self_signed_certificate())
    return path


def negotiated(server_options, offered=(b"h2", b"http/1.1")):
    """Whether the handshake completes, and the protocol a client offering ``offered`` by ALPN gets from a server
    with ``server_options`` in front of our Site (which declares its protocols to Twisted)."""
    clock = Clock()
    site = Site(web_app(clock), clock)
    server_factory = TLSMemoryBIOFactory(server_options, False, site)
    client_factory = TLSMemoryBIOFactory(
        ssl.CertificateOptions(verify=False, acceptableProtocols=list(offered)), True, Factory.forProtocol(Protocol)
    )
    server = server_factory.buildProtocol(None)
    client = client_factory.buildProtocol(None)
    pump = connect(server, makeFakeServer(server), client, makeFakeClient(client))
    pump.flush()
    if not (server._handshakeDone and client._handshakeDone):
        return "no handshake"
    assert server.negotiatedProtocol == client.negotiatedProtocol
    return client.negotiatedProtocol


def twisteds_options(cert_path, **kw):
    loaded = ssl.PrivateCertificate.loadPEM(cert_path.read_bytes())
    return ssl.CertificateOptions(privateKey=loaded.privateKey.original, certificate=loaded.original, **kw)


def test_the_front_makes_its_connections_with_our_options(cert_path):
    assert isinstance(tls_options(cert_path), ServerTLSOptions)


def test_a_client_offering_alpn_gets_the_answer_twisteds_options_give(cert_path):
    """Twisted's options also hand the Site's protocols to ``set_alpn_protos`` on each connection; ours do not."""
    clock = Clock()
    assert b"http/1.1" in Site(web_app(clock), clock).acceptableProtocols()  # what the callback answers from
    for offered in ((b"h2", b"http/1.1"), (b"http/1.1",), (b"h2",), ()):
        theirs = negotiated(twisteds_options(cert_path), offered)
        assert negotiated(tls_options(cert_path), offered) == theirs, offered
        if offered != (b"h2",):  # (no common protocol: whatever Twisted's answer is, ours is the same)
            assert theirs == (b"http/1.1" if offered else None), offered


def test_the_site_answers_http_1_1_to_alpn_even_where_h2_is_importable(cert_path, monkeypatch):
    """Twisted's Site would offer ``h2`` first once the ``h2`` package is installed; our Channel speaks HTTP/1.1
    only, so a client preferring ``h2`` must still get ``http/1.1``."""
    from twisted.web import http

    monkeypatch.setattr(http, "H2_ENABLED", True)
    clock = Clock()
    assert Site(web_app(clock), clock).acceptableProtocols() == [b"http/1.1"]
    assert negotiated(tls_options(cert_path), (b"h2", b"http/1.1")) == b"http/1.1"
    assert negotiated(tls_options(cert_path), (b"h2",)) != b"h2"
