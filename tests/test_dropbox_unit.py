"""Unit tier: the SFTP drop box (sendemodul/sftp/dropbox.py) without a server, a socket or a thread.

A fake intake stands in for the spool and the checks; a ``Clock`` drives the upload deadline. What the real Intake
does is tested in test_intake_unit.py, and the whole front with real clients in test_sftp.py (integration).
"""

import gc
import struct
import weakref

from support.fakes import OTHER, UNIT, FakeIntake, FakeStore, receipt, row, sync_db
from twisted.conch.ssh import filetransfer
from twisted.conch.ssh.common import NS
from twisted.conch.ssh.filetransfer import (
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_OP_UNSUPPORTED,
    FX_PERMISSION_DENIED,
    SFTPError,
)
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from sendemodul.errors import WindowClosed
from sendemodul.sftp import dropbox
from sendemodul.sftp.dropbox import MAX_OPEN_HANDLES, DropBox
from sendemodul.sftp.server import DropBoxUser

WRITE = filetransfer.FXF_WRITE | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC
READ = filetransfer.FXF_READ


class DropBoxTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.intake = FakeIntake()
        self.store = FakeStore([row("SM-20270115-AAAAAAAA"), row("SM-20270115-BBBBBBBB", unit=OTHER)])
        self.pressure = []
        self.busy = []
        self.box = DropBox(
            UNIT,
            intake=self.intake,
            store=self.store,
            run_db=sync_db,
            on_pressure=lambda upload, paused: self.pressure.append((upload.name, paused)),
            on_busy=self.busy.append,
            clock=self.clock,
            epoch=0,
        )

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
        self.assertStatus(
            FX_OP_UNSUPPORTED, self.box.openFile, b"a.tar", filetransfer.FXF_WRITE | filetransfer.FXF_APPEND, {}
        )

    def test_uploads_cannot_be_read_back(self):
        self.put("a.tar")
        error = self.assertStatus(FX_PERMISSION_DENIED, self.box.openFile, b"a.tar", READ, {})
        self.assertIn("write-only", error.message)
        self.assertStatus(FX_NO_SUCH_FILE, self.box.openFile, b"never.tar", READ, {})

    def test_the_same_name_cannot_be_open_twice(self):
        self.box.openFile(b"a.tar", WRITE, {})
        self.assertStatus(FX_FAILURE, self.box.openFile, b"a.tar", WRITE, {})

    def test_at_most_max_open_uploads_at_a_time_in_one_session(self):
        for i in range(MAX_OPEN_HANDLES):
            self.box.openFile(f"{i}.tar".encode(), WRITE, {})
        error = self.assertStatus(FX_FAILURE, self.box.openFile, b"one-more.tar", WRITE, {})
        self.assertIn(f"At most {MAX_OPEN_HANDLES}", error.message)

    def test_intakes_per_unit_limit_is_an_sftp_failure_with_its_message(self):
        self.intake.config.limits.uploads_per_unit = 1
        self.box.openFile(b"a.tar", WRITE, {})
        error = self.assertStatus(FX_FAILURE, self.box.openFile, b"b.tar", WRITE, {})
        self.assertIn("uploads in progress", error.message)

    def test_receipts_are_read_only_and_only_the_units_own(self):
        f = self.successResultOf(self.box.openFile(b"/receipts/SM-20270115-AAAAAAAA.json", READ, {}))
        self.assertIn(b'"reference": "SM-20270115-AAAAAAAA"', f.readChunk(0, 4096))
        self.assertStatus(FX_NO_SUCH_FILE, self.box.openFile, b"/receipts/SM-20270115-BBBBBBBB.json", READ, {})
        self.assertStatus(FX_PERMISSION_DENIED, self.box.openFile, b"/receipts/SM-20270115-AAAAAAAA.json", WRITE, {})

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


RECEIPT = b"/receipts/SM-20270115-AAAAAAAA.json"


