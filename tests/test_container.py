"""The container format: writing, the key directory, and the verifier's refusals (docs/container.md)."""

import base64
import hashlib
import io
import itertools
import json
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.deep_json import deeply_nested_manifests

from sendemodul import agepq, container, errors, identity, keydir, signing
from sendemodul.container import MEMBERS, TarWriter, canonical_json, write_container
from sendemodul.container.manifest import MAX_JSON_BYTES
from sendemodul.identity import Unit
from sendemodul.verify import verify_container

TODAY = date(2026, 3, 1)
ALNA = Unit("0301", "12", "958935420")
STAVANGER = Unit("1103", "00", "964965226")


@dataclass
class Keys:
    dir: Path
    key_dir: keydir.KeyDirectory
    tpf: keydir.RecipientKey
    ssb: keydir.RecipientKey
    tpf_2025: keydir.RecipientKey
    tpf_identity_file: Path
    ssb_identity_file: Path
    unit_key: Ed25519PrivateKey
    tpf_signing: Ed25519PrivateKey

    @property
    def tpf_identities(self):
        return keydir.load_age_identities(self.tpf_identity_file)

    @property
    def ssb_identities(self):
        return keydir.load_age_identities(self.ssb_identity_file)


def make_keys(base):
    """A key directory (tpf-2026, ssb-2026, the expired tpf-2025, tpf-signing-2026) and the private keys beside it."""
    key_dir, private = base / "keys", base / "private"
    key_dir.mkdir()
    private.mkdir()

    def age_key(key_id, role, year):
        secret, recipient = keydir.generate_age_identity()
        key = keydir.RecipientKey(key_id, role, recipient, date(year, 1, 1), date(year, 12, 31), "test key")
        (key_dir / f"{key_id}.toml").write_text(key.to_toml())
        (private / f"{key_id}.agekey").write_text(f"# {key_id}\n{secret}\n")
        return key

    tpf, ssb = age_key("tpf-2026", "tpf", 2026), age_key("ssb-2026", "ssb", 2026)
    tpf_2025 = age_key("tpf-2025", "tpf", 2025)
    tpf_signing = Ed25519PrivateKey.generate()
    (key_dir / "tpf-signing-2026.toml").write_text(
        keydir.RecipientKey(
            "tpf-signing-2026",
            "tpf-signing",
            signing.public_line(tpf_signing, "tpf signing").strip(),
            date(2026, 1, 1),
            date(2026, 12, 31),
        ).to_toml()
    )
    return Keys(
        key_dir,
        keydir.load_key_dir(key_dir),
        tpf,
        ssb,
        tpf_2025,
        private / "tpf-2026.agekey",
        private / "ssb-2026.agekey",
        Ed25519PrivateKey.generate(),
        tpf_signing,
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("keys"))


def fnr(i):
    """A valid fødselsnummer, different for each i."""
    born = date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
    return next(f for n in range(i % 500, 1000) if (f := identity.generate_fnr(born, n)))


def make_rows(n, *, start=0):
    """``n`` rows with distinct records; every tenth ID has a wrong check digit, another tenth is blank."""
    rows = []
    for i in range(start, start + n):
        value = fnr(i)
        if i % 10 == 3:
            value = value[:10] + str((int(value[10]) + 1) % 10)
        elif i % 10 == 5:
            value = ""
        rows.append(((("PERSON_FODSELSNR", value), ("PERSON_DUF", "")), f"0301{i:08d}" + " " * 11 + "æøå record"))
    return rows


def write(keys, path, rows=None, *, unit=ALNA, tpf=None, ssb=None, signing_key=None, **options):
    return write_container(
        path,
        unit=unit,
        register="11F",
        periode=2026,
        signing_key=signing_key or keys.unit_key,
        tpf_recipients=tpf or [keys.tpf],
        ssb_recipients=ssb or [keys.ssb],
        rows=make_rows(20) if rows is None else rows,
        **options,
    )


def verify(keys, path, *, unit=ALNA, signing_keys=None, is_replay=lambda container_id: False):
    with open(path, "rb") as stream:
        return verify_container(
            stream,
            unit=unit,
            key_dir=keys.key_dir,
            today=TODAY,
            is_replay=is_replay,
            signing_keys=[keys.unit_key.public_key()] if signing_keys is None else signing_keys,
        )


def members(path):
    with tarfile.open(path) as tar:
        return [(info.name, tar.extractfile(info).read()) for info in tar.getmembers()]


def build(path, items):
    with open(path, "wb") as out:
        tar = TarWriter(out)
        for name, data in items:
            tar.add(name, data)
        tar.close()
    return path


def resign(keys, items, change):
    """The members with the manifest changed by ``change(dict)`` and signed again with the unit's key."""
    items = dict(items)
    manifest = json.loads(items["manifest.json"])
    change(manifest)
    items["manifest.json"] = canonical_json(manifest)
    items["manifest.sig"] = keys.unit_key.sign(items["manifest.json"])
    return list(items.items())


def set_part(name, data):
    def change(manifest):
        manifest["parts"][name].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())

    return change


