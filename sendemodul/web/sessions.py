"""Web sessions: random tokens in a ``__Host-`` cookie (Secure, HttpOnly, SameSite=Strict), a CSRF token per
session, an idle expiry (renewed by each request) and an absolute lifetime (not renewed: a session ends
``max_seconds`` after its login however busy it is). Each remembers the credential epoch of its login, and
:meth:`Sessions.end_unit` ends a unit's sessions when its epoch is raised (PIN revoked or replaced, unit disabled).
Kept in memory: a restart logs everyone out, which is safe."""

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
    #: When the login was (clock seconds): the absolute lifetime counts from here.
    created: float = field(default=0.0)
    #: The unit's credential epoch when its credential was checked (auth.UnitLogin).
    epoch: int | None = None
    #: The person of the session's second login step (:class:`PersonLogin`), or None after the unit's PIN alone.
    person: object = None
    #: Forms filled in over several pages (skjema 999), by name; memory only, gone with the session.
    drafts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PersonLogin:
    """Who acts in a web session after the second step: the opaque id (what the audit names), the name shown on
    the pages and receipts, and the registers they may report."""

    person_id: str
    name: str
    registers: tuple[str, ...]
    #: ``reporter``, or ``statsforvalter`` with the ``fylke`` whose review tasks they see (issue 17).
    role: str = "reporter"
    fylke: str | None = None


class Sessions:
    def __init__(self, clock, idle_seconds=900, max_seconds=8 * 3600, max_sessions=100_000):
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.max_sessions = max_sessions
        self._sessions = {}

    def create(self, unit, epoch=None, person=None):
        if len(self._sessions) >= self.max_sessions:
            self.sweep()
        now = self.clock.seconds()
        session = Session(
            token=secrets.token_urlsafe(32),
            unit=unit,
            csrf=secrets.token_urlsafe(32),
            last_seen=now,
            created=now,
            epoch=epoch,
            person=person,
        )
        self._sessions[session.token] = session
        return session

    def _expired(self, session, now):
        return now - session.last_seen > self.idle_seconds or now - session.created > self.max_seconds

    def get(self, token):
        """The live session for ``token`` (touching it), or None."""
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock.seconds()
        if self._expired(session, now):
            del self._sessions[token]
            return None
        session.last_seen = now
        return session

    def end(self, token):
        self._sessions.pop(token, None)

    def end_unit(self, unit, epoch):
        """End every session of ``unit`` (its login name) not logged in under ``epoch`` (None: every one).
        Returns how many ended."""
        ended = [t for t, s in self._sessions.items() if str(s.unit) == unit and (epoch is None or s.epoch != epoch)]
        for token in ended:
            del self._sessions[token]
        return len(ended)

    def sweep(self):
        now = self.clock.seconds()
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]
