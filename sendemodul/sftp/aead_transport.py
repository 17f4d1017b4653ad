"""Conch's SSH transport bent to speak AEAD and encrypt-then-MAC packets, with strict key exchange, and to advertise
the user-key signature algorithms we accept (issue 23). A later merge moves this into ``sendemodul/_twisted.py``.

What it changes in Twisted Conch 26.10 (``twisted/conch/ssh/transport.py``), and the names it leans on:

- After ``ssh_KEXINIT`` has negotiated, ``nextEncryptions`` (a ``SSHCiphers``) is replaced by a
  :class:`PacketCiphers`: an ``SSHCiphers`` whose ``setKeys`` builds a :mod:`sendemodul.sftp.ciphers` sealer/opener
  for each direction that uses an AEAD cipher or an EtM MAC, and lets Conch set up any other direction as before
  (it reads ``outCipType``/``inCipType``/``outMACType``/``inMACType`` and the six ``setKeys`` arguments that
  ``SSHTransportBase._keySetup`` passes: IV, key and integrity key per direction from ``_getKey``, 4 hash outputs
  long, enough for chacha20-poly1305's 64 bytes).
- ``getPacket``/``sendPacket``: when ``currentEncryptions`` has an opener/sealer for that direction, the packet is
  framed here; otherwise Conch's (or our faster) code runs. Leans on ``buf``, ``incomingPacketSequence``,
  ``outgoingPacketSequence``, ``incomingCompression``/``outgoingCompression``, and to leave the queueing of
  messages during a key exchange to Conch: ``_keyExchangeState``, ``_KEY_EXCHANGE_NONE``,
  ``_allowedKeyExchangeMessageType``.
- Strict key exchange (``kex-strict-s-v00@openssh.com``, OpenSSH PROTOCOL 1.10, the Terrapin countermeasure that
  draft-ietf-sshm-chacha20-poly1305 makes a MUST): offered in the first KEXINIT (``sendKexInit`` reads
  ``supportedKeyExchanges``); if the client offers ``kex-strict-c-v00@openssh.com`` its KEXINIT must be its first
  packet, nothing but key-exchange messages may come before its first NEWKEYS (``dispatchMessage``), and each
  direction's sequence number restarts at 0 after each NEWKEYS (``sendPacket`` of ``MSG_NEWKEYS``,
  ``ssh_NEWKEYS``). Leans on ``sessionID`` being None until the first key exchange completes.
- ``sendExtInfo``: ``server-sig-algs`` names the user-key signature algorithms we verify, not our host-key types
  (Conch sends ``supportedPublicKeys``, i.e. ``ssh-ed25519`` only here, and OpenSSH and paramiko then find "no
  mutual signature algorithm" for an RSA key).

``tests/test_ssh_ciphers.py`` fails when one of these names changes.
"""

from twisted.conch.ssh import transport
from twisted.conch.ssh.common import getNS
from twisted.logger import Logger

from sendemodul.sftp import ciphers

log = Logger()

KEX_STRICT_SERVER = b"kex-strict-s-v00@openssh.com"
KEX_STRICT_CLIENT = b"kex-strict-c-v00@openssh.com"

#: Offered first, in OpenSSH's order; Conch's aes-ctr follow (sftp/server.py's list).
OFFERED_AEAD_CIPHERS = (ciphers.CHACHA20_POLY1305, ciphers.AES128_GCM, ciphers.AES256_GCM)
OFFERED_ETM_MACS = (ciphers.HMAC_SHA2_256_ETM, ciphers.HMAC_SHA2_512_ETM)

#: The user-key signature algorithms in ``server-sig-algs`` (ssh-rsa, RSA with SHA-1, is left out as OpenSSH >= 8.8
#: does; sendemodul/sftp/checker.py refuses it unless configured).
SERVER_SIG_ALGS = (b"ssh-ed25519", b"ecdsa-sha2-nistp256", b"ecdsa-sha2-nistp384", b"ecdsa-sha2-nistp521",
                   b"rsa-sha2-512", b"rsa-sha2-256")