def decrypt(data, identities):
    """The plaintext of a part; classic parts are opened by pyrage (another age than the one that wrote them)."""
    out = io.BytesIO()
    if all(isinstance(i, agepq.X25519Identity) for i in identities):
        pyrage.decrypt_io(io.BytesIO(data), out, [pyrage.x25519.Identity.from_str(str(i)) for i in identities])
    else:
        agepq.decrypt_io(io.BytesIO(data), out, identities)
    return out.getvalue().decode("utf-8")


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def test_written_container_verifies(keys, tmp_path):
    """A container as written passes every check of the verifier, which returns its manifest."""
    written = write(keys, tmp_path / "c.tar")
    assert verify(keys, tmp_path / "c.tar") == written
    assert written.records == 20 and written.unit == ALNA and not written.no_participants


def test_tar_shape_is_exact(keys, tmp_path):
    """Four plain members in fixed order, mode 0644, owner 0, time 0, no owner names, no pax headers."""
    write(keys, tmp_path / "c.tar")
    data = (tmp_path / "c.tar").read_bytes()
    with tarfile.open(tmp_path / "c.tar") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == list(MEMBERS)
    for info in infos:
        assert (info.type, info.mode, info.uid, info.gid, info.mtime, info.uname, info.gname, info.pax_headers) == (
            tarfile.REGTYPE,
            0o644,
            0,
            0,
            0,
            "",
            "",
            {},
        )
        assert data[info.offset : info.offset + 512] == container.tar_header(info.name, info.size)
    assert data.endswith(bytes(1024)) and len(data) % 512 == 0


def test_manifest_is_canonical_and_signed(keys, tmp_path):
    """manifest.json is canonical JSON with exactly the documented fields; manifest.sig signs its bytes."""
    manifest = write(keys, tmp_path / "c.tar")
    items = dict(members(tmp_path / "c.tar"))
    raw = items["manifest.json"]
    obj = json.loads(raw)
    assert raw == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert sorted(obj) == [
        "bydel",
        "container_id",
        "created",
        "format",
        "kommunenr",
        "no_participants",
        "orgnr",
        "parts",
        "periode",
        "producer",
        "records",
        "register",
    ]
    assert obj["format"] == "sendemodul-container/1" and obj["producer"].startswith("sendemodul/")
    assert obj["parts"]["identities.age"] == {
        "recipients": ["tpf-2026"],
        "size": len(items["identities.age"]),
        "sha256": hashlib.sha256(items["identities.age"]).hexdigest(),
    }
    assert obj["parts"]["data.age"]["recipients"] == ["ssb-2026"]
    keys.unit_key.public_key().verify(items["manifest.sig"], raw)
    assert manifest.raw == raw


def test_parts_follow_the_grammar_and_are_sorted_by_row_id(keys, tmp_path):
    """Each part starts with its header; both parts hold the same random row_ids, sorted; a row's IDs stay in order."""
    rows = make_rows(300)
    manifest = write(keys, tmp_path / "c.tar", rows, header_lines=['<Avgiver Kommunenummer="0301"/>'])
    items = dict(members(tmp_path / "c.tar"))
    identities = decrypt(items["identities.age"], keys.tpf_identities).split("\n")
    data = decrypt(items["data.age"], keys.ssb_identities).split("\n")
    cid = manifest.container_id
    assert identities[0] == f"#sendemodul/1 container_id={cid} part=identities records=300"
    assert data[0] == f"#sendemodul/1 container_id={cid} part=data records=300"
    assert data[1] == '#header\t<Avgiver Kommunenummer="0301"/>'
    assert identities[-1] == data[-1] == ""
    id_lines = [line.split("\t") for line in identities[1:-1]]
    data_lines = [line.split("\t", 1) for line in data[2:-1]]
    row_ids = [row_id for row_id, _ in data_lines]
    assert row_ids == sorted(row_ids) and len(set(row_ids)) == 300
    assert all(container.ROW_ID_PATTERN.fullmatch(row_id) for row_id in row_ids)
    assert [line[0] for line in id_lines] == [r for r in row_ids for _ in range(2)]
    assert [line[1] for line in id_lines] == ["PERSON_FODSELSNR", "PERSON_DUF"] * 300
    fnr_of_row = {fields[0]: fields[2] for fields in id_lines if fields[1] == "PERSON_FODSELSNR"}
    assert {record: fnr_of_row[row_id] for row_id, record in data_lines} == {record: ids[0][1] for ids, record in rows}
    assert [record for _, record in data_lines] != [record for _, record in rows]


def test_sort_spills_to_the_sealed_temp_file(keys, tmp_path, monkeypatch):
    """With a tiny memory budget every bucket is spilled in many sealed chunks, and the parts are still sorted."""
    monkeypatch.setattr(container.shuffle, "_BUDGET_BYTES", 2048)
    write(keys, tmp_path / "c.tar", make_rows(500))
    data = decrypt(dict(members(tmp_path / "c.tar"))["data.age"], keys.ssb_identities).split("\n")[1:-1]
    assert len(data) == 500 and data == sorted(data)
    assert verify(keys, tmp_path / "c.tar").records == 500


