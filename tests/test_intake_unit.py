"""Unit tier: Intake (sendemodul/intake.py) with a real Store and a real Spool in a temporary home, and real
containers; no server, no reactor. The upload's own thread reports back through ``CallsFromThreads``."""

import dataclasses
import datetime

from server import DEMO, make_container
from support.fakes import CallsFromThreads
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from sendemodul import devkeys, home
from sendemodul.auth import unit_of  # the front hands intake the Unit the login made
from sendemodul.errors import (
    ContainerError,
    LoginRevoked,
    TooManyUploads,
    UploadIncomplete,
    UploadTooLarge,
    WindowClosed,
)
from sendemodul.intake import Intake
from sendemodul.spool import Spool

PERIODE = datetime.date.today().year  # the dev home's windows are open for this year and the last


def sync_io(f, *args):
    return defer.maybeDeferred(f, *args)


class IntakeTestCase(SynchronousTestCase):
    @classmethod
    def setUpClass(cls):
        """One dev home (keys, the demo unit) and its containers for the whole class: key generation is the slow
        part. Each test gets a fresh copy of the database and spool (setUp)."""
        import tempfile

        cls._base = tempfile.TemporaryDirectory()
        cls.cfg, store = home.init_home(f"{cls._base.name}/home", environment="dev")
        devkeys.create(cls.cfg, store, actor="test")
        store.close()
        cls.container = make_container(cls.cfg.home, f"{cls._base.name}/c.tar", periode=PERIODE)
        with open(f"{cls._base.name}/c.tar", "rb") as f:
            cls.container_bytes = f.read()
        make_container(cls.cfg.home, f"{cls._base.name}/newer.tar", periode=PERIODE)  # same register and periode
        with open(f"{cls._base.name}/newer.tar", "rb") as f:
            cls.newer_bytes = f.read()

    @classmethod
    def tearDownClass(cls):
        cls._base.cleanup()

    def setUp(self):
        import shutil
        import tempfile

        from sendemodul.store import Store

        base = tempfile.mkdtemp(prefix="sendemodul-intake-")  # (trial's mktemp() would write under the cwd)
        self.addCleanup(shutil.rmtree, base, True)
        self.home = f"{base}/home"
        shutil.copytree(self.cfg.home, self.home)
        self.config = dataclasses.replace(self.cfg, home=self.cfg.home.__class__(self.home).absolute())
        self.store = Store.open(self.config.db_path)
        self.addCleanup(self.store.close)
        self.spool = Spool(self.config.spool_dir)
        self.spool.ensure()
        self.reactor = CallsFromThreads()
        self.intake = self.make_intake(self.config)

    def make_intake(self, config):
        return Intake(config, self.store, self.spool, run_io=sync_io, reactor=self.reactor)

    def upload(self, data, unit=DEMO, intake=None, chunk=7000):
        """Begin an upload, write ``data`` in chunks, and return its finish() Deferred, fired."""
        intake = intake or self.intake
        upload = intake.begin(unit_of(unit), epoch=self.store.credential_epoch(unit))
        for i in range(0, len(data), chunk):
            upload.write(data[i : i + chunk])
        return self.reactor.run_until(intake.finish(upload))

    def files(self, name):
        return sorted(p.name for p in getattr(self.spool, name).iterdir())

    def assertNothingKept(self):
        self.assertEqual((self.files("incoming"), self.files("received")), ([], []))
        self.assertEqual(self.store.list_uploads(DEMO), [])


