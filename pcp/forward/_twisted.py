"""pcp-forward on Twisted's reactor (``--loop twisted``; needs the ``twisted`` extra).

Each accepted connection is joined to a new connection to the target by two
``pcp.ProducerConsumerProxy`` objects, one each way. Each proxy is registered
as the streaming producer of the transport it writes to, and the transport it
reads from is registered as its producer; so when one side is slow, its
transport pauses the proxy, the proxy buffers up to ``--buffer-size`` bytes
and then stops reading from the fast side, which resumes once the buffer has
fallen to ``--low-water``. Half-closes are forwarded. The listening socket is
pcp-forward's own (see ``pcp.forward._listen``); each accepted socket is handed
to the reactor with ``adoptStreamConnection``.
"""

from __future__ import annotations

import logging
import signal
import socket
from typing import Any, Callable, Dict, Optional, Tuple

from twisted.internet import error, protocol
from twisted.internet.interfaces import IHalfCloseableProtocol, IReadDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

import pcp
from pcp.forward._listen import ACCEPT_BATCH, Listener, accept_some
from pcp.forward._log import emit
from pcp.forward._metrics import MetricsRequest, render
from pcp.forward._service import Backend, Connection, Service, Settings
from pcp.forward._units import show_address

__all__ = ["ClientSide", "ForwardFactory", "Forwarding", "TargetSide", "TwistedBackend", "run"]

_METRICS_REQUEST_TIMEOUT = 10.0


def _loss(reason: Failure) -> str:
    """How a side ended, in the words the other loops use."""
    if isinstance(reason.value, error.ConnectionDone):
        return "closed"
    if isinstance(reason.value, error.ConnectionAborted):
        return "aborted"
    if type(reason.value) is error.ConnectionLost:
        # Twisted reports a failed recv()/send() on a connected socket as a bare
        # ConnectionLost, without the errno; on TCP that is a reset (ECONNRESET,
        # EPIPE) in practice.
        return "reset"
    return f"lost ({reason.getErrorMessage().rstrip('.')})"


