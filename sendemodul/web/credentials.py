"""Logging in with HTTP Basic: the ``Authorization`` header parsed into the portal's credentials, and the login
with them (the upload request and the web session's login both use it)."""

import base64

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer

from sendemodul import auth

#: Longest ``Authorization`` header read as credentials (a unit and a PIN need well under 100 bytes).
MAX_AUTHORIZATION_BYTES = 512


def basic_credentials(header, source):
    """``UnitCredentials`` from an ``Authorization: Basic ...`` header value (bytes). A malformed one (another
    scheme, bad base64, no colon, not UTF-8, over ``MAX_AUTHORIZATION_BYTES``) is ``MalformedCredentials``: the
    checker fails it like a wrong PIN and counts it toward the source's abuse score."""
    scheme, _, value = header.partition(b" ")
    if len(header) > MAX_AUTHORIZATION_BYTES or scheme.lower() != b"basic":
        return auth.MalformedCredentials(source)
    try:
        username, colon, pin = base64.b64decode(value.strip(), validate=True).partition(b":")
        username.decode("utf-8"), pin.decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError
        return auth.MalformedCredentials(source)
    if not colon:
        return auth.MalformedCredentials(source)
    return auth.UnitCredentials(username, pin, source)


def login(portal, creds):
    """Deferred unit (the ``identity.Unit`` the realm made) for ``creds`` (None creds fail like a wrong PIN)."""
    return login_avatar(portal, creds).addCallback(lambda avatar: avatar.parsed)


def login_avatar(portal, creds):
    """Deferred :class:`auth.UnitAvatar` (the unit and its login's credential epoch) for ``creds``."""
    if creds is None:
        return defer.fail(UnauthorizedLogin())
    return portal.login(creds, None, auth.IUnitAvatar).addCallback(lambda result: result[1])
