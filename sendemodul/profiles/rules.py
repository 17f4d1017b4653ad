"""The control rules: the checks of SSB's control program that can run on the municipality's side, driven by a
register's profile, streaming over the extract.

    report = run_checks(load_profile("11CF", 2026), stream, identity.parse_unit("0301-12-958935420", 2026))
    report.exit_code    # 0 OK/INFO, 1 WARNING, 2 ERROR/FATAL

Rules (id, severity): docs/profiles.md has the full table.

- Shape, FATAL: ``RECORD_LENGTH``, ``TAB`` (fixed width), ``XML`` (not well-formed, wrong structure). A FATAL finding
  stops every other check: the report then lists only FATAL findings (all of them), so the file's shape gets fixed
  first, as in SSB's program.
- Fields, ERROR: ``MANDATORY``, ``INTEGER``, ``DATE``, ``CODE``, ``LENGTH``, ``SCHEMA`` (XML: unknown attribute,
  element or text); the unit: ``KOMMUNENR``, ``BYDEL`` (Oslo 01-15, and the unit's own bydel if it reports per bydel;
  blank or 00 elsewhere), ``ORGNR``; the year: ``VERSION`` (VERSION + 2000 = periode; XML: Versjon = periode).
- Identifiers: ``ID_MISSING``, ``ID_INVALID`` (names the class: check digits, date, format), ``ID_IN_DATA`` (XML:
  an identifier in another attribute or in text, where it would reach SSB; fixed-width fields other than the
  identifier fields are too narrow to hold one), ``DUPLICATE_ID``, ``DUPLICATE`` (journalnummer and other unique
  fields): ERROR. ``BIRTHDATE`` (birth date field differs from the fødselsnummer's date): WARNING.
  ``ID_SYNTHETIC``: one INFO summary when synthetic IDs are allowed (tests), else a WARNING per record (production).
  ``ID_PLACEHOLDER``: one INFO summary.
- The register's consistency rules from its profile (ids like ``11CF-AVSL_DATO``), with the profile's severity.
- ``EMPTY``: WARNING when there are no records (a "no participants" delivery is ``encrypt --empty``).

Privacy: a finding names its row by line number and journalnummer, never by an identifier, and never echoes a value
longer than 4 characters, so an identifier in the wrong column cannot leak into a report either. A journalnummer that
looks like an identifier is not shown. Duplicates are found from 64-bit keyed hashes (a random key per run, never
written anywhere) spilled to unnamed temporary files and resolved at the end in bounded memory (:class:`_FirstSeen`),
not from the identifiers themselves; DUPLICATE_ID and DUPLICATE findings therefore come after the per-record
findings, in line order.
"""

from __future__ import annotations

import bisect
import datetime
import enum
import functools
import hashlib
import heapq
import json
import operator
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import jinja2

import sendemodul
from sendemodul import identity
from sendemodul.errors import BydelError, KommunenrError
from sendemodul.identity import IdClass
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import (
    AnyOf,
    Consistency,
    Extract,
    FieldSpec,
    Malformed,
    Profile,
    Record,
    Requires,
)
from sendemodul.profiles.xmldoc import XmlProfile

__all__ = ["Checker", "Finding", "Report", "Severity", "allowed_bydeler", "run_checks"]

#: The most findings of one rule that a report lists; the rest are only counted.
MAX_PER_RULE = 1000
#: Longer values are never shown in a message (they might be, or hold, an identifier).
_SHOW_MAX_CHARS = 4
TEMPLATE_NAME = "check-report.html.j2"


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3
    FATAL = 4

    def __str__(self) -> str:
        return self.name


_EXIT_CODES = {None: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.FATAL: 2}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    rule: str
    #: 1-based line in the extract; ``None`` for the document as a whole.
    line: int | None
    journalnr: str | None
    field: str | None
    message: str

    @property
    def where(self) -> str:
        """``line 12, journalnr 00000012`` (or ``document``): how the report names the row."""
        if self.line is None:
            return "document"
        return f"line {self.line}" + (f", journalnr {self.journalnr}" if self.journalnr else "")

    def as_dict(self) -> dict:
        return {"severity": self.severity.name, "rule": self.rule, "line": self.line, "journalnr": self.journalnr,
                "field": self.field, "message": self.message}


