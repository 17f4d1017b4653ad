"""The side-by-side benchmark of DESIGN.md section 11 (run it as ``scripts/bench``; ``--help`` for the options).

Everything runs on this machine in one temp dir: a ``sendemodul serve`` process on free loopback ports, a private
OpenSSH sshd (internal-sftp) and an nginx (PUT) as the peers, the real clients (OpenSSH ``sftp`` with ``sshpass``,
``curl``) and the real municipal-side tools (``sendemodul encrypt``, the pseudonymizer ``sendemodul worker --once``).
Progress goes to stderr, the table to stdout, the figures to ``bench-results.json``.
"""

import argparse
import asyncio
import base64
import concurrent.futures
import datetime
import getpass
import hashlib
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sendemodul.testing.peers import free_port, prepare_sshd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "sendemodul"
DEMO = "0301-00-958935420"
MiB = 1024**2
STEPS = ("sftp", "https", "concurrent", "cluster", "storm", "records", "records15f", "module")
STEP_ALIASES = {
    "pseudonymizer": "records",
    "encrypt": "records",
    "upload": "sftp,https",
    "uploads": "sftp,https",
    "15f": "records15f",
    "barnevern": "records15f",
    "browser": "module",
    "krypteringsmodul": "module",
}
SIZES = {
    "full": {
        "upload_mib": 1024,
        "concurrent": 400,
        "concurrent_mib": 10,
        "records": 2_000_000,
        "pq_rounds": 3,
        "records_15f": 100_000,
        "storm_cpu_seconds": 10,
        "module_records": 100_000,
        "module_records_15f": 20_000,
    },
    "quick": {
        "upload_mib": 64,
        "concurrent": 40,
        "concurrent_mib": 10,
        "records": 50_000,
        "pq_rounds": 5,
        "records_15f": 20_000,
        "storm_cpu_seconds": 4,
        "module_records": 20_000,
        "module_records_15f": 5_000,
    },
}
# Same cipher and MAC for both SSH servers (default: what sendemodul offered before issue 23; --ssh-cipher and
# --ssh-mac pick another, e.g. chacha20-poly1305@openssh.com or aes128-gcm@openssh.com, where the MAC is unused);
# the same TLS version and suite for both HTTPS servers.
SSH_CIPHER = "aes128-ctr"
SSH_MAC = "hmac-sha2-256"
# The AEAD pass of the sftp step (--ssh-aead picks another, e.g. chacha20-poly1305@openssh.com). AES-GCM, because
# it is the AEAD that costs the front least: opening 1 GiB of 32 KiB packets takes about 0.9 s of CPU with
# aes128-gcm (one OpenSSL pass, AES-NI), 1.3-1.5 s with aes128-ctr + an HMAC-SHA-256, and 2.9 s with
# chacha20-poly1305@openssh.com (OpenSSH's layout is not the IETF AEAD, so ChaCha20 and Poly1305 are two passes).
SSH_AEAD = "aes128-gcm@openssh.com"
TLS13_SUITE = "TLS_AES_128_GCM_SHA256"
RECORD_BYTES = 64 * 1024  # the record length of the synthetic containers used for uploads (its content is irrelevant)
TOOLS = {  # command -> Debian package (scripts/system-packages installs them)
    "sftp": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sshd": "openssh-server",
    "sshpass": "sshpass",
    "curl": "curl",
    "nginx": "nginx",
    "perl": "perl-base",
    "haproxy": "haproxy",
    "node": "nodejs",
    "npm": "npm",
    "chromium": "chromium",
}
TOOLS_FOR = {
    "sftp": ("sftp", "ssh-keygen", "sshd", "sshpass"),
    "https": ("curl", "nginx"),
    "concurrent": ("sftp", "sshpass", "curl", "sshd", "ssh-keygen", "nginx", "perl"),
    "cluster": ("sftp", "sshpass", "curl", "haproxy"),
    "storm": ("curl", "nginx", "perl"),
    "records": (),
    "records15f": (),
    "module": ("node", "npm", "chromium"),
}
# (key, label, target text, check) -- the rows of the table, in order
TARGETS = [
    ("sftp_sendemodul_mb_s", "SFTP upload -> sendemodul (MB/s)", "", None),
    ("sftp_openssh_mb_s", "SFTP upload -> OpenSSH internal-sftp (MB/s)", "", None),
    ("sftp_ratio", "SFTP ratio sendemodul/OpenSSH", ">= 0.9", lambda v: v >= 0.9),
    ("sftp_openssh_fsync_mb_s", "SFTP -> OpenSSH, then fsync (MB/s)", "", None),
    ("sftp_openssh_fsync_ratio", "SFTP ratio sendemodul/(OpenSSH + fsync)", "", None),
    ("sftp_rss_growth_mib", "front RSS growth during SFTP upload (MiB)", "<= 64", lambda v: v <= 64),
    ("sftp_front_cpu_per_gib_s", "front CPU per GiB over SFTP: all threads (s)", "", None),
    ("sftp_reactor_cpu_per_gib_s", "front CPU per GiB over SFTP: reactor thread (s)", "", None),
    ("sftp_openssh_cpu_per_gib_s", "OpenSSH sshd CPU per GiB over SFTP (s)", "", None),
    ("sftp_aead_sendemodul_mb_s", "SFTP AEAD upload -> sendemodul (MB/s)", "", None),
    ("sftp_aead_openssh_mb_s", "SFTP AEAD upload -> OpenSSH internal-sftp (MB/s)", "", None),
    ("sftp_aead_ratio", "SFTP AEAD ratio sendemodul/OpenSSH", ">= 1.0", lambda v: v >= 1.0),
    ("sftp_aead_openssh_fsync_ratio", "SFTP AEAD ratio sendemodul/(OpenSSH + fsync)", "", None),
    ("sftp_aead_front_cpu_per_gib_s", "front CPU per GiB over SFTP AEAD: all threads (s)", "< CTR+HMAC", None),
    ("sftp_aead_reactor_cpu_per_gib_s", "front CPU per GiB over SFTP AEAD: reactor thread (s)", "", None),
    ("sftp_aead_openssh_cpu_per_gib_s", "OpenSSH sshd CPU per GiB over SFTP AEAD (s)", "", None),
    ("https_sendemodul_mb_s", "HTTPS upload -> sendemodul (MB/s)", "", None),
    ("https_nginx_mb_s", "HTTPS upload -> nginx (MB/s)", "", None),
    ("https_ratio", "HTTPS ratio sendemodul/nginx", ">= 0.9", lambda v: v >= 0.9),
    ("https_nginx_fsync_mb_s", "HTTPS -> nginx, then fsync (MB/s)", "", None),
    ("https_nginx_fsync_ratio", "HTTPS ratio sendemodul/(nginx + fsync)", ">= 0.9", lambda v: v >= 0.9),
    ("https_floor_mb_s", "HTTPS -> floor server, same work (MB/s)", "", None),
    ("https_floor_ratio", "HTTPS ratio sendemodul/floor server", "", None),
    ("https_rss_growth_mib", "front RSS growth during HTTPS upload (MiB)", "<= 64", lambda v: v <= 64),
    ("https_front_cpu_per_gib_s", "front CPU per GiB over HTTPS: all threads (s)", "", None),
    ("https_reactor_cpu_per_gib_s", "front CPU per GiB over HTTPS: reactor thread (s)", "", None),
    ("concurrent_accepted", "concurrent uploads accepted", "= total", None),  # checked against the total below
    ("concurrent_total", "concurrent uploads started", "", None),
    ("concurrent_p50_s", "concurrent: p50 start -> receipt (s)", "", None),
    ("concurrent_p99_s", "concurrent: p99 start -> receipt (s)", "< 5", lambda v: v < 5),
    ("concurrent_mb_s", "concurrent: aggregate (MB/s)", "", None),
    ("concurrent_peer_p50_s", "concurrent -> peers: p50 start -> receipt (s)", "", None),
    ("concurrent_peer_p99_s", "concurrent -> peers: p99 start -> receipt (s)", "", None),
    ("concurrent_peer_p99_ratio", "concurrent p99 ratio sendemodul/peers", "<= 1.5", lambda v: v <= 1.5),
    ("concurrent_sftp_p99_s", "concurrent SFTP half: p99 (s)", "", None),
    ("concurrent_openssh_p99_s", "concurrent SFTP half -> OpenSSH: p99 (s)", "", None),
    ("concurrent_https_p99_s", "concurrent HTTPS half: p99 (s)", "", None),
    ("concurrent_nginx_p99_s", "concurrent HTTPS half -> nginx: p99 (s)", "", None),
    ("concurrent_peer_accepted", "concurrent uploads the peers accepted", "", None),
    ("concurrent_rss_growth_mib", "front RSS growth during concurrent (MiB)", "< 128", lambda v: v < 128),
    ("cluster_lost", "cluster: uploads lost (of both bursts)", "= 0", lambda v: v == 0),
    ("cluster_direct_mb_s", "cluster: burst to one front directly (MB/s)", "", None),
    ("cluster_haproxy_mb_s", "cluster: burst via HAProxy to two fronts (MB/s)", "", None),
    ("cluster_ratio", "cluster ratio two fronts via HAProxy/one front", "", None),
    ("cluster_haproxy_p99_s", "cluster: p99 start -> receipt via HAProxy (s)", "", None),
    ("cluster_audit_ok", "cluster: audit chain verifies", "true", lambda v: v is True),
    ("storm_calm_mb_s", "HTTPS upload, calm (MB/s)", "", None),
    ("storm_mb_s", "HTTPS upload during wrong-PIN storm (MB/s)", "", None),
    ("storm_ratio", "storm ratio storm/calm", ">= 0.8", lambda v: v >= 0.8),
    ("storm_upload_login_s", "storm: the upload's login took (s)", "", None),
    ("storm_transfer_mb_s", "storm: the upload's body after login (MB/s)", "", None),
    ("storm_logins_per_s", "wrong-PIN logins sent per second", "", None),
    ("storm_login_p99_s", "legitimate login p99 during storm (s)", "", None),
    ("storm_login_failed", "legitimate logins refused/failed in storm", "", None),
    ("storm_cpu_ms_per_login", "front CPU per refused login (ms)", "", None),
    ("storm_reactor_cpu_ms_per_login", "front reactor thread CPU per refused login (ms)", "", None),
    ("storm_nginx_cpu_ms_per_handshake", "nginx CPU per TLS handshake + 401 (ms)", "", None),
    ("storm_twisted_tls_cpu_ms_per_handshake", "bare Twisted TLS CPU per handshake + 503 (ms)", "", None),
    ("storm_nginx_hashed_cpu_ms_per_handshake", "nginx CPU per handshake + 401 + password hash (ms)", "", None),
    ("storm_cpu_ratio", "storm CPU per login ratio sendemodul/nginx", "<= 2", lambda v: v <= 2),
    ("storm_twisted_tls_ratio", "storm CPU: bare Twisted TLS / nginx (the stack's floor)", "", None),
    ("pseudonymizer_records_per_s", "pseudonymizer (records/s)", ">= 250000", lambda v: v >= 250_000),
    ("pseudonymizer_mb_s", "pseudonymizer (MB/s of container)", "", None),
    ("pseudonymizer_rss_mib", "pseudonymizer peak RSS (MiB)", "<= 100", lambda v: v <= 100),
    ("encrypt_records_per_s", "encryption module (records/s)", ">= 250000", lambda v: v >= 250_000),
    ("encrypt_rss_mib", "encryption module peak RSS (MiB)", "<= 100", lambda v: v <= 100),
    ("encrypt_records_per_cpu_s", "encryption module (records/CPU-s)", ">= 27508", lambda v: v >= 27_508),
    ("pseudonymizer_records_per_cpu_s", "pseudonymizer (records/CPU-s)", "", None),
    ("encrypt_pq_ratio", "encryption module time PQ/classic keys", "<= 1.05", lambda v: v <= 1.05),
    ("pseudonymizer_pq_ratio", "pseudonymizer time PQ/classic keys", "<= 1.05", lambda v: v <= 1.05),
    ("encrypt_pq_cpu_ratio", "encryption module CPU PQ/classic keys", "", None),
    ("pseudonymizer_pq_cpu_ratio", "pseudonymizer CPU PQ/classic keys", "", None),
    ("check_15f_records_per_s", "15F check, every barnevern control (Individ/s)", "", None),
    ("encrypt_15f_records_per_s", "15F encryption module: check + split + encrypt (Individ/s)", "", None),
    ("encrypt_15f_rss_mib", "15F encryption module peak RSS (MiB)", "<= 100", lambda v: v <= 100),
    ("module_check_to_container_s", "browser module: Kontroller -> saved container (s)", "<= 15", lambda v: v <= 15),
    ("module_check_s", "browser module: Kontroller -> check's verdict (s)", "", None),
    ("module_encrypt_s", "browser module: Krypter -> container offered (s)", "", None),
    ("module_progress_at_end", "browser module: progress bar reached its end", "true", lambda v: v is True),
    ("module_browser_cpu_s", "browser module: Chromium CPU, Kontroller -> saved (s)", "", None),
    ("module_main_thread_cpu_s", "browser module: CPU of the page's main thread (check) (s)", "", None),
    ("module_worker_cpu_s", "browser module: CPU of the page's Worker (split, encrypt) (s)", "", None),
    ("module_15f_check_to_container_s", "browser module, 15F: Kontroller -> saved container (s)", "", None),
    ("module_15f_check_s", "browser module, 15F: Kontroller -> check's verdict (s)", "", None),
    ("module_15f_encrypt_s", "browser module, 15F: Krypter -> container offered (s)", "", None),
    ("module_15f_progress_at_end", "browser module, 15F: progress bar reached its end", "", None),
]


REQUIRED_KEYS = (
    "sftp_ratio",
    "https_ratio",
    "sftp_rss_growth_mib",
    "https_rss_growth_mib",
    "concurrent_accepted",
    "concurrent_total",
    "concurrent_p99_s",
    "storm_ratio",
    "pseudonymizer_records_per_s",
    "pseudonymizer_rss_mib",
    "encrypt_records_per_s",
    "encrypt_rss_mib",
    # issue 25
    "sftp_aead_ratio",
    "sftp_aead_front_cpu_per_gib_s",
    "sftp_front_cpu_per_gib_s",
    "concurrent_peer_p99_ratio",
    "concurrent_rss_growth_mib",
    "storm_cpu_ms_per_login",
    "storm_nginx_cpu_ms_per_handshake",
    "https_nginx_fsync_ratio",
    # issue 26: the browser module's 15 s, and its phases
    "module_check_to_container_s",
    "module_check_s",
    "module_encrypt_s",
    "module_progress_at_end",
)


class BenchError(Exception):
    """A step could not be measured (the message says why)."""


# ---------------------------------------------------------------------------------------------------------------------
# Pure helpers (tested in tests/test_bench.py)


