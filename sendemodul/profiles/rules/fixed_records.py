"""The record rules of a fixed-width extract (11F, 11CF), with a fast path for the records every rule accepts."""

from __future__ import annotations

import functools
import operator
import re
from typing import TYPE_CHECKING, NamedTuple

from sendemodul import identity
from sendemodul.identity import IdClass
from sendemodul.identity.fnr_tables import ARRAY_CLASSES, classify_fnr_array, duf_ok_array
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import FieldSpec, Record
from sendemodul.profiles.rules.duplicates import FirstSeen
from sendemodul.profiles.rules.fields import Context, FieldRule
from sendemodul.profiles.rules.records import (
    BIRTH_DATE_CLASSES,
    DISTINCT_CLASSES,
    RecordRules,
    birth_matches,
)
from sendemodul.profiles.rules.report import MAX_PER_RULE, Add, Severity
from sendemodul.profiles.rules.sosial import SosialControls, ssb_control

if TYPE_CHECKING:  # imported where used (a block of records): most commands never need numpy
    import numpy as np

__all__ = ["FixedBlock", "FixedRules"]

#: The most texts a field's memo of judged texts holds (enough for every birth date in a lifetime's range).
_MEMO_MAX = 1 << 15
_BAD_FNR_CLASSES = (IdClass.BAD_DATE, IdClass.BAD_CHECKSUM)
_SYNTHETIC, _PLACEHOLDER = IdClass.SYNTHETIC, IdClass.PLACEHOLDER


def _judged(rule: FieldRule, memo: dict[str, bool], value: str) -> bool:
    """Whether ``rule`` accepts ``value``, remembered in the field's ``memo`` (bounded; values repeat, as dates do)."""
    ok = memo.get(value)
    if ok is None:
        ok = rule.problem(value) is None
        if len(memo) < _MEMO_MAX:
            memo[value] = ok
    return ok


#: A fødselsnummer's month digits (with an offset of 40 or 80, or none) -> the month in a birth date.
_MONTHS = {f"{month + offset:02d}": f"{month:02d}" for month in range(1, 13) for offset in (0, 40, 80)}


_CODE = {c: i for i, c in enumerate(ARRAY_CLASSES)}
#: :func:`classify_fnr_array` codes of the classes that make a record go through :meth:`FixedRules.check` anyway.
_BAD_CODES = tuple(_CODE[c] for c in _BAD_FNR_CLASSES)
_DISTINCT_CODES = tuple(_CODE[c] for c in DISTINCT_CLASSES if c in _CODE)
_BIRTH_CODES = tuple(_CODE[c] for c in BIRTH_DATE_CLASSES if c in _CODE)


