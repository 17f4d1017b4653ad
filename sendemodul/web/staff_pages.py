"""``/statusliste``: the status list of one register and periode for SSB/TPF staff (HTTP Basic with the staff
token, :mod:`sendemodul.staff`), read-only, in Bokmål."""

import datetime

from sendemodul import messages_nb, staff, status_list
from sendemodul.expected import expected_units
from sendemodul.registers import REGISTERS
from sendemodul.timefmt import OSLO
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond


def _arg(request, name):
    return (request.args.get(name.encode()) or [b""])[0].decode("utf-8", "replace").strip()[:20]


class StaffStatusPage(AppResource):
    isLeaf = True

    def render_GET(self, request):
        if not self.app.config.staff.enabled:
            return self.app.render(request, "error", status=404, message=messages_nb.page_text("page_not_found"))
        today = datetime.datetime.now(OSLO).date()
        register = _arg(request, "register") or "11F"
        try:
            periode = int(_arg(request, "periode") or today.year - (1 if today.month < 7 else 0))
        except ValueError:
            periode = 0
        header = request.getHeader(b"authorization")
        cfg, store = self.app.config, self.app.store

        def gather():
            """In a database thread: the token's hash, and the rows (only when the token is right)."""
            if not staff.authorized(header, staff.token_hash(cfg.home)):
                return None
            if register not in REGISTERS or not 2000 <= periode <= 2100:
                return []
            return status_list.status_rows(
                expected_units(cfg, register, periode),
                store.status(register, periode),
                cfg.window_for(register, periode),
                today,
            )

        def page(rows):
            if rows is None:
                request.setHeader(b"WWW-Authenticate", b'Basic realm="sendemodul staff", charset="UTF-8"')
                message = messages_nb.melding("staff_login")
                return self.app.render(request, "error", status=401, session=None, message=message)
            request.setHeader(b"Cache-Control", b"no-store")
            return self.app.render(
                request,
                "statusliste",
                session=None,
                rows=rows,
                counts=status_list.counts(rows),
                register=register,
                periode=periode,
                registers=REGISTERS,
            )

        return respond(request, self.app.run_db(gather).addCallback(page))