#: Messages a strict key exchange lets through before the first NEWKEYS: DISCONNECT, KEXINIT, NEWKEYS, 30-49.
_KEX_MESSAGES = frozenset((transport.MSG_DISCONNECT, transport.MSG_KEXINIT, transport.MSG_NEWKEYS, *range(30, 50)))


class PacketCiphers(transport.SSHCiphers):
    """Conch's ``SSHCiphers`` plus, per direction, a sealer (out) or opener (in) for AEAD and EtM packets."""

    sealer = None
    opener = None

    def setKeys(self, outIV, outKey, inIV, inKey, outInteg, inInteg):
        names = (self.outCipType, self.inCipType, self.outMACType, self.inMACType)
        if ciphers.is_ours(self.outCipType, self.outMACType):
            self.sealer = ciphers.sealer(self.outCipType, self.outMACType, outIV, outKey, outInteg)
            self.outCipType = self.outMACType = b"none"  # Conch sets up nothing for this direction
        if ciphers.is_ours(self.inCipType, self.inMACType):
            self.opener = ciphers.opener(self.inCipType, self.inMACType, inIV, inKey, inInteg)
            self.inCipType = self.inMACType = b"none"
        try:
            super().setKeys(outIV, outKey, inIV, inKey, outInteg, inInteg)
        finally:
            self.outCipType, self.inCipType, self.outMACType, self.inMACType = names
        if self.sealer is not None:
            self.encBlockSize = self.sealer.block_size
        if self.opener is not None:
            self.decBlockSize = self.opener.block_size
            self.verifyDigestSize = 0


def _first_common(client, server):
    """RFC 4253 7.1: the first of the client's algorithms that the server also supports."""
    return next((name for name in client if name in server), None)


def mac_shown(cipher, mac):
    """The MAC as OpenSSH's logs show it: ``<implicit>`` with an AEAD cipher."""
    return "<implicit>" if cipher in ciphers.AEAD_CIPHERS else mac.decode("ascii", "replace")


