"""The pseudonyms of a block in a child process: the pseudonymizer's second core (issue 25, records per second).

The HMAC of each ID (two SHA-256 compressions, about 1.4 us an ID in CPython's ``_sha256``) and the joining of a
block's output lines hold the GIL, so a thread cannot run them beside the parent's block work; a process can. This
module is what that process runs, and it imports only the standard library: started by ``python -I -S`` (no site,
no numpy, no cryptography) it adds about 10 MiB of RSS to the parent's, which keeps the sum of both under the
100 MiB target. The parent (:class:`sendemodul.pseudonym_pipe.PseudonymChild`) gives it the derived pseudonym key
of one domain over its stdin, never argv or the environment, and the layout of the lines (the pseudonym prefix,
each class's line end); then per block the IDs to pseudonymize, each line's start and class; the child answers with
the block's pseudonyms lines (:func:`join_lines`).

The same :func:`hmac_base32` and :func:`join_lines` make the lines in process (:mod:`sendemodul.package`, and
:meth:`sendemodul.pseudonym.Pseudonymizer.pseudonyms`): one definition, so the child cannot drift from
docs/container.md's test vector, and the tests hold both to the line-by-line path.

Wire format (over pipes, big-endian): the parent writes the 32-byte key, then the layout (:func:`encode_layout`, a
4-byte length first), then per block a header of four 4-byte numbers ``ids ids_size kept_size lines`` followed by
the ``ids`` IDs joined by line breaks (ASCII digits), the lines' starts (``row_id<TAB>id_type<TAB>``, each ended by
:data:`LINE_MARK` plus its class code) and one class code byte a line. The child answers a 4-byte size and the
lines. End of input ends the child with status 0; anything malformed ends it with status 2 and no answer, which the
parent reports as a failure.
"""

from __future__ import annotations

import functools
import struct
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Iterable
    from typing import BinaryIO, Protocol

    class HashState(Protocol):
        """What :func:`hmac_base32` uses of a SHA-256 object."""

        def copy(self) -> HashState: ...
        def update(self, data: bytes, /) -> None: ...
        def digest(self) -> bytes: ...


if TYPE_CHECKING:  # the private modules below have no stubs; they make objects with hashlib's interface
    _sha256 = hashlib.sha256
else:
    try:  # CPython's own SHA-256: its copy() is about twice as fast as OpenSSL's, which counts once per ID
        from _sha256 import sha256 as _sha256
    except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2
        try:
            from _sha2 import sha256 as _sha256
        except ImportError:
            from hashlib import sha256 as _sha256

KEY_BYTES = 32
FRAME_HEADER = struct.Struct(">IIII")
SIZE = struct.Struct(">I")
#: Base32 characters per ID from :func:`hmac_base32` (:func:`base32_prefixes`), of which a pseudonym takes the first
#: :data:`PSEUDONYM_CHARS` (26 characters carry 130 bits).
ANSWER_CHARS = 32
PSEUDONYM_CHARS = 26
#: :func:`join_lines`'s layout: the pseudonym prefix, and per class code its line end and whether it has a pseudonym.
Layout = tuple[bytes, tuple[bytes, ...], tuple[bool, ...]]
#: :func:`base32_prefixes` works on at most this many digests at once: its masks (six of 8 bytes a digest, kept for
#: the next call) and big integers then take a few hundred KiB, not megabytes, at no measurable cost.
BASE32_CHUNK = 2048
#: A frame is never bigger than this (a pseudonymizer block of 512 KiB holds far fewer ID bytes).
MAX_FRAME_BYTES = 64 * 1024**2

_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_B32_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#: Byte values 0-31 to the base32 alphabet (the rest never occur).
_B32_TABLE = _B32_ALPHABET + bytes(256 - 32)


def hmac_states(key: bytes) -> tuple[HashState, HashState]:
    """HMAC-SHA256 with ``key`` (at most 64 bytes) as two SHA-256 states after the padded key (RFC 2104): copied per
    message, they give HMAC(key, message) faster than ``hmac.new`` per message."""
    padded = key.ljust(64, b"\0")
    return _sha256(padded.translate(_IPAD)), _sha256(padded.translate(_OPAD))


