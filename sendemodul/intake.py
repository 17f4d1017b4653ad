"""Protocol-neutral intake: stream to the spool, verify, check the reporting window, accept, record, receipt.

Both fronts use it the same way::

    upload = intake.begin(unit, epoch=..., on_pressure=...)  # incoming/<uuid>.part
    upload.write(data[, offset])                      # as bytes arrive (raises UploadTooLarge past the limit)
    receipt = yield intake.finish(upload)             # or: yield intake.abort(upload)

``finish`` answers only after the file is complete, fsynced, verified, renamed into ``received/`` and recorded in the
database: a receipt is a promise that the upload will be processed. Every refusal deletes the file and says why.
The same bytes from the same unit give back the first receipt, which says whether that first upload still counts
(a newer one for the same register and periode may have superseded it: :mod:`sendemodul.standing`).

Each upload carries the credential epoch of the login that sent it. An upload whose login has ended since (the
PIN revoked or replaced, the unit disabled: the unit's epoch raised) is refused with :class:`LoginRevoked` and kept
nowhere: checked when the upload begins, before the duplicate lookup, and in the transaction that records it, the
last step before the receipt.
"""

import collections
import datetime
import functools
import hashlib
import secrets
import time

from twisted.internet import defer
from twisted.logger import Logger

from sendemodul import keydir, metrics, standing
from sendemodul.errors import (
    AlreadyRecorded,
    ContainerReplayed,
    LoginRevoked,
    RegisterNotPermitted,
    SendemodulError,
    TooManyUploads,
    UploadIncomplete,
    WindowClosed,
)
from sendemodul.incoming import Completed
from sendemodul.receipt import Receipt
from sendemodul.timefmt import OSLO, utc_text
from sendemodul.verify import verify_container

log = Logger()

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_reference(now):
    """A receipt reference such as ``SM-20270115-7KQ2XW9D`` (date + 40 random bits)."""
    return f"SM-{now.astimezone(OSLO):%Y%m%d}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def window_decision(window, register, periode, today):
    """(test, late) for an upload on ``today`` (a Norwegian date), or raise WindowClosed saying why."""
    what = f"{register} {periode}"
    if window is None:
        raise WindowClosed(f"Reception is not open for {what}.")
    if window.test_opens and window.test_opens <= today <= window.test_closes:
        return True, False
    if window.opens is None:
        raise WindowClosed(
            f"Reception for {what} is only open for test uploads, "
            f"{window.test_opens:%d.%m.%Y}-{window.test_closes:%d.%m.%Y}."
        )
    if today < window.opens:
        raise WindowClosed(f"Reception for {what} opens {window.opens:%d.%m.%Y}.")
    if today > window.closes:
        raise WindowClosed(f"Reception for {what} closed {window.closes:%d.%m.%Y}.")
    for start, end in window.pauses:
        if start <= today <= end:
            raise WindowClosed(f"Reception for {what} is paused until {end:%d.%m.%Y}; try again after that.")
    return False, bool(window.deadline and today > window.deadline)


class _HashingReader:
    """Reads a file while hashing and counting every byte read."""

    def __init__(self, f):
        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n=-1):
        data = self._f.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self):
        while self.read(1 << 20):
            pass


