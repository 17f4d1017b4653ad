"""Login with one of a unit's registered SSH public keys (``sendemodul admin sshkey add``)."""

import base64

from twisted.conch import error as conch_error
from twisted.conch.ssh import keys
from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from sendemodul.auth import UNIT_RE, UnitLogin

log = Logger()


@implementer(ICredentialsChecker)
class UnitKeyChecker:
    """``ISSHPrivateKey`` -> unit string, checked against ``store.ssh_keys(unit)`` (read off the reactor thread).

    Like Conch's ``SSHPublicKeyChecker``: a query without a signature is answered ``ValidPublicKey`` when the key
    is registered, and a signature is verified over the session's data.
    """

    credentialInterfaces = (credentials.ISSHPrivateKey,)

    def __init__(self, store, run_db):
        self.store = store
        self.run_db = run_db

    def _registered_blobs(self, unit):  # in a DB thread
        """``(epoch, blobs)``: the epoch read first, so a key removed after it was read still ends this login."""
        epoch = self.store.credential_epoch(unit)
        if epoch is None:
            return None, []
        blobs = []
        for row in self.store.ssh_keys(unit):
            try:
                blobs.append(base64.b64decode(row["public_key"].split()[1]))
            except (IndexError, ValueError):
                continue
        return epoch, blobs

    @defer.inlineCallbacks
    def requestAvatarId(self, creds):
        username = creds.username.decode("utf-8", "replace") if isinstance(creds.username, bytes) else creds.username
        unit = username.strip() if username and UNIT_RE.match(username.strip()) else None
        if unit is None:
            raise error.UnauthorizedLogin()
        epoch, blobs = yield self.run_db(self._registered_blobs, unit)
        if creds.blob not in blobs:
            raise error.UnauthorizedLogin()
        if creds.signature is None:
            raise conch_error.ValidPublicKey()
        try:
            key = keys.Key.fromString(creds.blob)
            ok = key.verify(creds.signature, creds.sigData)
        except Exception:
            ok = False
        if not ok:
            raise error.UnauthorizedLogin()
        log.info("SSH key login for {unit}", unit=unit)
        return UnitLogin(unit, epoch)
