"""``sendemodul admin sshkey add`` says which SFTP clients the key will work with (sendemodul/sftp/compat.py), as the
client matrix (tests/test_sftp_matrix.py, docs/sftp-clients.md) found it."""

import datetime

import pytest
from click.testing import CliRunner
from conftest import STAVANGER
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sendemodul import identity
from sendemodul.cli import cli
from sendemodul.sftp import compat
from sendemodul.store import Store

KEYS = {
    "ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
}


@pytest.fixture
def unit_home(home):
    store = Store.open(home / "sendemodul.db")
    store.add_unit(
        identity.parse_unit(STAVANGER, datetime.date.today().year),
        name="Stavanger kommune",
        email="s@example.org",
        actor="test",
    )
    store.close()
    return home


def add_key(home, tmp_path, kind):
    path = tmp_path / f"{kind}.pub"
    path.write_bytes(
        KEYS[kind]().public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    result = CliRunner().invoke(cli, ["admin", "sshkey", "add", STAVANGER, str(path), "--home", str(home)])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_ed25519_and_ecdsa_keys_work_with_every_listed_client(unit_home, tmp_path, kind):
    added, clients = add_key(unit_home, tmp_path, kind)
    assert added.startswith("Added ")
    assert clients == (
        "Works with all the SFTP clients of docs/sftp-clients.md: OpenSSH, paramiko, PuTTY/WinSCP, "
        "libssh2 (curl, PHP ssh2), rclone, lftp"
    )


def test_an_rsa_key_names_libssh2_before_1_11_as_the_exception(unit_home, tmp_path):
    _, clients = add_key(unit_home, tmp_path, "rsa")
    assert clients == (
        "Works with OpenSSH >= 7.2, paramiko >= 2.9, PuTTY >= 0.75/WinSCP, rclone, lftp; "
        "not with libssh2 < 1.11 (curl, PHP ssh2) unless [sftp] accept_ssh_rsa_sha1 = true "
        "(better: an Ed25519 key, a newer libssh2, or the PIN)"
    )


def test_an_rsa_key_with_sha1_accepted_says_libssh2_gets_in_on_sha1(unit_home, tmp_path):
    config = unit_home / "config.toml"
    text = config.read_text()
    assert "# accept_ssh_rsa_sha1 = false" in text
    config.write_text(text.replace("# accept_ssh_rsa_sha1 = false", "accept_ssh_rsa_sha1 = true", 1))
    _, clients = add_key(unit_home, tmp_path, "rsa")
    assert clients == (
        "Works with OpenSSH >= 7.2, paramiko >= 2.9, PuTTY >= 0.75/WinSCP, rclone, lftp; and with "
        "libssh2 < 1.11 (curl, PHP ssh2), which signs with ssh-rsa (SHA-1), only because "
        "[sftp] accept_ssh_rsa_sha1 = true"
    )


def test_a_key_type_the_matrix_has_not_tried_says_so():
    assert compat.key_clients("sk-ssh-ed25519@openssh.com") is None
    assert "not tried" in compat.key_clients_text("sk-ssh-ed25519@openssh.com")
