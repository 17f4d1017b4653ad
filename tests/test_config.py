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
    cfg = config.parse('[auth]\nhash_threads = 2\nfailure_delay_seconds = 0\n[server]\nsftp_port = 2022\n', tmp_path)
    assert cfg.auth.hash_threads == 2 and cfg.auth.failure_delay_seconds == 0.0 and cfg.server.sftp_port == 2022


@pytest.mark.parametrize("text, key", [
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
])
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
