"""The drop box a unit sees over SFTP: an ``ISFTPServer`` that only delegates to intake.

- ``/`` is write-only: create and write files, rename them inside the box, list this session's uploads in progress.
- ``/receipts/`` is read-only: one ``<reference>.json`` per upload the unit has had accepted.
- Everything else is refused with an SFTP status (raised as ``SFTPError`` for Conch to send).

File names from the client never reach the disk: an upload in progress is an ``IncomingFile`` (a server-generated
name in the spool) plus its client-visible name, in memory, for this session only. Intake runs when an upload is
complete: on close, or, when the client wrote to a temporary name (WinSCP's ``.filepart``, rclone's ``.partial``),
on the rename to its final name. A refusal is the status of that close or rename, with intake's message.
"""

import re
import struct

from twisted.conch.interfaces import ISFTPServer
from twisted.conch.ssh import filetransfer
from twisted.conch.ssh.filetransfer import FX_FAILURE, FX_OP_UNSUPPORTED, SFTPError
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from sendemodul import standing
from sendemodul.errors import SendemodulError, TooManyUploads
from sendemodul.sftp.namespace import (
    RECEIPT_MODE,
    RECEIPTS,
    RECEIPTS_MODE,
    ROOT_MODE,
    UPLOAD_MODE,
    Listing,
    denied,
    file_attrs,
    no_such_file,
    parse_path,
)
from sendemodul.sftp.receipts import ReceiptFile, receipt_bytes, unit_language
from sendemodul.sftp.uploads import SftpUpload, UploadFile

log = Logger()

#: Largest SFTP packet we accept (as OpenSSH's sftp-server), and the read/write size we advertise.
MAX_SFTP_PACKET = 256 * 1024
MAX_SFTP_IO = MAX_SFTP_PACKET - 1024
#: Handles one SFTP session may hold open at once: files opened for writing (uploads) or reading (receipts) and
#: directories together. Advertised as ``max-open-handles`` in ``limits@openssh.com``, and enforced.
MAX_OPEN_HANDLES = 16
TOO_MANY_HANDLES = (
    f"At most {MAX_OPEN_HANDLES} files and directories can be open at once in one session: close one first."
)
#: Names clients upload to before renaming to the final name (WinSCP, rclone, lftp, many scripts).
TEMPORARY_NAME = re.compile(r"(\.(filepart|partial|part|tmp|temp)$)|(^\.)", re.IGNORECASE)


