"""Issue 24: containers and packages sealed to hybrid post-quantum keys (age1pq1...), unit level: the key directory,
the writer, the intake check's stanza rule (a downgrade refused with ``recipient_type``), the package and ``ssb
open``, the key rotation and ``keygen --type``. End to end with a real server: tests/test_pipeline_pq.py."""

import io
import os
import tarfile
from datetime import date

import pytest
from conftest import run_cli
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sendemodul import agepq, config, errors, keydir, messages_nb, package, rotation, signing, ssb
from sendemodul.container import stanza_counts, write_container
from sendemodul.identity import Unit
from sendemodul.verify import verify_container

TODAY = date(2026, 3, 1)
ALNA = Unit("0301", "12", "958935420")
MASTER = bytes(range(32))


class Keys:
    """A key directory with PQ keys (tpf-pq, ssb-pq), classic ones (tpf-classic, ssb-classic), a TPF signing key,
    and every identity in memory."""

    def __init__(self, base):
        self.dir = base / "keys"
        self.dir.mkdir()
        self.identities = {}
        for key_id, role, key_type in (
            ("tpf-pq", "tpf", "age-pq"),
            ("ssb-pq", "ssb", "age-pq"),
            ("tpf-classic", "tpf", "age"),
            ("ssb-classic", "ssb", "age"),
        ):
            secret, recipient = keydir.generate_age_identity(key_type)
            self.identities[key_id] = agepq.parse_identity(secret)
            key = keydir.RecipientKey(key_id, role, recipient, date(2026, 1, 1), date(2026, 12, 31))
            (self.dir / f"{key_id}.toml").write_text(key.to_toml())
        self.tpf_signing = Ed25519PrivateKey.generate()
        (self.dir / "tpf-signing.toml").write_text(
            keydir.RecipientKey(
                "tpf-signing",
                "tpf-signing",
                signing.public_line(self.tpf_signing, "s").strip(),
                date(2026, 1, 1),
                date(2026, 12, 31),
            ).to_toml()
        )
        self.key_dir = keydir.load_key_dir(self.dir)
        self.unit_key = Ed25519PrivateKey.generate()

    def __getitem__(self, key_id):
        return self.key_dir.get(key_id)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("pqkeys"))


def rows(n):
    return [((("PERSON_FODSELSNR", f"0101{i:07d}"),), f"record {i:06d}".ljust(40)) for i in range(n)]


def write(keys, path, tpf, ssb, n=5):
    return write_container(
        path,
        unit=ALNA,
        register="11F",
        periode=2026,
        signing_key=keys.unit_key,
        tpf_recipients=tpf,
        ssb_recipients=ssb,
        rows=rows(n),
    )


def verify(keys, path):
    with open(path, "rb") as stream:
        return verify_container(
            stream, unit=ALNA, signing_keys=[keys.unit_key.public_key()], key_dir=keys.key_dir, today=TODAY
        )


def part(path, name):
    with tarfile.open(path) as tar:
        return tar.extractfile(name).read()


def test_the_recipient_field_decides_the_type(keys):
    assert keys["tpf-pq"].public.startswith("age1pq1") and keys["tpf-pq"].post_quantum
    assert keys["tpf-pq"].stanza_type == "mlkem768x25519"
    assert isinstance(keys["tpf-pq"].age_recipient(), agepq.MlKem768X25519Recipient)
    assert keys["tpf-classic"].stanza_type == "X25519" and not keys["tpf-classic"].post_quantum
    assert isinstance(keys["tpf-classic"].age_recipient(), agepq.X25519Recipient)


def test_a_bad_pq_recipient_names_the_file(tmp_path):
    recipient = keydir.generate_age_identity("age-pq")[1]
    broken = recipient[:100] + ("q" if recipient[100] != "q" else "p") + recipient[101:]
    (tmp_path / "k.toml").write_text(
        f'key_id = "k"\nrole = "ssb"\nrecipient = "{broken}"\nvalid_from = 2026-01-01\nvalid_to = 2026-12-31\n'
    )
    with pytest.raises(errors.KeyDirError, match=r"k.toml \(key k\): recipient is not valid"):
        keydir.load_key_dir(tmp_path)


def test_identity_files_hold_both_types(tmp_path):
    pq, classic = keydir.generate_age_identity("age-pq")[0], keydir.generate_age_identity("age")[0]
    assert pq.startswith("AGE-SECRET-KEY-PQ-1") and classic.startswith("AGE-SECRET-KEY-1")
    path = tmp_path / "k.agekey"
    path.write_text(f"# 2026\n{classic}\n\n# 2027\n{pq}\n")
    loaded = keydir.load_age_identities(path)
    assert [type(i) for i in loaded] == [agepq.X25519Identity, agepq.MlKem768X25519Identity]
    path.write_text("AGE-SECRET-KEY-PQ-1QQQQ\n")
    with pytest.raises(errors.KeyDirError) as caught:
        keydir.load_age_identities(path)
    assert "QQQQ" not in str(caught.value)


