"""sendemodul.agepq against other age implementations run as programs: the age author's TypeScript age (npm
age-encryption 0.3, under node) for the hybrid type, and Debian's age 1.1 for classic X25519."""

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sendemodul import agepq

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "support" / "age_ts.mjs"
AGE_TS_VERSION = "0.3"


@pytest.fixture(scope="session")
def age_ts(tmp_path_factory):
    """A folder with age-encryption installed: .venv/age-ts in the checkout (installed once, kept), else a tmp one."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed: run scripts/system-packages"
    base = Path(sys.prefix) if (Path(sys.prefix) / "pyvenv.cfg").exists() else tmp_path_factory.mktemp("npm")
    folder = base / "age-ts"
    if not (folder / "node_modules" / "age-encryption" / "package.json").exists():
        folder.mkdir(exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), f"age-encryption@{AGE_TS_VERSION}"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return folder


def ts(age_ts, *args):
    return subprocess.run(
        ["node", str(HELPER), *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "AGE_TS_DIR": str(age_ts)},
        timeout=120,
    ).stdout


def sizes():
    return [0, 1, 64 * 1024, 200_000]


@pytest.mark.parametrize("n", sizes())
def test_a_file_typescript_seals_to_our_pq_recipient_opens_with_our_code(age_ts, tmp_path, n):
    ours = agepq.MlKem768X25519Identity.generate()
    plain = tmp_path / "plain"
    plain.write_bytes(hashlib.shake_256(b"ts%d" % n).digest(n))
    ts(age_ts, "encrypt", ours.to_public(), plain, tmp_path / "f.age")
    with open(tmp_path / "f.age", "rb") as f, open(tmp_path / "out", "wb") as out:
        assert agepq.decrypt_io(f, out, [ours]) == ("mlkem768x25519",)
    assert (tmp_path / "out").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("n", sizes())
def test_a_file_we_seal_to_a_typescript_pq_key_opens_with_typescript(age_ts, tmp_path, n):
    identity, recipient = ts(age_ts, "keygen").split()
    assert identity.startswith("AGE-SECRET-KEY-PQ-1") and recipient.startswith("age1pq1")
    assert str(agepq.parse_identity(identity).to_public()) == recipient  # same key derivation
    plain = hashlib.shake_256(b"py%d" % n).digest(n)
    with open(tmp_path / "f.age", "wb") as out:
        agepq.encrypt_io(io.BytesIO(plain), out, [recipient])
    ts(age_ts, "decrypt", identity, tmp_path / "f.age", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == plain


def test_typescript_refuses_our_pq_file_with_a_flipped_bit(age_ts, tmp_path):
    identity, recipient = ts(age_ts, "keygen").split()
    with open(tmp_path / "f.age", "wb") as out:
        agepq.encrypt_io(io.BytesIO(b"x" * 1000), out, [recipient])
    blob = bytearray((tmp_path / "f.age").read_bytes())
    blob[-5] ^= 1
    (tmp_path / "f.age").write_bytes(bytes(blob))
    with pytest.raises(subprocess.CalledProcessError):
        ts(age_ts, "decrypt", identity, tmp_path / "f.age", tmp_path / "out")


@pytest.fixture
def debian_age():
    assert shutil.which("age"), "Debian's age is needed: run scripts/system-packages"
    return shutil.which("age")


@pytest.mark.parametrize("n", [0, 64 * 1024, 200_000])
def test_debian_age_opens_our_classic_x25519_output(debian_age, tmp_path, n):
    ours = agepq.X25519Identity.generate()
    (tmp_path / "id.txt").write_text(str(ours) + "\n")
    plain = hashlib.shake_256(b"deb%d" % n).digest(n)
    with open(tmp_path / "f.age", "wb") as out:
        agepq.encrypt_io(io.BytesIO(plain), out, [ours.to_public()])
    done = subprocess.run(
        [debian_age, "-d", "-i", tmp_path / "id.txt", tmp_path / "f.age"], check=True, capture_output=True, timeout=60
    )
    assert done.stdout == plain


def test_we_open_debian_age_classic_output(debian_age, tmp_path):
    ours = agepq.X25519Identity.generate()
    plain = hashlib.shake_256(b"deb").digest(150_000)
    (tmp_path / "plain").write_bytes(plain)
    subprocess.run(
        [debian_age, "-e", "-r", str(ours.to_public()), "-o", tmp_path / "f.age", tmp_path / "plain"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with open(tmp_path / "f.age", "rb") as f, open(tmp_path / "out", "wb") as out:
        assert agepq.decrypt_io(f, out, [ours]) == ("X25519",)
    assert (tmp_path / "out").read_bytes() == plain