def test_sealed_temp_file_never_holds_plaintext(tmp_path):
    """What reaches the disk is sealed: the plaintext does not appear in the file, and reads come back whole."""
    with container.SealedTempFile(tmp_path) as sealed:
        chunks = [b"05011399292 secret line %d\n" % i for i in range(3)]
        handles = [sealed.put(chunk) for chunk in chunks]
        on_disk = Path(f"/proc/self/fd/{sealed._file.fileno()}").read_bytes()
        # each chunk sealed: its bytes and a 16-byte GCM tag
        assert b"05011399292" not in on_disk and len(on_disk) == sum(len(chunk) + 16 for chunk in chunks)
        assert [sealed.get(handle) for handle in reversed(handles)] == chunks[::-1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_age_cli_opens_each_part_only_with_its_own_key(keys, tmp_path):
    """The age tool decrypts identities.age with the TPF key and data.age with the SSB key, and not crosswise."""
    manifest = write(keys, tmp_path / "c.tar")
    with tarfile.open(tmp_path / "c.tar") as tar:
        tar.extractall(tmp_path / "x", filter="data")

    def age(identity_file, part):
        return subprocess.run(
            ["age", "-d", "-i", str(identity_file), str(tmp_path / "x" / part)], capture_output=True, check=False
        )

    opened = age(keys.tpf_identity_file, "identities.age")
    assert opened.returncode == 0
    assert opened.stdout.startswith(f"#sendemodul/1 container_id={manifest.container_id} part=identities".encode())
    opened = age(keys.ssb_identity_file, "data.age")
    assert opened.returncode == 0 and b"part=data records=20\n" in opened.stdout
    assert age(keys.ssb_identity_file, "identities.age").returncode != 0
    assert age(keys.tpf_identity_file, "data.age").returncode != 0


def test_no_participants(keys, tmp_path):
    """An empty delivery has records 0, no_participants true, and parts holding only their header."""
    manifest = write(keys, tmp_path / "c.tar", [], no_participants=True)
    assert (manifest.records, manifest.no_participants) == (0, True)
    assert verify(keys, tmp_path / "c.tar") == manifest
    items = dict(members(tmp_path / "c.tar"))
    assert decrypt(items["data.age"], keys.ssb_identities) == (
        f"#sendemodul/1 container_id={manifest.container_id} part=data records=0\n"
    )


@pytest.mark.parametrize(
    "row, problem",
    [
        (((("PERSON_FODSELSNR", "0501\t1399292"),), "record"), "TAB or line break"),
        (((("PERSON_FODSELSNR", "05011399292\n"),), "record"), "TAB or line break"),
        (((("PERSON FODSELSNR", "05011399292"),), "record"), "not a valid ID field name"),
        (((("PERSON_FODSELSNR", "05011399292"),), "two\nlines"), "line break"),
        (((), "record"), "no ID field"),
    ],
)
def test_rows_that_cannot_go_into_a_container(keys, tmp_path, row, problem):
    """A TAB or line break in an ID, a line break in a record, or a row without IDs is refused, naming the row."""
    with pytest.raises(errors.ContainerInputError, match=f"row 2.*{problem}"):
        write(keys, tmp_path / "c.tar", [make_rows(1)[0], row])
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_rows_with_no_participants_and_wrong_roles(keys, tmp_path):
    with pytest.raises(errors.ContainerInputError, match="no participants"):
        write(keys, tmp_path / "c.tar", make_rows(1), no_participants=True)
    with pytest.raises(ValueError, match="tpf keys"):
        write(keys, tmp_path / "c.tar", tpf=[keys.ssb])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------------
# The verifier's refusals: each failure has its own error class and code


@pytest.fixture
def good(keys, tmp_path):
    write(keys, tmp_path / "good.tar", make_rows(40))
    return tmp_path / "good.tar"


def refused(keys, path, error, **options):
    with pytest.raises(error) as caught:
        verify(keys, path, **options)
    assert type(caught.value) is error
    return str(caught.value)


def test_truncated_container(keys, good, tmp_path):
    data = good.read_bytes()
    for cut in (100, 600, len(data) // 2, len(data) - 1024 - 1):
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        refused(keys, tmp_path / "cut.tar", errors.ContainerTruncated)


def test_truncated_part(keys, good, tmp_path):
    """A part shorter than the manifest says is refused by its size, before any hashing."""
    items = dict(members(good))
    items["identities.age"] = items["identities.age"][:-50]
    message = refused(keys, build(tmp_path / "t.tar", items.items()), errors.PartSizeMismatch)
    assert "identities.age" in message


def test_flipped_byte(keys, good, tmp_path):
    data = bytearray(good.read_bytes())
    offset = data.rindex(b"data.age") + 512 + 300
    data[offset] ^= 1
    (tmp_path / "flipped.tar").write_bytes(data)
    assert "data.age" in refused(keys, tmp_path / "flipped.tar", errors.PartDigestMismatch)


def test_part_swapped_in_from_another_container(keys, good, tmp_path):
    """A part from another container of the same unit does not match the signed manifest."""
    write(keys, tmp_path / "other.tar", make_rows(40, start=1000))
    items, other = dict(members(good)), dict(members(tmp_path / "other.tar"))
    same_size = len(items["data.age"]) == len(other["data.age"])
    items["data.age"] = other["data.age"]
    refused(
        keys,
        build(tmp_path / "swapped.tar", items.items()),
        errors.PartDigestMismatch if same_size else errors.PartSizeMismatch,
    )


def test_replayed_container(keys, good):
    manifest = verify(keys, good)
    message = refused(keys, good, errors.ContainerReplayed, is_replay=lambda cid: cid == manifest.container_id)
    assert manifest.container_id in message


def test_manifest_naming_another_unit(keys, tmp_path):
    write(keys, tmp_path / "c.tar", unit=STAVANGER)
    assert "1103-00-964965226" in refused(keys, tmp_path / "c.tar", errors.UnitMismatch)


@pytest.mark.parametrize("change", ["extra", "missing", "order", "renamed"])
def test_extra_missing_or_misordered_member(keys, good, tmp_path, change):
    items = members(good)
    if change == "extra":
        items.append(("notes.txt", b"hello"))
    elif change == "missing":
        del items[3]
    elif change == "order":
        items[2], items[3] = items[3], items[2]
    else:
        items[0] = ("MANIFEST.json", items[0][1])
    refused(keys, build(tmp_path / "c.tar", items), errors.ContainerMembersError)


def test_link_directory_and_pax_members_are_refused(keys, good, tmp_path):
    """Only the exact plain-file header is accepted: a symlink, a directory or a pax header is not."""
    data = good.read_bytes()
    with tarfile.open(good) as tar:
        first = tar.getmembers()[0]
    for tweak in ("symlink", "pax", "directory", "mtime"):
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mode = first.size, 0o644
        if tweak == "symlink":
            info.type, info.linkname, info.size = tarfile.SYMTYPE, "/etc/passwd", 0
        elif tweak == "directory":
            info.type, info.size = tarfile.DIRTYPE, 0
        elif tweak == "mtime":
            info.mtime = 1700000000
        info.pax_headers = {"path": "manifest.json"} if tweak == "pax" else {}
        header = info.tobuf(format=tarfile.PAX_FORMAT)
        (tmp_path / "c.tar").write_bytes(header + data[512:])
        refused(keys, tmp_path / "c.tar", errors.ContainerTarError)


def test_data_after_the_archive(keys, good, tmp_path):
    data = good.read_bytes()
    for tail in (b"x", bytes(512) * 30, b"\0" * 100 + b"!", bytes(511)):
        (tmp_path / "c.tar").write_bytes(data + tail)
        refused(keys, tmp_path / "c.tar", errors.ContainerTrailingData)
    (tmp_path / "c.tar").write_bytes(data + bytes(9216))  # padded to a 10240-byte record, as tar(1) does
    verify(keys, tmp_path / "c.tar")


def test_unsigned_and_wrongly_signed_manifests(keys, good, tmp_path):
    items = dict(members(good))
    refused(keys, build(tmp_path / "a.tar", {**items, "manifest.sig": b""}.items()), errors.ManifestUnsigned)
    refused(keys, good, errors.SignatureInvalid, signing_keys=[Ed25519PrivateKey.generate().public_key()])
    refused(keys, good, errors.NoSigningKey, signing_keys=[])
    other_unit_key = Ed25519PrivateKey.generate()
    forged = {**items, "manifest.sig": other_unit_key.sign(items["manifest.json"])}
    refused(keys, build(tmp_path / "b.tar", forged.items()), errors.SignatureInvalid)
    verify(keys, good, signing_keys=[other_unit_key.public_key(), keys.unit_key.public_key()])


def test_expired_unknown_and_wrong_role_recipient_keys(keys, tmp_path):
    write(keys, tmp_path / "expired.tar", tpf=[keys.tpf_2025])
    assert "tpf-2025 is valid 2025-01-01 to 2025-12-31" in refused(
        keys, tmp_path / "expired.tar", errors.RecipientNotCurrent
    )
    stranger = keydir.RecipientKey("tpf-stranger", "tpf", keydir.generate_age_identity()[1], TODAY, TODAY)
    write(keys, tmp_path / "unknown.tar", tpf=[stranger])
    assert "tpf-stranger" in refused(keys, tmp_path / "unknown.tar", errors.RecipientUnknown)
    write(keys, tmp_path / "c.tar")
    wrong_role = resign(
        keys, members(tmp_path / "c.tar"), lambda m: m["parts"]["data.age"].update(recipients=["tpf-2026"])
    )
    refused(keys, build(tmp_path / "role.tar", wrong_role), errors.RecipientWrongRole)


def test_part_encrypted_to_an_unlisted_key(keys, tmp_path):
    """A part with more X25519 stanzas than listed recipients is refused: someone else could read it."""
    spy = keydir.RecipientKey("tpf-spy", "tpf", keydir.generate_age_identity()[1], TODAY, TODAY)
    write(keys, tmp_path / "c.tar", tpf=[keys.tpf, spy])
    hidden = resign(
        keys, members(tmp_path / "c.tar"), lambda m: m["parts"]["identities.age"].update(recipients=["tpf-2026"])
    )
    refused(keys, build(tmp_path / "spy.tar", hidden), errors.RecipientCountMismatch)


def test_non_canonical_unsupported_and_invalid_manifests(keys, good, tmp_path):
    items = dict(members(good))
    obj = json.loads(items["manifest.json"])

    def with_manifest(raw):
        signed = {**items, "manifest.json": raw, "manifest.sig": keys.unit_key.sign(raw)}
        return build(tmp_path / "m.tar", signed.items())

    refused(keys, with_manifest(json.dumps(obj, sort_keys=True, indent=1).encode()), errors.ManifestNotCanonical)
    refused(keys, with_manifest(items["manifest.json"][:-1] + b',"records":1}'), errors.ManifestNotCanonical)
    refused(keys, with_manifest(b"[1,2]"), errors.ManifestNotCanonical)
    refused(keys, with_manifest(canonical_json({**obj, "format": "sendemodul-container/2"})), errors.FormatUnsupported)
    for change in (
        {"records": -1},
        {"periode": "2026"},
        {"extra": 1},
        {"container_id": "not-a-uuid"},
        {"no_participants": True},
        {"parts": {"data.age": obj["parts"]["data.age"]}},
    ):
        message = refused(keys, with_manifest(canonical_json({**obj, **change})), errors.ManifestInvalid)
        assert "manifest.json" in message


@pytest.mark.parametrize("payload", ["brackets", "records"])
def test_a_deeply_nested_manifest_is_refused_as_malformed_before_it_is_parsed(keys, good, tmp_path, payload):
    """Issue 14 finding 4: json.loads recursed once per level and raised RecursionError (a 500 on the HTTPS front);
    now the depth is scanned first and the manifest refused like any malformed one."""
    items = dict(members(good))
    raw = deeply_nested_manifests(items["manifest.json"])[payload]
    assert len(raw) <= MAX_JSON_BYTES
    signed = {**items, "manifest.json": raw, "manifest.sig": keys.unit_key.sign(raw)}
    message = refused(keys, build(tmp_path / "deep.tar", signed.items()), errors.ManifestNotCanonical)
    assert "nested deeper than 16 levels" in message
    with pytest.raises(errors.ManifestNotCanonical):
        container.Manifest.parse(raw)


def test_the_depth_scan_skips_strings_and_stops_early():
    from sendemodul.container.canonical_json import nesting_depth as depth

    assert depth(b"{}") == 1 and depth(b'{"a":[{"b":[1]}]}') == 4
    assert depth(b'{"a":"[[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{{","b":[]}') == 2  # brackets in a string
    assert depth(b'["\\\\",[[]]]') == 3  # an escaped backslash ends before the quote that ends the string
    assert depth(b"[" * 60000) == 17  # stops once past the limit
    assert depth(b'"' + b"[" * 100) == 0  # an unterminated string runs to the end (json.loads refuses it)
    manifest = json.dumps({"parts": {"data.age": {"recipients": ["ssb-2026"]}}}).encode()
    assert depth(manifest) == 4


def test_every_refusal_has_its_own_code():
    classes = [errors.ContainerError, *subclasses(errors.ContainerError)]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)) >= 20
    for cls in classes:
        assert cls.__doc__.strip() and cls().message == cls.__doc__.strip()


