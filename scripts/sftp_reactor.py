#!/usr/bin/env python3
"""The SFTP reactor's CPU per GiB of WRITEs, with no client in the way (issue 25 item 1, session 9).

``scripts/bench --only sftp`` and ``scripts/sftp_threads.py`` measure the front under a real OpenSSH client, whose
pace decides how full each socket read is, and with it how much of the reactor's CPU goes to per-read costs (the
reactor turn, ``recv``, the send of the replies): on two shared cores a change of 10-15 % drowns in that. Here the
front's receive path runs on Twisted's epoll reactor over a loopback TCP connection whose receive buffer already
holds the whole upload when reading starts, so every read is as large as the transport asks for and the figure is
the reactor's own cost when it is the pipeline's bottleneck (what sftp_threads.py shows during an upload).

What runs: ``ModernDropBoxTransport`` with aes128-gcm@openssh.com keys in place, ``DataConnection``, an
``SFTPOnlySession`` with the ``sftp`` subsystem (``DropBoxTransferServer``), on the port class and socket read size
of the tree on ``PYTHONPATH`` (``SFTPService.port_class``, ``SOCKET_READ_BYTES``). The stream is what OpenSSH's
``sftp`` sends: 255 KiB WRITEs in 32 KiB ``CHANNEL_DATA`` packets, sealed once (cached in ``--cache``). The file
takes the pieces and drops them (no writer thread: its CPU is not the reactor's); the replies (WRITE statuses,
window adjusts) are sealed and sent back, and the sending process reads them. Prints the reactor thread's CPU
(``time.thread_time``) per GiB, and the part of it inside the transport's ``dataReceived``.

Example (interleave two trees, A B A B ...):
  PYTHONPATH=/work/wt/base9 .venv/bin/python scripts/sftp_reactor.py --mib 512
  PYTHONPATH=$PWD .venv/bin/python scripts/sftp_reactor.py --mib 512
"""

import argparse
import gc
import hashlib
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # (Linux; need CAP_NET_ADMIN, else the sysctl limits apply)

FEEDER = """
import socket, sys
s = socket.socket()
try:
    s.setsockopt(socket.SOL_SOCKET, {sndbuf_force}, 64 << 20)
except OSError:
    pass
s.connect(("127.0.0.1", {port}))
with open({path!r}, "rb") as f:
    s.sendfile(f)
print("sent", flush=True)
s.settimeout(3)
try:
    while s.recv(1 << 16):
        pass
except OSError:
    pass
"""


def material(seed):
    """IV, key and integrity key for one direction (fixed, so that a cached stream opens under them)."""
    return tuple(hashlib.sha256(bytes((seed, i))).digest() * 4 for i in range(3))


