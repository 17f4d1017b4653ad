"""The SSH server: Conch with modern algorithms only, SFTP as the only thing a login can do.

Hardening: curve25519 (and mlkem768x25519) key exchange with strict KEX, an ed25519 host key, chacha20-poly1305 and
AES-GCM first, then AES-CTR with HMAC-SHA2 encrypt-then-MAC or encrypt-and-MAC (no SHA-1, no CBC, no compression;
the AEAD and EtM packets are framed in ``_twisted.py``), a login grace time of 60 s, 6 authentication
attempts, sessions limited per unit and per source address, an idle timeout, a bounded SFTP packet. Throughput: an
8 MiB channel window and 256 KiB packets, and the ``limits@openssh.com`` extension so that OpenSSH's client writes
255 KiB at a time.
"""

import collections
from typing import ClassVar

from twisted.conch import avatar, error, interfaces
from twisted.conch.ssh import (
    connection,
    factory,
    keys,
    session,
    transport,
)
from twisted.conch.ssh.common import getNS
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

from sendemodul import _twisted
from sendemodul._twisted import AdmittingUserAuthServer, BoundedFileTransferServer
from sendemodul.auth import UnitCredentials
from sendemodul.listening import ListeningService
from sendemodul.sftp.dropbox import MAX_SFTP_PACKET, DropBox

log = Logger()

#: Bytes read from the socket at a time (Twisted's default is 64 KiB): a quarter of the reads, reactor turns and
#: trips through the transport for an upload (scripts/bench --only sftp). Conch's own packet loop (aes-ctr with an
#: encrypt-and-MAC MAC) copies what is left of a read for every packet it takes, so it keeps this size.
SOCKET_READ_BYTES = 256 * 1024
#: The read size once our packet layouts (AEAD, encrypt-then-MAC) frame the packets in (``_twisted.AEADTransportMixin``
#: opens them where they lie in the read): while an upload keeps the reactor busy the socket holds more than this, so
#: each read is full, and 1 MiB instead of 256 KiB is a quarter of the reads, reactor turns, sends of the replies and
#: packets cut at a read's end, about 0.15 s of the reactor's CPU per GiB (scripts/sftp_reactor.py, session 9).
OPENED_READ_BYTES = 1024 * 1024
#: Measured here (400 MB, OpenSSH sftp): 128 KiB default ~2x slower than 2 MiB; 8 MiB ~20% faster than 2 MiB.
CHANNEL_WINDOW_BYTES = 8 * 1024 * 1024
CHANNEL_MAX_PACKET_BYTES = 256 * 1024
LOGIN_GRACE_SECONDS = 60
#: New connections per source address: a burst, refilled at a steady rate (against DHEat-style floods of key
#: exchanges; ssh-audit wants fewer than 20 a second).
CONNECTION_BURST = 10
CONNECTIONS_PER_SECOND = 5.0
MAX_AUTH_ATTEMPTS = 6
#: Channels (each at most one SFTP session) open at once on one SSH connection: the open-handle limit is per SFTP
#: session, so without this bound a client multiplies it by opening more channels (OpenSSH's MaxSessions is 10).
MAX_CHANNELS_PER_CONNECTION = 4

KEY_EXCHANGES = (b"mlkem768x25519-sha256", b"curve25519-sha256", b"curve25519-sha256@libssh.org")
#: AEAD first, then aes-ctr; EtM MACs first and encrypt-and-MAC last, as in OpenSSH's default lists.
CIPHERS = (*_twisted.OFFERED_AEAD_CIPHERS, b"aes256-ctr", b"aes192-ctr", b"aes128-ctr")
MACS = (*_twisted.OFFERED_ETM_MACS, b"hmac-sha2-256", b"hmac-sha2-512")


def _supported(wanted, available):
    return [name for name in wanted if name in available]


