"""Reading ``<home>/config.toml``: TOML in, a validated :class:`~sendemodul.config.sections.Config` out.

Every key is checked for its type and range; an unknown key or a bad value is a ConfigError naming the key. Keys of
older files are still read and turned into their new form (``[server]``'s ports become endpoint strings).
"""

import dataclasses
import datetime
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sendemodul import endpoint_strings
from sendemodul.config.sections import (
    _SECTIONS,
    CONFIG_NAME,
    FORWARDER_MODES,
    OSLO_MODES,
    REVIEWER_ROLES,
    AuthConfig,
    Config,
    Expected,
    ForwarderConfig,
    LimitsConfig,
    LogConfig,
    MailConfig,
    MetricsConfig,
    ProcessConfig,
    Reminder,
    Review,
    ServerConfig,
    StoreConfig,
    Window,
    WorkerConfig,
)
from sendemodul.errors import ConfigError
from sendemodul.registers import REGISTERS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_T = TypeVar("_T")
_S = TypeVar("_S", bound="DataclassInstance")

DEFAULT_HOME = "var"


def default_home() -> Path:
    """The state home: ``$SENDEMODUL_HOME``, else ``./var``."""
    return Path(os.environ.get("SENDEMODUL_HOME") or DEFAULT_HOME).absolute()


#: Keys of ``[server]`` from before endpoint strings, turned into ``https_endpoint``/``sftp_endpoint`` on load.
_OLD_SERVER_KEYS = {"https_port": "https_endpoint", "sftp_port": "sftp_endpoint"}


def _migrate_server(raw: object) -> object:
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
            default_port = endpoint_strings.tcp_port(getattr(ServerConfig, new))
            assert default_port is not None  # the defaults are TCP endpoints with a port
            port = default_port
        raw[new] = endpoint_strings.tcp(port, interface)
    return raw


_ENVIRONMENTS = ("dev", "test", "production")
_LEVELS = ("debug", "info", "warn", "error", "critical")
#: A user or group name as useradd accepts it (Debian's default NAME_REGEX, without the trailing $ of machines).
_ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PROCESS_ROLES = ("front", "worker", "forwarder")


def _check_type(key: str, value: Any, expected: type[_T]) -> _T:
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
    return cast(_T, float(value) if expected is float else value)


def _build_section(name: str, cls: type[_S], raw: object) -> _S:
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {name!r} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        full = f"{name}.{key}"
        if key not in fields:
            raise ConfigError(f"unknown config key {full!r}")
        expected = cast("type[Any]", fields[key].type)  # the sections annotate their fields with classes
        values[key] = _check_type(full, value, expected)
    section = cls(**values)
    _validate_section(name, section)
    return section


def _positive(section: object, name: str, *keys: str) -> None:
    for key in keys:
        if getattr(section, key) <= 0:
            raise ConfigError(f"config key '{name}.{key}' must be greater than 0")


