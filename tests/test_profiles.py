"""Tests for the register profiles (sendemodul.profiles): the profile files against the published layouts, reading
extracts (fixed width and XML) with identifiers taken out, streaming in bounded memory, and the test-data generator."""

import datetime
import io
import re
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sendemodul import identity
from sendemodul.errors import ExtractError, ProfileError, UsageError
from sendemodul.identity import IdClass
from sendemodul.profiles import Malformed, Record, available, load_profile
from sendemodul.testing.extracts import ERROR_KINDS, generate_extract, write_extract

ROOT = Path(__file__).resolve().parent.parent
ALNA = identity.parse_unit("0301-12-958935420", 2026)
STAVANGER = identity.parse_unit("1103-00-964965226", 2026)
ALL = available()
FIXED = [(r, p) for r, p in ALL if r in ("11CF", "11F")]
XML = [(r, p) for r, p in ALL if r in ("15F", "IPLOS")]


def records(profile, data):
    return list(profile.open_extract(io.BytesIO(data)))


def layout_tables():
    """``{register: (record_length, [row cells...])}`` from docs/layouts-2026.md."""
    text = (ROOT / "docs" / "layouts-2026.md").read_text(encoding="utf-8")
    tables = {}
    for section in text.split("#### Skjema ")[1:]:
        register = section.split()[0]
        length = int(re.search(r"record length (\d+)", section).group(1))
        rows = [
            [c.strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| Field")
        ]
        tables[register] = (length, rows)
    return tables


# ---------------------------------------------------------------------------------------------------------------------
# Loading


def test_available_lists_every_register_for_2025_and_2026():
    assert [(r, y) for r in ("11CF", "11F", "15F", "IPLOS") for y in (2025, 2026)] == ALL


def test_unknown_profile_is_a_usage_error_naming_what_exists():
    with pytest.raises(ProfileError) as caught:
        load_profile("11F", 2019)
    assert isinstance(caught.value, UsageError)
    assert "11F" in str(caught.value) and "2019" in str(caught.value)
    assert "11CF 2025, 2026" in str(caught.value) and "IPLOS 2025, 2026" in str(caught.value)


@pytest.mark.parametrize("register, periode", ALL)
def test_profile_basics(register, periode):
    """Every profile loads, knows its register and year, and has the identifier fields of DESIGN.md section 5."""
    profile = load_profile(register, periode)
    assert (profile.register, profile.periode) == (register, periode)
    expected = {
        "11CF": ["PERSON_FODSELSNR"],
        "11F": ["PERSON_FODSELSNR", "PERSON_DUF"],
        "15F": ["Fodselsnummer", "DUFnummer"],
        "IPLOS": ["Fodselsnummer"],
    }[register]
    assert profile.id_fields == expected
    assert [profile.id_kind(f) for f in expected] == ["fnr", "duf"][: len(expected)]
    assert profile.kind == ("fixed" if register in ("11CF", "11F") else "xml")
    assert profile.encoding == ("iso-8859-1" if profile.kind == "fixed" else "utf-8")
    assert set(profile.id_fields) <= set(profile.field_names)
    with pytest.raises(ValueError):
        profile.id_kind("KJONN")


@pytest.mark.parametrize("register", ["11CF", "11F", "15F", "IPLOS"])
def test_2025_profile_is_the_2026_layout_with_its_own_year(register):
    p25, p26 = load_profile(register, 2025), load_profile(register, 2026)
    assert p25.field_names == p26.field_names
    assert [(f.start, f.length, f.type, f.mandatory, dict(f.codes)) for f in p25.field_specs] == [
        (f.start, f.length, f.type, f.mandatory, dict(f.codes)) for f in p26.field_specs
    ]
    assert p25.consistency == p26.consistency


@pytest.mark.parametrize("register", ["11CF", "11F"])
def test_fixed_profile_matches_every_field_of_the_published_layout(register):
    """Name, position, length, type, mandatory flag and code list of every field in docs/layouts-2026.md."""
    record_length, rows = layout_tables()[register]
    profile = load_profile(register, 2026)
    assert profile.record_length == record_length
    assert len(profile.field_specs) == len(rows)
    for spec, (name, position, length, ftype, mandatory, codes) in zip(profile.field_specs, rows, strict=True):
        start, end = map(int, position.split("-"))
        assert (spec.name, spec.start + 1, spec.end, spec.length) == (name, start, end, int(length))
        assert spec.type == {"STRING": "string", "INTEGER": "integer"}.get(ftype, "date")
        if spec.type == "date":
            assert ftype == "DATE (ddMMyyyy)" and spec.date_format == "ddMMyyyy"
        assert spec.mandatory == (mandatory == "Y"), name
        if spec.codes_from:
            assert "KLASS 131" in codes and dict(spec.codes) == {"9999": "Uoppgitt"}
        elif codes:
            listed = dict(pair.split("=", 1) for pair in re.split(r", (?=\d+=)", codes))
            for code, label in listed.items():
                if label.endswith("..."):
                    assert spec.codes[code].startswith(label[:-3]), (name, code)
                else:
                    assert spec.codes[code] == label, (name, code)
            if not codes.endswith("..."):
                assert set(spec.codes) == set(listed), name
        else:
            assert not spec.codes, name


def test_kommnr_codes_come_from_the_kommune_list_of_the_year():
    spec = next(f for f in load_profile("11CF", 2026).field_specs if f.name == "KOMMNR_KVP_KOMM")
    assert spec.codes_from == "kommunenr"


# ---------------------------------------------------------------------------------------------------------------------
# Reading generated extracts


@pytest.mark.parametrize("register, periode", ALL)
@pytest.mark.parametrize("unit", [ALNA, STAVANGER], ids=["alna", "stavanger"])
def test_every_profile_reads_generated_data_with_identifiers_taken_out(register, periode, unit):
    unit = identity.parse_unit(str(unit), periode)
    profile = load_profile(register, periode)
    data = generate_extract(profile, unit, 40, seed=7)
    extract = profile.open_extract(io.BytesIO(data))
    read = list(extract)
    assert len(read) == 40
    ids = [value for record in read for _, value in record.ids if value]
    assert len(ids) == len(set(ids)) >= 30
    for record in read:
        assert isinstance(record, Record)
        assert [name for name, _ in record.ids] == profile.id_fields
        assert any(value for _, value in record.ids)
        assert "\n" not in record.data and "\t" not in record.data and "\r" not in record.data
        for _, value in record.ids:
            if value:
                assert value not in record.data
                assert identity.classify_id(value, "duf" if len(value) == 12 else "fnr").valid
        fields = profile.fields(record.data)
        assert list(fields) == profile.field_names
        assert all(fields[name] == "" for name in profile.id_fields)
        assert record.journalnr and fields[profile.journal_field.name] == record.journalnr
    if profile.kind == "fixed":
        assert extract.header_lines == []
        assert [r.line for r in read] == list(range(1, 41))
        assert all(len(r.data) == profile.record_length for r in read)
    else:
        assert len(extract.header_lines) == 1
        header = ET.fromstring(extract.header_lines[0])
        assert header.tag == "Avgiver" and header.get("Kommunenummer") == unit.kommunenr
        for record in read:
            element = ET.fromstring(record.data)
            assert element.tag == profile.record_element
            assert not set(profile.id_fields) & set(element.attrib)


def test_fixed_width_blanking_keeps_the_length_and_the_other_fields():
    profile = load_profile("11F", 2026)
    line = generate_extract(profile, ALNA, 1, seed=3).decode("iso-8859-1").rstrip("\n")
    (record,) = records(profile, line.encode("iso-8859-1"))
    assert len(record.data) == len(line) == 338
    assert record.data[24:47] == " " * 23  # PERSON_FODSELSNR 25-35 and PERSON_DUF 36-47
    assert record.data[:24] == line[:24] and record.data[47:] == line[47:]
    assert dict(record.ids)["PERSON_FODSELSNR"] == line[24:35].strip()


def test_fixed_width_crlf_blank_lines_and_line_numbers():
    profile = load_profile("11CF", 2026)
    lines = generate_extract(profile, ALNA, 3, seed=1).decode("iso-8859-1").splitlines()
    data = ("\r\n".join([lines[0], "", "   ", lines[1], lines[2]]) + "\r\n").encode("iso-8859-1")
    read = records(profile, data)
    assert [r.line for r in read] == [1, 4, 5]
    assert [r.journalnr for r in read] == ["00000001", "00000002", "00000003"]


def test_fixed_width_reads_iso_8859_1():
    profile = load_profile("11CF", 2026)
    line = generate_extract(profile, ALNA, 1, seed=1).decode("iso-8859-1").rstrip("\n")
    line = line[:142] + "Ærlig Ø".ljust(10)  # SAKSBEHANDLER 143-152
    (record,) = records(profile, line.encode("iso-8859-1") + b"\n")
    assert profile.fields(record.data)["SAKSBEHANDLER"] == "Ærlig Ø"


def test_fixed_width_malformed_lines_are_reported_and_reading_goes_on():
    profile = load_profile("11CF", 2026)
    good = generate_extract(profile, ALNA, 2, seed=1).decode("iso-8859-1").splitlines()
    data = "\n".join([good[0][:-1], good[0][:50] + "\t" + good[0][51:], good[0] + "xx", good[1]]).encode("latin-1")
    items = list(profile.open_extract(io.BytesIO(data)).scan())
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Malformed", 1),
        ("Malformed", 2),
        ("Malformed", 3),
        ("Record", 4),
    ]
    assert [i.rule for i in items[:3]] == ["RECORD_LENGTH", "TAB", "RECORD_LENGTH"]
    assert "151" in items[0].message and "column 51" in items[1].message and "154" in items[2].message
    with pytest.raises(ExtractError) as caught:
        list(profile.open_extract(io.BytesIO(data)))
    assert caught.value.line == 1 and caught.value.rule == "RECORD_LENGTH"


