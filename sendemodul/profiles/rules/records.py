"""What the record rules of every kind of profile share: identifiers (classes, synthetic IDs, placeholders, the birth
date), duplicates, consistency rules, and the summaries at the end."""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

from sendemodul import identity
from sendemodul.identity import IdClass
from sendemodul.profiles.model import Profile, Record
from sendemodul.profiles.rules.consistency import CompiledRule, compile_rules
from sendemodul.profiles.rules.duplicates import FirstSeen, Journal
from sendemodul.profiles.rules.fields import Context, parse_date
from sendemodul.profiles.rules.report import MAX_PER_RULE, Add, Severity

__all__ = [
    "BIRTH_DATE_CLASSES",
    "DISTINCT_CLASSES",
    "ID_NAMES",
    "ID_REASONS",
    "RULE_2032_REASON",
    "BirthField",
    "RecordRules",
    "birth_matches",
    "classify_pseudonym_token",
    "pseudonym_token",
]

_ID_REASONS = {
    "BAD_CHECKSUM": "the check digits do not match",
    "BAD_DATE": "its date part is not a date",
}
_RULE_2032_REASON = "its check digits follow the rule for numbers issued from 2032, not valid for this year"
_ID_NAMES = {"fnr": ("fødselsnummer", 11), "duf": ("DUF number", 12)}
#: For the browser module (``sendemodul profiles export``): the identifier rules' reasons and names, as above.
ID_REASONS, RULE_2032_REASON, ID_NAMES = _ID_REASONS, _RULE_2032_REASON, _ID_NAMES
#: Classes whose number can appear twice only by mistake (placeholders are shared by design). Tuples, not sets:
#: membership by identity is much faster than hashing an enum member.
DISTINCT_CLASSES = (IdClass.SYNTHETIC, IdClass.FNR, IdClass.DNR, IdClass.DUF, IdClass.HNR)
#: Classes whose date part is the birth date (a D-number's may be the registration date).
BIRTH_DATE_CLASSES = (IdClass.SYNTHETIC, IdClass.FNR, IdClass.HNR)
_SYNTHETIC, _PLACEHOLDER = IdClass.SYNTHETIC, IdClass.PLACEHOLDER


#: The kind of profile that a kind of record rules reads.
P = TypeVar("P", bound=Profile)


class BirthField(NamedTuple):
    """The field with role ``birthdate`` (a date field) and its date format."""

    name: str
    date_format: str