@dataclass
class Report:
    """The outcome of the checks of one extract."""

    register: str
    periode: int
    unit: str
    #: The register's name (the profile's title) and the file checked.
    title: str = ""
    source: str | None = None
    records: int = 0
    #: The findings listed (at most ``max_per_rule`` a rule), in the order found.
    findings: list[Finding] = field(default_factory=list)
    #: Every finding counted, listed or not: per severity and per rule.
    severity_counts: dict[Severity, int] = field(default_factory=dict)
    rule_counts: dict[str, int] = field(default_factory=dict)

    @property
    def worst(self) -> Severity | None:
        """The highest severity found, ``None`` when there are no findings."""
        return max(self.severity_counts, default=None)

    @property
    def exit_code(self) -> int:
        """0 OK/INFO, 1 WARNING, 2 ERROR/FATAL."""
        return _EXIT_CODES[self.worst]

    @property
    def blocking(self) -> bool:
        """Whether the extract must not be submitted (an ERROR or FATAL finding)."""
        return self.exit_code == 2

    @property
    def omitted(self) -> dict[str, int]:
        """Per rule, how many findings were counted but not listed."""
        listed: dict[str, int] = {}
        for f in self.findings:
            listed[f.rule] = listed.get(f.rule, 0) + 1
        return {rule: n - listed.get(rule, 0) for rule, n in self.rule_counts.items() if n > listed.get(rule, 0)}

    @property
    def summary(self) -> str:
        """One line, e.g. ``Result: ERROR (0 fatal, 3 errors, 0 warnings, 1 info) in 120 records, exit code 2``."""
        counts = ", ".join(_count(self.severity_counts.get(s, 0), name) for s, name in (
            (Severity.FATAL, "fatal"), (Severity.ERROR, "error"), (Severity.WARNING, "warning"),
            (Severity.INFO, "info")))
        result = "OK" if self.worst is None else self.worst.name
        return f"Result: {result} ({counts}) in {_count(self.records, 'record')}, exit code {self.exit_code}"

    def as_dict(self) -> dict:
        return {
            "format": "sendemodul-check/1",
            "register": self.register,
            "title": self.title,
            "periode": self.periode,
            "unit": self.unit,
            "source": self.source,
            "records": self.records,
            "result": "OK" if self.worst is None else self.worst.name,
            "exit_code": self.exit_code,
            "counts": {s.name: self.severity_counts.get(s, 0) for s in reversed(Severity)},
            "rules": dict(sorted(self.rule_counts.items())),
            "omitted": self.omitted,
            "findings": [f.as_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def to_text(self) -> str:
        lines = [f"sendemodul check: {self.title}",
                 f"register {self.register}, periode {self.periode}, unit {self.unit}"]
        if self.source:
            lines.append(f"file: {self.source}")
        lines.append("")
        for f in self.findings:
            where = f.where + (f", {f.field}" if f.field else "")
            lines.append(f"{f.severity.name:<8}{where}: {f.message} [{f.rule}]")
        for rule, n in self.omitted.items():
            lines.append(f"        ... and {n} more {rule} finding(s) not listed")
        if self.findings:
            lines.append("")
        lines.append(self.summary)
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        return _template().render(report=self)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 or noun in ("fatal", "info") else f"{n} {noun}s"


@functools.cache
def _template() -> jinja2.Template:
    templates = Path(sendemodul.__file__).parent.parent / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE_NAME)


def run_checks(profile: Profile, stream: BinaryIO, unit: identity.Unit, *, allow_synthetic: bool = True,
               source: str | None = None, max_per_rule: int = MAX_PER_RULE) -> Report:
    """Check an extract (a binary stream, read once, streaming) for ``unit``; the :class:`Report`.

    ``allow_synthetic``: synthetic test IDs are expected (one INFO); pass ``False`` for production-like use, where each
    one is a WARNING. ``source`` names the file in the report.
    """
    extract = profile.open_extract(stream)
    checker = Checker(profile, unit, extract, allow_synthetic=allow_synthetic, source=source,
                      max_per_rule=max_per_rule)
    for item in extract.scan():
        checker.feed(item)
    return checker.finish()


class Checker:
    """The rules over one extract, item by item, for callers that read the extract themselves (e.g. to check and
    encrypt in one pass): :meth:`feed` every item of ``extract.scan()``, then :meth:`finish` for the report.
    """

    def __init__(self, profile: Profile, unit: identity.Unit, extract: Extract, *, allow_synthetic: bool = True,
                 source: str | None = None, max_per_rule: int = MAX_PER_RULE):
        self.report = Report(profile.register, profile.periode, str(unit), profile.title, source)
        self._extract = extract
        self._max_per_rule = max_per_rule
        self._fatal = False
        self._header_checked = False
        rules = _FixedRules if isinstance(profile, FixedWidthProfile) else _XmlRules
        self._records: _RecordRules = rules(profile, _Context(profile, unit), self._add, allow_synthetic,
                                            max_per_rule)

    def feed(self, item: Record | Malformed) -> None:
        """Check one item of the extract (the header, too, before the first record)."""
        if isinstance(item, Malformed):
            if not self._fatal:
                self._fatal = True
                self._keep_only_fatal()
                self._records.close()
            self._add(Severity.FATAL, item.rule, item.line, None, None, item.message)
            return
        self.report.records += 1
        if self._fatal:
            return
        if not self._header_checked:
            self._header_checked = True
            self._records.check_header(self._extract.header_lines)
        self._records.check(item)

    def feed_text(self, line: int, text: str) -> tuple[tuple[tuple[str, str], ...], str] | None:
        """Fixed width: check one line of a ``(first_line, texts)`` block of
        :meth:`~sendemodul.profiles.fixed.FixedWidthExtract.blocks` exactly as :meth:`feed` would check the item that
        :meth:`~sendemodul.profiles.fixed.FixedWidthExtract.scan` yields for it; ``(ids, data)`` as in that
        :class:`Record`, or ``None`` for a blank line (which is no record). A record that every rule accepts is
        checked without building a :class:`Record`; any other goes through :meth:`feed`, so its findings are the
        same."""
        if text[0] == " " and not text.strip(" "):
            return None
        records = self._records
        if self._fatal or not self._header_checked:
            record = records.profile.record(line, text)
            self.feed(record)
            return record.ids, record.data
        self.report.records += 1
        return records.check_text(line, text)

    def finish(self) -> Report:
        """The report, once every item has been fed."""
        if not self._fatal:
            if not self._header_checked:
                self._records.check_header(self._extract.header_lines)
            self._records.finish()
            if self.report.records == 0:
                self._add(Severity.WARNING, "EMPTY", None, None, None,
                          "the extract holds no records; if nobody is to be reported, deliver with "
                          "'sendemodul encrypt --empty' (no participants)")
        return self.report

    def _add(self, severity: Severity, rule: str, line: int | None, journalnr: str | None, field_name: str | None,
             message: str) -> None:
        report = self.report
        report.severity_counts[severity] = report.severity_counts.get(severity, 0) + 1
        count = report.rule_counts.get(rule, 0) + 1
        report.rule_counts[rule] = count
        if count <= self._max_per_rule:
            report.findings.append(Finding(severity, rule, line, journalnr, field_name, message))

    def _keep_only_fatal(self) -> None:
        report = self.report
        report.findings = [f for f in report.findings if f.severity is Severity.FATAL]
        report.severity_counts = {s: n for s, n in report.severity_counts.items() if s is Severity.FATAL}
        report.rule_counts = {}
        for f in report.findings:
            report.rule_counts[f.rule] = report.rule_counts.get(f.rule, 0) + 1


# ---------------------------------------------------------------------------------------------------------------------
# Fields


def _show(value: str) -> str:
    """`` (found 'x')`` for a short value; nothing for a longer one, which could be (part of) an identifier."""
    return f" (found {value!r})" if 0 < len(value) <= _SHOW_MAX_CHARS else ""


def _ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


_DATE_SHAPES = {
    "ddMMyyyy": re.compile(r"(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])[0-9]{4}"),
    "yyyy-MM-dd": re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"),
}


@functools.lru_cache(maxsize=8192)
def _parse_date(value: str, date_format: str) -> datetime.date | None:
    """The date, or ``None`` if ``value`` is not one in ``date_format``."""
    if not _DATE_SHAPES[date_format].fullmatch(value):
        return None
    if date_format == "ddMMyyyy":
        day, month, year = int(value[:2]), int(value[2:4]), int(value[4:])
    else:
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:])
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def allowed_bydeler(unit: identity.Unit, year: int) -> tuple[frozenset[str], str]:
    """The values a record's bydel field may hold for ``unit`` (``""`` = blank), and that rule in words.

    A unit reporting for one bydel: that bydel. A kommune with bydeler (Oslo) reporting as a whole: each record names
    one of its reporting bydeler (01-15). Any other kommune: blank, or 00.
    """
    if unit.bydel != "00":
        return frozenset({unit.bydel}), f"must be the unit's bydel {unit.bydel}"
    reporting = []
    for number in range(1, 100):
        try:
            reporting.append(identity.check_bydel(unit.kommunenr, f"{number:02d}", year))
        except BydelError:
            continue
    if reporting:
        return frozenset(reporting), f"must be one of {unit.kommunenr}'s bydeler {reporting[0]}-{reporting[-1]}"
    return frozenset({"", "00"}), f"must be blank (or 00): {unit.kommunenr} has no bydeler"


