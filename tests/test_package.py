"""The TPF step (make_package), pseudonyms, SSB's ``ssb open``, and the keygen / ssb CLI commands.

Keys, rows and tar helpers come from test_container (pytest puts tests/ on sys.path).
"""

import csv
import os
import stat
import subprocess
import sys
import tempfile

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_container import (
    ALNA,
    STAVANGER,
    build,
    decrypt,
    fnr,
    make_keys,
    make_rows,
    members,
    resign,
    set_part,
    verify,
    write,
)

from sendemodul import answer, errors, identity, signing
from sendemodul.cli import cli
from sendemodul.container import SealedStream, SealedTempFile, write_container
from sendemodul.identity import IdClass
from sendemodul.package import make_package
from sendemodul.pseudonym import Pseudonymizer, derive_key, id_kind
from sendemodul.ssb import open_package

MASTER_KEY = bytes(range(32))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("keys"))


def package(keys, container_path, out_path, *, environment="test", **options):
    return make_package(
        container_path,
        out_path,
        tpf_identities=keys.tpf_identities,
        master_key=MASTER_KEY,
        environment=environment,
        key_version=1,
        tpf_signing_key=keys.tpf_signing,
        ssb_recipients=[keys.ssb],
        **options,
    )


def open_(keys, package_path, out_dir, **options):
    out_dir.mkdir(exist_ok=True)
    return open_package(
        package_path, out_dir, ssb_identities=keys.ssb_identities, tpf_signing_keys=list(keys.key_dir), **options
    )


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temporary directory that Python's tempfile uses for this test, to show what is (not) left behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def test_pseudonym_test_vector():
    """The vector in docs/container.md: master key 00..1f, environment test, register 11F, version 1."""
    key = derive_key(MASTER_KEY, environment="test", register="11F", version=1)
    assert key.hex() == "3bcb2a467ec28696b56ccb6754087a4f1b4f04e4d41ca3275e5e0d58bca3959c"
    pseudonymize = Pseudonymizer(MASTER_KEY, environment="test", register="11F", version=1)
    assert pseudonymize.pseudonym("05011399292") == "v1-BV2NPQNQGFVDWGBKXPDV25ZCCV"
    assert pseudonymize.pseudonyms([b"05011399292"]) == [b"v1-BV2NPQNQGFVDWGBKXPDV25ZCCV"]  # the worker's way
    assert pseudonymize(identity.classify_id("05011399292")) == "v1-BV2NPQNQGFVDWGBKXPDV25ZCCV"
    assert pseudonymize(identity.classify_id("05011399293")) == ""
    assert pseudonymize(identity.classify_id("01018000100")) == ""  # a placeholder identifies nobody
    assert (
        Pseudonymizer(MASTER_KEY, environment="production", register="11F", version=1).pseudonym("05011399292")
        == "v1-VD4H2QQVRFWS3CEZWNP7W2REKH"
    )
    assert (id_kind("PERSON_DUF"), id_kind("DUFnummer"), id_kind("Fodselsnummer")) == ("duf", "duf", "fnr")


@pytest.mark.parametrize("in_place", [True, False])
def test_round_trip(keys, tmp_path, private_tmp, monkeypatch, in_place):
    """write -> verify -> make_package -> ssb open gives every record with its ID's pseudonym and class; with
    pseudonyms.age encrypted into its place in the package, and (where the room before it is not known in advance)
    into a temporary file copied in after."""
    import sendemodul.package

    head_size = sendemodul.package._head_size
    heads = []

    def spied(*args, **kwargs):
        heads.append(head_size(*args, **kwargs) if in_place else None)
        return heads[-1]

    monkeypatch.setattr(sendemodul.package, "_head_size", spied)
    rows = make_rows(200)
    manifest = write(keys, tmp_path / "c.tar", rows)
    verify(keys, tmp_path / "c.tar")
    result = package(keys, tmp_path / "c.tar", tmp_path / "p.tar")
    seal = result.seal
    assert (seal.container_id, seal.manifest_sha256, seal.records) == (manifest.container_id, manifest.sha256, 200)
    assert (seal.environment, seal.register, seal.key_version) == ("test", "11F", 1)
    assert seal.counts == {**{c.value: 0 for c in IdClass}, "FNR": 160, "BAD_CHECKSUM": 20, "MISSING": 220}
    assert result.sha256 == answer.package_digest(tmp_path / "p.tar")  # taken from its sources as it was written
    assert [name for name, _ in members(tmp_path / "p.tar")] == [
        "manifest.json",
        "manifest.sig",
        "tpf-seal.json",
        "tpf-seal.sig",
        "pseudonyms.age",
        "data.age",
    ]
    container_items, package_items = dict(members(tmp_path / "c.tar")), dict(members(tmp_path / "p.tar"))
    for name in ("manifest.json", "manifest.sig", "data.age"):
        assert package_items[name] == container_items[name]
    if in_place:  # the room before pseudonyms.age was known before the identities were read, and was right
        assert heads[0] == (tmp_path / "p.tar").read_bytes().index(package_items["pseudonyms.age"])
    assert len(heads) == 1 and (heads[0] is not None) == in_place
    keys.tpf_signing.public_key().verify(package_items["tpf-seal.sig"], package_items["tpf-seal.json"])
    assert sorted(f.row_id for f in result.feedback) == sorted(
        line.split("\t")[0]
        for line in decrypt(package_items["pseudonyms.age"], keys.ssb_identities).splitlines()
        if line.endswith("\tBAD_CHECKSUM")
    )
    assert {(f.id_type, f.id_class) for f in result.feedback} == {("PERSON_FODSELSNR", IdClass.BAD_CHECKSUM)}

    opened = open_(keys, tmp_path / "p.tar", tmp_path / "out", unit_keys=[keys.unit_key.public_key()])
    assert opened.manifest == manifest and opened.seal == seal
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["11F-2026.dat", "records.csv"]
    table = read_csv(opened.csv_path)
    pseudonymize = Pseudonymizer(MASTER_KEY, environment="test", register="11F", version=1)
    expected = {record: ids[0][1] for ids, record in rows}
    assert len(table) == 200
    for row in table:
        assert "PERSON_FODSELSNR" not in row  # the blanked ID field is no column: its pseudonym and class are
        assert (row["PERSON_DUF_pseudonym"], row["PERSON_DUF_class"]) == ("", "MISSING")
    by_row = {row["row_id"]: row for row in table}
    data_lines = decrypt(container_items["data.age"], keys.ssb_identities).splitlines()[1:]
    for line in data_lines:
        row_id, record = line.split("\t", 1)
        classified = identity.classify_id(expected[record])
        assert by_row[row_id]["PERSON_FODSELSNR_class"] == classified.id_class
        assert by_row[row_id]["PERSON_FODSELSNR_pseudonym"] == pseudonymize(classified)
        assert by_row[row_id]["KOMMUNE_NR"] == record[:4]
    assert sorted(opened.dat_path.read_text(encoding="iso-8859-1").splitlines()) == sorted(expected)
    assert list(private_tmp.iterdir()) == []


