"""The AEAD and encrypt-then-MAC packet layouts (sendemodul/sftp/ciphers.py) against published vectors, and the
transport that uses them (sendemodul/sftp/_twisted.py) with a StringTransport: a flipped bit closes the
connection, strict KEX is enforced, and the Conch internals the transport leans on are still there."""

import hashlib
import hmac
import inspect
import os
import struct
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.conch.ssh import keys, transport
from twisted.conch.ssh.common import NS, getNS
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from sendemodul import _twisted
from sendemodul.sftp import ciphers

# draft-ietf-sshm-chacha20-poly1305-04, Appendix A (the packet OpenSSH sent as sequence number 7)
DRAFT_KEY = bytes.fromhex(
    "8bbff6855fc102338c373e73aac0c914f076a905b2444a32eecaffeae22becc5"
    "e9b7a7a5825a8249346ec1c28301cf394543fc7569887d76e168f37562ac0740"
)
DRAFT_PLAIN = bytes.fromhex(
    "00000048065e00000000000000384c6f72656d20697073756d20646f6c6f7220"
    "73697420616d65742c20636f6e73656374657475722061646970697369636"
    "96e6720656c69744e43e804dc6c"
)
DRAFT_SENT = bytes.fromhex(
    "2c3ecce4a5bc05895bf07a7ba956b6c68829ac7c83b780b7000ecde745afc705"
    "bbc378ce03a280236b87b53bed5839662302b164b6286a48cd1e097138e3cb90"
    "9b8b2b829dd18d2a35ff82d995349e855bf02c298ef775f2d1a7e8b8"
)
DRAFT_PAYLOAD = DRAFT_PLAIN[5:-6]  # CHANNEL_DATA, channel 0, "Lorem ipsum ..."

# McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 4 (AES-128) and 16 (AES-256)
GCM_P = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_CASES = [
    (
        "feffe9928665731c6d6a8f9467308308",
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        "5bc94fbc3221a5db94fae95ae7121a47",
    ),
    (
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
]

#: (cipher, mac) pairs of this module's layouts; the MAC is ignored with an AEAD cipher
LAYOUTS = [
    (ciphers.CHACHA20_POLY1305, ciphers.HMAC_SHA2_256_ETM),
    (ciphers.AES128_GCM, b"hmac-sha2-256"),
    (ciphers.AES256_GCM, ciphers.HMAC_SHA2_512_ETM),
    (b"aes128-ctr", ciphers.HMAC_SHA2_256_ETM),
    (b"aes256-ctr", ciphers.HMAC_SHA2_512_ETM),
]
LAYOUT_IDS = [f"{c.decode()}+{m.decode()}" for c, m in LAYOUTS]


def material(seed):
    """IV, key and integrity key for one direction, as long as Conch's _getKey makes them (4 x SHA-256)."""
    return tuple(hashlib.sha256(bytes((seed, i))).digest() * 4 for i in range(3))


def pair(cipher, mac, seed=1):
    iv, key, integ = material(seed)
    return ciphers.sealer(cipher, mac, iv, key, integ), ciphers.opener(cipher, mac, iv, key, integ)


# -- published vectors ---------------------------------------------------------------------------------------------


def test_chacha20_poly1305_seals_the_drafts_worked_example():
    """Sequence number 7, the draft's key and padding: exactly the bytes the draft says went on the wire."""
    sealer = ciphers.ChaChaPoly(DRAFT_KEY)
    sealer.random_bytes = lambda n: DRAFT_PLAIN[-n:]
    assert sealer.seal(7, DRAFT_PAYLOAD) == DRAFT_SENT


def test_chacha20_poly1305_opens_the_drafts_worked_example():
    opener = ciphers.ChaChaPoly(DRAFT_KEY)
    assert opener.open(7, DRAFT_SENT[:-1]) is None  # the tag is not all there yet
    assert opener.open(7, DRAFT_SENT + b"next packet") == (DRAFT_PAYLOAD, len(DRAFT_SENT))
    with pytest.raises(ciphers.PacketError) as e:
        opener.open(8, DRAFT_SENT)  # another sequence number: another length key and Poly1305 key
    assert e.value.code in (ciphers.DISCONNECT_MAC_ERROR, ciphers.DISCONNECT_PROTOCOL_ERROR)


def test_chacha20_stream_layout_gives_rfc8439_section_2_4_2():
    """Our 64-bit-nonce stream at block 1 equals RFC 8439's 96-bit-nonce example (counter 1, nonce 0:0:4a:0), so the
    counter and nonce sit where OpenSSH's chacha puts them."""
    key = bytes(range(32))
    plain = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
        b"sunscreen would be it."
    )
    want = bytes.fromhex(
        "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
        "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
        "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
        "5af90bbf74a35be6b40b8eedf2785e42874d"
    )
    stream = ciphers.ChaChaPoly._stream(key, 0x0000004A00000000)
    stream.update(bytes(64))  # block 0 (the Poly1305 key in SSH)
    assert stream.update(plain) == want


