"""SSH binary packets with the AEAD ciphers and the encrypt-then-MAC MACs that OpenSSH prefers (pure: no reactor).

Twisted Conch 26.10 knows only encrypt-and-MAC (the MAC over the plaintext packet, the length encrypted with the
rest). The layouts here keep the 4-byte packet length out of the main cipher and authenticate ciphertext:

``chacha20-poly1305@openssh.com`` (OpenSSH PROTOCOL.chacha20poly1305, draft-ietf-sshm-chacha20-poly1305):
  64 bytes of key; ``K_2`` (the first 32) encrypts the packet from ChaCha20 block 1 and its block 0 is the one-time
  Poly1305 key; ``K_1`` (the last 32) encrypts only the length. The nonce is the sequence number as a big-endian
  uint64; the tag covers the encrypted length and the encrypted packet and is checked before anything is decrypted.
``aes128-gcm@openssh.com``, ``aes256-gcm@openssh.com`` (RFC 5647 as OpenSSH implements it):
  the length in the clear as the additional data, a 12-byte nonce = 4 fixed bytes of the derived IV + an 8-byte
  invocation counter (from the IV's last 8 bytes, +1 per packet), a 16-byte tag; no MAC is negotiated.
``hmac-sha2-256-etm@openssh.com``, ``hmac-sha2-512-etm@openssh.com`` with ``aes*-ctr`` (OpenSSH PROTOCOL 1.5):
  the length in the clear, the rest encrypted, the MAC over ``uint32 seqnr || uint32 length || ciphertext``.

In all three the padding makes ``padding_length || payload || padding`` (the length field left out) a multiple of
the cipher's block size (8 for ChaCha20, 16 for AES), with at least 4 bytes of padding.

A :class:`Sealer` turns (sequence number, payload) into the bytes for the wire; an :class:`Opener` takes one packet
from the front of a receive buffer, or says that more bytes are needed, or raises :class:`PacketError`. The
transport takes each payload as a view of the decryption's own output (:meth:`Opener.open_view`) and hands the data
of a ``CHANNEL_DATA`` on as a slice of it, without a copy: with 32 KiB packets from OpenSSH a GiB is 32,768
packets, and every extra copy of every byte cost the reactor about 0.1 s per GiB (profiled with ``perf`` during
``scripts/bench --only sftp``).
"""

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

CHACHA20_POLY1305 = b"chacha20-poly1305@openssh.com"
AES128_GCM = b"aes128-gcm@openssh.com"
AES256_GCM = b"aes256-gcm@openssh.com"
HMAC_SHA2_256_ETM = b"hmac-sha2-256-etm@openssh.com"
HMAC_SHA2_512_ETM = b"hmac-sha2-512-etm@openssh.com"

#: AEAD cipher -> key bytes. With one of these the negotiated MAC is not used ("<implicit>" in OpenSSH's words).
AEAD_CIPHERS = {CHACHA20_POLY1305: 64, AES128_GCM: 16, AES256_GCM: 32}
#: encrypt-then-MAC MAC -> (hash, key and tag bytes)
ETM_MACS = {HMAC_SHA2_256_ETM: (hashlib.sha256, 32), HMAC_SHA2_512_ETM: (hashlib.sha512, 64)}
#: ciphers an encrypt-then-MAC MAC may be paired with -> key bytes
ETM_CIPHERS = {b"aes128-ctr": 16, b"aes192-ctr": 24, b"aes256-ctr": 32}

#: Conch's own bound on ``packet_length`` (OpenSSH's is 256 KiB).
MAX_PACKET_BYTES = 1024 * 1024
MIN_PADDING = 4
TAG_BYTES = 16

DISCONNECT_PROTOCOL_ERROR = 2
DISCONNECT_MAC_ERROR = 5

_LENGTH = struct.Struct(">L")
_ZERO_BLOCK = bytes(64)


class PacketError(Exception):
    """A received packet is refused: the connection must be closed with ``code`` (an SSH disconnect reason)."""

    def __init__(self, reason, code=DISCONNECT_PROTOCOL_ERROR):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def is_ours(cipher, mac):
    """True when the packets of (cipher, mac) use a layout of this module rather than Conch's encrypt-and-MAC."""
    return cipher in AEAD_CIPHERS or (cipher in ETM_CIPHERS and mac in ETM_MACS)


def sealer(cipher, mac, iv, key, integrity_key):
    """A :class:`Sealer` for outgoing packets, from the key-exchange output for this direction (RFC 4253 7.2)."""
    return _make(cipher, mac, iv, key, integrity_key, out=True)


def opener(cipher, mac, iv, key, integrity_key):
    """An :class:`Opener` for incoming packets, from the key-exchange output for this direction."""
    return _make(cipher, mac, iv, key, integrity_key, out=False)


