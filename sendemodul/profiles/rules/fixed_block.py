"""The block path of the fixed-width record rules (11F, 11CF): :meth:`FixedBlockRules.check_block` judges a block of
record lines at once, column by column on a numpy array of its bytes, and hands every record that is not clean to the
per-record rules (:class:`~sendemodul.profiles.rules.fixed_records.FixedRules`, which extends this class).

Why a module of its own: the per-record rules (one regular expression, then the fields that need Python, the
identifiers, the register's controls) are what every command runs and what the browser module mirrors; the block
path is the encryption module's speed-up, an array restatement of the same decisions that must agree with them
record for record, and the only code here that needs numpy. Kept apart, each reads on its own; this class holds the
block path's helpers and the pieces both paths share (the bounded memo of judged texts, the bad identifier classes),
and declares the attributes of :class:`FixedRules` that it reads."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from sendemodul.identity import IdClass
from sendemodul.identity.fnr_tables import ARRAY_CLASSES, classify_fnr_array, duf_ok_array
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import FieldSpec
from sendemodul.profiles.rules.duplicates import FirstSeen
from sendemodul.profiles.rules.fields import FieldRule
from sendemodul.profiles.rules.records import (
    BIRTH_DATE_CLASSES,
    DISTINCT_CLASSES,
    RecordRules,
    birth_matches,
)
from sendemodul.profiles.rules.rule_block_columns import rows_all

if TYPE_CHECKING:  # imported where used (a block of records): most commands never need numpy
    import numpy as np

    from sendemodul.profiles.rules.field_columns import FieldColumns
    from sendemodul.profiles.rules.sosial import SosialControls

__all__ = ["BAD_FNR_CLASSES", "MEMO_MAX", "FixedBlock", "FixedBlockRules", "column_values", "memo_accepts"]

#: The most texts a field's memo of judged texts holds (enough for every birth date in a lifetime's range).
MEMO_MAX = 1 << 15
#: The widest value :meth:`FirstSeen.add_columns` takes.
_SHORT_VALUE = 15
#: The classes of a fødselsnummer that make a record go through the per-record check.
BAD_FNR_CLASSES = (IdClass.BAD_DATE, IdClass.BAD_CHECKSUM)
_SYNTHETIC, _PLACEHOLDER = IdClass.SYNTHETIC, IdClass.PLACEHOLDER


def memo_accepts(rule: FieldRule, memo: dict[str, bool], value: str) -> bool:
    """Whether ``rule`` accepts ``value``, remembered in the field's ``memo`` (bounded; values repeat, as dates do)."""
    ok = memo.get(value)
    if ok is None:
        ok = rule.problem(value) is None
        if len(memo) < MEMO_MAX:
            memo[value] = ok
    return ok


_CODE = {c: i for i, c in enumerate(ARRAY_CLASSES)}
#: :func:`classify_fnr_array` codes of the classes that make a record go through :meth:`FixedRules.check` anyway.
_BAD_CODES = tuple(_CODE[c] for c in BAD_FNR_CLASSES)
_DISTINCT_CODES = tuple(_CODE[c] for c in DISTINCT_CLASSES if c in _CODE)
_BIRTH_CODES = tuple(_CODE[c] for c in BIRTH_DATE_CLASSES if c in _CODE)


