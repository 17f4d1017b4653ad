"""Tar: one exact header per member, read strictly in one forward pass, written the same way (docs/container.md,
"Tar rules"). Used for containers and SSB packages alike."""

import errno
import hashlib
import os
import re
from collections.abc import Callable
from typing import BinaryIO, Protocol, cast

from sendemodul.errors import (
    ContainerError,
    ContainerMembersError,
    ContainerTarError,
    ContainerTrailingData,
    ContainerTruncated,
    PartDigestMismatch,
)
from sendemodul.writeback import written

BLOCK = 512
#: Readers accept this many zero blocks at the end at most (a writer padding to a 10240-byte record needs 21).
MAX_END_BLOCKS = 22
MAX_MEMBER_BYTES = 8**11 - 1  # the largest size an 11-digit octal size field holds

_TAR_SIZE = re.compile(rb"[0-7]{11}\0")
_COPY_BYTES = 1024**2
#: :func:`copy_file_range` copies in pieces of at most this size.
COPY_PIECE_BYTES = 64 * 1024**2
#: A range of a file: ``(fd, offset, size)`` (:func:`tar_pieces`).
FileRange = tuple[int, int, int]


class Readable(Protocol):
    """A binary stream to read from: a file, a socket's file, an upload, a :class:`MemberReader`."""

    def read(self, n: int = ..., /) -> bytes: ...


class Writable(Protocol):
    """A binary stream to write to."""

    def write(self, data: bytes, /) -> object: ...


def tar_header(name: str, size: int) -> bytes:
    """The only header a member may have: ustar, regular file, mode 0644, uid/gid/mtime 0, no owner names."""
    encoded = name.encode("ascii")
    if not 0 < len(encoded) < 100 or not 0 <= size <= MAX_MEMBER_BYTES:
        raise ValueError(f"cannot make a tar header for {name!r} of {size} bytes")
    header = bytearray(BLOCK)
    header[0 : len(encoded)] = encoded
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"00000000000\0"
    header[148:156] = b" " * 8
    header[156:157] = b"0"
    header[257:265] = b"ustar\x0000"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _parse_header(block: bytes, position: int) -> tuple[str, int]:
    """``(name, size)`` of a header block that :func:`tar_header` would write; else :class:`ContainerTarError`."""
    name_field, size_field = block[0:100], block[124:136]
    name = name_field.split(b"\0", 1)[0]
    try:
        text = name.decode("ascii")
        size = int(size_field[:11], 8) if _TAR_SIZE.fullmatch(size_field) else -1
        if text and size >= 0 and tar_header(text, size) == bytes(block):
            return text, size
    except (UnicodeDecodeError, ValueError):
        pass
    # Echo the member name only when it is a plain short name: anything else is not a container at all.
    text = name.decode("ascii", "replace")
    shown = repr(text) if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text) else "unnamed"
    kind = {
        b"0": "file",
        b"\0": "file",
        b"1": "hard link",
        b"2": "symbolic link",
        b"5": "directory",
        b"x": "pax extended header",
        b"g": "pax global header",
        b"L": "GNU long name",
    }.get(block[156:157], "entry")
    raise ContainerTarError.detail(f"member {position} ({kind} {shown}) does not have the required header")


