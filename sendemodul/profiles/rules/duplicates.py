"""Duplicates in bounded memory: :class:`FirstSeen` finds the values of a field that occur on more than one line from
keyed hashes spilled to unnamed temporary files; :class:`Journal` keeps each line's journalnummer the same way, so
that the duplicate findings (known only at the end) can name their rows."""

from __future__ import annotations

import bisect
import hashlib
import re
import secrets
import tempfile
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

if TYPE_CHECKING:  # imported where used (a block of records): most commands never need numpy
    import numpy as np

__all__ = ["FirstSeen", "Journal"]

#: Values of at most this many bytes (UTF-8) are hashed as one AES block: their length, the bytes, zeros.
_SHORT = 15

#: Entries (hash and line) buffered in memory before they are written to a duplicate table's temporary file.
_SPILL_BLOCK = 8192
#: The most entries resolved in memory at once (a dict of up to this many distinct hashes, ~7 MB); a larger table is
#: first split into 2**_BUCKET_BITS parts by the next bits of the hash, in another temporary file.
_RESOLVE_MAX = 1 << 16
_BUCKET_BITS = 6
_BUCKETS = 1 << _BUCKET_BITS
#: A part's buffer is written out once it holds this many entries.
_PART_FLUSH = 2048


class _Run:
    """A sequence of ``(hash, line)`` entries in line order, in blocks of an unnamed temporary file (shared by the
    parts of one split)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.blocks: list[tuple[int, int]] = []
        self.count = 0

    def write(self, hashes: bytes, lines: array[int]) -> None:
        n = len(lines)
        if not n:
            return
        file = self.file
        offset = file.seek(0, 2)
        file.write(hashes)
        file.write(lines.tobytes())
        self.blocks.append((offset, n))
        self.count += n

    def read(self) -> Iterable[tuple[array[int], array[int]]]:
        file = self.file
        for offset, n in self.blocks:
            file.seek(offset)
            data = file.read(12 * n)
            hashes, lines = array("Q"), array("I")
            hashes.frombytes(data[: 8 * n])
            lines.frombytes(data[8 * n :])
            yield hashes, lines


class FirstSeen:
    """Finds the values of one field that occur on more than one line, in bounded memory whatever the extract's size.

    During the pass, :meth:`add` appends a keyed 64-bit hash of each value and its line to an unnamed temporary file,
    so the file holds no identifier and nothing to test guesses against. The hash is the first 8 bytes of AES-128
    under a random key made for this run and kept only in memory, of one 16-byte block: for a value of at most 15
    bytes (UTF-8) its length and its bytes, zero-padded; for a longer one the byte 0xFF and a keyed 15-byte BLAKE2b of
    it (the first byte keeps the two kinds apart). Why AES rather than BLAKE2b for all: a block of values is hashed by
    one call over their blocks side by side (:meth:`add_many`, :meth:`add_columns`), about 0.02 us a value instead of
    a hash object per value (0.8 us; the encryption module hashes two values a record). AES is a permutation, so two
    different values share a hash only through the truncation to 64 bits, with a probability of about n²/2^65 as
    before: negligible for any extract. :meth:`duplicates` then resolves the table part by part: a part of at most
    ``_RESOLVE_MAX`` entries in a dict, a larger one after splitting it by the next bits of the hash.
    """

    def __init__(self) -> None:
        self._ecb = Cipher(algorithms.AES(secrets.token_bytes(16)), modes.ECB()).encryptor()
        self._long = hashlib.blake2b(key=secrets.token_bytes(16), digest_size=_SHORT)
        self._hashes = bytearray()
        self._lines = array("I")
        self._run: _Run | None = None

    def _block(self, data: bytes) -> bytes:
        """The 16-byte block that :meth:`add` encrypts for a value's bytes."""
        if len(data) <= _SHORT:
            return bytes((len(data),)) + data + bytes(_SHORT - len(data))
        hasher = self._long.copy()
        hasher.update(data)
        return b"\xff" + hasher.digest()

    def _hash_blocks(self, blocks: bytes) -> None:
        """Append the hash of each 16-byte block in ``blocks`` (the first 8 bytes of its AES encryption)."""
        encrypted = self._ecb.update(blocks)
        view = memoryview(encrypted)
        if len(view) == 16:
            self._hashes += view[:8]
            return
        import numpy as np

        self._hashes += np.frombuffer(encrypted, np.uint8).reshape(-1, 16)[:, :8].tobytes()

    def add(self, value: str, line: int) -> None:
        """Remember that ``value`` is on ``line`` (lines must come in increasing order)."""
        self._hash_blocks(self._block(value.encode("utf-8", "surrogatepass")))
        lines = self._lines
        lines.append(line)
        if len(lines) >= _SPILL_BLOCK:
            self._spill()

    def add_many(self, values: list[str], lines: list[int]) -> None:
        """:meth:`add` for each value and its line, in order (a block of records)."""
        block = self._block
        self._hash_blocks(b"".join([block(value.encode("utf-8", "surrogatepass")) for value in values]))
        self._lines.extend(lines)
        if len(self._lines) >= _SPILL_BLOCK:
            self._spill()

    def add_columns(self, values: np.ndarray, lines: np.ndarray) -> None:
        """:meth:`add` for each row of ``values``, an ``(n, width)`` uint8 array of ASCII text (each row a value
        exactly as wide as the array, at most 15: the block path's full identifiers), and ``lines`` (``n`` line
        numbers in increasing order): the same hashes as :meth:`add` of each row's text, without a Python object a
        value."""
        import numpy as np

        n, width = values.shape
        if width > _SHORT:
            raise ValueError(f"add_columns takes values of at most {_SHORT} bytes")
        blocks = np.zeros((n, 16), np.uint8)
        blocks[:, 0] = width
        blocks[:, 1 : 1 + width] = values
        self._hash_blocks(blocks.tobytes())
        self._lines.frombytes(np.asarray(lines, np.uint32).tobytes())
        if len(self._lines) >= _SPILL_BLOCK:
            self._spill()

    def _spill(self) -> _Run:
        """Write the entries in memory to the table's temporary file (made on first use); the table."""
        run = self._run
        if run is None:
            run = self._run = _Run(tempfile.TemporaryFile())  # noqa: SIM115 (closed by duplicates() or close())
        run.write(bytes(self._hashes), self._lines)
        self._hashes, self._lines = bytearray(), array("I")
        return run

    def duplicates(self) -> Iterable[tuple[int, int]]:
        """Every ``(line, first line)`` where a value seen before comes again (by part: not in line order)."""
        run = self._spill()
        self._run = None
        try:
            yield from _resolve(run, 0)
        finally:
            run.file.close()

    def close(self) -> None:
        if self._run is not None:
            self._run.file.close()
            self._run = None


