"""The unit's receipts in the drop box's ``/receipts/``: the bytes of ``<reference>.json`` and the read-only handle
that serves them.

Language: SFTP has no ``Accept-Language`` and no cookie, so a receipt's ``melding`` (what counts now, in words) is in
the unit's written standard (``admin unit set --language``; ``neutral`` reads Bokmål), as the e-mails to the unit
are (språklova § 15). ``message`` stays English, as do the SFTP status messages themselves: they are the protocol's
error strings, which SFTP clients print as they print their own (English) ones, for the operators and scripts that
read them, like the CLI."""

import json

from twisted.conch.interfaces import ISFTPFile
from zope.interface import implementer

from sendemodul import i18n
from sendemodul.receipt import Receipt
from sendemodul.sftp.namespace import RECEIPT_MODE, denied, file_attrs


def unit_language(store, unit):
    """In a DB thread: the language of ``unit``'s receipts, its written standard (Bokmål if unknown)."""
    row = store.get_unit(unit)
    return i18n.language(row.get("language") if row else None)


def receipt_bytes(row, current, lang=i18n.DEFAULT):
    """``<reference>.json`` for the upload ``row``; ``current`` is the upload that counts now for its register and
    periode, so that the receipt says whether this one still counts, as the web's does. Once SSB has answered, with
    ``answer`` (decision, message, the rows in error by row id and journalnummer). ``melding`` in ``lang``."""
    body = i18n.localized(lang, Receipt.from_row(row, current).to_json())
    if row.get("answer"):
        body["answer"] = row["answer"]
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@implementer(ISFTPFile)
class ReceiptFile:
    def __init__(self, data, box):
        self.data = data
        self.box = box

    def readChunk(self, offset, length):
        if offset >= len(self.data):
            raise EOFError()
        return self.data[offset : offset + length]

    def writeChunk(self, offset, data):
        raise denied("Receipts are read-only.")

    def close(self):
        self.box.handle_closed(self)
        self.data = b""

    def getAttrs(self):
        return file_attrs(RECEIPT_MODE, len(self.data))

    def setAttrs(self, attrs):
        raise denied("Receipts are read-only.")
