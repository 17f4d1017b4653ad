"""SSH key login: which user-key signature algorithms the checker accepts (sendemodul/sftp/checker.py), the
``[sftp] accept_ssh_rsa_sha1`` switch, and the ``server-sig-algs`` the transport advertises."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from twisted.conch import error as conch_error
from twisted.conch.ssh import keys
from twisted.conch.ssh.common import NS
from twisted.cred import credentials, error
from twisted.internet import defer
from twisted.logger import globalLogPublisher

from sendemodul import _twisted, config
from sendemodul.sftp.checker import UnitKeyChecker

UNIT = "0301-00-958935420"
SIG_DATA = b"session id and userauth request"


class FakeStore:
    def __init__(self, key):
        self.line = key.public().toString("openssh").decode()

    def unit_is_active(self, unit):
        return unit == UNIT

    def credential_epoch(self, unit):
        return 0 if unit == UNIT else None

    def ssh_keys(self, unit):
        return [{"public_key": self.line}]


def run_db(f, *args):
    return defer.maybeDeferred(f, *args)


def result_of(d):
    out = []
    d.addBoth(out.append)
    assert out, "the checker did not answer at once"
    return out[0]


@pytest.fixture(scope="module")
def rsa_key():
    return keys.Key(rsa.generate_private_key(public_exponent=65537, key_size=3072))


def login(key, alg, *, sig_alg=None, signed=True, accept_sha1=False):
    """Run the checker for ``key`` asking with ``alg`` and signing with ``sig_alg`` (default: ``alg``)."""
    signature = key.sign(SIG_DATA, signatureType=sig_alg or alg) if signed else None
    creds = credentials.SSHPrivateKey(UNIT.encode(), alg, key.public().blob(), SIG_DATA if signed else None, signature)
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        result = result_of(
            UnitKeyChecker(FakeStore(key), run_db, accept_ssh_rsa_sha1=accept_sha1).requestAvatarId(creds)
        )
    finally:
        globalLogPublisher.removeObserver(events.append)
    return result, [e for e in events if e.get("log_namespace") == "sendemodul.sftp.checker"]


@pytest.mark.parametrize("alg", [b"rsa-sha2-512", b"rsa-sha2-256"])
def test_rsa_with_sha2_signatures_log_in(rsa_key, alg):
    assert login(rsa_key, alg)[0] == UNIT


def test_ssh_rsa_sha1_is_refused_by_default_with_a_logged_reason(rsa_key):
    result, events = login(rsa_key, b"ssh-rsa")
    assert isinstance(result.value, error.UnauthorizedLogin)
    (event,) = [e for e in events if "refused" in e["log_format"]]
    assert event["unit"] == UNIT and "ssh-rsa (SHA-1)" in event["reason"] and "accept_ssh_rsa_sha1" in event["reason"]
    assert not any(isinstance(v, bytes) and len(v) > 64 for v in event.values())  # no key or signature logged


def test_ssh_rsa_sha1_is_refused_already_when_the_client_only_asks(rsa_key):
    """The query without a signature is refused too, so a client does not go on to sign with SHA-1."""
    result, _ = login(rsa_key, b"ssh-rsa", signed=False)
    assert isinstance(result.value, error.UnauthorizedLogin)
    result, _ = login(rsa_key, b"rsa-sha2-512", signed=False)
    assert isinstance(result.value, conch_error.ValidPublicKey)


def test_the_switch_lets_ssh_rsa_sha1_in(rsa_key):
    assert login(rsa_key, b"ssh-rsa", accept_sha1=True)[0] == UNIT


def test_a_signature_must_use_the_algorithm_the_request_names(rsa_key):
    """A SHA-1 signature slipped under an rsa-sha2-512 request is refused (Conch alone would verify it)."""
    result, events = login(rsa_key, b"rsa-sha2-512", sig_alg=b"ssh-rsa")
    assert isinstance(result.value, error.UnauthorizedLogin)
    assert any("differs" in e.get("reason", "") for e in events)


@pytest.mark.parametrize(
    "curve, alg",
    [
        (ec.SECP256R1(), b"ecdsa-sha2-nistp256"),
        (ec.SECP384R1(), b"ecdsa-sha2-nistp384"),
        (ec.SECP521R1(), b"ecdsa-sha2-nistp521"),
    ],
)
def test_ecdsa_logs_in_with_its_own_curve_only(curve, alg):
    key = keys.Key(ec.generate_private_key(curve))
    assert login(key, alg)[0] == UNIT
    other = b"ecdsa-sha2-nistp384" if alg != b"ecdsa-sha2-nistp384" else b"ecdsa-sha2-nistp256"
    creds = credentials.SSHPrivateKey(UNIT.encode(), other, key.public().blob(), None, None)
    result = result_of(UnitKeyChecker(FakeStore(key), run_db).requestAvatarId(creds))
    assert isinstance(result.value, error.UnauthorizedLogin)


def test_ed25519_logs_in():
    key = keys.Key(ed25519.Ed25519PrivateKey.generate())
    assert login(key, b"ssh-ed25519")[0] == UNIT


def test_a_bad_signature_is_refused(rsa_key):
    signature = NS(b"rsa-sha2-512") + NS(b"\0" * 384)
    creds = credentials.SSHPrivateKey(UNIT.encode(), b"rsa-sha2-512", rsa_key.public().blob(), SIG_DATA, signature)
    result = result_of(UnitKeyChecker(FakeStore(rsa_key), run_db).requestAvatarId(creds))
    assert isinstance(result.value, error.UnauthorizedLogin)


def test_server_sig_algs_lists_exactly_the_user_key_algorithms_we_verify():
    sent = []

    class Base:
        def sendExtInfo(self, extensions):
            sent.extend(extensions)

    class T(_twisted.AEADTransportMixin, Base):
        pass

    T().sendExtInfo([(b"server-sig-algs", b"ssh-ed25519"), (b"other", b"x")])
    assert sent == [
        (
            b"server-sig-algs",
            b"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256",
        ),
        (b"other", b"x"),
    ]


def test_the_config_switch_defaults_to_false_and_is_validated(tmp_path):
    assert config.load(tmp_path).sftp.accept_ssh_rsa_sha1 is False
    assert config.parse("[sftp]\naccept_ssh_rsa_sha1 = true\n", tmp_path).sftp.accept_ssh_rsa_sha1 is True
    with pytest.raises(config.ConfigError, match=r"sftp\.accept_ssh_rsa_sha1"):
        config.parse("[sftp]\naccept_ssh_rsa_sha1 = 'yes'\n", tmp_path)
    assert "# accept_ssh_rsa_sha1 = false" in config.render_default("production")
