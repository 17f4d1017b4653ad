"""The configuration's shape: one frozen dataclass per TOML section, a :class:`Window` per ``[[window]]``, and
:class:`Config`, the whole. Every field's default is the safe value a missing key gets."""

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sendemodul import endpoint_strings

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

CONFIG_NAME = "config.toml"


@dataclass(frozen=True)
class ServerConfig:
    #: Where the fronts listen: Twisted endpoint strings (``twisted.internet.endpoints.serverFromString``), e.g.
    #: ``tcp:8443:interface=0.0.0.0``, ``tcp6:8443:interface=\\:\\:``, ``haproxy:tcp:8443``. The HTTPS front adds
    #: its own TLS (the certificate from the home) to this socket, so it is ``tcp``, not ``ssl``. Older files'
    #: ``https_port``, ``sftp_port`` and ``interface`` are still read and become these strings.
    https_endpoint: str = "tcp:8443:interface=127.0.0.1"
    sftp_endpoint: str = "tcp:8022:interface=127.0.0.1"
    #: Public base URL shown to users (receipts, e-mails, the start-up banner).
    public_url: str = "https://127.0.0.1:8443"
    log_client_ip: bool = False

    @property
    def https_port(self) -> int | None:
        """The HTTPS port of a TCP endpoint (0: a free one is picked), else None."""
        return endpoint_strings.tcp_port(self.https_endpoint)

    @property
    def sftp_port(self) -> int | None:
        """The SFTP port of a TCP endpoint (0: a free one is picked), else None."""
        return endpoint_strings.tcp_port(self.sftp_endpoint)

    @property
    def interface(self) -> str | None:
        """The address the HTTPS front listens on ("" for all), else the SFTP front's, else None."""
        for description in (self.https_endpoint, self.sftp_endpoint):
            interface = endpoint_strings.tcp_interface(description)
            if interface is not None:
                return interface
        return None


@dataclass(frozen=True)
class AuthConfig:
    #: Threads that compute Argon2id hashes (each needs about 19 MiB while it works); at most one per core is used.
    hash_threads: int = 4
    #: Logins waiting for or in the hash pool before new ones are answered "busy" at once.
    max_pending_logins: int = 32
    #: Delay added after every failed login (seconds).
    failure_delay_seconds: float = 1.0
    #: Failures from one source (IP address) within the window before it is banned.
    source_ban_score: int = 20
    source_window_seconds: int = 600
    source_ban_seconds: int = 900
    #: Failures for one unit within the window that raise an audit event and an admin warning.
    unit_warn_failures: int = 10
    unit_window_seconds: int = 3600
    #: A unit that logged in with its PIN logs in again without a new Argon2id hash for this long (0: never), so a
    #: storm of wrong PINs filling the hash pool does not lock it out. Memory only: a keyed MAC, never the PIN.
    verified_cache_seconds: int = 900
    #: The budget of Argon2id hashes for logins from a network (IPv4 /24, IPv6 /56) that the unit has not logged in
    #: from within ``known_source_days`` (:mod:`sendemodul.hash_budget`): per claimed unit, per source address and
    #: for the whole front (never less than ``max_pending_logins``), each refilled over ``hash_budget_seconds``. A
    #: login that finds its budget spent is answered "busy" at once, without a hash; a successful login gives its
    #: tokens back, so only wrong PINs spend them. 0 seconds: no budget (every login hashed, as before issue 25).
    hash_budget_seconds: int = 60
    hash_budget_per_unit: int = 10
    hash_budget_per_source: int = 10
    hash_budget_total: int = 120
    known_source_days: int = 30
    #: How often the server looks for units whose credentials changed (``admin pin issue``/``revoke``, ``unit
    #: disable``, ``sshkey remove``, run by the admin CLI in another process) and ends their open SFTP connections
    #: and web sessions. Each web request and each upload also checks the unit's credential epoch itself.
    credential_poll_seconds: float = 1.0
    #: How often the server reads the bans the other fronts of a cluster decided (docs/cluster.md).
    ban_poll_seconds: float = 1.0
    #: The web login has two steps: the unit's four fields and PIN, then a person of the unit ("Hvem er du?": their
    #: e-mail and a TOTP or recovery code, or a passkey), and the web session is the person's. The API and SFTP stay
    #: unit logins (PIN or SSH key) either way. false: the unit's PIN alone opens the web pages, as before persons.
    web_requires_person: bool = True