class DropBoxTransport(transport.SSHServerTransport, TimeoutMixin):
    """The server transport with our algorithms, the idle timeout and per-source/per-unit session counting."""

    ourVersionString = b"SSH-2.0-sendemodul"
    supportedKeyExchanges = _supported(KEY_EXCHANGES, transport.SSHServerTransport.supportedKeyExchanges)
    supportedCiphers = _supported(CIPHERS, transport.SSHServerTransport.supportedCiphers)
    supportedMACs = _supported(MACS, transport.SSHServerTransport.supportedMACs)
    supportedCompressions: ClassVar[list[bytes]] = [b"none"]

    unit = None
    epoch = None  # the credential epoch of the login (auth.UnitLogin)
    busy = 0
    _grace = None

    def callLater(self, period, func):
        """TimeoutMixin's timer (its hook for tests) on the factory's clock: the reactor, a Clock in tests."""
        return self.factory.clock.callLater(period, func)

    def connectionMade(self):
        if hasattr(self.transport, "bufferSize"):
            self.transport.bufferSize = SOCKET_READ_BYTES
        self.setTimeout(self.factory.idle_timeout_seconds)
        # on the transport, not the userauth service: a client may request that service again and again
        self.auth_failures = 0
        self._grace = self.factory.clock.callLater(self.factory.login_grace_seconds, self._grace_expired)
        super().connectionMade()

    def _grace_expired(self):
        self._grace = None
        log.info("SSH connection closed: no login within {seconds} s", seconds=self.factory.login_grace_seconds)
        self.sendDisconnect(transport.DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE, b"login grace time exceeded")

    def logged_in(self):
        if self._grace is not None and self._grace.active():
            self._grace.cancel()
        self._grace = None

    def dataReceived(self, data):
        self.resetTimeout()
        super().dataReceived(data)

    def timeoutConnection(self):
        if self.busy:  # waiting for intake to answer a close or rename: not idle
            self.resetTimeout()
            return
        log.info("SFTP session closed after {seconds} s idle", seconds=self.factory.idle_timeout_seconds)
        self.sendDisconnect(transport.DISCONNECT_BY_APPLICATION, b"idle timeout")

    def receiveError(self, reasonCode, description):
        log.info("SFTP client disconnected ({code})", code=reasonCode)

    def set_busy(self, delta):
        self.busy += delta
        self.resetTimeout()

    def connectionLost(self, reason):
        self.setTimeout(None)
        if self._grace is not None and self._grace.active():
            self._grace.cancel()
        self.factory.session_ended(self)
        super().connectionLost(reason)


class ModernDropBoxTransport(_twisted.AEADTransportMixin, DropBoxTransport):
    """``DropBoxTransport`` with AEAD and encrypt-then-MAC packets, strict KEX and our ``server-sig-algs``."""

    supportedCiphers = _supported(
        CIPHERS, (*_twisted.OFFERED_AEAD_CIPHERS, *transport.SSHServerTransport.supportedCiphers)
    )
    supportedMACs = _supported(MACS, (*_twisted.OFFERED_ETM_MACS, *transport.SSHServerTransport.supportedMACs))

    def packets_arriving(self):
        self.resetTimeout()  # (DropBoxTransport.dataReceived is passed over when the mixin frames the packets)

    def ssh_NEWKEYS(self, packet):
        super().ssh_NEWKEYS(packet)
        if hasattr(self.transport, "bufferSize"):  # the read size for the incoming packets' framing, as keyed now
            opened = getattr(self.currentEncryptions, "opener", None) is not None
            self.transport.bufferSize = OPENED_READ_BYTES if opened else SOCKET_READ_BYTES


class UnitUserAuthServer(AdmittingUserAuthServer):
    """Passwords go to the portal as ``UnitCredentials`` with the peer host (for abuse scoring); bounded grace time
    and attempts; the per-unit session limit is applied once the unit is known."""

    loginTimeout = property(lambda self: self.transport.factory.login_grace_seconds)
    attemptsBeforeDisconnect = MAX_AUTH_ATTEMPTS - 1  # disconnects at the 6th failure
    passwordDelay = 0  # PinChecker already delays every failure

    @property
    def loginAttempts(self):
        return self.transport.auth_failures

    @loginAttempts.setter
    def loginAttempts(self, value):  # Conch sets 0 each time the service (re)starts: count per connection
        self.transport.auth_failures = max(value, self.transport.auth_failures)

    def auth_password(self, packet):
        password = getNS(packet[1:])[0]
        peer = self.transport.transport.getPeer()
        creds = UnitCredentials(self.user, password, source=getattr(peer, "host", None), protocol="sftp")
        return self.portal.login(creds, None, interfaces.IConchUser)

    def admit(self, user, logout):
        if self.transport.factory.login_ended(user.unit, user.epoch):
            logout()
            log.info("SFTP login by {unit} refused: its credentials changed meanwhile", unit=user.unit)
            self.transport.sendDisconnect(transport.DISCONNECT_BY_APPLICATION, b"credentials changed: log in again")
            return False
        if not self.transport.factory.admit_unit(self.transport, user.unit, user.epoch):
            logout()
            log.info("SFTP login by {unit} refused: too many sessions", unit=user.unit)
            self.transport.sendDisconnect(transport.DISCONNECT_TOO_MANY_CONNECTIONS, b"too many sessions for this unit")
            return False
        log.info("SFTP login by {unit}", unit=user.unit)
        self.transport.logged_in()
        return True


