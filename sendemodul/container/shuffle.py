"""The rows' shuffle of the encryption module (:class:`Shuffle`): both parts of a container sorted by row_id.

Rows get random 96-bit row_ids and both parts must be sorted by row_id, which is a shuffle of the whole extract. It
is done as a bucket sort: each row's lines go to one of 256 buckets by the first byte of its row_id; when the
buffered lines reach a budget, every bucket's buffer is sealed (AES-256-GCM under a key held only in memory) and
appended to one anonymous temporary file (:class:`~sendemodul.container.sealed.SealedTempFile`). Afterwards each
bucket alone is read back, sorted in memory and handed on. Memory is the budget (8 MiB) plus about three times one
bucket (1/256 of the extract), and a 4-byte handle per sealed chunk: no plaintext touches the disk.
"""

import functools
import itertools
import secrets
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from sendemodul.container.canonical_json import is_text
from sendemodul.container.plaintext import ID_TYPE_PATTERN
from sendemodul.container.sealed import SealedTempFile
from sendemodul.errors import ContainerInputError

if TYPE_CHECKING:  # imported where used (a block of rows): most commands never need numpy
    import numpy as np

_BUCKETS = 256
#: 8 MiB: with numpy loaded (the encryption module's block checks), the encryption module stays under 100 MiB; each
#: flush seals 512 chunks, whose handles are kept as 4-byte numbers (a 2,000,000-record extract makes ~50,000).
_BUDGET_BYTES = 8 * 1024**2

#: A row to write: its ``(id_type, value)`` pairs and the record with the ID fields blanked.
Row = tuple[Sequence[tuple[str, str]], str]


class RowBlock(NamedTuple):
    """Many rows at once, as columns (what the encryption module makes of a block of a fixed-width extract): ``ids``,
    each ID field's name and its values: a list (ASCII bytes, stripped, blank ones empty) or the field's column as
    in the extract (an ``(n, width)`` uint8 array of ASCII, each value padded with spaces, which are not part of
    it); and ``data``, the records with the ID fields blanked, an ``(n, width)`` uint8 array of ASCII. The same
    lines as the rows ``((name, value), ...), record`` would give, made column by column."""

    ids: "Sequence[tuple[str, list[bytes] | np.ndarray]]"
    data: "np.ndarray"

    def rows(self) -> Iterator[Row]:
        """The block as rows (for a block that :meth:`_Shuffle.add_rows` cannot take as columns)."""
        texts = self.data.tobytes().decode("ascii")
        width = self.data.shape[1] if self.data.ndim == 2 else 0
        names = [name for name, _ in self.ids]
        columns = [[value.decode("ascii") for value in _values(values)] for _, values in self.ids]
        for i in range(len(self.data)):
            yield tuple(zip(names, (column[i] for column in columns))), texts[i * width : (i + 1) * width]


def _values(values: "list[bytes] | np.ndarray") -> list[bytes]:
    """A :class:`RowBlock`'s ID column as a list of values."""
    if isinstance(values, list):
        return values
    column, keep = _id_column(values, len(values))
    return [row[mask].tobytes() for row, mask in zip(column, keep)]


