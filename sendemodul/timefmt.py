"""How sendemodul writes and shows a moment: one UTC text form for the database, manifests, packages and the audit log
(``2026-01-05T09:30:00Z``, which sorts as it reads), and one Norwegian display form for pages, letters and e-mail
(``05.01.2026 kl. 10:30``, Europe/Oslo, DST-aware). Pure: no clock of its own except in :func:`utc_now_text`."""

import datetime
import zoneinfo

#: The UTC text form: seconds, a literal ``Z``.
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: The Norwegian display form, in Oslo time.
DISPLAY_FORMAT = "%d.%m.%Y kl. %H:%M"
#: Norwegian time: receipt dates, reception windows, the morning e-mail's hour.
OSLO = zoneinfo.ZoneInfo("Europe/Oslo")


def utc_text(moment: datetime.datetime) -> str:
    """An aware datetime as ``2026-01-05T09:30:00Z``."""
    return moment.astimezone(datetime.UTC).strftime(UTC_FORMAT)


def utc_now_text() -> str:
    """Now, in the UTC text form."""
    return utc_text(datetime.datetime.now(datetime.UTC))


def parse_utc_text(text: str) -> datetime.datetime:
    """``2026-01-05T09:30:00Z`` -> an aware UTC datetime; ValueError if ``text`` is not in that form."""
    return datetime.datetime.strptime(text, UTC_FORMAT).replace(tzinfo=datetime.UTC)


def oslo_display(moment: datetime.datetime) -> str:
    """An aware datetime as ``05.01.2026 kl. 10:30`` in Norwegian time."""
    return moment.astimezone(OSLO).strftime(DISPLAY_FORMAT)


def oslo_display_of_text(text: str | None) -> str:
    """``2027-01-15T07:00:00Z`` -> ``15.01.2027 kl. 08:00``; an empty or missing time -> ``""``."""
    return oslo_display(parse_utc_text(text)) if text else ""
