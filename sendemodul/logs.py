"""Logging through ``twisted.logger``: JSON events to a file under the home, readable text on the console.

Every event passes :class:`RedactingObserver` first: a field whose name suggests a PIN, password, ID number, key,
file name, path or content is replaced by ``[removed]``, and any value that looks like a national ID number
(11 digits), a DUF number (12 digits) or a PIN is masked. Code should never log such things in the first place; the
filter is the second line of defence.
"""

import re
import sys

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    jsonFileLogObserver,
    textFileLogObserver,
)
from twisted.python.logfile import LogFile
from zope.interface import implementer

REMOVED = "[removed]"

#: Field names that could carry a secret, an ID number, a file name or content.
SENSITIVE_FIELD = re.compile(
    r"pin|pass|secret|token|cookie|auth|fnr|fodsel|f\u00f8dsel|duf|person|ident|key|file|path|name_on_disk|"
    r"content|body|data|payload|record",
    re.IGNORECASE,
)
#: Values that look like an ID number (11 digits, DUF 12, also split after the birth date) or a PIN: upper case
#: with or without separators, any case when hyphenated (free text has too many 12-letter words to go further).
SENSITIVE_VALUE = re.compile(
    r"(?<!\d)\d{6}[ ]?\d{5,6}(?!\d)"
    r"|\b[2-9A-HJ-NP-Z]{4}[- ]?[2-9A-HJ-NP-Z]{4}[- ]?[2-9A-HJ-NP-Z]{4}\b"
    r"|(?i:\b[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}\b)"
)

_TWISTED_FIELDS = frozenset(
    {
        "log_namespace",
        "log_level",
        "log_format",
        "log_source",
        "log_logger",
        "log_time",
        "log_failure",
        "log_system",
        "log_trace",
        "log_id",
        "format",
        "isError",
        "system",
        "time",
        "why",
        "failure",
    }
)


def scrub(value):
    """Mask ID-number- and PIN-like substrings in strings (also inside tuples and lists)."""
    if isinstance(value, str):
        return SENSITIVE_VALUE.sub(REMOVED, value)
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", "replace"))
    if isinstance(value, (tuple, list)):
        return type(value)(scrub(v) for v in value)
    return value


def redact(event):
    """A copy of ``event`` that is safe to write anywhere."""
    clean = {}
    for key, value in event.items():
        if key == "log_flattened":
            continue  # recomputed from the clean fields by the JSON observer
        if key in _TWISTED_FIELDS:
            clean[key] = value
        elif SENSITIVE_FIELD.search(key):
            clean[key] = REMOVED
        else:
            clean[key] = scrub(value)
    return clean


@implementer(ILogObserver)
class RedactingObserver:
    def __init__(self, observer):
        self.observer = observer

    def __call__(self, event):
        self.observer(redact(event))


@implementer(ILogObserver)
class Fanout:
    def __init__(self, *observers):
        self.observers = observers

    def __call__(self, event):
        for observer in self.observers:
            observer(event)


#: Noisy namespaces kept out of the console and the file below warning level (Conch logs every SFTP request).
#: Conch's class-level loggers take the namespace of the instance's class, so our subclasses are named here as well.
QUIET_NAMESPACES = (
    "twisted.conch.ssh.filetransfer",
    "twisted.conch.ssh.service",
    "twisted.conch.ssh.transport",
    "sendemodul.sftp.server.DropBoxTransport",
    "sendemodul.sftp.server.SFTPOnlySession",
    "sendemodul.sftp.server.DropBoxTransferServer",
)


def make_observer(config, console=None):
    """The one observer for the server: redaction, then a JSON file (info and up) and the console."""
    path = config.log_path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    logfile = LogFile(path.name, str(path.parent), rotateLength=50 * 1024 * 1024, maxRotatedFiles=20, defaultMode=0o600)
    quiet = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    console_filter = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(config.log.console_level))
    for namespace in QUIET_NAMESPACES:
        quiet.setLogLevelForNamespace(namespace, LogLevel.warn)
        console_filter.setLogLevelForNamespace(namespace, LogLevel.warn)
    return RedactingObserver(
        Fanout(
            FilteringLogObserver(jsonFileLogObserver(logfile), [quiet]),
            FilteringLogObserver(textFileLogObserver(console or sys.stdout), [console_filter]),
        )
    )
