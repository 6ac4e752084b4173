"""pcp-forward: a TCP port forwarder with a pcp proxy in each direction.

    pcp-forward --listen HOST:PORT --connect HOST:PORT
                [--buffer-size BYTES] [--low-water BYTES] [--read-size BYTES]
                [--stats SECONDS]

Each accepted connection is joined to a new connection to the target by two
``pcp.ProducerConsumerProxy`` objects, one each way. Each proxy is registered
as the streaming producer of the transport it writes to, and the transport it
reads from is registered as its producer; so when one side is slow, its
transport pauses the proxy, the proxy buffers up to ``--buffer-size`` bytes
and then stops reading from the fast side, which resumes once the buffer has
fallen to ``--low-water``. Memory per connection stays bounded however fast
the sender.

Half-closes are forwarded: end-of-file from one side reaches the other (after
what was buffered) as a shutdown of writing, and the connections close once
both directions are done. A refused or lost connection closes its partner
after what was already accepted for it has been written. One line is logged
per connection when it closes (bytes each way, peak buffered, times paused),
and with ``--stats`` the running totals every so many seconds.

Needs Twisted (the ``twisted`` extra); ``import pcp`` does not.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Optional, Sequence, Set, Tuple

try:
    from twisted.internet import error, protocol
    from twisted.internet.interfaces import IHalfCloseableProtocol
    from twisted.logger import Logger
    from twisted.python.failure import Failure
    from zope.interface import implementer
except ImportError as e:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        f"pcp.forward needs Twisted and zope.interface: pip install 'pcp-buffer[twisted]' ({e})"
    ) from e

import pcp

__all__ = [
    "ClientSide",
    "ForwardFactory",
    "Forwarding",
    "TargetSide",
    "main",
    "parse_args",
]

log = Logger(namespace="pcp.forward")


def _describe(reason: Failure) -> str:
    if reason.check(error.ConnectionDone):
        return "closed"
    return f"lost ({reason.getErrorMessage().rstrip('.')})"


class Forwarding:
    """One forwarded connection: the client's, the target's, and a proxy each way.

    ``up`` carries the client's bytes to the target, ``down`` the target's to
    the client; both are ``pcp.ProducerConsumerProxy`` objects, created when
    the target connection is made.
    """

    def __init__(self, factory: "ForwardFactory", number: int, client: "ClientSide") -> None:
        self.factory = factory
        self.number = number
        self.client = client
        self.target: Optional[TargetSide] = None
        self.connector: Any = None
        self.up: Any = None
        self.down: Any = None
        self.started = factory.reactor.seconds()
        self.firstEnd: Optional[str] = None
        self.connectFailure: Optional[Failure] = None
        self.clientLost = False
        self.targetLost = False
        self.readDone = {"client": False, "target": False}
        self.writeDone = {"client": False, "target": False}
        self.finished = False
        peer = client.transport.getPeer()
        self.clientAddress = f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"

    # -- setting up -----------------------------------------------------------------

    def connect(self) -> None:
        """Stop reading from the client and connect to the target."""
        self.client.transport.pauseProducing()
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
        clientTransport = self.client.transport
        targetTransport = target.transport
        self.up = self.factory.makeProxy(targetTransport)
        self.down = self.factory.makeProxy(clientTransport)
        if self.factory.readSize is not None:
            clientTransport.bufferSize = targetTransport.bufferSize = self.factory.readSize
        self.up.registerProducer(clientTransport, True)
        self.down.registerProducer(targetTransport, True)
        # The hot path: each transport hands what it reads straight to the proxy.
        self.client.dataReceived = self.up.write  # type: ignore[method-assign]
        target.dataReceived = self.down.write  # type: ignore[method-assign]
        clientTransport.resumeProducing()

    def connectFailed(self, reason: Failure) -> None:
        """The target could not be reached: close the client's connection."""
        if self.clientLost:
            return
        self.connectFailure = reason
        self.client.transport.loseConnection()

    # -- ending ---------------------------------------------------------------------

    def _sides(self, side: str) -> Tuple[Any, Any, Any]:
        """(this side's transport, the other side's transport, the proxy reading this side)."""
        assert self.target is not None
        if side == "client":
            return self.client.transport, self.target.transport, self.up
        return self.target.transport, self.client.transport, self.down

    def readEnded(self, side: str) -> None:
        """*side* sent end-of-file: pass it on once what it sent has been written."""
        self.firstEnd = self.firstEnd or f"{side} closed"
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
        if self.firstEnd is None:
            self.firstEnd = f"{side} {_describe(reason)}"
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
        if self.finished:
            return
        self.finished = True
        self.factory.connectionFinished(self)
        seconds = self.factory.reactor.seconds() - self.started
        target = f"{self.factory.targetHost}:{self.factory.targetPort}"
        if self.up is None:
            why = (
                f"connecting to the target failed: {self.connectFailure.getErrorMessage()}"
                if self.connectFailure is not None
                else f"{self.firstEnd} while connecting to the target"
            )
            log.info(
                "connection {n} {client} -> {target}: not forwarded, {why} ({seconds:.3f}s)",
                n=self.number,
                client=self.clientAddress,
                target=target,
                why=why,
                seconds=seconds,
            )
            return
        up, down = self.up, self.down
        undelivered = (
            up.bytesReceived + up.bytesDiscarded - up.bytesSent
            + down.bytesReceived + down.bytesDiscarded - down.bytesSent
        )
        log.info(
            "connection {n} {client} -> {target} closed after {seconds:.3f}s, "
            "{how} first: {upBytes} bytes up, {downBytes} bytes down, "
            "peak buffered {upPeak} up / {downPeak} down, "
            "pauses {upPauses} up / {downPauses} down{extra}",
            n=self.number,
            client=self.clientAddress,
            target=target,
            how=self.firstEnd,
            seconds=seconds,
            upBytes=up.bytesSent,
            downBytes=down.bytesSent,
            upPeak=up.peakBufferedBytes,
            downPeak=down.peakBufferedBytes,
            upPauses=up.producerPauses,
            downPauses=down.producerPauses,
            extra=f", {undelivered} bytes not delivered" if undelivered else "",
        )
        # Break the cycles through the protocols' dataReceived.
        self.client.__dict__.pop("dataReceived", None)
        if self.target is not None:
            self.target.__dict__.pop("dataReceived", None)


