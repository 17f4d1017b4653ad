"""Register profiles: how to read each register's extract for each year, where its person identifiers are, and which
control rules apply. A profile is data: one TOML file a register and year, ``sendemodul/profiles/REGISTER-YEAR.toml``
(format in docs/profiles.md); this module loads and validates them.

    >>> profile = load_profile("11CF", 2026)
    >>> profile.kind, profile.id_fields
    ('fixed', ['PERSON_FODSELSNR'])

The control rules themselves are in :mod:`sendemodul.profiles.rules`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from sendemodul import resources
from sendemodul.errors import ProfileError
from sendemodul.profiles.fixed import FixedWidthExtract, FixedWidthProfile
from sendemodul.profiles.model import (
    DATE_FORMATS,
    ID_KINDS,
    ROLES,
    SEVERITIES,
    TYPES,
    AnyOf,
    ChildSpec,
    Consistency,
    DateOrder,
    Extract,
    FieldSpec,
    GeneratorHints,
    Malformed,
    Profile,
    ProfileArgs,
    Record,
    Requires,
    walk_children,
)
from sendemodul.profiles.xmldoc import CONTROL_SETS, XmlExtract, XmlProfile

__all__ = [
    "Extract",
    "FixedWidthExtract",
    "FixedWidthProfile",
    "Malformed",
    "Profile",
    "Record",
    "XmlExtract",
    "XmlProfile",
    "available",
    "load_profile",
]

#: A table of a profile file as ``tomllib`` reads it: its values are checked as they are used.
Table = dict[str, Any]

_FILE_NAME = re.compile(r"^(?P<register>[0-9A-Z]+)-(?P<periode>\d{4})\.toml$")
_TOP_KEYS = {
    "register",
    "periode",
    "title",
    "kind",
    "encoding",
    "record_length",
    "root",
    "record",
    "header",
    "fields",
    "children",
    "consistency",
    "generator",
    "controls",
    "fnr_rule",
    "field_control",
    "duplicates",
}
#: The register-specific control sets of fixed-width profiles (:mod:`sendemodul.profiles.rules.sosial`).
FIXED_CONTROL_SETS = ("sosialhjelp", "kvalifisering")
FNR_RULES = ("current", "2032")
_FIELD_KEYS = {
    "name",
    "type",
    "mandatory",
    "from",
    "length",
    "max_length",
    "min_length",
    "format",
    "codes",
    "codes_from",
    "role",
    "id",
    "unique",
    "checked",
    "control",
}


def available() -> list[tuple[str, int]]:
    """Every ``(register, periode)`` that has a profile, sorted."""
    found: list[tuple[str, int]] = []
    for entry in resources.profiles().iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append((match["register"], int(match["periode"])))
    return sorted(found)


def load_profile(register: str, periode: int) -> Profile:
    """The profile for ``register`` (e.g. ``"11CF"``) and ``periode`` (the reporting year).

    Raises :class:`~sendemodul.errors.ProfileError` naming the registers and years that exist.
    """
    if (register, periode) not in available():
        raise ProfileError(
            f"There is no profile for register {register!r} and periode {periode}. "
            f"Profiles exist for: {_describe(available())}."
        )
    return _load(register, periode)


def _describe(pairs: list[tuple[str, int]]) -> str:
    years: dict[str, list[int]] = {}
    for register, periode in pairs:
        years.setdefault(register, []).append(periode)
    return "; ".join(f"{register} {', '.join(map(str, periodes))}" for register, periodes in years.items())


@functools.cache
def _load(register: str, periode: int) -> Profile:
    name = f"{register}-{periode}"
    raw = _read(name, seen=())
    try:
        return _build(raw, name)
    except (KeyError, TypeError, ValueError) as e:
        raise ProfileError(f"The profile file {name}.toml is not valid: {e}") from None


def _read(name: str, seen: tuple[str, ...]) -> Table:
    """The profile file's table with ``extends`` resolved: the base file's keys, overridden by this file's."""
    if name in seen:
        raise ProfileError(f"The profile {name}.toml extends itself.")
    try:
        text = resources.profiles().joinpath(f"{name}.toml").read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (FileNotFoundError, tomllib.TOMLDecodeError) as e:
        raise ProfileError(f"The profile {name}.toml cannot be read: {e}") from None
    base = raw.pop("extends", None)
    if base is None:
        return raw
    return {**_read(base, (*seen, name)), **raw}