def percentile(values, p):
    """The nearest-rank ``p``-th percentile (0-100) of ``values``, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[min(len(ordered), int(rank)) - 1]


def mb_per_s(nbytes, seconds):
    return round(nbytes / 1e6 / seconds, 1) if seconds > 0 else None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def parse_only(text):
    """``--only sftp,https`` -> a tuple of step names in run order; raises ValueError for an unknown one."""
    wanted = set()
    for name in (text or "").replace(" ", "").split(","):
        if not name:
            continue
        for step in STEP_ALIASES.get(name, name).split(","):
            if step not in STEPS:
                raise ValueError(f"unknown step {name!r}; choose from {', '.join(STEPS)}")
            wanted.add(step)
    return tuple(s for s in STEPS if s in wanted) or STEPS


def parse_set(items):
    """``--set auth.hash_threads=2`` (TOML value) -> {"auth": ["hash_threads = 2"]}."""
    sections = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name or not value.strip():
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. auth.hash_threads=4")
        sections.setdefault(section, []).append(f"{name} = {value.strip()}")
    return sections


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def apply_config(text, sections):
    """Add ``key = value`` lines at the top of each ``[section]`` of a config written by ``admin init``."""
    for section, lines in sections.items():
        header = f"[{section}]\n"
        if header not in text:
            text += f"\n{header}"
        text = text.replace(header, header + "".join(line + "\n" for line in lines), 1)
    return text


def valid_orgnrs(count, start=91_000_000):
    """``count`` distinct organisasjonsnummer that pass mod-11 (first digit 9)."""
    weights = (3, 2, 7, 6, 5, 4, 3, 2)
    found = []
    n = start
    while len(found) < count:
        digits = f"{n:08d}"
        rest = sum(int(d) * w for d, w in zip(digits, weights)) % 11
        check = 0 if rest == 0 else 11 - rest
        if check != 10:
            found.append(f"{digits}{check}")
        n += 1
    return found


def source_address(group, i):
    """A distinct loopback source address (all of 127.0.0.0/8 is loopback on Linux)."""
    return f"127.{group}.{i // 250}.{i % 250 + 1}"


def check(key, value, results):
    """'ok', 'FAIL' or '' for a figure against its target."""
    if value is None:
        return ""
    if key == "concurrent_accepted":
        return "ok" if value == results.get("concurrent_total") else "FAIL"
    if key == "sftp_aead_front_cpu_per_gib_s":  # lower than the front's CPU per GiB with aes128-ctr + hmac-sha2-256
        other = results.get("sftp_front_cpu_per_gib_s")
        return "" if other is None else "ok" if value < other else "FAIL"
    for k, _, _, test in TARGETS:
        if k == key and test:
            return "ok" if test(value) else "FAIL"
    return ""


def format_table(results):
    """The results as an aligned text table: measure, value, target, ok."""
    rows = [("measure", "value", "target", "")]
    for key, label, target, _ in TARGETS:
        if key not in results:
            continue
        value = results[key]
        if value is None:
            shown = "-"
        elif isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, float):
            digits = (
                3 if key.endswith("ratio") else 2 if key.endswith("_s") and not key.endswith(("mb_s", "per_s")) else 1
            )
            shown = f"{value:,.{digits}f}"
        else:
            shown = f"{value:,}" if isinstance(value, int) else str(value)
        rows.append((label, shown, target, check(key, value, results)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, r in enumerate(rows):
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# Output: one line per step on stderr, a live progress line during long steps


def say(text):
    print(text, file=sys.stderr, flush=True)


class Progress:
    """Shows ``status()`` every half second (in place on a terminal, a line every 5 s otherwise) while it runs."""

    def __init__(self, label, status=None):
        self.label = label
        self.status = status or (lambda: "")
        self.tty = sys.stderr.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def _line(self):
        try:
            status = self.status()
        except Exception:  # noqa: BLE001 - a probe that fails shows nothing
            status = ""
        return f"    {self.label}: {time.monotonic() - self.start:5.1f} s  {status}".rstrip()

    def _run(self):
        last = time.monotonic()
        while not self._stop.wait(0.5):
            line = self._line()  # every half second, shown or not: some probes time what they see
            if self.tty:
                sys.stderr.write("\r\033[K" + line[:150])
                sys.stderr.flush()
            elif time.monotonic() - last >= 5:
                last = time.monotonic()
                say(line)


def bytes_status(total, probe):
    """A progress status for an upload: ``probe()`` gives the bytes arrived so far (or None)."""

    def status():
        done = probe()
        if done is None:
            return ""
        return f"{done / MiB:,.0f}/{total / MiB:,.0f} MiB ({100 * done / total:.0f}%)"

    return status


def tree_size(*paths):
    total = 0
    for path in paths:
        path = Path(path)
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            for p in path.rglob("*"):
                try:
                    if p.is_file():
                        total += p.stat().st_size
                except OSError:
                    pass
    return total


# ---------------------------------------------------------------------------------------------------------------------
# Processes: everything started is stopped at the end, also on Ctrl-C


class Processes:
    def __init__(self):
        self.servers = []  # own session: stopped with their children
        self.clients = []

    def server(self, cmd, log_path, **kw):
        """Start ``cmd`` in its own session (stopped with its children), output to ``log_path``."""
        with open(log_path, "w") as log:
            p = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw
            )
        self.servers.append(p)
        return p

    def client(self, cmd, **kw):
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kw)
        self.clients.append(p)
        return p

    def stop(self, p, timeout=15):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    p.kill()
                p.wait()
        else:  # the leader is gone; its children (sshd sessions, nginx workers) may not be
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stop_all(self):
        for p in self.clients:
            if p.returncode is None and p.poll() is None:
                p.kill()
                p.wait()
        for p in reversed(self.servers):
            self.stop(p)


# Runs argv[1:] and writes its peak RSS (KiB, from wait4) to the file $BENCH_RUSAGE. Linux carries a process's
# ru_maxrss over fork and exec, so the measured command must be forked from this small launcher, not from the bench
# (whose own RSS would count as the command's).
LAUNCHER = """\
import os, sys, threading
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
peaks = {}  # the command's own children (a pseudonymizer's HMAC process): their peak RSS (VmHWM), sampled
done = threading.Event()
def descendants(parent):
    found = []
    try:
        for task in os.listdir(f"/proc/{parent}/task"):
            with open(f"/proc/{parent}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
    except OSError:
        return []
    return found + [d for child in found for d in descendants(child)]
def sample():
    while not done.wait(0.02):
        for child in descendants(pid):
            try:
                # Not before it has run its own program: a fork that has not called exec yet (PF_FORKNOEXEC, 0x40)
                # shares its parent's pages, already counted in the parent's peak; spawned by vfork it shows the
                # parent's own high-water mark (about 1 sample in 100 caught the pseudonymizer's child so, +58 MiB).
                with open(f"/proc/{child}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[6]) & 0x40:
                        continue
                with open(f"/proc/{child}/status") as f:
                    hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
            except (OSError, StopIteration):
                continue
            peaks[child] = max(peaks.get(child, 0), hwm)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
_, status, usage = os.wait4(pid, 0)
done.set()
sampler.join()
# Memory counts every process of the command (issue 25): the sum of their peaks, which is at least the peak of the
# sum. The command's own peak is exact (wait4); its children's are sampled every 20 ms (VmHWM, the kernel's
# high-water mark, so a sample late in a child's life still sees its peak).
children_kib = sum(peaks.values())
with open(os.environ["BENCH_RUSAGE"], "w") as f:
    f.write(f"{usage.ru_maxrss + children_kib} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} {len(peaks)}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd, label, log_path, *, env=None, status=None, timeout=3600):
    """Run ``cmd`` to the end (output to ``log_path``); returns (seconds, peak RSS in MiB, exit code, CPU seconds).

    The peak RSS is the sum of the peaks of the command and of every process it starts (the pseudonymizer's HMAC
    child); the CPU seconds count its children that it waited for too. ``MEASURED_DETAIL[label]`` keeps the command's
    own peak and how many other processes were seen."""
    rusage = Path(f"{log_path}.rusage")
    start = time.monotonic()
    p = PROCS.server(
        [sys.executable, "-c", LAUNCHER, *cmd], log_path, env={**(env or os.environ), "BENCH_RUSAGE": str(rusage)}
    )
    try:
        with Progress(label, status):
            p.wait(timeout)
    except subprocess.TimeoutExpired:
        PROCS.stop(p)
        raise BenchError(f"{label}: not done within {timeout} s (killed)") from None
    seconds = time.monotonic() - start
    try:
        kib, cpu, own_kib, processes = (rusage.read_text() or "0 0 0 0").split()
    finally:
        rusage.unlink()
    MEASURED_DETAIL[label] = {"own_rss_mib": round(int(own_kib) / 1024, 1), "child_processes": int(processes)}
    return seconds, int(kib) / 1024, p.returncode, float(cpu)


#: :func:`run_measured`'s detail per label: the command's own peak RSS and how many child processes it had.
MEASURED_DETAIL = {}


class RssSampler:
    """Peak VmRSS of a process (sampled every 50 ms in a thread) and its growth over the value at the start."""

    def __init__(self, pid):
        self.pid = pid

    def read(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def __enter__(self):
        self.before = self.read() or 0
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            rss = self.read()
            if rss is not None and rss > self.peak:
                self.peak = rss

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self):
        return round(self.peak / MiB, 1)

    @property
    def growth_mib(self):
        return round((self.peak - self.before) / MiB, 1)


PROCS = Processes()


def cpu_seconds(pid):
    """CPU seconds (user + system) used so far by process ``pid``: {"process": all threads (also those that have
    ended), "reactor": its main thread}."""
    tick = os.sysconf("SC_CLK_TCK")

    def read(path):
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)

    return {"process": read(f"/proc/{pid}/stat"), "reactor": read(f"/proc/{pid}/task/{pid}/stat")}


def browser_cpu_seconds():
    """CPU seconds (user + system) of the live Chromium processes started under this one: ``total`` (the browser,
    its renderers and utility processes, with their ended children), ``main`` (the renderers' main threads, where
    the page's check runs) and ``worker`` (their DedicatedWorker threads: the page's Worker)."""
    tick = os.sysconf("SC_CLK_TCK")

    def fields_of(path):
        head, _, rest = Path(path).read_text().rpartition(")")
        return head.partition("(")[2], rest.split()

    parents, used, names = {}, {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = fields_of(stat)
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])  # field 4: ppid
        used[pid] = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        names[pid] = name
    me = os.getpid()
    total = main = worker = 0
    for pid in used:
        if not names[pid].startswith("chrom"):
            continue
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, me):
            ancestor = parents.get(ancestor)
        if ancestor != me:
            continue
        total += used[pid]
        try:
            if b"--type=renderer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for task in Path(f"/proc/{pid}/task").iterdir():
                name, fields = fields_of(task / "stat")
                ticks = int(fields[11]) + int(fields[12])
                if task.name == str(pid):
                    main += ticks
                elif name.startswith("DedicatedWorker"):
                    worker += ticks
        except OSError:
            continue
    return {"total": total / tick, "main": main / tick, "worker": worker / tick}


