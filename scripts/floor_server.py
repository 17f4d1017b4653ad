"""The bench's floor: the least an HTTPS intake must do for one upload, with no framework around it.

``scripts/bench`` compares sendemodul with nginx, and nginx does less than sendemodul is required to do: it writes
the body into the page cache and answers. sendemodul must, before it answers (DESIGN.md section 7, issue 5): write the
body, hash the whole file (the receipt's sha256), hash the parts again against the signed manifest (the part
digests: for an upload, nearly the same bytes once more), and fsync. This server does exactly that work and nothing
else: Python's ``ssl`` on a blocking socket, the body read with ``recv_into`` into 1 MiB buffers, written with
``pwrite`` (writeback started every 8 MiB, with sendemodul's own helper), two SHA-256 passes in two threads,
``fsync``, rename, 201. No parsing of the container, no login, no database. One connection at a time; only ``PUT``
with a ``Content-Length``.

    python scripts/floor_server.py --port 9444 --cert server.pem --dir /tmp/floor
"""

import argparse
import hashlib
import json
import os
import queue
import socket
import ssl
import sys
import threading
from pathlib import Path

from sendemodul.writeback import WRITEBACK_BYTES, start_writeback

BUFFER_BYTES = 1 << 20
HEADER_LIMIT = 64 * 1024


def hasher(pieces, digests, key):
    h = hashlib.sha256()
    while (piece := pieces.get()) is not None:
        h.update(piece)
    digests[key] = h.hexdigest()


def read_head(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        piece = conn.recv(16384)
        if not piece or len(head) > HEADER_LIMIT:
            return None, b""
        head += piece
    head, rest = head.split(b"\r\n\r\n", 1)
    return head, rest


def answer(conn, status, body=b""):
    conn.sendall(
        b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (status, len(body))
        + body
    )


def receive(conn, directory, number):
    head, rest = read_head(conn)
    if head is None:
        return
    lines = head.split(b"\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    if not lines[0].startswith(b"PUT ") or b"content-length" not in fields:
        answer(conn, b"400 Bad Request", b'{"error": "PUT with a Content-Length only"}')
        return
    size = int(fields[b"content-length"])
    if fields.get(b"expect", b"").lower() == b"100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    part = directory / f"{number}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    queues = {"file": queue.SimpleQueue(), "parts": queue.SimpleQueue()}
    digests = {}
    threads = [threading.Thread(target=hasher, args=(q, digests, key)) for key, q in queues.items()]
    for t in threads:
        t.start()
    position = synced = 0
    try:
        piece = rest[:size]
        while True:
            if piece:
                os.pwrite(fd, piece, position)
                for q in queues.values():
                    q.put(piece)
                position += len(piece)
                if position - synced >= WRITEBACK_BYTES:
                    start_writeback(fd, synced, position - synced)
                    synced = position
            if position >= size:
                break
            buffer = bytearray(min(BUFFER_BYTES, size - position))
            view = memoryview(buffer)
            got = 0
            while got < len(buffer):
                n = conn.recv_into(view[got:])
                if not n:
                    raise ConnectionError("the client closed the connection before the end of the body")
                got += n
            piece = bytes(buffer)
    finally:
        for q in queues.values():
            q.put(None)
        for t in threads:
            t.join()
    os.fsync(fd)
    os.close(fd)
    os.rename(part, directory / f"{number}.tar")
    answer(conn, b"201 Created", json.dumps({"size": position, **digests}).encode())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    ap.add_argument("--cert", type=Path, required=True, help="PEM file with the certificate and its key")
    ap.add_argument("--dir", type=Path, required=True, help="where uploads are written")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert)
    listener = socket.create_server(("127.0.0.1", args.port))
    print(f"floor server on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    number = 0
    while True:
        raw, _ = listener.accept()
        number += 1
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                receive(conn, args.dir, number)
        except (OSError, ssl.SSLError, ValueError, ConnectionError) as e:
            print(f"upload {number}: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