@dataclass(frozen=True)
class LimitsConfig:
    max_upload_bytes: int = 4 * 1024**3
    idle_timeout_seconds: int = 60
    #: An HTTP request's line and headers must be complete this long after the connection or the previous
    #: request (against slowloris clients that trickle a byte at a time).
    header_timeout_seconds: int = 30
    #: An SSH connection must have logged in this long after it was opened; an HTTPS request that has not logged in
    #: (a form's body, an upload without valid credentials) must be complete this long after its connection opened
    #: or the previous request on it ended.
    login_grace_seconds: int = 60
    max_upload_seconds: int = 4 * 3600
    sessions_per_unit: int = 4
    sessions_per_source: int = 16
    #: Uploads one unit may have in progress at once, over both fronts together.
    uploads_per_unit: int = 8
    #: Open HTTPS connections from one address (browsers open about six).
    https_connections_per_source: int = 64
    #: Threads for file writes and container verification.
    io_threads: int = 8
    #: Web sessions end after this long without a request.
    session_idle_seconds: int = 900
    #: Web sessions end this long after their login, however busy (an absolute lifetime; not renewed by requests).
    session_max_seconds: int = 8 * 3600
    #: An enrolment link (the e-mailed one-time link to take the login in use) is valid this long. Its page warns
    #: before it runs out, and "more time" gives it this long again from then (WCAG 2.2.1).
    enrolment_link_seconds: int = 72 * 3600


@dataclass(frozen=True)
class SftpConfig:
    #: Accept RSA user-key signatures made with SHA-1 (``ssh-rsa``), which OpenSSH 8.8 and later refuse by default.
    #: Only for a client that can sign with nothing else; rsa-sha2-256 and rsa-sha2-512 are always accepted.
    accept_ssh_rsa_sha1: bool = False


@dataclass(frozen=True)
class LogConfig:
    #: Minimum level on the console: debug, info, warn, error, critical.
    console_level: str = "info"
    #: JSON log file, relative to the home.
    json_file: str = "log/sendemodul.json"


@dataclass(frozen=True)
class WorkerConfig:
    #: The server starts the pseudonymizer and the forwarder as supervised child processes (else run them yourself
    #: with ``sendemodul worker`` and ``sendemodul forwarder``).
    embedded: bool = True
    #: Seconds between looks for new work.
    poll_seconds: float = 0.5
    #: Pseudonym key version (the HKDF info names it; raise it to rotate every pseudonym).
    key_version: int = 1
    #: When another pseudonymizer (forwarder) already runs, wait and take over when it ends, instead of exiting:
    #: for a cluster, where every front starts both and PostgreSQL lets one of each run (docs/cluster.md).
    standby: bool = False


@dataclass(frozen=True)
class StoreConfig:
    #: Empty: the embedded SQLite database ``<home>/sendemodul.db``. ``postgresql://user@host:5432/dbname``: a
    #: PostgreSQL database shared by every front of a cluster (fill it with ``sendemodul admin migrate-store``).
    url: str = ""


FORWARDER_MODES = ("dir", "sftp")


