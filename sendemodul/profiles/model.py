"""The data model behind the profile files: field specifications, consistency rules, and the interfaces that every
kind of extract (fixed-width, XML) implements: :class:`Profile`, :class:`Extract` and :class:`Record`.

Nothing here knows a particular register; ``sendemodul/profiles/*.toml`` says which fields a register has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, TypedDict

from sendemodul.errors import ExtractError

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

#: Field types and what a value must look like (blank values are the ``mandatory`` flag's business).
TYPES = ("string", "integer", "date")
#: Date formats: fixed-width registers use SSB's ``ddMMyyyy``, the XML profiles ISO 8601 (``xs:date``).
DATE_FORMATS = ("ddMMyyyy", "yyyy-MM-dd")
#: Person-identifier kinds, as :func:`sendemodul.identity.classify_id` takes them.
ID_KINDS = ("fnr", "duf")
#: What a field means to the control rules (and to the test-data generator):
#: ``kommunenr``/``orgnr`` must equal the unit's; ``version`` is the 2-digit year and ``periode`` the 4-digit year of
#: the profile; ``bydel`` follows the bydel rule (Oslo 01-15, blank or 00 elsewhere) instead of its mandatory flag;
#: ``journalnr`` names the record in reports; ``birthdate`` must agree with the fødselsnummer's date;
#: ``kommunenavn`` is the kommune's name (free text, filled in by the generator).
ROLES = ("kommunenr", "orgnr", "version", "periode", "bydel", "journalnr", "birthdate", "kommunenavn")
SEVERITIES = ("FATAL", "ERROR", "WARNING", "INFO")


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One field: a fixed-width slice (``start``, ``length``) or an XML attribute (``max_length``)."""

    name: str
    type: str = "string"
    mandatory: bool = False
    #: Fixed width: 0-based offset and width. XML: ``None``.
    start: int | None = None
    length: int | None = None
    #: XML: the longest value allowed (``None``: no limit).
    max_length: int | None = None
    #: XML: the shortest non-blank value allowed (``None``: no limit).
    min_length: int | None = None
    #: For ``date`` fields (and only those): one of :data:`DATE_FORMATS`.
    date_format: str | None = None
    #: The code list (code -> label); empty when the field has none.
    codes: Mapping[str, str] = field(default_factory=dict)
    #: ``"kommunenr"``: the codes are the kommunenummer valid in the profile's year (plus ``codes``).
    codes_from: str | None = None
    role: str | None = None
    #: ``"fnr"`` or ``"duf"`` for a person-identifier field, else ``None``.
    id_kind: str | None = None
    #: No two records may share a non-blank value.
    unique: bool = False
    #: ``False``: the field's own value is not checked (no mandatory, type or code rule), as SSB's control program
    #: does not check it by itself; its codes are what the register's controls compare with.
    checked: bool = True
    #: SSB's control id for what the field rules find in this field (``K008``), if the register has SSB controls;
    #: ``None``: the profile's ``field_control``.
    control: str | None = None

    @property
    def width(self) -> int:
        """Fixed width: the number of characters; :class:`ValueError` for an XML field."""
        if self.length is None:
            raise ValueError(f"{self.name} is not a fixed-width field")
        return self.length

    @property
    def span(self) -> tuple[int, int]:
        """Fixed width: ``(start, end)``, the 0-based slice of the record; :class:`ValueError` for an XML field."""
        if self.start is None or self.length is None:
            raise ValueError(f"{self.name} is not a fixed-width field")
        return self.start, self.start + self.length

    @property
    def end(self) -> int:
        """Fixed width: the 0-based offset after the field."""
        return self.span[1]


@dataclass(frozen=True, eq=False)
class ChildSpec:
    """XML: a kind of child element of the record element (e.g. ``Tiltak`` in ``Individ``) or of another child
    element (e.g. ``Kategori`` in ``Tiltak``): its attributes, how many there may be, and its own child elements.

    The kinds of a parent come in the order of the schema's sequence, and a parent's children must follow it."""

    element: str
    min: int
    fields: tuple[FieldSpec, ...]
    #: At most this many in one parent (``None``: no limit).
    max: int | None = None
    #: The child elements this element may have, in order.
    children: tuple[ChildSpec, ...] = ()
    #: ``None``: the element holds no text. Else it holds text only (no attributes or elements, e.g. ``Presisering``),
    #: not blank and at most this many characters.
    text: int | None = None


def walk_children(children: tuple[ChildSpec, ...]) -> Iterator[ChildSpec]:
    """Every child specification in ``children`` and below, parents first."""
    for child in children:
        yield child
        yield from walk_children(child.children)


