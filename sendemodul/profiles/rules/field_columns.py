"""The record expression of the fixed-width rules (:attr:`FixedRules._record_re
<sendemodul.profiles.rules.fixed_records.FixedRules>`), evaluated on a block's columns: whether each line's fields
all have a text their field's exact pattern (:meth:`FieldRule.exact_pattern
<sendemodul.profiles.rules.fields.FieldRule.exact_pattern>`) matches, as a bool column, for the block path.

Why: one ``fullmatch`` of the whole record costs about 5 µs a line in CPython, more than the encryption module's
whole budget a record at 250,000 records/s. The record expression is a run of atomic groups, one per field, each of
exactly the field's width, so a line matches exactly when each field's slice matches its field's pattern on its own;
this module decides that per field on the block's byte column (a single-byte encoding: a character is a byte):

- a set of values, padded every way to the width (codes, the unit's values, the bydeler), and blank where allowed:
  the slice is one of those exact forms;
- a number (``integer``, ``codes_from``): digits left-aligned, right-aligned or filling the field, or blank;
- a ``ddMMyyyy`` date's shape at any padding;
- a mandatory free text: not all spaces; any text where the field is not checked.

A field whose pattern is not one of these (none of 11F's or 11CF's) is matched by its own expression once per
distinct text of the block. The tests (tests/test_rule_block.py) hold the columns to ``_record_re`` line by line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from sendemodul.profiles.rules.fields import FieldRule
from sendemodul.profiles.rules.rule_block_columns import rows_all

if TYPE_CHECKING:
    import numpy as np

    from sendemodul.profiles.rules.rule_block_columns import PackedFields

__all__ = ["FieldColumns", "member_mask"]

#: A field's test on a block: its column (an ``(n, width)`` uint8 array) -> whether each line's slice matches.
ColumnTest = Callable[["np.ndarray"], "np.ndarray"]


def member_mask(packed: np.ndarray, forms: set[bytes]) -> np.ndarray:
    """Whether each line's field, packed as one uint64
    (:func:`~sendemodul.profiles.rules.rule_block_columns.packed_field`), is one of ``forms`` (byte strings of the
    field's width)."""
    import numpy as np

    if not forms:
        return np.zeros(len(packed), bool)
    keys = np.frombuffer(b"".join(f.ljust(8, b"\n") for f in forms), "<u8")
    if len(keys) > 4:
        found: np.ndarray = np.isin(packed, keys)
        return found
    found = packed == keys[0]
    for key in keys[1:]:
        found |= packed == key
    return found


def _rows_in(column: np.ndarray, forms: set[bytes]) -> np.ndarray:
    """Whether each row of ``column`` (wider than 8) is one of ``forms``."""
    import numpy as np

    found = np.zeros(len(column), bool)
    for form in forms:
        found |= rows_all(column == np.frombuffer(form, np.uint8))
    return found


_CLASS_TABLES: dict[tuple[int, bool], np.ndarray] = {}
_PAIR_CLASS: list[np.ndarray] = []


def _aligned_digits_packed(width: int, blank: bool) -> ColumnTest:
    """:func:`_aligned_digits` for a field at most 8 wide, on its gathered bytes as four uint16 a line (see
    :func:`~sendemodul.profiles.rules.rule_block_columns.packed_field`), by tables: each byte's class (digit, space,
    other: the padding LF is "other"), two bytes at a time through a table of 65,536, makes a row's code of its 8
    classes (3**8 codes), and a table per width says which codes are aligned digits."""
    import numpy as np

    if not _PAIR_CLASS:
        k = np.arange(1 << 16)
        first, second = k & 255, k >> 8

        def byte_class(b: np.ndarray) -> np.ndarray:
            digit = (b >= 48) & (b <= 57)
            result: np.ndarray = np.where(digit, 0, np.where(b == 32, 1, 2))
            return result

        _PAIR_CLASS.append((byte_class(first) * 3 + byte_class(second)).astype(np.int16))
    pair_class = _PAIR_CLASS[0]
    allowed = _CLASS_TABLES.get((width, blank))
    if allowed is None:
        codes = np.arange(3**8)
        classes = np.stack([(codes // 3 ** (7 - i)) % 3 for i in range(8)], axis=1).astype(np.uint8)
        field = np.where(classes[:, :width] == 0, 48, np.where(classes[:, :width] == 1, 32, 0)).astype(np.uint8)
        allowed = (classes[:, width:] == 2).all(axis=1) & _aligned_digits(field, blank)
        _CLASS_TABLES[(width, blank)] = allowed

    def test(pairs: np.ndarray) -> np.ndarray:
        code = pair_class[pairs[:, 0]] * 729
        code += pair_class[pairs[:, 1]] * 81
        code += pair_class[pairs[:, 2]] * 9
        code += pair_class[pairs[:, 3]]
        ok: np.ndarray = allowed[code]
        return ok

    return test


def _aligned_digits(column: np.ndarray, blank: bool) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.fields._aligned_digits` on a column: digits filling the field, or
    left-aligned or right-aligned with spaces, or (``blank``) spaces only."""
    import numpy as np

    width = column.shape[1]
    digit = (column >= 48) & (column <= 57)
    space = column == 32
    count = digit.sum(axis=1)
    positions = np.arange(width)
    left = rows_all(digit == (positions < count[:, None]))
    right = rows_all(digit == (positions >= (width - count)[:, None]))
    ok: np.ndarray = rows_all(digit | space) & (((count >= 1) & (left | right)) | ((count == 0) & blank))
    return ok


def _date_shape(column: np.ndarray, blank: bool) -> np.ndarray:
    """A ``ddMMyyyy`` date's shape (day 01-31, month 01-12, four digits) with padding spaces before and after, or
    (``blank``) spaces only."""
    import numpy as np

    n, width = column.shape
    space = column == 32
    ok = rows_all(space) if blank else np.zeros(n, bool)
    for before in range(width - 8 + 1):
        part = column[:, before : before + 8].astype(np.int16) - 48
        digits = rows_all((part >= 0) & (part <= 9))
        day, month = part[:, 0] * 10 + part[:, 1], part[:, 2] * 10 + part[:, 3]
        shape = digits & (day >= 1) & (day <= 31) & (month >= 1) & (month <= 12)
        padding = rows_all(space[:, :before]) & rows_all(space[:, before + 8 :])
        ok |= shape & padding
    return ok


def _per_distinct(column: np.ndarray, pattern: re.Pattern[str], encoding: str) -> np.ndarray:
    """The field's own expression, once per distinct text of the column."""
    import numpy as np

    width = column.shape[1]
    keys = np.ascontiguousarray(column).view(np.dtype((np.void, width))).ravel()
    distinct, inverse = np.unique(keys, return_inverse=True)
    judged = np.fromiter(
        (pattern.fullmatch(bytes(k).decode(encoding)) is not None for k in distinct), bool, len(distinct)
    )
    result: np.ndarray = judged[inverse.ravel()]
    return result


def _truth_table(width: int, kind: str, test: ColumnTest) -> np.ndarray:
    """``test`` (of kind ``packed`` or ``pairs``) of a field 1 or 2 bytes wide, on every text it could hold: the
    bool answer for each, indexed by the text's bytes as a little-endian number. The same function decides, so the
    table agrees with it by construction; a block then needs one look-up per field instead of a few numpy passes."""
    import numpy as np

    texts = np.arange(256**width, dtype=np.uint64)
    pad = np.uint64(int.from_bytes(b"\0" * width + b"\n" * (8 - width), "little"))
    packed = texts | pad  # as packed_field gives them: the bytes past the field are LF
    table: np.ndarray = np.ascontiguousarray(test(packed if kind == "packed" else packed.view("<u2").reshape(-1, 4)))
    return table


class FieldColumns:
    """The fields' tests of a record expression for a block: :meth:`ok`. ``fields``: each field's rule (``None``
    for an identifier field, which any text matches) and its exact pattern as the record expression has it."""

    def __init__(self, fields: list[tuple[FieldRule | None, int, int, str]], encoding: str):
        import numpy as np

        #: Per field tested: its span, what the test reads (``column``: the slice; ``pairs``, ``packed``: the
        #: gathered bytes as four uint16 or one uint64 a line) and the test.
        self._tests: list[tuple[int, int, str, ColumnTest]] = []
        #: The fields one or two bytes wide, each decided by a table of its every possible text (``_small``).
        small: dict[int, list[tuple[int, np.ndarray]]] = {1: [], 2: []}
        for rule, start, end, pattern in fields:
            test = self._test(rule, end - start, pattern, encoding)
            if test is None:
                continue
            if end - start in small and test[0] != "column":
                small[end - start].append((start, _truth_table(end - start, *test)))
                continue
            self._tests.append((start, end, *test))
        #: Per width (1 or 2): the fields' starts and their tables one after another (a field's entry for a text is
        #: at its table's offset plus the text's bytes as a little-endian number), or ``None`` if no field.
        self._small = {
            width: (np.asarray([s for s, _ in tables], np.intp), np.concatenate([t for _, t in tables]))
            if tables
            else None
            for width, tables in small.items()
        }

    @staticmethod
    def _test(rule: FieldRule | None, width: int, pattern: str, encoding: str) -> tuple[str, ColumnTest] | None:
        if rule is None or pattern == f"[^\n]{{{width}}}" or pattern == f"[^\\n]{{{width}}}":
            return None  # any text (no line holds a line break)
        spec = rule.spec
        blank = not spec.mandatory
        values: list[str] | None = None
        if not spec.checked:
            return None
        if spec.role == "bydel":
            values, blank = sorted(b for b in rule.context.bydeler if b), "" in rule.context.bydeler
        elif rule.expected is not None:
            values = [rule.expected]
        elif spec.codes_from or spec.type == "integer":
            if width <= 8:
                return "pairs", _aligned_digits_packed(width, blank)
            return "column", lambda column: _aligned_digits(column, blank)
        elif spec.codes:
            values = list(spec.codes)
        elif spec.date_format == "ddMMyyyy" and width >= 8:
            return "column", lambda column: _date_shape(column, blank)
        elif spec.date_format is None and spec.mandatory:
            return "column", lambda column: ~rows_all(column == 32)
        if values is None:
            compiled = re.compile(pattern)
            return "column", lambda column: _per_distinct(column, compiled, encoding)
        forms = set()
        for value in values:  # every padding of each value, as _exact_width spells them out
            for before in range(width - len(value) + 1):
                try:
                    forms.add((" " * before + value + " " * (width - len(value) - before)).encode(encoding))
                except UnicodeEncodeError:
                    continue  # no line of this encoding holds it
        if blank:
            forms.add(b" " * width)
        if width <= 8:
            return "packed", lambda packed: member_mask(packed, forms)
        return "column", lambda column: _rows_in(column, forms)

    def ok(self, full: np.ndarray, packed_fields: PackedFields | None = None) -> np.ndarray:
        """Whether each line of ``full`` (``(n, record length + 1)`` uint8: the lines with their LF) matches the
        record expression; ``packed_fields``: the block's packed fields, shared with its controls."""
        import numpy as np

        from sendemodul.profiles.rules.rule_block_columns import PackedFields

        fields = packed_fields if packed_fields is not None else PackedFields(full)
        ok = np.ones(len(full), bool)
        for width, small in self._small.items():
            if small is None:
                continue
            starts, table = small
            # one gather of every such field's bytes, one look-up in the tables: about 45 fields of 11F
            code = full[:, starts].astype(np.int32)
            if width == 2:
                high = full[:, starts + 1].astype(np.int32)
                high <<= 8
                code |= high
            code += np.arange(0, len(table), 256**width, dtype=np.int32)
            ok &= rows_all(table[code])
        for start, end, kind, test in self._tests:
            if kind == "column":
                ok &= test(full[:, start:end])
                continue
            packed = fields.get(full, start, end - start)
            ok &= test(packed if kind == "packed" else packed.view("<u2").reshape(-1, 4))
        return ok
