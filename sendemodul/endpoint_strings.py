"""Twisted endpoint description strings (``tcp:8443:interface=127.0.0.1``): the little the rest of sendemodul needs
to know about them without a reactor. Pure: no Twisted import, no I/O.

The grammar is Twisted's (``twisted.internet.endpoints.serverFromString``): fields separated by ``:``, a backslash
escapes the next character (``tcp6:8443:interface=\\:\\:1``), a field with ``=`` is a keyword argument. The first
field names the endpoint type; ``haproxy:`` wraps another description.
"""

#: Types a listener may use: the socket types, the PROXY-protocol wrapper, and sockets handed over by systemd.
#: (``ssl:`` is not here: the HTTPS front adds its own TLS to a plain socket.)
LISTEN_TYPES = ("tcp", "tcp6", "unix", "haproxy", "systemd")
#: Types whose listening socket takes a ``backlog`` keyword.
BACKLOG_TYPES = ("tcp", "tcp6", "unix")
WRAPPER_TYPES = ("haproxy",)


class BadDescription(ValueError):
    """The text is not an endpoint description this server can listen on."""


def split(description: str) -> tuple[list[str], dict[str, str]]:
    """``(args, kwargs)`` of a description: unescaped fields, keyword fields separated out."""
    fields: list[str] = []
    current: list[str] = []
    escaped = False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for field in fields:
        name, eq, value = _unescaped_partition(field, "=")
        if eq:
            kwargs[_unescape(name)] = _unescape(value)
        else:
            args.append(_unescape(field))
    return args, kwargs


def _unescaped_partition(field: str, sep: str) -> tuple[str, str, str]:
    escaped = False
    for i, char in enumerate(field):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep:
            return field[:i], sep, field[i + 1 :]
    return field, "", ""


def _unescape(text: str) -> str:
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def socket_type(description: str) -> str:
    """The type of the socket under any wrappers: ``haproxy:tcp:8443`` -> ``tcp``."""
    args, _ = split(description)
    kinds = [arg.lower() for arg in args]
    while kinds and kinds[0] in WRAPPER_TYPES:
        kinds = kinds[1:]
    return kinds[0] if kinds else ""


def check(description: object) -> None:
    """Raise :class:`BadDescription` unless ``description`` is a listener type this server supports, with a port
    number 0-65535 for the TCP types."""
    if not isinstance(description, str) or not description.strip():
        raise BadDescription("must be an endpoint description such as tcp:8443:interface=127.0.0.1")
    args, _ = split(description)
    outer = args[0].lower() if args else ""
    if outer not in LISTEN_TYPES:
        hint = " (TLS is added by sendemodul: give a tcp: socket)" if outer == "ssl" else ""
        raise BadDescription(f"endpoint type {outer or '(none)'!r} is not one of {', '.join(LISTEN_TYPES)}{hint}")
    inner = socket_type(description)
    if inner not in LISTEN_TYPES or inner in WRAPPER_TYPES:
        raise BadDescription(
            f"endpoint type {inner or '(none)'!r} under {outer!r} is not a socket sendemodul can "
            "listen on (give tcp, tcp6, unix or systemd)"
        )
    if inner in ("tcp", "tcp6") and tcp_port(description) is None:
        raise BadDescription("a tcp endpoint needs a port number 0-65535, e.g. tcp:8443")


def _socket_args(description: str) -> tuple[list[str], dict[str, str]]:
    args, kwargs = split(description)
    while args and args[0].lower() in WRAPPER_TYPES:
        args = args[1:]
    return args, kwargs


def tcp_port(description: str) -> int | None:
    """The port number of a ``tcp``/``tcp6`` description (also under ``haproxy:``), else None."""
    args, kwargs = _socket_args(description)
    if not args or args[0].lower() not in ("tcp", "tcp6"):
        return None
    port = args[1] if len(args) > 1 else kwargs.get("port")
    if port is None or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    return int(port)


def tcp_interface(description: str) -> str | None:
    """The ``interface`` of a ``tcp``/``tcp6`` description ("" is every address), else None."""
    args, kwargs = _socket_args(description)
    if not args or args[0].lower() not in ("tcp", "tcp6"):
        return None
    return kwargs.get("interface", args[2] if len(args) > 2 else "")


def without_proxy(description: str) -> str:
    """``description`` without a leading ``haproxy:`` (the socket it wraps); unchanged when there is none."""
    if description[:8].lower() == "haproxy:":
        return description[8:]
    return description


def escape(text: str) -> str:
    """``text`` as one field of a description (``::1`` -> ``\\:\\:1``)."""
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def tcp(port: int, interface: str) -> str:
    """The description of a TCP listener: ``tcp:8443:interface=127.0.0.1`` (``tcp6`` for an IPv6 address)."""
    kind = "tcp6" if ":" in interface else "tcp"
    return f"{kind}:{port}:interface={escape(interface)}" if interface else f"{kind}:{port}"


def with_backlog(description: str, backlog: int) -> str:
    """``description`` with ``backlog=`` added when its socket type takes one and it names none."""
    _, kwargs = split(description)
    if socket_type(description) in BACKLOG_TYPES and "backlog" not in kwargs:
        return f"{description}:backlog={backlog}"
    return description
