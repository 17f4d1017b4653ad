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

from sendemodul import resources

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
        if self.line is None:
            return "document"
        return f"line {self.line}" + (f", journalnr {self.journalnr}" if self.journalnr else "")

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
        counts = ", ".join(
            _count(self.severity_counts.get(s, 0), name)
            for s, name in (
                (Severity.FATAL, "fatal"),
                (Severity.ERROR, "error"),
                (Severity.WARNING, "warning"),
                (Severity.INFO, "info"),
            )
        )
        result = "OK" if self.worst is None else self.worst.name
        return f"Result: {result} ({counts}) in {_count(self.records, 'record')}, exit code {self.exit_code}"

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
            f"sendemodul check: {self.title}",
            f"register {self.register}, periode {self.periode}, unit {self.unit}",
        ]
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
    templates = resources.templates_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template(TEMPLATE_NAME)


#: How the record rules report a finding: severity, rule, line, journalnr, field, message.
Add = Callable[[Severity, str, "int | None", "str | None", "str | None", str], None]