def test_poly1305_gives_rfc8439_section_2_5_2():
    key = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    assert Poly1305.generate_tag(key, b"Cryptographic Forum Research Group").hex() == "a8061dc1305136c6c22b8baf0c0127a9"


@pytest.mark.parametrize("key, cipher_text, tag", GCM_CASES, ids=["case4-aes128", "case16-aes256"])
def test_aes_gcm_nonce_and_primitive_give_the_gcm_spec_vectors(key, cipher_text, tag):
    """The first nonce is the derived IV itself (fixed field cafebabe, invocation counter facedbaddecaf888)."""
    gcm = ciphers.AesGcm(bytes.fromhex(key), GCM_IV)
    nonce = gcm._nonce()
    assert nonce == GCM_IV
    assert AESGCM(bytes.fromhex(key)).encrypt(nonce, GCM_P, GCM_A).hex() == cipher_text + tag
    assert gcm._nonce() == bytes.fromhex("cafebabefacedbaddecaf889")


def test_aes_gcm_packet_has_the_length_as_aad_and_a_counter_per_packet():
    key, iv = bytes(range(16)), bytes.fromhex("00000001ffffffffffffffff")
    sealer = ciphers.AesGcm(key, iv)
    first, second = sealer.seal(0, b"\x02hello"), sealer.seal(1, b"\x02again")
    for packet, nonce in ((first, iv), (second, bytes.fromhex("000000010000000000000000"))):  # the counter wraps
        length = struct.unpack(">L", packet[:4])[0]
        assert length % 16 == 0 and len(packet) == 4 + length + 16
        plain = AESGCM(key).decrypt(nonce, packet[4:], packet[:4])
        assert 4 <= plain[0] < 4 + 16 and len(plain) == length
    assert first[:4] == struct.pack(">L", 16)  # 1 + 6 + 9 padding


def test_encrypt_then_mac_packet_layout():
    """Length in the clear, AES-CTR over the rest (one keystream for the session), HMAC over seqnr||length||ct."""
    iv, key, integ = material(3)
    sealer = ciphers.sealer(b"aes128-ctr", ciphers.HMAC_SHA2_256_ETM, iv, key, integ)
    sealer.random_bytes = lambda n: bytes(n)
    ctr = Cipher(algorithms.AES(key[:16]), modes.CTR(iv[:16])).encryptor()
    for seqnr, payload in ((5, b"\x02first"), (6, b"\x02second packet")):
        packet = sealer.seal(seqnr, payload)
        pad = 16 - (1 + len(payload)) % 16
        pad += 16 if pad < 4 else 0
        head = struct.pack(">L", 1 + len(payload) + pad)
        body = ctr.update(bytes((pad,)) + payload + bytes(pad))
        mac = hmac.new(integ[:32], struct.pack(">L", seqnr) + head + body, hashlib.sha256).digest()
        assert packet == head + body + mac