@implementer(IHalfCloseableProtocol)
class ClientSide(protocol.Protocol):
    """The protocol of a connection accepted from a client."""

    forwarding: Forwarding

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
    (None keeps pcp's defaults). ``totals()`` sums the counters over every
    connection so far, open or closed.
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
        self.live: Set[Forwarding] = set()
        self.count = 0
        self._closed = dict(up=0, down=0, pauses=0, peak=0)

    def makeProxy(self, consumer: Any) -> Any:
        """A ProducerConsumerProxy writing to *consumer*, with this factory's marks."""
        proxy = pcp.ProducerConsumerProxy(consumer)
        if self.bufferSize is not None:
            proxy.bufferSize = self.bufferSize
        if self.lowWater is not None:
            proxy.lowWater = self.lowWater
        return proxy

    def connectionStarted(self, client: ClientSide) -> Forwarding:
        """A client connected: a new Forwarding for it."""
        self.count += 1
        forwarding = Forwarding(self, self.count, client)
        self.live.add(forwarding)
        return forwarding

    def connectionFinished(self, forwarding: Forwarding) -> None:
        """Fold a finished Forwarding's counters into the totals."""
        self.live.discard(forwarding)
        for proxy in (forwarding.up, forwarding.down):
            if proxy is not None:
                self._add(self._closed, proxy, "up" if proxy is forwarding.up else "down")

    @staticmethod
    def _add(totals: dict, proxy: Any, direction: str) -> None:
        totals[direction] += proxy.bytesSent
        totals["pauses"] += proxy.producerPauses
        totals["peak"] = max(totals["peak"], proxy.peakBufferedBytes)

    def totals(self) -> dict:
        """Counters over all connections: open, total, bytes up/down, buffered, peak, pauses."""
        sums = dict(self._closed)
        buffered = 0
        for forwarding in self.live:
            for direction in ("up", "down"):
                proxy = getattr(forwarding, direction)
                if proxy is not None:
                    self._add(sums, proxy, direction)
                    buffered += proxy.bufferedBytes
        return dict(open=len(self.live), total=self.count, buffered=buffered, **sums)

    def logTotals(self, when: str = "totals") -> None:
        """Log one line of totals."""
        log.info(
            "{when}: connections {open} open / {total} total, {up} bytes up, {down} bytes down, "
            "{buffered} buffered now, peak buffered {peak}, {pauses} pauses",
            when=when,
            **self.totals(),
        )


# -- the command line -----------------------------------------------------------------

_ADDRESS = re.compile(r"\[(?P<v6>[^\]]+)\]:(?P<port6>\d+)|(?P<host>[^:\[\]]*):(?P<port>\d+)")
_BYTES = re.compile(r"(\d+)\s*(?:([kmg])(?:i?b)?|b)?", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _address(allowAnyHost: bool):
    def parse(text: str) -> Tuple[str, int]:
        match = _ADDRESS.fullmatch(text.strip())
        if match is None:
            raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:8080), got {text!r}")
        host = match["v6"] if match["v6"] is not None else match["host"]
        port = int(match["port6"] if match["v6"] is not None else match["port"])
        if not host and not allowAnyHost:
            raise argparse.ArgumentTypeError(f"a host is needed in {text!r}")
        if not (0 if allowAnyHost else 1) <= port <= 65535:
            raise argparse.ArgumentTypeError(f"port {port} out of range in {text!r}")
        return host, port

    return parse


def _bytes(text: str) -> int:
    match = _BYTES.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a byte count such as 65536, 64K or 1M, got {text!r}")
    return int(match[1]) * _UNITS[match[2].lower() if match[2] else None]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pcp-forward",
        description=(
            "Forward TCP connections both ways with a pcp proxy in each direction: "
            "a slow side stops the reading on the fast side instead of growing memory."
        ),
    )
    parser.add_argument("--listen", required=True, type=_address(True), metavar="HOST:PORT",
                        help="address to accept connections on (port 0: any free port)")
    parser.add_argument("--connect", required=True, type=_address(False), metavar="HOST:PORT",
                        help="address to forward each connection to")
    parser.add_argument("--buffer-size", type=_bytes, metavar="BYTES",
                        help="high-water mark of each direction's buffer (default 65536; K, M, G suffixes)")
    parser.add_argument("--low-water", type=_bytes, metavar="BYTES",
                        help="reading resumes once the buffer falls to this (default buffer-size/4)")
    parser.add_argument("--read-size", type=_bytes, metavar="BYTES",
                        help="bytes read from a socket at a time, also the size of each transport's "
                             "write buffer before it pauses its proxy (default Twisted's 65536)")
    parser.add_argument("--stats", type=_seconds, metavar="SECONDS",
                        help="log the totals every SECONDS")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse pcp-forward's arguments; bad ones exit with a usage error (status 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("buffer_size", "read_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1 byte")
    size = args.buffer_size if args.buffer_size is not None else pcp.ProducerConsumerProxy(None).bufferSize
    if args.low_water is not None and args.low_water > size:
        parser.error(f"--low-water ({args.low_water}) must not exceed --buffer-size ({size})")
    return args


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run pcp-forward until interrupted; return the exit status."""
    args = parse_args(argv)
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)
    (listenHost, listenPort), (targetHost, targetPort) = args.listen, args.connect
    factory = ForwardFactory(targetHost, targetPort, args.buffer_size, args.low_water, reactor,
                             readSize=args.read_size)
    try:
        port = reactor.listenTCP(listenPort, factory, interface=listenHost)
    except error.CannotListenError as e:
        print(f"pcp-forward: error: cannot listen on {_show(listenHost, listenPort)}: {e.socketError}",
              file=sys.stderr)
        return 1
    probe = factory.makeProxy(None)
    log.info(
        "listening on {listen}, forwarding to {target} (buffer {size} bytes each way, "
        "low water {low}, pcp {kind})",
        listen=_show(port.getHost().host, port.getHost().port),
        target=_show(targetHost, targetPort),
        size=probe.bufferSize,
        low=probe.lowWater,
        kind="compiled" if pcp.EXTENSIONS else "pure Python",
    )
    if args.stats:
        LoopingCall(factory.logTotals).start(args.stats, now=False)
    reactor.addSystemEventTrigger("before", "shutdown", factory.logTotals, "stopping")
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
