"""The combined table of a year's fixed-width profiles: each profile's field specifications and its register's rule
table, with the kommunenummer in force that year (what ``kommunenr_valid`` reads). ``sendemodul profiles export``
writes it; the browser module embeds it, and its interpreter (``sendemodul/browser/src/rules.js``) runs the same
controls as the CLI from it. The CLI compiles the rule tables itself
(:mod:`~sendemodul.profiles.rules.rule_table`): the table is the one source of both."""

from __future__ import annotations

from typing import Any

from sendemodul import i18n, identity
from sendemodul.identity.checkdigits import DUF_WEIGHTS, K1_WEIGHTS, K2_WEIGHTS
from sendemodul.identity.codelists import bydeler, kommuner
from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles import available, load_profile
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.model import AnyOf, ChildSpec, Consistency, FieldSpec, Requires
from sendemodul.profiles.rules.fields import allowed_bydeler
from sendemodul.profiles.rules.records import (
    BIRTH_DATE_CLASSES,
    DISTINCT_CLASSES,
    ID_NAMES,
    ID_REASONS,
    RULE_2032_REASON,
)
from sendemodul.profiles.rules.report import GENERIC_TITLES, MAX_PER_RULE, REPORT_TEXTS_NB
from sendemodul.profiles.rules.rule_table import load_table
from sendemodul.profiles.rules.sosial_ids import FIELD_RULES, SSB_IDS
from sendemodul.profiles.xmldoc import XmlProfile

__all__ = ["FORMAT", "combined_table", "field_table", "profile_fields", "xml_profile_table"]

FORMAT = "sendemodul-profiles/1"


def profile_fields(profile: FixedWidthProfile) -> dict[str, Any]:
    """One fixed-width profile as the page reads it: layout, and every field's rules and codes."""
    return {
        "register": profile.register,
        "periode": profile.periode,
        "title": profile.title,
        "record_length": profile.record_length,
        "controls": profile.controls,
        "field_control": profile.field_control or "",
        "fnr_rule": profile.fnr_rule or "",
        "duplicate_key": list(profile.duplicate_key),
        "duplicate_skip": sorted(profile.duplicate_skip),
        "fields": [field_table(f) for f in profile.field_specs],
    }


def field_table(f: FieldSpec) -> dict[str, Any]:
    """One field's rules and codes as the page reads them (a fixed-width field's place in the line too)."""
    spec = {
        "name": f.name,
        "type": f.type,
        "mandatory": f.mandatory,
        "checked": f.checked,
        "codes": list(f.codes),
        "code_texts": dict(f.codes),
        "max_length": f.max_length,
        "min_length": f.min_length,
        "codes_from": f.codes_from or "",
        "format": f.date_format or "",
        "role": f.role or "",
        "id_kind": f.id_kind or "",
        "control": f.control or "",
        "unique": f.unique,
    }
    if f.start is not None:
        spec["from"], spec["length"] = f.span[0] + 1, f.span[1] - f.span[0]
    return spec


def _child_table(child: ChildSpec) -> dict[str, Any]:
    return {
        "element": child.element,
        "min": child.min,
        "max": child.max,
        "text": child.text,
        "fields": [field_table(f) for f in child.fields],
        "children": [_child_table(c) for c in child.children],
    }


def _consistency_table(rule: Consistency) -> dict[str, Any]:
    """A consistency rule (``requires``, ``any_of``, ``date_order``) as data: what compile_rules reads."""
    entry: dict[str, Any] = {"id": rule.id, "severity": rule.severity, "element": rule.element}
    if isinstance(rule, Requires):
        entry.update(
            kind="requires",
            if_field=rule.if_field,
            if_values=list(rule.if_values),
            field=rule.field,
            positive=rule.positive,
        )
    elif isinstance(rule, AnyOf):
        entry.update(kind="any_of", fields=list(rule.fields))
    else:
        entry.update(kind="date_order", earlier=rule.earlier, later=rule.later)
    return entry