def _resolve(run: _Run, level: int) -> Iterable[tuple[int, int]]:
    """The duplicates of a table, in entry order within each part; by arrays (numpy): a part of at most
    ``_RESOLVE_MAX`` entries by a sort of its hashes (the first occurrence of each is where it was first seen), a
    larger one first split by the next bits of the hash (each entry, in order, to its part)."""
    import numpy as np

    if run.count <= _RESOLVE_MAX or level * _BUCKET_BITS >= 64:
        blocks = list(run.read())
        if not blocks:
            return
        hashes = np.concatenate([np.frombuffer(h, np.uint64) for h, _ in blocks])
        lines = np.concatenate([np.frombuffer(n, np.uint32) for _, n in blocks])
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        seen = first[inverse.ravel()]
        again = np.flatnonzero(seen != np.arange(len(hashes)))
        yield from zip(lines[again].tolist(), lines[seen[again]].tolist())
        return
    with tempfile.TemporaryFile() as file:
        parts = [_Run(file) for _ in range(_BUCKETS)]
        hashes_out = [array("Q") for _ in range(_BUCKETS)]
        lines_out = [array("I") for _ in range(_BUCKETS)]
        shift, mask = np.uint64(level * _BUCKET_BITS), np.uint64(_BUCKETS - 1)
        for block_hashes, block_lines in run.read():
            keys = np.frombuffer(block_hashes, np.uint64)
            numbers = np.frombuffer(block_lines, np.uint32)
            buckets = (keys >> shift) & mask
            order = np.argsort(buckets, kind="stable")
            ends = np.cumsum(np.bincount(buckets.astype(np.intp), minlength=_BUCKETS)).tolist()
            keys, numbers = keys[order], numbers[order]
            start = 0
            for bucket, end in enumerate(ends):
                if end > start:
                    hashes_out[bucket].frombytes(keys[start:end].tobytes())
                    lines_out[bucket].frombytes(numbers[start:end].tobytes())
                    start = end
                if len(lines_out[bucket]) >= _PART_FLUSH:
                    parts[bucket].write(hashes_out[bucket].tobytes(), lines_out[bucket])
                    hashes_out[bucket], lines_out[bucket] = array("Q"), array("I")
        for bucket in range(_BUCKETS):
            parts[bucket].write(hashes_out[bucket].tobytes(), lines_out[bucket])
        del hashes_out, lines_out
        for part in parts:
            yield from _resolve(part, level + 1)


