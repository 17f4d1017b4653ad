"""``sendemodul admin person``: the reporting persons of units (skjema 999 from the operator's side), their
registers, disabling them, and (dev homes only) a current TOTP code."""

import datetime
import time

import click

from sendemodul import enrolment, identity, persons, totp
from sendemodul.cli.admin_options import ACTOR, emit, home_option, json_option, open_store, unit_argument
from sendemodul.errors import UsageError


@click.group()
def person():
    """Register, list and disable the persons who report for a unit, and set their registers.

    A person logs in to the web pages in two steps: the unit's four fields and PIN, then their own e-mail address
    and a code from an authenticator app (or a recovery code, or a passkey). The API and SFTP stay unit logins.

    \b
    Example:
      sendemodul admin person add 0301-12-958935420 --name "Kari Nordmann" --email kari@example.org \\
          --registers 11F,11CF
    """


def _email_argument(f):
    return click.argument("email", metavar="EMAIL")(f)


def _find(store, unit, email):
    return store.require_person(unit, persons.normalize_email(email))


def _optional_unit(ctx, param, value):
    return None if value is None else identity.parse_unit(value, datetime.date.today().year)


@person.command("add")
@home_option
@click.argument("unit", metavar="[UNIT]", required=False, callback=_optional_unit)
@click.option("--name", required=True, help="The person's full name.")
@click.option("--email", required=True, help="The person's work e-mail address (their login, and where the link goes).")
@click.option(
    "--registers",
    help="Comma-separated registers the person may report: 11F, 11CF, 15F (needed with a UNIT; with --role "
    "statsforvalter: the registers whose deliveries they review).",
)
@click.option("--mobile", default="", help="Mobile number for notices (optional), e.g. '+47 912 34 567'.")
@click.option(
    "--language", type=click.Choice(persons.LANGUAGES), default="nb", show_default=True, help="Written standard."
)
@click.option(
    "--role",
    type=click.Choice(["reporter", persons.REVIEWER_ROLE]),
    default="reporter",
    show_default=True,
    help="reporter: reports the registers for the unit; statsforvalter: reviews the deliveries of the fylke's units "
    "(registers with [[review]]) and decides the fylke's applications for reviewer access (needs --fylke). A "
    "statsforvalter without a UNIT logs in without one, at /statsforvalter.",
)
@click.option("--fylke", help="With --role statsforvalter: the fylkesnummer whose units they review, e.g. 46.")
def person_add(home, unit, name, email, registers, mobile, language, role, fylke):
    """Register a person and e-mail them a single-use enrolment link (valid 72 hours).

    A reporter belongs to a UNIT. A reviewer (--role statsforvalter --fylke NN) is best made without a UNIT: the
    first reviewer of a fylke is made this way, and approves the others' applications for reviewer access in the
    web (/tilgang); they log in with their e-mail address and a code at /statsforvalter.

    The e-mail goes to the SMTP relay when [mail] enabled = true, else it is written as an .eml file under
    <home>/mail/. Registering an existing person again adds the registers (SSB's rule: more registers, a new
    registration); a person who has not enrolled yet gets a new link, and the old one stops working.

    \b
    Example:
      sendemodul admin person add 0301-12-958935420 --name "Kari Nordmann" --email kari@example.org \\
          --registers 11F,11CF --mobile "+47 912 34 567" --language nn
      sendemodul admin person add --role statsforvalter --fylke 46 --name "Ola Vestland" \\
          --email ola@statsforvalteren.example.org
    """
    if role == persons.REVIEWER_ROLE:
        from sendemodul.reviewer_access import fylker_of_year

        known = [f.fylkesnr for f in fylker_of_year()]
        if not fylke or fylke not in known:
            raise UsageError(f"--role statsforvalter needs --fylke, one of {', '.join(known)}")
    elif fylke:
        raise UsageError("--fylke goes with --role statsforvalter only")
    if not name.strip():
        raise UsageError("--name must not be empty")
    if not persons.EMAIL_RE.match(email.strip()):
        raise UsageError(f"--email {email!r} is not an e-mail address")
    if mobile and not persons.MOBILE_RE.match(mobile.strip()):
        raise UsageError(f"--mobile {mobile!r} is not a phone number (8 to 15 digits, optionally with +)")
    if unit is None:
        if role != persons.REVIEWER_ROLE:
            raise UsageError("a UNIT is needed, except for --role statsforvalter (a reviewer of a fylke)")
        if registers:
            raise UsageError("--registers goes with a UNIT only (a reviewer without a unit reviews every register)")
        _add_reviewer(home, name=name.strip(), email=email, language=language, fylke=fylke)
        return
    if not registers:
        raise UsageError("Missing option '--registers' (needed with a UNIT), e.g. --registers 11F,11CF")
    wanted = persons.parse_registers(registers)
    cfg, store = open_store(home)
    unit_row = store.require_unit(unit)
    if unit_row["disabled_at"]:
        raise UsageError(f"unit {unit} is disabled")
    done = enrolment.register(
        cfg,
        store,
        unit,
        name=name.strip(),
        email=email,
        mobile=mobile,
        language=language,
        registers=wanted,
        registration={"unit_name": unit_row["name"]},
        actor=ACTOR,
    )
    p = done.person
    if role == persons.REVIEWER_ROLE:
        store.set_person_role(p["person_id"], role, fylke, actor=ACTOR)
    click.echo(f"Registered {p['person_id']} ({p['email']}) for {unit}: {p['registers']} [{p['state']}]")
    if role == persons.REVIEWER_ROLE:
        click.echo(f"Role statsforvalter for fylke {fylke}: reviews its units' deliveries (/oppgaver/)")
    _mail_report(done)


