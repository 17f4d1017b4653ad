"""A slow network for a browser: a TCP relay on loopback that passes what the client sends on at a set rate, so that
an upload takes long enough for its progress bar to move, the same way in every browser engine (Chromium could
throttle itself over CDP; Firefox's WebDriver BiDi cannot). TLS passes through untouched.

    with ThrottledRelay(server.https_port, bytes_per_second=1_000_000) as relay:
        page.goto(f"https://127.0.0.1:{relay.port}/")
"""

import socket
import threading
import time

from support.wait import pace

CHUNK = 16 * 1024
#: Small socket buffers on the relay's side, so that the browser cannot park much of the file in them at once.
BUFFER_BYTES = 32 * 1024


class ThrottledRelay:
    def __init__(self, target_port, *, bytes_per_second, burst_bytes=64 * 1024, host="127.0.0.1"):
        self.target = (host, target_port)
        self.rate = bytes_per_second
        self.burst = burst_bytes
        self.stopped = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)  # inherited by accepted sockets
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.stopped.set()
        self.listener.close()
        for s in list(self.sockets):
            try:
                s.close()
            except OSError:
                pass
        self.thread.join(10)

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, throttled):
        """Copy ``source`` to ``sink``; the client's direction at most ``rate`` bytes a second after a small burst
        (a token bucket, so an idle kept-alive connection does not save up a fast start)."""
        allowance, last = float(self.burst), time.monotonic()
        try:
            while not self.stopped.is_set():
                data = source.recv(CHUNK)
                if not data:
                    break
                if throttled:
                    now = time.monotonic()
                    allowance = min(self.burst, allowance + (now - last) * self.rate)
                    last = now
                    if len(data) > allowance:
                        if pace((len(data) - allowance) / self.rate, self.stopped):
                            break
                        allowance, last = 0.0, time.monotonic()
                    else:
                        allowance -= len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