def keyed_front(reactor):
    """(transport, the file's counter): the SFTP front past login, aes128-gcm both ways, one open upload handle."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from twisted.conch.interfaces import ISFTPFile, ISFTPServer
    from twisted.conch.ssh import keys
    from twisted.conch.ssh.common import NS
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport
    from zope.interface import implementer

    from sendemodul import _twisted
    from sendemodul.sftp import ciphers
    from sendemodul.sftp import server as srv

    @implementer(ISFTPFile)
    class DroppingFile:
        takes_pieces = True
        calls = 0

        def writeChunk(self, offset, data):
            self.calls += 1

        def close(self):
            return None

    @implementer(ISFTPServer)
    class Box:
        def gotVersion(self, version, extensions):
            return {}

        def session_ended(self):
            pass

    limits = SimpleNamespace(idle_timeout_seconds=600, sessions_per_unit=2, sessions_per_source=2)
    factory = srv.DropBoxSSHFactory(None, keys.Key(ed25519.Ed25519PrivateKey.generate()), limits, reactor)
    t = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    t.makeConnection(StringTransport())
    t.dataReceived(b"SSH-2.0-OpenSSH_9.2p1 bench\r\n")
    c2s, s2c = material(21), material(22)
    enc = _twisted.PacketCiphers(ciphers.AES128_GCM, ciphers.AES128_GCM, b"none", b"none")
    enc.setKeys(s2c[0], s2c[1], c2s[0], c2s[1], s2c[2], c2s[2])
    t.currentEncryptions = enc
    t.incomingPacketSequence = 0
    t._keyExchangeState = t._KEY_EXCHANGE_NONE
    conn = _twisted.DataConnection()
    conn.transport = t
    t.service = conn
    conn.serviceStarted()
    made = []

    class Avatar:
        def lookupSubsystem(self, name, data):
            made.append(srv.DropBoxTransferServer(Box()))
            return made[-1]

    chan = srv.SFTPOnlySession(remoteWindow=1 << 30, remoteMaxPacket=32768, conn=conn, avatar=Avatar())
    chan.id = 0
    conn.channels[0] = chan
    conn.channelsToRemoteChannel[chan] = 5
    conn.localToRemoteChannel[0] = 5
    chan.request_subsystem(NS(b"sftp"))
    file = DroppingFile()
    made[0].openFiles[b"HAND"] = file
    return t, file


def sealed_stream(mib, path):
    """Write the client's side of an upload of ``mib`` MiB to ``path``; (WRITEs, packets)."""
    from twisted.conch.ssh import filetransfer
    from twisted.conch.ssh.common import NS

    from sendemodul.sftp import ciphers

    sealer = ciphers.sealer(ciphers.AES128_GCM, b"none", *material(21))
    data = os.urandom(255 * 1024)
    sftp, offset, writes = bytearray(), 0, 0
    while offset < mib << 20:
        n = min(len(data), (mib << 20) - offset)
        body = struct.pack("!BL", filetransfer.FXP_WRITE, writes) + NS(b"HAND") + struct.pack("!Q", offset)
        body += NS(data[:n])
        sftp += struct.pack("!L", len(body)) + body
        offset, writes = offset + n, writes + 1
    with open(path, "wb") as out:
        packets = 0
        for at in range(0, len(sftp), 32768):
            piece = bytes(sftp[at : at + 32768])
            out.write(sealer.seal(packets, bytes((94,)) + struct.pack(">2L", 0, len(piece)) + piece))
            packets += 1
    return writes, packets


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=512, help="upload size in MiB (default 512)")
    ap.add_argument("--cache", default="/tmp", help="directory for the sealed stream (default /tmp)")
    args = ap.parse_args(argv)

    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import protocol, reactor, tcp

    from sendemodul.service import bound_heap
    from sendemodul.sftp import server as srv

    bound_heap()  # as the front does at start
    path = Path(args.cache) / f"sftp-reactor-{args.mib}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.with_suffix(".n").exists():
        writes, packets = sealed_stream(args.mib, path)
        path.with_suffix(".n").write_text(f"{writes} {packets}")
    writes, _packets = map(int, path.with_suffix(".n").read_text().split())
    port_class = getattr(srv.SFTPService, "port_class", None) or tcp.Port
    state = {"reads": 0, "in_protocol": 0.0}

    # What the front reads at a time once aes128-gcm frames the packets (the tree's own setting: trees before
    # session 9's split have only SOCKET_READ_BYTES)
    read_bytes = getattr(srv, "OPENED_READ_BYTES", srv.SOCKET_READ_BYTES)

    class Front(protocol.Protocol):
        def makeConnection(self, tcp_transport):
            t, file = keyed_front(reactor)
            t.transport = tcp_transport
            tcp_transport.protocol = t
            tcp_transport.bufferSize = read_bytes
            try:
                tcp_transport.getHandle().setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 2 * path.stat().st_size)
            except OSError:
                pass
            tcp_transport.stopReading()  # until the whole stream is waiting in the socket
            state["tcp"] = tcp_transport
            received = t.dataReceived

            def data_received(data):
                state["reads"] += 1
                start = time.thread_time()
                received(data)
                state["in_protocol"] += time.thread_time() - start
                if file.calls == writes and "end" not in state:
                    state["end"] = time.thread_time()
                    reactor.callLater(0.1, reactor.stop)

            t.dataReceived = data_received

    port = port_class(0, protocol.Factory.forProtocol(Front), 50, "127.0.0.1", reactor)
    port.startListening()
    feeder = subprocess.Popen(
        [sys.executable, "-c", FEEDER.format(sndbuf_force=SO_SNDBUFFORCE, port=port.getHost().port, path=str(path))],
        stdout=subprocess.PIPE,
    )

    def start():
        if feeder.stdout.readline().strip() != b"sent":
            sys.exit("ERROR: the sending process failed")
        time.sleep(0.3)
        gc.collect()
        gc.freeze()  # as the front does after start-up
        state["start"] = time.thread_time()
        state["tcp"].startReading()

    reactor.callLater(0.3, start)
    reactor.run()
    feeder.wait()
    gib = (args.mib << 20) / 2**30
    cpu = state["end"] - state["start"]
    print(
        f"{port_class.__name__}, reads of {read_bytes >> 10} KiB: {state['reads']} reads "
        f"({path.stat().st_size / state['reads'] / 1024:.0f} KiB each); reactor CPU {cpu / gib:.3f} s per GiB, "
        f"{state['in_protocol'] / gib:.3f} of it in the transport's dataReceived"
    )


if __name__ == "__main__":
    main()