def _add_reviewer(home, *, name, email, language, fylke):
    from sendemodul import reviewer_access

    cfg, store = open_store(home)
    done = reviewer_access.register_reviewer(
        cfg, store, name=name, email=email, language=language, fylke=fylke, actor=ACTOR
    )
    p = done.person
    click.echo(f"Registered {p['person_id']} ({p['email']}): statsforvalter for fylke {fylke} [{p['state']}]")
    click.echo("Reviews the fylke's deliveries and applications (/oppgaver/); logs in at /statsforvalter")
    _mail_report(done)


def _mail_report(done):
    if done.mail_error:
        raise UsageError(f"the registration is stored, but the e-mail was not sent: {done.mail_error}")
    what = "enrolment link" if done.needs_enrolment else "notice of the new registers"
    where = "to the mail relay" if done.mail == "smtp" else f"as {done.mail}"
    click.echo(f"Sent the {what} {where}")


@person.command("list")
@home_option
@click.argument("unit", metavar="[UNIT]", required=False)
@json_option
def person_list(home, unit, as_json):
    """List persons (of one unit, or all, with the reviewers without a unit) with their registers, state and role.

    \b
    Example:
      sendemodul admin person list 0301-12-958935420 --json
    """
    _, store = open_store(home)
    if unit is not None:
        unit = identity.parse_unit(unit, datetime.date.today().year)
    rows = [
        {
            "person_id": r["person_id"],
            "unit": r["unit"],
            "name": r["name"],
            "email": r["email"],
            "mobile": r["mobile"],
            "language": r["language"],
            "registers": r["registers"],
            "state": r["state"],
            "role": r["role"],
            "fylke": r["fylke"],
            "passkeys": len(store.passkeys(r["person_id"])),
            "recovery_codes_left": store.recovery_codes_left(r["person_id"]),
        }
        for r in store.list_persons(unit)
    ]
    emit(
        rows,
        [
            ("person_id", "PERSON"),
            ("unit", "UNIT"),
            ("name", "NAME"),
            ("email", "E-MAIL"),
            ("registers", "REGISTERS"),
            ("state", "STATE"),
            ("role", "ROLE"),
            ("fylke", "FYLKE"),
            ("recovery_codes_left", "RECOVERY CODES"),
        ],
        as_json,
    )


@person.command("disable")
@home_option
@unit_argument
@_email_argument
def person_disable(home, unit, email):
    """Disable a person: they can no longer log in; their open web sessions end at the next request.

    \b
    Example:
      sendemodul admin person disable 0301-12-958935420 kari@example.org
    """
    _, store = open_store(home)
    row = _find(store, unit, email)
    store.disable_person(row["person_id"], actor=ACTOR)
    click.echo(f"Disabled {row['person_id']} ({row['email']})")


@person.command("disable-reviewer")
@home_option
@_email_argument
def person_disable_reviewer(home, email):
    """Disable a reviewer without a unit (role statsforvalter of a fylke): no login any more; their open web
    sessions end at the next request. An application approved again later makes them enrol anew.

    \b
    Example:
      sendemodul admin person disable-reviewer ola@statsforvalteren.example.org
    """
    _, store = open_store(home)
    row = store.reviewer_by_email(persons.normalize_email(email))
    if row is None:
        raise UsageError(f"no reviewer without a unit has the e-mail address {email}")
    store.disable_person(row["person_id"], actor=ACTOR)
    click.echo(f"Disabled {row['person_id']} ({row['email']}), statsforvalter for fylke {row['fylke']}")


@person.command("registers")
@home_option
@unit_argument
@_email_argument
@click.option(
    "--set", "registers", required=True, help="The registers the person may report from now on: 11F,11CF,15F."
)
def person_registers(home, unit, email, registers):
    """Set the registers a person may report (replacing the old list).

    \b
    Example:
      sendemodul admin person registers 0301-12-958935420 kari@example.org --set 11F,15F
    """
    wanted = persons.parse_registers(registers)
    _, store = open_store(home)
    row = _find(store, unit, email)
    store.set_person_registers(row["person_id"], wanted, actor=ACTOR)
    click.echo(f"{row['person_id']} ({row['email']}) may report {persons.registers_text(wanted)}")


@person.command("code")
@home_option
@unit_argument
@_email_argument
def person_code(home, unit, email):
    """Dev homes only: print the current TOTP code of an enrolled person (what their authenticator app shows).

    Refused in any home that is not a dev home (admin init --dev), so it is never a way around the second factor.

    \b
    Example:
      sendemodul admin person code 0301-00-958935420 demo@example.org
    """
    cfg, store = open_store(home)
    if cfg.environment != "dev":
        raise UsageError("'person code' works only in a dev home (admin init --dev)")
    row = _find(store, unit, email)
    if not row["totp_secret"]:
        raise UsageError(f"{row['email']} has not enrolled yet")
    secret = persons.PersonKey.for_home(cfg.home, create=False).decrypt_secret(row["person_id"], row["totp_secret"])
    click.echo(totp.code_at(secret, time.time()))  # safe: a 30-second code for the dev demo person, dev homes only
