"""Running the control rules over an extract: :func:`run_checks` for a stream, :class:`Checker` item by item (for
callers that read the extract themselves, as ``sendemodul encrypt`` does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from sendemodul import identity
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import Extract, Malformed, Profile, Record
from sendemodul.profiles.rules import barnevern, sosial
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.fixed_block import column_values
from sendemodul.profiles.rules.fixed_records import FixedBlock, FixedRules
from sendemodul.profiles.rules.report import MAX_PER_RULE, Add, Finding, Report, Severity
from sendemodul.profiles.rules.xml_records import XmlRules
from sendemodul.profiles.xmldoc import XmlProfile

__all__ = ["Checker", "run_checks"]


def run_checks(
    profile: Profile,
    stream: BinaryIO,
    unit: identity.Unit,
    *,
    allow_synthetic: bool = True,
    source: str | None = None,
    max_per_rule: int = MAX_PER_RULE,
) -> Report:
    """Check an extract (a binary stream, read once, streaming) for ``unit``; the :class:`Report`.

    ``allow_synthetic``: synthetic test IDs are expected (one INFO); pass ``False`` for production-like use, where each
    one is a WARNING. ``source`` names the file in the report.
    """
    extract = profile.open_extract(stream)
    checker = Checker(profile, unit, extract, allow_synthetic=allow_synthetic, source=source, max_per_rule=max_per_rule)
    for item in extract.scan():
        checker.feed(item)
    return checker.finish()


class Checker:
    """The rules over one extract, item by item, for callers that read the extract themselves (e.g. to check and
    encrypt in one pass): :meth:`feed` every item of ``extract.scan()``, then :meth:`finish` for the report.
    """

    def __init__(
        self,
        profile: Profile,
        unit: identity.Unit,
        extract: Extract,
        *,
        allow_synthetic: bool = True,
        source: str | None = None,
        max_per_rule: int = MAX_PER_RULE,
        pseudonymized: bool = False,
    ):
        """``pseudonymized``: the records' identifiers are ``CLASS:pseudonym`` tokens (SSB's reception control,
        :meth:`RecordRules.use_pseudonyms`)."""
        self.report = Report(profile.register, profile.periode, str(unit), profile.title, source)
        if isinstance(profile, XmlProfile) and profile.controls == "barnevern":
            self.report.titles.update(barnevern.TITLES)
        elif profile.controls in ("sosialhjelp", "kvalifisering"):
            self.report.titles.update(sosial.TITLES[profile.register])
        self._extract = extract
        self._max_per_rule = max_per_rule
        self._fatal = False
        self._header_checked = False
        #: The line of the first ERROR or FATAL finding (``None``: none yet, or it had no line): the rows of a
        #: block before it are the ones a record-by-record pass would still have passed on.
        self.first_blocking_line: int | None = None
        self._blocked = False
        self._records = _record_rules(profile, Context(profile, unit), self._add, allow_synthetic, max_per_rule)
        if pseudonymized:
            self._records.use_pseudonyms()
        #: SSB's control for a finding of one of our rules, where the record rules know one (15F: ``EMPTY`` is
        #: ``Individ00``, ``SCHEMA`` in an ``Individ`` is ``Individ01`` ...).
        self._control_of = getattr(self._records, "control_of", None)
        #: The same rules where they are fixed-width ones (:meth:`feed_text`), else ``None``.
        self._fixed = self._records if isinstance(self._records, FixedRules) else None

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
        records = self._fixed
        if records is None:
            raise TypeError(f"feed_text checks fixed-width extracts only, not {self.report.register}")
        if text[0] == " " and not text.strip(" "):
            return None
        if self._fatal or not self._header_checked:
            record = records.profile.record(line, text)
            self.feed(record)
            return record.ids, record.data
        self.report.records += 1
        return records.check_text(line, text)

    def feed_block(self, first_line: int, texts: Sequence[str]) -> FixedBlock:
        """Fixed width: :meth:`feed_text` for every line of a ``(first_line, texts)`` block of
        :meth:`~sendemodul.profiles.fixed.FixedWidthExtract.blocks`, the block's rules evaluated at once
        (:meth:`FixedRules.check_block`); the records' rows as a :class:`FixedBlock`. The lines up to the first
        record, and every line after a FATAL finding, go through :meth:`feed_text` one by one."""
        records = self._fixed
        if records is None:
            raise TypeError(f"feed_block checks fixed-width extracts only, not {self.report.register}")
        rows = []
        lines: list[int] = []
        skip = 0
        while skip < len(texts) and (self._fatal or not self._header_checked):
            row = self.feed_text(first_line + skip, texts[skip])
            skip += 1
            if row is not None:
                rows.append(row)
                lines.append(first_line + skip - 1)
        if skip == len(texts):
            return FixedBlock(len(rows), rows, (), None, lines)
        block = records.check_block(first_line + skip, texts[skip:] if skip else texts)
        self.report.records += block.records
        if not rows:
            return block
        if block.rows is None:  # the first block of the extract: all of it as rows
            data = block.data
            assert data is not None
            columns = [[value.decode("ascii") for value in column_values(values)] for _, values in block.ids]
            names = [name for name, _ in block.ids]
            texts_out = data.tobytes().decode("ascii")
            width = data.shape[1]
            for i in range(len(data)):
                ids = tuple((name, column[i]) for name, column in zip(names, columns))
                rows.append((ids, texts_out[i * width : (i + 1) * width]))
        else:
            rows.extend(block.rows)
        return FixedBlock(len(rows), rows, (), None, lines + block.lines)

    def finish(self) -> Report:
        """The report, once every item has been fed."""
        if not self._fatal:
            if not self._header_checked:
                self._records.check_header(self._extract.header_lines)
            self._records.finish()
            if self.report.records == 0:
                self._add(
                    Severity.WARNING,
                    "EMPTY",
                    None,
                    None,
                    None,
                    "the extract holds no records; if nobody is to be reported, deliver with "
                    "'sendemodul encrypt --empty' (no participants)",
                )
        return self.report

    def _add(
        self,
        severity: Severity,
        rule: str,
        line: int | None,
        journalnr: str | None,
        field_name: str | None,
        message: str,
        control: str | None = None,
    ) -> None:
        if control is None and self._control_of is not None:
            control = self._control_of(rule, field_name)
        control = control or None  # "": the rules said there is none
        report = self.report
        if not self._blocked and severity in (Severity.ERROR, Severity.FATAL):
            self._blocked = True
            self.first_blocking_line = line
        finding = Finding(severity, rule, line, journalnr, field_name, message, control)
        report.count(finding)
        if report.rule_counts[rule] <= self._max_per_rule:
            report.findings.append(finding)

    def _keep_only_fatal(self) -> None:
        report = self.report
        report.findings = [f for f in report.findings if f.severity is Severity.FATAL]
        report.severity_counts = {s: n for s, n in report.severity_counts.items() if s is Severity.FATAL}
        fatal = report.severity_counts.get(Severity.FATAL, 0)
        report.severity_counts, report.rule_counts, report.control_counts, report.control_severity = {}, {}, {}, {}
        for f in report.findings:
            report.count(f)
        report.severity_counts = {Severity.FATAL: fatal} if fatal else {}


def _record_rules(
    profile: Profile, context: Context, add: Add, allow_synthetic: bool, max_listed: int
) -> FixedRules | XmlRules:
    """The record rules for the kind of ``profile``."""
    if isinstance(profile, FixedWidthProfile):
        return FixedRules(profile, context, add, allow_synthetic, max_listed)
    if isinstance(profile, XmlProfile):
        return XmlRules(profile, context, add, allow_synthetic, max_listed)
    raise TypeError(f"no control rules for a {type(profile).__name__}")
