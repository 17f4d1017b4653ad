"""Real peers for the tests and the benchmark: a free loopback port, and a private OpenSSH sshd on loopback with its
own keys, pubkey login only and ``internal-sftp`` (SSB's server in the tests, OpenSSH's own SFTP server in
``scripts/bench``; the recipe is in ../shared/TESTING.md)."""

import os
import shutil
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prepare_sshd(directory: str | os.PathLike[str], *, log_level: str = "INFO") -> int:
    """Write ``host_ed25519``, ``client_ed25519`` (+ ``.pub``), ``authorized_keys`` and ``sshd_config`` into
    ``directory`` for an sshd on a free loopback port; returns the port. Run it as
    ``/usr/sbin/sshd -D -e -f <directory>/sshd_config`` (``/run/sshd`` must exist)."""
    directory = Path(directory)
    for name in ("host_ed25519", "client_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / name)], check=True)
    shutil.copy(directory / "client_ed25519.pub", directory / "authorized_keys")
    port = free_port()
    (directory / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {directory}/host_ed25519
PidFile {directory}/sshd.pid
AuthorizedKeysFile {directory}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin yes
StrictModes no
LogLevel {log_level}
Subsystem sftp internal-sftp
""")
    return port