def hmac_base32(inner: HashState, outer: HashState, messages: Iterable[bytes]) -> bytes:
    """:func:`base32_prefixes` of HMAC(key, message) for each of ``messages`` (bytes), ``inner, outer`` being
    :func:`hmac_states` of the key: 32 characters a message, concatenated in order."""
    macs: list[bytes] = []
    append = macs.append
    for message in messages:
        mac = inner.copy()
        mac.update(message)
        out = outer.copy()
        out.update(mac.digest())
        append(out.digest())
    return base32_prefixes(b"".join(macs))


@functools.lru_cache(maxsize=8)
def _spread_masks(units: int) -> tuple[int, ...]:
    """The masks of :func:`base32_prefixes` for ``units`` 64-bit units (a power of two: masks for more units than a
    number has work as well, since the bits shifted past its top unit meet zeros): a pattern repeated per unit."""
    return tuple(
        int.from_bytes(bytes.fromhex(pattern) * units, "big")
        for pattern in (
            "000fffff00000000",
            "00000000000fffff",
            "03ff000003ff0000",
            "000003ff000003ff",
            "1f001f001f001f00",
            "001f001f001f001f",
        )
    )


def base32_prefixes(digests: bytes) -> bytes:
    """Base32 of the first 20 bytes of each 32-byte digest in ``digests`` (their concatenation): 32 characters each.

    The same characters as ``base64.b32encode(digest[:20])``, for thousands of digests in a few big-integer steps
    instead of a Python loop per 5 bytes: each 5-byte group is copied into the low 40 bits of a 64-bit unit (strided
    slices), then the units' 5-bit groups are spread into bytes by three shift-and-mask steps over one big integer
    (20 -> 2 x 32 bits, 10 -> 2 x 16, 5 -> 2 x 8), and the bytes 0-31 become letters by ``translate``.
    """
    n = len(digests) // 32
    if not n:
        return b""
    if n > BASE32_CHUNK:  # in pieces: the masks and the big integers stay small (the child's RSS counts)
        step = 32 * BASE32_CHUNK
        return b"".join(base32_prefixes(digests[i : i + step]) for i in range(0, len(digests), step))
    units = bytearray(32 * n)
    for group in range(4):
        for k in range(5):
            units[group * 8 + 3 + k :: 32] = digests[group * 5 + k :: 32]
    hi20, lo20, hi10, lo10, hi5, lo5 = _spread_masks(1 << (4 * n - 1).bit_length())
    x = int.from_bytes(units, "big")
    x = ((x << 12) & hi20) | (x & lo20)
    x = ((x << 6) & hi10) | (x & lo10)
    x = ((x << 3) & hi5) | (x & lo5)
    return x.to_bytes(32 * n, "big").translate(_B32_TABLE)


#: In :func:`join_lines`'s ``kept``, each line ends with this byte plus its class code instead of a line break (at
#: most 16 codes: bytes 0x10-0x1f, which no row_id or ID field name holds).
LINE_MARK = 0x10
MAX_CODES = 16
_MARKS = tuple(bytes((LINE_MARK + code,)) for code in range(MAX_CODES))


def join_lines(kept: bytes, codes: bytes, encoded: bytes, layout: Layout) -> bytes:
    """A block's pseudonyms lines: line ``i`` is the ``i``-th line of ``kept`` (``row_id<TAB>id_type<TAB>``, ended
    by the byte :data:`LINE_MARK` + ``codes[i]``), then, if ``layout``'s class ``codes[i]`` has one, the next
    pseudonym (the layout's prefix and the first 26 of the next 32 characters of ``encoded``, :func:`hmac_base32`),
    then that class's ``<TAB>CLASS<LF>``. ``layout`` is ``(prefix, tails, with_pseudonym)``: per class code its line
    end and whether it has a pseudonym. ValueError if they do not fit together.

    In a few C calls whatever the number of lines, rather than two or three objects a line: the pseudonyms are cut
    from one buffer of fixed-width records (strided copies); each class's line mark becomes ``%s`` and its line end
    (``bytes.replace``, once per class present), and ``%`` puts the pseudonyms in, in order. About a third of the CPU
    of joining a list of three pieces a line. Nothing else in ``kept`` can be a ``%``: the output's size is checked.
    """
    prefix, tails, with_pseudonym = layout
    counts = [codes.count(code) for code in range(len(tails))]
    if sum(counts) != len(codes):
        raise ValueError("a class code the layout does not have")
    n, width = len(encoded) // ANSWER_CHARS, len(prefix) + PSEUDONYM_CHARS + 1
    if n != sum(count for count, flag in zip(counts, with_pseudonym) if flag):
        raise ValueError("not as many pseudonyms as lines that take one")
    records = bytearray(width * n)
    for k, byte in enumerate(prefix):
        records[k::width] = bytes((byte,)) * n
    for k in range(PSEUDONYM_CHARS):
        records[len(prefix) + k :: width] = encoded[k::ANSWER_CHARS]
    records[width - 1 :: width] = b"\n" * n
    pseudonyms = records.split(b"\n")
    pseudonyms.pop()
    template = kept
    size = len(kept) + n * (width - 1)
    for code, count in enumerate(counts):
        if count:
            template = template.replace(_MARKS[code], b"%s" + tails[code] if with_pseudonym[code] else tails[code])
            size += count * (len(tails[code]) - 1)
    try:
        lines = template % tuple(pseudonyms)
    except (TypeError, ValueError):
        raise ValueError("the lines do not fit the pseudonyms") from None
    if len(lines) != size:
        raise ValueError("the lines do not fit their class codes")
    return lines


