"""``/krypteringsmodul``: a copy of the signed browser module for convenience, with its release description and how
to verify it. The copy a server hands out can never protect a municipality against that server (it could hand out
another file), and the page says so: the trust is in checking the SHA-256 and the two signatures once per release.

The release lives in ``<home>/module/`` (``krypteringsmodul.html`` and ``release.json``, as ``sendemodul module
build`` writes them and SSB and the TPF sign them). Files are read off the reactor thread and cached by their
size and modification time.
"""

import base64
import hashlib
import json
import re

from twisted.internet import threads

from sendemodul import messages_nb
from sendemodul.browser.release import FILE_NAME, RELEASE_NAME
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond

_META_CSP = re.compile(rb'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


def _read(directory):
    """``(html, release)`` from the module directory, or ``None`` if no complete release is there."""
    try:
        html = (directory / FILE_NAME).read_bytes()
        release = json.loads((directory / RELEASE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(release, dict) or release.get("sha256") != hashlib.sha256(html).hexdigest():
        return None  # a half-copied release, or a file that is not the released one: offer nothing
    return html, release


class ModulePage(AppResource):
    """``GET /krypteringsmodul`` (the page) and ``GET /krypteringsmodul/<file>`` (the file, the release)."""

    def __init__(self, app):
        super().__init__(app)
        self.directory = app.config.home / "module"

    def getChild(self, path, request):
        return _ModuleFile(self.app, self.directory, path.decode("ascii", "replace"))

    def render_GET(self, request):
        def page(found):
            if found is None:
                return self.app.render(request, "krypteringsmodul", status=404, session=None, release=None)
            html, release = found
            sri = "sha256-" + base64.b64encode(hashlib.sha256(html).digest()).decode("ascii")
            return self.app.render(request, "krypteringsmodul", session=None, release=release, sri=sri)

        return respond(request, threads.deferToThread(_read, self.directory).addCallback(page))


class _ModuleFile(AppResource):
    isLeaf = True

    def __init__(self, app, directory, name):
        super().__init__(app)
        self.directory = directory
        self.name = name

    def render_GET(self, request):
        def answer(found):
            if found is None or self.name not in (FILE_NAME, RELEASE_NAME):
                return self.app.render(request, "error", status=404, message=messages_nb.page_text("page_not_found"))
            html, release = found
            if self.name == RELEASE_NAME:
                request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
                return json.dumps(release, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
            # The file's own policy, as a header too; saved, not shown: it is meant to be checked and opened from disk.
            csp = _META_CSP.search(html)
            if csp:
                request.setHeader(b"Content-Security-Policy", csp.group(1))
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            request.setHeader(b"Content-Disposition", f'attachment; filename="{FILE_NAME}"'.encode("ascii"))
            digest = base64.b64encode(hashlib.sha256(html).digest())
            request.setHeader(b"Content-Digest", b"sha-256=:" + digest + b":")
            return html

        return respond(request, threads.deferToThread(_read, self.directory).addCallback(answer))
