"""The report of the control rules: :class:`Severity`, :class:`Finding`, :class:`Report` and its renderings (text,
JSON, HTML), and :class:`Add`, how the rules hand a finding to it.

Every rendering groups the findings by control (:meth:`Report.groups`): SSB's control id where the finding is one of
SSB's controls (``Individ06``, or ``Individ01`` for our ``SCHEMA`` in an ``Individ``), else our rule's id, with the
control's title, and under it each finding's line, journalnummer, field and message. A finding never names an ID
number (docs/profiles.md, "Privacy").
"""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypedDict

if TYPE_CHECKING:  # imported where an environment is made: the encryption module never renders a page
    import jinja2

from sendemodul import i18n, resources

__all__ = ["GENERIC_TITLES", "MAX_PER_RULE", "Add", "Finding", "Group", "Report", "Severity"]

#: The most findings of one rule that a report lists; the rest are only counted.
MAX_PER_RULE = 1000
TEMPLATE_NAME = "check-report.html.j2"


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3
    FATAL = 4

    def __str__(self) -> str:
        return self.name


_EXIT_CODES = {None: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.FATAL: 2}

#: The languages of a report: ``en`` prints the report's frame in English and the rules' texts as written;
#: ``nb`` and ``nn`` print everything from the catalogs (``sendemodul check --lang nn``; the CLI stays English).
LANGUAGES = ("en", "nb", "nn")

#: The report's own words in English (``--lang en``) ...
REPORT_TEXTS_EN = {
    "heading": "sendemodul check: {title}",
    "html_title": "Control report {register} {periode}, {unit}",
    "html_heading": "Control report: {title}",
    "meta": "register {register}, periode {periode}, unit {unit}",
    "file": "file: {source}",
    "more": "... and {n} more {rule} finding(s) not listed",
    "document": "document",
    "line": "line {line}",
    "line_journalnr": "line {line}, journalnr {journalnr}",
    "register": "Register",
    "periode": "Periode",
    "unit": "Unit",
    "file_label": "File",
    "records": "Records",
    "severity": "Severity",
    "line_label": "Line",
    "journalnr": "Journalnr",
    "field": "Field",
    "message": "Message",
    "rule": "Rule",
    "not_listed": "Not listed (counted in the totals):",
    "more_html": "{n} more {rule} finding(s)",
    "group_heading": "{control}{title}: {count} funn",
    "more_group": "... and {n} more not listed",
    "count": "{count} funn",
    "whole_file": "whole file",
    "more_counted": "{n} more counted, but not listed.",
}

#: ... and in Bokmål, the message ids of the catalogs (scripts/i18n extracts dicts named ``*_NB`` or ``*TITLES``
#: from the rules' modules).
REPORT_TEXTS_NB = {
    "heading": "Kontrollrapport: {title}",
    "html_title": "Kontrollrapport {register} {periode}, {unit}",
    "html_heading": "Kontrollrapport: {title}",
    "meta": "register {register}, periode {periode}, enhet {unit}",
    "file": "fil: {source}",
    "more": "… og {n} funn til av {rule} som ikke er listet",
    "summary": "Resultat: {result} (fatale: {fatal}, feil: {error}, advarsler: {warning}, info: {info}); poster: "
    "{records}; avslutningskode {exit_code}",
    "document": "dokumentet",
    "line": "linje {line}",
    "line_journalnr": "linje {line}, journalnr {journalnr}",
    "register": "Register",
    "periode": "Periode",
    "unit": "Enhet",
    "file_label": "Fil",
    "records": "Poster",
    "severity": "Alvorlighetsgrad",
    "line_label": "Linje",
    "journalnr": "Journalnr",
    "field": "Felt",
    "message": "Melding",
    "rule": "Regel",
    "not_listed": "Ikke listet (telt med i summene):",
    "more_html": "{n} funn til av {rule}",
    "group_heading": "{control}{title}: {count} funn",
    "more_group": "… og {n} til som ikke er listet",
    "count": "{count} funn",
    "whole_file": "hele filen",
    "more_counted": "{n} funn til er talt med, men ikke listet.",
}


def report_text(lang: str, key: str, **values: object) -> str:
    """One of the report's own texts in ``lang`` (``en``, ``nb`` or ``nn``), with its values."""
    if lang == "en":
        return REPORT_TEXTS_EN[key].format(**values)
    return i18n.gettext_in(lang, REPORT_TEXTS_NB[key]).format(**values)


def rule_text(lang: str, text: str) -> str:
    """A rule's message or a profile's title in ``lang``: a :class:`~sendemodul.i18n.Msg` or a text with an entry
    in the catalogs is translated; anything else (``--lang en``, or a text not yet in the catalogs) as written."""
    if lang == "en":
        return str(text)
    if isinstance(text, i18n.Msg):
        return text.in_language(lang)
    return i18n.gettext_in(lang, text)


