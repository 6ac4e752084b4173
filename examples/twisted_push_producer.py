"""Twisted: a push producer sends through a ProducerConsumerProxy to a slow reader.

The server streams 32 MiB to its client. A push producer (``CountingSource``)
writes to a ``pcp.ProducerConsumerProxy`` registered with the connection's
transport. The client stops reading for a moment after each MiB, so the
transport's send buffer fills, the transport pauses the proxy, the proxy
buffers up to ``bufferSize`` and pauses the source, once; when the buffer falls
to ``lowWater`` the source is resumed. Memory stays bounded however fast the
source is. Both ends hash the stream; the program checks that every byte
arrived once, in order, then exits. Over 127.0.0.1 only.
"""

import hashlib
from typing import Any, Callable, Optional

from twisted.internet import defer, protocol, task
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from pcp import ProducerConsumerProxy

MiB = 1 << 20
TOTAL = 32 * MiB
CHUNK = 16 * 1024


def chunk_at(offset: int) -> bytes:
    """The stream's CHUNK bytes from *offset*: the chunk's number, repeated."""
    return (offset // CHUNK).to_bytes(4, "big") * (CHUNK // 4)


@implementer(IPushProducer)
class CountingSource:
    """A push producer: writes TOTAL bytes to *consumer* while it is not paused."""

    def __init__(self, reactor: Any, consumer: Any, done: Callable[[], None]) -> None:
        self.reactor = reactor
        self.consumer = consumer
        self.done = done
        self.sent = 0
        self.sha = hashlib.sha256()
        self.paused = self.stopped = False
        self._call: Optional[Any] = None

    def start(self) -> None:
        self._schedule()

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self.stopped = True

    def _schedule(self) -> None:
        if self._call is None and not self.stopped and self.sent < TOTAL:
            self._call = self.reactor.callLater(0, self._produce)

    def _produce(self) -> None:
        self._call = None
        for _ in range(MiB // CHUNK):  # at most 1 MiB per reactor turn
            if self.paused or self.stopped or self.sent >= TOTAL:
                break
            data = chunk_at(self.sent)
            self.sha.update(data)
            self.sent += len(data)
            self.consumer.write(data)  # may pause us, from inside this call
        if self.sent >= TOTAL:
            self.done()
        elif not self.paused:
            self._schedule()


class Upload(protocol.Protocol):
    """The server side: a source writing through a proxy to the transport."""

    def connectionMade(self) -> None:
        self.proxy = ProducerConsumerProxy(self.transport)  # registers with the transport
        self.proxy.bufferSize = 256 * 1024                   # high-water mark
        self.source = CountingSource(self.factory.reactor, self.proxy, self.sourceDone)
        self.proxy.registerProducer(self.source, True)
        self.source.start()

    def sourceDone(self) -> None:
        self.proxy.unregisterProducer()  # the transport is told once the buffer has drained
        self.transport.loseConnection()  # closes after the last byte is written

    def connectionLost(self, reason: Any) -> None:
        self.factory.uploads.append(self)


class SlowReader(protocol.Protocol):
    """The client side: hashes what arrives, stops reading for 20 ms after each MiB."""

    def connectionMade(self) -> None:
        self.sha = hashlib.sha256()
        self.received = 0

    def dataReceived(self, data: bytes) -> None:
        before = self.received
        self.sha.update(data)
        self.received += len(data)
        if self.received // MiB > before // MiB:
            self.transport.pauseProducing()
            self.factory.reactor.callLater(0.02, self.transport.resumeProducing)

    def connectionLost(self, reason: Any) -> None:
        self.factory.finished.callback(self)


async def main(reactor: Any) -> None:
    server = protocol.ServerFactory.forProtocol(Upload)
    server.reactor, server.uploads = reactor, []
    port = reactor.listenTCP(0, server, interface="127.0.0.1")

    client = protocol.ClientFactory.forProtocol(SlowReader)
    client.reactor, client.finished = reactor, defer.Deferred()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    reader = await client.finished.addTimeout(60, reactor)
    await port.stopListening()

    upload = server.uploads[0]
    proxy = upload.proxy
    print(
        f"sent {upload.source.sent} bytes, received {reader.received}; "
        f"the source was paused {proxy.producerPauses} times; "
        f"peak buffered {proxy.peakBufferedBytes} bytes (high-water mark {proxy.bufferSize})"
    )
    assert reader.received == TOTAL and reader.sha.digest() == upload.source.sha.digest()
    assert proxy.peakBufferedBytes <= proxy.bufferSize + CHUNK  # the mark plus one write
    assert proxy.producerPauses > 0  # the slow reader did slow the source down


if __name__ == "__main__":
    task.react(main)
