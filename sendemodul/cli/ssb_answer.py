"""SSB's reception: ``sendemodul ssb check`` (the control rules on a delivered package) and ``sendemodul ssb
answer`` (accept it, or return it to the unit with a message and the rows in error), signed with SSB's key."""

import json
import sys
from pathlib import Path

import click

from sendemodul import answer, keydir, reception, signing
from sendemodul.cli.crypto import (
    _throttled,
    package_argument,
    ssb_group,
    ssb_identity_option,
    tpf_key_options,
    tpf_signing_keys,
)
from sendemodul.container import MAX_JSON_BYTES, Manifest, TarReader
from sendemodul.errors import AlreadyExists, ManifestInvalid, UsageError


def _reference_of(package, reference):
    """The package's reference: ``--reference``, else its file name (the forwarder names it ``<reference>.tar``)."""
    value = reference or package.name.removesuffix(".tar")
    if not answer.REFERENCE_PATTERN.fullmatch(value):
        raise UsageError(
            f"cannot tell the reference from the file name {package.name!r}; give --reference SM-YYYYMMDD-XXXXXXXX"
        )
    return value


def _write_new(path, text):
    if path.exists():
        raise AlreadyExists(f"{path} already exists; not overwriting it")
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


_reference_option = click.option(
    "--reference",
    help="The delivery's reference (SM-YYYYMMDD-XXXXXXXX) [default: from the file name, <reference>.tar].",
)


@ssb_group.command(name="check")
@package_argument
@ssb_identity_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The JSON report to write (sendemodul-reception/1), for `ssb answer --report`.",
)
@tpf_key_options
@click.option(
    "--production", is_flag=True, help="Production policy: each synthetic test ID is a WARNING (as in `check`)."
)
@_reference_option
@click.pass_context
def check_command(ctx, package, identity_file, output, keys_dir, tpf_key, production, reference):
    """Run the control rules on a delivered package at reception, as SSB's control programs do.

    Checks the package as `ssb open` does, then runs the same rules as `sendemodul check` on its records (the
    identifiers are pseudonyms here: missing, invalid, synthetic and duplicate IDs are still found; the birth date
    against the fødselsnummer is not). Writes nothing but the report, which names rows by row id and journalnummer.
    The text summary goes to standard output. Exit code 0 OK/INFO, 1 WARNING, 2 ERROR/FATAL.

    \b
    Example:
      sendemodul ssb check SM-20270115-7KQ2XW9D.tar --identity ssb.agekey -o report.json
      sendemodul ssb answer SM-20270115-7KQ2XW9D.tar --return --message "Rett feilene" \\
          --report report.json --signing-key ssb-signing.key -o answer.json
    """
    reference = _reference_of(package, reference)
    if output.exists():
        raise AlreadyExists(f"{output} already exists; not overwriting it")
    tpf_keys = tpf_signing_keys(keys_dir, tpf_key)
    identities = keydir.load_age_identities(identity_file)
    with click.progressbar(length=package.stat().st_size, label="Checking", file=sys.stderr) as bar:
        result = reception.check_package(
            package,
            reference,
            ssb_identities=identities,
            tpf_signing_keys=tpf_keys,
            allow_synthetic=not production,
            progress=_throttled(bar.update),
        )
    _write_new(output, result.to_json())
    click.echo(result.to_text(), nl=False)
    click.echo(f"Wrote {output}")
    ctx.exit(result.report.exit_code)


def _read_manifest(package):
    with open(package, "rb") as source:
        return Manifest.parse(
            TarReader(source).read_member("manifest.json", max_size=MAX_JSON_BYTES, error=ManifestInvalid)
        )


def _errors_from(report_path, reference, manifest):
    """The rows of a ``ssb check`` report for the answer: (errors, omitted). The report must be this package's."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"cannot read the report {report_path}: {e}") from None
    if not isinstance(report, dict) or report.get("format") != reception.REPORT_FORMAT:
        raise UsageError(f"{report_path} is not a report of `sendemodul ssb check` ({reception.REPORT_FORMAT})")
    if report.get("reference") != reference or report.get("container_id") != manifest.container_id:
        raise UsageError(f"{report_path} is the report of another package ({report.get('reference')})")
    findings = report.get("findings") or []
    errors = [
        {key: f.get(key) for key in ("row_id", "journalnr", "severity", "rule", "field", "message")}
        for f in findings[: answer.MAX_ERRORS]
    ]
    omitted = len(findings) - len(errors) + sum((report.get("omitted") or {}).values())
    return errors, omitted


@ssb_group.command(name="answer")
@package_argument
@click.option("--accept", "decision", flag_value="accepted", help="Accept the delivery.")
@click.option(
    "--return", "decision", flag_value="returned", help="Return it to the unit to be corrected and sent again."
)
@click.option(
    "--message",
    default="",
    help=f"What the unit is told (required with --return; at most {answer.MAX_MESSAGE_CHARS} characters).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The report of `ssb check` for this package: its rows go into the answer's error list.",
)
@click.option(
    "--signing-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SSB's Ed25519 signing key (its public half is in the TPF's key directory with role ssb-signing; "
    "dev: <home>/private/ssb-signing.key).",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The answer file.")
@_reference_option
def answer_command(package, decision, message, report_path, signing_key, output, reference):
    """Write SSB's signed answer to a delivered package: --accept, or --return with a message.

    The answer names the package by its reference, its SHA-256 and its container id, lists the rows of the
    report (by row id and journalnummer) and is signed with SSB's key. Put it where the TPF collects answers (dev:
    <home>/ssb-answers/; or SSB's SFTP folder that the TPF reads): the TPF checks it and the unit sees the answer.

    \b
    Example:
      sendemodul ssb answer SM-20270115-7KQ2XW9D.tar --accept --signing-key ssb-signing.key -o answer.json
      sendemodul ssb answer SM-20270115-7KQ2XW9D.tar --return --message "Rett feilene og send på nytt" \\
          --report report.json --signing-key ssb-signing.key -o var/ssb-answers/SM-20270115-7KQ2XW9D.json
    """
    if decision is None:
        raise click.UsageError("give --accept or --return")
    message = message.strip()
    if decision == "returned" and not message:
        raise UsageError("--return needs --message TEXT: what the unit is to correct")
    if len(message) > answer.MAX_MESSAGE_CHARS:
        raise UsageError(f"--message is {len(message)} characters; at most {answer.MAX_MESSAGE_CHARS} are allowed")
    reference = _reference_of(package, reference)
    if output.exists():
        raise AlreadyExists(f"{output} already exists; not overwriting it")
    manifest = _read_manifest(package)
    errors, omitted = _errors_from(report_path, reference, manifest) if report_path else ([], 0)
    data = answer.make_answer(
        reference=reference,
        manifest=manifest,
        package_sha256=answer.package_digest(package),
        decision=decision,
        message=message,
        errors=errors,
        errors_omitted=omitted,
        signing_key=signing.load_private_key(signing_key),
    )
    # written under a temporary name and renamed: a folder the TPF reads never shows half an answer
    tmp = output.with_name(f".{output.name}.part")
    _write_new(tmp, data.decode("utf-8"))
    tmp.rename(output)
    click.echo(f"{reference}: {decision}, {len(errors)} row(s) listed" + (f", {omitted} more" if omitted else ""))
    click.echo(f"Wrote {output}")


def register(cli):
    """The commands join the ``ssb`` group of :mod:`sendemodul.cli.crypto`."""
