"""The file being uploaded (``incoming/<uuid>.part``): written off the reactor thread, in order, with backpressure
(the front pauses its transport while too much is queued), handed to the disk as it comes (writeback), checked as
it arrives, and fsynced before the receipt. :class:`~sendemodul.spool.Spool` creates it and moves it on.
"""

import collections
import errno
import hashlib
import os
import queue
import threading
import weakref

from twisted.internet import defer

from sendemodul import writeback
from sendemodul.errors import IntakeError, SendemodulError, SpoolFull, UploadTooLarge
from sendemodul.writeback import WRITEBACK_BYTES, pwrite_all


def storage_error(e):
    """Our error for an OSError while writing the spool."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return SpoolFull()
    return IntakeError(
        f"The server could not store the upload ({errno.errorcode.get(e.errno, 'I/O error')}); "
        "nothing was kept. Try again later."
    )


class Completed:
    """A complete, fsynced upload still in ``incoming/``: its ``path`` and ``size``, and, when the stream was checked
    as it arrived, the check's ``result`` and the file's ``sha256`` (hex); both None if it was not."""

    def __init__(self, path, size, result=None, sha256=None):
        self.path, self.size, self.result, self.sha256 = path, size, result, sha256

    @property
    def checked(self):
        return self.sha256 is not None


class _NotSequential(Exception):
    """A write that does not continue the previous one: the stream cannot be checked as it arrives."""


class _Aborted(BaseException):
    """The upload was discarded while its thread was reading it (a BaseException: no check may swallow it)."""


_EOF = object()
_PENDING = object()
_ABORT = object()

#: Bytes that all uploads of the process together may keep queued for their threads (the writer's queue and the
#: check's). One upload alone keeps its own bounds (8 MiB for the writer, 32 pieces for the check), which the single
#: upload's speed needs; with many at once each gets its share of this, down to a floor of one batch, so that 400
#: uploads on a busy machine do not hold 400 full queues (issue 25: front RSS growth for 400 connections).
SHARED_QUEUE_BYTES = 48 << 20
#: The least an upload may queue before its producer is paused, however many uploads there are.
MIN_HIGH_WATER = 256 << 10
_live = weakref.WeakSet()  # the IncomingFiles whose thread has not ended (reactor thread)
#: A read of the check's stream this large (the part digests' reads) may get a view of a piece; smaller reads (tar
#: headers, the manifest, an age header: parsed) get ``bytes``.
VIEW_READ_BYTES = 1 << 20


def queue_share(live=None):
    """The bytes one upload may queue while ``live`` uploads (default: those now in progress) share
    :data:`SHARED_QUEUE_BYTES`."""
    return SHARED_QUEUE_BYTES // max(1, len(_live) if live is None else live)


class IncomingFile:
    """An upload being received. ``write`` queues on the reactor thread; the upload's own thread writes the bytes
    in order with ``pwrite``, and, if :meth:`start` was given a ``check``, runs it on the same bytes as they arrive
    (the container verifier: structure, signature and part digests) while hashing the whole file. So all hashing
    and checking overlaps the transfer, and a complete upload needs no second read.

    A write out of order (SFTP allows any offset) turns the check off: the caller then checks the complete file.
    ``on_pressure(True)`` is called when more than ``high_water`` bytes wait for the thread (pause the producer),
    ``on_pressure(False)`` when they have drained below ``low_water``.
    """

    def __init__(
        self,
        path,
        fd,
        reactor,
        *,
        max_bytes,
        on_pressure=None,
        high_water=8 << 20,
        low_water=2 << 20,
        batch_bytes=256 << 10,
    ):
        self.path = path
        self._fd = fd
        self._reactor = reactor
        self.max_bytes = max_bytes
        self._on_pressure = on_pressure or (lambda paused: None)
        self._high, self._low = high_water, low_water
        self._queue = queue.SimpleQueue()
        self._batch = []  # contiguous writes not yet queued, from _batch_offset to _batch_end
        self._batch_offset = self._batch_end = 0
        self._batch_bytes = batch_bytes
        self._put = 0  # bytes queued (reactor thread)
        self._done = 0  # bytes the thread has taken (upload thread)
        self._paused = False
        self._resuming = False
        self._error = None  # a storage error, set by the upload thread
        self._writing = True  # False once the check refused the upload
        self._writeback_start = self._writeback_end = 0  # written, not yet handed to the disk
        self._next = 0  # append position
        self.size = 0  # highest byte written + 1
        self.closed = False
        self._outcome = _PENDING  # what the thread ended with (a Completed, an exception, or None if discarded)
        self._waiters = []
        self._started = False
        _live.add(self)

    def _high_water(self):
        """The bytes queued that pause the producer: ``high_water``, or less while many uploads share the
        budget (:func:`queue_share`: half for this queue, half for the check's)."""
        return max(MIN_HIGH_WATER, min(self._high, queue_share() // 2))

    def _low_water(self):
        return min(self._low, self._high_water() // 4)

    # -- the reactor thread ----------------------------------------------------------------------------------------

    def start(self, check=None):
        """Start the upload's thread. ``check(stream)`` (optional) runs there on a file-like view of the bytes in
        order; what it returns or raises becomes the :class:`Completed` result or :meth:`complete`'s failure."""
        if self._started:
            return
        self._started = True
        thread = threading.Thread(target=self._run, args=(check,), name="sendemodul-upload", daemon=True)
        thread.start()

    def write(self, data, offset=None):
        """Queue ``data`` at ``offset`` (default: after the previous write). Raises UploadTooLarge past the limit,
        or the storage error of an earlier write.

        ``data`` is bytes, or a list of buffers that follow each other (an SFTP WRITE as the SSH packets brought it,
        views of the decrypted packets): a large one is written (``pwritev``), hashed and checked piece by piece,
        never joined, so the reactor copies none of its bytes."""
        if self._error is not None:
            raise self._error
        if self.closed:
            raise IntakeError("The upload is already complete.")
        if offset is None:
            offset = self._next
        if type(data) is list:
            size = sum(map(len, data))
            if size < self._batch_bytes // 4:
                data = b"".join(data)  # small: batched like any other write
        else:
            size = len(data)
        end = offset + size
        if end > self.max_bytes:
            raise UploadTooLarge(f"The upload is larger than the server accepts ({self.max_bytes:,} bytes).")
        self._next = end
        if end > self.size:
            self.size = end
        if not size:
            return
        if type(data) is list:  # (at least a quarter of a batch: it goes alone, as a large write does below)
            self._flush_batch()
            self._enqueue(offset, data, size)
            return
        if self._batch and (offset != self._batch_end or len(data) >= self._batch_bytes // 4):
            self._flush_batch()
        if not self._batch:
            self._batch_offset = offset
        self._batch.append(data)
        self._batch_end = end
        if end - self._batch_offset >= self._batch_bytes or len(data) >= self._batch_bytes // 4:
            self._flush_batch()  # (a large write goes alone: joining it would only copy it)

    def _flush_batch(self):
        """Hand the bytes collected so far to the thread as one piece (fewer, larger writes and hash updates)."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        self._enqueue(self._batch_offset, data, len(data))

    def _enqueue(self, offset, data, size):
        self._queue.put((offset, data, size))
        self._put += size
        if not self._paused and self._put - self._done > self._high_water():
            self._paused = True
            self._on_pressure(True)

    def _resume(self):
        self._resuming = False
        if self._paused:
            self._paused = False
            self._on_pressure(False)

    def complete(self):
        """Write what is queued, fsync and close: fires with a :class:`Completed` (the file still in ``incoming/``),
        or fails with the storage error or the check's refusal (the file deleted)."""
        self.closed = True
        self.start()
        self._flush_batch()
        self._queue.put(_EOF)
        return self._wait()

    def discard(self):
        """Stop, close and delete the partial file. Safe to call more than once. Fires when done."""
        if not self.closed:
            self.closed = True
            self.start()
            self._batch = []
            self._queue.put(_ABORT)
        return self._wait().addErrback(lambda failure: None)

    def ended(self):
        """A Deferred that fires (with None) once the upload's thread has ended, however the upload ended."""
        d = self._wait()
        d.addBoth(lambda _: None)
        return d

    def _wait(self):
        if self._outcome is _PENDING:
            d = defer.Deferred()
            self._waiters.append(d)
            return d
        if isinstance(self._outcome, BaseException):
            return defer.fail(self._outcome)
        return defer.succeed(self._outcome)

    def _thread_done(self, outcome):
        _live.discard(self)
        self._resume()
        self._outcome = outcome
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if isinstance(outcome, BaseException):
                d.errback(outcome)
            else:
                d.callback(outcome)

    # -- the upload thread -----------------------------------------------------------------------------------------

    def _run(self, check):
        try:
            outcome = self._consume(check)
        except _Aborted:
            outcome = None
        except BaseException as e:  # noqa: BLE001 - the storage error, the refusal, or a bug: reported to complete()
            outcome = e
        if isinstance(outcome, BaseException) or outcome is None:
            self._close_fd()
            _unlink(self.path)
        self._reactor.callFromThread(self._thread_done, outcome)

    def _consume(self, check):
        """Write every piece, hash the whole file while the pieces come in order, and feed them to the check, which
        runs in a thread of its own (the two SHA-256 passes, the file's and the parts', then use both cores)."""
        if check is None:  # the caller checks the complete file
            while self._take() is not None:
                pass
            return self._fsync_and_close(Completed(self.path, self.size))
        # the check's queue: its share of the budget, in pieces of up to one batch (at least 2, at most 32)
        checker = _Checker(check, max(2, min(32, queue_share() // 2 // self._batch_bytes)))
        sha256 = hashlib.sha256()
        position = 0  # bytes taken in order
        in_order = True
        try:
            while (item := self._take()) is not None:
                offset, data, size = item
                if not in_order:
                    continue
                if offset != position:  # the caller checks the complete file instead
                    in_order = False
                    checker.cancel()
                    continue
                position += size
                for piece in data if type(data) is list else (data,):
                    sha256.update(piece)
                if not checker.feed(data):
                    self._writing = False  # refused: the rest is only drained
        except BaseException:  # discarded, or a bug: the check's thread must end too
            if in_order:
                checker.cancel()
            raise
        if in_order:
            checker.end()
        outcome, result = checker.wait()
        if outcome == "failed" or (outcome == "refused" and self._error is None):
            raise result
        if outcome != "checked":  # cancelled by a write out of order
            return self._fsync_and_close(Completed(self.path, self.size))
        return self._fsync_and_close(Completed(self.path, position, result, sha256.hexdigest()))

    def _fsync_and_close(self, completed):
        """``completed``, once everything written is on disk; the storage error instead, if a write failed."""
        writeback.background.forget(self)  # (the fsync writes what it had not started yet)
        if self._error is not None:
            raise self._error
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise storage_error(e) from None
        self._close_fd()
        return completed

    def _take(self):
        """The next (offset, data, size) from the reactor thread, after writing it; None at the end. Upload
        thread."""
        item = self._queue.get()
        if item is _EOF:
            return None
        if item is _ABORT:
            raise _Aborted()
        offset, data, size = item
        if self._writing and self._error is None:
            try:
                pwrite_all(self._fd, data, offset)
            except OSError as e:
                self._error = storage_error(e)
            else:
                self._start_writeback(offset, size)
        self._done += size
        if self._paused and not self._resuming and self._put - self._done < self._low_water():
            self._resuming = True
            self._reactor.callFromThread(self._resume)
        return item

    def _start_writeback(self, offset, size):
        """Every few MiB, have the kernel start writing the new pages to disk (without waiting for it): the disk
        works while the rest arrives, and the fsync before the receipt finds little left to do. The request goes
        to the write-back thread (:class:`~sendemodul.writeback.Writeback`: starting the write can block)."""
        if offset != self._writeback_end:
            self._writeback_start = offset
        self._writeback_end = offset + size
        if self._writeback_end - self._writeback_start >= WRITEBACK_BYTES:
            writeback.background.submit(
                self, self._fd, self._writeback_start, self._writeback_end - self._writeback_start
            )
            self._writeback_start = self._writeback_end

    def _close_fd(self):
        if self._fd is not None:
            writeback.background.forget(self)  # no request may use the fd once it is closed (and maybe reused)
            os.close(self._fd)
            self._fd = None


class _Checker:
    """Runs ``check(stream)`` in a thread of its own on the pieces :meth:`feed` gives it, through a bounded queue.

    Its outcome is ("checked", result), ("refused", the SendemodulError), ("cancelled", None) after :meth:`cancel`
    (a write out of order), or ("failed", an unexpected exception). After the check has ended the thread drains what
    is still fed, so a feeder never blocks on it."""

    def __init__(self, check, queued_pieces=32):
        self._queue = queue.Queue(maxsize=queued_pieces)
        self._rest = b""
        self._pieces = collections.deque()  # the rest of a list of buffers fed as one piece
        self._ended = False  # the end (or the cancel) was read
        self.done = False  # the check has an outcome
        self.outcome = None
        self._thread = threading.Thread(target=self._run, args=(check,), name="sendemodul-check", daemon=True)
        self._thread.start()

    # -- the upload's writer thread --

    def feed(self, data):
        """Queue the next piece (blocks while the check is behind). False once the check has refused."""
        if self.done:
            return self.outcome[0] != "refused"
        self._queue.put(data)
        return True

    def end(self):
        self._queue.put(_EOF)

    def cancel(self):
        self._queue.put(_ABORT)

    def wait(self):
        self._thread.join()
        return self.outcome

    # -- the check's thread --

    def _run(self, check):
        try:
            self.outcome = ("checked", check(self))
        except _NotSequential:
            self.outcome = ("cancelled", None)
        except SendemodulError as e:
            self.outcome = ("refused", e)
        except BaseException as e:  # noqa: BLE001 - a bug: reported, never swallowed
            self.outcome = ("failed", e)
        self.done = True
        while not self._ended:
            if self._queue.get() in (_EOF, _ABORT):
                self._ended = True

    def read(self, n=-1):
        """The check's stream: up to ``n`` bytes (fewer when a piece ends); b"" only at the end. ``bytes``, or for a
        read of at least :data:`VIEW_READ_BYTES` (only hashed) possibly a view of a piece."""
        if not self._rest:
            if self._pieces:
                self._rest = self._pieces.popleft()
            else:
                if self._ended:
                    return b""
                item = self._queue.get()
                if item is _EOF or item is _ABORT:
                    self._ended = True
                    if item is _ABORT:
                        raise _NotSequential()
                    return b""
                if type(item) is list:
                    self._pieces.extend(item[1:])
                    item = item[0]
                self._rest = item
        if n is None or n < 0 or n >= len(self._rest):
            data, self._rest = self._rest, b""
        else:
            data, self._rest = self._rest[:n], self._rest[n:]
        if type(data) is not bytes and (n is None or n < VIEW_READ_BYTES):
            data = bytes(data)
        return data


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