def test_pseudonyms_are_stable_across_containers_and_kommuner_and_differ_across_environments(keys, tmp_path):
    same_person = fnr(7)
    rows = [((("PERSON_FODSELSNR", same_person), ("PERSON_DUF", "")), "record")]
    found = {}
    for name, unit, environment in (("a", ALNA, "test"), ("b", STAVANGER, "test"), ("c", ALNA, "production")):
        write(keys, tmp_path / f"{name}.tar", rows, unit=unit)
        package(keys, tmp_path / f"{name}.tar", tmp_path / f"{name}-p.tar", environment=environment)
        found[name] = read_csv(open_(keys, tmp_path / f"{name}-p.tar", tmp_path / name).csv_path)[0]
    assert found["a"]["PERSON_FODSELSNR_pseudonym"] == found["b"]["PERSON_FODSELSNR_pseudonym"]
    assert found["a"]["PERSON_FODSELSNR_pseudonym"] != found["c"]["PERSON_FODSELSNR_pseudonym"]
    assert found["a"]["row_id"] != found["b"]["row_id"]


def test_duf_numbers_are_classified_as_duf(keys, tmp_path):
    rows = [((("PERSON_FODSELSNR", ""), ("PERSON_DUF", "200001234502")), "record")]
    write(keys, tmp_path / "c.tar", rows)
    assert identity.duf_ok("200001234502")
    result = package(keys, tmp_path / "c.tar", tmp_path / "p.tar")
    assert (result.seal.counts["DUF"], result.seal.counts["MISSING"], result.feedback) == (1, 1, ())


def test_feedback_is_limited_but_counts_are_complete(keys, tmp_path, monkeypatch):
    monkeypatch.setattr("sendemodul.pseudonymize.FEEDBACK_LIMIT", 5)
    rows = [((("PERSON_FODSELSNR", "123"),), f"record {i}") for i in range(12)]
    write(keys, tmp_path / "c.tar", rows)
    result = package(keys, tmp_path / "c.tar", tmp_path / "p.tar")
    assert (len(result.feedback), result.feedback_omitted, result.seal.counts["BAD_FORMAT"]) == (5, 7, 12)


def test_no_participants_round_trip(keys, tmp_path):
    write(keys, tmp_path / "c.tar", [], no_participants=True)
    assert package(keys, tmp_path / "c.tar", tmp_path / "p.tar").seal.records == 0
    opened = open_(keys, tmp_path / "p.tar", tmp_path / "out")
    assert opened.csv_path.read_text().splitlines()[0].startswith("row_id,PERSON_FODSELSNR_pseudonym,")
    assert len(opened.csv_path.read_text().splitlines()) == 1 and opened.dat_path.read_bytes() == b""


def test_xml_register_layout_is_a_document(keys, tmp_path):
    """For an XML register the .dat file is the root element around the header lines and the records."""
    record = '<Individ Id="1" Journalnummer="J1" StartDato="2026-01-15" Fodselsnummer="" DUFnummer=""/>'
    write_container(
        tmp_path / "c.tar",
        unit=ALNA,
        register="15F",
        periode=2026,
        signing_key=keys.unit_key,
        tpf_recipients=[keys.tpf],
        ssb_recipients=[keys.ssb],
        rows=[((("Fodselsnummer", fnr(3)), ("DUFnummer", "")), record)],
        header_lines=['<Avgiver Organisasjonsnummer="958935420" Versjon="2026"/>'],
    )
    package(keys, tmp_path / "c.tar", tmp_path / "p.tar")
    opened = open_(keys, tmp_path / "p.tar", tmp_path / "out")
    assert opened.dat_path.read_text().splitlines() == [
        "<Barnevern>",
        '<Avgiver Organisasjonsnummer="958935420" Versjon="2026"/>',
        record,
        "</Barnevern>",
    ]
    row = read_csv(opened.csv_path)[0]
    assert (row["Fodselsnummer_class"], row["Journalnummer"]) == ("FNR", "J1")


# ---------------------------------------------------------------------------------------------------------------------
# Failures leave nothing behind


def assert_nothing_left(directory, private_tmp, *expected):
    assert sorted(p.name for p in directory.iterdir()) == sorted(expected)
    assert list(private_tmp.iterdir()) == []


def test_make_package_with_another_tpf_key_keeps_nothing(keys, tmp_path, private_tmp):
    write(keys, tmp_path / "c.tar", tpf=[keys.tpf_2025])
    (tmp_path / "out").mkdir()
    with pytest.raises(errors.PartDecryptionFailed, match=r"identities\.age"):
        package(keys, tmp_path / "c.tar", tmp_path / "out" / "p.tar")
    assert_nothing_left(tmp_path / "out", private_tmp)


def test_make_package_with_a_truncated_identities_part_keeps_nothing(keys, tmp_path, private_tmp):
    """pyrage emits plaintext before it notices the cut; none of it (nor any pseudonym) survives."""
    write(keys, tmp_path / "c.tar", make_rows(3000))
    items = dict(members(tmp_path / "c.tar"))
    cut = items["identities.age"][:-100]
    assert len(cut) > 2 * 64 * 1024  # several age chunks: plaintext comes out before the cut is noticed
    build(tmp_path / "cut.tar", resign(keys, {**items, "identities.age": cut}.items(), set_part("identities.age", cut)))
    verify(keys, tmp_path / "cut.tar")
    (tmp_path / "out").mkdir()
    with pytest.raises(errors.PartDecryptionFailed):
        package(keys, tmp_path / "cut.tar", tmp_path / "out" / "p.tar")
    assert_nothing_left(tmp_path / "out", private_tmp)