class _Context:
    """What the field rules compare against: the unit and the year."""

    def __init__(self, profile: Profile, unit: identity.Unit):
        self.periode = profile.periode
        self.expected = {"kommunenr": unit.kommunenr, "orgnr": unit.orgnr, "version": f"{profile.periode % 100:02d}",
                         "periode": str(profile.periode)}
        self.bydeler, self.bydel_rule = allowed_bydeler(unit, profile.periode)
        self._kommuner: dict[str, bool] = {}

    def kommunenr_valid(self, code: str) -> bool:
        """Whether ``code`` is a kommunenummer in force in the profile's year (memoized)."""
        valid = self._kommuner.get(code)
        if valid is None:
            try:
                identity.kommune(code, self.periode)
                valid = True
            except KommunenrError:
                valid = False
            self._kommuner[code] = valid
        return valid


_ROLE_RULES = {"kommunenr": ("KOMMUNENR", "the unit's kommunenr"), "orgnr": ("ORGNR", "the unit's orgnr"),
               "version": ("VERSION", "the last two digits of the periode"), "periode": ("VERSION", "the periode")}


class _FieldRule:
    """The field-level rules of one field: mandatory, the role's value, type, length, code list."""

    def __init__(self, spec: FieldSpec, context: _Context, label: str | None = None):
        self.spec = spec
        self.label = label or spec.name
        self.context = context
        self.expected = context.expected.get(spec.role)

    def problem(self, value: str) -> tuple[str, str] | None:
        """``(rule, message)`` for the first rule ``value`` breaks, else ``None``. Padding spaces do not count."""
        spec, label = self.spec, self.label
        v = value.strip(" ")
        if spec.role == "bydel":
            if v in self.context.bydeler:
                return None
            return "BYDEL", f"{label} {self.context.bydel_rule}{_show(v)}"
        if not v:
            return ("MANDATORY", f"{label} must be filled in") if spec.mandatory else None
        if self.expected is not None and v != self.expected:
            rule, what = _ROLE_RULES[spec.role]
            return rule, f"{label} must be {what}, {self.expected}{_show(v)}"
        if spec.type == "integer" and not _ascii_digits(v):
            return "INTEGER", f"{label} must be a whole number (digits only){_show(v)}"
        if spec.type == "date" and _parse_date(v, spec.date_format) is None:
            return "DATE", f"{label} must be a valid date written {spec.date_format}{_show(v)}"
        if spec.max_length is not None and len(v) > spec.max_length:
            return "LENGTH", f"{label} is {len(v)} characters long; at most {spec.max_length} are allowed"
        if (spec.codes or spec.codes_from) and v not in spec.codes \
                and not (spec.codes_from and self.context.kommunenr_valid(v)):
            return "CODE", f"{label} must be {self._codes_in_words()}{_show(v)}"
        return None

    def _codes_in_words(self) -> str:
        if self.spec.codes_from:
            extra = "".join(f" or {code} ({text})" for code, text in self.spec.codes.items())
            return f"a kommunenummer valid in {self.context.periode}{extra}"
        codes = list(self.spec.codes)
        return f"one of the codes {', '.join(codes[:-1])} or {codes[-1]}" if len(codes) > 1 else f"{codes[0]}"

    def pattern(self) -> str:
        """Fixed width: a regular expression for the field's text that matches exactly the values :meth:`problem`
        accepts, except that a date is matched by its shape and a ``codes_from`` code by its digits only (see
        :attr:`needs_python`). Padding spaces may surround any value."""
        spec = self.spec
        if spec.role == "bydel":
            return _padded(sorted(b for b in self.context.bydeler if b), blank="" in self.context.bydeler)
        if self.expected is not None:
            core = re.escape(self.expected)
        elif spec.codes_from:
            core = "[0-9]+"
        elif spec.codes:
            core = "|".join(re.escape(code) for code in spec.codes)
        elif spec.type == "integer":
            core = "[0-9]+"
        elif spec.type == "date":
            core = _DATE_SHAPES[spec.date_format].pattern
        elif spec.mandatory:
            return "[ ]*[^ \\n][^\\n]*"
        else:
            return "[^\\n]*"
        return _padded([core], blank=not spec.mandatory)

    def exact_pattern(self) -> str:
        """Fixed width: a regular expression for exactly ``length`` characters, so that the fields of a record need
        no separators. It matches only texts that :meth:`pattern` matches: the same ones (every way to pad each value
        to the width spelled out), except that a number is matched only left-aligned, right-aligned or filling the
        field (a text it does not match is then checked by :meth:`problem`, which decides)."""
        spec, width = self.spec, self.spec.length
        digits = None
        if spec.role == "bydel":
            values, blank = sorted(b for b in self.context.bydeler if b), "" in self.context.bydeler
        elif self.expected is not None:
            values, blank = [self.expected], not spec.mandatory
        elif spec.codes_from or spec.type == "integer":
            values, blank, digits = [], not spec.mandatory, True
        elif spec.codes:
            values, blank = list(spec.codes), not spec.mandatory
        elif spec.type == "date":
            shape = _DATE_SHAPES[spec.date_format]
            return _exact_width([(f"(?:{shape.pattern})", len(spec.date_format))], width, blank=not spec.mandatory)
        elif spec.mandatory:
            return f"(?![ ]{{{width}}})[^\\n]{{{width}}}"
        else:
            return f"[^\\n]{{{width}}}"
        if digits:
            return _aligned_digits(width, blank=blank)
        return _exact_width([(re.escape(value), len(value)) for value in values], width, blank=blank)

    @property
    def needs_python(self) -> bool:
        """Whether :meth:`pattern` is only a shape check, so that :meth:`problem` must still run on a match."""
        return self.spec.type == "date" or bool(self.spec.codes_from)


