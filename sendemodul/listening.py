"""What both fronts share to listen: a service that opens an endpoint made from a description string while it runs.

Endpoints are strings (``tcp:8443:interface=127.0.0.1``, ``haproxy:tcp:8443``, ``systemd:domain=INET:index=0``)
so that tests and production differ only in configuration. Nothing here knows HTTPS or SSH: a front subclasses
:class:`ListeningService` and makes its factory.
"""

from twisted.application import service
from twisted.internet import endpoints
from twisted.internet.error import ReactorNotRunning
from twisted.internet.posixbase import PosixReactorBase
from twisted.logger import Logger

from sendemodul import endpoint_strings
from sendemodul.proxy_protocol import ProxyHeaderEndpoint

log = Logger()

#: Connections the kernel queues before they are accepted. Twisted's default of 50 overflows under a burst (a login
#: storm, hundreds of clients at once): the kernel then drops SYNs and a client only retries after 1, 3, 7 s.
#: Added to a description that names no ``backlog`` of its own.
LISTEN_BACKLOG = 1024


class TCPPortReactor:
    """The reactor, except that ``listenTCP`` makes a ``port_class`` port (a ``twisted.internet.tcp.Port``
    subclass, made and started as ``PosixReactorBase.listenTCP`` makes Twisted's own), so that a front picks the
    class of its TCP connections through the endpoint strings (``tcp:`` and ``haproxy:tcp:`` call ``listenTCP``;
    ``systemd:`` adopts a socket through the reactor as before)."""

    def __init__(self, reactor, port_class):
        self._reactor = reactor
        self._port_class = port_class

    def listenTCP(self, port, factory, backlog=50, interface=""):
        listening = self._port_class(port, factory, backlog, interface, self._reactor)
        listening.startListening()
        return listening

    def __getattr__(self, name):
        return getattr(self._reactor, name)


def server_endpoint(reactor, description, backlog=LISTEN_BACKLOG, port_class=None):
    """The ``IStreamServerEndpoint`` for ``description``, with our listen backlog unless it names one. A
    ``haproxy:`` description reads the PROXY header with :mod:`sendemodul.proxy_protocol` (not Twisted's wrapper,
    which builds the protocol with the balancer's address), so per-source limits and bans see the client. With
    ``port_class``, a TCP endpoint listens with that ``tcp.Port`` subclass (:class:`TCPPortReactor`)."""
    inner = endpoint_strings.without_proxy(description)
    # Only where the reactor's listenTCP is the one TCPPortReactor stands in for (a test's MemoryReactor keeps its own).
    makes_tcp_ports = getattr(type(reactor), "listenTCP", None) is PosixReactorBase.listenTCP
    listener = TCPPortReactor(reactor, port_class) if port_class is not None and makes_tcp_ports else reactor
    endpoint = endpoints.serverFromString(listener, endpoint_strings.with_backlog(inner, backlog))
    if inner != description:
        return ProxyHeaderEndpoint(endpoint, reactor)
    return endpoint


class ListeningService(service.Service):
    """Listens on the endpoint ``description`` while running. ``self.port`` is the listening port (a configured
    port 0 picks a free one). If the port cannot be opened the server logs why and stops: it never runs
    half-listening. Subclasses make the factory in :meth:`make_factory`, at start, so that keys are read then."""

    #: The log line once listening, with ``{host}`` and ``{port}`` (tests and operators read it).
    listening_format = "listening on {host}:{port}"

    #: The ``tcp.Port`` class of a TCP endpoint (None: Twisted's).
    port_class = None

    def __init__(self, reactor, description):
        self.reactor = reactor
        self.description = description
        self.port = None

    def make_factory(self):
        """The protocol factory to listen with."""
        raise NotImplementedError

    def endpoint_and_factory(self):
        """``(IStreamServerEndpoint, factory)`` to listen with; made at start."""
        return server_endpoint(self.reactor, self.description, port_class=self.port_class), self.make_factory()

    def startService(self):
        super().startService()
        endpoint, factory = self.endpoint_and_factory()
        return endpoint.listen(factory).addCallbacks(self._listening, self._failed)

    def _listening(self, port):
        self.port = port
        address = port.getHost()
        log.info(
            self.listening_format,
            host=getattr(address, "host", getattr(address, "name", address)),
            port=getattr(address, "port", ""),
        )

    def _failed(self, failure):
        log.critical(
            "cannot listen ({what}): {error}; stopping",
            what=self.listening_format.split(" ")[0],
            error=failure.getErrorMessage(),
        )
        self.reactor.callWhenRunning(self._stop)

    def _stop(self):
        try:
            self.reactor.stop()
        except ReactorNotRunning:  # another listener stopped it already
            pass

    def stopService(self):
        super().stopService()
        if self.port is not None:
            return self.port.stopListening()
