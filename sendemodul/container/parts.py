"""The age-encrypted parts: opening one in a tar stream, its recipient stanzas, streaming encryption and decryption
with the digest checked (docs/container.md, "The parts").

age comes from :mod:`sendemodul.agepq` for both key types, the hybrid post-quantum ``mlkem768x25519`` and the classic
``X25519``: one code path for old and new parts, and it is faster than pyrage on either (docs/post-quantum.md §4).
"""

import collections
import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sendemodul import agepq
from sendemodul.container.tar import MemberReader, TarReader, Writable
from sendemodul.errors import PartContentError, PartDecryptionFailed, PartSizeMismatch
from sendemodul.writeback import pwrite_all

if TYPE_CHECKING:
    from sendemodul.container.manifest import PartInfo
    from sendemodul.container.plaintext import PartParser

#: The recipient stanza types a part may carry (the key directory's two age key types).
STANZA_TYPES = ("mlkem768x25519", "X25519")

MAX_AGE_HEADER_BYTES = 64 * 1024


def open_part(tar: TarReader, name: str, info: "PartInfo") -> MemberReader:
    """The next member, the part ``name``, whose size must be the one ``info`` (a :class:`PartInfo`) states."""
    member = tar.member(name)
    if member.size != info.size:
        raise PartSizeMismatch.detail(f"{name} has {member.size} bytes, {info.size} are stated")
    return member


def stanza_counts(head: bytes, name: str) -> collections.Counter[str]:
    """How many recipient stanzas of each type (``mlkem768x25519``, ``X25519``) the age v1 header at the start of
    ``head`` has, as a :class:`collections.Counter`.

    The header is parsed as the age spec's grammar says (:func:`agepq.stanza_types`); it must end within ``head``.
    Stanzas whose type ends in ``-grease`` (random padding that rage adds) are ignored; any other stanza type (scrypt,
    ssh-ed25519, plugins) would let someone else decrypt the part and is refused.
    """
    try:
        types = agepq.stanza_types(head)
    except agepq.HeaderError:
        raise PartContentError.detail(f"{name} does not start with a valid age v1 header") from None
    counts: collections.Counter[str] = collections.Counter()
    for kind in types:
        if kind in STANZA_TYPES:
            counts[kind] += 1
        elif not kind.endswith("-grease"):
            raise PartContentError.detail(f"{name} has a {kind[:40]} recipient stanza")
    return counts


class _HashingWriter:
    """A writer for ``agepq`` that writes to ``out`` and counts and hashes what passes; records its first error."""

    def __init__(self, out: Writable) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0
        self.error: Exception | None = None

    def write(self, data: bytes) -> int:
        try:
            self._out.write(data)
        except Exception as e:
            self.error = e
            raise
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class _BlocksReader:
    """A reader for ``agepq`` over an iterable of byte blocks; records the first error the iterable raised."""

    def __init__(self, blocks: Iterable[bytes | memoryview]) -> None:
        self._blocks = iter(blocks)
        self._buffer = memoryview(b"")
        self.error: Exception | None = None

    def read(self, n: int | None = -1) -> bytes:
        return bytes(self._take(n))

    def _take(self, n: int | None) -> memoryview:
        """The next at most ``n`` bytes (all of the current block if ``n`` is None or negative), as a view."""
        try:
            while not self._buffer:
                block = next(self._blocks, None)
                if block is None:
                    return memoryview(b"")
                self._buffer = memoryview(block).cast("B")
        except Exception as e:
            self.error = e
            raise
        n = len(self._buffer) if n is None or n < 0 else n
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        """Copy what the current block still holds (at most ``len(b)`` bytes) into ``b``; 0 at the end. One copy,
        from the block's own memory."""
        data = self._take(len(b))
        b[: len(data)] = data
        return len(data)


def encrypt_part(
    blocks: Iterable[bytes | memoryview],
    recipients: Sequence[agepq.X25519Recipient | agepq.MlKem768X25519Recipient],
    out: Writable,
) -> tuple[int, str]:
    """Encrypt the concatenation of ``blocks`` to the age ``recipients`` (:mod:`agepq` keys of one type) into
    ``out``; returns ``(size, sha256)``. The KEM runs once per recipient, so once per part."""
    reader, writer = _BlocksReader(blocks), _HashingWriter(out)
    agepq.encrypt_io(reader, writer, recipients)
    return writer.size, writer.sha256


def encrypted_size(recipients: Sequence[agepq.X25519Recipient | agepq.MlKem768X25519Recipient], plaintext: int) -> int:
    """The size of :func:`encrypt_part`'s output for ``plaintext`` bytes to ``recipients``: age's header (the same
    length for every file to these recipients: each stanza type's fields have fixed sizes), the 16-byte payload
    nonce, the plaintext, and a 16-byte tag per chunk of :data:`agepq.CHUNK_BYTES` (at least one chunk). The header's
    length is measured by encrypting nothing to the same recipients (one KEM per recipient)."""
    empty = io.BytesIO()
    agepq.encrypt_io(io.BytesIO(b""), empty, recipients)
    header_and_nonce = len(empty.getvalue()) - 16
    return header_and_nonce + plaintext + 16 * max(1, -(-plaintext // agepq.CHUNK_BYTES))


class PositionedWriter:
    """A writer for :func:`encrypt_part` that writes to ``fd`` from ``offset`` on with ``os.pwrite`` (which moves no
    file position), so that two parts can be written into their places in one file at once, from two threads."""

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self.offset = offset

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = memoryview(data).nbytes
        pwrite_all(self._fd, data, self.offset)
        self.offset += size
        return len(data)


class PartEncryptor:
    """:func:`encrypt_part` with the plaintext pushed: :meth:`write` as it is made, then :meth:`close` gives
    ``(size, sha256)`` of what went to ``out``. Nothing waits in between: each full age chunk is encrypted and
    written once the next byte has come."""

    def __init__(
        self, recipients: Sequence[agepq.X25519Recipient | agepq.MlKem768X25519Recipient], out: Writable
    ) -> None:
        self._writer = _HashingWriter(out)
        self._encryptor = agepq.Encryptor(self._writer, recipients)

    def write(self, data: bytes) -> None:
        self._encryptor.write(data)

    def close(self) -> tuple[int, str]:
        self._encryptor.close()
        return self._writer.size, self._writer.sha256


def decrypt_part(
    member: MemberReader,
    identities: Sequence[agepq.X25519Identity | agepq.MlKem768X25519Identity],
    parser: "PartParser",
    sha256: str,
) -> None:
    """Decrypt ``member`` (a :class:`MemberReader`) with ``identities`` into ``parser`` (a :class:`PartParser`), then
    check the member's digest against ``sha256`` and the parser's row count.

    Nothing the parser saw may be trusted unless this returns: age emits the plaintext of each chunk that verified
    before it can detect a truncated or altered part. A failed decryption is :class:`PartDigestMismatch` if the
    part is not the one its manifest names, else :class:`PartDecryptionFailed`; the reader's and the parser's own
    errors pass through unchanged.
    """
    try:
        agepq.decrypt_io(member, parser, identities)
    except Exception as e:
        for own in (member.error, parser.error):
            if own is not None:
                raise own from None
        if not isinstance(e, (agepq.AgeError, OSError)):
            raise
        member.finish_digest(sha256)
        raise PartDecryptionFailed.detail(member.name) from None
    member.finish_digest(sha256)
    parser.close()