def _aligned_digits(width: int, *, blank: bool) -> str:
    """A regular expression for exactly ``width`` characters: digits then spaces (digits first), spaces then digits,
    or (if ``blank``) spaces only. The first character picks the branch, so a text is tried against few
    alternatives."""
    left = "|".join(f"[0-9]{{{digits}}}[ ]{{{width - 1 - digits}}}" for digits in range(width - 1, -1, -1))
    right = [f"[ ]{{{spaces}}}[0-9]{{{width - 1 - spaces}}}" for spaces in range(width - 1)]
    if blank:
        right.append(f"[ ]{{{width - 1}}}")
    return f"[0-9](?:{left})" + (f"|[ ](?:{'|'.join(right)})" if right else "")


def _exact_width(choices: list[tuple[str, int]], width: int, *, blank: bool) -> str:
    """A regular expression for exactly ``width`` characters: one of ``choices`` (a regular expression and the fixed
    length of what it matches) with padding spaces before and after, or (if ``blank``) spaces only."""
    alternatives = [f"[ ]{{{before}}}{choice}[ ]{{{width - length - before}}}"
                    for choice, length in choices if length <= width for before in range(width - length + 1)]
    if blank:
        alternatives.append(f"[ ]{{{width}}}")
    return "|".join(alternatives) if alternatives else "(?!)"


def _padded(choices: list[str], *, blank: bool) -> str:
    """A regular expression for one of ``choices`` (regular expressions) surrounded by padding spaces, or (if
    ``blank``) for padding only."""
    alternatives = "|".join(choices)
    return f"[ ]*(?:{alternatives}){'?' if blank else ''}[ ]*" if choices else "[ ]*"


# ---------------------------------------------------------------------------------------------------------------------
# Duplicates

#: Entries (hash and line) buffered in memory before they are written to a duplicate table's temporary file.
_SPILL_BLOCK = 8192
#: The most entries resolved in memory at once (a dict of up to this many distinct hashes, ~7 MB); a larger table is
#: first split into 2**_BUCKET_BITS parts by the next bits of the hash, in another temporary file.
_RESOLVE_MAX = 1 << 16
_BUCKET_BITS = 6
_BUCKETS = 1 << _BUCKET_BITS
#: A part's buffer is written out once it holds this many entries.
_PART_FLUSH = 2048


class _Run:
    """A sequence of ``(hash, line)`` entries in line order, in blocks of an unnamed temporary file (shared by the
    parts of one split)."""

    def __init__(self, file: BinaryIO):
        self.file = file
        self.blocks: list[tuple[int, int]] = []
        self.count = 0

    def write(self, hashes: bytes, lines: array) -> None:
        n = len(lines)
        if not n:
            return
        file = self.file
        offset = file.seek(0, 2)
        file.write(hashes)
        file.write(lines.tobytes())
        self.blocks.append((offset, n))
        self.count += n

    def read(self) -> Iterable[tuple[array, array]]:
        file = self.file
        for offset, n in self.blocks:
            file.seek(offset)
            data = file.read(12 * n)
            hashes, lines = array("Q"), array("I")
            hashes.frombytes(data[:8 * n])
            lines.frombytes(data[8 * n:])
            yield hashes, lines


class _FirstSeen:
    """Finds the values of one field that occur on more than one line, in bounded memory whatever the extract's size.

    During the pass, :meth:`add` appends a keyed 64-bit hash of each value (BLAKE2b with a random key made for this
    run and kept only in memory, so the file holds no identifier and nothing to test guesses against) and its line
    to an unnamed temporary file. :meth:`duplicates` then resolves the table part by part: a part of at most
    ``_RESOLVE_MAX`` entries in a dict, a larger one after splitting it by the next bits of the hash. Two different
    values share a hash with a probability of about n²/2^65: negligible for any extract.
    """

    def __init__(self):
        self._hasher = hashlib.blake2b(key=secrets.token_bytes(16), digest_size=8)
        self._hashes = bytearray()
        self._lines = array("I")
        self._run: _Run | None = None

    def add(self, value: str, line: int) -> None:
        """Remember that ``value`` is on ``line`` (lines must come in increasing order)."""
        hasher = self._hasher.copy()
        hasher.update(value.encode("utf-8", "surrogatepass"))
        self._hashes += hasher.digest()
        lines = self._lines
        lines.append(line)
        if len(lines) >= _SPILL_BLOCK:
            self._spill()

    def _spill(self) -> None:
        if self._run is None:
            self._run = _Run(tempfile.TemporaryFile())  # noqa: SIM115 (closed by duplicates() or close())
        self._run.write(bytes(self._hashes), self._lines)
        self._hashes, self._lines = bytearray(), array("I")

    def duplicates(self) -> Iterable[tuple[int, int]]:
        """Every ``(line, first line)`` where a value seen before comes again (by part: not in line order)."""
        self._spill()
        run, self._run = self._run, None
        try:
            yield from _resolve(run, 0)
        finally:
            run.file.close()

    def close(self) -> None:
        if self._run is not None:
            self._run.file.close()
            self._run = None


