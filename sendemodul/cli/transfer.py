"""``sendemodul upload``: send a container to the server (municipal side), with a progress bar; prints the receipt."""

import base64
import http.client
import json
import ssl
import textwrap
import urllib.parse
from pathlib import Path

import click

from sendemodul.errors import UsageError

CHUNK_BYTES = 256 * 1024


class UploadFailed(UsageError):
    """The upload failed."""

    code = "upload_failed"


def read_pin(path):
    try:
        pin = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise UsageError(f"cannot read the PIN file {path}: {e.strerror}") from None
    if not pin:
        raise UsageError(f"the PIN file {path} is empty")
    return pin


def https_upload(url, container, *, unit, pin, cacert=None, progress=None, timeout=600):
    """PUT ``container`` to ``url`` (``https://host:port``); returns (HTTP status, JSON body)."""
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=str(cacert) if cacert else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=context, timeout=timeout)
    size = container.stat().st_size
    token = base64.b64encode(f"{unit}:{pin}".encode()).decode("ascii")
    path = "/api/v1/uploads/" + urllib.parse.quote(container.name)
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Authorization", f"Basic {token}")
        conn.putheader("Content-Type", "application/x-tar")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        try:
            with open(container, "rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    conn.send(chunk)
                    if progress:
                        progress(len(chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (login failed, too large); its answer follows
        response = conn.getresponse()
        raw = response.read()
    except ssl.SSLCertVerificationError as e:
        raise UploadFailed(
            f"the server's TLS certificate is not trusted ({e.verify_message}); "
            "for a dev server pass --cacert <home>/tls/server.pem"
        ) from None
    except (OSError, http.client.HTTPException) as e:
        raise UploadFailed(f"the connection to {parts.netloc} failed: {e}") from None
    finally:
        conn.close()
    try:
        body = json.loads(raw)
    except ValueError:
        raise UploadFailed(f"the server answered {response.status} {response.reason} without a receipt") from None
    return response.status, body


@click.command()
@click.option("--unit", required=True, help="The unit, KOMMUNENR-BYDEL-ORGNR.")
@click.option(
    "--pin-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding the unit's PIN (kept out of the command line and shell history).",
)
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust this CA certificate (PEM), e.g. a dev server's <home>/tls/server.pem.",
)
@click.option(
    "--ssh-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SFTP: log in with this SSH private key (registered with 'admin sshkey add') instead of the PIN.",
)
@click.option(
    "--known-hosts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SFTP: trust the server's host key listed in this known_hosts file.",
)
@click.option(
    "--host-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SFTP: trust this host public key, e.g. a dev server's <home>/ssh/host_ed25519.pub.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
@click.argument("url")
@click.argument("container", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload(unit, pin_file, cacert, ssh_key, known_hosts, host_key, as_json, url, container):
    """Send CONTAINER (made by 'sendemodul encrypt') to the server at URL and print the receipt.

    URL is https://HOST:PORT or sftp://HOST:PORT. Exit code 0 means the server accepted the file and it will be
    processed. Over SFTP the server's host key must be known (--known-hosts or --host-key).

    \b
    Example:
      sendemodul upload --unit 0301-00-958935420 --pin-file pin.txt --cacert var/tls/server.pem \\
          https://127.0.0.1:8443 oslo-11f-2026.tar
      sendemodul upload --unit 0301-00-958935420 --ssh-key ~/.ssh/id_ed25519 \\
          --host-key var/ssh/host_ed25519.pub sftp://127.0.0.1:8022 oslo-11f-2026.tar
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "sftp":
        body = _sftp(
            url, container, unit=unit, pin_file=pin_file, ssh_key=ssh_key, known_hosts=known_hosts, host_key=host_key
        )
        return _print_receipt(body, as_json)
    if scheme != "https":
        raise UsageError(f"URL must start with https:// or sftp:// (got {url!r})")
    if not pin_file:
        raise UsageError("give --pin-file with the unit's PIN")
    pin = read_pin(pin_file)
    size = container.stat().st_size
    with click.progressbar(
        length=size,
        label=f"Sending {container.name}",
        file=click.get_text_stream("stderr"),
        show_pos=False,
        show_percent=True,
    ) as bar:
        status, body = https_upload(url, container, unit=unit, pin=pin, cacert=cacert, progress=bar.update)
    if status not in (200, 201):
        raise UploadFailed(f"refused ({status} {body.get('error')}): {body.get('message')}")
    _print_receipt(body, as_json)


def _sftp(url, container, *, unit, pin_file, ssh_key, known_hosts, host_key):
    """The sftp:// branch of ``upload``: paramiko, with a progress bar; returns the receipt read back."""
    from sendemodul.sftp.client import sftp_upload

    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise UsageError(f"URL must be sftp://HOST:PORT (got {url!r})")
    if not ssh_key and not pin_file:
        raise UsageError("give --pin-file with the unit's PIN, or --ssh-key with a registered SSH key")
    pin = None if ssh_key else read_pin(pin_file)
    with click.progressbar(
        length=container.stat().st_size,
        label=f"Sending {container.name}",
        file=click.get_text_stream("stderr"),
        show_pos=False,
        show_percent=True,
    ) as bar:
        return sftp_upload(
            parts.hostname,
            parts.port or 22,
            container,
            unit=unit,
            pin=pin,
            ssh_key=ssh_key,
            known_hosts=known_hosts,
            host_key=host_key,
            progress=bar.update,
        )


def _print_receipt(body, as_json):
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    click.echo(("Already received earlier: " if body.get("duplicate") else "Accepted. ") + "Receipt:")
    for key in ("reference", "unit", "register", "periode", "size", "sha256", "received_at", "status"):
        click.echo(f"  {key:<12} {body[key]}")
    if body.get("message"):  # what counts now: this upload, a newer one, or (a test) none
        click.echo(textwrap.fill(body["message"], width=100, initial_indent="  ", subsequent_indent="  "))
    elif body.get("test"):
        click.echo("  (a test upload: checked, never forwarded to SSB)")
    if body.get("late"):
        click.echo("  (after the deadline: it will still be processed)")


def register(cli):
    cli.add_command(upload)