#: The titles of our own rules (those that are no control of SSB's, or not only), in Bokmål as SSB's.
GENERIC_TITLES = {
    "RECORD_LENGTH": "Feil postlengde",
    "TAB": "Tabulator i posten",
    "XML": "Filen er ikke lesbar XML eller har feil oppbygning",
    "MANDATORY": "Obligatorisk felt mangler",
    "INTEGER": "Ikke et heltall",
    "DATE": "Ikke en gyldig dato",
    "CODE": "Ugyldig kode",
    "LENGTH": "Feil lengde",
    "SCHEMA": "Ukjent attributt, element eller tekst",
    "KOMMUNENR": "Kommunenummeret er ikke enhetens",
    "ORGNR": "Organisasjonsnummeret er ikke enhetens",
    "BYDEL": "Bydelsnummeret er feil",
    "VERSION": "Årgangen er ikke rapporteringsåret",
    "ID_MISSING": "Fødselsnummer mangler",
    "ID_INVALID": "Ugyldig fødselsnummer eller DUF-nummer",
    "ID_IN_DATA": "Et fødselsnummer eller DUF-nummer står utenfor identifikatorfeltene",
    "DUPLICATE_ID": "Samme fødselsnummer eller DUF-nummer flere ganger",
    "DUPLICATE": "Samme journalnummer flere ganger",
    "BIRTHDATE": "Fødselsdatoen stemmer ikke med fødselsnummeret",
    "ID_SYNTHETIC": "Syntetiske testidentiteter",
    "ID_PLACEHOLDER": "SSBs plassholdere for fødselsnummer",
    "EMPTY": "Filen har ingen poster",
}


class FindingDict(TypedDict):
    """:meth:`Finding.as_dict`: a finding in the JSON report."""

    severity: str
    #: The control it counts under (SSB's id, else the rule's), then the rule that found it.
    control: str
    rule: str
    line: int | None
    journalnr: str | None
    field: str | None
    message: str


class GroupDict(TypedDict):
    """:meth:`Group.as_dict`: the findings of one control in the JSON report."""

    control: str
    title: str
    severity: str
    count: int
    #: The findings listed (each as in ``findings``); ``count`` may be more (``omitted``).
    findings: list[FindingDict]