def _validate_section(name: str, section: object) -> None:
    if name == "server":
        assert isinstance(section, ServerConfig)  # for the type checker: _SECTIONS["server"] built it
        for key in ("https_endpoint", "sftp_endpoint"):
            try:
                endpoint_strings.check(getattr(section, key))
            except endpoint_strings.BadDescription as e:
                raise ConfigError(f"config key 'server.{key}' {e}") from None
        if not section.public_url.startswith("https://"):
            raise ConfigError("config key 'server.public_url' must start with https://")
    elif name == "auth":
        assert isinstance(section, AuthConfig)  # for the type checker: _SECTIONS["auth"] built it
        _positive(
            section,
            name,
            "hash_threads",
            "max_pending_logins",
            "source_ban_score",
            "source_window_seconds",
            "source_ban_seconds",
            "unit_warn_failures",
            "unit_window_seconds",
            "credential_poll_seconds",
            "ban_poll_seconds",
            "hash_budget_per_unit",
            "hash_budget_per_source",
            "hash_budget_total",
        )
        for key in ("hash_budget_seconds", "known_source_days"):
            if getattr(section, key) < 0:
                raise ConfigError(f"config key 'auth.{key}' must not be negative")
        if section.failure_delay_seconds < 0:
            raise ConfigError("config key 'auth.failure_delay_seconds' must not be negative")
        if section.verified_cache_seconds < 0:
            raise ConfigError("config key 'auth.verified_cache_seconds' must not be negative")
        if section.max_pending_logins < section.hash_threads:
            raise ConfigError("config key 'auth.max_pending_logins' must be at least auth.hash_threads")
    elif name == "limits":
        assert isinstance(section, LimitsConfig)  # for the type checker: _SECTIONS["limits"] built it
        _positive(section, name, *(f.name for f in dataclasses.fields(section)))
    elif name == "worker":
        assert isinstance(section, WorkerConfig)  # for the type checker: _SECTIONS["worker"] built it
        _positive(section, name, "poll_seconds", "key_version")
    elif name == "forwarder":
        assert isinstance(section, ForwarderConfig)  # for the type checker: _SECTIONS["forwarder"] built it
        _positive(
            section,
            name,
            "timeout_seconds",
            "retry_seconds",
            "max_retry_seconds",
            "poll_seconds",
            "answers_poll_seconds",
        )
        if section.mode not in FORWARDER_MODES:
            raise ConfigError(f"config key 'forwarder.mode' must be one of {', '.join(FORWARDER_MODES)}")
        if not 0 < section.port <= 65535:
            raise ConfigError("config key 'forwarder.port' must be a port number 1-65535")
        if section.mode == "sftp":
            for key in ("host", "username", "private_key", "host_key"):
                if not getattr(section, key):
                    raise ConfigError(f"config key 'forwarder.{key}' is required when forwarder.mode is sftp")
    elif name == "mail":
        assert isinstance(section, MailConfig)  # for the type checker: _SECTIONS["mail"] built it
        _positive(section, name, "smtp_port", "catch_up_days", "check_seconds", "timeout_seconds")
        if not 0 <= section.send_hour <= 23:
            raise ConfigError("config key 'mail.send_hour' must be an hour 0-23")
        if "@" not in section.from_address:
            raise ConfigError("config key 'mail.from_address' must be an e-mail address")
    elif name == "process":
        assert isinstance(section, ProcessConfig)  # for the type checker: _SECTIONS["process"] built it
        users = {role: getattr(section, f"{role}_user") for role in PROCESS_ROLES}
        for key, value in [*((f"{role}_user", user) for role, user in users.items()), ("group", section.group)]:
            if value and not _ACCOUNT_RE.match(value):
                raise ConfigError(f"config key 'process.{key}' must be a user or group name like sendemodul-front")
        if any(users.values()):
            for role, user in users.items():
                if not user:
                    raise ConfigError(f"config key 'process.{role}_user' is required when any process user is set")
            if len(set(users.values())) != len(users):
                raise ConfigError(
                    "config keys 'process.front_user', 'process.worker_user' and "
                    "'process.forwarder_user' must name three different users"
                )
            for role, user in users.items():
                if user == "root":
                    raise ConfigError(f"config key 'process.{role}_user' must not be root")
            if not section.group:
                raise ConfigError("config key 'process.group' is required when the process users are set")
    elif name == "store":
        assert isinstance(section, StoreConfig)  # for the type checker: _SECTIONS["store"] built it
        if section.url and not section.url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("config key 'store.url' must be empty (SQLite in the home) or a postgresql:// URL")
    elif name == "metrics":
        assert isinstance(section, MetricsConfig)  # for the type checker: _SECTIONS["metrics"] built it
        _positive(section, name, "refresh_seconds", "heartbeat_max_seconds")
        if section.min_free_bytes < 0:
            raise ConfigError("config key 'metrics.min_free_bytes' must not be negative")
        try:
            endpoint_strings.check(section.listen)
        except endpoint_strings.BadDescription as e:
            raise ConfigError(f"config key 'metrics.listen' {e}") from None
        if bool(section.username) != bool(section.password):
            raise ConfigError("config keys 'metrics.username' and 'metrics.password' go together (both or neither)")
        interface = endpoint_strings.tcp_interface(section.listen)
        loopback = interface is not None and (interface.startswith("127.") or interface in ("::1", "localhost"))
        if section.enabled and not loopback and not section.username:
            raise ConfigError(
                "config key 'metrics.listen' is not a loopback address: set metrics.username and metrics.password"
            )
    elif name == "log":
        assert isinstance(section, LogConfig)  # for the type checker: _SECTIONS["log"] built it
        if section.console_level not in _LEVELS:
            raise ConfigError(f"config key 'log.console_level' must be one of {', '.join(_LEVELS)}")
        if Path(section.json_file).is_absolute() or ".." in Path(section.json_file).parts:
            raise ConfigError("config key 'log.json_file' must be a path inside the home")


def _build_window(index: int, raw: object) -> Window:
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
    values: dict[str, Any] = {"register": raw["register"], "periode": raw["periode"]}
    for key in ("opens", "deadline", "closes", "test_opens", "test_closes"):
        if key in raw:
            if not isinstance(raw[key], datetime.date) or isinstance(raw[key], datetime.datetime):
                raise ConfigError(f"config key '{name}.{key}' must be a date like 2027-01-15")
            values[key] = raw[key]
    pauses: list[tuple[datetime.date, datetime.date]] = []
    for pause in raw.get("pauses", []):
        if (
            not isinstance(pause, list)
            or len(pause) != 2
            or not all(isinstance(d, datetime.date) and not isinstance(d, datetime.datetime) for d in pause)
            or pause[0] > pause[1]
        ):
            raise ConfigError(f"config key '{name}.pauses' must be a list of [from, to] date pairs")
        pauses.append((pause[0], pause[1]))
    values["pauses"] = tuple(pauses)
    window = Window(**values)
    if (window.opens is None) != (window.closes is None):
        raise ConfigError(f"config key '{name}' needs both opens and closes (or neither, for a test-only window)")
    if window.opens and window.closes and not window.opens <= (window.deadline or window.opens) <= window.closes:
        raise ConfigError(f"config key '{name}' must have opens <= deadline <= closes")
    if (window.test_opens is None) != (window.test_closes is None) or (
        window.test_opens and window.test_closes and window.test_opens > window.test_closes
    ):
        raise ConfigError(f"config key '{name}' needs test_opens <= test_closes (both or neither)")
    if window.opens is None and window.test_opens is None:
        raise ConfigError(f"config key '{name}' opens nothing: give opens/closes or test_opens/test_closes")
    return window