def _connectError(reason: Failure, timeout: float) -> str:
    if isinstance(reason.value, error.ConnectionRefusedError):
        return "Connection refused"
    if isinstance(reason.value, error.TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(reason.value, error.DNSLookupError):
        return f"cannot resolve the host ({reason.getErrorMessage().rstrip('.')})"
    return reason.getErrorMessage().rstrip(".")


class Forwarding(Connection):
    """One forwarded connection: the client's, the target's, and a proxy each way.

    ``up`` carries the client's bytes to the target, ``down`` the target's to
    the client; both are ``pcp.ProducerConsumerProxy`` objects, created when
    the target connection is made.
    """

    def __init__(self, factory: "ForwardFactory", client: "ClientSide") -> None:
        peer = client.transport.getPeer()
        super().__init__(factory.service, show_address(str(getattr(peer, "host", peer)), getattr(peer, "port", 0)))
        self.factory = factory
        self.clientSide = client
        self.target: Optional[TargetSide] = None
        self.connector: Any = None
        self.clientLost = False
        self.targetLost = False
        self.readDone = {"client": False, "target": False}
        self.writeDone = {"client": False, "target": False}

    # -- setting up -----------------------------------------------------------------

    def connect(self) -> None:
        """Stop reading from the client and connect to the target."""
        self.clientSide.transport.pauseProducing()
        self.connector = self.factory.reactor.connectTCP(
            self.factory.targetHost,
            self.factory.targetPort,
            _TargetFactory(self),
            timeout=self.factory.connectTimeout,
        )

    def targetConnected(self, target: "TargetSide") -> None:
        """Join the two transports with a proxy each way, then read from both."""
        self.target = target
        if self.clientLost:
            target.transport.loseConnection()
            return
        clientTransport = self.clientSide.transport
        targetTransport = target.transport
        targetTransport.setTcpNoDelay(True)
        self.up = self.factory.makeProxy(targetTransport)
        self.down = self.factory.makeProxy(clientTransport)
        if self.factory.readSize is not None:
            clientTransport.bufferSize = targetTransport.bufferSize = self.factory.readSize
        self.up.registerProducer(clientTransport, True)
        self.down.registerProducer(targetTransport, True)
        # The hot path: each transport hands what it reads straight to the proxy.
        self.clientSide.dataReceived = self.up.write  # type: ignore[method-assign]
        target.dataReceived = self.down.write  # type: ignore[method-assign]
        self.service.connected(self)
        clientTransport.resumeProducing()

    def connectFailed(self, reason: Failure) -> None:
        """The target could not be reached: close the client's connection."""
        if self.clientLost:
            return
        self.service.connect_failed(self, _connectError(reason, self.factory.connectTimeout))
        self.clientSide.transport.loseConnection()

    def abort(self) -> None:
        """Close both connections now (a shutdown cutting what is left)."""
        if self.connector is not None and self.target is None and self.connector.state == "connecting":
            self.connector.stopConnecting()
        if not self.clientLost:
            self.clientSide.transport.abortConnection()
        if self.target is not None and not self.targetLost:
            self.target.transport.abortConnection()

    # -- ending ---------------------------------------------------------------------

    def _sides(self, side: str) -> Tuple[Any, Any, Any]:
        """(this side's transport, the other side's transport, the proxy reading this side)."""
        assert self.target is not None
        if side == "client":
            return self.clientSide.transport, self.target.transport, self.up
        return self.target.transport, self.clientSide.transport, self.down

    def readEnded(self, side: str) -> None:
        """*side* sent end-of-file: pass it on once what it sent has been written."""
        self.ended(side, "closed")
        self.readDone[side] = True
        mine, other, proxy = self._sides(side)
        proxy.unregisterProducer()
        otherLost = self.targetLost if side == "client" else self.clientLost
        if otherLost:
            # Both events came in one reactor turn: the other side is already closed.
            mine.loseConnection()
            return
        other.loseWriteConnection()
        if self.writeDone[side]:
            mine.loseConnection()

    def writeEnded(self, side: str) -> None:
        """Writing to *side* was shut down; close it if it has finished sending too."""
        self.writeDone[side] = True
        if self.readDone[side]:
            self._sides(side)[0].loseConnection()

    def lost(self, side: str, reason: Failure) -> None:
        """*side*'s connection is gone: close the other after writing what it is owed."""
        if side == "client":
            self.clientLost = True
        else:
            self.targetLost = True
        if self.cut is None:
            self.ended(side, _loss(reason))
        if self.target is None:
            if self.connector is not None and self.connector.state == "connecting":
                self.connector.stopConnecting()
            self._finish()
            return
        _, other, proxy = self._sides(side)
        if proxy is not None:
            proxy.unregisterProducer()
            other.loseConnection()
        if self.clientLost and self.targetLost:
            self._finish()

    def _finish(self) -> None:
        self.service.finished(self)
        # Break the cycles through the protocols' dataReceived.
        self.clientSide.__dict__.pop("dataReceived", None)
        if self.target is not None:
            self.target.__dict__.pop("dataReceived", None)


@implementer(IHalfCloseableProtocol)
class ClientSide(protocol.Protocol):
    """The protocol of a connection accepted from a client."""

    forwarding: Forwarding
    transport: Any  # a TCP transport: ITCPTransport, IProducer, IHalfCloseableDescriptor
    factory: Any

    def connectionMade(self) -> None:
        """Start a Forwarding: connect to the target, not reading until then."""
        self.forwarding = self.factory.connectionStarted(self)
        self.forwarding.connect()

    def dataReceived(self, data: bytes) -> None:
        """Pass data on (replaced by the up proxy's write once the target is connected)."""
        self.forwarding.up.write(data)

    def readConnectionLost(self) -> None:
        """The client sent end-of-file."""
        self.forwarding.readEnded("client")

    def writeConnectionLost(self) -> None:
        """Our writing to the client was shut down."""
        self.forwarding.writeEnded("client")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """The client's connection is gone."""
        self.forwarding.lost("client", reason)


@implementer(IHalfCloseableProtocol)
class TargetSide(protocol.Protocol):
    """The protocol of the connection to the target."""

    transport: Any

    def __init__(self, forwarding: Forwarding) -> None:
        self.forwarding = forwarding

    def connectionMade(self) -> None:
        """Join this connection to the client's."""
        self.forwarding.targetConnected(self)

    def dataReceived(self, data: bytes) -> None:
        """Pass data on (replaced by the down proxy's write once joined)."""
        self.forwarding.down.write(data)

    def readConnectionLost(self) -> None:
        """The target sent end-of-file."""
        self.forwarding.readEnded("target")

    def writeConnectionLost(self) -> None:
        """Our writing to the target was shut down."""
        self.forwarding.writeEnded("target")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """The target's connection is gone."""
        self.forwarding.lost("target", reason)


class _TargetFactory(protocol.ClientFactory):
    noisy = False

    def __init__(self, forwarding: Forwarding) -> None:
        self.forwarding = forwarding

    def buildProtocol(self, addr: Any) -> TargetSide:
        return TargetSide(self.forwarding)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.forwarding.connectFailed(reason)


class ForwardFactory(protocol.Factory):
    """Accept clients and forward each to ``targetHost:targetPort``.

    ``bufferSize`` and ``lowWater`` are the marks of each direction's proxy
    (None keeps pcp's defaults). The bookkeeping (logs, counters, limits) is
    *service*'s, a ``pcp.forward._service.Service``; without one the factory
    makes its own. ``totals()`` sums the counters over every connection so
    far, open or closed.
    """

    noisy = False
    protocol = ClientSide

    def __init__(
        self,
        targetHost: str,
        targetPort: int,
        bufferSize: Optional[int] = None,
        lowWater: Optional[int] = None,
        reactor: Any = None,
        connectTimeout: float = 30,
        readSize: Optional[int] = None,
        service: Optional[Service] = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.bufferSize = bufferSize
        self.lowWater = lowWater
        self.connectTimeout = connectTimeout
        self.readSize = readSize
        if service is None:
            settings = Settings(listen=("", 0), target=(targetHost, targetPort), loop="twisted",
                                buffer_size=bufferSize, low_water=lowWater, read_size=readSize,
                                connect_timeout=connectTimeout)
            service = Service(settings, TwistedBackend(reactor), {})
        self.service = service

    def makeProxy(self, consumer: Any) -> Any:
        """A ProducerConsumerProxy writing to *consumer*, with this factory's marks."""
        proxy = pcp.ProducerConsumerProxy(consumer)
        if self.bufferSize is not None:
            proxy.bufferSize = self.bufferSize
        if self.lowWater is not None:
            proxy.lowWater = self.lowWater
        return proxy

    def connectionStarted(self, client: ClientSide) -> Forwarding:
        """A client connected: a new Forwarding for it, counted by the service."""
        client.transport.setTcpNoDelay(True)
        forwarding = Forwarding(self, client)
        self.service.accepted(forwarding)
        return forwarding

    def totals(self) -> Dict[str, int]:
        """Counters over all connections: open, total, bytes up/down, buffered, peak, pauses."""
        snap = self.service.snapshot()
        return dict(open=snap["open"], total=snap["total"], up=snap["up"], down=snap["down"],
                    buffered=snap["buffered_up"] + snap["buffered_down"], peak=snap["peak"],
                    pauses=snap["pauses_up"] + snap["pauses_down"])

    def logTotals(self, when: str = "totals") -> None:
        """Log one line of totals."""
        self.service.log_totals(when)


# -- serving: the listening socket, the metrics endpoint, the reactor --------------------


@implementer(IReadDescriptor)
class _Acceptor:
    """Takes connections from pcp-forward's listening socket into the reactor."""

    def __init__(self, reactor: Any, listener: Listener, factory: ForwardFactory) -> None:
        self.reactor = reactor
        self.sock: Optional[socket.socket] = listener.sock
        self.factory = factory
        self.reading = False

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self) -> str:
        return "pcp-forward"

    def connectionLost(self, reason: Failure) -> None:
        self.close()

    def doRead(self) -> None:
        if self.sock is None:
            return
        room = self.factory.service.room(ACCEPT_BATCH)
        accepted, failure = accept_some(self.sock, room) if room else ([], None)
        for conn, _ in accepted:
            try:
                self.reactor.adoptStreamConnection(conn.fileno(), conn.family, self.factory)
            except OSError as e:
                # Gone before it was adopted (reset at once: getpeername fails);
                # raising here would make the reactor drop the listening socket.
                emit(logging.DEBUG, "accept_dropped", f"a connection closed before it was taken: {e}",
                     error=str(e))
            finally:
                conn.close()  # the reactor holds its own duplicate of the descriptor
        if failure is not None:
            self.factory.service.accept_failed(failure)

    def setReading(self, reading: bool) -> None:
        if self.sock is None or reading == self.reading:
            return
        self.reading = reading
        (self.reactor.addReader if reading else self.reactor.removeReader)(self)

    def close(self) -> None:
        self.setReading(False)
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _MetricsProtocol(protocol.Protocol):
    transport: Any
    factory: Any

    def connectionMade(self) -> None:
        self.request = MetricsRequest()
        self.timeout = self.factory.reactor.callLater(_METRICS_REQUEST_TIMEOUT, self.transport.abortConnection)

    def dataReceived(self, data: bytes) -> None:
        response = self.request.feed(data, self.factory.scrape)
        if response is not None:
            self.transport.write(response)
            self.transport.loseConnection()
            self.dataReceived = lambda data: None  # type: ignore[method-assign]

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.timeout.active():
            self.timeout.cancel()


class _MetricsFactory(protocol.Factory):
    noisy = False
    protocol = _MetricsProtocol

    def __init__(self, reactor: Any, scrape: Callable[[], str]) -> None:
        self.reactor = reactor
        self.scrape = scrape


class TwistedBackend(Backend):
    """The service's view of Twisted's reactor."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.acceptor: Optional[_Acceptor] = None
        self.metricsPort: Any = None
        self.code: Optional[int] = None

    def now(self) -> float:
        """The reactor's clock."""
        return float(self.reactor.seconds())

    def call_later(self, delay: float, function: Callable[[], None]) -> Any:
        """``reactor.callLater``, cancellable even after it ran."""
        call = self.reactor.callLater(delay, function)
        return _Cancellable(call)

    def set_accepting(self, accepting: bool) -> None:
        """Watch the listening socket or not."""
        if self.acceptor is not None:
            self.acceptor.setReading(accepting)

    def close_listener(self) -> None:
        """Close the listening socket."""
        if self.acceptor is not None:
            self.acceptor.close()

    def stop(self, code: int) -> None:
        """Close the metrics port and stop the reactor."""
        self.code = code
        if self.metricsPort is not None:
            self.metricsPort.stopListening()
        if self.reactor.running:
            self.reactor.stop()


class _Cancellable:
    def __init__(self, call: Any) -> None:
        self.call = call

    def cancel(self) -> None:
        if self.call.active():
            self.call.cancel()


def run(settings: Settings, listener: Listener, metrics: Optional[Listener],
        info: Dict[str, str], started: Callable[[Service, str], None]) -> int:
    """Serve on *listener* with Twisted's default reactor until a signal stops it; the exit status."""
    from twisted.internet import reactor as _reactor
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    reactor: Any = _reactor
    observer: Any = STDLibLogObserver(name="twisted")

    # Twisted's own warnings and errors join pcp-forward's log; its chatter
    # ("Main loop terminated.") does not, so the lines are the same on every loop.
    logging.getLogger("twisted").setLevel(max(logging.WARNING, logging.getLogger().level))
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    backend = TwistedBackend(reactor)
    service = Service(settings, backend, info)
    factory = ForwardFactory(*settings.target, bufferSize=settings.buffer_size, lowWater=settings.low_water,
                             reactor=reactor, connectTimeout=settings.connect_timeout,
                             readSize=settings.read_size, service=service)
    acceptor = backend.acceptor = _Acceptor(reactor, listener, factory)
    metricsAt = ""
    if metrics is not None:
        backend.metricsPort = reactor.adoptStreamPort(
            metrics.sock.fileno(), metrics.family,
            _MetricsFactory(reactor, lambda: render(service.snapshot(), info)))
        metricsAt = show_address(*metrics.address)
        metrics.sock.close()

    def onSignal(number: int, frame: Any) -> None:
        reactor.callFromThread(service.shutdown, signal.Signals(number).name)

    def start() -> None:
        acceptor.setReading(True)
        service.start_stats()
        started(service, metricsAt)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, onSignal)
    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return backend.code if backend.code is not None else 0

