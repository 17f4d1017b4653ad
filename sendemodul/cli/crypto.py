"""Key and container commands: ``sendemodul keygen`` (municipal side) and ``sendemodul ssb open`` (SSB side)."""

import functools
import sys
from datetime import date
from pathlib import Path

import click

from sendemodul import config, keydir, signing, ssb
from sendemodul.errors import AlreadyExists, KeyDirError

_PROGRESS_STEP_BYTES = 1024**2


@click.command()
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file to write; the public key goes to the same name + .pub.",
)
@click.option(
    "--comment",
    default="sendemodul unit signing key",
    show_default=True,
    help="The comment at the end of the public key line (ed25519), or of the identity file (age).",
)
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "age-pq", "age"]),
    default="ed25519",
    show_default=True,
    help="ed25519: the unit's signing key. age-pq: an age key pair of the hybrid post-quantum type "
    "(ML-KEM-768 + X25519; AGE-SECRET-KEY-PQ-1... / age1pq1...), e.g. SSB's key for a year; "
    "age: a classic X25519 age key pair.",
)
def keygen(output, comment, key_type):
    """Make the unit's Ed25519 signing key: OUTPUT (private, PEM PKCS#8, mode 0600) and OUTPUT.pub (OpenSSH line);
    or, with --type age-pq or age, an age key pair: OUTPUT (the identity, mode 0600) and OUTPUT.pub (the recipient).

    Give OUTPUT.pub to the TPF (`admin unit add --signing-key`, or for SSB's age key `admin keys rotate
    --ssb-recipient`); keep OUTPUT secret and pass it to `sendemodul encrypt --signing-key` (or `ssb open
    --identity`). Refuses to overwrite either file.

    \b
    Example:
      sendemodul keygen -o unit.key --comment "0301-12-958935420 KOSTRA"
      sendemodul keygen --type age-pq -o ssb-2027.agekey --comment "SSB 2027"
    """
    if key_type != "ed25519":
        _age_keygen(output, comment, key_type)
        return
    key = signing.write_new_key(output, comment)
    click.echo(f"Wrote {output} (keep it secret) and {output}.pub:")  # safe: names the PIN, never its value
    click.echo(signing.public_line(key, comment), nl=False)


def _age_keygen(output, comment, key_type):
    """An age key pair: the identity in OUTPUT (0600), the recipient in OUTPUT.pub; prints only the recipient."""
    from sendemodul.home import write_file

    public_path = output.with_name(output.name + ".pub")
    for path in (output, public_path):
        if path.exists():
            raise AlreadyExists(f"{path} already exists; not overwriting it")
    secret, recipient = keydir.generate_age_identity(key_type)
    comment_line = " ".join(comment.split())
    write_file(output, f"# {comment_line}\n# public key: {recipient}\n{secret}\n")
    del secret
    write_file(public_path, recipient + "\n", mode=0o644)
    click.echo(f"Wrote {output} (keep it secret) and {public_path}:")  # safe: names the key file, never the secret
    click.echo(recipient)


@click.group(name="ssb")
def ssb_group():
    """SSB's commands: open the packages the TPF delivers, check them at reception, and answer (accept or return).

    \b
    Example:
      sendemodul ssb open SM-20270115-7KQ2XW9D.tar --identity ssb.agekey -o out/
      sendemodul ssb check SM-20270115-7KQ2XW9D.tar --identity ssb.agekey -o report.json
      sendemodul ssb answer SM-20270115-7KQ2XW9D.tar --accept --signing-key ssb-signing.key -o answer.json
    """


#: The package the SSB commands work on (``ssb open``, ``ssb check``, ``ssb answer``).
package_argument = click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
#: SSB's age identities, for the SSB commands that decrypt a package (``ssb open``, ``ssb check``).
ssb_identity_option = click.option(
    "--identity",
    "identity_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SSB's age identity file (AGE-SECRET-KEY-PQ-1... or AGE-SECRET-KEY-1... lines, one per "
    "key: the years' keys side by side).",
)