def xml_profile_table(profile: XmlProfile) -> dict[str, Any]:
    """One XML profile (15F, IPLOS) as the page reads it: the document's elements, the header's, the record's and
    every child element's attributes with their rules, the counts and order of the children, the consistency rules;
    with register controls (15F's ``barnevern``), its rule table as the file has it (``element_controls``; macros
    not expanded: the page's interpreter expands them at load, as :mod:`~sendemodul.profiles.rules.element_table`
    does)."""
    table = {
        "kind": "xml",
        "register": profile.register,
        "periode": profile.periode,
        "title": profile.title,
        "controls": profile.controls,
        "field_control": profile.field_control or "",
        "fnr_rule": profile.fnr_rule or "",
        "duplicate_key": list(profile.duplicate_key),
        "duplicate_skip": sorted(profile.duplicate_skip),
        "root": profile.root,
        "record": profile.record_element,
        "header_element": profile.header_element,
        "header_fields": [field_table(f) for f in profile.header_specs],
        "fields": [field_table(f) for f in profile.field_specs],
        "children": [_child_table(c) for c in profile.children],
        "consistency": [_consistency_table(r) for r in profile.consistency],
    }
    if profile.controls is not None:
        table["element_controls"] = load_table(profile.register)
    return table


def combined_table(year: int) -> dict[str, Any]:
    """The year's fixed-width profiles, their registers' rule tables, and the kommunenummer in force in ``year``."""
    profiles = [
        p
        for p in (load_profile(register, periode) for register, periode in available() if periode == year)
        if isinstance(p, FixedWidthProfile)
    ]
    xml_profiles = [
        p
        for p in (load_profile(register, periode) for register, periode in available() if periode == year)
        if isinstance(p, XmlProfile)
    ]
    return {
        "format": FORMAT,
        "year": year,
        "profiles": [profile_fields(p) for p in profiles],
        # the XML profiles (15F, IPLOS): their schema, consistency rules and (15F) the barnevern controls' rule table
        "xml_profiles": [xml_profile_table(p) for p in xml_profiles],
        "controls": {p.register: load_table(p.register) for p in profiles if p.controls is not None},
        "kommuner": sorted(code for code, k in kommuner().items() if k.valid_in(year)),
        "bydeler": reporting_bydeler(year),
        # which SSB control a finding of ours is (sosial_ids.ssb_control), in a profile with SSB's controls
        "ssb_ids": dict(SSB_IDS),
        "field_rules": sorted(FIELD_RULES),
        # the identifier rules' constants (sendemodul.identity, rules/records.py) and the report's cap
        "identity": {
            "k1_weights": list(K1_WEIGHTS),
            "k2_weights": list(K2_WEIGHTS),
            "duf_weights": list(DUF_WEIGHTS),
            "placeholder_suffixes": sorted(PLACEHOLDER_SUFFIXES),
            "distinct_classes": [str(c) for c in DISTINCT_CLASSES],
            "birth_date_classes": [str(c) for c in BIRTH_DATE_CLASSES],
            "messages": {
                "reasons": dict(ID_REASONS),
                "rule_2032": RULE_2032_REASON,
                "names": {kind: list(name) for kind, name in ID_NAMES.items()},
            },
        },
        "max_per_rule": MAX_PER_RULE,
        # (the titles of every register's controls: 15F's too, whose table is the XML profile's)
        "report": report_frame([load_table(p.register) for p in [*profiles, *xml_profiles] if p.controls is not None]),
    }


def report_frame(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """What the page needs to give the report ``check`` gives and render it as ``check --lang nb|nn`` does: the
    titles of our own rules (the JSON report's group titles, Bokmål as the CLI writes them), the report's own words in
    Bokmål and Nynorsk, and every title's Nynorsk from the catalogs (the rules' messages have no catalog entries: both
    languages show them as written)."""
    titles = set(GENERIC_TITLES.values())
    for table in tables:
        titles.update(table["titles"].values())
    return {
        "titles": dict(GENERIC_TITLES),
        "texts": {
            lang: {key: i18n.gettext_in(lang, text) for key, text in REPORT_TEXTS_NB.items()} for lang in ("nb", "nn")
        },
        "nn": {title: i18n.gettext_in("nn", title) for title in sorted(titles)},
    }


def reporting_bydeler(year: int) -> dict[str, list[str]]:
    """Per kommune with bydeler in force in ``year``, the bydeler a record may name when the kommune reports as a
    whole (:func:`~sendemodul.profiles.rules.fields.allowed_bydeler`; other kommuner have none)."""
    valid = {code for code, k in kommuner().items() if k.valid_in(year)}
    found = {}
    for code in sorted(set(bydeler()) & valid):
        allowed, _ = allowed_bydeler(identity.Unit(code, "00", ""), year)
        if allowed != {"", "00"}:
            found[code] = sorted(allowed)
    return found
