"""The municipal side of SFTP: upload a container with paramiko, checking the server's host key, and read the
receipt back from ``/receipts/``. Used by ``sendemodul upload sftp://HOST:PORT``.

The container is written to a temporary name and renamed to its own name: the server runs intake on the rename, so
a refusal comes back as the rename's status, with the server's message.
"""

import hashlib
import json
import secrets
import socket
from pathlib import Path

import paramiko

from sendemodul.errors import UsageError
from sendemodul.sshkeys import fingerprint


class SFTPUploadFailed(UsageError):
    """The SFTP upload failed."""

    code = "upload_failed"


def _expected_keys(host, port, known_hosts, host_key):
    """The host keys we trust for host:port, as (type, base64) pairs."""
    trusted = set()
    if host_key:
        for line in Path(host_key).read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("#"):
                trusted.add((parts[0], parts[1]))
    files = [Path(known_hosts)] if known_hosts else []
    if not host_key and not known_hosts:
        default = Path.home() / ".ssh" / "known_hosts"
        if default.exists():
            files.append(default)
    for path in files:
        entries = paramiko.HostKeys(str(path))
        for name in (host if port == 22 else f"[{host}]:{port}", host):
            for keytype, key in (entries.lookup(name) or {}).items():
                trusted.add((keytype, key.get_base64()))
    return trusted


def sftp_upload(
    url_host,
    url_port,
    container,
    *,
    unit,
    pin=None,
    ssh_key=None,
    known_hosts=None,
    host_key=None,
    progress=None,
    timeout=60,
):
    """Upload ``container`` and return the receipt (a dict, with ``duplicate`` when the server had it already)."""
    container = Path(container)
    digest = hashlib.sha256()
    with open(container, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    try:
        sock = socket.create_connection((url_host, url_port), timeout=timeout)
    except OSError as e:
        raise SFTPUploadFailed(f"cannot connect to {url_host}:{url_port}: {e}") from None
    transport = paramiko.Transport(sock)
    try:
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise SFTPUploadFailed(f"the SSH handshake with {url_host}:{url_port} failed: {e}") from None
        key = transport.get_remote_server_key()
        if (key.get_name(), key.get_base64()) not in _expected_keys(url_host, url_port, known_hosts, host_key):
            raise SFTPUploadFailed(
                f"the server's host key ({key.get_name()} {fingerprint(key.get_base64())}) is not known: refusing to "
                "send. Pass --known-hosts FILE, or for a dev server --host-key <home>/ssh/host_ed25519.pub"
            )
        try:
            if ssh_key:
                transport.auth_publickey(unit, paramiko.PKey.from_path(str(ssh_key)))
            else:
                transport.auth_password(unit, pin)
        except paramiko.AuthenticationException:
            raise SFTPUploadFailed("login failed: check the unit and the PIN or SSH key") from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise SFTPUploadFailed(f"login failed: {e}") from None
        sftp = paramiko.SFTPClient.from_transport(transport)
        before = set(sftp.listdir("/receipts"))
        temporary = f"{container.name}.{secrets.token_hex(4)}.partial"
        sent = [0]

        def callback(done, total):
            if progress:
                progress(done - sent[0])
            sent[0] = done

        try:
            sftp.put(str(container), temporary, callback=callback)
            sftp.rename(temporary, container.name)
        except OSError as e:
            message = e.strerror or (e.args[0] if e.args else str(e))
            raise SFTPUploadFailed(f"refused: {message}") from None
        after = sftp.listdir("/receipts")
        new = sorted(set(after) - before)
        for name in new + sorted(before, reverse=True):
            with sftp.open(f"/receipts/{name}") as f:
                receipt = json.loads(f.read())
            if receipt.get("sha256") == sha256 and receipt.get("unit") == unit:
                receipt["duplicate"] = name not in new
                return receipt
        raise SFTPUploadFailed("the server accepted the upload, but its receipt was not found in /receipts/")
    except (TimeoutError, paramiko.SSHException, EOFError) as e:
        raise SFTPUploadFailed(f"the SFTP session failed: {e}") from None
    finally:
        transport.close()
