"""Login with one of a unit's registered SSH public keys (``sendemodul admin sshkey add``).

Signature algorithms: ssh-ed25519, ecdsa-sha2-nistp256/384/521, rsa-sha2-512 and rsa-sha2-256, named in the request
and again inside the signature, and fitting the key (as OpenSSH checks them). ``ssh-rsa`` (RSA with SHA-1) is refused
unless ``[sftp] accept_ssh_rsa_sha1 = true``, as OpenSSH 8.8 and later refuse it; each refusal is logged with its
reason.
"""

import base64

from twisted.conch import error as conch_error
from twisted.conch.ssh import keys
from twisted.conch.ssh.common import getNS
from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python import failure
from zope.interface import implementer

from sendemodul import metrics
from sendemodul.auth import UNIT_RE, UnitLogin

log = Logger()

SSH_RSA_SHA1 = b"ssh-rsa"
#: Per key type, the signature algorithms we verify (ssh-rsa is added when configured).
SIGNATURE_ALGORITHMS = {
    "Ed25519": (b"ssh-ed25519",),
    "EC": (b"ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp384", b"ecdsa-sha2-nistp521"),
    "RSA": (b"rsa-sha2-512", b"rsa-sha2-256"),
}


def signature_algorithm(signature):
    """The algorithm name a signature blob (``string name || string signature``) says it was made with."""
    return getNS(signature)[0]


@implementer(ICredentialsChecker)
class UnitKeyChecker:
    """``ISSHPrivateKey`` -> unit string, checked against ``store.ssh_keys(unit)`` (read off the reactor thread).

    Like Conch's ``SSHPublicKeyChecker``: a query without a signature is answered ``ValidPublicKey`` when the key
    is registered, and a signature is verified over the session's data.
    """

    credentialInterfaces = (credentials.ISSHPrivateKey,)

    def __init__(self, store, run_db, *, accept_ssh_rsa_sha1=False):
        self.store = store
        self.run_db = run_db
        self.accept_ssh_rsa_sha1 = accept_ssh_rsa_sha1

    def _algorithm_refusal(self, key, creds):
        """Why the request's (or its signature's) algorithm is refused for this key, or None if it is accepted."""
        accepted = SIGNATURE_ALGORITHMS.get(key.type(), ())
        if key.type() == "RSA" and self.accept_ssh_rsa_sha1:
            accepted = (*accepted, SSH_RSA_SHA1)
        named = [creds.algName]
        if creds.signature is not None:
            try:
                named.append(signature_algorithm(creds.signature))
            except Exception:  # noqa: BLE001 - any parse failure of untrusted bytes is a malformed signature
                return "malformed signature"
            if named[1] != named[0]:
                return "the signature's algorithm differs from the request's"
        if key.type() == "EC" and creds.algName != key.sshType():
            return "ECDSA algorithm does not fit the key's curve"
        if creds.algName not in accepted:
            if creds.algName == SSH_RSA_SHA1:
                return "ssh-rsa (SHA-1) signatures are not accepted (sftp.accept_ssh_rsa_sha1 = false)"
            return "signature algorithm not accepted for this key type"
        return None

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

    def requestAvatarId(self, creds):
        """The unit's login; a refusal counted as a failed SFTP login (the key-only query, ValidPublicKey, is not a
        login attempt and is not counted)."""

        def counted(result):
            if isinstance(result, failure.Failure):
                if result.check(error.UnauthorizedLogin):
                    metrics.login("sftp", "failure")
            else:
                metrics.login("sftp", "success")
            return result

        return self._request_avatar_id(creds).addBoth(counted)

    @defer.inlineCallbacks
    def _request_avatar_id(self, creds):
        username = creds.username.decode("utf-8", "replace") if isinstance(creds.username, bytes) else creds.username
        unit = username.strip() if username and UNIT_RE.match(username.strip()) else None
        if unit is None:
            raise error.UnauthorizedLogin()
        epoch, blobs = yield self.run_db(self._registered_blobs, unit)
        if creds.blob not in blobs:
            raise error.UnauthorizedLogin()
        try:
            key = keys.Key.fromString(creds.blob)
        except Exception:  # noqa: BLE001 - any parse failure of a stored blob refuses the login
            raise error.UnauthorizedLogin() from None
        refusal = self._algorithm_refusal(key, creds)
        if refusal is not None:
            log.info(
                "SSH key login for {unit} refused: {reason} ({algorithm})",
                unit=unit,
                reason=refusal,
                algorithm=creds.algName.decode("ascii", "replace")[:64],
            )
            raise error.UnauthorizedLogin()
        if creds.signature is None:
            raise conch_error.ValidPublicKey()
        try:
            ok = key.verify(creds.signature, creds.sigData)
        except Exception:  # noqa: BLE001 - any verify failure on untrusted input refuses the login
            ok = False
        if not ok:
            raise error.UnauthorizedLogin()
        log.info("SSH key login for {unit} ({algorithm})", unit=unit, algorithm=creds.algName.decode("ascii"))
        return UnitLogin(unit, epoch)