def _build_review(index: int, raw: object) -> Review:
    name = f"review[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {name!r} must be a table")
    for key in raw:
        if key not in ("register", "by"):
            raise ConfigError(f"unknown config key '{name}.{key}'")
    if raw.get("register") not in REGISTERS:
        raise ConfigError(f"config key '{name}.register' must be one of {', '.join(REGISTERS)}")
    by = raw.get("by", "statsforvalter")
    if by not in REVIEWER_ROLES:
        raise ConfigError(f"config key '{name}.by' must be one of {', '.join(REVIEWER_ROLES)}")
    return Review(register=raw["register"], by=by)


_REGION_RE = re.compile(r"^\d{4}-\d{2}$")


def _table(name: str, raw: object, cls: type[Any]) -> dict[str, Any]:
    """``raw`` as a dict whose keys are all fields of ``cls`` and that has ``register`` (checked)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {name!r} must be a table")
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(f"unknown config key '{name}.{key}'")
    if "register" not in raw:
        raise ConfigError(f"config key '{name}.register' is required")
    if raw["register"] not in (*REGISTERS, "*"):
        raise ConfigError(f"config key '{name}.register' must be one of {', '.join(REGISTERS)} or *")
    if "periode" in raw:
        _check_type(f"{name}.periode", raw["periode"], int)
    return raw


def _build_expected(index: int, raw: object) -> Expected:
    name = f"expected[{index}]"
    table = _table(name, raw, Expected)
    oslo = _check_type(f"{name}.oslo", table.get("oslo", "kommune"), str)
    if oslo not in OSLO_MODES:
        raise ConfigError(f"config key '{name}.oslo' must be one of {', '.join(OSLO_MODES)}")
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("add", "exclude"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and _REGION_RE.match(v) for v in value):
            raise ConfigError(f"config key '{name}.{key}' must be a list of regions like \"0301-01\"")
        lists[key] = tuple(value)
    return Expected(
        register=table["register"], periode=table.get("periode"), oslo=oslo, add=lists["add"], exclude=lists["exclude"]
    )


def _build_reminder(index: int, raw: object) -> Reminder:
    name = f"reminder[{index}]"
    table = _table(name, raw, Reminder)
    days: dict[str, tuple[int, ...]] = {}
    for key in ("days_before", "days_after"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 366 for v in value
        ):
            raise ConfigError(f"config key '{name}.{key}' must be a list of day counts 0-366")
        days[key] = tuple(sorted(set(value)))
    if not days["days_before"] and not days["days_after"]:
        raise ConfigError(f"config key '{name}' sends nothing: give days_before or days_after")
    return Reminder(
        register=table["register"],
        periode=table.get("periode"),
        days_before=days["days_before"],
        days_after=days["days_after"],
    )


def parse(text: str, home: str | os.PathLike[str]) -> Config:
    """Build a :class:`Config` from TOML text. Raises ConfigError naming the offending key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file is not valid TOML: {e}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "server":
            values[key] = _build_section(key, ServerConfig, _migrate_server(value))
        elif key in _SECTIONS:
            values[key] = _build_section(key, _SECTIONS[key], value)
        elif key == "window":
            if not isinstance(value, list):
                raise ConfigError("config key 'window' must be an array of tables ([[window]])")
            values["windows"] = tuple(_build_window(i, w) for i, w in enumerate(value))
        elif key == "review":
            if not isinstance(value, list):
                raise ConfigError("config key 'review' must be an array of tables ([[review]])")
            values["reviews"] = tuple(_build_review(i, r) for i, r in enumerate(value))
            registers = [r.register for r in values["reviews"]]
            if len(set(registers)) != len(registers):
                raise ConfigError("config key 'review' names a register twice")
        elif key in ("expected", "reminder"):
            if not isinstance(value, list):
                raise ConfigError(f"config key {key!r} must be an array of tables ([[{key}]])")
            if key == "expected":
                values["expected"] = tuple(_build_expected(i, t) for i, t in enumerate(value))
            else:
                values["reminders"] = tuple(_build_reminder(i, t) for i, t in enumerate(value))
        elif key == "environment":
            values[key] = _check_type(key, value, str)
            if value not in _ENVIRONMENTS:
                raise ConfigError(f"config key 'environment' must be one of {', '.join(_ENVIRONMENTS)}")
        else:
            raise ConfigError(f"unknown config key {key!r}")
    return Config(home=Path(home).absolute(), **values)


def load(home: str | os.PathLike[str] | None = None) -> Config:
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