@dataclass(frozen=True)
class Requires:
    """When ``if_field`` holds one of ``if_values``, ``field`` must be filled in (and > 0 if ``positive``)."""

    id: str
    severity: str
    element: str | None
    if_field: str
    if_values: tuple[str, ...]
    field: str
    positive: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The fields the rule reads."""
        return self.if_field, self.field


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``fields`` must be filled in."""

    id: str
    severity: str
    element: str | None
    fields: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The fields the rule reads."""
        return self.fields


@dataclass(frozen=True)
class DateOrder:
    """When both dates are valid, ``earlier`` must not be after ``later``."""

    id: str
    severity: str
    element: str | None
    earlier: str
    later: str

    @property
    def names(self) -> tuple[str, ...]:
        """The fields the rule reads."""
        return self.earlier, self.later


Consistency = Requires | AnyOf | DateOrder


@dataclass(frozen=True)
class GeneratorHints:
    """How :mod:`sendemodul.testing.people` makes plausible people for this register."""

    #: Ages (in the reporting year) of the generated people.
    age_range: tuple[int, int] = (18, 80)
    #: Share of records identified by a DUF number only (needs a ``duf`` identifier field).
    duf_share: float = 0.0
    #: XML: how many child elements each record gets, at least and at most.
    children: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Record:
    """One record of an extract, with its identifiers taken out."""

    #: 1-based line number in the extract (XML: the line where the record's element starts).
    line: int
    journalnr: str | None
    #: ``(id field name, raw value stripped or '')`` for each identifier field, in profile order.
    ids: tuple[tuple[str, str], ...]
    #: The record on one line with every identifier field blanked; no newline, no TAB.
    data: str
    #: XML: the element that parsing ``data`` gives, kept from reading the extract so that the checks need not parse
    #: ``data`` again; ``None`` for fixed width, and where parsing ``data`` would give another element (namespaces).
    element: ET.Element | None = field(default=None, compare=False, repr=False)
    #: XML: the identifier attributes that are there but blank (``ids`` has them as ``''``, as a missing one).
    blank_ids: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class Malformed:
    """A part of an extract that cannot be read as a record: a FATAL finding of rule ``rule``."""

    line: int
    rule: str
    message: str


class Extract(ABC):
    """An extract being read: iterate for :class:`Record` objects, streaming.

    ``header_lines`` holds the document-level parts (XML: the ``Avgiver`` element on one line); it is complete once the
    first record has been read or the iteration has finished. Iterating raises :class:`ExtractError` at the first part
    that cannot be read as a record; :meth:`scan` yields such parts as :class:`Malformed` items instead and goes on
    where it can (the control rules use it to list every malformed line).
    """

    def __init__(self) -> None:
        self.header_lines: list[str] = []

    @abstractmethod
    def scan(self) -> Iterator[Record | Malformed]:
        """Every record, and every part that cannot be read as one, in file order."""

    def __iter__(self) -> Iterator[Record]:
        for item in self.scan():
            if isinstance(item, Malformed):
                raise ExtractError(f"line {item.line}: {item.message}", line=item.line, rule=item.rule)
            yield item


class ProfileArgs(TypedDict):
    """The arguments that every kind of :class:`Profile` takes (subclasses add their own)."""

    register: str
    periode: int
    title: str
    encoding: str
    fields: tuple[FieldSpec, ...]
    consistency: tuple[Consistency, ...]
    generator: GeneratorHints


class Profile(ABC):
    """How to read one register's extract for one year, and which control rules apply to it.

    Built by :func:`sendemodul.profiles.load_profile` from a profile file; ``kind`` says which subclass.
    """

    kind: str
    #: Which check-digit rule a fødselsnummer must pass: ``"current"`` (SSB's K005 before 2032: the current rule's
    #: check digits, or an SSB placeholder), ``"2032"`` (the current or the 2032 rule, a valid date), or ``None``
    #: (either rule: what :func:`sendemodul.identity.classify_id` accepts). Set by the profile's ``fnr_rule``.
    fnr_rule: str | None = None
    #: Register-specific controls over each record (``"sosialhjelp"``...), or ``None``.
    controls: str | None = None
    #: SSB's control id for the field rules' findings where a field names none (``"K002"``), or ``None``.
    field_control: str | None = None
    #: Duplicate identifiers are those with the same values of these fields too (11CF: ``STATUS``).
    duplicate_key: tuple[str, ...] = ()
    #: Units of these kommuner are not checked for duplicates at all (SSB skips Oslo in 11CF).
    duplicate_skip: frozenset[str] = frozenset()

    def __init__(
        self,
        *,
        register: str,
        periode: int,
        title: str,
        encoding: str,
        fields: tuple[FieldSpec, ...],
        consistency: tuple[Consistency, ...],
        generator: GeneratorHints,
    ) -> None:
        self.register = register
        self.periode = periode
        self.title = title
        #: How the extract's bytes (fixed width) and the data lines are encoded.
        self.encoding = encoding
        self.field_specs = fields
        self.consistency = consistency
        self.generator = generator
        self.field_names: list[str] = [f.name for f in fields]
        self.id_fields: list[str] = [f.name for f in fields if f.id_kind]
        self._id_kinds = {f.name: f.id_kind for f in fields if f.id_kind}
        journal = [f for f in fields if f.role == "journalnr"]
        #: The field that names a record in reports, or ``None``.
        self.journal_field: FieldSpec | None = journal[0] if journal else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.register} {self.periode}>"

    def id_kind(self, field: str) -> str:
        """``"fnr"`` or ``"duf"``: the ``kind`` to pass to :func:`sendemodul.identity.classify_id` for ``field``."""
        try:
            return self._id_kinds[field]
        except KeyError:
            raise ValueError(f"{field!r} is not an identifier field of {self.register}") from None

    @abstractmethod
    def open_extract(self, stream: BinaryIO) -> Extract:
        """Start reading an extract from a binary stream; nothing is read until the extract is iterated."""

    @abstractmethod
    def fields(self, data_line: str) -> dict[str, str]:
        """The named fields of a data line (as in :attr:`Record.data`), stripped of padding; ID fields are empty."""