def _found(table: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Whether each of ``numbers`` is in ``table`` (sorted, not empty): a binary search each, no sort of the block."""
    import numpy as np

    at = np.minimum(np.searchsorted(table, numbers), len(table) - 1)
    found: np.ndarray = table[at] == numbers
    return found


class FixedBlock(NamedTuple):
    """What :meth:`FixedRules.check_block` gives for a block of lines: the number of records (blank lines are none),
    and their rows for the container, either as ``rows`` (``(ids, data)`` as in a :class:`Record`) or, when the
    block is all ASCII, as columns: ``ids``, each identifier field's name and stripped values (ASCII bytes), and
    ``data``, the records with the identifier fields blanked (an ``(n, record length)`` uint8 array)."""

    records: int
    rows: list[tuple[tuple[tuple[str, str], ...], str]] | None
    ids: tuple[tuple[str, list[bytes]], ...]
    data: np.ndarray | None
    #: The records' line numbers.
    lines: list[int]


class FixedRules(RecordRules[FixedWidthProfile]):
    """Fixed width: one regular expression over the whole record, each field matched at its exact width
    (:meth:`FieldRule.exact_pattern`), decides whether every field is fine; only a record it rejects is checked
    field by field to say what is wrong (most records in most files are fine). Only the fields that need a look in
    Python (dates, kommune codes) or feed other rules are sliced out of a record that passes."""

    def __init__(
        self,
        profile: FixedWidthProfile,
        context: Context,
        add: Add,
        allow_synthetic: bool,
        max_listed: int = MAX_PER_RULE,
    ):
        super().__init__(profile, context, add, allow_synthetic, max_listed)
        specs = [spec for spec in profile.field_specs if not spec.id_kind]
        self._rules = tuple(FieldRule(spec, context) for spec in specs)
        self._slice = operator.itemgetter(*(slice(spec.start, spec.end) for spec in specs), slice(0, 0))
        # Each field is an atomic group: every alternative of a field has the field's width, so backtracking into an
        # earlier field could only retry the same thing. Identifier fields are blanked in the data: any text.
        exact = {rule.spec.name: rule.exact_pattern() for rule in self._rules}
        for rule in self._rules:  # a blank number field (common) first: the same texts match, sooner
            spec = rule.spec
            if (
                spec.role != "bydel"
                and rule.expected is None
                and (spec.codes_from or spec.type == "integer")
                and not spec.mandatory
            ):
                exact[spec.name] = f"[ ]{{{spec.length}}}|{exact[spec.name]}"
        self._record_re = re.compile(
            "".join(
                f"(?>{exact[spec.name]})" if spec.name in exact else f"[^\n]{{{spec.length}}}"
                for spec in profile.field_specs
            ).replace("[ ]{0}", "")
        )  # "[ ]{0}" matches nothing, slowly
        #: Per memo of :attr:`_python_memo` (by its id), the texts accepted so far as sorted 64-bit numbers (blocks).
        self._accepted: dict[int, np.ndarray] = {}
        #: The fields checked in Python after a match, with a memo per field of the texts already judged (dates and
        #: kommune codes repeat a lot).
        self._python_memo: tuple[tuple[FieldRule, int, int, dict[str, bool]], ...] = tuple(
            (rule, *rule.spec.span, {}) for rule in self._rules if rule.needs_python
        )
        needed = {spec.name for spec, _ in self._unique}
        needed.update(self._duplicate_key)
        for consistency in profile.consistency:
            needed.update(consistency.names)
        #: The register's own controls (SSB's K-controls of 11F and 11CF), or ``None``.
        self._controls = SosialControls(profile, context) if profile.controls is not None else None
        if self._controls is not None:
            #: SSB's control for a finding (the Checker's hook): ``K002`` for a field rule's finding in 11F ...
            self.control_of = functools.partial(ssb_control, profile)
        if self._birth is not None:
            needed.add(self._birth.name)
        #: The fields :meth:`_clean` reads (the register's controls read the line there).
        clean_needed = set(needed)
        if self._controls is not None:
            needed.update(self._controls.fields)
        self._values = tuple((spec.name, i) for i, spec in enumerate(specs) if spec.name in needed)
        self._value_slices = tuple((spec.name, *spec.span) for spec in specs if spec.name in needed)
        self._clean_slices = tuple((spec.name, *spec.span) for spec in specs if spec.name in clean_needed)
        # For check_text: the profile's own slicing of a record line, and the identifier tables.
        self._split = profile.split
        self._journalnr = profile.journalnr
        self._fast_ids = tuple(
            (seen, spec.mandatory or (spec.id_kind == "fnr" and self._fnr_current), spec.id_kind == "fnr", spec.checked)
            for spec, seen in self._ids
        )

    def check_text(self, line: int, text: str) -> tuple[tuple[tuple[str, str], ...], str]:
        """:meth:`check` for ``profile.record(line, text)`` (``text``: a line of the record length without TAB, CR
        or line break); its ``(ids, data)``. A record that passes every rule is checked here without a
        :class:`Record`; any other is handed to :meth:`check`, which then reports exactly what it always does."""
        ids, data = self._split(text)
        if self._record_re.fullmatch(text) is None or not self._clean(line, text, ids):
            self.check(Record(line, self._journalnr(text), ids, data))
        return ids, data

    def _clean(self, line: int, text: str, ids: tuple[tuple[str, str], ...]) -> bool:
        """Whether a record that the regular expression accepted passes every other rule too; if it does, what
        :meth:`check` would remember of it (journalnummer, identifiers for duplicates, counts) is remembered. Nothing
        is remembered when it does not: :meth:`check` then runs on it."""
        for rule, start, end, memo in self._python_memo:
            value = text[start:end]
            ok = memo.get(value)  # _judged, inlined for the common case: a text judged before
            if not (ok or (ok is None and _judged(rule, memo, value))):
                return False
        values = {name: text[start:end].strip(" ") for name, start, end in self._clean_slices}
        values.update(ids)
        remember = []
        synthetic = placeholders = 0
        birth = self._birth
        ddmmyyyy = birth is not None and birth.date_format == "ddMMyyyy"
        fnr_current = self._fnr_current
        for (seen, mandatory, fnr, checked), (_, raw) in zip(self._fast_ids, ids):
            if not checked:
                continue
            if not raw:
                if mandatory:
                    return False
                continue
            if not raw.isascii() or not raw.isdigit():
                return False
            if fnr:
                if len(raw) != 11:
                    return False
                id_class, check = identity.classify_fnr_digits(raw)
                if id_class in _BAD_FNR_CLASSES or (fnr_current and check == "2032"):
                    return False
            else:
                if len(raw) != 12 or not identity.FnrTables.duf_ok(raw.encode("ascii")):
                    return False
                id_class = IdClass.DUF
            if id_class is _SYNTHETIC:
                if not self.allow_synthetic:
                    return False
                synthetic += 1
            elif id_class is _PLACEHOLDER:
                placeholders += 1
            if id_class in DISTINCT_CLASSES and not self._no_duplicates:
                remember.append((seen, self.duplicate_key(raw, values)))
            if birth is not None and fnr and id_class in BIRTH_DATE_CLASSES:
                born = values.get(birth.name, "")
                # the same day, month (less its offset) and year digits: a match, as birth_matches would say
                if not (
                    ddmmyyyy
                    and len(born) == 8
                    and born[:2] == raw[:2]
                    and born[6:] == raw[4:6]
                    and _MONTHS.get(raw[2:4]) == born[2:4]
                ) and not birth_matches(raw[:6], born, birth.date_format):
                    return False
        for _, _, _, violation in self._record_consistency:
            if violation(values) is not None:
                return False
        if self._controls is not None and not self._controls.passes(text):
            return False
        journalnr = self._journalnr(text)
        if journalnr:
            self._journal.add(line, journalnr)
        self._synthetic += synthetic
        self._placeholders += placeholders
        for seen, raw in remember:
            seen.add(raw, line)
        for spec, seen in self._unique:
            value = values.get(spec.name, "")
            if value:
                seen.add(value, line)
        return True

    def check_block(self, first_line: int, texts: list[str]) -> FixedBlock:
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
        joined = "\n".join(texts)
        raw = np.frombuffer((joined + "\n").encode(profile.encoding), np.uint8).reshape(n, length + 1)[:, :length]
        blank = (raw == 32).all(axis=1)
        match = self._record_re.fullmatch
        clean = ~blank & np.fromiter((match(t) is not None for t in texts), bool, n)
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
            filled = ~(column == 32).all(axis=1)
            if mandatory:
                clean &= filled
            if id_end - id_start != (11 if fnr else 12):
                clean &= ~filled  # a padded identifier: line by line
                continue
            clean &= ~filled | ((column >= 48) & (column <= 57)).all(axis=1)
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
                passes = self._controls.passes
                clean[candidates] = np.fromiter((passes(texts[i]) for i in candidates.tolist()), bool, len(candidates))
        self._remember_block(first_line, texts, clean, blank, synthetic, placeholders, id_values)
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
                (_judged(rule, memo, bytes(key).decode(encoding)) for key in distinct), bool, len(distinct)
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
            good = new[np.fromiter((_judged(rule, memo, text) for text in texts), bool, len(new))]
            if len(good):
                judged_ok |= _found(good, numbers)
                if accepted is None:
                    self._accepted[id(memo)] = good
                elif len(accepted) < _MEMO_MAX:
                    self._accepted[id(memo)] = np.union1d(accepted, good)
        return judged_ok

    def _birth_column(
        self, raw: np.ndarray, birth_spec: FieldSpec, fnr_spec: FieldSpec, texts: list[str], wanted: np.ndarray
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
            digits = ((born[:, 2:4] >= 48) & (born[:, 2:4] <= 57)).all(axis=1)
            born_month = (born[:, 2].astype(np.int16) - 48) * 10 + born[:, 3] - 48
            month = (fnr[:, 2].astype(np.int16) - 48) * 10 + fnr[:, 3] - 48
            agrees = (
                (born[:, 0] != 32)
                & (born[:, 7] != 32)
                & (born[:, 0:2] == fnr[:, 0:2]).all(axis=1)
                & (born[:, 6:8] == fnr[:, 4:6]).all(axis=1)
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
        texts: list[str],
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
                self._remember_clean(first_line, texts, clean, start, stop, journal_slice, id_values)
            if stop < len(texts):
                self.check(self.profile.record(first_line + stop, texts[stop]))
            start = stop + 1

    def _remember_clean(
        self,
        first_line: int,
        texts: list[str],
        clean: np.ndarray,
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
        if journal_field is not None:
            j0, j1 = journal_field.span
            numbers = [texts[i][j0:j1].strip(" ") for i in rows]
            kept = [i for i, number in zip(rows, numbers) if number]
            if len(kept) < len(rows):
                numbers = [number for number in numbers if number]
            self._journal.add_many([first_line + i for i in kept], numbers)
        for id_start, id_end, distinct, seen in id_values:
            wanted = (np.flatnonzero(part & distinct[start:stop]) + start).tolist()
            if wanted:
                if self._duplicate_key:
                    keys = [
                        self.duplicate_key(texts[i][id_start:id_end].strip(" "), self._clean_values(texts[i]))
                        for i in wanted
                    ]
                else:
                    keys = [texts[i][id_start:id_end].strip(" ") for i in wanted]
                seen.add_many(keys, [first_line + i for i in wanted])
        for spec, seen in self._unique:
            u0, u1 = spec.span
            values = [texts[i][u0:u1].strip(" ") for i in rows]
            kept = [i for i, value in zip(rows, values) if value]
            if len(kept) < len(rows):
                values = [value for value in values if value]
            seen.add_many(values, [first_line + i for i in kept])

    def _block_rows(self, first_line: int, texts: list[str], raw: np.ndarray, blank: np.ndarray) -> FixedBlock:
        """The rows of a block's records for the container (see :class:`FixedBlock`)."""
        import numpy as np

        records = np.flatnonzero(~blank)
        lines = (records + first_line).tolist()
        if (raw >= 128).any():
            split = self._split
            return FixedBlock(len(records), [split(texts[i]) for i in records.tolist()], (), None, lines)
        data = raw[records]
        ids = []
        for name, start, end in self.profile.id_slices:
            width = end - start
            flat = np.ascontiguousarray(data[:, start:end]).tobytes()
            ids.append((name, [flat[k : k + width].strip(b" ") for k in range(0, len(flat), width)]))
        for start, end, _ in self.profile.blank_spans:
            data[:, start:end] = 32
        return FixedBlock(len(records), None, tuple(ids), data, lines)

    def check(self, record: Record) -> None:
        line, journalnr = record.line, record.journalnr
        data = record.data
        if self._record_re.fullmatch(data) is None:
            texts: tuple[str, ...] = self._slice(data)
            for i, rule in enumerate(self._rules):
                problem = rule.problem(texts[i])
                if problem is not None:
                    self.add(Severity.ERROR, problem[0], line, journalnr, rule.spec.name, problem[1])
            values = {name: texts[i].strip(" ") for name, i in self._values}
        else:
            for rule, start, end, memo in self._python_memo:
                text = data[start:end]
                if not _judged(rule, memo, text):
                    problem = rule.problem(text)
                    if problem is not None:  # always: _judged remembers that there is one
                        self.add(Severity.ERROR, problem[0], line, journalnr, rule.spec.name, problem[1])
            values = {name: data[start:end].strip(" ") for name, start, end in self._value_slices}
        values.update(record.ids)
        self.check_ids(record, journalnr, values)
        for spec, seen in self._unique:  # check_unique and check_consistency, inlined (this runs per record)
            value = values.get(spec.name, "")
            if value:
                seen.add(value, line)
        for rule_id, severity, field_name, violation in self._record_consistency:
            message = violation(values)
            if message is not None:
                self.add(severity, rule_id, line, journalnr, field_name, message)
        if self._controls is not None:
            for severity, control_id, field_name, message in self._controls.violations(values):
                self.add(severity, control_id, line, journalnr, field_name, message)
