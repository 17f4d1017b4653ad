"""All SQL lives in this package: SQLite (embedded, WAL, hardening pragmas) or PostgreSQL (``[store] url``), one
set of numbered migrations and queries for both.

The ``Store`` is synchronous and thread-safe: every thread gets its own connection (WAL lets readers run beside the
one writer; writers take ``BEGIN IMMEDIATE`` and wait on ``busy_timeout``). Twisted code must never call it on the
reactor thread: it goes through :class:`sendemodul.service.StoreService.run`, which defers to a thread pool. The
admin CLI (no reactor) calls it directly.

Nothing secret is stored: PINs only as Argon2id PHC strings, no ID numbers, no file names from clients, no content.

:class:`Store` is the one public class; its methods come, one concern a module, from
:mod:`~sendemodul.store.connections` (connections, transactions, create/open), :mod:`~sendemodul.store.migrations`
(the schema), :mod:`~sendemodul.store.audit_log`, :mod:`~sendemodul.store.units` (units, PINs, keys),
:mod:`~sendemodul.store.uploads` (intake, pseudonymizer, forwarder), :mod:`~sendemodul.store.mail_log` and
:mod:`~sendemodul.store.reminder_log`, :mod:`~sendemodul.store.health` (heartbeats, the metrics' counts),
:mod:`~sendemodul.store.persons` (reporting persons and their second factors), :mod:`~sendemodul.store.source_bans`,
:mod:`~sendemodul.store.answers` (SSB's answers), :mod:`~sendemodul.store.reviews` (review before delivery) and
:mod:`~sendemodul.store.reviewer_access` (applications for reviewer access, reviewers without a unit).
"""

from sendemodul.store.answers import Answers
from sendemodul.store.audit_log import AuditLog
from sendemodul.store.connections import Connections
from sendemodul.store.health import Health
from sendemodul.store.mail_log import MailLog
from sendemodul.store.persons import Persons
from sendemodul.store.reminder_log import ReminderLog
from sendemodul.store.reviewer_access import ReviewerAccess
from sendemodul.store.reviews import Reviews
from sendemodul.store.source_bans import SourceBans
from sendemodul.store.units import Units
from sendemodul.store.uploads import Uploads


class Store(
    Connections,
    AuditLog,
    Units,
    Uploads,
    MailLog,
    ReminderLog,
    Health,
    Persons,
    SourceBans,
    Answers,
    Reviews,
    ReviewerAccess,
):
    """The database. Create it with :meth:`create` (atomically), open it with :meth:`open`."""
