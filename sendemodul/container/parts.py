"""The age-encrypted parts: opening one in a tar stream, its recipient stanzas, streaming encryption and decryption
with the digest checked (docs/container.md, "The parts")."""

import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyrage

from sendemodul.container.tar import MemberReader, TarReader, Writable
from sendemodul.errors import PartContentError, PartDecryptionFailed, PartSizeMismatch

if TYPE_CHECKING:
    from sendemodul.container.manifest import PartInfo
    from sendemodul.container.plaintext import PartParser

MAX_AGE_HEADER_BYTES = 64 * 1024


def open_part(tar: TarReader, name: str, info: "PartInfo") -> MemberReader:
    """The next member, the part ``name``, whose size must be the one ``info`` (a :class:`PartInfo`) states."""
    member = tar.member(name)
    if member.size != info.size:
        raise PartSizeMismatch.detail(f"{name} has {member.size} bytes, {info.size} are stated")
    return member


def count_x25519_stanzas(head: bytes, name: str) -> int:
    """How many ``X25519`` recipient stanzas the age v1 header at the start of ``head`` has.

    Stanzas whose type ends in ``-grease`` (random padding that rage adds) are ignored; any other stanza type (scrypt,
    ssh-ed25519, plugins) would let someone else decrypt the part and is refused.
    """
    end = head.find(b"\n--- ")
    if not head.startswith(b"age-encryption.org/v1\n") or end < 0:
        raise PartContentError.detail(f"{name} does not start with an age v1 header")
    count = 0
    for line in head[:end].split(b"\n")[1:]:
        if line.startswith(b"-> "):
            kind = line[3:].split(b" ", 1)[0]
            if kind == b"X25519":
                count += 1
            elif not kind.endswith(b"-grease"):
                raise PartContentError.detail(f"{name} has a {kind.decode('ascii', 'replace')[:40]} recipient stanza")
    return count


class _HashingWriter:
    """A writer for pyrage that writes to ``out`` and counts and hashes what passes; records its first error."""

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
    """A reader for pyrage over an iterable of byte blocks; records the first error the iterable raised."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self._buffer = memoryview(b"")
        self.error: Exception | None = None

    def read(self, n: int | None = -1) -> bytes:
        try:
            while not self._buffer:
                block = next(self._blocks, None)
                if block is None:
                    return b""
                self._buffer = memoryview(block)
        except Exception as e:
            self.error = e
            raise
        n = len(self._buffer) if n is None or n < 0 else n
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return bytes(data)


def encrypt_part(blocks: Iterable[bytes], recipients: Sequence[pyrage.x25519.Recipient],
                 out: Writable) -> tuple[int, str]:
    """Encrypt the concatenation of ``blocks`` to the age ``recipients`` into ``out``; returns ``(size, sha256)``."""
    reader, writer = _BlocksReader(blocks), _HashingWriter(out)
    try:
        pyrage.encrypt_io(reader, writer, recipients)
    except pyrage.EncryptError:
        for own in (reader.error, writer.error):
            if own is not None:
                raise own from None
        raise
    return writer.size, writer.sha256


def decrypt_part(member: MemberReader, identities: Sequence[pyrage.x25519.Identity], parser: "PartParser",
                 sha256: str) -> None:
    """Decrypt ``member`` (a :class:`MemberReader`) with ``identities`` into ``parser`` (a :class:`PartParser`), then
    check the member's digest against ``sha256`` and the parser's row count.

    Nothing the parser saw may be trusted unless this returns: pyrage emits plaintext before it detects a truncated
    or altered part. A failed decryption is :class:`PartDigestMismatch` if the part is not the one its manifest
    names, else :class:`PartDecryptionFailed`; the reader's and the parser's own errors pass through unchanged.
    """
    try:
        pyrage.decrypt_io(member, parser, identities)
    except Exception as e:
        for own in (member.error, parser.error):
            if own is not None:
                raise own from None
        if not isinstance(e, (pyrage.DecryptError, OSError)):
            raise
        member.finish_digest(sha256)
        raise PartDecryptionFailed.detail(member.name) from None
    member.finish_digest(sha256)
    parser.close()