def _make(cipher, mac, iv, key, integrity_key, *, out):
    if cipher == CHACHA20_POLY1305:
        return ChaChaPoly(key)
    if cipher in (AES128_GCM, AES256_GCM):
        return AesGcm(key[: AEAD_CIPHERS[cipher]], iv)
    if cipher in ETM_CIPHERS and mac in ETM_MACS:
        return EncryptThenMac(cipher, mac, iv, key, integrity_key, out=out)
    raise ValueError(f"not an AEAD cipher or an encrypt-then-MAC pair: {cipher!r} {mac!r}")


def padding_length(payload_bytes, block_size):
    """Padding so that ``1 + payload + padding`` is a multiple of ``block_size``, at least 4 bytes."""
    pad = block_size - (1 + payload_bytes) % block_size
    return pad + block_size if pad < MIN_PADDING else pad


def _check_length(length, block_size):
    if length > MAX_PACKET_BYTES or length < block_size or length % block_size:
        raise PacketError(b"bad packet length %d" % length)


def _check_padding(pad, length):
    if pad < MIN_PADDING or pad > length - 2:  # at least the message number is left
        raise PacketError(b"bad padding length %d" % pad)


def _unpad(plain, length):
    """``padding_length || payload || padding`` -> payload, checking the padding length."""
    _check_padding(plain[0], length)
    return plain[1 : length - plain[0]]


def _decrypt_payload(ctx, view, end, length):
    """With a stream cipher, decrypt the packet after its length field in one call, and return the payload as a view
    of the output (the padding length checked; one call instead of three costs a ChaCha20 packet about 3 us less,
    and the view is all the transport hands on)."""
    return _unpad(memoryview(ctx.update(view[4:end])), length)


class _RandomPool:
    """Random padding from a pool refilled 4 KiB at a time: ``os.urandom`` releases the GIL, and taking it back
    while the spool's threads run cost the reactor about 1 ms per packet sent (profiled during an upload)."""

    def __init__(self, size=4096):
        self.size = size
        self.pool = b""
        self.at = 0

    def __call__(self, n):
        if self.at + n > len(self.pool):
            self.pool, self.at = os.urandom(max(self.size, n)), 0
        self.at += n
        return self.pool[self.at - n : self.at]


class Sealer:
    """Outgoing packets: ``seal(seqnr, payload) -> bytes`` for the wire (padding included)."""

    block_size = 16

    def __init__(self):
        #: where the random padding comes from (a test pins it to reproduce a published packet)
        self.random_bytes = _RandomPool()

    def _body(self, payload):
        pad = padding_length(len(payload), self.block_size)
        return _LENGTH.pack(1 + len(payload) + pad), bytes((pad,)) + payload + self.random_bytes(pad)


class Opener:
    """Incoming packets: ``open(seqnr, buf) -> (payload, bytes used)``, or None until ``buf`` holds a whole
    packet; raises :class:`PacketError` for a packet that must close the connection."""

    def open(self, seqnr, buf):
        got = self.open_view(seqnr, buf)
        return None if got is None else (bytes(got[0]), got[1])

    def packet_size(self, seqnr, buf):
        """The bytes on the wire of the packet that ``buf`` begins (length field, packet and tag/MAC), or None while
        ``buf`` holds fewer than 4 bytes; raises :class:`PacketError` for a length to refuse."""
        if len(buf) < 4:
            return None
        length = _LENGTH.unpack_from(buf)[0]
        _check_length(length, self.block_size)
        return 4 + length + self.tag_bytes

    def open_view(self, seqnr, buf):
        """As :meth:`open`, but the payload is a ``memoryview`` over bytes made for this packet alone (the
        decryption's output, never ``buf`` and never reused), so the transport may hand slices of it on without
        copying them. ``buf`` itself is not referred to once this returns."""
        raise NotImplementedError