def subclasses(cls):
    return [sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))]


# ---------------------------------------------------------------------------------------------------------------------
# The key directory


def test_key_directory_current_and_get(keys):
    assert keys.key_dir.current("tpf", TODAY) == [keys.tpf]
    assert keys.key_dir.current("tpf", date(2025, 6, 1)) == [keys.tpf_2025]
    assert keys.key_dir.get("ssb-2026") == keys.ssb and keys.key_dir.get("nope") is None
    signing = keys.key_dir.current("tpf-signing", TODAY)[0]
    assert signing.signing_key().public_bytes_raw() == keys.tpf_signing.public_key().public_bytes_raw()
    with pytest.raises(
        errors.NoCurrentKey,
        match=r"no current TPF key in .* \(tpf-2025 expired 2025-12-31; "
        r"tpf-2026 expired 2026-12-31\)",
    ):
        keys.key_dir.current("tpf", date(2027, 1, 1))
    with pytest.raises(errors.NoCurrentKey, match=r"SSB key .*ssb-2026 is valid from 2026-01-01"):
        keys.key_dir.current("ssb", date(2025, 1, 1))


def test_find_key_dir(tmp_path):
    project_keys = Path(keydir.__file__).parent.parent / "keys"
    assert keydir.find_key_dir("elsewhere", tmp_path) == Path("elsewhere")
    assert keydir.find_key_dir(None, tmp_path) == project_keys
    (tmp_path / "keys").mkdir()
    assert keydir.find_key_dir(None, tmp_path) == tmp_path / "keys"
    assert keydir.find_key_dir(None, None) == project_keys
    assert [p.name for p in project_keys.iterdir()] == ["README.md"]
    assert list(keydir.load_key_dir(project_keys)) == []


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            'key_id = "k"\nrole = "tpf"\nrecipient = "age1x"\nvalid_from = 2026-01-01\nvalid_to = 2026-12-31\n',
            "recipient is not valid",
        ),
        ('key_id = "k"\nrole = "tsp"\n', "role must be one of"),
        (
            'key_id = "other"\nrole = "ssb"\nrecipient = "{r}"\nvalid_from = 2026-01-01\nvalid_to = 2026-12-31\n',
            "key_id must equal the file name",
        ),
        (
            'key_id = "k"\nrole = "ssb"\nrecipient = "{r}"\nvalid_from = "2026-01-01"\nvalid_to = 2026-12-31\n',
            "valid_from must be a date",
        ),
        ('key_id = "k"\nrole = "ssb"\nrecipient = "{r}"\nvalid_from = 2026-01-01\n', "missing valid_to"),
        (
            'key_id = "k"\nrole = "ssb"\nrecipient = "{r}"\nvalid_from = 2026-01-01\nvalid_to = 2026-12-31\nx = 1\n',
            "unknown x",
        ),
        (
            'key_id = "k"\nrole = "tpf-signing"\npublic_key = "ssh-rsa AAAA"\n'
            "valid_from = 2026-01-01\nvalid_to = 2027-01-01",
            "public_key is not valid",
        ),
        ("key_id = ", "cannot be read as TOML"),
    ],
)
def test_malformed_key_file_names_file_and_key(tmp_path, text, problem):
    (tmp_path / "k.toml").write_text(text.replace("{r}", keydir.generate_age_identity()[1]))
    with pytest.raises(errors.KeyDirError, match=f"key file .*k.toml \\(key k\\): .*{problem}"):
        keydir.load_key_dir(tmp_path)


