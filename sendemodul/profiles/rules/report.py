"""The report of the control rules: :class:`Severity`, :class:`Finding`, :class:`Report` and its renderings (text,
JSON, HTML), and :data:`Add`, how the rules hand a finding to it."""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

import jinja2

from sendemodul import i18n, resources

__all__ = ["MAX_PER_RULE", "Add", "Finding", "Report", "Severity"]

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


class FindingDict(TypedDict):
    """:meth:`Finding.as_dict`: a finding in the JSON report."""

    severity: str
    rule: str
    line: int | None
    journalnr: str | None
    field: str | None
    message: str


class ReportDict(TypedDict):
    """:meth:`Report.as_dict`: the JSON report (``sendemodul-check/1``)."""

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
        for f in self.findings:
            where = f.where_in(self.lang) + (f", {f.field}" if f.field else "")
            lines.append(f"{f.severity.name:<8}{where}: {self.translated(f.message)} [{f.rule}]")
        for rule, n in self.omitted.items():
            lines.append("        " + self.text("more", n=n, rule=rule))
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
    templates = resources.templates_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template(TEMPLATE_NAME)


#: How the record rules report a finding: severity, rule, line, journalnr, field, message.
Add = Callable[[Severity, str, "int | None", "str | None", "str | None", str], None]