class Shuffle:
    """The rows' identities and data lines, sorted by row_id with bounded memory (see the module's docstring).

    The ID lines of one row are joined with NUL (which no ID may contain) while they wait, so that every entry is one
    line starting with a unique row_id and a plain sort orders both kinds; the NULs become line breaks on the way out.
    """

    def __init__(self, sealed: SealedTempFile) -> None:
        self._sealed = sealed
        self._ids = [bytearray() for _ in range(_BUCKETS)]
        self._data = [bytearray() for _ in range(_BUCKETS)]
        #: The bytes of ID entries and of data lines buffered so far (what :meth:`sorted_blocks` will give).
        self.sizes = {"ids": 0, "data": 0}
        #: Each bucket's sealed chunks (:data:`Handle` numbers, 4 bytes each rather than a list's boxed ints).
        self._handles: dict[str, list[array[int]]] = {
            "ids": [array("I") for _ in range(_BUCKETS)],
            "data": [array("I") for _ in range(_BUCKETS)],
        }

    def add_rows(self, rows: Iterable[Row | RowBlock], progress: Callable[[int], object] | None) -> int:
        """Give each row a row_id and buffer its lines; returns the number of rows. A :class:`RowBlock` stands for
        its rows."""
        known_types: set[str] = set()
        buffered = count = 0
        row_ids = itertools.chain.from_iterable(_row_ids())
        reported = 0
        for item in rows:
            if isinstance(item, RowBlock):
                added = self._add_block(item, known_types, count)
                if added is None:  # not as columns: row by row, which also says what is wrong with a row
                    for bucket_and_id, row in zip(row_ids, item.rows()):
                        count += 1
                        buffered += self._add_row(row, *bucket_and_id, known_types, count)
                else:
                    count += len(item.data)
                    buffered += added
            else:
                count += 1
                bucket, row_id = next(row_ids)
                buffered += self._add_row(item, bucket, row_id, known_types, count)
            if buffered >= _BUDGET_BYTES:
                self._flush()
                buffered = 0
            if progress and count - reported >= 4096:
                progress(count - reported)
                reported = count
        if progress and count > reported:
            progress(count - reported)
        self._flush()
        return count

    def _add_row(self, row: Row, bucket: int, row_id: str, known_types: set[str], count: int) -> int:
        """Buffer one row's lines (row number ``count``); the bytes buffered."""
        ids, record = row
        for id_type, value in ids:
            if id_type not in known_types:
                if not is_text(id_type, ID_TYPE_PATTERN):
                    raise ContainerInputError(f"row {count}: {id_type!r} is not a valid ID field name")
                known_types.add(id_type)
            if "\t" in value or "\n" in value or "\r" in value or "\0" in value:
                raise ContainerInputError(f"row {count}: the {id_type} field contains a TAB or line break")
        if not ids:
            raise ContainerInputError(f"row {count} has no ID field")
        if "\n" in record or "\r" in record:
            raise ContainerInputError(f"row {count}: the record contains a line break")
        entry = "\0".join([f"{row_id}\t{id_type}\t{value}" for id_type, value in ids]).encode() + b"\n"
        self._ids[bucket] += entry
        line = f"{row_id}\t{record}\n".encode()
        self._data[bucket] += line
        self.sizes["ids"] += len(entry)
        self.sizes["data"] += len(line)
        return len(entry) + len(line)

    def _add_block(self, block: RowBlock, known_types: set[str], count: int) -> int | None:
        """Buffer a block's lines column by column: random row_ids for all its rows, the data lines and the ID
        entries each built as one array and cut into the buckets after a sort by bucket (a few slices per bucket
        instead of an append per row). The bytes buffered; ``None`` (nothing done) when some row would be refused,
        so that :meth:`_add_row` says which.
        """
        import numpy as np

        data = block.data
        n = len(data)
        if not n:
            return 0
        if not block.ids or data.ndim != 2:
            return None
        flat = data.tobytes()  # memchr over a copy: ~20 times faster than comparing the array twice
        if b"\n" in flat or b"\r" in flat:
            return None
        del flat
        pool = secrets.token_bytes(12 * n)
        row_ids = np.frombuffer(pool.hex().encode("ascii"), np.uint8).reshape(n, 24)
        # Each ID entry as a row of one array, with a mask of the bytes it keeps (a value's padding is dropped):
        # row_id TAB name TAB value, the fields joined by NUL, ended by a line break.
        parts: list[np.ndarray] = []
        keeps: list[np.ndarray] = []
        for k, (id_type, values) in enumerate(block.ids):
            if id_type not in known_types:
                if not is_text(id_type, ID_TYPE_PATTERN):
                    return None
                known_types.add(id_type)
            column, keep = _id_column(values, n)
            if (keep & ((column == 9) | (column == 10) | (column == 13) | (column == 0))).any():
                return None
            head = np.empty((n, 26 + len(id_type)), np.uint8)
            head[:, :24] = row_ids
            head[:, 24] = 9
            head[:, 25:-1] = np.frombuffer(id_type.encode("ascii"), np.uint8)
            head[:, -1] = 9
            end = np.full((n, 1), 10 if k == len(block.ids) - 1 else 0, np.uint8)
            parts += [head, column, end]
            keeps += [np.ones(head.shape, bool), keep, np.ones((n, 1), bool)]
        entries, kept = np.hstack(parts), np.hstack(keeps)
        buckets = np.frombuffer(pool, np.uint8)[::12]
        order = np.argsort(buckets, kind="stable")
        ends = np.cumsum(np.bincount(buckets, minlength=_BUCKETS))
        width = data.shape[1] + 26
        lines = np.empty((n, width), np.uint8)
        lines[:, :24] = row_ids
        lines[:, 24] = 9
        lines[:, 25:-1] = data
        lines[:, -1] = 10
        sorted_lines = lines[order].reshape(-1).data  # the array's memory: no copy to bytes
        kept = kept[order]
        sorted_entries = entries[order][kept].data
        entry_ends = np.zeros(n + 1, np.int64)
        np.cumsum(kept.sum(axis=1), out=entry_ends[1:])
        buffered = len(sorted_lines) + len(sorted_entries)
        self.sizes["ids"] += len(sorted_entries)
        self.sizes["data"] += len(sorted_lines)
        ids_buffers, data_buffers = self._ids, self._data
        start = 0
        for bucket, (end, entry_start, entry_end) in enumerate(
            zip(ends.tolist(), entry_ends[np.r_[0, ends[:-1]]].tolist(), entry_ends[ends].tolist())
        ):
            if end > start:
                data_buffers[bucket] += sorted_lines[start * width : end * width]
                ids_buffers[bucket] += sorted_entries[entry_start:entry_end]
                start = end
        return buffered

    def _flush(self) -> None:
        for kind, buffers in (("ids", self._ids), ("data", self._data)):
            filled = [bucket for bucket, buffer in enumerate(buffers) if buffer]

            def chunks(buffers: list[bytearray] = buffers, filled: list[int] = filled) -> Iterator[bytearray]:
                for bucket in filled:
                    yield buffers[bucket]
                    buffers[bucket] = bytearray()  # sealed: its plaintext not kept beside the next

            handles = self._handles[kind]
            for bucket, handle in zip(filled, self._sealed.put_many(chunks())):
                handles[bucket].append(handle)

    def sorted_blocks(self, kind: str) -> "Iterator[bytes | memoryview]":
        """The ``"ids"`` or ``"data"`` lines in row_id order, one block per bucket."""
        sealed = self._sealed
        for handles in self._handles[kind]:
            lines = bytearray(sum(sealed.plain_size(handle) for handle in handles))
            at = 0
            for handle in handles:  # one chunk at a time into the bucket's bytes (a join would hold both)
                chunk = sealed.get(handle)
                lines[at : at + len(chunk)] = chunk
                at += len(chunk)
                del chunk
            del handles[:]
            block = _sorted_lines(lines)
            del lines
            if kind == "ids":
                yield (block if isinstance(block, bytes) else block.tobytes()).replace(b"\0", b"\n")
            else:
                yield block if isinstance(block, bytes) else block.reshape(-1).data


