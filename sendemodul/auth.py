"""Authentication: PINs, the one ``twisted.cred`` checker and realm that both fronts use, and abuse scoring.

- A PIN is 12 characters from an unambiguous alphabet in groups of 4 (60 bits), stored only as an Argon2id PHC
  string (OWASP: m=19 MiB, t=2, p=1). Input is case- and separator-insensitive.
- Hashes are verified in a bounded thread pool, never on the reactor thread; when too many logins are waiting, a new
  one is answered "busy" at once (:class:`Busy`) instead of queueing without bound.
- An unknown, disabled or PIN-less unit costs the same hash as a wrong PIN, and every failure is the same
  ``UnauthorizedLogin`` after the same delay.
- No hard per-unit lockout (anyone could lock a kommune out on deadline day). Instead each source address collects
  a score and is banned for a while (:class:`~sendemodul.login_defence.Defender`). Repeated failures for one unit
  raise an audit event and a warning for the admin.
- A unit that logged in recently is not queued behind a storm: :class:`~sendemodul.login_defence.VerifiedLogins`
  remembers, in memory, a keyed MAC of (unit, PIN) with the unit's PIN hash at the time for
  ``auth.verified_cache_seconds``, so the same credentials pass without a new Argon2id hash while that is still the
  unit's hash. A revoked or reissued PIN changes the hash, so it misses at once. The PIN itself is never kept.
- A storm of wrong PINs is not hashed: a login from a network the unit has not logged in from lately spends a
  token of a budget per unit, per source and for the front (:mod:`sendemodul.hash_budget`), and when one is spent
  it is answered "busy" (:class:`Throttled`) at once, without a hash and without reading the store. A username
  that cannot be a unit (not ``kommunenr-bydel-orgnr``: the format is public) is refused without a hash too, like
  malformed credentials.
"""

import collections
import re
import secrets

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer, task
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python import failure
from zope.interface import Interface, implementer

from sendemodul import hash_budget, metrics
from sendemodul.errors import LoginBusy
from sendemodul.login_defence import Defender, VerifiedLogins
from sendemodul.realm import IUnitAvatar, UnitAvatar, UnitLogin, UnitRealm, epoch_of, text_of, unit_of

# Defender and VerifiedLogins live in sendemodul.login_defence, the login's avatar and realm in sendemodul.realm; the
# fronts, the ban watch and tests take them from here.
__all__ = [
    "ARGON2_PARAMS",
    "PIN_ALPHABET",
    "PIN_LENGTH",
    "UNIT_RE",
    "Busy",
    "Defender",
    "ISourced",
    "IUnitAvatar",
    "MalformedCredentials",
    "PinChecker",
    "Throttled",
    "UnitAvatar",
    "UnitCredentials",
    "UnitLogin",
    "UnitRealm",
    "VerifiedLogins",
    "dummy_phc",
    "epoch_of",
    "generate_pin",
    "hash_pin",
    "normalize_pin",
    "unit_of",
    "verify_pin",
]

log = Logger()

# 32 symbols: no 0/O or 1/I (L stays: with 1 gone it has no twin). 5 bits each, 12 symbols = 60 bits.
PIN_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PIN_LENGTH = 12
ARGON2_PARAMS = {"length": 32, "iterations": 2, "lanes": 1, "memory_cost": 19 * 1024}
UNIT_RE = re.compile(r"^\d{4}-\d{2}-\d{9}$")
_SEPARATORS = re.compile(r"[\s\-_.]")


def generate_pin():
    """A new random PIN, formatted ``ABCD-EFGH-JKMN``."""
    raw = "".join(secrets.choice(PIN_ALPHABET) for _ in range(PIN_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, PIN_LENGTH, 4))


def normalize_pin(text):
    """Uppercase and drop separators, so ``abcd efgh-jkmn`` equals ``ABCD-EFGH-JKMN``."""
    return _SEPARATORS.sub("", text).upper()


def hash_pin(pin):
    """The Argon2id PHC string for a PIN (slow by design: call it off the reactor thread)."""
    kdf = Argon2id(salt=secrets.token_bytes(16), **ARGON2_PARAMS)
    return kdf.derive_phc_encoded(normalize_pin(pin).encode("utf-8"))