def _resolve(run: _Run, level: int) -> Iterable[tuple[int, int]]:
    if run.count <= _RESOLVE_MAX or level * _BUCKET_BITS >= 64:
        first: dict[int, int] = {}
        setdefault = first.setdefault
        for hashes, lines in run.read():
            for key, line in zip(hashes, lines):
                seen = setdefault(key, line)
                if seen != line:
                    yield line, seen
        return
    with tempfile.TemporaryFile() as file:
        parts = [_Run(file) for _ in range(_BUCKETS)]
        hashes_out = [array("Q") for _ in range(_BUCKETS)]
        lines_out = [array("I") for _ in range(_BUCKETS)]
        shift, mask = level * _BUCKET_BITS, _BUCKETS - 1
        for hashes, lines in run.read():
            for key, line in zip(hashes, lines):
                bucket = (key >> shift) & mask
                hashes_out[bucket].append(key)
                lines_out[bucket].append(line)
            for bucket in range(_BUCKETS):
                if len(lines_out[bucket]) >= _PART_FLUSH:
                    parts[bucket].write(hashes_out[bucket].tobytes(), lines_out[bucket])
                    hashes_out[bucket], lines_out[bucket] = array("Q"), array("I")
        for bucket in range(_BUCKETS):
            parts[bucket].write(hashes_out[bucket].tobytes(), lines_out[bucket])
        del hashes_out, lines_out
        for part in parts:
            yield from _resolve(part, level + 1)


class _Journal:
    """The journalnummer of each line, kept in an unnamed temporary file, so that duplicate findings (found only at
    the end) can name their rows."""

    _BLOCK = 4096

    def __init__(self):
        self._file: BinaryIO | None = None
        self._lines = array("I")
        self._texts: list[str] = []
        #: Per block written: its first line, offset, and number of entries.
        self._first_lines = array("I")
        self._blocks: list[tuple[int, int]] = []

    def add(self, line: int, journalnr: str) -> None:
        self._lines.append(line)
        self._texts.append(journalnr)
        if len(self._lines) >= self._BLOCK:
            self._flush()

    def _flush(self) -> None:
        if not self._lines:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        file = self._file
        offset = file.seek(0, 2)
        file.write(self._lines.tobytes())
        file.write("\n".join(t.replace("\\", "\\\\").replace("\n", "\\n") for t in self._texts)
                   .encode("utf-8", "surrogatepass"))
        self._first_lines.append(self._lines[0])
        self._blocks.append((offset, len(self._lines)))
        self._lines, self._texts = array("I"), []

    def lookup(self, lines: Iterable[int]) -> dict[int, str]:
        """The journalnummer of each of ``lines`` that has one."""
        self._flush()
        found: dict[int, str] = {}
        wanted: dict[int, list[int]] = {}
        for line in lines:
            block = bisect.bisect_right(self._first_lines, line) - 1
            if block >= 0:
                wanted.setdefault(block, []).append(line)
        for block, block_lines in sorted(wanted.items()):
            offset, n = self._blocks[block]
            end = self._blocks[block + 1][0] if block + 1 < len(self._blocks) else None
            self._file.seek(offset)
            data = self._file.read() if end is None else self._file.read(end - offset)
            entry_lines = array("I")
            entry_lines.frombytes(data[:4 * n])
            texts = data[4 * n:].split(b"\n")
            for line in block_lines:
                i = bisect.bisect_left(entry_lines, line)
                if i < n and entry_lines[i] == line:
                    found[line] = _unescape(texts[i].decode("utf-8", "surrogatepass"))
        return found

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


# ---------------------------------------------------------------------------------------------------------------------
# Records

_ID_REASONS = {
    "BAD_CHECKSUM": "the check digits do not match",
    "BAD_DATE": "its date part is not a date",
}
_ID_NAMES = {"fnr": ("fødselsnummer", 11), "duf": ("DUF number", 12)}
#: Classes whose number can appear twice only by mistake (placeholders are shared by design). Tuples, not sets:
#: membership by identity is much faster than hashing an enum member.
_DISTINCT_CLASSES = (IdClass.SYNTHETIC, IdClass.FNR, IdClass.DNR, IdClass.DUF, IdClass.HNR)
#: Classes whose date part is the birth date (a D-number's may be the registration date).
_BIRTH_DATE_CLASSES = (IdClass.SYNTHETIC, IdClass.FNR, IdClass.HNR)
_SYNTHETIC, _PLACEHOLDER = IdClass.SYNTHETIC, IdClass.PLACEHOLDER
_DIGIT_RUN = re.compile(r"(?<![0-9])(?:[0-9]{11}|[0-9]{12})(?![0-9])")

#: How the record rules report a finding: severity, rule, line, journalnr, field, message.
Add = Callable[[Severity, str, "int | None", "str | None", "str | None", str], None]
#: A consistency rule ready to run: id, severity, the field a finding names, and a function from the values (stripped
#: texts by field name) to the message of a violation, or ``None``.
_Compiled = tuple[str, Severity, "str | None", Callable[[dict[str, str]], "str | None"]]


def _looks_like_id(value: str) -> bool:
    """Whether ``value`` holds an 11- or 12-digit run that is a valid fødselsnummer-like ID or DUF number."""
    for match in _DIGIT_RUN.finditer(value):
        digits = match.group()
        if identity.classify_id(digits, "fnr" if len(digits) == 11 else "duf").valid:
            return True
    return False