class Intake:
    def __init__(self, config, store, spool, *, run_io, reactor, now=None, keys=None):
        """``run_io(f, *args) -> Deferred`` runs blocking file and DB work in a thread pool; ``now()`` returns an
        aware datetime (injected in tests); ``keys`` is the server's :class:`~sendemodul.keydir.LiveKeyDirectory`
        (by default the home's)."""
        self.config = config
        self.keys = keys if keys is not None else keydir.LiveKeyDirectory.for_home(config.home)
        self.store = store
        self.spool = spool
        self.run_io = run_io
        self.reactor = reactor
        self._active = collections.Counter()  # uploads in progress per unit
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))

    def recover(self, *, alone=True):
        """Blocking, at start-up: forget uploads that were never acknowledged (crash leftovers). When other fronts
        share the spool (``alone`` False), only files untouched for longer than an upload may stall
        (``limits.idle_timeout_seconds``, twice over), as newer ones may be theirs in progress."""
        older_than = None if alone else time.time() - 2 * self.config.limits.idle_timeout_seconds - 60
        parts, orphans = self.spool.recover(self.store.upload_exists, older_than=older_than)
        if parts or orphans:
            log.warn(
                "start-up recovery removed {parts} partial and {orphans} unrecorded uploads",
                parts=parts,
                orphans=orphans,
            )

    def begin(self, unit, *, epoch, on_pressure=None, protocol="https", person=None):
        """Start receiving an upload for the logged-in ``unit`` (an :class:`identity.Unit`, as the front has it
        from the login); ``epoch``: the login's credential epoch (:class:`~sendemodul.auth.UnitLogin`);
        ``protocol``: ``https`` or ``sftp``, for the metrics."""
        if self._active[unit] >= self.config.limits.uploads_per_unit:
            metrics.upload_finished(protocol, None, "refused", TooManyUploads.code, 0, None)
            raise TooManyUploads(
                f"This unit already has {self._active[unit]} uploads in progress, as many as the "
                "server takes at once; wait for one to finish."
            )
        upload = self.spool.new_incoming(
            self.reactor, max_bytes=self.config.limits.max_upload_bytes, on_pressure=on_pressure
        )
        upload.unit = unit
        upload.epoch = epoch
        upload.person = person  # the web session's person (PersonLogin): only their registers; None for API/SFTP
        upload.protocol = protocol
        upload.started = time.monotonic()
        self._active[unit] += 1
        upload.ended().addCallback(lambda _: self._upload_ended(unit))
        d = self.run_io(self._stream_check, unit, epoch)
        d.addCallback(upload.start)
        d.addErrback(lambda failure: (log.failure("could not prepare the check of an upload", failure), upload.start()))
        return upload

    def _upload_ended(self, unit):
        self._active[unit] -= 1
        if not self._active[unit]:
            del self._active[unit]

    def _stream_check(self, unit, epoch):
        """In an I/O thread: the container check for ``unit``'s upload, run on its bytes as they arrive (a login
        that has ended already gets a check that refuses at once: the bytes are then only drained)."""
        if self.store.credential_epoch(unit) != epoch:
            return _refuse_login
        return functools.partial(verify_container, **self._check_context(unit))

    def _check_context(self, unit):
        return {
            "unit": unit,
            "today": self.now().astimezone(OSLO).date(),
            "signing_keys": [
                keydir.parse_ed25519_public_key(row["public_key"]) for row in self.store.signing_keys(unit)
            ],
            "key_dir": self.keys.current(),
        }

    def abort(self, upload):
        """Throw a broken or refused upload away."""
        self._count(upload, None, "refused", "aborted")
        return upload.discard()

    def _count(self, upload, register, result, reason):
        started = getattr(upload, "started", None)
        seconds = time.monotonic() - started if started is not None else None
        metrics.upload_finished(getattr(upload, "protocol", "https"), register, result, reason, upload.size, seconds)

    @defer.inlineCallbacks
    def finish(self, upload, expected_size=None):
        """Complete the upload and run the checks; fires with a :class:`Receipt` or fails with the reason."""
        if expected_size is not None and upload.size != expected_size:
            self._count(upload, None, "refused", UploadIncomplete.code)
            yield upload.discard()
            raise UploadIncomplete()
        try:
            done = yield upload.complete()
            try:
                receipt = yield self.run_io(
                    self._accept, done, upload.unit, upload.epoch, getattr(upload, "person", None)
                )
            except BaseException:
                yield self.run_io(_unlink, done.path)
                raise
        except SendemodulError as e:
            log.info("upload by {unit} refused: {code}", unit=str(upload.unit), code=e.code)
            self._count(upload, None, "refused", e.code)
            raise
        log.info(
            "upload {reference} by {unit} {outcome}: {register} {periode}, {size} bytes",
            reference=receipt.reference,
            unit=receipt.unit,
            register=receipt.register,
            periode=receipt.periode,
            size=receipt.size,
            outcome="duplicate" if receipt.duplicate else "accepted",
        )
        self._count(upload, receipt.register, "duplicate" if receipt.duplicate else "accepted", None)
        if receipt.duplicate:  # after the answer; a crash first leaves an incoming/ part, removed at start
            self.run_io(_unlink, done.path).addErrback(lambda f: log.failure("removing a duplicate failed", f))
        return receipt

    def _accept(self, done, unit, epoch, person=None):
        """In an I/O thread: verify (unless the stream was checked as it arrived), check the window, move into
        ``received/``, record (only while the login's ``epoch`` is still the unit's). Returns the Receipt."""
        unit_text = str(unit)
        if self.store.credential_epoch(unit) != epoch:
            raise LoginRevoked()
        now = self.now()
        today = now.astimezone(OSLO).date()
        path = done.path
        if done.checked:
            manifest, sha256, size = done.result, done.sha256, done.size
        else:
            with open(path, "rb") as f:
                reader = _HashingReader(f)
                manifest = verify_container(reader, **self._check_context(unit))
                reader.drain()
            sha256, size = reader.sha256.hexdigest(), reader.size
        if person is not None and manifest.register not in person.registers:
            raise RegisterNotPermitted(f"The person logged in may not report {manifest.register}.")
        existing = self.store.upload_by_container_id(manifest.container_id)
        if existing is not None:
            return self._same_again(existing, unit_text, sha256, manifest.container_id)
        test, late = window_decision(
            self.config.window_for(manifest.register, manifest.periode), manifest.register, manifest.periode, today
        )
        reference = new_reference(now)
        received = self.spool.accept(path, reference)
        row = {
            "reference": reference,
            "unit": unit_text,
            "register": manifest.register,
            "periode": manifest.periode,
            "container_id": manifest.container_id,
            "sha256": sha256,
            "size": size,
            "status": "received",
            "test": int(test),
            "late": int(late),
            "received_at": utc_text(now),
        }
        if person is not None:
            row["person_id"] = person.person_id
        if manifest.no_participants:
            row["no_participants"] = 1
        actor = unit_text if person is None else f"person:{person.person_id}"
        try:
            stored = self.store.record_upload(row, actor=actor, credential_epoch=epoch)
        except AlreadyRecorded:
            received.unlink()  # lost a race with an identical upload: answer as that one
            existing = self.store.upload_by_container_id(manifest.container_id)
            if existing is None:
                raise
            return self._same_again(existing, unit_text, sha256, manifest.container_id)
        except BaseException:
            received.unlink()
            raise
        return self._receipt(stored)

    def _receipt(self, row, duplicate=False):
        """The receipt for ``row``, with what counts now for its register and periode (an I/O thread)."""
        current = (
            row if standing.is_current(row) else self.store.current_upload(row["unit"], row["register"], row["periode"])
        )
        return Receipt.from_row(row, current, duplicate=duplicate)

    def no_participants(self, unit, *, epoch, person, register, periode):
        """ "Ingen deltakere" confirmed in the browser by ``person``: the server makes the empty container
        (:mod:`sendemodul.no_participants`) and takes it in like an upload. Deferred Receipt."""
        return self.run_io(self._no_participants, unit, epoch, person, register, periode)

    def _no_participants(self, unit, epoch, person, register, periode):
        from sendemodul import no_participants

        if register not in person.registers:
            raise RegisterNotPermitted(f"The person logged in may not report {register}.")
        if self.store.credential_epoch(unit) != epoch:
            raise LoginRevoked()
        now = self.now()
        today = now.astimezone(OSLO).date()
        window_decision(self.config.window_for(register, periode), register, periode, today)  # refuse if closed
        path = no_participants.incoming_path(self.spool)
        manifest = no_participants.write_empty_container(
            path,
            unit=unit,
            register=register,
            periode=periode,
            key_dir=self.keys.current(),
            today=today,
            home=self.config.home,
        )
        try:
            with open(path, "rb") as f:
                reader = _HashingReader(f)
                reader.drain()
            done = Completed(path, reader.size, result=manifest, sha256=reader.sha256.hexdigest())
            return self._accept(done, unit, epoch, person)
        except BaseException:
            _unlink(path)
            raise

    def _same_again(self, existing, unit_text, sha256, container_id):
        """The first receipt for the same bytes from the same unit, or refused as a replay. (:meth:`finish` removes
        the copy in incoming/: a refusal's at once, a duplicate's after the answer, as unlinking a large file takes
        a while.)"""
        if existing["unit"] == unit_text and existing["sha256"] == sha256:
            return self._receipt(existing, duplicate=True)
        raise ContainerReplayed.detail(container_id)


def _refuse_login(stream):
    raise LoginRevoked()


def _unlink(path):
    try:
        path.unlink()
    except FileNotFoundError:
        pass