def test_sealing_keys_prefer_post_quantum(keys):
    assert [k.key_id for k in keys.key_dir.current("tpf", TODAY)] == ["tpf-classic", "tpf-pq"]
    assert [k.key_id for k in keys.key_dir.sealing_keys("tpf", TODAY)] == ["tpf-pq"]
    classic_only = keydir.KeyDirectory(keys.dir, [keys["tpf-classic"]])
    assert classic_only.sealing_keys("tpf", TODAY) == [keys["tpf-classic"]]


def test_writer_refuses_to_mix_types_in_a_part(keys, tmp_path):
    with pytest.raises(ValueError, match="mix post-quantum and classic"):
        write(keys, tmp_path / "c.tar", [keys["tpf-pq"], keys["tpf-classic"]], [keys["ssb-pq"]])
    assert not (tmp_path / "c.tar").exists()


def test_pq_container_is_accepted_pseudonymized_and_opened(keys, tmp_path):
    manifest = write(keys, tmp_path / "c.tar", [keys["tpf-pq"]], [keys["ssb-pq"]], n=30)
    assert verify(keys, tmp_path / "c.tar").container_id == manifest.container_id
    for name in ("identities.age", "data.age"):
        assert agepq.stanza_types(part(tmp_path / "c.tar", name)) == ("mlkem768x25519",)
    package.make_package(
        tmp_path / "c.tar",
        tmp_path / "p.tar",
        tpf_identities=[keys.identities["tpf-pq"]],
        master_key=MASTER,
        environment="test",
        key_version=1,
        tpf_signing_key=keys.tpf_signing,
        ssb_recipients=[keys["ssb-pq"]],
    )
    assert agepq.stanza_types(part(tmp_path / "p.tar", "pseudonyms.age")) == ("mlkem768x25519",)
    out = tmp_path / "out"
    out.mkdir()
    opened = ssb.open_package(
        tmp_path / "p.tar", out, ssb_identities=[keys.identities["ssb-pq"]], tpf_signing_keys=[keys["tpf-signing"]]
    )
    assert opened.manifest.records == 30 and len(opened.csv_path.read_text().splitlines()) == 31


def test_classic_container_opens_beside_pq_identities_and_its_package_is_sealed_pq(keys, tmp_path):
    """An earlier year's classic container: the worker holds both identities; its package follows SSB's current
    (post-quantum) key."""
    write(keys, tmp_path / "c.tar", [keys["tpf-classic"]], [keys["ssb-classic"]])
    verify(keys, tmp_path / "c.tar")
    package.make_package(
        tmp_path / "c.tar",
        tmp_path / "p.tar",
        tpf_identities=[keys.identities["tpf-pq"], keys.identities["tpf-classic"]],
        master_key=MASTER,
        environment="test",
        key_version=1,
        tpf_signing_key=keys.tpf_signing,
        ssb_recipients=keys.key_dir.sealing_keys("ssb", TODAY),
    )
    assert agepq.stanza_types(part(tmp_path / "p.tar", "pseudonyms.age")) == ("mlkem768x25519",)
    out = tmp_path / "out"
    out.mkdir()
    ssb.open_package(
        tmp_path / "p.tar",
        out,
        ssb_identities=[keys.identities["ssb-classic"], keys.identities["ssb-pq"]],
        tpf_signing_keys=[keys["tpf-signing"]],
    )


def posing_as(key, other_type):
    """``key``'s id with a fresh recipient of ``other_type``: a writer that seals the wrong type for that id."""
    return keydir.RecipientKey(
        key.key_id, key.role, keydir.generate_age_identity(other_type)[1], key.valid_from, key.valid_to
    )


@pytest.mark.parametrize("part_name", ["identities.age", "data.age"])
def test_a_classic_stanza_for_a_pq_key_id_is_a_downgrade(keys, tmp_path, part_name):
    tpf, ssb_ = [keys["tpf-pq"]], [keys["ssb-pq"]]
    if part_name == "identities.age":
        tpf = [posing_as(keys["tpf-pq"], "age")]
    else:
        ssb_ = [posing_as(keys["ssb-pq"], "age")]
    write(keys, tmp_path / "c.tar", tpf, ssb_)
    with pytest.raises(errors.RecipientTypeMismatch) as caught:
        verify(keys, tmp_path / "c.tar")
    assert caught.value.code == "recipient_type"
    assert f"{part_name} has 1 X25519 stanza(s) for its mlkem768x25519 key(s)" in str(caught.value)