class _RecordRules(ABC):
    """What every kind of profile shares: identifiers, duplicates, consistency rules, the summaries."""

    def __init__(self, profile: Profile, context: _Context, add: Add, allow_synthetic: bool,
                 max_listed: int = MAX_PER_RULE):
        self.profile = profile
        self.context = context
        self.add = add
        self.allow_synthetic = allow_synthetic
        #: How many findings of a rule ``add`` lists (the rest it only counts).
        self.max_listed = max_listed
        self._journal = _Journal()
        specs = {f.name: f for f in profile.field_specs}
        self._ids = tuple((specs[name], _FirstSeen()) for name in profile.id_fields)
        self._unique = tuple((spec, _FirstSeen()) for spec in profile.field_specs if spec.unique)
        birth = [f for f in profile.field_specs if f.role == "birthdate"]
        self._birth = birth[0] if birth else None
        date_formats = {f.name: f.date_format for f in profile.field_specs if f.type == "date"}
        self._record_consistency = _compile((r for r in profile.consistency if r.element is None), date_formats)
        self._synthetic = 0
        self._placeholders = 0

    def check_header(self, header_lines: list[str]) -> None:
        """Document-level checks (XML: the header element); nothing for fixed width."""

    @abstractmethod
    def check(self, record: Record) -> None:
        """Every record-level rule for one record."""

    def finish(self) -> None:
        self._report_duplicates()
        if self._synthetic:
            self.add(Severity.INFO, "ID_SYNTHETIC", None, None, None,
                     f"{self._synthetic} identifier(s) are synthetic test IDs: right for a test delivery, "
                     "refused in production")
        if self._placeholders:
            self.add(Severity.INFO, "ID_PLACEHOLDER", None, None, None,
                     f"{self._placeholders} fødselsnummer are SSB placeholders (birth date + 00100, 00200 or 99999): "
                     "those people cannot be followed from year to year")

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
                    self.add(Severity.ERROR, rule, line, journalnrs.get(line), name,
                             f"{name} is the same as on line {first}")
                for _ in range(total - len(listed)):  # counted only: past the cap, add does not list them
                    self.add(Severity.ERROR, rule, None, None, None, "")
        finally:
            self.close()

    def check_ids(self, record: Record, journalnr: str | None, values: dict[str, str]) -> None:
        line = record.line
        if journalnr is not None:
            self._journal.add(line, journalnr)
        for (spec, seen), (name, raw) in zip(self._ids, record.ids):
            if not raw:
                if spec.mandatory:
                    self.add(Severity.ERROR, "ID_MISSING", line, journalnr, name, f"{name} must be filled in")
                continue
            kind = spec.id_kind
            classified = identity.classify_id(raw, kind)
            id_class = classified.id_class
            if not classified.valid:
                what, digits = _ID_NAMES[kind]
                reason = _ID_REASONS.get(id_class.name, f"it must be {digits} digits")
                self.add(Severity.ERROR, "ID_INVALID", line, journalnr, name,
                         f"{name} is not a valid {what} ({id_class.name}): {reason}")
                continue
            if id_class is _SYNTHETIC:
                if self.allow_synthetic:
                    self._synthetic += 1
                else:
                    self.add(Severity.WARNING, "ID_SYNTHETIC", line, journalnr, name,
                             f"{name} is a synthetic test ID, not a real person's")
            elif id_class is _PLACEHOLDER:
                self._placeholders += 1
            if id_class in _DISTINCT_CLASSES:
                seen.add(classified.canonical, line)
            if self._birth is not None and kind == "fnr" and id_class in _BIRTH_DATE_CLASSES:
                self._check_birthdate(classified.canonical, values.get(self._birth.name, ""), line, journalnr, name)

    def _check_birthdate(self, fnr: str, birth: str, line: int, journalnr: str | None, id_name: str) -> None:
        if not _birth_matches(fnr[:6], birth, self._birth.date_format):
            self.add(Severity.WARNING, "BIRTHDATE", line, journalnr, self._birth.name,
                     f"{self._birth.name} does not match the date in {id_name}")

    def check_unique(self, line: int, journalnr: str | None, values: dict[str, str]) -> None:
        for spec, seen in self._unique:
            value = values.get(spec.name, "")
            if value:
                seen.add(value, line)

    def check_consistency(self, rules: tuple[_Compiled, ...], values: dict[str, str], line: int,
                          journalnr: str | None) -> None:
        for rule_id, severity, field_name, violation in rules:
            message = violation(values)
            if message is not None:
                self.add(severity, rule_id, line, journalnr, field_name, message)


def _birth_matches(date_part: str, birth: str, date_format: str) -> bool:
    """Whether a birth date field (``date_format``; not a date: nothing to compare) agrees with the first six digits
    of a fødselsnummer (the month may carry an offset of 40 or 80)."""
    born = _parse_date(birth, date_format)
    if born is None:
        return True
    day, month, yy = int(date_part[0:2]), int(date_part[2:4]) % 40, int(date_part[4:6])
    return (born.day, born.month, born.year % 100) == (day, month, yy)


def _compile(rules: Iterable[Consistency], date_formats: dict[str, str], label: str = "") -> tuple[_Compiled, ...]:
    """The consistency rules as functions; ``label`` prefixes the field names of findings (``Tjeneste/@``)."""
    return tuple((rule.id, Severity[rule.severity], *_compile_one(rule, date_formats, label)) for rule in rules)


def _compile_one(rule: Consistency, date_formats: dict[str, str], label: str):
    if isinstance(rule, Requires):
        if_field, field_name, if_values, positive = rule.if_field, rule.field, frozenset(rule.if_values), rule.positive

        def requires(values: dict[str, str]) -> str | None:
            condition = values.get(if_field, "")
            if condition not in if_values:
                return None
            value = values.get(field_name, "")
            if not value:
                return f"{field_name} must be filled in when {if_field} is {condition}"
            if positive and not (_ascii_digits(value) and int(value) > 0):
                return f"{field_name} must be more than 0 when {if_field} is {condition}"
            return None
        return label + field_name, requires
    if isinstance(rule, AnyOf):
        names = rule.fields
        message = f"at least one of {' and '.join(names)} must be filled in"

        def any_of(values: dict[str, str]) -> str | None:
            return None if any(values.get(name) for name in names) else message
        return None, any_of
    earlier, later = rule.earlier, rule.later
    earlier_format, later_format = date_formats[earlier], date_formats[later]
    message = f"{earlier} is after {later}"

    def date_order(values: dict[str, str]) -> str | None:
        first = _parse_date(values.get(earlier, ""), earlier_format)
        second = _parse_date(values.get(later, ""), later_format)
        return message if first is not None and second is not None and first > second else None
    return label + later, date_order


