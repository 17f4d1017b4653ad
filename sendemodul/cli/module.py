"""``sendemodul module build|sign|verify``: a release of the encryption module as one signed HTML file
(docs/browser-module.md)."""

import datetime
import subprocess
from pathlib import Path

import click

from sendemodul import config, keydir, signing
from sendemodul.browser import release


def _keys(keys_dir):
    return keydir.load_key_dir(keydir.find_key_dir(keys_dir, config.default_home()))


def _source_commit():
    """The checkout's commit, or ``unknown`` for an installed package (pass --source-commit then)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=release.source_dir(), capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


_KEYS_OPTION = click.option(
    "--keys",
    "keys_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The key directory [default: <home>/keys, else the project's keys/].",
)


@click.group()
def module():
    """Build, sign and verify the browser encryption module (one HTML file that needs no install).

    \b
    Example:
      sendemodul module build --year 2026 -o release/
      sendemodul module sign release/release.json --role ssb --key ssb-release.key --key-id ssb-release-2026
      sendemodul module sign release/release.json --role tpf --key tpf-release.key --key-id tpf-release-2026
      sendemodul module verify release/krypteringsmodul.html
    """


@module.command()
@click.option("--year", type=click.IntRange(2000, 2099), required=True, help="The reporting year the file serves.")
@_KEYS_OPTION
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory to write krypteringsmodul.html and release.json into.",
)
@click.option("--source-commit", help="The source commit to record [default: the checkout's git HEAD].")
def build(year, keys_dir, out_dir, source_commit):
    """Build krypteringsmodul.html and its unsigned release.json.

    The year's TPF and SSB recipients from the key directory and the year's profiles are built into the file;
    it fetches nothing. Needs Node.js and npm (the first build runs 'npm ci' in the module's source folder).
    Two builds of the same commit and keys give the same bytes.

    \b
    Example:
      sendemodul module build --year 2026 -o release/
    """
    result = release.build(out_dir, _keys(keys_dir), year, source_commit=source_commit or _source_commit())
    click.echo(f"Wrote {out_dir / release.FILE_NAME}: {result['size']} bytes")
    click.echo(f"  SHA-256 {result['sha256']}")
    click.echo(f"  keys {', '.join(result['keys'])}; profiles {', '.join(result['profiles'])}")
    click.echo(f"Wrote {out_dir / release.RELEASE_NAME} (unsigned: both SSB and the TPF sign it next)")


@module.command()
@click.argument("release_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--role", type=click.Choice(sorted(release.SIGNER_ROLES)), required=True, help="Who signs.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The signer's Ed25519 private key (PEM, from 'sendemodul keygen').",
)
@click.option(
    "--key-id", required=True, help="The id of its public key in the key directory (role ssb-release or tpf-release)."
)
def sign(release_json, role, key_path, key_id):
    """Add SSB's or the TPF's signature to a release.json.

    \b
    Example:
      sendemodul module sign release/release.json --role ssb --key ssb-release.key --key-id ssb-release-2026
    """
    result = release.sign(release_json, role, signing.load_private_key(key_path), key_id)
    click.echo(
        f"Signed {release_json} as {role.upper()} with {key_id}; signatures: {', '.join(sorted(result['signatures']))}"
    )


@module.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--release",
    "release_json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The release description [default: release.json beside FILE].",
)
@_KEYS_OPTION
def verify(file, release_json, keys_dir):
    """Check a krypteringsmodul.html against its release.json: size, SHA-256, and both signatures (SSB's and the
    TPF's) against the key directory's ssb-release and tpf-release keys. Prints the SHA-256 to compare.

    \b
    Example:
      sendemodul module verify krypteringsmodul.html
      sendemodul module verify Downloads/krypteringsmodul.html --release Downloads/release.json
    """
    release_json = release_json or file.with_name(release.RELEASE_NAME)
    result = release.verify(file, release_json, _keys(keys_dir), datetime.date.today())
    click.echo(f"OK: {file} is release {result.version}, {result.size} bytes")
    click.echo(f"  SHA-256 {result.sha256}")
    click.echo(f"  signed by SSB ({result.signers['ssb']}) and the TPF ({result.signers['tpf']})")


def register(cli):
    cli.add_command(module)