def test_signing_keys_in_openssh_or_base64_form_and_round_trip_through_toml(tmp_path):
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes_raw()
    for public in (signing.public_line(private, "TPF 2026").strip(), base64.b64encode(raw).decode()):
        key = keydir.RecipientKey(
            "tpf-signing", "tpf-signing", public, date(2026, 1, 1), date(2026, 12, 31), 'comment with "quotes" and æ'
        )
        (tmp_path / "tpf-signing.toml").write_text(key.to_toml())
        loaded = keydir.load_key_dir(tmp_path).get("tpf-signing")
        assert loaded == key and loaded.signing_key().public_bytes_raw() == raw
    with pytest.raises(errors.KeyDirError, match="32 bytes"):
        keydir.parse_ed25519_public_key("AAAA")


def test_generate_age_identity():
    secret, recipient = keydir.generate_age_identity()
    assert secret.startswith("AGE-SECRET-KEY-1") and recipient.startswith("age1")
    assert str(pyrage.x25519.Identity.from_str(secret).to_public()) == recipient


def _parse(data, *, fields, part, bulk, chunk, one_line_per_row=False, header=None, block_bytes=0):
    """Run data through a PartParser in chunks of ``chunk`` bytes (gathered into ``block_bytes`` if given); the
    values it handed on, or the error's text."""
    from sendemodul.container import PartParser

    seen, headers = [], []

    def on_block(block, ends, tabs):
        assert ends.tolist() == [i for i, byte in enumerate(block) if byte == 10]
        assert (tabs is None) if fields <= 2 else tabs.tolist() == [i for i, byte in enumerate(block) if byte == 9]
        seen.extend(tuple(line.decode().split("\t", fields - 1)) for line in block.split(b"\n")[:-1])

    parser = PartParser(
        CONTAINER_ID,
        part,
        fields,
        lambda *values: seen.append(values),
        one_line_per_row=one_line_per_row,
        on_header_line=header and headers.append,
        on_block=on_block if bulk else None,
        block_bytes=block_bytes,
    )
    try:
        for start in range(0, len(data), chunk):
            parser.write(data[start : start + chunk])
        parser.close()
    except errors.PartContentError as e:
        return str(e), e.code
    return seen, headers, parser.records


