"""The plaintext of a part: its header line and its rows, sorted by row_id, checked as they stream
(:class:`PartParser`)."""

import itertools
import operator
import re
from collections.abc import Callable

from sendemodul.errors import PartContentError

#: A decrypted line longer than this is refused (a part without line breaks must not fill the memory).
MAX_LINE_BYTES = 16 * 1024**2
HEADER_LINE_PREFIX = "#header\t"

ROW_ID_PATTERN = re.compile(r"[0-9a-f]{24}")
ID_TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_PART_HEADER = re.compile(r"#sendemodul/1 container_id=(\S+) part=([a-z]+) records=(0|[1-9][0-9]{0,11})")


def part_header(container_id: str, part: str, records: int) -> bytes:
    """The first plaintext line of a part: ``#sendemodul/1 container_id=<id> part=<part> records=<n>``."""
    return f"#sendemodul/1 container_id={container_id} part={part} records={records}\n".encode("ascii")


class PartParser:
    """A writer for ``pyrage.decrypt_io`` that checks a part's plaintext as it streams and hands on its lines.

    The first line must be the part header for ``container_id`` and ``part``; in the data part ``#header<TAB>``
    lines may follow. Every other line is split at its first ``fields - 1`` TABs and passed to ``on_line(*values)``;
    its first value must be a row_id, in order: strictly increasing if ``one_line_per_row``, else non-decreasing
    (several lines per row). :meth:`close` checks that the last line ended and that the rows counted match the
    header's ``records``, which is then ``self.records``. Records the first error it raised in ``error``.

    ``on_block(block)``, if given, replaces ``on_line`` for the rows checked in bulk: ``block`` is the bytes of whole
    lines (each ended by its line break), each already checked as above, and valid UTF-8. Blocks of plain rows in
    order are checked with a few C-level passes (row_ids sliced out and joined, TABs counted, row_ids compared
    pairwise); any other block is read line by line, with the same results. ``block_bytes`` gathers the plaintext
    into blocks of about that size first (the rest is handed on by :meth:`close`): each block costs a fixed number
    of calls whatever its size, so bigger blocks than age's 64 KiB chunks spread that cost over more rows.
    """

    def __init__(
        self,
        container_id: str,
        part: str,
        fields: int,
        on_line: Callable[..., object],
        *,
        one_line_per_row: bool,
        on_header_line: Callable[[str], object] | None = None,
        on_block: Callable[[bytes], object] | None = None,
        block_bytes: int = 0,
    ) -> None:
        self._container_id = container_id
        self._part = part
        self._fields = fields
        self._on_line = on_line
        self._one_line_per_row = one_line_per_row
        self._on_header_line = on_header_line
        self._on_block = on_block
        self._in_order = operator.lt if one_line_per_row else operator.le
        self._tail = b""
        self._block_bytes = block_bytes
        self._pending = bytearray()
        self._previous: str | None = None
        self._rows = 0
        self.records: int | None = None
        self.error: Exception | None = None

    def _bad(self, problem: str) -> PartContentError:
        return PartContentError.detail(f"{self._part}: {problem}")

    def write(self, chunk: bytes) -> int:
        if self._block_bytes:
            self._pending += chunk
            if len(self._pending) < self._block_bytes:
                return len(chunk)
            self._take(self._pending)
            self._pending = bytearray()
        else:
            self._take(chunk)
        return len(chunk)

    def _take(self, chunk: bytes | bytearray) -> None:
        """Check and hand on the complete lines of the plaintext so far; keep the unfinished last line."""
        try:
            data = self._tail + chunk if self._tail else bytes(chunk)
            end = data.rfind(b"\n") + 1
            self._tail = data[end:]
            if len(self._tail) > MAX_LINE_BYTES:
                raise self._bad(f"a line is longer than {MAX_LINE_BYTES} bytes")
            if end:
                self._block(data[:end] if end < len(data) else data)
        except Exception as e:
            self.error = e
            raise

    def _block(self, block: bytes) -> None:
        """The complete lines in ``block`` (which ends with a line break): all at once where they are plain rows in
        order, else line by line (:meth:`_line`), which gives the same results and says what is wrong."""
        start = 0
        while self.records is None or (self._on_header_line is not None and self._previous is None):
            end = block.find(b"\n", start)
            if end < 0:
                return
            self._line(block[start:end])
            start = end + 1
        if start:
            block = block[start:]
        if not block:
            return
        lines = block.split(b"\n")
        lines.pop()
        row_ids = list(map(_ROW_ID_OF, lines))
        # Each line: a row_id (24 lowercase hex digits), a TAB, and at least fields - 2 more TABs; valid UTF-8.
        joined = b"".join(row_ids)
        if (
            len(joined) != 24 * len(lines)
            or joined.translate(None, b"0123456789abcdef")
            or b"".join(map(_AFTER_ROW_ID, lines)) != b"\t" * len(lines)
            or (self._fields > 2 and min(map(bytes.count, lines, itertools.repeat(b"\t"))) < self._fields - 1)
            or (not block.isascii() and not _is_utf8(block))
        ):
            self._lines_one_by_one(block)
            return
        previous = self._previous
        if previous is not None:
            row_ids.insert(0, previous.encode("ascii"))
        if not all(map(self._in_order, row_ids, itertools.islice(row_ids, 1, None))):
            self._lines_one_by_one(block)
            return
        self._rows += sum(map(operator.ne, row_ids, itertools.islice(row_ids, 1, None))) + (previous is None)
        self._previous = row_ids[-1].decode("ascii")
        if self._on_block is not None:
            self._on_block(block)
        else:
            on_line, fields = self._on_line, self._fields - 1
            for line in lines:
                on_line(*line.decode("utf-8").split("\t", fields))

    def _lines_one_by_one(self, block: bytes) -> None:
        lines = block.split(b"\n")
        lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._bad(f"line {self._rows + 1} after the header is not UTF-8") from None
        if self.records is None:
            self._header(line)
            return
        if line.startswith(HEADER_LINE_PREFIX) and self._on_header_line and self._previous is None:
            self._on_header_line(line[len(HEADER_LINE_PREFIX) :])
            return
        values = line.split("\t", self._fields - 1)
        row_id = values[0]
        if len(values) != self._fields or not ROW_ID_PATTERN.fullmatch(row_id):
            raise self._bad(f"a line is not {self._fields} TAB-separated fields starting with a row_id")
        previous = self._previous
        if previous is None or row_id > previous:
            self._rows += 1
            self._previous = row_id
        elif row_id < previous or self._one_line_per_row:
            raise self._bad("rows are not sorted by row_id, or a row_id repeats")
        self._on_line(*values)

    def _header(self, line: str) -> None:
        match = _PART_HEADER.fullmatch(line)
        if not match:
            raise self._bad("the first line is not a '#sendemodul/1 container_id=... part=... records=...' header")
        container_id, part, records = match.groups()
        if container_id != self._container_id or part != self._part:
            raise self._bad(f"the part belongs to another container or part ({part})")
        self.records = int(records)

    def close(self) -> None:
        if self._pending:
            self._take(self._pending)
            self._pending = bytearray()
        if self.records is None or self._tail:
            raise self._bad("the part ends in the middle of a line")
        if self._rows != self.records:
            raise self._bad(f"it has {self._rows} rows but its header says {self.records}")


_ROW_ID_OF = operator.itemgetter(slice(0, 24))
_AFTER_ROW_ID = operator.itemgetter(slice(24, 25))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