def _sorted_lines(block: bytearray) -> "bytes | np.ndarray":
    """The lines of ``block`` (each ended by a line break and starting with a unique row_id) in sorted order: as an
    ``(n, width)`` uint8 array when they are all as wide (the data lines of fixed-width records), else as bytes.

    By their row_ids as numbers (numpy): each line's 24 hex digits read as three big-endian 64-bit numbers, which
    order as the bytes do; the lines then taken in that order, as rows of one array when they are all as wide, else
    from a list. The same order as sorting the lines (about a fifth of its cost: no comparison of bytes objects); a
    bucket where two lines share a row_id, or a line is shorter than one, is sorted as lines."""
    if not block:
        return b""
    import numpy as np

    data = np.frombuffer(block, np.uint8)
    count, width = int(np.count_nonzero(data == 10)), block.find(b"\n") + 1  # bytes.count: six times slower
    rows = None
    if width > 24 and count * width == len(block) and (data[width - 1 :: width] == 10).all():
        rows = data.reshape(count, width)
        hexes = rows[:, :24]
        keys = np.ascontiguousarray(hexes).view(">u8")
    else:
        ends = np.flatnonzero(data == 10)
        starts = np.empty(len(ends), np.intp)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        if not len(ends) or (ends - starts).min() < 24 or ends[-1] != len(block) - 1:
            return _sorted_as_lines(block)
        hexes = np.empty((len(ends), 24), np.uint8)
        for k in range(24):  # a byte column at a time: no (n, 24) index array
            hexes[:, k] = data[starts + k]
        keys = hexes.view(">u8")
    order = _hex_prefix_order(hexes)
    if order is None:
        order = np.lexsort(keys.T[::-1])
        ordered = keys[order]
        if len(order) > 1 and not (ordered[1:] != ordered[:-1]).any(axis=1).all():
            return _sorted_as_lines(block)
    if rows is not None:
        result: np.ndarray = rows[order]
        return result
    lines = bytes(block).split(b"\n")
    return b"\n".join([lines[i] for i in order.tolist()]) + b"\n"


