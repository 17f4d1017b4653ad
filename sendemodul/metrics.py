"""Prometheus metrics, ``/healthz`` and ``/readyz`` on a listener of their own (``[metrics]``, off by default).

Why ``prometheus_client``: it is the reference client, its text format is what every Prometheus scrapes, and its
counters are thread-safe (intake counts on the I/O threads, the mailer on a database thread), which we would
otherwise have to write and keep right ourselves.

Labels: never a unit, person, file name, reference or other ID: only ``register`` (one of :data:`REGISTERS`, else
``unknown``), ``protocol`` (``https``, ``sftp``) and small fixed sets (``result``, ``reason`` = an error code,
``status``, ``kind``, ``role``).

The front counts what happens in it (uploads, bytes, durations, logins, bans, mail runs). What happens in the
pseudonymizer's and the forwarder's processes is read from the database instead: a :class:`Snapshot` taken every
``metrics.refresh_seconds`` on a database thread (never on the reactor thread) and kept, so a scrape costs no SQL.
The scrape itself is answered by ``prometheus_client``'s WSGI app on the reactor's thread pool.
"""

import base64
import datetime
import hmac
import os
import shutil
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import make_wsgi_app
from twisted.internet import task
from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.wsgi import WSGIResource

from sendemodul.listening import ListeningService
from sendemodul.registers import REGISTERS

log = Logger()

REGISTRY = CollectorRegistry()

UPLOADS = Counter(
    "sendemodul_uploads",
    "Uploads finished, by protocol, register, result (accepted, duplicate, refused) and reason (an error code).",
    ["protocol", "register", "result", "reason"],
    registry=REGISTRY,
)
UPLOAD_BYTES = Counter(
    "sendemodul_upload_bytes", "Bytes received in uploads (accepted or not).", ["protocol"], registry=REGISTRY
)
UPLOAD_SECONDS = Histogram(
    "sendemodul_upload_duration_seconds",
    "From the start of an upload to its answer.",
    ["protocol"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600),
    registry=REGISTRY,
)
LOGINS = Counter(
    "sendemodul_logins",
    "Logins by protocol and result (success, failure, busy, throttled, banned).",
    ["protocol", "result"],
    registry=REGISTRY,
)
BANS = Counter("sendemodul_source_bans", "Sources banned for repeated login failures.", registry=REGISTRY)
THROTTLED = Counter(
    "sendemodul_logins_throttled",
    "Logins answered busy without a hash because a hash budget was spent, by budget (unit, source, total).",
    ["scope"],
    registry=REGISTRY,
)
MAIL_RUNS = Counter(
    "sendemodul_mail_runs", "Checks of the morning e-mail and the reminders, by kind.", ["kind"], registry=REGISTRY
)
MAILS_SENT = Counter("sendemodul_mails_sent", "E-mails sent, by kind (morning, reminder).", ["kind"], registry=REGISTRY)


def register_label(register):
    """``register`` when it is one we carry, else ``unknown`` (a refused upload's manifest says what it likes)."""
    return register if register in REGISTERS else "unknown"


def upload_finished(protocol, register, result, reason, size, seconds):
    UPLOADS.labels(protocol, register_label(register), result, reason or "").inc()
    UPLOAD_BYTES.labels(protocol).inc(size or 0)
    if seconds is not None:
        UPLOAD_SECONDS.labels(protocol).observe(seconds)


def login(protocol, result):
    LOGINS.labels(protocol or "unknown", result).inc()


def login_throttled(protocol, scope):
    """A login refused by the hash budget (:mod:`sendemodul.hash_budget`): ``result="throttled"``, and by scope."""
    LOGINS.labels(protocol or "unknown", "throttled").inc()
    THROTTLED.labels(scope).inc()


def mail_run(kind, sent):
    MAIL_RUNS.labels(kind).inc()
    MAILS_SENT.labels(kind).inc(sent or 0)


