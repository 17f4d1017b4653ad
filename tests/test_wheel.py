"""The built wheel works on its own: installed into a fresh venv and run from outside the checkout, it finds its
templates, static files, profiles, default keys and ``twistd.tac`` (issue 13: ``TemplateNotFound`` from a wheel)."""

import os
import shutil
import signal
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT
from server import DEMO, Server
from test_web_api import curl

pytestmark = pytest.mark.integration

#: What ``pip wheel`` needs from the checkout; copied, so that a stale ``build/`` there cannot leak into the wheel.
SOURCES = ["pyproject.toml", "README.md", "sendemodul", "templates", "keys", "twistd.tac"]
TIMEOUT_SECONDS = 600


def _run(*cmd, cwd, env=None):
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
    )
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip wheel --no-deps`` of the working tree, installed with its dependencies into a venv without the
    checkout's site-packages; the venv's ``sendemodul`` script."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    (source / "keys" / "stray.key").write_text("a private key left in keys/ by mistake\n")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", base / "dist", source, cwd=base)
    (wheel,) = (base / "dist").glob("sendemodul-*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", wheel, cwd=base)
    return wheel, venv / "bin" / "sendemodul"


def test_the_wheel_carries_the_templates_static_files_profiles_keys_and_tac(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [
        "sendemodul/templates/pin-letter.html.j2",
        "sendemodul/templates/check-report.html.j2",
        "sendemodul/templates/web/login.html.j2",
        "sendemodul/templates/mail/morning.txt.j2",
        "sendemodul/templates/static/style.css",
        "sendemodul/templates/static/opplasting.js",
        "sendemodul/profiles/11F-2026.toml",
        "sendemodul/data/kommuner.csv",
        "sendemodul/keys/README.md",
        "sendemodul/twistd.tac",
        "sendemodul/locale/nb/LC_MESSAGES/sendemodul.mo",
        "sendemodul/locale/nn/LC_MESSAGES/sendemodul.mo",
    ]:
        assert name in names, name
    assert not [name for name in names if name.endswith(".key")], "only public key files ship from keys/"


def test_the_installed_wheel_issues_a_letter_checks_an_extract_serves_a_page_and_takes_an_upload(installed, tmp_path):
    """From a directory outside the checkout: admin init --dev, pin issue --letter, demo-extract, check --format html,
    encrypt, serve; a page and a static file over HTTPS, an upload answered 201 by curl, a clean stop; and the server
    process never opened a file of the checkout."""
    _, script = installed
    work = tmp_path / "work"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SENDEMODUL_HOME"] = str(work / "home")
    where = _run(script.parent / "python", "-c", "import sendemodul; print(sendemodul.__file__)", cwd=work, env=env)
    assert where.stdout.startswith(f"{script.parent.parent}/lib/"), where.stdout

    server = Server(work / "home", script=script).init()
    letter = _run(script, "admin", "pin", "issue", DEMO, "--letter", "l.html", cwd=work, env=env)
    server.pin = letter.stdout.strip().splitlines()[-1]
    assert "0301-00-958935420" in (work / "l.html").read_text() and server.pin not in letter.stderr

    _run(script, "demo-extract", "-r", "11F", "-p", "2026", "-u", DEMO, "-o", "demo.txt", "-n", "20", cwd=work, env=env)
    _run(
        script,
        "check",
        "--format",
        "html",
        "-r",
        "11F",
        "-p",
        "2026",
        "-u",
        DEMO,
        "-o",
        "report.html",
        "demo.txt",
        cwd=work,
        env=env,
    )
    assert "<html" in (work / "report.html").read_text()
    _run(
        script,
        "encrypt",
        "-r",
        "11F",
        "-p",
        "2026",
        "-u",
        DEMO,
        "--signing-key",
        work / "home" / "demo" / "unit.key",
        "demo.txt",
        "-o",
        "demo.tar",
        cwd=work,
        env=env,
    )

    server.start()
    try:
        status, page, _ = curl(server, f"{server.url}/")
        assert status == 200 and "<form" in page, page
        status, page, _ = curl(server, "-H", "Accept-Language: nn", f"{server.url}/")
        assert status == 200 and '<html lang="nn">' in page and "Hopp til hovudinnhaldet" in page, page
        status, css, _ = curl(server, f"{server.url}/static/style.css")
        assert status == 200 and css.strip(), css
        status, receipt, _ = curl(
            server, "-T", str(work / "demo.tar"), f"{server.url}/api/v1/uploads/demo.tar", user=DEMO
        )
        assert status == 201 and receipt["reference"].startswith("SM-"), receipt
    finally:
        output = server.stop()
    assert server.proc.returncode in (0, -signal.SIGTERM), output
    assert "Main loop terminated" in output and "Traceback" not in output, output
    opened = server.opened_log.read_text().splitlines()
    assert any(path.endswith("/site-packages/sendemodul/twistd.tac") for path in opened), opened
    assert not [path for path in opened if path.startswith(f"{ROOT}/")], "the server read files of the checkout"
