"""``sendemodul admin keys ...``: the yearly rotation of the TPF and SSB age keys (issue 24)."""

import click

from sendemodul import config
from sendemodul.cli.admin_options import ACTOR, home_option
from sendemodul.store import Store


@click.group("keys")
def keys_group():
    """The TPF and SSB age keys in the key directory <home>/keys/.

    \b
    Example:
      sendemodul admin keys rotate --year 2027 --ssb-recipient "$(cat ssb-2027.agekey.pub)"
    """


@keys_group.command("rotate")
@home_option
@click.option("--year", required=True, type=click.IntRange(2000, 2099), help="The reporting year of the new keys.")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["age-pq", "age"]),
    default="age-pq",
    show_default=True,
    help="age-pq: hybrid post-quantum (ML-KEM-768 + X25519, age1pq1...); age: classic X25519.",
)
@click.option(
    "--ssb-recipient",
    metavar="RECIPIENT",
    help="SSB's public key for the year (from 'sendemodul keygen --type age-pq' at SSB). Required outside "
    "a dev home; a dev home makes SSB's key itself.",
)
@click.option(
    "--valid-from",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day [default: today, or 1 January of YEAR if earlier].",
)
@click.option("--valid-to", type=click.DateTime(["%Y-%m-%d"]), help="Last day [default: 31 December of YEAR + 1].")
def keys_rotate(home, year, key_type, ssb_recipient, valid_from, valid_to):
    """Add the TPF and SSB keys of a new reporting year: tpf-YEAR and ssb-YEAR.

    The TPF's new identity is added to <home>/private/tpf.agekey beside the earlier ones, so containers sealed to
    earlier years' keys (classic ones too) keep opening; the public keys go to <home>/keys/. From valid-from on,
    new containers and packages are sealed to the year's keys only (post-quantum keys win over classic ones that are
    still current). A running server and pseudonymizer pick the new keys up by themselves.

    \b
    Example:
      sendemodul admin keys rotate --year 2027 --type age-pq --ssb-recipient age1pq1...
    """
    from sendemodul import rotation

    cfg = config.load(home)
    rotated = rotation.rotate(
        cfg,
        year,
        key_type=key_type,
        ssb_recipient=ssb_recipient,
        valid_from=valid_from.date() if valid_from else None,
        valid_to=valid_to.date() if valid_to else None,
    )
    store = Store.open(cfg.store_location)
    store.audit(
        "keys.rotate",
        actor=ACTOR,
        detail={"year": year, "type": key_type, "keys": [rotated.tpf.key_id, rotated.ssb.key_id]},
    )
    store.close()
    for key in (rotated.tpf, rotated.ssb):
        click.echo(
            f"Wrote {cfg.keys_dir / (key.key_id + '.toml')} ({key_type}, valid {key.valid_from} to {key.valid_to})"
        )
    for path in rotated.identity_files:
        click.echo(f"Added the new identity to {path} (mode 0600)")