HASH_QUEUE = Gauge(
    "sendemodul_hash_pool_pending", "Logins waiting for or in the Argon2id hash pool.", registry=REGISTRY
)
BANNED = Gauge("sendemodul_banned_sources", "Sources banned now (some may have just expired).", registry=REGISTRY)


def front_gauges(checker):
    """Read the hash pool's queue and the banned sources from the front's PIN checker at scrape time."""
    HASH_QUEUE.set_function(lambda: checker.pending)
    BANNED.set_function(checker.defender.banned_count)


# -- what the database and the files say, refreshed off the reactor thread -------------------------------------------


def _days_left(moment, now):
    return (moment - now).total_seconds() / 86400


def take_snapshot(cfg, store, keys, now=None):
    """Blocking (a database thread): every gauge that comes from the database, the TLS certificate and the key
    directory, as ``{name: [(labels, value), ...]}``."""
    now = now or datetime.datetime.now(datetime.UTC)
    snap = store.metrics_snapshot(now)
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(cfg.tls_cert_path.read_bytes())
        snap["tls_days"] = _days_left(cert.not_valid_after_utc, now)
    except (OSError, ValueError):
        snap["tls_days"] = None
    key_days = {}
    try:
        today = now.date()
        for key in keys.current():
            if key.valid_on(today):
                left = (key.valid_to - today).days + 1
                key_days[key.role] = max(key_days.get(key.role, left), left)
    except Exception as e:  # noqa: BLE001 - a broken key directory is reported as no keys, never a failed scrape
        log.warn("metrics: the key directory cannot be read: {error}", error=str(e))
    snap["key_days"] = key_days
    return snap


class StoreCollector:
    """Yields the last :func:`take_snapshot` as metric families (nothing until the first one is taken)."""

    def __init__(self):
        self.snapshot = None

    def collect(self):
        snap = self.snapshot
        if snap is None:
            return
        states = GaugeMetricFamily(
            "sendemodul_uploads_in_state", "Uploads per status and register.", labels=["status", "register"]
        )
        for (status, register), n in sorted(snap["states"].items()):
            states.add_metric([status, register_label(register)], n)
        yield states
        lag = GaugeMetricFamily(
            "sendemodul_lag_seconds",
            "Age of the oldest upload waiting for the pseudonymizer or the forwarder (0: none waiting).",
            labels=["stage"],
        )
        lag.add_metric(["pseudonymizer"], snap["pseudonymizer_lag"])
        lag.add_metric(["forwarder"], snap["forwarder_lag"])
        yield lag
        attempts = CounterMetricFamily(
            "sendemodul_delivery_attempts", "Deliveries to SSB by result (delivered, failed).", labels=["result"]
        )
        attempts.add_metric(["delivered"], snap["delivered"])
        attempts.add_metric(["failed"], snap["failed_attempts"])
        yield attempts
        beats = GaugeMetricFamily(
            "sendemodul_heartbeat_age_seconds", "Seconds since each process's last heartbeat.", labels=["process"]
        )
        for process, age in sorted(snap["heartbeat_ages"].items()):
            beats.add_metric([process], age)
        yield beats
        if snap["tls_days"] is not None:
            yield GaugeMetricFamily(
                "sendemodul_tls_certificate_days_left",
                "Days until the TLS certificate expires.",
                value=snap["tls_days"],
            )
        keys = GaugeMetricFamily(
            "sendemodul_key_days_left", "Days the newest valid key of each role stays valid.", labels=["role"]
        )
        for role, days in sorted(snap["key_days"].items()):
            keys.add_metric([role], days)
        yield keys


STORE_COLLECTOR = StoreCollector()
REGISTRY.register(STORE_COLLECTOR)


# -- readiness ------------------------------------------------------------------------------------------------------


