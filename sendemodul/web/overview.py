"""``/mine-skjema``: the person's overview after login (issue 16). One row per register the person may report, for
the current and the last periode: the reporting window (opens, deadline, closes, "frist om N dager"), the latest
delivery and its state, the number of invalid IDs (by row, on the receipt), and the actions: send a file, see the
receipt, and "Ingen deltakere" (``POST /mine-skjema/ingen-deltakere``: the person confirms, and the server records
an empty delivery in their name, :mod:`sendemodul.no_participants`)."""

import datetime

from twisted.logger import Logger

from sendemodul import messages_nb
from sendemodul.errors import SendemodulError
from sendemodul.timefmt import OSLO
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond
from sendemodul.web.pages import SessionPage, _form, _redirect

log = Logger()


def periodes_for(config, register, today):
    """The current and the last periode of ``register``: the two newest periodes with a reporting window (for the
    register or ``*``) that has opened by ``today`` or opens within a year, else the last two years."""
    found = sorted(
        {w.periode for w in config.windows if w.register in (register, "*")},
        reverse=True,
    )
    found = [p for p in found if p <= today.year]
    return found[:2] or [today.year - 1, today.year - 2]


def deadline_text(window, today):
    """ "frist om 3 dager", "fristen er i dag", "fristen gikk ut for 2 dager siden", or "" (Bokmål)."""
    if window is None or window.deadline is None:
        return ""
    days = (window.deadline - today).days
    texts = messages_nb.PERSON_TEXTS
    if days > 1:
        return texts["deadline_in_days"].format(days=days)
    if days < -1:
        return texts["deadline_days_ago"].format(days=-days)
    return texts[{1: "deadline_tomorrow", 0: "deadline_today", -1: "deadline_yesterday"}[days]]


def rows_for(config, store, unit, person, today):
    """In a DB thread: the overview's rows."""
    uploads = store.list_uploads(unit)
    rows = []
    for register in person.registers:
        for periode in periodes_for(config, register, today):
            window = config.window_for(register, periode)
            mine = [u for u in uploads if u["register"] == register and u["periode"] == periode and not u["test"]]
            latest = mine[-1] if mine else None
            invalid = 0
            if latest is not None:
                invalid = len(store.feedback(latest["reference"])) + (latest.get("feedback_omitted") or 0)
            is_open = window is not None and window.opens is not None and window.opens <= today <= window.closes
            rows.append(
                {
                    "register": register,
                    "periode": periode,
                    "window": window,
                    "open": is_open,
                    "deadline_text": deadline_text(window, today),
                    "latest": latest,
                    "invalid_ids": invalid,
                }
            )
    return rows


class OverviewPage(SessionPage):
    isLeaf = False

    def getChild(self, path, request):
        if path == b"ingen-deltakere":
            return NoParticipantsAction(self.app)
        return self

    def page(self, request, session, message=None, status=200):
        if session.person is None:  # web_requires_person = false: the unit's session has no person's registers
            return _redirect(request, "/opplasting")
        today = datetime.datetime.now(OSLO).date()
        d = self.app.run_db(rows_for, self.app.config, self.app.store, session.unit, session.person, today)
        return d.addCallback(
            lambda rows: self.app.render(
                request, "mine-skjema", status=status, session=session, rows=rows, message=message
            )
        )


class NoParticipantsAction(AppResource):
    """``POST /mine-skjema/ingen-deltakere``: register, periode and the confirmation box."""

    isLeaf = True

    def render_POST(self, request):
        return respond(request, self.app.session(request).addCallback(self._post, request))

    def _post(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if session.person is None:
            return _redirect(request, "/hvem-er-du" if self.app.needs_person(session) else "/opplasting")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        register = _form(request, "register")
        try:
            periode = int(_form(request, "periode"))
        except ValueError:
            periode = 0
        overview = OverviewPage(self.app)
        if register not in session.person.registers or not 2000 <= periode <= 2099:
            message = messages_nb.melding("register_not_permitted")
            return overview.page(request, session, message=message, status=403)
        if _form(request, "bekreft") != "ja":
            message = messages_nb.PERSON_TEXTS["confirm_no_participants"].format(register=register, periode=periode)
            return overview.page(request, session, message=message, status=400)
        d = self.app.intake.no_participants(
            session.unit, epoch=session.epoch, person=session.person, register=register, periode=periode
        )

        def refused(failure):
            failure.trap(SendemodulError)
            return overview.page(request, session, message=messages_nb.melding(failure.value.code), status=400)

        d.addCallbacks(lambda receipt: _redirect(request, f"/kvittering/{receipt.reference}"), refused)
        return d