class AEADTransportMixin:
    """Mix in before an ``SSHServerTransport`` subclass (see the module docstring for what it changes)."""

    strict_kex = False
    _refused = False
    _macs_offered = None
    _first_kexinit_seen = False
    _first_newkeys_seen = False

    # -- strict key exchange, and our packet layouts negotiated ------------------------------------------------
    def sendKexInit(self):
        kex, macs = self.supportedKeyExchanges, self.supportedMACs
        if self.sessionID is None:  # the marker belongs to the first key exchange only
            self.supportedKeyExchanges = [*kex, KEX_STRICT_SERVER]
        if self._macs_offered is not None:  # answering in the middle of ssh_KEXINIT: offer only our own MACs
            self.supportedMACs = self._macs_offered
        try:
            super().sendKexInit()
        finally:
            self.supportedKeyExchanges, self.supportedMACs = kex, macs

    def ssh_KEXINIT(self, packet):
        try:
            lists = [names.split(b",") for names in getNS(packet[16:], 10)[:10]]
        except Exception:
            lists = None  # Conch refuses it
        if not self._first_kexinit_seen:
            self._first_kexinit_seen = True
            self.strict_kex = lists is not None and KEX_STRICT_CLIENT in lists[0]
            if self.strict_kex and self.incomingPacketSequence != 1:
                self._refuse(ciphers.PacketError(b"strict KEX violation: KEXINIT was not the first packet"))
                return
        # With an AEAD cipher both ways the MAC lists are ignored (RFC 5647 as OpenSSH does it, and the chacha20
        # draft): Conch insists on a common MAC, so for this negotiation any MAC the client names will do.
        macs = self._macs_offered = self.supportedMACs
        if lists is not None and all(_first_common(lists[i], self.supportedCiphers) in ciphers.AEAD_CIPHERS
                                     for i in (2, 3)):
            self.supportedMACs = [*macs, *lists[4], *lists[5]]
        try:
            super().ssh_KEXINIT(packet)  # may answer with our KEXINIT (a re-key the client began)
        finally:
            self.supportedMACs = macs
            self._macs_offered = None
        negotiated = self.__dict__.get("nextEncryptions")
        if negotiated is not None and not isinstance(negotiated, PacketCiphers):
            self.nextEncryptions = PacketCiphers(negotiated.outCipType, negotiated.inCipType,
                                                 negotiated.outMACType, negotiated.inMACType)

    def dispatchMessage(self, messageNum, payload):
        if self.strict_kex and not self._first_newkeys_seen and messageNum not in _KEX_MESSAGES:
            self._refuse(ciphers.PacketError(
                b"strict KEX violation: message %d before the first NEWKEYS" % messageNum))
            return
        super().dispatchMessage(messageNum, payload)

    def ssh_NEWKEYS(self, packet):
        super().ssh_NEWKEYS(packet)
        if packet != b"":  # refused by Conch: keys unchanged
            return
        if self.strict_kex:
            self.incomingPacketSequence = 0
        first, self._first_newkeys_seen = not self._first_newkeys_seen, True
        enc = self.currentEncryptions
        log.info("SSH {what}: kex {kex}, host key {host_alg}, cipher {cipher_in} (in) {cipher_out} (out), "
                 "MAC {mac_in} (in) {mac_out} (out), strict kex {strict}",
                 what="keys in use" if first else "keys renewed",
                 kex=self.kexAlg.decode("ascii", "replace"), host_alg=self.keyAlg.decode("ascii", "replace"),
                 cipher_in=enc.inCipType.decode("ascii", "replace"),
                 cipher_out=enc.outCipType.decode("ascii", "replace"),
                 mac_in=mac_shown(enc.inCipType, enc.inMACType), mac_out=mac_shown(enc.outCipType, enc.outMACType),
                 strict="yes" if self.strict_kex else "no")

    # -- the packets -------------------------------------------------------------------------------------------
    def sendPacket(self, messageType, payload):
        sealer = getattr(self.currentEncryptions, "sealer", None)
        if sealer is None or (self._keyExchangeState != self._KEY_EXCHANGE_NONE
                              and not self._allowedKeyExchangeMessageType(messageType)):
            super().sendPacket(messageType, payload)  # Conch's framing, or its queue during a key exchange
        else:
            data = bytes((messageType,)) + payload
            if self.outgoingCompression:
                data = self.outgoingCompression.compress(data) + self.outgoingCompression.flush(2)
            self.transport.write(sealer.seal(self.outgoingPacketSequence & 0xFFFFFFFF, data))
            self.outgoingPacketSequence += 1
        if messageType == transport.MSG_NEWKEYS and self.strict_kex:
            self.outgoingPacketSequence = 0

    def getPacket(self):
        if self._refused:  # closing: whatever else arrives is dropped
            self.buf = b""
            return None
        opener = getattr(self.currentEncryptions, "opener", None)
        if opener is None:
            return super().getPacket()
        try:
            got = opener.open(self.incomingPacketSequence & 0xFFFFFFFF, self.buf)
        except ciphers.PacketError as e:
            self._refuse(e)
            return None
        if got is None:
            return None
        payload, used = got
        self.buf = self.buf[used:]
        if self.incomingCompression:
            try:
                payload = self.incomingCompression.decompress(payload)
            except Exception:
                self._refuse(ciphers.PacketError(b"compression error", transport.DISCONNECT_COMPRESSION_ERROR))
                return None
        self.incomingPacketSequence += 1
        return payload

    def _refuse(self, error):
        """Close the connection over a refused packet, saying why in our log (no packet content)."""
        log.info("SSH packet refused, connection closed: {reason}", reason=error.reason.decode("ascii", "replace"))
        self.buf = b""
        self._refused = True
        self.sendDisconnect(error.code, error.reason)

    # -- user-key signature algorithms ---------------------------------------------------------------------------
    def sendExtInfo(self, extensions):
        extensions = [(name, b",".join(SERVER_SIG_ALGS) if name == b"server-sig-algs" else value)
                      for name, value in extensions]
        super().sendExtInfo(extensions)