def encode_layout(prefix: bytes, tails: tuple[bytes, ...], with_pseudonym: tuple[bool, ...]) -> bytes:
    """The layout of :func:`join_lines` as bytes (each piece a length byte and its bytes), for the child."""
    if len(tails) > MAX_CODES:
        raise ValueError("too many class codes")
    pieces = [bytes([len(prefix)]), prefix]
    for tail, flag in zip(tails, with_pseudonym, strict=True):
        pieces += [bytes([int(flag), len(tail)]), tail]
    return b"".join(pieces)


def decode_layout(data: bytes) -> Layout:
    """:func:`encode_layout`'s bytes back to ``(prefix, tails, with_pseudonym)``; ValueError if malformed."""
    end = 1 + data[0]
    prefix = data[1:end]
    tails: list[bytes] = []
    flags: list[bool] = []
    while end < len(data):
        flag, size = data[end], data[end + 1]
        tail = data[end + 2 : end + 2 + size]
        if flag > 1 or len(tail) != size:
            raise ValueError("a malformed layout")
        flags.append(bool(flag))
        tails.append(tail)
        end += 2 + size
    if len(prefix) != data[0] or len(tails) > MAX_CODES:
        raise ValueError("a malformed layout")
    return prefix, tuple(tails), tuple(flags)


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """``n`` bytes from ``stream``, or fewer only where it ends."""
    data = stream.read(n)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n and (more := stream.read(n - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def serve(stream_in: BinaryIO, stream_out: BinaryIO) -> int:
    """Answer frames from ``stream_in`` on ``stream_out`` until ``stream_in`` ends; 0, or 2 on bad input."""
    key = _read_exactly(stream_in, KEY_BYTES)
    size = _read_exactly(stream_in, SIZE.size)
    if len(key) != KEY_BYTES or len(size) != SIZE.size:
        return 2
    inner, outer = hmac_states(key)
    del key
    try:
        layout = decode_layout(_read_exactly(stream_in, SIZE.unpack(size)[0]))
    except (ValueError, IndexError):
        return 2
    while header := _read_exactly(stream_in, FRAME_HEADER.size):
        if len(header) != FRAME_HEADER.size:
            return 2
        count, ids_size, kept_size, lines = FRAME_HEADER.unpack(header)
        if ids_size + kept_size + lines > MAX_FRAME_BYTES:
            return 2
        # Read in its three pieces, not sliced from one: the child's peak RSS counts against the 100 MiB.
        joined, kept, codes = (_read_exactly(stream_in, n) for n in (ids_size, kept_size, lines))
        if len(joined) + len(kept) + len(codes) != ids_size + kept_size + lines:
            return 2
        ids = joined.split(b"\n") if count else []
        del joined
        if len(ids) != count or len(codes) != lines:
            return 2
        try:
            answer = join_lines(kept, codes, hmac_base32(inner, outer, ids), layout)
        except (ValueError, IndexError):
            return 2
        stream_out.write(SIZE.pack(len(answer)))
        stream_out.write(answer)
        stream_out.flush()
        del ids, kept, codes, answer
    return 0


def main() -> None:  # pragma: no cover - runs in the child (tests/test_package.py drives it through PseudonymChild)
    # Unbuffered input: the frames' pieces are read whole into their own objects, with no 1 MiB buffer beside them.
    with open(0, "rb", buffering=0, closefd=False) as stream_in, open(1, "wb", closefd=False) as stream_out:
        sys.exit(serve(stream_in, stream_out))


if __name__ == "__main__":  # pragma: no cover
    main()