def _found(table: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Whether each of ``numbers`` is in ``table`` (sorted, not empty): a binary search each, no sort of the block."""
    import numpy as np

    at = np.minimum(np.searchsorted(table, numbers), len(table) - 1)
    found: np.ndarray = table[at] == numbers
    return found


def column_values(column: np.ndarray) -> list[bytes]:
    """The values of a :class:`FixedBlock`'s identifier column (an ``(n, width)`` uint8 array): each row's bytes
    without the spaces around them, as :meth:`FixedWidthProfile.split` strips a field."""
    width = column.shape[1]
    flat = column.tobytes()
    return [flat[k : k + width].strip(b" ") for k in range(0, len(flat), width)] if width else [b""] * len(column)


class FixedBlock(NamedTuple):
    """What :meth:`FixedRules.check_block` gives for a block of lines: the number of records (blank lines are none),
    and their rows for the container, either as ``rows`` (``(ids, data)`` as in a :class:`Record`) or, when the
    block is all ASCII, as columns: ``ids``, each identifier field's name and its column as in the extract (an
    ``(n, width)`` uint8 array of ASCII, padded: :func:`column_values` gives the values), and ``data``, the records
    with the identifier fields blanked (an ``(n, record length)`` uint8 array)."""

    records: int
    rows: list[tuple[tuple[tuple[str, str], ...], str]] | None
    ids: tuple[tuple[str, np.ndarray], ...]
    data: np.ndarray | None
    #: The records' line numbers.
    lines: list[int]


class FixedBlockRules(RecordRules[FixedWidthProfile]):
    """The block path of :class:`~sendemodul.profiles.rules.fixed_records.FixedRules` (see the module's docstring):
    :meth:`check_block` and its numpy helpers. The attributes below are set by ``FixedRules.__init__``."""

    #: The whole record's regular expression (each field at its exact width).
    _record_re: re.Pattern[str]
    #: Each field's rule (``None``: an identifier field), span and part of :attr:`_record_re`.
    _field_patterns: tuple[tuple[FieldRule | None, int, int, str], ...]
    #: :attr:`_record_re` on a block's columns (built on first use).
    _field_columns: FieldColumns | None
    #: Per memo of :attr:`_python_memo` (by its id), the texts accepted so far as sorted 64-bit numbers (blocks).
    _accepted: dict[int, np.ndarray]
    #: The fields checked in Python after a match, with a memo per field of the texts already judged.
    _python_memo: tuple[tuple[FieldRule, int, int, dict[str, bool]], ...]
    #: The register's own controls (SSB's K-controls of 11F and 11CF), or ``None``.
    _controls: SosialControls | None
    #: The fields a clean record's consistency rules and duplicate keys read: name, start, end.
    _clean_slices: tuple[tuple[str, int, int], ...]
    #: The profile's own slicing of a record line: ``(ids, data)``.
    _split: Callable[[str], tuple[tuple[tuple[str, str], ...], str]]
    #: Per identifier field (as ``_ids``): its duplicate table, whether mandatory, whether a fødselsnummer, checked.
    _fast_ids: tuple[tuple[FirstSeen, bool, bool, bool], ...]

    def check_block(self, first_line: int, texts: Sequence[str]) -> FixedBlock:
        """:meth:`check_text` for each line of a block (``texts``, numbered from ``first_line``, each of the record
        length without TAB, CR or line break; a blank one is no record), column by column.

        The rules a record must pass to be clean (:meth:`_clean`) are evaluated for the whole block at once on a
        numpy array of its bytes: the record expression per line, the fields judged in Python once per distinct
        text, the identifiers classified by array arithmetic, the birth date compared, then the register's
        controls on the lines still clean. Clean records are remembered (journalnummer, duplicates, counts) in
        bulk; every other one goes through :meth:`check`, in line order, so findings and duplicate tables are
        exactly what :meth:`check_text` line by line gives."""
        import numpy as np

        profile = self.profile
        n, length = len(texts), profile.record_length
        data = getattr(texts, "data", None)  # the block's bytes, from FixedWidthExtract.blocks: no copy to make
        if data is None:
            data = ("\n".join(texts) + "\n").encode(profile.encoding)
        full = np.frombuffer(data, np.uint8).reshape(n, length + 1)
        raw = full[:, :length]
        blank = (raw == 32).all(axis=1)
        if self._field_columns is None:
            from sendemodul.profiles.rules.field_columns import FieldColumns

            self._field_columns = FieldColumns(list(self._field_patterns), profile.encoding)
        from sendemodul.profiles.rules.rule_block_columns import PackedFields

        packed = PackedFields(full)  # the fields the field columns and the controls both read, packed once
        clean = ~blank & self._field_columns.ok(full, packed)
        for rule, start, end, memo in self._python_memo:
            clean &= self._judged_column(rule, memo, raw[:, start:end])
        id_values: list[tuple[int, int, np.ndarray, FirstSeen]] = []
        synthetic = placeholders = np.zeros(n, bool)
        specs = {spec.name: spec for spec in profile.field_specs}
        birth = self._birth
        for (seen, mandatory, fnr, checked), (spec, _) in zip(self._fast_ids, self._ids):
            if not checked:
                continue
            id_start, id_end = spec.span
            column = raw[:, id_start:id_end]
            filled = ~rows_all(column == 32)
            if mandatory:
                clean &= filled
            if id_end - id_start != (11 if fnr else 12):
                clean &= ~filled  # a padded identifier: line by line
                continue
            clean &= ~filled | rows_all((column >= 48) & (column <= 57))
            if fnr:
                classes, rules = classify_fnr_array(column)
                bad = np.isin(classes, _BAD_CODES)
                if self._fnr_current:
                    bad |= rules == 2
            else:
                classes = np.full(n, -1, np.int8)  # DUF: one of the distinct classes
                bad = ~duf_ok_array(column)
            clean &= ~(filled & bad)
            is_synthetic = filled & (classes == _CODE[_SYNTHETIC])
            if not self.allow_synthetic:
                clean &= ~is_synthetic
            synthetic = synthetic | is_synthetic
            placeholders = placeholders | (filled & (classes == _CODE[_PLACEHOLDER]))
            distinct = filled & (np.isin(classes, _DISTINCT_CODES) | (classes == -1))
            if fnr and birth is not None:
                compared = filled & np.isin(classes, _BIRTH_CODES)
                clean &= ~compared | self._birth_column(raw, specs[birth.name], spec, texts, clean & compared)
            if not self._no_duplicates:
                id_values.append((id_start, id_end, distinct, seen))
        if self._record_consistency:
            for i in np.flatnonzero(clean).tolist():
                values = self._clean_values(texts[i])
                if any(violation(values) is not None for _, _, _, violation in self._record_consistency):
                    clean[i] = False
        if self._controls is not None:
            candidates = np.flatnonzero(clean)
            if len(candidates):
                rows = candidates.tolist()
                lines = full if len(candidates) == n else full[candidates]
                clean[candidates] = self._controls.table.block.passes(lines, lambda k: texts[rows[k]], packed)
        self._remember_block(first_line, texts, raw, clean, blank, synthetic, placeholders, id_values)
        return self._block_rows(first_line, texts, raw, blank)

    def _judged_column(self, rule: FieldRule, memo: dict[str, bool], column: np.ndarray) -> np.ndarray:
        """Whether ``rule`` accepts each text of a field's column (an ``(n, width)`` uint8 array). A field of at most 8
        characters is judged by its texts as 64-bit numbers: those accepted before (kept sorted, per field) are
        found by one array look-up, and only the block's new texts are judged in Python (and remembered)."""
        import numpy as np

        n, width = column.shape
        encoding = self.profile.encoding
        if width > 8:
            keys = np.ascontiguousarray(column).view(np.dtype((np.void, width))).ravel()
            distinct, inverse = np.unique(keys, return_inverse=True)
            judged = np.fromiter(
                (memo_accepts(rule, memo, bytes(key).decode(encoding)) for key in distinct), bool, len(distinct)
            )
            result: np.ndarray = judged[inverse.ravel()]
            return result
        padded = np.zeros((n, 8), np.uint8)
        padded[:, :width] = column
        numbers = padded.view(np.uint64).ravel()
        accepted = self._accepted.get(id(memo))
        judged_ok: np.ndarray = np.zeros(n, bool) if accepted is None else _found(accepted, numbers)
        new = np.unique(numbers[~judged_ok])
        if len(new):
            texts = [number.to_bytes(8, "little")[:width].decode(encoding) for number in new.tolist()]
            good = new[np.fromiter((memo_accepts(rule, memo, text) for text in texts), bool, len(new))]
            if len(good):
                judged_ok |= _found(good, numbers)
                if accepted is None:
                    self._accepted[id(memo)] = good
                elif len(accepted) < MEMO_MAX:
                    self._accepted[id(memo)] = np.union1d(accepted, good)
        return judged_ok

    def _birth_column(
        self, raw: np.ndarray, birth_spec: FieldSpec, fnr_spec: FieldSpec, texts: Sequence[str], wanted: np.ndarray
    ) -> np.ndarray:
        """Whether each line's birth date agrees with its fødselsnummer as :meth:`_clean` decides it: by the digits
        for a ``ddMMyyyy`` field of 8 characters, else (and where the digits differ) by :func:`birth_matches`."""
        import numpy as np

        birth = self._birth
        assert birth is not None
        start, end = birth_spec.span
        fnr_start, fnr_end = fnr_spec.span
        born, fnr = raw[:, start:end], raw[:, fnr_start:fnr_end]
        agrees = np.zeros(len(raw), bool)
        if birth.date_format == "ddMMyyyy" and born.shape[1] == 8:
            digits = rows_all((born[:, 2:4] >= 48) & (born[:, 2:4] <= 57))
            born_month = (born[:, 2].astype(np.int16) - 48) * 10 + born[:, 3] - 48
            month = (fnr[:, 2].astype(np.int16) - 48) * 10 + fnr[:, 3] - 48
            agrees = (
                (born[:, 0] != 32)
                & (born[:, 7] != 32)
                & rows_all(born[:, 0:2] == fnr[:, 0:2])
                & rows_all(born[:, 6:8] == fnr[:, 4:6])
                & digits
                & (born_month >= 1)
                & (born_month <= 12)
                & ((month == born_month) | (month == born_month + 40) | (month == born_month + 80))
            )
        for i in np.flatnonzero(wanted & ~agrees).tolist():
            text = texts[i]
            agrees[i] = birth_matches(
                text[fnr_start:fnr_end].strip(" ")[:6], text[start:end].strip(" "), birth.date_format
            )
        return agrees

    def _clean_values(self, text: str) -> dict[str, str]:
        values = {name: text[start:end].strip(" ") for name, start, end in self._clean_slices}
        values.update(self._split(text)[0])
        return values

    def _remember_block(
        self,
        first_line: int,
        texts: Sequence[str],
        raw: np.ndarray,
        clean: np.ndarray,
        blank: np.ndarray,
        synthetic: np.ndarray,
        placeholders: np.ndarray,
        id_values: list[tuple[int, int, np.ndarray, FirstSeen]],
    ) -> None:
        """Remember the clean lines of a block as :meth:`_clean` does, and :meth:`check` each other record, in line
        order: each table gets its lines in increasing order."""
        import numpy as np

        self._synthetic += int(np.count_nonzero(synthetic & clean))
        self._placeholders += int(np.count_nonzero(placeholders & clean))
        journal_slice = self.profile.journal_field
        others = np.flatnonzero(~clean & ~blank).tolist()
        start = 0
        for stop in [*others, len(texts)]:
            if stop > start:
                self._remember_clean(first_line, texts, clean, raw, start, stop, journal_slice, id_values)
            if stop < len(texts):
                self.check(self.profile.record(first_line + stop, texts[stop]))
            start = stop + 1

    def _remember_clean(
        self,
        first_line: int,
        texts: Sequence[str],
        clean: np.ndarray,
        raw: np.ndarray,
        start: int,
        stop: int,
        journal_field: FieldSpec | None,
        id_values: list[tuple[int, int, np.ndarray, FirstSeen]],
    ) -> None:
        """Remember the clean lines among ``texts[start:stop]`` (see :meth:`_remember_block`)."""
        import numpy as np

        part = clean[start:stop]
        rows = (np.flatnonzero(part) + start).tolist()
        if not rows:
            return
        journal_column = None
        if journal_field is not None:
            j0, j1 = journal_field.span
            journal_column = raw[rows, j0:j1]
            # no space to strip, ASCII, nothing to escape: the column as it is
            if ((journal_column > 32) & (journal_column < 128) & (journal_column != 92)).all():
                self._journal.add_column(np.asarray(rows) + first_line, journal_column)
                journal_field = None
        if journal_field is not None:
            j0, j1 = journal_field.span
            numbers = [texts[i][j0:j1].strip(" ") for i in rows]
            kept = [i for i, number in zip(rows, numbers) if number]
            if len(kept) < len(rows):
                numbers = [number for number in numbers if number]
            self._journal.add_many([first_line + i for i in kept], numbers)
        for id_start, id_end, distinct, seen in id_values:
            wanted_rows = np.flatnonzero(part & distinct[start:stop]) + start
            if not len(wanted_rows):
                continue
            if not self._duplicate_key:  # a clean, distinct identifier is all digits, as wide as its field
                seen.add_columns(raw[wanted_rows, id_start:id_end], wanted_rows + first_line)
                continue
            wanted = wanted_rows.tolist()
            keys = [
                self.duplicate_key(texts[i][id_start:id_end].strip(" "), self._clean_values(texts[i])) for i in wanted
            ]
            seen.add_many(keys, [first_line + i for i in wanted])
        for spec, seen in self._unique:
            u0, u1 = spec.span
            column: np.ndarray | None = None
            if journal_column is not None and spec is self.profile.journal_field:
                column = journal_column  # the same slice: the journalnummer is the register's unique field
            elif u1 - u0 <= _SHORT_VALUE:
                column = raw[rows, u0:u1]
            if column is not None and ((column > 32) & (column < 128)).all():  # no space to strip, ASCII
                seen.add_columns(column, np.asarray(rows) + first_line)
                continue
            values = [texts[i][u0:u1].strip(" ") for i in rows]
            kept = [i for i, value in zip(rows, values) if value]
            if len(kept) < len(rows):
                values = [value for value in values if value]
            seen.add_many(values, [first_line + i for i in kept])

    def _block_rows(self, first_line: int, texts: Sequence[str], raw: np.ndarray, blank: np.ndarray) -> FixedBlock:
        """The rows of a block's records for the container (see :class:`FixedBlock`)."""
        import numpy as np

        records = np.flatnonzero(~blank)
        lines = (records + first_line).tolist()
        if (raw >= 128).any():
            split = self._split
            return FixedBlock(len(records), [split(texts[i]) for i in records.tolist()], (), None, lines)
        data = raw[records]
        ids = tuple((name, data[:, start:end].copy()) for name, start, end in self.profile.id_slices)
        for start, end, _ in self.profile.blank_spans:
            data[:, start:end] = 32
        return FixedBlock(len(records), None, ids, data, lines)
