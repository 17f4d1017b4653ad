"""Abuse defence for PIN logins: per-source failure scores with temporary bans (:class:`Defender`) and the memory of
logins that passed recently (:class:`VerifiedLogins`).

Split out of :mod:`sendemodul.auth` because it is state and bookkeeping, not credentials: both classes hold bounded,
expiring in-memory tables driven by an injected clock, never read the store and never hash, and the ban watch
(:mod:`sendemodul.ban_watch`) and the fronts ask the :class:`Defender` directly, not through the checker.
:mod:`sendemodul.auth` keeps the PINs, the credentials, the checker that drives these two, and the realm, and
re-exports both names.

- A source collects a score (2 for an unknown unit, 1 for a wrong PIN or malformed credentials, in the style of
  SFTPGo's defender) and is banned for a while when the score within the window reaches the limit. No hard per-unit
  lockout (anyone could lock a kommune out on deadline day).
- A (unit, PIN) pair that passed is kept only as a keyed MAC under a key made when the process starts, with the
  unit's PIN hash at the time; the PIN itself is never kept.
"""

import collections
import hashlib
import secrets

__all__ = ["Defender", "VerifiedLogins"]


class Defender:
    """Per-source failure scores with temporary bans (bounded memory, driven by an injected clock)."""

    def __init__(self, clock, *, ban_score, window_seconds, ban_seconds, max_sources=50_000, on_ban=None):
        """``on_ban(source, until)``: called when this defender bans a source (the server shares it with the
        other fronts, :mod:`sendemodul.ban_watch`)."""
        self.clock = clock
        self.on_ban = on_ban
        self.ban_score = ban_score
        self.window_seconds = window_seconds
        self.ban_seconds = ban_seconds
        self.max_sources = max_sources
        self._events = collections.OrderedDict()  # source -> deque[(time, score)]
        self._bans = {}  # source -> until

    def is_banned(self, source):
        until = self._bans.get(source)
        if until is None:
            return False
        if until <= self.clock.seconds():
            del self._bans[source]
            return False
        return True

    def ban(self, source, until):
        """Refuse ``source`` until ``until`` (a ban another front decided). True when this is news here."""
        if until <= self.clock.seconds() or self._bans.get(source, 0) >= until:
            return False
        self._bans[source] = until
        self._events.pop(source, None)
        return True

    def banned_count(self):
        """How many sources are banned (some may have expired since; they go at their next connection)."""
        return len(self._bans)

    def record_failure(self, source, score):
        """Add ``score`` for ``source``; returns True when this failure got it banned."""
        if source is None:
            return False
        now = self.clock.seconds()
        events = self._events.pop(source, None) or collections.deque()
        events.append((now, score))
        while events and events[0][0] <= now - self.window_seconds:
            events.popleft()
        self._events[source] = events  # most recently active last
        while len(self._events) > self.max_sources:
            self._events.popitem(last=False)
        if sum(s for _, s in events) >= self.ban_score:
            self._bans[source] = now + self.ban_seconds
            del self._events[source]
            if self.on_ban is not None:
                self.on_ban(source, now + self.ban_seconds)
            if len(self._bans) > self.max_sources:
                for stale in [s for s, until in self._bans.items() if until <= now]:
                    del self._bans[stale]
            return True
        return False


class VerifiedLogins:
    """(unit, PIN) pairs that passed Argon2id recently, as HMAC-SHA256 tags under a key made when the process
    starts, each with the unit's PIN hash it passed against (bounded, expiring, memory only). The tag does not
    need the store, so a login that is not in here (every wrong PIN) costs no read of it."""

    def __init__(self, clock, ttl_seconds, max_entries=20_000, *, normalize_pin):
        """``normalize_pin``: :func:`sendemodul.auth.normalize_pin`, given by the checker (this module does not
        import auth, which imports it), so that ``abcd efgh-jkmn`` and ``ABCD-EFGH-JKMN`` give one tag."""
        self.clock = clock
        self._normalize_pin = normalize_pin
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        # HMAC-SHA256 (RFC 2104) with the key's two pads hashed once: each tag copies the two states instead of
        # hashing the key again. ``hmac.digest`` took 12-20 us per tag, these 6-7 us, on every refused login of a
        # storm (the reactor's time); tests/test_auth.py checks the tags equal ``hmac.digest``'s.
        padded = self._key.ljust(hashlib.sha256().block_size, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
        self._tags = collections.OrderedDict()  # tag -> (expiry, phc)

    def tag(self, unit, pin):
        inner = self._inner.copy()
        inner.update("\0".join((unit, self._normalize_pin(pin))).encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def passed(self, tag):
        """The PIN hash the tag passed against, or None (never, or expired)."""
        entry = self._tags.get(tag)
        if entry is None:
            return None
        if entry[0] <= self.clock.seconds():
            del self._tags[tag]
            return None
        return entry[1]

    def forget(self, tag):
        self._tags.pop(tag, None)

    def remember(self, tag, phc):
        if not self.ttl:
            return
        self._tags.pop(tag, None)
        self._tags[tag] = (self.clock.seconds() + self.ttl, phc)
        while len(self._tags) > self.max_entries:
            self._tags.popitem(last=False)
