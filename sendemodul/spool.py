"""All file moves: ``incoming/`` -> ``received/`` -> ``outbox/`` (and ``quarantine/``), by rename on one filesystem.

Names on disk are always server-generated (a uuid while incoming, the reference once received); a client's file
name never reaches the filesystem. The file being uploaded into ``incoming/`` is an
:class:`~sendemodul.incoming.IncomingFile`.
"""

import fcntl
import os
import uuid
from pathlib import Path

#: Every front of a cluster holds a shared lock on this file in the spool root (:meth:`Spool.join_fronts`).
FRONTS_LOCK = ".fronts.lock"
DIRS = ("incoming", "received", "outbox", "quarantine")
PART_SUFFIX = ".part"


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_mode(directory):
    """The mode for a new file in ``directory``: 0600, or 0640 when the directory is open to its group (with
    [process] users the spool is shared through a group, and the next process reads the file through it)."""
    return 0o640 if os.stat(directory).st_mode & 0o070 else 0o600


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

    def new_incoming(self, reactor, *, max_bytes, on_pressure=None):
        """Create ``incoming/<uuid>.part`` (mode 0600, or 0640 in a shared spool; never an existing file). Call
        from the reactor thread."""
        # Imported here: the pseudonymizer and the forwarder use the spool without Twisted's Deferreds (and asyncio,
        # which they import), about 0.1 s of their start-up.
        from sendemodul.incoming import IncomingFile

        path = self.incoming / f"{uuid.uuid4()}{PART_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, file_mode(self.incoming))
        return IncomingFile(path, fd, reactor, max_bytes=max_bytes, on_pressure=on_pressure)

    def accept(self, path, reference):
        """Move a complete, fsynced incoming file to ``received/<reference>.tar`` durably. Blocking."""
        target = self.received_path(reference)
        os.rename(path, target)
        fsync_dir(self.received)
        fsync_dir(self.incoming)
        return target

    def join_fronts(self):
        """Join the fronts that use this spool (a cluster shares one): hold a shared ``flock`` on
        ``.fronts.lock`` for the life of the process. True when no other front holds it (an exclusive lock was
        free): then nothing in the spool is another front's work in progress. Blocking; at start-up, before
        listening. (Where the lock cannot be made, e.g. a spool root the front may not write, the front is taken to
        be alone, as before clusters.)"""
        try:
            fd = os.open(self.root / FRONTS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except PermissionError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        fcntl.flock(fd, fcntl.LOCK_SH)  # kept open (and locked) until the process ends
        self._fronts_fd = fd
        return alone

    def recover(self, is_recorded, *, older_than=None):
        """After a crash: remove incoming parts (never acknowledged) and received files with no DB record
        (renamed but not recorded, so never acknowledged either). Blocking; call at start-up. Returns the counts.

        ``older_than`` (seconds since the epoch): only files last changed before then, because other fronts are
        running and a newer file may be one of their uploads in progress (a part is written to as it arrives; a
        received file is recorded a moment after its rename)."""
        parts = 0
        for path in self.incoming.glob(f"*{PART_SUFFIX}"):
            if _older(path, older_than):
                path.unlink(missing_ok=True)
                parts += 1
        orphans = 0
        for path in self.received.glob("*.tar"):
            if _older(path, older_than) and not is_recorded(path.stem):
                path.unlink(missing_ok=True)
                orphans += 1
        return parts, orphans


def _older(path, older_than):
    if older_than is None:
        return True
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return max(st.st_mtime, st.st_ctime) < older_than


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
