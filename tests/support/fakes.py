"""Test doubles for the unit tier: intake, incoming file, store and portal, in memory and synchronous."""

from types import SimpleNamespace

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer

from sendemodul import auth, standing
from sendemodul.errors import TooManyUploads, UploadTooLarge
from sendemodul.receipt import Receipt

UNIT = "0301-12-958935420"
OTHER = "1103-00-964965226"
PIN = "1234-5678-9012"


class FakeIncoming:
    """What ``Intake.begin`` returns, in memory: the bytes by offset, the limit, the pressure callback."""

    def __init__(self, unit, max_bytes, on_pressure):
        self.unit = unit
        self.max_bytes = max_bytes
        self.on_pressure = on_pressure
        self.data = bytearray()
        self.size = 0
        self.discarded = False

    def write(self, data, offset=None):
        offset = self.size if offset is None else offset
        if offset + len(data) > self.max_bytes:
            raise UploadTooLarge(f"The upload is larger than the server accepts ({self.max_bytes:,} bytes).")
        self.data[offset : offset + len(data)] = data
        self.size = max(self.size, offset + len(data))


class FakeIntake:
    """``Intake``'s interface: begin/abort/finish. ``finish`` answers with ``self.outcome(upload)`` unless a test
    holds it back with ``self.pending``."""

    def __init__(self, max_upload_seconds=60, max_upload_bytes=1000, uploads_per_unit=100):
        self.config = SimpleNamespace(
            limits=SimpleNamespace(
                max_upload_seconds=max_upload_seconds,
                max_upload_bytes=max_upload_bytes,
                uploads_per_unit=uploads_per_unit,
            )
        )
        self.begun = []
        self.aborted = []
        self.finished = []
        self.pending = None
        self.outcome = lambda upload: receipt(upload)

    def begin(self, unit, *, epoch=None, on_pressure=None, protocol="https", person=None):
        if (
            len([u for u in self.begun if u not in self.aborted and u not in self.finished])
            >= self.config.limits.uploads_per_unit
        ):
            raise TooManyUploads("This unit already has uploads in progress, as many as the server takes at once.")
        upload = FakeIncoming(unit, self.config.limits.max_upload_bytes, on_pressure)
        upload.epoch = epoch
        self.begun.append(upload)
        return upload

    def abort(self, upload):
        upload.discarded = True
        self.aborted.append(upload)
        return defer.succeed(None)

    def finish(self, upload):
        self.finished.append(upload)
        if self.pending is not None:
            return self.pending
        return defer.maybeDeferred(self.outcome, upload)


def receipt(upload, reference="SM-20270115-7KQ2XW9D"):
    return Receipt(
        reference=reference,
        status="received",
        unit=upload.unit,
        register="11F",
        periode=2026,
        size=upload.size,
        sha256="0" * 64,
        received_at="2027-01-15T07:00:00Z",
        late=False,
        test=False,
    )


def row(reference, unit=UNIT):
    return {
        "reference": reference,
        "status": "received",
        "unit": unit,
        "register": "11F",
        "periode": 2026,
        "size": 10,
        "sha256": "0" * 64,
        "received_at": "2027-01-15T07:00:00Z",
        "late": 0,
        "test": 0,
        "superseded_by": None,
        "reason": None,
        "delivered_at": None,
        "updated_at": "2027-01-15T07:00:00Z",
    }


class FakeStore:
    def __init__(self, rows=()):
        self.rows = {r["reference"]: r for r in rows}
        self.epochs = {}  # unit -> credential epoch (default 0; None: disabled)
        self.languages = {}  # unit -> written standard (default nb)

    def get_unit(self, unit):
        return {"unit": str(unit), "language": self.languages.get(str(unit), "nb")}

    def credential_epoch(self, unit):
        return self.epochs.get(str(unit), 0)

    def upload(self, reference):
        return self.rows.get(reference)

    def list_uploads(self, unit):
        return [r for r in self.rows.values() if r["unit"] == unit]

    def current_upload(self, unit, register, periode):
        return standing.current_uploads(self.list_uploads(str(unit))).get((str(unit), register, periode))

    def upload_with_feedback(self, reference):
        found = self.rows.get(reference)
        return (
            None if found is None else {"answer": None, "review": None, **found, "feedback": [], "feedback_omitted": 0}
        )

    def upload_with_answer(self, reference):
        found = self.rows.get(reference)
        return None if found is None else {"answer": None, "review": None, **found}

    def uploads_with_answers(self, unit):
        return [{"answer": None, "review": None, **r} for r in self.list_uploads(unit)]


