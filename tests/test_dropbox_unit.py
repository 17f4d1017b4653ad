"""Unit tier: the SFTP drop box (sendemodul/sftp/dropbox.py) without a server, a socket or a thread.

A fake intake stands in for the spool and the checks; a ``Clock`` drives the upload deadline. What the real Intake
does is tested in test_intake_unit.py, and the whole front with real clients in test_sftp.py (integration).
"""

from twisted.conch.ssh import filetransfer
from twisted.conch.ssh.filetransfer import (
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_OP_UNSUPPORTED,
    FX_PERMISSION_DENIED,
    SFTPError,
)
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.errors import WindowClosed
from sendemodul.sftp import dropbox
from sendemodul.sftp.dropbox import MAX_OPEN_UPLOADS, DropBox
from support.fakes import OTHER, UNIT, FakeIntake, FakeStore, receipt, row, sync_db

WRITE = filetransfer.FXF_WRITE | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC
READ = filetransfer.FXF_READ


class DropBoxTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.intake = FakeIntake()
        self.store = FakeStore([row("SM-20270115-AAAAAAAA"), row("SM-20270115-BBBBBBBB", unit=OTHER)])
        self.pressure = []
        self.busy = []
        self.box = DropBox(UNIT, intake=self.intake, store=self.store, run_db=sync_db,
                           on_pressure=lambda upload, paused: self.pressure.append((upload.name, paused)),
                           on_busy=self.busy.append, clock=self.clock, epoch=0)

    def assertStatus(self, code, f, *args):
        """``f(*args)`` raises (or its Deferred fails with) an SFTPError with ``code``; returns the error."""
        try:
            result = f(*args)
        except SFTPError as e:
            error = e
        else:
            error = self.failureResultOf(defer.maybeDeferred(lambda: result), SFTPError).value
        self.assertEqual(error.code, code, error.message)
        return error

    def put(self, name, data=b"x" * 10):
        f = self.box.openFile(name.encode(), WRITE, {})
        f.writeChunk(0, data)
        return f


class OpeningTests(DropBoxTestCase):
    def test_opening_for_writing_begins_an_upload_for_the_unit(self):
        f = self.box.openFile(b"/a.tar", WRITE, {})
        self.assertEqual([u.unit for u in self.intake.begun], [UNIT])
        self.assertIn("a.tar", self.box.uploads)
        self.assertIsInstance(f, dropbox.UploadFile)

    def test_the_client_name_never_reaches_intake(self):
        self.box.openFile(b"secret-name.tar", WRITE, {})
        self.assertEqual(vars(self.intake.begun[0]).get("name"), None)

    def test_paths_outside_the_box_are_refused(self):
        for path in (b"../x", b"/etc/passwd", b"a/b"):
            self.assertStatus(FX_PERMISSION_DENIED, self.box.openFile, path, WRITE, {})
        self.assertEqual(self.intake.begun, [])

    def test_appending_is_not_supported(self):
        self.assertStatus(FX_OP_UNSUPPORTED, self.box.openFile, b"a.tar",
                          filetransfer.FXF_WRITE | filetransfer.FXF_APPEND, {})

    def test_uploads_cannot_be_read_back(self):
        self.put("a.tar")
        error = self.assertStatus(FX_PERMISSION_DENIED, self.box.openFile, b"a.tar", READ, {})
        self.assertIn("write-only", error.message)
        self.assertStatus(FX_NO_SUCH_FILE, self.box.openFile, b"never.tar", READ, {})

    def test_the_same_name_cannot_be_open_twice(self):
        self.box.openFile(b"a.tar", WRITE, {})
        self.assertStatus(FX_FAILURE, self.box.openFile, b"a.tar", WRITE, {})

    def test_at_most_max_open_uploads_at_a_time_in_one_session(self):
        for i in range(MAX_OPEN_UPLOADS):
            self.box.openFile(f"{i}.tar".encode(), WRITE, {})
        error = self.assertStatus(FX_FAILURE, self.box.openFile, b"one-more.tar", WRITE, {})
        self.assertIn(f"At most {MAX_OPEN_UPLOADS}", error.message)

    def test_intakes_per_unit_limit_is_an_sftp_failure_with_its_message(self):
        self.intake.config.limits.uploads_per_unit = 1
        self.box.openFile(b"a.tar", WRITE, {})
        error = self.assertStatus(FX_FAILURE, self.box.openFile, b"b.tar", WRITE, {})
        self.assertIn("uploads in progress", error.message)

    def test_receipts_are_read_only_and_only_the_units_own(self):
        f = self.successResultOf(self.box.openFile(b"/receipts/SM-20270115-AAAAAAAA.json", READ, {}))
        self.assertIn(b'"reference": "SM-20270115-AAAAAAAA"', f.readChunk(0, 4096))
        self.assertStatus(FX_NO_SUCH_FILE, self.box.openFile, b"/receipts/SM-20270115-BBBBBBBB.json", READ, {})
        self.assertStatus(FX_PERMISSION_DENIED, self.box.openFile, b"/receipts/SM-20270115-AAAAAAAA.json",
                          WRITE, {})

    def test_limits_extension_advertises_the_packet_size(self):
        self.assertEqual(self.box.gotVersion(3, {}), {b"limits@openssh.com": b"1"})
        self.assertEqual(len(self.box.extendedRequest(b"limits@openssh.com", b"")), 32)
        self.assertStatus(FX_OP_UNSUPPORTED, self.box.extendedRequest, b"other@example.org", b"")


