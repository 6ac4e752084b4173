"""Scenarios of pcp's proxies in a real Twisted reactor, one per process.

Run as ``python tests/reactor_scenarios.py NAME [DIR]``: the scenario runs a
reactor over loopback TCP (127.0.0.1 only, bounded in bytes and time) and
prints one JSON object of facts on its last stdout line, which
``test_reactor_scenarios.py`` checks. A reactor runs once per process, hence
the subprocess; PCP_NO_EXTENSIONS in its environment picks the implementation.

Every byte is accounted for by a running sha256 on each side; the data is a
deterministic pattern, so a prefix of it can be hashed again when only part of
the stream arrived.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from typing import Any, Callable, Dict, List, Optional

from twisted.internet import protocol, reactor
from twisted.internet.interfaces import IPushProducer
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.protocols.basic import FileSender
from zope.interface import implementer

import pcp

MiB = 1 << 20


class Pattern:
    """A deterministic byte stream: a random block, repeated; any slice of it on demand."""

    def __init__(self, seed: int = 5, period: int = MiB + 4099) -> None:
        block = random.Random(seed).randbytes(period)
        self.period = period
        self._doubled = block + block

    def take(self, offset: int, n: int) -> bytes:
        """The *n* bytes (n <= period) of the stream from *offset*."""
        start = offset % self.period
        return self._doubled[start : start + n]

    def sha256(self, n: int) -> str:
        """The sha256 of the stream's first *n* bytes."""
        digest = hashlib.sha256()
        offset = 0
        while offset < n:
            step = min(self.period, n - offset)
            digest.update(self.take(offset, step))
            offset += step
        return digest.hexdigest()


class Run:
    """One scenario's reactor run: facts gathered, logged errors caught, a deadline."""

    def __init__(self, name: str, timeout: float = 20) -> None:
        self.facts: Dict[str, Any] = {
            "scenario": name,
            "extensions": pcp.EXTENSIONS,
            "errors": [],
            "timedOut": False,
        }
        self.timeout = timeout
        self._stopping = False
        globalLogPublisher.addObserver(self._observe)

    def _observe(self, event: Dict[str, Any]) -> None:
        failure = event.get("log_failure")
        if failure is not None or event.get("log_level") in (LogLevel.error, LogLevel.critical):
            text = formatEvent(event)
            if failure is not None:
                text += "\n" + failure.getTraceback()
            self.facts["errors"].append(text)

    def _timedOut(self) -> None:
        self.facts["timedOut"] = True
        self._stopping = True
        reactor.stop()

    def stop(self) -> None:
        """End the run (once the scenario has seen what it waits for)."""
        if not self._stopping:
            self._stopping = True
            reactor.callLater(0, reactor.stop)

    def run(self) -> None:
        """Run the reactor until stop() or the deadline, then print the facts."""
        deadline = reactor.callLater(self.timeout, self._timedOut)
        reactor.run()
        if deadline.active():
            deadline.cancel()
        print(json.dumps(self.facts))


def proxyFacts(proxy: Any) -> Dict[str, Any]:
    """The counters and state of a proxy, as JSON-able facts."""
    names = (
        "bufferSize", "lowWater", "bufferedBytes", "peakBufferedBytes", "producerPauses",
        "bytesReceived", "bytesSent", "bytesDiscarded", "stopped", "paused",
    )
    return {name: getattr(proxy, name) for name in names}


def reasonName(reason: Any) -> str:
    """The class name of a connectionLost reason's exception."""
    return type(reason.value).__name__


