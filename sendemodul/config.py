"""Configuration: one TOML file under the state home, loaded once, validated, frozen, passed down.

The home is ``$SENDEMODUL_HOME`` or ``./var``. Every key has a safe default; an unknown key or a bad value is a
:class:`~sendemodul.errors.ConfigError` naming the key. There are no global settings: callers get a ``Config``.
"""

import dataclasses
import datetime
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sendemodul import endpoint_strings
from sendemodul.errors import ConfigError
from sendemodul.registers import REGISTERS

CONFIG_NAME = "config.toml"
DEFAULT_HOME = "var"


def default_home():
    """The state home: ``$SENDEMODUL_HOME``, else ``./var``."""
    return Path(os.environ.get("SENDEMODUL_HOME") or DEFAULT_HOME).absolute()


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
    def https_port(self):
        """The HTTPS port of a TCP endpoint (0: a free one is picked), else None."""
        return endpoint_strings.tcp_port(self.https_endpoint)

    @property
    def sftp_port(self):
        """The SFTP port of a TCP endpoint (0: a free one is picked), else None."""
        return endpoint_strings.tcp_port(self.sftp_endpoint)

    @property
    def interface(self):
        """The address the HTTPS front listens on ("" for all), else the SFTP front's, else None."""
        for description in (self.https_endpoint, self.sftp_endpoint):
            interface = endpoint_strings.tcp_interface(description)
            if interface is not None:
                return interface
        return None


#: Keys of ``[server]`` from before endpoint strings, turned into ``https_endpoint``/``sftp_endpoint`` on load.
_OLD_SERVER_KEYS = {"https_port": "https_endpoint", "sftp_port": "sftp_endpoint"}


def _migrate_server(raw):
    """``[server]`` with the old ``https_port``/``sftp_port``/``interface`` keys turned into endpoint strings
    (``https_port = 8443`` with ``interface = "127.0.0.1"`` -> ``https_endpoint = "tcp:8443:interface=127.0.0.1"``).
    An old key next to the new key for the same listener is an error: which one was meant?"""
    if not isinstance(raw, dict) or not ({"interface", *_OLD_SERVER_KEYS} & raw.keys()):
        return raw
    raw = dict(raw)
    interface = _check_type("server.interface", raw.pop("interface", "127.0.0.1"), str)
    for old, new in _OLD_SERVER_KEYS.items():
        if new in raw:
            if old in raw:
                raise ConfigError(f"config keys 'server.{old}' and 'server.{new}' both given: keep only {new}")
            continue
        if old in raw:
            port = _check_type(f"server.{old}", raw.pop(old), int)
            if not 0 <= port <= 65535:
                raise ConfigError(f"config key 'server.{old}' must be a port number 0-65535")
        else:
            port = endpoint_strings.tcp_port(getattr(ServerConfig, new))
        raw[new] = endpoint_strings.tcp(port, interface)
    return raw


@dataclass(frozen=True)
class AuthConfig:
    #: Threads that compute Argon2id hashes (each needs about 19 MiB while it works).
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
    #: How often the server looks for units whose credentials changed (``admin pin issue``/``revoke``, ``unit
    #: disable``, ``sshkey remove``, run by the admin CLI in another process) and ends their open SFTP connections
    #: and web sessions. Each web request and each upload also checks the unit's credential epoch itself.
    credential_poll_seconds: float = 1.0


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
    pauses: tuple = ()
    test_opens: datetime.date | None = None
    test_closes: datetime.date | None = None


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
    windows: tuple = ()

    def window_for(self, register, periode):
        """The reporting window for ``register`` and ``periode`` (an exact register wins over ``*``), or None."""
        exact = [w for w in self.windows if w.periode == periode and w.register == register]
        wildcard = [w for w in self.windows if w.periode == periode and w.register == "*"]
        return (exact or wildcard or [None])[0]

    # Paths under the home. Everything the server keeps lives here.
    @property
    def config_path(self):
        return self.home / CONFIG_NAME

    @property
    def db_path(self):
        return self.home / "sendemodul.db"

    @property
    def spool_dir(self):
        return self.home / "spool"

    @property
    def private_dir(self):
        return self.home / "private"

    @property
    def tls_cert_path(self):
        return self.home / "tls" / "server.pem"

    @property
    def ssh_host_key_path(self):
        return self.home / "ssh" / "host_ed25519"

    @property
    def keys_dir(self):
        return self.home / "keys"

    @property
    def log_path(self):
        return self.home / self.log.json_file


_SECTIONS = {"server": ServerConfig, "auth": AuthConfig, "limits": LimitsConfig, "sftp": SftpConfig,
             "log": LogConfig, "worker": WorkerConfig, "forwarder": ForwarderConfig, "mail": MailConfig,
             "process": ProcessConfig}
_ENVIRONMENTS = ("dev", "test", "production")
_LEVELS = ("debug", "info", "warn", "error", "critical")
#: A user or group name as useradd accepts it (Debian's default NAME_REGEX, without the trailing $ of machines).
_ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PROCESS_ROLES = ("front", "worker", "forwarder")


