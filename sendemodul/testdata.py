"""Synthetic test extracts for every profile: valid by construction, with chosen errors on chosen records.

    profile = load_profile("11F", 2026)
    unit = identity.parse_unit("0301-12-958935420", 2026)
    with open("11F.dat", "wb") as out:
        write_extract(out, profile, unit, 2_000_000, seed=1)          # streams, ~200,000 records/s
    data = generate_extract(profile, unit, 100, seed=1, errors={7: "CODE", 9: "ID_INVALID"})

People get synthetic fødselsnummer (Skatteetaten Tenor: month + 80, never a number that could be a real person's),
unique within an extract, born within the register's age range (the profile's ``[generator]`` table); where the
layout has a birth date field, it matches the number. Registers with a DUF field give a share (``duf_share``) of the
people only a DUF number (DUF numbers have no synthetic range: these are registration year + serial + check pair).

The other fields come from up to 256 random templates that satisfy every field rule and consistency rule of the
profile; each record combines a template with its own journalnummer, identifiers and birth date. Fødselsnummer check
digits are computed here from the mod-11 weights (:mod:`sendemodul.identity.checkdigits`) with per-date and
per-individual-number partial sums, because a call of :func:`identity.generate_fnr` per record would take several
times the whole budget of a record; the tests check that both give the same numbers.

``errors`` maps a record number (1-based: the n-th record; for fixed width also its line) to one of
:data:`ERROR_KINDS`, each named after the control rule (:mod:`sendemodul.profiles.rules`) it makes fire.
"""

from __future__ import annotations

import datetime
import io
import math
import operator
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO, NamedTuple
from xml.sax.saxutils import escape

from sendemodul import identity
from sendemodul.identity.checkdigits import K1_WEIGHTS, K2_WEIGHTS, duf_check_pair
from sendemodul.profiles import FixedWidthProfile, Profile, XmlProfile
from sendemodul.profiles.model import AnyOf, Consistency, DateOrder, FieldSpec, Requires
from sendemodul.profiles.rules.fields import allowed_bydeler

__all__ = ["ERROR_KINDS", "generate_extract", "write_extract"]

#: Error kinds: the rule each one triggers, and the kinds of profile it applies to. ``ID_MISSING`` blanks every
#: identifier: where no identifier field is mandatory (11F, 15F) the profile's "at least one ID" rule fires instead.
ERROR_KINDS = {
    "RECORD_LENGTH": ("fixed",), "TAB": ("fixed",), "XML": ("xml",), "SCHEMA": ("xml",), "ID_IN_DATA": ("xml",),
    "VERSION": ("fixed",), "KOMMUNENR": ("fixed",),
    "MANDATORY": ("fixed", "xml"), "CODE": ("fixed", "xml"), "DATE": ("fixed", "xml"),
    "INTEGER": ("fixed", "xml"), "BYDEL": ("fixed", "xml"), "ID_INVALID": ("fixed", "xml"),
    "ID_MISSING": ("fixed", "xml"), "DUPLICATE_ID": ("fixed", "xml"), "DUPLICATE": ("fixed", "xml"),
}

#: At most 2**8 templates (fewer for a small extract, where building them would cost more than the records).
_TEMPLATE_BITS = 8
#: The per-record holes of a fixed-width format string: n the record number, f the fødselsnummer, d the DUF number,
#: b the birth date.
_HOLES = {"fnr": "f", "duf": "d"}
_BATCH_RECORDS = 4096
#: Individual numbers that give a 2-digit year its century: 000-499 for 1900-1999, 500-999 for 2000-2039.
_CENTURIES = {1900: 0, 2000: 500}


def generate_extract(profile: Profile, unit: identity.Unit, n_records: int, *, seed: int = 0,
                     errors: Mapping[int, str] | None = None) -> bytes:
    """An extract of ``n_records`` records as bytes (see :func:`write_extract`)."""
    out = io.BytesIO()
    write_extract(out, profile, unit, n_records, seed=seed, errors=errors)
    return out.getvalue()


def write_extract(out: BinaryIO, profile: Profile, unit: identity.Unit, n_records: int, *, seed: int = 0,
                  errors: Mapping[int, str] | None = None) -> int:
    """Write an extract of ``n_records`` records for ``unit`` to ``out``; the number of bytes written.

    The same arguments give the same bytes.
    """
    errors = dict(errors or {})
    for number, kind in errors.items():
        if profile.kind not in ERROR_KINDS.get(kind, ()):
            raise ValueError(f"error kind {kind!r} does not apply to a {profile.kind} profile; "
                             f"choose from {', '.join(k for k, kinds in ERROR_KINDS.items() if profile.kind in kinds)}")
        if not 1 <= number <= n_records or (kind.startswith("DUPLICATE") and number < 2):
            raise ValueError(f"record number {number} is out of range for error {kind}")
    writer = _FixedWriter if isinstance(profile, FixedWidthProfile) else _XmlWriter
    return writer(profile, unit, seed, n_records).write(out, n_records, errors)