class AcceptTests(IntakeTestCase):
    def test_a_valid_container_is_received_recorded_and_answered_with_a_receipt(self):
        receipt = self.successResultOf(self.upload(self.container_bytes))
        self.assertEqual(
            (receipt.unit, receipt.register, receipt.periode, receipt.status, receipt.duplicate),
            (DEMO, "11F", PERIODE, "received", False),
        )
        self.assertEqual(receipt.size, len(self.container_bytes))
        self.assertEqual(self.files("received"), [f"{receipt.reference}.tar"])
        self.assertEqual(self.files("incoming"), [])
        self.assertEqual(self.spool.received_path(receipt.reference).read_bytes(), self.container_bytes)
        self.assertEqual(self.store.upload(receipt.reference)["sha256"], receipt.sha256)

    def test_a_file_written_out_of_order_is_checked_whole(self):
        upload = self.intake.begin(unit_of(DEMO), epoch=self.store.credential_epoch(DEMO))
        half = len(self.container_bytes) // 2
        upload.write(self.container_bytes[half:], half)
        upload.write(self.container_bytes[:half], 0)
        receipt = self.successResultOf(self.reactor.run_until(self.intake.finish(upload)))
        self.assertEqual(receipt.size, len(self.container_bytes))


class RefuseTests(IntakeTestCase):
    def test_bytes_that_are_not_a_container_are_refused_and_nothing_is_kept(self):
        self.failureResultOf(self.upload(b"not a container" * 1000), ContainerError)
        self.assertNothingKept()

    def test_a_truncated_container_is_refused(self):
        self.failureResultOf(self.upload(self.container_bytes[:-100]), ContainerError)
        self.assertNothingKept()

    def test_another_units_login_cannot_send_this_units_container(self):
        from conftest import STAVANGER, add_unit

        add_unit(self.store, STAVANGER)
        failure = self.failureResultOf(self.upload(self.container_bytes, unit=STAVANGER), ContainerError)
        self.assertIn(DEMO.split("-")[0], str(failure.value))
        self.assertNothingKept()

    def test_a_closed_reporting_window_refuses_a_valid_container(self):
        intake = self.make_intake(dataclasses.replace(self.config, windows=()))
        failure = self.failureResultOf(self.upload(self.container_bytes, intake=intake), WindowClosed)
        self.assertIn(f"11F {PERIODE}", str(failure.value))
        self.assertNothingKept()

    def test_a_write_past_max_upload_bytes_raises_and_abort_removes_the_part(self):
        limits = dataclasses.replace(self.config.limits, max_upload_bytes=1000)
        intake = self.make_intake(dataclasses.replace(self.config, limits=limits))
        upload = intake.begin(unit_of(DEMO), epoch=self.store.credential_epoch(DEMO))
        upload.write(b"x" * 1000)
        self.assertRaises(UploadTooLarge, upload.write, b"x")
        self.successResultOf(self.reactor.run_until(intake.abort(upload)))
        self.assertNothingKept()

    def test_an_upload_shorter_than_announced_is_incomplete(self):
        upload = self.intake.begin(unit_of(DEMO), epoch=self.store.credential_epoch(DEMO))
        upload.write(self.container_bytes)
        d = self.intake.finish(upload, expected_size=len(self.container_bytes) + 1)
        self.failureResultOf(self.reactor.run_until(d), UploadIncomplete)
        self.assertNothingKept()

    def test_uploads_per_unit_limits_uploads_in_progress_until_one_ends(self):
        limits = dataclasses.replace(self.config.limits, uploads_per_unit=1)
        intake = self.make_intake(dataclasses.replace(self.config, limits=limits))
        first = intake.begin(unit_of(DEMO), epoch=self.store.credential_epoch(DEMO))
        self.assertRaises(TooManyUploads, intake.begin, unit_of(DEMO), epoch=0)
        self.reactor.run_until(intake.abort(first))
        self.reactor.run_until(first.ended())
        self.successResultOf(self.upload(self.container_bytes, intake=intake))


