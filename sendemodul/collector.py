"""SSB's answers, collected the way the packages went, in reverse: from a directory (dev default
``<home>/ssb-answers``, or a share SSB writes to) or by SFTP from SSB's server with paramiko (the forwarder's
connection: key authentication, SSB's host key pinned).

Before anything is recorded, each answer is checked: its shape (:meth:`~sendemodul.answer.Answer.parse`), SSB's
signature with the ``ssb-signing`` keys of the key directory valid on its date, then, in one database transaction,
that its reference names a delivered upload, that its package digest, container id, unit, register and periode are
that delivery's, and that neither this answer nor another for the delivery was recorded before
(:meth:`~sendemodul.store.Store.record_answer`). A refused answer is audited (``answer.refused`` with the reason's
code) and changes nothing else. Each file read moves to ``done/`` or ``refused/`` below the folder, so it is read
once. Synchronous: runs in the forwarder process (``sendemodul forwarder``), never on a reactor thread.
"""

import contextlib
import os
import stat
import time
from pathlib import Path

from twisted.logger import Logger

from sendemodul import keydir
from sendemodul.answer import MAX_ANSWER_BYTES, Answer
from sendemodul.errors import AnswerError, AnswerInvalid

log = Logger()

ACTOR = "collector"
DONE, REFUSED = "done", "refused"


def _wanted(name):
    """Answer files: ``*.json``, not hidden (``.x.json.part`` is one being written)."""
    return name.endswith(".json") and not name.startswith(".")


class DirAnswers:
    """Answers in a local directory."""

    def __init__(self, directory):
        self.directory = Path(directory)

    @contextlib.contextmanager
    def session(self):
        yield self

    def pending(self):
        if not self.directory.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.directory)
            if entry.is_file(follow_symlinks=False) and _wanted(entry.name)
        )

    def read(self, name):
        with open(self.directory / name, "rb") as f:
            return f.read(MAX_ANSWER_BYTES + 1)

    def finish(self, name, outcome):
        target_dir = self.directory / outcome
        target_dir.mkdir(mode=0o700, exist_ok=True)
        target = target_dir / name
        n = 1
        while target.exists():  # a replayed file of the same name: keep both
            target, n = target_dir / f"{name}.{n}", n + 1
        os.rename(self.directory / name, target)


class SftpAnswers:
    """Answers in a folder on SSB's SFTP server, read with the forwarder's connection."""

    def __init__(self, transport, remote_dir):
        self.transport = transport
        self.remote_dir = remote_dir.rstrip("/") or "."

    @contextlib.contextmanager
    def session(self):
        ssh, sftp = self.transport.connect()
        try:
            yield _SftpSession(sftp, self.remote_dir)
        finally:
            sftp.close()
            ssh.close()


class _SftpSession:
    def __init__(self, sftp, remote_dir):
        self.sftp = sftp
        self.remote_dir = remote_dir

    def pending(self):
        return sorted(
            a.filename
            for a in self.sftp.listdir_attr(self.remote_dir)
            if stat.S_ISREG(a.st_mode or 0) and _wanted(a.filename)
        )

    def read(self, name):
        with self.sftp.open(f"{self.remote_dir}/{name}", "rb") as f:
            return f.read(MAX_ANSWER_BYTES + 1)

    def finish(self, name, outcome):
        target_dir = f"{self.remote_dir}/{outcome}"
        with contextlib.suppress(OSError):
            self.sftp.mkdir(target_dir)
        self.sftp.posix_rename(f"{self.remote_dir}/{name}", f"{target_dir}/{name}")


def make_source(cfg, forwarder_transport=None):
    """Where answers come from for this configuration, or None (sftp mode without ``answers_remote_dir``)."""
    fwd = cfg.forwarder
    if fwd.mode == "sftp":
        if not fwd.answers_remote_dir:
            return None
        from sendemodul.forwarder import SftpTransport

        return SftpAnswers(forwarder_transport or SftpTransport(fwd, cfg.home), fwd.answers_remote_dir)
    directory = Path(fwd.answers_directory) if fwd.answers_directory else Path("ssb-answers")
    return DirAnswers(directory if directory.is_absolute() else cfg.home / directory)


class AnswerCollector:
    """``run_once()`` reads every answer waiting; ``run_if_due()`` does so every ``answers_poll_seconds``."""

    def __init__(self, cfg, store, source=None, *, clock=time.monotonic):
        self.cfg = cfg
        self.store = store
        self.source = source if source is not None else make_source(cfg)
        self.clock = clock
        self._next = 0.0

    def run_if_due(self):
        """Collect when the poll interval has passed; True if an answer was read."""
        if self.source is None or self.clock() < self._next:
            return False
        self._next = self.clock() + self.cfg.forwarder.answers_poll_seconds
        try:
            return self.run_once() > 0
        except Exception as e:  # noqa: BLE001 - SSB's server down, a folder unreadable: try at the next poll
            log.warn("collecting SSB's answers failed: {error}", error=f"{type(e).__name__}: {e}")
            return False

    def run_once(self):
        """Read, check and record (or refuse) every answer waiting. Returns how many were read."""
        count = 0
        with self.source.session() as session:
            for name in session.pending():
                outcome = self.receive(session.read(name))
                session.finish(name, outcome)
                count += 1
        return count

    def receive(self, data):
        """Check one answer's bytes and record it; :data:`DONE` or :data:`REFUSED` (audited)."""
        parsed = None
        try:
            if len(data) > MAX_ANSWER_BYTES:
                raise AnswerInvalid.detail(f"larger than {MAX_ANSWER_BYTES} bytes")
            parsed = Answer.parse(data)
            signed_by = parsed.verify(self._ssb_keys())
            status = self.store.record_answer(parsed, signed_by=signed_by, actor=ACTOR)
        except AnswerError as e:
            self.store.refuse_answer(
                e.code,
                actor=ACTOR,
                reference=parsed.reference if parsed else None,
                answer_id=parsed.answer_id if parsed else None,
            )
            log.warn("an answer from SSB was refused: {error}", error=str(e))
            return REFUSED
        log.info("SSB's answer recorded: {reference} {status}", reference=parsed.reference, status=status)
        return DONE

    def _ssb_keys(self):
        """The ``ssb-signing`` keys; a key directory that cannot be read raises KeyDirError, which leaves the answer
        where it is for the next poll (it is our fault, not the answer's)."""
        directory = keydir.load_key_dir(keydir.find_key_dir(None, self.cfg.home))
        return [key for key in directory if key.role == "ssb-signing"]
