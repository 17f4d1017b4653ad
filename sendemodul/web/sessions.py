"""Web sessions: random tokens in a ``__Host-`` cookie (Secure, HttpOnly, SameSite=Strict), idle expiry, a CSRF
token per session. Kept in memory: a restart logs everyone out, which is safe."""

import secrets
from dataclasses import dataclass, field

COOKIE = b"__Host-sendemodul"
LOGIN_COOKIE = b"__Host-sendemodul-login"  # double-submit token for the login form


@dataclass
class Session:
    token: str
    unit: object  # the identity.Unit of the login
    csrf: str
    last_seen: float = field(default=0.0)


class Sessions:
    def __init__(self, clock, idle_seconds=900, max_sessions=100_000):
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._sessions = {}

    def create(self, unit):
        if len(self._sessions) >= self.max_sessions:
            self.sweep()
        session = Session(token=secrets.token_urlsafe(32), unit=unit, csrf=secrets.token_urlsafe(32),
                          last_seen=self.clock.seconds())
        self._sessions[session.token] = session
        return session

    def get(self, token):
        """The live session for ``token`` (touching it), or None."""
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock.seconds()
        if now - session.last_seen > self.idle_seconds:
            del self._sessions[token]
            return None
        session.last_seen = now
        return session

    def end(self, token):
        self._sessions.pop(token, None)

    def sweep(self):
        now = self.clock.seconds()
        for token in [t for t, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[token]