@implementer(ISFTPServer)
class DropBox:
    """One SFTP session of one unit."""

    def __init__(self, unit, *, intake, store, run_db, on_pressure=None, on_busy=None, clock=None, epoch=None):
        """
        unit: the logged-in unit (an ``identity.Unit``); epoch: its login's credential epoch (intake refuses the
        uploads of a login whose epoch is no longer the unit's); intake, store: the shared Intake and Store;
        run_db(f, *args) -> Deferred;
        on_pressure(upload, paused): pause/resume the connection when writes pile up; on_busy(delta): counts
        requests waiting for intake (the idle timeout does not fire while one is running); clock: an
        ``IReactorTime`` for the upload deadline (the reactor by default; a ``Clock`` in tests).
        """
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.unit = str(unit)
        self.parsed_unit = unit
        self.epoch = epoch
        self.intake = intake
        self.store = store
        self.run_db = run_db
        self.on_pressure = on_pressure or (lambda upload, paused: None)
        self.on_busy = on_busy or (lambda delta: None)
        self.uploads = {}  # client name -> SftpUpload
        self.accepted = {}  # client name -> Receipt (this session)
        self.handles = set()  # the handles open in this session (UploadFile, ReceiptFile, Listing)
        self.opening = 0  # opens waiting for the store: they take a handle when they succeed, so they count too
        self.ended = False

    # -- protocol -------------------------------------------------------------------------------------------------

    def gotVersion(self, otherVersion, extData):
        return {b"limits@openssh.com": b"1"}

    def extendedRequest(self, extendedName, extendedData):
        if extendedName == b"limits@openssh.com":
            return struct.pack("!QQQQ", MAX_SFTP_PACKET, MAX_SFTP_IO, MAX_SFTP_IO, MAX_OPEN_HANDLES)
        raise SFTPError(FX_OP_UNSUPPORTED, "Extension not supported.")

    def realPath(self, path):
        kind = parse_path(path)
        if kind[0] == "root":
            return "/"
        if kind[0] == "receipts":
            return f"/{RECEIPTS}"
        if kind[0] == "receipt":
            return f"/{RECEIPTS}/{kind[1]}.json"
        return f"/{kind[1]}"

    # -- handles --------------------------------------------------------------------------------------------------

    def _room_for_a_handle(self):
        """Raise the SFTP failure a client gets when this session may not open another handle."""
        if self.ended:
            raise SFTPError(FX_FAILURE, "The session ended.")
        if len(self.handles) + self.opening >= MAX_OPEN_HANDLES:
            raise SFTPError(FX_FAILURE, TOO_MANY_HANDLES)

    def _opened(self, handle):
        """``handle`` is open now (Conch gives the client a handle for it); it counts until :meth:`handle_closed`."""
        if self.ended:  # the connection went while the store was asked
            raise SFTPError(FX_FAILURE, "The session ended.")
        self.handles.add(handle)
        return handle

    @defer.inlineCallbacks
    def _opening(self, make):
        """Run ``make()`` (a Deferred of a handle), holding a place among the open handles while it runs."""
        self._room_for_a_handle()
        self.opening += 1
        try:
            handle = yield make()
        finally:
            self.opening -= 1
        return self._opened(handle)

    def handle_closed(self, handle):
        """The client closed ``handle`` (whatever the close answers, the handle is gone, as in OpenSSH)."""
        self.handles.discard(handle)

    # -- files ----------------------------------------------------------------------------------------------------

    def openFile(self, filename, flags, attrs):
        self._room_for_a_handle()
        kind = parse_path(filename)
        writing = flags & (
            filetransfer.FXF_WRITE | filetransfer.FXF_APPEND | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC
        )
        if kind[0] == "receipt":
            if writing:
                raise denied("Receipts are read-only.")
            return self._opening(lambda: self._open_receipt(kind[1]))
        if kind[0] != "file" or kind[1] == RECEIPTS:
            raise denied("Not a file." if not writing else "Uploads go into the drop box /, as files.")
        name = kind[1]
        if not writing:
            if name in self.uploads or name in self.accepted:
                raise denied("The drop box is write-only: uploads cannot be read back. Receipts are in /receipts/.")
            raise no_such_file()
        if flags & filetransfer.FXF_APPEND:
            raise SFTPError(FX_OP_UNSUPPORTED, "Appending is not supported: upload the whole file again.")
        current = self.uploads.get(name)
        if current is not None and current.open:
            raise SFTPError(FX_FAILURE, "This file is already being uploaded in this session.")
        if current is not None:
            self._drop(current)
        upload = SftpUpload(name, None)
        try:
            upload.incoming = self.intake.begin(
                self.parsed_unit,
                epoch=self.epoch,
                on_pressure=lambda paused: self.on_pressure(upload, paused),
                protocol="sftp",
            )
        except TooManyUploads as e:
            raise SFTPError(FX_FAILURE, str(e)) from None
        upload.deadline = self.clock.seconds() + self.intake.config.limits.max_upload_seconds
        self.uploads[name] = upload
        return self._opened(UploadFile(self, upload))

    @defer.inlineCallbacks
    def _open_receipt(self, reference):
        data = yield self._own_receipt(reference)
        if data is None:
            raise no_such_file()
        return ReceiptFile(data, self)

    def _own_receipt(self, reference):
        """Deferred: the bytes of the unit's receipt ``reference`` (saying what counts now), or None."""

        def lookup(store, unit):
            self._check_login(store)
            row = store.upload_with_answer(reference)
            if row is None or row["unit"] != unit:
                return None
            current = row if standing.is_current(row) else store.current_upload(unit, row["register"], row["periode"])
            return receipt_bytes(row, current, unit_language(store, unit))

        return self.run_db(lookup, self.store, self.unit)

    def removeFile(self, filename):
        kind = parse_path(filename)
        if kind[0] == "file" and kind[1] in self.uploads:
            upload = self.uploads[kind[1]]
            self._drop(upload)
            upload.error = SFTPError(FX_FAILURE, "The upload was removed.")
            return None
        if kind[0] in ("receipt", "receipts", "root") or (kind[0] == "file" and kind[1] in self.accepted):
            raise denied("Accepted uploads and receipts cannot be removed.")
        raise no_such_file()

    def renameFile(self, oldpath, newpath):
        old, new = parse_path(oldpath), parse_path(newpath)
        if old[0] != "file" or new[0] != "file" or new[1] == RECEIPTS:
            raise denied("Files can only be renamed inside the drop box /.")
        upload = self.uploads.get(old[1])
        if upload is None:
            if old[1] in self.accepted:
                raise denied("An accepted upload cannot be renamed.")
            raise no_such_file()
        if old[1] == new[1]:
            return None
        other = self.uploads.get(new[1])
        if other is not None:
            if other.open:
                raise SFTPError(FX_FAILURE, "The new name is being uploaded in this session.")
            self._drop(other)
        del self.uploads[old[1]]
        upload.name = new[1]
        self.uploads[new[1]] = upload
        if not upload.open and not TEMPORARY_NAME.search(upload.name):
            return self._finish(upload)
        return None

    def makeLink(self, linkPath, targetPath):
        raise denied("Symbolic links are not allowed.")

    def readLink(self, path):
        parse_path(path)
        raise no_such_file("Not a symbolic link.")

    def _own_uploads(self):  # in a DB thread
        """The unit's uploads and the language of its receipts' ``melding``."""
        self._check_login(self.store)
        return self.store.uploads_with_answers(self.unit), unit_language(self.store, self.unit)

    def _check_login(self, store):
        """In a DB thread, before the unit's receipts are read: the login's credential epoch must still be the
        unit's (else the credential watch is about to close this connection; until then nothing is answered)."""
        if store.credential_epoch(self.unit) != self.epoch:
            raise denied("Your login is no longer valid (the PIN was changed or revoked, or the unit disabled).")

    # -- directories ----------------------------------------------------------------------------------------------

    def makeDirectory(self, path, attrs):
        raise denied("Directories cannot be made: upload files into the drop box /.")

    def removeDirectory(self, path):
        raise denied("Directories cannot be removed.")

    def openDirectory(self, path):
        return self._opening(lambda: self._listing(path))

    @defer.inlineCallbacks
    def _listing(self, path):
        kind = parse_path(path)
        if kind[0] == "root":
            entries = [(RECEIPTS, file_attrs(RECEIPTS_MODE))]
            entries += [(u.name, file_attrs(UPLOAD_MODE, u.incoming.size, u.started)) for u in self.uploads.values()]
        elif kind[0] == "receipts":
            rows, lang = yield self.run_db(self._own_uploads)
            current = standing.current_uploads(rows)
            entries = [
                (
                    f"{row['reference']}.json",
                    file_attrs(RECEIPT_MODE, len(receipt_bytes(row, current.get(standing.group(row)), lang))),
                )
                for row in rows
            ]
        elif kind[0] == "file" and (kind[1] in self.uploads or kind[1] in self.accepted):
            raise SFTPError(FX_FAILURE, "Not a directory.")
        elif kind[0] == "receipt" or kind[0] == "file":
            raise no_such_file()
        return Listing([(".", file_attrs(ROOT_MODE if kind[0] == "root" else RECEIPTS_MODE)), *entries], self)

    # -- attributes -----------------------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def getAttrs(self, path, followLinks):
        kind = parse_path(path)
        if kind[0] == "root":
            return file_attrs(ROOT_MODE)
        if kind[0] == "receipts":
            return file_attrs(RECEIPTS_MODE)
        if kind[0] == "receipt":
            data = yield self._own_receipt(kind[1])
            if data is None:
                raise no_such_file()
            return file_attrs(RECEIPT_MODE, len(data))
        if kind[1] in self.uploads:
            upload = self.uploads[kind[1]]
            return file_attrs(UPLOAD_MODE, upload.incoming.size, upload.started)
        if kind[1] in self.accepted:
            return file_attrs(UPLOAD_MODE, self.accepted[kind[1]].size)
        raise no_such_file()

    def setAttrs(self, path, attrs):
        kind = parse_path(path)
        if kind[0] == "file" and (kind[1] in self.uploads or kind[1] in self.accepted):
            return None  # clients set times and modes after an upload; nothing on disk to change
        if kind[0] == "file":
            raise no_such_file()
        raise denied("Attributes cannot be changed here.")

    # -- intake ---------------------------------------------------------------------------------------------------

    def _drop(self, upload):
        if self.uploads.get(upload.name) is upload:
            del self.uploads[upload.name]
        self.on_pressure(upload, False)
        d = self.intake.abort(upload.incoming)
        d.addErrback(lambda f: log.failure("discarding an SFTP upload failed", f))
        return d

    def closed(self, upload):
        """The client closed the handle: run intake now, or wait for a rename from a temporary name."""
        upload.open = False
        if upload.error is not None:
            self._drop(upload)
            raise upload.error
        if self.uploads.get(upload.name) is not upload:
            return None  # removed or replaced meanwhile
        if TEMPORARY_NAME.search(upload.name):
            return None
        return self._finish(upload)

    @defer.inlineCallbacks
    def _finish(self, upload):
        del self.uploads[upload.name]
        self.on_pressure(upload, False)
        self.on_busy(1)
        try:
            receipt = yield self.intake.finish(upload.incoming)
        except SendemodulError as e:
            raise SFTPError(FX_FAILURE, str(e)) from None
        except Exception:  # noqa: BLE001 - any failure is logged and answered, never leaks to the client
            log.failure("SFTP upload by {unit} failed", unit=self.unit)
            raise SFTPError(FX_FAILURE, "Internal error; nothing was kept. Try again later.") from None
        finally:
            self.on_busy(-1)
        self.accepted[upload.name] = receipt
        return None

    def session_ended(self):
        """The connection is gone: every upload not yet complete is thrown away, and the session lets go of its
        handles and receipts (nothing of it stays in memory once the connection's objects go)."""
        if self.ended:
            return
        self.ended = True
        for upload in list(self.uploads.values()):
            upload.error = SFTPError(FX_FAILURE, "The session ended.")
            self._drop(upload)
        self.handles.clear()
        self.accepted.clear()
