"""The test-extract writers: fixed width and XML, from templates and per-record people, with the errors asked for."""

from __future__ import annotations

import operator
import random
from collections.abc import Iterable
from typing import BinaryIO, TypeVar
from xml.sax.saxutils import escape

from sendemodul import identity
from sendemodul.profiles import FixedWidthProfile, Profile, XmlProfile
from sendemodul.profiles.model import ChildSpec, FieldSpec
from sendemodul.testing.people import Birth, duf, people
from sendemodul.testing.values import Values

__all__ = ["FixedWriter", "XmlWriter"]

#: At most 2**8 templates (fewer for a small extract, where building them would cost more than the records).
_TEMPLATE_BITS = 8
#: The per-record holes of a fixed-width format string: n the record number, f the fødselsnummer, d the DUF number,
#: b the birth date.
_HOLES = {"fnr": "f", "duf": "d"}
_BATCH_RECORDS = 4096


class _Writer:
    """What both writers share: people, templates, per-record values, and the error kinds that work on values."""

    def __init__(self, profile: Profile, unit: identity.Unit, seed: int, n_records: int):
        self.profile = profile
        self.template_bits = min(_TEMPLATE_BITS, max(n_records - 1, 0).bit_length())
        self.unit = unit
        self.rng = random.Random(seed)
        self.values = Values(profile, unit, self.rng)
        self.people = people(profile, seed)
        self.id_specs = [spec for spec in profile.field_specs if spec.id_kind]
        self.counters = [spec for spec in profile.field_specs if spec.unique]
        birth = [spec for spec in profile.field_specs if spec.role == "birthdate"]
        self.birth = birth[0] if birth else None
        #: Which :class:`Birth` text the birth date field takes.
        self.birth_text = "ddmmyyyy" if self.birth is not None and self.birth.date_format == "ddMMyyyy" else "iso"
        self.variable = {spec.name for spec in self.id_specs + self.counters + birth}
        self.record_rules = tuple(r for r in profile.consistency if r.element is None)
        self.duf_share = profile.generator.duf_share if any(s.id_kind == "duf" for s in self.id_specs) else 0.0
        self.previous: dict[str, str] = {}

    def person(self, number: int) -> tuple[Birth, str, str]:
        """The next person for record ``number``: birth, fødselsnummer and DUF number (one of them blank)."""
        birth, fnr = next(self.people)
        if self.duf_share and self.rng.random() < self.duf_share:
            return birth, "", duf(number, self.profile.periode - 1)
        return birth, fnr, ""

    def person_values(self, number: int, birth: Birth, fnr: str, duf: str) -> dict[str, str]:
        """The per-record values of record ``number`` with this person: counters (journalnummer...), identifiers,
        birth date."""
        values = {spec.name: f"{number:0{spec.length or 8}d}" for spec in self.counters}
        for spec in self.id_specs:
            values[spec.name] = fnr if spec.id_kind == "fnr" else duf
        if self.birth is not None:
            values[self.birth.name] = getattr(birth, self.birth_text)
        return values

    def check_room(self, n_records: int) -> None:
        for spec in self.counters:
            if spec.length is not None and n_records >= 10**spec.length:
                raise ValueError(f"{spec.name} has room for at most {10**spec.length - 1} records")

    def break_values(self, kind: str, values: dict[str, str]) -> None:
        """Apply a value-level error of ``kind`` to one record's ``values``."""
        specs = self.profile.field_specs
        referenced = {name for rule in self.profile.consistency for name in rule.names}
        plain = [s for s in specs if not (s.role or s.id_kind or s.unique) and s.checked]
        if kind == "MANDATORY":
            values[_first(s for s in plain if s.mandatory).name] = ""
        elif kind == "CODE":
            spec = _first(s for s in plain if s.codes and not s.codes_from)
            width = spec.length or 2
            values[spec.name] = _first(c * width for c in "98X" if c * width not in spec.codes)
        elif kind == "DATE":
            spec = _first(s for s in plain if s.type == "date")
            values[spec.name] = "31022026" if spec.date_format == "ddMMyyyy" else "2026-02-31"
        elif kind == "INTEGER":
            spec = _first(s for s in plain if s.type == "integer" and s.name not in referenced)
            values[spec.name] = "1X"
        elif kind == "BYDEL":
            values[_first(s for s in specs if s.role == "bydel").name] = "99"
        elif kind == "VERSION":
            values[_first(s for s in specs if s.role == "version").name] = f"{(self.profile.periode - 1) % 100:02d}"
        elif kind == "KOMMUNENR":
            values[_first(s for s in specs if s.role == "kommunenr").name] = (
                "1103" if self.unit.kommunenr != "1103" else identity.OSLO_KOMMUNENR
            )
        elif kind == "ID_INVALID":
            spec = _first(s for s in self.id_specs if values[s.name])
            number = values[spec.name]
            values[spec.name] = number[:-1] + str((int(number[-1]) + 1) % 10)
        elif kind == "ID_MISSING":
            for spec in self.id_specs:
                values[spec.name] = ""
        elif kind == "DUPLICATE_ID":
            for spec in self.id_specs + ([self.birth] if self.birth else []):
                values[spec.name] = self.previous[spec.name]
            for name in self.profile.duplicate_key:  # 11CF: the same person with the same STATUS
                values[name] = self.previous[name]
        elif kind == "DUPLICATE":
            spec = self.profile.journal_field or self.counters[0]
            values[spec.name] = self.previous[spec.name]
        elif kind == "ID_IN_DATA":
            spec = _first(
                s for s in specs if s.type == "string" and not (s.codes or s.id_kind) and (s.max_length or 0) >= 11
            )
            values[spec.name] = next(self.people)[1]


