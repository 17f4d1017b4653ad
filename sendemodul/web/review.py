"""The county governor's pages (issue 17): ``/oppgaver`` "Åpne oppgaver", ``/oppgaver/arkiv`` "Løste oppgaver
(arkiv)", ``/oppgaver/{reference}`` a task (metadata and aggregate counts only, never a record) with "Godkjenn" and
"Returner", and ``/oppgaver/status`` each unit's latest state in the reviewer's fylke. The lists also hold the fylke's
applications for reviewer access (``/oppgaver/tilgang/{application}``, :mod:`~sendemodul.web.review_access`).

Only a web session whose person has the role ``statsforvalter`` for a fylke gets these pages (:func:`reviewer_of`);
everyone else gets a 404, as for a task of another fylke. Every decision is a POST with the session's CSRF token,
decided in the store in one transaction (:meth:`~sendemodul.store.Store.decide_review`) and audited with the
reviewer's opaque person id.
"""

import datetime
import re
from dataclasses import dataclass

from sendemodul import messages_nb
from sendemodul.errors import NotFound, ReviewError
from sendemodul.identity.codelists import fylke_of, fylker
from sendemodul.registers import REGISTERS
from sendemodul.store.reviews import MAX_REVIEW_MESSAGE_CHARS
from sendemodul.timefmt import OSLO
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond

REFERENCE_RE = re.compile(r"^SM-\d{8}-[2-9A-HJ-NP-Z]{8}$")
REVIEWER_ROLE = "statsforvalter"


@dataclass(frozen=True)
class Reviewer:
    """Who reviews: the opaque person id (what the audit names), the name shown, the fylke."""

    person_id: str
    name: str
    fylke: str


def reviewer_of(session):
    """The :class:`Reviewer` of a web session whose person has the role statsforvalter for a fylke, else None."""
    person = getattr(session, "person", None) if session is not None else None
    if person is None or getattr(person, "role", None) != REVIEWER_ROLE or not getattr(person, "fylke", None):
        return None
    return Reviewer(person.person_id, person.name, person.fylke)


def _not_found(app, request, session):
    return app.render(request, "error", status=404, session=session, message=messages_nb.melding("not_found"))


class ReviewerPage(AppResource):
    """A page for a reviewer's session; a 404 for anyone else (no hint that the page exists)."""

    isLeaf = True

    def render_GET(self, request):
        return respond(request, self.app.session(request, unitless=True).addCallback(self._route, request, self.page))

    def render_POST(self, request):
        return respond(request, self.app.session(request, unitless=True).addCallback(self._route, request, self.post))

    def _route(self, session, request, handler):
        reviewer = reviewer_of(session)
        if reviewer is None:
            return _not_found(self.app, request, session)
        return handler(request, session, reviewer)

    def post(self, request, session, reviewer):
        request.setResponseCode(405)
        return b""


class TaskList(ReviewerPage):
    def __init__(self, app, solved):
        super().__init__(app)
        self.solved = solved

    def page(self, request, session, reviewer):
        def load():
            """In a DB thread: the fylke's review tasks and its applications for reviewer access."""
            store = self.app.store
            return store.review_tasks(reviewer.fylke, self.solved), store.reviewer_applications(
                reviewer.fylke, self.solved
            )

        return self.app.run_db(load).addCallback(
            lambda loaded: self.app.render(
                request,
                "oppgaver",
                session=session,
                reviewer=reviewer,
                fylke_name=_fylke_name(reviewer.fylke),
                tasks=loaded[0],
                applications=loaded[1],
                solved=self.solved,
                status_nb=messages_nb.status_nb,
            )
        )


def _fylke_name(fylkesnr):
    fylke = fylker().get(fylkesnr)
    return fylke.name if fylke else fylkesnr


class TaskPage(ReviewerPage):
    def __init__(self, app, reference):
        super().__init__(app)
        self.reference = reference

    def _task(self, reviewer):
        """In a DB thread: the task if it is the reviewer's fylke's, with the sender's person id (if recorded)."""
        task = self.app.store.review_task(self.reference)
        if task is None or task["fylke"] != reviewer.fylke:
            return None
        upload = self.app.store.upload(self.reference)
        task["sender"] = upload.get("person_id")
        return task

    def page(self, request, session, reviewer, error=None, message="", status=200):
        if not REFERENCE_RE.match(self.reference):
            return _not_found(self.app, request, session)

        def found(task):
            if task is None:
                return _not_found(self.app, request, session)
            return self.app.render(
                request,
                "oppgave",
                status=status,
                session=session,
                reviewer=reviewer,
                task=task,
                own=task["sender"] is not None and task["sender"] == reviewer.person_id,
                error=error,
                message=message,
                max_chars=MAX_REVIEW_MESSAGE_CHARS,
            )

        return self.app.run_db(self._task, reviewer).addCallback(found)

    def post(self, request, session, reviewer):
        if not REFERENCE_RE.match(self.reference):
            return _not_found(self.app, request, session)
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        action = (request.args.get(b"handling") or [b""])[0]
        text = (request.args.get(b"melding") or [b""])[0].decode("utf-8", "replace").replace("\r\n", "\n")
        decision = {b"godkjenn": "approved", b"returner": "returned"}.get(action)
        if decision is None:
            return self.page(request, session, reviewer, messages_nb.melding("invalid"), text, status=400)

        def decide():
            task = self._task(reviewer)
            if task is None:
                raise NotFound()
            self.app.store.decide_review(
                self.reference,
                decision=decision,
                message=text if decision == "returned" else "",
                person_id=reviewer.person_id,
                fylke=reviewer.fylke,
                sender=task["sender"],
            )

        def done(_):
            request.setResponseCode(303)
            request.setHeader(b"Location", b"/oppgaver")
            return b""

        def failed(failure):
            if failure.check(NotFound):
                return _not_found(self.app, request, session)
            failure.trap(ReviewError)
            code = failure.value.code
            return self.page(request, session, reviewer, messages_nb.melding(code), text, status=400)

        return self.app.run_db(decide).addCallbacks(done, failed)


class StatusPage(ReviewerPage):
    """Each unit of the reviewer's fylke with its latest state for a register and periode (``?register=&periode=``)."""

    def page(self, request, session, reviewer):
        register = (request.args.get(b"register") or [b"15F"])[0].decode("ascii", "replace")
        periode_text = (request.args.get(b"periode") or [b""])[0].decode("ascii", "replace")
        if register not in REGISTERS:
            register = "15F"
        periode = int(periode_text) if periode_text.isdigit() else datetime.datetime.now(OSLO).year - 1

        def rows():
            return [r for r in self.app.store.status(register, periode) if fylke_of(r["unit"][:4]) == reviewer.fylke]

        return self.app.run_db(rows).addCallback(
            lambda units: self.app.render(
                request,
                "oppgaver-status",
                session=session,
                reviewer=reviewer,
                fylke_name=_fylke_name(reviewer.fylke),
                units=units,
                register=register,
                periode=periode,
                registers=REGISTERS,
                status_nb=messages_nb.status_nb,
            )
        )


class ReviewPages(AppResource):
    """``/oppgaver`` and below (the site puts ``tilgang``, the applications for reviewer access, as a child)."""

    def getChild(self, path, request):
        name = path.decode("ascii", "replace")
        if name == "":
            return TaskList(self.app, solved=False)
        if name == "arkiv":
            return TaskList(self.app, solved=True)
        if name == "status":
            return StatusPage(self.app)
        return TaskPage(self.app, name)

    def render_GET(self, request):
        return TaskList(self.app, solved=False).render_GET(request)