@implementer(IPushProducer)
class PushSource:
    """A push producer writing *total* bytes of the pattern in chunks of random size.

    It writes from a reactor call (never from inside pause or resume) until it
    is paused, stopped or done, a megabyte per reactor turn at most.
    """

    def __init__(
        self, consumer: Any, total: int, pattern: Pattern, maxChunk: int = 65536, seed: int = 7
    ) -> None:
        self.consumer = consumer
        self.total = total
        self.pattern = pattern
        self.maxChunk = maxChunk
        self.rng = random.Random(seed)
        self.sha = hashlib.sha256()
        self.sent = 0
        self.largestChunk = 0
        self.paused = False
        self.stopped = False
        self.done = False
        self.pauses = 0
        self.resumes = 0
        self.onDone: Callable[[], None] = lambda: None
        self._call: Any = None

    def start(self) -> None:
        """Begin writing, from the next reactor turn."""
        self._schedule()

    def pauseProducing(self) -> None:
        """Stop writing until resumed."""
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        """Write again, from the next reactor turn."""
        self.paused = False
        self.resumes += 1
        self._schedule()

    def stopProducing(self) -> None:
        """Stop for good."""
        self.stopped = True

    def _schedule(self) -> None:
        if self._call is None and not self.done and not self.stopped:
            self._call = reactor.callLater(0, self._produce)

    def _produce(self) -> None:
        self._call = None
        budget = MiB
        while not self.paused and not self.stopped and self.sent < self.total and budget > 0:
            n = min(self.rng.randint(1, self.maxChunk), self.total - self.sent)
            data = self.pattern.take(self.sent, n)
            self.sha.update(data)
            self.sent += n
            budget -= n
            self.largestChunk = max(self.largestChunk, n)
            self.consumer.write(data)
        if self.sent >= self.total and not self.done:
            self.done = True
            self.onDone()
        elif not self.paused:
            self._schedule()

    def facts(self) -> Dict[str, Any]:
        """What was sent, and how often this producer was paused and resumed."""
        return {
            "sent": self.sent,
            "sentSha": self.sha.hexdigest(),
            "largestChunk": self.largestChunk,
            "pauses": self.pauses,
            "resumes": self.resumes,
            "stopped": self.stopped,
            "done": self.done,
        }


class Sink(protocol.Protocol):
    """The receiving end: hashes what arrives; can read slowly, hold, or hang up.

    *pauseEvery* / *pauseFor*: stop reading for *pauseFor* seconds after each
    *pauseEvery* bytes (a slow reader). *hold*: read nothing until released.
    *hangUpAfter*: close the connection once that many bytes have arrived.
    """

    def __init__(
        self,
        run: Run,
        pauseEvery: int = 0,
        pauseFor: float = 0.0,
        hold: bool = False,
        hangUpAfter: Optional[int] = None,
    ) -> None:
        self.run = run
        self.pauseEvery = pauseEvery
        self.pauseFor = pauseFor
        self.hold = hold
        self.hangUpAfter = hangUpAfter
        self.sha = hashlib.sha256()
        self.received = 0
        self.readPauses = 0
        self.nextPause = pauseEvery
        self.hungUp = False
        self.lostReason: Optional[str] = None
        self.onLost: Callable[[], None] = run.stop

    def connectionMade(self) -> None:
        if self.hold:
            self.transport.pauseProducing()

    def release(self) -> None:
        """Start reading (after hold)."""
        self.transport.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        self.sha.update(data)
        self.received += len(data)
        if self.hangUpAfter is not None and self.received >= self.hangUpAfter:
            if not self.hungUp:
                self.hungUp = True
                self.transport.loseConnection()
        elif self.pauseEvery and self.received >= self.nextPause:
            self.nextPause = self.received + self.pauseEvery
            self.readPauses += 1
            self.transport.pauseProducing()
            reactor.callLater(self.pauseFor, self.transport.resumeProducing)

    def connectionLost(self, reason: Any) -> None:
        self.lostReason = reasonName(reason)
        self.onLost()

    def facts(self) -> Dict[str, Any]:
        """What arrived and how the connection ended."""
        return {
            "received": self.received,
            "receivedSha": self.sha.hexdigest(),
            "readPauses": self.readPauses,
            "lostReason": self.lostReason,
        }


def listenSink(sink: Sink) -> int:
    """Listen on 127.0.0.1 for one connection, served by *sink*; return the port."""
    factory = protocol.Factory.forProtocol(lambda: sink)
    factory.noisy = False
    return reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port