# -- round trips and tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cipher, mac", LAYOUTS, ids=LAYOUT_IDS)
@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=5),
    cut=st.integers(min_value=0, max_value=100),
)
def test_packets_round_trip_and_wait_for_a_whole_packet(cipher, mac, payloads, cut):
    sealer, opener = pair(cipher, mac)
    for seqnr, payload in enumerate(payloads, start=2**32 - 2):  # the sequence number wraps at 2^32
        seqnr &= 0xFFFFFFFF
        packet = sealer.seal(seqnr, payload)
        assert opener.open(seqnr, packet[: min(cut, len(packet) - 1)]) is None
        assert opener.open(seqnr, packet + b"more") == (payload, len(packet))


@pytest.mark.parametrize("cipher, mac", LAYOUTS, ids=LAYOUT_IDS)
def test_every_flipped_bit_is_refused(cipher, mac):
    """Length, ciphertext or tag: each single flipped bit raises PacketError once enough bytes follow (a changed
    length may first wait for more), and the payload is never returned."""
    payload = b"\x5e\x00\x00\x00\x00" + NS(b"municipal statistics")
    packet = pair(cipher, mac)[0].seal(9, payload)
    tail = bytes(ciphers.MAX_PACKET_BYTES + 64)
    for bit in range(len(packet) * 8):
        tampered = bytearray(packet)
        tampered[bit // 8] ^= 1 << (bit % 8)
        opener = pair(cipher, mac)[1]
        with pytest.raises(ciphers.PacketError):
            opener.open(9, bytes(tampered) + tail)


@pytest.mark.parametrize("cipher, mac", LAYOUTS, ids=LAYOUT_IDS)
def test_a_dropped_or_reordered_packet_is_refused(cipher, mac):
    """The second packet where the first was due (the sequence number, or GCM's invocation counter, differs)."""
    sealer, opener = pair(cipher, mac)
    sealer.seal(0, b"\x02first")
    second = sealer.seal(1, b"\x02second")
    with pytest.raises(ciphers.PacketError):
        opener.open(0, second + bytes(ciphers.MAX_PACKET_BYTES))


def test_padding_is_at_least_four_bytes_and_fills_the_block():
    for block in (8, 16):
        for n in range(1, 70):
            pad = ciphers.padding_length(n, block)
            assert pad >= 4 and (1 + n + pad) % block == 0


# -- the transport -------------------------------------------------------------------------------------------------


def server_transport():
    from sendemodul.sftp.server import DropBoxSSHFactory

    clock = Clock()
    limits = SimpleNamespace(idle_timeout_seconds=600, sessions_per_unit=2, sessions_per_source=2)
    factory = DropBoxSSHFactory(None, keys.Key(ed25519.Ed25519PrivateKey.generate()), limits, clock)
    t = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    wire = StringTransport()
    t.makeConnection(wire)
    t.dataReceived(b"SSH-2.0-OpenSSH_9.2p1 test\r\n")
    return t, wire


def clear_packet(payload):
    """A packet before the first NEWKEYS (no cipher, block size 8)."""
    pad = 8 - (5 + len(payload)) % 8
    pad += 8 if pad < 4 else 0
    return struct.pack(">LB", 1 + len(payload) + pad, pad) + payload + bytes(pad)


def kexinit(kex=(b"curve25519-sha256", _twisted.KEX_STRICT_CLIENT)):
    lists = [
        b",".join(kex),
        b"ssh-ed25519",
        b"aes128-ctr",
        b"aes128-ctr",
        b"hmac-sha2-256",
        b"hmac-sha2-256",
        b"none",
        b"none",
        b"",
        b"",
    ]
    return bytes((transport.MSG_KEXINIT,)) + os.urandom(16) + b"".join(NS(s) for s in lists) + b"\0" * 5


def parse_kexinit(data):
    """The name-lists of the server's first KEXINIT in the clear bytes after its version line."""
    packet = data.split(b"\r\n", 1)[1]
    length, pad = struct.unpack(">LB", packet[:5])
    payload = packet[5 : 4 + length - pad]
    assert payload[0] == transport.MSG_KEXINIT
    names, rest = [], payload[17:]
    for _ in range(10):
        value, rest = getNS(rest)
        names.append(value.split(b","))
    return names


@pytest.mark.parametrize("cipher, mac", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("where", ["length", "ciphertext", "tag"])
def test_a_flipped_bit_on_the_wire_closes_the_connection(cipher, mac, where):
    """With the negotiated keys in place, a good packet is taken and a packet with one flipped bit (in its length,
    its ciphertext or its tag/MAC) closes the connection with a DISCONNECT sealed under the server's keys."""
    t, wire = server_transport()
    c2s, s2c = material(11), material(12)
    enc = _twisted.PacketCiphers(cipher, cipher, mac, mac)
    enc.setKeys(s2c[0], s2c[1], c2s[0], c2s[1], s2c[2], c2s[2])
    t.currentEncryptions = enc
    client = ciphers.sealer(cipher, mac, *c2s)
    replies = ciphers.opener(cipher, mac, *s2c)
    ignore = bytes((transport.MSG_IGNORE,)) + NS(b"x" * 100)
    wire.clear()
    out_seqnr = t.outgoingPacketSequence  # after the clear KEXINIT
    t.dataReceived(client.seal(0, ignore))
    assert not wire.disconnecting and t.incomingPacketSequence == 1
    bad = bytearray(client.seal(1, ignore))
    tag_bytes = 16 if cipher in ciphers.AEAD_CIPHERS else ciphers.ETM_MACS[mac][1]
    index = {"length": 2, "ciphertext": 4 + 20, "tag": len(bad) - tag_bytes + 3}[where]
    bad[index] ^= 0x10
    t.dataReceived(bytes(bad))
    if not wire.disconnecting:  # a grown length waits for more bytes: the next packet then fails the tag
        t.dataReceived(bytes(ciphers.MAX_PACKET_BYTES + 64))
    assert wire.disconnecting
    payload, _ = replies.open(out_seqnr, wire.value())
    assert payload[0] == transport.MSG_DISCONNECT
    code = struct.unpack(">L", payload[1:5])[0]
    assert code in (transport.DISCONNECT_MAC_ERROR, transport.DISCONNECT_PROTOCOL_ERROR)
    t.dataReceived(client.seal(2, ignore))  # nothing after the refusal is looked at
    assert t.buf == b""


def test_the_first_kexinit_offers_strict_kex_and_the_aead_ciphers_first():
    t, wire = server_transport()
    kex, _hostkeys, enc_cs, enc_sc, mac_cs, mac_sc = parse_kexinit(wire.value())[:6]
    assert _twisted.KEX_STRICT_SERVER in kex and b"ext-info-s" in kex
    assert (
        enc_cs
        == enc_sc
        == [
            b"chacha20-poly1305@openssh.com",
            b"aes128-gcm@openssh.com",
            b"aes256-gcm@openssh.com",
            b"aes256-ctr",
            b"aes192-ctr",
            b"aes128-ctr",
        ]
    )
    assert (
        mac_cs
        == mac_sc
        == [b"hmac-sha2-256-etm@openssh.com", b"hmac-sha2-512-etm@openssh.com", b"hmac-sha2-256", b"hmac-sha2-512"]
    )
    assert _twisted.KEX_STRICT_SERVER not in t.supportedKeyExchanges  # never negotiated as a method


def test_strict_kex_refuses_a_packet_before_kexinit():
    """Terrapin's injected IGNORE: with the client's strict-KEX marker, KEXINIT must be its first packet."""
    t, wire = server_transport()
    t.dataReceived(clear_packet(bytes((transport.MSG_IGNORE,)) + NS(b"")) + clear_packet(kexinit()))
    assert wire.disconnecting and b"strict KEX violation" in wire.value()


def test_strict_kex_refuses_other_messages_before_the_first_newkeys():
    t, wire = server_transport()
    t.dataReceived(clear_packet(kexinit()))
    assert t.strict_kex and not wire.disconnecting
    t.dataReceived(clear_packet(bytes((transport.MSG_IGNORE,)) + NS(b"")))
    assert wire.disconnecting and b"strict KEX violation" in wire.value()


def test_without_the_clients_marker_kex_is_not_strict():
    t, wire = server_transport()
    t.dataReceived(
        clear_packet(bytes((transport.MSG_IGNORE,)) + NS(b"")) + clear_packet(kexinit(kex=(b"curve25519-sha256",)))
    )
    t.dataReceived(clear_packet(bytes((transport.MSG_IGNORE,)) + NS(b"")))
    assert not t.strict_kex and not wire.disconnecting


def test_negotiation_installs_packet_ciphers_for_the_next_keys():
    t, _wire = server_transport()
    t.dataReceived(clear_packet(kexinit()))
    assert isinstance(t.nextEncryptions, _twisted.PacketCiphers)
    assert t.nextEncryptions.outCipType == b"aes128-ctr" and t.nextEncryptions.outMACType == b"hmac-sha2-256"


def test_a_classic_direction_is_still_set_up_by_conch():
    """Encrypt-and-MAC one way, chacha20-poly1305 the other: Conch's own cipher and MAC for the first."""
    enc = _twisted.PacketCiphers(b"aes128-ctr", ciphers.CHACHA20_POLY1305, b"hmac-sha2-256", b"hmac-sha2-256")
    iv, key, integ = material(4)
    enc.setKeys(iv, key, iv, key, integ, integ)
    assert enc.sealer is None and enc.opener is not None
    assert enc.encBlockSize == 16 and enc.outMAC[3] == 32 and enc.verifyDigestSize == 0
    assert (enc.outCipType, enc.inCipType) == (b"aes128-ctr", ciphers.CHACHA20_POLY1305)


def test_the_conch_internals_the_transport_leans_on_are_still_there():
    """Fails when Twisted renames or reshapes one of the private names _twisted.py relies on."""
    base = transport.SSHTransportBase
    for name in (
        "_keyExchangeState",
        "_KEY_EXCHANGE_NONE",
        "_allowedKeyExchangeMessageType",
        "buf",
        "incomingPacketSequence",
        "outgoingPacketSequence",
        "incomingCompression",
        "outgoingCompression",
        "sessionID",
        "supportedKeyExchanges",
        "sendExtInfo",
        "sendKexInit",
        "dispatchMessage",
    ):
        assert hasattr(base, name), name
    assert list(inspect.signature(transport.SSHCiphers.setKeys).parameters) == [
        "self",
        "outIV",
        "outKey",
        "inIV",
        "inKey",
        "outInteg",
        "inInteg",
    ]
    assert list(inspect.signature(transport.SSHCiphers.__init__).parameters) == [
        "self",
        "outCip",
        "inCip",
        "outMac",
        "inMac",
    ]
    kexinit_source = inspect.getsource(base.ssh_KEXINIT)
    assert "self.nextEncryptions = SSHCiphers(" in kexinit_source
    assert "self.nextEncryptions.setKeys(outs[0], outs[1], ins[0], ins[1], outs[2], ins[2])" in inspect.getsource(
        base._keySetup
    )
    assert 'NS(b",".join(supportedKeyExchanges))' in inspect.getsource(base.sendKexInit)
    assert 'b"server-sig-algs"' in inspect.getsource(transport.SSHServerTransport._keySetup)
    assert "self.incomingPacketSequence += 1" in inspect.getsource(base.getPacket)
    assert "self._newKeys()" in inspect.getsource(transport.SSHServerTransport.ssh_NEWKEYS)


def test_with_aead_both_ways_the_clients_macs_do_not_matter():
    """The MAC lists are ignored with an AEAD cipher: a client offering only a MAC we lack still gets in."""
    t, wire = server_transport()
    lists = [
        b"curve25519-sha256",
        b"ssh-ed25519",
        b"chacha20-poly1305@openssh.com",
        b"chacha20-poly1305@openssh.com",
        b"umac-64@openssh.com",
        b"umac-64@openssh.com",
        b"none",
        b"none",
        b"",
        b"",
    ]
    t.dataReceived(
        clear_packet(bytes((transport.MSG_KEXINIT,)) + os.urandom(16) + b"".join(NS(s) for s in lists) + b"\0" * 5)
    )
    assert not wire.disconnecting
    assert t.nextEncryptions.outCipType == ciphers.CHACHA20_POLY1305
    assert b"umac-64@openssh.com" not in t.supportedMACs


def test_without_aead_a_common_mac_is_still_required():
    t, wire = server_transport()
    lists = [
        b"curve25519-sha256",
        b"ssh-ed25519",
        b"aes128-ctr",
        b"aes128-ctr",
        b"hmac-sha1",
        b"hmac-sha1",
        b"none",
        b"none",
        b"",
        b"",
    ]
    t.dataReceived(
        clear_packet(bytes((transport.MSG_KEXINIT,)) + os.urandom(16) + b"".join(NS(s) for s in lists) + b"\0" * 5)
    )
    assert wire.disconnecting


def test_padding_comes_from_a_refilled_random_pool():
    pool = ciphers._RandomPool(size=64)
    taken = [pool(n) for n in (4, 20, 8, 40, 16, 4)]  # crosses a refill
    assert [len(t) for t in taken] == [4, 20, 8, 40, 16, 4]
    assert len(set(taken[:2] + taken[3:4])) == 3 and pool(100) and len(pool(100)) == 100


# -- the transport's own packet loop: packets cut anywhere, CHANNEL_DATA straight to the connection ---------------


@pytest.mark.parametrize("cipher, mac", LAYOUTS, ids=LAYOUT_IDS)
def test_packet_size_is_what_the_packet_takes_on_the_wire(cipher, mac):
    sealer, opener = pair(cipher, mac)
    packet = sealer.seal(3, b"\x5e" + bytes(1000))
    assert opener.packet_size(3, packet[:3]) is None
    assert opener.packet_size(3, packet[:4]) == len(packet)
    assert opener.open(3, memoryview(b"xx" + packet + b"yy")[2:]) == (b"\x5e" + bytes(1000), len(packet))


def keyed_transport(cipher, mac):
    """The server transport with keys in place, logged in to a DataConnection with one channel that records what
    it is given: (transport, wire, the client's sealer, what the channel got)."""
    from twisted.conch.ssh import channel as ssh_channel

    t, wire = server_transport()
    c2s, s2c = material(21), material(22)
    enc = _twisted.PacketCiphers(cipher, cipher, mac, mac)
    enc.setKeys(s2c[0], s2c[1], c2s[0], c2s[1], s2c[2], c2s[2])
    t.currentEncryptions = enc
    t.incomingPacketSequence = 0
    got = []

    class Recording(ssh_channel.SSHChannel):
        def dataReceived(self, data):
            got.append(data)

        def eofReceived(self):
            got.append("eof")

    conn = _twisted.DataConnection()
    conn.transport = t
    t.service = conn
    chan = Recording(localWindow=1 << 20, localMaxPacket=1 << 16, conn=conn)
    chan.id = 0
    conn.channels[0] = chan
    conn.channelsToRemoteChannel[chan] = 5
    conn.localToRemoteChannel[0] = 5
    wire.clear()
    return t, wire, ciphers.sealer(cipher, mac, *c2s), got


def channel_data(data, declared=None):
    return bytes((94,)) + struct.pack(">2L", 0, len(data) if declared is None else declared) + data


@pytest.mark.parametrize("cipher, mac", LAYOUTS, ids=LAYOUT_IDS)
@settings(max_examples=15, deadline=None)
@given(reads=st.lists(st.integers(min_value=1, max_value=70_000), min_size=1, max_size=12))
def test_packets_cut_anywhere_across_reads_arrive_whole_and_in_order(cipher, mac, reads):
    """However the reads cut the packets (inside the length, the packet or the tag, several packets in one read),
    every packet is opened once, in order: CHANNEL_DATA reaches the channel (by the fast path, or by Conch's
    dispatch when its declared length is not the data's), other messages go through dispatchMessage."""
    t, wire, client, got = keyed_transport(cipher, mac)
    sizes = [0, 1, 3, 4, 100, 32_768, 40_000, 7]
    messages = [channel_data(os.urandom(n)) for n in sizes]
    messages.insert(2, bytes((transport.MSG_IGNORE,)) + NS(b"between"))
    messages.insert(5, channel_data(b"declared longer", declared=100))  # Conch cuts it: getNS takes what is there
    messages.append(bytes((96,)) + struct.pack(">L", 0))  # CHANNEL_EOF
    stream = b"".join(client.seal(n, m) for n, m in enumerate(messages))
    at = i = 0
    while at < len(stream):
        t.dataReceived(stream[at : at + reads[i % len(reads)]])
        at += reads[i % len(reads)]
        i += 1
    expected = [m[9:] for m in messages if m[0] == 94] + ["eof"]
    assert got == expected
    assert t.incomingPacketSequence == len(messages) and not wire.disconnecting and t.buf == b""


@pytest.mark.parametrize("cipher, mac", LAYOUTS[:2], ids=LAYOUT_IDS[:2])
def test_packets_after_new_keys_in_the_same_read_are_opened_with_the_new_keys(cipher, mac):
    t, wire, client, got = keyed_transport(cipher, mac)
    c2s = material(23)
    renewed = _twisted.PacketCiphers(ciphers.AES256_GCM, ciphers.AES256_GCM, b"none", b"none")
    renewed.setKeys(*material(24)[:2], *c2s[:2], material(24)[2], c2s[2])
    t.ssh_IGNORE = lambda payload: setattr(t, "currentEncryptions", renewed)  # as ssh_NEWKEYS would
    newer = ciphers.sealer(ciphers.AES256_GCM, b"none", *c2s)
    stream = client.seal(0, channel_data(b"old keys")) + client.seal(1, bytes((transport.MSG_IGNORE,)) + NS(b""))
    stream += newer.seal(2, channel_data(b"new keys")) + newer.seal(3, channel_data(b"x" * 5000))
    t.dataReceived(stream[:-100])
    t.dataReceived(stream[-100:])
    assert got == [b"old keys", b"new keys", b"x" * 5000] and not wire.disconnecting


def test_channel_data_over_the_window_closes_the_channel_as_conch_does():
    t, _wire, client, got = keyed_transport(ciphers.AES128_GCM, b"none")
    t.dataReceived(client.seal(0, channel_data(bytes(70_000))))  # over localMaxPacket (64 KiB)
    assert got == [] and t.service.channels[0].localClosed


@pytest.mark.parametrize(
    "cipher, mac, read_bytes",
    [
        (ciphers.AES128_GCM, b"none", 1024 * 1024),
        (ciphers.CHACHA20_POLY1305, b"none", 1024 * 1024),
        (b"aes128-ctr", ciphers.HMAC_SHA2_256_ETM, 1024 * 1024),
        (b"aes128-ctr", b"hmac-sha2-256", 256 * 1024),  # Conch frames these: it copies the rest of a read per packet
    ],
)
def test_new_keys_set_the_socket_read_size_for_who_frames_the_packets(cipher, mac, read_bytes):
    from sendemodul.sftp import server as sftp_server

    t, wire = server_transport()
    wire.bufferSize = sftp_server.SOCKET_READ_BYTES  # (as DropBoxTransport.connectionMade left it on a TCP transport)
    c2s, s2c = material(31), material(32)
    t.nextEncryptions = _twisted.PacketCiphers(cipher, cipher, mac, mac)
    t.nextEncryptions.setKeys(s2c[0], s2c[1], c2s[0], c2s[1], s2c[2], c2s[2])
    t.kexAlg, t.keyAlg, t._blockedByKeyExchange = b"curve25519-sha256", b"ssh-ed25519", []
    t.outgoingCompressionType = t.incomingCompressionType = b"none"
    t.ssh_NEWKEYS(b"")
    assert t.currentEncryptions is t.nextEncryptions
    assert wire.bufferSize == read_bytes
    assert (sftp_server.SOCKET_READ_BYTES, sftp_server.OPENED_READ_BYTES) == (256 * 1024, 1024 * 1024)
