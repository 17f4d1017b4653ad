"""A cluster for integration tests: two ``sendemodul serve`` processes on one home (one spool, one key set, the same
TLS certificate and SSH host key), one real PostgreSQL, and Debian's HAProxy in front in TCP mode with the PROXY
protocol (v2) for HTTPS and SFTP. Clients connect from several loopback addresses (127.0.0.2, ...)."""

import json
import subprocess
import threading

from conftest import BIN
from server import DEMO, Server
from support.wait import wait_for

from sendemodul.testing.peers import free_port


class Front(Server):
    """One front of the cluster; its console output is drained in a thread, so it can run (and be killed) freely."""

    def start(self):
        super().start()
        self._drain = threading.Thread(target=self._read_output, args=(self.proc,), daemon=True)
        self._drain.start()
        return self

    def _read_output(self, proc):
        for line in proc.stdout:
            self.output.append(line)

    def text(self):
        return "".join(self.output)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(30)
        self._drain.join(10)


HAPROXY_CONFIG = """
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
frontend https
    bind 127.0.0.1:{https}
    default_backend fronts_https
frontend sftp
    bind 127.0.0.1:{sftp}
    default_backend fronts_sftp
backend fronts_https
    balance roundrobin
{https_servers}
backend fronts_sftp
    balance roundrobin
{sftp_servers}
"""


class HAProxy:
    """Debian's haproxy in the foreground (``-db``) with :data:`HAPROXY_CONFIG`."""

    def __init__(self, directory, fronts):
        self.https_port, self.sftp_port = free_port(), free_port()
        lines = {"https": [], "sftp": []}
        for i, front in enumerate(fronts):
            for kind, port in (("https", front.https_port), ("sftp", front.sftp_port)):
                lines[kind].append(f"    server f{i} 127.0.0.1:{port} send-proxy-v2 check inter 300ms fall 1 rise 2")
        # and one port per front that reaches only that front (a storm aimed at one of them)
        self.direct = [{"https": free_port(), "sftp": free_port()} for _ in fronts]
        direct = []
        for i, (front, ports) in enumerate(zip(fronts, self.direct)):
            for kind, port in (("https", front.https_port), ("sftp", front.sftp_port)):
                direct += [
                    f"frontend {kind}_only_f{i}",
                    f"    bind 127.0.0.1:{ports[kind]}",
                    f"    default_backend {kind}_only_f{i}",
                    f"backend {kind}_only_f{i}",
                    f"    server f{i} 127.0.0.1:{port} send-proxy-v2",
                ]
        self.config = directory / "haproxy.cfg"
        self.config.write_text(
            HAPROXY_CONFIG.format(
                https=self.https_port,
                sftp=self.sftp_port,
                https_servers="\n".join(lines["https"]),
                sftp_servers="\n".join(lines["sftp"]),
            )
            + "\n".join(direct)
            + "\n"
        )
        self.proc = None

    def start(self):
        subprocess.run(["haproxy", "-c", "-q", "-f", str(self.config)], check=True, capture_output=True)
        self.proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: _accepts(self.https_port) and _accepts(self.sftp_port), message="HAProxy to listen")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def _accepts(port):
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def make_cluster(tmp_path, postgres, *, auth=""):
    """Two fronts (with their pseudonymizers and forwarders, one of each running, the other's waiting) on one
    home and one new PostgreSQL database, listening for HAProxy (``haproxy:`` endpoints)."""
    home = tmp_path / "home"
    first = Front(home, worker=True).init()
    url = postgres.new_database()
    copied = subprocess.run(
        [str(BIN), "admin", "migrate-store", "--to", url, "--home", str(home)], capture_output=True, text=True
    )
    assert copied.returncode == 0, copied.stderr
    config = home / "config.toml"
    text = config.read_text().replace(
        "[server]\nhttps_port = 0\nsftp_port = 0\n",
        '[server]\nhttps_endpoint = "haproxy:tcp:0:interface=127.0.0.1"\n'
        'sftp_endpoint = "haproxy:tcp:0:interface=127.0.0.1"\n',
        1,
    )
    text = text.replace("[worker]\n", "[worker]\nstandby = true\npoll_seconds = 0.2\n", 1)
    text = text.replace("[forwarder]\n", "[forwarder]\npoll_seconds = 0.2\n", 1)
    text = text.replace("[auth]\n", f"[auth]\n{auth}\n", 1)
    text = text.replace("[store]\n", f'[store]\nurl = "{url}"\n', 1)
    config.write_text(text)
    second = Front(home, worker=True)
    second.pin = first.pin
    return home, url, [first, second]


def curl_put(https_port, home, path, *, source, pin, name=None, unit=DEMO, max_time=60):
    """``curl -T`` from ``source`` (a loopback address); (exit code, HTTP status or 0, the JSON answer or None)."""
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "--interface",
            source,
            "--cacert",
            str(home / "tls" / "server.pem"),
            "--max-time",
            str(max_time),
            "-u",
            f"{unit}:{pin}",
            "-T",
            str(path),
            "-w",
            "\n%{http_code}",
            f"https://127.0.0.1:{https_port}/api/v1/uploads/{name or path.name}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    body, _, status = proc.stdout.rpartition("\n")
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        answer = None
    return proc.returncode, int(status) if status.isdigit() else 0, answer


def sftp_put(sftp_port, path, *, source, pin, unit=DEMO, timeout=60):
    """OpenSSH's ``sftp`` from ``source``, ``put`` with the PIN; the CompletedProcess (exit 0: accepted)."""
    return subprocess.run(
        [
            "sshpass",
            "-p",
            pin,
            "sftp",
            "-P",
            str(sftp_port),
            "-o",
            f"BindAddress={source}",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "BatchMode=no",
            "-o",
            "ConnectTimeout=20",
            "-b",
            "-",
            f"{unit}@127.0.0.1",
        ],
        input=f"put {path} {path.name}\n",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