def test_a_pq_stanza_for_a_classic_key_id_is_refused_too(keys, tmp_path):
    write(keys, tmp_path / "c.tar", [posing_as(keys["tpf-classic"], "age-pq")], [keys["ssb-classic"]])
    with pytest.raises(errors.RecipientTypeMismatch, match=r"1 mlkem768x25519 stanza.*X25519 key"):
        verify(keys, tmp_path / "c.tar")


def test_a_manifest_naming_both_types_for_a_part_is_refused(keys, tmp_path):
    write(keys, tmp_path / "c.tar", [keys["tpf-pq"], posing_as(keys["tpf-classic"], "age-pq")], [keys["ssb-pq"]])
    with pytest.raises(errors.RecipientTypeMismatch, match="post-quantum and classic keys together"):
        verify(keys, tmp_path / "c.tar")


def test_stanza_counts_and_the_new_code_has_a_message():
    pq = agepq.MlKem768X25519Identity.generate().to_public()
    out = io.BytesIO()
    agepq.encrypt_io(io.BytesIO(b"x"), out, [pq, agepq.MlKem768X25519Identity.generate().to_public()])
    assert stanza_counts(out.getvalue(), "p") == {"mlkem768x25519": 2}
    with pytest.raises(errors.PartContentError, match="valid age v1 header"):
        stanza_counts(b"age-encryption.org/v1\n-> X25519 abc\n", "p")
    assert "kvantesikker" in messages_nb.melding("recipient_type")


def test_rotation_adds_a_pq_year_beside_classic_keys(tmp_path):
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--key-type", "age", "--home", home)
    before = (home / "private" / "tpf.agekey").read_text()
    assert "AGE-SECRET-KEY-1" in before and "AGE-SECRET-KEY-PQ-1" not in before
    result = run_cli("admin", "keys", "rotate", "--year", "2027", "--home", home)
    assert "AGE-SECRET-KEY" not in result.stdout + result.stderr
    directory = keydir.load_key_dir(home / "keys")
    assert directory.get("tpf-2027").post_quantum and directory.get("ssb-2027").post_quantum
    assert not directory.get("tpf-dev").post_quantum
    for name in ("tpf.agekey", "ssb.agekey"):
        path = home / "private" / name
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        identities = keydir.load_age_identities(path)
        assert [type(i) for i in identities] == [agepq.X25519Identity, agepq.MlKem768X25519Identity]
    assert (home / "private" / "tpf.agekey").read_text().startswith(before)
    again = run_cli("admin", "keys", "rotate", "--year", "2027", "--home", home, check=False)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_rotation_outside_dev_needs_ssbs_recipient_of_the_type(tmp_path, home):
    cfg = config.load(home)
    with pytest.raises(errors.UsageError, match="--ssb-recipient"):
        rotation.rotate(cfg, 2027)
    with pytest.raises(errors.UsageError, match="not of type age-pq"):
        rotation.rotate(cfg, 2027, ssb_recipient=keydir.generate_age_identity("age")[1])
    ssb_recipient = keydir.generate_age_identity("age-pq")[1]
    rotated = rotation.rotate(cfg, 2027, ssb_recipient=ssb_recipient, today=date(2026, 11, 20))
    assert rotated.ssb.public == ssb_recipient and rotated.identity_files == (cfg.private_dir / "tpf.agekey",)
    assert (rotated.tpf.valid_from, rotated.tpf.valid_to) == (date(2026, 11, 20), date(2028, 12, 31))
    assert not (cfg.private_dir / "ssb.agekey").exists()


def test_init_dev_makes_pq_keys_by_default(tmp_path):
    home = tmp_path / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    directory = keydir.load_key_dir(home / "keys")
    assert directory.get("tpf-dev").post_quantum and directory.get("ssb-dev").post_quantum
    for name in ("tpf.agekey", "ssb.agekey"):
        assert "AGE-SECRET-KEY-PQ-1" in (home / "private" / name).read_text()
    assert os.stat(home / "private").st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "key_type,secret_prefix,public_prefix",
    [("age-pq", "AGE-SECRET-KEY-PQ-1", "age1pq1"), ("age", "AGE-SECRET-KEY-1", "age1")],
)
def test_keygen_writes_an_age_key_pair(tmp_path, key_type, secret_prefix, public_prefix):
    out = tmp_path / "ssb.agekey"
    result = run_cli("keygen", "--type", key_type, "-o", out, "--comment", "SSB 2027")
    identities = keydir.load_age_identities(out)
    recipient = (tmp_path / "ssb.agekey.pub").read_text().strip()
    assert recipient.startswith(public_prefix) and str(identities[0].to_public()) == recipient
    assert secret_prefix in out.read_text() and oct(out.stat().st_mode & 0o777) == "0o600"
    assert "SECRET" not in result.stdout + result.stderr and recipient in result.stdout
    assert run_cli("keygen", "--type", key_type, "-o", out, check=False).returncode != 0