class WritingTests(DropBoxTestCase):
    def test_writes_go_to_the_incoming_file_at_their_offsets(self):
        f = self.box.openFile(b"a.tar", WRITE, {})
        f.writeChunk(0, b"abc")
        f.writeChunk(3, b"def")
        self.assertEqual(bytes(self.intake.begun[0].data), b"abcdef")
        self.assertEqual(f.getAttrs()["size"], 6)

    def test_reading_an_upload_handle_is_refused(self):
        f = self.box.openFile(b"a.tar", WRITE, {})
        self.assertStatus(FX_PERMISSION_DENIED, f.readChunk, 0, 10)

    def test_a_write_past_max_upload_bytes_drops_the_upload_and_close_says_why(self):
        f = self.box.openFile(b"a.tar", WRITE, {})
        error = self.assertStatus(FX_FAILURE, f.writeChunk, 999, b"xx")
        self.assertIn("larger than the server accepts", error.message)
        self.assertTrue(self.intake.begun[0].discarded)
        self.assertNotIn("a.tar", self.box.uploads)
        self.assertEqual(self.assertStatus(FX_FAILURE, f.writeChunk, 0, b"x").message, error.message)
        self.assertEqual(self.assertStatus(FX_FAILURE, f.close).message, error.message)
        self.assertEqual(self.intake.finished, [])

    def test_close_runs_intake_and_the_receipt_appears(self):
        f = self.put("a.tar")
        self.assertIsNone(self.successResultOf(defer.maybeDeferred(f.close)))
        self.assertEqual(self.intake.finished, [self.intake.begun[0]])
        self.assertIn("a.tar", self.box.accepted)
        self.assertEqual(self.busy, [1, -1])
        self.assertEqual(self.successResultOf(self.box.getAttrs(b"a.tar", False))["size"], 10)

    def test_a_refusal_is_the_status_of_close_with_intakes_message(self):
        def refuse(upload):
            raise WindowClosed("Reception for 11F 2026 closed 15.02.2027.")

        self.intake.outcome = refuse
        f = self.put("a.tar")
        error = self.assertStatus(FX_FAILURE, f.close)
        self.assertEqual(error.message, "Reception for 11F 2026 closed 15.02.2027.")
        self.assertNotIn("a.tar", self.box.accepted)

    def test_an_unexpected_intake_error_is_an_internal_error_and_is_logged(self):
        def crash(upload):
            raise RuntimeError("bug")

        self.intake.outcome = crash
        f = self.put("a.tar")
        error = self.assertStatus(FX_FAILURE, f.close)
        self.assertIn("Internal error", error.message)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_the_idle_count_is_held_while_intake_runs(self):
        self.intake.pending = defer.Deferred()
        d = defer.maybeDeferred(self.put("a.tar").close)
        self.assertNoResult(d)
        self.assertEqual(self.busy, [1])
        self.intake.pending.callback(receipt(self.intake.begun[0]))
        self.successResultOf(d)
        self.assertEqual(self.busy, [1, -1])

    def test_a_temporary_name_waits_for_the_rename(self):
        f = self.put("a.tar.filepart")
        self.assertIsNone(f.close())
        self.assertEqual(self.intake.finished, [])
        self.successResultOf(defer.maybeDeferred(self.box.renameFile, b"a.tar.filepart", b"a.tar"))
        self.assertEqual(len(self.intake.finished), 1)
        self.assertIn("a.tar", self.box.accepted)

    def test_renaming_an_upload_still_open_does_not_finish_it(self):
        self.put("a.tar.partial")
        self.assertIsNone(self.box.renameFile(b"a.tar.partial", b"a.tar"))
        self.assertEqual(self.intake.finished, [])
        self.assertIn("a.tar", self.box.uploads)

    def test_removing_an_upload_in_progress_discards_it(self):
        f = self.put("a.tar")
        self.box.removeFile(b"a.tar")
        self.assertTrue(self.intake.begun[0].discarded)
        self.assertIn("removed", self.assertStatus(FX_FAILURE, f.writeChunk, 10, b"x").message)

    def test_accepted_uploads_cannot_be_removed_or_renamed(self):
        self.put("a.tar").close()
        self.assertStatus(FX_PERMISSION_DENIED, self.box.removeFile, b"a.tar")
        self.assertStatus(FX_PERMISSION_DENIED, self.box.renameFile, b"a.tar", b"b.tar")

    def test_the_end_of_the_session_discards_every_upload_not_complete(self):
        self.put("a.tar")
        self.put("b.tar.filepart").close()
        self.box.session_ended()
        self.assertEqual([u.discarded for u in self.intake.begun], [True, True])
        self.assertEqual(self.box.uploads, {})
        self.assertEqual(self.intake.finished, [])

    def test_pressure_from_the_spool_reaches_the_connection(self):
        self.box.openFile(b"a.tar", WRITE, {})
        self.intake.begun[0].on_pressure(True)
        self.intake.begun[0].on_pressure(False)
        self.assertEqual(self.pressure, [("a.tar", True), ("a.tar", False)])