#: The most texts a field's memo of judged texts holds (enough for every birth date in a lifetime's range).
_MEMO_MAX = 1 << 15
_BAD_FNR_CLASSES = (IdClass.BAD_DATE, IdClass.BAD_CHECKSUM)


def _judged(rule, memo, value):
    """Whether ``rule`` accepts ``value``, remembered in the field's ``memo`` (bounded; values repeat, as dates do)."""
    ok = memo.get(value)
    if ok is None:
        ok = rule.problem(value) is None
        if len(memo) < _MEMO_MAX:
            memo[value] = ok
    return ok
#: A fødselsnummer's month digits (with an offset of 40 or 80, or none) -> the month in a birth date.
_MONTHS = {f"{month + offset:02d}": f"{month:02d}" for month in range(1, 13) for offset in (0, 40, 80)}


class _FixedRules(_RecordRules):
    """Fixed width: one regular expression over the whole record, each field matched at its exact width
    (:meth:`_FieldRule.exact_pattern`), decides whether every field is fine; only a record it rejects is checked
    field by field to say what is wrong (most records in most files are fine). Only the fields that need a look in
    Python (dates, kommune codes) or feed other rules are sliced out of a record that passes."""

    def __init__(self, profile: FixedWidthProfile, context: _Context, add: Add, allow_synthetic: bool,
                 max_listed: int = MAX_PER_RULE):
        super().__init__(profile, context, add, allow_synthetic, max_listed)
        specs = [spec for spec in profile.field_specs if not spec.id_kind]
        self._rules = tuple(_FieldRule(spec, context) for spec in specs)
        self._slice = operator.itemgetter(*(slice(spec.start, spec.end) for spec in specs), slice(0, 0))
        # Each field is an atomic group: every alternative of a field has the field's width, so backtracking into an
        # earlier field could only retry the same thing. Identifier fields are blanked in the data: any text.
        exact = {rule.spec.name: rule.exact_pattern() for rule in self._rules}
        for rule in self._rules:  # a blank number field (common) first: the same texts match, sooner
            spec = rule.spec
            if spec.role != "bydel" and rule.expected is None and (spec.codes_from or spec.type == "integer") \
                    and not spec.mandatory:
                exact[spec.name] = f"[ ]{{{spec.length}}}|{exact[spec.name]}"
        self._record_re = re.compile("".join(
            f"(?>{exact[spec.name]})" if spec.name in exact else f"[^\n]{{{spec.length}}}"
            for spec in profile.field_specs).replace("[ ]{0}", ""))  # "[ ]{0}" matches nothing, slowly
        #: The fields checked in Python after a match, with a memo per field of the texts already judged (dates and
        #: kommune codes repeat a lot).
        self._python_memo = tuple((rule, rule.spec.start, rule.spec.end, {}) for rule in self._rules
                                  if rule.needs_python)
        needed = {spec.name for spec, _ in self._unique}
        for rule in profile.consistency:
            needed.update(rule.names)
        if self._birth is not None:
            needed.add(self._birth.name)
        self._values = tuple((spec.name, i) for i, spec in enumerate(specs) if spec.name in needed)
        self._value_slices = tuple((spec.name, spec.start, spec.end) for spec in specs if spec.name in needed)
        # For check_text: where the identifiers and the journalnummer are, and the identifier tables.
        self._id_slices = profile._id_slices
        self._blank_spans = profile._blank_spans
        self._journal_slice = profile._journal_slice
        self._fast_ids = tuple((seen, spec.mandatory, spec.id_kind == "fnr") for spec, seen in self._ids)

    def check_text(self, line: int, text: str) -> tuple[tuple[tuple[str, str], ...], str]:
        """:meth:`check` for ``profile.record(line, text)`` (``text``: a line of the record length without TAB, CR
        or line break); its ``(ids, data)``. A record that passes every rule is checked here without a
        :class:`Record`; any other is handed to :meth:`check`, which then reports exactly what it always does."""
        ids = tuple([(name, text[start:end].strip(" ")) for name, start, end in self._id_slices])
        data = text
        for start, end, blank in self._blank_spans:
            data = data[:start] + blank + data[end:]
        if self._record_re.fullmatch(text) is None or not self._clean(line, text, ids):
            journalnr = None
            if self._journal_slice:
                journalnr = text[self._journal_slice[0]:self._journal_slice[1]].strip(" ") or None
            self.check(Record(line, journalnr, ids, data))
        return ids, data

    def _clean(self, line: int, text: str, ids: tuple[tuple[str, str], ...]) -> bool:
        """Whether a record that the regular expression accepted passes every other rule too; if it does, what
        :meth:`check` would remember of it (journalnummer, identifiers for duplicates, counts) is remembered. Nothing
        is remembered when it does not: :meth:`check` then runs on it."""
        for rule, start, end, memo in self._python_memo:
            if not _judged(rule, memo, text[start:end]):
                return False
        values = {name: text[start:end].strip(" ") for name, start, end in self._value_slices}
        values.update(ids)
        remember = []
        synthetic = placeholders = 0
        birth = self._birth
        ddmmyyyy = birth is not None and birth.date_format == "ddMMyyyy"
        for (seen, mandatory, fnr), (_, raw) in zip(self._fast_ids, ids):
            if not raw:
                if mandatory:
                    return False
                continue
            if not raw.isascii() or not raw.isdigit():
                return False
            if fnr:
                if len(raw) != 11:
                    return False
                id_class, _ = identity.classify_fnr_digits(raw)
                if id_class in _BAD_FNR_CLASSES:
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
            if id_class in _DISTINCT_CLASSES:
                remember.append((seen, raw))
            if birth is not None and fnr and id_class in _BIRTH_DATE_CLASSES:
                born = values.get(birth.name, "")
                # the same day, month (less its offset) and year digits: a match, as _birth_matches would say
                if not (ddmmyyyy and len(born) == 8 and born[:2] == raw[:2] and born[6:] == raw[4:6]
                        and _MONTHS.get(raw[2:4]) == born[2:4]) \
                        and not _birth_matches(raw[:6], born, birth.date_format):
                    return False
        for _, _, _, violation in self._record_consistency:
            if violation(values) is not None:
                return False
        if self._journal_slice:
            journalnr = text[self._journal_slice[0]:self._journal_slice[1]].strip(" ")
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
            texts = self._slice(data)
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


