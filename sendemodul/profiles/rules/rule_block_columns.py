"""The values of the rule table's numpy backend (:mod:`~sendemodul.profiles.rules.rule_block`): a block being
evaluated, a compiled expression node, and the array forms of the reference's value readers (a number field's
``ssb_int``, a date's year, a national ID number's birth year, a field packed as one uint64), each a column over a
block's lines.

Why a module of its own: these are plain functions of byte columns, with no knowledge of the rule table; the block
compiler (:mod:`~sendemodul.profiles.rules.rule_block_compiler`) composes them and the field columns
(:mod:`~sendemodul.profiles.rules.field_columns`) share :func:`packed_field`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles.rules.rule_values import ssb_int

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PackedFields", "TextOf", "packed_field", "padded_forms", "rows_all", "small_code"]

_NOT_CONST = object()
#: A block's lines as the controls read them: the bytes (n, record length) and a line's text by its row.
TextOf = Callable[[int], str]


class _Unsupported(Exception):
    """An expression this backend has no array form for: its control runs line by line."""


class PackedFields:
    """The fields of one block's lines (``full``) packed as one uint64 a line (:func:`packed_field`), each made once:
    the field columns and the controls read many of the same fields (about 34 distinct of 127 reads a block of 11F).
    The arrays are read-only, so that no reader can change what the next one gets."""

    def __init__(self, full: np.ndarray):
        self.full = full
        self._made: dict[tuple[int, int], np.ndarray] = {}

    def get(self, full: np.ndarray, start: int, width: int) -> np.ndarray:
        """:func:`packed_field` of ``full`` (made once if ``full`` is this block's lines)."""
        if full is not self.full:
            return packed_field(full, start, width)
        made = self._made.get((start, width))
        if made is None:
            made = self._made[(start, width)] = packed_field(full, start, width)
            made.flags.writeable = False
        return made

    def code(self, full: np.ndarray, start: int, width: int) -> np.ndarray:
        """A field one or two bytes wide of each line of ``full`` as a little-endian number (an index into a table
        of the field's every text: :func:`small_code`), made once if ``full`` is this block's lines."""
        if full is not self.full:
            return small_code(full, start, width)
        made = self._made.get((start, -width))
        if made is None:
            made = self._made[(start, -width)] = small_code(full, start, width)
            made.flags.writeable = False
        return made


class _Block:
    """One block being evaluated: its bytes and the values already computed (by node), so that a def or a field's
    number read by several controls is computed once."""

    def __init__(self, raw: np.ndarray, text_of: TextOf, packed: PackedFields | None = None):
        self.raw, self.text_of, self.n = raw, text_of, len(raw)
        self.cache: dict[int, Any] = {}
        self.packed = packed if packed is not None else PackedFields(raw)


@dataclass(eq=False)
class _B:
    """A compiled expression: its kind (``bool``, ``num``, ``date``, ``text``: a field's column, ``const``),
    whether it can be null, the constant, the field (``text``), and the function computing its column."""

    kind: str
    const: Any = _NOT_CONST
    nullable: bool = False
    name: str | None = None
    compute: Callable[[_Block], Any] | None = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.const is not _NOT_CONST

    def __call__(self, block: _Block) -> Any:
        """The column (or the constant: numpy broadcasts it)."""
        if self.is_const:
            return self.const
        key = id(self)
        value = block.cache.get(key)
        if value is None:
            assert self.compute is not None
            value = block.cache[key] = self.compute(block)
        return value


#: The widest rows :func:`rows_all` reduces by columns (wider ones the copy costs more than it saves).
_ROWS_BY_COLUMNS = 48


def rows_all(mask: np.ndarray) -> np.ndarray:
    """``mask.all(axis=1)`` of an ``(n, width)`` bool array. numpy reduces a row of a few elements in a loop of its
    own, about 20-30 ns a row whatever the width (~100-150 us for a block of 4,600 lines at widths 4-11); on a
    transposed copy the reduction is one pass over all the rows per column: 4-6 times faster at widths up to 16,
    still faster at 45. Most of the checks' reductions are over a field's few bytes."""
    import numpy as np

    if mask.shape[1] > _ROWS_BY_COLUMNS:
        wide: np.ndarray = np.all(mask, axis=1)
        return wide
    result: np.ndarray = np.logical_and.reduce(np.ascontiguousarray(mask.T), axis=0)
    return result


def _constant(value: Any) -> _B:
    return _B("const", value, value is None)


def padded_forms(literal: str, width: int) -> list[str]:
    """Every slice of ``width`` characters whose text stripped of spaces is ``literal``."""
    if literal != literal.strip(" ") or len(literal) > width:
        return []
    if not literal:
        return [" " * width]
    return [" " * a + literal + " " * (width - len(literal) - a) for a in range(width - len(literal) + 1)]


def _per_distinct(column: np.ndarray, judge: Callable[[str], bool], encoding: str) -> np.ndarray:
    """``judge`` of each line's text of ``column``, called once per distinct text."""
    import numpy as np

    width = column.shape[1]
    keys = np.ascontiguousarray(column).view(np.dtype((np.void, width))).ravel()
    distinct, inverse = np.unique(keys, return_inverse=True)
    judged = np.fromiter((judge(bytes(k).decode(encoding)) for k in distinct), bool, len(distinct))
    result: np.ndarray = judged[inverse.ravel()]
    return result


_POWERS = [10**k for k in range(19)]


def _aligned_int_column(pairs: np.ndarray) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.rule_values.ssb_int` of each line's slice of a number field that passed the
    field rules (at most 8 wide: digits, left- or right-aligned, or blank), from its bytes as four uint16 a line
    (:func:`packed_field`), a float64 column: the digits read left to right, the spaces skipped, two bytes
    at a time through a table (:func:`_pair_tables`)."""
    import numpy as np

    scale, digits = _pair_tables()
    value = digits[pairs[:, 0]]
    for j in range(1, 4):
        pair = pairs[:, j]
        value = value * scale[pair] + digits[pair]
    result: np.ndarray = value.astype(np.float64)
    return result


_PAIR_TABLES: list[np.ndarray] = []


def _pair_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each two bytes (a little-endian uint16): 10 to the number of digits among them, and their digits' value
    (anything else skipped), as int32 tables."""
    import numpy as np

    if not _PAIR_TABLES:
        k = np.arange(1 << 16)
        first, second = k & 255, k >> 8
        d1, d2 = (first >= 48) & (first <= 57), (second >= 48) & (second <= 57)
        scale = np.where(d1, 10, 1) * np.where(d2, 10, 1)
        value = np.where(d1, first - 48, 0) * np.where(d2, 10, 1) + np.where(d2, second - 48, 0)
        _PAIR_TABLES.extend((scale.astype(np.int32), value.astype(np.int32)))
    return _PAIR_TABLES[0], _PAIR_TABLES[1]


def _ssb_int_column(col: np.ndarray, b: _Block, start: int, end: int) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.rule_values.ssb_int` of each line's slice, a float64 column: by arrays for
    a slice of spaces, digits and signs, by :func:`ssb_int` itself for any other (rare: none that passed the field
    rules of a number field)."""
    import numpy as np

    n, width = col.shape
    digit = (col >= 48) & (col <= 57)
    space = col == 32
    sign = (col == 43) | (col == 45)
    simple = rows_all(digit | space | sign)
    filled = ~space
    any_filled = filled.any(axis=1)
    first = np.argmax(filled, axis=1)
    last = width - 1 - np.argmax(filled[:, ::-1], axis=1)
    rows = np.arange(n)
    signed = sign[rows, first]
    body_start = first + signed
    length = last - body_start + 1
    positions = np.arange(width)
    inside = (positions >= body_start[:, None]) & (positions <= last[:, None])
    ok = simple & any_filled & (length >= 1) & (length <= 9) & rows_all(digit | ~inside)
    exponent = np.clip(last[:, None] - positions, 0, 18)
    weights = np.asarray(_POWERS, np.int64)[exponent]
    values = np.where(inside & digit, (col.astype(np.int64) - 48) * weights, 0).sum(axis=1)
    values = np.where(signed & (col[rows, first] == 45), -values, values)
    result = np.where(ok, values, 0).astype(np.float64)
    for i in np.flatnonzero(~simple).tolist():
        result[i] = ssb_int(b.text_of(i)[start:end])
    return result


#: The days of each month (February of a leap year: 29); index 0 unused.
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _two(col: np.ndarray, at: int) -> np.ndarray:
    import numpy as np

    value: np.ndarray = (col[:, at].astype(np.int32) - 48) * 10 + col[:, at + 1] - 48
    return value


def _date_years(col: np.ndarray, *, lenient: bool) -> np.ndarray:
    """The year of each line's ``ddMMyyyy`` slice (8 wide), NaN where it is no date: as
    :func:`~sendemodul.profiles.rules.rule_values.ssb_date` (``lenient``: a day past the month's end is its last day)
    or as :func:`~sendemodul.profiles.rules.fields.parse_date` (strict: day 01-31 and month 01-12 by shape, then a
    real date)."""
    import numpy as np

    digits = rows_all((col >= 48) & (col <= 57))
    day, month = _two(col, 0), _two(col, 2)
    year = _two(col, 4) * 100 + _two(col, 6)
    ok = digits & (day >= 1) & (day <= 31) & (month >= 1) & (month <= 12) & (year >= 1)
    if not lenient:
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        days = np.asarray(_MONTH_DAYS, np.int32)[np.clip(month, 0, 12)] + ((month == 2) & leap)
        ok &= day <= days
    result: np.ndarray = np.where(ok, year.astype(np.float64), np.nan)
    return result


def _birth_years(col: np.ndarray, year: int) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.rule_values.ssb_birth_year` of each line's 11-wide slice (NaN: ``None``)."""
    import numpy as np

    digits = rows_all((col >= 48) & (col <= 57))
    day, month, yy = _two(col, 0), _two(col, 2), _two(col, 4)
    individual = (col[:, 6].astype(np.int32) - 48) * 100 + _two(col, 7)
    suffix = individual * 100 + _two(col, 9)
    placeholder = np.isin(suffix, [int(s) for s in PLACEHOLDER_SUFFIXES])
    held = placeholder & (day >= 1) & (day <= 31) & (month >= 1) & (month <= 12)
    held_year = np.where(2000 + yy > year + 1, 1900 + yy, 2000 + yy)
    day_ok = ((day >= 1) & (day <= 31)) | ((day >= 41) & (day <= 71))
    month_ok = ((month >= 1) & (month <= 12)) | ((month >= 81) & (month <= 92))
    century = np.where(
        (individual >= 500) & (yy <= 39),
        2000,
        np.where(
            (individual >= 500) & (individual <= 749) & (yy >= 54),
            1800,
            np.where((individual <= 499) | (individual >= 900), 1900, 2000),
        ),
    )
    born = np.where(placeholder, held_year, century + yy).astype(np.float64)
    known = digits & np.where(placeholder, held, day_ok & month_ok)
    result: np.ndarray = np.where(known, born, np.nan)
    return result


def packed_field(full: np.ndarray, start: int, width: int) -> np.ndarray:
    """A field at most 8 wide of each line of ``full`` (``(n, record length + 1)`` uint8: lines with their LF) as
    one little-endian uint64: its bytes, padded with LF bytes. Read in place, 8 bytes from the field's start, the
    bytes past the field masked to LF; a field too near the line's end is copied out instead."""
    import numpy as np

    n, stride = full.shape
    if start + 8 <= stride and full.flags.c_contiguous:
        # full exposes its buffer: a strided view of unaligned 8-byte words
        words = np.ndarray((n,), "<u8", buffer=full, offset=start, strides=(stride,))
        if width == 8:
            whole: np.ndarray = words.copy()
            return whole
        mask = np.uint64((1 << (8 * width)) - 1)
        pad = np.uint64(int.from_bytes(b"\0" * width + b"\n" * (8 - width), "little"))
        packed: np.ndarray = (words & mask) | pad
        return packed
    padded = np.full((n, 8), 10, np.uint8)
    padded[:, :width] = full[:, start : start + width]
    copied: np.ndarray = padded.view("<u8").ravel()
    return copied


def small_code(full: np.ndarray, start: int, width: int) -> np.ndarray:
    """A field one or two bytes wide (``width``) of each line of ``full`` (``(n, stride)`` uint8) as a little-endian
    number: the byte, or the two bytes as one uint16, read in place (a strided view, no copy)."""
    import numpy as np

    n, stride = full.shape
    if width == 1:
        column: np.ndarray = full[:, start]
        return column
    if full.flags.c_contiguous and start + 2 <= stride:
        pairs: np.ndarray = np.ndarray((n,), "<u2", buffer=full, offset=start, strides=(stride,))
        return pairs
    joined: np.ndarray = full[:, start].astype(np.uint16) | (full[:, start + 1].astype(np.uint16) << 8)
    return joined