class DirectoryTests(DropBoxTestCase):
    def test_the_root_lists_receipts_and_this_sessions_uploads(self):
        self.put("a.tar")
        names = [name for name, _, _ in self.successResultOf(self.box.openDirectory(b"/"))]
        self.assertEqual(names, [b".", b"receipts", b"a.tar"])

    def test_receipts_lists_only_the_units_own(self):
        names = [name for name, _, _ in self.successResultOf(self.box.openDirectory(b"/receipts"))]
        self.assertEqual(names, [b".", b"SM-20270115-AAAAAAAA.json"])

    def test_directories_and_links_cannot_be_made(self):
        self.assertStatus(FX_PERMISSION_DENIED, self.box.makeDirectory, b"d", {})
        self.assertStatus(FX_PERMISSION_DENIED, self.box.removeDirectory, b"receipts")
        self.assertStatus(FX_PERMISSION_DENIED, self.box.makeLink, b"l", b"a.tar")


class RevokedLoginTests(DropBoxTestCase):
    def test_receipts_are_not_answered_once_the_units_credentials_change(self):
        """Issue 14: reading the unit's receipts checks the login's credential epoch in the same DB call."""
        self.store.epochs[UNIT] = 3  # admin pin revoke/issue or unit disable, in another process
        self.assertStatus(FX_PERMISSION_DENIED, self.box.openDirectory, b"/receipts")
        self.assertStatus(FX_PERMISSION_DENIED, self.box.openFile, b"/receipts/SM-20270115-AAAAAAAA.json", READ, {})
        self.assertStatus(FX_PERMISSION_DENIED, self.box.getAttrs, b"/receipts/SM-20270115-AAAAAAAA.json", False)

    def test_uploads_carry_the_logins_epoch_to_intake(self):
        self.put("a.tar")
        self.assertEqual([u.epoch for u in self.intake.begun], [0])


class DeadlineTests(DropBoxTestCase):
    """limits.max_upload_seconds, on the injected clock: a trickle that keeps the idle timeout away still ends."""

    def test_writes_before_the_deadline_are_taken(self):
        f = self.box.openFile(b"a.tar", WRITE, {})
        self.clock.advance(59)
        f.writeChunk(0, b"x")
        self.clock.advance(1)  # exactly at the deadline: still in time
        f.writeChunk(1, b"y")
        self.assertEqual(bytes(self.intake.begun[0].data), b"xy")

    def test_a_write_after_max_upload_seconds_drops_the_upload(self):
        f = self.box.openFile(b"a.tar", WRITE, {})
        f.writeChunk(0, b"x")
        self.clock.advance(60.5)
        error = self.assertStatus(FX_FAILURE, f.writeChunk, 1, b"y")
        self.assertIn("took too long", error.message)
        self.assertTrue(self.intake.begun[0].discarded)
        self.assertNotIn("a.tar", self.box.uploads)
        self.assertEqual(self.assertStatus(FX_FAILURE, f.close).message, error.message)
        self.assertEqual(self.intake.finished, [])

    def test_each_upload_has_its_own_deadline(self):
        first = self.box.openFile(b"a.tar", WRITE, {})
        self.clock.advance(30)
        second = self.box.openFile(b"b.tar", WRITE, {})
        self.clock.advance(31)
        self.assertStatus(FX_FAILURE, first.writeChunk, 0, b"x")
        second.writeChunk(0, b"x")
        self.assertEqual(self.intake.begun[1].size, 1)

    def test_the_deadline_uses_the_injected_clock_not_the_wall_clock(self):
        self.clock.advance(1_000_000)
        f = self.box.openFile(b"a.tar", WRITE, {})
        self.assertEqual(self.box.uploads["a.tar"].deadline, 1_000_060)
        f.writeChunk(0, b"x")