def readiness(cfg, store, now=None):
    """Blocking: ``{check: problem or None}`` for the database (a write), the spool (a file made and removed, free
    space above ``metrics.min_free_bytes``) and the pseudonymizer's and forwarder's heartbeats."""
    now = now or datetime.datetime.now(datetime.UTC)
    checks = {}
    try:
        store.heartbeat("front")
        checks["database"] = None
    except Exception as e:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"not writable: {type(e).__name__}"
    spool = cfg.spool_dir / "incoming"
    try:
        probe = spool / f".ready-{uuid.uuid4().hex}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
        free = shutil.disk_usage(spool).free
        checks["spool"] = None if free >= cfg.metrics.min_free_bytes else f"only {free} bytes free"
    except OSError as e:
        checks["spool"] = f"not writable: {e.strerror}"
    beats = store.heartbeats() if checks["database"] is None else {}
    for process in ("worker", "forwarder"):
        at = beats.get(process)
        if at is None:
            checks[process] = "no heartbeat"
            continue
        age = (now - datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds()
        limit = cfg.metrics.heartbeat_max_seconds
        checks[process] = None if age <= limit else f"heartbeat {age:.0f} s old (limit {limit:.0f} s)"
    return checks


class _Text(resource.Resource):
    isLeaf = True

    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return self.answer(request)


class _Guard(resource.Resource):
    """HTTP Basic in front of every path, when ``metrics.username`` is set."""

    def __init__(self, inner, username, password):
        super().__init__()
        self.inner = inner
        expected = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self.expected = f"Basic {expected}".encode("ascii")

    def _allowed(self, request):
        return hmac.compare_digest(request.getHeader(b"authorization") or b"", self.expected)

    def getChildWithDefault(self, path, request):
        if self._allowed(request):
            return self.inner.getChildWithDefault(path, request)
        return self

    def render(self, request):
        if self._allowed(request):
            return self.inner.render(request)
        request.setResponseCode(401)
        request.setHeader(b"WWW-Authenticate", b'Basic realm="sendemodul metrics"')
        return b"unauthorized\n"


class MetricsService(ListeningService):
    """The metrics listener, and the refresh of the database snapshot every ``metrics.refresh_seconds``."""

    listening_format = "metrics listening on {host}:{port}"

    def __init__(self, cfg, store, run_db, reactor, keys):
        super().__init__(reactor, cfg.metrics.listen)
        self.cfg = cfg
        self.store = store
        self.run_db = run_db
        self.keys = keys
        self.refresh = task.LoopingCall(self._refresh)
        self.refresh.clock = reactor
        self._refreshing = None

    def _refresh(self):
        d = self.run_db(take_snapshot, self.cfg, self.store, self.keys)
        d.addCallback(lambda snap: setattr(STORE_COLLECTOR, "snapshot", snap))
        d.addErrback(lambda f: log.failure("metrics: refreshing the database gauges failed", f))
        self._refreshing = d
        return d

    def startService(self):
        self.refresh.start(self.cfg.metrics.refresh_seconds, now=True)
        return super().startService()

    def stopService(self):
        if self.refresh.running:
            self.refresh.stop()
        return super().stopService()

    def make_factory(self):
        root = resource.Resource()
        root.putChild(b"metrics", WSGIResource(self.reactor, self.reactor.getThreadPool(), make_wsgi_app(REGISTRY)))
        root.putChild(b"healthz", _Text(lambda request: b"ok\n"))
        root.putChild(b"readyz", _Text(self._ready))
        top = root
        if self.cfg.metrics.username:
            top = _Guard(root, self.cfg.metrics.username, self.cfg.metrics.password)
        return server.Site(top)

    def _ready(self, request):
        from sendemodul.web.errors import respond  # the web package imports auth, which imports this module

        def answer(checks):
            bad = {name: problem for name, problem in checks.items() if problem}
            request.setResponseCode(503 if bad else 200)
            lines = [f"{name}: {problem or 'ok'}" for name, problem in checks.items()]
            return ("\n".join(["not ready" if bad else "ready", *lines]) + "\n").encode("utf-8")

        return respond(request, self.run_db(readiness, self.cfg, self.store).addCallback(answer))