class RecordRules(ABC, Generic[P]):
    """What every kind of profile shares: identifiers, duplicates, consistency rules, the summaries."""

    def __init__(self, profile: P, context: Context, add: Add, allow_synthetic: bool, max_listed: int = MAX_PER_RULE):
        self.profile = profile
        self.context = context
        self.add = add
        self.allow_synthetic = allow_synthetic
        #: How many findings of a rule ``add`` lists (the rest it only counts).
        self.max_listed = max_listed
        self._journal = Journal()
        specs = {f.name: f for f in profile.field_specs}
        self._ids = tuple((specs[name], FirstSeen()) for name in profile.id_fields)
        #: The ``kind`` of each identifier field, for :func:`identity.classify_id`, in the order of ``_ids``.
        self._id_kinds = tuple(profile.id_kind(name) for name in profile.id_fields)
        #: SSB skips some kommuner's duplicates (11CF: Oslo): no duplicate tables for their units.
        self._no_duplicates = context.expected["kommunenr"] in profile.duplicate_skip
        self._unique = tuple(
            (spec, FirstSeen()) for spec in profile.field_specs if spec.unique and not self._no_duplicates
        )
        #: The fields whose values are part of an identifier's duplicate key (11CF: STATUS), and K005's rule.
        self._duplicate_key = profile.duplicate_key
        self._fnr_current = profile.fnr_rule == "current"
        birth = [
            BirthField(f.name, f.date_format)
            for f in profile.field_specs
            if f.role == "birthdate" and f.date_format is not None
        ]  # loading the profile checked the format
        self._birth = birth[0] if birth else None
        date_formats = {f.name: f.date_format for f in profile.field_specs if f.date_format is not None}
        self._record_consistency = compile_rules((r for r in profile.consistency if r.element is None), date_formats)
        self._synthetic = 0
        self._placeholders = 0
        self._classify: Callable[[str, str], identity.ClassifiedId] = identity.classify_id
        #: Whether the identifiers are ID numbers, whose digits SSB's K005 reads (not so at reception).
        self._fnr_digits = True

    def use_pseudonyms(self) -> None:
        """At SSB's reception control the identifiers are :func:`pseudonym_token` values (the class the TPF found
        and the pseudonym), not ID numbers: the same rules run on them (missing, invalid, synthetic, duplicates by
        pseudonym), except the birth date against the fødselsnummer, which SSB cannot see."""
        self._classify = classify_pseudonym_token
        self._birth = None
        # SSB's K005 reads the digits (valid before 2032?): the TPF's class stands for them here, so an ID valid only by
        # the 2032 rule is not told apart at reception (a blank one still fails)
        self._fnr_digits = False

    def check_header(self, header_lines: list[str]) -> None:
        """Document-level checks (XML: the header element); nothing for fixed width."""

    @abstractmethod
    def check(self, record: Record) -> None:
        """Every record-level rule for one record."""

    def finish(self) -> None:
        self._report_duplicates()
        if self._synthetic:
            self.add(
                Severity.INFO,
                "ID_SYNTHETIC",
                None,
                None,
                None,
                f"{self._synthetic} identifier(s) are synthetic test IDs: right for a test delivery, "
                "refused in production",
            )
        if self._placeholders:
            self.add(
                Severity.INFO,
                "ID_PLACEHOLDER",
                None,
                None,
                None,
                f"{self._placeholders} fødselsnummer are SSB placeholders (birth date + 00100, 00200 or 99999): "
                "those people cannot be followed from year to year",
            )

    def close(self) -> None:
        """Drop the duplicate tables' temporary files (:meth:`finish` does it too)."""
        for _, seen in self._ids + self._unique:
            seen.close()
        self._journal.close()

    def _report_duplicates(self) -> None:
        """The DUPLICATE_ID and DUPLICATE findings, in line order (per line, in field order), at most
        ``max_listed`` a rule listed and the rest counted."""
        try:
            listed_by_rule = []
            for rule, tables in (("DUPLICATE_ID", self._ids), ("DUPLICATE", self._unique)):
                heap: list[tuple[int, int, int, str]] = []  # the smallest (line, order), negated: a max-heap
                total = 0
                for order, (spec, seen) in enumerate(tables):
                    for line, first in seen.duplicates():
                        total += 1
                        item = (-line, -order, first, spec.name)
                        if len(heap) < self.max_listed:
                            heapq.heappush(heap, item)
                        elif item > heap[0]:
                            heapq.heapreplace(heap, item)
                listed_by_rule.append((rule, sorted(heap, reverse=True), total))
            journalnrs = self._journal.lookup(sorted({-item[0] for _, listed, _ in listed_by_rule for item in listed}))
            for rule, listed, total in listed_by_rule:
                for negated_line, _, first, name in listed:
                    line = -negated_line
                    self.add(
                        Severity.ERROR, rule, line, journalnrs.get(line), name, f"{name} is the same as on line {first}"
                    )
                for _ in range(total - len(listed)):  # counted only: past the cap, add does not list them
                    self.add(Severity.ERROR, rule, None, None, None, "")
        finally:
            self.close()

    def check_ids(self, record: Record, journalnr: str | None, values: dict[str, str]) -> None:
        line = record.line
        if journalnr is not None:
            self._journal.add(line, journalnr)
        for (spec, seen), kind, (name, raw) in zip(self._ids, self._id_kinds, record.ids):
            if not spec.checked:
                continue
            if not raw:
                if spec.mandatory or (kind == "fnr" and self._fnr_current):  # SSB's K005: a blank one fails
                    self.add(Severity.ERROR, "ID_MISSING", line, journalnr, name, f"{name} must be filled in")
                continue
            classified = self._classify(raw, kind)
            id_class, canonical = classified.id_class, classified.canonical
            if kind == "fnr" and self._fnr_current and self._fnr_digits:
                if not identity.valid_before_2032(raw):
                    reason = (
                        _RULE_2032_REASON
                        if classified.valid
                        else _ID_REASONS.get(id_class.name, "it must be 11 digits")
                    )
                    self.add(
                        Severity.ERROR,
                        "ID_INVALID",
                        line,
                        journalnr,
                        name,
                        f"{name} is not a valid fødselsnummer ({id_class.name}): {reason}",
                    )
                    continue
                if not classified.valid:  # SSB's K005 accepts it all the same (its date part is not a date)
                    if not self._no_duplicates:
                        seen.add(self.duplicate_key(raw, values), line)
                    continue
            if not classified.valid or canonical is None:  # (a valid ID always has its canonical form)
                what, digits = _ID_NAMES[kind]
                reason = _ID_REASONS.get(id_class.name, f"it must be {digits} digits")
                self.add(
                    Severity.ERROR,
                    "ID_INVALID",
                    line,
                    journalnr,
                    name,
                    f"{name} is not a valid {what} ({id_class.name}): {reason}",
                )
                continue
            if id_class is _SYNTHETIC:
                if self.allow_synthetic:
                    self._synthetic += 1
                else:
                    self.add(
                        Severity.WARNING,
                        "ID_SYNTHETIC",
                        line,
                        journalnr,
                        name,
                        f"{name} is a synthetic test ID, not a real person's",
                    )
            elif id_class is _PLACEHOLDER:
                self._placeholders += 1
            if id_class in DISTINCT_CLASSES and not self._no_duplicates:
                seen.add(self.duplicate_key(canonical, values) if self._duplicate_key else canonical, line)
            birth = self._birth
            if birth is not None and kind == "fnr" and id_class in BIRTH_DATE_CLASSES:
                self._check_birthdate(birth, canonical, values.get(birth.name, ""), line, journalnr, name)

    def duplicate_key(self, canonical: str, values: dict[str, str]) -> str:
        """What two records must share to be duplicates of an identifier: the identifier, and the values of the
        profile's ``duplicates.key_with`` fields."""
        if not self._duplicate_key:
            return canonical
        return "\t".join([canonical, *(values.get(name, "") for name in self._duplicate_key)])

    def _check_birthdate(
        self, field: BirthField, fnr: str, birth: str, line: int, journalnr: str | None, id_name: str
    ) -> None:
        if not birth_matches(fnr[:6], birth, field.date_format):
            self.add(
                Severity.WARNING,
                "BIRTHDATE",
                line,
                journalnr,
                field.name,
                f"{field.name} does not match the date in {id_name}",
            )

    def check_unique(self, line: int, journalnr: str | None, values: dict[str, str]) -> None:
        for spec, seen in self._unique:
            value = values.get(spec.name, "")
            if value:
                seen.add(value, line)

    def check_consistency(
        self, rules: tuple[CompiledRule, ...], values: dict[str, str], line: int, journalnr: str | None
    ) -> None:
        for rule_id, severity, field_name, violation in rules:
            message = violation(values)
            if message is not None:
                self.add(severity, rule_id, line, journalnr, field_name, message)


def birth_matches(date_part: str, birth: str, date_format: str) -> bool:
    """Whether a birth date field (``date_format``; not a date: nothing to compare) agrees with the first six digits
    of a fødselsnummer (the month may carry an offset of 40 or 80)."""
    born = parse_date(birth, date_format)
    if born is None:
        return True
    day, month, yy = int(date_part[0:2]), int(date_part[2:4]) % 40, int(date_part[4:6])
    return (born.day, born.month, born.year % 100) == (day, month, yy)


def pseudonym_token(id_class: str, pseudonym: str) -> str:
    """What stands in a record's identifier at SSB: ``CLASS:pseudonym`` (the pseudonym empty for an invalid ID)."""
    return f"{id_class}:{pseudonym}"


def classify_pseudonym_token(token: str, kind: str) -> identity.ClassifiedId:
    """The :class:`~sendemodul.identity.ClassifiedId` of a :func:`pseudonym_token`: its class, and the pseudonym as
    the canonical value that duplicates are found by (the token itself where there is no pseudonym)."""
    id_class, _, pseudonym = token.partition(":")
    return identity.ClassifiedId(IdClass(id_class), pseudonym or token, None)