class HandleLimitTests(DropBoxTestCase):
    """Finding 3 of issue 14: a session could hold any number of read and directory handles (5,000 of each, 37 MB)."""

    def open_each_kind(self, i):
        """One handle of each kind: an upload, a receipt read, a listing of /, a listing of /receipts."""
        return [
            self.box.openFile(f"{i}.tar".encode(), WRITE, {}),
            self.successResultOf(self.box.openFile(RECEIPT, READ, {})),
            self.successResultOf(self.box.openDirectory(b"/")),
            self.successResultOf(self.box.openDirectory(b"/receipts")),
        ]

    def test_the_limit_is_the_advertised_max_open_handles(self):
        limits = struct.unpack("!QQQQ", self.box.extendedRequest(b"limits@openssh.com", b""))
        self.assertEqual(limits[3], MAX_OPEN_HANDLES)

    def test_every_kind_of_handle_counts_and_the_next_is_refused_with_a_clear_status(self):
        handles = [h for i in range(MAX_OPEN_HANDLES // 4) for h in self.open_each_kind(i)]
        self.assertEqual(len(self.box.handles), MAX_OPEN_HANDLES)
        for refused in (
            lambda: self.box.openFile(b"more.tar", WRITE, {}),
            lambda: self.box.openFile(RECEIPT, READ, {}),
            lambda: self.box.openDirectory(b"/"),
            lambda: self.box.openDirectory(b"/receipts"),
        ):
            error = self.assertStatus(FX_FAILURE, refused)
            self.assertIn(f"At most {MAX_OPEN_HANDLES} files and directories", error.message)
        handles[2].close()  # a listing closed: room for one handle of any kind
        self.successResultOf(self.box.openFile(RECEIPT, READ, {}))
        self.assertStatus(FX_FAILURE, self.box.openDirectory, b"/")
        self.assertEqual(len(self.intake.begun), MAX_OPEN_HANDLES // 4)  # no upload was begun for a refused open

    def test_opens_waiting_for_the_store_hold_their_place(self):
        waiting = []
        self.box.run_db = lambda f, *args: waiting.append((f, args)) or defer.Deferred()
        opens = [self.box.openFile(RECEIPT, READ, {}) for _ in range(MAX_OPEN_HANDLES)]
        self.assertStatus(FX_FAILURE, self.box.openDirectory, b"/receipts")
        self.assertEqual(len(waiting), MAX_OPEN_HANDLES)  # the refused one never reached the store
        for d in opens:
            self.assertNoResult(d)

    def test_a_handle_whose_close_fails_is_closed_all_the_same(self):
        def refuse(upload):
            raise WindowClosed("Reception for 11F 2026 closed 15.02.2027.")

        self.intake.outcome = refuse
        for i in range(MAX_OPEN_HANDLES):
            self.assertStatus(FX_FAILURE, self.put(f"{i}.tar").close)
        self.assertEqual(self.box.handles, set())
        self.box.openFile(b"next.tar", WRITE, {})

    def test_an_open_that_completes_after_the_session_ended_gets_no_handle(self):
        pending = defer.Deferred()
        self.box.run_db = lambda f, *args: pending
        d = self.box.openFile(RECEIPT, READ, {})
        self.box.session_ended()
        pending.callback(row("SM-20270115-AAAAAAAA"))
        self.assertIn("session ended", self.failureResultOf(d, SFTPError).value.message)
        self.assertEqual((self.box.handles, self.box.opening), (set(), 0))
        self.assertStatus(FX_FAILURE, self.box.openDirectory, b"/")


def _sftp_packet(kind, request_id, payload=b""):
    data = struct.pack("!BL", kind, request_id) + payload
    return struct.pack("!L", len(data)) + data


def _replies(data):
    """``(kind, request id, payload)`` of every packet in ``data``."""
    found = []
    while data:
        length, kind = struct.unpack("!LB", data[:5])
        found.append((kind, struct.unpack("!L", data[5:9])[0], data[9 : 4 + length]))
        data = data[4 + length :]
    return found


class SessionEndTests(SynchronousTestCase):
    """The SFTP server as Conch runs it (DropBoxUser's subsystem, raw SFTP packets on a StringTransport): what a
    session opened is all gone once it ends."""

    def setUp(self):
        self.intake = FakeIntake()
        self.store = FakeStore([row("SM-20270115-AAAAAAAA")])
        self.user = DropBoxUser(
            UNIT,
            lambda unit, **kw: DropBox(
                UNIT, intake=self.intake, store=self.store, run_db=sync_db, clock=Clock(), epoch=0, **kw
            ),
        )

    def start(self):
        server = self.user.lookupSubsystem(b"sftp", b"")
        wire = StringTransport()
        server.makeConnection(wire)
        server.dataReceived(_sftp_packet(filetransfer.FXP_INIT, 3))
        wire.clear()
        return server, wire

    def flood(self, server, count):
        """``count`` opens of each kind (receipt read, directory, upload), pipelined as an attacker sends them."""
        requests = []
        for n in range(count):
            requests += [
                _sftp_packet(filetransfer.FXP_OPEN, 3 * n, NS(RECEIPT) + struct.pack("!LL", READ, 0)),
                _sftp_packet(filetransfer.FXP_OPENDIR, 3 * n + 1, NS(b"/receipts")),
                _sftp_packet(filetransfer.FXP_OPEN, 3 * n + 2, NS(f"{n}.tar".encode()) + struct.pack("!LL", WRITE, 0)),
            ]
        server.dataReceived(b"".join(requests))

    def test_a_flood_of_opens_gets_max_open_handles_and_failures(self):
        server, wire = self.start()
        self.flood(server, 100)
        replies = _replies(wire.value())
        self.assertEqual(len(replies), 300)
        handles = [r for r in replies if r[0] == filetransfer.FXP_HANDLE]
        self.assertEqual(len(handles), MAX_OPEN_HANDLES)
        self.assertEqual(len(server.openFiles) + len(server.openDirs), MAX_OPEN_HANDLES)
        refused = [r for r in replies if r[0] == filetransfer.FXP_STATUS]
        self.assertEqual({struct.unpack("!L", r[2][:4])[0] for r in refused}, {filetransfer.FX_FAILURE})

    def test_nothing_of_a_session_stays_in_memory_after_it_ends(self):
        server, wire = self.start()
        self.flood(server, 20)
        box = server.client
        refs = [
            weakref.ref(x) for x in (box, server, *server.openFiles.values(), *(d for d, _ in server.openDirs.values()))
        ]
        refs += [weakref.ref(u.incoming) for u in box.uploads.values()]
        self.assertEqual(len(refs), 2 + MAX_OPEN_HANDLES + MAX_OPEN_HANDLES // 3)
        server.connectionLost(None)  # the channel (or the connection) closed
        self.assertEqual(self.user.boxes, [])
        self.assertEqual((box.handles, box.uploads, box.accepted), (set(), {}, {}))
        self.assertTrue(all(u.discarded for u in self.intake.begun))  # every upload not complete thrown away
        self.intake.begun.clear()  # (the fake intake's own records of them)
        self.intake.aborted.clear()
        del box, server, wire
        gc.collect()
        self.assertEqual([r() for r in refs if r() is not None], [])

    def test_refused_uploads_leave_no_handle_behind(self):
        """A refused upload is answered in the status of its close; the handle is gone all the same, in the drop
        box and in Conch's table (``_twisted.BoundedFileTransferServer.packet_CLOSE``)."""

        def refuse(upload):
            raise WindowClosed("Reception for 11F 2026 closed 15.02.2027.")

        self.intake.outcome = refuse
        server, wire = self.start()
        for n in range(3 * MAX_OPEN_HANDLES):
            server.dataReceived(
                _sftp_packet(filetransfer.FXP_OPEN, 1, NS(f"{n}.tar".encode()) + struct.pack("!LL", WRITE, 0))
            )
            ((kind, _, payload),) = _replies(wire.value())
            self.assertEqual(kind, filetransfer.FXP_HANDLE)
            wire.clear()
            server.dataReceived(_sftp_packet(filetransfer.FXP_CLOSE, 2, payload))
            ((kind, _, payload),) = _replies(wire.value())
            self.assertEqual(struct.unpack("!L", payload[:4])[0], FX_FAILURE)
            self.assertIn(b"closed 15.02.2027", payload)
            wire.clear()
        self.assertEqual((server.openFiles, server.client.handles), ({}, set()))

    def test_channels_per_connection_are_bounded(self):
        """The handle limit is per SFTP session, and a channel carries one: more channels would multiply it."""
        from types import SimpleNamespace

        from twisted.conch.error import ConchError

        from sendemodul.sftp.server import MAX_CHANNELS_PER_CONNECTION, SFTPOnlySession

        self.user.conn = SimpleNamespace(channels={n: object() for n in range(MAX_CHANNELS_PER_CONNECTION - 1)})
        self.assertIsInstance(self.user.lookupChannel(b"session", 2**20, 2**15, b""), SFTPOnlySession)
        self.user.conn.channels[MAX_CHANNELS_PER_CONNECTION] = object()
        self.assertRaises(ConchError, self.user.lookupChannel, b"session", 2**20, 2**15, b"")

    def test_a_new_session_can_open_the_full_limit_again(self):
        server, wire = self.start()
        self.flood(server, 20)
        server.connectionLost(None)
        server, wire = self.start()
        self.flood(server, 20)
        self.assertEqual(len([r for r in _replies(wire.value()) if r[0] == filetransfer.FXP_HANDLE]), MAX_OPEN_HANDLES)