def _build(raw: Table, name: str) -> Profile:
    _no_unknown(raw, _TOP_KEYS, name)
    register, periode = raw["register"], raw["periode"]
    if f"{register}-{periode}" != name:
        raise ValueError(f"register and periode say {register}-{periode}")
    kind = raw["kind"]
    fixed = kind == "fixed"
    if kind not in ("fixed", "xml"):
        raise ValueError(f"kind must be 'fixed' or 'xml', not {kind!r}")
    fields = tuple(_field(spec, fixed) for spec in raw["fields"])
    _unique_names(fields, "fields")
    if fixed:
        _check_layout(fields, raw["record_length"])
    children = tuple(_child(spec) for spec in raw.get("children", ()))
    common: ProfileArgs = {
        "register": register,
        "periode": periode,
        "title": raw["title"],
        "encoding": raw["encoding"],
        "fields": fields,
        "generator": _generator(raw.get("generator", {})),
        "consistency": tuple(_consistency(spec, fields, children) for spec in raw.get("consistency", ())),
    }
    if fixed:
        if children or "header" in raw:
            raise ValueError("a fixed-width profile has no header or children")
        profile: Profile = FixedWidthProfile(record_length=raw["record_length"], **common)
        controls = raw.get("controls")
        if controls not in (None, *FIXED_CONTROL_SETS):
            raise ValueError(f"controls must be one of {', '.join(FIXED_CONTROL_SETS)}")
        profile.controls = controls
        return _ssb_options(profile, raw)
    header = raw["header"]
    _no_unknown(header, {"element", "fields"}, "header")
    header_fields = tuple(_field(spec, False) for spec in header["fields"])
    if any(f.id_kind for f in header_fields) or any(f.id_kind for c in walk_children(children) for f in c.fields):
        raise ValueError("identifier fields belong on the record element only")
    controls = raw.get("controls")
    if controls not in (None, *CONTROL_SETS):
        raise ValueError(f"controls must be one of {', '.join(CONTROL_SETS)}")
    return _ssb_options(
        XmlProfile(
            root=raw["root"],
            record=raw["record"],
            header_element=header["element"],
            header_fields=header_fields,
            children=children,
            controls=controls,
            **common,
        ),
        raw,
    )


def _ssb_options(profile: Profile, raw: Table) -> Profile:
    """The keys that follow SSB's control program: ``fnr_rule`` (by default ``"2032"`` from 2032 on, else either
    rule), ``field_control``, ``duplicates`` (``key_with``: fields that are part of the duplicate key of an identifier;
    ``skip_kommuner``: kommuner whose units are not checked for duplicates)."""
    fnr_rule = raw.get("fnr_rule", "2032" if profile.periode >= 2032 else None)
    if fnr_rule not in (None, *FNR_RULES):
        raise ValueError(f"fnr_rule must be one of {', '.join(FNR_RULES)}")
    profile.fnr_rule = fnr_rule
    profile.field_control = raw.get("field_control")
    duplicates = raw.get("duplicates", {})
    _no_unknown(duplicates, {"key_with", "skip_kommuner"}, "duplicates")
    key_with = tuple(str(name) for name in duplicates.get("key_with", ()))
    unknown = [name for name in key_with if name not in profile.field_names]
    if unknown:
        raise ValueError(f"duplicates: no field {', '.join(unknown)}")
    profile.duplicate_key = key_with
    profile.duplicate_skip = frozenset(str(k) for k in duplicates.get("skip_kommuner", ()))
    return profile


def _no_unknown(table: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}")


def _unique_names(fields: tuple[FieldSpec, ...], where: str) -> None:
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate field names in {where}")


def _field(spec: Table, fixed: bool) -> FieldSpec:
    name = spec["name"]
    _no_unknown(spec, _FIELD_KEYS, f"field {name}")
    ftype = spec.get("type", "string")
    if ftype not in TYPES:
        raise ValueError(f"field {name}: type must be one of {', '.join(TYPES)}")
    if (ftype == "date") != ("format" in spec) or spec.get("format", DATE_FORMATS[0]) not in DATE_FORMATS:
        raise ValueError(f"field {name}: a date field needs a format ({', '.join(DATE_FORMATS)}); others have none")
    for key, allowed in (("role", ROLES), ("id", ID_KINDS), ("codes_from", ("kommunenr",))):
        if spec.get(key, allowed[0]) not in allowed:
            raise ValueError(f"field {name}: {key} must be one of {', '.join(allowed)}")
    if fixed != ("from" in spec and "length" in spec) or (fixed and ("max_length" in spec or "min_length" in spec)):
        raise ValueError(f"field {name}: fixed-width fields have from and length, XML fields neither")
    codes = {str(code): str(label) for code, label in spec.get("codes", {}).items()}
    if (codes or "codes_from" in spec) and ftype != "string":
        raise ValueError(f"field {name}: only string fields have codes")
    if fixed and any(len(code) != spec["length"] for code in codes):
        raise ValueError(f"field {name}: every code must be exactly {spec['length']} characters")
    if "id" in spec and (ftype != "string" or codes or spec.get("role") or spec.get("unique")):
        raise ValueError(f"field {name}: an identifier field is a plain string field")
    if spec.get("role") == "birthdate" and ftype != "date":
        raise ValueError(f"field {name}: a birthdate field is a date field")
    return FieldSpec(
        name=name,
        type=ftype,
        mandatory=bool(spec.get("mandatory", False)),
        start=spec["from"] - 1 if fixed else None,
        length=spec.get("length"),
        max_length=spec.get("max_length"),
        min_length=spec.get("min_length"),
        date_format=spec.get("format"),
        codes=codes,
        codes_from=spec.get("codes_from"),
        role=spec.get("role"),
        id_kind=spec.get("id"),
        unique=bool(spec.get("unique", False)),
        checked=bool(spec.get("checked", True)),
        control=spec.get("control"),
    )


