"""The encrypted file itself (C2SP age, "Header" and "Payload"): the header and its MAC, and the STREAM payload read
and written in 64 KiB chunks with bounded memory."""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from sendemodul.agepq.common import (
    CHUNK_BYTES,
    ENC_CHUNK_BYTES,
    MAX_HEADER_BYTES,
    TAG_BYTES,
    VERSION_LINE,
    HeaderError,
    HeaderMacError,
    NoIdentityMatchError,
    PayloadError,
    Stanza,
    _b64decode,
    _b64encode,
    _hkdf,
)
from sendemodul.agepq.recipients import (
    MlKem768X25519Recipient,
    _as_key,
    parse_identity,
    parse_recipient,
)

# --- "Header" ---------------------------------------------------------------------------------------------------


def _parse_header(data: bytes) -> tuple[list[Stanza], bytes, bytes, int] | None:
    """Parse "ABNF definition of file header" from the start of ``data``.

    Returns (stanzas, bytes covered by the MAC, MAC, header length), or None if ``data`` ends before the header does.
    """
    if not data.startswith(VERSION_LINE):
        if len(data) < len(VERSION_LINE) and VERSION_LINE.startswith(data):
            return None
        raise HeaderError("not an age v1 file")
    pos = len(VERSION_LINE)
    stanzas: list[Stanza] = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return None
        line = data[pos:end]
        if line.startswith(b"---"):
            if not stanzas:
                raise HeaderError("header without recipient stanzas")
            if line[3:4] != b" " or len(line) != 4 + 43:
                raise HeaderError("malformed header MAC line")
            mac = _b64decode(line[4:])
            return stanzas, data[: pos + 3], mac, end + 1
        if not line.startswith(b"-> "):
            raise HeaderError("malformed stanza")
        args = line[3:].split(b" ")
        if not all(a and all(0x21 <= c <= 0x7E for c in a) for a in args):  # argument = 1*VCHAR
            raise HeaderError("malformed stanza arguments")
        body, pos = bytearray(), end + 1
        while True:  # "a base64-encoded body wrapped at 64 columns", ending with a line shorter than 64
            end = data.find(b"\n", pos)
            if end < 0:
                if len(data) - pos > 64:
                    raise HeaderError("stanza body line too long")
                return None
            line = data[pos:end]
            if len(line) > 64:
                raise HeaderError("stanza body line too long")
            body += _b64decode(line) if line else b""
            pos = end + 1
            if len(line) < 64:
                break
        stanzas.append(Stanza(args[0].decode(), tuple(a.decode() for a in args[1:]), bytes(body)))


def stanza_types(header_bytes: bytes) -> tuple[str, ...]:
    """The recipient stanza types a file carries, in header order, from bytes that begin with its whole header."""
    parsed = _parse_header(bytes(header_bytes[:MAX_HEADER_BYTES]))
    if parsed is None:
        raise HeaderError("incomplete header")
    return tuple(s.type for s in parsed[0])


def _header_mac(file_key: bytes, covered: bytes) -> bytes:
    """ "Header MAC": HMAC-SHA-256 keyed with HKDF(ikm = file key, salt = empty, info = "header")."""
    return hmac.digest(_hkdf(file_key, b"", b"header"), covered, "sha256")


def _encode_stanza(s: Stanza) -> bytes:
    body = _b64encode(s.body)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")  # "The body MUST end with a line shorter than 64 characters, which MAY be empty."
    return b"-> " + " ".join((s.type, *s.args)).encode() + b"\n" + b"\n".join(lines) + b"\n"


# --- Streaming I/O ----------------------------------------------------------------------------------------------


def _fill(reader, buf: memoryview) -> int:
    """Fill ``buf`` from ``reader`` (short reads allowed) until full or EOF; returns the byte count."""
    n, readinto = 0, getattr(reader, "readinto", None)
    while n < len(buf):
        if readinto is not None:
            got = readinto(buf[n:])
        else:
            chunk = reader.read(len(buf) - n)
            got = len(chunk) if chunk else 0
            buf[n : n + got] = chunk or b""
        if not got:
            break
        n += got
    return n


def _chunk_nonce(nonce: bytearray, counter: int, final: bool) -> bytearray:
    """ "the first 11 bytes are a big endian chunk counter ...; the last byte is 0x01 for the final chunk"."""
    nonce[:11] = counter.to_bytes(11, "big")
    nonce[11] = 1 if final else 0
    return nonce


