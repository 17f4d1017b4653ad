"""The parent's end of the pseudonym child process (:mod:`sendemodul.pseudonym_child`): start it, feed it blocks,
collect its answers, notice when it fails.

The seam: :mod:`sendemodul.pseudonym_child` is what the child runs (``python -I -S``, imported by name) and holds
the one definition of the pseudonyms lines that both processes use; this module is only ever run by the parent
(the worker) and holds the process, its pipes and the reader thread. Kept apart so that the child's module stays
the small, self-contained thing the child imports, and neither grows past the house limit. Standard library only,
like the child's module: nothing here needs more.
"""

from __future__ import annotations

import struct
import sys
from typing import TYPE_CHECKING, cast

from sendemodul.pseudonym_child import FRAME_HEADER, MAX_FRAME_BYTES, SIZE

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

    from _typeshed import ReadableBuffer


#: The pipes to and from the child hold this much (Linux's default limit for a process without privileges): a
#: block's frame or answer then fits, so that neither side waits for the other to be scheduled every 64 KiB (on a
#: loaded machine each such wait can be a time slice).
PIPE_BYTES = 1024**2


def _grow_pipe(fd: int) -> int:
    """Make the pipe of ``fd`` hold :data:`PIPE_BYTES` where the system allows it (Linux ``F_SETPIPE_SZ``); returns
    what it holds."""
    import fcntl

    try:
        return fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # a lower pipe-max-size: the default size works, only slower
        try:
            return fcntl.fcntl(fd, getattr(fcntl, "F_GETPIPE_SZ", 1032))
        except OSError:  # pragma: no cover - not Linux: POSIX promises PIPE_BUF
            return 4096 * 3


#: glibc's malloc in the child keeps a block's memory for the next block (arrays under 4 MiB from the heap, which is
#: given back only when 8 MiB at its top are free), instead of giving it back and faulting it in again, zeroed, at
#: the next: 620 page faults a block on the bench's extract (171,000 in all), as for the parent
#: (:func:`sendemodul.package._keep_block_memory`). Read by glibc at the child's start, not by Python (``-I``).
CHILD_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(4 << 20), "MALLOC_TRIM_THRESHOLD_": str(8 << 20)}


class PseudonymChildFailed(RuntimeError):
    """The pseudonym child process ended or answered wrongly: the package is not made (nothing partial is kept)."""


