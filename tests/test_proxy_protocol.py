"""The PROXY protocol header, read before the front's protocol is built (sendemodul/proxy_protocol.py)."""

import ipaddress
import struct

import pytest
from twisted.internet import address, protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from sendemodul import proxy_protocol as pp


def v2(src="192.0.2.7", dst="127.0.0.1", sport=40000, dport=8443, command=1):
    ip_src, ip_dst = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    family = 0x11 if ip_src.version == 4 else 0x21
    body = ip_src.packed + ip_dst.packed + struct.pack("!HH", sport, dport)
    return pp.V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def test_v2_ipv4_and_ipv6_headers_give_the_clients_address_and_the_rest():
    src, dst, rest = pp.parse(v2() + b"SSH-2.0-x")
    assert (src, dst, rest) == (
        address.IPv4Address("TCP", "192.0.2.7", 40000),
        address.IPv4Address("TCP", "127.0.0.1", 8443),
        b"SSH-2.0-x",
    )
    src, _, rest = pp.parse(v2("2001:db8::7", "::1"))
    assert src == address.IPv6Address("TCP", "2001:db8::7", 40000) and rest == b""


def test_v1_header_and_a_local_v2_health_check():
    assert pp.parse(b"PROXY TCP4 198.51.100.2 127.0.0.1 5555 8022\r\nhello")[0::2] == (
        address.IPv4Address("TCP", "198.51.100.2", 5555),
        b"hello",
    )
    assert pp.parse(b"PROXY UNKNOWN\r\n") == (None, None, b"")
    assert pp.parse(v2(command=0)) == (None, None, b"")


def test_a_header_in_pieces_needs_more_until_whole():
    header = v2()
    for cut in (1, 5, 12, 15, 20, len(header) - 1):
        assert pp.parse(header[:cut]) is None
    assert pp.parse(b"PROXY TCP4 198.51") is None


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n", b"SSH-2.0-OpenSSH\r\n", b"PROXY TCP4 x y 1 2\r\n", b"PROXY " + b"1" * 120],
)
def test_anything_else_is_refused(data):
    with pytest.raises(pp.BadHeader):
        pp.parse(data)


class Recorder(protocol.Protocol):
    def __init__(self, addr):
        self.addr = addr
        self.data = b""

    def dataReceived(self, data):
        self.data += data


class Front(protocol.Factory):
    """Refuses a banned address at buildProtocol, as the HTTPS and SFTP fronts do."""

    def __init__(self, banned=()):
        self.banned = set(banned)
        self.built = []

    def buildProtocol(self, addr):
        if addr.host in self.banned:
            return None
        p = Recorder(addr)
        self.built.append(p)
        return p


def connect(front, clock):
    factory = pp.ProxyHeaderFactory(front, clock)
    proto = factory.buildProtocol(address.IPv4Address("TCP", "127.0.0.1", 50000))
    transport = StringTransport(peerAddress=address.IPv4Address("TCP", "127.0.0.1", 50000))
    proto.makeConnection(transport)
    return proto, transport


def test_the_front_builds_its_protocol_for_the_client_once_the_header_is_read():
    front, clock = Front(), Clock()
    proto, transport = connect(front, clock)
    assert front.built == []  # nothing is built with the balancer's address
    header = v2()
    proto.dataReceived(header[:10])
    proto.dataReceived(header[10:] + b"first bytes")
    (built,) = front.built
    assert built.addr.host == "192.0.2.7" and built.transport.getPeer().host == "192.0.2.7"
    assert built.data == b"first bytes"
    proto.dataReceived(b" more")
    assert built.data == b"first bytes more" and not transport.disconnecting
    clock.advance(pp.HEADER_TIMEOUT_SECONDS * 2)
    assert not transport.disconnecting


def test_a_banned_client_behind_the_balancer_is_refused_by_its_own_address():
    front, clock = Front(banned={"192.0.2.7"}), Clock()
    proto, transport = connect(front, clock)
    proto.dataReceived(v2())
    assert front.built == [] and transport.disconnecting
    proto2, transport2 = connect(front, clock)
    proto2.dataReceived(v2(src="192.0.2.8"))
    assert [p.addr.host for p in front.built] == ["192.0.2.8"] and not transport2.disconnecting


def test_no_header_or_a_bad_one_closes_the_connection():
    front, clock = Front(), Clock()
    proto, transport = connect(front, clock)
    proto.dataReceived(b"GET / HTTP/1.1\r\n")
    assert transport.disconnecting and front.built == []
    _proto, silent = connect(front, clock)
    clock.advance(pp.HEADER_TIMEOUT_SECONDS)
    assert silent.disconnecting


def test_the_read_size_a_front_sets_through_the_wrapper_reaches_the_socket_transport():
    """The HTTPS and SFTP fronts set ``bufferSize`` on their transport, which behind HAProxy is the wrapper: it must
    land on the TCP transport below (a plain attribute set on the wrapper would read nothing), and where the
    transport below has none, the wrapper has none either (the fronts test with ``hasattr``)."""
    front, clock = Front(), Clock()
    proto, transport = connect(front, clock)
    transport.bufferSize = 65536  # as a tcp.Server has
    proto.dataReceived(v2())
    (built,) = front.built
    assert hasattr(built.transport, "bufferSize") and built.transport.bufferSize == 65536
    built.transport.bufferSize = 1 << 20
    assert transport.bufferSize == 1 << 20 and "bufferSize" not in vars(proto)
    bare, _ = connect(Front(), Clock())  # a StringTransport has no bufferSize
    assert not hasattr(bare, "bufferSize")