class Journal:
    """The journalnummer of each line, kept in an unnamed temporary file, so that duplicate findings (found only at
    the end) can name their rows."""

    _BLOCK = 4096

    def __init__(self) -> None:
        self._file: BinaryIO | None = None
        self._lines = array("I")
        #: The texts of :attr:`_lines`, escaped and encoded, in groups joined by line breaks.
        self._texts: list[bytes] = []
        #: Per block written: its first line, offset, and number of entries.
        self._first_lines = array("I")
        self._blocks: list[tuple[int, int]] = []

    def add(self, line: int, journalnr: str) -> None:
        self._lines.append(line)
        self._texts.append(_escape(journalnr))
        if len(self._lines) >= self._BLOCK:
            self._flush()

    def add_many(self, lines: list[int], journalnrs: list[str]) -> None:
        """:meth:`add` for each line and its journalnummer, in order (a block of records)."""
        if not lines:
            return
        self._lines.extend(lines)
        self._texts.append(b"\n".join([_escape(text) for text in journalnrs]))
        if len(self._lines) >= self._BLOCK:
            self._flush()

    def add_column(self, lines: np.ndarray, journalnrs: np.ndarray) -> None:
        """:meth:`add_many` for a block's journalnummer column (an ``(n, width)`` uint8 array of ASCII, each row a
        journalnummer as wide as the array, with no space, backslash or line break) and their ``n`` lines."""
        import numpy as np

        n, width = journalnrs.shape
        if not n:
            return
        rows = np.empty((n, width + 1), np.uint8)
        rows[:, :width] = journalnrs
        rows[:, width] = 10
        self._lines.frombytes(np.asarray(lines, np.uint32).tobytes())
        self._texts.append(rows.tobytes()[:-1])
        if len(self._lines) >= self._BLOCK:
            self._flush()

    def _flush(self) -> None:
        if not self._lines:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        file = self._file
        offset = file.seek(0, 2)
        file.write(self._lines.tobytes())
        file.write(b"\n".join(self._texts))
        self._first_lines.append(self._lines[0])
        self._blocks.append((offset, len(self._lines)))
        self._lines, self._texts = array("I"), []

    def lookup(self, lines: Iterable[int]) -> dict[int, str]:
        """The journalnummer of each of ``lines`` that has one."""
        self._flush()
        found: dict[int, str] = {}
        file = self._file
        if file is None:  # nothing written: no line has a journalnummer
            return found
        wanted: dict[int, list[int]] = {}
        for line in lines:
            block = bisect.bisect_right(self._first_lines, line) - 1
            if block >= 0:
                wanted.setdefault(block, []).append(line)
        for block, block_lines in sorted(wanted.items()):
            offset, n = self._blocks[block]
            end = self._blocks[block + 1][0] if block + 1 < len(self._blocks) else None
            file.seek(offset)
            data = file.read() if end is None else file.read(end - offset)
            entry_lines = array("I")
            entry_lines.frombytes(data[: 4 * n])
            texts = data[4 * n :].split(b"\n")
            for line in block_lines:
                i = bisect.bisect_left(entry_lines, line)
                if i < n and entry_lines[i] == line:
                    found[line] = _unescape(texts[i].decode("utf-8", "surrogatepass"))
        return found

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _escape(text: str) -> bytes:
    """A journalnummer as the journal's file holds it: backslashes and line breaks escaped, UTF-8."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").encode("utf-8", "surrogatepass")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)