class ChaChaPoly(Sealer, Opener):
    """``chacha20-poly1305@openssh.com`` for one direction (stateless between packets but for the sequence
    number)."""

    block_size = 8
    tag_bytes = TAG_BYTES

    def __init__(self, key):
        super().__init__()
        if len(key) < 64:
            raise ValueError("chacha20-poly1305@openssh.com needs 64 bytes of key")
        self._main = bytes(key[:32])  # K_2: the packet, and the Poly1305 key
        self._header = bytes(key[32:64])  # K_1: the length only
        self._waiting = None  # (sequence number, length) of a packet not yet all received

    @staticmethod
    def _stream(key, seqnr):
        """ChaCha20 (64-bit block counter from 0, 64-bit nonce) as OpenSSL's 16-byte IV spells it."""
        return Cipher(algorithms.ChaCha20(key, bytes(8) + seqnr.to_bytes(8, "big")), None).encryptor()

    def _length_of(self, seqnr, head):
        return _LENGTH.unpack(self._stream(self._header, seqnr).update(head))[0]

    def packet_size(self, seqnr, buf):
        if len(buf) < 4:
            return None
        if self._waiting is None or self._waiting[0] != seqnr:
            length = self._length_of(seqnr, bytes(buf[:4]))
            _check_length(length, self.block_size)
            self._waiting = (seqnr, length)  # decrypted once: open_view takes it from here
        return 4 + self._waiting[1] + TAG_BYTES

    def seal(self, seqnr, payload):
        head, body = self._body(payload)
        main = self._stream(self._main, seqnr)
        poly = Poly1305(main.update(_ZERO_BLOCK)[:32])  # block 0; the packet starts at block 1
        enc_head = self._stream(self._header, seqnr).update(head)
        enc_body = main.update(body)
        poly.update(enc_head)
        poly.update(enc_body)
        return b"".join((enc_head, enc_body, poly.finalize()))

    def open_view(self, seqnr, buf):
        if len(buf) < 4:
            return None
        with memoryview(buf) as view:
            return self._open(seqnr, view)

    def _open(self, seqnr, view):
        if self._waiting is not None and self._waiting[0] == seqnr:
            length = self._waiting[1]
        else:
            length = self._length_of(seqnr, view[:4])
            _check_length(length, self.block_size)
        end = 4 + length
        if len(view) < end + TAG_BYTES:
            self._waiting = (seqnr, length)  # a large packet comes in many reads: decrypt its length once
            return None
        self._waiting = None
        main = self._stream(self._main, seqnr)
        try:
            Poly1305.verify_tag(main.update(_ZERO_BLOCK)[:32], view[:end], bytes(view[end : end + TAG_BYTES]))
        except InvalidSignature:
            raise PacketError(b"bad MAC", DISCONNECT_MAC_ERROR) from None
        return _decrypt_payload(main, view, end, length), end + TAG_BYTES


class AesGcm(Sealer, Opener):
    """``aes{128,256}-gcm@openssh.com`` for one direction: the invocation counter advances with every packet."""

    block_size = 16
    tag_bytes = TAG_BYTES

    def __init__(self, key, iv):
        super().__init__()
        if len(iv) < 12:
            raise ValueError("AES-GCM needs a 12-byte IV")
        self._aead = AESGCM(bytes(key))
        self._fixed = bytes(iv[:4])
        self._counter = int.from_bytes(iv[4:12], "big")

    def _nonce(self):
        nonce = self._fixed + self._counter.to_bytes(8, "big")
        self._counter = (self._counter + 1) & 0xFFFFFFFFFFFFFFFF
        return nonce

    def seal(self, seqnr, payload):
        head, body = self._body(payload)
        return head + self._aead.encrypt(self._nonce(), body, head)

    def open_view(self, seqnr, buf):
        if len(buf) < 4:
            return None
        length = _LENGTH.unpack_from(buf)[0]
        _check_length(length, self.block_size)
        end = 4 + length + TAG_BYTES
        if len(buf) < end:
            return None
        nonce = self._fixed + self._counter.to_bytes(8, "big")
        with memoryview(buf) as view:
            try:
                plain = self._aead.decrypt(nonce, view[4:end], view[:4])  # bytes of this packet's own
            except InvalidTag:
                raise PacketError(b"bad MAC", DISCONNECT_MAC_ERROR) from None
        self._counter = (self._counter + 1) & 0xFFFFFFFFFFFFFFFF
        return _unpad(memoryview(plain), length), end


class EncryptThenMac(Sealer, Opener):
    """``aes*-ctr`` with ``hmac-sha2-*-etm@openssh.com`` for one direction: one keystream over the session, and an
    HMAC whose keyed state is computed once and copied per packet."""

    block_size = 16

    def __init__(self, cipher, mac, iv, key, integrity_key, *, out):
        super().__init__()
        digest, mac_bytes = ETM_MACS[mac]
        ctr = Cipher(algorithms.AES(bytes(key[: ETM_CIPHERS[cipher]])), modes.CTR(bytes(iv[:16])))
        self._ctx = ctr.encryptor() if out else ctr.decryptor()
        self._hmac = hmac.new(bytes(integrity_key[:mac_bytes]), digestmod=digest)
        self.mac_bytes = self.tag_bytes = mac_bytes

    def _mac(self, seqnr, head_and_ciphertext):
        mac = self._hmac.copy()
        mac.update(_LENGTH.pack(seqnr))
        mac.update(head_and_ciphertext)
        return mac.digest()

    def seal(self, seqnr, payload):
        head, body = self._body(payload)
        packet = head + self._ctx.update(body)
        return packet + self._mac(seqnr, packet)

    def open_view(self, seqnr, buf):
        if len(buf) < 4:
            return None
        length = _LENGTH.unpack_from(buf)[0]
        _check_length(length, self.block_size)
        end = 4 + length
        if len(buf) < end + self.mac_bytes:
            return None
        with memoryview(buf) as view:
            if not hmac.compare_digest(self._mac(seqnr, view[:end]), view[end : end + self.mac_bytes]):
                raise PacketError(b"bad MAC", DISCONNECT_MAC_ERROR)
            payload = _decrypt_payload(self._ctx, view, end, length)
        return payload, end + self.mac_bytes
