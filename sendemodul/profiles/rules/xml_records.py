"""The record rules of an XML extract (15F, IPLOS): the record element, its children and the header against the
profile's schema, and no identifier anywhere but in the identifier attributes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from sendemodul import identity
from sendemodul.profiles.model import ChildSpec, Record
from sendemodul.profiles.rules import barnevern
from sendemodul.profiles.rules.consistency import CompiledRule, compile_rules
from sendemodul.profiles.rules.element_table import element_controls
from sendemodul.profiles.rules.fields import Context, FieldRule
from sendemodul.profiles.rules.records import RecordRules
from sendemodul.profiles.rules.report import MAX_PER_RULE, Add, Severity
from sendemodul.profiles.xmldoc import XmlProfile

__all__ = ["XmlRules"]

_DIGIT_RUN = re.compile(r"(?<![0-9])(?:[0-9]{11}|[0-9]{12})(?![0-9])")


def looks_like_id(value: str) -> bool:
    """Whether ``value`` holds an 11- or 12-digit run that is a valid fødselsnummer-like ID or DUF number."""
    for match in _DIGIT_RUN.finditer(value):
        digits = match.group()
        if identity.classify_id(digits, "fnr" if len(digits) == 11 else "duf").valid:
            return True
    return False


class XmlRules(RecordRules[XmlProfile]):
    """XML: every attribute of the record element and its children against the schema in the profile."""

    def __init__(
        self, profile: XmlProfile, context: Context, add: Add, allow_synthetic: bool, max_listed: int = MAX_PER_RULE
    ):
        super().__init__(profile, context, add, allow_synthetic, max_listed)
        self._fields = tuple(FieldRule(spec, context) for spec in profile.field_specs if not spec.id_kind)
        self._known = frozenset(profile.field_names)
        self._header = tuple(
            FieldRule(spec, context, f"{profile.header_element}/@{spec.name}") for spec in profile.header_specs
        )
        self._children = self._compile_children(profile.children, context)
        #: SSB's barnevern controls: the register's rule table compiled for the year (a year it does not list is
        #: refused here, before any record).
        self._controls = (
            element_controls(profile.register, profile.periode).run if profile.controls == "barnevern" else None
        )
        self._kommunenr = context.expected["kommunenr"]
        #: While the header is checked: its attributes (SSB's Avgiver controls look at the raw values).
        self._header_values: dict[str, str] | None = None
        #: Findings that say the record does not follow the schema, so far in the current record (SSB runs its
        #: individ controls only on an individ that its XSD accepts).
        self._structure = 0
        #: The kind (``fnr``, ``duf``) of each identifier field, in the order of ``Record.ids``.
        self._kinds = tuple(profile.id_kind(name) for name in profile.id_fields)
        #: The identifier fields of the current record that are not 11 (12) digits.
        self._bad_format: frozenset[str] = frozenset()
        if self._controls is not None:
            self._add_finding = self.add
            self.add = self._add_barnevern

    #: Our rules that say a record does not follow the schema.
    STRUCTURE = frozenset({"SCHEMA", "MANDATORY", "LENGTH", "CODE", "INTEGER", "DATE"})

    def control_of(self, rule: str, field_name: str | None) -> str | None:
        """SSB's control for a finding of our ``rule`` on ``field_name`` (the checker asks), ``None``: none."""
        if self._controls is None:
            return None
        header = self._header_values
        if header is not None:
            name = field_name.rsplit("@", 1)[-1] if field_name else None
            return barnevern.header_control(rule, name, header.get(name) if name else None) or ""
        return barnevern.record_control(rule, field_name)

    def _add_barnevern(
        self,
        severity: Severity,
        rule: str,
        line: int | None,
        journalnr: str | None,
        field: str | None,
        message: str,
        control: str | None = None,
    ) -> None:
        """``add`` for a barnevern profile: counts the findings that say the record does not follow the schema,
        and leaves ``ID_INVALID`` to SSB's ID controls (``Individ03``, ``11``, ``12``, ``19``, :mod:`barnevern`),
        except for an identifier that is not 11 or 12 digits, which SSB's XSD refuses (``Individ01``)."""
        if rule == "ID_INVALID":
            if field not in self._bad_format:
                return
            self._structure += 1
        elif rule in self.STRUCTURE and line is not None:
            self._structure += 1
        self._add_finding(severity, rule, line, journalnr, field, message, control)

    def _compile_children(self, children: tuple[ChildSpec, ...], context: Context) -> dict[str, _Child]:
        """The rules for each kind of child element, by element name, and below."""
        return {
            child.element: _Child(
                child,
                index,
                frozenset(f.name for f in child.fields),
                tuple(FieldRule(spec, context, f"{child.element}/@{spec.name}") for spec in child.fields),
                compile_rules(
                    (r for r in self.profile.consistency if r.element == child.element),
                    {f.name: f.date_format for f in child.fields if f.date_format is not None},
                    f"{child.element}/@",
                ),
                self._compile_children(child.children, context),
            )
            for index, child in enumerate(children)
        }

    def check_header(self, header_lines: list[str]) -> None:
        profile = self.profile
        element = profile.parse(header_lines[0])
        self._header_values = dict(element.attrib)
        try:
            self._check_header(element)
        finally:
            self._header_values = None

    def _check_header(self, element: ET.Element) -> None:
        profile = self.profile
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
        self._structure = 0
        element = profile.element_of(record)
        attrs = {name: value.strip() for name, value in element.attrib.items()}
        journalnr = record.journalnr
        if journalnr is not None and looks_like_id(journalnr):
            journalnr = None  # never shown; ID_IN_DATA reports it
        self._ids_in_data(element, line, journalnr)
        self._schema(element, self._known, line, journalnr, profile.record_element)
        if (element.text or "").strip():
            self.add(
                Severity.ERROR,
                "SCHEMA",
                line,
                journalnr,
                None,
                f"<{profile.record_element}> holds attributes and elements only, no text",
            )
        for rule in self._fields:
            problem = rule.problem(attrs.get(rule.spec.name, ""))
            if problem is not None:
                self.add(Severity.ERROR, problem[0], line, journalnr, rule.spec.name, problem[1])
        self._check_children(element, self._children, line, journalnr)
        values = dict(attrs)
        values.update(record.ids)
        fnr = ""
        fnr_state: barnevern.IdState = "none"
        duf_state: barnevern.IdState = "none"
        if self._controls is not None:
            self._bad_format = frozenset()
            for (name, value), kind in zip(record.ids, self._kinds, strict=True):
                if kind == "fnr":
                    fnr = value
                    state = fnr_state = barnevern.fnr_state(value)
                else:
                    state = duf_state = barnevern.duf_state(value)
                if state == "format":
                    self._bad_format |= {name}
            for name in sorted(record.blank_ids):  # SSB's XSD wants 11 (12) digits in an attribute that is there
                self.add(
                    Severity.ERROR,
                    "SCHEMA",
                    line,
                    journalnr,
                    name,
                    f"{name} is there but blank: leave the attribute out or fill it in",
                )
        self.check_ids(record, journalnr, values)
        self.check_unique(line, journalnr, values)
        self.check_consistency(self._record_consistency, values, line, journalnr)
        if self._controls is not None and not self._structure:
            age = barnevern.age_in(fnr, profile.periode)
            facts = barnevern.Facts(profile.periode, self._kommunenr, age, fnr_state, duf_state)
            for rule_id, severity, field_name, message in self._controls(element, facts):
                self.add(severity, rule_id, line, journalnr, field_name, message, rule_id)

    def _ids_in_data(self, element: ET.Element, line: int, journalnr: str | None) -> None:
        """ERROR for every attribute value or text that holds a person's ID: it would reach SSB in the clear."""
        for node in element.iter():
            for name, value in node.attrib.items():
                if looks_like_id(value):
                    self.add(
                        Severity.ERROR,
                        "ID_IN_DATA",
                        line,
                        journalnr,
                        name if node is element else f"{node.tag}/@{name}",
                        f"{name} holds what looks like a person's ID; IDs belong in "
                        f"{' or '.join(self.profile.id_fields)}",
                    )
            if (node.text and looks_like_id(node.text)) or (node.tail and looks_like_id(node.tail)):
                self.add(
                    Severity.ERROR,
                    "ID_IN_DATA",
                    line,
                    None,
                    None,
                    f"text in <{node.tag}> holds what looks like a person's ID",
                )

    def _schema(
        self, element: ET.Element, known: frozenset[str], line: int | None, journalnr: str | None, where: str
    ) -> None:
        """SCHEMA errors for attributes the profile does not know (they could hold anything)."""
        for name in element.attrib:
            if name not in known:
                self.add(
                    Severity.ERROR,
                    "SCHEMA",
                    line,
                    journalnr,
                    None,
                    f"<{where}> has an attribute {name[:40]!r} that the profile does not know",
                )

    def _check_children(self, element: ET.Element, kinds: dict[str, _Child], line: int, journalnr: str | None) -> None:
        """The child elements of ``element`` (and theirs) against ``kinds``: known, in order, not too few or many,
        their attributes and text."""
        counts: dict[str, int] = {}
        last = -1
        for child in element:
            if (child.tail or "").strip():
                self.add(
                    Severity.ERROR, "SCHEMA", line, journalnr, None, f"<{element.tag}> holds text between its elements"
                )
            entry = kinds.get(child.tag)
            if entry is None:
                self.add(
                    Severity.ERROR,
                    "SCHEMA",
                    line,
                    journalnr,
                    None,
                    f"<{element.tag}> has a child element <{child.tag[:40]}> that the profile does not know",
                )
                continue
            spec = entry.spec
            if entry.index < last:
                self.add(
                    Severity.ERROR,
                    "SCHEMA",
                    line,
                    journalnr,
                    None,
                    f"<{element.tag}>: <{child.tag}> comes after an element it must come before "
                    f"(the order is {', '.join(f'<{k}>' for k in kinds)})",
                )
            last = max(last, entry.index)
            counts[child.tag] = counts.get(child.tag, 0) + 1
            if not entry.known.issuperset(child.attrib):
                self._schema(child, entry.known, line, journalnr, child.tag)
            if spec.text is not None:
                self._text(child, spec.text, line, journalnr)
                continue
            if (child.text or "").strip():
                self.add(Severity.ERROR, "SCHEMA", line, journalnr, None, f"<{child.tag}> must not hold text")
            attrs = {name: value.strip() for name, value in child.attrib.items()}
            for rule in entry.rules:
                problem = rule.problem(attrs.get(rule.spec.name, ""))
                if problem is not None:
                    self.add(Severity.ERROR, problem[0], line, journalnr, rule.label, problem[1])
            if entry.consistency:
                self.check_consistency(entry.consistency, attrs, line, journalnr)
            if entry.children or len(child):  # a leaf with no kinds of children has nothing to check below
                self._check_children(child, entry.children, line, journalnr)
        for tag, entry in kinds.items():
            count = counts.get(tag, 0)
            if count < entry.spec.min:
                self.add(
                    Severity.ERROR,
                    "MANDATORY",
                    line,
                    journalnr,
                    None,
                    f"<{element.tag}> must have at least {entry.spec.min} <{tag}>",
                )
            elif entry.spec.max is not None and count > entry.spec.max:
                self.add(
                    Severity.ERROR,
                    "SCHEMA",
                    line,
                    journalnr,
                    None,
                    f"<{element.tag}> may have at most {entry.spec.max} <{tag}>",
                )

    def _text(self, element: ET.Element, longest: int, line: int, journalnr: str | None) -> None:
        """A text element (``Presisering``): text only, not blank, not too long."""
        if len(element):
            self.add(Severity.ERROR, "SCHEMA", line, journalnr, None, f"<{element.tag}> must not contain elements")
        text = (element.text or "").strip()
        if not text:
            self.add(Severity.ERROR, "MANDATORY", line, journalnr, element.tag, f"<{element.tag}> is empty")
        elif len(text) > longest:
            self.add(
                Severity.ERROR,
                "LENGTH",
                line,
                journalnr,
                element.tag,
                f"<{element.tag}> is {len(text)} characters long; at most {longest} are allowed",
            )


@dataclass(frozen=True)
class _Child:
    """The compiled rules of one kind of child element."""

    spec: ChildSpec
    #: Its place in its parent's sequence.
    index: int
    known: frozenset[str]
    rules: tuple[FieldRule, ...]
    consistency: tuple[CompiledRule, ...]
    children: dict[str, _Child]