def test_fixed_width_file_without_line_breaks_streams_in_bounded_memory():
    profile = load_profile("11CF", 2026)
    data = b"x" * (8 * 1024 * 1024) + b"\r\n" + generate_extract(profile, ALNA, 1, seed=1)
    tracemalloc.start()
    items = list(profile.open_extract(io.BytesIO(data)).scan())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [type(i) for i in items] == [Malformed, Record]
    assert str(8 * 1024 * 1024) in items[0].message
    assert peak < 1024 * 1024


@pytest.mark.parametrize("lines_a_block", [1, 2, 3, 7])
def test_fixed_width_blocks_give_what_scan_gives(monkeypatch, lines_a_block):
    """``blocks()`` against ``scan()`` on a file mixing clean runs of lines (read as a :class:`LineBlock`, each
    line's text decoded from the bytes when asked for) with ISO-8859-1 text, blank lines, a CRLF, a TAB, a line
    broken in two by an LF in place of a character (every LF still where a line would end), and a last line without
    its LF (read as lines, or handed to ``scan``)."""
    from sendemodul.profiles import fixed

    profile = load_profile("11CF", 2026)
    monkeypatch.setattr(fixed, "_BLOCK_BYTES", (profile.record_length + 1) * lines_a_block)
    good = generate_extract(profile, ALNA, 12, seed=3).decode("iso-8859-1").splitlines()
    odd = good[4][:142] + "Ærlig Ø".ljust(10) + good[4][152:]
    lines = [*good[:2], good[8][:60], good[8][61:], good[2], good[3], odd, " " * profile.record_length, good[5]]
    lines += [good[6] + "\r", good[7], good[9][:50] + "\t" + good[9][51:], *good[10:12]]
    data = "\n".join(lines).encode("iso-8859-1")  # the last line without its LF
    expected = [(r.line, r.ids, r.data) if isinstance(r, Record) else (r.line, r.rule) for r in scanned(profile, data)]
    got, kinds = [], set()
    for first, block in profile.open_extract(io.BytesIO(data)).blocks():
        kinds.add(type(block).__name__)
        if first is None:
            got += [(r.line, r.ids, r.data) if isinstance(r, Record) else (r.line, r.rule) for r in block]
            continue
        assert block[-1] == block[len(block) - 1] and block[:] == [block[i] for i in range(len(block))]
        with pytest.raises(IndexError):
            block[len(block)]
        for i, text in enumerate(block):
            if text.strip(" "):
                record = profile.record(first + i, text)
                got.append((record.line, record.ids, record.data))
    assert got == expected
    assert "generator" in kinds and ("LineBlock" in kinds or lines_a_block == 7)  # 7: no block of clean lines


