"""Fixed-width extracts (11F, 11CF): one record a line, every line exactly the record length.

The bytes are ISO-8859-1 (every byte is a character, so decoding never fails), lines end in LF or CRLF, blank lines
are ignored. A line of the wrong length or with a TAB cannot be split into fields: it is yielded as
:class:`~sendemodul.profiles.model.Malformed` (FATAL). Lines are read with a bounded ``readline``, so a file without
line breaks never ends up in memory as one huge line.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol, Unpack, overload

from sendemodul.profiles.model import Extract, Malformed, Profile, ProfileArgs, Record

_SKIP_CHUNK_BYTES = 1 << 16
#: :meth:`FixedWidthExtract.blocks`: bytes read at a time, and the most bytes of one unfinished line kept waiting for
#: its line break (past that, the rest of the file is read line by line, as :meth:`FixedWidthExtract.scan` does).
#: 1.5 MiB (~4,600 11F lines): the checks pay a fixed cost per block (a few hundred numpy calls) and took 10-15 %
#: less CPU than with 1 MiB blocks; since a block is its bytes (:class:`LineBlock`: no text, no str a line) the
#: encryption module's peak RSS is no higher than it was with 1 MiB (2 MiB: ~5 MiB more, and no less CPU).
_BLOCK_BYTES = 3 << 19
_PENDING_MAX_BYTES = 1 << 20
#: Encodings in which every byte is one character (so that a line's length in bytes is its length in characters).
_SINGLE_BYTE = frozenset({"iso8859-1", "latin-1"})


class FixedWidthProfile(Profile):
    kind = "fixed"

    def __init__(self, *, record_length: int, **common: Unpack[ProfileArgs]) -> None:
        super().__init__(**common)
        self.record_length = record_length
        self._slices = tuple((f.name, *f.span) for f in self.field_specs)
        self._id_slices = tuple((f.name, *f.span) for f in self.field_specs if f.id_kind)
        spans: list[list[int]] = []
        for _, start, end in sorted(self._id_slices, key=lambda s: s[1]):
            if spans and spans[-1][1] == start:
                spans[-1][1] = end
            else:
                spans.append([start, end])
        #: Identifier spans merged where adjacent (11F: fnr and DUF are one blank run), with their padding.
        self._blank_spans = tuple((start, end, " " * (end - start)) for start, end in spans)
        #: The identifier fields' ``(name, start, end)``, and the spans :meth:`split` blanks (block processing).
        self.id_slices = self._id_slices
        self.blank_spans = self._blank_spans
        journal = self.journal_field
        self._journal_slice = journal.span if journal else None

    def open_extract(self, stream: BinaryIO) -> FixedWidthExtract:
        return FixedWidthExtract(self, stream)

    def fields(self, data_line: str) -> dict[str, str]:
        return {name: data_line[start:end].strip(" ") for name, start, end in self._slices}

    def record(self, line: int, text: str) -> Record:
        """The :class:`Record` for one line of the right length without TAB (``text`` without its line break)."""
        ids, data = self.split(text)
        return Record(line, self.journalnr(text), ids, data)

    def split(self, text: str) -> tuple[tuple[tuple[str, str], ...], str]:
        """``(ids, data)`` of a record line, as in its :class:`Record`: the identifier fields' values (stripped), and
        the line with those fields blanked."""
        ids = tuple([(name, text[start:end].strip(" ")) for name, start, end in self._id_slices])
        data = text
        for start, end, blank in self._blank_spans:
            data = data[:start] + blank + data[end:]
        return ids, data

    def journalnr(self, text: str) -> str | None:
        """The journalnummer of a record line (stripped), ``None`` if it is blank or the register has none."""
        if self._journal_slice is None:
            return None
        return text[self._journal_slice[0] : self._journal_slice[1]].strip(" ") or None


def _count_lf(data: bytes) -> int:
    """How many LF bytes ``data`` holds (numpy: about six times faster than ``bytes.count``, which the reader thread
    would pay on every byte of the extract)."""
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))


class ByteStream(Protocol):
    """What :class:`FixedWidthExtract` reads from: a binary file, or a :class:`_Joined` one."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class Lines(list[str]):
    """A block of :meth:`FixedWidthExtract.blocks`: its lines, and (``data``) the block's bytes when each line is
    the record length plus one LF, so that the block path can view them as an array without a copy."""

    data: bytes | None = None


class LineBlock(Sequence[str]):
    """A block of :meth:`FixedWidthExtract.blocks` whose bytes (``data``) are exactly its lines, each the record
    length plus one LF: a line's text is decoded from them when asked for.

    Why not a list of the lines: the block path judges a block on its bytes (a numpy view of ``data``) and reads
    the text of only the few lines it hands to the per-record rules, so the block's text and one ``str`` a line
    (more memory than the bytes themselves, in each block alive in the reader's and the checks' threads) were made
    for nothing, and cutting and measuring them cost the reader most of its CPU. Every byte is one character in the
    encodings read this way, so a line's text is what splitting the decoded block would give."""

    __slots__ = ("_encoding", "_n", "_stride", "data")

    def __init__(self, data: bytes, length: int, encoding: str):
        self.data: bytes | None = data
        self._stride = length + 1
        self._n = len(data) // self._stride
        self._encoding = encoding

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        at = index * self._stride
        assert self.data is not None
        return self.data[at : at + self._stride - 1].decode(self._encoding)


