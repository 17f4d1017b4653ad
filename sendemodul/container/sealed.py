"""Plaintext that must not reach the disk: sealed chunks in an anonymous temporary file."""

import os
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: Where a sealed chunk is: ``(offset, length, nonce)``.
Handle = tuple[int, int, bytes]


class SealedTempFile:
    """Temporary storage for plaintext that must never reach the disk in the clear.

    :meth:`put` seals a chunk with AES-256-GCM under a random key that exists only in this object (nonce: a chunk
    counter) and appends it to an anonymous temporary file, returning a handle; :meth:`get` reads a chunk back and
    checks it. The file has no name and disappears on :meth:`close` (or when the process ends).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives as long as this object; close() ends it
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self._end = 0
        self._count = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def put(self, data: bytes | bytearray) -> Handle:
        nonce = self._count.to_bytes(12, "big")
        self._count += 1
        sealed = self._aead.encrypt(nonce, data, None)
        view, offset = memoryview(sealed), self._end
        while view:
            written = os.pwrite(self._file.fileno(), view, offset)
            view, offset = view[written:], offset + written
        handle = (self._end, len(sealed), nonce)
        self._end += len(sealed)
        return handle

    def get(self, handle: Handle) -> bytes:
        offset, length, nonce = handle
        return self._aead.decrypt(nonce, os.pread(self._file.fileno(), length, offset), None)


class SealedStream:
    """Lines written in order, sealed into a :class:`SealedTempFile` in chunks; :meth:`blocks` reads them back in
    order."""

    def __init__(self, sealed: SealedTempFile, chunk_bytes: int = 1024**2) -> None:
        self._sealed = sealed
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._handles: list[Handle] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._chunk_bytes:
            self._handles.append(self._sealed.put(self._buffer))
            self._buffer = bytearray()

    def blocks(self) -> Iterator[bytes]:
        if self._buffer:
            self._handles.append(self._sealed.put(self._buffer))
            self._buffer = bytearray()
        for handle in self._handles:
            yield self._sealed.get(handle)
