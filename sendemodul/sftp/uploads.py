"""An upload in progress over SFTP: the session's record of it (:class:`SftpUpload`) and the write-only handle the
client writes it through (:class:`UploadFile`), which hands each chunk to the ``IncomingFile``."""

import time

from twisted.conch.interfaces import ISFTPFile
from twisted.conch.ssh.filetransfer import FX_FAILURE, SFTPError
from zope.interface import implementer

from sendemodul.errors import SendemodulError
from sendemodul.sftp.namespace import UPLOAD_MODE, denied, file_attrs


class SftpUpload:
    """An upload in progress in one session: the IncomingFile and the name the client sees."""

    def __init__(self, name, incoming):
        self.name = name
        self.incoming = incoming
        self.open = True
        self.error = None  # the refusal of a failed write, answered again on close
        self.started = time.time()
        self.deadline = None  # clock.seconds() by which the last byte must have come (limits.max_upload_seconds)


@implementer(ISFTPFile)
class UploadFile:
    #: ``writeChunk`` takes a WRITE's data as the list of buffers it arrived in (``IncomingFile.write``): the SFTP
    #: server then hands it on without joining it (``_twisted.BoundedFileTransferServer.write_request``).
    takes_pieces = True

    def __init__(self, box, upload):
        self.box = box
        self.upload = upload

    def writeChunk(self, offset, data):
        upload = self.upload
        if upload.error is not None:
            raise upload.error
        if self.box.clock.seconds() > upload.deadline:  # a trickle that keeps the idle timeout away ends here
            upload.error = SFTPError(FX_FAILURE, "The upload took too long; nothing was kept. Send it again.")
            self.box._drop(upload)
            raise upload.error
        try:
            upload.incoming.write(data, offset)
        except SendemodulError as e:
            upload.error = SFTPError(FX_FAILURE, str(e))
            self.box._drop(upload)
            raise upload.error from None

    def readChunk(self, offset, length):
        raise denied("The drop box is write-only.")

    def close(self):
        self.box.handle_closed(self)
        if self.box.ended:
            return None
        return self.box.closed(self.upload)

    def getAttrs(self):
        return file_attrs(UPLOAD_MODE, self.upload.incoming.size, self.upload.started)

    def setAttrs(self, attrs):
        return None
