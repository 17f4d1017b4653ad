"""The commented configuration file ``admin init`` writes: every key with its default."""

import dataclasses
import datetime

from sendemodul.config.sections import _SECTIONS


def render_default(environment: str = "dev") -> str:
    """The commented config file written by ``admin init``: every key with its default.

    A dev home gets open reporting windows for every register, for last year and this year, so that the demo works;
    a production home gets a commented example.
    """
    lines = [
        "# sendemodul configuration. Every key is optional; the value shown is the default.",
        f'environment = "{environment}"   # dev, test or production',
        "",
    ]
    year = datetime.date.today().year
    if environment == "dev":
        for periode in (year - 1, year):
            lines += [
                "[[window]]   # development: open all year",
                'register = "*"',
                f"periode = {periode}",
                f"opens = {year}-01-01",
                f"deadline = {year + 1}-12-31",
                f"closes = {year + 1}-12-31",
                "",
            ]
    else:
        lines += [
            '# Reporting windows: uploads outside every window are refused. One table per register (or "*") and',
            "# periode; dates inclusive, Norwegian time. Example for periode " + str(year) + ":",
            "# [[window]]",
            '# register = "*"',
            f"# periode = {year}",
            f"# test_opens = {year}-11-01      # test uploads: marked test, never forwarded",
            f"# test_closes = {year}-11-30",
            f"# opens = {year + 1}-01-02",
            f"# deadline = {year + 1}-01-15    # later uploads are marked late",
            f"# closes = {year + 1}-04-15",
            f"# pauses = [[{year + 1}-03-10, {year + 1}-03-15]]   # closed spells, e.g. before a publication",
            "",
        ]
    lines += [
        "# Review before delivery: deliveries of a register wait, after pseudonymizing, for the county governor",
        "# (a person with role statsforvalter for the unit's fylke) to approve them (then they go to SSB) or return",
        "# them to the unit. One table per register, e.g.:",
        "# [[review]]",
        '# register = "15F"',
        '# by = "statsforvalter"',
        "",
        "# Who must report (admin status, the staff page, reminders): every kommune valid in the periode's code list,",
        '# Oslo as 0301-00 unless oslo = "bydeler" (0301-01 .. 0301-15). One table per register (or "*"):',
        "# [[expected]]",
        '# register = "IPLOS"',
        '# oslo = "bydeler"',
        '# add = []          # regions like "0301-16" that must report too',
        "# exclude = []      # regions excused from reporting",
        "",
        "# Reminder e-mails to units still missing, on days counted from the window's deadline (needs [mail]):",
        "# [[reminder]]",
        '# register = "*"',
        "# days_before = [3]",
        "# days_after = [1, 7]",
        "",
    ]
    for name, cls in _SECTIONS.items():
        lines.append(f"[{name}]")
        if name == "server":
            lines += [
                "# Where the fronts listen, as Twisted endpoint strings: tcp:PORT:interface=ADDRESS (tcp6 for IPv6,",
                "# haproxy:tcp:PORT behind a PROXY-protocol balancer, systemd:domain=INET:index=N for a socket from",
                "# systemd). HTTPS adds its own TLS with tls/server.pem, so give a tcp socket, not ssl. Port 0 picks",
                "# a free port. (Older files' https_port, sftp_port and interface keys are still read.)",
            ]
        for f in dataclasses.fields(cls):
            default = f.default
            if isinstance(default, bool):
                shown = "true" if default else "false"
            elif isinstance(default, str):
                shown = f'"{default}"'
            else:
                shown = repr(default)
            lines.append(f"# {f.name} = {shown}")
        lines.append("")
    return "\n".join(lines)
