#!/usr/bin/env python3
"""Where an SFTP upload's wall time goes in the front, thread by thread (issue 25, round four).

Starts a fresh ``sendemodul serve`` (dev home in a temp dir, as ``scripts/bench`` does), writes a container of
``--mib`` MiB and uploads it ``--runs`` times with OpenSSH ``sftp`` (``--cipher``, default aes128-gcm@openssh.com).
For each thread of the front it prints, per GiB: the time on a CPU and the time runnable but waiting for a CPU
(``/proc/<pid>/task/<tid>/schedstat``), so that the rest of the wall time is the thread's own waiting (the GIL,
a queue, the disk), and the kernel functions it was found sleeping in (``wchan``, sampled every 2 ms: ``futex``
is the GIL or a queue, ``D:`` states are the disk). The threads that appear during an upload are the upload's
writer, its check and (since round four) the write-back thread; the reactor is the process's main thread.

Examples (from the repository root, after scripts/bootstrap):
  .venv/bin/python scripts/sftp_threads.py --runs 3
  .venv/bin/python scripts/sftp_threads.py --mib 256 --cipher aes128-ctr
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", HERE / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = bench
    spec.loader.exec_module(bench)
    return bench


class Threads:
    """Samples the front's threads: CPU and run-queue wait (schedstat), and where each sleeps (wchan)."""

    def __init__(self, pid):
        self.pid = pid
        self.first, self.last, self.sleeps = self.schedstat(), {}, {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def tasks(self):
        return list(Path(f"/proc/{self.pid}/task").iterdir())

    def schedstat(self):
        out = {}
        for task in self.tasks():
            try:
                on_cpu, waiting, _ = (task / "schedstat").read_text().split()
            except (OSError, ValueError):
                continue
            out[int(task.name)] = (int(on_cpu) / 1e9, int(waiting) / 1e9)
        return out

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 10 == 0:
                self.last.update(self.schedstat())
            for task in self.tasks():
                try:
                    where = (task / "wchan").read_text() or "0"
                    state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                key = (int(task.name), f"{state}:{where}")
                self.sleeps[key] = self.sleeps.get(key, 0) + 1
            time.sleep(0.002)

    def end(self):
        self.stop.set()
        self.thread.join()
        self.last.update(self.schedstat())
        return self


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="uploads of the container (default 2)")
    ap.add_argument("--mib", type=int, default=1024, help="size of the container in MiB (default 1024)")
    ap.add_argument("--cipher", default="aes128-gcm@openssh.com", help="the SSH cipher on both sides")
    ap.add_argument("--mac", default="hmac-sha2-256", help="the SSH MAC (ignored with an AEAD cipher)")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.mib < 1:
        sys.exit("ERROR: --runs and --mib must be at least 1")
    bench = load_bench()
    tmp = Path(tempfile.mkdtemp(prefix="sftp-threads-"))
    srv = bench.Sendemodul(tmp, {}).init()
    container = tmp / "upload.tar"
    bench.write_upload_container(srv.home, container, size_bytes=args.mib * bench.MiB)
    srv.start()
    gib = container.stat().st_size / 1024**3
    batch = tmp / "batch"
    batch.write_text(f"put {container} upload.tar\n")
    cmd = bench.sftp_pin_cmd(srv, bench.DEMO, srv.pin, batch, ssh=bench.ssh_common(args.cipher, args.mac))
    try:
        for n in range(args.runs):
            threads = Threads(srv.pid)
            start = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, check=False)
            wall = time.monotonic() - start
            threads.end()
            if done.returncode:
                sys.exit(f"ERROR: sftp failed: {done.stderr.decode(errors='replace')}")
            print(
                f"upload {n + 1}: {wall / gib:.2f} s per GiB ({gib * 1024**3 / wall / 1e6:.1f} MB/s), load "
                f"{os.getloadavg()[0]:.1f}; per GiB, each thread that ran:"
            )
            for tid in sorted(threads.last):
                on_cpu, waiting = (a - b for a, b in zip(threads.last[tid], threads.first.get(tid, (0, 0))))
                if on_cpu < 0.01 * gib:
                    continue
                seen = sorted(((c, w) for (t, w), c in threads.sleeps.items() if t == tid), reverse=True)
                total = sum(c for c, _ in seen) or 1
                name = "reactor" if tid == srv.pid else ("new" if tid not in threads.first else "other")
                print(
                    f"  {tid} ({name}): on CPU {on_cpu / gib:.2f} s, waiting for a CPU {waiting / gib:.2f} s, "
                    "sampled: " + ", ".join(f"{w} {100 * c / total:.0f}%" for c, w in seen[:6])
                )
    finally:
        bench.PROCS.stop(srv.proc)


if __name__ == "__main__":
    main()
