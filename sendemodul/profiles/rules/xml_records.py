"""The record rules of an XML extract (15F, IPLOS): the record element, its children and the header against the
profile's schema, and no identifier anywhere but in the identifier attributes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sendemodul import identity
from sendemodul.profiles.model import Record
from sendemodul.profiles.rules.consistency import compile_rules
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

    def __init__(self, profile: XmlProfile, context: Context, add: Add, allow_synthetic: bool,
                 max_listed: int = MAX_PER_RULE):
        super().__init__(profile, context, add, allow_synthetic, max_listed)
        self._fields = tuple(FieldRule(spec, context) for spec in profile.field_specs if not spec.id_kind)
        self._known = frozenset(profile.field_names)
        self._header = tuple(FieldRule(spec, context, f"{profile.header_element}/@{spec.name}")
                             for spec in profile.header_specs)
        self._children = {
            child.element: (child, tuple(FieldRule(spec, context, f"{child.element}/@{spec.name}")
                                         for spec in child.fields),
                            compile_rules((r for r in profile.consistency if r.element == child.element),
                                     {f.name: f.date_format for f in child.fields if f.date_format is not None},
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
        element = profile.element_of(record)
        attrs = {name: value.strip() for name, value in element.attrib.items()}
        journalnr = record.journalnr
        if journalnr is not None and looks_like_id(journalnr):
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

    def _ids_in_data(self, element: ET.Element, line: int, journalnr: str | None) -> None:
        """ERROR for every attribute value or text that holds a person's ID: it would reach SSB in the clear."""
        for node in element.iter():
            for name, value in node.attrib.items():
                if looks_like_id(value):
                    self.add(Severity.ERROR, "ID_IN_DATA", line, journalnr,
                             name if node is element else f"{node.tag}/@{name}",
                             f"{name} holds what looks like a person's ID; IDs belong in "
                             f"{' or '.join(self.profile.id_fields)}")
            if (node.text and looks_like_id(node.text)) or (node.tail and looks_like_id(node.tail)):
                self.add(Severity.ERROR, "ID_IN_DATA", line, None, None,
                         f"text in <{node.tag}> holds what looks like a person's ID")

    def _schema(self, element: ET.Element, known: frozenset[str], line: int | None, journalnr: str | None,
                where: str) -> None:
        """SCHEMA errors for attributes the profile does not know (they could hold anything)."""
        for name in element.attrib:
            if name not in known:
                self.add(Severity.ERROR, "SCHEMA", line, journalnr, None,
                         f"<{where}> has an attribute {name[:40]!r} that the profile does not know")

    def _check_children(self, element: ET.Element, line: int, journalnr: str | None) -> None:
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