# ---------------------------------------------------------------------------------------------------------------------
# People


class _Birth(NamedTuple):
    """A birth date as the two date formats write it."""

    ddmmyyyy: str
    iso: str


def _people(profile: Profile, seed: int) -> Iterator[tuple[_Birth, str]]:
    """Endless unique ``(birth, synthetic fødselsnummer)`` pairs, in a seeded random order.

    Every birth date in the age range is used once before any date is used twice, each time with the next individual
    number of a seeded permutation, so pairs never repeat (about 400 people a birth date). The check digits depend on
    the date only through its two weighted sums mod 11, so each individual number gets a table of the 121 possible
    endings; the dates are visited in a seeded full-cycle order and prepared the first time they are used, so a small
    extract costs little.
    """
    rng = random.Random(seed)
    youngest, oldest = profile.generator.age_range
    first = datetime.date(max(1900, profile.periode - oldest), 1, 1).toordinal()
    days = datetime.date(min(2039, profile.periode - youngest), 12, 31).toordinal() - first + 1
    step = rng.randrange(days // 3, days)
    while math.gcd(step, days) != 1:
        step += 1
    start = rng.randrange(days)
    births: list[tuple[_Birth, str, int, int]] = []

    def prepared(k: int) -> tuple[_Birth, str, int, int]:
        """The k-th date of the order: birth, the ID's first six digits, its class of sums, its century."""
        born = datetime.date.fromordinal(first + (start + k * step) % days)
        day, month, yy = born.day, born.month + identity.SYNTHETIC_MONTH_OFFSET, born.year % 100
        digits = (day // 10, day % 10, month // 10, month % 10, yy // 10, yy % 10)
        sums = _partial_sum(digits, K1_WEIGHTS) % 11 * 11 + _partial_sum(digits, K2_WEIGHTS) % 11
        return (_Birth(f"{born.day:02d}{born.month:02d}{born.year}", born.isoformat()),
                f"{day:02d}{month:02d}{yy:02d}", sums, _CENTURIES[born.year // 100 * 100])

    def endings(individual: int) -> list[str | None]:
        """For each class of sums: individual number and check digits, or ``None`` when no valid ID exists."""
        digits = (individual // 100, individual // 10 % 10, individual % 10)
        partial1, partial2 = _partial_sum(digits, K1_WEIGHTS[6:]), _partial_sum(digits, K2_WEIGHTS[6:9])
        table: list[str | None] = []
        for sum1 in range(11):
            for sum2 in range(11):
                k1 = (11 - (sum1 + partial1) % 11) % 11
                k2 = (11 - (sum2 + partial2 + 2 * k1) % 11) % 11
                table.append(f"{individual:03d}{k1}{k2}" if k1 != 10 and k2 != 10 else None)
        return table

    levels = list(range(500))
    rng.shuffle(levels)
    for level in levels:
        tables = {century: endings(century + level) for century in _CENTURIES.values()}
        for k in range(days):
            if k == len(births):
                births.append(prepared(k))
            birth, prefix, sums, century = births[k]
            ending = tables[century][sums]
            if ending is not None:
                yield birth, prefix + ending
    raise ValueError(f"the age range of {profile.register} has room for no more people")


def _partial_sum(digits: Iterable[int], weights: tuple[int, ...]) -> int:
    """The weighted sum of ``digits`` (ints, as many as there are weights or fewer): a part of a check-digit sum
    (:func:`sendemodul.identity.checkdigits.weighted` takes a whole number's digits)."""
    return sum(d * w for d, w in zip(digits, weights))


def _duf(number: int, year: int) -> str:
    """The DUF number of record ``number``: a registration year (``year``, earlier for every million records), a
    6-digit serial, and the check pair; unique within an extract."""
    first10 = f"{year - number // 1_000_000:04d}{number % 1_000_000:06d}"
    return first10 + duf_check_pair(first10)


# ---------------------------------------------------------------------------------------------------------------------
# Field values


class _Values:
    """Random valid values for a profile's fields, for one unit."""

    def __init__(self, profile: Profile, unit: identity.Unit, rng: random.Random):
        self.profile = profile
        self.rng = rng
        self.bydeler = sorted(allowed_bydeler(unit, profile.periode)[0])
        self.roles = {"kommunenr": unit.kommunenr, "orgnr": unit.orgnr, "version": f"{profile.periode % 100:02d}",
                      "periode": str(profile.periode),
                      "kommunenavn": identity.kommune(unit.kommunenr, profile.periode).name}
        self.unit = unit

    def value(self, spec: FieldSpec, *, filled: bool = False) -> str:
        """A valid value for ``spec``; blank now and then if it is optional (never if ``filled``)."""
        rng = self.rng
        if spec.role == "bydel":
            return rng.choice(self.bydeler)
        if spec.role in self.roles:
            return self.roles[spec.role]
        if not (spec.mandatory or filled) and rng.random() < 0.4:
            return ""
        if spec.codes_from:
            return self.unit.kommunenr
        if spec.codes:
            return rng.choice(list(spec.codes))
        if spec.type == "integer":
            digits = min(spec.length or spec.max_length or 5, 5)
            return str(rng.randrange(1, 10 ** digits))
        if spec.type == "date":
            day = datetime.date(self.profile.periode, 1, 1) + datetime.timedelta(days=rng.randrange(365))
            return day.strftime("%d%m%Y" if spec.date_format == "ddMMyyyy" else "%Y-%m-%d")
        width = spec.length or min(spec.max_length or 10, 10)
        return f"{spec.name[:2].upper()}{rng.randrange(10 ** 6):06d}"[:width]

    def fields(self, specs: tuple[FieldSpec, ...], rules: tuple[Consistency, ...]) -> dict[str, str]:
        """Values for ``specs`` that also satisfy the consistency ``rules`` (identifiers are left out: every record
        gets at least one)."""
        values = {spec.name: self.value(spec) for spec in specs if not spec.id_kind}
        by_name = {spec.name: spec for spec in specs}
        for _ in range(len(rules) * 4 + 1):
            repaired = [self._repair(rule, values, by_name) for rule in rules]  # every rule, every round
            if not any(repaired):
                return values
        raise AssertionError(f"the consistency rules of {self.profile!r} cannot all be satisfied")

    def _repair(self, rule: Consistency, values: dict[str, str], specs: dict[str, FieldSpec]) -> bool:
        """Make ``values`` satisfy ``rule``; whether anything changed."""
        if isinstance(rule, Requires):
            value = values.get(rule.field, "")
            if values.get(rule.if_field) in rule.if_values and (not value or (rule.positive and int(value) == 0)):
                values[rule.field] = self.value(specs[rule.field], filled=True)
                return True
        elif isinstance(rule, AnyOf):
            if not any(values.get(name) or specs[name].id_kind for name in rule.fields):
                values[rule.fields[0]] = self.value(specs[rule.fields[0]], filled=True)
                return True
        elif isinstance(rule, DateOrder):
            earlier, later = values.get(rule.earlier, ""), values.get(rule.later, "")
            if earlier and later and _date_key(earlier, specs[rule.earlier]) > _date_key(later, specs[rule.later]):
                values[rule.earlier], values[rule.later] = later, earlier
                return True
        return False


def _date_key(value: str, spec: FieldSpec) -> str:
    return value[4:] + value[2:4] + value[:2] if spec.date_format == "ddMMyyyy" else value


# ---------------------------------------------------------------------------------------------------------------------
# Writers


class _Writer:
    """What both writers share: people, templates, per-record values, and the error kinds that work on values."""

    def __init__(self, profile: Profile, unit: identity.Unit, seed: int, n_records: int):
        self.profile = profile
        self.template_bits = min(_TEMPLATE_BITS, max(n_records - 1, 0).bit_length())
        self.unit = unit
        self.rng = random.Random(seed)
        self.values = _Values(profile, unit, self.rng)
        self.people = _people(profile, seed)
        self.id_specs = [spec for spec in profile.field_specs if spec.id_kind]
        self.counters = [spec for spec in profile.field_specs if spec.unique]
        birth = [spec for spec in profile.field_specs if spec.role == "birthdate"]
        self.birth = birth[0] if birth else None
        #: Which :class:`_Birth` text the birth date field takes.
        self.birth_text = "ddmmyyyy" if self.birth is not None and self.birth.date_format == "ddMMyyyy" else "iso"
        self.variable = {spec.name for spec in self.id_specs + self.counters + birth}
        self.record_rules = tuple(r for r in profile.consistency if r.element is None)
        self.duf_share = profile.generator.duf_share if any(s.id_kind == "duf" for s in self.id_specs) else 0.0
        self.previous: dict[str, str] = {}

    def person(self, number: int) -> tuple[_Birth, str, str]:
        """The next person for record ``number``: birth, fødselsnummer and DUF number (one of them blank)."""
        birth, fnr = next(self.people)
        if self.duf_share and self.rng.random() < self.duf_share:
            return birth, "", _duf(number, self.profile.periode - 1)
        return birth, fnr, ""

    def person_values(self, number: int, birth: _Birth, fnr: str, duf: str) -> dict[str, str]:
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
            if spec.length is not None and n_records >= 10 ** spec.length:
                raise ValueError(f"{spec.name} has room for at most {10 ** spec.length - 1} records")

    def break_values(self, kind: str, values: dict[str, str]) -> None:
        """Apply a value-level error of ``kind`` to one record's ``values``."""
        specs = self.profile.field_specs
        referenced = {name for rule in self.profile.consistency for name in rule.names}
        plain = [s for s in specs if not (s.role or s.id_kind or s.unique)]
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
                "1103" if self.unit.kommunenr != "1103" else identity.OSLO_KOMMUNENR)
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
        elif kind == "DUPLICATE":
            spec = self.profile.journal_field or self.counters[0]
            values[spec.name] = self.previous[spec.name]
        elif kind == "ID_IN_DATA":
            spec = _first(s for s in specs if s.type == "string" and not (s.codes or s.id_kind)
                          and (s.max_length or 0) >= 11)
            values[spec.name] = next(self.people)[1]


def _first(candidates):
    for candidate in candidates:
        return candidate
    raise ValueError("the profile has no field for that error kind")


class _FixedWriter(_Writer):
    """Fixed width: each template is pre-rendered to a ``%``-format string with a padded hole for each per-record
    value (``%(n)08d`` for a counter, ``%(f)-11s`` for the fødselsnummer...), so a record costs one ``%``."""

    def __init__(self, profile: FixedWidthProfile, unit: identity.Unit, seed: int, n_records: int):
        super().__init__(profile, unit, seed, n_records)
        self.templates = [self.values.fields(profile.field_specs, self.record_rules)
                          for _ in range(1 << self.template_bits)]
        self.formats = [self.format_string(template) for template in self.templates]

    def render(self, values: dict[str, str]) -> str:
        return "".join(_pad(values.get(spec.name, ""), spec) for spec in self.profile.field_specs)

    def format_string(self, template: dict[str, str]) -> str:
        line = self.render(template).replace("%", "%%")
        holes = sorted((spec for spec in self.profile.field_specs if spec.name in self.variable),
                       key=lambda spec: spec.start)
        parts, position = [], 0
        for spec in holes:
            parts.append(line[position:spec.start])
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
                batch.append(self.broken(errors[number], {**templates[pick(bits)], **values}))
                self.previous = values
            else:
                batch.append(formats[pick(bits)] % {"n": number, "f": fnr, "d": duf, "b": birth_text(birth)})
                if errors and number + 1 in errors:
                    self.previous = self.person_values(number, birth, fnr, duf)
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
    if spec.type == "integer" and value.isdigit():
        return value.rjust(spec.length, "0")
    return value.ljust(spec.length)


class _XmlWriter(_Writer):
    """XML: the header element, then one record element (with its children) per record, indented."""

    def __init__(self, profile: XmlProfile, unit: identity.Unit, seed: int, n_records: int):
        super().__init__(profile, unit, seed, n_records)
        self.xml_profile = profile
        self.templates = [self.template() for _ in range(1 << self.template_bits)]

    def template(self) -> tuple[dict[str, str], str]:
        """Record values without the per-record ones, and the rendered children."""
        profile = self.xml_profile
        low, high = profile.generator.children
        children = []
        for child in profile.children:
            rules = tuple(r for r in profile.consistency if r.element == child.element)
            for _ in range(max(child.min, self.rng.randint(low, high))):
                children.append(f"    <{child.element}{_attributes(self.values.fields(child.fields, rules))}/>\n")
        return self.values.fields(profile.field_specs, self.record_rules), "".join(children)

    def write(self, out: BinaryIO, n_records: int, errors: dict[int, str]) -> int:
        profile = self.xml_profile
        header = self.values.fields(profile.header_specs, ())
        written = out.write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{profile.root}>\n'
            f"  <{profile.header_element}{_attributes(header)}/>\n".encode())
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


def _attributes(values: dict[str, str]) -> str:
    """`` name="value"`` for every non-blank value, escaped."""
    return "".join(f' {name}="{escape(value, {chr(34): "&quot;"})}"' for name, value in values.items() if value)