def connect(port: int, proto: protocol.Protocol) -> None:
    """Connect to 127.0.0.1:port with *proto*."""
    factory = protocol.ClientFactory.forProtocol(lambda: proto)
    factory.noisy = False
    reactor.connectTCP("127.0.0.1", port, factory)


class Hook(protocol.Protocol):
    """A protocol whose connectionMade / connectionLost call the given functions."""

    def __init__(self, made: Callable[[Any], None], lost: Callable[[Any], None] = lambda r: None) -> None:
        self.made = made
        self.lost = lost
        self.lostReason: Optional[str] = None

    def connectionMade(self) -> None:
        self.made(self.transport)

    def connectionLost(self, reason: Any) -> None:
        self.lostReason = reasonName(reason)
        self.lost(reason)


# -- the scenarios ----------------------------------------------------------------------


def _finalise(run: Run, collect: Callable[[], Dict[str, Any]]) -> None:
    """Gather *collect()* into the facts just before the reactor stops."""
    reactor.addSystemEventTrigger("before", "shutdown", lambda: run.facts.update(collect()))


def scenario_push(run: Run, args: List[str]) -> None:
    """1. A push producer -> proxy -> TCP transport -> a slow reader, 32 MiB."""
    total = 32 * MiB
    sink = Sink(run, pauseEvery=256 * 1024, pauseFor=0.003)
    port = listenSink(sink)
    state: Dict[str, Any] = {}

    def made(transport: Any) -> None:
        proxy = pcp.ProducerConsumerProxy(transport)
        source = PushSource(proxy, total, Pattern())
        proxy.registerProducer(source, True)
        state.update(proxy=proxy, source=source)

        def done() -> None:
            proxy.unregisterProducer()
            transport.loseConnection()

        source.onDone = done
        source.start()

    connect(port, Hook(made))
    _finalise(run, lambda: {
        "total": total,
        "proxy": proxyFacts(state["proxy"]),
        "source": state["source"].facts(),
        "sink": sink.facts(),
    })


def scenario_filesender(run: Run, args: List[str]) -> None:
    """2. FileSender (a pull producer) -> streaming proxy -> TCP transport, a 32 MiB file."""
    total = 32 * MiB
    path = os.path.join(args[0], "payload.bin")
    pattern = Pattern()
    with open(path, "wb") as f:
        for offset in range(0, total, MiB):
            f.write(pattern.take(offset, MiB))
    sink = Sink(run, pauseEvery=256 * 1024, pauseFor=0.003)
    port = listenSink(sink)
    source: Any = None
    state: Dict[str, Any] = {"fired": False, "pausedSamples": 0, "maxInFlight": 0}

    def sample() -> None:
        # How far reading the file ran ahead of the reader: bounded only if
        # FileSender was pulled no faster than the connection took the bytes.
        if not source.closed:
            state["maxInFlight"] = max(state["maxInFlight"], source.tell() - sink.received)
            state["pausedSamples"] += state["proxy"].paused
            reactor.callLater(0.001, sample)

    def made(transport: Any) -> None:
        nonlocal source
        proxy = pcp.ProducerConsumerProxy(transport)
        source = open(path, "rb")
        state.update(proxy=proxy)
        sample()

        def fired(lastSent: bytes) -> None:
            state.update(fired=True, lastSent=lastSent.hex(), bufferedWhenFired=proxy.bufferedBytes)
            source.close()
            transport.loseConnection()

        FileSender().beginFileTransfer(source, proxy).addCallback(fired)

    connect(port, Hook(made))
    _finalise(run, lambda: {
        "total": total,
        "expectedSha": pattern.sha256(total),
        "lastByte": pattern.take(total - 1, 1).hex(),
        "chunkSize": FileSender.CHUNK_SIZE,
        "fired": state["fired"],
        "lastSent": state.get("lastSent"),
        "proxy": proxyFacts(state["proxy"]),
        "pausedSamples": state["pausedSamples"],
        "maxInFlight": state["maxInFlight"],
        "sink": sink.facts(),
    })