def sync_db(f, *args):
    return defer.maybeDeferred(f, *args)


class FakePortal:
    """``Portal.login`` for ``UnitCredentials``: the right PIN for a known unit logs in, anything else is the same
    UnauthorizedLogin. ``self.pending`` holds a login back (a slow Argon2 check)."""

    def __init__(self, pins=None):
        self.pins = pins if pins is not None else {UNIT: PIN, OTHER: PIN}
        self.attempts = []
        self.credentials = []  # every credentials object, as the checker would get it
        self.pending = None

    def login(self, creds, mind, *interfaces):
        self.credentials.append(creds)
        if isinstance(creds, auth.MalformedCredentials):
            self.attempts.append(None)
            return defer.fail(UnauthorizedLogin())
        username = creds.username.decode() if isinstance(creds.username, bytes) else creds.username
        password = creds.password.decode() if isinstance(creds.password, bytes) else creds.password
        self.attempts.append(username)
        if self.pending is not None:
            return self.pending
        if self.pins.get(username) == password:
            return defer.succeed(self.avatar(username))
        return defer.fail(UnauthorizedLogin())

    def pending_login(self):
        """A Deferred to set as ``self.pending``; fire it with ``self.avatar(unit)`` or fail it."""
        return defer.Deferred()

    @staticmethod
    def avatar(unit):
        return (auth.IUnitAvatar, auth.UnitAvatar(unit, 0), lambda: None)


def web_app(clock, *, intake=None, store=None, portal=None, home="/nonexistent/sendemodul-home", **limits):
    """A real ``WebApp`` (config with ``limits`` overridden) over the fakes, on ``clock``."""
    import dataclasses

    from sendemodul import config
    from sendemodul.web.app import WebApp

    cfg = config.parse("", home)
    # The unit tier is about the login form, sessions and the API: the PIN alone opens a session here. The person
    # step (issue 16) is walked in a real browser (test_persons_browser.py) and in test_web_browser.py.
    cfg = dataclasses.replace(
        cfg,
        limits=dataclasses.replace(cfg.limits, **limits),
        auth=dataclasses.replace(cfg.auth, web_requires_person=False),
    )
    return WebApp(
        cfg,
        portal=portal or FakePortal(),
        intake=intake or FakeIntake(),
        store=store or FakeStore(),
        run_db=sync_db,
        clock=clock,
        keys=None,
    )


def parse_response(raw):
    """``(status, headers, body)`` of the last HTTP response in ``raw`` (a ``100 Continue`` before it skipped);
    headers as a dict of lower-case names; a chunked body decoded."""
    while raw.startswith(b"HTTP/1.1 100 "):
        raw = raw.split(b"\r\n\r\n", 1)[1]
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    if headers.get("transfer-encoding") == "chunked":
        decoded = b""
        while body:
            size_line, _, rest = body.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded += rest[:size]
            body = rest[size + 2 :]
        body = decoded
    return status, headers, body


class CallsFromThreads:
    """The part of the reactor an ``IncomingFile`` uses: ``callFromThread`` queues the call, and the test thread
    runs the queued calls (as the reactor thread would) until a Deferred has fired. No reactor and no fixed wait: it
    waits on the queue, for at most ``timeout`` seconds."""

    def __init__(self):
        import queue

        self.calls = queue.SimpleQueue()

    def callFromThread(self, f, *args, **kwargs):
        self.calls.put((f, args, kwargs))

    def run_until(self, d, timeout=30):
        """Run queued calls until ``d`` has fired; returns ``d``."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while not d.called:
            try:
                f, args, kwargs = self.calls.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the Deferred did not fire within {timeout} s") from None
            f(*args, **kwargs)
        return d