@dataclass(frozen=True)
class ForwarderConfig:
    #: ``dir``: move packages into ``directory`` (default ``<home>/ssb-inbox``); ``sftp``: push to SSB's server.
    mode: str = "dir"
    directory: str = ""
    host: str = ""
    port: int = 22
    username: str = ""
    #: Our SSH private key (path; relative to the home) and SSB's pinned host key ("ssh-ed25519 AAAA...").
    private_key: str = ""
    host_key: str = ""
    remote_dir: str = "."
    timeout_seconds: float = 30.0
    #: Exponential backoff after a failed delivery: retry_seconds, doubled each time, at most max_retry_seconds.
    retry_seconds: float = 5.0
    max_retry_seconds: float = 3600.0
    poll_seconds: float = 0.5
    #: SSB's answers come back the same way (issue 17). ``dir`` mode: the folder SSB puts them in (default
    #: ``<home>/ssb-answers``); ``sftp`` mode: the folder on SSB's server the forwarder reads them from ("" reads
    #: none). Read answers move to ``done/`` or ``refused/`` below it.
    answers_directory: str = ""
    answers_remote_dir: str = ""
    #: Seconds between looks for new answers.
    answers_poll_seconds: float = 5.0


@dataclass(frozen=True)
class MailConfig:
    #: The morning e-mail (08:00 Europe/Oslo) to each unit with activity; off until a relay is configured.
    enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    from_address: str = "sendemodul@localhost"
    #: Local hour (Europe/Oslo) of the morning e-mail.
    send_hour: int = 8
    #: Missed days (server down at 08:00) caught up at the next start, at most this many.
    catch_up_days: int = 7
    check_seconds: float = 30.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class MetricsConfig:
    #: Prometheus metrics, ``/healthz`` and ``/readyz`` on a listener of their own (off by default). Keep it on
    #: loopback (or a management network): the metrics carry no unit, person or file name, but they are not public.
    enabled: bool = False
    listen: str = "tcp:9464:interface=127.0.0.1"
    #: HTTP Basic credentials for every path on the metrics listener (both or neither); required when ``listen`` is
    #: not a loopback address.
    username: str = ""
    password: str = ""
    #: How often the gauges read from the database and the files are refreshed (off the reactor thread).
    refresh_seconds: float = 15.0
    #: ``/readyz``: the spool's file system must have at least this much free space, and the pseudonymizer's and
    #: the forwarder's heartbeats must be younger than ``heartbeat_max_seconds``.
    min_free_bytes: int = 1024**3
    heartbeat_max_seconds: float = 60.0


@dataclass(frozen=True)
class StaffConfig:
    #: SSB/TPF staff read the status page ``/admin/status`` on the HTTPS front with HTTP Basic: user ``staff`` and
    #: the token in ``<home>/private/staff-token`` (``sendemodul admin staff-token`` makes one; only its SHA-256 is
    #: kept). Off by default: no token file, no page.
    enabled: bool = False


@dataclass(frozen=True)
class ProcessConfig:
    #: Production: the users the front, the pseudonymizer and the forwarder run as (all three, or none). Started as
    #: root, the server drops to them (the front after binding its ports); ``admin init`` as root gives each the
    #: files it needs and only those (docs/operations.md). Empty (the dev default): everything runs as the caller.
    front_user: str = ""
    worker_user: str = ""
    forwarder_user: str = ""
    #: The group the three share for the database and the spool (each user must be a member).
    group: str = "sendemodul"


@dataclass(frozen=True)
class Window:
    """When uploads for one register (or ``*``, every register) and periode are received.

    ``opens``..``deadline``: on time; after ``deadline`` until ``closes``: accepted and marked late; ``pauses``:
    closed spells inside (e.g. before a publication). ``test_opens``..``test_closes``: a test period whose uploads
    are marked test and never forwarded. All dates are inclusive, in Norwegian local time.
    """

    register: str
    periode: int
    opens: datetime.date | None = None
    deadline: datetime.date | None = None
    closes: datetime.date | None = None
    pauses: tuple[tuple[datetime.date, datetime.date], ...] = ()
    test_opens: datetime.date | None = None
    test_closes: datetime.date | None = None


#: Who may review a register's deliveries before they go to SSB (``[[review]] by``).
REVIEWER_ROLES = ("statsforvalter",)


