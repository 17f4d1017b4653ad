import pytest

from sendemodul import config
from sendemodul.errors import ConfigError


def test_missing_file_gives_safe_defaults(tmp_path):
    cfg = config.load(tmp_path)
    assert cfg.home == tmp_path
    assert cfg.server.interface == "127.0.0.1"
    assert cfg.auth.hash_threads >= 1 and cfg.auth.failure_delay_seconds > 0
    assert cfg.db_path == tmp_path / "sendemodul.db"


def test_rendered_default_file_parses_to_the_defaults(tmp_path):
    (tmp_path / "config.toml").write_text(config.render_default("production"))
    cfg = config.load(tmp_path)
    assert cfg.environment == "production"
    assert cfg.auth == config.AuthConfig() and cfg.limits == config.LimitsConfig()


def test_values_override_defaults(tmp_path):
    cfg = config.parse("[auth]\nhash_threads = 2\nfailure_delay_seconds = 0\n[server]\nsftp_port = 2022\n", tmp_path)
    assert cfg.auth.hash_threads == 2 and cfg.auth.failure_delay_seconds == 0.0 and cfg.server.sftp_port == 2022


@pytest.mark.parametrize(
    "text, key",
    [
        ("[auth]\nhash_threds = 2", "auth.hash_threds"),
        ("colour = 1", "colour"),
        ("[auth]\nhash_threads = 'four'", "auth.hash_threads"),
        ("[auth]\nhash_threads = true", "auth.hash_threads"),
        ("[auth]\nhash_threads = 0", "auth.hash_threads"),
        ("[auth]\nfailure_delay_seconds = -1", "auth.failure_delay_seconds"),
        ("[server]\nhttps_port = 70000", "server.https_port"),
        ("[server]\npublic_url = 'http://example.org'", "server.public_url"),
        ("[limits]\nmax_upload_bytes = -5", "limits.max_upload_bytes"),
        ("[log]\nconsole_level = 'loud'", "log.console_level"),
        ("[log]\njson_file = '/etc/passwd'", "log.json_file"),
        ("environment = 'staging'", "environment"),
        ("server = 3", "server"),
    ],
)
def test_bad_value_is_an_error_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as e:
        config.parse(text, tmp_path)
    assert repr(key) in str(e.value) or f"'{key}'" in str(e.value)