class TarReader:
    """Reads the members of a container or package in order from a stream: every header must be exactly
    :func:`tar_header`'s, padding zero, and the archive must end with 2 to 22 zero blocks and nothing else.

    ``progress(n)``, if given, is called with the number of bytes consumed by each read.
    """

    def __init__(self, stream: Readable, progress: Callable[[int], object] | None = None) -> None:
        self._stream = stream
        self._progress = progress
        self._position = 0
        self._last: str | None = None
        #: How many bytes of the stream have been consumed: where the next read starts.
        self.offset = 0

    def _read(self, n: int, what: str) -> bytes:
        chunks: list[bytes] = []
        left = n
        while left:
            chunk = self._stream.read(left)
            if not chunk:
                raise ContainerTruncated.detail(what)
            chunks.append(chunk)
            left -= len(chunk)
        self.offset += n
        if self._progress:
            self._progress(n)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _read_some(self, n: int, what: str) -> bytes:
        """Up to ``n`` bytes, at least one: what the stream gives in one read, never joined (hashing a member's
        content needs no exact sizes, and an upload arrives in pieces)."""
        chunk = self._stream.read(n)
        if not chunk:
            raise ContainerTruncated.detail(what)
        self.offset += len(chunk)
        if self._progress:
            self._progress(len(chunk))
        return chunk

    def _skip(self, n: int) -> None:
        """Pass over ``n`` bytes unread (a seekable stream only; a stream that ends early is noticed by the next
        read)."""
        cast(BinaryIO, self._stream).seek(n, os.SEEK_CUR)
        self.offset += n
        if self._progress:
            self._progress(n)

    def member(self, name: str) -> "MemberReader":
        """The next member, which must be called ``name``, as a :class:`MemberReader`."""
        after = f"after {self._last}" if self._last else "at the start"
        block = self._read(BLOCK, f"{name} is missing")
        if not any(block):
            raise ContainerMembersError.detail(f"{name} is missing")
        self._position += 1
        found, size = _parse_header(block, self._position)
        if found != name:
            raise ContainerMembersError.detail(f"expected {name} {after}, found {found}")
        self._last = name
        return MemberReader(self, name, size)

    def read_member(self, name: str, *, max_size: int, error: type[ContainerError]) -> bytes:
        """The whole content of the next member ``name``; ``error`` if it is larger than ``max_size`` bytes."""
        member = self.member(name)
        if member.size > max_size:
            raise error.detail(f"{name} has {member.size} bytes; at most {max_size} are allowed")
        data = member.read(member.size)
        member.finish()
        return data

    def finish(self) -> None:
        """Check that the archive ends after the last member: only zero blocks, at least two, at most 22."""
        block = self._read(BLOCK, "the end-of-archive marker is missing")
        if any(block):
            try:
                found, _ = _parse_header(block, self._position + 1)
            except ContainerTarError:
                raise ContainerTrailingData.detail(f"after {self._last}") from None
            raise ContainerMembersError.detail(f"unexpected member {found} after {self._last}")
        self._read(BLOCK, "the end-of-archive marker is cut off")
        for _ in range(MAX_END_BLOCKS - 1):
            rest = self._stream.read(BLOCK)
            while rest and len(rest) < BLOCK and (more := self._stream.read(BLOCK - len(rest))):
                rest += more
            if not rest:
                return
            if len(rest) < BLOCK or any(rest):
                break
        raise ContainerTrailingData.detail("after the end of the archive")


class MemberReader:
    """One member's content as a binary stream (``read``), hashed as it is read; :meth:`finish` drains the rest,
    checks the padding and returns the SHA-256 hex digest of the whole content. Records the first error it raised
    in ``error`` (pyrage replaces a reader's exceptions with its own)."""

    def __init__(self, tar: TarReader, name: str, size: int) -> None:
        self._tar = tar
        self.name = name
        self.size = size
        self._left = size
        self._hash = hashlib.sha256()
        self.error: ContainerTruncated | None = None
        #: Where the content starts in the stream.
        self.offset = tar.offset

    def read(self, n: int | None = -1, /) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        if not n:
            return b""
        try:
            data = self._tar._read(n, f"{self.name} is cut off")
        except ContainerTruncated as e:
            self.error = self.error or e
            raise
        self._hash.update(data)
        self._left -= n
        return data

    def finish(self) -> str:
        while self._left:
            try:
                data = self._tar._read_some(min(self._left, _COPY_BYTES), f"{self.name} is cut off")
            except ContainerTruncated as e:
                self.error = self.error or e
                raise
            self._hash.update(data)
            self._left -= len(data)
        self._check_padding()
        return self._hash.hexdigest()

    def skip(self) -> None:
        """Pass over the rest of the content unread, then check the padding as :meth:`finish` does (a seekable stream
        only). For a caller that reads and hashes the content another way, by :attr:`offset` (the pseudonymizer's
        data.age, hashed in a thread and copied by the kernel): its digest is then the caller's to check."""
        self._tar._skip(self._left)
        self._left = 0
        self._check_padding()

    def _check_padding(self) -> None:
        padding = self._tar._read(-self.size % BLOCK, f"{self.name} is cut off")
        if any(padding):
            raise ContainerTarError.detail(f"the padding after {self.name} is not zero")

    def finish_digest(self, expected: str) -> None:
        """:meth:`finish`, then :class:`PartDigestMismatch` unless the digest is ``expected``."""
        if self.finish() != expected:
            raise PartDigestMismatch.detail(self.name)


