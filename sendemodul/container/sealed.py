"""Plaintext that must not reach the disk: sealed chunks in an anonymous temporary file."""

import os
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sendemodul.writeback import pwrite_all

#: A sealed chunk: its number (its nonce; the file keeps where each chunk ends). A plain int, so that a caller can
#: keep many in an ``array("I")`` (the encryption module's shuffle keeps ~50,000 of them for 2,000,000 records: as
#: ``(offset, length, nonce)`` tuples they cost ~9 MiB of its peak RSS, issue 25).
Handle = int
#: :meth:`SealedTempFile.put_many`: the sealed bytes, and the most chunks, written by one ``pwritev`` (under the
#: system's IOV_MAX of 1024). 256 KiB: a byte as cheap in the kernel as in writes of 1 or 4 MiB (0.11-0.12 CPU-s
#: per 400 MiB), and no more than that held at once beside the buffers (the encryption module's peak is near 100 MiB).
_BATCH_BYTES = 256 << 10
_BATCH_CHUNKS = 512


class SealedTempFile:
    """Temporary storage for plaintext that must never reach the disk in the clear.

    :meth:`put` seals a chunk with AES-256-GCM under a random key that exists only in this object (nonce: a chunk
    counter) and appends it to an anonymous temporary file, returning a handle; :meth:`get` reads a chunk back and
    checks it. The file has no name and disappears on :meth:`close` (or when the process ends).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives as long as this object; close() ends it
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        #: Where each chunk ends in the file (chunk ``i`` starts where chunk ``i - 1`` ends).
        self._ends = array("Q")
        #: Set when a put failed part way: its handle (the nonce) may be spent or its bytes missing, so nothing more is
        #: put or got (a nonce used twice under one GCM key must never happen; a caller that goes on after the error
        #: gets this instead).
        self._failed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def _check(self) -> None:
        if self._failed:
            raise RuntimeError("a put into this sealed temporary file failed part way; it is no longer used")

    def put(self, data: bytes | bytearray) -> Handle:
        self._check()
        try:
            return self._put(data)
        except BaseException:
            self._failed = True
            raise

    def _put(self, data: bytes | bytearray) -> Handle:
        ends = self._ends
        handle = len(ends)
        sealed = self._aead.encrypt(handle.to_bytes(12, "big"), data, None)
        start = ends[-1] if ends else 0
        pwrite_all(self._file.fileno(), sealed, start)
        ends.append(start + len(sealed))
        return handle

    def put_many(self, chunks: Iterable[bytes | bytearray]) -> list[Handle]:
        """:meth:`put` for each of ``chunks`` in turn (their handles, in order), the sealed chunks written
        :data:`_BATCH_BYTES` at a time by one ``pwritev`` each instead of one ``pwrite`` a chunk.

        Why: the encryption module's shuffle seals each bucket's buffer apart, ~12 KiB each on the bench's extract
        (about 55,000 for 2,000,000 records), and a write of 12 KiB costs the kernel 2.5 times what the same bytes
        cost in writes of 64 KiB or more (0.31 against 0.12 CPU-s per 400 MiB into the page cache). A chunk is
        sealed when the iterator gives it, so a caller may free its plaintext as soon as the next is asked for; at
        most one batch of sealed chunks is held."""
        self._check()
        try:
            return self._put_many(chunks)
        except BaseException:
            self._failed = True
            raise

    def _put_many(self, chunks: Iterable[bytes | bytearray]) -> list[Handle]:
        ends = self._ends
        end = ends[-1] if ends else 0
        handles: list[Handle] = []
        batch: list[bytes] = []
        batch_start = end
        for data in chunks:
            handle = len(ends)
            sealed = self._aead.encrypt(handle.to_bytes(12, "big"), data, None)
            end += len(sealed)
            ends.append(end)
            handles.append(handle)
            batch.append(sealed)
            if end - batch_start >= _BATCH_BYTES or len(batch) >= _BATCH_CHUNKS:
                pwrite_all(self._file.fileno(), batch, batch_start)
                batch, batch_start = [], end
        if batch:
            pwrite_all(self._file.fileno(), batch, batch_start)
        return handles

    def plain_size(self, handle: Handle) -> int:
        """The length of the chunk :meth:`get` gives for ``handle`` (its sealed length less the 16-byte tag)."""
        ends = self._ends
        return ends[handle] - (ends[handle - 1] if handle else 0) - 16

    def get(self, handle: Handle) -> bytes:
        self._check()
        ends = self._ends
        start = ends[handle - 1] if handle else 0
        data = os.pread(self._file.fileno(), ends[handle] - start, start)
        return self._aead.decrypt(handle.to_bytes(12, "big"), data, None)


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