class FixedWidthExtract(Extract):
    def __init__(self, profile: FixedWidthProfile, stream: ByteStream, *, first_line: int = 0) -> None:
        super().__init__()
        self._profile = profile
        self._stream = stream
        #: The number of lines before the stream's first (for a part of a file).
        self._first_line = first_line

    def blocks(self) -> Iterator[tuple[int, Sequence[str]] | tuple[None, Iterator[Record | Malformed]]]:
        """What :meth:`scan` yields, in blocks of lines, for callers that check most records faster by themselves.

        Each block is ``(first_line, texts)``: consecutive lines numbered from ``first_line``, each exactly the record
        length, without TAB, CR or line break (possibly blank: :meth:`scan` skips a line of spaces), for which
        :meth:`scan` would yield ``profile.record(line, text)``; or ``(None, items)``: a part of the file where some
        line is not like that, with the items :meth:`scan` yields for it (line numbers counted through). Consume each
        block before the next. Memory stays bounded: after a very long line, the rest of the file is one
        ``(None, items)`` block.
        """
        profile = self._profile
        length = profile.record_length
        encoding = profile.encoding
        if codecs.lookup(encoding).name not in _SINGLE_BYTE:
            yield None, FixedWidthExtract(profile, self._stream, first_line=self._first_line).scan()
            return
        read = self._stream.read
        line = self._first_line
        pending = b""
        # whole lines at a time: in a file of lines of the record length, a read ends at a line's end, and the block
        # is the bytes read (no copy to join them to the last read's rest or to cut off the next line's start)
        block_bytes = max(1, _BLOCK_BYTES // (length + 1)) * (length + 1)
        while True:
            chunk = read(block_bytes)
            if chunk:
                data = pending + chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) > _PENDING_MAX_BYTES:
                        yield None, FixedWidthExtract(profile, _Joined(data, self._stream), first_line=line).scan()
                        return
                    pending = data
                    continue
                data, pending = data[:cut], data[cut:]
            else:
                data, pending = pending, b""
                if not data:
                    return
            chunk = b""  # not kept alive beside the block while it is checked
            count = len(data) // (length + 1)
            if (
                len(data) == count * (length + 1)
                and data[length :: length + 1] == b"\n" * count
                and b"\t" not in data
                and b"\r" not in data
                and _count_lf(data) == count
            ):  # every line the record length and an LF (the usual case): its text decoded only if asked for
                yield line + 1, LineBlock(data, length, encoding)
                line += count
                continue
            text = data.decode(encoding)
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            texts = text.split("\n")
            if not texts[-1]:
                texts.pop()  # after the last line break
            if "\t" in text or "\r" in text or any(len(t) != length for t in texts):
                yield None, FixedWidthExtract(profile, io.BytesIO(data), first_line=line).scan()
            else:
                lines = Lines(texts)
                if len(data) == len(texts) * (length + 1):  # every line ends in LF: the bytes are the lines
                    lines.data = data
                yield line + 1, lines
            line += len(texts)

    def scan(self) -> Iterator[Record | Malformed]:
        profile = self._profile
        length = profile.record_length
        encoding = profile.encoding
        readline = self._stream.readline
        limit = length + 3  # the record, CRLF, and one byte more to tell an overlong line
        line = self._first_line
        while raw := readline(limit):
            line += 1
            if not raw.endswith(b"\n") and len(raw) == limit:
                seen = self._rest_of_line(raw)
                yield Malformed(
                    line,
                    "RECORD_LENGTH",
                    f"the line is {seen} characters long; a {profile.register} record is exactly {length}",
                )
                continue
            text = raw.decode(encoding)
            if text.endswith("\n"):
                text = text[:-2] if text.endswith("\r\n") else text[:-1]
            if not text.strip(" \r"):
                continue
            if "\t" in text:
                yield Malformed(
                    line,
                    "TAB",
                    f"the line contains a TAB character (column {text.index(chr(9)) + 1}); "
                    "fields are padded with spaces",
                )
            elif len(text) != length:
                yield Malformed(
                    line,
                    "RECORD_LENGTH",
                    f"the line is {len(text)} characters long; a {profile.register} record is exactly {length}",
                )
            else:
                yield profile.record(line, text)

    def _rest_of_line(self, head: bytes) -> int:
        """Read past the end of an overlong line that begins with ``head``; its length without the line break."""
        length = len(head)
        tail = head[-2:]
        while chunk := self._stream.readline(_SKIP_CHUNK_BYTES):
            length += len(chunk)
            tail = (tail + chunk)[-2:]
            if chunk.endswith(b"\n"):
                break
        if tail == b"\r\n":
            return length - 2
        return length - 1 if tail.endswith(b"\n") else length


class _Joined:
    """``head`` (bytes) and then the rest of ``stream``, as one stream."""

    def __init__(self, head: bytes, stream: ByteStream) -> None:
        self._head = io.BytesIO(head)
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        data = self._head.read(size)
        if size < 0:
            return data + self._stream.read(-1)
        if len(data) == size:
            return data
        return data + self._stream.read(size - len(data))

    def readline(self, limit: int) -> bytes:
        data = self._head.readline(limit)
        if data.endswith(b"\n") or len(data) == limit:
            return data
        return data + self._stream.readline(limit - len(data))
