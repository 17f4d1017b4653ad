"""The drop box's namespace as a client sees it: paths parsed into what they name (``/``, ``/receipts/``, one
receipt, one upload), the modes and attributes it shows, directory listings, and the refusals it answers with.
Nothing here touches the disk or the store."""

import re
import stat
import time

from twisted.conch.ssh.filetransfer import FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, SFTPError

RECEIPTS = "receipts"
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")

DENIED_OUTSIDE = "Only the drop box / and /receipts/ exist; paths outside them are not allowed."


def denied(message):
    return SFTPError(FX_PERMISSION_DENIED, message)


def no_such_file(message="No such file."):
    return SFTPError(FX_NO_SUCH_FILE, message)


def parse_path(path):
    """A client path -> ``("root",)``, ``("receipts",)``, ``("receipt", reference)`` or ``("file", name)``.

    Relative paths are relative to ``/``. ``..`` anywhere and paths below ``/`` other than receipts are refused.
    """
    try:
        text = path.decode("utf-8") if isinstance(path, bytes) else path
    except UnicodeDecodeError:
        raise denied("File names must be UTF-8.") from None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise denied(DENIED_OUTSIDE)
    if not parts:
        return ("root",)
    if parts[0] == RECEIPTS:
        if len(parts) == 1:
            return ("receipts",)
        if len(parts) == 2 and parts[1].endswith(".json"):
            return ("receipt", parts[1][: -len(".json")])
        raise no_such_file()
    if len(parts) > 1:
        raise denied(DENIED_OUTSIDE)
    name = parts[0]
    if _BAD_NAME.search(name) or len(name.encode("utf-8")) > 255:
        raise denied("The file name is not allowed.")
    return ("file", name)


def file_attrs(mode, size=0, mtime=None):
    mtime = int(mtime if mtime is not None else time.time())
    return {"size": size, "permissions": mode, "uid": 0, "gid": 0, "atime": mtime, "mtime": mtime}


def _longname(name, attrs):
    kind = "d" if stat.S_ISDIR(attrs["permissions"]) else "-"
    perms = stat.filemode(attrs["permissions"])[1:]
    when = time.strftime("%b %d %H:%M", time.gmtime(attrs["mtime"]))
    return f"{kind}{perms}    1 unit     unit     {attrs['size']:>10} {when} {name}".encode()


ROOT_MODE = stat.S_IFDIR | 0o733
RECEIPTS_MODE = stat.S_IFDIR | 0o555
UPLOAD_MODE = stat.S_IFREG | 0o200
RECEIPT_MODE = stat.S_IFREG | 0o444


class Listing:
    """A directory listing for Conch: iterates ``(name, longname, attrs)``, in one batch."""

    def __init__(self, entries, box):
        self.entries = [(name.encode("utf-8"), _longname(name, attrs), attrs) for name, attrs in entries]
        self.box = box

    def __iter__(self):
        return iter(self.entries)

    def close(self):
        self.box.handle_closed(self)
        self.entries = []
