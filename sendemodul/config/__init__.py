"""Configuration: one TOML file under the state home, loaded once, validated, frozen, passed down.

The home is ``$SENDEMODUL_HOME`` or ``./var``. Every key has a safe default; an unknown key or a bad value is a
:class:`~sendemodul.errors.ConfigError` naming the key. There are no global settings: callers get a ``Config``.

The package: ``sections`` holds the frozen dataclasses (one per TOML section) and ``Config``; ``parsing`` reads and
validates the file (``load``, ``parse``, the migration of old keys); ``template`` renders the commented file
``admin init`` writes. Every name is re-exported here: callers write ``from sendemodul import config``.
"""

from sendemodul.config.parsing import DEFAULT_HOME, PROCESS_ROLES, default_home, load, parse
from sendemodul.config.sections import (
    CONFIG_NAME,
    FORWARDER_MODES,
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
    ServerConfig,
    SftpConfig,
    StaffConfig,
    Window,
    WorkerConfig,
)
from sendemodul.config.template import render_default
from sendemodul.errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_HOME",
    "FORWARDER_MODES",
    "PROCESS_ROLES",
    "AuthConfig",
    "Config",
    "ConfigError",
    "Expected",
    "ForwarderConfig",
    "LimitsConfig",
    "LogConfig",
    "MailConfig",
    "MetricsConfig",
    "ProcessConfig",
    "Reminder",
    "ServerConfig",
    "SftpConfig",
    "StaffConfig",
    "Window",
    "WorkerConfig",
    "default_home",
    "load",
    "parse",
    "render_default",
]