class PseudonymChild:
    """The parent's end: a child process running :func:`~sendemodul.pseudonym_child.serve` with ``key``, fed
    blocks.

    :meth:`submit` sends a block (its IDs, the start of each line, each line's class), :meth:`answer` returns the
    answer to the oldest block not yet answered (its lines, :func:`~sendemodul.pseudonym_child.join_lines`), waiting
    for it if need be; :meth:`ready` says whether it has come. Blocks are answered in order. A thread of the parent
    reads the answers as they come, so the child never waits on a full pipe and the parent may keep several blocks
    in flight (it waits for the child only when that many are): on a loaded machine, where either process may wait
    a time slice for a core, the two are not tied block by block. A context manager: on leaving, :meth:`close`
    checks that the child ended well (status 0, every block answered), or kills it if an exception is on its way
    out. Any failure of the child is :class:`PseudonymChildFailed`.

    The key goes over the child's stdin, never its argv or environment. The child is ``python -I -S`` with only this
    package's directory on its path (no site-packages, no environment), so it imports nothing but the standard
    library and :mod:`sendemodul.pseudonym_child`.
    """

    def __init__(self, key: bytes, layout: bytes) -> None:
        import io
        import os
        import queue
        import subprocess
        import threading

        import sendemodul

        # The directory that holds this package (a checkout or site-packages): the child imports this module from
        # there and nothing else.
        root = os.path.dirname(os.path.abspath(next(iter(sendemodul.__path__))))
        code = "import sys; sys.path.insert(0, sys.argv[1]); from sendemodul.pseudonym_child import main; main()"
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", code, root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env={**os.environ, **CHILD_MALLOC_ENV},
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:  # cannot happen: both are pipes
            raise PseudonymChildFailed("the pseudonym child process has no pipes")
        # Unbuffered (bufsize=0): the pipes are raw files, so reads go straight into the caller's buffer.
        self._stdin, self._stdout = cast(io.RawIOBase, stdin), cast(io.RawIOBase, stdout)
        #: Blocks sent and not yet answered to the caller.
        self.in_flight = 0
        #: The answers as the reader thread got them; None after the last (the child's output ended).
        self._answers: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._ended = False
        self._pipe_bytes = _grow_pipe(self._stdin.fileno())
        _grow_pipe(self._stdout.fileno())
        self._reader = threading.Thread(target=self._read_answers, name="pseudonym child answers", daemon=True)
        self._reader.start()
        self._send(key + SIZE.pack(len(layout)) + layout)

    @property
    def pid(self) -> int:
        return self._process.pid

    def _failed(self, what: str) -> PseudonymChildFailed:
        self._process.kill()
        status = self._process.wait()
        return PseudonymChildFailed(f"the pseudonym child process {what} (exit status {status})")

    def _send(self, data: ReadableBuffer) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[self._stdin.write(view) :]
        except OSError:
            raise self._failed("stopped reading") from None

    def submit(self, count: int, ids: bytes, kept: bytes, codes: bytes, *, wait: bool = True) -> bool:
        """Send a block: the ``count`` IDs to pseudonymize (ASCII digits, joined by line breaks), the start of each line
        (``row_id<TAB>id_type<TAB>`` and its mark, joined) and each line's class code
        (:func:`~sendemodul.pseudonym_child.join_lines`). True if sent; with ``wait=False``, False (nothing sent) if
        the child is busy with a block and its input pipe has no room for this one: the caller would wait for the
        child, and may rather make the lines itself."""
        frame = FRAME_HEADER.pack(count, len(ids), len(kept), len(codes)) + ids + kept + codes
        if not wait and self.in_flight and len(frame) > self._room():
            return False
        self._send(frame)
        self.in_flight += 1
        return True

    def _room(self) -> int:
        """Bytes that can be written into the child's input pipe now without waiting (its size less what it holds,
        ``FIONREAD``, less two pages for a partly read page at either end); very large where that is not known."""
        import fcntl
        import termios

        try:
            queued = struct.unpack("i", fcntl.ioctl(self._stdin.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        except OSError:  # pragma: no cover - Linux and the BSDs answer FIONREAD on a pipe
            return MAX_FRAME_BYTES
        return self._pipe_bytes - queued - 2 * 4096

    def _read(self, n: int) -> bytes:
        """``n`` bytes of the child's output, or fewer where it ends."""
        answer = bytearray(n)
        view, got = memoryview(answer), 0
        while got < n and (read := self._stdout.readinto(view[got:])):
            got += read
        return bytes(answer[:got]) if got < n else bytes(answer)

    def _read_answers(self) -> None:
        """The reader thread: each answer into the queue as it comes, then None (also after a torn answer, which
        the caller then reports as the child's failure)."""
        try:
            while len(head := self._read(SIZE.size)) == SIZE.size:
                size = SIZE.unpack(head)[0]
                answer = self._read(size)
                if len(answer) != size:
                    break
                self._answers.put(answer)
        except (OSError, ValueError):  # the pipe closed under the thread when the child was killed
            pass
        finally:
            self._answers.put(None)

    def ready(self) -> bool:
        """Whether the answer to the oldest block in flight has come (:meth:`answer` will not wait)."""
        return bool(self.in_flight) and not self._answers.empty()

    def answer(self) -> bytes:
        """The answer to the oldest block not yet answered: its pseudonyms lines."""
        if not self.in_flight:
            raise PseudonymChildFailed("no block is waiting for an answer")
        answer = None if self._ended else self._answers.get()
        if answer is None:
            self._ended = True
            raise self._failed("ended before it answered")
        self.in_flight -= 1
        return answer

    def close(self) -> None:
        """End the child's input and check that it ended well and every block was answered."""
        self._stdin.close()
        status = self._process.wait()
        self._reader.join()
        self._stdout.close()
        extra = None if self._ended else self._answers.get()
        if status != 0 or extra is not None or self.in_flight:
            raise PseudonymChildFailed(f"the pseudonym child process ended badly (exit status {status})")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._process.kill()
            self._process.wait()
            self._stdin.close()
            self._reader.join()
            self._stdout.close()
