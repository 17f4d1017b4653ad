"""Creating the state home (``sendemodul admin init``): directories, config, database, TLS certificate, SSH host
key, and with ``--dev`` the development keys and a demo unit.

Every secret file is written atomically with mode 0600 inside directories of mode 0700.
"""

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from sendemodul import config as configmod
from sendemodul.errors import AlreadyExists
from sendemodul.store import Store

SPOOL_DIRS = ("incoming", "received", "outbox", "quarantine")


def write_file(path, data, mode=0o600):
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename) with ``mode``; never overwrites."""
    path = Path(path)
    if path.exists():
        raise AlreadyExists(f"{path} already exists; not overwriting it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if path appeared meanwhile
    finally:
        os.unlink(tmp)
    return path


def make_dirs(cfg):
    cfg.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(cfg.home, 0o700)
    for d in [
        cfg.private_dir,
        cfg.tls_cert_path.parent,
        cfg.ssh_host_key_path.parent,
        cfg.keys_dir,
        cfg.log_path.parent,
        cfg.spool_dir,
        *(cfg.spool_dir / name for name in SPOOL_DIRS),
    ]:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)


def self_signed_certificate(hostnames=("localhost",), addresses=("127.0.0.1", "::1"), days=825):
    """A PEM bundle (private key + certificate) for a self-signed ECDSA P-256 server certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sendemodul (self-signed, development)"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def ssh_host_key():
    """An Ed25519 SSH host key: (private key in OpenSSH format, public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public + b" sendemodul-host\n"


def init_home(home, *, environment):
    """Create a new state home (refuses an existing one). Returns the loaded Config and the open Store."""
    home = Path(home).absolute()
    cfg = configmod.Config(home=home, environment=environment)
    if cfg.db_path.exists():
        raise AlreadyExists(f"{home} is already initialised (it has {cfg.db_path.name})")
    make_dirs(cfg)
    if not cfg.config_path.exists():
        write_file(cfg.config_path, configmod.render_default(environment))
    cfg = configmod.load(home)
    if not cfg.tls_cert_path.exists():
        write_file(cfg.tls_cert_path, self_signed_certificate())
    if not cfg.ssh_host_key_path.exists():
        private, public = ssh_host_key()
        write_file(cfg.ssh_host_key_path, private)
        write_file(cfg.ssh_host_key_path.with_suffix(".pub"), public, mode=0o644)
    from sendemodul.persons import PersonKey

    PersonKey.for_home(home)  # the front's key for persons' TOTP secrets (<home>/front/)
    store = Store.create(cfg.db_path)
    store.audit("home.init", actor="admin", detail={"environment": environment})
    return cfg, store
