"""Handing an upload's bytes to the disk: writing them all at an offset (:func:`pwrite_all`, a list of buffers with
``pwritev``), and asking the kernel to start writing a file's new pages without waiting for it (Linux
``sync_file_range``), so that the disk works while the rest of an upload arrives; :class:`Writeback` makes that
request from a thread of its own, so that the upload's writer never waits in it."""

import collections
import errno
import itertools
import os
import threading

_Buffer = bytes | bytearray | memoryview

#: Buffers one ``pwritev`` takes at most (Linux's ``IOV_MAX``).
IOV_MAX = 1024


def _load_sync_file_range():
    """Linux's ``sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)``, or a no-op where there is none."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return lambda fd, offset, nbytes: None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return lambda fd, offset, nbytes: function(fd, offset, nbytes, 2)  # 2 = SYNC_FILE_RANGE_WRITE; errors: fsync tells


#: ``start_writeback(fd, offset, nbytes)``: have the kernel start writing that range to disk, without waiting for it.
start_writeback = _load_sync_file_range()
#: How much is written before :func:`start_writeback` is called on it.
WRITEBACK_BYTES = 8 << 20


def pwrite_all(fd: int, data: _Buffer | list[bytes] | list[memoryview] | list[_Buffer], offset: int) -> None:
    """Write ``data`` (a bytes-like object, or a list of buffers that follow each other) at ``offset``, all of it: a
    short write is resumed where it stopped. A write that takes none of the bytes raises ``OSError`` (EIO) rather
    than being tried again forever (Linux reports a full disk as an error, never as 0 bytes; a file system that
    answered 0 would otherwise hang the thread)."""
    if isinstance(data, list):
        pieces: collections.deque[memoryview] = collections.deque()
        for piece in data:
            if len(piece):  # (an empty one writes nothing)
                pieces.append(memoryview(piece))
        while pieces:
            n = written(os.pwritev(fd, list(itertools.islice(pieces, IOV_MAX)), offset))
            offset += n
            while pieces and n >= len(pieces[0]):
                n -= len(pieces.popleft())
            if n:
                pieces[0] = pieces[0][n:]
        return
    view = memoryview(data)
    while view:
        n = written(os.pwrite(fd, view, offset))
        view, offset = view[n:], offset + n


def written(n: int) -> int:
    """``n``, what a write of a non-empty buffer returned; ``OSError`` (EIO) if it wrote nothing, where a loop that
    resumes short writes would otherwise try again forever (:func:`pwrite_all`, ``container.tar``'s copy)."""
    if not n:
        raise OSError(errno.EIO, "the write took none of the bytes")
    return n


class Writeback:
    """One thread that starts the write-back of the ranges uploads hand it (:func:`start_writeback`), in order.

    ``sync_file_range`` does not wait for the disk to write, but it does wait for what starting the write needs:
    ext4 allocates the blocks then (reading a block bitmap from disk: ``ext4_wait_block_bitmap``,
    ``submit_bio_wait``), and the block layer's write-back throttling makes it queue behind other writers
    (``rq_qos_wait``). Sampled in an upload's writer thread (``/proc/<tid>/wchan``, ``scripts/bench --only sftp``
    with other work on the disk): up to 2.3 s per GiB blocked there, on the one thread every byte goes through, with
    the transport paused meanwhile. Here the writer only queues the range and goes on; the fsync before the receipt
    still makes everything durable, whatever the hint did.

    A file's fd must outlive every request for it: :meth:`forget` (before the fsync and the close) drops the ranges
    still queued for it and waits while one of its ranges is being started."""

    def __init__(self, start=None):
        self._start = start_writeback if start is None else start
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue = collections.deque()  # (owner, fd, offset, nbytes)
        self._current = None  # the owner whose range is being started
        self._thread = None

    def submit(self, owner, fd, offset, nbytes):
        """Start writing back ``nbytes`` of ``fd`` from ``offset`` soon, for ``owner`` (any object)."""
        with self._lock:
            self._queue.append((owner, fd, offset, nbytes))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sendemodul-writeback", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def forget(self, owner):
        """Drop ``owner``'s queued ranges and return once none of them is being started (its fd may be closed)."""
        with self._lock:
            if any(item[0] is owner for item in self._queue):
                self._queue = collections.deque(item for item in self._queue if item[0] is not owner)
            while self._current is owner:
                self._changed.wait()

    def _run(self):
        while True:
            with self._lock:
                while not self._queue:
                    self._changed.wait()
                owner, fd, offset, nbytes = self._queue.popleft()
                self._current = owner
            try:
                self._start(fd, offset, nbytes)
            except Exception:  # noqa: BLE001 - only a hint: the fsync before the receipt reports any error
                pass
            finally:
                with self._lock:
                    self._current = None
                    self._changed.notify_all()


#: The process's write-back thread (started on first use).
background = Writeback()