CONTAINER_ID = "11111111-1111-4111-8111-111111111111"


def _part(part, records, lines):
    return f"#sendemodul/1 container_id={CONTAINER_ID} part={part} records={records}\n".encode() + b"".join(lines)


@pytest.mark.parametrize(
    "case",
    [
        "good",
        "repeat",
        "unsorted",
        "not_utf8",
        "utf8",
        "short_row_id",
        "upper_row_id",
        "few_tabs",
        "tab_in_id",
        "tabs_balanced",
        "unended",
        "count",
        "cr",
    ],
)
@pytest.mark.parametrize("chunk", [7, 100, 1 << 16])
@pytest.mark.parametrize("block_bytes", [0, 1000])
def test_part_parser_in_bulk_says_what_line_by_line_says(case, chunk, block_bytes):
    rows = [f"{i:024x}".encode() for i in range(0, 600, 3)]
    lines = [row + b"\tPERSON_FODSELSNR\t0501139929" + str(i % 10).encode() + b"\n" for i, row in enumerate(rows)]
    lines += [row + b"\tPERSON_DUF\t\n" for row in rows]
    lines.sort()
    records = len(rows)
    change = {
        "repeat": lambda: lines.insert(50, lines[49]),
        "unsorted": lambda: lines.insert(150, lines[10]),
        "not_utf8": lambda: lines.insert(120, rows[59] + b"\tX\t\xff\n"),
        "utf8": lambda: lines.insert(120, rows[59] + "\tX\t٣ø\n".encode()),
        "short_row_id": lambda: lines.insert(80, rows[40][1:] + b"\tX\t1\n"),
        "upper_row_id": lambda: lines.insert(80, rows[40].upper()[:-1] + b"0\tX\t1\n"),
        "few_tabs": lambda: lines.insert(90, rows[45] + b"\tX1\n"),
        "tab_in_id": lambda: lines.insert(90, rows[45] + b"\tX\t1\t2\n"),
        # One line short of a TAB and the next with one more: as many TABs in all as two a line.
        "tabs_balanced": lambda: lines.__setitem__(slice(90, 90), [rows[45] + b"\tX1\n", rows[45] + b"\tX\t1\t2\n"]),
        "unended": lambda: lines.append(b"0" * 24 + b"\tX"),
        "count": lambda: lines.__delitem__(slice(-2, None)),
        "cr": lambda: lines.insert(90, rows[45] + b"\tX\t1\r\n"),
    }.get(case, lambda: None)
    change()
    data = _part("identities", records, lines)
    bulk = _parse(data, fields=3, part="identities", bulk=True, chunk=chunk, block_bytes=block_bytes)
    assert bulk == _parse(data, fields=3, part="identities", bulk=False, chunk=chunk)
    assert (case in ("good", "utf8", "tab_in_id", "cr", "repeat")) == isinstance(bulk[0], list)