def tpf_key_options(command):
    """The options that say where the TPF's signing key comes from, ``--keys DIR`` or ``--tpf-key FILE``, shared by
    the SSB commands that check a package's seal (``ssb open``, ``ssb check``); the command gets ``keys_dir`` and
    ``tpf_key`` (for :func:`tpf_signing_keys`) and is not run when both are given."""

    @functools.wraps(command)
    def refusing_both(*args, keys_dir, tpf_key, **kwargs):
        if keys_dir and tpf_key:
            raise click.UsageError("give --keys or --tpf-key, not both")
        return command(*args, keys_dir=keys_dir, tpf_key=tpf_key, **kwargs)

    options = (
        click.option(
            "--keys",
            "keys_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="The key directory with the TPF signing key(s) "
            "[default: $SENDEMODUL_HOME/keys, else the project's keys/].",
        ),
        click.option(
            "--tpf-key",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="The TPF's signing public key (OpenSSH line or base64) instead of the key directory.",
        ),
    )
    for option in reversed(options):
        refusing_both = option(refusing_both)
    return refusing_both


@ssb_group.command(name="open")
@package_argument
@ssb_identity_option
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory for records.csv and <register>-<periode>.dat (created if missing).",
)
@tpf_key_options
@click.option(
    "--unit-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also check the unit's manifest signature with its public key (unit.key.pub).",
)
def open_command(package, identity_file, out_dir, keys_dir, tpf_key, unit_key):
    """Check a package from the TPF and write its records with pseudonyms.

    Verifies the TPF seal's signature, the seal's binding to the manifest and the digests of both parts (and the
    unit's signature with --unit-key), then decrypts. Writes records.csv (row_id, pseudonym and ID class per ID
    field, the record's fields) and the register's own layout with the ID fields blank. Nothing is written unless
    everything checks out.

    \b
    Example:
      sendemodul ssb open package.tar --identity ssb.agekey -o out/ --keys keys/
    """
    tpf_keys = tpf_signing_keys(keys_dir, tpf_key)
    unit_keys = [keydir.parse_ed25519_public_key(unit_key.read_text(encoding="ascii"))] if unit_key else None
    identities = keydir.load_age_identities(identity_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    with click.progressbar(length=package.stat().st_size, label="Opening", file=sys.stderr) as bar:
        opened = ssb.open_package(
            package,
            out_dir,
            ssb_identities=identities,
            tpf_signing_keys=tpf_keys,
            unit_keys=unit_keys,
            progress=_throttled(bar.update),
        )
    seal = opened.seal
    click.echo(
        f"{opened.manifest.unit} {opened.manifest.register} {opened.manifest.periode}: "
        f"{opened.manifest.records} records (container {opened.manifest.container_id})"
    )
    click.echo("ID classes: " + ", ".join(f"{name} {count}" for name, count in sorted(seal.counts.items()) if count))
    click.echo(f"Wrote {opened.csv_path} and {opened.dat_path}")


def tpf_signing_keys(keys_dir, tpf_key):
    """The TPF's signing keys that a package's seal is checked with: the one in the file given as ``--tpf-key``,
    else the ``tpf-signing`` keys of the key directory (``--keys``, else the default one)."""
    if tpf_key:
        key = keydir.RecipientKey(
            tpf_key.stem, "tpf-signing", tpf_key.read_text(encoding="ascii").strip(), date.min, date.max
        )
        key.signing_key()  # refuse a malformed key file before reading the package
        return [key]
    directory = keydir.load_key_dir(keydir.find_key_dir(keys_dir, config.default_home()))
    keys = [key for key in directory if key.role == "tpf-signing"]
    if not keys:
        raise KeyDirError(f"no tpf-signing key in {directory.path}; give --keys DIR or --tpf-key FILE")
    return keys


def _throttled(update):
    """A progress callback that passes bytes on to ``update`` in steps of a MiB (a redraw per read is too slow)."""
    pending = 0

    def progress(n):
        nonlocal pending
        pending += n
        if pending >= _PROGRESS_STEP_BYTES:
            update(pending)
            pending = 0

    return progress


def register(cli):
    cli.add_command(keygen)
    cli.add_command(ssb_group)