class ForwardIn(protocol.Protocol):
    """The client-facing side of a one-way forwarder: client -> proxy -> target.

    The client's transport is the proxy's streaming producer; the proxy is the
    target transport's. Reading from the client waits for the target.
    """

    def __init__(self, run: Run, targetPort: int, bufferSize: Optional[int] = None) -> None:
        self.run = run
        self.targetPort = targetPort
        self.bufferSize = bufferSize
        self.proxy: Any = None
        self.out: Optional[Hook] = None
        self.onLost: Callable[[], None] = lambda: None
        self.lostReason: Optional[str] = None
        self.readerChecks = {"pausedSamples": 0, "readingWhilePaused": 0}

    def connectionMade(self) -> None:
        self.transport.pauseProducing()
        self.out = Hook(self.targetConnected)
        connect(self.targetPort, self.out)

    def targetConnected(self, targetTransport: Any) -> None:
        self.proxy = pcp.ProducerConsumerProxy(targetTransport)
        if self.bufferSize is not None:
            self.proxy.bufferSize = self.bufferSize
        self.proxy.registerProducer(self.transport, True)
        self.transport.resumeProducing()
        self._sample()

    def _sample(self) -> None:
        # While the proxy has the client paused, the client's socket must not be read.
        if self.proxy.producerPaused:
            self.readerChecks["pausedSamples"] += 1
            if self.transport in reactor.getReaders():
                self.readerChecks["readingWhilePaused"] += 1
        if self.lostReason is None:
            reactor.callLater(0.001, self._sample)

    def dataReceived(self, data: bytes) -> None:
        self.proxy.write(data)

    def connectionLost(self, reason: Any) -> None:
        self.lostReason = reasonName(reason)
        self.onLost()
        self.proxy.unregisterProducer()
        self.out.transport.loseConnection()


def listenForwarder(forwarder: ForwardIn) -> int:
    """Listen on 127.0.0.1 for one client, forwarded by *forwarder*; return the port."""
    factory = protocol.Factory.forProtocol(lambda: forwarder)
    factory.noisy = False
    return reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port


def pushClient(port: int, total: int, state: Dict[str, Any]) -> Hook:
    """A client that pushes *total* bytes of the pattern (its transport pauses it) and closes."""

    def made(transport: Any) -> None:
        source = PushSource(transport, total, Pattern(), seed=11)
        transport.registerProducer(source, True)
        state["source"] = source

        def done() -> None:
            transport.unregisterProducer()
            transport.loseConnection()

        source.onDone = done
        source.start()

    client = Hook(made)
    connect(port, client)
    return client


def scenario_forward(run: Run, args: List[str]) -> None:
    """3. client -> transport -> proxy -> transport -> slow sink, 32 MiB."""
    total = 32 * MiB
    sink = Sink(run, pauseEvery=256 * 1024, pauseFor=0.003)
    forwarder = ForwardIn(run, listenSink(sink))
    state: Dict[str, Any] = {}
    client = pushClient(listenForwarder(forwarder), total, state)
    _finalise(run, lambda: {
        "total": total,
        "readSize": forwarder.transport.bufferSize,
        "proxy": proxyFacts(forwarder.proxy),
        "readerChecks": forwarder.readerChecks,
        "source": state["source"].facts(),
        "sink": sink.facts(),
        "lost": {"client": client.lostReason, "forwardIn": forwarder.lostReason,
                 "forwardOut": forwarder.out.lostReason},
    })