def scanned(profile, data):
    return list(profile.open_extract(io.BytesIO(data)).scan())


def test_fixed_width_joined_stream_reads_its_head_then_the_rest():
    from sendemodul.profiles.fixed import _Joined

    joined = _Joined(b"abc", io.BytesIO(b"def\nghi"))
    assert joined.read(2) == b"ab"
    assert joined.read(3) == b"cde"
    assert joined.readline(100) == b"f\n"
    assert joined.read(-1) == b"ghi"
    assert joined.read(5) == b""


_PEAK_READING = """
import io, sys, tracemalloc
from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.testing.extracts import write_extract
profile = load_profile(sys.argv[1], 2026)
count = int(sys.argv[2])
data = io.BytesIO()
size = write_extract(data, profile, identity.parse_unit("0301-12-958935420", 2026), count, seed=5)
data.seek(0)
tracemalloc.start()
assert sum(1 for _ in profile.open_extract(data)) == count
print(tracemalloc.get_traced_memory()[1], size)
"""


def peak_reading(profile, count):
    """Peak Python allocations while reading a generated extract of ``count`` records, and the extract's size.

    Measured in a fresh interpreter: what earlier tests left in CPython's caches and free lists made the figure
    depend on the test order."""
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_READING, profile.register, str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    peak, size = proc.stdout.split()
    return int(peak), int(size)