def _payload_aead(file_key: bytes, payload_nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(_hkdf(file_key, payload_nonce, b"payload"))


def _encryption_start(writer, recipients) -> ChaCha20Poly1305:
    """Check ``recipients``, write the header for them to ``writer``; the payload's AEAD."""
    recipients = [_as_key(r, parse_recipient) for r in recipients]
    if not recipients:
        raise ValueError("no recipients")
    if len({isinstance(r, MlKem768X25519Recipient) for r in recipients}) > 1:
        raise ValueError("refusing to mix post-quantum and classic recipients in one file")
    file_key = os.urandom(16)  # "File key": 16 bytes of CSPRNG output, never reused
    covered = VERSION_LINE + b"".join(_encode_stanza(r.wrap(file_key)) for r in recipients) + b"---"
    payload_nonce = os.urandom(16)
    writer.write(covered + b" " + _b64encode(_header_mac(file_key, covered)) + b"\n" + payload_nonce)
    return _payload_aead(file_key, payload_nonce)


class Encryptor:
    """:func:`encrypt_io` with the plaintext pushed rather than pulled: :meth:`write` any number of times, then
    :meth:`close`; the same format (a full chunk is final only if nothing follows it). For a producer that makes
    the plaintext as it goes (the pseudonymizer's lines), which then needs no buffer or thread of its own."""

    def __init__(self, writer, recipients) -> None:
        self._writer = writer
        self._aead = _encryption_start(writer, recipients)
        self._nonce = bytearray(12)
        self._counter = 0
        self._buffer = bytearray()
        self._closed = False

    def write(self, data) -> int:
        """Encrypt ``data`` after what came before; whole chunks are written once more follows them."""
        if self._closed:
            raise ValueError("write to a closed Encryptor")
        buffer = self._buffer
        buffer += data
        while len(buffer) > CHUNK_BYTES:
            with memoryview(buffer) as view:
                sealed = self._aead.encrypt(_chunk_nonce(self._nonce, self._counter, False), view[:CHUNK_BYTES], None)
            self._writer.write(sealed)
            del buffer[:CHUNK_BYTES]
            self._counter += 1
        return len(data)

    def close(self) -> None:
        """Write the final chunk (empty if nothing was written at all)."""
        if not self._closed:
            self._closed = True
            self._writer.write(self._aead.encrypt(_chunk_nonce(self._nonce, self._counter, True), self._buffer, None))
            self._buffer = bytearray()


def encrypt_io(reader, writer, recipients) -> None:
    """Encrypt all of ``reader`` to ``writer`` for ``recipients`` (key objects or ``age1...`` strings).

    ``reader`` needs ``readinto`` or ``read``; ``writer.write`` must take all it is given (buffered files, BytesIO).

    Post-quantum and classic recipients are not mixed in one file (the spec's SHOULD NOT): that raises ValueError.
    """
    aead, nonce = _encryption_start(writer, recipients), bytearray(12)
    bufs = [bytearray(CHUNK_BYTES), bytearray(CHUNK_BYTES)]
    n = _fill(reader, memoryview(bufs[0]))
    counter = 0
    while True:
        # A full chunk is final only if nothing follows; look one chunk ahead to know.
        nxt = _fill(reader, memoryview(bufs[1])) if n == CHUNK_BYTES else 0
        final = nxt == 0
        writer.write(aead.encrypt(_chunk_nonce(nonce, counter, final), memoryview(bufs[0])[:n], None))
        if final:
            return
        bufs.reverse()
        n, counter = nxt, counter + 1


def decrypt_io(reader, writer, identities) -> tuple[str, ...]:
    """Decrypt ``reader`` to ``writer`` with ``identities`` (key objects or ``AGE-SECRET-KEY-...`` strings).

    Returns the stanza types of the header. Raises HeaderError, NoIdentityMatchError, HeaderMacError or PayloadError.
    Every chunk is authenticated before it is written; output written before an error must be discarded.
    """
    identities = [_as_key(i, parse_identity) for i in identities]
    head, parsed = bytearray(), None
    while parsed is None:
        block = bytearray(4096)
        got = _fill(reader, memoryview(block))
        head += block[:got]
        parsed = _parse_header(bytes(head))
        if parsed is None and (got == 0 or len(head) > MAX_HEADER_BYTES):
            raise HeaderError("truncated or oversized header")
    stanzas, covered, mac, header_len = parsed
    if any(s.type == "scrypt" for s in stanzas) and len(stanzas) != 1:
        raise HeaderError("an scrypt stanza must be alone in the header")
    file_key = next((k for i in identities for s in stanzas if (k := i.unwrap(s)) is not None), None)
    if file_key is None:
        raise NoIdentityMatchError("no identity matched any recipient stanza")
    if len(file_key) != 16:
        raise HeaderError("wrapped file key is not 16 bytes")
    if not hmac.compare_digest(_header_mac(file_key, covered), mac):
        raise HeaderMacError("header MAC mismatch")

    # buf holds the payload nonce or a chunk, plus one look-ahead byte; what the header read took too goes first.
    buf = bytearray(ENC_CHUNK_BYTES + 1)
    view, carry = memoryview(buf), len(head) - header_len
    buf[:carry] = head[header_len:]
    if carry < 16 and carry + _fill(reader, view[carry:16]) < 16:
        raise HeaderError("payload nonce missing")
    aead, nonce = _payload_aead(file_key, bytes(buf[:16])), bytearray(12)
    carry = max(carry - 16, 0)
    buf[:carry] = buf[16 : 16 + carry]
    counter = 0
    while True:
        n = carry + _fill(reader, view[carry:])
        more = n == ENC_CHUNK_BYTES + 1
        size = ENC_CHUNK_BYTES if more else n
        if size < TAG_BYTES:
            raise PayloadError("truncated payload")
        chunk = view[:size]
        # A chunk followed by data must be non-final; a full chunk at EOF may be either (the non-final case is an
        # authentic chunk of a truncated file); a short chunk at EOF must be final.
        tries = (False, True) if size == ENC_CHUNK_BYTES else (True,)
        for final in tries:
            try:
                plain = aead.decrypt(_chunk_nonce(nonce, counter, final), chunk, None)
                break
            except InvalidTag:
                continue
        else:
            raise PayloadError("payload chunk failed authentication")
        if final and size == TAG_BYTES and counter > 0:
            raise PayloadError("empty final chunk")
        writer.write(plain)
        if final and more:
            raise PayloadError("trailing data after the final chunk")
        if final:
            return tuple(s.type for s in stanzas)
        if not more:
            raise PayloadError("payload truncated: no final chunk")
        buf[0] = buf[ENC_CHUNK_BYTES]
        carry, counter = 1, counter + 1