def test_make_package_refuses_a_data_part_that_does_not_match(keys, tmp_path, private_tmp):
    write(keys, tmp_path / "c.tar", make_rows(50))
    data = bytearray((tmp_path / "c.tar").read_bytes())
    data[-2000] ^= 0x40
    (tmp_path / "flipped.tar").write_bytes(data)
    (tmp_path / "out").mkdir()
    with pytest.raises(errors.PartDigestMismatch, match=r"data\.age"):
        package(keys, tmp_path / "flipped.tar", tmp_path / "out" / "p.tar")
    assert_nothing_left(tmp_path / "out", private_tmp)


def test_parts_are_bound_to_their_container(keys, tmp_path, private_tmp):
    """A unit that re-signs a manifest around another container's part passes intake, but the part's own header
    names the other container: the TPF refuses identities, SSB refuses data."""
    write(keys, tmp_path / "a.tar", make_rows(10))
    write(keys, tmp_path / "b.tar", make_rows(10))
    a, b = dict(members(tmp_path / "a.tar")), dict(members(tmp_path / "b.tar"))
    for part, step in (("identities.age", "tpf"), ("data.age", "ssb")):
        items = resign(keys, {**a, part: b[part]}.items(), set_part(part, b[part]))
        build(tmp_path / "mixed.tar", items)
        verify(keys, tmp_path / "mixed.tar")
        out = tmp_path / f"out-{step}"
        out.mkdir()
        if step == "tpf":
            with pytest.raises(errors.PartContentError, match="another container"):
                package(keys, tmp_path / "mixed.tar", out / "p.tar")
            assert_nothing_left(out, private_tmp)
        else:
            package(keys, tmp_path / "mixed.tar", tmp_path / "p.tar")
            with pytest.raises(errors.PartContentError, match="another container"):
                open_(keys, tmp_path / "p.tar", out)
            assert_nothing_left(out, private_tmp)


def test_ssb_open_with_a_truncated_data_part_keeps_nothing(keys, tmp_path, private_tmp):
    """A data part that fails to decrypt after some plaintext came out leaves no output file and no temporary file."""
    write(keys, tmp_path / "c.tar", make_rows(3000))
    items = dict(members(tmp_path / "c.tar"))
    cut = items["data.age"][:-100]
    assert len(cut) > 2 * 64 * 1024  # several age chunks: plaintext comes out before the cut is noticed
    build(tmp_path / "cut.tar", resign(keys, {**items, "data.age": cut}.items(), set_part("data.age", cut)))
    package(keys, tmp_path / "cut.tar", tmp_path / "p.tar")
    with pytest.raises(errors.PartDecryptionFailed, match=r"data\.age"):
        open_(keys, tmp_path / "p.tar", tmp_path / "out")
    assert_nothing_left(tmp_path / "out", private_tmp)


def test_ssb_open_refusals(keys, tmp_path, private_tmp):
    write(keys, tmp_path / "c.tar", make_rows(20))
    package(keys, tmp_path / "c.tar", tmp_path / "p.tar")
    items = dict(members(tmp_path / "p.tar"))
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(errors.PartDecryptionFailed, match=r"pseudonyms\.age"):
        open_package(tmp_path / "p.tar", out, ssb_identities=keys.tpf_identities, tpf_signing_keys=list(keys.key_dir))
    with pytest.raises(errors.SignatureInvalid):
        open_(keys, tmp_path / "p.tar", out, unit_keys=[Ed25519PrivateKey.generate().public_key()])
    with pytest.raises(errors.SealSignatureInvalid):
        open_package(tmp_path / "p.tar", out, ssb_identities=keys.ssb_identities, tpf_signing_keys=[])
    forged = {**items, "tpf-seal.sig": Ed25519PrivateKey.generate().sign(items["tpf-seal.json"])}
    with pytest.raises(errors.SealSignatureInvalid):
        open_(keys, build(tmp_path / "forged.tar", forged.items()), out)
    other_manifest = resign(keys, items.items(), lambda m: m.update(records=21))
    with pytest.raises(errors.SealInvalid, match="manifest_sha256"):
        open_(keys, build(tmp_path / "other.tar", other_manifest), out)
    flipped = {**items, "pseudonyms.age": items["pseudonyms.age"][:-1] + bytes([items["pseudonyms.age"][-1] ^ 1])}
    with pytest.raises(errors.PartDigestMismatch, match=r"pseudonyms\.age"):
        open_(keys, build(tmp_path / "flipped.tar", flipped.items()), out)
    assert_nothing_left(out, private_tmp)
    open_(keys, tmp_path / "p.tar", out)
    with pytest.raises(errors.AlreadyExists):
        open_(keys, tmp_path / "p.tar", out)


def test_sealed_stream_reads_back_in_order(tmp_path):
    with SealedTempFile(tmp_path) as sealed:
        writer = SealedStream(sealed, chunk_bytes=10)
        for i in range(25):
            writer.write(b"line %d\n" % i)
        assert b"".join(writer.blocks()) == b"".join(b"line %d\n" % i for i in range(25))