def verify_pin(pin, phc):
    """True when ``pin`` matches ``phc``. Always costs one full Argon2id computation; compares in constant time."""
    try:
        Argon2id.verify_phc_encoded(normalize_pin(pin).encode("utf-8"), phc)
    except InvalidKey:
        return False
    return True


_dummy_phc = None


def dummy_phc():
    """A hash of a random PIN with the same parameters: what an unknown unit is checked against."""
    global _dummy_phc
    if _dummy_phc is None:
        _dummy_phc = hash_pin(secrets.token_hex(8))
    return _dummy_phc


class Busy(LoginBusy, error.UnauthorizedLogin):
    """The server is busy checking other logins; try again in a moment."""


class Throttled(Busy):
    """A login refused before its hash because the hash budget it needed is spent (:mod:`sendemodul.hash_budget`).
    The client gets exactly what :class:`Busy` gives it (same message, same status); only the metrics tell them
    apart. ``scope``: which budget (``unit``, ``source``, ``total``)."""

    def __init__(self, scope):
        super().__init__(str(Busy()))  # Busy's words, not this docstring's: the client must not tell them apart
        self.scope = scope


class ISourced(Interface):
    """Credentials that know the network source they came from (for abuse scoring)."""


@implementer(credentials.IUsernamePassword, ISourced)
class UnitCredentials:
    """Username (``kommunenr-bydel-orgnr``) and PIN, plus the source address (a host string) or None, and the
    protocol (``https``, ``sftp``) the metrics count the login under."""

    def __init__(self, username, password, source=None, protocol="https"):
        self.username = username
        self.password = password
        self.source = source
        self.protocol = protocol

    def checkPassword(self, password):  # IUsernamePassword; not used by our checker
        return secrets.compare_digest(self.password, password)

    def __repr__(self):
        return f"<UnitCredentials {self.username!r} from {self.source!r}>"  # never the PIN


class MalformedCredentials(UnitCredentials):
    """What a front hands the portal when it could not read a unit and a PIN from what the client sent (an HTTP
    ``Authorization`` header that is not Basic, not base64, has no colon, is not UTF-8 or is too long). The checker
    fails it like a wrong PIN, with the same delay and the same score for the source, without spending a hash."""

    def __init__(self, source=None):
        super().__init__(b"", b"", source)

    def __repr__(self):
        return f"<MalformedCredentials from {self.source!r}>"