@pytest.mark.parametrize("seed", range(8))
def test_part_parser_in_bulk_orders_row_ids_as_line_by_line(seed, monkeypatch):
    """Random row_ids (which differ in their first 8 bytes, where the bulk check decides most pairs) and some that
    share their first 16 bytes, two lines a row, sorted; then a line out of order in its first, second or third 8
    bytes, or a later row's line moved up. The bulk checks say what the checks of one line at a time say (the
    reference: the bulk checks turned off), in both orders (strict and not)."""
    import itertools
    import random

    from sendemodul.container import PartParser

    def reference(data, one_line_per_row):
        with monkeypatch.context() as patch:
            patch.setattr(PartParser, "_checked_rows", lambda self, block: None)
            return _parse(data, fields=3, part="identities", bulk=False, chunk=4096, one_line_per_row=one_line_per_row)

    rng = random.Random(seed)
    heads = [f"{rng.getrandbits(64):016x}" for _ in range(20)]
    rows = sorted({(rng.choice(heads) + f"{rng.getrandbits(32):08x}").encode() for _ in range(400)})
    rows[:30] = [rows[0][:16] + f"{i:08x}".encode() for i in range(30)]
    rows.sort()
    lines = [line for row in rows for line in (row + b"\tPERSON_FODSELSNR\t05011399292\n", row + b"\tPERSON_DUF\t\n")]
    where = rng.randrange(2, len(lines) - 8)
    if seed % 4 < 3:  # smaller than the line before: zeros from byte 0, 8 or 16 of an earlier row_id
        position = (0, 8, 16)[seed % 4]
        lines.insert(where, lines[where - 2][:position] + b"0" * (24 - position) + lines[where - 2][24:])
    else:
        lines.insert(where, lines[where + 6])
    for one_line_per_row, part_lines in ((False, lines), (True, lines[::2])):
        data = _part("identities", len({line[:24] for line in part_lines}), part_lines)
        row_ids = [line[:24] for line in part_lines]
        in_order = all(a < b if one_line_per_row else a <= b for a, b in itertools.pairwise(row_ids))
        for block_bytes in (0, 1000, 1 << 20):
            bulk = _parse(
                data,
                fields=3,
                part="identities",
                bulk=True,
                chunk=4096,
                block_bytes=block_bytes,
                one_line_per_row=one_line_per_row,
            )
            assert bulk == reference(data, one_line_per_row)
            assert isinstance(bulk[0], list) == in_order
        data = _part("identities", len(rows), [line for row in rows for line in (row + b"\tX\t1\n",)])
        assert _parse(data, fields=3, part="identities", bulk=True, chunk=4096, block_bytes=1000)[2] == len(rows)


@pytest.mark.parametrize("chunk", [5, 64, 1 << 16])
def test_part_parser_in_bulk_with_header_lines_and_one_line_per_row(chunk):
    rows = [f"{i:024x}".encode() for i in range(100)]
    lines = [b"#header\t<Avgiver a='1'/>\n", b"#header\tsecond\n"] + [row + b"\trecord\tTAB\n" for row in rows]
    data = _part("data", len(rows), lines)
    bulk = _parse(data, fields=2, part="data", bulk=True, chunk=chunk, one_line_per_row=True, header=True)
    assert bulk == _parse(data, fields=2, part="data", bulk=False, chunk=chunk, one_line_per_row=True, header=True)
    assert bulk[1] == ["<Avgiver a='1'/>", "second"] and len(bulk[0]) == 100
    twice = _part("data", len(rows), [*lines[:50], lines[49], *lines[50:]])
    refused = _parse(twice, fields=2, part="data", bulk=True, chunk=chunk, one_line_per_row=True, header=True)
    assert refused == _parse(twice, fields=2, part="data", bulk=False, chunk=chunk, one_line_per_row=True, header=True)
    assert "repeats" in refused[0]


def _as_block(rows):
    """Rows with ASCII records of one width as a RowBlock (columns), as the encryption module hands them over."""
    import numpy as np

    names = [name for name, _ in rows[0][0]]
    ids = [(name, [dict(row_ids)[name].encode("ascii") for row_ids, _ in rows]) for name in names]
    data = np.frombuffer("".join(record for _, record in rows).encode("ascii"), np.uint8).reshape(len(rows), -1)
    return container.RowBlock(ids, data.copy())


def _plaintext_rows(keys, path):
    """The container's rows without their random row_ids: sorted (ID lines, record) pairs."""
    items = dict(members(path))
    identities = decrypt(items["identities.age"], keys.tpf_identities).split("\n")[1:-1]
    data = decrypt(items["data.age"], keys.ssb_identities).split("\n")[1:-1]
    ids_of = {}
    for line in identities:
        row_id, rest = line.split("\t", 1)
        ids_of.setdefault(row_id, []).append(rest)
    row_ids = [line.split("\t", 1)[0] for line in data]
    assert row_ids == sorted(row_ids) and len(set(row_ids)) == len(row_ids)
    assert [line.split("\t", 1)[0] for line in identities] == [r for r in row_ids for _ in ids_of[r]]
    return sorted((tuple(ids_of[line.split("\t", 1)[0]]), line.split("\t", 1)[1]) for line in data)