def test_sealed_chunks_put_many_at_once_read_back_as_put_one_by_one(tmp_path):
    """``put_many`` gives each chunk the handle ``put`` would have given it, across several ``pwritev`` batches (more
    bytes than one batch, more chunks than one batch) and between single puts."""
    from sendemodul.container import sealed as sealed_module

    small = [bytes([i % 251]) * (i % 37 + 1) for i in range(sealed_module._BATCH_CHUNKS + 300)]
    large = [bytes([i]) * (sealed_module._BATCH_BYTES // 3 + i) for i in range(7)]
    with SealedTempFile(tmp_path) as sealed:
        first = sealed.put(b"first")
        handles = sealed.put_many(iter(small))
        middle = sealed.put(b"")
        more = sealed.put_many(large)
        assert sealed.put_many([]) == []
        last = sealed.put(b"last")
        assert [first, *handles, middle, *more, last] == list(range(len(small) + len(large) + 3))
        assert sealed.get(first) == b"first" and sealed.get(middle) == b"" and sealed.get(last) == b"last"
        assert [sealed.get(h) for h in handles] == small
        assert [sealed.get(h) for h in more] == large
        assert [sealed.plain_size(h) for h in more] == [len(chunk) for chunk in large]


def test_sealed_chunks_survive_short_writes(tmp_path, monkeypatch):
    """A ``pwritev`` or ``pwrite`` that writes less than it was given (at most 1000 bytes here) is resumed where it
    stopped: every chunk reads back."""
    import os

    pwritev, pwrite = os.pwritev, os.pwrite
    monkeypatch.setattr(os, "pwritev", lambda fd, views, offset: pwritev(fd, [bytes(views[0])[:1000]], offset))
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: pwrite(fd, bytes(data)[:1000], offset))
    chunks = [bytes([i]) * (700 * i + 1) for i in range(12)]
    with SealedTempFile(tmp_path) as sealed:
        handles = [sealed.put(b"one" * 900), *sealed.put_many(chunks), sealed.put(b"two")]
        assert [sealed.get(h) for h in handles] == [b"one" * 900, *chunks, b"two"]


@pytest.mark.parametrize("how", ["put", "put_many", "the chunks' iterator"])
def test_a_sealed_file_whose_put_failed_part_way_takes_and_gives_nothing_more(tmp_path, monkeypatch, how):
    """After a put that failed (the disk, or the caller's iterator), a chunk's handle, its nonce, may have been
    spent: no later put may use it again under the same key, and no get reads past the gap."""
    import os

    def chunks():
        yield b"a" * 100
        raise ValueError("the caller's rows")

    with SealedTempFile(tmp_path) as sealed:
        first = sealed.put(b"before")
        assert sealed.get(first) == b"before"
        if how == "the chunks' iterator":
            with pytest.raises(ValueError):
                sealed.put_many(chunks())
        else:

            def full(*args):
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(os, "pwrite" if how == "put" else "pwritev", full)
            with pytest.raises(OSError):
                sealed.put(b"x" * 100) if how == "put" else sealed.put_many([b"x" * 100, b"y"])
            monkeypatch.undo()
        for again in (lambda: sealed.put(b"after"), lambda: sealed.put_many([b"after"]), lambda: sealed.get(first)):
            with pytest.raises(RuntimeError, match="failed part way"):
                again()


# ---------------------------------------------------------------------------------------------------------------------
# CLI


def test_keygen_writes_a_private_and_a_public_key_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["keygen", "-o", str(tmp_path / "unit.key"), "--comment", "0301-12-958935420"])
    assert result.exit_code == 0, result.output
    private = tmp_path / "unit.key"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    public_line = (tmp_path / "unit.key.pub").read_text()
    assert public_line == signing.public_line(key, "0301-12-958935420")
    assert public_line.startswith("ssh-ed25519 AAAA") and public_line in result.output
    again = runner.invoke(cli, ["keygen", "-o", str(private)])
    assert isinstance(again.exception, errors.UsageError) and "already exists" in str(again.exception)
    assert (tmp_path / "unit.key.pub").read_text() == public_line