def scenario_sink_hangs_up(run: Run, args: List[str]) -> None:
    """4a. As 3, but the sink hangs up after 4 MiB of a 64 MiB stream."""
    total, hangUpAfter = 64 * MiB, 4 * MiB
    pattern = Pattern()
    sink = Sink(run, pauseEvery=256 * 1024, pauseFor=0.003, hangUpAfter=hangUpAfter)
    forwarder = ForwardIn(run, listenSink(sink))
    state: Dict[str, Any] = {}
    client = pushClient(listenForwarder(forwarder), total, state)
    ended = set()

    def lost(who: str) -> Callable[..., None]:
        def record(*ignored: Any) -> None:
            ended.add(who)
            if len(ended) == 3:
                run.stop()
        return record

    sink.onLost = lost("sink")
    forwarder.onLost = lost("forwarder")
    client.lost = lost("client")
    _finalise(run, lambda: {
        "total": total,
        "readSize": forwarder.transport.bufferSize,
        "proxy": proxyFacts(forwarder.proxy),
        "source": state["source"].facts(),
        "sink": sink.facts(),
        "sinkPrefixSha": pattern.sha256(sink.received),
        "ended": sorted(ended),
        "lost": {"client": client.lostReason, "forwardIn": forwarder.lostReason,
                 "forwardOut": forwarder.out.lostReason},
    })


def scenario_client_hangs_up(run: Run, args: List[str]) -> None:
    """4b. The client sends 24 MiB and closes while the sink reads nothing; then the sink reads."""
    total = 24 * MiB
    sink = Sink(run, hold=True)
    # A buffer above the stream, so the whole stream is accepted while the sink holds.
    forwarder = ForwardIn(run, listenSink(sink), bufferSize=32 * MiB)
    state: Dict[str, Any] = {}
    client = pushClient(listenForwarder(forwarder), total, state)

    def clientGone() -> None:
        state["atClientClose"] = {
            "bufferedBytes": forwarder.proxy.bufferedBytes,
            "bytesReceived": forwarder.proxy.bytesReceived,
            "sinkReceived": sink.received,
        }
        reactor.callLater(0, sink.release)

    forwarder.onLost = clientGone
    _finalise(run, lambda: {
        "total": total,
        "readSize": forwarder.transport.bufferSize,
        "proxy": proxyFacts(forwarder.proxy),
        "source": state["source"].facts(),
        "sink": sink.facts(),
        "atClientClose": state.get("atClientClose"),
        "lost": {"client": client.lostReason, "forwardIn": forwarder.lostReason,
                 "forwardOut": forwarder.out.lostReason},
    })


def scenario_interfaces(run: Run, args: List[str]) -> None:
    """zope.interface's verifyObject for every interface each class declares."""
    from zope.interface import implementedBy
    from zope.interface.verify import verifyClass, verifyObject

    import pcp.forward as forward

    class Transport:
        def registerProducer(self, producer: Any, streaming: bool) -> None:
            pass

    checked: Dict[str, List[str]] = {}
    failures: List[str] = []
    candidates = {
        "BasicProducerConsumerProxy": lambda: pcp.BasicProducerConsumerProxy(Transport()),
        "ProducerConsumerProxy": lambda: pcp.ProducerConsumerProxy(Transport()),
        "forward.ClientSide": forward.ClientSide,
        "forward.TargetSide": lambda: forward.TargetSide(None),
        "forward.ForwardFactory": lambda: forward.ForwardFactory("127.0.0.1", 1, reactor=reactor),
    }
    for name, make in candidates.items():
        obj = make()
        interfaces = list(implementedBy(type(obj)))
        checked[name] = sorted(i.__name__ for i in interfaces)
        for iface in interfaces:
            try:
                verifyClass(iface, type(obj))
                verifyObject(iface, obj)
            except Exception as e:  # report every failure, not only the first
                failures.append(f"{name} {iface.__name__}: {e}")
    run.facts.update(checked=checked, failures=failures)
    run.stop()


SCENARIOS = {
    "push": scenario_push,
    "filesender": scenario_filesender,
    "forward": scenario_forward,
    "sink-hangs-up": scenario_sink_hangs_up,
    "client-hangs-up": scenario_client_hangs_up,
    "interfaces": scenario_interfaces,
}


def main(argv: List[str]) -> None:
    """Run the scenario named in argv[0] with the rest as its arguments."""
    run = Run(argv[0])
    SCENARIOS[argv[0]](run, argv[1:])
    run.run()


if __name__ == "__main__":
    main(sys.argv[1:])