def test_a_row_block_gives_the_same_parts_as_its_rows(keys, tmp_path, monkeypatch):
    """Blocks of rows as columns (mixed with single rows, over several spills) make the same lines as the rows."""
    monkeypatch.setattr(container.shuffle, "_BUDGET_BYTES", 20_000)
    rows = [(ids, record.replace("æøå", "abc")) for ids, record in make_rows(900)]
    write(keys, tmp_path / "rows.tar", rows)
    mixed = [_as_block(rows[:400]), *rows[400:410], _as_block(rows[410:411]), _as_block(rows[411:])]
    manifest = write(keys, tmp_path / "blocks.tar", mixed)
    assert manifest.records == 900 and verify(keys, tmp_path / "blocks.tar").records == 900
    assert _plaintext_rows(keys, tmp_path / "blocks.tar") == _plaintext_rows(keys, tmp_path / "rows.tar")


@pytest.mark.parametrize(
    "value, record, problem",
    [
        ("0501\t1399292", "record", "TAB or line break"),
        ("0501\x001399292", "record", "TAB or line break"),
        ("05011399292", "rec\rrd", "line break"),
    ],
)
def test_a_row_block_with_a_row_that_cannot_go_in_names_the_row(keys, tmp_path, value, record, problem):
    rows = [((("PERSON_FODSELSNR", "05011399292"),), "record")] * 3
    rows[1] = ((("PERSON_FODSELSNR", value),), record)
    with pytest.raises(errors.ContainerInputError, match=f"row 3.*{problem}"):
        write(keys, tmp_path / "c.tar", [make_rows(1)[0], _as_block(rows)])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("plaintext", [0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 5])
@pytest.mark.parametrize("kind", ["X25519", "mlkem768x25519"])
def test_encrypted_size_is_what_age_writes(plaintext, kind):
    """The writer puts each part in its place in the tar before it is encrypted, so the size it predicts must be
    what age writes, at chunk boundaries too, for both key types and for one or two recipients."""
    from sendemodul.container.parts import encrypt_part, encrypted_size

    make = agepq.MlKem768X25519Identity.generate if kind != "X25519" else agepq.X25519Identity.generate
    for recipients in ([make().to_public()], [make().to_public(), make().to_public()]):
        out = io.BytesIO()
        size, _ = encrypt_part([b"x" * plaintext], recipients, out)
        assert size == len(out.getvalue()) == encrypted_size(recipients, plaintext)


def test_a_part_that_fails_in_its_thread_fails_the_write_and_leaves_nothing(keys, tmp_path, monkeypatch):
    """The identities part is encrypted in a thread beside the data part: its failure is the writer's failure, and
    no output (not even a temporary file) is left."""
    from sendemodul.container import writer

    real = writer.encrypt_part

    def failing(blocks, recipients, out):
        blocks = iter(blocks)
        first = next(blocks)
        if b" part=identities " in first:
            raise OSError("disk full")
        return real(itertools.chain([first], blocks), recipients, out)

    monkeypatch.setattr(writer, "encrypt_part", failing)
    with pytest.raises(OSError, match="disk full"):
        write(keys, tmp_path / "c.tar", make_rows(50))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "case", ["fixed", "variable", "repeated row_id", "short line", "one line", "shared prefix", "not hex", "upper case"]
)
def test_a_bucket_sorted_by_row_id_numbers_is_sorted_as_its_lines(case):
    """The writer sorts a bucket by its row_ids read as numbers; the lines come out exactly as a sort of the lines
    gives them, for lines of one width (as an array), of many widths, and where it falls back to sorting lines."""
    import random

    from sendemodul.container.shuffle import _sorted_lines

    rng = random.Random(case)
    row_ids = [f"{rng.getrandbits(96):024x}" for _ in range(500)]
    if case == "fixed":
        lines = [f"{r}\t{rng.getrandbits(40):012x}" for r in row_ids]
    elif case == "one line":
        lines = [f"{row_ids[0]}\tx"]
    else:
        lines = [f"{r}\tPERSON\t{'9' * rng.randrange(12)}\0{r}\tDUF\t" for r in row_ids]
    if case == "repeated row_id":
        lines[7] = lines[3][:25] + "other"
    if case == "shared prefix":  # the first 16 digits alike: sorted by the whole row_id
        lines = [line[:16] + row_ids[0][16:] if k % 50 == 0 else line for k, line in enumerate(lines)]
        lines[11] = lines[10][:16] + lines[11][16:]
    if case in ("not hex", "upper case"):  # no hex number (or not as the writer spells it): sorted by the bytes
        lines = [line.upper() if case == "upper case" else line.replace("a", "_") for line in lines]
    if case == "short line":
        lines[9] = "abc"
    block = "".join(f"{line}\n" for line in lines).encode()
    result = _sorted_lines(bytearray(block))
    got = result if isinstance(result, bytes) else result.tobytes()
    assert got == "".join(f"{line}\n" for line in sorted(lines)).encode()
    assert isinstance(result, bytes) == (case not in ("fixed", "one line"))