_T = TypeVar("_T")


def _first(candidates: Iterable[_T]) -> _T:
    for candidate in candidates:
        return candidate
    raise ValueError("the profile has no field for that error kind")


class FixedWriter(_Writer):
    """Fixed width: each template is pre-rendered to a ``%``-format string with a padded hole for each per-record
    value (``%(n)08d`` for a counter, ``%(f)-11s`` for the fødselsnummer...), so a record costs one ``%``."""

    def __init__(self, profile: FixedWidthProfile, unit: identity.Unit, seed: int, n_records: int):
        super().__init__(profile, unit, seed, n_records)
        self.templates = [
            self.values.fields(profile.field_specs, self.record_rules) for _ in range(1 << self.template_bits)
        ]
        self.formats = [self.format_string(template) for template in self.templates]

    def render(self, values: dict[str, str]) -> str:
        return "".join(_pad(values.get(spec.name, ""), spec) for spec in self.profile.field_specs)

    def format_string(self, template: dict[str, str]) -> str:
        line = self.render(template).replace("%", "%%")
        holes = sorted(
            (spec for spec in self.profile.field_specs if spec.name in self.variable), key=lambda spec: spec.span[0]
        )
        parts, position = [], 0
        for spec in holes:
            parts.append(line[position : spec.start])
            if spec.unique:
                parts.append(f"%(n)0{spec.length}d")
            elif spec.id_kind:
                parts.append(f"%({_HOLES[spec.id_kind]})-{spec.length}s")
            else:
                parts.append("%(b)s")
            position = spec.end
        parts.append(line[position:])
        return "".join(parts) + "\n"

    def write(self, out: BinaryIO, n_records: int, errors: dict[int, str]) -> int:
        self.check_room(n_records)
        encoding, formats, templates = self.profile.encoding, self.formats, self.templates
        person, pick, birth_text = self.person, self.rng.getrandbits, operator.attrgetter(self.birth_text)
        bits = self.template_bits
        written = 0
        batch: list[str] = []
        for number in range(1, n_records + 1):
            birth, fnr, duf = person(number)
            if errors and number in errors:
                values = self.person_values(number, birth, fnr, duf)
                template = templates[pick(bits)]
                batch.append(self.broken(errors[number], {**template, **values}))
                self.previous = {**values, **{name: template[name] for name in self.profile.duplicate_key}}
            else:
                index = pick(bits)
                batch.append(formats[index] % {"n": number, "f": fnr, "d": duf, "b": birth_text(birth)})
                if errors and number + 1 in errors:
                    self.previous = {
                        **self.person_values(number, birth, fnr, duf),
                        **{name: templates[index][name] for name in self.profile.duplicate_key},
                    }
            if len(batch) == _BATCH_RECORDS:
                written += out.write("".join(batch).encode(encoding))
                batch.clear()
        written += out.write("".join(batch).encode(encoding))
        return written

    def broken(self, kind: str, values: dict[str, str]) -> str:
        if kind not in ("RECORD_LENGTH", "TAB"):
            self.break_values(kind, values)
        line = self.render(values)
        if kind == "RECORD_LENGTH":
            line = line[:-1]
        elif kind == "TAB":
            line = line[:-1] + "\t"
        return line + "\n"


def _pad(value: str, spec: FieldSpec) -> str:
    """A fixed-width field: numbers right-aligned with zeros, everything else left-aligned with spaces."""
    start, end = spec.span
    if spec.type == "integer" and value.isdigit():
        return value.rjust(end - start, "0")
    return value.ljust(end - start)