@implementer(ICredentialsChecker)
class PinChecker:
    """The one checker for both fronts: ``UnitCredentials`` (or plain IUsernamePassword) -> unit string."""

    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, store, *, hash_pool, run_db, reactor, clock, config):
        """
        store: the Store (read from the hash threads: it keeps one connection per thread).
        hash_pool: a started ``ThreadPool`` bounded to ``config.hash_threads``.
        run_db: ``run_db(f, *args) -> Deferred``, runs blocking store calls off the reactor thread.
        reactor: for ``callFromThread``; clock: an IReactorTime for delays and scores (the reactor, or a ``Clock``
        in tests); config: the ``AuthConfig``.
        """
        self.store = store
        self.hash_pool = hash_pool
        self.run_db = run_db
        self.reactor = reactor
        self.clock = clock
        self.config = config
        self.pending = 0
        self.defender = Defender(
            clock,
            ban_score=config.source_ban_score,
            window_seconds=config.source_window_seconds,
            ban_seconds=config.source_ban_seconds,
            on_ban=self._share_ban,
        )
        self._unit_failures = {}  # unit -> deque of times
        self.verified = VerifiedLogins(clock, config.verified_cache_seconds, normalize_pin=normalize_pin)
        self.budget = (
            hash_budget.HashBudget(
                clock,
                seconds=config.hash_budget_seconds,
                per_unit=config.hash_budget_per_unit,
                per_source=config.hash_budget_per_source,
                total=max(config.hash_budget_total, config.max_pending_logins),
                known_days=config.known_source_days,
            )
            if config.hash_budget_seconds
            else None
        )
        self._throttle_audited = {}  # unit -> when its throttling was last audited
        self._throttle_logged = float("-inf")
        self._throttle_count = 0
        self._busy_logged = float("-inf")
        self._busy_count = 0

    def _share_ban(self, source, until):
        """Write a ban this front decided to the store, where every front of a cluster reads it."""
        self.run_db(self.store.ban_source, source, until).addErrback(lambda f: log.failure("sharing a ban failed", f))

    def _check(self, unit, pin, phc):
        """In a hash thread: True if ``pin`` matches ``phc``. One Argon2id computation whatever the outcome."""
        ok = verify_pin(pin, phc if phc is not None else dummy_phc())
        return ok and phc is not None

    def requestAvatarId(self, creds):
        """The unit's login, or UnauthorizedLogin; counted in the metrics by protocol and result."""
        protocol = getattr(creds, "protocol", "unknown")
        source = getattr(creds, "source", None) if ISourced.providedBy(creds) else None
        banned = source is not None and self.defender.is_banned(source)
        started = self._request_avatar_id(creds, source, banned)
        if isinstance(started, Throttled):  # the storm's case, answered at once: no generator, no callback chain
            metrics.login_throttled(protocol, started.scope)
            return defer.fail(started)

        def counted(result):
            if isinstance(result, failure.Failure):
                if result.check(Throttled):
                    metrics.login_throttled(protocol, result.value.scope)
                else:
                    metrics.login(protocol, "busy" if result.check(Busy) else "banned" if banned else "failure")
            else:
                metrics.login(protocol, "success")
            return result

        return started.addBoth(counted)

    def _request_avatar_id(self, creds, source, banned):
        """The login's Deferred, or a :class:`Throttled` (not raised) when its hash budget is spent: decided here on
        the reactor thread without a generator or a Deferred, because a storm of wrong PINs is refused this way by
        the hundred a second (an ``inlineCallbacks`` generator that raised at once cost about as much again as the
        rest of the refusal). What needs the store or a hash goes on in :meth:`_cached_login` and :meth:`_hashed`."""
        if banned:
            log.info("login refused: source is banned")
            return defer.fail(error.UnauthorizedLogin())
        if isinstance(creds, MalformedCredentials):  # scored and delayed like a wrong PIN; nothing to hash
            return self._refused_later(None, source, score=1)
        username = (text_of(creds.username) or "").strip()
        if not UNIT_RE.match(username):  # cannot be a unit (the format is public): an unknown unit's score, no hash
            return self._refused_later(None, source, score=2)
        unit = username
        pin = text_of(creds.password) or ""
        tag = self.verified.tag(unit, pin)
        cached = self.verified.passed(tag)
        if cached is not None:
            return self._cached_login(unit, pin, tag, cached, source)
        return self._admitted(unit, pin, tag, source)

    def _refused_later(self, unit, source, score):
        """UnauthorizedLogin after the failure's score and delay (:meth:`_failed`)."""

        def refused(_):
            raise error.UnauthorizedLogin()

        return self._failed(unit, source, score=score).addCallback(refused)

    @defer.inlineCallbacks
    def _cached_login(self, unit, pin, tag, cached, source):
        """A login whose (unit, PIN) passed recently: in without a hash if the unit's PIN hash is still the one it
        passed against; else checked anew (:meth:`_admitted`)."""
        phc, epoch = yield self.run_db(self.store.login_pin, unit)
        if phc == cached:
            if self.budget is not None:
                self.budget.passed(unit, source)
            return UnitLogin(unit, epoch)
        self.verified.forget(tag)  # the PIN was revoked or reissued, or the unit disabled: check it anew
        started = self._admitted(unit, pin, tag, source)
        if isinstance(started, Throttled):
            raise started
        return (yield started)

    def _admitted(self, unit, pin, tag, source):
        """The hashed login (:meth:`_hashed`) if the hash budget admits it, else a :class:`Throttled` to refuse it
        with (counted and audited here)."""
        ticket = self.budget.admit(unit, source) if self.budget is not None else None
        if isinstance(ticket, str):
            self._throttled(unit, ticket)
            return Throttled(ticket)
        return self._hashed(unit, pin, tag, source, ticket)

    @defer.inlineCallbacks
    def _hashed(self, unit, pin, tag, source, ticket):
        try:
            if self.pending >= self.config.max_pending_logins:
                self._busy()
                raise Busy()
            phc, epoch = yield self.run_db(self.store.login_pin, unit)
            self.pending += 1
            try:
                ok = yield deferToThreadPool(self.reactor, self.hash_pool, self._check, unit, pin, phc)
            finally:
                self.pending -= 1
        except Exception:
            if ticket is not None:  # not hashed (busy, or the store failed): the tokens go back
                self.budget.refund(ticket)
            raise
        if ticket is not None:
            self.budget.settle(ticket, ok)
        if ok:
            self.verified.remember(tag, phc)
            return UnitLogin(unit, epoch)
        yield self._failed(unit if phc is not None else None, source, score=1 if phc is not None else 2)
        raise error.UnauthorizedLogin()

    def _throttled(self, unit, scope):
        """Count a login refused by the hash budget: a warning at most once a minute, and for a unit's own budget an
        audit event at most once per ``auth.unit_window_seconds`` (whether the unit exists is not looked up: the
        refusal must not depend on it, and the audit names only a well-formed unit id)."""
        now = self.clock.seconds()
        self._throttle_count += 1
        if now >= self._throttle_logged + 60:
            log.warn(
                "{count} logins answered busy without a hash: their hash budget is spent (last: per {scope})",
                count=self._throttle_count,
                scope=scope,
            )
            self._throttle_logged, self._throttle_count = now, 0
        if scope != "unit" or self._throttle_audited.get(unit, float("-inf")) > now - self.config.unit_window_seconds:
            return
        self._throttle_audited[unit] = now
        if len(self._throttle_audited) > 10_000:
            self._throttle_audited = {u: t for u, t in self._throttle_audited.items() if t > now - 3600}
        self.run_db(
            self.store.audit,
            "login.throttled",
            actor="system",
            unit=unit,
            detail={
                "scope": scope,
                "budget": self.config.hash_budget_per_unit,
                "window_seconds": self.config.hash_budget_seconds,
            },
        ).addErrback(lambda f: log.failure("auditing a throttled login failed", f))

    def _busy(self):
        """Count a login answered busy; warn at most once a minute (a storm would otherwise flood the log)."""
        now = self.clock.seconds()
        self._busy_count += 1
        if now >= self._busy_logged + 60:
            log.warn(
                "{count} logins answered busy: the hash pool is full ({pending} waiting)",
                count=self._busy_count,
                pending=self.pending,
            )
            self._busy_logged, self._busy_count = now, 0

    def _failed(self, unit, source, score):
        if self.defender.record_failure(source, score):
            metrics.BANS.inc()
            log.warn(
                "source banned for {seconds} s after repeated login failures", seconds=self.config.source_ban_seconds
            )
        waits = []
        if unit is not None:
            waits.append(self._count_unit_failure(unit))
        waits.append(task.deferLater(self.clock, self.config.failure_delay_seconds, lambda: None))
        return defer.gatherResults(waits, consumeErrors=True)

    def _count_unit_failure(self, unit):
        now = self.clock.seconds()
        times = self._unit_failures.setdefault(unit, collections.deque())
        times.append(now)
        while times and times[0] <= now - self.config.unit_window_seconds:
            times.popleft()
        if len(times) < self.config.unit_warn_failures:
            return defer.succeed(None)
        count = len(times)
        times.clear()
        log.warn(
            "unit {unit} has had {count} failed logins within {window} s: "
            "someone may be guessing its PIN",  # safe: names the PIN, never its value
            unit=unit,
            count=count,
            window=self.config.unit_window_seconds,
        )
        return self.run_db(
            self.store.audit,
            "login.repeated_failures",
            actor="system",
            unit=unit,
            detail={"failures": count, "window_seconds": self.config.unit_window_seconds},
        )
