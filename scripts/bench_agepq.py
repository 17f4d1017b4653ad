"""Throughput of sendemodul.agepq (mlkem768x25519 and X25519) against pyrage (X25519), streaming in memory.

Usage: .venv/bin/python scripts/bench_agepq.py [MiB]   (default 256; median of three runs each)
Prints wall-clock MB/s and, steadier on a shared machine, MB per CPU second of this process.
"""

import io
import os
import statistics
import sys
import time

import pyrage

from sendemodul import agepq


class Null:
    def write(self, b):
        return len(b)


def main(mib=256):
    n = mib << 20
    data = os.urandom(n)
    pq, cl, py = (
        agepq.MlKem768X25519Identity.generate(),
        agepq.X25519Identity.generate(),
        pyrage.x25519.Identity.generate(),
    )

    def seal(fn, recipients):
        out = io.BytesIO()
        fn(io.BytesIO(data), out, recipients)
        return out.getvalue()

    ct = {
        "pq": seal(agepq.encrypt_io, [pq.to_public()]),
        "cl": seal(agepq.encrypt_io, [cl.to_public()]),
        "py": seal(pyrage.encrypt_io, [py.to_public()]),
    }
    runs = {
        "encrypt agepq mlkem768x25519": lambda: agepq.encrypt_io(io.BytesIO(data), Null(), [pq.to_public()]),
        "encrypt agepq X25519": lambda: agepq.encrypt_io(io.BytesIO(data), Null(), [cl.to_public()]),
        "encrypt pyrage X25519": lambda: pyrage.encrypt_io(io.BytesIO(data), Null(), [py.to_public()]),
        "decrypt agepq mlkem768x25519": lambda: agepq.decrypt_io(io.BytesIO(ct["pq"]), Null(), [pq]),
        "decrypt agepq X25519": lambda: agepq.decrypt_io(io.BytesIO(ct["cl"]), Null(), [cl]),
        "decrypt pyrage X25519": lambda: pyrage.decrypt_io(io.BytesIO(ct["py"]), Null(), [py]),
    }
    seconds, cpu = {}, {}
    for name, fn in runs.items():
        times, cpus = [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        seconds[name], cpu[name] = statistics.median(times), statistics.median(cpus)
        print(
            f"{name:30s} {seconds[name]:7.3f} s {n / seconds[name] / 1e6:8.1f} MB/s"
            f"   cpu {cpu[name]:7.3f} s {n / cpu[name] / 1e6:8.1f} MB/cpu-s",
            flush=True,
        )
    for op in ("encrypt", "decrypt"):
        wall = seconds[f"{op} agepq mlkem768x25519"] / seconds[f"{op} pyrage X25519"]
        cpus = cpu[f"{op} agepq mlkem768x25519"] / cpu[f"{op} pyrage X25519"]
        print(f"{op}: agepq mlkem768x25519 / pyrage X25519 time ratio {wall:.3f} (cpu {cpus:.3f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