class SFTPOnlySession(session.SSHSession):
    """A session channel that accepts only the ``sftp`` subsystem (no shell, exec, pty, X11, agent, env)."""

    def __init__(self, *args, **kwargs):
        kwargs["localWindow"] = CHANNEL_WINDOW_BYTES
        kwargs["localMaxPacket"] = CHANNEL_MAX_PACKET_BYTES
        super().__init__(*args, **kwargs)

    def requestReceived(self, requestType, data):
        if requestType != b"subsystem":
            return 0
        return super().requestReceived(requestType, data)


class DropBoxTransferServer(BoundedFileTransferServer):
    """Conch's SFTP server with a bounded packet size, an answer to every request, no per-request logging
    (``BoundedFileTransferServer``), and uploads thrown away (not completed) when the connection is lost."""

    max_packet_bytes = MAX_SFTP_PACKET

    def __init__(self, box, on_ended=lambda: None):
        super().__init__(avatar=box)  # the drop box provides ISFTPServer itself
        self.on_ended = on_ended

    def on_oversized_packet(self, length):
        log.info("SFTP packet of {length} bytes refused", length=length)

    def on_request_failure(self, name):
        log.failure("SFTP request {kind} failed", kind=name)

    def connectionLost(self, reason):
        self.client.session_ended()
        self.on_ended()
        self.openFiles = {}
        super().connectionLost(reason)


class DropBoxUser(avatar.ConchUser):
    """A logged-in unit over SSH: one ``session`` channel type, one ``sftp`` subsystem."""

    def __init__(self, unit, make_box, epoch=None):
        super().__init__()
        self.unit = unit
        self.epoch = epoch
        self.make_box = make_box
        self.channelLookup = {b"session": SFTPOnlySession}
        self.subsystemLookup = {b"sftp": self._sftp}
        self.boxes = []
        self._pressing = set()

    def lookupChannel(self, channelType, windowSize, maxPacket, data):
        conn = getattr(self, "conn", None)
        if conn is not None and len(conn.channels) >= MAX_CHANNELS_PER_CONNECTION:
            raise error.ConchError(
                connection.OPEN_ADMINISTRATIVELY_PROHIBITED, f"at most {MAX_CHANNELS_PER_CONNECTION} channels at once"
            )
        return super().lookupChannel(channelType, windowSize, maxPacket, data)

    def _sftp(self, data, avatar=None):
        box = self.make_box(self.unit, on_pressure=self._pressure, on_busy=self._busy)
        self.boxes.append(box)  # the SFTP sessions still open (a channel's end removes its box)
        return DropBoxTransferServer(box, on_ended=lambda: self._sftp_ended(box))

    def _sftp_ended(self, box):
        if box in self.boxes:
            self.boxes.remove(box)

    def _tcp(self):
        conn = getattr(self, "conn", None)
        return getattr(getattr(conn, "transport", None), "transport", None)

    def _pressure(self, key, paused):
        """Pause reading from the client while an upload's writes pile up (resume when all have drained)."""
        tcp = self._tcp()
        before = bool(self._pressing)
        if paused:
            self._pressing.add(id(key))
        else:
            self._pressing.discard(id(key))
        if tcp is None or before == bool(self._pressing):
            return
        if self._pressing:
            tcp.pauseProducing()
        else:
            tcp.resumeProducing()

    def _busy(self, delta):
        ssh = getattr(getattr(self, "conn", None), "transport", None)
        if ssh is not None and hasattr(ssh, "set_busy"):
            ssh.set_busy(delta)

    def logout(self):
        for box in self.boxes:
            box.session_ended()
        self.boxes = []