def _check_type(key, value, expected):
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ConfigError(f"config key {key!r} must be {expected.__name__}, not {type(value).__name__} ({value!r})")
    return float(value) if expected is float else value


def _build_section(name, cls, raw):
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {name!r} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        full = f"{name}.{key}"
        if key not in fields:
            raise ConfigError(f"unknown config key {full!r}")
        expected = fields[key].type
        values[key] = _check_type(full, value, expected)
    section = cls(**values)
    _validate_section(name, section)
    return section


def _positive(section, name, *keys):
    for key in keys:
        if getattr(section, key) <= 0:
            raise ConfigError(f"config key '{name}.{key}' must be greater than 0")


def _validate_section(name, section):
    if name == "server":
        for key in ("https_endpoint", "sftp_endpoint"):
            try:
                endpoint_strings.check(getattr(section, key))
            except endpoint_strings.BadDescription as e:
                raise ConfigError(f"config key 'server.{key}' {e}") from None
        if not section.public_url.startswith("https://"):
            raise ConfigError("config key 'server.public_url' must start with https://")
    elif name == "auth":
        _positive(section, name, "hash_threads", "max_pending_logins", "source_ban_score", "source_window_seconds",
                  "source_ban_seconds", "unit_warn_failures", "unit_window_seconds", "credential_poll_seconds")
        if section.failure_delay_seconds < 0:
            raise ConfigError("config key 'auth.failure_delay_seconds' must not be negative")
        if section.verified_cache_seconds < 0:
            raise ConfigError("config key 'auth.verified_cache_seconds' must not be negative")
        if section.max_pending_logins < section.hash_threads:
            raise ConfigError("config key 'auth.max_pending_logins' must be at least auth.hash_threads")
    elif name == "limits":
        _positive(section, name, *(f.name for f in dataclasses.fields(section)))
    elif name == "worker":
        _positive(section, name, "poll_seconds", "key_version")
    elif name == "forwarder":
        _positive(section, name, "timeout_seconds", "retry_seconds", "max_retry_seconds", "poll_seconds")
        if section.mode not in FORWARDER_MODES:
            raise ConfigError(f"config key 'forwarder.mode' must be one of {', '.join(FORWARDER_MODES)}")
        if not 0 < section.port <= 65535:
            raise ConfigError("config key 'forwarder.port' must be a port number 1-65535")
        if section.mode == "sftp":
            for key in ("host", "username", "private_key", "host_key"):
                if not getattr(section, key):
                    raise ConfigError(f"config key 'forwarder.{key}' is required when forwarder.mode is sftp")
    elif name == "mail":
        _positive(section, name, "smtp_port", "catch_up_days", "check_seconds", "timeout_seconds")
        if not 0 <= section.send_hour <= 23:
            raise ConfigError("config key 'mail.send_hour' must be an hour 0-23")
        if "@" not in section.from_address:
            raise ConfigError("config key 'mail.from_address' must be an e-mail address")
    elif name == "process":
        users = {role: getattr(section, f"{role}_user") for role in PROCESS_ROLES}
        for key, value in [*((f"{role}_user", user) for role, user in users.items()), ("group", section.group)]:
            if value and not _ACCOUNT_RE.match(value):
                raise ConfigError(f"config key 'process.{key}' must be a user or group name like sendemodul-front")
        if any(users.values()):
            for role, user in users.items():
                if not user:
                    raise ConfigError(f"config key 'process.{role}_user' is required when any process user is set")
            if len(set(users.values())) != len(users):
                raise ConfigError("config keys 'process.front_user', 'process.worker_user' and "
                                  "'process.forwarder_user' must name three different users")
            for role, user in users.items():
                if user == "root":
                    raise ConfigError(f"config key 'process.{role}_user' must not be root")
            if not section.group:
                raise ConfigError("config key 'process.group' is required when the process users are set")
    elif name == "log":
        if section.console_level not in _LEVELS:
            raise ConfigError(f"config key 'log.console_level' must be one of {', '.join(_LEVELS)}")
        if Path(section.json_file).is_absolute() or ".." in Path(section.json_file).parts:
            raise ConfigError("config key 'log.json_file' must be a path inside the home")