class _XmlRules(_RecordRules):
    """XML: every attribute of the record element and its children against the schema in the profile."""

    def __init__(self, profile: XmlProfile, context: _Context, add: Add, allow_synthetic: bool,
                 max_listed: int = MAX_PER_RULE):
        super().__init__(profile, context, add, allow_synthetic, max_listed)
        self._fields = tuple(_FieldRule(spec, context) for spec in profile.field_specs if not spec.id_kind)
        self._known = frozenset(profile.field_names)
        self._header = tuple(_FieldRule(spec, context, f"{profile.header_element}/@{spec.name}")
                             for spec in profile.header_specs)
        self._children = {
            child.element: (child, tuple(_FieldRule(spec, context, f"{child.element}/@{spec.name}")
                                         for spec in child.fields),
                            _compile((r for r in profile.consistency if r.element == child.element),
                                     {f.name: f.date_format for f in child.fields if f.type == "date"},
                                     f"{child.element}/@"))
            for child in profile.children
        }

    def check_header(self, header_lines: list[str]) -> None:
        profile = self.profile
        element = profile.parse(header_lines[0])
        where = profile.header_element
        self._schema(element, frozenset(f.spec.name for f in self._header), None, None, where)
        if len(element) or (element.text or "").strip():
            self.add(Severity.ERROR, "SCHEMA", None, None, None, f"<{where}> holds attributes only")
        for rule in self._header:
            problem = rule.problem(element.get(rule.spec.name, ""))
            if problem is not None:
                self.add(Severity.ERROR, problem[0], None, None, rule.label, f"{where}: {problem[1]}")

    def check(self, record: Record) -> None:
        profile = self.profile
        line = record.line
        element = profile.parse(record.data)
        attrs = {name: value.strip() for name, value in element.attrib.items()}
        journalnr = record.journalnr
        if journalnr is not None and _looks_like_id(journalnr):
            journalnr = None  # never shown; ID_IN_DATA reports it
        self._ids_in_data(element, line, journalnr)
        self._schema(element, self._known, line, journalnr, profile.record_element)
        if any((node.text or "").strip() or (node.tail or "").strip() for node in element.iter()):
            self.add(Severity.ERROR, "SCHEMA", line, journalnr, None,
                     f"<{profile.record_element}> and its children hold attributes only, no text")
        for rule in self._fields:
            problem = rule.problem(attrs.get(rule.spec.name, ""))
            if problem is not None:
                self.add(Severity.ERROR, problem[0], line, journalnr, rule.spec.name, problem[1])
        self._check_children(element, line, journalnr)
        values = dict(attrs)
        values.update(record.ids)
        self.check_ids(record, journalnr, values)
        self.check_unique(line, journalnr, values)
        self.check_consistency(self._record_consistency, values, line, journalnr)

    def _ids_in_data(self, element, line: int, journalnr: str | None) -> None:
        """ERROR for every attribute value or text that holds a person's ID: it would reach SSB in the clear."""
        for node in element.iter():
            for name, value in node.attrib.items():
                if _looks_like_id(value):
                    self.add(Severity.ERROR, "ID_IN_DATA", line, journalnr,
                             name if node is element else f"{node.tag}/@{name}",
                             f"{name} holds what looks like a person's ID; IDs belong in "
                             f"{' or '.join(self.profile.id_fields)}")
            if (node.text and _looks_like_id(node.text)) or (node.tail and _looks_like_id(node.tail)):
                self.add(Severity.ERROR, "ID_IN_DATA", line, None, None,
                         f"text in <{node.tag}> holds what looks like a person's ID")

    def _schema(self, element, known: frozenset[str], line: int | None, journalnr: str | None, where: str) -> None:
        """SCHEMA errors for attributes the profile does not know (they could hold anything)."""
        for name in element.attrib:
            if name not in known:
                self.add(Severity.ERROR, "SCHEMA", line, journalnr, None,
                         f"<{where}> has an attribute {name[:40]!r} that the profile does not know")

    def _check_children(self, element, line: int, journalnr: str | None) -> None:
        counts: dict[str, int] = {}
        for child in element:
            entry = self._children.get(child.tag)
            if entry is None:
                self.add(Severity.ERROR, "SCHEMA", line, journalnr, None,
                         f"<{element.tag}> has a child element <{child.tag[:40]}> that the profile does not know")
                continue
            counts[child.tag] = counts.get(child.tag, 0) + 1
            spec, rules, consistency = entry
            self._schema(child, frozenset(f.name for f in spec.fields), line, journalnr, child.tag)
            if len(child):
                self.add(Severity.ERROR, "SCHEMA", line, journalnr, None, f"<{child.tag}> must not contain elements")
            attrs = {name: value.strip() for name, value in child.attrib.items()}
            for rule in rules:
                problem = rule.problem(attrs.get(rule.spec.name, ""))
                if problem is not None:
                    self.add(Severity.ERROR, problem[0], line, journalnr, rule.label, problem[1])
            self.check_consistency(consistency, attrs, line, journalnr)
        for tag, (spec, _, _) in self._children.items():
            if counts.get(tag, 0) < spec.min:
                self.add(Severity.ERROR, "MANDATORY", line, journalnr, None,
                         f"<{element.tag}> must have at least {spec.min} <{tag}>")

