"""The pseudonymizer: a separate OS process, the only one that loads the TPF private key and the master key.

It takes received uploads in order through the database (``received -> pseudonymizing -> queued``; a test upload
ends ``tested`` and is never forwarded), turns each container into an SSB package with
:func:`sendemodul.package.make_package` (streaming; no plaintext ID on disk) written atomically into
``spool/outbox/<reference>.tar``, records the feedback on invalid IDs (row id, field and class only) and removes the
container from ``received/``. A failure quarantines the upload with a reason the unit can read.

Crash safety: a kill -9 at any instant is recovered at the next start: anything left ``pseudonymizing`` goes back
to ``received`` and temporary package files are deleted; a package is only ever visible in the outbox complete.
Synchronous (no reactor): run by ``sendemodul worker``, supervised by the server's process monitor.
"""

import datetime
import os
import time

from twisted.logger import Logger

from sendemodul import keydir, package, signing
from sendemodul.errors import SendemodulError
from sendemodul.spool import file_mode

log = Logger()

ACTOR = "worker"
#: Pseudonym domain of test uploads: never the same as any environment's, so test pseudonyms never match real ones.
TEST_DOMAIN_SUFFIX = "-test"
INTERNAL_REASON = "The server could not process the upload (internal error). The TPF has been told; no action needed."


def environment_for_test_uploads(environment):
    return f"{environment}{TEST_DOMAIN_SUFFIX}"


class Keys:
    """The private keys of the pseudonymizer, loaded from ``<home>/private/`` at the start. ``tpf.agekey`` is read
    again when it has changed (``admin keys rotate`` adds a year's identity to it): one ``stat`` per upload."""

    def __init__(self, cfg):
        private = cfg.private_dir
        self._tpf_path = private / "tpf.agekey"
        self._tpf_stat = None
        self._tpf = self.tpf_identities  # loaded now: a broken file stops the worker at its start
        self.master_key = bytes.fromhex((private / "pseudonym-master.key").read_text(encoding="ascii").strip())
        self.signing_key = signing.load_private_key(private / "tpf-signing.key")

    @property
    def tpf_identities(self):
        """The TPF's age identities of every year the file still holds (post-quantum and classic)."""
        st = os.stat(self._tpf_path)
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if signature != self._tpf_stat:
            self._tpf, self._tpf_stat = keydir.load_age_identities(self._tpf_path), signature
        return self._tpf


def reason_for(error):
    """What the unit is told when its upload fails in the pseudonymizer (never content, never an ID)."""
    if isinstance(error, SendemodulError):
        return f"{error} ({error.code})"
    return INTERNAL_REASON


class Pseudonymizer:
    """One worker: ``recover()`` once, then ``run_once()`` until it returns False (nothing to do)."""

    def __init__(self, cfg, store, spool, keys, *, today=None):
        self.cfg = cfg
        self.store = store
        self.spool = spool
        self.keys = keys
        self.today = today or datetime.date.today

    def recover(self):
        """Put crash leftovers right: pseudonymizing -> received, partial packages deleted, stale files removed."""
        back = self.store.reset_pseudonymizing()
        partials = self.spool.clean_outbox_partials()
        for reference in back:
            self.spool.discard_outbox(reference)
        for row in self.store.uploads_with_status(
            "queued", "awaiting_review", "delivered", "tested", "review_returned"
        ):
            self.spool.discard_received(row["reference"])
        for row in self.store.uploads_with_status("delivered", "tested", "review_returned"):
            self.spool.discard_outbox(row["reference"])
        if back or partials:
            log.warn(
                "worker recovery: {n} uploads back to received, {p} partial packages removed", n=len(back), p=partials
            )

    def run_once(self):
        """Pseudonymize the oldest received upload. Returns False when there was none."""
        row = self.store.claim_received()
        if row is None:
            return False
        reference = row["reference"]
        environment = environment_for_test_uploads(self.cfg.environment) if row["test"] else self.cfg.environment
        started = time.monotonic()
        try:
            ssb_keys = keydir.load_key_dir(keydir.find_key_dir(None, self.cfg.home)).sealing_keys("ssb", self.today())
            source = self.spool.received_path(reference)
            if not source.exists():  # an admin requeued it before its file came back from quarantine
                self.spool.from_quarantine(reference)
            result = package.make_package(
                source,
                self.spool.outbox_path(reference),
                tpf_identities=self.keys.tpf_identities,
                master_key=self.keys.master_key,
                environment=environment,
                key_version=self.cfg.worker.key_version,
                tpf_signing_key=self.keys.signing_key,
                ssb_recipients=ssb_keys,
            )
        except Exception as e:  # noqa: BLE001 - every failure quarantines the upload with a reason
            if not isinstance(e, SendemodulError):
                log.failure("pseudonymizing {reference} failed", reference=reference)
            reason = reason_for(e)
            self.spool.discard_outbox(reference)
            self.spool.to_quarantine(reference)
            self.store.quarantine_upload(reference, reason, actor=ACTOR)
            log.warn("upload {reference} quarantined: {reason}", reference=reference, reason=reason)
            return True
        out = self.spool.outbox_path(reference)
        os.chmod(out, file_mode(out.parent))  # a shared spool: the forwarder reads it through the group
        size = out.stat().st_size
        if row["test"]:
            status = "tested"
        elif self.cfg.review_for(row["register"]) is not None:
            status = "awaiting_review"  # a reviewer of the unit's fylke decides before it goes to SSB
        else:
            status = "queued"
        self.store.finish_pseudonymizing(
            reference,
            status=status,
            feedback=[(f.row_id, f.id_type, str(f.id_class)) for f in result.feedback],
            feedback_omitted=result.feedback_omitted,
            package_size=size,
            package_sha256=result.sha256,
            counts={k: v for k, v in result.seal.counts.items() if v},
            records=result.seal.records,
            actor=ACTOR,
        )
        self.spool.discard_received(reference)
        if row["test"]:
            self.spool.discard_outbox(reference)  # a test upload is checked end to end but never forwarded
        seconds = time.monotonic() - started
        log.info(
            "upload {reference} pseudonymized: {rows} rows in {seconds:.2f} s -> {status}",
            reference=reference,
            rows=result.seal.records,
            seconds=seconds,
            status=status,
        )
        return True


def run_forever(step, poll_seconds, *, sleep=time.sleep, should_stop=lambda: False):
    """Call ``step()`` while it finds work; when it finds none, sleep ``poll_seconds``."""
    while not should_stop():
        if not step():
            sleep(poll_seconds)