class TarWriter:
    """Writes members with :func:`tar_header` headers to a binary file, then :meth:`close` ends the archive."""

    def __init__(self, out: Writable) -> None:
        self._out = out

    def add(self, name: str, data: bytes) -> None:
        self._out.write(tar_header(name, len(data)))
        self._out.write(data)
        self._out.write(bytes(-len(data) % BLOCK))

    def add_stream(self, name: str, size: int, source: Readable) -> None:
        """A member of ``size`` bytes read from ``source`` (a file positioned at its start or a MemberReader)."""
        self._out.write(tar_header(name, size))
        left = size
        while left:
            chunk = source.read(min(left, _COPY_BYTES))
            if not chunk:
                raise ValueError(f"{name}: the source ended {left} bytes early")
            self._out.write(chunk)
            left -= len(chunk)
        self._out.write(bytes(-size % BLOCK))

    def add_file_range(
        self, name: str, size: int, source_fd: int, offset: int, copied: Callable[[int, int, int], object] | None = None
    ) -> None:
        """A member of ``size`` bytes at ``offset`` in the file ``source_fd``, copied by the kernel
        (:func:`copy_file_range`, with its ``copied``) into the output, which must be a file (``flush`` and
        ``fileno``)."""
        out = cast(BinaryIO, self._out)
        out.write(tar_header(name, size))
        out.flush()
        copy_file_range(source_fd, out.fileno(), offset, size, copied)
        out.write(bytes(-size % BLOCK))

    def write_pieces(
        self, pieces: list[bytes | FileRange], copied: Callable[[int, int, int], object] | None = None
    ) -> None:
        """Write :func:`tar_pieces`: the bytes as they are, each file range copied by the kernel
        (:func:`copy_file_range`, with ``copied``); the output must be a file (``flush`` and ``fileno``)."""
        out = cast(BinaryIO, self._out)
        for piece in pieces:
            if isinstance(piece, tuple):
                out.flush()
                copy_file_range(piece[0], out.fileno(), piece[1], piece[2], copied)
            else:
                out.write(piece)

    def close(self) -> None:
        self._out.write(bytes(2 * BLOCK))


def tar_pieces(members: list[tuple[str, bytes | FileRange]]) -> list[bytes | FileRange]:
    """A whole archive of ``members`` (each a name and its content, bytes or a :data:`FileRange`) as pieces: bytes,
    and the file ranges where their contents go. The same bytes as :class:`TarWriter`'s ``add``,
    ``add_file_range`` and ``close``; known before anything is written, so that the archive's digest can be taken
    from its sources while it is written (:meth:`TarWriter.write_pieces`)."""
    pieces: list[bytes | FileRange] = []
    head = b""
    for name, content in members:
        if isinstance(content, tuple):
            size = content[2]
            pieces += [head + tar_header(name, size), content]
            head = bytes(-size % BLOCK)
        else:
            head += tar_header(name, len(content)) + content + bytes(-len(content) % BLOCK)
    pieces.append(head + bytes(2 * BLOCK))
    return pieces


def copy_file_range(
    source_fd: int, out_fd: int, offset: int, size: int, copied: Callable[[int, int, int], object] | None = None
) -> None:
    """Append ``size`` bytes at ``offset`` of ``source_fd`` to ``out_fd`` (at its position, which advances).

    Linux's ``copy_file_range`` copies in the kernel: no read into and write out of this process, about a third of
    the CPU of a read/write loop for the pseudonymizer's data.age. Where the kernel or the file systems cannot,
    a ``pread``/``write`` loop. ValueError if the source ends early. ``copied(out_fd, start, n)``, if given, is
    called after each piece of at most :data:`COPY_PIECE_BYTES` with where it went in ``out_fd`` (to start its
    writeback while the rest is copied).
    """
    end = offset + size
    try:
        position = os.lseek(out_fd, 0, os.SEEK_CUR) if copied else 0
    except OSError:  # a pipe: no position, nothing to write back
        position = 0
    while offset < end:
        try:
            n = os.copy_file_range(source_fd, out_fd, min(end - offset, COPY_PIECE_BYTES), offset)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                raise
            break
        if not n:
            raise ValueError(f"the source ended {end - offset} bytes early")
        offset += n
        if copied:
            copied(out_fd, position, n)
            position += n
    while offset < end:
        chunk = os.pread(source_fd, min(end - offset, _COPY_BYTES), offset)
        if not chunk:
            raise ValueError(f"the source ended {end - offset} bytes early")
        view = memoryview(chunk)
        while view:
            view = view[written(os.write(out_fd, view)) :]
        offset += len(chunk)
        if copied:
            copied(out_fd, position, len(chunk))
            position += len(chunk)