class ReportDict(TypedDict):
    """:meth:`Report.as_dict`: the JSON report (``sendemodul-check/1``; docs/profiles.md, "The JSON report")."""

    format: str
    register: str
    title: str
    periode: int
    unit: str
    source: str | None
    records: int
    result: str
    exit_code: int
    counts: dict[str, int]
    rules: dict[str, int]
    omitted: dict[str, int]
    findings: list[FindingDict]
    groups: list[GroupDict]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    rule: str
    #: 1-based line in the extract; ``None`` for the document as a whole.
    line: int | None
    journalnr: str | None
    field: str | None
    message: str
    #: SSB's control that this finding is (``Individ01`` for our ``SCHEMA`` in an ``Individ``), ``None`` when the
    #: rule is our own; :attr:`group` is what the report groups by.
    control: str | None = None

    @property
    def group(self) -> str:
        """The id the report lists this finding under: SSB's control, else the rule's."""
        return self.control or self.rule

    @property
    def where(self) -> str:
        """``line 12, journalnr 00000012`` (or ``document``): how the report names the row."""
        return self.where_in("en")

    def where_in(self, lang: str) -> str:
        """:attr:`where` in ``lang``."""
        if self.line is None:
            return report_text(lang, "document")
        if self.journalnr:
            return report_text(lang, "line_journalnr", line=self.line, journalnr=self.journalnr)
        return report_text(lang, "line", line=self.line)

    def as_dict(self) -> FindingDict:
        return {
            "severity": self.severity.name,
            "control": self.group,
            "rule": self.rule,
            "line": self.line,
            "journalnr": self.journalnr,
            "field": self.field,
            "message": self.message,
        }


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
    #: Every finding counted, per control (:attr:`Finding.group`), and the worst severity of each.
    control_counts: dict[str, int] = field(default_factory=dict)
    control_severity: dict[str, Severity] = field(default_factory=dict)
    #: Titles of the controls and rules (id -> title); an id without one is shown by its id alone.
    titles: dict[str, str] = field(default_factory=lambda: dict(GENERIC_TITLES))

    def count(self, finding: Finding) -> None:
        """Count ``finding`` (listed or not) in the totals."""
        self.severity_counts[finding.severity] = self.severity_counts.get(finding.severity, 0) + 1
        self.rule_counts[finding.rule] = self.rule_counts.get(finding.rule, 0) + 1
        group = finding.group
        self.control_counts[group] = self.control_counts.get(group, 0) + 1
        if finding.severity > self.control_severity.get(group, 0):
            self.control_severity[group] = finding.severity

    def groups(self) -> list[Group]:
        """The findings by control: the worst severity first, then in the order each control was first found."""
        listed: dict[str, list[Finding]] = {}
        for f in self.findings:
            listed.setdefault(f.group, []).append(f)
        order = {group: i for i, group in enumerate(listed)}
        order.update({g: len(order) + i for i, g in enumerate(g for g in self.control_counts if g not in order)})
        return [
            Group(group, self.titles.get(group, ""), self.control_severity[group], n, tuple(listed.get(group, ())))
            for group, n in sorted(
                self.control_counts.items(), key=lambda item: (-self.control_severity[item[0]], order[item[0]])
            )
        ]

    #: The language the renderings use (:data:`LANGUAGES`); the JSON keys and codes never change.
    lang: str = "en"

    def text(self, key: str, **values: object) -> str:
        """The report's own text ``key`` in its language."""
        return report_text(self.lang, key, **values)

    def translated(self, text: str) -> str:
        """A rule's message or a title in the report's language."""
        return rule_text(self.lang, text)

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
        if self.lang != "en":
            counts = {s.name.lower(): self.severity_counts.get(s, 0) for s in Severity}
            result = "OK" if self.worst is None else self.worst.name
            return self.text("summary", result=result, records=self.records, exit_code=self.exit_code, **counts)
        counts_text = ", ".join(
            _count(self.severity_counts.get(s, 0), name)
            for s, name in (
                (Severity.FATAL, "fatal"),
                (Severity.ERROR, "error"),
                (Severity.WARNING, "warning"),
                (Severity.INFO, "info"),
            )
        )
        result = "OK" if self.worst is None else self.worst.name
        return f"Result: {result} ({counts_text}) in {_count(self.records, 'record')}, exit code {self.exit_code}"

    def as_dict(self) -> ReportDict:
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
            "groups": [g.as_dict() for g in self.groups()],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def to_text(self) -> str:
        lines = [
            self.text("heading", title=self.translated(self.title)),
            self.text("meta", register=self.register, periode=self.periode, unit=self.unit),
        ]
        if self.source:
            lines.append(self.text("file", source=self.source))
        lines.append("")
        for g in self.groups():
            lines.append(f"{g.severity.name:<8}{g.heading_in(self.lang)}")
            for f in g.findings:
                where = f.where_in(self.lang) + (f", {f.field}" if f.field else "")
                severity = "" if f.severity is g.severity else f" ({f.severity.name})"
                rule = "" if f.rule == g.control else f" [{f.rule}]"
                lines.append(f"        {where}: {self.translated(f.message)}{severity}{rule}")
            if g.count > len(g.findings):
                lines.append("        " + self.text("more_group", n=g.count - len(g.findings)))
            lines.append("")
        lines.append(self.summary)
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        return _template().render(report=self)


@dataclass(frozen=True)
class Group:
    """The findings of one control: its id (SSB's, or our rule's), title, worst severity, how many were found in
    all, and those listed."""

    control: str
    title: str
    severity: Severity
    count: int
    findings: tuple[Finding, ...]

    def heading_in(self, lang: str) -> str:
        """:attr:`heading` in ``lang`` (the title from the catalogs)."""
        title = f" {rule_text(lang, self.title)}" if self.title else ""
        return report_text(lang, "group_heading", control=self.control, title=title, count=self.count)

    @property
    def heading(self) -> str:
        """``Individ06 Individet har verken meldinger, planer eller tiltak: 2 funn``: how the text report heads it."""
        return f"{self.control}" + (f" {self.title}" if self.title else "") + f": {self.count} funn"

    def as_dict(self) -> GroupDict:
        return {
            "control": self.control,
            "title": self.title,
            "severity": self.severity.name,
            "count": self.count,
            "findings": [f.as_dict() for f in self.findings],
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 or noun in ("fatal", "info") else f"{n} {noun}s"


@functools.cache
def _template() -> jinja2.Template:
    templates = resources.templates_dir()
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env.get_template(TEMPLATE_NAME)


class Add(Protocol):
    """How the record rules report a finding: severity, rule, line, journalnr, field, message, and SSB's control
    where the rule is one (``None``: our own)."""

    def __call__(
        self,
        severity: Severity,
        rule: str,
        line: int | None,
        journalnr: str | None,
        field: str | None,
        message: str,
        control: str | None = None,
        /,
    ) -> None: ...