@dataclass(frozen=True)
class Review:
    """``[[review]]``: deliveries of ``register`` wait after pseudonymizing, before forwarding, for a reviewer with
    role ``by`` for the unit's fylke (issue 17), who approves them (queued to SSB) or returns them to the unit."""

    register: str
    by: str = "statsforvalter"


OSLO_MODES = ("kommune", "bydeler")


@dataclass(frozen=True)
class Expected:
    """Which units must report ``register`` (``*``: every register) for ``periode`` (None: every periode), beyond
    the default of every kommune valid in the periode's code list as a whole (``KKKK-00``).

    ``oslo``: ``kommune`` (0301-00) or ``bydeler`` (each of Oslo's reporting bydeler, 0301-01 .. 0301-15);
    ``add`` and ``exclude``: regions ``KKKK-BB`` added to or taken from the list."""

    register: str
    periode: int | None = None
    oslo: str = "kommune"
    add: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reminder:
    """Reminder e-mails ("purring") for ``register`` (``*``: every register) and ``periode`` (None: every periode
    that has a window with a deadline): on each day ``deadline - n`` for n in ``days_before`` and ``deadline + n``
    for n in ``days_after``, at ``mail.send_hour``, every unit still missing gets one e-mail."""

    register: str
    periode: int | None = None
    days_before: tuple[int, ...] = ()
    days_after: tuple[int, ...] = ()


@dataclass(frozen=True)
class Config:
    home: Path
    environment: str = "dev"
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    sftp: SftpConfig = field(default_factory=SftpConfig)
    log: LogConfig = field(default_factory=LogConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    forwarder: ForwarderConfig = field(default_factory=ForwarderConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    staff: StaffConfig = field(default_factory=StaffConfig)
    windows: tuple[Window, ...] = ()
    expected: tuple[Expected, ...] = ()
    reminders: tuple[Reminder, ...] = ()
    reviews: tuple[Review, ...] = ()

    def review_for(self, register: str) -> Review | None:
        """The ``[[review]]`` of ``register``, or None when its deliveries go straight to SSB."""
        return next((r for r in self.reviews if r.register == register), None)

    def window_for(self, register: str, periode: int) -> Window | None:
        """The reporting window for ``register`` and ``periode`` (an exact register wins over ``*``), or None."""
        exact = [w for w in self.windows if w.periode == periode and w.register == register]
        wildcard = [w for w in self.windows if w.periode == periode and w.register == "*"]
        return next(iter(exact or wildcard), None)

    def expected_for(self, register: str, periode: int) -> Expected:
        """The ``[[expected]]`` table for ``register`` and ``periode``: an exact register before ``*``, an exact
        periode before none; the default (every kommune, Oslo as a whole) when none matches."""

        def rank(e: Expected) -> tuple[int, int]:
            return (e.register == register, e.periode == periode)

        matches = [e for e in self.expected if e.register in (register, "*") and e.periode in (periode, None)]
        return max(matches, key=rank, default=Expected(register=register, periode=periode))

    # Paths under the home. Everything the server keeps lives here.
    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def db_path(self) -> Path:
        return self.home / "sendemodul.db"

    @property
    def store_location(self) -> "str | Path":
        """Where the store is: ``[store] url``, else the embedded SQLite file."""
        return self.store.url or self.db_path

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def private_dir(self) -> Path:
        return self.home / "private"

    @property
    def tls_cert_path(self) -> Path:
        return self.home / "tls" / "server.pem"

    @property
    def ssh_host_key_path(self) -> Path:
        return self.home / "ssh" / "host_ed25519"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def log_path(self) -> Path:
        return self.home / self.log.json_file


_SECTIONS: "dict[str, type[DataclassInstance]]" = {
    "server": ServerConfig,
    "auth": AuthConfig,
    "limits": LimitsConfig,
    "sftp": SftpConfig,
    "log": LogConfig,
    "worker": WorkerConfig,
    "forwarder": ForwarderConfig,
    "mail": MailConfig,
    "process": ProcessConfig,
    "store": StoreConfig,
    "metrics": MetricsConfig,
    "staff": StaffConfig,
}