class DropBoxSSHFactory(factory.SSHFactory):
    protocol = ModernDropBoxTransport
    services: ClassVar[dict[bytes, type]] = {
        b"ssh-userauth": UnitUserAuthServer,
        b"ssh-connection": _twisted.DataConnection,
    }

    def __init__(self, portal, host_key, limits, clock, *, is_banned=lambda host: False):
        """``is_banned(host)``: True for an address banned for failed logins (``auth.Defender.is_banned``)."""
        self.portal = portal
        self.is_banned = is_banned
        self.clock = clock
        self.privateKeys = {b"ssh-ed25519": host_key}
        self.publicKeys = {b"ssh-ed25519": host_key.public()}
        self.primes = None
        self.idle_timeout_seconds = limits.idle_timeout_seconds
        self.login_grace_seconds = getattr(limits, "login_grace_seconds", LOGIN_GRACE_SECONDS)
        self.sessions_per_unit = limits.sessions_per_unit
        self.sessions_per_source = limits.sessions_per_source
        self.per_source = collections.Counter()
        self.per_unit = collections.Counter()
        self.buckets = collections.OrderedDict()  # source -> (tokens, time), bounded
        self.logged_in = set()  # the transports that have logged in
        self.epochs = {}  # unit -> its newest credential epoch seen by the credential watch (None: disabled)

    def _rate_ok(self, host):
        now = self.clock.seconds()
        tokens, then = self.buckets.pop(host, (CONNECTION_BURST, now))
        tokens = min(CONNECTION_BURST, tokens + (now - then) * CONNECTIONS_PER_SECOND)
        ok = tokens >= 1
        self.buckets[host] = (tokens - 1 if ok else tokens, now)
        while len(self.buckets) > 10_000:
            self.buckets.popitem(last=False)
        return ok

    def buildProtocol(self, addr):
        host = getattr(addr, "host", None)
        if self.is_banned(host):  # closed at accept, before the version banner and key exchange (as HTTPS does)
            return None  # (the ban was logged when it began)
        if self.per_source[host] >= self.sessions_per_source:
            log.info("SSH connection refused: too many sessions from one source")
            return None
        if not self._rate_ok(host):
            log.info("SSH connection refused: too many new connections from one source")
            return None
        t = super().buildProtocol(addr)
        t.source = host
        self.per_source[host] += 1
        return t

    def admit_unit(self, t, unit, epoch=None):
        if self.per_unit[unit] >= self.sessions_per_unit:
            return False
        self.per_unit[unit] += 1
        t.unit = unit
        t.epoch = epoch
        self.logged_in.add(t)
        return True

    def login_ended(self, unit, epoch):
        """True when the credential watch has seen ``unit``'s credentials change since a login under ``epoch``
        (a login whose password check raced the change)."""
        return unit in self.epochs and self.epochs[unit] != epoch

    def end_unit(self, unit, epoch):
        """The unit's credentials changed (its epoch is now ``epoch``; None: disabled): close each of its
        connections that logged in under another epoch; its uploads in progress are thrown away. Returns how
        many."""
        self.epochs[unit] = epoch
        ended = [t for t in self.logged_in if t.unit == unit and (epoch is None or t.epoch != epoch)]
        for t in ended:
            log.info("SFTP session of {unit} closed: its credentials changed", unit=unit)
            t.sendDisconnect(transport.DISCONNECT_BY_APPLICATION, b"credentials changed: log in again")
        return len(ended)

    def session_ended(self, t):
        source = getattr(t, "source", None)
        if self.per_source[source] > 0:
            self.per_source[source] -= 1
            if not self.per_source[source]:
                del self.per_source[source]
        self.logged_in.discard(t)
        if t.unit is not None:
            self.per_unit[t.unit] -= 1
            if not self.per_unit[t.unit]:
                del self.per_unit[t.unit]
            t.unit = None


def conch_user_factory(*, intake, store, run_db):
    """The realm's factory for ``IConchUser`` avatars: a :class:`DropBoxUser` with a drop box per SFTP session.
    ``unit`` is the :class:`identity.Unit` the realm made at login; the drop box hands it to intake as it is."""

    def make_user(unit, epoch=None):
        def make_box(_name, **kwargs):
            return DropBox(unit, intake=intake, store=store, run_db=run_db, epoch=epoch, **kwargs)

        user = DropBoxUser(str(unit), make_box, epoch)
        return user, user.logout

    return make_user


class SFTPService(ListeningService):
    """Listens for SSH (SFTP only) on the endpoint ``description`` (``config.server.sftp_endpoint``)."""

    listening_format = "SFTP listening on {host}:{port}"
    #: The replies of a read (an upload's WRITE statuses, window adjusts) sent in the reactor event that read it: with
    #: Twisted's port every such read cost two ``epoll_ctl`` and a write event of its own (docs/performance.md,
    #: session 9).
    port_class = _twisted.PromptWritePort

    def __init__(self, config, portal, reactor, description=None, *, source_banned=lambda host: False):
        super().__init__(reactor, config.server.sftp_endpoint if description is None else description)
        self.config = config
        self.portal = portal
        self.source_banned = source_banned  # an address banned for failed logins (auth.Defender)

    def make_factory(self):
        host_key = keys.Key.fromFile(str(self.config.ssh_host_key_path))
        if host_key.type() != "Ed25519":
            raise ValueError(f"the SSH host key {self.config.ssh_host_key_path} must be ed25519")
        self.factory = DropBoxSSHFactory(
            self.portal, host_key, self.config.limits, self.reactor, is_banned=self.source_banned
        )
        return self.factory

    def end_unit(self, unit, epoch):
        """For the credential watch: :meth:`DropBoxSSHFactory.end_unit`, once listening."""
        factory = getattr(self, "factory", None)
        return factory.end_unit(unit, epoch) if factory is not None else 0