class XmlWriter(_Writer):
    """XML: the header element, then one record element (with its children) per record, indented."""

    def __init__(self, profile: XmlProfile, unit: identity.Unit, seed: int, n_records: int):
        super().__init__(profile, unit, seed, n_records)
        self.xml_profile = profile
        self.templates = [self.template() for _ in range(1 << self.template_bits)]

    def template(self) -> tuple[dict[str, str], str]:
        """Record values without the per-record ones, and the rendered children."""
        profile = self.xml_profile
        low, high = profile.generator.children
        values = self.values.fields(profile.field_specs, self.record_rules)
        if profile.controls == "barnevern" and values.get("Bydelsnummer") and not values.get("Bydelsnavn"):
            values["Bydelsnavn"] = "Bydel"  # SSB's Individ10: Oslo's records name their bydel
        period = (values.get("StartDato", ""), values.get("SluttDato", ""))
        children = []
        for child in profile.children:
            for _ in range(max(child.min, self.rng.randint(low, high))):
                children.append(self.child(child, "    ", period))
        return values, "".join(children)

    def child(self, child: ChildSpec, indent: str, period: tuple[str, str]) -> str:
        """One child element, indented, with the child elements it must have and a ``Presisering`` where it may
        have one (that satisfies every control that wants one)."""
        if child.text is not None:
            return f"{indent}<{child.element}>Presisering</{child.element}>\n"
        rules = tuple(r for r in self.xml_profile.consistency if r.element == child.element)
        values = self.values.fields(child.fields, rules)
        barnevern = self.xml_profile.controls == "barnevern"
        if barnevern:
            _barnevern_values(child.element, values, period)
        start_tag = f"{indent}<{child.element}{_attributes(values)}"
        inner = "".join(
            self.child(grandchild, indent + "  ", period)
            for grandchild in child.children
            for _ in range(
                max(grandchild.min, grandchild.text is not None, barnevern and grandchild.element in _BARNEVERN_ONE)
            )
        )
        if not inner:
            return start_tag + "/>\n"
        return f"{start_tag}>\n{inner}{indent}</{child.element}>\n"

    def write(self, out: BinaryIO, n_records: int, errors: dict[int, str]) -> int:
        profile = self.xml_profile
        header = self.values.fields(profile.header_specs, ())
        written = out.write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{profile.root}>\n'
            f"  <{profile.header_element}{_attributes(header)}/>\n".encode()
        )
        batch: list[str] = []
        self.check_room(n_records)
        for number in range(1, n_records + 1):
            values = self.person_values(number, *self.person(number))
            template, children = self.templates[self.rng.getrandbits(self.template_bits)]
            record = {name: values.get(name, template.get(name, "")) for name in profile.field_names}
            kind = errors.get(number)
            if kind == "XML":
                batch.append(f"  <{profile.record_element}\n")
            else:
                if kind is not None:
                    self.break_values(kind, record)
                if kind == "SCHEMA":
                    record["Ukjent"] = "1"
                batch.append(self.element(record, children))
            self.previous = values
            if len(batch) == _BATCH_RECORDS:
                written += out.write("".join(batch).encode())
                batch.clear()
        batch.append(f"</{profile.root}>\n")
        written += out.write("".join(batch).encode())
        return written

    def element(self, record: dict[str, str], children: str) -> str:
        tag = self.xml_profile.record_element
        if not children:
            return f"  <{tag}{_attributes(record)}/>\n"
        return f"  <{tag}{_attributes(record)}>\n{children}  </{tag}>\n"


#: Barnevern: the optional child elements a generated one has once (a concluded melding has melder and saksinnhold).
_BARNEVERN_ONE = frozenset({"Melder", "Saksinnhold"})


def _barnevern_values(element: str, values: dict[str, str], period: tuple[str, str]) -> None:
    """Values that SSB's barnevern controls accept (sendemodul/profiles/15F.controls.json): a melding's, plan's,
    tiltak's ... dates inside the individ's (its start, and its end: none while the individ's case is open); a melding
    concluded the day it came; a flytting (an end only) at the individ's start; the barnevernlov of 2021; no
    plasseringstiltak, barnehage or SFO (SSB's controls of age)."""
    start, end = period
    if "StartDato" in values:
        values["StartDato"] = start
    if "SluttDato" in values:
        values["SluttDato"] = start if element in ("Melding", "Flytting") else end
    if "Lov" in values:
        values["Lov"] = "BVL2021"
    if element == "Kategori" and (values["Kode"].startswith(("1.", "2.")) or values["Kode"] in ("8.2", "4.1", "4.2")):
        values["Kode"] = "3.9"  # no plasseringstiltak (two in one individ would overlap: Tiltak09), barnehage or SFO


def _attributes(values: dict[str, str]) -> str:
    """`` name="value"`` for every non-blank value, escaped."""
    return "".join(f' {name}="{escape(value, {chr(34): "&quot;"})}"' for name, value in values.items() if value)
