"""The plaintext of a part: its header line and its rows, sorted by row_id, checked as they stream
(:class:`PartParser`)."""

import operator
import re
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

    ``on_block(block, ends, tabs)``, if given, replaces ``on_line`` for the rows checked in bulk: ``block`` is the
    bytes of whole lines (each ended by its line break), each already checked as above, and valid UTF-8; ``ends``
    and ``tabs`` are the positions of its line breaks and TABs (numpy arrays; ``tabs`` is None for two fields), which
    the checks found anyway. Blocks of plain rows in
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
        on_block: Callable[[bytes, np.ndarray, np.ndarray | None], object] | None = None,
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
        checked = self._checked_rows(block)
        if checked is None:
            self._lines_one_by_one(block)
            return
        rows, ends, tabs = checked
        self._rows += rows
        if self._on_block is not None:
            self._on_block(block, ends, tabs)
        else:
            on_line, fields = self._on_line, self._fields - 1
            for line in block.split(b"\n")[:-1]:
                on_line(*line.decode("utf-8").split("\t", fields))

    def _checked_rows(self, block: bytes) -> tuple[int, np.ndarray, np.ndarray | None] | None:
        """How many new rows the lines of ``block`` (ending with a line break) begin, if they are all plain rows in
        order, and the last row_id noted; else None (and nothing noted). With the count, the positions of the
        block's line breaks and (for more than two fields) TABs.

        By array arithmetic over the block's bytes (numpy), no object per line: each line has a row_id (24
        lowercase hex digits), a TAB, and at least ``fields - 2`` more TABs; the block is valid UTF-8; the row_ids
        (24 bytes, compared as three big-endian 64-bit numbers, which orders them as their bytes) do not decrease
        from the previous block's last, or increase if ``one_line_per_row``.
        """
        data = np.frombuffer(block, np.uint8)
        ends = np.flatnonzero(data == 10)
        starts = np.empty(len(ends), np.intp)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        if (ends - starts).min() < 25 or (not block.isascii() and not _is_utf8(block)):
            return None
        # Each line's first 24 bytes as a row of a window view: one copy of 24 bytes a line, not a gather through an
        # index array of 24 numbers a line (a quarter of the CPU).
        row_ids = sliding_window_view(data, 24)[starts]
        if not _all_lowercase_hex(row_ids) or not (data[starts + 24] == 9).all():
            return None
        tabs = None
        if self._fields > 2:
            tabs = np.flatnonzero(data == 9)
            if not _tabs_at_least(tabs, ends, self._fields - 1):
                return None
        previous = self._previous
        increasing, repeats = _order(row_ids, previous)
        if not increasing or (repeats and self._one_line_per_row):
            return None
        self._previous = block[starts[-1] : starts[-1] + 24].decode("ascii")
        return len(starts) - repeats, ends, tabs

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


def _all_lowercase_hex(rows: np.ndarray) -> bool:
    """Whether every byte of ``rows`` (uint8) is one of ``0-9a-f``: two range checks by unsigned wrap-around, about
    a seventh of the CPU of a lookup table indexed by each byte."""
    return bool((((rows - 48) < 10) | ((rows - 97) < 6)).all())


def _tabs_at_least(tabs: np.ndarray, ends: np.ndarray, each: int) -> bool:
    """Whether each line (``ends``: the positions of the line breaks) holds at least ``each`` of the TABs at
    ``tabs``. Where there are exactly ``each`` a line in all (the usual block), by where each line's first and last
    TAB fall, not by a search per line."""
    n = len(ends)
    if len(tabs) == each * n:
        return bool((tabs[each - 1 :: each] < ends).all() and (tabs[each::each] > ends[:-1]).all())
    before = np.searchsorted(tabs, ends)  # per line, the TABs before its end
    return bool(before[0] >= each and (np.diff(before) >= each).all())


def _order(row_ids: np.ndarray, previous: str | None) -> tuple[bool, int]:
    """Whether the row_ids (24 bytes a row of ``row_ids``, after ``previous`` if there is one) never decrease, and
    how many of them repeat the one before. Compared as three big-endian 64-bit numbers, which orders them as their
    bytes: the first decides most pairs, and only the pairs that share it are compared on the other two (usually a
    row's repeated row_id: several lines a row)."""
    keys = row_ids.view(">u8").astype(np.uint64)
    if previous is not None:
        keys = np.concatenate([np.frombuffer(previous.encode("ascii"), ">u8").astype(np.uint64)[None, :], keys])
    first = keys[:, 0]
    if (first[1:] < first[:-1]).any():
        return False, 0
    tied = np.flatnonzero(first[1:] == first[:-1])
    before, after = keys[tied, 1:], keys[tied + 1, 1:]
    same_second = after[:, 0] == before[:, 0]
    if ((after[:, 0] < before[:, 0]) | (same_second & (after[:, 1] < before[:, 1]))).any():
        return False, 0
    return True, int((same_second & (after[:, 1] == before[:, 1])).sum())


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
