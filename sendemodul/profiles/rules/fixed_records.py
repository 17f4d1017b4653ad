"""The record rules of a fixed-width extract (11F, 11CF), with a fast path for the records every rule accepts.

The block path (:meth:`FixedRules.check_block`, many records at once on numpy arrays) is in
:mod:`~sendemodul.profiles.rules.fixed_block`, the base class of :class:`FixedRules`; this module keeps the rules of
one record (:meth:`FixedRules.check_text`, :meth:`FixedRules.check`), which the block path defers to."""

from __future__ import annotations

import functools
import operator
import re

from sendemodul import identity
from sendemodul.identity import IdClass
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import Record
from sendemodul.profiles.rules.fields import Context, FieldRule
from sendemodul.profiles.rules.fixed_block import BAD_FNR_CLASSES, FixedBlock, FixedBlockRules, memo_accepts
from sendemodul.profiles.rules.records import BIRTH_DATE_CLASSES, DISTINCT_CLASSES, birth_matches
from sendemodul.profiles.rules.report import MAX_PER_RULE, Add, Severity
from sendemodul.profiles.rules.sosial import SosialControls, ssb_control

__all__ = ["FixedBlock", "FixedRules"]

_SYNTHETIC, _PLACEHOLDER = IdClass.SYNTHETIC, IdClass.PLACEHOLDER

#: A fødselsnummer's month digits (with an offset of 40 or 80, or none) -> the month in a birth date.
_MONTHS = {f"{month + offset:02d}": f"{month:02d}" for month in range(1, 13) for offset in (0, 40, 80)}


class FixedRules(FixedBlockRules):
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
        rule_of = {rule.spec.name: rule for rule in self._rules}
        #: Each field's part of the record expression (the block path's :class:`FieldColumns` restates them).
        self._field_patterns = tuple(
            (rule_of.get(spec.name), *spec.span, exact.get(spec.name, f"[^\n]{{{spec.length}}}"))
            for spec in profile.field_specs
        )
        self._field_columns = None
        #: Per memo of :attr:`_python_memo` (by its id), the texts accepted so far as sorted 64-bit numbers (blocks).
        self._accepted = {}
        #: The fields checked in Python after a match, with a memo per field of the texts already judged (dates and
        #: kommune codes repeat a lot).
        self._python_memo = tuple((rule, *rule.spec.span, {}) for rule in self._rules if rule.needs_python)
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
            ok = memo.get(value)  # memo_accepts, inlined for the common case: a text judged before
            if not (ok or (ok is None and memo_accepts(rule, memo, value))):
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
                if id_class in BAD_FNR_CLASSES or (fnr_current and check == "2032"):
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
                if not memo_accepts(rule, memo, text):
                    problem = rule.problem(text)
                    if problem is not None:  # always: memo_accepts remembers that there is one
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
