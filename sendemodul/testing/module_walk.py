"""The keyboard walk through the browser module (``krypteringsmodul.html``, docs/browser-module.md) that
tests/test_browser_module.py and ``scripts/bench --only module`` both drive: open the file, fill the form, pick the
extract and the unit's key, press "Kontroller", then "Krypter", and save the container, with the keyboard alone.

One walk for both, so that the bench times exactly what the test checks. The test asserts what the walk made (the
container, the progress bar at its end); the bench reports how long it took (the house rule: speed targets are
checked by scripts/bench, never by timed tests). It takes a Playwright ``Page`` of Chromium (tests/support/browsers.py
launches it), so Playwright is needed only by its callers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The page's ``performance.mark`` names, in the order the walk passes them.
MARKS = ("kontroller", "kontrollert", "krypter", "lagre")


@dataclass
class Walk:
    """What one walk made and how long it took."""

    #: The saved container (None for a walk that stopped after "Kontroller").
    container: Path | None
    #: Wall-clock seconds from pressing "Kontroller" to the saved container (Playwright's round trips included:
    #: what the user waits).
    seconds: float
    #: The page's marks, in seconds after "kontroller" (:data:`MARKS`, those the page set).
    marks: dict[str, float] = field(default_factory=dict)
    #: The progress bar as assistive technology gets it at the end: (aria-valuenow, aria-valuemax).
    progressbar: tuple[Any, Any] = (None, None)

    @property
    def check_s(self) -> float | None:
        """From "Kontroller" to the check's verdict in the page."""
        return self.marks.get("kontrollert")

    @property
    def encrypt_s(self) -> float | None:
        """From "Krypter" to the offered container (the page's own clock)."""
        if "krypter" in self.marks and "lagre" in self.marks:
            return self.marks["lagre"] - self.marks["krypter"]
        return None

    @property
    def progress_at_end(self) -> bool:
        now, most = self.progressbar
        return now is not None and now == most


def progressbar(page: Any) -> tuple[Any, Any]:
    """The progress bar as assistive technology gets it (Chromium's accessibility tree): (aria-valuenow,
    aria-valuemax)."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    bar = next(n for n in nodes if n.get("role", {}).get("value") == "progressbar")
    valuemax = next(p["value"]["value"] for p in bar["properties"] if p["name"] == "valuemax")
    return bar["value"]["value"], valuemax  # the node's value is its aria-valuenow


def marks(page: Any) -> dict[str, float]:
    """The page's performance marks, in seconds after ``kontroller`` (empty if the page never set it)."""
    at = page.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))")
    if "kontroller" not in at:
        return {}
    return {name: round((at[name] - at["kontroller"]) / 1000, 3) for name in MARKS if name in at}


def intercept_file_choosers(page: Any) -> None:
    """Have Playwright intercept ``page``'s file choosers from now on. Playwright turns interception on only while a
    ``filechooser`` listener exists, and ``expect_file_chooser`` adds its listener as the key is pressed: a Space that
    reaches the input before interception is on opens Chromium's own (headless: invisible) dialog, and no event ever
    comes (seen under load here: the wait timed out with the input focused). A listener kept for the page's life
    closes that race; it does nothing itself, the waits still take each chooser."""
    if not getattr(page, "_keeps_file_choosers", False):
        page.on("filechooser", lambda chooser: None)
        page._keeps_file_choosers = True


def keyboard_walk(
    page: Any,
    html: Path,
    extract: Path,
    key: Path,
    out: Path,
    *,
    kommunenr: str,
    orgnr: str,
    skjema: str,
    suffix: str = "",
    on_kontroller: Callable[[], None] | None = None,
    timeout_s: float = 180,
    encrypt: bool = True,
) -> Walk:
    """Open ``html`` (``file://``, plus ``suffix``, e.g. ``#uten-webcrypto``) and make a container of ``extract``
    signed with ``key`` with the keyboard alone (Tab, Shift+Tab, Enter, Space, typing and the arrow key in the
    form's select), saved to ``out``. ``skjema`` is the select's value (``"11F/2026"``); ``on_kontroller`` is called
    right before "Kontroller" is pressed (the bench reads the browser's CPU there). With ``encrypt=False`` the walk
    stops at the check's verdict (or the page's refusal), and saves nothing."""
    intercept_file_choosers(page)
    page.goto(html.as_uri() + suffix)
    keyboard = page.keyboard

    def tab_to(selector: str, backwards: bool = False) -> None:
        for _ in range(30):
            if page.evaluate(f"() => document.activeElement === document.querySelector('{selector}')"):
                return
            keyboard.press("Shift+Tab" if backwards else "Tab")
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#kommunenr")
    keyboard.type(kommunenr)
    tab_to("#orgnr")
    keyboard.type(orgnr)
    tab_to("#skjema")
    for _ in range(10):
        if page.evaluate("() => document.querySelector('#skjema').value") == skjema:
            break
        keyboard.press("ArrowDown")
    if page.evaluate("() => document.querySelector('#skjema').value") != skjema:
        raise AssertionError(f"the form offers no {skjema}")
    tab_to("#uttrekk")
    with page.expect_file_chooser(timeout=timeout_s * 1000) as chooser:
        keyboard.press("Space")
    chooser.value.set_files(str(extract))
    tab_to("#nokkel")
    with page.expect_file_chooser(timeout=timeout_s * 1000) as chooser:
        keyboard.press("Space")
    chooser.value.set_files(str(key))
    tab_to("#kontroller", backwards=True)
    if on_kontroller is not None:
        on_kontroller()
    started = time.monotonic()
    keyboard.press("Enter")
    page.wait_for_selector("#status:not(:empty), #feil:not(:empty)", timeout=timeout_s * 1000)
    if not encrypt:
        return Walk(container=None, seconds=time.monotonic() - started, marks=marks(page))
    tab_to("#krypter")
    keyboard.press("Enter")
    page.wait_for_selector("#lagre:not([hidden]), #feil:not(:empty)", timeout=timeout_s * 1000)
    error = page.text_content("#feil")
    if error:
        raise AssertionError(f"the page refused: {error}")
    if page.evaluate("() => document.activeElement.id") != "lagre":
        raise AssertionError("the save link did not get the focus")
    with page.expect_download() as download:
        keyboard.press("Enter")
    download.value.save_as(out)
    seconds = time.monotonic() - started
    return Walk(container=out, seconds=seconds, marks=marks(page), progressbar=progressbar(page))