class RevokedLoginTests(IntakeTestCase):
    """Issue 14: an upload whose login has ended (PIN revoked or replaced, unit disabled) is refused and kept
    nowhere, whenever the change came: before it began, while it arrived, or as it is recorded."""

    def revoke(self, how):
        from sendemodul import auth

        if how == "pin revoke":
            self.store.revoke_pin(DEMO, actor="test")
        elif how == "pin issue":
            self.store.set_pin(DEMO, auth.hash_pin(auth.generate_pin()), actor="test")
        else:
            self.store.disable_unit(DEMO, actor="test")

    def test_a_change_while_the_upload_arrives_refuses_it_at_the_end(self):
        for how in ("pin issue", "pin revoke", "unit disable"):
            epoch = self.store.credential_epoch(DEMO)
            upload = self.intake.begin(unit_of(DEMO), epoch=epoch)
            half = len(self.container_bytes) // 2
            upload.write(self.container_bytes[:half])
            self.revoke(how)
            upload.write(self.container_bytes[half:])
            failure = self.failureResultOf(self.reactor.run_until(self.intake.finish(upload)), LoginRevoked)
            self.assertEqual(failure.value.code, "login_revoked")
            self.assertNothingKept()
            if how == "pin revoke":
                self.store.set_pin(DEMO, "$argon2id$again", actor="test")

    def test_an_upload_begun_under_an_old_epoch_is_refused(self):
        epoch = self.store.credential_epoch(DEMO)
        self.revoke("pin issue")
        upload = self.intake.begin(unit_of(DEMO), epoch=epoch)
        upload.write(self.container_bytes)
        self.failureResultOf(self.reactor.run_until(self.intake.finish(upload)), LoginRevoked)
        self.assertNothingKept()

    def test_a_change_committed_just_before_the_record_refuses_it(self):
        """The last check runs in the transaction that records the upload: a change between the checks before it
        and the record still wins."""
        epoch = self.store.credential_epoch(DEMO)
        checked = self.store.credential_epoch
        calls = []

        def credential_epoch(unit):  # the change lands right after intake's own look
            result = checked(unit)
            calls.append(unit)
            if len(calls) == 2:
                self.revoke("pin issue")
            return result

        self.store.credential_epoch = credential_epoch
        upload = self.intake.begin(unit_of(DEMO), epoch=epoch)
        upload.write(self.container_bytes)
        self.failureResultOf(self.reactor.run_until(self.intake.finish(upload)), LoginRevoked)
        self.assertEqual(len(calls), 2)
        self.assertNothingKept()


class DuplicateTests(IntakeTestCase):
    def test_the_same_bytes_from_the_same_unit_get_the_first_receipt_again(self):
        first = self.successResultOf(self.upload(self.container_bytes))
        again = self.successResultOf(self.upload(self.container_bytes))
        self.assertTrue(again.duplicate)
        self.assertEqual((again.counts, again.counting_reference), (True, first.reference))
        self.assertEqual(
            dataclasses.replace(again, duplicate=False, message=first.message, melding=first.melding), first
        )
        self.assertIn(f"{first.reference} gjelder fortsatt", again.melding)
        self.assertEqual(self.files("received"), [f"{first.reference}.tar"])
        self.assertEqual(self.files("incoming"), [])  # the second copy is removed
        self.assertEqual(len(self.store.list_uploads(DEMO)), 1)

    def test_an_earlier_file_sent_again_after_a_newer_one_says_the_newer_one_counts(self):
        """A, then B for the same register and periode, then A again: A's first receipt comes back, saying that it
        no longer counts, that B does, and how to make A count again; nothing new is stored."""
        a = self.successResultOf(self.upload(self.container_bytes))
        b = self.successResultOf(self.upload(self.newer_bytes))
        self.assertEqual((a.counts, b.counts, b.counting_reference), (True, True, b.reference))
        again = self.successResultOf(self.upload(self.container_bytes))
        self.assertEqual((again.reference, again.duplicate), (a.reference, True))
        self.assertEqual(
            (again.counts, again.superseded_by, again.counting_reference), (False, b.reference, b.reference)
        )
        self.assertEqual(again.counting_received_at, b.received_at)
        for text in (again.melding, again.message):
            self.assertIn(a.reference, text)
            self.assertIn(b.reference, text)
        self.assertIn("sendt inn før", again.melding)
        self.assertIn("krypterer du uttrekket på nytt", again.melding)
        self.assertIn("encrypt the extract again", again.message)
        self.assertEqual(len(self.store.list_uploads(DEMO)), 2)