def test_invalid_toml_is_a_config_error(tmp_path):
    (tmp_path / "config.toml").write_text("[auth\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(tmp_path)


def test_home_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SENDEMODUL_HOME", str(tmp_path / "x"))
    assert config.default_home() == tmp_path / "x"
    monkeypatch.delenv("SENDEMODUL_HOME")
    assert config.default_home().name == "var"


# -- where the fronts listen: endpoint strings, and the old port keys migrated on load ---------------------------


def test_listeners_default_to_loopback_endpoint_strings(tmp_path):
    server = config.load(tmp_path).server
    assert server.https_endpoint == "tcp:8443:interface=127.0.0.1"
    assert server.sftp_endpoint == "tcp:8022:interface=127.0.0.1"
    assert (server.https_port, server.sftp_port, server.interface) == (8443, 8022, "127.0.0.1")


def test_endpoint_strings_are_read_as_given(tmp_path):
    cfg = config.parse(
        '[server]\nhttps_endpoint = "haproxy:tcp:18443:interface=0.0.0.0"\n'
        'sftp_endpoint = "systemd:domain=INET:index=0"\n',
        tmp_path,
    )
    assert cfg.server.https_endpoint == "haproxy:tcp:18443:interface=0.0.0.0"
    assert (cfg.server.https_port, cfg.server.interface) == (18443, "0.0.0.0")
    assert cfg.server.sftp_port is None


@pytest.mark.parametrize(
    "text, https, sftp",
    [
        ("https_port = 0\nsftp_port = 0", "tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1"),
        ("sftp_port = 2022", "tcp:8443:interface=127.0.0.1", "tcp:2022:interface=127.0.0.1"),
        ('interface = "0.0.0.0"', "tcp:8443:interface=0.0.0.0", "tcp:8022:interface=0.0.0.0"),
        ('interface = "::1"\nhttps_port = 443', r"tcp6:443:interface=\:\:1", r"tcp6:8022:interface=\:\:1"),
        (
            'interface = "10.0.0.1"\nsftp_endpoint = "unix:/run/sftp.sock"',
            "tcp:8443:interface=10.0.0.1",
            "unix:/run/sftp.sock",
        ),
    ],
)
def test_old_port_keys_are_migrated_to_endpoint_strings(tmp_path, text, https, sftp):
    """A config.toml from before endpoint strings keeps working: https_port, sftp_port and interface become
    https_endpoint and sftp_endpoint when it is loaded."""
    (tmp_path / "config.toml").write_text(f"[server]\n{text}\n")
    server = config.load(tmp_path).server
    assert (server.https_endpoint, server.sftp_endpoint) == (https, sftp)


def test_a_migrated_ipv6_endpoint_is_what_twisted_reads():
    from twisted.internet.endpoints import TCP6ServerEndpoint, serverFromString
    from twisted.internet.protocol import Factory
    from twisted.internet.testing import MemoryReactor

    server = config.parse('[server]\ninterface = "::1"\nhttps_port = 443\n', "/nonexistent").server
    reactor = MemoryReactor()
    endpoint = serverFromString(reactor, server.https_endpoint)
    assert isinstance(endpoint, TCP6ServerEndpoint)
    endpoint.listen(Factory())
    assert [(port, interface) for port, _f, _b, interface in reactor.tcpServers] == [(443, "::1")]


@pytest.mark.parametrize(
    "text, key",
    [
        ('https_port = 8443\nhttps_endpoint = "tcp:8443"', "server.https_port"),
        ('https_endpoint = "ssl:8443"', "server.https_endpoint"),
        ('sftp_endpoint = "tcp:port"', "server.sftp_endpoint"),
        ('sftp_endpoint = "tcp:70000"', "server.sftp_endpoint"),
        ('https_endpoint = ""', "server.https_endpoint"),
        ('https_endpoint = "carrier-pigeon:1"', "server.https_endpoint"),
        ('https_endpoint = "haproxy:ssl:8443"', "server.https_endpoint"),
        ('https_endpoint = "haproxy:"', "server.https_endpoint"),
        ("interface = 127", "server.interface"),
        ("sftp_port = -1", "server.sftp_port"),
    ],
)
def test_a_bad_listener_is_an_error_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as e:
        config.parse(f"[server]\n{text}\n", tmp_path)
    assert f"'{key}'" in str(e.value)


def test_the_admin_init_template_documents_the_endpoint_strings(tmp_path):
    text = config.render_default("dev")
    assert '# https_endpoint = "tcp:8443:interface=127.0.0.1"' in text
    assert '# sftp_endpoint = "tcp:8022:interface=127.0.0.1"' in text
    assert "https_port, sftp_port and interface keys are still read" in text
    (tmp_path / "config.toml").write_text(text)
    assert config.load(tmp_path).server == config.ServerConfig()


def test_endpoint_string_grammar():
    from sendemodul import endpoint_strings as es

    assert es.split(r"tcp6:443:interface=\:\:1:backlog=5") == (["tcp6", "443"], {"interface": "::1", "backlog": "5"})
    assert es.socket_type("haproxy:tcp:8443") == "tcp"
    assert es.tcp_port("haproxy:tcp:8443") == 8443 and es.tcp_port("unix:/x") is None
    assert es.tcp_interface("tcp:8443") == "" and es.tcp_interface("unix:/x") is None
    assert es.with_backlog("haproxy:tcp:8443", 1024) == "haproxy:tcp:8443:backlog=1024"
    assert es.with_backlog("tcp:8443:backlog=5", 1024) == "tcp:8443:backlog=5"
    assert es.with_backlog("systemd:domain=INET:index=0", 1024) == "systemd:domain=INET:index=0"


def test_the_backlog_reaches_twisted_through_a_wrapper():
    """``haproxy:`` hands its keywords to the endpoint it wraps, so the backlog we add reaches the socket."""
    from twisted.internet.protocol import Factory
    from twisted.internet.testing import MemoryReactor

    from sendemodul.listening import LISTEN_BACKLOG, server_endpoint

    reactor = MemoryReactor()
    server_endpoint(reactor, "haproxy:tcp:0:interface=127.0.0.1").listen(Factory())
    assert [(port, backlog, interface) for port, _f, backlog, interface in reactor.tcpServers] == [
        (0, LISTEN_BACKLOG, "127.0.0.1")
    ]