@functools.cache
def _hex_tables() -> "tuple[np.ndarray, np.ndarray]":
    """Each byte's value as a hex digit, and whether it is a lower-case one: made once, whole, by the first caller
    (the identities' and the data part's threads sort their first buckets at the same time, so the tables are
    returned as one object, never filled in place where the other thread could see them half made)."""
    import numpy as np

    value = np.zeros(256, np.uint8)
    valid = np.zeros(256, bool)
    for digit, char in enumerate(b"0123456789abcdef"):
        value[char], valid[char] = digit, True
    return value, valid


def _hex_prefix_order(hexes: "np.ndarray") -> "np.ndarray | None":
    """The order of rows whose first 16 bytes (of ``hexes``, ``(n, 24)`` uint8) are lower-case hex digits and differ
    from row to row: those digits as one 64-bit number a row (the digits' order is their values' order), sorted by
    one ``argsort`` instead of :func:`numpy.lexsort`'s three stable sorts (about half the time a bucket). ``None``
    when some row's prefix is no such hex text, or two rows share it (then the caller sorts by the whole row_id)."""
    import numpy as np

    value, valid = _hex_tables()
    prefix = hexes[:, :16]
    if not valid[prefix].all():
        return None
    nibbles = value[prefix]
    packed = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).view(">u8").ravel()
    order: np.ndarray = np.argsort(packed)
    ordered = packed[order]
    if (ordered[1:] == ordered[:-1]).any():
        return None
    return order


def _sorted_as_lines(block: bytearray) -> bytes:
    lines = bytes(block).split(b"\n")
    lines.pop()
    lines.sort()
    lines.append(b"")
    return b"\n".join(lines)


def _id_column(values: "Sequence[bytes] | np.ndarray", n: int) -> "tuple[np.ndarray, np.ndarray]":
    """An ID column of a :class:`RowBlock` as an ``(n, width)`` uint8 array and the mask of the bytes its values
    keep: for an array of padded values (the extract's own field), without the spaces around each; for a list of
    values, each value's own bytes."""
    import numpy as np

    if isinstance(values, np.ndarray):
        if values.shape[0] != n:
            raise ValueError("a RowBlock's ID columns must have a value for each row")
        filled = values != 32
        width = values.shape[1]
        if not width:
            return values, filled
        first = np.argmax(filled, axis=1)
        last = width - np.argmax(filled[:, ::-1], axis=1)
        at = np.arange(width)
        keep = (at >= first[:, None]) & (at < last[:, None]) & filled.any(axis=1)[:, None]
        return values, keep
    if len(values) != n:
        raise ValueError("a RowBlock's ID columns must have a value for each row")
    width = max(map(len, values), default=0)
    if not width:
        return np.zeros((n, 0), np.uint8), np.zeros((n, 0), bool)
    column = np.frombuffer(b"".join(value.ljust(width, b"\0") for value in values), np.uint8).reshape(n, width)
    lengths = np.fromiter(map(len, values), np.intp, n)
    return column, np.arange(width) < lengths[:, None]


def _row_ids() -> Iterator[Iterator[tuple[int, str]]]:
    """Batches of ``(bucket, row_id)``: a random 96-bit row_id in hex and its first byte (its bucket)."""
    while True:
        pool = secrets.token_bytes(12 * 4096)
        hex_pool = pool.hex()
        yield zip(pool[::12], [hex_pool[start : start + 24] for start in range(0, len(hex_pool), 24)])