def _check_layout(fields: tuple[FieldSpec, ...], record_length: int) -> None:
    """Fixed width: the fields follow each other without gaps or overlaps and fill the record exactly."""
    position = 0
    for f in fields:
        start, end = f.span
        if start != position or end - start < 1:
            raise ValueError(f"field {f.name} starts at {start + 1}; the previous field ends at {position}")
        position = end
    if position != record_length:
        raise ValueError(f"the fields cover {position} characters, the record_length is {record_length}")


def _child(spec: Table) -> ChildSpec:
    element = str(spec["element"])
    _no_unknown(spec, {"element", "min", "max", "fields", "children", "text"}, f"children {element}")
    fields = tuple(_field(f, False) for f in spec.get("fields", ()))
    _unique_names(fields, f"children {element}")
    children = tuple(_child(c) for c in spec.get("children", ()))
    minimum, maximum = int(spec.get("min", 0)), spec.get("max")
    if maximum is not None and not 1 <= int(maximum) >= minimum:
        raise ValueError(f"children {element}: max must be at least 1 and at least min")
    text = spec.get("text")
    if text is not None and (fields or children or int(text) < 1):
        raise ValueError(f"children {element}: a text element (text = its longest length) has no fields or children")
    if len({c.element for c in children}) != len(children):
        raise ValueError(f"children {element}: an element kind is listed twice")
    return ChildSpec(
        element=element,
        min=minimum,
        fields=fields,
        max=None if maximum is None else int(maximum),
        children=children,
        text=None if text is None else int(text),
    )


def _consistency(spec: Table, fields: tuple[FieldSpec, ...], children: tuple[ChildSpec, ...]) -> Consistency:
    rule_id, kind, severity = spec["id"], spec["kind"], spec["severity"]
    element = spec.get("element")
    if severity not in SEVERITIES[1:]:
        raise ValueError(f"consistency {rule_id}: severity must be ERROR, WARNING or INFO")
    if element is None:
        known = {f.name: f for f in fields}
    else:
        scope = [c for c in walk_children(children) if c.element == element]
        if not scope:
            raise ValueError(f"consistency {rule_id}: no child element {element}")
        known = {f.name: f for f in scope[0].fields}
    common = {"id", "kind", "severity", "element"}
    rule: Consistency
    if kind == "requires":
        _no_unknown(spec, common | {"if_field", "if_values", "field", "positive"}, f"consistency {rule_id}")
        rule = Requires(
            rule_id,
            severity,
            element,
            spec["if_field"],
            tuple(spec["if_values"]),
            spec["field"],
            bool(spec.get("positive", False)),
        )
    elif kind == "any_of":
        _no_unknown(spec, common | {"fields"}, f"consistency {rule_id}")
        rule = AnyOf(rule_id, severity, element, tuple(spec["fields"]))
    elif kind == "date_order":
        _no_unknown(spec, common | {"earlier", "later"}, f"consistency {rule_id}")
        rule = DateOrder(rule_id, severity, element, spec["earlier"], spec["later"])
        if any(known.get(n) is not None and known[n].type != "date" for n in rule.names):
            raise ValueError(f"consistency {rule_id}: date_order compares date fields")
    else:
        raise ValueError(f"consistency {rule_id}: kind must be requires, any_of or date_order")
    missing = [n for n in rule.names if n not in known]
    if missing:
        raise ValueError(f"consistency {rule_id}: no field {', '.join(missing)}")
    return rule


def _generator(spec: Table) -> GeneratorHints:
    _no_unknown(spec, {"age_range", "duf_share", "children"}, "generator")
    defaults = GeneratorHints()
    return GeneratorHints(
        age_range=tuple(spec.get("age_range", defaults.age_range)),
        duf_share=float(spec.get("duf_share", defaults.duf_share)),
        children=tuple(spec.get("children", defaults.children)),
    )
