"""Twisted: a one-way TCP forwarder with a ProducerConsumerProxy in the middle.

Three parties on 127.0.0.1: a client that sends 32 MiB as fast as it can, a
forwarder, and a target that reads slowly. For each client connection the
forwarder connects to the target, then joins the two: the client's transport
is the proxy's producer, and the proxy is the target transport's producer.
When the target is slow, the proxy fills to ``bufferSize`` and stops reading
from the client, and TCP slows the client down: the forwarder's memory stays
bounded. When the client is done, what the proxy accepted still reaches the
target, then the target's connection closes. (``pcp-forward`` is this, both
ways, with half-close and logging.)
"""

import hashlib
from typing import Any, Optional

from twisted.internet import defer, protocol, task
from twisted.internet.endpoints import TCP4ClientEndpoint

from pcp import ProducerConsumerProxy

MiB = 1 << 20
TOTAL = 32 * MiB


class TargetSide(protocol.Protocol):
    """The forwarder's connection to the target (it only writes to it here)."""


class ClientSide(protocol.Protocol):
    """The forwarder's side of a client connection."""

    proxy: Optional[ProducerConsumerProxy] = None
    target: Any = None

    def connectionMade(self) -> None:
        self.transport.pauseProducing()  # read nothing until the target is connected
        endpoint = TCP4ClientEndpoint(self.factory.reactor, "127.0.0.1", self.factory.targetPort)
        self.connecting = endpoint.connect(protocol.Factory.forProtocol(TargetSide))
        self.connecting.addCallbacks(self.targetConnected, self.targetFailed)

    def targetConnected(self, target: TargetSide) -> None:
        self.target = target.transport
        self.proxy = ProducerConsumerProxy(self.target)  # the target transport's producer
        self.proxy.bufferSize = 256 * 1024
        self.proxy.registerProducer(self.transport, True)  # the client's transport is its producer
        self.dataReceived = self.proxy.write  # type: ignore[method-assign]
        self.transport.resumeProducing()
        self.factory.proxies.append(self.proxy)

    def targetFailed(self, reason: Any) -> None:
        self.transport.loseConnection()  # the target refused: hang up on the client

    def connectionLost(self, reason: Any) -> None:
        if self.proxy is None:
            self.connecting.cancel()  # still connecting to the target: give up
            return
        self.proxy.unregisterProducer()  # what was accepted still reaches the target...
        self.target.loseConnection()  # ...then its connection closes


class Sender(protocol.Protocol):
    """The client: sends TOTAL bytes, then closes."""

    def connectionMade(self) -> None:
        sha = hashlib.sha256()
        for n in range(TOTAL // MiB):
            block = hashlib.sha256(b"%d" % n).digest() * (MiB // 32)
            sha.update(block)
            self.transport.write(block)
        self.factory.sha = sha.digest()
        self.transport.loseConnection()


class SlowTarget(protocol.Protocol):
    """The target: hashes what arrives, stops reading for 20 ms after each MiB."""

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
    target = protocol.ServerFactory.forProtocol(SlowTarget)
    target.reactor, target.finished = reactor, defer.Deferred()
    targetPort = reactor.listenTCP(0, target, interface="127.0.0.1")

    forwarder = protocol.ServerFactory.forProtocol(ClientSide)
    forwarder.reactor, forwarder.proxies = reactor, []
    forwarder.targetPort = targetPort.getHost().port
    forwarderPort = reactor.listenTCP(0, forwarder, interface="127.0.0.1")

    client = protocol.ClientFactory.forProtocol(Sender)
    reactor.connectTCP("127.0.0.1", forwarderPort.getHost().port, client)
    received = await target.finished.addTimeout(60, reactor)
    await forwarderPort.stopListening()
    await targetPort.stopListening()

    proxy = forwarder.proxies[0]
    print(
        f"target received {received.received} bytes, intact: {received.sha.digest() == client.sha}; "
        f"the forwarder stopped reading from the client {proxy.producerPauses} times; "
        f"peak buffered {proxy.peakBufferedBytes} bytes (bufferSize {proxy.bufferSize})"
    )
    assert received.received == TOTAL and received.sha.digest() == client.sha
    assert proxy.producerPauses > 0
    assert proxy.peakBufferedBytes <= proxy.bufferSize + 65536  # the mark plus one socket read


if __name__ == "__main__":
    task.react(main)