def _build_window(index, raw):
    name = f"window[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {name!r} must be a table")
    fields = {f.name for f in dataclasses.fields(Window)}
    for key in raw:
        if key not in fields:
            raise ConfigError(f"unknown config key '{name}.{key}'")
    for key in ("register", "periode"):
        if key not in raw:
            raise ConfigError(f"config key '{name}.{key}' is required")
    if raw["register"] not in (*REGISTERS, "*"):
        raise ConfigError(f"config key '{name}.register' must be one of {', '.join(REGISTERS)} or *")
    _check_type(f"{name}.periode", raw["periode"], int)
    values = {"register": raw["register"], "periode": raw["periode"]}
    for key in ("opens", "deadline", "closes", "test_opens", "test_closes"):
        if key in raw:
            if not isinstance(raw[key], datetime.date) or isinstance(raw[key], datetime.datetime):
                raise ConfigError(f"config key '{name}.{key}' must be a date like 2027-01-15")
            values[key] = raw[key]
    pauses = []
    for pause in raw.get("pauses", []):
        if (not isinstance(pause, list) or len(pause) != 2
                or not all(isinstance(d, datetime.date) and not isinstance(d, datetime.datetime) for d in pause)
                or pause[0] > pause[1]):
            raise ConfigError(f"config key '{name}.pauses' must be a list of [from, to] date pairs")
        pauses.append(tuple(pause))
    values["pauses"] = tuple(pauses)
    window = Window(**values)
    if (window.opens is None) != (window.closes is None):
        raise ConfigError(f"config key '{name}' needs both opens and closes (or neither, for a test-only window)")
    if window.opens and not window.opens <= (window.deadline or window.opens) <= window.closes:
        raise ConfigError(f"config key '{name}' must have opens <= deadline <= closes")
    if (window.test_opens is None) != (window.test_closes is None) or (
            window.test_opens and window.test_opens > window.test_closes):
        raise ConfigError(f"config key '{name}' needs test_opens <= test_closes (both or neither)")
    if window.opens is None and window.test_opens is None:
        raise ConfigError(f"config key '{name}' opens nothing: give opens/closes or test_opens/test_closes")
    return window


def parse(text, home):
    """Build a :class:`Config` from TOML text. Raises ConfigError naming the offending key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file is not valid TOML: {e}") from None
    values = {}
    for key, value in raw.items():
        if key == "server":
            values[key] = _build_section(key, ServerConfig, _migrate_server(value))
        elif key in _SECTIONS:
            values[key] = _build_section(key, _SECTIONS[key], value)
        elif key == "window":
            if not isinstance(value, list):
                raise ConfigError("config key 'window' must be an array of tables ([[window]])")
            values["windows"] = tuple(_build_window(i, w) for i, w in enumerate(value))
        elif key == "environment":
            values[key] = _check_type(key, value, str)
            if value not in _ENVIRONMENTS:
                raise ConfigError(f"config key 'environment' must be one of {', '.join(_ENVIRONMENTS)}")
        else:
            raise ConfigError(f"unknown config key {key!r}")
    return Config(home=Path(home).absolute(), **values)


def load(home=None):
    """Load ``<home>/config.toml``; a missing file means all defaults."""
    home = Path(home).absolute() if home is not None else default_home()
    path = home / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    return parse(text, home)


def render_default(environment="dev"):
    """The commented config file written by ``admin init``: every key with its default.

    A dev home gets open reporting windows for every register, for last year and this year, so that the demo works;
    a production home gets a commented example.
    """
    lines = [
        "# sendemodul configuration. Every key is optional; the value shown is the default.",
        f'environment = "{environment}"   # dev, test or production',
        "",
    ]
    year = datetime.date.today().year
    if environment == "dev":
        for periode in (year - 1, year):
            lines += ["[[window]]   # development: open all year", 'register = "*"', f"periode = {periode}",
                      f"opens = {year}-01-01", f"deadline = {year + 1}-12-31", f"closes = {year + 1}-12-31", ""]
    else:
        lines += [
            "# Reporting windows: uploads outside every window are refused. One table per register (or \"*\") and",
            "# periode; dates inclusive, Norwegian time. Example for periode " + str(year) + ":",
            "# [[window]]",
            '# register = "*"',
            f"# periode = {year}",
            f"# test_opens = {year}-11-01      # test uploads: marked test, never forwarded",
            f"# test_closes = {year}-11-30",
            f"# opens = {year + 1}-01-02",
            f"# deadline = {year + 1}-01-15    # later uploads are marked late",
            f"# closes = {year + 1}-04-15",
            f"# pauses = [[{year + 1}-03-10, {year + 1}-03-15]]   # closed spells, e.g. before a publication",
            "",
        ]
    for name, cls in _SECTIONS.items():
        lines.append(f"[{name}]")
        if name == "server":
            lines += ["# Where the fronts listen, as Twisted endpoint strings: tcp:PORT:interface=ADDRESS (tcp6 for IPv6,",
                      "# haproxy:tcp:PORT behind a PROXY-protocol balancer, systemd:domain=INET:index=N for a socket from",
                      "# systemd). HTTPS adds its own TLS with tls/server.pem, so give a tcp socket, not ssl. Port 0 picks",
                      "# a free port. (Older files' https_port, sftp_port and interface keys are still read.)"]
        for f in dataclasses.fields(cls):
            default = f.default
            if isinstance(default, bool):
                shown = "true" if default else "false"
            elif isinstance(default, str):
                shown = f'"{default}"'
            else:
                shown = repr(default)
            lines.append(f"# {f.name} = {shown}")
        lines.append("")
    return "\n".join(lines)
