"""The logged-in unit as the fronts see it: the avatar id our checker returns (:class:`UnitLogin`, the unit's name
carrying its credential epoch), the avatar made from it (:class:`UnitAvatar`, with the unit already parsed) and the
one realm both fronts use (:class:`UnitRealm`). Kept apart from :mod:`sendemodul.auth`, which decides whether a login
succeeds; :mod:`sendemodul.auth` re-exports these names, so ``auth.UnitRealm`` keeps working."""

from twisted.cred.portal import IRealm
from zope.interface import Interface, implementer

from sendemodul import identity

__all__ = ["IUnitAvatar", "UnitAvatar", "UnitLogin", "UnitRealm", "epoch_of", "text_of", "unit_of"]


class UnitLogin(str):
    """What our checkers return as the avatar id: the unit's login name, carrying ``epoch``, the unit's credential
    epoch read together with the credential it was checked against (:meth:`Store.login_pin`). A revoke, a disable or
    a new PIN raises the unit's epoch, and everything this login opened ends (issue 14)."""

    epoch: int | None

    def __new__(cls, unit, epoch):
        login = super().__new__(cls, unit)
        login.epoch = epoch
        return login


def epoch_of(avatar_id):
    """The credential epoch an avatar id carries (None for a plain name, which no session check accepts)."""
    return getattr(avatar_id, "epoch", None)


def text_of(value):
    """A credential field as text (Conch gives bytes, the web front str)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class IUnitAvatar(Interface):
    """A logged-in unit (the fronts add their own interfaces: IResource, IConchUser)."""


@implementer(IUnitAvatar)
class UnitAvatar:
    """``unit``: the login name (``0301-12-958935420``); ``parsed``: the same unit as an :class:`identity.Unit`,
    what intake takes; ``epoch``: the credential epoch of the login (:class:`UnitLogin`)."""

    def __init__(self, unit, epoch=None, person=None):
        self.parsed = unit
        self.unit = str(unit)
        self.epoch = epoch
        #: The web session's person (:class:`~sendemodul.web.sessions.PersonLogin`); None for API and SFTP logins.
        self.person = person


def unit_of(avatar_id):
    """The :class:`identity.Unit` of an avatar id a checker accepted (always ``KKKK-BB-OOOOOOOOO``, checked by
    ``UNIT_RE``). Made once per login, by the realm, so that neither the fronts nor intake take the text apart."""
    kommunenr, bydel, orgnr = text_of(avatar_id).split("-")
    return identity.Unit(kommunenr, bydel, orgnr)


@implementer(IRealm)
class UnitRealm:
    """Makes an avatar for a logged-in unit, with the factory given for the interface the front asks for.

    ``factories``: ``{interface: factory}`` where ``factory(unit, epoch) -> (avatar, logout)`` or
    ``factory(unit, epoch) -> avatar``, ``unit`` an :class:`identity.Unit`, ``epoch`` the login's credential epoch
    (:class:`UnitLogin`); ``IUnitAvatar`` (the unit itself, for the web front) is always there.
    ``service.makeService`` passes the SFTP front's ``IConchUser`` factory."""

    def __init__(self, factories=None):
        self.factories = {IUnitAvatar: UnitAvatar, **(factories or {})}

    def requestAvatar(self, avatarId, mind, *interfaces):
        for interface in interfaces:
            factory = self.factories.get(interface)
            if factory is not None:
                made = factory(unit_of(avatarId), epoch_of(avatarId))
                avatar, logout = made if isinstance(made, tuple) else (made, lambda: None)
                return interface, avatar, logout
        raise NotImplementedError(f"no avatar for {interfaces}")