def group_cpu_seconds(pgid):
    """CPU seconds (user + system) of the live processes of process group ``pgid`` (nginx's master and workers),
    with what their ended children used."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5: pgrp
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick


def wait_idle(cpu, timeout=120, quiet=0.05):
    """Wait until ``cpu()`` (CPU seconds of a server) grows by less than ``quiet`` s in half a second: the work an
    earlier phase left queued (e.g. the hashes of logins whose clients are gone) is done, so that it is not billed
    to the next measurement. Returns the seconds waited."""
    start = time.monotonic()
    last = cpu()
    while time.monotonic() - start < timeout:
        time.sleep(0.5)
        now = cpu()
        if now - last < quiet:
            break
        last = now
    return round(time.monotonic() - start, 1)


def fsync_seconds(path):
    """Seconds an fsync of ``path`` takes (what is still in the page cache goes to the disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        start = time.monotonic()
        os.fsync(fd)
        return time.monotonic() - start
    finally:
        os.close(fd)


def wait_for_port(port, proc, log_path, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited at start:\n{Path(log_path).read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{what} did not listen on port {port} within {timeout} s")


def find_tool(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/local/sbin")


def tail(path, n=600):
    try:
        return Path(path).read_text(errors="replace")[-n:].strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------------------------------
# The sendemodul server and its data


class Sendemodul:
    """``sendemodul serve`` in its own dev home under the temp dir (pseudonymizer off: uploads stay received)."""

    def __init__(self, tmp, sections, label="server"):
        self.home = tmp / "home"
        self.label = label
        self.log_path = tmp / f"{label}.log"
        self.sections = sections

    def attach(self, other):
        """Another front on ``other``'s home (a cluster: the same config, keys, spool and database)."""
        self.home, self.pin, self.cert = other.home, other.pin, other.cert
        return self

    def init(self):
        subprocess.run([str(BIN), "admin", "init", "--dev", "--home", str(self.home)], check=True, capture_output=True)
        config = self.home / "config.toml"
        config.write_text(apply_config(config.read_text(), self.sections))
        self.pin = (self.home / "demo" / "pin.txt").read_text().strip()
        self.cert = self.home / "tls" / "server.pem"
        return self

    def start(self):
        import re

        env = {**os.environ, "SENDEMODUL_HOME": str(self.home)}
        self.starts = getattr(self, "starts", 0) + 1
        self.log_path = self.home.parent / f"{self.label}-{self.starts}.log"
        self.proc = PROCS.server(
            [str(BIN), "serve", "--home", str(self.home)], self.log_path, env=env, cwd=self.home.parent
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            https = re.search(r"HTTPS listening on https://[\d.]+:(\d+)/", text)
            sftp = re.search(r"SFTP listening on [\d.]+:(\d+)", text)
            if https and sftp and "sendemodul started" in text:
                self.https_port, self.sftp_port = int(https.group(1)), int(sftp.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise BenchError(f"sendemodul serve did not start:\n{tail(self.log_path, 3000)}")

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return f"https://127.0.0.1:{self.https_port}"

    def incoming_bytes(self):
        return tree_size(self.home / "spool" / "incoming")

    def store(self):
        from sendemodul import config
        from sendemodul.store import Store

        return Store.open(config.load(self.home).store_location)


def write_upload_container(home, out, *, unit=DEMO, key=None, size_bytes, progress=None):
    """A real container for ``unit`` of about ``size_bytes``, signed with ``key`` (default: the demo unit's key).

    Its rows are long synthetic records: the fronts only check the container's structure, signature and digests."""
    from sendemodul import container, identity, keydir, signing

    today = datetime.date.today()
    keys = keydir.load_key_dir(Path(home) / "keys")
    key = key or signing.load_private_key(Path(home) / "demo" / "unit.key")
    fnr = identity.generate_fnr(datetime.date(1980, 1, 1), 1, kind="synthetic") or identity.generate_fnr(
        datetime.date(1980, 1, 1), 2, kind="synthetic"
    )
    record = "x" * RECORD_BYTES
    rows = (((("PERSON_FODSELSNR", fnr),), record) for _ in range(max(1, size_bytes // (RECORD_BYTES + 40))))
    container.write_container(
        out,
        unit=identity.parse_unit(unit, today.year),
        register="11F",
        periode=today.year,
        signing_key=key,
        tpf_recipients=keys.sealing_keys("tpf", today),
        ssb_recipients=keys.sealing_keys("ssb", today),
        rows=rows,
        progress=progress,
    )
    return Path(out)


def _make_unit_container(args):
    """In a worker process: the container of one bench unit."""
    home, out, unit, pem, size_bytes = args
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, password=None)
    write_upload_container(home, out, unit=unit, key=key, size_bytes=size_bytes)
    return out


def make_units(srv, count, out_dir, size_bytes, again_dir=None):
    """Register ``count`` units (signing key + PIN, straight through the store API as the admin CLI does) and write
    a container for each. Returns [(unit, pin, container path)]. With ``again_dir``, a second container for each
    (another upload), under the same name there."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sendemodul import auth, identity, signing, sshkeys

    year = datetime.date.today().year
    units = [f"0301-00-{orgnr}" for orgnr in valid_orgnrs(count)]
    pins = [auth.generate_pin() for _ in units]
    done = [0]
    hashes = []
    with (
        Progress("hashing PINs", lambda: f"{done[0]}/{count}"),
        concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool,
    ):
        for h in pool.map(auth.hash_pin, pins):
            hashes.append(h)
            done[0] += 1
    keys = [Ed25519PrivateKey.generate() for _ in units]
    store = srv.store()
    try:
        for unit_text, key, phc in zip(units, keys, hashes):
            unit = identity.parse_unit(unit_text, year)
            store.add_unit(unit, name=f"Bench {unit.orgnr}", email="bench@example.org", actor="bench")
            _, public_key, _, fingerprint = sshkeys.parse_public_key(signing.public_line(key, unit_text))
            store.add_signing_key(unit, public_key=public_key, fingerprint=fingerprint, actor="bench")
            store.set_pin(unit, phc, actor="bench")
    finally:
        store.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (
            str(srv.home),
            str(out_dir / f"{i:03d}.tar"),
            unit,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            size_bytes,
        )
        for i, (unit, key) in enumerate(zip(units, keys))
    ]
    if again_dir is not None:
        again_dir.mkdir(parents=True, exist_ok=True)
        jobs += [(home, str(again_dir / Path(out).name), unit, pem, size) for home, out, unit, pem, size in jobs]
    done[0] = 0
    with (
        Progress("writing containers", lambda: f"{done[0]}/{len(jobs)}"),
        concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 2) as pool,
    ):
        for _ in pool.map(_make_unit_container, jobs):
            done[0] += 1
    return [(unit, pin, Path(job[1])) for unit, pin, job in zip(units, pins, jobs[:count])]


# ---------------------------------------------------------------------------------------------------------------------
# The peers: OpenSSH's sshd with internal-sftp, nginx with PUT


SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server")
CRYPT_SALT = "sendemodulbench"  # SHA-512-crypt salt for the peers' password check (16 characters at most)


def crypt_setting(rounds):
    """The crypt(3) setting of the peers' password check: SHA-512-crypt with ``rounds`` (1,000-999,999,999)."""
    return f"$6$rounds={max(1000, int(rounds))}${CRYPT_SALT}"


def perl_crypt_cpu(rounds, count):
    """CPU seconds of a perl that runs crypt(3) ``count`` times with ``rounds`` (its start included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["perl", "-e", 'crypt("x", $ARGV[0]) for 1..$ARGV[1]', crypt_setting(rounds), str(count)], check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def calibrate_login_cost(samples=5):
    """The peers' password check, made to cost the same CPU as sendemodul's: the SHA-512-crypt rounds (libc's
    crypt(3), which nginx's ``auth_basic`` and perl call) that take as much CPU time as one Argon2id PIN verification
    with sendemodul's parameters (:func:`sendemodul.auth.verify_pin`, measured here in thread CPU time, so other
    load on the machine does not skew it). Returns a dict: rounds, argon2_ms, crypt_ms, perl_start_ms."""
    from sendemodul import auth

    pin = auth.generate_pin()
    phc = auth.hash_pin(pin)
    auth.verify_pin(pin, phc)
    t = time.thread_time()
    for _ in range(samples):
        auth.verify_pin(pin, phc)
    argon2 = (time.thread_time() - t) / samples
    probe = 100_000
    start = min(perl_crypt_cpu(probe, 0) for _ in range(3))
    per = max(1e-6, (min(perl_crypt_cpu(probe, 3) for _ in range(2)) - start) / 3)
    rounds = max(1000, round(probe * argon2 / per))
    return {
        "rounds": rounds,
        "argon2_ms": round(argon2 * 1000, 1),
        "crypt_ms": round(per * rounds / probe * 1000, 1),
        "perl_start_ms": round(start * 1000, 1),
    }


def crypt_hashes(pairs, rounds):
    """{user: crypt(3) hash of password} for (user, password) pairs, SHA-512-crypt with ``rounds`` (one perl)."""
    proc = subprocess.run(
        [
            "perl",
            "-ne",
            'chomp; my ($u, $p) = split / /, $_, 2; print "$u:", crypt($p, $s), "\n"; BEGIN { $s = shift }',
            crypt_setting(rounds),
        ],
        input="".join(f"{u} {pw}\n" for u, pw in pairs),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split(":", 1) for line in proc.stdout.splitlines())


class OpenSSH:
    """A private sshd (public-key login). With ``login_rounds``, every SFTP session first runs one SHA-512-crypt of
    that many rounds (the same CPU as one of sendemodul's Argon2id PIN checks, :func:`calibrate_login_cost`) and then
    OpenSSH's sftp-server (internal-sftp's code, in a process of its own, since internal-sftp cannot be wrapped);
    without, the subsystem is internal-sftp."""

    def __init__(self, tmp, name="sshd", login_rounds=None):
        self.dir = tmp / name
        self.target = self.dir / "target"
        self.login_rounds = login_rounds

    def start(self):
        self.dir.mkdir()
        self.target.mkdir()
        self.port = prepare_sshd(self.dir, log_level="ERROR")
        config = self.dir / "sshd_config"
        # many logins at once (the concurrent step): no random drops of unauthenticated connections
        text = config.read_text() + "MaxStartups 2000\n"
        if self.login_rounds:
            server = next((p for p in SFTP_SERVERS if os.path.exists(p)), None)
            if server is None:
                raise BenchError(f"OpenSSH's sftp-server is not in {', '.join(SFTP_SERVERS)}")
            wrapper = self.dir / "sftp-with-password-check"
            wrapper.write_text(
                "#!/bin/sh\n"
                f"perl -e 'crypt(\"bench-password\", $ARGV[0])' '{crypt_setting(self.login_rounds)}'\n"
                f"exec {server}\n"
            )
            wrapper.chmod(0o755)
            text = text.replace("Subsystem sftp internal-sftp", f"Subsystem sftp {wrapper}")
        config.write_text(text)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.proc = PROCS.server([find_tool("sshd"), "-D", "-e", "-f", str(config)], self.dir / "sshd.log")
        wait_for_port(self.port, self.proc, self.dir / "sshd.log", "sshd")
        return self

    def client_options(self):
        return [
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            str(self.dir / "client_ed25519"),
        ]


class Nginx:
    """nginx with PUT into a directory (``/``). With ``users`` ({user: crypt(3) hash}), also ``/up/`` (PUT behind
    ``auth_basic`` with those hashes: the same password check as sendemodul's, see :func:`calibrate_login_cost`) and
    ``/plain/`` (``auth_basic`` with ``{PLAIN}`` passwords: TLS and the 401 without any hash)."""

    def __init__(self, tmp, cert, name="nginx", workers=1, users=None, session_tickets=True):
        self.dir = tmp / name
        self.root = self.dir / "root"
        self.body = self.dir / "body"
        self.cert = cert
        self.workers = workers
        self.users = users
        #: False: ``ssl_session_tickets off``, so that a TLS 1.3 handshake is the same work as sendemodul's (which
        #: issues no tickets: Twisted's ``CertificateOptions`` sets ``OP_NO_TICKET``); nginx's default sends two.
        self.session_tickets = session_tickets

    def start(self):
        for d in (self.dir, self.root, self.body, self.dir / "logs"):
            d.mkdir(exist_ok=True)
        self.port = free_port()
        temp_paths = "".join(
            f"  {kind}_temp_path {self.dir}/{kind};\n" for kind in ("proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        auth = ""
        if self.users is not None:
            (self.root / "up").mkdir(exist_ok=True)
            (self.dir / "htpasswd").write_text("".join(f"{u}:{h}\n" for u, h in self.users.items()))
            (self.dir / "htpasswd-plain").write_text(
                "".join(f"{u}:{{PLAIN}}{secrets.token_hex(12)}\n" for u in self.users)
            )
            auth = f"""\
    location /up/ {{
      auth_basic "bench";
      auth_basic_user_file {self.dir}/htpasswd;
      dav_methods PUT;
      client_max_body_size 0;
    }}
    location /plain/ {{
      auth_basic "bench";
      auth_basic_user_file {self.dir}/htpasswd-plain;
    }}
"""
        (self.dir / "nginx.conf").write_text(f"""\
{user}worker_processes {self.workers};
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.body};
{temp_paths}  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_certificate {self.cert};
    ssl_certificate_key {self.cert};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets {"on" if self.session_tickets else "off"};
    root {self.root};
    location / {{
      dav_methods PUT;
      client_max_body_size 0;
    }}
{auth}  }}
}}
""")
        self.proc = PROCS.server(
            [
                find_tool("nginx"),
                "-p",
                str(self.dir),
                "-e",
                str(self.dir / "error.log"),
                "-c",
                str(self.dir / "nginx.conf"),
            ],
            self.dir / "nginx.out",
        )
        wait_for_port(self.port, self.proc, self.dir / "error.log", "nginx")
        return self

    def received_bytes(self):
        return tree_size(self.body, self.root)

    def clean(self):
        for p in self.root.iterdir():
            p.unlink()


# ---------------------------------------------------------------------------------------------------------------------
# Clients


def ssh_common(cipher=SSH_CIPHER, mac=SSH_MAC):
    return [
        "-c",
        cipher,
        "-o",
        f"MACs={mac}",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=60",
    ]


SSH_COMMON = ssh_common()
CURL_TLS = ["--tlsv1.3", "--tls-max", "1.3", "--tls13-ciphers", TLS13_SUITE]


def sftp_pin_cmd(srv, unit, pin, batch, source=None, ssh=SSH_COMMON):
    bind = ["-o", f"BindAddress={source}"] if source else []
    # -b implies BatchMode, which would never ask for a password: sshpass answers the one prompt
    return [
        "sshpass",
        "-p",
        pin,
        "sftp",
        "-P",
        str(srv.sftp_port),
        *ssh,
        *bind,
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "BatchMode=no",
        "-o",
        "NumberOfPasswordPrompts=1",
        "-b",
        str(batch),
        f"{unit}@127.0.0.1",
    ]


def curl_put_cmd(url, path, cert, out, *, user=None, source=None):
    auth = ["-u", user] if user else []
    bind = ["--interface", source] if source else []
    return [
        "curl",
        "-sS",
        *CURL_TLS,
        "--cacert",
        str(cert),
        *auth,
        *bind,
        "-o",
        str(out),
        "-w",
        "%{http_code}",
        "-T",
        str(path),
        url,
    ]


def upload_timeout(size):
    """Seconds an upload of ``size`` bytes may take before the bench gives up on it (5 MB/s, plus a minute)."""
    return 60 + size / 5e6


def timed(cmd, label, status, log, timeout):
    """Run a client to the end with a progress line; (seconds, exit code, stdout). Raises BenchError after
    ``timeout`` seconds."""
    start = time.monotonic()
    with open(log, "w") as err, Progress(label, status):
        p = PROCS.client(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise BenchError(f"{label}: no answer within {timeout:.0f} s (killed); {tail(log)}") from None
    return time.monotonic() - start, p.returncode, out


def tls_of(url, cert, user=None):
    """The TLS version and suite curl negotiates with the peer (with the bench's options), e.g. 'TLSv1.3 / ...'."""
    cmd = ["curl", "-sv", *CURL_TLS, "--cacert", str(cert), "-o", "/dev/null", url]
    if user:
        cmd[2:2] = ["-u", user]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    for line in proc.stderr.splitlines():
        if "SSL connection using" in line:
            return line.split("SSL connection using", 1)[1].strip()
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Steps


def run_burst(target, units, work, client_timeout):
    """Every unit uploads its container at once (even ones SFTP, odd ones HTTPS), each from its own loopback
    address, to ``target`` (``url``, ``cert``, ``sftp_port``). Returns the clients' figures."""
    work.mkdir()
    procs = []
    n = len(units)
    t0 = time.monotonic()
    for i, (unit, pin, path) in enumerate(units):
        source = source_address(3, i)
        if i % 2 == 0:
            batch = work / f"{i:03d}.batch"
            batch.write_text(f"put {path} {path.name}\n")
            cmd, kind = sftp_pin_cmd(target, unit, pin, batch, source), "sftp"
        else:
            url = f"{target.url}/api/v1/uploads/{path.name}"
            cmd = curl_put_cmd(url, path, target.cert, work / f"{i:03d}.json", user=f"{unit}:{pin}", source=source)
            kind = "https"
        with open(work / f"{i:03d}.err", "w") as err:
            procs.append(
                {
                    "i": i,
                    "unit": unit,
                    "kind": kind,
                    "size": path.stat().st_size,
                    "start": time.monotonic(),
                    "proc": PROCS.client(cmd, stdout=subprocess.PIPE, stderr=err, text=True),
                }
            )
    launched = time.monotonic() - t0
    pending = list(procs)
    deadline = time.monotonic() + client_timeout
    with Progress("uploads", lambda: f"{n - len(pending)}/{n} finished"):
        while pending and time.monotonic() < deadline:
            for item in list(pending):
                if item["proc"].poll() is not None:
                    item["end"] = time.monotonic()
                    pending.remove(item)
            time.sleep(0.02)
    for item in pending:
        item["proc"].kill()
        item["proc"].wait()
        item["end"] = None
    ok, errors = [], {}
    for item in procs:
        out = item["proc"].stdout.read() if item["proc"].stdout else ""
        item["proc"].stdout.close()
        good = (
            item["end"] is not None
            and item["proc"].returncode == 0
            and (item["kind"] == "sftp" or out.strip() in ("200", "201"))
        )
        if good:
            ok.append(item)
        else:
            why = (
                tail(work / f"{item['i']:03d}.err", 200)
                or tail(work / f"{item['i']:03d}.json", 200)
                or ("timed out" if item["end"] is None else f"exit {item['proc'].returncode} HTTP {out.strip()}")
            )
            errors.setdefault(f"{item['kind']}: {why}", 0)
            errors[f"{item['kind']}: {why}"] += 1
    times = [item["end"] - item["start"] for item in ok]
    span = (max(item["end"] for item in ok) - min(item["start"] for item in ok)) if ok else 0
    return {
        "ok": len(ok),
        "sftp_ok": sum(1 for i in ok if i["kind"] == "sftp"),
        "https_ok": sum(1 for i in ok if i["kind"] == "https"),
        "p50_s": round(percentile(times, 50), 2) if times else None,
        "p99_s": round(percentile(times, 99), 2) if times else None,
        "max_s": round(max(times), 2) if times else None,
        "mb_s": mb_per_s(sum(i["size"] for i in ok), span),
        "launch_s": round(launched, 2),
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
    }


class HAProxy:
    """Debian's haproxy in TCP mode with the PROXY protocol (v2) to ``fronts`` (round robin), as docs/cluster.md."""

    def __init__(self, work, fronts):
        self.work = work
        self.fronts = fronts
        self.https_port, self.sftp_port = free_port(), free_port()
        self.cert = fronts[0].cert

    @property
    def url(self):
        return f"https://127.0.0.1:{self.https_port}"

    def start(self):
        lines = [
            "global",
            "    maxconn 4000",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 600s",
            "    timeout server 600s",
            "    retries 3",
            "    option redispatch",
        ]
        for kind, port in (("https", self.https_port), ("sftp", self.sftp_port)):
            lines += [f"frontend {kind}", f"    bind 127.0.0.1:{port}", f"    default_backend {kind}_fronts"]
            lines += [f"backend {kind}_fronts", "    balance roundrobin"]
            for i, front in enumerate(self.fronts):
                lines.append(f"    server f{i} 127.0.0.1:{getattr(front, kind + '_port')} send-proxy-v2")
        config = self.work / "haproxy.cfg"
        config.write_text("\n".join(lines) + "\n")
        log = self.work / "haproxy.log"
        self.proc = PROCS.server([find_tool("haproxy") or "haproxy", "-db", "-f", str(config)], log)
        wait_for_port(self.https_port, self.proc, log, "haproxy")
        wait_for_port(self.sftp_port, self.proc, log, "haproxy")
        return self


class Bench:
    def __init__(self, args, tmp, results):
        self.args = args
        self.tmp = tmp
        self.results = results
        self.srv = None
        self.fresh = False
        self.big = None
        self.units = None

    # shared set-up, made on first use
    def server(self):
        if self.srv is None:
            say("==> starting sendemodul serve (dev home, pseudonymizer off)")
            self.srv = Sendemodul(self.tmp, self.args.server_sections).init().start()
            self.fresh = True
            say(
                f"    HTTPS on 127.0.0.1:{self.srv.https_port}, SFTP on 127.0.0.1:{self.srv.sftp_port}, "
                f"pid {self.srv.pid}"
            )
        return self.srv

    def fresh_server(self):
        """The server, restarted unless no step has used it yet: each step measures a fresh front process."""
        if self.srv is not None and not self.fresh:
            PROCS.stop(self.srv.proc)
            self.srv.start()
            say(
                f"    (fresh server: HTTPS on 127.0.0.1:{self.srv.https_port}, SFTP on 127.0.0.1:"
                f"{self.srv.sftp_port}, pid {self.srv.pid})"
            )
        srv = self.server()
        self.fresh = False
        return srv

    def big_container(self):
        if self.big is None:
            srv = self.server()
            size = self.args.upload_mib * MiB
            say(f"==> writing a {self.args.upload_mib} MiB container for the demo unit")
            done = [0]
            path = self.tmp / "upload.tar"
            with Progress("container", lambda: f"{done[0] * (RECORD_BYTES + 40) / MiB:,.0f} MiB of records"):
                write_upload_container(
                    srv.home, path, size_bytes=size, progress=lambda n: done.__setitem__(0, done[0] + n)
                )
            self.big = path
        return self.big

    def upload_https(self, label, *, budget=None):
        """A timed curl PUT of the big container to sendemodul; returns (seconds, busy answers before it, seconds
        until the body began to arrive in the spool, i.e. the login's time, to 0.5 s).

        With a ``budget`` (seconds), a 503 "busy" (the login found the hash pool's queue full) is retried after
        0.5 s, as a client would, until the budget is spent; the time is that of the attempt that got through."""
        srv = self.server()
        path = self.big_container()
        size = path.stat().st_size
        out = self.tmp / "https-receipt.json"
        deadline = time.monotonic() + (budget or upload_timeout(size))
        busy = 0
        while True:
            first = {"start": time.monotonic()}

            def probe(first=first):
                n = srv.incoming_bytes()
                if n and "byte" not in first:
                    first["byte"] = time.monotonic()
                return n

            try:
                seconds, code, http = timed(
                    curl_put_cmd(f"{srv.url}/api/v1/uploads/bench.tar", path, srv.cert, out, user=f"{DEMO}:{srv.pin}"),
                    label,
                    bytes_status(size, probe),
                    self.tmp / "curl.err",
                    max(1, deadline - time.monotonic()),
                )
            finally:
                self.last_login_s = round(first["byte"] - first["start"], 1) if "byte" in first else None
                self.last_bytes = srv.incoming_bytes()
            if http != "503" or budget is None or time.monotonic() + 0.5 >= deadline:
                break
            busy += 1
            time.sleep(0.5)
        if code != 0 or http not in ("200", "201"):
            raise BenchError(
                f"curl -> sendemodul failed (exit {code}, HTTP {http}): {tail(self.tmp / 'curl.err')} {tail(out)}"
            )
        return seconds, busy, self.last_login_s

    def side_by_side(self, kind, mine, theirs, peer):
        """Run ``mine()`` (an upload to sendemodul) and ``theirs()`` (the same to the peer) ``--repeat`` times in
        turn; each returns seconds. Records the medians, MB/s, ratio and the front's RSS growth under ``kind``."""
        srv = self.server()
        size = self.big_container().stat().st_size
        times = {"sendemodul": [], peer: []}
        with RssSampler(srv.pid) as rss:
            for n in range(self.args.repeat):
                times["sendemodul"].append(mine())
                mine_peak = rss.peak_mib
                times[peer].append(theirs())
                say(
                    f"    round {n + 1}: sendemodul {times['sendemodul'][-1]:.2f} s, {peer} {times[peer][-1]:.2f} s; "
                    f"front RSS {rss.before / MiB:.0f} -> peak {mine_peak:.0f} MiB"
                )
        mine_mb = mb_per_s(size, statistics.median(times["sendemodul"]))
        theirs_mb = mb_per_s(size, statistics.median(times[peer]))
        self.results.update(
            {
                f"{kind}_sendemodul_mb_s": mine_mb,
                f"{kind}_{peer}_mb_s": theirs_mb,
                f"{kind}_ratio": ratio(mine_mb, theirs_mb),
                f"{kind}_sendemodul_s": [round(t, 2) for t in times["sendemodul"]],
                f"{kind}_{peer}_s": [round(t, 2) for t in times[peer]],
                f"{kind}_rss_before_mib": round(rss.before / MiB, 1),
                f"{kind}_rss_peak_mib": rss.peak_mib,
                f"{kind}_rss_growth_mib": rss.growth_mib,
            }
        )
        say(
            f"    sendemodul {mine_mb} MB/s, {peer} {theirs_mb} MB/s (medians): ratio {ratio(mine_mb, theirs_mb)}; "
            f"front RSS growth {rss.growth_mib} MiB"
        )

    def step_sftp(self):
        """Two passes, each side by side with OpenSSH with the same algorithms on both sides: ``--ssh-cipher`` with
        ``--ssh-mac`` (keys ``sftp_*``) and then the AEAD cipher ``--ssh-aead`` (keys ``sftp_aead_*``). Each pass
        records the front's CPU per GiB (process CPU time, all threads and the reactor thread alone), and sshd's
        (on 2 shared cores wall-clock also measures the clients; CPU per GiB says what each server's work costs)."""
        self.big_container()
        srv = self.fresh_server()
        sshd = OpenSSH(self.tmp).start()
        try:
            self._sftp_pass("sftp", srv, sshd, self.args.ssh_cipher, self.args.ssh_mac)
            if self.args.ssh_aead:
                self._sftp_pass("sftp_aead", srv, sshd, self.args.ssh_aead, self.args.ssh_mac)
        finally:
            PROCS.stop(sshd.proc)

    def _sftp_pass(self, kind, srv, sshd, cipher, mac):
        path = self.big_container()
        size = path.stat().st_size
        say(
            "==> SFTP: OpenSSH sftp -> sendemodul and -> OpenSSH internal-sftp "
            f"({cipher}{'' if kind == 'sftp_aead' else ', ' + mac}, {size / MiB:,.0f} MiB)"
        )
        ssh = ssh_common(cipher, mac)
        batch = self.tmp / "sftp-sendemodul.batch"
        batch.write_text(f"put {path} bench.tar\n")
        target = sshd.target / "bench.tar"
        peer_batch = self.tmp / "sftp-openssh.batch"
        peer_batch.write_text(f"put {path} {target}\n")
        durable = []  # OpenSSH's time plus the fsync of the file it wrote (sendemodul fsyncs before the OK)

        cpu = {"process": [], "reactor": []}

        def mine():
            before = cpu_seconds(srv.pid)
            seconds, code, _ = timed(
                sftp_pin_cmd(srv, DEMO, srv.pin, batch, ssh=ssh),
                "sftp -> sendemodul",
                bytes_status(size, srv.incoming_bytes),
                self.tmp / "sftp.err",
                upload_timeout(size),
            )
            after = cpu_seconds(srv.pid)
            if code != 0:
                raise BenchError(f"sftp -> sendemodul failed (exit {code}): {tail(self.tmp / 'sftp.err')}")
            for key, per_gib in cpu.items():
                per_gib.append((after[key] - before[key]) / (size / 1024**3))
            return seconds

        sshd_cpu_per_gib = []

        def sshd_cpu():
            """CPU seconds of sshd and of the connections it has reaped (each runs in a session of its own, so it
            is counted through the master's cutime/cstime), once no connection process is left."""
            pid = sshd.proc.pid
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}/task/{pid}/children").read_text().split() and time.monotonic() < deadline:
                time.sleep(0.05)
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

        def theirs():
            before = sshd_cpu()
            cmd = [
                "sftp",
                "-P",
                str(sshd.port),
                *ssh,
                *sshd.client_options(),
                "-b",
                str(peer_batch),
                f"{getpass.getuser()}@127.0.0.1",
            ]
            seconds, code, _ = timed(
                cmd,
                "sftp -> OpenSSH",
                bytes_status(size, lambda: tree_size(target)),
                self.tmp / "sftp-openssh.err",
                upload_timeout(size),
            )
            if code != 0:
                raise BenchError(f"sftp -> OpenSSH failed (exit {code}): {tail(self.tmp / 'sftp-openssh.err')}")
            sshd_cpu_per_gib.append((sshd_cpu() - before) / (size / 1024**3))
            durable.append(seconds + fsync_seconds(target))
            target.unlink()
            return seconds

        self.results.update({f"{kind}_cipher": cipher, f"{kind}_mac": None if kind == "sftp_aead" else mac})
        self.side_by_side(kind, mine, theirs, "openssh")
        self.results.update(
            {
                f"{kind}_front_cpu_per_gib_s": round(statistics.median(cpu["process"]), 2),
                f"{kind}_reactor_cpu_per_gib_s": round(statistics.median(cpu["reactor"]), 2),
                f"{kind}_openssh_cpu_per_gib_s": round(statistics.median(sshd_cpu_per_gib), 2),
                f"{kind}_openssh_fsync_s": [round(t, 2) for t in durable],
                f"{kind}_openssh_fsync_mb_s": mb_per_s(size, statistics.median(durable)),
            }
        )
        self.results[f"{kind}_openssh_fsync_ratio"] = ratio(
            self.results[f"{kind}_sendemodul_mb_s"], self.results[f"{kind}_openssh_fsync_mb_s"]
        )
        say(
            f"    front CPU per GiB {self.results[f'{kind}_front_cpu_per_gib_s']} s "
            f"(reactor thread {self.results[f'{kind}_reactor_cpu_per_gib_s']} s); "
            f"OpenSSH sshd {self.results[f'{kind}_openssh_cpu_per_gib_s']} s"
        )

    def step_https(self):
        self.big_container()
        srv = self.fresh_server()
        path = self.big_container()
        size = path.stat().st_size
        say(f"==> HTTPS: curl -T -> sendemodul and -> nginx (TLS 1.3 {TLS13_SUITE}, {size / MiB:,.0f} MiB)")
        nginx = Nginx(self.tmp, srv.cert).start()
        out = self.tmp / "nginx-response"
        url = f"https://127.0.0.1:{nginx.port}/bench.tar"

        durable = []  # nginx's time plus the fsync of the file it wrote (sendemodul fsyncs before it answers)

        def theirs():
            seconds, code, http = timed(
                curl_put_cmd(url, path, srv.cert, out),
                "curl -> nginx",
                bytes_status(size, nginx.received_bytes),
                self.tmp / "curl-nginx.err",
                upload_timeout(size),
            )
            if code != 0 or http not in ("201", "204"):
                raise BenchError(
                    f"curl -> nginx failed (exit {code}, HTTP {http}): "
                    f"{tail(self.tmp / 'curl-nginx.err')} {tail(nginx.dir / 'error.log')}"
                )
            durable.append(seconds + fsync_seconds(nginx.root / "bench.tar"))
            nginx.clean()
            return seconds

        self.results.update(
            https_tls_sendemodul=tls_of(f"{srv.url}/api/v1/keys", srv.cert),
            https_tls_nginx=tls_of(f"https://127.0.0.1:{nginx.port}/", srv.cert),
        )
        cpu = {"process": [], "reactor": []}

        def mine():
            before = cpu_seconds(srv.pid)
            seconds = self.upload_https("curl -> sendemodul")[0]
            after = cpu_seconds(srv.pid)
            for key, per_gib in cpu.items():
                per_gib.append((after[key] - before[key]) / (size / 1024**3))
            return seconds

        self.side_by_side("https", mine, theirs, "nginx")
        self.results.update(
            https_front_cpu_per_gib_s=round(statistics.median(cpu["process"]), 2),
            https_reactor_cpu_per_gib_s=round(statistics.median(cpu["reactor"]), 2),
        )
        PROCS.stop(nginx.proc)
        self.results["https_nginx_fsync_s"] = [round(t, 2) for t in durable]
        self.results["https_nginx_fsync_mb_s"] = mb_per_s(size, statistics.median(durable))
        self.results["https_nginx_fsync_ratio"] = ratio(
            self.results["https_sendemodul_mb_s"], self.results["https_nginx_fsync_mb_s"]
        )
        self.floor_https(srv, path, size)

    def floor_https(self, srv, path, size):
        """The same upload into scripts/floor_server.py: what the work that sendemodul must do before it answers
        (TLS, write, SHA-256 of the file and of the parts, fsync) costs here without any framework."""
        say("==> HTTPS: curl -T -> the floor server (the same work, no framework)")
        port = free_port()
        directory = self.tmp / "floor"
        log = self.tmp / "floor.log"
        proc = PROCS.server(
            [
                sys.executable,
                str(ROOT / "scripts" / "floor_server.py"),
                "--port",
                str(port),
                "--cert",
                str(srv.cert),
                "--dir",
                str(directory),
            ],
            log,
        )
        wait_for_port(port, proc, log, "floor server")
        out = self.tmp / "floor-response"
        times = []
        for n in range(self.args.repeat):
            seconds, code, http = timed(
                curl_put_cmd(f"https://127.0.0.1:{port}/bench.tar", path, srv.cert, out),
                "curl -> floor",
                bytes_status(size, lambda: tree_size(directory)),
                self.tmp / "curl-floor.err",
                upload_timeout(size),
            )
            if code != 0 or http != "201":
                raise BenchError(
                    f"curl -> floor server failed (exit {code}, HTTP {http}): "
                    f"{tail(self.tmp / 'curl-floor.err')} {tail(log)}"
                )
            times.append(seconds)
            shutil.rmtree(directory)
            directory.mkdir()
            say(f"    round {n + 1}: floor server {seconds:.2f} s")
        PROCS.stop(proc)
        floor_mb = mb_per_s(size, statistics.median(times))
        self.results.update(
            https_floor_s=[round(t, 2) for t in times],
            https_floor_mb_s=floor_mb,
            https_floor_ratio=ratio(self.results["https_sendemodul_mb_s"], floor_mb),
        )
        say(
            f"    floor server {floor_mb} MB/s; nginx with its fsync {self.results['https_nginx_fsync_mb_s']} MB/s; "
            f"sendemodul/floor {self.results['https_floor_ratio']}, "
            f"sendemodul/(nginx + fsync) {self.results['https_nginx_fsync_ratio']}"
        )

    def _burst(self, units, work, command, label):
        """Start one client per unit at once (``command(i, unit, pin, path, source)`` -> (argv, kind), the unit's own
        loopback source address), wait for all (``--client-timeout``); returns (the clients as dicts with start, end
        or None, exit code, stdout, kind; seconds it took to launch them)."""
        work.mkdir(parents=True, exist_ok=True)
        procs = []
        t0 = time.monotonic()
        for i, (unit, pin, path) in enumerate(units):
            cmd, kind = command(i, unit, pin, path, source_address(3, i))
            with open(work / f"{i:03d}.err", "w") as err:
                procs.append(
                    {
                        "i": i,
                        "unit": unit,
                        "kind": kind,
                        "size": path.stat().st_size,
                        "start": time.monotonic(),
                        "proc": PROCS.client(cmd, stdout=subprocess.PIPE, stderr=err, text=True),
                    }
                )
        launched = time.monotonic() - t0
        pending = list(procs)
        deadline = time.monotonic() + self.args.client_timeout
        with Progress(label, lambda: f"{len(procs) - len(pending)}/{len(procs)} finished"):
            while pending and time.monotonic() < deadline:
                for item in list(pending):
                    if item["proc"].poll() is not None:
                        item["end"] = time.monotonic()
                        pending.remove(item)
                time.sleep(0.02)
        for item in pending:
            item["proc"].kill()
            item["proc"].wait()
            item["end"] = None
        for item in procs:
            item["out"] = item["proc"].stdout.read() if item["proc"].stdout else ""
            item["proc"].stdout.close()
            item["code"] = item["proc"].returncode
        return procs, launched

    @staticmethod
    def _burst_outcome(procs, work, http_ok):
        """(the clients that got their receipt, {why: count} for the others)."""
        ok, errors = [], {}
        for item in procs:
            good = (
                item["end"] is not None
                and item["code"] == 0
                and (item["kind"] in ("sftp", "openssh") or item["out"].strip() in http_ok)
            )
            if good:
                ok.append(item)
            else:
                why = (
                    tail(work / f"{item['i']:03d}.err", 200)
                    or tail(work / f"{item['i']:03d}.json", 200)
                    or ("timed out" if item["end"] is None else f"exit {item['code']} HTTP {item['out'].strip()}")
                )
                errors[f"{item['kind']}: {why}"] = errors.get(f"{item['kind']}: {why}", 0) + 1
        return ok, errors

    def step_concurrent(self):
        """N units at once, half over SFTP and half over HTTPS, to sendemodul; then the same N uploads (same
        containers, same source addresses) to the peers: a private sshd (the SFTP half) and nginx (the HTTPS half),
        each with a password check per login that costs the same CPU as sendemodul's Argon2id PIN check
        (:func:`calibrate_login_cost`). p50/p99 start -> receipt for both, and sendemodul's p99 over the peers'."""
        self.big_container()
        srv = self.fresh_server()
        n, mib = self.args.concurrent, self.args.concurrent_mib
        say(
            f"==> concurrent: {n} units, {mib} MiB container each (half SFTP, half HTTPS), "
            "each from its own loopback address"
        )
        units = make_units(srv, n, self.tmp / "units", mib * MiB)
        work = self.tmp / "concurrent"

        def mine(i, unit, pin, path, source):
            if i % 2 == 0:
                batch = work / f"{i:03d}.batch"
                batch.write_text(f"put {path} {path.name}\n")
                return sftp_pin_cmd(srv, unit, pin, batch, source), "sftp"
            url = f"{srv.url}/api/v1/uploads/{path.name}"
            return curl_put_cmd(
                url, path, srv.cert, work / f"{i:03d}.json", user=f"{unit}:{pin}", source=source
            ), "https"

        with RssSampler(srv.pid) as rss:
            procs, launched = self._burst(units, work, mine, "uploads")
        ok, errors = self._burst_outcome(procs, work, ("200", "201"))
        store = srv.store()
        try:
            names = {u for u, _, _ in units}
            accepted = len({row["unit"] for row in store.list_uploads() if row["unit"] in names})
        finally:
            store.close()
        times = [item["end"] - item["start"] for item in ok]
        span = (max(item["end"] for item in ok) - min(item["start"] for item in ok)) if ok else 0

        def p(values, q):
            return round(percentile(values, q), 2) if values else None

        def kind_times(items, kind):
            return [item["end"] - item["start"] for item in items if item["kind"] == kind]

        self.results.update(
            concurrent_total=n,
            concurrent_accepted=accepted,
            concurrent_lost=n - accepted,
            concurrent_client_ok=len(ok),
            concurrent_sftp_ok=sum(1 for i in ok if i["kind"] == "sftp"),
            concurrent_https_ok=sum(1 for i in ok if i["kind"] == "https"),
            concurrent_p50_s=p(times, 50),
            concurrent_p99_s=p(times, 99),
            concurrent_max_s=round(max(times), 2) if times else None,
            concurrent_sftp_p50_s=p(kind_times(ok, "sftp"), 50),
            concurrent_sftp_p99_s=p(kind_times(ok, "sftp"), 99),
            concurrent_https_p50_s=p(kind_times(ok, "https"), 50),
            concurrent_https_p99_s=p(kind_times(ok, "https"), 99),
            concurrent_mb_s=mb_per_s(sum(i["size"] for i in ok), span),
            concurrent_launch_s=round(launched, 2),
            concurrent_container_mib=mib,
            concurrent_rss_peak_mib=rss.peak_mib,
            concurrent_rss_growth_mib=rss.growth_mib,
            concurrent_errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
        )
        self.units = units
        say(
            f"    accepted {accepted}/{n} (clients ok {len(ok)}), p50 {self.results['concurrent_p50_s']} s, "
            f"p99 {self.results['concurrent_p99_s']} s, {self.results['concurrent_mb_s']} MB/s aggregate; "
            f"{launched:.1f} s to launch the clients; front RSS growth {rss.growth_mib} MiB"
        )
        for why, count in list(errors.items())[:5]:
            say(f"    {count} x {why}")
        self._concurrent_peers(srv, units)

    def _concurrent_peers(self, srv, units):
        say("==> concurrent -> peers: the same uploads, SFTP half -> OpenSSH, HTTPS half -> nginx")
        cost = calibrate_login_cost()
        say(
            f"    password check per login: SHA-512-crypt with {cost['rounds']:,} rounds, {cost['crypt_ms']} ms of CPU "
            f"(sendemodul's Argon2id PIN check: {cost['argon2_ms']} ms)"
        )
        say(
            "    made equal by CPU time: one Argon2id verify with sendemodul's parameters (thread CPU), then the "
            "crypt(3) rounds that take as long; nginx: auth_basic against an htpasswd of those hashes; OpenSSH: the "
            "public key, then a wrapper that runs one crypt(3) of those rounds before sftp-server. sendemodul hashed "
            "every one of its logins too (each a first login from a new network, within the hash budget)"
        )
        https_units = [(unit, pin) for i, (unit, pin, _) in enumerate(units) if i % 2 == 1]
        with Progress("hashing the peers' passwords", lambda: ""):
            users = crypt_hashes(https_units, cost["rounds"])
        sshd = OpenSSH(self.tmp, "sshd-concurrent", login_rounds=cost["rounds"]).start()
        workers = os.cpu_count() or 1
        nginx = Nginx(self.tmp, srv.cert, "nginx-concurrent", workers=workers, users=users).start()
        work = self.tmp / "concurrent-peers"
        user = getpass.getuser()

        def theirs(i, unit, pin, path, source):
            if i % 2 == 0:
                batch = work / f"{i:03d}.batch"
                batch.write_text(f"put {path} {sshd.target / path.name}\n")
                cmd = ["sftp", "-P", str(sshd.port), *SSH_COMMON, *sshd.client_options()]
                return [*cmd, "-o", f"BindAddress={source}", "-b", str(batch), f"{user}@127.0.0.1"], "openssh"
            url = f"https://127.0.0.1:{nginx.port}/up/{path.name}"
            return curl_put_cmd(
                url, path, srv.cert, work / f"{i:03d}.json", user=f"{unit}:{pin}", source=source
            ), "nginx"

        try:
            procs, _ = self._burst(units, work, theirs, "uploads to the peers")
        finally:
            PROCS.stop(sshd.proc)
            PROCS.stop(nginx.proc)
        ok, errors = self._burst_outcome(procs, work, ("201", "204"))
        times = [item["end"] - item["start"] for item in ok]

        def p(values, q):
            return round(percentile(values, q), 2) if values else None

        def kind_times(kind):
            return [item["end"] - item["start"] for item in ok if item["kind"] == kind]

        self.results.update(
            concurrent_peer_login_cost=cost,
            concurrent_peer_nginx_workers=workers,
            concurrent_peer_accepted=len(ok),
            concurrent_peer_p50_s=p(times, 50),
            concurrent_peer_p99_s=p(times, 99),
            concurrent_openssh_p50_s=p(kind_times("openssh"), 50),
            concurrent_openssh_p99_s=p(kind_times("openssh"), 99),
            concurrent_nginx_p50_s=p(kind_times("nginx"), 50),
            concurrent_nginx_p99_s=p(kind_times("nginx"), 99),
            concurrent_peer_p99_ratio=ratio(self.results.get("concurrent_p99_s"), p(times, 99)),
            concurrent_peer_errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
        )
        say(
            f"    peers: {len(ok)}/{len(procs)} ok, p50 {self.results['concurrent_peer_p50_s']} s, p99 "
            f"{self.results['concurrent_peer_p99_s']} s (OpenSSH {self.results['concurrent_openssh_p99_s']} s, nginx "
            f"{self.results['concurrent_nginx_p99_s']} s); p99 ratio sendemodul/peers "
            f"{self.results['concurrent_peer_p99_ratio']}"
        )
        for why, count in list(errors.items())[:5]:
            say(f"    {count} x {why}")

    def step_cluster(self):
        """The concurrent step's burst on one PostgreSQL: first straight to one front, then through HAProxy (TCP,
        PROXY v2) to two fronts on the same home, database and spool, each burst with containers of its own."""
        from sendemodul import audit
        from sendemodul.store import Store
        from sendemodul.testing.postgres import PostgresServer

        n, mib = self.args.concurrent, self.args.concurrent_mib
        say(f"==> cluster: {n} units, {mib} MiB each: one front directly, then two fronts behind HAProxy")
        work = self.tmp / "cluster"
        work.mkdir()
        pg = PostgresServer().start()
        started = []
        try:
            first = Sendemodul(work, self.args.server_sections, label="front-a").init()
            units = make_units(first, n, work / "units-1", mib * MiB, again_dir=work / "units-2")
            again = [(unit, pin, work / "units-2" / path.name) for unit, pin, path in units]
            url = pg.new_database()
            subprocess.run(
                [str(BIN), "admin", "migrate-store", "--to", url, "--home", str(first.home)],
                check=True,
                capture_output=True,
            )
            config = first.home / "config.toml"
            config.write_text(apply_config(config.read_text(), {"store": [f"url = {toml_value(url)}"]}))
            started.append(first.start().proc)
            say(f"    one front (PostgreSQL): HTTPS {first.https_port}, SFTP {first.sftp_port}")
            direct = run_burst(first, units, work / "direct", self.args.client_timeout)
            PROCS.stop(first.proc)
            text = config.read_text().replace("https_port = 0\n", "").replace("sftp_port = 0\n", "")
            behind = [
                f"{kind}_endpoint = {toml_value('haproxy:tcp:0:interface=127.0.0.1')}" for kind in ("https", "sftp")
            ]
            config.write_text(apply_config(text, {"server": behind}))
            second = Sendemodul(work, self.args.server_sections, label="front-b").attach(first)
            fronts = [first.start(), second.start()]
            started += [first.proc, second.proc]
            proxy = HAProxy(work, fronts).start()
            started.append(proxy.proc)
            say(f"    two fronts behind HAProxy: HTTPS {proxy.https_port}, SFTP {proxy.sftp_port}")
            clustered = run_burst(proxy, again, work / "clustered", self.args.client_timeout)
            store = Store.open(url)
            try:
                names = {unit for unit, _, _ in units}
                recorded = sum(1 for row in store.list_uploads() if row["unit"] in names)
                chain_ok = audit.verify(store.audit_entries(), store.audit_head()) is None
            finally:
                store.close()
        finally:
            for proc in started:
                PROCS.stop(proc)
            pg.stop()
        self.results.update(
            cluster_total=2 * n,
            cluster_recorded=recorded,
            cluster_lost=2 * n - recorded,
            cluster_audit_ok=chain_ok,
            cluster_direct_ok=direct["ok"],
            cluster_direct_p99_s=direct["p99_s"],
            cluster_direct_mb_s=direct["mb_s"],
            cluster_haproxy_ok=clustered["ok"],
            cluster_haproxy_p99_s=clustered["p99_s"],
            cluster_haproxy_mb_s=clustered["mb_s"],
            cluster_ratio=ratio(clustered["mb_s"], direct["mb_s"]),
            cluster_errors={**direct["errors"], **clustered["errors"]},
        )
        say(
            f"    one front: {direct['ok']}/{n} ok, p99 {direct['p99_s']} s, {direct['mb_s']} MB/s; two fronts "
            f"behind HAProxy: {clustered['ok']}/{n} ok, p99 {clustered['p99_s']} s, {clustered['mb_s']} MB/s; "
            f"ratio {self.results['cluster_ratio']}; recorded {recorded}/{2 * n}; audit chain "
            f"{'intact' if chain_ok else 'BROKEN'}"
        )
        for why, count in list(self.results["cluster_errors"].items())[:5]:
            say(f"    {count} x {why}")

    def step_storm(self):
        if self.args.storm_cpu_only:  # the CPU per refused login alone: no container, no upload
            srv = self.fresh_server()
            say(f"==> storm: {STORM_WARMUP_S} s of wrong PINs first (not measured), as the full step's upload storm")
            with Storm(srv, rate=self.args.storm_rate, per_source=self.args.storm_per_source, probes=False) as warm:
                time.sleep(STORM_WARMUP_S)
                warm.drain()
            self._storm_cpu(srv)
            return
        self.big_container()
        srv = self.fresh_server()
        path = self.big_container()
        size = path.stat().st_size
        rate = self.args.storm_rate
        per = self.args.storm_per_source
        say(
            f"==> storm: HTTPS upload of {size / MiB:,.0f} MiB, calm and then during {rate} wrong-PIN logins/s "
            f"(from rotating loopback addresses, {per} attempts each"
            + (": the per-source ban never triggers)" if per < 20 else ")")
        )
        with Storm(srv, rate=0) as calm:
            calm_seconds, _, _ = self.upload_https("calm upload")
        budget = max(45, 3 * calm_seconds + 30)
        started = time.monotonic()
        with Storm(srv, rate=rate, per_source=self.args.storm_per_source) as storm, RssSampler(srv.pid) as rss:
            time.sleep(1.0)  # let the storm reach its rate first
            try:
                storm_seconds, busy, login_s = self.upload_https("upload in storm", budget=budget)
                failure = None
            except BenchError as e:  # no receipt within the budget: that is the result
                storm_seconds, busy, login_s, failure = None, None, self.last_login_s, str(e)
                failure += f" ({self.last_bytes / MiB:,.0f} of {size / MiB:,.0f} MiB had arrived)"
        calm_mb = mb_per_s(size, calm_seconds)
        storm_mb = mb_per_s(size, storm_seconds) if storm_seconds else 0.0
        self.results.update(
            storm_upload_failure=failure,
            storm_budget_s=round(budget, 1),
            storm_upload_login_s=login_s,
            storm_transfer_mb_s=mb_per_s(size, storm_seconds - login_s) if login_s and storm_seconds else None,
            storm_until_receipt_s=None if failure else round(time.monotonic() - started - 1, 2),
        )
        self.results.update(
            storm_calm_mb_s=calm_mb,
            storm_mb_s=storm_mb,
            storm_ratio=ratio(storm_mb, calm_mb),
            storm_logins_per_s=round(storm.sent / storm.seconds, 1) if storm.seconds else None,
            storm_login_statuses=storm.statuses,
            storm_login_p50_s=storm.probe_percentile(50),
            storm_login_p99_s=storm.probe_percentile(99),
            storm_login_failed=storm.probe_failed,
            storm_login_probes=len(storm.probes),
            storm_client_cpu_cores=storm.client_cpu_share,
            calm_login_p99_s=calm.probe_percentile(99),
            storm_rss_growth_mib=rss.growth_mib,
            storm_upload_busy_answers=busy,
        )
        say(
            f"    calm {calm_mb} MB/s, storm {storm_mb} MB/s, ratio {self.results['storm_ratio']}; "
            f"{self.results['storm_logins_per_s']} wrong logins/s answered {storm.statuses}; legitimate login p99 "
            f"{self.results['storm_login_p99_s']} s (calm {self.results['calm_login_p99_s']} s), "
            f"{storm.probe_failed}/{len(storm.probes)} failed"
            + (f"; the upload was answered busy {busy} times first" if busy else "")
        )
        if failure:
            say(f"    the upload in the storm got no receipt within {budget:.0f} s: {failure}")
        self._storm_cpu(srv)

    def _storm_cpu(self, srv):
        """CPU per refused login, counted in process CPU time (not wall clock, which on two shared cores would
        mostly time the storm client): the same wrong-PIN storm for ``--storm-cpu-seconds`` without an upload,
        against sendemodul, then against nginx (one worker per core, session tickets off as sendemodul's) with plain
        passwords (``/plain/``: the TLS handshake and a 401, no hash: ``storm_nginx_cpu_ms_per_handshake``, the peer
        of the ratio), then against a bare Twisted TLS server with sendemodul's TLS options that answers 503 to
        everything (``storm_twisted_tls_cpu_ms_per_handshake``: what any Twisted/pyOpenSSL front pays), then against
        nginx with a password check of the same cost as sendemodul's Argon2id (``/up/``,
        :func:`calibrate_login_cost`). Each: CPU of the server's processes in the window over the refused logins
        answered in it. Then the server side of one TLS handshake alone (:func:`tls_handshake_costs`). What each
        does per refused login is in ``storm_work_per_login``."""
        rate, seconds = self.args.storm_rate, self.args.storm_cpu_seconds
        say(
            f"==> storm CPU: {rate} wrong-PIN logins/s for {seconds} s each -> sendemodul, nginx, a bare Twisted TLS "
            "server, nginx with a hash"
        )
        for who, work in STORM_WORK.items():
            say(f"    per login, {who}: {work}")
        cost = calibrate_login_cost()
        pin_hash = crypt_hashes([(DEMO, srv.pin)], cost["rounds"])
        workers = os.cpu_count() or 1
        nginx = Nginx(self.tmp, srv.cert, "nginx-storm", workers=workers, users=pin_hash, session_tickets=False).start()
        floor = subprocess.Popen(
            [sys.executable, "-c", TLS_FLOOR_SERVER, str(srv.cert)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
        floor_port = int(floor.stdout.readline())

        def measure(label, cpu, rate=rate, **kw):
            waited = wait_idle(cpu)
            if waited > 1:
                say(f"    (waited {waited} s for the server to finish what the phase before left queued)")
            with Storm(srv, rate=rate, per_source=self.args.storm_per_source, probes=False, **kw) as storm:
                before = cpu()
                time.sleep(seconds)
                storm.drain()  # sendemodul answers a failure after auth.failure_delay_seconds: wait for them all
                used = cpu() - before
            refused = storm.refused
            per = round(used / refused * 1000, 2) if refused else None
            say(f"    {label}: {used:.2f} s of CPU for {refused} refused logins ({storm.statuses}): {per} ms each")
            return per, used, refused, storm.statuses

        try:
            reactor = []  # the reactor thread's share of sendemodul's window (the rest: mostly Argon2id at nice 10)

            def front_cpu():
                cpu = cpu_seconds(srv.pid)
                reactor.append(cpu["reactor"])
                return cpu["process"]

            mine = measure("sendemodul", front_cpu)
            plain = measure(
                "nginx, plain password", lambda: group_cpu_seconds(nginx.proc.pid), port=nginx.port, path="/plain/"
            )
            bare = measure(
                "bare Twisted TLS, 503", lambda: cpu_seconds(floor.pid)["process"], port=floor_port, path="/"
            )
            hashed = measure(  # at a rate its workers keep up with, so that the window is not mostly waiting
                "nginx, same password check",
                lambda: group_cpu_seconds(nginx.proc.pid),
                rate=min(rate, 20),
                port=nginx.port,
                path="/up/",
            )
        finally:
            PROCS.stop(nginx.proc)
            floor.kill()
            floor.wait()
        handshake = tls_handshake_costs(srv.cert)
        say(f"    server side of one TLS handshake in sendemodul's TLS stack, in memory (ms): {handshake}")
        self.results.update(
            storm_cpu_seconds=seconds,
            storm_cpu_login_cost=cost,
            storm_work_per_login=STORM_WORK,
            storm_cpu_ms_per_login=mine[0],
            storm_reactor_cpu_ms_per_login=round((reactor[-1] - reactor[0]) / mine[2] * 1000, 2) if mine[2] else None,
            storm_cpu_refused=mine[2],
            storm_cpu_statuses=mine[3],
            storm_nginx_cpu_ms_per_handshake=plain[0],
            storm_nginx_refused=plain[2],
            storm_twisted_tls_cpu_ms_per_handshake=bare[0],
            storm_twisted_tls_refused=bare[2],
            storm_nginx_hashed_cpu_ms_per_handshake=hashed[0],
            storm_nginx_hashed_refused=hashed[2],
            storm_nginx_hashed_statuses=hashed[3],
            storm_nginx_workers=workers,
            storm_tls_handshake_ms=handshake,
            storm_cpu_ratio=ratio(mine[0], plain[0]),
            storm_twisted_tls_ratio=ratio(bare[0], plain[0]),
        )

    def step_records(self):
        """The encryption module and the pseudonymizer on one extract, once with post-quantum keys (the default
        keys, which give the records/s rows) and once with classic X25519 keys, in turn for ``--pq-rounds`` rounds
        (ABBA order, so neither kind always runs first on a warm cache); the best time of each kind counts, and
        ``*_pq_ratio`` is PQ over classic."""
        n = self.args.records
        year = datetime.date.today().year
        say(f"==> records: encryption module and pseudonymizer on {n:,} records (11F {year}), PQ and classic keys")
        import compileall

        import sendemodul
        from sendemodul import identity
        from sendemodul.profiles import load_profile
        from sendemodul.testing.extracts import write_extract

        # The commands below load sendemodul's byte-code, as an installed package does (pip compiles it when it
        # installs, and the server starts the worker with `python -I`, which writes it at the first start). A shell
        # with PYTHONDONTWRITEBYTECODE set (as in a development session) left a checkout uncompiled, and each run
        # compiled every module again: about 0.1 CPU-s of the pseudonymizer's start-up.
        compileall.compile_dir(Path(sendemodul.__file__).parent, quiet=1)
        homes = {}
        for kind, key_type in (("pq", "age-pq"), ("classic", "age")):
            homes[kind] = self.tmp / f"records-home-{kind}"
            subprocess.run(
                [str(BIN), "admin", "init", "--dev", "--key-type", key_type, "--home", str(homes[kind])],
                check=True,
                capture_output=True,
            )
        extract = self.tmp / "extract.dat"
        with (
            Progress("generating the extract", lambda: f"{tree_size(extract) / MiB:,.0f} MiB"),
            open(extract, "wb") as out,
        ):
            write_extract(out, load_profile("11F", year), identity.parse_unit(DEMO, year), n, seed=1)
        runs = {"pq": [], "classic": []}
        for round_ in range(self.args.pq_rounds):
            for kind in ("classic", "pq") if round_ % 2 == 0 else ("pq", "classic"):
                runs[kind].append(self._records_run(homes[kind], extract, year, f"{kind}-{round_}"))
                run = runs[kind][-1]
                say(
                    f"    {kind:7} round {round_ + 1}: encrypt {run['encrypt_s']:.2f} s "
                    f"(CPU {run['encrypt_cpu_s']:.2f} s), pseudonymizer {run['pseudonymizer_s']:.2f} s "
                    f"(CPU {run['pseudonymizer_cpu_s']:.2f} s)"
                )
        best = {
            kind: {step: min(run[f"{step}_s"] for run in kind_runs) for step in ("encrypt", "pseudonymizer")}
            for kind, kind_runs in runs.items()
        }
        best_cpu = {
            kind: {step: min(run[f"{step}_cpu_s"] for run in kind_runs) for step in ("encrypt", "pseudonymizer")}
            for kind, kind_runs in runs.items()
        }
        pq = runs["pq"]
        encrypt_s, pseudonymizer_s = best["pq"]["encrypt"], best["pq"]["pseudonymizer"]
        size = pq[-1]["container_bytes"]
        self.results.update(
            records=n,
            extract_mib=round(extract.stat().st_size / MiB, 1),
            encrypt_s=round(encrypt_s, 2),
            encrypt_records_per_s=round(n / encrypt_s),
            encrypt_mb_s=mb_per_s(extract.stat().st_size, encrypt_s),
            encrypt_rss_mib=round(max(run["encrypt_rss_mib"] for run in pq), 1),
            container_mib=round(size / MiB, 1),
            pseudonymizer_s=round(pseudonymizer_s, 2),
            pseudonymizer_records_per_s=round(n / pseudonymizer_s),
            pseudonymizer_mb_s=mb_per_s(size, pseudonymizer_s),
            pseudonymizer_rss_mib=round(max(run["pseudonymizer_rss_mib"] for run in pq), 1),
            # The sum above is of every process of the worker; this is the worker's own peak, and how many there were
            pseudonymizer_own_rss_mib=round(max(run["pseudonymizer_own_rss_mib"] for run in pq), 1),
            pseudonymizer_processes=max(run["pseudonymizer_processes"] for run in pq),
            pseudonymizer_status=pq[-1]["status"],
            pq_rounds=self.args.pq_rounds,
            encrypt_classic_s=round(best["classic"]["encrypt"], 3),
            encrypt_pq_s=round(encrypt_s, 3),
            pseudonymizer_classic_s=round(best["classic"]["pseudonymizer"], 3),
            pseudonymizer_pq_s=round(pseudonymizer_s, 3),
            encrypt_pq_ratio=ratio(encrypt_s, best["classic"]["encrypt"]),
            pseudonymizer_pq_ratio=ratio(pseudonymizer_s, best["classic"]["pseudonymizer"]),
            encrypt_pq_runs_s=[round(run["encrypt_s"], 3) for run in pq],
            encrypt_classic_runs_s=[round(run["encrypt_s"], 3) for run in runs["classic"]],
            pseudonymizer_pq_runs_s=[round(run["pseudonymizer_s"], 3) for run in pq],
            pseudonymizer_classic_runs_s=[round(run["pseudonymizer_s"], 3) for run in runs["classic"]],
            encrypt_pq_cpu_ratio=ratio(best_cpu["pq"]["encrypt"], best_cpu["classic"]["encrypt"]),
            pseudonymizer_pq_cpu_ratio=ratio(best_cpu["pq"]["pseudonymizer"], best_cpu["classic"]["pseudonymizer"]),
            # Process CPU (user + system, the best round): on a loaded machine wall-clock measures the neighbours too
            encrypt_cpu_s=round(best_cpu["pq"]["encrypt"], 2),
            encrypt_records_per_cpu_s=round(n / best_cpu["pq"]["encrypt"]),
            pseudonymizer_cpu_s=round(best_cpu["pq"]["pseudonymizer"], 2),
            pseudonymizer_records_per_cpu_s=round(n / best_cpu["pq"]["pseudonymizer"]),
        )
        say(
            f"    CPU (PQ keys): encrypt {self.results['encrypt_records_per_cpu_s']:,} records/CPU-s, pseudonymizer "
            f"{self.results['pseudonymizer_records_per_cpu_s']:,} records/CPU-s"
        )
        say(
            f"    encrypt (PQ keys): {encrypt_s:.2f} s, {n / encrypt_s:,.0f} records/s, peak RSS "
            f"{self.results['encrypt_rss_mib']:.0f} MiB; PQ/classic {self.results['encrypt_pq_ratio']}"
        )
        say(
            f"    pseudonymizer (PQ keys): {pseudonymizer_s:.2f} s, {n / pseudonymizer_s:,.0f} records/s, "
            f"{mb_per_s(size, pseudonymizer_s)} MB/s, peak RSS {self.results['pseudonymizer_rss_mib']:.0f} MiB "
            f"(the sum over its {self.results['pseudonymizer_processes']} processes; the worker's own "
            f"{self.results['pseudonymizer_own_rss_mib']:.0f} MiB); "
            f"PQ/classic {self.results['pseudonymizer_pq_ratio']}"
        )

    def step_records15f(self):
        """15F: ``sendemodul check`` and ``sendemodul encrypt`` (which checks, splits each ``Individ`` into its
        identifiers for the TPF and the rest for SSB, and encrypts) of a generated barnevern extract with
        ``--records-15f`` Individ, each with meldinger, planer, tiltak and flyttinger; Individ per second."""
        n = self.args.records_15f
        year = datetime.date.today().year
        say(f"==> records15f: check and encryption module on {n:,} Individ (15F {year}, every barnevern control)")
        from sendemodul import identity
        from sendemodul.profiles import load_profile
        from sendemodul.testing.extracts import write_extract

        home = self.tmp / "records15f-home"
        subprocess.run([str(BIN), "admin", "init", "--dev", "--home", str(home)], check=True, capture_output=True)
        extract = self.tmp / "barnevern.xml"
        with (
            Progress("generating the 15F extract", lambda: f"{tree_size(extract) / MiB:,.0f} MiB"),
            open(extract, "wb") as out,
        ):
            write_extract(out, load_profile("15F", year), identity.parse_unit(DEMO, year), n, seed=1)
        env = {**os.environ, "SENDEMODUL_HOME": str(home)}
        common = ["-r", "15F", "-p", str(year), "-u", DEMO]
        report = self.tmp / "records15f-report.json"
        check_log = self.tmp / "check-15f.log"
        check_s, check_rss, code, check_cpu = run_measured(
            [str(BIN), "check", *common, "--format", "json", "-o", str(report), str(extract)],
            "sendemodul check (15F)",
            check_log,
            env=env,
        )
        if code not in (0, 1):  # a generated extract is clean: OK, or SSB's warnings on DUF-only individer
            raise BenchError(f"sendemodul check of the 15F extract exited {code}: {tail(check_log, 1500)}")
        tar = self.tmp / "records15f.tar"
        log = self.tmp / "encrypt-15f.log"
        os.sync()
        encrypt_s, encrypt_rss, code, encrypt_cpu = run_measured(
            [
                str(BIN),
                "encrypt",
                *common,
                "--signing-key",
                str(home / "demo" / "unit.key"),
                str(extract),
                "-o",
                str(tar),
            ],
            "sendemodul encrypt (15F)",
            log,
            env=env,
        )
        if code != 0 or not tar.exists():
            raise BenchError(f"sendemodul encrypt of the 15F extract failed (exit {code}): {tail(log, 1500)}")
        checked = json.loads(report.read_text())
        self.results.update(
            records_15f=n,
            extract_15f_mib=round(extract.stat().st_size / MiB, 1),
            check_15f_s=round(check_s, 2),
            check_15f_cpu_s=round(check_cpu, 2),
            check_15f_records_per_s=round(n / check_s),
            check_15f_rss_mib=round(check_rss, 1),
            check_15f_result=checked["result"],
            check_15f_rules=checked["rules"],
            encrypt_15f_s=round(encrypt_s, 2),
            encrypt_15f_cpu_s=round(encrypt_cpu, 2),
            encrypt_15f_records_per_s=round(n / encrypt_s),
            encrypt_15f_mb_s=mb_per_s(extract.stat().st_size, encrypt_s),
            encrypt_15f_rss_mib=round(encrypt_rss, 1),
            container_15f_mib=round(tar.stat().st_size / MiB, 1),
        )
        say(
            f"    check: {check_s:.2f} s, {n / check_s:,.0f} Individ/s, peak RSS {check_rss:.0f} MiB, "
            f"result {checked['result']} ({', '.join(f'{k} {v}' for k, v in checked['rules'].items())})"
        )
        say(
            f"    encrypt: {encrypt_s:.2f} s, {n / encrypt_s:,.0f} Individ/s, "
            f"{self.results['encrypt_15f_mb_s']} MB/s of extract ({self.results['extract_15f_mib']} MiB), "
            f"peak RSS {encrypt_rss:.0f} MiB"
        )

    def step_module(self):
        """The browser module (krypteringsmodul.html, issue 26) opened from ``file://`` in headless Chromium and
        walked by the keyboard as tests/test_browser_module.py walks it (sendemodul/testing/module_walk.py): a
        generated ``--module-records`` 11F extract and the unit's key, "Kontroller", "Krypter", the container saved.
        The issue's 15 s from "Kontroller" to the saved container is this step's target, not a test's. Then the same
        walk on a generated 15F extract of ``--module-records-15f`` Individ (every barnevern control runs in the
        page, from the table; tests/test_browser_module_xml.py walks it): its figures, with no target."""
        n, n_15f = self.args.module_records, self.args.module_records_15f
        year = datetime.date.today().year
        say(
            f"==> module: the browser module in headless Chromium on {n:,} records (11F {year}), then {n_15f:,} "
            f"Individ (15F {year}), keyboard only"
        )
        sys.path.insert(0, str(ROOT / "tests"))  # the tests' Chromium launch (tests/support/browsers.py)
        from playwright.sync_api import sync_playwright
        from support.browsers import launch_chromium

        from sendemodul import identity
        from sendemodul.profiles import load_profile
        from sendemodul.testing.extracts import write_extract

        home = self.tmp / "module-home"
        env = {**os.environ, "SENDEMODUL_HOME": str(home)}
        subprocess.run([str(BIN), "admin", "init", "--dev", "--home", str(home)], check=True, capture_output=True)
        out = self.tmp / "module"
        built = subprocess.run(
            [str(BIN), "module", "build", "--year", str(year), "-o", str(out)], env=env, capture_output=True, text=True
        )
        if built.returncode != 0:
            raise BenchError(f"sendemodul module build failed: {(built.stderr or built.stdout)[-1500:]}")
        unit = identity.parse_unit(DEMO, year)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                for register, records, prefix, extract in (
                    ("11F", n, "module", self.tmp / "module-extract.txt"),
                    ("15F", n_15f, "module_15f", self.tmp / "module-extract-15f.xml"),
                ):
                    with open(extract, "wb") as f:
                        write_extract(f, load_profile(register, year), unit, records, seed=1)
                    self._module_walk(browser, out / "krypteringsmodul.html", extract, home, register, year, prefix)
                    self.results[f"{prefix}_records"] = records
            finally:
                browser.close()

    def _module_walk(self, browser, html, extract, home, register, year, prefix):
        """One keyboard walk through ``html`` in a fresh context of ``browser``: ``extract`` (of ``register``)
        checked, encrypted and saved; its figures go into the results as ``<prefix>_...``."""
        from sendemodul.testing.module_walk import keyboard_walk

        context = browser.new_context(accept_downloads=True)
        try:
            cpu_at_start = []
            walk = keyboard_walk(
                context.new_page(),
                html,
                extract,
                home / "demo" / "unit.key",
                self.tmp / f"{prefix}.tar",
                kommunenr=DEMO.split("-")[0],
                orgnr=DEMO.split("-")[2],
                skjema=f"{register}/{year}",
                on_kontroller=lambda: cpu_at_start.append(browser_cpu_seconds()),
            )
            cpu = {k: v - cpu_at_start[0][k] for k, v in browser_cpu_seconds().items()}
        except AssertionError as e:
            raise BenchError(f"the walk through the page ({register}) failed: {e}") from None
        finally:
            context.close()
        figures = {
            "extract_mib": round(extract.stat().st_size / MiB, 1),
            "check_to_container_s": round(walk.seconds, 2),
            "check_s": walk.check_s,
            "encrypt_s": None if walk.encrypt_s is None else round(walk.encrypt_s, 2),
            "marks_s": walk.marks,
            "progress_at_end": walk.progress_at_end,
            "browser_cpu_s": round(cpu["total"], 2),
            "main_thread_cpu_s": round(cpu["main"], 2),
            "worker_cpu_s": round(cpu["worker"], 2),
            "container_mib": round(walk.container.stat().st_size / MiB, 1),
        }
        self.results.update({f"{prefix}_{key}": value for key, value in figures.items()})
        say(
            f"    {register}: Kontroller -> saved container {walk.seconds:.2f} s (check {walk.check_s} s, encrypt "
            f"{figures['encrypt_s']} s; marks {walk.marks}); Chromium CPU {cpu['total']:.2f} s "
            f"(the page's main thread {cpu['main']:.2f} s, its Worker {cpu['worker']:.2f} s); "
            f"progress bar at its end: {walk.progress_at_end}"
        )

    def _records_run(self, home, extract, year, tag):
        """``sendemodul encrypt`` of ``extract`` with ``home``'s keys, then the container as a received upload and
        one ``sendemodul worker --once``; returns the times, peak RSS and the container's size."""
        from sendemodul import container, intake
        from sendemodul.config import load
        from sendemodul.errors import ManifestInvalid
        from sendemodul.spool import Spool
        from sendemodul.store import Store

        tar = self.tmp / f"records-{tag}.tar"
        env = {**os.environ, "SENDEMODUL_HOME": str(home)}
        log = self.tmp / f"encrypt-{tag}.log"
        os.sync()  # the previous run's writeback is not billed to this one
        encrypt_s, encrypt_rss, code, encrypt_cpu = run_measured(
            [
                str(BIN),
                "encrypt",
                "-r",
                "11F",
                "-p",
                str(year),
                "-u",
                DEMO,
                "--signing-key",
                str(home / "demo" / "unit.key"),
                str(extract),
                "-o",
                str(tar),
            ],
            f"sendemodul encrypt ({tag})",
            log,
            env=env,
        )
        if code != 0 or not tar.exists():
            raise BenchError(f"sendemodul encrypt failed (exit {code}): {tail(log, 1500)}")
        # The container becomes a received upload as intake records one; then one pass of the pseudonymizer.
        with open(tar, "rb") as f:
            manifest = container.Manifest.parse(
                container.TarReader(f).read_member(
                    "manifest.json", max_size=container.MAX_JSON_BYTES, error=ManifestInvalid
                )
            )
        sha256 = hashlib.sha256()
        with open(tar, "rb") as f:
            while chunk := f.read(MiB):
                sha256.update(chunk)
        cfg = load(home)
        now = datetime.datetime.now(datetime.UTC)
        reference = intake.new_reference(now)
        size = tar.stat().st_size
        spool = Spool(cfg.spool_dir)
        spool.ensure()
        tar.rename(spool.received_path(reference))
        store = Store.open(cfg.db_path)
        try:
            store.record_upload(
                {
                    "reference": reference,
                    "unit": DEMO,
                    "register": "11F",
                    "periode": year,
                    "container_id": manifest.container_id,
                    "sha256": sha256.hexdigest(),
                    "size": size,
                    "status": "received",
                    "test": 0,
                    "late": 0,
                    "received_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                actor="bench",
            )
        finally:
            store.close()
        log = self.tmp / f"worker-{tag}.log"
        os.sync()
        seconds, rss, code, cpu = run_measured(
            [str(BIN), "worker", "--once", "--home", str(home)], f"pseudonymizer ({tag})", log, env=env
        )
        store = Store.open(cfg.db_path)
        try:
            row = store.upload(reference)
        finally:
            store.close()
        if code != 0 or row["status"] in ("received", "pseudonymizing", "quarantined"):
            raise BenchError(
                f"the pseudonymizer did not finish the upload (exit {code}, status {row['status']}, "
                f"{row.get('quarantine_reason') or ''}): {tail(log, 1500)}"
            )
        spool.discard_outbox(reference)  # the package is not needed; keeps the disk use of many rounds flat
        return {
            "encrypt_s": encrypt_s,
            "encrypt_cpu_s": encrypt_cpu,
            "encrypt_rss_mib": encrypt_rss,
            "pseudonymizer_s": seconds,
            "pseudonymizer_cpu_s": cpu,
            "pseudonymizer_rss_mib": rss,
            "pseudonymizer_own_rss_mib": MEASURED_DETAIL[f"pseudonymizer ({tag})"]["own_rss_mib"],
            "pseudonymizer_processes": 1 + MEASURED_DETAIL[f"pseudonymizer ({tag})"]["child_processes"],
            "container_bytes": size,
            "status": row["status"],
        }


#: Seconds of storm before ``--storm-cpu-only`` measures: the full step's CPU windows follow its upload storm, which
#: has spent the unit's hash budget (10 Argon2id hashes, ~0.3 ms per refused login of a 10 s window if still there).
STORM_WARMUP_S = 3

#: What each server of the storm's CPU measurement does per refused login (printed, and kept in the results).
STORM_WORK = {
    "client": "each login: a new TCP connection from a rotating loopback address (10 per address), a full TLS 1.3 "
    "handshake (Python's ssl: X25519, TLS_AES_256_GCM_SHA384, no session resumption), GET with a wrong PIN in "
    "Basic auth, Connection: close",
    "sendemodul": "accept, TLS handshake (pyOpenSSL, ECDSA P-256 certificate, no session tickets), HTTP parse, the "
    "PIN checker; a login from a network the unit has not used is hashed (Argon2id) only within the hash budget "
    "(auth.hash_budget_*), else answered 503 busy at once without a hash or a store read (the storm's head by the "
    "HTTP channel from its raw bytes, before Twisted's parser and a Request); a hashed wrong PIN is answered 401 "
    "after auth.failure_delay_seconds",
    "nginx": "accept, TLS handshake (nginx's OpenSSL, the same certificate and cipher, ssl_session_tickets off), "
    "HTTP parse, auth_basic against a {PLAIN} password (no hash), 401",
    "twisted_tls": "accept, TLS handshake with sendemodul's TLS options (same stack as the front), a fixed 503, "
    "close: no HTTP layer, no login, no log",
    "nginx_hashed": "as nginx, but auth_basic against SHA-512-crypt with rounds calibrated to one Argon2id PIN check",
}


#: A bare Twisted TLS server with sendemodul's TLS options (``web.site.tls_options``: the same certificate, TLS 1.2+,
#: ECDHE AEAD ciphers, no session tickets) that answers every request with a fixed 503 and closes: the part of a
#: refused login over HTTPS that any Twisted/pyOpenSSL front pays, with no HTTP layer, no login and no log.
TLS_FLOOR_SERVER = """
import sys
from pathlib import Path
from twisted.internet import protocol, reactor
from twisted.protocols.tls import TLSMemoryBIOFactory
from sendemodul.web.site import tls_options

BODY = b'{"error": "busy"}'

class Answer(protocol.Protocol):
    head = b""

    def dataReceived(self, data):
        self.head += data
        if b"\\r\\n\\r\\n" in self.head:
            self.transport.write(
                b"HTTP/1.1 503 Service Unavailable\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n"
                b"Connection: close\\r\\n\\r\\n%s" % (len(BODY), BODY)
            )
            self.transport.loseConnection()

factory = TLSMemoryBIOFactory(tls_options(Path(sys.argv[1])), False, protocol.Factory.forProtocol(Answer))
print(reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port, flush=True)
reactor.run()
"""


def tls_handshake_costs(cert, rounds=200):
    """Server-side CPU (thread time, ms) of one TLS handshake in sendemodul's TLS stack (pyOpenSSL on the
    ``cryptography`` wheel's OpenSSL, ``web.site.tls_options``), the handshake driven in memory, so no socket, no
    reactor and no client is counted: with the storm's client (Python's ``ssl``, the system OpenSSL: X25519), with a
    client that offers only P-256, with a client that offers OpenSSL's default groups (X25519MLKEM768 from 3.5), and
    resumed from a session ticket (a server context with tickets on: sendemodul's has them off; the full handshake
    with that context too, since issuing the ticket costs). Medians of
    ``rounds``. Returns {case: ms} (and the negotiated group where pyOpenSSL tells it)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from OpenSSL import SSL
    from twisted.internet import ssl as tssl

    from sendemodul.web.site import tls_options

    plain = tls_options(cert)
    pem = cert.read_bytes()
    loaded = tssl.PrivateCertificate.loadPEM(pem)
    resuming = tssl.CertificateOptions(
        privateKey=loaded.privateKey.original,
        certificate=loaded.original,
        raiseMinimumTo=tssl.TLSVersion.TLSv1_2,
        acceptableCiphers=tssl.AcceptableCiphers.fromOpenSSLCipherString("ECDHE+AESGCM:ECDHE+CHACHA20"),
        enableSessions=True,
        enableSessionTickets=True,
    )

    def server_step(conn, data):
        t = time.thread_time()
        if data:
            conn.bio_write(data)
        try:
            conn.do_handshake()
            done = True
        except SSL.WantReadError:
            done = False
        try:
            out = conn.bio_read(1 << 16)
        except SSL.WantReadError:
            out = b""
        return out, done, time.thread_time() - t

    def ssl_client_context():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def with_ssl_client(context, client_ctx=None, session=None):
        """One handshake against a Python ``ssl`` client (the storm's); (server CPU s, client session)."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = (client_ctx or ssl_client_context()).wrap_bio(
            incoming, outgoing, server_hostname="localhost", session=session
        )
        server = SSL.Connection(context, None)
        server.set_accept_state()
        used = 0.0
        for _ in range(8):
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                client_done = False
            out, done, cpu = server_step(server, outgoing.read())
            used += cpu
            incoming.write(out)
            if done and client_done:
                break
        try:  # TLS 1.3 sends the ticket after the handshake: let the client read it
            client.read(1)
        except ssl.SSLError:
            pass
        return used, client.session, client.session_reused

    def with_pyopenssl_client(context, curve=None):
        client_ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        if curve is not None:
            client_ctx.set_tmp_ecdh(curve)  # the client's groups: this curve alone
        client = SSL.Connection(client_ctx, None)
        client.set_connect_state()
        server = SSL.Connection(context, None)
        server.set_accept_state()
        used, group = 0.0, None
        for _ in range(8):
            try:
                client.do_handshake()
            except SSL.WantReadError:
                pass
            try:
                data = client.bio_read(1 << 16)
            except SSL.WantReadError:
                data = b""
            out, done, cpu = server_step(server, data)
            used += cpu
            if out:
                client.bio_write(out)
            if done:
                try:
                    client.do_handshake()
                except SSL.WantReadError:
                    pass
                group = getattr(server, "get_group_name", lambda: None)()
                break
        return used, group

    def median_ms(one):
        one()
        return round(statistics.median(one() for _ in range(rounds)) * 1000, 3)

    costs = {}
    try:
        costs["x25519_python_ssl_client_ms"] = median_ms(lambda: with_ssl_client(plain.getContext())[0])
        p256 = ec.SECP256R1()
        costs["p256_client_ms"] = median_ms(lambda: with_pyopenssl_client(plain.getContext(), p256)[0])
        costs["openssl_default_groups_ms"] = median_ms(lambda: with_pyopenssl_client(plain.getContext())[0])
        costs["openssl_default_group"] = with_pyopenssl_client(plain.getContext())[1]
        context, client_ctx = resuming.getContext(), ssl_client_context()
        costs["full_with_tickets_ms"] = median_ms(lambda: with_ssl_client(context, client_ctx)[0])
        _, session, _ = with_ssl_client(context, client_ctx)

        def resumed():
            used, _, reused = with_ssl_client(context, client_ctx, session)
            if not reused:
                raise RuntimeError("the session was not resumed")
            return used

        costs["resumed_ms"] = median_ms(resumed)
    except Exception as e:  # noqa: BLE001 - a figure the bench could not take is reported, not fatal
        costs["error"] = f"{type(e).__name__}: {e}"
    return costs


class Storm:
    """Wrong-PIN logins at ``rate`` per second (GET /api/v1/uploads, Basic auth, a new TLS connection each, from
    loopback addresses that change every 10 attempts), plus a legitimate login every 0.25 s from 127.0.0.1 whose
    times are kept. Runs an asyncio loop in a thread between ``__enter__`` and ``__exit__``."""

    MAX_OUTSTANDING = 2000

    def __init__(self, srv, rate, per_source=10, *, port=None, path="/api/v1/uploads", probes=True):
        self.srv = srv
        self.rate = rate
        self.per_source = per_source
        self.port = port or srv.https_port
        self.path = path
        self.probes_on = probes
        self._tasks = set()
        self.sent = 0
        self.statuses = {}
        self.probes = []  # (seconds, status)
        self.seconds = 0
        self.ctx = ssl.create_default_context(cafile=str(srv.cert))

    def __enter__(self):
        self._stopping = None
        self._cpu = time.process_time()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(60)
        # the bench's own CPU (mostly the storm's TLS handshakes) taken from the machine the server runs on
        self.client_cpu_share = round((time.process_time() - self._cpu) / self.seconds, 2) if self.seconds else None

    async def _request(self, auth, source, *, timeout):
        """(seconds, HTTP status or an error word)."""
        start = time.monotonic()
        writer = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, ssl=self.ctx, server_hostname="127.0.0.1", local_addr=(source, 0)
                )
                writer.write(
                    f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                status = (await reader.readline()).split(b" ")[1].decode()
                await reader.read()
        except TimeoutError:
            status = "timeout"
        except (OSError, IndexError, ssl.SSLError) as e:
            status = type(e).__name__
        finally:
            if writer is not None:
                writer.transport.abort()
        return time.monotonic() - start, status

    async def _attack(self, auth, source):
        _, status = await self._request(auth, source, timeout=60)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    async def _probe(self, auth):
        seconds, status = await self._request(auth, "127.0.0.1", timeout=30)
        self.probes.append((seconds, status))

    async def _main(self):
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        good = base64.b64encode(f"{DEMO}:{self.srv.pin}".encode()).decode()
        tasks = self._tasks = set()
        start = next_attack = next_probe = time.monotonic()
        n = 0
        while not self._stopping.is_set():
            now = time.monotonic()
            while self.rate and next_attack <= now:
                next_attack += 1 / self.rate
                if len(tasks) >= self.MAX_OUTSTANDING:
                    self.statuses["not sent"] = self.statuses.get("not sent", 0) + 1
                    continue
                wrong = base64.b64encode(
                    f"{DEMO}:{''.join(random.choices('ABCDEFGHJKLMNPQRSTUVWXYZ', k=12))}".encode()
                ).decode()
                task = asyncio.create_task(self._attack(wrong, source_address(4, n // self.per_source)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
                self.sent += 1
            if self.probes_on and next_probe <= now:
                next_probe += 0.25
                task = asyncio.create_task(self._probe(good))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            wakes = [t for t, on in ((next_probe, self.probes_on), (next_attack, self.rate)) if on]
            wake = min(wakes) if wakes else time.monotonic() + 0.1
            try:
                await asyncio.wait_for(self._stopping.wait(), max(0.0, wake - time.monotonic()))
            except TimeoutError:
                pass
        self.seconds = time.monotonic() - start
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def probe_percentile(self, p):
        times = [s for s, status in self.probes]
        value = percentile(times, p)
        return round(value, 3) if value is not None else None

    def drain(self, timeout=60):
        """Stop sending and wait (up to ``timeout`` s) until every login sent so far has its answer."""
        self.rate = 0
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def refused(self):
        """Answers that were an HTTP status other than 2xx (401, or 503 busy): the refused logins."""
        return sum(n for status, n in self.statuses.items() if status.isdigit() and not status.startswith("2"))

    @property
    def probe_failed(self):
        return sum(1 for _, status in self.probes if status != "200")


# ---------------------------------------------------------------------------------------------------------------------


def machine_info():
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl_python": ssl.OPENSSL_VERSION,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or None
    try:
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        info["ram_gib"] = round(kib / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    try:
        import twisted
        from cryptography.hazmat.backends.openssl.backend import backend

        import sendemodul

        info.update(
            twisted=twisted.__version__,
            openssl_cryptography=backend.openssl_version_text(),
            sendemodul=sendemodul.__version__,
        )
    except ImportError:
        pass
    for key, cmd in (
        ("openssh", ["ssh", "-V"]),
        ("nginx", [find_tool("nginx") or "nginx", "-v"]),
        ("curl", ["curl", "--version"]),
    ):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            info[key] = (proc.stdout or proc.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            info[key] = None
    return info


HELP = """\
Benchmark sendemodul against OpenSSH's sftp-server and nginx on this machine (DESIGN.md section 11), side by side in
one run, and compare each figure with its target. Progress goes to stderr, the table to stdout, all figures (and the
machine: CPU, cores, RAM, kernel, versions) to bench-results.json in the repository root.

steps (--only):
  sftp        OpenSSH sftp (sshpass for the PIN) -> sendemodul and -> a private sshd with internal-sftp, same cipher
              and MAC (aes128-ctr, hmac-sha2-256), then again with an AEAD cipher on both sides (--ssh-aead,
              aes128-gcm@openssh.com): MB/s, ratio, peak RSS growth, CPU per GiB of the front process and of sshd;
              also OpenSSH's time plus an fsync of the file it wrote (sendemodul fsyncs before it says OK)
  https       curl -T -> sendemodul (PUT /api/v1/uploads/NAME) and -> nginx (dav_methods PUT), same certificate,
              TLS 1.3 TLS_AES_128_GCM_SHA256: MB/s, ratio, RSS growth, the front's CPU per GiB; also nginx plus an
              fsync of its file, and scripts/floor_server.py: the work intake must do before the receipt (TLS,
              write, SHA-256 of the file and of the parts, fsync) with no framework, so the ratio to nginx that
              any intake could reach on this machine
  concurrent  N units at once (half SFTP, half HTTPS), each with its own PIN, signing key, container and loopback
              source address: accepted/lost, p50/p99 start -> receipt, aggregate MB/s, front RSS growth; then the
              same uploads to the peers (SFTP half -> sshd, HTTPS half -> nginx auth_basic + PUT), each login with
              a password check calibrated to the CPU of sendemodul's Argon2id PIN check: p50/p99 and the p99 ratio
  cluster     the concurrent burst on a real PostgreSQL, straight to one front, then (new containers) through
              HAProxy (TCP, PROXY v2) to two fronts on the same home and spool: both figures, their ratio,
              lost uploads, the audit chain (docs/cluster.md; on 2 cores no gain is expected)
  storm       the HTTPS upload calm, then during wrong-PIN logins (200/s; GET /api/v1/uploads, a new TLS connection
              each) from rotating loopback addresses (10 per address, so the per-source ban never helps: a
              distributed attack; --storm-per-source 1000000 for one address); a legitimate login every 0.25 s.
              A 503 "busy" answer to the upload is retried; no receipt within max(45 s, 3 x calm + 30 s) counts 0.
              Then the storm alone for --storm-cpu-seconds against sendemodul, nginx (a TLS handshake and a 401,
              session tickets off like ours), a bare Twisted TLS server with our TLS options (a fixed 503: the
              stack's floor) and nginx checking a password as costly as our Argon2id: process CPU per refused login,
              in ms; then the server side of one TLS handshake in our stack, in memory (X25519, P-256, OpenSSL's
              default groups, resumed from a ticket). What each does per login is printed first.
              --storm-cpu-only runs only that second part (no container, no upload), after 3 s of the storm
              that are not measured (the full step's upload storm has spent the unit's hash budget by then)
  records     sendemodul encrypt on a generated 11F extract, then the pseudonymizer (worker --once) on the container:
              records/s, MB/s, peak RSS (wait4 rusage)
  records15f  sendemodul check and sendemodul encrypt (check + split by Individ + encrypt) on a generated 15F
              extract (--records-15f Individ, each with meldinger, planer, tiltak, flyttinger; every barnevern
              control runs): Individ/s, peak RSS (alias: 15f)
  module      the browser module (krypteringsmodul.html, built by 'sendemodul module build') opened from file:// in
              headless Chromium and walked by the keyboard as tests/test_browser_module.py walks it, on a generated
              11F extract of --module-records records: seconds from "Kontroller" to the saved container (the
              issue's 15 s), the check's and the Worker's share (the page's performance marks), Chromium's CPU, and
              whether the progress bar reached its end; then the same walk on a generated 15F extract of
              --module-records-15f Individ (every barnevern control runs in the page), the same figures as
              module_15f_*, with no target (alias: browser)

The server (a fresh process for each step, same home) runs with its dev defaults except: free ports, the embedded
pseudonymizer off, and auth.max_pending_logins raised to the concurrent step's size + 64 (each unit there connects
from its own address, so the per-source limits and bans stay at their defaults). Add or override with --set.
Everything started is stopped at the end, also on Ctrl-C; the temp dir is removed unless --keep.

examples:
  scripts/bench --quick                       # everything at small sizes, under two minutes
  scripts/bench                               # the real thing: 1 GiB, 400 units, 2,000,000 records
  scripts/bench --only https --upload-mib 256 --set limits.io_threads=4
"""


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/bench", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes: 64 MiB uploads, 40 units, 50,000 records")
    ap.add_argument(
        "--only", metavar="STEPS", default="", help=f"comma-separated subset of: {', '.join(STEPS)} (default: all)"
    )
    ap.add_argument("--upload-mib", type=int, help="size of the SFTP/HTTPS/storm upload (default 1024; quick 64)")
    ap.add_argument("--concurrent", type=int, help="units uploading at once (default 400; quick 40)")
    ap.add_argument("--concurrent-mib", type=int, help="container size per unit (default 10)")
    ap.add_argument("--records", type=int, help="records for encrypt/pseudonymizer (default 2,000,000; quick 50,000)")
    ap.add_argument(
        "--records-15f",
        type=int,
        help="Individ in the 15F extract of step records15f (default 100,000; quick 20,000)",
    )
    ap.add_argument(
        "--module-records",
        type=int,
        help="records in the 11F extract the browser module checks and encrypts (default 100,000; quick 20,000)",
    )
    ap.add_argument(
        "--module-records-15f",
        type=int,
        help="Individ in the 15F extract the browser module checks and encrypts (default 20,000; quick 5,000)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="SFTP/HTTPS uploads per side, taken in turn; the medians count (default 1)",
    )
    ap.add_argument(
        "--pq-rounds",
        type=int,
        help="records: rounds of PQ and classic keys in turn; the best time of each counts (default 3; quick 5)",
    )
    ap.add_argument("--storm-rate", type=int, default=200, help="wrong-PIN logins per second (default 200)")
    ap.add_argument(
        "--storm-cpu-seconds",
        type=float,
        help="storm: seconds of each CPU-per-login measurement (default 10; quick 4)",
    )
    ap.add_argument(
        "--storm-cpu-only",
        action="store_true",
        help="storm: only the CPU per refused login (sendemodul, nginx, bare Twisted TLS, nginx with a hash), without "
        "the uploads (after 3 s of storm, not measured, that spend the hash budget as the full step's upload storm "
        "does), e.g. --only storm --storm-cpu-only",
    )
    ap.add_argument(
        "--storm-per-source",
        type=int,
        default=10,
        help="wrong-PIN logins per source address before the storm moves to the next one (default 10: "
        "under the server's default ban score of 20, a distributed attack; 1000000: one address)",
    )
    ap.add_argument(
        "--ssh-cipher", default=SSH_CIPHER, help=f"cipher for both SSH servers in the sftp step (default {SSH_CIPHER})"
    )
    ap.add_argument(
        "--ssh-aead",
        default=SSH_AEAD,
        help=f"AEAD cipher of the sftp step's second pass, both sides (default {SSH_AEAD}; '' skips the pass)",
    )
    ap.add_argument(
        "--ssh-mac",
        default=SSH_MAC,
        help=f"MAC for both SSH servers in the sftp step, unused with an AEAD cipher (default {SSH_MAC})",
    )
    ap.add_argument("--client-timeout", type=float, default=600, help="seconds the concurrent clients may take")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a server config setting (TOML value), e.g. --set auth.hash_threads=2; repeatable",
    )
    ap.add_argument("--output", type=Path, default=ROOT / "bench-results.json", help="the JSON file to write")
    ap.add_argument("--tmpdir", type=Path, help="where to make the temp dir (default: the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (homes, logs, containers)")
    args = ap.parse_args(argv)
    try:
        args.steps = parse_only(args.only)
        extra = parse_set(args.set)
    except ValueError as e:
        ap.error(str(e))
    sizes = SIZES["quick" if args.quick else "full"]
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    sections = {
        "server": ["https_port = 0", "sftp_port = 0"],
        "worker": ["embedded = false"],
        "auth": [f"max_pending_logins = {max(32, args.concurrent + 64)}"],
    }
    for section, lines in extra.items():
        names = {line.split("=")[0].strip() for line in lines}
        kept = [line for line in sections.get(section, []) if line.split("=")[0].strip() not in names]
        sections[section] = kept + lines
    args.server_sections = sections
    return args


def missing_tools(steps):
    wanted = sorted({tool for step in steps for tool in TOOLS_FOR[step]})
    return [(tool, TOOLS[tool]) for tool in wanted if not find_tool(tool)]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = missing_tools(args.steps)
    if missing:
        for tool, package in missing:
            say(f"ERROR: {tool} is missing (Debian package {package})")
        say("ERROR: run scripts/system-packages (as root or with sudo) to install what the bench needs")
        return 2
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server and the clients inherit it

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="sendemodul-bench-", dir=args.tmpdir))
    mode = "quick" if args.quick else "full"
    results = {
        "mode": mode,
        "steps": list(args.steps),
        "machine": machine_info(),
        "sizes": {
            "upload_mib": args.upload_mib,
            "concurrent": args.concurrent,
            "concurrent_mib": args.concurrent_mib,
            "records": args.records,
            "records_15f": args.records_15f,
            "module_records": args.module_records,
            "module_records_15f": args.module_records_15f,
            "storm_rate": args.storm_rate,
            "storm_per_source": args.storm_per_source,
            "repeat": args.repeat,
        },
        "server_config": args.server_sections,
        "errors": {},
    }
    say(f"==> sendemodul bench ({mode}: {', '.join(args.steps)}); temp dir {tmp}")
    say(
        f"    {results['machine'].get('cpu')}, {results['machine']['cores']} cores, load "
        f"{results['machine']['load_average_at_start']}"
    )
    bench = Bench(args, tmp, results)
    started = time.monotonic()
    status = 0
    try:
        for step in args.steps:
            t = time.monotonic()
            try:
                getattr(bench, f"step_{step}")()
            except (BenchError, subprocess.CalledProcessError, OSError) as e:
                status = 1
                message = (
                    str(e) if not isinstance(e, subprocess.CalledProcessError) else f"{e} {(e.stderr or b'')[-1000:]!r}"
                )
                results["errors"][step] = message
                say(f"ERROR: step {step}: {message}")
            results.setdefault("step_seconds", {})[step] = round(time.monotonic() - t, 1)
    except KeyboardInterrupt:
        say("\ninterrupted: stopping everything")
        status = 130
    finally:
        PROCS.stop_all()
        if bench.srv is not None:
            results["server_log_tail"] = tail(bench.srv.log_path, 1500) if status else None
        if args.keep:
            say(f"    kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = {
        key: {"target": target, "pass": check(key, results[key], results) == "ok"}
        for key, _, target, test in TARGETS
        if key in results and target
    }
    if status != 130:
        table = format_table(results)
        for key in REQUIRED_KEYS:  # always present: null when its step was not run or failed
            results.setdefault(key, None)
        partial = args.output.with_name(args.output.name + ".tmp")
        partial.write_text(json.dumps(results, indent=2) + "\n")
        partial.replace(args.output)
        print(table)
        for step, message in results["errors"].items():
            print(f"ERROR in step {step}: {message.splitlines()[0] if message else ''}")
        say(f"==> {results['total_seconds']} s; results in {args.output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