@pytest.mark.integration
@pytest.mark.parametrize("register, count", [("11F", 2_500), ("IPLOS", 200)])
def test_reading_an_extract_keeps_memory_flat(register, count):
    """Reading four times as many records takes no more memory: nothing accumulates. (11F from 2,500 records: below
    that, a bounded cache inside CPython still fills, 60 KiB at 1,000 records and 97 KiB from 2,000 on.)"""
    profile = load_profile(register, 2026)
    small, _ = peak_reading(profile, count)
    large, size = peak_reading(profile, 4 * count)
    assert size > 400_000
    assert large < 1.25 * small + 16 * 1024
    assert large < 512 * 1024


# ---------------------------------------------------------------------------------------------------------------------
# XML structure


def xml_items(profile, text):
    extract = profile.open_extract(io.BytesIO(text.encode("utf-8")))
    return list(extract.scan()), extract


AVGIVER = '<Avgiver Organisasjonsnummer="958935420" Versjon="2026" Kommunenummer="0301" Kommunenavn="Oslo"/>'


def test_xml_record_becomes_one_line_without_identifiers_whitespace_or_comments():
    profile = load_profile("15F", 2026)
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<Barnevern xmlns="urn:example">
  <!-- exported 2026-01-02 -->
  {AVGIVER}
  <Individ Id="1" Journalnummer=" J-1 " StartDato="2026-01-01" Fodselsnummer=" 01872054460 "
           DUFnummer="" Saksbehandler="a&#10;b" Avslutta3112="2">
    <!-- a comment 01872054460 -->
    <Tiltak Id="T1" StartDato="2026-01-02">
      <Lovhjemmel Lov="BVL2021" Kapittel="3" Paragraf="1"/>
      <Kategori Kode="3.9"/>
    </Tiltak>
  </Individ>
