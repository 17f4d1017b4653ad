import io
import json

from twisted.logger import Logger, LogPublisher

from sendemodul import auth, config, logs

FNR = "05011399292"
DUF = "201234567891"


def _emit(tmp_path, **fields):
    cfg = config.Config(home=tmp_path)
    console = io.StringIO()
    publisher = LogPublisher(logs.make_observer(cfg, console))
    Logger(namespace="sendemodul.test", observer=publisher).info("event {unit} {detail}", **fields)
    return console.getvalue(), cfg.log_path.read_text()


def test_sensitive_fields_are_removed_from_file_and_console(tmp_path):
    pin = auth.generate_pin()
    console, logfile = _emit(
        tmp_path,
        unit="0301-12-958935420",
        detail="ok",
        pin=pin,
        password=pin,
        fnr=FNR,
        filename="oslo-11f.tar",
        private_key="AGE-SECRET-KEY-1XYZ",
        content=b"secret data",
        path="/spool/x",
    )
    for text in (console, logfile):
        for secret in (pin, FNR, "oslo-11f.tar", "AGE-SECRET-KEY-1XYZ", "secret data", "/spool/x"):
            assert secret not in text
    event = json.loads(logfile.strip().split("\n")[-1].lstrip("\x1e"))
    assert event["unit"] == "0301-12-958935420" and event["pin"] == logs.REMOVED and event["filename"] == logs.REMOVED
    assert "event 0301-12-958935420 ok" in console


def test_id_numbers_and_pins_inside_other_values_are_masked(tmp_path):
    pin = auth.generate_pin()
    console, logfile = _emit(tmp_path, unit="x", detail=f"row had {FNR} and {DUF[:6]} {DUF[6:]}, pin {pin.lower()}")
    assert FNR not in console + logfile and DUF[6:] not in console + logfile
    assert logs.REMOVED in console
    # a lower-case PIN is masked too (PINs are case-insensitive)
    assert pin.lower() not in (console + logfile).lower()


def test_ordinary_values_pass(tmp_path):
    console, _ = _emit(tmp_path, unit="0301-12-958935420", detail="reference R-2026-000123 size 1048576")
    assert "reference R-2026-000123 size 1048576" in console


def test_log_file_is_private(tmp_path):
    _emit(tmp_path, unit="x", detail="y")
    assert (tmp_path / "log" / "sendemodul.json").stat().st_mode & 0o777 == 0o600
