"""All file moves: ``incoming/`` -> ``received/`` -> ``outbox/`` (and ``quarantine/``), by rename on one filesystem.

Names on disk are always server-generated (a uuid while incoming, the reference once received); a client's file
name never reaches the filesystem. An incoming file is written off the reactor thread, in order, with backpressure:
the front pauses its transport while too much is queued.
"""

import collections
import errno
import os
import uuid
from pathlib import Path

from twisted.internet import defer
from twisted.logger import Logger

from sendemodul.errors import IntakeError, SpoolFull, UploadTooLarge

log = Logger()

DIRS = ("incoming", "received", "outbox", "quarantine")
PART_SUFFIX = ".part"


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_error(e):
    """Our error for an OSError while writing the spool."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return SpoolFull()
    return IntakeError(f"The server could not store the upload ({errno.errorcode.get(e.errno, 'I/O error')}); "
                       "nothing was kept. Try again later.")


class Spool:
    def __init__(self, root):
        self.root = Path(root)
        self.incoming, self.received, self.outbox, self.quarantine = (self.root / d for d in DIRS)

    def ensure(self):
        for d in (self.root, self.incoming, self.received, self.outbox, self.quarantine):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    def received_path(self, reference):
        return self.received / f"{reference}.tar"

    def outbox_path(self, reference):
        return self.outbox / f"{reference}.tar"

    def quarantine_path(self, reference):
        return self.quarantine / f"{reference}.tar"

    def clean_outbox_partials(self):
        """Remove temporary package files a crashed worker left in ``outbox/`` (names start with a dot). Blocking."""
        removed = 0
        for path in self.outbox.glob(".*"):
            path.unlink()
            removed += 1
        return removed

    def discard_received(self, reference):
        """The container has become a package in the outbox: remove ``received/<reference>.tar`` (if still there)."""
        _unlink_durably(self.received_path(reference))

    def discard_outbox(self, reference):
        """A package that was delivered (or never will be): remove it from the outbox."""
        _unlink_durably(self.outbox_path(reference))

    def to_quarantine(self, reference):
        """Move ``received/<reference>.tar`` into ``quarantine/`` (if it is still in received/)."""
        _move_durably(self.received_path(reference), self.quarantine_path(reference))

    def from_quarantine(self, reference):
        """Move a requeued container back from ``quarantine/`` into ``received/``."""
        _move_durably(self.quarantine_path(reference), self.received_path(reference))

    def new_incoming(self, run_io, *, max_bytes, on_pressure=None):
        """Create ``incoming/<uuid>.part`` (mode 0600, never an existing file). Call from the reactor thread."""
        path = self.incoming / f"{uuid.uuid4()}{PART_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        return IncomingFile(path, fd, run_io, max_bytes=max_bytes, on_pressure=on_pressure)

    def accept(self, path, reference):
        """Move a complete, fsynced incoming file to ``received/<reference>.tar`` durably. Blocking."""
        target = self.received_path(reference)
        os.rename(path, target)
        fsync_dir(self.received)
        fsync_dir(self.incoming)
        return target

    def recover(self, is_recorded):
        """After a crash: remove incoming parts (never acknowledged) and received files with no DB record
        (renamed but not recorded, so never acknowledged either). Blocking; call at start-up. Returns the counts."""
        parts = 0
        for path in self.incoming.glob(f"*{PART_SUFFIX}"):
            path.unlink()
            parts += 1
        orphans = 0
        for path in self.received.glob("*.tar"):
            if not is_recorded(path.stem):
                path.unlink()
                orphans += 1
        return parts, orphans


def _unlink_durably(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    fsync_dir(Path(path).parent)


def _move_durably(source, target):
    try:
        os.rename(source, target)
    except FileNotFoundError:
        return
    fsync_dir(Path(target).parent)
    fsync_dir(Path(source).parent)


class IncomingFile:
    """An upload being received. ``write`` queues on the reactor thread; an I/O thread writes in order.

    ``on_pressure(True)`` is called when more than ``high_water`` bytes wait to be written (pause the producer),
    ``on_pressure(False)`` when the queue has drained below ``low_water``.
    """

    def __init__(self, path, fd, run_io, *, max_bytes, on_pressure=None, high_water=8 << 20, low_water=2 << 20):
        self.path = path
        self._fd = fd
        self._run_io = run_io
        self.max_bytes = max_bytes
        self._on_pressure = on_pressure or (lambda paused: None)
        self._high, self._low = high_water, low_water
        self._queue = collections.deque()
        self._queued = 0
        self._draining = False
        self._paused = False
        self._error = None
        self._waiters = []
        self._next = 0  # append position
        self.size = 0  # highest byte written + 1
        self.closed = False

    def write(self, data, offset=None):
        """Queue ``data`` at ``offset`` (default: after the previous write). Raises UploadTooLarge past the limit,
        or the storage error of an earlier write."""
        if self._error is not None:
            raise self._error
        if self.closed:
            raise IntakeError("The upload is already complete.")
        if offset is None:
            offset = self._next
        end = offset + len(data)
        if end > self.max_bytes:
            raise UploadTooLarge(f"The upload is larger than the server accepts ({self.max_bytes:,} bytes).")
        self._next = end
        self.size = max(self.size, end)
        if not data:
            return
        self._queue.append((offset, data))
        self._queued += len(data)
        if not self._draining:
            self._drain()
        if not self._paused and self._queued > self._high:
            self._paused = True
            self._on_pressure(True)

    def _drain(self):
        batch = list(self._queue)
        self._queue.clear()
        self._draining = True
        d = self._run_io(self._write_batch, batch)
        d.addCallbacks(self._drained, self._failed, callbackArgs=(sum(len(b) for _, b in batch),))

    def _write_batch(self, batch):  # in an I/O thread
        for offset, data in batch:
            view = memoryview(data)
            while view:
                try:
                    n = os.pwrite(self._fd, view, offset)
                except OSError as e:
                    raise storage_error(e) from None
                view, offset = view[n:], offset + n

    def _drained(self, _, nbytes):
        self._queued -= nbytes
        self._draining = False
        if self._queue:
            self._drain()
        elif self._paused and self._queued < self._low:
            self._paused = False
            self._on_pressure(False)
        if not self._draining:
            self._wake()

    def _failed(self, failure):
        self._draining = False
        self._error = failure.value if isinstance(failure.value, IntakeError) else IntakeError()
        self._queue.clear()
        self._queued = 0
        if self._paused:
            self._paused = False
            self._on_pressure(False)
        self._wake()

    def _wake(self):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def flush(self):
        """A Deferred that fires when everything queued so far is written (or fails with the write error)."""
        if not self._draining and not self._queue:
            return defer.fail(self._error) if self._error else defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        return d.addCallback(lambda _: self._raise_error())

    def _raise_error(self):
        if self._error is not None:
            raise self._error

    @defer.inlineCallbacks
    def complete(self):
        """Write what is queued, fsync and close. Fires with the path; the file is still in ``incoming/``."""
        self.closed = True
        try:
            yield self.flush()
            yield self._run_io(self._fsync_close)
        except BaseException:
            yield self.discard()
            raise
        return self.path

    def _fsync_close(self):
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise storage_error(e) from None
        finally:
            self._close_fd()

    def _close_fd(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @defer.inlineCallbacks
    def discard(self):
        """Stop, close and delete the partial file. Safe to call more than once."""
        self.closed = True
        self._queue.clear()
        while self._draining:
            d = defer.Deferred()
            self._waiters.append(d)
            yield d
        yield self._run_io(self._unlink)

    def _unlink(self):
        self._close_fd()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
