"""The forwarder: delivers each package in ``spool/outbox/`` to SSB exactly once, then records the delivery time.

Two transports: ``dir`` (a folder SSB collects from; default ``<home>/ssb-inbox``) and ``sftp`` (paramiko, key
authentication, SSB's host key pinned). Both write under a temporary name (``.<reference>.tar.part``), check the
size, and rename to the final name ``<reference>.tar``. The final name is deterministic, so a delivery interrupted
at any point (even after the rename, before the database heard of it) is finished by the next attempt: a final file
of the right size already there counts as delivered. A failed attempt is retried with exponential backoff.
Synchronous (no reactor): run by ``sendemodul forwarder``, supervised by the server's process monitor, which also
collects SSB's answers the same way back (:mod:`sendemodul.collector`).
"""

import base64
import datetime
import os
import shutil
import socket
from pathlib import Path

from twisted.logger import Logger

from sendemodul.errors import SendemodulError
from sendemodul.spool import fsync_dir
from sendemodul.timefmt import utc_text

log = Logger()

ACTOR = "forwarder"


class DeliveryError(SendemodulError):
    """The package could not be delivered to SSB; it will be retried."""

    code = "delivery"


def final_name(reference):
    return f"{reference}.tar"


def temp_name(reference):
    return f".{reference}.tar.part"


class DirTransport:
    """Delivery into a local directory (dev default, or a share SSB collects from)."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def deliver(self, path, reference, size):
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.directory / final_name(reference)
        if final.exists() and final.stat().st_size == size:
            return "already there"
        tmp = self.directory / temp_name(reference)
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        if tmp.stat().st_size != size:
            raise DeliveryError(f"size check failed for {reference}")
        os.rename(tmp, final)
        fsync_dir(self.directory)
        return "delivered"


def parse_host_key(line):
    """(key type, key bytes) of an OpenSSH public key line ``ssh-ed25519 AAAA... [comment]``."""
    parts = line.split()
    if len(parts) < 2:
        raise DeliveryError("forwarder.host_key must be an OpenSSH public key line")
    return parts[0], base64.b64decode(parts[1])


class SftpTransport:
    """Delivery by SFTP push with paramiko: key authentication, the server's host key pinned."""

    def __init__(self, fwd, home):
        self.fwd = fwd
        key_path = Path(fwd.private_key)
        self.key_path = key_path if key_path.is_absolute() else Path(home) / key_path
        self.pinned = parse_host_key(fwd.host_key)

    def connect(self):
        """``(transport, sftp)``: logged in to SSB's server with its host key checked (the answers use it too)."""
        import paramiko

        sock = socket.create_connection((self.fwd.host, self.fwd.port), timeout=self.fwd.timeout_seconds)
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = transport.auth_timeout = self.fwd.timeout_seconds
            transport.start_client(timeout=self.fwd.timeout_seconds)
            key = transport.get_remote_server_key()
            if (key.get_name(), key.asbytes()) != self.pinned:
                raise DeliveryError("SSB's SSH host key does not match the pinned forwarder.host_key")
            transport.auth_publickey(self.fwd.username, paramiko.PKey.from_path(self.key_path))
            sftp = paramiko.SFTPClient.from_transport(transport)
            sftp.get_channel().settimeout(self.fwd.timeout_seconds)
        except BaseException:
            transport.close()
            raise
        return transport, sftp

    def deliver(self, path, reference, size):
        transport, sftp = self.connect()
        try:
            base = self.fwd.remote_dir.rstrip("/") or "."
            final, tmp = f"{base}/{final_name(reference)}", f"{base}/{temp_name(reference)}"
            try:
                if sftp.stat(final).st_size == size:
                    return "already there"
            except FileNotFoundError:
                pass
            with open(path, "rb") as src:
                sftp.putfo(src, tmp, file_size=size, confirm=False)
            if sftp.stat(tmp).st_size != size:
                raise DeliveryError(f"size check failed for {reference}")
            sftp.posix_rename(tmp, final)
            return "delivered"
        finally:
            sftp.close()
            transport.close()


def make_transport(cfg):
    fwd = cfg.forwarder
    if fwd.mode == "sftp":
        return SftpTransport(fwd, cfg.home)
    directory = Path(fwd.directory) if fwd.directory else cfg.home / "ssb-inbox"
    return DirTransport(directory if directory.is_absolute() else cfg.home / directory)


def backoff_seconds(attempts, fwd):
    """Seconds to wait after the ``attempts``-th failure in a row: retry_seconds doubled each time, capped."""
    return min(fwd.retry_seconds * 2 ** max(attempts - 1, 0), fwd.max_retry_seconds)


class Forwarder:
    """``run_once()`` delivers the next due package; returns False when none is due."""

    def __init__(self, cfg, store, spool, transport=None, *, now=None):
        self.cfg = cfg
        self.store = store
        self.spool = spool
        self.transport = transport or make_transport(cfg)
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))

    def run_once(self):
        row = self.store.next_delivery(utc_text(self.now()))
        if row is None:
            self._discard_returned()
            return False
        reference = row["reference"]
        path = self.spool.outbox_path(reference)
        try:
            size = path.stat().st_size
            if row["package_size"] is not None and size != row["package_size"]:
                raise DeliveryError(f"the package of {reference} in the outbox has the wrong size")
            outcome = self.transport.deliver(path, reference, size)
        except Exception as e:  # noqa: BLE001 - any failure: retry later with backoff
            attempts = row["attempts"] + 1
            wait = backoff_seconds(attempts, self.cfg.forwarder)
            error = str(e) if isinstance(e, SendemodulError) else f"{type(e).__name__}: {e}"
            self.store.delivery_failed(reference, error[:500], utc_text(self.now() + datetime.timedelta(seconds=wait)))
            log.warn(
                "delivery of {reference} failed (attempt {attempts}), retry in {wait:.0f} s: {error}",
                reference=reference,
                attempts=attempts,
                wait=wait,
                error=error,
            )
            return False
        self.store.mark_delivered(reference, actor=ACTOR)  # only a queued one: never one a reviewer returned
        self.spool.discard_outbox(reference)
        log.info("upload {reference} delivered to SSB ({outcome})", reference=reference, outcome=outcome)
        return True

    def _discard_returned(self):
        """Packages a reviewer returned to the unit never go to SSB: their outbox files are removed."""
        for row in self.store.uploads_with_status("review_returned"):
            self.spool.discard_outbox(row["reference"])
