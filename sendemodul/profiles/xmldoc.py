"""XML extracts (15F, IPLOS): a root element holding one header element (``Avgiver``) and then the record elements.

The document is read with expat in chunks, one record element at a time, so memory stays flat however large the file
is. Each record element (with its children) becomes one line: whitespace-only text between elements is dropped,
comments and processing instructions are dropped, line breaks and TABs inside values become character references, and
the identifier attributes are removed. A DOCTYPE is refused (no entity tricks); so is anything the profile does not
expect at the top level, because it cannot be checked for identifiers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import BinaryIO, NoReturn, Unpack
from xml.parsers import expat

from sendemodul.errors import ExtractError
from sendemodul.profiles.model import (
    ChildSpec,
    Extract,
    FieldSpec,
    Malformed,
    Profile,
    ProfileArgs,
    Record,
)

_CHUNK_BYTES = 1 << 16
#: Bytes handed to expat at a time (see :meth:`XmlExtract.scan`).
_PARSE_BYTES = 1 << 13
#: After serialization, line breaks and TABs can only be left in text content, where a character reference means the
#: same; attribute values are already escaped this way by ElementTree.
#: The register-specific control sets a profile may name (``controls = "barnevern"``): the module under
#: :mod:`sendemodul.profiles.rules` that runs them on each record element.
CONTROL_SETS = ("barnevern",)
_ONE_LINE = str.maketrans({"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


class XmlProfile(Profile):
    kind = "xml"

    def __init__(
        self,
        *,
        root: str,
        record: str,
        header_element: str,
        header_fields: tuple[FieldSpec, ...],
        children: tuple[ChildSpec, ...],
        controls: str | None = None,
        **common: Unpack[ProfileArgs],
    ) -> None:
        super().__init__(**common)
        #: Element names: the document root, the record element, the document-level header element.
        self.root = root
        self.record_element = record
        self.header_element = header_element
        self.header_specs = header_fields
        #: The allowed child elements of a record (:class:`~sendemodul.profiles.model.ChildSpec`).
        self.children = children
        #: One of :data:`CONTROL_SETS`, or ``None``: the register's own controls over a whole record element.
        self.controls = controls

    def open_extract(self, stream: BinaryIO) -> XmlExtract:
        return XmlExtract(self, stream)

    def parse(self, line: str) -> ET.Element:
        """The element on a data line or header line; :class:`ExtractError` if it is not one."""
        try:
            return ET.fromstring(line)
        except ET.ParseError:
            raise ExtractError(f"not a {self.register} data line (not well-formed XML)") from None

    def element_of(self, record: Record) -> ET.Element:
        """The element on ``record.data``, as :meth:`parse` gives it: the record's own :attr:`Record.element` where
        it holds one (no serializing and parsing again), else ``record.data`` parsed."""
        if record.element is not None:
            return record.element
        return self.parse(record.data)

    def fields(self, data_line: str) -> dict[str, str]:
        element = self.parse(data_line)
        if element.tag != self.record_element:
            raise ExtractError(f"not a {self.register} data line: <{element.tag}> instead of <{self.record_element}>")
        ids = set(self.id_fields)
        return {name: "" if name in ids else element.get(name, "").strip() for name in self.field_names}

    def one_line(self, element: ET.Element) -> str:
        """``element`` serialized on one line, without the whitespace that only indented it."""
        for node in element.iter():
            if node.text is not None and not node.text.strip():
                node.text = None
            if node.tail is not None and not node.tail.strip():
                node.tail = None
        element.tail = None
        return ET.tostring(element, encoding="unicode").translate(_ONE_LINE)


def _reparses_unchanged(element: ET.Element) -> bool:
    """Whether ``ET.fromstring(one_line(element))`` gives ``element`` back: the names hold no namespace prefix and
    no attribute declares a namespace. (The extract is read without namespace processing, so ``x:Tiltak`` and an
    ``xmlns`` attribute are plain names there; parsing the serialized line would resolve them.)"""
    for node in element.iter():
        if ":" in node.tag:
            return False
        for name in node.attrib:
            if ":" in name or name == "xmlns":
                return False
    return True


def _namespaces_resolve(profile: XmlProfile, element: ET.Element, line: int) -> None:
    """Raise :class:`_Stop` where ``element``'s line cannot be read with namespaces resolved (a prefix that no
    ``xmlns`` declares): the scan reads names as they stand, but the checks and the split read the line as
    ElementTree does, so such a record ends the extract as not well-formed, at its own line."""
    try:
        ET.fromstring(profile.one_line(element))
    except ET.ParseError as e:
        raise _Stop(Malformed(line, "XML", f"not well-formed XML: {expat.ErrorString(e.code)}")) from None


class _Stop(Exception):
    """Raised inside an expat callback to end the scan with a FATAL :class:`Malformed`."""

    def __init__(self, malformed: Malformed) -> None:
        super().__init__(malformed.message)
        self.malformed = malformed


class XmlExtract(Extract):
    def __init__(self, profile: XmlProfile, stream: BinaryIO) -> None:
        super().__init__()
        self._profile = profile
        self._stream = stream

    def scan(self) -> Iterator[Record | Malformed]:
        profile = self._profile
        parser = expat.ParserCreate()
        parser.buffer_text = True
        ready: list[Record] = []
        depth = 0
        builder: ET.TreeBuilder | None = None
        start_line = 0

        def fail(message: str) -> NoReturn:
            raise _Stop(Malformed(parser.CurrentLineNumber, "XML", message))

        def start(tag: str, attrs: dict[str, str]) -> None:
            nonlocal depth, builder, start_line
            depth += 1
            if depth == 1:
                if tag != profile.root:
                    fail(f"the document must be a <{profile.root}>, not a <{tag}>")
            elif depth == 2:
                if tag == profile.header_element:
                    if self.header_lines:
                        fail(f"a second <{tag}>; a document has one")
                elif tag == profile.record_element:
                    if not self.header_lines:
                        fail(f"<{profile.header_element}> must come before the first <{tag}>")
                else:
                    fail(
                        f"<{tag}> is not expected in <{profile.root}>: only <{profile.header_element}> and "
                        f"<{profile.record_element}>"
                    )
                builder = ET.TreeBuilder()
                start_line = parser.CurrentLineNumber
                builder.start(tag, attrs)
            else:
                assert builder is not None  # depth > 2: inside the element that made it
                builder.start(tag, attrs)

        def end(tag: str) -> None:
            nonlocal depth, builder
            if depth >= 2:
                assert builder is not None  # made at depth 2, dropped when leaving it
                builder.end(tag)
                if depth == 2:
                    element = builder.close()
                    builder = None
                    if not _reparses_unchanged(element):
                        _namespaces_resolve(profile, element, start_line)
                    if tag == profile.header_element:
                        self.header_lines.append(profile.one_line(element))
                    else:
                        ready.append(self._record(start_line, element))
            depth -= 1

        def data(text: str) -> None:
            if builder is not None:
                builder.data(text)
            elif text.strip():
                fail(f"text is not allowed directly in <{profile.root}>")

        def doctype(*_: object) -> None:
            fail("a DOCTYPE is not allowed")

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        parser.StartDoctypeDeclHandler = doctype
        parser.EntityDeclHandler = doctype
        read = self._stream.read
        while True:
            chunk = read(_CHUNK_BYTES)
            # Parsed in pieces, the records of each yielded before the next: a record holds its element until it is
            # consumed, so fewer wait at a time.
            for offset in range(0, len(chunk), _PARSE_BYTES) if chunk else (0,):
                try:
                    parser.Parse(chunk[offset : offset + _PARSE_BYTES], not chunk)
                except expat.ExpatError as e:
                    yield from ready
                    yield Malformed(e.lineno, "XML", f"not well-formed XML: {expat.ErrorString(e.code)}")
                    return
                except LookupError as e:  # expat met an encoding declaration Python has no codec for
                    yield Malformed(1, "XML", f"not readable XML: the declared encoding is unknown ({e})")
                    return
                except _Stop as stop:
                    yield from ready
                    yield stop.malformed
                    return
                yield from ready
                ready.clear()
            if not chunk:
                break
        if not self.header_lines:
            yield Malformed(parser.CurrentLineNumber, "XML", f"the document has no <{profile.header_element}>")

    def _record(self, line: int, element: ET.Element) -> Record:
        profile = self._profile
        attrib = element.attrib
        blank = frozenset(name for name in profile.id_fields if name in attrib and not attrib[name].strip())
        ids = tuple((name, attrib.pop(name, "").strip()) for name in profile.id_fields)
        journalnr = None
        if profile.journal_field is not None:
            journalnr = element.get(profile.journal_field.name, "").strip() or None
        data = profile.one_line(element)
        return Record(line, journalnr, ids, data, element if _reparses_unchanged(element) else None, blank)