</Barnevern>
"""
    items, extract = xml_items(profile, text)
    (record,) = items
    assert record.line == 5
    assert record.journalnr == "J-1"
    assert record.ids == (("Fodselsnummer", "01872054460"), ("DUFnummer", ""))
    assert record.data == (
        '<Individ Id="1" Journalnummer=" J-1 " StartDato="2026-01-01" Saksbehandler="a&#10;b" '
        'Avslutta3112="2"><Tiltak Id="T1" StartDato="2026-01-02"><Lovhjemmel Lov="BVL2021" '
        'Kapittel="3" Paragraf="1" /><Kategori Kode="3.9" /></Tiltak></Individ>'
    )
    assert extract.header_lines == [AVGIVER.replace("/>", " />")]
    assert profile.fields(record.data)["Saksbehandler"] == "a\nb"


def test_xml_text_with_line_breaks_stays_on_one_line():
    profile = load_profile("15F", 2026)
    text = f"<Barnevern>{AVGIVER}<Individ Id='1'>line one\n\tline two</Individ></Barnevern>"
    (record,), _ = xml_items(profile, text)
    assert record.data == '<Individ Id="1">line one&#10;&#9;line two</Individ>'
    assert ET.fromstring(record.data).text == "line one\n\tline two"


def _tree(element):
    return [(node.tag, dict(node.attrib), node.text, node.tail) for node in element.iter()]


def test_xml_record_keeps_its_element_only_where_parsing_its_line_gives_the_same_element():
    """The element a record holds (so the checks need not parse its line again) is the element its line parses to;
    a record with a namespace prefix or declaration, which parsing would resolve, holds none."""
    profile = load_profile("15F", 2026)
    plain = (
        f"<Barnevern>{AVGIVER}<Individ Id='1' Saksbehandler='a&#10;b&#13;c&#9;d' Fodselsnummer='01872054460'>"
        "x&#13;y\n <Tiltak Id='T1'> </Tiltak> tail <!-- c --></Individ></Barnevern>"
    )
    (record,), _ = xml_items(profile, plain)
    assert record.element is not None
    assert _tree(record.element) == _tree(ET.fromstring(record.data))
    assert profile.element_of(record) is record.element
    for individ in (
        "<Individ Id='1' xmlns:y='urn:a' y:x='1'/>",
        "<Individ Id='1' xmlns='urn:a'/>",
        "<Individ Id='1'><y:Tiltak xmlns:y='urn:a'/></Individ>",
        "<Individ Id='1' xml:lang='no'/>",
    ):
        (record,), _ = xml_items(profile, f"<Barnevern>{AVGIVER}{individ}</Barnevern>")
        assert record.element is None
        assert _tree(profile.element_of(record)) == _tree(ET.fromstring(record.data))


def test_every_register_has_profiles():
    from sendemodul.registers import REGISTERS

    assert {register for register, _ in available()} == set(REGISTERS)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not well-formed"),
        ("<Barnevern><Individ Id='1'/></Barnevern>", "<Avgiver> must come before the first <Individ>"),
        (f"<Barnevern>{AVGIVER}{AVGIVER}</Barnevern>", "a second <Avgiver>"),
        (f"<Barnevern>{AVGIVER}<Melding/></Barnevern>", "<Melding> is not expected"),
        ("<Iplos/>", "must be a <Barnevern>"),
        (f"<Barnevern>{AVGIVER}text</Barnevern>", "text is not allowed"),
        ("<Barnevern></Barnevern>", "no <Avgiver>"),
        (f"<Barnevern>{AVGIVER}<Individ Id='1'></Barnevern>", "not well-formed"),
        (f'<!DOCTYPE x [<!ENTITY a "aaaa">]><Barnevern>{AVGIVER}</Barnevern>', "DOCTYPE"),
    ],
)
def test_xml_structure_errors_are_fatal(text, message):
    items, _ = xml_items(load_profile("15F", 2026), text)
    assert isinstance(items[-1], Malformed)
    assert items[-1].rule == "XML" and message in items[-1].message


def test_xml_records_before_a_structure_error_are_still_yielded():
    profile = load_profile("15F", 2026)
    text = f"<Barnevern>\n{AVGIVER}\n<Individ Id='1'/>\n<Individ Id='2'/>\n<Bad>\n</Barnevern>"
    items, _ = xml_items(profile, text)
    assert [type(i) for i in items] == [Record, Record, Malformed]
    assert items[-1].line == 5


def test_xml_fields_refuses_a_line_of_another_profile():
    with pytest.raises(ExtractError):
        load_profile("15F", 2026).fields('<Tjenestemottaker Journalnummer="1"/>')
    with pytest.raises(ExtractError):
        load_profile("15F", 2026).fields("not xml")


# ---------------------------------------------------------------------------------------------------------------------
# Test data


def test_generated_extracts_are_reproducible_and_seeded():
    profile = load_profile("11F", 2026)
    assert generate_extract(profile, ALNA, 50, seed=1) == generate_extract(profile, ALNA, 50, seed=1)
    assert generate_extract(profile, ALNA, 50, seed=1) != generate_extract(profile, ALNA, 50, seed=2)
    out = io.BytesIO()
    assert write_extract(out, profile, ALNA, 50, seed=1) == len(out.getvalue())


def test_generated_ids_are_tenor_synthetic_as_identity_generates_them():
    """The generator's own check-digit arithmetic gives exactly identity.generate_fnr(kind="synthetic"), for the
    birth date the record states."""
    profile = load_profile("11CF", 2026)
    for record in records(profile, generate_extract(profile, ALNA, 1000, seed=11)):
        fnr = dict(record.ids)["PERSON_FODSELSNR"]
        born = datetime.datetime.strptime(profile.fields(record.data)["FODSELSDATO"], "%d%m%Y").date()
        assert identity.classify_id(fnr).id_class is IdClass.SYNTHETIC
        assert fnr == identity.generate_fnr(born, int(fnr[6:9]), kind="synthetic")
        assert 2026 - 67 <= born.year <= 2026 - 18


def test_generated_11f_has_no_duf_only_records():
    """SSB's K005 fails a blank fødselsnummer even with a DUF number, so generated 11F records all have one."""
    profile = load_profile("11F", 2026)
    read = records(profile, generate_extract(profile, ALNA, 400, seed=2))
    assert all(dict(r.ids)["PERSON_FODSELSNR"] for r in read)


def test_generator_refuses_error_kinds_that_do_not_fit():
    with pytest.raises(ValueError, match="does not apply"):
        generate_extract(load_profile("15F", 2026), ALNA, 5, errors={2: "TAB"})
    with pytest.raises(ValueError, match="out of range"):
        generate_extract(load_profile("11F", 2026), ALNA, 5, errors={1: "DUPLICATE_ID"})
    with pytest.raises(ValueError, match="does not apply"):
        generate_extract(load_profile("11F", 2026), ALNA, 5, errors={2: "NO_SUCH_KIND"})
    assert set(ERROR_KINDS) >= {"RECORD_LENGTH", "TAB", "XML", "CODE", "ID_INVALID", "DUPLICATE_ID"}