def test_cli_ssb_open(keys, tmp_path, monkeypatch):
    monkeypatch.setenv("SENDEMODUL_HOME", str(tmp_path / "no-home"))
    write(keys, tmp_path / "c.tar", make_rows(30))
    package(keys, tmp_path / "c.tar", tmp_path / "p.tar")
    runner = CliRunner()
    (tmp_path / "unit.key.pub").write_text(signing.public_line(keys.unit_key, "unit"))
    result = runner.invoke(
        cli,
        [
            "ssb",
            "open",
            str(tmp_path / "p.tar"),
            "--identity",
            str(keys.ssb_identity_file),
            "-o",
            str(tmp_path / "out"),
            "--keys",
            str(keys.dir),
            "--unit-key",
            str(tmp_path / "unit.key.pub"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "0301-12-958935420 11F 2026: 30 records" in result.output
    assert "ID classes: BAD_CHECKSUM 3, FNR 24, MISSING 33" in result.output
    assert len(read_csv(tmp_path / "out" / "records.csv")) == 30

    (tmp_path / "tpf.pub").write_text(signing.public_line(keys.tpf_signing, "tpf"))
    result = runner.invoke(
        cli,
        [
            "ssb",
            "open",
            str(tmp_path / "p.tar"),
            "--identity",
            str(keys.ssb_identity_file),
            "-o",
            str(tmp_path / "out2"),
            "--tpf-key",
            str(tmp_path / "tpf.pub"),
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        [
            "ssb",
            "open",
            str(tmp_path / "p.tar"),
            "--identity",
            str(keys.ssb_identity_file),
            "-o",
            str(tmp_path / "out3"),
        ],
    )
    assert isinstance(result.exception, errors.KeyDirError) and "no tpf-signing key in" in str(result.exception)
    assert not (tmp_path / "out3" / "records.csv").exists()


def test_commands_have_help_with_an_example():
    runner = CliRunner()
    for args in (["keygen"], ["ssb"], ["ssb", "open"]):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output


def _identities_lines():
    """Identities lines with every kind of ID, in row_id order: valid, placeholder, bad date and checksum, DUF,
    blank, padded, too short, a TAB inside, non-ASCII digits."""
    values = [
        "05011399292",
        "05011399293",
        "01018000100",
        "32011399292",
        "45011399292",
        "05511399292",
        "05911399292",
        "",
        " ",
        " 05011399292 ",
        "0501139929",
        "0501139929x",
        "05011399\t292",
        "٣5011399292",
        "123456789012",
        "12345678901",
        "1234567890123",
    ]
    duf = "1234567890" + f"{sum(int(d) * w for d, w in zip('1234567890', (4, 6, 3, 2, 4, 6, 3, 2, 7, 5))) % 11:02d}"
    lines = []
    for i, value in enumerate([*values, duf, fnr(3), fnr(4)]):
        row_id = f"{i:024x}"
        lines.append(f"{row_id}\tPERSON_FODSELSNR\t{value}\n")
        lines.append(f"{row_id}\tPERSON_DUF\t{value if len(value) != 11 else ''}\n")
        lines.append(f"{row_id}\tDUF_NR\t{duf if i % 2 else value}\n")
    return "".join(lines).encode()


class _Collect:
    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += data


@pytest.mark.parametrize("tab_in_an_id", [True, False, "all 11 digits"])
def test_block_path_gives_the_same_lines_counts_and_feedback_as_line_by_line(tab_in_an_id):
    from sendemodul.pseudonymize import Pseudonymize

    block = _identities_lines()
    if not tab_in_an_id:  # else the whole block goes line by line
        block = b"".join(line for line in block.splitlines(keepends=True) if line.count(b"\t") == 2)
    if tab_in_an_id == "all 11 digits":  # the IDs that get a pseudonym are gathered as one array
        tab_in_an_id = False
        block = "".join(
            f"{i:024x}\tPERSON_FODSELSNR\t{value}\n{i:024x}\tPERSON_DUF\t\n"
            for i, value in enumerate([fnr(i) for i in range(40)] + ["01018000100", "05011399293", "71018000100"])
        ).encode()
    pseudonymizer = Pseudonymizer(MASTER_KEY, environment="prod", register="11F", version=1)
    one, many = _Collect(), _Collect()
    by_line = Pseudonymize(pseudonymizer, identity.classify_id, one)
    for line in block.decode().splitlines():
        by_line(*line.split("\t", 2))
    by_block = Pseudonymize(pseudonymizer, identity.classify_id, many)
    if not tab_in_an_id:
        by_block._lines = None  # the array path, not line by line
    middle = block.index(b"\n", len(block) // 2) + 1
    by_block.block(block[:middle])
    by_block.block(block[middle:])
    assert many.data == one.data
    assert by_block.counts == by_line.counts and by_block.feedback == by_line.feedback
    if b"DUF_NR" in block:
        assert by_block.counts[IdClass.DUF] and by_block.counts[IdClass.PLACEHOLDER]
        assert by_block.counts[IdClass.BAD_DATE]
    else:
        assert by_block.counts[IdClass.FNR] + by_block.counts[IdClass.SYNTHETIC] >= 40


def test_block_path_gives_the_test_vector():
    """The pseudonyms lines the worker writes carry the pseudonym of docs/container.md's vector."""
    from sendemodul.pseudonymize import Pseudonymize

    out = _Collect()
    block = f"{1:024x}\tPERSON_FODSELSNR\t05011399292\n{1:024x}\tPERSON_DUF\t\n".encode()
    Pseudonymize(
        Pseudonymizer(MASTER_KEY, environment="test", register="11F", version=1), identity.classify_id, out
    ).block(block)
    assert out.data == (
        f"{1:024x}\tPERSON_FODSELSNR\tv1-BV2NPQNQGFVDWGBKXPDV25ZCCV\tFNR\n{1:024x}\tPERSON_DUF\t\tMISSING\n".encode()
    )


def test_block_path_refuses_a_bad_id_field_name_like_line_by_line():
    from sendemodul.pseudonymize import Pseudonymize

    pseudonymizer = Pseudonymizer(MASTER_KEY, environment="prod", register="11F", version=1)
    block = f"{0:024x}\tPERSON FNR\t05011399292\n".encode()
    with pytest.raises(errors.PartContentError, match="ID field name"):
        Pseudonymize(pseudonymizer, identity.classify_id, _Collect()).block(block)


def test_pseudonyms_of_many_ids_and_base32_prefixes():
    import base64

    from sendemodul.pseudonym import base32_prefixes

    digests = [os.urandom(32) for _ in range(300)] + [bytes(32), b"\xff" * 32]
    encoded = base32_prefixes(b"".join(digests))
    assert [encoded[32 * i : 32 * i + 32] for i in range(len(digests))] == [base64.b32encode(d[:20]) for d in digests]
    assert base32_prefixes(b"") == b""
    pseudonymizer = Pseudonymizer(MASTER_KEY, environment="prod", register="11F", version=3)
    ids = [fnr(i) for i in range(50)]
    assert pseudonymizer.pseudonyms([i.encode() for i in ids]) == [pseudonymizer.pseudonym(i).encode() for i in ids]


def _random_lines(seed, n):
    """``n`` seeded random identities rows: valid, mistyped and blank fnr, DUF numbers, letters and other lengths."""
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(n):
        value = rng.choice(
            [
                fnr(rng.randrange(10_000)),
                fnr(rng.randrange(10_000))[:10] + str(rng.randrange(10)),
                "",
                "".join(rng.choice("0123456789") for _ in range(rng.choice([11, 12, 10, 13]))),
                "".join(rng.choice("0123456789abc ") for _ in range(11)),
            ]
        )
        field = rng.choice(["PERSON_FODSELSNR", "PERSON_DUF", "DUF_NR"])
        lines.append(f"{i // 2:024x}\t{field}\t{value}\n")
    return "".join(lines).encode()


def _by_child_and_in_process(blocks):
    """The lines, counts and feedback of ``blocks`` through :meth:`Pseudonymize.block` with the child process and
    without it."""
    from sendemodul.pseudonymize import Pseudonymize

    pseudonymizer = Pseudonymizer(MASTER_KEY, environment="prod", register="11F", version=2)
    reference, piped = _Collect(), _Collect()
    in_process = Pseudonymize(pseudonymizer, identity.classify_id, reference)
    for block in blocks:
        in_process.block(block)
    with pseudonymizer.child(*in_process.layout[1:]) as child:
        by_child = Pseudonymize(pseudonymizer, identity.classify_id, piped, child)
        for block in blocks:
            by_child.block(block)
        by_child.finish()
    assert (by_child.counts, by_child.feedback) == (in_process.counts, in_process.feedback)
    return piped.data, reference.data


def test_child_process_gives_the_same_lines_counts_and_feedback_as_in_process():
    """SSB's cases, seeded random blocks, and a block with a TAB in an ID (line by line, between piped blocks)."""
    cases = _identities_lines()
    plain = b"".join(line for line in cases.splitlines(keepends=True) if line.count(b"\t") == 2)
    blocks = [plain, _random_lines(1, 3000), cases, _random_lines(2, 5000), _random_lines(3, 1), plain]
    piped, reference = _by_child_and_in_process(blocks)
    assert piped == reference
    assert piped.count(b"\tv2-") > 500
    assert (
        b"v2-" + Pseudonymizer(MASTER_KEY, environment="prod", register="11F", version=2).pseudonym(fnr(3)).encode()[3:]
        in piped
    )


@pytest.mark.parametrize("big_first", [False, True])
def test_blocks_made_in_process_while_the_child_is_behind_are_written_in_turn(big_first):
    """With the child stopped (SIGSTOP), the blocks after the first CHILD_BLOCKS_IN_FLIGHT sent to it, and a block
    whose frame has no room in its input pipe, are made in this process and wait behind the child's; once it runs
    again, the lines are those of the in-process path, in order."""
    import signal

    from sendemodul import pseudonymize as module
    from sendemodul.pseudonymize import Pseudonymize

    cases = _identities_lines()
    plain = b"".join(line for line in cases.splitlines(keepends=True) if line.count(b"\t") == 2)
    blocks = [_random_lines(seed, 400 + seed) for seed in range(10)] + [cases, plain, _random_lines(11, 2)]
    if big_first:  # two blocks of about 900 KB: the second's frame does not fit beside the first's in 1 MiB
        blocks[:2] = [_random_lines(20, 1000) * 18, _random_lines(21, 1000) * 18]
    pseudonymizer = Pseudonymizer(MASTER_KEY, environment="prod", register="11F", version=2)
    reference, piped = _Collect(), _Collect()
    in_process = Pseudonymize(pseudonymizer, identity.classify_id, reference)
    for block in blocks:
        in_process.block(block)
    assert module.CHILD_BLOCKS_IN_FLIGHT == 3
    stopped = 7
    assert stopped <= module.MAX_PENDING_BLOCKS  # else block() would wait for the stopped child
    sent, made_here = None, bytes
    expected = [sent, made_here, sent, sent] if big_first else [sent, sent, sent, made_here]
    expected += [made_here] * (stopped - len(expected))
    with pseudonymizer.child(*in_process.layout[1:]) as child:
        by_child = Pseudonymize(pseudonymizer, identity.classify_id, piped, child)
        assert child._pipe_bytes == 1024**2
        os.kill(child.pid, signal.SIGSTOP)
        try:
            for block in blocks[:stopped]:
                by_child.block(block)
            assert [lines if lines is None else type(lines) for lines in by_child._pending] == expected
            assert piped.data == b""  # nothing is written out of turn
        finally:
            os.kill(child.pid, signal.SIGCONT)
        for block in blocks[stopped:]:
            by_child.block(block)
        by_child.finish()
    assert piped.data == reference.data
    assert (by_child.counts, by_child.feedback) == (in_process.counts, in_process.feedback)


def test_make_package_gives_the_same_pseudonyms_with_and_without_the_child_process(keys, tmp_path, monkeypatch):
    import sendemodul.package

    monkeypatch.setattr(sendemodul.package, "BLOCK_BYTES", 4096)  # many blocks, so many frames in turn
    write(keys, tmp_path / "c.tar", make_rows(1500))
    outputs = []
    for pseudonym_process in (True, False):
        out = tmp_path / f"p-{pseudonym_process}.tar"
        result = package(keys, tmp_path / "c.tar", out, pseudonym_process=pseudonym_process)
        outputs.append(
            (result.seal.counts, result.feedback, decrypt(dict(members(out))["pseudonyms.age"], keys.ssb_identities))
        )
    assert outputs[0] == outputs[1]
    assert outputs[0][0]["FNR"] == 1200


def test_a_killed_child_process_fails_the_package_and_keeps_nothing(keys, tmp_path, private_tmp, monkeypatch):
    import signal

    import sendemodul.package
    from sendemodul.pseudonym_pipe import PseudonymChild, PseudonymChildFailed

    monkeypatch.setattr(sendemodul.package, "BLOCK_BYTES", 4096)
    submit = PseudonymChild.submit
    frames = []

    def submit_then_kill(self, count, *args, **options):
        sent = submit(self, count, *args, **options)
        if sent:
            frames.append(count)
            if len(frames) == 3:
                os.kill(self.pid, signal.SIGKILL)
        return sent

    monkeypatch.setattr(PseudonymChild, "submit", submit_then_kill)
    write(keys, tmp_path / "c.tar", make_rows(1500))
    (tmp_path / "out").mkdir()
    with pytest.raises(PseudonymChildFailed, match="exit status -9"):
        package(keys, tmp_path / "c.tar", tmp_path / "out" / "p.tar")
    assert len(frames) >= 3
    assert_nothing_left(tmp_path / "out", private_tmp)


def test_child_process_gets_the_key_over_its_stdin_and_stays_small():
    """Not in its argv or environment; it imports no numpy (its RSS stays small); a malformed frame ends it."""
    from sendemodul.pseudonym_child import FRAME_HEADER
    from sendemodul.pseudonym_pipe import PseudonymChildFailed

    pseudonymizer = Pseudonymizer(MASTER_KEY, environment="test", register="11F", version=1)
    key = derive_key(MASTER_KEY, environment="test", register="11F", version=1)
    layout = ((b"\tFNR\n", b"\tMISSING\n"), (True, False))
    child = pseudonymizer.child(*layout)
    with child:
        child.submit(1, b"05011399292", b"r1\tF\t\x10r2\tD\t\x11", b"\x00\x01")
        assert child.answer() == b"r1\tF\tv1-BV2NPQNQGFVDWGBKXPDV25ZCCV\tFNR\nr2\tD\t\tMISSING\n"
        for name in ("cmdline", "environ"):
            with open(f"/proc/{child.pid}/{name}", "rb") as f:
                seen = f.read()
            assert key not in seen and key.hex().encode() not in seen and MASTER_KEY.hex().encode() not in seen
        assert b"\0MALLOC_TRIM_THRESHOLD_=8388608\0" in seen  # its blocks' memory kept (environ, read last)
        with open(f"/proc/{child.pid}/status") as f:
            status = f.read()
        rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
        assert rss_kib < 20 * 1024
    for frame in (
        FRAME_HEADER.pack(2, 3, 0, 0) + b"123",  # two IDs announced, one sent
        FRAME_HEADER.pack(1, 3, 4, 1) + b"123" + b"r1\t\x11" + b"\x01",  # a pseudonym for a line that has none
        FRAME_HEADER.pack(0, 0, 4, 1) + b"r1\t\x12" + b"\x02",  # a class code the layout does not have
        FRAME_HEADER.pack(1, 3, 4, 1) + b"123" + b"r1\t\x11" + b"\x00",  # a mark that is not the line's code
        FRAME_HEADER.pack(1, 3, 5, 1) + b"123" + b"r%s\t\x10" + b"\x00",  # a % in a line start
    ):
        child = pseudonymizer.child(*layout)
        with pytest.raises(PseudonymChildFailed, match="ended before it answered"), child:
            child._send(frame)
            child.in_flight += 1
            child.answer()


def test_child_serve_refuses_malformed_input():
    import io

    from sendemodul.pseudonym_child import (
        FRAME_HEADER,
        SIZE,
        encode_layout,
        hmac_base32,
        hmac_states,
        join_lines,
        serve,
    )

    key = bytes(range(32))
    layout = (b"v7-", (b"\tFNR\n", b"\tMISSING\n"), (True, False))
    setup = key + SIZE.pack(len(encode_layout(*layout))) + encode_layout(*layout)
    kept, codes = b"a\t\x10b\t\x11c\t\x10", b"\x00\x01\x00"
    frame = FRAME_HEADER.pack(2, 23, 9, 3) + b"05011399292\n12345678901" + kept + codes
    out = io.BytesIO()
    assert serve(io.BytesIO(setup + frame + FRAME_HEADER.pack(0, 0, 0, 0)), out) == 0
    lines = join_lines(kept, codes, hmac_base32(*hmac_states(key), [b"05011399292", b"12345678901"]), layout)
    assert out.getvalue() == SIZE.pack(len(lines)) + lines + SIZE.pack(0)
    assert lines.startswith(b"a\tv7-") and b"\nb\t\tMISSING\nc\tv7-" in lines
    for bad in (
        key[:31],
        setup[:-3],
        setup + frame[:5],
        setup + frame[:-1],
        setup + FRAME_HEADER.pack(3, 23, 9, 3) + frame[16:],
        setup + FRAME_HEADER.pack(2, 23, 9, 3) + frame[16:-1] + b"\x01",
        # a line marked with a code the layout does not have (its size gives it away), and a line break for a mark
        setup + FRAME_HEADER.pack(1, 11, 6, 2) + b"05011399292" + b"a\t\x10b\t\x13" + b"\x00\x01",
        setup + FRAME_HEADER.pack(1, 11, 6, 2) + b"05011399292" + b"a\t\x10b\t\n" + b"\x00\x01",
    ):
        assert serve(io.BytesIO(bad), io.BytesIO()) == 2


def test_the_digest_maps_only_an_anonymous_file_and_survives_a_container_truncated_under_it(tmp_path, monkeypatch):
    """The received container belongs to the front's user: if the pseudonymizer mapped it, a front that truncated it
    meanwhile would kill the pseudonymizer (SIGBUS on the next page). So a linked file is read, and its truncation
    ends the digest in None; only an unlinked temporary file is mapped (same digests at any offset). The truncation
    runs in a child Python, so that a fault would fail this test instead of killing pytest."""
    import hashlib
    import subprocess
    import sys

    from sendemodul import package as package_module
    from sendemodul.package import _Digest

    data = os.urandom(3 * 1024 * 1024 + 17)
    monkeypatch.setattr(package_module, "DIGEST_WINDOW_BYTES", 1024**2)
    with tempfile.TemporaryFile(dir=tmp_path) as anonymous:
        anonymous.write(data)
        anonymous.flush()
        assert os.fstat(anonymous.fileno()).st_nlink == 0
        for offset in (0, 5, 4096, 4097, 1024**2 + 3):
            with _Digest([b"x", (anonymous.fileno(), offset, len(data) - offset - 5), b"yz"], "test") as digest:
                assert digest.result() == hashlib.sha256(b"x" + data[offset:-5] + b"yz").hexdigest()
    (tmp_path / "container").write_bytes(data)
    truncating = f"""
import hashlib, os
from sendemodul import package
package.DIGEST_WINDOW_BYTES = 1024 ** 2
class Truncating:  # hashlib's sha256, with the file truncated as a front could, while it reads the first window
    def __init__(self):
        self.sha, self.done = hashlib.sha256(), False
    def update(self, piece):
        if not self.done:
            os.truncate({str(tmp_path / "container")!r}, 4096)
            self.done = True
        self.sha.update(piece)
digest = package._Digest([], "test")
digest.result()
with open({str(tmp_path / "container")!r}, "rb") as container:
    print(digest._hash_range(Truncating(), container.fileno(), 0, {len(data)}))
"""
    done = subprocess.run([sys.executable, "-c", truncating], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def test_copy_file_range_copies_in_the_kernel_or_by_a_loop_and_refuses_a_short_source(tmp_path, monkeypatch):
    import hashlib
    import itertools

    from sendemodul import package as package_module
    from sendemodul.container import tar
    from sendemodul.container.tar import TarWriter, copy_file_range, tar_pieces
    from sendemodul.package import _Digest

    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "source").write_bytes(data)
    with open(tmp_path / "source", "rb") as source, open(tmp_path / "copy", "wb") as out:
        out.write(b"head")
        out.flush()
        pieces = []
        monkeypatch.setattr(tar, "COPY_PIECE_BYTES", 1024**2)
        copy_file_range(  # the kernel's copy, file to file, in pieces
            source.fileno(), out.fileno(), 5, len(data) - 10, lambda fd, start, n: pieces.append((fd, start, n))
        )
        assert pieces[0][:2] == (out.fileno(), 4) and sum(n for _, _, n in pieces) == len(data) - 10
        assert len(pieces) == 4
        assert all(start + n == after for (_, start, n), (_, after, _) in itertools.pairwise(pieces))
        with pytest.raises(ValueError, match="ended 5 bytes early"):
            copy_file_range(source.fileno(), out.fileno(), len(data) - 5, 10)
        # The digest of pieces: bytes and file ranges at any offset (the mapped windows start at page boundaries)
        monkeypatch.setattr(package_module, "DIGEST_WINDOW_BYTES", 1024**2)
        for offset in (0, 5, 4096, 4097, 1024**2 + 3):
            with _Digest([b"x", (source.fileno(), offset, len(data) - offset - 5), b"yz"], "test") as digest:
                assert digest.result() == hashlib.sha256(b"x" + data[offset:-5] + b"yz").hexdigest()
        with _Digest([(source.fileno(), 5, 0), (source.fileno(), len(data), 0)], "test") as digest:
            assert digest.result() == hashlib.sha256().hexdigest()
        with _Digest([(source.fileno(), 5, len(data))], "test") as digest:
            assert digest.result() is None  # the file ends early
        # An archive's pieces are the bytes TarWriter writes member by member
        pieces = tar_pieces([("a", b"1" * 700), ("b", (source.fileno(), 5, 1000)), ("c", b""), ("d", b"22")])
        with open(tmp_path / "by-pieces", "wb") as by_pieces, open(tmp_path / "by-members", "wb") as by_members:
            TarWriter(by_pieces).write_pieces(pieces)
            writer = TarWriter(by_members)
            writer.add("a", b"1" * 700)
            writer.add_file_range("b", 1000, source.fileno(), 5)
            writer.add("c", b"")
            writer.add("d", b"22")
            writer.close()
        assert (tmp_path / "by-pieces").read_bytes() == (tmp_path / "by-members").read_bytes()
        with _Digest(pieces, "test") as digest:
            assert digest.result() == hashlib.sha256((tmp_path / "by-pieces").read_bytes()).hexdigest()
        read, write = os.pipe()  # the kernel does not copy into a pipe: the loop does
        try:
            copy_file_range(source.fileno(), write, 100, 1000, lambda fd, start, n: pieces.append((fd, start, n)))
            assert os.read(read, 2000) == data[100:1100]
            assert pieces[-1] == (write, 0, 1000)
        finally:
            os.close(read)
            os.close(write)
    assert (tmp_path / "copy").read_bytes()[:4] == b"head"
    assert (tmp_path / "copy").read_bytes()[4:] == data[5:-5] + data[-5:]


def test_equal_at_says_what_the_bytes_say():
    """The block path's comparison of field names (8-byte words, or a window for short names) against slicing: each
    name length from 1 to 40 at every position, and the name with one byte changed at each place."""
    import random

    import numpy as np

    from sendemodul.pseudonymize import _equal_at

    rng = random.Random(3)
    for width in range(1, 41):
        name = bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_") for _ in range(width))
        variants = [name] + [name[:k] + b"a" + name[k + 1 :] for k in range(width)]
        block = b"\t".join(rng.choice(variants) for _ in range(200)) + b"\t\n"
        data = np.frombuffer(block, np.uint8)
        positions = np.asarray([i for i in range(len(block) - width) if block[i - 1 : i] in (b"", b"\t")], np.intp)
        expected = [block[p : p + width] == name for p in positions.tolist()]
        assert _equal_at(data, positions, name).tolist() == expected
        assert any(expected) and not all(expected)


def test_the_room_before_the_pseudonyms_is_known_only_where_every_seal_would_take_as_much(keys, tmp_path):
    """The smallest seal (every count 0) and the largest (each count as large as the identities' bytes) in the same
    512-byte blocks: known, and what the package's own seal then takes; else (recipient key ids that put the
    seal's length next to a block's end) not known."""
    from sendemodul.container import Manifest, TarReader
    from sendemodul.package import _head_size

    write(keys, tmp_path / "c.tar", make_rows(20))
    with open(tmp_path / "c.tar", "rb") as f:
        reader = TarReader(f)
        manifest = Manifest.parse(reader.read_member("manifest.json", max_size=1 << 20, error=errors.ManifestInvalid))
        signature = reader.read_member("manifest.sig", max_size=4096, error=errors.ManifestUnsigned)
    fields = {"manifest": manifest, "environment": "test", "key_version": 1}
    head = _head_size(signature, 64, 10**6, **fields, recipients=("ssb-2026",))
    assert head is not None and head % 512 == 0
    sizes = {
        extra: _head_size(signature, 64, 10**6, **fields, recipients=("ssb-2026", "k" * extra))
        for extra in range(1, 600)
    }
    assert None in sizes.values() and len(set(sizes.values()) - {None}) >= 2


@pytest.mark.integration
@pytest.mark.parametrize("how", ["none", "parent", "child"])
def test_block_memory_is_kept_for_the_next_block_not_faulted_in_again(how):
    """Arrays of a few hundred KiB made and freed per block: with glibc's own thresholds the heap is given back and
    faulted in again (zeroed) at each turn; with the pseudonymizer's (``mallopt`` in the worker, the environment of
    its child) it is kept."""
    script = (
        "import resource, sys\n"
        "import numpy as np\n"
        "if sys.argv[1] == 'parent':\n"
        "    from sendemodul.package import _keep_block_memory\n"
        "    _keep_block_memory()\n"
        "def turns():\n"
        "    for _ in range(100):\n"
        "        a, b, c = np.ones(600_000, np.uint8), np.ones(600_000, np.uint8), np.ones(300_000, np.uint8)\n"
        "        del a, b, c\n"
        "turns()\n"
        "faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "turns()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)\n"
    )
    from sendemodul.pseudonym_pipe import CHILD_MALLOC_ENV

    env = {**os.environ, **(CHILD_MALLOC_ENV if how == "child" else {})}
    faults = int(subprocess.run([sys.executable, "-c", script, how], env=env, check=True, capture_output=True).stdout)
    assert (faults > 100 * 100) if how == "none" else (faults < 1000)
